//! `faircash bank …`: the bank operator's commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::files::{
    ensure_dir, read_message, read_secret, shown, write_json, write_message, write_secret,
    write_secret_replace,
};
use super::output::{day, keyset_json, time, Output};
use super::{CliError, DirArg};
use crate::coin::CoinId;
use crate::keys::{AccountId, BankSecrets, KeysetList, KeysetPolicy, KeysetSpec};
use crate::protocol::account::RekeyRequest;
use crate::protocol::register::{MerchantRegistration, UserRegistration};
use crate::protocol::trace::{TraceRecord, TraceResult, Warrant};
use crate::protocol::trust::{TtpPinChange, TtpPins, TtpStatementList};
use crate::protocol::withdraw::SessionId;
use crate::roles::{Bank, BankConfig, WatchPolicy};
use crate::store::{AccountKind, BankStore};

/// Bank commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash bank init --dir bank --ttp-key ttp/ttp.pub.json\n  \
    faircash bank open-account --dir bank --registration alice/registration.json --fund 100\n  \
    faircash bank status --dir bank")]
pub enum BankCommand {
    /// Create a bank: master key, first keyset, database.
    #[command(
        after_help = "Example:\n  faircash bank init --dir bank --ttp-key ttp/ttp.pub.json --max-exponent 10"
    )]
    Init(InitArgs),
    /// Open a user account from a wallet's registration file.
    #[command(
        after_help = "Example:\n  faircash bank open-account --dir bank --registration alice/registration.json --fund 100"
    )]
    OpenAccount {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The wallet's registration file (`wallet new` writes it).
        #[arg(long)]
        registration: PathBuf,
        /// Credit this many base units to the new account.
        #[arg(long)]
        fund: Option<u64>,
    },
    /// Register a merchant from its registration file.
    #[command(
        after_help = "Example:\n  faircash bank register-merchant --dir bank --registration shop/registration.json"
    )]
    RegisterMerchant {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The merchant's registration file (`merchant new` writes it).
        #[arg(long)]
        registration: PathBuf,
    },
    /// Credit an account (a transfer in from outside the system).
    #[command(after_help = "Example:\n  faircash bank fund --dir bank --account 42da94e1… --amount 100")]
    Fund {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The account id (hex).
        #[arg(long)]
        account: String,
        /// Base units to credit.
        #[arg(long)]
        amount: u64,
    },
    /// Show or export the signed keyset list; `--rotate` issues the next keyset.
    #[command(
        after_help = "Examples:\n  faircash bank keyset --dir bank --out keysets.json\n  faircash bank keyset --dir bank --rotate\n  \
            faircash bank keyset --dir bank --rotate-every 30   (from cron, daily: rotates every 30 days)\n\n\
            The keyset list is also written to keysets.json in the bank directory. Running nodes\n\
            (`bank serve`) serve a new keyset within --keyset-refresh-secs, or at once on SIGHUP."
    )]
    Keyset {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Write the signed keyset list to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Issue the next keyset (new keys, same policy, withdrawals from today).
        #[arg(long, conflicts_with = "rotate_every")]
        rotate: bool,
        /// Issue the next keyset if the newest is at least DAYS days old
        /// (run it daily from cron to rotate on a schedule).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        rotate_every: Option<u32>,
    },
    /// Pin a TTP key statement (a renewed one, or one of a new TTP key): new
    /// keysets escrow under a pinned statement that covers them, and the
    /// bank publishes the statements for wallets and merchants.
    #[command(after_help = "Example:\n  faircash bank trust-ttp --dir bank --statement ttp/ttp.pub.json")]
    TrustTtp {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The TTP's signed key statement.
        #[arg(long)]
        statement: PathBuf,
    },
    /// Accounts, balances, spent coins, evidence, watch list.
    #[command(after_help = "Example:\n  faircash bank status --dir bank --json")]
    Status {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// List double-spending evidence (one per coin spent twice, oldest
    /// first, a page at a time); `--out` writes it for third parties, who
    /// check it with `faircash evidence verify`.
    #[command(after_help = "Examples:\n  faircash bank evidence --dir bank --out evidence.json\n  \
        faircash bank evidence --dir bank --account 42da94e1… --out alice-evidence.json\n  \
        faircash bank evidence --dir bank --after 12 --json    (only what is newer than cursor 12)\n  \
        faircash evidence verify evidence.json --keysets bank/keysets.json")]
    Evidence {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Only the evidence that identifies this account (hex).
        #[arg(long)]
        account: Option<String>,
        /// Write the evidence listed (all of it) to this file (`-`: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only evidence newer than this cursor (the `cursor` a previous
        /// listing printed).
        #[arg(long)]
        after: Option<u64>,
        /// Most items to list (default 32; `--out` without `--after` or
        /// `--limit` writes all of it).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::roles::bank::MAX_EVIDENCE_PAGE as u64))]
        limit: Option<u64>,
    },
    /// List deposited coins (latest first): the spends an owner-tracing
    /// record can be exported for.
    #[command(after_help = "Examples:\n  faircash bank spends --dir bank\n  \
        faircash bank spends --dir bank --merchant 0f27cf0b… --limit 10\n  \
        faircash bank export-spend --dir bank --coin <coin id> --out record.json")]
    Spends {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Only the coins this merchant account (hex) deposited.
        #[arg(long)]
        merchant: Option<String>,
        /// Most coins listed.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Export a deposited coin's spend as an owner-tracing record.
    #[command(
        after_help = "Example:\n  faircash bank export-spend --dir bank --coin 5930e23f… --out record.json"
    )]
    ExportSpend {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The coin id (hex).
        #[arg(long)]
        coin: String,
        /// Where to write the record.
        #[arg(long)]
        out: PathBuf,
    },
    /// List an account's withdrawals (the records coin tracing can name).
    #[command(after_help = "Example:\n  faircash bank withdrawals --dir bank --account 42da94e1…")]
    Withdrawals {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The account id (hex).
        #[arg(long)]
        account: String,
    },
    /// Export a withdrawal as a coin-tracing record.
    #[command(
        after_help = "Example:\n  faircash bank export-withdrawal --dir bank --session 9f0c… --out record.json"
    )]
    ExportWithdrawal {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The withdrawal session id (hex).
        #[arg(long)]
        session: String,
        /// Where to write the record.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a TTP trace result and act on it: owner → account, coin → watch list.
    #[command(
        after_help = "Example:\n  faircash bank apply-trace --dir bank --result result.json --warrant warrant.json \\\n      --record record.json --ttp ttp/ttp.pub.json"
    )]
    ApplyTrace {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The TTP's result.
        #[arg(long)]
        result: PathBuf,
        /// The warrant it was made under.
        #[arg(long)]
        warrant: PathBuf,
        /// The record traced.
        #[arg(long)]
        record: PathBuf,
        /// The TTP's public keys.
        #[arg(long)]
        ttp: PathBuf,
    },
    /// Export the coin-tracing watch list, signed, for merchants.
    #[command(after_help = "Example:\n  faircash bank watch-list --dir bank --out watch.json")]
    WatchList {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-key a user account to a new identity and authentication key (the
    /// holder's `wallet rekey` request), after verifying out of band that the
    /// holder asks for it.
    #[command(
        after_help = "Example:\n  faircash bank rekey --dir bank --account 42da94e1… --request rekey.json \\\n      \
        --reason \"holder identified at the branch, ticket 1234\"\n\n\
        The old identity's secret may be public (double-spending evidence) and the old authentication\n\
        key may be in the same hands, so nothing the request carries proves who sent it: compare its\n\
        fingerprint with the one the holder's wallet printed, through a channel you trust."
    )]
    Rekey {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The account id (hex).
        #[arg(long)]
        account: String,
        /// The holder's re-key request (`wallet rekey --out` writes it).
        #[arg(long)]
        request: PathBuf,
        /// Why (recorded in the account's history).
        #[arg(long)]
        reason: String,
    },
    /// Lift a freeze (the account must have been re-keyed since the evidence
    /// made its identity public); the evidence stays.
    #[command(
        after_help = "Example:\n  faircash bank unfreeze --dir bank --account 42da94e1… --reason \"re-keyed; fine paid\""
    )]
    Unfreeze {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The account id (hex).
        #[arg(long)]
        account: String,
        /// Why (recorded in the account's history).
        #[arg(long)]
        reason: String,
    },
    /// An account's history: registration, freezes, unfreezes, re-keys, key rotations.
    #[command(after_help = "Example:\n  faircash bank history --dir bank --account 42da94e1…")]
    History {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The account id (hex).
        #[arg(long)]
        account: String,
    },
    /// After restoring the database from a backup: never answer older sessions.
    #[command(after_help = "Example:\n  faircash bank mark-restored --dir bank")]
    MarkRestored {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Serve the bank over HTTP (JSON and binary bodies; see specs/http.md).
    #[command(after_help = "Examples:\n  faircash bank serve --dir bank --listen 127.0.0.1:8080\n  \
        faircash bank serve --dir bank --listen 0.0.0.0:8080 --db postgres://bank@db.internal/faircash\n\n\
        Settings also come from the environment: FAIRCASH_LISTEN, FAIRCASH_DB, FAIRCASH_LOG (a tracing\n\
        filter such as `info` or `faircash=debug`). SIGTERM or Ctrl-C stops accepting requests and lets\n\
        in-flight ones finish.")]
    Serve(ServeArgs),
    /// Delete spent-coin records no valid deposit can meet any more.
    #[command(after_help = "Example:\n  faircash bank prune --dir bank")]
    Prune {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
}

/// `bank serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The state directory (bank.key, bank.json).
    #[command(flatten)]
    dir: DirArg,
    /// Address to listen on.
    #[arg(long, env = "FAIRCASH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The database: a SQLite file, or postgres://… (default: the one in bank.json).
    #[arg(long, env = "FAIRCASH_DB")]
    db: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Seconds a request may take, from its head to its answer.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Seconds the node uses the keyset list it read before reading the
    /// database again (so it serves keysets issued by `bank keyset --rotate`
    /// or another node without a restart); SIGHUP reloads at once.
    #[arg(long, env = "FAIRCASH_KEYSET_REFRESH_SECS", default_value_t = 10)]
    keyset_refresh_secs: u64,
    /// Seconds a spent-list publication serves before a list request
    /// publishes the spends recorded since (protocol.md §7.7; 0: at every
    /// request). An unspent statement always publishes.
    #[arg(long, env = "FAIRCASH_SPENT_LIST_INTERVAL", default_value_t = crate::roles::bank::DEFAULT_SPENT_LIST_INTERVAL_SECS)]
    spent_list_interval: u64,
    /// Seconds a client may take to send a request's head (request line and
    /// headers); idle keep-alive connections close after as long.
    #[arg(long, default_value_t = crate::http::server::DEFAULT_HEADER_TIMEOUT.as_secs())]
    header_timeout_secs: u64,
    /// Most connections open at once; beyond, a typed 503 and the
    /// connection is closed.
    #[arg(long, default_value_t = crate::http::server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds in-flight requests may run after SIGTERM or Ctrl-C before
    /// their connections are closed.
    #[arg(long, default_value_t = crate::http::server::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace_secs: u64,
    /// Deposit requests decoded and verified at once (default: half the
    /// cores, at least one); deposits never use the workers of other
    /// requests.
    #[arg(long)]
    deposit_workers: Option<usize>,
    /// Deposit requests that may wait for a worker; beyond, deposits are
    /// answered `503 overloaded` with `Retry-After`.
    #[arg(long, default_value_t = 8)]
    deposit_queue: usize,
}

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `bank init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The state directory.
    #[command(flatten)]
    dir: DirArg,
    /// The TTP's signed key statement (`ttp keygen` writes ttp.pub.json).
    #[arg(long, alias = "ttp")]
    ttp_key: PathBuf,
    /// Denominations are 1, 2, 4, …, 2^max-exponent base units.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(0..=40))]
    max_exponent: u32,
    /// Days a coin stays valid after its withdrawal.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    validity_days: u32,
    /// Days a merchant has to deposit a payment.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(0..=365))]
    max_deposit_delay_days: u32,
    /// Days the keyset accepts withdrawals.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    withdraw_days: u32,
    /// Seconds an unanswered withdrawal session stays open.
    #[arg(long, default_value_t = 300)]
    session_ttl_secs: u64,
    /// Open withdrawal sessions allowed per account.
    #[arg(long, default_value_t = 4)]
    max_open_sessions: usize,
    /// What to do with a deposited coin on the watch list.
    #[arg(long, value_enum, default_value_t = WatchPolicyArg::Flag)]
    watch_policy: WatchPolicyArg,
    /// The database: a SQLite file, or postgres://… (default: bank.db in the directory).
    #[arg(long, env = "FAIRCASH_DB")]
    db: Option<String>,
}

/// Watch-list policy on the command line.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WatchPolicyArg {
    /// Credit and report.
    Flag,
    /// Refuse the credit.
    Refuse,
}

/// The bank directory's configuration file (`bank.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BankConfigFile {
    /// Seconds an unanswered withdrawal session stays open.
    pub session_ttl_secs: u64,
    /// Open sessions per account.
    pub max_open_sessions: usize,
    /// Watch-list policy.
    pub watch_policy: WatchPolicyArg,
    /// The TTP key statements pinned (new keysets escrow under one that
    /// covers them; the bank publishes them for wallets and merchants).
    pub ttp: TtpStatementList,
    /// Denominations 2^0..=2^max_exponent.
    pub max_exponent: u32,
    /// Coin validity.
    pub validity_days: u32,
    /// Deposit delay.
    pub max_deposit_delay_days: u32,
    /// Withdrawal window of a keyset.
    pub withdraw_days: u32,
    /// The database: absent for `bank.db` in the directory.
    #[serde(default)]
    pub database: Option<String>,
}

