//! The verification hot path against its floor, bare SHA-256, in one run.
//!
//! `cargo bench -p keyward-core --bench verify`
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyward_core::{ApiKeyRef, KeyHash, verify};
use sha2::{Digest, Sha256};

fn hot_path(c: &mut Criterion) {
    let (raw, record, required, now) = common::key_and_record();

    let mut group = c.benchmark_group("verify");
    group.bench_function("a_sha256_only", |b| {
        b.iter(|| Sha256::digest(black_box(raw.as_bytes())))
    });
    group.bench_function("b_parse_checksum_hash_scope", |b| {
        b.iter(|| {
            let key = ApiKeyRef::parse(black_box(raw.as_str())).unwrap();
            let hash: KeyHash = key.hash();
            // The lookup a store does: compare the stored hash in constant time.
            let found = record.hash.ct_eq(&hash).then_some(&record);
            verify(found, key.env(), black_box(&required), now)
        })
    });
    // The parts of (b), to show where its time goes.
    group.bench_function("c_parse_and_checksum_only", |b| {
        b.iter(|| ApiKeyRef::parse(black_box(raw.as_str())).unwrap())
    });
    group.bench_function("d_decision_only", |b| {
        b.iter(|| verify(Some(black_box(&record)), "live", black_box(&required), now))
    });
    // The decision with the key's restrictions: none, and 100 IPv6 blocks where the
    // client matches only the last (the worst case for a key that admits it).
    let client = keyward_core::client_ip("2001:db8:63::1");
    let mut restricted = record.clone();
    let blocks: Vec<String> = (0..100).map(|i| format!("2001:db8:{i:x}::/48")).collect();
    restricted.allowed_ips = keyward_core::Networks::parse(&blocks).unwrap();
    for (name, r) in [
        ("e_decision_restricted_none", &record),
        ("f_decision_restricted_100_blocks", &restricted),
    ] {
        let restrictions = r.restrictions();
        group.bench_function(name, |b| {
            b.iter(|| {
                keyward_core::decide_restricted(
                    Some(black_box(r).facts()),
                    black_box(&restrictions),
                    black_box(client),
                    "live",
                    black_box(&required),
                    now,
                )
            })
        });
    }
    // A key seen again: its hash from the memo (SipHash-2-4 of the key, one slot read)
    // instead of SHA-256, then the same decision as (b).
    let mut memo = keyward_core::HashMemo::new(keyward_core::DEFAULT_MEMO_SLOTS).unwrap();
    let (p, tag) = memo.present(&raw).unwrap();
    memo.keep(tag, p.hash());
    group.bench_function("g_memo_parse_checksum_hash_scope", |b| {
        b.iter(|| {
            let (p, _) = memo.present(black_box(raw.as_str())).unwrap();
            let found = record.hash.ct_eq(p.hash()).then_some(&record);
            verify(found, p.env(), black_box(&required), now)
        })
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
