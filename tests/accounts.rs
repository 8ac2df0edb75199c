//! Accounts: the authentication key authorises every account operation
//! (never `u`), withdrawals reserve their whole amount before their first
//! coin (all or nothing, resumed or released), and a frozen account is
//! unfrozen only after a re-key to a new identity, the old one never
//! accepted again.
mod common;

use common::*;
use faircash::crypto::secret::SecretScalar;
use faircash::keys::{AccountKeys, AuthKey, UserKey};
use faircash::protocol::account::{
    AccountAnswer, AccountEventKind, AccountOperation, AccountRequest, RekeyRequest, ReservationId,
};
use faircash::protocol::deposit::{extract, DepositOutcome};
use faircash::protocol::pay::{create_payment, verify_payment, Payment};
use faircash::protocol::register::UserRegistration;
use faircash::protocol::withdraw::{WalletCoin, WithdrawChallenge, WithdrawStart};
use faircash::protocol::Error;
use faircash::roles::Wallet;
use rand::rngs::OsRng;

/// Alice spends `coin` at two merchants; the second deposit identifies
/// her. Returns the two payments.
fn double_spend(w: &World, alice: &TestWallet, coin: &WalletCoin) -> (Payment, Payment) {
    let keyset = w.keyset();
    let mut payments = Vec::new();
    for _ in 0..2 {
        let shop = w.merchant();
        let req = shop.request_payment(coin.value, [1; 32], &mut OsRng).unwrap();
        let p = create_payment(&req, &keyset, alice.user(), &[coin], &mut OsRng).unwrap();
        shop.accept(&p, &mut OsRng).unwrap();
        shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
        payments.push(p);
    }
    assert!(w.bank.account(&alice.account_id()).unwrap().frozen);
    (payments.remove(0), payments.remove(0))
}

/// `u`, as anyone extracts it from the bank's published evidence.
fn u_from_evidence(w: &World) -> SecretScalar {
    let keyset = w.keyset();
    let ev = w.bank.evidence_page(0, 256).unwrap().items.remove(0).record.evidence;
    let (s1, s2) = (
        verify_payment(&ev.first, &keyset, &mut OsRng).unwrap(),
        verify_payment(&ev.second, &keyset, &mut OsRng).unwrap(),
    );
    let (i, j) = (ev.first_index as usize, ev.second_index as usize);
    let u =
        extract(&ev.first.responses[i].u, &s1.challenges[i], &ev.second.responses[j].u, &s2.challenges[j])
            .unwrap();
    SecretScalar::new(u)
}

fn reservation_of(answer: AccountAnswer) -> faircash::protocol::account::Reservation {
    match answer {
        AccountAnswer::Reservation(r) => r,
        other => panic!("not a reservation: {other:?}"),
    }
}

