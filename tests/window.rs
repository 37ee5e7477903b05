//! The real window under Xvfb: closing it ends the app and its worker. Needs
//! root (the app runs in a private network namespace) and Xvfb
//! (`scripts/deps.sh` installs it); skipped with the reason otherwise.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, Window};

const APP: &str = env!("CARGO_BIN_EXE_lanspread");

/// Kills the process when dropped, so a failing test leaves nothing behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_until<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(start.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pid of the worker serving `games`, if it runs.
fn worker_pid(games: &Path) -> Option<u32> {
    let pattern = format!("lanspread-worker ipc .*--games {}", games.display());
    let out = Command::new("pgrep").args(["-f", &pattern]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().and_then(|l| l.trim().parse().ok())
}

/// The top-level window titled `title`.
fn find_window(conn: &impl Connection, root: Window, title: &str) -> Option<Window> {
    let tree = conn.query_tree(root).ok()?.reply().ok()?;
    tree.children.into_iter().find(|&w| {
        conn.get_property(false, w, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 64)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|p| p.value == title.as_bytes())
    })
}

/// Asks the window to close, as a window manager's close button does.
fn close(conn: &impl Connection, window: Window) {
    let protocols = conn.intern_atom(false, b"WM_PROTOCOLS").unwrap().reply().unwrap().atom;
    let delete = conn.intern_atom(false, b"WM_DELETE_WINDOW").unwrap().reply().unwrap().atom;
    let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event).unwrap();
    conn.flush().unwrap();
}

#[test]
fn closing_the_window_ends_the_app_and_its_worker() {
    let root_user =
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user || !have("Xvfb") || !have("unshare") {
        eprintln!("SKIPPED closing_the_window_ends_the_app_and_its_worker: needs root, Xvfb and unshare");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let display = format!(":{}", 40 + std::process::id() % 200);
    let _xvfb = Running(
        Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
    wait_until(Duration::from_secs(10), "Xvfb", || Path::new(&socket).exists().then_some(()));

    let games = tmp.path().join("games");
    let script = format!(
        "ip link set lo up && exec {APP} --games '{}' --state '{}' --no-mdns",
        games.display(),
        tmp.path().join("state").display()
    );
    let mut app = Running(
        Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .env("DISPLAY", &display)
            .env("XDG_DATA_HOME", tmp.path().join("data"))
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .spawn()
            .unwrap(),
    );
    let worker = wait_until(Duration::from_secs(30), "worker", || worker_pid(&games));
    let (conn, screen) = x11rb::connect(Some(&display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let window = wait_until(Duration::from_secs(30), "window", || find_window(&conn, root, "LanSpread"));

    close(&conn, window);
    let status = wait_until(Duration::from_secs(15), "app exit", || app.0.try_wait().unwrap());
    assert!(status.success(), "the app exits cleanly: {status}");
    wait_until(Duration::from_secs(5), "worker exit", || worker_pid(&games).is_none().then_some(()));
    let log = std::fs::read_to_string(tmp.path().join("data/lanspread/lanspread.log")).unwrap_or_default();
    assert!(log.contains("the window closed; stopping the worker"), "{log}");
    eprintln!("worker {worker} ended with the window");
}
