//! `nimsforest-pkg pin` and the pins committed in Cargo.toml.

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

fn pins_in(manifest: &str) -> Vec<(String, String)> {
    let doc: toml::Table = toml::from_str(manifest).unwrap();
    let upstream = &doc["package"]["metadata"]["nimsforest"]["upstream"];
    let version = upstream["version"].as_str().unwrap();
    upstream["sha256"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(arch, hash)| {
            (
                format!("nats-server-v{version}-linux-{arch}.tar.gz"),
                hash.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn committed_pins_match_the_fixture_release() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let mut pins = pins_in(&manifest);
    pins.sort();
    assert_eq!(
        pins,
        fixture_sums(NEW),
        "Cargo.toml pins differ from the fixture mirror's SHA256SUMS"
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
        let (stderr, _) = project.fails(&["pin", bad, "--mirror", "http://127.0.0.1:9"]);
        assert!(
            stderr.contains(&format!("malformed version '{bad}'")),
            "{stderr}"
        );
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
