//! `forest status`: the forest as its own servers see it, gathered through the system
//! account from one node's client port. Every core node answers `$SYS.REQ.SERVER.PING.*`
//! (VARZ, ROUTEZ, JSZ, HEALTHZ, LEAFZ), across gateways too; the JetStream meta leader
//! knows how far each peer is behind, each stream's leader how far each replica is. Leaf
//! nodes keep their own system account (an edge's events stay at the edge), so they are
//! seen through the core nodes' leaf connections. `assess` turns the answers into a
//! verdict and is pure, so the rules are tested without a cluster.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::{Fleet, GATHER};
use crate::error::Result;
use crate::forest::trust::VERSION_KEY;

/// A certificate that expires sooner than this makes the forest degraded: time to
/// `forest renew`.
pub const RENEW_WITHIN_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Unreachable,
}

impl Verdict {
    /// `forest status`'s exit status: 0 healthy, 1 degraded, 2 unreachable.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => 1,
            Verdict::Unreachable => 2,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub forest: String,
    /// The trust version of the forest directory: what nodes should have applied.
    pub trust_version: u64,
    pub verdict: Verdict,
    /// Why the forest is not healthy; empty when it is.
    pub problems: Vec<String>,
    /// Worth knowing, but no fault: a rollout or a trust change on its way.
    pub notes: Vec<String>,
    pub nodes: Vec<NodeStatus>,
    /// The forest's leaf nodes, as the core nodes they connect to see them.
    pub leaves: Vec<LeafStatus>,
    /// Stream replicas that are not current, as their stream's leader sees them.
    pub streams_behind: Vec<StreamBehind>,
}

