//! Bad input: each case fails with one clear `error:` line naming the culprit, a non-zero
//! exit status, and leaves dist/ exactly as it was.

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

fn real_binary(arch: &str) -> Vec<u8> {
    fixture_binary(NEW, arch)
}

/// Builds amd64 from a damaged release whose SHA256SUMS and pins agree with the damage,
/// so only the content checks stand between it and a package.
fn build_damaged(data: &[u8]) -> (String, i32) {
    let release = release_copy(NEW);
    replace_tarball(release.path(), NEW, "amd64", data);
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
    let release = release_copy(NEW);
    let sums_path = release.path().join(format!("v{NEW}/SHA256SUMS"));
    let sums = std::fs::read_to_string(&sums_path).unwrap();
    let forged = "0".repeat(64);
    let sums: String = sums
        .lines()
        .map(|l| match l.ends_with(&release_tarball(NEW, "amd64")) {
            true => format!("{forged}  {}\n", release_tarball(NEW, "amd64")),
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
        &std::fs::read(mirror_root().join(format!("v{NEW}/{}", release_tarball(NEW, "amd64"))))
            .unwrap(),
    );
    assert!(
        stderr.contains(&format!(
            "sha256 mismatch for {} against SHA256SUMS: expected {forged}, got {actual}",
            release_tarball(NEW, "amd64")
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
            "sha256 mismatch for {} against the pin in Cargo.toml: expected {forged}, got {pinned}",
            release_tarball(NEW, "amd64")
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
            release_tarball(NEW, "amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 4);
    assert_eq!(
        server.requests_for(&release_tarball(NEW, "amd64")),
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
        server.requests_for(&release_tarball(NEW, "amd64")),
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
            release_tarball(NEW, "amd64"),
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
            release_tarball(NEW, "amd64")
        )),
        "{stderr}"
    );
    assert_eq!(code, 3);
}

#[test]
fn unknown_arch() {
    let project = project_with_dist();
    let (stderr, code) = failing_build(
        &project,
        &["build", "--arch", "sparc", "--mirror", "http://127.0.0.1:9"],
    );
    assert!(
        stderr.starts_with("error: unknown architecture 'sparc'"),
        "{stderr}"
    );
    assert_eq!(code, 2, "a bad argument is a usage error");
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
    let (stderr, code) = failing_build(
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
        stderr.contains("--revision: malformed version '2.15.1-1-2'"),
        "{stderr}"
    );
    assert_eq!(code, 2, "a bad argument is a usage error");
}

#[test]
fn bad_settings_are_usage_errors_naming_the_setting() {
    let project = project_with_dist();
    let before = snapshot(&project.dist());
    let mut cmd = project.command(&["build", "--mirror", "http://127.0.0.1:9"]);
    let out = cmd.env("SOURCE_DATE_EPOCH", "yesterday").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: SOURCE_DATE_EPOCH: \"yesterday\" is not a number"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let out = project.run(&["build", "--deb-compression", "bzip2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'bzip2'") && stderr.contains("--deb-compression"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(before, snapshot(&project.dist()));
}

#[test]
fn one_bad_arch_fails_the_whole_build() {
    // arm64 is fine, amd64 is damaged: nothing may land, not even arm64.
    let data = crafted_tarball(&[(
        &format!("{}/README.md", top()),
        tar::EntryType::Regular,
        b"hi",
    )]);
    let release = release_copy(NEW);
    replace_tarball(release.path(), NEW, "amd64", &data);
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
