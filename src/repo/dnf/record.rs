//! One package's repository metadata, read from its RPM header the way `createrepo_c`
//! (`parsehdr.c`, 0.17) reads it, so the three XML files describe a package exactly as
//! `createrepo_c` would.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use ::rpm::{Header, IndexSignatureTag, IndexTag, PackageMetadata};

/// How many changelog entries `other.xml` keeps per package (`createrepo_c
/// --changelog-limit`, default 10): the newest ones, oldest first.
pub const CHANGELOG_LIMIT: usize = 10;

const RPMSENSE_LESS: u32 = 1 << 1;
const RPMSENSE_GREATER: u32 = 1 << 2;
const RPMSENSE_EQUAL: u32 = 1 << 3;
const RPMSENSE_PREREQ: u32 = 1 << 6;
const RPMSENSE_SCRIPT_PRE: u32 = 1 << 9;
const RPMSENSE_SCRIPT_POST: u32 = 1 << 10;
const RPMFILE_GHOST: u32 = 1 << 6;
const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `GT`, `LE`, `GE`, or none for an unversioned dependency.
    pub flags: Option<&'static str>,
    pub epoch: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
    /// A requirement needed by a pre/post install scriptlet (`pre="1"`; requires only).
    pub pre: bool,
    /// The version as the header stores it (`[epoch:]version[-release]`).
    pub evr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    pub author: String,
    pub date: i64,
    pub text: String,
}

/// Everything primary.xml, filelists.xml and other.xml say about one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// SHA-256 of the whole .rpm file.
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    /// The file's modification time (what `createrepo_c` records).
    pub time_file: i64,
    pub time_build: u64,
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    /// Path relative to the repository root, e.g. `Packages/n/name-1-1.x86_64.rpm`.
    pub location: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub suggests: Vec<Dep>,
    pub enhances: Vec<Dep>,
    pub recommends: Vec<Dep>,
    pub supplements: Vec<Dep>,
    pub files: Vec<PackageFile>,
    pub changelogs: Vec<Changelog>,
}

/// The record of a package file's bytes, listed at `location` in the repository, whose
/// file time (what `createrepo_c` records) is `time_file`.
pub fn of_bytes(
    data: &[u8],
    location: &str,
    time_file: i64,
) -> std::result::Result<Record, String> {
    let metadata = PackageMetadata::parse(&mut &data[..]).map_err(|e| e.to_string())?;
    let pkgid = crate::digest::sha256_hex(data);
    from_metadata(&metadata, pkgid, time_file, data.len() as u64, location)
}

pub fn invalid(path: &Path, reason: impl std::fmt::Display) -> crate::Error {
    crate::Error::Package {
        path: path.to_path_buf(),
        reason: format!("not a usable RPM package: {reason}"),
    }
}

fn text(header: &Header<IndexTag>, tag: IndexTag) -> &str {
    header.get_entry_data_as_i18n_string(tag).unwrap_or("")
}

fn strings(header: &Header<IndexTag>, tag: IndexTag) -> Vec<&str> {
    header
        .get_entry_data_as_string_array(tag)
        .unwrap_or_default()
}

fn numbers(header: &Header<IndexTag>, tag: IndexTag) -> Vec<u32> {
    header.get_entry_data_as_u32_array(tag).unwrap_or_default()
}

