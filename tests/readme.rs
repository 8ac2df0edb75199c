//! The README's command-line session, its TTP statement renewal and its
//! service example, run line by line as a reader would type them: every command succeeds (or fails with
//! the exit code its comment names), and the coin it traces exists.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use cli_support::Cli;
use serde_json::Value;

/// The commands of the first `sh` block after `heading`, with continuation
/// lines joined and comments kept apart: `(command, comment)`.
fn block(readme: &str, heading: &str) -> Vec<(String, String)> {
    let start = readme.find(heading).unwrap_or_else(|| panic!("README: no {heading}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").unwrap() + "```sh\n".len();
    let body = &rest[open..open + rest[open..].find("```").unwrap()];
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let (command, comment) = match full.find("  #") {
            Some(i) => (full[..i].trim().to_string(), full[i..].trim().to_string()),
            None => (full.trim().to_string(), String::new()),
        };
        if !command.is_empty() && !command.starts_with('#') && !command.starts_with("alias ") {
            commands.push((command, comment));
        }
    }
    commands
}

/// Runs one README line with `faircash` standing for the built binary.
fn sh(c: &Cli, line: &str) -> std::process::Output {
    Command::new("bash")
        .args(["-c", &format!("faircash() {{ \"$FAIRCASH_BIN\" \"$@\"; }}; {line}")])
        .env("FAIRCASH_BIN", env!("CARGO_BIN_EXE_faircash"))
        .current_dir(c.root.path())
        .output()
        .unwrap()
}

