//! The deposit pipeline: signed receipts a merchant checks before it
//! records them, retries that resend the stored request, per-payment
//! outcomes so that no payment blocks the others, the search for forged
//! payments within a work cap, throttling of a forger, and request ids that
//! cannot be probed.
mod common;

use std::sync::Mutex;

use common::*;
use curve25519_dalek::scalar::Scalar;
use faircash::crypto::schnorr::SigningKey;
use faircash::keys::KeysetId;
use faircash::protocol::deposit::{
    verify_payments, DepositOutcome, DepositReceipt, DepositRequest, PaymentOutcome, PaymentRefusal,
    PaymentVerdict,
};
use faircash::protocol::pay::{create_payment, Payment};
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::withdraw::{WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest};
use faircash::protocol::{Error, Result};
use faircash::roles::{BankApi, BankConfig, DepositLimits};
use faircash::store::{MerchantStore, PaymentState};
use faircash::time::Clock;
use faircash::wire::WireMessage;
use rand::rngs::OsRng;
use rand::Rng;

/// A bank reached through a channel that passes the request on and does
/// something to the answer.
struct Channel<'a, F: Fn(DepositReceipt) -> Result<DepositReceipt>> {
    bank: &'a dyn BankApi,
    answer: F,
    /// The encoding of every deposit request sent.
    sent: Mutex<Vec<Vec<u8>>>,
}

impl<'a, F: Fn(DepositReceipt) -> Result<DepositReceipt>> Channel<'a, F> {
    fn new(bank: &'a dyn BankApi, answer: F) -> Self {
        Channel { bank, answer, sent: Mutex::new(Vec::new()) }
    }
}

impl<F: Fn(DepositReceipt) -> Result<DepositReceipt>> BankApi for Channel<'_, F> {
    fn keysets(&self) -> Result<Vec<faircash::keys::SignedKeyset>> {
        self.bank.keysets()
    }
    fn register_user(&self, reg: &UserRegistration) -> Result<faircash::keys::AccountId> {
        self.bank.register_user(reg)
    }
    fn register_merchant(&self, reg: &MerchantRegistration) -> Result<faircash::keys::AccountId> {
        self.bank.register_merchant(reg)
    }
    fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
        self.bank.open_withdrawal(req)
    }
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
        self.bank.answer_withdrawal(ch)
    }
    fn ttp_statements(&self) -> Result<Vec<faircash::protocol::trust::SignedTtpKeyStatement>> {
        self.bank.ttp_statements()
    }
    fn spent_list(
        &self,
        keyset: &faircash::keys::KeysetId,
        value: u64,
        page: u32,
    ) -> Result<faircash::protocol::spent::SpentList> {
        self.bank.spent_list(keyset, value, page)
    }
    fn unspent_statement(
        &self,
        query: &faircash::protocol::spent::UnspentQuery,
    ) -> Result<faircash::protocol::spent::UnspentStatement> {
        self.bank.unspent_statement(query)
    }
    fn account_request(
        &self,
        req: &faircash::protocol::account::AccountRequest,
    ) -> Result<faircash::protocol::account::AccountAnswer> {
        self.bank.account_request(req)
    }
    fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
        self.sent.lock().unwrap().push(req.to_bytes());
        (self.answer)(self.bank.deposit(req)?)
    }
    fn reclaim(&self, req: &faircash::protocol::reclaim::ReclaimRequest) -> Result<DepositReceipt> {
        self.bank.reclaim(req)
    }
}

/// The receipt is lost on its way back (after the bank committed it).
fn lost(_: DepositReceipt) -> Result<DepositReceipt> {
    Err(Error::Unreachable("connection reset while reading the answer".into()))
}

fn pay(wallet: &TestWallet, shop: &TestMerchant, amount: u64) -> Payment {
    let req = shop.request_payment(amount, [amount as u8; 32], &mut OsRng).unwrap();
    let p = wallet.pay(&req, &mut OsRng).unwrap();
    shop.accept(&p, &mut OsRng).unwrap();
    p
}

/// Puts a payment the merchant would refuse into its store, as a dishonest
/// merchant (or a broken one) would.
fn smuggle(shop: &TestMerchant, p: &Payment) {
    let store = shop.store();
    if store.open_request(&p.request.id()).unwrap().is_none() {
        store.insert_request(&p.request).unwrap();
    }
    let ids: Vec<_> = p.coins.iter().map(|c| c.id()).collect();
    store.accept_payment(&p.request.id(), &ids, p).unwrap();
}

