//! The apt repository writer: a pool of `.deb` files and signed indexes in `dists/`.
//!
//! ```text
//! pool/COMPONENT/n/nimsforest-nats/nimsforest-nats_2.15.1-1_amd64.deb
//! dists/SUITE/COMPONENT/binary-ARCH/Packages{,.gz,.xz}
//! dists/SUITE/COMPONENT/binary-ARCH/by-hash/SHA{256,512}/<hex>     (with by_hash)
//! dists/SUITE/{Release,Release.gpg,InRelease}
//! ```
//!
//! [`update`] adds packages and regenerates the indexes from everything in the pool, so
//! older versions stay installable. Published pool files are never replaced. Packages
//! stanzas are field for field what `apt-ftparchive packages` writes. Files appear
//! atomically (temporary file + rename) in the order a client needs them: pool files,
//! indexes and their by-hash copies, then `Release`, `Release.gpg` and `InRelease`.
//! With by-hash, clients fetch indexes by checksum, so a client that read the previous
//! `InRelease` while the repository is being updated still finds the indexes it names:
//! the previous generation of by-hash files is kept.

mod deb;
mod stanza;
pub mod version;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256, Sha512};

use self::deb::{field, Checksums, Field};
use super::IndexSigner;
use crate::dist::write_atomically;
use crate::error::{Error, IoContext, Result};

/// Settings of the repository's `Release` file and layout.
#[derive(Debug, Clone)]
pub struct AptOptions {
    /// `Suite:` and the directory under `dists/` (e.g. `stable`).
    pub suite: String,
    /// `Codename:`; the suite's name when not set.
    pub codename: Option<String>,
    /// The one component (e.g. `main`): `pool/COMPONENT/` and `dists/SUITE/COMPONENT/`.
    pub component: String,
    pub origin: String,
    pub label: String,
    /// Write `by-hash/` copies of the indexes and `Acquire-By-Hash: yes`.
    pub by_hash: bool,
    /// The `Date:` of a new `Release` (now, or `SOURCE_DATE_EPOCH`); moved forward when
    /// needed so that each new `Release` is dated strictly later than the one it replaces.
    pub date: SystemTime,
}

impl Default for AptOptions {
    fn default() -> Self {
        Self {
            suite: "stable".into(),
            codename: None,
            component: "main".into(),
            origin: "NimsForest".into(),
            label: "NimsForest".into(),
            by_hash: true,
            date: SystemTime::now(),
        }
    }
}

/// What [`update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptReport {
    /// Pool files added by this run, relative to the repository root.
    pub added: Vec<String>,
    /// Nothing on disk changed.
    pub unchanged: bool,
}

/// One package file in the pool and its stanza.
#[derive(Debug, Clone)]
struct Entry {
    package: String,
    version: String,
    arch: String,
    /// Relative to the repository root, `/`-separated (the `Filename:` field).
    filename: String,
    stanza: String,
}

/// One index file: path relative to `dists/SUITE/` and content.
struct Index {
    path: String,
    data: Vec<u8>,
}

