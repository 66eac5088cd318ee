//! The uncompressed archive size in the signature header, which the `rpm` crate leaves out.
//!
//! rpmbuild records the size of the uncompressed cpio archive in the signature header:
//! `RPMSIGTAG_PAYLOADSIZE` (1007, INT32), or `RPMSIGTAG_LONGARCHIVESIZE` (271, INT64) for
//! an archive of 4 GiB or more. rpm turns it into `%{ARCHIVESIZE}` / `%{LONGARCHIVESIZE}`,
//! and rpm2cpio (rpm 4.18 at least) exits 1 when the bytes it copied differ from it, as
//! they do when the tag is missing. The `rpm` crate's `SignatureHeaderBuilder` knows neither
//! tag, so the signature header is rebuilt here with the tag added.
//!
//! The tag is not covered by the header digests or by a header signature (both are over the
//! main header only), so adding it after the build changes no digest.
//!
//! Signing: `Package::sign_with_timestamp`, `sign`, `apply_signature` and
//! `clear_signatures` rebuild the signature header through `SignatureHeaderBuilder` and
//! drop the tag, so sign through [`sign_rpm`], which puts it back. The crate's in-place
//! functions (`apply_signature_in_place`, `resign_in_place`, `clear_signatures_in_place`)
//! drop it as well, turning its bytes into reserved space; run [`set_archive_size_in_place`]
//! on the file afterwards.

use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use ::rpm::{
    CompressionType, Header, HeaderEntry, IndexData, IndexSignatureTag, Package, PackageMetadata,
    Timestamp,
};

use crate::compress;

const PAYLOADSIZE: u32 = IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE as u32;
const LONGARCHIVESIZE: u32 = IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE as u32;
const RESERVEDSPACE: u32 = IndexSignatureTag::RPMSIGTAG_RESERVEDSPACE as u32;
const REGION: u32 = IndexSignatureTag::HEADER_SIGNATURES as u32;

/// The size in bytes of the uncompressed cpio archive in `package`'s payload, found by
/// decompressing it (exact whatever the archive holds: newc headers, names, padding,
/// trailer).
pub fn payload_archive_size(package: &Package) -> Result<u64, ::rpm::Error> {
    let payload = package.payload.as_slice();
    let format = match package.payload_compression()? {
        CompressionType::None => compress::Encoding::None,
        CompressionType::Xz => compress::Encoding::Xz,
        CompressionType::Zstd => compress::Encoding::Zstd,
        CompressionType::Gzip => compress::Encoding::Gzip,
        other => return Err(::rpm::Error::UnsupportedCompressorType(other.to_string())),
    };
    let mut reader = format.decoder(payload)?;
    Ok(io::copy(&mut reader, &mut io::sink())?)
}

/// The archive size recorded in `package`'s signature header, if any.
pub fn recorded_archive_size(package: &Package) -> Option<u64> {
    let sig = &package.metadata.signature;
    sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
        .map(u64::from)
        .or_else(|_| sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE))
        .ok()
}

/// Records `size` as the archive size in `package`'s signature header, replacing any size
/// already there. Every other entry, the reserved space included, is kept as it is.
pub fn set_archive_size(package: &mut Package, size: u64) -> Result<(), ::rpm::Error> {
    let sig = &package.metadata.signature;
    package.metadata.signature = with_archive_size(sig, size, None)?;
    Ok(())
}

/// Signs `package` with `Package::sign_with_timestamp` and keeps the archive size, which
/// signing would otherwise drop (it is taken from the signature header, or computed from
/// the payload if absent).
pub fn sign_rpm<S>(
    package: &mut Package,
    signer: S,
    time: impl Into<Timestamp>,
) -> Result<(), ::rpm::Error>
where
    S: ::rpm::signature::Signing<Signature = Vec<u8>>,
{
    let size = match recorded_archive_size(package) {
        Some(size) => size,
        None => payload_archive_size(package)?,
    };
    package.sign_with_timestamp(signer, time.into())?;
    set_archive_size(package, size)
}

/// Records the archive size in the package file at `path` without rewriting its main
/// header or payload: the reserved space shrinks by what the tag takes, so the signature
/// header keeps its length. For a file signed or cleared in place by the `rpm` crate.
pub fn set_archive_size_in_place(path: impl AsRef<Path>) -> Result<(), ::rpm::Error> {
    let package = Package::open(path.as_ref())?;
    let size = match recorded_archive_size(&package) {
        Some(size) => size,
        None => payload_archive_size(&package)?,
    };
    let old = &package.metadata;
    let old_len = signature_len(old)?;
    let reserved = old
        .signature
        .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_RESERVEDSPACE)
        .map(<[u8]>::len)
        .map_err(|_| ::rpm::Error::InsufficientReservedSpace {
            needed: old_len + 1,
            available: old_len,
        })?;
    // The reserved space is stored unaligned, last before the region trailer, so resizing
    // it by the difference gives the old length (a second try covers a change of the
    // alignment padding at the end).
    let mut new = old.clone();
    let mut new_reserved = reserved;
    for _ in 0..2 {
        new.signature = with_archive_size(&old.signature, size, Some(new_reserved))?;
        let new_len = signature_len(&new)?;
        if new_len == old_len {
            // Lead and signature header only; the main header and payload stay untouched.
            let mut bytes = Vec::new();
            new.write(&mut bytes)?;
            let end = bytes.len() - header_len(&new)?;
            let mut file = OpenOptions::new().write(true).open(path.as_ref())?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&bytes[..end])?;
            return Ok(());
        }
        match (new_reserved + old_len as usize).checked_sub(new_len as usize) {
            Some(len) => new_reserved = len,
            None => break,
        }
    }
    Err(::rpm::Error::InsufficientReservedSpace {
        needed: old_len + 1,
        available: old_len,
    })
}

/// `sig` rebuilt with the archive size tag set to `size` and, if given, the reserved space
/// set to `reserved` bytes.
fn with_archive_size(
    sig: &Header<IndexSignatureTag>,
    size: u64,
    reserved: Option<usize>,
) -> Result<Header<IndexSignatureTag>, ::rpm::Error> {
    let mut entries: Vec<HeaderEntry> = sig
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| ![REGION, PAYLOADSIZE, LONGARCHIVESIZE].contains(tag))
        .map(|(tag, data)| match (tag, reserved) {
            (RESERVEDSPACE, Some(len)) => HeaderEntry::new(tag, IndexData::Bin(vec![0; len])),
            _ => HeaderEntry::new(tag, data),
        })
        .collect();
    entries.push(match u32::try_from(size) {
        Ok(size) => HeaderEntry::new(PAYLOADSIZE, IndexData::Int32(vec![size])),
        Err(_) => HeaderEntry::new(LONGARCHIVESIZE, IndexData::Int64(vec![size])),
    });
    Ok(Header::from_entries(
        entries,
        IndexSignatureTag::HEADER_SIGNATURES,
    ))
}

/// Length of the signature header with its padding, as written.
fn signature_len(md: &PackageMetadata) -> Result<u32, ::rpm::Error> {
    let mut bytes = Vec::new();
    md.write(&mut bytes)?;
    let len = bytes.len() - ::rpm::LEAD_SIZE as usize - header_len(md)?;
    Ok(u32::try_from(len).expect("a signature header is far below 4 GiB"))
}

fn header_len(md: &PackageMetadata) -> Result<usize, ::rpm::Error> {
    Ok(md.header_bytes()?.len())
}