impl BankConfigFile {
    fn bank_config(&self) -> BankConfig {
        BankConfig {
            session_ttl_secs: self.session_ttl_secs,
            max_open_sessions: self.max_open_sessions,
            watch_policy: match self.watch_policy {
                WatchPolicyArg::Flag => WatchPolicy::AcceptAndFlag,
                WatchPolicyArg::Refuse => WatchPolicy::Refuse,
            },
            ..BankConfig::default()
        }
    }

    fn spec(&self, from: crate::time::Day) -> KeysetSpec {
        KeysetSpec {
            exponents: 0..=self.max_exponent,
            withdraw_from: from,
            withdraw_days: self.withdraw_days,
            policy: KeysetPolicy {
                validity_days: self.validity_days,
                max_deposit_delay_days: self.max_deposit_delay_days,
            },
        }
    }
}

/// A bank opened from its directory.
pub type CliBank = Bank<Box<dyn BankStore>>;

/// Paths of a bank directory.
pub struct BankHome {
    dir: PathBuf,
}

impl BankHome {
    /// The bank at `dir`.
    pub fn new(dir: &Path) -> Self {
        BankHome { dir: dir.to_path_buf() }
    }
    fn key(&self) -> PathBuf {
        self.dir.join("bank.key")
    }
    fn config(&self) -> PathBuf {
        self.dir.join("bank.json")
    }
    fn db(&self) -> PathBuf {
        self.dir.join("bank.db")
    }

