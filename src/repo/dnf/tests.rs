use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rpm::{BuildConfig, Dependency, FileOptions, PackageBuilder};

use std::path::PathBuf;

use super::*;
use crate::repo::publish::{self, Report};
use crate::repo::test_support::{FakeSigner, Interrupted, Racing, SIGNER};
use crate::store::{LocalStore, Store};

type DnfReport = Report;

fn no_signing(_: &mut rpm::Package) -> Result<()> {
    Ok(())
}

struct DnfOptions {
    date: SystemTime,
    keep: Option<usize>,
}

/// The index signer of `inner` with `rpm` standing in for RPM header signing.
struct RpmSigning<'a> {
    inner: &'a dyn Sign,
    rpm: &'a (dyn Fn(&mut rpm::Package) -> Result<()> + Sync),
}

impl Sign for RpmSigning<'_> {
    fn clearsign(&self, text: &str) -> Result<String> {
        self.inner.clearsign(text)
    }
    fn detached_armored(&self, data: &[u8]) -> Result<String> {
        self.inner.detached_armored(data)
    }
    fn verify_clearsigned(&self, signed: &str) -> Result<String> {
        self.inner.verify_clearsigned(signed)
    }
    fn verify_detached(&self, data: &[u8], signature: &str) -> Result<()> {
        self.inner.verify_detached(data, signature)
    }
    fn sign_rpm(&self, package: &mut rpm::Package) -> Result<()> {
        (self.rpm)(package)
    }
    fn public_key_armored(&self) -> String {
        self.inner.public_key_armored()
    }
    fn public_key_binary(&self) -> Vec<u8> {
        self.inner.public_key_binary()
    }
    fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }
}

/// Publishes `rpms` (checked as `repo` checks them) into the repository at `root`.
fn update(
    store: &dyn Store,
    root: &str,
    rpms: &[PathBuf],
    opts: &DnfOptions,
    signer: &dyn Sign,
    sign_rpm: &(dyn Fn(&mut rpm::Package) -> Result<()> + Sync),
) -> Result<Report> {
    let packages = rpms
        .iter()
        .map(|path| Package::read(path, crate::definition::Format::Rpm))
        .collect::<Result<Vec<_>>>()?;
    let signer = RpmSigning {
        inner: signer,
        rpm: sign_rpm,
    };
    let date = unix(opts.date);
    publish::update(
        &Dnf::new(opts.date),
        store,
        root,
        &packages,
        opts.keep,
        date,
        &signer,
    )
}

fn opts(secs: u64) -> DnfOptions {
    DnfOptions {
        date: UNIX_EPOCH + Duration::from_secs(secs),
        keep: None,
    }
}

/// The repository at `root` (a directory whose files get the date as their time).
fn store(root: &Path, opts: &DnfOptions) -> LocalStore {
    LocalStore::new(root.to_path_buf()).with_mtime(opts.date)
}

fn run(
    root: &Path,
    rpms: &[PathBuf],
    opts: &DnfOptions,
    sign: &(dyn Fn(&mut rpm::Package) -> Result<()> + Sync),
) -> Result<DnfReport> {
    update(&store(root, opts), "", rpms, opts, &SIGNER, sign)
}

/// What a client finds: repomd.xml signed, its documents matching it, every package they
/// name present with its checksum. Returns the package locations.
fn consistent(root: &Path) -> BTreeSet<String> {
    let store = LocalStore::new(root.to_path_buf());
    let tree = Tree {
        store: &store,
        root: "",
    };
    let published = Dnf::new(UNIX_EPOCH).read(&tree, &SIGNER).unwrap().unwrap();
    for (location, package) in &published.entries {
        let data = fs::read(root.join(location))
            .unwrap_or_else(|_| panic!("{location} is listed but missing"));
        assert_eq!(sha256_hex(&data), package.pkgid, "{location}");
    }
    published.entries.into_keys().collect()
}

fn build(dir: &Path, version: &str, arch: &str, content: &str) -> PathBuf {
    let package = PackageBuilder::new(
        "nimsforest-nats",
        version,
        "Apache-2.0",
        arch,
        "NATS <node> & more",
    )
    .using_config(BuildConfig::default().source_date(1_700_000_000))
    .release("1")
    .description("line one\nline two")
    .with_file_contents(
        content.as_bytes().to_vec(),
        FileOptions::new("/opt/nimsforest/bin/nats-server").mode(0o100755),
    )
    .unwrap()
    .with_file_contents(
        b"a".to_vec(),
        FileOptions::new("/etc/nimsforest/nats.conf").config(),
    )
    .unwrap()
    .with_file_contents(b"b".to_vec(), FileOptions::new("/usr/share/doc/x/README"))
    .unwrap()
    .requires(Dependency::script_pre("/bin/sh"))
    .requires(Dependency::any("coreutils"))
    .add_changelog_entry("A <a@example.com> - 1", "- one", 1_700_000_000u32)
    .add_changelog_entry("B <b@example.com> - 1", "- two", 1_690_000_000u32)
    .build()
    .unwrap();
    let path = dir.join(format!("in-{version}-{arch}-{}.rpm", content.len()));
    package.write_file(&path).unwrap();
    path
}

