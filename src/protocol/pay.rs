//! Off-line payment (specs/protocol.md §8).
//!
//! The merchant issues a [`PaymentRequest`] `P`; the wallet answers with a
//! [`Payment`]: the coins, one aggregated range proof that no coin has
//! expired on the payment day, and per coin the responses of its spend
//! proof. One transcript absorbs `params_id`, `P`, the spend relation's
//! shape, the number of coins and every coin whole (its keyset id
//! included); the range proof is made on it and appended; then coin `i`'s
//! challenge is drawn.
//!
//! A payment may carry coins of several keysets: each coin is verified
//! under the keyset it names, looked up in what the verifier knows
//! ([`KeysetLookup`]). The merchant verifies with public keys only:
//! [`verify_payment`].

use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::withdraw::WalletCoin;
use super::{Error, Result};
use crate::coin::{spend_relation, Coin, CoinId, SpendResponses, SpendStatement};
use crate::crypto::batch::BatchVerifier;
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::range::{self, ExpiryOpening, ExpiryProof};
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::Point;
use crate::keys::{AccountId, Keyset, KeysetId, KeysetLookup, UserKey};
use crate::params::{Params, MAX_COINS_PER_PAYMENT};
use crate::time::Day;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// The digest of an order description, for [`PaymentRequest::order_digest`].
pub fn order_digest(description: &[u8]) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::ORDER_DIGEST);
    t.append_message(b"order", description);
    t.challenge_digest(b"order-digest")
}

/// The merchant's payment request `P`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The merchant's account.
    pub merchant_id: AccountId,
    /// The merchant's public key `M`.
    pub merchant_key: Point,
    /// The amount, in base units.
    pub amount: u64,
    /// The payment day `D` (the merchant's clock).
    pub day: Day,
    /// 32 random bytes, never reused by the merchant.
    #[serde(with = "crate::encoding::hex32")]
    pub nonce: [u8; 32],
    /// A digest of the order (what is bought).
    #[serde(with = "crate::encoding::hex32")]
    pub order_digest: [u8; 32],
}

impl PaymentRequest {
    /// A request with a fresh nonce.
    pub fn new(
        merchant_id: AccountId,
        merchant_key: Point,
        amount: u64,
        day: Day,
        order_digest: [u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        PaymentRequest { merchant_id, merchant_key, amount, day, nonce, order_digest }
    }

    fn absorb(&self, t: &mut Transcript) {
        t.append_message(b"merchant-id", self.merchant_id.as_bytes());
        t.append_point(b"merchant-key", &self.merchant_key);
        t.append_u64(b"amount", self.amount);
        t.append_u64(b"day", u64::from(self.day.0));
        t.append_message(b"nonce", &self.nonce);
        t.append_message(b"order-digest", &self.order_digest);
    }

    /// The request's digest (how a merchant files it).
    pub fn id(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::PAYMENT_REQUEST_ID);
        self.absorb(&mut t);
        t.challenge_digest(b"request-id")
    }
}

impl WireMessage for PaymentRequest {
    const KIND: MessageKind = MessageKind::PaymentRequest;
    const MAX_BYTES: usize = 256;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "M", &self.merchant_key)?;
        if self.amount == 0 {
            return Err(DecodeError::InvalidField {
                what: Self::what(),
                field: "amount",
                reason: "zero".into(),
            });
        }
        Ok(())
    }
}

/// A payment: coins, range proof and spend responses, answering one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The request answered.
    pub request: PaymentRequest,
    /// The coins (1 to 64, no coin twice), each naming its keyset.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Coin, MAX_COINS_PER_PAYMENT>"
    )]
    pub coins: Vec<Coin>,
    /// The aggregated proof that `0 <= t_i - D < 2^16` for every coin.
    pub range_proof: ExpiryProof,
    /// One set of spend responses per coin, in coin order.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, SpendResponses, MAX_COINS_PER_PAYMENT>"
    )]
    pub responses: Vec<SpendResponses>,
}

impl WireMessage for Payment {
    const KIND: MessageKind = MessageKind::Payment;
    const MAX_BYTES: usize = 80 * 1024;
    fn check(&self) -> Result<(), DecodeError> {
        let what = Self::what();
        self.request.check()?;
        if self.coins.is_empty() {
            return Err(DecodeError::InvalidField { what, field: "coins", reason: "empty".into() });
        }
        if self.responses.len() != self.coins.len() {
            return Err(DecodeError::InvalidField {
                what,
                field: "responses",
                reason: "one set per coin".into(),
            });
        }
        if self.range_proof.as_bytes().len() != range::proof_len(self.coins.len()) {
            return Err(DecodeError::InvalidField {
                what,
                field: "range_proof",
                reason: "wrong length for the number of coins".into(),
            });
        }
        for c in &self.coins {
            if let Some(field) = c.identity_violation() {
                return Err(DecodeError::IdentityPoint { what, field });
            }
        }
        Ok(())
    }
}

