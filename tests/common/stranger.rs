//! A nats-server that is not of the forest (the real binary of the fixture release),
//! trying a forest's route, leaf node or gateway door with whatever it was given: no TLS,
//! TLS without a certificate, or someone's certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::{fixture_binary_in, free_port, NEW};

/// Which door a stranger tries.
pub enum Door {
    /// A route port of the cluster `cluster`: the stranger asks to join it.
    Route { cluster: String },
    /// A leaf node port: the stranger connects as a leaf node.
    Leaf,
    /// A gateway port of the cluster `cluster`: the stranger connects as a gateway.
    Gateway { cluster: String },
}

pub struct Stranger {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a stranger brings: TLS trusting `ca`, with `cert` (certificate, key) when given.
pub struct StrangerTls {
    pub ca: PathBuf,
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl Stranger {
    /// Starts trying `door` at `target` (HOST:PORT) from the host, over `tls` (plaintext
    /// without); it keeps trying until dropped.
    pub fn start(door: Door, target: &str, tls: Option<StrangerTls>) -> Self {
        Self::start_in(None, door, target, tls)
    }

    /// The same from the network namespace `netns` (an `ip netns` name) when given.
    pub fn start_in(
        netns: Option<&str>,
        door: Door,
        target: &str,
        tls: Option<StrangerTls>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = match tls {
            None => String::new(),
            Some(StrangerTls { ca, cert }) => {
                let mut block = format!("tls {{ ca_file: \"{}\"", ca.display());
                if let Some((cert, key)) = &cert {
                    block.push_str(&format!(
                        ", cert_file: \"{}\", key_file: \"{}\"",
                        cert.display(),
                        key.display()
                    ));
                }
                block.push_str(", timeout: 5 }");
                block
            }
        };
        let block = match door {
            // It knows the forest's name and where a node listens: all a stranger needs
            // to join an open cluster.
            Door::Route { cluster } => format!(
                "cluster {{\n name: \"{cluster}\"\n listen: \"0.0.0.0:{}\"\n {tls}\n routes: [\"nats-route://{target}\"]\n}}",
                free_port()
            ),
            Door::Leaf => format!(
                "leafnodes {{\n reconnect: 1\n remotes: [ {{\n urls: [\"nats-leaf://{target}\"]\n {tls}\n }} ]\n}}"
            ),
            Door::Gateway { cluster } => format!(
                "gateway {{\n name: \"stranger\"\n listen: \"0.0.0.0:{}\"\n {tls}\n \
                 gateways: [ {{ name: \"{cluster}\", urls: [\"nats://{target}\"] }} ]\n}}",
                free_port()
            ),
        };
        let conf = dir.path().join("stranger.conf");
        std::fs::write(
            &conf,
            format!(
                "server_name: stranger\nlisten: \"127.0.0.1:{}\"\n{block}\n",
                free_port()
            ),
        )
        .expect("stranger.conf");
        let binary = fixture_binary_in(dir.path(), NEW, "amd64");
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        let child = command
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the stranger's nats-server");
        Self { child, _dir: dir }
    }
}

/// The strangers a leaf node door must refuse, each with what the server logs: no
/// certificate, a user's and a core node's certificate of the forest in `forest` (its
/// directory), a leaf certificate of the forest in `other`. (who, what it brings, line)
pub fn leaf_strangers(
    forest: &Path,
    core_node: &str,
    other: &Path,
    other_leaf: &str,
) -> Vec<(&'static str, StrangerTls, &'static str)> {
    let ca = forest.join("ca.pem");
    let user = forest.join("users/app");
    let node = forest.join("nodes").join(core_node);
    let leaf = other.join("nodes").join(other_leaf);
    let with = |ca: &Path, cert: Option<(PathBuf, PathBuf)>| StrangerTls {
        ca: ca.to_path_buf(),
        cert,
    };
    vec![
        ("no certificate", with(&ca, None), "handshake error"),
        (
            "a user's certificate",
            with(
                &ca,
                Some((user.join("user.pem"), user.join("user-key.pem"))),
            ),
            "authentication error",
        ),
        (
            "a core node's certificate",
            with(
                &ca,
                Some((node.join("node.pem"), node.join("node-key.pem"))),
            ),
            "authentication error",
        ),
        (
            "another forest's leaf certificate",
            with(
                &other.join("ca.pem"),
                Some((leaf.join("node.pem"), leaf.join("node-key.pem"))),
            ),
            "handshake error",
        ),
    ]
}
