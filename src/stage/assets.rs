//! Turns the package definition's assets into a staged tree.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Entry, EntryKind, StagedTree, TreeBuilder};
use crate::definition::{AssetSource, Definition};
use crate::error::{IoContext, Result};

/// Files read from the repository once, shared by every arch.
pub type RepoFiles = HashMap<std::path::PathBuf, Arc<Vec<u8>>>;

pub fn read_repo_files(def: &Definition) -> Result<RepoFiles> {
    let mut files = RepoFiles::new();
    for asset in &def.assets {
        if let AssetSource::File(path) = &asset.source {
            let data = std::fs::read(path).at(path)?;
            files.insert(path.clone(), Arc::new(data));
        }
    }
    Ok(files)
}

/// The tree for one arch: repository files, directories and the arch's server binary.
pub fn stage(
    def: &Definition,
    repo_files: &RepoFiles,
    binary: Arc<Vec<u8>>,
    mtime: u64,
) -> Result<StagedTree> {
    let mut tree = TreeBuilder::new();
    for asset in &def.assets {
        let kind = match &asset.source {
            AssetSource::Directory => EntryKind::Dir,
            AssetSource::Upstream(_) => EntryKind::File(binary.clone()),
            AssetSource::File(path) => EntryKind::File(repo_files[path].clone()),
        };
        tree.add(Entry {
            path: asset.dest.clone(),
            kind,
            mode: asset.mode,
            user: asset.user.clone(),
            group: asset.group.clone(),
            config: asset.config,
            owned: true,
        })?;
    }
    tree.finish(mtime)
}
