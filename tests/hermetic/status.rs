//! `forest status` against a closed three-node forest on loopback (real nats-servers,
//! configured as the packages configure them): healthy with every field right, degraded
//! with one node stopped (that node named), unreachable with nothing to ask.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::local_forest::*;
use crate::nats::{ClientTls, Nats};

/// `forest status --dir DIR --server URL [--json]`: (exit status, stdout).
pub fn status(project: &Project, forest: &TestForest, server: &str, json: bool) -> (i32, String) {
    let mut args = vec!["forest", "status", "--dir"];
    args.push(forest.dir.to_str().unwrap());
    args.extend(["--server", server]);
    if json {
        args.push("--json");
    }
    let out = project.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "forest status wrote to stderr: {stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn forest_status_sees_every_node_names_a_stopped_one_and_says_when_nothing_answers() {
    let project = Project::new();
    let names = ["node1", "node2", "node3"];
    let forest = TestForest::new(&project, "forest", "forest-s", &names);
    let trust = project.path().join("trust");
    install_trust(&trust, &forest.deb());
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let mut servers: Vec<Server> = names
        .iter()
        .zip(&ports)
        .map(|(name, port)| {
            Server::start(name, "forest-s", &trust, &forest.key(name), *port, &ports)
        })
        .collect();
    let url = servers[0].url();

    // Healthy once the routes are up and JetStream has a meta leader.
    let healthy = wait_for(Duration::from_secs(60), || {
        let (code, out) = status(&project, &forest, &url, false);
        (code == 0).then_some(out)
    });
    let text = healthy.unwrap_or_else(|| {
        let (code, out) = status(&project, &forest, &url, false);
        panic!("never healthy (exit {code}):\n{out}")
    });
    eprintln!("{text}");
    assert!(
        text.starts_with("forest forest-s (trust version 4): healthy: 3 nodes answer"),
        "{text}"
    );

    // An R3 stream: its replicas are part of the verdict.
    let app = ClientTls::user(&forest.dir, "app");
    let client = Nats::connect_with(std::slice::from_ref(&url), Some(&app)).expect("app connects");
    client
        .create_stream("ORDERS", &["orders.>"], 3)
        .expect("R3 stream");
    for n in 0..20 {
        client
            .publish("orders.new", format!("{n}").as_bytes())
            .unwrap();
    }
    drop(client);

    let (code, json) = status(&project, &forest, &url, true);
    assert_eq!(code, 0, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["verdict"], "healthy");
    assert_eq!(report["trust_version"], 4);
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let mut leaders = 0;
    for node in nodes {
        let name = node["name"].as_str().unwrap();
        assert_eq!(node["answered"], true, "{name}");
        assert_eq!(node["version"], NEW, "{name}");
        assert_eq!(node["routes"], 2, "{name}");
        assert_eq!(node["health"], "ok", "{name}");
        assert_eq!(node["current"], true, "{name}");
        assert_eq!(node["trust_version"], 4, "{name}");
        let days = node["certificate_days_left"].as_i64().unwrap();
        assert!((363..=365).contains(&days), "{name}: {days} days");
        assert!(node["uptime"].as_str().is_some_and(|u| u.ends_with('s')));
        match node["jetstream"].as_str() {
            Some("leader") => leaders += 1,
            Some("follower") => {}
            other => panic!("{name}: jetstream {other:?}"),
        }
    }
    assert_eq!(leaders, 1);
    assert_eq!(report["streams_behind"], Value::Array(vec![]));

    // node3 stopped: degraded, named; the others answer.
    drop(servers.pop());
    let degraded = wait_for(Duration::from_secs(30), || {
        let (code, out) = status(&project, &forest, &url, false);
        (code == 1 && out.contains("has routes to 1 of the 2 other nodes of its cluster"))
            .then_some(out)
    })
    .unwrap_or_else(|| {
        let (code, out) = status(&project, &forest, &url, false);
        panic!("not degraded with node3 stopped (exit {code}):\n{out}")
    });
    eprintln!("{degraded}");
    let verdict = degraded.lines().next().unwrap();
    assert!(
        verdict.starts_with("forest forest-s (trust version 4): degraded: node3 does not answer"),
        "{degraded}"
    );
    assert!(
        degraded.contains("\nnode3            no answer\n"),
        "{degraded}"
    );
    let (code, json) = status(&project, &forest, &url, true);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["verdict"], "degraded");
    assert_eq!(report["nodes"][2]["answered"], false);

    // Nothing answers: unreachable, exit 2.
    drop(servers);
    let (code, out) = status(&project, &forest, &url, false);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("forest forest-s (trust version 4): unreachable: "),
        "{out}"
    );
    let (code, json) = status(&project, &forest, &url, true);
    assert_eq!(code, 2);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["verdict"], "unreachable");
}
