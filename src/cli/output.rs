//! Human-readable or JSON output, errors, and progress bars.
//!
//! JSON output follows one convention (docs/cli-json.md): every command
//! prints one JSON object; fields and enum values are `snake_case`; amounts
//! are integers in base units; ids and keys are lower-case hex; days are ISO
//! dates (`2026-11-24`) and instants RFC 3339 in UTC
//! (`2026-11-24T09:05:07Z`). Fields are added, never renamed or removed
//! without a CHANGELOG entry.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::CliError;

/// Where results go: text for people, or one JSON document per command.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Text output, or JSON with `json`.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a command's result: `human` as text, or `value` as JSON. On
    /// stdout, or on stderr when a message file went to stdout (`--out -`).
    ///
    /// A closed stdout (`faircash … | head`) ends the process quietly with
    /// status 0, as Unix filters do: the work is done and committed, only
    /// its report has no reader.
    pub fn result(&self, human: impl FnOnce() -> String, value: Value) {
        let text = if self.json { serde_json::to_string_pretty(&value).unwrap_or_default() } else { human() };
        if text.is_empty() {
            return;
        }
        if super::files::stdout_taken() {
            let _ = writeln!(std::io::stderr(), "{text}");
        } else {
            print_or_exit(&text);
        }
    }

    /// A note for people (stderr, never in JSON mode).
    pub fn note(&self, msg: impl AsRef<str>) {
        if !self.json {
            let _ = writeln!(std::io::stderr(), "{}", msg.as_ref());
        }
    }

    /// Reports an error: on stderr, and as JSON on stdout in JSON mode.
    pub fn error(&self, e: &CliError) {
        let _ = writeln!(std::io::stderr(), "error: {e}");
        if self.json && !super::files::stdout_taken() {
            let v =
                json!({"error": {"kind": e.kind(), "exit_code": e.exit_code(), "message": e.to_string()}});
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            let _ = stdout.flush();
        }
    }

    /// A progress bar over `len` steps; hidden in JSON mode or off a terminal.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() || len < 2 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

impl Output {
    /// A spinner for one long step; hidden in JSON mode or off a terminal.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    }
}

/// Writes `text` and a newline to stdout; a closed stdout ends the process
/// with status 0 (see [`Output::result`]), another write error with 1.
pub fn print_or_exit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "error: writing the result: {e}");
        std::process::exit(1);
    }
}

/// A day in JSON output: an ISO date.
pub fn day(d: crate::time::Day) -> Value {
    Value::String(d.to_string())
}

/// An instant in JSON output: RFC 3339 in UTC.
pub fn time(t: crate::time::Timestamp) -> Value {
    Value::String(t.to_string())
}

/// A keyset in JSON output.
pub fn keyset_json(k: &crate::keys::Keyset) -> Value {
    let d = k.document();
    json!({
        "id": k.id(),
        "sequence": d.sequence,
        "denominations": k.values_desc().iter().rev().collect::<Vec<_>>(),
        "withdraw_from": day(d.keys[0].windows.withdraw_from),
        "withdraw_until": day(d.keys[0].windows.withdraw_until),
        "validity_days": d.policy.validity_days,
        "max_deposit_delay_days": d.policy.max_deposit_delay_days,
    })
}

/// A deposit outcome in JSON output: `{"outcome": "credited", "value": 4,
/// "account": null, …}` (`value` is set for credits, `account` for a
/// double spend that identified a registered account).
pub fn outcome_json(o: &crate::protocol::deposit::CoinOutcome) -> Value {
    use crate::protocol::deposit::DepositOutcome;
    let (name, value, account) = match o.outcome {
        DepositOutcome::Credited { value } => ("credited", Some(value), None),
        DepositOutcome::CreditedFlagged { value } => ("credited_flagged", Some(value), None),
        DepositOutcome::Duplicate => ("duplicate", None, None),
        DepositOutcome::DoubleSpent { account } => ("double_spent", None, account),
        DepositOutcome::Refused => ("refused", None, None),
    };
    json!({
        "payment": o.payment,
        "coin": o.coin,
        "coin_id": o.coin_id,
        "outcome": name,
        "value": value,
        "account": account,
    })
}

/// A deposit receipt in JSON output.
pub fn receipt_json(r: &crate::protocol::deposit::DepositReceipt) -> Value {
    use crate::protocol::deposit::PaymentOutcome;
    json!({
        "request_id": hex::encode(r.request_id),
        "merchant": r.merchant_id,
        "receipt_day": day(r.receipt_day),
        "credited": r.credited,
        "keyset": r.keyset_id,
        "payments": r.payments.iter().map(|p| match p {
            PaymentOutcome::Verified => "verified",
            PaymentOutcome::Refused(_) => "refused",
            PaymentOutcome::Deferred => "deferred",
        }).collect::<Vec<_>>(),
        "outcomes": r.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
    })
}

/// The snake_case name of a payment refusal in JSON output (the reason in
/// words is its `Display`).
pub fn refusal_name(r: &crate::protocol::deposit::PaymentRefusal) -> &'static str {
    use crate::protocol::deposit::PaymentRefusal;
    match r {
        PaymentRefusal::WindowClosed { .. } => "window_closed",
        PaymentRefusal::DatedInFuture { .. } => "dated_in_future",
        PaymentRefusal::UnknownKeyset => "unknown_keyset",
        PaymentRefusal::WrongMerchant => "wrong_merchant",
        PaymentRefusal::Malformed => "malformed",
        PaymentRefusal::RangeProof => "range_proof",
        PaymentRefusal::Proofs => "proofs",
        PaymentRefusal::NotSpendable { .. } => "not_spendable",
    }
}

/// `13 (8 + 4 + 1)`: an amount with its denomination breakdown, repeated
/// denominations counted: `149936 (146 × 1024 + 256 + 128 + 32 + 16)`.
pub fn amount_with_breakdown(values: &[u64]) -> String {
    // u128: the exact total of up to 2^64 values of u64, never wrapped.
    let total: u128 = values.iter().map(|v| u128::from(*v)).sum();
    let mut v = values.to_vec();
    v.sort_unstable_by(|a, b| b.cmp(a));
    let mut parts: Vec<String> = Vec::new();
    for run in v.chunk_by(|a, b| a == b) {
        parts.push(match run.len() {
            1 => run[0].to_string(),
            n => format!("{n} × {}", run[0]),
        });
    }
    match v.len() {
        0 => "0".to_string(),
        1 => total.to_string(),
        _ => format!("{total} ({})", parts.join(" + ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdown_lists_denominations_largest_first() {
        assert_eq!(amount_with_breakdown(&[1, 8, 4]), "13 (8 + 4 + 1)");
        assert_eq!(amount_with_breakdown(&[16]), "16");
        assert_eq!(amount_with_breakdown(&[]), "0");
        let mut many = vec![1024u64; 146];
        many.extend([16, 256, 32, 128]);
        assert_eq!(amount_with_breakdown(&many), "149936 (146 × 1024 + 256 + 128 + 32 + 16)");
        assert_eq!(amount_with_breakdown(&[2, 2]), "4 (2 × 2)");
        // Never wrapped: two coins of 2^63 are 2^64.
        assert_eq!(
            amount_with_breakdown(&[1 << 63, 1 << 63]),
            "18446744073709551616 (2 × 9223372036854775808)"
        );
    }
}
