//! `nimsforest-pkg build`: fetch and verify each arch, stage its tree, write the packages.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::atomic;
use crate::deb::{self, Compression, DebianDefinition};
use crate::digest::Sha256Sums;
use crate::dist::Staging;
use crate::error::Result;
use crate::fetch::{ExpectedHash, Fetcher};
use crate::parallel;
use crate::rpm::{self, RpmDefinition};
use crate::spec::{release, Arch, Definition, Format, PackageId};
use crate::stage::{assets, extract};

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
        true => Some(DebianDefinition::load(&def.debian_dir)?),
        false => None,
    };
    let rpm_def = match plan.formats.contains(&Format::Rpm) {
        true => Some(RpmDefinition::load(&def.rpm_dir, &def.name)?),
        false => None,
    };
    let repo_files = assets::read_repo_files(def)?;
    let staging = Staging::new(&plan.out)?;
    let sums = LazySums::new(&plan.mirror, &def.upstream.version);
    // Arches build side by side; each one's xz gets the cores left over (see `parallel`).
    let cpu = parallel::share(plan.arches.len());

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
            atomic::write_with(&staging.path(&name), atomic::Options::REPLACE, |out| {
                deb::write_deb(
                    &tree,
                    &plan.package,
                    arch,
                    debian,
                    plan.deb_compression,
                    cpu.threads_per_job,
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
            atomic::write_with(&staging.path(&name), atomic::Options::REPLACE, |out| {
                rpm::write_rpm(&tree, &plan.package, arch, rpm_def, out)
            })?;
            written.push(name);
        }
        Ok(written)
    };

    let results = parallel::map(&plan.arches, cpu.workers, |&arch| {
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
    let binary = extract::server_binary(&tarball, &file, &release::stem(version, arch))?;
    extract::check_elf(&binary, arch, &file)?;
    Ok(binary)
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
        let sums = Arc::new(Sha256Sums::parse(&self.url, &text)?);
        *slot = Some(sums.clone());
        Ok(sums)
    }
}
