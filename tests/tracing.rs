//! Tracing: warrants, owner and coin tracing, proofs, the audit log.
mod common;

use std::sync::Arc;

use common::*;
use faircash::coin::CoinId;
use faircash::crypto::schnorr::SigningKey;
use faircash::encoding::Point;
use faircash::protocol::deposit::DepositOutcome;
use faircash::protocol::trace::{
    verify_log, Decryption, LogError, TraceError, TraceKind, TraceRecord, TraceRequest, TraceResult, Warrant,
    WarrantTerms,
};
use faircash::protocol::trust::TtpKeyStatement;
use faircash::protocol::Error;
use faircash::roles::{Ttp, TtpKeys};
use faircash::store::memory::MemoryTtpStore;
use faircash::store::TtpStore;
use faircash::time::Timestamp;
use faircash::wire::WireMessage;
use rand::rngs::OsRng;

struct Court {
    judge: SigningKey,
    ttp: Ttp<MemoryTtpStore>,
}

fn court(w: &World) -> Court {
    let judge = SigningKey::generate(&mut OsRng);
    let mut ttp = Ttp::new(w.ttp_keys.clone(), MemoryTtpStore::new(), Arc::new(w.clock.clone()));
    ttp.trust_issuer(*judge.public());
    ttp.add_keysets(&w.bank.published_keysets(), &w.bank.master_key()).unwrap();
    Court { judge, ttp }
}

fn warrant(w: &World, judge: &SigningKey, record: &TraceRecord) -> Warrant {
    w.warrant(judge, record, "case-42")
}

use faircash::time::Clock;

/// Alice and Bob each pay the shop; returns the deposited coin ids per payer.
fn two_payers(w: &World) -> (TestWallet, TestWallet, Vec<CoinId>, Vec<CoinId>) {
    let alice = w.user(50);
    let bob = w.user(50);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    bob.withdraw(&*w.bank, 12, &mut OsRng).unwrap();
    let mut ids = (Vec::new(), Vec::new());
    for (wallet, amount, out) in [(&alice, 7u64, &mut ids.0), (&bob, 12, &mut ids.1)] {
        let req = shop.request_payment(amount, [3; 32], &mut OsRng).unwrap();
        let payment = wallet.pay(&req, &mut OsRng).unwrap();
        out.extend(shop.accept(&payment, &mut OsRng).unwrap().coin_ids);
    }
    shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    (alice, bob, ids.0, ids.1)
}

#[test]
fn owner_tracing_reveals_exactly_the_withdrawer_of_each_coin() {
    let w = World::new();
    let c = court(&w);
    let (alice, bob, alice_coins, bob_coins) = two_payers(&w);
    for (coins, owner) in [(&alice_coins, &alice), (&bob_coins, &bob)] {
        for id in coins {
            let record = w.bank.spend_record(id).unwrap();
            let req = TraceRequest { warrant: warrant(&w, &c.judge, &record), record: record.clone() };
            let result = c.ttp.trace_owner(&req, &mut OsRng).unwrap();
            assert_eq!(result.plaintext, *owner.user().identity());
            let account =
                w.bank.apply_owner_trace(&result, &record, &req.warrant, &w.ttp_statement.statement).unwrap();
            assert_eq!(account, owner.account_id());
            // Anyone with the public keys verifies it, also after transport.
            let back = TraceResult::from_bytes(&result.to_bytes()).unwrap();
            assert_eq!(
                back.verify(&w.ttp_statement.statement, &record, &req.warrant).unwrap(),
                *owner.user().identity()
            );
        }
    }
    assert_eq!(c.ttp.store().len().unwrap(), (alice_coins.len() + bob_coins.len()) as u64);
}

