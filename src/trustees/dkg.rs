//! Distributed key generation among the trustees (specs/tracing.md §9.1):
//! frost's Pedersen DKG (`frost_ristretto255::keys::dkg::{part1, part2,
//! part3}`) wrapped in faircash's own versioned messages, with what frost
//! assumes of its channel made explicit:
//!
//! 1. **commit**: every trustee signs the digest of its round-1 package
//!    (Feldman commitments, proof of knowledge, and a fresh Diffie–Hellman
//!    key `P_i` for this ceremony) before anyone reveals one;
//! 2. **reveal**: every trustee reveals its package, which must hash to its
//!    commitment;
//! 3. **shares**: every trustee seals the share `f_i(j)` of every other
//!    trustee `j` under a key from `d_i·P_j` (ChaCha20-Poly1305, HKDF-SHA512)
//!    and signs all sealed shares in one file, which everyone receives;
//! 4. **echo or complaint**: every trustee opens its shares and checks them
//!    (frost's `part3`); if all hold it signs the digest of every round-1
//!    package, `Y` and every `Y_i`; if one does not, it complains, revealing
//!    `K = d_j·P_i` with a Chaum–Pedersen proof, so anyone can open that share
//!    and decide who lied.
//!
//! Every round file ([`DkgMessage`]) is signed by its sender's identity key
//! (RFC 9591) over the ceremony digest (ceremony id, purpose, `t`, `n`, the
//! identifiers and identity keys), the round and the payload. The ceremony
//! completes ([`complete`]) only when all `n` echoes agree; otherwise it fails
//! with a [`DkgError`] naming the misbehaving trustee, and trustees record
//! the abort ([`DkgAbort`]). The public [`DkgTranscript`] lets anyone
//! recompute `Y` and every `Y_i`.
//!
//! Nobody ever holds the group secret: each trustee ends with its share
//! `x_i` ([`KeyShare`]).

use std::collections::BTreeMap;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use frost_ristretto255 as frost;
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::group_signature::{GroupSignature, GroupSigningKey};
use crate::crypto::schnorr::{Proof, Relation};
use crate::crypto::seal::{SealKey, TAG_BYTES};
use crate::crypto::secret::{SecretBytes, SecretScalar};
use crate::crypto::threshold::evaluate_in_exponent;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::Point;
use crate::params::{Params, ParamsId};
use crate::protocol::trust::{TrusteeKey, MAX_TRUSTEES};
use crate::store::{StoreResult, TrusteeStore};
use crate::time::Timestamp;
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// Bytes of a sealed round-2 share: a 32-byte scalar and the tag.
pub const SEALED_SHARE_BYTES: usize = 32 + TAG_BYTES;

/// Which key a ceremony makes. The two never coincide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyPurpose {
    /// The decryption key `Y_T` (escrows are made under it).
    Decryption,
    /// The group signing key (FROST signatures on statements and results).
    Signing,
}

impl KeyPurpose {
    fn tag(self) -> u64 {
        match self {
            KeyPurpose::Decryption => 1,
            KeyPurpose::Signing => 2,
        }
    }
}

impl std::fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyPurpose::Decryption => "decryption",
            KeyPurpose::Signing => "signing",
        })
    }
}

/// A trustee taking part: its identifier and identity key (which signs its
/// round files and its own log heads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The identifier `i` (nonzero).
    pub id: u16,
    /// The trustee's identity key (RFC 9591).
    pub identity: Point,
}

/// A DKG ceremony: what every round file is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceremony {
    /// The parameters.
    pub params_id: ParamsId,
    /// A fresh random id.
    #[serde(with = "crate::encoding::hex32")]
    pub ceremony_id: [u8; 16],
    /// Decryption or signing key.
    pub purpose: KeyPurpose,
    /// `t`.
    pub threshold: u16,
    /// The `n` trustees, by ascending identifier.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Participant, MAX_TRUSTEES>"
    )]
    pub participants: Vec<Participant>,
}

impl WireMessage for Ceremony {
    const KIND: MessageKind = MessageKind::DkgCeremony;
    const MAX_BYTES: usize = 128 + MAX_TRUSTEES * 40;
    fn check(&self) -> Result<(), DecodeError> {
        self.participants.iter().try_for_each(|p| non_identity(Self::what(), "identity", &p.identity))
    }
}

/// Why a DKG step, or the ceremony, failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DkgError {
    /// The ceremony itself is not acceptable.
    #[error("DKG ceremony: {0}")]
    Ceremony(&'static str),
    /// A trustee not in the ceremony, or an identity key not its own.
    #[error("trustee {0} does not take part in this ceremony with this identity key")]
    NotParticipant(u16),
    /// A round file of another ceremony.
    #[error("a round file of trustee {0} belongs to another ceremony")]
    OtherCeremony(u16),
    /// A round file whose signature does not verify under its sender's
    /// identity key (forged or altered; it names no one).
    #[error("a round file claiming to be from trustee {0} is not signed by its identity key")]
    BadSignature(u16),
    /// A round file of this round is missing: the trustee is unavailable.
    #[error("trustee {trustee}'s {round} file is missing")]
    Missing {
        /// The trustee.
        trustee: u16,
        /// The round.
        round: &'static str,
    },
    /// A trustee signed two different files for one round.
    #[error("trustee {trustee} signed two different {round} files")]
    Equivocation {
        /// The trustee.
        trustee: u16,
        /// The round.
        round: &'static str,
    },
    /// A trustee broke the protocol, provably.
    #[error("trustee {trustee} misbehaved: {reason}")]
    Misbehaved {
        /// The trustee.
        trustee: u16,
        /// What it did.
        reason: String,
    },
    /// A trustee's echo differs from what the round-1 packages give.
    #[error("trustee {0}'s echo differs from the key the round-1 packages give")]
    EchoMismatch(u16),
    /// This trustee's state does not allow the step asked for.
    #[error("DKG step out of order: {0}")]
    Step(&'static str),
    /// frost refused.
    #[error("frost: {0}")]
    Frost(String),
}

impl DkgError {
    /// The trustee the failure is attributed to, if any.
    pub fn culprit(&self) -> Option<u16> {
        match self {
            DkgError::Missing { trustee, .. }
            | DkgError::Equivocation { trustee, .. }
            | DkgError::Misbehaved { trustee, .. } => Some(*trustee),
            DkgError::EchoMismatch(t) => Some(*t),
            _ => None,
        }
    }
}

fn misbehaved(trustee: u16, reason: impl Into<String>) -> DkgError {
    DkgError::Misbehaved { trustee, reason: reason.into() }
}

fn identifier(id: u16) -> Result<frost::Identifier, DkgError> {
    frost::Identifier::try_from(id).map_err(|e| DkgError::Frost(e.to_string()))
}

impl Ceremony {
    /// A ceremony with a fresh id; checked.
    pub fn new(
        purpose: KeyPurpose,
        threshold: u16,
        mut participants: Vec<Participant>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, DkgError> {
        participants.sort_by_key(|p| p.id);
        let mut ceremony_id = [0u8; 16];
        rng.fill_bytes(&mut ceremony_id);
        let c = Ceremony { params_id: Params::get().id, ceremony_id, purpose, threshold, participants };
        c.check()?;
        Ok(c)
    }

    /// `n`.
    pub fn n(&self) -> usize {
        self.participants.len()
    }

    /// Checks the parameters, `2 <= t <= n <= 64` (one trustee is the
    /// single-key TTP, which needs no DKG), identifiers nonzero and strictly
    /// ascending, identity keys not `O` and distinct.
    pub fn check(&self) -> Result<(), DkgError> {
        if self.params_id != Params::get().id {
            return Err(DkgError::Ceremony("made for other parameters"));
        }
        let n = self.participants.len();
        if self.threshold < 2 || usize::from(self.threshold) > n || n > MAX_TRUSTEES {
            return Err(DkgError::Ceremony(
                "needs 2 <= t <= n <= 64 (a single trustee is a TTP with one key: `ttp keygen`)",
            ));
        }
        if self.participants[0].id == 0 || self.participants.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(DkgError::Ceremony("identifiers must be nonzero and distinct"));
        }
        for (k, p) in self.participants.iter().enumerate() {
            if p.identity.is_identity() || self.participants[..k].iter().any(|q| q.identity == p.identity) {
                return Err(DkgError::Ceremony("identity keys must be distinct and not the identity"));
            }
        }
        Ok(())
    }

    /// The ceremony digest: what every round file is bound to.
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::DKG_CEREMONY);
        t.append_message(b"params-id", self.params_id.as_bytes());
        t.append_message(b"ceremony-id", &self.ceremony_id);
        t.append_u64(b"purpose", self.purpose.tag());
        t.append_u64(b"threshold", u64::from(self.threshold));
        t.append_u64(b"trustees", self.participants.len() as u64);
        for p in &self.participants {
            t.append_u64(b"trustee-id", u64::from(p.id));
            t.append_point(b"identity", &p.identity);
        }
        t.challenge_digest(b"ceremony-digest")
    }

    fn identity(&self, id: u16) -> Option<&Point> {
        self.participants.iter().find(|p| p.id == id).map(|p| &p.identity)
    }
}

