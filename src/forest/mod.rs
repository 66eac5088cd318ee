//! A closed forest's secrets, kept in one directory on the build machine:
//!
//! ```text
//! DIR/                     0700
//!   forest.toml            the forest id and its client users (not secret)
//!   ca.pem                 the forest CA certificate: the trust anchor of every node
//!   ca-key.pem             0600  the CA's private key; it never leaves this directory
//!   auth.conf              the NATS accounts and users, written from forest.toml
//!   nodes/NAME/node.pem, node-key.pem (0600)   a node's certificate and key
//!   users/NAME/user.pem, user-key.pem (0600)   a client user's certificate and key
//! ```
//!
//! A node gets exactly its own share ([`NodeSecrets`]): the CA certificate, its own
//! certificate and key, and `auth.conf`, never the CA key nor another node's key.

pub mod pki;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::cloudinit::check::{check_forest_id, check_host_name};
use crate::error::{Error, IoContext, Result};
pub use pki::{route_identity, user_identity, Certified, Validity};

/// Where a node keeps its share of the forest's secrets; `nimsforest-cluster-conf` (in
/// the package) turns the cluster closed when `node.pem` is there.
pub const NODE_DIR: &str = "/etc/nimsforest/forest";
/// The file names of a node's share, in [`NODE_DIR`].
pub const NODE_FILES: [&str; 4] = ["ca.pem", "node.pem", "node-key.pem", "auth.conf"];

const MANIFEST: &str = "forest.toml";

/// The NATS account of a client user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The forest's applications: the FOREST account, with JetStream.
    App,
    /// Operators and monitoring: the system account (server events, `$SYS` requests).
    System,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Manifest {
    forest_id: String,
    users: BTreeMap<String, Role>,
}

/// A node's share of the secrets, as file contents.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeSecrets {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub auth_conf: String,
}

/// Never prints the key.
impl std::fmt::Debug for NodeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSecrets")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"(secret)")
            .finish_non_exhaustive()
    }
}

impl NodeSecrets {
    /// (file name in [`NODE_DIR`], content), in [`NODE_FILES`] order.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            (NODE_FILES[0], &self.ca_pem),
            (NODE_FILES[1], &self.cert_pem),
            (NODE_FILES[2], &self.key_pem),
            (NODE_FILES[3], &self.auth_conf),
        ]
    }
}

pub struct Forest {
    dir: PathBuf,
    manifest: Manifest,
}

fn usage(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Usage {
        what: what.into(),
        reason: reason.into(),
    }
}

/// A user name: lower-case letters, digits, '-' and '_' (it goes into a URI).
fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(usage(
            format!("user name {name:?}"),
            "must be lower-case letters, digits, '-' or '_'",
        ))
    }
}

fn already_issued(who: &str, dir: &Path) -> Error {
    usage(
        who,
        format!(
            "already has a key and certificate in {}; --renew replaces them (rotation)",
            dir.display()
        ),
    )
}

fn write_public(path: &Path, content: &str) -> Result<()> {
    atomic::write(
        path,
        content.as_bytes(),
        atomic::Options::REPLACE.mode(0o644),
    )
}

/// A key replaces the old one only when asked to (`--renew`); either way it is 0600 from
/// its first byte.
fn write_key(path: &Path, content: &str, renew: bool) -> Result<()> {
    let options = atomic::Options::SECRET;
    let options = if renew {
        atomic::Options {
            no_clobber: false,
            ..options
        }
    } else {
        options
    };
    atomic::write(path, content.as_bytes(), options)
}

fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).at(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)
}

impl Forest {
    /// A new forest in `dir` (which must not hold one): its CA, valid for `ca_days`, and the
    /// two users every forest has, `app` and `sys`, valid for `days`.
    pub fn create(dir: &Path, forest_id: &str, ca_days: u32, days: u32) -> Result<Self> {
        check_forest_id(forest_id)?;
        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() {
            return Err(Error::Exists {
                path: manifest_path,
            });
        }
        private_dir(dir)?;
        let ca = pki::new_ca(forest_id, Validity::days_from_now(ca_days))?;
        write_key(&dir.join("ca-key.pem"), &ca.key_pem, false)?;
        write_public(&dir.join("ca.pem"), &ca.cert_pem)?;
        let mut forest = Self {
            dir: dir.to_path_buf(),
            manifest: Manifest {
                forest_id: forest_id.to_string(),
                users: BTreeMap::new(),
            },
        };
        forest.add_user("app", Role::App, Validity::days_from_now(days), false)?;
        forest.add_user("sys", Role::System, Validity::days_from_now(days), false)?;
        Ok(forest)
    }

