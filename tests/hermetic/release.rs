//! scripts/release.sh, the steps of the release workflow, run here as the workflow runs
//! them, against the fixture mirror (for GitHub's release) and a real S3 server (for the
//! store): a new upstream release is pinned, built and published to testing only, stable
//! stays as it was until a person promotes the release, then serves the same bytes; a
//! second run does nothing.

use std::path::Path;
use std::process::Command;

use crate::client_view::channel_view;
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
    release_with(project, server, latest, key, &[])
}

/// [`release`] with the script's arguments (`promote VERSION`).
fn release_with(
    project: &Project,
    server: &S3Server,
    latest: &str,
    key: &str,
    args: &[&str],
) -> (bool, String, String) {
    let output = project.path().join("github-output");
    let _ = std::fs::remove_file(&output);
    let mut cmd = Command::new(repo_root().join("scripts/release.sh"));
    cmd.args(args)
        .current_dir(project.path())
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
fn a_new_upstream_release_lands_in_testing_and_reaches_stable_only_when_promoted() {
    let project = Project::new();
    let mirror = &MirrorServer::shared().url;
    project.pin(OLD, mirror);
    let keys = project.path().join("keys");
    project.ok(&["keygen", "--out", keys.to_str().unwrap()]);
    let key_file = keys.join("nimsforest-signing-key.asc");
    let key = std::fs::read_to_string(&key_file).unwrap();
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

    // The store as it was before channels: OLD in stable, which nodes read.
    let old_dist = project.path().join("dist-old");
    project.ok(&[
        "build",
        "--arch",
        "amd64",
        "--mirror",
        mirror,
        "--out",
        old_dist.to_str().unwrap(),
    ]);
    let mut publish = project.command(&[
        "repo",
        "--dist",
        old_dist.to_str().unwrap(),
        "--signing-key",
        key_file.to_str().unwrap(),
        "--out",
        &server.url("repo"),
    ]);
    succeeds(server.configure(&mut publish));
    let root = server.files("repo");
    let view = |channel: &str| channel_view(&root, &keyring, channel);
    let stable = view("stable");
    let stable_files = || -> Vec<(std::path::PathBuf, Vec<u8>)> {
        server
            .objects("repo")
            .into_iter()
            .filter(|(path, _)| {
                let path = path.to_string_lossy();
                path.starts_with("apt/dists/stable/")
                    || (path.starts_with("rpm/") && !path.starts_with("rpm/testing/"))
            })
            .collect()
    };
    let stable_before = stable_files();

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
    let testing = view("testing");
    assert_eq!(
        testing,
        [
            format!("apt/pool/main/n/nimsforest-nats/nimsforest-nats_{NEW}-1_amd64.deb"),
            format!("rpm/testing/Packages/n/nimsforest-nats-{NEW}-1.x86_64.rpm"),
        ]
    );
    // stable: not a byte changed.
    assert_eq!(view("stable"), stable);
    assert!(stable_files() == stable_before, "stable changed");

    // A person promotes it: stable serves testing's very bytes, beside OLD.
    let (ok, stderr, output) = release_with(&project, &server, &url, &key, &["promote", NEW]);
    assert!(ok, "{stderr}");
    assert_eq!(output, format!("promoted={NEW}\n"));
    let promoted = view("stable");
    assert_eq!(promoted.len(), 4, "{promoted:?}");
    let sha = |file: &str| sha256_hex(&std::fs::read(root.join(file)).unwrap());
    for file in &testing {
        let in_stable = file.replacen("rpm/testing/", "rpm/", 1);
        assert!(promoted.contains(&in_stable), "{in_stable} not in stable");
        assert_eq!(sha(&in_stable), sha(file), "{in_stable}");
    }
    assert!(promoted.iter().any(|f| f.contains(OLD)), "{promoted:?}");

    // A version testing does not have is refused.
    let (ok, stderr, _) = release_with(&project, &server, &url, &key, &["promote", "2.99.0"]);
    assert!(
        !ok && stderr.contains("the testing channel has no"),
        "{stderr}"
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
