//! Topologies from the node's role, on booted nodes with real cloud-init: a leaf node
//! beside the closed three-node core (messages both ways, no vote in the core's
//! JetStream, strangers refused at the leaf node door, an edge that keeps storing while
//! its link is cut), and two clusters of one node each joined by a gateway.

use std::time::{Duration, Instant};

use crate::fixture::forest::*;
use crate::fixture::publisher::Publisher;
use crate::harness::*;
use crate::node::Node;
use crate::stranger::{leaf_strangers, Door, Stranger, StrangerTls};

/// How long the edge's link to the core stays cut while it keeps publishing.
const OUTAGE: Duration = Duration::from_secs(20);

/// The nats-server log of a node.
fn server_log(node: &Node) -> String {
    node.read("/var/log/nimsforest/nats.log")
}

/// The names of the leaf nodes connected to `node`.
fn leaf_names(node: &Node) -> Vec<String> {
    monitor(node, "/leafz")
        .ok()
        .and_then(|leafz| {
            leafz["leafs"].as_array().map(|leafs| {
                leafs
                    .iter()
                    .filter_map(|l| l["name"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A stranger tries `door` at `target` until `node`'s log holds `line` once more.
fn refused(node: &Node, door: Door, target: &str, tls: StrangerTls, line: &str) {
    let before = server_log(node).matches(line).count();
    let stranger = Stranger::start(door, target, Some(tls));
    let seen = wait_for(Duration::from_secs(60), || {
        (server_log(node).matches(line).count() > before).then_some(())
    });
    drop(stranger);
    assert!(
        seen.is_some(),
        "[{}] no new {line:?}:\n{}",
        node.name,
        server_log(node)
    );
}

/// What the node `name` of the forest presents: the forest CA and its certificate.
fn as_node(cluster: &Cluster, name: &str) -> StrangerTls {
    let dir = cluster.forest.join("nodes").join(name);
    StrangerTls {
        ca: cluster.forest.join("ca.pem"),
        cert: Some((dir.join("node.pem"), dir.join("node-key.pem"))),
    }
}

#[test]
fn a_leaf_node_joins_the_core_without_a_vote_keeps_storing_while_cut_off_and_strangers_are_refused()
{
    let (mut cluster, _) = Cluster::form(None);

    // edge1, a leaf node of the running forest: the core applies the trust that pins it,
    // then it boots with user-data naming the core nodes as its hubs.
    let mut edge = Node::create(&CLOUD_IMAGE.cached(), &mut cluster.network, "edge1");
    cluster.forest_ok(&[
        "node",
        "--name",
        "edge1",
        "--address",
        &edge.address,
        "--leaf",
    ]);
    cluster.publish_trust();
    cluster.apply_trust(&[0, 1, 2]);
    let hubs: Vec<String> = cluster
        .nodes
        .iter()
        .flat_map(|n| {
            [
                "--hub".to_string(),
                format!("nats-leaf://{}:7777", n.address),
            ]
        })
        .collect();
    let user_data = cluster.user_data_with(&edge, &hubs);
    cluster.seed(&mut edge, &user_data);
    let started = Instant::now();
    cluster.boot_more(edge);
    let edge_index = cluster.nodes.len() - 1;
    let edge = &cluster.nodes[edge_index];
    let hub = wait_for(Duration::from_secs(60), || {
        cluster.nodes[..3]
            .iter()
            .find(|n| leaf_names(n) == ["edge1"])
            .map(|n| n.name.clone())
    })
    .expect("edge1 never connected to a core node");
    eprintln!(
        "edge1 booted, installed and connected to {hub} in {:.1?}",
        started.elapsed()
    );
    let node_info = edge.read("/etc/morpheus/node-info.json");
    assert!(node_info.contains("\"role\": \"leaf\""), "{node_info}");
    let domain = edge.read("/etc/nimsforest/domain.conf");
    assert!(domain.contains("\ndomain: \"edge1\"\n"), "{domain}");

    // Messages both ways, for the forest's users at either end.
    let on_edge = cluster.client(edge_index);
    let on_core = cluster.client(0);
    for _ in 0..50 {
        on_edge.reaches(&on_core, "edge.to.core").unwrap();
        on_core.reaches(&on_edge, "core.to.edge").unwrap();
    }
    eprintln!("50 messages each way between edge1 and node1");

    // The leaf is no peer of the core's JetStream meta group.
    for node in &cluster.nodes[..3] {
        let jsz = monitor(node, "/jsz").unwrap();
        let meta = &jsz["meta_cluster"];
        assert_eq!(meta["cluster_size"], 3, "{meta}");
        assert!(!meta.to_string().contains("edge1"), "{meta}");
    }

    // Strangers at the leaf node door of node1, each refused in the server's own words.
    let node1 = &cluster.nodes[0];
    let door = format!("{}:7777", node1.address);
    let other = cluster.project.path().join("other-forest");
    let other_dist = cluster.project.path().join("other-dist");
    let (o, od) = (other.to_str().unwrap(), other_dist.to_str().unwrap());
    cluster.project.ok(&[
        "forest",
        "init",
        "--dir",
        o,
        "--out",
        od,
        "--forest-id",
        "stranger",
    ]);
    cluster.project.ok(&[
        "forest",
        "node",
        "--dir",
        o,
        "--out",
        od,
        "--name",
        "edge9",
        "--address",
        "10.9.9.9",
        "--leaf",
    ]);
    for (who, tls, line) in leaf_strangers(&cluster.forest, "node2", &other, "edge9") {
        refused(node1, Door::Leaf, &door, tls, line);
        assert!(!leaf_names(node1).contains(&"stranger".to_string()));
        eprintln!("a stranger leaf with {who}: refused ({line})");
    }

    // forest status sees the leaf through the core.
    let (code, report) = cluster.status(&cluster.nodes[1], false);
    eprintln!("forest status with a leaf node, exit {code}:\n{report}");
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("edge1            leaf node, connected to"),
        "{report}"
    );

    // The edge keeps storing while its link to the core is cut (its network drops what it
    // sends the core nodes; the test's clients still reach it from the host); the core's
    // stream sources it after.
    on_edge.create_stream("SENSORS", &["sensor.>"], 1).unwrap();
    on_core
        .create_sourced_stream("EDGE1_SENSORS", "SENSORS", "edge1")
        .unwrap();
    let publisher = Publisher::start_on(
        vec![tls_url(edge)],
        cluster.app(),
        "sensor.temperature".into(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let before_cut = on_edge.stream_state("SENSORS").unwrap().1;
    let core: Vec<String> = cluster.nodes[..3]
        .iter()
        .map(|n| n.address.clone())
        .collect();
    let core: Vec<&str> = core.iter().map(String::as_str).collect();
    edge.set_reachable(&core, false);
    std::thread::sleep(OUTAGE);
    let during = on_edge.stream_state("SENSORS").unwrap().1 - before_cut;
    let core_during = on_core.stream_state("EDGE1_SENSORS").unwrap().0;
    edge.set_reachable(&core, true);
    let restored = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let record = publisher.stop();
    let all = record.acknowledged;
    let caught_up = wait_for(Duration::from_secs(180), || {
        (on_core.stream_state("EDGE1_SENSORS").ok()?.0 == all).then(|| restored.elapsed())
    });
    let stored = on_core.read_stream("EDGE1_SENSORS").unwrap();
    eprintln!(
        "edge outage {OUTAGE:?}: {all} messages acknowledged at the edge ({during} while cut off, \
         {} failed attempts, longest gap {:.2?}, p99 {:.1?}); the core held {core_during} while \
         cut off and all {} {:?} after the link came back",
        record.failed_attempts,
        record.longest_gap,
        record.percentile(99),
        stored.len(),
        caught_up
    );
    assert!(
        during > 100,
        "the edge stopped storing while cut off: {during}"
    );
    assert!(
        caught_up.is_some(),
        "the core has {} of {all}",
        stored.len()
    );
    assert_eq!(
        stored,
        payloads(1..=all),
        "lost or duplicated on the way to the core"
    );
    drop(on_edge);
    drop(on_core);
}

#[test]
fn two_clusters_joined_by_a_gateway_pass_messages_and_refuse_a_stranger_gateway() {
    let (mut cluster, mut nodes) = Cluster::prepare(&["w1", "e1"], &["edge9"]);
    let _spare = nodes.pop();
    let (west, east) = (nodes[0].address.clone(), nodes[1].address.clone());
    let plans = [
        ("west", "east", east.clone()),
        ("east", "west", west.clone()),
    ];
    for (node, (own, other, other_address)) in nodes.iter_mut().zip(plans) {
        let extra: Vec<String> = vec![
            "--cluster".into(),
            own.into(),
            "--route".into(),
            format!("nats-route://{}:6222", node.address),
            "--gateway".into(),
            format!("{other}=nats://{other_address}:7222"),
        ];
        let user_data = cluster.user_data_with(node, &extra);
        cluster.seed(node, &user_data);
    }
    let started = Instant::now();
    cluster.boot(nodes);
    let joined = wait_for(Duration::from_secs(120), || {
        cluster
            .nodes
            .iter()
            .all(|n| {
                monitor(n, "/gatewayz").is_ok_and(|g| {
                    g["inbound_gateways"]
                        .as_object()
                        .is_some_and(|i| i.len() == 1)
                        && g["outbound_gateways"]
                            .as_object()
                            .is_some_and(|o| o.len() == 1)
                }) && monitor(n, "/healthz").is_ok()
            })
            .then(|| started.elapsed())
    });
    let joined = joined.unwrap_or_else(|| {
        panic!(
            "{:?}",
            cluster
                .nodes
                .iter()
                .map(|n| monitor(n, "/gatewayz"))
                .collect::<Vec<_>>()
        )
    });
    eprintln!("west and east booted and joined by their gateway in {joined:.1?}");

    let on_west = cluster.client(0);
    let on_east = cluster.client(1);
    for _ in 0..50 {
        on_west.reaches(&on_east, "orders.west").unwrap();
        on_east.reaches(&on_west, "orders.east").unwrap();
    }
    eprintln!("50 messages each way between the clusters west and east");
    // One status through the west sees both clusters; the one fault it finds is the
    // leaf node edge9, made only for its certificate and never booted.
    let (code, report) = cluster.status(&cluster.nodes[0], false);
    eprintln!("forest status of two clusters, exit {code}:\n{report}");
    assert!(
        report.contains("\nw1 ") && report.contains("\ne1 "),
        "{report}"
    );
    assert_eq!(code, 1, "{report}");
    assert!(
        report.starts_with(
            "forest forest-1 (trust version 4): degraded: leaf node edge9 is not connected to the core\n"
        ),
        "{report}"
    );

    // A stranger gateway with a leaf node's certificate of this very forest: refused.
    let w1 = &cluster.nodes[0];
    refused(
        w1,
        Door::Gateway {
            cluster: "west".into(),
        },
        &format!("{west}:7222"),
        as_node(&cluster, "edge9"),
        "authentication error",
    );
    let gatewayz = monitor(w1, "/gatewayz").unwrap();
    assert!(!gatewayz.to_string().contains("stranger"), "{gatewayz}");
    drop(on_west);
    drop(on_east);
}
