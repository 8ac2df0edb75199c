//! Crash safety, tested on real `faircash` processes: first at every
//! failpoint (`faircash::failpoint`), where the process aborts exactly in
//! one crash window and the test checks that recovery had work to do and
//! that money is conserved; then by killing processes (SIGKILL) at random
//! points and checking the invariants afterwards.
#![cfg(unix)]

mod cli_support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Cli, Node};
use faircash::store::{MerchantStore, WalletStore};
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

const SIGABRT: i32 = 6;

/// Asserts that a process died by the abort of failpoint `armed` (`name` or
/// `name:N`), not by anything else.
fn assert_aborted(status: ExitStatus, stderr: &[u8], armed: &str) {
    let name = armed.split(':').next().unwrap();
    let stderr = String::from_utf8_lossy(stderr);
    assert_eq!(status.signal(), Some(SIGABRT), "expected an abort at {armed}: {status:?}\n{stderr}");
    assert!(stderr.contains(&format!("failpoint {name} hit")), "{stderr}");
}

/// Runs `args` with failpoint `armed`; asserts the process crashed there.
fn crash_at(c: &Cli, armed: &str, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_faircash"))
        .args(args)
        .current_dir(c.root.path())
        .env(faircash::failpoint::ENV, armed)
        .output()
        .unwrap();
    assert_aborted(o.status, &o.stderr, armed);
}

/// The money of one user and one merchant: both bank balances, the user's
/// unspent coins, the payments the wallet recorded but no merchant holds
/// (`in_flight`), and the merchant's accepted, undeposited payments.
fn total(c: &Cli, user: &str, wallet: &str, shop: &str, in_flight: u64) -> u64 {
    let merchant = c.json(&["merchant", "status", "--dir", shop]);
    let shop_account = merchant["account"].as_str().unwrap();
    c.balance_of(user)
        + c.unspent_value(wallet)
        + in_flight
        + c.balance_of(shop_account)
        + merchant["undeposited_value"].as_u64().unwrap()
}

/// The wallet's store, read directly (the CLI releases unpaid coins
/// whenever it opens a wallet, so this is how a test sees what a crash
/// left behind).
fn wallet_store(c: &Cli, wallet: &str) -> faircash::store::sqlite::SqliteWalletStore {
    faircash::store::sqlite::SqliteWalletStore::open(c.path(wallet).join("wallet.db")).unwrap()
}

/// Coins marked spent in the store whose payment is not recorded.
fn marked_without_payment(c: &Cli, wallet: &str) -> Vec<u64> {
    let s = wallet_store(c, wallet);
    s.coins()
        .unwrap()
        .into_iter()
        .filter(|x| x.spent_in.is_some_and(|rid| s.payment(&rid).unwrap().is_none()))
        .map(|x| x.coin.value)
        .collect()
}

#[test]
fn a_crash_after_the_answer_and_before_the_coin_is_stored_is_resumed() {
    let c = Cli::new();
    let alice = c.setup();
    let funded = c.balance_of(&alice);
    // 7 = 4 + 2 + 1: the second coin's answer arrives, then the crash.
    let args = ["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "7"];
    crash_at(&c, "wallet.withdraw.answered:2", &args);
    assert_eq!(c.balance_of(&alice), funded - 6, "the bank debited both answered coins");
    assert_eq!(c.unspent_value("alice"), 4, "the second coin is not in the wallet");
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["pending_withdrawals"], 1);
    // Recovery has work to do: it finishes the interrupted coin, then the
    // rest of the withdrawal (all or nothing: the reservation covers it).
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(resumed["coins"].as_array().unwrap().len(), 2, "{resumed}");
    assert_eq!(resumed["incomplete"].as_array().unwrap().len(), 0, "{resumed}");
    assert_eq!(c.unspent_value("alice"), 7);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice"), funded, "money created or lost");
    let sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &alice]);
    assert_eq!(sessions["withdrawals"].as_array().unwrap().len(), 3, "one answered session per coin");
}

