//! The user's wallet: withdraws coins and pays off-line
//! (specs/protocol.md §7, §8).
//!
//! # Invariants
//! - A withdrawal's state is stored durably before its challenge `e` is
//!   returned for sending ([`Wallet::receive_commitment`]).
//! - A session is blinded at most once: only a commitment whose signature
//!   verifies is blinded, and a session the bank ended (a signed statement)
//!   is dropped with its blinding values; the next attempt is a new session
//!   with new values ([`Wallet::withdraw_one`]).
//! - A withdrawal of several coins reserves its whole amount at the bank
//!   before its first coin, and its plan is stored before the reservation
//!   request leaves ([`Wallet::withdraw`]); [`Wallet::resume_withdrawals`]
//!   completes it, [`Wallet::release_withdrawals`] gives it up.
//! - Coins are marked spent durably before the payment is built and handed
//!   out ([`Wallet::pay`]), so a crash can never lead an honest user into
//!   spending a coin twice.

pub mod backup;
mod exchange;
mod receive;
mod reclaim;
mod restore;
mod spent;
mod sweep;

use std::sync::Arc;

use rand_core::CryptoRngCore;

pub use exchange::{
    exact_reach, full_split, refresh_margin, BalanceReport, ChangePlan, Exchanged, DEFAULT_CHANGE_BOUND,
    EXCHANGE_ORDER,
};
pub use restore::{
    find_account, RestoreError, RestoreProgress, RestoreReport, Withheld, MAX_RESTORE_COUNTER,
};
pub use spent::{
    fetch_spent_lists, omission_proof, spent_list_keys, Contradiction, SpentCheck, MAX_SPENT_LIST_PAGES,
};
pub use sweep::{SweepError, SweepReport, SWEEP_ORDER};

use super::anchors::TrustAnchors;
use super::bank::BankApi;
use crate::coin::CoinId;
use crate::crypto::derive::{AccountRoot, CoinSeed, SeedMismatch, WalletSeed, MAX_AUTH_ROTATIONS};
use crate::encoding::Point;
use crate::failpoint::failpoint;
use crate::keys::{AccountId, AccountKeys, AuthKey, Keyset, SignedKeyset, UserKey};
use crate::protocol::account::{
    AccountAnswer, AccountOperation, AccountRequest, AccountStatus, RekeyRequest, Reservation, ReservationId,
    MAX_LIST_PAGE,
};
use crate::protocol::pay::{create_payment_with_keys, select_coins, Payment, PaymentRequest};
use crate::protocol::register::UserRegistration;
use crate::protocol::withdraw::{
    EndReason, PendingWithdrawal, SessionId, WalletCoin, WithdrawAnswer, WithdrawChallenge,
    WithdrawCommitment, WithdrawOutcome, WithdrawRequest, WithdrawStart, WithdrawalTranscript,
};
use crate::protocol::{checked_sum, Error, Result};
use crate::store::{PendingEntry, StoreError, StoredCoin, WalletStore, WithdrawalPlan};
use crate::time::{Clock, Day};

/// How many sessions one coin may take: a session the bank ended (or whose
/// commitment did not verify) is replaced by a new one this often.
pub const SESSION_ATTEMPTS: usize = 3;

/// A user's wallet over a store.
pub struct Wallet<S: WalletStore> {
    keys: AccountKeys,
    /// The account root the withdrawals derive their values from (§7.6);
    /// none: each session's coin seed is random.
    seed: Option<AccountRoot>,
    anchors: TrustAnchors,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: WalletStore> std::fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("account", &self.keys.account())
            .field("keysets", &self.anchors.keysets().len())
            .finish_non_exhaustive()
    }
}

/// What became of an interrupted withdrawal when it was resumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// Coins finished.
    pub coins: Vec<CoinId>,
    /// Withdrawals of several coins that could not be completed (their
    /// reservation had lapsed and the balance no longer covers the rest):
    /// `(whole amount, amount withdrawn)`.
    pub incomplete: Vec<(u64, u64)>,
    /// Interrupted exchanges taken up (their withdrawals are among the
    /// coins above), or given up when their payment to the wallet's own
    /// account had never been built.
    pub exchanges: usize,
    /// The value of restored coins stated unspent that were exchanged now
    /// (their exchange had not started before the interruption).
    pub restored: u64,
    /// Interrupted reclaims of refused payments sent again and settled.
    pub reclaims: usize,
}

/// Whether a withdrawal attempt may be retried with a new session.
enum Attempt {
    /// Give up with this error.
    Fail(Error),
    /// The session is over without a coin; a new session may succeed.
    Retry(Error),
}

impl<S: WalletStore> Wallet<S> {
    /// A wallet for the account of `keys` that trusts the bank master key
    /// `master_key`.
    pub fn new(keys: AccountKeys, master_key: Point, store: S, clock: Arc<dyn Clock>) -> Self {
        Wallet { keys, seed: None, anchors: TrustAnchors::new(master_key), store, clock }
    }

