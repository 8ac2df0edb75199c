//! Wallet secrets derived from a BIP-39 recovery phrase
//! (specs/protocol.md §7.6).
//!
//! ```text
//! phrase ──BIP-39──▶ seed (64 bytes)
//! seed ──HKDF(seed-account, bank master key ‖ epoch)──▶ account root R_n
//! R_n ──HKDF(seed-identity)──▶ u        R_n ──HKDF(seed-auth)──▶ a
//! R_n ──HKDF(seed-coin, keyset_id ‖ counter)──▶ coin seed K
//! K ──HKDF(coin-value, name)──▶ session id, r, s, k', gamma, tau, t1..t5, k, r_t, nonces
//! ```
//!
//! One primitive does every step: `HKDF-SHA512(salt = label, ikm, info)`
//! (RFC 5869). A scalar is the 64-byte output reduced mod `l`. The bank's
//! master key in the account root keeps one phrase from linking a user
//! across banks; the epoch (the number of re-keys) gives a re-keyed account
//! a new `u` and `a`.
//!
//! A withdrawal of a wallet without a phrase draws its coin seed `K` at
//! random: every wallet takes its per-coin values from a coin seed, so
//! there is one withdrawal path.
//!
//! Every secret type here is wiped on drop and prints `<redacted>`.

use curve25519_dalek::scalar::Scalar;
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::seal::SealKey;
use super::secret::SecretScalar;
use super::transcript::labels;
use crate::encoding::Point;
use crate::keys::{AccountId, AccountKeys, AuthKey, KeysetId, UserKey};

/// Words of a new recovery phrase (256 bits of entropy).
pub const PHRASE_WORDS: usize = 24;

/// The most authentication-key rotations a phrase wallet derives at one
/// epoch (specs/protocol.md §7.6 item 3): a restore tries this many keys
/// at most; a wallet rotated further draws random keys, which the phrase
/// does not restore.
pub const MAX_AUTH_ROTATIONS: u32 = 64;

/// The most identity epochs (re-keys) a restore tries (§7.6 item 8).
pub const MAX_RESTORE_EPOCHS: u32 = 8;

/// Why a recovery phrase was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    /// Not 12, 15, 18, 21 or 24 words.
    #[error("a recovery phrase has 12, 15, 18, 21 or 24 words, not {0}")]
    WordCount(usize),
    /// A word not in the BIP-39 English list (its position, from 1).
    #[error("word {0} of the recovery phrase is not a BIP-39 English word")]
    UnknownWord(usize),
    /// The words do not carry a valid checksum (a word is wrong or missing).
    #[error("the recovery phrase's checksum does not match: a word is wrong, missing or out of order")]
    Checksum,
}

/// A recovery phrase (or seed) that does not belong to the account: its
/// identity at the account's epoch is not the account's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the recovery phrase does not belong to this account at this bank")]
pub struct SeedMismatch;

/// `HKDF-SHA512(salt = label, ikm, info)`, `N` bytes, wiped on drop.
fn hkdf<const N: usize>(label: &'static [u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    let hk = Hkdf::<Sha512>::new(Some(label), ikm);
    let mut out = Zeroizing::new([0u8; N]);
    hk.expand_multi_info(info, out.as_mut()).expect("N <= 255 * 64 bytes is a valid HKDF-SHA512 length");
    out
}

/// The 64-byte HKDF output reduced mod `l`.
fn scalar(label: &'static [u8], ikm: &[u8], info: &[&[u8]]) -> SecretScalar {
    let wide = hkdf::<64>(label, ikm, info);
    SecretScalar::new(Scalar::from_bytes_mod_order_wide(&wide))
}

/// A recovery phrase: shown to the user once, never stored by the wallet.
///
/// Wiped on drop; `Debug` prints `<redacted>`.
pub struct RecoveryPhrase(Zeroizing<String>);

