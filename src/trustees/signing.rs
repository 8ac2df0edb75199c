//! FROST signatures of the trustees as a group (specs/tracing.md §9.4): RFC
//! 9591 two-round signing with `frost_ristretto255` over the group signing
//! key of a DKG of its own, on the same message a single TTP signs alone
//! (`group_signature::signed_message(label, digest)`), so verifiers have one
//! path.
//!
//! A coordinator writes a [`SigningRequest`] (a fresh session id, the
//! signers, and what is signed: a key statement naming the group's keys,
//! or a threshold trace result with the request it answers). Each signer
//! checks what it signs (the statement names its group's keys; the result
//! verifies against its request and the group's verification shares),
//! commits ([`SigningCommitment`]; its nonces are stored, single-use) and,
//! given every signer's commitment, takes its nonces out of its store
//! (erased durably before the share is computed) and answers with a
//! [`SignatureShare`]. [`aggregate`] makes the signature
//! and names a signer whose share is wrong.

use std::collections::BTreeMap;

use frost_ristretto255 as frost;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::dkg::{DkgOutcome, KeyPurpose, KeyShare};
use crate::crypto::group_signature::{signed_message, GroupSignature};
use crate::crypto::secret::SecretBytes;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::Point;
use crate::params::Params;
use crate::protocol::trace::{Decryption, TraceRequest, TraceResult};
use crate::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement, MAX_TRUSTEES};
use crate::store::{StoreError, TrusteeStore};
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// What the trustees sign as a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // a message signed once per session, held briefly
pub enum GroupMessage {
    /// A TTP key statement naming the group's keys.
    KeyStatement(TtpKeyStatement),
    /// A threshold trace result (its signature a placeholder) with the
    /// request it answers: every signer checks the result against the
    /// request before it signs, and so sees its plaintext
    /// (specs/tracing.md §9.6).
    TraceResult(Box<ResultToSign>),
}

/// A trace result to sign, with the request (record and warrant) it
/// answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultToSign {
    /// The trace request the shares answered.
    pub request: TraceRequest,
    /// The combined result ([`crate::protocol::trace::Combined::unsigned_result`]).
    pub result: TraceResult,
}

/// A request for a FROST signature of the trustees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningRequest {
    /// A fresh random id: a session is signed once.
    #[serde(with = "crate::encoding::hex32")]
    pub session_id: [u8; 16],
    /// The signers, by ascending identifier (at least `t`).
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, u16, MAX_TRUSTEES>"
    )]
    pub signers: Vec<u16>,
    /// What is signed.
    pub message: GroupMessage,
}

impl WireMessage for SigningRequest {
    const KIND: MessageKind = MessageKind::SigningRequest;
    const MAX_BYTES: usize = 256
        + MAX_TRUSTEES * 3
        + <TraceRequest as WireMessage>::MAX_BYTES
        + <TraceResult as WireMessage>::MAX_BYTES;
    fn check(&self) -> Result<(), DecodeError> {
        match &self.message {
            GroupMessage::KeyStatement(s) => {
                non_identity(Self::what(), "decryption_key", &s.decryption_key)?;
                non_identity(Self::what(), "signing_key", &s.signing_key)?;
                s.trustees
                    .iter()
                    .try_for_each(|k| non_identity(Self::what(), "verification_share", &k.verification_share))
            }
            GroupMessage::TraceResult(r) => {
                r.request.check()?;
                r.result.check_unsigned_fields()?;
                let reason = if !matches!(r.result.decryption, Decryption::Threshold { .. }) {
                    "the trustees sign threshold results"
                } else if r.result.signature != GroupSignature::placeholder() {
                    "a result to sign carries the placeholder signature (O, 0)"
                } else {
                    return Ok(());
                };
                Err(DecodeError::InvalidField {
                    what: Self::what(),
                    field: "message.result",
                    reason: reason.into(),
                })
            }
        }
    }
}

/// A signer's round-1 commitment `(D, E)` (RFC 9591 hiding and binding
/// nonce commitments) for a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningCommitment {
    /// The session digest ([`SigningRequest::session`]).
    #[serde(with = "crate::encoding::hex32")]
    pub session: [u8; 32],
    /// The signer.
    pub trustee: u16,
    /// The hiding nonce commitment.
    pub hiding: Point,
    /// The binding nonce commitment.
    pub binding: Point,
}

