//! Keys and the keyset document (specs/protocol.md §4).
//!
//! The bank holds one ACL key per denomination (powers of two of the base
//! unit). Keys are published in a keyset document that also names the TTP
//! key, the coin validity and the maximal deposit delay; the bank's master
//! Schnorr key signs it, and `keyset_id` is its hash. Each keyset names the
//! previous one, so the bank's keysets form one append-only list that every
//! wallet and merchant can check (a bank handing a user a keyset of its own
//! would have to fork that list; see specs/security.md).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha512;

use crate::crypto::acl::AclPublicKey;
use crate::crypto::schnorr::{Signature, SigningKey};
use crate::crypto::secret::{KeySecret, SecretScalar, ZeroKey};
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::{define_id, Point};
use crate::params::{Params, ParamsId};
use crate::time::Day;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

define_id!(
    /// Identifier of a denomination key.
    KeyId,
    16
);
define_id!(
    /// Identifier of a keyset document (its hash).
    KeysetId,
    32
);
define_id!(
    /// Identifier of a bank account, derived from its public key.
    AccountId,
    16
);

/// Most denomination keys in one keyset.
pub const MAX_KEYS_PER_KEYSET: usize = 64;

/// The days a key may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyWindows {
    /// First day of withdrawals.
    pub withdraw_from: Day,
    /// Last day of withdrawals.
    pub withdraw_until: Day,
    /// Last day a coin of this key can be spent: `withdraw_until + validity`.
    pub spend_until: Day,
    /// Last day a coin of this key can be deposited:
    /// `spend_until + max_deposit_delay`.
    pub deposit_until: Day,
}

/// The coin validity policy of a keyset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysetPolicy {
    /// A coin withdrawn on day `R` expires on day `t = R + validity_days`.
    pub validity_days: u32,
    /// A payment made on day `D` must be deposited by day
    /// `D + max_deposit_delay_days`.
    pub max_deposit_delay_days: u32,
}

impl KeysetPolicy {
    /// The expiry day of a coin withdrawn on `day`.
    pub fn expiry_for(&self, day: Day) -> Day {
        day.plus(self.validity_days)
    }
}

impl Default for KeysetPolicy {
    fn default() -> Self {
        KeysetPolicy { validity_days: 90, max_deposit_delay_days: 14 }
    }
}

/// One denomination key as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenominationKey {
    /// Its identifier.
    pub key_id: KeyId,
    /// The value of a coin under this key, a power of two of the base unit.
    pub value: u64,
    /// `y_k = x_k·G`.
    pub y: Point,
    /// `z_k`, hashed to the group from the rest of this description.
    pub z: Point,
    /// When it may be used.
    pub windows: KeyWindows,
}

impl DenominationKey {
    /// The ACL public key `(key_id, y, z)`.
    pub fn acl(&self) -> AclPublicKey {
        AclPublicKey { key_id: self.key_id, y: self.y, z: self.z }
    }

    fn derive_id(params_id: &ParamsId, y: &Point, value: u64, w: &KeyWindows) -> KeyId {
        let mut t = Transcript::new(labels::KEY_ID);
        t.append_message(b"params-id", params_id.as_bytes());
        t.append_point(b"y", y);
        t.append_u64(b"value", value);
        append_windows(&mut t, w);
        let d = t.challenge_digest(b"key-id");
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }

    fn derive_z(params_id: &ParamsId, key_id: &KeyId, y: &Point, value: u64, w: &KeyWindows) -> Point {
        // Fixed-size fields in a fixed order, after a length-prefixed label.
        let mut input = Vec::with_capacity(160);
        input.extend_from_slice(&(labels::ABE_Z.len() as u64).to_le_bytes());
        input.extend_from_slice(labels::ABE_Z);
        input.extend_from_slice(params_id.as_bytes());
        input.extend_from_slice(key_id.as_bytes());
        input.extend_from_slice(y.as_bytes());
        input.extend_from_slice(&value.to_le_bytes());
        for d in [w.withdraw_from, w.withdraw_until, w.spend_until, w.deposit_until] {
            input.extend_from_slice(&d.0.to_le_bytes());
        }
        Point::new(RistrettoPoint::hash_from_bytes::<Sha512>(&input))
    }

