//! Compressed xz blocks, kept content-addressed beside the download cache: a block of a
//! large file is found by the file's SHA-256, the block's place in it and the compressor
//! settings, so a rebuild (a new revision, the other format, another run) compresses no
//! large file twice, and hashes it once per build.
//!
//! An entry is the SHA-256 of the one-block xz stream that follows it; a damaged entry
//! fails that check and is made again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::blocks::Block;
use super::{XZ_DICT_MAX, XZ_PRESET};
use crate::atomic;
use crate::error::{IoContext, Result};

/// What a block's bytes depend on besides its input: the key changes with any of it.
fn settings() -> String {
    format!(
        "xz preset {XZ_PRESET} crc64, dictionary fit to the block up to {XZ_DICT_MAX}, liblzma one-block stream, v3\n"
    )
}

/// The name of a large file's block: the file's SHA-256, the block's offset and length in
/// it, and the compressor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockKey {
    name: String,
    len: usize,
}

impl BlockKey {
    pub fn new(file_sha256: &[u8; 32], offset: usize, len: usize) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(settings().as_bytes());
        hasher.update(file_sha256);
        hasher.update(format!("\n{offset} {len}\n").as_bytes());
        Self {
            name: hex::encode(hasher.finalize()),
            len,
        }
    }
}

/// Where blocks are kept: a directory, or this run's memory only. Within a run every
/// block is made once: a job that asks for a block another job is making waits for it.
pub struct BlockCache {
    dir: Option<PathBuf>,
    /// The blocks of this run, by name; a slot is locked while its block is being made.
    run: Mutex<HashMap<String, Arc<Mutex<Option<Block>>>>>,
}

impl BlockCache {
    /// A cache in `dir` (created when first written).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: Some(dir.to_path_buf()),
            run: Mutex::default(),
        }
    }

    /// A cache for this run only.
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            run: Mutex::default(),
        }
    }

    /// The block `key` names, whose bytes are `data`: from the cache, or compressed now
    /// and kept.
    pub fn block(&self, key: &BlockKey, data: &[u8]) -> Result<Block> {
        debug_assert_eq!(key.len, data.len());
        let slot = self
            .run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.name.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(block) = &*slot {
            return Ok(block.clone());
        }
        let path = self
            .dir
            .as_ref()
            .map(|d| d.join(&key.name[..2]).join(&key.name));
        let block = match path.as_deref().and_then(read_entry) {
            Some(block) => block,
            None => {
                let stream = super::xz_block(data).at("xz block")?;
                let block = Block::from_stream(&stream).at("xz block")?;
                if let Some(path) = &path {
                    let dir = path.parent().expect("key directory");
                    std::fs::create_dir_all(dir).at(dir)?;
                    let mut entry = Sha256::digest(&stream).to_vec();
                    entry.extend_from_slice(&stream);
                    atomic::write(path, &entry, atomic::Options::REPLACE.mode(0o644))?;
                }
                block
            }
        };
        *slot = Some(block.clone());
        Ok(block)
    }
}

/// A cached block, or `None` when it is missing or does not match its checksum.
fn read_entry(path: &Path) -> Option<Block> {
    let entry = std::fs::read(path).ok()?;
    let (sum, stream) = entry.split_at_checked(32)?;
    (Sha256::digest(stream).as_slice() == sum)
        .then(|| Block::from_stream(stream).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_compressed_once_and_a_damaged_entry_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::in_dir(dir.path());
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let key = BlockKey::new(&Sha256::digest(&data).into(), 0, data.len());
        let first = cache.block(&key, &data).unwrap();
        let entry = dir.path().join(&key.name[..2]).join(&key.name);
        let stored = std::fs::read(&entry).unwrap();
        assert_eq!(
            BlockCache::in_dir(dir.path()).block(&key, &data).unwrap(),
            first
        );

        // A flipped byte in the stored block: the checksum refuses it, and it is made anew.
        let mut damaged = stored.clone();
        let last = damaged.len() - 20;
        damaged[last] ^= 0xff;
        std::fs::write(&entry, &damaged).unwrap();
        assert!(read_entry(&entry).is_none());
        let next_run = BlockCache::in_dir(dir.path());
        assert_eq!(next_run.block(&key, &data).unwrap(), first);
        assert_eq!(std::fs::read(&entry).unwrap(), stored);
    }

    #[test]
    fn the_key_names_the_file_the_place_and_the_settings() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_ne!(BlockKey::new(&a, 0, 10), BlockKey::new(&b, 0, 10));
        assert_ne!(BlockKey::new(&a, 0, 10), BlockKey::new(&a, 10, 10));
        assert_ne!(BlockKey::new(&a, 0, 10), BlockKey::new(&a, 0, 11));
        assert!(settings().contains(&format!("preset {XZ_PRESET}")));
    }
}
