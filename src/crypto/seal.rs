//! Authenticated encryption: ChaCha20-Poly1305 (RFC 8439) under a key
//! derived with HKDF-SHA512 (RFC 5869), for secrets that travel in files
//! (the trustees' round-2 DKG shares, specs/tracing.md §9.1, and the
//! wallet's backup file, specs/protocol.md §7.6).
//!
//! A [`SealKey`] is derived from input key material (a Ristretto
//! Diffie–Hellman point, or a wallet seed), a domain label as the HKDF
//! salt, and a context as the HKDF info. A key used for one plaintext only
//! seals with the nonce fixed at zero ([`SealKey::seal`]); a key that seals
//! many plaintexts (the backup key: one per wallet and bank) uses
//! XChaCha20-Poly1305 with a random 24-byte nonce
//! ([`SealKey::seal_with_nonce`]), long enough that random nonces never
//! repeat. The key is wiped on drop.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha512;
use zeroize::Zeroizing;

use super::VerifyError;
use crate::encoding::Point;

/// Bytes the authentication tag adds to a plaintext.
pub const TAG_BYTES: usize = 16;

/// Bytes of an XChaCha20-Poly1305 nonce.
pub const XNONCE_BYTES: usize = 24;

/// A ChaCha20-Poly1305 key (one plaintext, nonce zero) or
/// XChaCha20-Poly1305 key (random nonces).
///
/// Zeroized on drop; `Debug` prints `<redacted>`.
pub struct SealKey(Zeroizing<[u8; 32]>);

impl SealKey {
    /// `HKDF-SHA512(salt = label, ikm, info = context)`, 32 bytes.
    pub fn derive(label: &'static [u8], ikm: &[u8], context: &[u8]) -> Self {
        let hk = Hkdf::<Sha512>::new(Some(label), ikm);
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(context, key.as_mut()).expect("32 bytes is a valid HKDF-SHA512 output length");
        SealKey(key)
    }

    /// The key of a Diffie–Hellman point `K` (its 32-byte encoding is the
    /// input key material).
    pub fn from_dh(label: &'static [u8], shared: &Point, context: &[u8]) -> Self {
        Self::derive(label, shared.as_bytes(), context)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Encrypts `plaintext` with associated data `aad` (nonce zero: one
    /// plaintext per key). The output is the ciphertext followed by the tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.cipher()
            .encrypt(&[0u8; 12].into(), Payload { msg: plaintext, aad })
            .expect("ChaCha20-Poly1305 encrypts any plaintext shorter than 256 GiB")
    }

    /// A random nonce for [`SealKey::seal_with_nonce`].
    pub fn random_nonce(rng: &mut impl CryptoRngCore) -> [u8; XNONCE_BYTES] {
        let mut nonce = [0u8; XNONCE_BYTES];
        rng.fill_bytes(&mut nonce);
        nonce
    }

    /// Encrypts `plaintext` with XChaCha20-Poly1305 under `nonce` (drawn by
    /// [`SealKey::random_nonce`]; never reused under one key) with
    /// associated data `aad`. The output is the ciphertext followed by the
    /// tag.
    pub fn seal_with_nonce(&self, nonce: &[u8; XNONCE_BYTES], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        XChaCha20Poly1305::new(self.0.as_ref().into())
            .encrypt(nonce.into(), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encrypts any plaintext shorter than 256 GiB")
    }

    /// Decrypts and authenticates what [`SealKey::seal_with_nonce`] sealed;
    /// the plaintext is wiped when dropped.
    pub fn open_with_nonce(
        &self,
        nonce: &[u8; XNONCE_BYTES],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VerifyError> {
        XChaCha20Poly1305::new(self.0.as_ref().into())
            .decrypt(nonce.into(), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| VerifyError)
    }

    /// Decrypts and authenticates; the plaintext is wiped when dropped.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VerifyError> {
        self.cipher()
            .decrypt(&[0u8; 12].into(), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| VerifyError)
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &[u8] = b"faircash/v1/test-seal";

    #[test]
    fn sealed_data_opens_only_with_its_key_and_associated_data() {
        let k = SealKey::derive(L, b"ikm", b"ctx");
        let sealed = k.seal(b"aad", b"secret");
        assert_eq!(sealed.len(), 6 + TAG_BYTES);
        assert_eq!(k.open(b"aad", &sealed).unwrap().as_slice(), b"secret");
        assert!(k.open(b"other", &sealed).is_err());
        assert!(SealKey::derive(L, b"ikm", b"ctx2").open(b"aad", &sealed).is_err());
        assert!(SealKey::derive(b"faircash/v1/other", b"ikm", b"ctx").open(b"aad", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(k.open(b"aad", &flipped).is_err());
        assert!(!format!("{k:?}").contains(&hex::encode(&k.0[..4])));
    }

    #[test]
    fn random_nonce_sealing_opens_only_with_its_key_nonce_and_associated_data() {
        let k = SealKey::derive(L, b"ikm", b"ctx");
        let n = SealKey::random_nonce(&mut rand::rngs::OsRng);
        let sealed = k.seal_with_nonce(&n, b"aad", b"secret");
        assert_eq!(sealed.len(), 6 + TAG_BYTES);
        assert_eq!(k.open_with_nonce(&n, b"aad", &sealed).unwrap().as_slice(), b"secret");
        assert!(k.open_with_nonce(&n, b"other", &sealed).is_err());
        let mut n2 = n;
        n2[23] ^= 1;
        assert!(k.open_with_nonce(&n2, b"aad", &sealed).is_err());
        assert!(SealKey::derive(L, b"ikm", b"ctx2").open_with_nonce(&n, b"aad", &sealed).is_err());
        // Not the one-use construction: a nonce-zero open fails.
        assert!(k.open(b"aad", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[5] ^= 1;
        assert!(k.open_with_nonce(&n, b"aad", &flipped).is_err());
        assert_ne!(
            sealed,
            k.seal_with_nonce(&SealKey::random_nonce(&mut rand::rngs::OsRng), b"aad", b"secret")
        );
    }

    #[test]
    fn the_key_is_rfc_5869_hkdf_sha512() {
        // RFC 5869 defines HKDF over any hash; check the construction by hand:
        // PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01)[..32].
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<Sha512> as Mac>::new_from_slice(L).unwrap();
        m.update(b"ikm");
        let prk = m.finalize().into_bytes();
        let mut m = <Hmac<Sha512> as Mac>::new_from_slice(&prk).unwrap();
        m.update(b"ctx");
        m.update(&[1]);
        let okm = m.finalize().into_bytes();
        assert_eq!(SealKey::derive(L, b"ikm", b"ctx").0.as_slice(), &okm[..32]);
    }
}
