//! `faircash ttp …` (the trustee) and `faircash warrant …` (judges).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::files::{
    ensure_dir, read_json, read_message, read_secret, read_text, shown, write_json, write_message,
    write_secret,
};
use super::output::{day, time, Output};
use super::{CliError, DirArg};
use crate::crypto::schnorr::SigningKey;
use crate::encoding::Point;
use crate::keys::{KeysetList, PublicKeyFile};
use crate::protocol::trace::{
    combine_shares, verify_log, Decryption, LogHead, ShareEvidence, ShareRejection, TraceError, TraceKind,
    TraceRecord, TraceRequest, TraceResult, TraceShare, Warrant, WarrantTerms,
};
use crate::protocol::trust::{SignedTtpKeyStatement, TtpValidity};
use crate::roles::{Ttp, TtpKeys};
use crate::store::sqlite::SqliteTtpStore;
use crate::store::TtpStore;
use crate::trustees::signing::{GroupMessage, ResultToSign, SigningRequest};
use crate::wire::WireMessage;

/// TTP commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash ttp keygen --dir ttp\n  \
    faircash ttp trust-issuer --dir ttp --key judge/judge.pub.json\n  \
    faircash ttp trust-bank --dir ttp --keysets bank/keysets.json\n  \
    faircash ttp trace-owner --dir ttp --warrant warrant.json --record record.json --out result.json\n  \
    faircash ttp verify-trace --ttp ttp/ttp.pub.json --warrant warrant.json --record record.json --result result.json\n  \
    faircash ttp log verify --dir ttp --head head-1.json --head head-2.json")]
pub enum TtpCommand {
    /// Create the TTP's keys (decryption key x_T and group signing key) and
    /// its signed key statement, the file wallets, merchants and the bank pin.
    #[command(
        after_help = "Example:\n  faircash ttp keygen --dir ttp   (writes ttp.key, mode 0600, and the \
        signed key statement ttp.pub.json)"
    )]
    Keygen {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Validity of the statement.
        #[command(flatten)]
        validity: ValidityArgs,
    },
    /// Sign the next key statement (same keys, next sequence, new validity):
    /// pinned statements are superseded by it.
    #[command(
        after_help = "Example:\n  faircash ttp statement --dir ttp --escrow-days 1095 --trace-days 1460"
    )]
    Statement {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Validity of the statement.
        #[command(flatten)]
        validity: ValidityArgs,
        /// Also write the statement here (it is always written to ttp.pub.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Trust warrants signed by an issuer key.
    #[command(after_help = "Example:\n  faircash ttp trust-issuer --dir ttp --key judge/judge.pub.json")]
    TrustIssuer(TrustIssuerArgs),
    /// Pin a bank's keysets (records are checked against them).
    #[command(after_help = "Example:\n  faircash ttp trust-bank --dir ttp --keysets bank/keysets.json")]
    TrustBank(TrustBankArgs),
    /// Owner tracing: a deposited spend → the identity of its withdrawer.
    #[command(
        after_help = "Example:\n  faircash ttp trace-owner --dir ttp --warrant warrant.json --record record.json --out result.json"
    )]
    TraceOwner(TraceArgs),
    /// Coin tracing: a withdrawal record → the serial of its coin.
    #[command(
        after_help = "Example:\n  faircash ttp trace-coin --dir ttp --warrant warrant.json --record record.json --out result.json"
    )]
    TraceCoin(TraceArgs),
    /// Verify a trace result with public keys only.
    #[command(
        after_help = "Example:\n  faircash ttp verify-trace --ttp ttp.pub.json --warrant w.json --record r.json --result result.json"
    )]
    VerifyTrace {
        /// The TTP's signed key statement.
        #[arg(long)]
        ttp: PathBuf,
        /// The warrant.
        #[arg(long)]
        warrant: PathBuf,
        /// The record.
        #[arg(long)]
        record: PathBuf,
        /// The result.
        #[arg(long)]
        result: PathBuf,
    },
    /// The audit log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Combine trustees' decryption shares (anyone can): t valid shares give
    /// the plaintext, an invalid share is named and skipped, fewer than t
    /// give nothing. Writes the request for the group to sign the result.
    #[command(
        after_help = "Example:\n  faircash ttp combine --ttp ttp.pub.json --warrant w.json --record r.json \\\n      --share share-1.json --share share-3.json --out result-request.json"
    )]
    Combine(CombineArgs),
}

