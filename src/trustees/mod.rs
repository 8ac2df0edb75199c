//! Threshold trustees (specs/tracing.md §9): the TTP as `n` trustees of
//! which any `t` act together, and no one alone can.
//!
//! | module | what |
//! |---|---|
//! | [`dkg`] | the DKG ceremony as signed round files (commit, reveal, sealed shares, echo or complaint), its transcript, the key shares, aborted ceremonies |
//! | [`signing`] | FROST signatures of the group (its key statements), nonces single-use |
//!
//! Two separate ceremonies give the group its decryption key `Y_T` and its
//! signing key; nobody ever holds either secret. [`Trustee`] is one trustee
//! over its own store: it checks a warrant and a record exactly as the
//! single TTP does ([`crate::roles::TraceGate`]), appends to its own
//! hash-chained log, and returns a proven decryption share
//! ([`crate::protocol::trace::TraceShare`]); anyone combines `t` of them
//! ([`crate::protocol::trace::combine_shares`]). Each trustee's log head is
//! signed with its own identity key; the group signs with FROST rounds.

pub mod dkg;
pub mod signing;

use std::sync::Arc;

use rand_core::CryptoRngCore;

use self::dkg::{KeyPurpose, KeyShare};
use self::signing::{GroupMessage, SignatureShare, SigningCommitment, SigningError, SigningRequest};
use crate::crypto::group_signature::GroupSigningKey;
use crate::encoding::Point;
use crate::keys::SignedKeyset;
use crate::protocol::trace::{
    verify_log, Decryption, LogHead, TraceError, TraceKind, TraceRequest, TraceShare, TtpPublicKeys,
};
use crate::protocol::trust::TtpKeyStatement;
use crate::roles::ttp::{decrypt_share, expect_kind};
use crate::roles::TraceGate;
use crate::store::TrusteeStore;
use crate::time::Clock;

/// Why key shares, or a statement, do not fit a trustee.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the key shares or statement do not fit this trustee: {0}")]
pub struct KeyShareMismatch(pub &'static str);

/// Whether `statement` names exactly the keys of the two ceremonies whose
/// shares are `decryption` and `signing`: `Y_T`, `t`, every `Y_i`, and the
/// group signing key.
pub fn statement_matches(
    statement: &TtpKeyStatement,
    decryption: &KeyShare,
    signing: &KeyShare,
) -> Result<(), KeyShareMismatch> {
    if decryption.purpose != KeyPurpose::Decryption || signing.purpose != KeyPurpose::Signing {
        return Err(KeyShareMismatch("key purposes"));
    }
    if statement.decryption_key != decryption.group_key {
        return Err(KeyShareMismatch("decryption key"));
    }
    if statement.threshold != decryption.threshold {
        return Err(KeyShareMismatch("threshold"));
    }
    if statement.trustees != decryption.verification_shares {
        return Err(KeyShareMismatch("verification shares"));
    }
    if statement.signing_key != signing.group_key {
        return Err(KeyShareMismatch("group signing key"));
    }
    Ok(())
}

/// One trustee over its store (hash-chained log, aborted ceremonies).
pub struct Trustee<S: TrusteeStore> {
    identity: GroupSigningKey,
    decryption: KeyShare,
    signing: KeyShare,
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
    /// A trustee with its identity key and its shares of the decryption key
    /// and of the group signing key (from two ceremonies, [`dkg`], of the
    /// same trustees, in which it has the same identifier).
    pub fn new(
        identity: GroupSigningKey,
        decryption: KeyShare,
        signing: KeyShare,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyShareMismatch> {
        if decryption.purpose != KeyPurpose::Decryption || signing.purpose != KeyPurpose::Signing {
            return Err(KeyShareMismatch("key purposes"));
        }
        if decryption.id != signing.id
            || decryption
                .verification_shares
                .iter()
                .map(|k| k.id)
                .ne(signing.verification_shares.iter().map(|k| k.id))
        {
            return Err(KeyShareMismatch("the decryption and signing keys are of different trustees"));
        }
        let verification_share = *decryption
            .verification_share()
            .ok_or(KeyShareMismatch("no verification share of this trustee"))?;
        if *verification_share.point()
            != crate::params::Params::get().g.point() * decryption.secret.expose_secret()
        {
            return Err(KeyShareMismatch("the share does not match its verification share"));
        }
        Ok(Trustee {
            identity,
            decryption,
            signing,
            verification_share,
            gate: TraceGate::default(),
            store,
            clock,
        })
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

    /// What this trustee agrees to sign: a key statement that checks and
    /// names exactly its group's keys, or a threshold trace result under a
    /// warrant it accepts (issuer, signature, validity) that verifies, but for its signature,
    /// against its request and the group's keys (specs/tracing.md §9.6: the
    /// signer sees the plaintext). Returns the label and digest signed.
    pub fn check_request(&self, request: &SigningRequest) -> Result<(&'static [u8], [u8; 32]), SigningError> {
        match &request.message {
            GroupMessage::KeyStatement(s) => {
                statement_matches(s, &self.decryption, &self.signing)
                    .map_err(|e| SigningError::Refused(e.to_string()))?;
                s.check().map_err(|e| SigningError::Refused(e.to_string()))?;
            }
            GroupMessage::TraceResult(r) => {
                let warrant = &r.request.warrant;
                warrant
                    .authorize(self.gate.trusted_issuers(), &r.request.record, self.clock.now())
                    .map_err(|e| SigningError::Refused(e.to_string()))?;
                if !matches!(r.result.decryption, Decryption::Threshold { .. }) {
                    return Err(SigningError::Refused("the trustees sign threshold results".into()));
                }
                let keys =
                    TtpPublicKeys { decryption: self.decryption.group_key, signing: self.signing.group_key };
                r.result
                    .check_unsigned(
                        &keys,
                        self.decryption.threshold,
                        &self.decryption.verification_shares,
                        &r.request.record,
                        warrant,
                    )
                    .map_err(|e| SigningError::Refused(e.to_string()))?;
            }
        }
        Ok(request.signed_digest())
    }

    /// FROST round 1 for a request it agrees to sign: its nonces are kept
    /// in its store (a session commits once) and their commitments returned.
    pub fn sign_commit(
        &self,
        request: &SigningRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SigningCommitment, SigningError> {
        let (label, digest) = self.check_request(request)?;
        signing::commit(&self.store, &self.signing, request, &request.session(label, &digest), rng)
    }

    /// FROST round 2: its signature share, its nonces erased from its store
    /// durably before the share is computed.
    pub fn sign_share(
        &self,
        request: &SigningRequest,
        commitments: &[SigningCommitment],
    ) -> Result<SignatureShare, SigningError> {
        let (label, digest) = self.check_request(request)?;
        signing::sign(&self.store, &self.signing, request, label, &digest, commitments)
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

/// Runs both FROST rounds of `request` with `signers`, all in this process
/// (a demo, a test): every signer checks what it signs and commits, then
/// every signer answers with its share. Returns the commitments and the
/// shares, for [`signing::finish`] or [`signing::finish_result`].
pub fn sign_locally<S: TrusteeStore>(
    signers: &[&Trustee<S>],
    request: &SigningRequest,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<SigningCommitment>, Vec<SignatureShare>), SigningError> {
    let commitments = signers.iter().map(|t| t.sign_commit(request, rng)).collect::<Result<Vec<_>, _>>()?;
    let shares =
        signers.iter().map(|t| t.sign_share(request, &commitments)).collect::<Result<Vec<_>, _>>()?;
    Ok((commitments, shares))
}
