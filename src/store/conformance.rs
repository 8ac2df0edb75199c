//! One conformance suite per store trait, run unchanged against every
//! implementation (`tests/store_conformance.rs`).
//!
//! | suite | trait | backends |
//! |---|---|---|
//! | [`run_bank_store_suite`] | [`BankStore`] | memory, SQLite, PostgreSQL |
//! | [`run_wallet_store_suite`] (and [`wallet_state_survives_reopening`]) | [`WalletStore`] | memory, SQLite |
//! | [`run_merchant_store_suite`] | [`MerchantStore`] | memory, SQLite |
//! | [`run_wallet_payee_store_suite`] | [`MerchantStore`] of [`WalletStore::payee`] | memory, SQLite |
//! | [`run_ttp_store_suite`] | [`TtpStore`] | memory, SQLite |
//! | [`run_trustee_store_suite`] | [`TrusteeStore`] | memory, SQLite |
//!
//! Each suite runs a list of checks against stores made by a factory, one
//! fresh store per check; a check is a public function named for the
//! property it asserts, so a new store method gets a new check and one more
//! line in its suite. The suites store real protocol objects (coins,
//! pending withdrawals, payments, double-spending evidence) made by the
//! protocol's own steps. Each check panics with its name on a violation,
//! so this module is meant for tests only.

mod merchant;
pub mod objects;
mod ttp;
mod wallet;

pub use merchant::*;
pub use ttp::*;
pub use wallet::*;

use curve25519_dalek::scalar::Scalar;
use rand::rngs::OsRng;

use super::*;
use crate::crypto::acl::{AclPublicKey, SignerSession};
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::schnorr::Proof;
use crate::keys::{KeyId, KeysetId};
use crate::params::Params;
use crate::protocol::deposit::DoubleSpendEvidence;
use crate::protocol::withdraw::WithdrawRequest;

fn rand_point() -> Point {
    Point::new(Params::get().g.point() * Scalar::random(&mut OsRng))
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

fn account(kind: AccountKind, balance: u64) -> Account {
    Account {
        id: AccountId(rand_bytes()),
        kind,
        public_key: rand_point(),
        balance,
        frozen: false,
        registered: Day(20_000),
        auth_key: (kind == AccountKind::User).then(rand_point),
    }
}

fn session(account: &AccountId, opened: Timestamp, ttl: u64, epoch: u64) -> WithdrawSession {
    let c = rand_point();
    let pk = AclPublicKey { key_id: KeyId(rand_bytes()), y: rand_point(), z: rand_point() };
    let (signer, commitment) =
        SignerSession::open(&Scalar::random(&mut OsRng), &pk, &c, b"conformance", &mut OsRng);
    WithdrawSession {
        request: WithdrawRequest {
            session_id: SessionId(rand_bytes()),
            account: *account,
            keyset_id: KeysetId(rand_bytes()),
            key_id: pk.key_id,
            expiry: Day(20_090),
            commitment: c,
            escrow: Ciphertext { c1: rand_point(), c2: rand_point() },
            reservation: None,
            proof: Proof { commitments: vec![rand_point()], responses: vec![Scalar::random(&mut OsRng)] },
        },
        value: 8,
        commitment,
        opened,
        expires: opened.plus_secs(ttl),
        epoch,
        identity: rand_point(),
        state: SessionState::Open(signer),
    }
}

/// Records `coins`, all from one dummy payment stored under `digest`.
fn record(tx: &mut dyn BankTx, digest: [u8; 32], coins: &[SpentCoin]) -> StoreResult<Vec<SpendOutcome>> {
    tx.insert_spent_coins(&[(digest, &dummy_payment())], coins)
}

fn new_unwatched(n: usize) -> Vec<SpendOutcome> {
    vec![SpendOutcome::New { watched: None }; n]
}

fn spent(coin_id: CoinId, digest: [u8; 32], prune_after: Day) -> SpentCoin {
    SpentCoin {
        coin_id,
        serial: rand_point(),
        challenge: Scalar::random(&mut OsRng),
        merchant: AccountId(rand_bytes()),
        day: Day(20_000),
        receipt_day: Day(20_001),
        payment_digest: digest,
        coin_index: 0,
        value: 4,
        keyset: KeysetId([9; 32]),
        prune_after,
    }
}

fn commit<S: BankStore>(s: &S, f: impl FnOnce(&mut dyn BankTx)) {
    let mut tx = s.begin().expect("begin");
    f(&mut *tx);
    tx.commit().expect("commit");
}

/// Runs every bank-store check; `make` returns a fresh, empty store each
/// time.
pub fn run_bank_store_suite<S: BankStore>(make: impl Fn() -> S) {
    let o = objects::Objects::new();
    account_ids_are_unique(&make());
    rollback_discards_every_change(&make());
    committed_changes_persist(&make());
    session_id_and_commitment_are_unique(&make());
    answering_a_session_erases_its_nonces_once(&make());
    open_sessions_count_only_open_unexpired(&make());
    expiring_sessions_erases_their_nonces(&make());
    spent_coin_ids_are_unique(&make());
    a_coin_twice_in_one_batch_is_recorded_once(&make());
    a_batch_mixes_new_spent_and_watched_coins(&make());
    spent_coins_list_latest_first_per_merchant_and_bounded(&make());
    payments_are_stored_once_by_digest(&make());
    pruning_removes_only_expired_records(&make());
    evidence_and_watch_list_round_trip(&make(), &o);
    evidence_is_stored_once_per_coin_in_order(&make());
    keysets_are_ordered_and_unique(&make());
    session_epoch_bumps(&make());
    watch_list_answers_right_after_a_coin_is_recorded(&make());
    deposit_receipts_are_stored_once(&make());
    concurrent_transactions_never_record_a_coin_twice(&make());
    concurrent_credits_of_different_coins_all_land(&make());
    accounts_keep_keys_identity_and_freeze(&make());
    identities_are_recorded_once_and_updated(&make());
    account_events_are_kept_in_order(&make());
    reservations_round_trip_and_only_active_ones_hold(&make());
    account_requests_are_recorded_once(&make());
    sessions_keep_their_reservation_and_identity_and_end_once(&make());
    an_accounts_sessions_are_listed_in_pages_of_every_state(&make());
    new_facts_roll_back(&make());
    refusal_records_are_stored_once_and_broken_ones_listed(&make());
    spent_lists_are_published_once_per_key_in_pages(&make());
    publications_racing_deposits_publish_every_coin_once(&make());
}

/// A payee refusal record is stored once per payment digest; the broken
/// ones are listed in the order they came; a rolled-back insert leaves
/// nothing.
pub fn refusal_records_are_stored_once_and_broken_ones_listed<S: BankStore>(s: &S) {
    let record = |broken: bool| RefusalRecord {
        payment_digest: rand_bytes(),
        payer: AccountId(rand_bytes()),
        payee: AccountId(rand_bytes()),
        refusal: crate::protocol::refusal::PayeeRefusal {
            request_id: rand_bytes(),
            payment_digest: rand_bytes(),
            signature: crate::crypto::schnorr::Signature { r: rand_point(), s: Scalar::from(7u64) },
        },
        recorded: Day(20_000),
        broken,
    };
    let (kept, first, second) = (record(false), record(true), record(true));
    commit(s, |tx| {
        tx.insert_refusal_record(&kept).unwrap();
        tx.insert_refusal_record(&first).unwrap();
    });
    {
        let mut tx = s.begin().unwrap();
        tx.insert_refusal_record(&record(true)).unwrap();
        // dropped: rolled back
    }
    commit(s, |tx| tx.insert_refusal_record(&second).unwrap());
    let mut tx = s.begin().unwrap();
    let mut again = kept.clone();
    again.broken = true;
    assert_eq!(tx.insert_refusal_record(&again), Err(StoreError::Conflict("refusal record")));
    assert_eq!(tx.refusal_record(&kept.payment_digest).unwrap(), Some(kept.clone()));
    assert_eq!(tx.refusal_record(&[0; 32]).unwrap(), None);
    assert_eq!(tx.broken_refusals().unwrap(), vec![first, second]);
}

/// An account's sessions, open, ended and answered, are listed in
/// session-id order, in pages after a cursor; other accounts' never.
pub fn an_accounts_sessions_are_listed_in_pages_of_every_state<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let b = account(AccountKind::User, 10);
    let mine: Vec<WithdrawSession> = (0..5).map(|_| session(&a.id, Timestamp(1000), 300, 0)).collect();
    let theirs = session(&b.id, Timestamp(1000), 300, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_account(&b).unwrap();
        for m in &mine {
            tx.insert_session(m).unwrap();
        }
        tx.insert_session(&theirs).unwrap();
        tx.end_session(&mine[1].id()).unwrap();
        let SessionState::Open(signer) = mine[2].state.clone() else { unreachable!() };
        let (answered, _) = signer.answer(&Scalar::random(&mut OsRng), &Scalar::random(&mut OsRng));
        tx.answer_session(&mine[2].id(), &answered, Timestamp(1100)).unwrap();
    });
    let mut ids: Vec<SessionId> = mine.iter().map(|m| m.id()).collect();
    ids.sort();
    let mut tx = s.begin().unwrap();
    let all = tx.sessions_of(&a.id, None, 100).unwrap();
    assert_eq!(all.iter().map(|s| s.id()).collect::<Vec<_>>(), ids, "every session, in id order");
    let state = |id: SessionId| &all.iter().find(|s| s.id() == id).unwrap().state;
    assert!(matches!(state(mine[0].id()), SessionState::Open(_)));
    assert!(matches!(state(mine[1].id()), SessionState::Expired));
    assert!(matches!(state(mine[2].id()), SessionState::Answered { .. }));
    let got = all.iter().find(|s| s.id() == mine[3].id()).unwrap();
    assert_eq!(got.request, mine[3].request);
    assert_eq!(got.commitment, mine[3].commitment);
    // Pages of two after the cursor.
    let first = tx.sessions_of(&a.id, None, 2).unwrap();
    assert_eq!(first.iter().map(|s| s.id()).collect::<Vec<_>>(), ids[..2]);
    let second = tx.sessions_of(&a.id, Some(&ids[1]), 2).unwrap();
    assert_eq!(second.iter().map(|s| s.id()).collect::<Vec<_>>(), ids[2..4]);
    let last = tx.sessions_of(&a.id, Some(&ids[3]), 2).unwrap();
    assert_eq!(last.iter().map(|s| s.id()).collect::<Vec<_>>(), ids[4..]);
    assert!(tx.sessions_of(&a.id, Some(&ids[4]), 2).unwrap().is_empty());
    assert_eq!(tx.sessions_of(&b.id, None, 100).unwrap().len(), 1, "only the account's own");
}

