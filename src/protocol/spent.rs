//! Spent lists and the unspent statement (specs/protocol.md §7.7): how a
//! restored wallet learns which of its coins were spent without asking the
//! bank about one coin, and why a bank that hides a spend cannot make the
//! restored user a double spender.
//!
//! * [`SpentList`]: one page of the list of a denomination key
//!   `(keyset, value)` as of the publication `N`, signed by the bank master
//!   key; unauthenticated, the same for every client between publications.
//! * [`UnspentQuery`]: the wallet names the coins no list holds, in one
//!   request signed with the account's authentication key.
//! * [`UnspentStatement`]: the bank's signed answer, made right after a
//!   publication: which of them are unspent as of `N'` and which are spent,
//!   with their publication sequence.
//! * [`check_statement`] finds an omission (a coin stated spent, published
//!   at or before the lists' `N`, that the list left out: signed proof);
//!   [`contradiction`] finds a coin the bank stated unspent as of `N'` that
//!   a signed list shows published at or before `N'` (signed proof the
//!   bank lied).

use std::collections::BTreeSet;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::account::{authorization_digest, authorize, verify_authorization};
use crate::coin::CoinId;
use crate::crypto::schnorr::{Signature, SigningKey};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{AccountId, AccountKeys, KeysetId};
use crate::time::Timestamp;
use crate::wire::{DecodeError, MessageKind, WireMessage};

/// Entries in one page of a spent list (every page but the last is full).
pub const SPENT_LIST_PAGE: usize = 1024;

/// Most coins one unspent query names.
pub const MAX_UNSPENT_QUERY: usize = 1024;

/// How many times a wallet fetches the whole set of lists again when a
/// publication happened while it was fetching them.
pub const MAX_SPENT_LIST_ATTEMPTS: usize = 4;

/// The operation name an [`UnspentQuery`]'s authorization signs.
pub const UNSPENT_QUERY_OPERATION: &str = "unspent-statement";

/// One spent coin on a list: its id and the publication that put it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpentEntry {
    /// The coin.
    pub coin_id: CoinId,
    /// The publication sequence of its record (0 in a statement: recorded
    /// after the statement's publication, on no list yet).
    pub published: u64,
}

/// One page of the spent list of the denomination key `(keyset_id,
/// value)` as of the publication `sequence` (wire kind 0x34).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpentList {
    /// The keyset.
    pub keyset_id: KeysetId,
    /// The denomination value.
    pub value: u64,
    /// The publication `N`: the list holds every record with
    /// `published ≤ N` (not pruned).
    pub sequence: u64,
    /// When the page was made.
    pub issued: Timestamp,
    /// This page's index, from 0.
    pub page: u32,
    /// How many pages the list has (at least 1).
    pub pages: u32,
    /// The entries, by coin id, strictly increasing.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, SpentEntry, SPENT_LIST_PAGE>"
    )]
    pub entries: Vec<SpentEntry>,
    /// The bank master key's signature.
    pub signature: Signature,
}

/// The signature field of a message before it is signed.
fn unsigned() -> Signature {
    Signature { r: Point::identity(), s: curve25519_dalek::scalar::Scalar::ZERO }
}

fn invalid(what: &'static str, field: &'static str, reason: &str) -> DecodeError {
    DecodeError::InvalidField { what, field, reason: reason.into() }
}

/// Strictly increasing by coin id.
fn strictly_sorted<'a>(ids: impl Iterator<Item = &'a CoinId>) -> bool {
    let mut prev: Option<&CoinId> = None;
    for id in ids {
        if prev.is_some_and(|p| p >= id) {
            return false;
        }
        prev = Some(id);
    }
    true
}

