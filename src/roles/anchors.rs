//! What a wallet or a merchant (any payee) trusts: the bank's master key, the
//! bank's keyset list as pinned so far, and the TTP key statements pinned by
//! the operator (specs/protocol.md §4.4, specs/security.md §3.2).
//!
//! One place holds the pinning rules, so every role applies the same ones:
//!
//! - a keyset list is accepted only if every keyset verifies under the
//!   pinned master key, the list is one chain from sequence 0, and what was
//!   pinned before is a prefix of it (no shorter list, no fork, no swap);
//! - a keyset is *usable* only if its TTP key is the decryption key of a
//!   pinned TTP key statement whose validity covers the keyset
//!   ([`TrustAnchors::usable_keyset`]), so a bank cannot choose the key
//!   under which coins escrow their owner's identity;
//! - TTP key statements are pinned under the rules of [`TtpPins`]: a new
//!   signing key only by an explicit operator action, never an older
//!   statement, a newer one superseding, a new decryption key beside.

use super::bank::BankApi;
use crate::encoding::Point;
use crate::keys::{Keyset, KeysetId, KeysetList, SignedKeyset};
use crate::protocol::trust::{PinError, SignedTtpKeyStatement, TtpPinChange, TtpPins};
use crate::protocol::{Error, Result};

/// The trust anchors of a wallet or merchant.
///
/// # Invariant
/// `keysets` is one chain from sequence 0, every keyset verified under
/// `master_key`; it only ever grows ([`TrustAnchors::pin_keysets`]).
#[derive(Clone, Debug)]
pub struct TrustAnchors {
    master_key: Point,
    keysets: Vec<Keyset>,
    ttp: TtpPins,
}

impl TrustAnchors {
    /// Anchors that trust the bank master key `master_key` and pin nothing yet.
    pub fn new(master_key: Point) -> Self {
        TrustAnchors { master_key, keysets: Vec::new(), ttp: TtpPins::new() }
    }

    /// The bank master key trusted.
    pub fn master_key(&self) -> &Point {
        &self.master_key
    }

    /// The pinned keysets, oldest first.
    pub fn keysets(&self) -> &[Keyset] {
        &self.keysets
    }

    /// The pinned keyset `id`.
    pub fn keyset(&self, id: &KeysetId) -> Result<&Keyset> {
        self.keysets.iter().find(|k| k.id() == *id).ok_or(Error::UnknownKeyset(*id))
    }

    /// Checks `list` against the pinning rules without pinning it: every
    /// keyset verifies under the master key, the list is one chain from
    /// sequence 0, and the pinned list is a prefix of it. Returns the
    /// verified keysets.
    pub fn check_keysets(&self, list: &[SignedKeyset]) -> Result<Vec<Keyset>> {
        let mut verified: Vec<Keyset> = Vec::with_capacity(list.len());
        for s in list {
            let k = s.verify(&self.master_key)?;
            match verified.last() {
                None if k.document().sequence != 0 => return Err(PinError::NotFromStart.into()),
                Some(prev) if !prev.is_followed_by(&k) => return Err(PinError::BrokenChain(k.id()).into()),
                _ => {}
            }
            verified.push(k);
        }
        if let Some((old, _)) = self.keysets.iter().zip(&verified).find(|(old, new)| old.id() != new.id()) {
            return Err(PinError::Fork { sequence: old.document().sequence }.into());
        }
        if verified.len() < self.keysets.len() {
            return Err(PinError::Rollback { pinned: self.keysets.len(), offered: verified.len() }.into());
        }
        Ok(verified)
    }

    /// Pins `list` if it passes [`TrustAnchors::check_keysets`]; returns how
    /// many keysets are new.
    pub fn pin_keysets(&mut self, list: &[SignedKeyset]) -> Result<usize> {
        let verified = self.check_keysets(list)?;
        let added = verified.len() - self.keysets.len();
        self.keysets = verified;
        Ok(added)
    }

    /// Fetches the bank's keyset list and pins it (see
    /// [`TrustAnchors::pin_keysets`]); returns how many keysets are new.
    pub fn refresh_keysets(&mut self, bank: &(impl BankApi + ?Sized)) -> Result<usize> {
        let list = bank.keysets()?;
        self.pin_keysets(&list)
    }

    /// The pinned list, signed, for storing.
    pub fn keyset_list(&self) -> KeysetList {
        KeysetList { keysets: self.keysets.iter().map(|k| k.signed().clone()).collect() }
    }

    /// The pinned TTP key statements.
    pub fn ttp(&self) -> &TtpPins {
        &self.ttp
    }

    /// Pins a TTP key statement the operator got from the TTP (an explicit
    /// action: its signing key may be new); see [`TtpPins::trust`].
    pub fn trust_ttp(&mut self, statement: &SignedTtpKeyStatement) -> Result<TtpPinChange> {
        Ok(self.ttp.trust(statement)?)
    }

    /// Pins a TTP key statement from elsewhere (the bank): accepted only
    /// under a signing key already pinned; see [`TtpPins::update`].
    pub fn update_ttp(&mut self, statement: &SignedTtpKeyStatement) -> Result<TtpPinChange> {
        Ok(self.ttp.update(statement)?)
    }

    /// Fetches the bank's TTP key statements and pins each that verifies
    /// under a pinned signing key ([`TtpPins::update`]). Statements the
    /// rules refuse change nothing; they are returned with the reason.
    pub fn refresh_ttp(
        &mut self,
        bank: &(impl BankApi + ?Sized),
    ) -> Result<Vec<(SignedTtpKeyStatement, std::result::Result<TtpPinChange, PinError>)>> {
        let list = bank.ttp_statements()?;
        Ok(list.into_iter().map(|s| (s.clone(), self.ttp.update(&s))).collect())
    }

    /// The pinned keyset `id`, if coins may be withdrawn or accepted under
    /// it: its TTP key must be the decryption key of a pinned TTP key
    /// statement that covers it ([`TtpPins::escrow_statement`]), else
    /// [`Error::UntrustedTtpKey`] or [`Error::TtpKeyNotValid`].
    pub fn usable_keyset(&self, id: &KeysetId) -> Result<&Keyset> {
        let keyset = self.keyset(id)?;
        self.ttp.escrow_statement(keyset)?;
        Ok(keyset)
    }
}