/// Authentication keys, identities and freezes are stored and changed.
pub fn accounts_keep_keys_identity_and_freeze<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let m = account(AccountKind::Merchant, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_account(&m).unwrap();
    });
    let (key, identity) = (rand_point(), rand_point());
    commit(s, |tx| {
        tx.set_auth_key(&a.id, &key).unwrap();
        tx.set_identity(&a.id, &identity).unwrap();
        tx.freeze_account(&a.id).unwrap();
    });
    let mut tx = s.begin().unwrap();
    let got = tx.account(&a.id).unwrap().unwrap();
    assert_eq!((got.auth_key, got.public_key, got.frozen), (Some(key), identity, true));
    assert_eq!(tx.account(&m.id).unwrap().unwrap().auth_key, None, "a merchant has none");
    tx.unfreeze_account(&a.id).unwrap();
    assert!(!tx.account(&a.id).unwrap().unwrap().frozen);
    let nobody = AccountId([9; 16]);
    assert_eq!(tx.set_auth_key(&nobody, &key), Err(StoreError::NotFound("account")));
    assert_eq!(tx.set_identity(&nobody, &key), Err(StoreError::NotFound("account")));
    assert_eq!(tx.unfreeze_account(&nobody), Err(StoreError::NotFound("account")));
}

/// An identity is recorded once, for one account, and can be retired or
/// marked revealed.
pub fn identities_are_recorded_once_and_updated<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 0);
    let rec = IdentityRecord {
        identity: a.public_key,
        account: a.id,
        since: Day(20_000),
        retired: None,
        revealed: false,
    };
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_identity(&rec).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(
        tx.insert_identity(&rec),
        Err(StoreError::Conflict("identity")),
        "identities_are_recorded_once"
    );
    assert_eq!(tx.identity(&a.public_key).unwrap(), Some(rec));
    assert_eq!(tx.identity(&rand_point()).unwrap(), None);
    let changed = IdentityRecord { retired: Some(Day(20_001)), revealed: true, ..rec };
    tx.update_identity(&changed).unwrap();
    assert_eq!(tx.identity(&a.public_key).unwrap(), Some(changed));
    let unknown = IdentityRecord { identity: rand_point(), ..rec };
    assert_eq!(tx.update_identity(&unknown), Err(StoreError::NotFound("identity")));
}

