//! The isolate's short-lived cache of lookups, with the one rule that keeps it honest: a
//! read that started before this isolate's last write of an entry never replaces it.
//!
//! Times are milliseconds on the isolate's clock, passed in, so the rule is tested on
//! the host.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
struct Entry<V> {
    expires: f64,
    /// When this isolate last wrote the value (`None`: it came from a read).
    written: Option<f64>,
    value: V,
}

/// Values by key for at most `ttl_ms` each, emptied whole past `max_entries`.
#[derive(Debug)]
pub struct Recent<K, V> {
    entries: HashMap<K, Entry<V>>,
    ttl_ms: f64,
    max_entries: usize,
    /// When the cache was last emptied by [`Recent::forget_all`].
    forgotten: f64,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    /// An empty cache.
    pub fn new(ttl_ms: f64, max_entries: usize) -> Self {
        Recent {
            entries: HashMap::new(),
            ttl_ms,
            max_entries,
            forgotten: f64::NEG_INFINITY,
        }
    }

    /// The value for `key` if it is fresh at `now`.
    pub fn get(&self, key: &K, now: f64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.value.clone())
    }

    /// Keeps what a read that started at `started` found. If this isolate wrote the entry
    /// at or after `started`, the write wins and is returned instead: the read may have
    /// seen the state from before it.
    pub fn remember_read(&mut self, key: K, value: V, started: f64, now: f64) -> V {
        if let Some(existing) = self.entries.get(&key)
            && existing.written.is_some_and(|w| w >= started)
        {
            return existing.value.clone();
        }
        // Read before a change made elsewhere was known here: used once, not kept.
        if started <= self.forgotten {
            return value;
        }
        self.insert(key, value.clone(), None, now);
        value
    }

    /// Keeps what this isolate just wrote.
    pub fn remember_write(&mut self, key: K, value: V, now: f64) {
        self.insert(key, value, Some(now), now);
    }

    /// Empties the cache after a change this isolate did not see the value of (the edge
    /// build's hand-over of a change to the full build): a read that started before `now`
    /// is not kept either.
    #[cfg(any(test, not(feature = "control")))]
    pub fn forget_all(&mut self, now: f64) {
        self.entries.clear();
        self.forgotten = now;
    }

    fn insert(&mut self, key: K, value: V, written: Option<f64>, now: f64) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            self.entries.clear();
        }
        self.entries.insert(
            key,
            Entry {
                expires: now + self.ttl_ms,
                written,
                value,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn entries_expire_after_their_ttl() {
        let mut c = Recent::new(2_000.0, 10);
        c.remember_read("k", 1, 0.0, 100.0);
        assert_eq!(c.get(&"k", 2_099.0), Some(1));
        assert_eq!(c.get(&"k", 2_100.0), None);
    }

    #[test]
    fn a_read_that_started_before_a_write_never_replaces_it() {
        let mut c = Recent::new(2_000.0, 10);
        // A read starts at t=10; a revocation is written here at t=20; the read (which
        // may have seen the unrevoked record) finishes at t=30.
        c.remember_write("k", "revoked", 20.0);
        assert_eq!(c.remember_read("k", "live", 10.0, 30.0), "revoked");
        assert_eq!(c.get(&"k", 31.0), Some("revoked"));
        // A read that started after the write may replace it.
        assert_eq!(c.remember_read("k", "newer", 25.0, 40.0), "newer");
        assert_eq!(c.get(&"k", 41.0), Some("newer"));
    }

    #[test]
    fn nothing_read_before_a_forget_all_is_kept() {
        let mut c = Recent::new(2_000.0, 10);
        c.remember_read("k", "live", 10.0, 20.0);
        c.forget_all(30.0);
        assert_eq!(c.get(&"k", 31.0), None);
        assert_eq!(c.remember_read("k", "live", 25.0, 40.0), "live");
        assert_eq!(
            c.get(&"k", 41.0),
            None,
            "a read started before the forget is not kept"
        );
        assert_eq!(c.remember_read("k", "revoked", 35.0, 50.0), "revoked");
        assert_eq!(c.get(&"k", 51.0), Some("revoked"));
    }

    #[test]
    fn a_read_started_at_the_write_time_loses_too() {
        let mut c = Recent::new(2_000.0, 10);
        c.remember_write("k", 2, 50.0);
        assert_eq!(c.remember_read("k", 1, 50.0, 60.0), 2);
    }

    #[test]
    fn a_full_cache_is_emptied_before_a_new_key() {
        let mut c = Recent::new(2_000.0, 2);
        c.remember_read("a", 1, 0.0, 0.0);
        c.remember_read("b", 2, 0.0, 0.0);
        c.remember_read("b", 3, 0.0, 1.0);
        assert_eq!(
            c.get(&"a", 2.0),
            Some(1),
            "replacing a key does not empty it"
        );
        c.remember_read("c", 4, 0.0, 2.0);
        assert_eq!(c.get(&"a", 3.0), None);
        assert_eq!(c.get(&"c", 3.0), Some(4));
    }
}
