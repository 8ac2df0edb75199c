//! The command line, run as real processes over on-disk stores.

mod cli_support;

use std::process::Command;

use cli_support::*;
use serde_json::Value;

#[test]
fn cli_session_from_setup_to_double_spend_and_traces() {
    let c = Cli::new();
    let alice = c.setup();
    // --no-change: the clone must hold the very coins alice pays.
    let out =
        c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "45", "--no-change"]);
    assert!(out.contains("45 (32 + 8 + 4 + 1)"), "{out}");
    assert_eq!(c.balance_of(&alice), 155);
    c.pay("alice", "shop", 12, "p1");
    let receipt = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(receipt["credited"], 12);
    let shop = c.merchant_account("shop");
    assert_eq!(c.balance_of(&shop), 12);

    // A cloned wallet spends the same coin twice.
    copy_dir(&c.path("alice"), &c.path("alice-clone"));
    c.pay("alice", "shop", 32, "p2");
    c.ok(&["merchant", "new", "--dir", "shop2", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    c.pay("alice-clone", "shop2", 32, "p3");
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    // The deposit that finds the double spend prints its receipt and exits
    // 4 (refused by a protocol rule); tests/cli_json.rs checks JSON mode.
    let (out, err) = c.piped(4, b"", &["merchant", "deposit", "--dir", "shop2", "--bank", "bank"]);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("DOUBLE SPENT"), "{out}");
    assert!(err.contains("1 of 1 coin(s) not credited (1 double spent"), "{err}");
    let st = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(st["evidence"], 1);
    let a = st["accounts"].as_array().unwrap().iter().find(|a| a["id"] == alice.as_str()).unwrap().clone();
    assert_eq!(a["frozen"], true);
    let ev = c.json(&["bank", "evidence", "--dir", "bank"]);
    assert_eq!(ev["evidence"][0]["account"], alice.as_str());
    assert_eq!(
        (ev["cursor"].as_u64(), ev["more"].as_bool()),
        (ev["evidence"][0]["seq"].as_u64(), Some(false))
    );
    // Nothing newer than the cursor.
    let cursor = ev["cursor"].to_string();
    let newer = c.json(&["bank", "evidence", "--dir", "bank", "--after", &cursor]);
    assert_eq!(newer["evidence"].as_array().unwrap().len(), 0);
    c.fails(4, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "1"]);

    // A second coin spent twice (payments are off-line): `bank evidence
    // --out` writes both pieces, and anyone checks them with the public
    // keyset list alone.
    c.pay("alice", "shop", 1, "p4");
    c.pay("alice-clone", "shop2", 1, "p5");
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    c.fails(4, &["merchant", "deposit", "--dir", "shop2", "--bank", "bank"]);
    let ev = c.json(&["bank", "evidence", "--dir", "bank", "--out", "evidence.json"]);
    assert_eq!(ev["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(ev["evidence"][0]["account"], alice.as_str());
    // The later double spend is what is newer than the first cursor; paged
    // one at a time, the first page says more follows.
    let newer = c.json(&["bank", "evidence", "--dir", "bank", "--after", &cursor]);
    assert_eq!(newer["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(newer["evidence"][0]["coin_id"], ev["evidence"][1]["coin_id"]);
    let first = c.json(&["bank", "evidence", "--dir", "bank", "--limit", "1"]);
    assert_eq!((first["evidence"].as_array().unwrap().len(), first["more"].as_bool()), (1, Some(true)));
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("evidence.json")).unwrap()).unwrap();
    assert_eq!(file["body"]["items"].as_array().unwrap().len(), 2, "all the evidence is written");
    std::fs::copy(c.path("bank/keysets.json"), c.path("keysets.json")).unwrap();
    let v = c.json(&["evidence", "verify", "evidence.json", "--keysets", "keysets.json"]);
    assert_eq!(v["valid"], true);
    assert_eq!(v["evidence"][1]["account"], alice.as_str());
    // Evidence naming another account than the one it identifies fails (3).
    let mut forged = file.clone();
    forged["body"]["items"][1]["account"] = Value::from("00".repeat(16));
    std::fs::write(c.path("forged.json"), forged.to_string()).unwrap();
    let err = c.fails(3, &["evidence", "verify", "forged.json", "--keysets", "keysets.json"]);
    assert!(err.contains("1 of 2 piece(s) of evidence do not hold"), "{err}");
    // One payment of another coin in place of the second spend: refused.
    let mut swapped = file.clone();
    swapped["body"]["items"][0]["evidence"]["second"] =
        file["body"]["items"][1]["evidence"]["second"].clone();
    std::fs::write(c.path("swapped.json"), swapped.to_string()).unwrap();
    c.fails(3, &["evidence", "verify", "swapped.json", "--keysets", "keysets.json"]);

    // Owner tracing of a deposited coin, then coin tracing of a withdrawal.
    c.ok(&["warrant", "keygen", "--dir", "judge"]);
    c.ok(&["ttp", "trust-issuer", "--dir", "ttp", "--key", "judge/judge.pub.json"]);
    c.ok(&["ttp", "trust-bank", "--dir", "ttp", "--keysets", "bank/keysets.json"]);
    let coins = c.json(&["wallet", "coins", "--dir", "alice"]);
    let spent = coins["coins"].as_array().unwrap().iter().find(|x| x["spent"] == true).unwrap()["coin_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(&["bank", "export-spend", "--dir", "bank", "--coin", &spent, "--out", "rec.json"]);
    c.ok(&[
        "warrant", "issue", "--dir", "judge", "--kind", "owner", "--record", "rec.json", "--case", "C1",
        "--reason", "audit", "--out", "w.json",
    ]);
    // The wrong kind of trace for the record is a usage error.
    c.fails(
        2,
        &[
            "ttp",
            "trace-coin",
            "--dir",
            "ttp",
            "--warrant",
            "w.json",
            "--record",
            "rec.json",
            "--out",
            "r.json",
        ],
    );
    let r = c.json(&[
        "ttp",
        "trace-owner",
        "--dir",
        "ttp",
        "--warrant",
        "w.json",
        "--record",
        "rec.json",
        "--out",
        "res.json",
    ]);
    assert_eq!(r["account"], alice.as_str());
    assert_eq!(r["log_index"], 0);
    let v = c.json(&[
        "ttp",
        "verify-trace",
        "--ttp",
        "ttp/ttp.pub.json",
        "--warrant",
        "w.json",
        "--record",
        "rec.json",
        "--result",
        "res.json",
    ]);
    assert_eq!(v["valid"], true);
    let applied = c.json(&[
        "bank",
        "apply-trace",
        "--dir",
        "bank",
        "--result",
        "res.json",
        "--warrant",
        "w.json",
        "--record",
        "rec.json",
        "--ttp",
        "ttp/ttp.pub.json",
    ]);
    assert_eq!(applied["account"], alice.as_str());
    // A warrant is used once.
    let err = c.fails(
        4,
        &[
            "ttp",
            "trace-owner",
            "--dir",
            "ttp",
            "--warrant",
            "w.json",
            "--record",
            "rec.json",
            "--out",
            "res2.json",
        ],
    );
    assert!(err.contains("used before"), "{err}");
    c.ok(&["ttp", "log", "head", "--dir", "ttp", "--out", "head-1.json"]);

    let bob = c.json(&["wallet", "new", "--dir", "bob", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"])
        ["account"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &bob, "--amount", "20"]);
    c.ok(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "16"]);
    let sessions = c.json(&["bank", "withdrawals", "--dir", "bank", "--account", &bob]);
    let session = sessions["withdrawals"][0]["session"].as_str().unwrap().to_string();
    c.ok(&["bank", "export-withdrawal", "--dir", "bank", "--session", &session, "--out", "wrec.json"]);
    c.ok(&[
        "warrant",
        "issue",
        "--dir",
        "judge",
        "--kind",
        "coin",
        "--record",
        "wrec.json",
        "--case",
        "C2",
        "--reason",
        "theft",
        "--out",
        "w2.json",
    ]);
    c.ok(&[
        "ttp",
        "trace-coin",
        "--dir",
        "ttp",
        "--warrant",
        "w2.json",
        "--record",
        "wrec.json",
        "--out",
        "res2.json",
    ]);
    c.ok(&[
        "bank",
        "apply-trace",
        "--dir",
        "bank",
        "--result",
        "res2.json",
        "--warrant",
        "w2.json",
        "--record",
        "wrec.json",
        "--ttp",
        "ttp/ttp.pub.json",
    ]);
    c.ok(&["bank", "watch-list", "--dir", "bank", "--out", "watch.json"]);
    c.ok(&["merchant", "watch-list", "--dir", "shop", "--list", "watch.json"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "16", "--out", "b-req.json"]);
    c.ok(&["wallet", "pay", "--dir", "bob", "--request", "b-req.json", "--out", "b-pay.json"]);
    let err = c.fails(4, &["merchant", "accept", "--dir", "shop", "--payment", "b-pay.json"]);
    assert!(err.contains("watch list"), "{err}");

    // The audit log verifies against both published heads; tampering shows.
    c.ok(&["ttp", "log", "verify", "--dir", "ttp", "--head", "head-1.json", "--head", "ttp/log-head.json"]);
    {
        let db = rusqlite::Connection::open(c.path("ttp/ttp.db")).unwrap();
        db.execute("DELETE FROM log WHERE idx = 1", []).unwrap();
    }
    let err = c.fails(
        5,
        &["ttp", "log", "verify", "--dir", "ttp", "--head", "head-1.json", "--head", "ttp/log-head.json"],
    );
    assert!(err.contains("audit log"), "{err}");
}

#[test]
fn cli_errors_are_clear_and_exit_codes_documented() {
    let c = Cli::new();
    let alice = c.setup();
    // --help documents the exit codes.
    let help = c.ok(&["--help"]);
    assert!(help.contains("Exit codes") && help.contains("4  refused"), "{help}");
    for sub in [["bank", "init"], ["wallet", "pay"], ["merchant", "deposit"], ["ttp", "trace-owner"]] {
        let h = c.ok(&[sub[0], sub[1], "--help"]);
        assert!(h.contains("Example"), "{sub:?} --help has no example");
    }
    // A missing file.
    let err = c.fails(3, &["wallet", "pay", "--dir", "alice", "--request", "nope.json", "--out", "x.json"]);
    assert!(err.contains("no such file"), "{err}");
    // The wrong kind of file.
    let err =
        c.fails(3, &["wallet", "pay", "--dir", "alice", "--request", "ttp/ttp.pub.json", "--out", "x.json"]);
    assert!(err.contains("expected kind payment-request"), "{err}");
    // Not a role directory.
    let err = c.fails(3, &["wallet", "balance", "--dir", "shop"]);
    assert!(err.contains("not a wallet directory"), "{err}");
    // Insufficient balance.
    let err = c.fails(4, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "500"]);
    assert!(err.contains("insufficient balance"), "{err}");
    // Not enough coins for an exact payment.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "3", "--out", "r.json"]);
    let err = c.fails(4, &["wallet", "pay", "--dir", "alice", "--request", "r.json", "--out", "p.json"]);
    assert!(err.contains("cannot pay 3 exactly"), "{err}");
    // A key file others can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = c.path("alice/wallet.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = c.fails(5, &["wallet", "balance", "--dir", "alice"]);
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        for k in ["bank/bank.key", "alice/wallet.key", "shop/merchant.key", "ttp/ttp.key"] {
            let mode = std::fs::metadata(c.path(k)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{k}");
        }
    }
    // A wrong bank key.
    let other_key = c.json(&["warrant", "keygen", "--dir", "judge"])["issuer"].as_str().unwrap().to_string();
    let err = c.fails(3, &["wallet", "new", "--dir", "carol", "--bank", "bank", "--bank-key", &other_key]);
    assert!(err.contains("keyset"), "{err}");
    assert!(!c.path("carol/wallet.key").exists(), "a refused bank leaves no wallet behind");
    let err =
        c.fails(2, &["wallet", "new", "--dir", "carol", "--bank", "bank", "--bank-key", &"11".repeat(32)]);
    assert!(err.contains("not a valid public key"), "{err}");
    // An unknown account.
    let err = c.fails(4, &["bank", "fund", "--dir", "bank", "--account", &"00".repeat(16), "--amount", "1"]);
    assert!(err.contains("unknown account"), "{err}");
    // A tampered payment file is refused with a decode or verification error.
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "3"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "2", "--out", "r2.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2.json"]);
    let text = std::fs::read_to_string(c.path("p2.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["body"]["request"]["amount"] = Value::from(1u64);
    std::fs::write(c.path("p2-bad.json"), v.to_string()).unwrap();
    let err = c.fails(4, &["merchant", "accept", "--dir", "shop", "--payment", "p2-bad.json"]);
    assert!(err.contains("no open request"), "{err}");
    // Paying the same request again hands out the same payment, not new coins.
    let before = c.json(&["wallet", "balance", "--dir", "alice"])["balance"].as_u64().unwrap();
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2-again.json"]);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["balance"].as_u64().unwrap(), before);
    assert_eq!(std::fs::read(c.path("p2.json")).unwrap(), std::fs::read(c.path("p2-again.json")).unwrap());
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "p2.json"]);
    // Accepting it twice is refused.
    let err = c.fails(4, &["merchant", "accept", "--dir", "shop", "--payment", "p2.json"]);
    assert!(err.contains("no open request"), "{err}");
    // JSON errors for scripts.
    let o = c.run(&["--json", "wallet", "balance", "--dir", "nowhere"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 3);
    assert_eq!(c.balance_of(&alice), 200 - 3);
}

