//! Reads what a Packages stanza needs from a `.deb`: its control paragraph (from the
//! `control.tar[.gz|.xz|.zst]` member of the ar container) and the file's checksums.

use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};
use sha2::{Sha256, Sha512};

use crate::error::{Error, Result};

/// The checksums a Packages stanza lists, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

impl Checksums {
    pub fn of(data: &[u8]) -> Self {
        Self {
            size: data.len() as u64,
            md5: hex::encode(Md5::digest(data)),
            sha1: hex::encode(sha1::Sha1::digest(data)),
            sha256: hex::encode(Sha256::digest(data)),
            sha512: hex::encode(Sha512::digest(data)),
        }
    }
}

/// One field of a control paragraph: its name as written and its value, continuation
/// lines included (each still starting with its space), without the final newline.
pub type Field = (String, String);

/// The control paragraph of the `.deb` in `data`; `path` only names it in errors.
pub fn control_fields(path: &Path, data: &[u8]) -> Result<Vec<Field>> {
    let bad = |reason: String| Error::Repository {
        path: path.to_path_buf(),
        reason,
    };
    let (name, member) = control_member(data).map_err(|r| bad(format!("not a .deb: {r}")))?;
    let reader: Box<dyn Read + '_> = match name.strip_prefix("control.tar") {
        Some("") => Box::new(member),
        Some(".gz") => Box::new(flate2::read::GzDecoder::new(member)),
        Some(".xz") => Box::new(liblzma::read::XzDecoder::new(member)),
        Some(".zst") => Box::new(
            zstd::stream::read::Decoder::new(member).map_err(|e| bad(format!("{name}: {e}")))?,
        ),
        _ => return Err(bad(format!("unknown control member {name}"))),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| bad(format!("{name}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("{name}: {e}")))?;
        let entry_path = entry.path().map_err(|e| bad(format!("{name}: {e}")))?;
        let entry_path = entry_path.to_string_lossy();
        if entry_path == "./control" || entry_path == "control" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("{name}/control: {e}")))?;
            return parse_paragraph(&text).map_err(|r| bad(format!("{name}/control: {r}")));
        }
    }
    Err(bad(format!("{name} has no control file")))
}

/// Finds the `control.tar*` member of an ar archive.
fn control_member(data: &[u8]) -> Result<(String, &[u8]), String> {
    if !data.starts_with(b"!<arch>\n") {
        return Err("no ar magic".into());
    }
    let mut pos = 8;
    while pos + 60 <= data.len() {
        let header = &data[pos..pos + 60];
        if &header[58..60] != b"`\n" {
            return Err(format!("bad ar header at offset {pos}"));
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: usize = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("bad member size at offset {pos}"))?;
        let start = pos + 60;
        let end = start
            .checked_add(size)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| format!("member {name} runs past the end of the file"))?;
        if name.starts_with("control.tar") {
            return Ok((name, &data[start..end]));
        }
        pos = end + size % 2;
    }
    Err("no control.tar member".into())
}

/// Parses one deb822 paragraph (a `DEBIAN/control` file).
pub fn parse_paragraph(text: &str) -> Result<Vec<Field>, String> {
    let mut fields: Vec<Field> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if fields.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = fields.last_mut() else {
                return Err(format!(
                    "line {}: continuation line before any field",
                    n + 1
                ));
            };
            value.push('\n');
            value.push_str(line.trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {}: expected `Field: value`: {line:?}", n + 1));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("line {}: bad field name {name:?}", n + 1));
        }
        if fields.iter().any(|(f, _)| f.eq_ignore_ascii_case(name)) {
            return Err(format!("line {}: field {name} appears twice", n + 1));
        }
        fields.push((name.to_string(), value.trim().to_string()));
    }
    if fields.is_empty() {
        return Err("empty control paragraph".into());
    }
    Ok(fields)
}

/// The value of a field (case-insensitive name).
pub fn field<'f>(fields: &'f [Field], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraph_keeps_order_and_continuations() {
        let fields =
            parse_paragraph("Package: a\nDescription: short\n long\n .\n more  \nX-Y:  z \n")
                .unwrap();
        assert_eq!(
            fields,
            vec![
                ("Package".to_string(), "a".to_string()),
                ("Description".into(), "short\n long\n .\n more".into()),
                ("X-Y".into(), "z".into()),
            ]
        );
        assert_eq!(field(&fields, "x-y"), Some("z"));
        assert!(parse_paragraph(" lead\n").is_err());
        assert!(parse_paragraph("A: 1\na: 2\n").is_err());
        assert!(parse_paragraph("nocolon\n").is_err());
    }

    #[test]
    fn checksums_of_known_data() {
        let c = Checksums::of(b"abc");
        assert_eq!(c.size, 3);
        assert_eq!(c.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(c.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            c.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(c.sha512.starts_with("ddaf35a193617aba"));
    }
}
