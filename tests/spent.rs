//! The private spent check after a restore (specs/protocol.md §7.7): spent
//! lists fetched by denomination key, one signed unspent statement for the
//! coins no list holds, every recovered coin stored (spent ones never
//! spendable) and the unspent ones exchanged. Money is conserved: accounts
//! + coins held + payments not yet deposited.
mod common;

use std::sync::Arc;

use common::recording::Recording;
use common::*;
use faircash::coin::CoinId;
use faircash::crypto::derive::{RecoveryPhrase, WalletSeed};
use faircash::protocol::spent::{contradiction, SpentError, SpentList};
use faircash::protocol::Error;
use faircash::roles::wallet::{spent_list_keys, RestoreReport};
use faircash::roles::{BankApi, BankConfig, Wallet};
use faircash::store::memory::MemoryWalletStore;
use faircash::store::{WalletStore, RESTORED_SPENT};
use faircash::time::Clock;
use rand::rngs::OsRng;

/// A world whose bank publishes its spent lists at every request.
fn world() -> World {
    World::with_config(BankConfig { spent_list_interval_secs: 0, ..BankConfig::default() })
}

fn restore(w: &World, seed: &WalletSeed, bank: &dyn BankApi) -> (TestWallet, RestoreReport) {
    let (mut wallet, report) = Wallet::restore(
        seed,
        w.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
        bank,
        &mut OsRng,
        |_| {},
    )
    .unwrap();
    wallet.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    (wallet, report)
}

