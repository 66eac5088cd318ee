//! New signing key pairs that every current client accepts.

use pgp::composed::{ArmorOptions, KeyType, SecretKeyParamsBuilder};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::{CompressionAlgorithm, KeyDetails};

use crate::error::{Error, Result};

/// The algorithm of a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 in the v4 "legacy EdDSA" format: small, fast, deterministic signatures, read
    /// by Debian 12's gpgv, Debian 13's sqv and RHEL 9's rpm alike.
    Ed25519,
    /// RSA with a 4096-bit modulus, for sites that require RSA. Generating one takes seconds.
    Rsa4096,
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        })
    }
}

/// A new key pair, armored.
#[derive(Clone)]
pub struct GeneratedKey {
    pub secret_armored: String,
    pub public_armored: String,
    /// The primary key's fingerprint, uppercase hex.
    pub fingerprint: String,
}

/// Never prints the secret key.
impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("secret_armored", &"(secret)")
            .field("public_armored", &self.public_armored)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// What is wrong with a key's user ID (`Name <email>`), if anything: apt, rpm and gpg show
/// it as one line of text.
pub fn user_id_problem(user_id: &str) -> Option<&'static str> {
    if user_id.trim().is_empty() {
        Some("is empty; give a user ID such as \"Name <email>\"")
    } else if user_id.chars().any(char::is_control) {
        Some("must be one line without control characters")
    } else {
        None
    }
}

/// A new key pair every current client accepts: a v4 primary key that certifies and signs
/// (no subkeys, nothing to encrypt), SHA-256 self-signatures, SHA-512 preferred, no expiry.
/// With a passphrase the secret key is locked with it (iterated and salted S2K, AES-256).
pub fn keygen(
    user_id: &str,
    algorithm: KeyAlgorithm,
    passphrase: Option<&str>,
) -> Result<GeneratedKey> {
    let fail = |reason: String| Error::Key {
        source_name: "being generated".into(),
        reason,
    };
    if let Some(problem) = user_id_problem(user_id) {
        return Err(fail(format!("the user ID {user_id:?} {problem}")));
    }
    let key_type = match algorithm {
        KeyAlgorithm::Ed25519 => KeyType::Ed25519Legacy,
        KeyAlgorithm::Rsa4096 => KeyType::Rsa(4096),
    };
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(key_type)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_string())
        .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
        .preferred_symmetric_algorithms(
            vec![SymmetricKeyAlgorithm::AES256, SymmetricKeyAlgorithm::AES128].into(),
        )
        .preferred_compression_algorithms(
            vec![
                CompressionAlgorithm::ZLIB,
                CompressionAlgorithm::Uncompressed,
            ]
            .into(),
        )
        .passphrase(passphrase.map(str::to_string));
    let key = params
        .build()
        .map_err(|e| fail(e.to_string()))?
        .generate(rand::thread_rng())
        .map_err(|e| fail(e.to_string()))?;
    let secret_armored = key
        .to_armored_string(ArmorOptions::default())
        .map_err(|e| fail(e.to_string()))?;
    let public_armored = key
        .to_public_key()
        .to_armored_string(ArmorOptions::default())
        .map_err(|e| fail(e.to_string()))?;
    let fingerprint = format!("{:X}", key.primary_key.fingerprint());

    // The new key must pass the same checks as any key given to the signer.
    super::Signer::from_armored(&secret_armored, passphrase, "being generated")?;
    Ok(GeneratedKey {
        secret_armored,
        public_armored,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_never_shows_its_secret_in_debug_output() {
        let key = keygen("T <t@example.org>", KeyAlgorithm::Ed25519, None).unwrap();
        let shown = format!("{key:?}");
        let secret: Vec<&str> = key
            .secret_armored
            .lines()
            .filter(|l| l.len() > 20 && !key.public_armored.contains(*l))
            .collect();
        assert!(!secret.is_empty());
        for line in secret {
            assert!(!shown.contains(line), "{shown}");
        }
        assert!(shown.contains("(secret)") && shown.contains(&key.fingerprint));
    }
}
