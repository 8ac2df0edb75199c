//! `faircash demo`: the whole life of coins, narrated (or as JSON events).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::OsRng;
use serde_json::{json, Value};

use super::output::{day, outcome_json};

use crate::crypto::group_signature::GroupSigningKey;
use crate::crypto::schnorr::SigningKey;
use crate::keys::{AccountKeys, AuthKey, BankSecrets, KeysetPolicy, KeysetSpec, UserKey};
use crate::protocol::account::{AccountOperation, AccountRequest};
use crate::protocol::deposit::{DepositOutcome, DepositReceipt};
use crate::protocol::pay::create_payment;
use crate::protocol::trace::{combine_shares, TraceResult};
use crate::protocol::trace::{TraceRequest, Warrant, WarrantTerms};
use crate::protocol::trust::TtpKeyStatement;
use crate::protocol::trust::TtpValidity;
use crate::roles::{Bank, BankApi, BankConfig, Merchant, Wallet};
use crate::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryTtpStore, MemoryWalletStore};
use crate::store::sqlite::{SqliteBankStore, SqliteMerchantStore, SqliteTtpStore, SqliteWalletStore};
use crate::store::{BankStore, MerchantStore, StoreResult, TrusteeStore, WalletStore};
use crate::time::Clock;
use crate::trustees::dkg::{run_local, Ceremony, DkgOutcome, KeyPurpose, Participant};
use crate::trustees::signing::{self, GroupMessage, ResultToSign, SigningRequest};
use crate::trustees::{sign_locally, Trustee};

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

/// Runs the demo for the command line: narration, or with `--json` one
/// JSON event per line (docs/cli-json.md).
pub fn run_cli(args: &DemoArgs, out: &super::output::Output) -> Result<(), super::CliError> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut n = Narrator::new(&mut w, out.is_json());
    let result = if args.memory {
        n.event("stores", json!({"stores": "memory", "dir": null, "kept": false}), || {
            "stores: in memory".into()
        })
        .map_err(DemoError::from)
        .and_then(|_| {
            run_with(
                &mut n,
                args.http,
                || Ok(MemoryBankStore::new()),
                |_| Ok(MemoryWalletStore::new()),
                |_| Ok(MemoryMerchantStore::new()),
                |_| Ok(MemoryTtpStore::new()),
            )
        })
    } else {
        let (dir, keep) = match &args.dir {
            Some(d) => {
                refuse_existing(d)?;
                (d.clone(), true)
            }
            None => {
                let mut b = [0u8; 8];
                rand::RngCore::fill_bytes(&mut OsRng, &mut b);
                (std::env::temp_dir().join(format!("faircash-demo-{}", hex::encode(b))), false)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| super::CliError::Io(format!("{}: {e}", dir.display())))?;
        let r = n
            .event("stores", json!({"stores": "sqlite", "dir": dir, "kept": keep}), || {
                format!(
                    "stores: SQLite databases in {}{}",
                    dir.display(),
                    if keep { "" } else { " (removed at the end)" }
                )
            })
            .map_err(DemoError::from)
            .and_then(|_| {
                run_with(
                    &mut n,
                    args.http,
                    || SqliteBankStore::open(dir.join("bank.db")),
                    |name| SqliteWalletStore::open(dir.join(format!("wallet-{name}.db"))),
                    |name| SqliteMerchantStore::open(dir.join(format!("merchant-{name}.db"))),
                    |i| SqliteTtpStore::open(dir.join(format!("trustee-{i}.db"))),
                )
            });
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        r
    };
    result.map_err(|e| match e {
        DemoError::Protocol(p) => super::CliError::Protocol(p),
        DemoError::Store(e) => super::CliError::from(e),
        DemoError::Io(e) => super::CliError::from(e),
        other => super::CliError::Io(other.to_string()),
    })
}