/// Runs one README line and checks it exits as its comment says.
fn run_as_written(c: &Cli, line: &str, comment: &str) -> std::process::Output {
    let o = sh(c, line);
    assert_eq!(
        o.status.code(),
        Some(expected_exit(comment)),
        "README: {line}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The exit code a comment announces (`(exit 4)`), else 0.
fn expected_exit(comment: &str) -> i32 {
    comment.split("(exit ").nth(1).and_then(|r| r.split(')').next()).map_or(0, |n| n.parse().unwrap())
}

#[test]
fn the_readme_session_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let c = Cli::new();
    let account =
        |dir: &str| c.json(&["wallet", "info", "--dir", dir])["account"].as_str().unwrap().to_string();
    let mut traced = None;
    for (line, comment) in block(&readme, "## A session with the command line") {
        let mut line = line;
        for (placeholder, wallet) in [("<alice's id>", "alice"), ("<bob's id>", "bob")] {
            if line.contains(placeholder) {
                line = line.replace(placeholder, &account(wallet));
            }
        }
        if line.contains("<bob's coin id>") {
            // As the README says: a coin bob spent that `bank spends` lists
            // as deposited by the shop (his payment of 16, made of the
            // coins his withdrawal's change ahead of time left him).
            let shop =
                c.json(&["merchant", "status", "--dir", "shop"])["account"].as_str().unwrap().to_string();
            let coins = c.json(&["wallet", "coins", "--dir", "bob"]);
            let spent: std::collections::BTreeSet<&str> = coins["coins"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["spent"] == true)
                .map(|c| c["coin_id"].as_str().unwrap())
                .collect();
            let spends = c.json(&["bank", "spends", "--dir", "bank"]);
            let paid: Vec<&Value> = spends["spends"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["merchant"] == shop.as_str() && spent.contains(s["coin_id"].as_str().unwrap()))
                .collect();
            assert_eq!(paid.iter().map(|s| s["value"].as_u64().unwrap()).sum::<u64>(), 16, "{spends}");
            line = line.replace("<bob's coin id>", paid[0]["coin_id"].as_str().unwrap());
        }
        assert!(!line.contains('<'), "README: an unknown placeholder in {line}");
        let o = run_as_written(&c, &line, &comment);
        if line.contains("bank apply-trace") {
            traced = Some(String::from_utf8_lossy(&o.stdout).to_string());
        }
    }
    let traced = traced.expect("the session applies a trace");
    assert!(traced.contains(&account("bob")), "the traced coin is bob's: {traced}");
    // Alice paid her last coin (1) to bob, who deposited it.
    assert_eq!(c.json(&["wallet", "info", "--dir", "alice"])["balance"], 0);
    let received = c.json(&["wallet", "received", "--dir", "bob"]);
    assert_eq!(received["payments"][0]["state"], "deposited", "{received}");

    // The renewed TTP key statement: bob pins it on his next withdrawal and
    // then refuses the older one.
    for (line, comment) in block(&readme, "A renewed statement") {
        run_as_written(&c, &line, &comment);
    }
    assert_eq!(c.json(&["wallet", "info", "--dir", "bob"])["balance"], 12);

    // The service example continues with bob (alice's account is frozen).
    let mut node = None;
    let mut url = String::new();
    for (line, comment) in block(&readme, "## The bank as a service") {
        if line.contains("bank serve") {
            let listen = line.replace("127.0.0.1:8080", "127.0.0.1:0");
            let mut child = Command::new("bash")
                .args(["-c", &format!("faircash() {{ exec \"$FAIRCASH_BIN\" \"$@\"; }}; {listen}")])
                .env("FAIRCASH_BIN", env!("CARGO_BIN_EXE_faircash"))
                .env("FAIRCASH_LOG", "warn")
                .current_dir(c.root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            url = loop {
                let l = lines.next().expect("the node exits before serving").unwrap();
                if let Some(u) = l.strip_prefix("bank serving on ") {
                    break u.trim().to_string();
                }
            };
            std::thread::spawn(move || for _ in lines {});
            node = Some(child);
            continue;
        }
        let line = line.replace("http://127.0.0.1:8080", &url);
        run_as_written(&c, &line, &comment);
    }
    let mut node = node.expect("the service example starts a node");
    assert_eq!(c.json(&["wallet", "info", "--dir", "bob"])["balance"], 28);
    assert!(Command::new("kill").args(["-TERM", &node.id().to_string()]).status().unwrap().success());
    assert_eq!(node.wait().unwrap().code(), Some(0));
}

/// The trustees' walkthrough: two ceremonies, the group's key statement, a
/// coin traced with two of three shares (one alone refused), the result
/// signed by the group and verified.
#[test]
fn the_trustees_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let c = Cli::new();
    let mut verified = None;
    for (line, comment) in block(&readme, "## Trustees: a TTP of three") {
        let mut line = line;
        if line.contains("<carol's id>") {
            let id = c.json(&["wallet", "info", "--dir", "carol"])["account"].as_str().unwrap().to_string();
            line = line.replace("<carol's id>", &id);
        }
        if line.contains("<carol's session>") {
            let id = c.json(&["wallet", "info", "--dir", "carol"])["account"].as_str().unwrap().to_string();
            let w = c.json(&["bank", "withdrawals", "--dir", "tbank", "--account", &id]);
            line = line.replace("<carol's session>", w["withdrawals"][0]["session"].as_str().unwrap());
        }
        assert!(!line.contains('<'), "README: an unknown placeholder in {line}");
        let o = run_as_written(&c, &line, &comment);
        if line.contains("ttp verify-trace") {
            verified = Some(String::from_utf8_lossy(&o.stdout).to_string());
        }
    }
    let verified = verified.expect("the walkthrough verifies the result");
    assert!(
        verified.contains("2 of 3 trustees (trustee 1 log entry 0, trustee 3 log entry 0)"),
        "{verified}"
    );
}

#[test]
fn the_restore_and_sweep_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let c = Cli::new();
    let mut balance = None;
    for (line, comment) in block(&readme, "## Restoring a wallet from its recovery phrase") {
        let mut line = line;
        if line.contains("<dana's id>") {
            let id = c.json(&["wallet", "info", "--dir", "dana"])["account"].as_str().unwrap().to_string();
            line = line.replace("<dana's id>", &id);
        }
        assert!(
            !line.contains('<') || line.contains("< phrase.txt"),
            "README: an unknown placeholder in {line}"
        );
        let o = run_as_written(&c, &line, &comment);
        if line.contains("wallet balance --dir dana3") {
            balance = Some(String::from_utf8_lossy(&o.stdout).to_string());
        }
    }
    // The sweep moved everything: the 10 in coins and the 90 on the account.
    let balance = balance.expect("the walkthrough shows the new wallet's balance");
    assert!(balance.contains("balance 100 spendable"), "{balance}");
}
