//! A memo of presented keys' SHA-256, so that a key seen again is not hashed again.
//!
//! SHA-256 of the presented key is most of what checking a key costs in a busy process
//! (the lookup and the decision are a few hundred nanoseconds). The hash of a string
//! never changes, so a memo of it changes no decision: every rule, revocation included,
//! is still decided on each use with the record as it is then.
//!
//! What the memo holds is chosen so that it adds nothing worth stealing: a slot holds a
//! key's SHA-256 (what the store already holds) under a 128-bit SipHash-2-4 of the key,
//! keyed by 128 bits from the CSPRNG drawn when the memo is made. Never the key itself.
//! A memory dump gives the SipHash key and the tags; recovering a key from them is a
//! search of the key's 256-bit secret. Only keys the store found are kept
//! ([`HashMemo::keep`]), so junk and unknown keys can neither fill it nor evict a real one.
//!
//! A tag is compared in constant time. Two different keys share a tag with probability
//! 2^-128 per pair, and without the SipHash key a caller cannot aim for one.

use core::fmt;
use core::hash::Hasher as _;

use siphasher::sip128::{Hasher128 as _, SipHasher24};
use subtle::ConstantTimeEq as _;

use crate::check::Presented;
use crate::hash::KeyHash;
use crate::key::{ApiKeyRef, ParseError};
use crate::random::{OsRandom, RandomError, RandomSource};

/// How many keys a memo holds unless told otherwise.
pub const DEFAULT_MEMO_SLOTS: usize = 1024;

/// Presented keys' SHA-256 by a keyed digest of the key, in a fixed number of slots
/// (direct-mapped: a key kept evicts the one in its slot). `Debug` shows only its size.
pub struct HashMemo {
    k0: u64,
    k1: u64,
    slots: Box<[Slot]>,
}

#[derive(Clone, Copy)]
struct Slot {
    tag: u128,
    hash: Option<KeyHash>,
}

/// A presented key's digest under the memo's key, and where it would be kept: what
/// [`HashMemo::keep`] needs after the lookup, so the key is not digested twice.
#[derive(Clone, Copy)]
pub struct MemoTag {
    tag: u128,
    hit: bool,
}

impl fmt::Debug for MemoTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoTag")
            .field("hit", &self.hit)
            .finish_non_exhaustive()
    }
}

impl HashMemo {
    /// An empty memo of `slots` keys (rounded up to a power of two, at least one),
    /// keyed by 128 bits from the CSPRNG.
    ///
    /// # Errors
    /// [`RandomError`] if the CSPRNG fails.
    pub fn new(slots: usize) -> Result<Self, RandomError> {
        Self::with_random(slots, &mut OsRandom)
    }

    /// The same with the SipHash key drawn from `random`.
    ///
    /// # Errors
    /// [`RandomError`] if `random` fails.
    pub fn with_random(slots: usize, random: &mut impl RandomSource) -> Result<Self, RandomError> {
        let mut key = [0u8; 16];
        random.fill(&mut key)?;
        let (k0, k1) = key.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        let empty = Slot { tag: 0, hash: None };
        Ok(HashMemo {
            k0: word(k0),
            k1: word(k1),
            slots: vec![empty; slots.max(1).next_power_of_two()].into_boxed_slice(),
        })
    }

    /// How many keys it can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Parses `raw` (grammar and checksum, as [`Presented::parse`]), then takes its hash
    /// from the memo, or computes it when the memo does not hold it. The tag is for
    /// [`keep`](HashMemo::keep) once the store has found the key.
    ///
    /// # Errors
    /// [`ParseError`], as [`Presented::parse`].
    pub fn present<'a>(&self, raw: &'a str) -> Result<(Presented<'a>, MemoTag), ParseError> {
        let key = ApiKeyRef::parse(raw)?;
        let tag = self.tag_of(raw);
        let slot = &self.slots[self.index(tag)];
        let held = slot.hash.filter(|_| same_tag(slot.tag, tag));
        let hash = held.unwrap_or_else(|| key.hash());
        Ok((
            Presented::with_hash(key, hash),
            MemoTag {
                tag,
                hit: held.is_some(),
            },
        ))
    }

    /// Keeps `hash`, the hash of the key whose tag [`present`](HashMemo::present) gave,
    /// once the store has found a record of it.
    pub fn keep(&mut self, tag: MemoTag, hash: &KeyHash) {
        if tag.hit {
            return;
        }
        let i = self.index(tag.tag);
        self.slots[i] = Slot {
            tag: tag.tag,
            hash: Some(*hash),
        };
    }

    /// Whether the memo holds the hash of `raw` (which need not be a key).
    pub fn holds(&self, raw: &str) -> bool {
        let tag = self.tag_of(raw);
        let slot = &self.slots[self.index(tag)];
        slot.hash.is_some() && same_tag(slot.tag, tag)
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.hash = None;
        }
    }

    fn tag_of(&self, raw: &str) -> u128 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(raw.as_bytes());
        h.finish128().as_u128()
    }

    fn index(&self, tag: u128) -> usize {
        // The slot count is a power of two; the low bits of a PRF's output are as good as any.
        (tag as usize) & (self.slots.len() - 1)
    }
}

