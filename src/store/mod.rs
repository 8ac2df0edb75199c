//! Storage: narrow, transactional traits per role, named after the facts
//! they record (specs/protocol.md §9.8).
//!
//! The bank's state lives behind [`BankStore`]: [`BankStore::begin`] opens a
//! [`BankTx`]; every method of the transaction reads or records one fact;
//! [`BankTx::commit`] makes all of them durable at once and dropping the
//! transaction without committing rolls all of them back. The protocol code
//! in [`crate::roles::Bank`] runs each money-moving step as one transaction
//! and retries it when the backend reports [`StoreError::Retry`]
//! (deadlocks, serialization failures), so every transaction body is safe to
//! run twice.
//!
//! Uniqueness rules that the protocol relies on are the store's to enforce
//! ([`StoreError::Conflict`]): one account per id, one session per id, one
//! use of an attribute commitment `C`, one spent-coin record per `coin_id`,
//! one piece of double-spending evidence per `coin_id`.
//!
//! [`memory`] implements every trait in memory, [`sqlite`] in SQLite
//! databases.

mod codec;
pub mod conformance;
pub mod memory;
pub mod postgres;
pub mod sqlite;

use curve25519_dalek::scalar::Scalar;
use serde::{Deserialize, Serialize};

use crate::coin::CoinId;
use crate::crypto::acl::{AnsweredSession, SignerCommitment, SignerSession};
use crate::crypto::secret::SecretBytes;
use crate::encoding::Point;
use crate::keys::{AccountId, KeysetId, SignedKeyset};
use crate::protocol::account::{AccountEvent, Reservation, ReservationId};
use crate::protocol::deposit::{
    DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome, PaymentRefusal,
};
use crate::protocol::pay::{Payment, PaymentRequest};
use crate::protocol::trace::{LogEntry, WatchListVersion};
use crate::protocol::withdraw::{PendingWithdrawal, SessionId, WalletCoin, WithdrawRequest, WithdrawStart};
use crate::time::{Day, Timestamp};
use crate::trustees::dkg::DkgAbort;

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (the named fact exists already).
    #[error("conflict: {0} exists already")]
    Conflict(&'static str),
    /// A transient failure (serialization conflict, lock timeout): retry.
    #[error("transient store failure; retry")]
    Retry,
    /// A fact the operation needs is missing.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
    /// Stored data failed to decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The kind of a bank account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    /// A user (withdraws coins); its key is the identity `I`.
    User,
    /// A merchant (deposits coins); its key is `M`.
    Merchant,
}

/// A bank account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The id (a hash of the key it was registered with).
    pub id: AccountId,
    /// User or merchant.
    pub kind: AccountKind,
    /// The current `I` for a user (a re-key replaces it), `M` for a merchant.
    pub public_key: Point,
    /// Balance in base units.
    pub balance: u64,
    /// Frozen accounts cannot withdraw.
    pub frozen: bool,
    /// Day of registration.
    pub registered: Day,
    /// A user's authentication key `A` (every account operation is signed
    /// with it); `None` for merchants (whose key `M` signs their deposits)
    /// and for users registered before accounts had authentication keys
    /// (they must be re-keyed by the operator).
    pub auth_key: Option<Point>,
}

/// An identity `I` a user account holds or held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// `I`.
    pub identity: Point,
    /// The account.
    pub account: AccountId,
    /// The day it was registered (or the account re-keyed to it).
    pub since: Day,
    /// The day a re-key retired it: never accepted again.
    pub retired: Option<Day>,
    /// Double-spending evidence made its `u` public: an account whose
    /// current identity is revealed cannot be unfrozen.
    pub revealed: bool,
}

/// An account request recorded for replay protection, with its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRequestRecord {
    /// The account.
    pub account: AccountId,
    /// The request id.
    pub request_id: [u8; 16],
    /// The request's digest (what its authorization signs).
    pub digest: [u8; 32],
    /// The answer given, in its binary wire form.
    pub answer: Vec<u8>,
}

/// The state of a withdrawal session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SessionState {
    /// Opened; holds the signer's nonces.
    Open(SignerSession),
    /// Answered; `w` is gone, the answer is kept for replay.
    Answered {
        /// Challenge and answer.
        answered: AnsweredSession,
        /// When.
        at: Timestamp,
    },
    /// Ended unanswered (expired, refused, released or abandoned); nonces
    /// erased, nothing debited, never answered.
    Expired,
}

impl SessionState {
    /// Whether the session is open.
    pub fn is_open(&self) -> bool {
        matches!(self, SessionState::Open(_))
    }
}

