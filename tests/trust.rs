//! Trust anchors: keyset pins that never roll back or fork, signed watch
//! lists that never roll back, and the TTP key statement that wallets and
//! merchants pin (so the bank alone can never choose the escrow key).

mod common;

use common::{World, START};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use faircash::crypto::group_signature::GroupSigningKey;
use faircash::crypto::schnorr::SigningKey;
use faircash::encoding::Point;
use faircash::keys::{KeysetPolicy, KeysetSpec, SignedKeyset};
use faircash::protocol::trace::{WatchList, WatchListError};
use faircash::protocol::trust::{
    Coverage, PinError, SignedTtpKeyStatement, TrusteeKey, TtpKeyStatement, TtpPinChange, TtpPins,
    TtpStatementError, TtpValidity,
};
use faircash::protocol::Error;
use faircash::roles::{PayeeRole, TtpKey, TtpKeys};
use faircash::store::{MerchantStore, WalletStore};
use faircash::time::Timestamp;
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
    assert_eq!(m.anchors_mut().refresh_keysets(&*w.bank).unwrap(), 1);
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

// ---------------------------------------------------------------------------
// The TTP key statement
// ---------------------------------------------------------------------------

fn statement(keys: &TtpKeys, sequence: u64, validity: TtpValidity) -> SignedTtpKeyStatement {
    keys.statement(sequence, validity, Timestamp(sequence), &mut OsRng).unwrap()
}

#[test]
fn a_bank_that_chooses_the_ttp_key_is_refused_by_wallet_and_merchant() {
    let w = World::new();
    let mut alice = w.user(100);
    let mut shop = w.merchant();
    // The bank publishes its next keyset with a TTP key whose secret it
    // holds: it could decrypt every escrow made under it.
    let bank_ttp = TtpKeys::generate(&mut OsRng);
    let evil = w.bank.issue_keyset(*bank_ttp.decryption.public(), &spec(START), &mut OsRng).unwrap();
    alice.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    shop.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    assert_eq!(alice.keysets().last().unwrap().id(), evil.id(), "the chain itself is fine");

    // The wallet refuses before any withdrawal: nothing reaches the bank.
    let untrusted = |r: faircash::protocol::Result<_>| {
        matches!(r, Err(Error::UntrustedTtpKey { keyset, ttp_key })
            if keyset == evil.id() && ttp_key == *bank_ttp.decryption.public().as_bytes())
    };
    assert!(untrusted(alice.withdraw(&*w.bank, 4, &mut OsRng).map(drop)));
    assert!(untrusted(alice.start_withdrawal(4, &mut OsRng).map(drop)));
    assert_eq!(w.balance(&alice.account_id()), 100);
    assert!(alice.store().pending().unwrap().is_empty());
    assert!(w.bank.withdrawals_of(&alice.account_id()).unwrap().is_empty());

    // A wallet whose owner was talked into trusting the bank's statement
    // withdraws under the keyset; a merchant that pinned only the TTP's
    // statement refuses the payment off-line.
    let fooled = w.user(100);
    let mut fooled = fooled;
    fooled.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    fooled.anchors_mut().trust_ttp(&statement(&bank_ttp, 0, common::ttp_validity())).unwrap();
    fooled.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let req = shop.request_payment(4, [0; 32], &mut OsRng).unwrap();
    let payment = fooled.pay(&req, &mut OsRng).unwrap();
    assert_eq!(payment.keyset_ids(), [evil.id()]);
    assert!(untrusted(shop.accept(&payment, &mut OsRng).map(drop)));
    assert!(shop.store().undeposited().unwrap().is_empty());
}

