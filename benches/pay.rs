//! Payment: the wallet builds a payment (spend responses and the aggregated
//! expiry range proof) and the merchant verifies it off-line (structure,
//! range proof, ACL signatures and spend proofs in one multiscalar
//! multiplication). 1, 8 and 64 coins (64 is the most a payment holds).

mod common;

use std::hint::black_box;

use common::Fixture;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faircash::protocol::pay::{create_payment, verify_payment};
use faircash::protocol::withdraw::WalletCoin;
use rand::rngs::OsRng;

fn pay(c: &mut Criterion) {
    let fx = Fixture::new();
    let coins = fx.coins(64);
    let mut g = c.benchmark_group("pay");
    for n in [1usize, 8, 64] {
        g.throughput(Throughput::Elements(n as u64));
        if n == 64 {
            g.sample_size(10);
        }
        let refs: Vec<&WalletCoin> = coins[..n].iter().collect();
        let request = fx.request(n as u64);
        g.bench_with_input(BenchmarkId::new("create", n), &n, |b, _| {
            b.iter(|| black_box(create_payment(&request, &fx.keyset, &fx.user, &refs, &mut OsRng).unwrap()))
        });
        let payment = fx.pay(&coins[..n]);
        g.bench_with_input(BenchmarkId::new("verify", n), &n, |b, _| {
            b.iter(|| black_box(verify_payment(&payment, &fx.keyset, &mut OsRng).unwrap()))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = pay }
criterion_main!(benches);