    /// Whether `dir` holds a bank.
    pub fn exists(&self) -> bool {
        self.config().exists()
    }

    /// The configuration file.
    pub fn read_config(&self) -> Result<BankConfigFile, CliError> {
        // A wallet or merchant directory has a `bank.json` too: the bank it
        // pinned. Say so instead of failing to parse it.
        for (key, role) in [("wallet.key", "wallet"), ("merchant.key", "merchant"), ("ttp.key", "TTP")] {
            if self.dir.join(key).exists() {
                let pinned = super::files::read_json::<super::wallet::PinnedBank>(&self.config())
                    .ok()
                    .and_then(|p| p.bank)
                    .map(|b| format!("; this {role} uses the bank at {b}"))
                    .unwrap_or_default();
                return Err(CliError::Usage(format!(
                    "{} is a {role} directory, not a bank directory: give the bank's directory or URL{pinned}",
                    self.dir.display()
                )));
            }
        }
        if !self.exists() {
            return Err(CliError::Input(format!(
                "{}: not a bank directory (run `faircash bank init --dir {}` first)",
                self.dir.display(),
                self.dir.display()
            )));
        }
        super::files::read_json(&self.config())
    }

    /// Opens the store named by the configuration, which must exist
    /// (`create`: a new one, at `bank init`).
    pub fn store(&self, cfg: &BankConfigFile, create: bool) -> Result<Box<dyn BankStore>, CliError> {
        open_store(cfg.database.as_deref(), &self.db(), create)
            .map_err(|e| super::damaged_store("bank", &self.dir, e))
    }

