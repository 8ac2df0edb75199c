//! Account operations authorised by the account's authentication key
//! (specs/protocol.md §7.3), withdrawal reservations (§7.4) and re-keying
//! (§7.5).
//!
//! # The account-authorised request
//!
//! `u` is the identity coins escrow; a proven double spend makes it public.
//! So no account operation is authorised by `u`: each is signed by the
//! account's *authentication key* `A = a·G` (registered with the account,
//! rotatable, never revealed by the protocol). One mechanism serves every
//! operation:
//!
//! ```text
//! digest := PT("faircash/v1/account-request")
//!           T.msg("operation", name)          e.g. "withdraw-challenge"
//!           T.msg("account", account id)      16 bytes
//!           T.msg("request-id", request id)   16 bytes
//!           T.msg("body", operation body)     the operation's bytes
//!           T.digest("account-request")
//! authorization := Schnorr signature (§3.4) by A,
//!           domain "faircash/v1/account-request-signature", on digest
//! ```
//!
//! [`authorize`] and [`verify_authorization`] are the mechanism; a message
//! that needs an account's consent carries the signature they make (the
//! withdrawal challenge does, [`super::withdraw::WithdrawChallenge`]). The
//! small operations travel as one message, [`AccountRequest`], whose
//! [`AccountOperation`] names what is asked. An operation that is not
//! naturally idempotent ([`AccountOperation::replay_protected`]) is
//! recorded by the bank under `(account, request id)` with the request
//! digest and the answer, in the transaction that performs it: the same
//! request again gets the stored answer, another request under a used id
//! is refused, and a captured request can never be performed twice.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::register::account_keys_relation;
use super::withdraw::{SessionId, WithdrawalTranscript};
use super::{Error, Result};
use crate::crypto::schnorr::{Proof, Signature};
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::{define_id, Point};
use crate::keys::{AccountId, AccountKeys, AuthKey, UserKey};
use crate::params::Params;
use crate::time::Timestamp;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

define_id!(
    /// A withdrawal reservation, chosen at random by the wallet (it is the
    /// reservation's idempotency key too).
    ReservationId,
    16
);

impl ReservationId {
    /// A fresh random reservation id.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        ReservationId(b)
    }
}

/// The digest an account's authentication key signs for one request.
pub fn authorization_digest(
    operation: &'static str,
    account: &AccountId,
    request_id: &[u8; 16],
    body: &[u8],
) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::ACCOUNT_REQUEST);
    t.append_message(b"operation", operation.as_bytes());
    t.append_message(b"account", account.as_bytes());
    t.append_message(b"request-id", request_id);
    t.append_message(b"body", body);
    t.challenge_digest(b"account-request")
}

/// Signs the request `(operation, account, request_id, body)` with the
/// account's authentication key.
pub fn authorize(
    operation: &'static str,
    account: &AccountId,
    request_id: &[u8; 16],
    body: &[u8],
    key: &AuthKey,
    rng: &mut impl CryptoRngCore,
) -> Signature {
    let digest = authorization_digest(operation, account, request_id, body);
    key.sign(labels::ACCOUNT_REQUEST_SIGNATURE, &digest, rng)
}

/// Verifies an authorization made by [`authorize`] under the account's
/// registered authentication key `auth_key`.
pub fn verify_authorization(
    operation: &'static str,
    account: &AccountId,
    request_id: &[u8; 16],
    body: &[u8],
    authorization: &Signature,
    auth_key: &Point,
) -> Result<()> {
    let digest = authorization_digest(operation, account, request_id, body);
    authorization
        .verify(labels::ACCOUNT_REQUEST_SIGNATURE, &digest, auth_key)
        .map_err(|_| Error::InvalidProof("account authorization"))
}

