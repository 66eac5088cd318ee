//! Real apt on Debian 12 (gpgv) and Debian 13 (sqv), in chroots of the node images, with
//! the repository served over http on the chroot's 127.0.0.1; and a node on the stable
//! channel, which sees a release published to testing only once it is promoted.

use std::path::Path;
use std::time::{Duration, SystemTime};

use nimsforest_pkg::definition::Format;
use nimsforest_pkg::repo::{self, Channel, RepoPlan, Source, Wanted};
use nimsforest_pkg::store::LocalStore;

use crate::apt_repo::*;
use crate::harness::*;
use crate::node::{Network, Node, RootfsSpec};

/// apt in a chroot of the node image (the install tests' Debian rootfs, whose only
/// source is ours) in a network namespace of its own; the repositories are served on its
/// loopback.
struct AptClient {
    node: Node,
    _network: Network,
}

impl AptClient {
    fn new(suite: &'static str) -> Self {
        let mut network = Network::new();
        let node = Node::chroot(&RootfsSpec::debian(suite).cached(), &mut network, suite);
        Self {
            node,
            _network: network,
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        self.node.run(args)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.node.ok(args)
    }

    /// Serves `dir` on the client's 127.0.0.1:`port`; returns its URL.
    fn serve(&mut self, dir: &Path, port: u16) -> String {
        self.node.serve(dir, port)
    }

    /// Trusts `key` (binary OpenPGP) for our source at `url` only (`Signed-By:`).
    fn use_repository(&self, url: &str, key: &[u8]) {
        self.node.write("/etc/apt/keyrings/nimsforest.gpg", key);
        self.node.write(
            "/etc/apt/sources.list.d/nimsforest.sources",
            format!(
                "Types: deb\nURIs: {url}\nSuites: stable\nComponents: main\n\
                 Signed-By: /etc/apt/keyrings/nimsforest.gpg\n"
            )
            .as_bytes(),
        );
    }

    /// `apt-get update` from scratch (no lists left from an earlier run).
    fn update(&self) -> (bool, String) {
        let lists = self.node.host_path("/var/lib/apt/lists");
        for entry in std::fs::read_dir(&lists).expect("lists") {
            let path = entry.expect("entry").path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "lock") {
                std::fs::remove_file(&path).expect("remove a list");
            }
        }
        self.run(&["apt-get", "-q", "update"])
    }

    /// The .deb files apt downloads to install `package` (a name, `name=version` or
    /// `name:arch`); its cache is emptied afterwards.
    fn download(&self, package: &str) -> Vec<String> {
        self.ok(&["apt-get", "-q", "install", "-y", "--download-only", package]);
        let mut files: Vec<String> =
            std::fs::read_dir(self.node.host_path("/var/cache/apt/archives"))
                .expect("archives")
                .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
                .filter(|n| n.ends_with(".deb"))
                .collect();
        files.sort();
        self.ok(&["apt-get", "clean"]);
        files
    }
}

/// An error line saying the repository is not signed.
fn refused_as_unsigned(output: &str) -> bool {
    warnings(output)
        .iter()
        .any(|l| (l.starts_with("E:") || l.starts_with("Error:")) && l.contains("is not signed"))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(data).unwrap();
    xz.finish().unwrap()
}

/// Rewrites every copy of `dists/stable/main/binary-amd64/Packages*` (by-hash included)
/// with one checksum digit changed, keeping every size (so that apt reaches the hash
/// check) and the signed Release as they were.
fn tamper_packages(repo: &Path) {
    let dir = repo.join("dists/stable/main/binary-amd64");
    let plain = std::fs::read_to_string(dir.join("Packages")).expect("Packages");
    let (gz_size, xz_size) = (
        std::fs::metadata(dir.join("Packages.gz")).unwrap().len() as usize,
        std::fs::metadata(dir.join("Packages.xz")).unwrap().len() as usize,
    );
    let digits = plain.find("SHA256: ").expect("a SHA256 line") + "SHA256: ".len();
    let (tampered, gz, xz) = (digits..digits + 64)
        .flat_map(|at| "0123456789abcdef".chars().map(move |c| (at, c)))
        .filter(|&(at, c)| !plain[at..].starts_with(c))
        .map(|(at, c)| {
            let mut text = plain.clone();
            text.replace_range(at..at + 1, &c.to_string());
            let (gz, xz) = (gzip(text.as_bytes()), xz(text.as_bytes()));
            (text, gz, xz)
        })
        .find(|(_, gz, xz)| gz.len() == gz_size && xz.len() == xz_size)
        .expect("a one-digit change that keeps the compressed sizes");
    let mut files = vec![
        dir.join("Packages"),
        dir.join("Packages.gz"),
        dir.join("Packages.xz"),
    ];
    for algorithm in ["SHA256", "SHA512"] {
        for entry in std::fs::read_dir(dir.join("by-hash").join(algorithm)).expect("by-hash") {
            files.push(entry.expect("entry").path());
        }
    }
    for file in files {
        let old = std::fs::read(&file).unwrap();
        let new = if old.starts_with(&[0x1f, 0x8b]) {
            &gz
        } else if old.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
            &xz
        } else {
            tampered.as_bytes()
        };
        std::fs::write(&file, new).unwrap();
    }
}