impl RecoveryPhrase {
    /// A new phrase of [`PHRASE_WORDS`] words.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut entropy = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(entropy.as_mut());
        let m = bip39::Mnemonic::from_entropy(entropy.as_ref())
            .expect("32 bytes is a valid BIP-39 entropy length");
        RecoveryPhrase(Zeroizing::new(m.to_string()))
    }

    /// Parses a phrase (English words, any whitespace between them, any
    /// case), checking its word count, words and checksum.
    pub fn parse(text: &str) -> Result<Self, PhraseError> {
        let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
        let words = Zeroizing::new(words);
        if ![12, 15, 18, 21, 24].contains(&words.len()) {
            return Err(PhraseError::WordCount(words.len()));
        }
        let joined = Zeroizing::new(words.join(" "));
        match bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &joined) {
            Ok(m) => Ok(RecoveryPhrase(Zeroizing::new(m.to_string()))),
            Err(bip39::Error::UnknownWord(i)) => Err(PhraseError::UnknownWord(i + 1)),
            Err(bip39::Error::BadWordCount(n)) => Err(PhraseError::WordCount(n)),
            Err(_) => Err(PhraseError::Checksum),
        }
    }

    /// The words, separated by single spaces.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The BIP-39 seed (PBKDF2-HMAC-SHA512, 2048 rounds, salt `"mnemonic"`:
    /// no passphrase).
    pub fn seed(&self) -> WalletSeed {
        let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &self.0)
            .expect("a RecoveryPhrase holds a valid phrase");
        WalletSeed(Zeroizing::new(m.to_seed_normalized("")))
    }
}

impl std::fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryPhrase(<redacted>)")
    }
}

/// The 64-byte BIP-39 seed of a recovery phrase. The wallet stores it
/// (mode 0600), not the phrase.
///
/// Wiped on drop; `Debug` prints `<redacted>`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WalletSeed(#[serde(with = "seed_hex")] Zeroizing<[u8; 64]>);

mod seed_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<[u8; 64]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(hex::encode(v.as_ref())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<[u8; 64]>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut out = Zeroizing::new([0u8; 64]);
        hex::decode_to_slice(text.as_bytes(), out.as_mut())
            .map_err(|_| serde::de::Error::custom("a wallet seed is 64 bytes in hex"))?;
        Ok(out)
    }
}

impl std::fmt::Debug for WalletSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WalletSeed(<redacted>)")
    }
}

impl WalletSeed {
    /// The 64 bytes (to store them, mode 0600).
    pub fn expose_secret(&self) -> &[u8; 64] {
        &self.0
    }

    /// The root of the account at the bank with master key `bank` after
    /// `epoch` re-keys: `HKDF(seed-account, seed, master_key ‖ LE32(epoch))`.
    pub fn account_root(&self, bank: &Point, epoch: u32) -> AccountRoot {
        AccountRoot {
            root: hkdf::<64>(labels::SEED_ACCOUNT, self.0.as_ref(), &[bank.as_bytes(), &epoch.to_le_bytes()]),
            epoch,
        }
    }

    /// The key of the wallet's backup files for the bank with master key
    /// `bank`: `HKDF(backup-key, seed, master_key)`, 32 bytes, for
    /// XChaCha20-Poly1305 (§7.6, item 7).
    pub fn backup_key(&self, bank: &Point) -> SealKey {
        SealKey::derive(labels::BACKUP_KEY, self.0.as_ref(), bank.as_bytes())
    }

    /// The account's keys at `bank` after `epoch` re-keys: the account id is
    /// the one of epoch 0's identity, and the earlier identities are retired.
    pub fn account_keys(&self, bank: &Point, epoch: u32) -> AccountKeys {
        let first = self.account_root(bank, 0);
        let mut keys = AccountKeys::for_new_account(first.identity(), first.auth());
        for n in 1..=epoch {
            let r = self.account_root(bank, n);
            keys = keys.rekeyed(r.identity(), r.auth());
        }
        keys
    }
}

/// An account's root at one bank and identity epoch.
///
/// Wiped on drop; `Debug` prints the epoch only.
#[derive(Clone)]
pub struct AccountRoot {
    root: Zeroizing<[u8; 64]>,
    epoch: u32,
}

impl std::fmt::Debug for AccountRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRoot").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// A reduced scalar that is zero is replaced by one (probability 2^-252),
/// where §7.6 requires a non-zero value.
fn nonzero(s: SecretScalar) -> SecretScalar {
    if *s.expose_secret() == Scalar::ZERO {
        SecretScalar::new(Scalar::ONE)
    } else {
        s
    }
}

impl AccountRoot {
    /// The identity epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// `u = HKDF(seed-identity, R_n, "")` mod `l` (1 if that is 0).
    pub fn identity(&self) -> UserKey {
        UserKey::from(nonzero(scalar(labels::SEED_IDENTITY, self.root.as_ref(), &[])))
    }

    /// `a = HKDF(seed-auth, R_n, "")` mod `l` (1 if that is 0): the
    /// authentication key of rotation 0.
    pub fn auth(&self) -> AuthKey {
        self.auth_at(0)
    }

