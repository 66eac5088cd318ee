//! The dnf repository writer against the real tools: createrepo_c (same package entries),
//! dnf (loads the signed repository over http, lists both versions with their arches,
//! refuses it without its signature) and rpm (`rpm -K` on the signed packages).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, UNIX_EPOCH};

use nimsforest_pkg::definition::Format;
use nimsforest_pkg::repo::dnf::Dnf as DnfTree;
use nimsforest_pkg::repo::{publish, Package, Report as DnfReport};
use nimsforest_pkg::sign::{keygen, KeyAlgorithm, Sign, Signer};
use nimsforest_pkg::store::LocalStore;

use crate::harness::*;

/// Before the key below is made, so signatures carry the key's creation time.
const SIGNING_TIME: u64 = 1_000_000_000;
const REPO_DATE: u64 = 1_760_000_000;

struct Fixture {
    /// 2.14.6 and 2.15.1, x86_64 and aarch64, as built by the tool (unsigned).
    rpms: Vec<PathBuf>,
    secret: String,
    public: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let url = &MirrorServer::shared().url;
        let dir = scratch("nimsforest-dnf-");
        let out = dir.path().join("rpms");
        std::fs::create_dir(&out).unwrap();
        let project = Project::new();
        let mut rpms = Vec::new();
        for version in [NEW, OLD] {
            if version == OLD {
                project.pin(OLD, url);
            }
            project.ok(&[
                "build",
                "--arch",
                "amd64,arm64",
                "--format",
                "rpm",
                "--mirror",
                url,
            ]);
            for arch in ["x86_64", "aarch64"] {
                let name = format!("nimsforest-nats-{version}-1.{arch}.rpm");
                std::fs::copy(project.dist().join(&name), out.join(&name)).unwrap();
                rpms.push(out.join(name));
            }
        }
        let key = keygen(
            "NimsForest test repository <test@nimsforest.invalid>",
            KeyAlgorithm::Ed25519,
            None,
        )
        .unwrap();
        Fixture {
            rpms,
            secret: key.secret_armored,
            public: key.public_armored,
            _dir: dir,
        }
    })
}

fn signer() -> Signer {
    Signer::from_armored(&fixture().secret, None, "test key")
        .unwrap()
        .with_signing_time(SIGNING_TIME)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn opts() -> DnfTree {
    DnfTree::new(UNIX_EPOCH + Duration::from_secs(REPO_DATE))
}

/// Publishes into the repository directory `root` (its files dated as the publication),
/// each RPM signed in its header with `signer` unless `opts` says otherwise.
fn update(
    root: &Path,
    rpms: &[PathBuf],
    opts: &DnfTree,
    signer: &Signer,
) -> nimsforest_pkg::Result<DnfReport> {
    let store = LocalStore::new(root.to_path_buf()).with_mtime(opts.date);
    let packages = rpms
        .iter()
        .map(|path| Package::read(path, Format::Rpm))
        .collect::<nimsforest_pkg::Result<Vec<_>>>()?;
    let date = opts
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    publish::update(opts, &store, "", &packages, None, date, signer)
}

/// A repository of the fixture's RPMs, each signed in its header.
fn signed_repo(root: &Path, rpms: &[PathBuf]) -> DnfReport {
    update(root, rpms, &opts(), &signer()).unwrap()
}

/// The RPMs published as they are: only repomd.xml is signed.
fn unsigned_repo(root: &Path, rpms: &[PathBuf]) -> DnfReport {
    let unsigned = DnfTree {
        sign_headers: false,
        ..opts()
    };
    update(root, rpms, &unsigned, &signer()).unwrap()
}

// ---------------------------------------------------------------------------------------
// The same package entries as createrepo_c

/// An element as a comparable tree: name, sorted attributes, trimmed text, children.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

fn node(n: roxmltree::Node) -> Node {
    Node {
        name: n.tag_name().name().to_string(),
        attrs: n
            .attributes()
            // Newer createrepo_c versions write an empty `vcs` on <version>.
            .filter(|a| !(a.name() == "vcs" && a.value().is_empty()))
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect(),
        text: n
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect::<String>()
            .trim()
            .to_string(),
        children: n.children().filter(|c| c.is_element()).map(node).collect(),
    }
}

/// The `<package>` entries of a primary/filelists/other document, by pkgid.
fn packages(xml: &str) -> BTreeMap<String, Node> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    doc.root_element()
        .children()
        .filter(|c| c.has_tag_name("package"))
        .map(|p| {
            let id = p.attribute("pkgid").map(str::to_string).unwrap_or_else(|| {
                p.children()
                    .find(|c| c.has_tag_name("checksum"))
                    .and_then(|c| c.text())
                    .expect("primary package has a checksum")
                    .to_string()
            });
            (id, node(p))
        })
        .collect()
}