fn gunzip(path: &Path) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(File::open(path).unwrap())
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = fs::metadata(&p).unwrap().modified().unwrap();
                out.push((p.display().to_string(), fs::read(&p).unwrap(), m));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn writes_layout_and_consistent_repomd() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    let rpms = vec![
        build(&input, "2.15.1", "x86_64", "new"),
        build(&input, "2.15.1", "aarch64", "new"),
    ];
    let report = run(&root, &rpms, &opts(1_750_000_000), &no_signing).unwrap();
    assert_eq!(
        report.added,
        [
            "Packages/n/nimsforest-nats-2.15.1-1.aarch64.rpm",
            "Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm"
        ]
    );
    assert!(!report.unchanged);

    let repomd = fs::read_to_string(root.join(REPOMD)).unwrap();
    assert!(repomd.contains("<revision>1750000000</revision>"));
    assert_eq!(
        fs::read_to_string(root.join(REPOMD_SIGNATURE)).unwrap(),
        format!("DETACHED BY KEY {}\n", sha256_hex(repomd.as_bytes()))
    );
    // Each data entry: checksum and size of the .gz, open-checksum and open-size of the XML.
    for kind in ["primary", "filelists", "other"] {
        let block = repomd
            .split(&format!("<data type=\"{kind}\">"))
            .nth(1)
            .unwrap()
            .split("</data>")
            .next()
            .unwrap();
        let field = |name: &str| {
            block
                .split(&format!("<{name}"))
                .nth(1)
                .unwrap()
                .split_once('>')
                .unwrap()
                .1
                .split('<')
                .next()
                .unwrap()
                .to_string()
        };
        let href = block
            .split("href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let gz = fs::read(root.join(href)).unwrap();
        let xml = gunzip(&root.join(href));
        assert_eq!(field("checksum"), sha256_hex(&gz));
        assert_eq!(href, format!("repodata/{}-{kind}.xml.gz", sha256_hex(&gz)));
        assert_eq!(field("open-checksum"), sha256_hex(xml.as_bytes()));
        assert_eq!(field("size"), gz.len().to_string());
        assert_eq!(field("open-size"), xml.len().to_string());
        assert_eq!(field("timestamp"), "1750000000");
    }

    // Packages sorted by location; pkgid is the file's sha256; file time is the date given.
    let primary_href = xml::repomd_data(&repomd)
        .into_iter()
        .map(|(_, l, _)| l)
        .find(|l| l.ends_with("-primary.xml.gz"))
        .unwrap();
    let primary = gunzip(&root.join(primary_href));
    let a = primary.find("<arch>aarch64</arch>").unwrap();
    let x = primary.find("<arch>x86_64</arch>").unwrap();
    assert!(a < x);
    let copy = root.join("Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm");
    assert!(primary.contains(&crate::digest::sha256_file(&copy).unwrap()));
    assert!(primary.contains("<time file=\"1750000000\" build=\"1700000000\"/>"));
    assert!(primary.contains("<summary>NATS &lt;node&gt; &amp; more</summary>"));
    assert!(primary.contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>"));
    assert!(primary.contains("<file>/opt/nimsforest/bin/nats-server</file>"));
    assert!(!primary.contains("README"));
    assert!(!primary.contains("rpmlib("));
    assert_eq!(
        fs::metadata(&copy).unwrap().modified().unwrap(),
        UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    );
}

#[test]
fn rerun_changes_nothing_and_new_versions_replace_old_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    let old = vec![build(&input, "2.14.6", "x86_64", "old")];
    run(&root, &old, &opts(1000), &no_signing).unwrap();
    let before = snapshot(&root);

    let again = run(&root, &old, &opts(2000), &no_signing).unwrap();
    assert_eq!(
        again,
        DnfReport {
            unchanged: true,
            ..DnfReport::default()
        }
    );
    assert_eq!(snapshot(&root), before);
    let empty = run(&root, &[], &opts(3000), &no_signing).unwrap();
    assert!(empty.unchanged);

    let new = vec![build(&input, "2.15.1", "x86_64", "new")];
    let report = run(&root, &new, &opts(4000), &no_signing).unwrap();
    assert_eq!(
        report.added,
        ["Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm"]
    );
    let repomd = fs::read_to_string(root.join(REPOMD)).unwrap();
    let mut names: Vec<String> = fs::read_dir(root.join(REPODATA_DIR))
        .unwrap()
        .map(|e| format!("repodata/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    let documents: Vec<String> = xml::repomd_data(&repomd)
        .into_iter()
        .map(|(_, l, _)| l)
        .collect();
    // The documents of this generation and of the one before (a client may still read it).
    let newest: BTreeSet<&String> = documents.iter().collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".xml.gz")).count(),
        6,
        "{names:?}"
    );
    assert!(newest.iter().all(|d| names.contains(d)));
    let primary = gunzip(&root.join(documents.iter().find(|d| d.contains("-primary")).unwrap()));
    assert!(primary.contains("packages=\"2\""), "{primary}");
    assert!(primary.contains("ver=\"2.14.6\"") && primary.contains("ver=\"2.15.1\""));
    // The old package kept its file time.
    assert!(primary.contains("<time file=\"1000\""));
    assert!(primary.contains("<time file=\"4000\""));
}

