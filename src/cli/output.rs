//! Human-readable or JSON output, errors, and progress bars.

use std::io::IsTerminal;

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

    /// Prints a command's result: `human` as text, or `value` as JSON.
    pub fn result(&self, human: impl FnOnce() -> String, value: Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    /// A note for people (stderr, never in JSON mode).
    pub fn note(&self, msg: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Reports an error: on stderr, and as JSON on stdout in JSON mode.
    pub fn error(&self, e: &CliError) {
        eprintln!("error: {e}");
        if self.json {
            let v =
                json!({"error": {"kind": e.kind(), "exit_code": e.exit_code(), "message": e.to_string()}});
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
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

/// `13 (8 + 4 + 1)`: an amount with its denomination breakdown.
pub fn amount_with_breakdown(values: &[u64]) -> String {
    let total: u64 = values.iter().sum();
    let mut v = values.to_vec();
    v.sort_unstable_by(|a, b| b.cmp(a));
    match v.len() {
        0 => "0".to_string(),
        1 => total.to_string(),
        _ => format!("{total} ({})", v.iter().map(u64::to_string).collect::<Vec<_>>().join(" + ")),
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
    }
}
