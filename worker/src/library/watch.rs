//! Filesystem events for the game directory and each game root, both
//! watched non-recursively: an event names the game that changed, and only
//! that game is rescanned.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

pub(super) struct GameDirWatcher {
    watcher: Option<RecommendedWatcher>,
    game_dir: Arc<Mutex<PathBuf>>,
    watched: BTreeSet<PathBuf>,
}

impl GameDirWatcher {
    /// `to_request` turns a game id into the message the library loop wants.
    pub(super) fn new<R: Send + 'static>(
        tx: mpsc::UnboundedSender<R>,
        to_request: impl Fn(String) -> R + Send + 'static,
    ) -> Self {
        let game_dir = Arc::new(Mutex::new(PathBuf::new()));
        let dir = game_dir.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let dir = dir.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for path in &event.paths {
                if let Some(id) = game_of(&dir, path) {
                    let _ = tx.send(to_request(id));
                }
            }
        });
        let watcher =
            watcher.map_err(|e| tracing::warn!("file watcher unavailable, relying on periodic rescans: {e}")).ok();
        GameDirWatcher { watcher, game_dir, watched: BTreeSet::new() }
    }

    /// Watches `game_dir` and exactly `roots`.
    pub(super) fn sync(&mut self, game_dir: &Path, roots: &[PathBuf]) {
        *self.game_dir.lock().unwrap_or_else(|p| p.into_inner()) = game_dir.to_owned();
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let mut wanted: BTreeSet<PathBuf> = roots.iter().cloned().collect();
        wanted.insert(game_dir.to_owned());
        for gone in self.watched.difference(&wanted).cloned().collect::<Vec<_>>() {
            let _ = watcher.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for path in wanted {
            if self.watched.contains(&path) {
                continue;
            }
            match watcher.watch(&path, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(path);
                }
                Err(e) => tracing::debug!("cannot watch {}: {e}", path.display()),
            }
        }
    }
}

/// The game an event path belongs to: `<dir>/<id>` (a root appeared or
/// went) or `<dir>/<id>/<entry>` (something at a root changed).
fn game_of(game_dir: &Path, path: &Path) -> Option<String> {
    let parent = path.parent()?;
    let root = if parent == game_dir {
        path
    } else if parent.parent()? == game_dir {
        parent
    } else {
        return None;
    };
    root.file_name()?.to_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_paths_map_to_their_game() {
        let dir = Path::new("/g");
        assert_eq!(game_of(dir, Path::new("/g/xonotic")).as_deref(), Some("xonotic"));
        assert_eq!(game_of(dir, Path::new("/g/xonotic/version.ini")).as_deref(), Some("xonotic"));
        assert_eq!(game_of(dir, Path::new("/g/xonotic/local/bin")), None);
        assert_eq!(game_of(dir, Path::new("/elsewhere/x")), None);
    }
}