/// `demo --dir` keeps the demo's databases in a new directory: they are the
/// stores of one process, not role directories, so an existing directory is
/// refused rather than mixed with them.
fn refuse_existing(dir: &std::path::Path) -> Result<(), super::CliError> {
    if dir.exists() {
        return Err(super::CliError::Refused(format!(
            "{}: exists already; `demo --dir` writes the demo's databases to a new directory \
             (they are not role directories for `faircash bank/wallet/merchant`)",
            dir.display()
        )));
    }
    Ok(())
}

/// Where the demo tells its story: lines for people, or one JSON object per
/// event (`{"event": "withdrawal", …}`) for programs.
pub struct Narrator<'a, W: Write> {
    out: &'a mut W,
    json: bool,
}

impl<'a, W: Write> Narrator<'a, W> {
    /// Narration to `out`; JSON events with `json`.
    pub fn new(out: &'a mut W, json: bool) -> Self {
        Narrator { out, json }
    }

    /// One event: `fields` (an object) tagged `"event": name` in JSON, or
    /// the line `text` for people.
    pub fn event(&mut self, name: &str, fields: Value, text: impl FnOnce() -> String) -> std::io::Result<()> {
        if self.json {
            let mut v = json!({"event": name});
            if let (Some(o), Value::Object(f)) = (v.as_object_mut(), fields) {
                o.extend(f);
            }
            writeln!(self.out, "{v}")
        } else {
            writeln!(self.out, "{}", text())
        }
    }

    /// A numbered section heading.
    fn section(&mut self, number: u32, title: &str, about: &str) -> std::io::Result<()> {
        self.event("section", json!({"section": number, "title": title}), || {
            format!(
                "\n{number}. {title}{}",
                if about.is_empty() { String::new() } else { format!(" ({about})") }
            )
        })
    }
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
    /// A trustees' ceremony or group signature failed.
    #[error("trustees: {0}")]
    Trustees(String),
}

fn trustees_err(e: impl std::fmt::Display) -> DemoError {
    DemoError::Trustees(e.to_string())
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", elapsed_ms(t))
}

fn elapsed_ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
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

/// A 2-of-3 trace: the trustees `decrypt` give their proven shares, anyone
/// combines them, and the same two sign the result with FROST (each checks
/// it first, and so sees the plaintext).
fn threshold_trace<S: TrusteeStore>(
    trustees: &[Trustee<S>],
    signing_group: &DkgOutcome,
    statement: &TtpKeyStatement,
    request: &TraceRequest,
    decrypt: [usize; 2],
    rng: &mut OsRng,
) -> Result<TraceResult, DemoError> {
    let shares = decrypt
        .iter()
        .map(|&i| trustees[i].decrypt_share(request, rng))
        .collect::<Result<Vec<_>, _>>()
        .map_err(crate::protocol::Error::from)?;
    let combined = combine_shares(statement, request, &shares).map_err(crate::protocol::Error::from)?;
    let message = GroupMessage::TraceResult(Box::new(ResultToSign {
        request: request.clone(),
        result: combined.unsigned_result(statement.public_keys()),
    }));
    let signers: Vec<&Trustee<S>> = decrypt.iter().map(|&i| &trustees[i]).collect();
    let session = SigningRequest::new(signers.iter().map(|t| t.id()).collect(), message, rng);
    let (commitments, shares) = sign_locally(&signers, &session, rng).map_err(trustees_err)?;
    signing::finish_result(signing_group, statement, &session, &commitments, &shares).map_err(trustees_err)
}

fn log_json(entries: &[(u16, u64)]) -> serde_json::Value {
    entries.iter().map(|(i, index)| json!({"trustee": i, "log_index": index})).collect()
}

fn log_text(entries: &[(u16, u64)]) -> String {
    let named: Vec<String> =
        entries.iter().map(|(i, index)| format!("trustee {i} log entry {index}")).collect();
    format!("shares of {}", named.join(" and "))
}

