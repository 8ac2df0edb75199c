//! Exchange: change and renewal (specs/protocol.md §9.8). Coins the wallet
//! holds are spent to its own account (a payment request addressed to the
//! account, payee key `A`; the deposit signed with `A`, never with `u`),
//! then the credited value is withdrawn as other coins, all or nothing.
//!
//! # Invariants
//! - Every step is stored before the message it makes leaves the wallet:
//!   the exchange record before its coins are marked spent, the signed
//!   deposit before it is sent, the withdrawal plan before it is handed to
//!   the wallet's withdrawals. [`Wallet::resume`] takes up every step.
//! - A payment to oneself that was never built is given up (its coins are
//!   unspent again); one that was built is only ever deposited, by the same
//!   signed request (so a lost receipt is fetched again, never credited
//!   twice), and never handed out again.
//! - The new coins are an amount-independent split of the exchanged value
//!   ([`full_split`]), unless the caller names its own denominations.

use rand::Rng;
use rand_core::CryptoRngCore;

use super::{usable_coins, Wallet};
use crate::coin::CoinId;
use crate::failpoint::failpoint;
use crate::params::MAX_COINS_PER_PAYMENT;
use crate::protocol::deposit::{DepositRequest, PaymentOutcome};
use crate::protocol::pay::{order_digest, Payment, PaymentRequest};
use crate::protocol::withdraw::WalletCoin;
use crate::protocol::{checked_sum, Error, Result};
use crate::roles::bank::BankApi;
use crate::store::{ExchangeRecord, ExchangeStep, StoredCoin, WalletStore, WithdrawalPlan};
use crate::time::Day;

/// The order text of every payment a wallet makes to its own account.
pub const EXCHANGE_ORDER: &[u8] = b"faircash exchange";

/// A finished exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchanged {
    /// The coins spent to the wallet's own account.
    pub spent: Vec<CoinId>,
    /// Their value.
    pub value: u64,
    /// What the bank credited (equal to `value` unless a coin was refused).
    pub credited: u64,
    /// The new coins.
    pub coins: Vec<CoinId>,
    /// Their values, largest first.
    pub values: Vec<u64>,
}

/// The exchange that would let the wallet pay an amount exactly: the
/// fewest coins (of any keysets spendable today) that cover it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePlan {
    /// The coins to exchange.
    pub coins: Vec<CoinId>,
    /// Their value.
    pub value: u64,
}

/// The unspent coins by what they are worth today.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BalanceReport {
    /// Coins that can be spent today (the balance).
    pub spendable: u64,
    /// Of `spendable`, coins that expire within the margin: a wallet on-line
    /// renews them ([`Wallet::refresh`]).
    pub expiring: u64,
    /// Coins that can no longer be spent: expired, or under a key that is
    /// no longer spendable. Not counted in `spendable`.
    pub expired: u64,
    /// The earliest expiry day of a spendable coin.
    pub next_expiry: Option<Day>,
}