impl WireMessage for SpentList {
    const KIND: MessageKind = MessageKind::SpentList;
    const MAX_BYTES: usize = 256 + 48 * SPENT_LIST_PAGE;
    fn check(&self) -> Result<(), DecodeError> {
        let what = Self::what();
        if self.pages == 0 || self.page >= self.pages {
            return Err(invalid(what, "page", "not below the page count"));
        }
        if !strictly_sorted(self.entries.iter().map(|e| &e.coin_id)) {
            return Err(invalid(what, "entries", "not strictly increasing by coin id"));
        }
        if self.entries.iter().any(|e| e.published == 0 || e.published > self.sequence) {
            return Err(invalid(what, "entries", "published outside 1..=sequence"));
        }
        Ok(())
    }
}

impl SpentList {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(80 + 40 * self.entries.len());
        m.extend_from_slice(self.keyset_id.as_bytes());
        m.extend_from_slice(&self.value.to_le_bytes());
        m.extend_from_slice(&self.sequence.to_le_bytes());
        m.extend_from_slice(&self.issued.0.to_le_bytes());
        m.extend_from_slice(&self.page.to_le_bytes());
        m.extend_from_slice(&self.pages.to_le_bytes());
        m.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            m.extend_from_slice(e.coin_id.as_bytes());
            m.extend_from_slice(&e.published.to_le_bytes());
        }
        m
    }

    /// A page signed with the bank master key.
    pub fn signed(
        (keyset_id, value): (KeysetId, u64),
        sequence: u64,
        issued: Timestamp,
        (page, pages): (u32, u32),
        entries: Vec<SpentEntry>,
        master: &SigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut list =
            SpentList { keyset_id, value, sequence, issued, page, pages, entries, signature: unsigned() };
        list.sign(master, rng);
        list
    }

    /// Signs the page again, as it now is, with `master`.
    pub fn sign(&mut self, master: &SigningKey, rng: &mut impl CryptoRngCore) {
        self.signature = master.sign(labels::SPENT_LIST_SIGNATURE, &self.message(), rng);
    }

    /// Verifies the signature by the bank master key.
    pub fn verify(&self, master_key: &Point) -> Result<(), SpentError> {
        self.signature
            .verify(labels::SPENT_LIST_SIGNATURE, &self.message(), master_key)
            .map_err(|_| SpentError::Signature("spent list"))
    }

    /// Whether `coin` is on this page.
    pub fn holds(&self, coin: &CoinId) -> Option<&SpentEntry> {
        self.entries.binary_search_by(|e| e.coin_id.cmp(coin)).ok().map(|i| &self.entries[i])
    }
}

/// The coins a restored wallet names for an [`UnspentStatement`] (wire
/// kind 0x36), signed with the account's authentication key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnspentQuery {
    /// The account.
    pub account: AccountId,
    /// A fresh id (bound by the authorization and the statement).
    pub request_id: [u8; 16],
    /// The coins, strictly increasing, 1 to [`MAX_UNSPENT_QUERY`].
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, CoinId, MAX_UNSPENT_QUERY>"
    )]
    pub coins: Vec<CoinId>,
    /// The authentication key's signature (§7.3, operation
    /// `unspent-statement`, body: the coin ids concatenated).
    pub authorization: Signature,
}

impl WireMessage for UnspentQuery {
    const KIND: MessageKind = MessageKind::UnspentQuery;
    const MAX_BYTES: usize = 256 + 33 * MAX_UNSPENT_QUERY;
    fn check(&self) -> Result<(), DecodeError> {
        if self.coins.is_empty() {
            return Err(invalid(Self::what(), "coins", "empty"));
        }
        if !strictly_sorted(self.coins.iter()) {
            return Err(invalid(Self::what(), "coins", "not strictly increasing"));
        }
        Ok(())
    }
}

fn ids_body(coins: &[CoinId]) -> Vec<u8> {
    coins.iter().flat_map(|c| c.0).collect()
}

impl UnspentQuery {
    /// Names `coins` (any order; duplicates dropped) for the account of
    /// `keys`, under a fresh request id.
    pub fn new(keys: &AccountKeys, coins: &[CoinId], rng: &mut impl CryptoRngCore) -> Self {
        let coins: Vec<CoinId> = coins.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        let mut request_id = [0u8; 16];
        rng.fill_bytes(&mut request_id);
        let account = keys.account();
        let authorization =
            authorize(UNSPENT_QUERY_OPERATION, &account, &request_id, &ids_body(&coins), keys.auth(), rng);
        UnspentQuery { account, request_id, coins, authorization }
    }

