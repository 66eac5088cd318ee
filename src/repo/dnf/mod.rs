//! The dnf (yum) repository writer: RPMs under `Packages/`, and `repodata/` with
//! primary, filelists and other as `.xml.gz`, `repomd.xml` and its detached signature
//! `repomd.xml.asc`.
//!
//! One repository for every arch. Fedora splits its repositories per arch, but most
//! third-party vendor repositories serve every arch from one `baseurl` and let dnf pick
//! the packages for the machine's arch (plus noarch). One tree means one `.repo` file,
//! one URL and one key setting for every node, whatever its arch, and adding an arch
//! needs no client change. The cost, metadata that also lists the other arches' packages,
//! is a few hundred bytes per package.
//!
//! Layout, as Fedora's trees and `createrepo_c` expect it:
//!
//! ```text
//! Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm     (first letter of the name, lower case)
//! repodata/<sha256>-primary.xml.gz                    (file names carry their checksum,
//! repodata/<sha256>-filelists.xml.gz                   so a cache or mirror never mixes
//! repodata/<sha256>-other.xml.gz                       old and new metadata)
//! repodata/repomd.xml, repodata/repomd.xml.asc
//! ```
//!
//! The package entries are those `createrepo_c` writes for the same files (see `record`
//! and `xml`; the integration tests compare them): `createrepo_c` run on the tree gives the
//! same primary, filelists and other. No sqlite databases: dnf builds its own cache from
//! the XML, and yum 3 (RHEL 6) is out of scope.
//!
//! [`update`] works from what is published, never from the old package files: the current
//! `repomd.xml` (its signature checked) names the three documents, which are fetched,
//! checked and split back into each package's entries; only new packages get entries made.
//! Objects are written in the order a client needs them: new packages, the new documents
//! (new names), `repomd.xml`, then `repomd.xml.asc`. The documents of the previous
//! generation stay, as do the packages it names (`repodata/retired` remembers what
//! retention dropped). Just before `repomd.xml` is replaced it is read again: if another
//! publisher changed it meanwhile, this run stops. (dnf reads `repomd.xml` and its
//! signature separately: between the two writes of an update a client may see a mismatch
//! and retries; that window is inherent to the format.)

mod record;
mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::tree::{Retired, Tree};
use super::IndexSigner;
use crate::compress;
use crate::digest::sha256_hex;
use crate::error::{IoContext, Result};
use crate::store::Store;
use xml::Fragments;

pub use record::{Record, CHANGELOG_LIMIT};

/// Where the packages live, relative to the repository root.
pub const PACKAGES_DIR: &str = "Packages";
pub const REPODATA_DIR: &str = "repodata";
pub const REPOMD: &str = "repodata/repomd.xml";
pub const REPOMD_SIGNATURE: &str = "repodata/repomd.xml.asc";
const RETIRED: &str = "repodata/retired";
/// The new signature, written before `repomd.xml` is replaced (see `Published::read`).
const NEXT_SIGNATURE: &str = "repodata/repomd.xml.next.asc";

