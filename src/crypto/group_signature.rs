//! Signatures of the TTP as a group: RFC 9591 Schnorr signatures in the
//! FROST(ristretto255, SHA-512) ciphersuite (specs/tracing.md §1.3).
//!
//! Key statements, trace results and the TTP's log heads are signed with
//! the TTP's *group signing key*. A single TTP signs alone
//! ([`GroupSigningKey::sign`], frost's single-party `SigningKey::sign`); a
//! group of trustees produces the same signature with FROST rounds. Either
//! way verifiers have one path: [`GroupSignature::verify`], which is
//! `frost_ristretto255::VerifyingKey::verify`.
//!
//! Every signed message is domain-separated: a unique label of
//! [`crate::crypto::transcript::labels`] and a 32-byte merlin digest of what
//! is signed ([`signed_message`]). This key signs nothing else (no faircash
//! Schnorr signature, §3.4 of the protocol, is ever made with it).

use curve25519_dalek::scalar::Scalar;
use frost_ristretto255 as frost;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::secret::SecretScalar;
use super::VerifyError;
use crate::encoding::Point;
use crate::params::Params;

/// The message an RFC 9591 signature covers for the domain `label` and the
/// digest `digest`: `u64le(len(label)) || label || digest`.
pub fn signed_message(label: &'static [u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + label.len() + 32);
    m.extend_from_slice(&(label.len() as u64).to_le_bytes());
    m.extend_from_slice(label);
    m.extend_from_slice(digest);
    m
}

/// The TTP's group signing key, held by one party (a single TTP).
///
/// Zeroized on drop; `Debug` shows the public key only. Serializes as the
/// secret scalar alone; the public key is recomputed on load.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SecretScalar", into = "SecretScalar")]
pub struct GroupSigningKey {
    secret: SecretScalar,
    public: Point,
}

impl GroupSigningKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_secret(SecretScalar::random_nonzero(rng)).expect("a nonzero scalar is a key")
    }

    /// The key with secret `x` (`None` for zero).
    pub fn from_secret(secret: SecretScalar) -> Option<Self> {
        if *secret.expose_secret() == Scalar::ZERO {
            return None;
        }
        let public = Point::new(Params::get().g.point() * secret.expose_secret());
        Some(GroupSigningKey { secret, public })
    }

    /// The group's verifying key.
    pub fn public(&self) -> &Point {
        &self.public
    }

    /// Signs the domain-separated message of `label` and `digest`
    /// ([`signed_message`]) with RFC 9591's single-party Schnorr signing.
    pub fn sign(
        &self,
        label: &'static [u8],
        digest: &[u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> GroupSignature {
        // frost's SigningKey wipes its copy of the scalar when dropped.
        let key = frost::SigningKey::from_scalar(*self.secret.expose_secret())
            .expect("the secret is nonzero by construction");
        let sig = key.sign(&mut *rng, &signed_message(label, digest));
        GroupSignature::from_frost(&sig)
    }
}

impl TryFrom<SecretScalar> for GroupSigningKey {
    type Error = &'static str;
    fn try_from(s: SecretScalar) -> Result<Self, Self::Error> {
        GroupSigningKey::from_secret(s).ok_or("a group signing key is nonzero")
    }
}

impl From<GroupSigningKey> for SecretScalar {
    fn from(k: GroupSigningKey) -> Self {
        k.secret.clone()
    }
}

impl std::fmt::Debug for GroupSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSigningKey")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An RFC 9591 Schnorr signature `(R, z)`: `z·G = R + c·Y` with
/// `c = H2(R || Y || m)` of the ristretto255-SHA512 ciphersuite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSignature {
    /// The commitment `R` (never `O`).
    pub r: Point,
    /// The response `z`.
    #[serde(with = "crate::encoding::scalar")]
    pub z: Scalar,
}

impl GroupSignature {
    /// `(O, 0)`: never valid; fills the field while its digest is computed.
    pub(crate) fn placeholder() -> Self {
        GroupSignature { r: Point::identity(), z: Scalar::ZERO }
    }

    /// From frost's signature type.
    pub(crate) fn from_frost(sig: &frost::Signature) -> Self {
        let bytes = sig.serialize().expect("a signature made here serializes");
        let r = Point::from_bytes(bytes[..32].try_into().expect("64 bytes")).expect("R is a valid point");
        let z = crate::encoding::scalar::decode(bytes[32..].try_into().expect("64 bytes"))
            .expect("z is canonical");
        GroupSignature { r, z }
    }

    /// The 64-byte RFC 9591 encoding `R || z`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(self.r.as_bytes());
        b[32..].copy_from_slice(self.z.as_bytes());
        b
    }

    /// Verifies the signature on the domain-separated message of `label` and
    /// `digest` under the group verifying key `key`, with
    /// `frost_ristretto255::VerifyingKey::verify`.
    pub fn verify(&self, label: &'static [u8], digest: &[u8; 32], key: &Point) -> Result<(), VerifyError> {
        let vk = frost::VerifyingKey::deserialize(key.as_bytes()).map_err(|_| VerifyError)?;
        let sig = frost::Signature::deserialize(&self.to_bytes()).map_err(|_| VerifyError)?;
        vk.verify(&signed_message(label, digest), &sig).map_err(|_| VerifyError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    const L: &[u8] = b"faircash/v1/test-group-signature";

    #[test]
    fn group_signature_verifies_only_for_its_digest_key_and_domain() {
        let k = GroupSigningKey::generate(&mut OsRng);
        let sig = k.sign(L, &[7; 32], &mut OsRng);
        assert!(sig.verify(L, &[7; 32], k.public()).is_ok());
        assert!(sig.verify(L, &[8; 32], k.public()).is_err());
        assert!(sig.verify(b"faircash/v1/other", &[7; 32], k.public()).is_err());
        let k2 = GroupSigningKey::generate(&mut OsRng);
        assert!(sig.verify(L, &[7; 32], k2.public()).is_err());
        assert!(sig.verify(L, &[7; 32], &Point::identity()).is_err());
        let mut bad = sig;
        bad.z += Scalar::ONE;
        assert!(bad.verify(L, &[7; 32], k.public()).is_err());
        let mut bad = sig;
        bad.r = Point::identity();
        assert!(bad.verify(L, &[7; 32], k.public()).is_err());
    }

    #[test]
    fn the_signature_is_rfc_9591_schnorr() {
        // z·G = R + c·Y with c = H2(R || Y || m), H2 = SHA-512 of the
        // ciphersuite context, "chal" and the input, reduced mod q.
        use sha2::Digest;
        let k = GroupSigningKey::generate(&mut OsRng);
        let sig = k.sign(L, &[1; 32], &mut OsRng);
        let mut h = sha2::Sha512::new();
        h.update(b"FROST-RISTRETTO255-SHA512-v1chal");
        h.update(sig.r.as_bytes());
        h.update(k.public().as_bytes());
        h.update(signed_message(L, &[1; 32]));
        let c = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let g = Params::get().g;
        assert_eq!(g.point() * sig.z, sig.r.point() + k.public().point() * c);
    }

    #[test]
    fn group_signing_key_debug_is_redacted_and_zero_is_refused() {
        let k = GroupSigningKey::from_secret(SecretScalar::new(Scalar::from(77u64))).unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode(Scalar::from(77u64).as_bytes())));
        assert!(GroupSigningKey::from_secret(SecretScalar::new(Scalar::ZERO)).is_none());
    }
}
