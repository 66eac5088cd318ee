//! Writes a staged tree as an RPM package through the `rpm` crate.
//!
//! The tree gives the files; `RpmDefinition` (the `rpm/` directory) gives the header fields,
//! dependencies, changelog and scriptlets. Everything that could vary between two builds of
//! the same inputs is fixed: every timestamp is `tree.mtime`, the build host is a constant,
//! entries are written in path order, and nothing reads the process umask, clock, cwd or TZ.
//!
//! Payload compression is xz at level 6 (rpmbuild's `w6.xzdio`), one xz stream of blocks,
//! readable by every rpm since 4.x (RHEL/CentOS 7 included). It is done in `payload`, not
//! by the `rpm` crate, so that the server binary's blocks are compressed once for both
//! formats and every revision (the block cache). zstd payloads need rpm 4.14+ built with
//! zstd, and gain nothing here (measured: docs/benchmarks.md).
//!
//! The signature header also records the uncompressed archive size, as rpmbuild's does
//! (see `archive_size`): rpm2cpio fails without it.
//!
//! Signing comes later: `build_rpm` returns the unsigned `rpm::Package`; a signer calls
//! `sign_rpm(&mut package, signer, mtime)` on it before `Package::write`. Not
//! `Package::sign_with_timestamp` directly: that rebuilds the signature header without the
//! archive size, which `sign_rpm` puts back. The signature header reserves space so an
//! existing file can also be signed in place; the `rpm` crate's in-place signing drops the
//! archive size too, so follow it with `set_archive_size_in_place`.

mod archive_size;
mod definition;
mod payload;
mod verify;
pub mod version;

use std::io::{BufWriter, Write};

use ::rpm::{
    BuildConfig, CompressionWithLevel, Dependency, FileOptions, PackageBuilder, Scriptlet,
};

pub use archive_size::{
    payload_archive_size, recorded_archive_size, set_archive_size, set_archive_size_in_place,
    sign_rpm,
};
pub use definition::{fields_file, ChangelogEntry, Dep, Phase, RpmDefinition};
pub use verify::verify;

use crate::compress::Resources;
use crate::definition::{PackageId, Target};
use crate::error::{Error, Result};
use crate::stage::{EntryKind, StagedTree};

/// Recorded as the build host so that the host name of the building machine never enters
/// the package.
pub const BUILD_HOST: &str = "nimsforest-pkg";

/// xz level of the payload (see the module documentation).
pub const XZ_LEVEL: u32 = crate::compress::XZ_PRESET;

/// Where `%license` files go: `/usr/share/licenses/<name>/<file>`, as rpmbuild puts them.
const LICENSE_DIR: &str = "/usr/share/licenses";

/// Where `%doc` files go: `/usr/share/doc/<name>/<file>`.
const DOC_DIR: &str = "/usr/share/doc";

/// Builds the package and writes it to `out`.
pub fn write_rpm(
    tree: &StagedTree,
    pkg: &PackageId,
    arch: Target,
    def: &RpmDefinition,
    resources: &Resources,
    out: &mut dyn Write,
) -> Result<()> {
    let package = build_rpm(tree, pkg, arch, def, resources)?;
    let rpm_err = |source| Error::Rpm {
        arch: arch.to_string(),
        source,
    };
    let mut out = BufWriter::new(out);
    package.write(&mut out).map_err(rpm_err)?;
    out.flush().map_err(|e| rpm_err(e.into()))
}

/// Builds the unsigned package in memory (the seam where a signer will be applied, with
/// `sign_rpm`), its archive size recorded.
pub fn build_rpm(
    tree: &StagedTree,
    pkg: &PackageId,
    arch: Target,
    def: &RpmDefinition,
    resources: &Resources,
) -> Result<::rpm::Package> {
    let mtime = u32::try_from(tree.mtime).map_err(|_| Error::Definition {
        path: def.fields_path.clone(),
        reason: format!(
            "modification time {} does not fit RPM's 32-bit timestamps",
            tree.mtime
        ),
    })?;
    let mut package = builder(tree, pkg, arch, def, mtime)
        .and_then(|mut b| b.build())
        .map_err(|source| Error::Rpm {
            arch: arch.to_string(),
            source,
        })?;
    payload::compress_payload(&mut package, arch, tree.large_files(), resources)?;
    Ok(package)
}

