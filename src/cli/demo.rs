//! `faircash demo`: the whole life of coins, narrated, in memory.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::OsRng;

use crate::crypto::schnorr::SigningKey;
use crate::keys::{BankSecrets, KeysetPolicy, KeysetSpec, UserKey};
use crate::protocol::deposit::{DepositOutcome, DepositReceipt};
use crate::protocol::pay::create_payment;
use crate::protocol::trace::{TraceRequest, Warrant, WarrantTerms};
use crate::protocol::trust::TtpValidity;
use crate::roles::{Bank, BankApi, BankConfig, Merchant, Ttp, TtpKeys, Wallet};
use crate::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryTtpStore, MemoryWalletStore};
use crate::store::sqlite::{SqliteBankStore, SqliteMerchantStore, SqliteTtpStore, SqliteWalletStore};
use crate::store::{BankStore, MerchantStore, StoreResult, TtpStore, WalletStore};
use crate::time::{Clock, SystemClock};

/// `faircash demo` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the databases in this directory (default: a temporary one, removed at the end).
    #[arg(long, value_name = "DIR", conflicts_with = "memory")]
    pub dir: Option<std::path::PathBuf>,
    /// Use in-memory stores instead of SQLite databases.
    #[arg(long)]
    pub memory: bool,
    /// Serve the bank over HTTP on loopback; wallets and merchants reach it
    /// with the same messages over the network.
    #[arg(long)]
    pub http: bool,
}

/// Runs the demo for the command line.
pub fn run_cli(args: &DemoArgs, out: &super::output::Output) -> Result<(), super::CliError> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let result = if args.memory {
        writeln!(w, "stores: in memory").map_err(DemoError::from).and_then(|_| {
            run_with(
                &mut w,
                args.http,
                || Ok(MemoryBankStore::new()),
                |_| Ok(MemoryWalletStore::new()),
                |_| Ok(MemoryMerchantStore::new()),
                || Ok(MemoryTtpStore::new()),
            )
        })
    } else {
        let (dir, keep) = match &args.dir {
            Some(d) => (d.clone(), true),
            None => {
                let mut b = [0u8; 8];
                rand::RngCore::fill_bytes(&mut OsRng, &mut b);
                (std::env::temp_dir().join(format!("faircash-demo-{}", hex::encode(b))), false)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| super::CliError::Io(format!("{}: {e}", dir.display())))?;
        let r = writeln!(
            w,
            "stores: SQLite databases in {}{}",
            dir.display(),
            if keep { "" } else { " (removed at the end)" }
        )
        .map_err(DemoError::from)
        .and_then(|_| {
            run_with(
                &mut w,
                args.http,
                || SqliteBankStore::open(dir.join("bank.db")),
                |name| SqliteWalletStore::open(dir.join(format!("wallet-{name}.db"))),
                |name| SqliteMerchantStore::open(dir.join(format!("merchant-{name}.db"))),
                || SqliteTtpStore::open(dir.join("ttp.db")),
            )
        });
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        r
    };
    let _ = out;
    result.map_err(|e| match e {
        DemoError::Protocol(p) => super::CliError::Protocol(p),
        DemoError::Store(e) => super::CliError::from(e),
        other => super::CliError::Io(other.to_string()),
    })
}

