//! `faircash trustee …`: one of the `n` trustees of a threshold TTP
//! (specs/tracing.md §9), everything from files so that the trustees run on
//! separate machines.
//!
//! A trustee's directory holds its identity key (`identity.key`, 0600, and
//! `identity.pub.json`), its database (`trustee.db`: its hash-chained log,
//! its unused signing nonces, its aborted ceremonies), its key shares once
//! its ceremonies completed (`decryption.share`, `signing.share`, 0600) with
//! their public transcripts, and the warrant issuers and bank keysets it
//! trusts (`ttp.json`, `keysets.json`, as a single TTP keeps them).
//!
//! A ceremony (`trustee dkg …`) is a ceremony file (`trustee dkg ceremony`:
//! id, purpose, `t`, the trustees' identifiers and identity keys) and a
//! directory of round files: each trustee runs `start`, then `step` once per
//! round (each reads the other trustees' files of the round before and
//! writes its own), then anyone runs `finish` (each trustee does, to install
//! its share). Group signatures (`trustee sign …`) are two rounds of files
//! over a signing request (`trustee sign statement`, or `ttp combine` for a
//! trace result).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use rand::rngs::OsRng;
use serde_json::json;

use super::files::{ensure_dir, read_message, read_secret, read_text, shown, write_message, write_secret};
use super::output::{day, Output};
use super::ttp::{
    add_issuer, gate_config, log_head_json, log_verify_json, pin_bank, TrustBankArgs, TrustIssuerArgs,
    ValidityArgs,
};
use super::{CliError, DirArg};
use crate::crypto::group_signature::GroupSigningKey;
use crate::keys::PublicKeyFile;
use crate::params::Params;
use crate::protocol::trace::{LogHead, TraceRecord, TraceRequest, Warrant};
use crate::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement};
use crate::store::sqlite::SqliteTtpStore;
use crate::store::TtpStore;
use crate::trustees::dkg::{
    complete, record_abort, Ceremony, DkgError, DkgMessage, DkgPayload, DkgState, DkgTranscript, KeyPurpose,
    KeyShare, Participant,
};
use crate::trustees::signing::{
    self, GroupMessage, SignatureShare, SigningCommitment, SigningError, SigningRequest,
};
use crate::trustees::Trustee;
use crate::wire::WireMessage;

/// Trustee commands.
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  faircash trustee init --dir t1\n  \
    faircash trustee dkg ceremony --purpose decryption --threshold 2 --trustee t1/identity.pub.json \\\n      \
    --trustee t2/identity.pub.json --trustee t3/identity.pub.json --out dec/ceremony.json\n  \
    faircash trustee dkg start --dir t1 --ceremony dec/ceremony.json --files dec\n  \
    faircash trustee dkg step --dir t1 --ceremony dec/ceremony.json --files dec\n  \
    faircash trustee dkg finish --dir t1 --ceremony dec/ceremony.json --files dec\n  \
    faircash trustee decrypt-share --dir t1 --warrant w.json --record r.json --out share-1.json")]
pub enum TrusteeCommand {
    /// Create a trustee's directory and identity key (identity.key, mode
    /// 0600; identity.pub.json for the ceremony file).
    #[command(after_help = "Example:\n  faircash trustee init --dir t1")]
    Init {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
    },
    /// Key-generation ceremonies, as signed round files.
    #[command(subcommand)]
    Dkg(DkgCommand),
    /// FROST signatures of the group (key statements, trace results).
    #[command(subcommand)]
    Sign(SignCommand),
    /// Trust warrants signed by an issuer key.
    #[command(after_help = "Example:\n  faircash trustee trust-issuer --dir t1 --key judge/judge.pub.json")]
    TrustIssuer(TrustIssuerArgs),
    /// Pin a bank's keysets (records are checked against them).
    #[command(after_help = "Example:\n  faircash trustee trust-bank --dir t1 --keysets bank/keysets.json")]
    TrustBank(TrustBankArgs),
    /// This trustee's proven decryption share for a warrant and its record:
    /// both are checked as a single TTP checks them, and the share is logged
    /// before it is written (never a decryption oracle).
    #[command(
        after_help = "Example:\n  faircash trustee decrypt-share --dir t1 --warrant w.json --record r.json --out share-1.json"
    )]
    DecryptShare {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The signed warrant.
        #[arg(long)]
        warrant: PathBuf,
        /// The record it covers.
        #[arg(long)]
        record: PathBuf,
        /// Where to write the share.
        #[arg(long)]
        out: PathBuf,
    },
    /// This trustee's audit log.
    #[command(subcommand)]
    Log(TrusteeLogCommand),
}

