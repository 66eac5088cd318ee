//! A NATS cluster formed from the packages, the way the fleet runs: three booted nodes on
//! a private network, each given the #cloud-config user-data that `nimsforest-pkg
//! cloud-init` generates for it (forest id, its server name, the routes of all three).
//! Real cloud-init runs it at first boot from a NoCloud seed: it trusts the key, adds the
//! source, writes node-info.json and installs nimsforest-nats from the signed repository.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::install::{repository, REPO_PORT};
use crate::nats::{ClientTls, Nats};
use crate::node::*;

/// A cloud image: systemd, cloud-init, and locales (cloud-init sets the locale).
pub const CLOUD_IMAGE: RootfsSpec = RootfsSpec {
    suite: "bookworm",
    arch: "amd64",
    include: &["ca-certificates", "cloud-init", "locales"],
    // The image's own choice of locale, which cloud-init applies at first boot (its
    // default, en_US.UTF-8, would have to be generated when the image is built).
    files: &[(
        "/etc/cloud/cloud.cfg.d/10-image-locale.cfg",
        "locale: C.UTF-8\n",
    )],
};

pub const FOREST: &str = "forest-1";
pub const STREAM: &str = "EVENTS";

/// The longest a NATS JetStream leader election may take: nats-server's raft picks an
/// election timeout between 4 and 9 seconds.
pub const ONE_LEADER_ELECTION: Duration = Duration::from_secs(9);

pub struct Cluster {
    // Nodes before the network: fields drop in order, and the namespaces must outlive
    // the containers in them.
    pub nodes: Vec<Node>,
    pub network: Network,
    /// The forest, made by `nimsforest-pkg forest` (in the project's directory).
    pub forest: PathBuf,
    /// Where the forest's commands write its trust packages.
    pub trust_dist: PathBuf,
    /// The repository the nodes read: the shared one, with the forest's trust packages
    /// published into it.
    pub repo: PathBuf,
    /// The routes every node's user-data lists.
    pub routes: Vec<String>,
    pub project: Project,
}

impl Cluster {
    /// Boots three nodes of a closed forest with their user-data (installing `version`,
    /// or the newest) and waits until the cluster has formed; returns it and how long
    /// that took from the first boot.
    pub fn form(version: Option<&str>) -> (Self, Duration) {
        let (mut cluster, mut nodes) = Self::prepare(&["node1", "node2", "node3"], &[]);
        cluster.routes = nodes
            .iter()
            .map(|n| format!("nats-route://{}:6222", n.address))
            .collect();
        for node in &mut nodes {
            let user_data = cluster.user_data(node, version);
            cluster.seed(node, &user_data);
        }
        let started = Instant::now();
        let booted = cluster.boot(nodes);
        cluster.wait_until_formed();
        let formed = started.elapsed();
        eprintln!(
            "3 nodes booted and installed by cloud-init in {booted:.1?}; cluster formed {formed:.1?} after the first boot"
        );
        (cluster, formed)
    }

    /// A forest with core nodes `core` and leaf nodes `leaves` (not booted), its trust
    /// package published into the nodes' repository.
    pub fn prepare(core: &[&str], leaves: &[&str]) -> (Self, Vec<Node>) {
        let project = Project::new();
        let mut network = Network::new();
        let rootfs = CLOUD_IMAGE.cached();
        let nodes: Vec<Node> = core
            .iter()
            .chain(leaves)
            .map(|name| Node::create(&rootfs, &mut network, name))
            .collect();
        let cluster = Self {
            forest: project.path().join(FOREST),
            trust_dist: project.path().join("trust-dist"),
            repo: project.path().join("repo"),
            routes: Vec::new(),
            nodes: Vec::new(),
            network,
            project,
        };
        repository().copy_to(&cluster.repo);
        cluster.forest_ok(&["init", "--forest-id", FOREST]);
        for node in &nodes {
            let mut args = vec!["node", "--name", &node.name, "--address", &node.address];
            if leaves.contains(&node.name.as_str()) {
                args.push("--leaf");
            }
            cluster.forest_ok(&args);
        }
        cluster.publish_trust();
        (cluster, nodes)
    }

