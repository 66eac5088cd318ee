//! Where a node stands in its forest: its role, its cluster and the gateways to the
//! forest's other clusters (a core node), or the core nodes it connects to and its
//! JetStream domain (a leaf node). Checked here, as the node's `nimsforest-cluster-conf`
//! checks it again, and written into node-info.json.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{invalid, quote};
use crate::error::Result;
use crate::forest::NodeRole;
use crate::names::{check_domain, check_word};
use crate::weburl::{gateway_url, leaf_url};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Absent (core) unless given.
    pub role: Option<NodeRole>,
    /// A core node's cluster (the forest id when none).
    pub cluster: Option<String>,
    /// A core node's gateways: the forest's other clusters and their gateway URLs.
    pub gateways: BTreeMap<String, Vec<String>>,
    /// A leaf node's hubs: core nodes' leaf node URLs.
    pub hubs: Vec<String>,
    /// A leaf node's JetStream domain (its host name when none).
    pub domain: Option<String>,
}

impl Topology {
    /// Parses `--gateway CLUSTER=URL` values (repeat a cluster for more URLs).
    pub fn parse_gateways(values: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut gateways: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for value in values {
            let (name, url) = value.split_once('=').ok_or_else(|| {
                invalid("gateway", value, "must look like CLUSTER=nats://host:7222")
            })?;
            gateways
                .entry(name.to_string())
                .or_default()
                .push(url.to_string());
        }
        Ok(gateways)
    }

    /// The node-info.json fields past `routes` (none for a core node of one cluster,
    /// so its file reads as before), after checking them against each other and the
    /// forest's `routes`.
    pub fn fields(&self, forest_id: &str, routes: &[String]) -> Result<String> {
        let mut out = String::new();
        if self.role == Some(NodeRole::Core) {
            out.push_str(", \"role\": \"core\"");
        }
        match self.role.unwrap_or_default() {
            NodeRole::Core => {
                if let Some(hub) = self.hubs.first() {
                    return Err(invalid("hub", hub, "hubs are for leaf nodes (--role leaf)"));
                }
                if let Some(domain) = &self.domain {
                    return Err(invalid(
                        "JetStream domain",
                        domain,
                        "a domain of its own is for leaf nodes (--role leaf)",
                    ));
                }
                let cluster = self.cluster.as_deref().unwrap_or(forest_id);
                check_word("cluster", cluster)?;
                if let Some(cluster) = &self.cluster {
                    let _ = write!(out, ", \"cluster\": {}", quote(cluster));
                }
                if self.gateways.is_empty() {
                    return Ok(out);
                }
                if routes.is_empty() {
                    return Err(invalid(
                        "gateway",
                        self.gateways.keys().next().map_or("", |k| k),
                        "gateways need the routes of this node's cluster (a cluster of one \
                         lists itself with --route)",
                    ));
                }
                let mut entries = Vec::new();
                for (name, urls) in &self.gateways {
                    check_word("gateway", name)?;
                    if name == cluster {
                        return Err(invalid(
                            "gateway",
                            name,
                            "is this node's own cluster (--cluster)",
                        ));
                    }
                    let urls = urls
                        .iter()
                        .map(|u| gateway_url(u).map(|u| quote(&u)))
                        .collect::<Result<Vec<_>>>()?;
                    entries.push(format!("{}: [{}]", quote(name), urls.join(", ")));
                }
                let _ = write!(out, ", \"gateways\": {{{}}}", entries.join(", "));
            }
            NodeRole::Leaf => {
                let core_only = [
                    (!routes.is_empty(), "route"),
                    (!self.gateways.is_empty(), "gateway"),
                    (self.cluster.is_some(), "cluster"),
                ];
                if let Some((_, setting)) = core_only.iter().find(|(given, _)| *given) {
                    return Err(invalid(
                        setting,
                        "",
                        "a leaf node joins no cluster: routes, gateways and a cluster are for \
                         core nodes",
                    ));
                }
                if self.hubs.is_empty() {
                    return Err(invalid(
                        "hub",
                        "",
                        "a leaf node needs the core nodes it connects to (--hub \
                         nats-leaf://host:7777)",
                    ));
                }
                let hubs = self
                    .hubs
                    .iter()
                    .map(|h| leaf_url(h).map(|h| quote(&h)))
                    .collect::<Result<Vec<_>>>()?;
                let _ = write!(out, ", \"role\": \"leaf\", \"hubs\": [{}]", hubs.join(", "));
                if let Some(domain) = &self.domain {
                    check_domain(domain)?;
                    let _ = write!(out, ", \"domain\": {}", quote(domain));
                }
            }
        }
        Ok(out)
    }
}