    /// Builds the published key for `y`, deriving `key_id` and `z`.
    pub fn new(y: Point, value: u64, windows: KeyWindows) -> Self {
        let pid = Params::get().id;
        let key_id = Self::derive_id(&pid, &y, value, &windows);
        let z = Self::derive_z(&pid, &key_id, &y, value, &windows);
        DenominationKey { key_id, value, y, z, windows }
    }

    /// Whether a payment made on `day` may use this key.
    pub fn spendable_on(&self, day: Day) -> bool {
        self.windows.withdraw_from <= day && day <= self.windows.spend_until
    }

    /// Whether a withdrawal on `day` may use this key.
    pub fn withdrawable_on(&self, day: Day) -> bool {
        self.windows.withdraw_from <= day && day <= self.windows.withdraw_until
    }
}

fn append_windows(t: &mut Transcript, w: &KeyWindows) {
    t.append_u64(b"withdraw-from", u64::from(w.withdraw_from.0));
    t.append_u64(b"withdraw-until", u64::from(w.withdraw_until.0));
    t.append_u64(b"spend-until", u64::from(w.spend_until.0));
    t.append_u64(b"deposit-until", u64::from(w.deposit_until.0));
}

/// The keyset document the bank publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysetDocument {
    /// The parameters the keys live in.
    pub params_id: ParamsId,
    /// Position in the bank's append-only keyset list, from 0.
    pub sequence: u64,
    /// The keyset before this one in the list (`None` for the first).
    pub previous: Option<KeysetId>,
    /// The bank's master public key, which signs this document.
    pub master_key: Point,
    /// The bank's online signing key for this keyset: it signs the bank's
    /// withdrawal commitments and deposit receipts made under this keyset
    /// (never keysets). Distinct from `master_key`, so the master key can
    /// stay off-line.
    pub signing_key: Point,
    /// The TTP's public key `Y_T`, under which coins escrow identities.
    pub ttp_key: Point,
    /// The day the keyset was issued.
    pub issued: Day,
    /// Coin validity and deposit delay.
    pub policy: KeysetPolicy,
    /// The denomination keys.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, DenominationKey, MAX_KEYS_PER_KEYSET>"
    )]
    pub keys: Vec<DenominationKey>,
}

impl KeysetDocument {
    /// `keyset_id`: the hash of every field.
    pub fn id(&self) -> KeysetId {
        let mut t = Transcript::new(labels::KEYSET_ID);
        t.append_message(b"params-id", self.params_id.as_bytes());
        t.append_u64(b"sequence", self.sequence);
        match &self.previous {
            Some(p) => t.append_message(b"previous", p.as_bytes()),
            None => t.append_message(b"previous", b""),
        }
        t.append_point(b"master-key", &self.master_key);
        t.append_point(b"signing-key", &self.signing_key);
        t.append_point(b"ttp-key", &self.ttp_key);
        t.append_u64(b"issued", u64::from(self.issued.0));
        t.append_u64(b"validity-days", u64::from(self.policy.validity_days));
        t.append_u64(b"max-deposit-delay-days", u64::from(self.policy.max_deposit_delay_days));
        t.append_u64(b"keys", self.keys.len() as u64);
        for k in &self.keys {
            t.append_message(b"key-id", k.key_id.as_bytes());
            t.append_u64(b"value", k.value);
            t.append_point(b"y", &k.y);
            t.append_point(b"z", &k.z);
            append_windows(&mut t, &k.windows);
        }
        KeysetId(t.challenge_digest(b"keyset-id"))
    }

    /// Checks the document's internal consistency (specs/protocol.md §4.2).
    pub fn check(&self) -> Result<(), KeysetError> {
        let p = Params::get();
        if self.params_id != p.id {
            return Err(KeysetError::WrongParams);
        }
        if self.master_key.is_identity() || self.signing_key.is_identity() || self.ttp_key.is_identity() {
            return Err(KeysetError::IdentityKey);
        }
        if self.signing_key == self.master_key {
            return Err(KeysetError::SharedSigningKey);
        }
        if self.keys.is_empty() {
            return Err(KeysetError::NoKeys);
        }
        if (self.sequence == 0) != self.previous.is_none() {
            return Err(KeysetError::BadChain);
        }
        let mut values = std::collections::HashSet::new();
        for (index, k) in self.keys.iter().enumerate() {
            let bad = || KeysetError::MalformedKey { index };
            if k.y.is_identity() || !k.value.is_power_of_two() || !values.insert(k.value) {
                return Err(bad());
            }
            let w = &k.windows;
            let spend = w.withdraw_until.0.checked_add(self.policy.validity_days);
            let deposit = spend.and_then(|s| s.checked_add(self.policy.max_deposit_delay_days));
            if w.withdraw_from > w.withdraw_until
                || Some(w.spend_until.0) != spend
                || Some(w.deposit_until.0) != deposit
            {
                return Err(bad());
            }
            let expected = DenominationKey::new(k.y, k.value, k.windows);
            if expected.key_id != k.key_id || expected.z != k.z {
                return Err(bad());
            }
        }
        Ok(())
    }
}

