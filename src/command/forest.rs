//! `nimsforest-pkg forest`: a closed forest's CA, nodes and users, and its life after: each
//! change ends in a new version of the forest's trust package, written to `--out` for
//! `repo` to publish; nodes take it by themselves.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::Context;
use crate::error::{Error, Result};
use crate::fleet::status::{self as fleet_status, Status};
use crate::fleet::{self, Fleet};
use crate::forest::{trust, utc, Forest, Kind, NodeRole, Role, RotationStep, Validity, MAX_DAYS};

#[derive(Debug, clap::Args)]
pub struct ForestArgs {
    #[command(subcommand)]
    pub command: ForestCommand,
}

/// Where a command writes the trust package, and the forest it works on.
#[derive(Debug, clap::Args)]
pub struct Place {
    /// The forest's directory of secrets (0700; back it up, keep it private).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Where the new version of the trust package goes (with dist/SHA256SUMS), for `repo`.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub out: PathBuf,
}

/// How long certificates are valid.
#[derive(Debug, clap::Args)]
pub struct Days {
    #[arg(long, value_name = "DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
    pub days: u32,
}

#[derive(Debug, clap::Subcommand)]
pub enum ForestCommand {
    /// Make a new forest: its CA and the users `app` (applications) and `sys` (operators),
    /// and version 1 of its trust package. DIR is created 0700, or an existing empty one
    /// is used and set to 0700.
    Init {
        #[command(flatten)]
        place: Place,
        /// The forest id: the NATS cluster's name and part of the trust package's name
        /// (lower-case letters, digits, '-', '.').
        #[arg(long, value_name = "ID")]
        forest_id: String,
        /// How long the CA is valid.
        #[arg(long, value_name = "DAYS", default_value_t = 3650,
              value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
        ca_days: u32,
        #[command(flatten)]
        days: Days,
    },
    /// Add a node: its key and certificate (server and client: for clients, and for
    /// routes and gateways, or for leaf node connections with --leaf), trusted from the
    /// next version of the trust package on. Its key reaches it in its user-data
    /// (`cloud-init --forest`).
    Node {
        #[command(flatten)]
        place: Place,
        /// The node's host name (its NATS server_name).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// An address clients and the other nodes reach it at (repeat for each).
        #[arg(long = "address", value_name = "IP", required = true)]
        addresses: Vec<IpAddr>,
        /// An edge node (role leaf): it connects to the core over leaf node connections
        /// and its certificate joins no cluster.
        #[arg(long)]
        leaf: bool,
        #[command(flatten)]
        days: Days,
    },
    /// Add a client user: its key and certificate, and its place in the accounts.
    User {
        #[command(flatten)]
        place: Place,
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A user of the system account (operators, monitoring) instead of the forest's.
        #[arg(long)]
        system: bool,
        #[command(flatten)]
        days: Days,
    },
    /// New certificates for the existing keys of every trusted node and user, or of NAME,
    /// before they expire. Nodes take theirs from the trust package; give users theirs.
    Renew {
        #[command(flatten)]
        place: Place,
        /// One node or user; every one without.
        name: Option<String>,
        #[command(flatten)]
        days: Days,
    },
    /// Revoke a node or a user: the nodes that apply the next trust package drop its
    /// connections, and it cannot connect again.
    Revoke {
        #[command(flatten)]
        place: Place,
        name: String,
    },
    /// Take a node out of the forest for good: revoked (if it is not yet), and its
    /// JetStream peer removed, through the system account. Do it once the node is gone.
    /// For a leaf node: once every core node applied its revocation, its connections that
    /// are still open are closed (a reload refuses only new ones).
    Remove {
        #[command(flatten)]
        place: Place,
        name: String,
        /// A node's client URL (tls://HOST:4222; repeat for more).
        #[arg(long = "server", value_name = "URL", required = true)]
        servers: Vec<String>,
    },
    /// Roll out a new CA, one step a run: (1) the new CA is trusted beside the old one,
    /// (2) every certificate is re-issued by it, (3) the old CA is dropped. Steps 2 and 3
    /// first check that every node applied the step before (--server).
    RotateCa {
        #[command(flatten)]
        place: Place,
        /// How long a new CA is valid.
        #[arg(long, value_name = "DAYS", default_value_t = 3650,
              value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
        ca_days: u32,
        #[command(flatten)]
        days: Days,
        /// A node's client URL (tls://HOST:4222; repeat for more), to check the nodes.
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
        /// Skip that check (when the nodes are known to be current by other means).
        #[arg(long)]
        unchecked: bool,
    },
    /// The CAs and certificates the forest knows, their state and when each expires.
    List {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// The forest as its nodes see it, through the system account from any node's client
    /// port: each node's version, uptime, routes, JetStream role and lag, health, trust
    /// version and certificate, the streams whose replicas are behind, and a verdict. Exit
    /// status 0 healthy, 1 degraded, 2 unreachable.
    Status {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A node's client URL (tls://HOST:4222; repeat for more: the first that answers).
        #[arg(long = "server", value_name = "URL", required = true)]
        servers: Vec<String>,
        /// The report as JSON, for scripts and monitoring.
        #[arg(long)]
        json: bool,
    },
    /// Write the trust package of the forest's current version again.
    Package {
        #[command(flatten)]
        place: Place,
    },
}

/// Now, once it is later than the forest's last change: rpm dates a package built "in the
/// future" by its build instead, and a rebuild would differ. Two changes within one second
/// wait for the next (a fixed `SOURCE_DATE_EPOCH` never waits).
fn change_date(forest: &Forest) -> Result<u64> {
    let next = forest.manifest().next_date();
    loop {
        let now = super::unix_now()?;
        if now >= next || super::source_date_epoch()?.is_some() {
            return Ok(now);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn report(what: &str, path: &Path) {
    println!("{what}: {}", path.display());
}

/// Records the change, writes the trust package and says how to publish it.
fn publish(ctx: &Context, forest: &mut Forest, out: &Path, summary: &str) -> Result<()> {
    let version = forest.commit(change_date(forest)?, summary)?;
    println!("trust version {version}: {summary}");
    write(ctx, forest, out)
}

fn write(ctx: &Context, forest: &Forest, out: &Path) -> Result<()> {
    let definition = ctx.definition()?;
    for path in trust::write_package(forest, &definition, out)? {
        report("  package", &path);
    }
    println!(
        "  publish it (`nimsforest-pkg repo --dist {}`); nodes take it within minutes",
        out.display()
    );
    Ok(())
}

pub fn run(ctx: &Context, args: ForestArgs) -> Result<()> {
    match args.command {
        ForestCommand::Init {
            place,
            forest_id,
            ca_days,
            days,
        } => {
            let date = super::unix_now()?;
            let forest = Forest::create(&place.dir, &forest_id, ca_days, days.days, date)?;
            report(&format!("forest {}", forest.id()), forest.dir());
            report(
                "  CA key (0600, keep it offline when not issuing)",
                &place.dir.join("ca-key.pem"),
            );
            report("  user app", &forest.user_dir("app"));
            report("  user sys (system account)", &forest.user_dir("sys"));
            println!("trust version 1: the forest's CA and its users");
            write(ctx, &forest, &place.out)
        }
        ForestCommand::Node {
            place,
            name,
            addresses,
            leaf,
            days,
        } => {
            let mut forest = Forest::open(&place.dir)?;
            let role = if leaf { NodeRole::Leaf } else { NodeRole::Core };
            forest.add_node(&name, &addresses, role, Validity::days_from_now(days.days)?)?;
            report(&format!("node {name}"), &forest.node_dir(&name));
            publish(ctx, &mut forest, &place.out, &format!("added node {name}"))
        }
        ForestCommand::User {
            place,
            name,
            system,
            days,
        } => {
            let mut forest = Forest::open(&place.dir)?;
            let role = if system { Role::System } else { Role::App };
            forest.add_user(&name, role, Validity::days_from_now(days.days)?)?;
            report(&format!("user {name}"), &forest.user_dir(&name));
            publish(ctx, &mut forest, &place.out, &format!("added user {name}"))
        }
        ForestCommand::Renew { place, name, days } => {
            let mut forest = Forest::open(&place.dir)?;
            let renewed = forest.renew(name.as_deref(), days.days)?;
            let summary = match &name {
                Some(name) => format!("renewed the certificate of {name}"),
                None => format!(
                    "renewed the certificates of every node and user ({})",
                    renewed.join(", ")
                ),
            };
            publish(ctx, &mut forest, &place.out, &summary)
        }
        ForestCommand::Revoke { place, name } => {
            let mut forest = Forest::open(&place.dir)?;
            let kind = forest.revoke(&name)?;
            let what = match kind {
                Kind::Node => "node",
                Kind::User => "user",
            };
            publish(
                ctx,
                &mut forest,
                &place.out,
                &format!("revoked {what} {name}"),
            )
        }
        ForestCommand::Remove {
            place,
            name,
            servers,
        } => {
            let mut forest = Forest::open(&place.dir)?;
            let trusted = forest
                .manifest()
                .nodes
                .get(&name)
                .map(|node| !node.revoked)
                .ok_or_else(|| Error::Usage {
                    what: format!("node {name}"),
                    reason: format!("is no node of the forest {}", forest.id()),
                })?;
            if trusted {
                forest.revoke(&name)?;
                publish(
                    ctx,
                    &mut forest,
                    &place.out,
                    &format!("removed node {name}"),
                )?;
            }
            if forest.node_role(&name) == Some(NodeRole::Leaf) {
                // Not a JetStream peer of the core; its open connections outlive the
                // reload that revoked it, so they are closed once every core node has
                // applied the revocation (it cannot come back then).
                let fleet = Fleet::connect(&forest, &servers)?;
                core_nodes_applied(&forest, &fleet, "forest remove")?;
                let cores = forest.manifest().trusted_nodes_of(NodeRole::Core).len();
                let closed = fleet.disconnect_leaf(&name, cores)?;
                match closed.as_slice() {
                    [] => println!("leaf node {name}: no connection to the core was open"),
                    _ => println!(
                        "leaf node {name}: its connections to {} are closed",
                        closed.join(", ")
                    ),
                }
                return Ok(());
            }
            Fleet::connect(&forest, &servers)?.remove_peer(&name)?;
            println!("node {name}: its JetStream peer is removed");
            Ok(())
        }
        ForestCommand::RotateCa {
            place,
            ca_days,
            days,
            servers,
            unchecked,
        } => {
            let mut forest = Forest::open(&place.dir)?;
            if forest.manifest().rotation.is_some() && !unchecked {
                every_node_applied(&forest, &servers)?;
            }
            let step = forest.rotate_ca(ca_days, days.days)?;
            let summary = match &step {
                RotationStep::Trusted { ca } => {
                    format!("trusted a new CA, {ca}, beside the old one")
                }
                RotationStep::Reissued { count } => {
                    format!("re-issued {count} certificates by the new CA")
                }
                RotationStep::Finished => "dropped the old CA".to_string(),
            };
            publish(ctx, &mut forest, &place.out, &summary)?;
            if step != RotationStep::Finished {
                println!(
                    "  once every node applied it, run `forest rotate-ca` again for the next step"
                );
            }
            Ok(())
        }
        ForestCommand::List { dir } => {
            let forest = Forest::open(&dir)?;
            let now = super::unix_now()? as i64;
            println!(
                "forest {}, trust version {}{}",
                forest.id(),
                forest.version(),
                match forest.manifest().rotation {
                    Some(step) => format!(", CA rotation at {step:?}"),
                    None => String::new(),
                }
            );
            println!(
                "{:<5} {:<24} {:<8} {:<24} {:>9}  pin",
                "kind", "name", "state", "valid until", "days left"
            );
            for entry in forest.list()? {
                println!(
                    "{:<5} {:<24} {:<8} {:<24} {:>9}  {}",
                    entry.kind,
                    entry.name,
                    entry.state,
                    utc(entry.not_after),
                    (entry.not_after - now).div_euclid(86_400),
                    &entry.pin[..16]
                );
            }
            Ok(())
        }
        ForestCommand::Status { dir, servers, json } => status(&dir, &servers, json),
        ForestCommand::Package { place } => {
            let forest = Forest::open(&place.dir)?;
            println!("trust version {}", forest.version());
            write(ctx, &forest, &place.out)
        }
    }
}

fn status(dir: &Path, servers: &[String], json: bool) -> Result<()> {
    let forest = Forest::open(dir)?;
    let nodes = forest.manifest().trusted_nodes_of(NodeRole::Core);
    let leaves = forest.manifest().trusted_nodes_of(NodeRole::Leaf);
    let now = super::unix_now()? as i64;
    let asked = Fleet::connect(&forest, servers)
        .and_then(|fleet| fleet_status::gather(&fleet, nodes.len()));
    let (id, version) = (forest.id(), forest.version());
    let status = match asked {
        Ok(answers) => fleet_status::assess(id, version, &nodes, &leaves, &answers, now),
        Err(e @ Error::Unreachable { .. }) => {
            Status::unreachable(id, version, &nodes, &leaves, e.to_string())
        }
        Err(e) => return Err(e),
    };
    if json {
        let text = serde_json::to_string_pretty(&status).expect("a status serializes");
        println!("{text}");
    } else {
        print!("{}", fleet_status::render(&status));
    }
    match status.verdict.exit_code() {
        0 => Ok(()),
        code => Err(Error::Reported { code }),
    }
}

/// Every trusted node reports the forest's current trust version: the step before was
/// applied everywhere.
fn every_node_applied(forest: &Forest, servers: &[String]) -> Result<()> {
    let leaves = forest.manifest().trusted_nodes_of(NodeRole::Leaf);
    if !leaves.is_empty() {
        // A leaf node keeps its own system account: its trust version cannot be asked.
        return Err(Error::Usage {
            what: "forest rotate-ca".into(),
            reason: format!(
                "cannot check the leaf nodes ({}) through the system account: check that \
                 each applied trust version {} (`nimsforest_trust` in its /varz metadata), \
                 then run it again with --unchecked",
                leaves.join(", "),
                forest.version()
            ),
        });
    }
    if servers.is_empty() {
        return Err(Error::Usage {
            what: "forest rotate-ca".into(),
            reason: "checks that every node applied the previous step: give a node's client \
                     URL with --server tls://HOST:4222 (or --unchecked)"
                .into(),
        });
    }
    let fleet = Fleet::connect(forest, servers)?;
    core_nodes_applied(forest, &fleet, "forest rotate-ca")
}

/// Every trusted core node reports the forest's current trust version, asked through
/// `fleet` (`what` names the command that waits for it).
fn core_nodes_applied(forest: &Forest, fleet: &Fleet, what: &str) -> Result<()> {
    let nodes = forest.manifest().trusted_nodes_of(NodeRole::Core);
    let varz = fleet.ping("VARZ", serde_json::json!({}), nodes.len(), fleet::GATHER)?;
    let versions = fleet::trust_versions(&varz);
    let want = forest.version();
    let behind: Vec<String> = nodes
        .iter()
        .filter_map(|node| match versions.get(node) {
            Some(Some(v)) if *v >= want => None,
            Some(Some(v)) => Some(format!("{node} (at {v})")),
            Some(None) => Some(format!("{node} (no trust version)")),
            None => Some(format!("{node} (no answer)")),
        })
        .collect();
    if behind.is_empty() {
        return Ok(());
    }
    Err(Error::Usage {
        what: what.into(),
        reason: format!(
            "not every node applied trust version {want} yet: {}; wait for them (or \
             publish it), then run it again",
            behind.join(", ")
        ),
    })
}
