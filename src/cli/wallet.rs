//! `faircash wallet …`: a user's wallet.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::files::{
    ensure_dir, lock_dir, read_bytes, read_json, read_message, read_secret, read_secret_stdin, shown,
    write_atomic, write_bytes, write_json, write_message, write_secret, write_secret_replace, DirLock,
};
use super::output::{amount_with_breakdown, day, keyset_json, time, Output};
use super::{CliError, DirArg};
use crate::crypto::derive::{RecoveryPhrase, WalletSeed};
use crate::encoding::Point;
use crate::keys::{AccountId, AccountKeys, AuthKey, KeysetList, UserKey};
use crate::protocol::account::AccountRequest;
use crate::protocol::pay::{Payment, PaymentRequest};
use crate::protocol::trust::{PinError, SignedTtpKeyStatement, TtpPinChange, TtpPins, TtpStatementList};
use crate::protocol::Error as ProtocolError;
use crate::roles::wallet::backup::{BackupContents, BackupEntry, BackupError, BackupFile, COUNTER_SKIP};
use crate::roles::{BankApi, TrustAnchors, Wallet};
use crate::store::sqlite::SqliteWalletStore;
use crate::time::Timestamp;

/// Wallet commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash wallet new --dir alice --bank bank\n  \
    faircash wallet withdraw --dir alice --bank bank --amount 40\n  \
    faircash wallet pay --dir alice --request req.json --out pay.json\n  faircash wallet balance --dir alice")]