#[derive(Debug, Default, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub answered: bool,
    pub version: Option<String>,
    pub uptime: Option<String>,
    /// The cluster it belongs to (the forest's clusters are joined by gateways).
    pub cluster: Option<String>,
    /// Other nodes of its cluster it has a route to.
    pub routes: Option<usize>,
    /// The other trusted nodes of its cluster (those answering from another cluster
    /// excepted): how many routes it should have.
    pub cluster_peers: Option<usize>,
    /// `leader` or `follower` of the JetStream meta group.
    pub jetstream: Option<String>,
    /// Current with the meta leader, and by how many entries it is behind.
    pub current: Option<bool>,
    pub lag: Option<u64>,
    /// `ok`, or the server's own health error (`/healthz`).
    pub health: Option<String>,
    pub trust_version: Option<u64>,
    /// The certificate it presents to clients: notAfter (RFC 3339) and days left.
    pub certificate_not_after: Option<String>,
    pub certificate_days_left: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct LeafStatus {
    pub name: String,
    /// The core node it is connected to; none while its link is down.
    pub connected_to: Option<String>,
    pub rtt: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StreamBehind {
    pub account: String,
    pub stream: String,
    pub leader: Option<String>,
    pub replica: String,
    /// Unreachable from its leader (lag then means nothing).
    pub offline: bool,
    pub lag: u64,
}

/// What the servers answered, by server name.
#[derive(Debug, Default)]
pub struct Answers {
    pub varz: BTreeMap<String, Value>,
    pub routez: BTreeMap<String, Value>,
    pub jsz: BTreeMap<String, Value>,
    pub healthz: BTreeMap<String, Value>,
    pub leafz: BTreeMap<String, Value>,
}

impl Status {
    /// No node could be asked.
    pub fn unreachable(
        forest: &str,
        trust_version: u64,
        nodes: &[String],
        leaves: &[String],
        reason: String,
    ) -> Self {
        Status {
            forest: forest.to_string(),
            trust_version,
            verdict: Verdict::Unreachable,
            problems: vec![reason],
            notes: Vec::new(),
            nodes: nodes
                .iter()
                .map(|name| NodeStatus {
                    name: name.clone(),
                    ..NodeStatus::default()
                })
                .collect(),
            leaves: leaves.iter().map(|name| LeafStatus::down(name)).collect(),
            streams_behind: Vec::new(),
        }
    }
}

impl LeafStatus {
    fn down(name: &str) -> Self {
        LeafStatus {
            name: name.to_string(),
            connected_to: None,
            rtt: None,
        }
    }
}

/// Asks every server, waiting for the `expected` nodes (or `GATHER`).
pub fn gather(fleet: &Fleet, expected: usize) -> Result<Answers> {
    Ok(Answers {
        varz: fleet.ping("VARZ", json!({}), expected, GATHER)?,
        routez: fleet.ping("ROUTEZ", json!({}), expected, GATHER)?,
        jsz: fleet.ping(
            "JSZ",
            json!({"accounts": true, "streams": true}),
            expected,
            GATHER,
        )?,
        healthz: fleet.ping("HEALTHZ", json!({}), expected, GATHER)?,
        leafz: fleet.ping("LEAFZ", json!({}), expected, GATHER)?,
    })
}

/// The forest's state from the answers of its servers; `nodes` are its trusted core
/// nodes, `leaves` its trusted leaf nodes, `now` in seconds since 1970.
pub fn assess(
    forest: &str,
    trust_version: u64,
    nodes: &[String],
    leaves: &[String],
    answers: &Answers,
    now: i64,
) -> Status {
    // Nodes that do not answer come first: the likely cause of the rest.
    let mut silent = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let meta = meta_view(&answers.jsz);
    let mut statuses = Vec::new();
    for name in nodes {
        let Some(varz) = answers.varz.get(name) else {
            silent.push(format!("{name} does not answer"));
            statuses.push(NodeStatus {
                name: name.clone(),
                ..NodeStatus::default()
            });
            continue;
        };
        let mut status = node_status(name, varz, answers, &meta, now);
        // Its cluster's other nodes: every trusted node but itself and those that
        // answer from another cluster (a silent one may be of this cluster).
        let elsewhere = nodes
            .iter()
            .filter_map(|n| answers.varz.get(n))
            .filter(|v| v["cluster"]["name"] != varz["cluster"]["name"])
            .count();
        let others = nodes.len() - 1 - elsewhere;
        status.cluster_peers = Some(others);
        if let Some(routes) = status.routes.filter(|r| *r < others) {
            problems.push(format!(
                "{name} has routes to {routes} of the {others} other nodes of its cluster"
            ));
        }
        if let Some(health) = status.health.as_deref().filter(|h| *h != "ok") {
            problems.push(format!("{name} is not healthy: {health}"));
        }
        if status.current == Some(false) {
            problems.push(format!(
                "{name} is behind the JetStream meta leader by {} entries",
                status.lag.unwrap_or(0)
            ));
        }
        match status.certificate_days_left {
            Some(days) if days < RENEW_WITHIN_DAYS => problems.push(format!(
                "{name}'s certificate expires in {days} days: `forest renew`"
            )),
            _ => {}
        }
        match status.trust_version {
            Some(v) if v >= trust_version => {}
            Some(v) => notes.push(format!(
                "{name} applied trust version {v} of {trust_version} (nodes take a new one within minutes)"
            )),
            None => notes.push(format!("{name} reports no trust version")),
        }
        statuses.push(status);
    }
    // A single node's JetStream is not clustered: it has no meta group to lead.
    let clustered = answers.jsz.values().any(|j| j["meta_cluster"].is_object());
    if clustered && meta.leader.is_none() {
        problems.push("JetStream has no meta leader".into());
    }
    let strangers: BTreeSet<&String> = answers
        .varz
        .keys()
        .filter(|name| !nodes.contains(name))
        .collect();
    for name in strangers {
        notes.push(format!(
            "{name} answers but is no trusted node of the forest"
        ));
    }
    let versions: BTreeSet<&str> = statuses
        .iter()
        .filter_map(|s| s.version.as_deref())
        .collect();
    if versions.len() > 1 {
        notes.push(format!(
            "nodes run different versions: {}",
            versions.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let leaves = leaf_statuses(leaves, &answers.leafz);
    for leaf in leaves.iter().filter(|l| l.connected_to.is_none()) {
        problems.push(format!(
            "leaf node {} is not connected to the core",
            leaf.name
        ));
    }
    silent.append(&mut problems);
    let mut problems = silent;
    let streams_behind = streams_behind(&answers.jsz);
    for s in &streams_behind {
        let state = match s.offline {
            true => "is offline".to_string(),
            false => format!("is {} entries behind", s.lag),
        };
        problems.push(format!(
            "stream {} ({}): replica {} {state}",
            s.stream, s.account, s.replica
        ));
    }
    Status {
        forest: forest.to_string(),
        trust_version,
        verdict: if problems.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Degraded
        },
        problems,
        notes,
        nodes: statuses,
        leaves,
        streams_behind,
    }
}

/// Each trusted leaf node, with the core node it is connected to (LEAFZ).
fn leaf_statuses(leaves: &[String], leafz: &BTreeMap<String, Value>) -> Vec<LeafStatus> {
    leaves
        .iter()
        .map(|name| {
            leafz
                .iter()
                .find_map(|(core, data)| {
                    let link = data["leafs"]
                        .as_array()?
                        .iter()
                        .find(|l| l["name"].as_str() == Some(name.as_str()))?;
                    Some(LeafStatus {
                        name: name.clone(),
                        connected_to: Some(core.clone()),
                        rtt: link["rtt"].as_str().map(str::to_string),
                    })
                })
                .unwrap_or_else(|| LeafStatus::down(name))
        })
        .collect()
}

/// The meta group as its leader reports it: the leader, and each follower's state.
#[derive(Default)]
struct MetaView {
    leader: Option<String>,
    /// name -> (current, lag)
    followers: BTreeMap<String, (bool, u64)>,
}

fn meta_view(jsz: &BTreeMap<String, Value>) -> MetaView {
    let mut view = MetaView::default();
    for (server, data) in jsz {
        let meta = &data["meta_cluster"];
        if meta["leader"].as_str() != Some(server.as_str()) {
            continue;
        }
        view.leader = Some(server.clone());
        for replica in meta["replicas"].as_array().into_iter().flatten() {
            if let Some(name) = replica["name"].as_str() {
                let current = replica["current"].as_bool().unwrap_or(false)
                    && !replica["offline"].as_bool().unwrap_or(false);
                let lag = replica["lag"].as_u64().unwrap_or(0);
                view.followers.insert(name.to_string(), (current, lag));
            }
        }
    }
    view
}

fn node_status(
    name: &str,
    varz: &Value,
    answers: &Answers,
    meta: &MetaView,
    now: i64,
) -> NodeStatus {
    let routes = answers.routez.get(name).map(|routez| {
        routez["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["remote_name"].as_str())
            .collect::<BTreeSet<_>>()
            .len()
    });
    let (jetstream, current, lag) = match (&meta.leader, meta.followers.get(name)) {
        (Some(leader), _) if leader == name => (Some("leader"), Some(true), Some(0)),
        (Some(_), Some(&(current, lag))) => (Some("follower"), Some(current), Some(lag)),
        _ => (None, None, None),
    };
    let health = answers
        .healthz
        .get(name)
        .map(|h| match h["status"].as_str() {
            Some("ok") => "ok".to_string(),
            _ => h["error"]
                .as_str()
                .or(h["status"].as_str())
                .unwrap_or("no status")
                .to_string(),
        });
    let not_after = varz["tls_cert_not_after"]
        .as_str()
        .filter(|t| !t.starts_with("0001-"))
        .map(str::to_string);
    let days_left = not_after.as_deref().and_then(|t| {
        let t =
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
        Some((t.unix_timestamp() - now).div_euclid(86_400))
    });
    NodeStatus {
        name: name.to_string(),
        answered: true,
        version: varz["version"].as_str().map(str::to_string),
        uptime: varz["uptime"].as_str().map(str::to_string),
        cluster: varz["cluster"]["name"].as_str().map(str::to_string),
        routes,
        cluster_peers: None,
        jetstream: jetstream.map(str::to_string),
        current,
        lag,
        health,
        trust_version: varz["metadata"][VERSION_KEY]
            .as_str()
            .and_then(|v| v.parse().ok()),
        certificate_not_after: not_after,
        certificate_days_left: days_left,
    }
}

/// Replicas that are not current, from the servers that lead their streams.
fn streams_behind(jsz: &BTreeMap<String, Value>) -> Vec<StreamBehind> {
    let mut behind = Vec::new();
    for (server, data) in jsz {
        for account in data["account_details"].as_array().into_iter().flatten() {
            let account_name = account["name"].as_str().unwrap_or_default();
            for stream in account["stream_detail"].as_array().into_iter().flatten() {
                let cluster = &stream["cluster"];
                if cluster["leader"].as_str() != Some(server.as_str()) {
                    continue;
                }
                for replica in cluster["replicas"].as_array().into_iter().flatten() {
                    let offline = replica["offline"].as_bool().unwrap_or(false);
                    if replica["current"].as_bool().unwrap_or(false) && !offline {
                        continue;
                    }
                    behind.push(StreamBehind {
                        account: account_name.to_string(),
                        stream: stream["name"].as_str().unwrap_or_default().to_string(),
                        leader: Some(server.clone()),
                        replica: replica["name"].as_str().unwrap_or_default().to_string(),
                        offline,
                        lag: replica["lag"].as_u64().unwrap_or(0),
                    });
                }
            }
        }
    }
    behind
}

/// The report for people: the verdict first, then a line per node.
pub fn render(status: &Status) -> String {
    let mut out = format!(
        "forest {} (trust version {}): {}\n",
        status.forest,
        status.trust_version,
        verdict_line(status)
    );
    if status.verdict == Verdict::Unreachable {
        return out;
    }
    out.push_str(&format!(
        "{:<16} {:<8} {:<12} {:<7} {:<9} {:<9} {:<6} {}\n",
        "node", "version", "uptime", "routes", "jetstream", "current", "trust", "certificate"
    ));
    for n in &status.nodes {
        if !n.answered {
            out.push_str(&format!("{:<16} no answer\n", n.name));
            continue;
        }
        let dash = || "-".to_string();
        out.push_str(&format!(
            "{:<16} {:<8} {:<12} {:<7} {:<9} {:<9} {:<6} {}\n",
            n.name,
            n.version.clone().unwrap_or_else(dash),
            n.uptime.clone().unwrap_or_else(dash),
            match (n.routes, n.cluster_peers) {
                (Some(r), Some(others)) => format!("{r}/{others}"),
                _ => dash(),
            },
            n.jetstream.clone().unwrap_or_else(dash),
            match (n.current, n.lag) {
                (Some(true), _) => "yes".to_string(),
                (Some(false), Some(lag)) => format!("-{lag}"),
                _ => dash(),
            },
            n.trust_version.map_or_else(dash, |v| v.to_string()),
            match (&n.certificate_not_after, n.certificate_days_left) {
                (Some(t), Some(days)) => format!("{} ({days} days)", &t[..t.len().min(10)]),
                _ => dash(),
            }
        ));
    }
    for leaf in &status.leaves {
        match (&leaf.connected_to, &leaf.rtt) {
            (Some(core), rtt) => out.push_str(&format!(
                "{:<16} leaf node, connected to {core} (rtt {})\n",
                leaf.name,
                rtt.as_deref().unwrap_or("-")
            )),
            (None, _) => out.push_str(&format!("{:<16} leaf node, not connected\n", leaf.name)),
        }
    }
    for note in &status.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// `healthy: ...`, `degraded: the first problems`.
pub fn verdict_line(status: &Status) -> String {
    match status.verdict {
        Verdict::Healthy => {
            let leaves = match status.leaves.len() {
                0 => String::new(),
                n => format!(", {n} leaf nodes connected"),
            };
            format!(
                "healthy: {} nodes answer, routes complete, JetStream current{leaves}",
                status.nodes.len()
            )
        }
        Verdict::Degraded => format!("degraded: {}", status.problems.join("; ")),
        Verdict::Unreachable => format!("unreachable: {}", status.problems.join("; ")),
    }
}

#[cfg(test)]
mod tests;