#[test]
fn a_different_package_under_an_existing_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    run(
        &root,
        &[build(&input, "2.15.1", "x86_64", "first")],
        &opts(1000),
        &no_signing,
    )
    .unwrap();
    let before = snapshot(&root);
    let rebuilt = build(&input, "2.15.1", "x86_64", "second build");
    let extra = build(&input, "2.15.2", "x86_64", "x");
    let err = run(&root, &[extra, rebuilt], &opts(2000), &no_signing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "nimsforest-nats-2.15.1-1.x86_64.rpm: is already published with different content"
        ),
        "{err}"
    );
    assert_eq!(snapshot(&root), before, "nothing written");
}

#[test]
fn signed_copies_are_the_same_package_as_their_unsigned_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    let rpms = vec![build(&input, "2.15.1", "x86_64", "x")];
    // A stand-in for signing: it changes only the signature header.
    let sign = |p: &mut rpm::Package| -> Result<()> {
        crate::rpm::set_archive_size(p, 4242).unwrap();
        Ok(())
    };
    run(&root, &rpms, &opts(1000), &sign).unwrap();
    let copy = root.join("Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm");
    assert_ne!(fs::read(&copy).unwrap(), fs::read(&rpms[0]).unwrap());
    let before = snapshot(&root);
    let again = run(&root, &rpms, &opts(2000), &sign).unwrap();
    assert!(again.unchanged);
    assert_eq!(snapshot(&root), before);
    let repomd = fs::read_to_string(root.join(REPOMD)).unwrap();
    let primary = xml::repomd_data(&repomd)
        .into_iter()
        .map(|(_, l, _)| l)
        .find(|l| l.ends_with("-primary.xml.gz"))
        .unwrap();
    assert!(gunzip(&root.join(primary)).contains("archive=\"4242\""));
}

#[test]
fn unsigned_copy_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let rpms = vec![build(tmp.path(), "2.15.1", "x86_64", "x")];
    let root = tmp.path().join("repo");
    run(&root, &rpms, &opts(1000), &no_signing).unwrap();
    assert_eq!(
        fs::read(root.join("Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm")).unwrap(),
        fs::read(&rpms[0]).unwrap()
    );
}

#[test]
fn gzip_is_deterministic() {
    let a = compress::gzip(b"<metadata/>", compress::GZIP_REPODATA).unwrap();
    assert_eq!(
        a,
        compress::gzip(b"<metadata/>", compress::GZIP_REPODATA).unwrap()
    );
    // No name, zero mtime.
    assert_eq!(&a[3..8], &[0, 0, 0, 0, 0]);
}

#[test]
fn keep_drops_old_versions_and_deletes_their_files_two_generations_later() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    let keep = |secs| DnfOptions {
        keep: Some(1),
        ..opts(secs)
    };
    let location = |v: &str| format!("Packages/n/nimsforest-nats-{v}-1.x86_64.rpm");
    run(
        &root,
        &[build(&input, "1.0", "x86_64", "a")],
        &keep(1000),
        &no_signing,
    )
    .unwrap();
    let report = run(
        &root,
        &[build(&input, "1.1", "x86_64", "b")],
        &keep(2000),
        &no_signing,
    )
    .unwrap();
    assert_eq!(report.retired, [location("1.0")]);
    assert!(
        root.join(location("1.0")).is_file(),
        "the previous generation names it"
    );
    assert_eq!(
        consistent(&root).into_iter().collect::<Vec<_>>(),
        [location("1.1")]
    );
    let report = run(
        &root,
        &[build(&input, "1.2", "x86_64", "c")],
        &keep(3000),
        &no_signing,
    )
    .unwrap();
    assert_eq!(report.deleted, [location("1.0")]);
    assert!(!root.join(location("1.0")).exists());
    assert!(root.join(location("1.1")).is_file());
}

