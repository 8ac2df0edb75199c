//! Withdrawal: the ACL issuance of one coin (specs/protocol.md §7.2).
//!
//! ```text
//! wallet                                            bank
//! WithdrawStart::new ── WithdrawRequest ──────────▶ verify pi_W, policy, hold,
//!   (C, E_w, pi_W, t)                               C unused, session limit;
//!                                                   SignerSession::open, persist
//!                    ◀── WithdrawCommitment ─────── (rnd, a, b1, b2), signed by the
//!                                                   keyset's online key
//! receive_commitment: check the signature, blind,
//! build body, e; persist PendingWithdrawal
//!                    ── WithdrawChallenge ────────▶ authorization by the account's
//!   (e, commitment digest)                          auth key; digest = stored?
//!                                                   one transaction: debit, store the
//!                                                   answer, erase w
//!                    ◀── WithdrawAnswer ─────────── (c, r, s1, s2, d), or a signed
//!                                                   end of the session
//! PendingWithdrawal::finish: check answer, unblind, verify → WalletCoin
//! ```
//!
//! The user's states consume `self` at each step; [`PendingWithdrawal`] is
//! what the wallet stores durably *before* the challenge leaves.
//!
//! A session is blinded at most once. The wallet blinds only a commitment
//! whose signature verifies; the challenge names the digest of the
//! commitment it blinded, and the bank refuses (before any debit or answer)
//! a challenge whose digest is not its stored commitment's. Any refusal of
//! an authorised challenge ends the session for good, in a statement the
//! bank signs ([`SessionEnd`]); the wallet then drops its blinding values
//! and starts a new session with new ones.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::account::{authorize, verify_authorization, ReservationId};
use super::{Error, Result};
use crate::coin::{spend_relation, Coin, CoinBody, CoinSecrets, SpendStatement};
use crate::crypto::acl::{BlindingValues, SignerAnswer, SignerCommitment, UserAwaitingAnswer, UserBlinding};
use crate::crypto::derive::{value, CoinSeed};
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::schnorr::{Proof, Relation, Signature};
use crate::crypto::secret::SecretScalar;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::{define_id, Point};
use crate::keys::{AccountId, AccountKeys, DenominationKey, KeyId, Keyset, KeysetId};
use crate::params::Params;
use crate::time::Day;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

define_id!(
    /// A withdrawal session, taken from the session's coin seed by the
    /// wallet (§7.6; it doubles as the idempotency key of the request).
    SessionId,
    16
);

impl SessionId {
    /// A fresh random session id.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        SessionId(b)
    }
}

/// The withdrawal request: `(C, E_w, t, pi_W)` for one coin of one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// The session id.
    pub session_id: SessionId,
    /// The account to debit.
    pub account: AccountId,
    /// The keyset of the key.
    pub keyset_id: KeysetId,
    /// The denomination key.
    pub key_id: KeyId,
    /// The expiry day `t` (the bank's policy for today).
    pub expiry: Day,
    /// `C = r·H0 + u·Hu + s·Hs + t·Ht`.
    pub commitment: Point,
    /// `E_w = (k'·G, S + k'·Y_T)`, the coin-tracing escrow of `S = s·Ps`.
    pub escrow: Ciphertext,
    /// The reservation the session draws on (a withdrawal of several
    /// coins), if any (§7.4).
    pub reservation: Option<ReservationId>,
    /// `pi_W`.
    pub proof: Proof,
}

impl WireMessage for WithdrawRequest {
    const KIND: MessageKind = MessageKind::WithdrawRequest;
    const MAX_BYTES: usize = 2048;
    fn check(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "C", &self.commitment)?;
        non_identity(w, "E_w1", &self.escrow.c1)
    }
}

