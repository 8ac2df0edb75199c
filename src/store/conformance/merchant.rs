//! The [`MerchantStore`] suite.

use super::objects::{json, Objects, TODAY};
use crate::coin::CoinId;
use crate::crypto::schnorr::SigningKey;
use crate::encoding::Point;
use crate::keys::AccountId;
use crate::params::Params;
use crate::protocol::deposit::{DepositReceipt, DepositRequest, PaymentOutcome, PaymentRefusal};
use crate::protocol::pay::Payment;
use crate::protocol::trace::WatchListVersion;
use crate::store::{AcceptedPayment, MerchantStore, PaymentState, StoreError, WalletStore};
use crate::time::Timestamp;
use rand::rngs::OsRng;

/// Runs every merchant-store check; `make` returns a fresh, empty store
/// each time. One [`Objects`] serves every check.
pub fn run_merchant_store_suite<S: MerchantStore>(make: impl Fn() -> S) {
    run_payee_store_suite(make, itself);
}

/// Runs every merchant-store check on a wallet store's payee state
/// ([`WalletStore::payee`]); `make` returns a fresh, empty wallet store
/// each time.
pub fn run_wallet_payee_store_suite<W: WalletStore>(make: impl Fn() -> W) {
    run_payee_store_suite(make, payee_of);
}

fn itself<S>(s: &S) -> &S {
    s
}

fn payee_of<W: WalletStore>(w: &W) -> &(dyn MerchantStore + 'static) {
    w.payee()
}

fn run_payee_store_suite<T, S: MerchantStore + ?Sized>(make: impl Fn() -> T, view: fn(&T) -> &S) {
    let o = Objects::new();
    let coins: Vec<_> = [1, 2, 4].iter().map(|v| o.coin(*v)).collect();
    // Three payments: a (coin 0), b (coins 1 and 2), and c, which spends
    // coin 1 again.
    let a = o.payment(&[&coins[0]]);
    let b = o.payment(&[&coins[1], &coins[2]]);
    let c = o.payment(&[&coins[1]]);
    let payments = [a, b, c];
    a_request_is_issued_once_and_open_until_answered(view(&make()), &payments);
    accepting_closes_the_request_and_records_coins_and_payment_at_once(view(&make()), &payments);
    a_receipt_settles_the_payments_of_its_request_in_flight(view(&make()), &payments);
    a_refusal_closes_the_request_for_that_payment_only(view(&make()), &payments);
    the_watch_list_is_replaced_whole(view(&make()));
    an_older_watch_list_never_replaces_a_newer_one(view(&make()));
    concurrent_acceptance_takes_a_coin_once(view(&make()), &o);
}

/// Refusing closes an open request for good and records the payment
/// refused: no payment is accepted for it after, a retry for the same
/// payment succeeds and changes nothing, and neither another payment for
/// that request nor a request accepted or never issued can be refused.
pub fn a_refusal_closes_the_request_for_that_payment_only<S: MerchantStore + ?Sized>(
    s: &S,
    payments: &[Payment; 3],
) {
    let [a, b, _] = payments;
    let (ra, rb) = (a.request.id(), b.request.id());
    assert_eq!(s.refuse_payment(&ra, &a.digest()), Err(StoreError::NotFound("open payment request")));
    s.insert_request(&a.request).unwrap();
    s.insert_request(&b.request).unwrap();
    s.refuse_payment(&ra, &a.digest()).unwrap();
    assert_eq!(s.open_request(&ra).unwrap(), None);
    assert_eq!(accept(s, a), Err(StoreError::NotFound("open payment request")));
    assert!(!s.coin_seen(&coin_ids(a)[0]).unwrap());
    assert!(s.payments().unwrap().is_empty());
    // A retry for the same payment; never for another one.
    s.refuse_payment(&ra, &a.digest()).unwrap();
    assert_eq!(s.refuse_payment(&ra, &b.digest()), Err(StoreError::NotFound("open payment request")));
    // An accepted payment's request is not refused.
    accept(s, b).unwrap();
    assert_eq!(s.refuse_payment(&rb, &b.digest()), Err(StoreError::NotFound("open payment request")));
    assert_eq!(undeposited_digests(s), vec![b.digest()]);
}

fn accepted(p: &Payment) -> AcceptedPayment {
    AcceptedPayment { payment: p.clone(), digest: p.digest(), state: PaymentState::Pending }
}

fn coin_ids(p: &Payment) -> Vec<CoinId> {
    p.coins.iter().map(|c| c.id()).collect()
}

fn accept<S: MerchantStore + ?Sized>(s: &S, p: &Payment) -> Result<(), StoreError> {
    s.accept_payment(&p.request.id(), &coin_ids(p), p)
}

fn undeposited_digests<S: MerchantStore + ?Sized>(s: &S) -> Vec<[u8; 32]> {
    s.undeposited().unwrap().iter().map(|a| a.digest).collect()
}