    /// The forest in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                usage(
                    format!("forest directory {}", dir.display()),
                    "has no forest.toml (make one with `nimsforest-pkg forest init`)",
                )
            } else {
                Error::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| Error::Definition {
            path: path.clone(),
            reason: e.message().to_string(),
        })?;
        check_forest_id(&manifest.forest_id)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn id(&self) -> &str {
        &self.manifest.forest_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join("nodes").join(name)
    }

    pub fn user_dir(&self, name: &str) -> PathBuf {
        self.dir.join("users").join(name)
    }

    fn ca(&self) -> Result<Certified> {
        let read = |name: &str| {
            let path = self.dir.join(name);
            std::fs::read_to_string(&path).at(&path)
        };
        Ok(Certified {
            cert_pem: read("ca.pem")?,
            key_pem: read("ca-key.pem")?,
        })
    }

    /// Issues node `name`'s key and certificate (SANs: the name and `addresses`). An
    /// existing one is replaced only with `renew`: that is how certificates are rotated.
    pub fn issue_node(
        &self,
        name: &str,
        addresses: &[IpAddr],
        validity: Validity,
        renew: bool,
    ) -> Result<PathBuf> {
        check_host_name(name)?;
        let dir = self.node_dir(name);
        let leaf = pki::Leaf::Node { name, addresses };
        self.issue_into(&dir, "node", name, leaf, validity, renew)?;
        Ok(dir)
    }

    /// Writes a new key and certificate for `leaf` into `dir` as `{kind}-key.pem` (0600)
    /// and `{kind}.pem`; refuses to replace an existing key unless `renew`.
    fn issue_into(
        &self,
        dir: &Path,
        kind: &str,
        name: &str,
        leaf: pki::Leaf,
        validity: Validity,
        renew: bool,
    ) -> Result<()> {
        let key_path = dir.join(format!("{kind}-key.pem"));
        if key_path.exists() && !renew {
            return Err(already_issued(&format!("{kind} {name}"), dir));
        }
        let certified = pki::issue(self.id(), &self.ca()?, leaf, validity)?;
        private_dir(dir)?;
        write_key(&key_path, &certified.key_pem, renew)?;
        write_public(&dir.join(format!("{kind}.pem")), &certified.cert_pem)
    }

    /// Issues client user `name`'s key and certificate and lists the user in `auth.conf`.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        validity: Validity,
        renew: bool,
    ) -> Result<PathBuf> {
        check_user_name(name)?;
        let dir = self.user_dir(name);
        self.issue_into(
            &dir,
            "user",
            name,
            pki::Leaf::User { name },
            validity,
            renew,
        )?;
        self.manifest.users.insert(name.to_string(), role);
        self.save()?;
        Ok(dir)
    }

    /// forest.toml and auth.conf, from the manifest.
    fn save(&self) -> Result<()> {
        let mut text = String::from(
            "# A NimsForest forest, made by `nimsforest-pkg forest init`. Its secrets are the\n\
             # files beside this one; keep the directory private and backed up.\n",
        );
        text.push_str(&toml::to_string(&self.manifest).expect("the manifest serializes"));
        write_public(&self.dir.join(MANIFEST), &text)?;
        write_public(&self.dir.join("auth.conf"), &self.auth_conf())
    }

    /// The NATS accounts of the forest: every user maps from the URI in its certificate.
    pub fn auth_conf(&self) -> String {
        let id = self.id();
        let mut out = format!(
            "# The accounts and users of the forest \"{id}\", written by `nimsforest-pkg forest`.\n\
             # A client proves who it is with a certificate from the forest CA; the URI in\n\
             # it names its user (tls verify_and_map in cluster.conf). No passwords.\n\
             accounts {{\n"
        );
        for (account, role, extra) in [
            ("FOREST", Role::App, "        jetstream: enabled\n"),
            ("SYS", Role::System, ""),
        ] {
            let _ = writeln!(out, "    {account} {{");
            out.push_str(extra);
            out.push_str("        users: [\n");
            for (name, _) in self.manifest.users.iter().filter(|(_, r)| **r == role) {
                let _ = writeln!(
                    out,
                    "            {{ user: \"{}\" }}",
                    user_identity(id, name)
                );
            }
            out.push_str("        ]\n    }\n");
        }
        out.push_str("}\nsystem_account: SYS\n");
        out
    }

    /// What node `name` gets: the CA certificate, its own certificate and key, auth.conf.
    pub fn node_secrets(&self, name: &str) -> Result<NodeSecrets> {
        let dir = self.node_dir(name);
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    usage(
                        format!("forest {} node {name}", self.id()),
                        format!(
                            "has no {file} in {} (issue it with `nimsforest-pkg forest node --name {name}`)",
                            dir.display()
                        ),
                    )
                } else {
                    Error::Io { path, source: e }
                }
            })
        };
        Ok(NodeSecrets {
            ca_pem: std::fs::read_to_string(self.dir.join("ca.pem")).at(self.dir.join("ca.pem"))?,
            cert_pem: read("node.pem")?,
            key_pem: read("node-key.pem")?,
            auth_conf: self.auth_conf(),
        })
    }
}

#[cfg(test)]
mod tests;
