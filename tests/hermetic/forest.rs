//! A closed forest on loopback, as the package configures it: secrets made by
//! `nimsforest-pkg forest`, cluster.conf written by the package's own
//! `nimsforest-cluster-conf`, the package's nats.conf (ports and paths moved so that any
//! user can run it), the real nats-server. Its own nodes form a route and its users get
//! in; an anonymous client, a plaintext client, another forest's user, a node certificate
//! posing as a user and a stranger server are refused, each with the server's log line.
//! (tests/system/cluster.rs proves the same on booted nodes installed by cloud-init.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::nats::{ClientTls, Nats};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A forest made by the tool, with node certificates for 127.0.0.1.
fn forest(project: &Project, name: &str, id: &str, nodes: &[&str]) -> PathBuf {
    let dir = project.path().join(name);
    let d = dir.to_str().unwrap();
    project.ok(&["forest", "init", "--dir", d, "--forest-id", id]);
    for node in nodes {
        project.ok(&[
            "forest",
            "node",
            "--dir",
            d,
            "--name",
            node,
            "--address",
            "127.0.0.1",
        ]);
    }
    dir
}

struct Server {
    name: String,
    child: Child,
    _dir: tempfile::TempDir,
    client_port: u16,
    cluster_port: u16,
    http_port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Node `name` with `secrets`: (file in etc/forest, source file), its route port
    /// `cluster_port`; `forest_id` and the routes to the ports `routes` (every node of the
    /// forest, itself included, as Morpheus lists them) go into its node-info.json.
    fn start(
        name: &str,
        forest_id: &str,
        secrets: &[(&str, PathBuf)],
        cluster_port: u16,
        routes: &[u16],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("forest")).unwrap();
        for (file, source) in secrets {
            std::fs::copy(source, etc.join("forest").join(file)).unwrap();
        }
        let (client_port, http_port) = (free_port(), free_port());
        let routes: Vec<String> = routes
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let node_info = dir.path().join("node-info.json");
        std::fs::write(
            &node_info,
            format!(
                "{{\"forest_id\": \"{forest_id}\", \"routes\": [{}]}}",
                routes.join(", ")
            ),
        )
        .unwrap();
        let out = Command::new("sh")
            .arg(repo_root().join("assets/nimsforest-cluster-conf"))
            .env("NIMSFOREST_ETC", &etc)
            .env("NODE_INFO", &node_info)
            .env("NIMSFOREST_HOSTNAME", name)
            // The test's own group (used only when the test runs as root).
            .env("NIMSFOREST_GROUP", "root")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = std::fs::read_to_string(etc.join("cluster.conf")).unwrap();
        assert!(cluster.contains("verify_and_map: true"), "{cluster}");
        let cluster = cluster.replace(
            "listen: \"0.0.0.0:6222\"",
            &format!("listen: \"127.0.0.1:{cluster_port}\""),
        );
        std::fs::write(etc.join("cluster.conf"), cluster).unwrap();

        let log = dir.path().join("nats.log");
        let conf = std::fs::read_to_string(repo_root().join("assets/nats.conf"))
            .unwrap()
            .replace("\nport: 4222\n", &format!("\nport: {client_port}\n"))
            .replace(
                "http: 127.0.0.1:8222",
                &format!("http: 127.0.0.1:{http_port}"),
            )
            .replace("/var/lib/nimsforest", dir.path().to_str().unwrap())
            .replace("/var/log/nimsforest/nats.log", log.to_str().unwrap());
        std::fs::write(etc.join("nats.conf"), conf).unwrap();

