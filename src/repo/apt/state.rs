//! What clients see now: the generation of a suite that the current `InRelease` names,
//! read back from the store and checked before anything is built on it.

use std::collections::{BTreeMap, BTreeSet};

use super::release;
use crate::compress;
use crate::deb::deb822;
use crate::digest::sha256_hex;
use crate::error::Result;
use crate::repo::publish::Generation;
use crate::repo::retired::Retired;
use crate::repo::tree::Tree;
use crate::sign::Sign;

/// One package file in the pool and its stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDeb {
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
        if !crate::repo::retired::is_below(&filename, "pool/") {
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

/// A suite as published: the checked generation, plus the component its `Release` lists.
pub(super) struct Suite {
    pub generation: Generation<IndexedDeb>,
    pub component: String,
    /// The `Release` fields the fingerprint covers, as read.
    pub release: String,
    /// Index path below `dists/SUITE/` -> uncompressed `Packages` text.
    pub texts: BTreeMap<String, String>,
}

/// Reads the suite `dists/SUITE` of `tree`: `InRelease`, its signature checked against
/// the signing key, and every `Packages` index it lists, checked against it. `None` when
/// the suite has no `InRelease` yet.
pub(super) fn read(tree: &Tree, suite: &str, signer: &dyn Sign) -> Result<Option<Suite>> {
    let dist = format!("dists/{suite}");
    let in_release_key = format!("{dist}/InRelease");
    let Some((signed, root_version)) = tree.get_versioned(&in_release_key)? else {
        return Ok(None);
    };
    let release = signer
        .verify_clearsigned(&String::from_utf8_lossy(&signed))
        .map_err(|e| {
            tree.error(
                &in_release_key,
                format!(
                    "is not signed by this signing key ({e}): it was written by another key \
                     or changed outside nimsforest-pkg, so its indexes cannot be trusted"
                ),
            )
        })?;
    let plain = tree.get(&format!("{dist}/Release"))?;
    let detached = tree.get(&format!("{dist}/Release.gpg"))?;
    let complete = plain.as_deref() == Some(release.as_bytes())
        && detached.is_some_and(|sig| {
            signer
                .verify_detached(release.as_bytes(), &String::from_utf8_lossy(&sig))
                .is_ok()
        });

    let listed = release::sha256_entries(&release);
    let by_hash = release::field(&release, "Acquire-By-Hash") == Some("yes");
    let mut generation = Generation {
        root_version,
        date: release::date_of(&release).unwrap_or(0),
        entries: BTreeMap::new(),
        retired: Retired::parse(
            &release::multiline_field(&release, release::RETIRED_FIELD),
            "pool/",
        )
        .map_err(|reason| tree.error(&in_release_key, reason))?,
        fingerprint: String::new(),
        complete,
        live: BTreeSet::new(),
        named: BTreeMap::new(),
    };
    if by_hash {
        for (path, _, sha256) in &listed {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            generation
                .live
                .insert(format!("{dist}/{dir}/by-hash/SHA256/{sha256}"));
        }
        for hash in release::sha512_entries(&release) {
            let dir = hash.0.rsplit_once('/').map_or("", |(d, _)| d);
            generation
                .live
                .insert(format!("{dist}/{dir}/by-hash/SHA512/{}", hash.1));
        }
    }
    let mut texts = BTreeMap::new();
    let dirs: BTreeSet<&str> = listed
        .iter()
        .filter_map(|(path, _, _)| path.rsplit_once("/Packages").map(|(dir, _)| dir))
        .collect();
    for dir in dirs {
        let text = read_index(tree, &dist, dir, &listed, by_hash)?;
        for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
            let entry = IndexedDeb::from_stanza(stanza)
                .map_err(|reason| tree.error(&format!("{dist}/{dir}/Packages"), reason))?;
            generation.entries.insert(entry.filename.clone(), entry);
        }
        texts.insert(format!("{dir}/Packages"), text);
    }
    Ok(Some(Suite {
        component: release::field(&release, "Components")
            .unwrap_or("")
            .to_string(),
        generation,
        release,
        texts,
    }))
}

/// The uncompressed `Packages` of `dir` (`main/binary-amd64`), fetched as the first
/// variant the Release lists of xz, gzip and plain, by hash when the suite is published by
/// hash, and checked against the signed checksum.
fn read_index(
    tree: &Tree,
    dist: &str,
    dir: &str,
    listed: &[(String, u64, String)],
    by_hash: bool,
) -> Result<String> {
    let variants = [
        ("Packages.xz", compress::Encoding::Xz),
        ("Packages.gz", compress::Encoding::Gzip),
        ("Packages", compress::Encoding::None),
    ];
    for (name, format) in variants {
        let path = format!("{dir}/{name}");
        let Some((_, size, sha256)) = listed.iter().find(|(p, _, _)| *p == path) else {
            continue;
        };
        let key = match by_hash {
            true => format!("{dist}/{dir}/by-hash/SHA256/{sha256}"),
            false => format!("{dist}/{path}"),
        };
        let Some(data) = tree.get(&key)? else {
            return Err(tree.error(&key, "is named by the signed Release but missing".into()));
        };
        if data.len() as u64 != *size || sha256_hex(&data) != *sha256 {
            return Err(tree.error(
                &key,
                format!(
                    "does not match the signed Release (size {size}, sha256 {sha256}): the \
                     store was changed outside nimsforest-pkg"
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
