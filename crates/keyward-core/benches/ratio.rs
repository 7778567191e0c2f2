//! The hot path's ratio to bare SHA-256, measured in adjacent batches.
//!
//! Criterion times (a) and (b) of `verify.rs` one after the other, seconds apart; on a
//! shared machine the load moves between them and so does their ratio. Here each round
//! times a batch of (a) and then a batch of (b) back to back, alternating which goes
//! first, and the ratio is taken per round; the median of the rounds' ratios is what the
//! load cannot move much, because both halves of a round saw the same machine.
//!
//! `cargo bench -p keyward-core --bench ratio`
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use keyward_core::chrono::Utc;
use keyward_core::{ApiKeyRef, KeyHash, KeyRecord, Scope, verify};
use sha2::{Digest, Sha256};

const ROUNDS: usize = 4001;
const BATCH: u32 = 1_000;

fn main() {
    let (raw, record, required, now) = common::key_and_record();

    // (a) SHA-256 of the key alone, the floor.
    let sha = || {
        let t = Instant::now();
        for _ in 0..BATCH {
            black_box(one_hash(black_box(raw.as_bytes())));
        }
        t.elapsed().as_nanos() as f64 / f64::from(BATCH)
    };
    // (b) the whole hot path, as `verify.rs` times it.
    let path = || {
        let t = Instant::now();
        for _ in 0..BATCH {
            black_box(one_use(
                black_box(raw.as_str()),
                &record,
                black_box(&required),
                now,
            ));
        }
        t.elapsed().as_nanos() as f64 / f64::from(BATCH)
    };

    // Warm up both, then the rounds.
    sha();
    path();
    let mut a = Vec::with_capacity(ROUNDS);
    let mut b = Vec::with_capacity(ROUNDS);
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (ta, tb) = if round % 2 == 0 {
            let ta = sha();
            (ta, path())
        } else {
            let tb = path();
            (sha(), tb)
        };
        a.push(ta);
        b.push(tb);
        ratios.push(tb / ta);
    }
    let (a, b, r) = (quartiles(a), quartiles(b), quartiles(ratios));
    println!("{ROUNDS} rounds of {BATCH} each, (a) and (b) back to back, alternating order");
    println!(
        "(a) SHA-256 of a key          median {:6.1} ns  (quartiles {:.1}–{:.1})",
        a.1, a.0, a.2
    );
    println!(
        "(b) the hot path              median {:6.1} ns  (quartiles {:.1}–{:.1})",
        b.1, b.0, b.2
    );
    println!(
        "(b)/(a) per round             median {:6.3}×    (quartiles {:.3}–{:.3})",
        r.1, r.0, r.2
    );
}

/// The lower quartile, median and upper quartile of `xs`.
fn quartiles(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let at = |q: usize| xs[(xs.len() - 1) * q / 4];
    (at(1), at(2), at(3))
}

#[inline(never)]
fn one_hash(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

#[inline(never)]
fn one_use(
    raw: &str,
    record: &KeyRecord,
    required: &[Scope],
    now: keyward_core::chrono::DateTime<Utc>,
) -> keyward_core::Verdict {
    let key = ApiKeyRef::parse(raw).unwrap();
    let hash: KeyHash = key.hash();
    let found = record.hash.ct_eq(&hash).then_some(record);
    verify(found, key.env(), required, now)
}
