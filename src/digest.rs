//! Digests as the formats spell them: lowercase hex of SHA-256 (release pins, dnf's
//! `pkgid`, dist/SHA256SUMS), and the full set a Packages stanza lists.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, IoContext, Result};

/// A SHA-256 as pins and checksum lists write it: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha512_hex(data: &[u8]) -> String {
    hex::encode(Sha512::digest(data))
}

/// Debian's `md5sums` still lists MD5 (dpkg checks installed files with it).
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// SHA-256 of a file, read in chunks (release tarballs are tens of MB).
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

/// Size and every checksum a Packages stanza lists for a package file, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

impl Digests {
    pub fn of(data: &[u8]) -> Self {
        Self {
            size: data.len() as u64,
            md5: md5_hex(data),
            sha1: hex::encode(Sha1::digest(data)),
            sha256: sha256_hex(data),
            sha512: sha512_hex(data),
        }
    }
}

/// A `SHA256SUMS` file (a release's, dist/'s): file name -> lowercase hex digest.
#[derive(Debug, Clone, Default)]
pub struct Sha256Sums {
    /// Where it was read from (a URL or a path), for errors.
    url: String,
    sums: BTreeMap<String, String>,
}

impl Sha256Sums {
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

    pub fn insert(&mut self, file: String, sha256: String) {
        self.sums.insert(file, sha256);
    }

    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.sums.retain(|file, _| keep(file));
    }

    /// The file's text: `<sha256>  <file>` lines sorted by file name, as `sha256sum` writes.
    pub fn render(&self) -> String {
        self.sums
            .iter()
            .map(|(file, hash)| format!("{hash}  {file}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_data() {
        let d = Digests::of(b"abc");
        assert_eq!(d.size, 3);
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.sha512.starts_with("ddaf35a193617aba"));
        assert_eq!(sha256_hex(b"abc"), d.sha256);
    }

    #[test]
    fn file_digest_matches_the_bytes() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let data = vec![7u8; 200_000];
        std::fs::write(file.path(), &data).unwrap();
        assert_eq!(sha256_file(file.path()).unwrap(), sha256_hex(&data));
    }
}
