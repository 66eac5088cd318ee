//! Which keys the signer accepts: the ones every current client accepts.
//!
//! Debian 13's apt verifies with sqv (Sequoia's standard policy), Debian 12's with gpgv
//! (GnuPG 2.2), RHEL 9's rpm with rpm-sequoia. Together they reject DSA, RSA under 2048 bits
//! (and sqv RSA-2048 from 2030), SHA-1 or MD5 in data signatures and in the key's own
//! self-signatures, and keys that are expired or revoked. GnuPG 2.2 reads neither v6 keys nor
//! the RFC 9580 Ed25519 algorithm (27). What is left, and accepted here: v4 keys whose
//! signing key is RSA >= 3072 bits or Ed25519 in the legacy EdDSA format (algorithm 22).
//!
//! Only self-signatures made by the primary key count; third-party certifications are
//! dropped from the key before it is used or exported. Of several self-signatures on one
//! user ID or subkey, the newest one speaks (as in GnuPG and Sequoia).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgp::composed::{SignedSecretKey, SignedSecretSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{PublicKey, Signature, SignatureType, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{EddsaLegacyPublicParams, KeyDetails, KeyVersion, PublicParams, Tag};

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: u32 = 3072;

/// Which key of the certificate makes signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyChoice {
    Primary,
    /// An index into `SignedSecretKey::secret_subkeys`.
    Subkey(usize),
}

/// A key that passed the checks.
#[derive(Debug)]
pub struct Accepted {
    /// The key with third-party certifications removed.
    pub key: SignedSecretKey,
    pub choice: SigningKeyChoice,
    /// The earliest signature time verifiers accept: the signing key and every
    /// self-signature that makes it valid must exist by then (Sequoia checks this).
    pub valid_from: u32,
}

/// Checks a secret key against the policy at time `now` (seconds since the epoch) and
/// picks the key that signs, or gives a reason (one line, without the key's name) why
/// current clients would reject it.
pub fn check(key: &SignedSecretKey, now: u64) -> Result<Accepted, String> {
    let primary = key.primary_key.public_key();
    if primary.version() != KeyVersion::V4 {
        return Err(format!(
            "is an OpenPGP {:?} key; Debian 12's gpgv and current rpm read only v4 keys \
             (`nimsforest-pkg keygen` makes one)",
            primary.version()
        ));
    }
    let mut key = key.clone();
    drop_third_party_certifications(&mut key);

    // Revocation of the whole key.
    for sig in &key.details.revocation_signatures {
        if sig.verify_key(primary).is_ok() {
            return Err("is revoked".into());
        }
    }

    // User IDs: at least one valid, current self-certification, none made with a weak hash.
    let mut primary_sigs: Vec<&Signature> = Vec::new();
    for sig in &key.details.direct_signatures {
        if sig.typ() == Some(SignatureType::Key) {
            check_hash(sig, "the direct-key self-signature")?;
            if sig.verify_key(primary).is_err() {
                return Err("has a direct-key self-signature that does not verify".into());
            }
            primary_sigs.push(sig);
        }
    }
    let mut valid_user_ids = 0;
    for user in &key.details.users {
        let name = String::from_utf8_lossy(user.id.id()).into_owned();
        let Some(newest) = newest(user.signatures.iter()) else {
            continue;
        };
        if newest.typ() == Some(SignatureType::CertRevocation) {
            continue;
        }
        check_hash(newest, &format!("the self-signature on user ID {name:?}"))?;
        if newest
            .verify_certification(primary, Tag::UserId, &user.id)
            .is_err()
        {
            return Err(format!(
                "the self-signature on user ID {name:?} does not verify"
            ));
        }
        valid_user_ids += 1;
        primary_sigs.push(newest);
    }
    if valid_user_ids == 0 {
        return Err("has no user ID with a valid self-signature".into());
    }

    // Expiry of the primary key, from its newest self-signature.
    if let Some(sig) = newest(primary_sigs.iter().copied()) {
        check_expiry(sig, primary.created_at().as_secs(), now, "the key")?;
    }

    // Every subkey binding (also of subkeys that never sign) is part of the exported key.
    for sub in &key.public_subkeys {
        if let Some(newest) = newest(sub.signatures.iter()) {
            check_hash(
                newest,
                &format!("the binding of subkey {:X}", sub.key.fingerprint()),
            )?;
        }
    }
    for sub in &key.secret_subkeys {
        if let Some(newest) = newest(sub.signatures.iter()) {
            check_hash(
                newest,
                &format!("the binding of subkey {:X}", sub.key.fingerprint()),
            )?;
        }
    }

    let mut valid_from = primary_sigs
        .iter()
        .filter_map(|sig| sig.created())
        .map(|t| t.as_secs())
        .fold(primary.created_at().as_secs(), u32::max);

    // The signing key: the newest usable signing subkey, else a signing-capable primary.
    let mut best: Option<(usize, u32, u32)> = None;
    for (index, sub) in key.secret_subkeys.iter().enumerate() {
        if let Some((created, bound)) = usable_signing_subkey(primary, sub, now)? {
            if best.is_none_or(|(_, t, _)| created >= t) {
                best = Some((index, created, bound));
            }
        }
    }
    let choice = match best {
        Some((index, _, bound)) => {
            valid_from = valid_from.max(bound);
            SigningKeyChoice::Subkey(index)
        }
        None => {
            let flags = newest(primary_sigs.iter().copied()).and_then(key_flags_sign);
            let can_sign = match flags {
                Some(sign) => sign,
                // No key-flags subpacket (very old keys): the algorithm decides.
                None => primary.algorithm() != PublicKeyAlgorithm::RSAEncrypt,
            };
            if !can_sign {
                return Err(
                    "has no signing-capable key (neither the primary key nor a valid subkey \
                     carries the sign flag)"
                        .into(),
                );
            }
            check_algorithm(primary.public_params(), "")?;
            SigningKeyChoice::Primary
        }
    };
    Ok(Accepted {
        key,
        choice,
        valid_from,
    })
}

