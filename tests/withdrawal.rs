//! Withdrawal protocol properties: one challenge per session, the signing key
//! never exposed, `w` erased on answer, the wallet's checks of the bank's
//! answer, and the bank's session rules (expiry, limits, restore epochs,
//! commitment reuse, balance, frozen accounts, retries, expiry policy).
mod common;

use common::*;
use curve25519_dalek::scalar::Scalar;
use faircash::crypto::acl::SignerAnswer;
use faircash::crypto::acl::SignerSession;
use faircash::crypto::secret::SecretScalar;
use faircash::keys::AccountId;
use faircash::params::Params;
use faircash::protocol::withdraw::{
    commitment_digest, EndReason, SessionId, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment,
    WithdrawOutcome, WithdrawRequest, WithdrawStart,
};
use faircash::protocol::Error;
use faircash::store::{BankStore, PendingEntry, SessionState, WalletStore, WithdrawSession};
use rand::rngs::OsRng;
use rand::RngCore;

/// The stored session `id` (read in a transaction that is rolled back).
fn stored_session(w: &World, id: &SessionId) -> WithdrawSession {
    let mut tx = w.bank.store().begin().unwrap();
    tx.session(id).unwrap().expect("session stored")
}

fn open_sessions(w: &World, account: &AccountId) -> usize {
    let now = faircash::time::Clock::now(&w.clock);
    let mut tx = w.bank.store().begin().unwrap();
    tx.open_sessions(account, now).unwrap()
}

/// Runs the first round for one coin of `value`: request, commitment, challenge.
fn open(
    w: &World,
    wallet: &TestWallet,
    value: u64,
) -> (WithdrawRequest, WithdrawCommitment, WithdrawChallenge) {
    let req = wallet.start_withdrawal(value, &mut OsRng).unwrap();
    let cm = w.bank.open_withdrawal(&req, &mut OsRng).unwrap();
    let ch = wallet.receive_commitment(&cm, &mut OsRng).unwrap();
    (req, cm, ch)
}

/// The reason of a signed end of `ch`'s session, checked against the
/// keyset's online key.
fn ended(w: &World, answer: &WithdrawAnswer, ch: &WithdrawChallenge) -> EndReason {
    match &answer.outcome {
        WithdrawOutcome::Ended(end) => {
            let keyset = w.bank.keysets().into_iter().find(|k| k.id() == end.keyset_id).unwrap();
            end.verify(ch, keyset.signing_key()).expect("a signed end of this challenge's session");
            end.reason
        }
        WithdrawOutcome::Answered(_) => panic!("answered, not ended"),
    }
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|win| win == needle)
}

fn has_pending_answer(wallet: &TestWallet, id: &SessionId) -> bool {
    wallet
        .store()
        .pending()
        .unwrap()
        .iter()
        .any(|p| matches!(p, PendingEntry::AwaitingAnswer(_)) && p.session_id() == *id)
}

#[test]
fn session_answers_one_challenge_only() {
    let w = World::new();
    let alice = w.user(100);
    let (_, _, ch) = open(&w, &alice, 8);
    let first = w.bank.answer_withdrawal(&ch).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 92);

    for delta in [Scalar::ONE, -Scalar::ONE, Scalar::random(&mut OsRng)] {
        let other = WithdrawChallenge::new(
            ch.session_id,
            ch.commitment_digest,
            ch.e + delta,
            alice.keys(),
            &mut OsRng,
        );
        assert!(matches!(w.bank.answer_withdrawal(&other), Err(Error::ChallengeMismatch)));
    }
    // A challenge not signed by the account holder is refused, answered or not.
    let bob = w.user(0);
    let forged = WithdrawChallenge::new(ch.session_id, ch.commitment_digest, ch.e, bob.keys(), &mut OsRng);
    assert!(matches!(w.bank.answer_withdrawal(&forged), Err(Error::InvalidProof(_))));
    // The same challenge again: the identical stored answer, no new debit.
    let again = w.bank.answer_withdrawal(&ch).unwrap();
    assert_eq!(again, first);
    assert_eq!(w.balance(&alice.account_id()), 92);
    alice.finish_withdrawal(&first).unwrap();
    assert_eq!(alice.balance().unwrap(), 8);
    // An unknown session is no session (a signed statement that answers
    // this very challenge).
    let stray = WithdrawChallenge::new(
        SessionId::random(&mut OsRng),
        ch.commitment_digest,
        ch.e,
        alice.keys(),
        &mut OsRng,
    );
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&stray).unwrap(), &stray), EndReason::Unknown);
}

#[test]
fn answers_never_reveal_the_signing_key() {
    let w = World::new();
    let alice = w.user(1000);
    let bob = w.user(1000);
    let keyset = w.keyset();
    let key = *keyset.key_for_value(8).unwrap();
    let g = Params::get().g.point();

    // Every answer the bank gives, over several sessions of one key, with
    // retries and refused second challenges in between.
    let mut answers: Vec<WithdrawAnswer> = Vec::new();
    for round in 0..6 {
        let wallet = if round % 2 == 0 { &alice } else { &bob };
        let (_, _, ch) = open(&w, wallet, 8);
        for attempt in 0..3 {
            answers.push(w.bank.answer_withdrawal(&ch).unwrap());
            let other = WithdrawChallenge::new(
                ch.session_id,
                ch.commitment_digest,
                ch.e + Scalar::from(attempt as u64 + 1),
                wallet.keys(),
                &mut OsRng,
            );
            if let Ok(a) = w.bank.answer_withdrawal(&other) {
                answers.push(a);
            }
        }
        wallet.finish_withdrawal(answers.last().unwrap()).unwrap();
    }
    assert_eq!(answers.len(), 18, "only the replays were answered");
    let mut pairs = 0;
    for (i, a1) in answers.iter().enumerate() {
        for a2 in &answers[i + 1..] {
            let (a1, a2) = (a1.answer().unwrap(), a2.answer().unwrap());
            let dc = a2.c - a1.c;
            if dc == Scalar::ZERO {
                assert_eq!(a1, a2, "one challenge, one answer");
                continue;
            }
            pairs += 1;
            let x = (a1.r - a2.r) * dc.invert();
            assert_ne!(g * x, *key.y.point(), "two answers revealed x_k");
        }
    }
    assert!(pairs > 0);

    // Control: the same formula on two answers of one signer state does
    // recover the key, so the check above would catch a second answer.
    let x_k = *w.bank.secrets().denomination_secret(&key.key_id).unwrap().expose_secret();
    let c_attr = alice.start_withdrawal(8, &mut OsRng).unwrap().commitment;
    let (session, _) = SignerSession::open(&x_k, &key.acl(), &c_attr, b"control", &mut OsRng);
    let (_, b1) = session.clone().answer(&x_k, &Scalar::random(&mut OsRng));
    let (_, b2) = session.answer(&x_k, &Scalar::random(&mut OsRng));
    let x = (b1.r - b2.r) * (b2.c - b1.c).invert();
    assert_eq!(g * x, *key.y.point());
}