#[test]
fn with_the_evidence_u_in_hand_no_account_operation_succeeds() {
    let w = World::new();
    let alice = w.user(100);
    let coin = w.withdraw_coin(&alice, 8);
    // A session opened (and a withdrawal reserved) before the double spend.
    let req = alice.start_withdrawal(4, &mut OsRng).unwrap();
    let cm = w.bank.open_withdrawal(&req, &mut OsRng).unwrap();
    let honest_ch = alice.receive_commitment(&cm, &mut OsRng).unwrap();
    let reservation = ReservationId::random(&mut OsRng);
    w.bank
        .account_request(
            &alice
                .account_request(AccountOperation::ReserveWithdrawal { reservation, amount: 16 }, &mut OsRng),
        )
        .unwrap();
    double_spend(&w, &alice, &coin);
    let u = u_from_evidence(&w);
    assert_eq!(u.expose_secret(), alice.user().expose_secret(), "the evidence made u public");

    // The thief's keys: u as the identity, and u (or a key of its own) as
    // the authentication key, for alice's account.
    let stolen = UserKey::from(u.clone());
    let as_auth = AccountKeys::new(alice.account_id(), stolen.clone(), AuthKey::from(u.clone()), vec![]);
    let own_auth =
        AccountKeys::new(alice.account_id(), stolen.clone(), AuthKey::generate(&mut OsRng), vec![]);
    let before = w.bank.account(&alice.account_id()).unwrap();
    for thief in [&as_auth, &own_auth] {
        // The open session's challenge.
        let ch = WithdrawChallenge::new(
            honest_ch.session_id,
            honest_ch.commitment_digest,
            honest_ch.e,
            thief,
            &mut OsRng,
        );
        assert!(matches!(w.bank.answer_withdrawal(&ch), Err(Error::InvalidProof(_))));
        // Every account request.
        let new_key = AuthKey::generate(&mut OsRng);
        let ops = [
            AccountOperation::ReserveWithdrawal { reservation: ReservationId::random(&mut OsRng), amount: 1 },
            AccountOperation::ReleaseReservation { reservation },
            AccountOperation::AbandonWithdrawal { session_id: req.session_id },
            AccountOperation::Status,
        ];
        for op in ops {
            let r = AccountRequest::new(thief, op, &mut OsRng);
            assert!(matches!(w.bank.account_request(&r), Err(Error::InvalidProof(_))), "{op:?}");
        }
        let rotate = AccountRequest::rotate_auth_key(thief, &new_key, &mut OsRng);
        assert!(matches!(w.bank.account_request(&rotate), Err(Error::InvalidProof(_))));
        // Registering the identity again, with another authentication key.
        let reg = UserRegistration::new(&AccountKeys::for_new_account(stolen.clone(), new_key), &mut OsRng);
        assert!(matches!(w.bank.register_user(&reg, &mut OsRng), Err(Error::IdentityInUse)));
    }
    // Nothing changed: the account, its key, its open session (still
    // answerable by its holder once unfrozen), its reservation.
    assert_eq!(w.bank.account(&alice.account_id()).unwrap(), before);
    let st = alice.account_status(&*w.bank, &mut OsRng).unwrap();
    assert_eq!(st.auth_key, *alice.keys().auth().public());
    assert_eq!(st.held, 16 + 4);
    // The holder's own requests still work.
    let r = alice.account_request(AccountOperation::ReleaseReservation { reservation }, &mut OsRng);
    assert!(reservation_of(w.bank.account_request(&r).unwrap()).released);
}

#[test]
fn the_authentication_key_rotates_and_a_rotation_is_performed_once() {
    let w = World::new();
    let mut alice = w.user(100);
    let old = alice.keys().clone();
    let new = AuthKey::generate(&mut OsRng);
    let rotation = alice.auth_rotation(&new, &mut OsRng);
    let st = alice.rotate_auth_key(&*w.bank, new.clone(), &rotation).unwrap();
    assert_eq!(st.auth_key, *new.public());
    assert_eq!(st.events.last().unwrap().kind, AccountEventKind::AuthKeyRotated);
    // The old key no longer authorises anything; the new one does.
    let by_old = AccountRequest::new(&old, AccountOperation::Status, &mut OsRng);
    assert!(matches!(w.bank.account_request(&by_old), Err(Error::InvalidProof(_))));
    alice.account_status(&*w.bank, &mut OsRng).unwrap();
    alice.withdraw(&*w.bank, 3, &mut OsRng).unwrap();
    // The same rotation again (a lost answer) gets the stored answer and
    // changes nothing, even after the key was rotated back.
    let again = w.bank.account_request(&rotation).unwrap();
    assert!(matches!(again, AccountAnswer::Status(s) if s.auth_key == *new.public()));
    let back = alice.keys().with_auth(old.auth().clone());
    let mut alice2 = Wallet::new(
        alice.keys().clone(),
        w.bank.master_key(),
        faircash::store::memory::MemoryWalletStore::new(),
        std::sync::Arc::new(w.clock.clone()),
    );
    let rot_back = alice2.auth_rotation(back.auth(), &mut OsRng);
    alice2.rotate_auth_key(&*w.bank, back.auth().clone(), &rot_back).unwrap();
    // A replay of the first rotation (signed by the old key, current again)
    // does not install the key it named a second time.
    let replay = w.bank.account_request(&rotation).unwrap();
    assert!(matches!(replay, AccountAnswer::Status(s) if s.auth_key == *new.public()), "the stored answer");
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().auth_key, Some(*old.auth().public()));
    // Another request under a used request id is refused.
    let mut reused = AccountRequest::new(alice2.keys(), AccountOperation::Status, &mut OsRng);
    reused.request_id = rotation.request_id;
    let reused = AccountRequest {
        operation: AccountOperation::RotateAuthKey {
            new_key: *AuthKey::generate(&mut OsRng).public(),
            possession: reused.authorization,
        },
        ..reused
    };
    assert!(matches!(w.bank.account_request(&reused), Err(Error::AccountRequestIdReused)));
    let history = w.bank.account_history(&alice.account_id()).unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [AccountEventKind::Registered, AccountEventKind::AuthKeyRotated, AccountEventKind::AuthKeyRotated]
    );
}

