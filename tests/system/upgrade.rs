//! Upgrades of the closed three-node cluster as an operator writes them: a plain
//! sequential loop of `apt-get install` over the nodes, no sleeps and no checks of its
//! own. The package's health gate (`nimsforest-nats-ready`, the unit's ExecStartPost)
//! makes each install return only once its node is current with its JetStream peers; a
//! publisher with acknowledgements runs throughout, and every acknowledged message is
//! read back exactly once.
//!
//! The gate is then shown doing its work: a bulk writer, connected to the node upgraded
//! first, keeps a large stream busy, so that node has much to catch up on after its
//! restart. Without the gate (a drop-in that empties ExecStartPost) the loop goes on while
//! it is still behind; with the gate it waits. A downgrade one version back (supported by
//! nats-server one patch release back) keeps every stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fixture::forest::*;
use crate::fixture::publisher::*;
use crate::harness::*;
use crate::nats::Nats;
use crate::node::Node;

const BULK: &str = "BULK";
const BULK_MESSAGE: usize = 128 * 1024;

/// What one pass of the loop measured, per node.
struct Pass {
    installs: Vec<Install>,
}

struct Install {
    node: String,
    took: Duration,
    /// The node's own /healthz the moment the install returned (0: no answer).
    health: u16,
    /// The gate saw the node current with its JetStream peers during this install.
    gate_saw_it_current: bool,
}

/// The gate's lines that say a start found its node current with its peers.
fn gate_current_lines(node: &Node) -> usize {
    gate_said(node)
        .iter()
        .filter(|l| l.contains("current with its JetStream peers"))
        .count()
}

