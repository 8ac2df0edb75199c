//! ElGamal encryption of group elements over Ristretto.
//!
//! `Enc_Y(X; k) = (k·G, X + k·Y)`, `Dec_x(c1, c2) = c2 - x·c1`. IND-CPA under
//! DDH. faircash encrypts the identity `I` (owner tracing) and the serial `S`
//! (coin tracing) under the TTP key `Y_T`.

use curve25519_dalek::scalar::Scalar;
use serde::{Deserialize, Serialize};

use crate::encoding::Point;
use crate::params::Params;

/// An ElGamal ciphertext `(c1, c2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ciphertext {
    /// `c1 = k·G`.
    pub c1: Point,
    /// `c2 = X + k·Y`.
    pub c2: Point,
}

impl Ciphertext {
    /// Encrypts `message` under `public` with randomness `k`.
    ///
    /// # Security
    /// `k` must be uniformly random and used once; constant time in `k`.
    pub fn encrypt(message: &Point, public: &Point, k: &Scalar) -> Self {
        let g = Params::get().g.point();
        Ciphertext { c1: Point::new(g * k), c2: Point::new(message.point() + public.point() * k) }
    }

    /// Decrypts with the secret key `x`.
    pub fn decrypt(&self, x: &Scalar) -> Point {
        Point::new(self.c2.point() - self.c1.point() * x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn decrypts_under_the_right_key_only() {
        let p = Params::get();
        let x = Scalar::random(&mut OsRng);
        let y = Point::new(p.g.point() * x);
        let m = Point::new(p.hu.point() * Scalar::random(&mut OsRng));
        let ct = Ciphertext::encrypt(&m, &y, &Scalar::random(&mut OsRng));
        assert_eq!(ct.decrypt(&x), m);
        assert_ne!(ct.decrypt(&Scalar::random(&mut OsRng)), m);
    }

    #[test]
    fn fresh_randomness_gives_unlinkable_ciphertexts() {
        let p = Params::get();
        let y = Point::new(p.g.point() * Scalar::random(&mut OsRng));
        let m = p.hu;
        let a = Ciphertext::encrypt(&m, &y, &Scalar::random(&mut OsRng));
        let b = Ciphertext::encrypt(&m, &y, &Scalar::random(&mut OsRng));
        assert_ne!(a.c1, b.c1);
        assert_ne!(a.c2, b.c2);
    }
}