pub fn from_metadata(
    metadata: &PackageMetadata,
    pkgid: String,
    time_file: i64,
    size_package: u64,
    location: &str,
) -> Result<Record, String> {
    let h = &metadata.header;
    let sig = &metadata.signature;
    let offsets = metadata.get_package_segment_offsets();
    let arch = if h.entry_is_present(IndexTag::RPMTAG_SOURCEPACKAGE) {
        "src".to_string()
    } else {
        text(h, IndexTag::RPMTAG_ARCH).to_string()
    };
    let size_installed = h
        .get_entry_data_as_u32(IndexTag::RPMTAG_SIZE)
        .map(u64::from)
        .or_else(|_| h.get_entry_data_as_u64(IndexTag::RPMTAG_LONGSIZE))
        .unwrap_or(0);
    // rpm merges the signature header's payload size into the header as ARCHIVESIZE.
    let size_archive = sig
        .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
        .map(u64::from)
        .or_else(|_| {
            h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                .map(u64::from)
        })
        .unwrap_or(0);

    let files = files(h)?;
    let file_set: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();

    let provides = deps(
        h,
        IndexTag::RPMTAG_PROVIDENAME,
        IndexTag::RPMTAG_PROVIDEFLAGS,
        IndexTag::RPMTAG_PROVIDEVERSION,
    )?;
    let provided: HashSet<&str> = provides.iter().map(|d| d.name.as_str()).collect();
    let requires = filter_requires(
        deps(
            h,
            IndexTag::RPMTAG_REQUIRENAME,
            IndexTag::RPMTAG_REQUIREFLAGS,
            IndexTag::RPMTAG_REQUIREVERSION,
        )?,
        &file_set,
        &provided,
    );
    let dep = |n, f, v| deps(h, n, f, v);
    Ok(Record {
        pkgid,
        name: text(h, IndexTag::RPMTAG_NAME).to_string(),
        arch,
        epoch: h
            .get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH)
            .unwrap_or(0)
            .to_string(),
        version: text(h, IndexTag::RPMTAG_VERSION).to_string(),
        release: text(h, IndexTag::RPMTAG_RELEASE).to_string(),
        summary: text(h, IndexTag::RPMTAG_SUMMARY).to_string(),
        description: text(h, IndexTag::RPMTAG_DESCRIPTION).to_string(),
        packager: text(h, IndexTag::RPMTAG_PACKAGER).to_string(),
        url: text(h, IndexTag::RPMTAG_URL).to_string(),
        time_file,
        time_build: h
            .get_entry_data_as_u32(IndexTag::RPMTAG_BUILDTIME)
            .map(u64::from)
            .unwrap_or(0),
        size_package,
        size_installed,
        size_archive,
        location: location.to_string(),
        license: text(h, IndexTag::RPMTAG_LICENSE).to_string(),
        vendor: text(h, IndexTag::RPMTAG_VENDOR).to_string(),
        group: text(h, IndexTag::RPMTAG_GROUP).to_string(),
        buildhost: text(h, IndexTag::RPMTAG_BUILDHOST).to_string(),
        sourcerpm: text(h, IndexTag::RPMTAG_SOURCERPM).to_string(),
        header_start: offsets.header,
        header_end: offsets.payload,
        requires,
        conflicts: dep(
            IndexTag::RPMTAG_CONFLICTNAME,
            IndexTag::RPMTAG_CONFLICTFLAGS,
            IndexTag::RPMTAG_CONFLICTVERSION,
        )?,
        obsoletes: dep(
            IndexTag::RPMTAG_OBSOLETENAME,
            IndexTag::RPMTAG_OBSOLETEFLAGS,
            IndexTag::RPMTAG_OBSOLETEVERSION,
        )?,
        suggests: dep(
            IndexTag::RPMTAG_SUGGESTNAME,
            IndexTag::RPMTAG_SUGGESTFLAGS,
            IndexTag::RPMTAG_SUGGESTVERSION,
        )?,
        enhances: dep(
            IndexTag::RPMTAG_ENHANCENAME,
            IndexTag::RPMTAG_ENHANCEFLAGS,
            IndexTag::RPMTAG_ENHANCEVERSION,
        )?,
        recommends: dep(
            IndexTag::RPMTAG_RECOMMENDNAME,
            IndexTag::RPMTAG_RECOMMENDFLAGS,
            IndexTag::RPMTAG_RECOMMENDVERSION,
        )?,
        supplements: dep(
            IndexTag::RPMTAG_SUPPLEMENTNAME,
            IndexTag::RPMTAG_SUPPLEMENTFLAGS,
            IndexTag::RPMTAG_SUPPLEMENTVERSION,
        )?,
        provides,
        files,
        changelogs: changelogs(h)?,
    })
}

/// `cr_flag_to_str`: only the comparison bits count.
fn flag_str(flags: u32) -> Option<&'static str> {
    match flags & (RPMSENSE_LESS | RPMSENSE_GREATER | RPMSENSE_EQUAL) {
        RPMSENSE_LESS => Some("LT"),
        RPMSENSE_GREATER => Some("GT"),
        RPMSENSE_EQUAL => Some("EQ"),
        x if x == RPMSENSE_LESS | RPMSENSE_EQUAL => Some("LE"),
        x if x == RPMSENSE_GREATER | RPMSENSE_EQUAL => Some("GE"),
        _ => None,
    }
}

/// `cr_str_to_evr`: `[epoch:]version[-release]`; the epoch defaults to 0 and a part
/// before `:` that is not a number stays in the version.
pub fn split_evr(evr: &str) -> (Option<String>, Option<String>, Option<String>) {
    if evr.is_empty() {
        return (None, None, None);
    }
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, rest),
        Some((_, rest)) => ("0", rest),
        None => ("0", evr),
    };
    let (version, release) = match rest.split_once('-') {
        Some((v, r)) => (v, (!r.is_empty()).then(|| r.to_string())),
        None => (rest, None),
    };
    (Some(epoch.to_string()), Some(version.to_string()), release)
}