/// The decompressed metadata documents a repomd.xml points at, by type.
fn metadata(root: &Path) -> BTreeMap<String, String> {
    let repomd = std::fs::read_to_string(root.join("repodata/repomd.xml")).unwrap();
    let doc = roxmltree::Document::parse(&repomd).unwrap();
    doc.root_element()
        .children()
        .filter(|c| c.has_tag_name("data"))
        .filter_map(|d| {
            let kind = d.attribute("type")?.to_string();
            let href = d
                .children()
                .find(|c| c.has_tag_name("location"))?
                .attribute("href")?;
            if !href.ends_with(".xml.gz") {
                return None;
            }
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(root.join(href)).unwrap()),
                &mut text,
            )
            .unwrap();
            Some((kind, text))
        })
        .collect()
}

/// Runs createrepo_c on a copy of the repository's packages (times kept) and compares
/// every package entry of primary, filelists and other, field by field.
fn compare_with_createrepo_c(root: &Path) -> usize {
    let reference = scratch("nimsforest-dnf-");
    tool_ok(
        "cp",
        &[
            "-a",
            s(&root.join("Packages")),
            s(&reference.path().join("Packages")),
        ],
    );
    tool_ok(
        "createrepo_c",
        &["--quiet", "--no-database", s(reference.path())],
    );
    let ours = metadata(root);
    let theirs = metadata(reference.path());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        ["filelists", "other", "primary"]
    );
    let mut count = 0;
    for kind in ["primary", "filelists", "other"] {
        // Not required (a newer createrepo_c may add attributes), but worth knowing.
        eprintln!(
            "{kind}.xml byte-identical to createrepo_c's: {}",
            ours[kind] == theirs[kind]
        );
        let a = packages(&ours[kind]);
        let b = packages(&theirs[kind]);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{kind}: the same packages"
        );
        for (id, entry) in &a {
            assert_eq!(
                entry, &b[id],
                "{kind}: package {id} differs from createrepo_c"
            );
        }
        count = a.len();
    }
    count
}

#[test]
fn primary_filelists_other_match_createrepo_c() {
    let dir = scratch("nimsforest-dnf-");
    let root = dir.path().join("repo");
    signed_repo(&root, &fixture().rpms);
    assert_eq!(compare_with_createrepo_c(&root), 4);
}

/// A package with everything the tool's packages lack: epoch, weak dependencies,
/// conflicts and obsoletes, libc requires, a ghost file, characters to escape, non-ASCII
/// text and more changelog entries than the limit, two of them on the same day.
const ODD_SPEC: &str = r#"Name: odd-pkg
Epoch: 3
Version: 1.0~rc1
Release: 2
Summary: Odd "quoted" <summary> & café
License: MIT and "GPL"
URL: https://example.com/?a=1&b=2
Group: Applications/Odd
Vendor: Ünïcode Vendor
Packager: Jöhn <j@example.com>
BuildArch: noarch
Requires(pre): /bin/sh
Requires: libc.so.6(GLIBC_2.3)
Requires: libc.so.6(GLIBC_2.17)(64bit)
Requires: foo >= 1:2.0-3
Requires: bar < 2
Requires: /usr/bin/odd
Provides: odd-virt = 5:1.2
Conflicts: oldthing <= 0.9
Obsoletes: older-odd
Recommends: rec-thing >= 1
Suggests: sugg
Supplements: supp
Enhances: enh
%description
Line one with <tags> & "quotes" and 'apos'.
Ünïcode ✓ text.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/odd %{buildroot}/usr/share/odd %{buildroot}/opt/x/sbin
printf '#!/bin/sh\n' > %{buildroot}/usr/bin/odd
chmod 755 %{buildroot}/usr/bin/odd
echo a > "%{buildroot}/usr/share/odd/we&ird <name>.txt"
echo c > %{buildroot}/etc/odd/odd.conf
echo d > %{buildroot}/opt/x/sbin/tool
%files
/usr/bin/odd
%dir /etc/odd
%config(noreplace) /etc/odd/odd.conf
%ghost /etc/odd/ghost.log
/usr/share/odd
/opt/x/sbin/tool
%changelog
* Tue Jan 02 2024 A <a@x> - 1
- same day one
* Tue Jan 02 2024 B <b@x> - 1
- same day two & <three>
* Mon Jan 01 2024 C <c@x> - 1
- older
* Sun Dec 31 2023 D   - 1
- d
* Sat Dec 30 2023 E - 1
- e
* Fri Dec 29 2023 F - 1
- f
* Thu Dec 28 2023 G - 1
- g
* Wed Dec 27 2023 H - 1
- h
* Tue Dec 26 2023 I - 1
- i
* Mon Dec 25 2023 J - 1
- j
* Sun Dec 24 2023 K - 1
- k
"#;

