//! Wallets whose secrets come from a recovery phrase (specs/protocol.md
//! §7.6): every withdrawal's values follow from the phrase, the bank's key,
//! the keyset and a counter burned once, so the coins can be rebuilt from
//! the phrase and the bank's stored transcripts alone.
mod common;

use std::sync::Arc;

use common::*;
use faircash::crypto::derive::{RecoveryPhrase, SeedMismatch, WalletSeed};
use faircash::protocol::withdraw::{SessionId, WithdrawAnswer, WithdrawCommitment, WithdrawStart};
use faircash::protocol::Error;
use faircash::roles::Wallet;
use faircash::store::memory::MemoryWalletStore;
use faircash::store::{BankStore, SessionState, WalletStore};
use rand::rngs::OsRng;

/// A registered wallet of `seed` (epoch 0) funded with `funds`.
fn seeded_user(w: &World, seed: &WalletSeed, funds: u64) -> TestWallet {
    let keys = seed.account_keys(&w.bank.master_key(), 0);
    let mut wallet =
        Wallet::new(keys, w.bank.master_key(), MemoryWalletStore::new(), Arc::new(w.clock.clone()))
            .with_seed(seed)
            .unwrap();
    wallet.pin_keysets(&w.bank.published_keysets()).unwrap();
    wallet.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    let id = w.bank.register_user(&wallet.registration(&mut OsRng), &mut OsRng).unwrap();
    w.bank.fund(&id, funds).unwrap();
    wallet
}

#[test]
fn every_coin_is_rebuilt_from_the_phrase_and_the_banks_transcript() {
    let w = World::new();
    let phrase = RecoveryPhrase::generate(&mut OsRng);
    let seed = phrase.seed();
    let alice = seeded_user(&w, &seed, 20);
    let keyset = w.keyset();
    // A withdrawal of several coins (reserved), one of one coin, and one
    // refused at open (its counter is burned without a session).
    let mut withdrawn = alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    withdrawn.push(alice.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap());
    assert!(matches!(alice.withdraw_one(&*w.bank, 16, &mut OsRng), Err(Error::InsufficientBalance { .. })));
    withdrawn.push(alice.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap());
    assert_eq!(alice.balance().unwrap(), 19);
    // Counters 0..=5 are burned: 4, 2, 1, 8, the refused 16, 4.
    assert_eq!(alice.store().burn_counter(&keyset.id()).unwrap(), 6);

    // Another device with the phrase alone: the same keys, and each
    // counter's session rebuilds the coin from what the bank stored.
    let again = RecoveryPhrase::parse(phrase.expose_secret()).unwrap().seed();
    let keys = again.account_keys(&w.bank.master_key(), 0);
    assert_eq!(keys.account(), alice.account_id());
    let root = again.account_root(&w.bank.master_key(), 0);
    let mut rebuilt = Vec::new();
    let mut gaps = Vec::new();
    for n in 0..8u64 {
        let coin = root.coin(&keyset.id(), n);
        let session_id = SessionId(coin.session_id());
        let Some(session) = w.bank.store().begin().unwrap().session(&session_id).unwrap() else {
            gaps.push(n);
            continue;
        };
        let start =
            WithdrawStart::rebuild(&keys, &keyset, coin, &session.request).expect("C matches its counter");
        // The commitment as the bank signed it (the same request gets the
        // stored commitment, signed anew).
        let signed: WithdrawCommitment = w.bank.open_withdrawal(&session.request, &mut OsRng).unwrap();
        assert_eq!(signed.commitment, session.commitment);
        let pending = start.receive_commitment(&keys, &signed, &mut OsRng).unwrap();
        let SessionState::Answered { answered, .. } = session.state else { panic!("session {n} answered") };
        let answer =
            answered.replay(&pending.challenge().e).expect("the recomputed challenge is the stored one");
        let coin = pending.finish(&WithdrawAnswer::answered(session_id, answer)).unwrap();
        rebuilt.push(coin);
    }
    assert_eq!(gaps, vec![4, 6, 7], "the refused counter left no session");
    let held = alice.coins().unwrap();
    assert_eq!(rebuilt.len(), held.len());
    for c in &rebuilt {
        let original = held.iter().find(|h| h.coin.coin.id() == c.coin.id()).expect("the same coin");
        assert_eq!(original.coin.value, c.value);
        assert_eq!(
            serde_json::to_value(&original.coin.secrets).unwrap(),
            serde_json::to_value(&c.secrets).unwrap(),
            "the same secrets"
        );
    }
    let mut ids: Vec<_> = rebuilt.iter().map(|c| c.coin.id()).collect();
    ids.sort();
    withdrawn.sort();
    assert_eq!(ids, withdrawn);
}

