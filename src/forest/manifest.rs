//! `forest.toml`: what the forest is (its id, nodes and users, which of them are revoked,
//! where a CA rotation stands) and its history, one entry per version of its trust
//! package. Not secret. Everything read back is checked again before it reaches a file
//! the tool writes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::unusable;
use crate::names::{check_forest_id, check_host_name, package_id_problem, user_name_problem};

/// The NATS account of a client user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The forest's applications: the FOREST account, with JetStream.
    App,
    /// Operators and monitoring: the system account (server events, `$SYS` requests).
    System,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UserEntry {
    pub role: Role,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// What a node is in its forest's topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A member of one of the forest's clusters: routes, gateways, the leaf node port.
    #[default]
    Core,
    /// An edge node: connects to core nodes over leaf node connections, keeps its own
    /// JetStream domain, joins no cluster.
    Leaf,
}

impl NodeRole {
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Core => "core",
            NodeRole::Leaf => "leaf",
        }
    }

    fn is_core(&self) -> bool {
        *self == NodeRole::Core
    }
}

impl std::str::FromStr for NodeRole {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "core" => Ok(NodeRole::Core),
            "leaf" => Ok(NodeRole::Leaf),
            _ => Err("a node's role is core or leaf".into()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeEntry {
    /// Where clients and the other nodes reach it (in its certificate).
    pub addresses: Vec<IpAddr>,
    /// Absent (core) in forests made before roles.
    #[serde(default, skip_serializing_if = "NodeRole::is_core")]
    pub role: NodeRole,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// Where a CA rotation stands (see `Forest::rotate_ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    /// The new CA is trusted beside the old one; certificates are still the old CA's.
    Trusted,
    /// Every certificate is the new CA's; both CAs are still trusted.
    Reissued,
}

/// One version of the trust package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Change {
    pub version: u64,
    /// Seconds since 1970: the date of that version (its files' mtime, its changelog).
    pub date: u64,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    pub forest_id: String,
    /// How many CAs the forest has had (1, then one more per rotation): names the next.
    #[serde(default = "first")]
    pub ca_generation: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    #[serde(default)]
    pub users: BTreeMap<String, UserEntry>,
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeEntry>,
    /// Newest last; the last one is the trust package's current version.
    #[serde(default)]
    pub changes: Vec<Change>,
}

fn first() -> u32 {
    1
}

impl Manifest {
    pub fn new(forest_id: &str) -> Self {
        Self {
            forest_id: forest_id.to_string(),
            ca_generation: 1,
            rotation: None,
            users: BTreeMap::new(),
            nodes: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    /// Parses and checks `forest.toml` (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |reason: String| unusable("forest manifest", path, reason);
        let manifest: Manifest = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        check_forest_id(&manifest.forest_id).map_err(|e| bad(e.to_string()))?;
        if let Some(reason) = package_id_problem(&manifest.forest_id) {
            return Err(bad(format!("forest id {:?} {reason}", manifest.forest_id)));
        }
        for name in manifest.users.keys() {
            if let Some(reason) = user_name_problem(name) {
                return Err(bad(format!("user name {name:?} {reason}")));
            }
        }
        for name in manifest.nodes.keys() {
            check_host_name(name).map_err(|e| bad(e.to_string()))?;
        }
        for change in &manifest.changes {
            if change.summary.chars().any(char::is_control) || change.summary.trim().is_empty() {
                return Err(bad(format!(
                    "change {} has no one-line summary",
                    change.version
                )));
            }
        }
        let versions: Vec<u64> = manifest.changes.iter().map(|c| c.version).collect();
        if versions.windows(2).any(|w| w[1] != w[0] + 1)
            || versions.first().is_some_and(|v| *v != 1)
        {
            return Err(bad(format!(
                "change versions {versions:?} are not 1, 2, 3, ..."
            )));
        }
        Ok(manifest)
    }

    pub fn text(&self, path: &Path) -> Result<String> {
        let mut text = String::from(
            "# A NimsForest forest, kept by `nimsforest-pkg forest`. Its secrets are the files\n\
             # beside this one; keep the directory private and backed up.\n",
        );
        let body = toml::to_string(self).map_err(|e| Error::Definition {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        text.push_str(&body);
        Ok(text)
    }

    /// The trust package's current version (0 before the first).
    pub fn version(&self) -> u64 {
        self.changes.last().map_or(0, |c| c.version)
    }

    /// Records a new version of the trust package.
    pub fn record(&mut self, date: u64, summary: impl Into<String>) -> u64 {
        let version = self.version() + 1;
        let date = date.max(self.next_date());
        self.changes.push(Change {
            version,
            date,
            summary: summary.into(),
        });
        version
    }

    /// The earliest date of the next change: a package's changelog needs a newer date than
    /// the one before.
    pub fn next_date(&self) -> u64 {
        self.changes.last().map_or(0, |c| c.date + 1)
    }

    pub fn trusted_nodes(&self) -> impl Iterator<Item = (&String, &NodeEntry)> {
        self.nodes.iter().filter(|(_, n)| !n.revoked)
    }

    /// The names of the trusted nodes of `role`.
    pub fn trusted_nodes_of(&self, role: NodeRole) -> Vec<String> {
        self.trusted_nodes()
            .filter(|(_, n)| n.role == role)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn trusted_users(&self) -> impl Iterator<Item = (&String, &UserEntry)> {
        self.users.iter().filter(|(_, u)| !u.revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_must_not_carry() {
        let mut m = Manifest::new("forest-1");
        m.users.insert(
            "app".into(),
            UserEntry {
                role: Role::App,
                revoked: false,
            },
        );
        m.nodes.insert(
            "node1".into(),
            NodeEntry {
                addresses: vec!["10.0.0.1".parse().unwrap()],
                role: NodeRole::Core,
                revoked: true,
            },
        );
        m.nodes.insert(
            "edge1".into(),
            NodeEntry {
                addresses: vec![],
                role: NodeRole::Leaf,
                revoked: false,
            },
        );
        m.record(100, "made");
        m.record(50, "renewed");
        assert_eq!(m.changes[1].date, 101, "never back in time");
        let path = Path::new("forest.toml");
        let text = m.text(path).unwrap();
        let back = Manifest::parse(path, &text).unwrap();
        assert_eq!(back.version(), 2);
        assert!(back.nodes["node1"].revoked && !back.users["app"].revoked);
        assert_eq!(back.nodes["edge1"].role, NodeRole::Leaf);
        assert!(
            !text.contains("role = \"core\""),
            "a core node's entry reads as before roles: {text}"
        );
        for bad in [
            text.replace("forest-1", "Forest_1"),
            text.replace("[users.app]", "[users.\"../x\"]"),
            text.replace("[nodes.node1]", "[nodes.\"a.b\"]"),
            text.replace("summary = \"renewed\"", "summary = \"a\\nb\""),
            text.replace("version = 2", "version = 5"),
            text.replace("role = \"leaf\"", "role = \"hub\""),
            format!("{text}\nextra = 1\n"),
        ] {
            assert!(Manifest::parse(path, &bad).is_err(), "{bad}");
        }
    }
}
