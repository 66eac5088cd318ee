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

mod pool;
mod release;
mod stanza;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::IndexSigner;
use crate::atomic;
use crate::compress;
use crate::deb::deb822::{self, Field};
use crate::deb::{control_fields, version};
use crate::digest::{sha256_hex, Digests};
use crate::error::{Error, IoContext, Result};
use crate::parallel;
use crate::spec::Repository;
use release::{Index, IndexSums};

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

impl AptOptions {
    /// The defaults for the repository the definition describes (its name as `Origin:` and
    /// `Label:`): suite `stable`, component `main`, by-hash on.
    pub fn new(repository: &Repository, date: SystemTime) -> Self {
        Self {
            suite: "stable".into(),
            codename: None,
            component: "main".into(),
            origin: repository.name.clone(),
            label: repository.name.clone(),
            by_hash: true,
            date,
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
struct IndexedDeb {
    package: String,
    version: String,
    arch: String,
    /// Relative to the repository root, `/`-separated (the `Filename:` field).
    filename: String,
    stanza: String,
}

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
    let incoming = parallel::map(debs, parallel::cores(), |path| {
        let data = std::fs::read(path).at(path)?;
        let control = control_fields(path, &data)?;
        let sums = Digests::of(&data);
        let filename = pool::filename(path, &opts.component, &control)?;
        let entry = entry(path, &control, filename, &sums)?;
        Ok((path.clone(), entry, sums))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let mut entries: BTreeMap<String, IndexedDeb> = BTreeMap::new();
    let mut to_add: BTreeMap<String, (PathBuf, Digests)> = BTreeMap::new();
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
        match std::fs::read(&target).optional_at(&target)? {
            Some(published) => {
                let published_sha256 = sha256_hex(&published);
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
            None => {
                to_add.insert(entry.filename.clone(), (source, sums));
            }
        }
        entries.insert(entry.filename.clone(), entry);
    }

    // Everything already in the pool. A stanza from the current indexes is reused when
    // the pool file has the size it names and is not newer than that index.
    let known = indexed_stanzas(root, &component_dir)?;
    let mut unread = Vec::new();
    for (path, filename) in pool::files(root, &opts.component)? {
        if entries.contains_key(&filename) {
            continue;
        }
        let meta = std::fs::metadata(&path).at(&path)?;
        let modified = meta.modified().at(&path)?;
        match known.get(&filename) {
            Some(k) if k.size == meta.len() && modified <= k.indexed => {
                let fields = deb822::parse_one(&k.stanza).map_err(|reason| Error::Repository {
                    path: component_dir.clone(),
                    reason: format!("stanza of {filename}: {reason}"),
                })?;
                let e = stanza_entry(&component_dir, &fields, filename.clone(), &k.stanza)?;
                entries.insert(filename, e);
            }
            _ => unread.push((path, filename)),
        }
    }
    let read = parallel::map(&unread, parallel::cores(), |(path, filename)| {
        let data = std::fs::read(path).at(path)?;
        let control = control_fields(path, &data)?;
        entry(path, &control, filename.clone(), &Digests::of(&data))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    for e in read {
        entries.insert(e.filename.clone(), e);
    }
    if entries.is_empty() {
        return Err(Error::Repository {
            path: root.to_path_buf(),
            reason: "no .deb given and none in the pool: nothing to index".into(),
        });
    }

    let mut sorted: Vec<IndexedDeb> = entries.into_values().collect();
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
        let gz = compress::gzip(&plain, compress::GZIP_BEST)
            .at(component_dir.join(format!("binary-{arch}/Packages.gz")))?;
        let xz =
            compress::xz(&plain).at(component_dir.join(format!("binary-{arch}/Packages.xz")))?;
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
    let undated = release::text(opts, &arch_list, &sums, None);
    let same_release = old_release
        .as_deref()
        .is_some_and(|old| release::without_date(old) == undated);
    if same_release && to_add.is_empty() && in_release_path.is_file() && release_gpg_path.is_file()
    {
        // Same content: only put back an index or by-hash copy that went missing.
        let repaired = release::write_indexes(&dist_dir, &indexes, &sums, opts.by_hash)?;
        return Ok(AptReport {
            added: Vec::new(),
            unchanged: !repaired,
        });
    }

    let mut date = release::unix_seconds(opts.date);
    if let Some(old) = old_release.as_deref().and_then(release::date_of) {
        date = date.max(old + 1);
    }
    let release_file = release::text(opts, &arch_list, &sums, Some(date));
    // Sign before touching anything, so a signing failure leaves the repository as it was.
    let in_release = signer.clearsign(&release_file)?;
    let release_gpg = signer.detached_armored(release_file.as_bytes())?;

    for (filename, (source, sums)) in &to_add {
        pool::add(source, &root.join(filename), sums)?;
    }
    release::write_indexes(&dist_dir, &indexes, &sums, opts.by_hash)?;
    atomic::write(
        &release_path,
        release_file.as_bytes(),
        atomic::Options::REPLACE,
    )?;
    atomic::write(
        &release_gpg_path,
        release_gpg.as_bytes(),
        atomic::Options::REPLACE,
    )?;
    atomic::write(
        &in_release_path,
        in_release.as_bytes(),
        atomic::Options::REPLACE,
    )?;
    if opts.by_hash {
        let mut keep: BTreeSet<String> = old_release
            .as_deref()
            .map(release::hashes)
            .unwrap_or_default();
        keep.extend(
            sums.iter()
                .flat_map(|s| [s.sha256.clone(), s.sha512.clone()]),
        );
        release::prune_by_hash(&component_dir, &keep)?;
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
    std::fs::read_to_string(path).optional_at(path)
}

/// `pool/COMPONENT/PREFIX/SOURCE/PACKAGE_VERSION_ARCH.deb`, Debian's pool layout (the
/// prefix is the source's first letter, or its first four for `lib*`; no epoch in the
/// file name).
fn entry(path: &Path, control: &[Field], filename: String, sums: &Digests) -> Result<IndexedDeb> {
    let stanza = stanza::packages_stanza(control, &filename, sums);
    stanza_entry(path, control, filename, &stanza)
}

fn stanza_entry(
    path: &Path,
    fields: &[Field],
    filename: String,
    stanza: &str,
) -> Result<IndexedDeb> {
    let required = |name: &str| {
        deb822::get(fields, name)
            .map(str::to_string)
            .ok_or_else(|| Error::Repository {
                path: path.to_path_buf(),
                reason: format!("{filename}: no {name} field"),
            })
    };
    Ok(IndexedDeb {
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
    let Some(dirs) = std::fs::read_dir(component_dir).optional_at(component_dir)? else {
        return Ok(known);
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
            let Ok(fields) = deb822::parse_one(stanza) else {
                continue;
            };
            let (Some(filename), Some(size)) = (
                deb822::get(&fields, "Filename"),
                deb822::get(&fields, "Size").and_then(|s| s.parse().ok()),
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
#[cfg(test)]
mod tests;
