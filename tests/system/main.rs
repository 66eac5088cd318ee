//! The system tier: packages installed on booted systemd nodes (systemd-nspawn), a
//! three-node cluster, real apt in chroots, arm64 under qemu. Selected with
//! `cargo test --features system-tests --test system` (scripts/test.sh does), as root.
//! A test that cannot run here fails with the reason; none is skipped.

#[path = "../common/apt_repo.rs"]
#[allow(dead_code)]
mod apt_repo;
#[path = "../common/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../common/nats.rs"]
#[allow(dead_code)]
mod nats;
#[path = "../common/s3.rs"]
#[allow(dead_code)]
mod s3;
#[path = "../common/stranger.rs"]
#[allow(dead_code)]
mod stranger;

mod apt_client;
mod cluster;
mod fixture;
mod forest;
mod install;
mod node;
mod private_repo;
mod sizing;
mod topology;
mod trust;
mod upgrade;