pub enum WalletCommand {
    /// Create a wallet: a user key, its registration, and (with --bank) the
    /// bank's pinned keysets and an open account.
    #[command(after_help = "Examples:\n  faircash wallet new --dir alice --bank bank\n  \
        faircash wallet new --dir alice --bank http://127.0.0.1:8080 --bank-key 6a1f…")]
    New {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank (a directory, or a URL) to pin and register with.
        #[arg(long)]
        bank: Option<String>,
        /// The bank master key (hex) to trust; default: the one the bank shows (printed).
        #[arg(long)]
        bank_key: Option<String>,
        /// The TTP key statement to pin.
        #[command(flatten)]
        ttp: TtpArgs,
        /// With --json: put the recovery phrase in the JSON output (without
        /// it, the phrase goes to stderr only).
        #[arg(long)]
        phrase_in_json: bool,
    },
    /// Pin a TTP key statement (the TTP's file), or every statement the bank
    /// publishes under a TTP signing key given in hex: an explicit decision
    /// of the wallet's owner, never taken from the bank alone.
    #[command(after_help = "Examples:\n  faircash wallet trust-ttp --dir alice --ttp ttp/ttp.pub.json\n  \
        faircash wallet trust-ttp --dir alice --ttp-key 5c0e… --bank http://127.0.0.1:8080")]
    TrustTtp(TrustTtpArgs),
    /// Register the wallet's account at the bank (if `new` was run without --bank).
    #[command(after_help = "Example:\n  faircash wallet register --dir alice --bank bank")]
    Register {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// The bank master key (hex) to trust; default: the one the bank shows.
        #[arg(long)]
        bank_key: Option<String>,
    },
    /// Withdraw an amount as coins (its binary decomposition).
    #[command(after_help = "Example:\n  faircash wallet withdraw --dir alice --bank bank --amount 40\n\n\
        Then, unless --no-change, change is made ahead of time: if the coins held cannot pay every\n\
        amount from 1 to --change-up-to (default 64) exactly, the smallest coin beyond that is\n\
        exchanged into one coin of each denomination from the smallest up, so that a later payment\n\
        needs no exchange just before it (which would link the two by time and amount).")]
    Withdraw {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// The amount, and the coins to withdraw (default: its binary
        /// decomposition; at most 1024 coins at a time).
        #[command(flatten)]
        split: SplitArgs,
        /// Change made ahead of time.
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Exchange coins for other coins of the same value (change, made ahead
    /// of time), with the bank.
    #[command(after_help = "Examples:\n  faircash wallet exchange --dir alice --bank bank --amount 16\n  \
        faircash wallet exchange --dir alice --bank bank --amount 16 --into 8,4,4\n\n\
        The fewest coins that cover the amount are spent to the wallet's own account and their\n\
        value is withdrawn again: without --into as one coin of each denomination from the\n\
        smallest up (so any amount up to it can be paid), with --into as those coins plus that\n\
        split of the rest. A crash at any step is finished by `wallet resume`.")]
    Exchange {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// The amount to make change for, and the new coins for it.
        #[command(flatten)]
        split: SplitArgs,
        /// Change made ahead of time.
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Renew coins that expire soon (exchange them for fresh coins).
    #[command(after_help = "Example:\n  faircash wallet refresh --dir alice --bank bank\n\n\
        Renews every coin that expires within --margin days (default: the keyset's deposit\n\
        window). Other on-line commands renew coins too, at a margin drawn at random between\n\
        that window and twice it, so the day of a renewal does not tell a coin's expiry day.")]
    Refresh {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// Renew coins expiring within this many days.
        #[arg(long)]
        margin: Option<u32>,
        /// Change made ahead of time.
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Finish interrupted withdrawals (or, with --release, give them up).
    #[command(after_help = "Examples:\n  faircash wallet resume --dir alice --bank bank\n  \
        faircash wallet resume --dir alice --bank bank --release\n\n\
        A withdrawal reserves its whole amount at the bank before its first coin. `resume`\n\
        finishes every interrupted session and withdraws the rest of every interrupted\n\
        withdrawal; `--release` releases their reservations instead (sessions the bank\n\
        already answered are still finished: they were paid for). In a wallet made by\n\
        `wallet restore --sweep-to`, it finishes an interrupted sweep first.")]
    Resume {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// Give interrupted withdrawals up instead of completing them.
        #[arg(long)]
        release: bool,
    },
    /// Check the bank's unspent statements a restore stored against its
    /// current spent lists (every page of every key: no request names a
    /// coin). A page that lists a coin a statement called unspent, published
    /// no later than the statement, is signed proof the bank lied
    /// (protocol.md §7.7 item 7): double-spending evidence against that coin
    /// is void. Exit code 5 when one is found, with both signed messages in
    /// the `--json` report.
    #[command(after_help = "Examples:\n  faircash wallet audit-statements --dir alice --bank bank")]
    AuditStatements {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
    },
    /// Reclaim the value of a payment the payee refused (its signed
    /// refusal): the payment is deposited to this wallet's own account. The
    /// coins stay spent; the account is credited.
    #[command(
        after_help = "Examples:\n  faircash wallet reclaim --dir alice --bank bank --refusal refusal.json\n  \
        faircash wallet reclaim --dir alice --bank bank --refusal refusal.json --payment pay.json\n\n\
        The payment defaults to the one this wallet recorded for the refusal's request; one given\n\
        must be exactly that one. The reclaim is stored before it is sent: after a crash or a lost\n\
        answer, `wallet resume` (or this command again) sends it again and is never credited twice.\n\n\
        Exit status:\n  \
        0  reclaimed (the receipt is printed; a payment reclaimed before is credited 0)\n  \
        3  not a refusal or payment file, or the refusal does not refuse the payment\n  \
        4  refused: not a payment of this wallet, or the payee deposited it before (the bank keeps\n     \
        the refusal as proof)\n  \
        1  the bank could not be reached; the reclaim is kept and sent again by `wallet resume`"
    )]
    Reclaim {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
        /// The payee's signed refusal.
        #[arg(long)]
        refusal: PathBuf,
        /// The payment refused (default: the one recorded for the refusal's request).
        #[arg(long)]
        payment: Option<PathBuf>,
    },
    /// The account as the bank keeps it: balance, holds, frozen, history.
    #[command(after_help = "Example:\n  faircash wallet account --dir alice --bank bank")]
    Account {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
    },
    /// Replace the account's authentication key (it signs every account operation).
    #[command(after_help = "Example:\n  faircash wallet rotate-auth-key --dir alice --bank bank")]
    RotateAuthKey {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
    },
    /// Re-key the account to a new identity and authentication key (to lift a
    /// freeze): write the request for the bank's operator, then activate it.
    #[command(after_help = "Examples:\n  faircash wallet rekey --dir alice --out rekey.json\n  \
        faircash wallet rekey --dir alice --activate --bank bank\n\n\
        The operator applies the request with `faircash bank rekey` after checking, out of\n\
        band, that it comes from the account's holder (compare the fingerprint printed here).\n\
        `--activate` then checks with the bank that the account carries the new keys and uses\n\
        them from now on; the old identity stays in the wallet to spend the coins withdrawn\n\
        under it.")]
    Rekey {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Write the re-key request here (first step).
        #[arg(long, conflicts_with = "activate")]
        out: Option<PathBuf>,
        /// Use the new keys once the operator applied the request (second step).
        #[arg(long, requires = "bank")]
        activate: bool,
        /// The bank (for --activate).
        #[arg(long)]
        bank: Option<String>,
    },
    /// Pay a merchant's payment request (off-line unless change is needed).
    #[command(
        after_help = "Examples:\n  faircash wallet pay --dir alice --request req.json --out pay.json\n  \
        faircash wallet pay --dir alice --request req.json --order 'espresso x2' --out pay.json\n\n\
        Without exact coins the wallet makes change first with its bank (see `wallet exchange`);\n\
        --offline refuses instead and names the exchange that would make the payment possible.\n\
        The request carries a digest of the order, not its text: pass the text the merchant\n\
        shows with --order, and the wallet pays only if the request is for that order."
    )]
    Pay {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The merchant's payment request file (`-`: stdin).
        #[arg(long)]
        request: PathBuf,
        /// The order text the merchant shows; the wallet checks that the
        /// request is for it before paying.
        #[arg(long)]
        order: Option<String>,
        /// Where to write the payment for the merchant (`-`: stdout).
        #[arg(long)]
        out: PathBuf,
        /// The bank to make change with when the coins held cannot pay the
        /// amount exactly (default: the bank the wallet was created with).
        #[arg(long, conflicts_with = "offline")]
        bank: Option<String>,
        /// Never contact the bank: refuse (naming the exchange that would
        /// help) rather than make change.
        #[arg(long)]
        offline: bool,
    },
    /// The value of the unspent coins, with their denominations.
    #[command(after_help = "Example:\n  faircash wallet balance --dir alice")]
    Balance {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// List the coins.
    #[command(after_help = "Example:\n  faircash wallet coins --dir alice --json")]
    Coins {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// The wallet at a glance: account, bank, keysets, coins held (no bank
    /// contact).
    #[command(after_help = "Example:\n  faircash wallet info --dir alice")]
    Info {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Write an encrypted backup of the wallet: its keys, its coins and
    /// which of them were paid, pending withdrawals and exchanges, counters,
    /// payments made and received. Only the recovery phrase opens it.
    #[command(after_help = "Examples:\n  faircash wallet backup --dir alice --out alice.backup\n  \
        faircash wallet backup --dir alice --out - > alice.backup\n\n\
        The file is encrypted (XChaCha20-Poly1305) under a key derived from the wallet's recovery\n\
        phrase: keep it anywhere. Restoring it (`wallet restore --backup FILE --dir NEW`) brings\n\
        back the wallet as it was when the backup was made; back up again after paying, so a\n\
        restored wallet does not offer coins it already paid with.")]
    Backup {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Where to write the backup (`-`: stdout); written atomically, mode 0600.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a wallet into a new directory: from a backup file and the
    /// recovery phrase, or from the phrase and the bank's withdrawal
    /// transcripts (the phrase read from stdin, or prompted for on a
    /// terminal; never from the command line).
    #[command(after_help = "Examples:\n  faircash wallet restore --backup alice.backup --dir alice2\n  \
        faircash wallet restore --bank http://127.0.0.1:8080 --ttp ttp/ttp.pub.json --dir alice2 < phrase.txt\n  \
        faircash wallet restore --sweep-to alice3 --bank http://127.0.0.1:8080 --ttp ttp/ttp.pub.json < phrase.txt\n\n\
        With --bank, the coins rebuilt from the transcripts are reported, not added (which were\n\
        spent is not known from them), and exit code 5 means the bank withheld a coin.\n\n\
        With --sweep-to (the device was stolen or the phrase seen), a new wallet with a new phrase\n\
        and a new account is made in NEWDIR and all the value of the phrase read is moved to it:\n\
        the old phrase and keys reach none of it afterwards. `wallet resume --dir NEWDIR` finishes\n\
        a sweep that stopped midway.\n\n\
        With --backup, nothing is written unless the backup\n\
        opens with the phrase and is intact. The restored wallet moves its withdrawal counters\n\
        ahead, so it never repeats one the lost wallet used after the backup.")]
    Restore(RestoreArgs),
    /// Receiving from another user: `request`, `receive`, `deposit`, `received`.
    #[command(flatten)]
    Receiving(super::payee::WalletReceiveCommand),
}

/// `wallet restore`: where the wallet is rebuilt, and from what.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The new state directory (absent, or empty).
    #[arg(long, value_name = "DIR", required_unless_present = "sweep_to", conflicts_with = "sweep_to")]
    pub dir: Option<PathBuf>,
    /// Sweep after theft: make a new wallet here (absent, or empty) with a
    /// new recovery phrase and a new account, and move all the value of the
    /// phrase read from stdin to it (needs --bank).
    #[arg(long, value_name = "NEWDIR", conflicts_with = "backup", requires = "bank")]
    pub sweep_to: Option<PathBuf>,
    /// With --sweep-to and --json: put the new recovery phrase in the JSON
    /// output (without it, the phrase goes to stderr only).
    #[arg(long, requires = "sweep_to")]
    pub phrase_in_json: bool,
    /// The backup file (`wallet backup --out`) to restore from.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bank", "bank_key"])]
    pub backup: Option<PathBuf>,
    /// Without --backup: the bank (a directory, or a URL) whose withdrawal
    /// transcripts the coins are rebuilt from.
    #[arg(long)]
    pub bank: Option<String>,
    /// The bank master key (hex) to trust; default: the one the bank shows (printed).
    #[arg(long)]
    pub bank_key: Option<String>,
    /// With --bank: the TTP key statement to pin.
    #[command(flatten)]
    pub ttp: TtpArgs,
}

/// The files of a wallet directory a backup carries, and whether each is a
/// secret (mode 0600); the database travels apart.
const BACKUP_FILES: &[(&str, bool)] = &[
    ("account.json", false),
    ("wallet.key", true),
    ("auth.key", true),
    ("retired.key", true),
    ("rekey.key", true),
    ("auth.next.key", true),
    ("bank.json", false),
    ("keysets.json", false),
    ("ttp.json", false),
    ("registration.json", false),
];

/// The files without which a backup restores no wallet.
const BACKUP_REQUIRED: &[&str] = &["wallet.key", "auth.key", "bank.json", "keysets.json"];

/// A refused backup file: exit 5 when it was changed (it does not
/// authenticate under the right phrase), 3 otherwise.
fn backup_refused(file: &Path, e: BackupError) -> CliError {
    let what = format!("{}: {e}", file.display());
    match e {
        BackupError::Damaged => CliError::Security(what),
        _ => CliError::Input(what),
    }
}

/// Change made ahead of time (protocol §9.8), on by default: after
/// `wallet withdraw`, `wallet exchange` and `wallet refresh`, if the coins
/// held cannot pay every amount from 1 to `--change-up-to` (64 unless set;
/// or to their total, if smaller) exactly, the smallest coin that closes
/// the gap is exchanged into one coin of each denomination from the
/// smallest up.
#[derive(Debug, Clone, clap::Args)]
pub struct ChangeArgs {
    /// Keep the coins able to pay every amount from 1 to N exactly,
    /// exchanging coins after the command if they cannot (the environment
    /// variable sets it for every command).
    #[arg(long, value_name = "N", env = "FAIRCASH_CHANGE_UP_TO",
          default_value_t = crate::roles::wallet::DEFAULT_CHANGE_BOUND,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub change_up_to: u64,
    /// Make no change ahead of time for this command.
    #[arg(long)]
    pub no_change: bool,
}

/// An amount and, optionally, the coins' values it is made of
/// (`wallet withdraw`, `wallet exchange`).
#[derive(Debug, Clone, clap::Args)]
pub struct SplitArgs {
    /// Base units.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    /// The coins' values, summing to the amount, e.g. `8,4,4`.
    #[arg(long, value_delimiter = ',', value_name = "VALUES")]
    pub into: Option<Vec<u64>>,
}

/// `wallet trust-ttp` and `merchant trust-ttp`.
#[derive(Debug, clap::Args)]
pub struct TrustTtpArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The statement or signing key.
    #[command(flatten)]
    pub ttp: TtpArgs,
    /// The bank to fetch statements from (with --ttp-key; default: the pinned bank).
    #[arg(long)]
    pub bank: Option<String>,
}

/// Which TTP key statement a wallet or merchant pins.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TtpArgs {
    /// The TTP's signed key statement (`ttp keygen` writes ttp.pub.json).
    #[arg(long, value_name = "FILE")]
    pub ttp: Option<PathBuf>,
    /// Or the TTP's group signing key (hex, from the TTP): the bank's
    /// statements signed by it are pinned.
    #[arg(long, value_name = "HEX", conflicts_with = "ttp")]
    pub ttp_key: Option<String>,
}

impl TtpArgs {
    fn given(&self) -> bool {
        self.ttp.is_some() || self.ttp_key.is_some()
    }
}

/// The pinned TTP key statements of a wallet or merchant directory
/// (`ttp.json`; none before the first `trust-ttp`).
pub fn load_ttp(dir: &Path) -> Result<TtpStatementList, CliError> {
    let path = dir.join("ttp.json");
    if !path.exists() {
        return Ok(TtpStatementList::default());
    }
    read_message(&path)
}

/// Pins what `args` names into the statements held in `dir`, explicitly
/// (a new TTP signing key may be pinned), and saves them. With
/// `--ttp-key`, the statements come from `bank`, and only those signed by
/// that key are taken.
pub fn trust_ttp(
    dir: &Path,
    args: &TtpArgs,
    bank: Option<&dyn BankApi>,
    out: &Output,
) -> Result<TtpStatementList, CliError> {
    let mut pins = TtpPins::new();
    for s in &load_ttp(dir)?.statements {
        pins.trust(s).map_err(ProtocolError::from)?;
    }
    let offered = match (&args.ttp, &args.ttp_key) {
        (Some(file), _) => vec![super::ttp::read_statement(file)?],
        (None, Some(hexkey)) => {
            let key = parse_key(hexkey, "--ttp-key")?;
            let bank = bank.ok_or_else(|| CliError::Usage("--ttp-key needs --bank".into()))?;
            let mut found: Vec<SignedTtpKeyStatement> =
                bank.ttp_statements()?.into_iter().filter(|s| s.statement.signing_key == key).collect();
            if found.is_empty() {
                return Err(CliError::Refused(
                    "the bank publishes no TTP key statement signed by that key".into(),
                ));
            }
            found.sort_by_key(|s| s.statement.sequence);
            found
        }
        (None, None) => return Err(CliError::Usage("give --ttp FILE or --ttp-key HEX".into())),
    };
    for s in &offered {
        let change = pins.trust(s).map_err(ProtocolError::from)?;
        let st = &s.statement;
        out.note(format!(
            "TTP key statement sequence {} {}: Y_T {}, signed by {}, escrow {}..{}, traces until {}",
            st.sequence,
            match change {
                TtpPinChange::Added => "pinned",
                TtpPinChange::Superseded { .. } => "pinned (supersedes an older one)",
                TtpPinChange::Unchanged => "pinned already",
            },
            &hex::encode(st.decryption_key.as_bytes())[..16],
            &hex::encode(st.signing_key.as_bytes())[..16],
            st.validity.escrow_from,
            st.validity.escrow_until,
            st.validity.trace_until
        ));
    }
    let list = pins.list();
    write_message(&dir.join("ttp.json"), &list)?;
    Ok(list)
}

/// `trust-ttp` of a wallet or merchant directory (locked by the caller):
/// [`trust_ttp`], with the statements of `--ttp-key` fetched from `bank`.
pub fn run_trust_ttp(dir: &Path, ttp: &TtpArgs, bank: Option<String>, out: &Output) -> Result<(), CliError> {
    let connected = match (&ttp.ttp_key, &bank) {
        (Some(_), Some(b)) => Some(connect(b)?),
        _ => None,
    };
    let list = trust_ttp(dir, ttp, connected.as_deref(), out)?;
    out.result(
        || format!("{} TTP key statement(s) pinned", list.statements.len()),
        json!({"statements": list.statements.len()}),
    );
    Ok(())
}

/// Pins the bank's TTP key statements that verify under a pinned TTP
/// signing key (`anchors` after [`TrustAnchors::refresh_ttp`]), saving
/// `ttp.json` when they changed; refused statements are reported.
pub fn save_ttp(
    dir: &Path,
    anchors: &TrustAnchors,
    old: &TtpStatementList,
    refused: &[(SignedTtpKeyStatement, Result<TtpPinChange, PinError>)],
    out: &Output,
) -> Result<(), CliError> {
    for (s, r) in refused {
        match r {
            Ok(_) | Err(PinError::UntrustedTtpSigner(_)) => {}
            Err(e) => out
                .note(format!("ignored the bank's TTP key statement sequence {}: {e}", s.statement.sequence)),
        }
    }
    let list = anchors.ttp().list();
    if list != *old {
        write_message(&dir.join("ttp.json"), &list)?;
    }
    Ok(())
}

pub(crate) fn parse_key(hexkey: &str, flag: &str) -> Result<Point, CliError> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(hexkey.trim(), &mut b)
        .map_err(|_| CliError::Usage(format!("{flag}: 64 hex digits")))?;
    Point::from_bytes(&b)
        .filter(|p| !p.is_identity())
        .ok_or_else(|| CliError::Usage(format!("{flag}: not a valid public key")))
}

/// The bank a wallet or merchant pinned (`bank.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinnedBank {
    /// The bank master key trusted.
    pub master_key: Point,
    /// Where the bank was reached.
    pub bank: Option<String>,
}

