//! A repository in a local directory (served by any web server).

use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::Store;
use crate::atomic;
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

    /// The file of a key; a key that would leave the root is refused.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let relative = Path::new(key);
        let inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !inside {
            return Err(Error::Repository {
                path: self.root.clone(),
                reason: format!("{key:?} is not a path inside the repository"),
            });
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

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a key names a file below the root");
        std::fs::create_dir_all(dir).at(dir)?;
        let mut options = atomic::Options::REPLACE.mode(0o644);
        if let Some(mtime) = self.mtime {
            options = options.mtime(mtime);
        }
        atomic::write(&path, data, options)
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
        fn walk(dir: &Path, relative: &str, out: &mut Vec<String>) -> Result<()> {
            let Some(entries) = std::fs::read_dir(dir).optional_at(dir)? else {
                return Ok(());
            };
            for entry in entries {
                let entry = entry.at(dir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue; // a write in progress (see `atomic`)
                }
                let key = super::join(relative, &name);
                let path = entry.path();
                if entry.file_type().at(&path)?.is_dir() {
                    walk(&path, &key, out)?;
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
        walk(&start, dir, &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
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
}