#[test]
fn concurrent_deposits_of_one_coin_credit_once() {
    let c = Cli::new();
    c.setup();
    // --no-change: the one coin of 8 is deposited five times at once.
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "8", "--no-change"]);
    c.pay("alice", "shop", 8, "p");
    let shop = c.merchant_account("shop");
    // Several processes hold the same accepted payment and deposit at once.
    for i in 0..5 {
        copy_dir(&c.path("shop"), &c.path(&format!("shop-{i}")));
    }
    let children: Vec<_> = (0..5)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_faircash"))
                .args(["--json", "merchant", "deposit", "--dir", &format!("shop-{i}"), "--bank", "bank"])
                .current_dir(c.root.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut credited = 0;
    let mut duplicates = 0;
    for ch in children {
        let o = ch.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let receipts = v["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), 1);
        for outcome in receipts[0]["outcomes"].as_array().unwrap() {
            match outcome["outcome"].as_str() {
                Some("duplicate") => duplicates += 1,
                Some("credited") => credited += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }
    assert_eq!(credited, 1);
    assert_eq!(duplicates, 4);
    assert_eq!(c.balance_of(&shop), 8);
}

#[test]
fn demo_runs_on_disk_and_keeps_its_stores_when_asked() {
    let c = Cli::new();
    let out = c.ok(&["demo", "--dir", "demo-state"]);
    assert!(out.contains("identified account"), "{out}");
    assert!(c.path("demo-state/bank.db").exists());
    let out = c.ok(&["demo", "--memory"]);
    assert!(out.contains("DOUBLE SPENT"), "{out}");
    let out = c.ok(&["demo", "--http"]);
    assert!(out.contains("bank served over HTTP") && out.contains("identified account"), "{out}");
}

#[test]
fn cli_wallets_and_merchants_pin_the_ttp_key_statement() {
    let c = Cli::new();
    let alice = c.setup();
    let statement = c.path("ttp/ttp.pub.json");
    std::fs::copy(&statement, c.path("first.json")).unwrap();
    let signing =
        c.json(&["ttp", "statement", "--dir", "ttp", "--escrow-days", "700", "--out", "renewed.json"]);
    assert_eq!(signing["sequence"], 1);
    let signing_key = signing["signing_key"].as_str().unwrap().to_string();

    // The bank pins a statement of its own TTP key and rotates to it.
    c.ok(&["ttp", "keygen", "--dir", "rogue"]);
    c.ok(&["bank", "trust-ttp", "--dir", "bank", "--statement", "rogue/ttp.pub.json"]);
    c.ok(&["bank", "keyset", "--dir", "bank", "--rotate"]);
    let err = c.fails(5, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "4"]);
    assert!(err.contains("no pinned TTP key statement"), "{err}");
    assert_eq!(c.balance_of(&alice), 200, "nothing was withdrawn");

    // A wallet that trusts the rogue statement withdraws under it; the
    // merchant, which pinned only the TTP's, refuses the payment off-line.
    let mallory =
        c.json(&["wallet", "new", "--dir", "mallory", "--bank", "bank", "--ttp", "rogue/ttp.pub.json"]);
    let mallory = mallory["account"].as_str().unwrap().to_string();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &mallory, "--amount", "4"]);
    c.ok(&["wallet", "withdraw", "--dir", "mallory", "--bank", "bank", "--amount", "4"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "4", "--out", "r.json"]);
    c.ok(&["wallet", "pay", "--dir", "mallory", "--request", "r.json", "--out", "p.json"]);
    let err = c.fails(5, &["merchant", "accept", "--dir", "shop", "--payment", "p.json"]);
    assert!(err.contains("no pinned TTP key statement"), "{err}");

    // The TTP's renewed statement reaches the wallet through the bank (it
    // verifies under the pinned signing key) and supersedes the first; the
    // first is then refused as a rollback.
    c.ok(&["bank", "trust-ttp", "--dir", "bank", "--statement", "renewed.json"]);
    let pinned = |dir: &str| -> Vec<u64> {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(c.path(&format!("{dir}/ttp.json"))).unwrap())
                .unwrap();
        v["body"]["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["statement"]["sequence"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(pinned("alice"), [0]);
    c.fails(5, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "4"]);
    assert_eq!(pinned("alice"), [1], "refreshed from the bank");
    let err = c.fails(5, &["wallet", "trust-ttp", "--dir", "alice", "--ttp", "first.json"]);
    assert!(err.contains("rollback"), "{err}");
    // A statement under an unpinned signing key needs the owner's action;
    // given the TTP's signing key, the bank's statements under it are pinned.
    let carol = c.json(&["wallet", "new", "--dir", "carol", "--bank", "bank", "--ttp-key", &signing_key]);
    assert_eq!(carol["registered"], true);
    assert_eq!(pinned("carol"), [1]);
    c.fails(2, &["wallet", "new", "--dir", "dave", "--bank", "bank", "--ttp-key", "zz"]);

    // Rotation on a schedule: run daily, it rotates only when the newest
    // keyset is old enough (the day is the system's: here, not yet).
    let before = c.json(&["bank", "keyset", "--dir", "bank"])["keysets"].as_array().unwrap().len();
    let v = c.json(&["bank", "keyset", "--dir", "bank", "--rotate-every", "30"]);
    assert_eq!(v["rotated"], false);
    assert_eq!(v["keysets"].as_array().unwrap().len(), before);
    c.fails(2, &["bank", "keyset", "--dir", "bank", "--rotate", "--rotate-every", "30"]);
    c.fails(2, &["bank", "keyset", "--dir", "bank", "--rotate-every", "0"]);
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let c = Cli::new();
    c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "7"]);
    for args in [
        &["wallet", "coins", "--dir", "alice"][..],
        &["--json", "bank", "status", "--dir", "bank"],
        &["demo", "--memory"],
        &["--help"],
    ] {
        // A pipe whose reader is gone: every write to it fails (EPIPE).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_faircash"))
            .args(args)
            .current_dir(c.root.path())
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn a_dash_file_is_stdin_or_stdout_so_commands_pipe() {
    let c = Cli::new();
    c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    // merchant request --out - | wallet pay --request - --out - | merchant accept --payment -
    let (req, err) =
        c.piped(0, b"", &["merchant", "request", "--dir", "shop", "--amount", "6", "--out", "-"]);
    assert!(err.contains("written to stdout"), "the report goes to stderr: {err}");
    let v: Value = serde_json::from_slice(&req).unwrap();
    assert_eq!(v["kind"], "payment-request");
    let (payment, _) = c.piped(0, &req, &["wallet", "pay", "--dir", "alice", "--request", "-", "--out", "-"]);
    let (out, _) = c.piped(0, &payment, &["merchant", "accept", "--dir", "shop", "--payment", "-"]);
    assert!(String::from_utf8(out).unwrap().contains("accepted"));
    assert!(!c.path("-").exists(), "no file named -");
    // With --json, stdout holds the message alone and the report is JSON on stderr.
    let (req, err) =
        c.piped(0, b"", &["--json", "merchant", "request", "--dir", "shop", "--amount", "1", "--out", "-"]);
    assert_eq!(serde_json::from_slice::<Value>(&req).unwrap()["kind"], "payment-request");
    assert_eq!(serde_json::from_str::<Value>(&err).unwrap()["amount"], 1);
    // One stdin per command.
    let err = c.fails(
        2,
        &[
            "bank",
            "apply-trace",
            "--dir",
            "bank",
            "--result",
            "-",
            "--warrant",
            "-",
            "--record",
            "-",
            "--ttp",
            "-",
        ],
    );
    assert!(err.contains("only one input"), "{err}");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["undeposited_value"], 6);
}