/// Whether two tags are equal, compared in constant time.
fn same_tag(a: u128, b: u128) -> bool {
    let (lo, hi) = (a as u64 ^ b as u64, (a >> 64) as u64 ^ (b >> 64) as u64);
    (lo | hi).ct_eq(&0).into()
}

impl fmt::Debug for HashMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashMemo")
            .field("capacity", &self.slots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ApiKey;

    fn key() -> ApiKey {
        ApiKey::generate("sk", "live").unwrap().key
    }

    #[test]
    fn a_kept_key_is_found_with_its_own_hash() {
        let mut memo = HashMemo::new(8).unwrap();
        let k = key();
        let (p, t) = memo.present(k.expose_secret()).unwrap();
        assert!(!t.hit);
        assert_eq!(*p.hash(), KeyHash::of(k.expose_secret()));
        memo.keep(t, p.hash());
        assert!(memo.holds(k.expose_secret()));
        let (again, t2) = memo.present(k.expose_secret()).unwrap();
        assert!(t2.hit);
        assert_eq!(again.hash(), p.hash());
    }

    #[test]
    fn a_key_not_kept_is_hashed_each_time() {
        let memo = HashMemo::new(8).unwrap();
        let k = key();
        for _ in 0..2 {
            let (p, t) = memo.present(k.expose_secret()).unwrap();
            assert!(!t.hit);
            assert_eq!(*p.hash(), KeyHash::of(k.expose_secret()));
        }
    }

    #[test]
    fn another_key_in_the_same_slot_gets_its_own_hash() {
        // One slot: every key shares it, so only the tag tells them apart.
        let mut memo = HashMemo::new(1).unwrap();
        let (a, b) = (key(), key());
        let (pa, ta) = memo.present(a.expose_secret()).unwrap();
        memo.keep(ta, pa.hash());
        let (pb, tb) = memo.present(b.expose_secret()).unwrap();
        assert!(!tb.hit);
        assert_eq!(*pb.hash(), KeyHash::of(b.expose_secret()));
        memo.keep(tb, pb.hash());
        let (pa2, ta2) = memo.present(a.expose_secret()).unwrap();
        assert!(!ta2.hit, "b evicted a");
        assert_eq!(*pa2.hash(), KeyHash::of(a.expose_secret()));
    }

    #[test]
    fn junk_is_refused_as_by_parse() {
        let memo = HashMemo::new(8).unwrap();
        let k = key();
        let mut bad = k.expose_secret().to_owned();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            memo.present(&bad).map(|_| ()).unwrap_err(),
            Presented::parse(&bad).map(|_| ()).unwrap_err()
        );
        assert!(memo.present("nope").is_err());
    }

    #[test]
    fn a_memo_is_keyed_by_its_random_source_and_refused_without_one() {
        struct Broken;
        impl RandomSource for Broken {
            fn fill(&mut self, _: &mut [u8]) -> Result<(), RandomError> {
                Err(RandomError)
            }
        }
        assert!(HashMemo::with_random(8, &mut Broken).is_err());
        // Two memos keyed alike tag a key alike; keyed apart, a key kept in one is not in the other.
        let k = key();
        let mut a = HashMemo::with_random(8, &mut |b: &mut [u8]| b.fill(1)).unwrap();
        let b = HashMemo::with_random(8, &mut |b: &mut [u8]| b.fill(1)).unwrap();
        let c = HashMemo::with_random(8, &mut |b: &mut [u8]| b.fill(2)).unwrap();
        let (p, t) = a.present(k.expose_secret()).unwrap();
        a.keep(t, p.hash());
        assert!(a.holds(k.expose_secret()));
        assert_eq!(a.tag_of(k.expose_secret()), b.tag_of(k.expose_secret()));
        assert_ne!(a.tag_of(k.expose_secret()), c.tag_of(k.expose_secret()));
        assert!(!c.holds(k.expose_secret()));
    }

    #[test]
    fn cleared_memo_hashes_again_and_debug_shows_no_key() {
        let mut memo = HashMemo::new(4).unwrap();
        let k = key();
        let (p, t) = memo.present(k.expose_secret()).unwrap();
        memo.keep(t, p.hash());
        memo.clear();
        assert!(!memo.present(k.expose_secret()).unwrap().1.hit);
        let shown = format!("{memo:?} {t:?}");
        assert!(!shown.contains(k.expose_secret()));
        assert!(!shown.contains(&p.hash().to_hex()));
        assert_eq!(memo.capacity(), 4);
    }
}