#[test]
fn a_withdrawal_the_balance_cannot_cover_issues_no_coin() {
    let w = World::new();
    let alice = w.user(55);
    match alice.withdraw(&*w.bank, 60, &mut OsRng) {
        Err(Error::InsufficientBalance { balance, needed, .. }) => assert_eq!((balance, needed), (55, 60)),
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    assert_eq!(w.balance(&alice.account_id()), 55);
    assert_eq!(alice.balance().unwrap(), 0);
    assert!(w.bank.withdrawals_of(&alice.account_id()).unwrap().is_empty());
    assert_eq!(alice.interrupted().unwrap(), (0, 0));
    // 55 itself, all of it.
    assert_eq!(alice.withdraw(&*w.bank, 55, &mut OsRng).unwrap().len(), 5);
    assert_eq!((w.balance(&alice.account_id()), alice.balance().unwrap()), (0, 55));
}

/// The same account's keys in a second wallet (another device).
fn second_wallet(w: &World, alice: &TestWallet) -> TestWallet {
    let mut other = Wallet::new(
        alice.keys().clone(),
        w.bank.master_key(),
        faircash::store::memory::MemoryWalletStore::new(),
        std::sync::Arc::new(w.clock.clone()),
    );
    other.pin_keysets(&w.bank.published_keysets()).unwrap();
    other.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    other
}

#[test]
fn a_reservation_keeps_its_amount_from_every_other_withdrawal() {
    let w = World::new();
    let alice = w.user(100);
    let phone = second_wallet(&w, &alice);
    // While alice's withdrawal of 60 runs, her phone tries to withdraw 64
    // and then 41 from the same account: only what is not reserved is
    // available to it.
    let mut tried = false;
    let coins = alice
        .withdraw_with(&*w.bank, 60, &mut OsRng, |_| {
            if !tried {
                tried = true;
                assert!(matches!(
                    phone.withdraw_one(&*w.bank, 64, &mut OsRng),
                    Err(Error::InsufficientBalance { balance: 40, needed: 64, .. })
                ));
                assert!(matches!(
                    phone.withdraw(&*w.bank, 41, &mut OsRng),
                    Err(Error::InsufficientBalance { .. })
                ));
                phone.withdraw(&*w.bank, 40, &mut OsRng).unwrap();
            }
        })
        .unwrap();
    assert_eq!(coins.len(), 4);
    assert_eq!((alice.balance().unwrap(), phone.balance().unwrap()), (60, 40));
    assert_eq!(w.balance(&alice.account_id()), 0);
    assert_eq!(alice.account_status(&*w.bank, &mut OsRng).unwrap().held, 0);
}

#[test]
fn sessions_under_a_reservation_draw_no_more_than_it_holds() {
    let w = World::new();
    let alice = w.user(100);
    let keyset = w.keyset();
    let reservation = ReservationId::random(&mut OsRng);
    let reserve =
        alice.account_request(AccountOperation::ReserveWithdrawal { reservation, amount: 12 }, &mut OsRng);
    let r = reservation_of(w.bank.account_request(&reserve).unwrap());
    assert_eq!((r.amount, r.drawn), (12, 0));
    let start = |value| {
        WithdrawStart::reserved(alice.keys(), &keyset, value, w.bank.today(), reservation, &mut OsRng)
            .unwrap()
    };
    let eight = start(8);
    w.bank.open_withdrawal(eight.request(), &mut OsRng).unwrap();
    // 8 in flight: another 8 exceeds the 12 reserved, a 4 does not.
    assert!(matches!(
        w.bank.open_withdrawal(start(8).request(), &mut OsRng),
        Err(Error::ReservationExhausted { remaining: 4, needed: 8 })
    ));
    w.bank.open_withdrawal(start(4).request(), &mut OsRng).unwrap();
    // Another account cannot draw on it.
    let bob = w.user(100);
    let theirs =
        WithdrawStart::reserved(bob.keys(), &keyset, 1, w.bank.today(), reservation, &mut OsRng).unwrap();
    assert!(matches!(w.bank.open_withdrawal(theirs.request(), &mut OsRng), Err(Error::UnknownReservation)));
    // The same reservation asked again: its state; with another amount: refused.
    assert_eq!(reservation_of(w.bank.account_request(&reserve).unwrap()).amount, 12);
    let other =
        alice.account_request(AccountOperation::ReserveWithdrawal { reservation, amount: 13 }, &mut OsRng);
    assert!(matches!(w.bank.account_request(&other), Err(Error::AccountRequestIdReused)));
    // The balance not held: 100 - 12, then 100 - 12 - 64.
    w.bank.open_withdrawal(&alice.start_withdrawal(64, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    assert!(matches!(
        w.bank.open_withdrawal(&alice.start_withdrawal(32, &mut OsRng).unwrap(), &mut OsRng),
        Err(Error::InsufficientBalance { balance: 24, needed: 32, .. })
    ));
}

/// A bank that stops answering after `n` answered challenges (the network
/// went away mid-withdrawal).
mod flaky {
    use super::*;
    use faircash::protocol::withdraw::{WithdrawAnswer, WithdrawCommitment, WithdrawRequest};
    use faircash::protocol::Result;
    use faircash::roles::BankApi;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Flaky<'a> {
        pub bank: &'a TestBank,
        pub answers_left: AtomicUsize,
    }

    impl BankApi for Flaky<'_> {
        fn keysets(&self) -> Result<Vec<faircash::keys::SignedKeyset>> {
            BankApi::keysets(self.bank)
        }
        fn register_user(&self, r: &UserRegistration) -> Result<faircash::keys::AccountId> {
            BankApi::register_user(self.bank, r)
        }
        fn register_merchant(
            &self,
            r: &faircash::protocol::register::MerchantRegistration,
        ) -> Result<faircash::keys::AccountId> {
            BankApi::register_merchant(self.bank, r)
        }
        fn open_withdrawal(&self, r: &WithdrawRequest) -> Result<WithdrawCommitment> {
            BankApi::open_withdrawal(self.bank, r)
        }
        fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
            if self.answers_left.fetch_sub(1, Ordering::SeqCst) == 0 {
                self.answers_left.store(0, Ordering::SeqCst);
                return Err(Error::Unreachable("the network went away".into()));
            }
            BankApi::answer_withdrawal(self.bank, ch)
        }
        fn deposit(
            &self,
            r: &faircash::protocol::deposit::DepositRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::deposit(self.bank, r)
        }
        fn reclaim(
            &self,
            r: &faircash::protocol::reclaim::ReclaimRequest,
        ) -> Result<faircash::protocol::deposit::DepositReceipt> {
            BankApi::reclaim(self.bank, r)
        }
        fn account_request(&self, r: &AccountRequest) -> Result<AccountAnswer> {
            BankApi::account_request(self.bank, r)
        }
        fn ttp_statements(&self) -> Result<Vec<faircash::protocol::trust::SignedTtpKeyStatement>> {
            BankApi::ttp_statements(self.bank)
        }
        fn spent_list(
            &self,
            keyset: &faircash::keys::KeysetId,
            value: u64,
            page: u32,
        ) -> Result<faircash::protocol::spent::SpentList> {
            BankApi::spent_list(self.bank, keyset, value, page)
        }
        fn unspent_statement(
            &self,
            query: &faircash::protocol::spent::UnspentQuery,
        ) -> Result<faircash::protocol::spent::UnspentStatement> {
            BankApi::unspent_statement(self.bank, query)
        }
    }
}
use flaky::Flaky;