/// A trustee's round-1 package: frost's Feldman commitments `C_0..C_{t-1}`
/// to its polynomial and its proof of knowledge of `f_i(0)` (an RFC 9591
/// style signature `(R, z)` with frost's DKG challenge), and its
/// Diffie–Hellman key `P_i` for this ceremony.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Round1Package {
    /// `C_k = a_k·G`, `t` of them.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Point, MAX_TRUSTEES>"
    )]
    pub commitments: Vec<Point>,
    /// frost's proof of knowledge of `a_0`.
    pub proof_of_knowledge: GroupSignature,
    /// `P_i = d_i·G`: round-2 shares to and from this trustee are sealed
    /// under keys from it.
    pub dh_key: Point,
}

impl Round1Package {
    fn from_frost(p: &frost::keys::dkg::round1::Package, dh_key: Point) -> Result<Self, DkgError> {
        let commitments = p
            .commitment()
            .serialize()
            .map_err(|e| DkgError::Frost(e.to_string()))?
            .iter()
            .map(|b| {
                <[u8; 32]>::try_from(b.as_slice())
                    .ok()
                    .and_then(|b| Point::from_bytes(&b))
                    .ok_or(DkgError::Frost("commitment encoding".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Round1Package {
            commitments,
            proof_of_knowledge: GroupSignature::from_frost(p.proof_of_knowledge()),
            dh_key,
        })
    }

    fn to_frost(&self) -> Result<frost::keys::dkg::round1::Package, String> {
        let commitment = frost::keys::VerifiableSecretSharingCommitment::deserialize(
            self.commitments.iter().map(|c| *c.as_bytes()).collect::<Vec<[u8; 32]>>(),
        )
        .map_err(|e| e.to_string())?;
        let pok =
            frost::Signature::deserialize(&self.proof_of_knowledge.to_bytes()).map_err(|e| e.to_string())?;
        Ok(frost::keys::dkg::round1::Package::new(commitment, pok))
    }

    /// The digest a trustee commits to in round 1.
    pub fn digest(&self, ceremony: &[u8; 32], sender: u16) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::DKG_ROUND1);
        t.append_message(b"ceremony", ceremony);
        t.append_u64(b"trustee-id", u64::from(sender));
        t.append_u64(b"commitments", self.commitments.len() as u64);
        for c in &self.commitments {
            t.append_point(b"C", c);
        }
        t.append_point(b"pok-R", &self.proof_of_knowledge.r);
        t.append_scalar(b"pok-z", &self.proof_of_knowledge.z);
        t.append_point(b"dh-key", &self.dh_key);
        t.challenge_digest(b"round1-digest")
    }

    /// Checks the package of `sender` for a ceremony of threshold `t`: `t`
    /// commitments, none `O`, and frost's proof of knowledge
    /// (`z·G = R + c·C_0`, `c = H(contextString || "dkg" || i || C_0 || R)`,
    /// computed here as frost does, so anyone can check a transcript).
    pub fn check(&self, sender: u16, threshold: u16) -> Result<(), DkgError> {
        if self.commitments.len() != usize::from(threshold) {
            return Err(misbehaved(sender, "round-1 package with a polynomial of the wrong degree"));
        }
        if self.commitments.iter().any(Point::is_identity) || self.dh_key.is_identity() {
            return Err(misbehaved(sender, "round-1 package with an identity element"));
        }
        use sha2::Digest;
        let id = identifier(sender)?;
        let mut h = sha2::Sha512::new();
        h.update(b"FROST-RISTRETTO255-SHA512-v1dkg");
        h.update(id.serialize());
        h.update(self.commitments[0].as_bytes());
        h.update(self.proof_of_knowledge.r.as_bytes());
        let c = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let g = Params::get().g;
        if g.point() * self.proof_of_knowledge.z
            != self.proof_of_knowledge.r.point() + self.commitments[0].point() * c
        {
            return Err(misbehaved(sender, "round-1 proof of knowledge does not verify"));
        }
        Ok(())
    }
}

/// A share `f_i(j)` sealed to its recipient `j`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedShare {
    /// The recipient `j`.
    pub recipient: u16,
    /// ChaCha20-Poly1305 of the 32-byte scalar, with its tag.
    #[serde(with = "crate::encoding::hex32")]
    pub sealed: [u8; SEALED_SHARE_BYTES],
}

/// The echo: what a trustee saw and computed, signed before the key is
/// published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Echo {
    /// Digest of every round-1 package, `Y` and every `Y_i`
    /// ([`echo_digest`]).
    #[serde(with = "crate::encoding::hex32")]
    pub digest: [u8; 32],
    /// The group key `Y`.
    pub group_key: Point,
    /// Every trustee's verification share `Y_i`.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, TrusteeKey, MAX_TRUSTEES>"
    )]
    pub verification_shares: Vec<TrusteeKey>,
}

/// A complaint of the sender against `accused`, whose share did not open or
/// does not match its commitments: it reveals `K = d_j·P_i` and proves
/// `log_G P_j = log_{P_i} K`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complaint {
    /// The trustee complained about.
    pub accused: u16,
    /// `K = d_j·P_i`, the key material of the share from `accused`.
    pub shared_key: Point,
    /// `PoK{d_j: P_j = d_j·G ∧ K = d_j·P_i}`.
    pub proof: Proof,
}

/// What a round file carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum DkgPayload {
    /// Round 1a: the digest of the round-1 package.
    Commit(#[serde(with = "crate::encoding::hex32")] [u8; 32]),
    /// Round 1b: the package.
    Reveal(Round1Package),
    /// Round 2: one sealed share for every other trustee, by ascending
    /// recipient.
    Shares(
        #[serde(
            serialize_with = "crate::encoding::bounded::serialize",
            deserialize_with = "crate::encoding::bounded::deserialize::<_, SealedShare, MAX_TRUSTEES>"
        )]
        Vec<SealedShare>,
    ),
    /// Round 3: the echo.
    Echo(Echo),
    /// Round 3: a complaint instead of the echo.
    Complaint(Complaint),
}

/// The rounds, as named in errors and transcripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    Commit,
    Reveal,
    Shares,
    Final,
}

impl Round {
    fn name(self) -> &'static str {
        match self {
            Round::Commit => "commit",
            Round::Reveal => "reveal",
            Round::Shares => "shares",
            Round::Final => "echo",
        }
    }
}

impl DkgPayload {
    fn tag(&self) -> u64 {
        match self {
            DkgPayload::Commit(_) => 1,
            DkgPayload::Reveal(_) => 2,
            DkgPayload::Shares(_) => 3,
            DkgPayload::Echo(_) => 4,
            DkgPayload::Complaint(_) => 5,
        }
    }