    /// The digest the authorization signs (the statement binds it).
    pub fn digest(&self) -> [u8; 32] {
        authorization_digest(UNSPENT_QUERY_OPERATION, &self.account, &self.request_id, &ids_body(&self.coins))
    }

    /// Verifies the authorization under the account's authentication key.
    pub fn verify(&self, auth_key: &Point) -> super::Result<()> {
        verify_authorization(
            UNSPENT_QUERY_OPERATION,
            &self.account,
            &self.request_id,
            &ids_body(&self.coins),
            &self.authorization,
            auth_key,
        )
    }
}

/// The bank's signed answer to an [`UnspentQuery`] (wire kind 0x35): made
/// right after a publication `sequence`, it states which named coins were
/// unspent as of it and which are spent, with their publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnspentStatement {
    /// The account that asked.
    pub account: AccountId,
    /// The query's digest ([`UnspentQuery::digest`]).
    #[serde(with = "crate::encoding::hex32")]
    pub request: [u8; 32],
    /// The publication `N'` the statement is made as of.
    pub sequence: u64,
    /// When it was made.
    pub issued: Timestamp,
    /// The coins unspent as of `sequence`, strictly increasing.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, CoinId, MAX_UNSPENT_QUERY>"
    )]
    pub unspent: Vec<CoinId>,
    /// The coins found spent, strictly increasing by coin id, with their
    /// publication (0: recorded after the publication `sequence`).
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, SpentEntry, MAX_UNSPENT_QUERY>"
    )]
    pub spent: Vec<SpentEntry>,
    /// The bank master key's signature.
    pub signature: Signature,
}

impl WireMessage for UnspentStatement {
    const KIND: MessageKind = MessageKind::UnspentStatement;
    const MAX_BYTES: usize = 256 + 33 * MAX_UNSPENT_QUERY + 48 * MAX_UNSPENT_QUERY;
    fn check(&self) -> Result<(), DecodeError> {
        let what = Self::what();
        if !strictly_sorted(self.unspent.iter()) || !strictly_sorted(self.spent.iter().map(|e| &e.coin_id)) {
            return Err(invalid(what, "coins", "not strictly increasing"));
        }
        if self.unspent.len() + self.spent.len() > MAX_UNSPENT_QUERY {
            return Err(invalid(what, "coins", "more than a query names"));
        }
        if self.spent.iter().any(|e| e.published > self.sequence) {
            return Err(invalid(what, "spent", "published after the statement's sequence"));
        }
        let unspent: BTreeSet<&CoinId> = self.unspent.iter().collect();
        if self.spent.iter().any(|e| unspent.contains(&e.coin_id)) {
            return Err(invalid(what, "coins", "a coin stated both spent and unspent"));
        }
        Ok(())
    }
}

