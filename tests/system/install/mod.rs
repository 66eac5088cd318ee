//! Install tests, modelled on piuparts: nodes whose PID 1 is systemd install
//! nimsforest-nats from the signed repository the tool publishes, served over http on the
//! node's 127.0.0.1, the way cloud-init does it (trust the key, add the source,
//! `apt-get update`, `apt-get install -y`), and a real NATS client talks to the server.

mod arm64;
mod config;
mod rpm;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fixture::repository::*;
use crate::harness::*;
use crate::nats::Nats;
use crate::node::*;

/// A local edit an operator makes to nats.conf: a real setting, visible in /varz.
const LOCAL_EDIT: &str = "\n# Local edit: larger messages.\nmax_payload: 2MB\n";
const EDITED_MAX_PAYLOAD: u64 = 2 * 1024 * 1024;

fn assert_running(node: &Node) {
    for unit in ["nimsforest-nats.service", "nats.service"] {
        assert_eq!(
            node.systemctl_state("is-active", unit),
            "active",
            "[{}] {unit}",
            node.name
        );
    }
    assert_eq!(
        node.systemctl_state("is-enabled", "nimsforest-nats.service"),
        "enabled",
        "[{}]",
        node.name
    );
    wait_until_serving(node);
}

/// Owner, group, mode and type of paths inside, as `stat` prints them.
fn stat(node: &Node, path: &str) -> String {
    node.ok(&["stat", "-c", "%U:%G %a %F", path])
        .trim()
        .to_string()
}

/// Publishes `count` messages to a new file-backed stream ORDERS; returns their payloads.
fn fill_stream(client: &Nats, count: usize) -> Vec<Vec<u8>> {
    client
        .create_stream("ORDERS", &["orders.>"], 1)
        .expect("create stream");
    (1..=count)
        .map(|i| {
            let payload = format!("order {i}").into_bytes();
            let sequence = client.publish("orders.new", &payload).expect("publish");
            assert_eq!(sequence, i as u64);
            payload
        })
        .collect()
}

/// Every file of the JetStream store from `before` (a `snapshot`) is still there. The
/// server flushes its state when it stops, so files may change or appear.
fn assert_stream_files_kept(node: &Node, before: &[(PathBuf, Vec<u8>)]) {
    let jetstream = node.host_path("/var/lib/nimsforest/jetstream");
    let missing: Vec<_> = before
        .iter()
        .filter(|(path, _)| !jetstream.join(path).exists())
        .map(|(path, _)| path)
        .collect();
    assert!(
        missing.is_empty(),
        "[{}] stream data removed: {missing:?}",
        node.name
    );
}

/// Nothing runs as the service user, and no nats-server at all, after `step`.
fn assert_no_server_process(node: &Node, step: &str) {
    let uid: u32 = node
        .ok(&["id", "-u", "nimsforest"])
        .trim()
        .parse()
        .expect("uid");
    let left: Vec<_> = node
        .processes()
        .into_iter()
        .filter(|(_, owner, cmd)| *owner == uid || cmd.contains("nats-server"))
        .collect();
    assert!(
        left.is_empty(),
        "[{}] processes left after {step}: {left:?}",
        node.name
    );
}

// ---------------------------------------------------------------------------------------
// 1. Fresh install

