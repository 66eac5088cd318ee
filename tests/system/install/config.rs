//! Install tests of a node's configuration: the cluster named in node-info.json and closed
//! with the forest's trust, an operator's own cluster.conf kept, and a broken nats.conf
//! refused by reload while the server keeps serving.

use std::time::Duration;

use super::fill_stream;
use crate::fixture::repository::*;
use crate::harness::*;
use crate::nats::Nats;
use crate::node::*;

#[test]
fn node_info_names_the_cluster_and_an_existing_cluster_conf_is_kept() {
    // What Morpheus writes itself before install, without cloud-init: node-info.json and
    // the node's key of its forest (made by `nimsforest-pkg forest`), root-only; the
    // forest's trust package comes from the repository with the server. cluster.conf then
    // names the cluster after the forest and closes it. The routes list every node of the
    // forest, this one included (the others are down).
    let mut network = Network::new();
    let project = Project::new();
    let address = network.next_address();
    let forest = project.path().join("forest-7");
    let dir = forest.to_str().expect("utf-8");
    let dist = project.path().join("trust");
    let out = dist.to_str().expect("utf-8");
    project.ok(&[
        "forest",
        "init",
        "--dir",
        dir,
        "--forest-id",
        "forest-7",
        "--out",
        out,
    ]);
    project.ok(&[
        "forest",
        "node",
        "--dir",
        dir,
        "--name",
        "node1",
        "--address",
        &address,
        "--out",
        out,
    ]);
    let public = project.path().join("repo");
    repository().copy_to(&public);
    repository().publish(&project, &dist, &public);
    let node = debian_node_of(
        &RootfsSpec::debian("bookworm"),
        &mut network,
        "node1",
        &public,
    );
    assert_eq!(node.address, address);
    apt(&node, &["update"]);
    let inside = "/etc/nimsforest/forest/node-key.pem";
    node.write(
        inside,
        &std::fs::read(forest.join("nodes/node1/node-key.pem")).expect("key"),
    );
    node.ok(&["chmod", "0600", inside]);
    let own = format!("nats-route://{}:6222", node.address);
    let down = format!("nats-route://{}:6222", network.unused_address());
    let node_info = format!(
        "{{\n  \"forest_id\": \"forest-7\",\n  \"node_id\": \"n-1\",\n  \"routes\": [\"{own}\", \"{down}\"]\n}}\n"
    );
    node.write("/etc/morpheus/node-info.json", node_info.as_bytes());
    apt(
        &node,
        &["install", "nimsforest-nats", "nimsforest-forest-forest-7"],
    );
    let cluster = node.read("/etc/nimsforest/cluster.conf");
    assert!(cluster.contains("name: \"forest-7\""), "{cluster}");
    assert!(cluster.contains(&own), "{cluster}");
    assert!(
        cluster.contains("user: \"urn:nimsforest:forest-7:route\"")
            && cluster.contains("verify_and_map: true"),
        "not closed:\n{cluster}"
    );
    // The key: the server's group may read it, nobody else; the trust is public.
    let modes = node.ok(&[
        "stat",
        "-c",
        "%n %U:%G %a",
        "/etc/nimsforest/forest",
        "/etc/nimsforest/forest/node-key.pem",
        "/usr/share/nimsforest/forest/forest.conf",
    ]);
    assert_eq!(
        modes,
        "/etc/nimsforest/forest root:nimsforest 750\n\
         /etc/nimsforest/forest/node-key.pem root:nimsforest 640\n\
         /usr/share/nimsforest/forest/forest.conf root:root 644\n"
    );
    assert_eq!(
        node.systemctl_state("is-enabled", "nimsforest-forest-update.timer"),
        "enabled"
    );
    // Its own user gets in over TLS; an anonymous client does not.
    let url = format!("tls://{}:4222", node.address);
    let user = crate::nats::ClientTls::user(&forest, "app");
    let client = wait_for(Duration::from_secs(60), || {
        Nats::connect_with(std::slice::from_ref(&url), Some(&user)).ok()
    })
    .expect("the forest's app user connects");
    client.round_trip("orders.new").expect("round trip");
    assert!(
        Nats::connect(&client_url(&node)).is_err(),
        "an anonymous client got in"
    );
    drop(client);
    assert_eq!(
        node.systemctl_state("is-active", "nimsforest-nats"),
        "active"
    );
    let varz_ok = wait_for(Duration::from_secs(60), || {
        let (code, body) = node.http_get("http://127.0.0.1:8222/varz");
        (code == 200).then_some(body)
    })
    .expect("/varz answers");
    let cluster_name = varz_ok
        .split("\"cluster\":")
        .nth(1)
        .and_then(|c| json_field(c, "name"))
        .unwrap_or_default();
    assert_eq!(cluster_name, "forest-7", "/varz: {varz_ok}");
    assert_eq!(varz(&node, "server_name"), "node1");
    apt(&node, &["purge", "nimsforest-nats"]);
    assert!(
        !node.host_path("/etc/nimsforest/forest").exists(),
        "the forest's secrets outlived the purge"
    );

    // An operator's cluster.conf before install: left untouched and used.
    let own_conf = "# Written by the operator.\nserver_name: \"operator-named\"\n";
    node.write("/etc/nimsforest/cluster.conf", own_conf.as_bytes());
    apt(&node, &["install", "nimsforest-nats"]);
    assert_eq!(node.read("/etc/nimsforest/cluster.conf"), own_conf);
    let client = wait_until_serving(&node);
    assert_eq!(client.server_name(), "operator-named");
}

// ---------------------------------------------------------------------------------------
// 8. Bad config

#[test]
fn reload_refuses_a_broken_config_and_the_server_keeps_serving() {
    let mut network = Network::new();
    let node = debian_node(&RootfsSpec::debian("bookworm"), &mut network, "node1");
    apt(&node, &["update"]);
    apt(&node, &["install", "nimsforest-nats"]);
    let client = wait_until_serving(&node);
    fill_stream(&client, 5);
    let pid = main_pid(&node);

    let mut conf = node.read("/etc/nimsforest/nats.conf");
    conf.push_str("\njetstream {\n    max_file_store: \"not a size\n");
    node.write("/etc/nimsforest/nats.conf", conf.as_bytes());
    let (ok, out) = node.run(&["systemctl", "reload", "nimsforest-nats"]);
    assert!(!ok, "reload accepted a broken config:\n{out}");
    let journal = node.ok(&[
        "journalctl",
        "-u",
        "nimsforest-nats",
        "--no-pager",
        "-n",
        "20",
    ]);
    assert!(
        // nats-server -t, run by ExecReload before it signals the server.
        journal.contains("nats-server: Parse error on line"),
        "the validation message is not in the journal:\n{journal}"
    );
    eprintln!("systemctl reload with a broken nats.conf:\n{out}\njournal:\n{journal}");

    assert_eq!(
        node.systemctl_state("is-active", "nimsforest-nats"),
        "active"
    );
    assert_eq!(main_pid(&node), pid, "the server was restarted");
    assert_eq!(
        client.publish("orders.new", b"after the failed reload"),
        Ok(6)
    );
    let (code, _) = node.http_get("http://127.0.0.1:8222/healthz?js-enabled-only=true");
    assert_eq!(code, 200);
}
