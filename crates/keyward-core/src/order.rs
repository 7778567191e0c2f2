//! One stable sort for every type keyward sorts. The standard library's sort is generic:
//! each element type sorted gets its own copy of it (about 5 KB of wasm each, README,
//! Benchmarks). Here the standard sort runs once, on indices, through one `dyn` comparator,
//! and the items are then moved into that order; only the small move is per type.
//!
//! ```
//! let mut v = vec![(2, "b"), (1, "x"), (2, "a"), (1, "y")];
//! keyward_core::order::sort_by_key(&mut v, |p| p.0);
//! assert_eq!(v, [(1, "x"), (1, "y"), (2, "b"), (2, "a")]);
//! ```
//!
//! Maps are [`crate::table::Table`]s, built by sorting their pairs here.

use core::cmp::Ordering;

/// Sorts `items` by `compare`, stably (equal items keep their order), as `slice::sort_by`.
/// Items already in order (a log appended in time order, a stored set) are left as they
/// are, without the sort's allocation.
pub fn sort_by<T>(items: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    if items.is_sorted_by(|a, b| compare(a, b) != Ordering::Greater) {
        return;
    }
    let order = sorted_indices(items.len(), &|a, b| compare(&items[a], &items[b]));
    permute(items, order);
}

/// Sorts `items` by the key `key` gives, stably, as `slice::sort_by_key`.
pub fn sort_by_key<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` in their natural order, stably, as `slice::sort`.
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// `0..len` sorted stably by `compare` on indices: the one instance of the standard sort.
#[inline(never)]
fn sorted_indices(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    order
}

/// Moves `items` so that position `i` holds what was at `order[i]`, cycle by cycle, in
/// place (`order` is a permutation of `0..items.len()`; it is used up as the marks).
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at];
            order[at] = at;
            if from == start || from == at {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        // Random inputs of up to 39 items with repeated keys (the second field is the
        // original position, so a change of order among equals shows), against the standard sort.
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..40 {
            for _ in 0..50 {
                let v: Vec<(u32, usize)> = (0..len)
                    .map(|i| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed % 7, i)
                    })
                    .collect();
                let mut ours = v.clone();
                let mut std = v;
                sort_by_key(&mut ours, |p| p.0);
                std.sort_by_key(|p| p.0);
                assert_eq!(ours, std);
            }
        }
    }
}
