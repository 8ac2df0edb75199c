//! Restore from a recovery phrase (specs/protocol.md §7.6 item 8): the
//! account's keys are derived again, the bank lists the account's
//! withdrawal transcripts (an account request signed with `A`), each
//! transcript is matched to a withdrawal counter and its coin rebuilt, and
//! every keyset's counter is set past the highest one used.
//!
//! The restore never sends a challenge and never names a coin: it reads
//! the listing and computes everything else itself. A transcript whose
//! request does not match its counter, whose commitment signature does not
//! verify, whose stored challenge is not the recomputed one, or whose
//! answer does not finish a valid coin is reported as withheld.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::Wallet;
use crate::crypto::derive::{WalletSeed, MAX_AUTH_ROTATIONS, MAX_RESTORE_EPOCHS};
use crate::encoding::Point;
use crate::keys::{AccountId, AccountKeys, KeysetId};
use crate::protocol::account::{AccountAnswer, AccountOperation, AccountRequest};
use crate::protocol::withdraw::{
    SessionId, TranscriptState, WalletCoin, WithdrawAnswer, WithdrawStart, WithdrawalTranscript,
};
use crate::protocol::Error;
use crate::roles::bank::BankApi;
use crate::store::WalletStore;
use crate::time::Clock;

/// The most withdrawal counters a restore tries per keyset and identity
/// epoch (§7.6 item 8). There is no gap limit: refused and abandoned
/// sessions burn counters without coins, so the scan goes on until every
/// listed session of the keyset is matched or this ceiling is reached.
pub const MAX_RESTORE_COUNTER: u64 = 1 << 16;

/// Why a restore could not start.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The bank has no account of this phrase: a wrong phrase, or another
    /// bank.
    #[error("the bank has no account of this recovery phrase (account {0}): a wrong phrase or another bank")]
    NoAccount(AccountId),
    /// No key derived from the phrase authenticates the account: it was
    /// re-keyed or its authentication key rotated to a random key.
    #[error("no authentication key derived from the recovery phrase is the account's (re-keyed or rotated to a random key)")]
    NoAuthKey,
    /// The bank or the store failed, or the bank's listing is malformed.
    #[error(transparent)]
    Protocol(#[from] Error),
}

/// Why a listed session's coin is reported withheld.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withheld {
    /// The request's `C`, `E_w` are not the ones of the counter whose
    /// session id it carries.
    RequestMismatch,
    /// The commitment's signature does not verify for the request.
    CommitmentSignature,
    /// The stored challenge is not the one the counter's values give.
    ChallengeMismatch,
    /// The stored answer does not finish a valid coin.
    BadAnswer,
    /// The session's keyset is not among the bank's pinned keysets.
    UnknownKeyset,
}

impl Withheld {
    /// A short name (for people and JSON).
    pub fn name(self) -> &'static str {
        match self {
            Withheld::RequestMismatch => "request-mismatch",
            Withheld::CommitmentSignature => "commitment-signature",
            Withheld::ChallengeMismatch => "challenge-mismatch",
            Withheld::BadAnswer => "bad-answer",
            Withheld::UnknownKeyset => "unknown-keyset",
        }
    }
}

/// What a restore found.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// The identity epoch of the account's current keys.
    pub epoch: u32,
    /// The rotation index of its current authentication key.
    pub auth_rotation: u32,
    /// Sessions the bank listed.
    pub listed: usize,
    /// Coins rebuilt from answered sessions (every one verified).
    pub recovered: Vec<WalletCoin>,
    /// Sessions still open at the bank (nothing debited).
    pub open: usize,
    /// Sessions ended unanswered (nothing debited).
    pub ended: usize,
    /// Sessions whose coin the bank withheld, with the reason.
    pub withheld: Vec<(SessionId, Withheld)>,
    /// Listed sessions no counter up to the ceiling matched.
    pub unmatched: Vec<SessionId>,
    /// Each keyset's next withdrawal counter, as set.
    pub counters: Vec<(KeysetId, u64)>,
}

impl RestoreReport {
    /// The value of the coins recovered.
    pub fn recovered_value(&self) -> u64 {
        self.recovered.iter().map(|c| c.value).sum()
    }
}

/// A restore's progress: sessions matched to counters so far, of those listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreProgress {
    /// Sessions listed so far.
    Listed(usize),
    /// Sessions matched so far, of the listed.
    Matched {
        /// Matched.
        matched: usize,
        /// Listed.
        listed: usize,
    },
}

