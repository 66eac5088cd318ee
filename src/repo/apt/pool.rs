//! The pool: where each `.deb` goes (Debian's layout).

use std::path::Path;

use crate::deb::deb822::{self, Field};
use crate::error::{Error, Result};
use crate::names::is_debian_package_name;

pub(super) fn filename(path: &Path, component: &str, control: &[Field]) -> Result<String> {
    let required = |name: &str| {
        deb822::get(control, name).ok_or_else(|| Error::Package {
            path: path.to_path_buf(),
            reason: format!("the control file has no {name} field"),
        })
    };
    let package = required("Package")?;
    let version = required("Version")?;
    let arch = required("Architecture")?;
    let source = deb822::get(control, "Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(package);
    let valid = |value: &str, what: &str| {
        if is_debian_package_name(value) {
            Ok(())
        } else {
            Err(Error::Package {
                path: path.to_path_buf(),
                reason: format!("invalid {what} {value:?} in the control file"),
            })
        }
    };
    valid(package, "package name")?;
    valid(source, "source name")?;
    valid(arch, "architecture")?;
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
    {
        return Err(Error::Package {
            path: path.to_path_buf(),
            reason: format!("invalid version {version:?} in the control file"),
        });
    }
    let without_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    Ok(format!(
        "pool/{component}/{prefix}/{source}/{package}_{without_epoch}_{arch}.deb"
    ))
}
