//! Exchange: change and renewal (specs/protocol.md §10). A wallet spends
//! coins to its own account and withdraws the same value as other coins;
//! it pays with change, renews coins near expiry, and counts expired coins
//! apart. Money is conserved in every test: accounts + coins held +
//! payments not yet deposited.

mod common;

use common::*;
use faircash::protocol::Error;
use faircash::roles::wallet::full_split;
use faircash::store::WalletStore;
use faircash::time::Clock;
use rand::rngs::OsRng;

/// Alice's money: her account and her unspent coins.
fn held(w: &World, alice: &TestWallet) -> u64 {
    w.balance(&alice.account_id()) + alice.balance().unwrap()
}

fn unspent_values(alice: &TestWallet) -> Vec<u64> {
    let mut v: Vec<u64> =
        alice.coins().unwrap().into_iter().filter(|c| c.spent_in.is_none()).map(|c| c.coin.value).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

#[test]
fn a_wallet_with_one_large_coin_pays_a_small_amount_through_change() {
    let w = World::new();
    let alice = w.user(300);
    let shop = w.merchant();
    // The world's largest coin.
    alice.withdraw(&*w.bank, 64, &mut OsRng).unwrap();
    let total = held(&w, &alice);
    let req = shop.request_payment(5, [1; 32], &mut OsRng).unwrap();

    // Off-line, the refusal names the exchange that would make it possible.
    let e = alice.pay(&req, &mut OsRng).unwrap_err();
    assert!(matches!(e, Error::NoExactChange { amount: 5, available: 64 }), "{e:?}");
    let refusal = alice.offline_refusal(e).unwrap();
    assert!(matches!(refusal, Error::ExchangeNeeded { amount: 5, coins: 1, value: 64 }), "{refusal:?}");
    assert!(refusal.to_string().contains("exchange 1 coin(s) worth 64"), "{refusal}");
    assert_eq!(held(&w, &alice), total, "the refusal changed nothing");

    // On-line, the 64 is exchanged into the amount-independent split of
    // 64 (not a split shaped by the 5), then the payment is made.
    let (payment, exchanged) = alice.pay_with_change(&*w.bank, &req, &mut OsRng).unwrap();
    let exchanged = exchanged.expect("change was made");
    assert_eq!((exchanged.value, exchanged.credited, exchanged.spent.len()), (64, 64, 1));
    assert_eq!(exchanged.values, full_split(64, &w.keyset().values_desc()).unwrap());
    assert_eq!(held(&w, &alice) + 5, total, "accounts + coins + the payment in flight");
    shop.accept(&payment, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 5);
    assert_eq!(held(&w, &alice) + w.balance(&shop.id()), total, "money conserved exactly");
    assert!(alice.store().exchanges().unwrap().is_empty());
    assert!(alice.store().plans().unwrap().is_empty());
    // Paying the same request again hands out the same payment: no second
    // exchange, nothing new spent.
    let (again, none) = alice.pay_with_change(&*w.bank, &req, &mut OsRng).unwrap();
    assert_eq!((again.digest(), none), (payment.digest(), None));
    // The exchanged coin is spent once: the bank has no evidence.
    assert_eq!(w.bank.status().unwrap().evidence, 0);
}

#[test]
fn an_exchange_into_named_denominations_keeps_the_value_and_spends_the_fewest_coins() {
    let w = World::new();
    let alice = w.user(300);
    alice.withdraw(&*w.bank, 32 + 2 + 1, &mut OsRng).unwrap();
    let total = held(&w, &alice);
    // Denominations that do not sum to the amount are refused at once.
    assert!(alice.exchange(&*w.bank, 16, Some(&[8, 4]), &mut OsRng).is_err());
    assert_eq!(held(&w, &alice), total);
    // 16 as 8,4,4: the 32 is spent (the fewest coins that cover 16) and
    // the 16 beyond the amount comes back as its full split.
    let ex = alice.exchange(&*w.bank, 16, Some(&[8, 4, 4]), &mut OsRng).unwrap();
    assert_eq!((ex.value, ex.spent.len()), (32, 1));
    let mut expected = vec![8, 4, 4];
    expected.extend(full_split(16, &w.keyset().values_desc()).unwrap());
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ex.values, expected);
    let mut now = expected.clone();
    now.extend([2, 1]);
    now.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(unspent_values(&alice), now);
    assert_eq!(held(&w, &alice), total, "an exchange keeps the value");
    // A denomination plan for a withdrawal.
    alice.withdraw_values(&*w.bank, &[4, 4, 4], &mut OsRng, |_| {}).unwrap();
    assert_eq!(unspent_values(&alice).iter().filter(|v| **v == 4).count(), 3 + 3);
    assert!(matches!(
        alice.withdraw_values(&*w.bank, &[3], &mut OsRng, |_| {}),
        Err(Error::NoSuchDenomination(3))
    ));
    assert_eq!(held(&w, &alice), total);
}

