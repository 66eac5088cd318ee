//! Channels: lines of releases in one store. New upstream releases go to `testing`; a
//! person promotes one to `stable`, which nodes read by default.
//!
//! ```text
//! apt/dists/stable/, apt/dists/testing/     two suites sharing apt/pool/
//! rpm/Packages/, rpm/repodata/              stable: the layout from before channels
//! rpm/testing/Packages/, rpm/testing/repodata/
//! ```
//!
//! `stable` is exactly the layout from before channels, so stores and nodes made then keep
//! working. dnf's `testing` tree is nested below `rpm/` with its own `Packages/` and
//! `repodata/`: no key of it falls under stable's `rpm/Packages/` or `rpm/repodata/`, so
//! neither channel's listing, retention or sweep ever sees the other's files. A channel is
//! one of a fixed set of names: a free name could be `Packages` or `repodata`.

use std::fmt;

use super::RPM_DIR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// What nodes install by default: releases a person promoted.
    Stable,
    /// Every new upstream release, as soon as it is built.
    Testing,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Testing => "testing",
        }
    }

    /// The apt suite (`dists/SUITE/`).
    pub fn suite(self) -> &'static str {
        self.name()
    }

    /// The dnf tree's root in the store: `rpm`, or `rpm/NAME` nested below it.
    pub fn rpm_root(self) -> String {
        match self {
            Channel::Stable => RPM_DIR.to_string(),
            other => format!("{RPM_DIR}/{}", other.name()),
        }
    }

    /// The stem of its client files and the dnf repository id: `ID` for stable (as
    /// before channels), `ID-NAME` for the others, so both can sit side by side.
    pub fn client_id(self, id: &str) -> String {
        match self {
            Channel::Stable => id.to_string(),
            other => format!("{id}-{}", other.name()),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_keeps_the_layout_and_testing_never_overlaps_it() {
        assert_eq!(Channel::Stable.rpm_root(), "rpm");
        assert_eq!(Channel::Stable.client_id("nimsforest"), "nimsforest");
        assert_eq!(Channel::Testing.suite(), "testing");
        assert_eq!(
            Channel::Testing.client_id("nimsforest"),
            "nimsforest-testing"
        );
        let testing = Channel::Testing.rpm_root();
        for stable_prefix in ["rpm/Packages/", "rpm/repodata/"] {
            assert!(!format!("{testing}/Packages/x").starts_with(stable_prefix));
            assert!(!format!("{testing}/repodata/x").starts_with(stable_prefix));
        }
    }
}
