//! Reading a built `.deb` back: its control paragraph, from the `control.tar[.gz|.xz|.zst]`
//! member of the ar container (what apt-ftparchive reads to index a package), and the
//! whole-package check a repository runs before it signs and publishes one.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::ar::{self, Member};
use super::deb822::{self, Paragraph};
use crate::compress;
use crate::digest::md5_hex;
use crate::error::{Error, Result};

fn bad(path: &Path, reason: String) -> Error {
    Error::Package {
        path: path.to_path_buf(),
        reason,
    }
}

/// The control paragraph of the `.deb` in `data`; `path` only names it in errors.
pub fn control_fields(path: &Path, data: &[u8]) -> Result<Paragraph> {
    let members = ar::read(data).map_err(|r| bad(path, format!("not a .deb: {r}")))?;
    let member = members
        .iter()
        .find(|m| m.name.starts_with("control.tar"))
        .ok_or_else(|| bad(path, "not a .deb: no control.tar member".into()))?;
    let files = tar_files(path, member, &["./control", "control"])?;
    let text = files
        .get("control")
        .ok_or_else(|| bad(path, format!("{} has no control file", member.name)))?;
    let text = String::from_utf8_lossy(text);
    deb822::parse_one(&text).map_err(|e| bad(path, format!("{}/control: {e}", member.name)))
}

/// Reads the whole `.deb` the way dpkg would install it: the members in dpkg's order
/// (`debian-binary` saying 2.0, `control.tar.*`, `data.tar.*`), a control file that
/// parses, every data member decompressed and read to its end (which checks xz's and
/// gzip's own checksums), and every `md5sums` line matching the file it names. Returns
/// the control paragraph.
pub fn verify(path: &Path, data: &[u8]) -> Result<Paragraph> {
    let members = ar::read(data).map_err(|r| bad(path, format!("not a .deb: {r}")))?;
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let ([binary, control, payload], extra) = match members.as_slice() {
        [a, b, c, rest @ ..] => ([a, b, c], rest),
        _ => {
            return Err(bad(
                path,
                format!(
                "not a .deb: members {names:?}, expected debian-binary, control.tar.*, data.tar.*"
            ),
            ))
        }
    };
    if binary.name != "debian-binary"
        || !control.name.starts_with("control.tar")
        || !payload.name.starts_with("data.tar")
        || extra.iter().any(|m| !m.name.starts_with('_'))
    {
        return Err(bad(
            path,
            format!(
                "not a .deb: members {names:?}, expected debian-binary, control.tar.*, data.tar.*"
            ),
        ));
    }
    if binary.data != b"2.0\n" {
        return Err(bad(
            path,
            format!(
                "debian-binary is {:?}, expected \"2.0\\n\"",
                String::from_utf8_lossy(binary.data)
            ),
        ));
    }
    let control_files = tar_files(path, control, &["./control", "./md5sums"])?;
    let text = control_files
        .get("control")
        .ok_or_else(|| bad(path, format!("{} has no control file", control.name)))?;
    let fields = deb822::parse_one(&String::from_utf8_lossy(text))
        .map_err(|e| bad(path, format!("{}/control: {e}", control.name)))?;
    let sums = control_files
        .get("md5sums")
        .map(|s| parse_md5sums(path, s))
        .transpose()?
        .unwrap_or_default();
    let data_files = tar_files(path, payload, &[])?;
    for (file, expected) in &sums {
        let found = data_files.get(file.as_str()).ok_or_else(|| {
            bad(
                path,
                format!("md5sums lists {file}, which {} does not hold", payload.name),
            )
        })?;
        let actual = md5_hex(found);
        if actual != *expected {
            return Err(bad(
                path,
                format!(
                    "md5 mismatch for {file} in {}: md5sums says {expected}, the file has {actual}",
                    payload.name
                ),
            ));
        }
    }
    Ok(fields)
}

/// `md5sums`: lines `<md5>  <path>`, the path relative to `/`.
fn parse_md5sums(path: &Path, text: &[u8]) -> Result<BTreeMap<String, String>> {
    let text = String::from_utf8_lossy(text);
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let parsed = line
            .split_once("  ")
            .filter(|(md5, file)| {
                md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) && !file.is_empty()
            })
            .ok_or_else(|| {
                bad(
                    path,
                    format!("md5sums line {} is not `<md5>  <file>`", n + 1),
                )
            })?;
        sums.insert(
            parsed.1.trim_start_matches("./").to_string(),
            parsed.0.to_ascii_lowercase(),
        );
    }
    Ok(sums)
}

/// Reads a `*.tar[.COMPRESSION]` member to its end; returns the regular files whose names
/// are in `keep` (every regular file when `keep` is empty), by name without a leading `./`.
fn tar_files(path: &Path, member: &Member, keep: &[&str]) -> Result<BTreeMap<String, Vec<u8>>> {
    let name = &member.name;
    let suffix = name.split_once(".tar").map_or("", |(_, s)| s);
    let format = compress::Encoding::from_suffix(suffix)
        .ok_or_else(|| bad(path, format!("unknown compression of member {name}")))?;
    let failed = |e: std::io::Error| bad(path, format!("{name}: {e}"));
    let reader = format.decoder(member.data).map_err(failed)?;
    let mut archive = tar::Archive::new(reader);
    let mut files = BTreeMap::new();
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let entry_path = entry.path().map_err(failed)?.to_string_lossy().into_owned();
        let wanted = keep.is_empty()
            || keep
                .iter()
                .any(|k| k.trim_start_matches("./") == entry_path.trim_start_matches("./"));
        // Every entry is read to its end: a damaged archive fails here, not on a node.
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(failed)?;
        if wanted && entry.header().entry_type().is_file() {
            files.insert(entry_path.trim_start_matches("./").to_string(), content);
        }
    }
    // Whatever follows the last tar block (the compressor's end, its checksum) is read too.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(failed)?;
    Ok(files)
}
