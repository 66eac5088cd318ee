//! The Linux architectures upstream ships, and their names in each packaging world.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// An upstream `nats-server` Linux build, named by its release asset suffix (`linux-{ARCH}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
    Arm7,
    Arm6,
    I386,
    Ppc64le,
    S390x,
    Riscv64,
    Loong64,
    Mips64le,
}

/// What the ELF header of a binary built for an arch must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfIdent {
    /// `e_machine`.
    pub machine: u16,
    pub is_64bit: bool,
    pub little_endian: bool,
}

impl Arch {
    pub const ALL: [Arch; 10] = [
        Arch::Amd64,
        Arch::Arm64,
        Arch::Arm7,
        Arch::Arm6,
        Arch::I386,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Riscv64,
        Arch::Loong64,
        Arch::Mips64le,
    ];

    /// The suffix of upstream's asset name: `nats-server-vX-linux-{upstream}.tar.gz`.
    pub fn upstream(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Arm7 => "arm7",
            Arch::Arm6 => "arm6",
            Arch::I386 => "386",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
            Arch::Loong64 => "loong64",
            Arch::Mips64le => "mips64le",
        }
    }

    /// Debian architecture. arm6 maps to `armel`: Debian's `armhf` baseline is ARMv7, so an
    /// ARMv6 build shipped as `armhf` would claim to be the arm7 package. Raspberry Pi OS
    /// (an ARMv6 `armhf`) gets the arm7 build as `armhf`; Pi Zero/1 owners add `armel`.
    pub fn deb(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Arm7 => "armhf",
            Arch::Arm6 => "armel",
            Arch::I386 => "i386",
            Arch::Ppc64le => "ppc64el",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
            Arch::Loong64 => "loong64",
            Arch::Mips64le => "mips64el",
        }
    }

    /// RPM architecture (`%{_arch}` of the distributions that build for it).
    pub fn rpm(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::Arm7 => "armv7hl",
            Arch::Arm6 => "armv6hl",
            Arch::I386 => "i686",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
            Arch::Loong64 => "loongarch64",
            Arch::Mips64le => "mips64el",
        }
    }

    /// The ELF identity of a binary for this arch (machine numbers from the System V ABI
    /// registry, `EM_*` in glibc's elf.h).
    pub fn elf(self) -> ElfIdent {
        let (machine, is_64bit, little_endian) = match self {
            Arch::Amd64 => (62, true, true),
            Arch::Arm64 => (183, true, true),
            Arch::Arm7 | Arch::Arm6 => (40, false, true),
            Arch::I386 => (3, false, true),
            Arch::Ppc64le => (21, true, true),
            Arch::S390x => (22, true, false),
            Arch::Riscv64 => (243, true, true),
            Arch::Loong64 => (258, true, true),
            // Go's mips64le is the 64-bit little-endian MIPS ABI (n64).
            Arch::Mips64le => (8, true, true),
        };
        ElfIdent {
            machine,
            is_64bit,
            little_endian,
        }
    }
}

/// What a package is built for: one upstream arch, or every arch (files that are the same
/// everywhere, such as a forest's trust package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Arch(Arch),
    Independent,
}

impl Target {
    /// `Architecture:` of a .deb (`all` for an independent package).
    pub fn deb(self) -> &'static str {
        match self {
            Target::Arch(arch) => arch.deb(),
            Target::Independent => "all",
        }
    }

    /// An RPM's arch (`noarch` for an independent package).
    pub fn rpm(self) -> &'static str {
        match self {
            Target::Arch(arch) => arch.rpm(),
            Target::Independent => "noarch",
        }
    }
}

impl From<Arch> for Target {
    fn from(arch: Arch) -> Self {
        Target::Arch(arch)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Arch(arch) => arch.fmt(f),
            Target::Independent => f.pad("all"),
        }
    }
}

/// Every name `--arch` accepts, for error messages.
pub fn known_names() -> String {
    Arch::ALL
        .iter()
        .map(|a| a.upstream())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.upstream())
    }
}

impl FromStr for Arch {
    type Err = Error;

    /// Accepts the upstream, Debian or RPM name, so `--arch x86_64` and `--arch amd64` agree.
    fn from_str(name: &str) -> Result<Self, Error> {
        Arch::ALL
            .into_iter()
            .find(|a| [a.upstream(), a.deb(), a.rpm()].contains(&name))
            .ok_or_else(|| Error::UnknownArch {
                name: name.to_string(),
                known: known_names(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_back_to_its_arch() {
        for arch in Arch::ALL {
            for name in [arch.upstream(), arch.deb(), arch.rpm()] {
                assert_eq!(name.parse::<Arch>().unwrap(), arch, "{name}");
            }
        }
    }

    #[test]
    fn names_are_unique_per_world() {
        for world in [Arch::upstream, Arch::deb, Arch::rpm] {
            let mut names: Vec<&str> = Arch::ALL.iter().map(|&a| world(a)).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), Arch::ALL.len(), "{names:?}");
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!("sparc".parse::<Arch>().is_err());
        assert!("".parse::<Arch>().is_err());
    }
}
