//! The apt repository format: a pool of `.deb` files and signed indexes in `dists/`.
//!
//! ```text
//! pool/COMPONENT/n/nimsforest-nats/nimsforest-nats_2.15.1-1_amd64.deb
//! dists/SUITE/COMPONENT/binary-ARCH/Packages{,.gz,.xz}
//! dists/SUITE/COMPONENT/binary-ARCH/by-hash/SHA{256,512}/<hex>     (with by_hash)
//! dists/SUITE/{Release,Release.gpg,InRelease}
//! ```
//!
//! This module only reads and renders apt's own files; `repo::publish` decides what is
//! written when. Stanzas are field for field what `apt-ftparchive packages` writes. The
//! pool is shared by every suite of the store; the list of pool files waiting to be
//! deleted is a field of the signed `Release` (`X-Nimsforest-Retired`), and a pool file
//! another suite's signed indexes name is never deleted.
//!
//! Generations stay whole for clients: the commit is `Release`, `Release.gpg`, then
//! `InRelease`, which clients read first. With by-hash (the default) clients fetch each
//! index by its checksum, so the new indexes can be in place before the commit and the
//! previous generation's copies stay. Without by-hash a client fetches an index by its
//! name, so a generation lists only one compression of each index, and each generation
//! the other one (`Packages.xz`, then `Packages.gz`): the files a client of the current
//! generation fetches are never written over before the commit, and an interrupted run
//! leaves them intact for the next one to build on.

mod pool;
mod release;
mod stanza;
mod state;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use super::package::Package;
use super::publish::{Admitted, Generation, Layout, Rendered};
use super::retired::Retired;
use super::tree::Tree;
use crate::compress;
use crate::deb::{control_fields, version};
use crate::definition::Repository;
use crate::digest::{sha256_hex, Digests};
use crate::error::{IoContext, Result};
use crate::names::is_path_word;
use crate::sign::Sign;
use release::{Index, IndexSums};
pub use state::IndexedDeb;

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

    /// Names that become paths and `Release` fields, checked before anything is read.
    pub fn check(&self) -> std::result::Result<(), String> {
        let names = [
            ("suite", Some(&self.suite)),
            ("codename", self.codename.as_ref()),
            ("component", Some(&self.component)),
        ];
        for (what, value) in names {
            let Some(value) = value else { continue };
            if !is_path_word(value) {
                return Err(format!(
                    "{what} {value:?} must be a name of letters, digits, `.`, `_` and `-`"
                ));
            }
        }
        for (what, value) in [("origin", &self.origin), ("label", &self.label)] {
            if value.trim().is_empty() || value.chars().any(char::is_control) {
                return Err(format!("{what} {value:?} must be one non-empty line"));
            }
        }
        Ok(())
    }
}

/// One suite of an apt repository.
pub struct Apt {
    pub opts: AptOptions,
}

impl Apt {
    fn dist(&self) -> String {
        format!("dists/{}", self.opts.suite)
    }

    /// The `Packages` text of every architecture (`all` packages in each), and the arch
    /// list, as `Release` names them.
    fn texts(
        &self,
        entries: &BTreeMap<String, IndexedDeb>,
    ) -> (Vec<String>, Vec<(String, String)>) {
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
        let texts = arches
            .iter()
            .map(|arch| {
                let text: String = sorted
                    .iter()
                    .filter(|e| e.arch == *arch || e.arch == "all")
                    .map(|e| format!("{}\n", e.stanza))
                    .collect();
                (
                    format!("{}/binary-{arch}/Packages", self.opts.component),
                    text,
                )
            })
            .collect();
        (arches.into_iter().map(str::to_string).collect(), texts)
    }
}

/// What decides whether two generations give clients the same thing: the `Release`
/// fields clients act on and each index's text. Not the date, not which compressions.
fn fingerprint(fields: &[(&str, &str)], texts: &BTreeMap<String, String>) -> String {
    let mut all = String::new();
    for (name, value) in fields {
        all.push_str(&format!("{name}: {value}\n"));
    }
    for (path, text) in texts {
        all.push_str(&format!("{path} {}\n", sha256_hex(text.as_bytes())));
    }
    sha256_hex(all.as_bytes())
}

