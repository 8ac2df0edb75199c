//! The private spent check after a restore (specs/protocol.md §7.7): the
//! wallet fetches every page of the spent list of every denomination key
//! the bank still accepts deposits under (the same requests for every
//! wallet), names the recovered coins no list holds in one signed query,
//! checks the bank's signed unspent statement against the lists, stores
//! every coin (spent ones never spendable) with the statement, and only
//! then exchanges the coins stated unspent for fresh ones.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRngCore;

use super::exchange::full_split;
use super::Wallet;
use crate::coin::CoinId;
use crate::failpoint::failpoint;
use crate::keys::{Keyset, KeysetId};
use crate::params::MAX_COINS_PER_PAYMENT;
use crate::protocol::spent::{
    check_list, check_statement, contradicted, Omission, SpentError, SpentList, SpentLists, UnspentQuery,
    UnspentStatement, MAX_SPENT_LIST_ATTEMPTS, MAX_UNSPENT_QUERY,
};
use crate::protocol::withdraw::WalletCoin;
use crate::protocol::{Error, Result};
use crate::roles::bank::BankApi;
use crate::store::WalletStore;
use crate::time::Day;

/// The most pages one spent list may claim (a lying page count cannot
/// make a wallet fetch forever): `2^16` pages of
/// [`crate::protocol::spent::SPENT_LIST_PAGE`] coins.
pub const MAX_SPENT_LIST_PAGES: u32 = 1 << 16;

/// The denomination keys whose spent lists a wallet fetches: every key of
/// every keyset the bank lists whose deposit window has not closed on
/// `today`, in the bank's keyset order and the keyset's key order. It
/// depends on the bank's keysets and the day only, never on the wallet's
/// coins.
pub fn spent_list_keys(keysets: &[Keyset], today: Day) -> Vec<(KeysetId, u64)> {
    keysets
        .iter()
        .flat_map(|k| {
            let id = k.id();
            k.document()
                .keys
                .iter()
                .filter(move |d| d.windows.deposit_until >= today)
                .map(move |d| (id, d.value))
        })
        .collect()
}

/// Fetches every page of the spent list of each of `keys`, all of one
/// publication, each page checked ([`check_list`]). When a publication
/// happens while the lists are fetched (pages of different sequences), the
/// whole set is fetched again, at most [`MAX_SPENT_LIST_ATTEMPTS`] times.
///
/// # Errors
/// [`SpentError::Unsettled`] when every attempt saw a publication;
/// [`SpentError::Page`] or [`SpentError::Signature`] for a page that does
/// not check, or a sequence lower than one seen before (a rollback).
pub fn fetch_spent_lists(
    bank: &(impl BankApi + ?Sized),
    keys: &[(KeysetId, u64)],
    master_key: &crate::encoding::Point,
) -> Result<SpentLists> {
    let mut highest = 0u64;
    'attempt: for _ in 0..MAX_SPENT_LIST_ATTEMPTS {
        let mut all = SpentLists::default();
        let mut sequence: Option<u64> = None;
        for (keyset, value) in keys {
            let bad = |reason| SpentError::Page { keyset: *keyset, value: *value, reason };
            let first = bank.spent_list(keyset, *value, 0)?;
            if first.pages == 0 || first.pages > MAX_SPENT_LIST_PAGES {
                return Err(bad("page count out of range").into());
            }
            let mut pages = vec![first];
            for p in 1..pages[0].pages {
                pages.push(bank.spent_list(keyset, *value, p)?);
            }
            for page in &pages {
                page.verify(master_key)?;
                if page.sequence < highest {
                    return Err(bad("an older publication than one seen before").into());
                }
                highest = page.sequence;
                if *sequence.get_or_insert(page.sequence) != page.sequence {
                    continue 'attempt;
                }
            }
            check_list(keyset, *value, &pages, master_key)?;
            all.pages.extend(pages);
        }
        all.sequence = sequence.unwrap_or(0);
        return Ok(all);
    }
    Err(SpentError::Unsettled(MAX_SPENT_LIST_ATTEMPTS).into())
}

