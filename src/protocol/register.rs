//! Initialization: account registration (specs/protocol.md §7.1).
//!
//! A user registers its identity `I = u·G` and its authentication key
//! `A = a·G` with one proof of knowledge of `u` and `a`; a merchant
//! registers `M = m·G` with a proof of knowledge of `m`. The account id is a
//! hash of the first public key (`I`, `M`), so registration is idempotent
//! and needs no counter shared between bank nodes.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::crypto::schnorr::{Proof, Relation, SigningKey};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{merchant_account_id, user_account_id, AccountId, AccountKeys};
use crate::params::Params;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// The relation `"account-keys"`: witnesses `u, a`; points `G`,
/// `I` ("identity"), `A` ("auth-key"); `I = u·G`, `A = a·G`. A user's
/// registration and a re-key prove it.
pub(crate) fn account_keys_relation(identity: &Point, auth_key: &Point) -> Relation {
    let mut rel = Relation::new(b"account-keys");
    let u = rel.witness(b"u");
    let a = rel.witness(b"a");
    let g = rel.point(b"G", Params::get().g);
    let i = rel.point(b"identity", *identity);
    let k = rel.point(b"auth-key", *auth_key);
    rel.equation(Some(i), &[(u, g)]);
    rel.equation(Some(k), &[(a, g)]);
    rel
}

fn key_relation(public: &Point) -> Relation {
    let mut rel = Relation::new(b"discrete-log");
    let x = rel.witness(b"x");
    let g = rel.point(b"G", Params::get().g);
    let pk = rel.point(b"public-key", *public);
    rel.equation(Some(pk), &[(x, g)]);
    rel
}

/// A user's registration: the identity `I`, the authentication key `A`
/// and a proof of knowledge of both secrets (the proof of possession of
/// `A`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRegistration {
    /// `I = u·G`.
    pub identity: Point,
    /// `A = a·G`, the account's authentication key.
    pub auth_key: Point,
    /// `PoK{(u, a): I = u·G, A = a·G}`.
    pub proof: Proof,
}

impl UserRegistration {
    /// Builds the registration of a new account with `keys`.
    pub fn new(keys: &AccountKeys, rng: &mut impl CryptoRngCore) -> Self {
        let (user, auth) = (keys.identity(), keys.auth());
        let mut t = Params::get().transcript(labels::USER_REGISTRATION);
        let proof = account_keys_relation(user.identity(), auth.public()).prove(
            &mut t,
            &[user.expose_secret(), auth.expose_secret()],
            rng,
        );
        UserRegistration { identity: *user.identity(), auth_key: *auth.public(), proof }
    }

    /// Verifies the proof; returns the account id.
    ///
    /// Refuses `I = O`, `A = O` and `A = I` (the authentication key must
    /// not be the identity key, which a double spend reveals).
    pub fn verify(&self, rng: &mut impl CryptoRngCore) -> Result<AccountId> {
        if self.identity.is_identity() || self.auth_key.is_identity() || self.identity == self.auth_key {
            return Err(Error::InvalidProof("registration"));
        }
        let mut t = Params::get().transcript(labels::USER_REGISTRATION);
        account_keys_relation(&self.identity, &self.auth_key)
            .verify(&mut t, &self.proof, rng)
            .map_err(|_| Error::InvalidProof("registration proof"))?;
        Ok(user_account_id(&self.identity))
    }
}

impl WireMessage for UserRegistration {
    const KIND: MessageKind = MessageKind::UserRegistration;
    const MAX_BYTES: usize = 1024;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "I", &self.identity)?;
        non_identity(Self::what(), "A", &self.auth_key)
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
        let keys = AccountKeys::generate(&mut OsRng);
        let reg = UserRegistration::new(&keys, &mut OsRng);
        assert_eq!(reg.verify(&mut OsRng).unwrap(), keys.account());
        // A user registration proof does not pass as a merchant registration.
        let as_merchant = MerchantRegistration { key: reg.identity, proof: reg.proof.clone() };
        assert!(as_merchant.verify(&mut OsRng).is_err());
        // Someone else's identity, or another authentication key, with this
        // proof fails: the proof shows possession of both.
        let other = AccountKeys::generate(&mut OsRng);
        let forged = UserRegistration { identity: *other.identity().identity(), ..reg.clone() };
        assert!(forged.verify(&mut OsRng).is_err());
        let forged = UserRegistration { auth_key: *other.auth().public(), ..reg.clone() };
        assert!(forged.verify(&mut OsRng).is_err());
        // The authentication key may not be the identity key.
        let same = crate::keys::AuthKey::from(crate::crypto::secret::SecretScalar::new(
            *keys.identity().expose_secret(),
        ));
        let one_key = AccountKeys::for_new_account(keys.identity().clone(), same);
        assert!(UserRegistration::new(&one_key, &mut OsRng).verify(&mut OsRng).is_err());
        let bytes = reg.to_bytes();
        assert_eq!(UserRegistration::from_bytes(&bytes).unwrap(), reg);
    }
}
