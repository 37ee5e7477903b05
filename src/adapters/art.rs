//! Cover pictures' adapter: decodes the files the worker named, off the UI
//! thread, and keeps the last [`MAX_DECODED_ART`] for the cards in view and
//! the detail view. Only cards in view ask, so a thousand games decode only
//! what is on screen.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;

use lanspread_app_ui::art::{Art, ArtError, ArtSize, load_art};
use slint::{ComponentHandle, Image, Rgba8Pixel, SharedPixelBuffer};

use super::Ui;
use crate::{ArtAdapter, MainWindow};

/// Decoded pictures kept (about 160 KB each at the card's size): more than
/// the cards a 4K screen shows at once (about 200), so the cards in view
/// never push each other out.
const MAX_DECODED_ART: usize = 256;
/// Files that failed to decode, remembered so they are not tried again.
const MAX_FAILED_ART: usize = 1024;

type Key = (String, ArtSize);

/// The decoded pictures, and what is being decoded or failed.
#[derive(Debug, Default)]
pub(super) struct ArtShelf {
    decoded: RefCell<HashMap<Key, Image>>,
    /// Least recently used first, for eviction.
    order: RefCell<VecDeque<Key>>,
    pending: RefCell<HashSet<Key>>,
    failed: RefCell<HashSet<Key>>,
}

impl ArtShelf {
    /// A decoded picture, now the most recently used.
    fn used(&self, key: &Key) -> Option<Image> {
        let image = self.decoded.borrow().get(key).cloned()?;
        let mut order = self.order.borrow_mut();
        if let Some(at) = order.iter().position(|k| k == key) {
            let key = order.remove(at)?;
            order.push_back(key);
        }
        Some(image)
    }

    fn keep(&self, key: Key, image: Image) {
        let mut order = self.order.borrow_mut();
        let mut decoded = self.decoded.borrow_mut();
        if decoded.insert(key.clone(), image).is_none() {
            order.push_back(key);
        }
        while order.len() > MAX_DECODED_ART {
            if let Some(oldest) = order.pop_front() {
                decoded.remove(&oldest);
            }
        }
    }

    /// Takes a decode's result: the picture kept, or the file remembered
    /// as failed (with one log line). Returns the picture, empty on failure.
    fn settle(&self, key: Key, decoded: Result<Art, ArtError>) -> Image {
        self.pending.borrow_mut().remove(&key);
        match decoded {
            Ok(art) => {
                let image = image_of(art);
                self.keep(key, image.clone());
                image
            }
            Err(e) => {
                tracing::warn!("cover not shown: {e}");
                self.fail(key);
                Image::default()
            }
        }
    }

    fn fail(&self, key: Key) {
        let mut failed = self.failed.borrow_mut();
        if failed.len() >= MAX_FAILED_ART {
            failed.clear();
        }
        failed.insert(key);
    }
}

fn image_of(art: Art) -> Image {
    let buffer = SharedPixelBuffer::<Rgba8Pixel>::clone_from_slice(&art.rgba, art.width, art.height);
    Image::from_rgba8(buffer)
}

/// The picture for a card or the detail view: at once if decoded, else
/// empty while it is decoded (the revision changes when it is ready).
fn picture(ui: &Rc<Ui>, path: &str, large: bool) -> Image {
    let size = if large { ArtSize::Detail } else { ArtSize::Card };
    let key = (path.to_owned(), size);
    if let Some(image) = ui.art.used(&key) {
        return image;
    }
    if ui.art.failed.borrow().contains(&key) || !ui.art.pending.borrow_mut().insert(key.clone()) {
        return Image::default();
    }
    let file = PathBuf::from(path);
    let job = move || load_art(&file, size);
    if ui.jobs.is_none() {
        // No helper thread (tests have no event loop): decoded at once, and
        // no revision change (this runs inside the binding that asked).
        return ui.art.settle(key, job());
    }
    ui.off_thread(job, move |ui, decoded| {
        ui.art.settle(key, decoded);
        if let Some(window) = ui.window.upgrade() {
            let adapter = window.global::<ArtAdapter<'_>>();
            adapter.set_revision(adapter.get_revision().wrapping_add(1));
        }
    });
    Image::default()
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let weak = Rc::downgrade(ui);
    window.global::<ArtAdapter<'_>>().on_picture(move |path, large, _revision| {
        weak.upgrade().map_or_else(Image::default, |ui| picture(&ui, &path, large))
    });
}
