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

use common::{Fixture, TODAY};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use faircash::crypto::schnorr::SigningKey;
use faircash::protocol::trace::{TraceKind, TraceRecord};
use faircash::time::ManualClock;
use rand::rngs::OsRng;

fn trace(c: &mut Criterion) {
    let fx = Fixture::new();
    let clock = ManualClock::at_day(TODAY);
    clock.advance_secs(3600);
    let judge = SigningKey::generate(&mut OsRng);
    // An owner record (a one-coin payment) and a coin record (a withdrawal).
    let owner = TraceRecord::Owner { payment: fx.pay(&fx.coins(1)), coin_index: 0 };
    let start = fx.start(1);
    let coin = TraceRecord::Coin { request: start.request().clone(), identity: *fx.user.identity() };

    let ttp = || fx.ttp(&clock, &judge);
    let request = |record: &TraceRecord| common::trace_request(record, &judge, &clock);

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
        let public = fx.ttp_statement();
        g.bench_function(BenchmarkId::new("verify_result", name), |b| {
            b.iter(|| black_box(result.verify(&public, &req.record, &req.warrant).unwrap()))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = trace }
criterion_main!(benches);