        let binary = dir.path().join("nats-server");
        std::fs::write(&binary, fixture_binary(NEW, "amd64")).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(etc.join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            name: name.to_string(),
            child,
            _dir: dir,
            client_port,
            cluster_port,
            http_port,
            log,
        };
        server.wait_for_log("Server is ready");
        server
    }

    fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.client_port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&self, line: &str) {
        let found = wait_for(Duration::from_secs(30), || {
            self.log().contains(line).then_some(())
        });
        assert!(
            found.is_some(),
            "[{}] no {line:?} in the log:\n{}",
            self.name,
            self.log()
        );
    }

    /// Why the server closed the client connection from local port `port`, if it did.
    fn closed_connection(&self, port: u16) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/connz?state=closed", self.http_port);
        let connz: Value =
            serde_json::from_str(&reqwest::blocking::get(url).ok()?.text().ok()?).ok()?;
        connz["connections"]
            .as_array()?
            .iter()
            .find(|c| c["port"].as_u64() == Some(u64::from(port)))
            .and_then(|c| c["reason"].as_str().map(str::to_string))
    }

    /// The server names this server has routes to.
    fn routes(&self) -> Vec<String> {
        let url = format!("http://127.0.0.1:{}/routez", self.http_port);
        let body = reqwest::blocking::get(url).unwrap().text().unwrap();
        let routez: Value = serde_json::from_str(&body).unwrap();
        let mut names: Vec<String> = routez["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["remote_name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn node_secrets(forest: &Path, node: &str) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("ca.pem", forest.join("ca.pem")),
        ("auth.conf", forest.join("auth.conf")),
        ("node.pem", forest.join("nodes").join(node).join("node.pem")),
        (
            "node-key.pem",
            forest.join("nodes").join(node).join("node-key.pem"),
        ),
    ]
}

