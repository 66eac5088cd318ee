//! Promotion: the packages of one version that a channel publishes, published to another
//! channel as they are. They are taken from the source channel's signed generation (its
//! root checked against the signing key, its indexes against the root), never from
//! anything unsigned, and never rebuilt or re-signed: the target's clients get the very
//! bytes the source's clients got. The target's indexes are then made by the one
//! publishing core, under the same rules as any publication.
//!
//! apt's suites share one pool, so nothing is uploaded for apt: each file is checked to be
//! there. dnf's channels are trees of their own, so each file is read from the source
//! tree, checked against the checksum its signed entry records and as a whole package,
//! and copied.

use std::path::Path;

use super::channel::Channel;
use super::package::Package;
use super::publish::{Admitted, Layout};
use super::tree::Tree;
use crate::error::{Error, Result};
use crate::names::version_problem;
use crate::sign::Sign;
use crate::store;

/// What to promote: one upstream version of a package (every package revision of it), or
/// one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub package: String,
    /// As given: `2.15.1`, `2.15.1-1`, `2.12.0-RC.1`, or the packages' own spelling of a
    /// pre-release, `2.12.0~RC.1-1`.
    pub version: String,
}

impl Wanted {
    /// `version` is checked to be a version at all; whether a channel has it is decided by
    /// [`take`].
    pub fn new(package: &str, version: &str) -> Result<Self> {
        if let Some(problem) = version_problem(version) {
            return Err(Error::Usage {
                what: format!("version {version:?}"),
                reason: problem.into(),
            });
        }
        Ok(Self {
            package: package.to_string(),
            version: version.to_string(),
        })
    }

    /// Whether a package whose entry records `version` and `revision` is wanted: its
    /// version, with or without its revision, in the packages' spelling (`~` before a
    /// pre-release) or upstream's (`-`).
    pub fn matches(&self, version: &str, revision: &str) -> bool {
        let upstream = version.replacen('~', "-", 1);
        let spellings = [version, upstream.as_str()];
        spellings
            .iter()
            .any(|v| self.version == *v || self.version == format!("{v}-{revision}"))
    }
}

/// The packages `wanted` names in the signed generation of `from` (the channel `channel`,
/// read with `format`), ready to be published in `to` with the same location, entry and
/// bytes (see the module documentation). A channel without them is a usage error naming
/// the versions it has.
pub fn take<F: Layout>(
    format: &F,
    from: &Tree,
    to: &Tree,
    channel: Channel,
    wanted: &Wanted,
    signer: &dyn Sign,
) -> Result<Vec<Admitted<F::Entry>>> {
    let generation = format.read(from, signer)?;
    let mut ours: Vec<(&String, &F::Entry)> = generation
        .iter()
        .flat_map(|g| &g.entries)
        .filter(|(_, entry)| F::series(entry).0 == wanted.package)
        .collect();
    ours.sort_by(|a, b| F::compare(a.1, b.1));
    let chosen: Vec<(&String, &F::Entry)> = ours
        .iter()
        .filter(|(_, entry)| {
            let (version, revision) = F::version(entry);
            wanted.matches(version, revision)
        })
        .copied()
        .collect();
    if chosen.is_empty() {
        let mut has: Vec<String> = ours
            .iter()
            .map(|(_, entry)| {
                let (version, revision) = F::version(entry);
                format!("{version}-{revision}")
            })
            .collect();
        has.dedup();
        let has = match has.is_empty() {
            true => "none".to_string(),
            false => has.join(", "),
        };
        return Err(Error::Usage {
            what: format!("version {}", wanted.version),
            reason: format!(
                "the {channel} channel has no {} {} in {} ({} packages); it has {has}",
                wanted.package,
                wanted.version,
                store::join(&from.store.location(), from.root),
                F::PACKAGES.extension()
            ),
        });
    }

    let same_tree = from.root == to.root;
    let present: Vec<String> = match same_tree {
        true => from.list(format.packages_dir())?,
        false => Vec::new(),
    };
    let mut taken = Vec::new();
    for (location, entry) in chosen {
        let sha256 = F::sha256(entry).to_string();
        let origin = store::join(&from.store.location(), &from.key(location));
        let missing = || {
            from.error(
                location,
                format!("is named by the {channel} channel's signed index but missing"),
            )
        };
        let bytes = match same_tree {
            true if present.binary_search(location).is_ok() => None,
            true => return Err(missing()),
            false => {
                let data = from.get(location)?.ok_or_else(missing)?;
                let package = Package::check(Path::new(&origin), data, F::PACKAGES)?;
                if package.sha256 != sha256 {
                    return Err(from.error(
                        location,
                        format!(
                            "does not match the {channel} channel's signed index (sha256 \
                             {sha256}, found {}): the store was changed outside nimsforest-pkg",
                            package.sha256
                        ),
                    ));
                }
                Some(package.bytes)
            }
        };
        taken.push(Admitted {
            location: location.clone(),
            origin,
            bytes,
            sha256,
            entry: entry.clone(),
        });
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_matches_every_revision_and_a_revision_only_itself() {
        let wanted = |v: &str| Wanted::new("nimsforest-nats", v).unwrap();
        assert!(wanted("2.15.1").matches("2.15.1", "1"));
        assert!(wanted("2.15.1").matches("2.15.1", "2"));
        assert!(wanted("2.15.1-2").matches("2.15.1", "2"));
        assert!(!wanted("2.15.1-2").matches("2.15.1", "1"));
        assert!(!wanted("2.15.1").matches("2.15.10", "1"));
        assert!(!wanted("2.15").matches("2.15.1", "1"));
        // A pre-release, in upstream's spelling or the packages'.
        assert!(wanted("2.12.0-RC.1").matches("2.12.0~RC.1", "1"));
        assert!(wanted("2.12.0-RC.1-1").matches("2.12.0~RC.1", "1"));
        assert!(wanted("2.12.0~RC.1-1").matches("2.12.0~RC.1", "1"));
        assert!(!wanted("2.12.0").matches("2.12.0~RC.1", "1"));
    }

    #[test]
    fn what_is_not_a_version_is_refused() {
        for bad in [
            "", "v2.15.1", "2.15.1 ", "2.15.1\n", "../2", "2/1", "latest",
        ] {
            let err = Wanted::new("nimsforest-nats", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }
}
