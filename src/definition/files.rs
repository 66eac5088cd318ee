//! The files of a package definition directory (`debian/`, `rpm/`), as the writers' loaders
//! read them: from disk, with `@NAME@` placeholders filled in, and with some files given
//! rather than read. One package definition serves packages that differ only in those
//! values (a forest's trust package is named after its forest; its changelog is its
//! history).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

#[derive(Debug, Clone)]
pub struct DefinitionDir {
    dir: PathBuf,
    placeholders: Vec<(String, String)>,
    given: BTreeMap<String, Vec<u8>>,
}

impl DefinitionDir {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            placeholders: Vec::new(),
            given: BTreeMap::new(),
        }
    }

    /// Replaces `@NAME@` with `value` in every file read from disk.
    pub fn fill(mut self, name: &str, value: &str) -> Self {
        self.placeholders
            .push((format!("@{name}@"), value.to_string()));
        self
    }

    /// `name` has `content`, whatever is on disk.
    pub fn give(mut self, name: &str, content: impl Into<Vec<u8>>) -> Self {
        self.given.insert(name.to_string(), content.into());
        self
    }

    /// Where `name` is (for messages, and for files the definition names by path).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file's content, or `None` when there is no such file.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        if let Some(given) = self.given.get(name) {
            return Ok(Some(given.clone()));
        }
        let path = self.path(name);
        let Some(data) = std::fs::read(&path).optional_at(&path)? else {
            return Ok(None);
        };
        if self.placeholders.is_empty() {
            return Ok(Some(data));
        }
        let text = String::from_utf8(data).map_err(|_| Error::Definition {
            path: path.clone(),
            reason: "not valid UTF-8".into(),
        })?;
        let filled = self
            .placeholders
            .iter()
            .fold(text, |text, (from, to)| text.replace(from, to));
        Ok(Some(filled.into_bytes()))
    }

    /// The file as UTF-8 text; a missing file is an error.
    pub fn text(&self, name: &str) -> Result<String> {
        let path = self.path(name);
        let data = self.read(name)?.ok_or_else(|| Error::Io {
            path: path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        String::from_utf8(data).map_err(|_| Error::Definition {
            path,
            reason: "not valid UTF-8".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_given_files_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("control"), "Package: x-@ID@\n").unwrap();
        let files = DefinitionDir::new(dir.path())
            .fill("ID", "forest-1")
            .give("changelog", "given");
        assert_eq!(files.text("control").unwrap(), "Package: x-forest-1\n");
        assert_eq!(files.text("changelog").unwrap(), "given");
        assert_eq!(files.read("missing").unwrap(), None);
        assert!(files.text("missing").is_err());
    }
}