/// Alice pays `amount` to `shop`, which deposits it; returns the coins paid.
fn pay_and_deposit(w: &World, alice: &TestWallet, shop: &TestMerchant, amount: u64) -> Vec<CoinId> {
    let req = shop.request_payment(amount, [amount as u8; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, amount);
    payment.coins.iter().map(|c| c.id()).collect()
}

/// A wallet of a new phrase after withdrawals (16, 8, 4, 2, 1), two
/// payments (4 and 2, deposited) and an exchange of the 8: 25 held.
fn spent_some(w: &World, funds: u64) -> (WalletSeed, TestWallet, TestMerchant, Vec<CoinId>) {
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let alice = seeded_user(w, &seed, funds);
    alice.withdraw(&*w.bank, 31, &mut OsRng).unwrap();
    let shop = w.merchant();
    let mut paid = pay_and_deposit(w, &alice, &shop, 4);
    paid.extend(pay_and_deposit(w, &alice, &shop, 2));
    let exchanged = alice.exchange(&*w.bank, 8, None, &mut OsRng).unwrap();
    assert_eq!(exchanged.credited, 8);
    paid.extend(exchanged.spent);
    (seed, alice, shop, paid)
}

#[test]
fn a_restore_stores_the_spent_coins_spent_and_exchanges_the_unspent_ones() {
    let w = world();
    let (seed, alice, shop, paid) = spent_some(&w, 40);
    assert_eq!(alice.balance().unwrap(), 25);
    let total = 40;
    assert_eq!(w.balance(&alice.account_id()) + alice.balance().unwrap() + w.balance(&shop.id()), total);

    let bank = Recording::new(w.bank.clone());
    let (restored, report) = restore(&w, &seed, &bank);
    assert_eq!(report.recovered_value(), 31 + 8, "every coin ever withdrawn");
    let check = restored.check_spent(&bank, &report.recovered, &mut OsRng).unwrap();
    let mut spent = paid.clone();
    spent.sort();
    assert_eq!(check.spent, spent, "the coins paid and exchanged are on the lists");
    assert!(check.omissions.is_empty());
    assert_eq!(check.statements.len(), 1);
    assert!(check.statements[0].sequence >= check.sequence);
    // Stored: spent ones never spendable, the unspent ones held.
    assert_eq!(restored.balance().unwrap(), alice.balance().unwrap(), "the true unspent value");
    for c in restored.coins().unwrap() {
        assert_eq!(c.spent_in.is_some(), paid.contains(&c.coin.coin.id()));
    }
    assert_eq!(restored.release_unpaid().unwrap(), 0, "a restored spent coin is never released");
    assert_eq!(restored.balance().unwrap(), 25);

    let value = restored.exchange_restored(&bank, &mut OsRng).unwrap();
    assert_eq!(value, 25);
    assert_eq!(restored.balance().unwrap(), 25);
    assert_eq!(restored.exchange_restored(&bank, &mut OsRng).unwrap(), 0, "exchanged once");
    let fresh: Vec<CoinId> = restored
        .coins()
        .unwrap()
        .into_iter()
        .filter(|c| c.spent_in.is_none())
        .map(|c| c.coin.coin.id())
        .collect();
    assert!(fresh.iter().all(|id| !check.unspent.contains(id)), "every unspent coin exchanged");
    // Accounts + the restored coins + nothing in flight.
    assert_eq!(w.balance(&alice.account_id()) + restored.balance().unwrap() + w.balance(&shop.id()), total);
    assert_eq!(w.bank.status().unwrap().evidence, 0);
    // An honest bank's lists contradict none of its statements.
    let (_, contradictions) = restored.audit_statements(&*w.bank).unwrap();
    assert!(contradictions.is_empty(), "{contradictions:?}");

    // What the bank received: lists by key (page 0 of each, every key of
    // the keyset), one statement naming the candidates together, one
    // deposit of them; no request names a single coin.
    let keys = spent_list_keys(restored.keysets(), w.clock.today());
    let expected: Vec<String> = keys.iter().map(|(k, v)| format!("spent-list {k} {v} 0")).collect();
    assert_eq!(bank.lists_asked(), expected);
    let log = bank.log();
    assert!(log.contains(&format!("unspent-statement {}", check.unspent.len())), "{log:?}");
    assert!(check.unspent.len() > 1);
    assert!(log.iter().filter(|l| l.starts_with("deposit")).all(|l| *l != "deposit 1"), "{log:?}");

    // The lost wallet's copies are worthless now: a payment with one of
    // them is not credited.
    let before = w.balance(&shop.id());
    let req = shop.request_payment(16, [9; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();
    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.credited, 0);
    assert_eq!(w.balance(&shop.id()), before);
}

#[test]
fn two_wallets_ask_for_the_same_lists() {
    let w = world();
    let (seed_a, _alice, _, _) = spent_some(&w, 40);
    let seed_b = RecoveryPhrase::generate(&mut OsRng).seed();
    let bob = seeded_user(&w, &seed_b, 3);
    bob.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    let (a, b) = (Recording::new(w.bank.clone()), Recording::new(w.bank.clone()));
    let (ra, rep_a) = restore(&w, &seed_a, &a);
    let (rb, rep_b) = restore(&w, &seed_b, &b);
    let (ca, cb) = (
        ra.check_spent(&a, &rep_a.recovered, &mut OsRng).unwrap(),
        rb.check_spent(&b, &rep_b.recovered, &mut OsRng).unwrap(),
    );
    assert_ne!(rep_a.recovered.len(), rep_b.recovered.len());
    assert_eq!(a.lists_asked(), b.lists_asked(), "the requests depend on the bank only");
    assert_eq!((ca.pages, ca.keys), (cb.pages, cb.keys));
    assert!(!a.lists_asked().is_empty());
}

/// Alice's restored wallet against a bank that leaves `omitted` (a coin
/// she paid, deposited) out of its list and signs the page again.
fn omitting(w: &World, omitted: CoinId) -> Recording {
    let mut bank = Recording::new(w.bank.clone());
    let master = w.bank.secrets().master().clone();
    bank.list_tamper = Box::new(move |list| {
        if list.entries.iter().any(|e| e.coin_id == omitted) {
            list.entries.retain(|e| e.coin_id != omitted);
            list.sign(&master, &mut OsRng);
        }
    });
    bank
}

#[test]
fn a_coin_the_list_leaves_out_is_caught_by_the_statement_and_never_released() {
    let w = world();
    let (seed, alice, shop, paid) = spent_some(&w, 40);
    let omitted = paid[0];
    let bank = omitting(&w, omitted);
    let (restored, report) = restore(&w, &seed, &bank);
    let check = restored.check_spent(&bank, &report.recovered, &mut OsRng).unwrap();
    assert_eq!(check.omissions.len(), 1);
    let (omission, i) = &check.omissions[0];
    assert_eq!(omission.coin_id, omitted);
    // The proof: the signed page where it belongs lacks it, the signed
    // statement names it spent, published no later than the page.
    let statement = &check.statements[*i];
    let master = w.bank.master_key();
    omission.page.verify(&master).unwrap();
    statement.verify(&master).unwrap();
    assert!(omission.page.holds(&omitted).is_none());
    let entry = statement.spent.iter().find(|e| e.coin_id == omitted).unwrap();
    assert!(entry.published >= 1 && entry.published <= omission.page.sequence);
    // Stored spent, never released, never deposited.
    let stored = restored.coins().unwrap().into_iter().find(|c| c.coin.coin.id() == omitted).unwrap();
    assert_eq!(stored.spent_in, Some(RESTORED_SPENT));
    restored.exchange_restored(&bank, &mut OsRng).unwrap();
    assert!(!bank.deposited.lock().unwrap().contains(&omitted));
    assert_eq!(restored.balance().unwrap(), alice.balance().unwrap());
    assert_eq!(w.bank.status().unwrap().evidence, 0, "no double spend");
    assert_eq!(w.balance(&alice.account_id()) + restored.balance().unwrap() + w.balance(&shop.id()), 40);
}

#[test]
fn a_bank_that_also_states_the_omitted_coin_unspent_is_proven_to_lie() {
    let w = world();
    let (seed, _alice, _shop, paid) = spent_some(&w, 40);
    let omitted = paid[0];
    let mut bank = omitting(&w, omitted);
    let master = w.bank.secrets().master().clone();
    bank.statement_tamper = Box::new(move |st| {
        if st.spent.iter().any(|e| e.coin_id == omitted) {
            st.spent.retain(|e| e.coin_id != omitted);
            st.unspent.push(omitted);
            st.unspent.sort();
            st.sign(&master, &mut OsRng);
        }
    });
    let (restored, report) = restore(&w, &seed, &bank);
    let check = restored.check_spent(&bank, &report.recovered, &mut OsRng).unwrap();
    assert!(check.omissions.is_empty(), "the lie is consistent so far");
    let statement = check.statements[0].clone();
    assert!(statement.unspent.contains(&omitted));
    // A later list (the bank's honest one, or any signed page of it) shows
    // the coin published at or before the statement's sequence: signed
    // proof that the statement lied.
    let coin = report.recovered.iter().find(|c| c.coin.id() == omitted).unwrap();
    let later = BankApi::spent_list(&*w.bank, &coin.coin.body.keyset_id, coin.value, 0).unwrap();
    assert_eq!(contradiction(&statement, &later, &w.bank.master_key()).unwrap(), vec![omitted]);
    // Not from a page that does not list it, nor from a forged page.
    let mut forged = later.clone();
    forged.value += 1;
    assert_eq!(
        contradiction(&statement, &forged, &w.bank.master_key()),
        Err(SpentError::Signature("spent list"))
    );
    // A page of coins the statement does not state unspent proves nothing.
    let spent = report.recovered.iter().find(|c| c.coin.id() == paid[1]).unwrap();
    let page = BankApi::spent_list(&*w.bank, &spent.coin.body.keyset_id, spent.value, 0).unwrap();
    assert!(page.holds(&paid[1]).is_some());
    assert_eq!(contradiction(&statement, &page, &w.bank.master_key()).unwrap(), vec![]);

    // The wallet's own audit of its stored statements: consistent while the
    // bank keeps lying in its lists too, caught once any list shows it.
    let (_, none) = restored.audit_statements(&bank).unwrap();
    assert!(none.is_empty(), "{none:?}");
    let (lists, caught) = restored.audit_statements(&*w.bank).unwrap();
    assert_eq!(caught.len(), 1, "{caught:?}");
    assert_eq!(caught[0].coins, vec![omitted]);
    assert_eq!(caught[0].statement, statement);
    assert!(lists.pages.iter().any(|p| *p == caught[0].page));
    assert_eq!(
        contradiction(&caught[0].statement, &caught[0].page, &w.bank.master_key()).unwrap(),
        vec![omitted]
    );
}

/// Restores Alice's wallet through `bank` and checks that the spent check
/// fails with a spent-check error and stores nothing.
fn refused(w: &World, seed: &WalletSeed, bank: &Recording) -> SpentError {
    let (restored, report) = restore(w, seed, bank);
    let err = restored.check_spent(bank, &report.recovered, &mut OsRng).unwrap_err();
    assert!(restored.coins().unwrap().is_empty(), "nothing stored");
    assert!(restored.store().spent_statements().unwrap().is_empty());
    assert!(bank.deposited.lock().unwrap().is_empty());
    match err {
        Error::Spent(e) => e,
        other => panic!("not a spent-check error: {other:?}"),
    }
}

#[test]
fn tampered_lists_and_statements_are_typed_errors_and_store_nothing() {
    let w = world();
    let (seed, _alice, shop, paid) = spent_some(&w, 40);
    // Two coins of value 1 spent, so that one list has two entries.
    let bob = w.user(2);
    bob.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    bob.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    assert_eq!(pay_and_deposit(&w, &bob, &shop, 2).len(), 2);
    let master = w.bank.secrets().master().clone();
    let listed = |l: &SpentList| l.entries.len() >= 2;

    // A page changed after it was signed.
    let mut bank = Recording::new(w.bank.clone());
    bank.list_tamper = Box::new(|l| {
        if let Some(e) = l.entries.first_mut() {
            e.coin_id = CoinId([0; 32]);
        }
    });
    assert_eq!(refused(&w, &seed, &bank), SpentError::Signature("spent list"));

    // Entries out of order, or twice, signed by the bank.
    for what in ["unsorted", "duplicate"] {
        let mut bank = Recording::new(w.bank.clone());
        let m = master.clone();
        bank.list_tamper = Box::new(move |l| {
            if listed(l) {
                match what {
                    "unsorted" => l.entries.reverse(),
                    _ => l.entries[1].coin_id = l.entries[0].coin_id,
                }
                l.sign(&m, &mut OsRng);
            }
        });
        assert!(matches!(refused(&w, &seed, &bank), SpentError::Page { .. }), "{what}");
    }

    // The lists of different keys from different publications, every time.
    let mut bank = Recording::new(w.bank.clone());
    let m = master.clone();
    bank.list_tamper = Box::new(move |l| {
        if listed(l) {
            l.sequence += 1;
            l.sign(&m, &mut OsRng);
        }
    });
    let e = refused(&w, &seed, &bank);
    assert!(matches!(e, SpentError::Page { .. } | SpentError::Unsettled(_)), "{e:?}");

    // A statement for other coins, or older than the lists.
    let mut bank = Recording::new(w.bank.clone());
    let m = master.clone();
    bank.statement_tamper = Box::new(move |st| {
        st.unspent.pop();
        st.sign(&m, &mut OsRng);
    });
    assert_eq!(refused(&w, &seed, &bank), SpentError::NotTheQuery("not exactly the coins named"));
    let mut bank = Recording::new(w.bank.clone());
    let m = master.clone();
    bank.statement_tamper = Box::new(move |st| {
        st.sequence = 0;
        st.sign(&m, &mut OsRng);
    });
    assert!(matches!(refused(&w, &seed, &bank), SpentError::Older { .. }));
    // A statement signed by another key.
    let mut bank = Recording::new(w.bank.clone());
    let other = faircash::crypto::schnorr::SigningKey::generate(&mut OsRng);
    bank.statement_tamper = Box::new(move |st| st.sign(&other, &mut OsRng));
    assert_eq!(refused(&w, &seed, &bank), SpentError::Signature("unspent statement"));
    let _ = paid;
}
