//! Sweep after theft (`wallet restore --sweep-to`, specs/protocol.md
//! §7.8): the value of a phrase's account moves to a new phrase and a new
//! account; the old phrase and keys then reach none of it. Run on real
//! `faircash` processes, with crashes at every step of the sweep.
#![cfg(unix)]

mod cli_support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use cli_support::{Cli, Node};
use faircash::crypto::derive::RecoveryPhrase;
use faircash::roles::Wallet;
use faircash::store::memory::MemoryWalletStore;
use rand::rngs::OsRng;
use serde_json::Value;

/// TTP, bank, alice's wallet (with its phrase) funded with 200, of which
/// she withdrew 15 (8 + 4 + 2 + 1); a shop. Returns alice's account and
/// her phrase.
fn alice(c: &Cli) -> (String, String) {
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "8"]);
    let (phrase, id) = c.phrase_wallet("alice");
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &id, "--amount", "200"]);
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    c.ok(&["merchant", "new", "--dir", "shop", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    (id, phrase)
}

fn sweep_args<'a>(new: &'a str, bank: &'a str) -> Vec<&'a str> {
    vec!["--json", "wallet", "restore", "--sweep-to", new, "--bank", bank, "--ttp", "ttp/ttp.pub.json"]
}

fn sweep(c: &Cli, phrase: &str, new: &str) -> Value {
    let (stdout, _) = c.piped(0, phrase.as_bytes(), &sweep_args(new, "bank"));
    serde_json::from_slice(&stdout).unwrap()
}

fn account_of(c: &Cli, wallet: &str) -> String {
    c.json(&["wallet", "info", "--dir", wallet])["account"].as_str().unwrap().to_string()
}

/// All the money of the old phrase and the new wallet: both accounts, the
/// coins the new account withdrew, and the old phrase's coins (rebuilt from the
/// bank's transcripts, as a restore does) not yet deposited at the bank
/// (held by the new wallet, or by no one after a crash).
fn money(c: &Cli, phrase: &str, old: &str, new: &str) -> u64 {
    let bank = faircash::cli::wallet::connect(c.path("bank").to_str().unwrap()).unwrap();
    let master = faircash::cli::wallet::load_pinned(&c.path("alice")).unwrap().0.master_key;
    let seed = RecoveryPhrase::parse(phrase).unwrap().seed();
    let clock = Arc::new(faircash::time::SystemClock);
    let (_, restored) =
        Wallet::restore(&seed, master, MemoryWalletStore::new(), clock, &*bank, &mut OsRng, |_| {}).unwrap();
    drop(bank);
    let spends = c.json(&["bank", "spends", "--dir", "bank", "--limit", "100000"]);
    let deposited: Vec<&str> =
        spends["spends"].as_array().unwrap().iter().map(|s| s["coin_id"].as_str().unwrap()).collect();
    let mut total = c.balance_of(old);
    let registered = |account: &str| {
        let st = c.json(&["bank", "status", "--dir", "bank"]);
        st["accounts"].as_array().unwrap().iter().any(|a| a["id"] == account)
    };
    if c.path(new).join("account.json").exists() && registered(&account_of(c, new)) {
        // The new wallet pays nothing here: what its account withdrew is
        // its coins (a coin answered before a crash is still pending).
        let account = account_of(c, new);
        let withdrawals = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &account]);
        let withdrawn: u64 =
            withdrawals["withdrawals"].as_array().unwrap().iter().map(|w| w["value"].as_u64().unwrap()).sum();
        total += c.balance_of(&account) + withdrawn;
    }
    let outstanding =
        restored.recovered.iter().filter(|x| !deposited.contains(&x.coin.id().to_string().as_str()));
    total + outstanding.map(|x| x.value).sum::<u64>()
}