    fn round(&self) -> Round {
        match self {
            DkgPayload::Commit(_) => Round::Commit,
            DkgPayload::Reveal(_) => Round::Reveal,
            DkgPayload::Shares(_) => Round::Shares,
            DkgPayload::Echo(_) | DkgPayload::Complaint(_) => Round::Final,
        }
    }
}

/// A round file: one trustee's message of one round, signed by its identity
/// key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgMessage {
    /// The ceremony digest.
    #[serde(with = "crate::encoding::hex32")]
    pub ceremony: [u8; 32],
    /// The sender's identifier.
    pub sender: u16,
    /// The round's content.
    pub payload: DkgPayload,
    /// The sender's identity signature on [`DkgMessage::digest`].
    pub signature: GroupSignature,
}

impl WireMessage for DkgMessage {
    const KIND: MessageKind = MessageKind::DkgMessage;
    const MAX_BYTES: usize = 8192;
    fn check(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        non_identity(w, "signature.r", &self.signature.r)?;
        match &self.payload {
            DkgPayload::Reveal(p) => {
                p.commitments.iter().try_for_each(|c| non_identity(w, "commitment", c))?;
                non_identity(w, "dh_key", &p.dh_key)
            }
            DkgPayload::Echo(e) => {
                non_identity(w, "group_key", &e.group_key)?;
                e.verification_shares
                    .iter()
                    .try_for_each(|k| non_identity(w, "verification_share", &k.verification_share))
            }
            _ => Ok(()),
        }
    }
}

impl DkgMessage {
    /// What the sender signs: the ceremony digest, the sender, the round and
    /// the payload's encoding (specs/wire.md §8).
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::DKG_MESSAGE);
        t.append_message(b"ceremony", &self.ceremony);
        t.append_u64(b"sender", u64::from(self.sender));
        t.append_u64(b"round", self.payload.tag());
        t.append_message(b"payload", &postcard::to_allocvec(&self.payload).unwrap_or_default());
        t.challenge_digest(b"message-digest")
    }

    fn sign(
        ceremony: &Ceremony,
        sender: u16,
        payload: DkgPayload,
        identity: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut m = DkgMessage {
            ceremony: ceremony.digest(),
            sender,
            payload,
            signature: GroupSignature::placeholder(),
        };
        m.signature = identity.sign(labels::DKG_MESSAGE_SIGNATURE, &m.digest(), rng);
        m
    }

    fn verify(&self, ceremony: &Ceremony, digest: &[u8; 32]) -> Result<(), DkgError> {
        if self.ceremony != *digest {
            return Err(DkgError::OtherCeremony(self.sender));
        }
        let key = ceremony.identity(self.sender).ok_or(DkgError::NotParticipant(self.sender))?;
        self.signature
            .verify(labels::DKG_MESSAGE_SIGNATURE, &self.digest(), key)
            .map_err(|_| DkgError::BadSignature(self.sender))
    }
}

/// The files of one round, one per trustee, in identifier order: signatures
/// checked, duplicates of one file merged, two different signed files of
/// one sender refused as equivocation, a missing one named.
fn collect<'a>(
    ceremony: &Ceremony,
    msgs: &'a [DkgMessage],
    round: Round,
) -> Result<Vec<&'a DkgMessage>, DkgError> {
    let digest = ceremony.digest();
    let mut by_sender: BTreeMap<u16, &DkgMessage> = BTreeMap::new();
    for m in msgs.iter().filter(|m| m.payload.round() == round) {
        m.verify(ceremony, &digest)?;
        match by_sender.get(&m.sender) {
            Some(prev) if *prev != m => {
                return Err(DkgError::Equivocation { trustee: m.sender, round: round.name() })
            }
            _ => {
                by_sender.insert(m.sender, m);
            }
        }
    }
    ceremony
        .participants
        .iter()
        .map(|p| {
            by_sender.get(&p.id).copied().ok_or(DkgError::Missing { trustee: p.id, round: round.name() })
        })
        .collect()
}

/// The recipient's view of a sealed share: key from `K`, bound to the
/// ceremony, the sender and the recipient.
fn share_key(ceremony: &[u8; 32], sender: u16, recipient: u16, shared: &Point) -> (SealKey, Vec<u8>) {
    let mut context = Vec::with_capacity(36);
    context.extend_from_slice(ceremony);
    context.extend_from_slice(&sender.to_le_bytes());
    context.extend_from_slice(&recipient.to_le_bytes());
    (SealKey::from_dh(labels::DKG_SHARE_KEY, shared, &context), context)
}

fn complaint_relation(complainant_key: &Point, accused_key: &Point, shared: &Point) -> Relation {
    let mut rel = Relation::new(b"dkg-complaint");
    let d = rel.witness(b"d_j");
    let g = rel.point(b"G", Params::get().g);
    let pj = rel.point(b"P_j", *complainant_key);
    let pi = rel.point(b"P_i", *accused_key);
    let k = rel.point(b"K", *shared);
    rel.equation(Some(pj), &[(d, g)]);
    rel.equation(Some(k), &[(d, pi)]);
    rel
}

fn complaint_transcript(ceremony: &[u8; 32], complainant: u16, accused: u16) -> Transcript {
    let mut t = Params::get().transcript(labels::DKG_COMPLAINT);
    t.append_message(b"ceremony", ceremony);
    t.append_u64(b"complainant", u64::from(complainant));
    t.append_u64(b"accused", u64::from(accused));
    t
}

/// The digest every trustee echoes: the ceremony, every round-1 package (by
/// its commitment digest), `Y` and every `Y_i`.
pub fn echo_digest(
    ceremony: &[u8; 32],
    round1: &[[u8; 32]],
    group_key: &Point,
    shares: &[TrusteeKey],
) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::DKG_ECHO);
    t.append_message(b"ceremony", ceremony);
    t.append_u64(b"packages", round1.len() as u64);
    for d in round1 {
        t.append_message(b"round1-digest", d);
    }
    t.append_point(b"group-key", group_key);
    t.append_u64(b"trustees", shares.len() as u64);
    for k in shares {
        t.append_u64(b"trustee-id", u64::from(k.id));
        t.append_point(b"verification-share", &k.verification_share);
    }
    t.challenge_digest(b"echo-digest")
}

/// `Y = Σ C_{i,0}` and `Y_j = Σ_i f_i(j)·G` from the round-1 packages.
fn keys_from_packages(ceremony: &Ceremony, packages: &[Round1Package]) -> (Point, Vec<TrusteeKey>) {
    let group = packages.iter().fold(RistrettoPoint::identity(), |acc, p| acc + p.commitments[0].point());
    let shares = ceremony
        .participants
        .iter()
        .map(|j| {
            let y = packages
                .iter()
                .fold(RistrettoPoint::identity(), |acc, p| acc + evaluate_in_exponent(&p.commitments, j.id));
            TrusteeKey { id: j.id, verification_share: Point::new(y) }
        })
        .collect();
    (Point::new(group), shares)
}

/// Checks rounds 1 and 2 of a whole ceremony as anyone can: every reveal
/// matches its commitment and its package checks, every shares file has one
/// sealed share per other trustee. Returns the packages in identifier order.
fn check_first_rounds(
    ceremony: &Ceremony,
    commits: &[&DkgMessage],
    reveals: &[&DkgMessage],
    shares: Option<&[&DkgMessage]>,
) -> Result<Vec<Round1Package>, DkgError> {
    let digest = ceremony.digest();
    let mut packages = Vec::with_capacity(reveals.len());
    for (c, r) in commits.iter().zip(reveals) {
        let (DkgPayload::Commit(committed), DkgPayload::Reveal(p)) = (&c.payload, &r.payload) else {
            unreachable!("collect returns files of the round asked for")
        };
        if p.digest(&digest, r.sender) != *committed {
            return Err(misbehaved(
                r.sender,
                "revealed a round-1 package other than the one it committed to",
            ));
        }
        p.check(r.sender, ceremony.threshold)?;
        packages.push(p.clone());
    }
    for m in shares.unwrap_or(&[]) {
        let DkgPayload::Shares(list) = &m.payload else {
            unreachable!("collect returns files of the round asked for")
        };
        let expected: Vec<u16> =
            ceremony.participants.iter().map(|p| p.id).filter(|&id| id != m.sender).collect();
        if list.iter().map(|s| s.recipient).ne(expected.iter().copied()) {
            return Err(misbehaved(
                m.sender,
                "shares file without exactly one share for every other trustee",
            ));
        }
    }
    Ok(packages)
}