/// What the spent check of a restore found and did.
#[derive(Debug, Default)]
pub struct SpentCheck {
    /// Spent-list pages fetched.
    pub pages: usize,
    /// Denomination keys whose lists were fetched.
    pub keys: usize,
    /// The lists' publication.
    pub sequence: u64,
    /// The statements that answered the wallet's queries.
    pub statements: Vec<UnspentStatement>,
    /// Coins on a list or stated spent: stored spent, never spendable.
    pub spent: Vec<CoinId>,
    /// Coins stated unspent: stored held.
    pub unspent: Vec<CoinId>,
    /// Coins the bank stated spent that its lists left out, each with the
    /// signed page and the index of the signed statement (in
    /// `statements`) that prove it; such a coin is stored spent.
    pub omissions: Vec<(Omission, usize)>,
}

impl<S: WalletStore> Wallet<S> {
    /// The spent check of restored coins (specs/protocol.md §7.7): fetches
    /// the lists, names the coins no list holds in signed queries (at most
    /// [`MAX_UNSPENT_QUERY`] a query), checks each statement, and stores
    /// every coin with its statement: coins on a list or stated spent as
    /// spent, coins stated unspent as held. Nothing is spent here; the
    /// coins stated unspent are exchanged by
    /// [`Wallet::exchange_restored`].
    ///
    /// # Errors
    /// [`Error::Spent`] for lists or a statement that do not check (nothing
    /// is stored then), or the bank's and the store's errors.
    pub fn check_spent(
        &self,
        bank: &(impl BankApi + ?Sized),
        coins: &[WalletCoin],
        rng: &mut impl CryptoRngCore,
    ) -> Result<SpentCheck> {
        let keys = spent_list_keys(self.keysets(), self.clock.today());
        let lists = fetch_spent_lists(bank, &keys, self.anchors.master_key())?;
        let mut check = SpentCheck {
            pages: lists.pages.len(),
            keys: keys.len(),
            sequence: lists.sequence,
            ..Default::default()
        };
        let by_id: BTreeMap<CoinId, &WalletCoin> = coins.iter().map(|c| (c.coin.id(), c)).collect();
        let key_of = |id: &CoinId| by_id.get(id).map(|c| (c.coin.body.keyset_id, c.value));
        let candidates: Vec<CoinId> = by_id.keys().filter(|id| lists.find(id).is_none()).copied().collect();
        check.spent.extend(by_id.keys().filter(|id| lists.find(id).is_some()));
        // Every query is answered and checked before anything is stored.
        let mut answered = Vec::new();
        for chunk in candidates.chunks(MAX_UNSPENT_QUERY) {
            let query = UnspentQuery::new(&self.keys, chunk, rng);
            let statement = bank.unspent_statement(&query)?;
            let omissions = check_statement(&statement, &query, &lists, self.anchors.master_key(), key_of)?;
            let index = answered.len();
            check.omissions.extend(omissions.into_iter().map(|o| (o, index)));
            answered.push(statement);
        }
        let coins_of = |ids: &mut dyn Iterator<Item = &CoinId>| -> Vec<WalletCoin> {
            ids.filter_map(|id| by_id.get(id).map(|c| (*c).clone())).collect()
        };
        // The coins the lists hold are stored spent with the first
        // statement (in one transaction), or alone when none was needed.
        let mut listed = coins_of(&mut check.spent.iter());
        if answered.is_empty() {
            self.store.restore_coins(&[], &listed, None)?;
        }
        for statement in &answered {
            let held = coins_of(&mut statement.unspent.iter());
            let mut spent = coins_of(&mut statement.spent.iter().map(|e| &e.coin_id));
            spent.append(&mut listed);
            self.store.restore_coins(&held, &spent, Some(statement))?;
            check.unspent.extend(statement.unspent.iter().copied());
            check.spent.extend(statement.spent.iter().map(|e| e.coin_id));
        }
        failpoint!("wallet.restore.stored");
        check.spent.sort();
        check.statements = answered;
        Ok(check)
    }

