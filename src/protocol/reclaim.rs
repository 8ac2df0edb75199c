//! Reclaiming a refused payment (specs/protocol.md §8.6).
//!
//! A payee that refuses a payment signs a [`PayeeRefusal`]; the payer then
//! deposits that same payment transcript to its own account with the
//! refusal, in a [`ReclaimRequest`] signed with the account's
//! authentication key `A` (never `u`). The payment names no payer, so the
//! request binds it to the account: per coin, the identity `I` its escrow
//! holds and a proof of knowledge of the escrow randomness `k` with
//! `E1 = k·G` and `E2 - I = k·Y_T` (a Chaum–Pedersen proof), which only the
//! coin's owner can make. A third party holding the payment and the
//! refusal knows no `k`: it can neither credit its own account nor prove
//! another identity for the coins.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::pay::Payment;
use super::refusal::PayeeRefusal;
use super::withdraw::WalletCoin;
use super::{Error, Result};
use crate::crypto::schnorr::{Proof, Relation, Signature};
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::Point;
use crate::keys::{AccountId, AccountKeys, KeysetLookup};
use crate::params::{Params, MAX_COINS_PER_PAYMENT};
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// The payer's request to credit its account with a payment its payee
/// refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReclaimRequest {
    /// The payer's account, credited.
    pub account: AccountId,
    /// A random id naming this request (a retry reuses it).
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 16],
    /// The payment refused, as it left the payer.
    pub payment: Payment,
    /// The payee's signed refusal of it.
    pub refusal: PayeeRefusal,
    /// Per coin, in order, the identity `I` its escrow holds.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Point, MAX_COINS_PER_PAYMENT>"
    )]
    pub identities: Vec<Point>,
    /// Per coin, in order, the proof that its escrow holds that identity.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Proof, MAX_COINS_PER_PAYMENT>"
    )]
    pub proofs: Vec<Proof>,
    /// The authentication key's signature on the request's digest.
    pub signature: Signature,
}

/// The relation `"reclaim-escrow"` of one coin: witness `k`; points `G`,
/// `Y_T` (`"ttp-key"`), `E1`, `E2 - I` (`"E2-I"`); `E1 = k·G`,
/// `E2 - I = k·Y_T`.
fn escrow_relation(e1: &Point, e2: &Point, identity: &Point, ttp_key: &Point) -> Relation {
    let mut rel = Relation::new(b"reclaim-escrow");
    let k = rel.witness(b"k");
    let g = rel.point(b"G", Params::get().g);
    let y = rel.point(b"ttp-key", *ttp_key);
    let c1 = rel.point(b"E1", *e1);
    let c2 = rel.point(b"E2-I", Point::new(e2.point() - identity.point()));
    rel.equation(Some(c1), &[(k, g)]);
    rel.equation(Some(c2), &[(k, y)]);
    rel
}

fn escrow_transcript(digest: &[u8; 32], index: usize) -> merlin::Transcript {
    let mut t = Params::get().transcript(labels::RECLAIM_ESCROW);
    t.append_message(b"request-digest", digest);
    t.append_u64(b"coin-index", index as u64);
    t
}

/// The request's digest: what the authentication key signs and every
/// escrow proof is bound to.
fn reclaim_digest(
    account: &AccountId,
    request_id: &[u8; 16],
    payment: &Payment,
    refusal: &PayeeRefusal,
    identities: &[Point],
) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::RECLAIM_REQUEST_DIGEST);
    t.append_message(b"account", account.as_bytes());
    t.append_message(b"request-id", request_id);
    t.append_message(b"payment-digest", &payment.digest());
    t.append_message(b"refusal-request-id", &refusal.request_id);
    t.append_message(b"refusal-payment-digest", &refusal.payment_digest);
    t.append_point(b"refusal-signature-r", &refusal.signature.r);
    t.append_message(b"refusal-signature-s", refusal.signature.s.as_bytes());
    t.append_u64(b"coins", identities.len() as u64);
    for i in identities {
        t.append_point(b"identity", i);
    }
    t.challenge_digest(b"request-digest")
}

/// The TTP key of each coin's keyset, in payment order.
fn coin_ttp_keys(payment: &Payment, keysets: &(impl KeysetLookup + ?Sized)) -> Result<Vec<Point>> {
    payment
        .coins
        .iter()
        .map(|c| {
            keysets
                .find_keyset(&c.body.keyset_id)
                .map(|k| *k.ttp_key())
                .ok_or(Error::UnknownKeyset(c.body.keyset_id))
        })
        .collect()
}

