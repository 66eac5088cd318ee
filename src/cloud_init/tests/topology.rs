//! Where a node stands in its forest, as node-info.json says it, and what cannot work.

use super::*;

/// A closed node of forest `f` with `topology`.
fn placed(topology: Topology, routes: &[&str]) -> CloudInit {
    let mut c = cfg();
    c.forest_id = Some("f".into());
    c.forest_secrets = Some(secrets());
    c.routes = routes.iter().map(|r| r.to_string()).collect();
    c.topology = topology;
    c
}

#[test]
fn a_leaf_node_and_a_core_node_with_gateways_say_so_in_node_info() {
    let leaf = Topology {
        role: Some(crate::forest::NodeRole::Leaf),
        hubs: vec!["nats-leaf://10.0.0.1:7777".into()],
        domain: Some("edge_1".into()),
        ..Topology::default()
    };
    assert_eq!(
        node_info_json(&placed(leaf, &[])).unwrap().unwrap(),
        "{\"forest_id\": \"f\", \"routes\": [], \"role\": \"leaf\", \
         \"hubs\": [\"nats-leaf://10.0.0.1:7777\"], \"domain\": \"edge_1\"}\n"
    );
    let explicit = Topology {
        role: Some(crate::forest::NodeRole::Core),
        ..Topology::default()
    };
    assert_eq!(
        node_info_json(&placed(explicit, &[])).unwrap().unwrap(),
        "{\"forest_id\": \"f\", \"routes\": [], \"role\": \"core\"}\n"
    );
    let gateways = Topology::parse_gateways(&[
        "east=nats://10.1.0.1:7222".into(),
        "east=nats://10.1.0.2:7222".into(),
        "south=nats://10.2.0.1:7222".into(),
    ])
    .unwrap();
    let core = Topology {
        cluster: Some("west".into()),
        gateways,
        ..Topology::default()
    };
    assert_eq!(
        node_info_json(&placed(core, &["nats-route://10.0.0.1:6222"]))
            .unwrap()
            .unwrap(),
        "{\"forest_id\": \"f\", \"routes\": [\"nats-route://10.0.0.1:6222\"], \
         \"cluster\": \"west\", \"gateways\": {\"east\": [\"nats://10.1.0.1:7222\", \
         \"nats://10.1.0.2:7222\"], \"south\": [\"nats://10.2.0.1:7222\"]}}\n"
    );
}

#[test]
fn a_topology_that_cannot_work_is_refused_with_the_setting_named() {
    use crate::forest::NodeRole::Leaf;
    let hub = || vec!["nats-leaf://10.0.0.1:7777".to_string()];
    let route = ["nats-route://10.0.0.1:6222"];
    let gateways = |v: &str| Topology::parse_gateways(&[v.to_string()]);
    let cases: Vec<(Topology, &[&str], &str)> = vec![
        (
            Topology {
                role: Some(Leaf),
                ..Default::default()
            },
            &[],
            "hub \"\": a leaf node needs",
        ),
        (
            Topology {
                role: Some(Leaf),
                hubs: hub(),
                ..Default::default()
            },
            &route,
            "route \"\": a leaf node joins no cluster",
        ),
        (
            Topology {
                role: Some(Leaf),
                hubs: hub(),
                cluster: Some("w".into()),
                ..Default::default()
            },
            &[],
            "cluster \"\": a leaf node",
        ),
        (
            Topology {
                role: Some(Leaf),
                hubs: vec!["nats://10.0.0.1:7777".into()],
                ..Default::default()
            },
            &[],
            "hub \"nats://10.0.0.1:7777\": must look like nats-leaf://host:7777",
        ),
        (
            Topology {
                role: Some(Leaf),
                hubs: vec!["nats-leaf://u:p@10.0.0.1:7777".into()],
                ..Default::default()
            },
            &[],
            "hub \"nats-leaf://u:***@10.0.0.1:7777\": must not carry credentials",
        ),
        (
            Topology {
                role: Some(Leaf),
                hubs: hub(),
                domain: Some("a.b".into()),
                ..Default::default()
            },
            &[],
            "JetStream domain \"a.b\"",
        ),
        (
            Topology {
                hubs: hub(),
                ..Default::default()
            },
            &route,
            "hubs are for leaf nodes",
        ),
        (
            Topology {
                domain: Some("d".into()),
                ..Default::default()
            },
            &route,
            "JetStream domain \"d\": a domain of its own",
        ),
        (
            Topology {
                cluster: Some("we st".into()),
                ..Default::default()
            },
            &route,
            "cluster \"we st\"",
        ),
        (
            Topology {
                gateways: gateways("east=nats://10.1.0.1:7222").unwrap(),
                ..Default::default()
            },
            &[],
            "gateways need the routes",
        ),
        (
            Topology {
                gateways: gateways("f=nats://10.1.0.1:7222").unwrap(),
                ..Default::default()
            },
            &route,
            "gateway \"f\": is this node's own cluster",
        ),
        (
            Topology {
                gateways: gateways("e\"x=nats://10.1.0.1:7222").unwrap(),
                ..Default::default()
            },
            &route,
            "gateway \"e\\\"x\"",
        ),
        (
            Topology {
                gateways: gateways("east=nats://10.1.0.1:7222\nruncmd: [x]").unwrap(),
                ..Default::default()
            },
            &route,
            "gateway \"nats://10.1.0.1:7222\\nruncmd: [x]\"",
        ),
    ];
    for (topology, routes, expected) in cases {
        let e = user_data(&placed(topology.clone(), routes))
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{topology:?}: {e}");
    }
    let e = gateways("nats://10.1.0.1:7222").unwrap_err().to_string();
    assert!(e.contains("must look like CLUSTER=nats://host:7222"), "{e}");
    let mut c = cfg();
    c.topology.role = Some(Leaf);
    let e = user_data(&c).unwrap_err().to_string();
    assert!(e.contains("need the forest id"), "{e}");
}
