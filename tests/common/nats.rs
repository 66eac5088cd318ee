//! A real NATS client (async-nats) behind a small blocking API, for talking to the servers
//! the packages install.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

/// What a client of a closed forest brings: the CA it trusts the servers by, and the
/// certificate and key it proves its user with (none: an anonymous TLS client).
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// User `user` of the forest made by `nimsforest-pkg forest init --dir forest`.
    pub fn user(forest: &Path, user: &str) -> Self {
        let dir = forest.join("users").join(user);
        Self {
            ca: forest.join("ca.pem"),
            cert: Some((dir.join("user.pem"), dir.join("user-key.pem"))),
        }
    }
}

pub struct Nats {
    runtime: Runtime,
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Nats {
    /// Connects to `url` (e.g. nats://10.20.1.2:4222), or says why it could not.
    pub fn connect(url: &str) -> Result<Self, String> {
        Self::connect_any(&[url.to_string()])
    }

    /// Connects to one of `urls`, and reconnects to another when that server goes away.
    pub fn connect_any(urls: &[String]) -> Result<Self, String> {
        Self::connect_with(urls, None)
    }

    /// Like `connect_any`, over TLS with `tls` when given (a closed forest's client).
    pub fn connect_with(urls: &[String], tls: Option<&ClientTls>) -> Result<Self, String> {
        // One worker keeps the connection alive (pings, acks) between calls.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut options =
            async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
        if let Some(tls) = tls {
            options = options
                .require_tls(true)
                .add_root_certificates(tls.ca.clone());
            if let Some((cert, key)) = &tls.cert {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
        }
        let client = runtime
            .block_on(options.connect(urls.to_vec()))
            .map_err(|e| format!("connect {urls:?}: {e}"))?;
        let jetstream = {
            let _context = runtime.enter();
            jetstream::new(client.clone())
        };
        Ok(Self {
            runtime,
            client,
            jetstream,
        })
    }

    /// The version the server announced when the client connected.
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// The server's name (its `server_name`).
    pub fn server_name(&self) -> String {
        self.client.server_info().server_name
    }

    /// Subscribes, publishes and receives one message: core NATS works end to end.
    pub fn round_trip(&self, subject: &str) -> Result<(), String> {
        self.runtime.block_on(async {
            let mut subscriber = self
                .client
                .subscribe(subject.to_string())
                .await
                .map_err(|e| format!("subscribe {subject}: {e}"))?;
            self.client
                .flush()
                .await
                .map_err(|e| format!("flush: {e}"))?;
            self.client
                .publish(subject.to_string(), "ping".into())
                .await
                .map_err(|e| format!("publish {subject}: {e}"))?;
            let message = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
                .await
                .map_err(|_| format!("no message on {subject} within 10 s"))?
                .ok_or("subscription closed")?;
            if message.payload.as_ref() != b"ping" {
                return Err(format!("wrong payload: {:?}", message.payload));
            }
            Ok(())
        })
    }

    /// Creates a file-backed stream over `subjects` with `replicas` copies.
    pub fn create_stream(
        &self,
        name: &str,
        subjects: &[&str],
        replicas: usize,
    ) -> Result<(), String> {
        self.runtime.block_on(async {
            self.jetstream
                .create_stream(stream::Config {
                    name: name.to_string(),
                    subjects: subjects.iter().map(|s| s.to_string()).collect(),
                    num_replicas: replicas,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|e| format!("create stream {name}: {e}"))
        })
    }

    /// Creates a file-backed stream that sources the stream `source` of the JetStream
    /// domain `domain` (a leaf node's): what reaches the core from the edge.
    pub fn create_sourced_stream(
        &self,
        name: &str,
        source: &str,
        domain: &str,
    ) -> Result<(), String> {
        self.runtime.block_on(async {
            self.jetstream
                .create_stream(stream::Config {
                    name: name.to_string(),
                    storage: stream::StorageType::File,
                    sources: Some(vec![stream::Source {
                        name: source.to_string(),
                        external: Some(stream::External {
                            api_prefix: format!("$JS.{domain}.API"),
                            delivery_prefix: None,
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|e| format!("create stream {name} from {domain}/{source}: {e}"))
        })
    }

    /// A message published here reaches a subscriber on `other` (another server of the
    /// forest): published again every 200 ms until it does, since interest takes a
    /// moment to cross a leaf or gateway connection. How long it took.
    pub fn reaches(&self, other: &Nats, subject: &str) -> Result<Duration, String> {
        let started = std::time::Instant::now();
        // The subscriber unsubscribes on drop, which needs its runtime.
        let _context = other.runtime.enter();
        let mut subscriber = other
            .runtime
            .block_on(other.client.subscribe(subject.to_string()))
            .map_err(|e| format!("subscribe {subject}: {e}"))?;
        other
            .runtime
            .block_on(other.client.flush())
            .map_err(|e| format!("flush: {e}"))?;
        for _ in 0..100 {
            self.runtime
                .block_on(async {
                    self.client
                        .publish(subject.to_string(), "across".into())
                        .await?;
                    self.client.flush().await.map_err(Into::into)
                })
                .map_err(|e: Box<dyn std::error::Error + Send + Sync>| {
                    format!("publish {subject}: {e}")
                })?;
            let got = other.runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), subscriber.next()).await
            });
            if let Ok(Some(message)) = got {
                assert_eq!(message.payload.as_ref(), b"across");
                return Ok(started.elapsed());
            }
        }
        Err(format!("nothing published on {subject} arrived in 20 s"))
    }

    /// Publishes to JetStream and waits for the acknowledgement: the stream sequence.
    pub fn publish(&self, subject: &str, payload: &[u8]) -> Result<u64, String> {
        self.runtime.block_on(async {
            let ack = self
                .jetstream
                .publish(subject.to_string(), payload.to_vec().into())
                .await
                .map_err(|e| format!("publish {subject}: {e}"))?;
            tokio::time::timeout(Duration::from_secs(10), ack)
                .await
                .map_err(|_| format!("no acknowledgement for {subject} within 10 s"))?
                .map(|ack| ack.sequence)
                .map_err(|e| format!("acknowledgement for {subject}: {e}"))
        })
    }

    /// Publishes with a message id (JetStream drops a duplicate of an id it stored, so a
    /// retry after a lost acknowledgement stores nothing twice), waiting at most `wait`
    /// for the acknowledgement: (sequence, whether it was a duplicate).
    pub fn publish_with_id(
        &self,
        subject: &str,
        id: &str,
        payload: &[u8],
        wait: Duration,
    ) -> Result<(u64, bool), String> {
        self.runtime.block_on(async {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload.to_vec().into())
                .message_id(id);
            let ack = tokio::time::timeout(
                wait,
                self.jetstream.send_publish(subject.to_string(), message),
            )
            .await
            .map_err(|_| format!("publish {id}: not sent within {wait:?}"))?
            .map_err(|e| format!("publish {id}: {e}"))?;
            tokio::time::timeout(wait, ack)
                .await
                .map_err(|_| format!("publish {id}: no acknowledgement within {wait:?}"))?
                .map(|ack| (ack.sequence, ack.duplicate))
                .map_err(|e| format!("publish {id}: {e}"))
        })
    }

    /// (messages, last sequence) of a stream.
    pub fn stream_state(&self, name: &str) -> Result<(u64, u64), String> {
        let info = self.stream_info(name)?;
        Ok((info.state.messages, info.state.last_sequence))
    }

    async fn stream(&self, name: &str) -> Result<jetstream::stream::Stream, String> {
        self.jetstream
            .get_stream(name)
            .await
            .map_err(|e| format!("stream {name}: {e}"))
    }

    fn stream_info(&self, name: &str) -> Result<stream::Info, String> {
        self.runtime.block_on(async {
            let mut stream = self.stream(name).await?;
            stream
                .info()
                .await
                .cloned()
                .map_err(|e| format!("stream {name} info: {e}"))
        })
    }

    /// Every message of a stream, in sequence order, read one by one from the server.
    pub fn read_stream(&self, name: &str) -> Result<Vec<Vec<u8>>, String> {
        self.read_stream_from(name, 1)
    }

    /// Removes the messages of a stream before sequence `first`; returns how many.
    pub fn purge_before(&self, name: &str, first: u64) -> Result<u64, String> {
        self.runtime.block_on(async {
            let stream = self.stream(name).await?;
            let purged = stream
                .purge()
                .sequence(first)
                .await
                .map_err(|e| format!("purge {name}: {e}"))?;
            Ok(purged.purged)
        })
    }

    /// The messages of a stream from sequence `first` to its last, in order.
    pub fn read_stream_from(&self, name: &str, first: u64) -> Result<Vec<Vec<u8>>, String> {
        let (_, last) = self.stream_state(name)?;
        self.runtime.block_on(async {
            let stream = self.stream(name).await?;
            let mut messages = Vec::new();
            for sequence in first..=last {
                let message = stream
                    .get_raw_message(sequence)
                    .await
                    .map_err(|e| format!("stream {name} message {sequence}: {e}"))?;
                messages.push(message.payload.to_vec());
            }
            Ok(messages)
        })
    }
}

impl Nats {
    /// The servers holding a stream's replicas: its leader first, then the others.
    pub fn stream_peers(&self, name: &str) -> Result<Vec<String>, String> {
        let cluster = self
            .stream_info(name)?
            .cluster
            .ok_or("no cluster information")?;
        let mut peers: Vec<String> = cluster.leader.into_iter().collect();
        peers.extend(cluster.replicas.into_iter().map(|r| r.name));
        Ok(peers)
    }

    /// Whether the client still has its connection (it does not reconnect after a server
    /// refused it).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// The certificate (PEM) a NATS server presents on `host:port` to a peer presenting
/// `cert`: on a client port (a user's certificate) the server's INFO line comes first, on
/// a route port (a node's) TLS does.
pub fn presented_certificate(
    host: &str,
    port: u16,
    info_first: bool,
    ca: &Path,
    cert: (&Path, &Path),
) -> String {
    const SCRIPT: &str = "import socket, ssl, sys\n\
        host, port, ca, cert, key, info = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]\n\
        s = socket.create_connection((host, port), timeout=10)\n\
        f = s.makefile('rb'); info == 'info' and f.readline()\n\
        c = ssl.create_default_context(cafile=ca); c.check_hostname = False\n\
        c.load_cert_chain(cert, key)\n\
        t = c.wrap_socket(s)\n\
        sys.stdout.write(ssl.DER_cert_to_PEM_cert(t.getpeercert(binary_form=True)))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", SCRIPT, host, &port.to_string()])
        .args([ca, cert.0, cert.1])
        .arg(if info_first { "info" } else { "tls" })
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "TLS to {host}:{port}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("PEM")
}

/// `openssl x509 -noout FIELD` of a PEM certificate (`-enddate`, `-issuer`).
pub fn certificate_field(pem: &str, field: &str) -> String {
    use std::io::Write;
    let mut x509 = std::process::Command::new("openssl")
        .args(["x509", "-noout", field])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    x509.stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write");
    let out = x509.wait_with_output().expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