/// A withdrawal session and record: the request (with `E_w` and `pi_W`, kept
/// for coin tracing), the bank's commitment, and its state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WithdrawSession {
    /// The request as received.
    pub request: WithdrawRequest,
    /// The coin's value.
    pub value: u64,
    /// The bank's first message.
    pub commitment: SignerCommitment,
    /// When it was opened.
    pub opened: Timestamp,
    /// When an unanswered session expires.
    pub expires: Timestamp,
    /// The store's session epoch at opening.
    pub epoch: u64,
    /// The account's identity `I` that `pi_W` was verified against (an
    /// account re-keyed later has another).
    pub identity: Point,
    /// Open, answered or expired.
    pub state: SessionState,
}

impl WithdrawSession {
    /// The session id.
    pub fn id(&self) -> SessionId {
        self.request.session_id
    }
}

/// What [`BankTx::insert_spent_coins`] found for one coin.
// Short-lived, one per coin of a request: not worth a box per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpendOutcome {
    /// Recorded now; the case that put its serial on the watch list, if
    /// it is there.
    New {
        /// The watch-list case of the coin's serial.
        watched: Option<String>,
    },
    /// Recorded before: the record (its challenge, payment and index are
    /// what double-spending evidence needs).
    Spent(SpentCoin),
}

/// Every coin's payment is among `payments` (checked before anything is
/// written).
fn check_spend_payments(payments: &[([u8; 32], &Payment)], coins: &[SpentCoin]) -> StoreResult<()> {
    let digests: std::collections::HashSet<&[u8; 32]> = payments.iter().map(|(d, _)| d).collect();
    match coins.iter().all(|c| digests.contains(&c.payment_digest)) {
        true => Ok(()),
        false => Err(StoreError::NotFound("payment of a spent coin")),
    }
}

/// [`BankTx::insert_spent_coins`] one coin at a time (the embedded stores,
/// where a statement costs no round trip): look the coin up; if it is
/// unrecorded, store its payment (once) and `insert` its record.
fn insert_spent_coins_in_order<T: BankTx + ?Sized>(
    tx: &mut T,
    payments: &[([u8; 32], &Payment)],
    coins: &[SpentCoin],
    insert: fn(&mut T, &SpentCoin) -> StoreResult<()>,
) -> StoreResult<Vec<SpendOutcome>> {
    check_spend_payments(payments, coins)?;
    let mut stored = std::collections::HashSet::new();
    let mut outcomes = Vec::with_capacity(coins.len());
    for coin in coins {
        if let Some(prev) = tx.spent_coin(&coin.coin_id)? {
            outcomes.push(SpendOutcome::Spent(prev));
            continue;
        }
        if stored.insert(coin.payment_digest) {
            let (digest, payment) = payments
                .iter()
                .find(|(d, _)| *d == coin.payment_digest)
                .ok_or(StoreError::NotFound("payment of a spent coin"))?;
            tx.insert_payment(digest, payment)?;
        }
        insert(tx, coin)?;
        outcomes.push(SpendOutcome::New { watched: tx.watched_serial(&coin.serial)? });
    }
    Ok(outcomes)
}

/// A spent coin: the first verified spend of one `coin_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentCoin {
    /// The coin.
    pub coin_id: CoinId,
    /// Its serial `S`.
    pub serial: Point,
    /// The spend's challenge `c`.
    #[serde(with = "crate::encoding::scalar")]
    pub challenge: Scalar,
    /// The depositing merchant.
    pub merchant: AccountId,
    /// The payment day `D`.
    pub day: Day,
    /// The bank's receipt day `R`.
    pub receipt_day: Day,
    /// Digest of the stored payment (the transcript).
    #[serde(with = "crate::encoding::hex32")]
    pub payment_digest: [u8; 32],
    /// Index of the coin in that payment.
    pub coin_index: u32,
    /// The coin's value.
    pub value: u64,
    /// The coin's keyset: with `value`, its denomination key (the spent
    /// list the coin is on, specs/protocol.md §7.7).
    pub keyset: KeysetId,
    /// The record may be pruned after this day:
    /// `R + validity + max deposit delay`.
    pub prune_after: Day,
}

/// A publication of the spent lists: its sequence and when it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentPublication {
    /// The sequence `N` (0: nothing published yet).
    pub sequence: u64,
    /// When it was made.
    pub at: Timestamp,
}

/// The keyset of coin `index` of a stored payment: how the stores fill the
/// keyset of spent-coin records made before records carried it.
pub(crate) fn keyset_of_spent(payment: &Payment, index: i64) -> StoreResult<KeysetId> {
    usize::try_from(index)
        .ok()
        .and_then(|i| payment.coins.get(i))
        .map(|c| c.body.keyset_id)
        .ok_or_else(|| StoreError::Corrupt("spent coin index outside its payment".into()))
}

