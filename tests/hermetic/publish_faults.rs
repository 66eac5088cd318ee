//! What a publication refuses, each with one clear error and the store left as it was:
//! damaged packages (checked whole before anything is signed or uploaded), packages that
//! differ from dist/SHA256SUMS, a store with symbolic links, and deletions asked for by
//! anything but the signed indexes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::client_view::client_view;
use crate::harness::*;
use crate::s3_publish::{publish_command, releases};

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn repo(dist: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = publish_command(None, dist, s(out), "1790000000");
    cmd.args(extra);
    cmd
}

/// Fails with one `error:` line containing every one of `says`; returns the exit code.
fn refused(cmd: &mut Command, says: &[&str]) -> i32 {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted:\n{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{stderr}");
    for text in says {
        assert!(first.contains(text), "{text:?} not in {first:?}");
    }
    out.status.code().expect("an exit status")
}

/// A copy of the new release's dist/ (two .debs, two .rpms, SHA256SUMS).
fn dist_copy() -> tempfile::TempDir {
    let dist = tempfile::tempdir().unwrap();
    copy_dir(&releases().new, dist.path());
    dist
}

fn package(dist: &Path, extension: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found.remove(0)
}

/// Rewrites dist/SHA256SUMS so that it agrees with the damaged package: only the
/// package's own check stands in the way.
fn resum(dist: &Path) {
    let mut sums = String::new();
    let mut names: Vec<String> = std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".deb") || n.ends_with(".rpm"))
        .collect();
    names.sort();
    for name in names {
        let hash = sha256_hex(&std::fs::read(dist.join(&name)).unwrap());
        sums.push_str(&format!("{hash}  {name}\n"));
    }
    std::fs::write(dist.join("SHA256SUMS"), sums).unwrap();
}

#[test]
fn damaged_packages_are_refused_before_anything_is_written() {
    let out = tempfile::tempdir().unwrap();
    // An .rpm cut short.
    let dist = dist_copy();
    let rpm = package(dist.path(), "rpm");
    let bytes = std::fs::read(&rpm).unwrap();
    std::fs::write(&rpm, &bytes[..300_000.min(bytes.len() / 2)]).unwrap();
    resum(dist.path());
    let code = refused(&mut repo(dist.path(), out.path(), &[]), &[s(&rpm)]);
    assert_eq!(code, 1);
    assert!(snapshot(out.path()).is_empty(), "the store was touched");

    // A .deb with one byte flipped inside data.tar.xz (its members still parse).
    let dist = dist_copy();
    let deb = package(dist.path(), "deb");
    let mut bytes = std::fs::read(&deb).unwrap();
    let data_at = bytes
        .windows(11)
        .position(|w| w == b"data.tar.xz")
        .expect("a data.tar.xz member");
    let middle = data_at + 60 + (bytes.len() - data_at) / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&deb, &bytes).unwrap();
    resum(dist.path());
    let code = refused(
        &mut repo(dist.path(), out.path(), &[]),
        &[s(&deb), "data.tar.xz"],
    );
    assert_eq!(code, 1);
    assert!(snapshot(out.path()).is_empty(), "the store was touched");

    // A whole package that is not the one dist/SHA256SUMS lists.
    let dist = dist_copy();
    let sums = std::fs::read_to_string(dist.path().join("SHA256SUMS")).unwrap();
    let first = sums.lines().next().unwrap();
    let forged = format!("{}{}", "0".repeat(64), &first[64..]);
    std::fs::write(
        dist.path().join("SHA256SUMS"),
        sums.replacen(first, &forged, 1),
    )
    .unwrap();
    let code = refused(
        &mut repo(dist.path(), out.path(), &[]),
        &["sha256 mismatch", "SHA256SUMS"],
    );
    assert_eq!(code, 3);
    assert!(snapshot(out.path()).is_empty(), "the store was touched");

    // The same packages whole are published.
    let dist = dist_copy();
    succeeds(&mut repo(dist.path(), out.path(), &[]));
    assert_eq!(client_view(out.path(), &releases().keyring).len(), 4);
}

#[test]
fn symbolic_links_in_a_directory_store_are_refused_and_nothing_outside_is_touched() {
    let r = releases();
    let out = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    succeeds(&mut repo(&r.old, out.path(), &[]));
    // An index directory moved outside the store and linked back in.
    let arm64 = out.path().join("apt/dists/stable/main/binary-arm64");
    let moved = outside.path().join("binary-arm64");
    std::fs::rename(&arm64, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &arm64).unwrap();
    let outside_before = snapshot(outside.path());
    let before = snapshot(out.path());
    let code = refused(
        &mut repo(&r.new, out.path(), &[]),
        &["binary-arm64", "symbolic link"],
    );
    assert_eq!(code, 1);
    assert!(before == snapshot(out.path()), "the store changed");
    assert!(
        outside_before == snapshot(outside.path()),
        "a file outside the store changed"
    );
}

#[test]
fn only_the_signed_indexes_decide_what_is_deleted() {
    let r = releases();
    let out = tempfile::tempdir().unwrap();
    succeeds(&mut repo(&r.old, out.path(), &[]));
    succeeds(&mut repo(&r.new, out.path(), &["--keep", "1"]));
    // The retired list is part of the signed Release, not a file anyone may append to.
    let dist = out.path().join("apt/dists/stable");
    let release = std::fs::read_to_string(dist.join("Release")).unwrap();
    assert!(release.contains("X-Nimsforest-Retired:"), "{release}");
    assert!(!dist.join("retired").exists() && !out.path().join("rpm/repodata/retired").exists());
    // Naming one more file in it breaks InRelease's signature: the run is refused and
    // deletes nothing.
    let victim = out
        .path()
        .join("apt/pool/main/n/nimsforest-nats/unrelated.deb");
    std::fs::write(&victim, b"another suite's package").unwrap();
    let in_release = std::fs::read_to_string(dist.join("InRelease")).unwrap();
    let forged = in_release.replacen(
        "X-Nimsforest-Retired:\n",
        "X-Nimsforest-Retired:\n 1 pool/main/n/nimsforest-nats/unrelated.deb\n",
        1,
    );
    std::fs::write(dist.join("InRelease"), forged).unwrap();
    let before = snapshot(out.path());
    refused(
        &mut repo(&r.new, out.path(), &["--keep", "1"]),
        &["InRelease", "not signed by this signing key"],
    );
    assert!(before == snapshot(out.path()), "the store changed");
    assert!(victim.is_file());
}