    /// Starts one more (seeded) node and checks that cloud-init installed it.
    pub fn boot_more(&mut self, mut node: Node) {
        node.start();
        self.check_installed(&node);
        self.nodes.push(node);
    }

    /// Starts `nodes` (seeded) at once and checks that cloud-init installed each; they
    /// become the cluster's nodes. How long the boots took.
    pub fn boot(&mut self, mut nodes: Vec<Node>) -> Duration {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for node in &mut nodes {
                scope.spawn(move || node.start());
            }
        });
        let booted = started.elapsed();
        for node in &nodes {
            self.check_installed(node);
        }
        self.nodes = nodes;
        booted
    }

    /// `nimsforest-pkg forest SUBCOMMAND --dir FOREST --out TRUST_DIST ARGS...`.
    pub fn forest_ok(&self, args: &[&str]) -> String {
        let mut all = vec!["forest", args[0], "--dir"];
        all.push(self.forest.to_str().expect("utf-8"));
        all.extend(["--out", self.trust_dist.to_str().expect("utf-8")]);
        all.extend_from_slice(&args[1..]);
        self.project.ok(&all)
    }

    /// `forest status` through node `via`'s client port: (exit status, report); `--json`
    /// with `json`.
    pub fn status(&self, via: &Node, json: bool) -> (i32, String) {
        let mut args = vec!["forest", "status", "--dir"];
        args.push(self.forest.to_str().expect("utf-8"));
        let url = tls_url(via);
        args.extend(["--server", url.as_str()]);
        if json {
            args.push("--json");
        }
        let out = self.project.run(&args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Publishes the forest's trust packages into the nodes' repository (`repo`).
    pub fn publish_trust(&self) {
        repository().publish(&self.project, &self.trust_dist, &self.repo);
    }

    /// The forest's current trust version (forest.toml's history).
    pub fn trust_version(&self) -> u64 {
        nimsforest_pkg::forest::Forest::open(&self.forest)
            .expect("the forest")
            .version()
    }

    /// `user_data` as `node`'s NoCloud seed, the repository served on its loopback; not
    /// started.
    pub fn seed(&self, node: &mut Node, user_data: &str) {
        node.serve(&self.repo, REPO_PORT);
        self.seed_only(node, user_data);
    }

    /// `nimsforest-pkg cloud-init` for `node`, installing `version` or the newest. node2
    /// says `--role core` (node-info then holds `"role": "core"`), the others say nothing.
    pub fn user_data(&self, node: &Node, version: Option<&str>) -> String {
        let mut extra: Vec<String> = self
            .routes
            .iter()
            .flat_map(|r| ["--route".to_string(), r.clone()])
            .collect();
        if node.name == "node2" {
            extra.extend(["--role".to_string(), "core".to_string()]);
        }
        if let Some(version) = version {
            extra.extend(["--version".to_string(), version.to_string()]);
        }
        self.user_data_with(node, &extra)
    }

    /// `nimsforest-pkg cloud-init --forest FOREST --server-name NODE EXTRA...`.
    pub fn user_data_with(&self, node: &Node, extra: &[String]) -> String {
        let key = self.repo.join("nimsforest.asc");
        let url = format!("http://127.0.0.1:{REPO_PORT}");
        let forest = self.forest.to_str().expect("utf-8");
        let mut args = vec![
            "cloud-init",
            "--url",
            &url,
            "--key",
            key.to_str().expect("utf-8"),
            "--forest",
            forest,
            "--server-name",
            &node.name,
        ];
        args.extend(extra.iter().map(String::as_str));
        self.project.ok(&args)
    }

    /// The user-data of `node` as seed, the repository not served (yet).
    pub fn seed_only(&self, node: &mut Node, user_data: &str) {
        node.write(
            "/var/lib/cloud/seed/nocloud/user-data",
            user_data.as_bytes(),
        );
        node.write(
            "/var/lib/cloud/seed/nocloud/meta-data",
            format!("instance-id: {0}\nlocal-hostname: {0}\n", node.name).as_bytes(),
        );
    }

    /// cloud-init finished, and the node is closed: its cluster.conf lists the routes and
    /// its trust package is installed.
    fn check_installed(&self, node: &Node) {
        let (ok, status) = node.run(&["cloud-init", "status", "--long"]);
        assert!(
            ok && status.contains("status: done"),
            "[{}] cloud-init:\n{status}\n{}",
            node.name,
            node.run(&["tail", "-n", "60", "/var/log/cloud-init-output.log"])
                .1
        );
        let cluster_conf = node.read("/etc/nimsforest/cluster.conf");
        let node_info = node.read("/etc/morpheus/node-info.json");
        for route in self
            .routes
            .iter()
            .filter(|r| node_info.contains(r.as_str()))
        {
            assert!(cluster_conf.contains(route.as_str()), "{cluster_conf}");
        }
        assert_eq!(
            node_info.contains("\"role\": \"core\""),
            node.name == "node2",
            "{node_info}"
        );
        assert!(
            cluster_conf.contains("verify_and_map: true")
                && cluster_conf.contains("pinned_certs: $FOREST_PINS"),
            "[{}] not closed:\n{cluster_conf}",
            node.name
        );
        node.ok(&["dpkg", "-s", &format!("nimsforest-forest-{FOREST}")]);
    }

    /// What the nodes' timer does, started at once instead of waiting for it (the test
    /// says so): each node takes the newest trust package from the repository and applies
    /// it with a reload. Returns, for each node, how long from now until its server
    /// reported the forest's current trust version.
    pub fn apply_trust(&self, nodes: &[usize]) -> Vec<Duration> {
        let want = self.trust_version();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for &i in nodes {
                let node = &self.nodes[i];
                scope.spawn(move || {
                    node.ok(&["systemctl", "start", "nimsforest-forest-update.service"]);
                });
            }
        });
        nodes
            .iter()
            .map(|&i| {
                let node = &self.nodes[i];
                wait_for(Duration::from_secs(120), || {
                    (trust_of(node) == Some(want)).then(|| started.elapsed())
                })
                .unwrap_or_else(|| {
                    panic!(
                        "[{}] did not apply trust version {want} (has {:?}):\n{}",
                        node.name,
                        trust_of(node),
                        node.run(&[
                            "journalctl",
                            "-u",
                            "nimsforest-forest-update",
                            "--no-pager",
                            "-n",
                            "40"
                        ])
                        .1
                    )
                })
            })
            .collect()
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(tls_url).collect()
    }

    /// The forest's application user.
    pub fn app(&self) -> ClientTls {
        ClientTls::user(&self.forest, "app")
    }

    pub fn client(&self, i: usize) -> Nats {
        let urls = [tls_url(&self.nodes[i])];
        wait_for(Duration::from_secs(30), || {
            Nats::connect_with(&urls, Some(&self.app())).ok()
        })
        .unwrap_or_else(|| panic!("no client connection to {urls:?}"))
    }

    /// Every node routes to every other, and all agree on one meta leader of as many peers
    /// as there are nodes.
    pub fn formed(&self) -> Result<(), String> {
        let mut leaders = Vec::new();
        for node in &self.nodes {
            let mut peers = route_names(node)?;
            peers.sort();
            peers.dedup();
            let others: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.name != node.name)
                .map(|n| n.name.clone())
                .collect();
            if peers != others {
                return Err(format!("{} routes to {peers:?}", node.name));
            }
            let jsz = monitor(node, "/jsz")?;
            let meta = &jsz["meta_cluster"];
            let leader = meta["leader"].as_str().unwrap_or_default().to_string();
            let size = meta["cluster_size"].as_u64().unwrap_or(0);
            if leader.is_empty() || size != self.nodes.len() as u64 {
                return Err(format!("{}: meta cluster {meta}", node.name));
            }
            leaders.push(leader);
        }
        leaders.dedup();
        if leaders.len() != 1 {
            return Err(format!("meta leaders disagree: {leaders:?}"));
        }
        Ok(())
    }

    pub fn wait_until_formed(&self) {
        if wait_for(Duration::from_secs(120), || self.formed().ok()).is_none() {
            panic!("the cluster did not form: {:?}", self.formed());
        }
    }

    /// Waits until every node's replica of STREAM holds `last` as its last sequence.
    pub fn wait_until_replicas_at(&self, last: u64) {
        let caught_up = wait_for(Duration::from_secs(120), || {
            let seqs: Vec<Option<u64>> = self.nodes.iter().map(replica_last_seq).collect();
            seqs.iter().all(|s| *s == Some(last)).then_some(())
        });
        if caught_up.is_none() {
            let seqs: Vec<_> = self.nodes.iter().map(replica_last_seq).collect();
            panic!("replicas of {STREAM} did not reach {last}: {seqs:?}");
        }
    }
}

