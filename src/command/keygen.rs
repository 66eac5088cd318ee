//! `nimsforest-pkg keygen`: a new signing key pair, written as two files.

use std::path::PathBuf;

use super::Context;
use crate::atomic;
use crate::error::{Error, IoContext, Result};
use crate::sign::{keygen, KeyAlgorithm, PASSPHRASE_ENV};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for ID-signing-key.asc (secret, mode 0600) and ID.asc (public), ID being
    /// the repository id of the definition.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The key's user ID [default: the definition's repository.key-user-id].
    #[arg(long)]
    pub user_id: Option<String>,

    #[arg(long, value_enum, default_value = "ed25519")]
    pub algorithm: KeyAlgorithm,
}

pub fn run(ctx: &Context, args: KeygenArgs) -> Result<()> {
    let repository = ctx.definition()?.repository;
    let secret_path = args.out.join(repository.secret_key_file());
    let public_path = args.out.join(repository.public_key_file());
    // Checked first so that no key is generated in vain; the secret's write refuses an
    // existing file again (another keygen may race this one).
    if secret_path.exists() {
        return Err(Error::Exists { path: secret_path });
    }
    let passphrase = std::env::var(PASSPHRASE_ENV).ok();
    let user_id = args.user_id.as_deref().unwrap_or(&repository.key_user_id);
    let key = keygen(user_id, args.algorithm, passphrase.as_deref())?;
    std::fs::create_dir_all(&args.out).at(&args.out)?;
    atomic::write(
        &secret_path,
        key.secret_armored.as_bytes(),
        atomic::Options::SECRET,
    )?;
    atomic::write(
        &public_path,
        key.public_armored.as_bytes(),
        atomic::Options::REPLACE.mode(0o644),
    )?;
    println!("{}", key.fingerprint);
    Ok(())
}
