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
//! This module only reads and renders dnf's files; `repo::publish` decides what is written
//! when. A generation is read back from what is published, never from the old package
//! files: the current `repomd.xml` (its signature checked) names the three documents,
//! which are fetched, checked and split back into each package's entries; only new
//! packages get entries made. The pool files waiting to be deleted are listed in a
//! document of their own, `repodata/<sha256>-nimsforest-retired.txt.gz`, which the signed
//! `repomd.xml` names with its checksum (dnf ignores data types it does not know).
//!
//! The commit is `repomd.xml.next.asc` (the new signature, so that an interrupted commit
//! can still be trusted and completed), `repomd.xml`, then `repomd.xml.asc`. (dnf reads
//! `repomd.xml` and its signature separately: between the two writes a client may see a
//! mismatch and retries; that window is inherent to the format.)

mod record;
mod xml;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use super::package::Package;
use super::publish::{Admitted, Generation, Layout, Rendered};
use super::retired::Retired;
use super::tree::Tree;
use crate::compress;
use crate::digest::sha256_hex;
use crate::error::{IoContext, Result};
use crate::sign::Sign;
use xml::Fragments;

pub use record::{Record, CHANGELOG_LIMIT};

/// Where the packages live, relative to the repository root.
pub const PACKAGES_DIR: &str = "Packages";
pub const REPODATA_DIR: &str = "repodata";
pub const REPOMD: &str = "repodata/repomd.xml";
pub const REPOMD_SIGNATURE: &str = "repodata/repomd.xml.asc";
/// The new signature, written before `repomd.xml` is replaced (see `Dnf::read`).
const NEXT_SIGNATURE: &str = "repodata/repomd.xml.next.asc";
/// The data type of the retired list in `repomd.xml`.
const RETIRED_TYPE: &str = "nimsforest-retired";

/// A dnf repository: one tree for every arch.
pub struct Dnf {
    /// The revision and timestamps in repomd.xml, and the file time primary.xml records for
    /// newly added packages. The caller decides it (for instance from `SOURCE_DATE_EPOCH`).
    pub date: SystemTime,
    /// Sign each RPM in its header (what `gpgcheck=1` checks); without, the packages are
    /// published byte for byte as given and only `repomd.xml` is signed.
    pub sign_headers: bool,
}

impl Dnf {
    pub fn new(date: SystemTime) -> Self {
        Self {
            date,
            sign_headers: true,
        }
    }
}

fn gunzip(tree: &Tree, key: &str, gz: &[u8]) -> Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut compress::Encoding::Gzip
            .decoder(gz)
            .map_err(|e| tree.error(key, e.to_string()))?,
        &mut text,
    )
    .map_err(|e| tree.error(key, e.to_string()))?;
    Ok(text)
}

/// The three documents' fingerprint: what they say, not how they are compressed or dated.
fn fingerprint_of<'a>(documents: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let all: String = documents
        .map(|(kind, doc)| format!("{kind} {}\n", sha256_hex(doc.as_bytes())))
        .collect();
    sha256_hex(all.as_bytes())
}

impl Layout for Dnf {
    type Entry = Fragments;
    const PACKAGES: crate::definition::Format = crate::definition::Format::Rpm;

    fn root(&self) -> String {
        REPOMD.into()
    }

    fn packages_dir(&self) -> &str {
        "Packages/"
    }

