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

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::atomic;
use crate::error::{Error, IoContext, Result};
use crate::sign::Signer;
use crate::spec::{Format, Repository};

/// What the repository writers need from the OpenPGP signer (implemented by
/// `crate::sign::Signer`; tests may use any key).
pub trait IndexSigner: Sync {
    /// A clear-signed document (apt's `InRelease`).
    fn clearsign(&self, text: &str) -> Result<String>;
    /// An ASCII-armored detached signature (apt's `Release.gpg`, dnf's `repomd.xml.asc`).
    fn detached_armored(&self, data: &[u8]) -> Result<String>;
}

pub const APT_DIR: &str = "apt";
pub const RPM_DIR: &str = "rpm";

pub struct RepoPlan {
    pub repository: Repository,
    pub dist: PathBuf,
    pub out: PathBuf,
    /// Where OUT will be served, for the client files.
    pub url: Option<String>,
    pub formats: Vec<Format>,
    pub apt: apt::AptOptions,
    pub date: SystemTime,
}

#[derive(Debug, Default)]
pub struct RepoSummary {
    pub apt: Option<apt::AptReport>,
    pub dnf: Option<dnf::DnfReport>,
}

pub fn publish(plan: &RepoPlan, signer: &Signer) -> Result<RepoSummary> {
    let repo = &plan.repository;
    let mut summary = RepoSummary::default();
    std::fs::create_dir_all(&plan.out).at(&plan.out)?;
    if plan.formats.contains(&Format::Deb) {
        let debs = packages_in(&plan.dist, "deb")?;
        summary.apt = Some(apt::update(
            &plan.out.join(APT_DIR),
            &debs,
            &plan.apt,
            signer,
        )?);
    }
    if plan.formats.contains(&Format::Rpm) {
        let rpms = packages_in(&plan.dist, "rpm")?;
        let opts = dnf::DnfOptions { date: plan.date };
        let sign = |package: &mut ::rpm::Package| signer.sign_rpm(package);
        summary.dnf = Some(dnf::update(
            &plan.out.join(RPM_DIR),
            &rpms,
            &opts,
            signer,
            &sign,
        )?);
    }
    let key = signer.public_key_armored();
    let write = |name: String, data: &[u8]| {
        atomic::write_if_changed(&plan.out.join(name), data, atomic::Options::REPLACE)
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
