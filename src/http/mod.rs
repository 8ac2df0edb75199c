//! The bank as an HTTP service (specs/http.md): routes, bodies in JSON or
//! the binary wire format by content type, typed JSON errors.
//!
//! - [`server`]: `faircash bank serve` (axum on tokio; cryptographic work on
//!   the blocking pool, so one large deposit never stalls other clients).
//! - [`client`]: [`client::HttpBank`], the same [`crate::roles::BankApi`] the
//!   wallet and merchant use locally, over HTTP (reqwest with rustls), with
//!   safe retries and fail-over between bank nodes.

pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};

use crate::keys::AccountId;
use crate::protocol::deposit::DoubleSpendEvidence;
use crate::protocol::Error;
use crate::wire::{DecodeError, MessageKind, WireMessage};

/// Content type of the binary wire format.
pub const BINARY: &str = "application/x-faircash";
/// Content type of the JSON form.
pub const JSON: &str = "application/json";

/// The routes, relative to the service root.
pub mod routes {
    /// `GET`: liveness and version.
    pub const HEALTH: &str = "/v1/health";
    /// `GET`: counts (no account data).
    pub const STATUS: &str = "/v1/status";
    /// `GET`: the signed keyset list.
    pub const KEYSETS: &str = "/v1/keysets";
    /// `POST`: register a user.
    pub const USERS: &str = "/v1/accounts/users";
    /// `POST`: register a merchant.
    pub const MERCHANTS: &str = "/v1/accounts/merchants";
    /// `POST`: withdrawal, first round.
    pub const WITHDRAWALS: &str = "/v1/withdrawals";
    /// `POST`: withdrawal, second round (`{session}` is the session id).
    pub const CHALLENGE: &str = "/v1/withdrawals/{session}/challenge";
    /// `POST`: an operation on a user account, authorized by its
    /// authentication key (`{account}` is the account id).
    pub const ACCOUNT_REQUESTS: &str = "/v1/accounts/{account}/requests";
    /// `POST`: deposit.
    pub const DEPOSITS: &str = "/v1/deposits";
    /// `POST`: reclaim of a refused payment by its payer.
    pub const RECLAIMS: &str = "/v1/reclaims";
    /// `GET`: double-spending evidence.
    pub const EVIDENCE: &str = "/v1/evidence";
    /// `GET`: the coin-tracing watch list.
    pub const WATCH_LIST: &str = "/v1/watch-list";
    /// `GET`: page `{page}` of the spent list of the denomination key
    /// `({keyset}, {value})` (`{keyset}` in hex, `{value}` and `{page}` in
    /// decimal).
    pub const SPENT_LIST: &str = "/v1/spent-lists/{keyset}/{value}/{page}";
    /// `POST`: an unspent statement for the coins a signed query names.
    pub const UNSPENT_STATEMENTS: &str = "/v1/unspent-statements";
    /// `GET`: the TTP key statements the bank publishes.
    pub const TTP_STATEMENTS: &str = "/v1/ttp-statements";
}

/// The answer to a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountOpened {
    /// The account id.
    pub account: AccountId,
}

impl WireMessage for AccountOpened {
    const KIND: MessageKind = MessageKind::AccountOpened;
    const MAX_BYTES: usize = 64;
}

/// Most evidence items in one answer (one page).
pub const MAX_EVIDENCE_LIST: usize = crate::roles::bank::MAX_EVIDENCE_PAGE;

/// Items in a page of evidence when the request names no limit.
pub const DEFAULT_EVIDENCE_PAGE: usize = 32;

/// A page of the double-spending evidence the bank holds, with the
/// accounts it identified (`GET /v1/evidence?after=…&limit=…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceList {
    /// The evidence, oldest first.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, EvidenceItem, MAX_EVIDENCE_LIST>"
    )]
    pub items: Vec<EvidenceItem>,
    /// The sequence number of the last item (the `after` asked for if the
    /// page is empty): ask for evidence after it to get what is newer.
    pub cursor: u64,
    /// Whether more evidence follows this page now.
    pub more: bool,
}

/// One item of an [`EvidenceList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceItem {
    /// Its sequence number (evidence is stored once per coin, numbered in
    /// the order it was recorded).
    pub seq: u64,
    /// The evidence.
    pub evidence: DoubleSpendEvidence,
    /// The account it identified.
    pub account: Option<AccountId>,
}

impl From<crate::roles::EvidencePage> for EvidenceList {
    fn from(p: crate::roles::EvidencePage) -> Self {
        EvidenceList {
            items: p
                .items
                .into_iter()
                .map(|e| EvidenceItem { seq: e.seq, evidence: e.record.evidence, account: e.record.account })
                .collect(),
            cursor: p.cursor,
            more: p.more,
        }
    }
}