impl UnspentStatement {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(96 + 40 * (self.unspent.len() + self.spent.len()));
        m.extend_from_slice(self.account.as_bytes());
        m.extend_from_slice(&self.request);
        m.extend_from_slice(&self.sequence.to_le_bytes());
        m.extend_from_slice(&self.issued.0.to_le_bytes());
        m.extend_from_slice(&(self.unspent.len() as u64).to_le_bytes());
        for c in &self.unspent {
            m.extend_from_slice(c.as_bytes());
        }
        m.extend_from_slice(&(self.spent.len() as u64).to_le_bytes());
        for e in &self.spent {
            m.extend_from_slice(e.coin_id.as_bytes());
            m.extend_from_slice(&e.published.to_le_bytes());
        }
        m
    }

    /// The statement answering `query` as of `sequence`, signed with the
    /// bank master key: `published[i]` is the record of `query.coins[i]`
    /// (`None`: unrecorded, so unspent; `Some(None)`: recorded after the
    /// publication).
    pub fn signed(
        query: &UnspentQuery,
        sequence: u64,
        issued: Timestamp,
        published: &[Option<Option<u64>>],
        master: &SigningKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let (mut unspent, mut spent) = (Vec::new(), Vec::new());
        for (coin_id, p) in query.coins.iter().zip(published) {
            match p {
                None => unspent.push(*coin_id),
                Some(p) => spent.push(SpentEntry { coin_id: *coin_id, published: p.unwrap_or(0) }),
            }
        }
        let mut st = UnspentStatement {
            account: query.account,
            request: query.digest(),
            sequence,
            issued,
            unspent,
            spent,
            signature: unsigned(),
        };
        st.sign(master, rng);
        st
    }

    /// Signs the statement again, as it now is, with `master`.
    pub fn sign(&mut self, master: &SigningKey, rng: &mut impl CryptoRngCore) {
        self.signature = master.sign(labels::UNSPENT_STATEMENT_SIGNATURE, &self.message(), rng);
    }

    /// Verifies the signature by the bank master key.
    pub fn verify(&self, master_key: &Point) -> Result<(), SpentError> {
        self.signature
            .verify(labels::UNSPENT_STATEMENT_SIGNATURE, &self.message(), master_key)
            .map_err(|_| SpentError::Signature("unspent statement"))
    }
}