/// Adds every `.deb` in `debs` to the repository at `root` (created if absent), keeps
/// every `.deb` already in the pool, regenerates the indexes for every architecture
/// present and signs the new `Release` with `signer`.
///
/// Re-running with nothing new changes nothing on disk: the would-be `Release` (without
/// its `Date:`) is compared with the existing one. A `.deb` whose pool file exists with
/// different bytes is refused (a published file is never replaced).
pub fn update(
    root: &Path,
    debs: &[PathBuf],
    opts: &AptOptions,
    signer: &dyn IndexSigner,
) -> Result<AptReport> {
    check_options(root, opts)?;
    let dist_dir = root.join("dists").join(&opts.suite);
    let component_dir = dist_dir.join(&opts.component);
    let release_path = dist_dir.join("Release");
    let old_release = read_optional(&release_path)?;

    // The packages asked for, checked against each other and against the pool.
    let incoming = parallel_map(debs, |path| {
        let data = std::fs::read(path).at(path)?;
        let control = deb::control_fields(path, &data)?;
        let sums = Checksums::of(&data);
        let filename = pool_filename(path, &opts.component, &control)?;
        let entry = entry(path, &control, filename, &sums)?;
        Ok((path.clone(), entry, sums))
    })?;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut to_add: BTreeMap<String, (PathBuf, Checksums)> = BTreeMap::new();
    for (source, entry, sums) in incoming {
        if let Some((first, first_sums)) = to_add.get(&entry.filename) {
            if first_sums.sha256 != sums.sha256 {
                return Err(Error::Repository {
                    path: source,
                    reason: format!(
                        "differs from {} although both would be published as {}",
                        first.display(),
                        entry.filename
                    ),
                });
            }
            continue;
        }
        if entries.contains_key(&entry.filename) {
            continue;
        }
        let target = root.join(&entry.filename);
        match std::fs::read(&target) {
            Ok(published) => {
                let published_sha256 = hex::encode(Sha256::digest(&published));
                if published_sha256 != sums.sha256 {
                    return Err(Error::Repository {
                        path: source,
                        reason: format!(
                            "{} is already published with different content \
                             (sha256 {published_sha256}, this file has {}); a published \
                             file is never replaced: build it with a new revision",
                            entry.filename, sums.sha256
                        ),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                to_add.insert(entry.filename.clone(), (source, sums));
            }
            Err(e) => return Err(e).at(target),
        }
        entries.insert(entry.filename.clone(), entry);
    }

    // Everything already in the pool. A stanza from the current indexes is reused when
    // the pool file has the size it names and is not newer than that index.
    let known = indexed_stanzas(root, &component_dir)?;
    let mut unread = Vec::new();
    for (path, filename) in pool_files(root, &opts.component)? {
        if entries.contains_key(&filename) {
            continue;
        }
        let meta = std::fs::metadata(&path).at(&path)?;
        let modified = meta.modified().at(&path)?;
        match known.get(&filename) {
            Some(k) if k.size == meta.len() && modified <= k.indexed => {
                let fields =
                    deb::parse_paragraph(&k.stanza).map_err(|reason| Error::Repository {
                        path: component_dir.clone(),
                        reason: format!("stanza of {filename}: {reason}"),
                    })?;
                let e = stanza_entry(&component_dir, &fields, filename.clone(), &k.stanza)?;
                entries.insert(filename, e);
            }
            _ => unread.push((path, filename)),
        }
    }
    let read = parallel_map(&unread, |(path, filename)| {
        let data = std::fs::read(path).at(path)?;
        let control = deb::control_fields(path, &data)?;
        entry(path, &control, filename.clone(), &Checksums::of(&data))
    })?;
    for e in read {
        entries.insert(e.filename.clone(), e);
    }
    if entries.is_empty() {
        return Err(Error::Repository {
            path: root.to_path_buf(),
            reason: "no .deb given and none in the pool: nothing to index".into(),
        });
    }

    let mut sorted: Vec<Entry> = entries.into_values().collect();
    sorted.sort_by(|a, b| {
        a.package
            .cmp(&b.package)
            .then_with(|| version::compare(&a.version, &b.version))
            .then_with(|| a.arch.cmp(&b.arch))
            .then_with(|| a.filename.cmp(&b.filename))
    });
    let mut arches: BTreeSet<&str> = sorted
        .iter()
        .map(|e| e.arch.as_str())
        .filter(|a| *a != "all")
        .collect();
    if arches.is_empty() {
        arches.insert("all");
    }
    let mut indexes = Vec::new();
    for arch in &arches {
        let text: String = sorted
            .iter()
            .filter(|e| e.arch == *arch || e.arch == "all")
            .map(|e| format!("{}\n", e.stanza))
            .collect();
        let dir = format!("{}/binary-{arch}", opts.component);
        let plain = text.into_bytes();
        let gz =
            crate::deb::gzip(&plain).at(component_dir.join(format!("binary-{arch}/Packages.gz")))?;
        let xz = xz(&plain).at(component_dir.join(format!("binary-{arch}/Packages.xz")))?;
        indexes.push(Index {
            path: format!("{dir}/Packages"),
            data: plain,
        });
        indexes.push(Index {
            path: format!("{dir}/Packages.gz"),
            data: gz,
        });
        indexes.push(Index {
            path: format!("{dir}/Packages.xz"),
            data: xz,
        });
    }
    let sums: Vec<IndexSums> = indexes.iter().map(IndexSums::of).collect();
    let arch_list: Vec<&str> = arches.into_iter().collect();

    let in_release_path = dist_dir.join("InRelease");
    let release_gpg_path = dist_dir.join("Release.gpg");
    let undated = release_text(opts, &arch_list, &sums, None);
    let same_release = old_release
        .as_deref()
        .is_some_and(|old| without_date(old) == undated);
    if same_release && to_add.is_empty() && in_release_path.is_file() && release_gpg_path.is_file()
    {
        // Same content: only put back an index or by-hash copy that went missing.
        let repaired = write_indexes(&dist_dir, &indexes, &sums, opts.by_hash)?;
        return Ok(AptReport {
            added: Vec::new(),
            unchanged: !repaired,
        });
    }

    let mut date = unix_seconds(opts.date);
    if let Some(old) = old_release.as_deref().and_then(release_date) {
        date = date.max(old + 1);
    }
    let release = release_text(opts, &arch_list, &sums, Some(date));
    // Sign before touching anything, so a signing failure leaves the repository as it was.
    let in_release = signer.clearsign(&release)?;
    let release_gpg = signer.detached_armored(release.as_bytes())?;

    for (filename, (source, sums)) in &to_add {
        publish(source, &root.join(filename), sums)?;
    }
    write_indexes(&dist_dir, &indexes, &sums, opts.by_hash)?;
    write_atomically(&release_path, release.as_bytes())?;
    write_atomically(&release_gpg_path, release_gpg.as_bytes())?;
    write_atomically(&in_release_path, in_release.as_bytes())?;
    if opts.by_hash {
        let mut keep: BTreeSet<String> = old_release
            .as_deref()
            .map(release_hashes)
            .unwrap_or_default();
        keep.extend(
            sums.iter()
                .flat_map(|s| [s.sha256.clone(), s.sha512.clone()]),
        );
        prune_by_hash(&component_dir, &keep)?;
    }
    Ok(AptReport {
        added: to_add.into_keys().collect(),
        unchanged: false,
    })
}

fn check_options(root: &Path, opts: &AptOptions) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::Repository {
            path: root.to_path_buf(),
            reason,
        })
    };
    let names = [
        ("suite", Some(&opts.suite)),
        ("codename", opts.codename.as_ref()),
        ("component", Some(&opts.component)),
    ];
    for (what, value) in names {
        let Some(value) = value else { continue };
        let ok = !value.is_empty()
            && value != "."
            && value != ".."
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return bad(format!(
                "{what} {value:?} must be a name of letters, digits, `.`, `_` and `-`"
            ));
        }
    }
    for (what, value) in [("origin", &opts.origin), ("label", &opts.label)] {
        if value.trim().is_empty() || value.contains('\n') {
            return bad(format!("{what} {value:?} must be one non-empty line"));
        }
    }
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at(path),
    }
}