/// The withdrawal relation `pi_W`, witnesses `(u, r, s, k')`:
///
/// ```text
/// I          = u·G
/// C - t·Ht   = r·H0 + u·Hu + s·Hs
/// E_w1       = k'·G
/// E_w2       = s·Ps + k'·Y_T
/// ```
fn withdraw_relation(
    identity: &Point,
    req_c: &Point,
    expiry: Day,
    escrow: &Ciphertext,
    ttp: &Point,
) -> Relation {
    let p = Params::get();
    let c_minus_t = Point::new(req_c.point() - p.ht.point() * Scalar::from(u64::from(expiry.0)));
    let mut rel = Relation::new(b"withdraw");
    let u = rel.witness(b"u");
    let r = rel.witness(b"r");
    let s = rel.witness(b"s");
    let k = rel.witness(b"k'");
    let g = rel.point(b"G", p.g);
    let h0 = rel.point(b"H0", p.h0);
    let hu = rel.point(b"Hu", p.hu);
    let hs = rel.point(b"Hs", p.hs);
    let ps = rel.point(b"Ps", p.ps);
    let yt = rel.point(b"Y_T", *ttp);
    let i = rel.point(b"I", *identity);
    let c = rel.point(b"C - t*Ht", c_minus_t);
    let e1 = rel.point(b"E_w1", escrow.c1);
    let e2 = rel.point(b"E_w2", escrow.c2);
    rel.equation(Some(i), &[(u, g)]);
    rel.equation(Some(c), &[(r, h0), (u, hu), (s, hs)]);
    rel.equation(Some(e1), &[(k, g)]);
    rel.equation(Some(e2), &[(s, ps), (k, yt)]);
    rel
}

fn withdraw_transcript(req: &WithdrawRequest) -> Transcript {
    let mut t = Params::get().transcript(labels::WITHDRAW_PROOF);
    t.append_message(b"keyset-id", req.keyset_id.as_bytes());
    t.append_message(b"key-id", req.key_id.as_bytes());
    t.append_message(b"account", req.account.as_bytes());
    t.append_message(b"session-id", req.session_id.as_bytes());
    t.append_u64(b"expiry", u64::from(req.expiry.0));
    t.append_point(b"C", &req.commitment);
    // Absent without a reservation, so a proof made before requests could
    // name one still verifies (withdrawal records are kept for tracing).
    if let Some(r) = &req.reservation {
        t.append_message(b"reservation", r.as_bytes());
    }
    t
}

impl WithdrawRequest {
    /// Verifies `pi_W` against the account's registered identity `I` and the
    /// keyset's TTP key. (Policy, balance and session rules are the bank's.)
    pub fn verify_proof(
        &self,
        identity: &Point,
        keyset: &Keyset,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        if self.keyset_id != keyset.id() {
            return Err(Error::UnknownKeyset(self.keyset_id));
        }
        if keyset.key(&self.key_id).is_none() {
            return Err(Error::UnknownKey(self.key_id));
        }
        if self.commitment.is_identity() || self.escrow.c1.is_identity() || identity.is_identity() {
            return Err(Error::InvalidProof("withdraw proof"));
        }
        let rel = withdraw_relation(identity, &self.commitment, self.expiry, &self.escrow, keyset.ttp_key());
        rel.verify(&mut withdraw_transcript(self), &self.proof, rng)
            .map_err(|_| Error::InvalidProof("withdraw proof"))
    }

    /// The digest of the canonical bytes: recognises a retried request and
    /// binds the bank's commitment to the request it answers.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::WITHDRAW_REQUEST_DIGEST);
        t.append_message(b"request", &self.to_bytes());
        t.challenge_digest(b"request-digest")
    }
}

/// The digest of the bank's commitment `(rnd, a, b1, b2)` for `request`:
/// what the bank signs and what the challenge names.
pub fn commitment_digest(request: &WithdrawRequest, commitment: &SignerCommitment) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::WITHDRAW_COMMITMENT_DIGEST);
    t.append_message(b"session-id", request.session_id.as_bytes());
    t.append_message(b"request-digest", &request.digest());
    t.append_message(b"keyset-id", request.keyset_id.as_bytes());
    t.append_message(b"key-id", request.key_id.as_bytes());
    t.append_scalar(b"rnd", &commitment.rnd);
    t.append_point(b"a", &commitment.a);
    t.append_point(b"b1", &commitment.b1);
    t.append_point(b"b2", &commitment.b2);
    t.challenge_digest(b"commitment-digest")
}

