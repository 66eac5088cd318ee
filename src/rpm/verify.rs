//! The whole-package check a repository runs on an `.rpm` before it signs and publishes
//! it: the header parses and its digests match, and the payload matches the digest the
//! header records, as `rpm -K` checks them.

use std::path::Path;

use ::rpm::{DigestStatus, Package};

use crate::error::{Error, Result};

/// Parses `data` as an RPM and checks its header and payload digests; `path` names it in
/// errors. Returns the parsed package.
pub fn verify(path: &Path, data: &[u8]) -> Result<Package> {
    let bad = |reason: String| Error::Package {
        path: path.to_path_buf(),
        reason,
    };
    let package = Package::parse(&mut &data[..]).map_err(|e| bad(format!("not an RPM: {e}")))?;
    let report = package
        .check_digests()
        .map_err(|e| bad(format!("its digests cannot be checked: {e}")))?;
    let header = [
        ("header SHA-256", &report.header_sha256),
        ("header SHA3-256", &report.header_sha3_256),
        ("header SHA-1", &report.header_sha1),
    ];
    // The digests of the compressed payload; the crate's "alt" ones cover the
    // uncompressed archive but are compared against the compressed bytes, so they are
    // left to rpm.
    let payload = [
        ("payload SHA-256", &report.payload_sha256),
        ("payload SHA-512", &report.payload_sha512),
        ("payload SHA3-256", &report.payload_sha3_256),
    ];
    for (what, status) in header.iter().chain(&payload) {
        if let DigestStatus::Mismatch { expected, actual } = status {
            return Err(bad(format!(
                "{what} mismatch: the header records {expected}, the package has {actual}"
            )));
        }
    }
    if !header.iter().any(|(_, s)| s.is_verified()) {
        return Err(bad("has no header digest to check".into()));
    }
    if !payload.iter().any(|(_, s)| s.is_verified()) {
        return Err(bad(
            "has no payload digest to check (rpm 4.14 and later record one)".into(),
        ));
    }
    Ok(package)
}
