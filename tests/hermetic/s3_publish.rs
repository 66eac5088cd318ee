//! Publishing to S3-compatible object storage, against a real S3 server (`rclone serve s3`)
//! on 127.0.0.1: the same tree as a local publication, incremental updates that move only
//! what is new, nothing written when nothing is new, an interrupted publication that
//! clients never see half of, and a changed store that is refused. What a client sees is
//! checked the way apt and dnf check it: signatures with gpgv, then every checksum.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::client_view::*;
use crate::harness::*;
use crate::s3::S3Server;

const FIRST_DATE: &str = "1790000000";
const SECOND_DATE: &str = "1790086400";

/// A project with the fixture's two versions built for two arches, in two dist dirs, and
/// a signing key.
pub struct Releases {
    pub project: Project,
    pub new: PathBuf,
    pub old: PathBuf,
    pub key: PathBuf,
    pub keyring: PathBuf,
}

pub fn releases() -> &'static Releases {
    static RELEASES: OnceLock<Releases> = OnceLock::new();
    RELEASES.get_or_init(|| {
        let project = Project::new();
        let url = &MirrorServer::shared().url;
        let build = |out: &Path| {
            let out = out.to_str().expect("utf-8");
            project.ok(&[
                "build",
                "--arch",
                "amd64,arm64",
                "--mirror",
                url,
                "--out",
                out,
            ]);
        };
        let new = project.path().join("dist-new");
        build(&new);
        project.pin(OLD, url);
        let old = project.path().join("dist-old");
        build(&old);
        let keys = project.path().join("keys");
        project.ok(&["keygen", "--out", keys.to_str().expect("utf-8")]);
        // The binary keyring gpgv reads, made from the public key as apt users make it.
        let keyring = keys.join("nimsforest.gpg");
        tool_ok(
            "gpg",
            &[
                "--batch",
                "--yes",
                "--dearmor",
                "--output",
                s(&keyring),
                s(&keys.join("nimsforest.asc")),
            ],
        );
        Releases {
            key: keys.join("nimsforest-signing-key.asc"),
            keyring: keys.join("nimsforest.gpg"),
            new,
            old,
            project,
        }
    })
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// `repo` publishing `dist` to `out` at `date`; the command, to run or to watch.
/// `repo` publishing `dist` to `out` (a directory or an S3 URL of `server`) at `date`,
/// signed with the releases' key; the command, to run or to watch.
pub fn publish_command(server: Option<&S3Server>, dist: &Path, out: &str, date: &str) -> Command {
    let r = releases();
    let mut cmd = r.project.command(&[
        "repo",
        "--dist",
        s(dist),
        "--out",
        out,
        "--signing-key",
        s(&r.key),
        "--url",
        "https://packages.nimsforest.invalid",
    ]);
    cmd.env("SOURCE_DATE_EPOCH", date);
    if let Some(server) = server {
        server.configure(&mut cmd);
    }
    cmd
}

/// Runs a publication: (stdout, the traffic line's counts).
fn publish(server: Option<&S3Server>, dist: &Path, out: &str, date: &str) -> (String, Traffic) {
    let out = publish_command(server, dist, out, date).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "repo failed:\n{stderr}");
    (
        String::from_utf8(out.stdout).unwrap(),
        Traffic::parse(&stderr),
    )
}

/// The counts of the line `repo` ends with on stderr.
#[derive(Debug, Default)]
struct Traffic {
    counts: BTreeMap<String, u64>,
}

impl Traffic {
    fn parse(stderr: &str) -> Self {
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.contains(" requests ("))
            .unwrap_or_else(|| panic!("no traffic line in:\n{stderr}"));
        // "LOC: N requests (G GET, P PUT, D DELETE, L LIST of K keys), U bytes up, W bytes down"
        let mut counts = BTreeMap::new();
        for part in line.split([',', '(', ')']) {
            let part = part.trim();
            let part = part.rsplit_once(": ").map_or(part, |(_, p)| p);
            if let Some((n, what)) = part.split_once(' ') {
                if let Ok(n) = n.parse::<u64>() {
                    let what = what.split(" of ").next().unwrap_or(what);
                    counts.insert(what.to_string(), n);
                }
            }
        }
        assert!(counts.contains_key("bytes up"), "{line}");
        Self { counts }
    }

    fn get(&self, what: &str) -> u64 {
        *self
            .counts
            .get(what)
            .unwrap_or_else(|| panic!("{what} in {:?}", self.counts))
    }
}

