//! A Packages stanza, field for field as `apt-ftparchive packages` (apt 2.6) writes it.

use crate::deb::deb822::{self, Field};
use crate::digest::Digests;

/// The field order apt-ftparchive writes (apt's `TFRewritePackageOrder`, as apt 2.6
/// emits it). Fields not listed follow in the order the control file has them.
const ORDER: &[&str] = &[
    "Package",
    "Package-Type",
    "Architecture",
    "Subarchitecture",
    "Version",
    "Revision",
    "Package-Revision",
    "Package_Revision",
    "Kernel-Version",
    "Built-Using",
    "Static-Built-Using",
    "Built-For-Profiles",
    "Auto-Built-Package",
    "Multi-Arch",
    "Status",
    "Priority",
    "Class",
    "Build-Essential",
    "Protected",
    "Important",
    "Essential",
    "Installer-Menu-Item",
    "Section",
    "Source",
    "Origin",
    "Phased-Update-Percentage",
    "Maintainer",
    "Original-Maintainer",
    "Bugs",
    "Config-Version",
    "Conffiles",
    "Triggers-Awaited",
    "Triggers-Pending",
    "Installed-Size",
    "Provides",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Recommended",
    "Suggests",
    "Optional",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Enhances",
    "Filename",
    "MSDOS-Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "Homepage",
    "Description",
    "Description-md5",
    "Tag",
    "Task",
];

/// Fields the archive writes itself: any value the control file has is replaced
/// (`Status` is dropped, as apt-ftparchive drops it).
const WRITTEN: &[&str] = &[
    "Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512", "Status",
];

/// The stanza for a package file at `filename` (relative to the repository root), ending
/// in one newline (a Packages file separates stanzas with an empty line).
pub fn packages_stanza(control: &[Field], filename: &str, sums: &Digests) -> String {
    let size = sums.size.to_string();
    let written: [(&str, &str); 6] = [
        ("Filename", filename),
        ("Size", &size),
        ("MD5sum", &sums.md5),
        ("SHA1", &sums.sha1),
        ("SHA256", &sums.sha256),
        ("SHA512", &sums.sha512),
    ];
    let kept: Vec<&Field> = control
        .iter()
        .filter(|(name, _)| !WRITTEN.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .collect();
    let mut out = String::new();
    let mut line = |name: &str, value: &str| deb822::write_field(&mut out, name, value);
    for known in ORDER {
        if let Some((_, value)) = written.iter().find(|(name, _)| name == known) {
            line(known, value);
        } else if let Some((name, value)) = kept.iter().find(|(n, _)| n.eq_ignore_ascii_case(known))
        {
            line(name, value);
        }
    }
    for (name, value) in &kept {
        if !ORDER.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            line(name, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_apt_ftparchive_order() {
        let control = deb822::parse_one(
            "Package: nimsforest-nats\nVersion: 2.15.1-1\nArchitecture: amd64\n\
             X-Custom: kept last\nMaintainer: M <m@example.org>\nInstalled-Size: 18449\n\
             Pre-Depends: passwd\nDepends: init-system-helpers (>= 1.54~)\nSection: net\n\
             Priority: optional\nHomepage: https://example.org\nStatus: install ok\n\
             Size: 1\nDescription: short\n long line\n .\n  * item\n",
        )
        .unwrap();
        let sums = Digests {
            size: 5525000,
            md5: "m".into(),
            sha1: "s1".into(),
            sha256: "s256".into(),
            sha512: "s512".into(),
        };
        let stanza = packages_stanza(&control, "pool/main/n/nimsforest-nats/x.deb", &sums);
        assert_eq!(
            stanza,
            "Package: nimsforest-nats\nArchitecture: amd64\nVersion: 2.15.1-1\n\
             Priority: optional\nSection: net\nMaintainer: M <m@example.org>\n\
             Installed-Size: 18449\nPre-Depends: passwd\n\
             Depends: init-system-helpers (>= 1.54~)\n\
             Filename: pool/main/n/nimsforest-nats/x.deb\nSize: 5525000\nMD5sum: m\n\
             SHA1: s1\nSHA256: s256\nSHA512: s512\nHomepage: https://example.org\n\
             Description: short\n long line\n .\n  * item\nX-Custom: kept last\n"
        );
    }
}
