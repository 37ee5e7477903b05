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
use std::sync::{Arc, Mutex};
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
    let changes = events.subscribe();
    let task = tokio::spawn(async move {
        // The disk is read once here: the cache's pictures, and the covers
        // the catalog names (it does not change while the node runs).
        let catalog = library.catalog().clone();
        let opened = tokio::task::spawn_blocking(move || {
            let named = catalog
                .entries()
                .filter_map(|e| Some((e.id.clone(), checked_cover_file(catalog.cover(&e.id)?)?)))
                .collect();
            (CoverCache::open(cache_dir), named)
        })
        .await;
        let Ok((cache, catalog_covers)) = opened else { return };
        let service = CoverService {
            cache: Arc::new(cache),
            catalog_covers,
            library,
            access,
            shown,
            failed: HashMap::new(),
            fetches: JoinSet::new(),
            fetch_of: HashMap::new(),
        };
        service.run(changes, events, cancel).await;
    });
    (covers, task)
}

struct CoverService {
    cache: Arc<CoverCache>,
    /// The covers the catalog names, checked at start.
    catalog_covers: BTreeMap<String, PathBuf>,
    library: Library,
    access: PeerAccess,
    shown: watch::Sender<ShownCovers>,
    /// Covers no peer handed out, and when that was.
    failed: HashMap<[u8; 32], Instant>,
    fetches: JoinSet<Result<(), String>>,
    /// Which cover each fetch under way is for (so one that panics frees
    /// its place too).
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
                    if let (Some(hash), Err(e)) = (self.fetch_of.remove(&id), result) {
                        tracing::debug!("cover {}: {e}", short(&hash));
                        self.failed.insert(hash, Instant::now());
                    }
                    due.get_or_insert_with(tokio::time::Instant::now);
                }
                // Covers no peer handed out are asked for again.
                _ = retry.tick(), if !self.failed.is_empty() => {
                    due.get_or_insert_with(tokio::time::Instant::now);
                }
                () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                    due = None;
                    if let Some(covers) = self.refresh() {
                        let _ = events.send(NodeEvent::CoversChanged(covers));
                    }
                }
            }
        }
        self.fetches.abort_all();
    }

    /// Looks at what the library and the network have, starts fetching
    /// covers that are missing, and publishes the covers if they changed.
    /// Reads nothing from disk.
    fn refresh(&mut self) -> Option<ShownCovers> {
        let state = self.library.state();
        let mut shown = BTreeMap::new();
        for game in state.games.values() {
            if let Some(cover) = game.manifest.as_ref().and_then(|m| m.cover()) {
                shown.insert(game.id.clone(), state.file_path(&game.id, &cover.path));
            }
        }
        for (id, path) in &self.catalog_covers {
            shown.entry(id.clone()).or_insert_with(|| path.clone());
        }
        let now = Instant::now();
        self.failed.retain(|_, at| now.duration_since(*at) < RETRY_AFTER);
        for cover in self.access.covers() {
            if shown.contains_key(&cover.id) {
                continue;
            }
            if self.cache.has(&cover.hash) {
                shown.insert(cover.id, self.cache.path(&cover.hash));
            } else if self.fetch_of.len() < FETCHES_AT_ONCE
                && !self.failed.contains_key(&cover.hash)
                && !self.fetch_of.values().any(|h| *h == cover.hash)
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
    blake3::Hash::from_bytes(*hash).to_hex()[..12].to_owned()
}

/// Pictures peers handed out, one file per hash, at most
/// [`MAX_CACHED_COVERS`]; which hashes it holds is kept in memory.
#[derive(Debug)]
struct CoverCache {
    dir: PathBuf,
    held: Mutex<HashSet<[u8; 32]>>,
}

impl CoverCache {
    /// The cache in `dir`, without the half-written pictures a stopped
    /// worker left, trimmed to its bound.
    fn open(dir: PathBuf) -> CoverCache {
        let cache = CoverCache { dir, held: Mutex::default() };
        let mut held = HashSet::new();
        for entry in fs::read_dir(&cache.dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            match name.to_str().and_then(|n| blake3::Hash::from_hex(n).ok()) {
                Some(hash) if entry.path().extension().is_none() => drop(held.insert(*hash.as_bytes())),
                _ => drop(fs::remove_file(entry.path())),
            }
        }
        *cache.lock() = held;
        if let Err(e) = cache.trim() {
            tracing::debug!("{}: {e}", cache.dir.display());
        }
        cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(blake3::Hash::from_bytes(*hash).to_hex().as_str())
    }

    fn has(&self, hash: &[u8; 32]) -> bool {
        self.lock().contains(hash)
    }

    /// Writes a checked picture (atomically), then trims.
    fn store(&self, hash: &[u8; 32], bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        crate::platform::fs::write_atomic(&self.path(hash), bytes)?;
        self.lock().insert(*hash);
        self.trim()
    }

    /// Removes the oldest pictures beyond [`MAX_CACHED_COVERS`] (the disk
    /// is listed only when there are more).
    fn trim(&self) -> io::Result<()> {
        if self.lock().len() <= MAX_CACHED_COVERS {
            return Ok(());
        }
        let mut files = Vec::new();
        for hash in self.lock().iter() {
            let path = self.path(hash);
            files.push((fs::metadata(&path).and_then(|m| m.modified()).ok(), *hash, path));
        }
        files.sort();
        let mut held = self.lock();
        for (_, hash, path) in &files[..files.len() - MAX_CACHED_COVERS] {
            let _ = fs::remove_file(path);
            held.remove(hash);
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
