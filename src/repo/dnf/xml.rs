//! primary.xml, filelists.xml, other.xml and repomd.xml, written byte for byte the way
//! `createrepo_c` (libxml2) writes them: two-space indentation, empty elements as
//! `<x></x>` when they carry text and `<x/>` when they carry only attributes, no newline
//! after the closing root tag.

use std::collections::HashMap;
use std::fmt::Write;

use super::record::{is_primary, Dep, FileKind, PackageFile, Record};

const COMMON_NS: &str = "http://linux.duke.edu/metadata/common";
const RPM_NS: &str = "http://linux.duke.edu/metadata/rpm";
const FILELISTS_NS: &str = "http://linux.duke.edu/metadata/filelists";
const OTHER_NS: &str = "http://linux.duke.edu/metadata/other";
const REPO_NS: &str = "http://linux.duke.edu/metadata/repo";
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes element text as libxml2 does: `& < >` and carriage return.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value as libxml2 does: `& < > "` and the whitespace that attribute
/// normalisation would otherwise fold (tab, newline, carriage return).
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0 cannot carry control characters other than tab, newline and carriage return;
/// createrepo_c refuses such packages too.
pub fn forbidden_control_char(s: &str) -> bool {
    s.chars()
        .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
}

/// Every string of a record that ends up in the XML, for the control-character check.
pub fn strings(r: &Record) -> impl Iterator<Item = &str> {
    let deps = [
        &r.provides,
        &r.requires,
        &r.conflicts,
        &r.obsoletes,
        &r.suggests,
        &r.enhances,
        &r.recommends,
        &r.supplements,
    ];
    [
        &r.name,
        &r.arch,
        &r.version,
        &r.release,
        &r.summary,
        &r.description,
        &r.packager,
        &r.url,
        &r.location,
        &r.license,
        &r.vendor,
        &r.group,
        &r.buildhost,
        &r.sourcerpm,
    ]
    .into_iter()
    .map(String::as_str)
    .chain(deps.into_iter().flatten().map(|d| d.name.as_str()))
    .chain(deps.into_iter().flatten().map(|d| d.evr.as_str()))
    .chain(r.files.iter().map(|f| f.path.as_str()))
    .chain(
        r.changelogs
            .iter()
            .flat_map(|c| [c.author.as_str(), c.text.as_str()]),
    )
}

fn text_elem(out: &mut String, indent: &str, name: &str, value: &str) {
    let _ = writeln!(out, "{indent}<{name}>{}</{name}>", escape_text(value));
}

fn version_elem(out: &mut String, r: &Record) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        escape_attr(&r.epoch),
        escape_attr(&r.version),
        escape_attr(&r.release)
    );
}

fn files(out: &mut String, indent: &str, files: &[PackageFile], primary_only: bool) {
    for f in files {
        if primary_only && !is_primary(&f.path) {
            continue;
        }
        let kind = match f.kind {
            FileKind::File => "",
            FileKind::Dir => " type=\"dir\"",
            FileKind::Ghost => " type=\"ghost\"",
        };
        let _ = writeln!(out, "{indent}<file{kind}>{}</file>", escape_text(&f.path));
    }
}

fn deps(out: &mut String, element: &str, deps: &[Dep], requires: bool) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{element}>");
    for d in deps.iter().filter(|d| !d.name.is_empty()) {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", escape_attr(&d.name));
        if let Some(flags) = d.flags {
            let _ = write!(out, " flags=\"{flags}\"");
            for (attr, value) in [
                ("epoch", &d.epoch),
                ("ver", &d.version),
                ("rel", &d.release),
            ] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    let _ = write!(out, " {attr}=\"{}\"", escape_attr(value));
                }
            }
        }
        if requires && d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{element}>");
}

