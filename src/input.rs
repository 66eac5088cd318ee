//! Files named on the command line (keys, certificates, password files, manifests): only a
//! regular file of a bounded size is read, so that a directory, a device (`/dev/zero`) or
//! a FIFO is refused at once instead of failing late, blocking or filling memory. Errors
//! name the file and what is wrong with it, never what it holds: it may be a secret.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Larger than any key, certificate bundle, password or manifest the tool reads.
pub const MAX_SIZE: u64 = 4 << 20;

/// The error for a file the tool was given and cannot use.
pub fn unusable(what: &str, path: &Path, reason: impl Into<String>) -> Error {
    Error::Input {
        what: what.to_string(),
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The bytes of `path`, a regular file (or a link to one) of at most [`MAX_SIZE`] bytes.
pub fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    // stat before open: opening a FIFO would block until someone writes to it.
    let meta = std::fs::metadata(path).at(path)?;
    if meta.is_dir() {
        return Err(unusable(what, path, "is a directory, not a file"));
    }
    if !meta.is_file() {
        return Err(unusable(
            what,
            path,
            "is not a regular file (a device, FIFO or socket)",
        ));
    }
    let too_large = || unusable(what, path, format!("is larger than {MAX_SIZE} bytes"));
    if meta.len() > MAX_SIZE {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .at(path)?
        .take(MAX_SIZE + 1)
        .read_to_end(&mut data)
        .at(path)?;
    if data.len() as u64 > MAX_SIZE {
        return Err(too_large());
    }
    Ok(data)
}

/// [`read`], as UTF-8 text.
pub fn read_text(what: &str, path: &Path) -> Result<String> {
    String::from_utf8(read(what, path)?).map_err(|e| {
        unusable(
            what,
            path,
            format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// [`read_text`], or `None` when the file does not exist.
pub fn read_text_optional(what: &str, path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_text(what, path).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "secret-line\n").unwrap();
        assert_eq!(read_text("key", &file).unwrap(), "secret-line\n");

        let e = read("key", dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let e = read("key", Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_SIZE + 1)
            .unwrap();
        let e = read("key", &big).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        assert_eq!(e.exit_code(), 2);

        std::fs::write(&file, b"secret\xff").unwrap();
        let e = read_text("key", &file).unwrap_err().to_string();
        assert!(e.contains("not UTF-8") && !e.contains("secret"), "{e}");
        assert_eq!(
            read_text_optional("key", &dir.path().join("none")).unwrap(),
            None
        );
    }
}