    /// Opens the bank.
    pub fn open(&self) -> Result<CliBank, CliError> {
        self.open_with(None)
    }

    /// Opens the bank on `database` instead of the configured one.
    pub fn open_with(&self, database: Option<&str>) -> Result<CliBank, CliError> {
        self.open_tuned(database, |_| {})
    }

    /// Opens the bank on `database` (if given) with its rules adjusted by `tune`.
    pub fn open_tuned(
        &self,
        database: Option<&str>,
        tune: impl FnOnce(&mut BankConfig),
    ) -> Result<CliBank, CliError> {
        let mut cfg = self.read_config()?;
        if let Some(db) = database {
            cfg.database = Some(db.to_string());
        }
        let secrets: BankSecrets = read_secret(&self.key())?;
        let store = self.store(&cfg, false)?;
        let mut rules = cfg.bank_config();
        tune(&mut rules);
        let bank = Bank::open(store, secrets, super::clock(), rules)?;
        bank.set_ttp_statements(cfg.ttp.statements.clone())?;
        Ok(bank)
    }
}

/// Opens a bank store: a SQLite file (which must exist unless `create`),
/// or a PostgreSQL URL.
pub fn open_store(
    database: Option<&str>,
    default_path: &Path,
    create: bool,
) -> Result<Box<dyn BankStore>, crate::store::StoreError> {
    use crate::store::sqlite::SqliteBankStore;
    let sqlite = |p: &Path| if create { SqliteBankStore::open(p) } else { SqliteBankStore::open_existing(p) };
    Ok(match database {
        None => Box::new(sqlite(default_path)?),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Box::new(crate::store::postgres::PostgresBankStore::open(url)?)
        }
        Some(path) => Box::new(sqlite(Path::new(path))?),
    })
}

/// Up to `want` pieces of evidence after the cursor `after` (only those
/// identifying `account`, if given), paging through the store; the cursor
/// after the last one examined, and whether more evidence follows it.
fn select_evidence(
    bank: &CliBank,
    after: u64,
    want: usize,
    account: Option<&AccountId>,
) -> Result<(Vec<crate::store::StoredEvidence>, u64, bool), CliError> {
    let mut items = Vec::new();
    let mut cursor = after;
    loop {
        let page = bank.evidence_page(cursor, crate::roles::bank::MAX_EVIDENCE_PAGE)?;
        let n = page.items.len();
        for (i, e) in page.items.into_iter().enumerate() {
            cursor = e.seq;
            if account.is_none_or(|a| e.record.account.as_ref() == Some(a)) {
                items.push(e);
                if items.len() == want {
                    return Ok((items, cursor, i + 1 < n || page.more));
                }
            }
        }
        if !page.more || n == 0 {
            return Ok((items, cursor, false));
        }
    }
}

fn parse_account(s: &str) -> Result<AccountId, CliError> {
    s.parse().map_err(|_| CliError::Usage(format!("{s}: an account id is 32 hex digits")))
}

fn kind_name(k: AccountKind) -> &'static str {
    match k {
        AccountKind::User => "user",
        AccountKind::Merchant => "merchant",
    }
}

