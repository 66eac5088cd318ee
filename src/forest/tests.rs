use std::os::unix::fs::PermissionsExt;

use super::*;

const T: u64 = 1_790_000_000;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn days(n: u32) -> Validity {
    Validity::days_from_now(n).unwrap()
}

/// A forest with nodes n1 and n2.
fn forest(dir: &Path) -> Forest {
    let mut forest = Forest::create(dir, "f", 3650, 365, T).unwrap();
    for (name, ip) in [("n1", "10.0.0.1"), ("n2", "10.0.0.2")] {
        forest
            .add_node(name, &[ip.parse().unwrap()], NodeRole::Core, days(365))
            .unwrap();
    }
    forest.commit(T, "two nodes").unwrap();
    forest
}

#[test]
fn a_new_forest_keeps_its_keys_private_and_its_trust_versioned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("forest-1");
    let forest = Forest::create(&dir, "forest-1", 3650, 30, T).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("users/app/user-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("users/app")), 0o700);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    assert_eq!(forest.version(), 1);
    assert_eq!(forest.package_name(), "nimsforest-forest-forest-1");
    let accounts = trust::accounts(&forest);
    assert!(
        accounts.contains("{ user: \"urn:nimsforest:forest-1:user:app\", allowed_connection_types"),
        "{accounts}"
    );
    let sys_account = accounts.split("SYS {").nth(1).unwrap();
    assert!(sys_account.contains("urn:nimsforest:forest-1:user:sys"));
    assert!(!sys_account.contains(":user:app"), "{accounts}");

    let again = Forest::create(&dir, "forest-1", 3650, 30, T).err().unwrap();
    assert!(matches!(again, Error::Exists { .. }), "{again}");
    let opened = Forest::open(&dir).unwrap();
    assert_eq!((opened.id(), opened.version()), ("forest-1", 1));
}

#[test]
fn renewal_keeps_each_key_and_so_its_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut forest = forest(tmp.path());
    let key = forest.node_key("n1").unwrap();
    let before = forest.certificate(Kind::Node, "n1").unwrap();
    let pins = forest.pins(Kind::Node).unwrap();
    let renewed = forest.renew(None, 30).unwrap();
    assert_eq!(renewed, ["n1", "n2", "app", "sys"]);
    let after = forest.certificate(Kind::Node, "n1").unwrap();
    assert!(after != before && after.not_after() < before.not_after());
    assert_eq!(forest.node_key("n1").unwrap(), key, "the node's key stays");
    assert_eq!(forest.pins(Kind::Node).unwrap(), pins);
    forest.renew(Some("app"), 10).unwrap();
    let e = forest.renew(Some("nobody"), 10).err().unwrap();
    assert!(e.to_string().contains("no node or user"), "{e}");
}

#[test]
fn revocation_takes_a_member_out_and_is_refused_where_it_would_break_the_forest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut forest = forest(tmp.path());
    assert_eq!(forest.revoke("n2").unwrap(), Kind::Node);
    assert_eq!(forest.pins(Kind::Node).unwrap().len(), 1);
    let e = forest.revoke("n1").err().unwrap();
    assert!(e.to_string().contains("last trusted node"), "{e}");
    let e = forest.revoke("n2").err().unwrap();
    assert!(e.to_string().contains("revoked already"), "{e}");
    let e = forest.revoke("sys").err().unwrap();
    assert!(e.to_string().contains("last system user"), "{e}");
    forest.revoke("app").unwrap();
    assert!(!trust::accounts(&forest).contains(":user:app"));
    let e = forest.node_key("n2").err().unwrap();
    assert!(e.to_string().contains("was revoked"), "{e}");
    let e = forest
        .add_node(
            "n2",
            &["10.0.0.9".parse().unwrap()],
            NodeRole::Core,
            days(1),
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("not given again"), "{e}");
    let e = forest.add_user("n1", Role::App, days(1)).err().unwrap();
    assert!(e.to_string().contains("node n1"), "{e}");
}