/// Everything the issue asks of real apt, on one Debian release.
fn apt_client(suite: &'static str) {
    let (repo, _) = repository(signer());
    let mut root = AptClient::new(suite);
    let url = root.serve(repo.path(), 8080);
    root.use_repository(&url, &signer().public_key_binary());

    let (ok, out) = root.update();
    eprintln!("[{suite}] apt-get update:\n{out}");
    assert!(ok, "[{suite}] apt-get update failed:\n{out}");
    assert_eq!(
        warnings(&out),
        Vec::<&str>::new(),
        "[{suite}] apt-get update:\n{out}"
    );

    // The newest version for the native arch.
    assert_eq!(
        root.download("nimsforest-nats"),
        [format!("nimsforest-nats_{NEW}-1_amd64.deb")],
        "[{suite}]"
    );
    // An older version, pinned.
    assert_eq!(
        root.download(&format!("nimsforest-nats={OLD}-1")),
        [format!("nimsforest-nats_{OLD}-1_amd64.deb")],
        "[{suite}]"
    );
    let policy = root.ok(&["apt-cache", "policy", "nimsforest-nats"]);
    eprintln!("[{suite}] apt-cache policy nimsforest-nats:\n{policy}");
    assert!(policy.contains(&format!("Candidate: {NEW}-1")), "{policy}");
    let table = policy
        .split("Version table:")
        .nth(1)
        .expect("version table");
    assert!(table.contains(&format!("{NEW}-1")), "{policy}");
    assert!(table.contains(&format!("{OLD}-1")), "{policy}");

    // Another arch: apt picks the arm64 file.
    root.ok(&["dpkg", "--add-architecture", "arm64"]);
    let (ok, out) = root.update();
    assert!(
        ok && warnings(&out).is_empty(),
        "[{suite}] arm64 update:\n{out}"
    );
    assert_eq!(
        root.download("nimsforest-nats:arm64"),
        [format!("nimsforest-nats_{NEW}-1_arm64.deb")],
        "[{suite}]"
    );
    root.ok(&["dpkg", "--remove-architecture", "arm64"]);

    // A Packages file that does not match the signed Release.
    let tampered = scratch("nimsforest-apt-tampered-");
    copy_dir(repo.path(), tampered.path());
    tamper_packages(tampered.path());
    let tampered_url = root.serve(tampered.path(), 8081);
    root.use_repository(&tampered_url, &signer().public_key_binary());
    let (ok, out) = root.update();
    eprintln!("[{suite}] apt-get update, tampered Packages:\n{out}");
    assert!(!ok, "[{suite}] a tampered Packages was accepted:\n{out}");
    assert!(
        warnings(&out)
            .iter()
            .any(|l| l.contains("Hash Sum mismatch")),
        "[{suite}]:\n{out}"
    );

    // A repository signed by a key the client does not trust.
    let (foreign, _) = repository(&new_signer());
    let foreign_url = root.serve(foreign.path(), 8082);
    root.use_repository(&foreign_url, &signer().public_key_binary());
    let (ok, out) = root.update();
    eprintln!("[{suite}] apt-get update, signed by another key:\n{out}");
    assert!(
        !ok,
        "[{suite}] a repository signed by another key was accepted:\n{out}"
    );
    assert!(refused_as_unsigned(&out), "[{suite}]:\n{out}");
    let (_, policy) = root.run(&["apt-cache", "policy", "nimsforest-nats"]);
    assert!(!policy.contains("Candidate: 2"), "{policy}");

    // A Release without signatures.
    let unsigned = scratch("nimsforest-apt-unsigned-");
    copy_dir(repo.path(), unsigned.path());
    for name in ["InRelease", "Release.gpg"] {
        std::fs::remove_file(unsigned.path().join("dists/stable").join(name)).unwrap();
    }
    let unsigned_url = root.serve(unsigned.path(), 8083);
    root.use_repository(&unsigned_url, &signer().public_key_binary());
    let (ok, out) = root.update();
    eprintln!("[{suite}] apt-get update, unsigned Release:\n{out}");
    assert!(!ok, "[{suite}] an unsigned repository was accepted:\n{out}");
    assert!(refused_as_unsigned(&out), "[{suite}]:\n{out}");
}

