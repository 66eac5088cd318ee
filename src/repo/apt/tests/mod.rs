use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::release::{archive_date, date_of, sha256_entries, sha512_entries};
use super::*;
use crate::deb::ar::ArWriter;
use crate::deb::deb822;
use crate::digest::{md5_hex, sha256_hex};
use crate::repo::publish::{self, Report};
use crate::repo::test_support::{FakeSigner, Interrupted, Racing, SIGNER};
use crate::store::{LocalStore, Store};

type AptReport = Report;

/// Publishes `debs` (checked as `repo` checks them) into the suite `opts` describes.
fn update(
    store: &dyn Store,
    root: &str,
    debs: &[PathBuf],
    opts: &AptOptions,
    keep: Option<usize>,
    signer: &dyn Sign,
) -> Result<Report> {
    let packages = debs
        .iter()
        .map(|path| Package::read(path, crate::definition::Format::Deb))
        .collect::<Result<Vec<_>>>()?;
    let format = Apt { opts: opts.clone() };
    let date = release::unix_seconds(opts.date);
    publish::update(&format, store, root, &packages, keep, date, signer)
}

/// Every checksum a `Release` lists (the by-hash names of its generation).
fn hashes(release: &str) -> BTreeSet<String> {
    sha256_entries(release)
        .into_iter()
        .map(|(_, _, hash)| hash)
        .chain(sha512_entries(release).into_iter().map(|(_, hash)| hash))
        .collect()
}

/// A minimal `.deb` (debian-binary, control.tar.gz, data.tar.gz) with `control` as its
/// control file and `payload` as its only data file, so that different payloads give
/// different bytes under the same name.
fn fake_deb(dir: &Path, control: &str, payload: &str) -> PathBuf {
    let tar_gz = |files: &[(&str, &[u8])]| {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        compress::gzip(&tar.into_inner().unwrap(), compress::GZIP_BEST).unwrap()
    };
    let md5sums = format!("{}  payload\n", md5_hex(payload.as_bytes()));
    let control_tar = tar_gz(&[
        ("./control", control.as_bytes()),
        ("./md5sums", md5sums.as_bytes()),
    ]);
    let members = [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", control_tar),
        ("data.tar.gz", tar_gz(&[("./payload", payload.as_bytes())])),
    ];
    let mut out = Vec::new();
    let mut ar = ArWriter::new(&mut out, 0).unwrap();
    for (name, data) in members {
        ar.append(name, &data).unwrap();
    }
    let fields = deb822::parse_one(control).unwrap();
    let name = format!(
        "{}_{}_{}.deb",
        deb822::get(&fields, "Package").unwrap(),
        deb822::get(&fields, "Version").unwrap(),
        deb822::get(&fields, "Architecture").unwrap()
    );
    let path = dir.join(format!("{payload}-{name}"));
    std::fs::write(&path, out).unwrap();
    path
}

fn control(version: &str, arch: &str) -> String {
    format!(
        "Package: nimsforest-nats\nVersion: {version}\nArchitecture: {arch}\n\
         Maintainer: NimsForest Maintainers <maintainers@nimsforest.com>\nInstalled-Size: 18449\n\
         Section: net\nPriority: optional\nHomepage: https://github.com/nimsforest\n\
         Description: NATS messaging server\n A long description.\n"
    )
}

fn opts(date: u64) -> AptOptions {
    AptOptions::new(&repository(), UNIX_EPOCH + Duration::from_secs(date))
}

fn repository() -> Repository {
    Repository {
        id: "nimsforest".into(),
        name: "NimsForest".into(),
        key_user_id: "K <k@example.org>".into(),
    }
}

const T0: u64 = 1_790_000_000;

