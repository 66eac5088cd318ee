//! The `ar` container of a `.deb`, written the way `dpkg-deb` writes it: a common
//! `!<arch>` archive with short member names, fixed owner, mode and time.

use std::io::{self, Write};

const MAGIC: &[u8; 8] = b"!<arch>\n";

/// Writes members in the order given. Every member gets uid/gid 0, mode `100644` and
/// the same mtime, so the container carries nothing of the machine that built it.
pub struct ArWriter<'w> {
    out: &'w mut dyn Write,
    mtime: u64,
}

impl<'w> ArWriter<'w> {
    pub fn new(out: &'w mut dyn Write, mtime: u64) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(Self { out, mtime })
    }

    pub fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        // dpkg-deb's own members fit the 16-byte name field without the GNU `/` suffix.
        if name.len() > 16 || name.contains('/') || name.contains(' ') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ar member name {name:?} does not fit a 16-byte ar name"),
            ));
        }
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8o}{:<10}`\n",
            name,
            self.mtime,
            0,
            0,
            0o100644,
            data.len()
        );
        debug_assert_eq!(header.len(), 60);
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(data)?;
        if data.len() % 2 == 1 {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// One member read back from an archive (tests and self-checks).
#[cfg(test)]
#[derive(Debug)]
pub struct Member<'a> {
    pub name: String,
    pub mtime: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub data: &'a [u8],
}

/// Parses an archive written by `ArWriter`; panics on anything malformed.
#[cfg(test)]
pub fn read(bytes: &[u8]) -> Vec<Member<'_>> {
    assert_eq!(&bytes[..8], MAGIC, "ar magic");
    let field = |h: &[u8], a: usize, b: usize| {
        std::str::from_utf8(&h[a..b])
            .unwrap()
            .trim_end()
            .to_string()
    };
    let mut pos = 8;
    let mut members = Vec::new();
    while pos < bytes.len() {
        let h = &bytes[pos..pos + 60];
        assert_eq!(&h[58..60], b"`\n", "ar header terminator");
        let size: usize = field(h, 48, 58).parse().unwrap();
        let start = pos + 60;
        members.push(Member {
            name: field(h, 0, 16),
            mtime: field(h, 16, 28).parse().unwrap(),
            uid: field(h, 28, 34).parse().unwrap(),
            gid: field(h, 34, 40).parse().unwrap(),
            mode: u32::from_str_radix(&field(h, 40, 48), 8).unwrap(),
            data: &bytes[start..start + size],
        });
        pos = start + size + size % 2;
    }
    assert_eq!(pos, bytes.len(), "ar archive ends on a member boundary");
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_fixed_width_and_odd_members_padded() {
        let mut out = Vec::new();
        let mut ar = ArWriter::new(&mut out, 1_760_155_140).unwrap();
        ar.append("debian-binary", b"2.0\n").unwrap();
        ar.append("odd", b"abc").unwrap();
        assert_eq!(
            &out[8..68],
            b"debian-binary   1760155140  0     0     100644  4         `\n"
        );
        assert_eq!(out.len(), 8 + 60 + 4 + 60 + 3 + 1);
        assert_eq!(*out.last().unwrap(), b'\n');
        let members = read(&out);
        assert_eq!(members[1].name, "odd");
        assert_eq!(members[1].data, b"abc");
        assert_eq!(members[1].mode, 0o100644);
    }

    #[test]
    fn long_names_are_refused() {
        let mut out = Vec::new();
        let mut ar = ArWriter::new(&mut out, 0).unwrap();
        assert!(ar.append("a-very-long-member-name", b"").is_err());
    }
}
