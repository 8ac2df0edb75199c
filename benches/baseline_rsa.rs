//! The baseline: RSA-2048 blind signatures as in RFC 9474
//! (RSABSSA-SHA384-PSS-Randomized, the RFC's recommended variant), through
//! the `blind-rsa-signatures` crate, next to the same roles in faircash, in
//! one binary so the ratios come from one run.
//!
//! | role | RSA blind signatures | faircash |
//! |---|---|---|
//! | bank, per coin issued | `blind_sign` (private-key operation, checked with the public key) | `withdraw/bank`: check `pi_W`, open the ACL session, check the challenge's authorization, answer |
//! | merchant, per coin | `verify` (one public-key operation) | `verify_payment` of a one-coin payment (range proof, ACL signature, spend proof) |
//! | user, per coin | `blind` + `finalize` (which verifies) | withdrawal user side |

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use blind_rsa_signatures::{DefaultRng, KeyPairSha384PSSRandomized};
use common::Fixture;
use criterion::{criterion_group, criterion_main, Criterion};
use faircash::protocol::pay::verify_payment;
use rand::rngs::OsRng;

fn rsa(c: &mut Criterion) {
    let kp = KeyPairSha384PSSRandomized::generate(&mut DefaultRng, 2048).unwrap();
    let (pk, sk) = (kp.pk, kp.sk);
    let msg = [0x42u8; 32]; // a coin's public key or serial: 32 bytes
    let blinded = pk.blind(&mut DefaultRng, msg).unwrap();
    let blind_sig = sk.blind_sign(&blinded.blind_message).unwrap();
    let sig = pk.finalize(&blind_sig, &blinded, msg).unwrap();
    pk.verify(&sig, blinded.msg_randomizer, msg).unwrap();

    let mut g = c.benchmark_group("baseline");
    g.bench_function("rsa2048_blind_sign", |b| {
        b.iter(|| black_box(sk.blind_sign(&blinded.blind_message).unwrap()))
    });
    g.bench_function("rsa2048_verify", |b| {
        b.iter(|| pk.verify(black_box(&sig), blinded.msg_randomizer, msg).unwrap())
    });
    g.bench_function("rsa2048_user_blind_finalize", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let bl = pk.blind(&mut DefaultRng, msg).unwrap();
                total += t.elapsed();
                let bs = sk.blind_sign(&bl.blind_message).unwrap();
                let t = Instant::now();
                black_box(pk.finalize(&bs, &bl, msg).unwrap());
                total += t.elapsed();
            }
            total
        })
    });

    let fx = Fixture::new();
    g.bench_function("faircash_bank_withdraw", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fx.withdraw_timed(1).1).sum())
    });
    g.bench_function("faircash_user_withdraw", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fx.withdraw_timed(1).0).sum())
    });
    let payment = fx.pay(&fx.coins(1));
    g.bench_function("faircash_merchant_verify", |b| {
        b.iter(|| black_box(verify_payment(&payment, &fx.keyset, &mut OsRng).unwrap()))
    });
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = rsa }
criterion_main!(benches);