#[test]
fn a_huge_withdrawal_is_refused_before_anything_is_built() {
    let c = Cli::new();
    let alice = c.setup();
    // Under a 4 GiB address-space limit, so a regression fails here instead
    // of exhausting the machine's memory.
    let refused = |amount: &str| {
        let o = Command::new("sh")
            .args(["-c", "ulimit -v 4194304; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_faircash")])
            .args(["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", amount])
            .current_dir(c.root.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(4), "--amount {amount}: {err}");
        err
    };
    let err = refused("18446744073709551615");
    assert!(err.contains("at most 1024 per withdrawal"), "{err}");
    // One coin over the limit (denominations up to 256): refused too.
    let err = refused(&(256 * 1024 + 1).to_string());
    assert!(err.contains("takes 1025 coins"), "{err}");
    assert_eq!(c.balance_of(&alice), 200, "nothing was debited");
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["pending_withdrawals"], 0);
    c.fails(2, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "0"]);
}

#[test]
fn an_empty_or_damaged_database_is_refused_with_how_to_restore() {
    let c = Cli::new();
    c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "3"]);
    for (dir, db, args) in [
        ("alice", "wallet.db", &["wallet", "balance", "--dir", "alice"][..]),
        ("shop", "merchant.db", &["merchant", "status", "--dir", "shop"]),
        ("bank", "bank.db", &["bank", "status", "--dir", "bank"]),
        ("ttp", "ttp.db", &["ttp", "log", "verify", "--dir", "ttp"]),
    ] {
        let path = c.path(&format!("{dir}/{db}"));
        let saved = c.path(&format!("{dir}.saved"));
        std::fs::rename(&path, &saved).unwrap();
        // Empty (0 bytes), damaged (not SQLite), missing.
        std::fs::write(&path, b"").unwrap();
        let err = c.fails(1, args);
        assert!(err.contains("is empty") && err.contains("Restore the whole directory"), "{dir}: {err}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "{dir}: the empty file is left alone");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = c.fails(1, args);
        assert!(err.contains("damaged"), "{dir}: {err}");
        std::fs::remove_file(&path).unwrap();
        let err = c.fails(1, args);
        assert!(err.contains("damaged"), "{dir}: {err}");
        assert!(!path.exists(), "{dir}: no new database was created");
        std::fs::rename(&saved, &path).unwrap();
        c.ok(args);
    }
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["balance"], 3);
}

