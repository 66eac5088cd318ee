//! Tests of the repodata XML writer and reader (`super::xml`).

use crate::repo::dnf::record::Changelog;
use crate::repo::dnf::xml::*;

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
        let (epoch, version, release) = crate::repo::dnf::record::split_evr(evr);
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
