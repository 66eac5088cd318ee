//! The apt repository writer: a pool of `.deb` files and signed indexes in `dists/`.
//!
//! ```text
//! pool/COMPONENT/n/nimsforest-nats/nimsforest-nats_2.15.1-1_amd64.deb
//! dists/SUITE/COMPONENT/binary-ARCH/Packages{,.gz,.xz}
//! dists/SUITE/COMPONENT/binary-ARCH/by-hash/SHA{256,512}/<hex>     (with by_hash)
//! dists/SUITE/{Release,Release.gpg,InRelease}
//! dists/SUITE/retired       pool files dropped from the indexes, deleted when unnamed
//! ```
//!
//! [`update`] works from what is published, never from the old package files: the
//! current `InRelease` (its signature checked against the signing key) names the
//! `Packages` indexes, which are fetched and checked against it and hold every stanza.
//! New `.deb` files are added to them and the indexes regenerated, so older versions stay
//! installable; `keep` limits how many versions of each package and arch stay. Stanzas are
//! field for field what `apt-ftparchive packages` writes. A published pool file is never
//! replaced.
//!
//! Objects are written in the order a client needs them, so that a client reading during
//! an update, or after one that was interrupted, always finds a consistent repository:
//! pool files, by-hash copies of the indexes, the indexes, `Release`, `Release.gpg`, and
//! `InRelease` last. Clients fetch indexes by hash, and the previous generation of by-hash
//! copies is kept, as are the pool files the previous generation names. Just before
//! `Release` is replaced, the current `InRelease` is read again: if another publisher
//! changed it meanwhile, this run stops and its new files stay unreferenced.

mod pool;
mod release;
mod stanza;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::tree::Tree;
use super::IndexSigner;
use crate::compress;
use crate::deb::{control_fields, version};
use crate::digest::Digests;
use crate::error::{Error, IoContext, Result};
use crate::parallel;
use crate::spec::Repository;
use crate::store::Store;
use release::{Index, IndexSums};
use state::{IndexedDeb, Published};

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
    /// Keep only the newest N versions of each package and arch in the indexes.
    pub keep: Option<usize>,
}

impl AptOptions {
    /// The defaults for the repository the definition describes (its name as `Origin:` and
    /// `Label:`): suite `stable`, component `main`, by-hash on, every version kept.
    pub fn new(repository: &Repository, date: SystemTime) -> Self {
        Self {
            suite: "stable".into(),
            codename: None,
            component: "main".into(),
            origin: repository.name.clone(),
            label: repository.name.clone(),
            by_hash: true,
            date,
            keep: None,
        }
    }
}

/// What [`update`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptReport {
    /// Pool files added by this run, relative to the repository root.
    pub added: Vec<String>,
    /// Pool files this run dropped from the indexes (`keep`).
    pub retired: Vec<String>,
    /// Pool files deleted: dropped earlier and named by no index a client may still read.
    pub deleted: Vec<String>,
    /// Nothing in the store changed.
    pub unchanged: bool,
}

