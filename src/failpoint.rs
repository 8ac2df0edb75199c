//! Failpoints: named places where a test makes the process crash, so that
//! every crash window of a money-moving path is hit for sure, not by chance.
//!
//! `failpoint!("name")` marks a place. It compiles to nothing unless the
//! crate is built with the `failpoints` feature, which only the crate's own
//! tests, examples and benches turn on (through a dev-dependency of the
//! crate on itself, see `Cargo.toml`): `cargo build`, `cargo run --release
//! -- demo` and every program that links the library contain no failpoint
//! code. In a build with the feature, the environment variable
//! `FAIRCASH_FAILPOINT` arms one failpoint:
//!
//! - `FAIRCASH_FAILPOINT=name` aborts the process (`std::process::abort`,
//!   no destructors, no flushing: a crash) the first time `name` is hit;
//! - `FAIRCASH_FAILPOINT=name:N` aborts on the `N`-th hit (`N ≥ 1`) in
//!   this process.
//!
//! Before aborting, the process writes `failpoint NAME hit` to stderr.
//! A value naming no failpoint below makes the first failpoint reached
//! panic with the list of names, so a misspelt name cannot make a crash
//! test pass without crashing. The tests in `tests/crash.rs` spawn the
//! `faircash` binary with the variable set and check, after the crash,
//! that recovery had work to do and that money is conserved.
//!
//! # The failpoints
//!
//! Every failpoint sits after one durable step of a protocol and before the
//! next; the table says what a crash there leaves behind and what recovers
//! from it. (This table is the list: a unit test checks that it names
//! exactly the failpoints in the code, each placed once.)
//!
//! | name | where | left behind | recovery |
//! |---|---|---|---|
//! | `bank.account.reserved` | [`crate::roles::Bank::account_request`]: the transaction that reserves a withdrawal's whole amount has committed; the answer has not left | an amount held at the bank, a withdrawal plan in the wallet and no coin | `wallet resume` asks for the same reservation (same id) and gets its state, then withdraws every coin under it |
//! | `wallet.withdraw.reserved` | [`crate::roles::Wallet::withdraw`]: the reservation's answer arrived and is active; no session is opened | as for `bank.account.reserved` | as for `bank.account.reserved` |
//! | `bank.withdraw.debited` | [`crate::roles::Bank::answer_withdrawal`]: the transaction that debits the account and stores the answer has committed; the answer has not left | a debited account, an answered session, a wallet still waiting | the wallet sends its stored challenge again and gets the stored answer (`wallet resume`) |
//! | `wallet.withdraw.answered` | [`crate::roles::Wallet::finish_withdrawal`]: the bank's answer arrived and verified; the coin is not stored | a debited account, a pending withdrawal in the wallet | `wallet resume` fetches the same answer and stores the coin |
//! | `wallet.exchange.recorded` | [`crate::roles::Wallet::exchange`]: the exchange (its payment request to the wallet's own account and the new coins' values) is stored; no coin is marked spent | an exchange that spent nothing | `wallet resume` finds no payment built for it and drops it |
//! | `wallet.exchange.deposit` | [`crate::roles::Wallet::exchange`]: the payment to the own account is recorded and its deposit, signed with `A`, is stored; it has not been sent | spent coins, their payment, a deposit the bank never saw | `wallet resume` sends the stored deposit (the same bytes), then withdraws the new coins |
//! | `wallet.exchange.credited` | [`crate::roles::Wallet::exchange`]: the bank's receipt arrived and verified; the withdrawal plan is not stored | the value credited to the account, the exchange at its deposit step | `wallet resume` sends the same deposit again, gets the stored receipt (no second credit) and withdraws the new coins |
//! | `wallet.exchange.planned` | [`crate::roles::Wallet::exchange`]: the withdrawal plan of the new coins is stored among the wallet's plans; the exchange is not dropped | the value in the account, a plan and the exchange naming it | `wallet resume` drops the exchange and completes the plan like any interrupted withdrawal |
//! | `wallet.restore.stored` | [`crate::roles::Wallet::check_spent`] (`wallet restore --bank`): the restored coins and the bank's unspent statement are stored; no coin is exchanged | coins stated unspent held, their copies on the lost device still spendable | `wallet resume` exchanges every coin a stored statement names unspent ([`crate::roles::Wallet::exchange_restored`]) |
//! | `wallet.pay.marked` | [`crate::roles::Wallet::pay`]: the coins are marked spent; no payment is built or recorded | coins marked spent for a payment that never left | opening the wallet returns them to the unspent pool ([`crate::roles::Wallet::release_unpaid`]) |
//! | `wallet.pay.recorded` | [`crate::roles::Wallet::pay`]: the payment is recorded in the wallet; it is not yet handed out (no payment file) | spent coins and their recorded payment, no file | paying the same request again hands out the recorded payment, spending nothing new |
//! | `wallet.new.written` | `wallet new` and `wallet restore --sweep-to`: the new wallet's keys (and, for a sweep, the old seed in `sweep.key`) and its registration file are written; the registration is not sent | a wallet whose account the bank does not know | `wallet register` sends the registration; in a sweep, `wallet resume` sends it again before sweeping (the same keys: no second account) |
//! | `wallet.sweep.paid` | [`crate::roles::Wallet::sweep_from`]: the old wallet, restored in memory, built a payment of recovered coins to the new wallet's stored request; the new wallet has not received it | the old coins unspent, the request open, the payment lost with the process | `wallet resume` (the sweep again) restores the old phrase and pays the same coins in a new payment |
//! | `wallet.sweep.received` | [`crate::roles::Wallet::sweep_from`]: the new wallet verified and holds the payment of recovered coins; it is not deposited | a payment held by the new wallet, the old coins unspent at the bank | `wallet resume` deposits the held payment first, then pays only coins not received before |
//! | `payee.deposit.stored` | [`crate::roles::Payee::deposit`] (`merchant deposit`, `wallet deposit`): the signed deposit request is stored as in flight; it has not been sent | a request in flight the bank never saw, the payments pending | the next deposit sends the stored request (the same bytes) and records its receipt |
//! | `bank.deposit.committed` | [`crate::roles::Bank::deposit`]: the transaction that records the coins, credits the merchant and stores the receipt has committed; the receipt has not left | a credited merchant whose store still holds the request in flight and its payments pending | the next deposit sends the stored request again and gets the stored receipt: the merchant books the credit, no second credit, no zero-credit duplicates |
//! | `payee.deposit.credited` | [`crate::roles::Payee::deposit`] (`merchant deposit`, `wallet deposit`): the bank's receipt arrived; it is not recorded | as for `bank.deposit.committed` | as for `bank.deposit.committed` |
//! | `wallet.reclaim.stored` | [`crate::roles::Wallet::reclaim`]: the signed reclaim of a refused payment is stored; it has not been sent | the payment's coins spent, its value in no account, a reclaim the bank never saw | `wallet resume` sends the stored reclaim (the same bytes) and settles it with the verified receipt |
//! | `bank.reclaim.committed` | [`crate::roles::Bank::reclaim`]: the transaction that records the coins, keeps the refusal, credits the payer and stores the receipt has committed; the receipt has not left | a credited payer whose wallet still holds the reclaim | `wallet resume` sends the stored reclaim again and gets the stored receipt: no second credit |
//! | `wallet.reclaim.credited` | [`crate::roles::Wallet::reclaim`]: the bank's receipt arrived; it is not verified and the reclaim is not removed | as for `bank.reclaim.committed` | as for `bank.reclaim.committed` |

