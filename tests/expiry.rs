//! Expiry and key validity: an expired coin is refused (the wallet will not
//! pay with it, a payment re-dated past a coin's expiry fails at merchant
//! and bank), and so is a coin under a key or keyset the verifier does not
//! have.
//!
//! The World's keyset: withdrawals from START for 30 days, coins valid 30
//! days, so a coin withdrawn on START expires on START+30 while its key
//! stays spendable until START+59.
//!
//! The forgery where the payer proves the range for the wrapped difference
//! `t - D mod 2^64` needs the private payment transcript: it is a unit test
//! in src/protocol/pay.rs (`expiry_forgery`).

mod common;

use common::*;
use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{AccountId, Keyset};
use faircash::protocol::deposit::{DepositRequest, PaymentOutcome, PaymentRefusal};
use faircash::protocol::pay::{create_payment, verify_payment, Payment, PaymentRequest};
use faircash::protocol::withdraw::WalletCoin;
use faircash::protocol::{Error, PaymentError};
use faircash::store::MerchantStore;
use faircash::time::{Clock, Day};
use rand::rngs::OsRng;

/// Deposits `p` alone; its refusal, if the bank refuses it.
fn deposit(w: &World, key: &SigningKey, id: AccountId, p: &Payment) -> Result<u64, PaymentRefusal> {
    let req = DepositRequest::new(key, id, vec![p.clone()], &mut OsRng);
    let r = w.bank.deposit(&req, &mut OsRng).expect("the signed request is answered");
    match r.payments[..] {
        [PaymentOutcome::Verified] => Ok(r.credited),
        [PaymentOutcome::Refused(reason)] => Err(reason),
        _ => panic!("{:?}", r.payments),
    }
}

/// The merchant opens `req` (if it has not) and tries to accept `p`.
fn accept(shop: &TestMerchant, req: &PaymentRequest, p: &Payment) -> Result<(), Error> {
    if shop.store().open_request(&req.id()).unwrap().is_none() {
        shop.store().insert_request(req).unwrap();
    }
    shop.accept(p, &mut OsRng).map(|_| ())
}

fn wallet_coin(wallet: &TestWallet, value: u64, expiry: Day) -> WalletCoin {
    wallet
        .coins()
        .unwrap()
        .into_iter()
        .map(|c| c.coin)
        .find(|c| c.value == value && c.secrets.expiry() == expiry)
        .expect("such a coin")
}

fn key_spendable(keyset: &Keyset, coin: &WalletCoin, day: Day) -> bool {
    keyset.key(&coin.coin.body.key_id).unwrap().spendable_on(day)
}

