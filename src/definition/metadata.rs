//! Loads `[package.metadata.nimsforest]` from the manifest (Cargo.toml by default), and
//! the upstream pins, from the manifest or from a pins file given with `--pins`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{check_upstream, Arch, PackageId, Version};
use crate::digest::is_sha256_hex;
use crate::error::{Error, Result};

/// Marks an asset whose bytes come from the verified upstream tarball.
const UPSTREAM_PREFIX: &str = "$upstream/";

/// The whole package definition, with paths resolved against the manifest's directory.
#[derive(Debug, Clone)]
pub struct Definition {
    pub manifest: PathBuf,
    pub name: String,
    pub revision: String,
    /// `debian/`: control, changelog, copyright, maintainer scripts, lintian overrides.
    pub debian_dir: PathBuf,
    /// `rpm/`: `<name>.toml` (header fields), scriptlets, rpmlintrc.
    pub rpm_dir: PathBuf,
    /// `trust/`: the definition of a forest's trust package (`debian/`, `rpm/`, `files/`),
    /// with `@FOREST@` and `@REPO@` placeholders.
    pub trust_dir: PathBuf,
    pub mirror: String,
    pub upstream: Upstream,
    pub assets: Vec<Asset>,
    pub repository: Repository,
}

/// The release being packaged and the pinned hashes of its tarballs.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub version: String,
    /// Release time, seconds since the epoch: the mtime of packaged files.
    pub released: u64,
    /// Pinned SHA-256 (lowercase hex) of each arch's release tarball.
    pub sha256: BTreeMap<Arch, String>,
    /// The file the pins were read from (the manifest, or a `--pins` file).
    pub pinned_in: PathBuf,
}

/// How the published repository and its clients name themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// File names (`{id}.asc`, `{id}.gpg`, `RPM-GPG-KEY-{id}`, `{id}.sources`, `{id}.repo`),
    /// the apt source and yum repository id on nodes.
    pub id: String,
    /// apt's `Origin:` and `Label:`, the yum repository's `name`.
    pub name: String,
    /// The user ID of a key made by `keygen`.
    pub key_user_id: String,
}

impl Repository {
    pub fn public_key_file(&self) -> String {
        format!("{}.asc", self.id)
    }
    pub fn keyring_file(&self) -> String {
        format!("{}.gpg", self.id)
    }
    pub fn rpm_key_file(&self) -> String {
        format!("RPM-GPG-KEY-{}", self.id)
    }
    pub fn secret_key_file(&self) -> String {
        format!("{}-signing-key.asc", self.id)
    }
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
    debian: PathBuf,
    rpm: PathBuf,
    trust: PathBuf,
    mirror: String,
    assets: Vec<RawAsset>,
    repository: RawRepository,
    upstream: RawUpstream,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRepository {
    id: String,
    name: String,
    key_user_id: String,
}

/// A pins file: the `upstream` table alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
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

fn definition_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |reason| Error::Definition {
        path: path.to_path_buf(),
        reason,
    }
}

impl Definition {
    pub fn load(manifest: &Path) -> Result<Self> {
        let text = crate::input::read_text("manifest", manifest)?;
        Self::parse(manifest, &text)
    }

