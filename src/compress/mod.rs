//! Every compressor setting the tool writes with, in one place: each output's bytes depend
//! on these settings, so two builds or two publications of the same input agree.

pub mod blocks;
pub mod cache;

use std::io::{self, Read, Write};
use std::ops::Range;
use std::sync::Arc;

use sha2::Digest;

pub use cache::BlockCache;

use crate::error::{IoContext, Result};

/// xz preset of every xz stream written: `xz -6`, dpkg-deb's and rpmbuild's default.
pub const XZ_PRESET: u32 = 6;

/// xz block size of a package's data (the .deb's data.tar, the .rpm's payload): blocks are
/// compressed on threads of their own and the output depends on the block size, never on
/// the thread count. A block boundary inside the server binary costs more than the 1% the
/// packages may grow by (measured: docs/benchmarks.md). So a binary is one
/// block (this is three times the largest dictionary, as `xz -T` sizes its blocks), and
/// the parallelism is across arches and formats, which share the blocks.
pub const XZ_BLOCK: usize = 3 * XZ_DICT_MAX as usize;

/// The largest xz dictionary: preset 7's. The whole binary fits in it, so a match may reach
/// back to its start; it needs 16 MiB to decompress (xz's own figure for preset 7).
pub const XZ_DICT_MAX: u32 = 16 << 20;

/// Files at least this large are compressed as blocks of their own and cached
/// (`xz_reusing`); smaller ones cost less to compress than to look up.
pub const REUSE_MIN: usize = 1 << 20;

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

/// One xz stream of one block of `data` on one thread: preset 6 (`xz -6`) with its
/// dictionary fit to the data, up to `XZ_DICT_MAX`, as `xz` itself shrinks it for input of
/// known size: a large block matches as far back as its start, a small one does not make
/// liblzma set up (and the decoder reserve) megabytes for a few kilobytes.
pub fn xz_block(data: &[u8]) -> io::Result<Vec<u8>> {
    const DICT_MIN: u32 = 4096;
    let mut options =
        liblzma::stream::LzmaOptions::new_preset(XZ_PRESET).map_err(io::Error::other)?;
    let fits = u32::try_from(data.len())
        .unwrap_or(u32::MAX)
        .checked_next_power_of_two()
        .unwrap_or(XZ_DICT_MAX);
    options.dict_size(fits.clamp(DICT_MIN, XZ_DICT_MAX));
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&options);
    let stream =
        liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
            .map_err(io::Error::other)?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::with_capacity(data.len() / 3), stream);
    enc.write_all(data)?;
    enc.finish()
}

/// A file large enough to be compressed as blocks of its own (the server binary): its bytes
/// and their SHA-256, which names its blocks in the cache.
#[derive(Debug, Clone)]
pub struct LargeFile {
    pub data: Arc<Vec<u8>>,
    pub sha256: [u8; 32],
}

impl LargeFile {
    pub fn new(data: Arc<Vec<u8>>) -> Self {
        let sha256 = sha2::Sha256::digest(data.as_slice()).into();
        Self { data, sha256 }
    }
}

/// Where a large file lies in an archive.
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    pub file: &'a LargeFile,
    /// Its bytes' range in the archive.
    pub range: Range<usize>,
}

/// What a package's compression may use: its share of the CPU budget, and the block cache.
pub struct Resources<'a> {
    pub threads: usize,
    pub cache: &'a BlockCache,
}

#[cfg(test)]
impl Resources<'static> {
    /// Two threads and a block cache in memory, shared by the unit tests.
    pub fn for_tests() -> Self {
        static CACHE: std::sync::OnceLock<BlockCache> = std::sync::OnceLock::new();
        Self {
            threads: 2,
            cache: CACHE.get_or_init(BlockCache::in_memory),
        }
    }
}

