//! The verified-token cache: bounded, keyed by a hash of the token, and no
//! entry outlives its token's `exp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Identity;

/// A cache of verified identities.
#[derive(Debug)]
pub(crate) struct TokenCache {
    capacity: usize,
    map: Mutex<HashMap<[u8; 32], Arc<Identity>>>,
}

pub(crate) fn key(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A cached identity whose token has not expired at `now`.
    pub(crate) fn get(&self, k: &[u8; 32], now: u64) -> Option<Arc<Identity>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(k) {
            Some(id) if id.expires_at > now => Some(id.clone()),
            Some(_) => {
                map.remove(k);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, k: [u8; 32], id: Arc<Identity>, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.retain(|_, v| v.expires_at > now);
        }
        if map.len() >= self.capacity {
            // Still full of live tokens: drop an arbitrary half.
            let drop: Vec<[u8; 32]> = map.keys().take(self.capacity / 2 + 1).copied().collect();
            for d in drop {
                map.remove(&d);
            }
        }
        map.insert(k, id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}
