//! Every compressor setting the tool writes with, in one place: each output's bytes depend
//! on these settings, so two builds or two publications of the same input agree.

use std::io::{self, Read, Write};

/// xz preset of every xz stream written: `xz -6`, dpkg-deb's and rpmbuild's default.
pub const XZ_PRESET: u32 = 6;

/// zstd level of a `.deb` built with `--deb-compression zstd` (`dpkg-deb -Zzstd -z19`).
pub const ZSTD_LEVEL: i32 = 19;

/// A gzip header and level. Both variants have no file name and mtime 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gzip {
    level: u32,
    /// The header's OS byte; `None` leaves flate2's "unknown" (255).
    os: Option<u8>,
}

/// `gzip -9n`, as dpkg-deb and debhelper write `data.tar.gz`, `changelog.Debian.gz` and apt's
/// `Packages.gz`: best compression, OS "Unix".
pub const GZIP_BEST: Gzip = Gzip {
    level: 9,
    os: Some(3),
};

/// dnf's repodata: zlib's default level, as createrepo_c compresses it.
pub const GZIP_REPODATA: Gzip = Gzip { level: 6, os: None };

pub fn gzip(data: &[u8], settings: Gzip) -> io::Result<Vec<u8>> {
    let mut builder = flate2::GzBuilder::new().mtime(0);
    if let Some(os) = settings.os {
        builder = builder.operating_system(os);
    }
    let mut enc = builder.write(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::new(settings.level),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// One xz stream of one block, on one thread (`xz -6`): small indexes (apt's `Packages.xz`).
pub fn xz(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), XZ_PRESET);
    enc.write_all(data)?;
    enc.finish()
}

/// One xz stream of independent `block`-byte blocks, compressed on `threads` threads
/// (`xz -6 -T`). The bytes depend on the block size, never on the thread count, so a
/// build on any machine agrees with one on any other. dpkg reads such a stream (not
/// concatenated streams).
pub fn xz_blocks(data: &[u8], threads: u32, block: u64) -> io::Result<Vec<u8>> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .preset(XZ_PRESET)
        .threads(threads.max(1))
        .block_size(block)
        .check(liblzma::stream::Check::Crc64)
        .encoder()
        .map_err(io::Error::other)?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data)?;
    enc.finish()
}

/// One zstd frame with a checksum and the content size in its header.
pub fn zstd(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), level)?;
    enc.include_checksum(true)?;
    enc.set_pledged_src_size(Some(data.len() as u64))?;
    enc.write_all(data)?;
    enc.finish()
}

/// The compressions that can be read back (a `.deb` member, an RPM payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Format {
    /// From a file name's suffix: `control.tar.xz` -> Xz; `control.tar` -> None.
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "" => Some(Format::None),
            ".gz" => Some(Format::Gzip),
            ".xz" => Some(Format::Xz),
            ".zst" => Some(Format::Zstd),
            _ => None,
        }
    }

    /// A reader of the decompressed bytes.
    pub fn decoder<'a>(self, input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Format::None => Box::new(input),
            Format::Gzip => Box::new(flate2::read::GzDecoder::new(input)),
            Format::Xz => Box::new(liblzma::read::XzDecoder::new(input)),
            Format::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(format: Format, packed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        format
            .decoder(packed)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn every_writer_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (format, packed) in [
            (Format::Gzip, gzip(&data, GZIP_BEST).unwrap()),
            (Format::Gzip, gzip(&data, GZIP_REPODATA).unwrap()),
            (Format::Xz, xz(&data).unwrap()),
            (Format::Xz, xz_blocks(&data, 2, 64 << 10).unwrap()),
            (Format::Zstd, zstd(&data, 3).unwrap()),
        ] {
            assert_eq!(unpack(format, &packed), data, "{format:?}");
        }
    }

    #[test]
    fn gzip_headers_carry_no_time_or_name() {
        let best = gzip(b"changelog", GZIP_BEST).unwrap();
        assert_eq!(&best[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
        let repodata = gzip(b"primary", GZIP_REPODATA).unwrap();
        assert_eq!(&repodata[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn xz_blocks_do_not_depend_on_the_thread_count() {
        // Several blocks' worth of poorly compressible data.
        let block = 64 << 10;
        let mut x: u64 = 1;
        let data: Vec<u8> = (0..(block as usize * 4 + 4096))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 16) as u8
            })
            .collect();
        let one = xz_blocks(&data, 1, block).unwrap();
        let three = xz_blocks(&data, 3, block).unwrap();
        assert!(one == three, "xz output differs between 1 and 3 threads");
        // One stream: the stream footer magic appears once, at the end.
        assert_eq!(&one[one.len() - 2..], b"YZ");
        assert_eq!(one.windows(6).filter(|w| w == b"\xfd7zXZ\0").count(), 1);
    }
}
