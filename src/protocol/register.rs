//! Initialization: account registration (specs/protocol.md §7.1).
//!
//! A user registers `I = u·G` with a proof of knowledge of `u`; a merchant
//! registers `M = m·G` with a proof of knowledge of `m`. The account id is a
//! hash of the public key, so registration is idempotent and needs no
//! counter shared between bank nodes.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::crypto::schnorr::{Proof, Relation, SigningKey};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{merchant_account_id, user_account_id, AccountId, UserKey};
use crate::params::Params;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

fn key_relation(public: &Point) -> Relation {
    let mut rel = Relation::new(b"discrete-log");
    let x = rel.witness(b"x");
    let g = rel.point(b"G", Params::get().g);
    let pk = rel.point(b"public-key", *public);
    rel.equation(Some(pk), &[(x, g)]);
    rel
}

/// A user's registration: `I` and a proof of knowledge of `u`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRegistration {
    /// `I = u·G`.
    pub identity: Point,
    /// `PoK{u: I = u·G}`.
    pub proof: Proof,
}

impl UserRegistration {
    /// Builds the registration of `user`.
    pub fn new(user: &UserKey, rng: &mut impl CryptoRngCore) -> Self {
        let mut t = Params::get().transcript(labels::USER_REGISTRATION);
        let proof = key_relation(user.identity()).prove(&mut t, &[user.expose_secret()], rng);
        UserRegistration { identity: *user.identity(), proof }
    }

    /// Verifies the proof; returns the account id.
    pub fn verify(&self, rng: &mut impl CryptoRngCore) -> Result<AccountId> {
        if self.identity.is_identity() {
            return Err(Error::InvalidProof("registration"));
        }
        let mut t = Params::get().transcript(labels::USER_REGISTRATION);
        key_relation(&self.identity)
            .verify(&mut t, &self.proof, rng)
            .map_err(|_| Error::InvalidProof("registration proof"))?;
        Ok(user_account_id(&self.identity))
    }
}

impl WireMessage for UserRegistration {
    const KIND: MessageKind = MessageKind::UserRegistration;
    const MAX_BYTES: usize = 1024;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "I", &self.identity)
    }
}

/// A merchant's registration: `M` and a proof of knowledge of `m`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantRegistration {
    /// `M = m·G`.
    pub key: Point,
    /// `PoK{m: M = m·G}`.
    pub proof: Proof,
}

impl MerchantRegistration {
    /// Builds the registration of the merchant key `m`.
    pub fn new(key: &SigningKey, rng: &mut impl CryptoRngCore) -> Self {
        let mut t = Params::get().transcript(labels::MERCHANT_REGISTRATION);
        let proof = key_relation(key.public()).prove(&mut t, &[key.expose_secret()], rng);
        MerchantRegistration { key: *key.public(), proof }
    }

    /// Verifies the proof; returns the merchant's account id.
    pub fn verify(&self, rng: &mut impl CryptoRngCore) -> Result<AccountId> {
        if self.key.is_identity() {
            return Err(Error::InvalidProof("registration"));
        }
        let mut t = Params::get().transcript(labels::MERCHANT_REGISTRATION);
        key_relation(&self.key)
            .verify(&mut t, &self.proof, rng)
            .map_err(|_| Error::InvalidProof("registration proof"))?;
        Ok(merchant_account_id(&self.key))
    }
}

impl WireMessage for MerchantRegistration {
    const KIND: MessageKind = MessageKind::MerchantRegistration;
    const MAX_BYTES: usize = 1024;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "M", &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn registration_proves_knowledge_and_is_domain_separated() {
        let user = UserKey::generate(&mut OsRng);
        let reg = UserRegistration::new(&user, &mut OsRng);
        assert_eq!(reg.verify(&mut OsRng).unwrap(), user.account_id());
        // A user registration proof does not pass as a merchant registration.
        let as_merchant = MerchantRegistration { key: reg.identity, proof: reg.proof.clone() };
        assert!(as_merchant.verify(&mut OsRng).is_err());
        // Someone else's identity with this proof fails.
        let other = UserKey::generate(&mut OsRng);
        let forged = UserRegistration { identity: *other.identity(), proof: reg.proof.clone() };
        assert!(forged.verify(&mut OsRng).is_err());
        let bytes = reg.to_bytes();
        assert_eq!(UserRegistration::from_bytes(&bytes).unwrap(), reg);
    }
}