/// A keyset document with the master key's signature on its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedKeyset {
    /// The document.
    pub document: KeysetDocument,
    /// The master key's signature on `keyset_id`.
    pub signature: Signature,
}

impl SignedKeyset {
    /// Verifies the document and its signature under `master_key` (the key the
    /// caller trusts, not the one the document names).
    pub fn verify(&self, master_key: &Point) -> Result<Keyset, KeysetError> {
        if self.document.master_key != *master_key {
            return Err(KeysetError::WrongMasterKey);
        }
        self.document.check()?;
        let id = self.document.id();
        self.signature
            .verify(labels::KEYSET_SIGNATURE, id.as_bytes(), master_key)
            .map_err(|_| KeysetError::BadSignature)?;
        Ok(Keyset { id, signed: self.clone() })
    }
}

/// A keyset whose signature and consistency have been checked.
///
/// # Invariant
/// Constructed only by [`SignedKeyset::verify`]; `id` is the document's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyset {
    id: KeysetId,
    signed: SignedKeyset,
}

impl Keyset {
    /// `keyset_id`.
    pub fn id(&self) -> KeysetId {
        self.id
    }
    /// The document.
    pub fn document(&self) -> &KeysetDocument {
        &self.signed.document
    }
    /// The signed form, for publication.
    pub fn signed(&self) -> &SignedKeyset {
        &self.signed
    }
    /// The bank's online signing key for this keyset (withdrawal
    /// commitments, deposit receipts).
    pub fn signing_key(&self) -> &Point {
        &self.signed.document.signing_key
    }
    /// The TTP key `Y_T`.
    pub fn ttp_key(&self) -> &Point {
        &self.signed.document.ttp_key
    }
    /// The policy.
    pub fn policy(&self) -> &KeysetPolicy {
        &self.signed.document.policy
    }
    /// The key with id `key_id`.
    pub fn key(&self, key_id: &KeyId) -> Option<&DenominationKey> {
        self.signed.document.keys.iter().find(|k| k.key_id == *key_id)
    }
    /// The key of denomination `value`.
    pub fn key_for_value(&self, value: u64) -> Option<&DenominationKey> {
        self.signed.document.keys.iter().find(|k| k.value == value)
    }
    /// The denominations, largest first.
    pub fn values_desc(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.signed.document.keys.iter().map(|k| k.value).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }
    /// Whether `next` directly extends this keyset in the bank's list.
    pub fn is_followed_by(&self, next: &Keyset) -> bool {
        next.document().previous == Some(self.id)
            && next.document().sequence == self.document().sequence + 1
            && next.document().master_key == self.document().master_key
    }
}

/// The keysets a verifier knows, looked up by id: a payment may carry
/// coins of several keysets, each verified under its own
/// (specs/protocol.md §8.4). One [`Keyset`] is the set holding only itself.
pub trait KeysetLookup {
    /// The keyset with id `id`, if known.
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset>;
}

impl KeysetLookup for Keyset {
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        (self.id == *id).then_some(self)
    }
}

impl KeysetLookup for [Keyset] {
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        self.iter().find(|k| k.id == *id)
    }
}

impl KeysetLookup for Vec<Keyset> {
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        self.as_slice().find_keyset(id)
    }
}

impl KeysetLookup for [&Keyset] {
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        self.iter().find(|k| k.id == *id).copied()
    }
}

impl KeysetLookup for Vec<&Keyset> {
    fn find_keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        self.as_slice().find_keyset(id)
    }
}