#[test]
fn a_key_file_holding_zero_is_refused_on_load() {
    let c = Cli::new();
    c.setup();
    let zero = format!("\"{}\"", "00".repeat(32));
    for (file, args) in [
        ("alice/wallet.key", &["wallet", "balance", "--dir", "alice"][..]),
        ("shop/merchant.key", &["merchant", "status", "--dir", "shop"]),
    ] {
        let path = c.path(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &zero).unwrap();
        let err = c.fails(3, args);
        assert!(err.contains("the zero scalar is not a valid secret key"), "{file}: {err}");
        std::fs::write(&path, good).unwrap();
        c.ok(args);
    }
    // The bank's keys: its master key, and any denomination key.
    let path = c.path("bank/bank.key");
    let good = std::fs::read_to_string(&path).unwrap();
    let mut keys: Value = serde_json::from_str(&good).unwrap();
    keys["denominations"][3][1] = Value::from("00".repeat(32));
    std::fs::write(&path, keys.to_string()).unwrap();
    let err = c.fails(3, &["bank", "status", "--dir", "bank"]);
    assert!(err.contains("the zero scalar is not a valid secret key"), "{err}");
    let mut keys: Value = serde_json::from_str(&good).unwrap();
    keys["master"] = Value::from("00".repeat(32));
    std::fs::write(&path, keys.to_string()).unwrap();
    c.fails(3, &["bank", "status", "--dir", "bank"]);
    std::fs::write(&path, good).unwrap();
    // The TTP's decryption key.
    let path = c.path("ttp/ttp.key");
    let good = std::fs::read_to_string(&path).unwrap();
    let mut keys: Value = serde_json::from_str(&good).unwrap();
    keys["decryption"] = Value::from("00".repeat(32));
    std::fs::write(&path, keys.to_string()).unwrap();
    let err = c.fails(3, &["ttp", "log", "verify", "--dir", "ttp"]);
    assert!(err.contains("the zero scalar is not a valid secret key"), "{err}");
    std::fs::write(&path, good).unwrap();
    c.ok(&["bank", "status", "--dir", "bank"]);
}

#[test]
fn human_output_says_what_people_need() {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "1000"]);
    // An empty wallet says so.
    let out = c.ok(&["wallet", "coins", "--dir", "alice"]);
    assert!(out.contains("no coins"), "{out}");
    // A large withdrawal counts repeated denominations.
    let out =
        // --no-change: the text shows the withdrawal as made.
        c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "900", "--no-change"]);
    assert!(out.contains("900 (3 × 256 + 128 + 4)"), "{out}");
    // wallet info: account, bank, keysets, balance.
    let out = c.ok(&["wallet", "info", "--dir", "alice"]);
    for want in [alice.as_str(), "bank (master key", "keysets   1", "balance   900 (3 × 256 + 128 + 4) in 5"]
    {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    // bank withdrawals shows when, as a date and time.
    let out = c.ok(&["bank", "withdrawals", "--dir", "bank", "--account", &alice]);
    let first = out.lines().next().unwrap();
    let when = first.rsplit(' ').next().unwrap();
    assert!(when.len() == 20 && when.ends_with('Z') && when.as_bytes()[10] == b'T', "{first}");
    // The payer checks the order it pays for.
    c.ok(&[
        "merchant",
        "request",
        "--dir",
        "shop",
        "--amount",
        "4",
        "--order",
        "espresso x2",
        "--out",
        "r.json",
    ]);
    let err = c.fails(
        4,
        &["wallet", "pay", "--dir", "alice", "--request", "r.json", "--order", "latte", "--out", "p.json"],
    );
    assert!(err.contains("not for the order \"latte\""), "{err}");
    assert!(!c.path("p.json").exists(), "nothing paid");
    let out = c.ok(&[
        "wallet",
        "pay",
        "--dir",
        "alice",
        "--request",
        "r.json",
        "--order",
        "espresso x2",
        "--out",
        "p.json",
    ]);
    assert!(out.contains("for \"espresso x2\""), "{out}");
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "p.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    // bank spends lists the deposited coin, ready to trace.
    let spends = c.json(&["bank", "spends", "--dir", "bank"]);
    let coin = spends["spends"][0]["coin_id"].as_str().unwrap().to_string();
    assert_eq!(spends["spends"][0]["value"], 4);
    let out = c.ok(&["bank", "spends", "--dir", "bank", "--merchant", &c.merchant_account("shop")]);
    assert!(out.contains(&coin), "{out}");
    c.ok(&["bank", "export-spend", "--dir", "bank", "--coin", &coin, "--out", "rec.json"]);
    // A request dated two days ahead: the error names both clocks.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "4", "--out", "r2.json"]);
    let mut req: Value = serde_json::from_str(&std::fs::read_to_string(c.path("r2.json")).unwrap()).unwrap();
    req["body"]["day"] = Value::from(req["body"]["day"].as_u64().unwrap() + 2);
    std::fs::write(c.path("r2.json"), req.to_string()).unwrap();
    let err = c.fails(4, &["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2.json"]);
    assert!(
        err.contains("but this wallet's clock says") && err.contains("differ by more than a day"),
        "{err}"
    );
    // --bank naming a merchant directory.
    let err = c.fails(2, &["wallet", "withdraw", "--dir", "alice", "--bank", "shop", "--amount", "1"]);
    assert!(err.contains("shop is a merchant directory, not a bank directory"), "{err}");
    assert!(err.contains("uses the bank at bank"), "{err}");
    // demo --dir on a directory that exists.
    let err = c.fails(4, &["demo", "--dir", "alice"]);
    assert!(err.contains("exists already") && err.contains("not role directories"), "{err}");
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["balance"], 896);
}

