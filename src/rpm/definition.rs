//! The RPM half of the package definition: header fields, dependencies and changelog from
//! `rpm/<name>.toml`, scriptlets from `rpm/*.sh`, license and doc files named by the toml.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::definition::DefinitionDir;
use crate::error::{Error, Result};

/// The fields file of a package inside the rpm/ directory: `<package>.toml`.
pub fn fields_file(package: &str) -> String {
    format!("{package}.toml")
}

/// One scriptlet slot, the file that fills it, and its spec-file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Pre,
    Post,
    Preun,
    Postun,
    Posttrans,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Pre,
        Phase::Post,
        Phase::Preun,
        Phase::Postun,
        Phase::Posttrans,
    ];

    /// The file in rpm/ holding this scriptlet.
    pub fn file_name(self) -> &'static str {
        match self {
            Phase::Pre => "pre.sh",
            Phase::Post => "post.sh",
            Phase::Preun => "preun.sh",
            Phase::Postun => "postun.sh",
            Phase::Posttrans => "posttrans.sh",
        }
    }

    /// The key under `[scriptlet-requires]`, as in `Requires(pre):`.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
            Phase::Preun => "preun",
            Phase::Postun => "postun",
            Phase::Posttrans => "posttrans",
        }
    }
}

/// A dependency as written in a spec file: `name` or `name OP version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `(operator, version)`, operator one of `<`, `<=`, `=`, `>=`, `>`.
    pub constraint: Option<(String, String)>,
}

impl Dep {
    fn parse(text: &str) -> std::result::Result<Dep, String> {
        let text = text.trim();
        // A rich dependency, `(a or b)`, is passed through whole.
        if text.starts_with('(') && text.ends_with(')') {
            return Ok(Dep {
                name: text.to_string(),
                constraint: None,
            });
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        match words[..] {
            [name] => Ok(Dep {
                name: name.to_string(),
                constraint: None,
            }),
            [name, op, version] if ["<", "<=", "=", ">=", ">"].contains(&op) => Ok(Dep {
                name: name.to_string(),
                constraint: Some((op.to_string(), version.to_string())),
            }),
            _ => Err(format!(
                "dependency {text:?} is not `name` or `name OP version` (OP one of < <= = >= >)"
            )),
        }
    }

    pub(crate) fn to_rpm(&self) -> ::rpm::Dependency {
        use ::rpm::Dependency as D;
        match &self.constraint {
            None => D::any(&self.name),
            Some((op, v)) => match op.as_str() {
                "<" => D::less(&self.name, v),
                "<=" => D::less_eq(&self.name, v),
                "=" => D::eq(&self.name, v),
                ">=" => D::greater_eq(&self.name, v),
                _ => D::greater(&self.name, v),
            },
        }
    }
}

/// A `%changelog` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// `Name <email>`.
    pub author: String,
    /// `VERSION-RELEASE` this entry describes (`2.15.1-1`).
    pub version: String,
    /// Seconds since the epoch: noon UTC of the entry's date.
    pub time: u64,
    /// The entry's lines, each without its leading `- `.
    pub changes: Vec<String>,
}

impl ChangelogEntry {
    /// `Name <email> - 2.15.1-1`, the header's CHANGELOGNAME.
    pub fn name(&self) -> String {
        format!("{} - {}", self.author, self.version)
    }

    /// `- first change\n- second change`, the header's CHANGELOGTEXT; the further lines of
    /// a change spanning lines are indented by two spaces, as in a spec file.
    pub fn text(&self) -> String {
        let mut lines = Vec::new();
        for change in &self.changes {
            for (i, line) in change.lines().map(str::trim).enumerate() {
                lines.push(if i == 0 {
                    format!("- {line}")
                } else {
                    format!("  {line}")
                });
            }
        }
        lines.join("\n")
    }
}