/// What an [`AccountRequest`] asks of the account.
// A message built once per request: boxing the rotation would only move
// its 160 bytes to the heap.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AccountOperation {
    /// Reserve `amount` of the balance for the sessions of one withdrawal
    /// (§7.4). Idempotent by the reservation id: the same reservation asked
    /// again gets its current state.
    ReserveWithdrawal {
        /// The reservation.
        reservation: ReservationId,
        /// The whole amount of the withdrawal.
        amount: u64,
    },
    /// Release a reservation: its hold ends and its open sessions end
    /// unanswered.
    ReleaseReservation {
        /// The reservation.
        reservation: ReservationId,
    },
    /// End an open withdrawal session of the account unanswered (a wallet
    /// that cannot use the bank's commitment).
    AbandonWithdrawal {
        /// The session.
        session_id: SessionId,
    },
    /// Replace the authentication key by `new_key`, which proves its
    /// possession with `possession`, its signature (domain
    /// `faircash/v1/auth-key-possession`) on
    /// `account (16) || current key (32) || new_key (32)`.
    RotateAuthKey {
        /// The new authentication key.
        new_key: Point,
        /// The new key's signature.
        possession: Signature,
    },
    /// The account's status and history.
    Status,
    /// A page of the account's withdrawal sessions with their transcripts,
    /// in session-id order: at most `limit` (1 to [`MAX_LIST_PAGE`]) whose
    /// session id is above `after` (from the first when none).
    ListWithdrawals {
        /// The last session id of the previous page.
        after: Option<SessionId>,
        /// The most sessions to list.
        limit: u16,
    },
}

/// Most sessions in one page of [`AccountOperation::ListWithdrawals`].
pub const MAX_LIST_PAGE: usize = 64;

/// A page of an account's withdrawal sessions (§7.3, `list-withdrawals`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalPage {
    /// The sessions, in session-id order.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, WithdrawalTranscript, MAX_LIST_PAGE>"
    )]
    pub sessions: Vec<WithdrawalTranscript>,
    /// The cursor of the next page (the last session id listed) when this
    /// page is full; none when it is the last.
    pub next: Option<SessionId>,
}

impl AccountOperation {
    /// The operation's name, bound into its authorization.
    pub fn name(&self) -> &'static str {
        match self {
            AccountOperation::ReserveWithdrawal { .. } => "reserve-withdrawal",
            AccountOperation::ReleaseReservation { .. } => "release-reservation",
            AccountOperation::AbandonWithdrawal { .. } => "abandon-withdrawal",
            AccountOperation::RotateAuthKey { .. } => "rotate-auth-key",
            AccountOperation::Status => "account-status",
            AccountOperation::ListWithdrawals { .. } => "list-withdrawals",
        }
    }

    /// Whether the bank records the request (and its answer) under its
    /// request id: for operations that are not idempotent by themselves.
    pub fn replay_protected(&self) -> bool {
        matches!(self, AccountOperation::RotateAuthKey { .. })
    }

    /// The operation's body: its postcard encoding.
    pub fn body(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("in-memory encoding never fails")
    }
}

/// An operation on an account, signed by its authentication key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    /// The account.
    pub account: AccountId,
    /// Names this request (random; a retry sends the same request).
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 16],
    /// What is asked.
    pub operation: AccountOperation,
    /// The authentication key's signature (see the module docs).
    pub authorization: Signature,
}

impl WireMessage for AccountRequest {
    const KIND: MessageKind = MessageKind::AccountRequest;
    const MAX_BYTES: usize = 512;
    fn check(&self) -> std::result::Result<(), DecodeError> {
        if let AccountOperation::RotateAuthKey { new_key, .. } = &self.operation {
            non_identity(Self::what(), "new_key", new_key)?;
        }
        if let AccountOperation::ListWithdrawals { limit, .. } = &self.operation {
            if *limit == 0 || usize::from(*limit) > MAX_LIST_PAGE {
                return Err(DecodeError::InvalidField {
                    what: Self::what(),
                    field: "limit",
                    reason: format!("1 to {MAX_LIST_PAGE}"),
                });
            }
        }
        Ok(())
    }
}

/// `account || current key || new key`, what a new authentication key signs.
fn possession_message(account: &AccountId, current: &Point, new: &Point) -> [u8; 80] {
    let mut m = [0u8; 80];
    m[..16].copy_from_slice(account.as_bytes());
    m[16..48].copy_from_slice(current.as_bytes());
    m[48..].copy_from_slice(new.as_bytes());
    m
}