/// Why a keyset was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysetError {
    /// Made for other group parameters.
    #[error("keyset is for other parameters")]
    WrongParams,
    /// Not signed by the master key the caller trusts.
    #[error("keyset names another master key")]
    WrongMasterKey,
    /// The signature does not verify.
    #[error("keyset signature does not verify")]
    BadSignature,
    /// The master key or TTP key is the identity.
    #[error("keyset has an identity key")]
    IdentityKey,
    /// No denomination keys.
    #[error("keyset has no keys")]
    NoKeys,
    /// The online signing key is the master key.
    #[error("keyset's online signing key is its master key")]
    SharedSigningKey,
    /// Sequence and previous-keyset link disagree.
    #[error("keyset sequence and previous link disagree")]
    BadChain,
    /// A key is malformed (wrong id or `z`, not a power of two, windows off).
    #[error("keyset key {index} is malformed")]
    MalformedKey {
        /// Index of the key in the document.
        index: usize,
    },
}

/// The bank's secret keys: the master signing key, one online signing key
/// per keyset and one ACL key per denomination key ever issued.
#[derive(Clone, Serialize, Deserialize)]
pub struct BankSecrets {
    master: SigningKey,
    online: Vec<SigningKey>,
    #[serde(deserialize_with = "crate::crypto::secret::deserialize_nonzero_pairs")]
    denominations: Vec<(KeyId, SecretScalar)>,
}

impl std::fmt::Debug for BankSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankSecrets")
            .field("master", &self.master.public())
            .field("online", &self.online.len())
            .field("denominations", &self.denominations.len())
            .finish_non_exhaustive()
    }
}

/// What a new keyset should contain.
#[derive(Clone, Debug)]
pub struct KeysetSpec {
    /// Denominations as exponents: value `2^e` for each `e`.
    pub exponents: std::ops::RangeInclusive<u32>,
    /// First withdrawal day.
    pub withdraw_from: Day,
    /// Number of days withdrawals are open.
    pub withdraw_days: u32,
    /// Validity and deposit delay.
    pub policy: KeysetPolicy,
}

impl KeysetSpec {
    /// The windows every key of a keyset issued from this spec has.
    pub fn windows(&self) -> KeyWindows {
        let withdraw_until = self.withdraw_from.plus(self.withdraw_days.saturating_sub(1));
        let spend_until = withdraw_until.plus(self.policy.validity_days);
        KeyWindows {
            withdraw_from: self.withdraw_from,
            withdraw_until,
            spend_until,
            deposit_until: spend_until.plus(self.policy.max_deposit_delay_days),
        }
    }
}

impl BankSecrets {
    /// A fresh master key and no denomination keys.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        BankSecrets { master: SigningKey::generate(rng), online: Vec::new(), denominations: Vec::new() }
    }

    /// The master public key.
    pub fn master_public(&self) -> &Point {
        self.master.public()
    }

    /// The online signing key whose public key is `public` (a keyset's
    /// [`Keyset::signing_key`]).
    pub fn online_signing_key(&self, public: &Point) -> Option<&SigningKey> {
        self.online.iter().find(|k| k.public() == public)
    }

    /// The secret `x_k` of a denomination key.
    pub fn denomination_secret(&self, key_id: &KeyId) -> Option<&SecretScalar> {
        self.denominations.iter().find(|(id, _)| id == key_id).map(|(_, x)| x)
    }

    /// Creates and signs the next keyset, extending `previous`.
    pub fn issue_keyset(
        &mut self,
        previous: Option<&Keyset>,
        ttp_key: Point,
        spec: &KeysetSpec,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Keyset, KeysetError> {
        let p = Params::get();
        if spec.exponents.is_empty() || *spec.exponents.end() > 62 || spec.withdraw_days == 0 {
            return Err(KeysetError::NoKeys);
        }
        let windows = spec.windows();
        let online = SigningKey::generate(rng);
        let mut keys = Vec::new();
        for e in spec.exponents.clone() {
            let x = SecretScalar::random_nonzero(rng);
            let y = Point::new(p.g.point() * x.expose_secret());
            let key = DenominationKey::new(y, 1u64 << e, windows);
            self.denominations.push((key.key_id, x));
            keys.push(key);
        }
        let document = KeysetDocument {
            params_id: p.id,
            sequence: previous.map_or(0, |k| k.document().sequence + 1),
            previous: previous.map(|k| k.id()),
            master_key: *self.master.public(),
            signing_key: *online.public(),
            ttp_key,
            issued: spec.withdraw_from,
            policy: spec.policy,
            keys,
        };
        let id = document.id();
        let signature = self.master.sign(labels::KEYSET_SIGNATURE, id.as_bytes(), rng);
        let keyset = SignedKeyset { document, signature }.verify(self.master.public())?;
        self.online.push(online);
        Ok(keyset)
    }

    /// The master key, for signing bank statements.
    pub fn master(&self) -> &SigningKey {
        &self.master
    }
}