/// An account's history comes back in order; the newest events of every
/// account too.
pub fn account_events_are_kept_in_order<S: BankStore>(s: &S) {
    use crate::protocol::account::AccountEventKind as K;
    let (a, b) = (account(AccountKind::User, 0), account(AccountKind::User, 0));
    let ev = |t: u64, kind, reason: &str| AccountEvent { at: Timestamp(t), kind, reason: reason.into() };
    let kinds = [K::Registered, K::Frozen, K::Rekeyed, K::Unfrozen, K::AuthKeyRotated];
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_account(&b).unwrap();
        for (i, k) in kinds.iter().enumerate() {
            tx.insert_account_event(&a.id, &ev(i as u64, *k, &format!("reason {i} ünïcode"))).unwrap();
        }
        tx.insert_account_event(&b.id, &ev(9, K::Registered, "b")).unwrap();
    });
    let mut tx = s.begin().unwrap();
    let got = tx.account_events(&a.id).unwrap();
    assert_eq!(got.iter().map(|e| e.kind).collect::<Vec<_>>(), kinds, "account_events_are_kept_in_order");
    assert_eq!(got[1], ev(1, K::Frozen, "reason 1 ünïcode"));
    assert_eq!(tx.account_events(&b.id).unwrap(), vec![ev(9, K::Registered, "b")]);
    let recent = tx.recent_account_events(2).unwrap();
    assert_eq!(
        recent,
        vec![(a.id, ev(4, K::AuthKeyRotated, "reason 4 ünïcode")), (b.id, ev(9, K::Registered, "b"))]
    );
    assert_eq!(tx.recent_account_events(100).unwrap().len(), 6);
}

/// Reservations are stored once, change, and only active ones are listed.
pub fn reservations_round_trip_and_only_active_ones_hold<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 100);
    let r = |expires: u64| Reservation {
        id: ReservationId(rand_bytes()),
        account: a.id,
        amount: 60,
        drawn: 0,
        created: Timestamp(1000),
        expires: Timestamp(expires),
        released: false,
    };
    let (live, lapsing, released) = (r(2000), r(1500), r(2000));
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_reservation(&live).unwrap();
        tx.insert_reservation(&lapsing).unwrap();
        tx.insert_reservation(&released).unwrap();
        tx.update_reservation(&Reservation { released: true, ..released }).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.insert_reservation(&live), Err(StoreError::Conflict("reservation")));
    assert_eq!(tx.reservation(&live.id).unwrap(), Some(live));
    assert!(tx.reservation(&released.id).unwrap().unwrap().released);
    let ids = |v: Vec<Reservation>| v.iter().map(|r| r.id).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(ids(tx.active_reservations(&a.id, Timestamp(1400)).unwrap()), [live.id, lapsing.id].into());
    assert_eq!(ids(tx.active_reservations(&a.id, Timestamp(1500)).unwrap()), [live.id].into());
    let drawn = Reservation { drawn: 48, expires: Timestamp(3000), ..live };
    tx.update_reservation(&drawn).unwrap();
    assert_eq!(tx.reservation(&live.id).unwrap(), Some(drawn));
    let unknown = Reservation { id: ReservationId([0; 16]), ..live };
    assert_eq!(tx.update_reservation(&unknown), Err(StoreError::NotFound("reservation")));
}

/// An account request is recorded once under its id.
pub fn account_requests_are_recorded_once<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 0);
    let rec = AccountRequestRecord {
        account: a.id,
        request_id: rand_bytes(),
        digest: rand_bytes(),
        answer: vec![1, 2, 3],
    };
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_account_request(&rec).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.insert_account_request(&rec), Err(StoreError::Conflict("account request")));
    assert_eq!(tx.account_request(&a.id, &rec.request_id).unwrap(), Some(rec.clone()));
    assert_eq!(tx.account_request(&a.id, &[0; 16]).unwrap(), None);
}

/// A session keeps the reservation it draws on and the identity it was
/// verified against; the open ones of an account are listed; ending one
/// erases its nonces and is refused for a session not open.
pub fn sessions_keep_their_reservation_and_identity_and_end_once<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let mut drawing = session(&a.id, Timestamp(1000), 300, 0);
    drawing.request.reservation = Some(ReservationId(rand_bytes()));
    let plain = session(&a.id, Timestamp(1000), 100, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_session(&drawing).unwrap();
        tx.insert_session(&plain).unwrap();
    });
    let mut tx = s.begin().unwrap();
    let got = tx.session(&drawing.id()).unwrap().unwrap();
    assert_eq!((got.request.reservation, got.identity), (drawing.request.reservation, drawing.identity));
    let open: Vec<SessionId> =
        tx.open_sessions_of(&a.id, Timestamp(1050)).unwrap().iter().map(|s| s.id()).collect();
    assert_eq!(open.len(), 2);
    assert!(open.contains(&drawing.id()) && open.contains(&plain.id()));
    assert_eq!(tx.open_sessions_of(&a.id, Timestamp(1200)).unwrap().len(), 1, "only unexpired ones");
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1050)).unwrap(), 2);
    tx.end_session(&drawing.id()).unwrap();
    assert!(matches!(tx.session(&drawing.id()).unwrap().unwrap().state, SessionState::Expired));
    assert_eq!(tx.end_session(&drawing.id()), Err(StoreError::NotFound("open session")));
    assert_eq!(tx.open_sessions_of(&a.id, Timestamp(1050)).unwrap().len(), 1);
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1050)).unwrap(), 1, "an ended session is not open");
    // Nothing to expire: the ended session is not expired a second time.
    assert_eq!(tx.expire_sessions(Timestamp(5000)).unwrap(), 1);
}

/// The facts added for accounts roll back with their transaction.
pub fn new_facts_roll_back<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let rec = IdentityRecord {
        identity: a.public_key,
        account: a.id,
        since: Day(1),
        retired: None,
        revealed: false,
    };
    commit(s, |tx| tx.insert_account(&a).unwrap());
    let res = Reservation {
        id: ReservationId(rand_bytes()),
        account: a.id,
        amount: 5,
        drawn: 0,
        created: Timestamp(0),
        expires: Timestamp(10),
        released: false,
    };
    let req = AccountRequestRecord { account: a.id, request_id: [3; 16], digest: [4; 32], answer: vec![] };
    {
        let mut tx = s.begin().unwrap();
        tx.insert_identity(&rec).unwrap();
        tx.insert_account_event(
            &a.id,
            &AccountEvent {
                at: Timestamp(1),
                kind: crate::protocol::account::AccountEventKind::Frozen,
                reason: "x".into(),
            },
        )
        .unwrap();
        tx.insert_reservation(&res).unwrap();
        tx.insert_account_request(&req).unwrap();
        tx.set_auth_key(&a.id, &rand_point()).unwrap();
        tx.set_identity(&a.id, &rand_point()).unwrap();
    }
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.identity(&a.public_key).unwrap(), None, "rollback: identity");
    assert!(tx.account_events(&a.id).unwrap().is_empty(), "rollback: events");
    assert_eq!(tx.reservation(&res.id).unwrap(), None, "rollback: reservation");
    assert_eq!(tx.account_request(&a.id, &[3; 16]).unwrap(), None, "rollback: account request");
    assert_eq!(tx.account(&a.id).unwrap(), Some(a), "rollback: keys");
}

