//! `debian/control` (deb822) in, the binary package's `control` file out.

use std::path::Path;

use super::deb822::{self, get, Paragraph};
use crate::error::{Error, Result};

/// Fields of the source paragraph that the binary package inherits (dpkg-gencontrol).
const INHERITED: [&str; 5] = [
    "Section",
    "Priority",
    "Maintainer",
    "Original-Maintainer",
    "Homepage",
];
/// Fields the tool computes; the definition may not set them.
const COMPUTED: [&str; 3] = ["Version", "Installed-Size", "Source"];
/// Fields every package must have, from either paragraph.
const REQUIRED: [&str; 4] = ["Maintainer", "Section", "Priority", "Description"];

/// The field order of a binary package's `control`, as dpkg-gencontrol writes it.
/// Fields not listed go after `Homepage`, in definition order; `Description` is last.
const ORDER: [&str; 25] = [
    "Package",
    "Source",
    "Version",
    "Built-Using",
    "Architecture",
    "Essential",
    "Protected",
    "Multi-Arch",
    "Maintainer",
    "Original-Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Replaces",
    "Provides",
    "Section",
    "Priority",
    "Homepage",
    "Tag",
    "Description",
];

/// The package-independent part of `control`, checked once at load time.
#[derive(Debug, Clone)]
pub struct Template {
    /// `Package` of the binary paragraph.
    pub package: String,
    fields: Paragraph,
}

impl Template {
    /// Reads `debian/control`: an optional source paragraph (`Source:`) and exactly one
    /// binary paragraph (`Package:`, `Architecture: any`).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |reason: String| Error::Definition {
            path: path.to_path_buf(),
            reason,
        };
        let paragraphs = deb822::parse(text).map_err(|e| bad(e.to_string()))?;
        let (sources, binaries): (Vec<_>, Vec<_>) = paragraphs
            .into_iter()
            .partition(|p| get(p, "Source").is_some());
        if sources.len() > 1 {
            return Err(bad("more than one source paragraph".into()));
        }
        let [binary] = <[Paragraph; 1]>::try_from(binaries).map_err(|b| {
            bad(format!(
                "expected exactly one binary paragraph (with `Package:`), found {}",
                b.len()
            ))
        })?;
        let package = get(&binary, "Package")
            .ok_or_else(|| bad("the binary paragraph has no Package field".into()))?
            .to_string();
        match get(&binary, "Architecture") {
            Some("any") | None => {}
            Some(other) => {
                return Err(bad(format!(
                    "Architecture must be `any` (the tool sets each package's architecture), not `{other}`"
                )))
            }
        }
        let mut fields: Paragraph = Vec::new();
        if let Some(source) = sources.first() {
            for (name, value) in source {
                if INHERITED.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                    fields.push((name.clone(), value.clone()));
                }
            }
        }
        for (name, value) in binary {
            if ["Package", "Architecture"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&name))
            {
                continue;
            }
            if COMPUTED.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
                return Err(bad(format!("{name} is computed by the build; remove it")));
            }
            fields.retain(|(f, _)| !f.eq_ignore_ascii_case(&name));
            fields.push((name, value));
        }
        for (name, value) in &fields {
            if value.contains("${") {
                return Err(bad(format!(
                    "{name}: substitution variables are not expanded; write the value out"
                )));
            }
        }
        let template = Template { package, fields };
        for name in REQUIRED {
            if template.get(name).is_none_or(str::is_empty) {
                return Err(bad(format!("missing required field {name}")));
            }
        }
        let description = template.get("Description").unwrap_or_default();
        if !description.contains('\n') {
            return Err(bad(
                "Description needs an extended description below the synopsis".into(),
            ));
        }
        Ok(template)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        get(&self.fields, name)
    }

    /// The binary package's `control` file.
    pub fn render(
        &self,
        package: &str,
        version: &str,
        arch: &str,
        installed_size_kib: u64,
    ) -> String {
        let mut all: Paragraph = vec![
            ("Package".into(), package.into()),
            ("Version".into(), version.into()),
            ("Architecture".into(), arch.into()),
            ("Installed-Size".into(), installed_size_kib.to_string()),
        ];
        all.extend(self.fields.iter().cloned());
        let rank = |name: &str| {
            ORDER
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))
                .unwrap_or(ORDER.len() - 2)
        };
        // Stable: unknown fields keep their relative order, just before Tag/Description.
        all.sort_by_key(|(name, _)| rank(name));
        let mut out = String::new();
        for (name, value) in all {
            deb822::write_field(&mut out, &name, &value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "\
# comment
Source: demo
Section: net
Priority: optional
Maintainer: A <a@example.org>
Standards-Version: 4.6.2
Homepage: https://example.org

Package: demo
Architecture: any
Depends: foo (>= 1)
Pre-Depends: passwd
X-Custom: yes
Description: demo package
 Longer text.
 .
 More.
";

    fn template(text: &str) -> Result<Template> {
        Template::parse(Path::new("debian/control"), text)
    }

    #[test]
    fn renders_fields_in_dpkg_order() {
        let t = template(CONTROL).unwrap();
        assert_eq!(t.package, "demo");
        assert_eq!(
            t.render("demo", "1.0-1", "amd64", 42),
            "Package: demo\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\n\
             Installed-Size: 42\nPre-Depends: passwd\nDepends: foo (>= 1)\nSection: net\n\
             Priority: optional\nHomepage: https://example.org\nX-Custom: yes\n\
             Description: demo package\n Longer text.\n .\n More.\n"
        );
    }

    #[test]
    fn refuses_what_the_build_computes_or_cannot_expand() {
        assert!(template(&CONTROL.replace("X-Custom: yes", "Version: 1")).is_err());
        assert!(template(&CONTROL.replace("foo (>= 1)", "${misc:Depends}")).is_err());
        assert!(template(&CONTROL.replace("Architecture: any", "Architecture: amd64")).is_err());
        assert!(template(&CONTROL.replace("Maintainer: A <a@example.org>\n", "")).is_err());
        assert!(template(&CONTROL.replace(" Longer text.\n .\n More.\n", "")).is_err());
        assert!(template(&CONTROL.replace("Depends: foo", "Depends: foo\nDepends: foo")).is_err());
        assert!(template(&CONTROL.replace("X-Custom: yes", "no colon")).is_err());
        assert!(template(&format!("{CONTROL}\nPackage: other\nDescription: x\n y\n")).is_err());
    }
}