fn builder(
    tree: &StagedTree,
    pkg: &PackageId,
    arch: Target,
    def: &RpmDefinition,
    mtime: u32,
) -> std::result::Result<PackageBuilder, ::rpm::Error> {
    let version = pkg.version.rpm_version();
    let release = pkg.version.rpm_release();
    let mut b = PackageBuilder::new(&pkg.name, &version, &def.license, arch.rpm(), &def.summary);
    b.using_config(
        BuildConfig::v4()
            // Compressed afterwards, in `payload`.
            .compression(CompressionWithLevel::None)
            .source_date(mtime),
    )
    .release(release)
    .description(&def.description)
    .packager(&def.packager)
    .build_host(BUILD_HOST);
    if let Some(url) = &def.url {
        b.url(url);
    }
    if let Some(vendor) = &def.vendor {
        b.vendor(vendor);
    }
    if let Some(group) = &def.group {
        b.group(group);
    }

    // Files: only what the package definition declared; parents the stager added belong
    // to `filesystem` (or whichever package owns them on the target system).
    let at = ::rpm::Timestamp::from(mtime);
    for entry in tree.entries().iter().filter(|e| e.owned) {
        let mode = u16::try_from(entry.mode & 0o7777).expect("masked to 12 bits");
        let opts = |o: ::rpm::FileOptionsBuilder| {
            o.user(&entry.user)
                .group(&entry.group)
                .permissions(mode)
                .modified_at(at)
        };
        match &entry.kind {
            EntryKind::Dir => {
                b.with_dir_entry(opts(FileOptions::dir(&entry.path)))?;
            }
            EntryKind::Symlink(target) => {
                b.with_symlink(opts(FileOptions::symlink(&entry.path, target)))?;
            }
            EntryKind::File(data) => {
                let mut o = opts(FileOptions::new(&entry.path));
                if entry.config {
                    o = o.config().noreplace();
                }
                b.with_file_contents(data.as_slice(), o)?;
            }
        }
    }
    // %license and %doc files go where rpmbuild puts them, in directories the package owns.
    for (files, root, is_doc) in [
        (&def.license_files, LICENSE_DIR, false),
        (&def.doc_files, DOC_DIR, true),
    ] {
        if files.is_empty() {
            continue;
        }
        let dir = format!("{root}/{}", pkg.name);
        b.with_dir_entry(FileOptions::dir(&dir).permissions(0o755).modified_at(at))?;
        for (name, data) in files {
            let o = FileOptions::new(format!("{dir}/{name}"))
                .permissions(0o644)
                .modified_at(at);
            let o = if is_doc { o.doc() } else { o.license() };
            b.with_file_contents(data.as_slice(), o)?;
        }
    }

    // Dependencies. The rpm crate adds the rest itself: `/bin/sh` for each scriptlet,
    // rpmlib() features, config(NAME), and user()/group() from the sysusers.d file.
    // It does not declare the xz payload; rpmbuild does, so rpm refuses the package with
    // a clear message rather than a decompression error where xz is missing.
    b.requires(Dependency::rpmlib("PayloadIsXz", "5.2-1"));
    for dep in &def.requires {
        b.requires(dep.to_rpm());
    }
    for (phase, deps) in &def.scriptlet_requires {
        for dep in deps {
            let mut d = dep.to_rpm();
            d.flags |= phase_flag(*phase);
            b.requires(d);
        }
    }

    for (phase, body) in &def.scriptlets {
        let script = Scriptlet::new(body.as_str()).prog(vec!["/bin/sh"]);
        match phase {
            Phase::Pre => b.pre_install_script(script),
            Phase::Post => b.post_install_script(script),
            Phase::Preun => b.pre_uninstall_script(script),
            Phase::Postun => b.post_uninstall_script(script),
            Phase::Posttrans => b.post_trans_script(script),
        };
    }

    for entry in changelog(
        def,
        &format!("{version}-{release}"),
        &pkg.version.upstream,
        tree.mtime,
    ) {
        b.add_changelog_entry(entry.name(), entry.text(), clamp_u32(entry.time));
    }
    Ok(b)
}

fn phase_flag(phase: Phase) -> ::rpm::DependencyFlags {
    use ::rpm::DependencyFlags as F;
    match phase {
        Phase::Pre => F::SCRIPT_PRE,
        Phase::Post => F::SCRIPT_POST,
        Phase::Preun => F::SCRIPT_PREUN,
        Phase::Postun => F::SCRIPT_POSTUN,
        Phase::Posttrans => F::POSTTRANS,
    }
}

/// The changelog to write, newest first: the definition's entries, preceded by a generated
/// one when the newest entry is not `evr` (so re-pinning needs no hand edit). The generated
/// entry is dated `mtime`, or the newest entry's date if that is later (rpm lists entries
/// by descending date).
pub fn changelog(
    def: &RpmDefinition,
    evr: &str,
    upstream: &str,
    mtime: u64,
) -> Vec<ChangelogEntry> {
    let mut entries = def.changelog.clone();
    if entries.first().map(|e| e.version.as_str()) != Some(evr) {
        let time = entries.first().map_or(mtime, |e| e.time.max(mtime));
        entries.insert(
            0,
            ChangelogEntry {
                author: def.packager.clone(),
                version: evr.to_string(),
                time,
                changes: vec![format!("Package NATS server {upstream}.")],
            },
        );
    }
    entries
}

fn clamp_u32(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
