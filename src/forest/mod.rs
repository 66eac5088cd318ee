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
use time::OffsetDateTime;

use crate::atomic;
use crate::cloudinit::check::{check_forest_id, check_host_name};
use crate::error::{Error, IoContext, Result};
use crate::input::{self, unusable};
use crate::pem::{Certificate, Certificates, PrivateKey};
pub use pki::{route_identity, user_identity, utc, Certified, Validity, MAX_DAYS};

/// Where a node keeps its share of the forest's secrets; `nimsforest-cluster-conf` (in
/// the package) turns the cluster closed when `node.pem` is there.
pub const NODE_DIR: &str = "/etc/nimsforest/forest";
/// The file names of a node's share, in [`NODE_DIR`].
pub const NODE_FILES: [&str; 4] = ["ca.pem", "node.pem", "node-key.pem", "auth.conf"];

const MANIFEST: &str = "forest.toml";
/// How the forest's directories are named in errors.
const FOREST_DIR: &str = "forest directory";

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
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Manifest {
    forest_id: String,
    users: BTreeMap<String, Role>,
}

/// A node's share of the secrets, each file checked and written out again by
/// [`crate::pem`].
#[derive(Clone, PartialEq, Eq)]
pub struct NodeSecrets {
    pub ca_pem: Certificates,
    pub cert_pem: Certificates,
    pub key_pem: PrivateKey,
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
            (NODE_FILES[0], self.ca_pem.as_str()),
            (NODE_FILES[1], self.cert_pem.as_str()),
            (NODE_FILES[2], self.key_pem.as_str()),
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

/// What is wrong with a user name, if anything: lower-case letters, digits, '-' and '_'
/// (it goes into a URI, a directory name and auth.conf).
fn user_name_problem(name: &str) -> Option<&'static str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    (!ok).then_some("must be 1 to 63 lower-case letters, digits, '-' or '_'")
}

fn check_user_name(name: &str) -> Result<()> {
    match user_name_problem(name) {
        Some(reason) => Err(usage(format!("user name {name:?}"), reason)),
        None => Ok(()),
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

/// The directory a new forest goes into, as it was before: made here, or an empty one
/// that was there (and its mode), so that a failed `forest init` can leave it as it was.
enum NewDir {
    Made,
    Existing(u32),
}

impl NewDir {
    /// A new directory (0700), or an existing empty one (then set to 0700). An existing
    /// forest, a non-empty directory and a file are refused.
    fn prepare(dir: &Path) -> Result<Self> {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let manifest = dir.join(MANIFEST);
                if manifest.exists() {
                    return Err(Error::Exists { path: manifest });
                }
                if std::fs::read_dir(dir).at(dir)?.next().is_some() {
                    return Err(unusable(
                        FOREST_DIR,
                        dir,
                        "exists and is not empty; `forest init` needs a new or an empty directory",
                    ));
                }
                let mode = meta.permissions().mode() & 0o7777;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?;
                Ok(Self::Existing(mode))
            }
            Ok(_) => Err(unusable(FOREST_DIR, dir, "exists and is not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                atomic::secret_dir(FOREST_DIR, dir)?;
                Ok(Self::Made)
            }
            Err(source) => Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            }),
        }
    }

    /// Takes back what a failed `forest init` wrote (best effort: the error that made it
    /// fail is the one reported).
    fn undo(self, dir: &Path) {
        match self {
            Self::Made => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Existing(mode) => {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        let _ = match entry.file_type().map(|t| t.is_dir()) {
                            Ok(true) => std::fs::remove_dir_all(&path),
                            _ => std::fs::remove_file(&path),
                        };
                    }
                }
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
            }
        }
    }
}

impl Forest {
    /// A new forest in `dir` (new, or an existing empty directory): its CA, valid for
    /// `ca_days`, and the two users every forest has, `app` and `sys`, valid for `days`
    /// (no longer than the CA). A failure leaves `dir` as it was.
    pub fn create(dir: &Path, forest_id: &str, ca_days: u32, days: u32) -> Result<Self> {
        check_forest_id(forest_id)?;
        let now = OffsetDateTime::now_utc();
        let ca_validity = Validity::days_from(now, ca_days)?;
        let user_validity = Validity::days_from(now, days)?;
        if days > ca_days {
            return Err(usage(
                format!("--days {days}"),
                format!(
                    "a user's certificate must not outlive the forest CA (--ca-days {ca_days})"
                ),
            ));
        }
        let new_dir = NewDir::prepare(dir)?;
        let made = (|| {
            let ca = pki::new_ca(forest_id, ca_validity)?;
            write_key(&dir.join("ca-key.pem"), &ca.key_pem, false)?;
            write_public(&dir.join("ca.pem"), &ca.cert_pem)?;
            let mut forest = Self {
                dir: dir.to_path_buf(),
                manifest: Manifest {
                    forest_id: forest_id.to_string(),
                    users: BTreeMap::new(),
                },
            };
            forest.add_user("app", Role::App, user_validity, false)?;
            forest.add_user("sys", Role::System, user_validity, false)?;
            Ok(forest)
        })();
        if made.is_err() {
            new_dir.undo(dir);
        }
        made
    }