#[test]
fn answered_session_holds_no_signer_nonce() {
    let w = World::new();
    let alice = w.user(100);
    let (req, cm, ch) = open(&w, &alice, 16);

    let open_session = stored_session(&w, &ch.session_id);
    assert!(matches!(open_session.state, SessionState::Open(_)));
    let open_json = serde_json::to_string(&open_session).unwrap();
    let open_bin = postcard::to_allocvec(&open_session).unwrap();

    let answer = w.bank.answer_withdrawal(&ch).unwrap();
    // The signer's nonce, recomputed from the answer: w = r + c·x.
    let x_k = *w.bank.secrets().denomination_secret(&req.key_id).unwrap().expose_secret();
    let nonce = answer.answer().unwrap().r + answer.answer().unwrap().c * x_k;
    assert_eq!(Params::get().g.point() * nonce, *cm.commitment.a.point());
    let nonce_hex = hex::encode(nonce.as_bytes());

    // The open session does hold it (so the checks below can fail).
    assert!(open_json.contains("\"w\""));
    assert!(open_json.contains(&nonce_hex));
    assert!(contains_bytes(&open_bin, nonce.as_bytes()));

    let answered = stored_session(&w, &ch.session_id);
    match &answered.state {
        SessionState::Answered { answered, .. } => {
            assert_eq!(answered.e, ch.e);
            assert_eq!(answered.answer, *answer.answer().unwrap());
        }
        other => panic!("session not answered: {other:?}"),
    }
    let json = serde_json::to_string(&answered).unwrap();
    let bin = postcard::to_allocvec(&answered).unwrap();
    assert!(!json.contains("\"w\""));
    assert!(!json.contains(&nonce_hex));
    assert!(!contains_bytes(&bin, nonce.as_bytes()));

    // The withdrawal records (what the bank keeps) hold no w either.
    let records = {
        let mut tx = w.bank.store().begin().unwrap();
        tx.withdrawal_records().unwrap()
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id(), ch.session_id);
    let bin = postcard::to_allocvec(&records).unwrap();
    assert!(!contains_bytes(&bin, nonce.as_bytes()));
    alice.finish_withdrawal(&answer).unwrap();
}

#[test]
fn wallet_refuses_a_malicious_answer_before_storing_a_coin() {
    let w = World::new();
    let alice = w.user(100);
    let (_, _, ch_a) = open(&w, &alice, 8);
    let (_, _, ch_b) = open(&w, &alice, 8);
    let good = w.bank.answer_withdrawal(&ch_a).unwrap();
    let other = w.bank.answer_withdrawal(&ch_b).unwrap();

    let mut bad: Vec<(&str, WithdrawAnswer)> = Vec::new();
    let with = |f: &dyn Fn(&mut SignerAnswer)| {
        let mut a = *good.answer().unwrap();
        f(&mut a);
        WithdrawAnswer::answered(good.session_id, a)
    };
    for field in ["c", "r", "s1", "s2", "d"] {
        let a = match field {
            "c" => with(&|a| a.c += Scalar::ONE),
            "r" => with(&|a| a.r += Scalar::ONE),
            "s1" => with(&|a| a.s1 += Scalar::ONE),
            "s2" => with(&|a| a.s2 += Scalar::ONE),
            _ => with(&|a| a.d += Scalar::ONE),
        };
        bad.push((field, a));
    }
    // c + d still equals e, but a and b1 no longer open.
    bad.push((
        "c+1, d-1",
        with(&|a| {
            a.c += Scalar::ONE;
            a.d -= Scalar::ONE;
        }),
    ));
    // A genuine answer of another session, relabelled.
    let mut foreign = other;
    foreign.session_id = good.session_id;
    bad.push(("another session's answer", foreign));

    for (what, a) in &bad {
        let err = alice.finish_withdrawal(a).unwrap_err();
        assert!(matches!(err, Error::InvalidProof(_)), "{what}: {err:?}");
        assert!(alice.coins().unwrap().is_empty(), "{what}: coin stored");
        assert!(has_pending_answer(&alice, &ch_a.session_id), "{what}: state lost");
    }
    let id = alice.finish_withdrawal(&good).unwrap();
    assert!(!has_pending_answer(&alice, &ch_a.session_id));
    alice.finish_withdrawal(&other).unwrap();
    let coins = alice.coins().unwrap();
    assert_eq!(coins.len(), 2);
    assert!(coins.iter().any(|c| c.coin.coin.id() == id));
    assert_eq!(alice.balance().unwrap(), 16);
    // A finished session cannot be finished again.
    assert!(matches!(alice.finish_withdrawal(&good), Err(Error::UnknownSession)));
}

