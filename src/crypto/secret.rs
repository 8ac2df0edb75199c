//! Secret scalars that are wiped on drop and never printed.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret scalar.
///
/// Zeroized on drop; `Debug` prints `<redacted>`; there is no `Display`.
/// Read it only through [`SecretScalar::expose_secret`], whose name makes
/// every use visible in review.
///
/// ```compile_fail
/// use faircash::crypto::secret::SecretScalar;
/// let s = SecretScalar::random(&mut rand::rngs::OsRng);
/// println!("{}", s); // no Display: secrets are never formatted
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretScalar(#[serde(with = "crate::encoding::scalar")] Scalar);

impl SecretScalar {
    /// Wraps a scalar.
    pub fn new(s: Scalar) -> Self {
        SecretScalar(s)
    }
    /// A uniformly random secret.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        SecretScalar(Scalar::random(rng))
    }
    /// A uniformly random non-zero secret.
    pub fn random_nonzero(rng: &mut impl CryptoRngCore) -> Self {
        loop {
            let s = Scalar::random(rng);
            if s != Scalar::ZERO {
                return SecretScalar(s);
            }
        }
    }
    /// The secret value.
    pub fn expose_secret(&self) -> &Scalar {
        &self.0
    }
}

/// A secret key's scalar as read from a key file. Key types deserialize
/// through it (`#[serde(try_from = "KeySecret")]`), and
/// [`KeySecret::nonzero`] refuses zero: the zero key's public key is the
/// identity, which every other party refuses, so a key file holding it is
/// damaged or forged and is refused when it is loaded, not when it is used.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct KeySecret(SecretScalar);

/// A key file holding the zero scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the zero scalar is not a valid secret key")]
pub struct ZeroKey;

impl KeySecret {
    /// The secret, unless it is zero.
    pub fn nonzero(self) -> Result<SecretScalar, ZeroKey> {
        if *self.0.expose_secret() == Scalar::ZERO {
            Err(ZeroKey)
        } else {
            Ok(self.0)
        }
    }
}

/// Deserializes a list of `(id, secret)` pairs, refusing a zero secret.
pub fn deserialize_nonzero_pairs<'de, D, K>(d: D) -> Result<Vec<(K, SecretScalar)>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de>,
{
    let pairs: Vec<(K, KeySecret)> = Vec::deserialize(d)?;
    pairs.into_iter().map(|(k, s)| Ok((k, s.nonzero().map_err(serde::de::Error::custom)?))).collect()
}

impl std::fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_secret_of_zero_is_refused() {
        let zero: KeySecret = serde_json::from_str(&format!("\"{}\"", "00".repeat(32))).unwrap();
        assert_eq!(zero.nonzero().err(), Some(ZeroKey));
        let one: KeySecret = serde_json::from_str(&format!("\"01{}\"", "00".repeat(31))).unwrap();
        assert_eq!(*one.nonzero().unwrap().expose_secret(), Scalar::ONE);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretScalar::new(Scalar::from(0x1234_5678u64));
        let shown = format!("{s:?}");
        assert!(!shown.contains("78"));
        assert!(shown.contains("redacted"));
    }
}
