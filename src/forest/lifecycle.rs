//! A forest's life after it is made: renewing certificates, revoking a node or a user,
//! rolling out a new CA, and what it trusts now. Each of these is a new version of the
//! trust package (the caller commits it); refused when it would break the forest.

use super::manifest::Rotation;
use super::{
    pki, usage, write_new_key, write_public, Forest, Kind, Role, Validity, CA, CA_KEY, NEXT_CA_KEY,
};
use crate::error::{Error, Result};
use crate::pem::Certificate;

/// One certificate the forest knows, for `forest list`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `CA`, `node` or `user`.
    pub kind: &'static str,
    pub name: String,
    /// `trusted`, `revoked`, or for a CA `signing`/`trusted`.
    pub state: &'static str,
    /// notAfter, seconds since 1970.
    pub not_after: i64,
    /// The SHA-256 of its public key (what `pinned_certs` lists).
    pub pin: String,
}

/// What one `rotate-ca` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationStep {
    /// A new CA is trusted beside the old one.
    Trusted { ca: String },
    /// Every trusted certificate was re-issued by the new CA (`count` of them).
    Reissued { count: usize },
    /// The old CA is trusted no more.
    Finished,
}

impl Forest {
    /// The trusted members: nodes, then users.
    fn trusted(&self) -> Vec<(Kind, String)> {
        let nodes = self
            .manifest
            .trusted_nodes()
            .map(|(n, _)| (Kind::Node, n.clone()));
        let users = self
            .manifest
            .trusted_users()
            .map(|(n, _)| (Kind::User, n.clone()));
        nodes.chain(users).collect()
    }

    /// Which kind of member `name` is, trusted.
    fn trusted_member(&self, name: &str) -> Result<Kind> {
        let node = self
            .manifest
            .nodes
            .get(name)
            .map(|n| (Kind::Node, n.revoked));
        let user = self
            .manifest
            .users
            .get(name)
            .map(|u| (Kind::User, u.revoked));
        match node.or(user) {
            Some((kind, false)) => Ok(kind),
            Some((kind, true)) => Err(usage(
                format!("{} {name}", kind.file()),
                "is revoked already",
            )),
            None => Err(usage(
                format!("{name:?}"),
                format!("is no node or user of the forest {}", self.id()),
            )),
        }
    }

    /// New certificates for existing keys: of `name`, or of every trusted node and user,
    /// valid for `days` (not beyond the CA). The pins stay: only the package changes.
    pub fn renew(&mut self, name: Option<&str>, days: u32) -> Result<Vec<String>> {
        let members = match name {
            Some(name) => vec![(self.trusted_member(name)?, name.to_string())],
            None => self.trusted(),
        };
        let validity = Validity::days_from_now(days)?;
        let ca = self.signing_ca()?;
        // Every certificate is checked against the CA before any is written.
        for (kind, name) in &members {
            self.check_within(&ca.0, *kind, name, validity)?;
        }
        for (kind, name) in &members {
            self.reissue(&ca, *kind, name, validity)?;
        }
        Ok(members.into_iter().map(|(_, n)| n).collect())
    }

    /// Takes node or user `name` out of the pinned certificates (and a user out of the
    /// accounts): nodes that apply the next trust package drop its connections, and it
    /// cannot connect again. Its files stay, for the record.
    pub fn revoke(&mut self, name: &str) -> Result<Kind> {
        let kind = self.trusted_member(name)?;
        match kind {
            Kind::Node => {
                if self.manifest.trusted_nodes().count() == 1 {
                    return Err(usage(
                        format!("node {name}"),
                        "is the forest's last trusted node; revoking it would leave no node",
                    ));
                }
                if let Some(node) = self.manifest.nodes.get_mut(name) {
                    node.revoked = true;
                }
            }
            Kind::User => {
                let role = self.manifest.users[name].role;
                let systems = self
                    .manifest
                    .trusted_users()
                    .filter(|(_, u)| u.role == Role::System)
                    .count();
                if role == Role::System && systems == 1 {
                    return Err(usage(
                        format!("user {name}"),
                        "is the forest's last system user, which `forest status` and `forest \
                         remove` use; add another first (`forest user --system`)",
                    ));
                }
                if let Some(user) = self.manifest.users.get_mut(name) {
                    user.revoked = true;
                }
            }
        }
        Ok(kind)
    }

