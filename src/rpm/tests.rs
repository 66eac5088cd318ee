//! The RPM writer, read back with the `rpm` crate.

use std::path::Path;
use std::sync::Arc;

use std::io::Read;

use ::rpm::{DependencyFlags, DigestAlgorithm, FileFlags, FileType, IndexSignatureTag, Package};
use sha2::{Digest, Sha256};

use super::*;
use crate::definition::{Arch, Version};
use crate::stage::{Entry, TreeBuilder};

const MTIME: u64 = 1_760_155_140;

fn entry(path: &str, kind: EntryKind, mode: u32, owner: (&str, &str), config: bool) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        user: owner.0.into(),
        group: owner.1.into(),
        config,
        owned: true,
    }
}

fn file(bytes: &[u8]) -> EntryKind {
    EntryKind::File(Arc::new(bytes.to_vec()))
}

/// The NimsForest node layout, with `binary` as the server.
fn node_tree(binary: Vec<u8>, assets: &dyn Fn(&str) -> Vec<u8>) -> StagedTree {
    let root = ("root", "root");
    let svc = ("nimsforest", "nimsforest");
    let mut b = TreeBuilder::new();
    let entries = [
        entry("/opt/nimsforest", EntryKind::Dir, 0o755, root, false),
        entry("/opt/nimsforest/bin", EntryKind::Dir, 0o755, root, false),
        entry(
            "/opt/nimsforest/bin/nats-server",
            EntryKind::File(Arc::new(binary)),
            0o755,
            root,
            false,
        ),
        entry(
            "/opt/nimsforest/bin/nimsforest-cluster-conf",
            file(&assets("nimsforest-cluster-conf")),
            0o755,
            root,
            false,
        ),
        entry("/etc/nimsforest", EntryKind::Dir, 0o755, root, false),
        entry(
            "/etc/nimsforest/nats.conf",
            file(&assets("nats.conf")),
            0o640,
            ("root", "nimsforest"),
            true,
        ),
        entry(
            "/usr/lib/systemd/system/nimsforest-nats.service",
            file(&assets("nimsforest-nats.service")),
            0o644,
            root,
            false,
        ),
        entry(
            "/usr/lib/sysusers.d/nimsforest-nats.conf",
            file(&assets("sysusers.conf")),
            0o644,
            root,
            false,
        ),
        entry(
            "/usr/lib/tmpfiles.d/nimsforest-nats.conf",
            file(&assets("tmpfiles.conf")),
            0o644,
            root,
            false,
        ),
        entry("/var/lib/nimsforest", EntryKind::Dir, 0o750, svc, false),
        entry(
            "/var/lib/nimsforest/data",
            EntryKind::Dir,
            0o750,
            svc,
            false,
        ),
        entry(
            "/var/lib/nimsforest/jetstream",
            EntryKind::Dir,
            0o750,
            svc,
            false,
        ),
        entry("/var/log/nimsforest", EntryKind::Dir, 0o750, svc, false),
    ];
    for e in entries {
        b.add(e).unwrap();
    }
    b.finish(MTIME).unwrap()
}

fn fake_asset(name: &str) -> Vec<u8> {
    match name {
        "sysusers.conf" => {
            b"u nimsforest - \"NimsForest NATS server\" /var/lib/nimsforest /usr/sbin/nologin\n"
                .to_vec()
        }
        "nimsforest-cluster-conf" => b"#!/bin/sh\nexit 0\n".to_vec(),
        other => format!("# {other}\n").into_bytes(),
    }
}

const FIELDS: &str = r#"
summary = "NATS messaging server set up as a NimsForest node"
license = "Apache-2.0"
url = "https://github.com/nimsforest"
vendor = "NimsForest"
packager = "NimsForest Maintainers <maintainers@nimsforest.com>"
license-files = ["LICENSE"]
doc-files = ["README"]
group = "System Environment/Daemons"
description = """
A test description.
"""
requires = ["/bin/sh"]
[scriptlet-requires]
pre = ["/usr/bin/getent", "shadow-utils"]
post = ["coreutils >= 8"]
[[changelog]]
date = 2025-10-01
author = "A <a@example.com>"
version = "2.15.0-1"
changes = ["Older.", """Two
  lines."""]
"#;