/// One `<package>` of primary.xml.
pub fn primary_package(out: &mut String, r: &Record) {
    out.push_str("<package type=\"rpm\">\n");
    text_elem(out, "  ", "name", &r.name);
    text_elem(out, "  ", "arch", &r.arch);
    version_elem(out, r);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        r.pkgid
    );
    text_elem(out, "  ", "summary", &r.summary);
    text_elem(out, "  ", "description", &r.description);
    text_elem(out, "  ", "packager", &r.packager);
    text_elem(out, "  ", "url", &r.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        r.time_file, r.time_build
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        r.size_package, r.size_installed, r.size_archive
    );
    let _ = writeln!(out, "  <location href=\"{}\"/>", escape_attr(&r.location));
    out.push_str("  <format>\n");
    text_elem(out, "    ", "rpm:license", &r.license);
    text_elem(out, "    ", "rpm:vendor", &r.vendor);
    text_elem(out, "    ", "rpm:group", &r.group);
    text_elem(out, "    ", "rpm:buildhost", &r.buildhost);
    text_elem(out, "    ", "rpm:sourcerpm", &r.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        r.header_start, r.header_end
    );
    deps(out, "provides", &r.provides, false);
    deps(out, "requires", &r.requires, true);
    deps(out, "conflicts", &r.conflicts, false);
    deps(out, "obsoletes", &r.obsoletes, false);
    deps(out, "suggests", &r.suggests, false);
    deps(out, "enhances", &r.enhances, false);
    deps(out, "recommends", &r.recommends, false);
    deps(out, "supplements", &r.supplements, false);
    files(out, "    ", &r.files, true);
    out.push_str("  </format>\n</package>\n");
}

fn package_open(out: &mut String, r: &Record) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        r.pkgid,
        escape_attr(&r.name),
        escape_attr(&r.arch)
    );
    version_elem(out, r);
}

/// One package's entries in the three documents, with what orders and selects them. A
/// published repository's documents split back into these, so an update regenerates only
/// the entries of new packages and copies every other one as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragments {
    pub location: String,
    pub pkgid: String,
    pub name: String,
    pub arch: String,
    /// `epoch:version-release`.
    pub evr: (String, String, String),
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

impl Fragments {
    pub fn of(r: &Record) -> Self {
        let mut primary = String::with_capacity(4096);
        primary_package(&mut primary, r);
        let mut filelists = String::with_capacity(2048);
        package_open(&mut filelists, r);
        files(&mut filelists, "  ", &r.files, false);
        filelists.push_str("</package>\n");
        let mut other = String::with_capacity(1024);
        package_open(&mut other, r);
        for c in &r.changelogs {
            let _ = writeln!(
                other,
                "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
                escape_attr(&c.author),
                c.date,
                escape_text(&c.text)
            );
        }
        other.push_str("</package>\n");
        Self {
            location: r.location.clone(),
            pkgid: r.pkgid.clone(),
            name: r.name.clone(),
            arch: r.arch.clone(),
            evr: (r.epoch.clone(), r.version.clone(), r.release.clone()),
            primary,
            filelists,
            other,
        }
    }
}

