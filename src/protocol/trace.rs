//! Tracing: warrants, trace records, proven decryptions and the TTP's audit
//! log (specs/tracing.md).
//!
//! - **Owner tracing**: a deposited spend → the identity `I` escrowed in the
//!   coin's `E`.
//! - **Coin tracing**: a withdrawal record → the serial `S` escrowed in `E_w`,
//!   which the bank puts on its watch list.
//!
//! The TTP decrypts only under a valid warrant naming the one record, only
//! if the record itself verifies (so it is never a decryption oracle for
//! arbitrary ciphertexts), proves every decryption (Chaum–Pedersen), signs
//! the result with a signing key apart from its decryption key, and appends
//! an entry to a hash-chained log before the result leaves.

use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::pay::{verify_payment, Payment};
use super::withdraw::WithdrawRequest;
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::group_signature::{GroupSignature, GroupSigningKey};
use crate::crypto::schnorr::{Proof, Relation, Signature, SigningKey};
use crate::crypto::threshold::combine_decryption_shares;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::crypto::VerifyError;
use crate::encoding::Point;
use crate::keys::{user_account_id, AccountId, KeysetLookup};
use crate::params::Params;
use crate::protocol::trust::{TrusteeKey, TtpKeyStatement, MAX_TRUSTEES};
use crate::time::Timestamp;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// Longest case id, in bytes.
pub const MAX_CASE_ID: usize = 128;
/// Longest reason, in bytes.
pub const MAX_REASON: usize = 2048;

/// What is traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TraceKind {
    /// A spent coin → the identity of its withdrawer.
    Owner,
    /// A withdrawal → the serial of its coin.
    Coin,
}

impl TraceKind {
    fn tag(self) -> u64 {
        match self {
            TraceKind::Owner => 1,
            TraceKind::Coin => 2,
        }
    }
}

impl std::fmt::Display for TraceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TraceKind::Owner => "owner",
            TraceKind::Coin => "coin",
        })
    }
}

/// Why a trace was refused or a trace result does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The warrant's signature does not verify.
    #[error("warrant signature does not verify")]
    WarrantSignature,
    /// The warrant's issuer is not one the TTP trusts.
    #[error("warrant issuer is not trusted")]
    UntrustedIssuer,
    /// The warrant has expired.
    #[error("warrant expired")]
    WarrantExpired,
    /// The warrant is not valid yet (or its validity is empty).
    #[error("warrant is not valid yet")]
    WarrantNotYetValid,
    /// The warrant is for the other kind of tracing.
    #[error("warrant is for {warrant} tracing, the request is {request} tracing")]
    WarrantKindMismatch {
        /// The warrant's kind.
        warrant: TraceKind,
        /// The request's kind.
        request: TraceKind,
    },
    /// The warrant covers another record.
    #[error("warrant covers another record")]
    WarrantRecordMismatch,
    /// The warrant id was used before.
    #[error("warrant was used before")]
    WarrantReused,
    /// The record does not verify (the TTP is not a decryption oracle).
    #[error("record does not verify: {0}")]
    InvalidRecord(String),
    /// The record's keyset is not one the TTP knows.
    #[error("record is under an unknown keyset")]
    UnknownKeyset,
    /// The record's ciphertext is under another TTP key.
    #[error("record is escrowed under another TTP key")]
    WrongTtpKey,
    /// The result's decryption proof does not verify.
    #[error("decryption proof does not verify")]
    ResultProof,
    /// The result's signature does not verify.
    #[error("trace result signature does not verify")]
    ResultSignature,
    /// The result does not belong to this record, warrant or TTP.
    #[error("trace result does not match: {0}")]
    ResultMismatch(&'static str),
    /// Fewer than `t` valid decryption shares: no plaintext.
    #[error(
        "only {valid} valid decryption share(s), {threshold} needed: no plaintext{}",
        rejected_list(.rejected)
    )]
    NotEnoughShares {
        /// Valid shares of distinct trustees.
        valid: usize,
        /// `t`.
        threshold: u16,
        /// The shares set aside, naming their trustees.
        rejected: Vec<ShareRejection>,
    },
    /// The audit log failed verification.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The TTP's store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn rejected_list(rejected: &[ShareRejection]) -> String {
    rejected.iter().map(|r| format!("; {r}")).collect()
}

// ---------------------------------------------------------------------------
// Warrants
// ---------------------------------------------------------------------------

/// A signed order to trace one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warrant {
    /// Unique id; the TTP refuses an id it has used.
    #[serde(with = "crate::encoding::hex32")]
    pub warrant_id: [u8; 16],
    /// The case this belongs to.
    #[serde(
        serialize_with = "crate::encoding::bounded_str::serialize",
        deserialize_with = "crate::encoding::bounded_str::deserialize::<_, MAX_CASE_ID>"
    )]
    pub case_id: String,
    /// Why.
    #[serde(
        serialize_with = "crate::encoding::bounded_str::serialize",
        deserialize_with = "crate::encoding::bounded_str::deserialize::<_, MAX_REASON>"
    )]
    pub reason: String,
    /// Owner or coin tracing.
    pub kind: TraceKind,
    /// [`TraceRecord::digest`] of the one record covered.
    #[serde(with = "crate::encoding::hex32")]
    pub record_digest: [u8; 32],
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
    /// The issuer's public key.
    pub issuer: Point,
    /// The issuer's signature on [`Warrant::digest`].
    pub signature: Signature,
}

impl WireMessage for Warrant {
    const KIND: MessageKind = MessageKind::Warrant;
    const MAX_BYTES: usize = 4096;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "issuer", &self.issuer)
    }
}

/// What a warrant says, before it is signed.
#[derive(Clone, Debug)]
pub struct WarrantTerms {
    /// Owner or coin tracing.
    pub kind: TraceKind,
    /// The record covered.
    pub record_digest: [u8; 32],
    /// Case id.
    pub case_id: String,
    /// Reason.
    pub reason: String,
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
}

