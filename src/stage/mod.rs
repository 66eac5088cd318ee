//! The neutral file tree both package writers consume: every entry with its final path,
//! owner, mode and kind, parents added, sorted, collisions refused, one mtime for all.

pub mod assets;
pub mod extract;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::compress::{LargeFile, REUSE_MIN};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Arc<Vec<u8>>),
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, normalised (`/etc/nimsforest/nats.conf`), no trailing slash.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits only (e.g. `0o640`); the writers add the file-type bits.
    pub mode: u32,
    pub user: String,
    pub group: String,
    /// A configuration file the admin may edit: a dpkg conffile, `%config(noreplace)` in RPM.
    pub config: bool,
    /// Declared by the package definition. Parents the stager added (`/etc`, `/usr/lib`)
    /// are not owned: the deb lists them in its data tar, the rpm leaves them to `filesystem`.
    pub owned: bool,
}

impl Entry {
    pub fn is_root_owned(&self) -> bool {
        self.user == "root" && self.group == "root"
    }
}

/// A finished tree. Entries are sorted by path and every parent directory is present.
#[derive(Debug, Clone)]
pub struct StagedTree {
    entries: Vec<Entry>,
    /// Modification time of every entry, seconds since the epoch (reproducible builds).
    pub mtime: u64,
    /// The files the compressors reuse blocks for, with their digests: computed once, for
    /// every format built from this tree.
    large_files: OnceLock<Vec<LargeFile>>,
    known_digests: Arc<Mutex<Vec<LargeFile>>>,
}

impl StagedTree {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The files of at least `compress::REUSE_MIN` bytes (the server binary): what the
    /// compressors reuse blocks for. Every such file, whatever `know_digest` was told.
    pub fn large_files(&self) -> &[LargeFile] {
        self.large_files.get_or_init(|| {
            let known = self.known_digests.lock().unwrap_or_else(|e| e.into_inner());
            self.entries
                .iter()
                .filter_map(|e| match &e.kind {
                    EntryKind::File(data) if data.len() >= REUSE_MIN => {
                        let digest = known.iter().find(|k| Arc::ptr_eq(&k.data, data));
                        Some(
                            digest
                                .cloned()
                                .unwrap_or_else(|| LargeFile::new(data.clone())),
                        )
                    }
                    _ => None,
                })
                .collect()
        })
    }

    /// Tells the tree the SHA-256 of one of its files (`file.data`, the very same
    /// allocation), so that `large_files` need not hash it again.
    pub fn know_digest(&self, file: LargeFile) {
        self.known_digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(file);
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// Collects entries; `finish` normalises them into a `StagedTree`.
#[derive(Debug, Default)]
pub struct TreeBuilder {
    entries: BTreeMap<String, Entry>,
}

impl TreeBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry. A second entry for the same path is a definition error, except a
    /// directory declared twice with identical attributes.
    pub fn add(&mut self, entry: Entry) -> Result<()> {
        let path = normalise(&entry.path)?;
        let entry = Entry {
            path: path.clone(),
            ..entry
        };
        if let Some(existing) = self.entries.get(&path) {
            if existing == &entry && entry.kind == EntryKind::Dir {
                return Ok(());
            }
            return Err(Error::Definition {
                path: path.into(),
                reason: "declared twice in the package definition".into(),
            });
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    /// Adds missing parent directories (root:root 0755, not owned), checks that no file
    /// sits where a directory is needed, and stamps the mtime.
    pub fn finish(mut self, mtime: u64) -> Result<StagedTree> {
        let paths: Vec<String> = self.entries.keys().cloned().collect();
        for path in paths {
            let mut parent = parent_of(&path);
            while let Some(dir) = parent {
                match self.entries.get(dir) {
                    Some(e) if e.kind != EntryKind::Dir => {
                        return Err(Error::Definition {
                            path: path.clone().into(),
                            reason: format!("its parent {dir} is declared as a file"),
                        })
                    }
                    Some(_) => {}
                    None => {
                        self.entries.insert(
                            dir.to_string(),
                            Entry {
                                path: dir.to_string(),
                                kind: EntryKind::Dir,
                                mode: 0o755,
                                user: "root".into(),
                                group: "root".into(),
                                config: false,
                                owned: false,
                            },
                        );
                    }
                }
                parent = parent_of(dir);
            }
        }
        Ok(StagedTree {
            entries: self.entries.into_values().collect(),
            mtime,
            large_files: OnceLock::new(),
            known_digests: Arc::default(),
        })
    }
}

fn parent_of(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

/// `/a//b/` -> `/a/b`; refuses relative paths, `.` and `..` components and the root itself.
fn normalise(path: &str) -> Result<String> {
    let bad = |reason: &str| Error::Definition {
        path: path.into(),
        reason: reason.into(),
    };
    if !path.starts_with('/') {
        return Err(bad("install paths must be absolute"));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(bad("cannot install to /"));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(bad("install paths may not contain . or .."));
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File(Arc::new(b"x".to_vec())),
            mode: 0o644,
            user: "root".into(),
            group: "root".into(),
            config: false,
            owned: true,
        }
    }

    #[test]
    fn parents_are_added_sorted_and_not_owned() {
        let mut b = TreeBuilder::new();
        b.add(file("/etc/nimsforest/nats.conf")).unwrap();
        b.add(file("/opt/nimsforest/bin/nats-server")).unwrap();
        let tree = b.finish(42).unwrap();
        let paths: Vec<_> = tree.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc",
                "/etc/nimsforest",
                "/etc/nimsforest/nats.conf",
                "/opt",
                "/opt/nimsforest",
                "/opt/nimsforest/bin",
                "/opt/nimsforest/bin/nats-server"
            ]
        );
        assert!(!tree.get("/etc").unwrap().owned);
        assert_eq!(tree.mtime, 42);
    }

    #[test]
    fn collisions_and_bad_paths_are_refused() {
        let mut b = TreeBuilder::new();
        b.add(file("/etc/a")).unwrap();
        assert!(b.add(file("/etc//a/")).is_err());
        assert!(b.add(file("etc/b")).is_err());
        assert!(b.add(file("/etc/../b")).is_err());
        b.add(file("/etc/a/b")).unwrap();
        assert!(b.finish(0).is_err(), "a file cannot be a parent");
    }
}
