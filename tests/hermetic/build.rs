//! A full build of the fixture release, checked with dpkg-deb, lintian, rpm and rpmlint.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::harness::*;

const DEB_ARCHES: [&str; 5] = ["amd64", "arm64", "ppc64el", "s390x", "riscv64"];
const RPM_ARCHES: [&str; 5] = ["x86_64", "aarch64", "ppc64le", "s390x", "riscv64"];

/// The release built once from the committed definition, shared by the tests below.
pub fn release() -> &'static Project {
    static RELEASE: OnceLock<Project> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let project = Project::new();
        project.ok(&["build", "--mirror", &MirrorServer::shared().url]);
        project
    })
}

fn deb(arch: &str) -> PathBuf {
    release()
        .dist()
        .join(format!("nimsforest-nats_{NEW}-1_{arch}.deb"))
}

fn rpm(arch: &str) -> PathBuf {
    release()
        .dist()
        .join(format!("nimsforest-nats-{NEW}-1.{arch}.rpm"))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn every_arch_in_both_formats_with_sha256sums() {
    let dist = release().dist();
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = DEB_ARCHES
        .iter()
        .map(|a| format!("nimsforest-nats_{NEW}-1_{a}.deb"))
        .chain(
            RPM_ARCHES
                .iter()
                .map(|a| format!("nimsforest-nats-{NEW}-1.{a}.rpm")),
        )
        .chain(["SHA256SUMS".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let out = std::process::Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
}

/// `dpkg-deb --contents` as (permissions, owner, path) lines.
fn deb_listing(path: &Path) -> Vec<String> {
    tool_ok("dpkg-deb", &["--contents", s(path)])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {}", f[0], f[1], f[5])
        })
        .collect()
}

/// What the .deb ships. Directories and files owned by the service user are not in the
/// data tar (Debian policy 10.9): the postinst creates them and sets their owners.
const DEB_CONTENTS: &[&str] = &[
    "drwxr-xr-x root/root ./",
    "drwxr-xr-x root/root ./etc/",
    "drwxr-xr-x root/root ./etc/nimsforest/",
    "-rw-r--r-- root/root ./etc/nimsforest/nats.conf",
    "drwxr-xr-x root/root ./opt/nimsforest/",
    "drwxr-xr-x root/root ./opt/nimsforest/bin/",
    "-rwxr-xr-x root/root ./opt/nimsforest/bin/nats-server",
    "-rwxr-xr-x root/root ./opt/nimsforest/bin/nimsforest-cluster-conf",
    "-rwxr-xr-x root/root ./opt/nimsforest/bin/nimsforest-nats-ready",
    "-rwxr-xr-x root/root ./opt/nimsforest/bin/nimsforest-sizing",
    "drwxr-xr-x root/root ./usr/",
    "drwxr-xr-x root/root ./usr/lib/",
    "drwxr-xr-x root/root ./usr/lib/systemd/",
    "drwxr-xr-x root/root ./usr/lib/systemd/system/",
    "-rw-r--r-- root/root ./usr/lib/systemd/system/nimsforest-nats.service",
    "drwxr-xr-x root/root ./usr/lib/sysusers.d/",
    "-rw-r--r-- root/root ./usr/lib/sysusers.d/nimsforest-nats.conf",
    "drwxr-xr-x root/root ./usr/lib/tmpfiles.d/",
    "-rw-r--r-- root/root ./usr/lib/tmpfiles.d/nimsforest-nats.conf",
    "drwxr-xr-x root/root ./usr/share/",
    "drwxr-xr-x root/root ./usr/share/doc/",
    "drwxr-xr-x root/root ./usr/share/doc/nimsforest-nats/",
    "-rw-r--r-- root/root ./usr/share/doc/nimsforest-nats/changelog.Debian.gz",
    "-rw-r--r-- root/root ./usr/share/doc/nimsforest-nats/copyright",
    "drwxr-xr-x root/root ./usr/share/lintian/",
    "drwxr-xr-x root/root ./usr/share/lintian/overrides/",
    "-rw-r--r-- root/root ./usr/share/lintian/overrides/nimsforest-nats",
];

#[test]
fn deb_contents_owners_and_modes() {
    for arch in DEB_ARCHES {
        assert_eq!(deb_listing(&deb(arch)), DEB_CONTENTS, "{arch}");
    }
}

#[test]
fn deb_control_fields_conffiles_and_scripts() {
    for arch in DEB_ARCHES {
        let path = deb(arch);
        let field = |name: &str| {
            tool_ok("dpkg-deb", &["--field", s(&path), name])
                .trim()
                .to_string()
        };
        assert_eq!(field("Package"), "nimsforest-nats");
        assert_eq!(field("Version"), format!("{NEW}-1"));
        assert_eq!(field("Architecture"), arch);
        let binary_kib = std::fs::metadata(
            extract_deb(&path)
                .path()
                .join("opt/nimsforest/bin/nats-server"),
        )
        .unwrap()
        .len()
            / 1024;
        let installed: u64 = field("Installed-Size").parse().unwrap();
        assert!(
            installed > binary_kib && installed < binary_kib + 100,
            "Installed-Size {installed}"
        );
        assert!(
            field("Depends").contains("init-system-helpers"),
            "{}",
            field("Depends")
        );
        assert!(
            field("Pre-Depends").contains("passwd"),
            "{}",
            field("Pre-Depends")
        );

        let conffiles = tool_ok("dpkg-deb", &["--info", s(&path), "conffiles"]);
        assert_eq!(conffiles, "/etc/nimsforest/nats.conf\n");
        let info = tool_ok("dpkg-deb", &["--info", s(&path)]);
        for script in [
            "preinst", "postinst", "prerm", "postrm", "md5sums", "control",
        ] {
            assert!(
                info.contains(&format!(" {script}")),
                "{script} missing:\n{info}"
            );
        }
    }
}

fn extract_deb(path: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tool_ok("dpkg-deb", &["-x", s(path), s(dir.path())]);
    dir
}

#[test]
fn deb_md5sums_match_and_binary_is_upstreams() {
    for (arch, upstream) in DEB_ARCHES.iter().zip(FIXTURE_ARCHES) {
        let path = deb(arch);
        let root = extract_deb(&path);
        let md5sums = tool_ok("dpkg-deb", &["--info", s(&path), "md5sums"]);
        let listed = md5sums.lines().count();
        let regular_files = deb_listing(&path)
            .iter()
            .filter(|l| l.starts_with('-'))
            .count();
        assert_eq!(listed, regular_files, "md5sums covers every file");
        let out = std::process::Command::new("md5sum")
            .args(["--check", "--strict", "-"])
            .current_dir(root.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(md5sums.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );

        // The server binary is upstream's, byte for byte.
        let shipped = std::fs::read(root.path().join("opt/nimsforest/bin/nats-server")).unwrap();
        let tarball =
            mirror_root().join(format!("v{NEW}/nats-server-v{NEW}-linux-{upstream}.tar.gz"));
        let unpacked = tempfile::tempdir().unwrap();
        tool_ok("tar", &["-xzf", s(&tarball), "-C", s(unpacked.path())]);
        let original = std::fs::read(
            unpacked
                .path()
                .join(format!("nats-server-v{NEW}-linux-{upstream}/nats-server")),
        )
        .unwrap();
        assert!(
            shipped == original,
            "{arch}: packaged binary differs from upstream's"
        );
    }
}

#[test]
fn lintian_reports_no_errors_or_warnings() {
    let debs: Vec<PathBuf> = DEB_ARCHES.iter().map(|a| deb(a)).collect();
    let lintian = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(debs.iter().map(|p| s(p)));
        tool("lintian", &args)
    };
    let (ok, text) = lintian(&["--fail-on", "error,warning", "--display-info"]);
    println!("{text}");
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(ok && findings.is_empty(), "lintian findings:\n{text}");
    // The shipped overrides are used (each carries its reason in debian/).
    let (_, overridden) = lintian(&["--show-overrides"]);
    for tag in [
        "dir-or-file-in-opt",
        "statically-linked-binary",
        "unstripped-binary-or-object",
    ] {
        assert!(
            overridden.contains(&format!("O: nimsforest-nats: {tag}")),
            "override {tag} unused:\n{overridden}"
        );
    }
}

/// `rpm -qp` file list as (permissions, user, group, config flags, path) lines.
fn rpm_listing(path: &Path) -> Vec<String> {
    tool_ok(
        "rpm",
        &["-qp", "--nosignature", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]", s(path)],
    )
    .lines()
    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    .collect()
}

/// What the .rpm owns: permissions, user, group, flags (c config, n noreplace, d doc,
/// l license), path. Shared parents (/etc, /usr/lib, /var/lib) belong to `filesystem`.
const RPM_CONTENTS: &[&str] = &[
    "drwxr-xr-x root root /etc/nimsforest",
    "-rw-r----- root nimsforest cn /etc/nimsforest/nats.conf",
    "drwxr-xr-x root root /opt/nimsforest",
    "drwxr-xr-x root root /opt/nimsforest/bin",
    "-rwxr-xr-x root root /opt/nimsforest/bin/nats-server",
    "-rwxr-xr-x root root /opt/nimsforest/bin/nimsforest-cluster-conf",
    "-rwxr-xr-x root root /opt/nimsforest/bin/nimsforest-nats-ready",
    "-rwxr-xr-x root root /opt/nimsforest/bin/nimsforest-sizing",
    "-rw-r--r-- root root /usr/lib/systemd/system/nimsforest-nats.service",
    "-rw-r--r-- root root /usr/lib/sysusers.d/nimsforest-nats.conf",
    "-rw-r--r-- root root /usr/lib/tmpfiles.d/nimsforest-nats.conf",
    "drwxr-xr-x root root /usr/share/doc/nimsforest-nats",
    "-rw-r--r-- root root d /usr/share/doc/nimsforest-nats/README",
    "drwxr-xr-x root root /usr/share/licenses/nimsforest-nats",
    "-rw-r--r-- root root l /usr/share/licenses/nimsforest-nats/copyright",
    "drwxr-x--- nimsforest nimsforest /var/lib/nimsforest",
    "drwxr-x--- nimsforest nimsforest /var/lib/nimsforest/data",
    "drwxr-x--- nimsforest nimsforest /var/lib/nimsforest/jetstream",
    "drwxr-x--- nimsforest nimsforest /var/log/nimsforest",
];

#[test]
fn rpm_header_files_owners_and_modes() {
    for arch in RPM_ARCHES {
        let path = rpm(arch);
        let header = tool_ok(
            "rpm",
            &[
                "-qp",
                "--nosignature",
                "--qf",
                "%{NAME} %{VERSION} %{RELEASE} %{ARCH}",
                s(&path),
            ],
        );
        assert_eq!(header, format!("nimsforest-nats {NEW} 1 {arch}"));
        assert_eq!(rpm_listing(&path), RPM_CONTENTS, "{arch}");
        let scripts = tool_ok("rpm", &["-qp", "--nosignature", "--scripts", s(&path)]);
        for phase in ["preinstall", "postinstall", "preuninstall", "postuninstall"] {
            assert!(
                scripts.contains(&format!("{phase} scriptlet (using /bin/sh)")),
                "{phase}:\n{scripts}"
            );
        }
        let info = tool_ok("rpm", &["-qp", "--nosignature", "--info", s(&path)]);
        assert!(info.contains("License"), "{info}");
    }
}

#[test]
fn rpm_digests_are_sha256_and_verify() {
    for arch in RPM_ARCHES {
        let path = rpm(arch);
        let out = tool_ok("rpm", &["-K", "--nosignature", s(&path)]);
        assert!(out.trim_end().ends_with("digests OK"), "{out}");
        let algo = tool_ok(
            "rpm",
            &[
                "-qp",
                "--nosignature",
                "--qf",
                "%{FILEDIGESTALGO}",
                s(&path),
            ],
        );
        assert_eq!(algo, "8", "file digests are SHA-256");
    }
}

#[test]
fn rpmlint_reports_no_errors() {
    let rc = repo_root().join("rpm/nimsforest-nats.rpmlintrc");
    let rpms: Vec<PathBuf> = RPM_ARCHES.iter().map(|a| rpm(a)).collect();
    let mut args = vec!["-r", s(&rc)];
    args.extend(rpms.iter().map(|p| s(p)));
    let (ok, text) = tool("rpmlint", &args);
    println!("{text}");
    assert!(ok, "rpmlint failed:\n{text}");
    assert!(
        text.contains(" 0 errors, 0 warnings"),
        "rpmlint findings:\n{text}"
    );
}

#[test]
fn builds_are_reproducible_to_the_byte() {
    // A second build: another directory, a cold cache, another umask and time zone, later.
    let other = Project::new();
    let mut cmd = other.command(&["build", "--mirror", &MirrorServer::shared().url]);
    cmd.env("TZ", "Pacific/Kiritimati");
    let umask_wrapped = std::process::Command::new("sh")
        .args(["-c", "umask 0077 && exec \"$@\"", "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(other.path())
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        umask_wrapped.status.success(),
        "{}",
        String::from_utf8_lossy(&umask_wrapped.stderr)
    );
    let first = snapshot(&release().dist());
    let second = snapshot(&other.dist());
    assert_eq!(first.len(), second.len());
    for ((name_a, data_a), (name_b, data_b)) in first.iter().zip(&second) {
        assert_eq!(name_a, name_b);
        assert!(
            data_a == data_b,
            "{} differs between builds",
            name_a.display()
        );
    }
}

#[test]
fn a_cached_rebuild_needs_no_network() {
    let project = release();
    let out = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: any download attempt would fail.
    project.ok(&[
        "build",
        "--mirror",
        "http://127.0.0.1:9",
        "--out",
        s(out.path()),
    ]);
    assert_eq!(snapshot(out.path()), snapshot(&project.dist()));
}

#[test]
fn source_date_epoch_sets_every_mtime() {
    let project = Project::new();
    let mut cmd = project.command(&[
        "build",
        "--arch",
        "amd64",
        "--format",
        "deb",
        "--mirror",
        &MirrorServer::shared().url,
    ]);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = tool_ok(
        "dpkg-deb",
        &[
            "--contents",
            s(&project
                .dist()
                .join(format!("nimsforest-nats_{NEW}-1_amd64.deb"))),
        ],
    );
    for line in listing.lines() {
        assert!(line.contains("2023-11-14 22:13"), "{line}");
    }
}

#[test]
fn deb_compression_is_selectable() {
    let project = Project::new();
    for (algo, member) in [
        ("zstd", "data.tar.zst"),
        ("gzip", "data.tar.gz"),
        ("xz", "data.tar.xz"),
    ] {
        let out = tempfile::tempdir().unwrap();
        project.ok(&[
            "build",
            "--arch",
            "amd64",
            "--format",
            "deb",
            "--deb-compression",
            algo,
            "--mirror",
            &MirrorServer::shared().url,
            "--out",
            s(out.path()),
        ]);
        let path = out
            .path()
            .join(format!("nimsforest-nats_{NEW}-1_amd64.deb"));
        let members = tool_ok("ar", &["t", s(&path)]);
        assert!(members.lines().any(|m| m == member), "{algo}: {members}");
        assert_eq!(members.lines().next(), Some("debian-binary"));
        assert_eq!(deb_listing(&path), DEB_CONTENTS, "{algo}");
    }
}

#[test]
fn revision_override_names_the_packages() {
    let project = Project::new();
    let out = project.ok(&[
        "build",
        "--arch",
        "arm64",
        "--revision",
        "7",
        "--mirror",
        &MirrorServer::shared().url,
    ]);
    assert!(
        out.contains(&format!("nimsforest-nats_{NEW}-7_arm64.deb")),
        "{out}"
    );
    assert!(
        out.contains(&format!("nimsforest-nats-{NEW}-7.aarch64.rpm")),
        "{out}"
    );
}

/// A rebuild from the warm caches writes the same bytes as the cold build, and a new
/// revision compresses no block of a server binary again: every one comes from the cache.
#[test]
fn a_warm_rebuild_is_the_same_and_a_new_revision_compresses_no_binary_again() {
    let project = release();
    let blocks = project.cache.join("xz-blocks");
    let count = || {
        std::fs::read_dir(&blocks)
            .unwrap()
            .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum::<usize>()
    };
    let cached = count();
    // At least one block for each arch's binary, shared by its .deb and .rpm.
    let arches = snapshot(&release().dist())
        .iter()
        .filter(|(name, _)| name.extension().is_some_and(|e| e == "deb"))
        .count();
    assert!(
        arches >= 5 && cached >= arches,
        "{cached} blocks for {arches} arches"
    );

    let again = tempfile::tempdir().unwrap();
    let out = again.path().join("warm");
    let url = &MirrorServer::shared().url;
    project.ok(&["build", "--mirror", url, "--out", out.to_str().unwrap()]);
    assert_eq!(snapshot(&release().dist()), snapshot(&out));

    let revised = again.path().join("revised");
    project.ok(&[
        "build",
        "--mirror",
        url,
        "--revision",
        "2",
        "--out",
        revised.to_str().unwrap(),
    ]);
    assert_eq!(count(), cached, "a block was compressed again");
    let deb = revised.join(format!("nimsforest-nats_{NEW}-2_amd64.deb"));
    let rpm = revised.join(format!("nimsforest-nats-{NEW}-2.x86_64.rpm"));
    assert!(deb.is_file() && rpm.is_file());
    let checked = tool_ok("rpm", &["-K", "--nosignature", rpm.to_str().unwrap()]);
    assert!(checked.contains("digests OK"), "{checked}");
    let contents = tool_ok("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    assert!(
        contents.contains("./opt/nimsforest/bin/nats-server"),
        "{contents}"
    );
}