/// `insert_account` refuses an existing id.
pub fn account_ids_are_unique<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    commit(s, |tx| tx.insert_account(&a).unwrap());
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.insert_account(&a), Err(StoreError::Conflict("account")), "account_ids_are_unique");
    assert_eq!(tx.account(&a.id).unwrap(), Some(a));
    assert_eq!(tx.account(&AccountId([0; 16])).unwrap(), None);
}

/// Dropping a transaction rolls back everything it did.
pub fn rollback_discards_every_change<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    commit(s, |tx| tx.insert_account(&a).unwrap());
    let sess = session(&a.id, Timestamp(1000), 300, 0);
    let coin = CoinId(rand_bytes());
    {
        let mut tx = s.begin().unwrap();
        tx.set_balance(&a.id, 3).unwrap();
        tx.freeze_account(&a.id).unwrap();
        tx.insert_session(&sess).unwrap();
        record(&mut *tx, [1; 32], &[spent(coin, [1; 32], Day(1))]).unwrap();
        tx.bump_session_epoch().unwrap();
        tx.watch_serial(&rand_point(), "case").unwrap();
        tx.insert_account(&account(AccountKind::Merchant, 0)).unwrap();
        // dropped without commit
    }
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.account(&a.id).unwrap(), Some(a), "rollback: account");
    assert!(tx.session(&sess.id()).unwrap().is_none(), "rollback: session");
    assert!(!tx.commitment_used(&sess.request.commitment).unwrap(), "rollback: commitment");
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1000)).unwrap(), 0, "rollback: open sessions");
    assert!(tx.spent_coin(&coin).unwrap().is_none(), "rollback: spent coin");
    assert!(tx.payment(&[1; 32]).unwrap().is_none(), "rollback: payment");
    assert_eq!(tx.session_epoch().unwrap(), 0, "rollback: epoch");
    assert!(tx.watch_list().unwrap().is_empty(), "rollback: watch list");
    assert_eq!(tx.accounts().unwrap().len(), 1, "rollback: accounts");
}

/// Committed changes are visible to later transactions.
pub fn committed_changes_persist<S: BankStore>(s: &S) {
    let a = account(AccountKind::Merchant, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.set_balance(&a.id, u64::from(u32::MAX) * 4).unwrap();
    });
    commit(s, |tx| tx.freeze_account(&a.id).unwrap());
    let mut tx = s.begin().unwrap();
    let got = tx.account(&a.id).unwrap().unwrap();
    assert_eq!(got.balance, u64::from(u32::MAX) * 4);
    assert!(got.frozen);
    assert_eq!(tx.set_balance(&AccountId([9; 16]), 1), Err(StoreError::NotFound("account")));
}

/// A session id is used once, and so is an attribute commitment `C`.
pub fn session_id_and_commitment_are_unique<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let first = session(&a.id, Timestamp(1000), 300, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_session(&first).unwrap();
    });
    let mut tx = s.begin().unwrap();
    let mut same_id = session(&a.id, Timestamp(1000), 300, 0);
    same_id.request.session_id = first.id();
    assert_eq!(tx.insert_session(&same_id), Err(StoreError::Conflict("session")));
    let mut same_c = session(&a.id, Timestamp(1000), 300, 0);
    same_c.request.commitment = first.request.commitment;
    assert_eq!(tx.insert_session(&same_c), Err(StoreError::Conflict("attribute commitment")));
    assert!(tx.commitment_used(&first.request.commitment).unwrap());
    let got = tx.session(&first.id()).unwrap().unwrap();
    assert_eq!(got.request, first.request);
    assert_eq!(got.commitment, first.commitment);
    assert!(got.state.is_open());
}

/// Answering replaces the open state (with `w`) by the answer, once.
pub fn answering_a_session_erases_its_nonces_once<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let sess = session(&a.id, Timestamp(1000), 300, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_session(&sess).unwrap();
    });
    let SessionState::Open(signer) = sess.state.clone() else { unreachable!() };
    let e = Scalar::random(&mut OsRng);
    let (answered, _) = signer.answer(&Scalar::random(&mut OsRng), &e);
    commit(s, |tx| tx.answer_session(&sess.id(), &answered, Timestamp(1100)).unwrap());
    let mut tx = s.begin().unwrap();
    match tx.session(&sess.id()).unwrap().unwrap().state {
        SessionState::Answered { answered: got, at } => {
            assert_eq!(got, answered);
            assert_eq!(at, Timestamp(1100));
        }
        other => panic!("answering_a_session_erases_its_nonces_once: state {other:?}"),
    }
    assert_eq!(
        tx.answer_session(&sess.id(), &answered, Timestamp(1200)),
        Err(StoreError::Conflict("session answer"))
    );
    assert_eq!(
        tx.answer_session(&SessionId([0; 16]), &answered, Timestamp(1200)),
        Err(StoreError::NotFound("session"))
    );
    assert_eq!(tx.withdrawal_records().unwrap().len(), 1);
}

/// Only open sessions that have not expired count against the limit.
pub fn open_sessions_count_only_open_unexpired<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let b = account(AccountKind::User, 10);
    let first_open = session(&a.id, Timestamp(1000), 300, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_account(&b).unwrap();
        tx.insert_session(&first_open).unwrap();
        tx.insert_session(&session(&a.id, Timestamp(1000), 100, 0)).unwrap();
        tx.insert_session(&session(&b.id, Timestamp(1000), 300, 0)).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1050)).unwrap(), 2);
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1100)).unwrap(), 1);
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1300)).unwrap(), 0);
    assert_eq!(tx.open_sessions(&b.id, Timestamp(1050)).unwrap(), 1);
    drop(tx);
    // Answered and expired sessions no longer count; rolled back, they do.
    let SessionState::Open(signer) = first_open.state.clone() else { unreachable!() };
    let (answered, _) = signer.answer(&Scalar::random(&mut OsRng), &Scalar::random(&mut OsRng));
    {
        let mut tx = s.begin().unwrap();
        tx.answer_session(&first_open.id(), &answered, Timestamp(1010)).unwrap();
        assert_eq!(tx.expire_sessions(Timestamp(1200)).unwrap(), 1);
        assert_eq!(tx.open_sessions(&a.id, Timestamp(1050)).unwrap(), 0);
        assert_eq!(tx.open_sessions(&b.id, Timestamp(1050)).unwrap(), 1, "b's session expires at 1300");
    }
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.open_sessions(&a.id, Timestamp(1050)).unwrap(), 2, "rolled back");
    assert_eq!(tx.open_sessions(&b.id, Timestamp(1050)).unwrap(), 1, "rolled back");
}

