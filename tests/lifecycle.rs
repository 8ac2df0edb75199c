//! The whole life of many coins: three users, two merchants, several
//! denominations and amounts, withdrawals, payments, deposits, a duplicate
//! deposit and a double spend. After every phase, money is conserved:
//!
//! ```text
//! sum of all bank balances + value of coins withdrawn and not yet credited
//!   == total funded
//! ```
mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use faircash::coin::CoinId;
use faircash::crypto::schnorr::SigningKey;
use faircash::protocol::deposit::{DepositOutcome, DepositReceipt, DepositRequest};
use faircash::protocol::pay::{create_payment, Payment};
use faircash::store::BankStore;
use rand::rngs::OsRng;

/// What the test itself has seen happen.
#[derive(Default)]
struct Ledger {
    funded: u64,
    /// Coins the bank credited, from the receipts.
    credited: HashMap<CoinId, u64>,
}

impl Ledger {
    fn fund(&mut self, w: &World, wallet: &TestWallet, amount: u64) {
        w.bank.fund(&wallet.account_id(), amount).unwrap();
        self.funded += amount;
    }

    fn record(&mut self, receipt: &DepositReceipt) {
        let mut sum = 0;
        for o in &receipt.outcomes {
            if let DepositOutcome::Credited { value } = o.outcome {
                assert!(self.credited.insert(o.coin_id, value).is_none(), "coin credited twice");
                sum += value;
            }
        }
        assert_eq!(sum, receipt.credited);
    }
}

struct Shop {
    m: TestMerchant,
    key: SigningKey,
}

impl Shop {
    /// Deposits everything undeposited; returns the request (to replay it).
    fn deposit(&self, w: &World, ledger: &mut Ledger) -> (DepositRequest, DepositReceipt) {
        let req = self.m.deposit_request(&mut OsRng).unwrap().unwrap();
        let receipt = w.bank.deposit(&req, &mut OsRng).unwrap();
        self.m.record_receipt(&req, &receipt).unwrap();
        ledger.record(&receipt);
        (req, receipt)
    }
}

/// Conservation, and the other accounting invariants, after `phase`.
fn check(w: &World, users: &[&TestWallet], shops: &[&Shop], ledger: &Ledger, phase: &str) {
    let accounts = w.bank.accounts().unwrap();
    assert_eq!(accounts.len(), users.len() + shops.len(), "{phase}");
    let bank_total: u64 = accounts.iter().map(|a| a.balance).sum();

    let mut tx = w.bank.store().begin().unwrap();
    let mut seen = HashSet::new();
    let (mut unspent, mut spent_not_deposited, mut withdrawn) = (0u64, 0u64, 0u64);
    for user in users {
        for c in user.coins().unwrap() {
            let id = c.coin.coin.id();
            assert!(seen.insert(id), "{phase}: one coin in two wallets");
            withdrawn += c.coin.value;
            let recorded = tx.spent_coin(&id).unwrap();
            assert_eq!(
                recorded.as_ref().map(|r| r.value),
                ledger.credited.get(&id).copied(),
                "{phase}: the bank's spent record and the receipts disagree"
            );
            if recorded.is_some() {
                continue;
            }
            if c.spent_in.is_none() {
                unspent += c.coin.value;
            } else {
                spent_not_deposited += c.coin.value;
            }
        }
    }
    assert_eq!(
        ledger.credited.len() as u64,
        tx.spent_coin_count().unwrap(),
        "{phase}: a credited coin nobody withdrew"
    );
    // Everything withdrawn was debited: the answered sessions are the coins.
    let records = tx.withdrawal_records().unwrap();
    drop(tx);
    assert_eq!(records.len(), seen.len(), "{phase}");
    assert_eq!(records.iter().map(|r| r.value).sum::<u64>(), withdrawn, "{phase}");

    assert_eq!(
        bank_total + unspent + spent_not_deposited,
        ledger.funded,
        "{phase}: conservation (bank {bank_total}, unspent {unspent}, \
         spent not deposited {spent_not_deposited})"
    );
    // Merchants are credited exactly what the receipts say.
    let merchant_total: u64 = shops.iter().map(|s| w.balance(&s.m.id())).sum();
    assert_eq!(merchant_total, ledger.credited.values().sum::<u64>(), "{phase}");
}