fn fresh_install(suite: &'static str) {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian(suite), &mut network, "node1");
    apt(&node, &["update"]);
    let out = apt(&node, &["install", "nimsforest-nats"]);
    eprintln!("[{suite}] apt-get install:\n{out}");

    assert_running(&node);
    let (_, state) = node.run(&["systemctl", "is-system-running"]);
    assert_eq!(state.trim(), "running", "the system is not running cleanly");

    // The server runs as the service user, on the packaged binary.
    let pid = main_pid(&node);
    let status = node.ok(&["cat", &format!("/proc/{pid}/status")]);
    let uid = node.ok(&["id", "-u", "nimsforest"]).trim().to_string();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid)),
        "{status}"
    );

    // A client, JetStream, and health.
    let client = Nats::connect(&client_url(&node)).expect("client");
    assert_eq!(client.server_version(), NEW);
    assert_eq!(
        client.server_name(),
        "node1",
        "server_name is the host name"
    );
    let sent = fill_stream(&client, 25);
    assert_eq!(client.read_stream("ORDERS").expect("read"), sent);
    let (code, body) = node.http_get("http://127.0.0.1:8222/healthz?js-enabled-only=true");
    assert_eq!(code, 200, "{body}");

    // The service account: a system user without a login.
    let passwd = node.ok(&["getent", "passwd", "nimsforest"]);
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert!(fields[2].parse::<u32>().expect("uid") < 1000, "{passwd}");
    assert_eq!(fields[5], "/var/lib/nimsforest", "{passwd}");
    assert_eq!(fields[6], "/usr/sbin/nologin", "{passwd}");
    node.ok(&["getent", "group", "nimsforest"]);

    // Files and directories as the package definition specifies them.
    for (path, expected) in [
        (
            "/opt/nimsforest/bin/nats-server",
            "root:root 755 regular file",
        ),
        (
            "/opt/nimsforest/bin/nimsforest-cluster-conf",
            "root:root 755 regular file",
        ),
        ("/etc/nimsforest", "root:root 755 directory"),
        (
            "/etc/nimsforest/nats.conf",
            "root:nimsforest 640 regular file",
        ),
        (
            "/etc/nimsforest/cluster.conf",
            "root:nimsforest 640 regular file",
        ),
        ("/var/lib/nimsforest", "nimsforest:nimsforest 750 directory"),
        (
            "/var/lib/nimsforest/data",
            "nimsforest:nimsforest 750 directory",
        ),
        (
            "/var/lib/nimsforest/jetstream",
            "nimsforest:nimsforest 750 directory",
        ),
        ("/var/log/nimsforest", "nimsforest:nimsforest 750 directory"),
        (
            "/usr/lib/systemd/system/nimsforest-nats.service",
            "root:root 644 regular file",
        ),
    ] {
        assert_eq!(stat(&node, path), expected, "[{suite}] {path}");
    }
    // The log goes to its file.
    assert!(node
        .read("/var/log/nimsforest/nats.log")
        .contains("Server is ready"));

    let security = node.ok(&[
        "systemd-analyze",
        "security",
        "--no-pager",
        "nimsforest-nats.service",
    ]);
    let score: f64 = security
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for nimsforest-nats.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{security}"));
    eprintln!("[{suite}] systemd-analyze security nimsforest-nats.service: {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{security}");
}

#[test]
fn fresh_install_on_debian_12() {
    fresh_install("bookworm");
}

#[test]
fn fresh_install_on_debian_13() {
    fresh_install("trixie");
}

// ---------------------------------------------------------------------------------------
// 2. Upgrade

/// The state of a node before an upgrade.
struct BeforeUpgrade {
    sent: Vec<Vec<u8>>,
    conf: String,
    pid: String,
}

/// With OLD serving: a stream of `messages`, and an operator's edit in nats.conf.
fn prepare_upgrade(node: &Node, messages: usize) -> BeforeUpgrade {
    let client = wait_until_serving(node);
    assert_eq!(client.server_version(), OLD);
    let sent = fill_stream(&client, messages);
    drop(client);
    let mut conf = node.read("/etc/nimsforest/nats.conf");
    conf.push_str(LOCAL_EDIT);
    node.write("/etc/nimsforest/nats.conf", conf.as_bytes());
    BeforeUpgrade {
        sent,
        conf,
        pid: main_pid(node),
    }
}

