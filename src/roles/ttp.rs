//! The trusted third party (trustee): decrypts an escrow only on a valid
//! warrant for a valid record, proves the decryption, and logs it first
//! (specs/tracing.md).

use std::sync::Arc;

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::elgamal::Ciphertext;
use crate::crypto::group_signature::GroupSigningKey;
use crate::crypto::secret::{KeySecret, SecretScalar, ZeroKey};
use crate::encoding::Point;
use crate::keys::{Keyset, SignedKeyset};
use crate::params::Params;
use crate::protocol::trace::{
    verify_log, LogEntry, LogHead, ShareContext, ShareEvidence, TraceError, TraceKind, TraceRequest,
    TraceResult, TraceShare, TtpPublicKeys,
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

/// What a single TTP and every trustee check before they decrypt anything
/// (specs/tracing.md §4 steps 1–8): the warrant issuers they trust and the
/// bank keysets they know. One implementation for both, so a trustee checks
/// a warrant and a record exactly as the single TTP does.
#[derive(Clone, Debug, Default)]
pub struct TraceGate {
    trusted_issuers: Vec<Point>,
    keysets: Vec<Keyset>,
}

impl TraceGate {
    /// Trusts warrants signed by `issuer`.
    pub fn trust_issuer(&mut self, issuer: Point) {
        if !self.trusted_issuers.contains(&issuer) {
            self.trusted_issuers.push(issuer);
        }
    }

    /// The trusted issuers.
    pub fn trusted_issuers(&self) -> &[Point] {
        &self.trusted_issuers
    }

    /// Learns a bank's keysets (verified under the bank's master key), so
    /// records can be checked.
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

    /// Checks a trace request at `now` for the decryption key `Y_T`: the
    /// warrant (issuer trusted, signature, validity, kind, record digest,
    /// never used in `log`), the record's keyset (known, escrowing under
    /// `Y_T`) and the record itself (it verifies: never a decryption oracle).
    /// Returns the ciphertext to decrypt.
    pub fn admit(
        &self,
        req: &TraceRequest,
        now: Timestamp,
        decryption_key: &Point,
        log: &impl TtpStore,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Ciphertext, TraceError> {
        let warrant = &req.warrant;
        warrant.authorize(&self.trusted_issuers, &req.record, now)?;
        if log.warrant_used(&warrant.warrant_id)? {
            return Err(TraceError::WarrantReused);
        }
        let keyset_id = req
            .record
            .keyset_id()
            .ok_or_else(|| TraceError::InvalidRecord("coin index out of range".into()))?;
        let keyset = self.keysets.iter().find(|k| k.id() == keyset_id).ok_or(TraceError::UnknownKeyset)?;
        if keyset.ttp_key() != decryption_key {
            return Err(TraceError::WrongTtpKey);
        }
        req.record.verify(&self.keysets, rng)
    }
}

/// Makes the answer to an admitted request at the log's next index and
/// appends its log entry durably before returning it (specs/tracing.md §4
/// steps 9–11): `make(index)` returns the answer and the digest the entry
/// records. A concurrent trace that took the index makes it try the next.
pub(crate) fn log_and_answer<T>(
    log: &impl TtpStore,
    req: &TraceRequest,
    now: Timestamp,
    mut make: impl FnMut(u64) -> (T, [u8; 32]),
) -> Result<T, TraceError> {
    let warrant_digest = req.warrant.digest();
    let request_digest = req.digest();
    for _ in 0..16 {
        let entries = log.entries()?;
        let index = entries.len() as u64;
        let previous = entries.last().map_or([0u8; 32], LogEntry::hash);
        let (answer, result_digest) = make(index);
        let entry = LogEntry {
            index,
            previous,
            time: now,
            warrant_id: req.warrant.warrant_id,
            kind: req.record.kind(),
            request_digest,
            warrant_digest,
            result_digest,
        };
        match log.append(&entry) {
            Ok(()) => return Ok(answer),
            Err(StoreError::Conflict("warrant id")) => return Err(TraceError::WarrantReused),
            Err(StoreError::Conflict(_)) => continue, // another trace took the index
            Err(e) => return Err(e.into()),
        }
    }
    Err(TraceError::Store(StoreError::Retry))
}

/// A decryption share of trustee `id` (key share `x_i`, `Y_i = x_i·G`, of
/// the group key `group_key`) for `req` at `now`: the request is admitted
/// by `gate` exactly as for a single TTP, then `D_i = x_i·c1` is proven and
/// its log entry (recording the share's digest) appended durably before
/// the share is returned (specs/tracing.md §9.2). One implementation for
/// every trustee and for the single TTP (`id` 1, `x_1 = x_T`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decrypt_share(
    gate: &TraceGate,
    log: &impl TtpStore,
    now: Timestamp,
    group_key: &Point,
    id: u16,
    x_i: &Scalar,
    verification_share: &Point,
    req: &TraceRequest,
    rng: &mut impl CryptoRngCore,
) -> Result<TraceShare, TraceError> {
    let ciphertext = gate.admit(req, now, group_key, log, rng)?;
    let context =
        ShareContext { record_digest: req.record.digest(), warrant_digest: req.warrant.digest(), ciphertext };
    log_and_answer(log, req, now, |index| {
        let evidence = ShareEvidence::create(id, x_i, verification_share, &context, index, rng);
        let share = TraceShare {
            kind: req.record.kind(),
            record_digest: context.record_digest,
            warrant_digest: context.warrant_digest,
            ciphertext,
            verification_share: *verification_share,
            evidence,
        };
        let digest = share.digest();
        (share, digest)
    })
}

/// The TTP over its audit log.
pub struct Ttp<S: TtpStore> {
    keys: TtpKeys,
    gate: TraceGate,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: TtpStore> std::fmt::Debug for Ttp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ttp")
            .field("public", &self.keys.public())
            .field("trusted_issuers", &self.gate.trusted_issuers().len())
            .finish_non_exhaustive()
    }
}

