//! The trusted third party (trustee): decrypts an escrow only on a valid
//! warrant for a valid record, proves the decryption, and logs it first
//! (specs/tracing.md).

use std::sync::Arc;

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::group_signature::GroupSigningKey;
use crate::crypto::secret::{KeySecret, SecretScalar, ZeroKey};
use crate::encoding::Point;
use crate::keys::{Keyset, SignedKeyset};
use crate::params::Params;
use crate::protocol::trace::{
    verify_log, LogEntry, LogHead, TraceError, TraceKind, TraceRequest, TraceResult, TtpPublicKeys,
};
use crate::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement, TtpStatementError, TtpValidity};
use crate::store::{StoreError, TtpStore};
use crate::time::{Clock, Timestamp};

/// The TTP's decryption key `x_T` and public key `Y_T = x_T·G`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "KeySecret", into = "SecretScalar")]
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
    pub fn expose_secret(&self) -> &Scalar {
        self.secret.expose_secret()
    }
}

impl TryFrom<KeySecret> for TtpKey {
    type Error = ZeroKey;
    fn try_from(k: KeySecret) -> Result<Self, ZeroKey> {
        Ok(Self::from(k.nonzero()?))
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
        f.debug_struct("TtpKey").field("public", &self.public).field("secret", &"<redacted>").finish()
    }
}

/// The TTP's secret keys: the decryption key and the group signing key
/// (RFC 9591 only: it signs key statements, results and log heads, and
/// nothing else).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtpKeys {
    /// `x_T`.
    pub decryption: TtpKey,
    /// Signs key statements, results and log heads.
    #[serde(rename = "group_signing")]
    pub signing: GroupSigningKey,
}

impl TtpKeys {
    /// Fresh keys.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        TtpKeys { decryption: TtpKey::generate(rng), signing: GroupSigningKey::generate(rng) }
    }

    /// The public keys.
    pub fn public(&self) -> TtpPublicKeys {
        TtpPublicKeys { decryption: *self.decryption.public(), signing: *self.signing.public() }
    }

    /// The signed key statement of this single TTP (`t = 1`, one trustee),
    /// for wallets and merchants to pin and banks to name in keysets.
    pub fn statement(
        &self,
        sequence: u64,
        validity: TtpValidity,
        issued: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SignedTtpKeyStatement, TtpStatementError> {
        let statement = TtpKeyStatement::single(
            sequence,
            *self.decryption.public(),
            *self.signing.public(),
            validity,
            issued,
        );
        SignedTtpKeyStatement::sign(statement, &self.signing, rng)
    }
}

/// The TTP over its audit log.
pub struct Ttp<S: TtpStore> {
    keys: TtpKeys,
    trusted_issuers: Vec<Point>,
    keysets: Vec<Keyset>,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: TtpStore> std::fmt::Debug for Ttp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ttp")
            .field("public", &self.keys.public())
            .field("trusted_issuers", &self.trusted_issuers.len())
            .finish_non_exhaustive()
    }
}

impl<S: TtpStore> Ttp<S> {
    /// A TTP with `keys` over the log `store`.
    pub fn new(keys: TtpKeys, store: S, clock: Arc<dyn Clock>) -> Self {
        Ttp { keys, trusted_issuers: Vec::new(), keysets: Vec::new(), store, clock }
    }

    /// The public keys (`Y_T` goes into bank keysets).
    pub fn public_keys(&self) -> TtpPublicKeys {
        self.keys.public()
    }

    /// `Y_T`.
    pub fn public_key(&self) -> &Point {
        self.keys.decryption.public()
    }

    /// The log store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Trusts warrants signed by `issuer`.
    pub fn trust_issuer(&mut self, issuer: Point) {
        if !self.trusted_issuers.contains(&issuer) {
            self.trusted_issuers.push(issuer);
        }
    }