impl WireMessage for SigningCommitment {
    const KIND: MessageKind = MessageKind::SigningCommitment;
    const MAX_BYTES: usize = 128;
    fn check(&self) -> Result<(), DecodeError> {
        non_identity(Self::what(), "hiding", &self.hiding)?;
        non_identity(Self::what(), "binding", &self.binding)
    }
}

/// A signer's round-2 signature share `z_i`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureShare {
    /// The session digest.
    #[serde(with = "crate::encoding::hex32")]
    pub session: [u8; 32],
    /// The signer.
    pub trustee: u16,
    /// `z_i`.
    #[serde(with = "crate::encoding::scalar")]
    pub share: curve25519_dalek::scalar::Scalar,
}

impl WireMessage for SignatureShare {
    const KIND: MessageKind = MessageKind::SignatureShare;
    const MAX_BYTES: usize = 96;
}

/// Why a signing step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// This trustee is not among the request's signers, or holds no signing
    /// key share.
    #[error("trustee {0} is not a signer of this request")]
    NotASigner(u16),
    /// Fewer than `t` signers, or signers outside the group.
    #[error("signers: {0}")]
    Signers(String),
    /// The commitments or shares given are not those of this session's signers.
    #[error("signing round files: {0}")]
    Files(String),
    /// This session's nonces were made before: a session commits once.
    #[error("signing session committed before; start a new session")]
    SessionUsed,
    /// This session's nonces are gone (used, or never made here): a nonce is
    /// never used twice.
    #[error("no unused nonces for this signing session; start a new session")]
    NoNonces,
    /// The signer refused what it was asked to sign.
    #[error("refused to sign: {0}")]
    Refused(String),
    /// A signature share does not verify: its signer is named.
    #[error("trustee {0}'s signature share is wrong")]
    BadShare(u16),
    /// frost refused.
    #[error("frost: {0}")]
    Frost(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SigningRequest {
    /// A request with a fresh session id; `signers` sorted.
    pub fn new(mut signers: Vec<u16>, message: GroupMessage, rng: &mut impl CryptoRngCore) -> Self {
        signers.sort_unstable();
        signers.dedup();
        let mut session_id = [0u8; 16];
        rng.fill_bytes(&mut session_id);
        SigningRequest { session_id, signers, message }
    }

    /// The domain label and digest signed.
    pub fn signed_digest(&self) -> (&'static [u8], [u8; 32]) {
        match &self.message {
            GroupMessage::KeyStatement(s) => (labels::TTP_KEY_STATEMENT_SIGNATURE, s.digest()),
            GroupMessage::TraceResult(r) => (labels::TRACE_RESULT_SIGNATURE, r.result.digest()),
        }
    }

    /// The session digest every round file names: the session id, the
    /// signers, the label and the digest signed.
    pub fn session(&self, label: &[u8], digest: &[u8; 32]) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::GROUP_SIGNING_REQUEST);
        t.append_message(b"session-id", &self.session_id);
        t.append_u64(b"signers", self.signers.len() as u64);
        for s in &self.signers {
            t.append_u64(b"signer", u64::from(*s));
        }
        t.append_message(b"label", label);
        t.append_message(b"digest", digest);
        t.challenge_digest(b"session-digest")
    }

    fn check_signers(&self, group: &[u16], threshold: u16) -> Result<(), SigningError> {
        if self.signers.len() < usize::from(threshold) {
            return Err(SigningError::Signers(format!(
                "{} signer(s), the group signs with {threshold}",
                self.signers.len()
            )));
        }
        if self.signers.windows(2).any(|w| w[0] >= w[1]) || self.signers.iter().any(|s| !group.contains(s)) {
            return Err(SigningError::Signers("signers must be distinct trustees of the group".into()));
        }
        Ok(())
    }
}

fn frost_id(id: u16) -> Result<frost::Identifier, SigningError> {
    frost::Identifier::try_from(id).map_err(|e| SigningError::Frost(e.to_string()))
}

