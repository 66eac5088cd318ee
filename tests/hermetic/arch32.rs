//! The 32-bit arches (386, arm7, arm6). No upstream 32-bit binary reaches the test
//! machine, so the fixture's 2.9.10 release carries Debian 12's own builds of nats-server,
//! repacked in upstream's layout: real i386, armhf and armel executables. They are built
//! into packages of both formats, read back, linted, and used to check the ELF refusals
//! across 32 and 64 bits. (Debian's builds are dynamically linked, upstream's static:
//! what that changes is said where it matters below and in the README.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::harness::*;

/// (upstream arch, Debian arch, RPM arch)
const ARCHES: [(&str, &str, &str); 3] = [
    ("386", "i386", "i686"),
    ("arm7", "armhf", "armv7hl"),
    ("arm6", "armel", "armv6hl"),
];

/// The 32-bit release built once, pinned in a pins file by `pin --pins`.
fn release32() -> &'static Project {
    static RELEASE: OnceLock<Project> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let project = Project::new();
        let url = &MirrorServer::shared().url;
        let pins = s(&pins_file(&project)).to_string();
        project.ok(&["pin", DEBIAN_32BIT, "--mirror", url, "--pins", &pins]);
        project.ok(&["build", "--mirror", url, "--pins", &pins]);
        project
    })
}

fn pins_file(project: &Project) -> PathBuf {
    project.path().join("pins-32bit.toml")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn deb(debian_arch: &str) -> PathBuf {
    release32().dist().join(format!(
        "nimsforest-nats_{DEBIAN_32BIT}-1_{debian_arch}.deb"
    ))
}

fn rpm(rpm_arch: &str) -> PathBuf {
    release32()
        .dist()
        .join(format!("nimsforest-nats-{DEBIAN_32BIT}-1.{rpm_arch}.rpm"))
}

#[test]
fn every_32bit_arch_builds_in_both_formats() {
    for (upstream, debian, rpm_arch) in ARCHES {
        let control = tool_ok("dpkg-deb", &["--field", s(&deb(debian)), "Architecture"]);
        assert_eq!(control.trim(), debian, "{upstream}");
        let header = tool_ok(
            "rpm",
            &["-qp", "--nosignature", "--qf", "%{ARCH}", s(&rpm(rpm_arch))],
        );
        assert_eq!(header, rpm_arch, "{upstream}");
        // The packaged server is the release's binary, byte for byte.
        let unpacked = tempfile::tempdir().unwrap();
        tool_ok(
            "dpkg-deb",
            &["--extract", s(&deb(debian)), s(unpacked.path())],
        );
        let packaged = std::fs::read(unpacked.path().join("opt/nimsforest/bin/nats-server"))
            .expect("the server in the .deb");
        assert!(
            packaged == fixture_binary(DEBIAN_32BIT, upstream),
            "{upstream}: the packaged binary differs from the release's"
        );
    }
}

/// What lintian and rpmlint report for Debian's 32-bit builds that they would not for
/// upstream's: Debian links nats-server dynamically against glibc, as a position-dependent
/// executable, and strips it; upstream's builds (the 64-bit ones here, and the real 32-bit
/// ones) are static and unstripped, which is what the package's overrides describe.
const LINTIAN_DEBIAN_BUILD_ONLY: [&str; 2] = ["missing-dependency-on-libc", "hardening-no-pie"];
const RPMLINT_DEBIAN_BUILD_ONLY: [&str; 2] = [
    "unused-rpmlintrc-filter \"nimsforest-nats\\.\\S+: E: statically-linked-binary",
    "unused-rpmlintrc-filter \"nimsforest-nats\\.\\S+: W: unstripped-binary-or-object",
];

#[test]
fn lintian_checks_the_32bit_debs() {
    // lintian compares each ELF file with the package's architecture
    // (binary-from-other-architecture) besides its usual checks.
    let debs: Vec<PathBuf> = ARCHES.iter().map(|(_, d, _)| deb(d)).collect();
    let args: Vec<&str> = debs.iter().map(|p| s(p)).collect();
    let (_, text) = tool("lintian", &args);
    println!("{text}");
    let mut tags: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    tags.sort();
    tags.dedup();
    let mut expected = LINTIAN_DEBIAN_BUILD_ONLY.to_vec();
    expected.sort();
    assert_eq!(tags, expected, "lintian findings:\n{text}");
}

#[test]
fn rpmlint_checks_the_32bit_rpms() {
    let rc = repo_root().join("rpm/nimsforest-nats.rpmlintrc");
    let rpms: Vec<PathBuf> = ARCHES.iter().map(|(_, _, r)| rpm(r)).collect();
    let mut args = vec!["-r", s(&rc)];
    args.extend(rpms.iter().map(|p| s(p)));
    let (_, text) = tool("rpmlint", &args);
    println!("{text}");
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": E: ") || l.contains(": W: "))
        .collect();
    assert_eq!(findings.len(), RPMLINT_DEBIAN_BUILD_ONLY.len(), "{text}");
    for expected in RPMLINT_DEBIAN_BUILD_ONLY {
        assert!(
            findings.iter().any(|f| f.contains(expected)),
            "{expected}:\n{text}"
        );
    }
}