/// Connects to a bank: a directory (local mode) or a URL.
pub fn connect(spec: &str) -> Result<Box<dyn BankApi>, CliError> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(Box::new(crate::http::client::HttpBank::from_spec(spec)?));
    }
    Ok(Box::new(super::bank::BankHome::new(Path::new(spec)).open()?))
}

/// Fetches the bank's keysets and pins them under `bank_key` (or, the first
/// time and without `bank_key`, the master key they are signed with).
pub fn pin_bank(
    dir: &Path,
    bank: &dyn BankApi,
    spec: &str,
    bank_key: Option<&str>,
    out: &Output,
) -> Result<(PinnedBank, KeysetList), CliError> {
    let list = KeysetList { keysets: bank.keysets()? };
    if list.keysets.is_empty() {
        return Err(CliError::Input("the bank publishes no keyset".into()));
    }
    let master = super::bank_master(&list, bank_key, out)?;
    TrustAnchors::new(master).pin_keysets(&list.keysets)?;
    let pinned = PinnedBank { master_key: master, bank: Some(spec.to_string()) };
    write_json(&dir.join("bank.json"), &pinned)?;
    write_message(&dir.join("keysets.json"), &list)?;
    Ok((pinned, list))
}

/// With a bank given: connects, pins its keysets (see [`pin_bank`]) and
/// returns the connection; without one, nothing.
pub fn connect_and_pin(
    dir: &Path,
    bank: Option<&str>,
    bank_key: Option<&str>,
    out: &Output,
) -> Result<Option<Box<dyn BankApi>>, CliError> {
    match bank {
        Some(spec) => {
            let b = connect(spec)?;
            pin_bank(dir, &*b, spec, bank_key, out)?;
            Ok(Some(b))
        }
        None => Ok(None),
    }
}

/// At `new`: pins the TTP key statement `args` names, or notes that none is
/// pinned (withdrawals and payments are refused until `trust-ttp`).
pub fn pin_ttp_at_creation(
    dir: &Path,
    args: &TtpArgs,
    bank: Option<&dyn BankApi>,
    out: &Output,
) -> Result<(), CliError> {
    if args.given() {
        trust_ttp(dir, args, bank, out)?;
    } else {
        out.note(
            "no TTP key statement pinned: coins escrowing under any TTP key are refused until you \
             pin the TTP's statement (`trust-ttp --ttp FILE`)",
        );
    }
    Ok(())
}

/// Loads the pinned bank and keysets of a wallet or merchant directory.
pub fn load_pinned(dir: &Path) -> Result<(PinnedBank, KeysetList), CliError> {
    let path = dir.join("bank.json");
    if !path.exists() {
        return Err(CliError::Input(format!(
            "{}: no bank pinned yet (pass --bank to `new` or run `register`)",
            dir.display()
        )));
    }
    Ok((read_json(&path)?, read_message(&dir.join("keysets.json"))?))
}

/// Writes the pinned keyset list of `anchors` to `dir/keysets.json` if it
/// differs from `old`.
pub fn save_keysets(dir: &Path, anchors: &TrustAnchors, old: &KeysetList) -> Result<(), CliError> {
    let list = anchors.keyset_list();
    if list != *old {
        write_message(&dir.join("keysets.json"), &list)?;
    }
    Ok(())
}

/// The account a wallet acts for (`account.json`; its keys are in
/// `wallet.key`, `auth.key` and `retired.key`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AccountFile {
    account: AccountId,
}

/// A re-key in progress (`rekey.key`): the new keys, kept until the
/// operator has applied the request.
#[derive(Serialize, Deserialize)]
struct PendingRekey {
    identity: UserKey,
    auth: AuthKey,
}

/// An authentication key rotation in progress (`auth.next.key`): the new
/// key and the request, so a lost answer is fetched with the same bytes.
#[derive(Serialize, Deserialize)]
struct PendingRotation {
    key: AuthKey,
    request: AccountRequest,
}

pub(super) struct WalletHome {
    pub(super) dir: PathBuf,
}

impl WalletHome {
    fn key(&self) -> PathBuf {
        self.dir.join("wallet.key")
    }
    fn auth_key(&self) -> PathBuf {
        self.dir.join("auth.key")
    }
    fn retired(&self) -> PathBuf {
        self.dir.join("retired.key")
    }
    fn account(&self) -> PathBuf {
        self.dir.join("account.json")
    }
    fn rekey(&self) -> PathBuf {
        self.dir.join("rekey.key")
    }
    fn rotation(&self) -> PathBuf {
        self.dir.join("auth.next.key")
    }
    fn seed(&self) -> PathBuf {
        self.dir.join("wallet.seed")
    }
    /// The recovery seed of a sweep under way into this wallet (0600),
    /// removed when the sweep is finished.
    pub(super) fn sweep(&self) -> PathBuf {
        self.dir.join("sweep.key")
    }

