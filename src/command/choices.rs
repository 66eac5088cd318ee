//! How the domain's closed choices are spelled on the command line: the domain types
//! (`definition::Format`, `deb::Compression`, `sign::KeyAlgorithm`, `repo::Channel`) know
//! nothing of clap; their names and help live here.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::deb::Compression;
use crate::definition::Format;
use crate::repo::Channel;
use crate::sign::KeyAlgorithm;

fn value(name: &'static str, help: &'static str) -> Option<PossibleValue> {
    let value = PossibleValue::new(name);
    Some(match help {
        "" => value,
        help => value.help(help),
    })
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Deb, Format::Rpm]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        value(self.extension(), "")
    }
}

impl ValueEnum for Compression {
    fn value_variants<'a>() -> &'a [Self] {
        &[Compression::Xz, Compression::Zstd, Compression::Gzip]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Compression::Xz => value("xz", "One xz stream of independent blocks (`xz -6 -T`)"),
            Compression::Zstd => value(
                "zstd",
                "One zstd frame (`zstd -19`). Needs dpkg 1.21.18 or later (Debian 12, Ubuntu 18.04)",
            ),
            Compression::Gzip => value("gzip", "gzip -9 without a name or time in the header"),
        }
    }
}

impl ValueEnum for KeyAlgorithm {
    fn value_variants<'a>() -> &'a [Self] {
        &[KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa4096]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            KeyAlgorithm::Ed25519 => value(
                "ed25519",
                "Ed25519 in the v4 \"legacy EdDSA\" format: small, fast, deterministic \
                 signatures, read by Debian 12's gpgv, Debian 13's sqv and RHEL 9's rpm alike",
            ),
            KeyAlgorithm::Rsa4096 => value(
                "rsa4096",
                "RSA with a 4096-bit modulus, for sites that require RSA. Generating one \
                 takes seconds",
            ),
        }
    }
}

impl ValueEnum for Channel {
    fn value_variants<'a>() -> &'a [Self] {
        &[Channel::Stable, Channel::Testing]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Channel::Stable => value(
                "stable",
                "What nodes install by default: releases a person promoted",
            ),
            Channel::Testing => value(
                "testing",
                "Every new upstream release, as soon as it is built",
            ),
        }
    }
}
