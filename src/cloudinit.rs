//! cloud-init user-data for a node: trust the repository key, add the repository, install
//! `nimsforest-nats`, and optionally hand the node its cluster settings.
//!
//! What the user-data does, in cloud-init's module order (Debian's and the RHEL family's
//! `/etc/cloud/cloud.cfg`: `write_files` runs in the init stage, `apt_configure` and
//! `yum_add_repo` in the config stage, `package_update_upgrade_install` in the final stage):
//!
//! 1. `write_files` writes the repository's public key to a file of its own, and with a
//!    forest id `/etc/morpheus/node-info.json` (`{"forest_id": ..., "routes": [...]}`),
//!    the file `nimsforest-cluster-conf` reads when the package is installed to generate
//!    `/etc/nimsforest/cluster.conf`. Both are in place before any package is installed.
//! 2. apt: `apt: sources:` adds `deb [signed-by=/etc/apt/keyrings/ID.asc] URL SUITE
//!    COMPONENT` (ID: the definition's repository id), so the key is trusted for this repository only, never through the global
//!    trusted keyring. The key is not given to cloud-init's own `key:` setting: cloud-init
//!    (22.4, Debian 12) turns it into a keyring by running `gpg --dearmor`, and on an image
//!    without `gpg` it logs the failure and points `signed-by` at `/dev/null`, so the node
//!    would not install the package. apt (2.4 and later) reads an armored `.asc` key in
//!    `signed-by` directly. `preserve_sources_list` keeps the image's own sources as they
//!    are.
//!    dnf: `yum_repos:` writes `/etc/yum.repos.d/ID.repo` with `gpgcheck` (package
//!    signatures) and `repo_gpgcheck` (`repomd.xml.asc`) on, and `gpgkey` pointing at the
//!    key written in step 1 (`/etc/pki/rpm-gpg/RPM-GPG-KEY-ID`), so trust comes from the
//!    user-data, not from a download.
//! 3. `package_update` refreshes the indexes and `packages` installs the package (or the
//!    pinned version).
//!
//! With a server name, `hostname:` sets the host name, which the package uses as the NATS
//! `server_name`.

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::spec::Repository;

/// The node description `nimsforest-cluster-conf` (in the package) reads.
pub const NODE_INFO: &str = "/etc/morpheus/node-info.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInit {
    /// The package to install.
    pub package: String,
    /// The repository's id (key file and repository names on the node) and name.
    pub repository: Repository,
    /// The repository root for the chosen variant: the apt tree (with `dists/` and
    /// `pool/`) or the dnf tree (with `repodata/`). http or https.
    pub repo_url: String,
    /// The repository's public key, ASCII-armored.
    pub public_key_armored: String,
    /// apt suite and component (ignored by the rpm variant).
    pub suite: String,
    pub component: String,
    /// The forest (cluster) this node joins; with `routes` the package configures the
    /// cluster, without them a single node that names its forest.
    pub forest_id: Option<String>,
    /// `nats-route://host:6222` (or `nats://host:port`) for every node of the cluster.
    pub routes: Vec<String>,
    /// The node's host name, which becomes its NATS `server_name`.
    pub server_name: Option<String>,
    /// The rpm (dnf/yum) variant instead of apt.
    pub rpm: bool,
    /// A package version to install, such as `2.14.6` or `2.14.6-1`; without a revision,
    /// any revision of that version.
    pub version: Option<String>,
}

