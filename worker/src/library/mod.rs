//! The local library: game roots in the game directory, their manifests,
//! and the service that keeps both current.
//!
//! Scans and hashing run on a blocking thread, one pass at a time; readers
//! (the peer server, the IPC bridge) only ever look at the last published
//! [`LibraryState`], so answering peers never waits for hashing.

pub mod hash_index;
pub mod lock;
pub mod remembered;
pub mod root;
pub mod scan;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanspread_proto::ipc::PartialDownload;
use lanspread_proto::peer::{FileEntry, GameList, GameManifest, GameSummary};
use tokio::sync::{mpsc, watch as state_watch};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use hash_index::{HashIndex, HashStats, chunk_size_for};
use scan::ScannedGame;

/// A full rescan runs this often to catch events the watcher missed.
pub const FULL_RESCAN_INTERVAL: Duration = Duration::from_secs(300);
/// Watcher events for a game are gathered this long before it is rescanned.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// One game root as the library knows it (kept between runs without its
/// file list, see [`remembered`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocalGameState {
    pub id: String,
    pub version: Option<String>,
    pub installed: bool,
    pub installed_version: Option<String>,
    pub size: u64,
    /// Present once every payload file is hashed (and no operation has
    /// changed the root since).
    #[serde(skip)]
    pub manifest: Option<Arc<GameManifest>>,
    /// A download that stopped before the end.
    pub partial: Option<PartialDownload>,
}

/// The published state of the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryState {
    pub game_dir: PathBuf,
    /// Bumped whenever `games` or `scanning` changes.
    pub revision: u64,
    pub games: BTreeMap<String, LocalGameState>,
    /// A pass is reading or hashing the library (true from the start until
    /// the first pass ends, and during every later pass): games may still
    /// appear.
    pub scanning: bool,
    /// What the last finished pass hashed.
    pub last_pass: HashStats,
    /// Passes finished since the node started.
    pub passes: u64,
}

impl LibraryState {
    /// Where the file `rel` (`/`-separated, from a file list this library
    /// made) of game `id` is on disk.
    pub fn file_path(&self, id: &str, rel: &str) -> PathBuf {
        rel.split('/').fold(self.game_dir.join(id), |path, part| path.join(part))
    }

    /// The games this node lists to peers: downloaded ones whose file list
    /// is ready and that no operation is changing (`busy`), so a peer that
    /// sees a game can fetch it at once.
    pub fn summaries(&self, busy: &BTreeSet<String>) -> Vec<GameSummary> {
        self.games
            .values()
            .filter(|g| g.manifest.is_some() && !busy.contains(&g.id))
            .filter_map(|g| {
                let version = g.version.clone()?;
                let cover = g.manifest.as_ref().and_then(|m| Some(m.cover()?.chunks[0]));
                Some(GameSummary { id: g.id.clone(), version, size: g.size, installed: g.installed, cover })
            })
            .collect()
    }
}

/// What the library asks of the install and download code about game
/// roots, given by the node so the library depends on neither.
#[derive(Debug, Clone, Copy)]
pub struct RootTools {
    /// Finishes or undoes, in every root of a game directory but the busy
    /// ones, what a crash interrupted (the install transactions' recovery).
    pub recover: fn(game_dir: &Path, catalog: &Catalog, busy: &BTreeSet<String>),
    /// How far a download that stopped in a root got (its journal).
    pub partial: fn(root: &Path) -> Option<PartialDownload>,
}

/// The games an operation is changing, published by the worker's
/// operation table ([`crate::operations`]): the library neither scans,
/// lists nor serves them until they are free again, and then scans them.
pub type BusyGames = state_watch::Receiver<Arc<BTreeSet<String>>>;

#[derive(Debug)]
enum ScanRequest {
    All,
    Game(String),
    SetGameDir(PathBuf),
    /// A download was committed with this file list: its hashes go into
    /// the index before the game is scanned again.
    Downloaded(Arc<GameManifest>),
    /// An operation on the game ended: its files may have changed, so it
    /// is scanned again without its old file list.
    Released(String),
}