/// Every failpoint name, in the order of the table above.
pub const NAMES: &[&str] = &[
    "bank.account.reserved",
    "wallet.withdraw.reserved",
    "bank.withdraw.debited",
    "wallet.withdraw.answered",
    "wallet.exchange.recorded",
    "wallet.exchange.deposit",
    "wallet.exchange.credited",
    "wallet.exchange.planned",
    "wallet.restore.stored",
    "wallet.pay.marked",
    "wallet.pay.recorded",
    "wallet.new.written",
    "wallet.sweep.paid",
    "wallet.sweep.received",
    "payee.deposit.stored",
    "bank.deposit.committed",
    "payee.deposit.credited",
    "wallet.reclaim.stored",
    "bank.reclaim.committed",
    "wallet.reclaim.credited",
];

/// The environment variable that arms a failpoint.
pub const ENV: &str = "FAIRCASH_FAILPOINT";

/// Marks a failpoint named by a string literal from [`NAMES`]; expands to
/// nothing without the `failpoints` feature.
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::hit($name);
    };
}
pub(crate) use failpoint;

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// The armed failpoint and the hit that aborts, read once per process.
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    /// Hits of the armed failpoint so far.
    static HITS: AtomicU64 = AtomicU64::new(0);

    /// Parses `name` or `name:N`.
    pub(super) fn parse(value: &str) -> Result<(String, u64), String> {
        let (name, nth) = match value.rsplit_once(':') {
            Some((name, n)) => match n.parse::<u64>() {
                Ok(n) if n >= 1 => (name, n),
                _ => return Err(format!("{}={value}: the hit count must be a number ≥ 1", super::ENV)),
            },
            None => (value, 1),
        };
        if !super::NAMES.contains(&name) {
            return Err(format!(
                "{}={value}: no failpoint is named {name:?} (known: {})",
                super::ENV,
                super::NAMES.join(", ")
            ));
        }
        Ok((name.to_string(), nth))
    }

    fn armed() -> &'static Option<(String, u64)> {
        ARMED.get_or_init(|| match std::env::var(super::ENV) {
            Ok(v) if !v.is_empty() => Some(parse(&v).unwrap_or_else(|e| panic!("{e}"))),
            _ => None,
        })
    }

    /// Counts a hit of `name` and aborts the process if it is the armed one.
    pub fn hit(name: &'static str) {
        debug_assert!(super::NAMES.contains(&name), "failpoint {name:?} is not in failpoint::NAMES");
        let Some((armed, nth)) = armed() else { return };
        if armed != name {
            return;
        }
        let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == *nth {
            eprintln!("failpoint {name} hit");
            std::process::abort();
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::hit;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Every `failpoint!("…")` in `src/`, with how often each name appears.
    fn placed() -> BTreeMap<String, usize> {
        fn walk(dir: &Path, out: &mut BTreeMap<String, usize>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("failpoint.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("failpoint!(\"").skip(1) {
                        let name = part.split('"').next().unwrap().to_string();
                        *out.entry(name).or_default() += 1;
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
        out
    }

    /// The names in the module documentation's table.
    fn documented() -> Vec<String> {
        include_str!("failpoint.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .map(|l| l.split('`').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_table_names_every_failpoint_in_the_code_once() {
        let placed = placed();
        let names: Vec<String> = super::NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(documented(), names, "the module table and NAMES differ");
        for (name, count) in &placed {
            assert_eq!(*count, 1, "failpoint {name} is placed {count} times");
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(placed.keys().cloned().collect::<Vec<_>>(), sorted, "NAMES and the code differ");
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn the_variable_names_a_known_failpoint_and_a_positive_hit() {
        use super::armed::parse;
        assert_eq!(parse("wallet.pay.marked"), Ok(("wallet.pay.marked".into(), 1)));
        assert_eq!(parse("wallet.pay.marked:3"), Ok(("wallet.pay.marked".into(), 3)));
        assert!(parse("wallet.pay.marked:0").unwrap_err().contains("≥ 1"));
        assert!(parse("wallet.pay.marked:x").unwrap_err().contains("≥ 1"));
        assert!(parse("wallet.pay.markd").unwrap_err().contains("no failpoint"));
    }
}
