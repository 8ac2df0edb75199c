//! Secret scalars that are wiped on drop, never printed and never compared
//! in variable time.
//!
//! # The secret types of faircash
//!
//! Every long-lived secret lives in a type that zeroizes it on drop, whose
//! `Debug` prints `<redacted>`, that has no `Display` and no `PartialEq`
//! (a derived `==` on a secret compares in variable time; where a secret
//! must be compared, [`SecretScalar`] offers `subtle`'s constant-time
//! [`ConstantTimeEq`]):
//!
//! | type | holds |
//! |---|---|
//! | [`SecretScalar`] | any secret scalar |
//! | [`crate::keys::UserKey`] | the identity secret `u` |
//! | [`crate::keys::AuthKey`] | the account authentication key |
//! | [`crate::keys::AccountKeys`] | a wallet's identity and authentication keys |
//! | [`crate::crypto::schnorr::SigningKey`] | merchant, master and online signing keys |
//! | [`crate::keys::BankSecrets`] | the master key, online keys and every `x_k` |
//! | [`crate::roles::TtpKey`] | the TTP's decryption key `x_T` |
//! | [`crate::coin::CoinSecrets`] | a coin's witnesses and spend nonces |
//! | [`crate::crypto::acl::SignerSession`] | the bank's nonces `w, s1, s2, d` |
//!
//! Short-lived copies (witness arrays, blinding values, nonces) are held in
//! [`zeroize::Zeroizing`] or in types that zeroize on drop.
//!
//! None of them can be formatted with `{}` or compared with `==`; these
//! examples must not compile:
//!
//! ```compile_fail
//! let s = faircash::crypto::secret::SecretScalar::random(&mut rand::rngs::OsRng);
//! println!("{}", s);
//! ```
//! ```compile_fail
//! let s = faircash::crypto::secret::SecretScalar::random(&mut rand::rngs::OsRng);
//! let _ = s == s.clone();
//! ```
//! ```compile_fail
//! let u = faircash::keys::UserKey::generate(&mut rand::rngs::OsRng);
//! println!("{}", u);
//! ```
//! ```compile_fail
//! let u = faircash::keys::UserKey::generate(&mut rand::rngs::OsRng);
//! let _ = u == u.clone();
//! ```
//! ```compile_fail
//! let a = faircash::keys::AuthKey::generate(&mut rand::rngs::OsRng);
//! println!("{}", a);
//! ```
//! ```compile_fail
//! let a = faircash::keys::AuthKey::generate(&mut rand::rngs::OsRng);
//! let _ = a == a.clone();
//! ```
//! ```compile_fail
//! let k = faircash::keys::AccountKeys::generate(&mut rand::rngs::OsRng);
//! println!("{}", k);
//! ```
//! ```compile_fail
//! let k = faircash::keys::AccountKeys::generate(&mut rand::rngs::OsRng);
//! let _ = k == k.clone();
//! ```
//! ```compile_fail
//! let k = faircash::crypto::schnorr::SigningKey::generate(&mut rand::rngs::OsRng);
//! println!("{}", k);
//! ```
//! ```compile_fail
//! let k = faircash::crypto::schnorr::SigningKey::generate(&mut rand::rngs::OsRng);
//! let _ = k == k.clone();
//! ```
//! ```compile_fail
//! let b = faircash::keys::BankSecrets::generate(&mut rand::rngs::OsRng);
//! println!("{}", b);
//! ```
//! ```compile_fail
//! let b = faircash::keys::BankSecrets::generate(&mut rand::rngs::OsRng);
//! let _ = b == b.clone();
//! ```
//! ```compile_fail
//! let t = faircash::roles::TtpKey::generate(&mut rand::rngs::OsRng);
//! println!("{}", t);
//! ```
//! ```compile_fail
//! let t = faircash::roles::TtpKey::generate(&mut rand::rngs::OsRng);
//! let _ = t == t.clone();
//! ```
//! ```compile_fail
//! fn show(c: &faircash::coin::CoinSecrets) -> String { format!("{}", c) }
//! ```
//! ```compile_fail
//! fn same(a: &faircash::coin::CoinSecrets, b: &faircash::coin::CoinSecrets) -> bool { a == b }
//! ```
//! ```compile_fail
//! fn show(s: &faircash::crypto::acl::SignerSession) -> String { format!("{}", s) }
//! ```
//! ```compile_fail
//! fn same(a: &faircash::crypto::acl::SignerSession, b: &faircash::crypto::acl::SignerSession) -> bool { a == b }
//! ```
//!
//! The same checks written so that they do compile, to show that the
//! examples above fail for the reason they state and not for another:
//!
//! ```
//! use subtle::ConstantTimeEq;
//! let rng = &mut rand::rngs::OsRng;
//! let s = faircash::crypto::secret::SecretScalar::random(rng);
//! assert!(bool::from(s.ct_eq(&s.clone())));
//! assert!(format!("{:?}", s).contains("redacted"));
//! let u = faircash::keys::UserKey::generate(rng);
//! assert!(format!("{:?}", u.clone()).contains("redacted"));
//! let a = faircash::keys::AuthKey::generate(rng);
//! assert!(format!("{:?}", a.clone()).contains("redacted"));
//! let keys = faircash::keys::AccountKeys::generate(rng);
//! let shown = format!("{:?}", keys.clone());
//! assert!(!shown.contains(&hex::encode(keys.auth().expose_secret().as_bytes())));
//! assert!(!shown.contains(&hex::encode(keys.identity().expose_secret().as_bytes())));
//! let k = faircash::crypto::schnorr::SigningKey::generate(rng);
//! assert!(format!("{:?}", k.clone()).contains("redacted"));
//! let b = faircash::keys::BankSecrets::generate(rng);
//! let _ = format!("{:?}", b.clone());
//! let t = faircash::roles::TtpKey::generate(rng);
//! assert!(format!("{:?}", t.clone()).contains("redacted"));
//! fn show(c: &faircash::coin::CoinSecrets, s: &faircash::crypto::acl::SignerSession) -> String {
//!     format!("{:?} {:?}", c, s)
//! }
//! ```

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret scalar.
///
/// Zeroized on drop; `Debug` prints `<redacted>`; there is no `Display` and
/// no `PartialEq` (compare with [`ConstantTimeEq::ct_eq`]). Read it only
/// through [`SecretScalar::expose_secret`], whose name makes every use
/// visible in review.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
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
            let s = SecretScalar(Scalar::random(rng));
            if !bool::from(s.0.ct_eq(&Scalar::ZERO)) {
                return s;
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

impl ConstantTimeEq for SecretScalar {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl std::fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

/// Secret bytes (an opaque secret state, a key): wiped on drop, never
/// printed; serialized as hex.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes (the caller's copy should be a `Zeroizing` one).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
    /// The secret bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = zeroize::Zeroizing::new(hex::encode(&self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        hex::decode(text.as_bytes()).map(SecretBytes).map_err(serde::de::Error::custom)
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

    #[test]
    fn secret_equality_is_constant_time_and_correct() {
        let a = SecretScalar::new(Scalar::from(7u64));
        let b = SecretScalar::new(Scalar::from(7u64));
        let c = SecretScalar::new(Scalar::from(8u64));
        assert!(bool::from(a.ct_eq(&b)));
        assert!(!bool::from(a.ct_eq(&c)));
    }

    #[test]
    fn a_dropped_secret_is_wiped() {
        let mut s = SecretScalar::new(Scalar::from(99u64));
        s.zeroize();
        assert_eq!(*s.expose_secret(), Scalar::ZERO);
    }

    #[test]
    fn secret_bytes_are_redacted_and_round_trip_as_hex() {
        let b = SecretBytes::new(vec![0xab; 4]);
        assert!(!format!("{b:?}").contains("ab"));
        let j = serde_json::to_string(&b).unwrap();
        assert_eq!(j, "\"abababab\"");
        assert_eq!(serde_json::from_str::<SecretBytes>(&j).unwrap(), b);
    }
}
