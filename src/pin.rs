//! Pins: a release's tarball hashes, read from its SHA256SUMS and recorded in the
//! manifest (or a pins file). Its command line is `command::pin`.
//!
//! This is the one moment the network's checksums are trusted; every later build checks
//! downloads against these pins as well as against the release's own SHA256SUMS.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use toml_edit::{value, DocumentMut, Item, Table};

use crate::atomic;
use crate::definition::{check_upstream, release, Arch, Definition};
use crate::digest::Sha256Sums;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::input;
use crate::weburl::{mirror_url, redact};

/// Which file gets the pins.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// `[package.metadata.nimsforest.upstream]` of the manifest; a new version also resets
    /// the packaging revision to 1.
    Manifest(&'a Path),
    /// The `[upstream]` table of a pins file (`build --pins`), created if absent.
    PinsFile(&'a Path),
}

pub struct Pinned {
    pub version: String,
    pub sha256: BTreeMap<Arch, String>,
}

pub fn pin(
    def: &Definition,
    target: Target,
    version: &str,
    mirror: Option<&str>,
    fetcher: &Fetcher,
) -> Result<Pinned> {
    check_upstream(version).map_err(|e| Error::Usage {
        what: "VERSION".into(),
        reason: e.to_string(),
    })?;
    let mirror = match mirror {
        Some(url) => mirror_url("--mirror", url)?,
        None => mirror_url("mirror", &def.mirror)?,
    };
    let (path, table_path, new_version): (&Path, &[&str], bool) = match target {
        Target::Manifest(path) => (
            path,
            &["package", "metadata", "nimsforest"],
            def.upstream.version != version,
        ),
        Target::PinsFile(path) => (path, &[], false),
    };
    // Read before anything is fetched: a file that cannot be rewritten fails early.
    let original = match target {
        // A pins file is created; a manifest must exist.
        Target::PinsFile(_) => input::read_text_optional("pins file", path)?.unwrap_or_default(),
        Target::Manifest(_) => input::read_text("manifest", path)?,
    };
    let unrewritable = |reason| Error::Definition {
        path: path.to_path_buf(),
        reason,
    };
    rewrite(
        &original,
        table_path,
        version,
        0,
        &BTreeMap::new(),
        new_version,
    )
    .map_err(unrewritable)?;
    let url = release::url(&mirror, version, "SHA256SUMS");
    let (text, modified) = fetcher.get_text(&url)?;
    let sums = Sha256Sums::parse(&redact(&url), &text)?;
    let sha256: BTreeMap<Arch, String> = Arch::ALL
        .into_iter()
        .filter_map(|arch| {
            let hash = sums.get(&release::tarball(version, arch)).ok()?;
            Some((arch, hash.to_string()))
        })
        .collect();
    if sha256.is_empty() {
        return Err(Error::MissingChecksum {
            url: redact(&url),
            file: release::tarball(version, Arch::Amd64).replace("amd64", "{ARCH}"),
        });
    }
    let released = modified
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let updated = rewrite(
        &original,
        table_path,
        version,
        released,
        &sha256,
        new_version,
    )
    .map_err(unrewritable)?;
    atomic::write(path, updated.as_bytes(), atomic::Options::REPLACE)?;
    Ok(Pinned {
        version: version.to_string(),
        sha256,
    })
}

/// Edits the `upstream` table under `table_path`, keeping the file's comments and layout.
/// A new upstream version starts again at packaging revision 1.
fn rewrite(
    text: &str,
    table_path: &[&str],
    version: &str,
    released: u64,
    sha256: &BTreeMap<Arch, String>,
    new_version: bool,
) -> std::result::Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    let mut parent: &mut Table = doc.as_table_mut();
    for key in table_path {
        parent = parent
            .get_mut(key)
            .and_then(Item::as_table_mut)
            .ok_or_else(|| format!("no [{}] table", table_path.join(".")))?;
    }
    if new_version {
        parent["revision"] = value("1");
    }
    let upstream = parent
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
        let out = rewrite(
            text,
            &["package", "metadata", "nimsforest"],
            "2.15.1",
            99,
            &pins,
            true,
        )
        .unwrap();
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

    #[test]
    fn rewrite_creates_a_pins_file() {
        let pins = BTreeMap::from([(Arch::I386, "c".repeat(64))]);
        let out = rewrite("", &[], "2.9.10", 5, &pins, false).unwrap();
        assert_eq!(
            out,
            format!(
                "[upstream]\nversion = \"2.9.10\"\nreleased = 5\n\n[upstream.sha256]\n386 = \"{}\"\n",
                "c".repeat(64)
            )
        );
    }
}