/// A bank node armed with `failpoint`, alice's wallet on it with 100 on
/// her account, and `wallet withdraw --amount 3` (2 + 1), which loses the
/// node at the failpoint. Returns alice's account.
fn withdraw_3_from_a_node_that_crashes_at(c: &Cli, failpoint: &str) -> String {
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "8"]);
    let mut node = Node::start_with(c, "bank", &[(faircash::failpoint::ENV, failpoint)]);
    let alice =
        c.json(&["wallet", "new", "--dir", "alice", "--bank", &node.url, "--ttp", "ttp/ttp.pub.json"])
            ["account"]
            .as_str()
            .unwrap()
            .to_string();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "100"]);
    let err = c.fails(1, &["wallet", "withdraw", "--dir", "alice", "--bank", &node.url, "--amount", "3"]);
    assert!(err.contains("cannot reach the bank"), "{err}");
    let status = node.child.wait().unwrap();
    assert_eq!(status.signal(), Some(SIGABRT), "the node died at {failpoint}: {status:?}");
    alice
}

#[test]
fn a_bank_crash_after_the_debit_commits_is_resumed_over_http() {
    let c = Cli::new();
    // The node commits the debit of the first coin and dies before answering.
    let alice = withdraw_3_from_a_node_that_crashes_at(&c, "bank.withdraw.debited");
    assert_eq!(c.balance_of(&alice), 98, "the first coin (2) was debited");
    assert_eq!(c.unspent_value("alice"), 0);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["pending_withdrawals"], 1);
    // A restarted node answers the stored challenge with the stored answer;
    // the rest of the withdrawal (1) follows.
    let node = Node::start(&c, "bank");
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", &node.url]);
    assert_eq!(resumed["coins"].as_array().unwrap().len(), 2, "{resumed}");
    assert_eq!(c.unspent_value("alice"), 3);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice"), 100, "money created or lost");
}