/// Handle to the running library service.
#[derive(Debug, Clone)]
pub struct Library {
    state: state_watch::Receiver<Arc<LibraryState>>,
    busy: BusyGames,
    requests: mpsc::UnboundedSender<ScanRequest>,
    catalog: Arc<Catalog>,
}

impl Library {
    /// Starts scanning `game_dir` and watching it until `cancel` fires. The
    /// games the last pass found (kept beside the hash index, see
    /// [`remembered`]) are the state until the first pass ends.
    pub fn start(
        game_dir: PathBuf,
        catalog: Arc<Catalog>,
        index_path: &Path,
        busy: BusyGames,
        tools: RootTools,
        cancel: CancellationToken,
    ) -> Self {
        let remembered_file = index_path.with_file_name(remembered::LIBRARY_FILE);
        let initial = LibraryState {
            game_dir: game_dir.clone(),
            revision: 0,
            games: remembered::load(&remembered_file, &game_dir, &catalog),
            scanning: true,
            last_pass: HashStats::default(),
            passes: 0,
        };
        let (state_tx, state) = state_watch::channel(Arc::new(initial));
        let (requests, rx) = mpsc::unbounded_channel();
        let pass = Pass {
            game_dir,
            catalog: catalog.clone(),
            index: Arc::new(Mutex::new(HashIndex::load(index_path))),
            state: Arc::new(state_tx),
            busy: busy.clone(),
            tools,
        };
        let service = Service { pass, requests: requests.clone(), remembered_file, kept: Vec::new() };
        tokio::spawn(service.run(rx, cancel));
        let _ = requests.send(ScanRequest::All);
        Library { state, busy, requests, catalog }
    }

    /// Whether an operation is changing `id` (it is then neither listed
    /// nor served).
    pub fn is_busy(&self, id: &str) -> bool {
        self.busy.borrow().contains(id)
    }

    /// What this node answers a peer that asks for its games.
    pub fn game_list(&self) -> GameList {
        let state = self.state();
        GameList { games: state.summaries(&self.busy.borrow()), scanning: state.scanning }
    }

    /// The checked catalog the library lists games of.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Takes the hashes of a download just committed (see
    /// [`HashIndex::remember_download`]) into the index, before the rescan
    /// that follows the operation, so it lists the game without reading it
    /// again. Returns at once; the library service does the work.
    pub fn remember_download(&self, manifest: GameManifest) {
        let _ = self.requests.send(ScanRequest::Downloaded(Arc::new(manifest)));
    }

    /// The last published state.
    pub fn state(&self) -> Arc<LibraryState> {
        self.state.borrow().clone()
    }

    /// Changes to the published state.
    pub fn subscribe(&self) -> state_watch::Receiver<Arc<LibraryState>> {
        self.state.clone()
    }

    pub fn set_game_dir(&self, path: PathBuf) {
        let _ = self.requests.send(ScanRequest::SetGameDir(path));
    }

    /// An operation on `id` ended (see [`ScanRequest::Released`]). Sent
    /// through the library's request queue, so it is never lost.
    pub fn released(&self, id: &str) {
        let _ = self.requests.send(ScanRequest::Released(id.to_owned()));
    }
}

/// The library service: passes one at a time, over what was asked for.
struct Service {
    /// What every pass works on (the game directory may change).
    pass: Pass,
    requests: mpsc::UnboundedSender<ScanRequest>,
    /// Where the games each pass found are kept for the next start.
    remembered_file: PathBuf,
    /// What was written there last (or read at start).
    kept: Vec<u8>,
}

/// What the next pass covers.
#[derive(Debug, Default)]
struct Pending {
    all: bool,
    games: BTreeSet<String>,
    /// Games whose old file lists are not kept (an operation changed them).
    released: BTreeSet<String>,
    downloaded: Vec<Arc<GameManifest>>,
}

impl Pending {
    fn add(&mut self, request: ScanRequest, game_dir: &mut PathBuf) {
        match request {
            ScanRequest::All => self.all = true,
            ScanRequest::Game(id) => {
                self.games.insert(id);
            }
            ScanRequest::SetGameDir(path) => {
                *game_dir = path;
                self.all = true;
            }
            ScanRequest::Downloaded(manifest) => self.downloaded.push(manifest),
            ScanRequest::Released(id) => {
                self.games.insert(id.clone());
                self.released.insert(id);
            }
        }
    }
}