/// Runs a bank command.
pub fn run(cmd: BankCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        BankCommand::Init(a) => init(a, out),
        BankCommand::Serve(a) => serve(a, out),
        BankCommand::OpenAccount { dir, registration, fund } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let reg: UserRegistration = read_message(&registration)?;
            let id = bank.register_user(&reg, &mut OsRng)?;
            let balance = match fund {
                Some(n) => bank.fund(&id, n)?,
                None => bank.account(&id)?.balance,
            };
            out.result(
                || format!("user account {id} open, balance {balance}"),
                json!({"account": id, "balance": balance}),
            );
            Ok(())
        }
        BankCommand::RegisterMerchant { dir, registration } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let reg: MerchantRegistration = read_message(&registration)?;
            let id = bank.register_merchant(&reg, &mut OsRng)?;
            out.result(|| format!("merchant account {id} registered"), json!({"account": id}));
            Ok(())
        }
        BankCommand::Fund { dir, account, amount } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id = parse_account(&account)?;
            let balance = bank.fund(&id, amount)?;
            out.result(
                || format!("credited {amount} to {id}; balance {balance}"),
                json!({"account": id, "balance": balance}),
            );
            Ok(())
        }
        BankCommand::Keyset { dir, out: file, rotate, rotate_every } => {
            let home = BankHome::new(&dir.dir);
            let bank = home.open()?;
            let due = rotate_every.map(|days| bank.rotation_due(days));
            if rotate || due == Some(true) {
                let cfg = home.read_config()?;
                let key_path = home.key();
                let spec = cfg.spec(bank.today());
                let k = bank.issue_keyset_with(escrow_key(&cfg, &spec)?, &spec, &mut OsRng, |s| {
                    write_secret_replace(&key_path, s).map_err(|e| {
                        crate::protocol::Error::Store(crate::store::StoreError::Backend(e.to_string()))
                    })
                })?;
                out.note(format!("issued keyset {} (sequence {})", k.id(), k.document().sequence));
            }
            let list = KeysetList { keysets: bank.published_keysets() };
            write_message(&dir.dir.join("keysets.json"), &list)?;
            if let Some(f) = &file {
                write_message(f, &list)?;
            }
            if due == Some(false) {
                out.note("no rotation due yet");
            }
            let ks = bank.keysets();
            out.result(
                || {
                    let mut s = format!("master key {}\n", hex::encode(bank.master_key().as_bytes()));
                    for k in &ks {
                        let d = k.document();
                        s.push_str(&format!(
                            "keyset {} (sequence {}): denominations {}; withdrawals {}..{}; coins valid {} days, deposits within {} days\n",
                            k.id(),
                            d.sequence,
                            k.values_desc().iter().rev().map(u64::to_string).collect::<Vec<_>>().join(", "),
                            d.keys[0].windows.withdraw_from,
                            d.keys[0].windows.withdraw_until,
                            d.policy.validity_days,
                            d.policy.max_deposit_delay_days
                        ));
                    }
                    if let Some(f) = &file {
                        s.push_str(&format!("written to {}", shown(f)));
                    }
                    s.trim_end().to_string()
                },
                json!({
                    "master_key": hex::encode(bank.master_key().as_bytes()),
                    "keysets": ks.iter().map(keyset_json).collect::<Vec<_>>(),
                    "rotated": rotate || due == Some(true),
                }),
            );
            Ok(())
        }
        BankCommand::TrustTtp { dir, statement } => {
            let home = BankHome::new(&dir.dir);
            let mut cfg = home.read_config()?;
            let signed = super::ttp::read_statement(&statement)?;
            let mut pins = TtpPins::new();
            for s in &cfg.ttp.statements {
                pins.trust(s).map_err(crate::protocol::Error::from)?;
            }
            let change = pins.trust(&signed).map_err(crate::protocol::Error::from)?;
            cfg.ttp = pins.list();
            write_json(&home.config(), &cfg)?;
            let st = &signed.statement;
            out.result(
                || {
                    format!(
                        "TTP key statement sequence {} ({}) pinned: Y_T {}, escrow {}..{}, traces until {}",
                        st.sequence,
                        match change {
                            TtpPinChange::Added => "added",
                            TtpPinChange::Superseded { .. } => "supersedes the one pinned",
                            TtpPinChange::Unchanged => "pinned already",
                        },
                        hex::encode(st.decryption_key.as_bytes()),
                        st.validity.escrow_from,
                        st.validity.escrow_until,
                        st.validity.trace_until
                    )
                },
                json!({
                    "sequence": st.sequence,
                    "change": match change {
                        TtpPinChange::Added => "added",
                        TtpPinChange::Superseded { .. } => "superseded",
                        TtpPinChange::Unchanged => "unchanged",
                    },
                    "previous": match change {
                        TtpPinChange::Superseded { previous } => Some(previous),
                        _ => None,
                    },
                    "statements": cfg.ttp.statements.len(),
                }),
            );
            Ok(())
        }
        BankCommand::Status { dir } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let st = bank.status()?;
            out.result(
                || {
                    let mut s = format!(
                        "bank day {}; {} keyset(s); {} account(s) holding {}; {} spent-coin records; {} double-spend evidence; {} watched serial(s)\n",
                        st.today,
                        st.keysets,
                        st.accounts.len(),
                        st.total_balance,
                        st.spent_coins,
                        st.evidence,
                        st.watch_list
                    );
                    for a in &st.accounts {
                        s.push_str(&format!(
                            "  {} {:<8} balance {:>10}{}\n",
                            a.id,
                            kind_name(a.kind),
                            a.balance,
                            if a.frozen { "  FROZEN" } else { "" }
                        ));
                    }
                    for r in &st.broken_refusals {
                        s.push_str(&format!(
                            "  REFUSAL BROKEN: payee {} deposited payment {} it had refused (reclaimed by {} on day {})\n",
                            r.payee,
                            hex::encode(r.payment_digest),
                            r.payer,
                            r.recorded
                        ));
                    }
                    let lifecycle: Vec<_> = st
                        .recent_events
                        .iter()
                        .filter(|r| r.event.kind != crate::protocol::account::AccountEventKind::Registered)
                        .collect();
                    if !lifecycle.is_empty() {
                        s.push_str("recent account events:\n");
                        for r in lifecycle {
                            s.push_str(&format!(
                                "  {} {} {}: {}\n",
                                r.event.at.0,
                                r.account,
                                r.event.kind.name(),
                                r.event.reason
                            ));
                        }
                    }
                    s.trim_end().to_string()
                },
                json!({
                    "today": day(st.today),
                    "keysets": st.keysets,
                    "total_balance": st.total_balance,
                    "accounts": st.accounts.iter().map(|a| json!({
                        "id": a.id,
                        "kind": kind_name(a.kind),
                        "public_key": a.public_key,
                        "balance": a.balance,
                        "frozen": a.frozen,
                        "registered": day(a.registered),
                    })).collect::<Vec<_>>(),
                    "spent_coins": st.spent_coins,
                    "evidence": st.evidence,
                    "broken_refusals": st.broken_refusals.iter().map(|r| json!({
                        "payee": r.payee,
                        "payer": r.payer,
                        "payment_digest": hex::encode(r.payment_digest),
                        "request_id": hex::encode(r.refusal.request_id),
                        "signature": hex::encode(
                            [r.refusal.signature.r.as_bytes().as_slice(), r.refusal.signature.s.as_bytes()].concat()
                        ),
                        "recorded": day(r.recorded),
                    })).collect::<Vec<_>>(),
                    "watch_list": st.watch_list,
                    "session_epoch": st.session_epoch,
                }),
            );
            Ok(())
        }
        BankCommand::Evidence { dir, account, out: file, after, limit } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let account = account.as_deref().map(parse_account).transpose()?;
            // A listing is one page; `--out` without paging writes all of it.
            let want = match (limit, &file, after) {
                (Some(l), _, _) => l as usize,
                (None, Some(_), None) => crate::http::MAX_EVIDENCE_LIST + 1,
                (None, _, _) => crate::http::DEFAULT_EVIDENCE_PAGE,
            };
            let after = after.unwrap_or(0);
            let (ev, cursor, more) = select_evidence(&bank, after, want, account.as_ref())?;
            if let Some(f) = &file {
                if ev.len() > crate::http::MAX_EVIDENCE_LIST {
                    return Err(CliError::Refused(format!(
                        "more pieces of evidence than one file holds ({}); select one account's with --account, \
                         or a page with --after and --limit",
                        crate::http::MAX_EVIDENCE_LIST
                    )));
                }
                let items = ev
                    .iter()
                    .map(|e| crate::http::EvidenceItem {
                        seq: e.seq,
                        evidence: e.record.evidence.clone(),
                        account: e.record.account,
                    })
                    .collect();
                let cursor = ev.last().map_or(after, |e| e.seq);
                write_message(f, &crate::http::EvidenceList { items, cursor, more: false })?;
            }
            out.result(
                || {
                    let mut s = if ev.is_empty() {
                        "no double-spending evidence".to_string()
                    } else {
                        ev.iter()
                            .map(|e| {
                                format!(
                                    "#{} coin {} spent twice; identified account: {}; recorded day {}",
                                    e.seq,
                                    e.record.evidence.coin_id,
                                    e.record.account.map_or("none registered".into(), |a| a.to_string()),
                                    e.record.recorded
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    };
                    if more {
                        s.push_str(&format!("\nmore: list them with --after {cursor}"));
                    } else {
                        s.push_str(&format!("\ncursor {cursor}: --after {cursor} lists only newer evidence"));
                    }
                    if let Some(f) = &file {
                        s.push_str(&format!(
                            "\n{} piece(s) of evidence written to {}; anyone can check them: \
                             faircash evidence verify {} --keysets keysets.json",
                            ev.len(),
                            shown(f),
                            shown(f)
                        ));
                    }
                    s
                },
                json!({
                    "evidence": ev
                        .iter()
                        .map(|e| json!({"seq": e.seq, "coin_id": e.record.evidence.coin_id, "account": e.record.account, "recorded": day(e.record.recorded)}))
                        .collect::<Vec<_>>(),
                    "cursor": cursor,
                    "more": more,
                    "file": file,
                }),
            );
            Ok(())
        }
        BankCommand::Spends { dir, merchant, limit } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let merchant = merchant.as_deref().map(parse_account).transpose()?;
            let spends = bank.spent_coins(merchant.as_ref(), limit)?;
            out.result(
                || {
                    if spends.is_empty() {
                        return "no deposited coins".into();
                    }
                    spends
                        .iter()
                        .map(|s| {
                            format!(
                                "coin {} value {:>6} paid {} deposited {} by merchant {}",
                                s.coin_id, s.value, s.day, s.receipt_day, s.merchant
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json!({"spends": spends.iter().map(|s| json!({
                    "coin_id": s.coin_id,
                    "value": s.value,
                    "merchant": s.merchant,
                    "day": day(s.day),
                    "receipt_day": day(s.receipt_day),
                })).collect::<Vec<_>>()}),
            );
            Ok(())
        }
        BankCommand::ExportSpend { dir, coin, out: file } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id: CoinId =
                coin.parse().map_err(|_| CliError::Usage(format!("{coin}: a coin id is 64 hex digits")))?;
            let record = bank.spend_record(&id)?;
            write_message(&file, &record)?;
            out.result(
                || format!("owner-tracing record of coin {id} written to {}", shown(&file)),
                json!({"record_digest": hex::encode(record.digest()), "file": file}),
            );
            Ok(())
        }
        BankCommand::Withdrawals { dir, account } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id = parse_account(&account)?;
            let list = bank.withdrawals_of(&id)?;
            out.result(
                || {
                    if list.is_empty() {
                        return format!("no withdrawals by account {id}");
                    }
                    list.iter()
                        .map(|s| format!("session {} value {:>6} opened {}", s.id(), s.value, s.opened))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json!({"withdrawals": list
                    .iter()
                    .map(|s| json!({"session": s.id(), "value": s.value, "opened": time(s.opened)}))
                    .collect::<Vec<_>>()}),
            );
            Ok(())
        }
        BankCommand::ExportWithdrawal { dir, session, out: file } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id: SessionId = session
                .parse()
                .map_err(|_| CliError::Usage(format!("{session}: a session id is 32 hex digits")))?;
            let record = bank.withdrawal_record(&id)?;
            write_message(&file, &record)?;
            out.result(
                || format!("coin-tracing record of session {id} written to {}", shown(&file)),
                json!({"record_digest": hex::encode(record.digest()), "file": file}),
            );
            Ok(())
        }
        BankCommand::ApplyTrace { dir, result, warrant, record, ttp } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let result: TraceResult = read_message(&result)?;
            let warrant: Warrant = read_message(&warrant)?;
            let record: TraceRecord = read_message(&record)?;
            let ttp = super::ttp::read_statement(&ttp)?.statement;
            match result.kind {
                crate::protocol::trace::TraceKind::Owner => {
                    let account = bank.apply_owner_trace(&result, &record, &warrant, &ttp)?;
                    out.result(
                        || format!("owner trace verified: the coin was withdrawn by account {account}"),
                        json!({"kind": "owner", "account": account, "serial": null, "case": warrant.case_id}),
                    );
                }
                crate::protocol::trace::TraceKind::Coin => {
                    let serial = bank.apply_coin_trace(&result, &record, &warrant, &ttp)?;
                    out.result(
                        || {
                            format!(
                                "coin trace verified: serial {} is on the watch list (case {})",
                                hex::encode(serial.as_bytes()),
                                warrant.case_id
                            )
                        },
                        json!({"kind": "coin", "account": null, "serial": serial, "case": warrant.case_id}),
                    );
                }
            }
            Ok(())
        }
        BankCommand::WatchList { dir, out: file } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let list = bank.watch_list(&mut OsRng)?;
            write_message(&file, &list)?;
            out.result(
                || format!("{} watched serial(s) written to {}", list.serials.len(), shown(&file)),
                json!({"serials": list.serials.len(), "file": file}),
            );
            Ok(())
        }
        BankCommand::Rekey { dir, account, request, reason } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id = parse_account(&account)?;
            let req: RekeyRequest = read_message(&request)?;
            if req.account != id {
                return Err(CliError::Input(format!(
                    "{}: the request is for account {}, not {id}",
                    request.display(),
                    req.account
                )));
            }
            let fp = req.fingerprint();
            let a = bank.rekey_account(&req, &reason, &mut OsRng)?;
            out.result(
                || {
                    format!(
                        "account {id} re-keyed (request fingerprint {fp}); its old identity is retired{}",
                        if a.frozen { "; still frozen (run `bank unfreeze`)" } else { "" }
                    )
                },
                json!({"account": id, "fingerprint": fp, "identity": a.public_key, "frozen": a.frozen}),
            );
            Ok(())
        }
        BankCommand::Unfreeze { dir, account, reason } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id = parse_account(&account)?;
            bank.unfreeze_account(&id, &reason)?;
            out.result(
                || format!("account {id} unfrozen: {reason}"),
                json!({"account": id, "frozen": false}),
            );
            Ok(())
        }
        BankCommand::History { dir, account } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let id = parse_account(&account)?;
            let events = bank.account_history(&id)?;
            out.result(
                || {
                    events
                        .iter()
                        .map(|e| format!("{} {:<16} {}", e.at.0, e.kind.name(), e.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json!({
                    "account": id,
                    "events": events
                        .iter()
                        .map(|e| json!({"at": time(e.at), "kind": e.kind.name(), "reason": e.reason}))
                        .collect::<Vec<_>>(),
                }),
            );
            Ok(())
        }
        BankCommand::MarkRestored { dir } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let epoch = bank.mark_restored()?;
            out.result(
                || format!("session epoch is now {epoch}: sessions opened before the restore will not be answered"),
                json!({"session_epoch": epoch}),
            );
            Ok(())
        }
        BankCommand::Prune { dir } => {
            let bank = BankHome::new(&dir.dir).open()?;
            let expired = bank.expire_sessions()?;
            let pruned = bank.prune_spent()?;
            out.result(
                || format!("expired {expired} session(s); pruned {pruned} spent-coin record(s)"),
                json!({"expired_sessions": expired, "pruned": pruned}),
            );
            Ok(())
        }
    }
}