#[test]
fn coins_near_expiry_are_renewed_and_expired_coins_are_not_spendable() {
    let w = World::new();
    let alice = w.user(300);
    alice.withdraw(&*w.bank, 5, &mut OsRng).unwrap();
    let total = held(&w, &alice);
    let window = w.keyset().policy().max_deposit_delay_days;
    let fresh = alice.balance_report(window).unwrap();
    assert_eq!((fresh.spendable, fresh.expiring, fresh.expired), (5, 0, 0));
    // Coins valid 30 days: 25 days on, they expire within the deposit window.
    w.clock.advance_days(25);
    let near = alice.balance_report(window).unwrap();
    assert_eq!((near.spendable, near.expiring, near.expired), (5, 5, 0));
    let renewed = alice.refresh(&*w.bank, window, &mut OsRng).unwrap();
    assert_eq!(renewed.iter().map(|e| e.value).sum::<u64>(), 5);
    let after = alice.balance_report(window).unwrap();
    assert_eq!((after.spendable, after.expiring, after.expired), (5, 0, 0));
    assert_eq!(after.next_expiry, Some(w.clock.today().plus(30)));
    assert_eq!(held(&w, &alice), total, "a renewal keeps the value");
    // Nothing is due any more: a second refresh spends nothing.
    assert!(alice.refresh(&*w.bank, window, &mut OsRng).unwrap().is_empty());
    // Past the new coins' expiry they are expired, not spendable.
    w.clock.advance_days(31);
    let past = alice.balance_report(window).unwrap();
    assert_eq!((past.spendable, past.expiring, past.expired), (0, 0, 5));
}

/// The wallet stores keep an exchange by its id, replace its step, and
/// drop it; withdrawal plans keep their values (SQLite across a reopen).
#[test]
fn the_wallet_stores_keep_exchanges_and_plan_values() {
    use faircash::protocol::account::{AccountOperation, ReservationId};
    use faircash::protocol::pay::PaymentRequest;
    use faircash::store::memory::MemoryWalletStore;
    use faircash::store::sqlite::SqliteWalletStore;
    use faircash::store::{ExchangeRecord, ExchangeStep, WithdrawalPlan};

    let w = World::new();
    let alice = w.user(0);
    let request = PaymentRequest::new(
        alice.account_id(),
        *alice.keys().auth().public(),
        5,
        w.clock.today(),
        [0; 32],
        &mut OsRng,
    );
    let reservation = ReservationId::random(&mut OsRng);
    let plan = WithdrawalPlan {
        request: alice
            .account_request(AccountOperation::ReserveWithdrawal { reservation, amount: 5 }, &mut OsRng),
        values: vec![4, 1],
    };
    let check = |s: &dyn WalletStore| {
        let mut record = ExchangeRecord { request, values: vec![4, 1], step: ExchangeStep::Spending };
        s.put_exchange(&record).unwrap();
        record.step = ExchangeStep::Withdrawing(Box::new(plan.clone()));
        s.put_exchange(&record).unwrap();
        let stored = s.exchanges().unwrap();
        assert_eq!(stored.len(), 1, "replaced, not added");
        assert_eq!(stored[0].id(), request.id());
        assert!(matches!(&stored[0].step, ExchangeStep::Withdrawing(p) if p.values == vec![4, 1]));
        s.put_plan(&plan).unwrap();
        assert_eq!(s.plans().unwrap()[0].values, vec![4, 1]);
    };
    check(&MemoryWalletStore::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.db");
    check(&SqliteWalletStore::open(&path).unwrap());
    let reopened = SqliteWalletStore::open(&path).unwrap();
    assert_eq!(reopened.exchanges().unwrap().len(), 1);
    assert_eq!(reopened.plans().unwrap()[0].values, vec![4, 1]);
    reopened.drop_exchange(&request.id()).unwrap();
    assert!(reopened.exchanges().unwrap().is_empty());
}

/// An exchange in progress keeps the authentication key: its payment names
/// `A` as the payee key and its deposit is signed with it.
#[test]
fn the_authentication_key_is_not_replaced_while_an_exchange_is_in_progress() {
    use faircash::keys::AuthKey;
    use faircash::protocol::pay::{order_digest, PaymentRequest};
    use faircash::store::{ExchangeRecord, ExchangeStep};

    let w = World::new();
    let mut alice = w.user(100);
    let auth = *alice.keys().auth().public();
    let request = PaymentRequest::new(
        alice.account_id(),
        auth,
        4,
        w.clock.today(),
        order_digest(b"faircash exchange"),
        &mut OsRng,
    );
    // An exchange interrupted before its coins were marked.
    alice
        .store()
        .put_exchange(&ExchangeRecord { request, values: vec![4], step: ExchangeStep::Spending })
        .unwrap();
    let new = AuthKey::generate(&mut OsRng);
    let rotation = alice.auth_rotation(&new, &mut OsRng);
    assert!(matches!(alice.rotate_auth_key(&*w.bank, new.clone(), &rotation), Err(Error::ExchangePending)));
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().auth_key, Some(auth), "nothing was sent");
    // Resumed (given up: nothing was spent), the rotation goes through.
    assert_eq!(alice.resume(&*w.bank, &mut OsRng).unwrap().exchanges, 1);
    alice.rotate_auth_key(&*w.bank, new.clone(), &rotation).unwrap();
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().auth_key, Some(*new.public()));
}