impl Warrant {
    /// Issues and signs a warrant with a fresh random id.
    pub fn issue(issuer: &SigningKey, terms: WarrantTerms, rng: &mut impl CryptoRngCore) -> Self {
        let mut warrant_id = [0u8; 16];
        rng.fill_bytes(&mut warrant_id);
        let mut w = Warrant {
            warrant_id,
            case_id: terms.case_id,
            reason: terms.reason,
            kind: terms.kind,
            record_digest: terms.record_digest,
            issued_at: terms.issued_at,
            expires_at: terms.expires_at,
            issuer: *issuer.public(),
            signature: Signature { r: Point::identity(), s: Scalar::ZERO },
        };
        w.signature = issuer.sign(labels::WARRANT_SIGNATURE, &w.digest(), rng);
        w
    }

    /// The digest of every field but the signature.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::WARRANT_ID);
        t.append_message(b"warrant-id", &self.warrant_id);
        t.append_message(b"case-id", self.case_id.as_bytes());
        t.append_message(b"reason", self.reason.as_bytes());
        t.append_u64(b"kind", self.kind.tag());
        t.append_message(b"record-digest", &self.record_digest);
        t.append_u64(b"issued-at", self.issued_at.0);
        t.append_u64(b"expires-at", self.expires_at.0);
        t.append_point(b"issuer", &self.issuer);
        t.challenge_digest(b"warrant-digest")
    }

    /// Checks the signature, the issuer, the validity period at `now`, and
    /// that the warrant covers `record` (kind and digest).
    pub fn authorize(
        &self,
        trusted: &[Point],
        record: &TraceRecord,
        now: Timestamp,
    ) -> Result<(), TraceError> {
        if !trusted.contains(&self.issuer) {
            return Err(TraceError::UntrustedIssuer);
        }
        self.signature
            .verify(labels::WARRANT_SIGNATURE, &self.digest(), &self.issuer)
            .map_err(|_| TraceError::WarrantSignature)?;
        if now < self.issued_at || self.expires_at <= self.issued_at {
            return Err(TraceError::WarrantNotYetValid);
        }
        if now >= self.expires_at {
            return Err(TraceError::WarrantExpired);
        }
        if self.kind != record.kind() {
            return Err(TraceError::WarrantKindMismatch { warrant: self.kind, request: record.kind() });
        }
        if self.record_digest != record.digest() {
            return Err(TraceError::WarrantRecordMismatch);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// The record a trace is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::large_enum_variant,
    reason = "one record per trace request; boxing would only add an indirection"
)]
pub enum TraceRecord {
    /// A deposited spend: the payment and the coin's index in it.
    Owner {
        /// The payment (request, coins, range proof, responses).
        payment: Payment,
        /// The coin.
        coin_index: u32,
    },
    /// A withdrawal record: the request (with `E_w`, `pi_W` and the context
    /// `pi_W` is bound to) and the identity of the account it debited.
    Coin {
        /// The withdrawal request as the bank stored it.
        request: WithdrawRequest,
        /// The account's registered identity `I`.
        identity: Point,
    },
}

impl TraceRecord {
    /// Owner or coin.
    pub fn kind(&self) -> TraceKind {
        match self {
            TraceRecord::Owner { .. } => TraceKind::Owner,
            TraceRecord::Coin { .. } => TraceKind::Coin,
        }
    }

    /// The record's digest (what a warrant names).
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TRACE_RECORD);
        match self {
            TraceRecord::Owner { payment, coin_index } => {
                t.append_u64(b"kind", TraceKind::Owner.tag());
                t.append_message(b"payment-digest", &payment.digest());
                t.append_u64(b"coin-index", u64::from(*coin_index));
            }
            TraceRecord::Coin { request, identity } => {
                t.append_u64(b"kind", TraceKind::Coin.tag());
                t.append_message(b"request", &request.to_bytes());
                t.append_point(b"identity", identity);
            }
        }
        t.challenge_digest(b"record-digest")
    }

    /// The keyset id the record is under: that of the traced coin (a
    /// payment may mix keysets), or the withdrawal's. `None` if the coin
    /// index is out of range.
    pub fn keyset_id(&self) -> Option<crate::keys::KeysetId> {
        match self {
            TraceRecord::Owner { payment, coin_index } => {
                payment.coins.get(*coin_index as usize).map(|c| c.body.keyset_id)
            }
            TraceRecord::Coin { request, .. } => Some(request.keyset_id),
        }
    }

    /// The ciphertext to decrypt (`E` of the coin, or `E_w`), if the index is
    /// in range.
    pub fn ciphertext(&self) -> Option<Ciphertext> {
        match self {
            TraceRecord::Owner { payment, coin_index } => {
                payment.coins.get(*coin_index as usize).map(|c| c.body.escrow)
            }
            TraceRecord::Coin { request, .. } => Some(request.escrow),
        }
    }

    /// Verifies the record itself (the spend, each coin under the keyset it
    /// names, or `pi_W` under the withdrawal's keyset) against `keysets`,
    /// and returns its ciphertext.
    pub fn verify<K: KeysetLookup + ?Sized>(
        &self,
        keysets: &K,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Ciphertext, TraceError> {
        match self {
            TraceRecord::Owner { payment, coin_index } => {
                verify_payment(payment, keysets, rng)
                    .map_err(|e| TraceError::InvalidRecord(e.to_string()))?;
                payment
                    .coins
                    .get(*coin_index as usize)
                    .map(|c| c.body.escrow)
                    .ok_or_else(|| TraceError::InvalidRecord("coin index out of range".into()))
            }
            TraceRecord::Coin { request, identity } => {
                let keyset = keysets.find_keyset(&request.keyset_id).ok_or(TraceError::UnknownKeyset)?;
                request
                    .verify_proof(identity, keyset, rng)
                    .map_err(|e| TraceError::InvalidRecord(e.to_string()))?;
                Ok(request.escrow)
            }
        }
    }
}

impl WireMessage for TraceRecord {
    const KIND: MessageKind = MessageKind::TraceRecord;
    const MAX_BYTES: usize = 256 + <Payment as WireMessage>::MAX_BYTES;
    fn check(&self) -> Result<(), DecodeError> {
        match self {
            TraceRecord::Owner { payment, .. } => payment.check(),
            TraceRecord::Coin { request, identity } => {
                request.check()?;
                non_identity(Self::what(), "identity", identity)
            }
        }
    }
}

/// A request to the TTP: the warrant and the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// The warrant.
    pub warrant: Warrant,
    /// The record it covers.
    pub record: TraceRecord,
}