/// A payment of `amount` that verifies in every way but its spend proof:
/// one response changed (no transcript absorbs responses, so only the
/// batch of linear equations fails).
fn forged(w: &World, wallet: &TestWallet, shop: &TestMerchant, amount: u64) -> Payment {
    let coin = w.withdraw_coin(wallet, amount);
    let req = shop.request_payment(amount, [0xf0; 32], &mut OsRng).unwrap();
    let mut p = create_payment(&req, &w.keyset(), wallet.user(), &[&coin], &mut OsRng).unwrap();
    p.responses[0].u += Scalar::ONE;
    p
}

fn states(shop: &TestMerchant) -> Vec<PaymentState> {
    shop.payments().unwrap().into_iter().map(|a| a.state).collect()
}

// ---------------------------------------------------------------------------
// Signed receipts (issue: deposit receipts are unsigned)
// ---------------------------------------------------------------------------

#[test]
fn an_altered_receipt_is_refused_by_the_merchant_and_changes_nothing() {
    let w = World::new();
    let alice = w.user(100);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 14, &mut OsRng).unwrap();
    // Another of the merchant's deposits, to splice from.
    pay(&alice, &shop, 2);
    let other = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    let p = pay(&alice, &shop, 12);
    let first = w.keyset().id();
    // A second keyset, pinned by the merchant: its signing key is not the
    // one that signs this receipt.
    let second = w.bank.issue_keyset(*w.ttp.public(), &spec(3), &mut OsRng).unwrap();
    let mut shop = shop;
    shop.pin_keysets(&w.bank.published_keysets()).unwrap();

    type Edit = Box<dyn Fn(&mut DepositReceipt)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("credited total", Box::new(|r| r.credited += 1)),
        (
            "a coin's outcome",
            Box::new(|r| {
                r.credited -= r.outcomes[0].outcome.credited();
                r.outcomes[0].outcome = DepositOutcome::Duplicate;
            }),
        ),
        ("a coin's value", Box::new(|r| r.outcomes[0].outcome = DepositOutcome::Credited { value: 1 << 20 })),
        ("a coin id", Box::new(|r| r.outcomes.swap(0, 1))),
        (
            "an outcome dropped",
            Box::new(|r| {
                r.outcomes.pop();
            }),
        ),
        (
            "the payment refused",
            Box::new(|r| {
                r.payments[0] = PaymentOutcome::Refused(PaymentRefusal::Proofs);
                r.outcomes.clear();
                r.credited = 0;
            }),
        ),
        ("the request digest", Box::new(|r| r.request_digest[0] ^= 1)),
        ("the request id", Box::new(|r| r.request_id[0] ^= 1)),
        ("the receipt day", Box::new(|r| r.receipt_day = r.receipt_day.plus(1))),
        ("an unknown signing keyset", Box::new(|r| r.keyset_id = KeysetId([9; 32]))),
        (
            "another pinned keyset",
            Box::new(move |r| r.keyset_id = if r.keyset_id == first { second.id() } else { first }),
        ),
        ("the signature", Box::new(|r| r.signature.s += Scalar::ONE)),
    ];
    let balance = w.balance(&shop.id());
    let mut request_bytes = None;
    for (what, edit) in &edits {
        let channel = Channel::new(&*w.bank, |mut r| {
            edit(&mut r);
            Ok(r)
        });
        match shop.deposit(&channel, &mut OsRng) {
            Err(Error::BadReceipt(_) | Error::UnknownKeyset(_)) => {}
            other => panic!("{what}: the merchant took an altered receipt: {other:?}"),
        }
        // Nothing recorded: the payment is pending, the request in flight.
        assert_eq!(states(&shop)[1], PaymentState::Pending, "{what}");
        let in_flight = shop.store().deposit_in_flight().unwrap().expect("still in flight");
        assert_eq!(in_flight.payments, vec![p.clone()], "{what}");
        let bytes = channel.sent.lock().unwrap()[0].clone();
        assert_eq!(*request_bytes.get_or_insert(bytes.clone()), bytes, "{what}: the same request each time");
        assert!(shop.store().receipt(&in_flight.request_id).unwrap().is_none(), "{what}");
    }
    // A genuine receipt of another request of this merchant.
    let channel = Channel::new(&*w.bank, |_| Ok(other.clone()));
    assert!(matches!(shop.deposit(&channel, &mut OsRng), Err(Error::BadReceipt("another request"))));
    // The bank credited once, on the first attempt; the honest channel
    // brings its stored receipt, which the merchant records.
    assert_eq!(w.balance(&shop.id()), balance + 12);
    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.credited, 12);
    assert!(receipt.outcomes.iter().all(|o| matches!(o.outcome, DepositOutcome::Credited { .. })));
    assert!(matches!(states(&shop)[1], PaymentState::Deposited { .. }));
    assert_eq!(w.balance(&shop.id()), balance + 12);
    assert!(shop.deposit(&*w.bank, &mut OsRng).unwrap().is_none());
}

