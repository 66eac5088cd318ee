//! The probe's `repo` cases: stores, URLs, keys and packages that must be refused before
//! the store is touched.

use std::path::Path;

use super::cases::PASSWORD;
use super::Case;
use crate::harness::*;
use crate::s3_publish::releases;

/// Package directories for the cases, in `in/`: damaged packages, and a whole one that
/// dist/SHA256SUMS does not describe.
pub(super) fn fixtures(project: &Project) {
    let root = project.path();
    let put = |name: &str, data: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    put("in/dist-bad-deb/x_1_amd64.deb", b"!<arch>\nnot a package");
    put(
        "in/dist-bad-rpm/x-1-1.x86_64.rpm",
        b"\xed\xab\xee\xdbnot a package",
    );
    std::fs::create_dir_all(root.join("in/dist-empty")).unwrap();
    let deb = std::fs::read_dir(&releases().new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a built .deb");
    let name = deb.file_name().unwrap().to_str().unwrap().to_string();
    put(
        &format!("in/dist-sums/{name}"),
        &std::fs::read(&deb).unwrap(),
    );
    put(
        "in/dist-sums/SHA256SUMS",
        format!("{}  {name}\n", "0".repeat(64)).as_bytes(),
    );
    put("in/dist-unlisted/SHA256SUMS", b"");
    put(
        &format!("in/dist-unlisted/{name}"),
        &std::fs::read(&deb).unwrap(),
    );
}

fn exists(path: &Path) -> bool {
    path.exists()
}

/// `repo`: every case fails before the store is made.
#[rustfmt::skip] // A table: one case a line.
pub(super) fn repo() -> Vec<Case> {
    assert!(exists(&releases().new));
    let key = "in/secret-key.asc";
    let r = |extra: &[&str]| {
        let mut args = vec!["repo", "--signing-key", key, "--dist", "in/dist-sums", "--out", "store"];
        args.extend_from_slice(extra);
        args.into_iter().map(std::ffi::OsString::from).collect::<Vec<_>>()
    };
    let with_creds = format!("https://probe:{PASSWORD}@packages.example/nf");
    vec![
        Case::new("repo --out http://", &["repo", "--signing-key", key, "--out", "http://packages.example/x"]).code(2).says("is not a store"),
        Case::new("repo --out ftp://", &["repo", "--signing-key", key, "--out", "ftp://x/y"]).code(2).says("is not a store"),
        Case::new("repo --out empty", &["repo", "--signing-key", key, "--out", ""]).code(2).says("names no directory"),
        Case::new("repo --out with a newline", &["repo", "--signing-key", key, "--out", "store\nx"]).code(2).says("control characters"),
        Case::new("repo --out s3:// without a bucket", &["repo", "--signing-key", key, "--out", "s3://"]).code(2).says("names no bucket"),
        Case::new("repo --out s3:// with a blank", &["repo", "--signing-key", key, "--out", "s3://b x/y"]).code(2).says("blanks"),
        Case::os("repo --url with credentials", r(&["--url", &with_creds])).code(2).says("***"),
        Case::os("repo --url with a newline", r(&["--url", "https://h/nf\nTrusted: yes"])).code(2).says("repository URL"),
        Case::os("repo --url with a CR", r(&["--url", "https://h/nf\r"])).code(2).says("repository URL"),
        Case::os("repo --url ftp://", r(&["--url", "ftp://h/nf"])).code(2).says("must start with"),
        Case::os("repo --url with a query", r(&["--url", "https://h/nf?x=1"])).code(2).says("query"),
        Case::os("repo --url with a fragment", r(&["--url", "https://h/nf#x"])).code(2).says("fragment"),
        Case::os("repo --url with a blank", r(&["--url", "https://h/n f"])).code(2).says("repository URL"),
        Case::os("repo --url with a dollar", r(&["--url", "https://h/$releasever"])).code(2).says("repository URL"),
        Case::os("repo --url without a host", r(&["--url", "https:///nf"])).code(2).says("host"),
        Case::os("repo --keep 0", r(&["--keep", "0"])).code(2),
        Case::os("repo --keep -1", r(&["--keep", "-1"])).code(2),
        Case::os("repo --lock-lease 0", r(&["--lock-lease", "0"])).code(2),
        Case::os("repo --channel ../x", r(&["--channel", "../x"])).code(2).says("--channel"),
        Case::os("repo --channel Packages", r(&["--channel", "Packages"])).code(2).says("--channel"),
        Case::os("repo --suite (the old name) with a blank", r(&["--suite", "a b"])).code(2).says("--channel"),
        Case::os("repo --channel with a newline", r(&["--channel", "a\nSuite: x"])).code(2).says("invalid value"),
        Case::os("repo --format exe", r(&["--format", "exe"])).code(2),
        Case::new("promote v2.15.1", &["promote", "v2.15.1", "--signing-key", key, "--out", "store"]).code(2).says("must be an upstream version"),
        Case::new("promote a version with a newline", &["promote", "2.15.1\nx", "--signing-key", key, "--out", "store"]).code(2).says("must be an upstream version"),
        Case::new("promote stable to stable", &["promote", "2.15.1", "--from", "stable", "--to", "stable", "--signing-key", key, "--out", "store"]).code(2).says("to itself"),
        Case::new("promote --from unstable", &["promote", "2.15.1", "--from", "unstable", "--signing-key", key, "--out", "store"]).code(2).says("--from"),
        Case::os("repo SOURCE_DATE_EPOCH=soon", r(&[])).env("SOURCE_DATE_EPOCH", "soon").code(2).says("SOURCE_DATE_EPOCH"),
        Case::new("repo --dist missing", &["repo", "--signing-key", key, "--dist", "in/missing", "--out", "store"]).code(1).says("in/missing"),
        Case::new("repo --dist a file", &["repo", "--signing-key", key, "--dist", "in/password", "--out", "store"]).code(1).says("in/password"),
        Case::new("repo --dist empty", &["repo", "--signing-key", key, "--dist", "in/dist-empty", "--out", "store"]).code(1).says("no .deb packages"),
        Case::new("repo a damaged .deb", &["repo", "--signing-key", key, "--dist", "in/dist-bad-deb", "--out", "store"]).code(1).says("x_1_amd64.deb: not a .deb"),
        Case::new("repo a damaged .rpm", &["repo", "--signing-key", key, "--dist", "in/dist-bad-rpm", "--out", "store", "--format", "rpm"]).code(1).says("not an RPM"),
        Case::os("repo a .deb SHA256SUMS disowns", r(&["--format", "deb"])).code(3).says("sha256 mismatch"),
        Case::new("repo a .deb SHA256SUMS does not list", &["repo", "--signing-key", key, "--dist", "in/dist-unlisted", "--out", "store", "--format", "deb"]).code(1).says("is not listed in"),
        Case::new("repo --signing-key missing", &["repo", "--signing-key", "in/missing.asc", "--out", "store"]).code(1).says("in/missing.asc"),
        Case::new("repo --signing-key a public key", &["repo", "--signing-key", "in/repo.asc", "--out", "store"]).code(1).says("is a public key"),
        Case::new("repo --signing-key the password file", &["repo", "--signing-key", "in/password", "--out", "store"]).code(1).says("in/password"),
        Case::new("repo --signing-key a PEM key", &["repo", "--signing-key", "in/key.pem", "--out", "store"]).code(1).says("in/key.pem"),
        Case::new("repo --signing-key a directory", &["repo", "--signing-key", "in/dir", "--out", "store"]).code(1).says("in/dir"),
        Case::new("repo without a key", &["repo", "--out", "store"]).code(1).says("NIMSFOREST_SIGNING_KEY"),
        Case::new("repo NIMSFOREST_SIGNING_KEY the password", &["repo", "--out", "store"]).env("NIMSFOREST_SIGNING_KEY", PASSWORD).code(1).says("NIMSFOREST_SIGNING_KEY"),
    ]
}
