//! A forest's trust package as the tools see it: what it holds (and never: a private
//! key), a new version for every change with the change in its changelog, byte-for-byte
//! rebuilds, lintian and rpmlint clean, and what `repo` does with it.

use std::path::{Path, PathBuf};

use crate::harness::*;
use crate::local_forest::TestForest;

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// The package files of version `version` in `out`: (.deb, .rpm).
fn packages(out: &Path, id: &str, version: u64) -> (PathBuf, PathBuf) {
    (
        out.join(format!("nimsforest-forest-{id}_{version}-1_all.deb")),
        out.join(format!("nimsforest-forest-{id}-{version}-1.noarch.rpm")),
    )
}

#[test]
fn every_change_is_a_new_version_holding_no_private_key() {
    let project = Project::new();
    let forest = TestForest::new(&project, "f", "forest-1", &["node1", "node2"]);
    forest.ok(&project, &["renew", "node1", "--days", "30"]);
    forest.ok(&project, &["revoke", "node2"]);
    let (deb, rpm) = packages(&forest.out, "forest-1", 5);
    assert!(
        deb.is_file() && rpm.is_file(),
        "{:?}",
        std::fs::read_dir(&forest.out)
    );

    // The files, as dpkg and rpm list them.
    let listing = tool_ok("dpkg-deb", &["-c", s(&deb)]);
    for path in [
        "./etc/nimsforest/forest.conf -> /usr/share/nimsforest/forest/forest.conf",
        "./usr/share/nimsforest/forest/ca.pem",
        "./usr/share/nimsforest/forest/forest.conf",
        "./usr/share/nimsforest/forest/nodes/node1.pem",
        "./usr/libexec/nimsforest-forest/apply",
        "./usr/libexec/nimsforest-forest/update",
        "./usr/lib/systemd/system/nimsforest-forest-update.timer",
    ] {
        assert!(listing.contains(path), "{path} missing:\n{listing}");
    }
    assert!(
        !listing.contains("node2.pem"),
        "a revoked node's certificate:\n{listing}"
    );
    let fields = tool_ok(
        "dpkg-deb",
        &[
            "-f",
            s(&deb),
            "Package",
            "Version",
            "Architecture",
            "Depends",
        ],
    );
    assert!(
        fields.contains("Package: nimsforest-forest-forest-1\nVersion: 5-1\nArchitecture: all\nDepends: nimsforest-nats"),
        "{fields}"
    );
    let header = tool_ok(
        "rpm",
        &[
            "-qp",
            "--nosignature",
            "--qf",
            "%{NAME} %{VERSION} %{RELEASE} %{ARCH}",
            s(&rpm),
        ],
    );
    assert_eq!(header, "nimsforest-forest-forest-1 5 1 noarch");

    // Nothing secret in either.
    let root = tempfile::tempdir().unwrap();
    tool_ok("dpkg-deb", &["-x", s(&deb), s(root.path())]);
    // (grep -r does not follow the link into /usr/share of this machine.)
    let (found, holders) = tool("grep", &["-rl", "PRIVATE KEY", s(root.path())]);
    assert!(!found, "a private key in:\n{holders}");
    let rpm_files = tool_ok(
        "sh",
        &[
            "-c",
            &format!("rpm2cpio {} | cpio -i --to-stdout 2>/dev/null", s(&rpm)),
        ],
    );
    assert!(!rpm_files.contains("PRIVATE KEY"));
    for key in [
        "ca-key.pem",
        "nodes/node1/node-key.pem",
        "users/app/user-key.pem",
    ] {
        let secret = std::fs::read_to_string(forest.dir.join(key)).unwrap();
        let line = secret.lines().nth(1).unwrap();
        assert!(!rpm_files.contains(line), "{key} is in the .rpm");
    }

    // forest.conf: the version it is, node2's pin gone, the accounts.
    let conf = std::fs::read_to_string(root.path().join("usr/share/nimsforest/forest/forest.conf"))
        .unwrap();
    assert!(conf.contains("nimsforest_trust: \"5\""), "{conf}");
    assert_eq!(conf.matches("  # node ").count(), 1, "{conf}");
    assert!(
        conf.contains("# node node1") && !conf.contains("# node node2"),
        "{conf}"
    );
    assert!(conf.contains("system_account: SYS"), "{conf}");

    // The changelog is the forest's history.
    let changelog = tool_ok("sh", &["-c", &format!("dpkg-deb --fsys-tarfile {} | tar -xO ./usr/share/doc/nimsforest-forest-forest-1/changelog.Debian.gz | gunzip", s(&deb))]);
    for change in [
        "(5-1) unstable; urgency=medium\n\n  * revoked node node2",
        "(4-1) unstable; urgency=medium\n\n  * renewed the certificate of node1",
        "(1-1) unstable; urgency=medium\n\n  * the forest's CA and its users app and sys",
    ] {
        assert!(
            changelog.contains(change),
            "{change:?} not in:\n{changelog}"
        );
    }
    let rpm_changelog = tool_ok("rpm", &["-qp", "--changelog", "--nosignature", s(&rpm)]);
    assert!(
        rpm_changelog.contains("- 5-1\n- revoked node node2"),
        "{rpm_changelog}"
    );

    // Built again: the same bytes.
    let again = project.path().join("again");
    let mut args = vec!["forest", "package", "--dir", s(&forest.dir), "--out"];
    args.push(s(&again));
    project.ok(&args);
    let (deb2, rpm2) = packages(&again, "forest-1", 5);
    assert_eq!(std::fs::read(&deb).unwrap(), std::fs::read(&deb2).unwrap());
    assert_eq!(std::fs::read(&rpm).unwrap(), std::fs::read(&rpm2).unwrap());
}

#[test]
fn lintian_and_rpmlint_find_nothing() {
    let project = Project::new();
    let forest = TestForest::new(&project, "f", "forest-1", &["node1"]);
    let (deb, rpm) = packages(&forest.out, "forest-1", 2);
    let (ok, text) = tool(
        "lintian",
        &["--fail-on", "error,warning", "--display-info", s(&deb)],
    );
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(ok && findings.is_empty(), "lintian:\n{text}");
    let rc = repo_root().join("trust/rpm/nimsforest-forest.rpmlintrc");
    let (_, text) = tool("rpmlint", &["-r", s(&rc), s(&rpm)]);
    assert!(text.contains(" 0 errors, 0 warnings"), "rpmlint:\n{text}");
}