/// The TTP key a new keyset of `spec` escrows under: that of the newest
/// pinned statement covering the keyset's days (wallets and merchants refuse
/// a keyset no statement they pinned covers).
fn escrow_key(cfg: &BankConfigFile, spec: &KeysetSpec) -> Result<crate::encoding::Point, CliError> {
    let w = spec.windows();
    cfg.ttp
        .statements
        .iter()
        .rev()
        .map(|s| &s.statement)
        .find(|s| s.covers_windows(&w).is_ok())
        .map(|s| s.decryption_key)
        .ok_or_else(|| {
            CliError::Refused(format!(
                "no pinned TTP key statement covers a keyset with withdrawals {}..{} and deposits until {}: \
                 get a renewed statement from the TTP (`faircash ttp statement`) and pin it with \
                 `faircash bank trust-ttp`, or shorten --withdraw-days",
                w.withdraw_from, w.withdraw_until, w.deposit_until
            ))
        })
}

fn init(a: InitArgs, out: &Output) -> Result<(), CliError> {
    let home = BankHome::new(&a.dir.dir);
    if home.exists() || home.key().exists() {
        return Err(CliError::Refused(format!("{}: a bank exists here already", a.dir.dir.display())));
    }
    ensure_dir(&a.dir.dir)?;
    let statement = super::ttp::read_statement(&a.ttp_key)?;
    let mut pins = TtpPins::new();
    pins.trust(&statement).map_err(crate::protocol::Error::from)?;
    let cfg = BankConfigFile {
        session_ttl_secs: a.session_ttl_secs,
        max_open_sessions: a.max_open_sessions,
        watch_policy: a.watch_policy,
        ttp: pins.list(),
        max_exponent: a.max_exponent,
        validity_days: a.validity_days,
        max_deposit_delay_days: a.max_deposit_delay_days,
        withdraw_days: a.withdraw_days,
        database: a.db.clone(),
    };
    // The database first: an unreachable or missing one leaves no key
    // behind, so `bank init` can simply be run again.
    let store = home.store(&cfg, true)?;
    let secrets = BankSecrets::generate(&mut OsRng);
    let spec = cfg.spec(super::clock().today());
    let ttp_key = escrow_key(&cfg, &spec)?;
    write_secret(&home.key(), &secrets)?;
    let bank = Bank::open(store, secrets, super::clock(), cfg.bank_config())?;
    let key_path = home.key();
    let keyset = bank.issue_keyset_with(ttp_key, &spec, &mut OsRng, |s| {
        write_secret_replace(&key_path, s)
            .map_err(|e| crate::protocol::Error::Store(crate::store::StoreError::Backend(e.to_string())))
    })?;
    write_json(&home.config(), &cfg)?;
    write_message(&a.dir.dir.join("keysets.json"), &KeysetList { keysets: bank.published_keysets() })?;
    out.result(
        || {
            format!(
                "bank created in {}\n  master key {}\n  keyset {}: denominations 1..{}, coins valid {} days, deposits within {} days\n  keyset list written to {}",
                a.dir.dir.display(),
                hex::encode(bank.master_key().as_bytes()),
                keyset.id(),
                1u64 << a.max_exponent,
                a.validity_days,
                a.max_deposit_delay_days,
                a.dir.dir.join("keysets.json").display()
            )
        },
        json!({"master_key": hex::encode(bank.master_key().as_bytes()), "keyset": keyset.id()}),
    );
    Ok(())
}