#[test]
fn the_wallet_refuses_to_pay_with_an_expired_coin() {
    let w = World::new();
    let shop = w.merchant();
    let alice = w.user(100);
    let keyset = w.bank.current_keyset().unwrap();
    // Two coins of 1 expiring on START+30, one coin of 2 expiring a day later.
    alice.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    alice.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    w.clock.advance_days(1);
    alice.withdraw_one(&*w.bank, 2, &mut OsRng).unwrap();
    let expiry = START.plus(30);
    assert_eq!(alice.coins().unwrap().iter().filter(|c| c.coin.secrets.expiry() == expiry).count(), 2);

    // On the expiry day itself a coin is still good (D <= t).
    w.clock.advance_days(29);
    assert_eq!(w.clock.today(), expiry);
    let req = shop.request_payment(1, [0; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 1);

    // The day after, the other coin of 1 has expired, although its key is
    // still spendable: the wallet has nothing to pay 1 with.
    w.clock.advance_days(1);
    let day = expiry.plus(1);
    assert_eq!(w.clock.today(), day);
    let expired =
        alice.coins().unwrap().into_iter().find(|c| c.spent_in.is_none() && c.coin.value == 1).unwrap().coin;
    assert_eq!(expired.secrets.expiry(), expiry);
    assert!(key_spendable(&keyset, &expired, day));
    assert!(key_spendable(&keyset, &expired, START.plus(59)));
    assert!(!key_spendable(&keyset, &expired, START.plus(60)));
    let req = shop.request_payment(1, [1; 32], &mut OsRng).unwrap();
    match alice.pay(&req, &mut OsRng) {
        // The expired coin is not offered; the coin of 2 (all that is
        // available) cannot make 1.
        Err(Error::NoExactChange { amount: 1, available: 2 }) => {}
        other => panic!("paid with an expired coin: {other:?}"),
    }
    // Asked for 3, the expired coin is what is missing: the wallet says so.
    let req3 = shop.request_payment(3, [9; 32], &mut OsRng).unwrap();
    match alice.pay(&req3, &mut OsRng) {
        Err(Error::CoinsExpired { expired: 1, available: 2, day: d }) if d == day => {}
        other => panic!("paid 3 with an expired coin: {other:?}"),
    }
    // Nothing was marked spent by the refusal.
    assert_eq!(alice.balance().unwrap(), 3);
    // Bypassing the wallet's selection, the prover refuses to prove.
    match create_payment(&req, &keyset, alice.user(), &[&expired], &mut OsRng) {
        Err(Error::Range(_)) => {}
        other => panic!("proved an expired coin: {other:?}"),
    }
    // The coin of 2, withdrawn a day later, still pays today.
    let req = shop.request_payment(2, [2; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 2);
    assert_eq!(alice.balance().unwrap(), 1);
}

#[test]
fn a_valid_payment_re_dated_to_a_later_day_is_refused() {
    let w = World::without_throttling();
    let (shop, shop_key) = w.merchant_with_key();
    let alice = w.user(100);
    let keyset = w.bank.current_keyset().unwrap();
    // A coin of 1 expiring on START+30 and a coin of 2 expiring on START+31.
    alice.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    w.clock.advance_days(1);
    alice.withdraw_one(&*w.bank, 2, &mut OsRng).unwrap();
    let early = wallet_coin(&alice, 1, START.plus(30));
    let late = wallet_coin(&alice, 2, START.plus(31));

    // Paid with both on START+29, one day before the first expires.
    w.clock.advance_days(28);
    let paid_on = START.plus(29);
    assert_eq!(w.clock.today(), paid_on);
    let req = shop.request_payment(3, [7; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(p.coins.len(), 2);
    verify_payment(&p, &keyset, &mut OsRng).unwrap();

    // The bank receives everything on START+31: every re-dated day below is
    // inside its deposit window, so its refusals come from the proofs.
    w.clock.advance_days(2);
    let cases = [
        // Both coins still valid on that day: the proof is bound to D.
        (paid_on.plus(1), PaymentError::RangeProof),
        // The first coin has expired on that day.
        (paid_on.plus(2), PaymentError::RangeProof),
    ];
    for (day, reason) in cases {
        assert!(key_spendable(&keyset, &early, day) && key_spendable(&keyset, &late, day));
        let mut t = p.clone();
        t.request.day = day;
        let what = format!("re-dated to {day:?}");
        assert_eq!(verify_payment(&t, &keyset, &mut OsRng).unwrap_err(), reason, "{what}");
        match accept(&shop, &t.request, &t) {
            Err(Error::Payment(e)) => assert_eq!(e, reason, "{what}"),
            other => panic!("{what}: merchant: {other:?}"),
        }
        match deposit(&w, &shop_key, shop.id(), &t) {
            Err(r) => assert_eq!(r, PaymentRefusal::from(&reason), "{what}"),
            other => panic!("{what}: bank: {other:?}"),
        }
    }
    // Re-dated past the keys' spending window, the key rule refuses first.
    let mut t = p.clone();
    t.request.day = START.plus(60);
    assert!(matches!(verify_payment(&t, &keyset, &mut OsRng), Err(PaymentError::KeyNotValidOnDay { .. })));

    // The payment as made is still good, at merchant and bank.
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 3);
}

#[test]
fn a_coin_of_another_bank_is_refused() {
    let w = World::without_throttling();
    let other = World::new();
    let (shop, shop_key) = w.merchant_with_key();
    let keyset = w.bank.current_keyset().unwrap();
    let other_keyset = other.bank.current_keyset().unwrap();
    assert_ne!(keyset.id(), other_keyset.id());

    // Mallory is a customer of the other bank and pays our shop.
    let mallory = other.user(100);
    mallory.withdraw_one(&*other.bank, 4, &mut OsRng).unwrap();
    let req = shop.request_payment(4, [4; 32], &mut OsRng).unwrap();
    let p = mallory.pay(&req, &mut OsRng).unwrap();
    // The payment is valid, under the other bank's keyset.
    verify_payment(&p, &other_keyset, &mut OsRng).unwrap();
    assert_eq!(p.keyset_ids(), [other_keyset.id()]);

    assert_eq!(verify_payment(&p, &keyset, &mut OsRng).unwrap_err(), PaymentError::UnknownKeyset(0));
    assert!(matches!(
        shop.accept(&p, &mut OsRng),
        Err(Error::UnknownKeyset(id)) if id == other_keyset.id()
    ));
    match deposit(&w, &shop_key, shop.id(), &p) {
        Err(PaymentRefusal::UnknownKeyset) => {}
        other => panic!("bank: {other:?}"),
    }

    // Relabelled as a coin of our keyset, under our key of the same value.
    let our_key = keyset.key_for_value(4).unwrap().key_id;
    let mut t = p.clone();
    t.coins[0].body.keyset_id = keyset.id();
    t.coins[0].body.key_id = our_key;
    // The range proof is made on the payment transcript, which absorbs the
    // every coin whole, its keyset id included: it is the first check to
    // fail.
    let reason = verify_payment(&t, &keyset, &mut OsRng).unwrap_err();
    assert_eq!(reason, PaymentError::RangeProof);
    match shop.accept(&t, &mut OsRng) {
        Err(Error::Payment(e)) => assert_eq!(e, reason),
        other => panic!("merchant: {other:?}"),
    }
    // The bank checks every coin's ACL hash before any range proof, so it
    // may name the signature where the verifier named the range proof.
    match deposit(&w, &shop_key, shop.id(), &t) {
        Err(r) => assert!(r.is_forgery(), "{r:?}"),
        other => panic!("bank: {other:?}"),
    }
    // Mallory, holding every secret of her coin, cannot re-prove it under
    // our key either: her witnesses fit the other bank's z_k only.
    let mut wc = wallet_coin(&mallory, 4, START.plus(30));
    wc.coin.body.keyset_id = keyset.id();
    wc.coin.body.key_id = our_key;
    assert!(matches!(
        create_payment(&req, &keyset, mallory.user(), &[&wc], &mut OsRng),
        Err(Error::InvalidProof("spend witness"))
    ));

    assert_eq!(w.balance(&shop.id()), 0);
    assert!(!shop.has_seen(&p.coins[0].id()).unwrap());
}

#[test]
fn a_coin_switched_to_another_denominations_key_is_refused() {
    let w = World::without_throttling();
    let (shop, shop_key) = w.merchant_with_key();
    let alice = w.user(100);
    let keyset = w.bank.current_keyset().unwrap();
    alice.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    let req = shop.request_payment(1, [1; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    let coin = wallet_coin(&alice, 1, START.plus(30));

    // Every other denomination of the keyset, asked for as its own value.
    for value in keyset.values_desc().into_iter().filter(|v| *v != 1) {
        let key = keyset.key_for_value(value).unwrap().key_id;
        let mut t = p.clone();
        t.coins[0].body.key_id = key;
        t.request.amount = value;
        let what = format!("coin of 1 relabelled as {value}");
        // The coin body (with its key id) is in the payment transcript.
        let reason = verify_payment(&t, &keyset, &mut OsRng).unwrap_err();
        assert_eq!(reason, PaymentError::RangeProof, "{what}");
        match accept(&shop, &t.request, &t) {
            Err(Error::Payment(e)) => assert_eq!(e, reason, "{what}"),
            other => panic!("{what}: merchant: {other:?}"),
        }
        match deposit(&w, &shop_key, shop.id(), &t) {
            Err(r) => assert!(r.is_forgery(), "{what}: {r:?}"),
            other => panic!("{what}: bank: {other:?}"),
        }
        // Re-proving under the other key is impossible for the owner too.
        let mut wc = coin.clone();
        wc.coin.body.key_id = key;
        let req = shop.request_payment(value, [2; 32], &mut OsRng).unwrap();
        assert!(
            matches!(
                create_payment(&req, &keyset, alice.user(), &[&wc], &mut OsRng),
                Err(Error::InvalidProof("spend witness"))
            ),
            "{what}"
        );
    }
    // Relabelled but still asking 1: the amount rule.
    let mut t = p.clone();
    t.coins[0].body.key_id = keyset.key_for_value(2).unwrap().key_id;
    assert_eq!(
        verify_payment(&t, &keyset, &mut OsRng).unwrap_err(),
        PaymentError::AmountMismatch { sum: 2, amount: 1 }
    );

    // The coin under its own key is fine.
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 1);
}

#[test]
fn pruned_spent_records_never_let_a_second_spend_through() {
    use faircash::protocol::deposit::DepositRequest;
    use faircash::protocol::pay::{create_payment, PaymentRequest};
    use faircash::store::BankStore;
    let w = World::new(); // validity 30 days, deposit delay 7 days
    let alice = w.user(100);
    let (shop, key) = w.merchant_with_key();
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let coin = alice.coins().unwrap().remove(0).coin;
    let expiry = coin.secrets.expiry();
    // First spend and deposit today (R1 = START).
    let req = shop.request_payment(4, [0; 32], &mut OsRng).unwrap();
    let first = create_payment(&req, &w.keyset(), alice.user(), &[&coin], &mut OsRng).unwrap();
    shop.accept(&first, &mut OsRng).unwrap();
    shop.deposit(&*w.bank, &mut OsRng).unwrap();
    let count = || w.bank.store().begin().unwrap().spent_coin_count().unwrap();
    assert_eq!(count(), 1);
    // The record outlives R1 + validity + delay, and no longer.
    w.clock.advance_days(30 + 7);
    assert_eq!(w.bank.prune_spent().unwrap(), 0, "kept through R1 + validity + delay");
    w.clock.advance_days(1);
    assert_eq!(w.bank.prune_spent().unwrap(), 1);
    assert_eq!(count(), 0);
    // A second spend dated as late as the coin allows (D = t) can no longer
    // be deposited: R > D + delay.
    let late = PaymentRequest::new(shop.id(), *key.public(), 4, expiry, [9; 32], &mut OsRng);
    let second = create_payment(&late, &w.keyset(), alice.user(), &[&coin], &mut OsRng).unwrap();
    let deposit = DepositRequest::new(&key, shop.id(), vec![second], &mut OsRng);
    let r = w.bank.deposit(&deposit, &mut OsRng).unwrap();
    assert!(matches!(
        r.payments[..],
        [faircash::protocol::deposit::PaymentOutcome::Refused(
            faircash::protocol::deposit::PaymentRefusal::WindowClosed { .. }
        )]
    ));
    assert_eq!(r.credited, 0);
}

// ---------------------------------------------------------------------------
// Payments that mix keysets (specs/protocol.md §8.1, §8.4, §9.2).
// ---------------------------------------------------------------------------

/// Issues a second keyset (withdrawals for 60 days from START, so its keys
/// stay spendable after the first keyset's) and has every party pin it.
fn rotate(w: &World, wallets: &mut [&mut TestWallet], shops: &mut [&mut TestMerchant]) -> Keyset {
    let spec = faircash::keys::KeysetSpec { withdraw_days: 60, ..spec(6) };
    let new = w.bank.issue_keyset(*w.ttp.public(), &spec, &mut OsRng).unwrap();
    for wallet in wallets {
        wallet.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    }
    for shop in shops {
        shop.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    }
    new
}

/// Money in the world: accounts, unspent coins, payments held by a payee
/// and not yet deposited.
fn total(w: &World, wallets: &[&TestWallet], shops: &[&TestMerchant]) -> u64 {
    use faircash::store::PaymentState;
    let pending = |ps: Vec<faircash::store::AcceptedPayment>| {
        ps.iter().filter(|a| a.state == PaymentState::Pending).map(|a| a.payment.request.amount).sum::<u64>()
    };
    let mut sum = 0;
    for wallet in wallets {
        sum +=
            w.balance(&wallet.account_id()) + wallet.balance().unwrap() + pending(wallet.received().unwrap());
    }
    for shop in shops {
        sum += w.balance(&shop.id()) + pending(shop.payments().unwrap());
    }
    sum
}

#[test]
fn a_payment_mixing_two_keysets_verifies_at_merchant_wallet_payee_and_bank() {
    let w = World::new();
    let mut alice = w.user(100);
    let mut bob = w.user(0);
    let (mut shop, _) = w.merchant_with_key();
    let old = w.keyset();
    alice.withdraw(&*w.bank, 8, &mut OsRng).unwrap();
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let new = rotate(&w, &mut [&mut alice, &mut bob], &mut [&mut shop]);
    assert_ne!(old.id(), new.id());
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    alice.withdraw(&*w.bank, 2, &mut OsRng).unwrap();
    let funds = total(&w, &[&alice, &bob], &[&shop]);
    assert_eq!(funds, 100);

    // 9 = 8 under the old keyset + 1 under the new one, at a merchant.
    let req = shop.request_payment(9, [1; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(p.keyset_ids(), [old.id(), new.id()]);
    assert_eq!(p.total_value(&w.bank.keysets()), Some(9));
    // Under either keyset alone, the other's coin is unknown (named).
    assert_eq!(verify_payment(&p, &old, &mut OsRng).unwrap_err(), PaymentError::UnknownKeyset(1));
    assert_eq!(verify_payment(&p, &new, &mut OsRng).unwrap_err(), PaymentError::UnknownKeyset(0));
    let summary = verify_payment(&p, &w.bank.keysets(), &mut OsRng).unwrap();
    assert_eq!(summary.values, [8, 1]);
    assert_eq!(shop.accept(&p, &mut OsRng).unwrap(), summary);
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]), funds);

    // 6 = 4 (old) + 2 (new), to another user's wallet.
    let req = bob.request_payment(6, [2; 32], &mut OsRng).unwrap();
    let p2 = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(p2.keyset_ids(), [old.id(), new.id()]);
    bob.receive(&p2, &mut OsRng).unwrap();
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]), funds);

    // The bank credits both, each coin under its own keyset.
    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!((receipt.payments[..].to_vec(), receipt.credited), (vec![PaymentOutcome::Verified], 9));
    let receipts = bob.deposit_received(&*w.bank, &mut OsRng).unwrap();
    assert_eq!(receipts.iter().map(|r| r.credited).sum::<u64>(), 6);
    assert_eq!(w.balance(&shop.id()), 9);
    assert_eq!(w.balance(&bob.account_id()), 6);
    assert_eq!(alice.balance().unwrap(), 0);
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]), funds);
}

