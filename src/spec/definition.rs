//! Loads `[package.metadata.nimsforest]` from the manifest (Cargo.toml by default).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{check_upstream, Arch, PackageId, Version};
use crate::error::{Error, IoContext, Result};

/// Marks an asset whose bytes come from the verified upstream tarball.
const UPSTREAM_PREFIX: &str = "$upstream/";

/// The whole package definition, with paths resolved against the manifest's directory.
#[derive(Debug, Clone)]
pub struct Definition {
    pub manifest: PathBuf,
    pub name: String,
    pub revision: String,
    pub maintainer_scripts: PathBuf,
    pub rpm_scripts: PathBuf,
    pub mirror: String,
    pub upstream: Upstream,
    pub assets: Vec<Asset>,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub version: String,
    /// Release time, seconds since the epoch: the mtime of packaged files.
    pub released: u64,
    /// Pinned SHA-256 (lowercase hex) of each arch's release tarball.
    pub sha256: BTreeMap<Arch, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetSource {
    /// A file in the upstream tarball, by name (`nats-server`).
    Upstream(String),
    /// A file in this repository.
    File(PathBuf),
    /// No source: the asset is a directory.
    Directory,
}

#[derive(Debug, Clone)]
pub struct Asset {
    pub source: AssetSource,
    pub dest: String,
    pub mode: u32,
    pub user: String,
    pub group: String,
    pub config: bool,
}

#[derive(Deserialize)]
struct Manifest {
    package: ManifestPackage,
}

#[derive(Deserialize)]
struct ManifestPackage {
    metadata: Option<ManifestMetadata>,
}

#[derive(Deserialize)]
struct ManifestMetadata {
    nimsforest: Option<RawDefinition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawDefinition {
    name: String,
    revision: String,
    maintainer_scripts: PathBuf,
    rpm_scripts: PathBuf,
    mirror: String,
    assets: Vec<RawAsset>,
    upstream: RawUpstream,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    version: String,
    released: u64,
    #[serde(default)]
    sha256: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsset {
    source: Option<String>,
    dest: String,
    mode: String,
    #[serde(default = "root")]
    user: String,
    #[serde(default = "root")]
    group: String,
    #[serde(default)]
    config: bool,
}

fn root() -> String {
    "root".into()
}

impl Definition {
    pub fn load(manifest: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(manifest).at(manifest)?;
        Self::parse(manifest, &text)
    }

    pub fn parse(manifest: &Path, text: &str) -> Result<Self> {
        let bad = |reason: String| Error::Definition {
            path: manifest.to_path_buf(),
            reason,
        };
        let parsed: Manifest = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let raw = parsed
            .package
            .metadata
            .and_then(|m| m.nimsforest)
            .ok_or_else(|| bad("no [package.metadata.nimsforest] table".into()))?;
        let dir = manifest.parent().unwrap_or(Path::new("."));

        check_upstream(&raw.upstream.version)?;
        Version::new(&raw.upstream.version, &raw.revision)?;
        let mut sha256 = BTreeMap::new();
        for (name, hash) in raw.upstream.sha256 {
            let arch: Arch = name.parse()?;
            if arch.upstream() != name {
                return Err(bad(format!(
                    "pin '{name}': use the upstream arch name '{arch}'"
                )));
            }
            if !is_sha256_hex(&hash) {
                return Err(bad(format!(
                    "pin for {arch} is not 64 lowercase hex digits: {hash:?}"
                )));
            }
            sha256.insert(arch, hash);
        }

        let assets = raw
            .assets
            .into_iter()
            .map(|a| {
                let mode = u32::from_str_radix(&a.mode, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad(format!("{}: mode {:?} is not octal", a.dest, a.mode)))?;
                let source = match a.source {
                    None => AssetSource::Directory,
                    Some(s) => match s.strip_prefix(UPSTREAM_PREFIX) {
                        Some("nats-server") => AssetSource::Upstream("nats-server".into()),
                        Some(other) => {
                            return Err(bad(format!(
                                "{}: only $upstream/nats-server is taken from the tarball, not {other:?}",
                                a.dest
                            )))
                        }
                        None => AssetSource::File(dir.join(s)),
                    },
                };
                Ok(Asset {
                    source,
                    dest: a.dest,
                    mode,
                    user: a.user,
                    group: a.group,
                    config: a.config,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Definition {
            manifest: manifest.to_path_buf(),
            name: raw.name,
            revision: raw.revision,
            maintainer_scripts: dir.join(raw.maintainer_scripts),
            rpm_scripts: dir.join(raw.rpm_scripts),
            mirror: raw.mirror,
            upstream: Upstream {
                version: raw.upstream.version,
                released: raw.upstream.released,
                sha256,
            },
            assets,
        })
    }

    /// The package identity for a revision (the definition's own unless overridden).
    pub fn package_id(&self, revision: Option<&str>) -> Result<PackageId> {
        Ok(PackageId {
            name: self.name.clone(),
            version: Version::new(&self.upstream.version, revision.unwrap_or(&self.revision))?,
        })
    }

    /// The pinned hash for an arch, or an error telling how to pin it.
    pub fn pin(&self, arch: Arch) -> Result<&str> {
        self.upstream
            .sha256
            .get(&arch)
            .map(String::as_str)
            .ok_or_else(|| Error::NotPinned {
                arch,
                version: self.upstream.version.clone(),
                manifest: self.manifest.clone(),
            })
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[package]
name = "x"
version = "0.1.0"

[package.metadata.nimsforest]
name = "nimsforest-nats"
revision = "1"
maintainer-scripts = "debian/"
rpm-scripts = "rpm/"
mirror = "https://example.invalid/releases"
assets = [
  { source = "$upstream/nats-server", dest = "/opt/nimsforest/bin/nats-server", mode = "0755" },
  { source = "assets/nats.conf", dest = "/etc/nimsforest/nats.conf", mode = "0640", group = "nimsforest", config = true },
  { dest = "/var/lib/nimsforest", mode = "0750", user = "nimsforest", group = "nimsforest" },
]

[package.metadata.nimsforest.upstream]
version = "2.15.1"
released = 1760155140

[package.metadata.nimsforest.upstream.sha256]
amd64 = "0000000000000000000000000000000000000000000000000000000000000000"
"#;

    #[test]
    fn loads_the_definition() {
        let def = Definition::parse(Path::new("/repo/Cargo.toml"), GOOD).unwrap();
        assert_eq!(def.name, "nimsforest-nats");
        assert_eq!(def.maintainer_scripts, Path::new("/repo/debian/"));
        assert_eq!(def.assets.len(), 3);
        assert_eq!(
            def.assets[0].source,
            AssetSource::Upstream("nats-server".into())
        );
        assert_eq!(
            def.assets[1].source,
            AssetSource::File("/repo/assets/nats.conf".into())
        );
        assert_eq!(
            (def.assets[1].mode, def.assets[1].group.as_str()),
            (0o640, "nimsforest")
        );
        assert!(def.assets[1].config);
        assert_eq!(def.assets[2].source, AssetSource::Directory);
        assert!(def.pin(Arch::Amd64).is_ok());
        assert!(matches!(def.pin(Arch::Arm64), Err(Error::NotPinned { .. })));
        assert_eq!(def.package_id(Some("3")).unwrap().version.deb(), "2.15.1-3");
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            ("version = \"2.15.1\"", "version = \"2.15\""),
            ("amd64 = ", "sparc = "),
            ("amd64 = ", "x86_64 = "),
            ("mode = \"0755\"", "mode = \"rwx\""),
            ("$upstream/nats-server", "$upstream/LICENSE"),
            ("revision = \"1\"", "revision = \"1\"\nsurprise = 1"),
        ];
        for (from, to) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert!(
                Definition::parse(Path::new("Cargo.toml"), &text).is_err(),
                "{to}"
            );
        }
    }
}