    /// The authentication key after `rotation` rotations by the holder:
    /// `a_{n,0} = a` ([`AccountRoot::auth`]) and, for `j >= 1`,
    /// `a_{n,j} = HKDF(seed-auth, R_n, LE32(j))` mod `l` (1 if that is 0).
    /// A restore finds the current one by trying `j = 0, 1, …` up to
    /// [`MAX_AUTH_ROTATIONS`].
    pub fn auth_at(&self, rotation: u32) -> AuthKey {
        let index = rotation.to_le_bytes();
        let info: &[&[u8]] = if rotation == 0 { &[] } else { &[&index] };
        AuthKey::from(nonzero(scalar(labels::SEED_AUTH, self.root.as_ref(), info)))
    }

    /// The rotation index of `key` among this root's authentication keys
    /// (`0..=MAX_AUTH_ROTATIONS`), if it is one of them.
    pub fn auth_index(&self, key: &Point) -> Option<u32> {
        (0..=MAX_AUTH_ROTATIONS).find(|j| self.auth_at(*j).public() == key)
    }

    /// The account id of epoch 0's identity (the account's id for good).
    pub fn account_id_of(seed: &WalletSeed, bank: &Point) -> AccountId {
        seed.account_root(bank, 0).identity().account_id()
    }

    /// The coin seed of withdrawal counter `counter` under `keyset`:
    /// `HKDF(seed-coin, R_n, keyset_id ‖ LE64(counter))`, 32 bytes.
    pub fn coin(&self, keyset: &KeysetId, counter: u64) -> CoinSeed {
        let k =
            hkdf::<32>(labels::SEED_COIN, self.root.as_ref(), &[keyset.as_bytes(), &counter.to_le_bytes()]);
        CoinSeed(*k)
    }
}

/// The names of the per-coin values, in the order of §7.6's table.
pub mod value {
    /// The session id (the first 16 bytes of the output).
    pub const SESSION_ID: &[u8] = b"session-id";
    /// `r`, the blinding of `C`.
    pub const R: &[u8] = b"r";
    /// `s`, the serial secret (non-zero).
    pub const S: &[u8] = b"s";
    /// `k'`, the escrow randomness of `E_w` (non-zero).
    pub const K_W: &[u8] = b"k'";
    /// `gamma`, the ACL blinding factor (non-zero).
    pub const GAMMA: &[u8] = b"gamma";
    /// `tau`.
    pub const TAU: &[u8] = b"tau";
    /// `t1..t5`.
    pub const T: [&[u8]; 5] = [b"t1", b"t2", b"t3", b"t4", b"t5"];
    /// `k`, the escrow randomness of the coin's `E` (non-zero).
    pub const K: &[u8] = b"k";
    /// `r_t`, the blinding of the expiry commitment.
    pub const R_T: &[u8] = b"r_t";
    /// The spend nonces `n_0..n_7`.
    pub const NONCES: [&[u8]; 8] =
        [b"nonce-0", b"nonce-1", b"nonce-2", b"nonce-3", b"nonce-4", b"nonce-5", b"nonce-6", b"nonce-7"];
}

/// The 32-byte seed of one withdrawal session, from which every value the
/// wallet chooses in it, and every value that ends inside the coin body, is
/// derived: `v = HKDF(coin-value, K, name)` mod `l`.
///
/// Wiped on drop; `Debug` prints `<redacted>`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CoinSeed([u8; 32]);

impl std::fmt::Debug for CoinSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoinSeed(<redacted>)")
    }
}