/// Raw (name, flags, evr) triples from a dependency tag set, in header order.
fn deps(
    h: &Header<IndexTag>,
    names: IndexTag,
    flags: IndexTag,
    versions: IndexTag,
) -> Result<Vec<Dep>, String> {
    let n = strings(h, names);
    let f = numbers(h, flags);
    let v = strings(h, versions);
    if f.len() != n.len() || v.len() != n.len() {
        if n.is_empty() {
            return Ok(Vec::new());
        }
        return Err(format!(
            "{names:?}: {} names, {} flags, {} versions",
            n.len(),
            f.len(),
            v.len()
        ));
    }
    Ok(n.iter()
        .zip(f)
        .zip(v)
        .map(|((name, flags), evr)| {
            let (epoch, version, release) = split_evr(evr);
            Dep {
                name: name.to_string(),
                flags: flag_str(flags),
                epoch,
                version,
                release,
                pre: names == IndexTag::RPMTAG_REQUIRENAME
                    && flags & (RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE | RPMSENSE_SCRIPT_POST) != 0,
                evr: evr.to_string(),
            }
        })
        .collect())
}

/// createrepo_c's filtering of requires: drops `rpmlib(...)`, the package's own primary
/// files, anything it provides itself, and a repeat of the requirement just recorded under
/// the same name; of the `libc.so.6*` requires only the highest version is kept, last.
fn filter_requires(all: Vec<Dep>, files: &HashSet<&str>, provided: &HashSet<&str>) -> Vec<Dep> {
    let mut out = Vec::new();
    let mut last: HashMap<String, (Option<&'static str>, String, bool)> = HashMap::new();
    let mut libc: Option<Dep> = None;
    for dep in all {
        if dep.name.starts_with("rpmlib(") {
            continue;
        }
        if files.contains(dep.name.as_str()) && is_primary(&dep.name) {
            continue;
        }
        if provided.contains(dep.name.as_str()) {
            continue;
        }
        if let Some((flags, evr, pre)) = last.get(&dep.name) {
            if *flags == dep.flags && *evr == dep.evr && *pre == dep.pre {
                continue;
            }
        }
        if dep.name.starts_with("libc.so.6") {
            match &libc {
                Some(best) if compare_libc(&best.name, &dep.name) != Ordering2::Second => {}
                _ => libc = Some(dep),
            }
            continue;
        }
        last.insert(dep.name.clone(), (dep.flags, dep.evr.clone(), dep.pre));
        out.push(dep);
    }
    out.extend(libc);
    out
}

#[derive(PartialEq, Eq, Debug)]
enum Ordering2 {
    Same,
    First,
    Second,
}

/// `cr_compare_dependency` for `libc.so.6(GLIBC_x.y)(64bit)` names: which one carries the
/// higher GLIBC version.
fn compare_libc(a: &str, b: &str) -> Ordering2 {
    fn inner(s: &str) -> Option<&str> {
        let open = s.find('(')?;
        let close = open + s[open..].find(')')?;
        Some(&s[open + 1..close])
    }
    match (inner(a), inner(b)) {
        (None, None) => Ordering2::Same,
        (None, _) => Ordering2::Second,
        (_, None) => Ordering2::First,
        (Some(x), Some(y)) => {
            let start = |s: &str| {
                s.find(|c: char| c.is_ascii_digit())
                    .map(|i| s[i..].to_string())
            };
            match (start(x), start(y)) {
                (None, None) => Ordering2::Same,
                (None, _) => Ordering2::Second,
                (_, None) => Ordering2::First,
                (Some(x), Some(y)) => match crate::rpm::version::compare(&x, &y) {
                    std::cmp::Ordering::Less => Ordering2::Second,
                    std::cmp::Ordering::Equal => Ordering2::Same,
                    std::cmp::Ordering::Greater => Ordering2::First,
                },
            }
        }
    }
}

/// `cr_is_primary`: the files primary.xml lists.
pub fn is_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

fn files(h: &Header<IndexTag>) -> Result<Vec<PackageFile>, String> {
    let basenames = strings(h, IndexTag::RPMTAG_BASENAMES);
    if basenames.is_empty() {
        return Ok(Vec::new());
    }
    let dirs = strings(h, IndexTag::RPMTAG_DIRNAMES);
    let indexes = numbers(h, IndexTag::RPMTAG_DIRINDEXES);
    let flags = numbers(h, IndexTag::RPMTAG_FILEFLAGS);
    let modes = h
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .unwrap_or_default();
    if indexes.len() != basenames.len()
        || flags.len() != basenames.len()
        || modes.len() != basenames.len()
    {
        return Err("file tags of different lengths".to_string());
    }
    basenames
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let dir = dirs.get(indexes[i] as usize).ok_or_else(|| {
                format!("file {base}: directory index {} out of range", indexes[i])
            })?;
            let kind = if modes[i] & S_IFMT == S_IFDIR {
                FileKind::Dir
            } else if flags[i] & RPMFILE_GHOST != 0 {
                FileKind::Ghost
            } else {
                FileKind::File
            };
            Ok(PackageFile {
                path: format!("{dir}{base}"),
                kind,
            })
        })
        .collect()
}

