//! Signed package repositories built from dist/: apt (pool + dists) and dnf (repodata).

pub mod apt;
pub mod dnf;

use crate::error::Result;

/// What the repository writers need from the OpenPGP signer (implemented by
/// `crate::sign::Signer`; tests may use any key).
pub trait IndexSigner: Sync {
    /// A clear-signed document (apt's `InRelease`).
    fn clearsign(&self, text: &str) -> Result<String>;
    /// An ASCII-armored detached signature (apt's `Release.gpg`, dnf's `repomd.xml.asc`).
    fn detached_armored(&self, data: &[u8]) -> Result<String>;
}