#[test]
fn unusual_package_metadata_matches_createrepo_c() {
    let dir = scratch("nimsforest-dnf-");
    let spec = dir.path().join("odd.spec");
    std::fs::write(&spec, ODD_SPEC).unwrap();
    let top = dir.path().join("top");
    tool_ok(
        "rpmbuild",
        &[
            "-bb",
            "--quiet",
            "--define",
            &format!("_topdir {}", s(&top)),
            s(&spec),
        ],
    );
    let rpm = top.join("RPMS/noarch/odd-pkg-1.0~rc1-2.noarch.rpm");
    let root = dir.path().join("repo");
    unsigned_repo(&root, &[rpm]);
    assert_eq!(compare_with_createrepo_c(&root), 1);
    let other = &metadata(&root)["other"];
    assert_eq!(other.matches("<changelog ").count(), 10, "{other}");
}

// ---------------------------------------------------------------------------------------
// dnf and rpm

/// Debian's dnf, as any user, with an install root of its own.
pub(crate) struct Dnf {
    installroot: tempfile::TempDir,
    key: PathBuf,
    _keydir: tempfile::TempDir,
}

impl Dnf {
    fn new() -> Self {
        Self::trusting(&fixture().public)
    }

    /// dnf trusting only the armored public key `public`.
    pub(crate) fn trusting(public: &str) -> Self {
        let keydir = scratch("nimsforest-dnf-");
        let key = keydir.path().join("RPM-GPG-KEY-nimsforest");
        std::fs::write(&key, public).unwrap();
        Self {
            installroot: scratch("nimsforest-dnf-"),
            key,
            _keydir: keydir,
        }
    }

    /// dnf with only the repository at `url`, every signature check on.
    pub(crate) fn run(&self, url: &str, arch: &str, args: &[&str]) -> (bool, String) {
        let repo = format!("--repofrompath=nf,{url}");
        let gpgkey = format!("--setopt=nf.gpgkey=file://{}", s(&self.key));
        let mut all = vec![
            "--setopt=reposdir=/dev/null",
            repo.as_str(),
            "--setopt=nf.gpgcheck=1",
            "--setopt=nf.repo_gpgcheck=1",
            // A repository that fails to load is an error, not skipped.
            "--setopt=nf.skip_if_unavailable=0",
            gpgkey.as_str(),
            "--installroot",
            s(self.installroot.path()),
            "--releasever",
            "9",
            "--forcearch",
            arch,
            "--assumeyes",
        ];
        all.extend_from_slice(args);
        // `install` demands root even with --assumeno into an install root of our own; any
        // other user runs it as root of a user namespace, which owns nothing else.
        if args.first() == Some(&"install") && !is_root() {
            all.insert(0, "dnf");
            all.insert(0, "--map-root-user");
            return tool("unshare", &all);
        }
        tool("dnf", &all)
    }
}

#[test]
fn dnf_loads_the_signed_repository_and_lists_both_versions() {
    let dir = scratch("nimsforest-dnf-");
    let root = dir.path().join("repo");
    let report = signed_repo(&root, &fixture().rpms);
    assert_eq!(report.added.len(), 4);
    let server = MirrorServer::start(&root);
    for arch in ["x86_64", "aarch64"] {
        let dnf = Dnf::new();
        let (ok, out) = dnf.run(&server.url, arch, &["makecache"]);
        assert!(ok, "dnf makecache ({arch}):\n{out}");
        assert!(out.contains("Metadata cache created"), "{out}");
        let (ok, out) = dnf.run(
            &server.url,
            arch,
            &["list", "--showduplicates", "nimsforest-nats"],
        );
        assert!(ok, "{out}");
        eprintln!("dnf --forcearch {arch} list --showduplicates nimsforest-nats:\n{out}");
        for version in [OLD, NEW] {
            for a in ["x86_64", "aarch64"] {
                let listed = out.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() == 3
                        && f[0] == format!("nimsforest-nats.{a}")
                        && f[1] == format!("{version}-1")
                        && f[2] == "nf"
                });
                assert!(listed, "{version} {a} not listed:\n{out}");
            }
        }
        let (ok, out) = dnf.run(
            &server.url,
            arch,
            &[
                "repoquery",
                "--quiet",
                "--arch",
                arch,
                "--qf",
                "%{name} %{evr} %{arch} %{reponame}",
                "nimsforest-nats",
            ],
        );
        assert!(ok, "{out}");
        let mut lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                format!("nimsforest-nats {OLD}-1 {arch} nf"),
                format!("nimsforest-nats {NEW}-1 {arch} nf")
            ]
        );
        // Resolving an install picks this arch (it stops at the dependencies the empty
        // install root lacks).
        let other = if arch == "x86_64" {
            "aarch64"
        } else {
            "x86_64"
        };
        let (_, out) = dnf.run(
            &server.url,
            arch,
            &[
                "install",
                "--assumeno",
                &format!("nimsforest-nats-{NEW}-1.{other}"),
            ],
        );
        assert!(
            out.contains("does not have a compatible architecture"),
            "{out}"
        );
    }
}