/// Two snapshots hold the same files with the same bytes (named in the failure, not dumped).
fn same_tree(a: &[(PathBuf, Vec<u8>)], b: &[(PathBuf, Vec<u8>)]) {
    let names = |t: &[(PathBuf, Vec<u8>)]| -> Vec<PathBuf> {
        t.iter()
            .filter(|(_, d)| d.as_slice() != b"<dir>")
            .map(|(p, _)| p.clone())
            .collect()
    };
    assert_eq!(names(a), names(b), "different files");
    let a: BTreeMap<_, _> = a.iter().cloned().collect();
    for (path, data) in b.iter().filter(|(_, d)| d.as_slice() != b"<dir>") {
        assert!(&a[path] == data, "{} differs", path.display());
    }
}

fn size_of(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

fn packages(dist: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb" || e == "rpm"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------

#[test]
fn s3_holds_the_same_tree_as_a_directory_and_an_update_moves_only_what_is_new() {
    let r = releases();
    let server = S3Server::start();
    let url = server.url("repo");
    let local = tempfile::tempdir().unwrap();

    // First publication: the same objects as a publication to a directory.
    let (stdout, first) = publish(Some(&server), &r.new, &url, FIRST_DATE);
    assert!(
        stdout.contains("apt: 2 package(s) added") && stdout.contains("rpm: 2 package(s) added"),
        "{stdout}"
    );
    publish(None, &r.new, s(local.path()), FIRST_DATE);
    same_tree(&server.objects("repo"), &snapshot(local.path()));
    assert_eq!(client_view(&server.files("repo"), &r.keyring).len(), 4);
    eprintln!("first publication of 4 packages: {first:?}");

    // Another version: its packages and the new indexes go up; no package comes down.
    let (stdout, second) = publish(Some(&server), &r.old, &url, SECOND_DATE);
    assert!(stdout.contains("apt: 2 package(s) added"), "{stdout}");
    let new_bytes = size_of(&packages(&r.old));
    let up = second.get("bytes up");
    let down = second.get("bytes down");
    eprintln!(
        "adding a version: {second:?}; its packages are {new_bytes} bytes, the repository {} bytes",
        server
            .objects("repo")
            .iter()
            .map(|(_, d)| d.len() as u64)
            .sum::<u64>()
    );
    assert!(
        up >= new_bytes && up < new_bytes + 200_000,
        "{up} bytes up for {new_bytes} of packages"
    );
    let published_packages = size_of(&packages(&r.new));
    assert!(
        down < published_packages / 10,
        "{down} bytes down: packages were read back"
    );
    publish(None, &r.old, s(local.path()), SECOND_DATE);
    same_tree(&server.objects("repo"), &snapshot(local.path()));
    assert_eq!(client_view(&server.files("repo"), &r.keyring).len(), 8);

    // Nothing new: nothing written.
    let before = server.objects("repo");
    let (stdout, third) = publish(Some(&server), &r.old, &url, "1790172800");
    assert!(
        stdout.contains("apt: unchanged") && stdout.contains("rpm: unchanged"),
        "{stdout}"
    );
    assert_eq!((third.get("PUT"), third.get("DELETE")), (0, 0), "{third:?}");
    assert!(before == server.objects("repo"));
}

#[test]
fn an_interrupted_publication_is_never_half_visible_and_the_next_run_completes_it() {
    interrupted_at_every_third_write(&[]);
}

/// Without by-hash, clients fetch each index by its name: still never half a generation.
#[test]
fn an_interrupted_publication_without_by_hash_is_never_half_visible_and_completes() {
    interrupted_at_every_third_write(&["--no-by-hash"]);
}

/// Publishes a first generation, then kills the publication of a second one after every
/// third write it reports: clients see the old generation or the new one, and the next
/// run completes it to the same objects as an uninterrupted run.
fn interrupted_at_every_third_write(extra: &[&str]) {
    let r = releases();
    let publish = |server: &S3Server, dist: &Path, url: &str, date: &str| {
        succeeds(publish_command(Some(server), dist, url, date).args(extra));
    };
    // The uninterrupted result, and how many writes the second publication makes.
    let reference = S3Server::start();
    let url = reference.url("repo");
    publish(&reference, &r.new, &url, FIRST_DATE);
    let mut cmd = publish_command(Some(&reference), &r.old, &url, SECOND_DATE);
    let out = cmd.args(extra).arg("--verbose").output().unwrap();
    assert!(out.status.success());
    let writes = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("put ") || l.starts_with("delete "))
        .count();
    let complete = reference.objects("repo");
    let whole = client_view(&reference.files("repo"), &r.keyring);
    eprintln!("the second publication writes {writes} objects");
    assert!(writes > 10);

    let mut dnf_windows = 0;
    let mut waited_for_lease = 0;
    for kill_after in (1..writes).step_by(3) {
        let server = S3Server::start();
        publish(&server, &r.new, &url, FIRST_DATE);
        let before = client_view(&server.files("repo"), &r.keyring);
        // SIGKILL once the publication reports its kill_after-th write.
        let mut child = publish_command(Some(&server), &r.old, &url, SECOND_DATE)
            .args(extra)
            .args(["--verbose", "--lock-lease", "1"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = 0;
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.starts_with("put ") || line.starts_with("delete ") {
                seen += 1;
                if seen == kill_after {
                    child.kill().unwrap();
                    break;
                }
            }
        }
        child.wait().unwrap();
        // apt and dnf are two repositories: each shows its old generation or its new one.
        let root = server.files("repo");
        let mut view = apt_view(&root, &r.keyring);
        if dnf_between_its_two_writes(&root, &r.keyring) {
            dnf_windows += 1;
            view.extend(whole.iter().filter(|f| f.starts_with("rpm/")).cloned());
        } else {
            view.extend(dnf_view(&root, &r.keyring));
        }
        view.sort();
        for format in ["apt/", "rpm/"] {
            let of = |v: &[String]| -> Vec<String> {
                v.iter()
                    .filter(|f| f.starts_with(format))
                    .cloned()
                    .collect()
            };
            assert!(
                of(&view) == of(&before) || of(&view) == of(&whole),
                "killed after {kill_after} writes, {format} shows {:?}",
                of(&view)
            );
        }
        // The killed run's lock keeps others out until its lease (1 s) runs out; then the
        // next run takes it over and completes the publication.
        let mut attempts = 0;
        loop {
            let out = publish_command(Some(&server), &r.old, &url, SECOND_DATE)
                .args(extra)
                .args(["--lock-lease", "1"])
                .output()
                .unwrap();
            if out.status.success() {
                break;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(5), "{stderr}");
            assert!(stderr.contains("another publisher"), "{stderr}");
            attempts += 1;
            waited_for_lease += 1;
            assert!(
                attempts < 20,
                "the killed run's lock never expired: {stderr}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        same_tree(&server.objects("repo"), &complete);
    }
    eprintln!(
        "{extra:?}: {} kills: dnf between repomd.xml and its signature {dnf_windows} times; {waited_for_lease} \
         runs refused while a killed run's lock lasted",
        (1..writes).step_by(3).count()
    );
}

#[test]
fn a_store_changed_outside_the_tool_is_refused_and_clients_notice() {
    let r = releases();
    let server = S3Server::start();
    let url = server.url("repo");
    publish(Some(&server), &r.new, &url, FIRST_DATE);
    let root = server.files("repo");
    // An index replaced behind the signature: the next publication refuses to build on it.
    let by_hash = root.join("apt/dists/stable/main/binary-amd64/by-hash/SHA256");
    let xz_hash = std::fs::read_to_string(root.join("apt/dists/stable/Release"))
        .unwrap()
        .lines()
        .find(|l| l.ends_with("main/binary-amd64/Packages.xz"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    let original = std::fs::read(by_hash.join(&xz_hash)).unwrap();
    std::fs::write(by_hash.join(&xz_hash), b"not the index").unwrap();
    server.forget_directories();
    let out = publish_command(Some(&server), &r.old, &url, SECOND_DATE)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not match the signed Release"),
        "{stderr}"
    );
    std::fs::write(by_hash.join(&xz_hash), original).unwrap();
    server.forget_directories();
    // A package replaced: clients refuse it by its checksum.
    let deb = client_view(&root, &r.keyring)
        .into_iter()
        .find(|f| f.ends_with(".deb"))
        .unwrap();
    std::fs::write(root.join(&deb), b"not the package").unwrap();
    let caught = std::panic::catch_unwind(|| client_view(&root, &r.keyring));
    assert!(caught.is_err(), "a replaced package went unnoticed");
}

#[test]
fn retention_keeps_the_newest_version_and_the_files_the_previous_generation_names() {
    let r = releases();
    let server = S3Server::start();
    let url = server.url("repo");
    publish(Some(&server), &r.old, &url, FIRST_DATE);
    let mut cmd = publish_command(Some(&server), &r.new, &url, SECOND_DATE);
    let out = cmd.args(["--keep", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("apt: 2 package(s) added, 2 dropped from the indexes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rpm: 2 package(s) added, 2 dropped from the indexes"),
        "{stdout}"
    );
    let view = client_view(&server.files("repo"), &r.keyring);
    assert_eq!(view.len(), 4);
    assert!(view.iter().all(|f| f.contains(NEW)), "{view:?}");
    // The dropped files stay: a client that read the previous generation may fetch them.
    let files: Vec<String> = server
        .objects("repo")
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .filter(|p| p.ends_with(".deb") || p.ends_with(".rpm"))
        .collect();
    assert_eq!(files.len(), 8, "{files:?}");
}
