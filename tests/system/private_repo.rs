//! A private repository, the way the fleet gets one: published by the tool to
//! S3-compatible storage (rclone serve s3), served from that storage by nginx over HTTPS
//! (a private CA, HTTP basic authentication, client certificates), and installed by real
//! cloud-init on booted nodes given credentials. Nodes without them, or with wrong ones,
//! get apt's or dnf's refusal and install nothing; the secrets are root's alone.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::fixture::forest::CLOUD_IMAGE;
use crate::fixture::private_repo::*;
use crate::fixture::rpm::{base_provides_rpm, dnf, RPM_NODE};
use crate::harness::*;
use crate::node::*;

/// The user-data `cloud-init` makes for a node of this repository, with `extra` options.
fn user_data(port: u16, rpm: bool, extra: &[&str]) -> String {
    let p = published();
    let project = Project::new();
    let url = format!("https://{HOST}:{port}");
    let key = p.keys.join("nimsforest.asc");
    let mut args = vec!["cloud-init", "--url", &url, "--key", key.to_str().unwrap()];
    args.extend(extra);
    if rpm {
        args.push("--rpm");
    }
    project.ok(&args)
}

/// A node of `image` with its user-data seeded and the repository's host on its
/// loopback, served by nginx from the store; not started yet.
fn node(
    image: &RootfsSpec,
    network: &mut Network,
    pki: &Pki,
    name: &str,
    data: &str,
) -> (Node, Nginx) {
    let node = Node::create(&image.cached(), network, name);
    let hosts = format!("127.0.0.1 localhost\n127.0.0.1 {HOST}\n");
    node.write("/etc/hosts", hosts.as_bytes());
    node.write("/var/lib/cloud/seed/nocloud/user-data", data.as_bytes());
    // The seed stands in for the cloud's metadata service, which only root may read.
    std::fs::set_permissions(
        node.host_path("/var/lib/cloud/seed/nocloud/user-data"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    node.write(
        "/var/lib/cloud/seed/nocloud/meta-data",
        format!("instance-id: {name}\nlocal-hostname: {name}\n").as_bytes(),
    );
    let nginx = Nginx::start_in(&node.netns_path(), &published().server.files("repo"), pki);
    (node, nginx)
}

fn installed(node: &Node, package: &str) -> bool {
    node.run(&["dpkg-query", "-W", "-f", "${Status}", package])
        .1
        .contains("install ok installed")
}

/// Owner and mode of a file on the node.
fn owner_and_mode(node: &Node, path: &str) -> (u32, u32, u32) {
    let meta = std::fs::metadata(node.host_path(path)).unwrap_or_else(|_| panic!("{path} missing"));
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

/// Every file below `dirs` on the node holding `secret`, with its mode.
fn files_holding(node: &Node, dirs: &[&str], secret: &str) -> Vec<(String, u32)> {
    fn walk(root: &Path, dir: &Path, secret: &[u8], out: &mut Vec<(String, u32)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                walk(root, &path, secret, out);
            } else if meta.is_file() {
                let data = std::fs::read(&path).unwrap_or_default();
                if data.windows(secret.len()).any(|w| w == secret) {
                    let inside = format!("/{}", path.strip_prefix(root).unwrap().display());
                    out.push((inside, meta.mode() & 0o7777));
                }
            }
        }
    }
    let root = node.root();
    let mut out = Vec::new();
    for dir in dirs {
        walk(&root, &node.host_path(dir), secret.as_bytes(), &mut out);
    }
    out.sort();
    out
}

#[test]
fn nodes_with_credentials_install_through_cloud_init_and_others_are_refused() {
    let pki = Pki::new();
    let ca = pki.path("ca.crt");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ca, password, wrong, cert, key, stranger, stranger_key) = (
        s(&ca),
        s(&pki.path("password")),
        s(&pki.path("wrong-password")),
        s(&pki.path("client.crt")),
        s(&pki.path("client.key")),
        s(&pki.path("stranger.crt")),
        s(&pki.path("stranger.key")),
    );
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "granted",
            user_data(
                BASIC_PORT,
                false,
                &[
                    "--ca-cert",
                    &ca,
                    "--username",
                    USER,
                    "--password-file",
                    &password,
                ],
            ),
            true,
        ),
        (
            "anonymous",
            user_data(BASIC_PORT, false, &["--ca-cert", &ca]),
            false,
        ),
        (
            "wrongpass",
            user_data(
                BASIC_PORT,
                false,
                &[
                    "--ca-cert",
                    &ca,
                    "--username",
                    USER,
                    "--password-file",
                    &wrong,
                ],
            ),
            false,
        ),
        (
            "certified",
            user_data(
                CERT_PORT,
                false,
                &[
                    "--ca-cert",
                    &ca,
                    "--client-cert",
                    &cert,
                    "--client-key",
                    &key,
                ],
            ),
            true,
        ),
        (
            "stranger",
            user_data(
                CERT_PORT,
                false,
                &[
                    "--ca-cert",
                    &ca,
                    "--client-cert",
                    &stranger,
                    "--client-key",
                    &stranger_key,
                ],
            ),
            false,
        ),
    ];
    let mut network = Network::new();
    let mut nodes: Vec<(Node, Nginx, bool)> = cases
        .iter()
        .map(|(name, data, allowed)| {
            let (mut node, nginx) = node(&CLOUD_IMAGE, &mut network, &pki, name, data);
            // A refused node's cloud-init fails its apt step: a degraded boot.
            node.degraded_is_expected = !allowed;
            (node, nginx, *allowed)
        })
        .collect();
    std::thread::scope(|scope| {
        for (node, _, _) in &mut nodes {
            scope.spawn(move || node.start());
        }
    });

    for (node, _, allowed) in &nodes {
        let log = node.read("/var/log/cloud-init-output.log");
        let name = &node.name;
        if *allowed {
            assert!(
                installed(node, "nimsforest-nats"),
                "[{name}] not installed:\n{log}"
            );
            let (_, status) = node.run(&["cloud-init", "status", "--long"]);
            assert!(status.contains("status: done"), "[{name}] {status}");
            node.assert_active();
        } else {
            assert!(
                !installed(node, "nimsforest-nats"),
                "[{name}] installed without credentials"
            );
            let refused = match name.as_str() {
                "stranger" => log.contains("400  Bad Request") || log.contains("certificate"),
                _ => log.contains("401  Unauthorized"),
            };
            assert!(refused, "[{name}] no refusal from the server in:\n{log}");
            eprintln!(
                "[{name}] refused: {}",
                log.lines()
                    .find(|l| l.contains("401") || l.contains("400"))
                    .unwrap_or("")
            );
        }
    }
    let granted = &nodes[0].0;
    assert_eq!(
        owner_and_mode(granted, "/etc/apt/auth.conf.d/nimsforest.conf"),
        (0, 0, 0o600)
    );
    // The password is in the auth file and in cloud-init's own root-only copy of the
    // user-data, and nowhere else.
    let holding = files_holding(
        granted,
        &["/etc", "/var/log", "/var/lib/cloud", "/var/lib/apt"],
        PASSWORD,
    );
    for (path, mode) in &holding {
        assert_eq!(
            mode & 0o077,
            0,
            "{path} holds the password and is mode {mode:o}"
        );
    }
    assert!(
        holding
            .iter()
            .any(|(p, _)| p == "/etc/apt/auth.conf.d/nimsforest.conf"),
        "{holding:?}"
    );
    assert!(
        holding
            .iter()
            .all(|(p, _)| p == "/etc/apt/auth.conf.d/nimsforest.conf"
                || p.starts_with("/var/lib/cloud/")),
        "{holding:?}"
    );
    let certified = &nodes[3].0;
    let apt_uid: u32 = certified
        .run(&["id", "-u", "_apt"])
        .1
        .trim()
        .parse()
        .expect("the _apt user");
    assert_eq!(
        owner_and_mode(certified, "/etc/apt/nimsforest/client.key"),
        (apt_uid, 0, 0o600),
        "the client key: _apt's alone (apt's https method reads it as _apt)"
    );
    let sources = certified.read("/etc/apt/sources.list.d/nimsforest.list");
    assert!(
        !sources.contains("PRIVATE") && !sources.contains(PASSWORD),
        "{sources}"
    );
}

