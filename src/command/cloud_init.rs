//! `nimsforest-pkg cloud-init`: prints a node's `#cloud-config` user-data.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Context;
use crate::cloud_init::{
    self, check_key, password_problem, Access, BasicAuth, ClientCertificate, CloudInit, Topology,
};
use crate::error::{Error, IoContext, Result};
use crate::forest::{Forest, NodeRole};
use crate::input::{self, unusable};
use crate::pem::{Certificates, PrivateKey};
use crate::repo::{Channel, APT_DIR};
use crate::weburl::{repository_url, UrlArg};

#[derive(Debug, clap::Args)]
pub struct CloudInitArgs {
    /// The URL the `repo` tree is served at (http or https, no credentials: give those
    /// with --username and --password-file).
    #[arg(long, value_name = "URL")]
    pub url: UrlArg,

    /// The repository's public key (armored), e.g. OUT/ID.asc.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The yum/dnf variant instead of apt.
    #[arg(long)]
    pub rpm: bool,

    /// The channel the node installs from: its apt suite, or its dnf tree.
    #[arg(long, value_enum, default_value = "stable", alias = "suite")]
    pub channel: Channel,

    /// The closed forest this node joins (a directory made by `nimsforest-pkg forest
    /// init`): the node gets the CA, its own certificate and key (`forest node`) and the
    /// forest's users; its cluster and client port then take only the forest's own.
    #[arg(long, value_name = "DIR", requires = "server_name")]
    pub forest: Option<PathBuf>,

    /// The forest (NATS cluster) this node joins; written to /etc/morpheus/node-info.json.
    /// Taken from --forest when that is given.
    #[arg(long, value_name = "ID")]
    pub forest_id: Option<String>,

    /// A forest with no TLS and no authentication, which anyone on the network may join
    /// and read: for a lab only.
    #[arg(long, conflicts_with = "forest")]
    pub insecure_open_forest: bool,

    /// A cluster route, e.g. nats-route://10.0.0.2:6222 (repeat for every node).
    #[arg(long = "route", value_name = "URL")]
    pub routes: Vec<String>,

    /// The node's role: core (a member of one of the forest's clusters) or leaf (an edge
    /// node that connects to core nodes, --hub). Taken from --forest when that is given.
    #[arg(long, value_name = "ROLE", value_parser = clap::value_parser!(NodeRole))]
    pub role: Option<NodeRole>,

    /// A core node's cluster, when the forest has one per region (default: the forest id).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// Another cluster of the forest and one of its gateways, e.g.
    /// east=nats://10.1.0.1:7222 (repeat for each URL and cluster).
    #[arg(long = "gateway", value_name = "CLUSTER=URL")]
    pub gateways: Vec<String>,

    /// A leaf node's hub: a core node's leaf node port, e.g. nats-leaf://10.0.0.1:7777
    /// (repeat for each).
    #[arg(long = "hub", value_name = "URL")]
    pub hubs: Vec<String>,

    /// A leaf node's JetStream domain (default: its host name).
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,

    /// The node's host name (its NATS server_name).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Install this package version instead of the newest.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// The user of a private repository (HTTP basic authentication; needs --password-file).
    #[arg(long, value_name = "NAME", requires = "password_file")]
    pub username: Option<String>,

    /// A file holding that user's password (one line; never given on the command line).
    #[arg(long, value_name = "FILE", requires = "username")]
    pub password_file: Option<PathBuf>,

    /// A TLS client certificate (PEM) the node presents to the repository server.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// The CA (PEM) of the repository server's certificate, trusted for that host only.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// The armored public key in `path`, checked (see [`check_key`]).
fn read_public_key(path: &Path) -> Result<String> {
    const WHAT: &str = "repository key";
    let text = input::read_text(WHAT, path)?;
    check_key(&text).map_err(|reason| unusable(WHAT, path, reason))
}

/// The password in `path`: its one line, without the line ending.
fn read_password(path: &Path) -> Result<String> {
    const WHAT: &str = "password file";
    let text = input::read_text(WHAT, path)?;
    let password = text
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&text);
    match password_problem(password) {
        Some(reason) => Err(unusable(WHAT, path, reason)),
        None => Ok(password.to_string()),
    }
}

/// The client certificate and its key, which must belong together.
fn read_client_certificate(cert: &Path, key: &Path) -> Result<ClientCertificate> {
    let cert_pem = Certificates::read_one("client certificate", cert)?;
    let key_pem = PrivateKey::read("client key", key)?;
    if !cert_pem.certs().iter().any(|c| key_pem.belongs_to(c)) {
        return Err(unusable(
            "client key",
            key,
            format!(
                "does not belong to the client certificate {}",
                cert.display()
            ),
        ));
    }
    Ok(ClientCertificate { cert_pem, key_pem })
}

pub fn run(ctx: &Context, args: CloudInitArgs) -> Result<()> {
    let definition = ctx.definition()?;
    let base = repository_url(args.url.as_str())?;
    let public_key_armored = read_public_key(&args.key)?;
    let access = Access {
        basic: match (&args.username, &args.password_file) {
            (Some(username), Some(file)) => Some(BasicAuth {
                username: username.clone(),
                password: read_password(file)?,
            }),
            _ => None,
        },
        client: match (&args.client_cert, &args.client_key) {
            (Some(cert), Some(key)) => Some(read_client_certificate(cert, key)?),
            _ => None,
        },
        ca_pem: args
            .ca_cert
            .as_deref()
            .map(|path| Certificates::read_bundle("repository CA", path))
            .transpose()?,
    };
    let (forest_id, forest_secrets, role) = match &args.forest {
        None => (args.forest_id, None, args.role),
        Some(dir) => {
            let forest = Forest::open(dir)?;
            if let Some(id) = args.forest_id.as_deref().filter(|id| *id != forest.id()) {
                return Err(Error::Usage {
                    what: format!("--forest-id {id:?}"),
                    reason: format!("{} is the forest {}", dir.display(), forest.id()),
                });
            }
            let name = args.server_name.as_deref().unwrap_or_default();
            let secrets = forest.node_secrets(name)?;
            // The forest made the node's certificate for its role: the two agree.
            let role = forest.node_role(name).unwrap_or_default();
            if let Some(asked) = args.role.filter(|asked| *asked != role) {
                return Err(Error::Usage {
                    what: format!("--role {}", asked.name()),
                    reason: format!(
                        "node {name} is a {} node of the forest {}",
                        role.name(),
                        forest.id()
                    ),
                });
            }
            let role = match role {
                NodeRole::Leaf => Some(NodeRole::Leaf),
                NodeRole::Core => args.role,
            };
            (Some(forest.id().to_string()), Some(secrets), role)
        }
    };
    let topology = Topology {
        role,
        cluster: args.cluster,
        gateways: Topology::parse_gateways(&args.gateways)?,
        hubs: args.hubs,
        domain: args.domain,
    };
    let user_data = cloud_init::user_data(&CloudInit {
        package: definition.name,
        repository: definition.repository,
        repo_url: match args.rpm {
            true => format!("{base}/{}", args.channel.rpm_root()),
            false => format!("{base}/{APT_DIR}"),
        },
        public_key_armored,
        suite: args.channel.suite().into(),
        component: "main".into(),
        forest_id,
        routes: args.routes,
        topology,
        server_name: args.server_name,
        rpm: args.rpm,
        version: args.version,
        access,
        forest_secrets,
        insecure_open_forest: args.insecure_open_forest,
    })?;
    // Written whole or reported: a closed pipe is an error, not a panic.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(user_data.as_bytes())
        .and_then(|()| stdout.flush())
        .at("standard output")?;
    Ok(())
}