#[test]
fn change_made_ahead_of_time_lets_a_withdrawal_of_64_pay_every_amount_off_line() {
    use faircash::protocol::pay::select_coins;
    use faircash::roles::wallet::{exact_reach, DEFAULT_CHANGE_BOUND};
    let w = World::new();
    let alice = w.user(300);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 64, &mut OsRng).unwrap();
    let total = held(&w, &alice);
    assert_eq!(unspent_values(&alice), [64]);
    // The rule reads the holdings: one coin of 64 pays nothing below it.
    let coin = alice.change_ahead_coin(DEFAULT_CHANGE_BOUND).unwrap().expect("a coin to exchange");
    assert_eq!(coin.value, 64);

    let made = alice.make_change_ahead(&*w.bank, DEFAULT_CHANGE_BOUND, &mut OsRng).unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].value, made[0].credited), (64, 64));
    assert_eq!(unspent_values(&alice), full_split(64, &w.keyset().values_desc()).unwrap());
    assert_eq!(held(&w, &alice), total, "money conserved");
    assert!(alice.change_ahead_coin(DEFAULT_CHANGE_BOUND).unwrap().is_none());
    // Nothing more to do: a second call makes no exchange.
    assert!(alice.make_change_ahead(&*w.bank, DEFAULT_CHANGE_BOUND, &mut OsRng).unwrap().is_empty());

    // Every amount 1..=64 can now be paid exactly from the coins held...
    let values: Vec<(usize, u64)> = unspent_values(&alice).into_iter().enumerate().collect();
    assert_eq!(exact_reach(&values.iter().map(|v| v.1).collect::<Vec<_>>()), 64);
    for amount in 1..=64 {
        assert!(select_coins(&values, amount).is_some(), "{amount}");
    }
    // ...and is, off-line (no bank handed to the wallet).
    let req = shop.request_payment(37, [7; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&p, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 37);
    assert_eq!(held(&w, &alice) + w.balance(&shop.id()), total, "money conserved exactly");

    // After paying 37 (32 + 4 + 1), 16 + 8 + 2 + 1 is left, which pays
    // 1..=3 and not 4: the next on-line command exchanges the 8, then (the
    // coins then reach 11, not 12) the 16.
    assert_eq!(unspent_values(&alice), [16, 8, 2, 1]);
    assert_eq!(alice.change_ahead_coin(DEFAULT_CHANGE_BOUND).unwrap().unwrap().value, 8);
    let made = alice.make_change_ahead(&*w.bank, DEFAULT_CHANGE_BOUND, &mut OsRng).unwrap();
    assert_eq!(made.iter().map(|e| e.value).collect::<Vec<_>>(), [8, 16]);
    assert_eq!(exact_reach(&unspent_values(&alice)), 27);
    assert_eq!(held(&w, &alice) + w.balance(&shop.id()), total, "money conserved exactly");
    // Coins of 32 and 1: the 32 is the smallest coin beyond the reach of 1.
    let bob = w.user(100);
    bob.withdraw(&*w.bank, 33, &mut OsRng).unwrap();
    assert_eq!(unspent_values(&bob), [32, 1]);
    assert_eq!(bob.change_ahead_coin(DEFAULT_CHANGE_BOUND).unwrap().unwrap().value, 32);
    // A bound the coins already reach asks for nothing.
    assert!(bob.change_ahead_coin(1).unwrap().is_none());
    let made = bob.make_change_ahead(&*w.bank, 4, &mut OsRng).unwrap();
    assert_eq!(made.len(), 1);
    assert!(exact_reach(&unspent_values(&bob)) >= 33);
    assert_eq!(w.balance(&bob.account_id()) + bob.balance().unwrap(), 100);
}