/// The trust version a node's server applied (its /varz metadata), if it answers.
pub fn trust_of(node: &Node) -> Option<u64> {
    let varz = monitor(node, "/varz").ok()?;
    varz["metadata"]["nimsforest_trust"].as_str()?.parse().ok()
}

/// A node's client port, over TLS (a closed forest's clients use no other).
pub fn tls_url(node: &Node) -> String {
    format!("tls://{}:4222", node.address)
}

/// A monitoring endpoint of a node, as JSON.
pub fn monitor(node: &Node, path: &str) -> Result<Value, String> {
    let (code, body) = node.http_get(&format!("http://127.0.0.1:8222{path}"));
    if code != 200 {
        return Err(format!("{} {path}: {code} {body}", node.name));
    }
    serde_json::from_str(&body).map_err(|e| format!("{} {path}: {e}", node.name))
}

/// The server names a node has routes to.
pub fn route_names(node: &Node) -> Result<Vec<String>, String> {
    let routez = monitor(node, "/routez")?;
    Ok(routez["routes"]
        .as_array()
        .map(|routes| {
            routes
                .iter()
                .filter_map(|r| r["remote_name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The last sequence of this node's own replica of STREAM.
fn replica_last_seq(node: &Node) -> Option<u64> {
    let jsz = monitor(node, "/jsz?streams=true").ok()?;
    jsz["account_details"]
        .as_array()?
        .iter()
        .flat_map(|account| {
            account["stream_detail"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|stream| stream["name"] == STREAM)
        .and_then(|stream| stream["state"]["last_seq"].as_u64())
}

/// Publishes `id` until it is acknowledged (a retry of a stored id is deduplicated);
/// returns its sequence.
fn publish_until_acknowledged(client: &Nats, id: u64) -> u64 {
    let payload = format!("event {id}");
    let done = wait_for(Duration::from_secs(60), || {
        client
            .publish_with_id(
                "events.new",
                &id.to_string(),
                payload.as_bytes(),
                Duration::from_secs(2),
            )
            .ok()
    });
    done.unwrap_or_else(|| panic!("event {id} was never acknowledged"))
        .0
}

pub fn payloads(range: std::ops::RangeInclusive<u64>) -> Vec<Vec<u8>> {
    range.map(|i| format!("event {i}").into_bytes()).collect()
}

pub fn journal(node: &Node) -> String {
    node.run(&[
        "journalctl",
        "-u",
        "nimsforest-nats",
        "--no-pager",
        "-n",
        "30",
    ])
    .1
}

#[test]
fn three_nodes_form_a_cluster_survive_losing_one_and_a_broken_cluster_conf() {
    let (cluster, formed) = Cluster::form(None);
    eprintln!("formation: {formed:.1?}");
    for node in &cluster.nodes {
        assert_eq!(crate::install::varz(node, "version"), NEW);
        let cluster_name = monitor(node, "/varz").expect("varz")["cluster"]["name"].clone();
        assert_eq!(cluster_name, FOREST, "[{}]", node.name);
    }

    // 1. An R3 stream created through node1, written through node2, read through node3.
    let (c1, c2, c3) = (cluster.client(0), cluster.client(1), cluster.client(2));
    c1.create_stream(STREAM, &["events.>"], 3)
        .expect("create R3 stream");
    for id in 1..=50 {
        assert_eq!(publish_until_acknowledged(&c2, id), id);
    }
    assert_eq!(
        c3.read_stream(STREAM).expect("read via node3"),
        payloads(1..=50)
    );
    cluster.wait_until_replicas_at(50);
    drop((c1, c2, c3));

    // `forest status`, from the operator's machine through node2: every node, one verdict.
    let (code, report) = cluster.status(&cluster.nodes[1], false);
    eprintln!("forest status, exit {code}:\n{report}");
    assert_eq!(code, 0, "{report}");
    assert!(report.contains(": healthy: 3 nodes answer"), "{report}");
    let (_, json) = cluster.status(&cluster.nodes[1], true);
    let json: serde_json::Value = serde_json::from_str(&json).expect("--json");
    let nodes = json["nodes"].as_array().expect("nodes");
    for (node, reported) in cluster.nodes.iter().zip(nodes) {
        assert_eq!(reported["name"], node.name.as_str());
        assert_eq!(reported["version"], NEW, "{reported}");
        assert_eq!(reported["routes"], 2, "{reported}");
        assert_eq!(reported["health"], "ok", "{reported}");
        assert_eq!(
            reported["trust_version"],
            cluster.trust_version(),
            "{reported}"
        );
    }
    let leaders = nodes.iter().filter(|n| n["jetstream"] == "leader").count();
    assert_eq!(leaders, 1, "{json}");

    // 2. Node loss: node3's server stops; the other two keep the stream writable and
    // readable; node3 catches up when it is back.
    let node3 = &cluster.nodes[2];
    node3.ok(&["systemctl", "stop", "nimsforest-nats"]);
    let (code, report) = cluster.status(&cluster.nodes[0], false);
    eprintln!("forest status with node3 stopped, exit {code}:\n{report}");
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("degraded: node3 does not answer"),
        "{report}"
    );
    let (code, report) = cluster.status(node3, false);
    eprintln!("forest status through node3 alone, exit {code}:\n{report}");
    assert_eq!(code, 2, "{report}");
    assert!(report.contains(": unreachable: "), "{report}");
    let (c1, c2) = (cluster.client(0), cluster.client(1));
    for id in 51..=75 {
        assert_eq!(publish_until_acknowledged(&c1, id), id);
    }
    assert_eq!(
        c2.read_stream(STREAM).expect("read via node2"),
        payloads(1..=75)
    );
    node3.ok(&["systemctl", "start", "nimsforest-nats"]);
    cluster.wait_until_replicas_at(75);
    cluster.wait_until_formed();
    drop((c1, c2));

    // 4. A broken cluster.conf: node3 fails its config check and stays down; the cluster
    // goes on without it.
    let good = node3.read("/etc/nimsforest/cluster.conf");
    node3.write(
        "/etc/nimsforest/cluster.conf",
        format!("{good}\ncluster {{\n    routes: [\n").as_bytes(),
    );
    let (ok, out) = node3.run(&["systemctl", "restart", "nimsforest-nats"]);
    assert!(!ok, "node3 restarted with a broken cluster.conf:\n{out}");
    assert_ne!(
        node3.systemctl_state("is-active", "nimsforest-nats"),
        "active"
    );
    let log = journal(node3);
    assert!(
        log.contains("error parsing include file 'cluster.conf'"),
        "the config check did not say what is wrong:\n{log}"
    );
    eprintln!("node3 with a broken cluster.conf:\n{log}");
    let (c1, c2) = (cluster.client(0), cluster.client(1));
    for id in 76..=85 {
        assert_eq!(publish_until_acknowledged(&c1, id), id);
    }
    assert_eq!(
        c2.read_stream(STREAM).expect("read via node2"),
        payloads(1..=85)
    );
    drop((c1, c2));
    // Fixed, node3 rejoins and catches up.
    node3.write("/etc/nimsforest/cluster.conf", good.as_bytes());
    node3.ok(&["systemctl", "reset-failed", "nimsforest-nats"]);
    node3.ok(&["systemctl", "restart", "nimsforest-nats"]);
    cluster.wait_until_replicas_at(85);
    cluster.wait_until_formed();
}