impl ReclaimRequest {
    /// The reclaim of `payment`, refused by `refusal`, to the account of
    /// `keys`; `coins` are the wallet's coins of the payment, in payment
    /// order (their escrow randomness `k` makes the proofs). Signed with
    /// the authentication key. Each coin's escrow is under the TTP key of
    /// its own keyset, found in `keysets` (a payment may mix keysets).
    pub fn new(
        keys: &AccountKeys,
        payment: Payment,
        refusal: PayeeRefusal,
        coins: &[&WalletCoin],
        keysets: &(impl KeysetLookup + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        if coins.len() != payment.coins.len()
            || coins.iter().zip(&payment.coins).any(|(w, c)| w.coin.body != c.body)
        {
            return Err(Error::InvalidProof("reclaim: the coins are not the payment's"));
        }
        let ttp_keys = coin_ttp_keys(&payment, keysets)?;
        let mut request_id = [0u8; 16];
        rng.fill_bytes(&mut request_id);
        let identities: Vec<Point> = coins
            .iter()
            .zip(&ttp_keys)
            .map(|(w, ttp_key)| Point::new(w.coin.body.escrow.c2.point() - ttp_key.point() * w.secrets.k))
            .collect();
        let account = keys.account();
        let digest = reclaim_digest(&account, &request_id, &payment, &refusal, &identities);
        let proofs = coins
            .iter()
            .zip(identities.iter().zip(&ttp_keys))
            .enumerate()
            .map(|(i, (w, (id, ttp_key)))| {
                let rel = escrow_relation(&w.coin.body.escrow.c1, &w.coin.body.escrow.c2, id, ttp_key);
                let k: &Scalar = &w.secrets.k;
                rel.prove(&mut escrow_transcript(&digest, i), &[k], rng)
            })
            .collect();
        let signature = keys.auth().signing_key().sign(labels::RECLAIM_SIGNATURE, &digest, rng);
        Ok(ReclaimRequest { account, request_id, payment, refusal, identities, proofs, signature })
    }

    /// The request's digest (what the authentication key signs).
    pub fn digest(&self) -> [u8; 32] {
        reclaim_digest(&self.account, &self.request_id, &self.payment, &self.refusal, &self.identities)
    }

    /// Verifies the authentication key's signature under `auth_key` and
    /// returns the digest: hashing and one signature verification, no
    /// group operation per coin, so the bank checks it first.
    pub fn verify_signature(&self, auth_key: &Point) -> Result<[u8; 32]> {
        let digest = self.digest();
        self.signature
            .verify(labels::RECLAIM_SIGNATURE, &digest, auth_key)
            .map_err(|_| Error::InvalidProof("reclaim signature"))?;
        Ok(digest)
    }

    /// Verifies every coin's escrow proof under the TTP key of the coin's
    /// own keyset, found in `keysets`: coin `i`'s escrow holds
    /// `identities[i]`.
    pub fn verify_escrows(
        &self,
        digest: &[u8; 32],
        keysets: &(impl KeysetLookup + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        if self.identities.len() != self.payment.coins.len() || self.proofs.len() != self.payment.coins.len()
        {
            return Err(Error::InvalidProof("reclaim escrow proofs"));
        }
        let ttp_keys = coin_ttp_keys(&self.payment, keysets)?;
        for (i, (((coin, id), proof), ttp_key)) in
            self.payment.coins.iter().zip(&self.identities).zip(&self.proofs).zip(&ttp_keys).enumerate()
        {
            escrow_relation(&coin.body.escrow.c1, &coin.body.escrow.c2, id, ttp_key)
                .verify(&mut escrow_transcript(digest, i), proof, rng)
                .map_err(|_| Error::InvalidProof("reclaim escrow proof"))?;
        }
        Ok(())
    }
}

impl WireMessage for ReclaimRequest {
    const KIND: MessageKind = MessageKind::ReclaimRequest;
    // The payment, the refusal, and per coin an identity and a proof (two
    // points, one scalar, with their length prefixes).
    const MAX_BYTES: usize = <Payment as WireMessage>::MAX_BYTES + 512 + MAX_COINS_PER_PAYMENT * 136;
    fn check(&self) -> Result<(), DecodeError> {
        let what = Self::what();
        self.payment.check()?;
        let n = self.payment.coins.len();
        if self.identities.len() != n {
            return Err(DecodeError::InvalidField {
                what,
                field: "identities",
                reason: "one per coin".into(),
            });
        }
        if self.proofs.len() != n {
            return Err(DecodeError::InvalidField { what, field: "proofs", reason: "one per coin".into() });
        }
        for i in &self.identities {
            non_identity(what, "identity", i)?;
        }
        Ok(())
    }
}
