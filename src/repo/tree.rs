//! What both repository writers share: keys below a repository's root in a store, and the
//! list of package files dropped from the indexes that wait until no index names them.

use std::collections::BTreeMap;
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

    pub fn put(&self, relative: &str, data: &[u8]) -> Result<()> {
        self.store.put(&self.key(relative), data)
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

    /// An error about the object at `relative`, naming it with the store's location.
    pub fn error(&self, relative: &str, reason: String) -> Error {
        Error::Repository {
            path: PathBuf::from(format!("{}/{}", self.store.location(), self.key(relative))),
            reason,
        }
    }
}

/// Package files dropped from the indexes (retention) -> the date of the index generation
/// that dropped them. A client may still read the generation before the newest, so a file
/// is deleted only once a generation newer than the one that dropped it is published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retired(pub BTreeMap<String, u64>);

impl Retired {
    /// Reads the list at `relative`, whose files must all lie below `files_below`.
    pub fn read(tree: &Tree, relative: &str, files_below: &str) -> Result<Self> {
        let Some(data) = tree.get(relative)? else {
            return Ok(Self::default());
        };
        let bad = |reason: String| tree.error(relative, reason);
        let mut retired = BTreeMap::new();
        for line in String::from_utf8_lossy(&data).lines() {
            if line.trim().is_empty() {
                continue;
            }
            let (date, file) = line
                .split_once(' ')
                .ok_or_else(|| bad(format!("line {line:?} is not `DATE FILE`")))?;
            let date = date
                .parse()
                .map_err(|_| bad(format!("bad date in {line:?}")))?;
            if !file.starts_with(files_below) || file.split('/').any(|p| p == ".." || p.is_empty())
            {
                return Err(bad(format!("{file:?} is not a file below {files_below}")));
            }
            retired.insert(file.to_string(), date);
        }
        Ok(Self(retired))
    }

    /// `DATE FILE` lines, sorted by file.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|(file, date)| format!("{date} {file}\n"))
            .collect()
    }

    /// Files dropped from the generation dated `date`: remembered, unless already.
    pub fn add(&mut self, files: impl IntoIterator<Item = String>, date: u64) {
        for file in files {
            self.0.entry(file).or_insert(date);
        }
    }

    /// Deletes the files that were dropped before the newest generation (dated `newest`)
    /// and that it does not name (`named`); returns them and writes the list back at
    /// `relative` without them.
    pub fn delete_unnamed(
        self,
        tree: &Tree,
        relative: &str,
        newest: u64,
        named: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let (gone, kept): (BTreeMap<String, u64>, BTreeMap<String, u64>) = self
            .0
            .into_iter()
            .partition(|(file, dropped)| *dropped < newest && !named(file));
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        for file in gone.keys() {
            tree.delete(file)?;
        }
        tree.put(relative, Self(kept).text().as_bytes())?;
        Ok(gone.into_keys().collect())
    }
}
