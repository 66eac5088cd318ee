//! A closed forest, kept in one directory on the build machine:
//!
//! ```text
//! DIR/                     0700
//!   forest.toml            the forest: nodes, users, what is revoked, its history (not secret)
//!   ca.pem                 the CA certificates the forest trusts (two while a new CA is rolled out)
//!   ca-key.pem             0600  the signing CA's private key; it never leaves this directory
//!   ca-next-key.pem        0600  while a CA rotation runs: the new CA's key
//!   nodes/NAME/node.pem, node-key.pem (0600)   a node's certificate and key
//!   users/NAME/user.pem, user-key.pem (0600)   a client user's certificate and key
//! ```
//!
//! What every node needs that is not secret travels as a package, the forest's trust
//! package (`trust`): every change here is a new version of it, which `repo` publishes
//! and the nodes install by themselves. The only secret a node gets is its own key,
//! written once by its user-data ([`Forest::node_key`]). Renewals keep each key, so a
//! renewed certificate needs nothing but the package.

mod lifecycle;
pub mod manifest;
pub mod pki;
pub mod trust;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::atomic;
use crate::error::{Error, Result};
use crate::input::{self, unusable};
use crate::names::{check_forest_id, check_host_name, package_id_problem, user_name_problem};
use crate::pem::{Certificate, Certificates, PrivateKey};
pub use lifecycle::{Entry, RotationStep};
use manifest::{Manifest, NodeEntry, UserEntry};
pub use manifest::{NodeRole, Role, Rotation};
pub use pki::{
    gateway_identity, leaf_identity, route_identity, user_identity, utc, Certified, Validity,
    MAX_DAYS,
};

/// Where a node keeps its own key; `nimsforest-cluster-conf` (in the package) makes the
/// node closed when it is there.
pub const NODE_DIR: &str = "/etc/nimsforest/forest";
/// The node's key in [`NODE_DIR`]: its only secret.
pub const NODE_KEY: &str = "node-key.pem";

/// What a node of a closed forest gets in its user-data: its own key (its one secret) and
/// the name of its forest's trust package, which brings everything else.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeSecrets {
    pub key_pem: PrivateKey,
    pub trust_package: String,
}

/// Never prints the key.
impl std::fmt::Debug for NodeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSecrets")
            .field("key_pem", &"(secret)")
            .field("trust_package", &self.trust_package)
            .finish()
    }
}

impl NodeSecrets {
    /// (file name in [`NODE_DIR`], content) of what the user-data writes there.
    pub fn files(&self) -> [(&'static str, &str); 1] {
        [(NODE_KEY, self.key_pem.as_str())]
    }
}

const MANIFEST: &str = "forest.toml";
const CA: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const NEXT_CA_KEY: &str = "ca-next-key.pem";
/// How the forest's directories are named in errors.
const FOREST_DIR: &str = "forest directory";

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

fn write_public(path: &Path, content: &str) -> Result<()> {
    atomic::write(
        path,
        content.as_bytes(),
        atomic::Options::REPLACE.mode(0o644),
    )
}

/// A new key: 0600 from its first byte, never over an existing file.
fn write_new_key(path: &Path, content: &str) -> Result<()> {
    atomic::write(path, content.as_bytes(), atomic::Options::SECRET)
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
                if std::fs::read_dir(dir)
                    .map_err(|source| Error::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?
                    .next()
                    .is_some()
                {
                    return Err(unusable(
                        FOREST_DIR,
                        dir,
                        "exists and is not empty; `forest init` needs a new or an empty directory",
                    ));
                }
                let mode = meta.permissions().mode() & 0o7777;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |source| Error::Io {
                        path: dir.to_path_buf(),
                        source,
                    },
                )?;
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

/// What kind of member a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node,
    User,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::User => "user",
        }
    }
}