impl WireMessage for TraceRequest {
    const KIND: MessageKind = MessageKind::TraceRequest;
    const MAX_BYTES: usize = 4096 + <Payment as WireMessage>::MAX_BYTES;
    fn check(&self) -> Result<(), DecodeError> {
        WireMessage::check(&self.warrant)?;
        self.record.check()
    }
}

impl TraceRequest {
    /// The request's digest (what the log records).
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TRACE_REQUEST_DIGEST);
        t.append_message(b"warrant-digest", &self.warrant.digest());
        t.append_message(b"record-digest", &self.record.digest());
        t.challenge_digest(b"request-digest")
    }
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// The TTP's public keys a result names: `Y_T` (decryption) and the group
/// signing key; both come from a pinned key statement
/// ([`crate::protocol::trust::TtpKeyStatement::public_keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtpPublicKeys {
    /// `Y_T = x_T·G`.
    pub decryption: Point,
    /// The group signing key (RFC 9591) that signs results and log heads.
    pub signing: Point,
}

fn decryption_relation(ttp: &Point, ct: &Ciphertext, plaintext: &Point) -> Relation {
    let p = Params::get();
    let shared = Point::new(ct.c2.point() - plaintext.point());
    let mut rel = Relation::new(b"trace-decryption");
    let x = rel.witness(b"x_T");
    let g = rel.point(b"G", p.g);
    let y = rel.point(b"Y_T", *ttp);
    let c1 = rel.point(b"c1", ct.c1);
    let d = rel.point(b"c2 - X", shared);
    rel.equation(Some(y), &[(x, g)]);
    rel.equation(Some(d), &[(x, c1)]);
    rel
}

fn decryption_transcript(
    ct: &Ciphertext,
    plaintext: &Point,
    record_digest: &[u8; 32],
    warrant_digest: &[u8; 32],
    log_index: u64,
) -> Transcript {
    let mut t = Params::get().transcript(labels::TRACE_DECRYPTION);
    t.append_point(b"c1", &ct.c1);
    t.append_point(b"c2", &ct.c2);
    t.append_point(b"X", plaintext);
    t.append_message(b"record-digest", record_digest);
    t.append_message(b"warrant-digest", warrant_digest);
    t.append_u64(b"log-index", log_index);
    t
}

/// How a result's plaintext was obtained, with its proofs and the log
/// entries that record it (specs/tracing.md §5, §9.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Decryption {
    /// A single TTP (`t = n = 1`) decrypted with `x_T`: its log entry and
    /// `PoK{x_T: Y_T = x_T·G ∧ c2 - X = x_T·c1}`.
    Single {
        /// The TTP's log entry for this trace.
        log_index: u64,
        /// The decryption proof.
        proof: Proof,
    },
    /// `t` trustees each gave a proven decryption share (each names its
    /// trustee and its log entry); `X = c2 - Σ λ_i(0)·D_i`.
    Threshold {
        /// The shares, by ascending trustee identifier.
        #[serde(
            serialize_with = "crate::encoding::bounded::serialize",
            deserialize_with = "crate::encoding::bounded::deserialize::<_, ShareEvidence, MAX_TRUSTEES>"
        )]
        shares: Vec<ShareEvidence>,
    },
}

/// A proven decryption signed by the TTP's group signing key (one key, or
/// FROST rounds of `t` trustees).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceResult {
    /// Owner or coin.
    pub kind: TraceKind,
    /// The record traced.
    #[serde(with = "crate::encoding::hex32")]
    pub record_digest: [u8; 32],
    /// The warrant used.
    #[serde(with = "crate::encoding::hex32")]
    pub warrant_digest: [u8; 32],
    /// The ciphertext decrypted.
    pub ciphertext: Ciphertext,
    /// The plaintext: `I` (owner tracing) or `S` (coin tracing).
    pub plaintext: Point,
    /// How it was decrypted: the proofs and the log entries.
    pub decryption: Decryption,
    /// The TTP's keys.
    pub ttp: TtpPublicKeys,
    /// The group signing key's RFC 9591 signature on
    /// [`TraceResult::digest`].
    pub signature: GroupSignature,
}

impl WireMessage for TraceResult {
    const KIND: MessageKind = MessageKind::TraceResult;
    const MAX_BYTES: usize = 1024 + MAX_TRUSTEES * 160;
    fn check(&self) -> Result<(), DecodeError> {
        self.check_unsigned_fields()?;
        non_identity(Self::what(), "signature.r", &self.signature.r)
    }
}

impl TraceResult {
    /// The decoding checks of every field but the signature (a result to
    /// be signed carries the placeholder `(O, 0)`).
    pub(crate) fn check_unsigned_fields(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "Y_T", &self.ttp.decryption)?;
        non_identity(w, "signing key", &self.ttp.signing)?;
        if let Decryption::Threshold { shares } = &self.decryption {
            if shares.is_empty() || shares.windows(2).any(|p| p[0].trustee >= p[1].trustee) {
                return Err(DecodeError::InvalidField {
                    what: w,
                    field: "decryption.shares",
                    reason: "one or more shares of distinct trustees, by ascending identifier".into(),
                });
            }
        }
        Ok(())
    }
}

impl TraceResult {
    /// Decrypts `ct` with `x_T` and proves it (used by the TTP).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        kind: TraceKind,
        log_index: u64,
        record_digest: [u8; 32],
        warrant_digest: [u8; 32],
        ct: Ciphertext,
        x_t: &Scalar,
        ttp: TtpPublicKeys,
        signer: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> TraceResult {
        let plaintext = ct.decrypt(x_t);
        let rel = decryption_relation(&ttp.decryption, &ct, &plaintext);
        let mut t = decryption_transcript(&ct, &plaintext, &record_digest, &warrant_digest, log_index);
        let proof = rel.prove(&mut t, &[x_t], rng);
        let mut r = TraceResult {
            kind,
            record_digest,
            warrant_digest,
            ciphertext: ct,
            plaintext,
            decryption: Decryption::Single { log_index, proof },
            ttp,
            signature: GroupSignature::placeholder(),
        };
        r.signature = signer.sign(labels::TRACE_RESULT_SIGNATURE, &r.digest(), rng);
        r
    }