fn assert_honest(w: &World, phase: &str) {
    assert!(w.bank.evidence_page(0, 1).unwrap().items.is_empty(), "{phase}: evidence");
    assert!(w.bank.accounts().unwrap().iter().all(|a| !a.frozen), "{phase}: frozen account");
}

fn pay(user: &TestWallet, shop: &Shop, amount: u64) -> Payment {
    let req = shop.m.request_payment(amount, [amount as u8; 32], &mut OsRng).unwrap();
    let p = user.pay(&req, &mut OsRng).unwrap();
    let summary = shop.m.accept(&p, &mut OsRng).unwrap();
    assert_eq!(summary.values.iter().sum::<u64>(), amount);
    p
}

#[test]
fn money_is_conserved_through_the_whole_lifecycle() {
    let w = World::new();
    let mut ledger = Ledger::default();
    let alice = w.user(0);
    let bob = w.user(0);
    let carol = w.user(0);
    ledger.fund(&w, &alice, 100);
    ledger.fund(&w, &bob, 150);
    ledger.fund(&w, &carol, 200);
    let shops: Vec<Shop> = (0..2)
        .map(|_| {
            let (m, key) = w.merchant_with_key();
            Shop { m, key }
        })
        .collect();
    let (shop1, shop2) = (&shops[0], &shops[1]);
    let users = [&alice, &bob, &carol];
    let all_shops = [shop1, shop2];
    check(&w, &users, &all_shops, &ledger, "setup");
    assert_honest(&w, "setup");

    // Withdrawals: 13 = 8+4+1, 37 = 32+4+1, 100 = 64+32+4.
    alice.withdraw(&*w.bank, 13, &mut OsRng).unwrap();
    bob.withdraw(&*w.bank, 37, &mut OsRng).unwrap();
    carol.withdraw(&*w.bank, 100, &mut OsRng).unwrap();
    assert_eq!(alice.balance().unwrap(), 13);
    assert_eq!(bob.balance().unwrap(), 37);
    assert_eq!(carol.balance().unwrap(), 100);
    assert_eq!(w.balance(&alice.account_id()), 87);
    assert_eq!(w.balance(&bob.account_id()), 113);
    assert_eq!(w.balance(&carol.account_id()), 100);
    check(&w, &users, &all_shops, &ledger, "withdraw");

    // Payments, accepted off-line.
    pay(&alice, shop1, 5);
    pay(&bob, shop2, 33);
    pay(&carol, shop1, 36);
    pay(&carol, shop2, 64);
    assert_eq!(alice.balance().unwrap(), 8);
    assert_eq!(bob.balance().unwrap(), 4);
    assert_eq!(carol.balance().unwrap(), 0);
    check(&w, &users, &all_shops, &ledger, "pay");

    // Deposits.
    let (dep1, r1) = shop1.deposit(&w, &mut ledger);
    assert_eq!(r1.credited, 41);
    check(&w, &users, &all_shops, &ledger, "deposit shop1");
    let (_, r2) = shop2.deposit(&w, &mut ledger);
    assert_eq!(r2.credited, 97);
    assert_eq!(w.balance(&shop1.m.id()), 41);
    assert_eq!(w.balance(&shop2.m.id()), 97);
    check(&w, &users, &all_shops, &ledger, "deposit shop2");
    assert_honest(&w, "first round");

    // A second round, with more funding: 50 = 32+16+2 and 3 = 2+1.
    ledger.fund(&w, &bob, 20);
    bob.withdraw(&*w.bank, 50, &mut OsRng).unwrap();
    alice.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    assert_eq!(w.balance(&bob.account_id()), 83);
    assert_eq!(w.balance(&alice.account_id()), 84);
    check(&w, &users, &all_shops, &ledger, "second withdraw");
    pay(&bob, shop1, 18);
    pay(&alice, shop2, 3);
    assert_eq!(bob.balance().unwrap(), 36);
    assert_eq!(alice.balance().unwrap(), 8);
    check(&w, &users, &all_shops, &ledger, "second pay");
    assert_eq!(shop1.deposit(&w, &mut ledger).1.credited, 18);
    assert_eq!(shop2.deposit(&w, &mut ledger).1.credited, 3);
    check(&w, &users, &all_shops, &ledger, "second deposit");
    assert_honest(&w, "second round");

    // Duplicate deposits: the first request replayed, and its payments
    // re-signed in a new request. No credit, nobody accused.
    // The replayed request gets its stored receipt back (nothing new).
    let again = w.bank.deposit(&dep1, &mut OsRng).unwrap();
    assert_eq!(again, r1);
    let resigned = DepositRequest::new(&shop1.key, shop1.m.id(), dep1.payments.clone(), &mut OsRng);
    let again2 = w.bank.deposit(&resigned, &mut OsRng).unwrap();
    let r = &again2;
    assert_eq!(r.credited, 0);
    assert_eq!(r.outcomes.len(), r1.outcomes.len());
    assert!(r.outcomes.iter().all(|o| o.outcome == DepositOutcome::Duplicate));
    ledger.record(r);
    assert_eq!(w.balance(&shop1.m.id()), 59);
    check(&w, &users, &all_shops, &ledger, "duplicate deposit");
    assert_honest(&w, "duplicate deposit");

    // A double spend: alice's remaining 8 at both shops, bypassing the wallet.
    let coin = alice.coins().unwrap().into_iter().find(|c| c.spent_in.is_none()).unwrap().coin;
    assert_eq!(coin.value, 8);
    let keyset = w.keyset();
    for shop in [shop1, shop2] {
        let req = shop.m.request_payment(8, [0xd5; 32], &mut OsRng).unwrap();
        let p = create_payment(&req, &keyset, alice.user(), &[&coin], &mut OsRng).unwrap();
        shop.m.accept(&p, &mut OsRng).unwrap();
    }
    check(&w, &users, &all_shops, &ledger, "double spend accepted");
    let (_, r) = shop1.deposit(&w, &mut ledger);
    assert_eq!(r.credited, 8);
    check(&w, &users, &all_shops, &ledger, "double spend, first deposit");
    assert_honest(&w, "double spend, first deposit");
    let (_, r) = shop2.deposit(&w, &mut ledger);
    assert_eq!(r.credited, 0);
    assert_eq!(r.outcomes[0].outcome, DepositOutcome::DoubleSpent { account: Some(alice.account_id()) });
    check(&w, &users, &all_shops, &ledger, "double spend, second deposit");

    // Final state.
    assert_eq!(w.balance(&shop1.m.id()), 67);
    assert_eq!(w.balance(&shop2.m.id()), 100);
    assert_eq!(w.balance(&alice.account_id()), 84);
    assert_eq!(w.balance(&bob.account_id()), 83);
    assert_eq!(w.balance(&carol.account_id()), 100);
    assert_eq!(bob.balance().unwrap(), 36);
    let evidence = w.bank.evidence_page(0, 8).unwrap().items;
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].record.account, Some(alice.account_id()));
    let frozen: Vec<_> = w.bank.accounts().unwrap().into_iter().filter(|a| a.frozen).map(|a| a.id).collect();
    assert_eq!(frozen, vec![alice.account_id()]);
    // Bob and carol carry on; alice cannot.
    assert!(matches!(
        alice.withdraw(&*w.bank, 1, &mut OsRng),
        Err(faircash::protocol::Error::AccountFrozen(id)) if id == alice.account_id()
    ));
    bob.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
    check(&w, &users, &all_shops, &ledger, "after freeze");
}