/// After the upgrade: the edit kept and in effect, the server restarted on NEW, and every
/// message of the stream still there.
fn assert_upgraded(node: &Node, before: &BeforeUpgrade) {
    assert_eq!(
        node.read("/etc/nimsforest/nats.conf"),
        before.conf,
        "[{}] the local edit was lost",
        node.name
    );
    assert_running(node);
    assert_ne!(main_pid(node), before.pid, "the service was not restarted");
    assert_eq!(varz(node, "version"), NEW);
    assert_eq!(varz(node, "max_payload"), EDITED_MAX_PAYLOAD.to_string());
    let client = Nats::connect(&client_url(node)).expect("client");
    assert_eq!(
        client.read_stream("ORDERS").expect("read after upgrade"),
        before.sent
    );
}

#[test]
fn upgrade_keeps_the_local_config_edit_and_every_stream_message() {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian("bookworm"), &mut network, "node1");
    apt(&node, &["update"]);
    apt(&node, &["install", &format!("nimsforest-nats={OLD}-1")]);
    let before = prepare_upgrade(&node, 100);

    let out = apt(&node, &["install", "nimsforest-nats"]);
    eprintln!("apt-get install (upgrade):\n{out}");
    assert!(
        out.contains(&format!(
            "Unpacking nimsforest-nats ({NEW}-1) over ({OLD}-1)"
        )),
        "{out}"
    );
    assert!(
        !out.contains("Configuration file"),
        "a conffile prompt:\n{out}"
    );
    assert!(!node
        .host_path("/etc/nimsforest/nats.conf.dpkg-dist")
        .exists());
    assert_upgraded(&node, &before);
    // `apt-get upgrade` then finds nothing left to do.
    let out = apt(&node, &["upgrade"]);
    assert!(out.contains("0 upgraded"), "{out}");
}

// ---------------------------------------------------------------------------------------
// 3, 4. Remove and purge

/// Every path of a node's tree with what identifies its state, except where the system
/// keeps its own bookkeeping (package manager state, logs of apt and dpkg, runtime dirs).
fn filesystem(node: &Node) -> BTreeMap<String, String> {
    const IGNORED: &[&str] = &[
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/tmp",
        "/var/tmp",
        // apt and dpkg record what they did.
        "/var/cache/apt",
        "/var/lib/apt",
        "/var/lib/dpkg",
        "/var/log/apt",
        "/var/log/dpkg.log",
        "/var/cache/debconf",
        "/var/log/alternatives.log",
        // systemd's own runtime state.
        "/var/log/journal",
        "/var/lib/systemd/random-seed",
        "/var/lib/systemd/timers",
        "/var/lib/systemd/catalog",
    ];
    let mut map = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let inside = format!("/{}", path.strip_prefix(root).unwrap().display());
            if IGNORED
                .iter()
                .any(|i| inside == *i || inside.starts_with(&format!("{i}/")))
            {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let owner = format!("{}:{} {:o}", meta.uid(), meta.gid(), meta.mode());
            let state = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &path, map);
                format!("dir {owner}")
            } else if meta.is_file() {
                let data = std::fs::read(&path).expect("read");
                format!("file {owner} {}", sha256_hex(&data))
            } else {
                format!("special {owner}")
            };
            map.insert(inside, state);
        }
    }
    let root = node.root();
    walk(&root, &root, &mut map);
    map
}

/// Where the service account lives: the only trace a purge may leave.
const ACCOUNT_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/group",
    "/etc/group-",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
];