impl Service {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ScanRequest>, cancel: CancellationToken) {
        let mut watcher = watch::GameDirWatcher::new(self.requests.clone(), ScanRequest::Game);
        let mut full_rescan = tokio::time::interval(FULL_RESCAN_INTERVAL);
        full_rescan.tick().await;
        let mut busy_before = self.pass.busy.borrow_and_update().clone();
        if self.pass.state.borrow().games.is_empty() {
            // Nothing remembered (a first start): a quick look at the roots
            // shows the games before the first pass, which recovers and
            // hashes them after its debounce.
            let pass = self.pass.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || pass.first_look()).await {
                tracing::debug!("first look at the library: {e}");
            }
        }
        loop {
            let mut pending = Pending::default();
            let mut game_dir = self.pass.game_dir.clone();
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = full_rescan.tick() => pending.all = true,
                request = rx.recv() => match request {
                    Some(request) => pending.add(request, &mut game_dir),
                    None => return,
                },
                Ok(()) = self.pass.busy.changed() => {
                    let busy = self.pass.busy.borrow_and_update().clone();
                    self.taken(&busy_before, &busy);
                    busy_before = busy;
                    self.watch_free_roots(&mut watcher);
                    continue;
                }
            }
            // Gather a burst of watcher events into one pass.
            tokio::time::sleep(DEBOUNCE).await;
            while let Ok(request) = rx.try_recv() {
                pending.add(request, &mut game_dir);
            }
            if game_dir != self.pass.game_dir {
                self.pass.game_dir = game_dir;
                self.pass.state.send_modify(|s| {
                    let mut next = LibraryState {
                        game_dir: self.pass.game_dir.clone(),
                        revision: s.revision + 1,
                        games: BTreeMap::new(),
                        scanning: true,
                        last_pass: HashStats::default(),
                        passes: s.passes,
                    };
                    std::mem::swap(Arc::make_mut(s), &mut next);
                });
            }
            let pass = self.pass.clone();
            self.set_scanning(true);
            let result = tokio::task::spawn_blocking(move || pass.run(pending)).await;
            let stats = match &result {
                Ok(Ok(Some(stats))) => *stats,
                _ => HashStats::default(),
            };
            // Watched before the pass is announced: a change made as soon as
            // a listener hears of the pass is seen.
            self.watch_free_roots(&mut watcher);
            self.end_pass(stats);
            // Kept from a pass that read the disk (not one that failed, say
            // with the drive gone, nor one of busy games only), when what it
            // found changed; waited for, so two saves never overlap.
            if matches!(result, Ok(Ok(Some(_)))) {
                self.keep_library().await;
            }
            match result {
                // Only busy games were asked for (an operation writing in its root).
                Ok(Ok(None)) => {}
                Ok(Ok(Some(stats))) => tracing::info!(
                    "library scan of {}: hashed {} files ({} bytes), reused {} hashes",
                    self.pass.game_dir.display(),
                    stats.files_hashed,
                    stats.bytes_hashed,
                    stats.files_reused
                ),
                Ok(Err(e)) => tracing::warn!("library scan failed: {e}"),
                Err(e) => tracing::error!("library scan panicked: {e}"),
            }
        }
    }
}

impl Service {
    /// Watches the game directory and the roots no operation holds. A busy
    /// root's events are not wanted, and on Windows a watch holds its
    /// folder open: a removed root would stay until the watch ended.
    fn watch_free_roots(&self, watcher: &mut watch::GameDirWatcher) {
        let roots: Vec<PathBuf> = {
            let busy = self.pass.busy.borrow();
            let state = self.pass.state.borrow();
            state.games.keys().filter(|id| !busy.contains(*id)).map(|id| self.pass.game_dir.join(id)).collect()
        };
        watcher.sync(&self.pass.game_dir, &roots);
    }

