//! The versioned wire envelope and strict decoding (specs/wire.md).
//!
//! Binary form: `"FC" || version (1 byte) || kind (1 byte) || postcard(body)`.
//! JSON form (files): `{"faircash": 1, "kind": "<name>", "body": {...}}`.
//!
//! Decoding is strict: a size limit per message kind checked before parsing,
//! no trailing bytes, the canonical encoding only (the body must re-encode to
//! the same bytes, which rules out over-long varints), canonical scalars,
//! valid points, and the protocol's identity rules per field. Every failure
//! is a typed [`DecodeError`]; no input panics.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::encoding::{take_fault, DecodeFault};

/// The two magic bytes that open every binary message.
pub const MAGIC: [u8; 2] = *b"FC";
/// The current wire version.
pub const WIRE_VERSION: u8 = 1;

/// Message and stored-object kinds (the envelope's third byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageKind {
    /// A signed keyset document.
    SignedKeyset = 0x01,
    /// The bank's signed keyset list.
    KeysetList = 0x04,
    /// A public key with its purpose (a file for operators).
    PublicKey = 0x05,
    /// The bank's answer to a registration.
    AccountOpened = 0x06,
    /// A user registration.
    UserRegistration = 0x02,
    /// A merchant registration.
    MerchantRegistration = 0x03,
    /// Withdrawal: request (user → bank).
    WithdrawRequest = 0x10,
    /// Withdrawal: commitment (bank → user).
    WithdrawCommitment = 0x11,
    /// Withdrawal: challenge (user → bank).
    WithdrawChallenge = 0x12,
    /// Withdrawal: answer (bank → user).
    WithdrawAnswer = 0x13,
    /// A coin.
    Coin = 0x20,
    /// A payment request (merchant → user).
    PaymentRequest = 0x21,
    /// A payment (user → merchant).
    Payment = 0x22,
    /// A payee's signed refusal of a payment (payee → user).
    PayeeRefusal = 0x23,
    /// A payer's reclaim of a refused payment (user → bank).
    ReclaimRequest = 0x28,
    /// A deposit request (merchant → bank).
    DepositRequest = 0x30,
    /// A deposit receipt (bank → merchant).
    DepositReceipt = 0x31,
    /// Double-spending evidence.
    DoubleSpendEvidence = 0x32,
    /// The bank's list of double-spending evidence.
    EvidenceList = 0x33,
    /// A page of the bank's spent list of one denomination key.
    SpentList = 0x34,
    /// The bank's statement of which named coins were unspent.
    UnspentStatement = 0x35,
    /// A wallet's request for an unspent statement.
    UnspentQuery = 0x36,
    /// A wallet's coin with its secrets (wallet storage only).
    WalletCoin = 0x40,
    /// A wallet's pending withdrawal state (wallet storage only).
    PendingWithdrawal = 0x41,
    /// A warrant.
    Warrant = 0x50,
    /// A trace request.
    TraceRequest = 0x51,
    /// A trace result.
    TraceResult = 0x52,
    /// A TTP audit-log entry.
    TraceLogEntry = 0x53,
    /// A signed TTP audit-log head.
    TraceLogHead = 0x54,
    /// The bank's coin-tracing watch list.
    WatchList = 0x55,
    /// A record to trace (a deposited spend or a withdrawal record).
    TraceRecord = 0x56,
    /// A signed TTP key statement (0x57, the TTP's bare public keys, is
    /// retired).
    TtpKeyStatement = 0x58,
    /// A list of signed TTP key statements.
    TtpStatementList = 0x59,
    /// An account operation signed by the account's authentication key.
    AccountRequest = 0x60,
    /// The bank's answer to an account request.
    AccountAnswer = 0x61,
    /// A request to re-key an account (for the operator).
    RekeyRequest = 0x62,
    /// A trustee's decryption share.
    TraceShare = 0x5A,
    /// A DKG ceremony: its id, purpose, threshold and trustees.
    DkgCeremony = 0x70,
    /// A signed DKG round file of one trustee.
    DkgMessage = 0x71,
    /// The public transcript of a completed DKG.
    DkgTranscript = 0x72,
    /// A request for a FROST signature of the trustees.
    SigningRequest = 0x73,
    /// A trustee's FROST round-1 commitment.
    SigningCommitment = 0x74,
    /// A trustee's FROST signature share.
    SignatureShare = 0x75,
}

