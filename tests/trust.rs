//! Trust anchors: keyset pins that never roll back or fork, signed watch
//! lists that never roll back, and the TTP key statement that wallets and
//! merchants pin (so the bank alone can never choose the escrow key).

mod common;

use common::{World, START};
use faircash::keys::{KeysetPolicy, KeysetSpec, SignedKeyset};
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
