//! Trust anchors: keyset pins that never roll back or fork, signed watch
//! lists that never roll back, and the TTP key statement that wallets and
//! merchants pin (so the bank alone can never choose the escrow key).

mod common;

use common::{World, START};
use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{KeysetPolicy, KeysetSpec, SignedKeyset};
use faircash::protocol::trace::{WatchList, WatchListError};
use faircash::protocol::trust::PinError;
use faircash::protocol::Error;
use rand::rngs::OsRng;

fn spec(from: faircash::time::Day) -> KeysetSpec {
    KeysetSpec {
        exponents: 0..=6,
        withdraw_from: from,
        withdraw_days: 30,
        policy: KeysetPolicy { validity_days: 30, max_deposit_delay_days: 7 },
    }
}

/// A world whose bank has issued a second keyset.
fn two_keysets() -> (World, Vec<SignedKeyset>) {
    let w = World::new();
    w.bank.issue_keyset(*w.ttp.public(), &spec(START.plus(1)), &mut OsRng).unwrap();
    let list = w.bank.published_keysets();
    assert_eq!(list.len(), 2);
    (w, list)
}

fn pin_error(r: faircash::protocol::Result<()>) -> PinError {
    match r {
        Err(Error::Pin(e)) => e,
        other => panic!("expected a pinning error, got {other:?}"),
    }
}

#[test]
fn merchant_refuses_a_shorter_older_keyset_list() {
    let (w, list) = two_keysets();
    let mut m = w.merchant();
    m.pin_keysets(&list).unwrap();
    assert_eq!(pin_error(m.pin_keysets(&list[..1])), PinError::Rollback { pinned: 2, offered: 1 });
    assert_eq!(m.keysets().len(), 2, "a refused list changes nothing");
    // The same list again, or a longer one, is fine.
    m.pin_keysets(&list).unwrap();
}

#[test]
fn merchant_refuses_a_chain_that_does_not_start_at_sequence_0() {
    let (w, list) = two_keysets();
    let mut m = w.merchant();
    assert_eq!(pin_error(m.pin_keysets(&list[1..])), PinError::NotFromStart);
    // Out of order is not a chain either.
    let swapped = vec![list[0].clone(), list[1].clone(), list[1].clone()];
    assert!(matches!(pin_error(m.pin_keysets(&swapped)), PinError::BrokenChain(_)));
}

#[test]
fn merchant_and_wallet_refuse_a_forked_keyset_list() {
    let (w, list) = two_keysets();
    // The same master key signs another keyset at sequence 1: a fork.
    let mut secrets = w.bank.secrets();
    let first = w.bank.keysets()[0].clone();
    let fork = secrets.issue_keyset(Some(&first), *w.ttp.public(), &spec(START.plus(2)), &mut OsRng).unwrap();
    let forked = vec![list[0].clone(), fork.signed().clone()];

    let mut m = w.merchant();
    m.pin_keysets(&list).unwrap();
    assert_eq!(pin_error(m.pin_keysets(&forked)), PinError::Fork { sequence: 1 });
    assert_eq!(m.keysets()[1].id(), w.bank.keysets()[1].id());

    let mut wallet = w.user(0);
    wallet.pin_keysets(&list).unwrap();
    assert_eq!(pin_error(wallet.pin_keysets(&forked)), PinError::Fork { sequence: 1 });
}

#[test]
fn merchant_refreshes_its_pins_from_the_bank() {
    let w = World::new();
    let mut m = w.merchant();
    assert_eq!(m.keysets().len(), 1);
    w.bank.issue_keyset(*w.ttp.public(), &spec(START.plus(1)), &mut OsRng).unwrap();
    assert_eq!(m.refresh_keysets(&*w.bank).unwrap(), 1);
    assert_eq!(m.keysets().len(), 2);
}

// ---------------------------------------------------------------------------
// Watch lists
// ---------------------------------------------------------------------------