struct Fixture {
    input: tempfile::TempDir,
    repo: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            input: tempfile::tempdir().unwrap(),
            repo: tempfile::tempdir().unwrap(),
        }
    }

    fn deb(&self, version: &str, arch: &str) -> PathBuf {
        fake_deb(self.input.path(), &control(version, arch), "v1")
    }

    fn store(&self) -> LocalStore {
        LocalStore::new(self.repo.path().to_path_buf())
    }

    fn update(&self, debs: &[PathBuf], opts: &AptOptions) -> Result<AptReport> {
        self.update_keeping(debs, opts, None)
    }

    fn update_keeping(
        &self,
        debs: &[PathBuf],
        opts: &AptOptions,
        keep: impl Into<Option<usize>>,
    ) -> Result<AptReport> {
        update(&self.store(), "", debs, opts, keep.into(), &SIGNER)
    }

    /// What a client finds: the signed Release, every index it names (by hash) matching
    /// it, and every pool file the indexes name, with its checksum. Returns the pool files.
    fn consistent(&self) -> BTreeSet<String> {
        let store = self.store();
        let tree = Tree {
            store: &store,
            root: "",
        };
        let published = state::read(&tree, "stable", &SIGNER)
            .unwrap()
            .unwrap()
            .generation;
        for (filename, entry) in &published.entries {
            let data = std::fs::read(self.repo.path().join(filename))
                .unwrap_or_else(|_| panic!("{filename} is indexed but missing"));
            assert_eq!(sha256_hex(&data), entry.sha256, "{filename}");
        }
        published.entries.into_keys().collect()
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.repo.path().join(rel)).unwrap()
    }

    /// Every file with its bytes and mtime.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, SystemTime)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                    out.push((path.clone(), std::fs::read(&path).unwrap(), modified));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.repo.path(), &mut out);
        out.sort();
        out
    }
}

/// Publishes 1.0-1, then interrupts the publication of 1.0-2 (two arches) after every
/// number of writes it makes: clients see the old generation or the new one, whole, and
/// the next run completes it to the same `Release` as an uninterrupted run. Returns the
/// uninterrupted run's fixture.
fn interrupted_at_every_write(opts: impl Fn(u64) -> AptOptions) -> Fixture {
    let reference = Fixture::new();
    let debs = |f: &Fixture| [f.deb("1.0-2", "amd64"), f.deb("1.0-2", "arm64")];
    reference
        .update(&[reference.deb("1.0-1", "amd64")], &opts(T0))
        .unwrap();
    let total = {
        let store = reference.store();
        let counting = Interrupted::after(&store, usize::MAX);
        update(
            &counting,
            "",
            &debs(&reference),
            &opts(T0 + 5),
            None,
            &SIGNER,
        )
        .unwrap();
        counting.writes()
    };
    assert!(total > 5, "{total} writes");
    let complete = reference.read("dists/stable/Release");
    for allowed in 0..total {
        let f = Fixture::new();
        f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
        let before = f.consistent();
        let store = f.store();
        let interrupted = Interrupted::after(&store, allowed);
        assert!(update(&interrupted, "", &debs(&f), &opts(T0 + 5), None, &SIGNER).is_err());
        let seen = f.consistent();
        assert!(
            seen == before || seen.len() == 3,
            "after {allowed} writes: {seen:?}"
        );
        f.update(&debs(&f), &opts(T0 + 5)).unwrap();
        assert_eq!(f.consistent().len(), 3, "completed after {allowed} writes");
        assert_eq!(
            f.read("dists/stable/Release"),
            complete,
            "after {allowed} writes"
        );
    }
    reference
}

