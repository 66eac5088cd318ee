//! A closed forest on loopback (`local_forest`): its own nodes form a route and its users
//! get in; strangers are refused, each with the server's log line; and every change of
//! the forest (renewal, revocation) reaches a running server as a new trust package and a
//! reload. (tests/system/trust.rs
//! proves the same on booted nodes that take the packages from the repository.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::harness::*;
use crate::local_forest::*;
use crate::nats::{ClientTls, Nats};

#[test]
fn a_closed_forest_lets_in_its_own_nodes_and_users_and_no_one_else() {
    let project = Project::new();
    let forest = TestForest::new(&project, "ours", "forest-1", &["node1", "node2"]);
    let ours = forest.dir.clone();
    let theirs = TestForest::new(&project, "theirs", "forest-2", &[]).dir;
    // An impostor forest of the same name, made by the same tool: its CA has the name of
    // ours, not its key.
    let impostor = TestForest::new(&project, "impostor", "forest-1", &["node1"]);
    let trust = project.path().join("trust");
    install_trust(&trust, &forest.deb());

    let ports = [free_port(), free_port()];
    let node1 = Server::start(
        "node1",
        "forest-1",
        &trust,
        &forest.key("node1"),
        ports[0],
        &ports,
    );
    let node2 = Server::start(
        "node2",
        "forest-1",
        &trust,
        &forest.key("node2"),
        ports[1],
        &ports,
    );
    let formed = wait_for(Duration::from_secs(30), || {
        (node1.routes() == ["node2"] && node2.routes() == ["node1"]).then_some(())
    });
    assert!(
        formed.is_some(),
        "no route: {:?} {:?}\nnode1:\n{}\nnode2:\n{}",
        node1.routes(),
        node2.routes(),
        node1.log(),
        node2.log()
    );

    // The forest's users get in, on either node, and messages cross the route.
    let app = Nats::connect_with(&[node1.url()], Some(&ClientTls::user(&ours, "app")))
        .expect("the app user connects");
    app.round_trip("orders.new").unwrap();
    let sys = Nats::connect_with(&[node2.url()], Some(&ClientTls::user(&ours, "sys")))
        .expect("the sys user connects");
    sys.round_trip("ops.check").unwrap();

    // An anonymous TLS client that trusts the forest CA but has no certificate.
    let anonymous = ClientTls {
        ca: ours.join("ca.pem"),
        cert: None,
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&anonymous)).err();
    assert!(refused.is_some(), "an anonymous client got in");
    node1.wait_for_log("client didn't provide a certificate");

    // Another forest's user (which knows our public CA).
    let stranger = ClientTls {
        ca: ours.join("ca.pem"),
        cert: ClientTls::user(&theirs, "app").cert,
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&stranger)).err();
    assert!(refused.is_some(), "another forest's user got in");
    node1.wait_for_log(
        "TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    );

    // A node's certificate is no user's.
    let posing = ClientTls {
        ca: ours.join("ca.pem"),
        cert: Some((
            ours.join("nodes/node2/node.pem"),
            ours.join("nodes/node2/node-key.pem"),
        )),
    };
    let refused = Nats::connect_with(&[node1.url()], Some(&posing)).err();
    assert!(refused.is_some(), "a node certificate got in as a client");
    // Pinned (the pins cover both ports), but its URI names no user: the authorization
    // refuses it.
    node1.wait_for_log("- authentication error");

    // A plaintext client: the server wants TLS before anything else.
    let mut plain = TcpStream::connect(("127.0.0.1", node1.client_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(plain.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    plain
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = reader.read_line(&mut answer);
    assert!(
        !answer.contains("PONG"),
        "a plaintext client was answered: {answer}"
    );
    // The server logs a plaintext probe only at debug level (it is what load balancers
    // send); its record of closed connections names it and why it was closed.
    let port = plain.local_addr().unwrap().port();
    let closed = wait_for(Duration::from_secs(30), || node1.closed_connection(port));
    assert_eq!(closed.as_deref(), Some("TLS Handshake Failure"));

    // A stranger server that knows the forest's name and its public CA, with the
    // impostor forest's certificate, dials node1's route port.
    const ROUTE_REFUSED: &str = "TLS route handshake error: tls: failed to verify certificate: \
                                 x509: certificate signed by unknown authority";
    let log_before = node1.log().matches(ROUTE_REFUSED).count();
    let impostor_trust = project.path().join("impostor-trust");
    install_trust(&impostor_trust, &impostor.deb());
    std::fs::copy(
        ours.join("ca.pem"),
        trust_dir(&impostor_trust).join("ca.pem"),
    )
    .unwrap();
    let intruder = Server::start(
        "node1",
        "forest-1",
        &impostor_trust,
        &impostor.key("node1"),
        free_port(),
        &[node1.cluster_port],
    );
    let refused_route = wait_for(Duration::from_secs(30), || {
        (node1.log().matches(ROUTE_REFUSED).count() > log_before).then_some(())
    });
    assert!(refused_route.is_some(), "node1 log:\n{}", node1.log());
    assert_eq!(node1.routes(), ["node2"]);
    assert!(intruder.routes().is_empty(), "{:?}", intruder.routes());
    eprintln!(
        "node1 refused:\n{}",
        node1
            .log()
            .lines()
            .filter(|l| l.contains("[ERR]") || l.contains("Violation") || l.contains("error"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A forest of one node (no routes in its node-info yet): closed all the same, its users
/// get in and no one else.
#[test]
fn a_closed_forest_of_one_node_serves_its_own_users() {
    let project = Project::new();
    let forest = TestForest::new(&project, "one", "forest-1", &["node1"]);
    let trust = project.path().join("trust");
    install_trust(&trust, &forest.deb());
    let node1 = Server::start(
        "node1",
        "forest-1",
        &trust,
        &forest.key("node1"),
        free_port(),
        &[],
    );
    let app = ClientTls::user(&forest.dir, "app");
    let client = Nats::connect_with(&[node1.url()], Some(&app)).expect("app connects");
    client.round_trip("one.check").expect("round trip");
    let anonymous = ClientTls {
        ca: forest.dir.join("ca.pem"),
        cert: None,
    };
    assert!(Nats::connect_with(&[node1.url()], Some(&anonymous)).is_err());
}

/// Every change of a forest reaches a running node as a new version of its trust package
/// and a reload: renewed certificates are presented, with no route and no client dropped;
/// a revoked node loses its routes and cannot come back; a revoked user's connection is
/// dropped and it cannot connect again.
#[test]
fn trust_changes_apply_with_a_reload() {
    let project = Project::new();
    let forest = TestForest::new(&project, "f", "forest-1", &["node1", "node2"]);
    // Each node has the trust package of its own (two machines).
    let trusts = [project.path().join("trust1"), project.path().join("trust2")];
    let install = |i: usize| install_trust(&trusts[i], &forest.deb());
    install(0);
    install(1);
    let ports = [free_port(), free_port()];
    let nodes = [
        Server::start(
            "node1",
            "forest-1",
            &trusts[0],
            &forest.key("node1"),
            ports[0],
            &ports,
        ),
        Server::start(
            "node2",
            "forest-1",
            &trusts[1],
            &forest.key("node2"),
            ports[1],
            &ports,
        ),
    ];
    let formed = wait_for(Duration::from_secs(30), || {
        (nodes[0].routes() == ["node2"] && nodes[1].routes() == ["node1"]).then_some(())
    });
    assert!(formed.is_some(), "no route:\n{}", nodes[0].log());
    let app = Nats::connect_with(
        &[nodes[0].url()],
        Some(&ClientTls::user(&forest.dir, "app")),
    )
    .expect("the app user connects");
    app.round_trip("orders.new").unwrap();
    let clients = nodes[0].connection_ids();

    // Renewed: the new certificates are presented on both ports; nothing was dropped.
    let ca = forest.dir.join("ca.pem");
    let user = forest.dir.join("users/sys");
    let (user_cert, user_key) = (user.join("user.pem"), user.join("user-key.pem"));
    let node2 = forest.dir.join("nodes/node2");
    let (node_cert, node_key) = (node2.join("node.pem"), node2.join("node-key.pem"));
    let presented = |port| nodes[0].presented_not_after(port, &ca, (&user_cert, &user_key));
    let before = presented(nodes[0].client_port);
    forest.ok(&project, &["renew", "--days", "30"]);
    install(0);
    install(1);
    nodes[0].reload();
    nodes[1].reload();
    let after = presented(nodes[0].client_port);
    assert!(
        after.starts_with("notAfter=") && after != before,
        "{before} -> {after}"
    );
    let on_routes =
        nodes[0].presented_not_after(nodes[0].cluster_port, &ca, (&node_cert, &node_key));
    assert_eq!(on_routes, after);
    assert_eq!(nodes[0].connection_ids(), clients, "a client was dropped");
    assert_eq!(nodes[0].routes(), ["node2"]);
    app.round_trip("orders.new").unwrap();
    eprintln!("renewed: {before} -> {after}, routes and clients kept");

    // node2 revoked: node1 applies it and drops node2's routes, which stay gone.
    forest.ok(&project, &["revoke", "node2"]);
    install(0);
    nodes[0].reload();
    let dropped = wait_for(Duration::from_secs(30), || {
        nodes[0].routes().is_empty().then_some(())
    });
    assert!(
        dropped.is_some(),
        "node1 kept node2's route:\n{}",
        nodes[0].log()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        nodes[0].routes().is_empty(),
        "node2 came back: {:?}",
        nodes[0].routes()
    );
    let refusals: Vec<String> = nodes[0]
        .log()
        .lines()
        .filter(|l| l.to_lowercase().contains("pinned"))
        .map(str::to_string)
        .collect();
    assert!(
        !refusals.is_empty(),
        "no pinned-certificate refusal:\n{}",
        nodes[0].log()
    );
    eprintln!("node2 revoked; node1 says:\n{}", refusals.join("\n"));

    // The app user revoked: its connection is dropped and it cannot connect again.
    forest.ok(&project, &["revoke", "app"]);
    install(0);
    nodes[0].reload();
    let gone = wait_for(Duration::from_secs(30), || {
        clients
            .iter()
            .all(|c| !nodes[0].connection_ids().contains(c))
            .then_some(())
    });
    assert!(gone.is_some(), "the revoked user is still connected");
    let again = Nats::connect_with(
        &[nodes[0].url()],
        Some(&ClientTls::user(&forest.dir, "app")),
    );
    assert!(again.is_err(), "a revoked user connected again");
    let sys = Nats::connect_with(
        &[nodes[0].url()],
        Some(&ClientTls::user(&forest.dir, "sys")),
    )
    .expect("the sys user still connects");
    sys.round_trip("ops.check").unwrap();
}

/// The forest commands as an operator meets them: keys never printed, nothing
/// overwritten unasked, and a forest that is neither given nor declared open refused.
#[test]
fn the_forest_commands_refuse_what_they_cannot_do() {
    let project = Project::new();
    let forest = TestForest::new(&project, "f", "f-1", &[]);
    let dir = forest.dir.clone();
    let d = dir.to_str().unwrap();
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("."), mode("ca-key.pem")), (0o700, 0o600));

    let (stderr, code) = project.fails(&["forest", "init", "--dir", d, "--forest-id", "f-1"]);
    assert!(stderr.contains("forest.toml: already exists"), "{stderr}");
    assert_eq!(code, 2);
    let out = forest.ok(&project, &["node", "--name", "n1", "--address", "10.0.0.1"]);
    assert!(!out.contains("PRIVATE KEY"), "{out}");
    assert!(out.contains("trust version 2: added node n1"), "{out}");
    let (stderr, code) = project.fails(&[
        "forest",
        "node",
        "--dir",
        d,
        "--name",
        "n1",
        "--address",
        "10.0.0.1",
    ]);
    assert!(
        stderr.contains("node n1: already has a key") && stderr.contains("forest renew n1"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&[
        "forest",
        "node",
        "--dir",
        d,
        "--name",
        "n1",
        "--address",
        "10.0.0.300",
    ]);
    assert!(stderr.contains("10.0.0.300"), "{stderr}");
    assert_eq!(code, 2);
    for (args, says) in [
        (vec!["revoke", "n1"], "last trusted node"),
        (vec!["revoke", "sys"], "last system user"),
        (vec!["revoke", "nobody"], "no node or user"),
        (vec!["renew", "--days", "4000"], "forest CA's notAfter"),
        (vec!["rotate-ca"], ""),
        (vec!["rotate-ca"], "--server"),
    ] {
        let mut all = vec!["forest", args[0], "--dir", d, "--out"];
        let out = forest.out.to_str().unwrap().to_string();
        all.push(&out);
        all.extend(&args[1..]);
        if says.is_empty() {
            project.ok(&all);
            continue;
        }
        let (stderr, code) = project.fails(&all);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(code, 2, "{args:?}");
    }
    let list = forest.ok(&project, &["list"]);
    assert!(
        list.contains("CA rotation at Trusted") && list.contains("node  n1"),
        "{list}"
    );

    let key = project.path().join("repo.asc");
    std::fs::write(
        &key,
        nimsforest_pkg::sign::keygen(
            "T <t@example.org>",
            nimsforest_pkg::sign::KeyAlgorithm::Ed25519,
            None,
        )
        .unwrap()
        .public_armored,
    )
    .unwrap();
    let k = key.to_str().unwrap();
    let base = [
        "cloud-init",
        "--url",
        "https://packages.example.org/nf",
        "--key",
        k,
    ];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let (stderr, code) = project.fails(&with(
        &base,
        &[
            "--forest-id",
            "f-1",
            "--route",
            "nats-route://10.0.0.1:6222",
        ],
    ));
    assert!(stderr.contains("a forest is closed"), "{stderr}");
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(&base, &["--forest", d, "--server-name", "n2"]));
    assert!(
        stderr.contains("node n2") && stderr.contains("forest node --name n2"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(
        &base,
        &["--forest", d, "--forest-id", "other", "--server-name", "n1"],
    ));
    assert!(stderr.contains("is the forest f-1"), "{stderr}");
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(
        &base,
        &["--forest", d, "--server-name", "n1", "--role", "leaf"],
    ));
    assert!(
        stderr.contains("--role leaf: node n1 is a core node of the forest f-1"),
        "{stderr}"
    );
    assert_eq!(code, 2);
    let (stderr, code) = project.fails(&with(
        &base,
        &["--forest", d, "--server-name", "n1", "--role", "hub"],
    ));
    assert!(stderr.contains("a node's role is core or leaf"), "{stderr}");
    assert_eq!(code, 2);
    let user_data = project.ok(&with(&base, &["--forest", d, "--server-name", "n1"]));
    let node_key = std::fs::read_to_string(dir.join("nodes/n1/node-key.pem")).unwrap();
    let ca_key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    assert!(
        user_data.contains(node_key.lines().nth(1).unwrap()),
        "the node's key is not in its user-data"
    );
    assert!(
        !user_data.contains(ca_key.lines().nth(1).unwrap()),
        "the CA key left the build machine"
    );
    assert!(
        user_data.contains("\"nimsforest-nats\", \"nimsforest-forest-f-1\"]\n"),
        "{user_data}"
    );
    let open = project.ok(&with(
        &base,
        &["--forest-id", "lab", "--insecure-open-forest"],
    ));
    assert!(open.contains("# INSECURE OPEN FOREST"), "{open}");
}