    fn read(&self, tree: &Tree, signer: &dyn Sign) -> Result<Option<Generation<Fragments>>> {
        let Some((repomd, root_version)) = tree.get_versioned(REPOMD)? else {
            return Ok(None);
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
        let complete = signed_in(REPOMD_SIGNATURE)?;
        if !complete && !signed_in(NEXT_SIGNATURE)? {
            return Err(tree.error(
                REPOMD,
                "is not signed by this signing key: it was written by another key or changed \
                 outside nimsforest-pkg, so the metadata it names cannot be trusted"
                    .into(),
            ));
        }
        let mut documents = BTreeMap::new();
        let mut live = BTreeSet::new();
        let mut retired = Retired::default();
        for (kind, location, checksum) in xml::repomd_data(&text) {
            if !self.is_addressed(&location) {
                return Err(tree.error(
                    REPOMD,
                    format!("names {location:?}, which is not a document of repodata/"),
                ));
            }
            let Some(gz) = tree.get(&location)? else {
                return Err(tree.error(&location, "is named by repomd.xml but missing".into()));
            };
            if sha256_hex(&gz) != checksum {
                return Err(tree.error(
                    &location,
                    format!(
                        "does not match repomd.xml (sha256 {checksum}): the store was changed \
                         outside nimsforest-pkg"
                    ),
                ));
            }
            let doc = gunzip(tree, &location, &gz)?;
            live.insert(location.clone());
            if kind == RETIRED_TYPE {
                retired = Retired::parse(&doc, "Packages/")
                    .map_err(|reason| tree.error(&location, reason))?;
            } else {
                documents.insert(kind, doc);
            }
        }
        let doc = |kind: &str| documents.get(kind).map_or("", String::as_str);
        let packages = xml::split(doc("primary"), doc("filelists"), doc("other"))
            .map_err(|reason| tree.error(REPOMD, reason))?;
        let fingerprint = fingerprint_of(
            ["primary", "filelists", "other"]
                .into_iter()
                .map(|kind| (kind, doc(kind))),
        );
        Ok(Some(Generation {
            root_version,
            date: xml::repomd_revision(&text).unwrap_or(0),
            entries: packages
                .into_iter()
                .map(|p| (p.location.clone(), p))
                .collect(),
            retired,
            fingerprint,
            complete,
            live,
            named: BTreeMap::new(),
        }))
    }

    /// The package signed in its header (deterministically: the same package and key give
    /// the same bytes, so a package published before compares equal), and its entries.
    fn admit(&self, package: &Package, signer: &dyn Sign) -> Result<Admitted<Fragments>> {
        let path = &package.path;
        let mut parsed =
            rpm::Package::parse(&mut &package.bytes[..]).map_err(|e| record::invalid(path, e))?;
        let location = location_of(&parsed).map_err(|reason| record::invalid(path, reason))?;
        if self.sign_headers {
            signer.sign_rpm(&mut parsed)?;
        }
        let mut bytes = Vec::with_capacity(package.bytes.len() + 4096);
        parsed
            .write(&mut bytes)
            .map_err(|e| record::invalid(path, e))?;
        let time_file = i64::try_from(unix(self.date)).unwrap_or(i64::MAX);
        let record = record::of_bytes(&bytes, &location, time_file)
            .map_err(|reason| record::invalid(path, reason))?;
        if xml::strings(&record).any(xml::forbidden_control_char) {
            return Err(record::invalid(
                path,
                "control characters in its metadata (XML cannot carry them)",
            ));
        }
        Ok(Admitted {
            location,
            origin: path.display().to_string(),
            sha256: record.pkgid.clone(),
            entry: Fragments::of(&record),
            bytes: Some(bytes),
        })
    }

    fn series(entry: &Fragments) -> (&str, &str) {
        (&entry.name, &entry.arch)
    }

    fn compare(a: &Fragments, b: &Fragments) -> Ordering {
        let number = |e: &str| e.parse::<u64>().unwrap_or(0);
        number(&a.evr.0)
            .cmp(&number(&b.evr.0))
            .then_with(|| crate::rpm::version::compare(&a.evr.1, &b.evr.1))
            .then_with(|| crate::rpm::version::compare(&a.evr.2, &b.evr.2))
    }

    fn version(entry: &Fragments) -> (&str, &str) {
        (&entry.evr.1, &entry.evr.2)
    }

    fn sha256(entry: &Fragments) -> &str {
        &entry.pkgid
    }

    fn fingerprint(&self, entries: &BTreeMap<String, Fragments>) -> Result<String> {
        let sorted: Vec<&Fragments> = entries.values().collect();
        let documents = xml::documents(&sorted);
        Ok(fingerprint_of(
            documents.iter().map(|(kind, doc)| (*kind, doc.as_str())),
        ))
    }

    fn render(
        &self,
        entries: &BTreeMap<String, Fragments>,
        retired: &Retired,
        date: u64,
        _current: Option<&Generation<Fragments>>,
        signer: &dyn Sign,
    ) -> Result<Rendered> {
        let sorted: Vec<&Fragments> = entries.values().collect();
        let mut documents: Vec<(&'static str, &'static str, String)> = xml::documents(&sorted)
            .into_iter()
            .map(|(kind, doc)| (kind, "xml", doc))
            .collect();
        if !retired.is_empty() {
            documents.push((RETIRED_TYPE, "txt", retired.text()));
        }
        let mut rendered = Rendered::default();
        let mut data = Vec::new();
        for (kind, extension, doc) in documents {
            let gz = compress::gzip(doc.as_bytes(), compress::GZIP_REPODATA)
                .at(format!("{REPODATA_DIR}/{kind}.{extension}.gz"))?;
            let checksum = sha256_hex(&gz);
            let location = format!("{REPODATA_DIR}/{checksum}-{kind}.{extension}.gz");
            data.push(xml::RepomdEntry {
                kind,
                checksum,
                open_checksum: sha256_hex(doc.as_bytes()),
                location: location.clone(),
                timestamp: date,
                size: gz.len() as u64,
                open_size: doc.len() as u64,
            });
            rendered.live.insert(location.clone());
            rendered.addressed.push((location, gz));
        }
        let repomd = xml::repomd(date, &data);
        // Signed before anything is written: a signing failure changes nothing.
        let signature = signer.detached_armored(repomd.as_bytes())?;
        rendered.commit = vec![
            (NEXT_SIGNATURE.into(), signature.clone().into_bytes()),
            (REPOMD.into(), repomd.into_bytes()),
            (REPOMD_SIGNATURE.into(), signature.into_bytes()),
        ];
        Ok(rendered)
    }

    fn addressed_prefix(&self) -> String {
        format!("{REPODATA_DIR}/")
    }

    /// `repodata/<sha256>-<kind>.<ext>.gz`: named by its checksum.
    fn is_addressed(&self, key: &str) -> bool {
        key.strip_prefix("repodata/")
            .and_then(|name| name.split_once('-'))
            .is_some_and(|(hash, rest)| {
                crate::digest::is_sha256_hex(hash) && !rest.is_empty() && !rest.contains('/')
            })
    }

    fn named_elsewhere(&self, _tree: &Tree, _signer: &dyn Sign) -> Result<BTreeSet<String>> {
        Ok(BTreeSet::new())
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
