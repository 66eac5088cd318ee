//! Upstream version plus packaging revision, rendered per format.

use crate::error::{Error, Result};

/// An upstream release version (`2.15.1`, `2.12.0-RC.1`) and our packaging revision (`1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub upstream: String,
    pub revision: String,
}

impl Version {
    pub fn new(upstream: &str, revision: &str) -> Result<Self> {
        check_upstream(upstream)?;
        if revision.is_empty()
            || !revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+')
        {
            return Err(Error::InvalidVersion(format!("{upstream}-{revision}")));
        }
        Ok(Self {
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }

    /// A package version that is a counter (`7`, revision `1`), such as a forest's trust
    /// package's: every change is a new number.
    pub fn counter(n: u64) -> Self {
        Self {
            upstream: n.to_string(),
            revision: "1".into(),
        }
    }

    /// `2.15.1-1`; a pre-release sorts before its release (`2.12.0~RC.1-1`).
    pub fn deb(&self) -> String {
        format!("{}-{}", self.rpm_version(), self.revision)
    }

    /// RPM `Version`: `~` sorts a pre-release first in rpm too (`2.12.0~RC.1`).
    pub fn rpm_version(&self) -> String {
        self.upstream.replacen('-', "~", 1)
    }

    pub fn rpm_release(&self) -> &str {
        &self.revision
    }
}

/// `MAJOR.MINOR.PATCH[-PRERELEASE]`, as upstream tags its releases (without the `v`).
pub fn check_upstream(version: &str) -> Result<()> {
    let bad = || Error::InvalidVersion(version.to_string());
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3
        || numbers
            .iter()
            .any(|n| n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    if let Some(pre) = pre {
        if pre.is_empty() || !pre.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_format() {
        let v = Version::new("2.15.1", "1").unwrap();
        assert_eq!(v.deb(), "2.15.1-1");
        assert_eq!(v.rpm_version(), "2.15.1");
        let rc = Version::new("2.12.0-RC.1", "2").unwrap();
        assert_eq!(rc.deb(), "2.12.0~RC.1-2");
        assert_eq!(rc.rpm_version(), "2.12.0~RC.1");
    }

    #[test]
    fn malformed_versions_are_refused() {
        for bad in [
            "",
            "2.15",
            "v2.15.1",
            "2.15.1.1",
            "2.x.1",
            "2.15.1-",
            "2.15.1/../x",
            "2.15.1 ",
        ] {
            assert!(check_upstream(bad).is_err(), "{bad:?}");
        }
        assert!(Version::new("2.15.1", "").is_err());
        assert!(Version::new("2.15.1", "1-2").is_err());
    }
}