/// A definition directory with every scriptlet but posttrans.
fn definition_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(fields_file("nimsforest-nats")), FIELDS).unwrap();
    std::fs::write(dir.path().join("LICENSE"), "Apache License\n").unwrap();
    std::fs::write(dir.path().join("README"), "Read me.\n").unwrap();
    for phase in [Phase::Pre, Phase::Post, Phase::Preun, Phase::Postun] {
        let body = format!("# {}\necho {}\n", phase.file_name(), phase.key());
        std::fs::write(dir.path().join(phase.file_name()), body).unwrap();
    }
    dir
}

fn id() -> PackageId {
    PackageId {
        name: "nimsforest-nats".into(),
        version: Version::new("2.15.1", "1").unwrap(),
    }
}

fn build_bytes(tree: &StagedTree, def: &RpmDefinition) -> Vec<u8> {
    let mut out = Vec::new();
    write_rpm(
        tree,
        &id(),
        Arch::Amd64.into(),
        def,
        &crate::compress::Resources::for_tests(),
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn package_reads_back_with_its_files_owners_and_scriptlets() {
    let dir = definition_dir();
    let def = RpmDefinition::load(dir.path(), "nimsforest-nats").unwrap();
    let binary = b"\x7fELF pretend server".to_vec();
    let tree = node_tree(binary.clone(), &fake_asset);
    let bytes = build_bytes(&tree, &def);
    let pkg = Package::parse(&mut bytes.as_slice()).unwrap();
    let md = &pkg.metadata;

    assert_eq!(md.get_name().unwrap(), "nimsforest-nats");
    assert_eq!(md.get_version().unwrap(), "2.15.1");
    assert_eq!(md.get_release().unwrap(), "1");
    assert_eq!(md.get_arch().unwrap(), "x86_64");
    assert_eq!(md.get_license().unwrap(), "Apache-2.0");
    assert_eq!(md.get_description().unwrap(), "A test description.");
    assert_eq!(md.get_build_host().unwrap(), BUILD_HOST);
    assert_eq!(md.get_group().unwrap(), "System Environment/Daemons");
    assert_eq!(md.get_build_time().unwrap(), MTIME);
    assert_eq!(
        md.get_payload_compressor().unwrap(),
        ::rpm::CompressionType::Xz
    );
    assert_eq!(
        md.get_file_digest_algorithm().unwrap(),
        DigestAlgorithm::Sha2_256
    );
    pkg.verify_digests().unwrap();

    // One line per file: path, type, mode, owner, flags (as `rpm -qp --dump` would say).
    let files: Vec<String> = md
        .get_file_entries()
        .unwrap()
        .into_iter()
        .map(|f| {
            assert_eq!(
                u64::from(u32::from(f.modified_at())),
                MTIME,
                "{:?}",
                f.path()
            );
            let kind = match f.file_type() {
                FileType::Dir => "dir",
                FileType::Regular => "file",
                other => panic!("unexpected {other:?}"),
            };
            let flags = f.flags();
            let flags = [
                (FileFlags::CONFIG, "config"),
                (FileFlags::NOREPLACE, "noreplace"),
                (FileFlags::DOC, "doc"),
                (FileFlags::LICENSE, "license"),
            ]
            .iter()
            .filter(|(flag, _)| flags.contains(*flag))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(",");
            format!(
                "{} {kind} {:o} {}:{} {flags}",
                f.path().display(),
                f.permissions(),
                f.user(),
                f.group()
            )
            .trim_end()
            .to_string()
        })
        .collect();
    let expected = [
        "/etc/nimsforest dir 755 root:root",
        "/etc/nimsforest/nats.conf file 640 root:nimsforest config,noreplace",
        "/opt/nimsforest dir 755 root:root",
        "/opt/nimsforest/bin dir 755 root:root",
        "/opt/nimsforest/bin/nats-server file 755 root:root",
        "/opt/nimsforest/bin/nimsforest-cluster-conf file 755 root:root",
        "/usr/lib/systemd/system/nimsforest-nats.service file 644 root:root",
        "/usr/lib/sysusers.d/nimsforest-nats.conf file 644 root:root",
        "/usr/lib/tmpfiles.d/nimsforest-nats.conf file 644 root:root",
        "/usr/share/doc/nimsforest-nats dir 755 root:root",
        "/usr/share/doc/nimsforest-nats/README file 644 root:root doc",
        "/usr/share/licenses/nimsforest-nats dir 755 root:root",
        "/usr/share/licenses/nimsforest-nats/LICENSE file 644 root:root license",
        "/var/lib/nimsforest dir 750 nimsforest:nimsforest",
        "/var/lib/nimsforest/data dir 750 nimsforest:nimsforest",
        "/var/lib/nimsforest/jetstream dir 750 nimsforest:nimsforest",
        "/var/log/nimsforest dir 750 nimsforest:nimsforest",
    ];
    assert_eq!(files, expected);

    let server = md
        .find_file_entry(Path::new("/opt/nimsforest/bin/nats-server"))
        .unwrap()
        .unwrap();
    assert_eq!(
        server.digest().unwrap().to_string(),
        hex::encode(Sha256::digest(&binary))
    );

    for (phase, got) in [
        (Phase::Pre, md.get_pre_install_script()),
        (Phase::Post, md.get_post_install_script()),
        (Phase::Preun, md.get_pre_uninstall_script()),
        (Phase::Postun, md.get_post_uninstall_script()),
    ] {
        let got = got.unwrap();
        assert_eq!(Some(got.script.as_str()), def.scriptlet(phase));
        assert_eq!(got.program, Some(vec!["/bin/sh".to_string()]));
    }
    assert!(
        md.get_post_trans_script().is_err(),
        "no posttrans.sh, no %posttrans"
    );

    let requires = md.get_requires().unwrap();
    let has = |name: &str, flag: DependencyFlags| {
        requires
            .iter()
            .any(|d| d.name == name && d.flags.contains(flag))
    };
    assert!(has("shadow-utils", DependencyFlags::SCRIPT_PRE));
    assert!(has("rpmlib(PayloadIsXz)", DependencyFlags::RPMLIB));
    assert!(has("/usr/bin/getent", DependencyFlags::SCRIPT_PRE));
    assert!(has(
        "/bin/sh",
        DependencyFlags::INTERP | DependencyFlags::SCRIPT_POSTUN
    ));
    assert!(requires.iter().any(|d| d.name == "coreutils"
        && d.version == "8"
        && d.flags.contains(DependencyFlags::SCRIPT_POST)));
    assert!(has("/bin/sh", DependencyFlags::ANY));
    let provides = md.get_provides().unwrap();
    assert!(provides.iter().any(|d| d.name == "user(nimsforest)"));

    let log = md.get_changelog_entries().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].name,
        "NimsForest Maintainers <maintainers@nimsforest.com> - 2.15.1-1"
    );
    assert_eq!(log[0].description, "- Package NATS server 2.15.1.");
    assert_eq!(log[0].timestamp, MTIME);
    assert_eq!(log[1].name, "A <a@example.com> - 2.15.0-1");
    assert_eq!(log[1].description, "- Older.\n- Two\n  lines.");
    assert_eq!(log[1].timestamp, 1_759_320_000);
}

