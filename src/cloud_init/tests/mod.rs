//! The user-data, line by line, and the settings it refuses.

use std::path::Path;
use std::sync::OnceLock;

use super::*;
use crate::pem::{Certificates, PrivateKey};

/// A repository public key, made once.
fn key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        crate::sign::keygen(
            "K <k@example.org>",
            crate::sign::KeyAlgorithm::Ed25519,
            None,
        )
        .unwrap()
        .public_armored
    })
}

/// A certificate and its key, as the tool reads them from files.
fn certified() -> (Certificates, PrivateKey) {
    let made = rcgen::generate_simple_self_signed(vec!["node-1".to_string()]).unwrap();
    let path = Path::new("test.pem");
    (
        Certificates::one("certificate", path, made.cert.pem().as_bytes()).unwrap(),
        PrivateKey::parse("key", path, made.signing_key.serialize_pem().as_bytes()).unwrap(),
    )
}

/// A line of the key's base64 that no public text holds.
fn key_line(key: &PrivateKey) -> String {
    key.as_str().lines().nth(1).unwrap().to_string()
}

fn cfg() -> CloudInit {
    CloudInit {
        package: "nimsforest-nats".into(),
        repository: Repository {
            id: "nimsforest".into(),
            name: "NimsForest".into(),
            key_user_id: "K <k@example.org>".into(),
        },
        repo_url: "https://packages.example.com/apt/".into(),
        public_key_armored: key().into(),
        suite: "stable".into(),
        component: "main".into(),
        forest_id: None,
        routes: vec![],
        server_name: None,
        rpm: false,
        version: None,
        access: Access::default(),
        forest_secrets: None,
        insecure_open_forest: false,
        topology: Default::default(),
    }
}

#[test]
fn apt_variant() {
    let out = user_data(&cfg()).unwrap();
    let key_lines: String = key()
        .lines()
        .map(|l| match l {
            "" => "\n".to_string(),
            l => format!("      {l}\n"),
        })
        .collect();
    let (config, install) = out.split_once("runcmd:\n").expect("runcmd");
    assert_eq!(
        config,
        "#cloud-config\n\
         # nimsforest-nats from the signed apt repository at https://packages.example.com/apt.\n\
         write_files:\n\
         \x20 - path: /etc/apt/keyrings/nimsforest.asc\n\
         \x20   owner: \"root:root\"\n\
         \x20   permissions: \"0644\"\n\
         \x20   content: |\n"
            .to_string()
            + &key_lines
            + "apt:\n\
         \x20 preserve_sources_list: true\n\
         \x20 sources:\n\
         \x20   nimsforest:\n\
         \x20     source: \"deb [signed-by=/etc/apt/keyrings/nimsforest.asc] https://packages.example.com/apt stable main\"\n"
    );
    // One command: the script, then its arguments (never part of its text).
    assert!(
        install.starts_with("  - [\"sh\", \"-c\", \"manager=$1; shift\\n"),
        "{install}"
    );
    assert!(
        install.ends_with("done\", \"nimsforest-install\", \"apt\", \"nimsforest-nats\"]\n"),
        "{install}"
    );
    assert_eq!(install.lines().count(), 1, "{install}");
}

fn secrets() -> NodeSecrets {
    NodeSecrets {
        key_pem: certified().1,
        trust_package: "nimsforest-forest-forest-1".into(),
    }
}