#[test]
fn cli_rekey_unfreeze_rotation_and_history() {
    let c = Cli::new();
    let alice = c.setup();
    // The wallet keeps its authentication key in a file of its own, 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.path("alice/auth.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // --no-change: the clone must hold the very coin of 32 alice pays.
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "40", "--no-change"]);
    copy_dir(&c.path("alice"), &c.path("alice-clone"));
    c.pay("alice", "shop", 32, "p1");
    c.ok(&["merchant", "new", "--dir", "shop2", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    c.pay("alice-clone", "shop2", 32, "p2");
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    // The double spend is found: the deposit exits 4 after its receipt.
    c.fails(4, &["merchant", "deposit", "--dir", "shop2", "--bank", "bank"]);
    let acct = c.json(&["wallet", "account", "--dir", "alice", "--bank", "bank"]);
    assert_eq!(acct["frozen"], true);
    assert_eq!(acct["balance"], 160);

    // No unfreeze before a re-key.
    let err = c.fails(4, &["bank", "unfreeze", "--dir", "bank", "--account", &alice, "--reason", "please"]);
    assert!(err.contains("re-keyed"), "{err}");
    let req = c.json(&["wallet", "rekey", "--dir", "alice", "--out", "rekey.json"]);
    let fp = req["fingerprint"].as_str().unwrap().to_string();
    // Not applied yet: activating is refused and changes nothing.
    c.fails(4, &["wallet", "rekey", "--dir", "alice", "--activate", "--bank", "bank"]);
    let applied = c.json(&[
        "bank",
        "rekey",
        "--dir",
        "bank",
        "--account",
        &alice,
        "--request",
        "rekey.json",
        "--reason",
        "identified at the branch",
    ]);
    assert_eq!(applied["fingerprint"], fp.as_str());
    assert_eq!(applied["frozen"], true);
    c.ok(&["bank", "unfreeze", "--dir", "bank", "--account", &alice, "--reason", "re-keyed; shop2 repaid"]);
    let st = c.ok(&["bank", "status", "--dir", "bank"]);
    assert!(st.contains("unfrozen: re-keyed; shop2 repaid"), "{st}");
    assert!(c.path("alice/wallet.seed").exists());
    let done = c.json(&["wallet", "rekey", "--dir", "alice", "--activate", "--bank", "bank"]);
    // The new keys are random: the phrase no longer restores the wallet.
    assert!(!c.path("alice/wallet.seed").exists());
    assert_eq!(done["frozen"], false);
    // The re-keyed wallet withdraws, and still spends its coin of 8
    // withdrawn under the old identity.
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "3"]);
    c.pay("alice", "shop", 11, "p3");
    let receipt = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(receipt["credited"], 11);
    // The copy of the old wallet is refused: its keys are retired.
    c.fails(3, &["wallet", "withdraw", "--dir", "alice-clone", "--bank", "bank", "--amount", "1"]);

    // The holder rotates the authentication key.
    c.ok(&["wallet", "rotate-auth-key", "--dir", "alice", "--bank", "bank"]);
    assert!(!c.path("alice/auth.next.key").exists());
    let acct = c.json(&["wallet", "account", "--dir", "alice", "--bank", "bank"]);
    let kinds: Vec<&str> =
        acct["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["registered", "frozen", "rekeyed", "unfrozen", "auth-key-rotated"]);
    let history = c.json(&["bank", "history", "--dir", "bank", "--account", &alice]);
    assert_eq!(history["events"][2]["reason"], "identified at the branch");
    assert_eq!(history["events"][3]["reason"], "re-keyed; shop2 repaid");
    // Nothing interrupted: resume and release have nothing to do.
    let r = c.json(&["wallet", "resume", "--dir", "alice", "--bank", "bank", "--release"]);
    assert_eq!(r["released"], 0);
    assert_eq!(c.balance_of(&alice), 157);
}

/// A payment the bank refuses (here: under another bank's keyset) is kept
/// apart with its reason, never deposited again, and never blocks the
/// merchant's other payments.
#[test]
fn refused_payments_are_kept_apart_with_their_reason() {
    use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
    use faircash::protocol::pay::PaymentRequest;
    use faircash::protocol::trust::TtpValidity;
    use faircash::roles::{Bank, BankConfig, TtpKeys, Wallet};
    use faircash::store::memory::{MemoryBankStore, MemoryWalletStore};
    use faircash::store::sqlite::SqliteMerchantStore;
    use faircash::store::MerchantStore;
    use faircash::time::{Clock, SystemClock};
    use faircash::wire::WireMessage;
    use rand::rngs::OsRng;
    use std::sync::Arc;

    let c = Cli::new();
    c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "8"]);
    c.pay("alice", "shop", 8, "p");
    // A customer of another bank pays the shop; the shop's store takes the
    // payment as a careless merchant would.
    let other = Bank::open(
        MemoryBankStore::new(),
        BankSecrets::generate(&mut OsRng),
        Arc::new(SystemClock),
        BankConfig::default(),
    )
    .unwrap();
    let today = SystemClock.today();
    let ttp = TtpKeys::generate(&mut OsRng);
    let validity = TtpValidity {
        escrow_from: today.minus(1),
        escrow_until: today.plus(60),
        trace_until: today.plus(400),
    };
    let statement = ttp.statement(0, validity, faircash::time::Timestamp(0), &mut OsRng).unwrap();
    other.set_ttp_statements(vec![statement.clone()]).unwrap();
    other
        .issue_keyset(
            *ttp.decryption.public(),
            &KeysetSpec {
                exponents: 0..=3,
                withdraw_from: SystemClock.today(),
                withdraw_days: 30,
                policy: KeysetPolicy::default(),
            },
            &mut OsRng,
        )
        .unwrap();
    let mut mallory = Wallet::new(
        AccountKeys::generate(&mut OsRng),
        other.master_key(),
        MemoryWalletStore::new(),
        Arc::new(SystemClock),
    );
    mallory.pin_keysets(&other.published_keysets()).unwrap();
    mallory.anchors_mut().trust_ttp(&statement).unwrap();
    let id = other.register_user(&mallory.registration(&mut OsRng), &mut OsRng).unwrap();
    other.fund(&id, 4).unwrap();
    mallory.withdraw(&other, 4, &mut OsRng).unwrap();
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "4", "--out", "foreign-req.json"]);
    let req =
        PaymentRequest::from_json(&std::fs::read_to_string(c.path("foreign-req.json")).unwrap()).unwrap();
    let payment = mallory.pay(&req, &mut OsRng).unwrap();
    let ids: Vec<_> = payment.coins.iter().map(|coin| coin.id()).collect();
    SqliteMerchantStore::open(c.path("shop/merchant.db"))
        .unwrap()
        .accept_payment(&req.id(), &ids, &payment)
        .unwrap();

    // A refused payment makes the deposit's outcome a refusal (exit 4),
    // after the rest is credited.
    let (out, err) = c.piped(4, b"", &["--json", "merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert!(err.contains("1 payment(s) refused"), "{err}");
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["credited"], 8);
    let refused = out["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["refusal"], "unknown_keyset");
    assert_eq!(refused[0]["reason"], "the bank does not know the keyset of a coin of the payment");
    assert_eq!(out["receipts"][0]["payments"], serde_json::json!(["verified", "refused"]));
    let shop = c.merchant_account("shop");
    assert_eq!(c.balance_of(&shop), 8);
    let listed = c.ok(&["merchant", "payments", "--dir", "shop", "--refused"]);
    assert!(
        listed.contains("REFUSED: the bank does not know the keyset of a coin of the payment"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let listed = c.json(&["merchant", "payments", "--dir", "shop", "--refused"]);
    assert_eq!(listed["payments"][0]["state"], "refused");
    assert_eq!(listed["payments"][0]["refusal"], "unknown_keyset");
    assert_eq!(c.json(&["merchant", "status", "--dir", "shop"])["refused_payments"], 1);
    // Never again, and the next payment goes through alone.
    assert!(c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]).contains("nothing to deposit"));
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "2"]);
    c.pay("alice", "shop", 2, "q");
    let out = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!((out["credited"].as_u64(), out["refused"].as_array().unwrap().len()), (Some(2), 0));
    assert_eq!(c.balance_of(&shop), 10);
}

