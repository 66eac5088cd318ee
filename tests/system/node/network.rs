//! The private network nodes live on: a bridge and a network namespace per node.

use std::sync::atomic::{AtomicU32, Ordering};

use super::rootfs::require_system;
use crate::harness::*;

/// A bridge on the host (the private network) with one network namespace per node, each
/// joined to the bridge by a veth pair. Addresses are 10.<a>.<b>.0/24: the host is .1, the
/// nodes .2 and up.
pub struct Network {
    id: String,
    subnet: String,
    bridge: String,
    namespaces: Vec<String>,
}

impl Network {
    pub fn new() -> Self {
        require_system();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        // Interface names have at most 15 bytes.
        let id = format!("nf{:05}{n:02}", pid % 100_000);
        let index = (pid as usize * 37 + n as usize) % (250 * 200);
        let subnet = format!("10.{}.{}", 20 + index / 250, index % 250 + 1);
        let bridge = format!("{id}b");
        let network = Self {
            id,
            subnet,
            bridge,
            namespaces: Vec::new(),
        };
        ip(&["link", "add", &network.bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", network.subnet),
            "dev",
            &network.bridge,
        ]);
        ip(&["link", "set", &network.bridge, "up"]);
        network
    }

    /// The address the next node (or namespace) on this network gets.
    pub fn next_address(&self) -> String {
        format!("{}.{}", self.subnet, self.namespaces.len() + 2)
    }

    /// An address on this network that no node has: a peer that is down.
    pub fn unused_address(&self) -> String {
        format!("{}.250", self.subnet)
    }

    /// A new namespace on the bridge: (its name, its address).
    pub fn add_namespace(&mut self) -> (String, String) {
        let i = self.namespaces.len();
        let name = format!("{}n{i}", self.id);
        let address = format!("{}.{}", self.subnet, i + 2);
        ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        let veth = format!("{}v{i}", self.id);
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        ip(&["link", "set", &veth, "master", &self.bridge, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        (name, address)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for (i, ns) in self.namespaces.iter().enumerate() {
            let _ = tool("ip", &["link", "del", &format!("{}v{i}", self.id)]);
            let _ = tool("ip", &["netns", "del", ns]);
        }
        let _ = tool("ip", &["link", "del", &self.bridge]);
    }
}

fn ip(args: &[&str]) {
    tool_ok("ip", args);
}
