//! The `.deb`'s file list: the staged tree after the Debian overlay (policy 10.9 owners,
//! base-files' directories left alone, the files debhelper would add), and the members
//! made from it: `data.tar`, `md5sums`, `conffiles`, `Installed-Size`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::tarball;
use super::DebianDefinition;
use crate::compress;
use crate::definition::PackageId;
use crate::digest::md5_hex;
use crate::error::{Error, IoContext, Result};
use crate::stage::{EntryKind, StagedTree};

/// Directories that base-files' postinst creates on every Debian system and that no
/// package ships. A .deb that shipped one, even only as the parent of its own files,
/// would own it, and dpkg would delete it with the package when it is empty (a purge
/// would take /opt away). Parents only: a package may still declare one as an asset.
const BASE_FILES_DIRECTORIES: &[&str] = &["/opt", "/srv", "/mnt", "/media", "/etc/opt", "/var/opt"];

/// An object as it goes into `data.tar`.
#[derive(Debug, Clone)]
struct Item {
    kind: ItemKind,
    mode: u32,
    /// Declared by the package definition or added as a file; undeclared directories are
    /// dropped when nothing shipped lies below them.
    declared: bool,
    conffile: bool,
}

#[derive(Debug, Clone)]
enum ItemKind {
    Dir,
    File(Arc<Vec<u8>>),
    Symlink(String),
}

/// The package's file list: the staged tree after the Debian overlay.
pub(super) struct Payload {
    items: BTreeMap<String, Item>,
}

impl Payload {
    pub(super) fn new(
        tree: &StagedTree,
        pkg: &PackageId,
        def: &DebianDefinition,
        version: &str,
    ) -> Result<Self> {
        let mut items = BTreeMap::new();
        // Directories left to the maintainer scripts, with their owner.
        let mut left_out: Vec<(&str, String)> = Vec::new();
        for e in tree.entries() {
            let owner = format!("{}:{}", e.user, e.group);
            let under = left_out.iter().find(|(dir, _)| {
                e.path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            });
            let is_dir = e.kind == EntryKind::Dir;
            if e.config && !matches!(e.kind, EntryKind::File(_)) {
                return Err(Error::Definition {
                    path: e.path.clone().into(),
                    reason: "only regular files can be configuration files (dpkg conffiles)".into(),
                });
            }
            if let Some((dir, dir_owner)) = under {
                if is_dir && !e.is_root_owned() {
                    left_out.push((&e.path, owner));
                    continue;
                }
                return Err(Error::Definition {
                    path: e.path.clone().into(),
                    reason: format!(
                        "lies in {dir}, which the .deb cannot ship because it is owned by {dir_owner} \
                         (Debian packages ship root-owned directories; the maintainer scripts create it)"
                    ),
                });
            }
            if is_dir && !e.is_root_owned() {
                left_out.push((&e.path, owner));
                continue;
            }
            if is_dir && !e.owned && BASE_FILES_DIRECTORIES.contains(&e.path.as_str()) {
                continue;
            }
            let (kind, mode) = match &e.kind {
                EntryKind::Dir => (ItemKind::Dir, e.mode),
                EntryKind::Symlink(target) => (ItemKind::Symlink(target.clone()), 0o777),
                EntryKind::File(data) if e.is_root_owned() => {
                    (ItemKind::File(data.clone()), e.mode)
                }
                // Shipped root-owned; the postinst applies the real owner and mode.
                EntryKind::File(data) => {
                    let mode = if e.mode & 0o111 != 0 { 0o755 } else { 0o644 };
                    (ItemKind::File(data.clone()), mode)
                }
            };
            items.insert(
                e.path.clone(),
                Item {
                    kind,
                    mode,
                    declared: e.owned,
                    conffile: e.config,
                },
            );
        }
        let mut payload = Payload { items };

        let name = &pkg.name;
        let maintainer = def.control.get("Maintainer").unwrap_or_default();
        let changelog = def.changelog.for_version(
            name,
            version,
            maintainer,
            i64::try_from(tree.mtime).unwrap_or(i64::MAX),
        );
        let changelog_gz =
            compress::gzip(changelog.as_bytes(), compress::GZIP_BEST).at("changelog.Debian.gz")?;
        payload.add_file(
            &format!("/usr/share/doc/{name}/copyright"),
            def.copyright.clone(),
            "debian/copyright",
        )?;
        payload.add_file(
            &format!("/usr/share/doc/{name}/changelog.Debian.gz"),
            changelog_gz,
            "debian/changelog",
        )?;
        if let Some(overrides) = &def.lintian_overrides {
            payload.add_file(
                &format!("/usr/share/lintian/overrides/{name}"),
                overrides.clone(),
                "debian/*.lintian-overrides",
            )?;
        }
        payload.prune();
        Ok(payload)
    }

