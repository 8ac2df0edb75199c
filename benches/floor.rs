//! The floor: the cost, with curve25519-dalek alone, of the group operations
//! each benchmarked operation performs.
//!
//! `benches/floor_counts.json` lists, per bench id, how many of each
//! operation it performs (counted by `scripts/count_ops.sh` on an
//! instrumented copy of curve25519-dalek): constant-time variable-base
//! scalar multiplications, basepoint-table multiplications, compressions,
//! decompressions, hashes to the group, scalar inversions, and every
//! multiscalar multiplication by size (variable-time ones also by how many
//! of their scalars are short: `s` or `-s` below 2^128, which the
//! signed-digit recodings handle in about half the additions). This bench
//! measures each distinct primitive once; `scripts/plot_benchmarks.py` sums
//! `count × median` into each operation's floor and reports
//! `measured / floor`.

mod common;

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{MultiscalarMul, VartimeMultiscalarMul};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::Sha512;

/// The distinct multiscalar multiplications of every operation.
fn msm_sizes() -> (BTreeSet<usize>, BTreeSet<(usize, usize)>) {
    let counts: serde_json::Value =
        serde_json::from_str(include_str!("floor_counts.json")).expect("floor_counts.json parses");
    let (mut ct, mut vt) = (BTreeSet::new(), BTreeSet::new());
    for op in counts.as_object().expect("an object").values() {
        for e in op["ct_msm"].as_array().expect("ct_msm") {
            ct.insert(e[0].as_u64().expect("size") as usize);
        }
        for e in op["vt_msm"].as_array().expect("vt_msm") {
            vt.insert((e[0].as_u64().expect("size") as usize, e[1].as_u64().expect("short") as usize));
        }
    }
    (ct, vt)
}

fn floor(c: &mut Criterion) {
    let (ct, vt) = msm_sizes();
    let max = vt.iter().map(|k| k.0).chain(ct.iter().copied()).max().unwrap_or(1);
    let points: Vec<RistrettoPoint> = (0..max).map(|_| RistrettoPoint::random(&mut OsRng)).collect();
    let full: Vec<Scalar> = (0..max).map(|_| Scalar::random(&mut OsRng)).collect();
    let short: Vec<Scalar> = (0..max).map(|_| Scalar::from(OsRng.gen::<u128>())).collect();
    let p = points[0];
    let s = full[0];
    let compressed = p.compress();

    let mut g = c.benchmark_group("floor");
    g.bench_function("varbase_mul", |b| b.iter(|| black_box(black_box(p) * black_box(s))));
    g.bench_function("basepoint_table_mul", |b| {
        b.iter(|| black_box(RistrettoPoint::mul_base(black_box(&s))))
    });
    g.bench_function("double_base", |b| {
        b.iter(|| black_box(RistrettoPoint::vartime_double_scalar_mul_basepoint(&s, &p, &full[1])))
    });
    g.bench_function("compress", |b| b.iter(|| black_box(black_box(p).compress())));
    g.bench_function("decompress", |b| {
        b.iter(|| black_box(CompressedRistretto::decompress(black_box(&compressed))))
    });
    g.bench_function("hash_to_group", |b| {
        let input = [0x5au8; 150];
        b.iter(|| black_box(RistrettoPoint::hash_from_bytes::<Sha512>(black_box(&input))))
    });
    g.bench_function("scalar_invert", |b| b.iter(|| black_box(black_box(s).invert())));
    for n in ct {
        g.bench_with_input(BenchmarkId::new("ct_msm", n), &n, |b, &n| {
            b.iter(|| black_box(RistrettoPoint::multiscalar_mul(&full[..n], &points[..n])))
        });
    }
    for (n, k) in vt {
        // `k` short scalars, then `n - k` full ones.
        let scalars: Vec<Scalar> = short[..k].iter().chain(&full[k..n]).copied().collect();
        if n >= 1000 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new("vt_msm", format!("{n}x{k}")), &n, |b, &n| {
            b.iter(|| black_box(RistrettoPoint::vartime_multiscalar_mul(&scalars, &points[..n])))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = floor }
criterion_main!(benches);
