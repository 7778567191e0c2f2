//! A small map kept as two sorted vectors, keys and values. `BTreeMap`'s node code is
//! instantiated for every key and value type (about 5 KB of wasm each, README,
//! Benchmarks); a table is a binary search and the `Vec` code each type has anyway. Made
//! for what keyward keeps in maps: a deployment's settings (scopes, roles, limits, keys
//! by environment or name) and a batch's counts, read often, built once.
//!
//! ```
//! use keyward_core::table::Table;
//! let t: Table<String, u32> =
//!     Table::from_pairs([("b".to_owned(), 1), ("a".to_owned(), 2), ("b".to_owned(), 3)]);
//! assert_eq!(t.get("b"), Some(&3));
//! assert_eq!(t.keys().collect::<Vec<_>>(), ["a", "b"]);
//! ```

use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// Keys in order, each once, with their values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<K: Ord, V> Table<K, V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table of `pairs`, the last value kept for a key given twice (as a `BTreeMap`
    /// built from them keeps it).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut pairs: Vec<(K, V)> = pairs.into_iter().collect();
        crate::order::sort_by(&mut pairs, |a, b| a.0.cmp(&b.0));
        let mut table = Table::new();
        for (k, v) in pairs {
            // Sorted and stable: a key given again comes right after, and replaces.
            if table.keys.last() == Some(&k) {
                if let Some(last) = table.values.last_mut() {
                    *last = v;
                }
            } else {
                table.keys.push(k);
                table.values.push(v);
            }
        }
        table
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.keys.binary_search_by(|k| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().and_then(|i| self.values.get(i))
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// The value of `key`, `make`'s value put there first if it has none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, make());
                i
            }
        };
        &mut self.values[i]
    }

    /// Sets `key` to `value`, replacing what it had.
    pub fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(i) => self.values[i] = value,
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, value);
            }
        }
    }
}

impl<K, V> Table<K, V> {
    /// Each key and its value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.keys.iter().zip(&self.values)
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.keys.iter()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<K, V> IntoIterator for Table<K, V> {
    type Item = (K, V);
    type IntoIter = core::iter::Zip<std::vec::IntoIter<K>, std::vec::IntoIter<V>>;

    fn into_iter(self) -> Self::IntoIter {
        self.keys.into_iter().zip(self.values)
    }
}

/// Read from a JSON object (or any map), as a `BTreeMap` is: the last value kept for a
/// key given twice, and the same error where the input is not a map.
impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for Table<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Pairs<K, V> {
            type Value = Table<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Table::from_pairs(pairs))
            }
        }
        d.deserialize_map(Pairs(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    /// Random pairs with repeated keys, against `BTreeMap` built from the same pairs,
    /// by `from_pairs` and by `insert` one at a time.
    #[test]
    fn holds_what_a_btreemap_holds() {
        let mut seed = 0x2545_f491_u32;
        for len in 0..60 {
            let pairs: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 23, i)
                })
                .collect();
            let map: BTreeMap<u32, usize> = pairs.iter().copied().collect();
            let table = Table::from_pairs(pairs.iter().copied());
            let mut inserted = Table::new();
            for &(k, v) in &pairs {
                inserted.insert(k, v);
            }
            let want: Vec<(u32, usize)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            for t in [&table, &inserted] {
                let got: Vec<(u32, usize)> = t.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(got, want);
                assert_eq!(t.len(), map.len());
                for k in 0..23 {
                    assert_eq!(t.get(&k), map.get(&k));
                    assert_eq!(t.contains_key(&k), map.contains_key(&k));
                }
            }
            assert_eq!(table.into_iter().collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn get_or_insert_with_keeps_a_present_value() {
        let mut t: Table<String, u32> = Table::new();
        *t.get_or_insert_with("a".into(), || 1) += 10;
        *t.get_or_insert_with("a".into(), || 100) += 10;
        assert_eq!(t.get("a"), Some(&21));
    }

    #[test]
    fn reads_json_objects_as_a_btreemap_does() {
        for json in [
            r#"{"b": 1, "a": 2, "b": 3}"#,
            r#"{}"#,
            r#"[["a", 1]]"#,
            r#""text""#,
            r#"{"a": "x"}"#,
            r#"{"a": 1"#,
        ] {
            let table = crate::json::from_str::<Table<String, u32>>(json);
            let map = crate::json::from_str::<BTreeMap<String, u32>>(json);
            match (table, map) {
                (Ok(t), Ok(m)) => {
                    assert_eq!(
                        t.into_iter().collect::<Vec<_>>(),
                        m.into_iter().collect::<Vec<_>>()
                    )
                }
                (Err(t), Err(m)) => assert_eq!(t.to_string(), m.to_string(), "{json}"),
                (t, m) => assert_eq!(t.is_ok(), m.is_ok(), "{json}: {t:?} vs {m:?}"),
            }
        }
    }
}