fn packages_versions(packages: &str) -> Vec<String> {
    packages
        .lines()
        .filter_map(|l| l.strip_prefix("Version: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn builds_pool_indexes_and_signed_release() {
    let f = Fixture::new();
    let debs = [
        f.deb("2.15.1-2", "amd64"),
        f.deb("2.15.1-1", "amd64"),
        f.deb("2.14.6-1", "amd64"),
        f.deb("2.15.1~rc1-1", "amd64"),
        f.deb("2.14.6-1", "arm64"),
    ];
    let report = f.update(&debs, &opts(T0)).unwrap();
    assert!(!report.unchanged);
    assert_eq!(report.added.len(), 5);
    assert!(report
        .added
        .contains(&"pool/main/n/nimsforest-nats/nimsforest-nats_2.15.1~rc1-1_amd64.deb".into()));

    let amd64 = f.read("dists/stable/main/binary-amd64/Packages");
    assert_eq!(
        packages_versions(&amd64),
        ["2.14.6-1", "2.15.1~rc1-1", "2.15.1-1", "2.15.1-2"]
    );
    assert!(amd64.ends_with("description.\n\n"), "{amd64}");
    assert!(amd64
        .contains("Filename: pool/main/n/nimsforest-nats/nimsforest-nats_2.14.6-1_amd64.deb\n"));
    let arm64 = f.read("dists/stable/main/binary-arm64/Packages");
    assert_eq!(packages_versions(&arm64), ["2.14.6-1"]);

    // The compressed indexes hold the same text.
    let gz = std::fs::read(
        f.repo
            .path()
            .join("dists/stable/main/binary-amd64/Packages.gz"),
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    assert_eq!(text, amd64);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime 0");
    let xz_data = std::fs::read(
        f.repo
            .path()
            .join("dists/stable/main/binary-amd64/Packages.xz"),
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut liblzma::read::XzDecoder::new(&xz_data[..]), &mut text)
        .unwrap();
    assert_eq!(text, amd64);

    let release = f.read("dists/stable/Release");
    let head: Vec<&str> = release.lines().take(9).collect();
    assert_eq!(
        head,
        [
            "Origin: NimsForest",
            "Label: NimsForest",
            "Suite: stable",
            "Codename: stable",
            "Date: Mon, 21 Sep 2026 14:13:20 UTC",
            "Acquire-By-Hash: yes",
            "Architectures: amd64 arm64",
            "Components: main",
            "SHA256:",
        ]
    );
    assert_eq!(
        f.read("dists/stable/InRelease"),
        format!("CLEARSIGNED BY KEY\n{release}")
    );
    assert_eq!(
        f.read("dists/stable/Release.gpg"),
        format!("DETACHED BY KEY {}\n", sha256_hex(release.as_bytes()))
    );
}

#[test]
fn release_lists_sha256_and_sha512_of_every_index() {
    let f = Fixture::new();
    f.update(
        &[f.deb("2.15.1-1", "amd64"), f.deb("2.15.1-1", "arm64")],
        &opts(T0),
    )
    .unwrap();
    let release = f.read("dists/stable/Release");
    let files: Vec<String> = ["amd64", "arm64"]
        .iter()
        .flat_map(|a| ["", ".gz", ".xz"].map(|ext| format!("main/binary-{a}/Packages{ext}")))
        .collect();
    let section = |name: &str| -> Vec<String> {
        release
            .split(&format!("{name}:\n"))
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| l.starts_with(' '))
            .map(str::to_string)
            .collect()
    };
    let expect = |digest: fn(&[u8]) -> String| -> Vec<String> {
        files
            .iter()
            .map(|rel| {
                let data = std::fs::read(f.repo.path().join("dists/stable").join(rel)).unwrap();
                format!(" {} {:>16} {rel}", digest(&data), data.len())
            })
            .collect()
    };
    assert_eq!(section("SHA256"), expect(sha256_hex));
    assert_eq!(section("SHA512"), expect(crate::digest::sha512_hex));
    assert!(!release.contains("MD5Sum"));
    // Each index has its by-hash copies.
    for (rel, line) in files.iter().zip(section("SHA512")) {
        let hex = line.split_whitespace().next().unwrap();
        let dir = Path::new(rel).parent().unwrap();
        let copy = f
            .repo
            .path()
            .join("dists/stable")
            .join(dir)
            .join("by-hash/SHA512")
            .join(hex);
        assert_eq!(
            std::fs::read(copy).unwrap(),
            std::fs::read(f.repo.path().join("dists/stable").join(rel)).unwrap()
        );
    }
}

#[test]
fn rerunning_with_nothing_new_changes_nothing() {
    let f = Fixture::new();
    let debs = [f.deb("2.15.1-1", "amd64"), f.deb("2.14.6-1", "amd64")];
    f.update(&debs, &opts(T0)).unwrap();
    let before = f.snapshot();
    std::thread::sleep(Duration::from_millis(20));
    for run in [&debs[..], &debs[..1], &[]] {
        let report = f.update(run, &opts(T0 + 100)).unwrap();
        assert_eq!(
            report,
            AptReport {
                unchanged: true,
                ..AptReport::default()
            }
        );
        assert!(before == f.snapshot(), "the repository changed");
    }
}

#[test]
fn each_new_release_is_dated_later() {
    let f = Fixture::new();
    f.update(&[f.deb("2.14.6-1", "amd64")], &opts(T0)).unwrap();
    let date = |f: &Fixture| date_of(&f.read("dists/stable/Release")).unwrap();
    assert_eq!(date(&f), T0);
    // A clock that did not move (or went back) still gives a later Date.
    f.update(&[f.deb("2.15.1-1", "amd64")], &opts(T0 - 50))
        .unwrap();
    assert_eq!(date(&f), T0 + 1);
    f.update(&[f.deb("2.15.1-2", "amd64")], &opts(T0 + 1000))
        .unwrap();
    assert_eq!(date(&f), T0 + 1000);
    // The older versions are still listed.
    assert_eq!(
        packages_versions(&f.read("dists/stable/main/binary-amd64/Packages")),
        ["2.14.6-1", "2.15.1-1", "2.15.1-2"]
    );
}

#[test]
fn refuses_to_replace_a_published_file() {
    let f = Fixture::new();
    f.update(&[f.deb("2.15.1-1", "amd64")], &opts(T0)).unwrap();
    let before = f.snapshot();
    let other = fake_deb(f.input.path(), &control("2.15.1-1", "amd64"), "v2");
    let err = f
        .update(&[f.deb("2.15.1-2", "amd64"), other], &opts(T0 + 5))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "nimsforest-nats_2.15.1-1_amd64.deb: is already published with different content"
        ),
        "{err}"
    );
    assert!(before == f.snapshot(), "a refused update wrote something");

    // Two different inputs for one pool name are refused too.
    let g = Fixture::new();
    let a = fake_deb(g.input.path(), &control("1.0-1", "amd64"), "a");
    let b = fake_deb(g.input.path(), &control("1.0-1", "amd64"), "b");
    let err = g.update(&[a, b], &opts(T0)).unwrap_err().to_string();
    assert!(
        err.contains("would both be published here with different content"),
        "{err}"
    );
    assert!(!g.repo.path().join("pool").exists());
}