/// Errors of the demo: any protocol error, or failing to write the narration.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A protocol step failed.
    #[error(transparent)]
    Protocol(#[from] crate::protocol::Error),
    /// Writing the narration failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// A store failed to open.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" + ")
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
                format!("coin {}… credited {value} (flagged)", &o.coin_id.to_hex()[..8])
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

/// Runs the demo with in-memory stores, narrating to `out`.
pub fn run(out: &mut impl Write) -> Result<(), DemoError> {
    run_with(
        out,
        false,
        || Ok(MemoryBankStore::new()),
        |_| Ok(MemoryWalletStore::new()),
        |_| Ok(MemoryMerchantStore::new()),
        || Ok(MemoryTtpStore::new()),
    )
}

/// Runs the demo over stores made by the given factories, narrating to `out`.
pub fn run_with<B, W, M, T>(
    out: &mut impl Write,
    over_http: bool,
    bank_store: impl Fn() -> StoreResult<B>,
    wallet_store: impl Fn(&str) -> StoreResult<W>,
    merchant_store: impl Fn(&str) -> StoreResult<M>,
    ttp_store: impl Fn() -> StoreResult<T>,
) -> Result<(), DemoError>
where
    B: BankStore + 'static,
    W: WalletStore,
    M: MerchantStore,
    T: TtpStore,
{
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let today = clock.today();
    writeln!(out, "faircash demo — fair off-line e-cash")?;
    writeln!(out, "day {today}\n")?;

    writeln!(out, "1. Initialization")?;
    let t = Instant::now();
    let judge = SigningKey::generate(rng);
    let ttp_keys = TtpKeys::generate(rng);
    let validity =
        TtpValidity { escrow_from: today, escrow_until: today.plus(730), trace_until: today.plus(1095) };
    let statement = ttp_keys
        .statement(0, validity, clock.now(), rng)
        .map_err(|e| crate::protocol::Error::Pin(crate::protocol::trust::PinError::BadTtpStatement(e)))?;
    let mut ttp = Ttp::new(ttp_keys, ttp_store()?, clock.clone());
    ttp.trust_issuer(*judge.public());
    writeln!(
        out,
        "   TTP key Y_T = {}…; it trusts warrants of judge {}…",
        &hex::encode(ttp.public_key().as_bytes())[..16],
        &hex::encode(judge.public().as_bytes())[..16]
    )?;
    writeln!(
        out,
        "   the TTP signs its key statement (Y_T, t = 1 of 1, group signing key {}…, escrow until day {}, \
         traces until day {}; RFC 9591): wallets and merchants pin it, so the bank cannot choose the escrow key",
        &hex::encode(statement.statement.signing_key.as_bytes())[..16],
        validity.escrow_until,
        validity.trace_until
    )?;
    let bank = Arc::new(Bank::open(
        bank_store()?,
        BankSecrets::generate(rng),
        clock.clone(),
        BankConfig::default(),
    )?);
    // Wallets and merchants reach the bank through `api`: the library in
    // process, or HTTP to a bank served on loopback. The operator's own
    // actions (funding accounts, tracing records) use the bank directly.
    let served;
    let api: Box<dyn BankApi> = if over_http {
        served = crate::http::server::spawn(bank.clone(), ([127, 0, 0, 1], 0).into())
            .map_err(|e| DemoError::Io(std::io::Error::other(e)))?;
        writeln!(out, "   bank served over HTTP on {}", served.url())?;
        Box::new(crate::http::client::HttpBank::new(&[&served.url()])?)
    } else {
        Box::new(bank.clone())
    };
    let keyset = bank.issue_keyset(
        *ttp.public_key(),
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
    bank.set_ttp_statements(vec![statement.clone()])?;
    let published = bank.published_keysets();
    ttp.add_keysets(&published, &bank.master_key()).map_err(crate::protocol::Error::from)?;
    let mut wallets = Vec::new();
    for (name, funds) in [("alice", 100u64), ("bob", 60)] {
        let mut w =
            Wallet::new(UserKey::generate(rng), bank.master_key(), wallet_store(name)?, clock.clone());
        w.pin_keysets(&published)?;
        w.anchors_mut().trust_ttp(&statement)?;
        let id = api.register_user(&w.registration(rng))?;
        bank.fund(&id, funds)?;
        writeln!(
            out,
            "   user {name}: account {id}, registered with a proof of knowledge of u, funded {funds}"
        )?;
        wallets.push((name, w));
    }
    let mut merchants = Vec::new();
    for name in ["coffee-shop", "bookstore"] {
        let mut m =
            Merchant::new(SigningKey::generate(rng), bank.master_key(), merchant_store(name)?, clock.clone());
        m.pin_keysets(&published)?;
        m.anchors_mut().trust_ttp(&statement)?;
        api.register_merchant(&m.registration(rng))?;
        writeln!(out, "   merchant {name}: account {}", m.id())?;
        merchants.push((name, m));
    }

    writeln!(out, "\n2. Withdrawals (ACL blind signatures; the bank never sees the coins)")?;
    for ((name, w), amount) in wallets.iter().zip([45u64, 27]) {
        let t = Instant::now();
        let ids = w.withdraw(&*api, amount, rng)?;
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

    writeln!(out, "\n3. Off-line payments (merchants check with public keys only)")?;
    let plan = [(0usize, 0usize, 9u64), (1, 1, 17), (0, 1, 4)];
    let mut bob_spent = Vec::new();
    for (wi, mi, amount) in plan {
        let (wname, w) = &wallets[wi];
        let (mname, m) = &merchants[mi];
        let req = m.request_payment(amount, [0; 32], rng)?;
        let t = Instant::now();
        let payment = w.pay(&req, rng)?;
        let tp = ms(t);
        let t = Instant::now();
        let summary = m.accept(&payment, rng)?;
        if wi == 1 {
            bob_spent.extend(summary.coin_ids.iter().copied());
        }
        writeln!(
            out,
            "   {wname} pays {mname} {amount} with {} coin(s) [{}]: payment built in {tp}, verified by the merchant in {}",
            summary.coin_ids.len(),
            breakdown(&summary.values),
            ms(t)
        )?;
    }

    writeln!(out, "\n4. Deposits (batch verification, double-spend check by coin_id)")?;
    for (name, m) in &merchants {
        let t = Instant::now();
        if let Some(receipt) = m.deposit(&*api, rng)? {
            writeln!(out, "   {name} deposits: {} ({})", outcomes(&receipt), ms(t))?;
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
        writeln!(out, "   {name} accepts it off-line: the payment verifies on its own")?;
    }
    let mut identified = None;
    for (name, m) in &merchants {
        if let Some(receipt) = m.deposit(&*api, rng)? {
            writeln!(out, "   {name} deposits: {}", outcomes(&receipt))?;
            for o in &receipt.outcomes {
                if let DepositOutcome::DoubleSpent { account } = o.outcome {
                    identified = account;
                }
            }
        }
    }
    let evidence = bank.evidence()?;
    let record = evidence.first().ok_or(DemoError::Check("evidence stored"))?;
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
    match alice.withdraw(&*api, 1, rng) {
        Err(e) => writeln!(out, "   alice tries to withdraw again: refused ({e})")?,
        Ok(_) => return Err(DemoError::Check("a frozen account cannot withdraw")),
    }

    writeln!(out, "\n6. Tracing on warrants (revocable anonymity)")?;
    let (_, bob) = &wallets[1];
    let now = clock.now();
    let terms = |kind, record_digest| WarrantTerms {
        kind,
        record_digest,
        case_id: "case 2026-117".into(),
        reason: "demo investigation".into(),
        issued_at: now,
        expires_at: now.plus_secs(86_400),
    };
    // Owner tracing: a deposited coin → who withdrew it.
    let coin_id = bob_spent.first().ok_or(DemoError::Check("bob paid"))?;
    let record = bank.spend_record(coin_id)?;
    let warrant =
        Warrant::issue(&judge, terms(crate::protocol::trace::TraceKind::Owner, record.digest()), rng);
    let t = Instant::now();
    let result = ttp
        .trace_owner(&TraceRequest { warrant: warrant.clone(), record: record.clone() }, rng)
        .map_err(crate::protocol::Error::from)?;
    let owner = bank.apply_owner_trace(&result, &record, &warrant, &statement.statement.public_keys())?;
    writeln!(
        out,
        "   owner trace of deposited coin {}… under a signed warrant: account {owner}{} (log entry {}, {})",
        &coin_id.to_hex()[..8],
        if owner == bob.account_id() { " (bob)" } else { "" },
        result.log_index,
        ms(t)
    )?;
    writeln!(out, "   the result carries a Chaum–Pedersen proof of the decryption; the bank verified it with public keys")?;
    // Coin tracing: a withdrawal → the serial of its coin, watched from now on.
    let session = bank
        .withdrawals_of(&bob.account_id())?
        .into_iter()
        .find(|s| s.value == 8)
        .ok_or(DemoError::Check("bob withdrew an 8"))?;
    let record = bank.withdrawal_record(&session.id())?;
    let warrant =
        Warrant::issue(&judge, terms(crate::protocol::trace::TraceKind::Coin, record.digest()), rng);
    let result = ttp
        .trace_coin(&TraceRequest { warrant: warrant.clone(), record: record.clone() }, rng)
        .map_err(crate::protocol::Error::from)?;
    let serial = bank.apply_coin_trace(&result, &record, &warrant, &statement.statement.public_keys())?;
    writeln!(
        out,
        "   coin trace of bob's withdrawal of 8: serial S = {}… goes on the bank's watch list (log entry {})",
        &hex::encode(serial.as_bytes())[..16],
        result.log_index
    )?;
    let (mname, shop) = &merchants[0];
    shop.import_watch_list(&bank.watch_list(rng)?)?;
    let req = shop.request_payment(8, [2; 32], rng)?;
    let payment = bob.pay(&req, rng)?;
    match shop.accept(&payment, rng) {
        Err(e) => writeln!(out, "   bob pays {mname} with that coin: refused off-line ({e})")?,
        Ok(_) => return Err(DemoError::Check("a watched coin is refused")),
    }
    let head = ttp.log_head(rng).map_err(crate::protocol::Error::from)?;
    ttp.verify_log(std::slice::from_ref(&head)).map_err(crate::protocol::Error::from)?;
    writeln!(
        out,
        "   the TTP's audit log holds {} entries; its signed head {}… lets auditors detect any deletion",
        head.size,
        &hex::encode(head.hash)[..16]
    )?;

    writeln!(out, "\n7. Balances")?;
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
    writeln!(
        out,
        "\nDone: honest payments stayed anonymous; the double spender was identified without the TTP;\n\
         the TTP revoked anonymity only on warrants, proving and logging each decryption."
    )?;
    Ok(())
}