impl Payment {
    /// The digest of the whole payment (its canonical encoding): the name of
    /// the stored transcript.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::PAYMENT_DIGEST);
        t.append_message(b"payment", &self.to_bytes());
        t.challenge_digest(b"payment-digest")
    }

    /// Total value of the coins, each under its keyset in `keysets`
    /// (`None` on an unknown keyset or key, or on overflow).
    pub fn total_value<K: KeysetLookup + ?Sized>(&self, keysets: &K) -> Option<u64> {
        self.coins.iter().try_fold(0u64, |acc, c| {
            acc.checked_add(keysets.find_keyset(&c.body.keyset_id)?.key(&c.body.key_id)?.value)
        })
    }

    /// The keysets the coins name, each once, in the order of the first
    /// coin that names it.
    pub fn keyset_ids(&self) -> Vec<KeysetId> {
        let mut ids: Vec<KeysetId> = Vec::new();
        for c in &self.coins {
            if !ids.contains(&c.body.keyset_id) {
                ids.push(c.body.keyset_id);
            }
        }
        ids
    }
}

/// Why a payment was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// No coins or more than 64.
    #[error("a payment holds 1 to 64 coins")]
    CoinCount,
    /// Responses do not match the coins one to one.
    #[error("one set of responses per coin")]
    ResponseCount,
    /// The same coin twice.
    #[error("coin {0} appears twice")]
    DuplicateCoin(usize),
    /// The coins do not add up to the amount.
    #[error("coins are worth {sum}, the request asks {amount}")]
    AmountMismatch {
        /// The coins' total.
        sum: u64,
        /// The requested amount.
        amount: u64,
    },
    /// The coins' values add up to more than a `u64` holds.
    #[error("the coins' values overflow 64 bits")]
    AmountOverflow,
    /// A coin under a keyset the verifier does not know.
    #[error("coin {0} is under an unknown keyset")]
    UnknownKeyset(usize),
    /// A coin for other parameters.
    #[error("coin {0} is for other parameters")]
    WrongParams(usize),
    /// A coin under a key the keyset does not have.
    #[error("coin {0} is under an unknown key")]
    UnknownKey(usize),
    /// A coin whose key is not valid on the payment day.
    #[error("coin {index}: its key is not spendable on day {day}")]
    KeyNotValidOnDay {
        /// The coin.
        index: usize,
        /// The payment day.
        day: Day,
    },
    /// An identity element where the protocol forbids it.
    #[error("coin {index}: identity element in {field}")]
    IdentityElement {
        /// The coin.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// The merchant key is the identity.
    #[error("merchant key is the identity")]
    MerchantKey,
    /// The expiry range proof does not verify on the payment's transcript.
    ///
    /// The message names the check that failed, not a cause: the proof is
    /// made on a transcript that absorbs the request and every coin whole
    /// (specs/protocol.md §8.2), so an expired coin, a changed coin field,
    /// another request or a damaged proof all fail it alike, and the range
    /// proof is checked before the signatures (§8.4 step 5).
    #[error("expiry range proof does not verify")]
    RangeProof,
    /// An ACL signature or spend proof does not verify.
    #[error("coin signature or spend proof does not verify")]
    Proofs,
}

/// What a verified payment contains, in coin order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSummary {
    /// The coins' ids.
    pub coin_ids: Vec<CoinId>,
    /// Each coin's spend challenge `c_i`.
    pub challenges: Vec<Scalar>,
    /// Each coin's value.
    pub values: Vec<u64>,
}

fn spend_statement<'a>(coin: &'a Coin, z: &'a Point, ttp: &'a Point) -> SpendStatement<'a> {
    SpendStatement {
        z,
        zeta: &coin.signature.zeta,
        zeta1: &coin.signature.zeta1,
        serial: &coin.body.serial,
        escrow: &coin.body.escrow,
        expiry_commitment: &coin.body.expiry_commitment,
        ttp_key: ttp,
    }
}

fn payment_transcript(request: &PaymentRequest, coins: &[&Coin]) -> Transcript {
    let mut t = Params::get().transcript(labels::PAYMENT);
    request.absorb(&mut t);
    // The spend relation's shape (its points are bound through the coins,
    // each naming its keyset, and params_id).
    let o = Point::identity();
    let ct = Ciphertext { c1: o, c2: o };
    spend_relation(&SpendStatement {
        z: &o,
        zeta: &o,
        zeta1: &o,
        serial: &o,
        escrow: &ct,
        expiry_commitment: &o,
        ttp_key: &o,
    })
    .absorb_shape(&mut t);
    t.append_u64(b"coins", coins.len() as u64);
    for c in coins {
        c.absorb(&mut t);
    }
    t
}

