//! The JSON output of every command against its documented shape
//! (docs/cli-json.md): the page is parsed here, so a change of output that
//! the page does not describe fails, and so does a page entry no command
//! produces.

mod cli_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use cli_support::contract::{documented, text, Contract};
use cli_support::*;
use serde_json::Value;

#[test]
fn every_commands_json_output_has_its_documented_shape() {
    let mut k = Contract { shapes: documented(), seen: BTreeSet::new() };
    let c = Cli::new();
    k.ok(&c, 2, &["ttp", "keygen", "--dir", "ttp"]);
    k.ok(&c, 2, &["warrant", "keygen", "--dir", "judge"]);
    k.ok(&c, 2, &["ttp", "trust-issuer", "--dir", "ttp", "--key", "judge/judge.pub.json"]);
    k.ok(&c, 2, &["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "8"]);
    k.ok(&c, 2, &["ttp", "trust-bank", "--dir", "ttp", "--keysets", "bank/keysets.json"]);
    k.ok(&c, 2, &["bank", "keyset", "--dir", "bank"]);
    let alice = text(
        &k.ok(&c, 2, &["wallet", "new", "--dir", "alice", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"])
            ["account"],
    );
    k.ok(&c, 2, &["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "200"]);
    let bob = text(&k.ok(&c, 2, &["wallet", "new", "--dir", "bob", "--ttp", "ttp/ttp.pub.json"])["account"]);
    k.ok(
        &c,
        2,
        &["bank", "open-account", "--dir", "bank", "--registration", "bob/registration.json", "--fund", "50"],
    );
    k.ok(&c, 2, &["wallet", "register", "--dir", "bob", "--bank", "bank"]);
    k.ok(&c, 2, &["merchant", "new", "--dir", "shop", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    k.ok(&c, 2, &["merchant", "new", "--dir", "shop2", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
    k.ok(&c, 2, &["bank", "register-merchant", "--dir", "bank", "--registration", "shop/registration.json"]);

    k.ok(&c, 2, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "45"]);
    k.ok(&c, 2, &["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "24"]);
    k.ok(&c, 2, &["wallet", "resume", "--dir", "alice", "--bank", "bank"]);
    k.ok(&c, 2, &["wallet", "exchange", "--dir", "alice", "--bank", "bank", "--amount", "3"]);
    k.ok(&c, 2, &["wallet", "refresh", "--dir", "alice", "--bank", "bank"]);
    k.ok(&c, 2, &["wallet", "balance", "--dir", "alice"]);
    k.ok(&c, 2, &["wallet", "info", "--dir", "alice"]);
    k.ok(&c, 2, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    k.ok(
        &c,
        2,
        &["merchant", "request", "--dir", "shop", "--amount", "16", "--order", "tea", "--out", "r1.json"],
    );
    k.ok(
        &c,
        2,
        &["wallet", "pay", "--dir", "bob", "--request", "r1.json", "--order", "tea", "--out", "p1.json"],
    );
    k.ok(&c, 2, &["merchant", "accept", "--dir", "shop", "--payment", "p1.json"]);
    k.ok(&c, 2, &["merchant", "status", "--dir", "shop"]);
    k.ok(&c, 2, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    k.ok(&c, 2, &["merchant", "payments", "--dir", "shop"]);
    // Bob asks alice for a payment, receives it off-line, deposits it.
    k.ok(&c, 2, &["wallet", "request", "--dir", "bob", "--amount", "1", "--out", "r2.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r2.json", "--out", "p2.json"]);
    k.ok(&c, 2, &["wallet", "receive", "--dir", "bob", "--payment", "p2.json"]);
    k.ok(&c, 2, &["wallet", "deposit", "--dir", "bob", "--bank", "bank"]);
    k.ok(&c, 2, &["wallet", "received", "--dir", "bob"]);
    let coins = k.ok(&c, 2, &["wallet", "coins", "--dir", "bob"]);
    let bob_coin = coins["coins"].as_array().unwrap().iter().find(|x| x["spent"] == true).unwrap()["coin_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Alice refuses bob's payment with a signed refusal; bob reclaims it.
    // Then the shop refuses one of his, and he reclaims that too.
    c.ok(&["wallet", "request", "--dir", "alice", "--amount", "8", "--out", "r3.json"]);
    c.ok(&["wallet", "pay", "--dir", "bob", "--request", "r3.json", "--out", "p3.json"]);
    k.ok(&c, 2, &["wallet", "refuse", "--dir", "alice", "--payment", "p3.json", "--out", "refusal3.json"]);
    let reclaimed =
        k.ok(&c, 2, &["wallet", "reclaim", "--dir", "bob", "--bank", "bank", "--refusal", "refusal3.json"]);
    assert_eq!(reclaimed["credited"], 8);
    c.ok(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "8"]);
    c.ok(&["merchant", "request", "--dir", "shop", "--amount", "8", "--out", "r4.json"]);
    c.ok(&["wallet", "pay", "--dir", "bob", "--request", "r4.json", "--out", "p4.json"]);
    k.ok(&c, 2, &["merchant", "refuse", "--dir", "shop", "--payment", "p4.json", "--out", "refusal4.json"]);
    c.ok(&["wallet", "reclaim", "--dir", "bob", "--bank", "bank", "--refusal", "refusal4.json"]);

    // A double spend: the second deposit identifies alice.
    copy_dir(&c.path("alice"), &c.path("alice-clone"));
    c.pay("alice", "shop", 32, "d1");
    c.pay("alice-clone", "shop2", 32, "d2");
    k.ok(&c, 2, &["merchant", "deposit", "--dir", "shop", "--bank", "bank"]);
    // Exit 4, and the receipt is the only document on stdout.
    let d = k.run(&c, 2, 4, &["merchant", "deposit", "--dir", "shop2", "--bank", "bank"]);
    assert_eq!(d["receipts"][0]["outcomes"][0]["outcome"], "double_spent");
    let ev = k.ok(&c, 2, &["bank", "evidence", "--dir", "bank", "--out", "evidence.json"]);
    assert_eq!(ev["evidence"][0]["account"], alice.as_str());
    k.ok(&c, 2, &["evidence", "verify", "evidence.json", "--keysets", "bank/keysets.json"]);
    k.ok(&c, 2, &["bank", "status", "--dir", "bank"]);

    // Re-keying and unfreezing alice's account; her authentication key.
    k.ok(&c, 2, &["wallet", "account", "--dir", "alice", "--bank", "bank"]);
    k.ok(&c, 2, &["wallet", "rekey", "--dir", "alice", "--out", "rekey.json"]);
    let reason = ["--reason", "identified"];
    k.ok(
        &c,
        2,
        &[&["bank", "rekey", "--dir", "bank", "--account", &alice, "--request", "rekey.json"][..], &reason]
            .concat(),
    );
    k.ok(&c, 2, &[&["bank", "unfreeze", "--dir", "bank", "--account", &alice][..], &reason].concat());
    k.ok(&c, 2, &["bank", "history", "--dir", "bank", "--account", &alice]);
    c.ok(&["--json", "wallet", "rekey", "--dir", "alice", "--activate", "--bank", "bank"]);
    k.ok(&c, 2, &["wallet", "rotate-auth-key", "--dir", "alice", "--bank", "bank"]);

    // Tracing.
    let spends = k.ok(&c, 2, &["bank", "spends", "--dir", "bank"]);
    assert!(spends["spends"].as_array().unwrap().iter().any(|s| s["coin_id"] == bob_coin.as_str()));
    k.ok(&c, 2, &["bank", "export-spend", "--dir", "bank", "--coin", &bob_coin, "--out", "rec.json"]);
    k.ok(
        &c,
        2,
        &[
            "warrant", "issue", "--dir", "judge", "--kind", "owner", "--record", "rec.json", "--case", "C1",
            "--reason", "audit", "--out", "w1.json",
        ],
    );
    k.ok(
        &c,
        2,
        &[
            "ttp",
            "trace-owner",
            "--dir",
            "ttp",
            "--warrant",
            "w1.json",
            "--record",
            "rec.json",
            "--out",
            "res1.json",
        ],
    );
    k.ok(
        &c,
        2,
        &[
            "ttp",
            "verify-trace",
            "--ttp",
            "ttp/ttp.pub.json",
            "--warrant",
            "w1.json",
            "--record",
            "rec.json",
            "--result",
            "res1.json",
        ],
    );
    let applied = k.ok(
        &c,
        2,
        &[
            "bank",
            "apply-trace",
            "--dir",
            "bank",
            "--result",
            "res1.json",
            "--warrant",
            "w1.json",
            "--record",
            "rec.json",
            "--ttp",
            "ttp/ttp.pub.json",
        ],
    );
    assert_eq!(applied["account"], bob.as_str());
    let sessions = k.ok(&c, 2, &["bank", "withdrawals", "--dir", "bank", "--account", &bob]);
    let session = text(&sessions["withdrawals"][0]["session"]);
    k.ok(&c, 2, &["bank", "export-withdrawal", "--dir", "bank", "--session", &session, "--out", "wrec.json"]);
    k.ok(
        &c,
        2,
        &[
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
        ],
    );
    k.ok(
        &c,
        2,
        &[
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
        ],
    );
    k.ok(
        &c,
        2,
        &[
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
        ],
    );
    k.ok(&c, 2, &["bank", "watch-list", "--dir", "bank", "--out", "watch.json"]);
    k.ok(&c, 2, &["merchant", "watch-list", "--dir", "shop", "--list", "watch.json"]);
    k.ok(&c, 3, &["ttp", "log", "head", "--dir", "ttp", "--out", "head.json"]);
    k.ok(&c, 3, &["ttp", "log", "verify", "--dir", "ttp", "--head", "head.json"]);
    k.ok(&c, 2, &["bank", "prune", "--dir", "bank"]);
    k.ok(&c, 2, &["bank", "mark-restored", "--dir", "bank"]);

    // A renewed TTP key statement, pinned by the bank, a wallet and a merchant.
    let st =
        k.ok(&c, 2, &["ttp", "statement", "--dir", "ttp", "--escrow-days", "1095", "--trace-days", "1460"]);
    assert_eq!(st["sequence"], 1);
    let t = k.ok(&c, 2, &["bank", "trust-ttp", "--dir", "bank", "--statement", "ttp/ttp.pub.json"]);
    assert_eq!((&t["change"], &t["previous"]), (&Value::from("superseded"), &Value::from(0)));
    let t = k.ok(&c, 2, &["bank", "trust-ttp", "--dir", "bank", "--statement", "ttp/ttp.pub.json"]);
    assert_eq!((&t["change"], &t["previous"]), (&Value::from("unchanged"), &Value::Null));
    k.ok(&c, 2, &["wallet", "trust-ttp", "--dir", "bob", "--ttp", "ttp/ttp.pub.json"]);
    k.ok(&c, 2, &["merchant", "trust-ttp", "--dir", "shop", "--ttp", "ttp/ttp.pub.json"]);

    // A backup, and a restore with the phrase on stdin.
    let dora = k.ok(
        &c,
        2,
        &[
            "wallet",
            "new",
            "--dir",
            "dora",
            "--bank",
            "bank",
            "--ttp",
            "ttp/ttp.pub.json",
            "--phrase-in-json",
        ],
    );
    k.ok(&c, 2, &["wallet", "backup", "--dir", "dora", "--out", "dora.backup"]);
    let phrase = text(&dora["recovery_phrase"]);
    let (out, _) = c.piped(
        0,
        phrase.as_bytes(),
        &["--json", "wallet", "restore", "--backup", "dora.backup", "--dir", "dora2"],
    );
    k.check("wallet restore", &serde_json::from_slice(&out).unwrap());
    let (out, _) = c.piped(
        0,
        phrase.as_bytes(),
        &["--json", "wallet", "restore", "--bank", "bank", "--ttp", "ttp/ttp.pub.json", "--dir", "dora3"],
    );
    k.check("wallet restore --bank", &serde_json::from_slice(&out).unwrap());
    let audit = k.ok(&c, 2, &["wallet", "audit-statements", "--dir", "dora3", "--bank", "bank"]);
    assert_eq!(audit["contradictions"], serde_json::json!([]), "an honest bank: {audit}");
    let (out, _) = c.piped(
        0,
        phrase.as_bytes(),
        &[
            "--json",
            "wallet",
            "restore",
            "--sweep-to",
            "dora4",
            "--bank",
            "bank",
            "--ttp",
            "ttp/ttp.pub.json",
        ],
    );
    k.check("wallet restore --sweep-to", &serde_json::from_slice(&out).unwrap());

    // Errors, in every class the command line reports.
    k.run(&c, 2, 3, &["wallet", "balance", "--dir", "nowhere"]);
    k.run(&c, 2, 4, &["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "1000"]);

    // A served bank reports when it stops.
    let mut node = Command::new(env!("CARGO_BIN_EXE_faircash"))
        .args(["--json", "bank", "serve", "--dir", "bank", "--listen", "127.0.0.1:0"])
        .current_dir(c.root.path())
        .env("FAIRCASH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stderr.take().unwrap()).lines();
    let _ = lines.find(|l| l.as_ref().is_ok_and(|l| l.starts_with("bank serving on")));
    assert!(Command::new("kill").args(["-TERM", &node.id().to_string()]).status().unwrap().success());
    let o = node.wait_with_output().unwrap();
    assert!(o.status.success(), "{:?}", o.status);
    k.check("bank serve", &serde_json::from_slice(&o.stdout).unwrap());

    // The demo's event stream: one documented event per line.
    let o = c.run(&["demo", "--memory", "--http", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("demo: {line:?}: {e}"));
        let name = format!("demo event {}", v["event"].as_str().unwrap());
        k.check(&name, &v);
    }

    // The trustees' commands are run by tests/trustee_cli.rs.
    let never: Vec<&String> =
        k.shapes.keys().filter(|s| !k.seen.contains(*s) && !Contract::trustees(s)).collect();
    assert!(never.is_empty(), "documented but never produced: {never:?}");
}

/// Every command of the command line (but `demo`, whose events are
/// documented one by one) has its shape in docs/cli-json.md, so a new
/// command cannot go without one.
#[test]
fn every_command_is_documented() {
    use clap::CommandFactory;
    fn leaves(prefix: &str, c: &clap::Command, out: &mut Vec<String>) {
        for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                leaves(&format!("{name} "), sub, out);
            } else {
                out.push(name);
            }
        }
    }
    let mut commands = Vec::new();
    leaves("", &faircash::cli::Cli::command(), &mut commands);
    let shapes = documented();
    let missing: Vec<&String> =
        commands.iter().filter(|c| *c != "demo" && !shapes.contains_key(*c)).collect();
    assert!(commands.len() > 40, "{commands:?}");
    assert!(missing.is_empty(), "commands without a shape in docs/cli-json.md: {missing:?}");
}
