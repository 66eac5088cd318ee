//! Signed package repositories built from dist/: apt (pool + dists) and dnf (repodata),
//! published as one static tree that any web server can serve. With the repository id
//! `ID` of the definition (`nimsforest`):
//!
//! ```text
//! OUT/apt/              pool/ + dists/SUITE/ (InRelease, Release, Release.gpg)
//! OUT/rpm/              the signed RPMs + repodata/ (repomd.xml.asc)
//! OUT/ID.asc            public key, armored
//! OUT/ID.gpg            public key, binary: apt's Signed-By keyring
//! OUT/RPM-GPG-KEY-ID    public key for rpm/dnf
//! OUT/ID.sources        deb822 apt source (with a URL)
//! OUT/ID.repo           yum/dnf repository file (with a URL)
//! ```

pub mod apt;
pub mod dnf;
#[cfg(test)]
mod test_support;
mod tree;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, IoContext, Result};
use crate::sign::Signer;
use crate::spec::{Format, Repository};
use crate::store::Store;

/// What the repository writers need from the OpenPGP signer (implemented by
/// `crate::sign::Signer`; tests may use any key).
pub trait IndexSigner: Sync {
    /// A clear-signed document (apt's `InRelease`).
    fn clearsign(&self, text: &str) -> Result<String>;
    /// An ASCII-armored detached signature (apt's `Release.gpg`, dnf's `repomd.xml.asc`).
    fn detached_armored(&self, data: &[u8]) -> Result<String>;
    /// The text of a clear-signed document this key signed (with a final line break), or
    /// why not: what a publication reads back before it builds on it.
    fn verify_clearsigned(&self, signed: &str) -> Result<String>;
    /// Whether `signature` is this key's detached signature of `data`.
    fn verify_detached(&self, data: &[u8], signature: &str) -> Result<()>;
}

pub const APT_DIR: &str = "apt";
pub const RPM_DIR: &str = "rpm";

pub struct RepoPlan {
    pub repository: Repository,
    pub dist: PathBuf,
    /// Where OUT will be served, for the client files.
    pub url: Option<String>,
    pub formats: Vec<Format>,
    pub apt: apt::AptOptions,
    pub date: SystemTime,
    /// Keep only the newest N versions of each package and arch (both formats).
    pub keep: Option<usize>,
}

#[derive(Debug, Default)]
pub struct RepoSummary {
    pub apt: Option<apt::AptReport>,
    pub dnf: Option<dnf::DnfReport>,
}

/// Publishes dist/ into `store` (see the module documentation), then the key and client
/// files, each written only when it changed.
pub fn publish(store: &dyn Store, plan: &RepoPlan, signer: &Signer) -> Result<RepoSummary> {
    let repo = &plan.repository;
    let mut summary = RepoSummary::default();
    if plan.formats.contains(&Format::Deb) {
        let debs = packages_in(&plan.dist, "deb")?;
        let opts = apt::AptOptions {
            keep: plan.keep,
            ..plan.apt.clone()
        };
        summary.apt = Some(apt::update(store, APT_DIR, &debs, &opts, signer)?);
    }
    if plan.formats.contains(&Format::Rpm) {
        let rpms = packages_in(&plan.dist, "rpm")?;
        let opts = dnf::DnfOptions {
            date: plan.date,
            keep: plan.keep,
        };
        let sign = |package: &mut ::rpm::Package| signer.sign_rpm(package);
        summary.dnf = Some(dnf::update(store, RPM_DIR, &rpms, &opts, signer, &sign)?);
    }
    let key = signer.public_key_armored();
    let write = |name: String, data: &[u8]| -> Result<()> {
        if store.get(&name)?.as_deref() != Some(data) {
            store.put(&name, data)?;
        }
        Ok(())
    };
    write(repo.public_key_file(), key.as_bytes())?;
    write(repo.rpm_key_file(), key.as_bytes())?;
    write(repo.keyring_file(), &signer.public_key_binary())?;
    if let Some(url) = &plan.url {
        let url = url.trim_end_matches('/');
        let id = &repo.id;
        let sources = format!(
            "Types: deb\nURIs: {url}/{APT_DIR}\nSuites: {}\nComponents: {}\nSigned-By: /etc/apt/keyrings/{}\n",
            plan.apt.suite,
            plan.apt.component,
            repo.keyring_file()
        );
        write(format!("{id}.sources"), sources.as_bytes())?;
        let dnf_repo = format!(
            "[{id}]\nname={}\nbaseurl={url}/{RPM_DIR}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={url}/{}\n",
            repo.name,
            repo.rpm_key_file()
        );
        write(format!("{id}.repo"), dnf_repo.as_bytes())?;
    }
    Ok(summary)
}

/// The packages of one format in `dir`, sorted; none is an error (nothing to publish).
fn packages_in(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.extension().is_some_and(|e| e == extension) && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Error::Repository {
            path: dir.to_path_buf(),
            reason: format!(
                "no .{extension} packages to publish (run `nimsforest-pkg build` first)"
            ),
        });
    }
    Ok(found)
}
