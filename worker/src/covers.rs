//! Covers: the picture each game shows in the window.
//!
//! A game here shows its own cover file (see [`GameManifest::cover`]);
//! else the picture the user's catalog names (`cover`); else, for a game
//! only peers have, the one they hand out
//! ([`PeerRequest::GetCover`]): checked against the hash their lists name
//! (the list that counts, with trusted seeders), kept in the state
//! directory under that hash, so each picture crosses the network once and
//! a liar cannot swap it. The window decodes the files itself, with its own
//! limits; nothing here decodes a picture.
//!
//! [`GameManifest::cover`]: lanspread_proto::peer::GameManifest::cover
//! [`PeerRequest::GetCover`]: lanspread_proto::peer::PeerRequest::GetCover

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::discovery::access::PeerAccess;
use crate::events::NodeEvent;
use crate::library::Library;

/// The cache's folder in the state directory.
pub const COVER_CACHE_DIR: &str = "covers";
/// Pictures kept in the cache; the oldest go first.
pub const MAX_CACHED_COVERS: usize = 2048;
/// Covers fetched at once.
const FETCHES_AT_ONCE: usize = 2;
/// Changes are gathered this long before the covers are looked at again.
const SETTLE: Duration = Duration::from_millis(250);
/// A cover no peer handed out is asked for again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Each game's cover file, by game id.
pub type ShownCovers = Arc<BTreeMap<String, PathBuf>>;

/// Starts the cover service; its covers are published on the returned
/// watch and as [`NodeEvent::CoversChanged`].
pub fn spawn(
    cache_dir: PathBuf,
    library: Library,
    access: PeerAccess,
    events: broadcast::Sender<NodeEvent>,
    cancel: CancellationToken,
) -> (watch::Receiver<ShownCovers>, tokio::task::JoinHandle<()>) {
    let (shown, covers) = watch::channel(ShownCovers::default());
    let service = CoverService {
        cache: Arc::new(CoverCache::open(cache_dir)),
        library,
        access,
        shown,
        failed: HashMap::new(),
        fetching: HashSet::new(),
        fetches: JoinSet::new(),
        fetch_of: HashMap::new(),
    };
    let changes = events.subscribe();
    (covers, tokio::spawn(service.run(changes, events, cancel)))
}

struct CoverService {
    cache: Arc<CoverCache>,
    library: Library,
    access: PeerAccess,
    shown: watch::Sender<ShownCovers>,
    /// Covers no peer handed out, and when that was.
    failed: HashMap<[u8; 32], Instant>,
    fetching: HashSet<[u8; 32]>,
    fetches: JoinSet<Result<(), String>>,
    /// Which cover each fetch is for, so one that panics frees its place.
    fetch_of: HashMap<tokio::task::Id, [u8; 32]>,
}

