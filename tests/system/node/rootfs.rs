//! The machines nodes are made from: root filesystems built once with mmdebstrap and
//! cached, foreign architectures under qemu, and what this host must offer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::harness::*;
/// Fails the calling test, with every reason, when this machine cannot run system tests:
/// they need root (namespaces, mounts, chroot), systemd-nspawn, mmdebstrap, iproute2 and a
/// cgroup tree. Asked for and impossible is a failure, never a skip.
pub fn require_system() {
    static MISSING: OnceLock<Vec<String>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        let mut missing = Vec::new();
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            });
        if uid.as_deref() != Some("0") {
            missing.push(format!(
                "root (effective uid {}): run `sudo scripts/test.sh`",
                uid.as_deref().unwrap_or("unknown")
            ));
        }
        for program in ["systemd-nspawn", "mmdebstrap", "ip", "nsenter", "mount"] {
            let found = std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
            });
            if !found {
                missing.push(format!("{program} on PATH (scripts/deps.sh installs it)"));
            }
        }
        // A cgroup tree systemd can run in: v2 (`/sys/fs/cgroup`) or v1's named systemd
        // hierarchy (`/sys/fs/cgroup/systemd`, with or without the v2 `unified` one).
        let cgroup_trees = ["/sys/fs/cgroup", "/sys/fs/cgroup/systemd"];
        if !cgroup_trees
            .iter()
            .any(|t| Path::new(t).join("cgroup.procs").exists())
        {
            missing.push("a mounted cgroup tree (/sys/fs/cgroup)".into());
        }
        // `ip netns` and systemd-nspawn remount / as a slave, which fails with "Invalid
        // argument" where / is no mount point: in a chroot into a plain directory.
        let root_is_mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|info| info.lines().any(|l| l.split(' ').nth(4) == Some("/")));
        if !root_is_mounted {
            missing.push(
                "a root directory that is a mount point (in a chroot, bind-mount its \
                 directory onto itself first, as scripts/fresh-machine.sh does)"
                    .into(),
            );
        }
        missing
    });
    assert!(
        missing.is_empty(),
        "the system tests cannot run on this machine; missing: {}",
        missing.join("; ")
    );
}

/// What a node's root filesystem is made of.
pub struct RootfsSpec {
    /// Debian suite: bookworm (12) or trixie (13).
    pub suite: &'static str,
    /// Debian architecture (amd64, arm64).
    pub arch: &'static str,
    /// Packages on top of `--variant=minbase` and `BOOTABLE`.
    pub include: &'static [&'static str],
    /// Files written into the tree after mmdebstrap: (path, content).
    pub files: &'static [(&'static str, &'static str)],
}

/// systemd as PID 1, in every node.
pub const BOOTABLE: &[&str] = &["systemd", "systemd-sysv", "dbus"];

impl RootfsSpec {
    pub const fn debian(suite: &'static str) -> Self {
        Self {
            suite,
            arch: "amd64",
            include: &["ca-certificates"],
            files: &[],
        }
    }

    fn mmdebstrap_args(&self) -> Vec<String> {
        vec![
            "--variant=minbase".to_string(),
            format!("--arch={}", self.arch),
            format!("--include={}", [BOOTABLE, self.include].concat().join(",")),
            self.suite.to_string(),
        ]
    }

    /// The cached tree, built when missing or made from another package list. Its Debian
    /// sources are removed: the only repository a node sees is ours.
    pub fn cached(&self) -> PathBuf {
        require_system();
        // One lock per tree, so that parallel tests wait for one build instead of racing.
        static LOCKS: Mutex<Option<HashMap<String, Arc<Mutex<()>>>>> = Mutex::new(None);
        let mut key = format!("mmdebstrap {}\n", self.mmdebstrap_args().join(" "));
        for (path, content) in self.files {
            key.push_str(&format!("{path}:\n{content}"));
        }
        let name = format!(
            "node-{}-{}-{}",
            self.suite,
            self.arch,
            &sha256_hex(key.as_bytes())[..8]
        );
        let lock = {
            let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
            locks
                .get_or_insert_with(HashMap::new)
                .entry(name.clone())
                .or_default()
                .clone()
        };
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());

        let base = repo_root().join("target/rootfs");
        let dir = base.join(&name);
        let stamp = dir.join(".nimsforest-rootfs");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) {
            return dir;
        }
        if self.arch != "amd64" {
            enable_foreign_binaries();
        }
        let tmp = base.join(format!(".{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).expect("remove a half-built rootfs");
        }
        std::fs::create_dir_all(&base).expect("mkdir target/rootfs");
        let started = Instant::now();
        let out = Command::new("mmdebstrap")
            .args(self.mmdebstrap_args())
            .arg(&tmp)
            .stdin(Stdio::null())
            .output()
            .expect("mmdebstrap must be installed (scripts/deps.sh)");
        assert!(
            out.status.success(),
            "mmdebstrap {key} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("built rootfs {name} in {:?}", started.elapsed());
        let _ = std::fs::remove_file(tmp.join("etc/apt/sources.list"));
        for entry in std::fs::read_dir(tmp.join("etc/apt/sources.list.d")).expect("sources") {
            std::fs::remove_file(entry.expect("entry").path()).expect("remove a Debian source");
        }
        for (path, content) in self.files {
            let target = tmp.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, content).expect("write a rootfs file");
        }
        // mmdebstrap copies the build host's name; each node gets its own.
        let _ = std::fs::remove_file(tmp.join("etc/hostname"));
        std::fs::write(tmp.join(".nimsforest-rootfs"), &key).expect("stamp");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the outdated rootfs");
        }
        std::fs::rename(&tmp, &dir).expect("rename rootfs");
        dir
    }
}

/// Lets the kernel run arm64 binaries through qemu-user-static (binfmt_misc).
pub fn enable_foreign_binaries() {
    let binfmt = Path::new("/proc/sys/fs/binfmt_misc");
    if !binfmt.join("status").exists() {
        tool_ok(
            "mount",
            &[
                "-t",
                "binfmt_misc",
                "binfmt_misc",
                "/proc/sys/fs/binfmt_misc",
            ],
        );
    }
    if !binfmt.join("qemu-aarch64").exists() {
        tool_ok("update-binfmts", &["--enable", "qemu-aarch64"]);
    }
    // What mmdebstrap runs before a foreign build: fail here, with its reason, instead.
    let (ok, out) = tool("arch-test", &["arm64"]);
    assert!(
        ok,
        "arm64 binaries do not run here (arch-test arm64): {out}"
    );
}