    /// The digest of every field but the signature (specs/tracing.md §5,
    /// §9.6). A single TTP's result and a threshold result differ right
    /// after `kind` (`log-index` or `shares`), so neither can be read as
    /// the other.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TRACE_RESULT_DIGEST);
        t.append_u64(b"kind", self.kind.tag());
        match &self.decryption {
            Decryption::Single { log_index, .. } => t.append_u64(b"log-index", *log_index),
            Decryption::Threshold { shares } => {
                t.append_u64(b"shares", shares.len() as u64);
                for s in shares {
                    t.append_u64(b"trustee-id", u64::from(s.trustee));
                    t.append_u64(b"log-index", s.log_index);
                    t.append_point(b"D_i", &s.share);
                    t.append_message(b"share-proof", &postcard::to_allocvec(&s.proof).unwrap_or_default());
                }
            }
        }
        t.append_message(b"record-digest", &self.record_digest);
        t.append_message(b"warrant-digest", &self.warrant_digest);
        t.append_point(b"c1", &self.ciphertext.c1);
        t.append_point(b"c2", &self.ciphertext.c2);
        t.append_point(b"X", &self.plaintext);
        if let Decryption::Single { proof, .. } = &self.decryption {
            t.append_message(b"proof", &postcard::to_allocvec(proof).unwrap_or_default());
        }
        t.append_point(b"Y_T", &self.ttp.decryption);
        t.append_point(b"signing-key", &self.ttp.signing);
        t.challenge_digest(b"result-digest")
    }

    /// The trustees that decrypted and their log entries, `(i, log index)`
    /// by ascending identifier (a single TTP is trustee 1).
    pub fn log_entries(&self) -> Vec<(u16, u64)> {
        match &self.decryption {
            Decryption::Single { log_index, .. } => vec![(1, *log_index)],
            Decryption::Threshold { shares } => shares.iter().map(|s| (s.trustee, s.log_index)).collect(),
        }
    }

    /// Verifies the result with public data only against the pinned key
    /// `statement`: it names the statement's keys, it is for `record` under
    /// `warrant`, the group signing key signed it, and its plaintext is the
    /// correct decryption of the record's ciphertext (one proof under `Y_T`
    /// when the statement is a single TTP's; otherwise exactly `t` shares of
    /// distinct trustees of the statement, each proven under its `Y_i`,
    /// that combine to it). Returns the plaintext.
    pub fn verify(
        &self,
        statement: &TtpKeyStatement,
        record: &TraceRecord,
        warrant: &Warrant,
    ) -> Result<Point, TraceError> {
        let keys = statement.public_keys();
        self.check_binding(&keys, record, warrant)?;
        self.signature
            .verify(labels::TRACE_RESULT_SIGNATURE, &self.digest(), &keys.signing)
            .map_err(|_| TraceError::ResultSignature)?;
        self.check_decryption(&keys, statement.threshold, &statement.trustees)?;
        Ok(self.plaintext)
    }

    /// Everything [`TraceResult::verify`] checks but the signature: what a
    /// trustee checks before it signs a result (specs/tracing.md §9.6).
    pub(crate) fn check_unsigned(
        &self,
        keys: &TtpPublicKeys,
        threshold: u16,
        trustees: &[TrusteeKey],
        record: &TraceRecord,
        warrant: &Warrant,
    ) -> Result<(), TraceError> {
        self.check_binding(keys, record, warrant)?;
        self.check_decryption(keys, threshold, trustees)
    }

    /// The result names `keys`, `record` and `warrant` (kind, digests,
    /// ciphertext).
    fn check_binding(
        &self,
        keys: &TtpPublicKeys,
        record: &TraceRecord,
        warrant: &Warrant,
    ) -> Result<(), TraceError> {
        if self.ttp != *keys {
            return Err(TraceError::ResultMismatch("TTP keys"));
        }
        if self.kind != record.kind() || self.kind != warrant.kind {
            return Err(TraceError::ResultMismatch("kind"));
        }
        if self.record_digest != record.digest() || warrant.record_digest != self.record_digest {
            return Err(TraceError::ResultMismatch("record"));
        }
        if self.warrant_digest != warrant.digest() {
            return Err(TraceError::ResultMismatch("warrant"));
        }
        if record.ciphertext() != Some(self.ciphertext) {
            return Err(TraceError::ResultMismatch("ciphertext"));
        }
        Ok(())
    }

    /// The plaintext is the proven decryption of the ciphertext under
    /// `keys` (one proof when `threshold` and `trustees` are a single
    /// TTP's; else `t` proven shares of `trustees`).
    fn check_decryption(
        &self,
        keys: &TtpPublicKeys,
        threshold: u16,
        trustees: &[TrusteeKey],
    ) -> Result<(), TraceError> {
        match &self.decryption {
            Decryption::Single { log_index, proof } => {
                if threshold != 1 || trustees.len() != 1 {
                    return Err(TraceError::ResultMismatch(
                        "a single key's decryption under a statement of several trustees",
                    ));
                }
                let rel = decryption_relation(&keys.decryption, &self.ciphertext, &self.plaintext);
                let mut t = decryption_transcript(
                    &self.ciphertext,
                    &self.plaintext,
                    &self.record_digest,
                    &self.warrant_digest,
                    *log_index,
                );
                rel.verify(&mut t, proof, &mut rand::rngs::OsRng).map_err(|_| TraceError::ResultProof)
            }
            Decryption::Threshold { shares } => {
                let context = ShareContext {
                    record_digest: self.record_digest,
                    warrant_digest: self.warrant_digest,
                    ciphertext: self.ciphertext,
                };
                verify_shares(threshold, trustees, &context, shares, &self.plaintext)
            }
        }
    }

    /// For an owner trace: the account of the identity found.
    pub fn owner_account(&self) -> Option<AccountId> {
        (self.kind == TraceKind::Owner).then(|| user_account_id(&self.plaintext))
    }
}

// ---------------------------------------------------------------------------
// Threshold decryption (specs/tracing.md §9.2, §9.3)
// ---------------------------------------------------------------------------

