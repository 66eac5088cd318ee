//! PEM files that other programs read: certificates and keys for apt (GnuTLS), dnf
//! (OpenSSL) and nats-server (Go). Each is decoded (strict framing, then the `pem` crate),
//! checked (X.509 certificates parse, keys parse) and written out again from its bytes:
//! LF line endings, 64-column base64, nothing else. What reaches a node is therefore what
//! the parser understood, never text pasted from a file: a carriage return or a `runcmd:`
//! line hidden in a PEM cannot reach the user-data.
//!
//! Errors name the file and what is wrong with it (a line number at most), never its
//! contents: it may be a private key.

use std::fmt;
use std::path::Path;

use crate::error::Result;
use crate::input::{self, unusable};

const CERTIFICATE: &str = "CERTIFICATE";
/// PKCS#8, SEC1 (EC) and PKCS#1 (RSA): what nats-server, apt and dnf all read.
const KEY_LABELS: [&str; 3] = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"];

/// One block as found in a file: its label and the bytes its base64 decodes to.
struct Block {
    label: String,
    der: Vec<u8>,
}

/// A label worth repeating in an error: the usual upper-case words, nothing that could be
/// a secret mistaken for a label.
fn shown_label(label: &str) -> String {
    let plain = label.len() <= 40
        && label
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ');
    match (plain, label.starts_with("ENCRYPTED")) {
        (true, false) => format!("a block labelled {label}"),
        (true, true) => format!(
            "a block labelled {label} (decrypt it first, e.g. `openssl pkey -in KEY -out NEW`)"
        ),
        (false, _) => "a block of an unknown kind".to_string(),
    }
}

/// Splits `text` into PEM blocks, refusing anything but blocks and blank lines: each line
/// ends in LF or CRLF (a lone CR is refused), a block is `-----BEGIN L-----`, base64
/// lines, `-----END L-----`, with no headers (an encrypted key has them).
fn blocks(what: &str, path: &Path, text: &[u8]) -> Result<Vec<Block>> {
    let bad = |reason: String| unusable(what, path, reason);
    let mut found = Vec::new();
    // The label and base64 lines of the block being read.
    let mut open: Option<(&str, Vec<&str>)> = None;
    let text = std::str::from_utf8(text)
        .map_err(|e| bad(format!("is not text (byte {})", e.valid_up_to())))?;
    // The newline that ends the last line does not start another.
    let text = text.strip_suffix('\n').unwrap_or(text);
    for (index, line) in text.split('\n').enumerate() {
        let n = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\r') {
            return Err(bad(format!(
                "has a carriage return inside line {n} (lines end in LF or CRLF)"
            )));
        }
        if let Some(c) = line
            .chars()
            .find(|c| !(c.is_ascii_graphic() || *c == ' ' || *c == '\t'))
        {
            let kind = if c.is_ascii() {
                "a control character"
            } else {
                "a non-ASCII character"
            };
            return Err(bad(format!("has {kind} on line {n}")));
        }
        let line = line.trim_end_matches([' ', '\t']);
        match &mut open {
            None if line.trim_start().is_empty() => {}
            None => {
                let label = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                    .ok_or_else(|| {
                        bad(format!(
                            "has text outside its PEM blocks (line {n}); expected only \
                             -----BEGIN ...----- blocks"
                        ))
                    })?;
                open = Some((label, Vec::new()));
            }
            Some((label, lines)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != *label {
                        return Err(bad(format!(
                            "line {n} ends {} with another label",
                            shown_label(label)
                        )));
                    }
                    found.push(decode(what, path, label, lines, n)?);
                    open = None;
                } else if line.is_empty() || line.contains(':') {
                    return Err(bad(format!(
                        "has headers or a blank line inside {} (line {n}); an encrypted \
                         key is not accepted",
                        shown_label(label)
                    )));
                } else if !line
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
                {
                    return Err(bad(format!("line {n} is not base64")));
                } else {
                    lines.push(line);
                }
            }
        }
    }
    if let Some((label, _)) = open {
        return Err(bad(format!("{} has no END line", shown_label(label))));
    }
    if found.is_empty() {
        return Err(bad("holds no PEM block (-----BEGIN ...-----)".into()));
    }
    Ok(found)
}

/// The block's bytes, decoded by the `pem` crate from the lines the framing accepted.
fn decode(what: &str, path: &Path, label: &str, lines: &[&str], end_line: usize) -> Result<Block> {
    let framed = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    );
    let invalid = || {
        unusable(
            what,
            path,
            format!("the block ending on line {end_line} is not valid base64"),
        )
    };
    let parsed = ::pem::parse(framed).map_err(|_| invalid())?;
    if parsed.contents().is_empty() {
        return Err(unusable(
            what,
            path,
            format!("the block ending on line {end_line} is empty"),
        ));
    }
    Ok(Block {
        label: parsed.tag().to_string(),
        der: parsed.into_contents(),
    })
}

