//! The encrypted backup file (specs/protocol.md §7.6, item 7), through the
//! command line: backup, lose the directory, restore with the phrase.

mod cli_support;

use cli_support::Cli;
use faircash::crypto::derive::RecoveryPhrase;
use serde_json::Value;

/// A wallet made with its phrase shown in the JSON: (account, phrase).
fn new_wallet(c: &Cli, dir: &str) -> (String, String) {
    let (phrase, account) = c.phrase_wallet(dir);
    (account, phrase)
}

fn coins(c: &Cli, dir: &str) -> Vec<Value> {
    let mut v = c.json(&["wallet", "coins", "--dir", dir])["coins"].as_array().unwrap().clone();
    v.sort_by_key(|c| c["coin_id"].as_str().unwrap().to_string());
    v
}

fn next_counters(c: &Cli, dir: &str) -> Vec<i64> {
    let db = rusqlite::Connection::open(c.path(&format!("{dir}/wallet.db"))).unwrap();
    let mut st = db.prepare("SELECT next FROM counters ORDER BY keyset").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_restored_backup_keeps_paid_coins_paid_and_never_reuses_a_counter() {
    let c = Cli::new();
    c.setup();
    let (bob, phrase) = new_wallet(&c, "bob");
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &bob, "--amount", "100"]);
    c.ok(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "31"]);
    // Paid coins (given to the shop, not deposited yet), and a payment
    // received from alice and held for deposit.
    c.pay("bob", "shop", 4, "p1");
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "2"]);
    c.ok(&["wallet", "request", "--dir", "bob", "--amount", "2", "--order", "lunch", "--out", "r.json"]);
    c.ok(&["wallet", "pay", "--dir", "alice", "--request", "r.json", "--order", "lunch", "--out", "a.json"]);
    c.ok(&["wallet", "receive", "--dir", "bob", "--payment", "a.json"]);

    let made = c.json(&["wallet", "backup", "--dir", "bob", "--out", "bob.backup"]);
    assert_eq!(made["balance"], 27);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.path("bob.backup")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let file = std::fs::read(c.path("bob.backup")).unwrap();
    assert!(file.starts_with(b"FCBACKUP"));
    // The same backup to stdout, byte for byte the same format.
    let (piped, _) = c.piped(0, b"", &["wallet", "backup", "--dir", "bob", "--out", "-"]);
    assert!(piped.starts_with(b"FCBACKUP") && piped.len() == file.len());
    let coins_then = coins(&c, "bob");
    let spent_then = coins_then.iter().filter(|c| c["spent"] == true).count();
    assert!(spent_then > 0);
    let received_then = c.json(&["wallet", "received", "--dir", "bob"]);
    let counters_then = next_counters(&c, "bob");

    // After the backup the wallet burns more counters, then is lost.
    c.ok(&["wallet", "withdraw", "--dir", "bob", "--bank", "bank", "--amount", "7"]);
    assert!(next_counters(&c, "bob")[0] > counters_then[0]);
    std::fs::remove_dir_all(c.path("bob")).unwrap();

    let (out, _) = c.piped(
        0,
        format!("{phrase}\n").as_bytes(),
        &["--json", "wallet", "restore", "--backup", "bob.backup", "--dir", "bob2"],
    );
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["balance"], 27);
    assert_eq!(doc["account"], bob.as_str());
    // Same coins, the paid ones still paid; the received payment is held.
    assert_eq!(coins(&c, "bob2"), coins_then);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "bob2"])["balance"], 27);
    assert_eq!(c.json(&["wallet", "received", "--dir", "bob2"]), received_then);
    // The counters moved ahead by the skip; the new withdrawal goes through
    // (reusing a counter the lost wallet burned is refused by the bank).
    let skip = doc["counter_skip"].as_i64().unwrap();
    assert_eq!(next_counters(&c, "bob2"), counters_then.iter().map(|n| n + skip).collect::<Vec<_>>());
    c.ok(&["wallet", "withdraw", "--dir", "bob2", "--bank", "bank", "--amount", "7"]);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "bob2"])["balance"], 34);
    // The restored wallet keeps its seed (0600), not the phrase, and pays.
    c.pay("bob2", "shop", 2, "p2");
    c.ok(&["wallet", "deposit", "--dir", "bob2", "--bank", "bank"]);
    assert_eq!(c.json(&["wallet", "balance", "--dir", "bob2"])["balance"], 32);
    assert!(!std::fs::read_to_string(c.path("bob2/wallet.seed"))
        .unwrap()
        .contains(phrase.split(' ').next().unwrap()));
}

