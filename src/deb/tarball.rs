//! The two tar members of a `.deb`, written as GNU tar (what `dpkg-deb` produces), and
//! their compression.

use std::fmt;
use std::io;

use crate::compress::{self, LargeFile, Resources};
use crate::error::{IoContext, Result};

/// GNU tar's default record size: archives are padded to a multiple of it.
const RECORD: usize = 10_240;

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Dir,
    File(&'a [u8]),
    Symlink(&'a str),
}

/// An in-memory GNU tar archive whose entries all belong to root:root and share one mtime.
pub struct TarWriter {
    buf: Vec<u8>,
    mtime: u64,
}

impl TarWriter {
    pub fn new(mtime: u64) -> Self {
        Self {
            buf: Vec::new(),
            mtime,
        }
    }

    /// Appends `name` (already in archive form: `./`, `./etc/`, `./etc/nats.conf`).
    /// Names or link targets over 100 bytes get a GNU `././@LongLink` record first.
    pub fn append(&mut self, name: &str, kind: Kind<'_>, mode: u32) -> io::Result<()> {
        let (entry_type, size, data, link) = match kind {
            Kind::Dir => (tar::EntryType::Directory, 0, &[][..], None),
            Kind::File(data) => (tar::EntryType::Regular, data.len() as u64, data, None),
            Kind::Symlink(target) => (tar::EntryType::Symlink, 0, &[][..], Some(target)),
        };
        if name.len() > 100 {
            self.long_link(tar::EntryType::GNULongName, name)?;
        }
        if let Some(target) = link.filter(|t| t.len() > 100) {
            self.long_link(tar::EntryType::GNULongLink, target)?;
        }
        let mut header = self.header(entry_type, mode, size);
        let old = header.as_old_mut();
        copy_truncated(&mut old.name, name);
        if let Some(target) = link {
            copy_truncated(&mut old.linkname, target);
        }
        header.set_cksum();
        self.buf.extend_from_slice(header.as_bytes());
        self.data(data);
        Ok(())
    }

    /// Ends the archive with two zero blocks and pads it to a whole record, as GNU tar does.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&[0; 1024]);
        let padded = self.buf.len().div_ceil(RECORD) * RECORD;
        self.buf.resize(padded, 0);
        self.buf
    }

    fn header(&self, entry_type: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry_type);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(self.mtime);
        // Infallible: both names are short ASCII.
        let _ = header.set_username("root");
        let _ = header.set_groupname("root");
        header
    }

    fn long_link(&mut self, entry_type: tar::EntryType, value: &str) -> io::Result<()> {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        let mut header = self.header(entry_type, 0o644, data.len() as u64);
        header.set_mtime(0);
        copy_truncated(&mut header.as_old_mut().name, "././@LongLink");
        header.set_cksum();
        self.buf.extend_from_slice(header.as_bytes());
        self.data(&data);
        Ok(())
    }

    fn data(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let padded = self.buf.len().div_ceil(512) * 512;
        self.buf.resize(padded, 0);
    }
}

fn copy_truncated(field: &mut [u8], value: &str) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value.as_bytes()[..n]);
}

/// How the tar members are compressed (`dpkg-deb -Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// One xz stream of independent blocks (`xz -6 -T`).
    #[default]
    Xz,
    /// One zstd frame (`zstd -19`). Needs dpkg 1.21.18 or later (Debian 12, Ubuntu 18.04).
    Zstd,
    /// gzip -9 without a name or time in the header.
    Gzip,
}

impl Compression {
    /// The member name suffix: `data.tar.{ext}`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Zstd => "zst",
            Compression::Gzip => "gz",
        }
    }

    /// Compresses a member. xz: blocks of their own for each of `large_files` (found in
    /// the member), taken from the block cache, and blocks for the bytes between (see
    /// `compress::xz_reusing`); its bytes depend neither on the thread count nor on the
    /// cache. zstd and gzip: one frame, one member.
    pub fn compress(
        self,
        data: &[u8],
        large_files: &[LargeFile],
        resources: &Resources,
    ) -> Result<Vec<u8>> {
        match self {
            Compression::Xz => {
                let placed = compress::place(data, large_files);
                compress::xz_reusing(data, &placed, compress::XZ_BLOCK, resources)
            }
            Compression::Zstd => compress::zstd(data, compress::ZSTD_LEVEL).at("a .deb member"),
            Compression::Gzip => compress::gzip(data, compress::GZIP_BEST).at("a .deb member"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                let h = e.header();
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.gid().unwrap(), 0);
                assert_eq!(h.username().unwrap(), Some("root"));
                assert_eq!(h.groupname().unwrap(), Some("root"));
                assert_eq!(h.mtime().unwrap(), 7);
                assert!(h.as_gnu().is_some(), "GNU header");
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                (name, h.entry_type(), h.mode().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn names_keep_their_dot_slash_and_long_names_survive() {
        let long = format!("./usr/share/{}/file", "x".repeat(120));
        let mut w = TarWriter::new(7);
        w.append("./", Kind::Dir, 0o755).unwrap();
        w.append("./etc/", Kind::Dir, 0o755).unwrap();
        w.append("./etc/a", Kind::File(b"hello"), 0o644).unwrap();
        w.append("./etc/l", Kind::Symlink("a"), 0o777).unwrap();
        w.append(&long, Kind::File(b""), 0o755).unwrap();
        let bytes = w.finish();
        assert_eq!(bytes.len() % RECORD, 0);
        let got = entries(&bytes);
        let names: Vec<_> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["./", "./etc/", "./etc/a", "./etc/l", long.as_str()]);
        assert_eq!(got[0].1, tar::EntryType::Directory);
        assert_eq!(got[2].3, b"hello");
        assert_eq!(got[2].2, 0o644);
        assert_eq!(got[3].1, tar::EntryType::Symlink);
        assert_eq!(got[4].2, 0o755);
    }
}
