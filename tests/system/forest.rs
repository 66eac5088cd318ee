//! A closed forest on booted nodes: the three-node cluster that cloud-init installs from
//! `nimsforest-pkg cloud-init --forest`, probed from its own network by everyone who must
//! not get in (each refusal asserted by the server's own log line), then its route
//! certificates rotated one node at a time by `systemctl reload` while a publisher keeps
//! writing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use std::time::Duration;

use nimsforest_pkg::forest::{Forest, NodeRole, Validity};

use crate::fixture::forest::*;
use crate::harness::*;
use crate::nats::{ClientTls, Nats};
use crate::node::*;
use crate::stranger::{Door, Stranger, StrangerTls};

fn server_log(node: &Node) -> String {
    node.read("/var/log/nimsforest/nats.log")
}

/// Waits until `node`'s log holds `line` more often than it did (`before` times): the
/// server's own word on `what` happened.
fn wait_for_log(node: &Node, line: &str, before: usize, what: &str) {
    let logged = wait_for(Duration::from_secs(30), || {
        (server_log(node).matches(line).count() > before).then_some(())
    });
    assert!(
        logged.is_some(),
        "[{}] {what}: no {line:?} in the server's log:\n{}",
        node.name,
        server_log(node)
    );
    eprintln!("[{}] {what}: {line}", node.name);
}

/// The forest's nodes still route only to each other.
fn assert_routes_only_among(cluster: &Cluster) {
    for node in &cluster.nodes {
        let mut peers = route_names(node).expect("routez");
        peers.sort();
        peers.dedup();
        let others: Vec<&str> = cluster
            .nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(peers, others, "[{}] routes", node.name);
    }
}

/// Another forest made by the tool in `dir` (named `forest_id`), with a node certificate:
/// (certificate, key).
fn other_forest(project: &Project, dir: &Path, forest_id: &str) -> (PathBuf, PathBuf) {
    let d = dir.to_str().expect("utf-8");
    project.ok(&["forest", "init", "--dir", d, "--forest-id", forest_id]);
    project.ok(&[
        "forest",
        "node",
        "--dir",
        d,
        "--name",
        "stranger",
        "--address",
        "10.9.9.9",
    ]);
    (
        dir.join("nodes/stranger/node.pem"),
        dir.join("nodes/stranger/node-key.pem"),
    )
}

#[test]
fn a_closed_forest_refuses_strangers() {
    let (mut cluster, formed) = Cluster::form(None);
    eprintln!("formation: {formed:.1?}");
    cluster
        .client(0)
        .create_stream(STREAM, &["events.>"], 3)
        .expect("create R3 stream");
    let node1_address = cluster.nodes[0].address.clone();
    let url = [tls_url(&cluster.nodes[0])];
    let ca = cluster.forest.join("ca.pem");
    let log = |c: &Cluster, line: &str| server_log(&c.nodes[0]).matches(line).count();

    // 1. Clients. A plaintext client: INFO says TLS is required, and nothing else is answered. The
    // server logs such a probe only at debug level (load balancers send them); its record
    // of closed connections names the connection and why it was closed.
    let mut plain = TcpStream::connect((node1_address.as_str(), 4222)).expect("connect 4222");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(plain.try_clone().expect("clone"));
    let mut info = String::new();
    reader.read_line(&mut info).expect("INFO");
    assert!(info.contains("\"tls_required\":true"), "{info}");
    plain
        .write_all(b"CONNECT {\"verbose\":false}\r\nSUB > 1\r\nPING\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = reader.read_line(&mut answer);
    assert!(
        !answer.contains("PONG"),
        "a plaintext client was answered: {answer}"
    );
    let port = plain.local_addr().expect("local address").port();
    let reason = wait_for(Duration::from_secs(30), || {
        let connz = monitor(&cluster.nodes[0], "/connz?state=closed").ok()?;
        connz["connections"]
            .as_array()?
            .iter()
            .find(|c| c["port"].as_u64() == Some(u64::from(port)))
            .and_then(|c| c["reason"].as_str().map(str::to_string))
    });
    assert_eq!(
        reason.as_deref(),
        Some("TLS Handshake Failure"),
        "a plaintext client"
    );
    eprintln!("[node1] refused a plaintext client: closed with TLS Handshake Failure");

    // TLS clients: one without credentials (trusting the forest CA, no certificate), one
    // with a certificate of another CA (another forest's user).
    let project = Project::new();
    let forest2 = project.path().join("forest-2");
    let d2 = forest2.to_str().expect("utf-8");
    project.ok(&["forest", "init", "--dir", d2, "--forest-id", "forest-2"]);
    for (who, cert, line) in [
        (
            "a client without credentials",
            None,
            "TLS handshake error: tls: client didn't provide a certificate",
        ),
        (
            "a client with another CA's certificate",
            ClientTls::user(&forest2, "app").cert,
            "TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority",
        ),
    ] {
        let before = log(&cluster, line);
        let client = ClientTls { ca: ca.clone(), cert };
        assert!(Nats::connect_with(&url, Some(&client)).is_err(), "{who} got in");
        wait_for_log(&cluster.nodes[0], line, before, &format!("refused {who}"));
    }

    // 2. Servers dialing the route port, each refused by node1's route TLS.
    let forest3 = project.path().join("forest-3");
    let other = other_forest(&project, &forest3, "forest-3");
    let impostor = other_forest(&project, &project.path().join("impostor"), FOREST);
    let expired = Validity {
        not_before: time::OffsetDateTime::now_utc() - time::Duration::days(30),
        not_after: time::OffsetDateTime::now_utc() - time::Duration::days(1),
    };
    let address = [cluster
        .network
        .unused_address()
        .parse()
        .expect("an address")];
    let mut forest = Forest::open(&cluster.forest).expect("the forest");
    forest
        .add_node("node9", &address, NodeRole::Core, expired)
        .expect("issue an expired certificate");
    let lapsed = forest.node_dir("node9");
    let lapsed = (lapsed.join("node.pem"), lapsed.join("node-key.pem"));
    let route_refused = "TLS route handshake error: tls:";
    for (who, certificate, line) in [
        (
            "a stranger server that knows the forest's name",
            None,
            "first record does not look like a TLS handshake",
        ),
        // Go's TLS client does not even present a certificate the forest CA did not issue.
        (
            "a stranger with a valid certificate of another forest",
            Some(&other),
            "client didn't provide a certificate",
        ),
        // Made by the same tool under the same name: its CA has our CA's name, not its key.
        (
            "a stranger with a valid certificate of an impostor forest of the same name",
            Some(&impostor),
            "failed to verify certificate: x509: certificate signed by unknown authority",
        ),
        (
            "a node of the forest whose certificate expired",
            Some(&lapsed),
            "failed to verify certificate: x509: certificate has expired or is not yet valid",
        ),
    ] {
        let line = format!("{route_refused} {line}");
        let before = log(&cluster, &line);
        let tls = certificate.map(|(cert, key)| StrangerTls {
            ca: ca.clone(),
            cert: Some((cert.clone(), key.clone())),
        });
        // From a namespace of its own on the forest's network.
        let (netns, _) = cluster.network.add_namespace();
        let door = Door::Route {
            cluster: FOREST.into(),
        };
        let target = format!("{}:6222", cluster.nodes[0].address);
        let stranger = Stranger::start_in(Some(&netns), door, &target, tls);
        wait_for_log(&cluster.nodes[0], &line, before, &format!("refused {who}"));
        assert_routes_only_among(&cluster);
        drop(stranger);
    }
}