impl MessageKind {
    /// The kind's name, as used in the JSON envelope.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::SignedKeyset => "signed-keyset",
            MessageKind::KeysetList => "keyset-list",
            MessageKind::PublicKey => "public-key",
            MessageKind::AccountOpened => "account-opened",
            MessageKind::UserRegistration => "user-registration",
            MessageKind::MerchantRegistration => "merchant-registration",
            MessageKind::WithdrawRequest => "withdraw-request",
            MessageKind::WithdrawCommitment => "withdraw-commitment",
            MessageKind::WithdrawChallenge => "withdraw-challenge",
            MessageKind::WithdrawAnswer => "withdraw-answer",
            MessageKind::Coin => "coin",
            MessageKind::PaymentRequest => "payment-request",
            MessageKind::Payment => "payment",
            MessageKind::PayeeRefusal => "payee-refusal",
            MessageKind::ReclaimRequest => "reclaim-request",
            MessageKind::DepositRequest => "deposit-request",
            MessageKind::DepositReceipt => "deposit-receipt",
            MessageKind::DoubleSpendEvidence => "double-spend-evidence",
            MessageKind::EvidenceList => "evidence-list",
            MessageKind::SpentList => "spent-list",
            MessageKind::UnspentStatement => "unspent-statement",
            MessageKind::UnspentQuery => "unspent-query",
            MessageKind::WalletCoin => "wallet-coin",
            MessageKind::PendingWithdrawal => "pending-withdrawal",
            MessageKind::Warrant => "warrant",
            MessageKind::TraceRequest => "trace-request",
            MessageKind::TraceResult => "trace-result",
            MessageKind::TraceLogEntry => "trace-log-entry",
            MessageKind::TraceLogHead => "trace-log-head",
            MessageKind::WatchList => "watch-list",
            MessageKind::TraceRecord => "trace-record",
            MessageKind::TtpKeyStatement => "ttp-key-statement",
            MessageKind::TtpStatementList => "ttp-statement-list",
            MessageKind::AccountRequest => "account-request",
            MessageKind::AccountAnswer => "account-answer",
            MessageKind::RekeyRequest => "rekey-request",
            MessageKind::TraceShare => "trace-share",
            MessageKind::DkgCeremony => "dkg-ceremony",
            MessageKind::DkgMessage => "dkg-message",
            MessageKind::DkgTranscript => "dkg-transcript",
            MessageKind::SigningRequest => "signing-request",
            MessageKind::SigningCommitment => "signing-commitment",
            MessageKind::SignatureShare => "signature-share",
        }
    }
}

/// Why bytes or a JSON document were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error("{what}: input is truncated")]
    Truncated {
        /// The type being decoded.
        what: &'static str,
    },
    /// The input does not start with the magic bytes.
    #[error("{what}: not a faircash message (bad magic)")]
    BadMagic {
        /// The type being decoded.
        what: &'static str,
    },
    /// A wire version this implementation does not speak.
    #[error("{what}: unsupported wire version {version}")]
    UnsupportedVersion {
        /// The type being decoded.
        what: &'static str,
        /// The version found.
        version: u64,
    },
    /// A different message kind than expected.
    #[error("{what}: expected kind {expected}, found {found}")]
    WrongKind {
        /// The type being decoded.
        what: &'static str,
        /// The kind expected.
        expected: &'static str,
        /// The kind found (byte or name).
        found: String,
    },
    /// The input is longer than this kind may be.
    #[error("{what}: {len} bytes exceed the limit of {limit}")]
    TooLarge {
        /// The type being decoded.
        what: &'static str,
        /// The input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes after the message.
    #[error("{what}: {count} trailing bytes")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// How many.
        count: usize,
    },
    /// Valid data in a non-canonical encoding (e.g. an over-long varint).
    #[error("{what}: non-canonical encoding")]
    NonCanonicalEncoding {
        /// The type being decoded.
        what: &'static str,
    },
    /// 32 bytes that are not a canonical Ristretto point.
    #[error("{what}: invalid point encoding")]
    InvalidPoint {
        /// The type being decoded.
        what: &'static str,
    },
    /// 32 bytes that are not a canonical scalar.
    #[error("{what}: non-canonical scalar")]
    NonCanonicalScalar {
        /// The type being decoded.
        what: &'static str,
    },
    /// The identity element where the protocol forbids it.
    #[error("{what}: identity element in {field}")]
    IdentityPoint {
        /// The type being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A list longer than its documented limit.
    #[error("{what}: more than {limit} elements in a list")]
    TooMany {
        /// The type being decoded.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A field with a value outside its documented domain.
    #[error("{what}: invalid {field}: {reason}")]
    InvalidField {
        /// The type being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Anything else the parser refused (unknown enum tag, bad UTF-8, bad JSON).
    #[error("{what}: malformed: {detail}")]
    Malformed {
        /// The type being decoded.
        what: &'static str,
        /// The parser's message.
        detail: String,
    },
}

impl DecodeError {
    /// A short stable name of the error kind (used by the negative vectors).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadMagic { .. } => "bad-magic",
            DecodeError::UnsupportedVersion { .. } => "unsupported-version",
            DecodeError::WrongKind { .. } => "wrong-kind",
            DecodeError::TooLarge { .. } => "too-large",
            DecodeError::TrailingBytes { .. } => "trailing-bytes",
            DecodeError::NonCanonicalEncoding { .. } => "non-canonical-encoding",
            DecodeError::InvalidPoint { .. } => "invalid-point",
            DecodeError::NonCanonicalScalar { .. } => "non-canonical-scalar",
            DecodeError::IdentityPoint { .. } => "identity-point",
            DecodeError::TooMany { .. } => "too-many",
            DecodeError::InvalidField { .. } => "invalid-field",
            DecodeError::Malformed { .. } => "malformed",
        }
    }

    fn from_fault(what: &'static str, fault: DecodeFault) -> Self {
        match fault {
            DecodeFault::InvalidPoint => DecodeError::InvalidPoint { what },
            DecodeFault::NonCanonicalScalar => DecodeError::NonCanonicalScalar { what },
            DecodeFault::TooMany { limit } => DecodeError::TooMany { what, limit },
            DecodeFault::BadHex => DecodeError::Malformed { what, detail: "bad hex".into() },
        }
    }
}

