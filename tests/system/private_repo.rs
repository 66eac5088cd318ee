//! A private repository, the way the fleet gets one: published by the tool to
//! S3-compatible storage (rclone serve s3), served from that storage by nginx over HTTPS
//! (a private CA, HTTP basic authentication, client certificates), and installed by real
//! cloud-init on booted nodes given credentials. Nodes without them, or with wrong ones,
//! get apt's or dnf's refusal and install nothing; the secrets are root's alone.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fixture::forest::CLOUD_IMAGE;
use crate::fixture::rpm::{base_provides_rpm, dnf, RPM_NODE};
use crate::harness::*;
use crate::node::*;
use crate::s3::S3Server;

const HOST: &str = "packages.nimsforest.test";
/// Basic authentication; and a client certificate, on the second port.
const BASIC_PORT: u16 = 8443;
const CERT_PORT: u16 = 8444;
const USER: &str = "fleet-node";
const PASSWORD: &str = "correct-horse-battery-staple";

/// Test keys and certificates, made with openssl: the repository's CA, the server's
/// certificate, a client certificate from that CA and one from a stranger's CA.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn new() -> Self {
        let pki = Self {
            dir: tempfile::Builder::new()
                .prefix("nimsforest-pki-")
                .tempdir()
                .expect("tempdir"),
        };
        let p = |name: &str| pki.path(name).to_str().expect("utf-8").to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "stranger-ca"] {
            let mut args = vec!["req", "-x509", "-days", "2", "-subj"];
            let subject = format!("/CN={ca} of the test");
            args.push(&subject);
            args.extend(ec);
            let (key, crt) = (p(&format!("{ca}.key")), p(&format!("{ca}.crt")));
            args.extend(["-keyout", &key, "-out", &crt]);
            tool_ok("openssl", &args);
        }
        let issue = |name: &str, ca: &str, subject: &str, ext: &str| {
            let (key, csr, crt) = (
                p(&format!("{name}.key")),
                p(&format!("{name}.csr")),
                p(&format!("{name}.crt")),
            );
            let mut args = vec!["req", "-subj", subject, "-addext", ext];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr]);
            tool_ok("openssl", &args);
            let (ca_crt, ca_key) = (p(&format!("{ca}.crt")), p(&format!("{ca}.key")));
            tool_ok(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_crt,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-copy_extensions",
                    "copy",
                    "-out",
                    &crt,
                ],
            );
        };
        issue(
            "server",
            "ca",
            &format!("/CN={HOST}"),
            &format!("subjectAltName=DNS:{HOST}"),
        );
        issue(
            "client",
            "ca",
            "/CN=fleet-node",
            "extendedKeyUsage=clientAuth",
        );
        issue(
            "stranger",
            "stranger-ca",
            "/CN=stranger",
            "extendedKeyUsage=clientAuth",
        );
        // nginx's user file: the password hashed (read from stdin, never an argument).
        let mut child = Command::new("openssl")
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            format!("{PASSWORD}\n").as_bytes(),
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let hash = String::from_utf8(out.stdout).unwrap();
        std::fs::write(pki.path("htpasswd"), format!("{USER}:{}", hash.trim())).unwrap();
        std::fs::write(pki.path("password"), format!("{PASSWORD}\n")).unwrap();
        std::fs::write(pki.path("wrong-password"), "not-the-password\n").unwrap();
        pki
    }
}

/// nginx serving `root` over HTTPS on a node's 127.0.0.1, as `HOST`: basic authentication
/// on BASIC_PORT, a client certificate from the repository's CA on CERT_PORT.
struct Nginx {
    child: Child,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    fn start_in(netns: &str, root: &Path, pki: &Pki) -> Self {
        let prefix = tempfile::Builder::new()
            .prefix("nimsforest-nginx-")
            .tempdir()
            .expect("tempdir");
        let p = |name: &str| pki.path(name).display().to_string();
        let server = |port: u16, access: &str| {
            format!(
                "  server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name {HOST};\n\
                 \x20   ssl_certificate {};\n    ssl_certificate_key {};\n\
                 \x20   root {};\n{access}\
                 \x20   # Objects only: no listings, no rclone temporary (dot) files.\n\
                 \x20   location ~ /\\. {{ deny all; }}\n  }}\n",
                p("server.crt"),
                p("server.key"),
                root.display()
            )
        };
        let conf = format!(
            "# The test runs nginx as root; its workers read the store's files as root too.\n\
             user root;\nworker_processes 1;\npid {0}/nginx.pid;\nerror_log {0}/error.log;\n\
             events {{}}\nhttp {{\n  access_log {0}/access.log;\n  client_body_temp_path {0}/body;\n\
             \x20 proxy_temp_path {0}/proxy;\n  fastcgi_temp_path {0}/fastcgi;\n\
             \x20 uwsgi_temp_path {0}/uwsgi;\n  scgi_temp_path {0}/scgi;\n  autoindex off;\n{1}{2}}}\n",
            prefix.path().display(),
            server(
                BASIC_PORT,
                &format!("    auth_basic \"NimsForest\";\n    auth_basic_user_file {};\n", p("htpasswd"))
            ),
            server(
                CERT_PORT,
                &format!("    ssl_verify_client on;\n    ssl_client_certificate {};\n", p("ca.crt"))
            ),
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // A process group of its own: the drop ends the master and its workers together.
        let child = Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .args(["--", "nginx", "-g", "daemon off;", "-c"])
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix.path())
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("nginx starts");
        let started = Instant::now();
        loop {
            let (_, out) = tool(
                "nsenter",
                &[
                    &format!("--net={netns}"),
                    "--",
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-k",
                    &format!("https://127.0.0.1:{BASIC_PORT}/"),
                ],
            );
            if out.trim() == "401" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nginx does not answer: {out}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            _prefix: prefix,
        }
    }
}

/// nginx stops its workers when its master is asked to (TERM); killing the master alone
/// would leave them running. Whatever is left of the group a few seconds on is killed.
impl Drop for Nginx {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = tool("kill", &["-TERM", "--", &group]);
        let stopped = wait_for(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten().map(|_| ())
        });
        if stopped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = tool("kill", &["-KILL", "--", &group]);
    }
}

/// The fixture's newest release (amd64 .deb and x86_64 .rpm) published by the tool to an
/// S3 server; the server stays up for the test run.
struct Published {
    server: S3Server,
    keys: PathBuf,
    _project: Project,
}

fn published() -> &'static Published {
    static PUBLISHED: OnceLock<Published> = OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let project = Project::new();
        let mirror = &MirrorServer::shared().url;
        project.ok(&["build", "--arch", "amd64", "--mirror", mirror]);
        let keys = project.path().join("keys");
        project.ok(&["keygen", "--out", keys.to_str().unwrap()]);
        let server = S3Server::start();
        let mut cmd = project.command(&[
            "repo",
            "--out",
            &server.url("repo"),
            "--signing-key",
            keys.join("nimsforest-signing-key.asc").to_str().unwrap(),
        ]);
        let out = server.configure(&mut cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Published {
            server,
            keys,
            _project: project,
        }
    })
}

/// Publishes the packages in `dist` into the shared store, signed with its key.
fn publish_into_store(project: &Project, dist: &Path) {
    let p = published();
    let mut cmd = project.command(&[
        "repo",
        "--dist",
        dist.to_str().unwrap(),
        "--out",
        &p.server.url("repo"),
        "--signing-key",
        p.keys.join("nimsforest-signing-key.asc").to_str().unwrap(),
    ]);
    let out = p.server.configure(&mut cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
