//! Staged releases: the channels testing and stable in one store, and `promote`, on a
//! directory and on a real S3 server (`rclone serve s3`). What each channel's clients see
//! is checked as apt and dnf check it (gpgv on InRelease and repomd.xml, every index
//! against it, every package file against its index).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::client_view::channel_view;
use crate::harness::*;
use crate::repo_dnf::Dnf;
use crate::s3::S3Server;
use crate::s3_publish::releases;

const URL: &str = "https://packages.nimsforest.invalid";
const DAY: u64 = 86_400;

/// The date of the publication numbered `n`, one day apart.
fn day(n: u64) -> String {
    (1_790_000_000 + n * DAY).to_string()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// NEW built as revisions 2 and 3 for the same two arches (from the releases' cache, so
/// nothing large is compressed again): testing's retention needs more generations.
fn revisions() -> &'static (Project, PathBuf, PathBuf) {
    static REVISIONS: OnceLock<(Project, PathBuf, PathBuf)> = OnceLock::new();
    REVISIONS.get_or_init(|| {
        let mut project = Project::new();
        project.cache = releases().project.cache.clone();
        let url = &MirrorServer::shared().url;
        let build = |revision: &str| {
            let out = project.path().join(format!("dist-new-{revision}"));
            project.ok(&[
                "build",
                "--arch",
                "amd64,arm64",
                "--revision",
                revision,
                "--mirror",
                url,
                "--out",
                s(&out),
            ]);
            out
        };
        let (second, third) = (build("2"), build("3"));
        (project, second, third)
    })
}

/// A store the tool publishes to, and the files a web server in front of it would serve.
struct Store {
    server: Option<S3Server>,
    dir: tempfile::TempDir,
    out: String,
}

impl Store {
    fn directory() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = s(dir.path()).to_string();
        Self {
            server: None,
            dir,
            out,
        }
    }

    fn s3() -> Self {
        let server = S3Server::start();
        let out = server.url("repo");
        Self {
            server: Some(server),
            dir: tempfile::tempdir().unwrap(),
            out,
        }
    }

    fn root(&self) -> PathBuf {
        match &self.server {
            Some(server) => server.files("repo"),
            None => self.dir.path().to_path_buf(),
        }
    }

    /// Every object with its bytes.
    fn objects(&self) -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(&self.root())
            .into_iter()
            .filter(|(_, data)| data.as_slice() != b"<dir>")
            .collect()
    }

    /// The tool with `args`, publishing into this store at `date`, signed with the
    /// releases' key, reporting every write.
    fn run(&self, args: &[&str], date: &str) -> Output {
        let r = releases();
        let mut cmd = r.project.command(args);
        cmd.args(["--out", &self.out, "--signing-key", s(&r.key), "--url", URL])
            .arg("--verbose")
            .env("SOURCE_DATE_EPOCH", date);
        if let Some(server) = &self.server {
            server.configure(&mut cmd);
        }
        cmd.output().expect("nimsforest-pkg runs")
    }

    /// Runs and requires success: (stdout, the writes it reported).
    fn ok(&self, args: &[&str], date: &str) -> (String, Vec<String>) {
        let out = self.run(args, date);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} failed:\n{stderr}");
        let writes = stderr
            .lines()
            .filter(|l| l.starts_with("put ") || l.starts_with("delete "))
            .map(str::to_string)
            .collect();
        (String::from_utf8(out.stdout).unwrap(), writes)
    }

    fn to_testing(&self, dist: &Path, date: &str, extra: &[&str]) -> String {
        let mut args = vec!["repo", "--channel", "testing", "--dist", s(dist)];
        args.extend_from_slice(extra);
        self.ok(&args, date).0
    }
}

