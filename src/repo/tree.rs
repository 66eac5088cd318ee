//! A repository's root (`apt`, `rpm`) in a store: keys relative to it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::store::{self, Store};

/// A repository's root (`apt`, `rpm`) in a store.
pub struct Tree<'a> {
    pub store: &'a dyn Store,
    pub root: &'a str,
}

impl Tree<'_> {
    pub fn key(&self, relative: &str) -> String {
        store::join(self.root, relative)
    }

    pub fn get(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        self.store.get(&self.key(relative))
    }

    pub fn get_versioned(&self, relative: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.store.get_versioned(&self.key(relative))
    }

    pub fn put(&self, relative: &str, data: &[u8]) -> Result<()> {
        self.store.put(&self.key(relative), data)
    }

    /// Writes only over version `expected` (`None`: only where nothing is).
    pub fn put_if(&self, relative: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        self.store.put_if(&self.key(relative), data, expected)
    }

    pub fn delete(&self, relative: &str) -> Result<()> {
        self.store.delete(&self.key(relative))
    }

    /// The keys below `relative`, relative to the root.
    pub fn list(&self, relative: &str) -> Result<Vec<String>> {
        let strip = format!("{}/", self.root.trim_end_matches('/'));
        Ok(self
            .store
            .list(&self.key(relative))?
            .into_iter()
            .map(|k| k.strip_prefix(&strip).unwrap_or(&k).to_string())
            .collect())
    }

    /// Another publisher changed the object at `relative` while this run worked.
    pub fn contended(&self, relative: &str) -> Error {
        Error::Contended {
            location: format!("{}/{}", self.store.location(), self.key(relative)),
            reason: "was changed by another publisher while this run worked; nothing of this \
                     run is visible to clients: run it again"
                .into(),
        }
    }

    /// An error about the object at `relative`, naming it with the store's location.
    pub fn error(&self, relative: &str, reason: String) -> Error {
        Error::Repository {
            path: PathBuf::from(format!("{}/{}", self.store.location(), self.key(relative))),
            reason,
        }
    }
}