/// Runs the demo with in-memory stores, narrating to `out`.
pub fn run(out: &mut impl Write) -> Result<(), DemoError> {
    run_with(
        &mut Narrator::new(out, false),
        false,
        || Ok(MemoryBankStore::new()),
        |_| Ok(MemoryWalletStore::new()),
        |_| Ok(MemoryMerchantStore::new()),
        |_| Ok(MemoryTtpStore::new()),
    )
}

/// Runs the demo over stores made by the given factories, telling the story
/// to `out`.
pub fn run_with<B, W, M, T>(
    out: &mut Narrator<'_, impl Write>,
    over_http: bool,
    bank_store: impl Fn() -> StoreResult<B>,
    wallet_store: impl Fn(&str) -> StoreResult<W>,
    merchant_store: impl Fn(&str) -> StoreResult<M>,
    trustee_store: impl Fn(u16) -> StoreResult<T>,
) -> Result<(), DemoError>
where
    B: BankStore + 'static,
    W: WalletStore,
    M: MerchantStore,
    T: TrusteeStore,
{
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = super::clock();
    let today = clock.today();
    out.event("start", json!({"today": day(today)}), || {
        format!("faircash demo — fair off-line e-cash\nday {today}")
    })?;

    out.section(1, "Initialization", "")?;
    let t = Instant::now();
    let judge = SigningKey::generate(rng);
    // The TTP is three trustees of which any two trace: two ceremonies (the
    // decryption key Y_T and the group signing key) give each its shares,
    // and nobody ever holds either secret.
    let identities: Vec<GroupSigningKey> = (0..3).map(|_| GroupSigningKey::generate(rng)).collect();
    let participants: Vec<Participant> =
        identities.iter().zip(1..).map(|(k, id)| Participant { id, identity: *k.public() }).collect();
    let mut ceremony = |purpose| -> Result<_, DemoError> {
        let c = Ceremony::new(purpose, 2, participants.clone(), rng).map_err(trustees_err)?;
        let (transcript, outcome, shares) = run_local(&c, &identities, rng).map_err(trustees_err)?;
        if transcript.verify().map_err(trustees_err)? != outcome {
            return Err(DemoError::Check("the ceremony's transcript verifies to its outcome"));
        }
        Ok((outcome, shares))
    };
    let (decryption, decryption_shares) = ceremony(KeyPurpose::Decryption)?;
    let (signing, signing_shares) = ceremony(KeyPurpose::Signing)?;
    let validity =
        TtpValidity { escrow_from: today, escrow_until: today.plus(730), trace_until: today.plus(1095) };
    let unsigned = TtpKeyStatement {
        params_id: crate::params::Params::get().id,
        sequence: 0,
        decryption_key: decryption.group_key,
        threshold: 2,
        trustees: decryption.verification_shares.clone(),
        signing_key: signing.group_key,
        validity,
        issued: clock.now(),
    };
    let mut trustees = Vec::new();
    for ((identity, d), s) in identities.iter().zip(decryption_shares).zip(signing_shares) {
        let store = trustee_store(d.id)?;
        let mut trustee = Trustee::new(identity.clone(), d, s, store, clock.clone()).map_err(trustees_err)?;
        trustee.trust_issuer(*judge.public());
        trustees.push(trustee);
    }
    let request = SigningRequest::new(vec![1, 2], GroupMessage::KeyStatement(unsigned), rng);
    let (commitments, shares) =
        sign_locally(&[&trustees[0], &trustees[1]], &request, rng).map_err(trustees_err)?;
    let statement = signing::finish(&signing, &request, &commitments, &shares).map_err(trustees_err)?;
    let group_key = statement.statement.decryption_key;
    out.event(
        "ttp_ready",
        json!({"ttp_key": group_key, "judge": judge.public(), "threshold": 2, "trustees": 3, "elapsed_ms": elapsed_ms(t)}),
        || {
            format!(
                "   TTP: 3 trustees, any 2 trace; two key-generation ceremonies (signed round files, sealed shares, echo)\n   \
                 give Y_T = {}… and a group signing key, and nobody holds either secret; they trust warrants of judge {}… ({})",
                &hex::encode(group_key.as_bytes())[..16],
                &hex::encode(judge.public().as_bytes())[..16],
                ms(t)
            )
        },
    )?;
    out.event(
        "ttp_statement",
        json!({
            "signing_key": statement.statement.signing_key,
            "escrow_until": day(validity.escrow_until),
            "trace_until": day(validity.trace_until),
        }),
        || {
            format!(
                "   trustees 1 and 2 sign the key statement with FROST (Y_T, t = 2 of 3, every Y_i, group signing key {}…,\n   \
                 escrow until day {}, traces until day {}; RFC 9591): wallets and merchants pin it, so the bank cannot choose the escrow key",
                &hex::encode(statement.statement.signing_key.as_bytes())[..16],
                validity.escrow_until,
                validity.trace_until
            )
        },
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
        out.event("bank_served", json!({"url": served.url()}), || {
            format!("   bank served over HTTP on {}", served.url())
        })?;
        Box::new(crate::http::client::HttpBank::new(&[&served.url()])?)
    } else {
        Box::new(bank.clone())
    };
    let keyset = bank.issue_keyset(
        group_key,
        &KeysetSpec {
            exponents: 0..=6,
            withdraw_from: today,
            withdraw_days: 30,
            policy: KeysetPolicy::default(),
        },
        rng,
    )?;
    out.event(
        "keyset_issued",
        json!({
            "keyset": keyset.id(),
            "denominations": keyset.values_desc().iter().rev().collect::<Vec<_>>(),
            "validity_days": keyset.policy().validity_days,
            "max_deposit_delay_days": keyset.policy().max_deposit_delay_days,
            "elapsed_ms": elapsed_ms(t),
        }),
        || {
            format!(
                "   bank keyset {}… signed by the master key: denominations {} ; coins valid {} days, deposits within {} days ({})",
                &keyset.id().to_hex()[..16],
                breakdown(&keyset.values_desc()).replace(" + ", ", "),
                keyset.policy().validity_days,
                keyset.policy().max_deposit_delay_days,
                ms(t)
            )
        },
    )?;
    bank.set_ttp_statements(vec![statement.clone()])?;
    let published = bank.published_keysets();
    for trustee in &mut trustees {
        trustee.add_keysets(&published, &bank.master_key()).map_err(crate::protocol::Error::from)?;
    }
    let mut wallets = Vec::new();
    for (name, funds) in [("alice", 100u64), ("bob", 60)] {
        let mut w =
            Wallet::new(AccountKeys::generate(rng), bank.master_key(), wallet_store(name)?, clock.clone());
        w.pin_keysets(&published)?;
        w.anchors_mut().trust_ttp(&statement)?;
        let id = api.register_user(&w.registration(rng))?;
        bank.fund(&id, funds)?;
        out.event("user_registered", json!({"user": name, "account": id, "funded": funds}), || {
            format!("   user {name}: account {id}, registered with a proof of knowledge of u and of its authentication key, funded {funds}")
        })?;
        wallets.push((name, w));
    }
    let mut merchants = Vec::new();
    for name in ["coffee-shop", "bookstore"] {
        let mut m =
            Merchant::new(SigningKey::generate(rng), bank.master_key(), merchant_store(name)?, clock.clone());
        m.pin_keysets(&published)?;
        m.anchors_mut().trust_ttp(&statement)?;
        api.register_merchant(&m.registration(rng))?;
        out.event("merchant_registered", json!({"merchant": name, "account": m.id()}), || {
            format!("   merchant {name}: account {}", m.id())
        })?;
        merchants.push((name, m));
    }

    out.section(2, "Withdrawals", "ACL blind signatures; the bank never sees the coins")?;
    for ((name, w), amount) in wallets.iter().zip([45u64, 27]) {
        let t = Instant::now();
        let ids = w.withdraw(&*api, amount, rng)?;
        let values: Vec<u64> = w.coins()?.iter().map(|c| c.coin.value).collect();
        let balance = bank.account(&w.account_id())?.balance;
        out.event(
            "withdrawal",
            json!({
                "user": name,
                "amount": amount,
                "denominations": values,
                "coins": ids,
                "account_balance": balance,
                "elapsed_ms": elapsed_ms(t),
            }),
            || {
                format!(
                    "   {name} withdraws {amount} = {} ({} coins, {}); account balance now {balance}",
                    breakdown(&values),
                    ids.len(),
                    ms(t),
                )
            },
        )?;
    }

    out.section(3, "Off-line payments", "merchants check with public keys only")?;
    let plan = [(0usize, 0usize, 9u64), (1, 1, 17), (0, 1, 4)];
    let mut bob_spent = Vec::new();
    for (wi, mi, amount) in plan {
        let (wname, w) = &wallets[wi];
        let (mname, m) = &merchants[mi];
        let req = m.request_payment(amount, [0; 32], rng)?;
        let t = Instant::now();
        let payment = w.pay(&req, rng)?;
        let (tp, tp_ms) = (ms(t), elapsed_ms(t));
        let t = Instant::now();
        let summary = m.accept(&payment, rng)?;
        if wi == 1 {
            bob_spent.extend(summary.coin_ids.iter().copied());
        }
        out.event(
            "payment",
            json!({
                "payer": wname,
                "merchant": mname,
                "amount": amount,
                "coins": summary.coin_ids,
                "denominations": summary.values,
                "build_ms": tp_ms,
                "verify_ms": elapsed_ms(t),
            }),
            || {
                format!(
                    "   {wname} pays {mname} {amount} with {} coin(s) [{}]: payment built in {tp}, verified by the merchant in {}",
                    summary.coin_ids.len(),
                    breakdown(&summary.values),
                    ms(t)
                )
            },
        )?;
    }

    out.section(4, "Deposits", "batch verification, double-spend check by coin_id")?;
    for (name, m) in &merchants {
        let t = Instant::now();
        if let Some(receipt) = m.deposit(&*api, rng)? {
            deposit_event(out, name, &receipt, Some(t))?;
        }
    }

    out.section(5, "A double spend", "")?;
    let (_, alice) = &wallets[0];
    let coin = alice
        .coins()?
        .into_iter()
        .find(|c| c.spent_in.is_none())
        .ok_or(DemoError::Check("alice has an unspent coin"))?
        .coin;
    out.event(
        "coin_copied",
        json!({"user": "alice", "coin_id": coin.coin.id(), "value": coin.value}),
        || {
            format!(
                "   alice copies her unspent coin of {} (id {}…) and spends it at both merchants",
                coin.value,
                &coin.coin.id().to_hex()[..16]
            )
        },
    )?;
    let keyset = bank.current_keyset().ok_or(DemoError::Check("keyset"))?;
    for (name, m) in &merchants {
        let req = m.request_payment(coin.value, [1; 32], rng)?;
        let payment = create_payment(&req, &keyset, alice.user(), &[&coin], rng)?;
        m.accept(&payment, rng)?;
        out.event("accepted_offline", json!({"merchant": name, "coin_id": coin.coin.id()}), || {
            format!("   {name} accepts it off-line: the payment verifies on its own")
        })?;
    }
    let mut identified = None;
    for (name, m) in &merchants {
        if let Some(receipt) = m.deposit(&*api, rng)? {
            deposit_event(out, name, &receipt, None)?;
            for o in &receipt.outcomes {
                if let DepositOutcome::DoubleSpent { account } = o.outcome {
                    identified = account;
                }
            }
        }
    }
    let evidence = bank.evidence_page(0, 1)?;
    let record = evidence.items.first().ok_or(DemoError::Check("evidence stored"))?;
    let who = record.record.evidence.verify(&keyset, rng)?;
    let alice_id = alice.account_id();
    if identified != Some(alice_id) || who.account != alice_id {
        return Err(DemoError::Check("the double spender is alice"));
    }
    let frozen = bank.account(&alice_id)?.frozen;
    out.event(
        "double_spender_identified",
        json!({"identity": who.identity, "account": alice_id, "user": "alice", "frozen": frozen}),
        || {
            format!(
                "   the bank extracts u = (z_u - z_u')/(c - c') from the two spends: I = u·G = {}…\n   \
                 identified account {alice_id} (alice) — frozen: {frozen}; anyone can re-check the evidence",
                &hex::encode(who.identity.as_bytes())[..16],
            )
        },
    )?;
    match alice.withdraw(&*api, 1, rng) {
        Err(e) => {
            out.event("withdrawal_refused", json!({"user": "alice", "reason": e.to_string()}), || {
                format!("   alice tries to withdraw again: refused ({e})")
            })?
        }
        Ok(_) => return Err(DemoError::Check("a frozen account cannot withdraw")),
    }
    // The public u authorises nothing: account operations need alice's
    // separate authentication key.
    let u = crate::crypto::secret::SecretScalar::new(*alice.user().expose_secret());
    let with_u = AccountKeys::new(alice_id, alice.user().clone(), AuthKey::from(u), vec![]);
    let status = AccountRequest::new(&with_u, AccountOperation::Status, rng);
    match api.account_request(&status) {
        Err(e) => {
            out.event("u_authorises_nothing", json!({"user": "alice", "reason": e.to_string()}), || {
                format!("   anyone can now compute u, but a request signed with it is refused ({e})")
            })?
        }
        Ok(_) => return Err(DemoError::Check("u authorises nothing")),
    }
    // Lifting the freeze: alice re-keys to a new identity (the operator
    // checks out of band that the request is hers), then the bank unfreezes.
    let (u2, a2) = (UserKey::generate(rng), AuthKey::generate(rng));
    let rekey = wallets[0].1.rekey_request(&u2, &a2, rng);
    bank.rekey_account(&rekey, "demo: holder identified in person", rng)?;
    bank.unfreeze_account(&alice_id, "demo: re-keyed, the bookstore repaid")?;
    wallets[0].1.adopt_rekey(u2, a2);
    wallets[0].1.withdraw(&*api, 1, rng)?;
    let history: Vec<&str> = bank.account_history(&alice_id)?.iter().map(|e| e.kind.name()).collect();
    let fingerprint = rekey.fingerprint();
    out.event(
        "account_rekeyed",
        json!({"user": "alice", "account": alice_id, "request": fingerprint, "history": history}),
        || {
            format!(
                "   alice re-keys (request {fingerprint}), the operator lifts the freeze; she withdraws again \
                 under her new\n   identity, and the old one is never accepted again (history: {})",
                history.join(", ")
            )
        },
    )?;

    out.section(6, "Tracing on warrants", "revocable anonymity")?;
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
    let request = TraceRequest { warrant: warrant.clone(), record: record.clone() };
    let result = threshold_trace(&trustees, &signing, &statement.statement, &request, [0, 2], rng)?;
    let owner = bank.apply_owner_trace(&result, &record, &warrant, &statement.statement)?;
    let entries = result.log_entries();
    let owner_name = if owner == bob.account_id() { Some("bob") } else { None };
    out.event(
        "owner_traced",
        json!({
            "coin_id": coin_id,
            "account": owner,
            "user": owner_name,
            "trustees": log_json(&entries),
            "elapsed_ms": elapsed_ms(t),
        }),
        || {
            format!(
                "   owner trace of deposited coin {}… under a signed warrant: account {owner}{} ({}; {})\n   \
                 each share carries a Chaum–Pedersen proof, the trustees signed the result with FROST after checking it\n   \
                 (so each signer saw the plaintext); the bank verified it with public keys",
                &coin_id.to_hex()[..8],
                owner_name.map_or(String::new(), |n| format!(" ({n})")),
                log_text(&entries),
                ms(t)
            )
        },
    )?;
    // Coin tracing: a withdrawal → the serial of its coin, watched from now on.
    let session = bank
        .withdrawals_of(&bob.account_id())?
        .into_iter()
        .find(|s| s.value == 8)
        .ok_or(DemoError::Check("bob withdrew an 8"))?;
    let record = bank.withdrawal_record(&session.id())?;
    let warrant =
        Warrant::issue(&judge, terms(crate::protocol::trace::TraceKind::Coin, record.digest()), rng);
    let request = TraceRequest { warrant: warrant.clone(), record: record.clone() };
    let result = threshold_trace(&trustees, &signing, &statement.statement, &request, [1, 2], rng)?;
    let serial = bank.apply_coin_trace(&result, &record, &warrant, &statement.statement)?;
    let entries = result.log_entries();
    out.event(
        "coin_traced",
        json!({"session": session.id(), "value": 8, "serial": serial, "trustees": log_json(&entries)}),
        || {
            format!(
                "   coin trace of bob's withdrawal of 8: serial S = {}… goes on the bank's watch list ({})",
                &hex::encode(serial.as_bytes())[..16],
                log_text(&entries)
            )
        },
    )?;
    let (mname, shop) = &merchants[0];
    shop.import_watch_list(&bank.watch_list(rng)?)?;
    let req = shop.request_payment(8, [2; 32], rng)?;
    let payment = bob.pay(&req, rng)?;
    match shop.accept(&payment, rng) {
        Err(e) => {
            out.event("watched_coin_refused", json!({"merchant": mname, "reason": e.to_string()}), || {
                format!("   bob pays {mname} with that coin: refused off-line ({e})")
            })?
        }
        Ok(_) => return Err(DemoError::Check("a watched coin is refused")),
    }
    for trustee in &trustees {
        let head = trustee.log_head(rng).map_err(crate::protocol::Error::from)?;
        trustee.verify_log(std::slice::from_ref(&head)).map_err(crate::protocol::Error::from)?;
        out.event(
            "audit_log",
            json!({"trustee": trustee.id(), "entries": head.size, "head": hex::encode(head.hash)}),
            || {
                format!(
                    "   trustee {}'s audit log holds {} entries; its head {}…, signed by its own key, lets auditors detect any deletion",
                    trustee.id(),
                    head.size,
                    &hex::encode(head.hash)[..16]
                )
            },
        )?;
    }

    out.section(7, "Balances", "")?;
    for (name, w) in &wallets {
        let account = bank.account(&w.account_id())?.balance;
        let coins = w.balance()?;
        out.event("user_balance", json!({"user": name, "account_balance": account, "coins": coins}), || {
            format!("   {name}: account {account}, unspent coins {coins}")
        })?;
    }
    for (name, m) in &merchants {
        let account = bank.account(&m.id())?.balance;
        out.event("merchant_balance", json!({"merchant": name, "account_balance": account}), || {
            format!("   {name}: account {account}")
        })?;
    }
    out.event("done", json!({}), || {
        "\nDone: honest payments stayed anonymous; the double spender was identified without the TTP\n\
         and unfrozen only after a re-key;\n\
         the TTP revoked anonymity only on warrants, proving and logging each decryption."
            .into()
    })?;
    Ok(())
}

fn deposit_event(
    out: &mut Narrator<'_, impl Write>,
    name: &str,
    receipt: &DepositReceipt,
    started: Option<Instant>,
) -> std::io::Result<()> {
    let v = json!({
        "merchant": name,
        "credited": receipt.credited,
        "outcomes": receipt.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
        "elapsed_ms": started.map(elapsed_ms),
    });
    out.event("deposit", v, || match started {
        Some(t) => format!("   {name} deposits: {} ({})", outcomes(receipt), ms(t)),
        None => format!("   {name} deposits: {}", outcomes(receipt)),
    })
}
