//! Bad input: each case fails with one clear `error:` line naming the culprit, a non-zero
//! exit status, and leaves dist/ exactly as it was.

use std::path::Path;

use crate::harness::*;

/// A project whose dist/ already holds a file, so "left as it was" means something.
fn project_with_dist() -> Project {
    let project = Project::new();
    std::fs::create_dir_all(project.dist()).unwrap();
    std::fs::write(project.dist().join("keep.txt"), b"from an earlier build").unwrap();
    project
}

/// Runs a failing build and checks the common contract; returns stderr and exit code.
fn failing_build(project: &Project, args: &[&str]) -> (String, i32) {
    let before = snapshot(&project.dist());
    let (stderr, code) = project.fails(args);
    assert_eq!(
        before,
        snapshot(&project.dist()),
        "dist/ changed after a failed build"
    );
    (stderr, code)
}

/// A download that failed its checks (or never completed) is not in the cache, whole or
/// in part.
fn assert_nothing_cached(project: &Project) {
    for dir in ["sha256", "incoming"] {
        let names: Vec<_> = snapshot(&project.cache.join(dir))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(names.is_empty(), "cache/{dir} holds {names:?}");
    }
}

/// A private copy of the fixture's 2.15.1 release that a test may damage.
fn release_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &mirror_root().join(format!("v{NEW}")),
        &dir.path().join(format!("v{NEW}")),
    );
    dir
}

fn tarball_name(arch: &str) -> String {
    format!("nats-server-v{NEW}-linux-{arch}.tar.gz")
}