/// Which key a ceremony makes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PurposeArg {
    /// The decryption key Y_T.
    Decryption,
    /// The group signing key.
    Signing,
}

/// Ceremony commands.
#[derive(Debug, Subcommand)]
pub enum DkgCommand {
    /// Write a ceremony file: a fresh id, the purpose, t, and the trustees
    /// (identifiers 1..n in the order given). Every trustee checks it; each
    /// round file is signed over it.
    #[command(
        after_help = "Example:\n  faircash trustee dkg ceremony --purpose signing --threshold 2 --trustee t1/identity.pub.json \\\n      --trustee t2/identity.pub.json --trustee t3/identity.pub.json --out sig/ceremony.json"
    )]
    Ceremony {
        /// Which key.
        #[arg(long, value_enum)]
        purpose: PurposeArg,
        /// How many trustees act together (2 ≤ t ≤ n).
        #[arg(long)]
        threshold: u16,
        /// A trustee's identity.pub.json (repeat, one per trustee).
        #[arg(long, required = true)]
        trustee: Vec<PathBuf>,
        /// Where to write the ceremony file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Join a ceremony: check it, keep this trustee's secret state and write
    /// its commit file into the round-file directory.
    #[command(
        after_help = "Example:\n  faircash trustee dkg start --dir t1 --ceremony dec/ceremony.json --files dec"
    )]
    Start(CeremonyArgs),
    /// Run this trustee's next round (reveal, shares, then echo or
    /// complaint) from the other trustees' files of the round before; says
    /// which files are still missing.
    #[command(
        after_help = "Example:\n  faircash trustee dkg step --dir t1 --ceremony dec/ceremony.json --files dec"
    )]
    Step(CeremonyArgs),
    /// Complete the ceremony from every round file: install this trustee's
    /// key share, or record the abort naming the trustee at fault.
    #[command(
        after_help = "Example:\n  faircash trustee dkg finish --dir t1 --ceremony dec/ceremony.json --files dec"
    )]
    Finish(CeremonyArgs),
}

/// A trustee in a ceremony.
#[derive(Debug, clap::Args)]
pub struct CeremonyArgs {
    /// The state directory.
    #[command(flatten)]
    dir: DirArg,
    /// The ceremony file.
    #[arg(long)]
    ceremony: PathBuf,
    /// The directory of round files (every trustee's files are copied here).
    #[arg(long)]
    files: PathBuf,
}

/// Group-signing commands.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Write a request for the group to sign its key statement (the keys of
    /// both ceremonies' transcripts, t of n, the validity).
    #[command(
        after_help = "Example:\n  faircash trustee sign statement --decryption t1/decryption.transcript.json \\\n      --signing t1/signing.transcript.json --signer 1 --signer 2 --out statement-request.json"
    )]
    Statement {
        /// The decryption ceremony's transcript.
        #[arg(long)]
        decryption: PathBuf,
        /// The signing ceremony's transcript.
        #[arg(long)]
        signing: PathBuf,
        /// A signer's identifier (repeat; default: the t lowest).
        #[arg(long)]
        signer: Vec<u16>,
        /// The statement's sequence number.
        #[arg(long, default_value_t = 0)]
        sequence: u64,
        /// Validity of the statement.
        #[command(flatten)]
        validity: ValidityArgs,
        /// Where to write the request.
        #[arg(long)]
        out: PathBuf,
    },
    /// Round 1: check what the request signs and commit to fresh nonces
    /// (kept in this trustee's database, single-use).
    #[command(
        after_help = "Example:\n  faircash trustee sign commit --dir t1 --request request.json --out commit-1.json"
    )]
    Commit {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The signing request.
        #[arg(long)]
        request: PathBuf,
        /// Where to write the commitment.
        #[arg(long)]
        out: PathBuf,
    },
    /// Round 2: this trustee's signature share, its nonces erased durably
    /// before the share exists.
    #[command(
        after_help = "Example:\n  faircash trustee sign share --dir t1 --request request.json --commitment commit-1.json \\\n      --commitment commit-2.json --out sig-share-1.json"
    )]
    Share {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// The signing request.
        #[arg(long)]
        request: PathBuf,
        /// Every signer's commitment (repeat).
        #[arg(long, required = true)]
        commitment: Vec<PathBuf>,
        /// Where to write the signature share.
        #[arg(long)]
        out: PathBuf,
    },
    /// Aggregate the signature shares (anyone can): the signed key
    /// statement, or the signed trace result; a wrong share is named.
    #[command(
        after_help = "Example:\n  faircash trustee sign finish --request request.json --group t1/signing.transcript.json \\\n      --commitment commit-1.json --commitment commit-2.json --share sig-share-1.json \\\n      --share sig-share-2.json --out ttp.pub.json"
    )]
    Finish {
        /// The signing request.
        #[arg(long)]
        request: PathBuf,
        /// The signing ceremony's transcript (the group signing key and
        /// every trustee's verification share).
        #[arg(long)]
        group: PathBuf,
        /// The group's key statement (for a trace result).
        #[arg(long)]
        ttp: Option<PathBuf>,
        /// Every signer's commitment (repeat).
        #[arg(long, required = true)]
        commitment: Vec<PathBuf>,
        /// Every signer's signature share (repeat).
        #[arg(long, required = true)]
        share: Vec<PathBuf>,
        /// Where to write the signed statement or result.
        #[arg(long)]
        out: PathBuf,
    },
}

