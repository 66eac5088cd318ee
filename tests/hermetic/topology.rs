//! Topologies on loopback, configured by the package's own `nimsforest-cluster-conf` from
//! node-info.json with the forest's certificates, on the real nats-server: a leaf node
//! beside a core node (messages both ways, JetStream in the leaf's own domain sourced by
//! the core), two clusters of one node joined by a gateway, and strangers refused at both
//! doors with the server's own log line.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::*;
use crate::local_forest::*;
use crate::nats::{ClientTls, Nats};
use crate::status::status;
use crate::stranger::{leaf_strangers, Door, Stranger, StrangerTls};

/// Waits until `server`'s log holds `line` more often than `before` times.
fn wait_for_more(server: &Server, line: &str, before: usize) {
    let seen = wait_for(Duration::from_secs(30), || {
        (server.log().matches(line).count() > before).then_some(())
    });
    assert!(
        seen.is_some(),
        "[{}] no new {line:?} in the log:\n{}",
        server.name,
        server.log()
    );
}

fn node_files(forest: &TestForest, name: &str) -> (PathBuf, PathBuf) {
    let dir = forest.dir.join("nodes").join(name);
    (dir.join("node.pem"), dir.join("node-key.pem"))
}

#[test]
fn a_leaf_node_keeps_its_own_jetstream_reaches_the_core_and_strangers_are_refused() {
    let project = Project::new();
    let forest = TestForest::new(&project, "forest", "f-1", &["core1"]);
    let trust = project.path().join("installed-trust");
    install_trust(&trust, &forest.deb());
    let core_ports = Ports::free();
    let core = Server::start_with(
        "core1",
        &trust,
        &forest.key("core1"),
        "{\"forest_id\": \"f-1\"}",
        core_ports,
    );
    // The leaf joins the running forest: a new trust version, applied with a reload.
    forest.add_leaf(&project, "edge1");
    install_trust(&trust, &forest.deb());
    core.reload();
    let edge_info = format!(
        "{{\"forest_id\": \"f-1\", \"role\": \"leaf\", \"hubs\": [\"nats-leaf://127.0.0.1:{}\"]}}",
        core_ports.leaf
    );
    let edge = Server::start_with(
        "edge1",
        &trust,
        &forest.key("edge1"),
        &edge_info,
        Ports::free(),
    );
    core.wait_for_log("Leafnode connection created");

    // Core NATS both ways, for the forest's users on either side.
    let app = ClientTls::user(&forest.dir, "app");
    let on_core = Nats::connect_with(&[core.url()], Some(&app)).expect("app on the core");
    let on_edge = Nats::connect_with(&[edge.url()], Some(&app)).expect("app on the edge");
    let took = on_edge.reaches(&on_core, "edge.hello").unwrap();
    eprintln!("edge -> core in {took:?}");
    on_core.reaches(&on_edge, "core.hello").unwrap();

    // JetStream at the edge, in its own domain; a stream on the core sources it.
    on_edge.create_stream("EDGE", &["sensor.>"], 1).unwrap();
    let sent: Vec<Vec<u8>> = (0..20).map(|i| format!("m{i}").into_bytes()).collect();
    for m in &sent {
        on_edge.publish("sensor.t", m).unwrap();
    }
    on_core
        .create_sourced_stream("FROM_EDGE", "EDGE", "edge1")
        .unwrap();
    let copied = wait_for(Duration::from_secs(30), || {
        (on_core.stream_state("FROM_EDGE").ok()? == (20, 20)).then_some(())
    });
    assert!(copied.is_some(), "{:?}", on_core.stream_state("FROM_EDGE"));
    assert_eq!(on_core.read_stream("FROM_EDGE").unwrap(), sent);

    // forest status sees the leaf through the core, and misses it once it is gone.
    let (code, text) = status(&project, &forest, &core.url(), false);
    eprintln!("{text}");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("edge1            leaf node, connected to core1"),
        "{text}"
    );

    // Strangers at the leaf node door: refused, each with the hub's own words.
    let other = TestForest::new(&project, "other", "f-2", &[]);
    other.add_leaf(&project, "edge9");
    let strangers = leaf_strangers(&forest.dir, "core1", &other.dir, "edge9");
    for (who, tls, line) in strangers {
        let before = core.log().matches(line).count();
        let target = format!("127.0.0.1:{}", core_ports.leaf);
        let stranger = Stranger::start(Door::Leaf, &target, Some(tls));
        wait_for_more(&core, line, before);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            core.leaf_nodes(),
            ["edge1"],
            "{who} got in:\n{}",
            core.log()
        );
        drop(stranger);
        eprintln!("{who}: refused ({line})");
    }

    // Revoked: the next trust version, applied with a reload, refuses it; `forest remove`
    // closes the connection it still has, and it cannot come back.
    forest.ok(&project, &["revoke", "edge1"]);
    install_trust(&trust, &forest.deb());
    core.reload();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        core.leaf_nodes(),
        ["edge1"],
        "open connections outlive a reload"
    );
    let removed = forest.ok(&project, &["remove", "edge1", "--server", &core.url()]);
    assert!(
        removed.contains("leaf node edge1: its connections to core1 are closed"),
        "{removed}"
    );
    let dropped = wait_for(Duration::from_secs(30), || {
        core.leaf_nodes().is_empty().then_some(())
    });
    assert!(dropped.is_some(), "the revoked leaf is still connected");
    std::thread::sleep(Duration::from_secs(3));
    assert!(core.leaf_nodes().is_empty(), "the revoked leaf came back");
    drop(on_edge);
    drop(edge);
    let (code, text) = status(&project, &forest, &core.url(), false);
    assert_eq!(code, 0, "a revoked leaf is no longer expected: {text}");
}