/// The subkey's creation time and the time from which it is bound (its binding and
/// back-signature exist); `None` when the subkey does not sign (no sign flag, revoked,
/// expired); an error when it claims to sign but current clients would reject it.
fn usable_signing_subkey(
    primary: &PublicKey,
    sub: &SignedSecretSubKey,
    now: u64,
) -> Result<Option<(u32, u32)>, String> {
    let Some(binding) = newest(sub.signatures.iter()) else {
        return Ok(None);
    };
    let subkey = sub.key.public_key();
    let fp = format!("{:X}", subkey.fingerprint());
    if binding.typ() == Some(SignatureType::SubkeyRevocation) {
        return Ok(None);
    }
    if sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(primary, subkey).is_ok()
    }) {
        return Ok(None);
    }
    if key_flags_sign(binding) != Some(true) {
        return Ok(None);
    }
    if binding.verify_subkey_binding(primary, subkey).is_err() {
        return Err(format!(
            "the binding of signing subkey {fp} does not verify"
        ));
    }
    let created = subkey.created_at().as_secs();
    if check_expiry(binding, created, now, "").is_err() {
        return Ok(None);
    }
    check_algorithm(subkey.public_params(), &format!("signing subkey {fp}: "))?;
    // A signing subkey must certify its primary in return (the embedded back-signature);
    // without it GnuPG and Sequoia ignore the subkey.
    let backsig = binding.embedded_signature().filter(|back| {
        back.typ() == Some(SignatureType::KeyBinding)
            && back.verify_primary_key_binding(subkey, primary).is_ok()
    });
    let Some(backsig) = backsig else {
        return Err(format!(
            "signing subkey {fp} has no valid primary-key back-signature, so clients ignore it"
        ));
    };
    let bound = [binding.created(), backsig.created()]
        .into_iter()
        .flatten()
        .map(|t| t.as_secs())
        .fold(created, u32::max);
    Ok(Some((created, bound)))
}

/// Removes certifications on user IDs that the primary key did not make: the signer never
/// needs them, and they would only grow the exported key.
fn drop_third_party_certifications(key: &mut SignedSecretKey) {
    let fingerprint = key.primary_key.fingerprint();
    let key_id = key.primary_key.legacy_key_id();
    for user in &mut key.details.users {
        user.signatures.retain(|sig| {
            let fps = sig.issuer_fingerprint();
            let ids = sig.issuer_key_id();
            (fps.is_empty() && ids.is_empty())
                || fps.iter().any(|fp| **fp == fingerprint)
                || ids.iter().any(|id| **id == key_id)
        });
    }
    key.details.users.retain(|user| !user.signatures.is_empty());
}

fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|sig| sig.created().map(|t| t.as_secs()).unwrap_or(0))
}

/// The sign flag of a self-signature, `None` when it has no key-flags subpacket.
fn key_flags_sign(sig: &Signature) -> Option<bool> {
    let config = sig.config()?;
    config
        .hashed_subpackets()
        .find_map(|p| match &p.data {
            SubpacketData::KeyFlags(_) => Some(()),
            _ => None,
        })
        .map(|()| sig.key_flags().sign())
}

fn check_hash(sig: &Signature, what: &str) -> Result<(), String> {
    match sig.hash_alg() {
        Some(HashAlgorithm::Sha1 | HashAlgorithm::Md5 | HashAlgorithm::Ripemd160) => {
            Err(format!(
                "{what} uses {}, which current clients (apt with sqv, RHEL 9 rpm) reject; \
                 re-sign the key with SHA-256 or SHA-512 or make a new one with `nimsforest-pkg keygen`",
                sig.hash_alg().map(|h| h.to_string()).unwrap_or_default()
            ))
        }
        Some(_) => Ok(()),
        None => Err(format!("{what} is of an unknown signature version")),
    }
}

fn check_expiry(sig: &Signature, created: u32, now: u64, what: &str) -> Result<(), String> {
    let Some(validity) = sig.key_expiration_time() else {
        return Ok(());
    };
    let validity = u64::from(validity.as_secs());
    if validity == 0 {
        return Ok(());
    }
    let expires = u64::from(created) + validity;
    if expires <= now {
        let when = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(expires));
        return Err(format!("{what} expired on {when}"));
    }
    Ok(())
}

/// Refuses algorithms and sizes current clients reject. `prefix` names a subkey.
pub fn check_algorithm(params: &PublicParams, prefix: &str) -> Result<(), String> {
    const ACCEPTED: &str = "current clients need RSA >= 3072 bits or Ed25519";
    match params {
        PublicParams::RSA(rsa) => {
            let bits = rsa_bits(rsa);
            if bits < MIN_RSA_BITS {
                return Err(format!("{prefix}RSA-{bits} is refused: {ACCEPTED}"));
            }
            Ok(())
        }
        PublicParams::EdDSALegacy(EddsaLegacyPublicParams::Ed25519 { .. }) => Ok(()),
        PublicParams::Ed25519(_) => Err(format!(
            "{prefix}Ed25519 in the RFC 9580 format (algorithm 27) is refused: Debian 12's \
             gpgv cannot read it; use the legacy EdDSA format (`nimsforest-pkg keygen` makes one)"
        )),
        PublicParams::DSA(_) => Err(format!("{prefix}DSA is refused: {ACCEPTED}")),
        PublicParams::Elgamal(_) => Err(format!("{prefix}ElGamal is refused: {ACCEPTED}")),
        other => Err(format!(
            "{prefix}{} is refused: {ACCEPTED}",
            algorithm_name(other)
        )),
    }
}

fn algorithm_name(params: &PublicParams) -> &'static str {
    match params {
        PublicParams::ECDSA(_) => "ECDSA",
        PublicParams::ECDH(_) | PublicParams::X25519(_) | PublicParams::X448(_) => {
            "an encryption-only algorithm"
        }
        PublicParams::Ed448(_) => "Ed448",
        PublicParams::EdDSALegacy(_) => "EdDSA on a curve other than Ed25519",
        _ => "this algorithm",
    }
}

/// The bit length of an RSA modulus: the first MPI of the public parameters starts with it.
fn rsa_bits(params: &pgp::types::RsaPublicParams) -> u32 {
    match params.to_bytes() {
        Ok(bytes) if bytes.len() >= 2 => u32::from(u16::from_be_bytes([bytes[0], bytes[1]])),
        _ => 0,
    }
}

/// Seconds since the epoch now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
