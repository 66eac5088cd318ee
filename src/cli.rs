//! The command line: global options and one subcommand, handed to its module in `command`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::command::{self, build, cloud_init, forest, keygen, pin, promote, repo, Context};
use crate::error::Result;

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
    Build(build::BuildArgs),
    /// Pin a new upstream version: fetch its SHA256SUMS and rewrite the pinned hashes.
    Pin(pin::PinArgs),
    /// Publish dist/ as signed apt and dnf repositories (adds to an existing tree).
    Repo(repo::RepoArgs),
    /// Publish one version's signed packages from one channel to another (testing to
    /// stable), byte for byte.
    Promote(promote::PromoteArgs),
    /// Write a new OpenPGP signing key pair that current apt, rpm and dnf accept.
    Keygen(keygen::KeygenArgs),
    /// Print #cloud-config user-data that installs the package from the repository.
    CloudInit(Box<cloud_init::CloudInitArgs>),
    /// Make and manage a closed forest's secrets: its CA, node certificates, client users.
    Forest(forest::ForestArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context {
        manifest: cli.manifest_path,
        cache_dir: cli.cache_dir,
    };
    match cli.command {
        Command::Build(args) => command::build::run(&ctx, args),
        Command::Pin(args) => command::pin::run(&ctx, args),
        Command::Repo(args) => command::repo::run(&ctx, args),
        Command::Promote(args) => command::promote::run(&ctx, args),
        Command::Keygen(args) => command::keygen::run(&ctx, args),
        Command::CloudInit(args) => command::cloud_init::run(&ctx, *args),
        Command::Forest(args) => command::forest::run(&ctx, args),
    }
}