#[test]
fn wallet_new_shows_the_recovery_phrase_once_and_keeps_only_the_seed() {
    use faircash::crypto::derive::RecoveryPhrase;
    let c = Cli::new();
    c.setup();
    // JSON without --phrase-in-json: the phrase goes to stderr only.
    let o =
        c.run(&["--json", "wallet", "new", "--dir", "dora", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["recovery_phrase"].is_null());
    let stderr = String::from_utf8(o.stderr).unwrap();
    let words = stderr.lines().last().unwrap();
    assert_eq!(words.split(' ').count(), 24, "{stderr}");
    RecoveryPhrase::parse(words).unwrap();
    // Asked for explicitly: in the JSON; the wallet keeps the seed (0600),
    // never the phrase, and withdraws with values derived from it.
    let erin = c.json(&[
        "wallet",
        "new",
        "--dir",
        "erin",
        "--bank",
        "bank",
        "--ttp",
        "ttp/ttp.pub.json",
        "--phrase-in-json",
    ]);
    let phrase = RecoveryPhrase::parse(erin["recovery_phrase"].as_str().unwrap()).unwrap();
    let stored: String =
        serde_json::from_str(&std::fs::read_to_string(c.path("erin/wallet.seed")).unwrap()).unwrap();
    assert_eq!(stored, hex::encode(phrase.seed().expose_secret()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.path("erin/wallet.seed")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for entry in std::fs::read_dir(c.path("erin")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let first_words = phrase.expose_secret().split(' ').take(3).collect::<Vec<_>>().join(" ");
        assert!(!String::from_utf8_lossy(&bytes).contains(&first_words), "no file holds the phrase");
    }
    let account = erin["account"].as_str().unwrap();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", account, "--amount", "3"]);
    c.ok(&["wallet", "withdraw", "--dir", "erin", "--bank", "bank", "--amount", "3"]);
    let db = rusqlite::Connection::open(c.path("erin/wallet.db")).unwrap();
    let next: i64 = db.query_row("SELECT next FROM counters", [], |r| r.get(0)).unwrap();
    assert_eq!(next, 2, "two coins (2 + 1), two counters burned");
    // Text output shows the phrase.
    let text = c.ok(&["wallet", "new", "--dir", "fay", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    assert!(text.contains("recovery phrase"), "{text}");
    RecoveryPhrase::parse(text.lines().last().unwrap()).unwrap();
}

/// A payee that meets a keyset the bank issued after it last looked asks
/// the bank for its keysets (chain verified) and accepts: a merchant and a
/// receiving wallet alike (one implementation, `PayeeRole::accept_or_refresh`).
#[test]
fn cli_payees_fetch_a_keyset_issued_since() {
    let c = Cli::new();
    c.setup();
    c.json(&["wallet", "new", "--dir", "bob", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    c.ok(&["bank", "keyset", "--dir", "bank", "--rotate"]);
    // alice withdraws under the new keyset (an on-line command refreshes).
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "8"]);
    c.ok(&["wallet", "request", "--dir", "bob", "--amount", "4", "--out", "b-req.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "b-req.json", "--out", "b-pay.json"]);
    let keysets = |dir: &str| std::fs::read_to_string(c.path(&format!("{dir}/keysets.json"))).unwrap();
    let before = keysets("bob");
    c.ok(&["wallet", "receive", "--dir", "bob", "--payment", "b-pay.json"]);
    assert_ne!(keysets("bob"), before, "the new keyset is pinned and saved");
    c.ok(&["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    c.pay("alice", "shop", 4, "s");
}

/// A payee refuses a payment (`merchant refuse`, `wallet refuse`); the payer
/// reclaims it (`wallet reclaim`), once; nobody else can.
#[test]
fn cli_a_refused_payment_is_reclaimed_by_its_payer_only() {
    let c = Cli::new();
    let alice = c.setup();
    c.json(&["wallet", "new", "--dir", "bob", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "15"]);
    c.ok(&["wallet", "request", "--dir", "bob", "--amount", "5", "--out", "r.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r.json", "--out", "p.json"]);
    c.ok(&["wallet", "refuse", "--dir", "bob", "--payment", "p.json", "--out", "refusal.json"]);
    // Refused for good: bob never accepts it after.
    c.fails(4, &["wallet", "receive", "--dir", "bob", "--payment", "p.json"]);
    // Not a refusal file; not a payment of bob's wallet.
    c.fails(3, &["wallet", "reclaim", "--dir", "alice", "--bank", "bank", "--refusal", "p.json"]);
    c.fails(4, &["wallet", "reclaim", "--dir", "bob", "--bank", "bank", "--refusal", "refusal.json"]);
    assert_eq!(c.balance_of(&alice), 185);
    let out = c.json(&[
        "wallet",
        "reclaim",
        "--dir",
        "alice",
        "--bank",
        "bank",
        "--refusal",
        "refusal.json",
        "--payment",
        "p.json",
    ]);
    assert_eq!(out["credited"], 5, "{out}");
    assert_eq!(c.balance_of(&alice), 190);
    let again =
        c.json(&["wallet", "reclaim", "--dir", "alice", "--bank", "bank", "--refusal", "refusal.json"]);
    assert_eq!(again["credited"], 0, "{again}");
    assert_eq!(c.balance_of(&alice), 190);
    let status = c.json(&["bank", "status", "--dir", "bank"]);
    assert_eq!(status["broken_refusals"], serde_json::json!([]), "{status}");
    // The merchant refuses the same way.
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "2", "--out", "r2.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2.json"]);
    c.ok(&["merchant", "refuse", "--dir", "shop", "--payment", "p2.json", "--out", "refusal2.json"]);
    c.fails(4, &["merchant", "refuse", "--dir", "shop", "--payment", "p.json", "--out", "x.json"]);
    assert_eq!(
        c.json(&["wallet", "reclaim", "--dir", "alice", "--bank", "bank", "--refusal", "refusal2.json"])
            ["credited"],
        2
    );
}

#[test]
fn wallet_restore_reads_the_phrase_from_stdin_and_reports_the_coins() {
    use faircash::crypto::derive::RecoveryPhrase;
    let c = Cli::new();
    c.setup();
    let (phrase, account) = c.phrase_wallet("erin");
    let account = account.as_str();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", account, "--amount", "3"]);
    c.ok(&["wallet", "withdraw", "--dir", "erin", "--bank", "bank", "--amount", "3"]);
    let args =
        ["--json", "wallet", "restore", "--dir", "erin2", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"];
    // A bad checksum: invalid input, nothing created.
    let words: Vec<&str> = phrase.split(' ').collect();
    let swapped = [&words[1..], &words[..1]].concat().join(" ");
    assert!(RecoveryPhrase::parse(&swapped).is_err());
    c.piped(3, swapped.as_bytes(), &args);
    assert!(!c.path("erin2").exists(), "nothing left behind");
    // Another phrase: no account at this bank, nothing created.
    let other = RecoveryPhrase::generate(&mut rand::rngs::OsRng);
    c.piped(3, other.expose_secret().as_bytes(), &args);
    assert!(!c.path("erin2").exists(), "nothing left behind");
    // The phrase: the account, its counters, the coins reported.
    let (stdout, _) = c.piped(0, format!("{phrase}\n").as_bytes(), &args);
    let doc: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(doc["account"].as_str().unwrap(), account);
    assert_eq!((doc["recovered"].as_u64(), doc["recovered_value"].as_u64()), (Some(2), Some(3)));
    // Nothing was spent: every coin stated unspent, exchanged for fresh
    // coins; the balance is the value withdrawn.
    assert_eq!((doc["coins_spent"].as_u64(), doc["coins_unspent"].as_u64()), (Some(0), Some(2)));
    assert_eq!((doc["exchanged"].as_u64(), doc["balance"].as_u64()), (Some(3), Some(3)));
    assert!(doc["spent_lists"]["pages"].as_u64().unwrap() >= 1);
    assert_eq!(doc["withheld"].as_array().unwrap().len(), 0);
    let db = rusqlite::Connection::open(c.path("erin2/wallet.db")).unwrap();
    let next: i64 = db.query_row("SELECT next FROM counters", [], |r| r.get(0)).unwrap();
    assert_eq!(next, 4, "past the two counters used, and the two of the exchange's new coins");
    // The restored wallet works at the bank: its account's status.
    c.ok(&["wallet", "account", "--dir", "erin2", "--bank", "bank"]);
    // Its stored statement holds up against the bank's lists later on.
    let audit = c.json(&["wallet", "audit-statements", "--dir", "erin2", "--bank", "bank"]);
    assert_eq!(
        (audit["statements"].as_u64(), audit["contradictions"].as_array().map(Vec::len)),
        (Some(1), Some(0))
    );
    // A wallet is never restored over another.
    c.piped(4, phrase.as_bytes(), &args);
}

#[test]
fn cli_pays_9_from_8_under_the_old_keyset_and_1_under_the_new() {
    let c = Cli::new();
    let alice = c.setup();
    let shop = c.merchant_account("shop");
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "8"]);
    c.ok(&["bank", "keyset", "--dir", "bank", "--rotate"]);
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "1"]);
    assert_eq!(c.json(&["bank", "keyset", "--dir", "bank"])["keysets"].as_array().unwrap().len(), 2);

    c.pay("alice", "shop", 9, "mixed");
    let payment: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("mixed-pay.json")).unwrap()).unwrap();
    let keysets: std::collections::BTreeSet<String> = payment["body"]["coins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|coin| coin["body"]["keyset_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keysets.len(), 2, "one coin of each keyset: {payment}");

    let receipt = c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!(receipt["credited"], 9, "{receipt}");
    assert_eq!(c.balance_of(&shop), 9);
    assert_eq!(c.balance_of(&alice), 191);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "alice"])["spendable"], 0);
}

