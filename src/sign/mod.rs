//! The OpenPGP signer: one key signs apt's `InRelease` and `Release.gpg`, dnf's
//! `repomd.xml.asc` and the RPM headers, in-process with rPGP (no `gpg` needed).
//!
//! Keys that current clients reject are refused when loaded (see [`policy`]). Every
//! signature is a v4 signature with SHA-512, whose creation time can be fixed
//! ([`Signer::with_signing_time`]); Ed25519 and RSA (PKCS #1 v1.5) signing is deterministic,
//! so the same data, key and time give the same bytes and a re-run rewrites nothing.

mod keygen;
pub mod policy;

use std::fmt;
use std::io::Read;
use std::path::Path;

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey,
    SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{
    PacketTrait, Signature, SignatureConfig, SignatureType, Subpacket, SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password, SigningKey, Timestamp};

use crate::error::{Error, IoContext, Result};

pub use keygen::{keygen, user_id_problem, GeneratedKey, KeyAlgorithm};
pub use policy::SigningKeyChoice;

/// What publishing needs from an OpenPGP key: signatures for apt's and dnf's indexes and
/// for RPM headers, checks of what this key signed before, and the public key clients
/// trust. [`Signer`] is the implementation; the repository writers see only this.
pub trait Sign: Sync {
    /// A clear-signed document (apt's `InRelease`).
    fn clearsign(&self, text: &str) -> Result<String>;
    /// An ASCII-armored detached signature (apt's `Release.gpg`, dnf's `repomd.xml.asc`).
    fn detached_armored(&self, data: &[u8]) -> Result<String>;
    /// The text of a clear-signed document this key signed (with a final line break), or
    /// why not: what a publication reads back before it builds on it.
    fn verify_clearsigned(&self, signed: &str) -> Result<String>;
    /// Whether `signature` is this key's detached signature of `data`.
    fn verify_detached(&self, data: &[u8], signature: &str) -> Result<()>;
    /// Signs an RPM in its header, deterministically (see [`Signer::sign_rpm`]).
    fn sign_rpm(&self, package: &mut ::rpm::Package) -> Result<()>;
    /// The public key, armored (`ID.asc`, `RPM-GPG-KEY-ID`).
    fn public_key_armored(&self) -> String;
    /// The public key as binary packets (apt's `Signed-By` keyring).
    fn public_key_binary(&self) -> Vec<u8>;
    /// The primary key's fingerprint, for reports.
    fn fingerprint(&self) -> String;
}

/// The environment variable holding the armored secret key (a CI secret).
pub const KEY_ENV: &str = "NIMSFOREST_SIGNING_KEY";
/// The environment variable holding the key's passphrase, if it has one.
pub const PASSPHRASE_ENV: &str = "NIMSFOREST_SIGNING_KEY_PASSPHRASE";

/// The hash of every signature made here.
const HASH: HashAlgorithm = HashAlgorithm::Sha512;

/// An unlocked signing key that passed the policy checks.
pub struct Signer {
    /// The certificate, unlocked, without third-party certifications.
    key: SignedSecretKey,
    choice: SigningKeyChoice,
    source_name: String,
    /// The earliest time a signature by this key verifies (see `policy::Accepted`).
    valid_from: u32,
    /// Fixed signature creation time; `None` means the current time.
    signing_time: Option<u32>,
}

impl fmt::Debug for Signer {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint())
            .field("signing_key", &self.choice)
            .field("source_name", &self.source_name)
            .field("signing_time", &self.signing_time)
            .finish()
    }
}

