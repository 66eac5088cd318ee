//! Test nodes: Debian root filesystems built with mmdebstrap (cached under target/rootfs),
//! copied per test and booted with `systemd-nspawn --boot`, so that systemd is PID 1, or
//! entered as a plain chroot. Every node has a network namespace of its own with an address
//! on a bridge the test creates, as a VM has on its private network; the test process
//! reaches the nodes' client ports there. Everything is torn down on drop, also when the
//! test fails.

mod network;
mod rootfs;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

pub use network::*;
pub use rootfs::*;

/// A node: a private copy of a cached rootfs in its own network namespace, either booted
/// (systemd as PID 1) or entered as a chroot (no init running at all).
pub struct Node {
    pub name: String,
    /// The node's address on the test network.
    pub address: String,
    netns: String,
    /// upper/ and work/ of the overlay, and root/, where it is mounted.
    layers: tempfile::TempDir,
    booted: Option<Booted>,
    /// What `chroot` mounted inside (unmounted before boot and on drop).
    mounts: Vec<PathBuf>,
    servers: Vec<MirrorServer>,
    /// `systemctl is-system-running` once start-up finished.
    pub boot_state: String,
    /// A boot whose start-up fails (a node that must not get in) is not a test failure.
    pub degraded_is_expected: bool,
}

struct Booted {
    nspawn: Child,
    /// The container's PID 1 (systemd), as the host sees it.
    init: u32,
    console: PathBuf,
    /// The container's own cgroups (see `own_cgroups`), removed when it is gone.
    cgroups: Vec<PathBuf>,
}

impl Node {
    /// A private view of `rootfs` named `name` (also its host name) on `network`, not
    /// started: an overlay whose upper layer takes every write, so the cached tree stays
    /// as it is and a node costs no copy.
    pub fn create(rootfs: &Path, network: &mut Network, name: &str) -> Self {
        let layers = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempdir_in(rootfs.parent().expect("target/rootfs"))
            .expect("tempdir");
        for dir in ["upper", "work", "root"] {
            std::fs::create_dir(layers.path().join(dir)).expect("mkdir");
        }
        let layer = |dir: &str| layers.path().join(dir).to_str().expect("utf-8").to_string();
        tool_ok(
            "mount",
            &[
                "-t",
                "overlay",
                "overlay",
                "-o",
                &format!(
                    "lowerdir={},upperdir={},workdir={}",
                    rootfs.display(),
                    layer("upper"),
                    layer("work")
                ),
                &layer("root"),
            ],
        );
        let (netns, address) = network.add_namespace();
        let node = Self {
            name: name.to_string(),
            address,
            netns,
            layers,
            booted: None,
            mounts: Vec::new(),
            servers: Vec::new(),
            boot_state: String::new(),
            degraded_is_expected: false,
        };
        node.write("/etc/hostname", format!("{name}\n").as_bytes());
        node
    }

    /// Boots a copy of `rootfs`, waiting until systemd has finished starting up.
    pub fn boot(rootfs: &Path, network: &mut Network, name: &str) -> Self {
        let mut node = Self::create(rootfs, network, name);
        node.start();
        node
    }

    /// A copy of `rootfs` used as a chroot: nothing runs in it but the commands given.
    pub fn chroot(rootfs: &Path, network: &mut Network, name: &str) -> Self {
        let mut node = Self::create(rootfs, network, name);
        // apt and dpkg need /proc, and a pseudo-terminal for dpkg's log.
        for (inside, args) in [
            ("/proc", &["-t", "proc", "proc"][..]),
            ("/dev/pts", &["--bind", "/dev/pts"][..]),
        ] {
            let target = node.host_path(inside);
            let mut all = args.to_vec();
            all.push(target.to_str().expect("utf-8"));
            tool_ok("mount", &all);
            node.mounts.push(target);
        }
        node
    }

