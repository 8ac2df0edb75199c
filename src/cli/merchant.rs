//! `faircash merchant …`: a merchant.

use std::path::PathBuf;

use clap::Subcommand;
use rand::rngs::OsRng;
use serde_json::json;

use super::files::{ensure_dir, lock_dir, read_message, read_secret, write_message, write_secret, DirLock};
use super::output::Output;
use super::payee::{DepositArgs, PaymentArgs, RefuseArgs, RequestArgs};
use super::wallet::{
    connect, connect_and_pin, load_pinned, load_ttp, pin_ttp_at_creation, run_trust_ttp, TrustTtpArgs,
    TtpArgs,
};
use super::{CliError, DirArg};
use crate::crypto::schnorr::SigningKey;
use crate::protocol::trace::WatchList;
use crate::roles::Merchant;
use crate::store::sqlite::SqliteMerchantStore;
use crate::store::PaymentState;

/// Merchant commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash merchant new --dir shop --bank bank\n  \
    faircash merchant request --dir shop --amount 12 --order 'espresso x2' --out req.json\n  \
    faircash merchant accept --dir shop --payment pay.json\n  faircash merchant deposit --dir shop --bank bank")]
pub enum MerchantCommand {
    /// Create a merchant: a signing key, its registration, and (with --bank)
    /// the bank's pinned keysets and a registered account.
    #[command(after_help = "Example:\n  faircash merchant new --dir shop --bank bank")]
    New {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank (a directory, or a URL).
        #[arg(long)]
        bank: Option<String>,
        /// The bank master key (hex) to trust; default: the one the bank shows.
        #[arg(long)]
        bank_key: Option<String>,
        /// The TTP key statement to pin.
        #[command(flatten)]
        ttp: TtpArgs,
    },
    /// Pin a TTP key statement (the TTP's file), or every statement the bank
    /// publishes under a TTP signing key given in hex: an explicit decision
    /// of the merchant, never taken from the bank alone.
    #[command(after_help = "Example:\n  faircash merchant trust-ttp --dir shop --ttp ttp/ttp.pub.json")]
    TrustTtp(TrustTtpArgs),
    /// Issue a payment request (fresh nonce, today's date).
    #[command(
        after_help = "Example:\n  faircash merchant request --dir shop --amount 12 --order 'order 1001' --out req.json"
    )]
    Request(RequestArgs),
    /// Verify a payment off-line (public keys only) and accept it. A payment
    /// under a keyset not pinned here makes the merchant fetch the bank's
    /// keysets (verifying their chain) and look again.
    #[command(after_help = "Example:\n  faircash merchant accept --dir shop --payment pay.json")]
    Accept(PaymentArgs),
    /// Refuse a payment with a signed refusal: the request it answers is
    /// closed for good, and the payer reclaims the value at the bank with
    /// the refusal (`wallet reclaim`).
    #[command(
        after_help = "Example:\n  faircash merchant refuse --dir shop --payment pay.json --out refusal.json\n\n\
        Exit status:\n  \
        0  refused, the refusal written\n  \
        3  not a payment file\n  \
        4  it answers no open request of this merchant (or one it accepted): nothing to refuse"
    )]
    Refuse(RefuseArgs),
    /// Deposit every accepted payment at the bank.
    #[command(after_help = "Example:\n  faircash merchant deposit --dir shop --bank bank\n\n\
        Exit status (the receipt is printed in every case):\n  \
        0  every coin credited, or credited before (a repeated deposit)\n  \
        4  some coin not credited: double spent (the bank identified its spender) or refused (watch list),\n     \
        or some payment refused (kept apart with its reason: `merchant payments --refused`)\n  \
        1  the bank could not be reached or failed; nothing changed, run it again")]
    Deposit(DepositArgs),
    /// Import the bank's signed coin-tracing watch list.
    #[command(after_help = "Example:\n  faircash merchant watch-list --dir shop --list watch.json")]
    WatchList {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The watch list file (`bank watch-list` writes it).
        #[arg(long)]
        list: PathBuf,
    },
    /// Accepted payments awaiting deposit.
    #[command(after_help = "Example:\n  faircash merchant status --dir shop")]
    Status {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// List accepted payments and where each stands (pending, deposited,
    /// refused by the bank with its reason).
    #[command(after_help = "Examples:\n  faircash merchant payments --dir shop\n  \
        faircash merchant payments --dir shop --refused")]
    Payments {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Only the payments the bank refused (kept apart: never deposited again).
        #[arg(long)]
        refused: bool,
    },
}

fn open(dir: &std::path::Path, out: &Output) -> Result<(Merchant<SqliteMerchantStore>, DirLock), CliError> {
    let key_path = dir.join("merchant.key");
    if !key_path.exists() {
        return Err(CliError::Input(format!(
            "{}: not a merchant directory (run `faircash merchant new --dir {}`)",
            dir.display(),
            dir.display()
        )));
    }
    let key: SigningKey = read_secret(&key_path)?;
    let (pinned, list) = load_pinned(dir)?;
    let lock = lock_dir(dir, "merchant.lock", out)?;
    let store = SqliteMerchantStore::open_existing(dir.join("merchant.db"))
        .map_err(|e| super::damaged_store("merchant", dir, e))?;
    let mut m = Merchant::new(key, pinned.master_key, store, super::clock());
    m.pin_keysets(&list.keysets)?;
    for s in &load_ttp(dir)?.statements {
        m.anchors_mut().trust_ttp(s)?;
    }
    Ok((m, lock))
}