/// The bank's first message, signed with the online signing key of the
/// request's keyset on [`commitment_digest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawCommitment {
    /// The session.
    pub session_id: SessionId,
    /// `(rnd, a, b1, b2)`.
    pub commitment: SignerCommitment,
    /// The online key's signature (domain
    /// `faircash/v1/withdraw-commitment-signature`) on the commitment digest.
    pub signature: Signature,
}

impl WithdrawCommitment {
    /// Verifies the signature under `signing_key` (the keyset's online
    /// key) for `request`.
    pub fn verify(&self, request: &WithdrawRequest, signing_key: &Point) -> Result<()> {
        if self.session_id != request.session_id {
            return Err(Error::UnknownSession);
        }
        self.signature
            .verify(
                labels::WITHDRAW_COMMITMENT_SIGNATURE,
                &commitment_digest(request, &self.commitment),
                signing_key,
            )
            .map_err(|_| Error::CommitmentSignature)
    }
}

impl WireMessage for WithdrawCommitment {
    const KIND: MessageKind = MessageKind::WithdrawCommitment;
    const MAX_BYTES: usize = 256;
    fn check(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "a", &self.commitment.a)?;
        non_identity(w, "b1", &self.commitment.b1)?;
        non_identity(w, "b2", &self.commitment.b2)?;
        if self.commitment.rnd == Scalar::ZERO {
            return Err(DecodeError::InvalidField { what: w, field: "rnd", reason: "zero".into() });
        }
        Ok(())
    }
}

/// The wallet's blinded challenge, authorized by the account's
/// authentication key.
///
/// The challenge moves money (the bank debits the account when it answers),
/// so the account holder authorizes it (§7.3, operation
/// `"withdraw-challenge"`, request id = the session id, body
/// `session_id || commitment_digest || e`) with its authentication key,
/// never with `u`. It names the digest of the commitment the wallet
/// blinded; the bank answers only if that is its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawChallenge {
    /// The session.
    pub session_id: SessionId,
    /// [`commitment_digest`] of the commitment the wallet blinded.
    #[serde(with = "crate::encoding::hex32")]
    pub commitment_digest: [u8; 32],
    /// `e`.
    #[serde(with = "crate::encoding::scalar")]
    pub e: Scalar,
    /// The authentication key's signature.
    pub authorization: Signature,
}

impl WireMessage for WithdrawChallenge {
    const KIND: MessageKind = MessageKind::WithdrawChallenge;
    const MAX_BYTES: usize = 224;
}

/// The operation name of a challenge's authorization.
pub const CHALLENGE_OPERATION: &str = "withdraw-challenge";

fn challenge_body(session_id: &SessionId, digest: &[u8; 32], e: &Scalar) -> [u8; 80] {
    let mut m = [0u8; 80];
    m[..16].copy_from_slice(session_id.as_bytes());
    m[16..48].copy_from_slice(digest);
    m[48..].copy_from_slice(e.as_bytes());
    m
}

impl WithdrawChallenge {
    /// A challenge `e` for `session_id`, naming the commitment digest
    /// `commitment_digest`, authorized by the account of `keys`.
    pub fn new(
        session_id: SessionId,
        commitment_digest: [u8; 32],
        e: Scalar,
        keys: &AccountKeys,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let authorization = authorize(
            CHALLENGE_OPERATION,
            &keys.account(),
            session_id.as_bytes(),
            &challenge_body(&session_id, &commitment_digest, &e),
            keys.auth(),
            rng,
        );
        WithdrawChallenge { session_id, commitment_digest, e, authorization }
    }

    /// Verifies the authorization by `account`, whose authentication key is
    /// `auth_key`.
    pub fn verify_authorization(&self, account: &AccountId, auth_key: &Point) -> Result<()> {
        verify_authorization(
            CHALLENGE_OPERATION,
            account,
            self.session_id.as_bytes(),
            &challenge_body(&self.session_id, &self.commitment_digest, &self.e),
            &self.authorization,
            auth_key,
        )
        .map_err(|_| Error::InvalidProof("withdrawal challenge authorization"))
    }
}

