//! Trust anchors as data: the pinning rules' errors, and the TTP key
//! statement that wallets and merchants pin (specs/protocol.md §4.4,
//! specs/tracing.md §1).

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::trace::TtpPublicKeys;
use super::Error;
use crate::crypto::group_signature::{GroupSignature, GroupSigningKey};
use crate::crypto::threshold::interpolate;
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::Point;
use crate::keys::{KeyWindows, Keyset, KeysetId};
use crate::params::{Params, ParamsId};
use crate::time::{Day, Timestamp};
use crate::wire::{non_identity, DecodeError, MessageKind, WireMessage};

/// Why a keyset list was refused by the pinning rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The list does not start with the keyset of sequence 0.
    #[error("keyset list does not start at sequence 0")]
    NotFromStart,
    /// A keyset does not directly extend the one before it.
    #[error("keyset {0} does not extend the keyset before it")]
    BrokenChain(KeysetId),
    /// The list is shorter than the pinned one.
    #[error("keyset list has {offered} keysets, {pinned} are pinned (rollback)")]
    Rollback {
        /// Keysets pinned.
        pinned: usize,
        /// Keysets in the list offered.
        offered: usize,
    },
    /// The list differs from the pinned one at a position both have.
    #[error("keyset list forks from the pinned one at sequence {sequence}")]
    Fork {
        /// The first sequence where they differ.
        sequence: u64,
    },
    /// A TTP key statement that does not verify.
    #[error(transparent)]
    BadTtpStatement(TtpStatementError),
    /// A TTP key statement signed by a key the operator has not pinned
    /// (pinning a new TTP signing key is an explicit operator action).
    #[error("TTP key statement is signed by {}, a key not pinned (pin it with `trust-ttp`)", hex::encode(.0))]
    UntrustedTtpSigner([u8; 32]),
    /// A TTP key statement older than one pinned under the same signing key.
    #[error("TTP key statement sequence {offered} is older than the pinned sequence {pinned} (rollback)")]
    TtpRollback {
        /// The newest sequence pinned under that signing key.
        pinned: u64,
        /// The sequence offered.
        offered: u64,
    },
    /// Another statement of the same sequence is pinned under that signing key.
    #[error("the TTP signed two different key statements with sequence {0}")]
    TtpConflict(u64),
}
// ---------------------------------------------------------------------------
// The TTP key statement
// ---------------------------------------------------------------------------

/// Most trustees a statement names.
pub const MAX_TRUSTEES: usize = 64;

/// One trustee: its identifier and its public verification share `Y_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeKey {
    /// The identifier `i` (nonzero; FROST's `Identifier::try_from(i)`).
    pub id: u16,
    /// `Y_i = x_i·G`, the trustee's share of `Y_T` in the exponent.
    pub verification_share: Point,
}

/// Days a TTP key may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtpValidity {
    /// First day a keyset may open withdrawals escrowing under this key.
    pub escrow_from: Day,
    /// Last day a keyset may accept withdrawals escrowing under this key.
    pub escrow_until: Day,
    /// Last day traces under this key are possible (the TTP keeps `x_T`
    /// until then): no coin under a keyset of this key may be deposited
    /// later.
    pub trace_until: Day,
}

impl TtpValidity {
    /// Escrow from `day` for `escrow_days` days, traces for `trace_days`
    /// days (both counted from `day`).
    pub fn starting(day: Day, escrow_days: u32, trace_days: u32) -> Self {
        TtpValidity {
            escrow_from: day,
            escrow_until: day.plus(escrow_days),
            trace_until: day.plus(trace_days),
        }
    }
}

/// Everything a trace is checked against, signed by the TTP as a group:
/// the decryption key `Y_T`, the threshold `t` and every trustee's
/// identifier and verification share, the group signing key (apart from
/// `Y_T`), the validity, and a sequence number (specs/tracing.md §1).
///
/// A single TTP is the case `t = 1` with one trustee, identifier 1, whose
/// verification share is `Y_T`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtpKeyStatement {
    /// The parameters the keys live in.
    pub params_id: ParamsId,
    /// Position among the statements signed by this group signing key.
    pub sequence: u64,
    /// `Y_T`, the key coins and withdrawals escrow under.
    pub decryption_key: Point,
    /// `t`: how many trustees take part in a trace.
    pub threshold: u16,
    /// The trustees, by ascending identifier.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, TrusteeKey, MAX_TRUSTEES>"
    )]
    pub trustees: Vec<TrusteeKey>,
    /// The group signing key: verifies this statement, trace results and
    /// log heads (RFC 9591, [`GroupSignature`]).
    pub signing_key: Point,
    /// When keysets may escrow under `Y_T`, and until when it traces.
    pub validity: TtpValidity,
    /// When the statement was signed.
    pub issued: Timestamp,
}