fn serve(a: ServeArgs, out: &Output) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAIRCASH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match a.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    let home = BankHome::new(&a.dir.dir);
    let refresh = std::time::Duration::from_secs(a.keyset_refresh_secs);
    let interval = a.spent_list_interval;
    let bank = Arc::new(home.open_tuned(a.db.as_deref(), |c| {
        c.keyset_refresh = Some(refresh);
        c.spent_list_interval_secs = interval;
    })?);
    // Keysets issued elsewhere (`bank keyset --rotate`, another node) are
    // read from the store; their keys from bank.key and the TTP statements
    // from bank.json; keysets.json is rewritten when the list grows.
    let reload_home = BankHome::new(&a.dir.dir);
    bank.set_reloader(Box::new(move || {
        let as_store =
            |e: CliError| crate::protocol::Error::Store(crate::store::StoreError::Backend(e.to_string()));
        let secrets: BankSecrets = read_secret(&reload_home.key()).map_err(as_store)?;
        let cfg = reload_home.read_config().map_err(as_store)?;
        Ok(crate::roles::bank::Reloaded { secrets, ttp_statements: cfg.ttp.statements })
    }));
    let list_path = a.dir.dir.join("keysets.json");
    bank.on_keysets_changed(Box::new(move |list| {
        if let Err(e) = write_message(&list_path, &KeysetList { keysets: list.to_vec() }) {
            tracing::warn!(error = %e, "cannot rewrite keysets.json");
        }
    }));
    let addr: std::net::SocketAddr = a
        .listen
        .parse()
        .map_err(|_| CliError::Usage(format!("--listen {}: expected host:port", a.listen)))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the runtime: {e}")))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| CliError::Io(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError::Io(e.to_string()))?;
    let secs = |s: u64| std::time::Duration::from_secs(s.max(1));
    let defaults = crate::http::server::ServeConfig::default();
    let config = crate::http::server::ServeConfig {
        request_timeout: secs(a.request_timeout_secs),
        header_timeout: secs(a.header_timeout_secs),
        max_connections: a.max_connections.max(1),
        shutdown_grace: std::time::Duration::from_secs(a.shutdown_grace_secs),
        deposit_workers: a.deposit_workers.unwrap_or(defaults.deposit_workers).max(1),
        deposit_queue: a.deposit_queue,
        ..defaults
    };
    tracing::info!(
        listen = %bound,
        keysets = bank.keysets().len(),
        max_connections = config.max_connections,
        "bank serving"
    );
    let signal = {
        let _runtime = rt.enter();
        crate::http::server::reload_on_sighup(bank.clone());
        crate::http::server::shutdown_signal()
            .map_err(|e| CliError::Io(format!("cannot listen for signals: {e}")))?
    };
    // On stderr in every output mode: scripts and supervisors wait for it.
    let _ = writeln!(std::io::stderr(), "bank serving on http://{bound}");
    let served = rt.block_on(crate::http::server::serve(bank.clone(), listener, config, signal));
    // Bank operations still running on the blocking pool (past the grace)
    // are abandoned, as a crash would: every step is one transaction.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    // The bank (and its database connections) is dropped here, outside the
    // runtime: the PostgreSQL client cannot be closed from async code.
    drop(bank);
    served.map_err(|e| CliError::Io(format!("server: {e}")))?;
    out.result(|| "bank stopped".into(), json!({"stopped": true}));
    Ok(())
}
