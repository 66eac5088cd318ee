//! `debian/changelog`: checked at load time, trimmed or extended to the version being
//! built, and installed as `changelog.Debian.gz`.

use std::cmp::Ordering;
use std::path::Path;

use super::version;
use crate::error::{Error, Result};
use crate::names::is_debian_package_name;

/// One entry: its header fields and its full text (header to trailer, no blank line after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    pub package: String,
    pub version: String,
    pub distribution: String,
    /// Seconds since the epoch, from the trailer line.
    pub date: i64,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Changelog {
    pub entries: Vec<ChangelogEntry>,
}

impl Changelog {
    /// Parses the Debian changelog format: `pkg (version) dist; urgency=u`, indented
    /// change lines, ` -- Name <email>  Day, DD Mon YYYY HH:MM:SS +ZZZZ`.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| Error::Definition {
            path: path.to_path_buf(),
            reason: format!("line {line}: {reason}"),
        };
        let mut entries: Vec<ChangelogEntry> = Vec::new();
        let mut open: Option<(ChangelogEntry, Vec<&str>)> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if let Some(rest) = line.strip_prefix(" -- ") {
                let Some((mut entry, mut lines)) = open.take() else {
                    return Err(bad(n, "trailer line outside an entry".into()));
                };
                let date = rest
                    .split_once(">  ")
                    .and_then(|(_, date)| parse_date(date))
                    .ok_or_else(|| {
                        bad(
                            n,
                            "expected ` -- Name <email>  Day, DD Mon YYYY HH:MM:SS +ZZZZ`".into(),
                        )
                    })?;
                lines.push(line);
                entry.date = date;
                entry.text = lines.join("\n");
                entries.push(entry);
                continue;
            }
            if line.is_empty() || line.starts_with([' ', '\t']) {
                if let Some((_, lines)) = open.as_mut() {
                    lines.push(line);
                }
                continue;
            }
            if open.is_some() {
                return Err(bad(
                    n,
                    "new entry before the previous one's ` -- ` trailer".into(),
                ));
            }
            let entry = parse_header(line).ok_or_else(|| {
                bad(
                    n,
                    format!("expected `package (version) distribution; urgency=...`, got {line:?}"),
                )
            })?;
            open = Some((entry, vec![line]));
        }
        if open.is_some() {
            return Err(bad(
                text.lines().count(),
                "the last entry has no ` -- ` trailer".into(),
            ));
        }
        if entries.is_empty() {
            return Err(Error::Definition {
                path: path.to_path_buf(),
                reason: "no entries".into(),
            });
        }
        Ok(Self { entries })
    }

    /// The changelog shipped with `version`: entries newer than it are dropped (building
    /// an older release), and when the newest remaining entry is not `version` a generated
    /// entry for it is put on top, dated `mtime` (or just after the previous entry).
    pub fn for_version(
        &self,
        package: &str,
        version: &str,
        maintainer: &str,
        mtime: i64,
    ) -> String {
        let kept: Vec<&ChangelogEntry> = self
            .entries
            .iter()
            .filter(|e| version::compare(&e.version, version) != Ordering::Greater)
            .collect();
        let mut texts: Vec<String> = Vec::new();
        if kept.first().is_none_or(|e| e.version != version) {
            let distribution = self.entries[0].distribution.as_str();
            let date = kept.first().map_or(mtime, |e| mtime.max(e.date + 1));
            let upstream = version.rsplit_once('-').map_or(version, |(u, _)| u);
            let same_upstream = kept.first().is_some_and(|e| {
                e.version
                    .rsplit_once('-')
                    .is_some_and(|(u, _)| u == upstream)
            });
            let change = if same_upstream {
                format!("Rebuild of upstream release {upstream}.")
            } else {
                format!(
                    "Package upstream release {}.",
                    upstream.replacen('~', "-", 1)
                )
            };
            texts.push(format!(
                "{package} ({version}) {distribution}; urgency=medium\n\n  * {change}\n\n -- {maintainer}  {}",
                format_date(date)
            ));
        }
        texts.extend(kept.iter().map(|e| e.text.clone()));
        let mut out = texts.join("\n\n");
        out.push('\n');
        out
    }
}