/// A block written the one way: LF line endings, 64-column base64.
fn encode(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// An X.509 certificate that parsed, with what the tool checks against it.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    /// notAfter, seconds since 1970.
    not_after: i64,
    /// The subject public key's bits (for EC: the point; for RSA: the RSAPublicKey).
    public_key: Vec<u8>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex: what nats-server's
    /// `pinned_certs` lists.
    pin: String,
    /// The subject's and the issuer's distinguished names, DER.
    subject: Vec<u8>,
    issuer: Vec<u8>,
}

impl Certificate {
    fn parse(what: &str, path: &Path, index: usize, der: Vec<u8>) -> Result<Self> {
        let refuse = |why: &str| {
            unusable(
                what,
                path,
                format!("certificate {index} is not an X.509 certificate ({why})"),
            )
        };
        let (rest, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| refuse("it does not parse"))?;
        if !rest.is_empty() {
            return Err(refuse("bytes follow it"));
        }
        let not_after = cert.validity().not_after.timestamp();
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        let pin = crate::digest::sha256_hex(cert.public_key().raw);
        let subject = cert.subject().as_raw().to_vec();
        let issuer = cert.issuer().as_raw().to_vec();
        Ok(Self {
            der,
            not_after,
            public_key,
            pin,
            subject,
            issuer,
        })
    }

    /// SHA-256 of its public key (DER SubjectPublicKeyInfo), lowercase hex: the same for
    /// every certificate of one key, so renewing a certificate keeps its pin.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// Whether `ca` issued it (by name: the forest gives each CA a name of its own).
    pub fn issued_by(&self, ca: &Certificate) -> bool {
        self.issuer == ca.subject
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// As PEM, written the one way (see `encode`).
    pub fn pem(&self) -> String {
        encode(CERTIFICATE, &self.der)
    }

    /// notAfter, seconds since 1970.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}

/// One or more certificates (a CA file may hold the old and the new CA during a
/// rotation), as PEM written by this module.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificates {
    pem: String,
    certs: Vec<Certificate>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("count", &self.certs.len())
            .field("pem", &self.pem)
            .finish()
    }
}

impl Certificates {
    /// Exactly one certificate (a client's or a node's own).
    pub fn one(what: &str, path: &Path, text: &[u8]) -> Result<Self> {
        let certs = Self::bundle(what, path, text)?;
        match certs.certs.len() {
            1 => Ok(certs),
            n => Err(unusable(
                what,
                path,
                format!("holds {n} certificates; expected one"),
            )),
        }
    }

    /// One certificate or more (a CA file).
    pub fn bundle(what: &str, path: &Path, text: &[u8]) -> Result<Self> {
        let mut pem = String::new();
        let mut certs = Vec::new();
        for (i, block) in blocks(what, path, text)?.into_iter().enumerate() {
            if block.label != CERTIFICATE {
                return Err(unusable(
                    what,
                    path,
                    format!(
                        "holds {}; expected only CERTIFICATE blocks",
                        shown_label(&block.label)
                    ),
                ));
            }
            pem.push_str(&encode(CERTIFICATE, &block.der));
            certs.push(Certificate::parse(what, path, i + 1, block.der)?);
        }
        Ok(Self { pem, certs })
    }

    pub fn read_one(what: &str, path: &Path) -> Result<Self> {
        Self::one(what, path, &input::read(what, path)?)
    }

    pub fn read_bundle(what: &str, path: &Path) -> Result<Self> {
        Self::bundle(what, path, &input::read(what, path)?)
    }

    /// The PEM text, as this module wrote it.
    pub fn as_str(&self) -> &str {
        &self.pem
    }

    pub fn certs(&self) -> &[Certificate] {
        &self.certs
    }
}

/// A private key that parsed, as PEM written by this module. Its `Debug` shows no key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    pem: String,
    /// The key as PKCS#8 (SEC1 and PKCS#1 keys wrapped), which rcgen reads.
    pkcs8: Vec<u8>,
    public_key: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(secret)")
    }
}

