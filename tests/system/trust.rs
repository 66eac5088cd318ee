//! Day two of a closed forest without logging into a node: every change of its trust
//! (certificates renewed, a new CA, a node added and removed, a node and a user revoked)
//! is a new version of the forest's trust package, published to the repository the nodes
//! read; each node takes it with its own update service and applies it with a reload.
//! Nothing is run inside a node but that service (started at once by the test instead
//! of waiting for its timer) and what reads the nodes' state. A publisher writes to an R3
//! stream with acknowledgements throughout each step; nothing acknowledged is lost.

use std::time::{Duration, Instant};

use crate::fixture::forest::*;
use crate::fixture::publisher::*;
use crate::fixture::repository::REPO_PORT;
use crate::harness::*;
use crate::nats::{certificate_field, presented_certificate, ClientTls, Nats};

const USER: &str = "ops";
/// How long node4's repository refuses connections after it boots.
const REPOSITORY_DOWN: Duration = Duration::from_secs(60);

fn seconds(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.1}s", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `forest SUBCOMMAND`, publish, and every listed node applies it; returns the times from
/// the publication to each node's applying it.
fn change(cluster: &Cluster, args: &[&str], nodes: &[usize]) -> Vec<Duration> {
    let out = cluster.forest_ok(args);
    let started = Instant::now();
    cluster.publish_trust();
    let applied = cluster.apply_trust(nodes);
    eprintln!(
        "{}: published in {:.1?}, applied on {nodes:?} after {}",
        out.lines()
            .find(|l| l.starts_with("trust version"))
            .unwrap_or_default(),
        started.elapsed(),
        seconds(&applied)
    );
    applied
}

/// The certificates node `i` presents on 4222 and 6222: (notAfter, issuer) of each.
fn presented(cluster: &Cluster, i: usize) -> [(String, String); 2] {
    let node = &cluster.nodes[i];
    let ca = cluster.forest.join("ca.pem");
    let user = cluster.forest.join("users/sys");
    let peer = cluster
        .forest
        .join(format!("nodes/{}", cluster.nodes[(i + 1) % 3].name));
    let on = |port, info_first, dir: &std::path::Path, kind: &str| {
        let (cert, key) = (
            dir.join(format!("{kind}.pem")),
            dir.join(format!("{kind}-key.pem")),
        );
        let pem = presented_certificate(&node.address, port, info_first, &ca, (&cert, &key));
        (
            certificate_field(&pem, "-enddate"),
            certificate_field(&pem, "-issuer"),
        )
    };
    [
        on(4222, true, &user, "user"),
        on(6222, false, &peer, "node"),
    ]
}

/// The notAfter of member `name`'s certificate in the forest directory.
fn issued(cluster: &Cluster, path: &str) -> String {
    let pem = std::fs::read_to_string(cluster.forest.join(path)).expect("certificate");
    certificate_field(&pem, "-enddate")
}

/// Runs `step` while a publisher writes to a stream of its own (R3) through the nodes
/// `through`, then checks that nothing acknowledged was lost; `reader` reads it back.
fn under_load(
    cluster: &Cluster,
    what: &str,
    stream: &str,
    through: &[usize],
    reader: usize,
    step: impl FnOnce(),
) {
    let subject = format!("{}.new", stream.to_lowercase());
    cluster
        .client(through[0])
        .create_stream(stream, &[&subject], 3)
        .expect("create R3 stream");
    let urls = through
        .iter()
        .map(|&i| tls_url(&cluster.nodes[i]))
        .collect();
    let publisher = Publisher::start_on(urls, cluster.app(), subject);
    std::thread::sleep(Duration::from_secs(2));
    step();
    std::thread::sleep(Duration::from_secs(2));
    let record = publisher.stop();
    assert_nothing_lost_in(cluster, &record, what, stream, reader);
}

