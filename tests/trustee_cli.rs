//! Trustees on separate machines, with the real binary and files only
//! (specs/tracing.md §9): a 2-of-3 ceremony for each key (round files in a
//! directory, one command per round), the key statement signed by the
//! group, a coin traced with two decryption shares, `ttp combine`, the
//! group's signature of the result and `ttp verify-trace`; a tampered share
//! named, one share refused, and a trustee sending an inconsistent share in
//! a ceremony identified.

mod cli_support;

use std::cell::RefCell;

use cli_support::contract::Contract;
use cli_support::Cli;
use curve25519_dalek::scalar::Scalar;
use faircash::crypto::group_signature::GroupSigningKey;
use faircash::crypto::seal::SealKey;
use faircash::crypto::secret::SecretScalar;
use faircash::crypto::transcript::labels;
use faircash::encoding::Point;
use faircash::store::sqlite::SqliteTtpStore;
use faircash::store::TrusteeStore;
use faircash::trustees::dkg::{DkgMessage, DkgPayload};
use faircash::wire::WireMessage;
use rand::rngs::OsRng;
use serde_json::Value;

const TRUSTEES: [&str; 3] = ["t1", "t2", "t3"];

/// The binary in a temporary directory, every trustee command's `--json`
/// output checked against docs/cli-json.md.
struct Run {
    c: Cli,
    k: RefCell<Contract>,
}

impl Run {
    fn words(args: &[&str]) -> usize {
        if args[0] == "trustee" && ["dkg", "sign", "log"].contains(&args[1]) {
            3
        } else {
            2
        }
    }

    /// Runs a command that succeeds; its JSON output.
    fn ok(&self, args: &[&str]) -> Value {
        self.k.borrow_mut().ok(&self.c, Self::words(args), args)
    }

    /// Runs a command that fails with `code`; its error message.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let v = self.k.borrow_mut().run(&self.c, Self::words(args), code, args);
        v["error"]["message"].as_str().unwrap().to_string()
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.c.path(p)
    }
}

/// Writes the ceremony file `files/ceremony.json` of the three trustees.
fn ceremony_file(c: &Run, purpose: &str, files: &str) {
    let ceremony = format!("{files}/ceremony.json");
    let keys: Vec<String> = TRUSTEES.iter().map(|t| format!("{t}/identity.pub.json")).collect();
    let mut args = vec!["trustee", "dkg", "ceremony", "--purpose", purpose, "--threshold", "2"];
    for k in &keys {
        args.extend(["--trustee", k.as_str()]);
    }
    args.extend(["--out", &ceremony]);
    c.ok(&args);
}

/// A ceremony file, and every trustee joins.
fn ceremony(c: &Run, purpose: &str, files: &str) {
    let ceremony = format!("{files}/ceremony.json");
    ceremony_file(c, purpose, files);
    for t in TRUSTEES {
        c.ok(&["trustee", "dkg", "start", "--dir", t, "--ceremony", &ceremony, "--files", files]);
    }
}

fn step(c: &Run, t: &str, files: &str) -> Value {
    let ceremony = format!("{files}/ceremony.json");
    c.ok(&["trustee", "dkg", "step", "--dir", t, "--ceremony", &ceremony, "--files", files])
}

fn finish(c: &Run, t: &str, files: &str) -> Value {
    let ceremony = format!("{files}/ceremony.json");
    c.ok(&["trustee", "dkg", "finish", "--dir", t, "--ceremony", &ceremony, "--files", files])
}

