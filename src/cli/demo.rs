//! `faircash demo`: the whole life of coins, narrated, in memory.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::OsRng;

use crate::crypto::schnorr::SigningKey;
use crate::keys::{BankSecrets, KeysetPolicy, KeysetSpec, UserKey};
use crate::protocol::deposit::{DepositOutcome, DepositReceipt};
use crate::protocol::pay::create_payment;
use crate::roles::{Bank, BankConfig, Merchant, TtpKey, Wallet};
use crate::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use crate::time::{Clock, SystemClock};

/// Errors of the demo: any protocol error, or failing to write the narration.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A protocol step failed.
    #[error(transparent)]
    Protocol(#[from] crate::protocol::Error),
    /// Writing the narration failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// The story did not unfold as it must (a bug).
    #[error("demo check failed: {0}")]
    Check(&'static str),
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3)
}

fn breakdown(values: &[u64]) -> String {
    let mut v = values.to_vec();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

fn outcomes(receipt: &DepositReceipt) -> String {
    receipt
        .outcomes
        .iter()
        .map(|o| match o.outcome {
            DepositOutcome::Credited { value } => {
                format!("coin {}… credited {value}", &o.coin_id.to_hex()[..8])
            }
            DepositOutcome::CreditedFlagged { value } => {
                format!(
                    "coin {}… credited {value} (flagged)",
                    &o.coin_id.to_hex()[..8]
                )
            }
            DepositOutcome::Duplicate => format!("coin {}… duplicate", &o.coin_id.to_hex()[..8]),
            DepositOutcome::DoubleSpent { .. } => {
                format!("coin {}… DOUBLE SPENT", &o.coin_id.to_hex()[..8])
            }
            DepositOutcome::Refused => {
                format!("coin {}… refused (watch list)", &o.coin_id.to_hex()[..8])
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the in-memory demo, narrating to `out`.
pub fn run(out: &mut impl Write) -> Result<(), DemoError> {
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let today = clock.today();
    writeln!(
        out,
        "faircash demo — fair off-line e-cash, everything in memory"
    )?;
    writeln!(out, "day {today}\n")?;

    writeln!(out, "1. Initialization")?;
    let t = Instant::now();
    let ttp = TtpKey::generate(rng);
    writeln!(
        out,
        "   TTP key Y_T = {}…",
        &hex::encode(ttp.public().as_bytes())[..16]
    )?;
    let bank = Bank::open(
        MemoryBankStore::new(),
        BankSecrets::generate(rng),
        clock.clone(),
        BankConfig::default(),
    )?;
    let keyset = bank.issue_keyset(
        *ttp.public(),
        &KeysetSpec {
            exponents: 0..=6,
            withdraw_from: today,
            withdraw_days: 30,
            policy: KeysetPolicy::default(),
        },
        rng,
    )?;
    writeln!(
        out,
        "   bank keyset {}… signed by the master key: denominations {} ; coins valid {} days, deposits within {} days ({})",
        &keyset.id().to_hex()[..16],
        breakdown(&keyset.values_desc()).replace(" + ", ", "),
        keyset.policy().validity_days,
        keyset.policy().max_deposit_delay_days,
        ms(t)
    )?;
    let published = bank.published_keysets();
    let mut wallets = Vec::new();
    for (name, funds) in [("alice", 100u64), ("bob", 60)] {
        let mut w = Wallet::new(
            UserKey::generate(rng),
            bank.master_key(),
            MemoryWalletStore::new(),
            clock.clone(),
        );
        w.pin_keysets(&published)?;
        let id = bank.register_user(&w.registration(rng), rng)?;
        bank.fund(&id, funds)?;
        writeln!(out, "   user {name}: account {id}, registered with a proof of knowledge of u, funded {funds}")?;
        wallets.push((name, w));
    }
    let mut merchants = Vec::new();
    for name in ["coffee-shop", "bookstore"] {
        let mut m = Merchant::new(
            SigningKey::generate(rng),
            bank.master_key(),
            MemoryMerchantStore::new(),
            clock.clone(),
        );
        m.pin_keysets(&published)?;
        bank.register_merchant(&m.registration(rng), rng)?;
        writeln!(out, "   merchant {name}: account {}", m.id())?;
        merchants.push((name, m));
    }

    writeln!(
        out,
        "\n2. Withdrawals (ACL blind signatures; the bank never sees the coins)"
    )?;
    for ((name, w), amount) in wallets.iter().zip([45u64, 27]) {
        let t = Instant::now();
        let ids = w.withdraw(&bank, amount, rng)?;
        let values: Vec<u64> = w.coins()?.iter().map(|c| c.coin.value).collect();
        writeln!(
            out,
            "   {name} withdraws {amount} = {} ({} coins, {}); account balance now {}",
            breakdown(&values),
            ids.len(),
            ms(t),
            bank.account(&w.account_id())?.balance
        )?;
    }

    writeln!(
        out,
        "\n3. Off-line payments (merchants check with public keys only)"
    )?;
    let plan = [(0usize, 0usize, 9u64), (1, 1, 17), (0, 1, 4)];
    for (wi, mi, amount) in plan {
        let (wname, w) = &wallets[wi];
        let (mname, m) = &merchants[mi];
        let req = m.request_payment(amount, [0; 32], rng)?;
        let t = Instant::now();
        let payment = w.pay(&req, rng)?;
        let tp = ms(t);
        let t = Instant::now();
        let summary = m.accept(&payment, rng)?;
        writeln!(
            out,
            "   {wname} pays {mname} {amount} with {} coin(s) [{}]: payment built in {tp}, verified by the merchant in {}",
            summary.coin_ids.len(),
            breakdown(&summary.values),
            ms(t)
        )?;
    }

    writeln!(
        out,
        "\n4. Deposits (batch verification, double-spend check by coin_id)"
    )?;
    for (name, m) in &merchants {
        let t = Instant::now();
        if let Some(receipt) = m.deposit(&bank, rng)? {
            writeln!(
                out,
                "   {name} deposits: {} ({})",
                outcomes(&receipt),
                ms(t)
            )?;
        }
    }

    writeln!(out, "\n5. A double spend")?;
    let (_, alice) = &wallets[0];
    let coin = alice
        .coins()?
        .into_iter()
        .find(|c| c.spent_in.is_none())
        .ok_or(DemoError::Check("alice has an unspent coin"))?
        .coin;
    writeln!(
        out,
        "   alice copies her unspent coin of {} (id {}…) and spends it at both merchants",
        coin.value,
        &coin.coin.id().to_hex()[..16]
    )?;
    let keyset = bank.current_keyset().ok_or(DemoError::Check("keyset"))?;
    for (name, m) in &merchants {
        let req = m.request_payment(coin.value, [1; 32], rng)?;
        let payment = create_payment(&req, &keyset, alice.user(), &[&coin], rng)?;
        m.accept(&payment, rng)?;
        writeln!(
            out,
            "   {name} accepts it off-line: the payment verifies on its own"
        )?;
    }
    let mut identified = None;
    for (name, m) in &merchants {
        if let Some(receipt) = m.deposit(&bank, rng)? {
            writeln!(out, "   {name} deposits: {}", outcomes(&receipt))?;
            for o in &receipt.outcomes {
                if let DepositOutcome::DoubleSpent { account } = o.outcome {
                    identified = account;
                }
            }
        }
    }
    let evidence = bank.evidence()?;
    let record = evidence
        .first()
        .ok_or(DemoError::Check("evidence stored"))?;
    let who = record.evidence.verify(&keyset, rng)?;
    writeln!(
        out,
        "   the bank extracts u = (z_u - z_u')/(c - c') from the two spends: I = u·G = {}…",
        &hex::encode(who.identity.as_bytes())[..16]
    )?;
    let alice_id = alice.account_id();
    if identified != Some(alice_id) || who.account != alice_id {
        return Err(DemoError::Check("the double spender is alice"));
    }
    writeln!(
        out,
        "   identified account {alice_id} (alice) — frozen: {}; anyone can re-check the evidence",
        bank.account(&alice_id)?.frozen
    )?;
    match alice.withdraw(&bank, 1, rng) {
        Err(e) => writeln!(out, "   alice tries to withdraw again: refused ({e})")?,
        Ok(_) => return Err(DemoError::Check("a frozen account cannot withdraw")),
    }

    writeln!(out, "\n6. Balances")?;
    for (name, w) in &wallets {
        writeln!(
            out,
            "   {name}: account {}, unspent coins {}",
            bank.account(&w.account_id())?.balance,
            w.balance()?
        )?;
    }
    for (name, m) in &merchants {
        writeln!(out, "   {name}: account {}", bank.account(&m.id())?.balance)?;
    }
    writeln!(out, "\nDone: honest payments stayed anonymous; the double spender was identified without the TTP.")?;
    Ok(())
}
