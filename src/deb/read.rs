//! Reading a built `.deb` back: its control paragraph, from the `control.tar[.gz|.xz|.zst]`
//! member of the ar container (what apt-ftparchive reads to index a package).

use std::io::Read;
use std::path::Path;

use super::ar;
use super::deb822::{self, Paragraph};
use crate::compress;
use crate::error::{Error, Result};

/// The control paragraph of the `.deb` in `data`; `path` only names it in errors.
pub fn control_fields(path: &Path, data: &[u8]) -> Result<Paragraph> {
    let bad = |reason: String| Error::Repository {
        path: path.to_path_buf(),
        reason,
    };
    let members = ar::read(data).map_err(|r| bad(format!("not a .deb: {r}")))?;
    let member = members
        .iter()
        .find(|m| m.name.starts_with("control.tar"))
        .ok_or_else(|| bad("not a .deb: no control.tar member".into()))?;
    let name = &member.name;
    let format = compress::Format::from_suffix(&name["control.tar".len()..])
        .ok_or_else(|| bad(format!("unknown control member {name}")))?;
    let reader = format
        .decoder(member.data)
        .map_err(|e| bad(format!("{name}: {e}")))?;
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
            return deb822::parse_one(&text).map_err(|e| bad(format!("{name}/control: {e}")));
        }
    }
    Err(bad(format!("{name} has no control file")))
}