#[test]
fn two_clusters_joined_by_a_gateway_pass_messages_and_refuse_a_stranger_gateway() {
    let project = Project::new();
    let forest = TestForest::new(&project, "forest", "f-1", &["w1", "e1"]);
    forest.add_leaf(&project, "edge1");
    let trust = project.path().join("installed-trust");
    install_trust(&trust, &forest.deb());
    let (west, east) = (Ports::free(), Ports::free());
    let info = |cluster: &str, own: Ports, other: &str, theirs: Ports| {
        format!(
            "{{\"forest_id\": \"f-1\", \"cluster\": \"{cluster}\", \
             \"routes\": [\"nats-route://127.0.0.1:{}\"], \
             \"gateways\": {{\"{other}\": [\"nats://127.0.0.1:{}\"]}}}}",
            own.cluster, theirs.gateway
        )
    };
    let w1 = Server::start_with(
        "w1",
        &trust,
        &forest.key("w1"),
        &info("west", west, "east", east),
        west,
    );
    let e1 = Server::start_with(
        "e1",
        &trust,
        &forest.key("e1"),
        &info("east", east, "west", west),
        east,
    );
    w1.wait_for_log("Inbound gateway connection from \"east\"");
    e1.wait_for_log("Inbound gateway connection from \"west\"");
    // A trust change (a renewal) applies to gateways with a reload too.
    forest.ok(&project, &["renew", "w1"]);
    install_trust(&trust, &forest.deb());
    w1.reload();
    e1.reload();

    let app = ClientTls::user(&forest.dir, "app");
    let on_west = Nats::connect_with(&[w1.url()], Some(&app)).expect("app in the west");
    let on_east = Nats::connect_with(&[e1.url()], Some(&app)).expect("app in the east");
    let took = on_west.reaches(&on_east, "orders.west").unwrap();
    eprintln!("west -> east in {took:?}");
    on_east.reaches(&on_west, "orders.east").unwrap();

    // One forest status through the west sees both clusters.
    let healthy = wait_for(Duration::from_secs(60), || {
        let (code, text) = status(&project, &forest, &w1.url(), false);
        (code == 1
            && text.contains("edge1 is not connected")
            && !text.contains("does not answer")
            && !text.contains("meta leader"))
        .then_some(text)
    });
    let text = healthy.unwrap_or_else(|| status(&project, &forest, &w1.url(), false).1);
    eprintln!("{text}");
    assert!(text.contains("\ne1 ") && text.contains("\nw1 "), "{text}");

    // A stranger gateway with a leaf node's certificate of the forest: refused.
    let before = w1.log().matches("authentication error").count();
    let stranger = Stranger::start(
        Door::Gateway {
            cluster: "west".into(),
        },
        &format!("127.0.0.1:{}", west.gateway),
        Some(StrangerTls {
            ca: forest.dir.join("ca.pem"),
            cert: Some(node_files(&forest, "edge1")),
        }),
    );
    wait_for_more(&w1, "authentication error", before);
    drop(stranger);
    assert!(
        !w1.log()
            .contains("Inbound gateway connection from \"stranger\""),
        "{}",
        w1.log()
    );
}
