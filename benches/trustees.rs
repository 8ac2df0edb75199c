//! Threshold trustees: a whole DKG ceremony of `n` trustees in one process
//! (every round file made, signed and checked by everyone, and the
//! completion anyone repeats), one trustee's decryption share with its
//! Chaum–Pedersen proof, and the combination and public verification of
//! `t` shares (specs/tracing.md §9).
//!
//! The shares are made directly (`ShareEvidence::create`) for an owner
//! record of the fixture: the trustee's warrant and record checks and its
//! log append are `trace/trace`'s, measured there.

mod common;

use std::hint::black_box;

use common::{Fixture, TODAY};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use faircash::crypto::group_signature::GroupSigningKey;
use faircash::crypto::schnorr::SigningKey;
use faircash::params::Params;
use faircash::protocol::trace::{combine_shares, ShareContext, ShareEvidence, TraceRecord, TraceShare};
use faircash::protocol::trust::TtpKeyStatement;
use faircash::time::{ManualClock, Timestamp};
use faircash::trustees::dkg::{run_local, Ceremony, KeyPurpose, KeyShare, Participant};
use rand::rngs::OsRng;

fn ceremony(t: u16, n: u16) -> (Ceremony, Vec<GroupSigningKey>) {
    let keys: Vec<GroupSigningKey> = (0..n).map(|_| GroupSigningKey::generate(&mut OsRng)).collect();
    let parts = keys.iter().zip(1..).map(|(k, id)| Participant { id, identity: *k.public() }).collect();
    (Ceremony::new(KeyPurpose::Decryption, t, parts, &mut OsRng).unwrap(), keys)
}

fn trustees(c: &mut Criterion) {
    let mut g = c.benchmark_group("trustees");
    for (t, n) in [(2u16, 3u16), (3, 5), (6, 10)] {
        let (cer, keys) = ceremony(t, n);
        g.bench_function(BenchmarkId::new("dkg", format!("{t}of{n}")), |b| {
            b.iter(|| black_box(run_local(&cer, &keys, &mut OsRng).unwrap()))
        });
    }

    let fx = Fixture::new();
    let clock = ManualClock::at_day(TODAY);
    clock.advance_secs(3600);
    let judge = SigningKey::generate(&mut OsRng);
    let record = TraceRecord::Owner { payment: fx.pay(&fx.coins(1)), coin_index: 0 };
    let req = common::trace_request(&record, &judge, &clock);
    let context = ShareContext {
        record_digest: record.digest(),
        warrant_digest: req.warrant.digest(),
        ciphertext: record.ciphertext().unwrap(),
    };
    for (t, n) in [(2u16, 3u16), (3, 5)] {
        let (cer, keys) = ceremony(t, n);
        let (_, outcome, shares) = run_local(&cer, &keys, &mut OsRng).unwrap();
        let statement = TtpKeyStatement {
            params_id: Params::get().id,
            sequence: 0,
            decryption_key: outcome.group_key,
            threshold: t,
            trustees: outcome.verification_shares.clone(),
            signing_key: *GroupSigningKey::generate(&mut OsRng).public(),
            validity: faircash::protocol::trust::TtpValidity::starting(TODAY, 730, 1095),
            issued: Timestamp(0),
        };
        let share = |k: &KeyShare| {
            let y = *k.verification_share().unwrap();
            let evidence = ShareEvidence::create(k.id, k.secret.expose_secret(), &y, &context, 0, &mut OsRng);
            TraceShare {
                kind: record.kind(),
                record_digest: context.record_digest,
                warrant_digest: context.warrant_digest,
                ciphertext: context.ciphertext,
                verification_share: y,
                evidence,
            }
        };
        if t == 2 {
            g.bench_function("share_with_proof", |b| b.iter(|| black_box(share(&shares[0]))));
        }
        let given: Vec<TraceShare> = shares[..t as usize].iter().map(share).collect();
        let combined = combine_shares(&statement, &req, &given).unwrap();
        g.bench_function(BenchmarkId::new("combine", format!("{t}of{n}")), |b| {
            b.iter(|| black_box(combine_shares(&statement, &req, &given).unwrap()))
        });
        g.bench_function(BenchmarkId::new("verify_combined", format!("{t}of{n}")), |b| {
            b.iter(|| black_box(combined.verify(&statement, &req).unwrap()))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::config(); targets = trustees }
criterion_main!(benches);