/// The account keys of epoch `n` with the authentication key of rotation
/// `j`, found by asking the bank for the account's status with each.
fn find_keys(
    seed: &WalletSeed,
    master: &Point,
    bank: &(impl BankApi + ?Sized),
    rng: &mut impl CryptoRngCore,
) -> Result<(u32, u32, AccountKeys), RestoreError> {
    for n in 0..=MAX_RESTORE_EPOCHS {
        let base = seed.account_keys(master, n);
        let root = seed.account_root(master, n);
        for j in 0..=MAX_AUTH_ROTATIONS {
            let keys = base.with_auth(root.auth_at(j));
            match bank.account_request(&AccountRequest::new(&keys, AccountOperation::Status, rng)) {
                Ok(AccountAnswer::Status(st)) if st.identity == *keys.identity().identity() => {
                    return Ok((n, j, keys))
                }
                // Authenticated, but the account's identity is another
                // epoch's.
                Ok(AccountAnswer::Status(_)) => break,
                Ok(_) => return Err(Error::InvalidProof("bank answer").into()),
                Err(Error::UnknownAccount(a)) => return Err(RestoreError::NoAccount(a)),
                Err(Error::InvalidProof(_)) => {}
                Err(Error::RekeyRequired(_)) => return Err(RestoreError::NoAuthKey),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(RestoreError::NoAuthKey)
}

/// The account of `seed` at the bank of `master_key`, found as a restore
/// finds it (an account status request with each key derived from the
/// phrase, nothing else): checks a phrase before anything is written.
///
/// # Errors
/// As [`Wallet::restore`] before it lists anything.
pub fn find_account(
    seed: &WalletSeed,
    master_key: &Point,
    bank: &(impl BankApi + ?Sized),
    rng: &mut impl CryptoRngCore,
) -> Result<AccountId, RestoreError> {
    Ok(find_keys(seed, master_key, bank, rng)?.2.account())
}

impl<S: WalletStore> Wallet<S> {
    /// Restores the wallet of `seed` at the bank of `master_key` into
    /// `store` (specs/protocol.md §7.6 item 8): finds the account's current
    /// keys, lists its withdrawal transcripts, matches each to a counter
    /// (up to [`MAX_RESTORE_COUNTER`] per keyset and epoch), rebuilds and
    /// verifies the coins of answered sessions, and raises each keyset's
    /// counter past the highest matched. Sends account requests only (a
    /// status per key tried, the listing's pages): never a challenge, never
    /// a coin id.
    ///
    /// The recovered coins are returned in the report, not added to the
    /// store: which of them were spent is not known from the transcripts.
    ///
    /// # Errors
    /// [`RestoreError::NoAccount`] for a phrase without an account at this
    /// bank, [`RestoreError::NoAuthKey`] when no derived key authenticates,
    /// [`RestoreError::Protocol`] when the bank or the store fails or the
    /// listing is malformed; the store is unchanged in the first two cases.
    pub fn restore(
        seed: &WalletSeed,
        master_key: Point,
        store: S,
        clock: Arc<dyn Clock>,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
        mut progress: impl FnMut(RestoreProgress),
    ) -> Result<(Self, RestoreReport), RestoreError> {
        let (epoch, auth_rotation, keys) = find_keys(seed, &master_key, bank, rng)?;
        let mut wallet = Wallet::new(keys, master_key, store, clock);
        wallet.pin_keysets(&bank.keysets()?)?;
        let wallet = wallet.with_seed(seed).map_err(|_| RestoreError::NoAuthKey)?;
        let listed = wallet.list_withdrawals(bank, rng, |n| progress(RestoreProgress::Listed(n)))?;
        let mut report = RestoreReport { epoch, auth_rotation, listed: listed.len(), ..Default::default() };

        // Unmatched sessions by keyset, then by session id.
        let mut by_keyset: BTreeMap<KeysetId, HashMap<SessionId, WithdrawalTranscript>> = BTreeMap::new();
        for t in listed {
            by_keyset.entry(t.request.keyset_id).or_default().insert(t.request.session_id, t);
        }
        let mut matched = 0;
        let mut next: BTreeMap<KeysetId, u64> = BTreeMap::new();
        for n in 0..=epoch {
            let root = seed.account_root(wallet.anchors.master_key(), n);
            let keys_n = seed.account_keys(wallet.anchors.master_key(), n);
            for (keyset_id, sessions) in by_keyset.iter_mut() {
                let mut counter = 0;
                while !sessions.is_empty() && counter < MAX_RESTORE_COUNTER {
                    let coin = root.coin(keyset_id, counter);
                    if let Some(t) = sessions.remove(&SessionId(coin.session_id())) {
                        let at = next.entry(*keyset_id).or_insert(0);
                        *at = (*at).max(counter + 1);
                        matched += 1;
                        progress(RestoreProgress::Matched { matched, listed: report.listed });
                        wallet.rebuild(&keys_n, coin, &t, &mut report, rng);
                    }
                    counter += 1;
                }
            }
        }
        for sessions in by_keyset.values() {
            report.unmatched.extend(sessions.keys().copied());
        }
        report.unmatched.sort();
        for (keyset, n) in &next {
            wallet.store.raise_counter(keyset, *n).map_err(Error::from)?;
            report.counters.push((*keyset, *n));
        }
        Ok((wallet, report))
    }

    /// Rebuilds the coin of one matched transcript, or records why the
    /// bank withheld it.
    fn rebuild(
        &self,
        keys: &AccountKeys,
        coin: crate::crypto::derive::CoinSeed,
        t: &WithdrawalTranscript,
        report: &mut RestoreReport,
        rng: &mut impl CryptoRngCore,
    ) {
        let session = t.request.session_id;
        let Ok(keyset) = self.keyset(&t.request.keyset_id) else {
            report.withheld.push((session, Withheld::UnknownKeyset));
            return;
        };
        if t.commitment.verify(&t.request, keyset.signing_key()).is_err() {
            report.withheld.push((session, Withheld::CommitmentSignature));
            return;
        }
        let Some(start) = WithdrawStart::rebuild(keys, keyset, coin, &t.request) else {
            report.withheld.push((session, Withheld::RequestMismatch));
            return;
        };
        let (e, answer) = match t.state {
            TranscriptState::Open => {
                report.open += 1;
                return;
            }
            TranscriptState::Ended => {
                report.ended += 1;
                return;
            }
            TranscriptState::Answered { e, answer } => (e, answer),
        };
        let pending = match start.receive_commitment(keys, &t.commitment, rng) {
            Ok(p) => p,
            Err(_) => {
                report.withheld.push((session, Withheld::CommitmentSignature));
                return;
            }
        };
        if pending.challenge().e != e {
            report.withheld.push((session, Withheld::ChallengeMismatch));
            return;
        }
        match pending.finish(&WithdrawAnswer::answered(session, answer)) {
            Ok(c) => report.recovered.push(c),
            Err(_) => report.withheld.push((session, Withheld::BadAnswer)),
        }
    }
}