/// Why spent lists or a statement were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpentError {
    /// A signature does not verify under the bank master key.
    #[error("{0}: signature does not verify under the bank master key")]
    Signature(&'static str),
    /// A page does not answer what was asked (key, page), or its page
    /// count, order or fullness does not fit the other pages of its list.
    #[error("spent list of keyset {keyset} value {value}: {reason}")]
    Page {
        /// The keyset asked for.
        keyset: KeysetId,
        /// The value asked for.
        value: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The pages kept coming from different publications.
    #[error("the bank published its spent lists again during each of {0} attempts to fetch them")]
    Unsettled(usize),
    /// The statement does not answer the query: another account or
    /// request, or not exactly the coins named.
    #[error("the unspent statement does not answer the query: {0}")]
    NotTheQuery(&'static str),
    /// The statement is older than the lists (a lower sequence).
    #[error("the unspent statement is as of publication {statement}, older than the lists' {lists}")]
    Older {
        /// The statement's sequence.
        statement: u64,
        /// The lists' sequence.
        lists: u64,
    },
}

/// The spent lists of every denomination key asked for, all as of one
/// publication.
#[derive(Clone, Debug, Default)]
pub struct SpentLists {
    /// Their publication `N`.
    pub sequence: u64,
    /// Every page, list by list, pages in order.
    pub pages: Vec<SpentList>,
}

impl SpentLists {
    /// The page that lists `coin`, if any does.
    pub fn find(&self, coin: &CoinId) -> Option<&SpentList> {
        self.pages.iter().find(|p| p.holds(coin).is_some())
    }

    /// The page of the list of `(keyset, value)` whose range holds `coin`
    /// (where it would be if it were listed): the proof of an omission.
    pub fn page_for(&self, keyset: &KeysetId, value: u64, coin: &CoinId) -> Option<&SpentList> {
        self.pages
            .iter()
            .filter(|p| p.keyset_id == *keyset && p.value == value)
            .find(|p| p.entries.last().is_some_and(|e| e.coin_id >= *coin) || p.page + 1 == p.pages)
    }
}

/// Checks the pages of one list, as fetched for `(keyset, value)`: each
/// signed, answering the key and page asked for, all of one sequence and
/// page count, every page but the last full, coin ids increasing across
/// pages.
pub fn check_list(
    keyset: &KeysetId,
    value: u64,
    pages: &[SpentList],
    master_key: &Point,
) -> Result<(), SpentError> {
    let bad = |reason| SpentError::Page { keyset: *keyset, value, reason };
    let first = pages.first().ok_or(bad("no page"))?;
    if pages.len() != first.pages as usize {
        return Err(bad("not as many pages as its page count"));
    }
    let mut last: Option<CoinId> = None;
    for (i, p) in pages.iter().enumerate() {
        p.check().map_err(|_| bad("malformed page"))?;
        p.verify(master_key)?;
        if p.keyset_id != *keyset || p.value != value || p.page as usize != i {
            return Err(bad("answers another key or page"));
        }
        if p.sequence != first.sequence || p.pages != first.pages {
            return Err(bad("pages of different publications"));
        }
        if i + 1 < pages.len() && p.entries.len() != SPENT_LIST_PAGE {
            return Err(bad("a page before the last is not full"));
        }
        if let (Some(l), Some(e)) = (last, p.entries.first()) {
            if e.coin_id <= l {
                return Err(bad("coin ids not increasing across pages"));
            }
        }
        last = p.entries.last().map(|e| e.coin_id).or(last);
    }
    Ok(())
}

/// A coin the bank stated spent, published at or before the lists'
/// sequence, that the list of its key left out: signed proof that the
/// bank omitted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Omission {
    /// The coin.
    pub coin_id: CoinId,
    /// Its publication, as the statement gives it.
    pub published: u64,
    /// The signed page where it would be listed.
    pub page: SpentList,
}

/// Checks a statement against the query it answers and the lists fetched
/// before it (specs/protocol.md §7.7): the signature, the account and
/// request, exactly the coins named, a sequence not below the lists'.
/// Returns the omissions: coins stated spent with `1 ≤ published ≤` the
/// lists' sequence that the lists leave out (`key_of` gives each named
/// coin's denomination key).
pub fn check_statement(
    statement: &UnspentStatement,
    query: &UnspentQuery,
    lists: &SpentLists,
    master_key: &Point,
    key_of: impl Fn(&CoinId) -> Option<(KeysetId, u64)>,
) -> Result<Vec<Omission>, SpentError> {
    statement.check().map_err(|_| SpentError::NotTheQuery("malformed"))?;
    statement.verify(master_key)?;
    if statement.account != query.account || statement.request != query.digest() {
        return Err(SpentError::NotTheQuery("another account or request"));
    }
    let named: BTreeSet<&CoinId> = query.coins.iter().collect();
    let answered: BTreeSet<&CoinId> =
        statement.unspent.iter().chain(statement.spent.iter().map(|e| &e.coin_id)).collect();
    if named != answered || answered.len() != statement.unspent.len() + statement.spent.len() {
        return Err(SpentError::NotTheQuery("not exactly the coins named"));
    }
    if statement.sequence < lists.sequence {
        return Err(SpentError::Older { statement: statement.sequence, lists: lists.sequence });
    }
    let mut omissions = Vec::new();
    for e in &statement.spent {
        if e.published == 0 || e.published > lists.sequence || lists.find(&e.coin_id).is_some() {
            continue;
        }
        let page = key_of(&e.coin_id)
            .and_then(|(k, v)| lists.page_for(&k, v, &e.coin_id))
            .ok_or(SpentError::NotTheQuery("a coin stated spent whose list was not fetched"))?;
        omissions.push(Omission { coin_id: e.coin_id, published: e.published, page: page.clone() });
    }
    Ok(omissions)
}

/// The coins a signed statement declares unspent as of `N'` that a signed
/// spent list page shows published at or before `N'`: each is signed proof
/// that the bank lied (double-spend evidence against such a coin whose
/// first deposit is published at or before `N'` is void, §7.7). Both
/// signatures are verified first.
pub fn contradiction(
    statement: &UnspentStatement,
    page: &SpentList,
    master_key: &Point,
) -> Result<Vec<CoinId>, SpentError> {
    statement.verify(master_key)?;
    page.verify(master_key)?;
    Ok(contradicted(statement, page))
}

/// The check of [`contradiction`] on a statement and a page whose
/// signatures were verified already.
pub(crate) fn contradicted(statement: &UnspentStatement, page: &SpentList) -> Vec<CoinId> {
    page.entries
        .iter()
        .filter(|e| e.published >= 1 && e.published <= statement.sequence)
        .filter(|e| statement.unspent.binary_search(&e.coin_id).is_ok())
        .map(|e| e.coin_id)
        .collect()
}