const FINGERPRINT_FIELDS: [&str; 7] = [
    "Origin",
    "Label",
    "Suite",
    "Codename",
    "Acquire-By-Hash",
    "Architectures",
    "Components",
];

impl Layout for Apt {
    type Entry = IndexedDeb;
    const PACKAGES: crate::definition::Format = crate::definition::Format::Deb;

    fn root(&self) -> String {
        format!("{}/InRelease", self.dist())
    }

    fn packages_dir(&self) -> &str {
        "pool/"
    }

    fn read(&self, tree: &Tree, signer: &dyn Sign) -> Result<Option<Generation<IndexedDeb>>> {
        self.opts.check().map_err(|reason| tree.error("", reason))?;
        let Some(suite) = state::read(tree, &self.opts.suite, signer)? else {
            return Ok(None);
        };
        if suite.component != self.opts.component {
            return Err(tree.error(
                &self.root(),
                format!(
                    "lists the components {:?}, not {:?}",
                    suite.component, self.opts.component
                ),
            ));
        }
        let values: Vec<(&str, &str)> = FINGERPRINT_FIELDS
            .iter()
            .map(|name| (*name, release::field(&suite.release, name).unwrap_or("no")))
            .collect();
        let mut generation = suite.generation;
        generation.fingerprint = fingerprint(&values, &suite.texts);
        generation.named = release::sha256_entries(&suite.release)
            .into_iter()
            .map(|(path, _, hash)| (format!("{}/{path}", self.dist()), hash))
            .collect();
        Ok(Some(generation))
    }

    fn admit(&self, package: &Package, _signer: &dyn Sign) -> Result<Admitted<IndexedDeb>> {
        let control = control_fields(&package.path, &package.bytes)?;
        let digests = Digests::of(&package.bytes);
        let filename = pool::filename(&package.path, &self.opts.component, &control)?;
        let stanza = stanza::packages_stanza(&control, &filename, &digests);
        let entry =
            IndexedDeb::from_stanza(&stanza).map_err(|reason| crate::error::Error::Package {
                path: package.path.clone(),
                reason,
            })?;
        Ok(Admitted {
            location: filename,
            origin: package.path.display().to_string(),
            bytes: Some(package.bytes.clone()),
            sha256: package.sha256.clone(),
            entry,
        })
    }

    fn series(entry: &IndexedDeb) -> (&str, &str) {
        (&entry.package, &entry.arch)
    }

    fn compare(a: &IndexedDeb, b: &IndexedDeb) -> Ordering {
        version::compare(&a.version, &b.version)
    }

    /// `[EPOCH:]VERSION-REVISION`: the revision after the last `-` (Debian policy 5.6.12).
    fn version(entry: &IndexedDeb) -> (&str, &str) {
        let full = entry
            .version
            .split_once(':')
            .map_or(entry.version.as_str(), |(_, v)| v);
        full.rsplit_once('-').unwrap_or((full, ""))
    }

    fn sha256(entry: &IndexedDeb) -> &str {
        &entry.sha256
    }

    fn fingerprint(&self, entries: &BTreeMap<String, IndexedDeb>) -> Result<String> {
        let (arches, texts) = self.texts(entries);
        let arches = arches.join(" ");
        let codename = self.opts.codename.as_deref().unwrap_or(&self.opts.suite);
        let by_hash = if self.opts.by_hash { "yes" } else { "no" };
        let values = [
            ("Origin", self.opts.origin.trim()),
            ("Label", self.opts.label.trim()),
            ("Suite", self.opts.suite.as_str()),
            ("Codename", codename),
            ("Acquire-By-Hash", by_hash),
            ("Architectures", arches.as_str()),
            ("Components", self.opts.component.as_str()),
        ];
        Ok(fingerprint(&values, &texts.into_iter().collect()))
    }