impl PrivateKey {
    /// Exactly one unencrypted key: PKCS#8 (`PRIVATE KEY`; ECDSA P-256/P-384, Ed25519, RSA),
    /// SEC1 (`EC PRIVATE KEY`; P-256, P-384) or PKCS#1 (`RSA PRIVATE KEY`), RSA of 2048
    /// bits or more.
    pub fn parse(what: &str, path: &Path, text: &[u8]) -> Result<Self> {
        let mut found = blocks(what, path, text)?;
        if found.len() != 1 {
            return Err(unusable(
                what,
                path,
                format!("holds {} PEM blocks; expected one private key", found.len()),
            ));
        }
        let block = found.remove(0);
        let candidates = match block.label.as_str() {
            "PRIVATE KEY" => vec![block.der.clone()],
            "EC PRIVATE KEY" => der::sec1_as_pkcs8(&block.der),
            "RSA PRIVATE KEY" => vec![der::pkcs1_as_pkcs8(&block.der)],
            _ => {
                return Err(unusable(
                    what,
                    path,
                    format!(
                        "holds {}; expected one of {} (unencrypted)",
                        shown_label(&block.label),
                        KEY_LABELS.join(", ")
                    ),
                ))
            }
        };
        let (pkcs8, key) = candidates
            .into_iter()
            .find_map(|pkcs8| {
                let key = rcgen::KeyPair::try_from(pkcs8.as_slice()).ok()?;
                Some((pkcs8, key))
            })
            .ok_or_else(|| {
                unusable(
                    what,
                    path,
                    format!(
                        "its {} is not a key the tool can use (ECDSA P-256 or P-384, \
                         Ed25519, RSA of 2048 bits or more)",
                        block.label
                    ),
                )
            })?;
        Ok(Self {
            pem: encode(&block.label, &block.der),
            pkcs8,
            public_key: key.public_key_raw().to_vec(),
        })
    }

    pub fn read(what: &str, path: &Path) -> Result<Self> {
        Self::parse(what, path, &input::read(what, path)?)
    }

    /// The PEM text, as this module wrote it. A secret.
    pub fn as_str(&self) -> &str {
        &self.pem
    }

    /// The key for signing (the forest CA's).
    pub fn key_pair(&self) -> std::result::Result<rcgen::KeyPair, rcgen::Error> {
        rcgen::KeyPair::try_from(self.pkcs8.as_slice())
    }

    /// Whether `cert` certifies this key.
    pub fn belongs_to(&self, cert: &Certificate) -> bool {
        cert.public_key == self.public_key
    }
}

/// The few DER structures needed to hand SEC1 and PKCS#1 keys to rcgen, which reads
/// PKCS#8 only (RFC 5915, RFC 8017, RFC 5208).
mod der {
    /// id-ecPublicKey, prime256v1, secp384r1, rsaEncryption (OID contents).
    const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    const NULL: u8 = 0x05;
    /// `[0]`, constructed: the curve in a SEC1 key.
    const PARAMETERS: u8 = 0xa0;

    /// A DER element: tag, length, content.
    pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len().to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            _ => {
                out.push(0x80 | (len.len() - skip) as u8);
                out.extend_from_slice(&len[skip..]);
            }
        }
        out.extend_from_slice(content);
        out
    }

    /// The first element of `input`: (tag, content, what follows); `None` if malformed.
    pub(super) fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = match first {
            n if n < 0x80 => (usize::from(n), rest),
            n => {
                let count = usize::from(n & 0x7f);
                if count == 0 || count > 4 || rest.len() < count {
                    return None;
                }
                let len = rest[..count]
                    .iter()
                    .fold(0usize, |len, b| (len << 8) | usize::from(*b));
                (len, &rest[count..])
            }
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    fn pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let mut body = tlv(INTEGER, &[0]);
        body.extend(tlv(SEQUENCE, algorithm));
        body.extend(tlv(OCTET_STRING, key));
        tlv(SEQUENCE, &body)
    }

    /// The curve a SEC1 key names in its parameters, if it does.
    fn sec1_curve(sec1: &[u8]) -> Option<&[u8]> {
        let (SEQUENCE, mut items, _) = next(sec1)? else {
            return None;
        };
        while let Some((tag, content, rest)) = next(items) {
            if tag == PARAMETERS {
                return match next(content)? {
                    (OID, oid, _) => Some(oid),
                    _ => None,
                };
            }
            items = rest;
        }
        None
    }

    /// The SEC1 key as PKCS#8 for each curve it may be on (the one it names, else P-256
    /// and P-384).
    pub(super) fn sec1_as_pkcs8(sec1: &[u8]) -> Vec<Vec<u8>> {
        let curves = match sec1_curve(sec1) {
            Some(curve) => vec![curve],
            None => vec![P256, P384],
        };
        curves
            .into_iter()
            .map(|curve| {
                let mut algorithm = tlv(OID, EC_PUBLIC_KEY);
                algorithm.extend(tlv(OID, curve));
                pkcs8(&algorithm, sec1)
            })
            .collect()
    }

    pub(super) fn pkcs1_as_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
        let mut algorithm = tlv(OID, RSA_ENCRYPTION);
        algorithm.extend([NULL, 0]);
        pkcs8(&algorithm, pkcs1)
    }
}

#[cfg(test)]
mod tests;
