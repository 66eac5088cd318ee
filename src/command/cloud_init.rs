//! `nimsforest-pkg cloud-init`: prints a node's `#cloud-config` user-data.

use std::path::PathBuf;

use super::Context;
use crate::cloudinit::{self, Access, BasicAuth, ClientCertificate, CloudInit};
use crate::error::{Error, IoContext, Result};
use crate::forest::Forest;
use crate::repo::{APT_DIR, RPM_DIR};

#[derive(Debug, clap::Args)]
pub struct CloudInitArgs {
    /// The URL the `repo` tree is served at.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The repository's public key (armored), e.g. OUT/ID.asc.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The yum/dnf variant instead of apt.
    #[arg(long)]
    pub rpm: bool,

    #[arg(long, default_value = "stable")]
    pub suite: String,

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

pub fn run(ctx: &Context, args: CloudInitArgs) -> Result<()> {
    let definition = ctx.definition()?;
    let public_key_armored = std::fs::read_to_string(&args.key).at(&args.key)?;
    let read = |path: &PathBuf| std::fs::read_to_string(path).at(path);
    let access = Access {
        basic: match (&args.username, &args.password_file) {
            (Some(username), Some(file)) => Some(BasicAuth {
                username: username.clone(),
                password: read(file)?.trim_end_matches(['\n', '\r']).to_string(),
            }),
            _ => None,
        },
        client: match (&args.client_cert, &args.client_key) {
            (Some(cert), Some(key)) => Some(ClientCertificate {
                cert_pem: read(cert)?,
                key_pem: read(key)?,
            }),
            _ => None,
        },
        ca_pem: args.ca_cert.as_ref().map(read).transpose()?,
    };
    let (forest_id, forest_secrets) = match &args.forest {
        None => (args.forest_id, None),
        Some(dir) => {
            let forest = Forest::open(dir)?;
            if let Some(id) = args.forest_id.as_deref().filter(|id| *id != forest.id()) {
                return Err(Error::Usage {
                    what: format!("--forest-id {id}"),
                    reason: format!("{} is the forest {}", dir.display(), forest.id()),
                });
            }
            let name = args.server_name.as_deref().unwrap_or_default();
            (
                Some(forest.id().to_string()),
                Some(forest.node_secrets(name)?),
            )
        }
    };
    let base = args.url.trim_end_matches('/');
    let user_data = cloudinit::user_data(&CloudInit {
        package: definition.name,
        repository: definition.repository,
        repo_url: format!("{base}/{}", if args.rpm { RPM_DIR } else { APT_DIR }),
        public_key_armored,
        suite: args.suite,
        component: "main".into(),
        forest_id,
        routes: args.routes,
        server_name: args.server_name,
        rpm: args.rpm,
        version: args.version,
        access,
        forest_secrets,
        insecure_open_forest: args.insecure_open_forest,
    })?;
    print!("{user_data}");
    Ok(())
}
