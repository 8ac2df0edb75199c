//! Crash safety, tested by killing real `faircash` processes (SIGKILL) at
//! random points and checking the invariants afterwards.
#![cfg(unix)]

mod cli_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::Cli;
use rand::Rng;
use serde_json::Value;

fn spawn(c: &Cli, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_faircash"))
        .args(args)
        .current_dir(c.root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How long a command takes when left alone (to spread the kills over it).
fn duration_of(c: &Cli, args: &[&str]) -> Duration {
    let t = Instant::now();
    let mut ch = spawn(c, args);
    ch.wait().unwrap();
    t.elapsed()
}

/// Runs `args`, kills it with SIGKILL after a random delay in `[0, max)`.
/// Returns whether it was killed before finishing.
fn run_and_kill(c: &Cli, args: &[&str], max: Duration) -> bool {
    let mut ch = spawn(c, args);
    let delay = rand::rngs::OsRng.gen_range(0..max.as_micros().max(1) as u64);
    std::thread::sleep(Duration::from_micros(delay));
    let killed = matches!(ch.try_wait(), Ok(None));
    let _ = ch.kill();
    let _ = ch.wait();
    killed
}

fn unspent_value(c: &Cli, wallet: &str) -> u64 {
    let coins = c.json(&["wallet", "coins", "--dir", wallet]);
    coins.as_array().unwrap().iter().map(|x| x["value"].as_u64().unwrap()).sum()
}

#[test]
fn a_killed_withdrawal_never_loses_a_debited_coin() {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "100000"]);
    let funded = c.balance_of(&alice);
    let args = ["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "255"];
    let full = duration_of(&c, &args);
    let mut kills = 0;
    for _ in 0..30 {
        if run_and_kill(&c, &args, full) {
            kills += 1;
        }
    }
    assert!(kills >= 10, "only {kills} runs were interrupted");
    // Finish whatever was interrupted: every debited withdrawal must end up
    // as a coin in the wallet, and nothing else is debited.
    c.ok(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    let debited = funded - c.balance_of(&alice);
    assert_eq!(debited, unspent_value(&c, "alice"), "debits and coins differ after {kills} kills");
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["pending_withdrawals"], 0);
    // The bank answered each session at most once: every answered session
    // of the account corresponds to exactly one coin in the wallet.
    let sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &alice]);
    let coins = c.json(&["wallet", "coins", "--dir", "alice"]);
    assert_eq!(sessions.as_array().unwrap().len(), coins.as_array().unwrap().len());
}

#[test]
fn a_killed_deposit_never_credits_twice_and_never_loses_a_deposit() {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "10000"]);
    for _ in 0..20 {
        c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "255"]);
    }
    let shop = c.merchant_account("shop");
    let mut accepted = 0u64;
    let mut full = Duration::from_millis(50);
    let mut kills = 0;
    for i in 0..20u64 {
        let amount = (1u64 << (i % 8)) + if i % 3 == 0 { 1 } else { 0 };
        c.pay("alice", "shop", amount, &format!("p{i}"));
        accepted += amount;
        if i == 0 {
            full = duration_of(&c, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
            continue;
        }
        if run_and_kill(&c, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"], full) {
            kills += 1;
        }
        // Never more than accepted, at any point.
        assert!(c.balance_of(&shop) <= accepted);
    }
    assert!(kills >= 5, "only {kills} deposits were interrupted");
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(c.balance_of(&shop), accepted, "credited exactly once after {kills} kills");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["undeposited_payments"], 0);
    let st = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(st["evidence"], 0, "no honest coin is taken for a double spend");
}

#[test]
fn a_killed_payment_never_leaves_a_coin_both_unspent_and_handed_out() {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "10000"]);
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "2047"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "1", "--out", "warm.json"]);
    let full = duration_of(
        &c,
        &["wallet", "pay", "--dir", "alice", "--request", "warm.json", "--out", "warm-pay.json"],
    );
    let mut kills = 0;
    let mut handed_out: Vec<(String, Vec<String>)> = Vec::new();
    for i in 0..25 {
        let req = format!("r{i}.json");
        let pay = format!("pay{i}.json");
        c.ok(&["merchant", "request", "--dir", "shop", "--amount", &(1 + i % 9).to_string(), "--out", &req]);
        if run_and_kill(&c, &["wallet", "pay", "--dir", "alice", "--request", &req, "--out", &pay], full) {
            kills += 1;
        }
        // Whatever left the wallet (a complete payment file) is marked spent.
        if let Ok(text) = std::fs::read_to_string(c.path(&pay)) {
            let p: Value = serde_json::from_str(&text).expect("payment files are never torn");
            let ids: Vec<String> =
                p["body"]["coins"].as_array().unwrap().iter().map(|coin| coin_id_of(&c, coin)).collect();
            handed_out.push((pay.clone(), ids));
        }
        let coins = c.json(&["wallet", "coins", "--dir", "alice"]);
        for (file, ids) in &handed_out {
            for id in ids {
                let coin = coins.as_array().unwrap().iter().find(|x| x["coin_id"] == id.as_str()).unwrap();
                assert_eq!(coin["spent"], true, "coin {id} of {file} is unspent in the wallet");
            }
        }
    }
    assert!(kills >= 8, "only {kills} payments were interrupted");
    // No coin was handed out twice.
    let mut all: Vec<&String> = handed_out.iter().flat_map(|(_, ids)| ids).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a coin appears in two payments");
}

/// The coin id of a coin in a payment file, through the library.
fn coin_id_of(_c: &Cli, coin: &Value) -> String {
    let coin: faircash::coin::Coin = serde_json::from_value(coin.clone()).unwrap();
    coin.id().to_hex()
}
