//! `nimsforest-pkg repo`: publishes dist/ as signed apt and dnf repositories, into one
//! channel. The options every publication shares (`promote` too) are here, once.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use super::Context;
use crate::definition::{Definition, Format};
use crate::error::Result;
use crate::repo::{self, Channel, RepoPlan, Source, APT_DIR};
use crate::sign::Signer;
use crate::store::{self, Metered, Store};
use crate::weburl::UrlArg;

#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// Where the packages are.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,

    /// The channel to publish to: its apt suite and its dnf tree (rpm/, rpm/testing/).
    #[arg(long, value_enum, default_value = "stable", alias = "suite")]
    pub channel: Channel,

    #[command(flatten)]
    pub publish: PublishArgs,
}

/// Where and how a publication goes: `repo` and `promote` alike.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The repository to create or extend: a directory, or s3://BUCKET[/PREFIX] (credentials,
    /// region and endpoint from the AWS_* environment variables).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub out: String,

    /// The URL OUT will be served at, for the channel's ready client files (ID.sources and
    /// ID.repo for stable, ID-testing.sources and ID-testing.repo for testing).
    #[arg(long, value_name = "URL")]
    pub url: Option<UrlArg>,

    /// Only these formats.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "FORMAT")]
    pub format: Vec<Format>,

    /// Skip apt's by-hash index copies.
    #[arg(long)]
    pub no_by_hash: bool,

    /// Armored secret key file [default: the key in $NIMSFOREST_SIGNING_KEY]; a passphrase
    /// comes from $NIMSFOREST_SIGNING_KEY_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,

    /// Keep only the newest N versions of each package and arch in the channel; older
    /// package files are deleted once no index a client may still read names them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,

    /// Print each object written or deleted, as it is.
    #[arg(long)]
    pub verbose: bool,

    /// How long a store lock whose publisher stopped renewing it (killed midway) keeps
    /// other publishers out of an S3 store; a directory's lock goes with its process.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub lock_lease: u64,
}

pub fn run(ctx: &Context, args: RepoArgs) -> Result<()> {
    let dist = args.dist;
    publish(ctx, args.publish, args.channel, |_| Ok(Source::Dist(dist)))
}

/// Publishes what `source` names (given the package definition) into `channel` of the
/// store `args` names, and reports what each format's repository did.
pub(super) fn publish(
    ctx: &Context,
    args: PublishArgs,
    channel: Channel,
    source: impl FnOnce(&Definition) -> Result<Source>,
) -> Result<()> {
    let definition = ctx.definition()?;
    let source = source(&definition)?;
    let date = super::now()?;
    let unix = date.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let signer = Signer::load(args.signing_key.as_deref())?.with_signing_time(unix);
    let plan = RepoPlan {
        formats: if args.format.is_empty() {
            vec![Format::Deb, Format::Rpm]
        } else {
            args.format
        },
        repository: definition.repository,
        source,
        channel,
        by_hash: !args.no_by_hash,
        url: args.url.map(|u| u.as_str().to_string()),
        date,
        keep: args.keep.map(|n| n as usize),
        lock_lease: Duration::from_secs(args.lock_lease),
    };
    let target = store::open(&args.out, date)?;
    let mut metered = Metered::new(target.as_ref());
    metered.verbose = args.verbose;
    let summary = repo::publish(&metered, &plan, &signer)?;
    let location = |dir: &str| store::join(&args.out, dir);
    if let Some(apt) = &summary.apt {
        println!("{}: {} ({channel})", location(APT_DIR), describe(apt));
    }
    if let Some(dnf) = &summary.dnf {
        println!(
            "{}: {} ({channel})",
            location(&channel.rpm_root()),
            describe(dnf)
        );
    }
    println!("signed by {}", signer.fingerprint());
    eprintln!("{}: {}", metered.location(), metered.traffic());
    Ok(())
}

fn describe(report: &repo::Report) -> String {
    if report.unchanged {
        return "unchanged".to_string();
    }
    let mut parts = vec![match report.added.len() {
        0 => "re-indexed".to_string(),
        n => format!("{n} package(s) added"),
    }];
    if !report.retired.is_empty() {
        parts.push(format!("{} dropped from the indexes", report.retired.len()));
    }
    if !report.deleted.is_empty() {
        parts.push(format!("{} deleted", report.deleted.len()));
    }
    parts.join(", ")
}