impl Signer {
    /// Armored secret key text; `source_name` names it in errors (a path or an env var name).
    pub fn from_armored(text: &str, passphrase: Option<&str>, source_name: &str) -> Result<Self> {
        let key_error = |reason: String| Error::Key {
            source_name: source_name.to_string(),
            reason,
        };
        const SECRET_BLOCK: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
        let Some(start) = text.find(SECRET_BLOCK) else {
            let reason = if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                "is a public key; signing needs the secret key (`gpg --armor --export-secret-keys`)"
            } else {
                "is not an armored OpenPGP secret key (expected -----BEGIN PGP PRIVATE KEY BLOCK-----)"
            };
            return Err(key_error(reason.into()));
        };
        // Text before the armor (a comment, a label) is allowed, as in GnuPG.
        let text = &text[start..];
        let blocks = text.matches(SECRET_BLOCK).count();
        if blocks > 1 {
            return Err(key_error(format!(
                "holds {blocks} secret keys; give exactly one"
            )));
        }
        let (keys, _headers) = SignedSecretKey::from_string_many(text)
            .map_err(|e| key_error(format!("cannot be read as an OpenPGP secret key: {e}")))?;
        Self::from_keys(keys, passphrase, source_name)
    }

    /// From `path` if given, else from the env var `NIMSFOREST_SIGNING_KEY` (armored text);
    /// passphrase from `NIMSFOREST_SIGNING_KEY_PASSPHRASE` if set. A file may also hold a
    /// binary (unarmored) secret key.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let passphrase = std::env::var(PASSPHRASE_ENV).ok();
        let passphrase = passphrase.as_deref();
        match path {
            Some(path) => {
                let bytes = std::fs::read(path).at(path)?;
                let source_name = path.display().to_string();
                match std::str::from_utf8(&bytes) {
                    Ok(text) if text.contains("-----BEGIN PGP ") => {
                        Self::from_armored(text, passphrase, &source_name)
                    }
                    _ => {
                        let keys =
                            SignedSecretKey::from_bytes_many(bytes.as_slice()).map_err(|e| {
                                Error::Key {
                                    source_name: source_name.clone(),
                                    reason: format!("cannot be read as an OpenPGP secret key: {e}"),
                                }
                            })?;
                        Self::from_keys(keys, passphrase, &source_name)
                    }
                }
            }
            None => match std::env::var(KEY_ENV) {
                Ok(text) if !text.trim().is_empty() => {
                    Self::from_armored(&text, passphrase, KEY_ENV)
                }
                Ok(_) => Err(Error::Key {
                    source_name: KEY_ENV.into(),
                    reason: "is empty".into(),
                }),
                Err(_) => Err(Error::Key {
                    source_name: KEY_ENV.into(),
                    reason: "is not set and no key file was given: give an armored secret key \
                             (`nimsforest-pkg keygen` makes one)"
                        .into(),
                }),
            },
        }
    }

    fn from_keys(
        keys: impl Iterator<Item = pgp::errors::Result<SignedSecretKey>>,
        passphrase: Option<&str>,
        source_name: &str,
    ) -> Result<Self> {
        let key_error = |reason: String| Error::Key {
            source_name: source_name.to_string(),
            reason,
        };
        let keys = keys
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| key_error(format!("cannot be read as an OpenPGP secret key: {e}")))?;
        let key = match keys.len() {
            1 => keys.into_iter().next().expect("one key"),
            0 => return Err(key_error("holds no secret key".into())),
            n => {
                return Err(key_error(format!(
                    "holds {n} secret keys; give exactly one"
                )))
            }
        };
        let policy::Accepted {
            mut key,
            choice,
            valid_from,
        } = policy::check(&key, policy::now()).map_err(key_error)?;
        unlock(&mut key, choice, passphrase, source_name)?;
        Ok(Self {
            key,
            choice,
            source_name: source_name.to_string(),
            valid_from,
            signing_time: None,
        })
    }

    /// The primary key's fingerprint, uppercase hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.key.primary_key.fingerprint())
    }

    fn public_key(&self) -> SignedPublicKey {
        self.key.to_public_key()
    }

    /// The public key, armored: the `.asc` file and `RPM-GPG-KEY-nimsforest`.
    pub fn public_key_armored(&self) -> String {
        self.public_key()
            .to_armored_string(ArmorOptions::default())
            .expect("a parsed public key serializes")
    }

    /// The public key as binary packets: a keyring for apt's `Signed-By`, `gpgv --keyring`
    /// and `sqv --keyring`.
    pub fn public_key_binary(&self) -> Vec<u8> {
        self.public_key()
            .to_bytes()
            .expect("a parsed public key serializes")
    }

    /// Signature creation time for reproducibility (SOURCE_DATE_EPOCH-style fixed time).
    /// A time before the key (or the self-signatures that make it valid) existed is moved
    /// up to that moment, since verifiers refuse a signature older than its key; times
    /// past 2106 are capped.
    pub fn with_signing_time(mut self, unix_seconds: u64) -> Self {
        let t = u32::try_from(unix_seconds).unwrap_or(u32::MAX);
        self.signing_time = Some(t.max(self.valid_from));
        self
    }

    /// Signs an RPM in its header (v4 signature tags, via the rpm crate's signing API). The
    /// signature is dated at the package's build time (or the key's creation, if later), so
    /// signing the same package with the same key always gives the same bytes: a repository
    /// recognises a package it published before by its checksum.
    pub fn sign_rpm(&self, package: &mut ::rpm::Package) -> Result<()> {
        let built = package.metadata.get_build_time().unwrap_or(0);
        let time = u32::try_from(built)
            .unwrap_or(u32::MAX)
            .max(self.valid_from);
        // Through the writer's helper: plain signing drops the archive size rpm2cpio needs.
        crate::rpm::sign_rpm(package, RpmSigning(self), time).map_err(|e| Error::Signing {
            what: format!(
                "{}-{}",
                package.metadata.get_name().unwrap_or("package"),
                package.metadata.get_version().unwrap_or("?")
            ),
            reason: e.to_string(),
        })
    }

    // rPGP implements its signing traits for `Box<&dyn SigningKey>` (not `&dyn`), which is
    // what lets the primary key and a subkey share one code path.
    #[allow(clippy::redundant_allocation)]
    fn signing_key(&self) -> Box<&dyn SigningKey> {
        match self.choice {
            SigningKeyChoice::Primary => Box::new(&self.key.primary_key),
            SigningKeyChoice::Subkey(i) => Box::new(&self.key.secret_subkeys[i].key),
        }
    }

    fn time(&self) -> Timestamp {
        match self.signing_time {
            Some(t) => Timestamp::from_secs(t),
            None => Timestamp::now(),
        }
    }

    /// A v4 SHA-512 signature configuration with the creation time and issuer in the hashed
    /// area (rpm reads the issuer only from there).
    fn config(&self, typ: SignatureType, time: Timestamp) -> pgp::errors::Result<SignatureConfig> {
        let key = self.signing_key();
        let mut config = SignatureConfig::v4(typ, key.algorithm(), HASH);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(time))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))?,
            Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id()))?,
        ];
        Ok(config)
    }

    fn binary_signature(&self, data: impl Read, time: Timestamp) -> pgp::errors::Result<Signature> {
        self.config(SignatureType::Binary, time)?.sign(
            &self.signing_key(),
            &Password::empty(),
            data,
        )
    }

    fn verify_error(&self, what: &str, e: pgp::errors::Error) -> Error {
        Error::Signing {
            what: format!("checking {what} against key {}", self.fingerprint()),
            reason: e.to_string(),
        }
    }

    fn signing_error(&self, what: &str, e: pgp::errors::Error) -> Error {
        Error::Signing {
            what: format!("{what} with key {}", self.fingerprint()),
            reason: e.to_string(),
        }
    }
}

