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
mod tests {
    use super::super::record::Changelog;
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape_text("a <b> & \"c\" 'd'\r\n\té"),
            "a &lt;b&gt; &amp; \"c\" 'd'&#13;\n\té"
        );
        assert_eq!(
            escape_attr("a <b> & \"c\" 'd'\r\n\té"),
            "a &lt;b&gt; &amp; &quot;c&quot; 'd'&#13;&#10;&#9;é"
        );
        assert!(forbidden_control_char("a\u{1}b"));
        assert!(!forbidden_control_char("a\tb\nc\r"));
    }

    pub fn sample() -> Record {
        let dep = |name: &str, flags, evr: &str, pre| {
            let (epoch, version, release) = super::super::record::split_evr(evr);
            Dep {
                name: name.into(),
                flags,
                epoch,
                version,
                release,
                pre,
                evr: evr.into(),
            }
        };
        Record {
            pkgid: "ab".repeat(32),
            name: "odd".into(),
            arch: "noarch".into(),
            epoch: "3".into(),
            version: "1.0~rc1".into(),
            release: "2".into(),
            summary: "Odd \"quoted\" <summary> & café".into(),
            description: "two\nlines".into(),
            packager: String::new(),
            url: "https://example.com/?a=1&b=2".into(),
            time_file: 10,
            time_build: 9,
            size_package: 100,
            size_installed: 16,
            size_archive: 924,
            location: "Packages/o/odd-1.0~rc1-2.noarch.rpm".into(),
            license: "MIT".into(),
            vendor: String::new(),
            group: "Unspecified".into(),
            buildhost: "host".into(),
            sourcerpm: "odd-1.0~rc1-2.src.rpm".into(),
            header_start: 4504,
            header_end: 7865,
            provides: vec![dep("odd", Some("EQ"), "3:1.0~rc1-2", false)],
            requires: vec![
                dep("/bin/sh", None, "", true),
                dep("foo", Some("GE"), "1:2.0-3", false),
            ],
            conflicts: vec![],
            obsoletes: vec![],
            suggests: vec![],
            enhances: vec![],
            recommends: vec![dep("rec", Some("GE"), "1", false)],
            supplements: vec![],
            files: vec![
                PackageFile {
                    path: "/etc/odd".into(),
                    kind: FileKind::Dir,
                },
                PackageFile {
                    path: "/etc/odd/ghost.log".into(),
                    kind: FileKind::Ghost,
                },
                PackageFile {
                    path: "/usr/share/odd/we&ird <name>.txt".into(),
                    kind: FileKind::File,
                },
            ],
            changelogs: vec![Changelog {
                author: "A <a@x> - 1".into(),
                date: 1704196801,
                text: "- same day one & <two>".into(),
            }],
        }
    }

    /// The three documents of the sample package alone.
    fn docs() -> [(&'static str, String); 3] {
        documents(&[&Fragments::of(&sample())])
    }

    #[test]
    fn primary_matches_createrepo_c_layout() {
        let got = docs()[0].1.clone();
        let want = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>odd</name>
  <arch>noarch</arch>
  <version epoch="3" ver="1.0~rc1" rel="2"/>
  <checksum type="sha256" pkgid="YES">{}</checksum>
  <summary>Odd "quoted" &lt;summary&gt; &amp; café</summary>
  <description>two
lines</description>
  <packager></packager>
  <url>https://example.com/?a=1&amp;b=2</url>
  <time file="10" build="9"/>
  <size package="100" installed="16" archive="924"/>
  <location href="Packages/o/odd-1.0~rc1-2.noarch.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:vendor></rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>host</rpm:buildhost>
    <rpm:sourcerpm>odd-1.0~rc1-2.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="7865"/>
    <rpm:provides>
      <rpm:entry name="odd" flags="EQ" epoch="3" ver="1.0~rc1" rel="2"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="foo" flags="GE" epoch="1" ver="2.0" rel="3"/>
    </rpm:requires>
    <rpm:recommends>
      <rpm:entry name="rec" flags="GE" epoch="0" ver="1"/>
    </rpm:recommends>
    <file type="dir">/etc/odd</file>
    <file type="ghost">/etc/odd/ghost.log</file>
  </format>
</package>
</metadata>"#,
            "ab".repeat(32)
        );
        assert_eq!(got, want);
    }

    #[test]
    fn filelists_and_other() {
        let id = "ab".repeat(32);
        assert_eq!(
            docs()[1].1,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="{id}" name="odd" arch="noarch">
  <version epoch="3" ver="1.0~rc1" rel="2"/>
  <file type="dir">/etc/odd</file>
  <file type="ghost">/etc/odd/ghost.log</file>
  <file>/usr/share/odd/we&amp;ird &lt;name&gt;.txt</file>
</package>
</filelists>"#
            )
        );
        assert_eq!(
            docs()[2].1,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="1">
<package pkgid="{id}" name="odd" arch="noarch">
  <version epoch="3" ver="1.0~rc1" rel="2"/>
  <changelog author="A &lt;a@x&gt; - 1" date="1704196801">- same day one &amp; &lt;two&gt;</changelog>
</package>
</otherdata>"#
            )
        );
    }

    #[test]
    fn published_documents_split_back_into_the_same_fragments() {
        let mut second = sample();
        second.pkgid = "cd".repeat(32);
        second.name = "even & odder".into();
        second.location = "Packages/e/even \"odder\"-1.rpm".into();
        second.epoch = "0".into();
        let fragments = [Fragments::of(&sample()), Fragments::of(&second)];
        let [(_, primary), (_, filelists), (_, other)] =
            documents(&fragments.iter().collect::<Vec<_>>());
        let split = split(&primary, &filelists, &other).unwrap();
        assert_eq!(split, fragments);
        assert_eq!(split[1].location, "Packages/e/even \"odder\"-1.rpm");
        assert_eq!(split[0].evr, ("3".into(), "1.0~rc1".into(), "2".into()));
        let [(_, again), _, _] = documents(&split.iter().collect::<Vec<_>>());
        assert_eq!(again, primary);
        assert!(split_missing_other(&primary, &filelists).is_err());
    }

    fn split_missing_other(primary: &str, filelists: &str) -> Result<Vec<Fragments>, String> {
        split(primary, filelists, "")
    }

    #[test]
    fn repomd_round_trips_its_locations() {
        let entries = ["primary", "filelists"].map(|kind| RepomdEntry {
            kind,
            checksum: "c".into(),
            open_checksum: "o".into(),
            location: format!("repodata/c-{kind}.xml.gz"),
            timestamp: 5,
            size: 1,
            open_size: 2,
        });
        let text = repomd(5, &entries);
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>5</revision>\n  <data type=\"primary\">\n"));
        assert_eq!(
            repomd_data(&text),
            [
                (
                    "primary".to_string(),
                    "repodata/c-primary.xml.gz".to_string(),
                    "c".to_string()
                ),
                (
                    "filelists".into(),
                    "repodata/c-filelists.xml.gz".into(),
                    "c".into()
                ),
            ]
        );
        assert_eq!(repomd_revision(&text), Some(5));
    }
}
