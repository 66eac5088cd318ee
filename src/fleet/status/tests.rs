//! The verdict's rules, on answers shaped as nats-server 2.15 gives them (the hermetic
//! and system tests ask real servers).

use super::*;

const NOW: i64 = 1_800_000_000; // 2027-01-15
const NODES: [&str; 3] = ["n1", "n2", "n3"];

fn nodes() -> Vec<String> {
    NODES.iter().map(|n| n.to_string()).collect()
}

/// Three healthy nodes, n1 the meta leader and the leader of stream ORDERS.
fn healthy() -> Answers {
    let mut a = Answers::default();
    for name in NODES {
        a.varz.insert(
            name.into(),
            json!({
                "version": "2.15.1", "uptime": "1h2m", "metadata": {"nimsforest_trust": "7"},
                "cluster": {"name": "f"},
                "tls_cert_not_after": "2027-12-01T00:00:00Z"
            }),
        );
        let others: Vec<Value> = NODES
            .iter()
            .filter(|n| **n != name)
            .flat_map(|n| [json!({"remote_name": n}), json!({"remote_name": n})])
            .collect();
        a.routez.insert(name.into(), json!({ "routes": others }));
        a.healthz.insert(name.into(), json!({"status": "ok"}));
        let mut meta = json!({"leader": "n1", "cluster_size": 3});
        if name == "n1" {
            meta["replicas"] = json!([
                {"name": "n2", "current": true, "lag": 0},
                {"name": "n3", "current": true, "lag": 0}
            ]);
        }
        a.jsz.insert(
            name.into(),
            json!({
                "meta_cluster": meta,
                "account_details": [{"name": "FOREST", "stream_detail": [{
                    "name": "ORDERS",
                    "cluster": {"leader": "n1", "replicas": [
                        {"name": "n2", "current": true, "lag": 0},
                        {"name": "n3", "current": true, "lag": 0}
                    ]}
                }]}]
            }),
        );
    }
    a
}

#[test]
fn a_healthy_forest_has_every_field() {
    let status = assess("f", 7, &nodes(), &[], &healthy(), NOW);
    assert_eq!(status.verdict, Verdict::Healthy, "{:?}", status.problems);
    assert!(status.notes.is_empty(), "{:?}", status.notes);
    let n1 = &status.nodes[0];
    assert_eq!(
        (n1.version.as_deref(), n1.routes, n1.jetstream.as_deref()),
        (Some("2.15.1"), Some(2), Some("leader"))
    );
    assert_eq!(status.nodes[2].jetstream.as_deref(), Some("follower"));
    assert_eq!(status.nodes[2].current, Some(true));
    assert_eq!(n1.trust_version, Some(7));
    assert_eq!(n1.certificate_days_left, Some(319));
    let text = render(&status);
    assert!(
        text.starts_with("forest f (trust version 7): healthy"),
        "{text}"
    );
    assert!(
        text.contains("2/2") && text.contains("2027-12-01 (319 days)"),
        "{text}"
    );
}

#[test]
fn a_silent_node_a_lagging_peer_and_a_stale_replica_degrade_it() {
    let mut a = healthy();
    a.varz.remove("n3");
    a.jsz.get_mut("n1").unwrap()["meta_cluster"]["replicas"][0] =
        json!({"name": "n2", "current": false, "lag": 12});
    a.jsz.get_mut("n1").unwrap()["account_details"][0]["stream_detail"][0]["cluster"]["replicas"]
        [1] = json!({"name": "n3", "current": false, "offline": true, "lag": 40});
    a.healthz.insert(
        "n2".into(),
        json!({"status": "unavailable", "error": "JetStream is not current with the meta leader"}),
    );
    let status = assess("f", 7, &nodes(), &[], &a, NOW);
    assert_eq!(status.verdict, Verdict::Degraded);
    assert_eq!(status.verdict.exit_code(), 1);
    let problems = status.problems.join("\n");
    for expected in [
        "n3 does not answer",
        "n2 is not healthy: JetStream is not current with the meta leader",
        "n2 is behind the JetStream meta leader by 12 entries",
        "stream ORDERS (FOREST): replica n3 is offline",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }
    assert!(render(&status).contains("n3               no answer"));
}

#[test]
fn missing_routes_no_leader_and_an_expiring_certificate_degrade_it() {
    let mut a = healthy();
    a.routez
        .insert("n2".into(), json!({"routes": [{"remote_name": "n1"}]}));
    for jsz in a.jsz.values_mut() {
        jsz["meta_cluster"] = json!({"cluster_size": 3});
    }
    a.varz.get_mut("n3").unwrap()["tls_cert_not_after"] = json!("2027-01-25T00:00:00Z");
    let status = assess("f", 7, &nodes(), &[], &a, NOW);
    let problems = status.problems.join("\n");
    for expected in [
        "n2 has routes to 1 of the 2 other nodes of its cluster",
        "JetStream has no meta leader",
        "n3's certificate expires in 9 days: `forest renew`",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not in:\n{problems}"
        );
    }
}

/// A trust change or an upgrade on its way is noted, not a fault.
#[test]
fn a_rollout_in_progress_is_a_note() {
    let mut a = healthy();
    a.varz.get_mut("n2").unwrap()["metadata"]["nimsforest_trust"] = json!("6");
    a.varz.get_mut("n3").unwrap()["version"] = json!("2.14.6");
    a.varz.insert("old".into(), json!({"version": "2.15.1"}));
    let status = assess("f", 7, &nodes(), &[], &a, NOW);
    assert_eq!(status.verdict, Verdict::Healthy, "{:?}", status.problems);
    let notes = status.notes.join("\n");
    assert!(notes.contains("n2 applied trust version 6 of 7"), "{notes}");
    assert!(
        notes.contains("different versions: 2.14.6, 2.15.1"),
        "{notes}"
    );
    assert!(
        notes.contains("old answers but is no trusted node"),
        "{notes}"
    );
}

/// Two clusters joined by a gateway: routes are counted within each; a leaf node is seen
/// through the core node it connects to, and degrades the forest while its link is down.
#[test]
fn clusters_count_their_own_routes_and_leaf_nodes_are_seen_through_the_core() {
    let mut a = healthy();
    a.varz.get_mut("n3").unwrap()["cluster"]["name"] = json!("east");
    for name in ["n1", "n2"] {
        a.routez.insert(
            name.into(),
            json!({"routes": [{"remote_name": if name == "n1" { "n2" } else { "n1" }}]}),
        );
    }
    a.routez.insert("n3".into(), json!({"routes": []}));
    a.leafz.insert(
        "n2".into(),
        json!({"leafs": [{"name": "edge1", "account": "FOREST", "rtt": "1.2ms"}]}),
    );
    let leaves = vec!["edge1".to_string()];
    let status = assess("f", 7, &nodes(), &leaves, &a, NOW);
    assert_eq!(status.verdict, Verdict::Healthy, "{:?}", status.problems);
    let text = render(&status);
    assert!(
        text.contains("edge1            leaf node, connected to n2 (rtt 1.2ms)"),
        "{text}"
    );
    assert!(text.contains("1 leaf nodes connected"), "{text}");
    assert_eq!(status.nodes[2].cluster.as_deref(), Some("east"));
    assert!(text.contains(" 0/0 "), "{text}");

    a.leafz.clear();
    let status = assess("f", 7, &nodes(), &leaves, &a, NOW);
    assert_eq!(status.verdict, Verdict::Degraded);
    assert_eq!(
        status.problems,
        ["leaf node edge1 is not connected to the core"]
    );
    assert!(render(&status).contains("edge1            leaf node, not connected"));
}