/// The decompressed cpio archive of a package read back from its bytes.
fn archive(pkg: &Package) -> Vec<u8> {
    let mut archive = Vec::new();
    liblzma::read::XzDecoder::new(pkg.payload.as_slice())
        .read_to_end(&mut archive)
        .unwrap();
    archive
}

fn signature_archive_size(pkg: &Package) -> Option<u32> {
    pkg.metadata
        .signature
        .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
        .ok()
}

#[test]
fn signature_header_records_the_uncompressed_archive_size() {
    let dir = definition_dir();
    let def = RpmDefinition::load(dir.path(), "nimsforest-nats").unwrap();
    let tree = node_tree(b"\x7fELF pretend server".repeat(1000), &fake_asset);
    let bytes = build_bytes(&tree, &def);
    let pkg = Package::parse(&mut bytes.as_slice()).unwrap();

    let archive = archive(&pkg);
    assert!(archive.starts_with(b"070701"), "a newc cpio archive");
    assert!(archive.len().is_multiple_of(4));
    let trailer = archive.windows(10).rposition(|w| w == b"TRAILER!!!");
    assert!(trailer.is_some_and(|at| archive.len() - at < 16));
    assert_eq!(
        signature_archive_size(&pkg).map(u64::from),
        Some(archive.len() as u64),
        "RPMSIGTAG_PAYLOADSIZE"
    );
    assert_eq!(recorded_archive_size(&pkg), Some(archive.len() as u64));
    assert!(!pkg
        .metadata
        .signature
        .entry_is_present(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE as u32));
    // The size tag is outside what the digests cover; the reserved space is intact.
    pkg.verify_digests().unwrap();
    let reserved = pkg
        .metadata
        .signature
        .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_RESERVEDSPACE)
        .unwrap();
    assert_eq!(
        reserved.len(),
        ::rpm::SignatureHeaderBuilder::DEFAULT_RESERVED_SPACE as usize
    );

    // Past 4 GiB the size goes in the 64-bit tag instead.
    let mut big = pkg.clone();
    set_archive_size(&mut big, 5 << 30).unwrap();
    let sig = &big.metadata.signature;
    assert!(!sig.entry_is_present(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE as u32));
    assert_eq!(
        sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
            .unwrap(),
        5 << 30
    );
}

