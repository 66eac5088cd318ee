//! The suite's signed index: `Release` (with `InRelease` and `Release.gpg` beside it), the
//! `Packages` indexes it lists, and their by-hash copies.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::AptOptions;
use crate::digest::{sha256_hex, sha512_hex};

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

/// The `Release` file; without `date`, the text that decides whether anything changed.
pub(super) fn text(
    opts: &AptOptions,
    arches: &[String],
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

/// The SHA256 entries of a `Release` file: (path below `dists/SUITE/`, size, sha256).
pub(super) fn sha256_entries(release: &str) -> Vec<(String, u64, String)> {
    release
        .lines()
        .skip_while(|l| *l != "SHA256:")
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let hash = words.next()?.to_string();
            let size = words.next()?.parse().ok()?;
            Some((words.next()?.to_string(), size, hash))
        })
        .collect()
}

/// The value of a single-line field of a `Release` file.
pub(super) fn field<'r>(release: &'r str, name: &str) -> Option<&'r str> {
    release
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
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