/// Arguments of `ttp combine`.
#[derive(Debug, clap::Args)]
pub struct CombineArgs {
    /// The group's key statement (t, every trustee's verification share).
    #[arg(long)]
    ttp: PathBuf,
    /// The warrant.
    #[arg(long)]
    warrant: PathBuf,
    /// The record it covers.
    #[arg(long)]
    record: PathBuf,
    /// A trustee's decryption share (repeat).
    #[arg(long, required = true)]
    share: Vec<PathBuf>,
    /// A trustee to sign the result (repeat; default: those whose shares
    /// were combined).
    #[arg(long)]
    signer: Vec<u16>,
    /// Where to write the request for the group's signature of the result.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `trust-issuer` (a TTP's or a trustee's).
#[derive(Debug, clap::Args)]
pub struct TrustIssuerArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The issuer's public key file (`warrant keygen` writes it).
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trust-bank` (a TTP's or a trustee's).
#[derive(Debug, clap::Args)]
pub struct TrustBankArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The bank's keyset list (`bank keyset --out` writes it).
    #[arg(long)]
    pub keysets: PathBuf,
    /// The bank master key (hex) to trust; default: the one the list is signed with.
    #[arg(long)]
    pub bank_key: Option<String>,
}

/// How long a TTP key statement is valid, in days from today.
#[derive(Debug, clap::Args)]
pub struct ValidityArgs {
    /// Days (from today) during which bank keysets may escrow under the key.
    #[arg(long, default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    escrow_days: u32,
    /// Days (from today) during which the TTP keeps the key and traces; at
    /// least --escrow-days plus the banks' coin validity and deposit delay.
    #[arg(long, default_value_t = 1095, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    trace_days: u32,
}

impl ValidityArgs {
    pub(crate) fn validity(&self, from: crate::time::Day) -> Result<TtpValidity, CliError> {
        if self.trace_days < self.escrow_days {
            return Err(CliError::Usage("--trace-days must be at least --escrow-days".into()));
        }
        Ok(TtpValidity {
            escrow_from: from,
            escrow_until: super::clock().today().plus(self.escrow_days),
            trace_until: super::clock().today().plus(self.trace_days),
        })
    }
}

/// Arguments of a trace.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The state directory.
    #[command(flatten)]
    dir: DirArg,
    /// The signed warrant.
    #[arg(long)]
    warrant: PathBuf,
    /// The record it covers (`bank export-spend` / `bank export-withdrawal`).
    #[arg(long)]
    record: PathBuf,
    /// Where to write the signed, proven result.
    #[arg(long)]
    out: PathBuf,
}

/// Audit-log commands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Walk the hash chain and check it against published heads.
    #[command(after_help = "Example:\n  faircash ttp log verify --dir ttp --head published/head-7.json")]
    Verify {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Heads published earlier (repeatable).
        #[arg(long)]
        head: Vec<PathBuf>,
    },
    /// Sign and write the current head, for auditors to keep.
    #[command(after_help = "Example:\n  faircash ttp log head --dir ttp --out head.json")]
    Head {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Warrant-issuer commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash warrant keygen --dir judge\n  \
    faircash warrant issue --dir judge --kind owner --record record.json --case 2026-117 \\\n      --reason 'fraud' --out warrant.json")]
pub enum WarrantCommand {
    /// Create an issuer key (judge.key, mode 0600, and judge.pub.json).
    #[command(after_help = "Example:\n  faircash warrant keygen --dir judge")]
    Keygen {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Issue a signed warrant for one record.
    #[command(
        after_help = "Example:\n  faircash warrant issue --dir judge --kind coin --record record.json --case 7 --reason 'theft' --out w.json"
    )]
    Issue {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Owner or coin tracing.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The record the warrant covers.
        #[arg(long)]
        record: PathBuf,
        /// Case id.
        #[arg(long)]
        case: String,
        /// Reason.
        #[arg(long)]
        reason: String,
        /// Hours the warrant stays valid.
        #[arg(long, default_value_t = 72)]
        valid_hours: u64,
        /// Where to write the warrant.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Kind of tracing on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// Spent coin → withdrawer identity.
    Owner,
    /// Withdrawal → coin serial.
    Coin,
}

/// The TTP directory's configuration (`ttp.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TtpConfig {
    /// Trusted warrant issuers.
    pub issuers: Vec<Point>,
    /// The bank master key whose keysets are pinned.
    pub bank_master: Option<Point>,
}

fn config_path(dir: &Path) -> PathBuf {
    dir.join("ttp.json")
}

fn open_ttp(dir: &Path) -> Result<Ttp<SqliteTtpStore>, CliError> {
    let key_path = dir.join("ttp.key");
    if !key_path.exists() {
        return Err(CliError::Input(format!(
            "{}: not a TTP directory (run `faircash ttp keygen --dir {}`)",
            dir.display(),
            dir.display()
        )));
    }
    let keys: TtpKeys = read_secret(&key_path)?;
    let store =
        SqliteTtpStore::open_existing(dir.join("ttp.db")).map_err(|e| super::damaged_store("ttp", dir, e))?;
    let mut ttp = Ttp::new(keys, store, super::clock());
    let (issuers, keysets) = gate_config(dir)?;
    for i in issuers {
        ttp.trust_issuer(i);
    }
    if let Some((list, master)) = keysets {
        ttp.add_keysets(&list.keysets, &master)?;
    }
    Ok(ttp)
}

/// A pinned bank: its keyset list and master key.
pub(crate) type PinnedBank = (KeysetList, Point);

/// The warrant issuers and the pinned bank keysets of a TTP's or a
/// trustee's directory (`ttp.json`, `keysets.json`).
pub(crate) fn gate_config(dir: &Path) -> Result<(Vec<Point>, Option<PinnedBank>), CliError> {
    let cfg: TtpConfig = read_json(&config_path(dir))?;
    let keysets = match cfg.bank_master {
        Some(master) => Some((read_message::<KeysetList>(&dir.join("keysets.json"))?, master)),
        None => None,
    };
    Ok((cfg.issuers, keysets))
}

/// Adds a warrant issuer to a TTP's or a trustee's directory.
pub(crate) fn add_issuer(dir: &Path, key: &Path, out: &Output) -> Result<(), CliError> {
    let k: PublicKeyFile = read_message(key)?;
    let mut cfg: TtpConfig = read_json(&config_path(dir))?;
    if !cfg.issuers.contains(&k.key) {
        cfg.issuers.push(k.key);
    }
    write_json(&config_path(dir), &cfg)?;
    out.result(
        || format!("trusting warrants of issuer {}", hex::encode(k.key.as_bytes())),
        json!({"issuer": k.key, "issuers": cfg.issuers.len()}),
    );
    Ok(())
}

/// Pins a bank's keysets in a TTP's or a trustee's directory whose
/// decryption key is `ours`.
pub(crate) fn pin_bank(
    dir: &Path,
    keysets: &Path,
    bank_key: Option<&str>,
    ours: &Point,
    out: &Output,
) -> Result<(), CliError> {
    let list: KeysetList = read_message(keysets)?;
    let master = super::bank_master(&list, bank_key, out)?;
    let verified = list.verify(&master)?;
    if verified.iter().any(|k| k.ttp_key() != ours) {
        out.note("warning: some keysets escrow to another TTP key; their records cannot be traced here");
    }
    let mut cfg: TtpConfig = read_json(&config_path(dir))?;
    cfg.bank_master = Some(master);
    write_message(&dir.join("keysets.json"), &list)?;
    write_json(&config_path(dir), &cfg)?;
    out.result(
        || format!("pinned {} keyset(s) of bank {}", verified.len(), hex::encode(master.as_bytes())),
        json!({"bank_master": master, "keysets": verified.len()}),
    );
    Ok(())
}

/// Reports a verified audit log.
pub(crate) fn log_verify_json(out: &Output, entries: usize, tip: &[u8; 32], heads: usize) {
    out.result(
        || {
            format!(
                "audit log intact: {entries} entries, head {}, consistent with {heads} published head(s)",
                hex::encode(tip),
            )
        },
        json!({"entries": entries, "head": hex::encode(tip), "heads_checked": heads}),
    );
}

/// Reports a log head written to `file`.
pub(crate) fn log_head_json(out: &Output, head: &LogHead, file: &Path) {
    out.result(
        || {
            format!(
                "log head: {} entries, hash {}; written to {}",
                head.size,
                hex::encode(head.hash),
                shown(file)
            )
        },
        json!({"size": head.size, "hash": hex::encode(head.hash), "file": file}),
    );
}

/// Reads a signed TTP key statement file and checks it (t of n, and its
/// signature under the signing key it names).
pub fn read_statement(path: &Path) -> Result<SignedTtpKeyStatement, CliError> {
    let s: SignedTtpKeyStatement = read_message(path)?;
    s.verify().map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    Ok(s)
}

/// The JSON summary of a statement written to `file`.
pub fn statement_json(s: &SignedTtpKeyStatement, file: &Path) -> serde_json::Value {
    let st = &s.statement;
    json!({
        "sequence": st.sequence,
        "decryption_key": st.decryption_key,
        "signing_key": st.signing_key,
        "threshold": st.threshold,
        "trustees": st.trustees.len(),
        "escrow_from": day(st.validity.escrow_from),
        "escrow_until": day(st.validity.escrow_until),
        "trace_until": day(st.validity.trace_until),
        "file": file,
    })
}

fn kind_of(k: KindArg) -> TraceKind {
    match k {
        KindArg::Owner => TraceKind::Owner,
        KindArg::Coin => TraceKind::Coin,
    }
}

/// Runs a TTP command.
pub fn run_ttp(cmd: TtpCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TtpCommand::Keygen { dir, validity } => {
            let key_path = dir.dir.join("ttp.key");
            if key_path.exists() {
                return Err(CliError::Refused(format!("{}: TTP keys exist here already", dir.dir.display())));
            }
            let validity = validity.validity(super::clock().today())?;
            ensure_dir(&dir.dir)?;
            let keys = TtpKeys::generate(&mut OsRng);
            let statement = keys
                .statement(0, validity, super::clock().now(), &mut OsRng)
                .map_err(|e| CliError::Input(e.to_string()))?;
            write_secret(&key_path, &keys)?;
            write_json(&config_path(&dir.dir), &TtpConfig::default())?;
            let pub_path = dir.dir.join("ttp.pub.json");
            write_message(&pub_path, &statement)?;
            drop(SqliteTtpStore::open(dir.dir.join("ttp.db"))?);
            out.result(
                || {
                    format!(
                        "TTP keys created in {}\n  Y_T (for bank keysets) {}\n  group signing key {} (wallets and merchants pin it)\n  key statement (sequence 0; escrow {}..{}, traces until {}) written to {}",
                        dir.dir.display(),
                        hex::encode(statement.statement.decryption_key.as_bytes()),
                        hex::encode(statement.statement.signing_key.as_bytes()),
                        validity.escrow_from,
                        validity.escrow_until,
                        validity.trace_until,
                        pub_path.display()
                    )
                },
                statement_json(&statement, &pub_path),
            );
            Ok(())
        }
        TtpCommand::Statement { dir, validity, out: file } => {
            let ttp = open_ttp(&dir.dir)?;
            let pub_path = dir.dir.join("ttp.pub.json");
            let current: SignedTtpKeyStatement = read_message(&pub_path)?;
            let validity = validity.validity(current.statement.validity.escrow_from)?;
            let keys: TtpKeys = read_secret(&dir.dir.join("ttp.key"))?;
            let next = keys
                .statement(current.statement.sequence + 1, validity, super::clock().now(), &mut OsRng)
                .map_err(|e| CliError::Input(e.to_string()))?;
            drop(ttp);
            write_message(&pub_path, &next)?;
            if let Some(f) = &file {
                write_message(f, &next)?;
            }
            out.result(
                || {
                    format!(
                        "key statement sequence {} (escrow {}..{}, traces until {}) written to {}",
                        next.statement.sequence,
                        validity.escrow_from,
                        validity.escrow_until,
                        validity.trace_until,
                        file.as_ref().unwrap_or(&pub_path).display()
                    )
                },
                statement_json(&next, file.as_ref().unwrap_or(&pub_path)),
            );
            Ok(())
        }
        TtpCommand::TrustIssuer(TrustIssuerArgs { dir, key }) => {
            let _ = open_ttp(&dir.dir)?;
            add_issuer(&dir.dir, &key, out)
        }
        TtpCommand::TrustBank(TrustBankArgs { dir, keysets, bank_key }) => {
            let _ = open_ttp(&dir.dir)?;
            let ours = read_message::<SignedTtpKeyStatement>(&dir.dir.join("ttp.pub.json"))?
                .statement
                .decryption_key;
            pin_bank(&dir.dir, &keysets, bank_key.as_deref(), &ours, out)
        }
        TtpCommand::TraceOwner(a) => trace(a, TraceKind::Owner, out),
        TtpCommand::TraceCoin(a) => trace(a, TraceKind::Coin, out),
        TtpCommand::VerifyTrace { ttp, warrant, record, result } => {
            let statement = read_statement(&ttp)?.statement;
            let warrant: Warrant = read_message(&warrant)?;
            let record: TraceRecord = read_message(&record)?;
            let result: TraceResult = read_message(&result)?;
            let plaintext = result.verify(&statement, &record, &warrant)?;
            let what = match result.kind {
                TraceKind::Owner => format!(
                    "identity I = {} (account {})",
                    hex::encode(plaintext.as_bytes()),
                    crate::keys::user_account_id(&plaintext)
                ),
                TraceKind::Coin => format!("serial S = {}", hex::encode(plaintext.as_bytes())),
            };
            let entries = result.log_entries();
            let single = matches!(result.decryption, Decryption::Single { .. });
            let logged = if single {
                format!("log entry {}", entries[0].1)
            } else {
                let named: Vec<String> =
                    entries.iter().map(|(i, index)| format!("trustee {i} log entry {index}")).collect();
                format!("{} of {} trustees ({})", entries.len(), statement.trustees.len(), named.join(", "))
            };
            out.result(
                || format!("trace result verifies: {} tracing, {logged}, {what}", result.kind),
                json!({
                    "valid": true,
                    "kind": result.kind.to_string(),
                    "log_index": single.then(|| entries[0].1),
                    "trustees": entries.iter().map(|(i, index)| json!({"trustee": i, "log_index": index})).collect::<Vec<_>>(),
                    "plaintext": plaintext,
                }),
            );
            Ok(())
        }
        TtpCommand::Log(LogCommand::Verify { dir, head }) => {
            let ttp = open_ttp(&dir.dir)?;
            let heads = head.iter().map(|h| read_message::<LogHead>(h)).collect::<Result<Vec<_>, _>>()?;
            let entries = ttp.store().entries()?;
            let tip = verify_log(&entries, &heads, &ttp.public_keys().signing)
                .map_err(|e| CliError::Security(format!("audit log: {e}")))?;
            log_verify_json(out, entries.len(), &tip, heads.len());
            Ok(())
        }
        TtpCommand::Log(LogCommand::Head { dir, out: file }) => {
            let ttp = open_ttp(&dir.dir)?;
            let head = ttp.log_head(&mut OsRng)?;
            write_message(&file, &head)?;
            log_head_json(out, &head, &file);
            Ok(())
        }
        TtpCommand::Combine(a) => combine(a, out),
    }
}