fn invalid(setting: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSetting {
        setting,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The `#cloud-config` user-data for a node.
pub fn user_data(cfg: &CloudInit) -> Result<String> {
    let url = check_url(&cfg.repo_url)?;
    let key = check_key(&cfg.public_key_armored)?;
    let node_info = node_info_json(cfg)?;
    let package = package_spec(cfg)?;
    if let Some(name) = &cfg.server_name {
        check_host_name(name)?;
    }
    if !cfg.rpm {
        check_word("suite", &cfg.suite)?;
        check_word("component", &cfg.component)?;
    }

    let id = &cfg.repository.id;
    let mut out = String::from("#cloud-config\n");
    let _ = writeln!(
        out,
        "# {} from the signed {} repository at {url}.",
        cfg.package,
        if cfg.rpm { "dnf" } else { "apt" }
    );
    if let Some(name) = &cfg.server_name {
        out.push_str("# The host name is the node's NATS server_name.\n");
        let _ = writeln!(out, "hostname: {}", quote(name));
    }

    out.push_str("write_files:\n");
    // Where the variant's tools look for keys: apt's keyrings directory (named in the
    // source's signed-by) and the usual place for RPM keys.
    let apt_key_file = format!("/etc/apt/keyrings/{}", cfg.repository.public_key_file());
    let rpm_key_file = format!("/etc/pki/rpm-gpg/{}", cfg.repository.rpm_key_file());
    let key_file = if cfg.rpm {
        &rpm_key_file
    } else {
        &apt_key_file
    };
    write_file(&mut out, key_file, &key);
    if let Some(json) = &node_info {
        write_file(&mut out, NODE_INFO, json);
    }

    if cfg.rpm {
        out.push_str("yum_repos:\n");
        let _ = writeln!(out, "  {id}:");
        let _ = writeln!(out, "    name: {}", quote(&cfg.repository.name));
        let _ = writeln!(out, "    baseurl: {}", quote(url));
        out.push_str("    enabled: true\n");
        out.push_str("    gpgcheck: true\n");
        out.push_str("    repo_gpgcheck: true\n");
        let _ = writeln!(
            out,
            "    gpgkey: {}",
            quote(&format!("file://{rpm_key_file}"))
        );
    } else {
        out.push_str("apt:\n");
        out.push_str("  preserve_sources_list: true\n");
        out.push_str("  sources:\n");
        let _ = writeln!(out, "    {id}:");
        let line = format!(
            "deb [signed-by={apt_key_file}] {url} {} {}",
            cfg.suite, cfg.component
        );
        let _ = writeln!(out, "      source: {}", quote(&line));
    }
    out.push_str("package_update: true\n");
    out.push_str("packages:\n");
    let _ = writeln!(out, "  - {}", quote(&package));
    Ok(out)
}

/// The content of `/etc/morpheus/node-info.json` for these settings, or `None` without a
/// forest id. Routes without a forest id are refused: the cluster is named after it.
pub fn node_info_json(cfg: &CloudInit) -> Result<Option<String>> {
    let Some(forest) = &cfg.forest_id else {
        if let Some(route) = cfg.routes.first() {
            return Err(invalid(
                "route",
                route,
                "routes need a forest id (the cluster is named after the forest)",
            ));
        }
        return Ok(None);
    };
    check_forest_id(forest)?;
    for route in &cfg.routes {
        check_route(route)?;
    }
    let routes: Vec<String> = cfg.routes.iter().map(|r| quote(r)).collect();
    Ok(Some(format!(
        "{{\"forest_id\": {}, \"routes\": [{}]}}\n",
        quote(forest),
        routes.join(", ")
    )))
}

fn write_file(out: &mut String, path: &str, content: &str) {
    let _ = writeln!(out, "  - path: {path}");
    out.push_str("    owner: \"root:root\"\n");
    out.push_str("    permissions: \"0644\"\n");
    out.push_str("    content: |\n");
    for line in content.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "      {line}");
        }
    }
}

/// A YAML double-quoted scalar (the JSON escapes are valid YAML escapes).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check_url(url: &str) -> Result<&str> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("repository URL", url, "must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("repository URL", url, "has no host"));
    }
    // No blanks (the apt source line is split on them), no quotes, and no `$`, which
    // cloud-init would take for one of its template variables.
    if let Some(c) = url
        .chars()
        .find(|c| !(c.is_ascii_graphic()) || "\"'\\$`<>{}|^[]".contains(*c))
    {
        return Err(invalid(
            "repository URL",
            url,
            format!("contains {c:?}, which a source line or repo file cannot carry"),
        ));
    }
    Ok(url)
}

fn check_key(key: &str) -> Result<String> {
    let key = key.replace("\r\n", "\n");
    let trimmed = key.trim();
    let short = trimmed.lines().next().unwrap_or("");
    if !trimmed.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        || !trimmed.ends_with("-----END PGP PUBLIC KEY BLOCK-----")
    {
        return Err(invalid(
            "repository key",
            short,
            "must be one ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)",
        ));
    }
    if trimmed.matches("-----BEGIN ").count() != 1
        || trimmed
            .chars()
            .any(|c| c != '\n' && !(c == ' ' || c.is_ascii_graphic()))
    {
        return Err(invalid(
            "repository key",
            short,
            "must be exactly one armored public key block of printable ASCII",
        ));
    }
    Ok(format!("{trimmed}\n"))
}