fn interrupted_after(w: &World, alice: &TestWallet, amount: u64, coins: usize) {
    let net = Flaky { bank: &w.bank, answers_left: coins.into() };
    assert!(matches!(alice.withdraw(&net, amount, &mut OsRng), Err(Error::Unreachable(_))));
    assert_eq!(alice.interrupted().unwrap(), (1, 1), "one session pending, one withdrawal unfinished");
}

#[test]
fn an_interrupted_withdrawal_is_resumed_in_full() {
    let w = World::new();
    let alice = w.user(100);
    interrupted_after(&w, &alice, 60, 1); // 32 issued, the 16 in flight
    assert_eq!(alice.balance().unwrap(), 32);
    // Meanwhile nothing else can take the rest of the reservation.
    assert!(matches!(alice.withdraw_one(&*w.bank, 64, &mut OsRng), Err(Error::InsufficientBalance { .. })));
    let resumed = alice.resume(&*w.bank, &mut OsRng).unwrap();
    assert!(resumed.incomplete.is_empty());
    assert_eq!(alice.balance().unwrap(), 60);
    assert_eq!(w.balance(&alice.account_id()), 40);
    assert_eq!(alice.interrupted().unwrap(), (0, 0));
    assert_eq!(alice.account_status(&*w.bank, &mut OsRng).unwrap().held, 0);
    // Exactly the coins of 60 were issued: 32, 16, 8, 4.
    let mut values: Vec<u64> = alice.coins().unwrap().iter().map(|c| c.coin.value).collect();
    values.sort_unstable();
    assert_eq!(values, [4, 8, 16, 32]);
}

