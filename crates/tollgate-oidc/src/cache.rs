//! The verified-token cache: bounded, keyed by a hash of the token, and no
//! entry outlives its token's `exp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tollgate_kube::Identity;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(exp: u64) -> Arc<Identity> {
        let mut i = Identity::anonymous();
        i.expires_at = exp;
        Arc::new(i)
    }

    #[test]
    fn bounded_and_never_past_exp() {
        let c = TokenCache::new(4);
        for n in 0..10u8 {
            c.insert(key(&n.to_string()), id(100), 50);
            assert!(c.len() <= 4);
        }
        c.insert(key("x"), id(60), 50);
        assert!(c.get(&key("x"), 59).is_some());
        assert!(c.get(&key("x"), 60).is_none(), "an entry never outlives exp");
        assert!(c.get(&key("x"), 59).is_none(), "and is gone once expired");
        let off = TokenCache::new(0);
        off.insert(key("y"), id(100), 0);
        assert_eq!(off.len(), 0);
    }
}
