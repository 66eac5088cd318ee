//! The command line of `nimsforest-pkg build` (default: every pinned arch, both formats,
//! into dist/), turned into a plan for the pipeline in `crate::build`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{source_date_epoch, Context};
use crate::build::{self, BuildPlan};
use crate::compress::BlockCache;
use crate::deb::Compression;
use crate::definition::{Arch, Format};
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::weburl::{mirror_url, UrlArg};

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Only these arches (upstream, Debian or RPM names; repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    pub arch: Vec<String>,

    /// Only these formats.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "FORMAT")]
    pub format: Vec<Format>,

    /// Release base URL, for mirrors: {URL}/v{VERSION}/{asset} [default: the definition's
    /// mirror, GitHub]. May carry user:password@ for basic authentication (never printed).
    #[arg(
        long,
        env = "NIMSFOREST_MIRROR",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub mirror: Option<UrlArg>,

    /// Take the upstream version and tarball pins from this file instead of the
    /// definition's (the test mirror's are in tests/fixture/pins.toml). Never read from the
    /// environment: a real build cannot pick it up by accident.
    #[arg(long, value_name = "FILE")]
    pub pins: Option<PathBuf>,

    /// Output directory.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub out: PathBuf,

    /// Packaging revision (the -N in 2.15.1-N) [default: the definition's]
    #[arg(long, value_name = "N")]
    pub revision: Option<String>,

    /// Compression of the .deb's data.tar.
    #[arg(long, value_enum, default_value_t = Compression::Xz, value_name = "ALGO")]
    pub deb_compression: Compression,
}

pub fn run(ctx: &Context, args: BuildArgs) -> Result<()> {
    let mut definition = ctx.definition()?;
    let mirror = match &args.mirror {
        Some(url) => mirror_url("--mirror", url.as_str())?,
        None => mirror_url("mirror", &definition.mirror)?,
    };
    if let Some(pins) = &args.pins {
        definition = definition.with_pins_file(pins)?;
    }
    let usage = |what: &str, e: Error| Error::Usage {
        what: what.into(),
        reason: e.to_string(),
    };
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
    let package = definition
        .package_id(args.revision.as_deref())
        .map_err(|e| usage("--revision", e))?;
    let mtime = source_date_epoch()?.unwrap_or(definition.upstream.released);
    let plan = BuildPlan {
        mirror,
        package,
        arches,
        formats,
        out: args.out,
        deb_compression: args.deb_compression,
        mtime,
        definition,
        // Beside the downloads (`sha256/`): compressed blocks of the server binaries.
        block_cache: BlockCache::in_dir(&ctx.cache_dir().join("xz-blocks")),
    };
    let written = build::build(&plan, &Fetcher::new(ctx.cache_dir()))?;
    for path in written {
        println!("{}", path.display());
    }
    // Which pins vouched for the downloads, said on every build so that a build from the
    // test mirror's pins cannot pass for a release build (a refused download names them too).
    eprintln!(
        "built nats-server {} as pinned in {}",
        plan.definition.upstream.version,
        plan.definition.upstream.pinned_in.display()
    );
    Ok(())
}
