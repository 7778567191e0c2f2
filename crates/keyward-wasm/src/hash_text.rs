//! A presented key's hash as the text a store of the app's own is looked up by (its
//! lowercase hex), handed to JavaScript without a string made per check: either the index
//! of a string the package already holds for that hash, or the 64 bytes written where the
//! package reads them straight from WebAssembly's memory.
//!
//! Making a 64-character string in WebAssembly and handing it over, and then hashing that
//! fresh string for the app's `Map` lookup, was a fifth of such a check. The package keeps
//! the strings of the hashes whose lookup found a record, so the next check of the same
//! key gives the lookup a string V8 has hashed already.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use keyward_core::KeyHash;
use wasm_bindgen::prelude::*;

/// Hashes whose text the package holds, at most (the oldest is replaced first).
pub const KNOWN_MAX: usize = 10_000;

/// What [`HashTexts::present`] answers for a key that did not parse.
pub(crate) const NOT_PARSED: f64 = -2.0;
/// What [`HashTexts::present`] answers for a hash whose text the package does not hold
/// (it is then at [`HashTexts::hex_at`]).
pub(crate) const WRITTEN: f64 = -1.0;

/// WebAssembly's memory (a `WebAssembly.Memory`), where
/// [`OwnUses::hex_at`](crate::own::OwnUses::hex_at) points.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// A hasher of a [`KeyHash`] that takes its first 8 bytes (mixed with the length the
/// slice's `Hash` writes first) for SipHash's work: the bytes are SHA-256's of keys the
/// server made at random, uniform already, and only the hashes of records an app's lookup
/// found are ever inserted, so no caller can choose where entries land. One lookup per
/// check of a store of the app's own.
#[derive(Debug, Default)]
pub(crate) struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        for (to, from) in first.iter_mut().zip(bytes) {
            *to = *from;
        }
        self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(first);
    }
}

/// The hex of the last hash presented, and the hashes whose text the package holds, by the
/// index it holds each under.
#[derive(Debug)]
pub(crate) struct HashTexts {
    hex: [u8; 64],
    index: HashMap<KeyHash, u32, BuildHasherDefault<FirstBytes>>,
    /// The hash held under each index; past [`KNOWN_MAX`], `next` is the one replaced.
    held: Vec<KeyHash>,
    next: usize,
}

impl Default for HashTexts {
    fn default() -> Self {
        HashTexts {
            hex: [b'0'; 64],
            index: HashMap::default(),
            held: Vec::new(),
            next: 0,
        }
    }
}

impl HashTexts {
    /// For a presented `hash` (`None`: the key did not parse, [`NOT_PARSED`]): the index of
    /// the text the package holds for it, or [`WRITTEN`] with its hex written at
    /// [`hex_at`](Self::hex_at).
    pub(crate) fn present(&mut self, hash: Option<&KeyHash>) -> f64 {
        let Some(hash) = hash else {
            return NOT_PARSED;
        };
        if let Some(&i) = self.index.get(hash) {
            return f64::from(i);
        }
        hash.write_hex(&mut self.hex);
        WRITTEN
    }

    /// The index under which the package is to hold the text of `hash` (the one it held
    /// there before, if any, is forgotten here).
    pub(crate) fn remember(&mut self, hash: &KeyHash) -> u32 {
        if let Some(&i) = self.index.get(hash) {
            return i;
        }
        let i = if self.held.len() < KNOWN_MAX {
            self.held.push(*hash);
            self.held.len() - 1
        } else {
            let i = self.next;
            self.next = (i + 1) % KNOWN_MAX;
            if let Some(old) = self.held.get_mut(i) {
                self.index.remove(old);
                *old = *hash;
            }
            i
        };
        // Below KNOWN_MAX: fits.
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        self.index.insert(*hash, i);
        i
    }

    /// Where in WebAssembly's memory ([`wasm_memory`]) the 64 bytes of the hex written by
    /// [`present`](Self::present) are: fixed while this lives (it lives inside an object
    /// of JavaScript's, which does not move).
    pub(crate) fn hex_at(&self) -> usize {
        self.hex.as_ptr().addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u32) -> KeyHash {
        KeyHash::of(&format!("key {i}"))
    }

    #[test]
    fn a_hash_is_written_until_remembered_then_named_by_its_index() {
        let mut texts = HashTexts::default();
        assert_eq!(texts.present(None), NOT_PARSED);
        let h = hash(1);
        assert_eq!(texts.present(Some(&h)), WRITTEN);
        assert_eq!(std::str::from_utf8(&texts.hex), Ok(h.to_hex().as_str()));
        let i = texts.remember(&h);
        assert_eq!(texts.remember(&h), i, "remembered once");
        assert_eq!(texts.present(Some(&h)), f64::from(i));
    }

    #[test]
    fn past_the_bound_the_oldest_index_is_reused_and_its_hash_forgotten() {
        let mut texts = HashTexts::default();
        let bound = u32::try_from(KNOWN_MAX).unwrap_or(u32::MAX);
        for i in 0..bound {
            assert_eq!(texts.remember(&hash(i)), i);
        }
        assert_eq!(texts.remember(&hash(bound)), 0, "the oldest index");
        assert_eq!(texts.present(Some(&hash(0))), WRITTEN, "its hash forgotten");
        assert_eq!(texts.present(Some(&hash(bound))), 0.0);
        assert_eq!(texts.present(Some(&hash(1))), 1.0, "the others kept");
        assert_eq!(texts.remember(&hash(bound + 1)), 1, "then the next oldest");
        assert_eq!(texts.index.len(), KNOWN_MAX);
    }
}
