//! Double spending: detection by `coin_id`, identification of the spender
//! from two spends, evidence anyone can check, duplicates and honest serial
//! collisions that accuse nobody, and the deposit window.
mod common;

use common::*;
use curve25519_dalek::scalar::Scalar;
use faircash::crypto::secret::SecretScalar;
use faircash::protocol::deposit::{
    DepositOutcome, DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome, PaymentRefusal,
};
use faircash::protocol::pay::{create_payment, verify_payment, Payment, PaymentRequest};
use faircash::protocol::withdraw::{WalletCoin, WithdrawStart};
use faircash::protocol::{Error, PaymentError};
use faircash::store::{BankStore, MerchantStore, PendingEntry, WalletStore};
use faircash::time::{Day, Timestamp, SECONDS_PER_DAY};
use faircash::wire::WireMessage;
use rand::rngs::OsRng;
use rand::RngCore;

/// A payment of `coin` to `shop` built by the protocol function directly,
/// bypassing the wallet's spent-marking (a cheating user), then accepted.
fn cheat_pay(w: &World, wallet: &TestWallet, shop: &TestMerchant, coin: &WalletCoin) -> Payment {
    let req = shop.request_payment(coin.value, [7; 32], &mut OsRng).unwrap();
    let p = spend(w, wallet, &req, coin);
    shop.accept(&p, &mut OsRng).unwrap();
    p
}

fn spend(w: &World, wallet: &TestWallet, req: &PaymentRequest, coin: &WalletCoin) -> Payment {
    create_payment(req, &w.keyset(), wallet.user(), &[coin], &mut OsRng).unwrap()
}

fn outcomes(r: &DepositReceipt) -> Vec<DepositOutcome> {
    r.outcomes.iter().map(|o| o.outcome).collect()
}

/// Every piece of evidence the bank holds.
fn evidence(w: &World) -> Vec<faircash::store::EvidenceRecord> {
    let page = w.bank.evidence_page(0, 256).unwrap();
    assert!(!page.more);
    page.items.into_iter().map(|e| e.record).collect()
}

fn frozen(w: &World, wallet: &TestWallet) -> bool {
    w.bank.account(&wallet.account_id()).unwrap().frozen
}

fn spent_record_exists(w: &World, coin: &WalletCoin) -> bool {
    let mut tx = w.bank.store().begin().unwrap();
    tx.spent_coin(&coin.coin.id()).unwrap().is_some()
}

#[test]
fn double_spend_at_two_merchants_identifies_and_freezes_the_spender() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let shop2 = w.merchant();
    let coin = w.withdraw_coin(&alice, 8);
    bob.withdraw(&*w.bank, 5, &mut OsRng).unwrap();

    // Both merchants accept off-line: each sees a valid, fresh coin.
    cheat_pay(&w, &alice, &shop1, &coin);
    cheat_pay(&w, &alice, &shop2, &coin);

    let r1 = shop1.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(outcomes(&r1), vec![DepositOutcome::Credited { value: 8 }]);
    assert!(!frozen(&w, &alice));
    let r2 = shop2.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(outcomes(&r2), vec![DepositOutcome::DoubleSpent { account: Some(alice.account_id()) }]);
    assert_eq!(r2.credited, 0);
    assert_eq!(r2.outcomes[0].coin_id, coin.coin.id());
    // Only one credit.
    assert_eq!(w.balance(&shop1.id()), 8);
    assert_eq!(w.balance(&shop2.id()), 0);

    // The evidence identifies alice, for anyone, also after a round trip.
    let records = evidence(&w);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].account, Some(alice.account_id()));
    let ev = &records[0].evidence;
    assert_eq!(ev.coin_id, coin.coin.id());
    let keyset = w.keyset();
    let who = ev.verify(&keyset, &mut OsRng).unwrap();
    assert_eq!(who.identity, *alice.user().identity());
    assert_eq!(who.account, alice.account_id());
    let decoded = DoubleSpendEvidence::from_bytes(&ev.to_bytes()).unwrap();
    assert_eq!(&decoded, ev);
    let who2 = decoded.verify(&keyset, &mut OsRng).unwrap();
    assert_eq!(who2.identity, *alice.user().identity());

    // Alice is frozen and cannot withdraw; her balance is untouched; bob is not.
    assert!(frozen(&w, &alice));
    assert!(!frozen(&w, &bob));
    assert_eq!(w.balance(&alice.account_id()), 92);
    assert!(matches!(
        alice.withdraw(&*w.bank, 4, &mut OsRng),
        Err(Error::AccountFrozen(id)) if id == alice.account_id()
    ));
    assert_eq!(w.balance(&alice.account_id()), 92);
    bob.withdraw(&*w.bank, 4, &mut OsRng).unwrap();

    // A third spend: another accusation, still no credit.
    let shop3 = w.merchant();
    cheat_pay(&w, &alice, &shop3, &coin);
    let r3 = shop3.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(r3.credited, 0);
    assert!(matches!(
        r3.outcomes[0].outcome,
        DepositOutcome::DoubleSpent { account: Some(a) } if a == alice.account_id()
    ));
    assert_eq!(w.balance(&shop3.id()), 0);
    // Evidence is stored once per coin: the third spend adds none.
    assert_eq!(evidence(&w), records);
}