impl CoinSeed {
    /// The 32 bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// A random coin seed (a wallet without a recovery phrase).
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        CoinSeed(k)
    }

    /// `HKDF(coin-value, K, name)`, `N` bytes.
    fn value<const N: usize>(&self, name: &[u8]) -> Zeroizing<[u8; N]> {
        hkdf::<N>(labels::COIN_VALUE, &self.0, &[name])
    }

    /// The value `name` as a scalar.
    pub fn scalar(&self, name: &[u8]) -> SecretScalar {
        SecretScalar::new(Scalar::from_bytes_mod_order_wide(&self.value::<64>(name)))
    }

    /// The value `name` as a non-zero scalar (1 if it reduces to 0, which
    /// happens with probability 2^-252).
    pub fn nonzero(&self, name: &[u8]) -> SecretScalar {
        nonzero(self.scalar(name))
    }

    /// The session id: the first 16 bytes of `HKDF(coin-value, K, "session-id")`.
    pub fn session_id(&self) -> [u8; 16] {
        *self.value::<16>(value::SESSION_ID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    const PHRASE: &str =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn the_seed_is_bip39s_and_phrases_are_checked() {
        // BIP-39's published test vector (English, passphrase "TREZOR") is
        // for a passphrase; without one the seed of this phrase is:
        let seed = RecoveryPhrase::parse(PHRASE).unwrap().seed();
        assert_eq!(
            hex::encode(seed.0.as_ref()),
            "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1\
             9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
        );
        assert_eq!(
            RecoveryPhrase::parse(&PHRASE.replace("about", "abandon")).unwrap_err(),
            PhraseError::Checksum
        );
        assert_eq!(
            RecoveryPhrase::parse(&PHRASE.replace("about", "aboutt")).unwrap_err(),
            PhraseError::UnknownWord(12)
        );
        assert_eq!(RecoveryPhrase::parse("abandon about").unwrap_err(), PhraseError::WordCount(2));
        // Case and spacing do not matter.
        let loose = format!("  {}\n", PHRASE.to_uppercase().replace(' ', "\t "));
        assert_eq!(RecoveryPhrase::parse(&loose).unwrap().expose_secret(), PHRASE);
        let fresh = RecoveryPhrase::generate(&mut rand::rngs::OsRng);
        assert_eq!(fresh.expose_secret().split(' ').count(), PHRASE_WORDS);
        assert_eq!(
            RecoveryPhrase::parse(fresh.expose_secret()).unwrap().expose_secret(),
            fresh.expose_secret()
        );
    }

    #[test]
    fn secrets_depend_on_bank_epoch_keyset_and_counter_and_never_print() {
        let seed = RecoveryPhrase::parse(PHRASE).unwrap().seed();
        let p = Params::get();
        let bank_a = p.h0;
        let bank_b = p.hu;
        let u = |bank: &Point, n: u32| *seed.account_root(bank, n).identity().identity();
        assert_eq!(u(&bank_a, 0), u(&bank_a, 0));
        assert_ne!(u(&bank_a, 0), u(&bank_b, 0));
        assert_ne!(u(&bank_a, 0), u(&bank_a, 1));
        let root = seed.account_root(&bank_a, 0);
        assert_ne!(root.auth().public(), root.identity().identity());
        // Rotated authentication keys: index 0 is `a`, each index another key.
        assert_eq!(root.auth_at(0).public(), root.auth().public());
        assert_ne!(root.auth_at(1).public(), root.auth().public());
        assert_ne!(root.auth_at(1).public(), root.auth_at(2).public());
        assert_eq!(root.auth_index(root.auth_at(MAX_AUTH_ROTATIONS).public()), Some(MAX_AUTH_ROTATIONS));
        assert_eq!(root.auth_index(root.auth_at(MAX_AUTH_ROTATIONS + 1).public()), None);
        assert_ne!(seed.account_root(&bank_a, 1).auth_at(1).public(), root.auth_at(1).public());
        let ks1 = KeysetId([1; 32]);
        let ks2 = KeysetId([2; 32]);
        let s = |k: &KeysetId, c: u64| *root.coin(k, c).scalar(value::S).expose_secret();
        assert_eq!(s(&ks1, 0), s(&ks1, 0));
        assert_ne!(s(&ks1, 0), s(&ks1, 1));
        assert_ne!(s(&ks1, 0), s(&ks2, 0));
        let coin = root.coin(&ks1, 0);
        assert_ne!(*coin.scalar(value::R).expose_secret(), *coin.scalar(value::S).expose_secret());
        // The epoch-n keys keep epoch 0's account id and retire the others.
        let keys = seed.account_keys(&bank_a, 2);
        assert_eq!(keys.account(), AccountRoot::account_id_of(&seed, &bank_a));
        assert_eq!(keys.identity().identity(), seed.account_root(&bank_a, 2).identity().identity());
        assert_eq!(keys.retired().len(), 2);
        let secret_hex = hex::encode(seed.0.as_ref());
        for shown in [
            format!("{seed:?}"),
            format!("{root:?}"),
            format!("{coin:?}"),
            format!("{:?}", RecoveryPhrase::parse(PHRASE).unwrap()),
        ] {
            assert!(!shown.contains(&secret_hex[..16]) && !shown.contains("abandon"), "{shown}");
            assert!(!shown.contains(&hex::encode(coin.0)[..16]), "{shown}");
        }
    }
}
