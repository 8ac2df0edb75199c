//! The races the stores' guards are for (specs/protocol.md §10.1), provoked
//! with many threads at once against one bank: on PostgreSQL each thread's
//! transactions run on a connection of their own (real parallel
//! transactions); on SQLite and in memory the store serializes them, and the
//! same properties hold.
//!
//! - many openings for one account at once, over the open-session limit:
//!   exactly the limit is opened (the account row lock);
//! - many different challenges for one session at once: exactly one is
//!   answered, the account debited once (the session row lock and the
//!   conditional answer update);
//! - one coin in many deposit requests at once: credited once, every other
//!   deposit a duplicate (the unique insert of `coin_id`).
mod common;

use std::sync::Barrier;

use common::*;
use curve25519_dalek::scalar::Scalar;
use faircash::protocol::deposit::{DepositOutcome, DepositRequest};
use faircash::protocol::withdraw::{WithdrawChallenge, WithdrawOutcome};
use faircash::protocol::Error;
use faircash::roles::BankConfig;
use faircash::store::memory::MemoryBankStore;
use faircash::store::postgres::PostgresBankStore;
use faircash::store::sqlite::SqliteBankStore;
use faircash::store::BankStore;
use faircash::time::Clock;
use rand::rngs::OsRng;

/// Threads racing in each test.
const RACERS: usize = 16;

/// Runs `f(i)` on `RACERS` threads released at once; the results in order.
fn race<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(RACERS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn openings_for_one_account_stop_at_the_limit<S: BankStore>(w: &World<S>) {
    let limit = w.bank.config().max_open_sessions;
    assert!(RACERS > limit);
    let alice = w.user(1000);
    let requests: Vec<_> = (0..RACERS).map(|_| alice.start_withdrawal(1, &mut OsRng).unwrap()).collect();
    let results = race(|i| w.bank.open_withdrawal(&requests[i], &mut OsRng));
    let opened = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        assert!(matches!(r, Ok(_) | Err(Error::SessionLimit { .. })), "{r:?}");
    }
    assert_eq!(opened, limit, "openings past the limit of open sessions");
    let mut tx = w.bank.store().begin().unwrap();
    assert_eq!(tx.open_sessions(&alice.account_id(), w.clock.now()).unwrap(), limit);
}

fn one_session_answers_one_of_many_challenges<S: BankStore>(w: &World<S>) {
    let alice = w.user(100);
    let req = alice.start_withdrawal(8, &mut OsRng).unwrap();
    let cm = w.bank.open_withdrawal(&req, &mut OsRng).unwrap();
    let ch = alice.receive_commitment(&cm, &mut OsRng).unwrap();
    // Every racer sends another challenge for the session (each signed by
    // the account holder): answering two would reveal the key x_k.
    let challenges: Vec<WithdrawChallenge> = (0..RACERS)
        .map(|i| {
            WithdrawChallenge::new(
                ch.session_id,
                ch.commitment_digest,
                ch.e + Scalar::from(i as u64),
                alice.keys(),
                &mut OsRng,
            )
        })
        .collect();
    let results = race(|i| w.bank.answer_withdrawal(&challenges[i]));
    let mut answered = 0;
    for r in &results {
        match r {
            Ok(a) if matches!(a.outcome, WithdrawOutcome::Answered(_)) => answered += 1,
            Err(Error::ChallengeMismatch) => {}
            other => panic!("neither answered nor refused: {other:?}"),
        }
    }
    assert_eq!(answered, 1, "one session answered {answered} challenges");
    assert_eq!(w.balance(&alice.account_id()), 92, "debited once");
}

fn one_coin_in_many_deposits_is_credited_once<S: BankStore>(w: &World<S>) {
    let alice = w.user(100);
    let (shop, key) = w.merchant_with_key();
    alice.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap();
    let req = shop.request_payment(8, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();
    // Each racer its own signed request over the same payment.
    let requests: Vec<DepositRequest> = (0..RACERS)
        .map(|_| DepositRequest::new(&key, shop.id(), vec![payment.clone()], &mut OsRng))
        .collect();
    let results = race(|i| w.bank.deposit(&requests[i], &mut OsRng).unwrap().outcomes[0].outcome);
    let credited = results.iter().filter(|o| matches!(o, DepositOutcome::Credited { value: 8 })).count();
    let duplicates = results.iter().filter(|o| **o == DepositOutcome::Duplicate).count();
    assert_eq!((credited, duplicates), (1, RACERS - 1), "{results:?}");
    assert_eq!(w.balance(&shop.id()), 8, "credited once");
    assert_eq!(w.balance(&alice.account_id()), 92, "money conserved");
}

fn world<S: BankStore>(store: S) -> World<S> {
    World::on_store(store, BankConfig::default())
}

fn sqlite(dir: &tempfile::TempDir) -> SqliteBankStore {
    SqliteBankStore::open(dir.path().join("bank.db")).unwrap()
}

/// A bank store in a fresh schema of the `FAIRCASH_TEST_POSTGRES`
/// database, when it is set (the PostgreSQL races are skipped otherwise).
fn postgres(name: &str) -> Option<PostgresBankStore> {
    let url = postgres_url("the PostgreSQL races")?;
    let schema = format!("races_{}_{name}", std::process::id());
    let store = PostgresBankStore::open_in_schema(&url, Some(&schema)).unwrap();
    // One pooled connection per racer, connected before the race: the
    // racers' transactions then start together instead of one connection
    // set-up apart.
    let warm: Vec<_> = (0..RACERS).map(|_| store.begin().unwrap()).collect();
    drop(warm);
    Some(store)
}

#[test]
fn memory_store_wins_the_races() {
    openings_for_one_account_stop_at_the_limit(&world(MemoryBankStore::new()));
    one_session_answers_one_of_many_challenges(&world(MemoryBankStore::new()));
    one_coin_in_many_deposits_is_credited_once(&world(MemoryBankStore::new()));
}

#[test]
fn sqlite_store_wins_the_races() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    openings_for_one_account_stop_at_the_limit(&world(sqlite(&dirs[0])));
    one_session_answers_one_of_many_challenges(&world(sqlite(&dirs[1])));
    one_coin_in_many_deposits_is_credited_once(&world(sqlite(&dirs[2])));
}

#[test]
fn postgres_openings_for_one_account_stop_at_the_limit() {
    if let Some(store) = postgres("open") {
        openings_for_one_account_stop_at_the_limit(&world(store));
    }
}

#[test]
fn postgres_session_answers_one_of_many_challenges() {
    if let Some(store) = postgres("answer") {
        one_session_answers_one_of_many_challenges(&world(store));
    }
}

#[test]
fn postgres_coin_in_many_deposits_is_credited_once() {
    if let Some(store) = postgres("deposit") {
        one_coin_in_many_deposits_is_credited_once(&world(store));
    }
}