/// Why a session ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// It had ended before this challenge (expired, released, abandoned or
    /// refused earlier).
    Ended,
    /// Its lifetime was over.
    Expired,
    /// It was opened before the bank's store was restored from a backup.
    OldEpoch,
    /// The challenge names another commitment than the one the bank made
    /// (the commitment was changed on its way to the wallet).
    CommitmentMismatch,
    /// The account is frozen.
    AccountFrozen,
    /// The balance (or the reservation) does not cover the coin.
    InsufficientBalance,
    /// The bank holds no such session.
    Unknown,
}

impl EndReason {
    /// The reason's code in the signed statement.
    pub fn code(self) -> u8 {
        match self {
            EndReason::Ended => 0,
            EndReason::Expired => 1,
            EndReason::OldEpoch => 2,
            EndReason::CommitmentMismatch => 3,
            EndReason::AccountFrozen => 4,
            EndReason::InsufficientBalance => 5,
            EndReason::Unknown => 6,
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndReason::Ended => "the session had ended",
            EndReason::Expired => "the session expired",
            EndReason::OldEpoch => "the session predates a restore of the bank's store",
            EndReason::CommitmentMismatch => "the challenge names another commitment than the bank's",
            EndReason::AccountFrozen => "the account is frozen",
            EndReason::InsufficientBalance => "the balance does not cover the coin",
            EndReason::Unknown => "the bank holds no such session",
        })
    }
}

/// The bank's signed statement that a session ended unanswered: nothing
/// was debited for it and nothing ever will be. It answers one challenge
/// (it binds the challenge's `commitment_digest` and `e`), so a statement
/// cannot be kept and replayed for another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnd {
    /// The keyset whose online key signs (the session's; the newest one
    /// for an unknown session).
    pub keyset_id: KeysetId,
    /// Why.
    pub reason: EndReason,
    /// The online key's signature (domain
    /// `faircash/v1/withdraw-session-end-signature`) on
    /// `session_id || commitment_digest || e || keyset_id || reason code`.
    pub signature: Signature,
}

fn end_message(ch: &WithdrawChallenge, keyset_id: &KeysetId, reason: EndReason) -> [u8; 113] {
    let mut m = [0u8; 113];
    m[..80].copy_from_slice(&challenge_body(&ch.session_id, &ch.commitment_digest, &ch.e));
    m[80..112].copy_from_slice(keyset_id.as_bytes());
    m[112] = reason.code();
    m
}

impl SessionEnd {
    /// The message the bank signs to end `ch`'s session for `reason`.
    pub fn message(ch: &WithdrawChallenge, keyset_id: &KeysetId, reason: EndReason) -> [u8; 113] {
        end_message(ch, keyset_id, reason)
    }

    /// Verifies the statement as the answer to `ch`, under `signing_key`
    /// (the online key of `self.keyset_id`).
    pub fn verify(&self, ch: &WithdrawChallenge, signing_key: &Point) -> Result<()> {
        self.signature
            .verify(
                labels::WITHDRAW_SESSION_END_SIGNATURE,
                &end_message(ch, &self.keyset_id, self.reason),
                signing_key,
            )
            .map_err(|_| Error::InvalidProof("session end statement"))
    }
}

/// What the bank did with a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WithdrawOutcome {
    /// The signer's answer `(c, r, s1, s2, d)`. It needs no signature: the
    /// wallet checks it against the signed commitment (§5.6), and nobody
    /// without `x_k` can make an answer that passes.
    Answered(SignerAnswer),
    /// The session ended unanswered (signed).
    Ended(SessionEnd),
}

/// The bank's answer to a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawAnswer {
    /// The session.
    pub session_id: SessionId,
    /// The answer, or the end of the session.
    pub outcome: WithdrawOutcome,
}

impl WithdrawAnswer {
    /// An answer.
    pub fn answered(session_id: SessionId, answer: SignerAnswer) -> Self {
        WithdrawAnswer { session_id, outcome: WithdrawOutcome::Answered(answer) }
    }

