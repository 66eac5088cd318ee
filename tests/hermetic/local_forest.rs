//! A closed forest on loopback, as the packages configure it: made by `nimsforest-pkg
//! forest`, its trust package (the real .deb, unpacked) in place of an installed one, the
//! node's key, cluster.conf written by the server package's own `nimsforest-cluster-conf`,
//! the package's nats.conf (ports and paths moved so that any user can run it), the real
//! nats-server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::nats::{certificate_field, presented_certificate};

/// Runs one of the package's scripts; its stderr is the failure message.
fn run_asset(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A forest made by the tool, and where it writes its trust packages.
pub struct TestForest {
    pub dir: PathBuf,
    pub out: PathBuf,
}

impl TestForest {
    /// `forest init` and a node certificate for 127.0.0.1 for each of `nodes`.
    pub fn new(project: &Project, name: &str, id: &str, nodes: &[&str]) -> Self {
        let forest = Self {
            dir: project.path().join(name),
            out: project.path().join(format!("{name}-dist")),
        };
        forest.ok(project, &["init", "--forest-id", id]);
        for node in nodes {
            forest.ok(project, &["node", "--name", node, "--address", "127.0.0.1"]);
        }
        forest
    }

    /// `forest SUBCOMMAND --dir DIR --out OUT ARGS...`.
    pub fn ok(&self, project: &Project, args: &[&str]) -> String {
        let mut all = vec!["forest", args[0], "--dir"];
        all.push(self.dir.to_str().unwrap());
        if args[0] != "list" {
            all.extend(["--out", self.out.to_str().unwrap()]);
        }
        all.extend_from_slice(&args[1..]);
        project.ok(&all)
    }

    /// `forest node --leaf` for a leaf node at 127.0.0.1.
    pub fn add_leaf(&self, project: &Project, name: &str) {
        self.ok(
            project,
            &["node", "--name", name, "--address", "127.0.0.1", "--leaf"],
        );
    }

    /// The newest trust package (.deb) written.
    pub fn deb(&self) -> PathBuf {
        let mut debs: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .map(|p| {
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                let version = name.rsplit('_').nth(1).unwrap();
                (version.split('-').next().unwrap().parse().unwrap(), p)
            })
            .collect();
        debs.sort();
        debs.pop().expect("a trust package").1
    }

    pub fn key(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node).join("node-key.pem")
    }
}

/// The trust package's files as a node has them: the .deb unpacked into `root`.
pub fn install_trust(root: &Path, deb: &Path) {
    let _ = std::fs::remove_dir_all(root);
    tool_ok(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), root.to_str().unwrap()],
    );
}

pub fn trust_dir(root: &Path) -> PathBuf {
    root.join("usr/share/nimsforest/forest")
}

pub struct Server {
    pub name: String,
    pub child: Child,
    pub _dir: tempfile::TempDir,
    pub client_port: u16,
    pub cluster_port: u16,
    pub http_port: u16,
    pub log: PathBuf,
}

/// Where a local node listens for routes, leaf nodes and gateways (6222, 7777 and 7222
/// on a real one).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub cluster: u16,
    pub leaf: u16,
    pub gateway: u16,
}

