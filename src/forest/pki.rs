//! The forest's X.509 certificates, made with rcgen: one CA per forest, a certificate per
//! node and one per client user. ECDSA P-256 keys, which Go's TLS (nats-server) and rustls
//! (the NATS clients in Rust) both accept.
//!
//! Identities are URIs in the subject alternative names, because that is what nats-server
//! maps to users with `verify_and_map` (it tries e-mail, DNS, then URI SANs before the
//! subject): a core node's certificate carries `urn:nimsforest:FOREST:route` (the single
//! user the cluster's `authorization` lets in) and `urn:nimsforest:FOREST:gateway` (the
//! gateways' user), a leaf node's `urn:nimsforest:FOREST:leaf:NAME` (a user of the
//! FOREST account allowed leaf node connections only), a client user's
//! `urn:nimsforest:FOREST:user:NAME` (allowed client connections only). A user's
//! certificate thus opens neither a route, a gateway nor a leaf connection, and a leaf
//! node's joins no cluster.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::manifest::NodeRole;
use crate::error::{Error, Result};
use crate::pem::{Certificate, PrivateKey};

/// The route identity every node certificate of `forest` carries.
pub fn route_identity(forest: &str) -> String {
    format!("urn:nimsforest:{forest}:route")
}

/// The gateway identity every core node certificate of `forest` carries.
pub fn gateway_identity(forest: &str) -> String {
    format!("urn:nimsforest:{forest}:gateway")
}

/// The identity of the leaf node `name` of `forest`: a user of its FOREST account that may
/// connect as a leaf node only.
pub fn leaf_identity(forest: &str, name: &str) -> String {
    format!("urn:nimsforest:{forest}:leaf:{name}")
}

/// The identity of the client user `name` of `forest`.
pub fn user_identity(forest: &str, name: &str) -> String {
    format!("urn:nimsforest:{forest}:user:{name}")
}

/// The longest validity the tool gives a certificate: 100 years.
pub const MAX_DAYS: u32 = 36500;

/// When a certificate is valid.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From `now` for `days` days, 1 to [`MAX_DAYS`] (backdated an hour, for clocks a
    /// little behind).
    pub fn days_from(now: OffsetDateTime, days: u32) -> Result<Self> {
        let not_after = (1..=MAX_DAYS)
            .contains(&days)
            .then(|| now.checked_add(time::Duration::days(i64::from(days))))
            .flatten()
            .ok_or_else(|| Error::Usage {
                what: format!("a validity of {days} days"),
                reason: format!("must be 1 to {MAX_DAYS} days"),
            })?;
        Ok(Self {
            not_before: now - time::Duration::hours(1),
            not_after,
        })
    }

    /// From now for `days` days.
    pub fn days_from_now(days: u32) -> Result<Self> {
        Self::days_from(OffsetDateTime::now_utc(), days)
    }
}

/// `seconds` since 1970 as `2036-01-31 12:00:00 UTC`.
pub fn utc(seconds: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{seconds} seconds after 1970"),
    }
}

/// A certificate and its private key, both PEM, as rcgen made them.
pub struct Certified {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Never prints the key.
impl std::fmt::Debug for Certified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certified")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"(secret)")
            .finish()
    }
}

/// Who a certificate is for.
pub enum Holder<'a> {
    /// A node: server and client of TLS (clients on 4222, routes, gateways and leaf node
    /// connections both ways), named by its host name and addresses, which clients and
    /// dialing servers verify; its role decides its identities.
    Node {
        name: &'a str,
        addresses: &'a [IpAddr],
        role: NodeRole,
    },
    /// A client user.
    User { name: &'a str },
}

