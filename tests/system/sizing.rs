//! A node sized at install: JetStream's limits from the machine (or node-info.json), the
//! server's GOMEMLIMIT and memory limits. A node whose store is small (64 MB, from
//! node-info.json) fills a stream: publishes are refused with the server's resource error
//! while the server stays up and healthy; freeing space brings them back; after a restart
//! every stored message is intact.

use crate::fixture::repository::{apt, client_url, debian_node, main_pid, wait_until_serving};
use crate::nats::Nats;
use crate::node::*;

const STORE: u64 = 64 * 1024 * 1024;
const MESSAGE: usize = 256 * 1024;

fn payload(i: u64) -> Vec<u8> {
    let mut data = format!("message {i} ").into_bytes();
    data.resize(MESSAGE, b'.');
    data
}

#[test]
fn a_full_store_refuses_publishes_and_the_server_stays_healthy() {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian("bookworm"), &mut network, "small");
    node.ok(&["mkdir", "-p", "/etc/morpheus"]);
    node.write(
        "/etc/morpheus/node-info.json",
        b"{\n  \"max_file_store\": \"64MB\"\n}\n",
    );
    apt(&node, &["update"]);
    apt(&node, &["install", "nimsforest-nats"]);

    // Sized: the override, the machine's memory, GOMEMLIMIT and the unit's limits.
    let sizing = node.read("/etc/nimsforest/sizing.conf");
    eprintln!("{sizing}");
    assert!(
        sizing.contains(&format!("\nmax_file_store: {STORE}\n")),
        "{sizing}"
    );
    let memory: u64 = node
        .ok(&["cat", "/proc/meminfo"])
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("MemTotal");
    let max_memory: u64 = sizing
        .lines()
        .find_map(|l| l.strip_prefix("max_memory_store: "))
        .and_then(|v| v.parse().ok())
        .expect("max_memory_store");
    assert!(
        max_memory <= memory * 1024 / 4,
        "{max_memory} of {memory} kB"
    );
    let environ = node.ok(&["cat", &format!("/proc/{}/environ", main_pid(&node))]);
    let gomemlimit = environ
        .split('\0')
        .find_map(|v| v.strip_prefix("GOMEMLIMIT="))
        .unwrap_or_else(|| panic!("no GOMEMLIMIT in the server's environment: {environ:?}"));
    eprintln!("GOMEMLIMIT={gomemlimit}");
    assert!(gomemlimit
        .parse::<u64>()
        .is_ok_and(|g| g <= memory * 1024 / 5 * 4));
    let limits = node
        .run(&[
            "systemctl",
            "show",
            "-p",
            "MemoryHigh",
            "-p",
            "MemoryMax",
            "nimsforest-nats",
        ])
        .1;
    eprintln!("{limits}");
    assert!(!limits.contains("=infinity"), "{limits}");
    let varz: serde_json::Value =
        serde_json::from_str(&node.http_get("http://127.0.0.1:8222/varz").1).expect("varz");
    assert_eq!(varz["jetstream"]["config"]["max_storage"], STORE, "{varz}");

    // Filled: the server's resource error, the server healthy.
    let client = wait_until_serving(&node);
    client
        .create_stream("FILL", &["fill.>"], 1)
        .expect("create stream");
    let mut stored = 0u64;
    let refusal = loop {
        match client.publish("fill.data", &payload(stored + 1)) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored * (MESSAGE as u64) < 2 * STORE, "never refused");
    };
    eprintln!(
        "{stored} messages of {} KiB stored; then: {refusal}",
        MESSAGE / 1024
    );
    assert!(refusal.contains("insufficient resources"), "{refusal}");
    assert_eq!(node.http_get("http://127.0.0.1:8222/healthz").0, 200);
    assert_eq!(
        node.systemctl_state("is-active", "nimsforest-nats"),
        "active"
    );

    // Space freed: publishes accepted again.
    let first = stored / 2;
    let purged = client.purge_before("FILL", first).expect("purge");
    assert_eq!(purged, first - 1);
    for _ in 0..3 {
        stored += 1;
        assert_eq!(client.publish("fill.data", &payload(stored)), Ok(stored));
    }
    drop(client);

    // Restarted: every stored message intact.
    node.ok(&["systemctl", "restart", "nimsforest-nats"]);
    let client = Nats::connect(&client_url(&node)).expect("client after the restart");
    let messages = client.read_stream_from("FILL", first).expect("read back");
    assert_eq!(messages.len() as u64, stored - first + 1);
    for (i, message) in (first..).zip(&messages) {
        assert!(
            *message == payload(i),
            "message {i} differs after the restart"
        );
    }
    eprintln!("after the restart, messages {first} to {stored} read back intact");
}