#[test]
fn after_a_sweep_the_old_phrase_reaches_none_of_the_value() {
    let c = Cli::new();
    let (old, phrase) = alice(&c);
    let before = money(&c, &phrase, &old, "bob");
    assert_eq!(before, 200);
    let doc = sweep(&c, &phrase, "bob");
    let new = doc["account"].as_str().unwrap().to_string();
    assert_ne!(new, old, "a new account");
    assert_eq!(doc["old_account"], old.as_str());
    assert_eq!(doc["recovery_phrase"], Value::Null, "the phrase is in JSON only when asked for");
    assert_eq!(
        (doc["recovered_value"].as_u64(), doc["old_balance"].as_u64()),
        (Some(15), Some(185)),
        "{doc}"
    );
    assert_eq!(doc["paid_value"], 200);
    assert_eq!(doc["credited"], 200);
    assert_eq!(doc["fresh_value"], 200);
    assert!(!c.path("bob/sweep.key").exists(), "the old seed is gone once the sweep is finished");
    // The new wallet holds the whole value as fresh coins; both accounts
    // are empty.
    assert_eq!(c.unspent_value("bob"), 200);
    assert_eq!((c.balance_of(&old), c.balance_of(&new)), (0, 0));
    assert_eq!(money(&c, &phrase, &old, "bob"), 200, "money created or lost");

    // The thief restores from the old phrase: only the old account's
    // sessions, none of the new account's fresh coins.
    let restore =
        ["--json", "wallet", "restore", "--dir", "thief", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"];
    let (stdout, _) = c.piped(0, phrase.as_bytes(), &restore);
    let thief: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(thief["account"], old.as_str());
    let old_sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &old]);
    assert_eq!(
        thief["listed"].as_u64().unwrap(),
        old_sessions["withdrawals"].as_array().unwrap().len() as u64
    );
    let fresh: Vec<String> =
        doc["fresh"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    let seed = RecoveryPhrase::parse(&phrase).unwrap().seed();
    let bank = faircash::cli::wallet::connect(c.path("bank").to_str().unwrap()).unwrap();
    let master = faircash::cli::wallet::load_pinned(&c.path("alice")).unwrap().0.master_key;
    let (_, report) = Wallet::restore(
        &seed,
        master,
        MemoryWalletStore::new(),
        Arc::new(faircash::time::SystemClock),
        &*bank,
        &mut OsRng,
        |_| {},
    )
    .unwrap();
    drop(bank);
    assert_eq!(report.recovered_value(), 200, "the old phrase rebuilds the old coins only");
    assert!(report.recovered.iter().all(|x| !fresh.contains(&x.coin.id().to_string())), "no fresh coin");
    // The old keys fetch no transcript of the new account: it lists its own.
    let new_sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &new]);
    assert_eq!(new_sessions["withdrawals"].as_array().unwrap().len(), fresh.len());

    // The thief's copies (alice's directory) are refused at deposit: spent.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "15", "--out", "req.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "req.json", "--out", "pay.json"]);
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "pay.json"]);
    let err = c.fails(4, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert!(err.contains("double spent"), "{err}");
    assert_eq!(c.balance_of(&c.merchant_account("shop")), 0);
    // The new wallet spends its fresh coins.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "8", "--out", "req2.json"]);
    c.ok(&["wallet", "pay", "--dir", "bob", "--request", "req2.json", "--out", "pay2.json"]);
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "pay2.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(c.balance_of(&c.merchant_account("shop")), 8);
}

#[test]
fn a_sweep_refuses_bad_input_and_changes_nothing() {
    let c = Cli::new();
    let (old, phrase) = alice(&c);
    // A directory holding a wallet: refused (4), the wallet untouched.
    let err = c.piped(4, phrase.as_bytes(), &sweep_args("alice", "bank")).1;
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(c.unspent_value("alice"), 15);
    // A phrase with a bad checksum, and another wallet's phrase: invalid
    // input (3), no directory left behind.
    let mut words: Vec<&str> = phrase.split(' ').collect();
    words.swap(0, 1);
    let swapped = words.join(" ");
    if RecoveryPhrase::parse(&swapped).is_err() {
        c.piped(3, swapped.as_bytes(), &sweep_args("bob", "bank"));
        assert!(!c.path("bob").exists());
    }
    let other = RecoveryPhrase::generate(&mut OsRng);
    let err = c.piped(3, other.expose_secret().as_bytes(), &sweep_args("bob", "bank")).1;
    assert!(err.contains("no account"), "{err}");
    assert!(!c.path("bob").exists(), "nothing created");
    // --sweep-to with --backup, or without --bank: usage (2).
    c.fails(2, &["wallet", "restore", "--sweep-to", "bob", "--backup", "x"]);
    c.fails(2, &["wallet", "restore", "--sweep-to", "bob"]);
    assert_eq!(money(&c, &phrase, &old, "bob"), 200);
}

#[test]
fn a_bank_lost_midway_leaves_a_sweep_that_resume_finishes() {
    let c = Cli::new();
    let (old, phrase) = alice(&c);
    // The node dies once the first deposit of the swept coins commits:
    // the new wallet holds the payments, the sweep stops with exit 1.
    let mut node = Node::start_with(&c, "bank", &[(faircash::failpoint::ENV, "bank.deposit.committed")]);
    let (_, err) = c.piped(1, phrase.as_bytes(), &sweep_args("bob", &node.url));
    assert!(err.contains("cannot reach the bank"), "{err}");
    assert!(err.contains("recovery phrase"), "the new phrase is shown before the sweep: {err}");
    assert_eq!(node.child.wait().unwrap().signal(), Some(6));
    assert!(c.path("bob/sweep.key").exists(), "the sweep is under way");
    assert_eq!(money(&c, &phrase, &old, "bob"), 200, "money created or lost");
    let node = Node::start(&c, "bank");
    let doc = c.json(&["wallet", "resume", "--dir", "bob", "--bank", &node.url]);
    assert_eq!(doc["paid_value"], 0, "nothing paid twice: {doc}");
    assert_eq!(doc["fresh_value"], 200, "{doc}");
    drop(node);
    assert!(!c.path("bob/sweep.key").exists());
    assert_eq!(c.unspent_value("bob"), 200);
    assert_eq!(money(&c, &phrase, &old, "bob"), 200, "money created or lost");
}