#[test]
fn a_closed_forest_lets_in_its_own_nodes_and_users_and_no_one_else() {
    let project = Project::new();
    let ours = forest(&project, "ours", "forest-1", &["node1", "node2"]);
    let theirs = forest(&project, "theirs", "forest-2", &[]);
    // An impostor forest of the same name, made by the same tool: its CA has the name of
    // ours, not its key.
    let impostor = forest(&project, "impostor", "forest-1", &["node1"]);

    let ports = [free_port(), free_port()];
    let node1 = Server::start(
        "node1",
        "forest-1",
        &node_secrets(&ours, "node1"),
        ports[0],
        &ports,
    );
    let node2 = Server::start(
        "node2",
        "forest-1",
        &node_secrets(&ours, "node2"),
        ports[1],
        &ports,
    );
    let formed = wait_for(Duration::from_secs(30), || {
        (node1.routes() == ["node2"] && node2.routes() == ["node1"]).then_some(())
    });
    assert!(
        formed.is_some(),
        "no route: {:?} {:?}\nnode1:\n{}\nnode2:\n{}",
        node1.routes(),
        node2.routes(),
        node1.log(),
        node2.log()
    );

    // The forest's users get in, on either node, and messages cross the route.
    let app = Nats::connect_with(&[node1.url()], Some(&ClientTls::user(&ours, "app")))
        .expect("the app user connects");
    app.round_trip("orders.new").unwrap();
    let sys = Nats::connect_with(&[node2.url()], Some(&ClientTls::user(&ours, "sys")))
        .expect("the sys user connects");
    sys.round_trip("ops.check").unwrap();

    // An anonymous TLS client that trusts the forest CA but has no certificate.
    let anonymous = ClientTls {
        ca: ours.join("ca.pem"),
        cert: None,
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&anonymous)).err();
    assert!(refused.is_some(), "an anonymous client got in");
    node1.wait_for_log("client didn't provide a certificate");

    // Another forest's user (which knows our public CA).
    let stranger = ClientTls {
        ca: ours.join("ca.pem"),
        cert: ClientTls::user(&theirs, "app").cert,
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&stranger)).err();
    assert!(refused.is_some(), "another forest's user got in");
    node1.wait_for_log(
        "TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    );

    // A node's certificate is no user's.
    let posing = ClientTls {
        ca: ours.join("ca.pem"),
        cert: Some((
            ours.join("nodes/node2/node.pem"),
            ours.join("nodes/node2/node-key.pem"),
        )),
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&posing)).err();
    assert!(refused.is_some(), "a node certificate got in as a client");
    node1.wait_for_log("authentication error");

    // A plaintext client: the server wants TLS before anything else.
    let mut plain = TcpStream::connect(("127.0.0.1", node1.client_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(plain.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    plain
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = reader.read_line(&mut answer);
    assert!(
        !answer.contains("PONG"),
        "a plaintext client was answered: {answer}"
    );
    // The server logs a plaintext probe only at debug level (it is what load balancers
    // send); its record of closed connections names it and why it was closed.
    let port = plain.local_addr().unwrap().port();
    let closed = wait_for(Duration::from_secs(30), || node1.closed_connection(port));
    assert_eq!(closed.as_deref(), Some("TLS Handshake Failure"));

    // A stranger server that knows the forest's name and its public CA, with the
    // impostor forest's certificate, dials node1's route port.
    const ROUTE_REFUSED: &str = "TLS route handshake error: tls: failed to verify certificate: \
                                 x509: certificate signed by unknown authority";
    let log_before = node1.log().matches(ROUTE_REFUSED).count();
    let intruder = Server::start(
        "intruder",
        "forest-1",
        &[
            ("ca.pem", ours.join("ca.pem")),
            ("auth.conf", impostor.join("auth.conf")),
            ("node.pem", impostor.join("nodes/node1/node.pem")),
            ("node-key.pem", impostor.join("nodes/node1/node-key.pem")),
        ],
        free_port(),
        &[node1.cluster_port],
    );
    let refused_route = wait_for(Duration::from_secs(30), || {
        (node1.log().matches(ROUTE_REFUSED).count() > log_before).then_some(())
    });
    assert!(refused_route.is_some(), "node1 log:\n{}", node1.log());
    assert_eq!(node1.routes(), ["node2"]);
    assert!(intruder.routes().is_empty(), "{:?}", intruder.routes());
    eprintln!(
        "node1 refused:\n{}",
        node1
            .log()
            .lines()
            .filter(|l| l.contains("[ERR]") || l.contains("Violation") || l.contains("error"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The forest commands as an operator meets them: keys never printed, nothing
/// overwritten unasked, and a forest that is neither given nor declared open refused.
#[test]
fn the_forest_commands_refuse_what_they_cannot_do() {
    let project = Project::new();
    let dir = project.path().join("f");
    let d = dir.to_str().unwrap();
    let out = project.ok(&["forest", "init", "--dir", d, "--forest-id", "f-1"]);
    assert!(!out.contains("PRIVATE KEY"), "{out}");
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("."), mode("ca-key.pem")), (0o700, 0o600));

    let (stderr, code) = project.fails(&["forest", "init", "--dir", d, "--forest-id", "f-1"]);
    assert!(stderr.contains("forest.toml: already exists"), "{stderr}");
    assert_eq!(code, 1);
    project.ok(&[
        "forest",
        "node",
        "--dir",
        d,
        "--name",
        "n1",
        "--address",
        "10.0.0.1",
    ]);
    let (stderr, code) = project.fails(&["forest", "node", "--dir", d, "--name", "n1"]);
    assert!(
        stderr.contains("node n1: already has a key") && stderr.contains("--renew"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&[
        "forest",
        "node",
        "--dir",
        d,
        "--name",
        "n1",
        "--address",
        "10.0.0.300",
    ]);
    assert!(stderr.contains("10.0.0.300"), "{stderr}");
    assert_eq!(code, 2);

    let key = project.path().join("repo.asc");
    std::fs::write(
        &key,
        nimsforest_pkg::sign::keygen(
            "T <t@example.org>",
            nimsforest_pkg::sign::KeyAlgorithm::Ed25519,
            None,
        )
        .unwrap()
        .public_armored,
    )
    .unwrap();
    let k = key.to_str().unwrap();
    let base = [
        "cloud-init",
        "--url",
        "https://packages.example.org/nf",
        "--key",
        k,
    ];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let (stderr, code) = project.fails(&with(
        &base,
        &[
            "--forest-id",
            "f-1",
            "--route",
            "nats-route://10.0.0.1:6222",
        ],
    ));
    assert!(stderr.contains("a forest is closed"), "{stderr}");
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(&base, &["--forest", d, "--server-name", "n2"]));
    assert!(
        stderr.contains("node n2") && stderr.contains("forest node --name n2"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(
        &base,
        &["--forest", d, "--forest-id", "other", "--server-name", "n1"],
    ));
    assert!(stderr.contains("is the forest f-1"), "{stderr}");
    assert_eq!(code, 2);
    let user_data = project.ok(&with(&base, &["--forest", d, "--server-name", "n1"]));
    let node_key = std::fs::read_to_string(dir.join("nodes/n1/node-key.pem")).unwrap();
    let ca_key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    let line = node_key.lines().nth(1).unwrap();
    assert!(
        user_data.contains(line),
        "the node's key is not in its user-data"
    );
    let ca_line = ca_key.lines().nth(1).unwrap();
    assert!(
        !user_data.contains(ca_line),
        "the CA key left the build machine"
    );
    let open = project.ok(&with(
        &base,
        &["--forest-id", "lab", "--insecure-open-forest"],
    ));
    assert!(open.contains("# INSECURE OPEN FOREST"), "{open}");
}