    /// Learns a bank's keysets (verified under the bank's master key), so it
    /// can check records.
    pub fn add_keysets(
        &mut self,
        list: &[SignedKeyset],
        master_key: &Point,
    ) -> Result<(), crate::keys::KeysetError> {
        for s in list {
            let k = s.verify(master_key)?;
            if !self.keysets.iter().any(|x| x.id() == k.id()) {
                self.keysets.push(k);
            }
        }
        Ok(())
    }

    /// Runs a trace: checks the warrant (issuer trusted, signature, validity,
    /// kind, record digest, never used), checks the record verifies under a
    /// known keyset escrowed to this TTP, decrypts, proves, signs, and appends
    /// the log entry durably before returning the result.
    pub fn trace(&self, req: &TraceRequest, rng: &mut impl CryptoRngCore) -> Result<TraceResult, TraceError> {
        let now = self.clock.now();
        let warrant = &req.warrant;
        warrant.authorize(&self.trusted_issuers, &req.record, now)?;
        if self.store.warrant_used(&warrant.warrant_id)? {
            return Err(TraceError::WarrantReused);
        }
        let keyset = self
            .keysets
            .iter()
            .find(|k| k.id() == req.record.keyset_id())
            .ok_or(TraceError::UnknownKeyset)?;
        if keyset.ttp_key() != self.keys.decryption.public() {
            return Err(TraceError::WrongTtpKey);
        }
        let ct = req.record.verify(keyset, rng)?;
        let record_digest = req.record.digest();
        let warrant_digest = warrant.digest();
        let request_digest = req.digest();
        for _ in 0..16 {
            let entries = self.store.entries()?;
            let index = entries.len() as u64;
            let previous = entries.last().map_or([0u8; 32], LogEntry::hash);
            let result = TraceResult::create(
                req.record.kind(),
                index,
                record_digest,
                warrant_digest,
                ct,
                self.keys.decryption.expose_secret(),
                self.keys.public(),
                &self.keys.signing,
                rng,
            );
            let entry = LogEntry {
                index,
                previous,
                time: now,
                warrant_id: warrant.warrant_id,
                kind: req.record.kind(),
                request_digest,
                warrant_digest,
                result_digest: result.digest(),
            };
            match self.store.append(&entry) {
                Ok(()) => return Ok(result),
                Err(StoreError::Conflict("warrant id")) => return Err(TraceError::WarrantReused),
                Err(StoreError::Conflict(_)) => continue, // another trace took the index
                Err(e) => return Err(e.into()),
            }
        }
        Err(TraceError::Store(StoreError::Retry))
    }

    /// Owner tracing: [`Ttp::trace`] for a request that must be of that kind.
    pub fn trace_owner(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceResult, TraceError> {
        self.expect_kind(req, TraceKind::Owner)?;
        self.trace(req, rng)
    }

    /// Coin tracing: [`Ttp::trace`] for a request that must be of that kind.
    pub fn trace_coin(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceResult, TraceError> {
        self.expect_kind(req, TraceKind::Coin)?;
        self.trace(req, rng)
    }

    fn expect_kind(&self, req: &TraceRequest, kind: TraceKind) -> Result<(), TraceError> {
        if req.record.kind() != kind {
            return Err(TraceError::WarrantKindMismatch { warrant: req.warrant.kind, request: kind });
        }
        Ok(())
    }

    /// Signs the current log head, for auditors to keep.
    pub fn log_head(&self, rng: &mut impl CryptoRngCore) -> Result<LogHead, TraceError> {
        let entries = self.store.entries()?;
        Ok(LogHead::sign(&entries, self.clock.now(), &self.keys.signing, rng))
    }

    /// Verifies the whole log against previously published heads.
    pub fn verify_log(&self, heads: &[LogHead]) -> Result<[u8; 32], TraceError> {
        let entries = self.store.entries()?;
        Ok(verify_log(&entries, heads, self.keys.signing.public())?)
    }
}
