//! cloud-init user-data checked by cloud-init itself (`cloud-init schema`), and the
//! node-info.json it carries run through the package's `nimsforest-cluster-conf`.

use std::path::Path;
use std::process::Command;

use nimsforest_pkg::cloud_init::{
    node_info_json, user_data, Access, CloudInit, Topology, NODE_INFO,
};
use nimsforest_pkg::forest::{Forest, NodeRole, NodeSecrets, Validity};
use nimsforest_pkg::sign::{keygen, KeyAlgorithm};

use crate::harness::*;

const ROUTES: [&str; 3] = [
    "nats-route://10.0.0.1:6222",
    "nats-route://node-2.forest.internal:6222",
    "nats://[fd00::3]:6222",
];

fn public_key() -> String {
    keygen(
        "NimsForest test repository <test@nimsforest.invalid>",
        KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap()
    .public_armored
}

fn config(key: &str, rpm: bool, cluster: bool) -> CloudInit {
    CloudInit {
        package: definition().name.clone(),
        repository: definition().repository.clone(),
        repo_url: if rpm {
            "https://packages.nimsforest.invalid/rpm".into()
        } else {
            "https://packages.nimsforest.invalid/apt".into()
        },
        public_key_armored: key.into(),
        suite: "stable".into(),
        component: "main".into(),
        forest_id: cluster.then(|| "forest-1".into()),
        routes: if cluster {
            ROUTES.iter().map(|r| r.to_string()).collect()
        } else {
            vec![]
        },
        server_name: cluster.then(|| "node-1".into()),
        rpm,
        version: (!cluster).then(|| "2.14.6".into()),
        access: Access::default(),
        forest_secrets: cluster.then(node_secrets),
        insecure_open_forest: false,
        topology: Default::default(),
    }
}

/// Node node-1's share of a forest made by the library.
fn node_secrets() -> NodeSecrets {
    let dir = tempfile::tempdir().unwrap();
    let mut forest = Forest::create(dir.path(), "forest-1", 30, 30, 1_790_000_000).unwrap();
    let address = ["10.0.0.1".parse().unwrap()];
    forest
        .add_node(
            "node-1",
            &address,
            NodeRole::Core,
            // A day less than the CA: made a moment later, it must not outlive it.
            Validity::days_from_now(29).unwrap(),
        )
        .unwrap();
    forest.node_secrets("node-1").unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A value from the YAML document, read by PyYAML (which cloud-init itself uses).
fn yaml_query(file: &Path, expression: &str) -> String {
    let script = format!(
        "import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\nsys.stdout.write(str({expression}))"
    );
    tool_ok("python3", &["-c", &script, s(file)])
}

#[test]
fn private_repository_variants_pass_the_schema_and_keep_secrets_root_only() {
    // Through the command line, as an operator gives them: the password in a file.
    let project = Project::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let key = write("nimsforest.asc", &public_key());
    let password = write("password", "correct-horse-battery\n");
    let client = rcgen::generate_simple_self_signed(vec!["node-1".to_string()]).unwrap();
    let cert = write("client.crt", &client.cert.pem());
    let client_key = write("client.key", &client.signing_key.serialize_pem());
    let ca = write(
        "ca.crt",
        &rcgen::generate_simple_self_signed(vec!["repo-ca".to_string()])
            .unwrap()
            .cert
            .pem(),
    );
    for rpm in [false, true] {
        let mut args = vec![
            "cloud-init",
            "--url",
            "https://packages.nimsforest.invalid:8443/nf",
            "--key",
            s(&key),
            "--username",
            "node-1",
            "--password-file",
            s(&password),
            "--client-cert",
            s(&cert),
            "--client-key",
            s(&client_key),
            "--ca-cert",
            s(&ca),
        ];
        if rpm {
            args.push("--rpm");
        }
        let text = project.ok(&args);
        let file = dir.path().join(format!("private-{rpm}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let out = tool_ok("cloud-init", &["schema", "--config-file", s(&file)]);
        assert!(out.contains("Valid cloud-config"), "{out}\n{text}");
        // Every file holding the password or the client key is root's alone.
        let modes = yaml_query(
            &file,
            "sorted((f['path'], f['permissions']) for f in d['write_files'] \
             if 'correct-horse' in f['content'] or 'PRIVATE KEY' in f['content'])",
        );
        let want = match rpm {
            false => "[('/etc/apt/auth.conf.d/nimsforest.conf', '0600'), ('/etc/apt/nimsforest/client.key', '0600')]",
            true => "[('/etc/dnf/vars/nimsforest_password', '0600'), ('/etc/pki/nimsforest/client.key', '0600')]",
        };
        assert_eq!(modes, want);
        let elsewhere = yaml_query(
            &file,
            "'correct-horse' in str({k: v for k, v in d.items() if k != 'write_files'})",
        );
        assert_eq!(elsewhere, "False", "the password outside write_files");
    }
    // A password over plain http is refused, naming the setting, without showing it.
    let (stderr, code) = project.fails(&[
        "cloud-init",
        "--url",
        "http://packages.nimsforest.invalid/nf",
        "--key",
        s(&key),
        "--username",
        "node-1",
        "--password-file",
        s(&password),
    ]);
    assert!(
        stderr.contains("must be https:// to carry a password"),
        "{stderr}"
    );
    assert!(!stderr.contains("correct-horse"), "{stderr}");
    assert_eq!(code, 2);
}

#[test]
fn every_variant_passes_cloud_init_schema() {
    let key = public_key();
    let dir = tempfile::tempdir().unwrap();
    for rpm in [false, true] {
        for cluster in [false, true] {
            let cfg = config(&key, rpm, cluster);
            let text = user_data(&cfg).unwrap();
            assert!(text.starts_with("#cloud-config\n"));
            let file = dir.path().join(format!("user-data-{rpm}-{cluster}.yaml"));
            std::fs::write(&file, &text).unwrap();
            let out = tool_ok("cloud-init", &["schema", "--config-file", s(&file)]);
            assert!(out.contains("Valid cloud-config"), "{out}\n{text}");

            // The key arrives byte for byte, in its own file, and the repository trusts
            // only that file.
            let key_file = if rpm {
                "/etc/pki/rpm-gpg/RPM-GPG-KEY-nimsforest"
            } else {
                "/etc/apt/keyrings/nimsforest.asc"
            };
            let content = yaml_query(
                &file,
                &format!(
                    "[f['content'] for f in d['write_files'] if f['path'] == '{key_file}'][0]"
                ),
            );
            assert_eq!(content.trim(), key.trim());
            if rpm {
                assert_eq!(
                    yaml_query(&file, "d['yum_repos']['nimsforest']['gpgkey']"),
                    format!("file://{key_file}")
                );
                assert_eq!(
                    yaml_query(&file, "d['yum_repos']['nimsforest']['repo_gpgcheck']"),
                    "True"
                );
            } else {
                assert_eq!(
                    yaml_query(&file, "d['apt']['sources']['nimsforest']['source']"),
                    format!(
                        "deb [signed-by={key_file}] https://packages.nimsforest.invalid/apt stable main"
                    )
                );
                assert!(
                    !text.contains("key:"),
                    "never cloud-init's own key handling"
                );
            }
            // One command installs them: the script, its name, the manager, the packages.
            let install = yaml_query(&file, "d['runcmd'][0][3:]");
            let want = match (rpm, cluster) {
                // The forest's trust package, after the server it depends on.
                (false, true) => {
                    "['nimsforest-install', 'apt', 'nimsforest-nats', 'nimsforest-forest-forest-1']"
                }
                (true, true) => {
                    "['nimsforest-install', 'dnf', 'nimsforest-nats', 'nimsforest-forest-forest-1']"
                }
                (false, false) => "['nimsforest-install', 'apt', 'nimsforest-nats=2.14.6-*']",
                (true, false) => "['nimsforest-install', 'dnf', 'nimsforest-nats-2.14.6']",
            };
            assert_eq!(install, want);
            assert_eq!(yaml_query(&file, "d['runcmd'][0][:2]"), "['sh', '-c']");
            assert_eq!(yaml_query(&file, "len(d['runcmd'])"), "1");
            let node_info = yaml_query(
                &file,
                &format!("[f['content'] for f in d['write_files'] if f['path'] == '{NODE_INFO}']"),
            );
            if cluster {
                assert_eq!(yaml_query(&file, "d['hostname']"), "node-1");
                let written = yaml_query(
                    &file,
                    &format!(
                        "[f['content'] for f in d['write_files'] if f['path'] == '{NODE_INFO}'][0]"
                    ),
                );
                assert_eq!(Some(written), node_info_json(&cfg).unwrap());
                // The node's one secret, its key: root-only, byte for byte.
                let secrets = cfg.forest_secrets.as_ref().unwrap();
                for (name, content) in secrets.files() {
                    let path = format!("/etc/nimsforest/forest/{name}");
                    let entry = yaml_query(
                        &file,
                        &format!(
                            "[(f['owner'], f['permissions'], f['content']) for f in d['write_files'] if f['path'] == '{path}'][0]"
                        ),
                    );
                    assert!(
                        entry.starts_with("('root:root', '0600', '"),
                        "{path}: {entry}"
                    );
                    assert_eq!(
                        yaml_query(&file, &format!("[f['content'] for f in d['write_files'] if f['path'] == '{path}'][0]")),
                        content,
                    );
                }
            } else {
                assert_eq!(node_info, "[]");
            }
        }
    }
}

#[test]
fn invalid_user_data_is_caught_by_the_schema_check_itself() {
    // The check above means something: cloud-init refuses a broken document.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "#cloud-config\npackages: nimsforest-nats\nyum_repos:\n  nimsforest:\n    enabled: maybe\n",
    )
    .unwrap();
    let (ok, out) = tool("cloud-init", &["schema", "--config-file", s(&file)]);
    assert!(!ok, "{out}");
}

/// write_files and the repository settings must come before runcmd installs the
/// packages, so the package's postinst finds node-info.json: check the module order of the
/// cloud-init installed here.
#[test]
fn write_files_runs_before_packages_are_installed() {
    let cfg = Path::new("/etc/cloud/cloud.cfg");
    let stages = yaml_query(
        cfg,
        "[[m if isinstance(m, str) else m[0] for m in d[s]] for s in \
         ['cloud_init_modules', 'cloud_config_modules', 'cloud_final_modules']]",
    );
    let stage_of = |module: &str| {
        stages
            .split("], [")
            .position(|stage| {
                stage.contains(&format!("'{module}'"))
                    || stage.contains(&format!("'{}'", module.replace('-', "_")))
            })
            .unwrap_or_else(|| panic!("{module} not in {stages}"))
    };
    assert_eq!(stage_of("write-files"), 0);
    assert_eq!(stage_of("apt-configure"), 1);
    // runcmd writes the commands in the config stage; scripts-user runs them in the final.
    assert_eq!(stage_of("runcmd"), 1);
    assert_eq!(stage_of("scripts-user"), 2);
}

/// The package's nimsforest-cluster-conf for node-1, writing into `etc`.
fn cluster_conf(etc: &Path, node_info: &Path) -> std::process::Output {
    Command::new("sh")
        .arg(repo_root().join("assets/nimsforest-cluster-conf"))
        .env("NIMSFOREST_ETC", etc)
        .env("NODE_INFO", node_info)
        .env("NIMSFOREST_HOSTNAME", "node-1")
        .env("NIMSFOREST_GROUP", "root")
        .output()
        .unwrap()
}

/// The node-info.json of the user-data, given to the package's script with or without
/// the forest's secrets, makes a cluster.conf: closed with them, open only when declared
/// insecure, and no cluster at all (with the reason) when neither.
#[test]
fn node_info_makes_the_cluster_conf() {
    let key = public_key();
    for mode in ["closed", "open", "unguarded", "single"] {
        let mut cfg = config(&key, false, true);
        match mode {
            "open" => {
                cfg.forest_secrets = None;
                cfg.insecure_open_forest = true;
            }
            "single" => cfg.routes.clear(),
            _ => {}
        }
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let node_info = dir.path().join("node-info.json");
        let json = match mode {
            // What Morpheus writes without secrets: routes, nothing else.
            "unguarded" => node_info_json(&CloudInit {
                insecure_open_forest: true,
                forest_secrets: None,
                ..cfg.clone()
            })
            .unwrap()
            .unwrap()
            .replace(", \"insecure_open_cluster\": true", ""),
            _ => node_info_json(&cfg).unwrap().unwrap(),
        };
        std::fs::write(&node_info, json).unwrap();
        if mode == "closed" {
            std::fs::create_dir(etc.join("forest")).unwrap();
            for (name, content) in cfg.forest_secrets.as_ref().unwrap().files() {
                std::fs::write(etc.join("forest").join(name), content).unwrap();
            }
        }
        let out = cluster_conf(&etc, &node_info);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode}: {stderr}");
        let conf = std::fs::read_to_string(etc.join("cluster.conf")).unwrap();
        assert!(conf.contains("server_name: \"node-1\""), "{conf}");
        let cluster = conf.contains("\ncluster {\n    name: \"forest-1\"\n");
        assert_eq!(
            cluster,
            mode == "closed" || mode == "open",
            "{mode}:\n{conf}"
        );
        if cluster {
            for route in ROUTES {
                assert!(conf.contains(&format!("        \"{route}\"\n")), "{conf}");
            }
        }
        let closed = conf.contains("verify_and_map: true")
            && conf.contains("user: \"urn:nimsforest:forest-1:route\"")
            && conf.contains("include \"forest.conf\"")
            // Clients and routes (the leaf node port checks the accounts instead).
            && conf.matches("pinned_certs: $FOREST_PINS").count() == 1 + usize::from(cluster)
            && conf.contains("cert_file: \"/usr/share/nimsforest/forest/nodes/node-1.pem\"");
        assert_eq!(closed, mode == "closed", "{mode}:\n{conf}");
        assert_eq!(
            conf.contains("# INSECURE"),
            mode == "open",
            "{mode}:\n{conf}"
        );
        if mode == "unguarded" {
            assert!(
                stderr.contains("warning") && stderr.contains("no key of the forest"),
                "{stderr}"
            );
            assert!(conf.contains("this node stays single"), "{conf}");
        }
    }
    // A node's key without the forest it belongs to: refused, naming both.
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("forest")).unwrap();
    std::fs::write(etc.join("forest/node-key.pem"), "x").unwrap();
    let node_info = dir.path().join("node-info.json");
    std::fs::write(&node_info, "{\"routes\": []}").unwrap();
    let out = cluster_conf(&etc, &node_info);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("names no forest_id"),
        "{stderr}"
    );
    assert!(!etc.join("cluster.conf").exists());
}

