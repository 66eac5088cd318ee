//! A forest's trust package, `nimsforest-forest-ID`: the forest's public trust, built as
//! a .deb and an .rpm of their own (architecture-independent), published with the server
//! package and installed on every node. Each version is one state of the forest
//! (`forest.toml`'s history); installing it reloads the server.
//!
//! ```text
//! /usr/share/nimsforest/forest/forest.conf      pins, accounts, the version (server_metadata)
//! /usr/share/nimsforest/forest/ca.pem           the CA certificates the forest trusts
//! /usr/share/nimsforest/forest/nodes/NAME.pem   every trusted node's certificate
//! /etc/nimsforest/forest.conf -> /usr/share/nimsforest/forest/forest.conf
//!                                               what cluster.conf includes
//! /usr/libexec/nimsforest-forest/apply, update  reload the server; take a new version
//! /usr/lib/systemd/system/nimsforest-forest-update.{service,timer}
//! ```
//!
//! No private key is in it: each node's own key is written once by its user-data.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{leaf_identity, user_identity, Forest, Kind, NodeRole, Role};
use crate::atomic;
use crate::compress::{BlockCache, Resources};
use crate::deb::{self, deb822, Compression, DebianDefinition};
use crate::definition::{Definition, DefinitionDir, PackageId, Target, Version};
use crate::dist::Pending;
use crate::error::{Error, Result};
use crate::rpm::{self as rpm_writer, RpmDefinition};
use crate::stage::{Entry, EntryKind, TreeBuilder};

/// Where the package puts the forest's files on a node.
pub const SHARE: &str = "/usr/share/nimsforest/forest";
/// What `cluster.conf` includes (a link into [`SHARE`]).
pub const INCLUDED: &str = "/etc/nimsforest/forest.conf";
/// The trust package's RPM fields file in `trust/rpm/`.
const RPM_FIELDS: &str = "nimsforest-forest.toml";
/// `server_metadata` keys naming the forest and the trust version a server applied.
pub const FOREST_KEY: &str = "nimsforest_forest";
pub const VERSION_KEY: &str = "nimsforest_trust";

/// `forest.conf`: what the server's configuration takes from the forest.
pub fn forest_conf(forest: &Forest) -> Result<String> {
    let id = forest.id();
    let version = forest.version();
    let mut out = format!(
        "# The trust of the NimsForest forest \"{id}\", version {version} (package\n\
         # {package}), included by /etc/nimsforest/cluster.conf. Written by\n\
         # `nimsforest-pkg forest`; each version of the package replaces it and reloads the\n\
         # server. Changes come from the forest's directory, not from edits here.\n\n\
         # Which trust this server applied (/varz \"metadata\", `nimsforest-pkg forest status`).\n\
         server_metadata: {{ {FOREST_KEY}: \"{id}\", {VERSION_KEY}: \"{version}\" }}\n",
        package = forest.package_name()
    );
    // One list for both ports (a variable nats-server finds unused is an error, and a
    // single node has no route port): which certificates may be routes and which users
    // is decided by the authorization, the URI each certificate carries.
    out.push_str(
        "\n# The SHA-256 of the public key of every trusted node and user certificate\n\
         # (tls.pinned_certs of the client and the route port): a certificate not listed is\n\
         # refused, and a reload drops its connections.\nFOREST_PINS: [\n",
    );
    for (kind, label) in [(Kind::Node, "node"), (Kind::User, "user")] {
        for (name, pin) in forest.pins(kind)? {
            let _ = writeln!(out, "    \"{pin}\"  # {label} {name}");
        }
    }
    out.push_str("]\n");
    out.push_str(
        "\n# The accounts and users: a client's certificate names its user with a URI\n\
         # (tls verify_and_map in cluster.conf).\n",
    );
    out.push_str(&accounts(forest));
    Ok(out)
}