impl AccountRequest {
    /// `operation` on the account of `keys`, signed with its
    /// authentication key, under a fresh request id.
    pub fn new(keys: &AccountKeys, operation: AccountOperation, rng: &mut impl CryptoRngCore) -> Self {
        let mut request_id = [0u8; 16];
        rng.fill_bytes(&mut request_id);
        let account = keys.account();
        let authorization =
            authorize(operation.name(), &account, &request_id, &operation.body(), keys.auth(), rng);
        AccountRequest { account, request_id, operation, authorization }
    }

    /// A rotation of the authentication key of `keys` to `new`.
    pub fn rotate_auth_key(keys: &AccountKeys, new: &AuthKey, rng: &mut impl CryptoRngCore) -> Self {
        let message = possession_message(&keys.account(), keys.auth().public(), new.public());
        let possession = new.sign(labels::AUTH_KEY_POSSESSION, &message, rng);
        Self::new(keys, AccountOperation::RotateAuthKey { new_key: *new.public(), possession }, rng)
    }

    /// The digest the authorization signs.
    pub fn digest(&self) -> [u8; 32] {
        authorization_digest(self.operation.name(), &self.account, &self.request_id, &self.operation.body())
    }

    /// Verifies the authorization under the account's authentication key
    /// and, for a rotation, the new key's proof of possession.
    pub fn verify(&self, auth_key: &Point) -> Result<()> {
        verify_authorization(
            self.operation.name(),
            &self.account,
            &self.request_id,
            &self.operation.body(),
            &self.authorization,
            auth_key,
        )?;
        if let AccountOperation::RotateAuthKey { new_key, possession } = &self.operation {
            if new_key.is_identity() || new_key == auth_key {
                return Err(Error::InvalidProof("new authentication key"));
            }
            possession
                .verify(
                    labels::AUTH_KEY_POSSESSION,
                    &possession_message(&self.account, auth_key, new_key),
                    new_key,
                )
                .map_err(|_| Error::InvalidProof("new authentication key possession"))?;
        }
        Ok(())
    }
}

/// A withdrawal reservation: a hold on `amount - drawn` of the account's
/// balance while it is active (not released, `now < expires`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// The reservation.
    pub id: ReservationId,
    /// The account.
    pub account: AccountId,
    /// The whole amount of the withdrawal.
    pub amount: u64,
    /// What answered sessions have drawn (debited) so far.
    pub drawn: u64,
    /// When it was made.
    pub created: Timestamp,
    /// When its hold ends unless a session opened under it extends it.
    pub expires: Timestamp,
    /// Released by the account holder (its hold ended early).
    pub released: bool,
}

impl Reservation {
    /// Whether it still holds money at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        !self.released && now < self.expires
    }

    /// What it holds at `now`: the part not drawn yet, while active.
    pub fn held(&self, now: Timestamp) -> u64 {
        if self.is_active(now) {
            self.amount.saturating_sub(self.drawn)
        } else {
            0
        }
    }

    /// What remains to withdraw under it.
    pub fn remaining(&self) -> u64 {
        self.amount.saturating_sub(self.drawn)
    }
}

/// What happened to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEventKind {
    /// Opened.
    Registered,
    /// Frozen (double-spending evidence names one of its identities).
    Frozen,
    /// Unfrozen by the operator.
    Unfrozen,
    /// Re-keyed to a new identity and authentication key (operator).
    Rekeyed,
    /// Its authentication key was replaced by the holder.
    AuthKeyRotated,
}

impl AccountEventKind {
    /// A short name (for people and JSON).
    pub fn name(self) -> &'static str {
        match self {
            AccountEventKind::Registered => "registered",
            AccountEventKind::Frozen => "frozen",
            AccountEventKind::Unfrozen => "unfrozen",
            AccountEventKind::Rekeyed => "rekeyed",
            AccountEventKind::AuthKeyRotated => "auth-key-rotated",
        }
    }
}

/// Longest reason text of an account event, in bytes.
pub const MAX_REASON_BYTES: usize = 256;

/// One entry of an account's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEvent {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: AccountEventKind,
    /// Why (the operator's reason, or what the bank saw).
    #[serde(
        serialize_with = "crate::encoding::bounded_str::serialize",
        deserialize_with = "crate::encoding::bounded_str::deserialize::<_, MAX_REASON_BYTES>"
    )]
    pub reason: String,
}