#[test]
fn a_coin_whose_keyset_is_not_spendable_on_the_payment_day_is_refused_by_name() {
    let w = World::without_throttling();
    let mut alice = w.user(100);
    let (mut shop, shop_key) = w.merchant_with_key();
    let old = w.keyset();
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    let new = rotate(&w, &mut [&mut alice], &mut [&mut shop]);
    alice.withdraw(&*w.bank, 8, &mut OsRng).unwrap();
    let req = shop.request_payment(9, [3; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    // Coin 0 (8) under the new keyset, coin 1 (1) under the old one.
    assert_eq!(p.keyset_ids(), [new.id(), old.id()]);
    let keysets = w.bank.keysets();
    verify_payment(&p, &keysets, &mut OsRng).unwrap();

    // Re-dated to the day after the old keyset's spending window: the new
    // keyset's key is still spendable, the old one's is not.
    let old_key = old.key(&p.coins[1].body.key_id).unwrap();
    let day = old_key.windows.spend_until.plus(1);
    assert!(new.key(&p.coins[0].body.key_id).unwrap().spendable_on(day));
    w.clock.advance_days(day.0 - START.0);
    let mut t = p.clone();
    t.request.day = day;
    let named = PaymentError::KeyNotValidOnDay { index: 1, day };
    assert_eq!(verify_payment(&t, &keysets, &mut OsRng).unwrap_err(), named);
    match accept(&shop, &t.request, &t) {
        Err(Error::Payment(e)) => assert_eq!(e, named),
        other => panic!("merchant: {other:?}"),
    }
    assert!(shop.payments().unwrap().is_empty());
    match deposit(&w, &shop_key, shop.id(), &t) {
        Err(PaymentRefusal::NotSpendable { coin: 1, day: d }) if d == day => {}
        other => panic!("bank: {other:?}"),
    }
    assert_eq!(w.balance(&shop.id()), 0);
}

#[test]
fn a_coin_relabelled_to_the_other_keyset_of_a_mixed_payment_is_refused() {
    // The bank throttles a depositor of a forgery: not what is tested here.
    let w = World::without_throttling();
    let mut alice = w.user(100);
    let (mut shop, shop_key) = w.merchant_with_key();
    let old = w.keyset();
    alice.withdraw(&*w.bank, 8, &mut OsRng).unwrap();
    let new = rotate(&w, &mut [&mut alice], &mut [&mut shop]);
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    let req = shop.request_payment(9, [4; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(p.keyset_ids(), [old.id(), new.id()]);
    let keysets = w.bank.keysets();

    // Coin 0 names the new keyset (and its key of the same value): both
    // keysets are known and every structural rule holds, but the payment
    // transcript absorbed coin 0 whole (keyset id included), so the range
    // proof is the first check to fail. (That the transcript binds each
    // coin's keyset id alone: `pay::tests`.)
    let mut t = p.clone();
    t.coins[0].body.keyset_id = new.id();
    t.coins[0].body.key_id = new.key_for_value(8).unwrap().key_id;
    assert_eq!(t.keyset_ids(), [new.id()]);
    assert_eq!(verify_payment(&t, &keysets, &mut OsRng).unwrap_err(), PaymentError::RangeProof);
    match accept(&shop, &t.request, &t) {
        Err(Error::Payment(PaymentError::RangeProof)) => {}
        other => panic!("merchant: {other:?}"),
    }
    match deposit(&w, &shop_key, shop.id(), &t) {
        Err(PaymentRefusal::RangeProof) => {}
        other => panic!("bank: {other:?}"),
    }
    // The payment as made verifies and is credited.
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 9);
}