    /// One step of rolling out a new CA, so that no two nodes ever stop trusting each
    /// other (each step's package must reach every node before the next step):
    /// 1. a new CA (valid `ca_days`) is trusted beside the old one;
    /// 2. every trusted certificate is re-issued by the new CA (same keys, valid `days`);
    /// 3. the old CA is dropped, once no trusted certificate is the old CA's.
    pub fn rotate_ca(&mut self, ca_days: u32, days: u32) -> Result<RotationStep> {
        match self.manifest.rotation {
            None => {
                let generation = self.manifest.ca_generation + 1;
                let validity = Validity::days_from_now(ca_days)?;
                let ca = pki::new_ca(self.id(), generation, validity)?;
                let next_key = self.dir.join(NEXT_CA_KEY);
                if next_key.exists() {
                    return Err(Error::Exists { path: next_key });
                }
                let bundle = format!("{}{}", self.trusted_cas()?.as_str(), ca.cert_pem);
                write_new_key(&next_key, &ca.key_pem)?;
                write_public(&self.dir.join(CA), &bundle)?;
                self.manifest.ca_generation = generation;
                self.manifest.rotation = Some(Rotation::Trusted);
                let name = format!("NimsForest {} CA {generation}", self.id());
                Ok(RotationStep::Trusted { ca: name })
            }
            Some(Rotation::Trusted) => {
                let ca = self.ca_of_key(NEXT_CA_KEY)?;
                let validity = Validity::days_from_now(days)?;
                let members = self.trusted();
                for (kind, name) in &members {
                    self.check_within(&ca.0, *kind, name, validity)?;
                }
                for (kind, name) in &members {
                    self.reissue(&ca, *kind, name, validity)?;
                }
                self.manifest.rotation = Some(Rotation::Reissued);
                Ok(RotationStep::Reissued {
                    count: members.len(),
                })
            }
            Some(Rotation::Reissued) => {
                let (new_ca, new_key) = self.ca_of_key(NEXT_CA_KEY)?;
                for (kind, name) in self.trusted() {
                    if !self.certificate(kind, &name)?.issued_by(&new_ca) {
                        return Err(usage(
                            format!("{} {name}", kind.file()),
                            "still has a certificate of the old CA, which is still in use: \
                             renew it (`forest renew`) before the old CA is dropped",
                        ));
                    }
                }
                // The new CA alone, then its key as the signing key: a run stopped in
                // between is completed by running it again.
                write_public(&self.dir.join(CA), &new_ca.pem())?;
                atomic_replace_key(&self.dir.join(CA_KEY), new_key.as_str())?;
                std::fs::remove_file(self.dir.join(NEXT_CA_KEY)).map_err(|source| Error::Io {
                    path: self.dir.join(NEXT_CA_KEY),
                    source,
                })?;
                self.manifest.rotation = None;
                Ok(RotationStep::Finished)
            }
        }
    }

    /// Every CA and certificate the forest knows, with its state and expiry.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let (signing, _) = self.signing_ca()?;
        let mut entries: Vec<Entry> = self
            .trusted_cas()?
            .certs()
            .iter()
            .map(|ca| Entry {
                kind: "CA",
                name: ca_name(ca),
                state: if *ca == signing { "signing" } else { "trusted" },
                not_after: ca.not_after(),
                pin: ca.pin().to_string(),
            })
            .collect();
        let members = self
            .manifest
            .nodes
            .iter()
            .map(|(n, e)| (Kind::Node, n, e.revoked))
            .chain(
                self.manifest
                    .users
                    .iter()
                    .map(|(n, e)| (Kind::User, n, e.revoked)),
            );
        for (kind, name, revoked) in members {
            let cert = self.certificate(kind, name)?;
            entries.push(Entry {
                kind: kind.file(),
                name: name.clone(),
                state: if revoked { "revoked" } else { "trusted" },
                not_after: cert.not_after(),
                pin: cert.pin().to_string(),
            });
        }
        Ok(entries)
    }

    /// The pins of every trusted node's certificate (routes) and every trusted user's
    /// (clients), with their names.
    pub fn pins(&self, kind: Kind) -> Result<Vec<(String, String)>> {
        self.trusted()
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .map(|(k, name)| Ok((name.clone(), self.certificate(k, &name)?.pin().to_string())))
            .collect()
    }
}

/// A CA certificate's name, for lists: its subject's common name.
fn ca_name(ca: &Certificate) -> String {
    x509_parser::parse_x509_certificate(ca.der())
        .ok()
        .and_then(|(_, c)| {
            c.subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok().map(str::to_string))
        })
        .unwrap_or_else(|| "forest CA".into())
}

/// Replaces a key file (0600 from its first byte).
fn atomic_replace_key(path: &std::path::Path, pem: &str) -> Result<()> {
    let options = crate::atomic::Options {
        no_clobber: false,
        ..crate::atomic::Options::SECRET
    };
    crate::atomic::write(path, pem.as_bytes(), options)
}