pub struct DnfOptions {
    /// The revision and timestamps in repomd.xml, and the file time primary.xml records for
    /// newly added packages. The caller decides it (for instance from `SOURCE_DATE_EPOCH`).
    pub date: SystemTime,
    /// Keep only the newest N versions of each package and arch in the metadata.
    pub keep: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnfReport {
    /// The packages copied in, as paths relative to the repository root
    /// (`Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm`).
    pub added: Vec<String>,
    /// Packages this run dropped from the metadata (`keep`).
    pub retired: Vec<String>,
    /// Packages deleted: dropped earlier and named by no metadata a client may still read.
    pub deleted: Vec<String>,
    /// True when nothing in the store changed.
    pub unchanged: bool,
}

/// Adds every `.rpm` in `rpms` (other files are ignored) to the repository at `root` in
/// `store`, created if absent, under `Packages/<letter>/<name>-<version>-<release>.<arch>.rpm`,
/// keeping the packages already published; then regenerates `repodata/` and signs
/// `repomd.xml`.
///
/// - `sign_rpm` is called on each package before it is compared and published (pass
///   `&|_| Ok(())` to publish packages as they are). Signing is deterministic, so a package
///   published before compares equal to its input; a different package under an existing
///   name is an error, and nothing is changed.
/// - Re-running with nothing new writes nothing.
pub fn update(
    store: &dyn Store,
    root: &str,
    rpms: &[PathBuf],
    opts: &DnfOptions,
    signer: &dyn IndexSigner,
    sign_rpm: &dyn Fn(&mut rpm::Package) -> Result<()>,
) -> Result<DnfReport> {
    let tree = Tree { store, root };
    if opts.keep == Some(0) {
        return Err(tree.error("", "keep must be at least 1 (the newest version)".into()));
    }
    let current = Published::read(&tree, signer)?;
    let timestamp = opts
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    // Check every input before writing anything, so a conflict leaves the store as it was.
    let mut packages = current.packages.clone();
    let mut to_add: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for path in rpms
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
    {
        let mut package = rpm::Package::open(path).map_err(|e| record::invalid(path, e))?;
        let location = location_of(&package).map_err(|reason| record::invalid(path, reason))?;
        sign_rpm(&mut package)?;
        let mut bytes = Vec::with_capacity(package.payload.len() + 65536);
        package
            .write(&mut bytes)
            .map_err(|e| record::invalid(path, e))?;
        let pkgid = sha256_hex(&bytes);
        if let Some(known) = packages.get(&location) {
            if known.pkgid != pkgid {
                return Err(tree.error(
                    &location,
                    format!(
                        "already in the repository with different contents than {} \
                         (a rebuilt package needs a new release number)",
                        path.display()
                    ),
                ));
            }
            continue;
        }
        let time_file = i64::try_from(timestamp).unwrap_or(i64::MAX);
        let record = record::of_bytes(&bytes, &location, time_file)
            .map_err(|reason| record::invalid(path, reason))?;
        if xml::strings(&record).any(xml::forbidden_control_char) {
            return Err(record::invalid(
                path,
                "control characters in its metadata (XML cannot carry them)",
            ));
        }
        packages.insert(location.clone(), Fragments::of(&record));
        to_add.insert(location, bytes);
    }

    let retired = match opts.keep {
        Some(keep) => retain(&mut packages, keep),
        None => Vec::new(),
    };
    to_add.retain(|location, _| packages.contains_key(location));
    let newly_retired: Vec<String> = current
        .packages
        .keys()
        .filter(|l| !packages.contains_key(*l))
        .cloned()
        .collect();

    let sorted: Vec<&Fragments> = packages.values().collect();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (kind, doc) in xml::documents(&sorted) {
        let gz = compress::gzip(doc.as_bytes(), compress::GZIP_REPODATA)
            .at(format!("{REPODATA_DIR}/{kind}.xml.gz"))?;
        let checksum = sha256_hex(&gz);
        let location = format!("{REPODATA_DIR}/{checksum}-{kind}.xml.gz");
        entries.push(xml::RepomdEntry {
            kind,
            checksum,
            open_checksum: sha256_hex(doc.as_bytes()),
            location: location.clone(),
            timestamp,
            size: gz.len() as u64,
            open_size: doc.len() as u64,
        });
        files.push((location, gz));
    }
    let mut wanted: Vec<String> = files.iter().map(|(l, _)| l.clone()).collect();
    wanted.sort();
    if to_add.is_empty() && newly_retired.is_empty() && current.is_complete_with(&wanted) {
        let newest = current.timestamp.unwrap_or(0);
        let deleted = current
            .retired
            .clone()
            .delete_unnamed(&tree, RETIRED, newest, |l| packages.contains_key(l))?;
        return Ok(DnfReport {
            unchanged: deleted.is_empty(),
            deleted,
            ..DnfReport::default()
        });
    }

    // repomd.xml's revision moves forward, like apt's Release date; completing an
    // interrupted update of the same metadata keeps its revision.
    let timestamp = match current.timestamp {
        Some(old) if current.documents == wanted => old,
        Some(old) => timestamp.max(old + 1),
        None => timestamp,
    };
    for entry in &mut entries {
        entry.timestamp = timestamp;
    }
    let repomd = xml::repomd(timestamp, &entries);
    let signature = signer.detached_armored(repomd.as_bytes())?;

    for (location, bytes) in &to_add {
        tree.put(location, bytes)?;
    }
    for (location, gz) in &files {
        if !current.documents.contains(location) {
            tree.put(location, gz)?;
        }
    }
    let mut pending = current.retired.clone();
    pending
        .0
        .retain(|location, _| !packages.contains_key(location));
    pending.add(newly_retired, timestamp);
    if pending != current.retired {
        tree.put(RETIRED, pending.text().as_bytes())?;
    }

    // The swap: refused if another publisher replaced what this run started from.
    if tree.get(REPOMD)? != current.repomd {
        return Err(tree.error(
            REPOMD,
            "was replaced by another publisher while this run worked; nothing of this run \
             is visible to clients: run it again"
                .into(),
        ));
    }
    tree.put(NEXT_SIGNATURE, signature.as_bytes())?;
    tree.put(REPOMD, repomd.as_bytes())?;
    tree.put(REPOMD_SIGNATURE, signature.as_bytes())?;

    // What no client can need any more: documents of generations before the previous one,
    // and retired packages named by neither generation.
    let keep: BTreeSet<&String> = current.documents.iter().chain(&wanted).collect();
    for key in tree.list(&format!("{REPODATA_DIR}/"))? {
        let document = key.ends_with(".xml.gz") || key.ends_with(".xml.zst");
        if document && !keep.contains(&key) {
            tree.delete(&key)?;
        }
    }
    let deleted =
        pending.delete_unnamed(&tree, RETIRED, timestamp, |l| packages.contains_key(l))?;
    Ok(DnfReport {
        added: to_add.into_keys().collect(),
        retired,
        deleted,
        unchanged: false,
    })
}

/// The repository as published.
#[derive(Debug, Default)]
struct Published {
    /// `repomd.xml` as read, byte for byte (compared again before the swap).
    repomd: Option<Vec<u8>>,
    /// Its revision.
    timestamp: Option<u64>,
    /// `repomd.xml.asc` signs it.
    signature_complete: bool,
    /// The locations of its documents.
    documents: Vec<String>,
    /// Location -> the package's entries.
    packages: BTreeMap<String, Fragments>,
    retired: Retired,
}

impl Published {
    fn read(tree: &Tree, signer: &dyn IndexSigner) -> Result<Self> {
        let Some(repomd) = tree.get(REPOMD)? else {
            return Ok(Self::default());
        };
        let text = String::from_utf8_lossy(&repomd).into_owned();
        // Trusted only when this key signed it: in repomd.xml.asc, or, after an update that
        // stopped between writing repomd.xml and its signature, in the copy of that
        // signature the update wrote first.
        let signed_in = |name: &str| -> Result<bool> {
            Ok(tree.get(name)?.is_some_and(|sig| {
                signer
                    .verify_detached(&repomd, &String::from_utf8_lossy(&sig))
                    .is_ok()
            }))
        };
        let signature_complete = signed_in(REPOMD_SIGNATURE)?;
        if !signature_complete && !signed_in(NEXT_SIGNATURE)? {
            return Err(tree.error(
                REPOMD,
                "is not signed by this signing key: it was written by another key or changed \
                 outside nimsforest-pkg, so the metadata it names cannot be trusted"
                    .into(),
            ));
        }
        let data = xml::repomd_data(&text);
        let mut documents = BTreeMap::new();
        for (kind, location, checksum) in &data {
            let Some(gz) = tree.get(location)? else {
                return Err(tree.error(location, "is named by repomd.xml but missing".into()));
            };
            if sha256_hex(&gz) != *checksum {
                return Err(tree.error(
                    location,
                    format!(
                        "does not match repomd.xml (sha256 {checksum}): the store was changed \
                         outside nimsforest-pkg"
                    ),
                ));
            }
            let mut doc = String::new();
            std::io::Read::read_to_string(
                &mut compress::Format::Gzip
                    .decoder(gz.as_slice())
                    .map_err(|e| tree.error(location, e.to_string()))?,
                &mut doc,
            )
            .map_err(|e| tree.error(location, e.to_string()))?;
            documents.insert(kind.clone(), doc);
        }
        let doc = |kind: &str| documents.get(kind).map_or("", String::as_str);
        let packages = xml::split(doc("primary"), doc("filelists"), doc("other"))
            .map_err(|reason| tree.error(REPOMD, reason))?;
        Ok(Self {
            timestamp: xml::repomd_revision(&text),
            signature_complete,
            documents: {
                let mut d: Vec<String> = data.into_iter().map(|(_, l, _)| l).collect();
                d.sort();
                d
            },
            packages: packages
                .into_iter()
                .map(|p| (p.location.clone(), p))
                .collect(),
            retired: Retired::read(tree, RETIRED, "Packages/")?,
            repomd: Some(repomd),
        })
    }

