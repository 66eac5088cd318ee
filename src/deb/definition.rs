//! `debian/`: everything the Debian package needs besides the staged tree, read and
//! checked once per build.

use std::path::{Path, PathBuf};

use super::changelog::Changelog;
use super::control::Template;
use crate::definition::DefinitionDir;
use crate::error::{Error, Result};

/// Maintainer scripts copied into `control.tar`, read from `debian/<package>.<script>` or
/// `debian/<script>`.
pub const SCRIPTS: [&str; 4] = ["preinst", "postinst", "prerm", "postrm"];

/// Everything in `debian/` the package needs, read and checked once.
#[derive(Debug, Clone)]
pub struct DebianDefinition {
    pub(super) control: Template,
    pub(super) changelog: Changelog,
    pub(super) copyright: Vec<u8>,
    pub(super) lintian_overrides: Option<Vec<u8>>,
    pub(super) scripts: Vec<(&'static str, Vec<u8>)>,
}

impl DebianDefinition {
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_from(&DefinitionDir::new(dir))
    }

    /// From a definition directory whose placeholders are filled (see [`DefinitionDir`]).
    pub fn load_from(dir: &DefinitionDir) -> Result<Self> {
        let control_path = dir.path("control");
        let control = Template::parse(&control_path, &dir.text("control")?)?;
        let package = control.package.clone();

        let changelog_path = dir.path("changelog");
        let changelog = Changelog::parse(&changelog_path, &dir.text("changelog")?)?;
        if let Some(e) = changelog.entries.iter().find(|e| e.package != package) {
            return Err(Error::Definition {
                path: changelog_path,
                reason: format!(
                    "entry {} names package {}, expected {package}",
                    e.version, e.package
                ),
            });
        }

        let copyright_path = dir.path("copyright");
        let copyright = dir.text("copyright")?;
        if !copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        ) {
            return Err(Error::Definition {
                path: copyright_path,
                reason: "expected a machine-readable copyright file (DEP-5) starting with \
                         `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/`"
                    .into(),
            });
        }

        let lintian_overrides =
            read_variant(dir, &package, "lintian-overrides")?.map(|(_, data)| data);

        let mut scripts = Vec::new();
        for script in SCRIPTS {
            if let Some((path, data)) = read_variant(dir, &package, script)? {
                check_script(&path, &data)?;
                scripts.push((script, data));
            }
        }
        Ok(Self {
            control,
            changelog,
            copyright: copyright.into_bytes(),
            lintian_overrides,
            scripts,
        })
    }

    /// The binary package's name (`Package:` in `debian/control`).
    pub fn package(&self) -> &str {
        &self.control.package
    }
}

/// Reads `dir/<package>.<name>` or `dir/<name>` (debhelper's two spellings); both is an error.
fn read_variant(
    dir: &DefinitionDir,
    package: &str,
    name: &str,
) -> Result<Option<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    for file in [format!("{package}.{name}"), name.to_string()] {
        if let Some(data) = dir.read(&file)? {
            found.push((dir.path(&file), data));
        }
    }
    if found.len() > 1 {
        return Err(Error::Definition {
            path: found.swap_remove(1).0,
            reason: format!("both {package}.{name} and {name} exist; keep one"),
        });
    }
    Ok(found.pop())
}

fn check_script(path: &Path, data: &[u8]) -> Result<()> {
    let bad = |reason: &str| Error::Definition {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !data.starts_with(b"#!") {
        return Err(bad("a maintainer script must start with a #! line"));
    }
    if data.windows(11).any(|w| w == b"#DEBHELPER#") {
        return Err(bad(
            "#DEBHELPER# is a debhelper placeholder this build does not expand; write the snippet out",
        ));
    }
    Ok(())
}