#[test]
fn by_hash_keeps_the_previous_generation_only() {
    let f = Fixture::new();
    let by_hash_files = |f: &Fixture| -> BTreeSet<String> {
        std::fs::read_dir(
            f.repo
                .path()
                .join("dists/stable/main/binary-amd64/by-hash/SHA256"),
        )
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
    };
    let generation = |f: &Fixture| hashes(&f.read("dists/stable/Release"));
    f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
    let first = by_hash_files(&f);
    assert_eq!(first.len(), 3);
    assert!(first.is_subset(&generation(&f)));
    f.update(&[f.deb("1.0-2", "amd64")], &opts(T0)).unwrap();
    let second = by_hash_files(&f);
    assert_eq!(second.len(), 6);
    assert!(first.is_subset(&second));
    f.update(&[f.deb("1.0-3", "amd64")], &opts(T0)).unwrap();
    let third = by_hash_files(&f);
    assert_eq!(third.len(), 6);
    assert!(third.is_disjoint(&first));
    assert!(generation(&f).is_superset(&third.difference(&second).cloned().collect()));
}

#[test]
fn arch_all_is_listed_for_every_arch() {
    let f = Fixture::new();
    let all = fake_deb(
        f.input.path(),
        &control("1.0-1", "all").replace("nimsforest-nats", "libnimsforest-doc"),
        "a",
    );
    f.update(
        &[all, f.deb("2.15.1-1", "amd64"), f.deb("2.15.1-1", "arm64")],
        &opts(T0),
    )
    .unwrap();
    for arch in ["amd64", "arm64"] {
        let packages = f.read(&format!("dists/stable/main/binary-{arch}/Packages"));
        assert!(packages.starts_with("Package: libnimsforest-doc\nArchitecture: all\n"));
        assert!(packages.contains(
            "Filename: pool/main/libn/libnimsforest-doc/libnimsforest-doc_1.0-1_all.deb\n"
        ));
    }
    assert!(f
        .read("dists/stable/Release")
        .contains("Architectures: amd64 arm64\n"));
}