/// node-info.json from the user-data of a leaf node and of a core node with gateways, run
/// through the package's script: the leaf connects to its hubs with its certificate and
/// keeps its own JetStream domain; the core node listens for gateways and leaf nodes.
/// (The topology tests run these blocks on the real server.)
#[test]
fn node_info_of_a_leaf_and_of_a_gateway_makes_their_blocks() {
    let key = public_key();
    let leaf = Topology {
        role: Some(NodeRole::Leaf),
        hubs: vec![
            "nats-leaf://10.0.0.1:7777".into(),
            "nats-leaf://10.0.0.2:7777".into(),
        ],
        ..Topology::default()
    };
    let core = Topology {
        cluster: Some("west".into()),
        gateways: Topology::parse_gateways(&["east=nats://10.1.0.1:7222".into()]).unwrap(),
        ..Topology::default()
    };
    for (name, topology) in [("leaf", leaf), ("core", core)] {
        let mut cfg = config(&key, false, true);
        if name == "leaf" {
            cfg.routes.clear();
        }
        cfg.topology = topology;
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("forest")).unwrap();
        for (file, content) in cfg.forest_secrets.as_ref().unwrap().files() {
            std::fs::write(etc.join("forest").join(file), content).unwrap();
        }
        let node_info = dir.path().join("node-info.json");
        std::fs::write(&node_info, node_info_json(&cfg).unwrap().unwrap()).unwrap();
        let out = cluster_conf(&etc, &node_info);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = std::fs::read_to_string(etc.join("cluster.conf")).unwrap();
        let domain = std::fs::read_to_string(etc.join("domain.conf")).unwrap();
        if name == "leaf" {
            assert!(
                !conf.contains("cluster {") && !conf.contains("gateway {"),
                "{conf}"
            );
            assert!(
                conf.contains("    remotes: [\n        {\n            urls: [\n                \"nats-leaf://10.0.0.1:7777\"\n                \"nats-leaf://10.0.0.2:7777\"\n"),
                "{conf}"
            );
            assert!(conf.contains("account: \"FOREST\""), "{conf}");
            assert!(domain.contains("\ndomain: \"node-1\"\n"), "{domain}");
        } else {
            assert!(conf.contains("cluster {\n    name: \"west\"\n"), "{conf}");
            assert!(
                conf.contains("gateway {\n    name: \"west\"\n    listen: \"0.0.0.0:7222\""),
                "{conf}"
            );
            assert!(
                conf.contains("user: \"urn:nimsforest:forest-1:gateway\""),
                "{conf}"
            );
            assert!(conf.contains("name: \"east\"\n            urls: [\n                \"nats://10.1.0.1:7222\"\n"), "{conf}");
            assert!(
                conf.contains("leafnodes {\n    listen: \"0.0.0.0:7777\""),
                "{conf}"
            );
            let leaf_port: String = conf
                .split("leafnodes {")
                .nth(1)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect();
            assert!(
                leaf_port.contains("verify_and_map: true")
                    && !leaf_port.contains("pinned_certs")
                    && !leaf_port.contains("authorization"),
                "the leaf node port checks the accounts, which reload: {conf}"
            );
            assert!(!domain.contains("\ndomain:"), "{domain}");
        }
    }
}