impl Sign for Signer {
    /// Like `gpg --clearsign`: the text's last line break is the one before the signature
    /// block and not signed, and trailing blanks on lines are not signed (verifiers drop
    /// them, RFC 9580 §7.2); gpgv `--output` gives back `text` exactly.
    fn clearsign(&self, text: &str) -> Result<String> {
        let body = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        let signed = self
            .config(SignatureType::Text, self.time())
            .and_then(|config| {
                CleartextSignedMessage::new_many(body, |normalized| {
                    let hashed = normalized
                        .split("\r\n")
                        .map(|line| line.trim_end_matches([' ', '\t']))
                        .collect::<Vec<_>>()
                        .join("\r\n");
                    let sig =
                        config.sign(&self.signing_key(), &Password::empty(), hashed.as_bytes())?;
                    Ok(vec![sig])
                })
            })
            .and_then(|message| message.to_armored_string(ArmorOptions::default()))
            .map_err(|e| self.signing_error("a clear-signed document", e))?;
        Ok(signed)
    }

    fn detached_armored(&self, data: &[u8]) -> Result<String> {
        self.binary_signature(data, self.time())
            .and_then(|sig| DetachedSignature::new(sig).to_armored_string(ArmorOptions::default()))
            .map_err(|e| self.signing_error("a detached signature", e))
    }

