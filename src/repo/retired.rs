//! Package files dropped from the indexes (retention), waiting to be deleted.
//!
//! A client may still read the generation before the newest, so a file is deleted only
//! once a generation newer than the one that dropped it is published. The list is part of
//! the signed generation (apt: a field of `Release`; dnf: a document `repomd.xml` names
//! with its checksum): only what this key signed ever decides what gets deleted.

use std::collections::BTreeMap;

/// Package file -> the date of the generation that dropped it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retired(pub BTreeMap<String, u64>);

impl Retired {
    /// Parses `DATE FILE` lines, every file a plain path below `files_below`; the reason
    /// when a line is not.
    pub fn parse(text: &str, files_below: &str) -> Result<Self, String> {
        let mut retired = BTreeMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (date, file) = line
                .split_once(' ')
                .ok_or_else(|| format!("retired line {line:?} is not `DATE FILE`"))?;
            let date = date
                .parse()
                .map_err(|_| format!("bad date in retired line {line:?}"))?;
            if !is_below(file, files_below) {
                return Err(format!(
                    "retired file {file:?} is not a file below {files_below}"
                ));
            }
            retired.insert(file.to_string(), date);
        }
        Ok(Self(retired))
    }

    /// `DATE FILE` lines, sorted by file.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|(file, date)| format!("{date} {file}\n"))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Files dropped before the generation dated `date`: no client of that generation or
    /// a later one reads them.
    pub fn dropped_before(&self, date: u64) -> impl Iterator<Item = &String> {
        self.0
            .iter()
            .filter(move |(_, dropped)| **dropped < date)
            .map(|(file, _)| file)
    }
}

/// `path` is a plain relative path below `dir` (`pool/`, `Packages/`): no `.`, `..` or
/// empty component, no control characters.
pub fn is_below(path: &str, dir: &str) -> bool {
    path.starts_with(dir)
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_paths_outside_are_refused() {
        let text = "5 pool/main/n/x_1_amd64.deb\n7 pool/main/n/x_2_amd64.deb\n";
        let retired = Retired::parse(text, "pool/").unwrap();
        assert_eq!(retired.text(), text);
        assert_eq!(retired.dropped_before(6).count(), 1);
        for bad in [
            "5 ../etc/passwd",
            "5 pool/../x",
            "5 Packages/x.rpm",
            "x pool/a",
            "5",
        ] {
            assert!(Retired::parse(bad, "pool/").is_err(), "{bad}");
        }
    }
}
