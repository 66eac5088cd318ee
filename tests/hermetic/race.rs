//! Two publishers at once, as two real processes: on a directory store (its lock is an
//! exclusive `flock`) and on an S3 server that enforces conditional writes (moto; the lock
//! is an object created with `If-None-Match: *`). Exactly one wins; the other fails with
//! exit status 5 and changes nothing a client reads (plain indexes included); run again,
//! it publishes too, and no acknowledged publication is ever lost.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::client_view::{client_view, plain_indexes_match};
use crate::harness::{copy_dir, NEW, OLD};
use crate::s3::S3Server;
use crate::s3_publish::{publish_command, releases};

const ROUNDS: usize = 6;

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn publisher(server: Option<&S3Server>, dist: &Path, out: &str) -> Command {
    let mut cmd = publish_command(server, dist, out, "1790000000");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("repo runs")
}

/// Runs `ROUNDS` races; `view` reads what clients see after each. Returns how many rounds
/// one of the two was refused (the two overlapped).
fn race(
    server: Option<&S3Server>,
    out: &dyn Fn() -> String,
    view: &dyn Fn() -> tempfile::TempDir,
) -> usize {
    let r = releases();
    let mut refused_rounds = 0;
    for round in 0..ROUNDS {
        let target = out();
        let dists = [&r.new, &r.old];
        // Both start together; each has its packages read and checked before it asks for
        // the lock, so they meet there.
        let children: Vec<Child> = dists
            .iter()
            .map(|dist| {
                publisher(server, dist, &target)
                    .spawn()
                    .expect("repo starts")
            })
            .collect();
        let outputs: Vec<Output> = children.into_iter().map(finish).collect();
        let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
        for output in &outputs {
            let code = output.status.code();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                code == Some(0) || code == Some(5),
                "round {round}: exit {code:?}: {stderr}"
            );
            if code == Some(5) {
                assert!(stderr.contains("another publisher"), "{stderr}");
                assert_eq!(
                    stderr.lines().filter(|l| l.starts_with("error: ")).count(),
                    1,
                    "{stderr}"
                );
            }
        }
        assert!(
            codes.contains(&Some(0)),
            "round {round}: nobody won: {codes:?}"
        );
        // What clients see: exactly the winners' packages, every index matching.
        let tree = view();
        let seen = client_view(tree.path(), &r.keyring);
        plain_indexes_match(tree.path(), &r.keyring);
        let mut expected: Vec<&str> = Vec::new();
        for (dist, code) in dists.iter().zip(&codes) {
            if *code == Some(0) {
                expected.push(if *dist == &r.new { NEW } else { OLD });
            }
        }
        for version in [NEW, OLD] {
            let count = seen.iter().filter(|f| f.contains(version)).count();
            let wanted = if expected.contains(&version) { 4 } else { 0 };
            assert_eq!(
                count, wanted,
                "round {round} ({codes:?}): {version} in {seen:?}"
            );
        }
        // The loser runs again: now both are published.
        for (dist, code) in dists.iter().zip(&codes) {
            if *code == Some(5) {
                refused_rounds += 1;
                let again = finish(publisher(server, dist, &target).spawn().unwrap());
                assert!(
                    again.status.success(),
                    "{}",
                    String::from_utf8_lossy(&again.stderr)
                );
            }
        }
        let seen = client_view(view().path(), &r.keyring);
        assert_eq!(
            seen.len(),
            8,
            "round {round}: both versions, both formats: {seen:?}"
        );
    }
    refused_rounds
}

#[test]
fn two_publishers_on_one_directory_one_wins_the_other_changes_nothing() {
    let dirs: Vec<tempfile::TempDir> = (0..ROUNDS).map(|_| tempfile::tempdir().unwrap()).collect();
    let next = std::cell::Cell::new(0);
    let current = std::cell::Cell::new(0);
    let out = || {
        let i = next.get();
        next.set(i + 1);
        current.set(i);
        s(dirs[i].path()).to_string()
    };
    let view = || {
        // The directory itself is what a web server serves: a copy to look at.
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dirs[current.get()].path(), copy.path());
        copy
    };
    let refused = race(None, &out, &view);
    eprintln!("directory store: {refused} of {ROUNDS} rounds overlapped, one refused each time");
    assert!(refused > 0, "the two publishers never met at the lock");
}

#[test]
fn two_publishers_on_s3_with_conditional_writes_one_wins_the_other_changes_nothing() {
    let server = S3Server::moto();
    let next = std::cell::Cell::new(0);
    let current = std::cell::Cell::new(String::new());
    let out = || {
        let prefix = format!("race{}", next.get());
        next.set(next.get() + 1);
        current.set(prefix.clone());
        server.url(&prefix)
    };
    let view = || {
        let prefix = current.take();
        current.set(prefix.clone());
        server.download(&prefix)
    };
    let refused = race(Some(&server), &out, &view);
    eprintln!("S3 (moto): {refused} of {ROUNDS} rounds overlapped, one refused each time");
    assert!(refused > 0, "the two publishers never met at the lock");
}
