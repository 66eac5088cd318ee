//! Command-line definitions, turned into validated plans.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::build::{self, BuildPlan, Format};
use crate::cloudinit::{self, CloudInit};
use crate::deb::Compression;
use crate::dist::write_atomically;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::pin;
use crate::publish::{self, RepoPlan, APT_DIR, RPM_DIR};
use crate::repo::apt::AptOptions;
use crate::sign::{keygen, KeyAlgorithm, Signer, PASSPHRASE_ENV};
use crate::spec::{Arch, Definition};

#[derive(Debug, Parser)]
#[command(
    name = "nimsforest-pkg",
    version,
    about = "Builds nimsforest-nats .deb and .rpm packages from verified upstream NATS server releases"
)]
pub struct Cli {
    /// The package definition: a Cargo.toml with [package.metadata.nimsforest].
    #[arg(long, global = true, default_value = "Cargo.toml", value_name = "PATH")]
    pub manifest_path: PathBuf,

    /// Download cache (content-addressed by SHA-256) [default: $XDG_CACHE_HOME/nimsforest-pkg]
    #[arg(long, global = true, env = "NIMSFOREST_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the pinned release for every pinned arch, as .deb and .rpm, into dist/.
    Build(BuildArgs),
    /// Pin a new upstream version: fetch its SHA256SUMS and rewrite the pinned hashes.
    Pin(PinArgs),
    /// Publish dist/ as signed apt and dnf repositories (adds to an existing tree).
    Repo(RepoArgs),
    /// Write a new OpenPGP signing key pair that current apt, rpm and dnf accept.
    Keygen(KeygenArgs),
    /// Print #cloud-config user-data that installs nimsforest-nats from the repository.
    CloudInit(CloudInitArgs),
}

#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// The repository tree to create or extend.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Where the packages are.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,

    /// The URL OUT will be served at, for the ready client files (nimsforest.sources, .repo).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Only these formats.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "FORMAT")]
    pub format: Vec<Format>,

    /// apt suite.
    #[arg(long, default_value = "stable")]
    pub suite: String,

    /// Skip apt's by-hash index copies.
    #[arg(long)]
    pub no_by_hash: bool,

    /// Armored secret key file [default: the key in $NIMSFOREST_SIGNING_KEY]; a passphrase
    /// comes from $NIMSFOREST_SIGNING_KEY_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for nimsforest-signing-key.asc (secret, mode 0600) and nimsforest.asc (public).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The key's user ID.
    #[arg(
        long,
        default_value = "NimsForest Packages <packages@nimsforest.invalid>"
    )]
    pub user_id: String,

    #[arg(long, value_enum, default_value = "ed25519")]
    pub algorithm: KeyAlgorithm,
}

#[derive(Debug, clap::Args)]
pub struct CloudInitArgs {
    /// The URL the `repo` tree is served at.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The repository's public key (armored), e.g. OUT/nimsforest.asc.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// The yum/dnf variant instead of apt.
    #[arg(long)]
    pub rpm: bool,

    #[arg(long, default_value = "stable")]
    pub suite: String,

    /// The forest (NATS cluster) this node joins; written to /etc/morpheus/node-info.json.
    #[arg(long, value_name = "ID")]
    pub forest_id: Option<String>,

    /// A cluster route, e.g. nats-route://10.0.0.2:6222 (repeat for every node).
    #[arg(long = "route", value_name = "URL")]
    pub routes: Vec<String>,

    /// The node's host name (its NATS server_name).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Install this package version instead of the newest.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Only these arches (upstream, Debian or RPM names; repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    pub arch: Vec<String>,

    /// Only these formats.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "FORMAT")]
    pub format: Vec<Format>,

    /// Release base URL, for mirrors: {URL}/v{VERSION}/{asset} [default: the definition's mirror, GitHub]
    #[arg(long, env = "NIMSFOREST_MIRROR", value_name = "URL")]
    pub mirror: Option<String>,

    /// Output directory.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub out: PathBuf,

    /// Packaging revision (the -N in 2.15.1-N) [default: the definition's]
    #[arg(long, value_name = "N")]
    pub revision: Option<String>,

    /// Compression of the .deb's data.tar: xz, zstd or gzip.
    #[arg(long, default_value = "xz", value_name = "ALGO")]
    pub deb_compression: Compression,
}

#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// Upstream version, e.g. 2.15.1.
    pub version: String,

    /// Release base URL to read SHA256SUMS from [default: the definition's mirror, GitHub]
    #[arg(long, env = "NIMSFOREST_MIRROR", value_name = "URL")]
    pub mirror: Option<String>,
}