    /// The signer's answer, if the session was answered.
    pub fn answer(&self) -> Option<&SignerAnswer> {
        match &self.outcome {
            WithdrawOutcome::Answered(a) => Some(a),
            WithdrawOutcome::Ended(_) => None,
        }
    }
}

impl WireMessage for WithdrawAnswer {
    const KIND: MessageKind = MessageKind::WithdrawAnswer;
    const MAX_BYTES: usize = 256;
}

/// The wallet before the bank's commitment: the request and its secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct WithdrawStart {
    request: WithdrawRequest,
    value: u64,
    key: DenominationKey,
    ttp_key: Point,
    signing_key: Point,
    r: SecretScalar,
    s: SecretScalar,
    coin: CoinSeed,
}

impl std::fmt::Debug for WithdrawStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithdrawStart")
            .field("session_id", &self.request.session_id)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl WithdrawStart {
    /// Starts the withdrawal of one coin of `value` under `keyset` on `today`
    /// for the account of `keys`, from a random coin seed.
    ///
    /// `t` is the keyset policy's expiry for `today`.
    pub fn new(
        keys: &AccountKeys,
        keyset: &Keyset,
        value: u64,
        today: Day,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        Self::from_seed(keys, keyset, value, today, CoinSeed::random(rng), None, rng)
    }

    /// Starts a withdrawal whose values (session id, `r, s, k'`, the
    /// blinding values, `k, r_t` and the spend nonces) all come from the
    /// coin seed `coin` (§7.6), drawing on `reservation` if given. Only
    /// `pi_W` and the challenge's authorization take fresh randomness.
    ///
    /// # Security
    /// A coin seed must start one session only: the wallet burns the
    /// counter it derives it from durably before the request leaves.
    pub fn from_seed(
        keys: &AccountKeys,
        keyset: &Keyset,
        value: u64,
        today: Day,
        coin: CoinSeed,
        reservation: Option<ReservationId>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        Self::build(keys, keyset, value, today, coin, None, reservation, rng)
    }

    /// As [`WithdrawStart::new`], drawing on the reservation `reservation`.
    pub fn reserved(
        keys: &AccountKeys,
        keyset: &Keyset,
        value: u64,
        today: Day,
        reservation: ReservationId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        Self::from_seed(keys, keyset, value, today, CoinSeed::random(rng), Some(reservation), rng)
    }

    /// As [`WithdrawStart::new`], with the serial secret `s`, and the
    /// blinding `r` if given, chosen by the caller instead of taken from the
    /// coin seed (to test the bank's rules on repeated serials and
    /// commitments).
    ///
    /// # Security
    /// `s` must be uniformly random and used for one coin only: two coins
    /// with one `s` share the serial `S` (and its coin-tracing tag). The bank
    /// still tells them apart by `coin_id`, so neither user is accused.
    pub fn with_chosen_secrets(
        keys: &AccountKeys,
        keyset: &Keyset,
        value: u64,
        today: Day,
        r: Option<SecretScalar>,
        s: SecretScalar,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        Self::build(keys, keyset, value, today, CoinSeed::random(rng), Some((r, s)), None, rng)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        keys: &AccountKeys,
        keyset: &Keyset,
        value: u64,
        today: Day,
        coin: CoinSeed,
        chosen: Option<(Option<SecretScalar>, SecretScalar)>,
        reservation: Option<ReservationId>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        let user = keys.identity();
        let p = Params::get();
        let key = *keyset.key_for_value(value).ok_or(Error::NoSuchDenomination(value))?;
        if !key.withdrawable_on(today) {
            return Err(Error::KeyNotValid { key_id: key.key_id, day: today });
        }
        let expiry = keyset.policy().expiry_for(today);
        let (r, s) = match chosen {
            Some((r, s)) => (r.unwrap_or_else(|| coin.scalar(value::R)), s),
            None => (coin.scalar(value::R), coin.nonzero(value::S)),
        };
        let k_w = coin.nonzero(value::K_W);
        let u = user.expose_secret();
        let c_attr = Point::new(RistrettoPoint::multiscalar_mul(
            [r.expose_secret(), u, s.expose_secret(), &Scalar::from(u64::from(expiry.0))],
            [p.h0.point(), p.hu.point(), p.hs.point(), p.ht.point()],
        ));
        let serial = Point::new(p.ps.point() * s.expose_secret());
        let escrow = Ciphertext::encrypt(&serial, keyset.ttp_key(), k_w.expose_secret());
        let mut request = WithdrawRequest {
            session_id: SessionId(coin.session_id()),
            account: keys.account(),
            keyset_id: keyset.id(),
            key_id: key.key_id,
            expiry,
            commitment: c_attr,
            escrow,
            reservation,
            proof: Proof { commitments: vec![], responses: vec![] },
        };
        let rel = withdraw_relation(user.identity(), &c_attr, expiry, &escrow, keyset.ttp_key());
        request.proof = rel.prove(
            &mut withdraw_transcript(&request),
            &[u, r.expose_secret(), s.expose_secret(), k_w.expose_secret()],
            rng,
        );
        Ok(WithdrawStart {
            request,
            value,
            key,
            ttp_key: *keyset.ttp_key(),
            signing_key: *keyset.signing_key(),
            r,
            s,
            coin,
        })
    }

    /// The wallet's state after sending `request` (a request the bank
    /// stored), rebuilt from the coin seed `coin` (§7.6): `None` unless
    /// `request` is this account's and its `C` and `E_w` are the ones
    /// `coin` gives for the request's key, expiry and keyset.
    pub fn rebuild(
        keys: &AccountKeys,
        keyset: &Keyset,
        coin: CoinSeed,
        request: &WithdrawRequest,
    ) -> Option<Self> {
        let key = *keyset.key(&request.key_id)?;
        if request.account != keys.account() || request.keyset_id != keyset.id() {
            return None;
        }
        let p = Params::get();
        let (r, s, k_w) = (coin.scalar(value::R), coin.nonzero(value::S), coin.nonzero(value::K_W));
        let c_attr = Point::new(RistrettoPoint::multiscalar_mul(
            [
                r.expose_secret(),
                keys.identity().expose_secret(),
                s.expose_secret(),
                &Scalar::from(u64::from(request.expiry.0)),
            ],
            [p.h0.point(), p.hu.point(), p.hs.point(), p.ht.point()],
        ));
        let serial = Point::new(p.ps.point() * s.expose_secret());
        let escrow = Ciphertext::encrypt(&serial, keyset.ttp_key(), k_w.expose_secret());
        if c_attr != request.commitment
            || escrow != request.escrow
            || SessionId(coin.session_id()) != request.session_id
        {
            return None;
        }
        Some(WithdrawStart {
            request: request.clone(),
            value: key.value,
            key,
            ttp_key: *keyset.ttp_key(),
            signing_key: *keyset.signing_key(),
            r,
            s,
            coin,
        })
    }

    /// The request to send (the same bytes on every retry).
    pub fn request(&self) -> &WithdrawRequest {
        &self.request
    }

    /// The coin's value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Takes the bank's commitment: checks its signature, blinds it,
    /// builds the coin body with its fixed spend commitments, and computes
    /// the blinded challenge `e`.
    ///
    /// The caller must store the returned [`PendingWithdrawal`] durably
    /// before sending [`PendingWithdrawal::challenge`].
    ///
    /// # Errors
    /// [`Error::CommitmentSignature`] when the commitment is not the one the
    /// bank signed for this request: nothing was blinded, and the session
    /// must not be used (abandon it, start a new one).
    pub fn receive_commitment(
        self,
        keys: &AccountKeys,
        msg: &WithdrawCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<PendingWithdrawal> {
        msg.verify(&self.request, &self.signing_key)?;
        let user = keys.identity();
        let p = Params::get();
        let acl_key = self.key.acl();
        let c = &self.coin;
        let blinding = BlindingValues {
            gamma: *c.nonzero(value::GAMMA).expose_secret(),
            tau: *c.scalar(value::TAU).expose_secret(),
            t: std::array::from_fn(|i| *c.scalar(value::T[i]).expose_secret()),
        };
        let blinded =
            UserBlinding::blind_with(&acl_key, &self.request.commitment, &msg.commitment, &blinding)
                .map_err(|_| Error::InvalidProof("bank commitment"))?;
        let k = c.nonzero(value::K);
        let r_t = c.scalar(value::R_T);
        let t_scalar = Scalar::from(u64::from(self.request.expiry.0));
        let escrow = Ciphertext::encrypt(user.identity(), &self.ttp_key, k.expose_secret());
        let serial = Point::new(p.ps.point() * self.s.expose_secret());
        let expiry_commitment = Point::new(RistrettoPoint::multiscalar_mul(
            [&t_scalar, r_t.expose_secret()],
            [p.g.point(), p.b_blinding.point()],
        ));
        let secrets_partial = CoinSecrets {
            lambda: *blinded.lambda(),
            r: *self.r.expose_secret(),
            rnd: msg.commitment.rnd,
            s: *self.s.expose_secret(),
            expiry: self.request.expiry.0,
            k: *k.expose_secret(),
            r_t: *r_t.expose_secret(),
            nonces: [Scalar::ZERO; 8],
        };
        let statement = SpendStatement {
            z: &self.key.z,
            zeta: blinded.zeta(),
            zeta1: blinded.zeta1(),
            serial: &serial,
            escrow: &escrow,
            expiry_commitment: &expiry_commitment,
            ttp_key: &self.ttp_key,
        };
        let rel = spend_relation(&statement);
        let witnesses = secrets_partial.witnesses(user.expose_secret());
        debug_assert!(rel.holds(&witnesses.iter().collect::<Vec<_>>()));
        // The spend nonces end inside the body (its fixed commitments), so
        // they come from the coin seed: the coin can be rebuilt (§7.6).
        let mut secrets = secrets_partial;
        for (n, name) in secrets.nonces.iter_mut().zip(value::NONCES) {
            *n = *c.scalar(name).expose_secret();
        }
        let commitments = rel.commitments(&secrets.nonces);
        let spend_commitments: [Point; 6] =
            commitments.try_into().map_err(|_| Error::InvalidProof("spend relation"))?;
        let body = CoinBody {
            params_id: p.id,
            keyset_id: self.request.keyset_id,
            key_id: self.key.key_id,
            serial,
            escrow,
            expiry_commitment,
            spend_commitments,
        };
        let coin_id = body.id();
        let (acl, e) = blinded.challenge(coin_id.as_bytes());
        let digest = commitment_digest(&self.request, &msg.commitment);
        let challenge = WithdrawChallenge::new(self.request.session_id, digest, e, keys, rng);
        Ok(PendingWithdrawal {
            session_id: self.request.session_id,
            value: self.value,
            key: self.key,
            signing_key: self.signing_key,
            body,
            secrets,
            acl,
            challenge,
        })
    }
}

/// The wallet after computing `e`: everything needed to finish the coin once
/// the answer arrives. Stored durably before `e` is sent.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingWithdrawal {
    session_id: SessionId,
    value: u64,
    key: DenominationKey,
    signing_key: Point,
    body: CoinBody,
    secrets: CoinSecrets,
    acl: UserAwaitingAnswer,
    challenge: WithdrawChallenge,
}