/// Builds `arch` from a copy of the 32-bit release whose tarball for it carries another
/// arch's real binary (SHA256SUMS and pins agreeing), and returns the error.
fn build_with_foreign_binary(arch: &str, binary: &[u8]) -> String {
    let release = release_copy(DEBIAN_32BIT);
    let top = format!("nats-server-v{DEBIAN_32BIT}-linux-{arch}");
    let data = crafted_tarball(&[(
        &format!("{top}/nats-server"),
        tar::EntryType::Regular,
        binary,
    )]);
    replace_tarball(release.path(), DEBIAN_32BIT, arch, &data);
    let server = MirrorServer::start(release.path());
    let project = Project::new();
    let pins = s(&pins_file(&project)).to_string();
    project.ok(&[
        "pin",
        DEBIAN_32BIT,
        "--mirror",
        &server.url,
        "--pins",
        &pins,
    ]);
    let (stderr, code) = project.fails(&[
        "build",
        "--arch",
        arch,
        "--mirror",
        &server.url,
        "--pins",
        &pins,
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(!project.dist().exists() || snapshot(&project.dist()).is_empty());
    stderr
}

#[test]
fn a_binary_of_the_wrong_width_or_machine_is_refused() {
    let tarball = |arch: &str| release_tarball(DEBIAN_32BIT, arch);
    // 64-bit where 32-bit belongs.
    let stderr = build_with_foreign_binary("386", &fixture_binary(NEW, "amd64"));
    assert!(
        stderr.contains(&format!(
            "{}: nats-server is not a 386 binary: expected ELF32 little-endian e_machine 3, found ELF64 little-endian e_machine 62",
            tarball("386")
        )),
        "{stderr}"
    );
    // Another 32-bit machine.
    let stderr = build_with_foreign_binary("arm7", &fixture_binary(DEBIAN_32BIT, "386"));
    assert!(
        stderr.contains("not a arm7 binary: expected ELF32 little-endian e_machine 40, found ELF32 little-endian e_machine 3"),
        "{stderr}"
    );
    // 32-bit ARM where 64-bit ARM belongs: the other way round, through the library.
    let err = nimsforest_pkg::stage::extract::check_elf(
        &fixture_binary(DEBIAN_32BIT, "arm7"),
        "arm64".parse().unwrap(),
        "t.tar.gz",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "expected ELF64 little-endian e_machine 183, found ELF32 little-endian e_machine 40"
        ),
        "{err}"
    );
}

#[test]
fn every_real_binary_passes_for_its_arch_only() {
    use nimsforest_pkg::definition::Arch;
    use nimsforest_pkg::stage::extract::check_elf;
    let binaries: Vec<(&str, Arch, Vec<u8>)> = FIXTURE_ARCHES
        .iter()
        .map(|a| (NEW, *a))
        .chain(ARCHES.iter().map(|(a, _, _)| (DEBIAN_32BIT, *a)))
        .map(|(version, arch)| {
            (
                version,
                arch.parse().unwrap(),
                fixture_binary(version, arch),
            )
        })
        .collect();
    for (version, own, binary) in &binaries {
        for arch in Arch::ALL {
            let accepted = check_elf(binary, arch, "t").is_ok();
            // arm7 and arm6 binaries have the same ELF identity (32-bit ARM): the header
            // cannot tell them apart, so each passes for both.
            let arm32 = [Arch::Arm7, Arch::Arm6];
            let same = arch == *own || (arm32.contains(&arch) && arm32.contains(own));
            assert_eq!(accepted, same, "{version} {own} binary checked as {arch}");
        }
    }
}