#[test]
fn dnf_refuses_the_repository_without_its_signature() {
    let dir = scratch("nimsforest-dnf-");
    let root = dir.path().join("repo");
    signed_repo(&root, &fixture().rpms[..1]);
    let url = format!("file://{}", s(&root));
    let dnf = Dnf::new();
    let (ok, out) = dnf.run(&url, "x86_64", &["makecache"]);
    assert!(ok, "{out}");

    std::fs::remove_file(root.join("repodata/repomd.xml.asc")).unwrap();
    let dnf = Dnf::new();
    let (ok, out) = dnf.run(&url, "x86_64", &["makecache"]);
    assert!(!ok, "dnf loaded an unsigned repository:\n{out}");
    eprintln!("dnf makecache without repomd.xml.asc:\n{out}");
    assert!(
        out.contains("GPG signature is not available") && out.contains("repomd.xml.asc"),
        "{out}"
    );

    // A signature by another key is refused too.
    let other = keygen(
        "Someone else <x@example.invalid>",
        KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap();
    let other = Signer::from_armored(&other.secret_armored, None, "other key").unwrap();
    let repomd = std::fs::read(root.join("repodata/repomd.xml")).unwrap();
    std::fs::write(
        root.join("repodata/repomd.xml.asc"),
        other.detached_armored(&repomd).unwrap(),
    )
    .unwrap();
    let dnf = Dnf::new();
    let (ok, out) = dnf.run(&url, "x86_64", &["makecache"]);
    assert!(!ok, "dnf accepted a signature by another key:\n{out}");
    eprintln!("dnf makecache with repomd.xml.asc by another key:\n{out}");
    assert!(
        out.contains("repomd.xml GPG signature verification error"),
        "{out}"
    );
}

#[test]
fn repository_rpms_pass_rpm_k_and_a_tampered_copy_does_not() {
    let dir = scratch("nimsforest-dnf-");
    let root = dir.path().join("repo");
    let report = signed_repo(&root, &fixture().rpms);
    let db = dir.path().join("rpmdb");
    std::fs::create_dir(&db).unwrap();
    let key = dir.path().join("key.asc");
    std::fs::write(&key, &fixture().public).unwrap();
    tool_ok("rpmkeys", &["--dbpath", s(&db), "--import", s(&key)]);
    for location in &report.added {
        let path = root.join(location);
        let out = tool_ok("rpm", &["--dbpath", s(&db), "-K", s(&path)]);
        assert!(out.contains("digests signatures OK"), "{out}");
    }
    let path = root.join(&report.added[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 4096;
    bytes[at] ^= 0x55;
    let tampered = dir.path().join("tampered.rpm");
    std::fs::write(&tampered, bytes).unwrap();
    let (_, out) = tool("rpm", &["--dbpath", s(&db), "-K", s(&tampered)]);
    assert!(out.contains("NOT OK"), "{out}");
}

#[test]
fn adding_a_version_keeps_the_old_one_and_rerunning_changes_nothing() {
    let dir = scratch("nimsforest-dnf-");
    let root = dir.path().join("repo");
    let rpms = &fixture().rpms;
    let old: Vec<PathBuf> = rpms
        .iter()
        .filter(|p| s(p).contains(OLD))
        .cloned()
        .collect();
    let signer = &signer();
    let first = update(&root, &old, &opts(), signer).unwrap();
    assert_eq!(first.added.len(), 2);
    let started = Instant::now();
    let second = update(&root, rpms, &opts(), signer).unwrap();
    let add_time = started.elapsed();
    assert_eq!(second.added.len(), 2, "{second:?}");
    assert!(second.added.iter().all(|l| l.contains(NEW)));
    let before = snapshot(&root);
    let started = Instant::now();
    let third = update(&root, rpms, &opts(), signer).unwrap();
    let noop_time = started.elapsed();
    assert!(third.unchanged && third.added.is_empty(), "{third:?}");
    assert_eq!(snapshot(&root), before, "a re-run changes nothing");
    assert_eq!(compare_with_createrepo_c(&root), 4);

    // The whole repository at once, for the timing in the notes.
    let fresh = dir.path().join("fresh");
    let started = Instant::now();
    update(&fresh, rpms, &opts(), signer).unwrap();
    eprintln!(
        "dnf update: 2 versions x 2 arches from scratch (signing each RPM) {:?}; \
         adding 2 to 2 {add_time:?}; re-run with nothing new {noop_time:?}",
        started.elapsed()
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
