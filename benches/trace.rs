//! Tracing: owner tracing (a deposited spend → the withdrawer's identity),
//! coin tracing (a withdrawal record → the coin's serial), and the check of
//! a trace result with public keys.
//!
//! `Ttp::trace` checks the warrant, verifies the record (the whole payment,
//! or `pi_W`), decrypts, proves the decryption (Chaum–Pedersen), signs, and
//! appends to the in-memory log. A warrant is good for one trace, so every
//! iteration gets a fresh TTP and warrant (made untimed).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use common::{Fixture, TODAY};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use faircash::crypto::schnorr::SigningKey;
use faircash::protocol::trace::{TraceKind, TraceRecord, TraceRequest, Warrant, WarrantTerms};
use faircash::roles::Ttp;
use faircash::store::memory::MemoryTtpStore;
use faircash::time::{Clock, ManualClock, Timestamp};
use rand::rngs::OsRng;

fn trace(c: &mut Criterion) {
    let fx = Fixture::new();
    let clock = ManualClock::at_day(TODAY);
    clock.advance_secs(3600);
    let judge = SigningKey::generate(&mut OsRng);
    let master = *fx.secrets.master_public();

    // An owner record (a one-coin payment) and a coin record (a withdrawal).
    let owner = TraceRecord::Owner { payment: fx.pay(&fx.coins(1)), coin_index: 0 };
    let start = fx.start(1);
    let coin = TraceRecord::Coin { request: start.request().clone(), identity: *fx.user.identity() };

    let ttp = || {
        let mut t = Ttp::new(fx.ttp.clone(), MemoryTtpStore::new(), Arc::new(clock.clone()));
        t.trust_issuer(*judge.public());
        t.add_keysets(&[fx.keyset.signed().clone()], &master).unwrap();
        t
    };
    let request = |record: &TraceRecord| {
        let now = clock.now();
        let terms = WarrantTerms {
            kind: record.kind(),
            record_digest: record.digest(),
            case_id: "2026-117".into(),
            reason: "benchmark".into(),
            issued_at: Timestamp(now.0 - 60),
            expires_at: now.plus_secs(86_400),
        };
        TraceRequest { warrant: Warrant::issue(&judge, terms, &mut OsRng), record: record.clone() }
    };

    let mut g = c.benchmark_group("trace");
    for (name, record) in [("owner", &owner), ("coin", &coin)] {
        g.bench_function(BenchmarkId::new("trace", name), |b| {
            b.iter_batched(
                || (ttp(), request(record)),
                |(t, req)| black_box(t.trace(&req, &mut OsRng).unwrap()),
                BatchSize::SmallInput,
            )
        });
        let req = request(record);
        let result = ttp().trace(&req, &mut OsRng).unwrap();
        assert_eq!(result.kind, if name == "owner" { TraceKind::Owner } else { TraceKind::Coin });
        let public = fx.ttp.public();
        g.bench_function(BenchmarkId::new("verify_result", name), |b| {
            b.iter(|| black_box(result.verify(&public, &req.record, &req.warrant).unwrap()))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = trace }
criterion_main!(benches);