/// Stored double-spending evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// The evidence.
    pub evidence: DoubleSpendEvidence,
    /// The account it identifies (if registered).
    pub account: Option<AccountId>,
    /// The receipt day of the second spend.
    pub recorded: Day,
}

/// A payee's signed refusal the bank holds (specs/protocol.md §8.6): kept
/// with the reclaim that credited the payer, or as proof that the payee
/// deposited the payment it had refused before the payer reclaimed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRecord {
    /// The digest of the payment refused.
    #[serde(with = "crate::encoding::hex32")]
    pub payment_digest: [u8; 32],
    /// The payer's account (the reclaiming account).
    pub payer: AccountId,
    /// The payee the payment's request names.
    pub payee: AccountId,
    /// The payee's signed refusal.
    pub refusal: crate::protocol::refusal::PayeeRefusal,
    /// The bank's day when it was recorded.
    pub recorded: Day,
    /// `true`: the payee deposited the payment before the reclaim (the
    /// refusal proves it cheated); `false`: the reclaim credited the payer.
    pub broken: bool,
}

/// Stored evidence with its sequence number (the cursor of the evidence
/// list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvidence {
    /// Its place in the order evidence was recorded (from 1).
    pub seq: u64,
    /// The evidence.
    pub record: EvidenceRecord,
}

/// A bank transaction: each method reads or records one fact.
///
/// Dropping the transaction without [`BankTx::commit`] rolls back.
pub trait BankTx {
    /// Makes every change of this transaction durable at once.
    fn commit(self: Box<Self>) -> StoreResult<()>;

    /// The current session epoch (bumped by a restore from backup).
    fn session_epoch(&mut self) -> StoreResult<u64>;
    /// Bumps the session epoch; sessions opened before can no longer answer.
    fn bump_session_epoch(&mut self) -> StoreResult<u64>;

    /// Appends a keyset to the bank's list (conflict if its sequence exists).
    fn insert_keyset(&mut self, keyset: &SignedKeyset) -> StoreResult<()>;
    /// Every keyset, in sequence order.
    fn keysets(&mut self) -> StoreResult<Vec<SignedKeyset>>;

    /// Registers an account (conflict if the id exists).
    fn insert_account(&mut self, account: &Account) -> StoreResult<()>;
    /// The account with this id.
    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Sets an account's balance.
    fn set_balance(&mut self, id: &AccountId, balance: u64) -> StoreResult<()>;
    /// Freezes an account.
    fn freeze_account(&mut self, id: &AccountId) -> StoreResult<()>;
    /// Lifts an account's freeze.
    fn unfreeze_account(&mut self, id: &AccountId) -> StoreResult<()>;
    /// Replaces a user account's authentication key.
    fn set_auth_key(&mut self, id: &AccountId, key: &Point) -> StoreResult<()>;
    /// Replaces a user account's identity `I` (a re-key).
    fn set_identity(&mut self, id: &AccountId, identity: &Point) -> StoreResult<()>;
    /// Every account.
    fn accounts(&mut self) -> StoreResult<Vec<Account>>;

    /// Records an identity of a user account (conflict if it is recorded).
    fn insert_identity(&mut self, record: &IdentityRecord) -> StoreResult<()>;
    /// The record of an identity, current or retired.
    fn identity(&mut self, identity: &Point) -> StoreResult<Option<IdentityRecord>>;
    /// Replaces an identity's record (retired, revealed).
    fn update_identity(&mut self, record: &IdentityRecord) -> StoreResult<()>;

    /// Appends an event to an account's history.
    fn insert_account_event(&mut self, account: &AccountId, event: &AccountEvent) -> StoreResult<()>;
    /// An account's history, oldest first.
    fn account_events(&mut self, account: &AccountId) -> StoreResult<Vec<AccountEvent>>;
    /// The newest `limit` events of every account, oldest first.
    fn recent_account_events(&mut self, limit: usize) -> StoreResult<Vec<(AccountId, AccountEvent)>>;