#[test]
fn a_new_ca_is_rolled_out_in_three_steps_never_dropping_one_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let mut forest = forest(tmp.path());
    let old = forest.trusted_cas().unwrap().certs()[0].clone();
    let pins = forest.pins(Kind::Node).unwrap();

    let step = forest.rotate_ca(3650, 365).unwrap();
    assert!(matches!(step, RotationStep::Trusted { .. }), "{step:?}");
    assert_eq!(forest.trusted_cas().unwrap().certs().len(), 2);
    assert_eq!(mode(&tmp.path().join("ca-next-key.pem")), 0o600);
    assert!(forest
        .certificate(Kind::Node, "n1")
        .unwrap()
        .issued_by(&old));

    assert_eq!(
        forest.rotate_ca(3650, 365).unwrap(),
        RotationStep::Reissued { count: 4 }
    );
    let new = forest.trusted_cas().unwrap().certs()[1].clone();
    for (kind, name) in [(Kind::Node, "n1"), (Kind::Node, "n2"), (Kind::User, "sys")] {
        assert!(
            forest.certificate(kind, name).unwrap().issued_by(&new),
            "{name}"
        );
    }
    assert_eq!(forest.pins(Kind::Node).unwrap(), pins, "the same keys");
    // A node added meanwhile gets the new CA's certificate.
    forest
        .add_node(
            "n3",
            &["10.0.0.3".parse().unwrap()],
            NodeRole::Core,
            days(30),
        )
        .unwrap();
    assert!(forest
        .certificate(Kind::Node, "n3")
        .unwrap()
        .issued_by(&new));

    assert_eq!(forest.rotate_ca(3650, 365).unwrap(), RotationStep::Finished);
    let cas = forest.trusted_cas().unwrap();
    assert!(cas.certs() == [new.clone()]);
    assert!(!tmp.path().join("ca-next-key.pem").exists());
    forest.renew(Some("n1"), 30).unwrap();
    assert!(forest
        .certificate(Kind::Node, "n1")
        .unwrap()
        .issued_by(&new));

    // Dropping a CA still in use is refused: a certificate put back from before.
    let mut again = self::forest(&tmp.path().join("again"));
    again.rotate_ca(3650, 365).unwrap();
    let before = std::fs::read(again.node_dir("n1").join("node.pem")).unwrap();
    again.rotate_ca(3650, 365).unwrap();
    std::fs::write(again.node_dir("n1").join("node.pem"), before).unwrap();
    let e = again.rotate_ca(3650, 365).err().unwrap();
    assert!(
        e.to_string().contains("old CA, which is still in use"),
        "{e}"
    );
    assert_eq!(again.trusted_cas().unwrap().certs().len(), 2);
}

#[test]
fn bad_names_and_unknown_nodes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    for id in ["a forest", "Forest", "f_1"] {
        let bad = Forest::create(&tmp.path().join("x"), id, 10, 10, T)
            .err()
            .unwrap();
        assert!(bad.to_string().contains(&format!("\"{id}\"")), "{bad}");
        assert_eq!(bad.exit_code(), 2);
    }
    let mut forest = Forest::create(tmp.path(), "f", 10, 10, T).unwrap();
    let bad = forest
        .add_node("node_1", &[], NodeRole::Core, days(1))
        .err()
        .unwrap();
    assert!(bad.to_string().contains("node_1"), "{bad}");
    let bad = forest.add_user("App", Role::App, days(1)).err().unwrap();
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
    let e = Forest::create(&busy, "f", 10, 10, T).err().unwrap();
    assert!(e.to_string().contains("exists and is not empty"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(mode(&busy), 0o755, "a refused directory keeps its mode");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o755)).unwrap();
    Forest::create(&empty, "f", 10, 10, T).unwrap();
    assert_eq!(mode(&empty), 0o700);

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = Forest::create(&file, "f", 10, 10, T).err().unwrap();
    assert!(e.to_string().contains("not a directory"), "{e}");
}