fn trace(a: TraceArgs, expected: TraceKind, out: &Output) -> Result<(), CliError> {
    let ttp = open_ttp(&a.dir.dir)?;
    let warrant: Warrant = read_message(&a.warrant)?;
    let record: TraceRecord = read_message(&a.record)?;
    if record.kind() != expected {
        return Err(CliError::Usage(format!(
            "{}: a {} record; use `ttp trace-{}`",
            a.record.display(),
            record.kind(),
            record.kind()
        )));
    }
    let req = TraceRequest { warrant, record };
    let result = ttp.trace(&req, &mut OsRng)?;
    write_message(&a.out, &result)?;
    let head = ttp.log_head(&mut OsRng)?;
    write_message(&a.dir.dir.join("log-head.json"), &head)?;
    let what = match result.kind {
        TraceKind::Owner => format!(
            "the coin was withdrawn by identity {} (account {})",
            hex::encode(result.plaintext.as_bytes()),
            crate::keys::user_account_id(&result.plaintext)
        ),
        TraceKind::Coin => {
            format!("the withdrawn coin has serial {}", hex::encode(result.plaintext.as_bytes()))
        }
    };
    out.result(
        || {
            format!(
                "{} trace under warrant {} (case {}): {what}\n  proven and signed result written to {}\n  logged as entry {}; log head {} published in {}",
                result.kind,
                hex::encode(req.warrant.warrant_id),
                req.warrant.case_id,
                shown(&a.out),
                result.log_entries()[0].1,
                hex::encode(head.hash),
                a.dir.dir.join("log-head.json").display()
            )
        },
        json!({
            "kind": result.kind.to_string(),
            "plaintext": result.plaintext,
            "account": result.owner_account(),
            "log_index": result.log_entries()[0].1,
            "log_head": hex::encode(head.hash),
            "result": a.out,
        }),
    );
    Ok(())
}