/// One xz stream of `data` in which each `placed` large file is cut into `block`-byte
/// blocks of its own, taken from the block cache when it has them (named by the file's
/// SHA-256 and the block's place in the file); the bytes between are compressed as blocks
/// too, never cached. Blocks are made on `resources.threads` threads. The bytes depend on
/// `data`, `placed` and `block` only: not on the thread count, nor on what the cache held.
pub fn xz_reusing(
    data: &[u8],
    placed: &[Placed],
    block: usize,
    resources: &Resources,
) -> Result<Vec<u8>> {
    // (range in `data`, the block's key when it is a large file's)
    let mut segments: Vec<(Range<usize>, Option<cache::BlockKey>)> = Vec::new();
    let mut cut = |range: Range<usize>, file: Option<&LargeFile>| {
        let mut start = range.start;
        while start < range.end {
            let end = (start + block).min(range.end);
            let key =
                file.map(|f| cache::BlockKey::new(&f.sha256, start - range.start, end - start));
            segments.push((start..end, key));
            start = end;
        }
    };
    let mut at = 0;
    let mut placed = placed.to_vec();
    placed.sort_by_key(|p| p.range.start);
    for p in placed {
        let whole = data.get(p.range.clone()) == Some(p.file.data.as_slice());
        if p.range.start < at || !whole {
            continue; // overlapping, or not that file: compressed as plain bytes
        }
        cut(at..p.range.start, None);
        cut(p.range.clone(), Some(p.file));
        at = p.range.end;
    }
    cut(at..data.len(), None);
    if segments.is_empty() {
        return xz_block(data).at("xz stream");
    }
    let made = crate::parallel::map(&segments, resources.threads, |(range, key)| {
        let bytes = &data[range.clone()];
        match key {
            Some(key) => resources.cache.block(key, bytes),
            None => blocks::Block::from_stream(&xz_block(bytes).at("xz block")?).at("xz block"),
        }
    });
    let made: Vec<blocks::Block> = made.into_iter().collect::<Result<_>>()?;
    Ok(blocks::stream(&made))
}

/// Where each of `files` lies in `archive` (a tar or cpio stream that holds them whole).
/// Files not found are left out.
pub fn place<'a>(archive: &[u8], files: &'a [LargeFile]) -> Vec<Placed<'a>> {
    let mut placed = Vec::new();
    for file in files {
        let probe = &file.data[..file.data.len().min(4096)];
        let mut from = 0;
        while let Some(found) = memchr::memmem::find(&archive[from..], probe) {
            let start = from + found;
            if archive.get(start..start + file.data.len()) == Some(file.data.as_slice()) {
                placed.push(Placed {
                    file,
                    range: start..start + file.data.len(),
                });
                break;
            }
            from = start + 1;
        }
    }
    placed
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
pub enum Encoding {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Encoding {
    /// From a file name's suffix: `control.tar.xz` -> Xz; `control.tar` -> None.
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "" => Some(Encoding::None),
            ".gz" => Some(Encoding::Gzip),
            ".xz" => Some(Encoding::Xz),
            ".zst" => Some(Encoding::Zstd),
            _ => None,
        }
    }

    /// A reader of the decompressed bytes.
    pub fn decoder<'a>(self, input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Encoding::None => Box::new(input),
            Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(input)),
            Encoding::Xz => Box::new(liblzma::read::XzDecoder::new(input)),
            Encoding::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        })
    }
}

/// Poorly compressible test bytes (xorshift): the same for the same `seed`.
#[cfg(test)]
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 23) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(format: Encoding, packed: &[u8]) -> Vec<u8> {
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
            (Encoding::Gzip, gzip(&data, GZIP_BEST).unwrap()),
            (Encoding::Gzip, gzip(&data, GZIP_REPODATA).unwrap()),
            (Encoding::Xz, xz(&data).unwrap()),
            (Encoding::Xz, xz_block(&data).unwrap()),
            (Encoding::Zstd, zstd(&data, 3).unwrap()),
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
    fn xz_reusing_depends_on_neither_threads_nor_the_cache_and_finds_its_files() {
        let mut seed = 0;
        let mut noise = |n: usize| {
            seed += 1;
            noise(n, seed)
        };
        let file = LargeFile::new(Arc::new(noise(300_000)));
        let short = LargeFile::new(Arc::new(b"not in the archive".to_vec()));
        let files = [file.clone(), short];
        let archive = [noise(1000), file.data.to_vec(), noise(777)].concat();
        let placed = place(&archive, &files);
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].range, 1000..301_000);
        let dir = tempfile::tempdir().unwrap();
        let on_disk = BlockCache::in_dir(dir.path());
        let in_memory = BlockCache::in_memory();
        let with = |threads, cache| Resources { threads, cache };
        let cold = xz_reusing(&archive, &placed, 64 << 10, &with(1, &on_disk)).unwrap();
        let warm = xz_reusing(&archive, &placed, 64 << 10, &with(3, &on_disk)).unwrap();
        let apart = xz_reusing(&archive, &placed, 64 << 10, &with(2, &in_memory)).unwrap();
        assert!(
            cold == warm && warm == apart,
            "the stream differs between runs"
        );
        assert_eq!(unpack(Encoding::Xz, &cold), archive);
        // The file's blocks are the same inside another archive: compressed once.
        let other = [noise(5), file.data.to_vec()].concat();
        let entries = || walk_count(dir.path());
        let before = entries();
        let other_placed = place(&other, &files);
        let again = xz_reusing(&other, &other_placed, 64 << 10, &with(2, &on_disk)).unwrap();
        assert_eq!(entries(), before, "a cached block was made again");
        assert_eq!(unpack(Encoding::Xz, &again), other);
    }

    fn walk_count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk_count(&path)
                } else {
                    1
                }
            })
            .sum()
    }
}