/// The NATS accounts of the forest: every trusted user maps from the URI in its
/// certificate (`verify_and_map`), and may connect as a client only; every trusted
/// leaf node maps the same way into FOREST, and may connect as a leaf node only. No
/// passwords. A reload applies a change here to the connections already open (the
/// leaf node port's own authorization and pins would not reload).
pub fn accounts(forest: &Forest) -> String {
    let id = forest.id();
    let mut out = String::from("accounts {\n");
    for (account, role, extra) in [
        ("FOREST", Role::App, "        jetstream: enabled\n"),
        ("SYS", Role::System, ""),
    ] {
        out.push_str(&format!("    {account} {{\n{extra}        users: [\n"));
        for (name, _) in forest
            .manifest()
            .trusted_users()
            .filter(|(_, u)| u.role == role)
        {
            out.push_str(&format!(
                "            {{ user: \"{}\", allowed_connection_types: [\"STANDARD\"] }}\n",
                user_identity(id, name)
            ));
        }
        if role == Role::App {
            for name in forest.manifest().trusted_nodes_of(NodeRole::Leaf) {
                out.push_str(&format!(
                    "            {{ user: \"{}\", allowed_connection_types: [\"LEAFNODE\"] }}\n",
                    leaf_identity(id, &name)
                ));
            }
        }
        out.push_str("        ]\n    }\n");
    }
    out.push_str("}\nsystem_account: SYS\n");
    out
}

/// Builds the trust package of the forest's current version into `out` (as a build does:
/// both files appear at once, with dist/SHA256SUMS updated). Returns their paths.
pub fn write_package(forest: &Forest, definition: &Definition, out: &Path) -> Result<Vec<PathBuf>> {
    let version = forest.version();
    let date = forest
        .manifest()
        .changes
        .last()
        .map_or(0, |change| change.date);
    let package = PackageId {
        name: forest.package_name(),
        version: Version::counter(version),
    };
    let tree = tree(forest, definition, date)?;
    let dir = |sub: &str| {
        DefinitionDir::new(&definition.trust_dir.join(sub))
            .fill("FOREST", forest.id())
            .fill("REPO", &definition.repository.id)
    };
    let debian_dir = dir("debian");
    let maintainer = maintainer(&debian_dir)?;
    let debian = DebianDefinition::load_from(
        &debian_dir.give("changelog", debian_changelog(forest, &maintainer)),
    )?;
    let rpm_dir = dir("rpm");
    let fields = rpm_dir.text(RPM_FIELDS)?;
    let packager = toml::from_str::<toml::Table>(&fields)
        .ok()
        .and_then(|t| {
            t.get("packager")
                .and_then(|p| p.as_str().map(str::to_string))
        })
        .ok_or_else(|| Error::Definition {
            path: rpm_dir.path(RPM_FIELDS),
            reason: "no packager".into(),
        })?;
    let fields = format!("{fields}{}", rpm_changelog(forest, &packager));
    let rpm_def = RpmDefinition::load_from(&rpm_dir.give(RPM_FIELDS, fields), RPM_FIELDS)?;

    let cache = BlockCache::in_memory();
    let resources = Resources {
        threads: 1,
        cache: &cache,
    };
    let pending = Pending::new(out)?;
    let v = &package.version;
    let deb_name = format!("{}_{}_all.deb", package.name, v.deb());
    atomic::write_with(&pending.path(&deb_name), atomic::Options::REPLACE, |w| {
        deb::write_deb(
            &tree,
            &package,
            Target::Independent,
            &debian,
            Compression::Xz,
            &resources,
            w,
        )
    })?;
    let rpm_name = format!(
        "{}-{}-{}.noarch.rpm",
        package.name,
        v.rpm_version(),
        v.rpm_release()
    );
    atomic::write_with(&pending.path(&rpm_name), atomic::Options::REPLACE, |w| {
        rpm_writer::write_rpm(
            &tree,
            &package,
            Target::Independent,
            &rpm_def,
            &resources,
            w,
        )
    })?;
    pending.commit(&[deb_name, rpm_name])
}