    /// An operation took games: their file lists are dropped (their files
    /// are about to change) and the revision bumped so peers re-list. A game
    /// freed is scanned when the operation says so ([`Library::released`]):
    /// the watch keeps only the latest set, so a game taken and freed
    /// between two looks would be missed here.
    fn taken(&self, before: &BTreeSet<String>, now: &BTreeSet<String>) {
        let taken: Vec<&String> = now.difference(before).collect();
        if taken.is_empty() {
            return;
        }
        self.pass.state.send_modify(|state| {
            let state = Arc::make_mut(state);
            for id in taken {
                if let Some(game) = state.games.get_mut(id) {
                    game.manifest = None;
                }
            }
            state.revision += 1;
        });
    }

    /// Writes the library for the next start, if it changed since it was
    /// last written.
    async fn keep_library(&mut self) {
        let state = self.pass.state.borrow().clone();
        let Ok(bytes) = remembered::encode(&state) else { return };
        if bytes == self.kept {
            return;
        }
        let file = self.remembered_file.clone();
        let written = bytes.clone();
        let saved = tokio::task::spawn_blocking(move || crate::platform::fs::write_atomic(&file, &written)).await;
        match saved {
            Ok(Ok(())) => self.kept = bytes,
            Ok(Err(e)) => tracing::debug!("{}: not kept: {e}", self.remembered_file.display()),
            Err(_) => {}
        }
    }

    /// A pass ended, having hashed what `stats` says.
    fn end_pass(&self, stats: HashStats) {
        self.pass.state.send_modify(|state| {
            let next = Arc::make_mut(state);
            next.scanning = false;
            next.last_pass = stats;
            next.passes += 1;
            next.revision += 1;
        });
    }

    /// Says a pass runs; peers re-list when it changes.
    fn set_scanning(&self, scanning: bool) {
        self.pass.state.send_if_modified(|state| {
            if state.scanning == scanning {
                return false;
            }
            let next = Arc::make_mut(state);
            next.scanning = scanning;
            next.revision += 1;
            true
        });
    }
}

/// One scan-and-hash pass, run on a blocking thread.
#[derive(Clone)]
struct Pass {
    game_dir: PathBuf,
    catalog: Arc<Catalog>,
    index: Arc<Mutex<HashIndex>>,
    state: Arc<state_watch::Sender<Arc<LibraryState>>>,
    /// Games an operation is changing: left alone by this pass.
    busy: BusyGames,
    tools: RootTools,
}

impl Pass {
    /// Reads the roots and publishes what they are (no file lists, no
    /// recovery, no lock taken): what the window shows until the first
    /// pass ends.
    fn first_look(&self) -> std::io::Result<()> {
        let games = scan::scan_game_dir(&self.game_dir, &self.catalog)?;
        let found: Vec<LocalGameState> = games
            .iter()
            .map(|game| state_of(game, None, (self.tools.partial)(&self.game_dir.join(&game.id))))
            .collect();
        self.publish(|shown| {
            let busy = self.busy.borrow();
            for game in found.into_iter().filter(|g| !busy.contains(&g.id)) {
                shown.entry(game.id.clone()).or_insert(game);
            }
        });
        Ok(())
    }

