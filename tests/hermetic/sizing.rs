//! `assets/nimsforest-sizing` (the unit's ExecStartPre): the server sized to this
//! machine, node-info.json's overrides taken only when they are sizes, a GOMEMLIMIT from a
//! drop-in kept. The system tier fills a small store on a booted node.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;

fn sizing(dir: &Path, node_info: &str, gomemlimit: Option<&str>) -> Output {
    sizing_with(
        dir,
        node_info,
        gomemlimit.map(|g| ("NIMSFOREST_GOMEMLIMIT", g)),
    )
}

fn sizing_with(dir: &Path, node_info: &str, env: Option<(&str, &str)>) -> Output {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("node-info.json"), node_info).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(repo_root().join("assets/nimsforest-sizing"))
        .env("NIMSFOREST_ETC", dir.join("etc"))
        .env("NIMSFOREST_RUN", dir.join("run"))
        .env("NIMSFOREST_STORE", dir)
        .env("NODE_INFO", dir.join("node-info.json"))
        .env_remove("GOMEMLIMIT")
        .env_remove("NIMSFOREST_GOMEMLIMIT");
    if let Some((name, value)) = env {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

/// `name: VALUE` of sizing.conf (or `NAME=VALUE` of sizing.env) as a number.
fn setting(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim_start_matches([':', '=', ' ']))
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn the_server_is_sized_to_the_machine_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let out = sizing(dir.path(), "{\"forest_id\": \"f\"}", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read_to_string(dir.path().join("etc/sizing.conf")).unwrap();
    let env = std::fs::read_to_string(dir.path().join("run/sizing.env")).unwrap();
    // This process's own limits, as the script sees them.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap();
    let memory = total * 1024;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let limit = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .and_then(|g| std::fs::read_to_string(format!("/sys/fs/cgroup{g}/memory.max")).ok())
        .and_then(|m| m.trim().parse::<u64>().ok())
        .map_or(memory / 10 * 9, |m| m.min(memory));
    let df = tool_ok("df", &["-Pk", dir.path().to_str().unwrap()]);
    let filesystem: u64 = df
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024;
    eprintln!("memory {limit}, filesystem {filesystem}:\n{conf}{env}");
    assert_eq!(setting(&conf, "max_memory_store"), limit / 4);
    assert_eq!(setting(&conf, "max_file_store"), filesystem / 4 * 3);
    assert_eq!(setting(&env, "GOMEMLIMIT"), limit / 5 * 4);

    // A GOMEMLIMIT of an earlier start (the unit passes sizing.env to every command)
    // does not stick.
    let out = sizing_with(dir.path(), "{}", Some(("GOMEMLIMIT", "1000")));
    assert!(out.status.success());
    let env = std::fs::read_to_string(dir.path().join("run/sizing.env")).unwrap();
    assert_eq!(setting(&env, "GOMEMLIMIT"), limit / 5 * 4);

    // node-info.json's sizes win; a drop-in's NIMSFOREST_GOMEMLIMIT is GOMEMLIMIT.
    let out = sizing(
        dir.path(),
        "{\n \"forest_id\": \"f\",\n \"max_memory_store\": \"512MB\",\n \"max_file_store\": \"64MB\"\n}",
        Some("3GiB"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read_to_string(dir.path().join("etc/sizing.conf")).unwrap();
    assert_eq!(setting(&conf, "max_memory_store"), 512 << 20);
    assert_eq!(setting(&conf, "max_file_store"), 64 << 20);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("run/sizing.env")).unwrap(),
        format!("GOMEMLIMIT={}\n", 3u64 << 30)
    );
    let out = sizing(dir.path(), "{}", Some("lots"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NIMSFOREST_GOMEMLIMIT must be a size"));

    // Anything but a size is refused, naming the file and the key; nothing is written.
    for bad in [
        "64 MB",
        "-1",
        "0",
        "1PB",
        "64MB\\nmax_payload: 1",
        "99999999999999999999",
    ] {
        let out = sizing(
            dir.path(),
            &format!("{{\"max_file_store\": \"{bad}\"}}"),
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains("node-info.json: max_file_store must be a size"),
            "{bad}: {stderr}"
        );
        let conf = std::fs::read_to_string(dir.path().join("etc/sizing.conf")).unwrap();
        assert_eq!(setting(&conf, "max_file_store"), 64 << 20, "{bad}");
    }
}