#[test]
fn an_older_ttp_statement_is_refused_and_a_newer_one_supersedes() {
    let w = World::new();
    let mut shop = w.merchant();
    let mut v = common::ttp_validity();
    v.escrow_until = v.escrow_until.plus(100);
    v.trace_until = v.trace_until.plus(100);
    let newer = statement(&w.ttp_keys, 1, v);
    // Fetched from the bank: accepted, since it verifies under the pinned key.
    w.bank.set_ttp_statements(vec![newer.clone()]).unwrap();
    let offered = shop.anchors_mut().refresh_ttp(&*w.bank).unwrap();
    assert_eq!(offered[0].1, Ok(TtpPinChange::Superseded { previous: 0 }));
    assert_eq!(shop.anchors().ttp().statements(), std::slice::from_ref(&newer));
    // The older statement again (from the bank, or even by hand) is a rollback.
    w.bank.set_ttp_statements(vec![w.ttp_statement.clone()]).unwrap();
    let offered = shop.anchors_mut().refresh_ttp(&*w.bank).unwrap();
    assert_eq!(offered[0].1, Err(PinError::TtpRollback { pinned: 1, offered: 0 }));
    assert!(matches!(
        shop.anchors_mut().trust_ttp(&w.ttp_statement),
        Err(Error::Pin(PinError::TtpRollback { pinned: 1, offered: 0 }))
    ));
    assert_eq!(shop.anchors().ttp().statements(), std::slice::from_ref(&newer));
    // The same statement again changes nothing; another one of the same
    // sequence is the TTP signing two statements as one.
    assert_eq!(shop.anchors_mut().trust_ttp(&newer).unwrap(), TtpPinChange::Unchanged);
    v.trace_until = v.trace_until.plus(1);
    let twin = statement(&w.ttp_keys, 1, v);
    assert!(matches!(shop.anchors_mut().trust_ttp(&twin), Err(Error::Pin(PinError::TtpConflict(1)))));
}

