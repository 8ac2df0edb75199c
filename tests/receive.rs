//! Receiving user to user: a wallet asks for a payment, verifies it
//! off-line exactly as a merchant does, holds it and deposits it later to
//! its own account; every merchant-side rule holds for it.
mod common;

use common::*;
use faircash::protocol::deposit::DepositOutcome;
use faircash::protocol::pay::{create_payment, Payment};
use faircash::protocol::Error;
use faircash::store::PaymentState;
use rand::rngs::OsRng;

/// Money in the world: every account, every unspent coin held, every
/// payment received and not yet deposited.
fn total(w: &World, wallets: &[&TestWallet], shops: &[&TestMerchant]) -> u64 {
    let mut sum = 0;
    for wallet in wallets {
        sum += w.balance(&wallet.account_id()) + wallet.balance().unwrap();
        sum += held(wallet);
    }
    for shop in shops {
        sum += w.balance(&shop.id());
        sum += shop
            .payments()
            .unwrap()
            .iter()
            .filter(|a| a.state == PaymentState::Pending)
            .map(|a| a.payment.request.amount)
            .sum::<u64>();
    }
    sum
}

/// Payments a wallet received and has not deposited.
fn held(wallet: &TestWallet) -> u64 {
    wallet
        .received()
        .unwrap()
        .iter()
        .filter(|a| a.state == PaymentState::Pending)
        .map(|a| a.payment.request.amount)
        .sum()
}

#[test]
fn a_user_to_user_payment_received_offline_is_deposited_later_and_a_second_spend_names_the_payer() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(0);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 13, &mut OsRng).unwrap();
    let funds = total(&w, &[&alice, &bob], &[&shop]);
    assert_eq!(funds, 100);

    // Bob asks for 5: the request names his account and his authentication
    // key A as the payee key (never his identity I).
    let req = bob.request_payment(5, [3; 32], &mut OsRng).unwrap();
    assert_eq!(req.merchant_id, bob.account_id());
    assert_eq!(req.merchant_key, *bob.keys().auth().public());
    assert_ne!(req.merchant_key, *bob.user().identity());

    // Alice pays and bob verifies off-line: no bank contact on either side.
    let p = alice.pay(&req, &mut OsRng).unwrap();
    let summary = bob.receive(&p, &mut OsRng).unwrap();
    assert_eq!(summary.values.iter().sum::<u64>(), 5);
    assert_eq!(held(&bob), 5);
    assert!(summary.coin_ids.iter().all(|c| bob.has_received(c).unwrap()));
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]), funds);

    // Later, online: bob deposits to his own account.
    let receipts = bob.deposit_received(&*w.bank, &mut OsRng).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].credited, 5);
    assert_eq!(w.balance(&bob.account_id()), 5);
    assert_eq!(held(&bob), 0);
    assert!(matches!(bob.received().unwrap()[0].state, PaymentState::Deposited { .. }));
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]), funds);
    // Nothing is left to deposit: a second call sends nothing.
    assert!(bob.deposit_received(&*w.bank, &mut OsRng).unwrap().is_empty());
    assert_eq!(w.balance(&bob.account_id()), 5);

    // Alice spends the same coins again, at a merchant (built by the
    // protocol function, bypassing her wallet's spent marks). The merchant
    // accepts off-line; the bank catches the double spend and names alice.
    let spent: Vec<_> =
        alice.coins().unwrap().into_iter().filter(|c| c.spent_in == Some(req.id())).map(|c| c.coin).collect();
    assert_eq!(spent.iter().map(|c| c.value).sum::<u64>(), 5);
    let req2 = shop.request_payment(5, [4; 32], &mut OsRng).unwrap();
    let refs: Vec<_> = spent.iter().collect();
    let p2 = create_payment(&req2, &w.keyset(), alice.user(), &refs, &mut OsRng).unwrap();
    shop.accept(&p2, &mut OsRng).unwrap();
    let r = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(r.credited, 0);
    for o in &r.outcomes {
        assert_eq!(o.outcome, DepositOutcome::DoubleSpent { account: Some(alice.account_id()) });
    }
    assert!(w.bank.account(&alice.account_id()).unwrap().frozen);
    assert!(!w.bank.account(&bob.account_id()).unwrap().frozen);
    // The first spend stays credited to bob; the second credits nobody.
    assert_eq!(w.balance(&bob.account_id()), 5);
    assert_eq!(w.balance(&shop.id()), 0);
}