/// `pool/COMPONENT/PREFIX/SOURCE/PACKAGE_VERSION_ARCH.deb`, Debian's pool layout (the
/// prefix is the source's first letter, or its first four for `lib*`; no epoch in the
/// file name).
fn pool_filename(path: &Path, component: &str, control: &[Field]) -> Result<String> {
    let required = |name: &str| {
        field(control, name).ok_or_else(|| Error::Repository {
            path: path.to_path_buf(),
            reason: format!("the control file has no {name} field"),
        })
    };
    let package = required("Package")?;
    let version = required("Version")?;
    let arch = required("Architecture")?;
    let source = field(control, "Source")
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

fn entry(path: &Path, control: &[Field], filename: String, sums: &Checksums) -> Result<Entry> {
    let stanza = stanza::packages_stanza(control, &filename, sums);
    stanza_entry(path, control, filename, &stanza)
}

fn stanza_entry(path: &Path, fields: &[Field], filename: String, stanza: &str) -> Result<Entry> {
    let required = |name: &str| {
        field(fields, name)
            .map(str::to_string)
            .ok_or_else(|| Error::Repository {
                path: path.to_path_buf(),
                reason: format!("{filename}: no {name} field"),
            })
    };
    Ok(Entry {
        package: required("Package")?,
        version: required("Version")?,
        arch: required("Architecture")?,
        stanza: stanza.to_string(),
        filename,
    })
}

/// A stanza of a current `Packages` index, with what is needed to trust it again.
struct Known {
    stanza: String,
    size: u64,
    /// When the index that holds it was written.
    indexed: SystemTime,
}

/// Stanzas of the component's current `Packages` files, by `Filename:`.
fn indexed_stanzas(root: &Path, component_dir: &Path) -> Result<HashMap<String, Known>> {
    let mut known = HashMap::new();
    let dirs = match std::fs::read_dir(component_dir) {
        Ok(dirs) => dirs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(known),
        Err(e) => return Err(e).at(component_dir),
    };
    for dir in dirs {
        let dir = dir.at(component_dir)?;
        if !dir.file_name().to_string_lossy().starts_with("binary-") {
            continue;
        }
        let path = dir.path().join("Packages");
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        let indexed = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .at(&path)?;
        for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
            let Ok(fields) = deb::parse_paragraph(stanza) else {
                continue;
            };
            let (Some(filename), Some(size)) = (
                field(&fields, "Filename"),
                field(&fields, "Size").and_then(|s| s.parse().ok()),
            ) else {
                continue;
            };
            if !root.join(filename).starts_with(root) {
                continue;
            }
            known.insert(
                filename.to_string(),
                Known {
                    stanza: format!("{}\n", stanza.trim_matches('\n')),
                    size,
                    indexed,
                },
            );
        }
    }
    Ok(known)
}

