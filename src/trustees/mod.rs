//! Threshold trustees (specs/tracing.md §9): the TTP as `n` trustees of
//! which any `t` act together, and no one alone can.
//!
//! | module | what |
//! |---|---|
//! | [`dkg`] | the DKG ceremony as signed round files (commit, reveal, sealed shares, echo or complaint), its transcript, the key shares, aborted ceremonies |
//!
//! Two separate ceremonies give the group its decryption key `Y_T` and its
//! signing key; nobody ever holds either secret. [`Trustee`] is one trustee
//! over its own store: it checks a warrant and a record exactly as the
//! single TTP does ([`crate::roles::TraceGate`]), appends to its own
//! hash-chained log, and returns a proven decryption share
//! ([`crate::protocol::trace::TraceShare`]); anyone combines `t` of them
//! ([`crate::protocol::trace::combine_shares`]). Each trustee's log head is
//! signed with its own identity key.

pub mod dkg;

use std::sync::Arc;

use rand_core::CryptoRngCore;

use self::dkg::{KeyPurpose, KeyShare};
use crate::crypto::group_signature::GroupSigningKey;
use crate::encoding::Point;
use crate::keys::SignedKeyset;
use crate::protocol::trace::{verify_log, LogHead, TraceError, TraceKind, TraceRequest, TraceShare};
use crate::roles::ttp::{decrypt_share, expect_kind};
use crate::roles::TraceGate;
use crate::store::TrusteeStore;
use crate::time::Clock;

/// Why a trustee cannot be set up with a key share.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a trustee's decryption key share: {0}")]
pub struct KeyShareMismatch(pub &'static str);

/// One trustee over its store (hash-chained log, aborted ceremonies).
pub struct Trustee<S: TrusteeStore> {
    identity: GroupSigningKey,
    decryption: KeyShare,
    verification_share: Point,
    gate: TraceGate,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: TrusteeStore> std::fmt::Debug for Trustee<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trustee")
            .field("id", &self.decryption.id)
            .field("identity", self.identity.public())
            .finish_non_exhaustive()
    }
}

impl<S: TrusteeStore> Trustee<S> {
    /// A trustee with its identity key and its share of the decryption key
    /// (from a decryption-key ceremony, [`dkg`]).
    pub fn new(
        identity: GroupSigningKey,
        decryption: KeyShare,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyShareMismatch> {
        if decryption.purpose != KeyPurpose::Decryption {
            return Err(KeyShareMismatch("a share of the group signing key"));
        }
        let verification_share = *decryption
            .verification_share()
            .ok_or(KeyShareMismatch("no verification share of this trustee"))?;
        if *verification_share.point()
            != crate::params::Params::get().g.point() * decryption.secret.expose_secret()
        {
            return Err(KeyShareMismatch("the share does not match its verification share"));
        }
        Ok(Trustee { identity, decryption, verification_share, gate: TraceGate::default(), store, clock })
    }

    /// This trustee's identifier.
    pub fn id(&self) -> u16 {
        self.decryption.id
    }

    /// Its identity key (signs its round files and its log heads).
    pub fn identity(&self) -> &Point {
        self.identity.public()
    }

    /// Its store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Trusts warrants signed by `issuer`.
    pub fn trust_issuer(&mut self, issuer: Point) {
        self.gate.trust_issuer(issuer);
    }

    /// Learns a bank's keysets.
    pub fn add_keysets(
        &mut self,
        list: &[SignedKeyset],
        master: &Point,
    ) -> Result<(), crate::keys::KeysetError> {
        self.gate.add_keysets(list, master)
    }

    /// A decryption share for a trace request: the request is checked
    /// exactly as the single TTP checks it ([`TraceGate::admit`], under
    /// `Y_T`), then `D_i = x_i·c1` is proven and its log entry appended
    /// durably before the share is returned.
    pub fn decrypt_share(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceShare, TraceError> {
        decrypt_share(
            &self.gate,
            &self.store,
            self.clock.now(),
            &self.decryption.group_key,
            self.id(),
            self.decryption.secret.expose_secret(),
            &self.verification_share,
            req,
            rng,
        )
    }

    /// [`Trustee::decrypt_share`] for a request that must be owner tracing.
    pub fn owner_share(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceShare, TraceError> {
        expect_kind(req, TraceKind::Owner)?;
        self.decrypt_share(req, rng)
    }

    /// [`Trustee::decrypt_share`] for a request that must be coin tracing.
    pub fn coin_share(
        &self,
        req: &TraceRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TraceShare, TraceError> {
        expect_kind(req, TraceKind::Coin)?;
        self.decrypt_share(req, rng)
    }

    /// Its own log head, signed with its identity key.
    pub fn log_head(&self, rng: &mut impl CryptoRngCore) -> Result<LogHead, TraceError> {
        let entries = self.store.entries()?;
        Ok(LogHead::sign(&entries, self.clock.now(), &self.identity, rng))
    }

    /// Verifies its log against heads it published.
    pub fn verify_log(&self, heads: &[LogHead]) -> Result<[u8; 32], TraceError> {
        let entries = self.store.entries()?;
        Ok(verify_log(&entries, heads, self.identity.public())?)
    }
}