pub fn run(cli: Cli) -> Result<()> {
    let fetcher = Fetcher::new(cache_dir(cli.cache_dir))?;
    match cli.command {
        Command::Build(args) => {
            let plan = build_plan(&cli.manifest_path, args)?;
            let written = build::build(&plan, &fetcher)?;
            for path in written {
                println!("{}", path.display());
            }
        }
        Command::Pin(args) => {
            let pinned = pin::pin(
                &cli.manifest_path,
                &args.version,
                args.mirror.as_deref(),
                &fetcher,
            )?;
            println!(
                "pinned nats-server {} in {}:",
                pinned.version,
                cli.manifest_path.display()
            );
            for (arch, hash) in pinned.sha256 {
                println!("  {arch:8} {hash}");
            }
        }
        Command::Repo(args) => repo(args)?,
        Command::Keygen(args) => write_keys(args)?,
        Command::CloudInit(args) => print!("{}", user_data(args)?),
    }
    Ok(())
}

fn repo(args: RepoArgs) -> Result<()> {
    let date = source_date()?
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or_else(std::time::SystemTime::now);
    let unix = date
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let signer = Signer::load(args.signing_key.as_deref())?.with_signing_time(unix);
    let plan = RepoPlan {
        formats: if args.format.is_empty() {
            vec![Format::Deb, Format::Rpm]
        } else {
            args.format
        },
        apt: AptOptions {
            suite: args.suite,
            by_hash: !args.no_by_hash,
            date,
            ..AptOptions::default()
        },
        dist: args.dist,
        out: args.out,
        url: args.url,
        date,
    };
    let summary = publish::publish(&plan, &signer)?;
    let describe = |added: &[String], unchanged: bool| match (added.len(), unchanged) {
        (_, true) => "unchanged".to_string(),
        (0, false) => "re-indexed".to_string(),
        (n, false) => format!("{n} package(s) added"),
    };
    if let Some(apt) = summary.apt {
        println!(
            "{}: {}",
            plan.out.join(APT_DIR).display(),
            describe(&apt.added, apt.unchanged)
        );
    }
    if let Some(dnf) = summary.dnf {
        println!(
            "{}: {}",
            plan.out.join(RPM_DIR).display(),
            describe(&dnf.added, dnf.unchanged)
        );
    }
    println!("signed by {}", signer.fingerprint());
    Ok(())
}

fn write_keys(args: KeygenArgs) -> Result<()> {
    let passphrase = std::env::var(PASSPHRASE_ENV).ok();
    let secret_path = args.out.join("nimsforest-signing-key.asc");
    if secret_path.exists() {
        return Err(Error::Definition {
            path: secret_path,
            reason: "already exists; refusing to overwrite a signing key".into(),
        });
    }
    let key = keygen(&args.user_id, args.algorithm, passphrase.as_deref())?;
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io {
        path: args.out.clone(),
        source,
    })?;
    write_atomically(
        &args.out.join("nimsforest.asc"),
        key.public_armored.as_bytes(),
    )?;
    write_secret(&secret_path, key.secret_armored.as_bytes())?;
    println!("{}", key.fingerprint);
    Ok(())
}

/// Creates the secret key file readable by its owner only, from the first byte on.
fn write_secret(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)
}

fn user_data(args: CloudInitArgs) -> Result<String> {
    let public_key_armored = std::fs::read_to_string(&args.key).map_err(|source| Error::Io {
        path: args.key.clone(),
        source,
    })?;
    let base = args.url.trim_end_matches('/');
    cloudinit::user_data(&CloudInit {
        repo_url: format!("{base}/{}", if args.rpm { RPM_DIR } else { APT_DIR }),
        public_key_armored,
        suite: args.suite,
        component: "main".into(),
        forest_id: args.forest_id,
        routes: args.routes,
        server_name: args.server_name,
        rpm: args.rpm,
        version: args.version,
    })
}

fn source_date() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Definition {
                path: "SOURCE_DATE_EPOCH".into(),
                reason: format!("{value:?} is not a number of seconds"),
            }),
        Err(_) => Ok(None),
    }
}

fn build_plan(manifest: &std::path::Path, args: BuildArgs) -> Result<BuildPlan> {
    let definition = Definition::load(manifest)?;
    let arches = if args.arch.is_empty() {
        definition.upstream.sha256.keys().copied().collect()
    } else {
        let mut chosen = BTreeSet::new();
        for name in &args.arch {
            chosen.insert(name.parse::<Arch>()?);
        }
        chosen.into_iter().collect()
    };
    let formats = if args.format.is_empty() {
        BTreeSet::from([Format::Deb, Format::Rpm])
    } else {
        args.format.into_iter().collect()
    };
    let package = definition.package_id(args.revision.as_deref())?;
    let mtime = source_date()?.unwrap_or(definition.upstream.released);
    Ok(BuildPlan {
        mirror: args.mirror.unwrap_or_else(|| definition.mirror.clone()),
        package,
        arches,
        formats,
        out: args.out,
        deb_compression: args.deb_compression,
        mtime,
        definition,
    })
}

fn cache_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("nimsforest-pkg"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nimsforest-pkg"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/nimsforest-pkg"))
}
