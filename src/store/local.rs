//! A repository in a local directory (served by any web server).
//!
//! The directory holds plain files and directories only: a symbolic link anywhere below
//! the root is refused, so that no key, and no deletion, can reach outside the store.
//! One publisher at a time holds an exclusive `flock` on the root's lock file; the kernel
//! releases it when that publisher exits, however it exits.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Held, Store, Version, LOCK_KEY};
use crate::atomic;
use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};

pub struct LocalStore {
    root: PathBuf,
    /// The modification time of every file written (a publication's date: it is also the
    /// file time primary.xml records, as createrepo_c would read it from the files).
    mtime: Option<SystemTime>,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root, mtime: None }
    }

    pub fn with_mtime(self, mtime: SystemTime) -> Self {
        Self {
            mtime: Some(mtime),
            ..self
        }
    }

    fn refuse(&self, reason: String) -> Error {
        Error::Repository {
            path: self.root.clone(),
            reason,
        }
    }

    /// The file of a key. A key that would leave the root, or whose path below the root
    /// passes through a symbolic link, is refused.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let relative = Path::new(key);
        let inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !inside {
            return Err(self.refuse(format!("{key:?} is not a path inside the repository")));
        }
        let mut path = self.root.clone();
        for part in relative.components() {
            path.push(part);
            // Checked from the root down, until the first part that does not exist yet.
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(self.refuse(format!(
                        "{} is a symbolic link: the store holds plain files and directories \
                         only, so that nothing outside it is ever read, written or deleted",
                        path.display()
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(self.root.join(relative))
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        std::fs::read(&path).optional_at(&path)
    }

    fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self.get(key)?.map(|data| {
            let version = sha256_hex(&data);
            (data, version)
        }))
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a key names a file below the root");
        std::fs::create_dir_all(dir).at(dir)?;
        // Directories made above may not be links; check the whole path again.
        let path = self.path(key)?;
        let mut options = atomic::Options::REPLACE.mode(0o644);
        if let Some(mtime) = self.mtime {
            options = options.mtime(mtime);
        }
        atomic::write(&path, data, options)
    }

    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        // Exact while this process holds the store's lock, as every publisher must.
        let now = self.get_versioned(key)?.map(|(_, version)| version);
        if now.as_deref() != expected {
            return Err(Error::Contended {
                location: format!("{}/{key}", self.root.display()),
                reason: "was changed by another publisher while this run worked; nothing of \
                         this run is visible to clients: run it again"
                    .into(),
            });
        }
        self.put(key, data)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        std::fs::remove_file(&path).optional_at(&path)?;
        // Directories emptied by the removal go too (as an S3 prefix disappears).
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        fn walk(
            store: &LocalStore,
            dir: &Path,
            relative: &str,
            out: &mut Vec<String>,
        ) -> Result<()> {
            let Some(entries) = std::fs::read_dir(dir).optional_at(dir)? else {
                return Ok(());
            };
            for entry in entries {
                let entry = entry.at(dir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue; // a write in progress (see `atomic`), the lock
                }
                let key = super::join(relative, &name);
                let path = entry.path();
                let kind = entry.file_type().at(&path)?;
                if kind.is_symlink() {
                    return Err(store.refuse(format!(
                        "{} is a symbolic link: the store holds plain files and directories only",
                        path.display()
                    )));
                }
                if kind.is_dir() {
                    walk(store, &path, &key, out)?;
                } else {
                    out.push(key);
                }
            }
            Ok(())
        }
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let mut keys = Vec::new();
        let start = if dir.is_empty() {
            self.root.clone()
        } else {
            self.path(dir)?
        };
        walk(self, &start, dir, &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }

    fn lock(&self, _lease: Duration) -> Result<Box<dyn Held + '_>> {
        use std::os::unix::fs::MetadataExt;
        std::fs::create_dir_all(&self.root).at(&self.root)?;
        let path = self.path(LOCK_KEY)?;
        // A publisher that is done removes the file while it still holds the lock; one that
        // opened it just before then holds a lock on a removed file, and tries again.
        for _ in 0..10 {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .at(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Contended {
                        location: self.location(),
                        reason: "another publisher is updating this repository; run again \
                                 once it is done"
                            .into(),
                    })
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(Error::Io { path, source })
                }
            }
            let locked = file.metadata().at(&path)?;
            let current = std::fs::symlink_metadata(&path).optional_at(&path)?;
            if current.is_some_and(|m| m.ino() == locked.ino() && m.dev() == locked.dev()) {
                return Ok(Box::new(FileLock { path, _file: file }));
            }
        }
        Err(Error::Contended {
            location: self.location(),
            reason: "other publishers keep taking the lock; run again".into(),
        })
    }
}

/// The open lock file: its `flock` goes when the file is closed, after the file itself
/// (a store holds only what clients read once no publisher is at work).
struct FileLock {
    path: PathBuf,
    _file: File,
}

impl Held for FileLock {
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_leave_no_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("repo"));
        assert_eq!(store.get("apt/x").unwrap(), None);
        store.put("apt/pool/a.deb", b"a").unwrap();
        store.put("apt/pool/b/c.deb", b"c").unwrap();
        store.put("rpm/r.rpm", b"r").unwrap();
        assert_eq!(store.get("apt/pool/a.deb").unwrap().unwrap(), b"a");
        assert_eq!(
            store.list("apt/pool/").unwrap(),
            ["apt/pool/a.deb", "apt/pool/b/c.deb"]
        );
        assert_eq!(store.list("apt/pool/b").unwrap(), ["apt/pool/b/c.deb"]);
        store.delete("apt/pool/b/c.deb").unwrap();
        store.delete("apt/pool/b/c.deb").unwrap();
        assert!(!dir.path().join("repo/apt/pool/b").exists());
        assert!(store.get("../escape").is_err());
        assert!(store.put("/abs", b"x").is_err());
    }

    #[test]
    fn symbolic_links_are_refused_and_nothing_outside_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), b"keep me").unwrap();
        let root = dir.path().join("repo");
        let store = LocalStore::new(root.clone());
        store.put("apt/pool/a.deb", b"a").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("apt/pool/link")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("apt/file")).unwrap();
        for key in ["apt/pool/link/victim", "apt/file"] {
            let error = store.delete(key).unwrap_err().to_string();
            assert!(error.contains("symbolic link"), "{error}");
            assert!(store.get(key).is_err() && store.put(key, b"x").is_err());
        }
        assert!(store.list("apt/").is_err(), "a walk refuses a link");
        assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"keep me");
    }

    #[test]
    fn one_publisher_at_a_time_and_conditional_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("repo"));
        let held = store.lock(Duration::from_secs(60)).unwrap();
        let error = store.lock(Duration::from_secs(60)).err().unwrap();
        assert_eq!(error.exit_code(), 5, "{error}");
        assert!(
            store.list("").unwrap().is_empty(),
            "the lock file is not an object"
        );
        store.put_if("k", b"1", None).unwrap();
        assert!(store.put_if("k", b"2", None).is_err(), "exists already");
        let (_, version) = store.get_versioned("k").unwrap().unwrap();
        store.put_if("k", b"2", Some(&version)).unwrap();
        assert!(
            store.put_if("k", b"3", Some(&version)).is_err(),
            "stale version"
        );
        assert_eq!(store.get("k").unwrap().unwrap(), b"2");
        drop(held);
        assert!(
            !dir.path().join("repo").join(LOCK_KEY).exists(),
            "released and gone"
        );
        store.lock(Duration::from_secs(60)).unwrap();
    }
}