/// A trustee's audit-log commands.
#[derive(Debug, Subcommand)]
pub enum TrusteeLogCommand {
    /// Walk the hash chain and check it against heads it published.
    #[command(after_help = "Example:\n  faircash trustee log verify --dir t1 --head head-1.json")]
    Verify {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Heads published earlier (repeatable).
        #[arg(long)]
        head: Vec<PathBuf>,
    },
    /// Sign (with this trustee's identity key) and write the current head.
    #[command(after_help = "Example:\n  faircash trustee log head --dir t1 --out head-1.json")]
    Head {
        /// The state directory.
        #[command(flatten)]
        dir: DirArg,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

const IDENTITY: &str = "identity.key";
const IDENTITY_PUB: &str = "identity.pub.json";
const IDENTITY_PURPOSE: &str = "trustee-identity";

fn share_file(dir: &Path, purpose: KeyPurpose) -> PathBuf {
    dir.join(format!("{purpose}.share"))
}

fn transcript_file(dir: &Path, purpose: KeyPurpose) -> PathBuf {
    dir.join(format!("{purpose}.transcript.json"))
}

fn state_file(dir: &Path, c: &Ceremony) -> PathBuf {
    dir.join(format!("dkg-{}.state", hex::encode(c.ceremony_id)))
}

fn pending_share_file(dir: &Path, c: &Ceremony) -> PathBuf {
    dir.join(format!("dkg-{}.share", hex::encode(c.ceremony_id)))
}

fn identity(dir: &Path) -> Result<GroupSigningKey, CliError> {
    let path = dir.join(IDENTITY);
    if !path.exists() {
        return Err(CliError::Input(format!(
            "{}: not a trustee directory (run `faircash trustee init --dir {}`)",
            dir.display(),
            dir.display()
        )));
    }
    read_secret(&path)
}

fn store(dir: &Path) -> Result<SqliteTtpStore, CliError> {
    SqliteTtpStore::open_existing(dir.join("trustee.db")).map_err(|e| super::damaged_store("trustee", dir, e))
}

/// The trustee of `dir`, with both key shares, its trusted issuers and
/// pinned keysets.
fn open_trustee(dir: &Path) -> Result<Trustee<SqliteTtpStore>, CliError> {
    let id = identity(dir)?;
    let share = |purpose: KeyPurpose| -> Result<KeyShare, CliError> {
        let path = share_file(dir, purpose);
        if !path.exists() {
            return Err(CliError::Refused(format!(
                "{}: no {purpose} key share yet (complete the {purpose} ceremony: `trustee dkg finish`)",
                dir.display()
            )));
        }
        read_secret::<KeyShare>(&path)
    };
    let decryption = share(KeyPurpose::Decryption)?;
    let signing = share(KeyPurpose::Signing)?;
    let mut t = Trustee::new(id, decryption, signing, store(dir)?, super::clock())
        .map_err(|e| CliError::Security(format!("{}: {e}", dir.display())))?;
    let (issuers, keysets) = gate_config(dir)?;
    for i in issuers {
        t.trust_issuer(i);
    }
    if let Some((list, master)) = keysets {
        t.add_keysets(&list.keysets, &master)?;
    }
    Ok(t)
}

/// A ceremony failure as a command-line error: a trustee at fault is a
/// failed security check; a forged or foreign file is invalid input.
fn dkg_error(e: &DkgError) -> CliError {
    match e {
        DkgError::Step(_) | DkgError::NotParticipant(_) => CliError::Refused(e.to_string()),
        DkgError::Ceremony(_) | DkgError::BadSignature(_) | DkgError::OtherCeremony(_) => {
            CliError::Input(e.to_string())
        }
        DkgError::Frost(_) => CliError::Input(e.to_string()),
        _ => CliError::Security(format!("the ceremony fails: {e}")),
    }
}

fn signing_error(e: SigningError) -> CliError {
    match e {
        SigningError::Store(s) => s.into(),
        SigningError::BadShare(_) => CliError::Input(e.to_string()),
        SigningError::Files(_) | SigningError::Frost(_) | SigningError::Signers(_) => {
            CliError::Input(e.to_string())
        }
        _ => CliError::Refused(e.to_string()),
    }
}

/// Reads the ceremony file and checks it.
fn read_ceremony(path: &Path) -> Result<Ceremony, CliError> {
    let c: Ceremony = read_message(path)?;
    c.check().map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    Ok(c)
}

/// Every round file of the directory (files of another kind, such as the
/// ceremony file, are passed over; an undecodable round file is named).
fn round_files(files: &Path) -> Result<Vec<DkgMessage>, CliError> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(files)
        .map_err(|e| CliError::Input(format!("{}: {e}", files.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let text = read_text(&p)?;
        match DkgMessage::from_json(&text) {
            Ok(m) => out.push(m),
            Err(e) if e.kind() == "wrong-kind" => {}
            Err(e) => return Err(CliError::Input(format!("{}: {e}", p.display()))),
        }
    }
    Ok(out)
}

/// The round a payload belongs to, by the name its files carry.
fn round_name(p: &DkgPayload) -> &'static str {
    match p {
        DkgPayload::Commit(_) => "commit",
        DkgPayload::Reveal(_) => "reveal",
        DkgPayload::Shares(_) => "shares",
        DkgPayload::Echo(_) => "echo",
        DkgPayload::Complaint(_) => "complaint",
    }
}

fn round_file(files: &Path, m: &DkgMessage) -> PathBuf {
    files.join(format!("{}-{}.json", round_name(&m.payload), m.sender))
}

/// The round whose files the step after `next` needs (`None`: the
/// ceremony is complete for this trustee).
fn needed_round(next: &str) -> Option<&'static str> {
    match next {
        "reveal" => Some("commit"),
        "shares" => Some("reveal"),
        "echo" => Some("shares"),
        _ => None,
    }
}

/// Trustees of `c` without a file of `round` in `msgs` (for the final
/// round, an echo or a complaint).
fn missing(c: &Ceremony, msgs: &[DkgMessage], round: &str) -> Vec<u16> {
    let of_round = |m: &DkgMessage| {
        let r = round_name(&m.payload);
        r == round || (round == "echo" && r == "complaint")
    };
    c.participants
        .iter()
        .map(|p| p.id)
        .filter(|id| !msgs.iter().any(|m| m.sender == *id && of_round(m)))
        .collect()
}

fn waiting(round: &str, ids: &[u16], files: &Path) -> CliError {
    let names: Vec<String> =
        ids.iter().map(|i| files.join(format!("{round}-{i}.json")).display().to_string()).collect();
    CliError::Io(format!(
        "waiting for the {round} file(s) of trustee(s) {}: {} missing (copy them into {} and run again)",
        ids.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
        names.join(", "),
        files.display()
    ))
}

/// Records the abort of `c` in the trustee's store, drops its secret
/// ceremony state, and returns the error to report.
fn abort(dir: &Path, c: &Ceremony, e: &DkgError, out: &Output) -> CliError {
    let err = dkg_error(e);
    if matches!(err, CliError::Security(_)) {
        match store(dir).and_then(|s| record_abort(&s, c, e, super::clock().now()).map_err(CliError::from)) {
            Ok(_) => {
                out.note(format!("the ceremony's abort is recorded in {}", dir.join("trustee.db").display()))
            }
            Err(r) => return r,
        }
        let _ = std::fs::remove_file(state_file(dir, c));
        let _ = std::fs::remove_file(pending_share_file(dir, c));
    }
    err
}

fn me_in(c: &Ceremony, key: &GroupSigningKey, path: &Path) -> Result<u16, CliError> {
    c.participants.iter().find(|p| p.identity == *key.public()).map(|p| p.id).ok_or_else(|| {
        CliError::Refused(format!("{}: this trustee's identity key is not in the ceremony", path.display()))
    })
}

fn ceremony_json(c: &Ceremony, me: u16, next: &str, file: &Path) -> serde_json::Value {
    json!({
        "ceremony": hex::encode(c.digest()),
        "purpose": c.purpose.to_string(),
        "threshold": c.threshold,
        "trustees": c.n(),
        "trustee": me,
        "next": if next.starts_with("none") { "finish" } else { next },
        "file": file,
    })
}

fn run_dkg(cmd: DkgCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        DkgCommand::Ceremony { purpose, threshold, trustee, out: file } => {
            let mut participants = Vec::with_capacity(trustee.len());
            for (k, path) in trustee.iter().enumerate() {
                let key: PublicKeyFile = read_message(path)?;
                if key.purpose != IDENTITY_PURPOSE {
                    return Err(CliError::Input(format!(
                        "{}: a {} key, not a trustee's identity key",
                        path.display(),
                        key.purpose
                    )));
                }
                let id = u16::try_from(k + 1).map_err(|_| CliError::Usage("too many trustees".into()))?;
                participants.push(Participant { id, identity: key.key });
            }
            let purpose = match purpose {
                PurposeArg::Decryption => KeyPurpose::Decryption,
                PurposeArg::Signing => KeyPurpose::Signing,
            };
            let c = Ceremony::new(purpose, threshold, participants, &mut OsRng)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_dir(parent)?;
            }
            write_message(&file, &c)?;
            out.result(
                || {
                    format!(
                        "{purpose} ceremony {}: {} of {} trustees ({}); written to {}\n  \
                         every trustee checks this file (its digest is {}) and runs `trustee dkg start`",
                        hex::encode(c.ceremony_id),
                        c.threshold,
                        c.n(),
                        trustee
                            .iter()
                            .zip(1..)
                            .map(|(p, i)| format!("{i}: {}", p.display()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        shown(&file),
                        hex::encode(c.digest())
                    )
                },
                json!({
                    "ceremony": hex::encode(c.digest()),
                    "purpose": purpose.to_string(),
                    "threshold": c.threshold,
                    "trustees": c.participants.iter().map(|p| json!({"trustee": p.id, "identity": p.identity})).collect::<Vec<_>>(),
                    "file": file,
                }),
            );
            Ok(())
        }
        DkgCommand::Start(a) => {
            let key = identity(&a.dir.dir)?;
            let c = read_ceremony(&a.ceremony)?;
            let me = me_in(&c, &key, &a.ceremony)?;
            if state_file(&a.dir.dir, &c).exists() || share_file(&a.dir.dir, c.purpose).exists() {
                return Err(CliError::Refused(format!(
                    "{}: this trustee started this ceremony already, or holds a {} key share",
                    a.dir.dir.display(),
                    c.purpose
                )));
            }
            let (state, msg) = DkgState::start(&c, me, &key, &mut OsRng).map_err(|e| dkg_error(&e))?;
            ensure_dir(&a.files)?;
            write_secret(&state_file(&a.dir.dir, &c), &state)?;
            let file = round_file(&a.files, &msg);
            write_message(&file, &msg)?;
            out.result(
                || {
                    format!(
                        "trustee {me} joined the {} ceremony {} ({} of {}); commit file written to {}\n  next: reveal, once every trustee's commit file is in {}",
                        c.purpose,
                        hex::encode(c.digest()),
                        c.threshold,
                        c.n(),
                        file.display(),
                        a.files.display()
                    )
                },
                ceremony_json(&c, me, state.next_round(), &file),
            );
            Ok(())
        }
        DkgCommand::Step(a) => {
            let key = identity(&a.dir.dir)?;
            let c = read_ceremony(&a.ceremony)?;
            let me = me_in(&c, &key, &a.ceremony)?;
            let path = state_file(&a.dir.dir, &c);
            if !path.exists() {
                return Err(CliError::Refused(format!(
                    "{}: no state for this ceremony (run `trustee dkg start` first; an aborted ceremony is over)",
                    a.dir.dir.display()
                )));
            }
            let state: DkgState = read_secret(&path)?;
            if state.ceremony() != &c || state.me() != me {
                return Err(CliError::Security(format!(
                    "{}: not the ceremony this trustee joined under this id",
                    a.ceremony.display()
                )));
            }
            let next = state.next_round();
            let Some(needed) = needed_round(next) else {
                return Err(CliError::Refused(format!(
                    "trustee {me} sent its last round file; run `trustee dkg finish` once every echo is in {}",
                    a.files.display()
                )));
            };
            let msgs = round_files(&a.files)?;
            let absent = missing(&c, &msgs, needed);
            if !absent.is_empty() {
                return Err(waiting(needed, &absent, &a.files));
            }
            let (state, msg, share) = match state.step(&msgs, &key, &mut OsRng) {
                Ok(r) => r,
                Err(e) => return Err(abort(&a.dir.dir, &c, &e, out)),
            };
            // The new state is kept before the round file leaves.
            super::files::write_secret_replace(&path, &state)?;
            if let Some(share) = &share {
                write_secret(&pending_share_file(&a.dir.dir, &c), share)?;
            }
            let file = round_file(&a.files, &msg);
            write_message(&file, &msg)?;
            let complained = match &msg.payload {
                DkgPayload::Complaint(k) => Some(k.accused),
                _ => None,
            };
            out.result(
                || match complained {
                    Some(accused) => format!(
                        "trustee {me}: the share of trustee {accused} does not hold; complaint written to {}\n  \
                         the ceremony will fail: `trustee dkg finish` names the trustee at fault",
                        file.display()
                    ),
                    None => format!(
                        "trustee {me}: {} file written to {}\n  next: {}",
                        round_name(&msg.payload),
                        file.display(),
                        match state.next_round() {
                            "shares" => "shares, once every trustee's reveal file is in the directory",
                            "echo" => "echo, once every trustee's shares file is in the directory",
                            _ => "`trustee dkg finish`, once every trustee's echo file is in the directory",
                        }
                    ),
                },
                ceremony_json(&c, me, state.next_round(), &file),
            );
            Ok(())
        }
        DkgCommand::Finish(a) => {
            let key = identity(&a.dir.dir)?;
            let c = read_ceremony(&a.ceremony)?;
            let me = me_in(&c, &key, &a.ceremony)?;
            let msgs = round_files(&a.files)?;
            for round in ["commit", "reveal", "shares", "echo"] {
                let absent = missing(&c, &msgs, round);
                if !absent.is_empty() {
                    return Err(waiting(round, &absent, &a.files));
                }
            }
            let (transcript, outcome) = match complete(&c, &msgs) {
                Ok(r) => r,
                Err(e) => return Err(abort(&a.dir.dir, &c, &e, out)),
            };
            let pending = pending_share_file(&a.dir.dir, &c);
            let share: KeyShare = read_secret(&pending)?;
            if share.group_key != outcome.group_key
                || share.verification_shares != outcome.verification_shares
                || share.ceremony != outcome.ceremony
            {
                return Err(CliError::Security(
                    "this trustee's key share does not fit the ceremony's outcome".into(),
                ));
            }
            write_secret(&share_file(&a.dir.dir, c.purpose), &share)?;
            write_message(&transcript_file(&a.dir.dir, c.purpose), &transcript)?;
            std::fs::remove_file(&pending)?;
            std::fs::remove_file(state_file(&a.dir.dir, &c))?;
            let tfile = transcript_file(&a.dir.dir, c.purpose);
            out.result(
                || {
                    format!(
                        "the {} ceremony completed: every trustee echoed the same keys\n  group key {}\n  \
                         trustee {me}'s key share installed in {}; the public transcript is in {}",
                        c.purpose,
                        hex::encode(outcome.group_key.as_bytes()),
                        share_file(&a.dir.dir, c.purpose).display(),
                        tfile.display()
                    )
                },
                json!({
                    "ceremony": hex::encode(c.digest()),
                    "purpose": c.purpose.to_string(),
                    "trustee": me,
                    "group_key": outcome.group_key,
                    "verification_shares": outcome.verification_shares.iter().map(|k| json!({"trustee": k.id, "key": k.verification_share})).collect::<Vec<_>>(),
                    "transcript": tfile,
                }),
            );
            Ok(())
        }
    }
}

/// A checked transcript and the keys it establishes.
fn read_transcript(path: &Path, purpose: KeyPurpose) -> Result<crate::trustees::dkg::DkgOutcome, CliError> {
    let t: DkgTranscript = read_message(path)?;
    let outcome = t.verify().map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    if outcome.purpose != purpose {
        return Err(CliError::Input(format!(
            "{}: the transcript of a {} ceremony, not of the {purpose} key",
            path.display(),
            outcome.purpose
        )));
    }
    Ok(outcome)
}

fn read_all<T: WireMessage>(paths: &[PathBuf]) -> Result<Vec<T>, CliError> {
    paths.iter().map(|p| read_message(p)).collect()
}

fn what_signed(r: &SigningRequest) -> &'static str {
    match r.message {
        GroupMessage::KeyStatement(_) => "key statement",
        GroupMessage::TraceResult(_) => "trace result",
    }
}

