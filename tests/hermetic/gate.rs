//! The health gate (`assets/nimsforest-nats-ready`, the unit's ExecStartPost) against
//! real servers of a closed forest on loopback: ready when no meta leader is to be had,
//! ready when current with its peers, and, with nothing to ask, it says so when stopped. The
//! system tier proves what it is for: upgrades that wait (tests/system/gate.rs).

use std::process::{Command, Output, Stdio};

use crate::harness::*;
use crate::local_forest::*;

/// The gate against `monitor` (HOST:PORT), stopped with SIGTERM after `limit` seconds as
/// systemd does past TimeoutStartSec.
fn gate(monitor: &str, alone_after: u32, limit: u32) -> Output {
    Command::new("timeout")
        .arg("--preserve-status")
        .arg(limit.to_string())
        .arg("bash")
        .arg(repo_root().join("assets/nimsforest-nats-ready"))
        .env("NIMSFOREST_MONITOR", monitor)
        .env("NIMSFOREST_READY_ALONE", alone_after.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_gate_waits_for_peers_it_can_reach_and_not_for_those_it_cannot() {
    let project = Project::new();
    let names = ["node1", "node2", "node3"];
    let forest = TestForest::new(&project, "forest", "forest-g", &names);
    let trust = project.path().join("trust");
    install_trust(&trust, &forest.deb());
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let start = |i: usize| {
        Server::start(
            names[i],
            "forest-g",
            &trust,
            &forest.key(names[i]),
            ports[i],
            &ports,
        )
    };

    // Alone: no peer is up, JetStream has no meta leader; ready once alone long enough.
    let node1 = start(0);
    let monitor = format!("127.0.0.1:{}", node1.http_port);
    let alone = gate(&monitor, 2, 60);
    eprintln!("{}", said(&alone));
    assert!(alone.status.success(), "{}", said(&alone));
    assert!(
        said(&alone).contains("serving clients; no other node reached yet"),
        "{}",
        said(&alone)
    );

    // The forest up: ready only once current with its peers (a meta leader elected and
    // every stream caught up), however long it is allowed to be alone.
    let others = [start(1), start(2)];
    let current = gate(&monitor, 600, 120);
    eprintln!("{}", said(&current));
    assert!(current.status.success(), "{}", said(&current));
    assert!(
        said(&current).contains("current with its JetStream peers"),
        "{}",
        said(&current)
    );
    drop(others);

    // Nothing answers: still waiting when stopped, and it says for what.
    drop(node1);
    let stopped = gate(&monitor, 2, 3);
    assert_eq!(stopped.status.code(), Some(1), "{}", said(&stopped));
    assert!(
        said(&stopped).contains(&format!(
            "not ready after 3 s: the monitoring port {monitor} does not answer yet"
        )),
        "{}",
        said(&stopped)
    );
}
