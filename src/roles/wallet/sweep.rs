//! Sweep after theft (specs/protocol.md §7.8): the value of a recovery
//! phrase's account moves to a new wallet (a new phrase, a new account),
//! so neither the old phrase nor the old account's keys can spend the
//! fresh coins or fetch their transcripts.
//!
//! The new wallet drives the sweep. The old wallet is restored in memory
//! only ([`Wallet::restore`] into a [`MemoryWalletStore`]), withdraws the
//! old account's available balance in memory, runs the spent check of a
//! restore (§7.7: the signed spent lists, then the bank's signed statement
//! that the rest is unspent) and pays every coin the bank signed unspent
//! to the new wallet through the ordinary path of a payment between
//! users: a payment request of the new wallet, verified off-line and held
//! in the new wallet's store, deposited to the new account. The new wallet
//! then withdraws the new account's balance as fresh coins under its own
//! phrase.
//!
//! Every step is stored in the new wallet before the next message leaves,
//! and the whole sweep may run again after a crash: a coin the new wallet
//! received before is never paid again, coins withdrawn by the old account
//! and lost with the process are rebuilt by the next restore from their
//! transcripts, and deposits and withdrawals resume from the new wallet's
//! store.

use rand_core::CryptoRngCore;

use super::{
    decompose, RestoreError, RestoreProgress, RestoreReport, SpentCheck, Wallet, MAX_WITHDRAWAL_COINS,
};
use crate::coin::CoinId;
use crate::crypto::derive::WalletSeed;
use crate::failpoint::failpoint;
use crate::keys::{AccountId, UserKey};
use crate::params::MAX_COINS_PER_PAYMENT;
use crate::protocol::pay::{create_payment_with_keys, order_digest};
use crate::protocol::withdraw::WalletCoin;
use crate::protocol::{checked_sum, Error};
use crate::roles::bank::BankApi;
use crate::store::memory::MemoryWalletStore;
use crate::store::{PaymentState, WalletStore};

/// The order description of a sweep's payment requests (hashed into each).
pub const SWEEP_ORDER: &[u8] = b"faircash sweep";

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// The old account.
    pub old_account: Option<AccountId>,
    /// The restore of the old phrase (its `recovered` coins included).
    pub restore: RestoreReport,
    /// The old account's balance withdrawn in this run (then paid over).
    pub old_balance: u64,
    /// Coins paid to the new wallet in this run, and their value.
    pub paid: Vec<CoinId>,
    /// The value of `paid`.
    pub paid_value: u64,
    /// Recovered coins left out: received by the new wallet before (an
    /// earlier, interrupted run) or not spendable today.
    pub skipped: Vec<CoinId>,
    /// The value credited to the new account by deposits of this run.
    pub credited: u64,
    /// Payments the bank refused at deposit (coins spent before the sweep,
    /// by the lost device or by whoever holds it), with their value.
    pub refused_value: u64,
    /// The spent check of the coins about to be paid (specs/protocol.md
    /// §7.7): the coins spent before the sweep (never paid), the coins the
    /// bank stated unspent (the only ones paid) and any spent coin the
    /// bank's lists left out, with its proof.
    pub spent_check: SpentCheck,
    /// The fresh coins withdrawn under the new phrase.
    pub fresh: Vec<CoinId>,
    /// The value of `fresh`.
    pub fresh_value: u64,
}

/// How a sweep stopped before it finished.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The old phrase restores nothing ([`RestoreError`]).
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The old phrase is the new wallet's own.
    #[error("the recovery phrase to sweep is the new wallet's own")]
    SameAccount,
}

impl From<Error> for SweepError {
    fn from(e: Error) -> Self {
        SweepError::Restore(RestoreError::Protocol(e))
    }
}