/// Most events in an [`AccountStatus`] (the newest ones).
pub const MAX_STATUS_EVENTS: usize = 256;

/// An account as its holder sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountStatus {
    /// The account.
    pub account: AccountId,
    /// Its current identity `I`.
    pub identity: Point,
    /// Its current authentication key.
    pub auth_key: Point,
    /// The balance.
    pub balance: u64,
    /// What reservations and open sessions hold of it.
    pub held: u64,
    /// Frozen accounts cannot withdraw.
    pub frozen: bool,
    /// The newest events, oldest first.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, AccountEvent, MAX_STATUS_EVENTS>"
    )]
    pub events: Vec<AccountEvent>,
}

/// The bank's answer to an [`AccountRequest`].
// One answer per request; the status variant's size is its points and the
// events vector's header.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AccountAnswer {
    /// A reservation's state (reserve, release).
    Reservation(Reservation),
    /// The account's status (status, rotation, abandon).
    Status(AccountStatus),
    /// A page of the account's withdrawal sessions.
    Withdrawals(WithdrawalPage),
}

impl WireMessage for AccountAnswer {
    const KIND: MessageKind = MessageKind::AccountAnswer;
    /// The larger of a status (256 events) and a page of transcripts.
    const MAX_BYTES: usize = {
        let status = 512 + MAX_STATUS_EVENTS * (MAX_REASON_BYTES + 16);
        let page = 64 + MAX_LIST_PAGE * WithdrawalTranscript::MAX_BYTES;
        if status > page {
            status
        } else {
            page
        }
    };
    /// 256 events whose reasons are 256 control characters each, every
    /// one escaped as `\u00XX` in JSON: under 1 800 bytes an event; a page
    /// of transcripts in hex is under 8 KiB a session.
    const MAX_JSON_BYTES: usize = 1024 * 1024;
    fn check(&self) -> std::result::Result<(), DecodeError> {
        if let AccountAnswer::Status(s) = self {
            non_identity(Self::what(), "identity", &s.identity)?;
            non_identity(Self::what(), "auth_key", &s.auth_key)?;
        }
        if let AccountAnswer::Withdrawals(page) = self {
            for t in &page.sessions {
                t.check()?;
            }
        }
        Ok(())
    }
}

/// A re-key of an account to a new identity `I' = u'·G` and a new
/// authentication key `A'` (§7.5), for the operator to apply after
/// verifying out of band that the account's holder asks for it.
///
/// The proof shows knowledge of `u'` and `a'` and is bound to the account
/// and to the identity it replaces, so a request applied once can never be
/// applied again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RekeyRequest {
    /// The account.
    pub account: AccountId,
    /// The identity being replaced (the account's current `I`).
    pub old_identity: Point,
    /// `I'`.
    pub new_identity: Point,
    /// `A'`.
    pub new_auth_key: Point,
    /// `PoK{(u', a'): I' = u'·G, A' = a'·G}`.
    pub proof: Proof,
}

impl WireMessage for RekeyRequest {
    const KIND: MessageKind = MessageKind::RekeyRequest;
    const MAX_BYTES: usize = 1024;
    fn check(&self) -> std::result::Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "old_identity", &self.old_identity)?;
        non_identity(w, "new_identity", &self.new_identity)?;
        non_identity(w, "new_auth_key", &self.new_auth_key)
    }
}

fn rekey_transcript(account: &AccountId, old_identity: &Point) -> merlin::Transcript {
    let mut t = Params::get().transcript(labels::ACCOUNT_REKEY);
    t.append_message(b"account", account.as_bytes());
    t.append_point(b"old-identity", old_identity);
    t
}

impl RekeyRequest {
    /// A request to re-key the account of `keys` to `identity` and `auth`
    /// (fresh keys the wallet keeps until the operator applies it).
    pub fn new(keys: &AccountKeys, identity: &UserKey, auth: &AuthKey, rng: &mut impl CryptoRngCore) -> Self {
        let account = keys.account();
        let old_identity = *keys.identity().identity();
        let rel = account_keys_relation(identity.identity(), auth.public());
        let proof = rel.prove(
            &mut rekey_transcript(&account, &old_identity),
            &[identity.expose_secret(), auth.expose_secret()],
            rng,
        );
        RekeyRequest {
            account,
            old_identity,
            new_identity: *identity.identity(),
            new_auth_key: *auth.public(),
            proof,
        }
    }

