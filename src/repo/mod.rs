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
//!
//! A publication checks every package first (`package`), then takes the store's lock and
//! runs the one publishing core (`publish`) for each format; `apt` and `dnf` only read and
//! render their own indexes.

pub mod apt;
pub mod dnf;
pub mod package;
pub mod publish;
pub mod retired;
#[cfg(test)]
mod test_support;
mod tree;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::sign::Sign;
use crate::spec::{Format, Repository};
use crate::store::{Held, Store};
pub use package::{packages_in, Package};
pub use publish::Report;
pub use tree::Tree;

pub const APT_DIR: &str = "apt";
pub const RPM_DIR: &str = "rpm";

pub struct RepoPlan {
    pub repository: Repository,
    pub dist: PathBuf,
    /// Where OUT will be served, for the client files; checked by
    /// [`crate::weburl::repository_url`] (what a deb822 `URIs:` and a `.repo` `baseurl=`
    /// carry safely, no credentials: the client files are public).
    pub url: Option<String>,
    pub formats: Vec<Format>,
    pub apt: apt::AptOptions,
    pub date: SystemTime,
    /// Keep only the newest N versions of each package and arch (both formats).
    pub keep: Option<usize>,
    /// How long a store lock its publisher stopped renewing keeps others out (S3).
    pub lock_lease: Duration,
}

#[derive(Debug, Default)]
pub struct RepoSummary {
    pub apt: Option<Report>,
    pub dnf: Option<Report>,
}

/// Publishes dist/ into `store` (see the module documentation), then the key and client
/// files, each written only when it changed. Every package is checked before the store is
/// touched; the store's lock is held throughout.
pub fn publish(store: &dyn Store, plan: &RepoPlan, signer: &dyn Sign) -> Result<RepoSummary> {
    let url = plan
        .url
        .as_deref()
        .map(crate::weburl::repository_url)
        .transpose()?;
    plan.apt.check().map_err(|reason| Error::Usage {
        what: "apt options".into(),
        reason,
    })?;
    let debs = match plan.formats.contains(&Format::Deb) {
        true => packages_in(&plan.dist, Format::Deb)?,
        false => Vec::new(),
    };
    let rpms = match plan.formats.contains(&Format::Rpm) {
        true => packages_in(&plan.dist, Format::Rpm)?,
        false => Vec::new(),
    };
    let lock = store.lock(plan.lock_lease)?;
    let date = plan
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let request = |packages| publish::Request {
        packages,
        keep: plan.keep,
        date,
    };
    let tree = |root| Tree { store, root };
    let mut summary = RepoSummary::default();
    if plan.formats.contains(&Format::Deb) {
        let format = apt::Apt {
            opts: plan.apt.clone(),
        };
        let report = publish::publish(&format, &tree(APT_DIR), &request(&debs), signer, &*lock)?;
        summary.apt = Some(report);
    }
    if plan.formats.contains(&Format::Rpm) {
        let format = dnf::Dnf::new(plan.date);
        let report = publish::publish(&format, &tree(RPM_DIR), &request(&rpms), signer, &*lock)?;
        summary.dnf = Some(report);
    }
    write_client_files(store, plan, url.as_deref(), signer, lock.as_ref())?;
    Ok(summary)
}

/// The public key in its three forms and, with a URL, the ready client files.
fn write_client_files(
    store: &dyn Store,
    plan: &RepoPlan,
    url: Option<&str>,
    signer: &dyn Sign,
    lock: &dyn Held,
) -> Result<()> {
    lock.check()?;
    let repo = &plan.repository;
    let write = |name: String, data: &[u8]| -> Result<()> {
        if store.get(&name)?.as_deref() != Some(data) {
            store.put(&name, data)?;
        }
        Ok(())
    };
    let key = signer.public_key_armored();
    write(repo.public_key_file(), key.as_bytes())?;
    write(repo.rpm_key_file(), key.as_bytes())?;
    write(repo.keyring_file(), &signer.public_key_binary())?;
    if let Some(url) = url {
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
    Ok(())
}
