//! The `ar` container of a `.deb`, written the way `dpkg-deb` writes it: a common
//! `!<arch>` archive with short member names, fixed owner, mode and time; and read back
//! (the apt repository reads each `.deb`'s control member).

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

/// One member of an archive.
#[derive(Debug)]
pub struct Member<'a> {
    pub name: String,
    pub mtime: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub data: &'a [u8],
}

/// The members of a common `ar` archive (a `.deb`); a GNU-style `/` after a name is
/// dropped. The reason a malformed archive is refused names the offset.
pub fn read(bytes: &[u8]) -> Result<Vec<Member<'_>>, String> {
    if !bytes.starts_with(MAGIC) {
        return Err("no ar magic".into());
    }
    let field = |h: &[u8], a: usize, b: usize| {
        std::str::from_utf8(&h[a..b])
            .map(|s| s.trim_end().to_string())
            .map_err(|_| format!("non-ASCII ar header field at offset {a}"))
    };
    let number = |h: &[u8], a: usize, b: usize, radix: u32, pos: usize| {
        let text = field(h, a, b)?;
        u64::from_str_radix(text.trim(), radix)
            .map_err(|_| format!("bad ar header field {text:?} at offset {}", pos + a))
    };
    let mut pos = MAGIC.len();
    let mut members = Vec::new();
    while pos < bytes.len() {
        let h = bytes
            .get(pos..pos + 60)
            .ok_or_else(|| format!("truncated ar header at offset {pos}"))?;
        if &h[58..60] != b"`\n" {
            return Err(format!("bad ar header at offset {pos}"));
        }
        let size = number(h, 48, 58, 10, pos)? as usize;
        let start = pos + 60;
        let end = start
            .checked_add(size)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| format!("member at offset {pos} runs past the end of the file"))?;
        members.push(Member {
            name: field(h, 0, 16)?.trim_end_matches('/').to_string(),
            mtime: number(h, 16, 28, 10, pos)?,
            uid: number(h, 28, 34, 10, pos)? as u32,
            gid: number(h, 34, 40, 10, pos)? as u32,
            mode: number(h, 40, 48, 8, pos)? as u32,
            data: &bytes[start..end],
        });
        pos = end + size % 2;
    }
    Ok(members)
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
        let members = read(&out).unwrap();
        assert_eq!(members[1].name, "odd");
        assert_eq!(members[1].data, b"abc");
        assert_eq!(members[1].mode, 0o100644);
    }

    #[test]
    fn malformed_archives_are_refused() {
        let mut out = Vec::new();
        ArWriter::new(&mut out, 0)
            .unwrap()
            .append("member", b"data")
            .unwrap();
        assert!(read(b"not an archive").is_err());
        assert!(read(&out[..out.len() - 1])
            .unwrap_err()
            .contains("past the end"));
        assert!(read(&out[..20]).unwrap_err().contains("truncated"));
    }

    #[test]
    fn long_names_are_refused() {
        let mut out = Vec::new();
        let mut ar = ArWriter::new(&mut out, 0).unwrap();
        assert!(ar.append("a-very-long-member-name", b"").is_err());
    }
}