#[test]
fn unanswered_session_expires_without_debit() {
    let w = World::new();
    let ttl = w.bank.config().session_ttl_secs;
    let alice = w.user(100);
    let (_, _, ch1) = open(&w, &alice, 8);
    let (_, _, ch2) = open(&w, &alice, 4);
    let nonce_hex = {
        let v = serde_json::to_value(stored_session(&w, &ch2.session_id)).unwrap();
        v["state"]["Open"]["w"].as_str().unwrap().to_string()
    };

    // One second before the end of its lifetime a session still answers.
    w.clock.advance_secs(ttl - 1);
    let a1 = w.bank.answer_withdrawal(&ch1).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 92);
    w.clock.advance_secs(1);
    let end = w.bank.answer_withdrawal(&ch2).unwrap();
    assert_eq!(ended(&w, &end, &ch2), EndReason::Expired);
    assert_eq!(w.balance(&alice.account_id()), 92);
    // The answered one still replays.
    assert_eq!(w.bank.answer_withdrawal(&ch1).unwrap(), a1);
    // Answering it ended it for good: its nonces are gone already.
    let expired = stored_session(&w, &ch2.session_id);
    assert!(matches!(expired.state, SessionState::Expired));
    assert!(!serde_json::to_string(&expired).unwrap().contains(&nonce_hex));
    assert_eq!(w.bank.expire_sessions().unwrap(), 0);
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&ch2).unwrap(), &ch2), EndReason::Expired);
    assert_eq!(w.balance(&alice.account_id()), 92);
    // The wallet drops the session on the signed statement.
    assert!(matches!(alice.finish_withdrawal(&end), Err(Error::SessionEnded(EndReason::Expired))));
    assert!(!has_pending_answer(&alice, &ch2.session_id));
    assert_eq!(open_sessions(&w, &alice.account_id()), 0);
    alice.finish_withdrawal(&a1).unwrap();
    assert_eq!(alice.balance().unwrap(), 8);
}

#[test]
fn open_sessions_are_limited_per_account() {
    let w = World::new();
    let limit = w.bank.config().max_open_sessions;
    let alice = w.user(1000);
    let bob = w.user(1000);
    let mut chs = Vec::new();
    let mut reqs = Vec::new();
    for _ in 0..limit {
        let (req, _, ch) = open(&w, &alice, 1);
        reqs.push(req);
        chs.push(ch);
    }
    assert_eq!(open_sessions(&w, &alice.account_id()), limit);
    let extra = alice.start_withdrawal(1, &mut OsRng).unwrap();
    match w.bank.open_withdrawal(&extra, &mut OsRng) {
        Err(Error::SessionLimit { limit: l }) => assert_eq!(l, limit),
        other => panic!("expected SessionLimit, got {other:?}"),
    }
    // A retry of an open request is not a new session.
    w.bank.open_withdrawal(&reqs[0], &mut OsRng).unwrap();
    // Another account is not affected.
    open(&w, &bob, 1);
    // Answering one frees a slot, for one session.
    w.bank.answer_withdrawal(&chs[0]).unwrap();
    w.bank.open_withdrawal(&extra, &mut OsRng).unwrap();
    let extra2 = alice.start_withdrawal(1, &mut OsRng).unwrap();
    assert!(matches!(w.bank.open_withdrawal(&extra2, &mut OsRng), Err(Error::SessionLimit { .. })));
    // Expired sessions do not count.
    w.clock.advance_secs(w.bank.config().session_ttl_secs);
    assert_eq!(open_sessions(&w, &alice.account_id()), 0);
    w.bank.open_withdrawal(&extra2, &mut OsRng).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 999);
}

#[test]
fn restore_makes_older_sessions_unanswerable() {
    let w = World::new();
    let alice = w.user(100);
    let (req, cm, ch) = open(&w, &alice, 8);
    let (_, _, answered_before) = open(&w, &alice, 1);
    let a = w.bank.answer_withdrawal(&answered_before).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 99);

    w.bank.mark_restored().unwrap();
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&ch).unwrap(), &ch), EndReason::OldEpoch);
    // A retried request gets the old commitment back, still unanswerable.
    assert_eq!(w.bank.open_withdrawal(&req, &mut OsRng).unwrap().commitment, cm.commitment);
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&ch).unwrap(), &ch), EndReason::Ended);
    assert_eq!(w.balance(&alice.account_id()), 99);
    alice.finish_withdrawal(&a).unwrap();

    // Sessions opened after the restore work; a second restore stops them too.
    let (_, _, fresh) = open(&w, &alice, 4);
    let (_, _, fresh2) = open(&w, &alice, 2);
    let a = w.bank.answer_withdrawal(&fresh).unwrap();
    alice.finish_withdrawal(&a).unwrap();
    w.bank.mark_restored().unwrap();
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&fresh2).unwrap(), &fresh2), EndReason::OldEpoch);
    assert_eq!(w.balance(&alice.account_id()), 95);
    assert_eq!(alice.balance().unwrap(), 5);
}