fn spend_challenges(t: &mut Transcript, proof: &ExpiryProof, n: usize) -> Vec<Scalar> {
    t.append_message(b"range-proof", proof.as_bytes());
    (0..n)
        .map(|i| {
            t.append_u64(b"coin-index", i as u64);
            t.challenge_scalar(b"spend-challenge")
        })
        .collect()
}

/// What the structural checks find per coin, in coin order.
struct Structure<'k> {
    ids: Vec<CoinId>,
    values: Vec<u64>,
    /// Each coin's keyset.
    keysets: Vec<&'k Keyset>,
}

/// Structural checks shared by payer and verifier; each coin is looked up
/// under the keyset it names.
fn check_structure<'k, K: KeysetLookup + ?Sized>(
    request: &PaymentRequest,
    coins: &[&Coin],
    keysets: &'k K,
) -> Result<Structure<'k>, PaymentError> {
    if coins.is_empty() || coins.len() > MAX_COINS_PER_PAYMENT {
        return Err(PaymentError::CoinCount);
    }
    if request.merchant_key.is_identity() {
        return Err(PaymentError::MerchantKey);
    }
    let params_id = Params::get().id;
    let mut ids = Vec::with_capacity(coins.len());
    let mut values = Vec::with_capacity(coins.len());
    let mut coin_keysets = Vec::with_capacity(coins.len());
    let mut sum = 0u64;
    for (index, coin) in coins.iter().enumerate() {
        if coin.body.params_id != params_id {
            return Err(PaymentError::WrongParams(index));
        }
        let keyset = keysets.find_keyset(&coin.body.keyset_id).ok_or(PaymentError::UnknownKeyset(index))?;
        let key = keyset.key(&coin.body.key_id).ok_or(PaymentError::UnknownKey(index))?;
        if !key.spendable_on(request.day) {
            return Err(PaymentError::KeyNotValidOnDay { index, day: request.day });
        }
        if let Some(field) = coin.identity_violation() {
            return Err(PaymentError::IdentityElement { index, field });
        }
        let id = coin.id();
        if ids.contains(&id) {
            return Err(PaymentError::DuplicateCoin(index));
        }
        ids.push(id);
        values.push(key.value);
        coin_keysets.push(keyset);
        sum = sum.checked_add(key.value).ok_or(PaymentError::AmountOverflow)?;
    }
    if sum != request.amount {
        return Err(PaymentError::AmountMismatch { sum, amount: request.amount });
    }
    Ok(Structure { ids, values, keysets: coin_keysets })
}

/// Builds a payment of `coins` answering `request`, each coin under the
/// keyset it names in `keysets` (coins of several keysets may be mixed).
///
/// This is the pure protocol step: it does not mark the coins spent. The
/// [`crate::roles::Wallet`] marks them spent durably *before* calling it.
pub fn create_payment<K: KeysetLookup + ?Sized>(
    request: &PaymentRequest,
    keysets: &K,
    user: &UserKey,
    coins: &[&WalletCoin],
    rng: &mut impl CryptoRngCore,
) -> Result<Payment> {
    create_payment_with_keys(request, keysets, &[user], coins, rng)
}

