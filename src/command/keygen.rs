//! `nimsforest-pkg keygen`: a new signing key pair, written as two files.

use std::path::PathBuf;

use super::Context;
use crate::atomic;
use crate::error::{Error, Result};
use crate::sign::{keygen, user_id_problem, KeyAlgorithm, PASSPHRASE_ENV};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for ID-signing-key.asc (secret, mode 0600) and ID.asc (public), ID being
    /// the repository id of the definition. Made 0700 if missing (whatever the umask); an
    /// existing one anyone may write to is refused.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The key's user ID [default: the definition's repository.key-user-id].
    #[arg(long)]
    pub user_id: Option<String>,

    #[arg(long, value_enum, default_value = "ed25519")]
    pub algorithm: KeyAlgorithm,
}

const OUT: &str = "output directory";

/// The user ID names the flag when it is refused.
fn check_user_id(user_id: &str) -> Result<()> {
    match user_id_problem(user_id) {
        None => Ok(()),
        Some(reason) => Err(Error::Usage {
            what: format!("--user-id {user_id:?}"),
            reason: reason.into(),
        }),
    }
}

pub fn run(ctx: &Context, args: KeygenArgs) -> Result<()> {
    let repository = ctx.definition()?.repository;
    let user_id = args.user_id.as_deref().unwrap_or(&repository.key_user_id);
    check_user_id(user_id)?;
    let secret_path = args.out.join(repository.secret_key_file());
    let public_path = args.out.join(repository.public_key_file());
    // Checked first so that no key is generated in vain; the secret's write refuses an
    // existing file again (another keygen may race this one).
    if atomic::check_secret_dir(OUT, &args.out)? && std::fs::symlink_metadata(&secret_path).is_ok()
    {
        return Err(Error::Exists { path: secret_path });
    }
    let passphrase = std::env::var(PASSPHRASE_ENV).ok();
    let key = keygen(user_id, args.algorithm, passphrase.as_deref())?;
    atomic::secret_dir(OUT, &args.out)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_one_line() {
        assert!(check_user_id("Packages <p@example.org>").is_ok());
        for bad in ["", "  ", "a\nb", "a\rb", "a\u{0}b", "a\u{1b}[2Jb"] {
            let e = check_user_id(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
