//! The suite's signed index: `Release` (with `InRelease` and `Release.gpg` beside it), the
//! `Packages` indexes it lists, and their by-hash copies.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::AptOptions;
use crate::atomic;
use crate::digest::{sha256_hex, sha512_hex};
use crate::error::{IoContext, Result};

/// One index file: path relative to `dists/SUITE/` and content.
pub(super) struct Index {
    pub path: String,
    pub data: Vec<u8>,
}

pub(super) struct IndexSums {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
}

impl IndexSums {
    pub fn of(index: &Index) -> Self {
        Self {
            path: index.path.clone(),
            size: index.data.len() as u64,
            sha256: sha256_hex(&index.data),
            sha512: sha512_hex(&index.data),
        }
    }
}

/// Writes each index whose file differs and, with `by_hash`, its missing by-hash copies
/// (those first). Returns whether anything was written.
pub(super) fn write_indexes(
    dist_dir: &Path,
    indexes: &[Index],
    sums: &[IndexSums],
    by_hash: bool,
) -> Result<bool> {
    let mut wrote = false;
    for (index, sums) in indexes.iter().zip(sums) {
        let dir = dist_dir.join(&index.path);
        let dir = dir.parent().expect("indexes live in a directory");
        for (algorithm, hex) in [("SHA256", &sums.sha256), ("SHA512", &sums.sha512)] {
            let by_hash_dir = dir.join("by-hash").join(algorithm);
            let copy = by_hash_dir.join(hex);
            if by_hash && !copy.is_file() {
                std::fs::create_dir_all(&by_hash_dir).at(&by_hash_dir)?;
                atomic::write(&copy, &index.data, atomic::Options::REPLACE)?;
                wrote = true;
            }
        }
    }
    for index in indexes {
        let path = dist_dir.join(&index.path);
        if std::fs::read(&path).ok().as_deref() == Some(&index.data[..]) {
            continue;
        }
        let dir = path.parent().expect("indexes live in a directory");
        std::fs::create_dir_all(dir).at(dir)?;
        atomic::write(&path, &index.data, atomic::Options::REPLACE)?;
        wrote = true;
    }
    Ok(wrote)
}

/// Removes by-hash copies named by neither the new nor the previous `Release`.
pub(super) fn prune_by_hash(component_dir: &Path, keep: &BTreeSet<String>) -> Result<()> {
    let Some(dirs) = std::fs::read_dir(component_dir).optional_at(component_dir)? else {
        return Ok(());
    };
    for dir in dirs {
        let dir = dir.at(component_dir)?;
        for algorithm in ["SHA256", "SHA512"] {
            let by_hash = dir.path().join("by-hash").join(algorithm);
            let Ok(files) = std::fs::read_dir(&by_hash) else {
                continue;
            };
            for file in files {
                let file = file.at(&by_hash)?;
                let name = file.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) {
                    std::fs::remove_file(file.path()).at(file.path())?;
                }
            }
        }
    }
    Ok(())
}

/// The `Release` file; without `date`, the text that decides whether anything changed.
pub(super) fn text(
    opts: &AptOptions,
    arches: &[&str],
    sums: &[IndexSums],
    date: Option<u64>,
) -> String {
    let mut text = format!(
        "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\n",
        opts.origin.trim(),
        opts.label.trim(),
        opts.suite,
        opts.codename.as_deref().unwrap_or(&opts.suite),
    );
    if let Some(date) = date {
        text.push_str(&format!("Date: {}\n", format_date(date)));
    }
    if opts.by_hash {
        text.push_str("Acquire-By-Hash: yes\n");
    }
    text.push_str(&format!(
        "Architectures: {}\nComponents: {}\n",
        arches.join(" "),
        opts.component
    ));
    text.push_str("SHA256:\n");
    for s in sums {
        text.push_str(&format!(" {} {:>16} {}\n", s.sha256, s.size, s.path));
    }
    text.push_str("SHA512:\n");
    for s in sums {
        text.push_str(&format!(" {} {:>16} {}\n", s.sha512, s.size, s.path));
    }
    text
}

pub(super) fn without_date(release: &str) -> String {
    release
        .lines()
        .filter(|l| !l.starts_with("Date:"))
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// The `Date:` of a `Release` file, in seconds since the epoch.
pub(super) fn date_of(release: &str) -> Option<u64> {
    let value = release
        .lines()
        .find_map(|l| l.strip_prefix("Date:"))?
        .trim();
    let base = ["UTC", "GMT", "+0000", "Z"]
        .iter()
        .find_map(|zone| value.strip_suffix(zone))?
        .trim_end();
    let time = httpdate::parse_http_date(&format!("{base} GMT")).ok()?;
    Some(unix_seconds(time))
}

/// Every checksum a `Release` file lists (by-hash names).
pub(super) fn hashes(release: &str) -> BTreeSet<String> {
    release
        .lines()
        .filter(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

pub(super) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 2822 in UTC, as Debian's archive writes it: `Sat, 15 Nov 2025 09:10:44 UTC`.
pub(super) fn format_date(seconds: u64) -> String {
    let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds));
    format!("{} UTC", http.trim_end_matches(" GMT"))
}
