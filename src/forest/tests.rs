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
    let validity = Validity::days_from_now(10);
    forest
        .issue_node("node1", &addresses, validity, false)
        .unwrap();
    let first = forest.node_secrets("node1").unwrap();
    assert!(first.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(first.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
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
        .issue_node("node_1", &[], Validity::days_from_now(1), false)
        .err()
        .unwrap();
    assert!(bad.to_string().contains("node_1"), "{bad}");
    let bad = forest
        .add_user("App", Role::App, Validity::days_from_now(1), false)
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