impl<S: TtpStore> Ttp<S> {
    /// A TTP with `keys` over the log `store`.
    pub fn new(keys: TtpKeys, store: S, clock: Arc<dyn Clock>) -> Self {
        Ttp { keys, gate: TraceGate::default(), store, clock }
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
        self.gate.trust_issuer(issuer);
    }

    /// Learns a bank's keysets (verified under the bank's master key), so it
    /// can check records.
    pub fn add_keysets(
        &mut self,
        list: &[SignedKeyset],
        master_key: &Point,
    ) -> Result<(), crate::keys::KeysetError> {
        self.gate.add_keysets(list, master_key)
    }

    /// Runs a trace: checks the request ([`TraceGate::admit`]), decrypts,
    /// proves, signs, and appends the log entry durably before returning the
    /// result.
    pub fn trace(&self, req: &TraceRequest, rng: &mut impl CryptoRngCore) -> Result<TraceResult, TraceError> {
        let now = self.clock.now();
        let ct = self.gate.admit(req, now, self.keys.decryption.public(), &self.store, rng)?;
        let record_digest = req.record.digest();
        let warrant_digest = req.warrant.digest();
        log_and_answer(&self.store, req, now, |index| {
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
            let digest = result.digest();
            (result, digest)
        })
    }

    /// The single TTP's decryption share for `req` (trustee 1 of its key
    /// statement, `t = n = 1`): the same checks and log entry as
    /// [`Ttp::trace`], answered the way every trustee answers, so
    /// [`crate::protocol::trace::combine_shares`] serves one TTP and `t` of
    /// `n` trustees alike.
    pub fn decrypt_share(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceShare, TraceError> {
        let y = self.keys.decryption.public();
        decrypt_share(
            &self.gate,
            &self.store,
            self.clock.now(),
            y,
            1,
            self.keys.decryption.expose_secret(),
            y,
            req,
            rng,
        )
    }

    /// Owner tracing: [`Ttp::trace`] for a request that must be of that kind.
    pub fn trace_owner(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceResult, TraceError> {
        expect_kind(req, TraceKind::Owner)?;
        self.trace(req, rng)
    }

    /// Coin tracing: [`Ttp::trace`] for a request that must be of that kind.
    pub fn trace_coin(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceResult, TraceError> {
        expect_kind(req, TraceKind::Coin)?;
        self.trace(req, rng)
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

/// Refuses a request that is not of `kind`.
pub(crate) fn expect_kind(req: &TraceRequest, kind: TraceKind) -> Result<(), TraceError> {
    if req.record.kind() != kind {
        return Err(TraceError::WarrantKindMismatch { warrant: req.warrant.kind, request: kind });
    }
    Ok(())
}