#[test]
fn attribute_commitment_is_used_once() {
    let w = World::new();
    let alice = w.user(100);
    let keyset = w.keyset();
    let today = w.bank.today();
    let s = Scalar::random(&mut OsRng);
    let r = Scalar::random(&mut OsRng);
    let start = || {
        WithdrawStart::with_chosen_secrets(
            alice.keys(),
            &keyset,
            8,
            today,
            Some(SecretScalar::new(r)),
            SecretScalar::new(s),
            &mut OsRng,
        )
        .unwrap()
    };
    let first = start();
    let second = start();
    let third = start();
    assert_eq!(first.request().commitment, second.request().commitment);
    assert_ne!(first.request().session_id, second.request().session_id);

    // Both requests are valid on their own.
    let account = w.bank.account(&alice.account_id()).unwrap();
    second.request().verify_proof(&account.public_key, &keyset, &mut OsRng).unwrap();

    let cm = w.bank.open_withdrawal(first.request(), &mut OsRng).unwrap();
    assert!(matches!(w.bank.open_withdrawal(second.request(), &mut OsRng), Err(Error::CommitmentReused)));
    // Still refused after the first session is answered and the coin made.
    alice.store().put_pending(&PendingEntry::Started(Box::new(first.clone()))).unwrap();
    let ch = alice.receive_commitment(&cm, &mut OsRng).unwrap();
    let a = w.bank.answer_withdrawal(&ch).unwrap();
    alice.finish_withdrawal(&a).unwrap();
    assert!(matches!(w.bank.open_withdrawal(third.request(), &mut OsRng), Err(Error::CommitmentReused)));
    assert_eq!(w.balance(&alice.account_id()), 92);
    assert_eq!(alice.balance().unwrap(), 8);
}

#[test]
fn withdrawal_needs_sufficient_balance_and_an_open_session_holds_its_value() {
    let w = World::new();
    let alice = w.user(10);
    let req = alice.start_withdrawal(16, &mut OsRng).unwrap();
    match w.bank.open_withdrawal(&req, &mut OsRng) {
        Err(Error::InsufficientBalance { balance, needed, .. }) => assert_eq!((balance, needed), (10, 16)),
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    // An open session holds its value: a second one of 8 does not fit in
    // the 2 left, so an opened session is always answerable.
    let (_, _, ch1) = open(&w, &alice, 8);
    let req = alice.start_withdrawal(8, &mut OsRng).unwrap();
    match w.bank.open_withdrawal(&req, &mut OsRng) {
        Err(Error::InsufficientBalance { balance, needed, .. }) => assert_eq!((balance, needed), (2, 8)),
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    let (_, _, ch2) = open(&w, &alice, 2);
    let a1 = w.bank.answer_withdrawal(&ch1).unwrap();
    let a2 = w.bank.answer_withdrawal(&ch2).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 0);
    alice.finish_withdrawal(&a1).unwrap();
    alice.finish_withdrawal(&a2).unwrap();
    assert_eq!(alice.balance().unwrap(), 10);
    // An expired session holds nothing.
    w.bank.fund(&alice.account_id(), 8).unwrap();
    open(&w, &alice, 8);
    assert!(matches!(
        w.bank.open_withdrawal(&alice.start_withdrawal(8, &mut OsRng).unwrap(), &mut OsRng),
        Err(Error::InsufficientBalance { .. })
    ));
    w.clock.advance_secs(w.bank.config().session_ttl_secs);
    open(&w, &alice, 8);
}

#[test]
fn frozen_account_cannot_withdraw() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let (_, _, ch) = open(&w, &alice, 8);
    {
        let mut tx = w.bank.store().begin().unwrap();
        tx.freeze_account(&alice.account_id()).unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(ended(&w, &w.bank.answer_withdrawal(&ch).unwrap(), &ch), EndReason::AccountFrozen);
    let req = alice.start_withdrawal(4, &mut OsRng).unwrap();
    assert!(matches!(w.bank.open_withdrawal(&req, &mut OsRng), Err(Error::AccountFrozen(_))));
    assert!(matches!(alice.withdraw(&*w.bank, 3, &mut OsRng), Err(Error::AccountFrozen(_))));
    assert_eq!(w.balance(&alice.account_id()), 100);
    assert!(alice.coins().unwrap().is_empty());
    // Others withdraw as before.
    bob.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    assert_eq!(w.balance(&bob.account_id()), 97);
}

#[test]
fn retried_request_gets_the_same_commitment() {
    let w = World::new();
    let alice = w.user(100);
    let req = alice.start_withdrawal(8, &mut OsRng).unwrap();
    let c1 = w.bank.open_withdrawal(&req, &mut OsRng).unwrap();
    let c2 = w.bank.open_withdrawal(&req, &mut OsRng).unwrap();
    // The same commitment, each time signed for this request.
    assert_eq!(c1.commitment, c2.commitment);
    let signing_key = *w.keyset().signing_key();
    c1.verify(&req, &signing_key).unwrap();
    c2.verify(&req, &signing_key).unwrap();
    assert_eq!(open_sessions(&w, &alice.account_id()), 1);

    // A different request under the same session id is refused.
    let mut other = alice.start_withdrawal(4, &mut OsRng).unwrap();
    other.session_id = req.session_id;
    assert!(matches!(w.bank.open_withdrawal(&other, &mut OsRng), Err(Error::SessionConflict)));
    let mut tweaked = req.clone();
    tweaked.commitment = other.commitment;
    assert!(matches!(w.bank.open_withdrawal(&tweaked, &mut OsRng), Err(Error::SessionConflict)));
    assert_eq!(open_sessions(&w, &alice.account_id()), 1);
    assert_eq!(stored_session(&w, &req.session_id).request, req);

    // The session still works, and a retry after the answer still gets the
    // same commitment (no new session, no new debit).
    let ch = alice.receive_commitment(&c1, &mut OsRng).unwrap();
    let a = w.bank.answer_withdrawal(&ch).unwrap();
    assert_eq!(w.bank.open_withdrawal(&req, &mut OsRng).unwrap().commitment, c1.commitment);
    alice.finish_withdrawal(&a).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 92);
}

