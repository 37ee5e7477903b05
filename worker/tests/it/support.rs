//! Test harness: worker processes with captured logs, and game trees.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WORKER: &str = env!("CARGO_BIN_EXE_lanspread-worker");

/// A worker process whose stderr lines are collected as they come.
pub struct Worker {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub name: String,
}

impl Worker {
    /// Spawns `command` (already given its arguments), capturing stderr.
    pub fn spawn(name: &str, mut command: Command) -> Worker {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command.env("RUST_LOG", "info");
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Worker { child, lines, name: name.to_owned() }
    }

    /// Waits for a log line matching `pred`; panics with the log after `limit`.
    pub fn wait_for(&self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return line.clone();
            }
            if start.elapsed() > limit {
                panic!("{}: no log line for {what} within {limit:?}; log:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The address from "listening on ADDR as NAME (ID)".
    pub fn listen_addr(&self) -> SocketAddr {
        let line = self.wait_for(Duration::from_secs(20), "listening", |l| l.contains("listening on "));
        let rest = &line[line.find("listening on ").unwrap() + "listening on ".len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// The peer id from the "listening on" line.
    pub fn peer_id(&self) -> String {
        let line = self.wait_for(Duration::from_secs(20), "listening", |l| l.contains("listening on "));
        line.rsplit('(').next().unwrap().trim_end_matches(')').to_owned()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `lanspread-worker serve` on loopback with its own state directory.
pub fn serve(name: &str, games: &Path, state: &Path, peers: &[SocketAddr]) -> Worker {
    let mut command = Command::new(WORKER);
    command.args(["serve", "--no-mdns", "--listen", "127.0.0.1:0", "--name", name]);
    command.arg("--games").arg(games).arg("--state").arg(state);
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    Worker::spawn(name, command)
}

/// Runs `lanspread-worker list --json` against `peers`; returns the games by
/// id and how long it took.
pub fn list_json(state: &Path, peers: &[SocketAddr]) -> (Vec<serde_json::Value>, Duration) {
    let mut command = Command::new(WORKER);
    command.args(["list", "--no-mdns", "--json"]).arg("--state").arg(state).env("RUST_LOG", "info");
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    let start = Instant::now();
    let output = command.output().expect("list runs");
    let took = start.elapsed();
    eprintln!("[list] {}", String::from_utf8_lossy(&output.stderr).trim_end().replace('\n', "\n[list] "));
    assert!(output.status.success(), "list failed: {}", String::from_utf8_lossy(&output.stderr));
    let games = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (games, took)
}

/// Makes `<games>/<id>/` with `version.ini` (if `version` is given) and files.
pub fn make_game(games: &Path, id: &str, version: Option<&str>, files: &[(&str, usize)]) -> PathBuf {
    let root = games.join(id);
    std::fs::create_dir_all(&root).unwrap();
    for (i, (name, size)) in files.iter().enumerate() {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..*size).map(|j| (j as u8).wrapping_mul(31).wrapping_add(i as u8)).collect();
        std::fs::write(path, data).unwrap();
    }
    if let Some(version) = version {
        std::fs::write(root.join("version.ini"), format!("{version}\n")).unwrap();
    }
    root
}

/// The entry for `id` in a `list --json` result.
pub fn game<'a>(games: &'a [serde_json::Value], id: &str) -> Option<&'a serde_json::Value> {
    games.iter().find(|g| g["id"] == id)
}