    /// Scans what `pending` names; `None` when that is nothing (only busy or
    /// uncatalogued games were asked for).
    fn run(self, mut pending: Pending) -> std::io::Result<Option<HashStats>> {
        let released = std::mem::take(&mut pending.released);
        if !pending.downloaded.is_empty() {
            let mut index = self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for manifest in &pending.downloaded {
                if let Err(e) = index.remember_download(&self.game_dir, manifest) {
                    tracing::warn!("{}: hashes of the download not kept: {e}", manifest.id);
                }
            }
            if let Err(e) = index.save() {
                tracing::warn!("cannot save the hash index: {e}");
            }
        }
        if pending.all {
            // Finish or undo what a crash interrupted before reading the roots.
            // A copy: recovery may take long, and the operation table
            // publishes to this watch.
            let busy = self.busy.borrow().clone();
            (self.tools.recover)(&self.game_dir, &self.catalog, &busy);
        }
        let mut scanned: Vec<(String, Option<ScannedGame>)> = if pending.all {
            let games = scan::scan_game_dir(&self.game_dir, &self.catalog)?;
            let mut found: Vec<(String, Option<ScannedGame>)> =
                games.into_iter().map(|g| (g.id.clone(), Some(g))).collect();
            // Roots that vanished since the last pass.
            for id in self.state.borrow().games.keys() {
                if !found.iter().any(|(f, _)| f == id) {
                    found.push((id.clone(), None));
                }
            }
            found
        } else {
            let mut found = Vec::new();
            for id in pending.games.into_iter().filter(|id| self.catalog.contains(id)) {
                let game = scan::scan_game_root(&self.game_dir, &id)?;
                found.push((id, game));
            }
            found
        };

        scanned.retain(|(id, _)| !self.busy.borrow().contains(id));
        if !pending.all && scanned.is_empty() {
            return Ok(None);
        }
        // Publish what was found at once; manifests follow as they are
        // hashed. Journals are read first, not while the state is locked.
        let partials: BTreeMap<&str, Option<PartialDownload>> = scanned
            .iter()
            .filter(|(_, game)| game.is_some())
            .map(|(id, _)| (id.as_str(), (self.tools.partial)(&self.game_dir.join(id))))
            .collect();
        self.publish(|games| {
            let busy = self.busy.borrow();
            for (id, game) in &scanned {
                if busy.contains(id) {
                    continue;
                }
                match game {
                    None => {
                        games.remove(id);
                    }
                    Some(game) => {
                        let old_manifest = games.get(id).and_then(|old| old.manifest.clone());
                        let manifest = old_manifest
                            .filter(|m| Some(&m.version) == game.version.as_ref() && !released.contains(id));
                        let partial = partials.get(id.as_str()).cloned().flatten();
                        games.insert(id.clone(), state_of(game, manifest, partial));
                    }
                }
            }
        });

        // Games whose hashes are all in the index are published first, in
        // moments; games that must be hashed follow.
        {
            let index = self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            scanned.sort_by_cached_key(|(_, game)| {
                game.as_ref().is_some_and(|g| {
                    let chunk_size = chunk_size_for(g.size());
                    !g.files.iter().all(|f| index.is_current(f, chunk_size))
                })
            });
        }
        let mut stats = HashStats::default();
        for (id, game) in scanned {
            let root = self.game_dir.join(&id);
            let Some(game) = game else { continue };
            let mut index = self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            index.forget_missing(&root, &game.files);
            let Some(version) = game.version.clone() else {
                continue;
            };
            let chunk_size = chunk_size_for(game.size());
            let mut files = Vec::with_capacity(game.files.len());
            let mut game_stats = HashStats::default();
            for file in &game.files {
                match index.chunks_for(file, chunk_size, &mut game_stats) {
                    Ok(chunks) => files.push(FileEntry { path: file.rel.clone(), size: file.size, chunks }),
                    Err(e) => {
                        tracing::warn!("{id}: cannot hash: {e}");
                        break;
                    }
                }
            }
            stats.add(game_stats);
            if let Err(e) = index.save() {
                tracing::warn!("cannot save the hash index: {e}");
            }
            drop(index);
            if files.len() != game.files.len() {
                continue;
            }
            let manifest = Arc::new(GameManifest { id: id.clone(), version, chunk_size, files });
            self.publish(|games| {
                if let Some(entry) = games.get_mut(&id)
                    && !self.busy.borrow().contains(&id)
                    && entry.version.as_ref() == Some(&manifest.version)
                {
                    entry.manifest = Some(manifest.clone());
                }
            });
        }
        Ok(Some(stats))
    }

    /// Applies `change` and bumps the revision if the games changed.
    fn publish(&self, change: impl FnOnce(&mut BTreeMap<String, LocalGameState>)) {
        self.state.send_if_modified(|state| {
            let mut games = state.games.clone();
            change(&mut games);
            if games == state.games {
                return false;
            }
            let next = Arc::make_mut(state);
            next.games = games;
            next.revision += 1;
            true
        });
    }
}

fn state_of(
    game: &ScannedGame,
    manifest: Option<Arc<GameManifest>>,
    partial: Option<PartialDownload>,
) -> LocalGameState {
    LocalGameState {
        id: game.id.clone(),
        version: game.version.clone(),
        installed: game.installed,
        installed_version: game.installed_version.clone(),
        size: game.size(),
        manifest,
        partial,
    }
}