/// A user's long-term secret `u` and identity `I = u·G`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "KeySecret", into = "SecretScalar")]
pub struct UserKey {
    u: SecretScalar,
    identity: Point,
}

impl UserKey {
    /// A fresh user key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from(SecretScalar::random_nonzero(rng))
    }
    /// `I = u·G`.
    pub fn identity(&self) -> &Point {
        &self.identity
    }
    /// `u`.
    pub fn expose_secret(&self) -> &Scalar {
        self.u.expose_secret()
    }
    /// The account id the bank files this user under.
    pub fn account_id(&self) -> AccountId {
        user_account_id(&self.identity)
    }
}

impl TryFrom<KeySecret> for UserKey {
    type Error = ZeroKey;
    fn try_from(k: KeySecret) -> Result<Self, ZeroKey> {
        Ok(Self::from(k.nonzero()?))
    }
}

impl From<SecretScalar> for UserKey {
    fn from(u: SecretScalar) -> Self {
        let identity = Point::new(Params::get().g.point() * u.expose_secret());
        UserKey { u, identity }
    }
}

impl From<UserKey> for SecretScalar {
    fn from(k: UserKey) -> Self {
        k.u.clone()
    }
}

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKey").field("identity", &self.identity).field("u", &"<redacted>").finish()
    }
}

/// An account's authentication key: a Schnorr key apart from `u`.
///
/// Every account operation (a withdrawal challenge, a reservation, a key
/// rotation, reading the account's records; specs/protocol.md §7.3) is
/// signed with it. `u` is the identity that coins escrow and a double spend
/// reveals; the authentication key is never revealed by any protocol
/// message, so an account stays the holder's even when its `u` is public.
/// Zeroized on drop; `Debug` prints `<redacted>`; no `Display`, no `PartialEq`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthKey(SigningKey);

impl AuthKey {
    /// A fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        AuthKey(SigningKey::generate(rng))
    }
    /// The public key `A = a·G` the bank stores for the account.
    pub fn public(&self) -> &Point {
        self.0.public()
    }
    /// `a`, for proofs of possession.
    pub fn expose_secret(&self) -> &Scalar {
        self.0.expose_secret()
    }
    /// Signs `message` under the domain `label`.
    pub fn sign(&self, label: &'static [u8], message: &[u8], rng: &mut impl CryptoRngCore) -> Signature {
        self.0.sign(label, message, rng)
    }
    /// The key as a signing key, for the messages an account signs as a
    /// payee (its deposit requests, specs/protocol.md §9.1).
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl From<SecretScalar> for AuthKey {
    fn from(s: SecretScalar) -> Self {
        AuthKey(SigningKey::from_secret(s))
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey").field("public", self.0.public()).field("secret", &"<redacted>").finish()
    }
}

/// Everything a wallet holds to act for one bank account: the account id,
/// the current identity key `u` (`I = u·G`), the authentication key, and
/// the identity keys the account was re-keyed away from (kept to spend the
/// coins withdrawn under them; the bank never accepts them again).
///
/// The account id is fixed at registration (`user_account_id` of the first
/// `I`); re-keying changes the identity and the authentication key, not the
/// account.
#[derive(Clone)]
pub struct AccountKeys {
    account: AccountId,
    identity: UserKey,
    auth: AuthKey,
    retired: Vec<UserKey>,
}

impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKeys")
            .field("account", &self.account)
            .field("identity", self.identity.identity())
            .field("auth_key", self.auth.public())
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

