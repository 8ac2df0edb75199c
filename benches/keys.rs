//! Key generation: a user key, a merchant key, and a keyset of 11
//! denominations (keys, `z_k` hashed to the group, the master signature and
//! its check).

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{BankSecrets, UserKey};
use faircash::roles::TtpKeys;
use rand::rngs::OsRng;
use std::hint::black_box;

fn keys(c: &mut Criterion) {
    let mut g = c.benchmark_group("keys");
    g.bench_function("user_key", |b| b.iter(|| black_box(UserKey::generate(&mut OsRng))));
    g.bench_function("merchant_key", |b| b.iter(|| black_box(SigningKey::generate(&mut OsRng))));
    let ttp = TtpKeys::generate(&mut OsRng);
    let secrets = BankSecrets::generate(&mut OsRng);
    let spec = common::spec();
    let n = spec.exponents.clone().count();
    g.bench_function(format!("keyset_issue_{n}_keys"), |b| {
        b.iter_batched(
            || secrets.clone(),
            |mut s| black_box(s.issue_keyset(None, *ttp.decryption.public(), &spec, &mut OsRng).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = keys }
criterion_main!(benches);