#[test]
fn coin_tracing_reveals_the_serial_and_the_coin_is_flagged_when_spent() {
    let w = World::new();
    let c = court(&w);
    let alice = w.user(50);
    let bob = w.user(50);
    alice.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    bob.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let records = w.bank.withdrawals_of(&alice.account_id()).unwrap();
    assert_eq!(records.len(), 2);
    let mut traced = Vec::new();
    for s in &records {
        let record = w.bank.withdrawal_record(&s.id()).unwrap();
        let req = TraceRequest { warrant: warrant(&w, &c.judge, &record), record: record.clone() };
        let result = c.ttp.trace_coin(&req, &mut OsRng).unwrap();
        let serial =
            w.bank.apply_coin_trace(&result, &record, &req.warrant, &w.ttp_statement.statement).unwrap();
        traced.push(serial);
    }
    // Each traced serial is one of alice's coins, and none of bob's.
    let alice_serials: Vec<Point> = alice.coins().unwrap().iter().map(|c| c.coin.coin.body.serial).collect();
    let bob_serials: Vec<Point> = bob.coins().unwrap().iter().map(|c| c.coin.coin.body.serial).collect();
    traced.sort_by_key(|p| *p.as_bytes());
    let mut expected = alice_serials.clone();
    expected.sort_by_key(|p| *p.as_bytes());
    assert_eq!(traced, expected);
    assert!(traced.iter().all(|s| !bob_serials.contains(s)));

    // A merchant with the bank's signed watch list refuses alice's coins
    // off-line; one without it accepts and the bank flags them at deposit.
    let careful = w.merchant();
    careful.import_watch_list(&w.bank.watch_list(&mut OsRng).unwrap()).unwrap();
    let req = careful.request_payment(1, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    assert!(matches!(careful.accept(&payment, &mut OsRng), Err(Error::Watchlisted(_))));
    let trusting = w.merchant();
    let req = trusting.request_payment(1, [0; 32], &mut OsRng).unwrap();
    let payment = faircash::protocol::pay::create_payment(
        &req,
        &w.bank.current_keyset().unwrap(),
        alice.user(),
        &[&payment_coin(&alice, &payment)],
        &mut OsRng,
    )
    .unwrap();
    trusting.accept(&payment, &mut OsRng).unwrap();
    let receipt = trusting.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.outcomes[0].outcome, DepositOutcome::CreditedFlagged { value: 1 });
    // Bob's coins are not flagged.
    let req = trusting.request_payment(4, [0; 32], &mut OsRng).unwrap();
    let payment = bob.pay(&req, &mut OsRng).unwrap();
    trusting.accept(&payment, &mut OsRng).unwrap();
    let receipt = trusting.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.outcomes[0].outcome, DepositOutcome::Credited { value: 4 });
}

fn payment_coin(
    wallet: &TestWallet,
    payment: &faircash::protocol::pay::Payment,
) -> faircash::protocol::withdraw::WalletCoin {
    let id = payment.coins[0].id();
    wallet.coins().unwrap().into_iter().find(|c| c.coin.coin.id() == id).unwrap().coin
}

fn owner_request(w: &World, c: &Court) -> TraceRequest {
    let (_, _, coins, _) = two_payers(w);
    let record = w.bank.spend_record(&coins[0]).unwrap();
    TraceRequest { warrant: warrant(w, &c.judge, &record), record }
}

#[test]
fn trace_without_a_valid_warrant_is_refused_with_distinct_errors() {
    let w = World::new();
    let c = court(&w);
    let good = owner_request(&w, &c);

    // unsigned / wrongly signed
    let mut bad = good.clone();
    bad.warrant.reason.push('!');
    assert!(matches!(c.ttp.trace(&bad, &mut OsRng), Err(TraceError::WarrantSignature)));
    // untrusted issuer
    let mut bad = good.clone();
    bad.warrant = warrant(&w, &SigningKey::generate(&mut OsRng), &good.record);
    assert!(matches!(c.ttp.trace(&bad, &mut OsRng), Err(TraceError::UntrustedIssuer)));
    // expired
    let mut expired = good.clone();
    let now = w.clock.now();
    expired.warrant = Warrant::issue(
        &c.judge,
        WarrantTerms {
            kind: TraceKind::Owner,
            record_digest: good.record.digest(),
            case_id: "c".into(),
            reason: "r".into(),
            issued_at: Timestamp(now.0 - 7200),
            expires_at: Timestamp(now.0 - 3600),
        },
        &mut OsRng,
    );
    assert!(matches!(c.ttp.trace(&expired, &mut OsRng), Err(TraceError::WarrantExpired)));
    // for another target
    let (_, _, other_coins, _) = two_payers(&w);
    let other = w.bank.spend_record(&other_coins[0]).unwrap();
    let bad = TraceRequest { warrant: good.warrant.clone(), record: other };
    assert!(matches!(c.ttp.trace(&bad, &mut OsRng), Err(TraceError::WarrantRecordMismatch)));
    // wrong kind
    let mut wrong_kind = good.clone();
    wrong_kind.warrant = Warrant::issue(
        &c.judge,
        WarrantTerms {
            kind: TraceKind::Coin,
            record_digest: good.record.digest(),
            case_id: "c".into(),
            reason: "r".into(),
            issued_at: now,
            expires_at: now.plus_secs(60),
        },
        &mut OsRng,
    );
    assert!(matches!(c.ttp.trace(&wrong_kind, &mut OsRng), Err(TraceError::WarrantKindMismatch { .. })));
    assert_eq!(c.ttp.store().len().unwrap(), 0, "no refused trace is logged");
    // used once only
    c.ttp.trace(&good, &mut OsRng).unwrap();
    assert!(matches!(c.ttp.trace(&good, &mut OsRng), Err(TraceError::WarrantReused)));
    assert_eq!(c.ttp.store().len().unwrap(), 1);
}