// ---------------------------------------------------------------------------
// Retries resend the stored request (issue: a retry changes its request id)
// ---------------------------------------------------------------------------

/// Loses the receipt of the first deposit; the merchant's next deposit
/// resends the same bytes and records the stored receipt: the coins are
/// credited, not duplicates.
fn a_lost_receipt_is_recovered(bank: &dyn BankApi, w: &World) {
    let alice = w.user(100);
    let shop = w.merchant();
    alice.withdraw(bank, 7, &mut OsRng).unwrap();
    pay(&alice, &shop, 7);
    let losing = Channel::new(bank, lost);
    assert!(matches!(shop.deposit(&losing, &mut OsRng), Err(Error::Unreachable(_))));
    assert_eq!(w.balance(&shop.id()), 7, "the bank credited");
    assert_eq!(states(&shop), vec![PaymentState::Pending]);
    // A new payment meanwhile goes into the next request, not this one.
    alice.withdraw(bank, 2, &mut OsRng).unwrap();
    pay(&alice, &shop, 2);
    let honest = Channel::new(bank, Ok);
    let receipt = shop.deposit(&honest, &mut OsRng).unwrap().unwrap();
    assert_eq!(honest.sent.lock().unwrap()[0], losing.sent.lock().unwrap()[0], "the same bytes");
    assert_eq!(receipt.credited, 7);
    assert!(receipt.outcomes.iter().all(|o| matches!(o.outcome, DepositOutcome::Credited { .. })));
    assert!(matches!(states(&shop)[..], [PaymentState::Deposited { .. }, PaymentState::Pending]));
    assert_eq!(w.balance(&shop.id()), 7, "credited once");
    let next = shop.deposit(&honest, &mut OsRng).unwrap().unwrap();
    assert_eq!((next.payments.len(), next.credited), (1, 2));
    assert_eq!(w.balance(&shop.id()), 9);
}

#[test]
fn a_retry_after_a_lost_receipt_sends_the_same_request_and_books_its_receipt() {
    let w = World::new();
    a_lost_receipt_is_recovered(&*w.bank, &w);
}

