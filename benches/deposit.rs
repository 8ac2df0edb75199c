//! Deposit verification, batched versus one by one.
//!
//! A deposit request of `n` one-coin payments (`n` = 1, 16, 64, 256, 1024):
//!
//! - `batched`: `verify_deposit` over the request: the merchant's
//!   signature, every payment's range proof and every coin's ACL and spend
//!   equations in one multiscalar multiplication;
//! - `one_by_one`: the signature, then `verify_payment` on each payment
//!   (its range proof and its coins' equations in a multiscalar
//!   multiplication of its own);
//! - `equations_batched` / `equations_one_by_one`: the group equations
//!   alone (per coin: `coin_id`, the ACL hash, four ACL and six spend
//!   equations), in one batch or one batch per coin;
//! - `*_64_coin_payments`: 1024 coins as 16 payments of 64 coins;
//! - `queue_only/1024`: the per-coin work around the arithmetic: the group
//!   equations of 1024 coins queued as `equations_batched` queues them
//!   (`coin_id`, ACL hash, spend relation, weighted terms merged), and not
//!   verified: the fixed work both modes pay per coin.

mod common;

use std::hint::black_box;

use common::{Fixture, TODAY};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faircash::crypto::batch::BatchVerifier;
use faircash::protocol::deposit::verify_deposit;
use faircash::protocol::pay::Payment;
use rand::rngs::OsRng;

/// Coins per deposit request.
pub const SIZES: [usize; 5] = [1, 16, 64, 256, 1024];

fn deposit(c: &mut Criterion) {
    let fx = Fixture::new();
    let max = *SIZES.last().unwrap();
    let coins = fx.coins(max);
    let payments: Vec<Payment> = coins.chunks(1).map(|c| fx.pay(c)).collect();
    let challenges = common::challenges(&fx, &payments);
    let keysets = [fx.keyset.clone()];
    let mkey = *fx.merchant.public();

    let mut g = c.benchmark_group("deposit");
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(if n >= 256 { 10 } else { 20 });
        let req = fx.deposit(payments[..n].to_vec());
        g.bench_with_input(BenchmarkId::new("batched", n), &n, |b, _| {
            b.iter(|| black_box(verify_deposit(&req, &mkey, &keysets, TODAY, &mut OsRng).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("one_by_one", n), &n, |b, _| {
            b.iter(|| common::deposit_one_by_one(&fx, &req))
        });
        g.bench_with_input(BenchmarkId::new("equations_batched", n), &n, |b, &n| {
            b.iter(|| common::equations_batched(&fx, &payments[..n], &challenges[..n]))
        });
        g.bench_with_input(BenchmarkId::new("equations_one_by_one", n), &n, |b, &n| {
            b.iter(|| common::equations_one_by_one(&fx, &payments[..n], &challenges[..n]))
        });
    }
    // The queueing alone, for the largest batch.
    g.throughput(Throughput::Elements(max as u64));
    g.sample_size(10);
    g.bench_with_input(BenchmarkId::new("queue_only", max), &max, |b, &n| {
        b.iter(|| {
            let mut batch = BatchVerifier::with_capacity(&mut OsRng, 16 * n + 32);
            common::queue_equations(&fx, &payments[..n], &challenges[..n], &mut batch);
            black_box(batch)
        })
    });
    // 1024 coins as 16 payments of 64 coins.
    let big: Vec<Payment> = coins.chunks(64).map(|c| fx.pay(c)).collect();
    let n = big.iter().map(|p| p.coins.len()).sum::<usize>();
    let req = fx.deposit(big);
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_with_input(BenchmarkId::new("batched_64_coin_payments", n), &n, |b, _| {
        b.iter(|| black_box(verify_deposit(&req, &mkey, &keysets, TODAY, &mut OsRng).unwrap()))
    });
    g.bench_with_input(BenchmarkId::new("one_by_one_64_coin_payments", n), &n, |b, _| {
        b.iter(|| common::deposit_one_by_one(&fx, &req))
    });
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = deposit }
criterion_main!(benches);
