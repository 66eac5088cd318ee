//! `nimsforest-pkg forest`: a closed forest's CA, node certificates and client users.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::forest::{Forest, Role, Validity, MAX_DAYS};

/// `--days` and `--ca-days`: 1 to 100 years (a leaf is further bounded by its CA).
fn days() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS))
}

#[derive(Debug, clap::Args)]
pub struct ForestArgs {
    #[command(subcommand)]
    pub command: ForestCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ForestCommand {
    /// Make a new forest: its CA and the users `app` (applications) and `sys` (operators).
    Init {
        /// The forest's directory of secrets: a new one (created 0700 whatever the umask)
        /// or an existing empty one (set to 0700). Back it up, keep it private.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The forest id: the NATS cluster's name.
        #[arg(long, value_name = "ID")]
        forest_id: String,
        /// How long the CA is valid (1 to 36500 days).
        #[arg(long, value_name = "DAYS", default_value_t = 3650, value_parser = days())]
        ca_days: u32,
        /// How long the users' certificates are valid (at most --ca-days).
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = days())]
        days: u32,
    },
    /// Issue a node's key and certificate (server and client, for clients and routes).
    Node {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The node's host name (its NATS server_name).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// An address clients and the other nodes reach it at (repeat for each).
        #[arg(long = "address", value_name = "IP")]
        addresses: Vec<IpAddr>,
        /// How long the certificate is valid (never beyond the forest CA).
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = days())]
        days: u32,
        /// Replace the node's existing key and certificate (rotation).
        #[arg(long)]
        renew: bool,
    },
    /// Issue a client user's key and certificate and add the user to auth.conf.
    User {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A user of the system account (operators, monitoring) instead of the forest's.
        #[arg(long)]
        system: bool,
        /// How long the certificate is valid (never beyond the forest CA).
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = days())]
        days: u32,
        /// Replace the user's existing key and certificate (rotation).
        #[arg(long)]
        renew: bool,
    },
}

fn report(what: &str, dir: &Path) {
    println!("{what}: {}", dir.display());
}

pub fn run(args: ForestArgs) -> Result<()> {
    match args.command {
        ForestCommand::Init {
            dir,
            forest_id,
            ca_days,
            days,
        } => {
            let forest = Forest::create(&dir, &forest_id, ca_days, days)?;
            report(&format!("forest {}", forest.id()), forest.dir());
            report("  CA certificate", &dir.join("ca.pem"));
            report(
                "  CA key (0600, keep it offline when not issuing)",
                &dir.join("ca-key.pem"),
            );
            report("  user app", &forest.user_dir("app"));
            report("  user sys (system account)", &forest.user_dir("sys"));
        }
        ForestCommand::Node {
            dir,
            name,
            addresses,
            days,
            renew,
        } => {
            let forest = Forest::open(&dir)?;
            let out =
                forest.issue_node(&name, &addresses, Validity::days_from_now(days)?, renew)?;
            report(&format!("node {name}"), &out);
        }
        ForestCommand::User {
            dir,
            name,
            system,
            days,
            renew,
        } => {
            let mut forest = Forest::open(&dir)?;
            let role = if system { Role::System } else { Role::App };
            let out = forest.add_user(&name, role, Validity::days_from_now(days)?, renew)?;
            report(&format!("user {name}"), &out);
            report("  accounts (give it to every node)", &dir.join("auth.conf"));
        }
    }
    Ok(())
}
