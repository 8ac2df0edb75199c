//! Bounds on the bank's deposit verification work (specs/security.md §8).
//!
//! A deposit request costs the bank one multiscalar multiplication over its
//! coins, and more when a payment in it fails (the search for it). Before
//! any of that work starts, and only after the merchant's signature has
//! verified, [`DepositGate::admit`] takes the request's coins out of two
//! budgets: the coins in flight for this merchant and the coins in flight
//! in total. A request over either budget is refused at once with a time to
//! retry ([`Error::MerchantBusy`], [`Error::Overloaded`]); a merchant that
//! deposited a cryptographically invalid payment is refused for a while
//! ([`Error::Throttled`]). The budgets are per process: each node of a bank
//! bounds its own work.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::keys::AccountId;
use crate::protocol::deposit::{DEFAULT_SEARCH_FACTOR, MAX_COINS_PER_DEPOSIT};
use crate::protocol::{Error, Result};
use crate::time::Timestamp;

/// The limits on deposit verification work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositLimits {
    /// Most coins under verification at once, over all merchants.
    pub max_coins_in_flight: usize,
    /// Most coins under verification at once for one merchant.
    pub max_coins_per_merchant: usize,
    /// The work spent searching a failed batch for its failing payments, as
    /// a multiple of the request's coins (at least 1, so every search finds
    /// at least one failing payment).
    pub search_factor: usize,
    /// Seconds a merchant that deposited a cryptographically invalid
    /// payment has its deposits refused.
    pub throttle_secs: u64,
}

impl Default for DepositLimits {
    fn default() -> Self {
        DepositLimits {
            max_coins_in_flight: 4 * MAX_COINS_PER_DEPOSIT,
            max_coins_per_merchant: MAX_COINS_PER_DEPOSIT,
            search_factor: DEFAULT_SEARCH_FACTOR,
            throttle_secs: 300,
        }
    }
}

/// How long a refused request should wait before it is sent again, when
/// the refusal is for work in flight (which ends within seconds).
const BUSY_RETRY_SECS: u64 = 2;

/// A snapshot of the gate's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DepositLoad {
    /// Coins under verification now.
    pub coins_in_flight: usize,
    /// The limit on them.
    pub max_coins_in_flight: usize,
    /// Merchants with deposits under verification now.
    pub merchants_in_flight: usize,
    /// Merchants whose deposits are refused for now.
    pub merchants_throttled: usize,
}

#[derive(Default)]
struct GateState {
    total: usize,
    per_merchant: HashMap<AccountId, usize>,
    throttled: HashMap<AccountId, Timestamp>,
}

/// The deposit work budgets of one bank process.
pub struct DepositGate {
    limits: DepositLimits,
    state: Mutex<GateState>,
}

impl std::fmt::Debug for DepositGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepositGate").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Coins admitted for verification; given back when dropped.
#[derive(Debug)]
pub struct WorkPermit<'a> {
    gate: &'a DepositGate,
    merchant: AccountId,
    coins: usize,
}

impl Drop for WorkPermit<'_> {
    fn drop(&mut self) {
        let mut s = self.gate.lock();
        s.total = s.total.saturating_sub(self.coins);
        if let Some(n) = s.per_merchant.get_mut(&self.merchant) {
            *n = n.saturating_sub(self.coins);
            if *n == 0 {
                s.per_merchant.remove(&self.merchant);
            }
        }
    }
}

impl DepositGate {
    /// A gate with `limits`.
    pub fn new(limits: DepositLimits) -> Self {
        DepositGate { limits, state: Mutex::new(GateState::default()) }
    }