impl AccountKeys {
    /// Fresh keys for a new account (its id is derived from the identity).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::for_new_account(UserKey::generate(rng), AuthKey::generate(rng))
    }

    /// The keys of a new account with identity `identity` and
    /// authentication key `auth`.
    pub fn for_new_account(identity: UserKey, auth: AuthKey) -> Self {
        AccountKeys { account: identity.account_id(), identity, auth, retired: Vec::new() }
    }

    /// Keys of an existing account (read back from storage).
    pub fn new(account: AccountId, identity: UserKey, auth: AuthKey, retired: Vec<UserKey>) -> Self {
        AccountKeys { account, identity, auth, retired }
    }

    /// The account id.
    pub fn account(&self) -> AccountId {
        self.account
    }
    /// The current identity key (`u`, `I`).
    pub fn identity(&self) -> &UserKey {
        &self.identity
    }
    /// The authentication key.
    pub fn auth(&self) -> &AuthKey {
        &self.auth
    }
    /// Identity keys the account was re-keyed away from, oldest first.
    pub fn retired(&self) -> &[UserKey] {
        &self.retired
    }
    /// Every identity key, current first (to find the one a coin carries).
    pub fn all_identities(&self) -> impl Iterator<Item = &UserKey> {
        std::iter::once(&self.identity).chain(self.retired.iter().rev())
    }

    /// The keys after a re-key to `identity` and `auth`: the current
    /// identity joins the retired ones.
    pub fn rekeyed(&self, identity: UserKey, auth: AuthKey) -> AccountKeys {
        let mut retired = self.retired.clone();
        retired.push(self.identity.clone());
        AccountKeys { account: self.account, identity, auth, retired }
    }

    /// The keys with the authentication key replaced.
    pub fn with_auth(&self, auth: AuthKey) -> AccountKeys {
        AccountKeys { auth, ..self.clone() }
    }
}

fn account_id(label: &'static [u8], key: &Point) -> AccountId {
    let mut t = Params::get().transcript(label);
    t.append_point(b"public-key", key);
    let d = t.challenge_digest(b"account-id");
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    AccountId(id)
}

/// The account id of the user with identity `I`.
pub fn user_account_id(identity: &Point) -> AccountId {
    account_id(labels::USER_ACCOUNT_ID, identity)
}

/// The account id of the merchant with key `M`.
pub fn merchant_account_id(key: &Point) -> AccountId {
    account_id(labels::MERCHANT_ACCOUNT_ID, key)
}

impl WireMessage for SignedKeyset {
    const KIND: MessageKind = MessageKind::SignedKeyset;
    const MAX_BYTES: usize = 256 + MAX_KEYS_PER_KEYSET * 160;
    fn check(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "master_key", &self.document.master_key)?;
        non_identity(w, "signing_key", &self.document.signing_key)?;
        non_identity(w, "ttp_key", &self.document.ttp_key)?;
        for k in &self.document.keys {
            non_identity(w, "y_k", &k.y)?;
            non_identity(w, "z_k", &k.z)?;
        }
        Ok(())
    }
}

/// Most keysets in a published list.
pub const MAX_KEYSETS: usize = 1024;

/// The bank's published keyset list, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysetList {
    /// The signed keysets.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, SignedKeyset, MAX_KEYSETS>"
    )]
    pub keysets: Vec<SignedKeyset>,
}

impl WireMessage for KeysetList {
    const KIND: MessageKind = MessageKind::KeysetList;
    const MAX_BYTES: usize = 64 + MAX_KEYSETS * <SignedKeyset as WireMessage>::MAX_BYTES;
    fn check(&self) -> Result<(), DecodeError> {
        self.keysets.iter().try_for_each(WireMessage::check)
    }
}

impl KeysetList {
    /// Verifies every keyset under `master_key` and that they form one chain
    /// from sequence 0.
    pub fn verify(&self, master_key: &Point) -> Result<Vec<Keyset>, KeysetError> {
        let mut out: Vec<Keyset> = Vec::with_capacity(self.keysets.len());
        for s in &self.keysets {
            let k = s.verify(master_key)?;
            match out.last() {
                None if k.document().sequence != 0 => return Err(KeysetError::BadChain),
                Some(prev) if !prev.is_followed_by(&k) => return Err(KeysetError::BadChain),
                _ => {}
            }
            out.push(k);
        }
        Ok(out)
    }
}

/// A public key and what it is for (an operator's file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    /// What the key is for, e.g. `warrant-issuer`, `bank-master`.
    #[serde(
        serialize_with = "crate::encoding::bounded_str::serialize",
        deserialize_with = "crate::encoding::bounded_str::deserialize::<_, 64>"
    )]
    pub purpose: String,
    /// The key.
    pub key: Point,
}

impl WireMessage for PublicKeyFile {
    const KIND: MessageKind = MessageKind::PublicKey;
    const MAX_BYTES: usize = 128;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "key", &self.key)
    }
}
