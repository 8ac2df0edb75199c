//! Withdrawal: the ACL issuance of one coin (specs/protocol.md §7.2).
//!
//! ```text
//! wallet                                            bank
//! WithdrawStart::new ── WithdrawRequest ──────────▶ verify pi_W, policy, balance,
//!   (C, E_w, pi_W, t)                               C unused, session limit;
//!                                                   SignerSession::open, persist
//!                    ◀── WithdrawCommitment ─────── (rnd, a, b1, b2)
//! receive_commitment: blind, build body, e
//! persist PendingWithdrawal
//!                    ── WithdrawChallenge ────────▶ one transaction: debit, store the
//!                                                   answer, erase w
//!                    ◀── WithdrawAnswer ─────────── (c, r, s1, s2, d)
//! PendingWithdrawal::finish: check answer, unblind, verify → WalletCoin
//! ```
//!
//! The user's states consume `self` at each step; [`PendingWithdrawal`] is
//! what the wallet stores durably *before* the challenge leaves.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::coin::{spend_relation, Coin, CoinBody, CoinSecrets, SpendStatement};
use crate::crypto::acl::{SignerAnswer, SignerCommitment, UserAwaitingAnswer, UserBlinding};
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::schnorr::{Nonces, Proof, Relation, Signature, SigningKey};
use crate::crypto::secret::SecretScalar;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::{define_id, Point};
use crate::keys::{AccountId, DenominationKey, KeyId, Keyset, KeysetId, UserKey};
use crate::params::Params;
use crate::time::Day;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

define_id!(
    /// A withdrawal session, chosen at random by the wallet (it doubles as
    /// the idempotency key of the request).
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

    /// The canonical bytes, used to recognise a retried request.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::WITHDRAW_PROOF);
        t.append_message(b"request", &self.to_bytes());
        t.challenge_digest(b"request-digest")
    }
}

/// The bank's first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawCommitment {
    /// The session.
    pub session_id: SessionId,
    /// `(rnd, a, b1, b2)`.
    pub commitment: SignerCommitment,
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

/// The wallet's blinded challenge, authorized by the account key.
///
/// The challenge moves money (the bank debits the account when it answers),
/// so the account holder signs `(session_id, e)` with its key `u`
/// (`I = u·G`); the bank answers only an authorized challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawChallenge {
    /// The session.
    pub session_id: SessionId,
    /// `e`.
    #[serde(with = "crate::encoding::scalar")]
    pub e: Scalar,
    /// The account key's signature on `(session_id, e)`.
    pub authorization: Signature,
}

impl WireMessage for WithdrawChallenge {
    const KIND: MessageKind = MessageKind::WithdrawChallenge;
    const MAX_BYTES: usize = 192;
}

fn challenge_message(session_id: &SessionId, e: &Scalar) -> [u8; 48] {
    let mut m = [0u8; 48];
    m[..16].copy_from_slice(session_id.as_bytes());
    m[16..].copy_from_slice(e.as_bytes());
    m
}

impl WithdrawChallenge {
    /// A challenge `e` for `session_id`, signed by the account holder.
    pub fn new(session_id: SessionId, e: Scalar, user: &UserKey, rng: &mut impl CryptoRngCore) -> Self {
        let key = SigningKey::from_secret(SecretScalar::new(*user.expose_secret()));
        let authorization =
            key.sign(labels::ACCOUNT_REQUEST_SIGNATURE, &challenge_message(&session_id, &e), rng);
        WithdrawChallenge { session_id, e, authorization }
    }

    /// Verifies the authorization by the account with identity `I`.
    pub fn verify_authorization(&self, identity: &Point) -> Result<()> {
        self.authorization
            .verify(
                labels::ACCOUNT_REQUEST_SIGNATURE,
                &challenge_message(&self.session_id, &self.e),
                identity,
            )
            .map_err(|_| Error::InvalidProof("withdrawal challenge authorization"))
    }
}