    /// Exchanges every coin an unspent statement of a restore names as
    /// unspent and the wallet still holds, for fresh coins (so copies left
    /// elsewhere are worthless), in exchanges of at most
    /// [`MAX_COINS_PER_PAYMENT`] coins; then marks the statement exchanged.
    /// Resumable: an interrupted exchange is taken up by
    /// [`Wallet::resume`], and coins not yet handed to one are exchanged
    /// when this runs again. Returns the value exchanged.
    pub fn exchange_restored(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<u64> {
        let mut value = 0u64;
        for (statement, exchanged) in self.store.spent_statements()? {
            if exchanged {
                continue;
            }
            let named: BTreeSet<&CoinId> = statement.unspent.iter().collect();
            let held: Vec<WalletCoin> = self
                .store
                .coins()?
                .into_iter()
                .filter(|c| c.spent_in.is_none() && named.contains(&c.coin.coin.id()))
                .map(|c| c.coin)
                .collect();
            let today = self.clock.today();
            let usable: Vec<WalletCoin> = held
                .into_iter()
                .filter(|c| {
                    self.keyset(&c.coin.body.keyset_id)
                        .ok()
                        .and_then(|k| k.key(&c.coin.body.key_id))
                        .is_some_and(|k| k.spendable_on(today))
                        && c.secrets.expiry() >= today
                })
                .collect();
            let denominations = self.withdrawal_keyset()?.values_desc();
            for chunk in usable.chunks(MAX_COINS_PER_PAYMENT) {
                let v = crate::protocol::checked_sum(chunk.iter().map(|c| c.value))?;
                let done = self.exchange_coins(bank, chunk, full_split(v, &denominations)?, rng)?;
                value = value.checked_add(done.credited).ok_or(Error::Overflow)?;
            }
            self.store.statement_exchanged(&statement.request)?;
        }
        Ok(value)
    }
}

/// A statement of the bank, stored by a restore, that a signed spent-list
/// page contradicts: the page lists `coins` published no later than the
/// statement's sequence, which the statement called unspent. The two
/// signed messages prove the bank lied (specs/protocol.md §7.7 item 7), and
/// double-spending evidence against these coins is void.
#[derive(Clone, Debug)]
pub struct Contradiction {
    /// The bank's signed statement, as stored.
    pub statement: UnspentStatement,
    /// The bank's signed page that contradicts it.
    pub page: SpentList,
    /// The coins the statement called unspent and the page lists as spent
    /// at or before the statement's sequence.
    pub coins: Vec<CoinId>,
}

impl<S: WalletStore> Wallet<S> {
    /// Checks every unspent statement a restore stored against the bank's
    /// current spent lists (fetched as a restore fetches them: every page of
    /// every key, so the requests name no coin), returning each page that
    /// contradicts a statement. An honest bank gives none; a bank that
    /// stated a spent coin unspent (and so could make the restored wallet
    /// spend it again) is caught as soon as it lists the coin.
    ///
    /// # Errors
    /// [`Error::Spent`] for lists that do not check, or a stored statement
    /// that no longer verifies; the bank's and the store's errors.
    pub fn audit_statements(
        &self,
        bank: &(impl BankApi + ?Sized),
    ) -> Result<(SpentLists, Vec<Contradiction>)> {
        let statements = self.store.spent_statements()?;
        let keys = spent_list_keys(self.keysets(), self.clock.today());
        let lists = fetch_spent_lists(bank, &keys, self.anchors.master_key())?;
        // The pages were verified as they were fetched; each statement is
        // verified once here.
        let mut found = Vec::new();
        for (statement, _) in statements {
            statement.verify(self.anchors.master_key())?;
            for page in &lists.pages {
                let coins = contradicted(&statement, page);
                if !coins.is_empty() {
                    found.push(Contradiction { statement: statement.clone(), page: page.clone(), coins });
                }
            }
        }
        Ok((lists, found))
    }
}

/// The signed page and statement that prove an omission, as a pair.
pub fn omission_proof<'a>(
    check: &'a SpentCheck,
    omission: &'a (Omission, usize),
) -> (&'a SpentList, &'a UnspentStatement) {
    (&omission.0.page, &check.statements[omission.1])
}