    pub fn parse(manifest: &Path, text: &str) -> Result<Self> {
        let bad = definition_error(manifest);
        let parsed: Manifest = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let raw = parsed
            .package
            .metadata
            .and_then(|m| m.nimsforest)
            .ok_or_else(|| bad("no [package.metadata.nimsforest] table".into()))?;
        let dir = manifest.parent().unwrap_or(Path::new("."));

        let upstream = Upstream::from_raw(manifest, raw.upstream)?;
        Version::new(&upstream.version, &raw.revision).map_err(|e| bad(e.to_string()))?;
        let repository = Repository {
            id: raw.repository.id,
            name: raw.repository.name,
            key_user_id: raw.repository.key_user_id,
        };
        let id_ok = !repository.id.is_empty()
            && repository
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(bad(format!(
                "repository id {:?} must be lower-case letters, digits and `-` (it names files and the repository on nodes)",
                repository.id
            )));
        }
        if repository.name.trim().is_empty() || repository.name.contains('\n') {
            return Err(bad("repository name must be one non-empty line".into()));
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
            debian_dir: dir.join(raw.debian),
            rpm_dir: dir.join(raw.rpm),
            trust_dir: dir.join(raw.trust),
            mirror: raw.mirror,
            upstream,
            assets,
            repository,
        })
    }

    /// The same definition with the upstream release and pins of a pins file instead of
    /// the manifest's (`build --pins FILE`).
    pub fn with_pins_file(mut self, path: &Path) -> Result<Self> {
        let text = crate::input::read_text("pins file", path)?;
        let pins: PinsFile =
            toml::from_str(&text).map_err(|e| definition_error(path)(e.message().to_string()))?;
        self.upstream = Upstream::from_raw(path, pins.upstream)?;
        Version::new(&self.upstream.version, &self.revision)
            .map_err(|e| definition_error(path)(e.to_string()))?;
        Ok(self)
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
                arch: arch.to_string(),
                version: self.upstream.version.clone(),
                manifest: self.upstream.pinned_in.clone(),
            })
    }
}

impl Upstream {
    fn from_raw(path: &Path, raw: RawUpstream) -> Result<Self> {
        let bad = definition_error(path);
        check_upstream(&raw.version).map_err(|e| bad(e.to_string()))?;
        let mut sha256 = BTreeMap::new();
        for (name, hash) in raw.sha256 {
            let arch: Arch = name.parse().map_err(|e: Error| bad(e.to_string()))?;
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
        Ok(Upstream {
            version: raw.version,
            released: raw.released,
            sha256,
            pinned_in: path.to_path_buf(),
        })
    }
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
debian = "debian/"
rpm = "rpm/"
trust = "trust/"
mirror = "https://example.invalid/releases"
assets = [
  { source = "$upstream/nats-server", dest = "/opt/nimsforest/bin/nats-server", mode = "0755" },
  { source = "assets/nats.conf", dest = "/etc/nimsforest/nats.conf", mode = "0640", group = "nimsforest", config = true },
  { dest = "/var/lib/nimsforest", mode = "0750", user = "nimsforest", group = "nimsforest" },
]

[package.metadata.nimsforest.repository]
id = "nimsforest"
name = "NimsForest"
key-user-id = "NimsForest Packages <packages@nimsforest.invalid>"

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
        assert_eq!(def.debian_dir, Path::new("/repo/debian/"));
        assert_eq!(def.repository.rpm_key_file(), "RPM-GPG-KEY-nimsforest");
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
            ("revision = \"1\"", "revision = \"1-2\""),
            ("id = \"nimsforest\"", "id = \"Nims Forest\""),
        ];
        for (from, to) in cases {
            let text = GOOD.replacen(from, to, 1);
            let err = Definition::parse(Path::new("Cargo.toml"), &text).unwrap_err();
            assert!(matches!(err, Error::Definition { .. }), "{to}: {err}");
        }
    }

    #[test]
    fn a_pins_file_replaces_the_release_and_says_where_pins_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("pins.toml");
        let hash = "1".repeat(64);
        std::fs::write(
            &pins,
            format!("[upstream]\nversion = \"2.9.10\"\nreleased = 7\n[upstream.sha256]\n386 = \"{hash}\"\n"),
        )
        .unwrap();
        let def = Definition::parse(Path::new("/repo/Cargo.toml"), GOOD)
            .unwrap()
            .with_pins_file(&pins)
            .unwrap();
        assert_eq!(
            (def.upstream.version.as_str(), def.upstream.released),
            ("2.9.10", 7)
        );
        assert_eq!(def.pin(Arch::I386).unwrap(), hash);
        let err = def.pin(Arch::Amd64).unwrap_err().to_string();
        assert!(err.contains(pins.to_str().unwrap()), "{err}");
        std::fs::write(&pins, "[upstream]\nversion = \"2.9\"\nreleased = 7\n").unwrap();
        let base = Definition::parse(Path::new("Cargo.toml"), GOOD).unwrap();
        assert!(base.with_pins_file(&pins).is_err());
    }
}
