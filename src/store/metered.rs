//! Counts what a publication costs: requests and bytes, per kind of request.

use std::sync::Mutex;

use std::time::Duration;

use super::{Held, Store, Version};
use crate::error::Result;

/// Requests and bytes so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    pub gets: u64,
    pub puts: u64,
    pub deletes: u64,
    pub lists: u64,
    /// Keys the listings returned (each costs a few hundred bytes of XML on S3).
    pub listed: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
}

impl Traffic {
    pub fn requests(&self) -> u64 {
        self.gets + self.puts + self.deletes + self.lists
    }
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests ({} GET, {} PUT, {} DELETE, {} LIST of {} keys), {} bytes up, {} bytes down",
            self.requests(),
            self.gets,
            self.puts,
            self.deletes,
            self.lists,
            self.listed,
            self.bytes_up,
            self.bytes_down
        )
    }
}

/// A store that counts the traffic through it, and optionally reports each write.
pub struct Metered<'a> {
    inner: &'a dyn Store,
    traffic: Mutex<Traffic>,
    /// Prints `put KEY` / `delete KEY` on stderr as each write completes (`--verbose`).
    pub verbose: bool,
}

impl<'a> Metered<'a> {
    pub fn new(inner: &'a dyn Store) -> Self {
        Self {
            inner,
            traffic: Mutex::default(),
            verbose: false,
        }
    }

    pub fn traffic(&self) -> Traffic {
        self.traffic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn count(&self, add: impl FnOnce(&mut Traffic)) {
        add(&mut self.traffic.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn wrote(&self, key: &str, data: &[u8]) {
        self.count(|t| {
            t.puts += 1;
            t.bytes_up += data.len() as u64;
        });
        if self.verbose {
            eprintln!("put {key}");
        }
    }
}

impl Store for Metered<'_> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let found = self.inner.get(key)?;
        let bytes = found.as_ref().map_or(0, |d| d.len() as u64);
        self.count(|t| {
            t.gets += 1;
            t.bytes_down += bytes;
        });
        Ok(found)
    }

    fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>> {
        let found = self.inner.get_versioned(key)?;
        let bytes = found.as_ref().map_or(0, |(d, _)| d.len() as u64);
        self.count(|t| {
            t.gets += 1;
            t.bytes_down += bytes;
        });
        Ok(found)
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        self.inner.put(key, data)?;
        self.wrote(key, data);
        Ok(())
    }

    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        self.inner.put_if(key, data, expected)?;
        self.wrote(key, data);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)?;
        self.count(|t| t.deletes += 1);
        if self.verbose {
            eprintln!("delete {key}");
        }
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self.inner.list(prefix)?;
        self.count(|t| {
            t.lists += 1;
            t.listed += keys.len() as u64;
        });
        Ok(keys)
    }

    /// Not counted: the lock is the store's own traffic, not the publication's.
    fn lock(&self, lease: Duration) -> Result<Box<dyn Held + '_>> {
        self.inner.lock(lease)
    }
}