#[test]
fn the_payee_deposit_works_over_http() {
    let w = World::new();
    let server = faircash::http::server::spawn(w.bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = faircash::http::client::HttpBank::new(&[&server.url()]).unwrap();
    let alice = w.user(50);
    let bob = w.user(0);
    alice.withdraw(&api, 7, &mut OsRng).unwrap();
    let req = bob.request_payment(3, [0; 32], &mut OsRng).unwrap();
    bob.receive(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    assert_eq!(total(&w, &[&alice, &bob], &[]), 50);
    let receipts = bob.deposit_received(&api, &mut OsRng).unwrap();
    assert_eq!(receipts.iter().map(|r| r.credited).sum::<u64>(), 3);
    assert_eq!(w.balance(&bob.account_id()), 3);
    assert_eq!(total(&w, &[&alice, &bob], &[]), 50);
}

/// What a wallet's payee state shows: payments, their states, coins seen.
fn snapshot(wallet: &TestWallet, p: &Payment) -> String {
    let seen: Vec<bool> = p.coins.iter().map(|c| wallet.has_received(&c.id()).unwrap()).collect();
    format!(
        "{:?} {seen:?}",
        wallet.received().unwrap().iter().map(|a| (a.digest, a.state)).collect::<Vec<_>>()
    )
}

#[test]
fn tampered_misaddressed_and_replayed_payments_are_refused_and_change_nothing() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(0);
    let carol = w.user(0);
    alice.withdraw(&*w.bank, 31, &mut OsRng).unwrap();

    // Tampered: two coins' spend responses swapped.
    let req = bob.request_payment(5, [0; 32], &mut OsRng).unwrap();
    let good = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(good.coins.len(), 2);
    let mut bad = good.clone();
    bad.responses.swap(0, 1);
    let before = snapshot(&bob, &good);
    assert!(matches!(bob.receive(&bad, &mut OsRng), Err(Error::Payment(_))));
    assert_eq!(snapshot(&bob, &good), before);
    // The request stays open: the genuine payment is still received.
    bob.receive(&good, &mut OsRng).unwrap();

    // Replayed: the same payment again answers no open request.
    let before = snapshot(&bob, &good);
    assert!(matches!(bob.receive(&good, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert_eq!(snapshot(&bob, &good), before);

    // Addressed to someone else: carol's payment shown to bob.
    let for_carol = carol.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let p = alice.pay(&for_carol, &mut OsRng).unwrap();
    let before = snapshot(&bob, &p);
    assert!(matches!(bob.receive(&p, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert_eq!(snapshot(&bob, &p), before);
    carol.receive(&p, &mut OsRng).unwrap();

    // The same coins under a new request of bob's: seen before.
    let req3 = bob.request_payment(5, [1; 32], &mut OsRng).unwrap();
    let coins: Vec<_> =
        alice.coins().unwrap().into_iter().filter(|c| c.spent_in == Some(req.id())).map(|c| c.coin).collect();
    let refs: Vec<_> = coins.iter().collect();
    let again = create_payment(&req3, &w.keyset(), alice.user(), &refs, &mut OsRng).unwrap();
    let before = snapshot(&bob, &again);
    assert!(matches!(bob.receive(&again, &mut OsRng), Err(Error::CoinAlreadySeen(_))));
    assert_eq!(snapshot(&bob, &again), before);

    assert_eq!(total(&w, &[&alice, &bob, &carol], &[]), 100);
    assert_eq!(held(&bob), 5);
    assert_eq!(held(&carol), 2);
}

#[test]
fn the_authentication_key_rotates_only_when_received_payments_are_deposited() {
    use faircash::keys::AuthKey;
    let w = World::new();
    let alice = w.user(100);
    let mut bob = w.user(0);
    alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    let req = bob.request_payment(4, [0; 32], &mut OsRng).unwrap();
    bob.receive(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    let unpaid = bob.request_payment(2, [1; 32], &mut OsRng).unwrap();

    // A received payment names the current key A: no rotation before it
    // is deposited, and nothing is sent.
    let new = AuthKey::generate(&mut OsRng);
    let rotation = bob.auth_rotation(&new, &mut OsRng);
    let old = *bob.keys().auth().public();
    assert!(matches!(
        bob.rotate_auth_key(&*w.bank, new.clone(), &rotation),
        Err(Error::ReceivedNotDeposited(1))
    ));
    assert_eq!(w.bank.account(&bob.account_id()).unwrap().auth_key, Some(old));
    assert_eq!(bob.deposit_received(&*w.bank, &mut OsRng).unwrap()[0].credited, 4);
    bob.rotate_auth_key(&*w.bank, new, &rotation).unwrap();
    assert_ne!(*bob.keys().auth().public(), old);

    // A request asked for under the old key is refused when paid, with
    // nothing kept (the bank would refuse its deposit for good).
    let p = alice.pay(&unpaid, &mut OsRng).unwrap();
    assert!(matches!(bob.receive(&p, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert!(bob.received().unwrap().iter().all(|a| a.payment.request != unpaid));
    // A new request names the new key and is deposited under it.
    let req = bob.request_payment(1, [2; 32], &mut OsRng).unwrap();
    assert_eq!(req.merchant_key, *bob.keys().auth().public());
    bob.receive(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    assert_eq!(bob.deposit_received(&*w.bank, &mut OsRng).unwrap()[0].credited, 1);
    assert_eq!(w.balance(&bob.account_id()), 5);
}

#[test]
fn a_payee_signs_its_refusal_of_exactly_one_payment_and_never_accepts_it_after() {
    use faircash::protocol::refusal::PayeeRefusal;
    use faircash::wire::WireMessage;
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(0);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 31, &mut OsRng).unwrap();

    // Bob (a wallet, payee key A) and the shop (merchant key) both refuse.
    let req = bob.request_payment(5, [0; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    let refusal = bob.payee().refuse(&p, &mut OsRng).unwrap();
    refusal.verify(&p).unwrap();
    let shop_req = shop.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let q = alice.pay(&shop_req, &mut OsRng).unwrap();
    let shop_refusal = shop.payee().refuse(&q, &mut OsRng).unwrap();
    shop_refusal.verify(&q).unwrap();

    // The coins stay spent in the payer's wallet and nobody holds the
    // payments: their value is the refusals' (reclaimed at the bank).
    assert_eq!(alice.balance().unwrap(), 31 - 5 - 2);
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]) + 5 + 2, 100);

    // A refused payment is never accepted after; asked again for the same
    // payment, the payee signs again; never for another payment of the
    // same request, one addressed to someone else, or one it accepted.
    let before = snapshot(&bob, &p);
    assert!(matches!(bob.receive(&p, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert_eq!(snapshot(&bob, &p), before);
    bob.payee().refuse(&p, &mut OsRng).unwrap().verify(&p).unwrap();
    let coins: Vec<_> =
        alice.coins().unwrap().into_iter().filter(|c| c.spent_in == Some(req.id())).map(|c| c.coin).collect();
    let other =
        create_payment(&req, &w.keyset(), alice.user(), &coins.iter().collect::<Vec<_>>(), &mut OsRng)
            .unwrap();
    assert_ne!(other.digest(), p.digest());
    assert!(matches!(bob.payee().refuse(&other, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert!(matches!(shop.payee().refuse(&p, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    let req2 = bob.request_payment(8, [0; 32], &mut OsRng).unwrap();
    let kept = alice.pay(&req2, &mut OsRng).unwrap();
    bob.receive(&kept, &mut OsRng).unwrap();
    assert!(matches!(bob.payee().refuse(&kept, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    assert_eq!(held(&bob), 8);
    assert_eq!(total(&w, &[&alice, &bob], &[&shop]) + 5 + 2, 100);

    // A refusal refuses exactly its payment, under the request's payee key.
    assert!(matches!(refusal.verify(&q), Err(Error::InvalidProof(_))));
    assert!(matches!(refusal.verify(&other), Err(Error::InvalidProof("refusal names another payment"))));
    assert!(matches!(shop_refusal.verify(&p), Err(Error::InvalidProof(_))));
    let mut forged = refusal;
    forged.signature = shop_refusal.signature;
    assert!(matches!(forged.verify(&p), Err(Error::InvalidProof("refusal signature"))));
    let mut moved = shop_refusal;
    moved.request_id = refusal.request_id;
    moved.payment_digest = refusal.payment_digest;
    assert!(matches!(moved.verify(&p), Err(Error::InvalidProof("refusal signature"))));

    // It travels as a wire message, binary and JSON.
    assert_eq!(PayeeRefusal::from_bytes(&refusal.to_bytes()).unwrap(), refusal);
    assert_eq!(PayeeRefusal::from_json(&refusal.to_json()).unwrap(), refusal);
    let bytes = refusal.to_bytes();
    assert_eq!(bytes.len(), 132, "wire.md §6.6");
    assert!(PayeeRefusal::from_bytes(&bytes[..bytes.len() - 1]).is_err());
}
