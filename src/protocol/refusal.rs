//! A payee's signed refusal of a payment (specs/protocol.md §8.5).
//!
//! A payment that left a wallet is never made spendable again: a payee
//! could pretend to refuse it, keep it, and deposit it later, making the
//! payer look like a double spender. A payee that refuses a payment
//! therefore signs a [`PayeeRefusal`]: the id of the request it issued and
//! the digest of the payment, under the payee key the request names. The
//! payee closes the request when it signs (it never accepts a payment for
//! that request again), so the refusal is the payee's binding statement that
//! it does not hold this payment.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::pay::Payment;
use super::{Error, Result};
use crate::crypto::schnorr::{Signature, SigningKey};
use crate::crypto::transcript::labels;
use crate::wire::{MessageKind, WireMessage};

/// A payee's signed refusal of one payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayeeRefusal {
    /// The id of the payment request answered ([`super::pay::PaymentRequest::id`]).
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 32],
    /// The digest of the payment refused ([`Payment::digest`]).
    #[serde(with = "crate::encoding::hex32")]
    pub payment_digest: [u8; 32],
    /// The payee key's signature on both.
    pub signature: Signature,
}

fn refusal_message(request_id: &[u8; 32], payment_digest: &[u8; 32]) -> [u8; 64] {
    let mut m = [0u8; 64];
    m[..32].copy_from_slice(request_id);
    m[32..].copy_from_slice(payment_digest);
    m
}

impl PayeeRefusal {
    /// Signs the refusal of `payment` with the payee key `key`, which must
    /// be the key the payment's request names.
    pub fn sign(key: &SigningKey, payment: &Payment, rng: &mut impl CryptoRngCore) -> Result<Self> {
        if *key.public() != payment.request.merchant_key {
            return Err(Error::UnknownPaymentRequest);
        }
        let request_id = payment.request.id();
        let payment_digest = payment.digest();
        let signature =
            key.sign(labels::PAYEE_REFUSAL_SIGNATURE, &refusal_message(&request_id, &payment_digest), rng);
        Ok(PayeeRefusal { request_id, payment_digest, signature })
    }

    /// Checks that this refuses exactly `payment`: it names the payment's
    /// request and digest, and the signature verifies under the payee key
    /// the request names. Anyone can check it with the payment alone.
    pub fn verify(&self, payment: &Payment) -> Result<()> {
        if self.request_id != payment.request.id() {
            return Err(Error::InvalidProof("refusal names another request"));
        }
        if self.payment_digest != payment.digest() {
            return Err(Error::InvalidProof("refusal names another payment"));
        }
        self.signature
            .verify(
                labels::PAYEE_REFUSAL_SIGNATURE,
                &refusal_message(&self.request_id, &self.payment_digest),
                &payment.request.merchant_key,
            )
            .map_err(|_| Error::InvalidProof("refusal signature"))
    }
}

impl WireMessage for PayeeRefusal {
    const KIND: MessageKind = MessageKind::PayeeRefusal;
    const MAX_BYTES: usize = 256;
}
