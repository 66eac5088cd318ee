//! The commands: each turns its arguments into a checked plan, runs it and reports.

pub mod build;
mod choices;
pub mod cloud_init;
pub mod forest;
pub mod keygen;
pub mod pin;
pub mod promote;
pub mod repo;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::definition::Definition;
use crate::error::{Error, Result};

/// What every command may use: the global options.
pub struct Context {
    /// The package definition's manifest (`--manifest-path`).
    pub manifest: PathBuf,
    /// The download cache (`--cache-dir`, `$NIMSFOREST_CACHE_DIR`); `None`: the default.
    pub cache_dir: Option<PathBuf>,
}

impl Context {
    pub fn definition(&self) -> Result<Definition> {
        Definition::load(&self.manifest)
    }

    /// `--cache-dir`, else `$XDG_CACHE_HOME/nimsforest-pkg`, else `~/.cache/nimsforest-pkg`.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("nimsforest-pkg"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nimsforest-pkg"))
            })
            .unwrap_or_else(|| Path::new(".cache/nimsforest-pkg").to_path_buf())
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), if set: the time that stands in for
/// "now" and for file times in everything the tool writes.
pub fn source_date_epoch() -> Result<Option<u64>> {
    const NAME: &str = "SOURCE_DATE_EPOCH";
    match std::env::var(NAME) {
        Ok(value) => match value.trim().parse::<u64>() {
            // RPM headers hold 32-bit times.
            Ok(secs) if secs <= u64::from(u32::MAX) => Ok(Some(secs)),
            Ok(_) => Err(Error::Usage {
                what: NAME.into(),
                reason: format!("{value} is after 2106, beyond RPM's 32-bit times"),
            }),
            Err(_) => Err(Error::Usage {
                what: NAME.into(),
                reason: format!("{value:?} is not a number of seconds since 1970"),
            }),
        },
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Usage {
            what: NAME.into(),
            reason: "is not UTF-8".into(),
        }),
    }
}

/// `SOURCE_DATE_EPOCH`, else now, in seconds since 1970.
pub fn unix_now() -> Result<u64> {
    Ok(now()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// `SOURCE_DATE_EPOCH` as a time, else now.
pub fn now() -> Result<SystemTime> {
    Ok(source_date_epoch()?
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap_or_else(SystemTime::now))
}