impl<S: WalletStore> Wallet<S> {
    /// Sweeps the account of `old` (a recovery phrase of the same bank) into
    /// this wallet and its account (specs/protocol.md §7.8), as described
    /// in the module documentation. Safe to call again after any failure or
    /// crash: it finishes what an earlier run started and never pays a coin
    /// twice.
    ///
    /// # Errors
    /// [`SweepError::Restore`] when the old phrase has no account or no
    /// key, or the bank or the store fails (what was done is kept; calling
    /// again goes on); [`SweepError::SameAccount`] when `old` is this
    /// wallet's own phrase.
    pub fn sweep_from(
        &self,
        old: &WalletSeed,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
        progress: impl FnMut(RestoreProgress),
    ) -> Result<SweepReport, SweepError> {
        let mut report = SweepReport::default();
        // What an interrupted run left in this wallet first: payments held,
        // withdrawals under way.
        self.deposit_sweep(bank, rng, &mut report)?;
        self.resume(bank, rng)?;

        let (old_wallet, restored) = Wallet::restore(
            old,
            *self.anchors.master_key(),
            MemoryWalletStore::new(),
            self.clock.clone(),
            bank,
            rng,
            progress,
        )?;
        let mut old_wallet = old_wallet;
        if old_wallet.account_id() == self.account_id() {
            return Err(SweepError::SameAccount);
        }
        *old_wallet.anchors_mut() = self.anchors.clone();
        report.old_account = Some(old_wallet.account_id());

        // The old account's available balance, as coins held in memory
        // only: one coin at a time, without a reservation, so that nothing
        // stays held at the bank if this process dies (an answered coin is
        // rebuilt by the next restore, an open session holds nothing).
        let status = old_wallet.account_status(bank, rng)?;
        let available = status.balance.saturating_sub(status.held);
        if available > 0 && !status.frozen {
            let keyset = old_wallet.withdrawal_keyset()?;
            for v in decompose(available, &keyset.values_desc())? {
                old_wallet.withdraw_one(bank, v, rng)?;
                report.old_balance += v;
            }
        }
        let mut coins: Vec<WalletCoin> = restored.recovered.clone();
        coins.extend(old_wallet.coins()?.into_iter().map(|c| c.coin));
        report.restore = restored;

        let coins = self.sweepable(coins, &mut report)?;
        // The spent check of §7.7 before any spend response leaves: of the
        // coins rebuilt from the transcripts, those on the bank's spent
        // lists or stated spent (the lost device spent them, and they were
        // deposited) are never paid, so the sweep cannot make this account
        // a double spender; only the coins the bank signed unspent are paid
        // over, with the coins just withdrawn from the old balance.
        let withdrawn: std::collections::BTreeSet<CoinId> =
            old_wallet.coins()?.iter().map(|c| c.coin.coin.id()).collect();
        let (mut coins, rebuilt): (Vec<WalletCoin>, Vec<WalletCoin>) =
            coins.into_iter().partition(|c| withdrawn.contains(&c.coin.id()));
        let check = if rebuilt.is_empty() {
            SpentCheck::default()
        } else {
            old_wallet.check_spent(bank, &rebuilt, rng)?
        };
        let unspent: std::collections::BTreeSet<&CoinId> = check.unspent.iter().collect();
        coins.extend(rebuilt.into_iter().filter(|c| unspent.contains(&c.coin.id())));
        report.spent_check = check;
        let users: Vec<&UserKey> = old_wallet.keys().all_identities().collect();
        for chunk in coins.chunks(MAX_COINS_PER_PAYMENT) {
            let amount = checked_sum(chunk.iter().map(|c| c.value))?;
            let request = self.request_payment(amount, order_digest(SWEEP_ORDER), rng)?;
            let refs: Vec<&WalletCoin> = chunk.iter().collect();
            let payment = create_payment_with_keys(&request, old_wallet.keysets(), &users, &refs, rng)?;
            failpoint!("wallet.sweep.paid");
            self.receive(&payment, rng)?;
            failpoint!("wallet.sweep.received");
            report.paid.extend(chunk.iter().map(|c| c.coin.id()));
            report.paid_value += amount;
        }
        self.deposit_sweep(bank, rng, &mut report)?;

        // The new account's balance as fresh coins under the new phrase,
        // in withdrawals of at most MAX_WITHDRAWAL_COINS coins (a crash
        // between two leaves the rest on the account for the next run).
        let status = self.account_status(bank, rng)?;
        let available = status.balance.saturating_sub(status.held);
        if available > 0 {
            let values = decompose(available, &self.withdrawal_keyset()?.values_desc())?;
            for chunk in values.chunks(MAX_WITHDRAWAL_COINS) {
                report.fresh.extend(self.withdraw_values(bank, chunk, rng, |_| {})?);
                report.fresh_value += checked_sum(chunk.iter().copied())?;
            }
        }
        Ok(report)
    }

    /// The recovered coins that may be paid to this wallet: not received
    /// here before (an earlier run of the same sweep paid them) and
    /// spendable today; the others are reported skipped.
    ///
    /// The spent check ([`Wallet::check_spent`]) then keeps only the coins
    /// the bank signs unspent.
    fn sweepable(&self, coins: Vec<WalletCoin>, report: &mut SweepReport) -> Result<Vec<WalletCoin>, Error> {
        let today = self.clock.today();
        let mut out = Vec::with_capacity(coins.len());
        let mut seen = std::collections::HashSet::new();
        for c in coins {
            let id = c.coin.id();
            let spendable = self
                .keyset(&c.coin.body.keyset_id)
                .ok()
                .and_then(|k| k.key(&c.coin.body.key_id))
                .is_some_and(|k| k.spendable_on(today))
                && c.secrets.expiry() >= today;
            if !seen.insert(id) {
                continue;
            }
            if self.has_received(&id)? || !spendable {
                report.skipped.push(id);
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Deposits every payment held, adding what was credited and refused
    /// to the report.
    fn deposit_sweep(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
        report: &mut SweepReport,
    ) -> Result<(), Error> {
        if self.store.payee().undeposited()?.is_empty() {
            return Ok(());
        }
        for receipt in self.deposit_received(bank, rng)? {
            report.credited += receipt.credited;
        }
        report.refused_value = self
            .received()?
            .iter()
            .filter(|p| matches!(p.state, PaymentState::Refused { .. }))
            .filter(|p| p.payment.request.order_digest == order_digest(SWEEP_ORDER))
            .map(|p| p.payment.request.amount)
            .sum();
        Ok(())
    }
}