/// A message or stored object with a versioned, strictly decoded encoding.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The envelope kind.
    const KIND: MessageKind;
    /// The largest encoding accepted, in bytes (envelope included).
    const MAX_BYTES: usize;
    /// The largest JSON file form accepted, in bytes. JSON carries hex and
    /// pretty-printed field names, so by default a little over three times
    /// the binary limit; a type whose small fields grow more than that in
    /// JSON sets its own (every valid message's `to_json` must fit).
    const MAX_JSON_BYTES: usize = Self::MAX_BYTES.saturating_mul(3).saturating_add(4096);

    /// Semantic checks that follow parsing: identity rules, counts, ranges.
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }

    /// The type's name in errors.
    fn what() -> &'static str {
        Self::KIND.name()
    }

    /// The binary encoding, envelope included.
    fn to_bytes(&self) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("in-memory encoding never fails");
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&MAGIC);
        out.push(WIRE_VERSION);
        out.push(Self::KIND as u8);
        out.extend_from_slice(&body);
        out
    }

    /// Strictly decodes the binary encoding.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let what = Self::what();
        if bytes.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge { what, len: bytes.len(), limit: Self::MAX_BYTES });
        }
        if bytes.len() < 4 {
            return Err(DecodeError::Truncated { what });
        }
        if bytes[..2] != MAGIC {
            return Err(DecodeError::BadMagic { what });
        }
        if bytes[2] != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion { what, version: u64::from(bytes[2]) });
        }
        if bytes[3] != Self::KIND as u8 {
            return Err(DecodeError::WrongKind {
                what,
                expected: Self::KIND.name(),
                found: format!("0x{:02x}", bytes[3]),
            });
        }
        let body = &bytes[4..];
        let _ = take_fault();
        let (value, rest) = match postcard::take_from_bytes::<Self>(body) {
            Ok(v) => v,
            Err(e) => {
                return Err(match take_fault() {
                    Some(f) => DecodeError::from_fault(what, f),
                    None => match e {
                        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated { what },
                        other => DecodeError::Malformed { what, detail: other.to_string() },
                    },
                })
            }
        };
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes { what, count: rest.len() });
        }
        let again = postcard::to_allocvec(&value)
            .map_err(|e| DecodeError::Malformed { what, detail: e.to_string() })?;
        if again != body {
            return Err(DecodeError::NonCanonicalEncoding { what });
        }
        value.check()?;
        Ok(value)
    }

    /// The JSON file form: `{"faircash": 1, "kind": ..., "body": ...}`.
    fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Env<'a, T> {
            faircash: u8,
            kind: &'a str,
            body: &'a T,
        }
        serde_json::to_string_pretty(&Env { faircash: WIRE_VERSION, kind: Self::KIND.name(), body: self })
            .expect("in-memory encoding never fails")
    }

    /// Strictly decodes the JSON file form.
    fn from_json(text: &str) -> Result<Self, DecodeError> {
        let what = Self::what();
        let limit = Self::MAX_JSON_BYTES;
        if text.len() > limit {
            return Err(DecodeError::TooLarge { what, len: text.len(), limit });
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Head {
            faircash: u64,
            kind: String,
            #[allow(dead_code)]
            body: serde::de::IgnoredAny,
        }
        let head: Head =
            serde_json::from_str(text).map_err(|e| DecodeError::Malformed { what, detail: e.to_string() })?;
        if head.faircash != u64::from(WIRE_VERSION) {
            return Err(DecodeError::UnsupportedVersion { what, version: head.faircash });
        }
        if head.kind != Self::KIND.name() {
            return Err(DecodeError::WrongKind { what, expected: Self::KIND.name(), found: head.kind });
        }
        #[derive(Deserialize)]
        struct Env<T> {
            body: T,
        }
        let _ = take_fault();
        let env: Env<Self> = serde_json::from_str(text).map_err(|e| match take_fault() {
            Some(f) => DecodeError::from_fault(what, f),
            None => DecodeError::Malformed { what, detail: e.to_string() },
        })?;
        env.body.check()?;
        Ok(env.body)
    }
}

/// Checks a point against the identity rule for `field`.
pub(crate) fn non_identity(
    what: &'static str,
    field: &'static str,
    p: &crate::encoding::Point,
) -> Result<(), DecodeError> {
    if p.is_identity() {
        Err(DecodeError::IdentityPoint { what, field })
    } else {
        Ok(())
    }
}