/// Expiring marks open, expired sessions and drops their nonces.
pub fn expiring_sessions_erases_their_nonces<S: BankStore>(s: &S) {
    let a = account(AccountKind::User, 10);
    let old = session(&a.id, Timestamp(1000), 100, 0);
    let fresh = session(&a.id, Timestamp(1000), 500, 0);
    commit(s, |tx| {
        tx.insert_account(&a).unwrap();
        tx.insert_session(&old).unwrap();
        tx.insert_session(&fresh).unwrap();
    });
    commit(s, |tx| assert_eq!(tx.expire_sessions(Timestamp(1200)).unwrap(), 1));
    let mut tx = s.begin().unwrap();
    assert!(matches!(tx.session(&old.id()).unwrap().unwrap().state, SessionState::Expired));
    assert!(tx.session(&fresh.id()).unwrap().unwrap().state.is_open());
    assert!(tx.commitment_used(&old.request.commitment).unwrap(), "an expired C stays used");
}

/// A `coin_id` is recorded once.
pub fn spent_coin_ids_are_unique<S: BankStore>(s: &S) {
    let id = CoinId(rand_bytes());
    let rec = spent(id, [2; 32], Day(30_000));
    commit(s, |tx| assert_eq!(record(tx, [2; 32], std::slice::from_ref(&rec)).unwrap(), new_unwatched(1)));
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.spent_coin(&id).unwrap(), Some(rec.clone()));
    let mut again = spent(id, [4; 32], Day(30_000));
    again.challenge = Scalar::random(&mut OsRng);
    assert_eq!(record(&mut *tx, [4; 32], &[again]).unwrap(), vec![SpendOutcome::Spent(rec.clone())]);
    assert_eq!(tx.spent_coin(&id).unwrap(), Some(rec), "the first record stays");
    assert_eq!(tx.spent_coin_count().unwrap(), 1);
    assert_eq!(tx.payment(&[4; 32]).unwrap(), None, "a payment with no new coin is not stored");
}