#[test]
fn an_interrupted_withdrawal_can_be_released() {
    let w = World::new();
    let alice = w.user(100);
    interrupted_after(&w, &alice, 60, 2); // 32 and 16 issued, the 8 in flight
    let finished = alice.release_withdrawals(&*w.bank, &mut OsRng).unwrap();
    // The challenge in flight never reached the bank: releasing ended its
    // session, and the wallet dropped it on the bank's signed end.
    assert!(finished.is_empty());
    assert_eq!(alice.interrupted().unwrap(), (0, 0));
    assert_eq!(alice.balance().unwrap(), 48);
    assert_eq!(w.balance(&alice.account_id()), 52);
    assert_eq!(alice.account_status(&*w.bank, &mut OsRng).unwrap().held, 0);
    // The released rest is available again.
    alice.withdraw(&*w.bank, 52, &mut OsRng).unwrap();
    assert_eq!((alice.balance().unwrap(), w.balance(&alice.account_id())), (100, 0));
}

#[test]
fn a_lapsed_reservation_is_made_again_for_the_rest() {
    let w = World::new();
    let alice = w.user(100);
    interrupted_after(&w, &alice, 60, 1);
    w.clock.advance_secs(w.bank.config().reservation_ttl_secs + 1);
    assert_eq!(alice.account_status(&*w.bank, &mut OsRng).unwrap().held, 0, "the hold lapsed");
    let resumed = alice.resume(&*w.bank, &mut OsRng).unwrap();
    assert!(resumed.incomplete.is_empty());
    assert_eq!((alice.balance().unwrap(), w.balance(&alice.account_id())), (60, 40));

    // If the balance no longer covers the rest, the withdrawal stops where
    // it is and says so.
    let bob = w.user(100);
    interrupted_after(&w, &bob, 60, 1);
    w.clock.advance_secs(w.bank.config().reservation_ttl_secs + 1);
    second_wallet(&w, &bob).withdraw(&*w.bank, 64, &mut OsRng).unwrap();
    let resumed = bob.resume(&*w.bank, &mut OsRng).unwrap();
    assert_eq!(resumed.incomplete, vec![(60, 32)]);
    assert_eq!(bob.interrupted().unwrap(), (0, 0));
    assert_eq!(bob.balance().unwrap(), 32);
    assert_eq!(w.balance(&bob.account_id()), 4);
}

