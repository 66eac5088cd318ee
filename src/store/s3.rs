//! A repository in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, GCS's
//! interoperability API, ...), through the `object_store` crate, which signs requests and
//! retries failed ones with backoff.
//!
//! `s3://BUCKET/PREFIX`: credentials, region and endpoint come from the standard AWS
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` for a non-AWS service, `AWS_ALLOW_HTTP=true` for a
//! plain-http one), so that no secret is ever on a command line.
//!
//! One publisher at a time, through S3's conditional writes (`If-None-Match: *` creates,
//! `If-Match: ETAG` replaces one version only), which AWS S3, R2 and MinIO enforce: the
//! lock is an object created only if absent, renewed by its holder while it works; one
//! not renewed for its lease (its holder was killed) is taken over, again conditionally.
//! A server that ignores these headers (`rclone serve s3`) cannot keep two publishers
//! apart.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::{Held, Store, Version, LOCK_KEY};
use crate::error::{Error, Result};

pub struct S3Store {
    bucket: String,
    prefix: String,
    client: Arc<dyn ObjectStore>,
    /// object_store is async; the tool is not: one small runtime drives its requests.
    runtime: tokio::runtime::Runtime,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl S3Store {
    /// `rest` is `BUCKET[/PREFIX]` (from `s3://BUCKET/PREFIX`).
    pub fn open(rest: &str) -> Result<Self> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        let bad = |reason: String| Error::Usage {
            what: format!("s3://{rest}"),
            reason,
        };
        if bucket.is_empty() {
            return Err(bad("names no bucket (s3://BUCKET/PREFIX)".into()));
        }
        if rest.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains blanks or control characters".into()));
        }
        let client = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let runtime = runtime().map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
            client: Arc::new(client),
            runtime,
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        ObjectPath::from(super::join(&self.prefix, key))
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, super::join(&self.prefix, key))
    }

    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> Error {
        Error::Store {
            url: self.url(key),
            reason: format!("{what}: {e}"),
        }
    }

    fn contended(&self, key: &str, reason: &str) -> Error {
        Error::Contended {
            location: self.url(key),
            reason: reason.to_string(),
        }
    }
}

/// A conditional PUT: `None` creates only, `Some(etag)` replaces only that version.
async fn put_conditional(
    client: &dyn ObjectStore,
    path: &ObjectPath,
    data: &[u8],
    expected: Option<&str>,
) -> object_store::Result<Option<String>> {
    let mode = match expected {
        None => PutMode::Create,
        Some(etag) => PutMode::Update(UpdateVersion {
            e_tag: Some(etag.to_string()),
            version: None,
        }),
    };
    let options = PutOptions {
        mode,
        ..PutOptions::default()
    };
    let result = client
        .put_opts(path, PutPayload::from(data.to_vec()), options)
        .await?;
    Ok(result.e_tag)
}

fn is_conflict(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
}