/// Runs the sweep with failpoint `armed`; asserts the crash there; checks
/// money; resumes; checks that everything arrived and no coin was spent
/// twice.
fn crash_and_resume(armed: &str) {
    let c = Cli::new();
    let (old, phrase) = alice(&c);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faircash"))
        .args(sweep_args("bob", "bank"))
        .current_dir(c.root.path())
        .env(faircash::failpoint::ENV, armed)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(phrase.as_bytes()).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.signal(), Some(6), "expected an abort at {armed}: {:?}\n{stderr}", o.status);
    assert!(stderr.contains(&format!("failpoint {} hit", armed.split(':').next().unwrap())), "{stderr}");
    assert!(c.path("bob/sweep.key").exists(), "{armed}: the sweep is under way");
    assert_eq!(money(&c, &phrase, &old, "bob"), 200, "{armed}: money created or lost by the crash");
    let doc = c.json(&["wallet", "resume", "--dir", "bob", "--bank", "bank"]);
    assert!(!c.path("bob/sweep.key").exists(), "{armed}");
    let new = account_of(&c, "bob");
    assert_eq!(c.unspent_value("bob"), 200, "{armed}: {doc}");
    assert_eq!((c.balance_of(&old), c.balance_of(&new)), (0, 0), "{armed}");
    assert_eq!(money(&c, &phrase, &old, "bob"), 200, "{armed}: money created or lost");
    // No coin spent twice: no evidence at the bank, every payment the new
    // wallet received deposited.
    let status = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(status["evidence"], 0, "{armed}: {status}");
    let received = c.json(&["wallet", "received", "--dir", "bob"]);
    for p in received["payments"].as_array().unwrap() {
        assert_eq!(p["state"], "deposited", "{armed}: {p}");
    }
}

#[test]
fn a_crash_at_every_step_of_a_sweep_loses_nothing_and_spends_no_coin_twice() {
    for armed in [
        // The new wallet written, its account not registered yet.
        "wallet.new.written",
        // The old account's balance: a coin answered, lost in memory.
        "wallet.withdraw.answered",
        "bank.withdraw.debited",
        // The payment of recovered coins: built, then held by the new wallet.
        "wallet.sweep.paid",
        "wallet.sweep.received",
        // Its deposit to the new account.
        "payee.deposit.stored",
        "bank.deposit.committed",
        "payee.deposit.credited",
        // The fresh coins under the new phrase (6th answer: the old
        // balance took 5 coins, 128 + 32 + 16 + 8 + 1).
        "bank.account.reserved",
        "wallet.withdraw.reserved",
        "wallet.withdraw.answered:6",
    ] {
        crash_and_resume(armed);
    }
}

#[test]
fn a_sweep_never_pays_a_coin_the_lost_device_spent_and_the_shop_deposited() {
    // The spent check of §7.7 runs before the sweep pays anything: a coin
    // on the bank's spent lists is left out, so the sweep makes no double
    // spend and the old account is not frozen.
    let c = Cli::new();
    let (old, phrase) = alice(&c);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "8", "--out", "req.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "req.json", "--out", "pay.json"]);
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "pay.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    let shop = c.balance_of(&c.merchant_account("shop"));
    assert_eq!(shop, 8);

    let doc = sweep(&c, &phrase, "bob");
    assert_eq!(doc["recovered_value"], 15, "{doc}");
    assert_eq!(doc["spent_before"], 1, "{doc}");
    assert_eq!(doc["omissions"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["refused_value"], 0, "the spent coin was paid again: {doc}");
    assert_eq!((doc["paid_value"].as_u64(), doc["fresh_value"].as_u64()), (Some(192), Some(192)), "{doc}");
    let status = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(status["evidence"], 0, "{status}");
    let frozen = status["accounts"].as_array().unwrap().iter().find(|a| a["id"] == old.as_str()).unwrap();
    assert_eq!(frozen["frozen"], false, "{status}");
    // Money: the new wallet's fresh coins and the shop's credit.
    assert_eq!(c.unspent_value("bob") + shop, 200);
}