#[test]
fn unfreezing_needs_a_rekey_and_the_old_identity_is_never_accepted_again() {
    let w = World::new();
    let mut alice = w.user(100);
    let coin = w.withdraw_coin(&alice, 8);
    let kept = w.withdraw_coin(&alice, 16); // withdrawn under the old identity, never spent
    let (first, _) = double_spend(&w, &alice, &coin);
    let id = alice.account_id();
    let shop_credit: u64 = first.request.amount;
    // Frozen, with the evidence's identity public: no unfreeze yet.
    assert!(matches!(w.bank.unfreeze_account(&id, "asked nicely"), Err(Error::RekeyRequired(a)) if a == id));
    // The holder asks for a re-key; the operator applies it.
    let old = alice.keys().clone();
    let (u2, a2) = (UserKey::generate(&mut OsRng), AuthKey::generate(&mut OsRng));
    let request = alice.rekey_request(&u2, &a2, &mut OsRng);
    let rekeyed = w.bank.rekey_account(&request, "holder identified at the branch", &mut OsRng).unwrap();
    assert_eq!((rekeyed.id, rekeyed.public_key, rekeyed.frozen), (id, *u2.identity(), true));
    // Applying it again changes nothing; a request for the old identity
    // made before is refused now.
    w.bank.rekey_account(&request, "again", &mut OsRng).unwrap();
    let stale =
        RekeyRequest::new(&old, &UserKey::generate(&mut OsRng), &AuthKey::generate(&mut OsRng), &mut OsRng);
    assert!(matches!(w.bank.rekey_account(&stale, "stale", &mut OsRng), Err(Error::InvalidProof(_))));
    assert!(matches!(w.bank.unfreeze_account(&id, ""), Err(Error::BadReason(_))));
    let unfrozen = w.bank.unfreeze_account(&id, "re-keyed; the shop was repaid").unwrap();
    assert!(!unfrozen.frozen);
    assert!(matches!(w.bank.unfreeze_account(&id, "twice"), Err(Error::NotFrozen(_))));
    // The evidence stays.
    assert_eq!(w.bank.evidence_page(0, 256).unwrap().items.len(), 1);
    // History and status show what happened, when and why.
    let history = w.bank.account_history(&id).unwrap();
    let seen: Vec<_> = history.iter().map(|e| (e.kind, e.reason.as_str())).collect();
    assert_eq!(seen[0].0, AccountEventKind::Registered);
    assert_eq!(seen[1].0, AccountEventKind::Frozen);
    assert!(seen[1].1.contains(&coin.coin.id().to_hex()));
    assert_eq!(seen[2], (AccountEventKind::Rekeyed, "holder identified at the branch"));
    assert_eq!(seen[3], (AccountEventKind::Unfrozen, "re-keyed; the shop was repaid"));
    assert!(history.iter().all(|e| e.at == faircash::time::Clock::now(&w.clock)));
    let status = w.bank.status().unwrap();
    let last = status.recent_events.last().unwrap();
    assert_eq!((last.account, last.event.kind), (id, AccountEventKind::Unfrozen));

    // The old identity is never accepted again: a withdrawal proof under it
    // is refused, and so is registering it anew.
    let old_wallet = second_wallet(&w, &alice);
    assert!(matches!(old_wallet.withdraw_one(&*w.bank, 1, &mut OsRng), Err(Error::InvalidProof(_))));
    let reg = UserRegistration::new(
        &AccountKeys::for_new_account(old.identity().clone(), AuthKey::generate(&mut OsRng)),
        &mut OsRng,
    );
    assert!(matches!(w.bank.register_user(&reg, &mut OsRng), Err(Error::IdentityRetired)));
    // Nor its authentication key.
    assert!(matches!(
        w.bank.account_request(&AccountRequest::new(&old, AccountOperation::Status, &mut OsRng)),
        Err(Error::InvalidProof(_))
    ));
    // The wallet adopts the new keys: it withdraws under the new identity
    // and still spends the coin withdrawn under the old one.
    alice.adopt_rekey(u2.clone(), a2.clone());
    alice.withdraw(&*w.bank, 4, &mut OsRng).unwrap();
    let shop = w.merchant();
    let req = shop.request_payment(20, [5; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    assert!(p.coins.iter().any(|c| c.id() == kept.coin.id()), "the old coin was spent");
    shop.accept(&p, &mut OsRng).unwrap();
    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.credited, 20);
    assert!(receipt.outcomes.iter().all(|o| matches!(o.outcome, DepositOutcome::Credited { .. })));
    // Money: the 100 funded = the account + the coins held (not the one
    // spent twice behind the wallet's back) + what the shops were credited.
    let held: u64 = alice
        .coins()
        .unwrap()
        .iter()
        .filter(|c| c.spent_in.is_none() && c.coin.coin.id() != coin.coin.id())
        .map(|c| c.coin.value)
        .sum();
    assert_eq!(w.balance(&id) + held + shop_credit + 20, 100);
}

#[test]
fn a_rekey_never_takes_an_identity_held_elsewhere() {
    let w = World::new();
    let alice = w.user(0);
    let bob = w.user(0);
    let bobs = UserKey::from(SecretScalar::new(*bob.user().expose_secret()));
    let req = alice.rekey_request(&bobs, &AuthKey::generate(&mut OsRng), &mut OsRng);
    assert!(matches!(w.bank.rekey_account(&req, "mix-up", &mut OsRng), Err(Error::IdentityInUse)));
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().public_key, *alice.user().identity());
    // A re-key of a merchant account is refused.
    let shop = w.merchant();
    let as_shop =
        AccountKeys::new(shop.id(), UserKey::generate(&mut OsRng), AuthKey::generate(&mut OsRng), vec![]);
    let req = RekeyRequest::new(
        &as_shop,
        &UserKey::generate(&mut OsRng),
        &AuthKey::generate(&mut OsRng),
        &mut OsRng,
    );
    assert!(matches!(w.bank.rekey_account(&req, "no", &mut OsRng), Err(Error::WrongAccountKind(_))));
}