#[test]
fn metadata_not_signed_by_this_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    run(
        &root,
        &[build(&input, "1.0", "x86_64", "a")],
        &opts(1000),
        &no_signing,
    )
    .unwrap();
    let other = update(
        &store(&root, &opts(2000)),
        "",
        &[build(&input, "1.1", "x86_64", "b")],
        &opts(2000),
        &FakeSigner("OTHER"),
        &no_signing,
    );
    let err = other.unwrap_err().to_string();
    assert!(err.contains("is not signed by this signing key"), "{err}");
    // A document that does not match repomd.xml.
    let repomd = fs::read_to_string(root.join(REPOMD)).unwrap();
    let (_, primary, _) = xml::repomd_data(&repomd)
        .into_iter()
        .find(|(k, _, _)| k == "primary")
        .unwrap();
    fs::write(
        root.join(&primary),
        compress::gzip(b"<metadata/>", compress::GZIP_REPODATA).unwrap(),
    )
    .unwrap();
    let err = run(&root, &[], &opts(3000), &no_signing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match repomd.xml"), "{err}");
}

#[test]
fn a_publisher_that_lost_the_race_changes_nothing_clients_see() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let root = tmp.path().join("repo");
    let first = build(&input, "1.0", "x86_64", "a");
    run(&root, &[first], &opts(1000), &no_signing).unwrap();
    let signature = fs::read(root.join(REPOMD_SIGNATURE)).unwrap();
    let root_store = store(&root, &opts(2000));
    let racing = Racing::new(&root_store, REPOMD, b"<repomd>theirs</repomd>".to_vec());
    let second = [build(&input, "1.1", "x86_64", "b")];
    let err = update(&racing, "", &second, &opts(2000), &SIGNER, &no_signing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("was changed by another publisher"), "{err}");
    // The other publisher's repomd.xml stands; this run's signature was not swapped in.
    assert_eq!(
        fs::read(root.join(REPOMD)).unwrap(),
        b"<repomd>theirs</repomd>"
    );
    assert_eq!(fs::read(root.join(REPOMD_SIGNATURE)).unwrap(), signature);
}

#[test]
fn an_interrupted_update_leaves_a_consistent_repository_that_the_next_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    let first = [build(&input, "1.0", "x86_64", "a")];
    let second = [
        build(&input, "1.1", "x86_64", "b"),
        build(&input, "1.1", "aarch64", "b"),
    ];
    let fresh = |name: &str| {
        let root = tmp.path().join(name);
        run(&root, &first, &opts(1000), &no_signing).unwrap();
        root
    };
    let reference = fresh("reference");
    let reference_store = store(&reference, &opts(2000));
    let counting = Interrupted::after(&reference_store, usize::MAX);
    update(&counting, "", &second, &opts(2000), &SIGNER, &no_signing).unwrap();
    let total = counting.writes();
    assert!(total >= 7, "{total} writes");
    let complete = fs::read(reference.join(REPOMD)).unwrap();
    // The documents of both generations: clients of the first may still be reading them.
    let documents = |root: &Path| -> BTreeSet<String> {
        fs::read_dir(root.join("repodata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let kept = documents(&reference);
    for allowed in 0..total {
        let root = fresh(&format!("r{allowed}"));
        let before = consistent(&root);
        let root_store = store(&root, &opts(2000));
        let interrupted = Interrupted::after(&root_store, allowed);
        assert!(update(&interrupted, "", &second, &opts(2000), &SIGNER, &no_signing).is_err());
        let seen = consistent(&root);
        assert!(
            seen == before || seen.len() == 3,
            "after {allowed} writes: {seen:?}"
        );
        run(&root, &second, &opts(2000), &no_signing).unwrap();
        assert_eq!(consistent(&root).len(), 3);
        assert_eq!(
            fs::read(root.join(REPOMD)).unwrap(),
            complete,
            "after {allowed} writes"
        );
        assert_eq!(documents(&root), kept, "after {allowed} writes");
    }
}