#[test]
fn the_forest_changes_by_packages_without_logging_into_a_node() {
    let (mut cluster, formed) = Cluster::form(None);
    eprintln!("formation: {formed:.1?}");
    let all = [0, 1, 2];
    change(&cluster, &["user", "--name", USER], &all);

    // 1. Every node and user certificate renewed: the nodes present the new ones.
    under_load(&cluster, "renewal", "RENEWAL", &all, 2, || {
        let before: Vec<_> = (0..3).map(|i| presented(&cluster, i)).collect();
        change(&cluster, &["renew", "--days", "200"], &all);
        for (i, before) in before.iter().enumerate() {
            let name = &cluster.nodes[i].name;
            let now = presented(&cluster, i);
            let want = issued(&cluster, &format!("nodes/{name}/node.pem"));
            assert_eq!(now[0].0, want, "[{name}] 4222");
            assert_eq!(now[1].0, want, "[{name}] 6222");
            assert_ne!(now[0].0, before[0].0, "[{name}] still the old certificate");
            eprintln!("[{name}] presents {} (was {})", now[0].0, before[0].0);
        }
        cluster.wait_until_formed();
    });

    // 2. A new CA, in three steps, each applied everywhere before the next.
    under_load(&cluster, "CA rotation", "ROTATION", &all, 2, || {
        let server = format!("--server={}", tls_url(&cluster.nodes[0]));
        change(&cluster, &["rotate-ca"], &all);
        change(&cluster, &["rotate-ca", &server], &all);
        change(&cluster, &["rotate-ca", &server], &all);
        for i in 0..3 {
            let [(_, client_issuer), (_, route_issuer)] = presented(&cluster, i);
            assert!(client_issuer.ends_with("CA 2"), "{client_issuer}");
            assert!(route_issuer.ends_with("CA 2"), "{route_issuer}");
        }
        cluster.wait_until_formed();
        eprintln!(
            "every node presents a certificate of the new CA; the old one is trusted no more"
        );
    });

    // 3. node4 added to the running forest: it joins, and a new R3 stream goes on it.
    let mut node4 = crate::node::Node::create(&CLOUD_IMAGE.cached(), &mut cluster.network, "node4");
    change(
        &cluster,
        &["node", "--name", "node4", "--address", &node4.address],
        &all,
    );
    cluster
        .routes
        .push(format!("nats-route://{}:6222", node4.address));
    // Its repository refuses connections for its first minute: it installs and joins
    // once the repository is back, by itself.
    let user_data = cluster.user_data(&node4, None);
    cluster.seed_only(&mut node4, &user_data);
    let netns = node4.netns_path();
    let started = Instant::now();
    let server = std::thread::scope(|scope| {
        scope.spawn(|| node4.start());
        std::thread::sleep(REPOSITORY_DOWN);
        MirrorServer::start_in(&cluster.repo, REPO_PORT, Some(&netns))
    });
    node4.keep(server);
    let log = node4.read("/var/log/cloud-init-output.log");
    let attempts: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("nimsforest-install: "))
        .collect();
    eprintln!(
        "node4's first boot, its repository down for {REPOSITORY_DOWN:?}:\n{}",
        attempts.join("\n")
    );
    assert!(
        attempts.len() > 2 && attempts.last().is_some_and(|l| l.contains(": installed ")),
        "{log}"
    );
    cluster.nodes.push(node4);
    cluster.wait_until_formed();
    eprintln!(
        "node4 booted, installed and joined in {:.1?}",
        started.elapsed()
    );
    let client = cluster.client(3);
    let placed = (1..=6).find_map(|n| {
        let name = format!("PLACED{n}");
        client
            .create_stream(&name, &[&format!("placed{n}.>")], 3)
            .expect("R3 stream");
        let peers = client.stream_peers(&name).expect("peers");
        peers
            .contains(&"node4".to_string())
            .then_some((name, peers))
    });
    let (name, peers) = placed.expect("no R3 stream was placed on node4");
    eprintln!("R3 stream {name} on {peers:?}");
    drop(client);
    // ... and removed again: revoked, gone, its JetStream peer removed.
    change(&cluster, &["revoke", "node4"], &all);
    let mut node4 = cluster.nodes.pop().expect("node4");
    node4.destroy();
    let server = format!("--server={}", tls_url(&cluster.nodes[0]));
    cluster.forest_ok(&["remove", "node4", &server]);
    let gone = wait_for(Duration::from_secs(60), || {
        let jsz = monitor(&cluster.nodes[0], "/jsz").ok()?;
        let meta = &jsz["meta_cluster"];
        let peers: Vec<String> = meta["replicas"]
            .as_array()?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        (!peers.contains(&"node4".to_string()) && meta["cluster_size"] == 3).then_some(peers)
    });
    assert!(gone.is_some(), "node4 is still a peer of the meta group");
    eprintln!("node4 removed: the meta group's other peers {gone:?}");
    drop(node4);

    // 4. The ops user revoked: its connection is dropped and it cannot connect again, to
    // any node. Then node3: nodes 1 and 2 drop its routes within seconds of applying the
    // package, node3 cannot come back, and the stream stays writable and readable
    // through nodes 1 and 2.
    let ops = ClientTls::user(&cluster.forest, USER);
    let ops_client =
        Nats::connect_with(&[tls_url(&cluster.nodes[0])], Some(&ops)).expect("ops connects");
    ops_client.round_trip("ops.check").expect("round trip");
    under_load(&cluster, "revocation", "REVOCATION", &[0, 1], 1, || {
        change(&cluster, &["revoke", USER], &[0, 1, 2]);
        let dropped = wait_for(Duration::from_secs(60), || {
            (!ops_client.connected()).then_some(())
        });
        assert!(dropped.is_some(), "the revoked user is still connected");
        for node in &cluster.nodes {
            assert!(
                Nats::connect_with(&[tls_url(node)], Some(&ops)).is_err(),
                "the revoked user connected again to {}",
                node.name
            );
        }
        eprintln!("user {USER} revoked: its connection dropped, and it cannot connect again");

        let applied = change(&cluster, &["revoke", "node3"], &[0, 1]);
        let started = Instant::now();
        let dropped = wait_for(Duration::from_secs(60), || {
            (0..2)
                .all(|i| {
                    route_names(&cluster.nodes[i]).is_ok_and(|r| !r.contains(&"node3".to_string()))
                })
                .then(|| started.elapsed())
        })
        .expect("nodes 1 and 2 kept node3's routes");
        eprintln!(
            "node3 revoked: applied after {}, routes to node3 gone {dropped:.1?} later",
            seconds(&applied)
        );
        std::thread::sleep(Duration::from_secs(10));
        for i in 0..2 {
            let routes = route_names(&cluster.nodes[i]).expect("routez");
            assert!(
                !routes.contains(&"node3".to_string()),
                "node3 came back: {routes:?}"
            );
        }
        let log = cluster.nodes[0].read("/var/log/nimsforest/nats.log");
        let refused = log
            .lines()
            .filter(|l| l.contains("certificate not pinned"))
            .count();
        assert!(refused > 0, "node1 refused nothing");
        eprintln!("node1 refused node3 {refused} times: certificate not pinned");
    });
}