/// The bank's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawAnswer {
    /// The session.
    pub session_id: SessionId,
    /// `(c, r, s1, s2, d)`.
    pub answer: SignerAnswer,
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
    r: SecretScalar,
    s: SecretScalar,
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
    /// Starts the withdrawal of one coin of `value` under `keyset` on `today`.
    ///
    /// Draws `r, s, k'`; `t` is the keyset policy's expiry for `today`.
    pub fn new(
        user: &UserKey,
        keyset: &Keyset,
        value: u64,
        today: Day,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        let s = SecretScalar::random_nonzero(rng);
        Self::with_serial_secret(user, keyset, value, today, s, rng)
    }

    /// As [`WithdrawStart::new`], with the serial secret `s` given by the
    /// caller (a wallet that derives its secrets from a seed).
    ///
    /// # Security
    /// `s` must be uniformly random and used for one coin only: two coins
    /// with one `s` share the serial `S` (and its coin-tracing tag). The bank
    /// still tells them apart by `coin_id`, so neither user is accused.
    pub fn with_serial_secret(
        user: &UserKey,
        keyset: &Keyset,
        value: u64,
        today: Day,
        s: SecretScalar,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        let p = Params::get();
        let key = *keyset.key_for_value(value).ok_or(Error::NoSuchDenomination(value))?;
        if !key.withdrawable_on(today) {
            return Err(Error::KeyNotValid { key_id: key.key_id, day: today });
        }
        let expiry = keyset.policy().expiry_for(today);
        let r = SecretScalar::random(rng);
        let k_w = SecretScalar::random_nonzero(rng);
        let u = user.expose_secret();
        let c_attr = Point::new(RistrettoPoint::multiscalar_mul(
            [r.expose_secret(), u, s.expose_secret(), &Scalar::from(u64::from(expiry.0))],
            [p.h0.point(), p.hu.point(), p.hs.point(), p.ht.point()],
        ));
        let serial = Point::new(p.ps.point() * s.expose_secret());
        let escrow = Ciphertext::encrypt(&serial, keyset.ttp_key(), k_w.expose_secret());
        let mut request = WithdrawRequest {
            session_id: SessionId::random(rng),
            account: user.account_id(),
            keyset_id: keyset.id(),
            key_id: key.key_id,
            expiry,
            commitment: c_attr,
            escrow,
            proof: Proof { commitments: vec![], responses: vec![] },
        };
        let rel = withdraw_relation(user.identity(), &c_attr, expiry, &escrow, keyset.ttp_key());
        request.proof = rel.prove(
            &mut withdraw_transcript(&request),
            &[u, r.expose_secret(), s.expose_secret(), k_w.expose_secret()],
            rng,
        );
        Ok(WithdrawStart { request, value, key, ttp_key: *keyset.ttp_key(), r, s })
    }

    /// The request to send (the same bytes on every retry).
    pub fn request(&self) -> &WithdrawRequest {
        &self.request
    }

    /// The coin's value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Takes the bank's commitment: blinds it, builds the coin body with its
    /// fixed spend commitments, and computes the blinded challenge `e`.
    ///
    /// The caller must store the returned [`PendingWithdrawal`] durably
    /// before sending [`PendingWithdrawal::challenge`].
    pub fn receive_commitment(
        self,
        user: &UserKey,
        msg: &WithdrawCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<PendingWithdrawal> {
        if msg.session_id != self.request.session_id {
            return Err(Error::UnknownSession);
        }
        let p = Params::get();
        let acl_key = self.key.acl();
        let blinded = UserBlinding::blind(&acl_key, &self.request.commitment, &msg.commitment, rng)
            .map_err(|_| Error::InvalidProof("bank commitment"))?;
        let k = SecretScalar::random_nonzero(rng);
        let r_t = SecretScalar::random(rng);
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
        // Hedged nonces: fresh from rng, keyed with the witnesses and the
        // statement, so a weak rng alone does not repeat them.
        let mut nt = p.transcript(labels::SPEND_NONCES);
        rel.absorb(&mut nt);
        let nonces = Nonces::derive(&nt, &witnesses.iter().collect::<Vec<_>>(), rng, 8);
        let commitments = rel.commitments(&nonces.0);
        let mut secrets = secrets_partial;
        secrets.nonces.copy_from_slice(&nonces.0);
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
        let challenge = WithdrawChallenge::new(self.request.session_id, e, user, rng);
        Ok(PendingWithdrawal {
            session_id: self.request.session_id,
            value: self.value,
            key: self.key,
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

    /// Checks the bank's answer and finishes the coin.
    ///
    /// # Errors
    /// [`Error::InvalidProof`] when the answer fails any of the wallet's
    /// checks; the pending state is consumed, so keep a copy (the wallet
    /// store does) to retry with a corrected answer.
    pub fn finish(self, answer: &WithdrawAnswer) -> Result<WalletCoin> {
        if answer.session_id != self.session_id {
            return Err(Error::UnknownSession);
        }
        let signature =
            self.acl.clone().finish(&answer.answer).map_err(|_| Error::InvalidProof("bank answer"))?;
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