#[test]
fn same_payment_deposited_twice_is_a_duplicate() {
    let w = World::new();
    let alice = w.user(100);
    let (shop, key) = w.merchant_with_key();
    alice.withdraw(&*w.bank, 13, &mut OsRng).unwrap();
    let req = shop.request_payment(13, [1; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();

    let deposit = shop.deposit_request(&mut OsRng).unwrap().unwrap();
    let r1 = w.bank.deposit(&deposit, &mut OsRng).unwrap();
    assert_eq!(r1.credited, 13);
    assert_eq!(r1.outcomes.len(), 3);
    shop.record_receipt(&deposit, &r1).unwrap();

    // The same request again (a lost receipt, retried or replayed): the
    // stored receipt, no new credit.
    assert_eq!(w.bank.deposit(&deposit, &mut OsRng).unwrap(), r1);
    // A new request signed over the same payment: duplicates.
    let resigned = DepositRequest::new(&key, shop.id(), vec![payment.clone()], &mut OsRng);
    let r = w.bank.deposit(&resigned, &mut OsRng).unwrap();
    assert_eq!(r.credited, 0);
    assert_eq!(r.outcomes.len(), 3);
    assert!(outcomes(&r).iter().all(|o| *o == DepositOutcome::Duplicate));
    // A used request id put on another request breaks its signature: the
    // bank says so, not that the id is used (tests/deposit.rs has the
    // merchant's own reuse).
    let fresh = DepositRequest::new(&key, shop.id(), vec![payment.clone(), payment.clone()], &mut OsRng);
    let reused = DepositRequest { request_id: deposit.request_id, ..fresh };
    assert!(matches!(w.bank.deposit(&reused, &mut OsRng), Err(Error::InvalidProof("deposit signature"))));
    assert_eq!(w.balance(&shop.id()), 13);
    assert!(evidence(&w).is_empty());
    assert!(!frozen(&w, &alice));
    alice.withdraw(&*w.bank, 1, &mut OsRng).unwrap();
}

#[test]
fn merchant_cannot_deposit_another_merchants_payment() {
    let w = World::new();
    let alice = w.user(100);
    let shop1 = w.merchant();
    let (shop2, key2) = w.merchant_with_key();
    alice.withdraw(&*w.bank, 8, &mut OsRng).unwrap();
    let req = shop1.request_payment(8, [2; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop1.accept(&payment, &mut OsRng).unwrap();
    // shop2 cannot even accept it off-line.
    assert!(matches!(shop2.accept(&payment, &mut OsRng), Err(Error::UnknownPaymentRequest)));
    // Signed by shop2 under shop2's account: the payment is refused.
    let stolen = DepositRequest::new(&key2, shop2.id(), vec![payment.clone()], &mut OsRng);
    let r = w.bank.deposit(&stolen, &mut OsRng).unwrap();
    assert_eq!(r.payments, vec![PaymentOutcome::Refused(PaymentRefusal::WrongMerchant)]);
    assert_eq!((r.credited, r.outcomes.len()), (0, 0));
    // Signed by shop2 but claiming shop1's account: the signature fails.
    let forged = DepositRequest::new(&key2, shop1.id(), vec![payment], &mut OsRng);
    assert!(matches!(w.bank.deposit(&forged, &mut OsRng), Err(Error::InvalidProof(_))));
    assert_eq!(w.balance(&shop2.id()), 0);
    assert_eq!(w.balance(&shop1.id()), 0);
    // The rightful merchant still deposits it.
    let r = shop1.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(r.credited, 8);
    assert_eq!(w.balance(&shop1.id()), 8);
    assert!(evidence(&w).is_empty());
}

#[test]
fn equal_serials_of_honest_users_accuse_nobody() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let shop2 = w.merchant();
    let keyset = w.keyset();
    let s = Scalar::random(&mut OsRng);
    // Two paid withdrawals per user, all four with one serial secret s.
    for wallet in [&alice, &bob, &alice, &bob] {
        let start = WithdrawStart::with_chosen_secrets(
            wallet.keys(),
            &keyset,
            8,
            w.bank.today(),
            None,
            SecretScalar::new(s),
            &mut OsRng,
        )
        .unwrap();
        wallet.store().put_pending(&PendingEntry::Started(Box::new(start.clone()))).unwrap();
        let cm = w.bank.open_withdrawal(start.request(), &mut OsRng).unwrap();
        let ch = wallet.receive_commitment(&cm, &mut OsRng).unwrap();
        let a = w.bank.answer_withdrawal(&ch).unwrap();
        wallet.finish_withdrawal(&a).unwrap();
    }
    let coins: Vec<WalletCoin> =
        [&alice, &bob].iter().flat_map(|wl| wl.coins().unwrap()).map(|c| c.coin).collect();
    assert_eq!(coins.len(), 4);
    let serial = coins[0].coin.body.serial;
    assert!(coins.iter().all(|c| c.coin.body.serial == serial));
    let mut ids: Vec<_> = coins.iter().map(|c| c.coin.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);

    // Each user pays 8 at each shop: every shop deposits two coins with one
    // serial in one request.
    for shop in [&shop1, &shop2] {
        for wallet in [&alice, &bob] {
            let req = shop.request_payment(8, [3; 32], &mut OsRng).unwrap();
            let p = wallet.pay(&req, &mut OsRng).unwrap();
            shop.accept(&p, &mut OsRng).unwrap();
        }
        let r = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
        assert_eq!(r.credited, 16);
        assert!(outcomes(&r).iter().all(|o| *o == DepositOutcome::Credited { value: 8 }));
    }
    assert_eq!(w.balance(&shop1.id()), 16);
    assert_eq!(w.balance(&shop2.id()), 16);
    assert!(evidence(&w).is_empty());
    assert!(!frozen(&w, &alice));
    assert!(!frozen(&w, &bob));
    assert!(coins.iter().all(|c| spent_record_exists(&w, c)));
}

fn set_day(w: &World, day: Day) {
    w.clock.set(Timestamp(u64::from(day.0) * SECONDS_PER_DAY));
}

#[test]
fn deposit_day_must_lie_in_the_window_of_the_receipt_day() {
    let w = World::new();
    let alice = w.user(100);
    let late = w.merchant();
    let on_time = w.merchant();
    let early = w.merchant();
    let start = w.bank.today();
    let delay = w.keyset().policy().max_deposit_delay_days;
    alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    for (shop, amount) in [(&late, 1), (&on_time, 2)] {
        let req = shop.request_payment(amount, [4; 32], &mut OsRng).unwrap();
        shop.accept(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    }

    // On the last day of the window: accepted.
    set_day(&w, start.plus(delay));
    let r = on_time.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(r.credited, 2);
    // One day later: too late. The refusal names the window's real end
    // (the payment day plus the delay), and the payment is kept apart.
    set_day(&w, start.plus(delay + 1));
    let r = late.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    let closed = PaymentRefusal::WindowClosed {
        day: start,
        deposit_until: start.plus(delay),
        receipt_day: start.plus(delay + 1),
    };
    assert_eq!(r.payments, vec![PaymentOutcome::Refused(closed)]);
    assert!(closed.to_string().contains(&format!("until day {}", start.plus(delay))), "{closed}");
    assert_eq!(w.balance(&late.id()), 0);
    assert!(late.store().undeposited().unwrap().is_empty());
    assert!(late.deposit(&*w.bank, &mut OsRng).unwrap().is_none(), "never deposited again");

    // A payment dated after the bank's receipt day: refused as from the
    // future, for now: the merchant keeps it pending.
    let today = w.bank.today();
    let req = early.request_payment(4, [5; 32], &mut OsRng).unwrap();
    early.accept(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    set_day(&w, today.minus(1));
    let receipts = early.deposit_all(&*w.bank, &mut OsRng).unwrap();
    assert_eq!(receipts.len(), 1, "a payment refused for now is not sent again in a loop");
    let r = &receipts[0];
    assert_eq!(
        r.payments,
        vec![PaymentOutcome::Refused(PaymentRefusal::DatedInFuture {
            day: today,
            receipt_day: today.minus(1)
        })]
    );
    assert_eq!(w.balance(&early.id()), 0);
    assert_eq!(early.store().undeposited().unwrap().len(), 1);
    // On its own day it is fine (D == R).
    set_day(&w, today);
    assert_eq!(early.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 4);
    assert_eq!(w.balance(&early.id()), 4);
    assert_eq!(w.balance(&on_time.id()), 2);
    assert_eq!(w.balance(&late.id()), 0);
}

#[test]
fn forged_evidence_does_not_verify() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let shop2 = w.merchant();
    let keyset = w.keyset();
    let coin1 = w.withdraw_coin(&alice, 8);
    let coin2 = w.withdraw_coin(&alice, 8);
    let req = |shop: &TestMerchant| shop.request_payment(8, [6; 32], &mut OsRng).unwrap();
    let p1 = spend(&w, &alice, &req(&shop1), &coin1);
    let p1b = spend(&w, &alice, &req(&shop2), &coin1);
    let p2 = spend(&w, &alice, &req(&shop2), &coin2);
    let ev = |coin: &WalletCoin, first: &Payment, fi: u32, second: &Payment, si: u32| DoubleSpendEvidence {
        coin_id: coin.coin.id(),
        first: first.clone(),
        first_index: fi,
        second: second.clone(),
        second_index: si,
    };

    // Control: two genuine spends of coin1 identify alice.
    let who = ev(&coin1, &p1, 0, &p1b, 0).verify(&keyset, &mut OsRng).unwrap();
    assert_eq!(who.identity, *alice.user().identity());

    let mut forgeries = vec![
        ("two different coins", ev(&coin1, &p1, 0, &p2, 0)),
        ("two different coins, second's id", ev(&coin2, &p1, 0, &p2, 0)),
        ("one spend twice", ev(&coin1, &p1, 0, &p1, 0)),
        ("index out of range", ev(&coin1, &p1, 1, &p1b, 0)),
        ("wrong coin id", ev(&coin2, &p1, 0, &p1b, 0)),
    ];
    // Responses of the one honest spend replayed under another request.
    let mut replayed = p1.clone();
    replayed.request = req(&shop2);
    forgeries.push(("replayed responses", ev(&coin1, &p1, 0, &replayed, 0)));
    // A tampered response in the second transcript.
    let mut tampered = p1b.clone();
    tampered.responses[0].u += Scalar::ONE;
    forgeries.push(("tampered z_u", ev(&coin1, &p1, 0, &tampered, 0)));
    // The honest prover refuses to spend alice's coin with bob's key (the
    // forged proofs that skip this check are in
    // `a_spend_proof_made_with_another_users_key_is_refused`).
    assert!(matches!(
        create_payment(&req(&shop2), &keyset, bob.user(), &[&coin1], &mut OsRng),
        Err(Error::InvalidProof("spend witness"))
    ));

    // Each forgery is refused for its own reason, also after a round trip.
    let expected = |what: &str| -> fn(&Error) -> bool {
        match what {
            "two different coins" | "two different coins, second's id" | "wrong coin id" => {
                |e| matches!(e, Error::BadEvidence("not the same coin"))
            }
            "one spend twice" => |e| matches!(e, Error::BadEvidence("same challenge")),
            "index out of range" => |e| matches!(e, Error::BadEvidence("index")),
            // The range proof is bound to the request, so responses moved to
            // another request fail there first.
            "replayed responses" => {
                |e| matches!(e, Error::PaymentRefused { index: 1, reason: PaymentError::RangeProof })
            }
            "tampered z_u" => {
                |e| matches!(e, Error::PaymentRefused { index: 1, reason: PaymentError::Proofs })
            }
            other => panic!("no expected error for {other}"),
        }
    };
    for (what, e) in &forgeries {
        let refused = expected(what);
        let err = e.verify(&keyset, &mut OsRng).expect_err(what);
        assert!(refused(&err), "{what}: refused for the wrong reason: {err:?}");
        if let Ok(d) = DoubleSpendEvidence::from_bytes(&e.to_bytes()) {
            let err = d.verify(&keyset, &mut OsRng).expect_err(what);
            assert!(refused(&err), "{what} (decoded): refused for the wrong reason: {err:?}");
        }
    }
}

/// The nonce of `u` fixed in a coin at withdrawal (its secrets' JSON form:
/// the nonces in relation order, `lambda, r, rnd, u, …`).
fn nonce_of_u(coin: &WalletCoin) -> Scalar {
    let secrets = serde_json::to_value(&coin.secrets).unwrap();
    let mut b = [0u8; 32];
    hex::decode_to_slice(secrets["nonces"][3].as_str().unwrap(), &mut b).unwrap();
    Scalar::from_canonical_bytes(b).unwrap()
}

/// `p` (a one-coin payment of `coin`) with the spend responses recomputed
/// for the user key `u`, skipping every check of the prover: every other
/// response, the range proof and the challenge do not depend on `u`, so
/// only `z_u = n_u + c·u` changes. This is what a thief holding every
/// secret of the coin but the owner's key can produce.
fn respend_with_key(w: &World, p: &Payment, coin: &WalletCoin, u: &Scalar) -> Payment {
    let c = verify_payment(p, &w.keyset(), &mut OsRng).unwrap().challenges[0];
    let mut forged = p.clone();
    forged.responses[0].u = nonce_of_u(coin) + c * u;
    forged
}

#[test]
fn a_spend_proof_made_with_another_users_key_is_refused() {
    // The forger's deposit would throttle the shop; its honest deposit
    // below is what this test is about.
    let w = World::without_throttling();
    let alice = w.user(100);
    let bob = w.user(100);
    let (shop, key) = w.merchant_with_key();
    let coin = w.withdraw_coin(&alice, 8);
    let req = shop.request_payment(8, [4; 32], &mut OsRng).unwrap();
    let honest = spend(&w, &alice, &req, &coin);
    // Control: recomputing with alice's own key gives her payment back.
    assert_eq!(respend_with_key(&w, &honest, &coin, alice.user().expose_secret()), honest);
    let forged = respend_with_key(&w, &honest, &coin, bob.user().expose_secret());
    assert_ne!(forged, honest);
    assert_eq!(verify_payment(&forged, &w.keyset(), &mut OsRng), Err(PaymentError::Proofs));
    assert!(matches!(shop.accept(&forged, &mut OsRng), Err(Error::Payment(PaymentError::Proofs))));
    let deposit = DepositRequest::new(&key, shop.id(), vec![forged], &mut OsRng);
    let receipt = w.bank.deposit(&deposit, &mut OsRng).unwrap();
    assert_eq!(receipt.payments, [PaymentOutcome::Refused(PaymentRefusal::Proofs)]);
    assert_eq!((receipt.credited, receipt.outcomes.len()), (0, 0));
    assert!(!spent_record_exists(&w, &coin), "the refused spend left no record");
    assert_eq!(w.balance(&shop.id()), 0);
    // The refusals changed nothing: alice's own payment still goes through.
    shop.accept(&honest, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap().credited, 8);
}

#[test]
fn evidence_from_one_real_spend_and_one_fabricated_is_refused() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let (shop2, key2) = w.merchant_with_key();
    let keyset = w.keyset();
    let coin = w.withdraw_coin(&alice, 8);
    let real = cheat_pay(&w, &alice, &shop1, &coin);
    let ev = |second: &Payment| DoubleSpendEvidence {
        coin_id: coin.coin.id(),
        first: real.clone(),
        first_index: 0,
        second: second.clone(),
        second_index: 0,
    };
    let c1 = verify_payment(&real, &keyset, &mut OsRng).unwrap().challenges[0];

    // A framer who saw the real spend only: the same coin and range proof
    // under a new request, with z_u set so that extraction yields bob's key.
    let req2 = shop2.request_payment(8, [5; 32], &mut OsRng).unwrap();
    let mut blind = real.clone();
    blind.request = req2;
    let err = ev(&blind).verify(&keyset, &mut OsRng).unwrap_err();
    assert!(matches!(err, Error::PaymentRefused { index: 1, reason: PaymentError::RangeProof }), "{err:?}");

    // A framer holding every secret of the coin but alice's key: a second
    // spend correct in everything but z_u, chosen so that
    // (z_u - z_u') / (c1 - c2) is bob's key.
    let second = spend(&w, &alice, &req2, &coin);
    let c2 = verify_payment(&second, &keyset, &mut OsRng).unwrap().challenges[0];
    let mut framed = second.clone();
    framed.responses[0].u = real.responses[0].u - (c1 - c2) * bob.user().expose_secret();
    let err = ev(&framed).verify(&keyset, &mut OsRng).unwrap_err();
    assert!(matches!(err, Error::PaymentRefused { index: 1, reason: PaymentError::Proofs }), "{err:?}");
    // Control: the same construction with the true second spend names alice.
    assert_eq!(ev(&second).verify(&keyset, &mut OsRng).unwrap().account, alice.account_id());

    // Deposited, the fabricated spend is refused and accuses nobody.
    let deposit = DepositRequest::new(&key2, shop2.id(), vec![framed], &mut OsRng);
    let receipt = w.bank.deposit(&deposit, &mut OsRng).unwrap();
    assert_eq!(receipt.payments, [PaymentOutcome::Refused(PaymentRefusal::Proofs)]);
    assert_eq!((receipt.credited, receipt.outcomes.len()), (0, 0));
    shop1.deposit(&*w.bank, &mut OsRng).unwrap();
    assert!(w.bank.evidence_page(0, 10).unwrap().items.is_empty());
    assert!(!frozen(&w, &alice) && !frozen(&w, &bob));
}

#[test]
fn double_spend_within_one_deposit_request() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let (shop, key) = w.merchant_with_key();
    let coin = w.withdraw_coin(&alice, 8);
    let req1 = shop.request_payment(8, [8; 32], &mut OsRng).unwrap();
    let req2 = shop.request_payment(8, [9; 32], &mut OsRng).unwrap();
    let p1 = spend(&w, &alice, &req1, &coin);
    let p2 = spend(&w, &alice, &req2, &coin);
    shop.accept(&p1, &mut OsRng).unwrap();
    // The merchant's own off-line check already catches the second spend.
    assert!(matches!(
        shop.accept(&p2, &mut OsRng),
        Err(Error::CoinAlreadySeen(id)) if id == coin.coin.id()
    ));
    // A request carrying both spends: one credit, alice identified.
    let both = DepositRequest::new(&key, shop.id(), vec![p1, p2], &mut OsRng);
    let r = w.bank.deposit(&both, &mut OsRng).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![
            DepositOutcome::Credited { value: 8 },
            DepositOutcome::DoubleSpent { account: Some(alice.account_id()) }
        ]
    );
    assert_eq!(r.credited, 8);
    assert_eq!(w.balance(&shop.id()), 8);
    assert!(frozen(&w, &alice));
    let records = evidence(&w);
    assert_eq!(records.len(), 1);
    let who = records[0].evidence.verify(&w.keyset(), &mut OsRng).unwrap();
    assert_eq!(who.identity, *alice.user().identity());

    // One payment twice in one request: a duplicate, nobody accused.
    bob.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let req3 = shop.request_payment(4, [10; 32], &mut OsRng).unwrap();
    let p3 = bob.pay(&req3, &mut OsRng).unwrap();
    let twice = DepositRequest::new(&key, shop.id(), vec![p3.clone(), p3], &mut OsRng);
    let r = w.bank.deposit(&twice, &mut OsRng).unwrap();
    assert_eq!(outcomes(&r), vec![DepositOutcome::Credited { value: 4 }, DepositOutcome::Duplicate]);
    assert_eq!(w.balance(&shop.id()), 12);
    assert!(!frozen(&w, &bob));
    assert_eq!(evidence(&w).len(), 1);
}

fn hex_scalar(x: &Scalar) -> serde_json::Value {
    hex::encode(x.as_bytes()).into()
}

/// Two paid withdrawals of one coin body: a user who blinds both with one
/// `gamma` and keeps `s, k, r_t` and the spend nonces (shifting `n_r` and
/// `n_rnd` to absorb the different `r` and `rnd`) gets one body, so one
/// `coin_id`, signed twice: two coins that differ only in their signatures.
fn one_body_signed_twice(w: &World, wallet: &TestWallet) -> Vec<WalletCoin> {
    use faircash::coin::{spend_relation, Coin, CoinBody, CoinSecrets, SpendStatement};
    use faircash::crypto::acl::UserBlinding;
    use faircash::crypto::elgamal::Ciphertext;
    use faircash::encoding::Point;
    use faircash::params::Params;
    use faircash::protocol::withdraw::{commitment_digest, WithdrawChallenge};

    let p = Params::get();
    let keyset = w.keyset();
    let key = *keyset.key_for_value(8).unwrap();
    let today = w.bank.today();
    let expiry = keyset.policy().expiry_for(today);
    let rand = || Scalar::random(&mut OsRng);
    let (s, k, r_t) = (rand(), rand(), rand());
    let mut gamma_draw = [0u8; 64];
    OsRng.fill_bytes(&mut gamma_draw);
    let gamma = Scalar::from_bytes_mod_order_wide(&gamma_draw);
    let serial = Point::new(p.ps.point() * s);
    let escrow = Ciphertext::encrypt(wallet.user().identity(), keyset.ttp_key(), &k);
    let v = Point::new(p.g.point() * Scalar::from(u64::from(expiry.0)) + p.b_blinding.point() * r_t);
    let base: [Scalar; 8] = [(); 8].map(|_| rand());
    let mut first: Option<(Scalar, Scalar)> = None;
    let mut coins = Vec::new();
    for _ in 0..2 {
        let start = WithdrawStart::with_chosen_secrets(
            wallet.keys(),
            &keyset,
            8,
            today,
            None,
            SecretScalar::new(s),
            &mut OsRng,
        )
        .unwrap();
        let r_hex = serde_json::to_value(&start).unwrap()["r"].as_str().unwrap().to_string();
        let mut r_bytes = [0u8; 32];
        hex::decode_to_slice(r_hex, &mut r_bytes).unwrap();
        let r = Scalar::from_canonical_bytes(r_bytes).unwrap();
        let cm = w.bank.open_withdrawal(start.request(), &mut OsRng).unwrap();
        let rnd = cm.commitment.rnd;
        let blinded = UserBlinding::blind(
            &key.acl(),
            &start.request().commitment,
            &cm.commitment,
            &mut FixedFirstDraw { first: Some(gamma_draw) },
        )
        .unwrap();
        assert_eq!(*blinded.lambda(), gamma.invert());
        let mut nonces = base;
        match first {
            None => first = Some((r, rnd)),
            Some((r0, rnd0)) => {
                nonces[1] += nonces[0] * gamma * (r - r0);
                nonces[2] += nonces[0] * gamma * (rnd - rnd0);
            }
        }
        let statement = SpendStatement {
            z: &key.z,
            zeta: blinded.zeta(),
            zeta1: blinded.zeta1(),
            serial: &serial,
            escrow: &escrow,
            expiry_commitment: &v,
            ttp_key: keyset.ttp_key(),
        };
        let spend_commitments: [Point; 6] =
            spend_relation(&statement).commitments(&nonces).try_into().unwrap();
        let body = CoinBody {
            params_id: p.id,
            keyset_id: keyset.id(),
            key_id: key.key_id,
            serial,
            escrow,
            expiry_commitment: v,
            spend_commitments,
        };
        let (waiting, e) = blinded.challenge(body.id().as_bytes());
        let digest = commitment_digest(start.request(), &cm.commitment);
        let ch = WithdrawChallenge::new(start.request().session_id, digest, e, wallet.keys(), &mut OsRng);
        let answer = w.bank.answer_withdrawal(&ch).unwrap();
        let signature = waiting.finish(answer.answer().unwrap()).unwrap();
        let secrets: CoinSecrets = serde_json::from_value(serde_json::json!({
            "lambda": hex_scalar(&gamma.invert()),
            "r": hex_scalar(&r),
            "rnd": hex_scalar(&rnd),
            "s": hex_scalar(&s),
            "expiry": expiry.0,
            "k": hex_scalar(&k),
            "r_t": hex_scalar(&r_t),
            "nonces": nonces.iter().map(hex_scalar).collect::<Vec<_>>(),
        }))
        .unwrap();
        coins.push(WalletCoin { coin: Coin { body, signature }, secrets, value: 8 });
    }
    coins
}

#[test]
fn one_body_signed_in_two_withdrawals_is_one_coin() {
    let w = World::new();
    let alice = w.user(100);
    let bob = w.user(100);
    let shop1 = w.merchant();
    let shop2 = w.merchant();
    let coins = one_body_signed_twice(&w, &alice);
    let (a, b) = (&coins[0], &coins[1]);
    assert_eq!(a.coin.body, b.coin.body);
    assert_eq!(a.coin.id(), b.coin.id());
    assert_ne!(a.coin.signature, b.coin.signature);
    assert_eq!(w.balance(&alice.account_id()), 84);

    // Each signature spends: the merchants accept both off-line.
    cheat_pay(&w, &alice, &shop1, a);
    cheat_pay(&w, &alice, &shop2, b);
    // shop2 holds an honest payment of bob's as well.
    bob.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let req = shop2.request_payment(4, [11; 32], &mut OsRng).unwrap();
    shop2.accept(&bob.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();

    let r1 = shop1.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(outcomes(&r1), vec![DepositOutcome::Credited { value: 8 }]);
    // One body spent twice is a double spend of one coin: the second spend is
    // not credited and identifies alice, and it does not sink the rest of
    // the merchant's deposit.
    let r2 = shop2.deposit(&*w.bank, &mut OsRng).expect("the deposit goes through").unwrap();
    for o in &r2.outcomes {
        if o.coin_id == a.coin.id() {
            assert_eq!(o.outcome, DepositOutcome::DoubleSpent { account: Some(alice.account_id()) });
        } else {
            assert_eq!(o.outcome, DepositOutcome::Credited { value: 4 });
        }
    }
    assert_eq!(r2.credited, 4);
    assert_eq!(w.balance(&shop1.id()), 8);
    assert_eq!(w.balance(&shop2.id()), 4);
    assert!(frozen(&w, &alice));
    assert!(!frozen(&w, &bob));
    let records = evidence(&w);
    assert_eq!(records.len(), 1);
    let who = records[0].evidence.verify(&w.keyset(), &mut OsRng).unwrap();
    assert_eq!(who.identity, *alice.user().identity());
}