#[test]
fn rpm_variant_with_a_closed_cluster_and_pinned_version() {
    let mut c = cfg();
    c.rpm = true;
    c.forest_id = Some("forest-1".into());
    c.forest_secrets = Some(secrets());
    c.routes = vec![
        "nats-route://10.0.0.1:6222".into(),
        "nats://[fd00::2]:6222".into(),
    ];
    c.server_name = Some("node-1".into());
    c.version = Some("2.14.6".into());
    let out = user_data(&c).unwrap();
    assert!(out.starts_with("#cloud-config\n"));
    assert!(out.contains("hostname: \"node-1\"\n"));
    assert!(out.contains("  - path: /etc/pki/rpm-gpg/RPM-GPG-KEY-nimsforest\n"));
    assert!(out.contains(
        "  - path: /etc/morpheus/node-info.json\n    owner: \"root:root\"\n    permissions: \"0644\"\n    content: |\n      {\"forest_id\": \"forest-1\", \"routes\": [\"nats-route://10.0.0.1:6222\", \"nats://[fd00::2]:6222\"]}\n"
    ));
    assert!(out.contains("yum_repos:\n  nimsforest:\n"));
    assert!(out.contains("    repo_gpgcheck: true\n"));
    assert!(out.contains("    gpgkey: \"file:///etc/pki/rpm-gpg/RPM-GPG-KEY-nimsforest\"\n"));
    // The server, then the forest's trust package, which brings all but the node's key.
    assert!(out.ends_with(
        "\"nimsforest-install\", \"dnf\", \"nimsforest-nats-2.14.6\", \"nimsforest-forest-forest-1\"]\n"
    ));
    assert!(!out.contains("apt:"));
    // The node's one secret, root-only, before the package is installed.
    let forest: Vec<(String, String)> = files(&out)
        .into_iter()
        .filter(|(p, _, _)| p.starts_with("/etc/nimsforest/"))
        .map(|(p, mode, _)| (p, mode))
        .collect();
    assert_eq!(
        forest,
        [(
            "/etc/nimsforest/forest/node-key.pem".to_string(),
            "0600".to_string()
        )]
    );
    assert!(
        out.contains("# It also carries this node's private key"),
        "{out}"
    );
    assert!(!out.contains("INSECURE"), "{out}");
}