#[test]
fn expiry_day_must_be_the_policy() {
    let w = World::new();
    w.clock.advance_days(2);
    let alice = w.user(100);
    let keyset = w.keyset();
    let today = w.bank.today();
    let allowed = keyset.policy().expiry_for(today);
    let request_for =
        |day| WithdrawStart::new(alice.keys(), &keyset, 8, day, &mut OsRng).unwrap().request().clone();
    for day in [today.plus(1), today.minus(2)] {
        let req = request_for(day);
        match w.bank.open_withdrawal(&req, &mut OsRng) {
            Err(Error::ExpiryPolicy { requested, allowed: a }) => {
                assert_eq!(requested, keyset.policy().expiry_for(day));
                assert_eq!(a, allowed);
            }
            other => panic!("expected ExpiryPolicy for {day}, got {other:?}"),
        }
    }
    // The request's expiry is bound by its proof: changing it is refused.
    let mut tampered = request_for(today);
    tampered.expiry = allowed.plus(30);
    assert!(matches!(w.bank.open_withdrawal(&tampered, &mut OsRng), Err(Error::ExpiryPolicy { .. })));
    let mut tampered = request_for(today);
    tampered.expiry = allowed.minus(1);
    assert!(matches!(w.bank.open_withdrawal(&tampered, &mut OsRng), Err(Error::InvalidProof(_))));
    // Today's policy, and yesterday's (a wallet clock a day behind), pass.
    w.bank.open_withdrawal(&request_for(today), &mut OsRng).unwrap();
    w.bank.open_withdrawal(&request_for(today.minus(1)), &mut OsRng).unwrap();
    assert_eq!(w.balance(&alice.account_id()), 100);
}

#[test]
fn balance_is_debited_once_however_often_the_challenge_is_sent() {
    let w = World::new();
    let alice = w.user(100);
    let (_, _, ch) = open(&w, &alice, 32);
    let first = w.bank.answer_withdrawal(&ch).unwrap();
    for _ in 0..4 {
        assert_eq!(w.bank.answer_withdrawal(&ch).unwrap(), first);
        assert_eq!(w.balance(&alice.account_id()), 68);
    }
    // The wallet's own retry path re-sends the challenge too.
    let done = alice.resume_withdrawals(&*w.bank).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(w.bank.answer_withdrawal(&ch).unwrap(), first);
    assert_eq!(w.balance(&alice.account_id()), 68);
    assert_eq!(alice.balance().unwrap(), 32);
    let records = {
        let mut tx = w.bank.store().begin().unwrap();
        tx.withdrawal_records().unwrap()
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value, 32);
}

#[test]
fn n_withdrawals_give_at_most_n_valid_coins() {
    // Every signature from n withdrawals verifies on its own body only:
    // no signature carries over to another body, and a body with one
    // field changed is a new message nobody signed.
    let w = World::new();
    let alice = w.user(100);
    alice.withdraw(&*w.bank, 15, &mut OsRng).unwrap(); // 8 + 4 + 2 + 1
    let keyset = w.keyset();
    let coins: Vec<_> = alice.coins().unwrap().into_iter().map(|c| c.coin.coin).collect();
    assert_eq!(coins.len(), 4);
    let mut valid = 0;
    for sig_owner in &coins {
        for body_owner in &coins {
            let key = keyset.key(&body_owner.body.key_id).unwrap();
            let m = body_owner.id();
            if sig_owner.signature.verify(&key.acl(), m.as_bytes()).is_ok() {
                assert_eq!(sig_owner.id(), body_owner.id(), "a signature verified on another body");
                valid += 1;
            }
        }
        // The same signature under every other key of the keyset.
        for k in &keyset.document().keys {
            if k.key_id != sig_owner.body.key_id {
                assert!(sig_owner.signature.verify(&k.acl(), sig_owner.id().as_bytes()).is_err());
            }
        }
    }
    assert_eq!(valid, coins.len(), "exactly one body per signature");
    // The bank issued exactly as many answers as coins.
    let records = w.bank.withdrawals_of(&alice.account_id()).unwrap();
    assert_eq!(records.len(), coins.len());
}

#[test]
fn online_signatures_verify_under_the_keyset_signing_key_only() {
    use faircash::crypto::transcript::labels;
    let w = World::new();
    let keyset = w.bank.current_keyset().unwrap();
    assert_ne!(keyset.signing_key(), &w.bank.master_key());
    let sig = w.bank.sign_online(&keyset, labels::KEYSET_SIGNATURE, b"message", &mut OsRng).unwrap();
    sig.verify(labels::KEYSET_SIGNATURE, b"message", keyset.signing_key()).unwrap();
    assert!(sig.verify(labels::KEYSET_SIGNATURE, b"message", &w.bank.master_key()).is_err());
    assert!(sig.verify(labels::KEYSET_SIGNATURE, b"other message", keyset.signing_key()).is_err());
    // Each keyset has its own online key.
    let next = w
        .bank
        .issue_keyset(
            *w.ttp.public(),
            &faircash::keys::KeysetSpec {
                exponents: 0..=2,
                withdraw_from: START.plus(1),
                withdraw_days: 30,
                policy: Default::default(),
            },
            &mut OsRng,
        )
        .unwrap();
    assert_ne!(next.signing_key(), keyset.signing_key());
    assert!(sig.verify(labels::KEYSET_SIGNATURE, b"message", next.signing_key()).is_err());
}

/// A scalar of a blinded state's JSON form.
fn scalar_field(v: &serde_json::Value, name: &str) -> Scalar {
    let mut b = [0u8; 32];
    hex::decode_to_slice(v[name].as_str().unwrap(), &mut b).unwrap();
    Scalar::from_canonical_bytes(b).unwrap()
}