/// Runs a warrant command.
pub fn run_warrant(cmd: WarrantCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        WarrantCommand::Keygen { dir } => {
            let key_path = dir.dir.join("judge.key");
            if key_path.exists() {
                return Err(CliError::Refused(format!(
                    "{}: an issuer key exists here already",
                    dir.dir.display()
                )));
            }
            ensure_dir(&dir.dir)?;
            let key = SigningKey::generate(&mut OsRng);
            write_secret(&key_path, &key)?;
            let pub_path = dir.dir.join("judge.pub.json");
            write_message(
                &pub_path,
                &PublicKeyFile { purpose: "warrant-issuer".into(), key: *key.public() },
            )?;
            out.result(
                || {
                    format!(
                        "issuer key {} created; public key in {}",
                        hex::encode(key.public().as_bytes()),
                        pub_path.display()
                    )
                },
                json!({"issuer": key.public(), "public_key": pub_path}),
            );
            Ok(())
        }
        WarrantCommand::Issue { dir, kind, record, case, reason, valid_hours, out: file } => {
            let key: SigningKey = read_secret(&dir.dir.join("judge.key"))?;
            let record: TraceRecord = read_message(&record)?;
            let kind = kind_of(kind);
            if record.kind() != kind {
                return Err(CliError::Usage(format!(
                    "the record is for {} tracing, not {kind}",
                    record.kind()
                )));
            }
            if case.len() > crate::protocol::trace::MAX_CASE_ID
                || reason.len() > crate::protocol::trace::MAX_REASON
            {
                return Err(CliError::Usage("case id or reason too long".into()));
            }
            let now = super::clock().now();
            let w = Warrant::issue(
                &key,
                WarrantTerms {
                    kind,
                    record_digest: record.digest(),
                    case_id: case,
                    reason,
                    issued_at: now,
                    expires_at: now.plus_secs(valid_hours.saturating_mul(3600)),
                },
                &mut OsRng,
            );
            write_message(&file, &w)?;
            out.result(
                || format!("{kind} warrant {} for record {} written to {}", hex::encode(w.warrant_id), hex::encode(w.record_digest), shown(&file)),
                json!({"warrant_id": hex::encode(w.warrant_id), "kind": kind.to_string(), "expires_at": time(w.expires_at), "file": file}),
            );
            Ok(())
        }
    }
}