/// A request id is issued once, and reads back while open.
pub fn a_request_is_issued_once_and_open_until_answered<S: MerchantStore + ?Sized>(
    s: &S,
    payments: &[Payment; 3],
) {
    let r = payments[0].request;
    assert_eq!(s.open_request(&r.id()).unwrap(), None);
    s.insert_request(&r).unwrap();
    assert_eq!(s.open_request(&r.id()).unwrap(), Some(r));
    assert_eq!(s.insert_request(&r), Err(StoreError::Conflict("payment request")));
    accept(s, &payments[0]).unwrap();
    assert_eq!(s.open_request(&r.id()).unwrap(), None, "answered: closed");
    assert_eq!(s.insert_request(&r), Err(StoreError::Conflict("payment request")), "never reissued");
}

/// Accepting closes the request, marks every coin seen and keeps the
/// payment, all at once; a payment answering no open request, or carrying
/// a coin seen before, changes nothing.
pub fn accepting_closes_the_request_and_records_coins_and_payment_at_once<S: MerchantStore + ?Sized>(
    s: &S,
    payments: &[Payment; 3],
) {
    let [a, b, c] = payments;
    assert_eq!(accept(s, a), Err(StoreError::NotFound("open payment request")), "no request issued");
    for p in payments {
        s.insert_request(&p.request).unwrap();
    }
    accept(s, b).unwrap();
    for id in coin_ids(b) {
        assert!(s.coin_seen(&id).unwrap());
    }
    assert!(!s.coin_seen(&coin_ids(a)[0]).unwrap());
    assert_eq!(json(&s.undeposited().unwrap()), json(&vec![accepted(b)]), "the payment round-trips");
    assert_eq!(accept(s, b), Err(StoreError::NotFound("open payment request")), "accepted once");
    // c spends b's first coin again: refused, and its request stays open.
    assert_eq!(accept(s, c), Err(StoreError::Conflict("seen coin")));
    assert_eq!(s.open_request(&c.request.id()).unwrap(), Some(c.request));
    assert_eq!(undeposited_digests(s), vec![b.digest()]);
    // A refused acceptance marks none of its coins: a with b's coin added.
    let mut mixed = coin_ids(a);
    mixed.push(coin_ids(b)[1]);
    assert_eq!(s.accept_payment(&a.request.id(), &mixed, a), Err(StoreError::Conflict("seen coin")));
    assert!(!s.coin_seen(&coin_ids(a)[0]).unwrap(), "nothing of a refused acceptance is kept");
    assert_eq!(s.open_request(&a.request.id()).unwrap(), Some(a.request));
    accept(s, a).unwrap();
    assert_eq!(undeposited_digests(s), vec![b.digest(), a.digest()], "in acceptance order");
}

/// A receipt for `request` with the given outcomes (the store keeps what
/// it is given: checking the bank's signature is the merchant's).
fn receipt(request: &DepositRequest, payments: Vec<PaymentOutcome>) -> DepositReceipt {
    let key = SigningKey::generate(&mut OsRng);
    DepositReceipt {
        request_id: request.request_id,
        merchant_id: request.merchant_id,
        request_digest: request.digest(),
        receipt_day: TODAY,
        credited: 0,
        payments,
        outcomes: vec![],
        keyset_id: crate::keys::KeysetId([9; 32]),
        signature: key.sign(b"faircash/v1/store-suite", b"receipt", &mut OsRng),
    }
}

fn states<S: MerchantStore + ?Sized>(s: &S) -> Vec<([u8; 32], PaymentState)> {
    s.payments().unwrap().iter().map(|a| (a.digest, a.state)).collect()
}