fn watch(w: &World, serial: &faircash::encoding::Point) {
    w.bank.run_tx("watch", |tx| Ok(tx.watch_serial(serial, "case 7")?)).unwrap();
}

fn watch_error(r: faircash::protocol::Result<()>) -> WatchListError {
    match r {
        Err(Error::WatchList(e)) => e,
        other => panic!("expected a watch-list error, got {other:?}"),
    }
}

#[test]
fn merchant_refuses_a_replayed_older_watch_list() {
    let w = World::new();
    let alice = w.user(50);
    let coin = w.withdraw_coin(&alice, 4);
    let shop = w.merchant();

    // The bank's list before the coin was traced, validly signed.
    let before = w.bank.watch_list(&mut OsRng).unwrap();
    assert_eq!(before.sequence, 0);
    shop.import_watch_list(&before).unwrap();

    // Coin tracing puts the coin's serial on the list; the merchant imports it.
    watch(&w, &coin.coin.body.serial);
    w.clock.advance_secs(60);
    let after = w.bank.watch_list(&mut OsRng).unwrap();
    assert_eq!(after.sequence, 1);
    shop.import_watch_list(&after).unwrap();
    assert_eq!(shop.watch_list_version().unwrap(), Some(after.version()));

    // Replaying the older list is refused, and the coin stays refused.
    assert!(matches!(watch_error(shop.import_watch_list(&before)), WatchListError::Older { .. }));
    assert_eq!(shop.watch_list_version().unwrap(), Some(after.version()));
    let req = shop.request_payment(4, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    assert!(matches!(shop.accept(&payment, &mut OsRng), Err(Error::Watchlisted(_))));

    // The same sequence signed again later is fine; with other serials it is
    // refused (two lists signed as one), and so is a later list of a lower
    // sequence.
    let master = w.bank.secrets().master().clone();
    w.clock.advance_secs(60);
    let now = faircash::time::Clock::now(&w.clock);
    let again = WatchList::sign(now, 1, after.serials.clone(), &master, &mut OsRng);
    shop.import_watch_list(&again).unwrap();
    let other =
        WatchList::sign(now.plus_secs(1), 1, vec![alice.user().identity().to_owned()], &master, &mut OsRng);
    assert_eq!(watch_error(shop.import_watch_list(&other)), WatchListError::Conflicting(1));
    let lower = WatchList::sign(now.plus_secs(2), 0, Vec::new(), &master, &mut OsRng);
    assert!(matches!(watch_error(shop.import_watch_list(&lower)), WatchListError::Older { .. }));
    // A list not signed by the bank's master key is refused as such.
    let forged =
        WatchList::sign(now.plus_secs(3), 9, Vec::new(), &SigningKey::generate(&mut OsRng), &mut OsRng);
    assert_eq!(watch_error(shop.import_watch_list(&forged)), WatchListError::Signature);
}

#[test]
fn sqlite_merchant_store_keeps_the_watch_list_version_and_refuses_an_older_one() {
    use faircash::protocol::trace::WatchListVersion;
    use faircash::store::sqlite::SqliteMerchantStore;
    use faircash::store::{MerchantStore, StoreError};
    use faircash::time::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merchant.db");
    let newer = WatchListVersion { issued: Timestamp(200), sequence: 3, digest: [3; 32] };
    let older = WatchListVersion { issued: Timestamp(100), sequence: 2, digest: [2; 32] };
    {
        let s = SqliteMerchantStore::open(&path).unwrap();
        assert_eq!(s.watch_list_version().unwrap(), None);
        s.set_watch_list(&newer, &[]).unwrap();
    }
    let s = SqliteMerchantStore::open(&path).unwrap();
    assert_eq!(s.watch_list_version().unwrap(), Some(newer));
    assert_eq!(s.set_watch_list(&older, &[]), Err(StoreError::Conflict("newer watch list")));
    assert_eq!(s.watch_list_version().unwrap(), Some(newer));
}