    /// Writes the keys of a new wallet (refusing to overwrite any).
    fn create_keys(&self, keys: &AccountKeys) -> Result<(), CliError> {
        write_secret(&self.key(), keys.identity())?;
        write_secret(&self.auth_key(), keys.auth())?;
        write_json(&self.account(), &AccountFile { account: keys.account() })
    }

    /// Reads the account's keys.
    fn keys(&self) -> Result<AccountKeys, CliError> {
        if !self.key().exists() {
            return Err(CliError::Input(format!(
                "{}: not a wallet directory (run `faircash wallet new --dir {}`)",
                self.dir.display(),
                self.dir.display()
            )));
        }
        let identity: UserKey = read_secret(&self.key())?;
        if !self.auth_key().exists() {
            return Err(CliError::Input(format!(
                "{}: the wallet has no authentication key (auth.key): it was made by a faircash version \
                 without account authentication keys; finish its withdrawals with that version and create \
                 a new wallet",
                self.dir.display()
            )));
        }
        let auth: AuthKey = read_secret(&self.auth_key())?;
        let account = if self.account().exists() {
            read_json::<AccountFile>(&self.account())?.account
        } else {
            identity.account_id()
        };
        let retired: Vec<UserKey> =
            if self.retired().exists() { read_secret(&self.retired())? } else { Vec::new() };
        Ok(AccountKeys::new(account, identity, auth, retired))
    }

    pub(super) fn open(
        &self,
        out: &Output,
    ) -> Result<(Wallet<SqliteWalletStore>, PinnedBank, KeysetList, DirLock), CliError> {
        let keys = self.keys()?;
        let (pinned, list) = load_pinned(&self.dir)?;
        let store = SqliteWalletStore::open_existing(self.dir.join("wallet.db"))
            .map_err(|e| super::damaged_store("wallet", &self.dir, e))?;
        let lock = lock_dir(&self.dir, "wallet.lock", out)?;
        if self.rotation().exists() {
            out.note("an authentication key rotation is unfinished: run `wallet rotate-auth-key` again");
        }
        let mut w = Wallet::new(keys, pinned.master_key, store, super::clock());
        if self.seed().exists() {
            let seed: WalletSeed = read_secret(&self.seed())?;
            w = w
                .with_seed(&seed)
                .map_err(|e| CliError::Security(format!("{}: {e}", self.seed().display())))?;
        }
        w.pin_keysets(&list.keysets)?;
        for s in &load_ttp(&self.dir)?.statements {
            w.anchors_mut().trust_ttp(s)?;
        }
        let released = w.release_unpaid()?;
        if released > 0 {
            out.note(format!(
                "{released} coin(s) of an interrupted payment that never left the wallet are unspent again"
            ));
        }
        Ok((w, pinned, list, lock))
    }
}

/// Opens the wallet in `dir` (locked while the lock lives).
pub(super) fn open_wallet(
    dir: &Path,
    out: &Output,
) -> Result<(Wallet<SqliteWalletStore>, PinnedBank, KeysetList, DirLock), CliError> {
    WalletHome { dir: dir.to_path_buf() }.open(out)
}