#[test]
fn a_new_ttp_key_is_added_beside_the_old_and_old_coins_stay_spendable() {
    let w = World::new();
    let mut alice = w.user(100);
    let mut shop = w.merchant();
    alice.withdraw(&*w.bank, 8, &mut OsRng).unwrap();
    // The TTP makes a new decryption key under the same signing key.
    let new_keys = TtpKeys { decryption: TtpKey::generate(&mut OsRng), signing: w.ttp_keys.signing.clone() };
    let second = statement(&new_keys, 1, common::ttp_validity());
    w.bank.set_ttp_statements(vec![w.ttp_statement.clone(), second.clone()]).unwrap();
    w.bank.issue_keyset(*new_keys.decryption.public(), &spec(START), &mut OsRng).unwrap();
    for offered in [
        alice.anchors_mut().refresh_ttp(&*w.bank).unwrap(),
        shop.anchors_mut().refresh_ttp(&*w.bank).unwrap(),
    ] {
        assert_eq!(
            offered.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            [Ok(TtpPinChange::Unchanged), Ok(TtpPinChange::Added)]
        );
    }
    assert_eq!(alice.anchors().ttp().statements().len(), 2);
    alice.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    shop.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    // New withdrawals escrow under the new key...
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    // ...and the coins escrowed under the old key are still accepted.
    let old = w.bank.keysets()[0].clone();
    let req = shop.request_payment(8, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(payment.keyset_ids(), [old.id()]);
    shop.accept(&payment, &mut OsRng).unwrap();
    let req = shop.request_payment(4, [1; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(payment.keyset_ids(), [w.bank.keysets()[1].id()]);
    shop.accept(&payment, &mut OsRng).unwrap();
}

#[test]
fn a_statement_under_an_unpinned_signing_key_needs_the_operator() {
    let w = World::new();
    let mut shop = w.merchant();
    let other = TtpKeys::generate(&mut OsRng);
    let foreign = statement(&other, 5, common::ttp_validity());
    w.bank.set_ttp_statements(vec![foreign.clone()]).unwrap();
    let offered = shop.anchors_mut().refresh_ttp(&*w.bank).unwrap();
    assert_eq!(offered[0].1, Err(PinError::UntrustedTtpSigner(*other.signing.public().as_bytes())));
    assert_eq!(shop.anchors().ttp().statements().len(), 1);
    // The operator's explicit action pins it beside the first.
    assert_eq!(shop.anchors_mut().trust_ttp(&foreign).unwrap(), TtpPinChange::Added);
    assert_eq!(shop.anchors().ttp().statements().len(), 2);
}

#[test]
fn a_tampered_or_wrongly_signed_statement_is_refused() {
    let w = World::new();
    let mut shop = w.merchant();
    let bad = |s: &SignedTtpKeyStatement| match TtpPins::new().trust(s) {
        Err(PinError::BadTtpStatement(e)) => e,
        other => panic!("expected a bad statement, got {other:?}"),
    };
    // A field changed after signing: the bank stretches the validity.
    let mut t = w.ttp_statement.clone();
    t.statement.validity.escrow_until = t.statement.validity.escrow_until.plus(1);
    assert_eq!(bad(&t), TtpStatementError::Signature);
    // The bank swaps in its own decryption key, keeping the TTP's signing key.
    let mut t = w.ttp_statement.clone();
    let bank_key = *TtpKey::generate(&mut OsRng).public();
    t.statement.decryption_key = bank_key;
    t.statement.trustees[0].verification_share = bank_key;
    assert_eq!(bad(&t), TtpStatementError::Signature);
    // Signed by another key than the one it names.
    let mut t = w.ttp_statement.clone();
    t.signature = GroupSigningKey::generate(&mut OsRng).sign(
        faircash::crypto::transcript::labels::TTP_KEY_STATEMENT_SIGNATURE,
        &t.statement.digest(),
        &mut OsRng,
    );
    assert_eq!(bad(&t), TtpStatementError::Signature);
    // One key to decrypt and to sign is refused even if signed.
    let k = GroupSigningKey::generate(&mut OsRng);
    let mut st = TtpKeyStatement::single(0, *k.public(), *k.public(), common::ttp_validity(), Timestamp(0));
    st.signing_key = *k.public();
    assert_eq!(SignedTtpKeyStatement::sign(st, &k, &mut OsRng).unwrap_err(), TtpStatementError::SharedKey);
    assert!(shop.anchors_mut().trust_ttp(&w.ttp_statement).is_ok());
}

#[test]
fn a_keyset_outside_the_statements_validity_is_refused() {
    let w = World::new();
    let mut alice = w.user(100);
    let late = common::ttp_validity().escrow_until;
    w.bank.issue_keyset(*w.ttp.public(), &spec(late), &mut OsRng).unwrap();
    alice.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    assert!(matches!(
        alice.start_withdrawal(1, &mut OsRng),
        Err(Error::TtpKeyNotValid { reason: Coverage::EscrowWindow, .. })
    ));
}

/// Verification shares `f(i)·G` of a random polynomial of degree `t - 1`.
fn shares(x_t: &Scalar, t: usize, ids: &[u16]) -> Vec<TrusteeKey> {
    let coeffs: Vec<Scalar> =
        std::iter::once(*x_t).chain((1..t).map(|_| Scalar::random(&mut OsRng))).collect();
    ids.iter()
        .map(|&i| {
            let x = Scalar::from(i);
            let y = coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
            TrusteeKey { id: i, verification_share: Point::new(RISTRETTO_BASEPOINT_POINT * y) }
        })
        .collect()
}

#[test]
fn a_threshold_statement_is_checked_t_of_n() {
    let signer = GroupSigningKey::generate(&mut OsRng);
    let x_t = Scalar::random(&mut OsRng);
    let y_t = Point::new(RISTRETTO_BASEPOINT_POINT * x_t);
    let make = |t: u16, trustees: Vec<TrusteeKey>| {
        let mut st = TtpKeyStatement::single(0, y_t, *signer.public(), common::ttp_validity(), Timestamp(0));
        st.threshold = t;
        st.trustees = trustees;
        SignedTtpKeyStatement::sign(st, &signer, &mut OsRng)
    };
    for (t, ids) in [(2u16, vec![1u16, 2, 3]), (3, vec![1, 2, 3, 4, 5]), (2, vec![3, 7, 9])] {
        let good = make(t, shares(&x_t, t.into(), &ids)).unwrap();
        TtpPins::new().trust(&good).unwrap();
        // One wrong share, a share of another key, t above n, unordered ids.
        let mut one_off = shares(&x_t, t.into(), &ids);
        let last = one_off.len() - 1;
        one_off[last].verification_share = Point::new(one_off[last].verification_share.point() + y_t.point());
        assert_eq!(make(t, one_off).unwrap_err(), TtpStatementError::InconsistentShares);
        let other = shares(&Scalar::random(&mut OsRng), t.into(), &ids);
        assert_eq!(make(t, other).unwrap_err(), TtpStatementError::InconsistentShares);
        assert!(matches!(
            make(ids.len() as u16 + 1, shares(&x_t, t.into(), &ids)).unwrap_err(),
            TtpStatementError::Threshold { .. }
        ));
        let mut swapped = shares(&x_t, t.into(), &ids);
        swapped.swap(0, 1);
        assert_eq!(make(t, swapped).unwrap_err(), TtpStatementError::Identifiers);
    }
}

// ---------------------------------------------------------------------------
// Key rotation without restarts
// ---------------------------------------------------------------------------

#[test]
fn a_merchant_meeting_an_unknown_keyset_asks_the_bank_before_refusing() {
    let w = World::new();
    let mut shop = w.merchant();
    w.bank.issue_keyset(*w.ttp.public(), &spec(START), &mut OsRng).unwrap();
    let mut alice = w.user(20);
    alice.anchors_mut().refresh_keysets(&*w.bank).unwrap();
    alice.withdraw(&*w.bank, 2, &mut OsRng).unwrap();
    let req = shop.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    assert!(matches!(shop.accept(&payment, &mut OsRng), Err(Error::UnknownKeyset(_))));
    shop.accept_or_refresh(&payment, &*w.bank, &mut OsRng).unwrap();
    assert_eq!(shop.keysets().len(), 2);
}

#[test]
fn rotation_is_due_after_the_given_days() {
    let w = World::new();
    assert!(!w.bank.rotation_due(30));
    w.clock.advance_days(29);
    assert!(!w.bank.rotation_due(30));
    w.clock.advance_days(1);
    assert!(w.bank.rotation_due(30));
    w.bank.issue_keyset(*w.ttp.public(), &spec(START.plus(30)), &mut OsRng).unwrap();
    assert!(!w.bank.rotation_due(30));
}

#[test]
fn a_node_serves_keysets_another_node_issued_without_a_restart() {
    use faircash::keys::BankSecrets;
    use faircash::roles::bank::Reloaded;
    use faircash::roles::{Bank, BankConfig};
    use faircash::store::sqlite::SqliteBankStore;
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let w = World::new();
    let secrets = BankSecrets::generate(&mut OsRng);
    let clock: Arc<dyn faircash::time::Clock> = Arc::new(w.clock.clone());
    let node = |refresh| {
        let config = BankConfig { keyset_refresh: refresh, ..BankConfig::default() };
        Bank::open(SqliteBankStore::open(&db).unwrap(), secrets.clone(), clock.clone(), config).unwrap()
    };
    // Node a issues the first keyset; node b (no periodic refresh) and node
    // c (refresh on every read) run on the same database.
    let a = node(None);
    let b = node(None);
    let c = node(Some(std::time::Duration::ZERO));
    // Where b and c re-read the secrets from (the command line: bank.key).
    let key_file = Arc::new(Mutex::new(a.secrets()));
    for n in [&b, &c] {
        let f = key_file.clone();
        let statement = w.ttp_statement.clone();
        n.set_reloader(Box::new(move || {
            Ok(Reloaded { secrets: f.lock().unwrap().clone(), ttp_statements: vec![statement.clone()] })
        }));
    }
    let seen = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    c.on_keysets_changed(Box::new(move |list| *s.lock().unwrap() = list.len()));

    let persist = |s: &BankSecrets| {
        *key_file.lock().unwrap() = s.clone();
        Ok(())
    };
    a.issue_keyset_with(*w.ttp.public(), &spec(START), &mut OsRng, persist).unwrap();
    assert_eq!(c.published_keysets().len(), 1, "c reads the store on every request");
    assert_eq!(*seen.lock().unwrap(), 1, "and tells its listener (keysets.json)");
    assert!(b.published_keysets().is_empty(), "b waits for a refresh");
    assert_eq!(b.reload().unwrap(), 1, "SIGHUP");
    assert_eq!(b.published_keysets().len(), 1);

    // A wallet withdraws through b and c under the keyset a issued: they
    // re-read the key file for its keys.
    for node in [&b, &c] {
        node.set_ttp_statements(vec![w.ttp_statement.clone()]).unwrap();
        let mut wallet = faircash::roles::Wallet::new(
            faircash::keys::AccountKeys::generate(&mut OsRng),
            node.master_key(),
            faircash::store::memory::MemoryWalletStore::new(),
            clock.clone(),
        );
        wallet.anchors_mut().refresh_keysets(node).unwrap();
        wallet.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
        let id = node.register_user(&wallet.registration(&mut OsRng), &mut OsRng).unwrap();
        node.fund(&id, 4).unwrap();
        wallet.withdraw(node, 4, &mut OsRng).unwrap();
        assert_eq!(wallet.balance().unwrap(), 4);
    }
    // A keyset issued by b extends a's (b reads the store first), and a
    // adopts it on its next refresh.
    b.issue_keyset_with(*w.ttp.public(), &spec(START.plus(1)), &mut OsRng, persist).unwrap();
    assert_eq!(a.refresh_keysets().unwrap(), 1);
    assert_eq!(a.published_keysets(), b.published_keysets());
    assert_eq!(c.published_keysets().len(), 2);
}