/// The package's files.
fn tree(forest: &Forest, definition: &Definition, date: u64) -> Result<crate::stage::StagedTree> {
    let files = DefinitionDir::new(&definition.trust_dir.join("files"))
        .fill("FOREST", forest.id())
        .fill("REPO", &definition.repository.id);
    let mut tree = TreeBuilder::new();
    let mut add = |path: String, kind: EntryKind, mode: u32| {
        tree.add(Entry {
            path,
            kind,
            mode,
            user: "root".into(),
            group: "root".into(),
            config: false,
            owned: true,
        })
    };
    let file = |data: Vec<u8>| EntryKind::File(Arc::new(data));
    for dir in [
        "/usr/share/nimsforest",
        SHARE,
        &format!("{SHARE}/nodes"),
        "/usr/libexec/nimsforest-forest",
    ] {
        add(dir.to_string(), EntryKind::Dir, 0o755)?;
    }
    add(
        format!("{SHARE}/forest.conf"),
        file(forest_conf(forest)?.into_bytes()),
        0o644,
    )?;
    add(
        format!("{SHARE}/ca.pem"),
        file(forest.trusted_cas()?.as_str().as_bytes().to_vec()),
        0o644,
    )?;
    for (name, _) in forest.manifest().trusted_nodes() {
        let cert = forest.certificate(Kind::Node, name)?;
        add(
            format!("{SHARE}/nodes/{name}.pem"),
            file(cert.pem().into_bytes()),
            0o644,
        )?;
    }
    add(
        INCLUDED.to_string(),
        EntryKind::Symlink(format!("{SHARE}/forest.conf")),
        0o777,
    )?;
    for (name, dest, mode) in [
        ("apply", "/usr/libexec/nimsforest-forest/apply", 0o755),
        ("update", "/usr/libexec/nimsforest-forest/update", 0o755),
        (
            "nimsforest-forest-update.service",
            "/usr/lib/systemd/system/nimsforest-forest-update.service",
            0o644,
        ),
        (
            "nimsforest-forest-update.timer",
            "/usr/lib/systemd/system/nimsforest-forest-update.timer",
            0o644,
        ),
    ] {
        add(dest.to_string(), file(files.text(name)?.into_bytes()), mode)?;
    }
    tree.finish(date)
}

/// The `Maintainer:` of the package's control file: the author of its changelog.
fn maintainer(dir: &DefinitionDir) -> Result<String> {
    let text = dir.text("control")?;
    let paragraphs = deb822::parse(&text).map_err(|e| Error::Definition {
        path: dir.path("control"),
        reason: e.to_string(),
    })?;
    paragraphs
        .iter()
        .find_map(|p| deb822::get(p, "Maintainer"))
        .map(str::to_string)
        .ok_or_else(|| Error::Definition {
            path: dir.path("control"),
            reason: "missing required field Maintainer".into(),
        })
}

/// One entry per version of the trust package, newest first: the forest's history.
fn debian_changelog(forest: &Forest, maintainer: &str) -> String {
    let package = forest.package_name();
    forest
        .manifest()
        .changes
        .iter()
        .rev()
        .map(|change| {
            format!(
                "{package} ({}) unstable; urgency=medium\n\n  * {}\n\n -- {maintainer}  {}\n",
                Version::counter(change.version).deb(),
                change.summary,
                deb::changelog_date(change.date as i64)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same history as `[[changelog]]` tables of the RPM fields file.
fn rpm_changelog(forest: &Forest, packager: &str) -> String {
    let mut out = String::new();
    for change in forest.manifest().changes.iter().rev() {
        let day = time::OffsetDateTime::from_unix_timestamp(change.date as i64)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        let _ = write!(
            out,
            "\n[[changelog]]\ndate = {day}\nauthor = {}\nversion = \"{}\"\nchanges = [{}]\n",
            toml_string(packager),
            Version::counter(change.version).deb(),
            toml_string(&change.summary)
        );
    }
    out
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