#[test]
fn combining_two_bank_answers_forges_no_signature() {
    // The one-more forgery of blind Schnorr-type schemes: open two sessions
    // at once, blind the *sum* of their commitments for a third message,
    // split its challenge e = e1 + e2 between the sessions and add up the
    // answers. For `a = r·G + c·y` that works; ACL's `b1 = s1·G + d·z1`
    // ties each answer to its session's tag z1 = C + rnd·G, and the summed
    // answers fit one tag only if d1·z1_1 + d2·z1_2 = (d1 + d2)·z1 for the
    // z1 fixed before the d's were known. The forger tries three such tags;
    // every signature it assembles (skipping the user's checks) is refused,
    // and the honest user's check refuses the combined answer too.
    use faircash::crypto::acl::{AclSignature, SignerAnswer, SignerCommitment, UserBlinding};
    use faircash::encoding::Point;
    let w = World::new();
    let alice = w.user(1000);
    let keyset = w.keyset();
    let pk = keyset.key_for_value(8).unwrap().acl();
    let g = Params::get().g.point();
    let m: [u8; 32] = random_bytes();
    for attempt in 0..3 {
        // Two sessions, both open before either is answered.
        let starts: Vec<WithdrawStart> = (0..2)
            .map(|_| WithdrawStart::new(alice.keys(), &keyset, 8, w.bank.today(), &mut OsRng).unwrap())
            .collect();
        let opened: Vec<WithdrawCommitment> =
            starts.iter().map(|s| w.bank.open_withdrawal(s.request(), &mut OsRng).unwrap()).collect();
        let cms: Vec<SignerCommitment> = opened.iter().map(|c| c.commitment).collect();
        let tags: Vec<_> =
            starts.iter().zip(&cms).map(|(s, c)| s.request().commitment.point() + g * c.rnd).collect();
        // The tag the forger commits to before any answer.
        let z1 = match attempt {
            0 => tags[0],
            1 => tags[1],
            _ => (tags[0] + tags[1]) * Scalar::from(2u64).invert(),
        };
        // Blind the summed commitment as if it were one session with tag z1
        // (C' = z1 - G, rnd' = 1).
        let summed = SignerCommitment {
            rnd: Scalar::ONE,
            a: Point::new(cms[0].a.point() + cms[1].a.point()),
            b1: Point::new(cms[0].b1.point() + cms[1].b1.point()),
            b2: Point::new(cms[0].b2.point() + cms[1].b2.point()),
        };
        let blinded = UserBlinding::blind(&pk, &Point::new(z1 - g), &summed, &mut OsRng).unwrap();
        let secrets = serde_json::to_value(&blinded).unwrap();
        let (waiting, e) = blinded.challenge(&m);
        let e1 = Scalar::random(&mut OsRng);
        let answers: Vec<SignerAnswer> = [e1, e - e1]
            .iter()
            .zip(starts.iter().zip(&cms))
            .map(|(ei, (s, c))| {
                let digest = commitment_digest(s.request(), c);
                let ch =
                    WithdrawChallenge::new(s.request().session_id, digest, *ei, alice.keys(), &mut OsRng);
                *w.bank.answer_withdrawal(&ch).unwrap().answer().expect("answered")
            })
            .collect();
        let sum = SignerAnswer {
            c: answers[0].c + answers[1].c,
            r: answers[0].r + answers[1].r,
            s1: answers[0].s1 + answers[1].s1,
            s2: answers[0].s2 + answers[1].s2,
            d: answers[0].d + answers[1].d,
        };
        // The honest user's check of an answer refuses the sum.
        assert!(waiting.clone().finish(&sum).is_err(), "attempt {attempt}: the combined answer was taken");
        // Unblinding it anyway, as a forger would.
        let f = |n: &str| scalar_field(&secrets, n);
        let (gamma, tau) = (f("gamma"), f("tau"));
        let delta = sum.d + f("t4");
        let point = |n: &str| -> Point { serde_json::from_value(secrets[n].clone()).unwrap() };
        let forged = AclSignature {
            zeta: point("zeta"),
            zeta1: point("zeta1"),
            alpha: point("alpha"),
            beta1: point("beta1"),
            beta2: point("beta2"),
            eta: point("eta"),
            rho: sum.r + f("t1"),
            omega: sum.c + f("t2"),
            sigma1: gamma * sum.s1 + f("t3"),
            sigma2: gamma * sum.s2 + f("t5"),
            delta,
            mu: tau - delta * gamma,
        };
        // The hash check alone passes (omega + delta = e + t2 + t4 = eps);
        // the tag equation does not.
        assert_eq!(forged.omega + forged.delta, e + f("t2") + f("t4"));
        assert!(forged.verify(&pk, &m).is_err(), "attempt {attempt}: a signature was forged");
    }
    // Six answered sessions, six debits, no coin.
    assert_eq!(w.balance(&alice.account_id()), 1000 - 6 * 8);
    assert_eq!(w.bank.withdrawals_of(&alice.account_id()).unwrap().len(), 6);
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

// ---------------------------------------------------------------------------
// A changed commitment never burns a paid coin; a session is blinded once.
// ---------------------------------------------------------------------------

use network::Network;

/// Networks between a wallet and the bank (in a module of their own: with
/// `BankApi` in scope, `w.bank.open_withdrawal` would name the trait's).
mod network {
    use super::*;
    use faircash::protocol::Result;
    use faircash::roles::BankApi;

    /// How the network changes a commitment for a request.
    pub type Tamper<'a> = dyn Fn(&WithdrawRequest, &mut WithdrawCommitment) + Send + Sync + 'a;

    /// The network between a wallet and the bank: it changes the bank's first
    /// commitment on its way with `tamper`, and keeps what it carried.
    pub struct Network<'a> {
        pub bank: &'a TestBank,
        pub tamper: Box<Tamper<'a>>,
        pub tampered: std::sync::atomic::AtomicBool,
        pub requests: std::sync::Mutex<Vec<WithdrawRequest>>,
        pub challenges: std::sync::Mutex<Vec<WithdrawChallenge>>,
        pub answers: std::sync::Mutex<Vec<WithdrawAnswer>>,
    }

    impl<'a> Network<'a> {
        pub fn new(
            bank: &'a TestBank,
            tamper: impl Fn(&WithdrawRequest, &mut WithdrawCommitment) + Send + Sync + 'a,
        ) -> Self {
            Network {
                bank,
                tamper: Box::new(tamper),
                tampered: Default::default(),
                requests: Default::default(),
                challenges: Default::default(),
                answers: Default::default(),
            }
        }
    }

    impl BankApi for Network<'_> {
        fn keysets(&self) -> Result<Vec<faircash::keys::SignedKeyset>> {
            BankApi::keysets(self.bank)
        }
        fn register_user(&self, reg: &faircash::protocol::register::UserRegistration) -> Result<AccountId> {
            BankApi::register_user(self.bank, reg)
        }
        fn register_merchant(
            &self,
            reg: &faircash::protocol::register::MerchantRegistration,
        ) -> Result<AccountId> {
            BankApi::register_merchant(self.bank, reg)
        }
        fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
            self.requests.lock().unwrap().push(req.clone());
            let mut c = BankApi::open_withdrawal(self.bank, req)?;
            if !self.tampered.swap(true, std::sync::atomic::Ordering::SeqCst) {
                (self.tamper)(req, &mut c);
            }
            Ok(c)
        }
        fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
            self.challenges.lock().unwrap().push(*ch);
            let a = BankApi::answer_withdrawal(self.bank, ch)?;
            self.answers.lock().unwrap().push(a);
            Ok(a)
        }
        fn deposit(
            &self,
            req: &faircash::protocol::deposit::DepositRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::deposit(self.bank, req)
        }
        fn reclaim(
            &self,
            req: &faircash::protocol::reclaim::ReclaimRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::reclaim(self.bank, req)
        }
        fn account_request(
            &self,
            req: &faircash::protocol::account::AccountRequest,
        ) -> Result<faircash::protocol::account::AccountAnswer> {
            BankApi::account_request(self.bank, req)
        }
        fn ttp_statements(&self) -> Result<Vec<faircash::protocol::trust::SignedTtpKeyStatement>> {
            BankApi::ttp_statements(self.bank)
        }
        fn spent_list(
            &self,
            keyset: &faircash::keys::KeysetId,
            value: u64,
            page: u32,
        ) -> Result<faircash::protocol::spent::SpentList> {
            BankApi::spent_list(self.bank, keyset, value, page)
        }
        fn unspent_statement(
            &self,
            query: &faircash::protocol::spent::UnspentQuery,
        ) -> Result<faircash::protocol::spent::UnspentStatement> {
            BankApi::unspent_statement(self.bank, query)
        }
    }

    /// The bank answers (and debits); the wallet gets a refusal of the
    /// network's making.
    pub struct Liar<'a>(pub &'a TestBank);
    impl BankApi for Liar<'_> {
        fn keysets(&self) -> Result<Vec<faircash::keys::SignedKeyset>> {
            BankApi::keysets(self.0)
        }
        fn register_user(&self, r: &faircash::protocol::register::UserRegistration) -> Result<AccountId> {
            BankApi::register_user(self.0, r)
        }
        fn register_merchant(
            &self,
            r: &faircash::protocol::register::MerchantRegistration,
        ) -> Result<AccountId> {
            BankApi::register_merchant(self.0, r)
        }
        fn open_withdrawal(&self, r: &WithdrawRequest) -> Result<WithdrawCommitment> {
            BankApi::open_withdrawal(self.0, r)
        }
        fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
            BankApi::answer_withdrawal(self.0, ch)?;
            Err(Error::SessionExpired)
        }
        fn deposit(
            &self,
            r: &faircash::protocol::deposit::DepositRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::deposit(self.0, r)
        }
        fn reclaim(
            &self,
            r: &faircash::protocol::reclaim::ReclaimRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::reclaim(self.0, r)
        }
        fn account_request(
            &self,
            r: &faircash::protocol::account::AccountRequest,
        ) -> Result<faircash::protocol::account::AccountAnswer> {
            BankApi::account_request(self.0, r)
        }
        fn ttp_statements(&self) -> Result<Vec<faircash::protocol::trust::SignedTtpKeyStatement>> {
            BankApi::ttp_statements(self.0)
        }
        fn spent_list(
            &self,
            keyset: &faircash::keys::KeysetId,
            value: u64,
            page: u32,
        ) -> Result<faircash::protocol::spent::SpentList> {
            BankApi::spent_list(self.0, keyset, value, page)
        }
        fn unspent_statement(
            &self,
            query: &faircash::protocol::spent::UnspentQuery,
        ) -> Result<faircash::protocol::spent::UnspentStatement> {
            BankApi::unspent_statement(self.0, query)
        }
    }
}