/// The newest [`CHANGELOG_LIMIT`] entries, oldest first, with createrepo_c's nudge: when
/// several consecutive entries share a timestamp, the newer ones get +1, +2, ... seconds so
/// every date is distinct.
fn changelogs(h: &Header<IndexTag>) -> Result<Vec<Changelog>, String> {
    let times = numbers(h, IndexTag::RPMTAG_CHANGELOGTIME);
    let names = strings(h, IndexTag::RPMTAG_CHANGELOGNAME);
    let texts = strings(h, IndexTag::RPMTAG_CHANGELOGTEXT);
    // Header order is newest first; the list is built by prepending, as createrepo_c does.
    let mut list: VecDeque<Changelog> = VecDeque::new();
    let mut last_time = 0i64;
    for ((time, name), text) in times.iter().zip(names).zip(texts).take(CHANGELOG_LIMIT) {
        let time = i64::from(*time);
        list.push_front(Changelog {
            author: trim_author(name),
            date: time,
            text: text.to_string(),
        });
        if last_time == time {
            // The run of older entries at this time becomes time+1, time+2, ...
            for (t, entry) in (time..).zip(list.iter_mut().skip(1)) {
                if entry.date != t {
                    break;
                }
                entry.date += 1;
            }
        } else {
            last_time = time;
        }
    }
    Ok(list.into())
}

/// Trailing spaces removed (never the first character).
fn trim_author(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut end = bytes.len();
    while end > 1 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_split_like_createrepo_c() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(split_evr(""), (None, None, None));
        assert_eq!(split_evr("2.14.6-1"), (s("0"), s("2.14.6"), s("1")));
        assert_eq!(split_evr("1:2.0-3"), (s("1"), s("2.0"), s("3")));
        assert_eq!(split_evr("1.2"), (s("0"), s("1.2"), None));
        assert_eq!(split_evr("a:1-2-3"), (s("0"), s("1"), s("2-3")));
        assert_eq!(split_evr("1-"), (s("0"), s("1"), None));
    }

    #[test]
    fn flags_to_strings() {
        assert_eq!(flag_str(0), None);
        assert_eq!(flag_str(8 | (1 << 28)), Some("EQ"));
        assert_eq!(flag_str(12), Some("GE"));
        assert_eq!(flag_str(10), Some("LE"));
        assert_eq!(flag_str(2), Some("LT"));
        assert_eq!(flag_str(4), Some("GT"));
    }

    fn dep(name: &str, flags: Option<&'static str>, pre: bool) -> Dep {
        Dep {
            name: name.into(),
            flags,
            epoch: None,
            version: None,
            release: None,
            pre,
            evr: String::new(),
        }
    }

    #[test]
    fn requires_filtered_like_createrepo_c() {
        let files: HashSet<&str> = ["/usr/bin/odd", "/usr/share/x"].into();
        let provided: HashSet<&str> = ["config(odd)"].into();
        let all = vec![
            dep("/bin/sh", None, false),
            dep("/bin/sh", None, true),
            dep("/bin/sh", None, true),
            dep("/bin/sh", None, false),
            dep("/bin/sh", None, false),
            dep("rpmlib(PayloadIsXz)", Some("LE"), false),
            dep("/usr/bin/odd", None, false),
            dep("/usr/share/x", None, false),
            dep("config(odd)", Some("EQ"), false),
            dep("libc.so.6(GLIBC_2.17)(64bit)", None, false),
            dep("libc.so.6(GLIBC_2.3)", None, false),
            dep("sed", None, true),
        ];
        let names: Vec<(String, bool)> = filter_requires(all, &files, &provided)
            .into_iter()
            .map(|d| (d.name, d.pre))
            .collect();
        let want: Vec<(String, bool)> = [
            ("/bin/sh", false),
            ("/bin/sh", true),
            ("/bin/sh", false),
            ("/usr/share/x", false),
            ("sed", true),
            ("libc.so.6(GLIBC_2.17)(64bit)", false),
        ]
        .iter()
        .map(|(n, p)| (n.to_string(), *p))
        .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn primary_files() {
        assert!(is_primary("/etc/nimsforest"));
        assert!(is_primary("/opt/nimsforest/bin/nats-server"));
        assert!(is_primary("/usr/sbin/x"));
        assert!(is_primary("/usr/lib/sendmail"));
        assert!(!is_primary("/opt/nimsforest/bin"));
        assert!(!is_primary("/usr/lib/systemd/system/x.service"));
    }

    #[test]
    fn author_trimmed_at_the_end_only() {
        assert_eq!(trim_author("D   - 1  "), "D   - 1");
        assert_eq!(trim_author(" "), " ");
    }
}