fn run_sign(cmd: SignCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        SignCommand::Statement { decryption, signing, signer, sequence, validity, out: file } => {
            let d = read_transcript(&decryption, KeyPurpose::Decryption)?;
            let s = read_transcript(&signing, KeyPurpose::Signing)?;
            if d.verification_shares.iter().map(|k| k.id).ne(s.verification_shares.iter().map(|k| k.id)) {
                return Err(CliError::Input("the two ceremonies are not of the same trustees".into()));
            }
            let validity = validity.validity(super::clock().today())?;
            let statement = TtpKeyStatement {
                params_id: Params::get().id,
                sequence,
                decryption_key: d.group_key,
                threshold: d.threshold,
                trustees: d.verification_shares.clone(),
                signing_key: s.group_key,
                validity,
                issued: super::clock().now(),
            };
            statement.check().map_err(|e| CliError::Input(e.to_string()))?;
            let signers = if signer.is_empty() {
                s.verification_shares.iter().take(usize::from(s.threshold)).map(|k| k.id).collect()
            } else {
                signer
            };
            let request = SigningRequest::new(signers, GroupMessage::KeyStatement(statement), &mut OsRng);
            write_message(&file, &request)?;
            out.result(
                || {
                    format!(
                        "request for trustees {:?} to sign the key statement (Y_T {}, {} of {}, escrow until {}) written to {}",
                        request.signers,
                        hex::encode(d.group_key.as_bytes()),
                        d.threshold,
                        d.verification_shares.len(),
                        validity.escrow_until,
                        shown(&file)
                    )
                },
                json!({
                    "session": hex::encode(request.session_id),
                    "signers": request.signers,
                    "decryption_key": d.group_key,
                    "signing_key": s.group_key,
                    "threshold": d.threshold,
                    "escrow_until": day(validity.escrow_until),
                    "file": file,
                }),
            );
            Ok(())
        }
        SignCommand::Commit { dir, request, out: file } => {
            let t = open_trustee(&dir.dir)?;
            let req: SigningRequest = read_message(&request)?;
            let c = t.sign_commit(&req, &mut OsRng).map_err(signing_error)?;
            write_message(&file, &c)?;
            out.result(
                || {
                    format!(
                        "trustee {} checked the {} and committed to fresh nonces (kept, single-use); commitment written to {}",
                        t.id(),
                        what_signed(&req),
                        shown(&file)
                    )
                },
                json!({"trustee": t.id(), "session": hex::encode(c.session), "signs": what_signed(&req).replace(' ', "_"), "file": file}),
            );
            Ok(())
        }
        SignCommand::Share { dir, request, commitment, out: file } => {
            let t = open_trustee(&dir.dir)?;
            let req: SigningRequest = read_message(&request)?;
            let commitments: Vec<SigningCommitment> = read_all(&commitment)?;
            let s = t.sign_share(&req, &commitments).map_err(signing_error)?;
            write_message(&file, &s)?;
            out.result(
                || {
                    format!(
                        "trustee {}'s signature share of the {} written to {} (its nonces are erased)",
                        t.id(),
                        what_signed(&req),
                        shown(&file)
                    )
                },
                json!({"trustee": t.id(), "session": hex::encode(s.session), "file": file}),
            );
            Ok(())
        }
        SignCommand::Finish { request, group, ttp, commitment, share, out: file } => {
            let req: SigningRequest = read_message(&request)?;
            let outcome = read_transcript(&group, KeyPurpose::Signing)?;
            let commitments: Vec<SigningCommitment> = read_all(&commitment)?;
            let shares: Vec<SignatureShare> = read_all(&share)?;
            let (what, value) = match &req.message {
                GroupMessage::KeyStatement(_) => {
                    let signed =
                        signing::finish(&outcome, &req, &commitments, &shares).map_err(signing_error)?;
                    write_message(&file, &signed)?;
                    ("key statement", json!(hex::encode(signed.statement.digest())))
                }
                GroupMessage::TraceResult(_) => {
                    let path = ttp.ok_or_else(|| {
                        CliError::Usage(
                            "a trace result is checked against the group's key statement: --ttp".into(),
                        )
                    })?;
                    let statement: SignedTtpKeyStatement = super::ttp::read_statement(&path)?;
                    let result =
                        signing::finish_result(&outcome, &statement.statement, &req, &commitments, &shares)
                            .map_err(signing_error)?;
                    write_message(&file, &result)?;
                    ("trace result", json!(hex::encode(result.digest())))
                }
            };
            out.result(
                || {
                    format!(
                        "the {what} is signed by trustees {:?} as a group; it verifies under the group signing key {}; written to {}",
                        req.signers,
                        hex::encode(outcome.group_key.as_bytes()),
                        shown(&file)
                    )
                },
                json!({"signed": what.replace(' ', "_"), "digest": value, "signers": req.signers, "signing_key": outcome.group_key, "file": file}),
            );
            Ok(())
        }
    }
}

