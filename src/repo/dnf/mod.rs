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

mod record;
mod xml;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::IndexSigner;
use crate::atomic;
use crate::compress;
use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};
use crate::parallel;

pub use record::{Record, CHANGELOG_LIMIT};

/// Where the packages live, relative to the repository root.
pub const PACKAGES_DIR: &str = "Packages";
pub const REPODATA_DIR: &str = "repodata";
pub const REPOMD: &str = "repodata/repomd.xml";
pub const REPOMD_SIGNATURE: &str = "repodata/repomd.xml.asc";

pub struct DnfOptions {
    /// The revision and timestamps in repomd.xml, and the modification time given to
    /// newly added RPMs (which primary.xml records as their file time). The caller decides
    /// it (for instance from `SOURCE_DATE_EPOCH`).
    pub date: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnfReport {
    /// The packages copied in, as paths relative to the repository root
    /// (`Packages/n/nimsforest-nats-2.15.1-1.x86_64.rpm`).
    pub added: Vec<String>,
    /// True when nothing on disk was changed (no new package and the metadata already
    /// describes the tree).
    pub unchanged: bool,
}

/// Adds every `.rpm` in `rpms` (other files are ignored) to the repository at `root`,
/// created if absent, under `Packages/<letter>/<name>-<version>-<release>.<arch>.rpm`,
/// keeping the packages already there; then regenerates `repodata/` and signs
/// `repomd.xml`.
///
/// - A package already in the repository with the same header and payload is left as it
///   is (its signature may differ: the repository copy may be signed and the input not).
///   A different package under an existing name is an error, and nothing is changed.
/// - `sign_rpm` is called on each newly added package before it is written into the
///   repository (pass `&|_| Ok(())` to copy packages as they are).
/// - Re-running with nothing new changes nothing on disk.
/// - New metadata files are written first (their names carry their checksum), then
///   `repomd.xml` and `repomd.xml.asc`; old metadata files are removed only after that.
pub fn update(
    root: &Path,
    rpms: &[PathBuf],
    opts: &DnfOptions,
    signer: &dyn IndexSigner,
    sign_rpm: &dyn Fn(&mut rpm::Package) -> Result<()>,
) -> Result<DnfReport> {
    fs::create_dir_all(root).at(root)?;
    let inputs: Vec<&PathBuf> = rpms
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();

    // Check every input before writing anything, so a conflict leaves the tree as it was.
    let mut plans = Vec::new();
    for path in inputs {
        let package = rpm::Package::open(path).map_err(|e| record::invalid(path, e))?;
        let location = location_of(&package).map_err(|reason| record::invalid(path, reason))?;
        let target = root.join(&location);
        if target.exists() {
            if !same_package(path, &target)? {
                return Err(conflict(&target, path));
            }
            continue;
        }
        if let Some((other, _, _)) = plans
            .iter()
            .find(|(_, loc, _): &&(PathBuf, String, rpm::Package)| *loc == location)
        {
            if !same_package(path, other)? {
                return Err(conflict(&target, path));
            }
            continue;
        }
        plans.push((path.clone(), location, package));
    }

    let mut added = Vec::new();
    for (_, location, mut package) in plans {
        sign_rpm(&mut package)?;
        let target = root.join(&location);
        let mut bytes = Vec::with_capacity(package.payload.len() + 65536);
        package
            .write(&mut bytes)
            .map_err(|e| record::invalid(&target, e))?;
        let dir = target.parent().expect("a location has a directory");
        fs::create_dir_all(dir).at(dir)?;
        let options = atomic::Options::REPLACE.mode(0o644).mtime(opts.date);
        atomic::write(&target, &bytes, options)?;
        added.push(location);
    }

    let records = read_records(root)?;
    let docs = [
        ("primary", xml::primary(&records)),
        ("filelists", xml::filelists(&records)),
        ("other", xml::other(&records)),
    ];
    let timestamp = opts
        .date
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (kind, doc) in docs {
        let gz = compress::gzip(doc.as_bytes(), compress::GZIP_REPODATA)
            .at(root.join(REPODATA_DIR).join(format!("{kind}.xml.gz")))?;
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

    let repomd_path = root.join(REPOMD);
    let signature_path = root.join(REPOMD_SIGNATURE);
    let mut wanted: Vec<String> = files.iter().map(|(l, _)| l.clone()).collect();
    wanted.sort();
    if added.is_empty() && signature_path.is_file() {
        if let Ok(old) = fs::read_to_string(&repomd_path) {
            if xml::repomd_locations(&old) == wanted
                && wanted.iter().all(|l| root.join(l).is_file())
            {
                return Ok(DnfReport {
                    added,
                    unchanged: true,
                });
            }
        }
    }

    let repodata = root.join(REPODATA_DIR);
    fs::create_dir_all(&repodata).at(&repodata)?;
    for (location, gz) in &files {
        atomic::write(&root.join(location), gz, atomic::Options::REPLACE)?;
    }
    let repomd = xml::repomd(timestamp, &entries);
    let signature = signer.detached_armored(repomd.as_bytes())?;
    atomic::write(&repomd_path, repomd.as_bytes(), atomic::Options::REPLACE)?;
    atomic::write(
        &signature_path,
        signature.as_bytes(),
        atomic::Options::REPLACE,
    )?;

    // Only now is nothing pointing at the old metadata any more.
    let keep: BTreeSet<PathBuf> = files
        .iter()
        .map(|(l, _)| root.join(l))
        .chain([repomd_path, signature_path])
        .collect();
    for entry in fs::read_dir(&repodata).at(&repodata)? {
        let path = entry.at(&repodata)?.path();
        if path.is_file() && !keep.contains(&path) {
            fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(DnfReport {
        added,
        unchanged: false,
    })
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

fn conflict(existing: &Path, incoming: &Path) -> Error {
    Error::Repository {
        path: existing.to_path_buf(),
        reason: format!(
            "already in the repository with different contents than {} \
             (a rebuilt package needs a new release number)",
            incoming.display()
        ),
    }
}

/// The bytes from the main header on: everything but the lead and the signature header,
/// so a signed copy compares equal to the unsigned package it was made from.
fn signed_content(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .at(path)?;
    let metadata =
        rpm::PackageMetadata::parse(&mut &bytes[..]).map_err(|e| record::invalid(path, e))?;
    let start = metadata.get_package_segment_offsets().header as usize;
    if start > bytes.len() {
        return Err(record::invalid(path, "truncated"));
    }
    bytes.drain(..start);
    Ok(bytes)
}

fn same_package(a: &Path, b: &Path) -> Result<bool> {
    Ok(signed_content(a)? == signed_content(b)?)
}

/// Every `.rpm` under `Packages/`, as records sorted by location.
fn read_records(root: &Path) -> Result<Vec<Record>> {
    let mut locations = Vec::new();
    let packages = root.join(PACKAGES_DIR);
    if packages.is_dir() {
        find_rpms(root, &packages, &mut locations)?;
    }
    locations.sort();
    // Hashing dominates: spread it over the available cores.
    let records = parallel::map(&locations, parallel::cores(), |l| {
        record::read(&root.join(l), l)
    })
    .into_iter()
    .collect::<Result<Vec<Record>>>()?;
    for r in &records {
        if xml::strings(r).any(xml::forbidden_control_char) {
            return Err(record::invalid(
                &root.join(&r.location),
                "control characters in its metadata (XML cannot carry them)",
            ));
        }
    }
    Ok(records)
}

fn find_rpms(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        if kind.is_dir() {
            find_rpms(root, &path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rpm") {
            let rel = path.strip_prefix(root).expect("under root");
            let rel = rel
                .to_str()
                .ok_or_else(|| record::invalid(&path, "file name is not UTF-8"))?;
            out.push(rel.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