/// Trustee 2 seals for trustee 3 a random scalar under their true shared
/// key and signs its shares file again: the share opens, but does not match
/// trustee 2's commitments (what only a misbehaving trustee 2 can do; the
/// test reads its secrets from its directory).
fn send_inconsistent_share(c: &Run, files: &str) {
    let path = c.path(&format!("{files}/shares-2.json"));
    let mut m = DkgMessage::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let state: Value = std::fs::read_dir(c.path("t2"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "state"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .unwrap();
    let d2: SecretScalar = serde_json::from_value(state["stage"]["SharesSent"]["dh_secret"].clone()).unwrap();
    let reveal3 =
        DkgMessage::from_json(&std::fs::read_to_string(c.path(&format!("{files}/reveal-3.json"))).unwrap())
            .unwrap();
    let DkgPayload::Reveal(p3) = &reveal3.payload else { panic!("a reveal") };
    let shared = Point::new(p3.dh_key.point() * d2.expose_secret());
    let mut context = m.ceremony.to_vec();
    context.extend_from_slice(&2u16.to_le_bytes());
    context.extend_from_slice(&3u16.to_le_bytes());
    let key = SealKey::from_dh(labels::DKG_SHARE_KEY, &shared, &context);
    let forged = key.seal(&context, Scalar::random(&mut OsRng).as_bytes());
    let DkgPayload::Shares(list) = &mut m.payload else { panic!("a shares file") };
    list.iter_mut().find(|s| s.recipient == 3).unwrap().sealed = forged.try_into().unwrap();
    let identity: GroupSigningKey =
        serde_json::from_str(&std::fs::read_to_string(c.path("t2/identity.key")).unwrap()).unwrap();
    m.signature = identity.sign(labels::DKG_MESSAGE_SIGNATURE, &m.digest(), &mut OsRng);
    std::fs::write(&path, m.to_json()).unwrap();
}

/// The FROST rounds of `request` by trustees `signers` (each commits, then
/// each answers with its signature share; a signer's nonces serve once),
/// then `trustee sign finish` with `extra` arguments into `out`.
fn sign_group(c: &Run, request: &str, signers: &[u16], extra: &[&str], out: &str) -> Value {
    let prefix = request.trim_end_matches(".json");
    let dirs: Vec<String> = signers.iter().map(|i| format!("t{i}")).collect();
    let commits: Vec<String> = signers.iter().map(|i| format!("{prefix}-c{i}.json")).collect();
    let shares: Vec<String> = signers.iter().map(|i| format!("{prefix}-s{i}.json")).collect();
    for (dir, commit) in dirs.iter().zip(&commits) {
        c.ok(&["trustee", "sign", "commit", "--dir", dir, "--request", request, "--out", commit]);
    }
    let flags = |flag: &'static str, files: &[String]| -> Vec<String> {
        files.iter().flat_map(|f| [flag.to_string(), f.clone()]).collect()
    };
    let commitments = flags("--commitment", &commits);
    let share_args = |dir: &str, out: &str| -> Vec<String> {
        let mut a: Vec<String> =
            ["trustee", "sign", "share", "--dir", dir, "--request", request].map(String::from).to_vec();
        a.extend(commitments.iter().cloned());
        a.extend(["--out".to_string(), out.to_string()]);
        a
    };
    for (dir, share) in dirs.iter().zip(&shares) {
        let a = share_args(dir, share);
        c.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    }
    // A nonce is used once.
    let again = share_args(&dirs[0], "again.json");
    let err = c.fails(4, &again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("no unused nonces"), "{err}");
    let mut a: Vec<String> = ["trustee", "sign", "finish", "--request", request].map(String::from).to_vec();
    a.extend(extra.iter().map(|x| x.to_string()));
    a.extend(commitments.iter().cloned());
    a.extend(flags("--share", &shares));
    a.extend(["--out".to_string(), out.to_string()]);
    c.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `ttp combine` of `shares` for the coin's warrant and record.
fn combine_args<'a>(shares: &[&'a str], out: &'a str) -> Vec<&'a str> {
    let mut a =
        vec!["ttp", "combine", "--ttp", "ttp.pub.json", "--warrant", "w.json", "--record", "rec.json"];
    shares.iter().for_each(|s| a.extend(["--share", s]));
    a.extend(["--out", out]);
    a
}

fn combine(c: &Run, shares: &[&str], out: &str) -> Value {
    c.ok(&combine_args(shares, out))
}

/// A combination refused (exit 4): its message.
fn combine_fails(c: &Run, shares: &[&str], out: &str) -> String {
    c.fails(4, &combine_args(shares, out))
}

#[test]
fn a_two_of_three_trace_runs_from_files_on_separate_trustees() {
    let c = Run { c: Cli::new(), k: RefCell::new(Contract::new()) };
    for t in TRUSTEES {
        c.ok(&["trustee", "init", "--dir", t]);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.path("t1/identity.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A ceremony in which trustee 2 sends trustee 3 an inconsistent share:
    // trustee 3 complains, and completing the ceremony names trustee 2.
    ceremony(&c, "decryption", "bad");
    for _ in 0..2 {
        for t in TRUSTEES {
            step(&c, t, "bad");
        }
    }
    send_inconsistent_share(&c, "bad");
    assert_eq!(step(&c, "t1", "bad")["next"], "finish");
    step(&c, "t2", "bad");
    let out = c.c.ok(&[
        "trustee",
        "dkg",
        "step",
        "--dir",
        "t3",
        "--ceremony",
        "bad/ceremony.json",
        "--files",
        "bad",
    ]);
    assert!(out.contains("the share of trustee 2 does not hold"), "{out}");
    for t in TRUSTEES {
        let err = c.fails(
            5,
            &["trustee", "dkg", "finish", "--dir", t, "--ceremony", "bad/ceremony.json", "--files", "bad"],
        );
        assert!(err.contains("trustee 2 misbehaved"), "{err}");
        assert!(err.contains("does not match its commitments"), "{err}");
        let aborts = SqliteTtpStore::open(c.path(&format!("{t}/trustee.db"))).unwrap().dkg_aborts().unwrap();
        assert_eq!(aborts.len(), 1, "{t} records the aborted ceremony");
        assert_eq!(aborts[0].culprit, Some(2));
    }

    // The two ceremonies. A step before the other trustees' files are in
    // says which are missing.
    ceremony_file(&c, "decryption", "dec");
    c.ok(&["trustee", "dkg", "start", "--dir", "t1", "--ceremony", "dec/ceremony.json", "--files", "dec"]);
    let err = c.fails(
        1,
        &["trustee", "dkg", "step", "--dir", "t1", "--ceremony", "dec/ceremony.json", "--files", "dec"],
    );
    assert!(err.contains("commit file(s) of trustee(s) 2, 3"), "{err}");
    assert!(err.contains("commit-2.json"), "{err}");
    // A ceremony file changed under the same id is refused.
    let mut changed: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("dec/ceremony.json")).unwrap()).unwrap();
    changed["body"]["threshold"] = 3.into();
    std::fs::write(c.path("changed.json"), changed.to_string()).unwrap();
    let err = c
        .fails(5, &["trustee", "dkg", "step", "--dir", "t1", "--ceremony", "changed.json", "--files", "dec"]);
    assert!(err.contains("not the ceremony this trustee joined"), "{err}");
    for t in ["t2", "t3"] {
        c.ok(&["trustee", "dkg", "start", "--dir", t, "--ceremony", "dec/ceremony.json", "--files", "dec"]);
    }
    ceremony(&c, "signing", "sig");
    for files in ["dec", "sig"] {
        for _ in 0..3 {
            for t in TRUSTEES {
                step(&c, t, files);
            }
        }
        let keys: Vec<Value> = TRUSTEES.iter().map(|t| finish(&c, t, files)["group_key"].clone()).collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "one group key: {keys:?}");
    }

    // The group signs its key statement (trustees 1 and 2).
    c.ok(&[
        "trustee",
        "sign",
        "statement",
        "--decryption",
        "t1/decryption.transcript.json",
        "--signing",
        "t1/signing.transcript.json",
        "--out",
        "st-req.json",
    ]);
    sign_group(&c, "st-req.json", &[1, 2], &["--group", "t1/signing.transcript.json"], "ttp.pub.json");

    // A bank escrowing under the group's key, a withdrawn coin, a warrant.
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp.pub.json", "--max-exponent", "8"]);
    let alice = c.ok(&["wallet", "new", "--dir", "alice", "--bank", "bank", "--ttp", "ttp.pub.json"])
        ["account"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &alice, "--amount", "20"]);
    c.ok(&["wallet", "withdraw", "--dir", "alice", "--bank", "bank", "--amount", "16"]);
    let sessions = c.ok(&["bank", "withdrawals", "--dir", "bank", "--account", &alice]);
    let session = sessions["withdrawals"][0]["session"].as_str().unwrap().to_string();
    c.ok(&["bank", "export-withdrawal", "--dir", "bank", "--session", &session, "--out", "rec.json"]);
    c.ok(&["warrant", "keygen", "--dir", "judge"]);
    c.ok(&[
        "warrant", "issue", "--dir", "judge", "--kind", "coin", "--record", "rec.json", "--case", "C9",
        "--reason", "theft", "--out", "w.json",
    ]);
    for (k, t) in TRUSTEES.iter().enumerate() {
        c.ok(&["trustee", "trust-issuer", "--dir", t, "--key", "judge/judge.pub.json"]);
        c.ok(&["trustee", "trust-bank", "--dir", t, "--keysets", "bank/keysets.json"]);
        let share = c.ok(&[
            "trustee",
            "decrypt-share",
            "--dir",
            t,
            "--warrant",
            "w.json",
            "--record",
            "rec.json",
            "--out",
            &format!("share-{}.json", k + 1),
        ]);
        assert_eq!(share["log_index"], 0);
    }

    // One share alone: no plaintext, and combine says so.
    let err = combine_fails(&c, &["share-1.json"], "x.json");
    assert!(err.contains("1 valid decryption share(s) of the 2 needed: no plaintext"), "{err}");
    // A tampered share (trustee 2 gives trustee 1's D_i as its own) is named
    // and skipped; with it and one valid share there is still no plaintext.
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("share-2.json")).unwrap()).unwrap();
    let one: Value = serde_json::from_str(&std::fs::read_to_string(c.path("share-1.json")).unwrap()).unwrap();
    tampered["body"]["evidence"]["share"] = one["body"]["evidence"]["share"].clone();
    std::fs::write(c.path("share-2x.json"), tampered.to_string()).unwrap();
    let err = combine_fails(&c, &["share-1.json", "share-2x.json"], "x.json");
    assert!(err.contains("share-2x.json: trustee 2's share is wrong"), "{err}");
    let combined = combine(&c, &["share-2x.json", "share-1.json", "share-3.json"], "res-req.json");
    assert_eq!(combined["rejected"][0]["trustee"], 2, "{combined}");
    assert_eq!(combined["rejected"].as_array().unwrap().len(), 1, "{combined}");
    assert_eq!(combined["signers"], serde_json::json!([1, 3]));

    // Trustees 1 and 3 sign the result; it verifies with public keys alone.
    let extra = ["--group", "t3/signing.transcript.json", "--ttp", "ttp.pub.json"];
    let signed = sign_group(&c, "res-req.json", &[1, 3], &extra, "result.json");
    assert_eq!(signed["signed"], "trace_result");
    let v = c.ok(&[
        "ttp",
        "verify-trace",
        "--ttp",
        "ttp.pub.json",
        "--warrant",
        "w.json",
        "--record",
        "rec.json",
        "--result",
        "result.json",
    ]);
    assert_eq!(v["plaintext"], combined["plaintext"]);
    assert_eq!(v["trustees"], combined["trustees"]);

    // Every trustee's log holds the one share it gave, consistent with the
    // head it published.
    for t in TRUSTEES {
        let head = format!("{t}-head.json");
        assert_eq!(c.ok(&["trustee", "log", "head", "--dir", t, "--out", &head])["size"], 1);
        let published = format!("{t}/log-head.json");
        let log = c.ok(&["trustee", "log", "verify", "--dir", t, "--head", &published, "--head", &head]);
        assert_eq!((&log["entries"], &log["heads_checked"]), (&Value::from(1), &Value::from(2)), "{t}");
    }

    let k = c.k.borrow();
    let never: Vec<&String> =
        k.shapes.keys().filter(|s| Contract::trustees(s) && !k.seen.contains(*s)).collect();
    assert!(never.is_empty(), "documented but never produced: {never:?}");
}
