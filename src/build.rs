//! `nimsforest-pkg build`: fetch and verify each arch, stage its tree, write the packages.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::deb::{self, Compression, DebianDefinition};
use crate::dist::Staging;
use crate::error::{Error, Result};
use crate::fetch::verify::Checksums;
use crate::fetch::{ExpectedHash, Fetcher};
use crate::rpm::{self, RpmDefinition};
use crate::spec::{release, Arch, Definition, PackageId};
use crate::stage::{assets, extract};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Format {
    Deb,
    Rpm,
}

/// Everything `build` needs, already validated.
pub struct BuildPlan {
    pub definition: Definition,
    pub package: PackageId,
    pub arches: Vec<Arch>,
    pub formats: BTreeSet<Format>,
    pub mirror: String,
    pub out: PathBuf,
    pub deb_compression: Compression,
    /// mtime of every packaged file.
    pub mtime: u64,
}

/// Builds every requested package. Either all of them land in `plan.out` (with an updated
/// SHA256SUMS) or none does.
pub fn build(plan: &BuildPlan, fetcher: &Fetcher) -> Result<Vec<PathBuf>> {
    let def = &plan.definition;
    for &arch in &plan.arches {
        def.pin(arch)?;
    }
    let debian = match plan.formats.contains(&Format::Deb) {
        true => Some(DebianDefinition::load(&def.maintainer_scripts)?),
        false => None,
    };
    let rpm_def = match plan.formats.contains(&Format::Rpm) {
        true => Some(RpmDefinition::load(&def.rpm_scripts)?),
        false => None,
    };
    let repo_files = assets::read_repo_files(def)?;
    let staging = Staging::new(&plan.out)?;
    let sums = LazySums::new(&plan.mirror, &def.upstream.version);

    let one_arch = |arch: Arch| -> Result<Vec<String>> {
        let binary = verified_binary(plan, fetcher, &sums, arch)?;
        let tree = assets::stage(def, &repo_files, Arc::new(binary), plan.mtime)?;
        let mut written = Vec::new();
        if let Some(debian) = &debian {
            let name = format!(
                "{}_{}_{}.deb",
                plan.package.name,
                plan.package.version.deb(),
                arch.deb()
            );
            write_file(&staging.path(&name), |out| {
                deb::write_deb(
                    &tree,
                    &plan.package,
                    arch,
                    debian,
                    plan.deb_compression,
                    out,
                )
            })?;
            written.push(name);
        }
        if let Some(rpm_def) = &rpm_def {
            let v = &plan.package.version;
            let name = format!(
                "{}-{}-{}.{}.rpm",
                plan.package.name,
                v.rpm_version(),
                v.rpm_release(),
                arch.rpm()
            );
            write_file(&staging.path(&name), |out| {
                rpm::write_rpm(&tree, &plan.package, arch, rpm_def, out)
            })?;
            written.push(name);
        }
        Ok(written)
    };

    let results = in_parallel(&plan.arches, |arch| {
        one_arch(arch).map_err(|e| e.in_arch(arch))
    });
    let mut files = Vec::new();
    for result in results {
        files.extend(result?);
    }
    staging.commit(&files)
}

/// Fetches (or takes from the cache) the arch's tarball, checked against the release's
/// SHA256SUMS and the pin, and returns its server binary after the ELF check.
fn verified_binary(
    plan: &BuildPlan,
    fetcher: &Fetcher,
    sums: &LazySums,
    arch: Arch,
) -> Result<Vec<u8>> {
    let version = &plan.definition.upstream.version;
    let pin = plan.definition.pin(arch)?;
    let file = release::tarball(version, arch);
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
                        against: "the pin in the package definition",
                        sha256: pin,
                    },
                    ExpectedHash {
                        against: "SHA256SUMS",
                        sha256: from_sums,
                    },
                ],
            )?
        }
    };
    let binary = extract::server_binary(&tarball, &file, &release::stem(version, arch))?;
    extract::check_elf(&binary, arch, &file)?;
    Ok(binary)
}

/// The release's SHA256SUMS, fetched once and only if some tarball is not cached yet.
struct LazySums {
    url: String,
    sums: Mutex<Option<Arc<Checksums>>>,
}

impl LazySums {
    fn new(mirror: &str, version: &str) -> Self {
        Self {
            url: release::url(mirror, version, "SHA256SUMS"),
            sums: Mutex::new(None),
        }
    }

    fn get(&self, fetcher: &Fetcher) -> Result<Arc<Checksums>> {
        let mut slot = self.sums.lock().expect("not poisoned");
        if let Some(sums) = &*slot {
            return Ok(sums.clone());
        }
        let (text, _) = fetcher.get_text(&self.url)?;
        let sums = Arc::new(Checksums::parse(&self.url, &text)?);
        *slot = Some(sums.clone());
        Ok(sums)
    }
}

fn write_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `work` for every arch on as many threads as there are cores; results in input order.
fn in_parallel<T: Send>(arches: &[Arch], work: impl Fn(Arch) -> T + Sync) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(arches.len().max(1));
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..arches.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().expect("not poisoned");
                    let i = *next;
                    *next += 1;
                    i
                };
                let Some(&arch) = arches.get(i) else { break };
                let result = work(arch);
                results.lock().expect("not poisoned")[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|r| r.expect("every arch ran"))
        .collect()
}
