//! The `faircash` command line: one subcommand per role (`bank`, `wallet`,
//! `merchant`, `ttp`, `warrant`) and `demo`.
//!
//! Every role keeps its state in a directory: secret keys in files of mode
//! 0600 (refused when others can read them), state in an embedded SQLite
//! database, messages exchanged as JSON files. Wallets and merchants reach
//! the bank with `--bank`: a bank directory (local mode, through the
//! library) or a bank URL (the same messages over HTTP).

pub mod bank;
pub mod demo;
pub mod evidence;
pub mod files;
pub mod merchant;
pub mod output;
pub mod payee;
mod sweep;
pub mod trustee;
pub mod ttp;
pub mod wallet;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::protocol::trace::TraceError;
use crate::protocol::Error as ProtocolError;
use crate::time::Clock;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  operational failure (file system, database, network)
  2  usage error (bad arguments)
  3  invalid input: a file or message that does not decode or verify
  4  refused by a protocol rule (insufficient balance, expired coin, frozen account,
     a deposit with a double-spent or refused coin, ...)
  5  security check failed (key file readable by others, tampered log,
     a keyset list or TTP key statement rolled back, forked or untrusted)";

/// faircash: fair off-line electronic cash.
#[derive(Debug, Parser)]
#[command(
    name = "faircash",
    version,
    about = "Fair off-line electronic cash: withdraw, pay off-line, deposit, catch double spenders, trace on warrants",
    after_help = concat!(
        "Examples:\n",
        "  faircash demo                                      the whole story, narrated\n",
        "  faircash ttp keygen --dir ttp\n",
        "  faircash bank init --dir bank --ttp-key ttp/ttp.pub.json\n",
        "  faircash wallet new --dir alice --bank bank\n",
        "  faircash bank fund --dir bank --account <ID> --amount 100\n",
        "  faircash wallet withdraw --dir alice --bank bank --amount 40\n",
        "  faircash merchant new --dir shop --bank bank\n",
        "  faircash merchant request --dir shop --amount 12 --out req.json\n",
        "  faircash wallet pay --dir alice --request req.json --out pay.json\n",
        "  faircash merchant accept --dir shop --payment pay.json\n",
        "  faircash merchant deposit --dir shop --bank bank\n\n",
        "Exit codes:\n",
        "  0  success (also when stdout is closed early: `faircash … | head`)\n",
        "  1  operational failure (file system, database, network)\n",
        "  2  usage error (bad arguments)\n",
        "  3  invalid input: a file or message that does not decode or verify\n",
        "  4  refused by a protocol rule (insufficient balance, frozen account, expired\n",
        "     coin, a deposit with a double-spent or refused coin: receipt printed)\n",
        "  5  security check failed (key file readable by others, tampered log, a keyset\n",
        "     list or TTP key statement rolled back, forked or untrusted)\n\n",
        "A file argument `-` is stdin (inputs) or stdout (--out); the report then goes to stderr.\n",
        "--json prints one JSON object per command (docs/cli-json.md)."
    )
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole story, narrated: setup, two users withdraw, off-line
    /// payments to two merchants, deposits, a double spend caught and its
    /// author identified, owner and coin tracing on warrants.
    #[command(
        after_help = "Examples:\n  faircash demo\n  faircash demo --dir ./demo-state   keep the databases\n  faircash demo --memory             in-memory stores"
    )]
    Demo(demo::DemoArgs),
    /// Bank operations (init, accounts, keysets, status, tracing records).
    #[command(subcommand)]
    Bank(bank::BankCommand),
    /// A user's wallet (new, withdraw, pay, balance, coins).
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// A merchant (new, request, accept, deposit).
    #[command(subcommand)]
    Merchant(merchant::MerchantCommand),
    /// The trusted third party (keygen, tracing, log).
    #[command(subcommand)]
    Ttp(ttp::TtpCommand),
    /// A trustee of a threshold TTP: key-generation ceremonies, decryption
    /// shares, group signatures, all from files.
    #[command(subcommand)]
    Trustee(trustee::TrusteeCommand),
    /// Warrant issuers (judges): keys and warrants.
    #[command(subcommand)]
    Warrant(ttp::WarrantCommand),
    /// Double-spending evidence: verify it with public keys alone.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
}

