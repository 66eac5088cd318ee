//! nimsforest-pkg: builds `nimsforest-nats` .deb and .rpm packages from verified upstream
//! NATS server releases, publishes them as signed apt and dnf repositories, and writes the
//! cloud-init user-data that installs them.
//!
//! The pipeline, in the order data flows: `definition` (the package definition) -> `fetch`
//! (download, verify) -> `stage` (the neutral file tree) -> `deb` | `rpm` (the writers) ->
//! `dist` (the output directory) -> `repo` (apt and dnf trees) -> `sign` -> `cloud_init`.
//! `build` runs the first five; `command` holds one module per subcommand. Primitives
//! have one home each: `atomic` (file writes), `compress`, `digest`, `parallel` (the CPU
//! budget), and the Debian formats in `deb` (`ar`, `deb822`, `version`). What comes in from
//! outside is parsed in one place each: `input` (files named on the command line), `pem`
//! (certificates and keys), `weburl` (URLs), `names` (ids and names that reach other
//! programs' files).

pub mod atomic;
pub mod build;
pub mod cli;
pub mod cloud_init;
pub mod command;
pub mod compress;
pub mod deb;
pub mod definition;
pub mod digest;
pub mod dist;
pub mod error;
pub mod fetch;
pub mod fleet;
pub mod forest;
pub mod input;
pub mod names;
pub mod parallel;
pub mod pem;
pub mod pin;
pub mod repo;
pub mod rpm;
pub mod sign;
pub mod stage;
pub mod store;
pub mod weburl;

pub use error::{Error, Result};
