//! The hermetic tier: the real `nimsforest-pkg` binary against the fixture release mirror,
//! its output checked with the reference tools (dpkg-deb, lintian, rpm, rpmlint,
//! apt-ftparchive, createrepo_c, dnf, gpgv, sqv, cloud-init, actionlint). Needs no root,
//! no network beyond loopback and the package registries: `cargo test` runs it.

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

mod arch32;
mod bad_input;
mod build;
mod client_view;
mod cloudinit;
mod deps;
mod forest;
mod gate;
mod hostile;
mod local_forest;
mod pin;
mod probe;
mod promote;
mod publish;
mod publish_faults;
mod race;
mod release;
mod repo_apt;
mod repo_dnf;
mod s3_publish;
mod sign;
mod sizing;
mod status;
mod topology;
mod trust_package;
mod workflow;
