//! scripts/release.sh, the steps of the release workflow, run here as the workflow runs
//! them, against the fixture mirror (for GitHub's release) and a real S3 server (for the
//! store): a new upstream release is pinned, built, published; a second run does nothing.

use std::path::Path;
use std::process::Command;

use crate::client_view::client_view;
use crate::harness::*;
use crate::s3::S3Server;

/// Runs the release script in the project's working tree with the workflow's settings
/// pointed here; returns (success, stderr, the GITHUB_OUTPUT it wrote).
fn release(
    project: &Project,
    server: &S3Server,
    latest: &str,
    key: &str,
) -> (bool, String, String) {
    let output = project.path().join("github-output");
    let _ = std::fs::remove_file(&output);
    let mut cmd = Command::new(repo_root().join("scripts/release.sh"));
    cmd.current_dir(project.path())
        .env("NIMSFOREST_STORE", server.url("repo"))
        .env("NIMSFOREST_REPO_URL", "https://packages.nimsforest.invalid")
        .env("NIMSFOREST_PKG", env!("CARGO_BIN_EXE_nimsforest-pkg"))
        .env("NIMSFOREST_MIRROR", &MirrorServer::shared().url)
        .env("NIMSFOREST_LATEST_URL", latest)
        .env("NIMSFOREST_CACHE_DIR", &project.cache)
        .env("NIMSFOREST_SIGNING_KEY", key)
        .env("RELEASE_BUILD_ARGS", "--arch amd64")
        .env("GITHUB_OUTPUT", &output)
        .env_remove("SOURCE_DATE_EPOCH");
    server.configure(&mut cmd);
    let out = cmd.output().expect("scripts/release.sh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&output).unwrap_or_default(),
    )
}

/// GitHub's answer for the newest release, served from a directory.
fn latest(dir: &Path, version: &str) -> MirrorServer {
    std::fs::write(
        dir.join("latest.json"),
        format!("{{\"tag_name\": \"v{version}\", \"prerelease\": false}}"),
    )
    .unwrap();
    MirrorServer::start(dir)
}

#[test]
fn a_new_upstream_release_is_pinned_built_and_published_and_a_second_run_does_nothing() {
    let project = Project::new();
    let mirror = &MirrorServer::shared().url;
    project.pin(OLD, mirror);
    let keys = project.path().join("keys");
    project.ok(&["keygen", "--out", keys.to_str().unwrap()]);
    let key = std::fs::read_to_string(keys.join("nimsforest-signing-key.asc")).unwrap();
    let keyring = keys.join("nimsforest.gpg");
    tool_ok(
        "gpg",
        &[
            "--batch",
            "--yes",
            "--dearmor",
            "--output",
            keyring.to_str().unwrap(),
            keys.join("nimsforest.asc").to_str().unwrap(),
        ],
    );
    let server = S3Server::start();
    let api = tempfile::tempdir().unwrap();
    let github = latest(api.path(), NEW);
    let url = format!("{}/latest.json", github.url);

    let (ok, stderr, output) = release(&project, &server, &url, &key);
    assert!(ok, "{stderr}");
    assert_eq!(output, format!("new=true\nversion={NEW}\n"));
    let manifest = std::fs::read_to_string(project.manifest()).unwrap();
    assert!(
        manifest.contains(&format!("version = \"{NEW}\"")),
        "the pin did not move:\n{manifest}"
    );
    assert!(project
        .dist()
        .join(format!("nimsforest-nats_{NEW}-1_amd64.deb"))
        .is_file());
    assert_eq!(
        client_view(&server.files("repo"), &keyring),
        [
            format!("apt/pool/main/n/nimsforest-nats/nimsforest-nats_{NEW}-1_amd64.deb"),
            format!("rpm/Packages/n/nimsforest-nats-{NEW}-1.x86_64.rpm"),
        ]
    );

    // Nothing new: nothing built, nothing published.
    let before = server.objects("repo");
    let (ok, stderr, output) = release(&project, &server, &url, &key);
    assert!(ok, "{stderr}");
    assert_eq!(output, "new=false\n");
    assert!(stderr.contains("nothing new"), "{stderr}");
    assert!(before == server.objects("repo"));

    // A "newest" release older than the pin is refused, not installed backwards.
    let older = latest(api.path(), OLD);
    let (ok, stderr, _) = release(
        &project,
        &server,
        &format!("{}/latest.json", older.url),
        &key,
    );
    assert!(!ok && stderr.contains("older than the pinned"), "{stderr}");
}