fn frost_err(e: impl std::fmt::Display) -> SigningError {
    SigningError::Frost(e.to_string())
}

/// The signing package: every signer's commitment (exactly the request's
/// signers, for this session) and the signed message.
fn signing_package(
    request: &SigningRequest,
    session: &[u8; 32],
    message: &[u8],
    commitments: &[SigningCommitment],
) -> Result<frost::SigningPackage, SigningError> {
    let mut map = BTreeMap::new();
    for c in commitments {
        if c.session != *session {
            return Err(SigningError::Files(format!(
                "trustee {}'s commitment is for another session",
                c.trustee
            )));
        }
        if !request.signers.contains(&c.trustee) {
            return Err(SigningError::Files(format!(
                "trustee {} is not a signer of this session",
                c.trustee
            )));
        }
        let value = frost::round1::SigningCommitments::new(
            frost::round1::NonceCommitment::deserialize(c.hiding.as_bytes()).map_err(frost_err)?,
            frost::round1::NonceCommitment::deserialize(c.binding.as_bytes()).map_err(frost_err)?,
        );
        if let Some(prev) = map.insert(frost_id(c.trustee)?, value) {
            if prev != value {
                return Err(SigningError::Files(format!("trustee {} gave two commitments", c.trustee)));
            }
        }
    }
    if map.len() != request.signers.len() {
        return Err(SigningError::Files("a signer's commitment is missing".into()));
    }
    Ok(frost::SigningPackage::new(map, message))
}

fn group_ids(share: &KeyShare) -> Vec<u16> {
    share.verification_shares.iter().map(|k| k.id).collect()
}

/// Round 1 of a signer: makes its nonces, keeps them in `store` under the
/// session (refused if the session was opened before) and returns its
/// commitment. The caller has checked what is signed.
pub fn commit(
    store: &impl TrusteeStore,
    key: &KeyShare,
    request: &SigningRequest,
    session: &[u8; 32],
    rng: &mut impl CryptoRngCore,
) -> Result<SigningCommitment, SigningError> {
    if key.purpose != KeyPurpose::Signing || !request.signers.contains(&key.id) {
        return Err(SigningError::NotASigner(key.id));
    }
    request.check_signers(&group_ids(key), key.threshold)?;
    let package = key.frost_key_package().map_err(SigningError::Frost)?;
    let (nonces, commitments) = frost::round1::commit(package.signing_share(), rng);
    let bytes = SecretBytes::new(nonces.serialize().map_err(frost_err)?);
    match store.put_nonces(session, &bytes) {
        Err(StoreError::Conflict(_)) => return Err(SigningError::SessionUsed),
        r => r?,
    }
    let point = |c: &frost::round1::NonceCommitment| -> Result<Point, SigningError> {
        let b = c.serialize().map_err(frost_err)?;
        <[u8; 32]>::try_from(b.as_slice())
            .ok()
            .and_then(|b| Point::from_bytes(&b))
            .ok_or(SigningError::Frost("commitment".into()))
    };
    Ok(SigningCommitment {
        session: *session,
        trustee: key.id,
        hiding: point(commitments.hiding())?,
        binding: point(commitments.binding())?,
    })
}

/// Round 2 of a signer: checks the commitments, then takes its nonces out
/// of `store` (erased durably before the share exists, so they are never
/// used twice) and returns its signature share of `label`/`digest`.
pub fn sign(
    store: &impl TrusteeStore,
    key: &KeyShare,
    request: &SigningRequest,
    label: &'static [u8],
    digest: &[u8; 32],
    commitments: &[SigningCommitment],
) -> Result<SignatureShare, SigningError> {
    if key.purpose != KeyPurpose::Signing || !request.signers.contains(&key.id) {
        return Err(SigningError::NotASigner(key.id));
    }
    let session = request.session(label, digest);
    let package = signing_package(request, &session, &signed_message(label, digest), commitments)?;
    let key_package = key.frost_key_package().map_err(SigningError::Frost)?;
    let stored = store.take_nonces(&session)?.ok_or(SigningError::NoNonces)?;
    let nonces = frost::round1::SigningNonces::deserialize(stored.expose_secret()).map_err(frost_err)?;
    let share = frost::round2::sign(&package, &nonces, &key_package).map_err(frost_err)?;
    let bytes = Zeroizing::new(share.serialize());
    let share = <[u8; 32]>::try_from(bytes.as_slice())
        .ok()
        .and_then(crate::encoding::scalar::decode)
        .ok_or(SigningError::Frost("signature share encoding".into()))?;
    Ok(SignatureShare { session, trustee: key.id, share })
}