impl Forest {
    /// A new forest in `dir` (new, or an existing empty directory): its CA, valid for
    /// `ca_days`, and the two users every forest has, `app` and `sys`, valid for `days`
    /// (no longer than the CA); version 1 of its trust package, dated `date`. A failure
    /// leaves `dir` as it was.
    pub fn create(dir: &Path, forest_id: &str, ca_days: u32, days: u32, date: u64) -> Result<Self> {
        check_forest_id(forest_id)?;
        if let Some(reason) = package_id_problem(forest_id) {
            return Err(Error::InvalidSetting {
                setting: "forest id",
                value: forest_id.to_string(),
                reason: reason.to_string(),
            });
        }
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
            let ca = pki::new_ca(forest_id, 1, ca_validity)?;
            write_new_key(&dir.join(CA_KEY), &ca.key_pem)?;
            write_public(&dir.join(CA), &ca.cert_pem)?;
            let mut forest = Self {
                dir: dir.to_path_buf(),
                manifest: Manifest::new(forest_id),
            };
            forest.issue_new(Kind::User, "app", Holder::User, user_validity)?;
            forest.issue_new(Kind::User, "sys", Holder::User, user_validity)?;
            forest.manifest.users.insert(
                "app".into(),
                UserEntry {
                    role: Role::App,
                    revoked: false,
                },
            );
            forest.manifest.users.insert(
                "sys".into(),
                UserEntry {
                    role: Role::System,
                    revoked: false,
                },
            );
            forest.commit(date, "the forest's CA and its users app and sys")?;
            Ok(forest)
        })();
        if made.is_err() {
            new_dir.undo(dir);
        }
        made
    }

    /// The forest in `dir`, checked again (see `manifest`).
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
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest: Manifest::parse(&path, &text)?,
        })
    }

    pub fn id(&self) -> &str {
        &self.manifest.forest_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The trust package's name: `nimsforest-forest-ID`.
    pub fn package_name(&self) -> String {
        format!("nimsforest-forest-{}", self.id())
    }

    /// The trust package's current version.
    pub fn version(&self) -> u64 {
        self.manifest.version()
    }

    fn member_dir(&self, kind: Kind, name: &str) -> PathBuf {
        let parent = match kind {
            Kind::Node => "nodes",
            Kind::User => "users",
        };
        self.dir.join(parent).join(name)
    }

    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.member_dir(Kind::Node, name)
    }

    pub fn user_dir(&self, name: &str) -> PathBuf {
        self.member_dir(Kind::User, name)
    }

    /// The CA certificates the forest trusts.
    pub fn trusted_cas(&self) -> Result<Certificates> {
        Certificates::read_bundle("forest CA certificate", &self.dir.join(CA))
    }

    /// The CA that signs now (the new one once a rotation has re-issued everything), and
    /// its key.
    fn signing_ca(&self) -> Result<(Certificate, PrivateKey)> {
        let key_file = match self.manifest.rotation {
            Some(Rotation::Trusted) | None => CA_KEY,
            Some(Rotation::Reissued) => NEXT_CA_KEY,
        };
        self.ca_of_key(key_file)
    }

    /// The certificate in `ca.pem` of the CA key in `key_file`, and the key.
    fn ca_of_key(&self, key_file: &str) -> Result<(Certificate, PrivateKey)> {
        let key_path = self.dir.join(key_file);
        let key = PrivateKey::read("forest CA key", &key_path)?;
        let cert = self
            .trusted_cas()?
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

    /// A member's certificate.
    pub fn certificate(&self, kind: Kind, name: &str) -> Result<Certificate> {
        let path = self
            .member_dir(kind, name)
            .join(format!("{}.pem", kind.file()));
        let certs = Certificates::read_one(&format!("{} certificate", kind.file()), &path)?;
        Ok(certs.certs()[0].clone())
    }

    /// A member's key (for a node: the one secret its user-data carries).
    fn key(&self, kind: Kind, name: &str) -> Result<PrivateKey> {
        let path = self
            .member_dir(kind, name)
            .join(format!("{}-key.pem", kind.file()));
        PrivateKey::read(&format!("{} key", kind.file()), &path)
    }

    /// What node `name`'s user-data carries: its own key, checked to belong to its
    /// certificate. Refused for a node the forest does not trust.
    pub fn node_key(&self, name: &str) -> Result<PrivateKey> {
        check_host_name(name)?;
        match self.manifest.nodes.get(name) {
            None => {
                return Err(usage(
                    format!("forest {} node {name}", self.id()),
                    format!(
                        "is not a node of the forest (add it with `nimsforest-pkg forest node --name {name}`)"
                    ),
                ))
            }
            Some(node) if node.revoked => {
                return Err(usage(
                    format!("forest {} node {name}", self.id()),
                    "was revoked; a new node needs a name of its own",
                ))
            }
            Some(_) => {}
        }
        let key = self.key(Kind::Node, name)?;
        let cert = self.certificate(Kind::Node, name)?;
        if !key.belongs_to(&cert) {
            return Err(unusable(
                "node key",
                &self.node_dir(name).join(NODE_KEY),
                "does not belong to the certificate in node.pem",
            ));
        }
        Ok(key)
    }

    /// What node `name`'s user-data carries (see [`NodeSecrets`]).
    pub fn node_secrets(&self, name: &str) -> Result<NodeSecrets> {
        Ok(NodeSecrets {
            key_pem: self.node_key(name)?,
            trust_package: self.package_name(),
        })
    }

    /// Adds node `name` of `role` (SANs: its name, `addresses` and the role's identities):
    /// a new key and certificate.
    pub fn add_node(
        &mut self,
        name: &str,
        addresses: &[IpAddr],
        role: NodeRole,
        validity: Validity,
    ) -> Result<()> {
        check_host_name(name)?;
        self.check_new_name(name)?;
        let holder = Holder::Node(addresses.to_vec(), role);
        self.issue_new(Kind::Node, name, holder, validity)?;
        self.manifest.nodes.insert(
            name.to_string(),
            NodeEntry {
                addresses: addresses.to_vec(),
                role,
                revoked: false,
            },
        );
        Ok(())
    }

    /// The role of node `name`, if the forest has it.
    pub fn node_role(&self, name: &str) -> Option<NodeRole> {
        self.manifest.nodes.get(name).map(|node| node.role)
    }

    /// Adds client user `name` of `role`: a new key and certificate.
    pub fn add_user(&mut self, name: &str, role: Role, validity: Validity) -> Result<()> {
        if let Some(reason) = user_name_problem(name) {
            return Err(usage(format!("user name {name:?}"), reason));
        }
        self.check_new_name(name)?;
        self.issue_new(Kind::User, name, Holder::User, validity)?;
        self.manifest.users.insert(
            name.to_string(),
            UserEntry {
                role,
                revoked: false,
            },
        );
        Ok(())
    }

    /// A new member's name is free: no node and no user has it, now or before (a revoked
    /// name stays revoked).
    fn check_new_name(&self, name: &str) -> Result<()> {
        let node = self.manifest.nodes.get(name).map(|n| ("node", n.revoked));
        let user = self.manifest.users.get(name).map(|u| ("user", u.revoked));
        match node.or(user) {
            None => Ok(()),
            Some((kind, true)) => Err(usage(
                format!("{kind} {name}"),
                "was revoked; its name is not given again (pick another)",
            )),
            Some((kind, false)) => Err(usage(
                format!("{kind} {name}"),
                format!(
                    "already has a key and certificate in {}; `forest renew {name}` renews them",
                    self.dir.display()
                ),
            )),
        }
    }

    /// Writes a new key and its certificate for member `name`, signed by the signing CA.
    fn issue_new(&self, kind: Kind, name: &str, holder: Holder, validity: Validity) -> Result<()> {
        let dir = self.member_dir(kind, name);
        let key_path = dir.join(format!("{}-key.pem", kind.file()));
        if key_path.exists() {
            return Err(Error::Exists { path: key_path });
        }
        let (ca_cert, ca_key) = self.signing_ca()?;
        self.check_within(&ca_cert, kind, name, validity)?;
        let certified = pki::issue(self.id(), &ca_cert, &ca_key, holder.of(name), validity)?;
        atomic::secret_dir(FOREST_DIR, &dir)?;
        write_new_key(&key_path, &certified.key_pem)?;
        write_public(
            &dir.join(format!("{}.pem", kind.file())),
            &certified.cert_pem,
        )
    }

    /// A certificate from `ca` for member `name`'s existing key (renewal, or the new CA's).
    fn reissue(
        &self,
        ca: &(Certificate, PrivateKey),
        kind: Kind,
        name: &str,
        validity: Validity,
    ) -> Result<()> {
        self.check_within(&ca.0, kind, name, validity)?;
        let holder = match kind {
            Kind::Node => {
                let node = &self.manifest.nodes[name];
                Holder::Node(node.addresses.clone(), node.role)
            }
            Kind::User => Holder::User,
        };
        let key = self.key(kind, name)?;
        let cert = pki::renew(self.id(), &ca.0, &ca.1, holder.of(name), validity, &key)?;
        let path = self
            .member_dir(kind, name)
            .join(format!("{}.pem", kind.file()));
        write_public(&path, &cert)
    }

    /// Refuses a certificate that would outlive the CA that signs it.
    fn check_within(
        &self,
        ca: &Certificate,
        kind: Kind,
        name: &str,
        validity: Validity,
    ) -> Result<()> {
        let ca_end = ca.not_after();
        if validity.not_after.unix_timestamp() <= ca_end {
            return Ok(());
        }
        // Whole days left, less a second: still true when the next command runs.
        let left = (ca_end - OffsetDateTime::now_utc().unix_timestamp() - 1) / 86_400;
        let advice = match left {
            n if n >= 1 => format!("give --days {n} or fewer"),
            _ => "roll out a new CA first (`nimsforest-pkg forest rotate-ca`)".to_string(),
        };
        Err(usage(
            format!("{} {name}", kind.file()),
            format!(
                "its certificate would be valid until {}, after the forest CA's notAfter {}: \
                 {advice}",
                utc(validity.not_after.unix_timestamp()),
                utc(ca_end)
            ),
        ))
    }

    /// Records a new version of the trust package and saves the manifest.
    pub fn commit(&mut self, date: u64, summary: &str) -> Result<u64> {
        let version = self.manifest.record(date, summary);
        self.save()?;
        Ok(version)
    }

    fn save(&self) -> Result<()> {
        let path = self.dir.join(MANIFEST);
        write_public(&path, &self.manifest.text(&path)?)
    }
}

/// Who a certificate is for, before its name is known.
enum Holder {
    Node(Vec<IpAddr>, NodeRole),
    User,
}

impl Holder {
    fn of<'a>(&'a self, name: &'a str) -> pki::Holder<'a> {
        match self {
            Holder::Node(addresses, role) => pki::Holder::Node {
                name,
                addresses,
                role: *role,
            },
            Holder::User => pki::Holder::User { name },
        }
    }
}

#[cfg(test)]
mod tests;