/// A throwaway ed25519 key, only ever used to sign test packages.
const TEST_KEY: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----

lFgEawlOphYJKwYBBAHaRw8BAQdAYYHM+XFZPNItFRlZgZg/2p3XU3AMUyPUhSJP
bb8xwbEAAPwNN9xF2NkxiIlFjXSdTI6KDFifXTI/ngzdzUSDzhWMTA9CtDFuaW1z
Zm9yZXN0LXBrZyB0ZXN0IGtleSA8dGVzdEBuaW1zZm9yZXN0LmludmFsaWQ+iJAE
ExYIADgWIQRnzRnfzlXWg04JUpTx11BgSRELTQUCawlOpgIbAwULCQgHAgYVCgkI
CwIEFgIDAQIeAQIXgAAKCRDx11BgSRELTSbSAQDJtF2rcBKk4eNPSPdwYjkZv4QW
waNxH6RzNjASfRto7QD+M/UxLxJI/Q2xwUMmdA+I9d5a8PbxgFCQ2L5t9EWxWA8=
=mxSA
-----END PGP PRIVATE KEY BLOCK-----
";

/// The public half of `TEST_KEY`.
const TEST_PUBLIC_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawlOphYJKwYBBAHaRw8BAQdAYYHM+XFZPNItFRlZgZg/2p3XU3AMUyPUhSJP
bb8xwbG0MW5pbXNmb3Jlc3QtcGtnIHRlc3Qga2V5IDx0ZXN0QG5pbXNmb3Jlc3Qu
aW52YWxpZD6IkAQTFggAOBYhBGfNGd/OVdaDTglSlPHXUGBJEQtNBQJrCU6mAhsD
BQsJCAcCBhUKCQgLAgQWAgMBAh4BAheAAAoJEPHXUGBJEQtNJtIBAMm0XatwEqTh
409I93BiORm/hBbBo3EfpHM2MBJ9G2jtAP4z9TEvEkj9DbHBQyZ0D4j13lrw9vGA
UJDYvm30RbFYDw==
=drRu
-----END PGP PUBLIC KEY BLOCK-----
";