#[test]
fn remove_keeps_config_and_data_and_purge_leaves_only_the_user() {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian("bookworm"), &mut network, "node1");
    apt(&node, &["update"]);
    let before = filesystem(&node);
    apt(&node, &["install", "nimsforest-nats"]);
    let client = wait_until_serving(&node);
    let sent = fill_stream(&client, 10);
    drop(client);
    let data = snapshot(&node.host_path("/var/lib/nimsforest/jetstream"));
    assert!(data.len() > 3, "no stream data on disk: {data:?}");

    // Remove.
    apt(&node, &["remove", "nimsforest-nats"]);
    assert_eq!(
        node.systemctl_state("is-active", "nimsforest-nats.service"),
        "inactive"
    );
    // The unit file went with the package: nothing is left to enable.
    let enabled = node.systemctl_state("is-enabled", "nimsforest-nats.service");
    assert!(
        enabled == "disabled" || enabled.contains("No such file"),
        "is-enabled: {enabled}"
    );
    assert!(!node
        .host_path("/etc/systemd/system/multi-user.target.wants/nimsforest-nats.service")
        .exists());
    assert!(
        !node.host_path("/opt/nimsforest/bin/nats-server").exists(),
        "binary left"
    );
    for kept in ["/etc/nimsforest/nats.conf", "/etc/nimsforest/cluster.conf"] {
        assert!(node.host_path(kept).exists(), "{kept} removed");
    }
    assert_stream_files_kept(&node, &data);
    assert_no_server_process(&node, "remove");
    assert!(!sent.is_empty());

    // Purge.
    apt(&node, &["purge", "nimsforest-nats"]);
    let after = filesystem(&node);
    let mut leftovers = Vec::new();
    for (path, state) in &after {
        if before.get(path) != Some(state) && !ACCOUNT_FILES.contains(&path.as_str()) {
            leftovers.push(format!("{path}: {state} (before: {:?})", before.get(path)));
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        leftovers.push(format!("{path}: removed"));
    }
    assert!(
        leftovers.is_empty(),
        "purge left or changed:\n{}",
        leftovers.join("\n")
    );
    for gone in [
        "/etc/nimsforest",
        "/var/log/nimsforest",
        "/var/lib/nimsforest",
    ] {
        assert!(!node.host_path(gone).exists(), "{gone} left after purge");
    }
    node.ok(&["getent", "passwd", "nimsforest"]);
}

// ---------------------------------------------------------------------------------------
// 5. Reinstall

#[test]
fn reinstall_and_install_after_remove_or_purge_all_run_the_service() {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian("bookworm"), &mut network, "node1");
    apt(&node, &["update"]);
    apt(&node, &["install", "nimsforest-nats"]);
    assert_running(&node);
    for (step, undo) in [
        ("reinstall", None),
        ("remove", Some("remove")),
        ("purge", Some("purge")),
    ] {
        match undo {
            None => {
                apt(&node, &["install", "--reinstall", "nimsforest-nats"]);
            }
            Some(action) => {
                apt(&node, &[action, "nimsforest-nats"]);
                apt(&node, &["install", "nimsforest-nats"]);
            }
        }
        assert_running(&node);
        eprintln!("install after {step}: service running");
    }
}

// ---------------------------------------------------------------------------------------
// 6. No systemd running

#[test]
fn install_without_systemd_starts_nothing_and_the_image_boots_into_a_node() {
    let mut network = Network::new();
    let mut node = Node::chroot(
        &RootfsSpec::debian("bookworm").cached(),
        &mut network,
        "image",
    );
    add_apt_source(&mut node, &repository().public);
    apt(&node, &["update"]);
    apt(&node, &["install", "nimsforest-nats"]);
    let running = node.processes();
    assert!(
        running.is_empty(),
        "the install left processes running: {running:?}"
    );
    node.ok(&["getent", "passwd", "nimsforest"]);
    for (path, expected) in [
        ("/var/lib/nimsforest", "nimsforest:nimsforest 750 directory"),
        (
            "/var/lib/nimsforest/jetstream",
            "nimsforest:nimsforest 750 directory",
        ),
        ("/var/log/nimsforest", "nimsforest:nimsforest 750 directory"),
        (
            "/etc/nimsforest/cluster.conf",
            "root:nimsforest 640 regular file",
        ),
    ] {
        assert_eq!(stat(&node, path), expected, "{path}");
    }
    assert!(
        node.host_path("/etc/systemd/system/multi-user.target.wants/nimsforest-nats.service")
            .is_symlink(),
        "the service is enabled for the first boot"
    );
    // The tree is an image: its first boot starts the node.
    node.start();
    assert_running(&node);
}
