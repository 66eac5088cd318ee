//! Release checksum lists and SHA-256 checks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::spec::is_sha256_hex;

/// A parsed `SHA256SUMS`: file name -> lowercase hex digest.
#[derive(Debug, Clone, Default)]
pub struct Checksums {
    url: String,
    sums: BTreeMap<String, String>,
}

impl Checksums {
    /// Parses `<sha256hex>  <filename>` lines (also `<hex> *<filename>`, sha256sum's binary
    /// marker). Blank lines are skipped; anything else is an error naming the line.
    pub fn parse(url: &str, text: &str) -> Result<Self> {
        let mut sums = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = || Error::MalformedChecksums {
                url: url.to_string(),
                line: i + 1,
                text: line.to_string(),
            };
            let (hash, rest) = line.split_once(' ').ok_or_else(malformed)?;
            let name = rest
                .strip_prefix(' ')
                .or_else(|| rest.strip_prefix('*'))
                .ok_or_else(malformed)?;
            let hash = hash.to_ascii_lowercase();
            if !is_sha256_hex(&hash) || name.is_empty() || name.contains('/') {
                return Err(malformed());
            }
            sums.insert(name.to_string(), hash);
        }
        Ok(Self {
            url: url.to_string(),
            sums,
        })
    }

    pub fn get(&self, file: &str) -> Result<&str> {
        self.sums
            .get(file)
            .map(String::as_str)
            .ok_or_else(|| Error::MissingChecksum {
                url: self.url.clone(),
                file: file.to_string(),
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sums.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Compares an actual digest with an expected one, naming what the expectation came from.
pub fn expect_hash(file: &str, against: &'static str, expected: &str, actual: &str) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            file: file.to_string(),
            against,
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).at(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn parses_upstream_format() {
        let text = format!(
            "{A}  nats-server-v2.15.1-linux-amd64.tar.gz\n\n{} *b.zip\n",
            A.to_uppercase()
        );
        let sums = Checksums::parse("u", &text).unwrap();
        assert_eq!(
            sums.get("nats-server-v2.15.1-linux-amd64.tar.gz").unwrap(),
            A
        );
        assert_eq!(sums.get("b.zip").unwrap(), A);
        assert!(matches!(sums.get("c"), Err(Error::MissingChecksum { .. })));
    }

    #[test]
    fn refuses_malformed_lines() {
        for bad in [
            "nothex  file",
            &format!("{A} file"),
            &format!("{A}  "),
            &format!("{A}  ../escape"),
            &A[..63],
        ] {
            let err = Checksums::parse("u", bad).unwrap_err();
            assert!(
                matches!(err, Error::MalformedChecksums { line: 1, .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn mismatch_names_both_hashes() {
        let err = expect_hash("f.tar.gz", "SHA256SUMS", A, &sha256_hex(b"x")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("f.tar.gz") && msg.contains(A) && msg.contains(&sha256_hex(b"x")),
            "{msg}"
        );
        assert_eq!(sha256_hex(b"test"), A);
    }
}
