//! The wallet's encrypted backup file (specs/protocol.md §7.6, item 7).
//!
//! ```text
//! magic "FCBACKUP" ‖ version (1) ‖ bank master key M (32) ‖ account id (16)
//!   ‖ nonce (24) ‖ LE64(sealed length) ‖ sealed
//! sealed = XChaCha20-Poly1305(key = HKDF(backup-key, seed, M), nonce,
//!                             aad = the 89 header bytes, postcard(contents))
//! ```
//!
//! The contents are the wallet's state: its database (coins and whether
//! they were paid, pending withdrawals and exchanges, counters, payments
//! made and received) and its small files (keys, pinned bank, keysets and
//! TTP statements), as named entries. Only the phrase's holder can open or
//! make a backup of the account; the header is authenticated, so neither
//! the bank nor the account can be swapped.
//!
//! Every buffer holding the plaintext is wiped on drop.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::derive::{AccountRoot, WalletSeed};
use crate::crypto::seal::{SealKey, TAG_BYTES, XNONCE_BYTES};
use crate::encoding::Point;
use crate::keys::AccountId;

/// The first bytes of a backup file.
pub const MAGIC: &[u8; 8] = b"FCBACKUP";
/// The file format version written and read.
pub const VERSION: u8 = 1;
/// Bytes of the header (also the associated data of the sealed contents).
pub const HEADER_BYTES: usize = 8 + 1 + 32 + 16 + XNONCE_BYTES + 8;
/// How far a restored wallet moves every withdrawal counter ahead of the
/// backup's (specs/protocol.md §7.6, item 7): four withdrawals of the most
/// coins one withdrawal takes.
pub const COUNTER_SKIP: u64 = 4 * super::MAX_WITHDRAWAL_COINS as u64;

/// Why a backup file was refused. Nothing is written when one is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// The bytes do not start as a backup file does.
    #[error("not a faircash wallet backup file")]
    NotABackup,
    /// A version this implementation does not read.
    #[error("backup file version {0} is not supported (this faircash reads version {VERSION})")]
    UnsupportedVersion(u8),
    /// Shorter than its header says: cut off while copied or written.
    #[error("the backup file is truncated: {found} of {expected} bytes")]
    Truncated {
        /// The length the header announces.
        expected: u64,
        /// The length found.
        found: u64,
    },
    /// The recovery phrase does not open this backup's account: a wrong
    /// phrase, or a backup of another wallet.
    #[error(
        "the backup is of account {backup}; the recovery phrase given is that of account {phrase} at the \
         same bank: a wrong phrase, or a backup of another wallet"
    )]
    OtherAccount {
        /// The account the backup names.
        backup: AccountId,
        /// The account of the phrase at the backup's bank.
        phrase: AccountId,
    },
    /// The file does not authenticate under the phrase's key although the
    /// phrase is the account's: changed or damaged.
    #[error(
        "the backup file was changed or damaged: it does not authenticate under the phrase's backup key"
    )]
    Damaged,
    /// Authentic, but its contents do not decode (made by a faulty writer).
    #[error("the backup's contents are malformed: {0}")]
    Contents(String),
}

/// One file of the wallet directory in a backup.
#[derive(Clone, Serialize, Deserialize, Zeroize, PartialEq, Eq)]
pub struct BackupEntry {
    /// Its name in the wallet directory (a plain file name).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for BackupEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupEntry({}, {} bytes)", self.name, self.bytes.len())
    }
}

/// What a backup file holds. Wiped on drop; `Debug` prints names and
/// sizes only.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct BackupContents {
    /// When the backup was made (seconds since the Unix epoch).
    pub created: u64,
    /// The wallet directory's files, by name.
    pub files: Vec<BackupEntry>,
    /// An image of the wallet's database.
    pub database: Vec<u8>,
}

impl std::fmt::Debug for BackupContents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupContents")
            .field("created", &self.created)
            .field("files", &self.files)
            .field("database_bytes", &self.database.len())
            .finish()
    }
}

/// Whether `name` is a plain file name a backup may carry: 1 to 64 of
/// `a-z 0-9 . _ -`, not starting with a dot (never a path).
pub fn valid_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl BackupContents {
    /// The postcard encoding, in a buffer wiped on drop (allocated once,
    /// so no unwiped copy is left by growing it).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let buf = postcard::to_extend(self, Vec::with_capacity(self.encoded_bound()))
            .expect("encoding to a Vec cannot fail");
        Zeroizing::new(buf)
    }

    /// An upper bound of the encoding's length (every varint takes at most
    /// 10 bytes).
    fn encoded_bound(&self) -> usize {
        10 + 10
            + self.files.iter().map(|e| 10 + e.name.len() + 10 + e.bytes.len()).sum::<usize>()
            + 10
            + self.database.len()
    }

    /// Decodes and checks the contents: every entry name plain and unique,
    /// a database present.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BackupError> {
        let (contents, rest): (BackupContents, _) =
            postcard::take_from_bytes(bytes).map_err(|e| BackupError::Contents(e.to_string()))?;
        if !rest.is_empty() {
            return Err(BackupError::Contents("bytes after the contents".into()));
        }
        for (i, e) in contents.files.iter().enumerate() {
            if !valid_entry_name(&e.name) {
                return Err(BackupError::Contents(format!("entry {i} has an invalid file name")));
            }
            if contents.files[..i].iter().any(|o| o.name == e.name) {
                return Err(BackupError::Contents(format!("the file {} appears twice", e.name)));
            }
        }
        if contents.database.is_empty() {
            return Err(BackupError::Contents("no database".into()));
        }
        Ok(contents)
    }

    /// The entry named `name`.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|e| e.name == name).map(|e| e.bytes.as_slice())
    }
}