impl Store for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_versioned(key)?.map(|(data, _)| data))
    }

    fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>> {
        let path = self.path(key);
        self.runtime.block_on(async {
            match self.client.get(&path).await {
                Ok(found) => {
                    let etag = found.meta.e_tag.clone().unwrap_or_default();
                    match found.bytes().await {
                        Ok(bytes) => Ok(Some((bytes.to_vec(), etag))),
                        Err(e) => Err(self.failed("GET", key, e)),
                    }
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.failed("GET", key, e)),
            }
        })
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = self.path(key);
        let payload = PutPayload::from(data.to_vec());
        self.runtime
            .block_on(self.client.put(&path, payload))
            .map(|_| ())
            .map_err(|e| self.failed("PUT", key, e))
    }

    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        let path = self.path(key);
        match self
            .runtime
            .block_on(put_conditional(self.client.as_ref(), &path, data, expected))
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Err(self.contended(
                key,
                "was changed by another publisher while this run worked; nothing of this run \
                 is visible to clients: run it again",
            )),
            Err(e) => Err(self.failed("PUT", key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match self.runtime.block_on(self.client.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("DELETE", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // object_store lists by path segments: list the directory part, filter the rest.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let base = super::join(&self.prefix, dir);
        let listing = self.runtime.block_on(async {
            let path = (!base.is_empty()).then(|| ObjectPath::from(base.as_str()));
            self.client
                .list(path.as_ref())
                .try_collect::<Vec<_>>()
                .await
        });
        let strip = match self.prefix.as_str() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let mut keys: Vec<String> = listing
            .map_err(|e| self.failed("LIST", prefix, e))?
            .into_iter()
            .filter_map(|meta| {
                let key = meta.location.to_string();
                key.strip_prefix(&strip).map(str::to_string)
            })
            .filter(|key| key.starts_with(prefix) && key != LOCK_KEY)
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn lock(&self, lease: Duration) -> Result<Box<dyn Held + '_>> {
        let holder = hex::encode(rand::random::<[u8; 8]>());
        let path = self.path(LOCK_KEY);
        let body = LockRecord::now(&holder, lease).text();
        let created = self.runtime.block_on(put_conditional(
            self.client.as_ref(),
            &path,
            body.as_bytes(),
            None,
        ));
        let etag = match created {
            Ok(etag) => etag,
            Err(e) if is_conflict(&e) => self.take_over_stale(&holder, lease)?,
            Err(e) => return Err(self.failed("PUT", LOCK_KEY, e)),
        };
        Ok(Box::new(S3Lock::start(self, holder, etag, lease)))
    }
}

impl S3Store {
    /// The lock exists: taken over when its holder stopped renewing it for its lease,
    /// refused otherwise.
    fn take_over_stale(&self, holder: &str, lease: Duration) -> Result<Option<String>> {
        let Some((data, etag)) = self.get_versioned(LOCK_KEY)? else {
            return Err(self.contended(
                LOCK_KEY,
                "another publisher took and released the lock meanwhile: run again",
            ));
        };
        let record = LockRecord::parse(&String::from_utf8_lossy(&data));
        let lease_secs = record.lease.max(lease.as_secs());
        let age = unix_now().saturating_sub(record.renewed);
        if age <= lease_secs {
            return Err(self.contended(
                LOCK_KEY,
                &format!(
                    "another publisher is updating this repository (lock renewed {age} s ago); \
                     run again once it is done (a lock its publisher stopped renewing expires \
                     {lease_secs} s after its last renewal)"
                ),
            ));
        }
        let body = LockRecord::now(holder, lease).text();
        let path = self.path(LOCK_KEY);
        match self.runtime.block_on(put_conditional(
            self.client.as_ref(),
            &path,
            body.as_bytes(),
            Some(&etag),
        )) {
            Ok(etag) => Ok(etag),
            Err(e) if is_conflict(&e) => Err(self.contended(
                LOCK_KEY,
                "another publisher took over the expired lock first: run again once it is done",
            )),
            Err(e) => Err(self.failed("PUT", LOCK_KEY, e)),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The lock object's text: who holds it, when it was last renewed, for how long.
struct LockRecord {
    holder: String,
    renewed: u64,
    lease: u64,
}

impl LockRecord {
    fn now(holder: &str, lease: Duration) -> Self {
        Self {
            holder: holder.to_string(),
            renewed: unix_now(),
            lease: lease.as_secs(),
        }
    }

    fn text(&self) -> String {
        format!(
            "nimsforest-pkg publication lock\nholder: {}\nrenewed: {}\nlease: {}\n",
            self.holder, self.renewed, self.lease
        )
    }

    /// Unreadable fields read as "renewed at 0", which is stale: a lock nobody can read
    /// must not keep every publisher out for ever.
    fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        Self {
            holder: field("holder"),
            renewed: field("renewed").parse().unwrap_or(0),
            lease: field("lease").parse().unwrap_or(0),
        }
    }
}

/// The lock held: a thread renews it every third of its lease, conditionally on the
/// version it wrote last; losing it (taken over after a stall) shows in `check`.
struct S3Lock<'a> {
    store: &'a S3Store,
    holder: String,
    state: Arc<Mutex<LockState>>,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

struct LockState {
    etag: Option<String>,
    lost: Option<String>,
}

impl<'a> S3Lock<'a> {
    fn start(store: &'a S3Store, holder: String, etag: Option<String>, lease: Duration) -> Self {
        let state = Arc::new(Mutex::new(LockState { etag, lost: None }));
        let (stop, stopped) = mpsc::channel::<()>();
        let client = Arc::clone(&store.client);
        let path = store.path(LOCK_KEY);
        let shared = Arc::clone(&state);
        let who = holder.clone();
        let renewer = std::thread::spawn(move || {
            let Ok(runtime) = runtime() else { return };
            let period = (lease / 3).max(Duration::from_millis(200));
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                let etag = shared.lock().map(|s| s.etag.clone()).unwrap_or(None);
                let body = LockRecord::now(&who, lease).text();
                let renewed = runtime.block_on(put_conditional(
                    client.as_ref(),
                    &path,
                    body.as_bytes(),
                    Some(etag.as_deref().unwrap_or("*")),
                ));
                let Ok(mut state) = shared.lock() else { return };
                match renewed {
                    Ok(etag) => state.etag = etag,
                    Err(e) if is_conflict(&e) => {
                        state.lost = Some("another publisher took the lock over".into());
                        return;
                    }
                    // Retried at the next period; a lease outlasts a few failures.
                    Err(_) => {}
                }
            }
        });
        Self {
            store,
            holder,
            state,
            stop: Some(stop),
            renewer: Some(renewer),
        }
    }
}

impl Held for S3Lock<'_> {
    fn check(&self) -> Result<()> {
        let lost = self.state.lock().ok().and_then(|s| s.lost.clone());
        match lost {
            None => Ok(()),
            Some(reason) => Err(self.store.contended(
                LOCK_KEY,
                &format!(
                    "{reason} while this run worked; nothing of this run is visible to clients"
                ),
            )),
        }
    }
}

impl Drop for S3Lock<'_> {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
        // Released only if still ours: a lock taken over belongs to its new holder.
        if let Ok(Some((data, _))) = self.store.get_versioned(LOCK_KEY) {
            if LockRecord::parse(&String::from_utf8_lossy(&data)).holder == self.holder {
                let _ = self.store.delete(LOCK_KEY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_records_round_trip_and_unreadable_ones_are_stale() {
        let record = LockRecord::now("abc", Duration::from_secs(60));
        let read = LockRecord::parse(&record.text());
        assert_eq!(
            (read.holder.as_str(), read.renewed, read.lease),
            ("abc", record.renewed, 60)
        );
        assert_eq!(LockRecord::parse("garbage").renewed, 0);
    }
}