/// `apt-get install ARGS` on each node in turn, nothing in between.
fn plain_loop(cluster: &Cluster, args: &[&str]) -> Pass {
    let mut installs = Vec::new();
    for node in &cluster.nodes {
        let gate_before = gate_current_lines(node);
        let started = Instant::now();
        let mut command = vec!["apt-get", "-q", "-y"];
        command.extend_from_slice(args);
        let out = node.ok(&command);
        let took = started.elapsed();
        let unexpected: Vec<&str> = warnings(&out)
            .into_iter()
            .filter(|w| !w.contains("warning: downgrading nimsforest-nats"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "[{}] {unexpected:?}:\n{out}",
            node.name
        );
        let health = node.http_get("http://127.0.0.1:8222/healthz").0;
        installs.push(Install {
            node: node.name.clone(),
            took,
            health,
            gate_saw_it_current: gate_current_lines(node) > gate_before,
        });
    }
    Pass { installs }
}

impl Pass {
    fn print(&self, what: &str) {
        for i in &self.installs {
            eprintln!(
                "{what}: [{}] apt-get install took {:.1?}; /healthz {} when it returned; the gate saw it current: {}",
                i.node, i.took, i.health, i.gate_saw_it_current
            );
        }
    }

    /// Every node's /healthz said 200 the moment its install returned.
    fn every_node_was_current(&self) -> bool {
        self.installs.iter().all(|i| i.health == 200)
    }

    /// Every install returned only after the gate had seen its node current with its
    /// peers, and with the server answering. Under a saturating bulk load a follower may
    /// fall behind again an instant later (/healthz 503), which no gate can prevent.
    fn every_install_waited_for_a_current_node(&self) -> bool {
        self.installs
            .iter()
            .all(|i| i.gate_saw_it_current && i.health != 0)
    }
}

fn versions(cluster: &Cluster) -> Vec<String> {
    cluster
        .nodes
        .iter()
        .map(|node| crate::fixture::repository::varz(node, "version"))
        .collect()
}

/// The gate's own account of each start, from the node's journal.
fn gate_said(node: &Node) -> Vec<String> {
    node.run(&["journalctl", "-u", "nimsforest-nats", "--no-pager"])
        .1
        .lines()
        .filter(|l| l.contains("nimsforest-nats-ready: ready"))
        .map(str::to_string)
        .collect()
}

#[test]
fn rolling_upgrade_is_a_plain_loop_of_installs() {
    let (cluster, formed) = Cluster::form(Some(OLD));
    eprintln!("formation: {formed:.1?}");
    assert_eq!(versions(&cluster), [OLD; 3]);
    cluster
        .client(0)
        .create_stream(STREAM, &["events.>"], 3)
        .expect("create R3 stream");

    let publisher = Publisher::start(&cluster);
    std::thread::sleep(Duration::from_secs(2));
    let pass = plain_loop(&cluster, &["install", "nimsforest-nats"]);
    let record = publisher.stop();
    pass.print("rolling upgrade");
    for node in &cluster.nodes {
        eprintln!("[{}] {:?}", node.name, gate_said(node));
    }
    assert_nothing_lost(&cluster, &record, "rolling upgrade");
    assert!(
        pass.every_node_was_current(),
        "an install returned before its node was current"
    );
    assert_eq!(versions(&cluster), [NEW; 3]);
    let (code, status) = cluster.status(&cluster.nodes[0], false);
    eprintln!("forest status after the upgrade, exit {code}:\n{status}");
    assert_eq!(code, 0, "{status}");
}

/// Writes BULK_MESSAGE-byte messages to BULK as fast as acknowledgements come, through
/// the node it first connects to, until stopped; counts what was acknowledged.
struct BulkWriter {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl BulkWriter {
    fn start(cluster: &Cluster, via: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let client = Nats::connect_with(&[tls_url(&cluster.nodes[via])], Some(&cluster.app()))
            .expect("bulk writer connects");
        let thread = {
            let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let payload = vec![b'x'; BULK_MESSAGE];
                while !stop.load(Ordering::SeqCst) {
                    if client.publish("bulk.data", &payload).is_ok() {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        Self {
            stop,
            acknowledged,
            thread,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("bulk writer");
        self.acknowledged.load(Ordering::SeqCst)
    }
}

/// One pass under a bulk load: the figures, and what each install returned to.
fn under_bulk_load(cluster: &Cluster, what: &str, stream: &str, args: &[&str]) -> Pass {
    let subject = format!("{}.new", stream.to_lowercase());
    cluster
        .client(1)
        .create_stream(stream, &[&subject], 3)
        .expect("create R3 stream");
    let publisher = Publisher::start_on(cluster.urls(), cluster.app(), subject);
    let bulk = BulkWriter::start(cluster, 0);
    std::thread::sleep(Duration::from_secs(5));
    let pass = plain_loop(cluster, args);
    let written = bulk.stop();
    let record = publisher.stop();
    pass.print(what);
    eprintln!(
        "{what}: the bulk writer stored {written} messages of {} KiB",
        BULK_MESSAGE / 1024
    );
    let stored = cluster
        .client(2)
        .read_stream(stream)
        .expect("read the stream");
    assert_eq!(
        stored,
        payloads(1..=record.acknowledged),
        "{what}: acknowledged messages missing or duplicated"
    );
    eprintln!(
        "{what}: {} publish attempts, {} failed and retried, {} acknowledged and read back; longest publish gap {:.2?}; p99 {:.1?}",
        record.attempts,
        record.failed_attempts,
        record.acknowledged,
        record.longest_gap,
        record.percentile(99)
    );
    cluster.wait_until_formed();
    pass
}

#[test]
fn the_gate_holds_the_loop_until_the_node_caught_up_and_a_downgrade_keeps_the_streams() {
    let (cluster, formed) = Cluster::form(None);
    eprintln!("formation: {formed:.1?}");
    cluster
        .client(1)
        .create_stream(BULK, &["bulk.>"], 3)
        .expect("create R3 bulk stream");

    // Without the gate: a downgrade one version back, the loop going on at once.
    for node in &cluster.nodes {
        node.ok(&[
            "mkdir",
            "-p",
            "/etc/systemd/system/nimsforest-nats.service.d",
        ]);
        node.write(
            "/etc/systemd/system/nimsforest-nats.service.d/no-gate.conf",
            b"[Service]\nExecStartPost=\n",
        );
        node.ok(&["systemctl", "daemon-reload"]);
    }
    let old = format!("nimsforest-nats={OLD}-1");
    let ungated = under_bulk_load(
        &cluster,
        "without the gate (downgrade)",
        "UNGATED",
        &["install", "--allow-downgrades", &old],
    );
    assert_eq!(versions(&cluster), [OLD; 3]);
    eprintln!(
        "without the gate, every install returned with its node current: {}",
        ungated.every_node_was_current()
    );

    // With it: the upgrade back, each install returning once its node caught up.
    for node in &cluster.nodes {
        node.ok(&[
            "rm",
            "/etc/systemd/system/nimsforest-nats.service.d/no-gate.conf",
        ]);
        node.ok(&["systemctl", "daemon-reload"]);
    }
    let gated = under_bulk_load(
        &cluster,
        "with the gate (upgrade)",
        "GATED",
        &["install", "nimsforest-nats"],
    );
    for node in &cluster.nodes {
        eprintln!("[{}] {:?}", node.name, gate_said(node));
    }
    assert!(
        gated.every_install_waited_for_a_current_node(),
        "an install returned before its node was current"
    );
    assert_eq!(versions(&cluster), [NEW; 3]);
    let (code, status) = cluster.status(&cluster.nodes[0], false);
    eprintln!("forest status, exit {code}:\n{status}");
    assert_eq!(code, 0, "{status}");
}