fn combine(a: CombineArgs, out: &Output) -> Result<(), CliError> {
    let statement = read_statement(&a.ttp)?.statement;
    let warrant: Warrant = read_message(&a.warrant)?;
    let record: TraceRecord = read_message(&a.record)?;
    let request = TraceRequest { warrant, record };
    // A file that does not decode is named and skipped like a share whose
    // proof fails.
    let mut files = Vec::with_capacity(a.share.len());
    let mut rejected = Vec::new();
    for path in &a.share {
        match TraceShare::from_json(&read_text(path)?) {
            Ok(s) => files.push((path.clone(), s)),
            Err(e) => rejected.push(json!({"file": path, "trustee": null, "reason": e.to_string()})),
        }
    }
    let shares: Vec<TraceShare> = files.iter().map(|(_, s)| s.clone()).collect();
    let named =
        |rejections: &[ShareRejection], rejected: &mut Vec<serde_json::Value>, used: &[ShareEvidence]| {
            let mut seen = std::collections::BTreeSet::new();
            for (path, s) in &files {
                let i = s.evidence.trustee;
                if used.contains(&s.evidence) || !seen.insert((i, s.digest())) {
                    continue;
                }
                let reason = rejections
                    .iter()
                    .find(|r| r.trustee() == i)
                    .map_or("not needed: t shares were combined".to_string(), ToString::to_string);
                rejected.push(json!({"file": path, "trustee": i, "reason": reason}));
            }
        };
    let combined = match combine_shares(&statement, &request, &shares) {
        Ok(c) => c,
        Err(TraceError::NotEnoughShares { valid, threshold, rejected: why }) => {
            named(&why, &mut rejected, &[]);
            let list: Vec<String> = rejected
                .iter()
                .filter(|r| r["reason"] != "not needed: t shares were combined")
                .map(|r| {
                    format!(
                        "{}: {}",
                        r["file"].as_str().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            return Err(CliError::Refused(format!(
                "{valid} valid decryption share(s) of the {threshold} needed: no plaintext{}",
                if list.is_empty() { String::new() } else { format!(" (set aside: {})", list.join("; ")) }
            )));
        }
        Err(e) => return Err(e.into()),
    };
    named(&combined.rejected, &mut rejected, &combined.shares);
    for r in &rejected {
        out.note(format!(
            "share {} set aside: {}",
            r["file"].as_str().unwrap_or_default(),
            r["reason"].as_str().unwrap_or_default()
        ));
    }
    let used = combined.log_entries();
    let signers = if a.signer.is_empty() { used.iter().map(|(i, _)| *i).collect() } else { a.signer.clone() };
    let result = combined.unsigned_result(statement.public_keys());
    let sign = SigningRequest::new(
        signers,
        GroupMessage::TraceResult(Box::new(ResultToSign { request, result })),
        &mut OsRng,
    );
    write_message(&a.out, &sign)?;
    let account =
        (combined.kind == TraceKind::Owner).then(|| crate::keys::user_account_id(&combined.plaintext));
    out.result(
        || {
            let what = match combined.kind {
                TraceKind::Owner => format!(
                    "identity I = {} (account {})",
                    hex::encode(combined.plaintext.as_bytes()),
                    crate::keys::user_account_id(&combined.plaintext)
                ),
                TraceKind::Coin => format!("serial S = {}", hex::encode(combined.plaintext.as_bytes())),
            };
            let named: Vec<String> = used.iter().map(|(i, index)| format!("trustee {i} log entry {index}")).collect();
            format!(
                "{} tracing: {} valid shares of {} needed ({}) combine to {what}\n  \
                 request for trustees {:?} to sign the result written to {}: each runs `trustee sign commit`, \
                 then `trustee sign share`; `trustee sign finish` gives the result `ttp verify-trace` checks",
                combined.kind,
                used.len(),
                statement.threshold,
                named.join(", "),
                sign.signers,
                shown(&a.out)
            )
        },
        json!({
            "kind": combined.kind.to_string(),
            "plaintext": combined.plaintext,
            "account": account,
            "trustees": used.iter().map(|(i, index)| json!({"trustee": i, "log_index": index})).collect::<Vec<_>>(),
            "rejected": rejected,
            "signers": sign.signers,
            "session": hex::encode(sign.session_id),
            "file": a.out,
        }),
    );
    Ok(())
}