/// One trustee's part of a threshold decryption: its identifier, the index
/// of its log entry, its decryption share `D_i = x_i·c1` and the
/// Chaum–Pedersen proof that `log_G Y_i = log_c1 D_i` (specs/tracing.md
/// §9.2), bound to the trustee, `Y_i`, the ciphertext, the record, the
/// warrant and the log index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareEvidence {
    /// The trustee's identifier `i`.
    pub trustee: u16,
    /// The index of the trustee's log entry for this share.
    pub log_index: u64,
    /// `D_i = x_i·c1`.
    pub share: Point,
    /// `PoK{x_i: Y_i = x_i·G ∧ D_i = x_i·c1}`.
    pub proof: Proof,
}

fn share_relation(verification_share: &Point, c1: &Point, share: &Point) -> Relation {
    let p = Params::get();
    let mut rel = Relation::new(b"trace-decryption-share");
    let x = rel.witness(b"x_i");
    let g = rel.point(b"G", p.g);
    let y = rel.point(b"Y_i", *verification_share);
    let c1 = rel.point(b"c1", *c1);
    let d = rel.point(b"D_i", *share);
    rel.equation(Some(y), &[(x, g)]);
    rel.equation(Some(d), &[(x, c1)]);
    rel
}

/// What a share is about: the record and warrant digests and the ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareContext {
    /// The record traced.
    pub record_digest: [u8; 32],
    /// The warrant used.
    pub warrant_digest: [u8; 32],
    /// The record's ciphertext.
    pub ciphertext: Ciphertext,
}

impl ShareContext {
    fn transcript(
        &self,
        trustee: u16,
        verification_share: &Point,
        share: &Point,
        log_index: u64,
    ) -> Transcript {
        let mut t = Params::get().transcript(labels::TRACE_DECRYPTION_SHARE);
        t.append_u64(b"trustee-id", u64::from(trustee));
        t.append_point(b"Y_i", verification_share);
        t.append_point(b"c1", &self.ciphertext.c1);
        t.append_point(b"c2", &self.ciphertext.c2);
        t.append_point(b"D_i", share);
        t.append_message(b"record-digest", &self.record_digest);
        t.append_message(b"warrant-digest", &self.warrant_digest);
        t.append_u64(b"log-index", log_index);
        t
    }
}

impl ShareEvidence {
    /// The share of the trustee `trustee` with key share `x_i` (and
    /// `Y_i = x_i·G`), proven for `context` at its log index.
    pub fn create(
        trustee: u16,
        x_i: &Scalar,
        verification_share: &Point,
        context: &ShareContext,
        log_index: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let share = Point::new(context.ciphertext.c1.point() * x_i);
        let rel = share_relation(verification_share, &context.ciphertext.c1, &share);
        let mut t = context.transcript(trustee, verification_share, &share, log_index);
        let proof = rel.prove(&mut t, &[x_i], rng);
        ShareEvidence { trustee, log_index, share, proof }
    }

    /// Checks the proof against the trustee's verification share `Y_i`.
    pub fn verify(&self, verification_share: &Point, context: &ShareContext) -> Result<(), VerifyError> {
        if verification_share.is_identity() {
            return Err(VerifyError);
        }
        let rel = share_relation(verification_share, &context.ciphertext.c1, &self.share);
        let mut t = context.transcript(self.trustee, verification_share, &self.share, self.log_index);
        rel.verify(&mut t, &self.proof, &mut rand::rngs::OsRng)
    }
}

/// A trustee's decryption share as it leaves the trustee (`trustee
/// decrypt-share`): the share with its proof and what it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceShare {
    /// Owner or coin.
    pub kind: TraceKind,
    /// The record traced.
    #[serde(with = "crate::encoding::hex32")]
    pub record_digest: [u8; 32],
    /// The warrant used.
    #[serde(with = "crate::encoding::hex32")]
    pub warrant_digest: [u8; 32],
    /// The record's ciphertext.
    pub ciphertext: Ciphertext,
    /// The trustee's verification share `Y_i` (from the key statement).
    pub verification_share: Point,
    /// The share and its proof.
    pub evidence: ShareEvidence,
}

impl WireMessage for TraceShare {
    const KIND: MessageKind = MessageKind::TraceShare;
    const MAX_BYTES: usize = 512;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "verification_share", &self.verification_share)?;
        if self.evidence.trustee == 0 {
            return Err(DecodeError::InvalidField {
                what: Self::what(),
                field: "trustee",
                reason: "identifiers are nonzero".into(),
            });
        }
        Ok(())
    }
}

impl TraceShare {
    /// What the share is about.
    pub fn context(&self) -> ShareContext {
        ShareContext {
            record_digest: self.record_digest,
            warrant_digest: self.warrant_digest,
            ciphertext: self.ciphertext,
        }
    }

    /// The share's digest: what the trustee's log entry records as its
    /// `result_digest` (specs/tracing.md §9.2).
    pub fn digest(&self) -> [u8; 32] {
        let e = &self.evidence;
        let mut t = Params::get().transcript(labels::TRACE_SHARE_DIGEST);
        t.append_u64(b"kind", self.kind.tag());
        t.append_message(b"record-digest", &self.record_digest);
        t.append_message(b"warrant-digest", &self.warrant_digest);
        t.append_point(b"c1", &self.ciphertext.c1);
        t.append_point(b"c2", &self.ciphertext.c2);
        t.append_u64(b"trustee-id", u64::from(e.trustee));
        t.append_point(b"Y_i", &self.verification_share);
        t.append_u64(b"log-index", e.log_index);
        t.append_point(b"D_i", &e.share);
        t.append_message(b"proof", &postcard::to_allocvec(&e.proof).unwrap_or_default());
        t.challenge_digest(b"share-digest")
    }

    /// Checks the share against a key statement and the request it is used
    /// for: the trustee and its `Y_i` are the statement's, the share is for
    /// this record, warrant and ciphertext, and its proof verifies.
    pub fn check_for(
        &self,
        statement: &TtpKeyStatement,
        kind: TraceKind,
        context: &ShareContext,
    ) -> Result<(), ShareRejection> {
        let i = self.evidence.trustee;
        let y = statement
            .trustees
            .iter()
            .find(|k| k.id == i)
            .ok_or(ShareRejection::UnknownTrustee(i))?
            .verification_share;
        if y != self.verification_share {
            return Err(ShareRejection::WrongVerificationShare(i));
        }
        if self.kind != kind || self.context() != *context {
            return Err(ShareRejection::OtherRequest(i));
        }
        self.evidence.verify(&y, context).map_err(|_| ShareRejection::Proof(i))
    }
}