/// Each way the network may change a commitment.
type Change = fn(&mut WithdrawCommitment);

fn changes() -> Vec<(&'static str, Change)> {
    fn bump(p: &faircash::encoding::Point) -> faircash::encoding::Point {
        faircash::encoding::Point::new(p.point() + Params::get().g.point())
    }
    vec![
        ("rnd", |c| c.commitment.rnd += Scalar::ONE),
        ("a", |c| c.commitment.a = bump(&c.commitment.a)),
        ("b1", |c| c.commitment.b1 = bump(&c.commitment.b1)),
        ("b2", |c| c.commitment.b2 = bump(&c.commitment.b2)),
        ("signature R", |c| c.signature.r = bump(&c.signature.r)),
        ("signature s", |c| c.signature.s += Scalar::ONE),
    ]
}

/// After one coin of 8 from a balance of 100: nothing lost, nothing
/// answered twice, the first session ended unanswered, and the coin came
/// from a second session with values of its own.
fn check_one_coin_and_a_fresh_retry(w: &World, alice: &TestWallet, net: &Network<'_>, what: &str) {
    assert_eq!(w.balance(&alice.account_id()), 92, "{what}: debited once");
    assert_eq!(alice.balance().unwrap(), 8, "{what}: the coin is in the wallet");
    let records = w.bank.withdrawals_of(&alice.account_id()).unwrap();
    assert_eq!(records.len(), 1, "{what}: one answered session");
    let requests = net.requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "{what}: a second session");
    let (first, second) = (&requests[0], &requests[1]);
    assert_ne!(first.session_id, second.session_id, "{what}");
    assert_ne!(first.commitment, second.commitment, "{what}: fresh C");
    assert_ne!(first.escrow, second.escrow, "{what}: fresh escrow");
    assert_eq!(records[0].id(), second.session_id, "{what}");
    assert!(matches!(stored_session(w, &first.session_id).state, SessionState::Expired), "{what}");
    assert!(alice.store().pending().unwrap().is_empty(), "{what}: nothing pending");
    assert_eq!(open_sessions(w, &alice.account_id()), 0, "{what}: nothing held");
}