    /// The forest in `dir`. Everything read back that reaches a file the tool writes is
    /// checked again: the forest id, every user name.
    pub fn open(dir: &Path) -> Result<Self> {
        if !atomic::check_secret_dir(FOREST_DIR, dir)? {
            return Err(usage(
                format!("{FOREST_DIR} {}", dir.display()),
                "does not exist (make one with `nimsforest-pkg forest init`)",
            ));
        }
        let path = dir.join(MANIFEST);
        let text = input::read_text_optional("forest manifest", &path)?.ok_or_else(|| {
            usage(
                format!("{FOREST_DIR} {}", dir.display()),
                "has no forest.toml (make one with `nimsforest-pkg forest init`)",
            )
        })?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| unusable("forest manifest", &path, e.message().to_string()))?;
        check_forest_id(&manifest.forest_id)
            .map_err(|e| unusable("forest manifest", &path, e.to_string()))?;
        for name in manifest.users.keys() {
            if let Some(reason) = user_name_problem(name) {
                return Err(unusable(
                    "forest manifest",
                    &path,
                    format!("user name {name:?} {reason}"),
                ));
            }
        }
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

    /// The CA's certificates (more than one while a new CA is rolled out).
    fn ca_certificates(&self) -> Result<Certificates> {
        Certificates::read_bundle("forest CA certificate", &self.dir.join("ca.pem"))
    }

    /// The CA key and the certificate of `ca.pem` that certifies it.
    fn ca(&self) -> Result<(Certificate, PrivateKey)> {
        let key_path = self.dir.join("ca-key.pem");
        let key = PrivateKey::read("forest CA key", &key_path)?;
        let cert = self
            .ca_certificates()?
            .certs()
            .iter()
            .find(|c| key.belongs_to(c))
            .cloned()
            .ok_or_else(|| {
                unusable(
                    "forest CA key",
                    &key_path,
                    "belongs to no certificate in ca.pem",
                )
            })?;
        Ok((cert, key))
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
    /// and `{kind}.pem`; refuses to replace an existing key unless `renew`, and a
    /// certificate that would outlive the CA.
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
        let (ca_cert, ca_key) = self.ca()?;
        let ca_end = ca_cert.not_after();
        if validity.not_after.unix_timestamp() > ca_end {
            // Whole days left, less a second: still true when the next command runs.
            let left = (ca_end - OffsetDateTime::now_utc().unix_timestamp() - 1) / 86_400;
            let advice = match left {
                n if n >= 1 => format!("give --days {n} or fewer"),
                _ => "make a new forest CA (see README: Revoke)".to_string(),
            };
            return Err(usage(
                format!("{kind} {name}"),
                format!(
                    "its certificate would be valid until {}, after the forest CA's notAfter \
                     {}: {advice}",
                    utc(validity.not_after.unix_timestamp()),
                    utc(ca_end)
                ),
            ));
        }
        let certified = pki::issue(self.id(), &ca_cert, &ca_key, leaf, validity)?;
        atomic::secret_dir(FOREST_DIR, dir)?;
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
        let path = self.dir.join(MANIFEST);
        let manifest = toml::to_string(&self.manifest).map_err(|e| Error::Definition {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push_str(&manifest);
        write_public(&path, &text)?;
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

    /// What node `name` gets: the CA certificate(s), its own certificate and key (checked
    /// to belong together), auth.conf.
    pub fn node_secrets(&self, name: &str) -> Result<NodeSecrets> {
        check_host_name(name)?;
        let dir = self.node_dir(name);
        let file = |file: &str| {
            let path = dir.join(file);
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(usage(
                    format!("forest {} node {name}", self.id()),
                    format!(
                        "has no {file} in {} (issue it with `nimsforest-pkg forest node --name {name}`)",
                        dir.display()
                    ),
                )),
                _ => Ok(path),
            }
        };
        let cert_path = file("node.pem")?;
        let key_path = file("node-key.pem")?;
        let cert = Certificates::read_one("node certificate", &cert_path)?;
        let key = PrivateKey::read("node key", &key_path)?;
        if !cert.certs().iter().any(|c| key.belongs_to(c)) {
            return Err(unusable(
                "node key",
                &key_path,
                "does not belong to the certificate in node.pem",
            ));
        }
        Ok(NodeSecrets {
            ca_pem: self.ca_certificates()?,
            cert_pem: cert,
            key_pem: key,
            auth_conf: self.auth_conf(),
        })
    }
}

#[cfg(test)]
mod tests;