/// Why a decryption share was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareRejection {
    /// The key statement names no trustee with this identifier.
    #[error("trustee {0} is not in the key statement")]
    UnknownTrustee(u16),
    /// The share names another verification share than the statement's.
    #[error("trustee {0}'s share names a verification share other than the key statement's")]
    WrongVerificationShare(u16),
    /// The share was made for another warrant, record or ciphertext.
    #[error("trustee {0}'s share is for another warrant or record")]
    OtherRequest(u16),
    /// The Chaum–Pedersen proof does not verify: a wrong or forged share.
    #[error("trustee {0}'s share is wrong: its proof does not verify")]
    Proof(u16),
    /// A second share of the same trustee.
    #[error("trustee {0} gave more than one share")]
    Duplicate(u16),
}

impl ShareRejection {
    /// The trustee the share names.
    pub fn trustee(&self) -> u16 {
        match self {
            ShareRejection::UnknownTrustee(i)
            | ShareRejection::WrongVerificationShare(i)
            | ShareRejection::OtherRequest(i)
            | ShareRejection::Proof(i)
            | ShareRejection::Duplicate(i) => *i,
        }
    }
}

fn plaintext_from_shares(ct: &Ciphertext, shares: &[ShareEvidence]) -> Option<Point> {
    let points: Vec<(u16, Point)> = shares.iter().map(|s| (s.trustee, s.share)).collect();
    combine_decryption_shares(&points).map(|x_e1| Point::new(ct.c2.point() - x_e1))
}

/// Decryption shares combined into a plaintext, with what makes it
/// publicly verifiable ([`Combined::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Combined {
    /// Owner or coin.
    pub kind: TraceKind,
    /// What was decrypted.
    pub context: ShareContext,
    /// `X`.
    pub plaintext: Point,
    /// The `t` shares used, by ascending trustee identifier.
    pub shares: Vec<ShareEvidence>,
    /// The shares not used, and why (a wrong or forged share names its
    /// trustee here).
    pub rejected: Vec<ShareRejection>,
}

/// Combines decryption shares for `request` under the pinned key statement
/// (specs/tracing.md §9.3): every share is checked ([`TraceShare::check_for`])
/// and an invalid one is set aside with its trustee named; the valid shares
/// of the `t` lowest identifiers give `X = c2 - Σ λ_i(0)·D_i`. Fewer
/// than `t` valid shares is [`TraceError::NotEnoughShares`]: no plaintext.
///
/// Anyone can combine: it needs no secret.
pub fn combine_shares(
    statement: &TtpKeyStatement,
    request: &TraceRequest,
    shares: &[TraceShare],
) -> Result<Combined, TraceError> {
    let context = share_context(request)?;
    let kind = request.record.kind();
    let mut valid: Vec<ShareEvidence> = Vec::new();
    let mut rejected = Vec::new();
    for s in shares {
        let i = s.evidence.trustee;
        if valid.iter().any(|v| v.trustee == i) {
            rejected.push(ShareRejection::Duplicate(i));
            continue;
        }
        match s.check_for(statement, kind, &context) {
            Ok(()) => valid.push(s.evidence.clone()),
            Err(e) => rejected.push(e),
        }
    }
    let t = usize::from(statement.threshold);
    if valid.len() < t {
        return Err(TraceError::NotEnoughShares {
            valid: valid.len(),
            threshold: statement.threshold,
            rejected,
        });
    }
    valid.sort_by_key(|s| s.trustee);
    valid.truncate(t);
    let plaintext = plaintext_from_shares(&context.ciphertext, &valid).ok_or(TraceError::ResultProof)?;
    Ok(Combined { kind, context, plaintext, shares: valid, rejected })
}

/// What the shares for `request` must be about: its record's digest and
/// ciphertext and its warrant's digest, once the warrant is checked to be of
/// the record's kind and to name the record.
fn share_context(request: &TraceRequest) -> Result<ShareContext, TraceError> {
    let (record, warrant) = (&request.record, &request.warrant);
    if warrant.kind != record.kind() {
        return Err(TraceError::WarrantKindMismatch { warrant: warrant.kind, request: record.kind() });
    }
    let record_digest = record.digest();
    if warrant.record_digest != record_digest {
        return Err(TraceError::WarrantRecordMismatch);
    }
    let ciphertext =
        record.ciphertext().ok_or_else(|| TraceError::InvalidRecord("coin index out of range".into()))?;
    Ok(ShareContext { record_digest, warrant_digest: warrant.digest(), ciphertext })
}

impl Combined {
    /// The trustees that decrypted and their log entries: `(i, log index)`.
    pub fn log_entries(&self) -> Vec<(u16, u64)> {
        self.shares.iter().map(|s| (s.trustee, s.log_index)).collect()
    }

    /// Verifies the combination with public data only (specs/tracing.md
    /// §9.3): it is for `request` (kind, record, warrant, ciphertext), it
    /// has exactly `t` shares of distinct trustees of the pinned
    /// `statement` by ascending identifier, each share's proof verifies
    /// under that trustee's `Y_i`, and they combine to the plaintext.
    /// Returns the plaintext.
    pub fn verify(&self, statement: &TtpKeyStatement, request: &TraceRequest) -> Result<Point, TraceError> {
        let context = share_context(request)?;
        if self.kind != request.record.kind() || self.context != context {
            return Err(TraceError::ResultMismatch("the shares are for another record or warrant"));
        }
        verify_shares(statement.threshold, &statement.trustees, &context, &self.shares, &self.plaintext)?;
        Ok(self.plaintext)
    }

    /// The result the trustees sign: this combination under the keys
    /// `ttp`, with a placeholder signature (the group's FROST signature on
    /// its [`TraceResult::digest`] replaces it:
    /// [`crate::trustees::signing::finish_result`]).
    pub fn unsigned_result(&self, ttp: TtpPublicKeys) -> TraceResult {
        TraceResult {
            kind: self.kind,
            record_digest: self.context.record_digest,
            warrant_digest: self.context.warrant_digest,
            ciphertext: self.context.ciphertext,
            plaintext: self.plaintext,
            decryption: Decryption::Threshold { shares: self.shares.clone() },
            ttp,
            signature: GroupSignature::placeholder(),
        }
    }
}