    /// The limits.
    pub fn limits(&self) -> &DepositLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `coins` of verification for `merchant` at `now`, or refuses:
    /// throttled merchant, the merchant's budget, the total budget, in
    /// that order.
    pub fn admit(&self, merchant: &AccountId, coins: usize, now: Timestamp) -> Result<WorkPermit<'_>> {
        let mut s = self.lock();
        if let Some(until) = s.throttled.get(merchant).copied() {
            if until.0 > now.0 {
                return Err(Error::Throttled { retry_after_secs: until.0 - now.0 });
            }
            s.throttled.remove(merchant);
        }
        let mine = s.per_merchant.get(merchant).copied().unwrap_or(0);
        // A request larger than a budget is admitted when nothing else of
        // that budget is in flight (so no request is refused for good).
        if mine > 0 && mine + coins > self.limits.max_coins_per_merchant {
            return Err(Error::MerchantBusy { retry_after_secs: BUSY_RETRY_SECS });
        }
        if s.total > 0 && s.total + coins > self.limits.max_coins_in_flight {
            return Err(Error::Overloaded { retry_after_secs: BUSY_RETRY_SECS });
        }
        s.total += coins;
        *s.per_merchant.entry(*merchant).or_insert(0) += coins;
        Ok(WorkPermit { gate: self, merchant: *merchant, coins })
    }

    /// Refuses `merchant`'s deposits until `throttle_secs` after `now`.
    pub fn throttle(&self, merchant: &AccountId, now: Timestamp) {
        let mut s = self.lock();
        // Forget throttles that ended, so the map holds only current ones.
        s.throttled.retain(|_, until| until.0 > now.0);
        s.throttled.insert(*merchant, now.plus_secs(self.limits.throttle_secs));
    }

    /// The load at `now`.
    pub fn load(&self, now: Timestamp) -> DepositLoad {
        let s = self.lock();
        DepositLoad {
            coins_in_flight: s.total,
            max_coins_in_flight: self.limits.max_coins_in_flight,
            merchants_in_flight: s.per_merchant.len(),
            merchants_throttled: s.throttled.values().filter(|u| u.0 > now.0).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> DepositGate {
        DepositGate::new(DepositLimits {
            max_coins_in_flight: 100,
            max_coins_per_merchant: 60,
            search_factor: 4,
            throttle_secs: 30,
        })
    }

    #[test]
    fn budgets_bound_coins_in_flight_per_merchant_and_in_total() {
        let g = gate();
        let (a, b, c) = (AccountId([1; 16]), AccountId([2; 16]), AccountId([3; 16]));
        let now = Timestamp(1000);
        let pa = g.admit(&a, 50, now).unwrap();
        assert!(matches!(g.admit(&a, 20, now), Err(Error::MerchantBusy { .. })));
        let pb = g.admit(&b, 40, now).unwrap();
        assert!(matches!(g.admit(&c, 20, now), Err(Error::Overloaded { .. })));
        assert_eq!(g.load(now).coins_in_flight, 90);
        drop(pa);
        let _pc = g.admit(&c, 20, now).unwrap();
        let _pa = g.admit(&a, 20, now).unwrap();
        drop(pb);
        assert_eq!(g.load(now).coins_in_flight, 40);
        assert_eq!(g.load(now).merchants_in_flight, 2);
    }

    #[test]
    fn an_oversized_request_runs_alone() {
        let g = gate();
        let a = AccountId([1; 16]);
        let now = Timestamp(0);
        let p = g.admit(&a, 500, now).unwrap();
        assert!(matches!(g.admit(&AccountId([2; 16]), 1, now), Err(Error::Overloaded { .. })));
        drop(p);
        assert_eq!(g.load(now).coins_in_flight, 0);
    }

    #[test]
    fn a_throttled_merchant_waits_out_its_time() {
        let g = gate();
        let a = AccountId([1; 16]);
        g.throttle(&a, Timestamp(1000));
        match g.admit(&a, 1, Timestamp(1010)) {
            Err(Error::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 20),
            other => panic!("{other:?}"),
        }
        assert!(g.admit(&AccountId([2; 16]), 1, Timestamp(1010)).is_ok());
        assert_eq!(g.load(Timestamp(1010)).merchants_throttled, 1);
        assert!(g.admit(&a, 1, Timestamp(1030)).is_ok());
        assert_eq!(g.load(Timestamp(1030)).merchants_throttled, 0);
    }
}
