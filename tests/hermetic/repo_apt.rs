//! The apt repository writer against the reference tool: `apt-ftparchive packages` on the
//! same .debs gives the same stanzas, byte for byte.

use std::process::Command;

use nimsforest_pkg::store::LocalStore;

use crate::apt_repo::*;
use crate::harness::*;

#[test]
fn packages_stanzas_match_apt_ftparchive() {
    let (repo, took) = repository(signer());
    eprintln!("apt::update for 2 versions x 2 arches took {took:?}");

    let mut ours = Vec::new();
    for arch in ["amd64", "arm64"] {
        let text = std::fs::read_to_string(
            repo.path()
                .join(format!("dists/stable/main/binary-{arch}/Packages")),
        )
        .expect("Packages");
        let versions: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Version: "))
            .collect();
        assert_eq!(versions, [format!("{OLD}-1"), format!("{NEW}-1")], "{arch}");
        ours.extend(stanzas(&text));
    }
    ours.sort();

    let out = Command::new("apt-ftparchive")
        .args(["packages", "pool/"])
        .current_dir(repo.path())
        .output()
        .expect("apt-ftparchive (apt-utils) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reference = stanzas(&String::from_utf8(out.stdout).expect("utf-8"));
    reference.sort();

    let names = |v: &[(String, String)]| v.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&reference));
    for ((file, mine), (_, theirs)) in ours.iter().zip(&reference) {
        let fields = |s: &str| -> Vec<String> {
            // One entry per field, continuation lines included.
            let mut fields: Vec<String> = Vec::new();
            for line in s.lines() {
                match fields.last_mut() {
                    Some(last) if line.starts_with(' ') => {
                        last.push('\n');
                        last.push_str(line);
                    }
                    _ => fields.push(line.to_string()),
                }
            }
            fields
        };
        assert_eq!(fields(mine), fields(theirs), "{file}: field for field");
        assert_eq!(mine, theirs, "{file}: byte for byte");
    }

    // Nothing new: nothing changes on disk.
    let before = snapshot(repo.path());
    let store = LocalStore::new(repo.path().to_path_buf());
    let report = publish_debs(&store, &packages(debs()), &apt_options(), signer()).unwrap();
    assert!(report.unchanged && report.added.is_empty(), "{report:?}");
    assert!(
        before == snapshot(repo.path()),
        "a re-run changed the repository"
    );
}
