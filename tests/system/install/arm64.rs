//! 9. arm64: an arm64 node (mmdebstrap --arch=arm64, its binaries run by qemu-user-static
//!    through binfmt_misc) installs the arm64 .deb from the same repository, and its
//!    server answers a client.
//!
//! qemu-user emulates a CPU, not a kernel, and a few of the namespaces systemd sets up
//! for services fail under it. The drop-ins below switch those off for the emulated node
//! only; the amd64 tests run the unit as shipped. Seccomp settings (SystemCallFilter, ...)
//! are not enforced under qemu-user at all (systemd sees no seccomp), so the hardening
//! itself is covered by the amd64 tests, not by this one.

use super::*;

const ARM64: RootfsSpec = RootfsSpec {
    suite: "bookworm",
    arch: "arm64",
    // No ca-certificates: the repository is plain http, and its emulated postinst alone
    // takes about two minutes.
    include: &[],
    files: &[
        // LoadCredential= makes systemd mount credentials in a child with a new mount
        // namespace, which qemu-user refuses (243/CREDENTIALS); these units need none.
        (
            "/etc/systemd/system/systemd-sysusers.service.d/qemu-user.conf",
            "[Service]\nLoadCredential=\n",
        ),
        (
            "/etc/systemd/system/systemd-tmpfiles-setup.service.d/qemu-user.conf",
            "[Service]\nLoadCredential=\n",
        ),
        (
            "/etc/systemd/system/systemd-tmpfiles-setup-dev.service.d/qemu-user.conf",
            "[Service]\nLoadCredential=\n",
        ),
    ],
};

/// For the emulated node only: qemu-user cannot set up an IPC namespace (226/NAMESPACE),
/// and the kernel refuses a user namespace to a multi-threaded process, which every
/// qemu-user process is (217/USER).
const SERVICE_DROP_IN: &str = "[Service]\nPrivateIPC=no\nPrivateUsers=no\n";

/// ELF e_machine of AArch64.
const EM_AARCH64: u16 = 183;

#[test]
fn arm64_node_installs_the_arm64_package_and_serves_clients() {
    let mut network = Network::new();
    let node = debian_node(&ARM64, &mut network, "arm1");
    assert_eq!(node.ok(&["uname", "-m"]).trim(), "aarch64");
    assert_eq!(node.ok(&["dpkg", "--print-architecture"]).trim(), "arm64");
    node.write(
        "/etc/systemd/system/nimsforest-nats.service.d/qemu-user.conf",
        SERVICE_DROP_IN.as_bytes(),
    );

    apt(&node, &["update"]);
    let out = apt(&node, &["install", "nimsforest-nats"]);
    assert!(
        out.contains(&format!("nimsforest-nats arm64 {NEW}-1")),
        "the arm64 package was not the one installed:\n{out}"
    );
    let binary = std::fs::read(node.host_path("/opt/nimsforest/bin/nats-server")).expect("binary");
    assert_eq!(
        u16::from_le_bytes([binary[18], binary[19]]),
        EM_AARCH64,
        "the installed server is not an arm64 binary"
    );

    assert_running(&node);
    let client = Nats::connect(&client_url(&node)).expect("client");
    assert_eq!(client.server_version(), NEW);
    let sent = fill_stream(&client, 5);
    assert_eq!(client.read_stream("ORDERS").expect("read"), sent);
}
