//! What a publication takes in: the package files of dist/, each read whole and checked
//! before anything is signed or uploaded. A published name is never replaced, so a damaged
//! package that got in would stay damaged for every node.

use std::path::{Path, PathBuf};

use crate::definition::Format;
use crate::digest::{sha256_hex, Sha256Sums};
use crate::dist::SUMS_FILE;
use crate::error::{Error, IoContext, Result};
use crate::parallel;

/// A package file that passed its format's whole-package check.
pub struct Package {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Package {
    /// Reads `path` and checks it as a package of `format` (see [`crate::deb::read::verify`]
    /// and [`crate::rpm::verify`]).
    pub fn read(path: &Path, format: Format) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        Self::check(path, bytes, format)
    }

    /// Checks `bytes`, read from `path` (a file, or an object named as a path), as a
    /// package of `format`.
    pub fn check(path: &Path, bytes: Vec<u8>, format: Format) -> Result<Self> {
        match format {
            Format::Deb => crate::deb::read::verify(path, &bytes).map(drop)?,
            Format::Rpm => crate::rpm::verify(path, &bytes).map(drop)?,
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha256: sha256_hex(&bytes),
            bytes,
        })
    }
}

/// Every package of `format` in `dir`, sorted by name and checked; none is an error
/// (nothing to publish). When `dir` has a `SHA256SUMS` (a build writes one), every package
/// must be listed in it with its checksum.
pub fn packages_in(dir: &Path, format: Format) -> Result<Vec<Package>> {
    let extension = format.extension();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.extension().is_some_and(|e| e == extension) && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Error::Package {
            path: dir.to_path_buf(),
            reason: format!(
                "no .{extension} packages to publish (run `nimsforest-pkg build` first)"
            ),
        });
    }
    let sums_path = dir.join(SUMS_FILE);
    let sums = std::fs::read_to_string(&sums_path)
        .optional_at(&sums_path)?
        .map(|text| Sha256Sums::parse(&sums_path.display().to_string(), &text))
        .transpose()?;
    parallel::map(&found, parallel::cores(), |path| {
        let package = Package::read(path, format)?;
        if let Some(sums) = &sums {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let expected = sums.get(&name).map_err(|_| Error::Package {
                path: path.clone(),
                reason: format!("is not listed in {}", sums_path.display()),
            })?;
            if expected != package.sha256 {
                return Err(Error::HashMismatch {
                    file: path.display().to_string(),
                    against: sums_path.display().to_string(),
                    expected: expected.to_string(),
                    actual: package.sha256,
                });
            }
        }
        Ok(package)
    })
    .into_iter()
    .collect()
}
