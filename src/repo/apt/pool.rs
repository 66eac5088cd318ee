//! The pool: where each `.deb` goes (Debian's layout) and how it gets there.

use std::path::{Path, PathBuf};

use crate::atomic;
use crate::deb::deb822::{self, Field};
use crate::digest::{sha256_hex, Digests};
use crate::error::{Error, IoContext, Result};

pub(super) fn filename(path: &Path, component: &str, control: &[Field]) -> Result<String> {
    let required = |name: &str| {
        deb822::get(control, name).ok_or_else(|| Error::Repository {
            path: path.to_path_buf(),
            reason: format!("the control file has no {name} field"),
        })
    };
    let package = required("Package")?;
    let version = required("Version")?;
    let arch = required("Architecture")?;
    let source = deb822::get(control, "Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(package);
    let valid = |value: &str, extra: &str, what: &str| {
        let ok = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && value.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || "+-.".contains(c)
                    || extra.contains(c)
            });
        if ok {
            Ok(())
        } else {
            Err(Error::Repository {
                path: path.to_path_buf(),
                reason: format!("invalid {what} {value:?} in the control file"),
            })
        }
    };
    valid(package, "", "package name")?;
    valid(source, "", "source name")?;
    valid(arch, "", "architecture")?;
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
    {
        return Err(Error::Repository {
            path: path.to_path_buf(),
            reason: format!("invalid version {version:?} in the control file"),
        });
    }
    let without_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    Ok(format!(
        "pool/{component}/{prefix}/{source}/{package}_{without_epoch}_{arch}.deb"
    ))
}

pub(super) fn files(root: &Path, component: &str) -> Result<Vec<(PathBuf, String)>> {
    fn walk(dir: &Path, relative: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
        let Some(entries) = std::fs::read_dir(dir).optional_at(dir)? else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry.at(dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // temporary files of a write in progress
            }
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            let rel = format!("{relative}/{name}");
            if kind.is_dir() {
                walk(&path, &rel, out)?;
            } else if kind.is_file() && name.ends_with(".deb") {
                out.push((path, rel));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let relative = format!("pool/{component}");
    walk(&root.join(&relative), &relative, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Copies a package into the pool: checked against the checksum it was indexed with,
/// written through a temporary file, and never over an existing file (another publisher
/// may have put the same file there meanwhile: fine if it is the same bytes).
pub(super) fn add(source: &Path, target: &Path, digests: &Digests) -> Result<()> {
    let data = std::fs::read(source).at(source)?;
    let sha256 = sha256_hex(&data);
    if sha256 != digests.sha256 {
        return Err(Error::Repository {
            path: source.to_path_buf(),
            reason: format!(
                "changed while the repository was being updated (sha256 was {}, now {sha256})",
                digests.sha256
            ),
        });
    }
    let dir = target.parent().expect("pool files live in a directory");
    std::fs::create_dir_all(dir).at(dir)?;
    match atomic::write(
        target,
        &data,
        atomic::Options::REPLACE.mode(0o644).no_clobber(),
    ) {
        Err(Error::Exists { .. }) => {
            let published = std::fs::read(target).at(target)?;
            if published == data {
                Ok(())
            } else {
                Err(Error::Repository {
                    path: target.to_path_buf(),
                    reason: "was published with different content while the repository \
                             was being updated"
                        .into(),
                })
            }
        }
        other => other,
    }
}