#[test]
fn signing_keeps_the_archive_size() {
    use ::rpm::signature::pgp::{Signer, Verifier};
    use ::rpm::signature::Signing;

    let dir = definition_dir();
    let def = RpmDefinition::load(dir.path(), "nimsforest-nats").unwrap();
    let tree = node_tree(b"\x7fELF pretend server".to_vec(), &fake_asset);
    let built = build_rpm(
        &tree,
        &id(),
        Arch::Amd64.into(),
        &def,
        &crate::compress::Resources::for_tests(),
    )
    .unwrap();
    let size = archive(&built).len() as u64;
    let signer = Signer::from_asc(TEST_KEY).unwrap();
    let verifier = Verifier::from_asc(TEST_PUBLIC_KEY).unwrap();
    let at = u32::try_from(MTIME).unwrap();

    // The crate's own signing drops the tag: the reason `sign_rpm` exists. Should this
    // fail, the crate keeps the tag itself and `sign_rpm` is no longer needed.
    let mut plain = built.clone();
    plain.sign_with_timestamp(&signer, at).unwrap();
    assert_eq!(recorded_archive_size(&plain), None);

    let mut signed = built.clone();
    sign_rpm(&mut signed, &signer, at).unwrap();
    let mut bytes = Vec::new();
    signed.write(&mut bytes).unwrap();
    let signed = Package::parse(&mut bytes.as_slice()).unwrap();
    assert_eq!(signature_archive_size(&signed).map(u64::from), Some(size));
    signed.verify_digests().unwrap();
    signed.verify_signature(&verifier).unwrap();
    // Signing twice gives the same bytes (the signature time is fixed).
    let mut again = built.clone();
    sign_rpm(&mut again, &signer, at).unwrap();
    let mut again_bytes = Vec::new();
    again.write(&mut again_bytes).unwrap();
    assert!(bytes == again_bytes);

    // In place: the crate drops the tag, `set_archive_size_in_place` puts it back without
    // changing the file's length or anything after the signature header.
    let file = tempfile::NamedTempFile::new().unwrap();
    built.write_file(file.path()).unwrap();
    let unsigned = std::fs::read(file.path()).unwrap();
    let header = built.header_bytes().unwrap();
    let signature = signer.sign(header.as_slice(), at.into()).unwrap();
    Package::apply_signature_in_place(file.path(), signature).unwrap();
    let dropped = Package::open(file.path()).unwrap();
    assert_eq!(recorded_archive_size(&dropped), None);
    set_archive_size_in_place(file.path()).unwrap();
    let restored_bytes = std::fs::read(file.path()).unwrap();
    assert_eq!(restored_bytes.len(), unsigned.len());
    let tail = header.len() + built.payload.len();
    assert!(restored_bytes[restored_bytes.len() - tail..] == unsigned[unsigned.len() - tail..]);
    let restored = Package::open(file.path()).unwrap();
    assert_eq!(signature_archive_size(&restored).map(u64::from), Some(size));
    restored.verify_digests().unwrap();
    restored.verify_signature(&verifier).unwrap();
    // And again: an in-place signature still fits in what is left of the reserved space.
    let signature = signer.sign(header.as_slice(), at.into()).unwrap();
    Package::apply_signature_in_place(file.path(), signature).unwrap();
    set_archive_size_in_place(file.path()).unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap().len(), unsigned.len());
    let restored = Package::open(file.path()).unwrap();
    assert_eq!(recorded_archive_size(&restored), Some(size));
    restored.verify_signature(&verifier).unwrap();
}

#[test]
fn changelog_gets_an_entry_only_for_an_unlisted_version() {
    let dir = definition_dir();
    let def = RpmDefinition::load(dir.path(), "nimsforest-nats").unwrap();
    assert_eq!(changelog(&def, "2.15.0-1", "2.15.0", MTIME).len(), 1);
    let log = changelog(&def, "2.16.0-1", "2.16.0", 0);
    assert_eq!(log.len(), 2);
    // Never dated before the entry below it.
    assert_eq!(log[0].time, log[1].time);
}

#[test]
fn bad_definitions_are_refused_with_the_file_named() {
    let dir = definition_dir();
    let fields = dir.path().join(fields_file("nimsforest-nats"));
    for (bad, why) in [
        (FIELDS.replace("summary", "sumary"), "unknown key"),
        (
            FIELDS.replace("\"coreutils >= 8\"", "\"coreutils >= \""),
            "dependency",
        ),
        (FIELDS.replace("2025-10-01", "\"yesterday\""), "date"),
        (
            FIELDS.replace("[\"LICENSE\"]", "[\"MISSING\"]"),
            "license file",
        ),
    ] {
        std::fs::write(&fields, bad).unwrap();
        let err = RpmDefinition::load(dir.path(), "nimsforest-nats").unwrap_err();
        assert!(
            matches!(&err, Error::Definition { .. } | Error::Io { .. }),
            "{why}: {err}"
        );
        assert!(
            err.to_string().contains(dir.path().to_str().unwrap()),
            "{why}: {err}"
        );
    }
    std::fs::write(&fields, FIELDS).unwrap();
    std::fs::write(dir.path().join("posttrans.sh"), " \n").unwrap();
    assert!(
        RpmDefinition::load(dir.path(), "nimsforest-nats").is_err(),
        "empty scriptlet"
    );
}

#[test]
fn the_repository_definition_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rpm");
    let def = RpmDefinition::load(&dir, "nimsforest-nats").unwrap();
    assert!(!def.changelog.is_empty());
    assert!(def.summary.len() < 80 && !def.summary.ends_with('.'));
    assert!(def.description.lines().all(|l| l.len() < 80));
}