/// The values of the unspent coins of `wallet`, sorted.
fn unspent_values(c: &Cli, wallet: &str) -> Vec<u64> {
    unspent_coins(c, wallet).into_iter().map(|(v, _)| v).collect()
}

/// Whether every amount from 1 to `min(64, total)` is the sum of some of
/// `values` (every subset tried: an independent check of the reach).
fn pays_every_amount_up_to_64(values: &[u64]) -> bool {
    assert!(values.len() <= 16, "{values:?}");
    let total: u64 = values.iter().sum();
    let sums: std::collections::BTreeSet<u64> = (0u32..1 << values.len())
        .map(|m| values.iter().enumerate().filter(|(i, _)| m >> i & 1 == 1).map(|(_, v)| v).sum())
        .collect();
    (1..=total.min(64)).all(|a| sums.contains(&a))
}

/// Change made ahead of time is the default (protocol §9.8): a withdrawal
/// of 64 as one coin is exchanged right away into one coin of each
/// denomination from the smallest up, so 37 is then paid off-line; the
/// gap a payment leaves is closed by the next on-line command; a payment
/// received reaches the coins through a withdrawal, which makes its change
/// too; `--no-change` keeps the coins as withdrawn, and then 37 cannot be
/// paid off-line. Money is conserved (accounts + coins held) throughout.
#[test]
fn cli_change_is_made_ahead_of_time_by_default() {
    let c = Cli::new();
    let alice = c.setup();
    let shop = c.merchant_account("shop");
    let bob = c.json(&["wallet", "new", "--dir", "bob", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    let bob = bob["account"].as_str().unwrap().to_string();
    let spendable = |w: &str| c.json(&["wallet", "balance", "--dir", w])["spendable"].as_u64().unwrap();
    let total = || {
        c.balance_of(&alice)
            + spendable("alice")
            + c.balance_of(&shop)
            + c.balance_of(&bob)
            + spendable("bob")
    };

    let out = c.run(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "64"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "made change ahead of time: exchanged a coin of 64 for 64 (32 + 16 + 8 + 4 + 2 + 2 × 1)"
        ),
        "{err}"
    );
    assert_eq!(unspent_values(&c, "alice"), [1, 1, 2, 4, 8, 16, 32]);
    assert_eq!((c.balance_of(&alice), total()), (136, 200));
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "37", "--out", "r1.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r1.json", "--out", "p1.json", "--offline"]);
    c.ok(&["merchant", "accept", "--dir", "shop", "--payment", "p1.json"]);
    c.ok(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    assert_eq!((c.balance_of(&shop), total()), (37, 200));

    // What is left no longer pays every amount up to its value; the next
    // on-line command (here `wallet refresh`, with nothing to renew)
    // closes the gap.
    let left = unspent_values(&c, "alice");
    assert_eq!(left.iter().sum::<u64>(), 27);
    assert!(!pays_every_amount_up_to_64(&left), "{left:?}");
    c.ok(&["wallet", "refresh", "--dir", "alice", "--bank", "bank"]);
    let closed = unspent_values(&c, "alice");
    assert_eq!(closed.iter().sum::<u64>(), 27);
    assert!(pays_every_amount_up_to_64(&closed), "{closed:?}");
    assert_eq!(total(), 200);

    // Bob receives 20 from alice off-line, deposits it to his account and
    // withdraws it: as 16 + 4, then changed so that 1..=20 can all be paid.
    c.ok(&["wallet", "request", "--dir", "bob", "--amount", "20", "--out", "r2.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2.json", "--offline"]);
    c.ok(&["wallet", "receive", "--dir", "bob", "--payment", "p2.json"]);
    assert_eq!(c.json(&["wallet", "deposit", "--dir", "bob", "--bank", "bank"])["credited"], 20);
    assert_eq!(total(), 200);
    let w = c.json(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "20"]);
    assert_eq!(w["denominations"], serde_json::json!([16, 4]));
    let exchanged: Vec<u64> =
        w["change"].as_array().unwrap().iter().map(|e| e["exchanged"].as_u64().unwrap()).collect();
    assert_eq!(exchanged, [4, 16], "{w}");
    let received = unspent_values(&c, "bob");
    assert_eq!(received.iter().sum::<u64>(), 20);
    assert!(pays_every_amount_up_to_64(&received), "{received:?}");
    assert_eq!((c.balance_of(&bob), total()), (0, 200));

    // --no-change: one coin of 64 stays one coin, and 37 cannot be paid
    // off-line with it.
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &bob, "--amount", "64"]);
    let plain =
        c.json(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "64", "--no-change"]);
    assert_eq!(
        (&plain["denominations"], &plain["change"]),
        (&serde_json::json!([64]), &serde_json::json!([]))
    );
    let mut values = received.clone();
    values.push(64);
    values.sort_unstable();
    assert_eq!(unspent_values(&c, "bob"), values);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "37", "--out", "r3.json"]);
    c.fails(4, &["wallet", "pay", "--dir", "bob", "--request", "r3.json", "--out", "p3.json", "--offline"]);
    assert_eq!(total(), 264);
}