    /// The wallet with its withdrawals' values derived from `seed`
    /// (specs/protocol.md §7.6): the coin seed of each session comes from
    /// the account root of the bank's master key and the account's identity
    /// epoch (its number of re-keys), and the next withdrawal counter of the
    /// keyset, burned durably before the request is returned.
    ///
    /// # Errors
    /// [`SeedMismatch`] when the seed's identity at that epoch is not the
    /// account's current one.
    pub fn with_seed(mut self, seed: &WalletSeed) -> std::result::Result<Self, SeedMismatch> {
        let epoch = u32::try_from(self.keys.retired().len()).map_err(|_| SeedMismatch)?;
        let root = seed.account_root(self.anchors.master_key(), epoch);
        if root.identity().identity() != self.keys.identity().identity() {
            return Err(SeedMismatch);
        }
        self.seed = Some(root);
        Ok(self)
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        self.keys.account()
    }

    /// The current identity key.
    pub fn user(&self) -> &UserKey {
        self.keys.identity()
    }

    /// The account's keys.
    pub fn keys(&self) -> &AccountKeys {
        &self.keys
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The registration message for the bank.
    pub fn registration(&self, rng: &mut impl CryptoRngCore) -> UserRegistration {
        UserRegistration::new(&self.keys, rng)
    }

    /// Pins the bank's keyset list under the shared pinning rules
    /// ([`TrustAnchors::pin_keysets`]): one chain from sequence 0 that
    /// extends what is pinned already (a bank cannot swap, fork or roll it
    /// back).
    pub fn pin_keysets(&mut self, list: &[SignedKeyset]) -> Result<()> {
        self.anchors.pin_keysets(list).map(|_| ())
    }

    /// The trust anchors (master key, pinned keysets, TTP key statements).
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// The trust anchors, to pin under their rules: the bank's keyset list
    /// ([`TrustAnchors::refresh_keysets`]) and TTP key statements
    /// ([`TrustAnchors::trust_ttp`], [`TrustAnchors::refresh_ttp`]).
    pub fn anchors_mut(&mut self) -> &mut TrustAnchors {
        &mut self.anchors
    }

    /// The pinned keysets.
    pub fn keysets(&self) -> &[Keyset] {
        self.anchors.keysets()
    }

    pub(super) fn keyset(&self, id: &crate::keys::KeysetId) -> Result<&Keyset> {
        self.anchors.keyset(id)
    }

    /// The newest pinned keyset, if it escrows under a pinned TTP key.
    fn withdrawal_keyset(&self) -> Result<&Keyset> {
        let newest = self.keysets().last().ok_or(Error::BadPaymentRequest("no keyset pinned"))?;
        self.anchors.usable_keyset(&newest.id())
    }

    /// Withdrawal step 1: the request for one coin of `value` under the
    /// newest keyset. Stored so a retry sends the same request.
    ///
    /// Refused ([`Error::UntrustedTtpKey`], [`Error::TtpKeyNotValid`])
    /// before anything is sent if the keyset's TTP key is not the decryption
    /// key of a pinned TTP key statement that covers it.
    pub fn start_withdrawal(&self, value: u64, rng: &mut impl CryptoRngCore) -> Result<WithdrawRequest> {
        self.start(value, None, rng)
    }

    fn start(
        &self,
        value: u64,
        reservation: Option<ReservationId>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawRequest> {
        let keyset = self.withdrawal_keyset()?;
        let today = self.clock.today();
        let coin = match &self.seed {
            // Burned (durably) before the request built from it leaves.
            Some(root) => root.coin(&keyset.id(), self.store.burn_counter(&keyset.id())?),
            None => CoinSeed::random(rng),
        };
        let start = WithdrawStart::from_seed(&self.keys, keyset, value, today, coin, reservation, rng)?;
        self.store.put_pending(&PendingEntry::Started(Box::new(start.clone())))?;
        Ok(start.request().clone())
    }

    /// Withdrawal step 2: takes the bank's commitment, checks its
    /// signature, computes the challenge, stores the state durably, then
    /// returns the challenge.
    ///
    /// # Errors
    /// [`Error::CommitmentSignature`]: the commitment is not the one the
    /// bank signed; nothing was blinded. Abandon the session
    /// ([`Wallet::abandon_withdrawal`]) and start a new one.
    pub fn receive_commitment(
        &self,
        msg: &WithdrawCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawChallenge> {
        let entry = self.pending_entry(&msg.session_id)?;
        let pending = match entry {
            PendingEntry::AwaitingAnswer(p) => return Ok(p.challenge()),
            PendingEntry::Started(start) => start.receive_commitment(&self.keys, msg, rng)?,
        };
        self.store.put_pending(&PendingEntry::AwaitingAnswer(Box::new(pending.clone())))?;
        Ok(pending.challenge())
    }

    /// Withdrawal step 3: checks the bank's answer, finishes and stores the
    /// coin.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the bank ended the session in a signed
    /// statement that answers this session's challenge: the state (and its
    /// blinding values) is dropped, nothing was debited. An answer or
    /// statement that does not verify is refused and the state kept.
    pub fn finish_withdrawal(&self, answer: &WithdrawAnswer) -> Result<CoinId> {
        let pending = match self.pending_entry(&answer.session_id)? {
            PendingEntry::AwaitingAnswer(p) => *p,
            PendingEntry::Started(_) => return Err(Error::UnknownSession),
        };
        if let WithdrawOutcome::Ended(end) = &answer.outcome {
            let reason = self.verify_end(&pending, end)?;
            self.store.drop_pending(&answer.session_id)?;
            return Err(Error::SessionEnded(reason));
        }
        let coin: WalletCoin = pending.finish(answer)?;
        let id = coin.coin.id();
        failpoint!("wallet.withdraw.answered");
        self.store.complete_withdrawal(&answer.session_id, &coin)?;
        Ok(id)
    }

    fn verify_end(
        &self,
        pending: &PendingWithdrawal,
        end: &crate::protocol::withdraw::SessionEnd,
    ) -> Result<EndReason> {
        let key = if end.keyset_id == pending.keyset_id() {
            *pending.signing_key()
        } else {
            *self.keyset(&end.keyset_id)?.signing_key()
        };
        pending.verify_end(end, &key)
    }

    fn pending_entry(&self, session: &SessionId) -> Result<PendingEntry> {
        self.store.pending()?.into_iter().find(|p| p.session_id() == *session).ok_or(Error::UnknownSession)
    }

    /// Signs an account operation with the authentication key.
    pub fn account_request(
        &self,
        operation: AccountOperation,
        rng: &mut impl CryptoRngCore,
    ) -> AccountRequest {
        AccountRequest::new(&self.keys, operation, rng)
    }

    /// Ends a session this wallet will not blind (its commitment did not
    /// verify) at the bank, so it holds nothing; then drops its state.
    pub fn abandon_withdrawal(
        &self,
        bank: &(impl BankApi + ?Sized),
        session_id: SessionId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        let req = self.account_request(AccountOperation::AbandonWithdrawal { session_id }, rng);
        match bank.account_request(&req) {
            Ok(_) | Err(Error::UnknownSession) => {}
            Err(e) => return Err(e),
        }
        self.store.drop_pending(&session_id)?;
        Ok(())
    }

    /// The account's status and history at the bank.
    pub fn account_status(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<AccountStatus> {
        match bank.account_request(&self.account_request(AccountOperation::Status, rng))? {
            AccountAnswer::Status(s) => Ok(s),
            AccountAnswer::Reservation(_) | AccountAnswer::Withdrawals(_) => {
                Err(Error::InvalidProof("bank answer"))
            }
        }
    }

    /// Withdraws `amount` as coins of its binary decomposition, all or
    /// nothing: the whole amount is reserved at the bank before the first
    /// coin (refused at once if the balance does not cover it), and every
    /// coin draws on that reservation.
    pub fn withdraw(
        &self,
        bank: &(impl BankApi + ?Sized),
        amount: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<CoinId>> {
        self.withdraw_with(bank, amount, rng, |_| {})
    }

    /// As [`Wallet::withdraw`], calling `progress` with each coin's value
    /// once it is in the wallet.
    pub fn withdraw_with(
        &self,
        bank: &(impl BankApi + ?Sized),
        amount: u64,
        rng: &mut impl CryptoRngCore,
        progress: impl FnMut(u64),
    ) -> Result<Vec<CoinId>> {
        let keyset = self.withdrawal_keyset()?;
        let values = decompose(amount, &keyset.values_desc())?;
        self.withdraw_values(bank, &values, rng, progress)
    }

    /// Withdraws coins of the given values (a denomination plan), all or
    /// nothing as [`Wallet::withdraw`]: their sum is reserved before the
    /// first coin. Every value must be a denomination of the newest keyset,
    /// at most [`MAX_WITHDRAWAL_COINS`] coins.
    pub fn withdraw_values(
        &self,
        bank: &(impl BankApi + ?Sized),
        values: &[u64],
        rng: &mut impl CryptoRngCore,
        progress: impl FnMut(u64),
    ) -> Result<Vec<CoinId>> {
        let plan = self.new_plan(values, rng)?;
        self.run_plan(bank, &plan, rng, progress)
    }

    /// A withdrawal plan for coins of `values` (checked against the newest
    /// keyset, largest first), with a new reservation id; not stored yet.
    fn new_plan(&self, values: &[u64], rng: &mut impl CryptoRngCore) -> Result<WithdrawalPlan> {
        let keyset = self.withdrawal_keyset()?;
        if values.len() > MAX_WITHDRAWAL_COINS {
            return Err(Error::WithdrawalTooLarge {
                amount: values.iter().fold(0u64, |a, v| a.saturating_add(*v)),
                coins: values.len() as u64,
                limit: MAX_WITHDRAWAL_COINS,
            });
        }
        let denominations = keyset.values_desc();
        if let Some(v) = values.iter().find(|v| !denominations.contains(v)) {
            return Err(Error::NoSuchDenomination(*v));
        }
        let amount = checked_sum(values.iter().copied())?;
        if amount == 0 {
            return Err(Error::NoSuchDenomination(0));
        }
        let mut values = values.to_vec();
        values.sort_unstable_by(|a, b| b.cmp(a));
        let reservation = ReservationId::random(rng);
        Ok(WithdrawalPlan {
            request: self.account_request(AccountOperation::ReserveWithdrawal { reservation, amount }, rng),
            values,
        })
    }

    /// Runs a withdrawal plan: stores it, reserves its amount, withdraws
    /// its coins in order under the reservation, drops it.
    fn run_plan(
        &self,
        bank: &(impl BankApi + ?Sized),
        plan: &WithdrawalPlan,
        rng: &mut impl CryptoRngCore,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<CoinId>> {
        let (reservation, _) = plan.reservation().ok_or(Error::InvalidProof("withdrawal plan"))?;
        // The plan is durable before the reservation request leaves, so an
        // interrupted withdrawal is found again by `resume_withdrawals`.
        self.store.put_plan(plan)?;
        match self.reservation_state(bank, plan) {
            Ok(r) if r.is_active(self.clock.now()) => {}
            Ok(_) => {
                self.store.drop_plan(&reservation)?;
                return Err(Error::ReservationInactive);
            }
            Err(e) => {
                if is_final(&e) {
                    self.store.drop_plan(&reservation)?;
                }
                return Err(e);
            }
        }
        failpoint!("wallet.withdraw.reserved");
        let mut ids = Vec::with_capacity(plan.values.len());
        for &v in &plan.values {
            ids.push(self.withdraw_coin(bank, v, Some(reservation), rng)?);
            progress(v);
        }
        self.store.drop_plan(&reservation)?;
        Ok(ids)
    }

    fn reservation_state(
        &self,
        bank: &(impl BankApi + ?Sized),
        plan: &WithdrawalPlan,
    ) -> Result<Reservation> {
        match bank.account_request(&plan.request)? {
            AccountAnswer::Reservation(r) => Ok(r),
            AccountAnswer::Status(_) | AccountAnswer::Withdrawals(_) => {
                Err(Error::InvalidProof("bank answer"))
            }
        }
    }

    /// Withdraws one coin of `value` (no reservation: the bank checks the
    /// balance not held by reservations), running the three steps.
    pub fn withdraw_one(
        &self,
        bank: &(impl BankApi + ?Sized),
        value: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<CoinId> {
        self.withdraw_coin(bank, value, None, rng)
    }

    /// One coin, in up to [`SESSION_ATTEMPTS`] sessions: a session whose
    /// commitment does not verify, or that the bank ends (a signed
    /// statement), is given up with its blinding values, and a new session
    /// with new values takes its place.
    fn withdraw_coin(
        &self,
        bank: &(impl BankApi + ?Sized),
        value: u64,
        reservation: Option<ReservationId>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<CoinId> {
        let mut last = Error::UnknownSession;
        for _ in 0..SESSION_ATTEMPTS {
            match self.attempt(bank, value, reservation, rng) {
                Ok(id) => return Ok(id),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry(e)) => last = e,
            }
        }
        Err(last)
    }

    fn attempt(
        &self,
        bank: &(impl BankApi + ?Sized),
        value: u64,
        reservation: Option<ReservationId>,
        rng: &mut impl CryptoRngCore,
    ) -> std::result::Result<CoinId, Attempt> {
        let req = self.start(value, reservation, rng).map_err(Attempt::Fail)?;
        let commitment = match bank.open_withdrawal(&req) {
            Ok(c) => c,
            Err(e) => {
                // Nothing was blinded: the request can be dropped.
                self.store.drop_pending(&req.session_id).map_err(|e| Attempt::Fail(e.into()))?;
                // The counter's session is the bank's already (a wallet
                // restored from an older backup repeated a counter the lost
                // wallet had used, §7.6 item 7): the next counter is tried.
                if matches!(e, Error::SessionConflict) {
                    return Err(Attempt::Retry(e));
                }
                return Err(Attempt::Fail(e));
            }
        };
        let challenge = match self.receive_commitment(&commitment, rng) {
            Ok(ch) => ch,
            Err(Error::CommitmentSignature) => {
                self.abandon_withdrawal(bank, req.session_id, rng).map_err(Attempt::Fail)?;
                return Err(Attempt::Retry(Error::CommitmentSignature));
            }
            Err(e) => return Err(Attempt::Fail(e)),
        };
        // A failure to get an answer keeps the state: the answer may have
        // been given (and debited); `resume_withdrawals` fetches it.
        let answer = bank.answer_withdrawal(&challenge).map_err(Attempt::Fail)?;
        match self.finish_withdrawal(&answer) {
            Ok(id) => Ok(id),
            Err(Error::SessionEnded(reason)) if retry_after(reason) => {
                Err(Attempt::Retry(Error::SessionEnded(reason)))
            }
            Err(e) => Err(Attempt::Fail(e)),
        }
    }

    /// Resumes everything interrupted: every pending session (a request is
    /// sent again and gets the same commitment, a stored challenge is sent
    /// again and gets the same answer), then every withdrawal of several
    /// coins: while its reservation is active the rest of its coins are
    /// withdrawn under it; a lapsed one is reserved anew for the rest, and
    /// given up (reported in [`Resumed::incomplete`]) if the balance no
    /// longer covers it. Failures of the network or the store leave the
    /// state for a later attempt and are returned.
    pub fn resume_withdrawals(&self, bank: &(impl BankApi + ?Sized)) -> Result<Vec<CoinId>> {
        Ok(self.resume(bank, &mut rand::rngs::OsRng)?.coins)
    }

    /// As [`Wallet::resume_withdrawals`], reporting withdrawals that could
    /// not be completed.
    pub fn resume(&self, bank: &(impl BankApi + ?Sized), rng: &mut impl CryptoRngCore) -> Result<Resumed> {
        let coins = self.resume_sessions(bank, rng)?;
        let exchanges = self.resume_exchanges(bank, rng)?;
        let restored = self.exchange_restored(bank, rng)?;
        let reclaims = self.resume_reclaims(bank)?;
        let mut out = Resumed { coins, incomplete: Vec::new(), exchanges, restored, reclaims };
        for plan in self.store.plans()? {
            let Some((id, amount)) = plan.reservation() else { continue };
            let state = match self.reservation_state(bank, &plan) {
                Ok(r) => r,
                Err(e) if is_final(&e) => {
                    self.store.drop_plan(&id)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let keyset = self.withdrawal_keyset()?;
            let rest = state.remaining();
            let values = match plan.remaining_values(state.drawn) {
                Some(v) => v,
                None if rest > 0 => decompose(rest, &keyset.values_desc())?,
                None => Vec::new(),
            };
            if rest > 0 && state.is_active(self.clock.now()) {
                let mut withdrawn = state.drawn;
                for v in values {
                    match self.withdraw_coin(bank, v, Some(id), rng) {
                        Ok(coin) => {
                            out.coins.push(coin);
                            withdrawn = withdrawn.saturating_add(v);
                        }
                        Err(e) if is_final(&e) || matches!(e, Error::SessionEnded(_)) => {
                            // It cannot be completed (the account was frozen,
                            // say): give the rest up.
                            let release = AccountOperation::ReleaseReservation { reservation: id };
                            bank.account_request(&self.account_request(release, rng))?;
                            out.incomplete.push((amount, withdrawn));
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
            } else if rest > 0 {
                // The reservation lapsed: the rest is a withdrawal of its own.
                self.store.drop_plan(&id)?;
                match self.withdraw_values(bank, &values, rng, |_| {}) {
                    Ok(coins) => out.coins.extend(coins),
                    Err(e) if is_final(&e) => out.incomplete.push((amount, state.drawn)),
                    Err(e) => return Err(e),
                }
                continue;
            }
            self.store.drop_plan(&id)?;
        }
        Ok(out)
    }

    fn resume_sessions(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<CoinId>> {
        let mut done = Vec::new();
        for entry in self.store.pending()? {
            let session = entry.session_id();
            let challenge = match entry {
                PendingEntry::AwaitingAnswer(p) => p.challenge(),
                PendingEntry::Started(start) => match bank.open_withdrawal(start.request()) {
                    Ok(commitment) => match self.receive_commitment(&commitment, rng) {
                        Ok(ch) => ch,
                        Err(Error::CommitmentSignature) => {
                            self.abandon_withdrawal(bank, session, rng)?;
                            continue;
                        }
                        Err(e) => return Err(e),
                    },
                    Err(e) if is_final(&e) => {
                        self.store.drop_pending(&session)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let answer = bank.answer_withdrawal(&challenge)?;
            match self.finish_withdrawal(&answer) {
                Ok(id) => done.push(id),
                Err(Error::SessionEnded(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Gives up every interrupted withdrawal: each reservation is released
    /// at the bank (its hold ends and its open sessions end), sessions not
    /// blinded yet are abandoned, and sessions already answered are still
    /// finished (their coins were paid for). Returns the coins finished.
    pub fn release_withdrawals(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<CoinId>> {
        for plan in self.store.plans()? {
            let Some((reservation, _)) = plan.reservation() else { continue };
            let req = self.account_request(AccountOperation::ReleaseReservation { reservation }, rng);
            match bank.account_request(&req) {
                Ok(_) | Err(Error::UnknownReservation) => self.store.drop_plan(&reservation)?,
                Err(e) => return Err(e),
            }
        }
        for entry in self.store.pending()? {
            if let PendingEntry::Started(start) = entry {
                self.abandon_withdrawal(bank, start.request().session_id, rng)?;
            }
        }
        self.resume_sessions(bank, rng)
    }

    /// Interrupted withdrawals: pending sessions and unfinished withdrawals
    /// of several coins.
    pub fn interrupted(&self) -> Result<(usize, usize)> {
        Ok((self.store.pending()?.len(), self.store.plans()?.len()))
    }

    /// The authentication key to rotate to (§7.6 item 3): in a wallet
    /// with a recovery phrase, the phrase's key of the next rotation index
    /// after the current key's, so a restore from the phrase can still
    /// authenticate; a random one in a wallet without a phrase, or once
    /// [`MAX_AUTH_ROTATIONS`] rotations are used up (`false`: the phrase no
    /// longer authenticates the account).
    pub fn next_auth_key(&self, rng: &mut impl CryptoRngCore) -> (AuthKey, bool) {
        let derived = self.seed.as_ref().and_then(|root| {
            let next = root.auth_index(self.keys.auth().public())?.checked_add(1)?;
            (next <= MAX_AUTH_ROTATIONS).then(|| root.auth_at(next))
        });
        match derived {
            Some(key) => (key, true),
            None => (AuthKey::generate(rng), false),
        }
    }

    /// Every withdrawal session of the account with its transcript, read
    /// page by page (§7.3, `list-withdrawals`), in session-id order.
    /// `progress` is told the number listed after each page.
    ///
    /// # Errors
    /// [`Error::InvalidProof`] when the bank answers with something else
    /// than a page, lists a session of another account, or a page out of
    /// order (each page must follow its cursor).
    pub fn list_withdrawals(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<WithdrawalTranscript>> {
        let mut all: Vec<WithdrawalTranscript> = Vec::new();
        let mut after = None;
        loop {
            let op = AccountOperation::ListWithdrawals { after, limit: MAX_LIST_PAGE as u16 };
            let page = match bank.account_request(&self.account_request(op, rng))? {
                AccountAnswer::Withdrawals(p) => p,
                AccountAnswer::Status(_) | AccountAnswer::Reservation(_) => {
                    return Err(Error::InvalidProof("bank answer"))
                }
            };
            let mut last = after;
            for t in &page.sessions {
                if t.request.account != self.account_id() || last.is_some_and(|l| t.request.session_id <= l) {
                    return Err(Error::InvalidProof("withdrawal listing"));
                }
                last = Some(t.request.session_id);
            }
            all.extend(page.sessions);
            progress(all.len());
            match page.next {
                Some(next) if Some(next) == last && next > after.unwrap_or(SessionId([0; 16])) => {
                    after = Some(next)
                }
                Some(_) => return Err(Error::InvalidProof("withdrawal listing")),
                None => return Ok(all),
            }
        }
    }

    /// A rotation of the authentication key to `new` (to send with
    /// [`Wallet::rotate_auth_key`]; keep `new` and the request durably
    /// first, so a lost answer can be fetched again with the same bytes).
    pub fn auth_rotation(&self, new: &AuthKey, rng: &mut impl CryptoRngCore) -> AccountRequest {
        AccountRequest::rotate_auth_key(&self.keys, new, rng)
    }

    /// Sends a rotation made by [`Wallet::auth_rotation`] and, once the bank
    /// confirms it, uses `new` from now on. Refused
    /// ([`Error::ReceivedNotDeposited`]), with nothing sent, while payments
    /// received are not deposited; payment requests issued before and not
    /// yet paid are refused after it ([`crate::roles::Payee::accept`]).
    ///
    /// # Errors
    /// [`Error::ExchangePending`], before anything is sent, while an
    /// exchange is in progress: its payment to the own account names the
    /// current key as the payee key, so the bank would refuse its deposit
    /// under a new one ([`Wallet::resume`] finishes it first).
    pub fn rotate_auth_key(
        &mut self,
        bank: &(impl BankApi + ?Sized),
        new: AuthKey,
        request: &AccountRequest,
    ) -> Result<AccountStatus> {
        // Payments received name the current key as their payee key: the
        // bank would refuse them for good under another.
        let unsettled = self.payee().unsettled()?;
        if unsettled > 0 {
            return Err(Error::ReceivedNotDeposited(unsettled));
        }
        if !self.store.exchanges()?.is_empty() {
            return Err(Error::ExchangePending);
        }
        // A stored reservation request and a stored challenge are signed
        // with the current key: a resend under a rotated key is refused.
        if !self.store.plans()?.is_empty() || !self.store.pending()?.is_empty() {
            return Err(Error::WithdrawalPending);
        }
        // So is a stored reclaim of a refused payment.
        if !self.store.reclaims()?.is_empty() {
            return Err(Error::ReclaimPending);
        }
        let status = match bank.account_request(request)? {
            AccountAnswer::Status(s) => s,
            AccountAnswer::Reservation(_) | AccountAnswer::Withdrawals(_) => {
                return Err(Error::InvalidProof("bank answer"))
            }
        };
        if status.auth_key != *new.public() {
            return Err(Error::InvalidProof("bank answer"));
        }
        self.keys = self.keys.with_auth(new);
        Ok(status)
    }

    /// A request to re-key the account to `identity` and `auth` (for the
    /// bank's operator; keep the new keys until it is applied).
    pub fn rekey_request(
        &self,
        identity: &UserKey,
        auth: &AuthKey,
        rng: &mut impl CryptoRngCore,
    ) -> RekeyRequest {
        RekeyRequest::new(&self.keys, identity, auth, rng)
    }

    /// Uses `identity` and `auth` from now on, after the operator applied a
    /// re-key to them (the old identity is kept to spend the coins
    /// withdrawn under it).
    pub fn adopt_rekey(&mut self, identity: UserKey, auth: AuthKey) {
        self.keys = self.keys.rekeyed(identity, auth);
    }

    /// Returns to the unspent pool the coins marked spent for a payment that
    /// was never built (a crash between marking and building): such a
    /// payment never left the wallet. Returns how many coins were released.
    ///
    /// # Security
    /// Call it only while no other process is paying from this wallet (the
    /// command line holds the wallet's lock file): a concurrent `pay` sits
    /// between marking and recording by design.
    pub fn release_unpaid(&self) -> Result<usize> {
        let mut by_request: std::collections::BTreeMap<[u8; 32], Vec<CoinId>> = Default::default();
        for c in self.store.coins()? {
            // A restored coin found spent has no payment, and is never
            // spendable again.
            if let Some(rid) = c.spent_in.filter(|r| *r != crate::store::RESTORED_SPENT) {
                by_request.entry(rid).or_default().push(c.coin.coin.id());
            }
        }
        let mut released = 0;
        for (rid, ids) in by_request {
            if self.store.payment(&rid)?.is_none() {
                self.store.unmark_spent(&ids, &rid)?;
                released += ids.len();
            }
        }
        Ok(released)
    }

    /// Every coin in the wallet.
    pub fn coins(&self) -> Result<Vec<StoredCoin>> {
        Ok(self.store.coins()?)
    }

    /// Value of the unspent coins.
    pub fn balance(&self) -> Result<u64> {
        checked_sum(self.store.coins()?.iter().filter(|c| c.spent_in.is_none()).map(|c| c.coin.value))
    }

    /// Pays `request` exactly: selects coins, marks them spent durably, then
    /// builds the payment. Asking again for the same request returns the same
    /// payment (never a second spend of new coins).
    pub fn pay(&self, request: &PaymentRequest, rng: &mut impl CryptoRngCore) -> Result<Payment> {
        let today = self.clock.today();
        if request.merchant_key.is_identity() {
            return Err(Error::BadPaymentRequest("merchant key"));
        }
        if request.amount == 0 {
            return Err(Error::BadPaymentRequest("amount"));
        }
        // The merchant's clock may differ from ours by a day at most.
        if request.day > today.plus(1) || request.day < today.minus(1) {
            return Err(Error::RequestDayMismatch { day: request.day, today });
        }
        let request_id = request.id();
        if let Some(p) = self.store.payment(&request_id)? {
            return Ok(p);
        }
        let coins = self.store.coins()?;
        let chosen = self.select(&coins, request.amount, request.day)?;
        self.spend(request, &chosen, rng)
    }

    /// Marks `chosen` spent for `request` durably, then builds and records
    /// the payment (a failure to build returns the coins to the pool).
    fn spend(
        &self,
        request: &PaymentRequest,
        chosen: &[WalletCoin],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Payment> {
        let request_id = request.id();
        let ids: Vec<CoinId> = chosen.iter().map(|c| c.coin.id()).collect();
        self.store.mark_spent(&ids, &request_id).map_err(|e| match e {
            StoreError::Conflict(_) => Error::BadPaymentRequest("coin already spent"),
            other => Error::Store(other),
        })?;
        failpoint!("wallet.pay.marked");
        let chosen_refs: Vec<&WalletCoin> = chosen.iter().collect();
        let users: Vec<&UserKey> = self.keys.all_identities().collect();
        let payment = match create_payment_with_keys(request, self.keysets(), &users, &chosen_refs, rng) {
            Ok(p) => p,
            Err(e) => {
                // Nothing left the wallet: the coins are still unspent.
                self.store.unmark_spent(&ids, &request_id)?;
                return Err(e);
            }
        };
        self.store.record_payment(&request_id, &payment)?;
        failpoint!("wallet.pay.recorded");
        Ok(payment)
    }

    /// Coins worth exactly `amount`, chosen among the coins of every pinned
    /// keyset spendable on `day` (specs/protocol.md §8.1).
    fn select(&self, coins: &[StoredCoin], amount: u64, day: Day) -> Result<Vec<WalletCoin>> {
        let usable = usable_coins(coins, self.keysets(), day);
        let available = checked_sum(usable.iter().map(|c| c.value))?;
        let values: Vec<(usize, u64)> = usable.iter().enumerate().map(|(i, c)| (i, c.value)).collect();
        if let Some(pick) = select_coins(&values, amount) {
            return Ok(pick.into_iter().map(|i| usable[i].clone()).collect());
        }
        let expired = checked_sum(
            coins
                .iter()
                .filter(|c| c.spent_in.is_none() && c.coin.secrets.expiry() < day)
                .map(|c| c.coin.value),
        )?;
        if expired > 0 && available < amount {
            return Err(Error::CoinsExpired { expired, available, day });
        }
        Err(Error::NoExactChange { amount, available })
    }
}

/// The unspent coins that can be spent on `day`, of every keyset of
/// `keysets`: their key is spendable that day and they have not expired.
/// Oldest keyset first (the pinned order), so that among coins of equal
/// value the older ones leave the wallet first, before they expire.
fn usable_coins<'a>(coins: &'a [StoredCoin], keysets: &[Keyset], day: Day) -> Vec<&'a WalletCoin> {
    keysets
        .iter()
        .flat_map(|keyset| {
            coins
                .iter()
                .filter(|c| c.spent_in.is_none())
                .map(|c| &c.coin)
                .filter(move |c| c.coin.body.keyset_id == keyset.id())
                .filter(move |c| {
                    keyset.key(&c.coin.body.key_id).is_some_and(|k| k.spendable_on(day))
                        && c.secrets.expiry() >= day
                })
        })
        .collect()
}

/// Whether a refusal of an opening request (or a reservation) is final:
/// the same request will not succeed later, and nothing was blinded, so the
/// wallet may drop it.
fn is_final(e: &Error) -> bool {
    matches!(
        e,
        Error::SessionExpired
            | Error::SessionFromOldEpoch
            | Error::UnknownSession
            | Error::SessionConflict
            | Error::CommitmentReused
            | Error::InsufficientBalance { .. }
            | Error::AccountFrozen(_)
            | Error::KeyNotValid { .. }
            | Error::ExpiryPolicy { .. }
            | Error::UnknownReservation
            | Error::ReservationInactive
            | Error::ReservationExhausted { .. }
            | Error::RekeyRequired(_)
            | Error::AccountRequestIdReused
    )
}

/// Whether a new session may succeed where this one ended.
fn retry_after(reason: EndReason) -> bool {
    !matches!(reason, EndReason::AccountFrozen | EndReason::InsufficientBalance)
}

/// Most coins one withdrawal may take: a withdrawal's coins are listed
/// before the first is requested, so the amount a user types must not size
/// that list beyond this (specs/security.md §8).
pub const MAX_WITHDRAWAL_COINS: usize = 1024;

/// How many coins the greedy split of `amount` into `values_desc` takes
/// (`None` if it leaves a remainder), counted without building the list.
pub fn coin_count(amount: u64, values_desc: &[u64]) -> Option<u64> {
    let mut rest = amount;
    let mut coins = 0u64;
    for &v in values_desc.iter().filter(|v| **v > 0) {
        coins = coins.saturating_add(rest / v);
        rest %= v;
    }
    (rest == 0 && amount > 0).then_some(coins)
}

/// Splits `amount` into the available denominations (largest first),
/// refusing before it allocates anything a split of more than
/// [`MAX_WITHDRAWAL_COINS`] coins.
pub fn decompose(amount: u64, values_desc: &[u64]) -> Result<Vec<u64>> {
    let coins = coin_count(amount, values_desc).ok_or(Error::NoSuchDenomination(amount))?;
    if coins > MAX_WITHDRAWAL_COINS as u64 {
        return Err(Error::WithdrawalTooLarge { amount, coins, limit: MAX_WITHDRAWAL_COINS });
    }
    let mut rest = amount;
    let mut out = Vec::with_capacity(coins as usize);
    for &v in values_desc.iter().filter(|v| **v > 0) {
        while rest >= v {
            out.push(v);
            rest -= v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompose_counts_before_it_builds_and_refuses_over_the_coin_limit() {
        let values: Vec<u64> = (0..=8).rev().map(|e| 1u64 << e).collect();
        assert_eq!(decompose(45, &values).unwrap(), vec![32, 8, 4, 1]);
        assert_eq!(coin_count(45, &values), Some(4));
        assert!(matches!(decompose(0, &values), Err(Error::NoSuchDenomination(0))));
        assert!(matches!(decompose(3, &[2]), Err(Error::NoSuchDenomination(3))));
        let most = 256 * MAX_WITHDRAWAL_COINS as u64;
        assert_eq!(decompose(most, &values).unwrap().len(), MAX_WITHDRAWAL_COINS);
        assert!(matches!(
            decompose(most + 1, &values),
            Err(Error::WithdrawalTooLarge { coins, .. }) if coins == MAX_WITHDRAWAL_COINS as u64 + 1
        ));
        // The largest amount is refused at once: nothing is built.
        assert!(matches!(
            decompose(u64::MAX, &values),
            Err(Error::WithdrawalTooLarge { amount: u64::MAX, coins, .. }) if coins == (u64::MAX >> 8) + 8
        ));
    }
}
