//! Test harness: worker processes with captured logs, and game trees.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WORKER: &str = env!("CARGO_BIN_EXE_lanspread-worker");

/// A worker process whose stderr lines are collected as they come.
pub struct Worker {
    pub child: Child,
    /// stderr (logs)
    pub lines: Arc<Mutex<Vec<String>>>,
    /// stdout (results, JSON lines)
    pub out: Arc<Mutex<Vec<String>>>,
    pub name: String,
}

impl Worker {
    /// Spawns `command` (already given its arguments), capturing stderr.
    pub fn spawn(name: &str, mut command: Command) -> Worker {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.env("RUST_LOG", "info");
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = collect(child.stderr.take().expect("stderr is piped"), format!("[{name}]"));
        let out = collect(child.stdout.take().expect("stdout is piped"), format!("[{name} out]"));
        Worker { child, lines, out, name: name.to_owned() }
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status.code();
            }
            if start.elapsed() > limit {
                panic!("{}: still running after {limit:?}; log:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (`INT`, `KILL`, …).
    #[cfg(unix)]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Worker {
    /// Waits for a stdout line matching `pred`.
    pub fn wait_for_out(&self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_in(&self.out, limit, what, pred)
    }

    fn wait_in(&self, lines: &Mutex<Vec<String>>, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = lines.lock().unwrap().iter().find(|l| pred(l)) {
                return line.clone();
            }
            if start.elapsed() > limit {
                panic!("{}: nothing for {what} within {limit:?}; log:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a JSON line on stdout (`serve --json`, `fetch --json`)
    /// with `"event": event` for which `pred` holds.
    pub fn wait_event(
        &self,
        limit: Duration,
        event: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let matches =
            |l: &str| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["event"] == event && pred(&v));
        serde_json::from_str(&self.wait_in(&self.out, limit, event, matches)).unwrap()
    }

    /// The JSON lines on stdout so far with `"event": event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        let out = self.out.lock().unwrap();
        out.iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits until a `serve --json` node's first library scan ended.
    pub fn wait_scanned(&self, limit: Duration) {
        self.wait_event(limit, "library", |_| true);
    }

    /// Waits until a `serve --json` node joined the peer called `name`.
    pub fn wait_joined(&self, limit: Duration, name: &str) -> serde_json::Value {
        self.wait_event(limit, "peer_joined", |v| v["name"] == name)
    }

    /// Where a `serve --json` node listens.
    pub fn listen_addr(&self) -> SocketAddr {
        let listening = self.wait_event(Duration::from_secs(20), "listening", |_| true);
        listening["addr"].as_str().unwrap().parse().unwrap()
    }

    /// The peer id of a `serve --json` node.
    pub fn peer_id(&self) -> String {
        let listening = self.wait_event(Duration::from_secs(20), "listening", |_| true);
        listening["peer_id"].as_str().unwrap().to_owned()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A game of `big` bytes in one file plus `small` small files in folders.
pub fn make_random_game(games: &Path, id: &str, version: &str, big: usize, small: usize) -> PathBuf {
    let root = games.join(id);
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/pack.bin"), noise(big, 1)).unwrap();
    for i in 0..small {
        let dir = root.join(format!("maps/set{}", i % 5));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("map{i}.bsp")), noise(1000 + i * 37, i as u64 + 2)).unwrap();
    }
    std::fs::write(root.join("version.ini"), format!("{version}\n")).unwrap();
    root
}

/// Copies a game tree (a second seeder with the same files).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `root`, relative, sorted.
pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path().strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    files.sort();
    files
}

/// Asserts two trees hold the same files with the same bytes.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(fa, fb, "the same files");
    for f in fa {
        assert!(std::fs::read(a.join(&f)).unwrap() == std::fs::read(b.join(&f)).unwrap(), "{} differs", f.display());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `lanspread-worker serve` on loopback with its own state directory.
pub fn serve(name: &str, games: &Path, state: &Path, peers: &[SocketAddr]) -> Worker {
    serve_with(name, games, state, peers, &[])
}

/// [`serve`] with extra arguments (test hooks among them).
pub fn serve_with(name: &str, games: &Path, state: &Path, peers: &[SocketAddr], args: &[&str]) -> Worker {
    let mut command = Command::new(WORKER);
    command.args(["serve", "--json", "--no-mdns", "--listen", "127.0.0.1:0", "--name", name]).args(args);
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

/// Runs a worker command to its end, echoing it and its output to the
/// test's log.
pub fn run_logged(mut command: Command) -> Output {
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let output = command.output().expect("the worker runs");
    eprintln!(
        "$ lanspread-worker {} -> {:?}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A command's error output as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON objects a `--json` command printed, one per line.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Whether the tests run as root (namespaces, mounts).
#[cfg(unix)]
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn collect(stream: impl std::io::Read + Send + 'static, label: String) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("{label} {line}");
            sink.lock().unwrap().push(line);
        }
    });
    lines
}
