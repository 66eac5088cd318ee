//! nimsforest-pkg: builds `nimsforest-nats` .deb and .rpm packages from verified upstream
//! NATS server releases.

pub mod build;
pub mod cli;
pub mod cloudinit;
pub mod deb;
pub mod dist;
pub mod error;
pub mod fetch;
pub mod pin;
pub mod publish;
pub mod repo;
pub mod rpm;
pub mod sign;
pub mod spec;
pub mod stage;

pub use error::{Error, Result};
