//! The user's path through the CLI: keygen, repo (twice), cloud-init, checked with gpgv,
//! rpm and cloud-init's own schema validator.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::build::release;
use crate::harness::*;

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn keygen_repo_and_cloud_init_from_the_command_line() {
    let project = release();
    let keys = tempfile::tempdir().unwrap();
    let out = project.ok(&["keygen", "--out", s(keys.path())]);
    let fingerprint = out.trim().to_string();
    assert_eq!(fingerprint.len(), 40, "{out}");
    let secret = keys.path().join("nimsforest-signing-key.asc");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&keys.path().join("nimsforest.asc")), 0o644);
    let secret_before = std::fs::read(&secret).unwrap();
    let (stderr, code) = project.fails(&["keygen", "--out", s(keys.path())]);
    assert!(
        stderr.contains("nimsforest-signing-key.asc: already exists; refusing to overwrite it"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    assert_eq!(secret_before, std::fs::read(&secret).unwrap());

    // The repository, signed with that key (here through the environment, as in CI).
    let repo = tempfile::tempdir().unwrap();
    let publish = || {
        let mut cmd = project.command(&[
            "repo",
            "--dist",
            s(&project.dist()),
            "--out",
            s(repo.path()),
            "--url",
            "https://packages.example.invalid/nimsforest",
        ]);
        cmd.env(
            "NIMSFOREST_SIGNING_KEY",
            std::fs::read_to_string(&secret).unwrap(),
        );
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = publish();
    assert!(
        first.contains("apt: 5 package(s) added") && first.contains("rpm: 5 package(s) added"),
        "{first}"
    );
    assert!(
        first.contains(&format!("signed by {fingerprint}")),
        "{first}"
    );
    let before = snapshot(repo.path());
    let second = publish();
    assert!(
        second.contains("apt: unchanged") && second.contains("rpm: unchanged"),
        "{second}"
    );
    assert_eq!(
        before,
        snapshot(repo.path()),
        "a re-run with nothing new changed files"
    );

    // Clients' files and trust chain.
    let sources = std::fs::read_to_string(repo.path().join("nimsforest.sources")).unwrap();
    assert!(
        sources.contains("URIs: https://packages.example.invalid/nimsforest/apt\n"),
        "{sources}"
    );
    assert!(
        sources.contains("Signed-By: /etc/apt/keyrings/nimsforest.gpg\n"),
        "{sources}"
    );
    let dnf_repo = std::fs::read_to_string(repo.path().join("nimsforest.repo")).unwrap();
    assert!(
        dnf_repo.contains("gpgcheck=1\nrepo_gpgcheck=1\n"),
        "{dnf_repo}"
    );
    let keyring = repo.path().join("nimsforest.gpg");
    let in_release = repo.path().join("apt/dists/stable/InRelease");
    let gpgv = tool_ok("gpgv", &["--keyring", s(&keyring), s(&in_release)]);
    assert!(gpgv.contains("Good signature"), "{gpgv}");
    let rpmdb = tempfile::tempdir().unwrap();
    tool_ok(
        "rpmkeys",
        &[
            "--dbpath",
            s(rpmdb.path()),
            "--import",
            s(&repo.path().join("RPM-GPG-KEY-nimsforest")),
        ],
    );
    let rpm = repo
        .path()
        .join(format!("rpm/Packages/n/nimsforest-nats-{NEW}-1.x86_64.rpm"));
    let checked = tool_ok("rpm", &["--dbpath", s(rpmdb.path()), "-K", s(&rpm)]);
    assert!(
        checked.trim_end().ends_with("digests signatures OK"),
        "{checked}"
    );

    // User-data for a node of a three-node closed forest, valid for cloud-init.
    let forest = project.path().join("forest-7");
    project.ok(&[
        "forest",
        "init",
        "--dir",
        s(&forest),
        "--forest-id",
        "forest-7",
    ]);
    project.ok(&[
        "forest",
        "node",
        "--dir",
        s(&forest),
        "--name",
        "node-1",
        "--address",
        "10.0.0.1",
    ]);
    for variant in [&[][..], &["--rpm"][..]] {
        let mut args = vec![
            "cloud-init",
            "--url",
            "https://packages.example.invalid/nimsforest",
            "--key",
        ];
        let key = repo.path().join("nimsforest.asc");
        args.push(s(&key));
        args.extend(["--forest", s(&forest), "--server-name", "node-1"]);
        for route in [
            "nats-route://node-1.forest.invalid:6222",
            "nats-route://node-2.forest.invalid:6222",
        ] {
            args.extend(["--route", route]);
        }
        args.extend(variant);
        let user_data = project.ok(&args);
        assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
        assert!(user_data.contains("forest-7"), "{user_data}");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &user_data).unwrap();
        let schema = tool_ok("cloud-init", &["schema", "--config-file", s(file.path())]);
        assert!(schema.contains("Valid cloud-config"), "{schema}");
    }
}

#[test]
fn repo_without_a_key_says_how_to_give_one() {
    let project = Project::new();
    std::fs::create_dir_all(project.dist()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cmd = project.command(&["repo", "--out", s(out.path())]);
    cmd.env_remove("NIMSFOREST_SIGNING_KEY");
    let result = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.starts_with("error: ") && stderr.contains("NIMSFOREST_SIGNING_KEY"),
        "{stderr}"
    );
}
