//! What clients see now: the generation of the suite that the current `InRelease` names,
//! read back from the store and checked before anything is built on it.

use std::collections::{BTreeMap, BTreeSet};

use super::{release, AptOptions};
use crate::compress;
use crate::deb::deb822;
use crate::digest::sha256_hex;
use crate::error::Result;
use crate::repo::tree::{Retired, Tree};
use crate::repo::IndexSigner;

/// One package file in the pool and its stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexedDeb {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// Relative to the repository root, `/`-separated (the `Filename:` field).
    pub filename: String,
    pub sha256: String,
    /// The stanza, ending in one newline.
    pub stanza: String,
}

impl IndexedDeb {
    pub fn from_stanza(stanza: &str) -> std::result::Result<Self, String> {
        let fields = deb822::parse_one(stanza).map_err(|e| e.to_string())?;
        let required = |name: &str| {
            deb822::get(&fields, name)
                .map(str::to_string)
                .ok_or_else(|| format!("a stanza has no {name} field"))
        };
        let filename = required("Filename")?;
        let inside = filename.starts_with("pool/")
            && filename
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !inside {
            return Err(format!("Filename {filename:?} is not a path in the pool"));
        }
        Ok(Self {
            package: required("Package")?,
            version: required("Version")?,
            arch: required("Architecture")?,
            sha256: required("SHA256")?,
            filename,
            stanza: format!("{}\n", stanza.trim_matches('\n')),
        })
    }
}

/// The suite as published.
#[derive(Debug, Default)]
pub(super) struct Published {
    /// `InRelease` as read, byte for byte (the publish compares it again before the swap).
    pub in_release: Option<Vec<u8>>,
    /// The `Release` text clients trust: what `InRelease` signs.
    pub release: Option<String>,
    /// `Release` and `Release.gpg` agree with `InRelease` (not so after an interrupted run).
    pub signatures_complete: bool,
    /// Pool file -> its entry, from the `Packages` indexes.
    pub entries: BTreeMap<String, IndexedDeb>,
    /// Index path below `dists/SUITE/` -> sha256.
    pub sums: BTreeMap<String, String>,
    /// Every checksum `Release` lists (the by-hash copies of this generation).
    pub hashes: BTreeSet<String>,
    /// Pool files dropped from the indexes, waiting until no index names them.
    pub retired: Retired,
}

impl Published {
    pub fn read(
        tree: &Tree,
        dist: &str,
        opts: &AptOptions,
        signer: &dyn IndexSigner,
    ) -> Result<Self> {
        let in_release = tree.get(&format!("{dist}/InRelease"))?;
        let Some(signed) = &in_release else {
            return Ok(Self::default());
        };
        let signed = String::from_utf8_lossy(signed);
        let release = signer.verify_clearsigned(&signed).map_err(|e| {
            tree.error(
                &format!("{dist}/InRelease"),
                format!(
                    "is not signed by this signing key ({e}): it was written by another key \
                     or changed outside nimsforest-pkg, so its indexes cannot be trusted"
                ),
            )
        })?;
        let plain = tree.get(&format!("{dist}/Release"))?;
        let detached = tree.get(&format!("{dist}/Release.gpg"))?;
        let signatures_complete = plain.as_deref() == Some(release.as_bytes())
            && detached.is_some_and(|sig| {
                signer
                    .verify_detached(release.as_bytes(), &String::from_utf8_lossy(&sig))
                    .is_ok()
            });

        let components = release::field(&release, "Components").unwrap_or("");
        if components != opts.component {
            return Err(tree.error(
                &format!("{dist}/InRelease"),
                format!(
                    "lists the components {components:?}, not {:?}",
                    opts.component
                ),
            ));
        }
        let entries_of_release = release::sha256_entries(&release);
        let by_hash = release::field(&release, "Acquire-By-Hash") == Some("yes");
        let mut published = Self {
            hashes: release::hashes(&release),
            sums: entries_of_release
                .iter()
                .map(|(path, _, hash)| (path.clone(), hash.clone()))
                .collect(),
            ..Self::default()
        };
        for (path, size, sha256) in &entries_of_release {
            let Some(dir) = path.strip_suffix("/Packages") else {
                continue;
            };
            let text = read_index(tree, dist, dir, entries_of_release.as_slice(), by_hash)?;
            let bad = |reason: String| tree.error(&format!("{dist}/{path}"), reason);
            if text.len() as u64 != *size || sha256_hex(text.as_bytes()) != *sha256 {
                return Err(bad(format!(
                    "does not match the signed Release (size {size}, sha256 {sha256}): the \
                     store was changed outside nimsforest-pkg"
                )));
            }
            for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
                let entry = IndexedDeb::from_stanza(stanza).map_err(bad)?;
                published.entries.insert(entry.filename.clone(), entry);
            }
        }
        published.retired = Retired::read(tree, &format!("{dist}/retired"), "pool/")?;
        published.release = Some(release);
        published.in_release = in_release;
        published.signatures_complete = signatures_complete;
        Ok(published)
    }

    pub fn date(&self) -> Option<u64> {
        self.release.as_deref().and_then(release::date_of)
    }

    /// Whether this generation already is the one `undated` describes, signatures and all.
    pub fn is_complete_with(&self, undated: &str) -> bool {
        self.signatures_complete
            && self
                .release
                .as_deref()
                .is_some_and(|r| release::without_date(r) == undated)
    }
}

/// The uncompressed `Packages` of `dir` (`main/binary-amd64`), fetched as the smallest
/// variant the Release lists (xz), by hash when the suite is published by hash.
fn read_index(
    tree: &Tree,
    dist: &str,
    dir: &str,
    entries: &[(String, u64, String)],
    by_hash: bool,
) -> Result<String> {
    let variants = [
        ("Packages.xz", compress::Format::Xz),
        ("Packages", compress::Format::None),
    ];
    for (name, format) in variants {
        let path = format!("{dir}/{name}");
        let Some((_, _, sha256)) = entries.iter().find(|(p, _, _)| *p == path) else {
            continue;
        };
        let key = match by_hash {
            true => format!("{dist}/{dir}/by-hash/SHA256/{sha256}"),
            false => format!("{dist}/{path}"),
        };
        let Some(data) = tree.get(&key)? else {
            return Err(tree.error(&key, "is named by the signed Release but missing".into()));
        };
        if sha256_hex(&data) != *sha256 {
            return Err(tree.error(
                &key,
                format!(
                    "does not match the signed Release (sha256 {sha256}): the store was \
                     changed outside nimsforest-pkg"
                ),
            ));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut format
                .decoder(data.as_slice())
                .map_err(|e| tree.error(&key, e.to_string()))?,
            &mut text,
        )
        .map_err(|e| tree.error(&key, e.to_string()))?;
        return Ok(text);
    }
    Err(tree.error(
        &format!("{dist}/{dir}/Packages"),
        "is not listed in the signed Release".into(),
    ))
}
