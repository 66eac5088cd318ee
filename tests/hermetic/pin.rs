//! `nimsforest-pkg pin`, the pins committed in Cargo.toml (GitHub's) and the fixture
//! mirror's pins, and which of them a build uses.

use nimsforest_pkg::definition::Arch;

use crate::harness::*;

fn fixture_sums(version: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(mirror_root().join(format!("v{version}/SHA256SUMS"))).unwrap();
    text.lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").unwrap();
            (name.to_string(), hash.to_string())
        })
        .collect()
}

/// The pins of a manifest, or of a pins file, as (tarball, hash).
fn pins_in(text: &str) -> Vec<(String, String)> {
    let doc: toml::Table = toml::from_str(text).unwrap();
    let upstream = match doc.get("package") {
        Some(package) => &package["metadata"]["nimsforest"]["upstream"],
        None => &doc["upstream"],
    };
    let version = upstream["version"].as_str().unwrap();
    upstream["sha256"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(arch, hash)| {
            (
                release_tarball(version, arch),
                hash.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn fixture_pins_match_the_fixture_release() {
    let pins = std::fs::read_to_string(fixture_pins()).unwrap();
    let mut pins = pins_in(&pins);
    pins.sort();
    assert_eq!(
        pins,
        fixture_sums(NEW),
        "tests/fixture/pins.toml differs from the fixture mirror's SHA256SUMS"
    );
}

#[test]
fn committed_pins_are_githubs_not_the_fixtures() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let committed = pins_in(&manifest);
    let fixture = pins_in(&std::fs::read_to_string(fixture_pins()).unwrap());
    for (file, hash) in &committed {
        assert!(
            fixture.iter().all(|(_, h)| h != hash),
            "Cargo.toml pins {file} with the fixture mirror's hash: commit GitHub's"
        );
    }
    // Every arch upstream ships for this release, but mips64le (not pinned yet: see the
    // comment in Cargo.toml).
    let pinned: Vec<Arch> = definition().upstream.sha256.keys().copied().collect();
    let expected: Vec<Arch> = Arch::ALL
        .into_iter()
        .filter(|a| *a != Arch::Mips64le)
        .collect();
    assert_eq!(pinned, expected);
    assert_eq!(definition().upstream.version, NEW);
}

#[test]
fn githubs_pins_refuse_the_fixture_release() {
    // The committed manifest, unchanged: its pins are GitHub's, so the test mirror's
    // tarballs are refused (and a build from GitHub would refuse the fixture's pins).
    let project = Project::new();
    std::fs::copy(repo_root().join("Cargo.toml"), project.manifest()).unwrap();
    let mirror = &MirrorServer::shared().url;
    let (stderr, code) = project.fails(&["build", "--arch", "amd64", "--mirror", mirror]);
    assert!(stderr.contains("against the pin in Cargo.toml"), "{stderr}");
    assert_eq!(code, 3, "{stderr}");
    // Asked for explicitly, the fixture's pins build it, and the build says whose pins.
    let out = project
        .command(&[
            "build", "--arch", "amd64", "--format", "deb", "--mirror", mirror, "--pins",
        ])
        .arg(fixture_pins())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "built nats-server {NEW} as pinned in {}",
            fixture_pins().display()
        )),
        "{stderr}"
    );
}

#[test]
fn pin_writes_a_pins_file_that_build_uses() {
    let project = Project::new();
    let before = std::fs::read(project.manifest()).unwrap();
    let mirror = &MirrorServer::shared().url;
    let pins = project.path().join("old-pins.toml");
    let out = project.ok(&[
        "pin",
        OLD,
        "--mirror",
        mirror,
        "--pins",
        pins.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!("pinned nats-server {OLD} in")),
        "{out}"
    );
    let mut written = pins_in(&std::fs::read_to_string(&pins).unwrap());
    written.sort();
    assert_eq!(written, fixture_sums(OLD));
    assert_eq!(
        before,
        std::fs::read(project.manifest()).unwrap(),
        "manifest untouched"
    );
    let built = project.ok(&[
        "build",
        "--arch",
        "arm64",
        "--format",
        "rpm",
        "--mirror",
        mirror,
        "--pins",
        pins.to_str().unwrap(),
    ]);
    assert!(
        built.contains(&format!("nimsforest-nats-{OLD}-1.aarch64.rpm")),
        "{built}"
    );
}

#[test]
fn pin_rewrites_version_and_hashes_keeping_the_file() {
    let project = Project::new();
    let before = std::fs::read_to_string(project.manifest()).unwrap();
    let mirror = &MirrorServer::shared().url;
    let out = project.ok(&["pin", OLD, "--mirror", mirror]);
    assert!(out.contains(&format!("pinned nats-server {OLD}")), "{out}");
    let after = std::fs::read_to_string(project.manifest()).unwrap();

    let mut pins = pins_in(&after);
    pins.sort();
    assert_eq!(pins, fixture_sums(OLD));
    // Everything before the pinned release is untouched, and every comment survives.
    let head = |text: &str| {
        text.split("[package.metadata.nimsforest.upstream]")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(head(&before), head(&after));
    let comments = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(comments(&before), comments(&after));
    assert!(after.contains(&format!("version = \"{OLD}\"")));

    // The re-pinned definition builds the older release.
    let built = project.ok(&[
        "build", "--arch", "amd64", "--format", "deb", "--mirror", mirror,
    ]);
    assert!(
        built.contains(&format!("nimsforest-nats_{OLD}-1_amd64.deb")),
        "{built}"
    );
}

#[test]
fn pin_refuses_a_malformed_version() {
    let project = Project::new();
    let before = std::fs::read(project.manifest()).unwrap();
    for bad in ["2.15", "v2.15.1", "2.15.1/../../x"] {
        let (stderr, code) = project.fails(&["pin", bad, "--mirror", "http://127.0.0.1:9"]);
        assert!(
            stderr.contains(&format!("malformed version '{bad}'")),
            "{stderr}"
        );
        assert_eq!(code, 2, "a bad argument is a usage error");
    }
    assert_eq!(before, std::fs::read(project.manifest()).unwrap());
}

#[test]
fn pin_of_a_missing_release_names_the_url() {
    let project = Project::new();
    let before = std::fs::read(project.manifest()).unwrap();
    let mirror = &MirrorServer::shared().url;
    let (stderr, code) = project.fails(&["pin", "9.9.9", "--mirror", mirror]);
    assert!(
        stderr.contains(&format!("GET {mirror}/v9.9.9/SHA256SUMS: HTTP 404")),
        "{stderr}"
    );
    assert_eq!(code, 4);
    assert_eq!(before, std::fs::read(project.manifest()).unwrap());
}
