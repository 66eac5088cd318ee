//! A NATS cluster formed from the packages, the way the fleet runs: three booted nodes on
//! a private network, each given the #cloud-config user-data that `nimsforest-pkg
//! cloud-init` generates for it (forest id, its server name, the routes of all three).
//! Real cloud-init runs it at first boot from a NoCloud seed: it trusts the key, adds the
//! source, writes node-info.json and installs nimsforest-nats from the signed repository.

use crate::fixture::forest::*;
use crate::harness::*;

#[test]
fn three_nodes_form_a_cluster_survive_losing_one_and_a_broken_cluster_conf() {
    let (cluster, formed) = Cluster::form(None);
    eprintln!("formation: {formed:.1?}");
    for node in &cluster.nodes {
        assert_eq!(crate::fixture::repository::varz(node, "version"), NEW);
        let cluster_name = monitor(node, "/varz").expect("varz")["cluster"]["name"].clone();
        assert_eq!(cluster_name, FOREST, "[{}]", node.name);
    }

    // 1. An R3 stream created through node1, written through node2, read through node3.
    let (c1, c2, c3) = (cluster.client(0), cluster.client(1), cluster.client(2));
    c1.create_stream(STREAM, &["events.>"], 3)
        .expect("create R3 stream");
    for id in 1..=50 {
        assert_eq!(publish_until_acknowledged(&c2, id), id);
    }
    assert_eq!(
        c3.read_stream(STREAM).expect("read via node3"),
        payloads(1..=50)
    );
    cluster.wait_until_replicas_at(50);
    drop((c1, c2, c3));

    // `forest status`, from the operator's machine through node2: every node, one verdict.
    let (code, report) = cluster.status(&cluster.nodes[1], false);
    eprintln!("forest status, exit {code}:\n{report}");
    assert_eq!(code, 0, "{report}");
    assert!(report.contains(": healthy: 3 nodes answer"), "{report}");
    let (_, json) = cluster.status(&cluster.nodes[1], true);
    let json: serde_json::Value = serde_json::from_str(&json).expect("--json");
    let nodes = json["nodes"].as_array().expect("nodes");
    for (node, reported) in cluster.nodes.iter().zip(nodes) {
        assert_eq!(reported["name"], node.name.as_str());
        assert_eq!(reported["version"], NEW, "{reported}");
        assert_eq!(reported["routes"], 2, "{reported}");
        assert_eq!(reported["health"], "ok", "{reported}");
        assert_eq!(
            reported["trust_version"],
            cluster.trust_version(),
            "{reported}"
        );
    }
    let leaders = nodes.iter().filter(|n| n["jetstream"] == "leader").count();
    assert_eq!(leaders, 1, "{json}");

    // 2. Node loss: node3's server stops; the other two keep the stream writable and
    // readable; node3 catches up when it is back.
    let node3 = &cluster.nodes[2];
    node3.ok(&["systemctl", "stop", "nimsforest-nats"]);
    let (code, report) = cluster.status(&cluster.nodes[0], false);
    eprintln!("forest status with node3 stopped, exit {code}:\n{report}");
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("degraded: node3 does not answer"),
        "{report}"
    );
    let (code, report) = cluster.status(node3, false);
    eprintln!("forest status through node3 alone, exit {code}:\n{report}");
    assert_eq!(code, 2, "{report}");
    assert!(report.contains(": unreachable: "), "{report}");
    let (c1, c2) = (cluster.client(0), cluster.client(1));
    for id in 51..=75 {
        assert_eq!(publish_until_acknowledged(&c1, id), id);
    }
    assert_eq!(
        c2.read_stream(STREAM).expect("read via node2"),
        payloads(1..=75)
    );
    node3.ok(&["systemctl", "start", "nimsforest-nats"]);
    cluster.wait_until_replicas_at(75);
    cluster.wait_until_formed();
    drop((c1, c2));

    // 4. A broken cluster.conf: node3 fails its config check and stays down; the cluster
    // goes on without it.
    let good = node3.read("/etc/nimsforest/cluster.conf");
    node3.write(
        "/etc/nimsforest/cluster.conf",
        format!("{good}\ncluster {{\n    routes: [\n").as_bytes(),
    );
    let (ok, out) = node3.run(&["systemctl", "restart", "nimsforest-nats"]);
    assert!(!ok, "node3 restarted with a broken cluster.conf:\n{out}");
    assert_ne!(
        node3.systemctl_state("is-active", "nimsforest-nats"),
        "active"
    );
    let log = journal(node3);
    assert!(
        log.contains("error parsing include file 'cluster.conf'"),
        "the config check did not say what is wrong:\n{log}"
    );
    eprintln!("node3 with a broken cluster.conf:\n{log}");
    let (c1, c2) = (cluster.client(0), cluster.client(1));
    for id in 76..=85 {
        assert_eq!(publish_until_acknowledged(&c1, id), id);
    }
    assert_eq!(
        c2.read_stream(STREAM).expect("read via node2"),
        payloads(1..=85)
    );
    drop((c1, c2));
    // Fixed, node3 rejoins and catches up.
    node3.write("/etc/nimsforest/cluster.conf", good.as_bytes());
    node3.ok(&["systemctl", "reset-failed", "nimsforest-nats"]);
    node3.ok(&["systemctl", "restart", "nimsforest-nats"]);
    cluster.wait_until_replicas_at(85);
    cluster.wait_until_formed();
}