impl std::fmt::Debug for PendingWithdrawal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingWithdrawal")
            .field("session_id", &self.session_id)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl WireMessage for PendingWithdrawal {
    const KIND: MessageKind = MessageKind::PendingWithdrawal;
    const MAX_BYTES: usize = 4096;
}

impl PendingWithdrawal {
    /// The session.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The coin's value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The challenge to send (the same on every retry).
    pub fn challenge(&self) -> WithdrawChallenge {
        self.challenge
    }

    /// The keyset of the coin.
    pub fn keyset_id(&self) -> KeysetId {
        self.body.keyset_id
    }

    /// The online signing key of the coin's keyset (it signs the
    /// session's commitment and its end).
    pub fn signing_key(&self) -> &Point {
        &self.signing_key
    }

    /// Checks a signed end of this session: it answers this session's
    /// challenge and verifies under `signing_key`, the online key of the
    /// keyset it names. For every reason but [`EndReason::Unknown`] that
    /// keyset must be the coin's (the caller passes its key); an unknown
    /// session may be reported under the bank's newest keyset.
    ///
    /// Only after this check may the wallet drop the state: an unsigned
    /// refusal may be forged by the network.
    pub fn verify_end(&self, end: &SessionEnd, signing_key: &Point) -> Result<EndReason> {
        if end.reason != EndReason::Unknown && end.keyset_id != self.body.keyset_id {
            return Err(Error::InvalidProof("session end statement"));
        }
        end.verify(&self.challenge, signing_key)?;
        Ok(end.reason)
    }

