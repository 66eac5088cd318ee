//! The command line of `nimsforest-pkg pin VERSION`; the work is `crate::pin`'s.

use std::path::PathBuf;

use super::Context;
use crate::error::Result;
use crate::fetch::Fetcher;
use crate::pin::{self, Target};
use crate::weburl::UrlArg;

#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// Upstream version, e.g. 2.15.1.
    pub version: String,

    /// Release base URL to read SHA256SUMS from [default: the definition's mirror, GitHub].
    /// May carry user:password@ for basic authentication (never printed).
    #[arg(
        long,
        env = "NIMSFOREST_MIRROR",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub mirror: Option<UrlArg>,

    /// Write the pins into this pins file (see `build --pins`) instead of the manifest.
    #[arg(long, value_name = "FILE")]
    pub pins: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: PinArgs) -> Result<()> {
    let definition = ctx.definition()?;
    let target = match &args.pins {
        Some(file) => Target::PinsFile(file),
        None => Target::Manifest(&ctx.manifest),
    };
    let fetcher = Fetcher::new(ctx.cache_dir());
    let pinned = pin::pin(
        &definition,
        target,
        &args.version,
        args.mirror.as_ref().map(UrlArg::as_str),
        &fetcher,
    )?;
    let file = args.pins.as_ref().unwrap_or(&ctx.manifest);
    println!(
        "pinned nats-server {} in {}:",
        pinned.version,
        file.display()
    );
    for (arch, hash) in pinned.sha256 {
        println!("  {arch:8} {hash}");
    }
    Ok(())
}
