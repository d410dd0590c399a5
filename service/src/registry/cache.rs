//! A small least-recently-used cache of loaded models, keyed by (name, version, registration
//! time) so a re-registered version number never returns a stale model.
use std::collections::HashMap;
use std::sync::Arc;

use super::{LoadedModel, VersionInfo};

type Key = (String, u32, i64);

#[derive(Debug)]
pub(super) struct ModelCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<Key, (u64, Arc<LoadedModel>)>,
}

fn key(info: &VersionInfo) -> Key {
    (
        info.name.clone(),
        info.version,
        info.registered_at.timestamp_micros(),
    )
}

impl ModelCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub(super) fn get(&mut self, info: &VersionInfo) -> Option<Arc<LoadedModel>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(&key(info)).map(|(used, m)| {
            *used = tick;
            m.clone()
        })
    }

    pub(super) fn insert(&mut self, info: &VersionInfo, model: Arc<LoadedModel>) {
        self.tick += 1;
        self.entries.insert(key(info), (self.tick, model));
        while self.entries.len() > self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }

    /// Forget every version of `name`.
    pub(super) fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _, _), _| n != name);
    }
}
