//! Writes a staged tree as a Debian binary package.
//!
//! The package definition lives in `debian/` as a Debian packager would write it:
//! `control` (a source and a binary paragraph), `changelog`, `copyright` (DEP-5),
//! `<package>.lintian-overrides` and the maintainer scripts. `write_deb` turns a
//! [`StagedTree`] plus that definition into a reproducible `.deb`, doing by itself what
//! debhelper would add: the copyright file, `changelog.Debian.gz`, the lintian
//! overrides, `md5sums`, `conffiles` and `Installed-Size`.
//!
//! Ownership follows Debian policy 10.9: the data tar holds root-owned objects only and
//! the maintainer scripts hand files to other users. So a directory owned by anyone but
//! root:root is left out (the postinst creates it), and a file owned by someone else is
//! shipped root:root 0644 (0755 if executable) for the postinst to chown and chmod.

pub mod ar;
mod changelog;
mod control;
pub mod deb822;
mod definition;
mod payload;
pub mod read;
mod tarball;
pub mod version;

use std::io::Write;
use std::path::PathBuf;

pub use changelog::format_date as changelog_date;
pub use definition::{DebianDefinition, SCRIPTS};
pub use read::control_fields;
pub use tarball::Compression;

use crate::compress::Resources;
use crate::definition::{PackageId, Target};
use crate::error::{Error, IoContext, Result};
use crate::stage::StagedTree;
use payload::{control_tar, Payload};

/// Writes `pkg` for `arch` as a `.deb` to `out`. The bytes depend only on the arguments
/// (`resources`, the build's CPU share for this package and the block cache, change only
/// how fast).
pub fn write_deb(
    tree: &StagedTree,
    pkg: &PackageId,
    arch: Target,
    def: &DebianDefinition,
    compression: Compression,
    resources: &Resources,
    out: &mut dyn Write,
) -> Result<()> {
    if pkg.name != def.package() {
        return Err(Error::Definition {
            path: "debian/control".into(),
            reason: format!(
                "Package is {}, but the package being built is {}",
                def.package(),
                pkg.name
            ),
        });
    }
    let version = pkg.version.deb();
    let payload = Payload::new(tree, pkg, def, &version)?;
    let member =
        |name: &str| PathBuf::from(format!("{}_{version}_{}.deb:{name}", pkg.name, arch.deb()));

    let control = def
        .control
        .render(&pkg.name, &version, arch.deb(), payload.installed_size());
    let mut files: Vec<(&str, Vec<u8>, u32)> = vec![("control", control.into_bytes(), 0o644)];
    let md5sums = payload.md5sums();
    if !md5sums.is_empty() {
        files.push(("md5sums", md5sums.into_bytes(), 0o644));
    }
    let conffiles = payload.conffiles();
    if !conffiles.is_empty() {
        files.push(("conffiles", conffiles.into_bytes(), 0o644));
    }
    for (name, data) in &def.scripts {
        files.push((name, data.clone(), 0o755));
    }
    files.sort_by(|a, b| a.0.cmp(b.0));
    let control_name = format!("control.tar.{}", compression.extension());
    let control_tar = control_tar(&files, tree.mtime).at(member(&control_name))?;
    let control_tar = compression.compress(&control_tar, &[], resources)?;

    let data_name = format!("data.tar.{}", compression.extension());
    let data_tar = payload.data_tar(tree.mtime).at(member(&data_name))?;
    let data_tar = compression.compress(&data_tar, tree.large_files(), resources)?;

    let mut ar = ar::ArWriter::new(out, tree.mtime).at(member(""))?;
    ar.append("debian-binary", b"2.0\n")
        .at(member("debian-binary"))?;
    ar.append(&control_name, &control_tar)
        .at(member(&control_name))?;
    ar.append(&data_name, &data_tar).at(member(&data_name))?;
    Ok(())
}

#[cfg(test)]
mod tests;
