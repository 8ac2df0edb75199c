//! `faircash merchant …`: a merchant.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use rand::rngs::OsRng;
use serde_json::json;

use super::files::{
    ensure_dir, lock_dir, read_message, read_secret, shown, write_message, write_secret, DirLock,
};
use super::output::{amount_with_breakdown, day, receipt_json, refusal_name, Output};
use super::wallet::{
    connect, connect_and_pin, load_pinned, load_ttp, pin_ttp_at_creation, run_trust_ttp, save_keysets,
    save_ttp, TrustTtpArgs, TtpArgs,
};
use super::{CliError, DirArg};
use crate::crypto::schnorr::SigningKey;
use crate::protocol::deposit::{DepositOutcome, PaymentOutcome};
use crate::protocol::pay::Payment;
use crate::protocol::trace::WatchList;
use crate::protocol::Error as ProtocolError;
use crate::roles::Merchant;
use crate::store::sqlite::SqliteMerchantStore;
use crate::store::{MerchantStore, PaymentState};
use crate::time::SystemClock;

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
    Request {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Base units to ask for.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        amount: u64,
        /// A description of the order (its digest goes into the request).
        #[arg(long, default_value = "")]
        order: String,
        /// Where to write the request for the customer.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a payment off-line (public keys only) and accept it.
    #[command(after_help = "Example:\n  faircash merchant accept --dir shop --payment pay.json")]
    Accept {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The customer's payment file.
        #[arg(long)]
        payment: PathBuf,
    },
    /// Deposit every accepted payment at the bank.
    #[command(after_help = "Example:\n  faircash merchant deposit --dir shop --bank bank\n\n\
        Exit status (the receipt is printed in every case):\n  \
        0  every coin credited, or credited before (a repeated deposit)\n  \
        4  some coin not credited: double spent (the bank identified its spender) or refused (watch list),\n     \
        or some payment refused (kept apart with its reason: `merchant payments --refused`)\n  \
        1  the bank could not be reached or failed; nothing changed, run it again")]
    Deposit {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The bank.
        #[arg(long)]
        bank: String,
    },
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
    let mut m = Merchant::new(key, pinned.master_key, store, Arc::new(SystemClock));
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
        MerchantCommand::Request { dir, amount, order, out: file } => {
            let (m, _lock) = open(&dir.dir, out)?;
            let digest = crate::protocol::pay::order_digest(order.as_bytes());
            let req = m.request_payment(amount, digest, &mut OsRng)?;
            write_message(&file, &req)?;
            out.result(
                || {
                    format!(
                        "payment request for {amount} ({}), dated {}, written to {}",
                        if order.is_empty() {
                            "no order text".to_string()
                        } else {
                            format!("order {order:?}")
                        },
                        req.day,
                        shown(&file)
                    )
                },
                json!({
                    "amount": amount,
                    "day": day(req.day),
                    "order": order,
                    "order_digest": hex::encode(req.order_digest),
                    "request_id": hex::encode(req.id()),
                    "file": file,
                }),
            );
            Ok(())
        }
        MerchantCommand::Accept { dir, payment } => {
            let (mut m, _lock) = open(&dir.dir, out)?;
            let p: Payment = read_message(&payment)?;
            let summary = match m.accept(&p, &mut OsRng) {
                // A keyset the bank issued since this merchant last looked:
                // fetch the bank's list (pinned under the shared rules) and
                // try again.
                Err(ProtocolError::UnknownKeyset(id)) => {
                    let (pinned, list) = load_pinned(&dir.dir)?;
                    let Some(spec) = pinned.bank else { return Err(ProtocolError::UnknownKeyset(id).into()) };
                    out.note(format!(
                        "payment under keyset {id}, not pinned here: asking the bank for its keysets"
                    ));
                    let b = connect(&spec)?;
                    let summary = m.accept_or_refresh(&p, &*b, &mut OsRng);
                    save_keysets(&dir.dir, m.anchors(), &list)?;
                    summary?
                }
                other => other?,
            };
            out.result(
                || {
                    format!(
                        "payment of {} verified off-line and accepted ({} coin(s)); deposit it with `merchant deposit`",
                        amount_with_breakdown(&summary.values),
                        summary.coin_ids.len()
                    )
                },
                json!({"accepted": p.request.amount, "coins": summary.coin_ids, "denominations": summary.values}),
            );
            Ok(())
        }
        MerchantCommand::Deposit { dir, bank } => {
            let (mut m, _lock) = open(&dir.dir, out)?;
            let b = connect(&bank)?;
            let (_, list) = load_pinned(&dir.dir)?;
            m.anchors_mut().refresh_keysets(&*b)?;
            save_keysets(&dir.dir, m.anchors(), &list)?;
            let old_ttp = load_ttp(&dir.dir)?;
            let offered = m.anchors_mut().refresh_ttp(&*b)?;
            save_ttp(&dir.dir, m.anchors(), &old_ttp, &offered, out)?;
            let in_flight = m.store().deposit_in_flight()?;
            let pending = m.store().undeposited()?;
            if pending.is_empty() && in_flight.is_none() {
                out.result(
                    || "nothing to deposit".into(),
                    json!({"merchant": m.id(), "credited": 0, "payments": 0, "receipts": [], "refused": [], "deferred": 0}),
                );
                return Ok(());
            }
            if let Some(r) = &in_flight {
                out.note(format!(
                    "sending again the deposit request {} whose receipt was not recorded",
                    hex::encode(r.request_id)
                ));
            }
            let coins: usize = pending.iter().map(|a| a.payment.coins.len()).sum();
            let bar = out.spinner(&format!("depositing {} payment(s), {coins} coin(s)", pending.len()));
            let receipts = m.deposit_all(&*b, &mut OsRng)?;
            bar.finish_and_clear();
            let mut credited_value = 0u64;
            let (mut credited, mut duplicate, mut double, mut watch_refused) = (0, 0, 0, 0);
            let mut refused = Vec::new();
            let mut deposited = 0;
            let mut deferred = 0;
            for receipt in &receipts {
                credited_value += receipt.credited;
                for o in &receipt.outcomes {
                    match o.outcome {
                        DepositOutcome::Credited { .. } | DepositOutcome::CreditedFlagged { .. } => {
                            credited += 1
                        }
                        DepositOutcome::Duplicate => duplicate += 1,
                        DepositOutcome::DoubleSpent { .. } => double += 1,
                        DepositOutcome::Refused => watch_refused += 1,
                    }
                }
                for (i, p) in receipt.payments.iter().enumerate() {
                    match p {
                        PaymentOutcome::Verified => deposited += 1,
                        PaymentOutcome::Deferred => deferred += 1,
                        PaymentOutcome::Refused(r) => refused.push((hex::encode(receipt.request_id), i, *r)),
                    }
                }
            }
            out.result(
                || {
                    let mut s = format!(
                        "deposited {deposited} payment(s) in {} request(s): {credited_value} credited ({credited} coin(s))",
                        receipts.len()
                    );
                    if duplicate > 0 {
                        s.push_str(&format!("; {duplicate} coin(s) already deposited"));
                    }
                    if double > 0 {
                        s.push_str(&format!(
                            "; {double} coin(s) DOUBLE SPENT: the bank identified the spender, no credit"
                        ));
                    }
                    if watch_refused > 0 {
                        s.push_str(&format!("; {watch_refused} coin(s) refused (watch list)"));
                    }
                    for (_, _, r) in &refused {
                        s.push_str(&format!("\n  payment refused by the bank, kept apart: {r}"));
                    }
                    if !refused.is_empty() {
                        s.push_str("\n  (see `merchant payments --refused`)");
                    }
                    if deferred > 0 {
                        s.push_str(&format!(
                            "\n  {deferred} payment(s) not verified this time (the bank stopped searching a failed batch): they stay pending"
                        ));
                    }
                    s
                },
                json!({
                    "merchant": m.id(),
                    "credited": credited_value,
                    "payments": deposited,
                    "receipts": receipts.iter().map(receipt_json).collect::<Vec<_>>(),
                    "refused": refused
                        .iter()
                        .map(|(req, i, r)| json!({"request_id": req, "payment": i, "refusal": refusal_name(r), "reason": r.to_string()}))
                        .collect::<Vec<_>>(),
                    "deferred": deferred,
                }),
            );
            // The receipts are printed in full; a coin the bank did not
            // credit, or a payment it refused, makes the command's outcome a
            // refusal (exit 4).
            if double + watch_refused > 0 || !refused.is_empty() {
                let coins: usize = receipts.iter().map(|r| r.outcomes.len()).sum();
                return Err(CliError::Reported {
                    code: 4,
                    message: format!(
                        "{} of {coins} coin(s) not credited ({double} double spent, {watch_refused} refused); {} payment(s) refused",
                        double + watch_refused,
                        refused.len()
                    ),
                });
            }
            Ok(())
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
            let all: Vec<_> = m
                .payments()?
                .into_iter()
                .filter(|a| !refused || matches!(a.state, PaymentState::Refused { .. }))
                .collect();
            let describe = |state: &PaymentState| match state {
                PaymentState::Pending => "pending".to_string(),
                PaymentState::Deposited { request_id } => {
                    format!("deposited (request {})", hex::encode(request_id))
                }
                PaymentState::Refused { request_id, refusal } => {
                    format!("REFUSED: {refusal} (request {})", hex::encode(request_id))
                }
            };
            out.result(
                || {
                    if all.is_empty() {
                        return if refused { "no refused payments".into() } else { "no payments".into() };
                    }
                    all.iter()
                        .map(|a| {
                            format!(
                                "{} amount {} day {}: {}",
                                hex::encode(&a.digest[..8]),
                                a.payment.request.amount,
                                a.payment.request.day,
                                describe(&a.state)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json!({"payments": all
                    .iter()
                    .map(|a| {
                        let (state, request_id, refusal) = match &a.state {
                            PaymentState::Pending => ("pending", None, None),
                            PaymentState::Deposited { request_id } => ("deposited", Some(hex::encode(request_id)), None),
                            PaymentState::Refused { request_id, refusal } => {
                                ("refused", Some(hex::encode(request_id)), Some(refusal))
                            }
                        };
                        json!({
                            "digest": hex::encode(a.digest),
                            "amount": a.payment.request.amount,
                            "day": day(a.payment.request.day),
                            "state": state,
                            "request_id": request_id,
                            "refusal": refusal.map(refusal_name),
                            "reason": refusal.map(|r| r.to_string()),
                        })
                    })
                    .collect::<Vec<_>>()}),
            );
            Ok(())
        }
    }
}