/// `wallet restore --bank BANK`: the account's keys from the recovery
/// phrase, its withdrawal transcripts from the bank (protocol.md §7.6
/// item 8); on any failure before the keys are written, a directory this
/// command made is removed.
fn run_restore(args: &RestoreArgs, dir: &Path, out: &Output) -> Result<(), CliError> {
    let home = WalletHome { dir: dir.to_path_buf() };
    if home.key().exists() {
        return Err(CliError::Refused(format!("{}: a wallet exists here already", dir.display())));
    }
    let bank = args.bank.as_deref().ok_or_else(|| {
        CliError::Usage("give --backup FILE, or --bank BANK to restore from the bank's transcripts".into())
    })?;
    // The phrase first: a wrong one leaves nothing behind.
    let text = read_secret_stdin("recovery phrase")?;
    let seed = RecoveryPhrase::parse(&text)
        .map_err(|e| CliError::Input(format!("the recovery phrase: {e}")))?
        .seed();
    let made = !dir.exists();
    ensure_dir(dir)?;
    let restored = (|| {
        let b = connect_and_pin(dir, Some(bank), args.bank_key.as_deref(), out)?
            .ok_or_else(|| CliError::Usage("--bank is required".into()))?;
        pin_ttp_at_creation(dir, &args.ttp, Some(&*b), out)?;
        let master = load_pinned(dir)?.0.master_key;
        let store = SqliteWalletStore::open(dir.join("wallet.db"))?;
        Wallet::restore(&seed, master, store, super::clock(), &*b, &mut OsRng, |_| {}).map_err(restore_failed)
    })();
    let (wallet, report) = match restored {
        Ok(r) => r,
        Err(e) => {
            if made {
                // Only what this command created.
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    write_secret(&home.seed(), &seed)?;
    home.create_keys(wallet.keys())?;
    if !wallet.keys().retired().is_empty() {
        write_secret(&home.retired(), &wallet.keys().retired().to_vec())?;
    }
    let withheld: Vec<_> = report
        .withheld
        .iter()
        .map(|(s, why)| json!({"session": hex::encode(s.as_bytes()), "reason": why.name()}))
        .collect();
    let account = wallet.account_id();
    drop(wallet);
    // The spent check and the exchange of the unspent coins (protocol.md
    // §7.7): the wallet's keys are written, so `wallet resume` takes up an
    // interrupted exchange.
    let (restored, _, _, _lock) = home.open(out)?;
    let b = connect(bank)?;
    out.note(format!(
        "rebuilt {} coin(s) worth {}; fetching the bank's spent lists and its unspent statement",
        report.recovered.len(),
        report.recovered_value()
    ));
    let check = restored.check_spent(&*b, &report.recovered, &mut OsRng)?;
    out.note(format!(
        "{} spent-list page(s) of {} key(s) at publication {}: {} coin(s) spent, {} unspent; exchanging the unspent ones",
        check.pages,
        check.keys,
        check.sequence,
        check.spent.len(),
        check.unspent.len()
    ));
    let exchanged = restored.exchange_restored(&*b, &mut OsRng)?;
    let balance = restored.balance()?;
    let omissions = omissions_json(&check);
    out.result(
        || {
            format!(
                "wallet restored in {}; account {account} (epoch {}, authentication key {}); {} session(s) listed: \
                 {} coin(s) rebuilt, value {}, {} open, {} ended, {} withheld by the bank, {} not this phrase's; \
                 spent lists at publication {} ({} page(s)): {} coin(s) spent, {} unspent, {} left out of the \
                 lists by the bank; exchanged {exchanged}, balance {balance}",
                dir.display(),
                report.epoch,
                report.auth_rotation,
                report.listed,
                report.recovered.len(),
                report.recovered_value(),
                report.open,
                report.ended,
                report.withheld.len(),
                report.unmatched.len(),
                check.sequence,
                check.pages,
                check.spent.len(),
                check.unspent.len(),
                check.omissions.len(),
            )
        },
        json!({
            "spent_lists": {"pages": check.pages, "keys": check.keys, "sequence": check.sequence},
            "statement_sequences": check.statements.iter().map(|s| s.sequence).collect::<Vec<_>>(),
            "coins_spent": check.spent.len(),
            "coins_unspent": check.unspent.len(),
            "omissions": omissions,
            "exchanged": exchanged,
            "balance": balance,
            "account": account,
            "epoch": report.epoch,
            "auth_rotation": report.auth_rotation,
            "listed": report.listed,
            "recovered": report.recovered.len(),
            "recovered_value": report.recovered_value(),
            "open": report.open,
            "ended": report.ended,
            "withheld": withheld,
            "unmatched": report.unmatched.len(),
        }),
    );
    if !check.omissions.is_empty() {
        return Err(CliError::Security(format!(
            "the bank left {} spent coin(s) out of its spent lists (kept spent, never paid again; the proof is in \
             the --json report)",
            check.omissions.len()
        )));
    }
    if !report.withheld.is_empty() {
        return Err(CliError::Security(format!(
            "the bank withheld {} coin(s): their transcripts do not verify",
            report.withheld.len()
        )));
    }
    Ok(())
}

/// The spent coins a bank's lists left out (protocol.md §7.7), each with
/// the signed page and statement that prove it, for a `--json` report.
pub(super) fn omissions_json(check: &crate::roles::wallet::SpentCheck) -> Vec<serde_json::Value> {
    check
        .omissions
        .iter()
        .map(|o| {
            let (page, statement) = crate::roles::wallet::omission_proof(check, o);
            json!({
                "coin": o.0.coin_id,
                "published": o.0.published,
                "page": hex::encode(crate::wire::WireMessage::to_bytes(page)),
                "statement": hex::encode(crate::wire::WireMessage::to_bytes(statement)),
            })
        })
        .collect()
}

/// A new wallet: its account, whether it is registered at the bank, its
/// registration file and its recovery phrase (none without a bank key).
pub(super) struct NewWallet {
    pub(super) id: AccountId,
    pub(super) registered: bool,
    pub(super) registration: PathBuf,
    pub(super) phrase: Option<RecoveryPhrase>,
}

impl NewWallet {
    /// The phrase to put in the output, shown once: with `--json` and
    /// without `phrase_in_json` it goes to stderr only (and `None` is
    /// returned).
    pub(super) fn shown_phrase(&self, out: &Output, phrase_in_json: bool) -> Option<&str> {
        match &self.phrase {
            Some(p) if out.is_json() && !phrase_in_json => {
                eprintln!("recovery phrase (write it down; it is not shown again):\n{}", p.expose_secret());
                None
            }
            Some(p) => Some(p.expose_secret()),
            None => None,
        }
    }
}

/// The first step of a new wallet in `dir`: refuses a directory holding a
/// wallet, then pins the bank and the TTP, so a wrong bank, key or
/// statement leaves nothing behind but the pins.
pub(super) fn prepare_new(
    dir: &Path,
    bank: Option<&str>,
    bank_key: Option<&str>,
    ttp: &TtpArgs,
    out: &Output,
) -> Result<Option<Box<dyn BankApi>>, CliError> {
    let home = WalletHome { dir: dir.to_path_buf() };
    if home.key().exists() {
        return Err(CliError::Refused(format!("{}: a wallet exists here already", dir.display())));
    }
    ensure_dir(dir)?;
    let connected = connect_and_pin(dir, bank, bank_key, out)?;
    pin_ttp_at_creation(dir, ttp, connected.as_deref(), out)?;
    Ok(connected)
}

/// The second step: the keys from a new recovery phrase, derived for the
/// bank's master key (protocol.md §7.6) — random, and no phrase, without a
/// bank or its key — the store, the registration, sent when connected.
pub(super) fn create_wallet(
    dir: &Path,
    connected: Option<&dyn BankApi>,
    bank_key: Option<&str>,
    out: &Output,
) -> Result<NewWallet, CliError> {
    let home = WalletHome { dir: dir.to_path_buf() };
    let master = match (&connected, bank_key) {
        (Some(_), _) => Some(load_pinned(dir)?.0.master_key),
        (None, Some(k)) => Some(parse_key(k, "--bank-key")?),
        (None, None) => None,
    };
    let phrase = master.map(|_| RecoveryPhrase::generate(&mut OsRng));
    let keys = match (&phrase, &master) {
        (Some(p), Some(m)) => {
            let seed = p.seed();
            write_secret(&home.seed(), &seed)?;
            seed.account_keys(m, 0)
        }
        _ => {
            out.note("no bank key given: the wallet has no recovery phrase");
            AccountKeys::generate(&mut OsRng)
        }
    };
    home.create_keys(&keys)?;
    drop(SqliteWalletStore::open(dir.join("wallet.db"))?);
    let reg = crate::protocol::register::UserRegistration::new(&keys, &mut OsRng);
    let registration = dir.join("registration.json");
    write_message(&registration, &reg)?;
    crate::failpoint::failpoint!("wallet.new.written");
    let mut registered = false;
    if let Some(b) = connected {
        b.register_user(&reg)?;
        registered = true;
    }
    Ok(NewWallet { id: keys.account(), registered, registration, phrase })
}

/// Refuses (exit 4) a directory that exists and is not empty: a wallet is
/// restored (`what`) only into a new one.
pub(super) fn refuse_nonempty(dir: &Path, what: &str) -> Result<(), CliError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| CliError::Io(format!("{}: {e}", dir.display())))?
            .next()
            .is_none();
        if !empty {
            return Err(CliError::Refused(format!(
                "{}: exists and is not empty; {what} into a new directory",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// A restore's failure as a CLI error: the bank's or the store's as
/// theirs, a phrase without an account or key as invalid input.
pub(super) fn restore_failed(e: crate::roles::wallet::RestoreError) -> CliError {
    match e {
        crate::roles::wallet::RestoreError::Protocol(p) => CliError::from(p),
        other => CliError::Input(other.to_string()),
    }
}

/// Runs a wallet command.
pub fn run(cmd: WalletCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        WalletCommand::Receiving(c) => super::payee::run_wallet(c, out),
        WalletCommand::Backup { dir, out: file } => backup(&dir.dir, &file, out),
        WalletCommand::Restore(args) => restore(&args, out),
        WalletCommand::New { dir, bank, bank_key, ttp, phrase_in_json } => {
            let connected = prepare_new(&dir.dir, bank.as_deref(), bank_key.as_deref(), &ttp, out)?;
            let made = create_wallet(&dir.dir, connected.as_deref(), bank_key.as_deref(), out)?;
            let shown = made.shown_phrase(out, phrase_in_json);
            let human_phrase = shown.map(|p| {
                format!(
                    "\nrecovery phrase (write it down; it is not shown again, it restores the wallet):\n{p}"
                )
            });
            let (id, registered, reg_path) = (made.id, made.registered, &made.registration);
            out.result(
                || {
                    let made = if registered {
                        format!("wallet created in {}; account {id} open at the bank", dir.dir.display())
                    } else {
                        format!(
                            "wallet created in {}; account {id}; registration written to {} (give it to the bank)",
                            dir.dir.display(),
                            reg_path.display()
                        )
                    };
                    made + human_phrase.as_deref().unwrap_or("")
                },
                json!({
                    "account": id,
                    "registered": registered,
                    "registration": reg_path,
                    "recovery_phrase": if phrase_in_json { shown } else { None },
                }),
            );
            Ok(())
        }
        WalletCommand::TrustTtp(TrustTtpArgs { dir, ttp, bank }) => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (_, pinned, _, _lock) = home.open(out)?;
            run_trust_ttp(&dir.dir, &ttp, bank.or(pinned.bank), out)
        }
        WalletCommand::Register { dir, bank, bank_key } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let keys = home.keys()?;
            let b = connect(&bank)?;
            pin_bank(&dir.dir, &*b, &bank, bank_key.as_deref(), out)?;
            let id = b.register_user(&crate::protocol::register::UserRegistration::new(&keys, &mut OsRng))?;
            out.result(|| format!("account {id} open at the bank"), json!({"account": id}));
            Ok(())
        }
        WalletCommand::Withdraw { dir, bank, split: SplitArgs { amount, into }, change } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, _, list, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            go_online(&dir.dir, &mut wallet, &*b, &list, out)?;
            let keyset =
                wallet.keysets().last().cloned().ok_or_else(|| CliError::Input("no keyset".into()))?;
            let values = match into {
                Some(v) if v.iter().sum::<u64>() != amount => {
                    return Err(CliError::Usage(format!("--into {v:?} does not sum to --amount {amount}")))
                }
                Some(v) => v,
                None => crate::roles::wallet::decompose(amount, &keyset.values_desc())?,
            };
            let bar = out.progress(values.len() as u64, "withdrawing");
            let ids = wallet.withdraw_values(&*b, &values, &mut OsRng, |_| bar.inc(1))?;
            bar.finish_and_clear();
            let made = change_ahead(&wallet, &*b, &change, out)?;
            let balance = wallet.balance()?;
            out.result(
                || {
                    format!(
                        "withdrew {} in {} coin(s); wallet holds {balance}",
                        amount_with_breakdown(&values),
                        ids.len()
                    )
                },
                json!({"withdrawn": amount, "coins": ids, "denominations": values, "balance": balance, "change": made}),
            );
            Ok(())
        }
        WalletCommand::Exchange { dir, bank, split: SplitArgs { amount, into }, change } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, _, list, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            go_online(&dir.dir, &mut wallet, &*b, &list, out)?;
            let ex = wallet.exchange(&*b, amount, into.as_deref(), &mut OsRng)?;
            let made = change_ahead(&wallet, &*b, &change, out)?;
            report_exchange(&wallet, &ex, made, out)
        }
        WalletCommand::Refresh { dir, bank, margin, change } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, _, list, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            // What going on-line renewed (at its random margin) counts too.
            let mut renewed = go_online(&dir.dir, &mut wallet, &*b, &list, out)?;
            let margin = margin.unwrap_or(deposit_window(&wallet));
            renewed.extend(wallet.refresh(&*b, margin, &mut OsRng)?);
            let value: u64 = renewed.iter().map(|e| e.value).sum();
            let coins: usize = renewed.iter().map(|e| e.spent.len()).sum();
            let made = change_ahead(&wallet, &*b, &change, out)?;
            let balance = wallet.balance()?;
            out.result(
                || format!("renewed {coins} coin(s) worth {value} expiring within {margin} day(s); wallet holds {balance}"),
                json!({"renewed_coins": coins, "renewed_value": value, "margin_days": margin, "balance": balance, "change": made}),
            );
            Ok(())
        }
        WalletCommand::AuditStatements { dir, bank } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, _, _, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            let stored = crate::store::WalletStore::spent_statements(wallet.store())?.len();
            let (lists, found) = wallet.audit_statements(&*b)?;
            let proofs: Vec<_> = found
                .iter()
                .map(|c| {
                    json!({
                        "coins": c.coins,
                        "statement_sequence": c.statement.sequence,
                        "statement": hex::encode(crate::wire::WireMessage::to_bytes(&c.statement)),
                        "page": hex::encode(crate::wire::WireMessage::to_bytes(&c.page)),
                    })
                })
                .collect();
            out.result(
                || {
                    format!(
                        "{stored} stored statement(s) checked against {} spent-list page(s) at publication {}: {} contradicted",
                        lists.pages.len(),
                        lists.sequence,
                        found.len()
                    )
                },
                json!({"statements": stored, "pages": lists.pages.len(), "sequence": lists.sequence, "contradictions": proofs}),
            );
            if !found.is_empty() {
                return Err(CliError::Security(format!(
                    "the bank's spent lists contradict {} of its unspent statements: it stated spent coins unspent \
                     (the signed proof is in the --json report; double-spending evidence against those coins is void)",
                    found.len()
                )));
            }
            Ok(())
        }
        WalletCommand::Resume { dir, bank, release } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let b = connect(&bank)?;
            if !release && super::sweep::resume_sweep(&dir.dir, &*b, out)? {
                return Ok(());
            }
            let (wallet, _, _, _lock) = home.open(out)?;
            if release {
                let (_, plans) = wallet.interrupted()?;
                let done = wallet.release_withdrawals(&*b, &mut OsRng)?;
                out.result(
                    || {
                        format!(
                            "released {plans} interrupted withdrawal(s); finished {} coin(s) the bank had answered",
                            done.len()
                        )
                    },
                    json!({"released": plans, "coins": done}),
                );
                return Ok(());
            }
            let resumed = wallet.resume(&*b, &mut OsRng)?;
            renew_due(&wallet, &*b, out)?;
            for (amount, withdrawn) in &resumed.incomplete {
                out.note(format!(
                    "a withdrawal of {amount} stopped after {withdrawn}: its reservation lapsed and the rest is refused"
                ));
            }
            let incomplete: Vec<_> =
                resumed.incomplete.iter().map(|(a, w)| json!({"amount": a, "withdrawn": w})).collect();
            out.result(
                || {
                    format!(
                        "finished {} coin(s) of interrupted withdrawals; took up {} interrupted exchange(s); exchanged {} of restored coins; settled {} interrupted reclaim(s)",
                        resumed.coins.len(),
                        resumed.exchanges,
                        resumed.restored,
                        resumed.reclaims
                    )
                },
                json!({"coins": resumed.coins, "incomplete": incomplete, "exchanges": resumed.exchanges, "restored": resumed.restored, "reclaims": resumed.reclaims}),
            );
            Ok(())
        }
        WalletCommand::Account { dir, bank } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, _, _, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            renew_due(&wallet, &*b, out)?;
            let st = wallet.account_status(&*b, &mut OsRng)?;
            out.result(
                || {
                    let mut s = format!(
                        "account {}: balance {} ({} held by withdrawals in progress){}",
                        st.account,
                        st.balance,
                        st.held,
                        if st.frozen { "; FROZEN" } else { "" }
                    );
                    for e in &st.events {
                        s.push_str(&format!("\n  {} {}: {}", e.at.0, e.kind.name(), e.reason));
                    }
                    s
                },
                json!({
                    "account": st.account, "balance": st.balance, "held": st.held, "frozen": st.frozen,
                    "identity": st.identity, "auth_key": st.auth_key,
                    "events": st.events.iter().map(|e| json!({"at": crate::cli::output::time(e.at), "kind": e.kind.name(), "reason": e.reason})).collect::<Vec<_>>(),
                }),
            );
            Ok(())
        }
        WalletCommand::Reclaim { dir, bank, refusal, payment } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, _, _, _lock) = home.open(out)?;
            let refusal: crate::protocol::refusal::PayeeRefusal = read_message(&refusal)?;
            let payment: Option<Payment> = payment.map(|p| read_message(&p)).transpose()?;
            let b = connect(&bank)?;
            let receipt = wallet.reclaim(&*b, &refusal, payment.as_ref(), &mut OsRng)?;
            out.result(
                || {
                    format!(
                        "reclaimed the refused payment {}: {} credited to account {}",
                        hex::encode(&refusal.payment_digest[..8]),
                        receipt.credited,
                        receipt.merchant_id
                    )
                },
                json!({
                    "account": receipt.merchant_id,
                    "credited": receipt.credited,
                    "payment_digest": hex::encode(refusal.payment_digest),
                    "receipt": super::output::receipt_json(&receipt),
                }),
            );
            Ok(())
        }
        WalletCommand::RotateAuthKey { dir, bank } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, _, _, _lock) = home.open(out)?;
            let b = connect(&bank)?;
            // The new key and the request are durable before the request
            // leaves: a lost answer is fetched again with the same bytes.
            let pending: PendingRotation = if home.rotation().exists() {
                read_secret(&home.rotation())?
            } else {
                // An exchange in progress deposits under the current key.
                wallet.resume(&*b, &mut OsRng)?;
                // The phrase's next key, so the phrase still restores the
                // account (specs/protocol.md §7.6 item 3).
                let (key, derived) = wallet.next_auth_key(&mut OsRng);
                if !derived && home.seed().exists() {
                    out.note("the new authentication key is random: the recovery phrase no longer lists this account's withdrawals");
                }
                let request = wallet.auth_rotation(&key, &mut OsRng);
                let p = PendingRotation { key, request };
                write_secret(&home.rotation(), &p)?;
                p
            };
            let st = wallet.rotate_auth_key(&*b, pending.key.clone(), &pending.request)?;
            write_secret_replace(&home.auth_key(), &pending.key)?;
            remove(&home.rotation())?;
            out.result(
                || format!("authentication key of account {} replaced", st.account),
                json!({"account": st.account, "auth_key": st.auth_key}),
            );
            Ok(())
        }
        WalletCommand::Rekey { dir, out: file, activate, bank } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, _, _, _lock) = home.open(out)?;
            if !activate {
                let file = file.ok_or_else(|| CliError::Usage("pass --out FILE or --activate".into()))?;
                let pending: PendingRekey = if home.rekey().exists() {
                    read_secret(&home.rekey())?
                } else {
                    // Random, also in a wallet with a recovery phrase: a
                    // re-key follows a double spend, perhaps a thief's who
                    // holds the phrase (specs/security.md §7).
                    let p = PendingRekey {
                        identity: UserKey::generate(&mut OsRng),
                        auth: AuthKey::generate(&mut OsRng),
                    };
                    write_secret(&home.rekey(), &p)?;
                    p
                };
                let req = wallet.rekey_request(&pending.identity, &pending.auth, &mut OsRng);
                write_message(&file, &req)?;
                let fp = req.fingerprint();
                out.result(
                    || {
                        format!(
                            "re-key request for account {} written to {}; fingerprint {fp} (confirm it to the bank's operator)",
                            req.account,
                            file.display()
                        )
                    },
                    json!({"account": req.account, "request": file, "fingerprint": fp}),
                );
                return Ok(());
            }
            let bank = bank.ok_or_else(|| CliError::Usage("--activate needs --bank".into()))?;
            if !home.rekey().exists() {
                return Err(CliError::Input(
                    "no re-key in progress (run `wallet rekey --out FILE` first)".into(),
                ));
            }
            let pending: PendingRekey = read_secret(&home.rekey())?;
            let old = wallet.keys().clone();
            wallet.adopt_rekey(pending.identity.clone(), pending.auth.clone());
            let b = connect(&bank)?;
            // Signed with the new authentication key: it answers only once the
            // operator applied the request.
            let st = match wallet.account_status(&*b, &mut OsRng) {
                Ok(st)
                    if st.identity == *pending.identity.identity()
                        && st.auth_key == *pending.auth.public() =>
                {
                    st
                }
                Ok(_) | Err(crate::protocol::Error::InvalidProof(_)) => return Err(CliError::Refused(
                    "the bank has not applied the re-key yet (ask its operator to run `faircash bank rekey`)"
                        .into(),
                )),
                Err(e) => return Err(e.into()),
            };
            // The old identity joins the retired ones first, so it is never
            // lost (its coins are still spent with it).
            let mut retired = old.retired().to_vec();
            retired.push(old.identity().clone());
            write_secret_replace(&home.retired(), &retired)?;
            // The new keys are not the phrase's: the wallet stops deriving
            // from it (removed first, so a crash never leaves a seed that
            // does not match the keys).
            if home.seed().exists() {
                remove(&home.seed())?;
                out.note(
                    "the wallet's recovery phrase no longer restores it: make a new wallet for a new phrase",
                );
            }
            write_secret_replace(&home.key(), &pending.identity)?;
            write_secret_replace(&home.auth_key(), &pending.auth)?;
            remove(&home.rekey())?;
            out.result(
                || {
                    format!(
                        "account {} now uses its new identity{}",
                        st.account,
                        if st.frozen { " (still frozen: the operator lifts the freeze)" } else { "" }
                    )
                },
                json!({"account": st.account, "identity": st.identity, "frozen": st.frozen}),
            );
            Ok(())
        }
        WalletCommand::Pay { dir, request, order, out: file, bank, offline } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (mut wallet, pinned, list, _lock) = home.open(out)?;
            let req: PaymentRequest = read_message(&request)?;
            if let Some(text) = &order {
                if crate::protocol::pay::order_digest(text.as_bytes()) != req.order_digest {
                    return Err(CliError::Refused(format!(
                        "the payment request is not for the order {text:?} (its order digest is {}); nothing paid",
                        hex::encode(req.order_digest)
                    )));
                }
            }
            let payment = match wallet.pay(&req, &mut OsRng) {
                Ok(p) => p,
                Err(e @ crate::protocol::Error::NoExactChange { .. }) => match bank.or(pinned.bank) {
                    Some(spec) if !offline => {
                        let b = connect(&spec)?;
                        go_online(&dir.dir, &mut wallet, &*b, &list, out)?;
                        let (payment, ex) = wallet.pay_with_change(&*b, &req, &mut OsRng)?;
                        if let Some(ex) = ex {
                            out.note(format!(
                                "made change: exchanged {} coin(s) worth {} for {}",
                                ex.spent.len(),
                                ex.value,
                                amount_with_breakdown(&ex.values)
                            ));
                        }
                        payment
                    }
                    _ => return Err(wallet.offline_refusal(e)?.into()),
                },
                Err(e) => return Err(e.into()),
            };
            write_message(&file, &payment)?;
            let values: Vec<u64> = payment
                .coins
                .iter()
                .map(|c| wallet.keysets().iter().find_map(|k| k.key(&c.body.key_id)).map_or(0, |k| k.value))
                .collect();
            let balance = wallet.balance()?;
            let what = match &order {
                Some(text) => format!("for {text:?}"),
                None => format!(
                    "for order digest {}… (pass --order TEXT to check what you pay for)",
                    &hex::encode(req.order_digest)[..16]
                ),
            };
            out.result(
                || {
                    format!(
                        "paid {} to merchant {} {what} with {} coin(s); payment written to {}; wallet holds {balance}",
                        amount_with_breakdown(&values),
                        req.merchant_id,
                        values.len(),
                        shown(&file)
                    )
                },
                json!({
                    "paid": req.amount,
                    "merchant": req.merchant_id,
                    "order": order,
                    "order_digest": hex::encode(req.order_digest),
                    "denominations": values,
                    "payment": file,
                    "balance": balance,
                }),
            );
            Ok(())
        }
        WalletCommand::Balance { dir } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, _, _, _lock) = home.open(out)?;
            let coins = wallet.coins()?;
            let values: Vec<u64> =
                coins.iter().filter(|c| c.spent_in.is_none()).map(|c| c.coin.value).collect();
            let margin = deposit_window(&wallet);
            let report = wallet.balance_report(margin)?;
            let balance = report.spendable;
            let pending = crate::store::WalletStore::pending(wallet.store()).map(|p| p.len()).unwrap_or(0);
            let exchanges =
                crate::store::WalletStore::exchanges(wallet.store()).map(|p| p.len()).unwrap_or(0);
            out.result(
                || {
                    let mut s = format!("balance {balance} spendable");
                    if report.expiring > 0 {
                        s.push_str(&format!(
                            "; {} of it expires within {margin} day(s) (renewed by `wallet refresh` or any on-line command)",
                            report.expiring
                        ));
                    }
                    if report.expired > 0 {
                        s.push_str(&format!("; {} expired (not spendable)", report.expired));
                    }
                    s.push_str(&format!("; coins held {}", amount_with_breakdown(&values)));
                    if pending > 0 || exchanges > 0 {
                        s.push_str(&format!(
                            "; {pending} withdrawal(s) and {exchanges} exchange(s) pending (run `wallet resume`)"
                        ));
                    }
                    s
                },
                json!({
                    "balance": balance,
                    "spendable": balance,
                    "expiring": report.expiring,
                    "expiring_within_days": margin,
                    "expired": report.expired,
                    "next_expiry": report.next_expiry.map(day),
                    "denominations": values,
                    "pending_withdrawals": pending,
                    "pending_exchanges": exchanges,
                }),
            );
            Ok(())
        }
        WalletCommand::Coins { dir } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, _, _, _lock) = home.open(out)?;
            let coins = wallet.coins()?;
            out.result(
                || {
                    if coins.is_empty() {
                        return format!(
                            "no coins in {} (withdraw some with `faircash wallet withdraw`)",
                            dir.dir.display()
                        );
                    }
                    coins
                        .iter()
                        .map(|c| {
                            format!(
                                "{} value {:>6} expires {} {}",
                                c.coin.coin.id(),
                                c.coin.value,
                                c.coin.secrets.expiry(),
                                if c.spent_in.is_some() { "spent" } else { "unspent" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json!({"coins": coins
                    .iter()
                    .map(|c| json!({
                        "coin_id": c.coin.coin.id(),
                        "value": c.coin.value,
                        "expires": day(c.coin.secrets.expiry()),
                        "spent": c.spent_in.is_some(),
                    }))
                    .collect::<Vec<_>>()}),
            );
            Ok(())
        }
        WalletCommand::Info { dir } => {
            let home = WalletHome { dir: dir.dir.clone() };
            let (wallet, pinned, _, _lock) = home.open(out)?;
            let coins = wallet.coins()?;
            let unspent: Vec<u64> =
                coins.iter().filter(|c| c.spent_in.is_none()).map(|c| c.coin.value).collect();
            let pending = crate::store::WalletStore::pending(wallet.store())?.len();
            let keysets = wallet.keysets();
            out.result(
                || {
                    let mut s = format!(
                        "wallet {}\n  account   {}\n  bank      {} (master key {})\n  keysets   {}",
                        dir.dir.display(),
                        wallet.account_id(),
                        pinned.bank.as_deref().unwrap_or("not recorded"),
                        hex::encode(pinned.master_key.as_bytes()),
                        keysets.len()
                    );
                    for k in keysets {
                        let d = k.document();
                        s.push_str(&format!(
                            "\n    {} sequence {}: denominations up to {}, withdrawals {}..{}",
                            k.id(),
                            d.sequence,
                            k.values_desc().first().copied().unwrap_or(0),
                            d.keys[0].windows.withdraw_from,
                            d.keys[0].windows.withdraw_until
                        ));
                    }
                    s.push_str(&format!(
                        "\n  balance   {} in {} unspent coin(s) ({} spent)",
                        amount_with_breakdown(&unspent),
                        unspent.len(),
                        coins.len() - unspent.len()
                    ));
                    if pending > 0 {
                        s.push_str(&format!("\n  pending   {pending} withdrawal(s) (run `wallet resume`)"));
                    }
                    s
                },
                json!({
                    "account": wallet.account_id(),
                    "bank": pinned.bank,
                    "master_key": pinned.master_key,
                    "keysets": keysets.iter().map(keyset_json).collect::<Vec<_>>(),
                    "balance": unspent.iter().sum::<u64>(),
                    "coins": unspent.len(),
                    "spent_coins": coins.len() - unspent.len(),
                    "pending_withdrawals": pending,
                }),
            );
            Ok(())
        }
    }
}

/// `wallet backup`: seals the wallet's files and an image of its database
/// (taken under the wallet's lock) under the phrase's backup key.
fn backup(dir: &Path, file: &Path, out: &Output) -> Result<(), CliError> {
    let home = WalletHome { dir: dir.to_path_buf() };
    let (wallet, pinned, _, _lock) = home.open(out)?;
    if !home.seed().exists() {
        return Err(CliError::Refused(format!(
            "{}: the wallet has no recovery phrase (it was made without a bank key, or re-keyed), and a \
             backup opens only with one; copy the whole directory while no faircash command runs instead",
            dir.display()
        )));
    }
    let seed: WalletSeed = read_secret(&home.seed())?;
    let mut files = Vec::new();
    for (name, _) in BACKUP_FILES {
        let path = dir.join(name);
        if path.exists() {
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(&path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?,
            );
            files.push(BackupEntry { name: name.to_string(), bytes: bytes.to_vec() });
        }
    }
    let mut image = wallet.store().image()?;
    let created = super::clock().now().0;
    let contents = BackupContents { created, files, database: std::mem::take(&mut *image) };
    let sealed = BackupFile::seal(&seed, &pinned.master_key, wallet.account_id(), &contents, &mut OsRng);
    let bytes = sealed.to_bytes();
    write_bytes(file, &bytes, true)?;
    let coins = wallet.coins()?;
    let unspent = coins.iter().filter(|c| c.spent_in.is_none()).count();
    let balance = wallet.balance()?;
    out.result(
        || {
            format!(
                "backup of account {} written to {} ({} bytes): {unspent} unspent coin(s) worth {balance}, {} \
                 spent; it opens only with the wallet's recovery phrase (`wallet restore --backup FILE --dir NEW`)",
                wallet.account_id(),
                shown(file),
                bytes.len(),
                coins.len() - unspent
            )
        },
        json!({
            "account": wallet.account_id(),
            "backup": file,
            "bytes": bytes.len(),
            "created": time(Timestamp(created)),
            "balance": balance,
            "coins": unspent,
            "spent_coins": coins.len() - unspent,
        }),
    );
    Ok(())
}

/// `wallet restore --backup FILE`: checks everything (file, phrase,
/// contents) before writing anything, builds the wallet in a temporary
/// directory next to the new one, checks that it opens, and renames it
/// into place; on any failure nothing is left behind.
fn restore(args: &RestoreArgs, out: &Output) -> Result<(), CliError> {
    if let Some(new) = &args.sweep_to {
        return super::sweep::run_sweep(args, new, out);
    }
    let target =
        args.dir.as_deref().ok_or_else(|| CliError::Usage("give --dir DIR or --sweep-to NEWDIR".into()))?;
    let Some(file) = &args.backup else {
        return run_restore(args, target, out);
    };
    refuse_nonempty(target, "restore")?;
    let sealed = BackupFile::parse(&read_bytes(file)?).map_err(|e| backup_refused(file, e))?;
    let text = read_secret_stdin("recovery phrase")?;
    let phrase =
        RecoveryPhrase::parse(&text).map_err(|e| CliError::Input(format!("the recovery phrase: {e}")))?;
    let seed = phrase.seed();
    let contents = sealed.open(&seed).map_err(|e| backup_refused(file, e))?;
    for e in &contents.files {
        if !BACKUP_FILES.iter().any(|(n, _)| *n == e.name) {
            return Err(CliError::Input(format!(
                "{}: the backup holds a file this faircash does not know ({})",
                file.display(),
                e.name
            )));
        }
    }
    for name in BACKUP_REQUIRED {
        if contents.file(name).is_none() {
            return Err(CliError::Input(format!("{}: the backup holds no {name}", file.display())));
        }
    }
    let pinned: PinnedBank = serde_json::from_slice(contents.file("bank.json").unwrap_or_default())
        .map_err(|e| CliError::Input(format!("{}: the backup's bank.json: {e}", file.display())))?;
    if pinned.master_key != *sealed.master_key() {
        return Err(CliError::Input(format!(
            "{}: the backup's pinned bank is not the bank its header names",
            file.display()
        )));
    }
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{}: not a directory name", target.display())))?;
    ensure_dir(parent)?;
    let tmp = parent.join(format!(".{}.restore-{}", name.to_string_lossy(), std::process::id()));
    let built = build_restored(&tmp, &contents, &seed, out);
    let report = match built {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, target) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(CliError::Io(format!("{}: {e}", target.display())));
    }
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    let (account, balance, unspent, spent, pending) = report;
    out.result(
        || {
            format!(
                "wallet of account {account} restored into {} from a backup made at {}: balance \
                 {balance} in {unspent} unspent coin(s), {spent} spent; {pending} withdrawal(s) pending (run \
                 `wallet resume`); withdrawal counters moved {COUNTER_SKIP} ahead",
                target.display(),
                Timestamp(contents.created)
            )
        },
        json!({
            "account": account,
            "dir": target,
            "created": time(Timestamp(contents.created)),
            "balance": balance,
            "coins": unspent,
            "spent_coins": spent,
            "pending_withdrawals": pending,
            "counter_skip": COUNTER_SKIP,
        }),
    );
    Ok(())
}

/// Writes a restored wallet into `tmp` (a new directory, 0700) and opens
/// it: (account, balance, unspent coins, spent coins, pending withdrawals).
fn build_restored(
    tmp: &Path,
    contents: &BackupContents,
    seed: &WalletSeed,
    out: &Output,
) -> Result<(AccountId, u64, usize, usize, usize), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(tmp).map_err(|e| CliError::Io(format!("{}: {e}", tmp.display())))?;
    for e in &contents.files {
        let secret = BACKUP_FILES.iter().any(|(n, s)| *n == e.name && *s);
        write_atomic(&tmp.join(&e.name), &e.bytes, secret)?;
    }
    write_secret(&tmp.join("wallet.seed"), seed)?;
    drop(
        SqliteWalletStore::restore_image(tmp.join("wallet.db"), &contents.database, COUNTER_SKIP)
            .map_err(|e| super::damaged_store("wallet", tmp, e))?,
    );
    let home = WalletHome { dir: tmp.to_path_buf() };
    let (wallet, _, _, lock) = home.open(out)?;
    let coins = wallet.coins()?;
    let unspent = coins.iter().filter(|c| c.spent_in.is_none()).count();
    let pending = crate::store::WalletStore::pending(wallet.store())?.len();
    let report = (wallet.account_id(), wallet.balance()?, unspent, coins.len() - unspent, pending);
    drop(wallet);
    drop(lock);
    Ok(report)
}

