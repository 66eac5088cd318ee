//! Where a repository lives: a local directory or an S3-compatible bucket, behind one
//! small interface, so that the repository writers never care where bytes go.
//!
//! Keys are `/`-separated paths relative to the repository root (`apt/dists/stable/InRelease`).
//! Every store writes an object whole or not at all: a reader sees the old bytes or the new
//! ones (a temporary file and a rename; an S3 PUT). What the stores cannot give is an order
//! across objects, so the writers decide it (see `repo`).

mod local;
mod metered;
mod s3;

pub use local::LocalStore;
pub use metered::{Metered, Traffic};
pub use s3::S3Store;

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// A token that changes whenever an object does: S3's ETag, or for a directory the
/// SHA-256 of the file's bytes.
pub type Version = String;

/// The object that holds a store's publication lock, at the store's root. A directory's
/// walks pass over names starting with `.`.
pub const LOCK_KEY: &str = ".nimsforest-publish.lock";

pub trait Store: Sync {
    /// Where the store is, for messages: a directory or `s3://bucket/prefix`.
    fn location(&self) -> String;

    /// The object's bytes, or `None` when there is no such object.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// The object's bytes and its version, or `None` when there is no such object.
    fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>>;

    /// Writes the object, replacing any.
    fn put(&self, key: &str, data: &[u8]) -> Result<()>;

    /// Writes the object only if it is still at version `expected` (`None`: only if there
    /// is no such object); otherwise fails with `Error::Contended` and writes nothing.
    /// S3 decides this itself (`If-Match`, `If-None-Match`); a directory under its lock.
    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()>;

    /// Removes the object; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// The keys below `prefix` (a directory-like prefix such as `apt/pool/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Takes the store's publication lock, held until the returned guard is dropped; fails
    /// at once with `Error::Contended` when another publisher holds it. `lease`: how long
    /// a lock that its holder stopped renewing (a publisher killed midway) keeps others
    /// out, where the store cannot tell by itself that its holder is gone.
    fn lock(&self, lease: Duration) -> Result<Box<dyn Held + '_>>;
}

/// A publication lock, released when dropped.
pub trait Held {
    /// Whether the lock is still this publisher's: checked just before a publication
    /// becomes visible.
    fn check(&self) -> Result<()>;
}

/// Opens the store a `--out` names: `s3://BUCKET[/PREFIX]`, or else a local directory
/// (created on the first write; its files get `mtime`). S3 credentials, region and endpoint
/// come from the standard AWS environment variables, never from the command line.
pub fn open(target: &str, mtime: SystemTime) -> Result<Box<dyn Store>> {
    if let Some(rest) = target.strip_prefix("s3://") {
        return Ok(Box::new(S3Store::open(rest)?));
    }
    let usage = |reason: &str| Error::Usage {
        what: format!("--out {target:?}"),
        reason: reason.to_string(),
    };
    if target.is_empty() {
        return Err(usage("names no directory"));
    }
    // `http://host/x` would otherwise become the directory `./http:/host/x`.
    if let Some((scheme, _)) = target.split_once("://") {
        return Err(usage(&format!(
            "{scheme}:// is not a store: give a directory or s3://BUCKET/PREFIX"
        )));
    }
    if target.chars().any(char::is_control) {
        return Err(usage("contains control characters"));
    }
    Ok(Box::new(LocalStore::new(target.into()).with_mtime(mtime)))
}

/// `prefix` joined with `key` by exactly one `/`.
pub fn join(prefix: &str, key: &str) -> String {
    match (prefix.trim_end_matches('/'), key.trim_start_matches('/')) {
        ("", key) => key.to_string(),
        (prefix, key) => format!("{prefix}/{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_with_one_slash() {
        assert_eq!(join("", "a/b"), "a/b");
        assert_eq!(join("apt", "dists/x"), "apt/dists/x");
        assert_eq!(join("apt/", "/dists/x"), "apt/dists/x");
    }
}
