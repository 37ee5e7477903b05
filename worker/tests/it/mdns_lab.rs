//! Must show 2: real mDNS between three nodes in three network namespaces,
//! with no static peers. The lab is made here (a bridge namespace and veth
//! pairs) and removed when the test ends, whatever happens.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{WORKER, Worker, make_game};

/// Network namespaces joined by a bridge that has no uplink, so nothing the
/// test sends can leave them.
pub(crate) struct Lab {
    prefix: String,
    hosts: usize,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {}", args.join(" "));
}

impl Lab {
    pub(crate) fn up(hosts: usize) -> Lab {
        // Each lab of this process has its own names: tests run at once.
        static LABS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("lsp{}n{n}", std::process::id() % 100_000);
        let lab = Lab { prefix, hosts };
        let sw = lab.ns("sw");
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "set", "lo", "up"]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 1..=hosts {
            let host = lab.ns(&format!("h{i}"));
            let port = format!("p{i}");
            ip(&["netns", "add", &host]);
            ip(&["-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host]);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", &host, "link", "set", "lo", "up"]);
            ip(&["-n", &host, "addr", "add", &format!("10.231.7.{i}/24"), "dev", "eth0"]);
            ip(&["-n", &host, "link", "set", "eth0", "up"]);
        }
        lab
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// A command that runs `program ARGS` inside host `i`.
    pub(crate) fn run_in(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns(&format!("h{i}"))]).arg(program);
        command
    }

    /// A command that runs `lanspread-worker ARGS` inside host `i`.
    fn worker(&self, i: usize) -> Command {
        self.run_in(i, WORKER)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 1..=self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(&format!("h{i}"))]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns("sw")]).status();
    }
}

pub(crate) fn lab_possible() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("needs root to make network namespaces".into());
    }
    Command::new("ip").arg("-V").output().map_err(|e| format!("needs iproute2: {e}"))?;
    Ok(())
}

#[test]
fn three_namespaces_find_each_other_over_mdns() {
    if let Err(why) = lab_possible() {
        // CI runs as root with iproute2 (the test script installs it).
        eprintln!("SKIPPED three_namespaces_find_each_other_over_mdns: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::up(4);
    let games = ["openarena", "xonotic", "wesnoth"];
    let mut nodes: Vec<Worker> = Vec::new();
    let start = Instant::now();
    for (i, game) in games.iter().enumerate() {
        let dir = tmp.path().join(format!("h{}", i + 1));
        make_game(&dir.join("games"), game, Some("1.0"), &[("payload.bin", 1000)]);
        let mut command = lab.worker(i + 1);
        command.args(["serve", "--json", "--name", &format!("host{}", i + 1)]);
        command.arg("--games").arg(dir.join("games")).arg("--state").arg(dir.join("state"));
        nodes.push(Worker::spawn(&format!("h{}", i + 1), command));
    }
    let ids: Vec<String> = nodes.iter().map(Worker::peer_id).collect();
    let started = start.elapsed();
    for (i, node) in nodes.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                node.wait_event(Duration::from_secs(10), "peer_joined", |v| v["id"] == id.as_str());
            }
        }
    }
    let all_joined = start.elapsed();
    eprintln!("three nodes started in {started:?}; every node saw both others {:?} after the first start", all_joined);
    assert!(
        all_joined < started + Duration::from_secs(4),
        "discovery took {all_joined:?} (nodes up after {started:?}); the goal is about 2 s"
    );
    for node in &nodes {
        let own = node.peer_id();
        assert!(!node.events("peer_joined").iter().any(|v| v["id"] == own.as_str()), "a node joined itself");
    }

    // A fourth host lists the network's games through mDNS alone.
    let mut list = lab.worker(4);
    list.args(["list", "--json", "--wait", "3"]).arg("--state").arg(tmp.path().join("lister"));
    let output = list.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for game in games {
        assert!(stdout.contains(&format!("\"id\":\"{game}\"")), "{game} missing from {stdout}");
    }

    // Short waits are answered every time, by a lister that has never met
    // these peers (a fresh state directory each run): a one-shot question
    // from an ordinary port is answered at once, though each responder has
    // just multicast its record for the run before; answers under way are
    // waited for; addresses the socket cannot use cost no retry.
    for run in 1..=20 {
        let mut list = lab.worker(4);
        list.args(["list", "--json", "--wait", "1"]).arg("--state").arg(tmp.path().join(format!("lister{run}")));
        let started = Instant::now();
        let output = list.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        for game in games {
            assert!(
                stdout.contains(&format!("\"id\":\"{game}\"")),
                "run {run} ({:?}): {game} missing from {stdout}\n{}",
                started.elapsed(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    drop(nodes);
}