#[test]
fn a_crash_after_the_reservation_and_before_the_first_coin_is_resumed() {
    let c = Cli::new();
    let alice = c.setup();
    let funded = c.balance_of(&alice);
    let args = ["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "7"];
    crash_at(&c, "wallet.withdraw.reserved", &args);
    assert_eq!(c.balance_of(&alice), funded, "a reservation holds the amount, it debits nothing");
    assert_eq!(c.unspent_value("alice"), 0, "no coin was withdrawn");
    let held = c.json(&["wallet", "account", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(held["held"], 7, "the bank holds the whole amount: {held}");
    // Recovery has work to do: every coin of the reserved amount (4 + 2 + 1).
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(resumed["coins"].as_array().unwrap().len(), 3, "{resumed}");
    assert_eq!(resumed["incomplete"].as_array().unwrap().len(), 0, "{resumed}");
    assert_eq!(c.unspent_value("alice"), 7);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice"), funded, "money created or lost");
    let again = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(again["coins"].as_array().unwrap().len(), 0, "nothing is withdrawn twice: {again}");
}

#[test]
fn a_bank_crash_after_the_reservation_commits_is_resumed_over_http() {
    let c = Cli::new();
    // The node commits the reservation and dies before answering.
    let alice = withdraw_3_from_a_node_that_crashes_at(&c, "bank.account.reserved");
    assert_eq!(c.balance_of(&alice), 100, "nothing debited");
    assert_eq!(c.unspent_value("alice"), 0);
    // A restarted node answers the same reservation with its state; the
    // wallet withdraws every coin under it (2 + 1).
    let node = Node::start(&c, "bank");
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", &node.url]);
    assert_eq!(resumed["coins"].as_array().unwrap().len(), 2, "{resumed}");
    assert_eq!(c.unspent_value("alice"), 3);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice"), 100, "money created or lost");
}

const PAY: [&str; 8] = ["wallet", "pay", "--dir", "alice", "--request", "req.json", "--out", "pay.json"];

/// Alice withdraws 15 (8 + 4 + 2 + 1), the shop asks for `amount`, and
/// `wallet pay` crashes at `failpoint`. Returns alice's account and the
/// money of alice and the shop before the payment.
fn pay_and_crash(c: &Cli, amount: u64, failpoint: &str) -> (String, u64) {
    let alice = c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    let funded = total(c, &alice, "alice", "shop", 0);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", &amount.to_string(), "--out", "req.json"]);
    crash_at(c, failpoint, &PAY);
    assert!(!c.path("pay.json").exists(), "no payment file was written");
    (alice, funded)
}

/// The shop accepts `pay.json` and deposits it; money is what it was.
fn accept_and_deposit(c: &Cli, alice: &str, funded: u64) {
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "pay.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(total(c, alice, "alice", "shop", 0), funded, "money created or lost");
}

#[test]
fn a_crash_after_marking_coins_spent_releases_them() {
    let c = Cli::new();
    let (alice, funded) = pay_and_crash(&c, 5, "wallet.pay.marked");
    // Recovery has work to do: coins 4 and 1 are marked for a payment that
    // was never built; opening the wallet returns them.
    let mut marked = marked_without_payment(&c, "alice");
    marked.sort();
    assert_eq!(marked, vec![1, 4]);
    assert_eq!(c.unspent_value("alice"), 15, "both coins are unspent again");
    assert!(marked_without_payment(&c, "alice").is_empty());
    assert_eq!(total(&c, &alice, "alice", "shop", 0), funded);
    // The same request is paid in full afterwards, once.
    c.ok(&PAY);
    assert_eq!(c.unspent_value("alice"), 10);
    accept_and_deposit(&c, &alice, funded);
}

#[test]
fn a_crash_after_recording_the_payment_hands_out_the_same_payment() {
    let c = Cli::new();
    let (alice, funded) = pay_and_crash(&c, 6, "wallet.pay.recorded");
    // The payment is recorded and its coins are spent: money in flight.
    let store = wallet_store(&c, "alice");
    let request: faircash::protocol::pay::PaymentRequest =
        faircash::cli::files::read_message(&c.path("req.json")).unwrap();
    let recorded = store.payment(&request.id()).unwrap().expect("the payment is recorded");
    drop(store);
    assert!(marked_without_payment(&c, "alice").is_empty());
    assert_eq!(c.unspent_value("alice"), 9);
    assert_eq!(total(&c, &alice, "alice", "shop", 6), funded);
    // Recovery has work to do: paying the same request again hands out the
    // recorded payment and spends nothing more.
    c.ok(&PAY);
    let handed: faircash::protocol::pay::Payment =
        faircash::cli::files::read_message(&c.path("pay.json")).unwrap();
    assert_eq!(handed, recorded);
    assert_eq!(c.unspent_value("alice"), 9);
    accept_and_deposit(&c, &alice, funded);
}

/// Alice pays shop 5 and 2; returns the total money of the two.
fn two_accepted_payments(c: &Cli, alice: &str) -> u64 {
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    c.pay("alice", "shop", 5, "a");
    c.pay("alice", "shop", 2, "b");
    total(c, alice, "alice", "shop", 0)
}

/// After a crash between the bank's credit and the merchant's record of
/// it: the merchant was credited 7 and still holds both payments as
/// undeposited, its request in flight; the next deposit sends that request
/// again and books the bank's stored receipt (the credit of 7, not
/// zero-credit duplicates), crediting nothing twice.
fn redeposit_after_credit(c: &Cli, alice: &str, bank: &str, funded: u64) {
    let shop = c.merchant_account("shop");
    assert_eq!(c.balance_of(&shop), 7, "the bank credited the deposit");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["undeposited_payments"], 2);
    let receipt = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", bank]);
    assert_eq!(receipt["credited"], 7, "the stored receipt is booked: {receipt}");
    assert!(!receipt.to_string().contains("Duplicate"), "no zero-credit duplicates: {receipt}");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["undeposited_payments"], 0);
    assert_eq!(c.balance_of(&shop), 7, "credited exactly once");
    assert_eq!(total(c, alice, "alice", "shop", 0), funded, "money created or lost");
    assert_eq!(c.json(&["bank", "status", "--dir", "bank"])["evidence"], 0, "nobody accused");
}

#[test]
fn a_crash_after_storing_the_deposit_request_sends_the_same_request() {
    let c = Cli::new();
    let alice = c.setup();
    let funded = two_accepted_payments(&c, &alice);
    crash_at(&c, "payee.deposit.stored", &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    let shop = c.merchant_account("shop");
    assert_eq!(c.balance_of(&shop), 0, "the bank never saw the request");
    let stored = faircash::store::sqlite::SqliteMerchantStore::open(c.path("shop/merchant.db"))
        .unwrap()
        .deposit_in_flight()
        .unwrap()
        .expect("the request is stored before it is sent");
    assert_eq!(total(&c, &alice, "alice", "shop", 0), funded, "money created or lost");
    let out = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(out["credited"], 7, "{out}");
    let receipts = out["receipts"].as_array().unwrap();
    assert_eq!(receipts[0]["request_id"], hex::encode(stored.request_id), "the stored request was sent");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["undeposited_payments"], 0);
    assert_eq!(total(&c, &alice, "alice", "shop", 0), funded, "money created or lost");
}

#[test]
fn a_crash_after_the_credit_and_before_the_receipt_is_recorded_never_credits_twice() {
    let c = Cli::new();
    let alice = c.setup();
    let funded = two_accepted_payments(&c, &alice);
    crash_at(&c, "payee.deposit.credited", &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    redeposit_after_credit(&c, &alice, "bank", funded);
}

#[test]
fn a_bank_crash_after_the_deposit_commits_never_credits_twice_over_http() {
    let c = Cli::new();
    let alice = c.setup();
    let funded = two_accepted_payments(&c, &alice);
    let mut node = Node::start_with(&c, "bank", &[(faircash::failpoint::ENV, "bank.deposit.committed")]);
    let err = c.fails(1, &["merchant", "deposit", "--dir", "shop", "--bank", &node.url]);
    assert!(err.contains("cannot reach the bank"), "{err}");
    let status = node.child.wait().unwrap();
    assert_eq!(status.signal(), Some(SIGABRT), "the node died at the failpoint: {status:?}");
    let node = Node::start(&c, "bank");
    redeposit_after_credit(&c, &alice, &node.url, funded);
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
    for _ in 0..60 {
        if kills >= 10 {
            break;
        }
        if run_and_kill(&c, &args, full) {
            kills += 1;
        }
    }
    assert!(kills >= 10, "only {kills} runs were interrupted");
    // Finish whatever was interrupted: every debited withdrawal must end up
    // as a coin in the wallet, and nothing else is debited.
    c.ok(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    let debited = funded - c.balance_of(&alice);
    assert_eq!(debited, c.unspent_value("alice"), "debits and coins differ after {kills} kills");
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["pending_withdrawals"], 0);
    // All or nothing: every withdrawal whose reservation was made is
    // complete, so the coins are whole withdrawals of 255, and nothing is
    // held any more.
    assert_eq!(debited % 255, 0, "a withdrawal was left half done after {kills} kills");
    let account = c.json(&["wallet", "account", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(account["held"], 0);
    // The bank answered each session at most once: every answered session
    // of the account corresponds to exactly one coin in the wallet.
    let sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &alice]);
    let coins = c.json(&["wallet", "coins", "--dir", "alice"]);
    assert_eq!(sessions["withdrawals"].as_array().unwrap().len(), coins["coins"].as_array().unwrap().len());
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
    // Until 8 runs were interrupted (a loaded machine finishes some runs
    // before their kill), at most 60 runs.
    for i in 0..60 {
        if kills >= 8 {
            break;
        }
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
                let coin =
                    coins["coins"].as_array().unwrap().iter().find(|x| x["coin_id"] == id.as_str()).unwrap();
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

/// Alice holds one coin of 128 and `wallet exchange --amount 5` crashes at
/// `armed`; `wallet resume` then has work to do, and afterwards the value
/// is whole (account + coins held), the 128 spent once (no evidence at the
/// bank), and nothing is left to resume.
fn exchange_crashes_at(armed: &str) {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "128"]);
    let total = c.balance_of(&alice) + c.unspent_value("alice");
    crash_at(&c, armed, &["wallet", "exchange", "--dir", "alice", "--bank", "bank", "--amount", "5"]);
    // Never more than there was, at the crash.
    assert!(c.balance_of(&alice) + c.unspent_value("alice") <= total, "{armed}: money created");
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    let work = resumed["exchanges"].as_u64().unwrap() + resumed["coins"].as_array().unwrap().len() as u64;
    assert!(work > 0, "{armed}: resume had nothing to do: {resumed}");
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice"), total, "{armed}: money created or lost");
    assert_eq!(c.unspent_value("alice"), 128, "{armed}: the value is back in coins, not left in the account");
    let st = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(st["evidence"], 0, "{armed}: a coin was spent twice");
    let balance = c.json(&["wallet", "balance", "--dir", "alice"]);
    assert_eq!(
        (balance["pending_withdrawals"].as_u64(), balance["pending_exchanges"].as_u64()),
        (Some(0), Some(0))
    );
    let again = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(
        (again["exchanges"].as_u64(), again["coins"].as_array().unwrap().len()),
        (Some(0), 0),
        "{armed}"
    );
    // The change (or, for an exchange given up before its payment was
    // built, a new exchange) pays what the 128 could not.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "5", "--out", "r.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r.json", "--out", "p.json"]);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice") + 5, total, "{armed}");
}

#[test]
fn a_crash_at_every_step_of_an_exchange_loses_nothing_and_spends_no_coin_twice() {
    for armed in [
        "wallet.exchange.recorded",
        "wallet.pay.marked",
        "wallet.pay.recorded",
        "wallet.exchange.deposit",
        "bank.deposit.committed",
        "wallet.exchange.credited",
        "wallet.exchange.planned",
        "wallet.withdraw.reserved",
        "bank.withdraw.debited:3",
        "wallet.withdraw.answered:2",
    ] {
        exchange_crashes_at(armed);
    }
}

#[test]
fn pay_makes_change_with_the_bank_and_offline_names_the_exchange() {
    let c = Cli::new();
    let alice = c.setup();
    // --no-change: one coin of 64, so the payment of 3 needs change.
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "64", "--no-change"]);
    let shop = c.merchant_account("shop");
    let total = c.balance_of(&alice) + c.unspent_value("alice");
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "3", "--out", "r.json"]);
    let pay = ["wallet", "pay", "--dir", "alice", "--request", "r.json", "--out", "p.json"];
    let mut offline = pay.to_vec();
    offline.push("--offline");
    let err = c.fails(4, &offline);
    assert!(err.contains("exchange 1 coin(s) worth 64"), "{err}");
    let paid = c.json(&pay);
    assert_eq!(paid["paid"], 3);
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "p.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice") + c.balance_of(&shop), total);
    let exchanged = c.json(&[
        "wallet", "exchange", "--dir", "alice", "--bank", "bank", "--amount", "16", "--into", "8,4,4",
    ]);
    assert_eq!(
        (exchanged["exchanged"].as_u64(), exchanged["spent"].as_array().unwrap().len()),
        (Some(16), 1),
        "{exchanged}"
    );
    assert_eq!(c.balance_of(&alice) + c.unspent_value("alice") + c.balance_of(&shop), total);
}

