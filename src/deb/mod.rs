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

mod ar;
mod changelog;
mod control;
mod tarball;

pub(crate) use tarball::gzip;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};

pub use tarball::Compression;

/// Directories that base-files' postinst creates on every Debian system and that no
/// package ships. A .deb that shipped one, even only as the parent of its own files,
/// would own it, and dpkg would delete it with the package when it is empty (a purge
/// would take /opt away). Parents only: a package may still declare one as an asset.
const BASE_FILES_DIRECTORIES: &[&str] = &["/opt", "/srv", "/mnt", "/media", "/etc/opt", "/var/opt"];

use crate::error::{Error, IoContext, Result};
use crate::spec::{Arch, PackageId};
use crate::stage::{EntryKind, StagedTree};

/// Maintainer scripts copied into `control.tar`, read from `debian/<package>.<script>` or
/// `debian/<script>`.
pub const SCRIPTS: [&str; 4] = ["preinst", "postinst", "prerm", "postrm"];

/// Everything in `debian/` the package needs, read and checked once.
#[derive(Debug, Clone)]
pub struct DebianDefinition {
    control: control::Template,
    changelog: changelog::Changelog,
    copyright: Vec<u8>,
    lintian_overrides: Option<Vec<u8>>,
    scripts: Vec<(&'static str, Vec<u8>)>,
}

impl DebianDefinition {
    pub fn load(dir: &Path) -> Result<Self> {
        let control_path = dir.join("control");
        let text = read_text(&control_path)?;
        let paragraphs = control::parse(&control_path, &text)?;
        let control = control::Template::from_paragraphs(&control_path, paragraphs)?;
        let package = control.package.clone();

        let changelog_path = dir.join("changelog");
        let changelog = changelog::Changelog::parse(&changelog_path, &read_text(&changelog_path)?)?;
        if let Some(e) = changelog.entries.iter().find(|e| e.package != package) {
            return Err(Error::Definition {
                path: changelog_path,
                reason: format!(
                    "entry {} names package {}, expected {package}",
                    e.version, e.package
                ),
            });
        }

        let copyright_path = dir.join("copyright");
        let copyright = read_text(&copyright_path)?;
        if !copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        ) {
            return Err(Error::Definition {
                path: copyright_path,
                reason: "expected a machine-readable copyright file (DEP-5) starting with \
                         `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/`"
                    .into(),
            });
        }

        let lintian_overrides =
            read_variant(dir, &package, "lintian-overrides")?.map(|(_, data)| data);

        let mut scripts = Vec::new();
        for script in SCRIPTS {
            if let Some((path, data)) = read_variant(dir, &package, script)? {
                check_script(&path, &data)?;
                scripts.push((script, data));
            }
        }
        Ok(Self {
            control,
            changelog,
            copyright: copyright.into_bytes(),
            lintian_overrides,
            scripts,
        })
    }