impl CoverService {
    async fn run(
        mut self,
        mut changes: broadcast::Receiver<NodeEvent>,
        events: broadcast::Sender<NodeEvent>,
        cancel: CancellationToken,
    ) {
        let mut due = Some(tokio::time::Instant::now());
        let mut retry = tokio::time::interval(RETRY_AFTER);
        loop {
            let wake = due.unwrap_or_else(|| tokio::time::Instant::now() + RETRY_AFTER);
            tokio::select! {
                () = cancel.cancelled() => break,
                event = changes.recv() => match event {
                    Ok(NodeEvent::NetworkChanged | NodeEvent::LibraryChanged(_))
                    | Err(broadcast::error::RecvError::Lagged(_)) => {
                        due.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(ended) = self.fetches.join_next_with_id() => {
                    let (id, result) = match ended {
                        Ok((id, result)) => (id, result),
                        Err(e) => (e.id(), Err(format!("the fetch stopped: {e}"))),
                    };
                    if let Some(hash) = self.fetch_of.remove(&id) {
                        self.fetching.remove(&hash);
                        if let Err(e) = result {
                            tracing::debug!("cover {}: {e}", short(&hash));
                            self.failed.insert(hash, Instant::now());
                        }
                    }
                    due.get_or_insert_with(tokio::time::Instant::now);
                }
                _ = retry.tick() => { due.get_or_insert_with(tokio::time::Instant::now); }
                () = tokio::time::sleep_until(wake), if due.is_some() => {
                    due = None;
                    if let Some(covers) = self.refresh().await {
                        let _ = events.send(NodeEvent::CoversChanged(covers));
                    }
                }
            }
        }
        self.fetches.abort_all();
    }

    /// Looks at what the library and the network have, starts fetching
    /// covers that are missing, and publishes the covers if they changed.
    async fn refresh(&mut self) -> Option<ShownCovers> {
        let state = self.library.state();
        let mut shown = BTreeMap::new();
        for game in state.games.values() {
            if let Some(cover) = game.manifest.as_ref().and_then(|m| m.cover()) {
                let path = cover.path.split('/').fold(state.game_dir.join(&game.id), |p, part| p.join(part));
                shown.insert(game.id.clone(), path);
            }
        }
        let catalog = self.library.catalog().clone();
        let named: Vec<(String, PathBuf)> = catalog
            .entries()
            .filter(|e| !shown.contains_key(&e.id))
            .filter_map(|e| Some((e.id.clone(), catalog.cover(&e.id)?.to_owned())))
            .collect();
        let found = tokio::task::spawn_blocking(move || {
            named.into_iter().filter_map(|(id, path)| Some((id, checked_cover_file(&path)?))).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        shown.extend(found);
        let wanted: Vec<_> = self.access.covers().into_iter().filter(|c| !shown.contains_key(&c.id)).collect();
        let cache = self.cache.clone();
        let hashes: Vec<[u8; 32]> = wanted.iter().map(|c| c.hash).collect();
        let cached = tokio::task::spawn_blocking(move || hashes.iter().map(|h| cache.has(h)).collect::<Vec<bool>>())
            .await
            .unwrap_or_default();
        let now = Instant::now();
        self.failed.retain(|_, at| now.duration_since(*at) < RETRY_AFTER);
        for (cover, cached) in wanted.into_iter().zip(cached) {
            if cached {
                shown.insert(cover.id, self.cache.path(&cover.hash));
            } else if self.fetching.len() < FETCHES_AT_ONCE
                && !self.failed.contains_key(&cover.hash)
                && self.fetching.insert(cover.hash)
            {
                let (access, cache, hash) = (self.access.clone(), self.cache.clone(), cover.hash);
                let fetch = self.fetches.spawn(async move {
                    let bytes = access.fetch_cover(&cover).await?;
                    tokio::task::spawn_blocking(move || cache.store(&cover.hash, &bytes))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())
                });
                self.fetch_of.insert(fetch.id(), hash);
            }
        }
        let shown = Arc::new(shown);
        let changed = self.shown.send_if_modified(|current| {
            let changed = *current != shown;
            if changed {
                *current = shown.clone();
            }
            changed
        });
        changed.then_some(shown)
    }
}

/// A picture file the user's catalog names, links resolved, if it is a
/// regular file no larger than a cover may be.
fn checked_cover_file(path: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(path).ok()?;
    let meta = fs::metadata(&real).ok()?;
    (meta.is_file() && meta.len() <= lanspread_proto::peer::MAX_COVER_BYTES).then_some(real)
}

/// The first bytes of a hash, for log lines.
fn short(hash: &[u8; 32]) -> String {
    hash[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Pictures peers handed out, one file per hash, at most
/// [`MAX_CACHED_COVERS`].
#[derive(Debug)]
struct CoverCache {
    dir: PathBuf,
}

impl CoverCache {
    /// The cache in `dir`, trimmed to its bound, without the half-written
    /// pictures a stopped worker left.
    fn open(dir: PathBuf) -> CoverCache {
        let cache = CoverCache { dir };
        if let Ok(entries) = fs::read_dir(&cache.dir) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some() {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        if let Err(e) = cache.trim() {
            tracing::debug!("{}: {e}", cache.dir.display());
        }
        cache
    }

    fn path(&self, hash: &[u8; 32]) -> PathBuf {
        let name: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(name)
    }

    fn has(&self, hash: &[u8; 32]) -> bool {
        fs::symlink_metadata(self.path(hash)).is_ok_and(|m| m.is_file())
    }

    /// Writes a checked picture (a temporary file of its own, then a
    /// rename), then trims.
    fn store(&self, hash: &[u8; 32], bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path(hash);
        let tmp = path.with_extension("part");
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, &path)?;
        self.trim()
    }

    /// Removes the oldest pictures beyond [`MAX_CACHED_COVERS`] (files
    /// being written, which have an extension, are left alone).
    fn trim(&self) -> io::Result<()> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if entry.path().extension().is_none() && meta.is_file() {
                files.push((meta.modified().ok(), entry.path()));
            }
        }
        if files.len() > MAX_CACHED_COVERS {
            files.sort();
            for (_, path) in &files[..files.len() - MAX_CACHED_COVERS] {
                let _ = fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// The cache's folder for a state directory.
pub fn cache_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(COVER_CACHE_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_pictures_by_hash_and_stays_within_its_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CoverCache::open(tmp.path().join("covers"));
        assert!(!cache.has(&[1; 32]));
        cache.store(&[1; 32], b"png").unwrap();
        assert!(cache.has(&[1; 32]));
        assert_eq!(fs::read(cache.path(&[1; 32])).unwrap(), b"png");

        fs::write(cache.path(&[2; 32]).with_extension("part"), b"half").unwrap();
        for i in 0..MAX_CACHED_COVERS + 3 {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64 + 10).to_le_bytes());
            fs::write(cache.path(&hash), b"x").unwrap();
        }
        let reopened = CoverCache::open(tmp.path().join("covers"));
        let left = fs::read_dir(&reopened.dir).unwrap().count();
        assert_eq!(left, MAX_CACHED_COVERS, "trimmed to the bound, the half-written file gone");
    }
}