fn sealed_for(shares: &DkgMessage, recipient: u16) -> &[u8; SEALED_SHARE_BYTES] {
    let DkgPayload::Shares(list) = &shares.payload else { unreachable!("a shares file") };
    &list.iter().find(|s| s.recipient == recipient).expect("checked: one share per recipient").sealed
}

/// Decides a complaint (anyone can): the complaint's proof must verify,
/// then the share is opened with the revealed key and checked against the
/// accused's commitments. Returns the trustee at fault.
fn adjudicate(
    ceremony: &Ceremony,
    complainant: u16,
    complaint: &Complaint,
    packages: &[Round1Package],
    shares: &[&DkgMessage],
) -> DkgError {
    let digest = ceremony.digest();
    let pos = |id: u16| ceremony.participants.iter().position(|p| p.id == id);
    let (Some(j), Some(i)) = (pos(complainant), pos(complaint.accused)) else {
        return misbehaved(complainant, "complaint against a trustee not in the ceremony");
    };
    if i == j {
        return misbehaved(complainant, "complaint against itself");
    }
    let rel = complaint_relation(&packages[j].dh_key, &packages[i].dh_key, &complaint.shared_key);
    let mut t = complaint_transcript(&digest, complainant, complaint.accused);
    if rel.verify(&mut t, &complaint.proof, &mut rand::rngs::OsRng).is_err() {
        return misbehaved(complainant, "complaint whose key proof does not verify");
    }
    let accused = complaint.accused;
    let (key, aad) = share_key(&digest, accused, complainant, &complaint.shared_key);
    let Ok(plain) = key.open(&aad, sealed_for(shares[i], complainant)) else {
        return misbehaved(accused, format!("its share for trustee {complainant} does not open"));
    };
    let share = <[u8; 32]>::try_from(plain.as_slice()).ok().and_then(crate::encoding::scalar::decode);
    let Some(share) = share.map(Zeroizing::new) else {
        return misbehaved(accused, format!("its share for trustee {complainant} is not a scalar"));
    };
    if Params::get().g.point() * *share != evaluate_in_exponent(&packages[i].commitments, complainant) {
        return misbehaved(
            accused,
            format!("its share for trustee {complainant} does not match its commitments"),
        );
    }
    misbehaved(complainant, format!("false complaint against trustee {accused}"))
}

/// The signed complaint of `me` against `accused`: `K = d_me·P_accused`
/// with its proof.
#[allow(clippy::too_many_arguments)]
fn complaint_message(
    c: &Ceremony,
    me: u16,
    packages: &[Round1Package],
    mine: usize,
    dh_secret: &SecretScalar,
    accused: u16,
    identity: &GroupSigningKey,
    rng: &mut impl CryptoRngCore,
) -> DkgMessage {
    let digest = c.digest();
    let i = c.participants.iter().position(|p| p.id == accused).expect("a participant");
    let shared = Point::new(packages[i].dh_key.point() * dh_secret.expose_secret());
    let rel = complaint_relation(&packages[mine].dh_key, &packages[i].dh_key, &shared);
    let mut t = complaint_transcript(&digest, me, accused);
    let proof = rel.prove(&mut t, &[dh_secret.expose_secret()], rng);
    DkgMessage::sign(
        c,
        me,
        DkgPayload::Complaint(Complaint { accused, shared_key: shared, proof }),
        identity,
        rng,
    )
}

/// A trustee's share of a DKG's key: `x_i`, with the public outcome.
///
/// # Invariant
/// `Y_i = x_i·G` is this trustee's entry of `verification_shares`, and the
/// shares interpolate to `group_key` (checked by [`DkgTranscript::verify`]
/// before a share is installed).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyShare {
    /// Decryption or signing.
    pub purpose: KeyPurpose,
    /// The ceremony digest.
    #[serde(with = "crate::encoding::hex32")]
    pub ceremony: [u8; 32],
    /// This trustee's identifier.
    pub id: u16,
    /// `t`.
    pub threshold: u16,
    /// `x_i`.
    pub secret: SecretScalar,
    /// `Y` (`Y_T`, or the group signing key).
    pub group_key: Point,
    /// Every trustee's `Y_i`.
    pub verification_shares: Vec<TrusteeKey>,
}

impl KeyShare {
    /// This trustee's `Y_i`.
    pub fn verification_share(&self) -> Option<&Point> {
        self.verification_shares.iter().find(|k| k.id == self.id).map(|k| &k.verification_share)
    }

    /// frost's key package (for FROST signing with a signing key).
    pub fn frost_key_package(&self) -> Result<frost::keys::KeyPackage, String> {
        let bytes = Zeroizing::new(self.secret.expose_secret().to_bytes());
        let signing = frost::keys::SigningShare::deserialize(bytes.as_slice()).map_err(|e| e.to_string())?;
        let y = self.verification_share().ok_or("no verification share of this trustee")?;
        Ok(frost::keys::KeyPackage::new(
            frost::Identifier::try_from(self.id).map_err(|e| e.to_string())?,
            signing,
            frost::keys::VerifyingShare::deserialize(y.as_bytes()).map_err(|e| e.to_string())?,
            frost::VerifyingKey::deserialize(self.group_key.as_bytes()).map_err(|e| e.to_string())?,
            self.threshold,
        ))
    }
}

/// What a completed ceremony establishes (public).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgOutcome {
    /// Decryption or signing.
    pub purpose: KeyPurpose,
    /// `t`.
    pub threshold: u16,
    /// `Y`.
    pub group_key: Point,
    /// Every `Y_i`.
    pub verification_shares: Vec<TrusteeKey>,
    /// The ceremony digest.
    pub ceremony: [u8; 32],
}

impl DkgOutcome {
    /// frost's public key package (to aggregate FROST signatures and name a
    /// trustee whose signature share is wrong).
    pub fn frost_public_package(&self) -> Result<frost::keys::PublicKeyPackage, String> {
        let shares = self
            .verification_shares
            .iter()
            .map(|k| {
                Ok((
                    frost::Identifier::try_from(k.id).map_err(|e| e.to_string())?,
                    frost::keys::VerifyingShare::deserialize(k.verification_share.as_bytes())
                        .map_err(|e| e.to_string())?,
                ))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        Ok(frost::keys::PublicKeyPackage::new(
            shares,
            frost::VerifyingKey::deserialize(self.group_key.as_bytes()).map_err(|e| e.to_string())?,
            Some(self.threshold),
        ))
    }
}

/// The public record of a completed ceremony: the ceremony and every round
/// file of every trustee. Anyone recomputes `Y` and every `Y_i` from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgTranscript {
    /// The ceremony.
    pub ceremony: Ceremony,
    /// Every round file (commit, reveal, shares, echo of every trustee, in
    /// that order, each by ascending sender).
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, DkgMessage, { 4 * MAX_TRUSTEES }>"
    )]
    pub messages: Vec<DkgMessage>,
}

impl WireMessage for DkgTranscript {
    const KIND: MessageKind = MessageKind::DkgTranscript;
    const MAX_BYTES: usize = 1 << 20;
    fn check(&self) -> Result<(), DecodeError> {
        WireMessage::check(&self.ceremony)?;
        self.messages.iter().try_for_each(WireMessage::check)
    }
}

