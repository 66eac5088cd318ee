//! Black-box tests of the `nimsforest-pkg` binary against a real release mirror, checked
//! with the real packaging tools (dpkg-deb, lintian, rpm, rpmlint).

mod bad_input;
mod build;
mod cloudinit;
mod cluster;
mod harness;
mod install;
mod nats;
mod node;
mod pin;
mod publish;
mod repo_apt;
mod repo_dnf;
mod sign;
mod workflow;