/// Adds every `.deb` in `debs` to the apt repository at `root` in `store` (created if
/// absent), regenerates the indexes for every architecture and signs the new `Release`.
///
/// Re-running with nothing new writes nothing. A `.deb` whose pool file is published with
/// other bytes is refused, as is a store whose indexes do not match their signed `Release`.
pub fn update(
    store: &dyn Store,
    root: &str,
    debs: &[PathBuf],
    opts: &AptOptions,
    signer: &dyn IndexSigner,
) -> Result<AptReport> {
    let tree = Tree { store, root };
    check_options(&tree, opts)?;
    let dist = format!("dists/{}", opts.suite);
    let current = Published::read(&tree, &dist, opts, signer)?;
    if opts.keep.is_some() {
        // The pool is shared by every suite: retention would delete files another needs.
        let others: BTreeSet<String> = tree
            .list("dists/")?
            .iter()
            .filter_map(|k| k.strip_prefix("dists/")?.split_once('/'))
            .map(|(suite, _)| suite.to_string())
            .filter(|suite| *suite != opts.suite)
            .collect();
        if !others.is_empty() {
            return Err(tree.error(
                "dists",
                format!(
                    "also holds the suites {others:?}, which share the pool: keeping only \
                     some versions would delete files they index; publish suites with \
                     retention to stores of their own"
                ),
            ));
        }
    }

    // The packages asked for, checked against each other and against the indexes.
    let incoming = parallel::map(debs, parallel::cores(), |path| {
        let data = std::fs::read(path).at(path)?;
        let control = control_fields(path, &data)?;
        let digests = Digests::of(&data);
        let filename = pool::filename(path, &opts.component, &control)?;
        let stanza = stanza::packages_stanza(&control, &filename, &digests);
        let entry = IndexedDeb::from_stanza(&stanza).map_err(|reason| Error::Repository {
            path: path.clone(),
            reason,
        })?;
        Ok((path.clone(), entry, data))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let mut entries = current.entries.clone();
    let mut to_add: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    for (source, entry, data) in incoming {
        if let Some((first, _)) = to_add.get(&entry.filename) {
            if entries[&entry.filename].sha256 != entry.sha256 {
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
        if let Some(published) = current.entries.get(&entry.filename) {
            if published.sha256 != entry.sha256 {
                return Err(Error::Repository {
                    path: source,
                    reason: format!(
                        "{} is already published with different content (sha256 {}, this \
                         file has {}); a published file is never replaced: build it with a \
                         new revision",
                        entry.filename, published.sha256, entry.sha256
                    ),
                });
            }
            continue;
        }
        to_add.insert(entry.filename.clone(), (source, data));
        entries.insert(entry.filename.clone(), entry);
    }

    // Retention: a package dropped right away is never uploaded.
    let retired = match opts.keep {
        Some(keep) => retain(&mut entries, keep),
        None => Vec::new(),
    };
    to_add.retain(|filename, _| entries.contains_key(filename));
    if entries.is_empty() {
        return Err(tree.error(
            &dist,
            "no .deb given and none published: nothing to index".into(),
        ));
    }

    let (arch_list, indexes) = build_indexes(&entries, opts)?;
    let sums: Vec<IndexSums> = indexes.iter().map(IndexSums::of).collect();
    let undated = release::text(opts, &arch_list, &sums, None);
    let newly_retired: Vec<String> = current
        .entries
        .keys()
        .filter(|f| !entries.contains_key(*f))
        .cloned()
        .collect();
    if to_add.is_empty() && newly_retired.is_empty() && current.is_complete_with(&undated) {
        let newest = current.date().unwrap_or(0);
        let deleted = current.retired.clone().delete_unnamed(
            &tree,
            &format!("{dist}/retired"),
            newest,
            |f| entries.contains_key(f),
        )?;
        return Ok(AptReport {
            unchanged: deleted.is_empty(),
            deleted,
            ..AptReport::default()
        });
    }

    // Each new Release is dated after the one it replaces; completing an interrupted update
    // of the same indexes keeps its date.
    let same_indexes = current
        .release
        .as_deref()
        .is_some_and(|r| release::without_date(r) == undated);
    let date = match current.date() {
        Some(old) if same_indexes => old,
        Some(old) => release::unix_seconds(opts.date).max(old + 1),
        None => release::unix_seconds(opts.date),
    };
    let release_file = release::text(opts, &arch_list, &sums, Some(date));
    // Sign before writing anything, so a signing failure leaves the store as it was.
    let in_release = signer.clearsign(&release_file)?;
    let release_gpg = signer.detached_armored(release_file.as_bytes())?;

    for (filename, (_, data)) in &to_add {
        tree.put(filename, data)?;
    }
    for (index, sums) in indexes.iter().zip(&sums) {
        let dir = index.path.rsplit_once('/').map_or("", |(d, _)| d);
        if opts.by_hash {
            for (algorithm, hex) in [("SHA256", &sums.sha256), ("SHA512", &sums.sha512)] {
                if !current.hashes.contains(hex) {
                    tree.put(
                        &format!("{dist}/{dir}/by-hash/{algorithm}/{hex}"),
                        &index.data,
                    )?;
                }
            }
        }
        if current.sums.get(&index.path) != Some(&sums.sha256) {
            tree.put(&format!("{dist}/{}", index.path), &index.data)?;
        }
    }
    // Pool files dropped from the indexes are remembered, with the date of the generation
    // that dropped them, until no generation a client may read names them.
    let mut pending = current.retired.clone();
    pending
        .0
        .retain(|filename, _| !entries.contains_key(filename));
    pending.add(newly_retired, date);
    if pending != current.retired {
        tree.put(&format!("{dist}/retired"), pending.text().as_bytes())?;
    }

    // The swap: refused if another publisher replaced what this run started from.
    let now = tree.get(&format!("{dist}/InRelease"))?;
    if now != current.in_release {
        return Err(tree.error(
            &format!("{dist}/InRelease"),
            "was replaced by another publisher while this run worked; nothing of this run \
             is visible to clients: run it again"
                .into(),
        ));
    }
    tree.put(&format!("{dist}/Release"), release_file.as_bytes())?;
    tree.put(&format!("{dist}/Release.gpg"), release_gpg.as_bytes())?;
    tree.put(&format!("{dist}/InRelease"), in_release.as_bytes())?;

    // What no client can need any more: by-hash copies of generations older than the
    // previous one, and retired pool files named by neither generation.
    if opts.by_hash {
        let keep: BTreeSet<&String> = current
            .hashes
            .iter()
            .chain(sums.iter().flat_map(|s| [&s.sha256, &s.sha512]))
            .collect();
        for key in tree.list(&format!("{dist}/{}/", opts.component))? {
            let Some((_, name)) = key.rsplit_once('/') else {
                continue;
            };
            if key.contains("/by-hash/") && !keep.contains(&name.to_string()) {
                tree.delete(&key)?;
            }
        }
    }
    let deleted = pending.delete_unnamed(&tree, &format!("{dist}/retired"), date, |f| {
        entries.contains_key(f)
    })?;
    Ok(AptReport {
        added: to_add.into_keys().collect(),
        retired,
        deleted,
        unchanged: false,
    })
}

/// Keeps the newest `keep` versions of each (package, arch); returns the pool files
/// dropped.
fn retain(entries: &mut BTreeMap<String, IndexedDeb>, keep: usize) -> Vec<String> {
    let mut by_package: BTreeMap<(&str, &str), Vec<&IndexedDeb>> = BTreeMap::new();
    for e in entries.values() {
        by_package
            .entry((e.package.as_str(), e.arch.as_str()))
            .or_default()
            .push(e);
    }
    let mut dropped = Vec::new();
    for versions in by_package.values_mut() {
        versions.sort_by(|a, b| version::compare(&b.version, &a.version));
        dropped.extend(versions.iter().skip(keep).map(|e| e.filename.clone()));
    }
    for filename in &dropped {
        entries.remove(filename);
    }
    dropped
}

/// The `Packages` indexes (plain, gzip, xz) of every architecture, and the arch list.
fn build_indexes(
    entries: &BTreeMap<String, IndexedDeb>,
    opts: &AptOptions,
) -> Result<(Vec<String>, Vec<Index>)> {
    let mut sorted: Vec<&IndexedDeb> = entries.values().collect();
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
        let gz = compress::gzip(&plain, compress::GZIP_BEST).at(format!("{dir}/Packages.gz"))?;
        let xz = compress::xz(&plain).at(format!("{dir}/Packages.xz"))?;
        for (name, data) in [
            ("Packages", plain),
            ("Packages.gz", gz),
            ("Packages.xz", xz),
        ] {
            indexes.push(Index {
                path: format!("{dir}/{name}"),
                data,
            });
        }
    }
    Ok((arches.into_iter().map(str::to_string).collect(), indexes))
}

fn check_options(tree: &Tree, opts: &AptOptions) -> Result<()> {
    let bad = |reason: String| Err(tree.error("", reason));
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
    if opts.keep == Some(0) {
        return bad("keep must be at least 1 (the newest version)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