/// Aggregates the signature shares into the group signature on
/// `label`/`digest` under the signing DKG's outcome; a wrong share is named.
pub fn aggregate(
    group: &DkgOutcome,
    request: &SigningRequest,
    label: &'static [u8],
    digest: &[u8; 32],
    commitments: &[SigningCommitment],
    shares: &[SignatureShare],
) -> Result<GroupSignature, SigningError> {
    if group.purpose != KeyPurpose::Signing {
        return Err(SigningError::Signers(
            "the transcript is of a decryption key, not the signing key".into(),
        ));
    }
    let ids: Vec<u16> = group.verification_shares.iter().map(|k| k.id).collect();
    request.check_signers(&ids, group.threshold)?;
    let session = request.session(label, digest);
    let package = signing_package(request, &session, &signed_message(label, digest), commitments)?;
    let mut map = BTreeMap::new();
    for s in shares {
        if s.session != session || !request.signers.contains(&s.trustee) {
            return Err(SigningError::Files(format!(
                "trustee {}'s share is not for this session",
                s.trustee
            )));
        }
        let share = frost::round2::SignatureShare::deserialize(s.share.as_bytes()).map_err(frost_err)?;
        map.insert(frost_id(s.trustee)?, share);
    }
    if map.len() != request.signers.len() {
        return Err(SigningError::Files("a signer's share is missing".into()));
    }
    let public = group.frost_public_package().map_err(SigningError::Frost)?;
    let signature = frost::aggregate(&package, &map, &public).map_err(|e| match e {
        frost::Error::InvalidSignatureShare { culprits } => {
            let who = culprits
                .first()
                .and_then(|c| request.signers.iter().copied().find(|s| frost_id(*s).ok() == Some(*c)))
                .unwrap_or(0);
            SigningError::BadShare(who)
        }
        other => frost_err(other),
    })?;
    let signature = GroupSignature::from_frost(&signature);
    signature.verify(label, digest, &group.group_key).map_err(|_| SigningError::Frost("aggregate".into()))?;
    Ok(signature)
}

/// Aggregates the signature shares and attaches the signature to the
/// statement signed; the signed statement verifies. A request to sign
/// anything else is [`SigningError::Files`].
pub fn finish(
    group: &DkgOutcome,
    request: &SigningRequest,
    commitments: &[SigningCommitment],
    shares: &[SignatureShare],
) -> Result<SignedTtpKeyStatement, SigningError> {
    let GroupMessage::KeyStatement(s) = &request.message else {
        return Err(SigningError::Files("the session signs no key statement".into()));
    };
    let (label, digest) = request.signed_digest();
    let signature = aggregate(group, request, label, &digest, commitments, shares)?;
    let signed = SignedTtpKeyStatement { statement: s.clone(), signature };
    signed.verify().map_err(|e| SigningError::Refused(e.to_string()))?;
    Ok(signed)
}

/// Aggregates the signature shares of a trace-result session and attaches
/// the group signature to the result; the result verifies against the
/// pinned `statement` (specs/tracing.md §9.6). A session that signs
/// anything else is [`SigningError::Files`].
pub fn finish_result(
    group: &DkgOutcome,
    statement: &TtpKeyStatement,
    request: &SigningRequest,
    commitments: &[SigningCommitment],
    shares: &[SignatureShare],
) -> Result<TraceResult, SigningError> {
    let GroupMessage::TraceResult(r) = &request.message else {
        return Err(SigningError::Files("the session signs no trace result".into()));
    };
    let (label, digest) = request.signed_digest();
    let signature = aggregate(group, request, label, &digest, commitments, shares)?;
    let result = TraceResult { signature, ..r.result.clone() };
    result
        .verify(statement, &r.request.record, &r.request.warrant)
        .map_err(|e| SigningError::Refused(e.to_string()))?;
    Ok(result)
}
