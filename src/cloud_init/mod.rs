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
//! 3. `runcmd` refreshes the indexes and installs the package (or the pinned version),
//!    trying again while the repository does not answer (see `install`).
//!
//! With a server name, `hostname:` sets the host name, which the package uses as the NATS
//! `server_name`.

use std::fmt::Write;

mod access;
pub(crate) mod check;
mod install;
mod topology;

use crate::definition::Repository;
use crate::error::{Error, Result};
use crate::forest::{NodeSecrets, NODE_DIR};
use crate::names::{check_forest_id, check_host_name, check_word, version_problem};
use crate::weburl::{repository_url, route_url};
pub use access::{password_problem, Access, BasicAuth, ClientCertificate};
pub use check::check_key;
pub use topology::Topology;

/// The node description `nimsforest-cluster-conf` (in the package) reads.
pub const NODE_INFO: &str = "/etc/morpheus/node-info.json";

#[derive(Clone, PartialEq, Eq)]
pub struct CloudInit {
    /// The package to install.
    pub package: String,
    /// The repository's id (key file and repository names on the node) and name.
    pub repository: Repository,
    /// The repository root for the chosen variant: the apt tree (with `dists/` and
    /// `pool/`) or the dnf tree (with `repodata/`). http or https, as
    /// [`crate::weburl::repository_url`] accepts it; the user-data carries its serialization.
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
    /// The node's role, and its cluster's gateways or its hubs.
    pub topology: Topology,
    /// The node's host name, which becomes its NATS `server_name`.
    pub server_name: Option<String>,
    /// The rpm (dnf/yum) variant instead of apt.
    pub rpm: bool,
    /// A package version to install, such as `2.14.6` or `2.14.6-1`; without a revision,
    /// any revision of that version.
    pub version: Option<String>,
    /// Credentials and the server's CA, for a private repository.
    pub access: Access,
    /// The node's share of its closed forest: its own key, and its forest's trust package
    /// (`nimsforest-pkg forest`).
    pub forest_secrets: Option<NodeSecrets>,
    /// A forest without secrets, whose cluster anyone on the network may join: for a lab
    /// only, and only when asked for by name.
    pub insecure_open_forest: bool,
}

/// The settings without the secrets: [`Access`] and [`NodeSecrets`] print theirs as
/// `(secret)`, and a field added later is not printed until it is listed here.
impl std::fmt::Debug for CloudInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudInit")
            .field("package", &self.package)
            .field("repository", &self.repository)
            .field("repo_url", &self.repo_url)
            .field("forest_id", &self.forest_id)
            .field("routes", &self.routes)
            .field("topology", &self.topology)
            .field("server_name", &self.server_name)
            .field("rpm", &self.rpm)
            .field("version", &self.version)
            .field("access", &self.access)
            .field("forest_secrets", &self.forest_secrets)
            .field("insecure_open_forest", &self.insecure_open_forest)
            .finish_non_exhaustive()
    }
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
    let url = &repository_url(&cfg.repo_url)?;
    let key = check_key(&cfg.public_key_armored).map_err(|reason| Error::Usage {
        what: "repository key".into(),
        reason,
    })?;
    let node_info = node_info_json(cfg)?;
    let package = package_spec(cfg)?;
    if let Some(name) = &cfg.server_name {
        check_host_name(name)?;
    }
    if !cfg.rpm {
        check_word("suite", &cfg.suite)?;
        check_word("component", &cfg.component)?;
    }
    cfg.access.check(url, cfg.rpm)?;

    let id = &cfg.repository.id;
    let mut out = String::from("#cloud-config\n");
    let _ = writeln!(
        out,
        "# {} from the signed {} repository at {url}.",
        cfg.package,
        if cfg.rpm { "dnf" } else { "apt" }
    );
    if cfg.forest_secrets.is_some() {
        out.push_str(
            "# It also carries this node's private key of its closed forest: keep it secret.\n\
             # On the node it is root-only, then root:nimsforest 0640. Everything else of the\n\
             # forest comes from its trust package.\n",
        );
    }
    if cfg.insecure_open_forest {
        out.push_str(
            "# INSECURE OPEN FOREST: no TLS, no authentication; anyone who can reach this node\n\
             # may join its cluster and read every message. For a lab, never for a fleet.\n",
        );
    }
    if cfg.access.is_private() {
        out.push_str(
            "# This user-data carries the repository's credentials: keep it as secret as they\n\
             # are. On the node they go only into root-owned files of mode 0600 (never into\n\
             # sources.list.d, yum.repos.d or a world-readable file).\n",
        );
    }
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
    write_file(&mut out, key_file, &key, Mode::Public);
    if let Some(json) = &node_info {
        write_file(&mut out, NODE_INFO, json, Mode::Public);
    }
    // Root-only until the package is installed: its nimsforest-cluster-conf then gives
    // it to root:nimsforest 0640 (the group does not exist before) and turns it on.
    if let Some(secrets) = &cfg.forest_secrets {
        for (file, content) in secrets.files() {
            write_file(
                &mut out,
                &format!("{NODE_DIR}/{file}"),
                content,
                Mode::Secret,
            );
        }
    }

    if cfg.rpm {
        let options = access::dnf_files(&mut out, &cfg.access, id);
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
        for (name, value) in options {
            let _ = writeln!(out, "    {name}: {}", quote(&value));
        }
    } else {
        access::apt_files(&mut out, &cfg.access, id, url);
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
    // The forest's trust: installed with the server (after it: it depends on it), kept
    // current by its own timer.
    let mut packages = vec![package.as_str()];
    if let Some(secrets) = &cfg.forest_secrets {
        packages.push(&secrets.trust_package);
    }
    install::runcmd(&mut out, cfg.rpm, &packages);
    Ok(out)
}

