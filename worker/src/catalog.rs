//! The catalog: which game ids LanSpread knows.
//!
//! A game root is only scanned, announced or served when its id is in the
//! catalog. The bundled catalog is compiled in; `--catalog FILE` adds or
//! replaces entries from a user file in the same JSON format (an array of
//! objects with `id`, `name`, `description`, `genre`, `max_players`,
//! `launch`, and `cover`: a picture's path, relative to the catalog file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lanspread_proto::CatalogEntry;

const BUNDLED: &str = include_str!("../catalog.json");
/// A user catalog larger than this is refused rather than read.
const MAX_CATALOG_FILE: u64 = 4 * 1024 * 1024;

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: catalog file is {size} bytes, more than the {MAX_CATALOG_FILE} allowed")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: not a catalog (a JSON array of games): {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error(
        "{path}: game id {id:?} is not allowed (use lowercase letters, digits, '-', '_' and '.', not starting with '.')"
    )]
    BadId { path: String, id: String },
    #[error("{path}: game {id:?}: {source}")]
    BadLaunch { path: String, id: String, source: lanspread_proto::game::LaunchCommandError },
}

#[derive(serde::Deserialize)]
struct RawEntry {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    genre: String,
    #[serde(default)]
    max_players: u16,
    #[serde(default)]
    launch: Vec<lanspread_proto::game::LaunchCommand>,
    /// A cover picture's file, relative to the catalog file's folder.
    #[serde(default)]
    cover: Option<PathBuf>,
}

/// The set of known games, ordered by id.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    /// Cover pictures a user catalog names, resolved against its folder.
    covers: BTreeMap<String, PathBuf>,
}

impl Catalog {
    /// The catalog compiled into the worker.
    pub fn bundled() -> Self {
        let mut catalog = Catalog { entries: BTreeMap::new(), covers: BTreeMap::new() };
        catalog.merge_json("<bundled catalog>", BUNDLED, None).expect("the bundled catalog is valid");
        catalog
    }

    /// The bundled catalog plus the entries of a user file.
    pub fn with_user_file(path: &Path) -> Result<Self, CatalogError> {
        let shown = path.display().to_string();
        let size = std::fs::metadata(path).map_err(|source| CatalogError::Read { path: shown.clone(), source })?.len();
        if size > MAX_CATALOG_FILE {
            return Err(CatalogError::TooLarge { path: shown, size });
        }
        let text =
            std::fs::read_to_string(path).map_err(|source| CatalogError::Read { path: shown.clone(), source })?;
        let mut catalog = Self::bundled();
        catalog.merge_json(&shown, &text, Some(path.parent().unwrap_or(Path::new("."))))?;
        Ok(catalog)
    }

    /// The bundled catalog plus the entries of a user file's text;
    /// `origin` names the file in errors.
    pub fn with_user_json(origin: &str, text: &str) -> Result<Self, CatalogError> {
        let mut catalog = Self::bundled();
        catalog.merge_json(origin, text, None)?;
        Ok(catalog)
    }

    /// Adds `text`'s entries; covers are resolved against `folder` (a
    /// catalog without one, the bundled one, names none).
    fn merge_json(&mut self, origin: &str, text: &str, folder: Option<&Path>) -> Result<(), CatalogError> {
        let raw: Vec<RawEntry> =
            serde_json::from_str(text).map_err(|source| CatalogError::Parse { path: origin.to_owned(), source })?;
        for entry in raw {
            if !lanspread_proto::game::is_valid_game_id(&entry.id) {
                return Err(CatalogError::BadId { path: origin.to_owned(), id: entry.id });
            }
            lanspread_proto::game::check_launch_commands(&entry.launch).map_err(|source| CatalogError::BadLaunch {
                path: origin.to_owned(),
                id: entry.id.clone(),
                source,
            })?;
            match (folder, entry.cover) {
                (Some(folder), Some(cover)) => drop(self.covers.insert(entry.id.clone(), folder.join(cover))),
                _ => drop(self.covers.remove(&entry.id)),
            }
            let entry = CatalogEntry {
                id: entry.id,
                name: entry.name,
                description: entry.description,
                genre: entry.genre,
                max_players: entry.max_players,
                launch: entry.launch,
            };
            self.entries.insert(entry.id.clone(), entry);
        }
        Ok(())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// The cover picture a user catalog names for `id` (not checked here:
    /// see [`crate::covers`]).
    pub fn cover(&self, id: &str) -> Option<&Path> {
        self.covers.get(id).map(PathBuf::as_path)
    }

    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.entries.get(id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_has_the_lan_classics() {
        let catalog = Catalog::bundled();
        assert!(catalog.len() >= 15);
        for id in ["openarena", "xonotic", "teeworlds", "supertuxkart", "wesnoth"] {
            let entry = catalog.get(id).unwrap();
            assert!(!entry.name.is_empty() && !entry.description.is_empty() && !entry.genre.is_empty());
            assert!(entry.max_players > 1, "{id}");
        }
    }

    #[test]
    fn user_file_adds_and_replaces_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extra.json");
        std::fs::write(
            &path,
            r#"[{"id": "mygame", "name": "My Game", "max_players": 4, "cover": "art/mygame.png"},
            {"id": "wesnoth", "name": "Wesnoth (club build)", "genre": "Strategy"}]"#,
        )
        .unwrap();
        let catalog = Catalog::with_user_file(&path).unwrap();
        assert_eq!(catalog.cover("mygame"), Some(dir.path().join("art/mygame.png").as_path()), "beside the file");
        assert_eq!(catalog.cover("wesnoth"), None);
        assert_eq!(catalog.get("mygame").unwrap().max_players, 4);
        assert_eq!(catalog.get("wesnoth").unwrap().name, "Wesnoth (club build)");
        assert!(catalog.contains("xonotic"));
    }

    #[test]
    fn bad_user_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"[{"id": "../etc", "name": "x"}]"#).unwrap();
        let err = Catalog::with_user_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("../etc"), "{err}");
        std::fs::write(&path, "{not json").unwrap();
        let err = Catalog::with_user_file(&path).unwrap_err().to_string();
        assert!(err.contains("not a catalog"), "{err}");
        let err = Catalog::with_user_file(&dir.path().join("missing.json")).unwrap_err().to_string();
        assert!(err.contains("missing.json"), "{err}");
        // Launch commands: a program outside local/, too many arguments.
        let launch = |program: &str, args: usize| {
            let args: Vec<String> = vec!["-x".into(); args];
            let command = serde_json::json!({"os": "any", "program": program, "args": args});
            serde_json::json!([{"id": "mygame", "name": "Mine", "launch": [command]}]).to_string()
        };
        let ok = Catalog::with_user_json("c.json", &launch("bin/mygame", 2)).unwrap();
        assert_eq!(ok.get("mygame").unwrap().launch[0].program, "bin/mygame");
        for (program, args) in [("../outside", 0), ("/usr/bin/x", 0), ("C:\\x.exe", 0), ("bin/mygame", 33)] {
            let err = Catalog::with_user_json("c.json", &launch(program, args)).unwrap_err();
            assert!(matches!(err, CatalogError::BadLaunch { .. }), "{program}: {err}");
        }
    }
}