#[test]
fn bad_backups_and_wrong_phrases_are_refused_and_nothing_is_written() {
    let c = Cli::new();
    c.setup();
    let (_, phrase) = new_wallet(&c, "bob");
    let (_, carol_phrase) = new_wallet(&c, "carol");
    c.ok(&["wallet", "backup", "--dir", "bob", "--out", "bob.backup"]);
    c.ok(&["wallet", "backup", "--dir", "carol", "--out", "carol.backup"]);
    let good = std::fs::read(c.path("bob.backup")).unwrap();
    let restore = |code: i32, file: &str, phrase: &str| -> String {
        let (_, err) = c.piped(
            code,
            format!("{phrase}\n").as_bytes(),
            &["wallet", "restore", "--backup", file, "--dir", "new"],
        );
        assert!(!c.path("new").exists(), "nothing written: {err}");
        let leftovers: Vec<_> = std::fs::read_dir(c.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.contains("restore"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        err
    };
    // A changed byte in the sealed part: exit 5.
    let mut tampered = good.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    std::fs::write(c.path("tampered.backup"), &tampered).unwrap();
    let err = restore(5, "tampered.backup", &phrase);
    assert!(err.contains("changed or damaged"), "{err}");
    // Truncated: exit 3, naming it.
    std::fs::write(c.path("cut.backup"), &good[..good.len() - 100]).unwrap();
    let err = restore(3, "cut.backup", &phrase);
    assert!(err.contains("truncated"), "{err}");
    // Another wallet's backup, or a wrong (valid) phrase: exit 3.
    let err = restore(3, "carol.backup", &phrase);
    assert!(err.contains("a wrong phrase, or a backup of another wallet"), "{err}");
    let err = restore(3, "bob.backup", &carol_phrase);
    assert!(err.contains("a wrong phrase, or a backup of another wallet"), "{err}");
    let other = RecoveryPhrase::generate(&mut rand::rngs::OsRng);
    restore(3, "bob.backup", other.expose_secret());
    // A phrase with a bad checksum, and not a backup at all: exit 3.
    let words: Vec<&str> = phrase.split(' ').collect();
    let swapped = [&[words[1], words[0]], &words[2..]].concat().join(" ");
    if RecoveryPhrase::parse(&swapped).is_err() {
        let err = restore(3, "bob.backup", &swapped);
        assert!(err.contains("recovery phrase"), "{err}");
    }
    let err = restore(3, "bob/keysets.json", &phrase);
    assert!(err.contains("not a faircash wallet backup"), "{err}");
    // No --backup: usage; a directory in use: refused, left alone.
    c.fails(2, &["wallet", "restore", "--dir", "new"]);
    let (_, err) =
        c.piped(4, phrase.as_bytes(), &["wallet", "restore", "--backup", "bob.backup", "--dir", "carol"]);
    assert!(err.contains("not empty"), "{err}");
    // The good file restores (into an existing empty directory too).
    std::fs::create_dir(c.path("new")).unwrap();
    c.piped(0, phrase.as_bytes(), &["wallet", "restore", "--backup", "bob.backup", "--dir", "new"]);
    assert!(c.path("new/wallet.db").exists());
}

#[test]
fn a_wallet_without_a_phrase_has_no_backup() {
    let c = Cli::new();
    c.setup();
    // A re-keyed wallet stops deriving from its phrase and drops the seed.
    new_wallet(&c, "nophrase");
    std::fs::remove_file(c.path("nophrase/wallet.seed")).unwrap();
    let err = c.fails(4, &["wallet", "backup", "--dir", "nophrase", "--out", "x.backup"]);
    assert!(err.contains("no recovery phrase"), "{err}");
    assert!(!c.path("x.backup").exists());
}
