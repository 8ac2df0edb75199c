//! The [`MerchantStore`] suite.

use super::objects::{json, Objects, TODAY};
use crate::coin::CoinId;
use crate::encoding::Point;
use crate::params::Params;
use crate::protocol::deposit::DepositReceipt;
use crate::protocol::pay::Payment;
use crate::protocol::trace::WatchListVersion;
use crate::store::{AcceptedPayment, MerchantStore, StoreError};
use crate::time::Timestamp;

/// Runs every merchant-store check; `make` returns a fresh, empty store
/// each time. One [`Objects`] serves every check.
pub fn run_merchant_store_suite<S: MerchantStore>(make: impl Fn() -> S) {
    let o = Objects::new();
    let coins: Vec<_> = [1, 2, 4].iter().map(|v| o.coin(*v)).collect();
    // Three payments: a (coin 0), b (coins 1 and 2), and c, which spends
    // coin 1 again.
    let a = o.payment(&[&coins[0]]);
    let b = o.payment(&[&coins[1], &coins[2]]);
    let c = o.payment(&[&coins[1]]);
    let payments = [a, b, c];
    a_request_is_issued_once_and_open_until_answered(&make(), &payments);
    accepting_closes_the_request_and_records_coins_and_payment_at_once(&make(), &payments);
    deposited_payments_leave_the_undeposited_list(&make(), &payments);
    the_watch_list_is_replaced_whole(&make());
    an_older_watch_list_never_replaces_a_newer_one(&make());
    concurrent_acceptance_takes_a_coin_once(&make(), &o);
}

fn accepted(p: &Payment) -> AcceptedPayment {
    AcceptedPayment { payment: p.clone(), digest: p.digest(), receipt: None }
}

fn coin_ids(p: &Payment) -> Vec<CoinId> {
    p.coins.iter().map(|c| c.id()).collect()
}

fn accept<S: MerchantStore>(s: &S, p: &Payment) -> Result<(), StoreError> {
    s.accept_payment(&p.request.id(), &coin_ids(p), &accepted(p))
}

fn undeposited_digests<S: MerchantStore>(s: &S) -> Vec<[u8; 32]> {
    s.undeposited().unwrap().iter().map(|a| a.digest).collect()
}

/// A request id is issued once, and reads back while open.
pub fn a_request_is_issued_once_and_open_until_answered<S: MerchantStore>(s: &S, payments: &[Payment; 3]) {
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
pub fn accepting_closes_the_request_and_records_coins_and_payment_at_once<S: MerchantStore>(
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
    assert_eq!(
        s.accept_payment(&a.request.id(), &mixed, &accepted(a)),
        Err(StoreError::Conflict("seen coin"))
    );
    assert!(!s.coin_seen(&coin_ids(a)[0]).unwrap(), "nothing of a refused acceptance is kept");
    assert_eq!(s.open_request(&a.request.id()).unwrap(), Some(a.request));
    accept(s, a).unwrap();
    assert_eq!(undeposited_digests(s), vec![b.digest(), a.digest()], "in acceptance order");
}

fn receipt(o: &[u8; 16]) -> DepositReceipt {
    DepositReceipt {
        request_id: *o,
        merchant_id: crate::keys::AccountId([5; 16]),
        receipt_day: TODAY,
        credited: 3,
        outcomes: vec![],
    }
}

/// A receipt takes exactly the payments it names off the undeposited list.
pub fn deposited_payments_leave_the_undeposited_list<S: MerchantStore>(s: &S, payments: &[Payment; 3]) {
    let [a, b, _] = payments;
    for p in [a, b] {
        s.insert_request(&p.request).unwrap();
        accept(s, p).unwrap();
    }
    s.mark_deposited(&[b.digest()], &receipt(&[1; 16])).unwrap();
    assert_eq!(undeposited_digests(s), vec![a.digest()]);
    s.mark_deposited(&[[7; 32]], &receipt(&[2; 16])).unwrap();
    assert_eq!(undeposited_digests(s), vec![a.digest()], "an unknown digest changes nothing");
    s.mark_deposited(&[a.digest()], &receipt(&[3; 16])).unwrap();
    assert!(s.undeposited().unwrap().is_empty());
    for id in coin_ids(a).iter().chain(&coin_ids(b)) {
        assert!(s.coin_seen(id).unwrap(), "deposited coins stay seen");
    }
}

fn serial(i: u64) -> Point {
    Point::new(Params::get().ps.point() * curve25519_dalek::scalar::Scalar::from(i + 1))
}

fn version(issued: u64, sequence: u64) -> WatchListVersion {
    WatchListVersion { issued: Timestamp(issued), sequence, digest: [sequence as u8; 32] }
}

/// Setting the watch list replaces it whole, with its version.
pub fn the_watch_list_is_replaced_whole<S: MerchantStore>(s: &S) {
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
pub fn an_older_watch_list_never_replaces_a_newer_one<S: MerchantStore>(s: &S) {
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
pub fn concurrent_acceptance_takes_a_coin_once<S: MerchantStore>(s: &S, o: &Objects) {
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
