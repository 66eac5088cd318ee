//! One xz stream assembled from blocks compressed one by one.
//!
//! An xz stream (the .xz file format, version 1.2.0) is a stream header, any number of
//! blocks, an index with each block's unpadded and uncompressed size, and a footer. A
//! block depends on no other: the same bytes compressed with the same settings give the
//! same block wherever it lands in a stream. So a package's large file (the server
//! binary) is compressed once, as blocks of its own, and those blocks go into the .deb's
//! data.tar.xz and the .rpm's payload of every revision (see `cache`).
//!
//! liblzma makes each block, as a one-block stream of its own; this module takes the
//! block and its index record out of that stream and writes the one stream around all
//! of them. dpkg reads one stream of many blocks; rpm reads the payload with liblzma.

use std::io;

/// The stream header's magic bytes.
const HEADER_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
/// The stream footer's magic bytes.
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Stream flags: check type CRC64, the one `compress` writes with.
const FLAGS_CRC64: [u8; 2] = [0, 0x04];

/// One block, as it goes into a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Block header, compressed data, block padding and check.
    pub bytes: Vec<u8>,
    /// Its size without the block padding (the index records this).
    pub unpadded: u64,
    /// How many bytes it decompresses to.
    pub uncompressed: u64,
}

fn malformed(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

fn read_varint(bytes: &[u8], at: &mut usize) -> io::Result<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| malformed("xz index ends inside a number"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(malformed("xz index number longer than 9 bytes"))
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Block {
    /// The one block of a one-block CRC64 stream, as liblzma writes it.
    pub fn from_stream(stream: &[u8]) -> io::Result<Self> {
        if stream.len() < 24
            || stream[..6] != HEADER_MAGIC
            || stream[stream.len() - 2..] != FOOTER_MAGIC
        {
            return Err(malformed("not an xz stream"));
        }
        if stream[6..8] != FLAGS_CRC64 {
            return Err(malformed("xz stream without a CRC64 check"));
        }
        let footer = &stream[stream.len() - 12..];
        let backward = u32::from_le_bytes(footer[4..8].try_into().expect("4 bytes"));
        let index_size = (backward as usize + 1) * 4;
        let index_start = (stream.len() - 12)
            .checked_sub(index_size)
            .filter(|&start| start >= 12)
            .ok_or_else(|| malformed("xz index larger than the stream"))?;
        let index = &stream[index_start..stream.len() - 12];
        if index[0] != 0 {
            return Err(malformed("no xz index where the footer points"));
        }
        let mut at = 1;
        if read_varint(index, &mut at)? != 1 {
            return Err(malformed("not a one-block xz stream"));
        }
        let unpadded = read_varint(index, &mut at)?;
        let uncompressed = read_varint(index, &mut at)?;
        let bytes = stream[12..index_start].to_vec();
        if bytes.len() as u64 != unpadded.div_ceil(4) * 4 {
            return Err(malformed("xz block size disagrees with its index record"));
        }
        Ok(Self {
            bytes,
            unpadded,
            uncompressed,
        })
    }
}

/// One CRC64 stream of `blocks`, in order.
pub fn stream(blocks: &[Block]) -> Vec<u8> {
    let size: usize = blocks.iter().map(|b| b.bytes.len()).sum();
    let mut out = Vec::with_capacity(size + 64 + 16 * blocks.len());
    out.extend_from_slice(&HEADER_MAGIC);
    out.extend_from_slice(&FLAGS_CRC64);
    out.extend_from_slice(&crc32fast::hash(&FLAGS_CRC64).to_le_bytes());
    for block in blocks {
        out.extend_from_slice(&block.bytes);
    }
    let mut index = vec![0u8];
    write_varint(&mut index, blocks.len() as u64);
    for block in blocks {
        write_varint(&mut index, block.unpadded);
        write_varint(&mut index, block.uncompressed);
    }
    while index.len() % 4 != 0 {
        index.push(0);
    }
    index.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
    out.extend_from_slice(&index);
    let mut footer = Vec::with_capacity(6);
    footer.extend_from_slice(&((index.len() / 4 - 1) as u32).to_le_bytes());
    footer.extend_from_slice(&FLAGS_CRC64);
    out.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
    out.extend_from_slice(&footer);
    out.extend_from_slice(&FOOTER_MAGIC);
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    use super::super::noise as data;

    #[test]
    fn blocks_of_separate_streams_make_one_stream_that_reads_back_whole() {
        let parts = [data(100_000, 1), data(3, 2), data(70_001, 4)];
        let blocks: Vec<Block> = parts
            .iter()
            .map(|p| Block::from_stream(&super::super::xz_block(p).unwrap()).unwrap())
            .collect();
        let joined = stream(&blocks);
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(joined.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, parts.concat());
        // One stream: the header magic once, the footer magic at the end only.
        assert_eq!(joined.windows(6).filter(|w| *w == HEADER_MAGIC).count(), 1);
        assert_eq!(&joined[joined.len() - 2..], b"YZ");
        // The record sizes that liblzma wrote are kept.
        assert_eq!(blocks[0].uncompressed, 100_000);
        assert_eq!(blocks[1].uncompressed, 3);
    }

    #[test]
    fn a_damaged_or_foreign_stream_is_refused() {
        let one = super::super::xz_block(&data(5000, 9)).unwrap();
        assert!(Block::from_stream(&one[..one.len() - 1]).is_err());
        assert!(Block::from_stream(b"not xz at all, clearly not xz").is_err());
        let block = Block::from_stream(&one).unwrap();
        let two = stream(&[block.clone(), block]);
        let e = Block::from_stream(&two).unwrap_err();
        assert!(e.to_string().contains("one-block"), "{e}");
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, 1 << 35, u64::MAX >> 1] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            let mut at = 0;
            assert_eq!(read_varint(&out, &mut at).unwrap(), value);
            assert_eq!(at, out.len());
        }
    }
}