/// A withdrawal's stored reservation request and challenge are signed with
/// the authentication key of their day: rotating it while one is
/// interrupted would get their resend refused, so the rotation waits for
/// `wallet resume`.
#[test]
fn the_auth_key_is_not_rotated_while_a_withdrawal_is_interrupted() {
    let w = World::new();
    let mut alice = w.user(100);
    let auth = *alice.keys().auth().public();
    interrupted_after(&w, &alice, 60, 1);
    let new = AuthKey::generate(&mut OsRng);
    let rotation = alice.auth_rotation(&new, &mut OsRng);
    assert!(matches!(alice.rotate_auth_key(&*w.bank, new.clone(), &rotation), Err(Error::WithdrawalPending)));
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().auth_key, Some(auth), "nothing was sent");
    // Resumed under the key its requests were signed with, the withdrawal
    // completes; then the rotation goes through.
    assert!(alice.resume(&*w.bank, &mut OsRng).unwrap().incomplete.is_empty());
    assert_eq!((alice.balance().unwrap(), w.balance(&alice.account_id())), (60, 40));
    alice.rotate_auth_key(&*w.bank, new.clone(), &rotation).unwrap();
    assert_eq!(w.bank.account(&alice.account_id()).unwrap().auth_key, Some(*new.public()));
    alice.withdraw(&*w.bank, 40, &mut OsRng).unwrap();
    assert_eq!((alice.balance().unwrap(), w.balance(&alice.account_id())), (100, 0));
}
