//! 10. RPM: no RPM-based distro image is to be had here, so a booted Debian node with
//!     Debian's rpm and dnf installs the signed RPM from the dnf repository, with gpgcheck
//!     and repo_gpgcheck on: the scriptlets create the user and directories and start the
//!     service; an upgrade over a locally edited nats.conf keeps it and writes .rpmnew;
//!     erase leaves the config as .rpmsave and the data in place.
//!
//! What this covers and what only a real RHEL/Fedora covers is in docs/tests.md.

use super::*;
use crate::fixture::rpm::*;

#[test]
fn rpm_install_upgrade_and_erase_with_debian_rpm_and_dnf() {
    let repo = repository();
    let mut network = Network::new();
    let mut node = Node::boot(&RPM_NODE.cached(), &mut network, "rpm1");
    node.serve(&repo.public, REPO_PORT);
    node.write(
        "/etc/yum.repos.d/nimsforest.repo",
        &std::fs::read(repo.public.join("nimsforest.repo")).expect("nimsforest.repo"),
    );
    let repo_file = node.read("/etc/yum.repos.d/nimsforest.repo");
    for setting in ["gpgcheck=1", "repo_gpgcheck=1", "gpgkey="] {
        assert!(
            repo_file.contains(setting),
            "{setting} missing:\n{repo_file}"
        );
    }
    node.write("/root/debian-base-provides.rpm", base_provides_rpm());
    node.ok(&["rpm", "--initdb"]);
    node.ok(&[
        "rpm",
        "-i",
        "--force-debian",
        "/root/debian-base-provides.rpm",
    ]);

    // Install the older version; dnf fetches and imports the key itself (the repository
    // metadata signature, then the package signature).
    let out = dnf(&node, &["install", &format!("nimsforest-nats-{OLD}")], &[]);
    eprintln!("dnf install:\n{out}");
    assert!(out.contains("Importing GPG key"), "{out}");
    assert!(out.contains("Key imported successfully"), "{out}");
    node.ok(&["rpm", "-q", "gpg-pubkey"]);
    let verify = node.ok(&["rpm", "-V", "nimsforest-nats"]);
    assert_eq!(verify.trim(), "", "rpm -V after install");

    let passwd = node.ok(&["getent", "passwd", "nimsforest"]);
    assert!(
        passwd.contains(":/var/lib/nimsforest:/usr/sbin/nologin"),
        "{passwd}"
    );
    for (path, expected) in [
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
            "/var/lib/nimsforest/jetstream",
            "nimsforest:nimsforest 750 directory",
        ),
        ("/var/log/nimsforest", "nimsforest:nimsforest 750 directory"),
    ] {
        assert_eq!(stat(&node, path), expected, "{path}");
    }
    assert_running(&node);
    // Upgrade over a local edit: kept, the new default beside it as .rpmnew.
    let before = prepare_upgrade(&node, 20);
    dnf(
        &node,
        &["upgrade", "nimsforest-nats"],
        &["/etc/nimsforest/nats.conf created as /etc/nimsforest/nats.conf.rpmnew"],
    );
    // dnf returned once the restarted server was healthy: the unit's gate said so.
    assert_eq!(node.http_get("http://127.0.0.1:8222/healthz").0, 200);
    let journal = node
        .run(&["journalctl", "-u", "nimsforest-nats", "--no-pager"])
        .1;
    let gate: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("nimsforest-nats-ready: ready after"))
        .collect();
    eprintln!("the gate on install and upgrade:\n{}", gate.join("\n"));
    assert!(gate.len() >= 2, "{journal}");

    assert!(
        node.read("/etc/nimsforest/nats.conf.rpmnew")
            .contains("(A later package revision changed this file.)"),
        "nats.conf.rpmnew is not the new default"
    );
    assert_upgraded(&node, &before);

    // Erase: config saved as .rpmsave, data and account kept, nothing running.
    let data = snapshot(&node.host_path("/var/lib/nimsforest/jetstream"));
    dnf(
        &node,
        &["remove", "nimsforest-nats"],
        &["/etc/nimsforest/nats.conf saved as /etc/nimsforest/nats.conf.rpmsave"],
    );
    assert_eq!(
        node.systemctl_state("is-active", "nimsforest-nats.service"),
        "inactive"
    );
    assert_eq!(node.read("/etc/nimsforest/nats.conf.rpmsave"), before.conf);
    assert!(!node.host_path("/etc/nimsforest/nats.conf").exists());
    assert!(
        !node.host_path("/opt/nimsforest/bin/nats-server").exists(),
        "binary left"
    );
    assert_stream_files_kept(&node, &data);
    node.ok(&["getent", "passwd", "nimsforest"]);
    assert_no_server_process(&node, "erase");
}
