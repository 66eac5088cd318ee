//! The output directory: packages appear all at once or not at all, with a SHA256SUMS.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::fetch::verify::sha256_file;

pub const SUMS_FILE: &str = "SHA256SUMS";

/// A private directory inside `out` where a build writes its files. Dropping it without
/// `commit` removes everything in it, so a failed build leaves `out` as it was.
pub struct Staging {
    out: PathBuf,
    dir: tempfile::TempDir,
}

impl Staging {
    pub fn new(out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out).at(out)?;
        let dir = tempfile::Builder::new()
            .prefix(".nimsforest-pkg-")
            .tempdir_in(out)
            .at(out)?;
        Ok(Self {
            out: out.to_path_buf(),
            dir,
        })
    }

    pub fn path(&self, file_name: &str) -> PathBuf {
        self.dir.path().join(file_name)
    }

    /// Moves the finished files into `out` (same filesystem: each rename is atomic) and
    /// rewrites `out/SHA256SUMS` to cover every package there. Returns the final paths.
    pub fn commit(self, files: &[String]) -> Result<Vec<PathBuf>> {
        let mut sums = read_sums(&self.out.join(SUMS_FILE));
        let mut done = Vec::new();
        for name in files {
            let from = self.dir.path().join(name);
            let hash = sha256_file(&from)?;
            let to = self.out.join(name);
            std::fs::rename(&from, &to).at(&to)?;
            sums.insert(name.clone(), hash);
            done.push(to);
        }
        // Keep lines only for packages that are still there.
        sums.retain(|name, _| self.out.join(name).is_file());
        let mut text = String::new();
        for (name, hash) in &sums {
            text.push_str(&format!("{hash}  {name}\n"));
        }
        write_atomically(&self.out.join(SUMS_FILE), text.as_bytes())?;
        Ok(done)
    }
}

fn read_sums(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, n)| (n.to_string(), h.to_string()))
        .collect()
}

/// Writes `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
    temp.write_all(data).at(temp.path())?;
    temp.as_file().sync_all().at(temp.path())?;
    let mode = std::fs::metadata(path).map(|m| m.permissions()).ok();
    if let Some(mode) = mode {
        temp.as_file().set_permissions(mode).at(path)?;
    } else {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .at(path)?;
    }
    temp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_moves_files_and_updates_sums() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("old.deb"), b"old").unwrap();
        std::fs::write(out.path().join(SUMS_FILE), "aa  old.deb\nbb  gone.rpm\n").unwrap();
        let staging = Staging::new(out.path()).unwrap();
        std::fs::write(staging.path("new.deb"), b"new").unwrap();
        staging.commit(&["new.deb".into()]).unwrap();
        let sums = std::fs::read_to_string(out.path().join(SUMS_FILE)).unwrap();
        let new_hash = crate::fetch::verify::sha256_hex(b"new");
        assert_eq!(sums, format!("{new_hash}  new.deb\naa  old.deb\n"));
        let names: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "no staging directory left: {names:?}");
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let out = tempfile::tempdir().unwrap();
        let staging = Staging::new(out.path()).unwrap();
        std::fs::write(staging.path("half.deb"), b"x").unwrap();
        drop(staging);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }
}