    /// Records a withdrawal reservation (conflict if its id exists).
    fn insert_reservation(&mut self, reservation: &Reservation) -> StoreResult<()>;
    /// The reservation with this id.
    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<Reservation>>;
    /// Replaces a reservation's state (`drawn`, `expires`, `released`).
    fn update_reservation(&mut self, reservation: &Reservation) -> StoreResult<()>;
    /// The account's reservations active at `now` (not released, not expired).
    fn active_reservations(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<Reservation>>;

    /// The recorded account request `(account, request_id)`.
    fn account_request(
        &mut self,
        account: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<AccountRequestRecord>>;
    /// Records an account request and its answer (conflict if the id was used).
    fn insert_account_request(&mut self, record: &AccountRequestRecord) -> StoreResult<()>;

    /// Records a new session (conflict if its id or its `C` was used before).
    fn insert_session(&mut self, session: &WithdrawSession) -> StoreResult<()>;
    /// The session with this id.
    fn session(&mut self, id: &SessionId) -> StoreResult<Option<WithdrawSession>>;
    /// Whether the attribute commitment `C` was used by any session.
    fn commitment_used(&mut self, c: &Point) -> StoreResult<bool>;
    /// Number of open sessions of an account not yet expired at `now`.
    fn open_sessions(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<usize>;
    /// The open sessions of an account not yet expired at `now`.
    fn open_sessions_of(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<WithdrawSession>>;
    /// Ends an open session unanswered (state expired, nonces erased);
    /// not found if it is not open.
    fn end_session(&mut self, id: &SessionId) -> StoreResult<()>;
    /// Replaces an open session's state by its answer (erasing `w`).
    fn answer_session(
        &mut self,
        id: &SessionId,
        answered: &AnsweredSession,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Marks open sessions that expired before `now` as expired (erasing
    /// their nonces); returns how many.
    fn expire_sessions(&mut self, now: Timestamp) -> StoreResult<usize>;
    /// Every answered session (the withdrawal records).
    fn withdrawal_records(&mut self) -> StoreResult<Vec<WithdrawSession>>;
    /// The account's sessions in every state, in session-id order: at most
    /// `limit` whose id is above `after` (from the first when none).
    fn sessions_of(
        &mut self,
        account: &AccountId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<WithdrawSession>>;

    /// The spent-coin record of `coin_id`.
    fn spent_coin(&mut self, id: &CoinId) -> StoreResult<Option<SpentCoin>>;
    /// Records the spent coins of one request, in order, as if one at a
    /// time: a coin whose `coin_id` is unrecorded is recorded, and the
    /// payment it names (one of `payments`, by digest) is stored with it
    /// (a payment none of whose coins is recorded is not stored); a coin
    /// recorded before (by an earlier request or earlier in `coins`) is
    /// left as it is and its record returned. One outcome per coin, in
    /// order. A coin whose `coin_id` a concurrent transaction recorded
    /// after this one began may be reported as [`StoreError::Conflict`]
    /// (the bank retries; the next run sees the record).
    fn insert_spent_coins(
        &mut self,
        payments: &[([u8; 32], &Payment)],
        coins: &[SpentCoin],
    ) -> StoreResult<Vec<SpendOutcome>>;
    /// Stores a deposited payment under its digest (idempotent).
    fn insert_payment(&mut self, digest: &[u8; 32], payment: &Payment) -> StoreResult<()>;
    /// The stored payment with this digest.
    fn payment(&mut self, digest: &[u8; 32]) -> StoreResult<Option<Payment>>;
    /// Deletes spent-coin records whose `prune_after` is before `today`.
    fn prune_spent_coins(&mut self, today: Day) -> StoreResult<usize>;
    /// Number of spent-coin records.
    fn spent_coin_count(&mut self) -> StoreResult<u64>;
    /// Spent-coin records, latest receipt day first (then by coin id), at
    /// most `limit`; only those `merchant` deposited when given.
    fn spent_coins(&mut self, merchant: Option<&AccountId>, limit: usize) -> StoreResult<Vec<SpentCoin>>;
    /// The last spent-list publication (sequence 0 at time 0 before the
    /// first).
    fn spent_publication(&mut self) -> StoreResult<SpentPublication>;
    /// Publishes the spent lists (specs/protocol.md §7.7): when a
    /// spent-coin record is not yet published, every such record gets the
    /// sequence `N + 1` (`N` the last publication's), which becomes the
    /// current one, issued `now`; when none is, nothing changes and the
    /// last publication is returned. A record is published once and keeps
    /// its sequence; a record whose transaction commits after this one's
    /// snapshot is left for the next publication (never skipped, never
    /// published twice).
    fn publish_spent(&mut self, now: Timestamp) -> StoreResult<SpentPublication>;
    /// The spent list of the denomination key `(keyset, value)` as of
    /// `sequence`: the records with `published ≤ sequence`, by coin id,
    /// at most `limit` from the `offset`-th; with how many there are in all.
    fn spent_list(
        &mut self,
        keyset: &KeysetId,
        value: u64,
        sequence: u64,
        offset: u64,
        limit: usize,
    ) -> StoreResult<(u64, Vec<(CoinId, u64)>)>;
    /// For each coin: `None` if unrecorded, else its record's publication
    /// sequence (`Some(None)`: recorded, not yet published).
    fn spent_published(&mut self, ids: &[CoinId]) -> StoreResult<Vec<Option<Option<u64>>>>;

    /// The stored receipt of a merchant's deposit request, with the digest
    /// of the request it answered.
    fn deposit_receipt(
        &mut self,
        merchant: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<([u8; 32], DepositReceipt)>>;
    /// Stores the receipt of a deposit request (conflict if its id was used).
    fn insert_deposit_receipt(&mut self, digest: &[u8; 32], receipt: &DepositReceipt) -> StoreResult<()>;

    /// Stores double-spending evidence under the next sequence number,
    /// once per coin: conflict if evidence of its coin is stored.
    fn insert_evidence(&mut self, evidence: &EvidenceRecord) -> StoreResult<()>;
    /// The evidence stored for a coin.
    fn evidence_of(&mut self, coin: &CoinId) -> StoreResult<Option<EvidenceRecord>>;
    /// Stored evidence with a sequence number above `after`, in sequence
    /// order, at most `limit` items. Sequence numbers start at 1 and grow
    /// in commit order, so a reader that saw sequence `n` finds everything
    /// committed later above `n`.
    fn evidence_after(&mut self, after: u64, limit: usize) -> StoreResult<Vec<StoredEvidence>>;
    /// Number of stored evidence records.
    fn evidence_count(&mut self) -> StoreResult<u64>;

    /// Stores a payee refusal record, once per payment digest
    /// ([`StoreError::Conflict`] if one is stored).
    fn insert_refusal_record(&mut self, record: &RefusalRecord) -> StoreResult<()>;
    /// The refusal record of a payment digest.
    fn refusal_record(&mut self, payment_digest: &[u8; 32]) -> StoreResult<Option<RefusalRecord>>;
    /// Every refusal record whose payee deposited the payment it refused
    /// (`broken`), oldest first.
    fn broken_refusals(&mut self) -> StoreResult<Vec<RefusalRecord>>;

    /// Puts a serial on the coin-tracing watch list (with the case that put it there).
    fn watch_serial(&mut self, serial: &Point, case: &str) -> StoreResult<()>;
    /// The case that put `serial` on the watch list, if it is there.
    fn watched_serial(&mut self, serial: &Point) -> StoreResult<Option<String>>;
    /// The whole watch list.
    fn watch_list(&mut self) -> StoreResult<Vec<(Point, String)>>;
}

/// The bank's store.
pub trait BankStore: Send + Sync {
    /// Begins a transaction.
    fn begin(&self) -> StoreResult<Box<dyn BankTx + '_>>;
}

impl<T: BankStore + ?Sized> BankStore for Box<T> {
    fn begin(&self) -> StoreResult<Box<dyn BankTx + '_>> {
        (**self).begin()
    }
}

/// A wallet's coin and whether it has been handed out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredCoin {
    /// The coin with its secrets.
    pub coin: WalletCoin,
    /// `None` while unspent; the payment request's id once handed out.
    pub spent_in: Option<[u8; 32]>,
}

/// A withdrawal in progress, as the wallet stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PendingEntry {
    /// Request made, bank commitment not yet received.
    Started(Box<WithdrawStart>),
    /// Challenge computed (and possibly sent), answer not yet received.
    AwaitingAnswer(Box<PendingWithdrawal>),
}

impl PendingEntry {
    /// The session.
    pub fn session_id(&self) -> SessionId {
        match self {
            PendingEntry::Started(s) => s.request().session_id,
            PendingEntry::AwaitingAnswer(p) => p.session_id(),
        }
    }
}

/// A withdrawal of several coins in progress, as the wallet stores it: the
/// signed request that reserved its amount (a retry sends the same bytes,
/// and gets the reservation's current state).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WithdrawalPlan {
    /// The `ReserveWithdrawal` account request.
    pub request: crate::protocol::account::AccountRequest,
    /// The coins' values, largest first, summing to the reserved amount;
    /// empty for the binary decomposition of the amount (plans stored
    /// before plans named their coins read back this way).
    pub values: Vec<u64>,
}

impl WithdrawalPlan {
    /// The reservation, and the whole amount.
    pub fn reservation(&self) -> Option<(ReservationId, u64)> {
        match self.request.operation {
            crate::protocol::account::AccountOperation::ReserveWithdrawal { reservation, amount } => {
                Some((reservation, amount))
            }
            _ => None,
        }
    }

    /// The values still to withdraw once `drawn` was withdrawn: the plan's
    /// coins after the largest-first prefix that sums to `drawn` (coins are
    /// withdrawn in the plan's order, one at a time); the binary
    /// decomposition of the rest (`None`) for a plan that names no values or
    /// whose prefix does not match.
    pub fn remaining_values(&self, drawn: u64) -> Option<Vec<u64>> {
        let mut sum = 0u64;
        for (i, v) in self.values.iter().enumerate() {
            if sum == drawn {
                return Some(self.values[i..].to_vec());
            }
            sum = sum.checked_add(*v)?;
        }
        (sum == drawn && !self.values.is_empty()).then(Vec::new)
    }
}

/// An exchange in progress (specs/protocol.md §9.8): coins spent to the
/// wallet's own account, then the same value withdrawn as other coins. Kept
/// by the id of its payment request; every step is stored before the
/// message it makes leaves the wallet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExchangeRecord {
    /// The payment request addressed to the wallet's own account.
    pub request: PaymentRequest,
    /// The values of the coins to withdraw, largest first (their sum is the
    /// request's amount).
    pub values: Vec<u64>,
    /// How far it went.
    pub step: ExchangeStep,
}

impl ExchangeRecord {
    /// The exchange's id: its payment request's id.
    pub fn id(&self) -> [u8; 32] {
        self.request.id()
    }
}

/// The steps of an exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ExchangeStep {
    /// Recorded before the coins are marked spent for the request: the
    /// payment to oneself may not have been built yet.
    Spending,
    /// The signed deposit of the payment, stored before it is sent (a
    /// retry sends the same bytes and gets the bank's stored receipt).
    Depositing(Box<DepositRequest>),
    /// The deposit was credited; the withdrawal plan of the new coins,
    /// stored before it is handed to the wallet's withdrawals.
    Withdrawing(Box<WithdrawalPlan>),
}

/// A wallet's store. Every method is atomic and durable when it returns.
pub trait WalletStore: Send + Sync {
    /// Records (or replaces) an exchange in progress.
    fn put_exchange(&self, exchange: &ExchangeRecord) -> StoreResult<()>;
    /// Every exchange in progress.
    fn exchanges(&self) -> StoreResult<Vec<ExchangeRecord>>;
    /// Removes a finished or given-up exchange.
    fn drop_exchange(&self, id: &[u8; 32]) -> StoreResult<()>;
    /// Stores a reclaim of a refused payment before it is sent (replacing
    /// one with the same request id).
    fn put_reclaim(&self, reclaim: &crate::protocol::reclaim::ReclaimRequest) -> StoreResult<()>;
    /// The reclaims sent or about to be sent, not yet settled by a receipt.
    fn reclaims(&self) -> StoreResult<Vec<crate::protocol::reclaim::ReclaimRequest>>;
    /// Removes a settled reclaim.
    fn drop_reclaim(&self, request_id: &[u8; 16]) -> StoreResult<()>;
    /// Records a withdrawal plan (before its reservation request leaves).
    fn put_plan(&self, plan: &WithdrawalPlan) -> StoreResult<()>;
    /// Every withdrawal plan not finished or released.
    fn plans(&self) -> StoreResult<Vec<WithdrawalPlan>>;
    /// Removes a finished or released plan.
    fn drop_plan(&self, reservation: &ReservationId) -> StoreResult<()>;
    /// Records (or replaces) a pending withdrawal.
    fn put_pending(&self, entry: &PendingEntry) -> StoreResult<()>;
    /// Every pending withdrawal.
    fn pending(&self) -> StoreResult<Vec<PendingEntry>>;
    /// Removes a pending withdrawal and adds its coin, atomically.
    fn complete_withdrawal(&self, session: &SessionId, coin: &WalletCoin) -> StoreResult<()>;
    /// Removes a pending withdrawal that can no longer finish.
    fn drop_pending(&self, session: &SessionId) -> StoreResult<()>;
    /// Every coin, spent or not.
    fn coins(&self) -> StoreResult<Vec<StoredCoin>>;
    /// Marks coins spent in the payment answering `request_id`, atomically:
    /// fails with a conflict, changing nothing, if any is already spent.
    fn mark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()>;
    /// Returns coins marked spent for `request_id` to the unspent pool; only
    /// for a payment that was never built (so never handed out).
    fn unmark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()>;
    /// Keeps a payment that was made (so it can be handed over again).
    fn record_payment(&self, request_id: &[u8; 32], payment: &Payment) -> StoreResult<()>;
    /// The payment made for `request_id`.
    fn payment(&self, request_id: &[u8; 32]) -> StoreResult<Option<Payment>>;
    /// The wallet's state as a payee (payment requests it issued, coins it
    /// received, payments held and its deposits), kept with the wallet's
    /// other state ([`crate::roles::Payee`]).
    fn payee(&self) -> &(dyn MerchantStore + 'static);
    /// Burns the next withdrawal counter of `keyset` (specs/protocol.md
    /// §7.6) and returns it: 0 first, then 1, 2, …; durable when it
    /// returns, so a counter is never handed out twice, also across a crash.
    fn burn_counter(&self, keyset: &KeysetId) -> StoreResult<u64>;
    /// Raises the next withdrawal counter of `keyset` to at least `next`
    /// (a restore: past every counter the bank's transcripts show used);
    /// never lowers it. Durable when it returns.
    fn raise_counter(&self, keyset: &KeysetId, next: u64) -> StoreResult<()>;
    /// Stores the coins of a restore with the unspent statement that
    /// settled them (specs/protocol.md §7.7), atomically: `held` unspent,
    /// `spent` as spent in [`RESTORED_SPENT`] (never spendable, never
    /// released), the statement (if any) as not yet exchanged. Fails with
    /// a conflict, storing nothing, if any coin or the statement is stored
    /// already.
    fn restore_coins(
        &self,
        held: &[WalletCoin],
        spent: &[WalletCoin],
        statement: Option<&crate::protocol::spent::UnspentStatement>,
    ) -> StoreResult<()>;
    /// The stored unspent statements, with whether their coins were handed
    /// to an exchange.
    fn spent_statements(&self) -> StoreResult<Vec<(crate::protocol::spent::UnspentStatement, bool)>>;
    /// Marks a statement's coins handed to exchanges (by its request).
    fn statement_exchanged(&self, request: &[u8; 32]) -> StoreResult<()>;
}

/// The `spent_in` of a restored coin found spent (on a spent list, or
/// stated spent by the bank): no payment of the wallet's has this id, and
/// the coin is never returned to the unspent pool.
pub const RESTORED_SPENT: [u8; 32] = [0xff; 32];

/// Where an accepted payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentState {
    /// Not yet deposited (or deferred by the bank): the next deposit
    /// request carries it.
    Pending,
    /// Verified and recorded by the bank in the deposit request named.
    Deposited {
        /// The deposit request whose receipt settled it.
        #[serde(with = "crate::encoding::hex32")]
        request_id: [u8; 16],
    },
    /// Refused by the bank: kept apart, never deposited again.
    Refused {
        /// The deposit request whose receipt refused it.
        #[serde(with = "crate::encoding::hex32")]
        request_id: [u8; 16],
        /// Why.
        refusal: PaymentRefusal,
    },
}

/// A payment a merchant accepted, and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcceptedPayment {
    /// The payment.
    pub payment: Payment,
    /// Its digest.
    #[serde(with = "crate::encoding::hex32")]
    pub digest: [u8; 32],
    /// Pending, deposited or refused.
    pub state: PaymentState,
}

/// Whether `held` is newer than `offered` (the stores' atomic guard against a
/// watch-list rollback).
pub fn watch_list_held_is_newer(held: &WatchListVersion, offered: &WatchListVersion) -> bool {
    held.issued > offered.issued || held.sequence > offered.sequence
}

/// A payee's store (a merchant's, or a wallet's [`WalletStore::payee`]).
/// Every method is atomic and durable when it returns.
pub trait MerchantStore: Send + Sync {
    /// Records an issued payment request as open.
    fn insert_request(&self, request: &PaymentRequest) -> StoreResult<()>;
    /// The open request with this id.
    fn open_request(&self, request_id: &[u8; 32]) -> StoreResult<Option<PaymentRequest>>;
    /// Whether a coin was accepted before.
    fn coin_seen(&self, coin: &CoinId) -> StoreResult<bool>;
    /// Closes the request, records the coins as seen and keeps the payment
    /// (pending) for deposit, atomically; conflict (changing nothing) if
    /// the request is not open or any coin was seen.
    fn accept_payment(&self, request_id: &[u8; 32], coins: &[CoinId], payment: &Payment) -> StoreResult<()>;
    /// Closes the open request because the payee refused the payment with
    /// digest `payment_digest`, and records that payment as the one
    /// refused, atomically: no payment is accepted for the request after.
    /// Succeeds again, changing nothing, if the request was closed by
    /// refusing this same payment (a retry); not found (changing nothing)
    /// if the request is neither open nor closed by refusing this payment.
    fn refuse_payment(&self, request_id: &[u8; 32], payment_digest: &[u8; 32]) -> StoreResult<()>;
    /// Every accepted payment, in the order accepted.
    fn payments(&self) -> StoreResult<Vec<AcceptedPayment>>;
    /// Accepted payments still pending, in the order accepted.
    fn undeposited(&self) -> StoreResult<Vec<AcceptedPayment>>;
    /// The version of the watch list held (none before the first import).
    fn watch_list_version(&self) -> StoreResult<Option<WatchListVersion>>;
    /// Replaces the merchant's copy of the coin-tracing watch list and its
    /// version, atomically; conflict (changing nothing) if the version held
    /// is newer (a later issue time or a higher sequence).
    fn set_watch_list(&self, version: &WatchListVersion, serials: &[Point]) -> StoreResult<()>;
    /// Keeps a signed deposit request as the one in flight, before it is
    /// sent: a retry sends these same bytes. Conflict if another request is
    /// in flight.
    fn begin_deposit(&self, request: &DepositRequest) -> StoreResult<()>;
    /// The deposit request in flight (sent, or about to be, and not yet
    /// answered by a receipt that was recorded).
    fn deposit_in_flight(&self) -> StoreResult<Option<DepositRequest>>;
    /// Records a verified receipt for `request`, atomically: each payment
    /// of the request becomes deposited or refused as the receipt says
    /// (deferred ones stay pending), the receipt is kept, and the request
    /// is no longer in flight.
    fn record_receipt(&self, request: &DepositRequest, receipt: &DepositReceipt) -> StoreResult<()>;
    /// The receipt recorded for a deposit request.
    fn receipt(&self, request_id: &[u8; 16]) -> StoreResult<Option<DepositReceipt>>;
    /// Whether a serial is on the merchant's copy of the watch list.
    fn serial_watched(&self, serial: &Point) -> StoreResult<bool>;
}

/// The state a receipt gives each payment of its request, in request order
/// (`None`: deferred or refused for now, the payment stays pending).
pub fn settled_states(
    request: &DepositRequest,
    receipt: &DepositReceipt,
) -> Vec<([u8; 32], Option<PaymentState>)> {
    request
        .payments
        .iter()
        .zip(&receipt.payments)
        .map(|(p, o)| {
            let state = match o {
                PaymentOutcome::Verified => Some(PaymentState::Deposited { request_id: request.request_id }),
                PaymentOutcome::Refused(refusal) if refusal.is_final() => {
                    Some(PaymentState::Refused { request_id: request.request_id, refusal: *refusal })
                }
                PaymentOutcome::Refused(_) | PaymentOutcome::Deferred => None,
            };
            (p.digest(), state)
        })
        .collect()
}

/// The TTP's audit log. Appending is atomic and durable when it returns.
pub trait TtpStore: Send + Sync {
    /// Appends `entry`; conflict (changing nothing) unless its index is the
    /// log's length and its warrant id was never used.
    fn append(&self, entry: &LogEntry) -> StoreResult<()>;
    /// Every entry, in order.
    fn entries(&self) -> StoreResult<Vec<LogEntry>>;
    /// Number of entries.
    fn len(&self) -> StoreResult<u64>;
    /// Whether the log is empty.
    fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.len()? == 0)
    }
    /// Whether a warrant id has been used.
    fn warrant_used(&self, warrant_id: &[u8; 16]) -> StoreResult<bool>;
}

/// What a trustee keeps besides its audit log: the DKG ceremonies it saw
/// abort (specs/tracing.md §9.1) and the FROST nonces of its signing
/// sessions (§9.4). Every method is atomic and durable when it returns.
pub trait TrusteeStore: TtpStore {
    /// Keeps the nonces of a signing session; conflict (changing nothing) if
    /// the session was opened before: a session commits once.
    fn put_nonces(&self, session: &[u8; 32], nonces: &SecretBytes) -> StoreResult<()>;
    /// Takes the nonces of a session, erasing them durably before it
    /// returns, so they are never used twice; `None` if the session has none
    /// (never opened, or its nonces were taken).
    fn take_nonces(&self, session: &[u8; 32]) -> StoreResult<Option<SecretBytes>>;
    /// Records an aborted DKG ceremony.
    fn record_dkg_abort(&self, abort: &DkgAbort) -> StoreResult<()>;
    /// Every aborted ceremony recorded, oldest first.
    fn dkg_aborts(&self) -> StoreResult<Vec<DkgAbort>>;
}