impl DkgTranscript {
    /// Checks the whole ceremony: every file signed by its sender, none
    /// missing, reveals matching commitments, proofs of knowledge, shares
    /// files complete, and every echo equal to the `Y`, `Y_i` the round-1
    /// packages give. A complaint in it fails the check, naming the trustee
    /// at fault.
    pub fn verify(&self) -> Result<DkgOutcome, DkgError> {
        complete(&self.ceremony, &self.messages).map(|(_, outcome)| outcome)
    }
}

/// Completes a ceremony from every round file (anyone can): checks rounds 1
/// and 2, decides any complaint, and requires all `n` echoes to equal what
/// the round-1 packages give. Returns the transcript and the outcome, or the
/// error naming who failed it.
pub fn complete(ceremony: &Ceremony, msgs: &[DkgMessage]) -> Result<(DkgTranscript, DkgOutcome), DkgError> {
    ceremony.check()?;
    let commits = collect(ceremony, msgs, Round::Commit)?;
    let reveals = collect(ceremony, msgs, Round::Reveal)?;
    let packages = check_first_rounds(ceremony, &commits, &reveals, None)?;
    let shares = collect(ceremony, msgs, Round::Shares)?;
    check_first_rounds(ceremony, &commits, &reveals, Some(&shares))?;
    let finals = collect(ceremony, msgs, Round::Final)?;
    for m in &finals {
        if let DkgPayload::Complaint(c) = &m.payload {
            return Err(adjudicate(ceremony, m.sender, c, &packages, &shares));
        }
    }
    let digest = ceremony.digest();
    let (group_key, verification_shares) = keys_from_packages(ceremony, &packages);
    let round1: Vec<[u8; 32]> =
        reveals.iter().zip(&packages).map(|(r, p)| p.digest(&digest, r.sender)).collect();
    let expected = Echo {
        digest: echo_digest(&digest, &round1, &group_key, &verification_shares),
        group_key,
        verification_shares: verification_shares.clone(),
    };
    for m in &finals {
        if m.payload != DkgPayload::Echo(expected.clone()) {
            return Err(DkgError::EchoMismatch(m.sender));
        }
    }
    let messages = [commits, reveals, shares, finals].concat().into_iter().cloned().collect();
    let outcome = DkgOutcome {
        purpose: ceremony.purpose,
        threshold: ceremony.threshold,
        group_key,
        verification_shares,
        ceremony: digest,
    };
    Ok((DkgTranscript { ceremony: ceremony.clone(), messages }, outcome))
}

/// A ceremony that failed, as a trustee records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgAbort {
    /// The ceremony digest.
    #[serde(with = "crate::encoding::hex32")]
    pub ceremony: [u8; 32],
    /// Decryption or signing.
    pub purpose: KeyPurpose,
    /// The trustee at fault, if one is known.
    pub culprit: Option<u16>,
    /// Why.
    pub reason: String,
    /// When.
    pub time: Timestamp,
}

impl DkgAbort {
    /// The abort of `ceremony` for `error`.
    pub fn new(ceremony: &Ceremony, error: &DkgError, time: Timestamp) -> Self {
        DkgAbort {
            ceremony: ceremony.digest(),
            purpose: ceremony.purpose,
            culprit: error.culprit(),
            reason: error.to_string(),
            time,
        }
    }
}

/// Records the abort of `ceremony` for `error` at `time` in a trustee's
/// store (specs/tracing.md §9.1: aborted runs are logged). A trustee calls
/// it when one of its steps or the completion fails; returns what it
/// recorded.
pub fn record_abort(
    store: &impl TrusteeStore,
    ceremony: &Ceremony,
    error: &DkgError,
    time: Timestamp,
) -> StoreResult<DkgAbort> {
    let abort = DkgAbort::new(ceremony, error, time);
    store.record_dkg_abort(&abort)?;
    Ok(abort)
}

/// Where a trustee is in a ceremony.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum Stage {
    /// Committed to its round-1 package.
    Committed {
        /// frost's round-1 secret package (its polynomial), serialized.
        frost_secret: SecretBytes,
        dh_secret: SecretScalar,
        package: Round1Package,
    },
    /// Revealed it, having seen every commitment.
    Revealed {
        frost_secret: SecretBytes,
        dh_secret: SecretScalar,
        package: Round1Package,
        commits: Vec<[u8; 32]>,
    },
    /// Sent its sealed shares.
    SharesSent {
        /// frost's round-2 secret package, serialized.
        frost_secret: SecretBytes,
        dh_secret: SecretScalar,
        packages: Vec<Round1Package>,
    },
    /// Echoed or complained: nothing secret left but the key share (kept
    /// apart, [`KeyShare`]).
    Done,
}

/// A trustee's secret state in one ceremony, between its rounds.
///
/// Each step consumes the state and returns the next with the round file to
/// send, so a step cannot repeat; the caller stores the new state before it
/// sends the file. Secret material is zeroized on drop and redacted in
/// `Debug`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgState {
    ceremony: Ceremony,
    me: u16,
    stage: Stage,
}

/// The result of a trustee's last step.
#[derive(Debug)]
pub enum Finish {
    /// All shares held: the echo to send and the key share to keep.
    Echo(DkgMessage, Box<KeyShare>),
    /// A share did not: the complaint to send (the ceremony will fail and
    /// name the trustee at fault).
    Complaint(DkgMessage),
}

impl DkgState {
    /// The ceremony.
    pub fn ceremony(&self) -> &Ceremony {
        &self.ceremony
    }