#[test]
fn a_forest_is_closed_unless_declared_insecurely_open() {
    let mut c = cfg();
    c.forest_id = Some("forest-1".into());
    c.routes = vec!["nats-route://10.0.0.1:6222".into()];
    let e = user_data(&c).unwrap_err();
    assert!(e.to_string().contains("a forest is closed"), "{e}");
    assert_eq!(e.exit_code(), 2);

    c.insecure_open_forest = true;
    let out = user_data(&c).unwrap();
    assert!(out.contains("# INSECURE OPEN FOREST"), "{out}");
    assert!(
        out.contains(
            "\"routes\": [\"nats-route://10.0.0.1:6222\"], \"insecure_open_cluster\": true}"
        ),
        "{out}"
    );

    c.forest_secrets = Some(secrets());
    let e = user_data(&c).unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");

    c.forest_id = None;
    c.routes.clear();
    let e = user_data(&c).unwrap_err();
    assert!(e.to_string().contains("need the forest id"), "{e}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let secrets = secrets();
    let mut cfg = private(false);
    cfg.forest_secrets = Some(secrets.clone());
    let line = key_line(&secrets.key_pem);
    for shown in [format!("{secrets:?}"), format!("{cfg:?}")] {
        assert!(!shown.contains(&line), "{shown}");
        assert!(!shown.contains("s3cr3t-pa55"), "{shown}");
        assert!(!shown.contains(&key_line(&cfg.access.client.as_ref().unwrap().key_pem)));
    }
}

#[test]
fn versions() {
    let mut c = cfg();
    c.version = Some("2.14.6".into());
    assert_eq!(package_spec(&c).unwrap(), "nimsforest-nats=2.14.6-*");
    c.version = Some("2.14.6-2".into());
    assert_eq!(package_spec(&c).unwrap(), "nimsforest-nats=2.14.6-2");
    c.version = Some("2.14.6; rm -rf /".into());
    assert!(package_spec(&c).is_err());
}

#[test]
fn forest_without_routes_is_a_single_node_that_names_its_forest() {
    let mut c = cfg();
    c.forest_id = Some("f.1_a".into());
    c.forest_secrets = Some(secrets());
    assert_eq!(
        node_info_json(&c).unwrap().unwrap(),
        "{\"forest_id\": \"f.1_a\", \"routes\": []}\n"
    );
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let err = |f: &dyn Fn(&mut CloudInit)| {
        let mut c = cfg();
        f(&mut c);
        user_data(&c).unwrap_err().to_string()
    };
    let e = err(&|c| c.forest_id = Some("my forest".into()));
    assert!(
        e.starts_with("forest id \"my forest\": must be letters"),
        "{e}"
    );
    let e = err(&|c| c.routes = vec!["nats-route://10.0.0.1:6222".into()]);
    assert!(e.contains("routes need a forest id"), "{e}");
    for route in [
        "10.0.0.1:6222",
        "nats-route://10.0.0.1",
        "nats-route://10.0.0.1:0",
        "nats-route://10.0.0.1:70000",
        "nats-route://bad host:6222",
        "nats-route://h\"x:6222",
        "nats-route://[fd00::1:6222",
        "nats-route://:6222",
    ] {
        let e = err(&|c| {
            c.forest_id = Some("f".into());
            c.routes = vec![route.into()];
        });
        assert!(e.starts_with("route "), "{route}: {e}");
    }
    let e = err(&|c| c.repo_url = "ftp://x".into());
    assert!(e.contains("must start with https:// or http://"), "{e}");
    let e = err(&|c| c.repo_url = "https://x/$RELEASE".into());
    assert!(e.contains("'$'"), "{e}");
    let e = err(&|c| c.repo_url = "https://x/a b".into());
    assert!(e.contains("' '"), "{e}");
    let e = err(&|c| c.public_key_armored = "-----BEGIN PGP PRIVATE KEY BLOCK-----".into());
    assert!(e.contains("public key"), "{e}");
    let e = err(&|c| c.server_name = Some("node.example.com".into()));
    assert!(e.starts_with("server name"), "{e}");
    let e = err(&|c| c.suite = "stable main".into());
    assert!(e.starts_with("suite"), "{e}");
}

#[test]
fn quoting() {
    assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    // What YAML takes for line breaks, or refuses, is escaped too.
    assert_eq!(
        quote("a\rb\u{85}c\u{2028}d\u{7f}"),
        "\"a\\u000db\\u0085c\\u2028d\\u007f\""
    );
}

#[test]
fn content_a_block_scalar_cannot_carry_is_quoted() {
    for (content, block) in [
        ("-----BEGIN X-----\nAAAA\n", true),
        ("accounts {\n    A {\n    }\n}\n", true),
        ("\n\nfirst\n", true),
        ("a\rruncmd: [x]\n", false),
        ("a\u{2028}runcmd: [x]\n", false),
        ("  indented first line\nb\n", false),
        ("   \nb\n", false),
        ("tab\there\n", false),
    ] {
        let mut out = String::new();
        write_file(&mut out, "/f", content, Mode::Public);
        assert_eq!(out.contains("content: |\n"), block, "{content:?}: {out}");
        if !block {
            assert!(
                out.ends_with(&format!("    content: {}\n", quote(content))),
                "{out}"
            );
            assert!(!out.contains('\r') && !out.contains('\u{2028}'), "{out}");
        }
    }
}

#[test]
fn a_hostile_repository_key_is_refused() {
    let body: Vec<&str> = key().lines().collect();
    let (first, rest) = body.split_at(2);
    let with = |inserted: &str| format!("{}\n{inserted}\n{}\n", first.join("\n"), rest.join("\n"));
    for (text, reason) in [
        (with("\rruncmd: [[touch, /pwned]]"), "carriage return"),
        (with("x\u{2028}runcmd: [x]"), "printable ASCII"),
        (with("\tx"), "printable ASCII"),
        (with(" runcmd: [x]"), "starts with a blank"),
        (with("runcmd: [x]"), "does not parse"),
        (format!("{}{}", key(), key()), "exactly one"),
        ("not a key".to_string(), "exactly one"),
    ] {
        let e = check_key(&text).unwrap_err();
        assert!(e.contains(reason), "{text:?}: {e}");
        assert!(!e.contains("runcmd"), "{e}");
    }
    // CRLF line endings are fine, and written as LF.
    assert_eq!(check_key(&key().replace('\n', "\r\n")).unwrap(), key());
}

fn private(rpm: bool) -> CloudInit {
    let (cert_pem, key_pem) = certified();
    CloudInit {
        rpm,
        repo_url: "https://packages.example.com:8443/nf/apt".into(),
        access: Access {
            basic: Some(BasicAuth {
                username: "node-7".into(),
                password: "s3cr3t-pa55".into(),
            }),
            client: Some(ClientCertificate { cert_pem, key_pem }),
            ca_pem: Some(certified().0),
        },
        ..cfg()
    }
}

/// (path, permissions, content) of every write_files entry.
fn files(user_data: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for entry in user_data.split("  - path: ").skip(1) {
        let path = entry.lines().next().unwrap().to_string();
        let permissions = entry
            .split("permissions: \"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let content: String = entry
            .split("content: |\n")
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| l.starts_with("      ") || l.is_empty())
            .map(|l| format!("{}\n", l.trim_start()))
            .collect();
        out.push((path, permissions, content));
    }
    out
}

#[test]
fn apt_credentials_go_only_into_root_only_files() {
    let cfg = private(false);
    let line = key_line(&cfg.access.client.as_ref().unwrap().key_pem);
    let out = user_data(&cfg).unwrap();
    assert!(out.contains("# This user-data carries the repository's credentials"));
    let files = files(&out);
    let secret: Vec<&str> = files
        .iter()
        .filter(|(_, _, c)| c.contains("s3cr3t-pa55") || c.contains(&line))
        .map(|(p, mode, _)| {
            assert_eq!(mode, "0600", "{p}");
            p.as_str()
        })
        .collect();
    assert_eq!(
        secret,
        [
            "/etc/apt/auth.conf.d/nimsforest.conf",
            "/etc/apt/nimsforest/client.key"
        ]
    );
    let auth = &files
        .iter()
        .find(|f| f.0.ends_with("nimsforest.conf"))
        .unwrap()
        .2;
    assert_eq!(
        auth,
        "machine packages.example.com:8443/nf/apt login node-7 password s3cr3t-pa55\n"
    );
    let conf = &files
        .iter()
        .find(|f| f.0.ends_with("60nimsforest-https"))
        .unwrap()
        .2;
    assert_eq!(
        conf,
        "Acquire::https::packages.example.com::CaInfo \"/etc/apt/nimsforest/ca.crt\";\n\
         Acquire::https::packages.example.com::SslCert \"/etc/apt/nimsforest/client.crt\";\n\
         Acquire::https::packages.example.com::SslKey \"/etc/apt/nimsforest/client.key\";\n"
    );
    // Outside write_files (the source line), no secret.
    let rest = out.split("apt:\n").nth(1).unwrap();
    assert!(!rest.contains("s3cr3t") && !rest.contains(&line), "{rest}");
}

#[test]
fn dnf_credentials_go_only_into_root_only_files() {
    let out = user_data(&private(true)).unwrap();
    let files = files(&out);
    let password = files
        .iter()
        .find(|f| f.0 == "/etc/dnf/vars/nimsforest_password")
        .unwrap();
    assert_eq!(
        (password.1.as_str(), password.2.as_str()),
        ("0600", "s3cr3t-pa55\n")
    );
    let repo = out.split("yum_repos:\n").nth(1).unwrap();
    assert!(!repo.contains("s3cr3t"), "{repo}");
    for line in [
        "    username: \"node-7\"",
        "    password: \"$nimsforest_password\"",
        "    sslcacert: \"/etc/pki/nimsforest/ca.crt\"",
        "    sslclientcert: \"/etc/pki/nimsforest/client.crt\"",
        "    sslclientkey: \"/etc/pki/nimsforest/client.key\"",
        "    sslverify: \"true\"",
    ] {
        assert!(repo.contains(line), "{line}:\n{repo}");
    }
}

mod topology;