#[test]
fn validity_is_bounded_by_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f");
    let e = Forest::create(&dir, "f", 10, 11, T).err().unwrap();
    assert!(
        e.to_string().contains("must not outlive the forest CA"),
        "{e}"
    );
    assert!(!dir.exists(), "nothing made");
    let e = Forest::create(&dir, "f", 4_000_000_000, 1, T)
        .err()
        .unwrap();
    assert!(e.to_string().contains("must be 1 to 36500 days"), "{e}");
    let e = Forest::create(&dir, "f", 10, 0, T).err().unwrap();
    assert!(e.to_string().contains("must be 1 to 36500 days"), "{e}");
    assert!(!dir.exists(), "nothing made");

    let mut forest = Forest::create(&dir, "f", 10, 10, T).unwrap();
    let e = forest
        .add_node("n1", &[], NodeRole::Core, days(11))
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(
        text.contains("after the forest CA's notAfter 2") && text.contains("--days 9 or fewer"),
        "{text}"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(!forest.node_dir("n1").exists());
    let e = forest.renew(None, 30).err().unwrap();
    assert!(e.to_string().contains("forest CA's notAfter"), "{e}");
}

#[test]
fn what_is_read_back_is_checked_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f");
    forest(&dir);
    let manifest = std::fs::read_to_string(dir.join("forest.toml")).unwrap();

    // A hand-edited user name or forest id never reaches a generated file.
    for (edited, shown) in [
        (
            manifest.replace("[users.app]", "[users.\"../../evil\"]"),
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

    // A node's key is PEM as the tool writes it, and belongs to its certificate.
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
    std::fs::write(node.join("node-key.pem"), key.replace('\n', "\r\n")).unwrap();
    let secrets = forest.node_secrets("n1").unwrap();
    assert_eq!(secrets.key_pem.as_str(), key, "CRLF read, LF written");
    assert_eq!(secrets.trust_package, "nimsforest-forest-f");
    assert!(!format!("{secrets:?}").contains(&secret));
}

#[test]
fn directories_for_secrets_are_0700_whatever_their_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/f");
    let forest = Forest::create(&dir, "f", 10, 10, T).unwrap();
    for sub in ["", "users", "users/app", "users/sys"] {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(&tmp.path().join("a")), 0o700);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Forest::open(&dir).err().unwrap();
    assert!(e.to_string().contains("writable by anyone"), "{e}");
    drop(forest);
}

/// Whether a certificate's DER holds `identity` (its URI SANs are plain IA5 strings).
fn carries(cert: &Certificate, identity: &str) -> bool {
    cert.der()
        .windows(identity.len())
        .any(|w| w == identity.as_bytes())
}

#[test]
fn a_leaf_nodes_certificate_carries_the_leaf_identity_only_and_keeps_it_on_renewal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut forest = forest(tmp.path());
    forest
        .add_node(
            "edge1",
            &["10.0.9.1".parse().unwrap()],
            NodeRole::Leaf,
            days(30),
        )
        .unwrap();
    forest.commit(T, "a leaf").unwrap();
    let core = forest.certificate(Kind::Node, "n1").unwrap();
    assert!(carries(&core, &route_identity("f")) && carries(&core, &gateway_identity("f")));
    assert!(!carries(&core, "urn:nimsforest:f:leaf"));
    for _ in 0..2 {
        let leaf = forest.certificate(Kind::Node, "edge1").unwrap();
        assert!(carries(&leaf, &leaf_identity("f", "edge1")));
        assert!(!carries(&leaf, &route_identity("f")) && !carries(&leaf, &gateway_identity("f")));
        forest.renew(Some("edge1"), 30).unwrap();
    }
    let opened = Forest::open(tmp.path()).unwrap();
    assert_eq!(opened.node_role("edge1"), Some(NodeRole::Leaf));
    assert_eq!(opened.node_role("n1"), Some(NodeRole::Core));
    let user = forest.certificate(Kind::User, "app").unwrap();
    for identity in [
        route_identity("f"),
        gateway_identity("f"),
        leaf_identity("f", "app"),
    ] {
        assert!(!carries(&user, &identity), "{identity}");
    }
    let accounts = trust::accounts(&forest);
    for user in [
        "{ user: \"urn:nimsforest:f:leaf:edge1\", allowed_connection_types: [\"LEAFNODE\"] }",
        "{ user: \"urn:nimsforest:f:user:app\", allowed_connection_types: [\"STANDARD\"] }",
    ] {
        assert!(accounts.contains(user), "{user} not in {accounts}");
    }
}