/// A parsed backup file: its header in the clear, its contents sealed.
#[derive(Clone, Debug)]
pub struct BackupFile {
    header: [u8; HEADER_BYTES],
    master_key: Point,
    account: AccountId,
    nonce: [u8; XNONCE_BYTES],
    sealed: Vec<u8>,
}

impl BackupFile {
    /// Seals `contents` for the account `account` at the bank with master
    /// key `master_key`, under the backup key of `seed` at that bank, with
    /// a fresh random nonce.
    pub fn seal(
        seed: &WalletSeed,
        master_key: &Point,
        account: AccountId,
        contents: &BackupContents,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let nonce = SealKey::random_nonce(rng);
        let plaintext = contents.to_bytes();
        let sealed_len = (plaintext.len() + TAG_BYTES) as u64;
        let header = Self::header(master_key, &account, &nonce, sealed_len);
        let sealed = seed.backup_key(master_key).seal_with_nonce(&nonce, &header, &plaintext);
        BackupFile { header, master_key: *master_key, account, nonce, sealed }
    }

    fn header(
        master_key: &Point,
        account: &AccountId,
        nonce: &[u8; XNONCE_BYTES],
        sealed_len: u64,
    ) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        let mut at = 0;
        for part in [
            MAGIC.as_slice(),
            &[VERSION],
            master_key.as_bytes(),
            account.as_bytes(),
            nonce,
            &sealed_len.to_le_bytes(),
        ] {
            h[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        h
    }

    /// Parses a file's bytes (the contents stay sealed).
    pub fn parse(bytes: &[u8]) -> Result<Self, BackupError> {
        let magic_seen = bytes.len().min(MAGIC.len());
        if bytes[..magic_seen] != MAGIC[..magic_seen] || bytes.is_empty() {
            return Err(BackupError::NotABackup);
        }
        if bytes.len() > MAGIC.len() && bytes[MAGIC.len()] != VERSION {
            return Err(BackupError::UnsupportedVersion(bytes[MAGIC.len()]));
        }
        if bytes.len() < HEADER_BYTES {
            return Err(BackupError::Truncated { expected: HEADER_BYTES as u64, found: bytes.len() as u64 });
        }
        let mut header = [0u8; HEADER_BYTES];
        header.copy_from_slice(&bytes[..HEADER_BYTES]);
        let master: [u8; 32] = header[9..41].try_into().expect("32 bytes");
        let master_key = Point::from_bytes(&master).ok_or(BackupError::NotABackup)?;
        let account = AccountId(header[41..57].try_into().expect("16 bytes"));
        let nonce: [u8; XNONCE_BYTES] = header[57..57 + XNONCE_BYTES].try_into().expect("24 bytes");
        let sealed_len = u64::from_le_bytes(header[HEADER_BYTES - 8..].try_into().expect("8 bytes"));
        let found = bytes.len() as u64;
        let expected = (HEADER_BYTES as u64).saturating_add(sealed_len);
        if sealed_len < TAG_BYTES as u64 {
            return Err(BackupError::NotABackup);
        }
        if found < expected {
            return Err(BackupError::Truncated { expected, found });
        }
        if found > expected {
            return Err(BackupError::Damaged);
        }
        Ok(BackupFile { header, master_key, account, nonce, sealed: bytes[HEADER_BYTES..].to_vec() })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.sealed.len());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.sealed);
        out
    }

    /// The bank master key the header names.
    pub fn master_key(&self) -> &Point {
        &self.master_key
    }

    /// The account the header names.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Opens the contents with `seed`: refused when the phrase's account at
    /// the header's bank is not the header's account, or when the file does
    /// not authenticate.
    pub fn open(&self, seed: &WalletSeed) -> Result<BackupContents, BackupError> {
        let phrase = AccountRoot::account_id_of(seed, &self.master_key);
        if phrase != self.account {
            return Err(BackupError::OtherAccount { backup: self.account, phrase });
        }
        let plaintext = seed
            .backup_key(&self.master_key)
            .open_with_nonce(&self.nonce, &self.header, &self.sealed)
            .map_err(|_| BackupError::Damaged)?;
        BackupContents::from_bytes(&plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::derive::RecoveryPhrase;
    use crate::params::Params;

    const PHRASE: &str =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const OTHER: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

    fn contents() -> BackupContents {
        BackupContents {
            created: 1_700_000_000,
            files: vec![
                BackupEntry { name: "wallet.key".into(), bytes: b"{\"k\":1}".to_vec() },
                BackupEntry { name: "bank.json".into(), bytes: b"{}".to_vec() },
            ],
            database: vec![7; 300],
        }
    }

    fn sealed() -> (WalletSeed, Point, Vec<u8>) {
        let seed = RecoveryPhrase::parse(PHRASE).unwrap().seed();
        let m = Params::get().h0;
        let account = AccountRoot::account_id_of(&seed, &m);
        let file = BackupFile::seal(&seed, &m, account, &contents(), &mut rand::rngs::OsRng);
        (seed, m, file.to_bytes())
    }

    #[test]
    fn a_backup_opens_with_its_phrase_only() {
        let (seed, m, bytes) = sealed();
        let file = BackupFile::parse(&bytes).unwrap();
        assert_eq!(file.master_key(), &m);
        assert_eq!(file.open(&seed).unwrap(), contents());
        // Two backups of the same state differ (fresh nonce) and both open.
        let (_, _, again) = sealed();
        assert_ne!(again, bytes);
        assert_eq!(BackupFile::parse(&again).unwrap().open(&seed).unwrap(), contents());
        // Another phrase: another account at this bank.
        let other = RecoveryPhrase::parse(OTHER).unwrap().seed();
        assert!(matches!(file.open(&other), Err(BackupError::OtherAccount { .. })));
        // The contents' secrets never print.
        assert!(!format!("{:?}", contents()).contains("\\\"k\\\""));
    }

    #[test]
    fn every_changed_byte_and_every_cut_is_refused() {
        let (seed, _, bytes) = sealed();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            let r = BackupFile::parse(&t).and_then(|f| f.open(&seed));
            match i {
                0..=7 => assert_eq!(r.unwrap_err(), BackupError::NotABackup, "byte {i}"),
                8 => assert_eq!(r.unwrap_err(), BackupError::UnsupportedVersion(VERSION ^ 1)),
                // The master key: not a point, or another bank (another account there).
                9..=40 => assert!(
                    matches!(r, Err(BackupError::NotABackup | BackupError::OtherAccount { .. })),
                    "byte {i}: {r:?}"
                ),
                41..=56 => assert!(matches!(r, Err(BackupError::OtherAccount { .. })), "byte {i}"),
                // The length: longer (truncated) or shorter (bytes left over).
                _ if (HEADER_BYTES - 8..HEADER_BYTES).contains(&i) => {
                    assert!(
                        matches!(r, Err(BackupError::Truncated { .. } | BackupError::Damaged)),
                        "byte {i}"
                    )
                }
                _ => assert_eq!(r.unwrap_err(), BackupError::Damaged, "byte {i}"),
            }
        }
        for cut in [0, 1, 8, 9, HEADER_BYTES - 1, HEADER_BYTES, bytes.len() - 1] {
            let r = BackupFile::parse(&bytes[..cut]);
            match cut {
                0 => assert_eq!(r.unwrap_err(), BackupError::NotABackup),
                1..=8 => {
                    assert_eq!(r.unwrap_err(), BackupError::Truncated { expected: 89, found: cut as u64 })
                }
                _ => assert!(matches!(r, Err(BackupError::Truncated { .. })), "cut {cut}"),
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(BackupFile::parse(&longer).unwrap_err(), BackupError::Damaged);
        assert_eq!(BackupFile::parse(b"{\"json\": 1}").unwrap_err(), BackupError::NotABackup);
    }

    #[test]
    fn contents_with_paths_or_duplicates_are_refused() {
        for name in ["../wallet.key", "a/b", ".hidden", "", "Wallet.key", &"x".repeat(65)] {
            let mut c = contents();
            c.files[0].name = name.to_string();
            assert!(
                matches!(BackupContents::from_bytes(&c.to_bytes()), Err(BackupError::Contents(_))),
                "{name}"
            );
        }
        let mut c = contents();
        c.files[1].name = "wallet.key".into();
        assert!(matches!(BackupContents::from_bytes(&c.to_bytes()), Err(BackupError::Contents(_))));
        let mut c = contents();
        c.database.clear();
        assert!(matches!(BackupContents::from_bytes(&c.to_bytes()), Err(BackupError::Contents(_))));
        let mut extra = contents().to_bytes().to_vec();
        extra.push(0);
        assert!(matches!(BackupContents::from_bytes(&extra), Err(BackupError::Contents(_))));
        // The buffer was sized so that encoding never grew it (growing
        // would leave an unwiped copy behind).
        let c = contents();
        let b = c.to_bytes();
        assert_eq!(b.capacity(), c.encoded_bound());
        assert_eq!(BackupContents::from_bytes(&b).unwrap(), c);
    }
}