/// A batch holding one `coin_id` twice (two different spends) records the
/// first; the second is answered with the first's record, as if the coins
/// were recorded one at a time.
pub fn a_coin_twice_in_one_batch_is_recorded_once<S: BankStore>(s: &S) {
    let id = CoinId(rand_bytes());
    let (first, other) = (spent(id, [2; 32], Day(30_000)), spent(CoinId(rand_bytes()), [2; 32], Day(30_000)));
    let mut second = spent(id, [2; 32], Day(30_000));
    second.coin_index = 3;
    let coins = [first.clone(), second, other.clone(), first.clone()];
    commit(s, |tx| {
        let outcomes = record(tx, [2; 32], &coins).unwrap();
        let again = SpendOutcome::Spent(first.clone());
        assert_eq!(
            outcomes,
            vec![new_unwatched(1)[0].clone(), again.clone(), new_unwatched(1)[0].clone(), again]
        );
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.spent_coin(&id).unwrap(), Some(first), "the first spend is the record");
    assert_eq!(tx.spent_coin(&other.coin_id).unwrap(), Some(other));
    assert_eq!(tx.spent_coin_count().unwrap(), 2, "a_coin_twice_in_one_batch_is_recorded_once");
}

/// One batch of new, already spent and watched coins from three payments:
/// one outcome per coin in order; the payment whose only coin was spent
/// before is not stored; a coin whose payment is not given is refused
/// before anything is written.
pub fn a_batch_mixes_new_spent_and_watched_coins<S: BankStore>(s: &S) {
    let (p_new, p_spent, p_old) = ([11; 32], [12; 32], [13; 32]);
    let old = spent(CoinId(rand_bytes()), p_old, Day(30_000));
    let fresh = spent(CoinId(rand_bytes()), p_new, Day(30_000));
    let watched = spent(CoinId(rand_bytes()), p_new, Day(30_000));
    let mut respent = spent(old.coin_id, p_spent, Day(30_000));
    respent.merchant = fresh.merchant;
    commit(s, |tx| {
        assert_eq!(record(tx, p_old, std::slice::from_ref(&old)).unwrap(), new_unwatched(1));
        tx.watch_serial(&watched.serial, "case-m").unwrap();
    });
    let (pay_new, pay_spent) = (dummy_payment(), dummy_payment());
    let coins = [fresh.clone(), respent.clone(), watched.clone()];
    commit(s, |tx| {
        let missing = tx.insert_spent_coins(&[(p_new, &pay_new)], &coins);
        assert_eq!(missing, Err(StoreError::NotFound("payment of a spent coin")));
        let outcomes = tx.insert_spent_coins(&[(p_new, &pay_new), (p_spent, &pay_spent)], &coins).unwrap();
        assert_eq!(
            outcomes,
            vec![
                SpendOutcome::New { watched: None },
                SpendOutcome::Spent(old.clone()),
                SpendOutcome::New { watched: Some("case-m".into()) },
            ]
        );
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.spent_coin(&fresh.coin_id).unwrap(), Some(fresh));
    assert_eq!(tx.spent_coin(&watched.coin_id).unwrap(), Some(watched));
    assert_eq!(tx.spent_coin(&old.coin_id).unwrap(), Some(old), "the earlier spend stays the record");
    assert_eq!(tx.spent_coin_count().unwrap(), 3);
    assert_eq!(tx.payment(&p_new).unwrap(), Some(pay_new), "the payment of new coins is stored");
    assert_eq!(tx.payment(&p_spent).unwrap(), None, "a_batch_mixes_new_spent_and_watched_coins");
}

/// Listing spent coins: latest receipt day first, then by coin id; one
/// merchant's when asked; never more than the limit.
pub fn spent_coins_list_latest_first_per_merchant_and_bounded<S: BankStore>(s: &S) {
    let shop = AccountId(rand_bytes());
    let mut recs: Vec<SpentCoin> = (0..5u32)
        .map(|i| {
            let mut r = spent(CoinId(rand_bytes()), [3; 32], Day(30_000));
            r.receipt_day = Day(20_000 + i % 3);
            if i % 2 == 0 {
                r.merchant = shop;
            }
            r
        })
        .collect();
    commit(s, |tx| assert_eq!(record(tx, [3; 32], &recs).unwrap(), new_unwatched(5)));
    recs.sort_by(|a, b| b.receipt_day.cmp(&a.receipt_day).then(a.coin_id.cmp(&b.coin_id)));
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.spent_coins(None, 100).unwrap(), recs);
    assert_eq!(tx.spent_coins(None, 2).unwrap(), recs[..2].to_vec());
    let of_shop: Vec<SpentCoin> = recs.iter().filter(|r| r.merchant == shop).cloned().collect();
    assert_eq!(of_shop.len(), 3);
    assert_eq!(tx.spent_coins(Some(&shop), 100).unwrap(), of_shop);
    assert_eq!(tx.spent_coins(Some(&AccountId(rand_bytes())), 100).unwrap(), vec![]);
    assert_eq!(tx.spent_coins(None, 0).unwrap(), vec![]);
}

fn dummy_payment() -> Payment {
    // The store does not verify payments; any well-formed value will do.
    use crate::crypto::range::ExpiryProof;
    let proof_bytes = {
        let mut b = vec![0u8; 17 * 32];
        // A valid encoding needs canonical points and scalars: use the
        // identity point (all zeros) and zero scalars.
        b.iter_mut().for_each(|x| *x = 0);
        b
    };
    Payment {
        request: crate::protocol::pay::PaymentRequest {
            merchant_id: AccountId(rand_bytes()),
            merchant_key: rand_point(),
            amount: 1,
            day: Day(20_000),
            nonce: rand_bytes(),
            order_digest: [0; 32],
        },
        coins: vec![],
        range_proof: ExpiryProof::from_bytes(&proof_bytes).expect("zero proof parses"),
        responses: vec![],
    }
}

/// Payments are stored once per digest and read back.
pub fn payments_are_stored_once_by_digest<S: BankStore>(s: &S) {
    let p = dummy_payment();
    commit(s, |tx| {
        tx.insert_payment(&[5; 32], &p).unwrap();
        tx.insert_payment(&[5; 32], &p).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.payment(&[5; 32]).unwrap(), Some(p));
    assert_eq!(tx.payment(&[6; 32]).unwrap(), None);
}

/// Pruning deletes records whose `prune_after` is before today, only.
pub fn pruning_removes_only_expired_records<S: BankStore>(s: &S) {
    let old = CoinId(rand_bytes());
    let edge = CoinId(rand_bytes());
    let young = CoinId(rand_bytes());
    commit(s, |tx| {
        let coins =
            [spent(old, [7; 32], Day(99)), spent(edge, [7; 32], Day(100)), spent(young, [7; 32], Day(200))];
        record(tx, [7; 32], &coins).unwrap();
    });
    commit(s, |tx| assert_eq!(tx.prune_spent_coins(Day(100)).unwrap(), 1));
    let mut tx = s.begin().unwrap();
    assert!(tx.spent_coin(&old).unwrap().is_none());
    assert!(tx.spent_coin(&edge).unwrap().is_some());
    assert!(tx.spent_coin(&young).unwrap().is_some());
}

/// Evidence (real double spends, with and without an identified account)
/// and watch-list entries read back as written; evidence read back still
/// identifies the spender.
pub fn evidence_and_watch_list_round_trip<S: BankStore>(s: &S, o: &objects::Objects) {
    let serial = rand_point();
    let identified =
        EvidenceRecord { evidence: o.double_spend(), account: Some(o.user.account()), recorded: Day(20_790) };
    let unregistered = EvidenceRecord { evidence: o.double_spend(), account: None, recorded: Day(20_791) };
    assert_eq!(s.begin().unwrap().evidence_count().unwrap(), 0);
    commit(s, |tx| {
        tx.watch_serial(&serial, "case-1").unwrap();
        tx.watch_serial(&serial, "case-2").unwrap();
        tx.insert_evidence(&identified).unwrap();
    });
    commit(s, |tx| tx.insert_evidence(&unregistered).unwrap());
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.watched_serial(&serial).unwrap().as_deref(), Some("case-2"));
    assert_eq!(tx.watched_serial(&rand_point()).unwrap(), None);
    assert_eq!(tx.watch_list().unwrap().len(), 1);
    let stored: Vec<EvidenceRecord> =
        tx.evidence_after(0, 10).unwrap().into_iter().map(|e| e.record).collect();
    assert_eq!(stored, vec![identified.clone(), unregistered], "evidence in recording order");
    let who = identified.evidence.verify(&o.keyset, &mut OsRng).expect("stored evidence verifies");
    assert_eq!(who.identity, *o.user.identity().identity());
}

fn evidence(coin: CoinId) -> EvidenceRecord {
    EvidenceRecord {
        evidence: DoubleSpendEvidence {
            coin_id: coin,
            first: dummy_payment(),
            first_index: 0,
            second: dummy_payment(),
            second_index: 0,
        },
        account: Some(AccountId(rand_bytes())),
        recorded: Day(20_002),
    }
}

/// Evidence is stored once per coin; read back by coin and in pages after
/// a cursor, in the order it was recorded; a rolled-back insert leaves no
/// trace and uses no sequence number a reader could skip.
pub fn evidence_is_stored_once_per_coin_in_order<S: BankStore>(s: &S) {
    let (a, b, c) =
        (evidence(CoinId(rand_bytes())), evidence(CoinId(rand_bytes())), evidence(CoinId(rand_bytes())));
    {
        let mut tx = s.begin().unwrap();
        assert_eq!(tx.evidence_count().unwrap(), 0);
        assert!(tx.evidence_after(0, 10).unwrap().is_empty());
    }
    commit(s, |tx| tx.insert_evidence(&a).unwrap());
    {
        let mut tx = s.begin().unwrap();
        tx.insert_evidence(&c).unwrap();
        // dropped: rolled back
    }
    commit(s, |tx| {
        assert_eq!(tx.insert_evidence(&a), Err(StoreError::Conflict("evidence")), "once per coin");
    });
    commit(s, |tx| tx.insert_evidence(&b).unwrap());
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.evidence_count().unwrap(), 2);
    assert_eq!(tx.evidence_of(&a.evidence.coin_id).unwrap(), Some(a.clone()));
    assert_eq!(tx.evidence_of(&c.evidence.coin_id).unwrap(), None);
    let all = tx.evidence_after(0, 10).unwrap();
    assert_eq!(all.iter().map(|e| &e.record).collect::<Vec<_>>(), vec![&a, &b]);
    assert!(all[0].seq >= 1 && all[0].seq < all[1].seq, "sequence numbers grow");
    assert_eq!(tx.evidence_after(0, 1).unwrap(), all[..1].to_vec(), "limit");
    assert_eq!(tx.evidence_after(all[0].seq, 10).unwrap(), all[1..].to_vec(), "after a cursor");
    assert!(tx.evidence_after(all[1].seq, 10).unwrap().is_empty());
}

