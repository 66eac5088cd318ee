//! Stand-ins for the unit tests of both repository formats: a signer without a key (the
//! hermetic tests sign with real keys and check with gpgv, sqv and rpm), a store that
//! stops writing midway, and one that another publisher writes to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::sign::Sign;
use crate::store::Store;
use crate::store::{Held, Version};

/// Signs by wrapping with its name: enough to see what was signed, when, and by whom.
pub struct FakeSigner(pub &'static str);

pub const SIGNER: FakeSigner = FakeSigner("KEY");

impl Sign for FakeSigner {
    fn clearsign(&self, text: &str) -> Result<String> {
        Ok(format!("CLEARSIGNED BY {}\n{text}", self.0))
    }

    fn detached_armored(&self, data: &[u8]) -> Result<String> {
        Ok(format!("DETACHED BY {} {}\n", self.0, sha256_hex(data)))
    }

    fn verify_clearsigned(&self, signed: &str) -> Result<String> {
        signed
            .strip_prefix(&format!("CLEARSIGNED BY {}\n", self.0))
            .map(str::to_string)
            .ok_or_else(|| Error::Signing {
                what: "test".into(),
                reason: "not signed by this key".into(),
            })
    }

    fn verify_detached(&self, data: &[u8], signature: &str) -> Result<()> {
        match signature == self.detached_armored(data)? {
            true => Ok(()),
            false => Err(Error::Signing {
                what: "test".into(),
                reason: "bad signature".into(),
            }),
        }
    }

    /// RPMs stay as they are: their signatures are the hermetic tests' business.
    fn sign_rpm(&self, _package: &mut rpm::Package) -> Result<()> {
        Ok(())
    }

    fn public_key_armored(&self) -> String {
        format!("PUBLIC KEY {}\n", self.0)
    }

    fn public_key_binary(&self) -> Vec<u8> {
        self.public_key_armored().into_bytes()
    }

    fn fingerprint(&self) -> String {
        self.0.to_string()
    }
}

/// Forwards everything but writes to `inner`.
macro_rules! forward_reads {
    () => {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn get_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>> {
            self.inner.get_versioned(key)
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>> {
            self.inner.list(prefix)
        }
        fn lock(&self, lease: Duration) -> Result<Box<dyn Held + '_>> {
            self.inner.lock(lease)
        }
    };
}

/// A store that fails every write after the first `allowed`, as a publisher killed
/// midway stops writing.
pub struct Interrupted<'a> {
    inner: &'a dyn Store,
    allowed: usize,
    writes: AtomicUsize,
}

impl Store for Interrupted<'_> {
    forward_reads!();
    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        self.write()?;
        self.inner.put(key, data)
    }
    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        self.write()?;
        self.inner.put_if(key, data, expected)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.write()?;
        self.inner.delete(key)
    }
}

impl<'a> Interrupted<'a> {
    pub fn after(inner: &'a dyn Store, allowed: usize) -> Self {
        Self {
            inner,
            allowed,
            writes: AtomicUsize::new(0),
        }
    }

    /// Writes asked for so far (the failed ones included).
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    fn write(&self) -> Result<()> {
        match self.writes.fetch_add(1, Ordering::SeqCst) < self.allowed {
            true => Ok(()),
            false => Err(Error::Store {
                url: "test".into(),
                reason: "interrupted".into(),
            }),
        }
    }
}

/// A store where another publisher, ignoring the lock, writes `theirs` to `key` just
/// before this one's first write: the race the conditional commit must still notice.
pub struct Racing<'a> {
    inner: &'a dyn Store,
    key: &'static str,
    theirs: Vec<u8>,
    raced: AtomicUsize,
}

impl<'a> Racing<'a> {
    pub fn new(inner: &'a dyn Store, key: &'static str, theirs: Vec<u8>) -> Self {
        Self {
            inner,
            key,
            theirs,
            raced: AtomicUsize::new(0),
        }
    }
}

impl Racing<'_> {
    fn race(&self) -> Result<()> {
        if self.raced.fetch_add(1, Ordering::SeqCst) == 0 {
            self.inner.put(self.key, &self.theirs)?;
        }
        Ok(())
    }
}

impl Store for Racing<'_> {
    forward_reads!();
    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        self.race()?;
        self.inner.put(key, data)
    }
    fn put_if(&self, key: &str, data: &[u8], expected: Option<&str>) -> Result<()> {
        self.race()?;
        self.inner.put_if(key, data, expected)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)
    }
}