#[test]
fn tampered_records_are_refused_even_under_a_matching_warrant() {
    let w = World::new();
    let c = court(&w);
    let good = owner_request(&w, &c);
    // The requester tampers with the record and gets a warrant naming the
    // tampered record: the TTP still refuses, because the spend no longer
    // verifies (it is not a decryption oracle for arbitrary ciphertexts).
    let TraceRecord::Owner { mut payment, coin_index } = good.record.clone() else { unreachable!() };
    let other_ct = faircash::crypto::elgamal::Ciphertext::encrypt(
        &Point::new(faircash::params::Params::get().hu.point() * curve25519_dalek::Scalar::from(5u64)),
        c.ttp.public_key(),
        &curve25519_dalek::Scalar::from(9u64),
    );
    payment.coins[coin_index as usize].body.escrow = other_ct;
    let record = TraceRecord::Owner { payment, coin_index };
    let req = TraceRequest { warrant: warrant(&w, &c.judge, &record), record };
    assert!(matches!(c.ttp.trace(&req, &mut OsRng), Err(TraceError::InvalidRecord(_))));
    // An out-of-range coin index.
    let TraceRecord::Owner { payment, .. } = good.record.clone() else { unreachable!() };
    let record = TraceRecord::Owner { payment, coin_index: 99 };
    let req = TraceRequest { warrant: warrant(&w, &c.judge, &record), record };
    assert!(matches!(c.ttp.trace(&req, &mut OsRng), Err(TraceError::InvalidRecord(_))));
    // A withdrawal record with another identity: pi_W does not verify.
    let alice = w.user(10);
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    let s = &w.bank.withdrawals_of(&alice.account_id()).unwrap()[0];
    let TraceRecord::Coin { request, .. } = w.bank.withdrawal_record(&s.id()).unwrap() else {
        unreachable!()
    };
    let record = TraceRecord::Coin { request, identity: *w.user(0).user().identity() };
    let req = TraceRequest { warrant: warrant(&w, &c.judge, &record), record };
    assert!(matches!(c.ttp.trace(&req, &mut OsRng), Err(TraceError::InvalidRecord(_))));
    assert_eq!(c.ttp.store().len().unwrap(), 0);
}

#[test]
fn a_ttp_with_another_key_cannot_trace() {
    let w = World::new();
    let c = court(&w);
    let req = owner_request(&w, &c);
    let mut other = Ttp::new(TtpKeys::generate(&mut OsRng), MemoryTtpStore::new(), Arc::new(w.clock.clone()));
    other.trust_issuer(*c.judge.public());
    other.add_keysets(&w.bank.published_keysets(), &w.bank.master_key()).unwrap();
    assert!(matches!(other.trace(&req, &mut OsRng), Err(TraceError::WrongTtpKey)));
}

#[test]
fn forged_or_foreign_results_fail_public_verification() {
    let w = World::new();
    let c = court(&w);
    let req = owner_request(&w, &c);
    let result = c.ttp.trace(&req, &mut OsRng).unwrap();
    let keys = &w.ttp_statement.statement;
    let statement_of = |signing: Point| {
        TtpKeyStatement::single(0, keys.decryption_key, signing, ttp_validity(), Timestamp(0))
    };
    assert!(result.verify(keys, &req.record, &req.warrant).is_ok());

    // A wrong plaintext with the original proof.
    let mut bad = result.clone();
    bad.plaintext = *w.user(0).user().identity();
    assert!(bad.verify(keys, &req.record, &req.warrant).is_err());
    // A tampered proof.
    let mut bad = result.clone();
    let Decryption::Single { proof, .. } = &mut bad.decryption else { panic!("a single TTP's result") };
    proof.responses[0] += curve25519_dalek::Scalar::ONE;
    assert!(bad.verify(keys, &req.record, &req.warrant).is_err());
    // A forged proof, re-signed by a forger who controls a signing key but
    // not x_T: the decryption proof fails.
    let forger = TtpKeys::generate(&mut OsRng);
    let mut bad = result.clone();
    bad.plaintext = *w.user(0).user().identity();
    bad.ttp.signing = *forger.signing.public();
    bad.signature = forger.signing.sign(
        faircash::crypto::transcript::labels::TRACE_RESULT_SIGNATURE,
        &bad.digest(),
        &mut OsRng,
    );
    let forged_keys = statement_of(*forger.signing.public());
    assert!(matches!(bad.verify(&forged_keys, &req.record, &req.warrant), Err(TraceError::ResultProof)));
    // Verified against another TTP's keys.
    let other_ttp = TtpKeyStatement::single(
        0,
        *forger.decryption.public(),
        *forger.signing.public(),
        ttp_validity(),
        Timestamp(0),
    );
    assert!(result.verify(&other_ttp, &req.record, &req.warrant).is_err());
    // Against another record or warrant.
    let other = owner_request(&w, &c);
    assert!(result.verify(keys, &other.record, &req.warrant).is_err());
    assert!(result.verify(keys, &req.record, &other.warrant).is_err());
    // A changed log index breaks the signature (and the proof's transcript).
    let mut bad = result.clone();
    let Decryption::Single { log_index, .. } = &mut bad.decryption else { panic!("a single TTP's result") };
    *log_index += 1;
    assert!(bad.verify(keys, &req.record, &req.warrant).is_err());
    // A single key's result is refused under a statement of several
    // trustees, even one naming the same keys.
    let mut several = keys.clone();
    several.threshold = 2;
    several
        .trustees
        .push(faircash::protocol::trust::TrusteeKey { id: 2, verification_share: keys.decryption_key });
    assert!(matches!(
        result.verify(&several, &req.record, &req.warrant),
        Err(TraceError::ResultMismatch(m)) if m.contains("several trustees")
    ));
}