/// The deposit window of the newest pinned keyset: coins expiring within it
/// are shown as expiring and renewed.
fn deposit_window<S: crate::store::WalletStore>(wallet: &Wallet<S>) -> u32 {
    wallet.keysets().last().map_or(14, |k| k.policy().max_deposit_delay_days)
}

/// What every on-line wallet command that moves coins does first: refresh
/// the keysets and TTP statements, finish interrupted withdrawals and
/// exchanges, and renew coins near expiry ([`renew_due`]). Returns the
/// renewals made.
fn go_online(
    dir: &Path,
    wallet: &mut Wallet<SqliteWalletStore>,
    b: &dyn BankApi,
    list: &KeysetList,
    out: &Output,
) -> Result<Vec<crate::roles::wallet::Exchanged>, CliError> {
    super::payee::refresh_from_bank(dir, wallet.anchors_mut(), list, b, out)?;
    let resumed = wallet.resume(b, &mut OsRng)?;
    if !resumed.coins.is_empty() || resumed.exchanges > 0 {
        out.note(format!(
            "finished {} coin(s) of interrupted withdrawals and {} interrupted exchange(s)",
            resumed.coins.len(),
            resumed.exchanges
        ));
    }
    renew_due(wallet, b, out)
}

/// What every on-line wallet command does: renew the coins that expire
/// within a margin drawn at random between the deposit window and twice it
/// (specs/security.md §3.5a). Returns the renewals made.
pub(super) fn renew_due(
    wallet: &Wallet<SqliteWalletStore>,
    b: &dyn BankApi,
    out: &Output,
) -> Result<Vec<crate::roles::wallet::Exchanged>, CliError> {
    let margin = crate::roles::wallet::refresh_margin(deposit_window(wallet), &mut OsRng);
    let renewed = wallet.refresh(b, margin, &mut OsRng)?;
    if !renewed.is_empty() {
        let value: u64 = renewed.iter().map(|e| e.value).sum();
        out.note(format!("renewed coins worth {value} that expire soon"));
    }
    Ok(renewed)
}