/// Why a TTP key statement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtpStatementError {
    /// Made for other group parameters.
    #[error("TTP key statement is for other parameters")]
    WrongParams,
    /// `Y_T`, the signing key or a verification share is the identity.
    #[error("TTP key statement has an identity key")]
    IdentityKey,
    /// The signing key is the decryption key.
    #[error("TTP key statement uses one key to decrypt and to sign")]
    SharedKey,
    /// `t` is 0, more than the trustees, or there are no or too many trustees.
    #[error("TTP key statement threshold {threshold} of {trustees} trustees")]
    Threshold {
        /// `t`.
        threshold: u16,
        /// `n`.
        trustees: usize,
    },
    /// Identifiers are zero or not strictly ascending.
    #[error("TTP key statement trustee identifiers are not nonzero and ascending")]
    Identifiers,
    /// The verification shares do not lie on one polynomial of degree
    /// `t - 1` whose value at 0 is `Y_T`.
    #[error("TTP key statement verification shares do not interpolate to Y_T")]
    InconsistentShares,
    /// `escrow_from <= escrow_until <= trace_until` does not hold.
    #[error("TTP key statement validity is not ordered")]
    Validity,
    /// The group signature does not verify under the statement's signing key.
    #[error("TTP key statement signature does not verify")]
    Signature,
}

impl TtpKeyStatement {
    /// The statement's digest (what the group signs).
    pub fn digest(&self) -> [u8; 32] {
        let mut t = Params::get().transcript(labels::TTP_KEY_STATEMENT);
        t.append_message(b"params-id", self.params_id.as_bytes());
        t.append_u64(b"sequence", self.sequence);
        t.append_point(b"decryption-key", &self.decryption_key);
        t.append_u64(b"threshold", u64::from(self.threshold));
        t.append_u64(b"trustees", self.trustees.len() as u64);
        for k in &self.trustees {
            t.append_u64(b"trustee-id", u64::from(k.id));
            t.append_point(b"verification-share", &k.verification_share);
        }
        t.append_point(b"signing-key", &self.signing_key);
        t.append_u64(b"escrow-from", u64::from(self.validity.escrow_from.0));
        t.append_u64(b"escrow-until", u64::from(self.validity.escrow_until.0));
        t.append_u64(b"trace-until", u64::from(self.validity.trace_until.0));
        t.append_u64(b"issued", self.issued.0);
        t.challenge_digest(b"statement-digest")
    }

    /// The statement of a single TTP: `t = 1`, one trustee with identifier 1
    /// and `Y_1 = Y_T`.
    pub fn single(
        sequence: u64,
        decryption_key: Point,
        signing_key: Point,
        validity: TtpValidity,
        issued: Timestamp,
    ) -> Self {
        TtpKeyStatement {
            params_id: Params::get().id,
            sequence,
            decryption_key,
            threshold: 1,
            trustees: vec![TrusteeKey { id: 1, verification_share: decryption_key }],
            signing_key,
            validity,
            issued,
        }
    }

    /// Checks the statement's internal consistency (specs/tracing.md §1.1),
    /// t of n in general: parameters, identity rules, separate keys, `t`,
    /// identifiers, validity order, and that every verification share lies
    /// on the polynomial through the first `t` of them whose value at 0 is
    /// `Y_T`.
    pub fn check(&self) -> Result<(), TtpStatementError> {
        if self.params_id != Params::get().id {
            return Err(TtpStatementError::WrongParams);
        }
        if self.decryption_key.is_identity()
            || self.signing_key.is_identity()
            || self.trustees.iter().any(|k| k.verification_share.is_identity())
        {
            return Err(TtpStatementError::IdentityKey);
        }
        if self.signing_key == self.decryption_key {
            return Err(TtpStatementError::SharedKey);
        }
        let n = self.trustees.len();
        let t = usize::from(self.threshold);
        if t == 0 || t > n || n > MAX_TRUSTEES {
            return Err(TtpStatementError::Threshold { threshold: self.threshold, trustees: n });
        }
        if self.trustees[0].id == 0 || self.trustees.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(TtpStatementError::Identifiers);
        }
        let v = &self.validity;
        if v.escrow_from > v.escrow_until || v.escrow_until > v.trace_until {
            return Err(TtpStatementError::Validity);
        }
        let base: Vec<(u16, Point)> =
            self.trustees[..t].iter().map(|k| (k.id, k.verification_share)).collect();
        let at = |x: Scalar| interpolate(&base, &x).ok_or(TtpStatementError::Identifiers);
        if at(Scalar::ZERO)? != *self.decryption_key.point() {
            return Err(TtpStatementError::InconsistentShares);
        }
        for k in &self.trustees[t..] {
            if at(Scalar::from(k.id))? != *k.verification_share.point() {
                return Err(TtpStatementError::InconsistentShares);
            }
        }
        Ok(())
    }

    /// The public keys a trace result names.
    pub fn public_keys(&self) -> TtpPublicKeys {
        TtpPublicKeys { decryption: self.decryption_key, signing: self.signing_key }
    }

    /// Whether this statement lets `keyset` escrow under its key: the
    /// keyset's TTP key is `Y_T`, every key's withdrawals lie within
    /// `[escrow_from, escrow_until]`, and no coin of it can be deposited
    /// after `trace_until`.
    pub fn covers(&self, keyset: &Keyset) -> Result<(), Coverage> {
        if *keyset.ttp_key() != self.decryption_key {
            return Err(Coverage::OtherKey);
        }
        keyset.document().keys.iter().try_for_each(|k| self.covers_windows(&k.windows))
    }

    /// Whether a key with these windows may escrow under this statement's
    /// key (the day checks of [`TtpKeyStatement::covers`]).
    pub fn covers_windows(&self, w: &KeyWindows) -> Result<(), Coverage> {
        let v = &self.validity;
        if w.withdraw_from < v.escrow_from || w.withdraw_until > v.escrow_until {
            return Err(Coverage::EscrowWindow);
        }
        if w.deposit_until > v.trace_until {
            return Err(Coverage::TraceWindow);
        }
        Ok(())
    }
}

