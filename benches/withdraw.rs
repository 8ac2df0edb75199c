//! Withdrawal, user side and bank side, one coin and 64 coins in a row.
//!
//! The two sides run interleaved (the protocol needs both); `iter_custom`
//! times only the side named by the bench. "bank" is the protocol step
//! alone (check `pi_W`, open the signer session, check the challenge's
//! authorization, answer); "bank_memory_store" and "bank_sqlite_store" are
//! `Bank::open_withdrawal` and `Bank::answer_withdrawal` over the in-memory
//! and the SQLite store (sessions, balance, uniqueness of `C`, commits): the
//! bank's whole work per coin. The protocol has no multi-coin message: 64
//! coins are 64 sessions back to back.

mod common;

use std::hint::black_box;

use common::Fixture;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faircash::store::sqlite::SqliteBankStore;
use rand::rngs::OsRng;

fn steps(c: &mut Criterion) {
    // One withdrawal's inputs, replayed: every step is a pure function of
    // its inputs (the stores that make a session answer once are not
    // involved here), so each iteration redoes the same work.
    let fx = Fixture::new();
    let start = fx.start(1);
    let req = start.request().clone();
    let (session, commitment) = fx.bank_open(&req);
    let pending = start.clone().receive_commitment(&fx.keys, &commitment, &mut OsRng).unwrap();
    let ch = pending.challenge();
    let answer = fx.bank_answer(&req, session.clone(), &commitment, &ch);

    let mut g = c.benchmark_group("withdraw_step");
    g.bench_function("user_start", |b| b.iter(|| black_box(fx.start(1))));
    g.bench_function("bank_open", |b| b.iter(|| black_box(fx.bank_open(&req))));
    g.bench_function("user_receive_commitment", |b| {
        b.iter(|| black_box(start.clone().receive_commitment(&fx.keys, &commitment, &mut OsRng).unwrap()))
    });
    g.bench_function("bank_answer", |b| {
        b.iter(|| black_box(fx.bank_answer(&req, session.clone(), &commitment, &ch)))
    });
    g.bench_function("user_finish", |b| b.iter(|| black_box(pending.clone().finish(&answer).unwrap())));
    g.finish();
}

/// Each side of whole withdrawals, and the bank role with its store.
///
/// `bank_memory_store` and `bank_sqlite_store` are the bank's whole work
/// per coin (what the bank-side withdrawal target means): `Bank`'s checks,
/// the protocol step and the store transactions, on the in-memory store and
/// on SQLite (a file in a scratch directory, two committed transactions per
/// coin, each with its fsync). Every sample starts from a fresh bank and
/// store, so the cost of a sample does not depend on the ones before.
fn sides(c: &mut Criterion) {
    let fx = Fixture::new();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut dbs = 0usize;
    let mut g = c.benchmark_group("withdraw");
    for coins in [1usize, 64] {
        g.throughput(Throughput::Elements(coins as u64));
        if coins > 1 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new("user", coins), &coins, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| fx.withdraw_timed(n).0).sum())
        });
        g.bench_with_input(BenchmarkId::new("bank", coins), &coins, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| fx.withdraw_timed(n).1).sum())
        });
        g.bench_with_input(BenchmarkId::new("bank_memory_store", coins), &coins, |b, &n| {
            b.iter_custom(|iters| {
                let (bank, keyset, _) = fx.memory_bank(u64::MAX / 2);
                (0..iters).map(|_| fx.withdraw_through(&bank, &keyset, n)).sum()
            })
        });
        g.bench_with_input(BenchmarkId::new("bank_sqlite_store", coins), &coins, |b, &n| {
            b.iter_custom(|iters| {
                dbs += 1;
                let store =
                    SqliteBankStore::open(scratch.path().join(format!("bank-{dbs}.db"))).expect("store");
                let (bank, keyset, _) = fx.bank(store, u64::MAX / 2);
                (0..iters).map(|_| fx.withdraw_through(&bank, &keyset, n)).sum()
            })
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = steps, sides }
criterion_main!(benches);