/// Runs a merchant command.
pub fn run(cmd: MerchantCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        MerchantCommand::New { dir, bank, bank_key, ttp } => {
            let key_path = dir.dir.join("merchant.key");
            if key_path.exists() {
                return Err(CliError::Refused(format!(
                    "{}: a merchant exists here already",
                    dir.dir.display()
                )));
            }
            ensure_dir(&dir.dir)?;
            let connected = connect_and_pin(&dir.dir, bank.as_deref(), bank_key.as_deref(), out)?;
            pin_ttp_at_creation(&dir.dir, &ttp, connected.as_deref(), out)?;
            let key = SigningKey::generate(&mut OsRng);
            write_secret(&key_path, &key)?;
            drop(SqliteMerchantStore::open(dir.dir.join("merchant.db"))?);
            let reg = crate::protocol::register::MerchantRegistration::new(&key, &mut OsRng);
            let reg_path = dir.dir.join("registration.json");
            write_message(&reg_path, &reg)?;
            let id = crate::keys::merchant_account_id(key.public());
            let mut registered = false;
            if let Some(b) = &connected {
                b.register_merchant(&reg)?;
                registered = true;
            }
            out.result(
                || {
                    if registered {
                        format!(
                            "merchant created in {}; account {id} registered at the bank",
                            dir.dir.display()
                        )
                    } else {
                        format!(
                            "merchant created in {}; account {id}; registration in {}",
                            dir.dir.display(),
                            reg_path.display()
                        )
                    }
                },
                json!({"account": id, "registered": registered, "registration": reg_path}),
            );
            Ok(())
        }
        MerchantCommand::TrustTtp(TrustTtpArgs { dir, ttp, bank }) => {
            let (_m, _lock) = open(&dir.dir, out)?;
            let (pinned, _) = load_pinned(&dir.dir)?;
            run_trust_ttp(&dir.dir, &ttp, bank.or(pinned.bank), out)
        }
        MerchantCommand::Request(RequestArgs { dir, amount, order, out: file }) => {
            let (m, _lock) = open(&dir.dir, out)?;
            super::payee::request(&m.payee(), amount, &order, &file, out)
        }
        MerchantCommand::Accept(PaymentArgs { dir, payment }) => {
            let (mut m, _lock) = open(&dir.dir, out)?;
            super::payee::accept(&dir.dir, &mut m, &payment, "merchant deposit", out)
        }
        MerchantCommand::Refuse(RefuseArgs { dir, payment, out: file }) => {
            let (m, _lock) = open(&dir.dir, out)?;
            super::payee::refuse(&m.payee(), &payment, &file, out)
        }
        MerchantCommand::Deposit(DepositArgs { dir, bank }) => {
            let (mut m, _lock) = open(&dir.dir, out)?;
            let b = connect(&bank)?;
            let (_, list) = load_pinned(&dir.dir)?;
            super::payee::refresh_from_bank(&dir.dir, m.anchors_mut(), &list, &*b, out)?;
            super::payee::deposit(&m.payee(), &*b, "merchant payments", "merchant", out)
        }
        MerchantCommand::WatchList { dir, list } => {
            let (m, _lock) = open(&dir.dir, out)?;
            let l: WatchList = read_message(&list)?;
            m.import_watch_list(&l)?;
            out.result(
                || format!("{} watched serial(s) imported", l.serials.len()),
                json!({"serials": l.serials.len()}),
            );
            Ok(())
        }
        MerchantCommand::Status { dir } => {
            let (m, _lock) = open(&dir.dir, out)?;
            let all = m.payments()?;
            let pending: Vec<_> = all.iter().filter(|a| a.state == PaymentState::Pending).collect();
            let refused = all.iter().filter(|a| matches!(a.state, PaymentState::Refused { .. })).count();
            let total = crate::protocol::checked_sum(pending.iter().map(|a| a.payment.request.amount))?;
            out.result(
                || {
                    let mut s = format!(
                        "merchant {}: {} payment(s) worth {total} awaiting deposit",
                        m.id(),
                        pending.len()
                    );
                    if refused > 0 {
                        s.push_str(&format!(
                            "; {refused} refused by the bank (`merchant payments --refused`)"
                        ));
                    }
                    s
                },
                json!({"account": m.id(), "undeposited_payments": pending.len(), "undeposited_value": total, "refused_payments": refused}),
            );
            Ok(())
        }
        MerchantCommand::Payments { dir, refused } => {
            let (m, _lock) = open(&dir.dir, out)?;
            super::payee::payments(&m.payee(), refused, out)
        }
    }
}
