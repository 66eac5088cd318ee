//! `nimsforest-pkg repo`: publishes dist/ as signed apt and dnf repositories.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use super::Context;
use crate::error::Result;
use crate::repo::apt::AptOptions;
use crate::repo::{self, RepoPlan, APT_DIR, RPM_DIR};
use crate::sign::Signer;
use crate::spec::Format;

#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    /// The repository tree to create or extend.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Where the packages are.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,

    /// The URL OUT will be served at, for the ready client files (ID.sources, ID.repo).
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
        out: args.out,
        url: args.url,
        date,
    };
    let summary = repo::publish(&plan, &signer)?;
    let describe = |added: &[String], unchanged: bool| match (added.len(), unchanged) {
        (_, true) => "unchanged".to_string(),
        (0, false) => "re-indexed".to_string(),
        (n, false) => format!("{n} package(s) added"),
    };
    if let Some(apt) = summary.apt {
        let dir = plan.out.join(APT_DIR);
        println!("{}: {}", dir.display(), describe(&apt.added, apt.unchanged));
    }
    if let Some(dnf) = summary.dnf {
        let dir = plan.out.join(RPM_DIR);
        println!("{}: {}", dir.display(), describe(&dnf.added, dnf.unchanged));
    }
    println!("signed by {}", signer.fingerprint());
    Ok(())
}