/// Everything the RPM writer needs besides the staged tree.
#[derive(Debug, Clone)]
pub struct RpmDefinition {
    /// Where the fields were read from, for error messages.
    pub fields_path: PathBuf,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub url: Option<String>,
    pub vendor: Option<String>,
    pub group: Option<String>,
    /// Also the author of generated changelog entries.
    pub packager: String,
    /// `Requires:`.
    pub requires: Vec<Dep>,
    /// `Requires(pre):` and friends, in `Phase` order.
    pub scriptlet_requires: Vec<(Phase, Vec<Dep>)>,
    /// Newest first.
    pub changelog: Vec<ChangelogEntry>,
    /// Scriptlet bodies present in the directory, in `Phase` order.
    pub scriptlets: Vec<(Phase, String)>,
    /// `(file name, contents)` of each `%license` file.
    pub license_files: Vec<(String, Vec<u8>)>,
    /// `(file name, contents)` of each `%doc` file.
    pub doc_files: Vec<(String, Vec<u8>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Fields {
    summary: String,
    description: String,
    license: String,
    url: Option<String>,
    vendor: Option<String>,
    group: Option<String>,
    packager: String,
    #[serde(default)]
    license_files: Vec<String>,
    #[serde(default)]
    doc_files: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    scriptlet_requires: ScriptletRequires,
    #[serde(default)]
    changelog: Vec<RawChangelogEntry>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScriptletRequires {
    #[serde(default)]
    pre: Vec<String>,
    #[serde(default)]
    post: Vec<String>,
    #[serde(default)]
    preun: Vec<String>,
    #[serde(default)]
    postun: Vec<String>,
    #[serde(default)]
    posttrans: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChangelogEntry {
    date: toml::value::Datetime,
    author: String,
    version: String,
    changes: Vec<String>,
}

impl RpmDefinition {
    /// Reads `rpm/<package>.toml`, the scriptlets present beside it, and the license
    /// files it names (paths relative to the directory).
    pub fn load(dir: &Path, package: &str) -> Result<Self> {
        Self::load_from(&DefinitionDir::new(dir), &fields_file(package))
    }

    /// From a definition directory whose placeholders are filled (see [`DefinitionDir`]);
    /// `fields_file` is the name of its fields file.
    pub fn load_from(dir: &DefinitionDir, fields_file: &str) -> Result<Self> {
        let fields_path = dir.path(fields_file);
        let text = dir.text(fields_file)?;
        let bad = |reason: String| Error::Definition {
            path: fields_path.clone(),
            reason,
        };
        let fields: Fields = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;

        let summary = fields.summary.trim().to_string();
        if summary.is_empty() || summary.contains('\n') {
            return Err(bad("summary must be one non-empty line".into()));
        }
        let description = fields.description.trim().to_string();
        if description.is_empty() {
            return Err(bad("description is empty".into()));
        }
        let parse_all = |list: &[String]| -> Result<Vec<Dep>> {
            list.iter().map(|d| Dep::parse(d).map_err(&bad)).collect()
        };
        let requires = parse_all(&fields.requires)?;
        let sr = &fields.scriptlet_requires;
        let scriptlet_requires = [
            (Phase::Pre, &sr.pre),
            (Phase::Post, &sr.post),
            (Phase::Preun, &sr.preun),
            (Phase::Postun, &sr.postun),
            (Phase::Posttrans, &sr.posttrans),
        ]
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(phase, list)| Ok((phase, parse_all(list)?)))
        .collect::<Result<Vec<_>>>()?;

        let mut changelog = Vec::new();
        for entry in fields.changelog {
            let time = noon_utc(&entry.date).ok_or_else(|| {
                bad(format!(
                    "changelog entry {}: date must be a plain date like 2025-10-11, got {}",
                    entry.version, entry.date
                ))
            })?;
            if entry.changes.is_empty() {
                return Err(bad(format!(
                    "changelog entry {} lists no changes",
                    entry.version
                )));
            }
            changelog.push(ChangelogEntry {
                author: entry.author.trim().to_string(),
                version: entry.version.trim().to_string(),
                time,
                changes: entry.changes.iter().map(|c| c.trim().to_string()).collect(),
            });
        }
        if changelog.windows(2).any(|w| w[0].time < w[1].time) {
            return Err(bad("changelog entries must be listed newest first".into()));
        }

        let mut scriptlets = Vec::new();
        for phase in Phase::ALL {
            let path = dir.path(phase.file_name());
            let Some(bytes) = dir.read(phase.file_name())? else {
                continue;
            };
            let body = String::from_utf8(bytes).map_err(|_| Error::Definition {
                path: path.clone(),
                reason: "scriptlet is not UTF-8".into(),
            })?;
            if body.trim().is_empty() {
                return Err(Error::Definition {
                    path,
                    reason: "scriptlet is empty (delete the file to have none)".into(),
                });
            }
            scriptlets.push((phase, body));
        }

        let read_files = |list: &[String], what: &str| -> Result<Vec<(String, Vec<u8>)>> {
            let mut files: Vec<(String, Vec<u8>)> = Vec::new();
            for rel in list {
                let path = dir.path(rel);
                let name = Path::new(rel)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| bad(format!("{what} file {rel:?} has no file name")))?
                    .to_string();
                if files.iter().any(|(n, _)| *n == name) {
                    return Err(bad(format!("two {what} files are named {name}")));
                }
                let data = dir.read(rel).and_then(|data| {
                    data.ok_or_else(|| Error::Definition {
                        path: path.clone(),
                        reason: format!("{what} file listed in {fields_file} is missing"),
                    })
                })?;
                files.push((name, data));
            }
            Ok(files)
        };
        let license_files = read_files(&fields.license_files, "license")?;
        let doc_files = read_files(&fields.doc_files, "doc")?;

        Ok(RpmDefinition {
            fields_path,
            summary,
            description,
            license: fields.license.trim().to_string(),
            url: fields.url,
            vendor: fields.vendor,
            group: fields.group,
            packager: fields.packager.trim().to_string(),
            requires,
            scriptlet_requires,
            changelog,
            scriptlets,
            license_files,
            doc_files,
        })
    }

    /// The body of one scriptlet, if its file exists.
    pub fn scriptlet(&self, phase: Phase) -> Option<&str> {
        self.scriptlets
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, body)| body.as_str())
    }
}

/// Noon UTC of a TOML date (rpmbuild also stores changelog dates at noon, so the day shown
/// is the same in every time zone).
fn noon_utc(value: &toml::value::Datetime) -> Option<u64> {
    if value.time.is_some() || value.offset.is_some() {
        return None;
    }
    let date = value.date?;
    let month = time::Month::try_from(date.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(date.year), month, date.day).ok()?;
    u64::try_from(date.midnight().assume_utc().unix_timestamp() + 12 * 3_600).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_dependencies_parse() {
        let date = |text: &str| noon_utc(&text.parse().unwrap());
        assert_eq!(date("1970-01-01"), Some(12 * 3_600));
        assert_eq!(date("2000-03-01"), Some(11_017 * 86_400 + 12 * 3_600));
        assert_eq!(date("2025-10-11"), Some(1_760_140_800 + 12 * 3_600));
        assert_eq!(date("2025-10-11T10:00:00"), None);
        let d = Dep::parse("systemd >= 219").unwrap();
        assert_eq!(d.name, "systemd");
        assert_eq!(d.constraint, Some((">=".into(), "219".into())));
        assert_eq!(Dep::parse("/usr/bin/getent").unwrap().constraint, None);
        assert!(Dep::parse("(a or b)").is_ok());
        assert!(Dep::parse("systemd >>= 1").is_err());
        assert!(Dep::parse("a b").is_err());
    }
}
