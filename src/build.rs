//! The build pipeline, for a plan of arches and formats: fetch and verify each arch's
//! release, stage its tree, write its packages into `dist/` all at once. Its command line
//! is `command::build`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::atomic;
use crate::compress::{BlockCache, LargeFile, Resources};
use crate::deb::{self, Compression, DebianDefinition};
use crate::definition::{release, Arch, Definition, Format, PackageId};
use crate::digest::Sha256Sums;
use crate::dist::Pending;
use crate::error::Result;
use crate::fetch::{ExpectedHash, Fetcher};
use crate::parallel;
use crate::rpm::{self, RpmDefinition};
use crate::stage::{assets, extract, StagedTree};
use crate::weburl::redact;

/// Everything `build` needs, already validated.
pub struct BuildPlan {
    pub definition: Definition,
    pub package: PackageId,
    pub arches: Vec<Arch>,
    pub formats: BTreeSet<Format>,
    /// Where releases are fetched from ([`crate::weburl::mirror_url`]); may carry a
    /// password, which is used and never printed.
    pub mirror: String,
    pub out: PathBuf,
    pub deb_compression: Compression,
    /// mtime of every packaged file.
    pub mtime: u64,
    /// Where the compressed blocks of large files are kept between builds.
    pub block_cache: BlockCache,
}

/// Builds every requested package. Either all of them land in `plan.out` (with an updated
/// SHA256SUMS) or none does.
pub fn build(plan: &BuildPlan, fetcher: &Fetcher) -> Result<Vec<PathBuf>> {
    let def = &plan.definition;
    for &arch in &plan.arches {
        def.pin(arch)?;
    }
    let debian = match plan.formats.contains(&Format::Deb) {
        true => Some(DebianDefinition::load(&def.debian_dir)?),
        false => None,
    };
    let rpm_def = match plan.formats.contains(&Format::Rpm) {
        true => Some(RpmDefinition::load(&def.rpm_dir, &def.name)?),
        false => None,
    };
    let repo_files = assets::read_repo_files(def)?;
    let pending = Pending::new(&plan.out)?;
    let sums = LazySums::new(&plan.mirror, &def.upstream.version);

    // 1. Every arch's verified binary, staged with the definition's files.
    let trees = parallel::map(&plan.arches, parallel::cores(), |&arch| {
        verified_binary(plan, fetcher, &sums, arch)
            .and_then(|binary| {
                let tree = assets::stage(def, &repo_files, binary.data.clone(), plan.mtime)?;
                tree.know_digest(binary);
                Ok(tree)
            })
            .map_err(|e| e.in_arch(arch))
    });
    let trees: Vec<(Arch, StagedTree)> = plan
        .arches
        .iter()
        .copied()
        .zip(trees)
        .map(|(arch, tree)| tree.map(|t| (arch, t)))
        .collect::<Result<_>>()?;

    // 2. One job per package, the longer ones (.rpm: the rpm crate hashes the archive six
    // times) first, so that no core idles at the end. Each block of a server binary is
    // compressed once, by the first job that needs it; another job that needs it
    // meanwhile waits for it rather than making it twice. The cores are shared as among
    // the arches (see `parallel`): a lone arch's first package compresses its blocks on
    // every core, and its second takes them from the cache.
    let mut jobs: Vec<(&(Arch, StagedTree), Format)> = Vec::new();
    for format in [Format::Rpm, Format::Deb] {
        if plan.formats.contains(&format) {
            jobs.extend(trees.iter().map(|t| (t, format)));
        }
    }
    let cpu = parallel::share(trees.len());
    let resources = Resources {
        threads: cpu.threads_per_job,
        cache: &plan.block_cache,
    };
    let one_package = |&(staged, format): &(&(Arch, StagedTree), Format)| -> Result<String> {
        let (arch, tree) = (staged.0, &staged.1);
        let v = &plan.package.version;
        match format {
            Format::Deb => {
                let debian = debian.as_ref().expect("loaded for .deb");
                let name = format!("{}_{}_{}.deb", plan.package.name, v.deb(), arch.deb());
                atomic::write_with(&pending.path(&name), atomic::Options::REPLACE, |out| {
                    let compression = plan.deb_compression;
                    deb::write_deb(
                        tree,
                        &plan.package,
                        arch.into(),
                        debian,
                        compression,
                        &resources,
                        out,
                    )
                })?;
                Ok(name)
            }
            Format::Rpm => {
                let rpm_def = rpm_def.as_ref().expect("loaded for .rpm");
                let name = format!(
                    "{}-{}-{}.{}.rpm",
                    plan.package.name,
                    v.rpm_version(),
                    v.rpm_release(),
                    arch.rpm()
                );
                atomic::write_with(&pending.path(&name), atomic::Options::REPLACE, |out| {
                    rpm::write_rpm(tree, &plan.package, arch.into(), rpm_def, &resources, out)
                })?;
                Ok(name)
            }
        }
        .map_err(|e: crate::error::Error| e.in_arch(arch))
    };
    let files = parallel::map(&jobs, cpu.workers, one_package)
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    pending.commit(&files)
}

/// Fetches (or takes from the cache) the arch's tarball, checked against the release's
/// SHA256SUMS and the pin, and returns its server binary (with its SHA-256) after the ELF
/// check.
fn verified_binary(
    plan: &BuildPlan,
    fetcher: &Fetcher,
    sums: &LazySums,
    arch: Arch,
) -> Result<LargeFile> {
    let version = &plan.definition.upstream.version;
    let pin = plan.definition.pin(arch)?;
    let file = release::tarball(version, arch);
    // Unpacked once per pinned tarball; a rebuild reads the binary back from the cache.
    let (binary, sha256) = fetcher.derived(pin, "nats-server", || {
        let tarball = match fetcher.cached(pin)? {
            Some(path) => path,
            None => {
                let sums = sums.get(fetcher)?;
                let from_sums = sums.get(&file)?;
                fetcher.fetch_verified(
                    &release::url(&plan.mirror, version, &file),
                    &file,
                    &[
                        ExpectedHash {
                            against: format!(
                                "the pin in {}",
                                plan.definition.upstream.pinned_in.display()
                            ),
                            sha256: pin,
                        },
                        ExpectedHash {
                            against: "SHA256SUMS".into(),
                            sha256: from_sums,
                        },
                    ],
                )?
            }
        };
        extract::server_binary(&tarball, &file, &release::stem(version, arch))
    })?;
    extract::check_elf(&binary, arch, &file)?;
    Ok(LargeFile {
        data: Arc::new(binary),
        sha256,
    })
}

/// The release's SHA256SUMS, fetched once and only if some tarball is not cached yet.
struct LazySums {
    url: String,
    sums: Mutex<Option<Arc<Sha256Sums>>>,
}

impl LazySums {
    fn new(mirror: &str, version: &str) -> Self {
        Self {
            url: release::url(mirror, version, "SHA256SUMS"),
            sums: Mutex::new(None),
        }
    }

    fn get(&self, fetcher: &Fetcher) -> Result<Arc<Sha256Sums>> {
        let mut slot = self.sums.lock().expect("not poisoned");
        if let Some(sums) = &*slot {
            return Ok(sums.clone());
        }
        let (text, _) = fetcher.get_text(&self.url)?;
        let sums = Arc::new(Sha256Sums::parse(&redact(&self.url), &text)?);
        *slot = Some(sums.clone());
        Ok(sums)
    }
}
