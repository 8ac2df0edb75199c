//! Running the `faircash` binary in a temporary directory.
#![allow(dead_code)]

pub mod contract;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub struct Cli {
    pub root: tempfile::TempDir,
    /// Days every command's clock is moved by (`faircash::cli::TEST_CLOCK_ENV`).
    pub clock_days: std::cell::Cell<i32>,
}

impl Default for Cli {
    fn default() -> Self {
        Cli { root: tempfile::tempdir().unwrap(), clock_days: std::cell::Cell::new(0) }
    }
}

impl Cli {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock of the commands run from now on to `days` days from
    /// today (0: the real clock).
    pub fn set_clock(&self, days: i32) {
        self.clock_days.set(days);
    }

    /// A command of the binary in the test directory, on the test's clock.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faircash"));
        cmd.current_dir(self.root.path());
        match self.clock_days.get() {
            0 => cmd.env_remove(faircash::cli::TEST_CLOCK_ENV),
            days => cmd.env(faircash::cli::TEST_CLOCK_ENV, days.to_string()),
        };
        cmd
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "faircash {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs with --json, asserts success, returns the document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Runs, asserts the exit code, returns stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "faircash {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stderr).unwrap()
    }

    /// Runs with `stdin` as standard input; asserts the exit code; returns
    /// stdout and stderr.
    pub fn piped(&self, code: i32, stdin: &[u8], args: &[&str]) -> (Vec<u8>, String) {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin);
        drop(input);
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(code), "faircash {args:?}\nstderr: {stderr}");
        (o.stdout, stderr)
    }

    /// TTP, bank, a funded wallet `alice`, a merchant `shop`.
    pub fn setup(&self) -> String {
        self.ok(&["ttp", "keygen", "--dir", "ttp"]);
        self.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "8"]);
        let alice =
            self.json(&["wallet", "new", "--dir", "alice", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
        let id = alice["account"].as_str().unwrap().to_string();
        self.ok(&["bank", "fund", "--dir", "bank", "--account", &id, "--amount", "200"]);
        self.ok(&["merchant", "new", "--dir", "shop", "--bank", "bank", "--ttp", "ttp/ttp.pub.json"]);
        id
    }

    /// A new wallet in `dir` with a recovery phrase, at the bank of
    /// `setup`: its phrase and account id.
    pub fn phrase_wallet(&self, dir: &str) -> (String, String) {
        let w = self.json(&[
            "wallet",
            "new",
            "--dir",
            dir,
            "--bank",
            "bank",
            "--ttp",
            "ttp/ttp.pub.json",
            "--phrase-in-json",
        ]);
        (w["recovery_phrase"].as_str().unwrap().to_string(), w["account"].as_str().unwrap().to_string())
    }

    pub fn balance_of(&self, account: &str) -> u64 {
        let st = self.json(&["bank", "status", "--dir", "bank"]);
        st["accounts"].as_array().unwrap().iter().find(|a| a["id"] == account).unwrap()["balance"]
            .as_u64()
            .unwrap()
    }

    /// The value of a wallet's unspent coins (`wallet coins`).
    pub fn unspent_value(&self, wallet: &str) -> u64 {
        let coins = self.json(&["wallet", "coins", "--dir", wallet]);
        coins["coins"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["spent"] == false)
            .map(|x| x["value"].as_u64().unwrap())
            .sum()
    }

    pub fn merchant_account(&self, dir: &str) -> String {
        self.json(&["merchant", "status", "--dir", dir])["account"].as_str().unwrap().to_string()
    }

    pub fn pay(&self, wallet: &str, merchant: &str, amount: u64, name: &str) {
        let req = format!("{name}-req.json");
        let pay = format!("{name}-pay.json");
        self.ok(&["merchant", "request", "--dir", merchant, "--amount", &amount.to_string(), "--out", &req]);
        self.ok(&["wallet", "pay", "--dir", wallet, "--request", &req, "--out", &pay]);
        self.ok(&["merchant", "accept", "--dir", merchant, "--payment", &pay]);
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A `faircash bank serve` process on a free loopback port.
pub struct Node {
    pub child: Child,
    pub url: String,
    /// What the node wrote to stderr after its address.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Node {
    /// Serves the bank directory `dir` of `c`.
    pub fn start(c: &Cli, dir: &str) -> Node {
        Self::serve(c, dir, &[], &[])
    }

    /// Serves `dir` with extra environment variables (a failpoint).
    pub fn start_with(c: &Cli, dir: &str, env: &[(&str, &str)]) -> Node {
        Self::serve(c, dir, &[], env)
    }

    /// Serves `dir` with extra `bank serve` flags and environment variables.
    pub fn serve(c: &Cli, dir: &str, flags: &[&str], env: &[(&str, &str)]) -> Node {
        let mut child = c
            .command()
            .args(["bank", "serve", "--dir", dir, "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("FAIRCASH_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the node exits before serving").unwrap();
            if let Some(u) = line.strip_prefix("bank serving on ") {
                break u.trim().to_string();
            }
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Node { child, url, log }
    }

    /// `host:port` of the node.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit, at most
    /// `within`; returns the status and how long the node took.
    pub fn stop(
        &mut self,
        signal: &str,
        within: std::time::Duration,
    ) -> (std::process::ExitStatus, std::time::Duration) {
        let t = std::time::Instant::now();
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, t.elapsed());
            }
            assert!(t.elapsed() < within, "the node is still running {within:?} after SIG{signal}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
