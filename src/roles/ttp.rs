//! The trusted third party (trustee): its keys. Coins escrow their owner's
//! identity, and withdrawal records the coin's serial, under `Y_T`.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::secret::SecretScalar;
use crate::encoding::Point;
use crate::params::Params;

/// The TTP's decryption key `x_T` and public key `Y_T = x_T·G`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "SecretScalar", into = "SecretScalar")]
pub struct TtpKey {
    secret: SecretScalar,
    public: Point,
}

impl TtpKey {
    /// A fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from(SecretScalar::random_nonzero(rng))
    }
    /// `Y_T`.
    pub fn public(&self) -> &Point {
        &self.public
    }
    /// `x_T`.
    pub fn expose_secret(&self) -> &curve25519_dalek::scalar::Scalar {
        self.secret.expose_secret()
    }
}

impl From<SecretScalar> for TtpKey {
    fn from(secret: SecretScalar) -> Self {
        let public = Point::new(Params::get().g.point() * secret.expose_secret());
        TtpKey { secret, public }
    }
}

impl From<TtpKey> for SecretScalar {
    fn from(k: TtpKey) -> Self {
        k.secret.clone()
    }
}

impl std::fmt::Debug for TtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtpKey")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The TTP role.
#[derive(Debug)]
pub struct Ttp {
    key: TtpKey,
}

impl Ttp {
    /// A TTP with `key`.
    pub fn new(key: TtpKey) -> Self {
        Ttp { key }
    }
    /// The public key `Y_T` that banks put in their keysets.
    pub fn public_key(&self) -> &Point {
        self.key.public()
    }
}