    /// Checks the bank's answer and finishes the coin.
    ///
    /// # Errors
    /// [`Error::InvalidProof`] when the answer fails any of the wallet's
    /// checks; the pending state is consumed, so keep a copy (the wallet
    /// store does) to retry with a corrected answer.
    /// [`Error::SessionEnded`] when the outcome is a (verified) end of the
    /// session; an end statement that does not verify is
    /// [`Error::InvalidProof`].
    pub fn finish(self, answer: &WithdrawAnswer) -> Result<WalletCoin> {
        if answer.session_id != self.session_id {
            return Err(Error::UnknownSession);
        }
        let answer = match &answer.outcome {
            WithdrawOutcome::Answered(a) => a,
            WithdrawOutcome::Ended(end) => {
                return Err(Error::SessionEnded(self.verify_end(end, &self.signing_key)?));
            }
        };
        let signature = self.acl.clone().finish(answer).map_err(|_| Error::InvalidProof("bank answer"))?;
        let coin = Coin { body: self.body, signature };
        if coin.identity_violation().is_some() {
            return Err(Error::InvalidProof("bank answer"));
        }
        Ok(WalletCoin { coin, secrets: self.secrets.clone(), value: self.value })
    }
}

/// A coin in a wallet: the coin, its secrets and its value.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletCoin {
    /// The coin.
    pub coin: Coin,
    /// Its secrets.
    pub secrets: CoinSecrets,
    /// Its value.
    pub value: u64,
}

