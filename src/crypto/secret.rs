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

impl std::fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretScalar::new(Scalar::from(0x1234_5678u64));
        let shown = format!("{s:?}");
        assert!(!shown.contains("78"));
        assert!(shown.contains("redacted"));
    }
}