    fn is_complete_with(&self, documents: &[String]) -> bool {
        self.signature_complete && self.documents == documents
    }
}

/// Keeps the newest `keep` versions of each (name, arch); returns the locations dropped.
fn retain(packages: &mut BTreeMap<String, Fragments>, keep: usize) -> Vec<String> {
    let mut by_package: BTreeMap<(&str, &str), Vec<&Fragments>> = BTreeMap::new();
    for p in packages.values() {
        by_package
            .entry((p.name.as_str(), p.arch.as_str()))
            .or_default()
            .push(p);
    }
    let compare = |a: &Fragments, b: &Fragments| {
        let number = |e: &str| e.parse::<u64>().unwrap_or(0);
        number(&a.evr.0)
            .cmp(&number(&b.evr.0))
            .then_with(|| crate::rpm::version::compare(&a.evr.1, &b.evr.1))
            .then_with(|| crate::rpm::version::compare(&a.evr.2, &b.evr.2))
    };
    let mut dropped = Vec::new();
    for versions in by_package.values_mut() {
        versions.sort_by(|a, b| compare(b, a));
        dropped.extend(versions.iter().skip(keep).map(|p| p.location.clone()));
    }
    for location in &dropped {
        packages.remove(location);
    }
    dropped
}

/// `Packages/<letter>/<name>-<version>-<release>.<arch>.rpm` from the header, refusing
/// names that could leave the directory.
fn location_of(package: &rpm::Package) -> std::result::Result<String, String> {
    let m = &package.metadata;
    let name = m.get_name().map_err(|e| e.to_string())?;
    let version = m.get_version().map_err(|e| e.to_string())?;
    let release = m.get_release().map_err(|e| e.to_string())?;
    let arch = if m.is_source_package() {
        "src"
    } else {
        m.get_arch().map_err(|e| e.to_string())?
    };
    for (what, value) in [
        ("name", name),
        ("version", version),
        ("release", release),
        ("arch", arch),
    ] {
        let ok = !value.is_empty()
            && !value.starts_with('.')
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-~^".contains(c));
        if !ok {
            return Err(format!("{what} {value:?} is not usable in a file name"));
        }
    }
    let letter = name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or('_');
    Ok(format!(
        "{PACKAGES_DIR}/{letter}/{name}-{version}-{release}.{arch}.rpm"
    ))
}

#[cfg(test)]
mod tests;
