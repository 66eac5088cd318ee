//! The payload's xz compression, done here rather than by the `rpm` crate.
//!
//! The crate compresses the cpio archive itself, on one thread, and cannot take a payload
//! compressed elsewhere. So the package is built uncompressed, and then its payload is
//! compressed with `compress::xz_reusing` (the server binary's blocks come from the block
//! cache, the same blocks the .deb uses) and the main header is told so: the compressor
//! (`xz`), its flags (`6`) and the payload's SHA-256 (`PAYLOADSHA256`; the digest of the
//! uncompressed archive, `PAYLOADSHA256ALT`, stays as the crate computed it). The main
//! header changes, so the signature header is made again from it: its SHA-256 and SHA-1
//! digests, the header-plus-payload size (`SIZE`), and the archive size (see
//! `archive_size`). `rpm -K` checks all of them; the install tests install the result.

use ::rpm::{
    Header, HeaderEntry, IndexData, IndexSignatureTag, IndexTag, Package, RpmFormat,
    SignatureHeaderBuilder,
};
use sha2::{Digest, Sha256};

use super::archive_size::set_archive_size;
use super::XZ_LEVEL;
use crate::compress::{self, LargeFile, Resources};
use crate::definition::Target;
use crate::error::{Error, Result};

const COMPRESSOR: u32 = IndexTag::RPMTAG_PAYLOADCOMPRESSOR as u32;
const FLAGS: u32 = IndexTag::RPMTAG_PAYLOADFLAGS as u32;
const PAYLOAD_SHA256: u32 = IndexTag::RPMTAG_PAYLOADSHA256 as u32;
const REGION: u32 = IndexTag::RPMTAG_HEADERIMMUTABLE as u32;

/// Compresses the uncompressed payload of `package` (built with no compression), reusing
/// the blocks of `large_files`, and rewrites the headers to match.
pub fn compress_payload(
    package: &mut Package,
    arch: Target,
    large_files: &[LargeFile],
    resources: &Resources,
) -> Result<()> {
    let archive = std::mem::take(&mut package.payload);
    let placed = compress::place(&archive, large_files);
    let payload = compress::xz_reusing(&archive, &placed, compress::XZ_BLOCK, resources)?;
    let rpm_err = |source| Error::Rpm {
        arch: arch.to_string(),
        source,
    };

    let mut entries: Vec<HeaderEntry> = package
        .metadata
        .header
        .get_all_entries()
        .map_err(rpm_err)?
        .into_iter()
        .filter(|(tag, _)| ![REGION, COMPRESSOR, FLAGS, PAYLOAD_SHA256].contains(tag))
        .map(|(tag, data)| HeaderEntry::new(tag, data))
        .collect();
    entries.extend([
        HeaderEntry::new(COMPRESSOR, IndexData::StringTag("xz".into())),
        HeaderEntry::new(FLAGS, IndexData::StringTag(XZ_LEVEL.to_string())),
        HeaderEntry::new(
            PAYLOAD_SHA256,
            IndexData::StringArray(vec![hex::encode(Sha256::digest(&payload))]),
        ),
    ]);
    package.metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
    package.payload = payload;

    let header = package.metadata.header_bytes().map_err(rpm_err)?;
    package.metadata.signature = SignatureHeaderBuilder::new()
        .format(RpmFormat::V4)
        .set_content_length(header.len() as u64 + package.payload.len() as u64)
        .calculate_digests(&header)
        .build()
        .map_err(rpm_err)?;
    debug_assert!(!package
        .metadata
        .signature
        .entry_is_present(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE));
    set_archive_size(package, archive.len() as u64).map_err(rpm_err)
}
