//! Command-line definitions, turned into validated plans.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::build::{self, BuildPlan, Format};
use crate::deb::Compression;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::pin;
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
    }
    Ok(())
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
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map_err(|_| Error::Definition {
            path: "SOURCE_DATE_EPOCH".into(),
            reason: format!("{value:?} is not a number of seconds"),
        })?,
        Err(_) => definition.upstream.released,
    };
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