/// The RPM node of the install tests with cloud-init, which applies the rpm variant's
/// `yum_repos` here too: cloud-init runs that module on RPM distributions only, so the
/// image adds it to its config stage and lets it run on Debian.
const RPM_CLOUD_IMAGE: RootfsSpec = RootfsSpec {
    suite: "bookworm",
    arch: "amd64",
    include: &["ca-certificates", "rpm", "dnf", "cloud-init", "locales"],
    files: &[
        ("/etc/rpm/macros.dbpath", "%_dbpath /var/lib/rpm\n"),
        (
            "/etc/cloud/cloud.cfg.d/10-image-locale.cfg",
            "locale: C.UTF-8\n",
        ),
        ("/etc/dnf/vars/releasever", "12\n"),
        (
            "/etc/cloud/cloud.cfg.d/90-yum-repos.cfg",
            "unverified_modules: [yum_add_repo]\n\
             cloud_config_modules: [locale, set-passwords, yum_add_repo, timezone, runcmd]\n",
        ),
    ],
};

#[test]
fn the_rpm_variant_gives_dnf_the_credentials_and_no_one_else() {
    assert_eq!(RPM_CLOUD_IMAGE.include[..3], RPM_NODE.include[..]);
    let pki = Pki::new();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ca, password, cert, key) = (
        s(&pki.path("ca.crt")),
        s(&pki.path("password")),
        s(&pki.path("client.crt")),
        s(&pki.path("client.key")),
    );
    // This Debian node needs Debian's base system made known to rpm before dnf can
    // install anything: the node applies the rest of the user-data, and the test installs
    // with dnf once that is done.
    let without_packages = |data: String| -> String {
        data.lines()
            .filter(|l| *l != "runcmd:" && !l.starts_with("  - [\"sh\", \"-c\""))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    // The granted node is also a closed single node of a forest: the rpm variant carries
    // its secrets as the apt variant does.
    let mut network = Network::new();
    let project = Project::new();
    let forest = project.path().join("forest-r");
    let trust = project.path().join("trust");
    project.ok(&[
        "forest",
        "init",
        "--dir",
        &s(&forest),
        "--forest-id",
        "forest-r",
        "--out",
        &s(&trust),
    ]);
    let granted_address = network.next_address();
    project.ok(&[
        "forest",
        "node",
        "--dir",
        &s(&forest),
        "--name",
        "rpm-granted",
        "--address",
        &granted_address,
        "--out",
        &s(&trust),
    ]);
    // The forest's trust package goes into the same store, beside the server's.
    publish_into_store(&project, &trust);
    let cases = [
        (
            "rpm-granted",
            user_data(
                BASIC_PORT,
                true,
                &[
                    "--ca-cert",
                    &ca,
                    "--username",
                    USER,
                    "--password-file",
                    &password,
                    "--forest",
                    &s(&forest),
                    "--server-name",
                    "rpm-granted",
                ],
            ),
            true,
        ),
        (
            "rpm-anonymous",
            user_data(BASIC_PORT, true, &["--ca-cert", &ca]),
            false,
        ),
        (
            "rpm-certified",
            user_data(
                CERT_PORT,
                true,
                &[
                    "--ca-cert",
                    &ca,
                    "--client-cert",
                    &cert,
                    "--client-key",
                    &key,
                ],
            ),
            true,
        ),
    ];
    let mut nodes: Vec<(Node, Nginx, bool)> = cases
        .into_iter()
        .map(|(name, data, allowed)| {
            let (node, nginx) = node(
                &RPM_CLOUD_IMAGE,
                &mut network,
                &pki,
                name,
                &without_packages(data),
            );
            (node, nginx, allowed)
        })
        .collect();
    std::thread::scope(|scope| {
        for (node, _, _) in &mut nodes {
            scope.spawn(move || node.start());
        }
    });
    for (node, _, allowed) in &nodes {
        let name = &node.name;
        let repo = node.read("/etc/yum.repos.d/nimsforest.repo");
        assert!(
            !repo.contains(PASSWORD) && !repo.contains("PRIVATE KEY"),
            "[{name}] {repo}"
        );
        node.write("/root/debian-base-provides.rpm", base_provides_rpm());
        node.ok(&["rpm", "--initdb"]);
        node.ok(&[
            "rpm",
            "-i",
            "--force-debian",
            "/root/debian-base-provides.rpm",
        ]);
        if *allowed {
            let mut packages = vec!["install", "nimsforest-nats"];
            if name == "rpm-granted" {
                packages.push("nimsforest-forest-forest-r");
            }
            dnf(node, &packages, &[]);
            node.ok(&["rpm", "-q", "nimsforest-nats"]);
            node.assert_active();
        } else {
            let (ok, out) = node.run(&[
                "dnf",
                "-y",
                "--setopt=skip_if_unavailable=False",
                "makecache",
            ]);
            assert!(
                !ok,
                "[{name}] dnf read the repository without credentials:\n{out}"
            );
            assert!(out.contains("401"), "[{name}] no 401 in:\n{out}");
            eprintln!(
                "[{name}] refused: {}",
                out.lines().find(|l| l.contains("401")).unwrap_or("")
            );
            assert!(!node.run(&["rpm", "-q", "nimsforest-nats"]).0);
        }
    }
    let granted = &nodes[0].0;
    assert_eq!(granted.address, granted_address);
    assert_eq!(
        owner_and_mode(granted, "/etc/dnf/vars/nimsforest_password"),
        (0, 0, 0o600)
    );
    // Closed: the key is the server's group's alone, and only the forest's user gets in
    // over TLS.
    let conf = granted.read("/etc/nimsforest/cluster.conf");
    assert!(conf.contains("verify_and_map: true"), "{conf}");
    let group = granted.ok(&["getent", "group", "nimsforest"]);
    let gid: u32 = group.split(':').nth(2).unwrap().trim().parse().unwrap();
    assert_eq!(
        owner_and_mode(granted, "/etc/nimsforest/forest/node-key.pem"),
        (0, gid, 0o640)
    );
    let url = [format!("tls://{granted_address}:4222")];
    let app = crate::nats::ClientTls::user(&forest, "app");
    let client = wait_for(std::time::Duration::from_secs(60), || {
        crate::nats::Nats::connect_with(&url, Some(&app)).ok()
    })
    .expect("the forest's user connects to the rpm node");
    client.round_trip("orders.new").expect("round trip");
    assert!(
        crate::nats::Nats::connect(&format!("nats://{granted_address}:4222")).is_err(),
        "an anonymous client got into the rpm node"
    );
    let holding = files_holding(
        granted,
        &["/etc", "/var/log", "/var/lib/cloud", "/var/lib/dnf"],
        PASSWORD,
    );
    assert!(
        holding.iter().all(|(p, mode)| mode & 0o077 == 0
            && (p == "/etc/dnf/vars/nimsforest_password" || p.starts_with("/var/lib/cloud/"))),
        "{holding:?}"
    );
    assert_eq!(
        owner_and_mode(&nodes[2].0, "/etc/pki/nimsforest/client.key"),
        (0, 0, 0o600)
    );
}