/// What went wrong, and which exit code says so.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// File system, database, or network failure.
    #[error("{0}")]
    Io(String),
    /// A file or message that does not decode or verify.
    #[error("{0}")]
    Input(String),
    /// Refused by a protocol rule.
    #[error("{0}")]
    Refused(String),
    /// A security check failed.
    #[error("{0}")]
    Security(String),
    /// A protocol error.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A tracing error.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The command ran and printed its full report, but its outcome is a
    /// failure of class `code` (a deposit that found a double spend exits 4
    /// after printing its receipt). Only `message` goes to stderr; no
    /// second JSON document is printed.
    #[error("{message}")]
    Reported {
        /// The exit code (3, 4 or 5).
        code: u8,
        /// What failed.
        message: String,
    },
    /// Stdout was closed while a report was written (`faircash … | head`):
    /// the process ends quietly with status 0, as Unix filters do.
    #[error("stdout closed")]
    OutputClosed,
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Protocol(ProtocolError::Store(e))
    }
}

impl From<std::io::Error> for CliError {
    /// A write to a closed pipe is [`CliError::OutputClosed`]; anything else
    /// an operational failure.
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::OutputClosed,
            _ => CliError::Io(e.to_string()),
        }
    }
}

impl From<crate::keys::KeysetError> for CliError {
    fn from(e: crate::keys::KeysetError) -> Self {
        CliError::Input(format!("keyset: {e}"))
    }
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::OutputClosed => 0,
            CliError::Reported { code, .. } => *code,
            CliError::Io(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Input(_) => 3,
            CliError::Refused(_) => 4,
            CliError::Security(_) => 5,
            CliError::Protocol(e) => match e {
                ProtocolError::Store(_) | ProtocolError::Unreachable(_) => 1,
                ProtocolError::Remote { status, code, .. } => match (*status, code.as_str()) {
                    (s, _) if s >= 500 => 1,
                    (400, _)
                    | (
                        _,
                        "invalid-proof" | "invalid-payment" | "invalid-keyset" | "bad-evidence" | "too-large",
                    ) => 3,
                    _ => 4,
                },
                ProtocolError::Decode(_)
                | ProtocolError::InvalidProof(_)
                | ProtocolError::Keyset(_)
                | ProtocolError::BadEvidence(_) => 3,
                ProtocolError::Trace(t) => trace_code(t),
                ProtocolError::Pin(_)
                | ProtocolError::UntrustedTtpKey { .. }
                | ProtocolError::TtpKeyNotValid { .. } => 5,
                ProtocolError::WatchList(crate::protocol::trace::WatchListError::Signature) => 3,
                ProtocolError::WatchList(_) => 5,
                // The bank's commitment was changed on its way: a security
                // check, not a rule.
                ProtocolError::CommitmentSignature => 5,
                _ => 4,
            },
            CliError::Trace(t) => trace_code(t),
        }
    }

    /// A short stable name of the error class (for `--json`).
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            0 => "output_closed",
            1 => "operational",
            2 => "usage",
            3 => "invalid_input",
            4 => "refused",
            _ => "security",
        }
    }
}

fn trace_code(t: &TraceError) -> u8 {
    match t {
        TraceError::Store(_) => 1,
        TraceError::Log(_) => 5,
        TraceError::InvalidRecord(_)
        | TraceError::ResultProof
        | TraceError::ResultSignature
        | TraceError::ResultMismatch(_)
        | TraceError::WarrantSignature => 3,
        _ => 4,
    }
}

/// The bank master key a keyset list is checked against: `bank_key` (64
/// hex digits) when given, else the key the list's first keyset names,
/// which is trusted on first use (a note says so).
pub fn bank_master(
    list: &crate::keys::KeysetList,
    bank_key: Option<&str>,
    out: &output::Output,
) -> Result<crate::encoding::Point, CliError> {
    match bank_key {
        Some(h) => wallet::parse_key(h, "--bank-key"),
        None => {
            let first =
                list.keysets.first().ok_or_else(|| CliError::Input("the keyset list is empty".into()))?;
            out.note(format!(
                "trusting bank master key {} (pass --bank-key to pin it explicitly)",
                hex::encode(first.document.master_key.as_bytes())
            ));
            Ok(first.document.master_key)
        }
    }
}

/// An error opening a role directory's database. A damaged one (missing,
/// empty, not a faircash store) says how to restore it; any other is an
/// operational failure of the database.
pub fn damaged_store(role: &str, dir: &std::path::Path, e: crate::store::StoreError) -> CliError {
    let init = match role {
        "bank" => "bank init".to_string(),
        "ttp" => "ttp keygen".to_string(),
        "trustee" => "trustee init".to_string(),
        _ => format!("{role} new"),
    };
    match e {
        crate::store::StoreError::Corrupt(what) => CliError::Io(format!(
            "{what}: the {role} directory {} is damaged. Restore the whole directory (keys and database \
             together) from a backup; do not run `faircash {init}` over it, which would start from nothing \
             and lose what the database held",
            dir.display()
        )),
        other => CliError::Io(format!("cannot open the {role}'s database: {other}")),
    }
}