/// As [`create_payment`], for coins withdrawn under any of `users` (an
/// account re-keyed to a new identity still spends the coins it withdrew
/// under its old one): each coin is answered with the key whose identity
/// its escrow holds (`E2 - k·Y_T`).
pub fn create_payment_with_keys<K: KeysetLookup + ?Sized>(
    request: &PaymentRequest,
    keysets: &K,
    users: &[&UserKey],
    coins: &[&WalletCoin],
    rng: &mut impl CryptoRngCore,
) -> Result<Payment> {
    let coin_refs: Vec<&Coin> = coins.iter().map(|c| &c.coin).collect();
    let structure = check_structure(request, &coin_refs, keysets)?;
    let mut t = payment_transcript(request, &coin_refs);
    let openings: Vec<ExpiryOpening> = coins
        .iter()
        .map(|c| ExpiryOpening {
            expiry: c.secrets.expiry(),
            blinding: &c.secrets.r_t,
            commitment: &c.coin.body.expiry_commitment,
        })
        .collect();
    let proof = range::prove(&mut t, request.day, &openings, rng)?;
    let challenges = spend_challenges(&mut t, &proof, coins.len());
    let responses = coins
        .iter()
        .zip(&challenges)
        .zip(&structure.keysets)
        .map(|((wc, c), keyset)| {
            let key = keyset.key(&wc.coin.body.key_id).ok_or(Error::UnknownKey(wc.coin.body.key_id))?;
            let rel = spend_relation(&spend_statement(&wc.coin, &key.z, keyset.ttp_key()));
            // The key the coin was withdrawn under: the one key there is
            // (the relation's check below refuses another), or the one that
            // its escrow names (`I = c2 - k·Y_T`).
            let user = match users {
                [one] => *one,
                _ => {
                    let escrowed = wc.coin.body.escrow.c2.point() - keyset.ttp_key().point() * wc.secrets.k;
                    *users
                        .iter()
                        .find(|u| *u.identity().point() == escrowed)
                        .ok_or(Error::InvalidProof("spend witness"))?
                }
            };
            let w = wc.secrets.witnesses(user.expose_secret());
            let w_refs: Vec<&Scalar> = w.iter().collect();
            if !rel.holds(&w_refs) {
                // The coin was withdrawn by another user key (or corrupted).
                return Err(Error::InvalidProof("spend witness"));
            }
            let z = rel.responses(&wc.secrets.nonces, &w_refs, c);
            let arr: [Scalar; 8] = z.try_into().map_err(|_| Error::InvalidProof("spend relation"))?;
            Ok(SpendResponses::from_array(arr))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Payment {
        request: *request,
        coins: coins.iter().map(|c| c.coin).collect(),
        range_proof: proof,
        responses,
    })
}

/// The checks of a payment that need no group operation: one response set
/// per coin, the structural rules (§8.4 step 3), the range proof's length
/// and every coin's ACL hash equation. A deposit runs them on every payment before any multiscalar
/// multiplication, so a payment that fails them costs only hashing
/// (specs/protocol.md §9.2). [`queue_payment`] runs them again.
pub fn precheck_payment<K: KeysetLookup + ?Sized>(
    payment: &Payment,
    keysets: &K,
) -> Result<(), PaymentError> {
    if payment.responses.len() != payment.coins.len() {
        return Err(PaymentError::ResponseCount);
    }
    let coin_refs: Vec<&Coin> = payment.coins.iter().collect();
    let s = check_structure(&payment.request, &coin_refs, keysets)?;
    if payment.range_proof.as_bytes().len() != range::proof_len(coin_refs.len()) {
        return Err(PaymentError::RangeProof);
    }
    for (index, ((coin, id), keyset)) in payment.coins.iter().zip(&s.ids).zip(&s.keysets).enumerate() {
        let key = keyset.key(&coin.body.key_id).ok_or(PaymentError::UnknownKey(index))?;
        coin.signature.check_hash(&key.acl(), id.as_bytes()).map_err(|_| PaymentError::Proofs)?;
    }
    Ok(())
}

/// Checks a payment's structure now, replays its transcript, and queues
/// every group equation of the payment into `batch`: the range proof's two
/// equations (§8.3) and, per coin, the four ACL equations and the six spend
/// equations, each under the coin's own keyset (so one batch, and one
/// multiscalar multiplication, holds coins of any number of keysets). The
/// caller runs `batch.verify()`; [`verify_payment`] does both and names
/// what failed.
///
/// # Errors
/// A structural error, a range proof of the wrong size or with an identity
/// point ([`PaymentError::RangeProof`]), a malformed ACL signature or a
/// failed ACL hash check ([`PaymentError::Proofs`]). After an error the batch
/// may hold part of the payment's equations: discard it (or let it fail).
pub fn queue_payment<K: KeysetLookup + ?Sized>(
    payment: &Payment,
    keysets: &K,
    batch: &mut BatchVerifier,
) -> Result<PaymentSummary, PaymentError> {
    if payment.responses.len() != payment.coins.len() {
        return Err(PaymentError::ResponseCount);
    }
    let coin_refs: Vec<&Coin> = payment.coins.iter().collect();
    let Structure { ids: coin_ids, values, keysets: coin_keysets } =
        check_structure(&payment.request, &coin_refs, keysets)?;
    if payment.range_proof.as_bytes().len() != range::proof_len(coin_refs.len()) {
        return Err(PaymentError::RangeProof);
    }
    let mut t = payment_transcript(&payment.request, &coin_refs);
    let commitments: Vec<&Point> = coin_refs.iter().map(|c| &c.body.expiry_commitment).collect();
    range::queue(&mut t, &payment.range_proof, payment.request.day, &commitments, batch)
        .map_err(|_| PaymentError::RangeProof)?;
    let challenges = spend_challenges(&mut t, &payment.range_proof, coin_refs.len());
    for (index, (((coin, (id, resp)), c), keyset)) in coin_refs
        .iter()
        .zip(coin_ids.iter().zip(&payment.responses))
        .zip(&challenges)
        .zip(&coin_keysets)
        .enumerate()
    {
        let key = keyset.key(&coin.body.key_id).ok_or(PaymentError::UnknownKey(index))?;
        coin.signature.queue(&key.acl(), id.as_bytes(), batch).map_err(|_| PaymentError::Proofs)?;
        let rel = spend_relation(&spend_statement(coin, &key.z, keyset.ttp_key()));
        rel.queue_with_challenge(batch, &coin.body.spend_commitments, c, &resp.to_array())
            .map_err(|_| PaymentError::Proofs)?;
    }
    Ok(PaymentSummary { coin_ids, challenges, values })
}

/// Names why a payment whose equations were refused (by [`queue_payment`]
/// or by the batch) is invalid, in the order of the checks before range
/// proofs joined the batch: [`PaymentError::RangeProof`] if its range
/// proof, verified alone on its own transcript, does not hold, else
/// [`PaymentError::Proofs`]. A payment whose coins were altered fails both
/// its range proof (the payment transcript absorbs every coin) and its ACL
/// hash check; the range proof is named.
pub(crate) fn name_proof_failure(payment: &Payment, rng: &mut impl CryptoRngCore) -> PaymentError {
    let coin_refs: Vec<&Coin> = payment.coins.iter().collect();
    let mut t = payment_transcript(&payment.request, &coin_refs);
    let commitments: Vec<&Point> = coin_refs.iter().map(|c| &c.body.expiry_commitment).collect();
    match range::verify(&mut t, &payment.range_proof, payment.request.day, &commitments, rng) {
        Ok(()) => PaymentError::Proofs,
        Err(_) => PaymentError::RangeProof,
    }
}

/// Verifies a payment completely with public keys only, each coin under the
/// keyset it names in `keysets`: structure, keys spendable on the payment
/// day, amount, the range proof, every ACL signature and spend proof, all
/// group equations in one multiscalar multiplication.
///
/// If an ACL hash check fails while queueing, or that multiplication
/// fails, the range proof is checked alone to name the failure
/// ([`PaymentError::RangeProof`] if it does not hold, else
/// [`PaymentError::Proofs`]).
pub fn verify_payment<K: KeysetLookup + ?Sized>(
    payment: &Payment,
    keysets: &K,
    rng: &mut impl CryptoRngCore,
) -> Result<PaymentSummary, PaymentError> {
    let mut batch = BatchVerifier::with_capacity(rng, 16 * payment.coins.len() + 48);
    match queue_payment(payment, keysets, &mut batch) {
        Ok(summary) => {
            if batch.verify().is_ok() {
                return Ok(summary);
            }
        }
        Err(PaymentError::Proofs) => {}
        Err(other) => return Err(other),
    }
    Err(name_proof_failure(payment, rng))
}

/// Chooses coins worth exactly `amount` (at most 64), largest first.
///
/// With powers-of-two denominations, taking the largest coin not above what
/// remains finds an exact subset whenever one exists (specs/protocol.md §8.1).
pub fn select_coins(values: &[(usize, u64)], amount: u64) -> Option<Vec<usize>> {
    let mut sorted: Vec<(usize, u64)> = values.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut remaining = amount;
    let mut chosen = Vec::new();
    for (i, v) in sorted {
        if remaining == 0 {
            break;
        }
        if v <= remaining {
            chosen.push(i);
            remaining -= v;
        }
    }
    (remaining == 0 && !chosen.is_empty() && chosen.len() <= MAX_COINS_PER_PAYMENT).then_some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_selection_finds_exact_subsets() {
        let coins = [(0, 8), (1, 4), (2, 4), (3, 2), (4, 1)];
        let pick = select_coins(&coins, 11).unwrap();
        let sum: u64 = pick.iter().map(|i| coins[*i].1).sum();
        assert_eq!(sum, 11);
        assert_eq!(select_coins(&coins, 20), None);
        assert_eq!(select_coins(&[(0, 4)], 2), None);
        let sub = select_coins(&[(0, 4), (1, 2), (2, 1), (3, 1)], 4).unwrap();
        assert_eq!(sub, vec![0]);
        // 2+1+1 when the 4 is missing
        let sub = select_coins(&[(1, 2), (2, 1), (3, 1)], 4).unwrap();
        assert_eq!(sub.len(), 3);
    }

    #[test]
    fn greedy_selection_is_exact_whenever_a_subset_exists() {
        // Exhaustive over small multisets of powers of two.
        let denoms = [1u64, 2, 4, 8];
        for mask in 0u32..(1 << 9) {
            let coins: Vec<(usize, u64)> = (0..9)
                .filter(|b| mask & (1 << b) != 0)
                .map(|b| (b as usize, denoms[(b % 4) as usize]))
                .collect();
            for amount in 1..=20u64 {
                let exists = (0u32..(1 << coins.len())).any(|m| {
                    coins.iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, c)| c.1).sum::<u64>()
                        == amount
                });
                assert_eq!(select_coins(&coins, amount).is_some(), exists, "{coins:?} {amount}");
            }
        }
    }

    // -----------------------------------------------------------------
    // Expiry forgery: a payer holding every secret of an expired coin
    // builds the payment by hand, with a range proof for a value of its
    // choosing, on the real payment transcript.
    // -----------------------------------------------------------------

    mod expiry_forgery {
        use std::sync::Arc;

        use bulletproofs::RangeProof;
        use rand::rngs::OsRng;

        use super::*;
        use crate::crypto::schnorr::{RngAdapter, SigningKey};
        use crate::keys::{BankSecrets, KeysetPolicy, KeysetSpec};
        use crate::params::RANGE_BITS;
        use crate::protocol::deposit::{DepositRequest, PaymentOutcome, PaymentRefusal};
        use crate::roles::{Bank, BankConfig, DepositLimits, Merchant, Wallet};
        use crate::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
        use crate::time::{Clock, ManualClock};

        const START: Day = Day(20_781);

        struct World {
            clock: ManualClock,
            bank: Bank<MemoryBankStore>,
            wallet: Wallet<MemoryWalletStore>,
            shop: Merchant<MemoryMerchantStore>,
            shop_key: SigningKey,
        }

        fn world() -> World {
            let clock = ManualClock::at_day(START);
            let ttp_keys = crate::roles::TtpKeys::generate(&mut OsRng);
            let ttp = ttp_keys.decryption.clone();
            let statement = ttp_keys
                .statement(
                    0,
                    crate::protocol::trust::TtpValidity::starting(START, 365, 730),
                    crate::time::Timestamp(0),
                    &mut OsRng,
                )
                .unwrap();
            let bank = Bank::open(
                MemoryBankStore::new(),
                BankSecrets::generate(&mut OsRng),
                Arc::new(clock.clone()),
                // The test deposits one forgery after another.
                BankConfig {
                    deposit_limits: DepositLimits { throttle_secs: 0, ..DepositLimits::default() },
                    ..BankConfig::default()
                },
            )
            .unwrap();
            bank.issue_keyset(
                *ttp.public(),
                &KeysetSpec {
                    exponents: 0..=2,
                    withdraw_from: START,
                    withdraw_days: 30,
                    policy: KeysetPolicy { validity_days: 30, max_deposit_delay_days: 7 },
                },
                &mut OsRng,
            )
            .unwrap();
            let mut wallet = Wallet::new(
                crate::keys::AccountKeys::generate(&mut OsRng),
                bank.master_key(),
                MemoryWalletStore::new(),
                Arc::new(clock.clone()),
            );
            wallet.pin_keysets(&bank.published_keysets()).unwrap();
            wallet.anchors_mut().trust_ttp(&statement).unwrap();
            let id = bank.register_user(&wallet.registration(&mut OsRng), &mut OsRng).unwrap();
            bank.fund(&id, 10).unwrap();
            let shop_key = SigningKey::generate(&mut OsRng);
            let mut shop = Merchant::new(
                shop_key.clone(),
                bank.master_key(),
                MemoryMerchantStore::new(),
                Arc::new(clock.clone()),
            );
            shop.pin_keysets(&bank.published_keysets()).unwrap();
            shop.anchors_mut().trust_ttp(&statement).unwrap();
            bank.register_merchant(&shop.registration(&mut OsRng), &mut OsRng).unwrap();
            World { clock, bank, wallet, shop, shop_key }
        }

        /// The payment `create_payment` would build, except that the range
        /// proof is made for `value` on `bits` bits instead of `t - D`.
        /// Also returns the commitment the proof is for.
        fn forge(
            request: &PaymentRequest,
            keyset: &Keyset,
            user: &UserKey,
            coin: &WalletCoin,
            value: u64,
            bits: usize,
        ) -> (Payment, curve25519_dalek::ristretto::CompressedRistretto) {
            let p = Params::get();
            let mut commitment = None;
            let payment = forge_with(request, keyset, user, coin, |t| {
                // The verifier's generators hold 16 bits per party; a wider
                // proof needs wider generators (bulletproofs derives them the
                // same way, so the first 16 agree).
                let wide;
                let gens = if bits > RANGE_BITS {
                    wide = bulletproofs::BulletproofGens::new(bits, 1);
                    &wide
                } else {
                    &p.bulletproofs
                };
                let (proof, commitments) = RangeProof::prove_multiple_with_rng(
                    gens,
                    &p.pedersen,
                    t,
                    &[value],
                    &[coin.secrets.r_t],
                    bits,
                    &mut RngAdapter(&mut OsRng),
                )
                .unwrap();
                commitment = Some(commitments[0]);
                proof.to_bytes()
            });
            (payment, commitment.unwrap())
        }

        /// The payment `create_payment` would build, with the range proof
        /// that `prove` makes on the payment transcript.
        fn forge_with(
            request: &PaymentRequest,
            keyset: &Keyset,
            user: &UserKey,
            coin: &WalletCoin,
            prove: impl FnOnce(&mut Transcript) -> Vec<u8>,
        ) -> Payment {
            let coins = [&coin.coin];
            let mut t = payment_transcript(request, &coins);
            let proof = ExpiryProof::from_bytes(&prove(&mut t)).unwrap();
            let challenges = spend_challenges(&mut t, &proof, 1);
            let key = keyset.key(&coin.coin.body.key_id).unwrap();
            let rel = spend_relation(&spend_statement(&coin.coin, &key.z, keyset.ttp_key()));
            let w = coin.secrets.witnesses(user.expose_secret());
            let w_refs: Vec<&Scalar> = w.iter().collect();
            assert!(rel.holds(&w_refs));
            let z: [Scalar; 8] =
                rel.responses(&coin.secrets.nonces, &w_refs, &challenges[0]).try_into().unwrap();
            Payment {
                request: *request,
                coins: vec![coin.coin],
                range_proof: proof,
                responses: vec![SpendResponses::from_array(z)],
            }
        }

        /// `V - D·B`, the commitment the verifier checks the proof against.
        fn shifted_commitment(
            coin: &WalletCoin,
            day: Day,
        ) -> curve25519_dalek::ristretto::CompressedRistretto {
            let p = Params::get();
            (coin.coin.body.expiry_commitment.point() - p.g.point() * Scalar::from(u64::from(day.0)))
                .compress()
        }

        /// §8.2: the transcript absorbs each coin's keyset id (there is no
        /// payment-level one): the same coins with one coin's keyset id
        /// swapped, every other byte equal, draw other challenges.
        #[test]
        fn the_payment_transcript_binds_each_coins_keyset() {
            let w = world();
            w.wallet.withdraw_one(&w.bank, 1, &mut OsRng).unwrap();
            w.wallet.withdraw_one(&w.bank, 2, &mut OsRng).unwrap();
            let coins: Vec<Coin> = w.wallet.coins().unwrap().iter().map(|c| c.coin.coin).collect();
            let req = w.shop.request_payment(3, [5; 32], &mut OsRng).unwrap();
            let challenge = |coins: &[Coin]| {
                let refs: Vec<&Coin> = coins.iter().collect();
                payment_transcript(&req, &refs).challenge_scalar(b"test")
            };
            let honest = challenge(&coins);
            assert_eq!(honest, challenge(&coins));
            for i in 0..coins.len() {
                let mut swapped = coins.clone();
                swapped[i].body.keyset_id = KeysetId([0xee; 32]);
                assert_ne!(challenge(&swapped), honest, "coin {i}");
            }
        }

        #[test]
        fn one_false_range_proof_fails_the_batch_of_a_whole_deposit() {
            let w = world();
            // Coin A expires on START + 30; four coins withdrawn 29 days
            // later expire on START + 59. Paid on START + 31, A is expired
            // by one day.
            w.wallet.withdraw_one(&w.bank, 1, &mut OsRng).unwrap();
            let expired = w.wallet.coins().unwrap().remove(0).coin;
            w.clock.advance_days(29);
            for _ in 0..4 {
                w.wallet.withdraw_one(&w.bank, 1, &mut OsRng).unwrap();
            }
            w.clock.advance_days(2);
            let day = w.clock.today();
            assert_eq!(expired.secrets.expiry(), Day(day.0 - 1));
            let keyset = w.bank.current_keyset().unwrap();
            let mut payments = Vec::new();
            for i in 0..4u8 {
                let req = w.shop.request_payment(1, [i; 32], &mut OsRng).unwrap();
                payments.push(w.wallet.pay(&req, &mut OsRng).unwrap());
            }
            assert!(payments.iter().all(|p| p.coins[0] != expired.coin));
            // A's payment, with a range proof made by the protocol's prover
            // for the true value t - D = -1 on A's true shifted commitment:
            // the payment transcript is the verifier's, so the spend proof,
            // the ACL signature and the inner-product equation all hold;
            // only the range proof's polynomial equation does not.
            let req = w.shop.request_payment(1, [9; 32], &mut OsRng).unwrap();
            let false_proof = forge_with(&req, &keyset, w.wallet.user(), &expired, |t| {
                range::spec_prover::prove(t, &[-Scalar::ONE], &[expired.secrets.r_t], &mut OsRng)
            });
            payments.insert(2, false_proof.clone());

            // All five queue (structure, transcript replay, identity checks
            // pass); the one multiscalar multiplication fails, and holds
            // without the false payment.
            let batch_of = |ps: &[Payment]| {
                let mut batch = BatchVerifier::new(&mut OsRng);
                for p in ps {
                    queue_payment(p, &keyset, &mut batch).unwrap();
                }
                batch.verify()
            };
            assert!(batch_of(&payments).is_err());
            let honest: Vec<Payment> =
                payments.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, p)| p.clone()).collect();
            assert!(batch_of(&honest).is_ok());

            assert_eq!(
                verify_payment(&false_proof, &keyset, &mut OsRng).unwrap_err(),
                PaymentError::RangeProof
            );
            match w.shop.accept(&false_proof, &mut OsRng) {
                Err(Error::Payment(PaymentError::RangeProof)) => {}
                other => panic!("merchant: {other:?}"),
            }
            // The bank refuses the false payment alone (found by bisection)
            // and credits the four others.
            let dep = DepositRequest::new(&w.shop_key, w.shop.id(), payments, &mut OsRng);
            let receipt = w.bank.deposit(&dep, &mut OsRng).unwrap();
            let verified = PaymentOutcome::Verified;
            let refused = PaymentOutcome::Refused(PaymentRefusal::RangeProof);
            assert_eq!(receipt.payments, [verified, verified, refused, verified, verified]);
            assert_eq!(receipt.credited, 4);
            assert_eq!(w.bank.account(&w.shop.id()).unwrap().balance, 4);
        }

        #[test]
        fn a_range_proof_for_the_wrapped_expiry_difference_is_refused() {
            let w = world();
            w.wallet.withdraw_one(&w.bank, 1, &mut OsRng).unwrap();
            let coin = w.wallet.coins().unwrap().remove(0).coin;
            let t = coin.secrets.expiry();
            assert_eq!(t, START.plus(30));
            let keyset = w.bank.current_keyset().unwrap();
            let user = w.wallet.user().clone();

            // Control: on the expiry day itself, the hand-built payment with
            // the honest value t - D = 0 verifies, so the construction below
            // differs from an honest one only in the value proved.
            w.clock.advance_days(30);
            let req = w.shop.request_payment(1, [0; 32], &mut OsRng).unwrap();
            let (honest, c) = forge(&req, &keyset, &user, &coin, 0, RANGE_BITS);
            assert_eq!(c, shifted_commitment(&coin, req.day));
            verify_payment(&honest, &keyset, &mut OsRng).unwrap();

            // One day after expiry. The honest paths refuse.
            w.clock.advance_days(1);
            let day = w.clock.today();
            assert_eq!(day, t.plus(1));
            assert!(keyset.key(&coin.coin.body.key_id).unwrap().spendable_on(day));
            let req = w.shop.request_payment(1, [1; 32], &mut OsRng).unwrap();
            match w.wallet.pay(&req, &mut OsRng) {
                Err(Error::CoinsExpired { expired: 1, available: 0, .. } | Error::NoExactChange { .. }) => {}
                other => panic!("the wallet paid with an expired coin: {other:?}"),
            }
            assert!(matches!(
                create_payment(&req, &keyset, &user, &[&coin], &mut OsRng),
                Err(Error::Range(range::RangeProofError::OutOfRange { .. }))
            ));

            // The forgeries: t - D computed in u64 (wrapping to 2^64 - 1),
            // the same truncated to the proof's 16 bits, "expires today",
            // and the wrapped value on 64 bits (a proof of another size).
            let wrapped = u64::from(t.0).wrapping_sub(u64::from(day.0));
            assert_eq!(wrapped, u64::MAX);
            let attempts =
                [(wrapped, RANGE_BITS), (wrapped & 0xffff, RANGE_BITS), (0, RANGE_BITS), (wrapped, 64)];
            for (value, bits) in attempts {
                let what = format!("value {value:#x} on {bits} bits");
                let (forged, c) = forge(&req, &keyset, &user, &coin, value, bits);
                // The proof is about another commitment than V - D·B: the
                // payer cannot open V - D·B to any value but t - D = -1.
                assert_ne!(c, shifted_commitment(&coin, day), "{what}");
                assert_eq!(
                    verify_payment(&forged, &keyset, &mut OsRng).unwrap_err(),
                    PaymentError::RangeProof,
                    "{what}"
                );
                // The merchant (which issued this very request) refuses.
                match w.shop.accept(&forged, &mut OsRng) {
                    Err(Error::Payment(PaymentError::RangeProof)) => {}
                    other => panic!("{what}: merchant: {other:?}"),
                }
                // So does the bank, on a deposit the merchant signed.
                let dep = DepositRequest::new(&w.shop_key, w.shop.id(), vec![forged.clone()], &mut OsRng);
                match w.bank.deposit(&dep, &mut OsRng) {
                    Ok(r) if r.payments == [PaymentOutcome::Refused(PaymentRefusal::RangeProof)] => {}
                    other => panic!("{what}: bank: {other:?}"),
                }
                // The 64-bit proof is not even a well-formed payment.
                if bits == 64 {
                    assert_eq!(Payment::from_bytes(&forged.to_bytes()).unwrap_err().kind(), "invalid-field");
                }
            }
            assert_eq!(w.bank.account(&w.shop.id()).unwrap().balance, 0);
        }
    }
}