    /// This trustee's identifier.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// The next round this trustee sends.
    pub fn next_round(&self) -> &'static str {
        match self.stage {
            Stage::Committed { .. } => "reveal",
            Stage::Revealed { .. } => "shares",
            Stage::SharesSent { .. } => "echo",
            Stage::Done => "none (done)",
        }
    }

    /// Round 1a: frost's `part1`, a fresh Diffie–Hellman key, and the signed
    /// commitment to the round-1 package.
    pub fn start(
        ceremony: &Ceremony,
        me: u16,
        identity: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(DkgState, DkgMessage), DkgError> {
        ceremony.check()?;
        if ceremony.identity(me) != Some(identity.public()) {
            return Err(DkgError::NotParticipant(me));
        }
        let n = ceremony.n() as u16;
        let (secret, package) = frost::keys::dkg::part1(identifier(me)?, n, ceremony.threshold, &mut *rng)
            .map_err(|e| DkgError::Frost(e.to_string()))?;
        let frost_secret = SecretBytes::new(secret.serialize().map_err(|e| DkgError::Frost(e.to_string()))?);
        let dh_secret = SecretScalar::random_nonzero(rng);
        let dh_key = Point::new(Params::get().g.point() * dh_secret.expose_secret());
        let package = Round1Package::from_frost(&package, dh_key)?;
        let msg = DkgMessage::sign(
            ceremony,
            me,
            DkgPayload::Commit(package.digest(&ceremony.digest(), me)),
            identity,
            rng,
        );
        let state = DkgState {
            ceremony: ceremony.clone(),
            me,
            stage: Stage::Committed { frost_secret, dh_secret, package },
        };
        Ok((state, msg))
    }

    /// Round 1b: having every trustee's commitment, reveal the package.
    pub fn reveal(
        self,
        msgs: &[DkgMessage],
        identity: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(DkgState, DkgMessage), DkgError> {
        let Stage::Committed { frost_secret, dh_secret, package } = self.stage else {
            return Err(DkgError::Step("reveal comes right after commit"));
        };
        let commits = collect(&self.ceremony, msgs, Round::Commit)?;
        let commits: Vec<[u8; 32]> = commits
            .iter()
            .map(|m| match &m.payload {
                DkgPayload::Commit(d) => *d,
                _ => unreachable!("collect returns files of the round asked for"),
            })
            .collect();
        let mine = self.ceremony.participants.iter().position(|p| p.id == self.me).expect("checked at start");
        if commits[mine] != package.digest(&self.ceremony.digest(), self.me) {
            return Err(DkgError::Step("the commit file given for this trustee is not the one it made"));
        }
        let msg =
            DkgMessage::sign(&self.ceremony, self.me, DkgPayload::Reveal(package.clone()), identity, rng);
        let stage = Stage::Revealed { frost_secret, dh_secret, package, commits };
        Ok((DkgState { stage, ..self }, msg))
    }

    /// Round 2: every reveal must match its commitment and verify; frost's
    /// `part2` computes the shares, each sealed to its recipient.
    pub fn send_shares(
        self,
        msgs: &[DkgMessage],
        identity: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(DkgState, DkgMessage), DkgError> {
        let Stage::Revealed { frost_secret, dh_secret, package, commits } = self.stage else {
            return Err(DkgError::Step("shares come right after reveal"));
        };
        let c = &self.ceremony;
        let digest = c.digest();
        let reveals = collect(c, msgs, Round::Reveal)?;
        let mut packages = Vec::with_capacity(c.n());
        let mut frost_packages = BTreeMap::new();
        for (r, committed) in reveals.iter().zip(&commits) {
            let DkgPayload::Reveal(p) = &r.payload else {
                unreachable!("collect returns files of the round asked for")
            };
            if p.digest(&digest, r.sender) != *committed {
                return Err(misbehaved(
                    r.sender,
                    "revealed a round-1 package other than the one it committed to",
                ));
            }
            p.check(r.sender, c.threshold)?;
            if r.sender == self.me && *p != package {
                return Err(DkgError::Step("the reveal file given for this trustee is not the one it made"));
            }
            if r.sender != self.me {
                frost_packages
                    .insert(identifier(r.sender)?, p.to_frost().map_err(|e| misbehaved(r.sender, e))?);
            }
            packages.push(p.clone());
        }
        let secret = frost::keys::dkg::round1::SecretPackage::deserialize(frost_secret.expose_secret())
            .map_err(|e| DkgError::Frost(e.to_string()))?;
        let (secret2, outgoing) = frost::keys::dkg::part2(secret, &frost_packages).map_err(|e| match e {
            frost::Error::InvalidProofOfKnowledge { culprit } => {
                let who = c
                    .participants
                    .iter()
                    .find(|p| identifier(p.id).ok() == Some(culprit))
                    .map_or(0, |p| p.id);
                misbehaved(who, "round-1 proof of knowledge does not verify")
            }
            other => DkgError::Frost(other.to_string()),
        })?;
        let mut sealed = Vec::with_capacity(c.n() - 1);
        for (p, pkg) in c.participants.iter().zip(&packages) {
            if p.id == self.me {
                continue;
            }
            let share =
                outgoing.get(&identifier(p.id)?).ok_or(DkgError::Frost("missing round-2 package".into()))?;
            let bytes = Zeroizing::new(share.signing_share().serialize());
            let shared = Point::new(pkg.dh_key.point() * dh_secret.expose_secret());
            let (key, aad) = share_key(&digest, self.me, p.id, &shared);
            let out = key.seal(&aad, &bytes);
            let sealed_bytes: [u8; SEALED_SHARE_BYTES] =
                out.try_into().map_err(|_| DkgError::Frost("share length".into()))?;
            sealed.push(SealedShare { recipient: p.id, sealed: sealed_bytes });
        }
        let msg = DkgMessage::sign(c, self.me, DkgPayload::Shares(sealed), identity, rng);
        let frost_secret = SecretBytes::new(secret2.serialize().map_err(|e| DkgError::Frost(e.to_string()))?);
        let stage = Stage::SharesSent { frost_secret, dh_secret, packages };
        Ok((DkgState { stage, ..self }, msg))
    }

    /// Round 3: open and check this trustee's shares (frost's `part3`); echo
    /// the outcome, or complain about the first trustee whose share fails.
    pub fn finish<R: CryptoRngCore>(
        self,
        msgs: &[DkgMessage],
        identity: &GroupSigningKey,
        rng: &mut R,
    ) -> Result<(DkgState, Finish), DkgError> {
        let DkgState { ceremony: c, me, stage } = self;
        let Stage::SharesSent { frost_secret, dh_secret, packages } = stage else {
            return Err(DkgError::Step("the echo comes right after the shares"));
        };
        let digest = c.digest();
        let shares = collect(&c, msgs, Round::Shares)?;
        for m in &shares {
            let DkgPayload::Shares(list) = &m.payload else {
                unreachable!("collect returns files of the round asked for")
            };
            let expected = c.participants.iter().map(|p| p.id).filter(|&id| id != m.sender);
            if list.iter().map(|s| s.recipient).ne(expected) {
                return Err(misbehaved(
                    m.sender,
                    "shares file without exactly one share for every other trustee",
                ));
            }
        }
        let mine = c.participants.iter().position(|p| p.id == me).expect("checked at start");
        let complain = |accused: u16, rng: &mut R| {
            complaint_message(&c, me, &packages, mine, &dh_secret, accused, identity, rng)
        };
        let done = || DkgState { ceremony: c.clone(), me, stage: Stage::Done };
        let mut round1 = BTreeMap::new();
        let mut round2 = BTreeMap::new();
        for (k, m) in shares.iter().enumerate() {
            if m.sender == me {
                continue;
            }
            let shared = Point::new(packages[k].dh_key.point() * dh_secret.expose_secret());
            let (key, aad) = share_key(&digest, m.sender, me, &shared);
            let opened = key.open(&aad, sealed_for(m, me)).ok();
            let share = opened.and_then(|p| frost::keys::SigningShare::deserialize(p.as_slice()).ok());
            let Some(share) = share else {
                let msg = complain(m.sender, rng);
                return Ok((done(), Finish::Complaint(msg)));
            };
            let id = identifier(m.sender)?;
            round1.insert(id, packages[k].to_frost().map_err(|e| misbehaved(m.sender, e))?);
            round2.insert(id, frost::keys::dkg::round2::Package::new(share));
        }
        let secret = frost::keys::dkg::round2::SecretPackage::deserialize(frost_secret.expose_secret())
            .map_err(|e| DkgError::Frost(e.to_string()))?;
        let (key_package, public) = match frost::keys::dkg::part3(&secret, &round1, &round2) {
            Ok(r) => r,
            Err(frost::Error::InvalidSecretShare { culprit: Some(culprit) }) => {
                let who = c
                    .participants
                    .iter()
                    .find(|p| identifier(p.id).ok() == Some(culprit))
                    .map_or(0, |p| p.id);
                let msg = complain(who, rng);
                return Ok((done(), Finish::Complaint(msg)));
            }
            Err(e) => return Err(DkgError::Frost(e.to_string())),
        };
        // frost's outcome, checked against our own computation from the
        // packages (the one anyone repeats on the transcript).
        let (group_key, verification_shares) = keys_from_packages(&c, &packages);
        let frost_group =
            key_package.verifying_key().serialize().map_err(|e| DkgError::Frost(e.to_string()))?;
        if frost_group.as_slice() != group_key.as_bytes() || public.verifying_shares().len() != c.n() {
            return Err(DkgError::Frost("frost's group key differs from the packages'".into()));
        }
        let bytes = Zeroizing::new(key_package.signing_share().serialize());
        let secret = <[u8; 32]>::try_from(bytes.as_slice())
            .ok()
            .and_then(crate::encoding::scalar::decode)
            .map(SecretScalar::new)
            .ok_or(DkgError::Frost("signing share encoding".into()))?;
        let round1_digests: Vec<[u8; 32]> =
            c.participants.iter().zip(&packages).map(|(p, pkg)| pkg.digest(&digest, p.id)).collect();
        let echo = Echo {
            digest: echo_digest(&digest, &round1_digests, &group_key, &verification_shares),
            group_key,
            verification_shares: verification_shares.clone(),
        };
        let share = KeyShare {
            purpose: c.purpose,
            ceremony: digest,
            id: me,
            threshold: c.threshold,
            secret,
            group_key,
            verification_shares,
        };
        if share.verification_share().map(|y| *y.point())
            != Some(Params::get().g.point() * share.secret.expose_secret())
        {
            return Err(DkgError::Frost("the key share does not match its verification share".into()));
        }
        let msg = DkgMessage::sign(&c, me, DkgPayload::Echo(echo), identity, rng);
        Ok((done(), Finish::Echo(msg, Box::new(share))))
    }

    /// Runs the next step of this trustee on the files received so far.
    pub fn step(
        self,
        msgs: &[DkgMessage],
        identity: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(DkgState, DkgMessage, Option<KeyShare>), DkgError> {
        match self.stage {
            Stage::Committed { .. } => self.reveal(msgs, identity, rng).map(|(s, m)| (s, m, None)),
            Stage::Revealed { .. } => self.send_shares(msgs, identity, rng).map(|(s, m)| (s, m, None)),
            Stage::SharesSent { .. } => self.finish(msgs, identity, rng).map(|(s, f)| match f {
                Finish::Echo(m, k) => (s, m, Some(*k)),
                Finish::Complaint(m) => (s, m, None),
            }),
            Stage::Done => Err(DkgError::Step("this trustee has sent its last round file")),
        }
    }
}

/// Runs a whole ceremony with every trustee in this process (a demo, a
/// test, a benchmark): `identities[k]` is the identity key of the `k`-th
/// participant. Every trustee runs every step on every file so far, then
/// the ceremony is completed. Returns the transcript, the outcome and the
/// trustees' key shares in participant order.
pub fn run_local(
    ceremony: &Ceremony,
    identities: &[GroupSigningKey],
    rng: &mut impl CryptoRngCore,
) -> Result<(DkgTranscript, DkgOutcome, Vec<KeyShare>), DkgError> {
    if identities.len() != ceremony.n() {
        return Err(DkgError::Ceremony("one identity key per participant"));
    }
    let mut files = Vec::with_capacity(4 * ceremony.n());
    let mut states = Vec::with_capacity(ceremony.n());
    for (p, key) in ceremony.participants.iter().zip(identities) {
        let (state, file) = DkgState::start(ceremony, p.id, key, rng)?;
        states.push(state);
        files.push(file);
    }
    let mut shares = Vec::with_capacity(ceremony.n());
    for _ in 0..3 {
        let mut next = Vec::with_capacity(states.len());
        let mut sent = Vec::with_capacity(states.len());
        for (state, key) in states.into_iter().zip(identities) {
            let (state, file, share) = state.step(&files, key, rng)?;
            next.push(state);
            sent.push(file);
            shares.extend(share);
        }
        files.append(&mut sent);
        states = next;
    }
    let (transcript, outcome) = complete(ceremony, &files)?;
    Ok((transcript, outcome, shares))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::OsRng;

    type Outcome = Result<(DkgTranscript, DkgOutcome), DkgError>;

    /// Runs a whole ceremony in memory. After each round (0: commit, 1:
    /// reveal, 2: shares, 3: echo) `tamper` may change that round's files,
    /// seeing the states that made them and the identity keys.
    pub(crate) fn run(
        purpose: KeyPurpose,
        t: u16,
        n: u16,
        mut tamper: impl FnMut(usize, &mut Vec<DkgMessage>, &[DkgState], &[GroupSigningKey]),
    ) -> (Vec<DkgMessage>, Outcome, Vec<Option<KeyShare>>) {
        let keys: Vec<GroupSigningKey> = (0..n).map(|_| GroupSigningKey::generate(&mut OsRng)).collect();
        let parts = keys
            .iter()
            .enumerate()
            .map(|(k, key)| Participant { id: k as u16 + 1, identity: *key.public() })
            .collect();
        let c = Ceremony::new(purpose, t, parts, &mut OsRng).unwrap();
        let mut states = Vec::new();
        let mut round = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            let (s, m) = DkgState::start(&c, k as u16 + 1, key, &mut OsRng).unwrap();
            states.push(s);
            round.push(m);
        }
        let mut all = Vec::new();
        let mut shares = vec![None; n as usize];
        for r in 0..4 {
            tamper(r, &mut round, &states, &keys);
            all.append(&mut round);
            if r == 3 {
                break;
            }
            let mut next = Vec::new();
            for (k, s) in states.into_iter().enumerate() {
                match s.step(&all, &keys[k], &mut OsRng) {
                    Ok((s, m, share)) => {
                        shares[k] = share;
                        next.push(s);
                        round.push(m);
                    }
                    Err(e) => return (all, Err(e), shares),
                }
            }
            states = next;
        }
        let r = complete(&c, &all);
        (all, r, shares)
    }

    fn resign(m: &mut DkgMessage, keys: &[GroupSigningKey]) {
        m.signature =
            keys[m.sender as usize - 1].sign(labels::DKG_MESSAGE_SIGNATURE, &m.digest(), &mut OsRng);
    }

    fn sealed_mut(m: &mut DkgMessage, recipient: u16) -> &mut [u8; SEALED_SHARE_BYTES] {
        let DkgPayload::Shares(list) = &mut m.payload else { panic!("a shares file") };
        &mut list.iter_mut().find(|s| s.recipient == recipient).unwrap().sealed
    }

    fn dh_of(state: &DkgState) -> (SecretScalar, Vec<Round1Package>) {
        match &state.stage {
            Stage::SharesSent { dh_secret, packages, .. } => (dh_secret.clone(), packages.clone()),
            _ => panic!("after the shares"),
        }
    }

    #[test]
    fn a_ceremony_gives_every_trustee_a_share_of_one_key_nobody_holds() {
        let (_, r, shares) = run(KeyPurpose::Decryption, 2, 3, |_, _, _, _| {});
        let (transcript, outcome) = r.unwrap();
        assert_eq!(transcript.verify().unwrap(), outcome);
        let shares: Vec<KeyShare> = shares.into_iter().map(Option::unwrap).collect();
        let g = Params::get().g;
        for s in &shares {
            assert_eq!(s.group_key, outcome.group_key);
            assert_eq!(s.verification_shares, outcome.verification_shares);
            assert_eq!(*s.verification_share().unwrap().point(), g.point() * s.secret.expose_secret());
        }
        // Any two shares interpolate to the group key's secret; one does not.
        let x = |a: &KeyShare, b: &KeyShare| {
            let ids = [a.id, b.id];
            let la = crate::crypto::threshold::lagrange_coefficient(&ids, a.id, &Scalar::ZERO).unwrap();
            let lb = crate::crypto::threshold::lagrange_coefficient(&ids, b.id, &Scalar::ZERO).unwrap();
            la * a.secret.expose_secret() + lb * b.secret.expose_secret()
        };
        assert_eq!(g.point() * x(&shares[0], &shares[2]), *outcome.group_key.point());
        assert_eq!(g.point() * x(&shares[1], &shares[2]), *outcome.group_key.point());
        assert_ne!(g.point() * shares[0].secret.expose_secret(), *outcome.group_key.point());
        let back = DkgTranscript::from_bytes(&transcript.to_bytes()).unwrap();
        assert_eq!(back.verify().unwrap(), outcome);
    }

    #[test]
    fn a_trustee_sending_an_inconsistent_share_is_identified() {
        // Trustee 2 seals for trustee 3 a random scalar under the right key:
        // the share opens, and only the check against trustee 2's
        // commitments fails. Trustee 3 complains; the ceremony names 2.
        let (_, r, shares) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, states, keys| {
            if round != 2 {
                return;
            }
            let (dh, packages) = dh_of(&states[1]);
            let shared = Point::new(packages[2].dh_key.point() * dh.expose_secret());
            let digest = states[1].ceremony.digest();
            let (key, aad) = share_key(&digest, 2, 3, &shared);
            let forged = key.seal(&aad, Scalar::random(&mut OsRng).as_bytes());
            *sealed_mut(&mut msgs[1], 3) = forged.try_into().unwrap();
            resign(&mut msgs[1], keys);
        });
        let err = r.unwrap_err();
        assert!(matches!(&err, DkgError::Misbehaved { trustee: 2, .. }), "{err}");
        assert!(err.to_string().contains("does not match its commitments"), "{err}");
        assert!(shares[2].is_none(), "trustee 3 kept no key share");
    }

    #[test]
    fn an_aborted_ceremony_is_recorded_durably_with_its_culprit() {
        let mut ceremony = None;
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, states, _| {
            ceremony = Some(states[0].ceremony().clone());
            if round == 2 {
                msgs.remove(1);
            }
        });
        let (c, err) = (ceremony.unwrap(), r.unwrap_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trustee.db");
        let memory = crate::store::memory::MemoryTtpStore::new();
        let now = Timestamp(1_800_000_000);
        let recorded = record_abort(&memory, &c, &err, now).unwrap();
        assert_eq!(recorded.culprit, Some(2));
        assert_eq!(recorded.ceremony, c.digest());
        assert!(recorded.reason.contains("trustee 2's shares file is missing"), "{}", recorded.reason);
        assert_eq!(memory.dkg_aborts().unwrap(), vec![recorded.clone()]);
        {
            let sqlite = crate::store::sqlite::SqliteTtpStore::open(&path).unwrap();
            record_abort(&sqlite, &c, &err, now).unwrap();
            record_abort(&sqlite, &c, &DkgError::BadSignature(1), now).unwrap();
        }
        let reopened = crate::store::sqlite::SqliteTtpStore::open(&path).unwrap();
        let aborts = reopened.dkg_aborts().unwrap();
        assert_eq!(aborts.len(), 2);
        assert_eq!(aborts[0], recorded);
        assert_eq!(aborts[1].culprit, None, "a forged file names no one");
    }

    #[test]
    fn a_share_that_does_not_open_names_its_sender() {
        let (_, r, _) = run(KeyPurpose::Signing, 2, 3, |round, msgs, _, keys| {
            if round == 2 {
                sealed_mut(&mut msgs[0], 2)[0] ^= 1;
                resign(&mut msgs[0], keys);
            }
        });
        let err = r.unwrap_err();
        assert!(matches!(&err, DkgError::Misbehaved { trustee: 1, .. }), "{err}");
        assert!(err.to_string().contains("does not open"), "{err}");
    }

    #[test]
    fn a_false_complaint_names_the_complainant() {
        // Trustee 1 complains about trustee 3, revealing the true key with a
        // valid proof: the share opens and matches, so trustee 1 lied.
        let mut saved = None;
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, states, keys| {
            if round == 2 {
                saved = Some(dh_of(&states[0]));
            }
            if round == 3 {
                let (dh, packages) = saved.clone().unwrap();
                msgs[0] =
                    complaint_message(&states[0].ceremony, 1, &packages, 0, &dh, 3, &keys[0], &mut OsRng);
            }
        });
        let err = r.unwrap_err();
        assert!(matches!(&err, DkgError::Misbehaved { trustee: 1, .. }), "{err}");
        assert!(err.to_string().contains("false complaint"), "{err}");
        // A complaint whose revealed key is not the true one fails its proof.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, keys| {
            if round == 3 {
                msgs[1].payload = DkgPayload::Complaint(Complaint {
                    accused: 1,
                    shared_key: Point::new(Params::get().g.point() * Scalar::random(&mut OsRng)),
                    proof: Proof { commitments: vec![], responses: vec![] },
                });
                resign(&mut msgs[1], keys);
            }
        });
        assert!(matches!(r.unwrap_err(), DkgError::Misbehaved { trustee: 2, .. }));
    }

    #[test]
    fn equivocation_a_changed_reveal_a_missing_file_and_a_forgery_are_named() {
        // Two different signed commitments of trustee 2.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, keys| {
            if round == 0 {
                let mut other = msgs[1].clone();
                other.payload = DkgPayload::Commit([9; 32]);
                resign(&mut other, keys);
                msgs.push(other);
            }
        });
        assert_eq!(r.unwrap_err(), DkgError::Equivocation { trustee: 2, round: "commit" });
        // A reveal that is not what trustee 3 committed to.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, keys| {
            if round == 1 {
                if let DkgPayload::Reveal(p) = &mut msgs[2].payload {
                    p.dh_key = Point::new(Params::get().g.point() * Scalar::random(&mut OsRng));
                }
                resign(&mut msgs[2], keys);
            }
        });
        assert!(matches!(r.unwrap_err(), DkgError::Misbehaved { trustee: 3, .. }));
        // Trustee 1's shares never arrive: it is unavailable.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, _| {
            if round == 2 {
                msgs.remove(0);
            }
        });
        assert_eq!(r.unwrap_err(), DkgError::Missing { trustee: 1, round: "shares" });
        // A file whose signature does not verify names no one.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, _| {
            if round == 0 {
                msgs[0].payload = DkgPayload::Commit([1; 32]);
            }
        });
        assert_eq!(r.unwrap_err(), DkgError::BadSignature(1));
        // An echo that differs from the packages.
        let (_, r, _) = run(KeyPurpose::Decryption, 2, 3, |round, msgs, _, keys| {
            if round == 3 {
                if let DkgPayload::Echo(e) = &mut msgs[2].payload {
                    e.group_key = Point::new(Params::get().g.point() * Scalar::random(&mut OsRng));
                }
                resign(&mut msgs[2], keys);
            }
        });
        assert_eq!(r.unwrap_err(), DkgError::EchoMismatch(3));
    }

    #[test]
    fn round_files_and_transcripts_decode_strictly() {
        let (_, r, _) = run(KeyPurpose::Signing, 2, 3, |_, _, _, _| {});
        let (transcript, _) = r.unwrap();
        for m in &transcript.messages {
            assert_eq!(&DkgMessage::from_bytes(&m.to_bytes()).unwrap(), m);
            assert_eq!(&DkgMessage::from_json(&m.to_json()).unwrap(), m);
        }
        let c = &transcript.ceremony;
        assert_eq!(&Ceremony::from_bytes(&c.to_bytes()).unwrap(), c);
        assert_eq!(DkgTranscript::from_json(&transcript.to_json()).unwrap(), transcript);
        // Another kind's bytes, a truncated file, trailing bytes: refused.
        let reveal = transcript.messages.iter().find(|m| matches!(m.payload, DkgPayload::Reveal(_))).unwrap();
        let bytes = reveal.to_bytes();
        assert_eq!(Ceremony::from_bytes(&bytes).unwrap_err().kind(), "wrong-kind");
        assert_eq!(DkgMessage::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err().kind(), "truncated");
        assert_eq!(
            DkgMessage::from_bytes(&[bytes.as_slice(), &[0]].concat()).unwrap_err().kind(),
            "trailing-bytes"
        );
        // A Diffie–Hellman key that is the identity.
        let mut bad = reveal.clone();
        if let DkgPayload::Reveal(p) = &mut bad.payload {
            p.dh_key = Point::identity();
        }
        assert_eq!(DkgMessage::from_bytes(&bad.to_bytes()).unwrap_err().kind(), "identity-point");
    }

    #[test]
    fn ceremonies_refuse_bad_parameters() {
        let k = GroupSigningKey::generate(&mut OsRng);
        let k2 = GroupSigningKey::generate(&mut OsRng);
        let p = |id, key: &GroupSigningKey| Participant { id, identity: *key.public() };
        assert!(Ceremony::new(KeyPurpose::Decryption, 1, vec![p(1, &k)], &mut OsRng).is_err());
        assert!(Ceremony::new(KeyPurpose::Decryption, 3, vec![p(1, &k), p(2, &k2)], &mut OsRng).is_err());
        assert!(Ceremony::new(KeyPurpose::Decryption, 2, vec![p(1, &k), p(2, &k)], &mut OsRng).is_err());
        assert!(Ceremony::new(KeyPurpose::Decryption, 2, vec![p(0, &k), p(2, &k2)], &mut OsRng).is_err());
        assert!(Ceremony::new(KeyPurpose::Decryption, 2, vec![p(2, &k2), p(1, &k)], &mut OsRng).is_ok());
    }
}