/// The versions of nimsforest-nats for x86_64 that dnf finds in the dnf tree at `tree`
/// (served over http), trusting the releases' key.
fn dnf_versions(tree: &Path) -> Vec<String> {
    let public = std::fs::read_to_string(releases().key.with_file_name("nimsforest.asc")).unwrap();
    let server = MirrorServer::start(tree);
    let dnf = Dnf::trusting(&public);
    let query = [
        "repoquery",
        "--quiet",
        "--arch",
        "x86_64",
        "--qf",
        "%{name} %{evr}",
        "nimsforest-nats",
    ];
    let (ok, out) = dnf.run(&server.url, "x86_64", &query);
    assert!(ok, "dnf repoquery:\n{out}");
    // (Its output also says that it imported the key.)
    let mut versions: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("nimsforest-nats "))
        .map(str::to_string)
        .collect();
    versions.sort();
    versions
}

fn says(stdout: &str, lines: &[String]) {
    for line in lines {
        assert!(stdout.contains(line.as_str()), "no {line:?} in:\n{stdout}");
    }
}

/// The whole story on one store: a new release in testing only, promoted to stable with
/// the same bytes, a re-run that writes nothing, a version testing lacks refused, and
/// testing's retention leaving every file stable names.
fn staged_releases(store: &Store) {
    let r = releases();
    let (new2, new3) = {
        let (_, second, third) = revisions();
        (second.as_path(), third.as_path())
    };
    let root = store.root();
    let view = |channel: &str| channel_view(&root, &r.keyring, channel);
    let sha = |file: &str| sha256_hex(&std::fs::read(root.join(file)).unwrap());

    store.to_testing(&r.old, &day(1), &[]);
    store.to_testing(&r.new, &day(2), &[]);
    store.ok(&["repo", "--dist", s(&r.old)], &day(3));
    let testing = view("testing");
    assert_eq!(testing.len(), 8, "{testing:?}");
    let stable = view("stable");
    assert_eq!(stable.len(), 4, "{stable:?}");
    assert!(stable.iter().all(|f| f.contains(OLD)), "{stable:?}");
    assert_eq!(dnf_versions(&root.join("rpm")), [format!("{OLD}-1")]);

    // Each channel's client files name it.
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
    assert!(read("nimsforest.sources").contains("Suites: stable\n"));
    assert!(read("nimsforest-testing.sources").contains("Suites: testing\n"));
    let repo = read("nimsforest.repo");
    assert!(repo.starts_with("[nimsforest]\n") && repo.contains(&format!("baseurl={URL}/rpm\n")));
    let repo = read("nimsforest-testing.repo");
    assert!(
        repo.starts_with("[nimsforest-testing]\n")
            && repo.contains(&format!("baseurl={URL}/rpm/testing\n")),
        "{repo}"
    );

    // A version testing does not have: refused, naming what it has; nothing changes.
    let before = store.objects();
    let out = store.run(&["promote", "2.99.0"], &day(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("the testing channel has no nimsforest-nats 2.99.0")
            && stderr.contains(&format!("it has {OLD}-1, {NEW}-1")),
        "{stderr}"
    );
    assert!(before == store.objects(), "a refused promotion wrote");

    // NEW to stable: apt uploads nothing (one pool), dnf copies the two files.
    let (stdout, writes) = store.ok(
        &["promote", NEW, "--from", "testing", "--to", "stable"],
        &day(4),
    );
    says(
        &stdout,
        &[
            "apt: 2 package(s) added (stable)".into(),
            "rpm: 2 package(s) added (stable)".into(),
        ],
    );
    assert!(!writes.iter().any(|w| w.contains("/pool/")), "{writes:?}");
    let copied: Vec<&String> = writes.iter().filter(|w| w.ends_with(".rpm")).collect();
    assert_eq!(copied.len(), 2, "{writes:?}");
    assert!(
        copied.iter().all(|w| w.contains("rpm/Packages/")),
        "{copied:?}"
    );
    assert_eq!(view("testing"), testing, "testing changed");
    assert_eq!(
        dnf_versions(&root.join("rpm")),
        [format!("{OLD}-1"), format!("{NEW}-1")]
    );
    let stable = view("stable");
    assert_eq!(stable.len(), 8, "{stable:?}");
    for file in stable.iter().filter(|f| f.contains(NEW)) {
        let in_testing = match file.strip_prefix("rpm/") {
            Some(rest) => format!("rpm/testing/{rest}"),
            None => file.clone(),
        };
        assert!(testing.contains(&in_testing), "{in_testing} not in testing");
        assert_eq!(sha(file), sha(&in_testing), "{file}");
    }

    // Again: nothing to do, nothing written.
    let before = store.objects();
    let (stdout, writes) = store.ok(&["promote", NEW], &day(5));
    says(
        &stdout,
        &[
            "apt: unchanged (stable)".into(),
            "rpm: unchanged (stable)".into(),
        ],
    );
    assert!(writes.is_empty(), "{writes:?}");
    assert!(before == store.objects(), "an unchanged promotion wrote");

    // Retention on testing: NEW-2 drops OLD-1 and NEW-1 (which stable names), NEW-3 drops
    // NEW-2; the generation after the one that dropped them deletes only testing's own.
    let stdout = store.to_testing(new2, &day(6), &["--keep", "1"]);
    says(
        &stdout,
        &["apt: 2 package(s) added, 4 dropped from the indexes (testing)".into()],
    );
    let stdout = store.to_testing(new3, &day(7), &["--keep", "1"]);
    says(
        &stdout,
        &[
            "apt: 2 package(s) added, 2 dropped from the indexes (testing)".into(),
            "rpm/testing: 2 package(s) added, 2 dropped from the indexes, 4 deleted (testing)"
                .into(),
        ],
    );
    assert_eq!(view("stable"), stable, "stable lost a file");
    let testing = view("testing");
    assert_eq!(testing.len(), 4, "{testing:?}");
    assert!(testing.iter().all(|f| f.contains(&format!("{NEW}-3"))));
    let rpm = format!("Packages/n/nimsforest-nats-{OLD}-1.x86_64.rpm");
    assert!(!root.join("rpm/testing").join(&rpm).exists());
    assert!(root.join("rpm").join(&rpm).is_file());
}

#[test]
fn promote_publishes_testings_bytes_to_stable_in_a_directory() {
    staged_releases(&Store::directory());
}

#[test]
fn promote_publishes_testings_bytes_to_stable_on_s3() {
    staged_releases(&Store::s3());
}

/// `cloud-init --channel`: the node's apt source names the channel's suite, its dnf
/// `baseurl` the channel's tree; stable by default; every variant passes `cloud-init
/// schema`.
#[test]
fn cloud_init_points_a_node_at_its_channel() {
    let r = releases();
    let key = r.key.with_file_name("nimsforest.asc");
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (&[][..], format!("{URL}/apt stable main\"\n")),
        (
            &["--channel", "testing"][..],
            format!("{URL}/apt testing main\"\n"),
        ),
        (&["--rpm"][..], format!("baseurl: \"{URL}/rpm\"\n")),
        (
            &["--rpm", "--channel", "testing"][..],
            format!("baseurl: \"{URL}/rpm/testing\"\n"),
        ),
    ];
    for (i, (extra, wanted)) in cases.iter().enumerate() {
        let mut args = vec!["cloud-init", "--url", URL, "--key", s(&key)];
        args.extend_from_slice(extra);
        let text = r.project.ok(&args);
        assert!(
            text.contains(wanted.as_str()),
            "{extra:?}: no {wanted:?} in\n{text}"
        );
        let file = dir.path().join(format!("user-data-{i}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let out = tool_ok("cloud-init", &["schema", "--config-file", s(&file)]);
        assert!(
            out.contains("Valid cloud-config"),
            "{extra:?}: {out}\n{text}"
        );
    }
}
