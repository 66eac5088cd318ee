//! The package definition: what to build, from which upstream release, with which files.

mod arch;
mod files;
mod metadata;
mod version;

pub use arch::{known_names as known_arch_names, Arch, ElfIdent, Target};
pub use files::DefinitionDir;
pub use metadata::{Asset, AssetSource, Definition, Repository, Upstream};
pub use version::{check_upstream, Version};

/// A package format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Deb,
    Rpm,
}

impl Format {
    /// The package file's extension: `deb`, `rpm`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
        }
    }
}

/// The name and full version of the package being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageId {
    pub name: String,
    pub version: Version,
}

/// Upstream's release layout: `{base}/v{VERSION}/{asset}`.
pub mod release {
    use super::Arch;

    /// `nats-server-v2.15.1-linux-amd64`: the tarball's stem and its top directory.
    pub fn stem(version: &str, arch: Arch) -> String {
        format!("nats-server-v{version}-linux-{}", arch.upstream())
    }

    pub fn tarball(version: &str, arch: Arch) -> String {
        format!("{}.tar.gz", stem(version, arch))
    }

    /// A release asset: `{base}/v{version}/{file}`.
    pub fn url(base: &str, version: &str, file: &str) -> String {
        format!("{}/v{version}/{file}", base.trim_end_matches('/'))
    }
}
