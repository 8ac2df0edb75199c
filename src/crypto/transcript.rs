//! Fiat–Shamir transcripts: every domain-separation label of the protocol and
//! the typed helpers that append faircash values to a merlin transcript.
//!
//! The labels are versioned with the protocol (`faircash/v1`), not with the
//! crate. Each [`labels`] constant is used for exactly one purpose (one
//! transcript or hash, or one signature domain); a test reads the crate's
//! sources and checks that no two labels are equal, that every constant has
//! one purpose, and that no domain string is written outside this table. Only the protocol layer (and the
//! hashing helpers here) call [`Transcript::new`]; proof code takes
//! `&mut Transcript` and the caller has already bound `params_id` and the
//! protocol context.

use std::cell::RefCell;

use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;

use crate::encoding::Point;

/// `Transcript::new(label)`, followed by `T.msg("params-id", params_id)`
/// when `params_id` is given: cloned from a per-thread copy made on first
/// use. A verifier starts several transcripts per coin (`coin_id`, the ACL
/// hash, the payment), each with the same label (and `params_id`); a clone
/// is a copy of 200 bytes where a fresh start is a STROBE initialisation
/// and framed messages. The copies are keyed by both inputs.
pub(crate) fn cached_start(label: &'static [u8], params_id: Option<&[u8; 32]>) -> Transcript {
    type Start = (&'static [u8], Option<[u8; 32]>, Transcript);
    thread_local! {
        static STARTS: RefCell<Vec<Start>> = const { RefCell::new(Vec::new()) };
    }
    STARTS.with(|starts| {
        let mut starts = starts.borrow_mut();
        if let Some((_, _, t)) = starts.iter().find(|(l, id, _)| *l == label && id.as_ref() == params_id) {
            return t.clone();
        }
        let mut t = Transcript::new(label);
        if let Some(id) = params_id {
            t.append_message(b"params-id", id);
        }
        starts.push((label, params_id.copied(), t.clone()));
        t
    })
}

/// The protocol version label, kept apart from the crate's semver.
pub const PROTOCOL_VERSION: &str = "faircash/v1";

/// Domain-separation labels, one per transcript or hash.
pub mod labels {
    /// `params_id`: the hash of the version string and every generator.
    pub const PARAMS_ID: &[u8] = b"faircash/v1/params-id";
    /// Hash-to-group input prefix of the per-key ACL generator `z_k`.
    pub const ABE_Z: &[u8] = b"faircash/v1/abe-z";
    /// Identifier of a denomination key.
    pub const KEY_ID: &[u8] = b"faircash/v1/key-id";
    /// `keyset_id`: the hash of a keyset document.
    pub const KEYSET_ID: &[u8] = b"faircash/v1/keyset-id";
    /// The bank master key's signature on a keyset document.
    pub const KEYSET_SIGNATURE: &[u8] = b"faircash/v1/keyset-signature";
    /// Account identifier of a user (from `I`).
    pub const USER_ACCOUNT_ID: &[u8] = b"faircash/v1/user-account-id";
    /// Account identifier of a merchant (from `M`).
    pub const MERCHANT_ACCOUNT_ID: &[u8] = b"faircash/v1/merchant-account-id";
    /// Registration proof of knowledge of `u`.
    pub const USER_REGISTRATION: &[u8] = b"faircash/v1/user-registration";
    /// Registration proof of knowledge of `m`.
    pub const MERCHANT_REGISTRATION: &[u8] = b"faircash/v1/merchant-registration";
    /// The withdrawal request proof `pi_W`.
    pub const WITHDRAW_PROOF: &[u8] = b"faircash/v1/withdraw-proof";
    /// The ACL signature challenge `H_acl`.
    pub const ACL_CHALLENGE: &[u8] = b"faircash/v1/acl-challenge";
    /// `coin_id` = `m`: the hash of a coin body.
    pub const COIN_ID: &[u8] = b"faircash/v1/coin-id";
    /// Derivation of the bank's signing nonces for one session.
    pub const ACL_SIGNER_NONCES: &[u8] = b"faircash/v1/acl-signer-nonces";
    /// The payment transcript (coins, range proof, spend challenges).
    pub const PAYMENT: &[u8] = b"faircash/v1/payment";
    /// Digest of a payment request `P`.
    pub const PAYMENT_REQUEST_ID: &[u8] = b"faircash/v1/payment-request-id";
    /// Digest of a whole payment (the stored transcript's name).
    pub const PAYMENT_DIGEST: &[u8] = b"faircash/v1/payment-digest";
    /// The merchant's signature on a deposit request.
    pub const DEPOSIT_SIGNATURE: &[u8] = b"faircash/v1/deposit-signature";
    /// The TTP's Chaum–Pedersen proof of correct decryption.
    pub const TRACE_DECRYPTION: &[u8] = b"faircash/v1/trace-decryption";
    /// The warrant issuer's signature on a warrant.
    pub const WARRANT_SIGNATURE: &[u8] = b"faircash/v1/warrant-signature";
    /// Digest of a warrant.
    pub const WARRANT_ID: &[u8] = b"faircash/v1/warrant-digest";
    /// Domain of the TTP's group signature on a trace result.
    pub const TRACE_RESULT_SIGNATURE: &[u8] = b"faircash/v1/trace-result-signature";
    /// Digest of a trace result (what the TTP signs).
    pub const TRACE_RESULT_DIGEST: &[u8] = b"faircash/v1/trace-result-digest";
    /// Digest of a traced record (what a warrant names).
    pub const TRACE_RECORD: &[u8] = b"faircash/v1/trace-record";
    /// Digest of a trace request, warrant and record (what the TTP's log
    /// records).
    pub const TRACE_REQUEST_DIGEST: &[u8] = b"faircash/v1/trace-request-digest";
    /// One entry of the TTP's hash-chained audit log.
    pub const TRACE_LOG_ENTRY: &[u8] = b"faircash/v1/trace-log-entry";
    /// Digest of the TTP's log head (what it signs).
    pub const TRACE_LOG_HEAD: &[u8] = b"faircash/v1/trace-log-head";
    /// Domain of the TTP's group signature on its log head.
    pub const TRACE_LOG_HEAD_SIGNATURE: &[u8] = b"faircash/v1/trace-log-head-signature";
    /// Digest of a TTP key statement.
    pub const TTP_KEY_STATEMENT: &[u8] = b"faircash/v1/ttp-key-statement";
    /// Domain of the TTP's group signature on its key statement.
    pub const TTP_KEY_STATEMENT_SIGNATURE: &[u8] = b"faircash/v1/ttp-key-statement-signature";
    /// Signature of an account's authentication key on an account request
    /// digest.
    pub const ACCOUNT_REQUEST_SIGNATURE: &[u8] = b"faircash/v1/account-request-signature";
    /// Digest of an account request (operation, account, request id, body).
    pub const ACCOUNT_REQUEST: &[u8] = b"faircash/v1/account-request";
    /// A new authentication key's signature proving its possession.
    pub const AUTH_KEY_POSSESSION: &[u8] = b"faircash/v1/auth-key-possession";
    /// The proof of knowledge of a new identity and authentication key
    /// that re-keys an account.
    pub const ACCOUNT_REKEY: &[u8] = b"faircash/v1/account-rekey";
    /// The short fingerprint of a re-key request (compared out of band).
    pub const ACCOUNT_REKEY_FINGERPRINT: &[u8] = b"faircash/v1/account-rekey-fingerprint";
    /// Digest of a withdrawal request (what the bank's commitment answers).
    pub const WITHDRAW_REQUEST_DIGEST: &[u8] = b"faircash/v1/withdraw-request-digest";
    /// Digest of the bank's withdrawal commitment (bound by the challenge).
    pub const WITHDRAW_COMMITMENT_DIGEST: &[u8] = b"faircash/v1/withdraw-commitment-digest";
    /// The bank's online-key signature on a withdrawal commitment digest.
    pub const WITHDRAW_COMMITMENT_SIGNATURE: &[u8] = b"faircash/v1/withdraw-commitment-signature";
    /// The bank's online-key signature ending a withdrawal session unanswered.
    pub const WITHDRAW_SESSION_END_SIGNATURE: &[u8] = b"faircash/v1/withdraw-session-end-signature";
    /// Digest of a deposit request (what a stored receipt answers).
    pub const DEPOSIT_REQUEST_DIGEST: &[u8] = b"faircash/v1/deposit-request-digest";
    /// Digest of a merchant's order description (the request's order digest).
    pub const ORDER_DIGEST: &[u8] = b"faircash/v1/order-digest";
    /// The bank master key's signature on the coin-tracing watch list.
    pub const WATCH_LIST_SIGNATURE: &[u8] = b"faircash/v1/watch-list-signature";
    /// The bank master key's signature on a page of a spent list.
    pub const SPENT_LIST_SIGNATURE: &[u8] = b"faircash/v1/spent-list-signature";
    /// The bank master key's signature on an unspent statement.
    pub const UNSPENT_STATEMENT_SIGNATURE: &[u8] = b"faircash/v1/unspent-statement-signature";
    /// A trustee's Chaum–Pedersen proof of its decryption share.
    pub const TRACE_DECRYPTION_SHARE: &[u8] = b"faircash/v1/trace-decryption-share";
    /// Digest of a trustee's decryption share (what its log records).
    pub const TRACE_SHARE_DIGEST: &[u8] = b"faircash/v1/trace-share-digest";
    /// Digest of a DKG ceremony (its context: id, purpose, t, n, trustees).
    pub const DKG_CEREMONY: &[u8] = b"faircash/v1/dkg-ceremony";
    /// Digest of a trustee's round-1 DKG package (what it commits to).
    pub const DKG_ROUND1: &[u8] = b"faircash/v1/dkg-round1-package";
    /// Digest of a DKG round file (what its sender signs).
    pub const DKG_MESSAGE: &[u8] = b"faircash/v1/dkg-message";
    /// Domain of a trustee identity key's signature on a DKG round file.
    pub const DKG_MESSAGE_SIGNATURE: &[u8] = b"faircash/v1/dkg-message-signature";
    /// HKDF-SHA512 salt of the key that seals a round-2 DKG share.
    pub const DKG_SHARE_KEY: &[u8] = b"faircash/v1/dkg-share-key";
    /// A complainant's proof that it reveals the right Diffie–Hellman key.
    pub const DKG_COMPLAINT: &[u8] = b"faircash/v1/dkg-complaint";
    /// Digest of every round-1 package, `Y` and every `Y_i` (the echo).
    pub const DKG_ECHO: &[u8] = b"faircash/v1/dkg-echo";
    /// Digest of a FROST signing session of the trustees.
    pub const GROUP_SIGNING_REQUEST: &[u8] = b"faircash/v1/group-signing-request";
    /// The bank's online signature on a deposit receipt.
    pub const DEPOSIT_RECEIPT_SIGNATURE: &[u8] = b"faircash/v1/deposit-receipt-signature";
    /// HKDF-SHA512 salt of an account root from a wallet seed.
    pub const SEED_ACCOUNT: &[u8] = b"faircash/v1/seed-account";
    /// HKDF-SHA512 salt of the identity secret `u` from an account root.
    pub const SEED_IDENTITY: &[u8] = b"faircash/v1/seed-identity";
    /// HKDF-SHA512 salt of the authentication secret from an account root.
    pub const SEED_AUTH: &[u8] = b"faircash/v1/seed-auth";
    /// HKDF-SHA512 salt of a coin seed from an account root.
    pub const SEED_COIN: &[u8] = b"faircash/v1/seed-coin";
    /// HKDF-SHA512 salt of a withdrawal value from a coin seed.
    pub const COIN_VALUE: &[u8] = b"faircash/v1/coin-value";
    /// HKDF-SHA512 salt of a wallet backup file's key from a wallet seed.
    pub const BACKUP_KEY: &[u8] = b"faircash/v1/backup-key";
    /// A payee's signature refusing a payment (request id, payment digest).
    pub const PAYEE_REFUSAL_SIGNATURE: &[u8] = b"faircash/v1/payee-refusal-signature";
    /// Transcript of a reclaim request's digest.
    pub const RECLAIM_REQUEST_DIGEST: &[u8] = b"faircash/v1/reclaim-request-digest";
    /// Signature domain: the authentication key on a reclaim request's digest.
    pub const RECLAIM_SIGNATURE: &[u8] = b"faircash/v1/reclaim-signature";
    /// A reclaim's escrow proof transcript (one per coin).
    pub const RECLAIM_ESCROW: &[u8] = b"faircash/v1/reclaim-escrow";

    /// Every label above, for the uniqueness test.
    pub const ALL: &[&[u8]] = &[
        PARAMS_ID,
        ABE_Z,
        KEY_ID,
        KEYSET_ID,
        KEYSET_SIGNATURE,
        USER_ACCOUNT_ID,
        MERCHANT_ACCOUNT_ID,
        USER_REGISTRATION,
        MERCHANT_REGISTRATION,
        WITHDRAW_PROOF,
        ACL_CHALLENGE,
        COIN_ID,
        ACL_SIGNER_NONCES,
        PAYMENT,
        PAYMENT_REQUEST_ID,
        PAYMENT_DIGEST,
        DEPOSIT_SIGNATURE,
        TRACE_DECRYPTION,
        WARRANT_SIGNATURE,
        WARRANT_ID,
        TRACE_RESULT_SIGNATURE,
        TRACE_RESULT_DIGEST,
        TRACE_RECORD,
        TRACE_REQUEST_DIGEST,
        TRACE_LOG_ENTRY,
        TRACE_LOG_HEAD,
        TRACE_LOG_HEAD_SIGNATURE,
        TTP_KEY_STATEMENT,
        TTP_KEY_STATEMENT_SIGNATURE,
        ACCOUNT_REQUEST_SIGNATURE,
        ACCOUNT_REQUEST,
        AUTH_KEY_POSSESSION,
        ACCOUNT_REKEY,
        ACCOUNT_REKEY_FINGERPRINT,
        WITHDRAW_REQUEST_DIGEST,
        WITHDRAW_COMMITMENT_DIGEST,
        WITHDRAW_COMMITMENT_SIGNATURE,
        WITHDRAW_SESSION_END_SIGNATURE,
        WATCH_LIST_SIGNATURE,
        SPENT_LIST_SIGNATURE,
        UNSPENT_STATEMENT_SIGNATURE,
        ORDER_DIGEST,
        DEPOSIT_REQUEST_DIGEST,
        TRACE_DECRYPTION_SHARE,
        TRACE_SHARE_DIGEST,
        DKG_CEREMONY,
        DKG_ROUND1,
        DKG_MESSAGE,
        DKG_MESSAGE_SIGNATURE,
        DKG_SHARE_KEY,
        DKG_COMPLAINT,
        DKG_ECHO,
        GROUP_SIGNING_REQUEST,
        DEPOSIT_RECEIPT_SIGNATURE,
        SEED_ACCOUNT,
        SEED_IDENTITY,
        SEED_AUTH,
        SEED_COIN,
        COIN_VALUE,
        BACKUP_KEY,
        PAYEE_REFUSAL_SIGNATURE,
        RECLAIM_REQUEST_DIGEST,
        RECLAIM_SIGNATURE,
        RECLAIM_ESCROW,
    ];

    /// Hash-to-group labels of the independent generators.
    pub const GENERATORS: &[(&str, &[u8])] = &[
        ("h", b"faircash/v1/gen/h"),
        ("H0", b"faircash/v1/gen/H0"),
        ("Hu", b"faircash/v1/gen/Hu"),
        ("Hs", b"faircash/v1/gen/Hs"),
        ("Ht", b"faircash/v1/gen/Ht"),
        ("Ps", b"faircash/v1/gen/Ps"),
    ];
}

/// Typed helpers on a merlin transcript.
pub trait FaircashTranscript {
    /// Appends a point's canonical encoding.
    fn append_point(&mut self, label: &'static [u8], p: &Point);
    /// Appends a point after checking it is not the identity.
    fn validate_and_append_point(
        &mut self,
        label: &'static [u8],
        p: &Point,
    ) -> Result<(), crate::crypto::VerifyError>;
    /// Appends a scalar's canonical encoding.
    fn append_scalar(&mut self, label: &'static [u8], s: &Scalar);
    /// Draws a uniformly distributed scalar (64 bytes reduced mod `q`).
    fn challenge_scalar(&mut self, label: &'static [u8]) -> Scalar;
    /// Draws 32 bytes, used as a digest.
    fn challenge_digest(&mut self, label: &'static [u8]) -> [u8; 32];
}

impl FaircashTranscript for Transcript {
    fn append_point(&mut self, label: &'static [u8], p: &Point) {
        self.append_message(label, p.as_bytes());
    }

    fn validate_and_append_point(
        &mut self,
        label: &'static [u8],
        p: &Point,
    ) -> Result<(), crate::crypto::VerifyError> {
        if p.is_identity() {
            return Err(crate::crypto::VerifyError);
        }
        self.append_point(label, p);
        Ok(())
    }

    fn append_scalar(&mut self, label: &'static [u8], s: &Scalar) {
        self.append_message(label, s.as_bytes());
    }

    fn challenge_scalar(&mut self, label: &'static [u8]) -> Scalar {
        let mut wide = [0u8; 64];
        self.challenge_bytes(label, &mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn challenge_digest(&mut self, label: &'static [u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.challenge_bytes(label, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::labels;

    #[test]
    fn cached_starts_are_fresh_starts() {
        use merlin::Transcript;
        let id = [7u8; 32];
        for _ in 0..2 {
            for params_id in [None, Some(&id)] {
                let mut cached = super::cached_start(labels::COIN_ID, params_id);
                let mut fresh = Transcript::new(labels::COIN_ID);
                if let Some(id) = params_id {
                    fresh.append_message(b"params-id", id);
                }
                let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
                cached.challenge_bytes(b"d", &mut a);
                fresh.challenge_bytes(b"d", &mut b);
                assert_eq!(a, b, "{params_id:?}");
            }
        }
    }

    // -----------------------------------------------------------------
    // Every label of the crate, read from the sources: one value each,
    // one purpose each (protocol.md §1).
    // -----------------------------------------------------------------

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// The production sources under `src/`, each without its comment lines
    /// and its `#[cfg(test)]` items (test transcripts use throwaway labels).
    fn production_sources() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                (p, without_test_items(&code.join("\n")))
            })
            .collect()
    }

    /// The byte offset just after the brace that closes the one at `open`.
    fn matching_brace(text: &str, open: usize) -> usize {
        let mut depth = 0usize;
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return open + i + 1;
                    }
                }
                _ => {}
            }
        }
        text.len()
    }

    fn without_test_items(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("#[cfg(test)]") {
            out.push_str(&rest[..at]);
            let item = &rest[at..];
            let end = match (item.find('{'), item.find(';')) {
                (Some(b), Some(s)) if s < b => s + 1,
                (Some(b), _) => matching_brace(item, b),
                (None, Some(s)) => s + 1,
                (None, None) => item.len(),
            };
            rest = &item[end..];
        }
        out.push_str(rest);
        out
    }

    /// A label constant's name and value.
    type Declared = (String, Vec<u8>);

    /// `(name, value)` of every `pub const NAME: &[u8] = b"value";` in the
    /// `labels` module, and the generator labels.
    fn declared_labels() -> (Vec<Declared>, Vec<Vec<u8>>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/crypto/transcript.rs");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("pub mod labels {").unwrap();
        let module = &text[start..matching_brace(&text, start + "pub mod labels ".len())];
        let mut consts = Vec::new();
        for line in module.lines().map(str::trim) {
            if let Some(decl) = line.strip_prefix("pub const ") {
                if let Some((name, value)) = decl.split_once(": &[u8] = b\"") {
                    let value = value.strip_suffix("\";").expect("one label per line");
                    consts.push((name.to_string(), value.as_bytes().to_vec()));
                }
            }
        }
        let generators = labels::GENERATORS.iter().map(|(_, l)| l.to_vec()).collect();
        (consts, generators)
    }

    /// The name and body of the innermost `fn` whose body holds `pos`.
    fn enclosing_fn(text: &str, pos: usize) -> (&str, &str) {
        let mut best = ("<none>", "");
        let mut from = 0;
        while let Some(i) = text[from..pos].find("fn ") {
            let at = from + i;
            from = at + 3;
            if at > 0 && !text[..at].ends_with(char::is_whitespace) {
                continue;
            }
            let name: &str = text[at + 3..].split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap();
            let Some(open) = text[at..].find('{').map(|b| at + b) else { continue };
            let close = matching_brace(text, open);
            if open < pos && pos < close && !name.is_empty() {
                best = (name, &text[open..close]);
            }
        }
        best
    }

    /// What one use of a label constant does, from the code around it:
    /// the domain of a signature, the start of a transcript (named by the
    /// digests its function draws, or a proof's transcript if it draws
    /// none), or an argument to some other function.
    fn purpose(text: &str, pos: usize) -> String {
        // The function whose argument list holds the use.
        let mut depth = 0usize;
        let mut callee = None;
        for (i, c) in text[..pos].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 0 => {
                    callee = text[..i].rsplit(|c: char| !c.is_alphanumeric() && c != '_').next();
                    break;
                }
                '(' => depth -= 1,
                ';' | '{' | '}' if depth == 0 => break,
                _ => {}
            }
        }
        match callee {
            // `sign`, `verify`, `queue` and the roles' wrappers (`sign_online`).
            Some(c) if c.starts_with("sign") || c.starts_with("verify") || c == "queue" => {
                "signature domain".into()
            }
            Some("transcript" | "cached_start" | "new") => {
                let (_, body) = enclosing_fn(text, pos);
                let digests: BTreeSet<&str> = body
                    .match_indices("challenge_digest(b\"")
                    .map(|(i, m)| body[i + m.len()..].split('"').next().unwrap())
                    .collect();
                if digests.is_empty() {
                    "transcript of a proof or challenge".into()
                } else {
                    format!("transcript of the digest {digests:?}")
                }
            }
            _ => match enclosing_fn(text, pos).0 {
                // A signing function that hands its domain on (the trustees'
                // `signed_digest` returns the label with the digest to sign).
                f if f.contains("sign") => "signature domain".into(),
                f => format!("input of fn {f}"),
            },
        }
    }

    /// Every label, its value and its purposes, and every problem found.
    fn label_survey() -> Vec<String> {
        let mut problems = Vec::new();
        let (consts, generators) = declared_labels();
        // One value per label, across constants, generator labels and the
        // range proof's domain separators.
        let sources = production_sources();
        let mut values: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        let mut add = |value: &[u8], what: String, problems: &mut Vec<String>| {
            if let Some(other) = values.insert(value.to_vec(), what.clone()) {
                if other != what {
                    problems.push(format!(
                        "{other} and {what} share the value {:?}",
                        String::from_utf8_lossy(value)
                    ));
                }
            }
        };
        for (name, value) in &consts {
            add(value, format!("labels::{name}"), &mut problems);
            if !value.starts_with(b"faircash/v1/") {
                problems.push(format!("labels::{name} is not versioned"));
            }
        }
        for g in &generators {
            add(g, format!("generator {:?}", String::from_utf8_lossy(g)), &mut problems);
        }
        for (path, text) in &sources {
            for (i, m) in text.match_indices("b\"dom-sep\", b\"") {
                let v = text[i + m.len()..].split('"').next().unwrap();
                add(v.as_bytes(), format!("dom-sep {v:?}"), &mut problems);
                let _ = path;
            }
        }
        // `labels::ALL` holds exactly the declared constants.
        let all: BTreeSet<&[u8]> = labels::ALL.iter().copied().collect();
        let declared: BTreeSet<&[u8]> = consts.iter().map(|(_, v)| v.as_slice()).collect();
        if all != declared || labels::ALL.len() != consts.len() {
            problems.push("labels::ALL does not list every declared label exactly once".into());
        }
        // Uses: a literal domain string outside the table, a constant with
        // no use, or one used for two purposes.
        let mut purposes: BTreeMap<&str, BTreeSet<String>> =
            consts.iter().map(|(n, _)| (n.as_str(), BTreeSet::new())).collect();
        for (path, text) in &sources {
            let file = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
            let in_table = file.ends_with("src/crypto/transcript.rs");
            // The store conformance suite signs fixtures under throwaway domains.
            let fixtures = file.contains("store/conformance");
            if !in_table
                && !fixtures
                && (text.contains("\"faircash/v1/") || text.contains("Transcript::new(b\""))
            {
                problems.push(format!("{file}: a literal domain label outside labels"));
            }
            for (i, m) in text.match_indices("labels::") {
                let name: &str =
                    text[i + m.len()..].split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap();
                if name == "ALL" || name == "GENERATORS" {
                    continue;
                }
                match purposes.get_mut(name) {
                    Some(set) => {
                        set.insert(purpose(text, i));
                    }
                    None => problems.push(format!("{file}: labels::{name} is not declared")),
                }
            }
        }
        // The label table of protocol.md §1.1 names every label.
        let spec =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/protocol.md")).unwrap();
        let table =
            spec.split("### 1.1 Domain labels").nth(1).and_then(|t| t.split("\n### ").next()).unwrap_or("");
        for value in consts.iter().map(|(_, v)| v).chain(&generators) {
            let name = String::from_utf8_lossy(value.strip_prefix(b"faircash/v1/").unwrap_or(value));
            if !table.contains(&format!("`{name}`")) {
                problems.push(format!("protocol.md §1.1 does not list the label {name:?}"));
            }
        }
        for (name, set) in &purposes {
            match set.len() {
                0 => problems.push(format!("labels::{name} is never used")),
                1 => {}
                _ => problems.push(format!("labels::{name} has two purposes: {set:?}")),
            }
        }
        problems
    }

    #[test]
    fn every_label_has_its_own_value_and_one_purpose() {
        let problems = label_survey();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_label_survey_sees_a_reused_label() {
        // The survey's classifier on a function that draws a digest from a
        // label another function uses for a proof's transcript.
        let text = "fn a() { let t = p.transcript(labels::X); prove(t) }\n\
                    fn b() { let mut t = p.transcript(labels::X); t.challenge_digest(b\"d\") }\n\
                    fn c() { k.sign(labels::X, m) }\n\
                    fn d() { self.sign_online(keyset, labels::X, &digest(m)) }\n";
        let uses: Vec<String> = text.match_indices("labels::X").map(|(i, _)| purpose(text, i)).collect();
        assert_eq!(uses.iter().collect::<BTreeSet<_>>().len(), 3, "{uses:?}");
        assert_eq!(uses[2], uses[3], "a wrapper of sign names a signature domain too");
        let stripped = without_test_items("a\n#[cfg(test)]\nmod tests { fn x() { b\"faircash/v1/t\" } }\nb");
        assert_eq!(stripped, "a\n\nb");
    }

    #[test]
    fn every_label_is_versioned() {
        for l in labels::ALL.iter().chain(labels::GENERATORS.iter().map(|(_, l)| l)) {
            assert!(l.starts_with(b"faircash/v1/"));
        }
    }
}
