//! What a client sees of a published tree, checked the way apt and dnf check it: the
//! signed root with gpgv, every index against it, every package file against its index.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::harness::sha256_hex;

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn gpgv_text(keyring: &Path, signed: &Path) -> String {
    let out = Command::new("gpgv")
        .args(["--keyring", s(keyring), "--output", "-", s(signed)])
        .output()
        .expect("gpgv runs");
    assert!(
        out.status.success(),
        "gpgv refuses {}: {}",
        signed.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn checked(path: &Path, sha256: &str) -> Vec<u8> {
    let data =
        std::fs::read(path).unwrap_or_else(|_| panic!("{} is named but missing", path.display()));
    assert_eq!(
        sha256_hex(&data),
        sha256,
        "{} does not match its checksum",
        path.display()
    );
    data
}

fn field<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// Checks the repository at `root` as apt and dnf would, and returns the package files
/// their signed indexes name: apt's InRelease (gpgv), each Packages by hash, each pool
/// file; dnf's repomd.xml (gpgv on repomd.xml.asc), each document, each RPM.
pub fn client_view(root: &Path, keyring: &Path) -> Vec<String> {
    channel_view(root, keyring, "stable")
}

/// What a client of the channel `channel` sees: its apt suite and its dnf tree (`rpm/`
/// for stable, `rpm/CHANNEL/` for the others).
pub fn channel_view(root: &Path, keyring: &Path, channel: &str) -> Vec<String> {
    let mut named = apt_suite_view(root, keyring, channel);
    let tree = match channel {
        "stable" => "rpm".to_string(),
        other => format!("rpm/{other}"),
    };
    named.extend(dnf_tree_view(root, keyring, &tree));
    named.sort();
    named
}

/// apt's view: InRelease (gpgv), then for each architecture the first index the Release
/// lists of `Packages`, `.gz`, `.xz`, fetched by hash when the Release says
/// `Acquire-By-Hash: yes` and by name otherwise, checked; then each pool file it names.
pub fn apt_view(root: &Path, keyring: &Path) -> Vec<String> {
    apt_suite_view(root, keyring, "stable")
}

/// [`apt_view`] of the suite `suite`.
pub fn apt_suite_view(root: &Path, keyring: &Path, suite: &str) -> Vec<String> {
    let mut named = Vec::new();
    let dist = root.join("apt/dists").join(suite);
    let release = gpgv_text(keyring, &dist.join("InRelease"));
    let by_hash = release.lines().any(|l| l == "Acquire-By-Hash: yes");
    let mut listed: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in release.lines().skip_while(|l| *l != "SHA256:").skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [hash, _, path] = words[..] else { break };
        let (dir, name) = path.rsplit_once('/').unwrap();
        listed
            .entry(dir.to_string())
            .or_default()
            .push((name.to_string(), hash.to_string()));
    }
    for (dir, files) in listed {
        let (name, hash) = ["Packages", "Packages.gz", "Packages.xz"]
            .iter()
            .find_map(|want| files.iter().find(|(name, _)| name == want))
            .unwrap_or_else(|| panic!("{dir}: no Packages index listed"));
        let path = match by_hash {
            true => dist.join(&dir).join("by-hash/SHA256").join(hash),
            false => dist.join(&dir).join(name),
        };
        let data = checked(&path, hash);
        let mut text = String::new();
        let mut reader: Box<dyn std::io::Read> = match name.as_str() {
            "Packages.gz" => Box::new(flate2::read::GzDecoder::new(&data[..])),
            "Packages.xz" => Box::new(liblzma::read::XzDecoder::new(&data[..])),
            _ => Box::new(&data[..]),
        };
        reader.read_to_string(&mut text).unwrap();
        for stanza in text.split("\n\n") {
            if let (Some(file), Some(sum)) = (field(stanza, "Filename"), field(stanza, "SHA256")) {
                checked(&root.join("apt").join(file), sum);
                named.push(format!("apt/{file}"));
            }
        }
    }
    named
}

/// Every apt index the signed `Release` lists matches it at its plain name too: what a
/// client without by-hash fetches.
pub fn plain_indexes_match(root: &Path, keyring: &Path) {
    let release = gpgv_text(keyring, &root.join("apt/dists/stable/InRelease"));
    for line in release.lines().skip_while(|l| *l != "SHA256:").skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [hash, _, path] = words[..] else { break };
        checked(&root.join("apt/dists/stable").join(path), hash);
    }
}

/// Whether the signature file `signature` is the key's signature of repomd.xml.
fn repomd_signed_in(root: &Path, keyring: &Path, signature: &str) -> bool {
    Command::new("gpgv")
        .args(["--keyring", s(keyring)])
        .arg(root.join("rpm/repodata").join(signature))
        .arg(root.join("rpm/repodata/repomd.xml"))
        .output()
        .unwrap()
        .status
        .success()
}

/// dnf fetches repomd.xml and repomd.xml.asc separately, so a run stopped between writing
/// the two leaves them apart until the next run completes the commit (the new signature
/// waits in repomd.xml.next.asc). The one state besides the old and the new generation a
/// dnf client can meet, inherent to its format; apt has none.
pub fn dnf_between_its_two_writes(root: &Path, keyring: &Path) -> bool {
    !repomd_signed_in(root, keyring, "repomd.xml.asc")
        && repomd_signed_in(root, keyring, "repomd.xml.next.asc")
}

pub fn dnf_view(root: &Path, keyring: &Path) -> Vec<String> {
    dnf_tree_view(root, keyring, "rpm")
}

/// [`dnf_view`] of the dnf tree at `tree` (`rpm`, `rpm/testing`).
pub fn dnf_tree_view(root: &Path, keyring: &Path, tree: &str) -> Vec<String> {
    let mut named = Vec::new();
    let repomd = root.join(tree).join("repodata/repomd.xml");
    let out = Command::new("gpgv")
        .args(["--keyring", s(keyring)])
        .arg(root.join(tree).join("repodata/repomd.xml.asc"))
        .arg(&repomd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gpgv refuses repomd.xml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repomd = std::fs::read_to_string(repomd).unwrap();
    let doc = roxmltree::Document::parse(&repomd).unwrap();
    for data in doc
        .root_element()
        .children()
        .filter(|c| c.has_tag_name("data"))
    {
        let href = data
            .children()
            .find(|c| c.has_tag_name("location"))
            .unwrap()
            .attribute("href")
            .unwrap();
        let sum = data
            .children()
            .find(|c| c.has_tag_name("checksum"))
            .unwrap()
            .text()
            .unwrap();
        let gz = checked(&root.join(tree).join(href), sum);
        if data.attribute("type") != Some("primary") {
            continue;
        }
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut xml)
            .unwrap();
        let primary = roxmltree::Document::parse(&xml).unwrap();
        for package in primary
            .root_element()
            .children()
            .filter(|c| c.has_tag_name("package"))
        {
            let location = package
                .children()
                .find(|c| c.has_tag_name("location"))
                .unwrap()
                .attribute("href")
                .unwrap();
            let sum = package
                .children()
                .find(|c| c.has_tag_name("checksum"))
                .unwrap()
                .text()
                .unwrap();
            checked(&root.join(tree).join(location), sum);
            named.push(format!("{tree}/{location}"));
        }
    }
    named
}
