use std::os::unix::fs::PermissionsExt;

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_forest_keeps_its_keys_private_and_lists_its_users() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("forest-1");
    let forest = Forest::create(&dir, "forest-1", 3650, 30).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("users/app/user-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("users/app")), 0o700);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    let auth = std::fs::read_to_string(dir.join("auth.conf")).unwrap();
    assert_eq!(auth, forest.auth_conf());
    assert!(
        auth.contains("{ user: \"urn:nimsforest:forest-1:user:app\" }"),
        "{auth}"
    );
    assert!(auth.contains("system_account: SYS"), "{auth}");
    let sys_account = auth.split("SYS {").nth(1).unwrap();
    assert!(
        sys_account.contains("urn:nimsforest:forest-1:user:sys"),
        "{auth}"
    );
    assert!(!sys_account.contains(":user:app"), "{auth}");

    let again = Forest::create(&dir, "forest-1", 3650, 30).err().unwrap();
    assert!(matches!(again, Error::Exists { .. }), "{again}");
    assert_eq!(Forest::open(&dir).unwrap().id(), "forest-1");
}

#[test]
fn a_node_certificate_is_issued_once_unless_renewed() {
    let tmp = tempfile::tempdir().unwrap();
    let forest = Forest::create(tmp.path(), "f", 10, 10).unwrap();
    let addresses = ["10.0.0.2".parse().unwrap()];
    let validity = Validity::days_from_now(10).unwrap();
    forest
        .issue_node("node1", &addresses, validity, false)
        .unwrap();
    let first = forest.node_secrets("node1").unwrap();
    assert!(first
        .cert_pem
        .as_str()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(first
        .key_pem
        .as_str()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(mode(&forest.node_dir("node1").join("node-key.pem")), 0o600);

    let refused = forest
        .issue_node("node1", &addresses, validity, false)
        .err()
        .unwrap();
    assert!(refused.to_string().contains("--renew"), "{refused}");
    assert_eq!(refused.exit_code(), 2);
    forest
        .issue_node("node1", &addresses, validity, true)
        .unwrap();
    let renewed = forest.node_secrets("node1").unwrap();
    assert_ne!(renewed.key_pem, first.key_pem);
    assert_ne!(renewed.cert_pem, first.cert_pem);
    assert_eq!(mode(&forest.node_dir("node1").join("node-key.pem")), 0o600);
}

#[test]
fn bad_names_and_missing_nodes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = Forest::create(tmp.path(), "a forest", 10, 10)
        .err()
        .unwrap();
    assert!(bad.to_string().contains("\"a forest\""), "{bad}");
    assert_eq!(bad.exit_code(), 2);

    let mut forest = Forest::create(tmp.path(), "f", 10, 10).unwrap();
    let bad = forest
        .issue_node("node_1", &[], Validity::days_from_now(1).unwrap(), false)
        .err()
        .unwrap();
    assert!(bad.to_string().contains("node_1"), "{bad}");
    let bad = forest
        .add_user("App", Role::App, Validity::days_from_now(1).unwrap(), false)
        .err()
        .unwrap();
    assert!(bad.to_string().contains("\"App\""), "{bad}");
    let missing = forest.node_secrets("node9").err().unwrap().to_string();
    assert!(
        missing.contains("node9") && missing.contains("forest node --name node9"),
        "{missing}"
    );
    let none = Forest::open(&tmp.path().join("nothing")).err().unwrap();
    assert!(none.to_string().contains("forest init"), "{none}");
}

#[test]
fn init_takes_a_new_or_empty_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::set_permissions(&busy, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let e = Forest::create(&busy, "f", 10, 10).err().unwrap();
    assert!(e.to_string().contains("exists and is not empty"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(mode(&busy), 0o755, "a refused directory keeps its mode");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o755)).unwrap();
    Forest::create(&empty, "f", 10, 10).unwrap();
    assert_eq!(mode(&empty), 0o700);

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = Forest::create(&file, "f", 10, 10).err().unwrap();
    assert!(e.to_string().contains("not a directory"), "{e}");
}

#[test]
fn validity_is_bounded_by_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f");
    let e = Forest::create(&dir, "f", 10, 11).err().unwrap();
    assert!(
        e.to_string().contains("must not outlive the forest CA"),
        "{e}"
    );
    assert!(!dir.exists(), "nothing made");
    let e = Forest::create(&dir, "f", 4_000_000_000, 1).err().unwrap();
    assert!(e.to_string().contains("must be 1 to 36500 days"), "{e}");
    let e = Forest::create(&dir, "f", 10, 0).err().unwrap();
    assert!(e.to_string().contains("must be 1 to 36500 days"), "{e}");
    assert!(!dir.exists(), "nothing made");

    let mut forest = Forest::create(&dir, "f", 10, 10).unwrap();
    let e = forest
        .issue_node("n1", &[], Validity::days_from_now(11).unwrap(), false)
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(
        text.contains("after the forest CA's notAfter 2") && text.contains("--days 9 or fewer"),
        "{text}"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(!forest.node_dir("n1").exists());
    let e = forest
        .add_user(
            "late",
            Role::App,
            Validity::days_from_now(30).unwrap(),
            false,
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("forest CA's notAfter"), "{e}");
}

#[test]
fn what_is_read_back_is_checked_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f");
    let forest = Forest::create(&dir, "f", 10, 10).unwrap();
    forest
        .issue_node("n1", &[], Validity::days_from_now(5).unwrap(), false)
        .unwrap();
    let manifest = std::fs::read_to_string(dir.join("forest.toml")).unwrap();

    // A hand-edited user name or forest id never reaches auth.conf.
    for (edited, shown) in [
        (
            manifest.replace("[users]\n", "[users]\n\"../../evil\" = \"app\"\n"),
            "user name \"../../evil\"",
        ),
        (
            manifest.replace("forest-id = \"f\"", "forest-id = \"f\\\"\\ninclude x\""),
            "forest id",
        ),
        (
            manifest.replace("forest-id", "extra = 1\nforest-id"),
            "unknown field",
        ),
    ] {
        std::fs::write(dir.join("forest.toml"), &edited).unwrap();
        let e = Forest::open(&dir).err().unwrap();
        assert!(e.to_string().contains(shown), "{e}");
        assert!(e.to_string().contains("forest.toml"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
    std::fs::write(dir.join("forest.toml"), &manifest).unwrap();
    let forest = Forest::open(&dir).unwrap();

    // A server name is a host name before it becomes a path.
    let e = forest.node_secrets("../../etc").err().unwrap();
    assert!(e.to_string().starts_with("server name"), "{e}");

    // A node's files are PEM as the tool writes them, and belong together.
    let node = forest.node_dir("n1");
    let key = std::fs::read_to_string(node.join("node-key.pem")).unwrap();
    let secret = key.lines().nth(1).unwrap().to_string();
    std::fs::write(node.join("node-key.pem"), format!("{secret}\n")).unwrap();
    let e = forest.node_secrets("n1").err().unwrap().to_string();
    assert!(
        e.starts_with("node key ") && e.contains("node-key.pem"),
        "{e}"
    );
    assert!(!e.contains(&secret), "{e}");
    let other = std::fs::read_to_string(dir.join("users/app/user-key.pem")).unwrap();
    std::fs::write(node.join("node-key.pem"), other).unwrap();
    let e = forest.node_secrets("n1").err().unwrap().to_string();
    assert!(e.contains("does not belong to the certificate"), "{e}");
    std::fs::write(node.join("node-key.pem"), &key).unwrap();
    let cert = std::fs::read_to_string(node.join("node.pem")).unwrap();
    std::fs::write(
        node.join("node.pem"),
        cert.replacen('\n', "\rruncmd: [x]\n", 2),
    )
    .unwrap();
    let e = forest.node_secrets("n1").err().unwrap().to_string();
    assert!(e.contains("carriage return"), "{e}");
    std::fs::write(node.join("node.pem"), cert.replace('\n', "\r\n")).unwrap();
    let secrets = forest.node_secrets("n1").unwrap();
    assert_eq!(secrets.cert_pem.as_str(), cert, "CRLF read, LF written");
}

#[test]
fn directories_for_secrets_are_0700_whatever_their_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/f");
    let forest = Forest::create(&dir, "f", 10, 10).unwrap();
    for sub in ["", "users", "users/app", "users/sys"] {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(&tmp.path().join("a")), 0o700);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Forest::open(&dir).err().unwrap();
    assert!(e.to_string().contains("writable by anyone"), "{e}");
    drop(forest);
}