    /// Verifies the proof (and that the two new keys are distinct).
    pub fn verify(&self, rng: &mut impl CryptoRngCore) -> Result<()> {
        if self.new_identity.is_identity()
            || self.new_auth_key.is_identity()
            || self.new_identity == self.new_auth_key
        {
            return Err(Error::InvalidProof("re-key request"));
        }
        account_keys_relation(&self.new_identity, &self.new_auth_key)
            .verify(&mut rekey_transcript(&self.account, &self.old_identity), &self.proof, rng)
            .map_err(|_| Error::InvalidProof("re-key request"))
    }

    /// A digest of the request (shown to the holder and the operator to
    /// compare out of band).
    pub fn fingerprint(&self) -> String {
        let mut t = Params::get().transcript(labels::ACCOUNT_REKEY_FINGERPRINT);
        t.append_message(b"request", &self.to_bytes());
        hex::encode(&t.challenge_digest(b"fingerprint")[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn an_account_request_is_bound_to_its_account_operation_and_key() {
        let keys = AccountKeys::generate(&mut OsRng);
        let op = AccountOperation::ReserveWithdrawal { reservation: ReservationId([1; 16]), amount: 60 };
        let req = AccountRequest::new(&keys, op, &mut OsRng);
        req.verify(keys.auth().public()).unwrap();
        // Not by u, not by another key.
        assert!(req.verify(keys.identity().identity()).is_err());
        assert!(req.verify(AuthKey::generate(&mut OsRng).public()).is_err());
        // Every field is bound.
        let mut r = req.clone();
        r.account = AccountId([9; 16]);
        assert!(r.verify(keys.auth().public()).is_err());
        let mut r = req.clone();
        r.request_id[0] ^= 1;
        assert!(r.verify(keys.auth().public()).is_err());
        let mut r = req.clone();
        r.operation = AccountOperation::ReserveWithdrawal { reservation: ReservationId([1; 16]), amount: 61 };
        assert!(r.verify(keys.auth().public()).is_err());
        let mut r = req.clone();
        r.operation = AccountOperation::ReleaseReservation { reservation: ReservationId([1; 16]) };
        assert!(r.verify(keys.auth().public()).is_err());
        assert_eq!(AccountRequest::from_bytes(&req.to_bytes()).unwrap(), req);
    }

    #[test]
    fn a_rotation_proves_the_new_key() {
        let keys = AccountKeys::generate(&mut OsRng);
        let new = AuthKey::generate(&mut OsRng);
        let req = AccountRequest::rotate_auth_key(&keys, &new, &mut OsRng);
        req.verify(keys.auth().public()).unwrap();
        // A new key that did not sign its possession is refused, even when
        // the request itself is properly authorised.
        let other = AuthKey::generate(&mut OsRng);
        let AccountOperation::RotateAuthKey { possession, .. } = req.operation else { unreachable!() };
        let forged = AccountRequest::new(
            &keys,
            AccountOperation::RotateAuthKey { new_key: *other.public(), possession },
            &mut OsRng,
        );
        assert!(matches!(forged.verify(keys.auth().public()), Err(Error::InvalidProof(_))));
    }

    #[test]
    fn a_rekey_request_proves_both_new_keys_and_names_what_it_replaces() {
        let keys = AccountKeys::generate(&mut OsRng);
        let (u, a) = (UserKey::generate(&mut OsRng), AuthKey::generate(&mut OsRng));
        let req = RekeyRequest::new(&keys, &u, &a, &mut OsRng);
        req.verify(&mut OsRng).unwrap();
        let mut r = req.clone();
        r.old_identity = *u.identity();
        assert!(r.verify(&mut OsRng).is_err());
        let mut r = req.clone();
        r.new_auth_key = *AuthKey::generate(&mut OsRng).public();
        assert!(r.verify(&mut OsRng).is_err());
        let mut r = req.clone();
        r.account = AccountId([3; 16]);
        assert!(r.verify(&mut OsRng).is_err());
        assert_eq!(RekeyRequest::from_bytes(&req.to_bytes()).unwrap(), req);
    }
}
