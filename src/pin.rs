//! `nimsforest-pkg pin VERSION`: records a release's tarball hashes in the manifest.
//!
//! This is the one moment the network's checksums are trusted; every later build checks
//! downloads against these pins as well as against the release's own SHA256SUMS.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use toml_edit::{value, DocumentMut, Item, Table};

use crate::dist::write_atomically;
use crate::error::{Error, IoContext, Result};
use crate::fetch::verify::Checksums;
use crate::fetch::Fetcher;
use crate::spec::{check_upstream, release, Arch, Definition};

pub struct Pinned {
    pub version: String,
    pub sha256: BTreeMap<Arch, String>,
}

pub fn pin(
    manifest: &Path,
    version: &str,
    mirror: Option<&str>,
    fetcher: &Fetcher,
) -> Result<Pinned> {
    check_upstream(version)?;
    let def = Definition::load(manifest)?;
    let mirror = mirror.unwrap_or(&def.mirror);
    let url = release::url(mirror, version, "SHA256SUMS");
    let (text, modified) = fetcher.get_text(&url)?;
    let sums = Checksums::parse(&url, &text)?;
    let sha256: BTreeMap<Arch, String> = Arch::ALL
        .into_iter()
        .filter_map(|arch| {
            let hash = sums.get(&release::tarball(version, arch)).ok()?;
            Some((arch, hash.to_string()))
        })
        .collect();
    if sha256.is_empty() {
        return Err(Error::MissingChecksum {
            url,
            file: release::tarball(version, Arch::Amd64).replace("amd64", "{ARCH}"),
        });
    }
    let released = modified
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let text = std::fs::read_to_string(manifest).at(manifest)?;
    let updated = rewrite(
        &text,
        version,
        released,
        &sha256,
        def.upstream.version != version,
    )
    .map_err(|reason| Error::Definition {
        path: manifest.to_path_buf(),
        reason,
    })?;
    write_atomically(manifest, updated.as_bytes())?;
    Ok(Pinned {
        version: version.to_string(),
        sha256,
    })
}

/// Edits the manifest in place, keeping its comments and layout. A new upstream version
/// starts again at packaging revision 1.
fn rewrite(
    text: &str,
    version: &str,
    released: u64,
    sha256: &BTreeMap<Arch, String>,
    new_version: bool,
) -> std::result::Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let nimsforest = doc
        .get_mut("package")
        .and_then(|p| p.get_mut("metadata"))
        .and_then(|m| m.get_mut("nimsforest"))
        .and_then(Item::as_table_mut)
        .ok_or("no [package.metadata.nimsforest] table")?;
    if new_version {
        nimsforest["revision"] = value("1");
    }
    let upstream = nimsforest
        .entry("upstream")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or("upstream is not a table")?;
    upstream["version"] = value(version);
    upstream["released"] = value(released as i64);
    let pins = upstream
        .entry("sha256")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or("upstream.sha256 is not a table")?;
    pins.clear();
    for (arch, hash) in sha256 {
        pins[arch.upstream()] = value(hash.as_str());
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_comments_and_replaces_pins() {
        let text = "# top comment\n[package]\nname = \"x\"\n\n[package.metadata.nimsforest]\nrevision = \"3\" # ours\n\n# the pin\n[package.metadata.nimsforest.upstream]\nversion = \"2.14.6\"\nreleased = 1\n\n# hashes\n[package.metadata.nimsforest.upstream.sha256]\namd64 = \"old\"\ns390x = \"old\"\n";
        let pins = BTreeMap::from([(Arch::Amd64, "a".repeat(64)), (Arch::Arm64, "b".repeat(64))]);
        let out = rewrite(text, "2.15.1", 99, &pins, true).unwrap();
        assert!(out.starts_with("# top comment\n"));
        assert!(out.contains("# the pin\n[package.metadata.nimsforest.upstream]\nversion = \"2.15.1\"\nreleased = 99\n"), "{out}");
        assert!(
            out.contains("# hashes\n[package.metadata.nimsforest.upstream.sha256]\n"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "amd64 = \"{}\"\narm64 = \"{}\"\n",
                "a".repeat(64),
                "b".repeat(64)
            )),
            "{out}"
        );
        assert!(!out.contains("s390x"));
        assert!(out.contains("revision = \"1\""), "{out}");
    }
}