fn pki_error(what: &str, e: rcgen::Error) -> Error {
    Error::Signing {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

fn base_params(common_name: &str, forest: &str, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, format!("NimsForest {forest}"));
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    // Random, positive, 16 bytes (RFC 5280 allows up to 20).
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params
}

fn ia5(what: &str, s: String) -> Result<rcgen::string::Ia5String> {
    s.try_into().map_err(|e| pki_error(what, e))
}

/// A new forest CA: may sign leaf certificates only (path length 0). `generation` is 1 for
/// the forest's first CA and counts its rotations: each CA has a name of its own, so a
/// certificate's issuer names the CA that signed it.
pub fn new_ca(forest: &str, generation: u32, validity: Validity) -> Result<Certified> {
    let key = KeyPair::generate().map_err(|e| pki_error("the forest CA key", e))?;
    let name = match generation {
        0 | 1 => format!("NimsForest {forest} CA"),
        n => format!("NimsForest {forest} CA {n}"),
    };
    let mut params = base_params(&name, forest, validity);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(|e| pki_error("the forest CA certificate", e))?;
    Ok(Certified {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A new key and a certificate for it, signed by the forest CA (`ca_cert`, its key `ca_key`).
pub fn issue(
    forest: &str,
    ca_cert: &Certificate,
    ca_key: &PrivateKey,
    holder: Holder,
    validity: Validity,
) -> Result<Certified> {
    let what = holder.what();
    let key = KeyPair::generate().map_err(|e| pki_error(&what, e))?;
    let cert_pem = certify(forest, ca_cert, ca_key, holder, validity, &key)?;
    Ok(Certified {
        cert_pem,
        key_pem: key.serialize_pem(),
    })
}

/// A new certificate for an existing key (`key`), signed by the forest CA: a renewal, or a
/// certificate from a new CA. The key, and so the certificate's pin, stays.
pub fn renew(
    forest: &str,
    ca_cert: &Certificate,
    ca_key: &PrivateKey,
    holder: Holder,
    validity: Validity,
    key: &PrivateKey,
) -> Result<String> {
    let what = holder.what();
    let key = key.key_pair().map_err(|e| pki_error(&what, e))?;
    certify(forest, ca_cert, ca_key, holder, validity, &key)
}

impl Holder<'_> {
    fn what(&self) -> String {
        match self {
            Holder::Node { name, .. } => format!("the certificate of node {name}"),
            Holder::User { name } => format!("the certificate of user {name}"),
        }
    }
}

fn certify(
    forest: &str,
    ca_cert: &Certificate,
    ca_key: &PrivateKey,
    holder: Holder,
    validity: Validity,
    key: &KeyPair,
) -> Result<String> {
    let ca_key = ca_key
        .key_pair()
        .map_err(|e| pki_error("the forest CA key", e))?;
    let issuer = Issuer::from_ca_cert_der(&ca_cert.der().into(), ca_key)
        .map_err(|e| pki_error("the forest CA certificate", e))?;
    let what = holder.what();
    let common_name = match &holder {
        Holder::Node { name, .. } => *name,
        Holder::User { name } => *name,
    };
    let mut params = base_params(common_name, forest, validity);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match holder {
        Holder::Node {
            name,
            addresses,
            role,
        } => {
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            params.subject_alt_names = vec![SanType::DnsName(ia5(&what, name.to_string())?)];
            params
                .subject_alt_names
                .extend(addresses.iter().map(|a| SanType::IpAddress(*a)));
            let identities = match role {
                NodeRole::Core => vec![route_identity(forest), gateway_identity(forest)],
                NodeRole::Leaf => vec![leaf_identity(forest, name)],
            };
            for identity in identities {
                params
                    .subject_alt_names
                    .push(SanType::URI(ia5(&what, identity)?));
            }
        }
        Holder::User { name } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.subject_alt_names = vec![SanType::URI(ia5(&what, user_identity(forest, name))?)];
        }
    }
    let cert = params
        .signed_by(key, &issuer)
        .map_err(|e| pki_error(&what, e))?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_bounded_and_never_overflows() {
        let now = OffsetDateTime::now_utc();
        for days in [0, MAX_DAYS + 1, u32::MAX] {
            let e = Validity::days_from(now, days).unwrap_err();
            assert!(e.to_string().contains("must be 1 to 36500 days"), "{e}");
            assert_eq!(e.exit_code(), 2);
        }
        let v = Validity::days_from(now, MAX_DAYS).unwrap();
        assert_eq!((v.not_after - now).whole_days(), i64::from(MAX_DAYS));
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn a_certified_key_never_shows_in_debug_output() {
        let ca = new_ca("f", 1, Validity::days_from_now(1).unwrap()).unwrap();
        let shown = format!("{ca:?}");
        let body = ca.key_pem.lines().nth(1).unwrap();
        assert!(
            !shown.contains(body) && shown.contains("(secret)"),
            "{shown}"
        );
    }
}