fn parse_header(line: &str) -> Option<ChangelogEntry> {
    let (package, rest) = line.split_once(" (")?;
    let (version, rest) = rest.split_once(") ")?;
    let (distribution, rest) = rest.split_once(';')?;
    if !is_debian_package_name(package)
        || version.is_empty()
        || version.contains(' ')
        || !rest.trim().starts_with("urgency=")
    {
        return None;
    }
    Some(ChangelogEntry {
        package: package.into(),
        version: version.into(),
        distribution: distribution.trim().into(),
        date: 0,
        text: String::new(),
    })
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 5322 date in UTC, as `dpkg-parsechangelog` and `date -R` write it.
pub fn format_date(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `Day, DD Mon YYYY HH:MM:SS +ZZZZ` (the day name is not checked).
fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.split_once(", ").map_or(s, |(_, rest)| rest);
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    let d: u8 = day.parse().ok()?;
    let m = MONTHS.iter().position(|x| x == month)? as u8 + 1;
    let y: i32 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, sec] = hms.as_slice() else {
        return None;
    };
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !(1..=31).contains(&d) {
        return None;
    }
    let zh: i64 = digits[..2].parse().ok()?;
    let zm: i64 = digits[2..].parse().ok()?;
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    let midnight = date.midnight().assume_utc().unix_timestamp();
    let local = midnight + h * 3600 + mi * 60 + sec;
    Some(local - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
nimsforest-nats (2.15.1-1) unstable; urgency=medium

  * Package upstream release 2.15.1.

 -- A <a@example.org>  Sat, 11 Oct 2025 03:59:00 +0000

nimsforest-nats (2.14.6-1) unstable; urgency=medium

  * Initial release.

 -- A <a@example.org>  Mon, 01 Sep 2025 12:00:00 +0200
";

    fn log() -> Changelog {
        Changelog::parse(Path::new("debian/changelog"), LOG).unwrap()
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            format_date(1_760_155_140),
            "Sat, 11 Oct 2025 03:59:00 +0000"
        );
        assert_eq!(format_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        for t in [0, 1_760_155_140, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_date(&format_date(t)), Some(t));
        }
        assert_eq!(
            parse_date("Mon, 01 Sep 2025 12:00:00 +0200"),
            Some(1_756_720_800)
        );
        assert_eq!(parse_date("01 Sep 2025 12:00"), None);
    }

    #[test]
    fn the_current_version_is_shipped_as_written() {
        let out = log().for_version("nimsforest-nats", "2.15.1-1", "B <b@example.org>", 5);
        assert_eq!(out, LOG);
    }

    #[test]
    fn a_new_version_gets_a_generated_entry_on_top() {
        let out = log().for_version(
            "nimsforest-nats",
            "2.16.0-1",
            "B <b@example.org>",
            1_760_155_140 + 86_400,
        );
        assert!(out.starts_with(
            "nimsforest-nats (2.16.0-1) unstable; urgency=medium\n\n  \
             * Package upstream release 2.16.0.\n\n -- B <b@example.org>  Sun, 12 Oct 2025 03:59:00 +0000\n\n\
             nimsforest-nats (2.15.1-1)"
        ));
        assert!(out.ends_with(LOG), "{out}");
        // Dated after the previous entry even when the tree's mtime is older.
        let out = log().for_version("nimsforest-nats", "2.15.1-2", "B <b@example.org>", 0);
        assert!(out.contains("* Rebuild of upstream release 2.15.1."));
        assert!(out.contains(" -- B <b@example.org>  Sat, 11 Oct 2025 03:59:01 +0000\n"));
        let reparsed = Changelog::parse(Path::new("x"), &out).unwrap();
        assert_eq!(reparsed.entries.len(), 3);
    }

    #[test]
    fn an_older_version_drops_the_newer_entries() {
        let out = log().for_version("nimsforest-nats", "2.14.6-1", "B <b@example.org>", 0);
        assert!(out.starts_with(
            "nimsforest-nats (2.14.6-1) unstable; urgency=medium\n\n  * Initial release."
        ));
        assert!(!out.contains("2.15.1"));
        let out = log().for_version("nimsforest-nats", "2.14.0-1", "B <b@example.org>", 7);
        assert!(out.contains("Thu, 01 Jan 1970 00:00:07 +0000"));
        assert_eq!(
            Changelog::parse(Path::new("x"), &out)
                .unwrap()
                .entries
                .len(),
            1
        );
    }

    #[test]
    fn malformed_changelogs_are_refused() {
        let p = Path::new("debian/changelog");
        assert!(Changelog::parse(p, "").is_err());
        assert!(Changelog::parse(p, "nimsforest-nats 2.15.1-1 unstable\n").is_err());
        assert!(Changelog::parse(
            p,
            &LOG.replace(" -- A <a@example.org>  Sat", " -- A <a@example.org> Sat")
        )
        .is_err());
        assert!(Changelog::parse(
            p,
            "nimsforest-nats (1-1) unstable; urgency=medium\n\n  * x\n"
        )
        .is_err());
    }
}
