//! The names that reach files other programs parse (NATS configuration, node-info.json,
//! package names and versions, repository paths, URIs in certificates, directory names):
//! one home for their rules, used by the forest, the user-data, the topology and the
//! repositories alike. Each refusal names the setting.

use crate::error::{Error, Result};

fn invalid(setting: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidSetting {
        setting,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Letters, digits, '-', '_' and '.', at least one: what nats-server takes unquoted as a
/// cluster or gateway name and what `nimsforest-cluster-conf` accepts.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One word that is also a path segment of its own (not `.` or `..`): an apt suite or
/// component, which names a directory under `dists/`.
pub fn is_path_word(s: &str) -> bool {
    is_word(s) && s != "." && s != ".."
}

/// A Debian package or source name: lower-case letters, digits, '+', '-' and '.', starting
/// with a letter or digit (Debian Policy 5.6.1).
pub fn is_debian_package_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// What is wrong with a version a user asks for, if anything: an upstream version
/// (`2.15.1`) or one package revision of it (`2.15.1-1`, `2.12.0~RC.1-1`), which apt and
/// dnf both take as written.
pub fn version_problem(version: &str) -> Option<&'static str> {
    let ok = version.len() <= 100
        && version.chars().next().is_some_and(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c));
    (!ok).then_some(
        "must be an upstream version such as 2.15.1, or one package revision of it such as \
         2.15.1-1",
    )
}

/// A setting that is one word: letters, digits, '-', '_' or '.'.
pub fn check_word(setting: &'static str, value: &str) -> Result<()> {
    match is_word(value) {
        true => Ok(()),
        false => Err(invalid(
            setting,
            value,
            "must be letters, digits, '-', '_' or '.'",
        )),
    }
}

/// The rule `nimsforest-cluster-conf` applies: it becomes the NATS cluster name.
pub fn check_forest_id(id: &str) -> Result<()> {
    match is_word(id) {
        true => Ok(()),
        false => Err(invalid(
            "forest id",
            id,
            "must be letters, digits, '-', '_' or '.' (it names the NATS cluster)",
        )),
    }
}

/// One DNS label: cloud-init would take the first label of a dotted name as the host
/// name, which would then differ from the server name asked for.
pub fn check_host_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    match ok {
        true => Ok(()),
        false => Err(invalid(
            "server name",
            name,
            "must be a host name of letters, digits and '-' (one label, at most 63 characters, \
             no '-' at either end)",
        )),
    }
}

/// A leaf node's JetStream domain: letters, digits, '-' and '_' (it becomes a subject
/// token, `$JS.DOMAIN.API`).
pub fn check_domain(domain: &str) -> Result<()> {
    let ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match ok {
        true => Ok(()),
        false => Err(invalid(
            "JetStream domain",
            domain,
            "must be letters, digits, '-' and '_'",
        )),
    }
}

/// What is wrong with a user name, if anything: lower-case letters, digits, '-' and '_'
/// (it goes into a URI, a directory name and the accounts).
pub fn user_name_problem(name: &str) -> Option<&'static str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    (!ok).then_some("must be 1 to 63 lower-case letters, digits, '-' or '_'")
}

/// What is wrong with a forest id as part of a package name, if anything: Debian allows
/// lower-case letters, digits, '-', '+' and '.' there; the forest id is the NATS cluster's
/// name too.
pub fn package_id_problem(id: &str) -> Option<&'static str> {
    let ok = is_debian_package_name(id) && !id.contains('+');
    (!ok).then_some(
        "must be lower-case letters, digits, '-' or '.' starting with a letter or digit (it names \
         the forest's trust package)",
    )
}
