//! Suites sharing one pool, retention across them, and publishing without by-hash.

use super::*;

fn suite(name: &str, date: u64) -> AptOptions {
    AptOptions {
        suite: name.into(),
        ..opts(date)
    }
}

fn pool(version: &str) -> String {
    format!("pool/main/n/nimsforest-nats/nimsforest-nats_{version}_amd64.deb")
}

#[test]
fn a_pool_file_another_suite_names_is_never_deleted() {
    let f = Fixture::new();
    let (v1, v2, v3) = (
        f.deb("1.0-1", "amd64"),
        f.deb("1.0-2", "amd64"),
        f.deb("1.0-3", "amd64"),
    );
    f.update_keeping(std::slice::from_ref(&v1), &suite("testing", T0), 1)
        .unwrap();
    // stable holds the same file: one pool, two suites.
    f.update(std::slice::from_ref(&v1), &suite("stable", T0))
        .unwrap();
    f.update_keeping(std::slice::from_ref(&v2), &suite("testing", T0 + 10), 1)
        .unwrap();
    let report = f
        .update_keeping(std::slice::from_ref(&v3), &suite("testing", T0 + 20), 1)
        .unwrap();
    assert_eq!(report.retired, [pool("1.0-2")]);
    assert!(report.deleted.is_empty(), "stable names 1.0-1: {report:?}");
    assert!(f.repo.path().join(pool("1.0-1")).is_file());
    // What testing retired and no suite names goes, one generation later.
    let report = f
        .update_keeping(&[f.deb("1.0-4", "amd64")], &suite("testing", T0 + 30), 1)
        .unwrap();
    assert_eq!(report.deleted, [pool("1.0-2")]);
    assert!(f.repo.path().join(pool("1.0-1")).is_file());
    assert_eq!(f.consistent(), BTreeSet::from([pool("1.0-1")]), "stable");
}

/// Two suites, one pool: a rebuild with other bytes under the name testing publishes is
/// refused for stable, and testing's file stays as its signed index says.
#[test]
fn a_pool_file_another_suite_names_is_never_replaced() {
    let f = Fixture::new();
    f.update(&[f.deb("1.0-1", "amd64")], &suite("testing", T0))
        .unwrap();
    let published = std::fs::read(f.repo.path().join(pool("1.0-1"))).unwrap();
    let rebuilt = fake_deb(f.input.path(), &control("1.0-1", "amd64"), "v2");
    let err = f
        .update(&[rebuilt], &suite("stable", T0))
        .expect_err("a different file under testing's name");
    assert!(
        err.to_string().contains(&pool("1.0-1"))
            && err
                .to_string()
                .contains("already in the store with different content"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(f.repo.path().join(pool("1.0-1"))).unwrap(),
        published
    );
    assert!(!f.repo.path().join("dists/stable").exists());
    // The same bytes are indexed by both, uploaded once.
    f.update(&[f.deb("1.0-1", "amd64")], &suite("stable", T0))
        .unwrap();
    assert_eq!(f.consistent(), BTreeSet::from([pool("1.0-1")]));
}

#[test]
fn the_retired_list_is_signed_with_the_generation() {
    let f = Fixture::new();
    f.update(&[f.deb("1.0-1", "amd64")], &opts(T0)).unwrap();
    f.update_keeping(&[f.deb("1.0-2", "amd64")], &opts(T0 + 5), 1)
        .unwrap();
    let release = f.read("dists/stable/Release");
    let dropped = T0 + 5;
    assert!(
        release.contains(&format!(
            "X-Nimsforest-Retired:\n {dropped} {}\n",
            pool("1.0-1")
        )),
        "{release}"
    );
    // No file of its own that anyone could append to.
    assert!(!f.repo.path().join("dists/stable/retired").exists());
    // (That a changed list breaks the signature is checked with real keys in the
    // hermetic tests: this signer does not look at the text.)
}

#[test]
fn without_by_hash_an_interrupted_update_is_never_half_visible_and_completes() {
    let plain = |date| AptOptions {
        by_hash: false,
        ..opts(date)
    };
    let reference = interrupted_at_every_write(plain);
    let complete = reference.read("dists/stable/Release");
    assert!(!complete.contains("by-hash") && !complete.contains("Acquire-By-Hash"));
    // Each generation lists one compression, the other one than the generation before.
    let listed = |f: &Fixture| -> Vec<String> {
        sha256_entries(&f.read("dists/stable/Release"))
            .into_iter()
            .map(|(path, _, _)| path)
            .filter(|p| p.contains("amd64"))
            .collect()
    };
    assert_eq!(listed(&reference), ["main/binary-amd64/Packages.gz"]);
    reference
        .update(&[reference.deb("1.0-3", "amd64")], &plain(T0 + 9))
        .unwrap();
    assert_eq!(listed(&reference), ["main/binary-amd64/Packages.xz"]);
    let report = reference.update(&[], &plain(T0 + 20)).unwrap();
    assert!(
        report.unchanged,
        "the same content in the other compression is no change"
    );
}

/// testing's pool file, promoted to stable: indexed from testing's signed index, the file
/// itself left as it is (the same inode: nothing uploaded).
#[test]
fn a_promotion_indexes_the_pool_file_testing_names_and_uploads_nothing() {
    use crate::repo::promote::{take, Wanted};
    use crate::repo::Channel;
    use std::os::unix::fs::MetadataExt;

    let f = Fixture::new();
    let (v1, v2) = (f.deb("1.0-1", "amd64"), f.deb("1.0-2", "amd64"));
    f.update(&[v1.clone(), v2], &suite("testing", T0)).unwrap();
    f.update(&[v1], &suite("stable", T0)).unwrap();
    let inode = || {
        std::fs::metadata(f.repo.path().join(pool("1.0-2")))
            .unwrap()
            .ino()
    };
    let before = inode();
    let store = f.store();
    let tree = Tree {
        store: &store,
        root: "",
    };
    let testing = Apt {
        opts: suite("testing", T0),
    };
    let take_version = |version: &str| {
        let wanted = Wanted::new("nimsforest-nats", version).unwrap();
        take(&testing, &tree, &tree, Channel::Testing, &wanted, &SIGNER)
    };

    let err = take_version("1.1").err().expect("testing has no 1.1");
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert!(
        message.contains("testing channel has no nimsforest-nats 1.1")
            && message.contains("it has 1.0-1, 1.0-2"),
        "{message}"
    );

    let taken = take_version("1.0-2").unwrap();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].bytes.is_none(), "the pool is shared");
    let lock = store.lock(publish::DEFAULT_LEASE).unwrap();
    let stable = Apt {
        opts: suite("stable", T0 + 10),
    };
    let request = publish::Request::new(&[], Some(taken), None, T0 + 10);
    let report = publish::publish(&stable, &tree, request, &SIGNER, &*lock).unwrap();
    drop(lock);
    assert_eq!(report.added, [pool("1.0-2")]);
    assert_eq!(
        f.consistent(),
        BTreeSet::from([pool("1.0-1"), pool("1.0-2")]),
        "stable"
    );
    assert_eq!(inode(), before, "the pool file was written again");

    // Again: nothing new.
    let taken = take_version("1.0").unwrap();
    assert_eq!(taken.len(), 2, "every revision of 1.0");
    let lock = store.lock(publish::DEFAULT_LEASE).unwrap();
    let request = publish::Request::new(&[], Some(taken), None, T0 + 20);
    let report = publish::publish(&stable, &tree, request, &SIGNER, &*lock).unwrap();
    assert!(report.unchanged, "{report:?}");
}