/// The unspent coins of `wallet` as (value, expiry day), sorted.
fn unspent_coins(c: &Cli, wallet: &str) -> Vec<(u64, String)> {
    let coins = c.json(&["wallet", "coins", "--dir", wallet]);
    let mut out: Vec<(u64, String)> = coins["coins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spent"] == false)
        .map(|c| (c["value"].as_u64().unwrap(), c["expires"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

/// A new wallet `name` with 200 in its account and 45 withdrawn as
/// `32 + 8 + 4 + 1` (no change made); returns its account.
fn wallet_with_45(c: &Cli, name: &str) -> String {
    let w = c.json(&["wallet", "new", "--dir", name, "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    let id = w["account"].as_str().unwrap().to_string();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &id, "--amount", "200"]);
    c.ok(&["wallet", "withdraw", "--dir", name, "--bank", "bank", "--amount", "45", "--no-change"]);
    id
}

/// Coins near expiry are renewed by an on-line command and by `wallet
/// refresh` (in local mode and through `bank serve`, all on a clock moved
/// 80 days ahead: the coins of the default keyset are valid 90 days, the
/// deposit window is 14); on a clock past expiry, coins nobody renewed are
/// shown as expired, count in no spendable balance, and `wallet pay`
/// refuses them. Money is conserved: account + coins held.
#[test]
fn cli_coins_near_expiry_are_renewed_and_expired_coins_are_not_spendable() {
    let c = Cli::new();
    let alice = c.setup();
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "45", "--no-change"]);
    let bob = wallet_with_45(&c, "bob");
    let carol = wallet_with_45(&c, "carol");
    // Renewed by `wallet account`, `wallet deposit` and `wallet resume`.
    let others: Vec<(&str, String)> =
        ["dave", "erin", "frank"].iter().map(|w| (*w, wallet_with_45(&c, w))).collect();
    let issued = unspent_coins(&c, "alice");
    assert_eq!(issued.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [1, 4, 8, 32]);
    let expiry = issued[0].1.clone();
    assert!(issued.iter().all(|(_, e)| *e == expiry), "{issued:?}");
    let held = |w: &str| {
        let b = c.json(&["wallet", "balance", "--dir", w]);
        (b["spendable"].as_u64().unwrap(), b["expiring"].as_u64().unwrap(), b["expired"].as_u64().unwrap())
    };
    assert_eq!(held("alice"), (45, 0, 0));

    // Day +80: the coins expire in 10 days, within the deposit window.
    c.set_clock(80);
    assert_eq!(held("alice"), (45, 45, 0), "shown as expiring soon, still spendable");
    // Any on-line command renews them first (here a withdrawal of 1).
    let out =
        c.run(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "1", "--no-change"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("renewed coins worth 45"), "{out:?}");
    let renewed = unspent_coins(&c, "alice");
    assert_eq!(renewed.iter().map(|(v, _)| *v).sum::<u64>(), 46, "{renewed:?}");
    assert!(renewed.iter().all(|(_, e)| *e > expiry), "fresh coins: {renewed:?} (old expiry {expiry})");
    assert_eq!(held("alice"), (46, 0, 0));
    assert_eq!(c.balance_of(&alice) + 46, 200);

    // `wallet refresh` on demand, through a bank node on the same clock.
    let node = Node::start(&c, "bank");
    let r = c.json(&["wallet", "refresh", "--dir", "bob", "--bank", &node.url, "--no-change"]);
    drop(node);
    assert_eq!((r["renewed_coins"].as_u64(), r["renewed_value"].as_u64()), (Some(4), Some(45)), "{r}");
    let renewed = unspent_coins(&c, "bob");
    assert_eq!(renewed.iter().map(|(v, _)| *v).sum::<u64>(), 45);
    assert!(renewed.iter().all(|(_, e)| *e > expiry), "{renewed:?}");
    assert_eq!(held("bob"), (45, 0, 0));
    assert_eq!(c.balance_of(&bob) + 45, 200);

    // Every other on-line wallet command renews too.
    for ((w, id), cmd) in others.iter().zip(["account", "deposit", "resume"]) {
        let out = c.run(&["wallet", cmd, "--dir", w, "--bank", "bank"]);
        assert!(out.status.success(), "{cmd}: {out:?}");
        let renewed = unspent_coins(&c, w);
        assert_eq!(renewed.iter().map(|(v, _)| *v).sum::<u64>(), 45, "{cmd}");
        assert!(renewed.iter().all(|(_, e)| *e > expiry), "`wallet {cmd}` renews: {renewed:?}");
        assert_eq!(c.balance_of(id) + 45, 200);
    }

    // Day +91: carol's coins, never renewed, have expired; the renewed
    // coins of alice and bob are spendable.
    c.set_clock(91);
    assert_eq!(held("carol"), (0, 0, 45));
    assert_eq!(held("alice"), (46, 0, 0));
    assert_eq!(held("bob"), (45, 0, 0));
    let text = c.ok(&["wallet", "balance", "--dir", "carol"]);
    assert!(text.contains("balance 0 spendable") && text.contains("45 expired (not spendable)"), "{text}");
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "5", "--out", "r5.json"]);
    for flags in [&["--offline"][..], &["--bank", "bank"]] {
        let mut args = vec!["wallet", "pay", "--dir", "carol", "--request", "r5.json", "--out", "p5.json"];
        args.extend_from_slice(flags);
        let err = c.fails(4, &args);
        assert!(err.contains("coins worth 45 expired"), "{flags:?}: {err}");
        assert!(!c.path("p5.json").exists());
    }
    assert_eq!(held("carol"), (0, 0, 45));
    assert_eq!(c.balance_of(&carol) + 45, 200, "the expired coins are still held, nothing spent");
    // Alice pays 5 from her renewed coins on the same day.
    c.pay("alice", "shop", 5, "a5");
    assert_eq!(c.json(&["merchant", "deposit", "--dir", "shop", "--bank", "bank"])["credited"], 5);
}

/// The test clock's variable takes whole days only: anything else is a
/// usage error (exit 2), so a misspelt value cannot leave a test on the
/// real clock. (A build without the `failpoints` feature never reads it:
/// `.ci/run` checks that with the release binary.)
#[test]
fn cli_test_clock_refuses_a_value_that_is_not_whole_days() {
    let c = Cli::new();
    for bad in ["ninety", "1.5", "200000", ""] {
        let err = c
            .command()
            .env(faircash::cli::TEST_CLOCK_ENV, bad)
            .args(["ttp", "keygen", "--dir", "ttp"])
            .output()
            .unwrap();
        assert_eq!(err.status.code(), Some(2), "{bad:?}: {err:?}");
        assert!(String::from_utf8_lossy(&err.stderr).contains(faircash::cli::TEST_CLOCK_ENV), "{err:?}");
        assert!(!c.path("ttp").exists());
    }
}
