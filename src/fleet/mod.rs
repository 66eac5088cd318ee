//! Speaking NATS to a running forest, as one of its system users, over any node's client
//! port: the servers' own system-account requests (`$SYS.REQ.SERVER.PING.*`, answered by
//! every server of the cluster) and JetStream's peer removal. Nobody logs into a node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::forest::{Forest, Role};

pub mod status;

/// How long a scatter-gather request waits for the servers' answers.
pub const GATHER: Duration = Duration::from_secs(2);

/// A connection to the forest as a system user.
pub struct Fleet {
    client: async_nats::Client,
    runtime: tokio::runtime::Runtime,
    servers: Vec<String>,
}

fn unreachable(servers: &[String], reason: impl std::fmt::Display) -> Error {
    Error::Unreachable {
        what: servers.join(", "),
        reason: reason.to_string(),
    }
}

impl Fleet {
    /// Connects to one of `servers` (`tls://HOST:4222`) as the forest's first trusted
    /// system user, trusting the forest's CAs.
    pub fn connect(forest: &Forest, servers: &[String]) -> Result<Self> {
        if servers.is_empty() {
            return Err(Error::Usage {
                what: "--server".into(),
                reason: "name at least one node's client URL (tls://HOST:4222)".into(),
            });
        }
        let user = forest
            .manifest()
            .trusted_users()
            .find(|(_, u)| u.role == Role::System)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| Error::Usage {
                what: format!("forest {}", forest.id()),
                reason: "has no trusted system user (`forest user --system`)".into(),
            })?;
        let dir = forest.user_dir(&user);
        let mut addresses = Vec::new();
        for server in servers {
            let checked = crate::weburl::server_url(server)?;
            let address = checked
                .parse::<async_nats::ServerAddr>()
                .map_err(|e| Error::Usage {
                    what: format!("--server {checked}"),
                    reason: format!("is not a NATS URL (tls://HOST:4222): {e}"),
                })?;
            addresses.push(address);
        }
        // The connection's own tasks run while a request waits: enough for a command.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unreachable(servers, format!("cannot start the I/O runtime: {e}")))?;
        let options = async_nats::ConnectOptions::new()
            .name("nimsforest-pkg")
            .connection_timeout(Duration::from_secs(5))
            .require_tls(true)
            .add_root_certificates(forest.dir().join("ca.pem"))
            .add_client_certificate(dir.join("user.pem"), dir.join("user-key.pem"));
        let client = runtime
            .block_on(options.connect(addresses))
            .map_err(|e| unreachable(servers, e))?;
        Ok(Self {
            client,
            runtime,
            servers: servers.to_vec(),
        })
    }

    /// Asks every server of the cluster for `endpoint` (`VARZ`, `JSZ`, `STATSZ`, ...)
    /// with the JSON `options`, and gathers the answers that come within `wait`, or until
    /// `expected` came. Each answer is the server's `data`, by server name.
    pub fn ping(
        &self,
        endpoint: &str,
        options: Value,
        expected: usize,
        wait: Duration,
    ) -> Result<BTreeMap<String, Value>> {
        let subject = format!("$SYS.REQ.SERVER.PING.{endpoint}");
        self.runtime.block_on(async {
            let inbox = self.client.new_inbox();
            let mut answers = self
                .client
                .subscribe(inbox.clone())
                .await
                .map_err(|e| unreachable(&self.servers, e))?;
            self.client
                .publish_with_reply(subject.clone(), inbox, options.to_string().into())
                .await
                .map_err(|e| unreachable(&self.servers, e))?;
            self.client
                .flush()
                .await
                .map_err(|e| unreachable(&self.servers, e))?;
            let deadline = Instant::now() + wait;
            let mut found = BTreeMap::new();
            while found.len() < expected {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(Some(message)) = tokio::time::timeout(left, answers.next()).await else {
                    break;
                };
                let Ok(answer) = serde_json::from_slice::<Value>(&message.payload) else {
                    continue;
                };
                let name = answer["server"]["name"].as_str().unwrap_or_default();
                if !name.is_empty() {
                    found.insert(name.to_string(), answer["data"].clone());
                }
            }
            Ok(found)
        })
    }

    /// Removes server `name` from the JetStream meta group (its streams get new peers): for
    /// a node that is gone for good. The meta leader answers.
    pub fn remove_peer(&self, name: &str) -> Result<()> {
        let answer = self.request("$JS.API.SERVER.REMOVE", serde_json::json!({ "peer": name }))?;
        if answer["success"] == Value::Bool(true) {
            return Ok(());
        }
        Err(Error::Usage {
            what: format!("JetStream peer {name}"),
            reason: format!(
                "was not removed: {}",
                answer["error"]["description"]
                    .as_str()
                    .unwrap_or("the meta leader gave no reason")
            ),
        })
    }

    /// Closes every connection of the leaf node `name` to the core nodes (`KICK`, through
    /// the system account), asking the `expected` core nodes which have one; the core
    /// nodes it was connected to. A reload applies a revocation to new leaf connections
    /// only: this ends the ones already open.
    pub fn disconnect_leaf(&self, name: &str, expected: usize) -> Result<Vec<String>> {
        let leafz = self.ping("LEAFZ", serde_json::json!({}), expected, GATHER)?;
        let mut closed = Vec::new();
        for (server, data) in &leafz {
            let Some(server_id) = data["server_id"].as_str() else {
                continue;
            };
            let links = data["leafs"].as_array().into_iter().flatten();
            for link in links.filter(|l| l["name"].as_str() == Some(name)) {
                let Some(cid) = link["id"].as_u64() else {
                    continue;
                };
                let answer = self.request(
                    &format!("$SYS.REQ.SERVER.{server_id}.KICK"),
                    serde_json::json!({ "cid": cid }),
                )?;
                if let Some(error) = answer["error"]["description"].as_str() {
                    return Err(unreachable(
                        &self.servers,
                        format!("{server} did not close the connection of {name}: {error}"),
                    ));
                }
                closed.push(server.clone());
            }
        }
        Ok(closed)
    }

    /// One request and its JSON answer (within 10 s).
    fn request(&self, subject: &str, payload: Value) -> Result<Value> {
        let reply = self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                self.client
                    .request(subject.to_string(), payload.to_string().into()),
            )
            .await
            .map_err(|_| unreachable(&self.servers, format!("no answer to {subject} within 10 s")))?
            .map_err(|e| unreachable(&self.servers, e))
        })?;
        Ok(serde_json::from_slice(&reply.payload).unwrap_or(Value::Null))
    }
}

/// The trust version each server reports applying (its `server_metadata`), by name.
pub fn trust_versions(varz: &BTreeMap<String, Value>) -> BTreeMap<String, Option<u64>> {
    varz.iter()
        .map(|(name, data)| {
            let version = data["metadata"][crate::forest::trust::VERSION_KEY]
                .as_str()
                .and_then(|v| v.parse().ok());
            (name.clone(), version)
        })
        .collect()
}