impl Ports {
    pub fn free() -> Self {
        Self {
            cluster: free_port(),
            leaf: free_port(),
            gateway: free_port(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Node `name` with its `key` and the trust package unpacked in `trust`, its route
    /// port `cluster_port`; `forest_id` and the routes to the ports `routes` (every node of
    /// the forest, itself included, as Morpheus lists them) go into its node-info.json.
    pub fn start(
        name: &str,
        forest_id: &str,
        trust: &Path,
        key: &Path,
        cluster_port: u16,
        routes: &[u16],
    ) -> Self {
        let routes: Vec<String> = routes
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let node_info = format!(
            "{{\"forest_id\": \"{forest_id}\", \"routes\": [{}]}}",
            routes.join(", ")
        );
        let ports = Ports {
            cluster: cluster_port,
            ..Ports::free()
        };
        Self::start_with(name, trust, key, &node_info, ports)
    }

    /// Node `name` with its `key`, the trust package unpacked in `trust`, `node_info` as
    /// its /etc/morpheus/node-info.json (role, routes, hubs, gateways), listening on
    /// `ports`.
    pub fn start_with(name: &str, trust: &Path, key: &Path, node_info: &str, ports: Ports) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("forest")).unwrap();
        std::fs::copy(key, etc.join("forest/node-key.pem")).unwrap();
        // What the package's /etc/nimsforest/forest.conf link points at, here.
        std::os::unix::fs::symlink(
            trust_dir(trust).join("forest.conf"),
            etc.join("forest.conf"),
        )
        .unwrap();
        let (client_port, http_port) = (free_port(), free_port());
        let info = node_info;
        let node_info = dir.path().join("node-info.json");
        std::fs::write(&node_info, info).unwrap();
        run_asset(
            Command::new("sh")
                .arg(repo_root().join("assets/nimsforest-cluster-conf"))
                .env("NIMSFOREST_ETC", &etc)
                .env("NODE_INFO", &node_info)
                .env("NIMSFOREST_HOSTNAME", name)
                .env("NIMSFOREST_TRUST", trust_dir(trust))
                // The test's own group (used only when the test runs as root).
                .env("NIMSFOREST_GROUP", "root"),
        );
        let cluster = std::fs::read_to_string(etc.join("cluster.conf")).unwrap();
        assert!(cluster.contains("verify_and_map: true"), "{cluster}");
        let cluster = cluster
            .replace(
                "listen: \"0.0.0.0:6222\"",
                &format!("listen: \"127.0.0.1:{}\"", ports.cluster),
            )
            .replace(
                "listen: \"0.0.0.0:7777\"",
                &format!("listen: \"127.0.0.1:{}\"", ports.leaf),
            )
            .replace(
                "listen: \"0.0.0.0:7222\"",
                &format!("listen: \"127.0.0.1:{}\"", ports.gateway),
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
        // sizing.conf and GOMEMLIMIT, as the unit's ExecStartPre makes them.
        let run = dir.path().join("run");
        run_asset(
            Command::new("sh")
                .arg(repo_root().join("assets/nimsforest-sizing"))
                .env("NIMSFOREST_ETC", &etc)
                .env("NIMSFOREST_RUN", &run)
                .env("NIMSFOREST_STORE", dir.path())
                .env("NODE_INFO", &node_info)
                .env_remove("GOMEMLIMIT"),
        );
        let sizing = std::fs::read_to_string(run.join("sizing.env")).unwrap();
        let gomemlimit = sizing
            .trim()
            .strip_prefix("GOMEMLIMIT=")
            .expect("GOMEMLIMIT");

        let binary = fixture_binary_in(dir.path(), NEW, "amd64");
        let child = Command::new(&binary)
            .env("GOMEMLIMIT", gomemlimit)
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
            cluster_port: ports.cluster,
            http_port,
            log,
        };
        server.wait_for_log("Server is ready");
        server
    }

    pub fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.client_port)
    }

    /// What `systemctl reload` does (after the unit's config check): SIGHUP, and the
    /// server says it reloaded.
    pub fn reload(&self) {
        let before = self.log().matches("Reloaded server configuration").count();
        tool_ok("kill", &["-HUP", &self.child.id().to_string()]);
        let done = wait_for(Duration::from_secs(30), || {
            (self.log().matches("Reloaded server configuration").count() > before).then_some(())
        });
        assert!(
            done.is_some(),
            "[{}] did not reload:\n{}",
            self.name,
            self.log()
        );
    }

    /// The notAfter of the certificate the server presents on `port` to a peer presenting
    /// `cert` (a user's on the client port, a node's on the route port).
    pub fn presented_not_after(&self, port: u16, ca: &Path, cert: (&Path, &Path)) -> String {
        let info_first = port == self.client_port;
        let pem = presented_certificate("127.0.0.1", port, info_first, ca, cert);
        certificate_field(&pem, "-enddate")
    }

    /// The client connection ids the server has open.
    pub fn connection_ids(&self) -> Vec<u64> {
        let url = format!("http://127.0.0.1:{}/connz", self.http_port);
        let connz: Value =
            serde_json::from_str(&reqwest::blocking::get(url).unwrap().text().unwrap()).unwrap();
        connz["connections"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["cid"].as_u64()).collect())
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_for_log(&self, line: &str) {
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
    pub fn closed_connection(&self, port: u16) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/connz?state=closed", self.http_port);
        let connz: Value =
            serde_json::from_str(&reqwest::blocking::get(url).ok()?.text().ok()?).ok()?;
        connz["connections"]
            .as_array()?
            .iter()
            .find(|c| c["port"].as_u64() == Some(u64::from(port)))
            .and_then(|c| c["reason"].as_str().map(str::to_string))
    }

    /// The server names of the leaf nodes connected to this server.
    pub fn leaf_nodes(&self) -> Vec<String> {
        let url = format!("http://127.0.0.1:{}/leafz", self.http_port);
        let body = reqwest::blocking::get(url).unwrap().text().unwrap();
        let leafz: Value = serde_json::from_str(&body).unwrap();
        leafz["leafs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The server names this server has routes to.
    pub fn routes(&self) -> Vec<String> {
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