    /// The binary package's name (`Package:` in `debian/control`).
    pub fn package(&self) -> &str {
        &self.control.package
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at(path)?;
    String::from_utf8(bytes).map_err(|_| Error::Definition {
        path: path.to_path_buf(),
        reason: "not valid UTF-8".into(),
    })
}

/// Reads `dir/<package>.<name>` or `dir/<name>` (debhelper's two spellings); both is an error.
fn read_variant(dir: &Path, package: &str, name: &str) -> Result<Option<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    for path in [dir.join(format!("{package}.{name}")), dir.join(name)] {
        match std::fs::read(&path) {
            Ok(data) => found.push((path, data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(path),
        }
    }
    if found.len() > 1 {
        return Err(Error::Definition {
            path: found.swap_remove(1).0,
            reason: format!("both {package}.{name} and {name} exist; keep one"),
        });
    }
    Ok(found.pop())
}

fn check_script(path: &Path, data: &[u8]) -> Result<()> {
    let bad = |reason: &str| Error::Definition {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !data.starts_with(b"#!") {
        return Err(bad("a maintainer script must start with a #! line"));
    }
    if data.windows(11).any(|w| w == b"#DEBHELPER#") {
        return Err(bad(
            "#DEBHELPER# is a debhelper placeholder this build does not expand; write the snippet out",
        ));
    }
    Ok(())
}

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
struct Payload {
    items: BTreeMap<String, Item>,
}

impl Payload {
    fn new(
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
        let changelog_gz = tarball::gzip(changelog.as_bytes()).at("changelog.Debian.gz")?;
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
    fn installed_size(&self) -> u64 {
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

    fn md5sums(&self) -> String {
        let mut out = String::new();
        for (path, item) in &self.items {
            if let ItemKind::File(data) = &item.kind {
                out.push_str(&hex::encode(Md5::digest(data.as_slice())));
                out.push_str("  ");
                out.push_str(&path[1..]);
                out.push('\n');
            }
        }
        out
    }

    fn conffiles(&self) -> String {
        let mut out = String::new();
        for (path, item) in &self.items {
            if item.conffile {
                out.push_str(path);
                out.push('\n');
            }
        }
        out
    }

    fn data_tar(&self, mtime: u64) -> std::io::Result<Vec<u8>> {
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

fn control_tar(files: &[(&str, Vec<u8>, u32)], mtime: u64) -> std::io::Result<Vec<u8>> {
    let mut tar = tarball::TarWriter::new(mtime);
    tar.append("./", tarball::Kind::Dir, 0o755)?;
    for (name, data, mode) in files {
        tar.append(&format!("./{name}"), tarball::Kind::File(data), *mode)?;
    }
    Ok(tar.finish())
}

/// Writes `pkg` for `arch` as a `.deb` to `out`. The bytes depend only on the arguments.
pub fn write_deb(
    tree: &StagedTree,
    pkg: &PackageId,
    arch: Arch,
    def: &DebianDefinition,
    compression: Compression,
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
    let control_tar = control_tar(&files, tree.mtime)
        .and_then(|tar| compression.compress(&tar))
        .at(member(&control_name))?;

    let data_name = format!("data.tar.{}", compression.extension());
    let data_tar = payload
        .data_tar(tree.mtime)
        .and_then(|tar| compression.compress(&tar))
        .at(member(&data_name))?;

    let mut ar = ar::ArWriter::new(out, tree.mtime).at(member(""))?;
    ar.append("debian-binary", b"2.0\n")
        .at(member("debian-binary"))?;
    ar.append(&control_name, &control_tar)
        .at(member(&control_name))?;
    ar.append(&data_name, &data_tar).at(member(&data_name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::spec::Version;
    use crate::stage::{Entry, TreeBuilder};

    const MTIME: u64 = 1_760_155_140;

    fn entry(path: &str, kind: EntryKind, mode: u32, owner: &str) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            user: if owner == "nimsforest" {
                "nimsforest"
            } else {
                "root"
            }
            .into(),
            group: owner.into(),
            config: false,
            owned: true,
        }
    }

    fn file(data: &[u8]) -> EntryKind {
        EntryKind::File(Arc::new(data.to_vec()))
    }

    /// The node layout of the package definition, with small stand-in files.
    fn tree() -> StagedTree {
        let mut b = TreeBuilder::new();
        let binary = vec![0x7f; 2049];
        b.add(entry(
            "/opt/nimsforest/bin/nats-server",
            file(&binary),
            0o755,
            "root",
        ))
        .unwrap();
        b.add(entry("/opt/nimsforest", EntryKind::Dir, 0o755, "root"))
            .unwrap();
        b.add(entry("/opt/nimsforest/bin", EntryKind::Dir, 0o755, "root"))
            .unwrap();
        b.add(entry("/etc/nimsforest", EntryKind::Dir, 0o755, "root"))
            .unwrap();
        b.add(Entry {
            config: true,
            ..entry(
                "/etc/nimsforest/nats.conf",
                file(b"port: 4222\n"),
                0o640,
                "nimsforest-group",
            )
        })
        .unwrap();
        b.add(entry(
            "/usr/lib/systemd/system/nimsforest-nats.service",
            file(b"[Unit]\n"),
            0o644,
            "root",
        ))
        .unwrap();
        b.add(entry(
            "/opt/nimsforest/bin/nimsforest-cluster-conf",
            file(b"#!/bin/sh\n"),
            0o755,
            "root",
        ))
        .unwrap();
        for dir in [
            "/var/lib/nimsforest",
            "/var/lib/nimsforest/data",
            "/var/log/nimsforest",
        ] {
            b.add(entry(dir, EntryKind::Dir, 0o750, "nimsforest"))
                .unwrap();
        }
        b.finish(MTIME).unwrap()
    }

    const CONTROL: &str = "\
Source: nimsforest-nats
Section: net
Priority: optional
Maintainer: T <t@example.org>
Standards-Version: 4.6.2

Package: nimsforest-nats
Architecture: any
Pre-Depends: passwd
Description: test package
 Extended description.
";

    const CHANGELOG: &str = "\
nimsforest-nats (2.15.1-1) unstable; urgency=medium

  * Initial release.

 -- T <t@example.org>  Sat, 11 Oct 2025 03:59:00 +0000
";

    fn definition_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("control", CONTROL);
        write("changelog", CHANGELOG);
        write(
            "copyright",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
        );
        write(
            "nimsforest-nats.lintian-overrides",
            "# why\nnimsforest-nats: tag [path]\n",
        );
        write("postinst", "#!/bin/sh\nset -e\n");
        write("prerm", "#!/bin/sh\nset -e\n");
        dir
    }

    fn pkg(version: &str) -> PackageId {
        PackageId {
            name: "nimsforest-nats".into(),
            version: Version::new(version, "1").unwrap(),
        }
    }

    fn build(
        tree: &StagedTree,
        def: &DebianDefinition,
        version: &str,
        c: Compression,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_deb(tree, &pkg(version), Arch::Amd64, def, c, &mut out)?;
        Ok(out)
    }

    struct TarEntry {
        name: String,
        mode: u32,
        kind: tar::EntryType,
        data: Vec<u8>,
    }

    fn untar(compressed: &[u8], c: Compression) -> Vec<TarEntry> {
        let mut raw = Vec::new();
        match c {
            Compression::Xz => liblzma::read::XzDecoder::new(compressed).read_to_end(&mut raw),
            Compression::Zstd => zstd::stream::read::Decoder::new(compressed)
                .unwrap()
                .read_to_end(&mut raw),
            Compression::Gzip => flate2::read::GzDecoder::new(compressed).read_to_end(&mut raw),
        }
        .unwrap();
        let mut archive = tar::Archive::new(&raw[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
                assert_eq!(h.username().unwrap(), Some("root"));
                assert_eq!(h.groupname().unwrap(), Some("root"));
                assert_eq!(h.mtime().unwrap(), MTIME);
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                TarEntry {
                    name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    mode: h.mode().unwrap(),
                    kind: h.entry_type(),
                    data,
                }
            })
            .collect()
    }

    fn gunzip(data: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::GzDecoder::new(data)
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn writes_a_complete_package() {
        let dir = definition_dir();
        let def = DebianDefinition::load(dir.path()).unwrap();
        let deb = build(&tree(), &def, "2.15.1", Compression::Xz).unwrap();

        let members = ar::read(&deb);
        let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["debian-binary", "control.tar.xz", "data.tar.xz"]);
        for m in &members {
            assert_eq!((m.uid, m.gid, m.mode, m.mtime), (0, 0, 0o100644, MTIME));
        }
        assert_eq!(members[0].data, b"2.0\n");

        let data = untar(members[2].data, Compression::Xz);
        let listing: Vec<(&str, u32)> = data.iter().map(|e| (e.name.as_str(), e.mode)).collect();
        assert_eq!(
            listing,
            [
                ("./", 0o755),
                ("./etc/", 0o755),
                ("./etc/nimsforest/", 0o755),
                ("./etc/nimsforest/nats.conf", 0o644),
                // Not ./opt/: base-files makes it, and dpkg would remove it with us.
                ("./opt/nimsforest/", 0o755),
                ("./opt/nimsforest/bin/", 0o755),
                ("./opt/nimsforest/bin/nats-server", 0o755),
                ("./opt/nimsforest/bin/nimsforest-cluster-conf", 0o755),
                ("./usr/", 0o755),
                ("./usr/lib/", 0o755),
                ("./usr/lib/systemd/", 0o755),
                ("./usr/lib/systemd/system/", 0o755),
                ("./usr/lib/systemd/system/nimsforest-nats.service", 0o644),
                ("./usr/share/", 0o755),
                ("./usr/share/doc/", 0o755),
                ("./usr/share/doc/nimsforest-nats/", 0o755),
                ("./usr/share/doc/nimsforest-nats/changelog.Debian.gz", 0o644),
                ("./usr/share/doc/nimsforest-nats/copyright", 0o644),
                ("./usr/share/lintian/", 0o755),
                ("./usr/share/lintian/overrides/", 0o755),
                ("./usr/share/lintian/overrides/nimsforest-nats", 0o644),
            ]
        );
        assert!(data
            .iter()
            .all(|e| e.name.ends_with('/') == (e.kind == tar::EntryType::Directory)));
        let get = |name: &str| &data.iter().find(|e| e.name == name).unwrap().data;
        assert_eq!(get("./etc/nimsforest/nats.conf"), b"port: 4222\n");
        assert_eq!(
            gunzip(get("./usr/share/doc/nimsforest-nats/changelog.Debian.gz")),
            CHANGELOG
        );

        let control = untar(members[1].data, Compression::Xz);
        let listing: Vec<(&str, u32)> = control.iter().map(|e| (e.name.as_str(), e.mode)).collect();
        assert_eq!(
            listing,
            [
                ("./", 0o755),
                ("./conffiles", 0o644),
                ("./control", 0o644),
                ("./md5sums", 0o644),
                ("./postinst", 0o755),
                ("./prerm", 0o755),
            ]
        );
        let text = |name: &str| {
            String::from_utf8(
                control
                    .iter()
                    .find(|e| e.name == name)
                    .unwrap()
                    .data
                    .clone(),
            )
            .unwrap()
        };
        assert_eq!(text("./conffiles"), "/etc/nimsforest/nats.conf\n");
        assert_eq!(text("./postinst"), "#!/bin/sh\nset -e\n");
        // 1 for ./, 14 directories, files: 3 KiB binary and 1 KiB for each of the six others.
        assert_eq!(
            text("./control"),
            "Package: nimsforest-nats\nVersion: 2.15.1-1\nArchitecture: amd64\n\
             Maintainer: T <t@example.org>\nInstalled-Size: 23\nPre-Depends: passwd\n\
             Section: net\nPriority: optional\nDescription: test package\n Extended description.\n"
        );
        let md5sums = text("./md5sums");
        let lines: Vec<&str> = md5sums.lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[0],
            format!(
                "{}  etc/nimsforest/nats.conf",
                hex::encode(Md5::digest(b"port: 4222\n"))
            )
        );
        assert!(lines[1].ends_with("  opt/nimsforest/bin/nats-server"));
        assert!(lines
            .iter()
            .all(|l| l.len() > 34 && &l[32..34] == "  " && !l[34..].starts_with('/')));
    }

    #[test]
    fn output_is_identical_across_runs_and_compressions_differ_only_in_packing() {
        let dir = definition_dir();
        let def = DebianDefinition::load(dir.path()).unwrap();
        for c in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
            let a = build(&tree(), &def, "2.15.1", c).unwrap();
            let b = build(&tree(), &def, "2.15.1", c).unwrap();
            assert!(a == b, "{c}: two builds differ");
            let members = ar::read(&a);
            assert_eq!(members[2].name, format!("data.tar.{}", c.extension()));
            let names: Vec<String> = untar(members[2].data, c)
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(names.len(), 21, "{c}");
        }
    }

    #[test]
    fn a_new_version_ships_a_generated_changelog_entry() {
        let dir = definition_dir();
        let def = DebianDefinition::load(dir.path()).unwrap();
        let deb = build(&tree(), &def, "2.16.0", Compression::Gzip).unwrap();
        let data = untar(ar::read(&deb)[2].data, Compression::Gzip);
        let gz = &data
            .iter()
            .find(|e| e.name.ends_with("changelog.Debian.gz"))
            .unwrap()
            .data;
        let log = gunzip(gz);
        assert!(
            log.starts_with("nimsforest-nats (2.16.0-1) unstable; urgency=medium\n"),
            "{log}"
        );
        assert!(log.ends_with(CHANGELOG));
        assert_eq!(&gz[4..10], &[0, 0, 0, 0, 2, 3], "gzip -9n header");
    }

    #[test]
    fn contents_of_a_left_out_directory_are_refused() {
        let dir = definition_dir();
        let def = DebianDefinition::load(dir.path()).unwrap();
        let mut b = TreeBuilder::new();
        b.add(entry(
            "/var/lib/nimsforest",
            EntryKind::Dir,
            0o750,
            "nimsforest",
        ))
        .unwrap();
        b.add(entry("/var/lib/nimsforest/seed", file(b"x"), 0o644, "root"))
            .unwrap();
        let err = build(&b.finish(MTIME).unwrap(), &def, "2.15.1", Compression::Gzip).unwrap_err();
        assert!(
            err.to_string().contains("owned by nimsforest:nimsforest"),
            "{err}"
        );
    }

    #[test]
    fn clashes_and_mismatches_are_refused() {
        let dir = definition_dir();
        let def = DebianDefinition::load(dir.path()).unwrap();
        let mut b = TreeBuilder::new();
        b.add(entry(
            "/usr/share/doc/nimsforest-nats/copyright",
            file(b"x"),
            0o644,
            "root",
        ))
        .unwrap();
        assert!(build(&b.finish(MTIME).unwrap(), &def, "2.15.1", Compression::Gzip).is_err());

        let mut b = TreeBuilder::new();
        b.add(Entry {
            config: true,
            ..entry("/etc/nimsforest", EntryKind::Dir, 0o755, "root")
        })
        .unwrap();
        assert!(build(&b.finish(MTIME).unwrap(), &def, "2.15.1", Compression::Gzip).is_err());

        let other = PackageId {
            name: "other".into(),
            ..pkg("2.15.1")
        };
        assert!(write_deb(
            &tree(),
            &other,
            Arch::Amd64,
            &def,
            Compression::Gzip,
            &mut Vec::new()
        )
        .is_err());
    }

    #[test]
    fn bad_definitions_are_refused_at_load() {
        let dir = definition_dir();
        std::fs::write(dir.path().join("preinst"), "#!/bin/sh\n#DEBHELPER#\n").unwrap();
        assert!(DebianDefinition::load(dir.path()).is_err());
        std::fs::write(dir.path().join("preinst"), "set -e\n").unwrap();
        assert!(DebianDefinition::load(dir.path()).is_err());
        std::fs::write(dir.path().join("preinst"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("nimsforest-nats.preinst"), "#!/bin/sh\n").unwrap();
        assert!(DebianDefinition::load(dir.path()).is_err());
        std::fs::remove_file(dir.path().join("preinst")).unwrap();
        DebianDefinition::load(dir.path()).unwrap();
        std::fs::write(
            dir.path().join("changelog"),
            CHANGELOG.replace("nimsforest-nats (", "other ("),
        )
        .unwrap();
        assert!(DebianDefinition::load(dir.path()).is_err());
        std::fs::remove_file(dir.path().join("changelog")).unwrap();
        assert!(matches!(
            DebianDefinition::load(dir.path()),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn the_repository_definition_loads_and_builds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("debian");
        let def = DebianDefinition::load(&dir).unwrap();
        assert_eq!(def.package(), "nimsforest-nats");
        let deb = build(&tree(), &def, "2.15.1", Compression::Gzip).unwrap();
        let control = untar(ar::read(&deb)[1].data, Compression::Gzip);
        let control = String::from_utf8(
            control
                .iter()
                .find(|e| e.name == "./control")
                .unwrap()
                .data
                .clone(),
        )
        .unwrap();
        assert!(control
            .starts_with("Package: nimsforest-nats\nVersion: 2.15.1-1\nArchitecture: amd64\n"));
    }
}