#[test]
fn a_retry_after_a_receipt_lost_over_http_books_the_stored_receipt() {
    let w = World::new();
    let server = faircash::http::server::spawn(w.bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = faircash::http::client::HttpBank::new(&[&server.url()]).unwrap();
    a_lost_receipt_is_recovered(&api, &w);
}

// ---------------------------------------------------------------------------
// A merchant is never stuck
// ---------------------------------------------------------------------------

#[test]
fn bad_payments_are_refused_with_reasons_and_never_block_later_deposits() {
    let w = World::new();
    let throttle = w.bank.config().deposit_limits.throttle_secs;
    let alice = w.user(1000);
    let (shop, key) = w.merchant_with_key();
    alice.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    // Day D: a payment, not deposited in time.
    let day = w.bank.today();
    pay(&alice, &shop, 1);
    let delay = w.keyset().policy().max_deposit_delay_days;
    w.clock.advance_days(delay + 1);
    // Payments of today: two honest ones, one under a keyset this bank does
    // not know, one forged.
    alice.withdraw(&*w.bank, 12, &mut OsRng).unwrap();
    pay(&alice, &shop, 4);
    let elsewhere = World::new();
    let stranger = elsewhere.user(100);
    let coin = elsewhere.withdraw_coin(&stranger, 2);
    let req = shop.request_payment(2, [2; 32], &mut OsRng).unwrap();
    let foreign = create_payment(&req, &elsewhere.keyset(), stranger.user(), &[&coin], &mut OsRng).unwrap();
    smuggle(&shop, &foreign);
    let fake = forged(&w, &alice, &shop, 16);
    smuggle(&shop, &fake);
    pay(&alice, &shop, 8);
    let before = w.balance(&shop.id());

    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    let closed = PaymentRefusal::WindowClosed {
        day,
        deposit_until: day.plus(delay),
        receipt_day: day.plus(delay + 1),
    };
    assert_eq!(
        receipt.payments,
        vec![
            PaymentOutcome::Refused(closed),
            PaymentOutcome::Verified,
            PaymentOutcome::Refused(PaymentRefusal::UnknownKeyset),
            PaymentOutcome::Refused(PaymentRefusal::Proofs),
            PaymentOutcome::Verified,
        ]
    );
    assert_eq!(receipt.credited, 12);
    assert_eq!(w.balance(&shop.id()), before + 12);
    // The error names the window's real end, not today.
    let text = closed.to_string();
    assert!(text.contains(&format!("until day {}", day.plus(delay))), "{text}");
    // The merchant keeps the refused payments apart, with their reasons.
    let refused: Vec<PaymentRefusal> = shop
        .payments()
        .unwrap()
        .into_iter()
        .filter_map(|a| match a.state {
            PaymentState::Refused { refusal, request_id } => {
                assert_eq!(request_id, receipt.request_id);
                Some(refusal)
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![closed, PaymentRefusal::UnknownKeyset, PaymentRefusal::Proofs]);
    assert!(shop.store().undeposited().unwrap().is_empty());

    // The forger is throttled: its next deposit is refused for a while and
    // changes nothing; the request stays in flight.
    alice.withdraw(&*w.bank, 2, &mut OsRng).unwrap();
    pay(&alice, &shop, 2);
    match shop.deposit(&*w.bank, &mut OsRng) {
        Err(Error::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, throttle),
        other => panic!("expected the forger to be throttled, got {other:?}"),
    }
    // Anyone else deposits meanwhile.
    let other = w.merchant();
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    pay(&alice, &other, 1);
    assert_eq!(other.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 1);
    // Later the same request goes through: only the new payment.
    w.clock.set(faircash::time::Timestamp(w.clock.now().0 + throttle));
    let later = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!((later.payments.len(), later.credited), (1, 2));
    assert_eq!(w.balance(&shop.id()), before + 14);
    assert!(shop.deposit(&*w.bank, &mut OsRng).unwrap().is_none(), "nothing left; refused ones never again");
    // The merchant signed the refused payments once more by hand: still
    // refused, still nothing credited.
    let again = DepositRequest::new(&key, shop.id(), vec![foreign, fake], &mut OsRng);
    let r = w.bank.as_ref().deposit(&again, &mut OsRng).unwrap();
    assert_eq!(
        r.payments,
        vec![
            PaymentOutcome::Refused(PaymentRefusal::UnknownKeyset),
            PaymentOutcome::Refused(PaymentRefusal::Proofs)
        ]
    );
    assert_eq!(w.balance(&shop.id()), before + 14);
}

/// `n` one-coin payments to one merchant, those at `bad` forged, and the
/// signed deposit request holding them.
fn request_with_forgeries(w: &World, n: usize, bad: &[usize]) -> (DepositRequest, TestMerchant) {
    let alice = w.user(10 * n as u64);
    let (shop, key) = w.merchant_with_key();
    let mut payments = Vec::new();
    for i in 0..n {
        let coin = w.withdraw_coin(&alice, 1);
        let req = shop.request_payment(1, [i as u8; 32], &mut OsRng).unwrap();
        let mut p = create_payment(&req, &w.keyset(), alice.user(), &[&coin], &mut OsRng).unwrap();
        if bad.contains(&i) {
            p.responses[0].k += Scalar::ONE;
        }
        payments.push(p);
    }
    (DepositRequest::new(&key, shop.id(), payments, &mut OsRng), shop)
}

fn check_verdicts(verdicts: &[PaymentVerdict], bad: &[usize]) -> (usize, usize) {
    let (mut found, mut deferred) = (0, 0);
    for (i, v) in verdicts.iter().enumerate() {
        match v {
            PaymentVerdict::Verified(_) => assert!(!bad.contains(&i), "forged payment {i} verified"),
            PaymentVerdict::Refused(r) => {
                assert!(bad.contains(&i), "honest payment {i} refused");
                assert_eq!(*r, PaymentRefusal::Proofs);
                found += 1;
            }
            PaymentVerdict::Deferred => deferred += 1,
        }
    }
    (found, deferred)
}

#[test]
fn the_search_finds_each_forged_payment_within_the_work_cap() {
    let w = World::new();
    let n = 24;
    let mut bad: Vec<usize> = (0..3).map(|_| OsRng.gen_range(0..n)).collect();
    bad.sort_unstable();
    bad.dedup();
    let (req, shop) = request_with_forgeries(&w, n, &bad);
    let keysets = w.bank.as_ref().keysets();
    let key = w.bank.account(&shop.id()).unwrap().public_key;
    let today = w.bank.today();
    // Enough work: every forged payment is found, every other verified.
    let v = verify_payments(&req, &key, &keysets, today, 4 * n, &mut OsRng);
    assert_eq!(v.batch_work, n);
    assert_eq!(check_verdicts(&v.verdicts, &bad), (bad.len(), 0), "bad {bad:?}");
    assert!(v.search_work <= 4 * n, "{}", v.search_work);
    assert!(v.search_work > 0);
    // One payment's worth of work less than one descent: nothing is
    // decided, nothing misjudged.
    let v = verify_payments(&req, &key, &keysets, today, 1, &mut OsRng);
    assert!(v.search_work <= 1);
    let (found, deferred) = check_verdicts(&v.verdicts, &bad);
    assert_eq!(
        found + deferred + v.verdicts.iter().filter(|x| matches!(x, PaymentVerdict::Verified(_))).count(),
        n
    );
    // A cap of the request's coins finds at least one forgery, and the cap
    // is honoured.
    for cap in [n, n + n / 2, 2 * n] {
        let v = verify_payments(&req, &key, &keysets, today, cap, &mut OsRng);
        assert!(v.search_work <= cap, "cap {cap}: {}", v.search_work);
        let (found, _) = check_verdicts(&v.verdicts, &bad);
        assert!(found >= 1, "cap {cap}: no forgery found");
    }
    // No forgery: one batch and no search.
    let (clean, shop) = request_with_forgeries(&w, 8, &[]);
    let key = w.bank.account(&shop.id()).unwrap().public_key;
    let v = verify_payments(&clean, &key, &keysets, today, 0, &mut OsRng);
    assert_eq!((v.batch_work, v.search_work), (8, 0));
    assert_eq!(check_verdicts(&v.verdicts, &[]), (0, 0));
}

#[test]
fn the_bank_bounds_the_search_by_its_work_cap_and_defers_the_rest() {
    // Search cap of one request's coins: with forgeries in both halves,
    // some honest payments are left undecided; they are deferred (not
    // recorded, not refused) and the merchant deposits them again.
    let w = World::with_config(BankConfig {
        deposit_limits: DepositLimits { search_factor: 1, throttle_secs: 0, ..DepositLimits::default() },
        ..BankConfig::default()
    });
    let n = 16;
    let bad = [0, 5, 9, 15];
    let (req, _) = request_with_forgeries(&w, n, &bad);
    let r = w.bank.as_ref().deposit(&req, &mut OsRng).unwrap();
    let refused = r.payments.iter().filter(|o| matches!(o, PaymentOutcome::Refused(_))).count();
    let deferred = r.payments.iter().filter(|o| **o == PaymentOutcome::Deferred).count();
    let verified = r.payments.iter().filter(|o| **o == PaymentOutcome::Verified).count();
    assert!(refused >= 1 && deferred >= 1, "{:?}", r.payments);
    for (i, o) in r.payments.iter().enumerate() {
        match o {
            PaymentOutcome::Refused(_) => assert!(bad.contains(&i)),
            PaymentOutcome::Verified => assert!(!bad.contains(&i)),
            PaymentOutcome::Deferred => {}
        }
    }
    assert_eq!(r.credited, verified as u64);
    assert_eq!(r.outcomes.len(), verified);
}

// ---------------------------------------------------------------------------
// Request ids cannot be probed
// ---------------------------------------------------------------------------

#[test]
fn a_reused_request_id_is_named_only_to_the_merchant_that_signed() {
    let w = World::new();
    let alice = w.user(100);
    let (shop, key) = w.merchant_with_key();
    alice.withdraw(&*w.bank, 6, &mut OsRng).unwrap();
    let p = pay(&alice, &shop, 4);
    let q = pay(&alice, &shop, 2);
    let first = shop.deposit_request(&mut OsRng).unwrap().unwrap();
    w.bank.as_ref().deposit(&first, &mut OsRng).unwrap();
    // Someone without the merchant's key tries the used id with other
    // payments: the signature is checked first.
    let intruder = SigningKey::generate(&mut OsRng);
    let probe = DepositRequest {
        request_id: first.request_id,
        ..DepositRequest::new(&intruder, shop.id(), vec![q.clone()], &mut OsRng)
    };
    assert!(matches!(
        w.bank.as_ref().deposit(&probe, &mut OsRng),
        Err(Error::InvalidProof("deposit signature"))
    ));
    // An unused id, badly signed: the same answer.
    let probe = DepositRequest::new(&intruder, shop.id(), vec![q.clone()], &mut OsRng);
    assert!(matches!(
        w.bank.as_ref().deposit(&probe, &mut OsRng),
        Err(Error::InvalidProof("deposit signature"))
    ));
    // The merchant itself learns that its id is used.
    assert_eq!(first.payments, vec![p, q.clone()]);
    let reused = DepositRequest::new(&key, shop.id(), vec![q], &mut FixedId(first.request_id, false));
    assert_eq!(reused.request_id, first.request_id);
    assert!(matches!(w.bank.as_ref().deposit(&reused, &mut OsRng), Err(Error::RequestIdReused)));
}

#[test]
fn a_badly_signed_deposit_is_refused_before_its_payments_are_looked_at() {
    let w = World::new();
    let alice = w.user(100);
    let shop = w.merchant();
    let other = w.merchant();
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    // A payment to another merchant, a payment dated far in the future, a
    // forged one: none of it is looked at under a bad signature.
    let p = pay(&alice, &other, 4);
    let mut future = p.clone();
    future.request.day = future.request.day.plus(1000);
    future.responses[0].u += Scalar::ONE;
    let intruder = SigningKey::generate(&mut OsRng);
    let req = DepositRequest::new(&intruder, shop.id(), vec![p, future], &mut OsRng);
    assert!(matches!(
        w.bank.as_ref().deposit(&req, &mut OsRng),
        Err(Error::InvalidProof("deposit signature"))
    ));
    assert_eq!(w.bank.deposit_load().merchants_throttled, 0, "nobody throttled on a bad signature");
}

/// An rng whose first 16-byte draw is the given id (a deposit request id).
struct FixedId([u8; 16], bool);

impl rand::RngCore for FixedId {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(&mut OsRng)
    }
    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut OsRng)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if !self.1 && dest.len() == 16 {
            self.1 = true;
            dest.copy_from_slice(&self.0);
        } else {
            rand::RngCore::fill_bytes(&mut OsRng, dest)
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand::CryptoRng for FixedId {}

// ---------------------------------------------------------------------------
// Evidence cannot be flooded
// ---------------------------------------------------------------------------

#[test]
fn redeposits_of_a_double_spend_add_no_evidence_and_a_later_one_is_visible() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let (shop2, key2) = w.merchant_with_key();
    let coin = w.withdraw_coin(&alice, 8);
    let spend = |shop: &TestMerchant| {
        let req = shop.request_payment(8, [3; 32], &mut OsRng).unwrap();
        let p = create_payment(&req, &w.keyset(), alice.user(), &[&coin], &mut OsRng).unwrap();
        shop.accept(&p, &mut OsRng).unwrap();
        p
    };
    spend(&shop1);
    let second = spend(&shop2);
    shop1.deposit(&*w.bank, &mut OsRng).unwrap();
    shop2.deposit(&*w.bank, &mut OsRng).unwrap();
    let page = w.bank.evidence_page(0, 10).unwrap();
    assert_eq!(page.items.len(), 1);
    let cursor = page.cursor;
    // The double-spent payment again and again, under new request ids.
    for _ in 0..5 {
        let r = w
            .bank
            .as_ref()
            .deposit(&DepositRequest::new(&key2, shop2.id(), vec![second.clone()], &mut OsRng), &mut OsRng)
            .unwrap();
        assert_eq!(r.outcomes[0].outcome, DepositOutcome::DoubleSpent { account: Some(alice.account_id()) });
    }
    assert_eq!(w.bank.status().unwrap().evidence, 1, "no new evidence");
    assert!(w.bank.evidence_page(cursor, 10).unwrap().items.is_empty());
    // A later, unrelated double spend is visible after the cursor.
    let coin = w.withdraw_coin(&bob, 4);
    for shop in [&shop1, &shop2] {
        let req = shop.request_payment(4, [4; 32], &mut OsRng).unwrap();
        let p = create_payment(&req, &w.keyset(), bob.user(), &[&coin], &mut OsRng).unwrap();
        shop.accept(&p, &mut OsRng).unwrap();
        shop.deposit(&*w.bank, &mut OsRng).unwrap();
    }
    let newer = w.bank.evidence_page(cursor, 10).unwrap();
    assert_eq!(newer.items.len(), 1);
    assert_eq!(newer.items[0].record.account, Some(bob.account_id()));
    assert!(newer.cursor > cursor && !newer.more);
    // Pages of one.
    let first = w.bank.evidence_page(0, 1).unwrap();
    assert!(first.more);
    assert_eq!(first.items[0].record.account, Some(alice.account_id()));
    let next = w.bank.evidence_page(first.cursor, 1).unwrap();
    assert_eq!((next.items[0].seq, next.more), (newer.cursor, false));
}

#[test]
fn an_oversized_deposit_runs_alone_and_gives_its_budget_back() {
    // A bank that lets one merchant verify at most 2 coins at once and 3 in
    // all: a deposit of 3 coins fits when it is alone; the budget is given
    // back afterwards.
    let w = World::with_config(BankConfig {
        deposit_limits: DepositLimits {
            max_coins_in_flight: 3,
            max_coins_per_merchant: 2,
            ..DepositLimits::default()
        },
        ..BankConfig::default()
    });
    let alice = w.user(100);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    pay(&alice, &shop, 7);
    let r = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(r.credited, 7);
    assert_eq!(w.bank.deposit_load().coins_in_flight, 0);
}

// ---------------------------------------------------------------------------
// A user account as the payee
// ---------------------------------------------------------------------------

#[test]
fn a_user_account_deposits_what_is_addressed_to_it_signed_with_its_authentication_key() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(0);
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    alice.withdraw(&*w.bank, 2, &mut OsRng).unwrap();
    // Bob asks for a payment addressed to his account and his key `A`.
    let ask = |amount: u64| {
        faircash::protocol::pay::PaymentRequest::new(
            bob.account_id(),
            *bob.keys().auth().public(),
            amount,
            w.clock.today(),
            [7; 32],
            &mut OsRng,
        )
    };
    let p = alice.pay(&ask(4), &mut OsRng).unwrap();
    let before = w.balance(&alice.account_id()) + w.balance(&bob.account_id()) + 4 + 2;

    // Signed with `u` (the spending secret), or by anyone else: refused.
    let with_u =
        SigningKey::from_secret(faircash::crypto::secret::SecretScalar::new(*bob.user().expose_secret()));
    let req = DepositRequest::new(&with_u, bob.account_id(), vec![p.clone()], &mut OsRng);
    assert!(matches!(
        w.bank.as_ref().deposit(&req, &mut OsRng),
        Err(Error::InvalidProof("deposit signature"))
    ));

    // Signed with `A`: credited to Bob.
    let req =
        DepositRequest::new(bob.keys().auth().signing_key(), bob.account_id(), vec![p.clone()], &mut OsRng);
    let receipt = w.bank.as_ref().deposit(&req, &mut OsRng).unwrap();
    assert_eq!(receipt.credited, 4);
    assert_eq!(w.balance(&bob.account_id()), 4);
    assert_eq!(w.balance(&alice.account_id()) + w.balance(&bob.account_id()) + 2, before, "money conserved");

    // A payment addressed to Bob deposited by a merchant is refused for its
    // addressee; one addressed to a merchant cannot be deposited by Bob.
    let (shop, shop_key) = w.merchant_with_key();
    let q = alice.pay(&ask(2), &mut OsRng).unwrap();
    let req = DepositRequest::new(&shop_key, shop.id(), vec![q.clone()], &mut OsRng);
    let r = w.bank.as_ref().deposit(&req, &mut OsRng).unwrap();
    assert_eq!((r.credited, r.payments[0]), (0, PaymentOutcome::Refused(PaymentRefusal::WrongMerchant)));
    assert_eq!(w.balance(&bob.account_id()), 4);
}
