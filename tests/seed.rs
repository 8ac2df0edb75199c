//! Wallets whose secrets come from a recovery phrase (specs/protocol.md
//! §7.6): every withdrawal's values follow from the phrase, the bank's key,
//! the keyset and a counter burned once, so the coins can be rebuilt from
//! the phrase and the bank's stored transcripts alone.
mod common;

use std::sync::Arc;

use common::*;
use faircash::crypto::derive::{RecoveryPhrase, SeedMismatch};
use faircash::protocol::withdraw::{SessionId, WithdrawAnswer, WithdrawCommitment, WithdrawStart};
use faircash::protocol::Error;
use faircash::roles::Wallet;
use faircash::store::memory::MemoryWalletStore;
use faircash::store::{BankStore, SessionState, WalletStore};
use rand::rngs::OsRng;

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
        fn spent_list(
            &self,
            keyset: &faircash::keys::KeysetId,
            value: u64,
            page: u32,
        ) -> Result<faircash::protocol::spent::SpentList> {
            BankApi::spent_list(&*self.bank, keyset, value, page)
        }
        fn unspent_statement(
            &self,
            query: &faircash::protocol::spent::UnspentQuery,
        ) -> Result<faircash::protocol::spent::UnspentStatement> {
            BankApi::unspent_statement(&*self.bank, query)
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

mod listing {
    use super::*;
    use faircash::crypto::derive::MAX_AUTH_ROTATIONS;
    use faircash::keys::AuthKey;
    use faircash::protocol::account::{AccountAnswer, AccountOperation, AccountRequest};
    use faircash::protocol::withdraw::{TranscriptState, WithdrawalTranscript};
    use faircash::roles::BankApi;

    fn page(
        bank: &dyn BankApi,
        keys: &faircash::keys::AccountKeys,
        after: Option<SessionId>,
        limit: u16,
    ) -> faircash::protocol::Result<(Vec<WithdrawalTranscript>, Option<SessionId>)> {
        let req = AccountRequest::new(keys, AccountOperation::ListWithdrawals { after, limit }, &mut OsRng);
        match bank.account_request(&req)? {
            AccountAnswer::Withdrawals(p) => Ok((p.sessions, p.next)),
            other => panic!("a page, not {other:?}"),
        }
    }

    #[test]
    fn the_bank_lists_every_session_of_the_account_with_its_transcript_in_pages() {
        let w = World::new();
        let seed = RecoveryPhrase::generate(&mut OsRng).seed();
        let alice = seeded_user(&w, &seed, 12);
        let bob = w.user(8);
        bob.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap();
        // Answered: 4, 2, 1 (reserved) and 4; ended: an abandoned session;
        // open: one left after its commitment.
        let coins = {
            let mut c = alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
            c.push(alice.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap());
            c
        };
        let req = alice.start_withdrawal(1, &mut OsRng).unwrap();
        w.bank.open_withdrawal(&req).unwrap();
        alice.abandon_withdrawal(&*w.bank, req.session_id, &mut OsRng).unwrap();
        let open = alice.start_withdrawal(1, &mut OsRng).unwrap();
        w.bank.open_withdrawal(&open).unwrap();

        let mut pages = 0;
        let all = alice.list_withdrawals(&*w.bank, &mut OsRng, |_| pages += 1).unwrap();
        assert_eq!(pages, 1);
        assert_eq!(all.len(), 6);
        let ids: Vec<SessionId> = all.iter().map(|t| t.request.session_id).collect();
        let sorted = {
            let mut s = ids.clone();
            s.sort();
            s
        };
        assert_eq!(ids, sorted, "in session-id order");
        let keyset = w.keyset();
        let mut answered = 0;
        for t in &all {
            assert_eq!(t.request.account, alice.account_id(), "only the account's own sessions");
            t.commitment.verify(&t.request, keyset.signing_key()).expect("signed for its request");
            let stored = w.bank.store().begin().unwrap().session(&t.request.session_id).unwrap().unwrap();
            assert_eq!(t.commitment.commitment, stored.commitment);
            match (&t.state, &stored.state) {
                (TranscriptState::Answered { e, answer }, SessionState::Answered { answered: a, .. }) => {
                    assert_eq!((*e, *answer), (a.e, a.answer));
                    answered += 1;
                }
                (TranscriptState::Ended, SessionState::Expired) => {
                    assert_eq!(t.request.session_id, req.session_id)
                }
                (TranscriptState::Open, SessionState::Open(_)) => {
                    assert_eq!(t.request.session_id, open.session_id)
                }
                (listed, stored) => panic!("listed {listed:?}, stored {stored:?}"),
            }
        }
        assert_eq!(answered, coins.len());

        // Pages of two after a cursor give the same list.
        let keys = alice.keys();
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let (p, next) = page(&*w.bank, keys, after, 2).unwrap();
            paged.extend(p.iter().map(|t| t.request.session_id));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged, ids);
        // A limit above the page size is cut to it.
        assert_eq!(page(&*w.bank, keys, None, u16::MAX).unwrap().0.len(), 6);
    }

    #[test]
    fn only_the_authentication_key_lists_and_a_phrase_rotation_keeps_the_phrase_listing() {
        let w = World::new();
        let seed = RecoveryPhrase::generate(&mut OsRng).seed();
        let mut alice = seeded_user(&w, &seed, 4);
        alice.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap();
        let root = seed.account_root(&w.bank.master_key(), 0);
        // Signed with u (the identity), or by another key: refused.
        let u_as_auth =
            AuthKey::from(faircash::crypto::secret::SecretScalar::new(*alice.user().expose_secret()));
        for wrong in [u_as_auth, AuthKey::generate(&mut OsRng), root.auth_at(1)] {
            let keys = alice.keys().with_auth(wrong);
            assert!(matches!(page(&*w.bank, &keys, None, 8), Err(Error::InvalidProof(_))));
        }
        assert_eq!(page(&*w.bank, &alice.keys().with_auth(root.auth_at(0)), None, 8).unwrap().0.len(), 1);

        // The rotation takes the phrase's next key: the old one no longer
        // lists, the phrase's index-1 key does.
        let (next, derived) = alice.next_auth_key(&mut OsRng);
        assert!(derived);
        assert_eq!(next.public(), root.auth_at(1).public());
        let request = alice.auth_rotation(&next, &mut OsRng);
        alice.rotate_auth_key(&*w.bank, next, &request).unwrap();
        let keys = seed.account_keys(&w.bank.master_key(), 0);
        assert!(matches!(page(&*w.bank, &keys, None, 8), Err(Error::InvalidProof(_))));
        assert_eq!(page(&*w.bank, &keys.with_auth(root.auth_at(1)), None, 8).unwrap().0.len(), 1);
        assert_eq!(alice.next_auth_key(&mut OsRng).0.public(), root.auth_at(2).public());
        // Past the last derived index, a wallet rotates to random keys.
        let last = alice.keys().with_auth(root.auth_at(MAX_AUTH_ROTATIONS));
        let at_end =
            Wallet::new(last, w.bank.master_key(), MemoryWalletStore::new(), Arc::new(w.clock.clone()))
                .with_seed(&seed)
                .unwrap();
        let (random, derived) = at_end.next_auth_key(&mut OsRng);
        assert!(!derived);
        assert_eq!(root.auth_index(random.public()), None);
        // A wallet without a phrase rotates to random keys.
        assert!(!w.user(0).next_auth_key(&mut OsRng).1);
    }
}

#[test]
fn a_counter_the_bank_already_has_is_skipped_and_no_coin_is_issued_twice() {
    // A wallet restored from an older backup may repeat a counter the lost
    // wallet used (§7.6 item 7). The bank refuses the repeated session
    // (`SessionConflict`); the wallet drops it and takes its next counter.
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let lost = seeded_user(&w, &seed, 20);
    let first = lost.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap();
    let keyset = w.keyset().id();
    // The same phrase and account, counters from 0 again.
    let mut twin = Wallet::new(
        lost.keys().clone(),
        w.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
    )
    .with_seed(&seed)
    .unwrap();
    twin.pin_keysets(&w.bank.published_keysets()).unwrap();
    twin.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    let second = twin.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap();
    assert_ne!(first, second);
    // Counter 0 was refused and dropped; counter 1 made the coin.
    assert_eq!(twin.store().burn_counter(&keyset).unwrap(), 2);
    assert!(twin.interrupted().unwrap() == (0, 0), "nothing left pending");
    // Debited once per coin: 20 - 4 - 8.
    assert_eq!(w.balance(&lost.account_id()), 8);
    assert_eq!(twin.balance().unwrap(), 8);
}
