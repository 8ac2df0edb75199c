//! The user's wallet: withdraws coins and pays off-line
//! (specs/protocol.md §7.2, §8).
//!
//! # Invariants
//! - A withdrawal's state is stored durably before its challenge `e` is
//!   returned for sending ([`Wallet::receive_commitment`]).
//! - Coins are marked spent durably before the payment is built and handed
//!   out ([`Wallet::pay`]), so a crash can never lead an honest user into
//!   spending a coin twice.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::anchors::TrustAnchors;
use super::bank::BankApi;
use crate::coin::CoinId;
use crate::encoding::Point;
use crate::failpoint::failpoint;
use crate::keys::{AccountId, Keyset, SignedKeyset, UserKey};
use crate::protocol::pay::{create_payment, select_coins, Payment, PaymentRequest};
use crate::protocol::register::UserRegistration;
use crate::protocol::withdraw::{
    SessionId, WalletCoin, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
    WithdrawStart,
};
use crate::protocol::{Error, Result};
use crate::store::{PendingEntry, StoreError, StoredCoin, WalletStore};
use crate::time::{Clock, Day};

/// A user's wallet over a store.
pub struct Wallet<S: WalletStore> {
    user: UserKey,
    anchors: TrustAnchors,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: WalletStore> std::fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("account", &self.user.account_id())
            .field("keysets", &self.anchors.keysets().len())
            .finish_non_exhaustive()
    }
}

impl<S: WalletStore> Wallet<S> {
    /// A wallet for `user` that trusts the bank master key `master_key`.
    pub fn new(user: UserKey, master_key: Point, store: S, clock: Arc<dyn Clock>) -> Self {
        Wallet { user, anchors: TrustAnchors::new(master_key), store, clock }
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        self.user.account_id()
    }