/// Every `.deb` under `pool/COMPONENT/`, with its path relative to the root.
fn pool_files(root: &Path, component: &str) -> Result<Vec<(PathBuf, String)>> {
    fn walk(dir: &Path, relative: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at(dir),
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

/// Copies a package into the pool: through a temporary file, checked against the
/// checksum it was indexed with, and never over an existing file.
fn publish(source: &Path, target: &Path, sums: &Checksums) -> Result<()> {
    let data = std::fs::read(source).at(source)?;
    let sha256 = hex::encode(Sha256::digest(&data));
    if sha256 != sums.sha256 {
        return Err(Error::Repository {
            path: source.to_path_buf(),
            reason: format!(
                "changed while the repository was being updated (sha256 was {}, now {sha256})",
                sums.sha256
            ),
        });
    }
    let dir = target.parent().expect("pool files live in a directory");
    std::fs::create_dir_all(dir).at(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .at(dir)?;
    temp.write_all(&data).at(temp.path())?;
    temp.as_file().sync_all().at(temp.path())?;
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .at(temp.path())?;
    }
    match temp.persist_noclobber(target) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            // Published meanwhile by someone else: fine if it is the same file.
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
        Err(e) => Err(e.error).at(target),
    }
}

/// The checksums of one index, as `Release` lists them.
struct IndexSums {
    path: String,
    size: u64,
    sha256: String,
    sha512: String,
}

impl IndexSums {
    fn of(index: &Index) -> Self {
        Self {
            path: index.path.clone(),
            size: index.data.len() as u64,
            sha256: hex::encode(Sha256::digest(&index.data)),
            sha512: hex::encode(Sha512::digest(&index.data)),
        }
    }
}

/// Writes each index whose file differs and, with `by_hash`, its missing by-hash copies
/// (those first). Returns whether anything was written.
fn write_indexes(
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
                write_atomically(&copy, &index.data)?;
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
        write_atomically(&path, &index.data)?;
        wrote = true;
    }
    Ok(wrote)
}

/// Removes by-hash copies named by neither the new nor the previous `Release`.
fn prune_by_hash(component_dir: &Path, keep: &BTreeSet<String>) -> Result<()> {
    let dirs = match std::fs::read_dir(component_dir) {
        Ok(dirs) => dirs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(component_dir),
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
fn release_text(
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

fn without_date(release: &str) -> String {
    release
        .lines()
        .filter(|l| !l.starts_with("Date:"))
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// The `Date:` of a `Release` file, in seconds since the epoch.
fn release_date(release: &str) -> Option<u64> {
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
fn release_hashes(release: &str) -> BTreeSet<String> {
    release
        .lines()
        .filter(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 2822 in UTC, as Debian's archive writes it: `Sat, 15 Nov 2025 09:10:44 UTC`.
fn format_date(seconds: u64) -> String {
    let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds));
    format!("{} UTC", http.trim_end_matches(" GMT"))
}

/// `xz -6`, one thread, so the bytes depend on nothing but the input.
fn xz(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data)?;
    enc.finish()
}

/// Maps `f` over `items` on every core, keeping the order; the first error wins.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut results: Vec<(usize, Result<R>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    (w..items.len())
                        .step_by(workers)
                        .map(|i| (i, f(&items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests;