/// The user-data's install command, run with a package manager that answers as a
/// repository refusing the node (401): one attempt, then it gives up and says why; the
/// same with a repository that is down is tried again.
#[test]
fn the_install_gives_up_at_once_when_the_repository_refuses_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("user-data");
    std::fs::write(
        &file,
        user_data(&config(&public_key(), false, false)).unwrap(),
    )
    .unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // The runcmd entry as cloud-init runs it: its argv, from the YAML.
    let argv: Vec<String> = serde_json::from_str(&yaml_query(
        &file,
        "__import__('json').dumps(d['runcmd'][0])",
    ))
    .unwrap();
    for (answer, gives_up) in [
        ("E: Failed to fetch http://x/dists/stable/InRelease  401  Unauthorized [IP: 10.0.0.1 80]", true),
        ("E: Failed to fetch http://x/dists/stable/InRelease  Could not connect to 10.0.0.1:80 (10.0.0.1), connection refused", false),
    ] {
        let fake = bin.join("apt-get");
        std::fs::write(&fake, format!("#!/bin/sh\necho '{answer}' >&2\nexit 100\n")).unwrap();
        tool_ok("chmod", &["755", fake.to_str().unwrap()]);
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        // A repository that is down is tried again in 10 s: 12 s see one attempt.
        let out = Command::new("timeout")
            .arg("12")
            .args(&argv)
            .env("PATH", path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        if gives_up {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert!(text.contains("refused this node"), "{text}");
            assert_eq!(text.matches("401  Unauthorized").count(), 1, "{text}");
        } else {
            assert_eq!(out.status.code(), Some(124), "still trying when stopped: {text}");
            assert!(text.contains("attempt 1 to install nimsforest-nats=2.14.6-* failed"), "{text}");
            assert!(!text.contains("refused this node"), "{text}");
        }
    }
}
