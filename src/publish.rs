//! `nimsforest-pkg repo`: publishes dist/ as a static tree that any web server can serve.
//!
//! ```text
//! OUT/apt/                    pool/ + dists/SUITE/ (InRelease, Release, Release.gpg)
//! OUT/rpm/                    the signed RPMs + repodata/ (repomd.xml.asc)
//! OUT/nimsforest.asc          public key, armored
//! OUT/nimsforest.gpg          public key, binary: apt's Signed-By keyring
//! OUT/RPM-GPG-KEY-nimsforest  public key for rpm/dnf
//! OUT/nimsforest.sources      deb822 apt source (with --url)
//! OUT/nimsforest.repo         yum/dnf repository file (with --url)
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::build::Format;
use crate::dist::write_atomically;
use crate::error::{Error, IoContext, Result};
use crate::repo::{apt, dnf};
use crate::sign::Signer;

pub const APT_DIR: &str = "apt";
pub const RPM_DIR: &str = "rpm";

pub struct RepoPlan {
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
    write_if_changed(&plan.out.join("nimsforest.asc"), key.as_bytes())?;
    write_if_changed(&plan.out.join("RPM-GPG-KEY-nimsforest"), key.as_bytes())?;
    write_if_changed(
        &plan.out.join("nimsforest.gpg"),
        &signer.public_key_binary(),
    )?;
    if let Some(url) = &plan.url {
        let url = url.trim_end_matches('/');
        let sources = format!(
            "Types: deb\nURIs: {url}/{APT_DIR}\nSuites: {}\nComponents: {}\nSigned-By: /etc/apt/keyrings/nimsforest.gpg\n",
            plan.apt.suite, plan.apt.component
        );
        write_if_changed(&plan.out.join("nimsforest.sources"), sources.as_bytes())?;
        let repo = format!(
            "[nimsforest]\nname=NimsForest\nbaseurl={url}/{RPM_DIR}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={url}/RPM-GPG-KEY-nimsforest\n"
        );
        write_if_changed(&plan.out.join("nimsforest.repo"), repo.as_bytes())?;
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

/// Leaves a file untouched when it already has these bytes: a re-run changes nothing.
fn write_if_changed(path: &Path, data: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    write_atomically(path, data)
}
