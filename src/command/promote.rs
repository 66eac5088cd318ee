//! `nimsforest-pkg promote`: publishes one version's packages, as a channel publishes
//! them, to another channel (testing to stable): the same signed bytes, no rebuild.

use super::repo::{publish, PublishArgs};
use super::Context;
use crate::error::{Error, Result};
use crate::repo::{Channel, Source, Wanted};

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The upstream version (every package revision of it the source channel has), or one
    /// package revision (2.15.1-1).
    #[arg(value_name = "VERSION")]
    pub version: String,

    /// The channel whose signed packages are promoted.
    #[arg(long, value_enum, default_value = "testing")]
    pub from: Channel,

    /// The channel they are published to.
    #[arg(long, value_enum, default_value = "stable")]
    pub to: Channel,

    #[command(flatten)]
    pub publish: PublishArgs,
}

pub fn run(ctx: &Context, args: PromoteArgs) -> Result<()> {
    let (from, to, version) = (args.from, args.to, args.version);
    publish(ctx, args.publish, to, |definition| {
        if from == to {
            return Err(Error::Usage {
                what: format!("--from {from} --to {to}"),
                reason: "a channel cannot be promoted to itself".into(),
            });
        }
        Ok(Source::Channel {
            from,
            wanted: Wanted::new(&definition.name, &version)?,
        })
    })
}
