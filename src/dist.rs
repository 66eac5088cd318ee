//! The output directory: packages appear all at once or not at all, with a SHA256SUMS.

use std::path::{Path, PathBuf};

use crate::atomic;
use crate::digest::{sha256_file, Sha256Sums};
use crate::error::{Error, IoContext, Result};

pub const SUMS_FILE: &str = "SHA256SUMS";

/// Packages not yet in `out`: a private directory inside it where a build writes its files
/// (the `stage` module is something else: the file tree inside a package). Dropping it without
/// `commit` removes everything in it, and `out` itself (with its parents) when this build
/// made it, so a failed build leaves the file system as it was.
pub struct Pending {
    out: PathBuf,
    dir: Option<tempfile::TempDir>,
    /// The directories `new` made, outermost first; removed again unless committed.
    made: Vec<PathBuf>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        drop(self.dir.take());
        for dir in self.made.iter().rev() {
            // Only if still empty: never anything but what this build made.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Pending {
    pub fn new(out: &Path) -> Result<Self> {
        let mut made = Vec::new();
        let mut next = Some(out);
        while let Some(dir) = next.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            made.push(dir.to_path_buf());
            next = dir.parent();
        }
        made.reverse();
        std::fs::create_dir_all(out).at(out)?;
        let mut pending = Self {
            out: out.to_path_buf(),
            dir: None,
            made,
        };
        pending.dir = Some(
            tempfile::Builder::new()
                .prefix(".nimsforest-pkg-")
                .tempdir_in(out)
                .at(out)?,
        );
        Ok(pending)
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(&self.out, |d| d.path())
    }

    pub fn path(&self, file_name: &str) -> PathBuf {
        self.dir().join(file_name)
    }

    /// Moves the finished files into `out` (same filesystem: each rename is atomic) and
    /// rewrites `out/SHA256SUMS` to cover every package there. Returns the final paths.
    pub fn commit(mut self, files: &[String]) -> Result<Vec<PathBuf>> {
        // From here on `out` is the build's output, even if a step below fails.
        self.made.clear();
        let sums_path = self.out.join(SUMS_FILE);
        let mut sums = match std::fs::read_to_string(&sums_path).optional_at(&sums_path)? {
            None => Sha256Sums::default(),
            Some(text) => {
                Sha256Sums::parse(&sums_path.display().to_string(), &text).map_err(|e| {
                    Error::Output {
                        path: sums_path.clone(),
                        reason: format!("cannot be updated: {e}"),
                    }
                })?
            }
        };
        let mut done = Vec::new();
        for name in files {
            let from = self.dir().join(name);
            let hash = sha256_file(&from)?;
            let to = self.out.join(name);
            std::fs::rename(&from, &to).at(&to)?;
            sums.insert(name.clone(), hash);
            done.push(to);
        }
        // Keep lines only for packages that are still there.
        sums.retain(|name| self.out.join(name).is_file());
        atomic::write(
            &sums_path,
            sums.render().as_bytes(),
            atomic::Options::REPLACE,
        )?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_moves_files_and_updates_sums() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("old.deb"), b"old").unwrap();
        let (aa, bb) = ("a".repeat(64), "b".repeat(64));
        std::fs::write(
            out.path().join(SUMS_FILE),
            format!("{aa}  old.deb\n{bb}  gone.rpm\n"),
        )
        .unwrap();
        let pending = Pending::new(out.path()).unwrap();
        std::fs::write(pending.path("new.deb"), b"new").unwrap();
        pending.commit(&["new.deb".into()]).unwrap();
        let sums = std::fs::read_to_string(out.path().join(SUMS_FILE)).unwrap();
        let new_hash = crate::digest::sha256_hex(b"new");
        assert_eq!(sums, format!("{new_hash}  new.deb\n{aa}  old.deb\n"));
        let names: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "no pending directory left: {names:?}");
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let out = tempfile::tempdir().unwrap();
        let pending = Pending::new(out.path()).unwrap();
        std::fs::write(pending.path("half.deb"), b"x").unwrap();
        drop(pending);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_build_takes_back_the_directories_it_made() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("a/dist");
        let pending = Pending::new(&out).unwrap();
        std::fs::write(pending.path("half.deb"), b"x").unwrap();
        drop(pending);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);

        let pending = Pending::new(&out).unwrap();
        std::fs::write(pending.path("p.deb"), b"x").unwrap();
        pending.commit(&["p.deb".into()]).unwrap();
        assert!(
            out.join("p.deb").is_file(),
            "a committed build keeps its output"
        );
    }
}