/// Keysets come back in sequence order; a sequence is used once.
pub fn keysets_are_ordered_and_unique<S: BankStore>(s: &S) {
    use crate::keys::{BankSecrets, KeysetPolicy, KeysetSpec};
    let mut secrets = BankSecrets::generate(&mut OsRng);
    let spec = KeysetSpec {
        exponents: 0..=1,
        withdraw_from: Day(20_000),
        withdraw_days: 10,
        policy: KeysetPolicy::default(),
    };
    let k0 = secrets.issue_keyset(None, rand_point(), &spec, &mut OsRng).unwrap();
    let k1 = secrets.issue_keyset(Some(&k0), rand_point(), &spec, &mut OsRng).unwrap();
    commit(s, |tx| {
        tx.insert_keyset(k1.signed()).unwrap();
        tx.insert_keyset(k0.signed()).unwrap();
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.keysets().unwrap(), vec![k0.signed().clone(), k1.signed().clone()]);
    assert_eq!(tx.insert_keyset(k0.signed()), Err(StoreError::Conflict("keyset sequence")));
}

/// The session epoch starts at 0 and bumps by one.
pub fn session_epoch_bumps<S: BankStore>(s: &S) {
    commit(s, |tx| {
        assert_eq!(tx.session_epoch().unwrap(), 0);
        assert_eq!(tx.bump_session_epoch().unwrap(), 1);
        assert_eq!(tx.session_epoch().unwrap(), 1, "the bumping transaction reads its bump");
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.session_epoch().unwrap(), 1);
}

/// Recording coins answers, per new coin, the watch-list case of its
/// serial; asking after the record answers for that serial and sees a
/// watch added in between.
pub fn watch_list_answers_right_after_a_coin_is_recorded<S: BankStore>(s: &S) {
    let coin = || spent(CoinId(rand_bytes()), [3; 32], Day(9));
    let (watched, plain, later) = (coin(), coin(), coin());
    commit(s, |tx| tx.watch_serial(&watched.serial, "case-w").unwrap());
    commit(s, |tx| {
        let outcomes = record(tx, [3; 32], &[watched.clone(), plain.clone()]).unwrap();
        assert_eq!(
            outcomes,
            vec![SpendOutcome::New { watched: Some("case-w".into()) }, SpendOutcome::New { watched: None }]
        );
        assert_eq!(tx.watched_serial(&watched.serial).unwrap().as_deref(), Some("case-w"), "another serial");
        assert_eq!(tx.watched_serial(&plain.serial).unwrap(), None);
        assert_eq!(record(tx, [3; 32], std::slice::from_ref(&later)).unwrap(), new_unwatched(1));
        tx.watch_serial(&later.serial, "case-l").unwrap();
        assert_eq!(tx.watched_serial(&later.serial).unwrap().as_deref(), Some("case-l"), "watched since");
    });
}

/// A deposit receipt is stored once per `(merchant, request_id)`.
pub fn deposit_receipts_are_stored_once<S: BankStore>(s: &S) {
    use crate::protocol::deposit::DepositReceipt;
    let receipt = DepositReceipt {
        request_id: rand_bytes(),
        merchant_id: AccountId(rand_bytes()),
        request_digest: [1; 32],
        receipt_day: Day(20_001),
        credited: 0,
        payments: vec![crate::protocol::deposit::PaymentOutcome::Deferred],
        outcomes: vec![],
        keyset_id: KeysetId(rand_bytes()),
        signature: crate::crypto::schnorr::Signature { r: rand_point(), s: Scalar::random(&mut OsRng) },
    };
    commit(s, |tx| tx.insert_deposit_receipt(&[1; 32], &receipt).unwrap());
    let mut tx = s.begin().unwrap();
    assert_eq!(
        tx.deposit_receipt(&receipt.merchant_id, &receipt.request_id).unwrap(),
        Some(([1; 32], receipt.clone()))
    );
    assert_eq!(tx.deposit_receipt(&AccountId([3; 16]), &receipt.request_id).unwrap(), None);
    assert_eq!(tx.insert_deposit_receipt(&[2; 32], &receipt), Err(StoreError::Conflict("deposit request")));
}

/// Threads that each check-then-insert one `coin_id` and add to one balance
/// in a transaction (retrying on `Retry` and `Conflict`, as the bank does)
/// record the coin once and credit once.
pub fn concurrent_transactions_never_record_a_coin_twice<S: BankStore>(s: &S) {
    let m = account(AccountKind::Merchant, 0);
    let coin = CoinId(rand_bytes());
    commit(s, |tx| {
        tx.insert_account(&m).unwrap();
        tx.insert_payment(&[9; 32], &dummy_payment()).unwrap();
    });
    let credited = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _attempt in 0..200 {
                    let Ok(mut tx) = s.begin() else { continue };
                    let step = (|| -> StoreResult<bool> {
                        // The record is the check: no lookup before it.
                        let mine = spent(coin, [9; 32], Day(30_000));
                        if let [SpendOutcome::Spent(_)] = record(&mut *tx, [9; 32], &[mine])?[..] {
                            return Ok(false);
                        }
                        let b = tx.account(&m.id)?.ok_or(StoreError::NotFound("account"))?.balance;
                        tx.set_balance(&m.id, b + 5)?;
                        Ok(true)
                    })();
                    match step {
                        Ok(won) => match tx.commit() {
                            Ok(()) => {
                                if won {
                                    credited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                }
                                return;
                            }
                            Err(StoreError::Retry) | Err(StoreError::Conflict(_)) => continue,
                            Err(e) => panic!("commit: {e}"),
                        },
                        Err(StoreError::Retry) | Err(StoreError::Conflict(_)) => continue,
                        Err(e) => panic!("concurrent_transactions_never_record_a_coin_twice: {e}"),
                    }
                }
                panic!("no attempt succeeded");
            });
        }
    });
    assert_eq!(credited.load(std::sync::atomic::Ordering::SeqCst), 1, "one thread records the coin");
    let mut tx = s.begin().unwrap();
    assert_eq!(tx.account(&m.id).unwrap().unwrap().balance, 5, "credited once");
    assert_eq!(tx.spent_coin_count().unwrap(), 1);
}

/// Sixteen threads each credit a different coin to one merchant, each in
/// its own transaction (retrying on `Retry` and `Conflict`, as the bank
/// does), started together: every credit lands, the balance is exactly
/// 16 × value. On PostgreSQL the threads hold sixteen connections at once,
/// so a lost update (a read balance overwritten by a concurrent commit)
/// would show here.
pub fn concurrent_credits_of_different_coins_all_land<S: BankStore>(s: &S) {
    const THREADS: usize = 16;
    const VALUE: u64 = 64;
    let m = account(AccountKind::Merchant, 0);
    commit(s, |tx| {
        tx.insert_account(&m).unwrap();
        tx.insert_payment(&[8; 32], &dummy_payment()).unwrap();
    });
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let coin = CoinId(rand_bytes());
                start.wait();
                for _attempt in 0..500 {
                    let Ok(mut tx) = s.begin() else { continue };
                    let step = (|| -> StoreResult<()> {
                        assert!(tx.spent_coin(&coin)?.is_none(), "each thread's coin is its own");
                        let mut rec = spent(coin, [8; 32], Day(30_000));
                        rec.value = VALUE;
                        assert_eq!(record(&mut *tx, [8; 32], &[rec])?, new_unwatched(1));
                        let b = tx.account(&m.id)?.ok_or(StoreError::NotFound("account"))?.balance;
                        tx.set_balance(&m.id, b + VALUE)
                    })();
                    match step.and_then(|()| tx.commit()) {
                        Ok(()) => return,
                        Err(StoreError::Retry) | Err(StoreError::Conflict(_)) => continue,
                        Err(e) => panic!("concurrent_credits_of_different_coins_all_land: {e}"),
                    }
                }
                panic!("concurrent_credits_of_different_coins_all_land: no attempt committed");
            });
        }
    });
    let mut tx = s.begin().unwrap();
    assert_eq!(
        tx.account(&m.id).unwrap().unwrap().balance,
        THREADS as u64 * VALUE,
        "concurrent_credits_of_different_coins_all_land: a credit was lost"
    );
    assert_eq!(tx.spent_coin_count().unwrap(), THREADS as u64);
}

