//! A repository in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, GCS's
//! interoperability API, ...), through the `object_store` crate, which signs requests and
//! retries failed ones with backoff.
//!
//! `s3://BUCKET/PREFIX`: credentials, region and endpoint come from the standard AWS
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` for a non-AWS service, `AWS_ALLOW_HTTP=true` for a
//! plain-http one), so that no secret is ever on a command line.

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use super::Store;
use crate::error::{Error, Result};

pub struct S3Store {
    bucket: String,
    prefix: String,
    client: Box<dyn ObjectStore>,
    /// object_store is async; the tool is not: one small runtime drives its requests.
    runtime: tokio::runtime::Runtime,
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
        let client = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
            client: Box::new(client),
            runtime,
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        ObjectPath::from(super::join(&self.prefix, key))
    }

    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> Error {
        Error::Store {
            url: format!("s3://{}/{}", self.bucket, super::join(&self.prefix, key)),
            reason: format!("{what}: {e}"),
        }
    }
}

impl Store for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        self.runtime.block_on(async {
            match self.client.get(&path).await {
                Ok(found) => match found.bytes().await {
                    Ok(bytes) => Ok(Some(bytes.to_vec())),
                    Err(e) => Err(self.failed("GET", key, e)),
                },
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
            .filter(|key| key.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }
}
