//! The user-data, line by line, and the settings it refuses.

use super::*;

const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0abc\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";

fn cfg() -> CloudInit {
    CloudInit {
        package: "nimsforest-nats".into(),
        repository: Repository {
            id: "nimsforest".into(),
            name: "NimsForest".into(),
            key_user_id: "K <k@example.org>".into(),
        },
        repo_url: "https://packages.example.com/apt/".into(),
        public_key_armored: KEY.into(),
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
    }
}

#[test]
fn apt_variant() {
    let out = user_data(&cfg()).unwrap();
    assert_eq!(
        out,
        "#cloud-config\n\
         # nimsforest-nats from the signed apt repository at https://packages.example.com/apt.\n\
         write_files:\n\
         \x20 - path: /etc/apt/keyrings/nimsforest.asc\n\
         \x20   owner: \"root:root\"\n\
         \x20   permissions: \"0644\"\n\
         \x20   content: |\n\
         \x20     -----BEGIN PGP PUBLIC KEY BLOCK-----\n\
         \n\
         \x20     mDMEZ0abc\n\
         \x20     =abcd\n\
         \x20     -----END PGP PUBLIC KEY BLOCK-----\n\
         apt:\n\
         \x20 preserve_sources_list: true\n\
         \x20 sources:\n\
         \x20   nimsforest:\n\
         \x20     source: \"deb [signed-by=/etc/apt/keyrings/nimsforest.asc] https://packages.example.com/apt stable main\"\n\
         package_update: true\n\
         packages:\n\
         \x20 - \"nimsforest-nats\"\n"
    );
}

fn secrets() -> NodeSecrets {
    NodeSecrets {
        ca_pem: PEM_CERT.into(),
        cert_pem: PEM_CERT.into(),
        key_pem: PEM_KEY.into(),
        auth_conf: "accounts {}\n".into(),
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
    assert!(out.ends_with("packages:\n  - \"nimsforest-nats-2.14.6\"\n"));
    assert!(!out.contains("apt:"));
    // The node's share of the forest, root-only, before the package is installed.
    let forest: Vec<(String, String)> = files(&out)
        .into_iter()
        .filter(|(p, _, _)| p.starts_with("/etc/nimsforest/"))
        .map(|(p, mode, _)| (p, mode))
        .collect();
    let want: Vec<(String, String)> = ["ca.pem", "node.pem", "node-key.pem", "auth.conf"]
        .iter()
        .map(|f| (format!("/etc/nimsforest/forest/{f}"), "0600".to_string()))
        .collect();
    assert_eq!(forest, want);
    assert!(out.contains("# It also carries this node's key"), "{out}");
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
fn the_node_key_never_shows_in_debug_output() {
    let shown = format!("{:?}", secrets());
    assert!(!shown.contains("MIIE"), "{shown}");
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
}

const PEM_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

fn private(rpm: bool) -> CloudInit {
    CloudInit {
        rpm,
        repo_url: "https://packages.example.com:8443/nf/apt".into(),
        access: Access {
            basic: Some(BasicAuth {
                username: "node-7".into(),
                password: "s3cr3t-pa55".into(),
            }),
            client: Some(ClientCertificate {
                cert_pem: PEM_CERT.into(),
                key_pem: PEM_KEY.into(),
            }),
            ca_pem: Some(PEM_CERT.into()),
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
    let out = user_data(&private(false)).unwrap();
    assert!(out.contains("# This user-data carries the repository's credentials"));
    let files = files(&out);
    let secret: Vec<&str> = files
        .iter()
        .filter(|(_, _, c)| c.contains("s3cr3t-pa55") || c.contains("MIIE"))
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
    assert!(!rest.contains("s3cr3t") && !rest.contains("MIIE"), "{rest}");
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