/// The content of `/etc/morpheus/node-info.json` for these settings, or `None` without a
/// forest id. Routes without a forest id are refused: the cluster is named after it.
pub fn node_info_json(cfg: &CloudInit) -> Result<Option<String>> {
    let Some(forest) = &cfg.forest_id else {
        if cfg.forest_secrets.is_some() || cfg.insecure_open_forest {
            return Err(invalid(
                "forest id",
                "",
                "a forest's secrets or --insecure-open-forest need the forest id",
            ));
        }
        if let Some(route) = cfg.routes.first() {
            return Err(invalid(
                "route",
                route,
                "routes need a forest id (the cluster is named after the forest)",
            ));
        }
        if cfg.topology != Topology::default() {
            return Err(invalid(
                "forest id",
                "",
                "a role, cluster, gateways or hubs need the forest id",
            ));
        }
        return Ok(None);
    };
    check_forest_id(forest)?;
    let routes = cfg
        .routes
        .iter()
        .map(|r| route_url(r))
        .collect::<Result<Vec<_>>>()?;
    match (&cfg.forest_secrets, cfg.insecure_open_forest) {
        (None, false) => {
            return Err(invalid(
                "forest id",
                forest,
                "a forest is closed: give its secrets (--forest DIR, made by `nimsforest-pkg \
                 forest init`), or --insecure-open-forest for a lab cluster anyone may join",
            ))
        }
        (Some(_), true) => {
            return Err(invalid(
                "forest id",
                forest,
                "is either closed (with its secrets) or insecurely open, not both",
            ))
        }
        _ => {}
    }
    let topology = cfg.topology.fields(forest, &routes)?;
    let routes: Vec<String> = routes.iter().map(|r| quote(r)).collect();
    let open = if cfg.insecure_open_forest {
        ", \"insecure_open_cluster\": true"
    } else {
        ""
    };
    Ok(Some(format!(
        "{{\"forest_id\": {}, \"routes\": [{}]{topology}{open}}}\n",
        quote(forest),
        routes.join(", ")
    )))
}

/// Who may read a file written on the node.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// root:root 0644.
    Public,
    /// root:root 0600: credentials and private keys.
    Secret,
    /// 0600, owned by the user who must read it (root's group): a private key apt's
    /// download methods read after they have dropped to `_apt`.
    SecretOf(&'static str),
}

fn write_file(out: &mut String, path: &str, content: &str, mode: Mode) {
    let _ = writeln!(out, "  - path: {path}");
    let (owner, permissions) = match mode {
        Mode::Public => ("root", "0644"),
        Mode::Secret => ("root", "0600"),
        Mode::SecretOf(user) => (user, "0600"),
    };
    let _ = writeln!(out, "    owner: \"{owner}:root\"");
    let _ = writeln!(out, "    permissions: \"{permissions}\"");
    if !block_safe(content) {
        // Never reached with checked settings; a quoted scalar holds anything.
        let _ = writeln!(out, "    content: {}", quote(content));
        return;
    }
    out.push_str("    content: |\n");
    for line in content.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "      {line}");
        }
    }
}

/// Whether `content` reads back as itself from a literal block scalar: lines of printable
/// ASCII (YAML also breaks lines at CR, NEL, U+2028 and U+2029), the first that is not
/// empty starting with no blank (its blanks would set the indentation of the rest).
fn block_safe(content: &str) -> bool {
    let printable = content
        .chars()
        .all(|c| c == '\n' || c == ' ' || c.is_ascii_graphic());
    let first = content.split('\n').find(|line| !line.is_empty());
    printable && !first.is_some_and(|line| line.starts_with(' '))
}

/// A YAML double-quoted scalar (the JSON escapes are valid YAML escapes). Control
/// characters and the characters YAML takes for line breaks or refuses are escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What is installed: the name, or `name=VERSION` (apt; `VERSION-*` without a
/// revision) / `name-VERSION` (dnf, which matches any release itself).
fn package_spec(cfg: &CloudInit) -> Result<String> {
    let Some(version) = &cfg.version else {
        return Ok(cfg.package.clone());
    };
    if let Some(problem) = version_problem(version) {
        return Err(invalid("package version", version, problem));
    }
    Ok(match (cfg.rpm, version.contains('-')) {
        (true, _) => format!("{}-{version}", cfg.package),
        (false, true) => format!("{}={version}", cfg.package),
        (false, false) => format!("{}={version}-*", cfg.package),
    })
}

#[cfg(test)]
mod tests;