/// Why a statement does not cover a keyset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Coverage {
    /// The keyset escrows under another key.
    #[error("the keyset escrows under another TTP key")]
    OtherKey,
    /// The keyset's withdrawals run outside the statement's escrow days.
    #[error("the keyset's withdrawal days lie outside the TTP key's escrow days")]
    EscrowWindow,
    /// The keyset's coins can be deposited after the last day of tracing.
    #[error("the keyset's coins can be deposited after the TTP key's last day of tracing")]
    TraceWindow,
}

/// A TTP key statement with the group's RFC 9591 signature on its digest
/// (domain `faircash/v1/ttp-key-statement-signature`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTtpKeyStatement {
    /// The statement.
    pub statement: TtpKeyStatement,
    /// The group signing key's signature.
    pub signature: GroupSignature,
}

impl SignedTtpKeyStatement {
    /// Signs `statement` with the group signing key of a single TTP.
    pub fn sign(
        statement: TtpKeyStatement,
        key: &GroupSigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, TtpStatementError> {
        if *key.public() != statement.signing_key {
            return Err(TtpStatementError::Signature);
        }
        let signature = key.sign(labels::TTP_KEY_STATEMENT_SIGNATURE, &statement.digest(), rng);
        let signed = SignedTtpKeyStatement { statement, signature };
        signed.verify()?;
        Ok(signed)
    }

    /// Checks the statement (t of n) and its signature under the signing key
    /// it names. Whether that key is trusted is the caller's question
    /// ([`TtpPins`]).
    pub fn verify(&self) -> Result<(), TtpStatementError> {
        self.statement.check()?;
        self.signature
            .verify(
                labels::TTP_KEY_STATEMENT_SIGNATURE,
                &self.statement.digest(),
                &self.statement.signing_key,
            )
            .map_err(|_| TtpStatementError::Signature)
    }
}

impl WireMessage for SignedTtpKeyStatement {
    const KIND: MessageKind = MessageKind::TtpKeyStatement;
    const MAX_BYTES: usize = 256 + MAX_TRUSTEES * 40;
    fn check(&self) -> Result<(), DecodeError> {
        let w = Self::what();
        let s = &self.statement;
        non_identity(w, "decryption_key", &s.decryption_key)?;
        non_identity(w, "signing_key", &s.signing_key)?;
        for k in &s.trustees {
            non_identity(w, "verification_share", &k.verification_share)?;
        }
        non_identity(w, "signature.r", &self.signature.r)
    }
}

/// Most statements in a list.
pub const MAX_TTP_STATEMENTS: usize = 64;

/// A list of signed TTP key statements: what a wallet or merchant pins, and
/// what the bank publishes (`GET /v1/ttp-statements`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtpStatementList {
    /// The statements.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, SignedTtpKeyStatement, MAX_TTP_STATEMENTS>"
    )]
    pub statements: Vec<SignedTtpKeyStatement>,
}

impl WireMessage for TtpStatementList {
    const KIND: MessageKind = MessageKind::TtpStatementList;
    const MAX_BYTES: usize = 64 + MAX_TTP_STATEMENTS * <SignedTtpKeyStatement as WireMessage>::MAX_BYTES;
    fn check(&self) -> Result<(), DecodeError> {
        self.statements.iter().try_for_each(WireMessage::check)
    }
}

