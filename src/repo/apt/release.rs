//! The suite's signed index: `Release` (with `InRelease` and `Release.gpg` beside it), the
//! `Packages` indexes it lists, and their by-hash copies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::AptOptions;
use crate::digest::{sha256_hex, sha512_hex};
use crate::repo::retired::Retired;

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

/// The field of `Release` that lists the pool files dropped from the indexes and not yet
/// deleted (see `repo::retired`): signed with the rest, ignored by apt.
pub(super) const RETIRED_FIELD: &str = "X-Nimsforest-Retired";

/// The `Release` file.
pub(super) fn text(
    opts: &AptOptions,
    arches: &[String],
    sums: &[IndexSums],
    date: u64,
    retired: &Retired,
) -> String {
    let mut text = format!(
        "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: {}\n",
        opts.origin.trim(),
        opts.label.trim(),
        opts.suite,
        opts.codename.as_deref().unwrap_or(&opts.suite),
        archive_date(date),
    );
    if opts.by_hash {
        text.push_str("Acquire-By-Hash: yes\n");
    }
    text.push_str(&format!(
        "Architectures: {}\nComponents: {}\n",
        arches.join(" "),
        opts.component
    ));
    if !retired.is_empty() {
        text.push_str(&format!("{RETIRED_FIELD}:\n"));
        for line in retired.text().lines() {
            text.push_str(&format!(" {line}\n"));
        }
    }
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

/// The lines of a multi-line field (` value` lines after `NAME:`), unindented.
pub(super) fn multiline_field(release: &str, name: &str) -> String {
    release
        .lines()
        .skip_while(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .is_none()
        })
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .map(|l| format!("{}\n", l.trim()))
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
    entries(release, "SHA256:")
}

/// The SHA512 entries: (path below `dists/SUITE/`, sha512).
pub(super) fn sha512_entries(release: &str) -> Vec<(String, String)> {
    entries(release, "SHA512:")
        .into_iter()
        .map(|(path, _, hash)| (path, hash))
        .collect()
}

fn entries(release: &str, section: &str) -> Vec<(String, u64, String)> {
    release
        .lines()
        .skip_while(|l| *l != section)
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

pub(super) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 2822 in UTC, as Debian's archive writes it: `Sat, 15 Nov 2025 09:10:44 UTC`.
pub(super) fn archive_date(seconds: u64) -> String {
    let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds));
    format!("{} UTC", http.trim_end_matches(" GMT"))
}