#[test]
fn another_phrase_another_bank_or_another_epoch_rebuilds_nothing() {
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let alice = seeded_user(&w, &seed, 4);
    let id = alice.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap();
    let keyset = w.keyset();
    let coin = || seed.account_root(&w.bank.master_key(), 0).coin(&keyset.id(), 0);
    let session = w.bank.store().begin().unwrap().session(&SessionId(coin().session_id())).unwrap().unwrap();
    let keys = seed.account_keys(&w.bank.master_key(), 0);
    assert!(WithdrawStart::rebuild(&keys, &keyset, coin(), &session.request).is_some());
    assert_eq!(alice.coins().unwrap()[0].coin.coin.id(), id);

    let other = RecoveryPhrase::generate(&mut OsRng).seed();
    let other_coin = other.account_root(&w.bank.master_key(), 0).coin(&keyset.id(), 0);
    assert!(WithdrawStart::rebuild(&keys, &keyset, other_coin, &session.request).is_none());
    let other_bank = World::new();
    let foreign = seed.account_root(&other_bank.bank.master_key(), 0).coin(&keyset.id(), 0);
    assert!(WithdrawStart::rebuild(&keys, &keyset, foreign, &session.request).is_none());
    let epoch1 = seed.account_root(&w.bank.master_key(), 1).coin(&keyset.id(), 0);
    assert!(WithdrawStart::rebuild(&keys, &keyset, epoch1, &session.request).is_none());
    assert!(WithdrawStart::rebuild(&keys, &keyset, coin(), &session.request).is_some());

    // A wallet refuses a seed that is not its account's.
    let stranger = Wallet::new(
        seed.account_keys(&w.bank.master_key(), 0),
        other_bank.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
    );
    assert_eq!(stranger.with_seed(&seed).map(|_| ()).unwrap_err(), SeedMismatch);
}

/// A bank that, whenever a withdrawal request reaches it, checks in the
/// wallet's database (a connection of its own: committed state only) that
/// the request's counter was burned before the request left.
struct Watching {
    bank: Arc<TestBank>,
    wallet_db: std::path::PathBuf,
    root: faircash::crypto::derive::AccountRoot,
    keyset: faircash::keys::KeysetId,
    seen: std::sync::Mutex<Vec<u64>>,
}

mod forward {
    use super::*;
    use faircash::keys::{AccountId, SignedKeyset};
    use faircash::protocol::account::{AccountAnswer, AccountRequest};
    use faircash::protocol::deposit::{DepositReceipt, DepositRequest};
    use faircash::protocol::register::{MerchantRegistration, UserRegistration};
    use faircash::protocol::trust::SignedTtpKeyStatement;
    use faircash::protocol::withdraw::{WithdrawChallenge, WithdrawRequest};
    use faircash::protocol::Result;
    use faircash::roles::BankApi;

    impl BankApi for Watching {
        fn keysets(&self) -> Result<Vec<SignedKeyset>> {
            self.bank.keysets()
        }
        fn register_user(&self, reg: &UserRegistration) -> Result<AccountId> {
            BankApi::register_user(&*self.bank, reg)
        }
        fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId> {
            BankApi::register_merchant(&*self.bank, reg)
        }
        fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
            let n = (0..64u64)
                .find(|n| SessionId(self.root.coin(&self.keyset, *n).session_id()) == req.session_id)
                .expect("the session id is a counter's");
            let db = rusqlite::Connection::open(&self.wallet_db).unwrap();
            let next: i64 = db
                .query_row(
                    "SELECT next FROM counters WHERE keyset = ?1",
                    [self.keyset.as_bytes().as_slice()],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(next as u64 > n, "counter {n} left before it was burned (next {next})");
            self.seen.lock().unwrap().push(n);
            BankApi::open_withdrawal(&*self.bank, req)
        }
        fn answer_withdrawal(
            &self,
            ch: &WithdrawChallenge,
        ) -> Result<faircash::protocol::withdraw::WithdrawAnswer> {
            BankApi::answer_withdrawal(&*self.bank, ch)
        }
        fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
            BankApi::deposit(&*self.bank, req)
        }
        fn reclaim(&self, req: &faircash::protocol::reclaim::ReclaimRequest) -> Result<DepositReceipt> {
            BankApi::reclaim(&*self.bank, req)
        }
        fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>> {
            BankApi::ttp_statements(&*self.bank)
        }
        fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
            BankApi::account_request(&*self.bank, req)
        }
    }
}

#[test]
fn a_counter_is_burned_durably_before_its_request_leaves_and_never_reused() {
    use faircash::store::sqlite::SqliteWalletStore;
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wallet.db");
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let master = w.bank.master_key();
    let open = || {
        let mut wallet = Wallet::new(
            seed.account_keys(&master, 0),
            master,
            SqliteWalletStore::open(&db).unwrap(),
            Arc::new(w.clock.clone()),
        )
        .with_seed(&seed)
        .unwrap();
        wallet.pin_keysets(&w.bank.published_keysets()).unwrap();
        wallet.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
        wallet
    };
    let alice = open();
    let id = w.bank.register_user(&alice.registration(&mut OsRng), &mut OsRng).unwrap();
    w.bank.fund(&id, 10).unwrap();
    let bank = Watching {
        bank: w.bank.clone(),
        wallet_db: db.clone(),
        root: seed.account_root(&master, 0),
        keyset: w.keyset().id(),
        seen: Default::default(),
    };
    alice.withdraw(&bank, 3, &mut OsRng).unwrap();
    drop(alice);
    // Reopened (the state a crash leaves), the wallet goes on from the
    // next counter.
    let alice = open();
    alice.withdraw_one(&bank, 4, &mut OsRng).unwrap();
    assert_eq!(*bank.seen.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(w.balance(&id) + alice.balance().unwrap(), 10, "money is conserved");
}