// ---------------------------------------------------------------------------
// Pinned statements
// ---------------------------------------------------------------------------

/// What pinning a statement changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtpPinChange {
    /// A new decryption key (or a new signing key) is pinned beside the others.
    Added,
    /// It replaced the pinned statement of the same signing and decryption
    /// keys, which had this sequence.
    Superseded {
        /// The sequence replaced.
        previous: u64,
    },
    /// It was pinned already.
    Unchanged,
}

/// The TTP key statements a party pins (specs/tracing.md §1.4).
///
/// # Invariant
/// Every statement verified ([`SignedTtpKeyStatement::verify`]); at most one
/// per (signing key, decryption key); kept in ascending sequence order, so
/// pinning the list again in order rebuilds the same pins.
#[derive(Clone, Debug, Default)]
pub struct TtpPins {
    statements: Vec<SignedTtpKeyStatement>,
}

impl TtpPins {
    /// No statement pinned.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pinned statements.
    pub fn statements(&self) -> &[SignedTtpKeyStatement] {
        &self.statements
    }

    /// The pinned list, for storing.
    pub fn list(&self) -> TtpStatementList {
        TtpStatementList { statements: self.statements.clone() }
    }

    /// Whether statements signed by `key` are pinned.
    pub fn trusts_signer(&self, key: &Point) -> bool {
        self.statements.iter().any(|s| s.statement.signing_key == *key)
    }

    /// Pins a statement by an explicit operator action: its signing key may
    /// be new. Otherwise as [`TtpPins::update`].
    pub fn trust(&mut self, signed: &SignedTtpKeyStatement) -> Result<TtpPinChange, PinError> {
        self.pin(signed, true)
    }

    /// Pins a statement fetched from elsewhere (the bank): accepted only
    /// under a signing key already pinned.
    ///
    /// Rules, in order: the statement verifies (`BadTtpStatement`); its
    /// signing key is pinned (`UntrustedTtpSigner`); its sequence is not
    /// lower than any pinned under that key (`TtpRollback`); a statement of
    /// equal sequence under that key is the same statement (`TtpConflict`).
    /// Then it supersedes the pinned statement of the same decryption key,
    /// or is added beside the others.
    pub fn update(&mut self, signed: &SignedTtpKeyStatement) -> Result<TtpPinChange, PinError> {
        self.pin(signed, false)
    }

    fn pin(&mut self, signed: &SignedTtpKeyStatement, explicit: bool) -> Result<TtpPinChange, PinError> {
        signed.verify().map_err(PinError::BadTtpStatement)?;
        let s = &signed.statement;
        if !explicit && !self.trusts_signer(&s.signing_key) {
            return Err(PinError::UntrustedTtpSigner(*s.signing_key.as_bytes()));
        }
        let same_signer = || self.statements.iter().filter(|p| p.statement.signing_key == s.signing_key);
        if let Some(newest) = same_signer().map(|p| p.statement.sequence).max() {
            if s.sequence < newest {
                return Err(PinError::TtpRollback { pinned: newest, offered: s.sequence });
            }
        }
        if let Some(p) = same_signer().find(|p| p.statement.sequence == s.sequence) {
            return if p == signed {
                Ok(TtpPinChange::Unchanged)
            } else {
                Err(PinError::TtpConflict(s.sequence))
            };
        }
        let change = match self.statements.iter().position(|p| {
            p.statement.signing_key == s.signing_key && p.statement.decryption_key == s.decryption_key
        }) {
            Some(at) => TtpPinChange::Superseded { previous: self.statements.remove(at).statement.sequence },
            None => TtpPinChange::Added,
        };
        self.statements.push(signed.clone());
        self.statements.sort_by_key(|p| p.statement.sequence);
        Ok(change)
    }

    /// The pinned statement that lets `keyset` escrow under its TTP key
    /// ([`TtpKeyStatement::covers`]).
    pub fn escrow_statement(&self, keyset: &Keyset) -> Result<&TtpKeyStatement, Error> {
        let mut named = false;
        let mut why = Coverage::OtherKey;
        for p in &self.statements {
            match p.statement.covers(keyset) {
                Ok(()) => return Ok(&p.statement),
                Err(Coverage::OtherKey) => {}
                Err(e) => {
                    named = true;
                    why = e;
                }
            }
        }
        if named {
            Err(Error::TtpKeyNotValid { keyset: keyset.id(), reason: why })
        } else {
            Err(Error::UntrustedTtpKey { keyset: keyset.id(), ttp_key: *keyset.ttp_key().as_bytes() })
        }
    }
}
