//! Writing a file so that a reader sees either the old bytes or the new ones, never part:
//! a temporary file in the same directory, synced, then renamed over the target.
//!
//! Every file the tool writes goes through here: packages, dist/SHA256SUMS, repository
//! indexes and pool files, keys and the manifest. Temporary names start with `.` so that
//! directory walks (the apt pool, dist/) pass over a write in progress. So do the
//! directories that hold secrets ([`secret_dir`]): their mode does not depend on the umask.

use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use crate::error::{Error, IoContext, Result};
use crate::input::unusable;

/// How the file is written.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Permission bits. `None`: those of the file being replaced, or 0644 for a new one.
    pub mode: Option<u32>,
    /// Modification time; `None` leaves the time of writing.
    pub mtime: Option<SystemTime>,
    /// Refuse to replace an existing file (published pool files, secret keys).
    pub no_clobber: bool,
}

impl Options {
    /// Replace, keeping the old file's mode.
    pub const REPLACE: Options = Options {
        mode: None,
        mtime: None,
        no_clobber: false,
    };
    /// A secret: mode 0600 from the first byte on (the temporary file is created 0600), and
    /// never written over an existing file.
    pub const SECRET: Options = Options {
        mode: Some(0o600),
        mtime: None,
        no_clobber: true,
    };

    pub fn mode(self, mode: u32) -> Self {
        Self {
            mode: Some(mode),
            ..self
        }
    }

    pub fn mtime(self, mtime: SystemTime) -> Self {
        Self {
            mtime: Some(mtime),
            ..self
        }
    }
}

/// Writes `data` to `path` (see the module documentation).
pub fn write(path: &Path, data: &[u8], options: Options) -> Result<()> {
    write_with(path, options, |out| out.write_all(data).at(path))
}

/// Writes `path` with whatever `fill` writes into the buffered temporary file.
pub fn write_with(
    path: &Path,
    options: Options,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile creates the file with mode 0600: nothing is readable before `set_permissions`.
    let temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .at(dir)?;
    let mut out = BufWriter::new(temp);
    fill(&mut out)?;
    let temp = out.into_inner().map_err(|e| e.into_error()).at(path)?;
    let mode = match options.mode {
        Some(mode) => mode,
        None => std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777),
    };
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .at(temp.path())?;
    if let Some(mtime) = options.mtime {
        file.set_modified(mtime).at(temp.path())?;
    }
    file.sync_all().at(temp.path())?;
    if options.no_clobber {
        temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                Error::Io {
                    path: path.to_path_buf(),
                    source: e.error,
                }
            }
        })?;
    } else {
        temp.persist(path).map_err(|e| e.error).at(path)?;
    }
    Ok(())
}

/// Whether `path` exists as a directory that may hold secrets: not a file, and not one that
/// anyone may write to (whoever can could replace a key, or the directory's entries, under
/// the tool). `what` names it in errors ("output directory").
pub fn check_secret_dir(what: &str, path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => Err(unusable(what, path, "exists and is not a directory")),
        Ok(meta) if meta.permissions().mode() & 0o002 != 0 => Err(unusable(
            what,
            path,
            format!(
                "is writable by anyone (mode {:04o}); refusing to keep secrets in it",
                meta.permissions().mode() & 0o7777
            ),
        )),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::symlink_metadata(path) {
                Ok(_) => Err(unusable(what, path, "is a symbolic link to nothing")),
                Err(_) => Ok(false),
            }
        }
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A directory for secrets: an existing one is used as it is (after [`check_secret_dir`]),
/// a missing one is made, with its missing parents, mode 0700 whatever the umask. Never
/// changes the mode of a directory it did not make. Returns whether it made `path`.
pub fn secret_dir(what: &str, path: &Path) -> Result<bool> {
    if check_secret_dir(what, path)? {
        return Ok(false);
    }
    let mut missing = Vec::new();
    let mut next = Some(path);
    while let Some(dir) = next {
        if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir);
        next = dir.parent();
    }
    for dir in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            // The umask may have taken bits away from 0700.
            Ok(()) => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
    check_secret_dir(what, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn new_files_get_0644_and_replaced_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"one", Options::REPLACE).unwrap();
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two", Options::REPLACE).unwrap();
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode(&path)),
            (b"two".to_vec(), 0o640)
        );
        assert_eq!(names(dir.path()), ["f"], "no temporary file left");
    }

    #[test]
    fn secrets_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write(&path, b"secret", Options::SECRET).unwrap();
        assert_eq!(mode(&path), 0o600);
        let err = write(&path, b"other", Options::SECRET).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert_eq!(names(dir.path()), ["key"]);
    }

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let err = write_with(&path, Options::REPLACE, |_| {
            Err(Error::Exists { path: "x".into() })
        });
        assert!(err.is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn secret_dirs_are_0700_and_world_writable_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        assert!(secret_dir("output directory", &deep).unwrap());
        assert_eq!((mode(&deep), mode(&dir.path().join("a"))), (0o700, 0o700));
        assert!(!secret_dir("output directory", &deep).unwrap());

        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = secret_dir("output directory", &shared).unwrap_err();
        assert!(
            e.to_string().contains("writable by anyone (mode 0777)"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
        assert_eq!(mode(&shared), 0o777, "left as it was");

        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = secret_dir("output directory", &file).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(secret_dir("output directory", &file.join("sub")).is_err());
    }

    #[test]
    fn mtime_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        write(&path, b"x", Options::REPLACE.mode(0o644).mtime(t)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), t);
    }
}
