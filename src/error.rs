//! The one error type. Each variant names the thing that failed (URL, file, arch) and,
//! for checks, what was expected and what was found; exit codes are decided here.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown architecture '{name}' (known: {known}, or their Debian/RPM names)")]
    UnknownArch { name: String, known: String },

    /// A value given on the command line or in the environment that cannot be used.
    #[error("{what}: {reason}")]
    Usage { what: String, reason: String },

    #[error("malformed version '{0}': expected MAJOR.MINOR.PATCH with an optional -PRERELEASE (e.g. 2.15.1)")]
    InvalidVersion(String),

    #[error("architecture {arch} is not pinned for nats-server {version} in {manifest} (run `nimsforest-pkg pin {version}`)")]
    NotPinned {
        arch: String,
        version: String,
        manifest: PathBuf,
    },

    #[error("GET {url}: HTTP {status}")]
    HttpStatus { url: String, status: u16 },

    #[error("GET {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("GET {url}: download truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        url: String,
        expected: u64,
        actual: u64,
    },

    #[error("{url}: no line for {file}")]
    MissingChecksum { url: String, file: String },

    #[error("{url}: line {line} is not `<sha256>  <file>`: {text:?}")]
    MalformedChecksums {
        url: String,
        line: usize,
        text: String,
    },

    #[error("sha256 mismatch for {file} against {against}: expected {expected}, got {actual}")]
    HashMismatch {
        file: String,
        against: String,
        expected: String,
        actual: String,
    },

    #[error("{file}: {reason}")]
    Tarball { file: String, reason: String },

    #[error("{file}: nats-server is not a {arch} binary: expected {expected}, found {found}")]
    WrongElf {
        file: String,
        arch: String,
        expected: String,
        found: String,
    },

    #[error("{path}: {reason}")]
    Definition { path: PathBuf, reason: String },

    #[error("{path}: already exists; refusing to overwrite it")]
    Exists { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("building the rpm for {arch}: {source}")]
    Rpm {
        arch: String,
        #[source]
        source: rpm::Error,
    },

    #[error("building {arch}: {source}")]
    Arch {
        arch: String,
        #[source]
        source: Box<Error>,
    },

    /// A signing key that cannot be used: unreadable, locked, or one that current clients
    /// (apt with gpgv or sqv, rpm) would reject. `source_name` is the file or variable.
    #[error("signing key {source_name}: {reason}")]
    Key { source_name: String, reason: String },

    #[error("signing {what}: {reason}")]
    Signing { what: String, reason: String },

    /// Servers that could not be reached or did not answer (a forest's nodes, over NATS).
    #[error("{what}: {reason}")]
    Unreachable { what: String, reason: String },

    /// The command printed its report (`forest status`): only its exit status is left.
    #[error("")]
    Reported { code: i32 },

    /// An object store request that failed (after the store client's retries).
    #[error("{url}: {reason}")]
    Store { url: String, reason: String },

    /// Another publisher holds the store, or changed it while this run worked: nothing of
    /// this run is visible to clients; running again later succeeds.
    #[error("{location}: {reason}")]
    Contended { location: String, reason: String },

    /// A package file that is not whole or not what it claims to be (read back before it
    /// is published).
    #[error("{path}: {reason}")]
    Package { path: PathBuf, reason: String },

    /// A package repository (or a file going into one) that cannot be updated as asked.
    #[error("{path}: {reason}")]
    Repository { path: PathBuf, reason: String },

    /// The build's output directory (`dist/`, its SHA256SUMS) cannot be updated as asked.
    #[error("{path}: {reason}")]
    Output { path: PathBuf, reason: String },

    /// A setting that cannot be used as given (cloud-init user-data: URL, forest id, route...).
    /// `value` is shown: it never holds a secret (URLs are redacted, files named by path).
    #[error("{setting} {value:?}: {reason}")]
    InvalidSetting {
        setting: &'static str,
        value: String,
        reason: String,
    },

    /// A file or directory the tool was given (or keeps, like a forest's) that it cannot
    /// use. Names the path and what is wrong, never the file's contents.
    #[error("{what} {path}: {reason}")]
    Input {
        what: String,
        path: PathBuf,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Exit status: 2 for a bad command line or environment (as clap's own usage errors;
    /// a path that already holds what would be written, too),
    /// 3 when upstream content failed verification (never retry blindly), 4 for network
    /// failures (retrying later may help), 5 when another publisher holds or changed the
    /// repository store (retry once it is done), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. }
            | Error::UnknownArch { .. }
            | Error::InvalidSetting { .. }
            | Error::Input { .. }
            | Error::Exists { .. } => 2,
            Error::HashMismatch { .. }
            | Error::Tarball { .. }
            | Error::WrongElf { .. }
            | Error::MissingChecksum { .. }
            | Error::MalformedChecksums { .. } => 3,
            Error::HttpStatus { .. }
            | Error::Http { .. }
            | Error::Truncated { .. }
            | Error::Store { .. }
            | Error::Unreachable { .. } => 4,
            Error::Contended { .. } => 5,
            Error::Reported { code } => *code,
            Error::Arch { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// Wraps a failure that happened while building one arch, so the message names it.
    pub fn in_arch(self, arch: impl std::fmt::Display) -> Error {
        match self {
            // Already names the arch.
            Error::Arch { .. }
            | Error::WrongElf { .. }
            | Error::NotPinned { .. }
            | Error::Rpm { .. } => self,
            other => Error::Arch {
                arch: arch.to_string(),
                source: Box::new(other),
            },
        }
    }
}

/// Attaches a path to an I/O error.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;

    /// Like `at`, but a missing file or directory is `None` rather than an error.
    fn optional_at(self, path: impl Into<PathBuf>) -> Result<Option<T>>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }

    fn optional_at(self, path: impl Into<PathBuf>) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: path.into(),
                source,
            }),
        }
    }
}