/// Checks threshold decryption shares with public data (specs/tracing.md
/// §9.3): exactly `threshold` shares of distinct trustees of `trustees` by
/// ascending identifier, each proven for `context` under its `Y_i`, that
/// combine to `plaintext`. One check for [`Combined::verify`] and
/// [`TraceResult::verify`].
fn verify_shares(
    threshold: u16,
    trustees: &[TrusteeKey],
    context: &ShareContext,
    shares: &[ShareEvidence],
    plaintext: &Point,
) -> Result<(), TraceError> {
    if shares.len() != usize::from(threshold) || shares.windows(2).any(|w| w[0].trustee >= w[1].trustee) {
        return Err(TraceError::ResultMismatch("shares: not t shares of distinct trustees"));
    }
    for s in shares {
        let y = trustees
            .iter()
            .find(|k| k.id == s.trustee)
            .ok_or(TraceError::ResultMismatch("shares: a trustee not in the key statement"))?
            .verification_share;
        s.verify(&y, context).map_err(|_| TraceError::ResultProof)?;
    }
    if plaintext_from_shares(&context.ciphertext, shares) != Some(*plaintext) {
        return Err(TraceError::ResultProof);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------

/// One entry of the TTP's hash-chained audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// Position, from 0.
    pub index: u64,
    /// Hash of the previous entry (zeros for the first).
    #[serde(with = "crate::encoding::hex32")]
    pub previous: [u8; 32],
    /// When the trace was made.
    pub time: Timestamp,
    /// The warrant's id (a warrant is used once).
    #[serde(with = "crate::encoding::hex32")]
    pub warrant_id: [u8; 16],
    /// Owner or coin.
    pub kind: TraceKind,
    /// [`TraceRequest::digest`].
    #[serde(with = "crate::encoding::hex32")]
    pub request_digest: [u8; 32],
    /// [`Warrant::digest`].
    #[serde(with = "crate::encoding::hex32")]
    pub warrant_digest: [u8; 32],
    /// [`TraceResult::digest`].
    #[serde(with = "crate::encoding::hex32")]
    pub result_digest: [u8; 32],
}

impl WireMessage for LogEntry {
    const KIND: MessageKind = MessageKind::TraceLogEntry;
    const MAX_BYTES: usize = 512;
}

impl LogEntry {
    /// The entry's hash (what the next entry and the head name).
    pub fn hash(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TRACE_LOG_ENTRY);
        t.append_u64(b"index", self.index);
        t.append_message(b"previous", &self.previous);
        t.append_u64(b"time", self.time.0);
        t.append_message(b"warrant-id", &self.warrant_id);
        t.append_u64(b"kind", self.kind.tag());
        t.append_message(b"request-digest", &self.request_digest);
        t.append_message(b"warrant-digest", &self.warrant_digest);
        t.append_message(b"result-digest", &self.result_digest);
        t.challenge_digest(b"entry-hash")
    }
}

/// A signed statement of the log's length and last hash, for auditors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// Number of entries.
    pub size: u64,
    /// Hash of the last entry (zeros when empty).
    #[serde(with = "crate::encoding::hex32")]
    pub hash: [u8; 32],
    /// When the head was signed.
    pub time: Timestamp,
    /// The TTP group signing key.
    pub signer: Point,
    /// Its RFC 9591 signature on [`LogHead::digest`].
    pub signature: GroupSignature,
}

impl WireMessage for LogHead {
    const KIND: MessageKind = MessageKind::TraceLogHead;
    const MAX_BYTES: usize = 256;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "signer", &self.signer)?;
        non_identity(Self::what(), "signature.r", &self.signature.r)
    }
}

impl LogHead {
    /// The head's digest (what the TTP signs).
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TRACE_LOG_HEAD);
        t.append_u64(b"size", self.size);
        t.append_message(b"hash", &self.hash);
        t.append_u64(b"time", self.time.0);
        t.append_point(b"signer", &self.signer);
        t.challenge_digest(b"head-digest")
    }

    /// Signs the head of `entries`.
    pub fn sign(
        entries: &[LogEntry],
        time: Timestamp,
        signer: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let size = entries.len() as u64;
        let hash = entries.last().map_or([0u8; 32], LogEntry::hash);
        let mut head = LogHead {
            size,
            hash,
            time,
            signer: *signer.public(),
            signature: GroupSignature { r: Point::identity(), z: Scalar::ZERO },
        };
        head.signature = signer.sign(labels::TRACE_LOG_HEAD_SIGNATURE, &head.digest(), rng);
        head
    }

    /// Verifies the head's signature by `signer`.
    pub fn verify(&self, signer: &Point) -> Result<(), LogError> {
        if self.signer != *signer {
            return Err(LogError::HeadSignature);
        }
        self.signature
            .verify(labels::TRACE_LOG_HEAD_SIGNATURE, &self.digest(), signer)
            .map_err(|_| LogError::HeadSignature)
    }
}

/// How a log failed verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// An entry is not at its position (reordering or deletion).
    #[error("entry at position {position} claims index {index}")]
    Index {
        /// Where it is.
        position: u64,
        /// What it says.
        index: u64,
    },
    /// An entry does not name the hash of its predecessor (edit or deletion).
    #[error("entry {index} does not follow its predecessor")]
    Link {
        /// The entry.
        index: u64,
    },
    /// The log is shorter than a published head (truncation).
    #[error("log has {len} entries, a published head says {head}")]
    Truncated {
        /// Entries present.
        len: u64,
        /// The head's size.
        head: u64,
    },
    /// The entry at a published head's position is not the one it named.
    #[error("entry {index} differs from the published head")]
    HeadMismatch {
        /// The entry.
        index: u64,
    },
    /// A head's signature does not verify.
    #[error("log head signature does not verify")]
    HeadSignature,
    /// A warrant id appears twice.
    #[error("warrant used twice (entries {first} and {second})")]
    WarrantReused {
        /// First use.
        first: u64,
        /// Second use.
        second: u64,
    },
}