    /// Boots this node's tree (after `chroot`): what a VM built from an image does.
    pub fn start(&mut self) {
        assert!(self.booted.is_none(), "{} is already booted", self.name);
        require_user_namespaces();
        self.unmount_chroot_mounts();
        let console = self.layers.path().join("console.log");
        let log = std::fs::File::create(&console).expect("console log");
        let cgroups = own_cgroups(&self.netns);
        let paths: Vec<&str> = cgroups.iter().map(|d| d.to_str().expect("utf-8")).collect();
        let nspawn = Command::new("sh")
            .args([
                "-c",
                r#"for d in $NIMSFOREST_CGROUPS; do echo $$ > "$d/cgroup.procs"; done; exec "$@""#,
                "sh",
                "systemd-nspawn",
            ])
            .env("NIMSFOREST_CGROUPS", paths.join(" "))
            .arg("-D")
            .arg(self.root())
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--console=pipe",
                &format!("--machine={}", self.name),
                &format!("--network-namespace-path=/run/netns/{}", self.netns),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn must be installed (scripts/deps.sh)");
        let nspawn_pid = nspawn.id();
        self.booted = Some(Booted {
            nspawn,
            init: 0,
            console,
            cgroups,
        });
        // PID 1 of the container is nspawn's child.
        let init = wait_for(Duration::from_secs(60), || {
            let children =
                std::fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children"))
                    .ok()?;
            let pid: u32 = children.split_whitespace().next()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "systemd").then_some(pid)
        })
        .unwrap_or_else(|| panic!("{}: systemd did not start:\n{}", self.name, self.console()));
        self.booted.as_mut().expect("booted").init = init;
        // `--wait` blocks until start-up is over; before systemd listens it fails at once.
        let state = wait_for(Duration::from_secs(300), || {
            // Bounded: `--wait` never returns while a start-up job hangs.
            let (_, out) = self.run(&["timeout", "20", "systemctl", "is-system-running", "--wait"]);
            let state = out.trim().to_string();
            ["running", "degraded"]
                .contains(&state.as_str())
                .then_some(state)
        })
        .unwrap_or_else(|| panic!("{}: boot did not finish:\n{}", self.name, self.console()));
        self.boot_state = state.clone();
        if state != "running" && !self.degraded_is_expected {
            let failed = self.run(&["systemctl", "--failed", "--no-pager"]).1;
            let journal = self
                .run(&["journalctl", "-b", "-p", "warning", "--no-pager"])
                .1;
            panic!(
                "{}: the system booted {state}:\n{failed}\n{journal}",
                self.name
            );
        }
    }

    /// The container's console output so far (for failure messages).
    pub fn console(&self) -> String {
        self.booted
            .as_ref()
            .and_then(|b| std::fs::read_to_string(&b.console).ok())
            .unwrap_or_default()
    }

    /// The node's network namespace, for a server that should listen on its loopback.
    pub fn netns_path(&self) -> String {
        format!("/run/netns/{}", self.netns)
    }

    /// Cuts the node's network off from `peers` (blackhole routes in its namespace: what
    /// it sends them is dropped, as on a broken link), or (`reach`) joins it again. Its
    /// processes run on, and the host still reaches it.
    pub fn set_reachable(&self, peers: &[&str], reach: bool) {
        let verb = if reach { "del" } else { "add" };
        for peer in peers {
            // `ip -n NS route add|del blackhole PEER/32`, as one line (net-tools' `route`
            // is not a program of these tests).
            let line = format!("-n {} route {verb} blackhole {peer}/32", self.netns);
            tool_ok("ip", &line.split(' ').collect::<Vec<_>>());
        }
    }

    /// Where a path inside the node is on the host.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    /// The node's root directory on the host.
    pub fn root(&self) -> PathBuf {
        self.layers.path().join("root")
    }

    /// Runs a command inside (all of the container's namespaces, or the chroot in the
    /// node's network namespace), with a clean environment; returns (success, stdout +
    /// stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new("nsenter");
        match &self.booted {
            Some(b) if b.init != 0 => {
                // --root and --wd: the container's root, as its init sees it. Entering
                // the mount namespace alone puts us at the namespace's first root, which
                // is this machine's / when the tests run in a chroot (nspawn moves the
                // node's tree onto the chroot's /, not onto that one).
                cmd.args(["-t", &b.init.to_string(), "-a", "--root", "--wd", "--"]);
            }
            _ => {
                cmd.arg(format!("--net=/run/netns/{}", self.netns))
                    .arg("--")
                    .arg("chroot")
                    .arg(self.root());
            }
        }
        let out = cmd
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("HOME", "/root")
            .stdin(Stdio::null())
            .output()
            .expect("nsenter runs");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Runs and requires success; returns the output.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(ok, "[{}] {args:?} failed:\n{out}", self.name);
        out
    }

    /// Writes a file inside (as root), creating its directory.
    pub fn write(&self, inside: &str, content: &[u8]) {
        let path = self.host_path(inside);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write into the node");
    }

    pub fn read(&self, inside: &str) -> String {
        std::fs::read_to_string(self.host_path(inside))
            .unwrap_or_else(|e| panic!("[{}] read {inside}: {e}", self.name))
    }

    /// `systemctl is-active` / `is-enabled` and the like: the one-word answer.
    pub fn systemctl_state(&self, query: &str, unit: &str) -> String {
        self.run(&["systemctl", query, unit]).1.trim().to_string()
    }

    /// Waits (up to a minute) for the server's unit to be active; the journal and the
    /// server's log in the failure otherwise.
    pub fn assert_active(&self) {
        let active = crate::harness::wait_for(Duration::from_secs(60), || {
            (self.systemctl_state("is-active", "nimsforest-nats") == "active").then_some(())
        });
        if active.is_none() {
            let journal = self
                .run(&[
                    "journalctl",
                    "-u",
                    "nimsforest-nats",
                    "--no-pager",
                    "-n",
                    "60",
                ])
                .1;
            let (_, log) = self.run(&["tail", "-n", "30", "/var/log/nimsforest/nats.log"]);
            panic!(
                "[{}] nimsforest-nats is {}:\n{journal}\n{log}",
                self.name,
                self.systemctl_state("is-active", "nimsforest-nats")
            );
        }
    }

    /// An HTTP GET from inside the node's network namespace (the monitoring port listens
    /// on the node's loopback only): (status, body); status 0 when nothing answers.
    pub fn http_get(&self, url: &str) -> (u16, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args([
                "--",
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-w",
                "\n%{http_code}",
                url,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("curl must be installed (scripts/deps.sh)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Serves `dir` over http on the node's own 127.0.0.1:`port` (the server runs on the
    /// host, in the node's network namespace), until the node is dropped.
    /// Keeps `server` (one the test started in this node's network namespace) running
    /// as long as the node.
    pub fn keep(&mut self, server: MirrorServer) {
        self.servers.push(server);
    }

    pub fn serve(&mut self, dir: &Path, port: u16) -> String {
        let server = MirrorServer::start_in(dir, port, Some(&format!("/run/netns/{}", self.netns)));
        let url = server.url.clone();
        self.servers.push(server);
        url
    }

    /// Processes running inside the node (pid, uid, command), read from its own /proc.
    pub fn processes(&self) -> Vec<(u32, u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc") {
            let Ok(pid) = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .parse::<u32>()
            else {
                continue;
            };
            // A process belongs to the node when its root is the node's tree.
            let Ok(root) = std::fs::read_link(format!("/proc/{pid}/root")) else {
                continue;
            };
            if root != self.root() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(format!("/proc/{pid}")) else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, meta.uid(), cmd.trim().to_string()));
        }
        found
    }

    fn unmount_chroot_mounts(&mut self) {
        while let Some(target) = self.mounts.pop() {
            let target = target.to_str().expect("utf-8").to_string();
            if !tool("umount", &[&target]).0 {
                // Never let the tree's removal descend into a mounted /proc.
                let _ = tool("umount", &["-l", &target]);
            }
        }
    }

    /// Stops the container at once, as a VM is deleted (and when the test is over:
    /// nothing in it needs a clean stop).
    pub fn destroy(&mut self) {
        if let Some(mut booted) = self.booted.take() {
            if booted.init != 0 {
                // SIGKILL to PID 1 of a PID namespace ends every process in it.
                let _ = tool("kill", &["-KILL", &booted.init.to_string()]);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while booted.nspawn.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = booted.nspawn.kill();
            let _ = booted.nspawn.wait();
            for dir in &booted.cgroups {
                remove_cgroup(dir);
                remove_cgroup_parent(dir);
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() && self.booted.is_some() {
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr, "[{}] console:\n{}", self.name, self.console());
        }
        self.servers.clear();
        self.destroy();
        self.unmount_chroot_mounts();
        let root = self.root();
        if !tool("umount", &[root.to_str().expect("utf-8")]).0 {
            let _ = tool("umount", &["-l", root.to_str().expect("utf-8")]);
        }
    }
}

/// The unit sandboxes its server with `PrivateUsers=`, a user namespace. The kernel
/// refuses one to a chrooted process (and where `user.max_user_namespaces` is 0), and the
/// booted nodes would inherit that: their service fails with status 217/USER and stays
/// "activating". Said plainly before a node boots, instead of as a timeout.
fn require_user_namespaces() {
    static UNSHARE: std::sync::OnceLock<(bool, String)> = std::sync::OnceLock::new();
    let (ok, out) = UNSHARE.get_or_init(|| tool("unshare", &["--user", "--map-root-user", "true"]));
    assert!(
        *ok,
        "the system tier needs user namespaces for the nodes' sandboxed services, and \
         `unshare --user` fails here ({}): run it as the root of a mount namespace, not in a \
         chroot (scripts/fresh-machine.sh does), with user.max_user_namespaces > 0",
        out.trim()
    );
}

/// Cgroups of its own for a container, one per hierarchy systemd uses (cgroup v2, and
/// on a hybrid host also v1's name=systemd). With --keep-unit nspawn puts the container
/// in the cgroup it runs in, so containers started from one process would share one
/// cgroup tree and their systemds would trample each other's units.
fn own_cgroups(id: &str) -> Vec<PathBuf> {
    [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/systemd",
    ]
    .iter()
    .map(Path::new)
    .filter(|hierarchy| hierarchy.join("cgroup.procs").exists())
    .map(|hierarchy| {
        let dir = hierarchy.join("nimsforest-test").join(id);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("creating the cgroup {}: {e}", dir.display()));
        dir
    })
    .collect()
}

/// Removes a cgroup and what the container's systemd made below it (bottom up: a cgroup
/// goes with rmdir once it has no children and no processes).
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Removes the cgroups of every container once the last one is gone.
fn remove_cgroup_parent(dir: &Path) {
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}