/// A spent-coin record is on no list until a publication; a publication
/// gives every unpublished record the next sequence, once (a later one
/// leaves it as it is); the list of a denomination key as of `N` holds
/// exactly its records with `published <= N`, by coin id, in pages; a
/// rolled-back publication changes nothing.
pub fn spent_lists_are_published_once_per_key_in_pages<S: BankStore>(s: &S) {
    let (k1, k2) = (KeysetId([1; 32]), KeysetId([2; 32]));
    let coin = |keyset: KeysetId, value: u64| SpentCoin {
        keyset,
        value,
        ..spent(CoinId(rand_bytes()), [5; 32], Day(9))
    };
    let first: Vec<SpentCoin> = (0..5).map(|_| coin(k1, 4)).chain([coin(k1, 8), coin(k2, 4)]).collect();
    commit(s, |tx| {
        record(tx, [5; 32], &first).unwrap();
        assert_eq!(tx.spent_publication().unwrap(), SpentPublication { sequence: 0, at: Timestamp(0) });
        assert_eq!(tx.spent_list(&k1, 4, 0, 0, 100).unwrap(), (0, vec![]), "nothing published yet");
        assert_eq!(tx.spent_published(&[first[0].coin_id]).unwrap(), vec![Some(None)]);
    });
    {
        let mut tx = s.begin().unwrap();
        tx.publish_spent(Timestamp(50)).unwrap();
        drop(tx);
        let mut tx = s.begin().unwrap();
        assert_eq!(tx.spent_publication().unwrap().sequence, 0, "rollback: publication");
        assert_eq!(tx.spent_published(&[first[0].coin_id]).unwrap(), vec![Some(None)], "rollback: row");
    }
    commit(s, |tx| {
        assert_eq!(
            tx.publish_spent(Timestamp(100)).unwrap(),
            SpentPublication { sequence: 1, at: Timestamp(100) }
        );
    });
    let later = [coin(k1, 4), coin(k1, 4)];
    commit(s, |tx| {
        assert_eq!(tx.spent_publication().unwrap(), SpentPublication { sequence: 1, at: Timestamp(100) });
        record(tx, [5; 32], &later).unwrap();
    });
    let mut expect1: Vec<(CoinId, u64)> = first[..5].iter().map(|c| (c.coin_id, 1)).collect();
    expect1.sort();
    commit(s, |tx| {
        assert_eq!(tx.spent_list(&k1, 4, 1, 0, 100).unwrap(), (5, expect1.clone()), "as of 1");
        assert_eq!(tx.spent_list(&k1, 8, 1, 0, 100).unwrap(), (1, vec![(first[5].coin_id, 1)]));
        assert_eq!(tx.spent_list(&k2, 4, 1, 0, 100).unwrap(), (1, vec![(first[6].coin_id, 1)]));
        assert_eq!(tx.spent_list(&k2, 8, 1, 0, 100).unwrap(), (0, vec![]));
        assert_eq!(tx.publish_spent(Timestamp(200)).unwrap().sequence, 2);
    });
    let mut expect2 = expect1.clone();
    expect2.extend(later.iter().map(|c| (c.coin_id, 2)));
    expect2.sort();
    let mut tx = s.begin().unwrap();
    assert_eq!(
        tx.publish_spent(Timestamp(300)).unwrap(),
        SpentPublication { sequence: 2, at: Timestamp(200) },
        "nothing new: no publication"
    );
    assert_eq!(tx.spent_list(&k1, 4, 1, 0, 100).unwrap(), (5, expect1), "the list as of 1 is unchanged");
    assert_eq!(
        tx.spent_list(&k1, 4, 2, 0, 100).unwrap(),
        (7, expect2.clone()),
        "a record keeps its sequence"
    );
    let pages: Vec<(CoinId, u64)> =
        (0..3).flat_map(|p| tx.spent_list(&k1, 4, 2, p * 3, 3).unwrap().1).collect();
    assert_eq!(pages, expect2, "pages of 3 make up the list");
    assert_eq!(
        tx.spent_published(&[later[0].coin_id, first[0].coin_id, CoinId([0; 32])]).unwrap(),
        vec![Some(Some(2)), Some(Some(1)), None]
    );
}

/// Publications running while deposits commit: every coin ends on the
/// lists exactly once, and a coin's sequence never changes once set.
pub fn publications_racing_deposits_publish_every_coin_once<S: BankStore>(s: &S) {
    const WRITERS: usize = 4;
    const COINS: usize = 12;
    let keyset = KeysetId([7; 32]);
    let retry = |f: &mut dyn FnMut(&mut dyn BankTx) -> StoreResult<()>| {
        for _ in 0..500 {
            let Ok(mut tx) = s.begin() else { continue };
            match f(&mut *tx).and_then(|()| tx.commit()) {
                Ok(()) => return,
                Err(StoreError::Retry) | Err(StoreError::Conflict(_)) => continue,
                Err(e) => panic!("publications_racing_deposits: {e}"),
            }
        }
        panic!("publications_racing_deposits: no attempt committed");
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let seen = std::sync::Mutex::new(std::collections::HashMap::<CoinId, u64>::new());
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                for _ in 0..COINS {
                    let rec = SpentCoin { keyset, ..spent(CoinId(rand_bytes()), [6; 32], Day(30_000)) };
                    retry(&mut |tx| record(tx, [6; 32], std::slice::from_ref(&rec)).map(drop));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        scope.spawn(|| loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
            let mut n = 0;
            retry(&mut |tx| {
                n = tx.publish_spent(Timestamp(1))?.sequence;
                Ok(())
            });
            let mut tx = s.begin().unwrap();
            let (_, list) = tx.spent_list(&keyset, 4, n, 0, usize::MAX).unwrap();
            let mut seen = seen.lock().unwrap();
            for (id, p) in list {
                assert!(p <= n, "a listed coin is published at most at the list's sequence");
                assert_eq!(*seen.entry(id).or_insert(p), p, "a coin was published twice");
            }
            if finished {
                break;
            }
        });
    });
    let mut tx = s.begin().unwrap();
    let n = tx.spent_publication().unwrap().sequence;
    let (total, _) = tx.spent_list(&keyset, 4, n, 0, 0).unwrap();
    assert_eq!(total, (WRITERS * COINS) as u64, "a coin was never published");
    assert_eq!(seen.lock().unwrap().len(), WRITERS * COINS);
}
