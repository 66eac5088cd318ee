//! A publisher that writes with acknowledgements while a cluster changes under it, and
//! what it saw: every acknowledged message must be in the stream exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::*;
use crate::nats::{ClientTls, Nats};

/// What a publisher saw while the cluster changed under it.
#[derive(Debug, Default)]
pub struct PublishRecord {
    pub attempts: u64,
    pub failed_attempts: u64,
    pub acknowledged: u64,
    pub longest_gap: Duration,
    /// From a message's first attempt to its acknowledgement, for every message.
    pub latencies: Vec<Duration>,
}

impl PublishRecord {
    /// The `p`th percentile of the acknowledgement latencies.
    pub fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// A client that knows all three servers and publishes with acknowledgements, message
/// ids 1, 2, ... in order, retrying an id until it is acknowledged (the stream
/// deduplicates), until stopped.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<PublishRecord>,
}

impl Publisher {
    /// Publishes to STREAM through every node.
    pub fn start(cluster: &Cluster) -> Self {
        Self::start_on(cluster.urls(), cluster.app(), "events.new".into())
    }

    /// Publishes to `subject` through the servers at `urls`, as the user of `tls`.
    pub fn start_on(urls: Vec<String>, tls: ClientTls, subject: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = Nats::connect_with(&urls, Some(&tls)).expect("publisher connects");
                let mut record = PublishRecord::default();
                let mut last_ack = Instant::now();
                let mut id = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    id += 1;
                    let payload = format!("event {id}");
                    let first_attempt = Instant::now();
                    loop {
                        record.attempts += 1;
                        match client.publish_with_id(
                            &subject,
                            &id.to_string(),
                            payload.as_bytes(),
                            Duration::from_secs(2),
                        ) {
                            Ok(_) => break,
                            Err(_) => {
                                record.failed_attempts += 1;
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                    record.latencies.push(first_attempt.elapsed());
                    record.longest_gap = record.longest_gap.max(last_ack.elapsed());
                    last_ack = Instant::now();
                    record.acknowledged = id;
                    std::thread::sleep(Duration::from_millis(20));
                }
                record
            })
        };
        Self { stop, thread }
    }

    pub fn stop(self) -> PublishRecord {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("publisher")
    }
}

/// Every acknowledged message is in the stream exactly once, enough was published, and
/// publishing never stalled longer than one leader election.
pub fn assert_nothing_lost(cluster: &Cluster, record: &PublishRecord, what: &str) {
    assert_nothing_lost_in(cluster, record, what, STREAM, 2);
}

/// The same for `stream`, read through node `reader`.
pub fn assert_nothing_lost_in(
    cluster: &Cluster,
    record: &PublishRecord,
    what: &str,
    stream: &str,
    reader: usize,
) {
    let stored = cluster
        .client(reader)
        .read_stream(stream)
        .expect("read the stream");
    eprintln!(
        "{what}: {} publish attempts, {} failed and retried, {} acknowledged, {} read back; longest publish gap {:.2?}; acknowledgement latency p50 {:.1?}, p99 {:.1?}",
        record.attempts,
        record.failed_attempts,
        record.acknowledged,
        stored.len(),
        record.longest_gap,
        record.percentile(50),
        record.percentile(99)
    );
    assert_eq!(
        stored,
        payloads(1..=record.acknowledged),
        "acknowledged messages missing or duplicated"
    );
    assert!(
        record.acknowledged > 100,
        "too little was published: {record:?}"
    );
    assert!(
        record.longest_gap <= ONE_LEADER_ELECTION,
        "publishing stalled for {:.2?}, longer than one leader election",
        record.longest_gap
    );
}