/// A directory argument shared by the role commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArg {
    /// The role's state directory.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs the command line with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Output::new(cli.json);
    if let Err(e) =
        one_stdin_one_stdout(std::env::args_os().skip(1)).and_then(|()| test_clock::set_from_env())
    {
        out.error(&e);
        return ExitCode::from(e.exit_code());
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run_cli(&args, &out),
        Command::Bank(c) => bank::run(c, &out),
        Command::Wallet(c) => wallet::run(c, &out),
        Command::Merchant(c) => merchant::run(c, &out),
        Command::Ttp(c) => ttp::run_ttp(c, &out),
        Command::Trustee(c) => trustee::run_trustee(c, &out),
        Command::Warrant(c) => ttp::run_warrant(c, &out),
        Command::Evidence(c) => evidence::run(c, &out),
    };
    match result {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(CliError::Reported { code, message }) => {
            let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("error: {message}\n"));
            ExitCode::from(code)
        }
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// The variable that moves the clock of the command line in test builds
/// (see [`clock`]), in whole days.
pub const TEST_CLOCK_ENV: &str = "FAIRCASH_TEST_CLOCK_OFFSET_DAYS";

/// The clock of every command: every role the command line makes (wallet,
/// merchant, bank in local mode and `bank serve`, TTP, trustees, the demo)
/// reads the time through this one clock.
///
/// It is the system clock, except in builds with the `failpoints` feature
/// (the crate's own tests; never `cargo build` or `cargo run --release`),
/// where `FAIRCASH_TEST_CLOCK_OFFSET_DAYS=N` moves it by `N` days (negative:
/// back), so the tests can run the real binary past a coin's expiry.
pub fn clock() -> Arc<dyn Clock> {
    #[cfg(feature = "failpoints")]
    if let Some(days) = test_clock::offset_days() {
        return Arc::new(crate::time::OffsetClock::days(days));
    }
    Arc::new(crate::time::SystemClock)
}

/// The test clock's offset (see [`clock`]): compiled only with the
/// `failpoints` feature; without it the variable is never read.
mod test_clock {
    use super::CliError;
    #[cfg(feature = "failpoints")]
    use super::TEST_CLOCK_ENV as ENV;

    #[cfg(feature = "failpoints")]
    static OFFSET: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

    /// Reads the offset once, before any command runs; a value that is not
    /// a whole number of days within ±100 000 is a usage error, so a
    /// misspelt value cannot make a test pass on the real clock.
    #[cfg(feature = "failpoints")]
    pub fn set_from_env() -> Result<(), CliError> {
        let Some(raw) = std::env::var_os(ENV) else {
            return Ok(());
        };
        let days = raw
            .to_str()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|d| d.unsigned_abs() <= 100_000)
            .ok_or_else(|| {
                CliError::Usage(format!("{ENV}={raw:?} is not a whole number of days (±100000)"))
            })?;
        let _ = OFFSET.set(days);
        Ok(())
    }

    /// Without the `failpoints` feature the clock cannot be moved.
    #[cfg(not(feature = "failpoints"))]
    pub fn set_from_env() -> Result<(), CliError> {
        Ok(())
    }

    /// The offset set by [`set_from_env`], if any.
    #[cfg(feature = "failpoints")]
    pub fn offset_days() -> Option<i32> {
        OFFSET.get().copied().filter(|d| *d != 0)
    }
}

/// Refuses two file arguments `-` for stdin (or two `--out -`) before any
/// is read: a command has one stdin and one stdout.
fn one_stdin_one_stdout(args: impl Iterator<Item = std::ffi::OsString>) -> Result<(), CliError> {
    let (mut inputs, mut outputs) = (0, 0);
    let mut previous = std::ffi::OsString::new();
    for a in args {
        if a == "-" {
            if previous == "--out" {
                outputs += 1;
            } else {
                inputs += 1;
            }
        }
        previous = a;
    }
    if inputs > 1 {
        return Err(CliError::Usage("only one input can be `-` (stdin)".into()));
    }
    if outputs > 1 {
        return Err(CliError::Usage("only one output can be `-` (stdout)".into()));
    }
    Ok(())
}

#[doc(hidden)]
pub const EXIT_CODES_HELP: &str = EXIT_CODES;
