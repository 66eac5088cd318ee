//! The .deb writer against its readers: ar, tar and the control files.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::definition::{Arch, Version};
use crate::digest::md5_hex;
use crate::stage::{Entry, EntryKind, TreeBuilder};

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
    write_deb(
        tree,
        &pkg(version),
        Arch::Amd64.into(),
        def,
        c,
        &crate::compress::Resources::for_tests(),
        &mut out,
    )?;
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

    let members = ar::read(&deb).unwrap();
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
        format!("{}  etc/nimsforest/nats.conf", md5_hex(b"port: 4222\n"))
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
        let members = ar::read(&a).unwrap();
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
    let data = untar(ar::read(&deb).unwrap()[2].data, Compression::Gzip);
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
        Arch::Amd64.into(),
        &def,
        Compression::Gzip,
        &crate::compress::Resources::for_tests(),
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
    let control = untar(ar::read(&deb).unwrap()[1].data, Compression::Gzip);
    let control = String::from_utf8(
        control
            .iter()
            .find(|e| e.name == "./control")
            .unwrap()
            .data
            .clone(),
    )
    .unwrap();
    assert!(
        control.starts_with("Package: nimsforest-nats\nVersion: 2.15.1-1\nArchitecture: amd64\n")
    );
}
