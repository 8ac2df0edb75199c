//! What merchants and wallets share as payees on the command line
//! (`merchant request|accept|deposit|payments`, `wallet request|receive|
//! deposit|received`): one implementation over [`Payee`].

use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use serde_json::json;

use super::files::{read_message, shown, write_message};
use super::output::{amount_with_breakdown, day, receipt_json, refusal_name, Output};
use super::wallet::{connect, load_pinned, load_ttp, open_wallet, save_keysets, save_ttp};
use super::{CliError, DirArg};
use crate::keys::KeysetList;
use crate::protocol::deposit::{DepositOutcome, PaymentOutcome};
use crate::protocol::pay::{Payment, PaymentSummary};
use crate::protocol::Error as ProtocolError;
use crate::roles::{BankApi, Payee, PayeeRole, TrustAnchors};
use crate::store::{MerchantStore, PaymentState};

/// Brings the trust anchors up to date with the bank before a deposit or a
/// withdrawal (keysets issued since, TTP key statements offered) and saves
/// what changed in `dir`.
pub fn refresh_from_bank(
    dir: &Path,
    anchors: &mut TrustAnchors,
    list: &KeysetList,
    bank: &dyn BankApi,
    out: &Output,
) -> Result<(), CliError> {
    anchors.refresh_keysets(bank)?;
    save_keysets(dir, anchors, list)?;
    let old_ttp = load_ttp(dir)?;
    let offered = anchors.refresh_ttp(bank)?;
    save_ttp(dir, anchors, &old_ttp, &offered, out)
}

