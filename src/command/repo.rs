//! `nimsforest-pkg repo`: publishes dist/ as signed apt and dnf repositories.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use super::Context;
use crate::error::Result;
use crate::repo::apt::AptOptions;
use crate::repo::{self, RepoPlan, APT_DIR, RPM_DIR};
use crate::sign::Signer;
use crate::spec::Format;
use crate::store::{self, Metered, Store};
use crate::weburl::UrlArg;

#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// The repository to create or extend: a directory, or s3://BUCKET[/PREFIX] (credentials,
    /// region and endpoint from the AWS_* environment variables).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub out: String,

    /// Where the packages are.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,

    /// The URL OUT will be served at, for the ready client files (ID.sources, ID.repo).
    #[arg(long, value_name = "URL")]
    pub url: Option<UrlArg>,

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

    /// Keep only the newest N versions of each package and arch; older package files are
    /// deleted once no index a client may still read names them.
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
    let repository = ctx.definition()?.repository;
    let date = super::now()?;
    let unix = date.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
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
            ..AptOptions::new(&repository, date)
        },
        repository,
        dist: args.dist,
        url: args.url.map(|u| u.as_str().to_string()),
        date,
        keep: args.keep.map(|n| n as usize),
        lock_lease: Duration::from_secs(args.lock_lease),
    };
    let target = store::open(&args.out, date)?;
    let mut metered = Metered::new(target.as_ref());
    metered.verbose = args.verbose;
    let summary = repo::publish(&metered, &plan, &signer)?;
    let describe = |report: &repo::Report| {
        let (added, retired, deleted) = (
            report.added.len(),
            report.retired.len(),
            report.deleted.len(),
        );
        if report.unchanged {
            return "unchanged".to_string();
        }
        let mut parts = vec![match added {
            0 => "re-indexed".to_string(),
            n => format!("{n} package(s) added"),
        }];
        if retired > 0 {
            parts.push(format!("{retired} dropped from the indexes"));
        }
        if deleted > 0 {
            parts.push(format!("{deleted} deleted"));
        }
        parts.join(", ")
    };
    let location = |dir: &str| store::join(&args.out, dir);
    if let Some(apt) = &summary.apt {
        println!("{}: {}", location(APT_DIR), describe(apt));
    }
    if let Some(dnf) = &summary.dnf {
        println!("{}: {}", location(RPM_DIR), describe(dnf));
    }
    println!("signed by {}", signer.fingerprint());
    eprintln!("{}: {}", metered.location(), metered.traffic());
    Ok(())
}