/// The amount-independent split of `value` into the denominations
/// `values_desc`: one coin of each denomination from the smallest up while
/// the value allows, then the rest largest first. Any amount from 1 to
/// `value` is a sum of some of its coins, so change made this way pays
/// whatever comes next, and the split depends on the exchanged value only,
/// never on the payment it makes possible. Largest first.
pub fn full_split(value: u64, values_desc: &[u64]) -> Result<Vec<u64>> {
    let mut rest = value;
    let mut out = Vec::new();
    for &d in values_desc.iter().rev().filter(|d| **d > 0) {
        if rest < d {
            break;
        }
        out.push(d);
        rest -= d;
    }
    if rest > 0 {
        out.extend(super::decompose(rest, values_desc)?);
    } else if out.is_empty() {
        return Err(Error::NoSuchDenomination(value));
    }
    if out.len() > super::MAX_WITHDRAWAL_COINS {
        return Err(Error::WithdrawalTooLarge {
            amount: value,
            coins: out.len() as u64,
            limit: super::MAX_WITHDRAWAL_COINS,
        });
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// The bound of change made ahead of time by default
/// ([`Wallet::make_change_ahead`]): a wallet keeps its coins able to pay
/// every amount from 1 to 64 exactly (or to its whole value, if smaller).
pub const DEFAULT_CHANGE_BOUND: u64 = 64;

/// The largest `X` such that every amount from 1 to `X` is the sum of some
/// of `values` (0 if there is no coin of 1): sorted ascending, each value
/// extends the amounts reached so far, `1..=X`, to `1..=X + v` exactly
/// when `v <= X + 1`. (Paying one of these amounts with powers of two never
/// needs more than one coin per denomination below it plus the rest, so the
/// 64-coin limit matters only for bounds far above 64 coins of value 1.)
pub fn exact_reach(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut reach = 0u64;
    for v in sorted {
        if v > reach.saturating_add(1) {
            break;
        }
        reach = reach.saturating_add(v);
    }
    reach
}

/// The fewest of `usable` whose values cover `amount`: the smallest single
/// coin worth at least `amount` if there is one, else the largest coins
/// until they cover it (at most [`MAX_COINS_PER_PAYMENT`]).
fn fewest_covering(usable: &[&WalletCoin], amount: u64) -> Option<Vec<WalletCoin>> {
    let mut sorted: Vec<&WalletCoin> = usable.to_vec();
    sorted.sort_by(|a, b| b.value.cmp(&a.value).then(a.coin.id().cmp(&b.coin.id())));
    if let Some(one) = sorted.iter().rev().find(|c| c.value >= amount) {
        return Some(vec![(*one).clone()]);
    }
    let mut sum = 0u64;
    let mut out = Vec::new();
    for c in sorted.into_iter().take(MAX_COINS_PER_PAYMENT) {
        sum = sum.checked_add(c.value)?;
        out.push(c.clone());
        if sum >= amount {
            return Some(out);
        }
    }
    None
}

impl<S: WalletStore> Wallet<S> {
    /// The fewest coins of the pinned keysets, spendable on `day`, that
    /// cover `amount`.
    fn cover(&self, coins: &[StoredCoin], amount: u64, day: Day) -> Option<Vec<WalletCoin>> {
        fewest_covering(&usable_coins(coins, self.keysets(), day), amount)
    }

    /// The coin that change made ahead of time would exchange now (protocol
    /// §9.8): `None` if the coins spendable today pay every amount from 1 to
    /// `min(bound, their total)` exactly; otherwise the smallest coin worth
    /// more than one above what they reach ([`exact_reach`]), whose full
    /// split closes the gap. The rule reads the holdings only, never an
    /// amount about to be paid.
    pub fn change_ahead_coin(&self, bound: u64) -> Result<Option<WalletCoin>> {
        let coins = self.store.coins()?;
        let usable = usable_coins(&coins, self.keysets(), self.clock.today());
        let values: Vec<u64> = usable.iter().map(|c| c.value).collect();
        let target = bound.min(checked_sum(values.iter().copied())?);
        let reach = exact_reach(&values);
        if reach >= target {
            return Ok(None);
        }
        Ok(usable
            .into_iter()
            .filter(|c| c.value > reach + 1)
            .min_by(|a, b| a.value.cmp(&b.value).then(a.coin.id().cmp(&b.coin.id())))
            .cloned())
    }

    /// Makes change ahead of time (protocol §9.8): while
    /// [`Wallet::change_ahead_coin`] names a coin, exchanges it into the full
    /// split of its value ([`full_split`]) under the newest keyset. Each
    /// exchange at least doubles the amounts reached, so it stops after at
    /// most `log2(bound) + 1` of them. Returns the exchanges made.
    pub fn make_change_ahead(
        &self,
        bank: &(impl BankApi + ?Sized),
        bound: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<Exchanged>> {
        let mut out = Vec::new();
        while let Some(coin) = self.change_ahead_coin(bound)? {
            if out.len() > 64 {
                // Unreachable while exchanges credit what they spend.
                return Err(Error::BadPaymentRequest("change ahead of time does not converge"));
            }
            let values = full_split(coin.value, &self.withdrawal_keyset()?.values_desc())?;
            out.push(self.exchange_coins(bank, &[coin], values, rng)?);
        }
        Ok(out)
    }

    /// The exchange that would make a payment of `amount` possible today,
    /// if the coins held cover it.
    pub fn change_for(&self, amount: u64) -> Result<Option<ChangePlan>> {
        let coins = self.store.coins()?;
        Ok(self.cover(&coins, amount, self.clock.today()).map(|chosen| ChangePlan {
            value: chosen.iter().map(|c| c.value).sum(),
            coins: chosen.iter().map(|c| c.coin.id()).collect(),
        }))
    }

    /// Pays `request` exactly, making change first if it must: when the
    /// coins held cannot make the amount exactly (or only in more than 64
    /// coins), the fewest coins that cover it are exchanged with `bank`
    /// into the amount-independent split of their value ([`full_split`]),
    /// then the payment is made. Returns the exchange made, if any.
    pub fn pay_with_change(
        &self,
        bank: &(impl BankApi + ?Sized),
        request: &PaymentRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Payment, Option<Exchanged>)> {
        match self.pay(request, rng) {
            Err(Error::NoExactChange { amount, .. }) => {
                let exchanged = self.exchange(bank, amount, None, rng)?;
                Ok((self.pay(request, rng)?, Some(exchanged)))
            }
            other => other.map(|p| (p, None)),
        }
    }

    /// The error for a payment that needs change while the wallet is
    /// off-line: [`Error::ExchangeNeeded`] naming the exchange that would
    /// make it possible, or the payment's own error if no exchange would.
    pub fn offline_refusal(&self, error: Error) -> Result<Error> {
        Ok(match error {
            Error::NoExactChange { amount, .. } => match self.change_for(amount)? {
                Some(plan) => Error::ExchangeNeeded { amount, coins: plan.coins.len(), value: plan.value },
                None => error,
            },
            other => other,
        })
    }

    /// Exchanges the fewest coins that cover `amount` (spendable today, of
    /// any keysets) for new coins of the same total value under the newest
    /// keyset: `into` (summing to `amount`) and the amount-independent
    /// split of what the coins hold beyond it, or, without `into`, the
    /// amount-independent split of their whole value.
    pub fn exchange(
        &self,
        bank: &(impl BankApi + ?Sized),
        amount: u64,
        into: Option<&[u64]>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Exchanged> {
        if amount == 0 {
            return Err(Error::BadPaymentRequest("amount"));
        }
        if let Some(into) = into {
            let sum = checked_sum(into.iter().copied())?;
            if sum != amount {
                return Err(Error::BadPaymentRequest("the denominations do not sum to the amount"));
            }
        }
        let coins = self.store.coins()?;
        let today = self.clock.today();
        let chosen = self.cover(&coins, amount, today).ok_or_else(|| {
            let available = usable_coins(&coins, self.keysets(), today).iter().map(|c| c.value).sum::<u64>();
            Error::NoExactChange { amount, available }
        })?;
        let value = checked_sum(chosen.iter().map(|c| c.value))?;
        let denominations = self.withdrawal_keyset()?.values_desc();
        let values = match into {
            Some(into) if value > amount => {
                let mut v = into.to_vec();
                v.extend(full_split(value - amount, &denominations)?);
                v
            }
            Some(into) => into.to_vec(),
            None => full_split(value, &denominations)?,
        };
        self.exchange_coins(bank, &chosen, values, rng)
    }

    /// Exchanges `chosen` (coins of any pinned keysets) for coins of `values`.
    pub(super) fn exchange_coins(
        &self,
        bank: &(impl BankApi + ?Sized),
        chosen: &[WalletCoin],
        mut values: Vec<u64>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Exchanged> {
        let value = checked_sum(chosen.iter().map(|c| c.value))?;
        if checked_sum(values.iter().copied())? != value {
            return Err(Error::BadPaymentRequest("the denominations do not sum to the value exchanged"));
        }
        values.sort_unstable_by(|a, b| b.cmp(a));
        // Checked before anything is spent: the split must be withdrawable.
        self.new_plan(&values, rng)?;
        let request = PaymentRequest::new(
            self.account_id(),
            *self.keys.auth().public(),
            value,
            self.clock.today(),
            order_digest(EXCHANGE_ORDER),
            rng,
        );
        let mut record = ExchangeRecord { request, values, step: ExchangeStep::Spending };
        self.store.put_exchange(&record)?;
        failpoint!("wallet.exchange.recorded");
        self.spend(&record.request, chosen, rng)?;
        let spent: Vec<CoinId> = chosen.iter().map(|c| c.coin.id()).collect();
        let (plan, credited) = match self.advance(bank, &mut record, rng)? {
            Some(p) => p,
            None => return Err(Error::BadPaymentRequest("the payment to the own account was not built")),
        };
        let coins = self.run_plan(bank, &plan, rng, |_| {})?;
        Ok(Exchanged { spent, value, credited, coins, values: plan.values })
    }

    /// Takes an exchange from its stored step to the hand-off of its
    /// withdrawal plan (stored as a plan of the wallet's withdrawals, the
    /// exchange dropped). Returns the plan and the value credited, or
    /// `None` when the payment to oneself had never been built (its coins
    /// are unspent again, the exchange dropped).
    fn advance(
        &self,
        bank: &(impl BankApi + ?Sized),
        record: &mut ExchangeRecord,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Option<(WithdrawalPlan, u64)>> {
        let id = record.id();
        let mut credited = record.request.amount;
        loop {
            match record.step.clone() {
                ExchangeStep::Spending => {
                    let Some(payment) = self.store.payment(&id)? else {
                        // Never built, so never handed out: give it up.
                        let marked: Vec<CoinId> = self
                            .store
                            .coins()?
                            .into_iter()
                            .filter(|c| c.spent_in == Some(id))
                            .map(|c| c.coin.coin.id())
                            .collect();
                        if !marked.is_empty() {
                            self.store.unmark_spent(&marked, &id)?;
                        }
                        self.store.drop_exchange(&id)?;
                        return Ok(None);
                    };
                    self.store_deposit(record, payment, rng)?;
                }
                ExchangeStep::Depositing(deposit) => {
                    let receipt = bank.deposit(&deposit)?;
                    receipt.verify(&deposit, self.keysets())?;
                    if receipt.payments.first() == Some(&PaymentOutcome::Deferred) {
                        // Not decided: deposit it again in a new request.
                        let payment =
                            deposit.payments.into_iter().next().ok_or(Error::InvalidProof("deposit"))?;
                        self.store_deposit(record, payment, rng)?;
                        continue;
                    }
                    failpoint!("wallet.exchange.credited");
                    credited = receipt.credited;
                    if credited == 0 {
                        self.store.drop_exchange(&id)?;
                        return Err(Error::ExchangeNotCredited { value: record.request.amount, credited });
                    }
                    let values = if credited == record.request.amount {
                        record.values.clone()
                    } else {
                        full_split(credited, &self.withdrawal_keyset()?.values_desc())?
                    };
                    record.step = ExchangeStep::Withdrawing(Box::new(self.new_plan(&values, rng)?));
                    self.store.put_exchange(record)?;
                }
                ExchangeStep::Withdrawing(plan) => {
                    self.store.put_plan(&plan)?;
                    failpoint!("wallet.exchange.planned");
                    self.store.drop_exchange(&id)?;
                    return Ok(Some((*plan, credited)));
                }
            }
        }
    }

    /// Signs the deposit of `payment` to the own account with `A` and
    /// stores it as the exchange's step before it is sent.
    fn store_deposit(
        &self,
        record: &mut ExchangeRecord,
        payment: Payment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        let deposit =
            DepositRequest::new(self.keys.auth().signing_key(), self.account_id(), vec![payment], rng);
        record.step = ExchangeStep::Depositing(Box::new(deposit));
        self.store.put_exchange(record)?;
        failpoint!("wallet.exchange.deposit");
        Ok(())
    }

    /// Takes up every interrupted exchange to the hand-off of its
    /// withdrawal plan (the wallet's withdrawals then complete it).
    /// Returns how many there were.
    pub(super) fn resume_exchanges(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<usize> {
        let records = self.store.exchanges()?;
        for mut record in records.iter().cloned() {
            match self.advance(bank, &mut record, rng) {
                Ok(_) | Err(Error::ExchangeNotCredited { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(records.len())
    }

    /// The unspent coins by what they are worth today: spendable, of those
    /// expiring within `margin_days`, and expired (not spendable).
    pub fn balance_report(&self, margin_days: u32) -> Result<BalanceReport> {
        let today = self.clock.today();
        let coins = self.store.coins()?;
        let mut report = BalanceReport::default();
        let mut spendable_ids = std::collections::BTreeSet::new();
        for c in usable_coins(&coins, self.keysets(), today) {
            spendable_ids.insert(c.coin.id());
            report.spendable = report.spendable.checked_add(c.value).ok_or(Error::Overflow)?;
            let expiry = c.secrets.expiry();
            if expiry < today.plus(margin_days) {
                report.expiring = report.expiring.checked_add(c.value).ok_or(Error::Overflow)?;
            }
            report.next_expiry = Some(report.next_expiry.map_or(expiry, |d: Day| d.min(expiry)));
        }
        for c in coins.iter().filter(|c| c.spent_in.is_none()) {
            if !spendable_ids.contains(&c.coin.coin.id()) {
                report.expired = report.expired.checked_add(c.coin.value).ok_or(Error::Overflow)?;
            }
        }
        Ok(report)
    }

    /// Renews every spendable coin that expires within `margin_days`, of
    /// any keysets: up to 64 coins at a time, exchanged into the
    /// amount-independent split of their value under the newest keyset.
    pub fn refresh(
        &self,
        bank: &(impl BankApi + ?Sized),
        margin_days: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<Exchanged>> {
        let today = self.clock.today();
        let horizon = today.plus(margin_days);
        let denominations = self.withdrawal_keyset()?.values_desc();
        let mut out = Vec::new();
        let coins = self.store.coins()?;
        let due: Vec<WalletCoin> = usable_coins(&coins, self.keysets(), today)
            .into_iter()
            .filter(|c| c.secrets.expiry() < horizon)
            .cloned()
            .collect();
        for batch in due.chunks(MAX_COINS_PER_PAYMENT) {
            let value = checked_sum(batch.iter().map(|c| c.value))?;
            let values = full_split(value, &denominations)?;
            out.push(self.exchange_coins(bank, batch, values, rng)?);
        }
        Ok(out)
    }
}

/// A renewal margin drawn at random from `[base, 2·base]` days: wallets
/// that renew at a fixed margin before expiry would tell the bank each
/// coin's expiry day (and so its withdrawal day) by the day they renew it.
pub fn refresh_margin(base_days: u32, rng: &mut impl CryptoRngCore) -> u32 {
    base_days.saturating_add(rng.gen_range(0..=base_days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_split_pays_every_amount_up_to_its_value() {
        let denominations: Vec<u64> = (0..=8).rev().map(|e| 1u64 << e).collect();
        assert_eq!(full_split(1, &denominations).unwrap(), vec![1]);
        assert_eq!(full_split(2, &denominations).unwrap(), vec![1, 1]);
        assert_eq!(full_split(16, &denominations).unwrap(), vec![8, 4, 2, 1, 1]);
        assert_eq!(
            full_split(1024, &denominations).unwrap(),
            vec![256, 256, 256, 128, 64, 32, 16, 8, 4, 2, 1, 1]
        );
        for value in 1..=600u64 {
            let split = full_split(value, &denominations).unwrap();
            assert_eq!(split.iter().sum::<u64>(), value);
            let coins: Vec<(usize, u64)> = split.iter().copied().enumerate().collect();
            for amount in 1..=value {
                let pick = crate::protocol::pay::select_coins(&coins, amount)
                    .unwrap_or_else(|| panic!("{amount} from the split of {value}: {split:?}"));
                assert_eq!(pick.iter().map(|i| split[*i]).sum::<u64>(), amount);
            }
        }
        assert!(matches!(full_split(0, &denominations), Err(Error::NoSuchDenomination(0))));
    }

    #[test]
    fn exact_reach_is_the_longest_run_of_payable_amounts() {
        assert_eq!(exact_reach(&[]), 0);
        assert_eq!(exact_reach(&[64]), 0);
        assert_eq!(exact_reach(&[2, 1]), 3);
        assert_eq!(exact_reach(&[32, 1]), 1);
        assert_eq!(exact_reach(&[32, 16, 8, 4, 2, 1, 1]), 64);
        // Exhaustive against the subset sums of small multisets.
        let denoms = [1u64, 2, 4, 8];
        for mask in 0u32..(1 << 8) {
            let values: Vec<u64> = (0..8).filter(|b| mask & (1 << b) != 0).map(|b| denoms[b % 4]).collect();
            let payable = |a: u64| {
                (0u32..(1 << values.len())).any(|m| {
                    values.iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, v)| v).sum::<u64>()
                        == a
                })
            };
            let reach = exact_reach(&values);
            assert!((1..=reach).all(payable), "{values:?}");
            assert!(!payable(reach + 1), "{values:?}");
        }
    }

    #[test]
    fn the_renewal_margin_is_spread() {
        let mut rng = rand::rngs::OsRng;
        let drawn: std::collections::BTreeSet<u32> = (0..200).map(|_| refresh_margin(14, &mut rng)).collect();
        assert!(drawn.iter().all(|m| (14..=28).contains(m)), "{drawn:?}");
        assert!(drawn.len() > 5, "not spread: {drawn:?}");
    }
}