    fn render(
        &self,
        entries: &BTreeMap<String, IndexedDeb>,
        retired: &Retired,
        date: u64,
        current: Option<&Generation<IndexedDeb>>,
        signer: &dyn Sign,
    ) -> Result<Rendered> {
        let dist = self.dist();
        let (arches, texts) = self.texts(entries);
        // Without by-hash, the compression the current generation does not list.
        let lists = |name: &str| current.is_some_and(|c| c.named.keys().any(|k| k.ends_with(name)));
        let single = match self.opts.by_hash {
            true => None,
            false if lists("/Packages.xz") && !lists("/Packages.gz") => Some("Packages.gz"),
            false => Some("Packages.xz"),
        };
        let mut indexes = Vec::new();
        for (path, text) in texts {
            let dir = path.trim_end_matches("/Packages").to_string();
            let plain = text.into_bytes();
            let wanted = |name: &str| single.is_none_or(|s| s == name);
            if wanted("Packages.gz") {
                let gz =
                    compress::gzip(&plain, compress::GZIP_BEST).at(format!("{dir}/Packages.gz"))?;
                indexes.push(Index {
                    path: format!("{dir}/Packages.gz"),
                    data: gz,
                });
            }
            if wanted("Packages.xz") {
                let xz = compress::xz(&plain).at(format!("{dir}/Packages.xz"))?;
                indexes.push(Index {
                    path: format!("{dir}/Packages.xz"),
                    data: xz,
                });
            }
            if single.is_none() {
                indexes.push(Index { path, data: plain });
            }
        }
        indexes.sort_by(|a, b| a.path.cmp(&b.path));
        let sums: Vec<IndexSums> = indexes.iter().map(IndexSums::of).collect();
        let release_file = release::text(&self.opts, &arches, &sums, date, retired);
        // Signed before anything is written: a signing failure changes nothing.
        let in_release = signer.clearsign(&release_file)?;
        let release_gpg = signer.detached_armored(release_file.as_bytes())?;

        let mut rendered = Rendered::default();
        for (index, sums) in indexes.iter().zip(&sums) {
            let dir = index.path.rsplit_once('/').map_or("", |(d, _)| d);
            if self.opts.by_hash {
                for (algorithm, hex) in [("SHA256", &sums.sha256), ("SHA512", &sums.sha512)] {
                    let key = format!("{dist}/{dir}/by-hash/{algorithm}/{hex}");
                    rendered.live.insert(key.clone());
                    rendered.addressed.push((key, index.data.clone()));
                }
            }
            let key = format!("{dist}/{}", index.path);
            let unchanged = current.is_some_and(|c| c.named.get(&key) == Some(&sums.sha256));
            if !unchanged {
                rendered.fixed.push((key, index.data.clone()));
            }
        }
        rendered.commit = vec![
            (format!("{dist}/Release"), release_file.into_bytes()),
            (format!("{dist}/Release.gpg"), release_gpg.into_bytes()),
            (self.root(), in_release.into_bytes()),
        ];
        Ok(rendered)
    }

    fn addressed_prefix(&self) -> String {
        format!("{}/{}/", self.dist(), self.opts.component)
    }

    fn is_addressed(&self, key: &str) -> bool {
        key.contains("/by-hash/SHA256/") || key.contains("/by-hash/SHA512/")
    }

    /// Every other suite's packages, and those its retention still keeps for its
    /// previous generation, from its signed indexes.
    fn named_elsewhere(&self, tree: &Tree, signer: &dyn Sign) -> Result<BTreeSet<String>> {
        let suites: BTreeSet<String> = tree
            .list("dists/")?
            .iter()
            .filter_map(|k| k.strip_prefix("dists/")?.split_once('/'))
            .map(|(suite, _)| suite.to_string())
            .filter(|suite| *suite != self.opts.suite)
            .collect();
        let mut named = BTreeSet::new();
        for suite in suites {
            if let Some(other) = state::read(tree, &suite, signer)? {
                named.extend(other.generation.entries.into_keys());
                named.extend(other.generation.retired.0.into_keys());
            }
        }
        Ok(named)
    }
}

#[cfg(test)]
mod tests;