#[test]
fn apt_on_debian_12_with_gpgv() {
    apt_client("bookworm");
}

#[test]
fn apt_on_debian_13_with_sqv() {
    apt_client("trixie");
}

/// Publishes into the store at `root` what `repo` (`Source::Dist`) or `promote`
/// (`Source::Channel`) publishes, apt only.
fn publish_channel(root: &Path, source: Source, channel: Channel, date: u64) {
    let plan = RepoPlan {
        repository: definition().repository.clone(),
        source,
        channel,
        url: None,
        formats: vec![Format::Deb],
        by_hash: true,
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(date),
        keep: None,
        lock_lease: Duration::from_secs(60),
    };
    repo::publish(&LocalStore::new(root.to_path_buf()), &plan, signer()).expect("publish");
}

/// The fixture's .debs of `version`, in a directory of their own (a dist/).
fn dist_of(version: &str) -> tempfile::TempDir {
    let dir = scratch("nimsforest-dist-");
    for deb in debs()
        .iter()
        .filter(|d| d.to_string_lossy().contains(version))
    {
        std::fs::copy(deb, dir.path().join(deb.file_name().unwrap())).unwrap();
    }
    dir
}

/// A node whose source is stable: NEW, published to testing only, is no candidate and
/// cannot be installed; promoted, it installs, and the .deb apt fetched is testing's pool
/// file to the byte.
#[test]
fn a_stable_node_installs_a_testing_release_only_once_it_is_promoted() {
    let store = scratch("nimsforest-apt-staged-");
    let (old, new) = (dist_of(OLD), dist_of(NEW));
    let dist = |dir: &tempfile::TempDir| Source::Dist(dir.path().to_path_buf());
    publish_channel(store.path(), dist(&old), Channel::Testing, 1_790_000_000);
    publish_channel(store.path(), dist(&new), Channel::Testing, 1_790_086_400);
    publish_channel(store.path(), dist(&old), Channel::Stable, 1_790_172_800);

    let mut node = AptClient::new("bookworm");
    let url = node.serve(&store.path().join("apt"), 8080);
    node.use_repository(&url, &signer().public_key_binary());
    let (ok, out) = node.update();
    assert!(ok && warnings(&out).is_empty(), "apt-get update:\n{out}");
    let policy = node.ok(&["apt-cache", "policy", "nimsforest-nats"]);
    eprintln!("stable, before the promotion:\n{policy}");
    assert!(policy.contains(&format!("Candidate: {OLD}-1")), "{policy}");
    assert!(!policy.contains(NEW), "{policy}");
    let wanted = format!("nimsforest-nats={NEW}-1");
    let (ok, out) = node.run(&["apt-get", "-q", "install", "-y", &wanted]);
    eprintln!("apt-get install {wanted}:\n{out}");
    assert!(
        !ok && out.contains(&format!(
            "Version '{NEW}-1' for 'nimsforest-nats' was not found"
        )),
        "{out}"
    );

    let wanted_version = Wanted::new("nimsforest-nats", NEW).unwrap();
    let promote = Source::Channel {
        from: Channel::Testing,
        wanted: wanted_version,
    };
    publish_channel(store.path(), promote, Channel::Stable, 1_790_259_200);
    let (ok, out) = node.update();
    assert!(ok && warnings(&out).is_empty(), "apt-get update:\n{out}");
    let policy = node.ok(&["apt-cache", "policy", "nimsforest-nats"]);
    eprintln!("stable, promoted:\n{policy}");
    assert!(policy.contains(&format!("Candidate: {NEW}-1")), "{policy}");
    let out = node.ok(&["apt-get", "-q", "install", "-y", "nimsforest-nats"]);
    eprintln!("apt-get install nimsforest-nats:\n{out}");
    let name = format!("nimsforest-nats_{NEW}-1_amd64.deb");
    let fetched = std::fs::read(node.node.host_path("/var/cache/apt/archives").join(&name))
        .expect("apt keeps the .deb it installed");
    let in_testing = std::fs::read(
        store
            .path()
            .join("apt/pool/main/n/nimsforest-nats")
            .join(&name),
    )
    .unwrap();
    assert_eq!(sha256_hex(&fetched), sha256_hex(&in_testing));
    let version = node.ok(&["dpkg-query", "-W", "-f", "${Version}", "nimsforest-nats"]);
    assert_eq!(version.trim(), format!("{NEW}-1"));
}