/// The three documents (primary, filelists, other) of these packages, in this order.
pub fn documents(packages: &[&Fragments]) -> [(&'static str, String); 3] {
    let document = |root: &str, attrs: &str, body: &dyn Fn(&Fragments) -> &str| {
        let bytes: usize = packages.iter().map(|p| body(p).len()).sum();
        let mut out = String::with_capacity(bytes + 256);
        out.push_str(XML_DECL);
        let _ = writeln!(out, "<{root} {attrs} packages=\"{}\">", packages.len());
        for p in packages {
            out.push_str(body(p));
        }
        let _ = write!(out, "</{root}>");
        out
    };
    [
        (
            "primary",
            document(
                "metadata",
                &format!("xmlns=\"{COMMON_NS}\" xmlns:rpm=\"{RPM_NS}\""),
                &|p| &p.primary,
            ),
        ),
        (
            "filelists",
            document("filelists", &format!("xmlns=\"{FILELISTS_NS}\""), &|p| {
                &p.filelists
            }),
        ),
        (
            "other",
            document("otherdata", &format!("xmlns=\"{OTHER_NS}\""), &|p| &p.other),
        ),
    ]
}

/// Splits published documents back into each package's fragments; the inverse of
/// [`documents`] for documents it wrote.
pub fn split(primary: &str, filelists: &str, other: &str) -> Result<Vec<Fragments>, String> {
    let by_pkgid = |doc: &str| -> Result<HashMap<String, String>, String> {
        packages_of(doc)
            .into_iter()
            .map(|p| {
                let id = between(&p, "<package pkgid=\"", "\"")
                    .ok_or("a package entry without pkgid")?
                    .to_string();
                Ok((id, p))
            })
            .collect()
    };
    let mut filelists = by_pkgid(filelists)?;
    let mut other = by_pkgid(other)?;
    packages_of(primary)
        .into_iter()
        .map(|p| {
            let field = |start: &str, end: &str| {
                between(&p, start, end)
                    .map(str::to_string)
                    .ok_or_else(|| format!("a primary entry without {start}"))
            };
            let pkgid = field("<checksum type=\"sha256\" pkgid=\"YES\">", "<")?;
            let version = field("<version ", "/>")?;
            let attr = |name: &str| {
                between(&version, &format!("{name}=\""), "\"")
                    .map(unescape)
                    .unwrap_or_default()
            };
            Ok(Fragments {
                location: unescape(&field("<location href=\"", "\"")?),
                name: unescape(&field("<name>", "</name>")?),
                arch: unescape(&field("<arch>", "</arch>")?),
                evr: (attr("epoch"), attr("ver"), attr("rel")),
                filelists: filelists
                    .remove(&pkgid)
                    .ok_or_else(|| format!("filelists has no entry for {pkgid}"))?,
                other: other
                    .remove(&pkgid)
                    .ok_or_else(|| format!("other has no entry for {pkgid}"))?,
                pkgid,
                primary: p,
            })
        })
        .collect()
}

/// The `<package ...>...</package>` entries of a document, each with its final newline.
fn packages_of(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.split_inclusive('\n') {
        if line.starts_with("<package") {
            current = Some(String::new());
        }
        if let Some(entry) = current.as_mut() {
            entry.push_str(line);
            if line.starts_with("</package>") {
                out.extend(current.take());
            }
        }
    }
    out
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}

/// Undoes [`escape_attr`] and [`escape_text`].
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#10;", "\n")
        .replace("&#13;", "\r")
        .replace("&#9;", "\t")
        .replace("&amp;", "&")
}

/// One `<data>` entry of repomd.xml.
pub struct RepomdEntry {
    pub kind: &'static str,
    pub checksum: String,
    pub open_checksum: String,
    pub location: String,
    pub timestamp: u64,
    pub size: u64,
    pub open_size: u64,
}

pub fn repomd(revision: u64, entries: &[RepomdEntry]) -> String {
    let mut out = String::new();
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<repomd xmlns=\"{REPO_NS}\" xmlns:rpm=\"{RPM_NS}\">");
    let _ = writeln!(out, "  <revision>{revision}</revision>");
    for e in entries {
        let _ = writeln!(out, "  <data type=\"{}\">", e.kind);
        let _ = writeln!(
            out,
            "    <checksum type=\"sha256\">{}</checksum>",
            e.checksum
        );
        let _ = writeln!(
            out,
            "    <open-checksum type=\"sha256\">{}</open-checksum>",
            e.open_checksum
        );
        let _ = writeln!(out, "    <location href=\"{}\"/>", escape_attr(&e.location));
        let _ = writeln!(out, "    <timestamp>{}</timestamp>", e.timestamp);
        let _ = writeln!(out, "    <size>{}</size>", e.size);
        let _ = writeln!(out, "    <open-size>{}</open-size>", e.open_size);
        out.push_str("  </data>\n");
    }
    out.push_str("</repomd>\n");
    out
}

/// The `<data>` entries of a repomd.xml written by [`repomd`]: (type, location, sha256).
pub fn repomd_data(text: &str) -> Vec<(String, String, String)> {
    text.split("<data type=\"")
        .skip(1)
        .filter_map(|entry| {
            let (kind, rest) = entry.split_once('"')?;
            let location = between(rest, "<location href=\"", "\"")?;
            let checksum = between(rest, "<checksum type=\"sha256\">", "<")?;
            Some((kind.to_string(), unescape(location), checksum.to_string()))
        })
        .collect()
}

/// The `<revision>` of a repomd.xml.
pub fn repomd_revision(text: &str) -> Option<u64> {
    between(text, "<revision>", "</revision>")?.parse().ok()
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
