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

use std::time::SystemTime;

use crate::error::Result;

pub trait Store: Sync {
    /// Where the store is, for messages: a directory or `s3://bucket/prefix`.
    fn location(&self) -> String;

    /// The object's bytes, or `None` when there is no such object.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes the object, replacing any.
    fn put(&self, key: &str, data: &[u8]) -> Result<()>;

    /// Removes the object; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// The keys below `prefix` (a directory-like prefix such as `apt/pool/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
}

/// Opens the store a `--out` names: `s3://BUCKET[/PREFIX]`, or else a local directory
/// (created on the first write; its files get `mtime`). S3 credentials, region and endpoint
/// come from the standard AWS environment variables, never from the command line.
pub fn open(target: &str, mtime: SystemTime) -> Result<Box<dyn Store>> {
    match target.strip_prefix("s3://") {
        Some(rest) => Ok(Box::new(S3Store::open(rest)?)),
        None => Ok(Box::new(LocalStore::new(target.into()).with_mtime(mtime))),
    }
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
