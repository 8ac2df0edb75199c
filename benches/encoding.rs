//! Encoding and strict decoding (the versioned postcard envelope of
//! `WireMessage`): a coin, and payments of 1, 8 and 64 coins. Decoding
//! checks every point (decompression), every scalar, the canonical
//! re-encoding and the identity rules. Also a coin's id (`coin_id`).
//! Prints the sizes first.

mod common;

use std::hint::black_box;

use common::Fixture;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faircash::coin::{Coin, SpendResponses};
use faircash::protocol::pay::Payment;
use faircash::wire::WireMessage;

fn encoding(c: &mut Criterion) {
    let fx = Fixture::new();
    let coins = fx.coins(64);
    let coin: Coin = coins[0].coin;
    let payments: Vec<(usize, Payment)> = [1usize, 8, 64].iter().map(|&n| (n, fx.pay(&coins[..n]))).collect();

    let coin_bytes = coin.to_bytes();
    let spend = postcard::to_allocvec(&payments[0].1.responses[0]).unwrap();
    println!(
        "size coin: {} bytes (envelope included; postcard body {})",
        coin_bytes.len(),
        coin_bytes.len() - 4
    );
    println!("size spend responses: {} bytes per coin", spend.len());
    let _: SpendResponses = postcard::from_bytes(&spend).unwrap();
    for (n, p) in &payments {
        let b = p.to_bytes();
        println!(
            "size payment of {n} coin(s): {} bytes ({:.0} per coin; range proof {} bytes)",
            b.len(),
            b.len() as f64 / *n as f64,
            p.range_proof.as_bytes().len()
        );
    }

    let mut g = c.benchmark_group("encoding");
    g.bench_function("coin_encode", |b| b.iter(|| black_box(coin.to_bytes())));
    g.bench_function("coin_decode", |b| b.iter(|| black_box(Coin::from_bytes(&coin_bytes).unwrap())));
    // The coin's id: a merlin transcript over params_id and the body, paid
    // once per coin by every verifier (the index of spent coins, and the
    // message of the ACL signature).
    g.bench_function("coin_id", |b| b.iter(|| black_box(black_box(&coin).id())));
    for (n, p) in &payments {
        let bytes = p.to_bytes();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("payment_encode", n), n, |b, _| {
            b.iter(|| black_box(p.to_bytes()))
        });
        g.bench_with_input(BenchmarkId::new("payment_decode", n), n, |b, _| {
            b.iter(|| black_box(Payment::from_bytes(&bytes).unwrap()))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = encoding }
criterion_main!(benches);