/// A deposit request is kept in flight (one at a time) until its receipt
/// is recorded; the receipt settles exactly the payments of its request as
/// it says (verified: deposited; refused for good: kept apart; deferred or
/// refused for now: pending), is kept, and ends the flight, atomically.
pub fn a_receipt_settles_the_payments_of_its_request_in_flight<S: MerchantStore + ?Sized>(
    s: &S,
    payments: &[Payment; 3],
) {
    let [a, b, _] = payments;
    for p in [a, b] {
        s.insert_request(&p.request).unwrap();
        accept(s, p).unwrap();
    }
    let key = SigningKey::generate(&mut OsRng);
    let merchant = AccountId([5; 16]);
    let req = DepositRequest::new(&key, merchant, vec![a.clone(), b.clone()], &mut OsRng);
    assert_eq!(s.deposit_in_flight().unwrap(), None);
    s.begin_deposit(&req).unwrap();
    assert_eq!(json(&s.deposit_in_flight().unwrap()), json(&Some(req.clone())), "the same bytes to resend");
    let other = DepositRequest::new(&key, merchant, vec![a.clone()], &mut OsRng);
    assert!(matches!(s.begin_deposit(&other), Err(StoreError::Conflict(_))), "one request in flight");
    assert_eq!(json(&s.deposit_in_flight().unwrap()), json(&Some(req.clone())));
    assert_eq!(undeposited_digests(s), vec![a.digest(), b.digest()], "in flight is still pending");
    assert!(s.receipt(&req.request_id).unwrap().is_none());

    // a is dated ahead of the bank (refused for now), b verified.
    let later = PaymentRefusal::DatedInFuture { day: TODAY.plus(1), receipt_day: TODAY };
    let first = receipt(&req, vec![PaymentOutcome::Refused(later), PaymentOutcome::Verified]);
    s.record_receipt(&req, &first).unwrap();
    assert_eq!(s.deposit_in_flight().unwrap(), None);
    assert_eq!(json(&s.receipt(&req.request_id).unwrap()), json(&Some(first)));
    assert_eq!(
        states(s),
        vec![
            (a.digest(), PaymentState::Pending),
            (b.digest(), PaymentState::Deposited { request_id: req.request_id })
        ]
    );
    assert_eq!(undeposited_digests(s), vec![a.digest()]);

    // a again, now refused for good: kept apart with its reason.
    let again = DepositRequest::new(&key, merchant, vec![a.clone()], &mut OsRng);
    s.begin_deposit(&again).unwrap();
    let closed =
        PaymentRefusal::WindowClosed { day: TODAY, deposit_until: TODAY.plus(7), receipt_day: TODAY.plus(8) };
    s.record_receipt(&again, &receipt(&again, vec![PaymentOutcome::Refused(closed)])).unwrap();
    assert_eq!(
        states(s)[0],
        (a.digest(), PaymentState::Refused { request_id: again.request_id, refusal: closed })
    );
    assert!(s.undeposited().unwrap().is_empty(), "a refused payment is never deposited again");
    for id in coin_ids(a).iter().chain(&coin_ids(b)) {
        assert!(s.coin_seen(id).unwrap(), "deposited and refused coins stay seen");
    }
    // The next request may fly.
    s.begin_deposit(&other).unwrap();
}

fn serial(i: u64) -> Point {
    Point::new(Params::get().ps.point() * curve25519_dalek::scalar::Scalar::from(i + 1))
}

fn version(issued: u64, sequence: u64) -> WatchListVersion {
    WatchListVersion { issued: Timestamp(issued), sequence, digest: [sequence as u8; 32] }
}

/// Setting the watch list replaces it whole, with its version.
pub fn the_watch_list_is_replaced_whole<S: MerchantStore + ?Sized>(s: &S) {
    let p = serial;
    assert_eq!(s.watch_list_version().unwrap(), None);
    s.set_watch_list(&version(100, 1), &[p(1), p(2), p(2)]).unwrap();
    assert!(s.serial_watched(&p(1)).unwrap() && s.serial_watched(&p(2)).unwrap());
    assert!(!s.serial_watched(&p(3)).unwrap());
    s.set_watch_list(&version(200, 2), &[p(3)]).unwrap();
    assert!(!s.serial_watched(&p(1)).unwrap() && !s.serial_watched(&p(2)).unwrap());
    assert!(s.serial_watched(&p(3)).unwrap());
    assert_eq!(s.watch_list_version().unwrap(), Some(version(200, 2)));
    s.set_watch_list(&version(300, 3), &[]).unwrap();
    assert!(!s.serial_watched(&p(3)).unwrap());
    assert_eq!(s.watch_list_version().unwrap(), Some(version(300, 3)));
}

/// A list issued earlier, or with a lower sequence, than the one held is
/// refused and changes nothing; the held version itself may be set again.
pub fn an_older_watch_list_never_replaces_a_newer_one<S: MerchantStore + ?Sized>(s: &S) {
    s.set_watch_list(&version(200, 5), &[serial(1)]).unwrap();
    for older in [version(199, 6), version(201, 4), version(100, 1)] {
        assert_eq!(s.set_watch_list(&older, &[serial(2)]), Err(StoreError::Conflict("newer watch list")));
        assert_eq!(s.watch_list_version().unwrap(), Some(version(200, 5)), "{older:?} changed the version");
        assert!(s.serial_watched(&serial(1)).unwrap() && !s.serial_watched(&serial(2)).unwrap());
    }
    s.set_watch_list(&version(200, 5), &[serial(3)]).unwrap();
    assert!(s.serial_watched(&serial(3)).unwrap());
}

/// Threads accepting eight payments that all carry one coin, each answering
/// its own open request: one is accepted, seven are refused.
pub fn concurrent_acceptance_takes_a_coin_once<S: MerchantStore + ?Sized>(s: &S, o: &Objects) {
    let coin = o.coin(8);
    let payments: Vec<Payment> = (0..8).map(|_| o.payment(&[&coin])).collect();
    for p in &payments {
        s.insert_request(&p.request).unwrap();
    }
    let won = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for p in &payments {
            let won = &won;
            scope.spawn(move || match accept(s, p) {
                Ok(()) => {
                    won.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("concurrent_acceptance_takes_a_coin_once: {e}"),
            });
        }
    });
    assert_eq!(won.into_inner(), 1, "one payment takes the coin");
    assert_eq!(s.undeposited().unwrap().len(), 1);
}
