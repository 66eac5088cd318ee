//! Takes the server binary out of an upstream release tarball, refusing anything unsafe,
//! and checks that it is an ELF executable for the arch it claims to be.

use std::io::Read;
use std::path::{Component, Path};

use flate2::read::GzDecoder;

use crate::definition::Arch;
use crate::error::{Error, Result};

/// Upper bound for the binary; upstream's are about 20 MB.
const MAX_BINARY_BYTES: u64 = 512 << 20;

/// Reads `{top}/nats-server` from a `.tar.gz`. Every entry is checked first: an absolute
/// path, a `..` component, a symlink or hard link, or a device anywhere in the archive
/// refuses the whole tarball, as does a missing or non-regular `nats-server`.
pub fn server_binary(tarball: &Path, display_name: &str, top: &str) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::Tarball {
        file: display_name.to_string(),
        reason,
    };
    let file = std::fs::File::open(tarball).map_err(|source| Error::Io {
        path: tarball.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let wanted = format!("{top}/nats-server");
    let mut binary = None;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a gzip'd tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("unreadable entry name: {e}")))?
            .into_owned();
        let shown = path.display().to_string();
        for component in path.components() {
            match component {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(bad(format!("entry {shown:?} escapes with '..'")))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(bad(format!("entry {shown:?} has an absolute path")))
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(bad(format!("entry {shown:?} is a link")));
        }
        if !(kind.is_file() || kind.is_dir()) {
            return Err(bad(format!("entry {shown:?} is not a file or directory")));
        }
        let normalised: Vec<_> = path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let is_wanted = normalised.iter().collect::<std::path::PathBuf>() == Path::new(&wanted);
        if is_wanted {
            if !kind.is_file() {
                return Err(bad(format!("{wanted} is not a regular file")));
            }
            if entry.size() > MAX_BINARY_BYTES {
                return Err(bad(format!(
                    "{wanted} is larger than {MAX_BINARY_BYTES} bytes"
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| bad(format!("reading {wanted}: {e}")))?;
            binary = Some(data);
        }
    }
    binary.ok_or_else(|| bad(format!("no {wanted} in the archive")))
}

/// Refuses a binary whose ELF header does not describe `arch`.
pub fn check_elf(data: &[u8], arch: Arch, display_name: &str) -> Result<()> {
    let want = arch.elf();
    let describe = |machine: u16, is_64bit: bool, little_endian: bool| {
        format!(
            "ELF{} {}-endian e_machine {machine}",
            if is_64bit { 64 } else { 32 },
            if little_endian { "little" } else { "big" }
        )
    };
    let expected = describe(want.machine, want.is_64bit, want.little_endian);
    let wrong = |found: String| Error::WrongElf {
        file: display_name.to_string(),
        arch: arch.to_string(),
        expected: expected.clone(),
        found,
    };
    if data.len() < 20 || &data[..4] != b"\x7fELF" {
        return Err(wrong("no ELF header".into()));
    }
    let is_64bit = match data[4] {
        1 => false,
        2 => true,
        other => return Err(wrong(format!("ELF class {other}"))),
    };
    let little_endian = match data[5] {
        1 => true,
        2 => false,
        other => return Err(wrong(format!("ELF data encoding {other}"))),
    };
    let raw = [data[18], data[19]];
    let machine = if little_endian {
        u16::from_le_bytes(raw)
    } else {
        u16::from_be_bytes(raw)
    };
    if (machine, is_64bit, little_endian) != (want.machine, want.is_64bit, want.little_endian) {
        return Err(wrong(describe(machine, is_64bit, little_endian)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, machine: [u8; 2]) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        h[18..20].copy_from_slice(&machine);
        h
    }

    /// A complete ELF file header of an executable as Go's linker writes one for `arch`:
    /// e_ident (class, data, version 1, System V ABI), ET_EXEC, e_machine, EV_CURRENT, an
    /// entry point, program headers right after the file header, no section headers.
    fn executable_header(arch: Arch) -> Vec<u8> {
        let ident = arch.elf();
        let half = |v: u16| match ident.little_endian {
            true => v.to_le_bytes(),
            false => v.to_be_bytes(),
        };
        let word = |v: u32| match ident.little_endian {
            true => v.to_le_bytes(),
            false => v.to_be_bytes(),
        };
        let mut h = vec![0x7f, b'E', b'L', b'F'];
        h.push(if ident.is_64bit { 2 } else { 1 });
        h.push(if ident.little_endian { 1 } else { 2 });
        h.extend([1, 0]); // EI_VERSION, EI_OSABI (System V)
        h.resize(16, 0);
        h.extend(half(2)); // e_type: ET_EXEC
        h.extend(half(ident.machine));
        h.extend(word(1)); // e_version
        if ident.is_64bit {
            let xword = |v: u64| match ident.little_endian {
                true => v.to_le_bytes(),
                false => v.to_be_bytes(),
            };
            h.extend(xword(0x46_1000)); // e_entry
            h.extend(xword(64)); // e_phoff
            h.extend(xword(0)); // e_shoff
            h.extend(word(0)); // e_flags
            h.extend(half(64)); // e_ehsize
            h.extend(half(56)); // e_phentsize
        } else {
            h.extend(word(0x8_1000)); // e_entry
            h.extend(word(52)); // e_phoff
            h.extend(word(0)); // e_shoff
            h.extend(word(0)); // e_flags
            h.extend(half(52)); // e_ehsize
            h.extend(half(32)); // e_phentsize
        }
        h.extend(half(7)); // e_phnum
        h.extend(half(0)); // e_shentsize
        h.extend(half(0)); // e_shnum
        h.extend(half(0)); // e_shstrndx
        assert_eq!(h.len(), if ident.is_64bit { 64 } else { 52 });
        h
    }

    #[test]
    fn every_arch_accepts_its_own_header_and_no_other() {
        for own in Arch::ALL {
            let header = executable_header(own);
            for arch in Arch::ALL {
                let arm32 = [Arch::Arm7, Arch::Arm6];
                let same = arch == own || (arm32.contains(&arch) && arm32.contains(&own));
                assert_eq!(
                    check_elf(&header, arch, "f").is_ok(),
                    same,
                    "{own} as {arch}"
                );
            }
        }
    }

    #[test]
    fn loong64_and_mips64le_headers() {
        // EM_LOONGARCH (258) and EM_MIPS (8), 64-bit little-endian: what `file` reports as
        // "ELF 64-bit LSB executable, LoongArch" and "... MIPS, MIPS-III".
        let loong = executable_header(Arch::Loong64);
        assert_eq!((loong[4], loong[5], &loong[18..20]), (2, 1, &[2u8, 1][..]));
        check_elf(&loong, Arch::Loong64, "f").unwrap();
        let mips = executable_header(Arch::Mips64le);
        assert_eq!((mips[4], mips[5], &mips[18..20]), (2, 1, &[8u8, 0][..]));
        check_elf(&mips, Arch::Mips64le, "f").unwrap();
        let err = check_elf(&mips, Arch::Loong64, "f")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "expected ELF64 little-endian e_machine 258, found ELF64 little-endian e_machine 8"
            ),
            "{err}"
        );
        // A big-endian MIPS64 binary (Go's mips64) is not a mips64le one.
        let big = elf(2, 2, 8u16.to_be_bytes());
        let err = check_elf(&big, Arch::Mips64le, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("found ELF64 big-endian e_machine 8"), "{err}");
    }

    fn tarball(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let raw = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), gz.finish().unwrap()).unwrap();
        file
    }

    fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        // set_path refuses '..' and absolute paths, which these tests need: write raw bytes.
        let name_field = &mut h.as_old_mut().name;
        name_field[..name.len()].copy_from_slice(name.as_bytes());
        if kind.is_symlink() {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn takes_only_the_binary() {
        let t = tarball(|b| {
            add(b, "top/", tar::EntryType::Directory, b"");
            add(b, "top/LICENSE", tar::EntryType::Regular, b"license");
            add(b, "top/nats-server", tar::EntryType::Regular, b"binary");
        });
        assert_eq!(
            server_binary(t.path(), "t.tar.gz", "top").unwrap(),
            b"binary"
        );
    }

    #[test]
    fn refuses_unsafe_or_incomplete_archives() {
        let cases: [(&str, tar::EntryType, &str); 5] = [
            ("top/../../etc/x", tar::EntryType::Regular, "'..'"),
            ("/etc/x", tar::EntryType::Regular, "absolute"),
            ("top/link", tar::EntryType::Symlink, "link"),
            ("top/hard", tar::EntryType::Link, "link"),
            (
                "top/README.md",
                tar::EntryType::Regular,
                "no top/nats-server",
            ),
        ];
        for (name, kind, expect) in cases {
            let t = tarball(|b| add(b, name, kind, b""));
            let err = server_binary(t.path(), "t.tar.gz", "top")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("t.tar.gz: ") && err.contains(expect),
                "{name}: {err}"
            );
        }
        let not_gzip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_gzip.path(), b"<html>not found</html>").unwrap();
        assert!(server_binary(not_gzip.path(), "t", "top").is_err());
    }
}