fn name_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The rule `nimsforest-cluster-conf` applies: it becomes the NATS cluster name.
fn check_forest_id(id: &str) -> Result<()> {
    if name_chars(id) {
        Ok(())
    } else {
        Err(invalid(
            "forest id",
            id,
            "must be letters, digits, '-', '_' or '.' (it names the NATS cluster)",
        ))
    }
}

fn check_word(setting: &'static str, value: &str) -> Result<()> {
    if name_chars(value) {
        Ok(())
    } else {
        Err(invalid(
            setting,
            value,
            "must be letters, digits, '-', '_' or '.'",
        ))
    }
}

/// One DNS label: cloud-init would take the first label of a dotted name as the host
/// name, which would then differ from the server name asked for.
fn check_host_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "server name",
            name,
            "must be a host name of letters, digits and '-' (one label, at most 63 characters, \
             no '-' at either end)",
        ))
    }
}

/// `nats-route://host:port` or `nats://host:port`, host a DNS name, an IPv4 address or a
/// bracketed IPv6 address.
fn check_route(route: &str) -> Result<()> {
    let bad = |reason: &str| invalid("route", route, reason.to_string());
    let rest = route
        .strip_prefix("nats-route://")
        .or_else(|| route.strip_prefix("nats://"))
        .ok_or_else(|| bad("must look like nats-route://host:6222"))?;
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed '[' in its IPv6 address"))?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("has an invalid IPv6 address"));
        }
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("needs a port: nats-route://[addr]:6222"))?;
        (addr, port)
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| bad("needs a port: nats-route://host:6222"))?
    };
    let host_ok = !host.is_empty()
        && (host.contains(':')
            || host.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if !host_ok {
        return Err(bad(
            "has an invalid host (a DNS name, an IPv4 address or [IPv6])",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err(bad("has an invalid port (1 to 65535)")),
    }
}

/// What `packages:` installs: the name, or `name=VERSION` (apt; `VERSION-*` without a
/// revision) / `name-VERSION` (dnf, which matches any release itself).
fn package_spec(cfg: &CloudInit) -> Result<String> {
    let Some(version) = &cfg.version else {
        return Ok(cfg.package.clone());
    };
    let ok = version.chars().next().is_some_and(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c));
    if !ok {
        return Err(invalid(
            "package version",
            version,
            "must be a version such as 2.14.6 or 2.14.6-1",
        ));
    }
    Ok(match (cfg.rpm, version.contains('-')) {
        (true, _) => format!("{}-{version}", cfg.package),
        (false, true) => format!("{}={version}", cfg.package),
        (false, false) => format!("{}={version}-*", cfg.package),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0abc\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";

    fn cfg() -> CloudInit {
        CloudInit {
            package: "nimsforest-nats".into(),
            repository: Repository {
                id: "nimsforest".into(),
                name: "NimsForest".into(),
                key_user_id: "K <k@example.org>".into(),
            },
            repo_url: "https://packages.example.com/apt/".into(),
            public_key_armored: KEY.into(),
            suite: "stable".into(),
            component: "main".into(),
            forest_id: None,
            routes: vec![],
            server_name: None,
            rpm: false,
            version: None,
        }
    }

    #[test]
    fn apt_variant() {
        let out = user_data(&cfg()).unwrap();
        assert_eq!(
            out,
            "#cloud-config\n\
             # nimsforest-nats from the signed apt repository at https://packages.example.com/apt.\n\
             write_files:\n\
             \x20 - path: /etc/apt/keyrings/nimsforest.asc\n\
             \x20   owner: \"root:root\"\n\
             \x20   permissions: \"0644\"\n\
             \x20   content: |\n\
             \x20     -----BEGIN PGP PUBLIC KEY BLOCK-----\n\
             \n\
             \x20     mDMEZ0abc\n\
             \x20     =abcd\n\
             \x20     -----END PGP PUBLIC KEY BLOCK-----\n\
             apt:\n\
             \x20 preserve_sources_list: true\n\
             \x20 sources:\n\
             \x20   nimsforest:\n\
             \x20     source: \"deb [signed-by=/etc/apt/keyrings/nimsforest.asc] https://packages.example.com/apt stable main\"\n\
             package_update: true\n\
             packages:\n\
             \x20 - \"nimsforest-nats\"\n"
        );
    }

    #[test]
    fn rpm_variant_with_cluster_and_pinned_version() {
        let mut c = cfg();
        c.rpm = true;
        c.forest_id = Some("forest-1".into());
        c.routes = vec![
            "nats-route://10.0.0.1:6222".into(),
            "nats://[fd00::2]:6222".into(),
        ];
        c.server_name = Some("node-1".into());
        c.version = Some("2.14.6".into());
        let out = user_data(&c).unwrap();
        assert!(out.starts_with("#cloud-config\n"));
        assert!(out.contains("hostname: \"node-1\"\n"));
        assert!(out.contains("  - path: /etc/pki/rpm-gpg/RPM-GPG-KEY-nimsforest\n"));
        assert!(out.contains(
            "  - path: /etc/morpheus/node-info.json\n    owner: \"root:root\"\n    permissions: \"0644\"\n    content: |\n      {\"forest_id\": \"forest-1\", \"routes\": [\"nats-route://10.0.0.1:6222\", \"nats://[fd00::2]:6222\"]}\n"
        ));
        assert!(out.contains("yum_repos:\n  nimsforest:\n"));
        assert!(out.contains("    repo_gpgcheck: true\n"));
        assert!(out.contains("    gpgkey: \"file:///etc/pki/rpm-gpg/RPM-GPG-KEY-nimsforest\"\n"));
        assert!(out.ends_with("packages:\n  - \"nimsforest-nats-2.14.6\"\n"));
        assert!(!out.contains("apt:"));
    }

    #[test]
    fn versions() {
        let mut c = cfg();
        c.version = Some("2.14.6".into());
        assert_eq!(package_spec(&c).unwrap(), "nimsforest-nats=2.14.6-*");
        c.version = Some("2.14.6-2".into());
        assert_eq!(package_spec(&c).unwrap(), "nimsforest-nats=2.14.6-2");
        c.version = Some("2.14.6; rm -rf /".into());
        assert!(package_spec(&c).is_err());
    }

    #[test]
    fn forest_without_routes_is_a_single_node_that_names_its_forest() {
        let mut c = cfg();
        c.forest_id = Some("f.1_a".into());
        assert_eq!(
            node_info_json(&c).unwrap().unwrap(),
            "{\"forest_id\": \"f.1_a\", \"routes\": []}\n"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        let err = |f: &dyn Fn(&mut CloudInit)| {
            let mut c = cfg();
            f(&mut c);
            user_data(&c).unwrap_err().to_string()
        };
        let e = err(&|c| c.forest_id = Some("my forest".into()));
        assert!(
            e.starts_with("forest id \"my forest\": must be letters"),
            "{e}"
        );
        let e = err(&|c| c.routes = vec!["nats-route://10.0.0.1:6222".into()]);
        assert!(e.contains("routes need a forest id"), "{e}");
        for route in [
            "10.0.0.1:6222",
            "nats-route://10.0.0.1",
            "nats-route://10.0.0.1:0",
            "nats-route://10.0.0.1:70000",
            "nats-route://bad host:6222",
            "nats-route://h\"x:6222",
            "nats-route://[fd00::1:6222",
            "nats-route://:6222",
        ] {
            let e = err(&|c| {
                c.forest_id = Some("f".into());
                c.routes = vec![route.into()];
            });
            assert!(e.starts_with("route "), "{route}: {e}");
        }
        let e = err(&|c| c.repo_url = "ftp://x".into());
        assert!(e.contains("must start with https:// or http://"), "{e}");
        let e = err(&|c| c.repo_url = "https://x/$RELEASE".into());
        assert!(e.contains("'$'"), "{e}");
        let e = err(&|c| c.repo_url = "https://x/a b".into());
        assert!(e.contains("' '"), "{e}");
        let e = err(&|c| c.public_key_armored = "-----BEGIN PGP PRIVATE KEY BLOCK-----".into());
        assert!(e.contains("public key"), "{e}");
        let e = err(&|c| c.server_name = Some("node.example.com".into()));
        assert!(e.starts_with("server name"), "{e}");
        let e = err(&|c| c.suite = "stable main".into());
        assert!(e.starts_with("suite"), "{e}");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