/// The coin id of a coin in a payment file, through the library.
fn coin_id_of(_c: &Cli, coin: &Value) -> String {
    let coin: faircash::coin::Coin = serde_json::from_value(coin.clone()).unwrap();
    coin.id().to_hex()
}

#[test]
fn a_killed_key_rotation_never_locks_the_holder_out() {
    let c = Cli::new();
    let alice = c.setup();
    let args = ["wallet", "rotate-auth-key", "--dir", "alice", "--bank", "bank"];
    let full = duration_of(&c, &args);
    let mut kills = 0;
    for _ in 0..12 {
        if run_and_kill(&c, &args, full) {
            kills += 1;
        }
        // Whatever the kill interrupted, the next rotation completes it and
        // the wallet acts for the account with the key the bank has.
        c.ok(&args);
        let acct = c.json(&["wallet", "account", "--dir", "alice", "--bank", "bank"]);
        assert_eq!(acct["account"], alice.as_str());
    }
    assert!(kills >= 4, "only {kills} rotations were interrupted");
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "5"]);
    assert_eq!(c.balance_of(&alice), 195);
}

/// Bob's wallet: its account balance, its unspent coins and the payments
/// it received and has not deposited.
fn wallet_money(c: &Cli, wallet: &str, account: &str) -> u64 {
    let received = c.json(&["wallet", "received", "--dir", wallet]);
    let held: u64 = received["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "pending")
        .map(|p| p["amount"].as_u64().unwrap())
        .sum();
    c.balance_of(account) + c.unspent_value(wallet) + held
}

/// Alice pays bob (a wallet) 5 and 2 off-line through the CLI; bob receives
/// both. A replayed payment file is refused (exit 4) and changes nothing.
/// Returns bob's account and the money of alice and bob together.
fn two_received_payments(c: &Cli, alice: &str) -> (String, u64) {
    let bob = c.json(&["wallet", "new", "--dir", "bob", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    let bob = bob["account"].as_str().unwrap().to_string();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    for (amount, name) in [(5, "a"), (2, "b")] {
        let (req, pay) = (format!("{name}-req.json"), format!("{name}-pay.json"));
        let r =
            c.json(&["wallet", "request", "--dir", "bob", "--amount", &amount.to_string(), "--out", &req]);
        assert_eq!(r["amount"], amount);
        c.ok(&["wallet", "pay", "--dir", "alice", "--request", &req, "--out", &pay]);
        let got = c.json(&["wallet", "receive", "--dir", "bob", "--payment", &pay]);
        assert_eq!(got["accepted"], amount, "{got}");
    }
    let before = c.json(&["wallet", "received", "--dir", "bob"]);
    let err = c.fails(4, &["wallet", "receive", "--dir", "bob", "--payment", "a-pay.json"]);
    assert!(err.contains("request"), "{err}");
    assert_eq!(c.json(&["wallet", "received", "--dir", "bob"]), before, "a replay changes nothing");
    (bob.clone(), wallet_money(c, "alice", alice) + wallet_money(c, "bob", &bob))
}

#[test]
fn a_wallet_crash_after_storing_its_deposit_request_sends_the_same_request() {
    let c = Cli::new();
    let alice = c.setup();
    let (bob, funded) = two_received_payments(&c, &alice);
    crash_at(&c, "payee.deposit.stored", &["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    assert_eq!(c.balance_of(&bob), 0, "the bank never saw the request");
    let stored = wallet_store(&c, "bob")
        .payee()
        .deposit_in_flight()
        .unwrap()
        .expect("the request is stored before it is sent");
    let money = || wallet_money(&c, "alice", &alice) + wallet_money(&c, "bob", &bob);
    assert_eq!(money(), funded, "money created or lost");
    let out = c.json(&["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    assert_eq!(out["credited"], 7, "{out}");
    assert_eq!(out["account"], bob.as_str(), "{out}");
    assert_eq!(
        out["receipts"][0]["request_id"],
        hex::encode(stored.request_id),
        "the stored request was sent"
    );
    assert_eq!(c.balance_of(&bob), 7);
    assert_eq!(money(), funded, "money created or lost");
}

#[test]
fn a_wallet_crash_after_the_credit_and_before_the_receipt_is_recorded_never_credits_twice() {
    let c = Cli::new();
    let alice = c.setup();
    let (bob, funded) = two_received_payments(&c, &alice);
    crash_at(&c, "payee.deposit.credited", &["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    assert_eq!(c.balance_of(&bob), 7, "the bank credited the deposit");
    let out = c.json(&["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    assert_eq!(out["credited"], 7, "the stored receipt is booked: {out}");
    assert!(!out.to_string().contains("Duplicate"), "no zero-credit duplicates: {out}");
    assert_eq!(c.balance_of(&bob), 7, "credited exactly once");
    let money = wallet_money(&c, "alice", &alice) + wallet_money(&c, "bob", &bob);
    assert_eq!(money, funded, "money created or lost");
    assert_eq!(c.json(&["bank", "status", "--dir", "bank"])["evidence"], 0, "nobody accused");
    let again = c.json(&["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    assert_eq!(again["credited"], 0, "nothing left to deposit: {again}");
}

/// Alice pays the shop 5, the shop refuses with a signed refusal
/// (`refusal.json`). Returns alice's account and the money of both, the
/// refused payment counted while nobody is credited for it.
fn a_refused_payment(c: &Cli) -> (String, u64) {
    let alice = c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "5", "--out", "r.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r.json", "--out", "p.json"]);
    let refused =
        c.json(&["merchant", "refuse", "--dir", "shop", "--payment", "p.json", "--out", "refusal.json"]);
    assert_eq!(refused["refused"], 5, "{refused}");
    let funded = total(c, &alice, "alice", "shop", 5);
    assert_eq!(funded, 200);
    (alice, funded)
}

/// After a crash in a reclaim: the reclaim is stored (resume has work), the
/// money is conserved, and `wallet resume` settles it with exactly one
/// credit of 5.
fn reclaim_resumed(c: &Cli, alice: &str, bank: &str, funded: u64, credited_before: bool) {
    assert_eq!(wallet_store(c, "alice").reclaims().unwrap().len(), 1, "the reclaim is stored");
    let outstanding = if credited_before { 0 } else { 5 };
    assert_eq!(c.balance_of(alice), 185 + 5 - outstanding);
    assert_eq!(total(c, alice, "alice", "shop", outstanding), funded, "money created or lost");
    let resumed = c.json(&["wallet", "resume", "--dir", "alice", "--bank", bank]);
    assert_eq!(resumed["reclaims"], 1, "resume had work to do: {resumed}");
    assert!(wallet_store(c, "alice").reclaims().unwrap().is_empty());
    assert_eq!(c.balance_of(alice), 190, "credited exactly once");
    assert_eq!(total(c, alice, "alice", "shop", 0), funded, "money created or lost");
    // Asked again, the payment is a duplicate: nothing more.
    let again = c.json(&["wallet", "reclaim", "--dir", "alice", "--bank", bank, "--refusal", "refusal.json"]);
    assert_eq!(again["credited"], 0, "{again}");
    assert_eq!(c.balance_of(alice), 190);
    assert_eq!(c.json(&["bank", "status", "--dir", "bank"])["evidence"], 0, "nobody accused");
}

#[test]
fn a_crash_after_storing_a_reclaim_sends_the_same_reclaim() {
    let c = Cli::new();
    let (alice, funded) = a_refused_payment(&c);
    crash_at(
        &c,
        "wallet.reclaim.stored",
        &["wallet", "reclaim", "--dir", "alice", "--bank", "bank", "--refusal", "refusal.json"],
    );
    reclaim_resumed(&c, &alice, "bank", funded, false);
}

#[test]
fn a_crash_after_the_reclaim_is_credited_never_credits_twice() {
    let c = Cli::new();
    let (alice, funded) = a_refused_payment(&c);
    crash_at(
        &c,
        "wallet.reclaim.credited",
        &["wallet", "reclaim", "--dir", "alice", "--bank", "bank", "--refusal", "refusal.json"],
    );
    reclaim_resumed(&c, &alice, "bank", funded, true);
}

#[test]
fn a_bank_crash_after_the_reclaim_commits_never_credits_twice_over_http() {
    let c = Cli::new();
    let (alice, funded) = a_refused_payment(&c);
    let mut node = Node::start_with(&c, "bank", &[(faircash::failpoint::ENV, "bank.reclaim.committed")]);
    let err = c
        .fails(1, &["wallet", "reclaim", "--dir", "alice", "--bank", &node.url, "--refusal", "refusal.json"]);
    assert!(err.contains("cannot reach the bank"), "{err}");
    let status = node.child.wait().unwrap();
    assert_eq!(status.signal(), Some(SIGABRT), "the node died at the failpoint: {status:?}");
    let node = Node::start(&c, "bank");
    reclaim_resumed(&c, &alice, &node.url, funded, true);
}

/// Erin withdrew 7 and paid 2 (deposited); her wallet is restored from the
/// phrase, and the restore crashes at `armed` (after the coins and the
/// statement are stored). `wallet resume` finishes the exchange: the value
/// held is the true unspent value, no coin is spent twice, and nothing is
/// left to resume.
fn restore_crashes_at(armed: &str) {
    let c = Cli::new();
    c.setup();
    let (phrase, account) = c.phrase_wallet("erin");
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &account, "--amount", "20"]);
    c.ok(&["wallet", "withdraw", "--dir", "erin", "--bank", "bank", "--amount", "7"]);
    c.pay("erin", "shop", 2, "e");
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    let total = c.balance_of(&account) + c.unspent_value("erin");
    assert_eq!(total, 18);
    let o = {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_faircash"))
            .args(["wallet", "restore", "--dir", "erin2", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"])
            .current_dir(c.root.path())
            .env(faircash::failpoint::ENV, armed)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(phrase.as_bytes());
        child.wait_with_output().unwrap()
    };
    assert_aborted(o.status, &o.stderr, armed);
    assert!(c.balance_of(&account) + c.unspent_value("erin2") <= total, "{armed}: money created");
    let resumed = c.json(&["wallet", "resume", "--dir", "erin2", "--bank", "bank"]);
    let work = resumed["exchanges"].as_u64().unwrap()
        + resumed["restored"].as_u64().unwrap()
        + resumed["coins"].as_array().unwrap().len() as u64;
    assert!(work > 0, "{armed}: resume had nothing to do: {resumed}");
    assert_eq!(c.balance_of(&account) + c.unspent_value("erin2"), total, "{armed}: money created or lost");
    assert_eq!(c.unspent_value("erin2"), 5, "{armed}: the true unspent value, in coins");
    assert_eq!(
        c.json(&["bank", "status", "--dir", "bank"])["evidence"],
        0,
        "{armed}: a coin was spent twice"
    );
    let again = c.json(&["wallet", "resume", "--dir", "erin2", "--bank", "bank"]);
    assert_eq!(
        (again["exchanges"].as_u64(), again["restored"].as_u64(), again["coins"].as_array().unwrap().len()),
        (Some(0), Some(0), 0),
        "{armed}"
    );
    // The restored coins were exchanged: the lost wallet's copy of the 4
    // is worth nothing now.
    c.pay("erin", "shop", 4, "old");
    let err = c.fails(4, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert!(err.contains("1 double spent"), "{armed}: {err}");
}

#[test]
fn a_crash_at_every_step_of_the_exchange_after_a_restore_loses_nothing_and_spends_no_coin_twice() {
    for armed in [
        "wallet.restore.stored",
        "wallet.exchange.recorded",
        "wallet.pay.marked",
        "wallet.exchange.deposit",
        "bank.deposit.committed",
        "wallet.exchange.credited",
        "wallet.exchange.planned",
    ] {
        restore_crashes_at(armed);
    }
}
