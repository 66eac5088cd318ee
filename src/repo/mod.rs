//! Signed package repositories built from dist/: apt (pool + dists) and dnf (repodata),
//! published as one static tree that any web server can serve. With the repository id
//! `ID` of the definition (`nimsforest`):
//!
//! ```text
//! OUT/apt/              pool/ + dists/SUITE/ (InRelease, Release, Release.gpg)
//! OUT/rpm/              the signed RPMs + repodata/ (repomd.xml.asc); rpm/testing/ likewise
//! OUT/ID.asc            public key, armored
//! OUT/ID.gpg            public key, binary: apt's Signed-By keyring
//! OUT/RPM-GPG-KEY-ID    public key for rpm/dnf
//! OUT/ID.sources        deb822 apt source of stable (with a URL); ID-testing.sources
//! OUT/ID.repo           yum/dnf repository file of stable (with a URL); ID-testing.repo
//! ```
//!
//! Each channel (`channel`) is an apt suite and a dnf tree. A publication checks every
//! package first (`package`), or takes one version's packages from another channel's
//! signed generation (`promote`), then takes the store's lock and runs the one publishing
//! core (`publish`) for each format; `apt` and `dnf` only read and render their own
//! indexes.

pub mod apt;
pub mod channel;
pub mod dnf;
pub mod package;
pub mod promote;
pub mod publish;
pub mod retired;
#[cfg(test)]
mod test_support;
mod tree;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::definition::{Format, Repository};
use crate::error::Result;
use crate::sign::Sign;
use crate::store::{Held, Store};
pub use channel::Channel;
pub use package::{packages_in, Package};
pub use promote::Wanted;
pub use publish::Report;
pub use tree::Tree;

pub const APT_DIR: &str = "apt";
pub const RPM_DIR: &str = "rpm";

/// Where a publication's packages come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Package files in a directory (dist/), each checked whole.
    Dist(PathBuf),
    /// One version's packages as another channel publishes them (`promote`).
    Channel { from: Channel, wanted: Wanted },
}

pub struct RepoPlan {
    pub repository: Repository,
    pub source: Source,
    /// The channel published to: its apt suite, its dnf tree and its client files.
    pub channel: Channel,
    /// Where OUT will be served, for the client files; checked by
    /// [`crate::weburl::repository_url`] (what a deb822 `URIs:` and a `.repo` `baseurl=`
    /// carry safely, no credentials: the client files are public).
    pub url: Option<String>,
    pub formats: Vec<Format>,
    /// apt's by-hash index copies (`Acquire-By-Hash`).
    pub by_hash: bool,
    pub date: SystemTime,
    /// Keep only the newest N versions of each package and arch (both formats).
    pub keep: Option<usize>,
    /// How long a store lock its publisher stopped renewing keeps others out (S3).
    pub lock_lease: Duration,
}

impl RepoPlan {
    /// The apt suite of `channel`.
    pub fn apt(&self, channel: Channel) -> apt::Apt {
        apt::Apt {
            opts: apt::AptOptions {
                suite: channel.suite().into(),
                by_hash: self.by_hash,
                ..apt::AptOptions::new(&self.repository, self.date)
            },
        }
    }
}

#[derive(Debug, Default)]
pub struct RepoSummary {
    pub apt: Option<Report>,
    pub dnf: Option<Report>,
}

/// Publishes the plan's packages into its channel in `store` (see the module
/// documentation), then the key and client files, each written only when it changed.
/// Every package is checked, and everything taken from another channel read and checked,
/// before the store is written to; the store's lock is held throughout.
pub fn publish(store: &dyn Store, plan: &RepoPlan, signer: &dyn Sign) -> Result<RepoSummary> {
    let url = plan
        .url
        .as_deref()
        .map(crate::weburl::repository_url)
        .transpose()?;
    let wants = |format| plan.formats.contains(&format);
    let read = |format| match &plan.source {
        Source::Dist(dist) if wants(format) => packages_in(dist, format),
        _ => Ok(Vec::new()),
    };
    let (debs, rpms) = (read(Format::Deb)?, read(Format::Rpm)?);
    let lock = store.lock(plan.lock_lease)?;
    let apt = plan.apt(plan.channel);
    let dnf = dnf::Dnf::new(plan.date);
    let rpm_root = plan.channel.rpm_root();
    let apt_tree = Tree {
        store,
        root: APT_DIR,
    };
    let dnf_tree = Tree {
        store,
        root: &rpm_root,
    };
    let (apt_taken, dnf_taken) = match &plan.source {
        Source::Channel { from, wanted } => {
            let from_rpm_root = from.rpm_root();
            let from_dnf = Tree {
                store,
                root: &from_rpm_root,
            };
            let take_apt = || {
                promote::take(
                    &plan.apt(*from),
                    &apt_tree,
                    &apt_tree,
                    *from,
                    wanted,
                    signer,
                )
            };
            let take_dnf = || promote::take(&dnf, &from_dnf, &dnf_tree, *from, wanted, signer);
            (
                wants(Format::Deb).then(take_apt).transpose()?,
                wants(Format::Rpm).then(take_dnf).transpose()?,
            )
        }
        Source::Dist(_) => (None, None),
    };
    let date = plan
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut summary = RepoSummary::default();
    if wants(Format::Deb) {
        let request = publish::Request::new(&debs, apt_taken, plan.keep, date);
        summary.apt = Some(publish::publish(&apt, &apt_tree, request, signer, &*lock)?);
    }
    if wants(Format::Rpm) {
        let request = publish::Request::new(&rpms, dnf_taken, plan.keep, date);
        summary.dnf = Some(publish::publish(&dnf, &dnf_tree, request, signer, &*lock)?);
    }
    write_client_files(store, plan, url.as_deref(), signer, lock.as_ref())?;
    Ok(summary)
}

/// The public key in its three forms and, with a URL, the channel's ready client files.
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
        let channel = plan.channel;
        let id = channel.client_id(&repo.id);
        let sources = format!(
            "Types: deb\nURIs: {url}/{APT_DIR}\nSuites: {}\nComponents: {}\nSigned-By: /etc/apt/keyrings/{}\n",
            channel.suite(),
            plan.apt(channel).opts.component,
            repo.keyring_file()
        );
        write(format!("{id}.sources"), sources.as_bytes())?;
        let name = match channel {
            Channel::Stable => repo.name.clone(),
            other => format!("{} ({other})", repo.name),
        };
        let dnf_repo = format!(
            "[{id}]\nname={name}\nbaseurl={url}/{}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={url}/{}\n",
            channel.rpm_root(),
            repo.rpm_key_file()
        );
        write(format!("{id}.repo"), dnf_repo.as_bytes())?;
    }
    Ok(())
}