    /// Adds a file the Debian packaging generates, with root-owned parents as needed.
    fn add_file(&mut self, path: &str, data: Vec<u8>, from: &str) -> Result<()> {
        let clash = |path: &str, reason: String| Error::Definition {
            path: path.into(),
            reason,
        };
        if self.items.contains_key(path) {
            return Err(clash(
                path,
                format!("is in the package definition and also made from {from}"),
            ));
        }
        let mut dir = path;
        while let Some(i) = dir.rfind('/').filter(|&i| i > 0) {
            dir = &path[..i];
            match self.items.get(dir) {
                Some(Item {
                    kind: ItemKind::Dir,
                    ..
                }) => {}
                Some(_) => return Err(clash(dir, format!("must be a directory to hold {path}"))),
                None => {
                    self.items.insert(
                        dir.to_string(),
                        Item {
                            kind: ItemKind::Dir,
                            mode: 0o755,
                            declared: false,
                            conffile: false,
                        },
                    );
                }
            }
        }
        self.items.insert(
            path.to_string(),
            Item {
                kind: ItemKind::File(Arc::new(data)),
                mode: 0o644,
                declared: true,
                conffile: false,
            },
        );
        Ok(())
    }

    /// Drops undeclared directories with nothing shipped below them (`/var/lib` once
    /// `/var/lib/nimsforest` is left to the postinst).
    fn prune(&mut self) {
        let mut needed = BTreeSet::new();
        for (path, item) in &self.items {
            if item.declared || !matches!(item.kind, ItemKind::Dir) {
                let mut p = path.as_str();
                while let Some(i) = p.rfind('/').filter(|&i| i > 0) {
                    p = &p[..i];
                    needed.insert(p.to_string());
                }
            }
        }
        self.items.retain(|path, item| {
            item.declared || !matches!(item.kind, ItemKind::Dir) || needed.contains(path)
        });
    }

    /// `Installed-Size` in KiB as dpkg-gencontrol computes it over the package tree: each
    /// file and symlink its size rounded up to whole KiB, each directory (the root too) 1.
    pub(super) fn installed_size(&self) -> u64 {
        1 + self
            .items
            .values()
            .map(|item| match &item.kind {
                ItemKind::Dir => 1,
                ItemKind::File(data) => (data.len() as u64).div_ceil(1024),
                ItemKind::Symlink(target) => (target.len() as u64).div_ceil(1024),
            })
            .sum::<u64>()
    }

    pub(super) fn md5sums(&self) -> String {
        let mut out = String::new();
        for (path, item) in &self.items {
            if let ItemKind::File(data) = &item.kind {
                out.push_str(&md5_hex(data));
                out.push_str("  ");
                out.push_str(&path[1..]);
                out.push('\n');
            }
        }
        out
    }

    pub(super) fn conffiles(&self) -> String {
        let mut out = String::new();
        for (path, item) in &self.items {
            if item.conffile {
                out.push_str(path);
                out.push('\n');
            }
        }
        out
    }

    pub(super) fn data_tar(&self, mtime: u64) -> std::io::Result<Vec<u8>> {
        let mut tar = tarball::TarWriter::new(mtime);
        tar.append("./", tarball::Kind::Dir, 0o755)?;
        for (path, item) in &self.items {
            match &item.kind {
                ItemKind::Dir => tar.append(&format!(".{path}/"), tarball::Kind::Dir, item.mode)?,
                ItemKind::File(data) => {
                    tar.append(&format!(".{path}"), tarball::Kind::File(data), item.mode)?
                }
                ItemKind::Symlink(target) => tar.append(
                    &format!(".{path}"),
                    tarball::Kind::Symlink(target),
                    item.mode,
                )?,
            }
        }
        Ok(tar.finish())
    }
}

pub(super) fn control_tar(files: &[(&str, Vec<u8>, u32)], mtime: u64) -> std::io::Result<Vec<u8>> {
    let mut tar = tarball::TarWriter::new(mtime);
    tar.append("./", tarball::Kind::Dir, 0o755)?;
    for (name, data, mode) in files {
        tar.append(&format!("./{name}"), tarball::Kind::File(data), *mode)?;
    }
    Ok(tar.finish())
}
