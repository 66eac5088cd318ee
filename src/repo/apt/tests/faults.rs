//! What a publication survives: a store changed behind the signature, a run interrupted at
//! every write, and another publisher that ignores the lock.

use super::*;

#[test]
fn a_store_changed_behind_the_signature_is_refused() {
    let f = Fixture::new();
    f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
    let release = f.read("dists/stable/Release");
    let hash = release
        .lines()
        .find(|l| l.ends_with(" main/binary-amd64/Packages.xz"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let copy = f.repo.path().join(format!(
        "dists/stable/main/binary-amd64/by-hash/SHA256/{hash}"
    ));
    let good = std::fs::read(&copy).unwrap();
    let tampered = compress::xz(b"Package: evil\n").unwrap();
    std::fs::write(&copy, &tampered).unwrap();
    let before = f.snapshot();
    let err = f
        .update(&[f.deb("1.0-2", "amd64")], &opts(T0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match the signed Release"), "{err}");
    assert!(before == f.snapshot(), "a refused update wrote something");
    std::fs::write(&copy, good).unwrap();
    // An InRelease this key did not sign.
    let other = update(
        &f.store(),
        "",
        &[f.deb("1.0-2", "amd64")],
        &opts(T0),
        None,
        &FakeSigner("OTHER"),
    );
    let err = other.unwrap_err().to_string();
    assert!(err.contains("is not signed by this signing key"), "{err}");
}

#[test]
fn an_interrupted_update_leaves_a_consistent_repository_that_the_next_run_completes() {
    interrupted_at_every_write(opts);
}

#[test]
fn a_publisher_that_lost_the_race_changes_nothing_clients_see() {
    let f = Fixture::new();
    f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
    let release = f.read("dists/stable/Release");
    let store = f.store();
    let theirs = SIGNER
        .clearsign("Origin: theirs\nComponents: main\n")
        .unwrap();
    let racing = Racing::new(&store, "dists/stable/InRelease", theirs.into_bytes());
    let err = update(
        &racing,
        "",
        &[f.deb("1.0-2", "amd64")],
        &opts(T0 + 5),
        None,
        &SIGNER,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err}");
    assert!(
        err.to_string().contains("was changed by another publisher"),
        "{err}"
    );
    assert!(f.read("dists/stable/InRelease").contains("Origin: theirs"));
    assert_eq!(f.read("dists/stable/Release"), release);
}
