//! An apt repository of the fixture release, shared by the hermetic comparison with
//! apt-ftparchive and the system tests' real apt clients.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nimsforest_pkg::definition::Format;
use nimsforest_pkg::repo::apt::{self, AptOptions};
use nimsforest_pkg::repo::{publish, Package, Report};
use nimsforest_pkg::sign::{keygen, KeyAlgorithm, Signer};
use nimsforest_pkg::store::LocalStore;

use crate::harness::*;

/// The .debs of both fixture versions for amd64 and arm64, built once by the real tool.
pub fn debs() -> &'static [PathBuf] {
    static DEBS: OnceLock<(Project, Vec<PathBuf>)> = OnceLock::new();
    let (_, debs) = DEBS.get_or_init(|| {
        let project = Project::new();
        let url = &MirrorServer::shared().url;
        let out = project.path().join("debs");
        let out_arg = out.to_str().expect("utf-8 path");
        let build = |project: &Project| {
            project.ok(&[
                "build",
                "--format",
                "deb",
                "--arch",
                "amd64,arm64",
                "--mirror",
                url,
                "--out",
                out_arg,
            ]);
        };
        build(&project);
        project.pin(OLD, url);
        build(&project);
        let mut debs: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("read debs")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        debs.sort();
        assert_eq!(debs.len(), 4, "{debs:?}");
        (project, debs)
    });
    debs
}

pub fn new_signer() -> Signer {
    let key = keygen(
        "NimsForest test repository <test@nimsforest.invalid>",
        KeyAlgorithm::Ed25519,
        None,
    )
    .expect("keygen");
    Signer::from_armored(&key.secret_armored, None, "test key").expect("signer")
}

/// The key the repositories below are signed with (and the clients trust).
pub fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(new_signer)
}

/// A repository holding the four .debs, signed by `signer`; returns it and how long
/// `update` took.
pub fn repository(signer: &Signer) -> (tempfile::TempDir, Duration) {
    let repo = scratch("nimsforest-apt-");
    let opts = apt_options();
    let debs = debs();
    let start = Instant::now();
    let store = LocalStore::new(repo.path().to_path_buf());
    let report = publish_debs(&store, &packages(debs), &opts, signer).expect("apt update");
    let took = start.elapsed();
    assert_eq!(report.added.len(), 4, "{report:?}");
    (repo, took)
}

/// Publishes `packages` into the apt repository of `store` (as `repo` does, one format).
pub fn publish_debs(
    store: &LocalStore,
    packages: &[Package],
    opts: &AptOptions,
    signer: &Signer,
) -> nimsforest_pkg::Result<Report> {
    let date = opts
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let format = apt::Apt { opts: opts.clone() };
    publish::update(&format, store, "", packages, None, date, signer)
}

/// The `.deb` files, read and checked as `repo` reads them.
pub fn packages(debs: &[PathBuf]) -> Vec<Package> {
    debs.iter()
        .map(|path| Package::read(path, Format::Deb).expect("a whole .deb"))
        .collect()
}

/// `Filename` -> stanza text, for every stanza of a Packages-style text.
pub fn stanzas(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let filename = s
                .lines()
                .find_map(|l| l.strip_prefix("Filename: "))
                .unwrap_or_else(|| panic!("stanza without Filename:\n{s}"))
                .to_string();
            (filename, format!("{}\n", s.trim_matches('\n')))
        })
        .collect()
}

/// The definition's apt settings, dated now.
pub fn apt_options() -> AptOptions {
    AptOptions::new(&definition().repository, SystemTime::now())
}