/// Walks the chain and checks it against every published `heads` (signed by
/// `signer`): positions, links, warrant ids used once, and for each head
/// that the log is at least that long and passes through its hash.
///
/// Edits, deletions and reorderings break a link or an index; truncation
/// below a published head, or an edit of the last entries, shows against the
/// head. Returns the log's current head hash.
pub fn verify_log(entries: &[LogEntry], heads: &[LogHead], signer: &Point) -> Result<[u8; 32], LogError> {
    let mut previous = [0u8; 32];
    let mut hashes = Vec::with_capacity(entries.len());
    let mut warrants = std::collections::HashMap::new();
    for (position, e) in entries.iter().enumerate() {
        let position = position as u64;
        if e.index != position {
            return Err(LogError::Index { position, index: e.index });
        }
        if e.previous != previous {
            return Err(LogError::Link { index: e.index });
        }
        if let Some(first) = warrants.insert(e.warrant_id, e.index) {
            return Err(LogError::WarrantReused { first, second: e.index });
        }
        previous = e.hash();
        hashes.push(previous);
    }
    for head in heads {
        head.verify(signer)?;
        let len = entries.len() as u64;
        if head.size > len {
            return Err(LogError::Truncated { len, head: head.size });
        }
        let at = if head.size == 0 { [0u8; 32] } else { hashes[(head.size - 1) as usize] };
        if at != head.hash {
            return Err(LogError::HeadMismatch { index: head.size.saturating_sub(1) });
        }
    }
    Ok(previous)
}

// ---------------------------------------------------------------------------
// Watch list
// ---------------------------------------------------------------------------

/// Most serials on a watch list.
pub const MAX_WATCH_LIST: usize = 1 << 20;

/// The bank's coin-tracing watch list, signed by its master key, for
/// merchants to refuse those coins off-line.
///
/// The bank's list only grows (a serial is never taken off), so its
/// `sequence` is the number of serials on it; `issued` and `sequence`
/// together order the lists a bank publishes, and a merchant refuses a list
/// older than the one it holds ([`WatchList::check_newer_than`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchList {
    /// When it was issued.
    pub issued: Timestamp,
    /// Its position in the bank's sequence of lists.
    pub sequence: u64,
    /// The watched serials `S`.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Point, MAX_WATCH_LIST>"
    )]
    pub serials: Vec<Point>,
    /// The bank master key's signature.
    pub signature: Signature,
}

impl WireMessage for WatchList {
    const KIND: MessageKind = MessageKind::WatchList;
    const MAX_BYTES: usize = 64 + 33 * MAX_WATCH_LIST;
    fn check(&self) -> Result<(), DecodeError> {
        // A serial is never O (specs/protocol.md §6.1).
        self.serials.iter().try_for_each(|s| non_identity(Self::what(), "S", s))
    }
}

/// What a merchant keeps of the watch list it holds, to refuse older ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchListVersion {
    /// The list's issue time.
    pub issued: Timestamp,
    /// The list's sequence.
    pub sequence: u64,
    /// The signed message's digest ([`WatchList::digest`]).
    #[serde(with = "crate::encoding::hex32")]
    pub digest: [u8; 32],
}

/// Why a watch list older than the one held was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchListError {
    /// The signature does not verify under the bank master key.
    #[error("watch list signature does not verify")]
    Signature,
    /// Issued before the list held, or with a lower sequence.
    #[error(
        "watch list (sequence {sequence}, issued {issued}) is older than the one held \
         (sequence {held_sequence}, issued {held_issued})"
    )]
    Older {
        /// The offered list's sequence.
        sequence: u64,
        /// Its issue time (Unix seconds).
        issued: u64,
        /// The held list's sequence.
        held_sequence: u64,
        /// Its issue time (Unix seconds).
        held_issued: u64,
    },
    /// The same sequence as the list held, with other serials: the bank
    /// signed two different lists as one.
    #[error("watch list sequence {0} was signed with other serials before")]
    Conflicting(u64),
}

impl WatchList {
    fn message(issued: Timestamp, sequence: u64, serials: &[Point]) -> Vec<u8> {
        let mut m = Vec::with_capacity(24 + 32 * serials.len());
        m.extend_from_slice(&issued.0.to_le_bytes());
        m.extend_from_slice(&sequence.to_le_bytes());
        m.extend_from_slice(&(serials.len() as u64).to_le_bytes());
        for s in serials {
            m.extend_from_slice(s.as_bytes());
        }
        m
    }

    /// Signs a watch list with the bank master key.
    pub fn sign(
        issued: Timestamp,
        sequence: u64,
        serials: Vec<Point>,
        master: &SigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let signature =
            master.sign(labels::WATCH_LIST_SIGNATURE, &Self::message(issued, sequence, &serials), rng);
        WatchList { issued, sequence, serials, signature }
    }

    /// Verifies the signature by the bank master key.
    pub fn verify(&self, master_key: &Point) -> Result<(), crate::crypto::VerifyError> {
        self.signature.verify(
            labels::WATCH_LIST_SIGNATURE,
            &Self::message(self.issued, self.sequence, &self.serials),
            master_key,
        )
    }

    /// The digest of the sequence and serials: the first 32 bytes of
    /// SHA-512 over the signed message with `issued` set to 0 (two lists of
    /// one sequence must carry the same serials).
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        let m = Self::message(Timestamp(0), self.sequence, &self.serials);
        let d = sha2::Sha512::digest(&m);
        let mut out = [0u8; 32];
        out.copy_from_slice(&d[..32]);
        out
    }

    /// What a merchant keeps of this list.
    pub fn version(&self) -> WatchListVersion {
        WatchListVersion { issued: self.issued, sequence: self.sequence, digest: self.digest() }
    }

    /// Refuses this list if it is older than `held`: issued earlier, a lower
    /// sequence, or the same sequence with other serials.
    pub fn check_newer_than(&self, held: Option<&WatchListVersion>) -> Result<(), WatchListError> {
        let Some(held) = held else { return Ok(()) };
        if self.sequence < held.sequence || self.issued < held.issued {
            return Err(WatchListError::Older {
                sequence: self.sequence,
                issued: self.issued.0,
                held_sequence: held.sequence,
                held_issued: held.issued.0,
            });
        }
        if self.sequence == held.sequence && self.digest() != held.digest {
            return Err(WatchListError::Conflicting(self.sequence));
        }
        Ok(())
    }
}