    /// The user key.
    pub fn user(&self) -> &UserKey {
        &self.user
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The registration message for the bank.
    pub fn registration(&self, rng: &mut impl CryptoRngCore) -> UserRegistration {
        UserRegistration::new(&self.user, rng)
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

    fn keyset(&self, id: &crate::keys::KeysetId) -> Result<&Keyset> {
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
        let keyset = self.withdrawal_keyset()?;
        let start = WithdrawStart::new(&self.user, keyset, value, self.clock.today(), rng)?;
        self.store.put_pending(&PendingEntry::Started(Box::new(start.clone())))?;
        Ok(start.request().clone())
    }

    /// Withdrawal step 2: takes the bank's commitment, computes the
    /// challenge, stores the state durably, then returns the challenge.
    pub fn receive_commitment(
        &self,
        msg: &WithdrawCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawChallenge> {
        let entry = self.pending_entry(&msg.session_id)?;
        let pending = match entry {
            PendingEntry::AwaitingAnswer(p) => return Ok(p.challenge()),
            PendingEntry::Started(start) => start.receive_commitment(&self.user, msg, rng)?,
        };
        self.store.put_pending(&PendingEntry::AwaitingAnswer(Box::new(pending.clone())))?;
        Ok(pending.challenge())
    }

    /// Withdrawal step 3: checks the bank's answer, finishes and stores the coin.
    pub fn finish_withdrawal(&self, answer: &WithdrawAnswer) -> Result<CoinId> {
        let pending = match self.pending_entry(&answer.session_id)? {
            PendingEntry::AwaitingAnswer(p) => *p,
            PendingEntry::Started(_) => return Err(Error::UnknownSession),
        };
        let coin: WalletCoin = pending.finish(answer)?;
        let id = coin.coin.id();
        failpoint!("wallet.withdraw.answered");
        self.store.complete_withdrawal(&answer.session_id, &coin)?;
        Ok(id)
    }

    fn pending_entry(&self, session: &SessionId) -> Result<PendingEntry> {
        self.store.pending()?.into_iter().find(|p| p.session_id() == *session).ok_or(Error::UnknownSession)
    }

    /// Withdraws `amount` as coins of its binary decomposition.
    pub fn withdraw(
        &self,
        bank: &(impl BankApi + ?Sized),
        amount: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<CoinId>> {
        let keyset = self.withdrawal_keyset()?;
        let values = decompose(amount, &keyset.values_desc())?;
        let mut ids = Vec::with_capacity(values.len());
        for v in values {
            ids.push(self.withdraw_one(bank, v, rng)?);
        }
        Ok(ids)
    }

    /// Withdraws one coin of `value`, running the three steps.
    pub fn withdraw_one(
        &self,
        bank: &(impl BankApi + ?Sized),
        value: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<CoinId> {
        let req = self.start_withdrawal(value, rng)?;
        let commitment = match bank.open_withdrawal(&req) {
            Ok(c) => c,
            Err(e) => {
                self.store.drop_pending(&req.session_id)?;
                return Err(e);
            }
        };
        let challenge = self.receive_commitment(&commitment, rng)?;
        match bank.answer_withdrawal(&challenge) {
            Ok(answer) => self.finish_withdrawal(&answer),
            Err(e) => {
                // A transient failure keeps the state: the answer may have
                // been given (and debited); `resume_withdrawals` fetches it.
                if is_final(&e) {
                    self.store.drop_pending(&req.session_id)?;
                }
                Err(e)
            }
        }
    }

    /// Resumes every pending withdrawal: a request is sent again (the bank
    /// returns the same commitment for the same request), a stored challenge
    /// is sent again (the bank returns the same answer), and the coin is
    /// finished. A session the bank will never answer (expired, opened
    /// before a restore of the bank's store, unknown) was never debited, so
    /// its pending state is dropped. Other failures (network, store) leave
    /// the state for a later attempt and are returned.
    pub fn resume_withdrawals(&self, bank: &(impl BankApi + ?Sized)) -> Result<Vec<CoinId>> {
        let mut done = Vec::new();
        for entry in self.store.pending()? {
            let session = entry.session_id();
            let challenge = match entry {
                PendingEntry::AwaitingAnswer(p) => p.challenge(),
                PendingEntry::Started(start) => match bank.open_withdrawal(start.request()) {
                    Ok(commitment) => self.receive_commitment(&commitment, &mut rand::rngs::OsRng)?,
                    Err(e) if is_final(&e) => {
                        self.store.drop_pending(&session)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            match bank.answer_withdrawal(&challenge) {
                Ok(answer) => done.push(self.finish_withdrawal(&answer)?),
                Err(e) if is_final(&e) => self.store.drop_pending(&session)?,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
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
            if let Some(rid) = c.spent_in {
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
        crate::protocol::checked_sum(
            self.store.coins()?.iter().filter(|c| c.spent_in.is_none()).map(|c| c.coin.value),
        )
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
        let (keyset, chosen) = self.select(&coins, request.amount, request.day)?;
        let ids: Vec<CoinId> = chosen.iter().map(|c| c.coin.id()).collect();
        self.store.mark_spent(&ids, &request_id).map_err(|e| match e {
            StoreError::Conflict(_) => Error::BadPaymentRequest("coin already spent"),
            other => Error::Store(other),
        })?;
        failpoint!("wallet.pay.marked");
        let chosen_refs: Vec<&WalletCoin> = chosen.iter().collect();
        let payment = match create_payment(request, keyset, &self.user, &chosen_refs, rng) {
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

    fn select(&self, coins: &[StoredCoin], amount: u64, day: Day) -> Result<(&Keyset, Vec<WalletCoin>)> {
        let mut best_available = 0u64;
        // Oldest keyset first, so old coins leave the wallet before they expire.
        for keyset in self.keysets() {
            let usable: Vec<&WalletCoin> = coins
                .iter()
                .filter(|c| c.spent_in.is_none())
                .map(|c| &c.coin)
                .filter(|c| c.coin.body.keyset_id == keyset.id())
                .filter(|c| {
                    keyset.key(&c.coin.body.key_id).is_some_and(|k| k.spendable_on(day))
                        && c.secrets.expiry() >= day
                })
                .collect();
            let available = crate::protocol::checked_sum(usable.iter().map(|c| c.value))?;
            best_available = best_available.max(available);
            let values: Vec<(usize, u64)> = usable.iter().enumerate().map(|(i, c)| (i, c.value)).collect();
            if let Some(pick) = select_coins(&values, amount) {
                let keyset = self.keyset(&keyset.id())?;
                return Ok((keyset, pick.into_iter().map(|i| usable[i].clone()).collect()));
            }
        }
        let expired = crate::protocol::checked_sum(
            coins
                .iter()
                .filter(|c| c.spent_in.is_none() && c.coin.secrets.expiry() < day)
                .map(|c| c.coin.value),
        )?;
        if expired > 0 && best_available < amount {
            return Err(Error::CoinsExpired { expired, available: best_available, day });
        }
        Err(Error::NoExactChange { amount, available: best_available })
    }
}

/// Whether the bank will never answer this session (so nothing was debited).
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
    )
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