/// Runs a trustee command.
pub fn run_trustee(cmd: TrusteeCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TrusteeCommand::Init { dir } => {
            let key_path = dir.dir.join(IDENTITY);
            if key_path.exists() {
                return Err(CliError::Refused(format!(
                    "{}: a trustee identity key exists here already",
                    dir.dir.display()
                )));
            }
            ensure_dir(&dir.dir)?;
            let key = GroupSigningKey::generate(&mut OsRng);
            drop(SqliteTtpStore::open(dir.dir.join("trustee.db"))?);
            write_json_default_config(&dir.dir)?;
            write_secret(&key_path, &key)?;
            let pub_path = dir.dir.join(IDENTITY_PUB);
            write_message(
                &pub_path,
                &PublicKeyFile { purpose: IDENTITY_PURPOSE.into(), key: *key.public() },
            )?;
            out.result(
                || {
                    format!(
                        "trustee identity key {} created in {}; give {} to whoever writes the ceremony file",
                        hex::encode(key.public().as_bytes()),
                        dir.dir.display(),
                        pub_path.display()
                    )
                },
                json!({"identity": key.public(), "public_key": pub_path}),
            );
            Ok(())
        }
        TrusteeCommand::Dkg(c) => run_dkg(c, out),
        TrusteeCommand::Sign(c) => run_sign(c, out),
        TrusteeCommand::TrustIssuer(TrustIssuerArgs { dir, key }) => {
            identity(&dir.dir)?;
            add_issuer(&dir.dir, &key, out)
        }
        TrusteeCommand::TrustBank(TrustBankArgs { dir, keysets, bank_key }) => {
            let t = open_trustee(&dir.dir)?;
            let ours = read_secret::<KeyShare>(&share_file(&dir.dir, KeyPurpose::Decryption))?.group_key;
            drop(t);
            pin_bank(&dir.dir, &keysets, bank_key.as_deref(), &ours, out)
        }
        TrusteeCommand::DecryptShare { dir, warrant, record, out: file } => {
            let t = open_trustee(&dir.dir)?;
            let warrant: Warrant = read_message(&warrant)?;
            let record: TraceRecord = read_message(&record)?;
            let req = TraceRequest { warrant, record };
            let share = t.decrypt_share(&req, &mut OsRng)?;
            write_message(&file, &share)?;
            let head = t.log_head(&mut OsRng)?;
            let head_path = dir.dir.join("log-head.json");
            write_message(&head_path, &head)?;
            let e = &share.evidence;
            out.result(
                || {
                    format!(
                        "trustee {}'s decryption share ({} tracing, warrant {}, case {}) with its proof written to {}\n  \
                         logged as entry {}; log head {} published in {}",
                        e.trustee,
                        share.kind,
                        hex::encode(req.warrant.warrant_id),
                        req.warrant.case_id,
                        shown(&file),
                        e.log_index,
                        hex::encode(head.hash),
                        head_path.display()
                    )
                },
                json!({
                    "trustee": e.trustee,
                    "kind": share.kind.to_string(),
                    "warrant_id": hex::encode(req.warrant.warrant_id),
                    "log_index": e.log_index,
                    "log_head": hex::encode(head.hash),
                    "file": file,
                }),
            );
            Ok(())
        }
        TrusteeCommand::Log(TrusteeLogCommand::Verify { dir, head }) => {
            let t = open_trustee(&dir.dir)?;
            let heads = head.iter().map(|h| read_message::<LogHead>(h)).collect::<Result<Vec<_>, _>>()?;
            let entries = t.store().entries()?;
            let tip = t.verify_log(&heads).map_err(|e| CliError::Security(format!("audit log: {e}")))?;
            log_verify_json(out, entries.len(), &tip, heads.len());
            Ok(())
        }
        TrusteeCommand::Log(TrusteeLogCommand::Head { dir, out: file }) => {
            let t = open_trustee(&dir.dir)?;
            let head = t.log_head(&mut OsRng)?;
            write_message(&file, &head)?;
            log_head_json(out, &head, &file);
            Ok(())
        }
    }
}

fn write_json_default_config(dir: &Path) -> Result<(), CliError> {
    super::files::write_json(&dir.join("ttp.json"), &super::ttp::TtpConfig::default())
}