/// Issues a payment request for `amount` and writes it to `file`.
pub fn request<S: MerchantStore + ?Sized>(
    payee: &Payee<'_, S>,
    amount: u64,
    order: &str,
    file: &Path,
    out: &Output,
) -> Result<(), CliError> {
    let digest = crate::protocol::pay::order_digest(order.as_bytes());
    let req = payee.request_payment(amount, digest, &mut OsRng)?;
    write_message(file, &req)?;
    out.result(
        || {
            format!(
                "payment request for {amount} ({}), dated {}, written to {}",
                if order.is_empty() { "no order text".to_string() } else { format!("order {order:?}") },
                req.day,
                shown(file)
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

/// Verifies `payment` off-line and holds it (`merchant accept`, `wallet
/// receive`): a payment under a keyset not pinned here makes the payee ask
/// the bank it pinned for its keyset list (verified and pinned under the
/// shared rules, [`PayeeRole::accept_or_refresh`]) and try again; what was
/// pinned is saved in `dir`. `deposit` names the command that deposits it.
pub fn accept<R: PayeeRole>(
    dir: &Path,
    role: &mut R,
    payment: &Path,
    deposit: &str,
    out: &Output,
) -> Result<(), CliError> {
    let p: Payment = read_message(payment)?;
    let summary = match role.payee().accept(&p, &mut OsRng) {
        Err(ProtocolError::UnknownKeyset(id)) => {
            let (pinned, list) = load_pinned(dir)?;
            let Some(spec) = pinned.bank else { return Err(ProtocolError::UnknownKeyset(id).into()) };
            out.note(format!("payment under keyset {id}, not pinned here: asking the bank for its keysets"));
            let b = connect(&spec)?;
            let summary = role.accept_or_refresh(&p, &*b, &mut OsRng);
            save_keysets(dir, role.anchors(), &list)?;
            summary?
        }
        other => other?,
    };
    accepted(p.request.amount, &summary, deposit, out);
    Ok(())
}

/// Refuses a payment with a signed refusal (`merchant refuse`, `wallet
/// refuse`; [`Payee::refuse`]): the request it answers is closed for good,
/// and the refusal, written to `file`, lets the payer reclaim its value
/// (`wallet reclaim`).
pub fn refuse<S: MerchantStore + ?Sized>(
    payee: &Payee<'_, S>,
    payment: &Path,
    file: &Path,
    out: &Output,
) -> Result<(), CliError> {
    let p: Payment = read_message(payment)?;
    let refusal = payee.refuse(&p, &mut OsRng)?;
    write_message(file, &refusal)?;
    out.result(
        || {
            format!(
                "payment of {} refused; its request is closed; the signed refusal is in {} (the payer reclaims with it: `wallet reclaim`)",
                p.request.amount,
                shown(file)
            )
        },
        json!({
            "refused": p.request.amount,
            "request_id": hex::encode(refusal.request_id),
            "payment_digest": hex::encode(refusal.payment_digest),
            "file": file,
        }),
    );
    Ok(())
}

/// Reports a payment verified off-line and accepted; `deposit` names the
/// command that deposits it.
fn accepted(amount: u64, summary: &PaymentSummary, deposit: &str, out: &Output) {
    out.result(
        || {
            format!(
                "payment of {} verified off-line and accepted ({} coin(s)); deposit it with `{deposit}`",
                amount_with_breakdown(&summary.values),
                summary.coin_ids.len()
            )
        },
        json!({"accepted": amount, "coins": summary.coin_ids, "denominations": summary.values}),
    );
}

/// Deposits every payment held at `bank` and reports the receipts; `list`
/// is the command that lists payments (`merchant payments`, `wallet
/// received`), `id_field` the
/// JSON field naming the account credited. A coin not credited or a
/// payment refused makes the outcome a refusal (exit 4).
pub fn deposit<S: MerchantStore + ?Sized>(
    payee: &Payee<'_, S>,
    bank: &dyn BankApi,
    list: &str,
    id_field: &str,
    out: &Output,
) -> Result<(), CliError> {
    let in_flight = payee.store().deposit_in_flight()?;
    let pending = payee.store().undeposited()?;
    if pending.is_empty() && in_flight.is_none() {
        out.result(
                || "nothing to deposit".into(),
                json!({id_field: payee.id(), "credited": 0, "payments": 0, "receipts": [], "refused": [], "deferred": 0}),
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
    let receipts = payee.deposit_all(bank, &mut OsRng)?;
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
                DepositOutcome::Credited { .. } | DepositOutcome::CreditedFlagged { .. } => credited += 1,
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
                    s.push_str(&format!("\n  (see `{list} --refused`)"));
                }
                if deferred > 0 {
                    s.push_str(&format!(
                        "\n  {deferred} payment(s) not verified this time (the bank stopped searching a failed batch): they stay pending"
                    ));
                }
                s
            },
            json!({
                id_field: payee.id(),
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

/// Lists the payments held and where each stands (`refused`: only those the
/// bank refused).
pub fn payments<S: MerchantStore + ?Sized>(
    payee: &Payee<'_, S>,
    refused: bool,
    out: &Output,
) -> Result<(), CliError> {
    let all: Vec<_> = payee
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

/// The arguments of a payment request (`merchant request`, `wallet request`).
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// Base units to ask for.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    /// What the payment is for (its digest goes into the request).
    #[arg(long, default_value = "")]
    pub order: String,
    /// Where to write the request for the payer.
    #[arg(long)]
    pub out: PathBuf,
}

/// The arguments of accepting a payment (`merchant accept`, `wallet receive`).
#[derive(Debug, clap::Args)]
pub struct PaymentArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The payer's payment file.
    #[arg(long)]
    pub payment: PathBuf,
}

/// The arguments of refusing a payment (`merchant refuse`, `wallet refuse`).
#[derive(Debug, clap::Args)]
pub struct RefuseArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The payer's payment file.
    #[arg(long)]
    pub payment: PathBuf,
    /// Where to write the signed refusal for the payer.
    #[arg(long)]
    pub out: PathBuf,
}

/// The arguments of a deposit (`merchant deposit`, `wallet deposit`).
#[derive(Debug, clap::Args)]
pub struct DepositArgs {
    /// The state directory.
    #[command(flatten)]
    pub dir: DirArg,
    /// The bank.
    #[arg(long)]
    pub bank: String,
}

/// Wallet commands for receiving from another user off-line and depositing
/// to the wallet's own account (part of `faircash wallet …`).
#[derive(Debug, clap::Subcommand)]
pub enum WalletReceiveCommand {
    /// Ask another user for a payment: a payment request to this wallet's
    /// account (the same format as a merchant's), to hand to the payer.
    #[command(
        after_help = "Example:\n  faircash wallet request --dir bob --amount 5 --order 'lunch' --out req.json"
    )]
    Request(RequestArgs),
    /// Verify a payment off-line (public keys only) exactly as a merchant
    /// does, and hold it until `wallet deposit`. A payment under a keyset
    /// not pinned here makes the wallet fetch the bank's keysets (verifying
    /// their chain) and look again.
    #[command(after_help = "Example:\n  faircash wallet receive --dir bob --payment pay.json\n\n\
        Exit status:\n  \
        0  verified and held for deposit\n  \
        3  not a payment file\n  \
        4  refused, nothing held: it answers no open request of this wallet (addressed to another payee,\n     \
        or received already), it does not verify (tampered), or a coin was seen before or is watched")]
    Receive(PaymentArgs),
    /// Refuse a payment with a signed refusal: the request it answers is
    /// closed for good (nothing is ever accepted for it), and the payer
    /// reclaims the value at the bank with the refusal (`wallet reclaim`).
    #[command(
        after_help = "Example:\n  faircash wallet refuse --dir bob --payment pay.json --out refusal.json\n\n\
        Exit status:\n  \
        0  refused, the refusal written\n  \
        3  not a payment file\n  \
        4  it answers no open request of this wallet (or one it accepted): nothing to refuse"
    )]
    Refuse(RefuseArgs),
    /// Deposit the payments received to this wallet's own account (signed
    /// with the account's authentication key, never with `u`).
    #[command(after_help = "Example:\n  faircash wallet deposit --dir bob --bank bank\n\n\
        Exit status (the receipt is printed in every case):\n  \
        0  every coin credited, or credited before (a repeated deposit)\n  \
        4  some coin not credited: double spent (the bank identified its spender) or refused (watch list),\n     \
        or some payment refused (kept apart with its reason: `wallet received --refused`)\n  \
        1  the bank could not be reached or failed; nothing changed, run it again")]
    Deposit(DepositArgs),
    /// List the payments received and where each stands (pending,
    /// deposited, refused by the bank with its reason).
    #[command(after_help = "Examples:\n  faircash wallet received --dir bob\n  \
        faircash wallet received --dir bob --refused")]
    Received {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Only the payments the bank refused.
        #[arg(long)]
        refused: bool,
    },
}

/// Runs a wallet receiving command.
pub fn run_wallet(cmd: WalletReceiveCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        WalletReceiveCommand::Request(RequestArgs { dir, amount, order, out: file }) => {
            let (w, _, _, _lock) = open_wallet(&dir.dir, out)?;
            request(&w.payee(), amount, &order, &file, out)
        }
        WalletReceiveCommand::Receive(PaymentArgs { dir, payment }) => {
            let (mut w, _, _, _lock) = open_wallet(&dir.dir, out)?;
            accept(&dir.dir, &mut w, &payment, "wallet deposit", out)
        }
        WalletReceiveCommand::Refuse(RefuseArgs { dir, payment, out: file }) => {
            let (w, _, _, _lock) = open_wallet(&dir.dir, out)?;
            refuse(&w.payee(), &payment, &file, out)
        }
        WalletReceiveCommand::Deposit(DepositArgs { dir, bank }) => {
            let (mut w, _, list, _lock) = open_wallet(&dir.dir, out)?;
            let b = connect(&bank)?;
            refresh_from_bank(&dir.dir, w.anchors_mut(), &list, &*b, out)?;
            super::wallet::renew_due(&w, &*b, out)?;
            deposit(&w.payee(), &*b, "wallet received", "account", out)
        }
        WalletReceiveCommand::Received { dir, refused } => {
            let (w, _, _, _lock) = open_wallet(&dir.dir, out)?;
            payments(&w.payee(), refused, out)
        }
    }
}
