//! Downloads with retries, progress and a content-addressed cache.
//!
//! A file enters the cache only after it matched every expected hash, under the name of its
//! SHA-256; a rebuild of a pinned release therefore needs no network at all.
//!
//! A URL may carry a mirror's `user:password@`: reqwest sends it as basic authentication,
//! and every error names the URL through [`redact`], so the password is never printed.

pub mod verify;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::atomic;
use crate::digest::sha256_file;
use crate::error::{Error, IoContext, Result};
use crate::weburl::redact;
use verify::expect_hash;

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// A hash the download must have, and what it came from ("SHA256SUMS", "the pin").
pub struct ExpectedHash<'a> {
    pub against: String,
    pub sha256: &'a str,
}

pub struct Fetcher {
    /// Built on the first download: a build from a warm cache never needs it.
    client: OnceLock<reqwest::blocking::Client>,
    cache_dir: PathBuf,
    bars: MultiProgress,
}

impl Fetcher {
    pub fn new(cache_dir: PathBuf) -> Self {
        // Progress bars only on a terminal: logs and CI stay quiet.
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            client: OnceLock::new(),
            cache_dir,
            bars: MultiProgress::with_draw_target(target),
        }
    }

    fn client(&self, url: &str) -> Result<&reqwest::blocking::Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("nimsforest-pkg/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .build()
            .map_err(|source| Error::Http {
                url: redact(url),
                source: source.without_url(),
            })?;
        Ok(self.client.get_or_init(|| client))
    }

    /// GETs a small text file (a checksum list), with retries. Returns the body and the
    /// server's Last-Modified time if it sent one.
    pub fn get_text(&self, url: &str) -> Result<(String, Option<SystemTime>)> {
        with_retries(|| {
            let response = self.get(url)?;
            let modified = response
                .headers()
                .get(reqwest::header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok());
            let mut body = Vec::new();
            read_body(url, response, &mut body, &ProgressBar::hidden())?;
            let text = String::from_utf8(body).map_err(|_| Error::MalformedChecksums {
                url: redact(url),
                line: 0,
                text: "not UTF-8".into(),
            })?;
            Ok((text, modified))
        })
    }

    /// The cached file with this SHA-256, if the cache holds an intact copy.
    pub fn cached(&self, sha256: &str) -> Result<Option<PathBuf>> {
        let cached = self.cache_path(sha256);
        if !cached.is_file() {
            return Ok(None);
        }
        // Guard against a cache damaged on disk: re-hash before trusting it.
        if sha256_file(&cached)? == sha256 {
            return Ok(Some(cached));
        }
        std::fs::remove_file(&cached).at(&cached)?;
        Ok(None)
    }

    /// What `derive` makes of the download pinned as `sha256` (the server binary taken out
    /// of its tarball), kept beside the download as `name`, so that a rebuild reads it back
    /// instead of unpacking again. Like a download, it is checked against its own SHA-256
    /// (stored first in the file) before it is trusted, and made again when it fails.
    /// Returns it with its SHA-256.
    pub fn derived(
        &self,
        sha256: &str,
        name: &str,
        derive: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<(Vec<u8>, [u8; 32])> {
        let path = self.cache_dir.join("derived").join(sha256).join(name);
        if let Ok(mut entry) = std::fs::read(&path) {
            if entry.len() >= 32 {
                let data = entry.split_off(32);
                let digest: [u8; 32] = Sha256::digest(&data).into();
                if digest[..] == entry[..] {
                    return Ok((data, digest));
                }
            }
        }
        let data = derive()?;
        let dir = path.parent().expect("a directory per download");
        std::fs::create_dir_all(dir).at(dir)?;
        let digest: [u8; 32] = Sha256::digest(&data).into();
        let mut entry = digest.to_vec();
        entry.extend_from_slice(&data);
        atomic::write(&path, &entry, atomic::Options::REPLACE.mode(0o644))?;
        Ok((data, digest))
    }

    fn cache_path(&self, sha256: &str) -> PathBuf {
        self.cache_dir.join("sha256").join(sha256)
    }

    /// Returns the cached file whose SHA-256 is `expected[0]`, downloading it from `url`
    /// when absent. The download must match every expected hash before it is cached.
    pub fn fetch_verified(
        &self,
        url: &str,
        name: &str,
        expected: &[ExpectedHash],
    ) -> Result<PathBuf> {
        let key = expected.first().expect("at least one expected hash").sha256;
        if let Some(cached) = self.cached(key)? {
            return Ok(cached);
        }
        let cached = self.cache_path(key);

        let incoming = self.cache_dir.join("incoming");
        std::fs::create_dir_all(&incoming).at(&incoming)?;
        std::fs::create_dir_all(cached.parent().expect("has parent")).at(&cached)?;
        let (temp, actual) = with_retries(|| self.download(url, name, &incoming))?;
        for check in expected {
            expect_hash(name, &check.against, check.sha256, &actual)?;
        }
        temp.persist(&cached).map_err(|e| e.error).at(&cached)?;
        Ok(cached)
    }

    fn get(&self, url: &str) -> Result<reqwest::blocking::Response> {
        let response = self
            .client(url)?
            .get(url)
            .send()
            .map_err(|source| Error::Http {
                url: redact(url),
                source: source.without_url(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::HttpStatus {
                url: redact(url),
                status: status.as_u16(),
            });
        }
        Ok(response)
    }

    /// One attempt: streams the body into a temporary file, hashing as it goes.
    fn download(
        &self,
        url: &str,
        name: &str,
        dir: &Path,
    ) -> Result<(tempfile::NamedTempFile, String)> {
        let response = self.get(url)?;
        let bar = self
            .bars
            .add(ProgressBar::new(response.content_length().unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template("{msg:40} {bytes:>10}/{total_bytes:10} {bar:30} {eta}")
                .expect("valid template"),
        );
        bar.set_message(name.to_string());
        let mut temp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
        let mut sink = HashingWriter {
            inner: temp.as_file_mut(),
            hasher: Sha256::new(),
        };
        let result = read_body(url, response, &mut sink, &bar);
        bar.finish_and_clear();
        self.bars.remove(&bar);
        result?;
        let actual = hex::encode(sink.hasher.finalize());
        temp.as_file().sync_all().at(temp.path())?;
        Ok((temp, actual))
    }
}

struct HashingWriter<'a> {
    inner: &'a mut std::fs::File,
    hasher: Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Copies the body to `sink`, turning an early end into `Truncated`.
fn read_body(
    url: &str,
    mut response: reqwest::blocking::Response,
    sink: &mut dyn Write,
    bar: &ProgressBar,
) -> Result<()> {
    let expected = response.content_length();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let truncated = |actual| Error::Truncated {
        url: redact(url),
        expected: expected.unwrap_or(0),
        actual,
    };
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The connection ended before Content-Length bytes arrived.
            Err(_) => return Err(truncated(received)),
        };
        sink.write_all(&buf[..n]).map_err(|source| Error::Io {
            path: PathBuf::from(redact(url)),
            source,
        })?;
        received += n as u64;
        bar.set_position(received);
    }
    match expected {
        Some(len) if len != received => Err(truncated(received)),
        _ => Ok(()),
    }
}

/// Retries transient failures (network errors, truncation, 408/429/5xx) with backoff.
fn with_retries<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let mut backoff = FIRST_BACKOFF;
    for _ in 1..ATTEMPTS {
        match attempt() {
            Err(e) if is_transient(&e) => {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            other => return other,
        }
    }
    attempt()
}

fn is_transient(error: &Error) -> bool {
    match error {
        Error::Http { .. } | Error::Truncated { .. } => true,
        Error::HttpStatus { status, .. } => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}