/// Replaces one arch's tarball and its SHA256SUMS line, as a consistent but malicious
/// release would.
fn replace_tarball(release: &Path, arch: &str, data: &[u8]) {
    let dir = release.join(format!("v{NEW}"));
    std::fs::write(dir.join(tarball_name(arch)), data).unwrap();
    let digest = sha256_hex(data);
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| match l.ends_with(&tarball_name(arch)) {
            true => format!("{digest}  {}\n", tarball_name(arch)),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
}

/// A gzip'd tarball with raw entry names (the tar crate refuses to write `..` itself).
fn crafted_tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if kind.is_symlink() {
            h.set_link_name("/usr/bin/true").unwrap();
        }
        h.set_cksum();
        builder.append(&h, *data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// The real server binary of an arch, from the fixture release.
fn real_binary(arch: &str) -> Vec<u8> {
    let tarball = mirror_root().join(format!("v{NEW}/{}", tarball_name(arch)));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tarball).unwrap(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("nats-server") {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            return data;
        }
    }
    panic!("no nats-server in the fixture's {arch} tarball");
}

/// Builds amd64 from a damaged release whose SHA256SUMS and pins agree with the damage,
/// so only the content checks stand between it and a package.
fn build_damaged(data: &[u8]) -> (String, i32) {
    let release = release_copy();
    replace_tarball(release.path(), "amd64", data);
    let server = MirrorServer::start(release.path());
    let project = project_with_dist();
    project.pin(NEW, &server.url);
    failing_build(
        &project,
        &["build", "--arch", "amd64", "--mirror", &server.url],
    )
}

fn top() -> String {
    format!("nats-server-v{NEW}-linux-amd64")
}

#[test]
fn hash_mismatch_against_sha256sums() {
    let release = release_copy();
    let sums_path = release.path().join(format!("v{NEW}/SHA256SUMS"));
    let sums = std::fs::read_to_string(&sums_path).unwrap();
    let forged = "0".repeat(64);
    let sums: String = sums
        .lines()
        .map(|l| match l.ends_with(&tarball_name("amd64")) {
            true => format!("{forged}  {}\n", tarball_name("amd64")),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&sums_path, sums).unwrap();
    let server = MirrorServer::start(release.path());
    let project = project_with_dist();
    let (stderr, code) = failing_build(
        &project,
        &["build", "--arch", "amd64", "--mirror", &server.url],
    );
    let actual = sha256_hex(
        &std::fs::read(mirror_root().join(format!("v{NEW}/{}", tarball_name("amd64")))).unwrap(),
    );
    assert!(
        stderr.contains(&format!(
            "sha256 mismatch for {} against SHA256SUMS: expected {forged}, got {actual}",
            tarball_name("amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 3);
    assert_nothing_cached(&project);
}

#[test]
fn hash_mismatch_against_the_pin() {
    let project = project_with_dist();
    let manifest = std::fs::read_to_string(project.manifest()).unwrap();
    let start = manifest.find("\namd64 = \"").expect("amd64 is pinned") + "\namd64 = \"".len();
    let pinned = manifest[start..start + 64].to_string();
    let forged = "f".repeat(64);
    std::fs::write(project.manifest(), manifest.replace(&pinned, &forged)).unwrap();
    let mirror = &MirrorServer::shared().url;
    let (stderr, code) = failing_build(&project, &["build", "--arch", "amd64", "--mirror", mirror]);
    assert!(
        stderr.contains(&format!(
            "sha256 mismatch for {} against the pin in the package definition: expected {forged}, got {pinned}",
            tarball_name("amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 3);
    assert_nothing_cached(&project);
}

#[test]
fn truncated_download_is_retried_then_refused() {
    let server = MirrorServer::start(mirror_root());
    let project = project_with_dist();
    let mirror = format!("{}/fault/tarballs/truncate", server.url);
    let (stderr, code) =
        failing_build(&project, &["build", "--arch", "amd64", "--mirror", &mirror]);
    assert!(
        stderr.contains(&format!(
            "GET {mirror}/v{NEW}/{}: download truncated: expected ",
            tarball_name("amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 4);
    assert_eq!(
        server.requests_for(&tarball_name("amd64")),
        4,
        "transient failures are retried"
    );
    assert_nothing_cached(&project);
}

#[test]
fn http_404_is_not_retried() {
    let server = MirrorServer::start(mirror_root());
    let project = project_with_dist();
    let mirror = format!("{}/fault/status/404", server.url);
    let (stderr, code) =
        failing_build(&project, &["build", "--arch", "amd64", "--mirror", &mirror]);
    assert!(
        stderr.contains(&format!("GET {mirror}/v{NEW}/SHA256SUMS: HTTP 404")),
        "{stderr}"
    );
    assert_eq!(code, 4);
    assert_eq!(server.requests_for("SHA256SUMS"), 1);
}

#[test]
fn http_500_then_success_is_retried() {
    let server = MirrorServer::start(mirror_root());
    let project = project_with_dist();
    let mirror = format!("{}/fault/tarballs/flaky/2/500", server.url);
    let out = project.ok(&[
        "build", "--arch", "amd64", "--format", "deb", "--mirror", &mirror,
    ]);
    assert!(
        out.contains(&format!("nimsforest-nats_{NEW}-1_amd64.deb")),
        "{out}"
    );
    assert_eq!(
        server.requests_for(&tarball_name("amd64")),
        3,
        "two 500s, then the file"
    );
    assert_eq!(server.requests_for("SHA256SUMS"), 1);
}

#[test]
fn tarball_without_the_binary() {
    let data = crafted_tarball(&[(
        &format!("{}/README.md", top()),
        tar::EntryType::Regular,
        b"hi",
    )]);
    let (stderr, code) = build_damaged(&data);
    assert!(
        stderr.contains(&format!(
            "error: building amd64: {}: no {}/nats-server in the archive",
            tarball_name("amd64"),
            top()
        )),
        "{stderr}"
    );
    assert_eq!(code, 3);
}

#[test]
fn tarball_with_parent_dir_entry() {
    let data = crafted_tarball(&[
        (
            "../../etc/cron.d/evil",
            tar::EntryType::Regular,
            b"* * * * * root true",
        ),
        (
            &format!("{}/nats-server", top()),
            tar::EntryType::Regular,
            &real_binary("amd64"),
        ),
    ]);
    let (stderr, _) = build_damaged(&data);
    assert!(
        stderr.contains("entry \"../../etc/cron.d/evil\" escapes with '..'"),
        "{stderr}"
    );
}

#[test]
fn tarball_with_absolute_entry() {
    let data = crafted_tarball(&[
        ("/etc/evil", tar::EntryType::Regular, b"x"),
        (
            &format!("{}/nats-server", top()),
            tar::EntryType::Regular,
            &real_binary("amd64"),
        ),
    ]);
    let (stderr, _) = build_damaged(&data);
    assert!(
        stderr.contains("entry \"/etc/evil\" has an absolute path"),
        "{stderr}"
    );
}

#[test]
fn tarball_with_link_entry() {
    let data = crafted_tarball(&[(
        &format!("{}/nats-server", top()),
        tar::EntryType::Symlink,
        b"",
    )]);
    let (stderr, _) = build_damaged(&data);
    assert!(
        stderr.contains(&format!("entry \"{}/nats-server\" is a link", top())),
        "{stderr}"
    );
}

#[test]
fn wrong_arch_binary() {
    let data = crafted_tarball(&[(
        &format!("{}/nats-server", top()),
        tar::EntryType::Regular,
        &real_binary("arm64"),
    )]);
    let (stderr, code) = build_damaged(&data);
    assert!(
        stderr.contains(&format!(
            "{}: nats-server is not a amd64 binary: expected ELF64 little-endian e_machine 62, found ELF64 little-endian e_machine 183",
            tarball_name("amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 3);
}

#[test]
fn unknown_arch() {
    let project = project_with_dist();
    let (stderr, _) = failing_build(
        &project,
        &["build", "--arch", "sparc", "--mirror", "http://127.0.0.1:9"],
    );
    assert!(
        stderr.starts_with("error: unknown architecture 'sparc'"),
        "{stderr}"
    );
}

#[test]
fn arch_not_pinned() {
    let project = project_with_dist();
    let (stderr, _) = failing_build(
        &project,
        &["build", "--arch", "armhf", "--mirror", "http://127.0.0.1:9"],
    );
    assert!(
        stderr.starts_with(&format!(
            "error: architecture arm7 is not pinned for nats-server {NEW}"
        )),
        "{stderr}"
    );
}

#[test]
fn malformed_revision() {
    let project = project_with_dist();
    let (stderr, _) = failing_build(
        &project,
        &[
            "build",
            "--revision",
            "1-2",
            "--mirror",
            "http://127.0.0.1:9",
        ],
    );
    assert!(
        stderr.contains("malformed version '2.15.1-1-2'"),
        "{stderr}"
    );
}

#[test]
fn one_bad_arch_fails_the_whole_build() {
    // arm64 is fine, amd64 is damaged: nothing may land, not even arm64.
    let data = crafted_tarball(&[(
        &format!("{}/README.md", top()),
        tar::EntryType::Regular,
        b"hi",
    )]);
    let release = release_copy();
    replace_tarball(release.path(), "amd64", &data);
    let server = MirrorServer::start(release.path());
    let project = project_with_dist();
    project.pin(NEW, &server.url);
    let before = snapshot(&project.dist());
    let (stderr, _) = project.fails(&["build", "--arch", "amd64,arm64", "--mirror", &server.url]);
    assert!(stderr.contains("building amd64"), "{stderr}");
    assert_eq!(
        before,
        snapshot(&project.dist()),
        "dist/ changed after a failed build"
    );
}