#[test]
fn a_changed_commitment_is_never_blinded_and_no_value_is_lost() {
    for (what, change) in changes() {
        let w = World::new();
        let alice = w.user(100);
        let net = Network::new(&w.bank, |_, c| change(c));
        alice.withdraw_one(&net, 8, &mut OsRng).unwrap();
        check_one_coin_and_a_fresh_retry(&w, &alice, &net, what);
        // The changed commitment's signature did not verify: the wallet
        // never blinded it, so the bank never saw a challenge for it.
        let challenges = net.challenges.lock().unwrap();
        assert_eq!(challenges.len(), 1, "{what}");
        assert_eq!(challenges[0].session_id, net.requests.lock().unwrap()[1].session_id, "{what}");
    }
}

#[test]
fn a_changed_commitment_signed_with_a_stolen_online_key_is_refused_before_any_debit() {
    for (what, change) in changes().into_iter().take(4) {
        let w = World::new();
        let alice = w.user(100);
        let keyset = w.keyset();
        let stolen = w.bank.secrets().online_signing_key(keyset.signing_key()).unwrap().clone();
        let net = Network::new(&w.bank, move |req, c| {
            change(c);
            c.signature = stolen.sign(
                faircash::crypto::transcript::labels::WITHDRAW_COMMITMENT_SIGNATURE,
                &commitment_digest(req, &c.commitment),
                &mut OsRng,
            );
        });
        alice.withdraw_one(&net, 8, &mut OsRng).unwrap();
        check_one_coin_and_a_fresh_retry(&w, &alice, &net, what);
        // The wallet blinded the changed commitment (its signature held);
        // the bank refused that challenge, before answering or debiting,
        // in a signed end of the session, and the retry blinded new values.
        let challenges = net.challenges.lock().unwrap();
        let answers = net.answers.lock().unwrap();
        assert_eq!(challenges.len(), 2, "{what}");
        assert_eq!(ended(&w, &answers[0], &challenges[0]), EndReason::CommitmentMismatch, "{what}");
        assert!(answers[1].answer().is_some(), "{what}");
        assert_ne!(challenges[0].e, challenges[1].e, "{what}");
        assert_ne!(challenges[0].commitment_digest, challenges[1].commitment_digest, "{what}");
        // The refused challenge never gets an answer, however often sent.
        assert_eq!(
            ended(&w, &w.bank.answer_withdrawal(&challenges[0]).unwrap(), &challenges[0]),
            EndReason::Ended
        );
        assert_eq!(w.balance(&alice.account_id()), 92, "{what}");
    }
}

#[test]
fn an_unsigned_refusal_never_makes_the_wallet_drop_a_paid_session() {
    use network::Liar;
    let w = World::new();
    let alice = w.user(100);
    assert!(matches!(alice.withdraw_one(&Liar(&w.bank), 8, &mut OsRng), Err(Error::SessionExpired)));
    assert_eq!(w.balance(&alice.account_id()), 92);
    assert_eq!(alice.store().pending().unwrap().len(), 1, "the state is kept");
    assert_eq!(alice.resume_withdrawals(&*w.bank).unwrap().len(), 1);
    assert_eq!(alice.balance().unwrap(), 8);
}

#[test]
fn a_signed_end_is_accepted_only_as_the_answer_to_its_own_challenge() {
    let w = World::new();
    let alice = w.user(100);
    let (_, _, ch_a) = open(&w, &alice, 8);
    let (_, _, ch_b) = open(&w, &alice, 4);
    // A challenge for session A naming another commitment: the bank ends A.
    let wrong = WithdrawChallenge::new(ch_a.session_id, [9; 32], ch_a.e, alice.keys(), &mut OsRng);
    let end_a = w.bank.answer_withdrawal(&wrong).unwrap();
    assert_eq!(ended(&w, &end_a, &wrong), EndReason::CommitmentMismatch);
    // The statement does not end B, nor A's real challenge (which the
    // wallet did not send): the wallet refuses both and keeps its state.
    let WithdrawOutcome::Ended(end) = end_a.outcome else { unreachable!() };
    let for_b = WithdrawAnswer { session_id: ch_b.session_id, outcome: WithdrawOutcome::Ended(end) };
    assert!(matches!(alice.finish_withdrawal(&for_b), Err(Error::InvalidProof(_))));
    assert!(has_pending_answer(&alice, &ch_b.session_id));
    assert!(matches!(alice.finish_withdrawal(&end_a), Err(Error::InvalidProof(_))));
    assert!(has_pending_answer(&alice, &ch_a.session_id));
    // B is answered as usual; A, ended, answers its real challenge with a
    // signed end that the wallet accepts, dropping its state.
    let b = w.bank.answer_withdrawal(&ch_b).unwrap();
    alice.finish_withdrawal(&b).unwrap();
    let a = w.bank.answer_withdrawal(&ch_a).unwrap();
    assert!(matches!(alice.finish_withdrawal(&a), Err(Error::SessionEnded(EndReason::Ended))));
    assert!(!has_pending_answer(&alice, &ch_a.session_id));
    assert_eq!(w.balance(&alice.account_id()), 96);
    assert_eq!(alice.balance().unwrap(), 4);
}