impl WireMessage for EvidenceList {
    const KIND: MessageKind = MessageKind::EvidenceList;
    const MAX_BYTES: usize = 64 + MAX_EVIDENCE_LIST * (<DoubleSpendEvidence as WireMessage>::MAX_BYTES + 32);
    fn check(&self) -> Result<(), DecodeError> {
        let mut last = 0u64;
        for i in &self.items {
            if i.seq <= last {
                return Err(DecodeError::InvalidField {
                    what: Self::what(),
                    field: "seq",
                    reason: "sequence numbers must grow".into(),
                });
            }
            last = i.seq;
            i.evidence.check()?;
        }
        if !self.items.is_empty() && self.cursor != last {
            return Err(DecodeError::InvalidField {
                what: Self::what(),
                field: "cursor",
                reason: "not the last item's sequence number".into(),
            });
        }
        Ok(())
    }
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A typed error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code (see specs/http.md), e.g. `insufficient-balance`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Whether the same request may succeed later (retry it as is).
    pub retryable: bool,
    /// Structured details for some codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The stable code, HTTP status and details of a protocol error.
pub fn error_answer(e: &Error) -> (u16, ErrorDetail) {
    use crate::store::StoreError;
    let (status, code, retryable, detail): (u16, &str, bool, Option<serde_json::Value>) = match e {
        // Over the message's own size limit (wire.md §3), though under the
        // route's body limit: too large, as over the route's limit.
        Error::Decode(d @ DecodeError::TooLarge { .. }) => (413, d.kind(), false, None),
        Error::Decode(d) => (400, d.kind(), false, None),
        Error::Store(StoreError::Retry) => (503, "busy", true, None),
        Error::Store(_) => (503, "store-unavailable", true, None),
        Error::Keyset(_) => (422, "invalid-keyset", false, None),
        Error::Payment(_) => (422, "invalid-payment", false, None),
        Error::PaymentRefused { index, .. } => {
            (422, "invalid-payment", false, Some(serde_json::json!({ "payment": index })))
        }
        Error::Trace(_) => (422, "trace-refused", false, None),
        Error::InvalidProof(_) => (422, "invalid-proof", false, None),
        Error::UnknownKeyset(_) => (404, "unknown-keyset", false, None),
        Error::UnknownKey(_) => (404, "unknown-key", false, None),
        Error::KeyNotValid { .. } => (422, "key-not-valid", false, None),
        Error::NoSuchDenomination(_) => (422, "no-such-denomination", false, None),
        Error::NoSuchSpentPage { page, pages } => {
            (404, "no-such-page", false, Some(serde_json::json!({ "page": page, "pages": pages })))
        }
        Error::UnknownAccount(a) => {
            (404, "unknown-account", false, Some(serde_json::json!({ "account": a })))
        }
        Error::WrongAccountKind(a) => {
            (403, "wrong-account-kind", false, Some(serde_json::json!({ "account": a })))
        }
        Error::AccountFrozen(a) => (403, "account-frozen", false, Some(serde_json::json!({ "account": a }))),
        Error::InsufficientBalance { account, balance, needed } => (
            402,
            "insufficient-balance",
            false,
            Some(serde_json::json!({ "account": account, "balance": balance, "needed": needed })),
        ),
        Error::ExpiryPolicy { requested, allowed } => (
            422,
            "expiry-policy",
            false,
            Some(serde_json::json!({ "requested": requested, "allowed": allowed })),
        ),
        Error::CommitmentReused => (409, "commitment-reused", false, None),
        Error::SessionLimit { limit } => {
            (429, "session-limit", true, Some(serde_json::json!({ "limit": limit })))
        }
        Error::SessionConflict => (409, "session-conflict", false, None),
        Error::UnknownSession => (404, "unknown-session", false, None),
        Error::SessionExpired => (410, "session-expired", false, None),
        Error::SessionFromOldEpoch => (410, "session-from-old-epoch", false, None),
        Error::ChallengeMismatch => (409, "challenge-mismatch", false, None),
        Error::CommitmentSignature => (422, "commitment-signature", false, None),
        Error::SessionEnded(_) => (410, "session-ended", false, None),
        Error::IdentityInUse => (409, "identity-in-use", false, None),
        Error::IdentityRetired => (409, "identity-retired", false, None),
        Error::RekeyRequired(a) => (403, "rekey-required", false, Some(serde_json::json!({ "account": a }))),
        Error::NotFrozen(a) => (409, "not-frozen", false, Some(serde_json::json!({ "account": a }))),
        Error::UnknownReservation => (404, "unknown-reservation", false, None),
        Error::ReservationInactive => (410, "reservation-inactive", false, None),
        Error::ReservationExhausted { remaining, needed } => (
            409,
            "reservation-exhausted",
            false,
            Some(serde_json::json!({ "remaining": remaining, "needed": needed })),
        ),
        Error::AccountRequestIdReused => (409, "account-request-id-reused", false, None),
        Error::BadReason(_) => (422, "bad-reason", false, None),
        Error::RequestIdReused => (409, "request-id-reused", false, None),
        Error::RefusalBroken { payee } => {
            (409, "refusal-broken", false, Some(serde_json::json!({ "payee": payee })))
        }
        Error::TooLarge(_) => (413, "too-large", false, None),
        Error::Overflow => (422, "overflow", false, None),
        Error::BadEvidence(_) => (422, "bad-evidence", false, None),
        Error::Throttled { retry_after_secs } => {
            (429, "throttled", false, Some(serde_json::json!({ "retry_after_secs": retry_after_secs })))
        }
        Error::MerchantBusy { retry_after_secs } => {
            (429, "merchant-busy", true, Some(serde_json::json!({ "retry_after_secs": retry_after_secs })))
        }
        Error::Overloaded { retry_after_secs } => {
            (503, "overloaded", true, Some(serde_json::json!({ "retry_after_secs": retry_after_secs })))
        }
        _ => (422, "refused", false, None),
    };
    (status, ErrorDetail { code: code.to_string(), message: e.to_string(), retryable, detail })
}

/// Rebuilds a protocol error from an error answer, so callers can act on
/// the variants they know (a wallet drops sessions that will never be
/// answered); others become [`Error::Remote`].
pub fn error_from_answer(status: u16, d: ErrorDetail) -> Error {
    let get = |k: &str| d.detail.as_ref().and_then(|v| v.get(k)).cloned();
    let account = || get("account").and_then(|v| serde_json::from_value::<AccountId>(v).ok());
    let num = |k: &str| get(k).and_then(|v| v.as_u64());
    match d.code.as_str() {
        "session-expired" => Error::SessionExpired,
        "session-from-old-epoch" => Error::SessionFromOldEpoch,
        "unknown-session" => Error::UnknownSession,
        "session-conflict" => Error::SessionConflict,
        "challenge-mismatch" => Error::ChallengeMismatch,
        "commitment-reused" => Error::CommitmentReused,
        "request-id-reused" => Error::RequestIdReused,
        "refusal-broken" if get("payee").is_some() => Error::RefusalBroken {
            payee: get("payee").and_then(|v| serde_json::from_value(v).ok()).unwrap_or(AccountId([0; 16])),
        },
        "account-frozen" if account().is_some() => {
            Error::AccountFrozen(account().unwrap_or(AccountId([0; 16])))
        }
        "unknown-account" if account().is_some() => {
            Error::UnknownAccount(account().unwrap_or(AccountId([0; 16])))
        }
        "insufficient-balance" if account().is_some() => Error::InsufficientBalance {
            account: account().unwrap_or(AccountId([0; 16])),
            balance: num("balance").unwrap_or(0),
            needed: num("needed").unwrap_or(0),
        },
        "session-limit" => Error::SessionLimit { limit: num("limit").unwrap_or(0) as usize },
        "identity-in-use" => Error::IdentityInUse,
        "identity-retired" => Error::IdentityRetired,
        "rekey-required" if account().is_some() => {
            Error::RekeyRequired(account().unwrap_or(AccountId([0; 16])))
        }
        "not-frozen" if account().is_some() => Error::NotFrozen(account().unwrap_or(AccountId([0; 16]))),
        "unknown-reservation" => Error::UnknownReservation,
        "reservation-inactive" => Error::ReservationInactive,
        "reservation-exhausted" => Error::ReservationExhausted {
            remaining: num("remaining").unwrap_or(0),
            needed: num("needed").unwrap_or(0),
        },
        "account-request-id-reused" => Error::AccountRequestIdReused,
        "throttled" => Error::Throttled { retry_after_secs: num("retry_after_secs").unwrap_or(0) },
        "merchant-busy" => Error::MerchantBusy { retry_after_secs: num("retry_after_secs").unwrap_or(0) },
        "overloaded" => Error::Overloaded { retry_after_secs: num("retry_after_secs").unwrap_or(0) },
        _ => Error::Remote { status, code: d.code, message: d.message, retryable: d.retryable },
    }
}