#[test]
fn the_signed_indexes_are_the_truth_not_the_pool() {
    let f = Fixture::new();
    f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
    // A file put into the pool by hand is not published: only a .deb given is.
    let by_hand = f.deb("0.9-1", "amd64");
    let stray = f.repo.path().join("pool/main/n/nimsforest-nats/old.deb");
    std::fs::copy(&by_hand, &stray).unwrap();
    let report = f.update(&[], &opts(T0)).unwrap();
    assert!(report.unchanged, "{report:?}");
    // An update needs no pool file: the stanzas come from the indexes.
    std::fs::remove_file(
        f.repo
            .path()
            .join("pool/main/n/nimsforest-nats/nimsforest-nats_1.0-1_amd64.deb"),
    )
    .unwrap();
    f.update(&[f.deb("1.0-2", "amd64")], &opts(T0)).unwrap();
    assert_eq!(
        packages_versions(&f.read("dists/stable/main/binary-amd64/Packages")),
        ["1.0-1", "1.0-2"]
    );
}

#[test]
fn keep_drops_old_versions_and_deletes_their_files_two_generations_later() {
    let f = Fixture::new();
    let keep2 = opts(T0);
    let pool = |v: &str| format!("pool/main/n/nimsforest-nats/nimsforest-nats_{v}_amd64.deb");
    let report = f
        .update(&[f.deb("1.0-1", "amd64"), f.deb("1.0-2", "amd64")], &keep2)
        .unwrap();
    assert!(report.retired.is_empty());
    let report = f
        .update_keeping(&[f.deb("1.0-3", "amd64")], &keep2, 2)
        .unwrap();
    assert_eq!(report.retired, [pool("1.0-1")]);
    assert!(report.deleted.is_empty());
    assert_eq!(
        packages_versions(&f.read("dists/stable/main/binary-amd64/Packages")),
        ["1.0-2", "1.0-3"]
    );
    // The previous generation still names 1.0-1: a client that read it can fetch it.
    assert!(f.repo.path().join(pool("1.0-1")).is_file());
    assert_eq!(f.consistent().len(), 2);
    // Nothing new: still the generation right after the one that named it.
    let report = f.update_keeping(&[], &keep2, 2).unwrap();
    assert!(report.unchanged && report.deleted.is_empty(), "{report:?}");
    // One generation later it is gone.
    let report = f
        .update_keeping(
            &[f.deb("1.0-4", "amd64")],
            &AptOptions {
                date: UNIX_EPOCH + Duration::from_secs(T0 + 10),
                ..keep2.clone()
            },
            2,
        )
        .unwrap();
    assert_eq!(report.retired, [pool("1.0-2")]);
    assert_eq!(report.deleted, [pool("1.0-1")]);
    assert!(!f.repo.path().join(pool("1.0-1")).exists());
    assert!(f.repo.path().join(pool("1.0-2")).is_file());
    // A version older than the kept ones is not even uploaded.
    let report = f
        .update_keeping(&[f.deb("0.9-1", "amd64")], &keep2, 2)
        .unwrap();
    assert!(report.unchanged && report.added.is_empty(), "{report:?}");
    assert!(!f.repo.path().join(pool("0.9-1")).exists());
}

#[test]
fn dates_round_trip() {
    assert_eq!(archive_date(T0), "Mon, 21 Sep 2026 14:13:20 UTC");
    for suffix in ["UTC", "GMT", "+0000"] {
        let text = format!("Origin: x\nDate: Mon, 21 Sep 2026 14:13:20 {suffix}\n");
        assert_eq!(date_of(&text), Some(T0));
    }
}

#[test]
fn options_are_checked() {
    let f = Fixture::new();
    let deb = f.deb("1.0-1", "amd64");
    for bad in [
        AptOptions {
            suite: "../x".into(),
            ..opts(T0)
        },
        AptOptions {
            component: "".into(),
            ..opts(T0)
        },
        AptOptions {
            origin: "a\nb".into(),
            ..opts(T0)
        },
    ] {
        assert!(f.update(std::slice::from_ref(&deb), &bad).is_err());
    }
    assert!(f
        .update_keeping(std::slice::from_ref(&deb), &opts(T0), 0)
        .is_err());
    assert!(!f.repo.path().join("pool").exists());
}

mod faults;
mod suites;