impl std::fmt::Debug for WalletCoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletCoin")
            .field("coin_id", &self.coin.id())
            .field("value", &self.value)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl WireMessage for WalletCoin {
    const KIND: MessageKind = MessageKind::WalletCoin;
    const MAX_BYTES: usize = 2048;
    fn check(&self) -> Result<(), DecodeError> {
        match self.coin.identity_violation() {
            Some(field) => Err(DecodeError::IdentityPoint { what: Self::what(), field }),
            None => Ok(()),
        }
    }
}

/// What became of a listed withdrawal session (§7.3, `list-withdrawals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TranscriptState {
    /// Open: not answered yet (nothing debited).
    Open,
    /// Ended unanswered (expired, refused, released or abandoned): nothing
    /// debited, never answered.
    Ended,
    /// Answered: the challenge `e` the bank answered and its answer.
    Answered {
        /// The challenge.
        #[serde(with = "crate::encoding::scalar")]
        e: Scalar,
        /// The answer.
        answer: SignerAnswer,
    },
}

/// The bank's transcript of one withdrawal session, as listed to the
/// account's holder: the request as received, the commitment signed anew
/// by the keyset's online key, and what became of the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalTranscript {
    /// The request.
    pub request: WithdrawRequest,
    /// The commitment, signed for the request.
    pub commitment: WithdrawCommitment,
    /// Open, ended or answered.
    pub state: TranscriptState,
}

impl WithdrawalTranscript {
    /// Most bytes of one transcript's binary encoding.
    pub const MAX_BYTES: usize =
        <WithdrawRequest as WireMessage>::MAX_BYTES + <WithdrawCommitment as WireMessage>::MAX_BYTES + 160;

    /// Checks the points of the transcript the decoder must refuse.
    pub fn check(&self) -> Result<(), DecodeError> {
        self.request.check()?;
        self.commitment.check()
    }
}