/// Change made ahead of time after an on-line command that changed the
/// coins held (protocol §9.8), unless `--no-change`: the exchanges made, as
/// the `change` of the command's JSON object (a note each in text mode).
fn change_ahead<S: crate::store::WalletStore>(
    wallet: &Wallet<S>,
    b: &dyn BankApi,
    change: &ChangeArgs,
    out: &Output,
) -> Result<serde_json::Value, CliError> {
    if change.no_change {
        return Ok(json!([]));
    }
    let made = wallet.make_change_ahead(b, change.change_up_to, &mut OsRng)?;
    for ex in &made {
        out.note(format!(
            "made change ahead of time: exchanged a coin of {} for {}",
            ex.value,
            amount_with_breakdown(&ex.values)
        ));
    }
    Ok(made.iter().map(|ex| json!({"exchanged": ex.value, "denominations": ex.values})).collect())
}

fn report_exchange<S: crate::store::WalletStore>(
    wallet: &Wallet<S>,
    ex: &crate::roles::wallet::Exchanged,
    change: serde_json::Value,
    out: &Output,
) -> Result<(), CliError> {
    let balance = wallet.balance()?;
    out.result(
        || {
            format!(
                "exchanged {} coin(s) worth {} for {} in {} coin(s); wallet holds {balance}",
                ex.spent.len(),
                ex.value,
                amount_with_breakdown(&ex.values),
                ex.coins.len()
            )
        },
        json!({
            "exchanged": ex.value,
            "credited": ex.credited,
            "spent": ex.spent,
            "coins": ex.coins,
            "denominations": ex.values,
            "balance": balance,
            "change": change,
        }),
    );
    Ok(())
}

fn remove(path: &Path) -> Result<(), CliError> {
    std::fs::remove_file(path).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))
}