fn logged_ttp(w: &World, traces: usize) -> (Court, Vec<faircash::protocol::trace::LogHead>) {
    let c = court(w);
    let mut heads = Vec::new();
    for _ in 0..traces {
        let req = owner_request(w, &c);
        let r = c.ttp.trace(&req, &mut OsRng).unwrap();
        assert_eq!(r.log_entries(), vec![(1, c.ttp.store().len().unwrap() - 1)]);
        heads.push(c.ttp.log_head(&mut OsRng).unwrap());
    }
    (c, heads)
}

#[test]
fn every_kind_of_log_tampering_is_detected() {
    let w = World::new();
    let (c, heads) = logged_ttp(&w, 4);
    let signer = c.ttp.public_keys().signing;
    let entries = c.ttp.store().entries().unwrap();
    assert!(verify_log(&entries, &heads, &signer).is_ok());
    assert!(c.ttp.verify_log(&heads).is_ok());

    // edit each field of each entry
    for i in 0..entries.len() {
        for field in 0..7 {
            let mut e = entries.clone();
            match field {
                0 => e[i].time = Timestamp(e[i].time.0 + 1),
                1 => e[i].warrant_id[0] ^= 1,
                2 => e[i].request_digest[0] ^= 1,
                3 => e[i].warrant_digest[0] ^= 1,
                4 => e[i].result_digest[0] ^= 1,
                5 => e[i].previous[0] ^= 1,
                _ => {
                    e[i].kind = match e[i].kind {
                        TraceKind::Owner => TraceKind::Coin,
                        TraceKind::Coin => TraceKind::Owner,
                    }
                }
            }
            assert!(verify_log(&e, &heads, &signer).is_err(), "edit of field {field} in entry {i}");
        }
    }
    // delete each entry
    for i in 0..entries.len() {
        let mut e = entries.clone();
        e.remove(i);
        assert!(verify_log(&e, &heads, &signer).is_err(), "deletion of {i}");
    }
    // reorder
    let mut e = entries.clone();
    e.swap(1, 2);
    assert!(matches!(verify_log(&e, &heads, &signer), Err(LogError::Index { .. })));
    // truncation below a published head
    let e = entries[..2].to_vec();
    assert!(matches!(verify_log(&e, &heads, &signer), Err(LogError::Truncated { .. })));
    // truncation plus re-chaining forged entries (a rewritten tail)
    let mut e = entries[..2].to_vec();
    let mut forged = entries[2].clone();
    forged.result_digest = [7; 32];
    e.push(forged);
    let mut last = entries[3].clone();
    last.previous = e[2].hash();
    e.push(last);
    assert!(matches!(verify_log(&e, &heads, &signer), Err(LogError::HeadMismatch { .. })));
    // a forged head
    let mut bad_heads = heads.clone();
    bad_heads[0].size += 1;
    assert!(matches!(verify_log(&entries, &bad_heads, &signer), Err(LogError::HeadSignature)));
    // the TTP detects tampering of its own store too
    c.ttp.store().entries_mut().unwrap().remove(1);
    assert!(c.ttp.verify_log(&heads).is_err());
}

#[test]
fn warrant_and_request_survive_transport() {
    let w = World::new();
    let c = court(&w);
    let req = owner_request(&w, &c);
    let bytes = req.to_bytes();
    assert_eq!(TraceRequest::from_bytes(&bytes).unwrap(), req);
    let json = req.warrant.to_json();
    assert_eq!(Warrant::from_json(&json).unwrap(), req.warrant);
}