    fn verify_clearsigned(&self, signed: &str) -> Result<String> {
        let (message, _) = CleartextSignedMessage::from_string(signed)
            .map_err(|e| self.verify_error("a clear-signed document", e))?;
        let verified = match self.choice {
            SigningKeyChoice::Primary => message.verify(self.key.primary_key.public_key()),
            SigningKeyChoice::Subkey(i) => {
                message.verify(self.key.secret_subkeys[i].key.public_key())
            }
        };
        verified.map_err(|e| self.verify_error("a clear-signed document", e))?;
        // The cleartext as written: dash-escaped lines unescaped, the final line break back.
        let mut text: String = message
            .text()
            .lines()
            .map(|l| l.strip_prefix("- ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
        Ok(text)
    }

    fn verify_detached(&self, data: &[u8], signature: &str) -> Result<()> {
        let (signature, _) = DetachedSignature::from_string(signature)
            .map_err(|e| self.verify_error("a detached signature", e))?;
        match self.choice {
            SigningKeyChoice::Primary => signature.verify(self.key.primary_key.public_key(), data),
            SigningKeyChoice::Subkey(i) => {
                signature.verify(self.key.secret_subkeys[i].key.public_key(), data)
            }
        }
        .map_err(|e| self.verify_error("a detached signature", e))
    }

    fn sign_rpm(&self, package: &mut ::rpm::Package) -> Result<()> {
        Signer::sign_rpm(self, package)
    }

    fn public_key_armored(&self) -> String {
        Signer::public_key_armored(self)
    }

    fn public_key_binary(&self) -> Vec<u8> {
        Signer::public_key_binary(self)
    }

    fn fingerprint(&self) -> String {
        Signer::fingerprint(self)
    }
}

/// Removes the passphrase from the key material that signs, so that signing needs no
/// passphrase (and no S2K work) per signature.
fn unlock(
    key: &mut SignedSecretKey,
    choice: SigningKeyChoice,
    passphrase: Option<&str>,
    source_name: &str,
) -> Result<()> {
    let encrypted = match choice {
        SigningKeyChoice::Primary => key.primary_key.secret_params().is_encrypted(),
        SigningKeyChoice::Subkey(i) => key.secret_subkeys[i].key.secret_params().is_encrypted(),
    };
    if !encrypted {
        return Ok(());
    }
    let key_error = |reason: String| Error::Key {
        source_name: source_name.to_string(),
        reason,
    };
    let Some(passphrase) = passphrase else {
        return Err(key_error(format!(
            "is passphrase-protected: set {PASSPHRASE_ENV}"
        )));
    };
    let password = Password::from(passphrase);
    let result = match choice {
        SigningKeyChoice::Primary => key.primary_key.remove_password(&password),
        SigningKeyChoice::Subkey(i) => key.secret_subkeys[i].key.remove_password(&password),
    };
    result.map_err(|e| match e {
        pgp::errors::Error::Unsupported { .. } => {
            key_error(format!("its secret key cannot be unlocked here: {e}"))
        }
        _ => key_error(format!("wrong passphrase (from {PASSPHRASE_ENV}, if set)")),
    })
}

/// Adapts the signer to the rpm crate's signing trait, with this module's signature
/// settings (SHA-512, issuer subpackets) instead of the crate's.
struct RpmSigning<'a>(&'a Signer);

impl fmt::Debug for RpmSigning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ::rpm::signature::Signing for RpmSigning<'_> {
    type Signature = Vec<u8>;

    fn sign(
        &self,
        data: impl Read,
        t: ::rpm::Timestamp,
    ) -> std::result::Result<Self::Signature, ::rpm::Error> {
        let sig = self
            .0
            .binary_signature(data, Timestamp::from_secs(t.0))
            .and_then(|sig| {
                let mut bytes = Vec::new();
                sig.to_writer_with_header(&mut bytes)?;
                Ok(bytes)
            })
            .map_err(|e| ::rpm::Error::SignError(Box::new(e)))?;
        Ok(sig)
    }
}

#[cfg(test)]
mod tests;
