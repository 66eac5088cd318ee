//! The probe: the real binary against bad input of every kind (bad URLs, injected line
//! breaks and control characters, credentials in URLs, hostile PEM and key files, wrong
//! key types, missing files, directories and devices where files belong, huge and zero
//! numbers, bad names, `..` paths, symbolic links, non-UTF-8 arguments). Every case must
//! fail cleanly:
//!
//! - an exit status of the documented ones (1, 2, 3, 4): never a panic (101) or a signal;
//! - stderr starts with `error: ` and is a few lines at most; stdout is empty;
//! - no secret planted in the input (a password, a key's body) appears in either;
//! - nothing in the project directory was made or changed (files, modes, links).
//!
//! The table it prints shows every input and what the tool said.

mod cases;
mod repo_cases;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::harness::*;

/// One bad input: the arguments (run in the project directory), the environment, and
/// what must come of it.
pub(crate) struct Case {
    pub name: &'static str,
    pub args: Vec<OsString>,
    pub env: Vec<(&'static str, OsString)>,
    /// The exit status it must end with; `None`: any documented failure (1 to 4).
    pub code: Option<i32>,
    /// Text the first line of stderr must contain.
    pub says: String,
}

impl Case {
    pub fn new(name: &'static str, args: &[&str]) -> Self {
        Self::os(name, args.iter().map(OsString::from).collect())
    }

    pub fn os(name: &'static str, args: Vec<OsString>) -> Self {
        Self {
            name,
            args,
            env: Vec::new(),
            code: None,
            says: String::new(),
        }
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = Some(code);
        self
    }

    pub fn says(mut self, text: impl Into<String>) -> Self {
        self.says = text.into();
        self
    }

    pub fn env(mut self, name: &'static str, value: impl Into<OsString>) -> Self {
        self.env.push((name, value.into()));
        self
    }
}

/// Every entry under `root`: its kind, mode and content hash (or link target), without
/// following links or opening anything but regular files.
fn state(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_dir() {
                walk(root, &path, out);
                format!("dir {mode:o}")
            } else if meta.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).unwrap())
            } else if meta.is_file() && meta.len() > 1 << 20 {
                // The sparse file planted to be too large: its size and time suffice.
                format!(
                    "file {mode:o} {} {:?}",
                    meta.len(),
                    meta.modified().unwrap()
                )
            } else if meta.is_file() {
                format!(
                    "file {mode:o} {}",
                    sha256_hex(&std::fs::read(&path).unwrap())
                )
            } else {
                format!("special {mode:o}")
            };
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(name, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Runs every case in `project`'s directory, prints the table, and fails naming every
/// case that broke a rule of the module documentation. `secrets` must never be printed.
pub(crate) fn run_cases(project: &Project, secrets: &[String], cases: &[Case]) {
    let mut broken = Vec::new();
    println!("{:<52} {:>4}  first line of stderr", "case", "exit");
    for case in cases {
        let before = state(project.path());
        let mut cmd = project.command(&[]);
        cmd.args(&case.args);
        for (name, value) in &case.env {
            cmd.env(name, value);
        }
        let out = cmd.output().expect("nimsforest-pkg runs");
        let after = state(project.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stderr.lines().next().unwrap_or("").to_string();
        let code = out.status.code();
        println!(
            "{:<52} {:>4}  {first}",
            case.name,
            code.map_or("sig".to_string(), |c| c.to_string())
        );
        println!("{:<52}       {:?}", "", case.args);

        let mut problems = Vec::new();
        match code {
            Some(c @ 1..=4) if case.code.is_none_or(|want| want == c) => {}
            other => problems.push(format!("exit {other:?}, expected {:?}", case.code)),
        }
        if !first.starts_with("error: ") {
            problems.push("stderr does not start with `error: `".into());
        }
        if !first.contains(&case.says) {
            problems.push(format!("the error does not say {:?}", case.says));
        }
        if stderr.lines().count() > 8 {
            problems.push(format!("{} lines of stderr", stderr.lines().count()));
        }
        if !stdout.is_empty() {
            problems.push(format!("stdout is not empty: {stdout:?}"));
        }
        for secret in secrets {
            if stderr.contains(secret.as_str()) || stdout.contains(secret.as_str()) {
                problems.push(format!("printed the secret {secret:?}"));
            }
        }
        if before != after {
            let changed: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            problems.push(format!("changed {changed:?}"));
        }
        if !problems.is_empty() {
            broken.push(format!(
                "{}: {}\n  stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "{} of {} cases broke a rule:\n{}",
        broken.len(),
        cases.len(),
        broken.join("\n")
    );
}

/// An HTTP server on 127.0.0.1 that answers every request 404 (never retried) and keeps
/// the `Authorization` headers it was sent: a mirror that exists but has nothing.
pub(crate) struct NotFoundServer {
    pub url: String,
    pub authorizations: Arc<Mutex<Vec<String>>>,
}

impl NotFoundServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = authorizations.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Ok(reading) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(reading);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            seen.lock().unwrap().push(value.trim().to_string());
                        }
                    }
                    line.clear();
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self {
            url,
            authorizations,
        }
    }
}

#[test]
fn every_bad_input_fails_cleanly_and_leaves_everything_as_it_was() {
    let project = Project::new();
    let secrets = cases::fixtures(&project);
    let empty = NotFoundServer::start();
    let mut cases = cases::build_pin_keygen(&empty.url);
    cases.extend(cases::cloud_init());
    cases.extend(cases::forest());
    repo_cases::fixtures(&project);
    cases.extend(repo_cases::repo());
    assert!(cases.len() >= 80, "{} cases", cases.len());
    run_cases(&project, &secrets, &cases);
    // The mirror's credentials were sent, as basic authentication.
    let sent = empty.authorizations.lock().unwrap().clone();
    let basic = format!(
        "Basic {}",
        base64_of(format!("probe:{}", cases::PASSWORD).as_bytes())
    );
    assert!(sent.contains(&basic), "{sent:?}");
}

/// Standard base64, for the expected Authorization header.
pub(crate) fn base64_of(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
