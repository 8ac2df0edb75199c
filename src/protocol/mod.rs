//! The protocols, one module per step (specs/protocol.md §7–§9): the
//! messages each party sends and the pure functions that build and check
//! them. Nothing here touches storage; the [`crate::roles`] run these steps
//! over their stores.
//!
//! | module | protocol |
//! |---|---|
//! | [`register`] | initialization: account registration |
//! | [`account`] | account-authorised requests, reservations, re-keying |
//! | [`withdraw`] | withdrawal (ACL issuance of one coin) |
//! | [`pay`] | off-line payment (spend proofs, range proof) |
//! | [`deposit`] | deposit, double-spend detection and identification |
//! | [`trace`] | warrants, owner and coin tracing, the TTP's audit log |
//! | [`trust`] | the TTP key statement and the pinning rules' errors |

pub mod account;
pub mod deposit;
pub mod pay;
pub mod reclaim;
pub mod refusal;
pub mod register;
pub mod spent;
pub mod trace;
pub mod trust;
pub mod withdraw;

use crate::coin::CoinId;
use crate::keys::{AccountId, KeyId, KeysetError, KeysetId};
use crate::store::StoreError;
use crate::time::Day;
use crate::wire::DecodeError;

pub use pay::PaymentError;

/// Every way a protocol step can be refused.
///
/// Outcomes are not errors: a duplicate deposit or a detected double spend
/// is a [`deposit::DepositOutcome`], not an `Error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes or a document failed to decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A keyset was refused.
    #[error(transparent)]
    Keyset(#[from] KeysetError),
    /// A keyset list or TTP key statement breaks the pinning rules
    /// (rollback, fork, untrusted signer).
    #[error(transparent)]
    Pin(#[from] trust::PinError),
    /// A payment was refused (structure or proofs).
    #[error("payment refused: {0}")]
    Payment(#[from] PaymentError),
    /// A payment in a deposit request was refused.
    #[error("payment {index} refused: {reason}")]
    PaymentRefused {
        /// Index of the payment in the request.
        index: usize,
        /// Why.
        reason: PaymentError,
    },
    /// A trace was refused or a trace result does not verify.
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    /// A proof, signature or answer did not verify.
    #[error("{0} does not verify")]
    InvalidProof(&'static str),
    /// A keyset whose TTP key is not the decryption key of a pinned TTP key
    /// statement: the bank, not the TTP, chose the escrow key.
    #[error(
        "keyset {keyset} escrows under TTP key {}, which no pinned TTP key statement names",
        hex::encode(ttp_key)
    )]
    UntrustedTtpKey {
        /// The keyset.
        keyset: KeysetId,
        /// Its TTP key (the encoding of `Y_T`).
        ttp_key: [u8; 32],
    },
    /// A keyset whose TTP key is pinned, but whose days the statement does
    /// not cover.
    #[error("keyset {keyset} is not covered by its pinned TTP key statement: {reason}")]
    TtpKeyNotValid {
        /// The keyset.
        keyset: KeysetId,
        /// Which validity it exceeds.
        reason: trust::Coverage,
    },
    /// A keyset that is not on the pinned list.
    #[error("unknown keyset {0}")]
    UnknownKeyset(KeysetId),
    /// A key that is not in the keyset.
    #[error("unknown denomination key {0}")]
    UnknownKey(KeyId),
    /// A key used outside its window.
    #[error("key {key_id} is not valid on day {day}")]
    KeyNotValid {
        /// The key.
        key_id: KeyId,
        /// The day.
        day: Day,
    },
    /// No denomination of this value.
    #[error("no denomination of value {0}")]
    NoSuchDenomination(u64),
    /// A page of a spent list past its last.
    #[error("spent list page {page} asked for; the list has {pages}")]
    NoSuchSpentPage {
        /// The page asked for.
        page: u32,
        /// The list's page count.
        pages: u32,
    },
    /// Spent lists or an unspent statement were refused
    /// (specs/protocol.md §7.7).
    #[error(transparent)]
    Spent(#[from] spent::SpentError),
    /// An account the bank does not know.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// A user operation on a merchant account or vice versa.
    #[error("account {0} is not of the right kind for this operation")]
    WrongAccountKind(AccountId),
    /// The account is frozen (double-spending evidence against it).
    #[error("account {0} is frozen")]
    AccountFrozen(AccountId),
    /// Not enough money in the account.
    #[error("insufficient balance in {account}: {balance} available, {needed} needed")]
    InsufficientBalance {
        /// The account.
        account: AccountId,
        /// Its balance.
        balance: u64,
        /// What the operation needs.
        needed: u64,
    },
    /// The requested expiry day is not the policy's.
    #[error("expiry day {requested} is not the bank's policy ({allowed})")]
    ExpiryPolicy {
        /// What the request asked for.
        requested: Day,
        /// What the policy gives today.
        allowed: Day,
    },
    /// The attribute commitment `C` was used in an earlier withdrawal.
    #[error("attribute commitment was used before")]
    CommitmentReused,
    /// Too many open withdrawal sessions for this account.
    #[error("account has {limit} open withdrawal sessions already")]
    SessionLimit {
        /// The limit.
        limit: usize,
    },
    /// A session id that exists with a different request.
    #[error("session id is taken by a different request")]
    SessionConflict,
    /// No such withdrawal session.
    #[error("unknown withdrawal session")]
    UnknownSession,
    /// The session expired before it was answered.
    #[error("withdrawal session expired")]
    SessionExpired,
    /// The session was opened before the store was restored from a backup.
    #[error("withdrawal session predates a store restore and cannot be answered")]
    SessionFromOldEpoch,
    /// The session already answered a different challenge.
    #[error("session already answered a different challenge")]
    ChallengeMismatch,
    /// The bank's withdrawal commitment does not carry a valid signature of
    /// the keyset's online key for this request (it was changed on its way):
    /// the wallet does not blind it.
    #[error("the bank's withdrawal commitment is not signed for this request")]
    CommitmentSignature,
    /// The bank ended the withdrawal session unanswered (a signed
    /// statement): nothing was debited for it.
    #[error("withdrawal session ended unanswered: {0}")]
    SessionEnded(withdraw::EndReason),
    /// An identity registered to an account already.
    #[error("identity is registered to an account already")]
    IdentityInUse,
    /// An identity an account was re-keyed away from: never accepted again.
    #[error("identity was retired by a re-key and is never accepted again")]
    IdentityRetired,
    /// Unfreezing needs a re-key first: double-spending evidence made the
    /// account's current identity secret public.
    #[error("account {0} must be re-keyed to a new identity before it is unfrozen")]
    RekeyRequired(AccountId),
    /// The account is not frozen.
    #[error("account {0} is not frozen")]
    NotFrozen(AccountId),
    /// A reservation the bank does not know (or of another account).
    #[error("unknown withdrawal reservation")]
    UnknownReservation,
    /// A reservation that expired or was released.
    #[error("withdrawal reservation expired or was released")]
    ReservationInactive,
    /// A session that would draw more than its reservation holds.
    #[error("withdrawal reservation holds {remaining}, the coin needs {needed}")]
    ReservationExhausted {
        /// What the reservation still holds (not drawn, not in open sessions).
        remaining: u64,
        /// The coin's value.
        needed: u64,
    },
    /// An operator's reason text is missing or too long.
    #[error("reason refused: {0}")]
    BadReason(&'static str),
    /// An account request id used before for a different request.
    #[error("account request id was used for a different request")]
    AccountRequestIdReused,
    /// The wallet cannot make the exact amount from its coins.
    #[error("cannot pay {amount} exactly from the coins held ({available} available)")]
    NoExactChange {
        /// The amount.
        amount: u64,
        /// The value of usable coins.
        available: u64,
    },
    /// The wallet holds enough, but not in coins that make the amount
    /// exactly (or only in more than 64 coins): an exchange of the coins
    /// named (on-line, with the bank) would make the payment possible.
    #[error(
        "cannot pay {amount} exactly from the coins held: exchange {coins} coin(s) worth {value} first \
         (`wallet exchange --amount {amount}`, on-line), or pay without --offline"
    )]
    ExchangeNeeded {
        /// The amount.
        amount: u64,
        /// How many coins the exchange would spend.
        coins: usize,
        /// Their value.
        value: u64,
    },
    /// The bank credited less than the value spent to the wallet's own
    /// account in an exchange (a coin refused, seen before, or expired):
    /// what was credited stays withdrawable from the account.
    #[error("the exchange of {value} was credited {credited} by the bank")]
    ExchangeNotCredited {
        /// The value spent.
        value: u64,
        /// The value credited.
        credited: u64,
    },
    /// An exchange is in progress: its payment names the authentication key
    /// as the payee key and its deposit is signed with it, so the key is not
    /// replaced until `wallet resume` finished it.
    #[error("an exchange is in progress: run `wallet resume` before replacing the authentication key")]
    ExchangePending,
    /// A withdrawal is interrupted (a pending session or a withdrawal plan):
    /// its stored reservation request or challenge is signed with the
    /// authentication key, so the key is not replaced until `wallet resume`
    /// (or `wallet resume --release`) finished it.
    #[error("a withdrawal is interrupted: run `wallet resume` before replacing the authentication key")]
    WithdrawalPending,
    /// A reclaim of a refused payment is stored, not yet settled: it is
    /// signed with the authentication key, so the key is not replaced until
    /// `wallet resume` settled it.
    #[error("a reclaim is in progress: run `wallet resume` before replacing the authentication key")]
    ReclaimPending,
    /// The wallet's coins that could pay have expired.
    #[error("coins worth {expired} expired before day {day}; {available} in valid coins is not enough")]
    CoinsExpired {
        /// Value of the expired unspent coins.
        expired: u64,
        /// Value of the usable coins.
        available: u64,
        /// The payment day.
        day: Day,
    },
    /// A coin expires before the payment day.
    #[error(transparent)]
    Range(#[from] crate::crypto::range::RangeProofError),
    /// A payment answering a request this payee did not issue (or already
    /// closed, or issued under a payee key it no longer uses).
    #[error("payment answers no open request of this payee")]
    UnknownPaymentRequest,
    /// A coin this payee has already accepted.
    #[error("coin {0} was already accepted by this payee")]
    CoinAlreadySeen(CoinId),
    /// Payments received are held, or a deposit of them is in flight: they
    /// name the current authentication key as their payee key, so it may
    /// not change before they are deposited.
    #[error("{0} payment(s) received are not deposited yet: deposit them (`wallet deposit`) before rotating the authentication key")]
    ReceivedNotDeposited(usize),
    /// A watch list older than the one held (a rollback), or one whose
    /// signature does not verify.
    #[error(transparent)]
    WatchList(#[from] trace::WatchListError),
    /// A coin on the coin-tracing watch list.
    #[error("coin {0} is on the watch list")]
    Watchlisted(CoinId),
    /// A reclaim of a payment that its payee deposited before, despite its
    /// signed refusal: nothing is credited, and the bank keeps the refusal
    /// as proof that the payee cheated (specs/protocol.md §8.6).
    #[error(
        "the payee {payee} deposited this payment before it was reclaimed, though it had refused it: nothing \
         credited; the bank keeps the signed refusal as proof"
    )]
    RefusalBroken {
        /// The payee that deposited the payment.
        payee: AccountId,
    },
    /// A deposit request id used before for a different request.
    #[error("deposit request id was used for a different request")]
    RequestIdReused,
    /// A payment request that the wallet will not answer.
    #[error("payment request refused: {0}")]
    BadPaymentRequest(&'static str),
    /// A payment request dated more than a day from the wallet's clock.
    #[error(
        "payment request refused: it is dated {day}, but this wallet's clock says {today}; the merchant's \
         clock and this one differ by more than a day (check both)"
    )]
    RequestDayMismatch {
        /// The request's day.
        day: Day,
        /// The wallet's day.
        today: Day,
    },
    /// A request over a documented limit.
    #[error("request too large: {0}")]
    TooLarge(&'static str),
    /// A withdrawal that would take more coins than one withdrawal may.
    #[error(
        "withdrawing {amount} takes {coins} coins of the keyset's denominations; at most {limit} per \
         withdrawal (withdraw less at a time)"
    )]
    WithdrawalTooLarge {
        /// The amount asked for.
        amount: u64,
        /// The coins it would take.
        coins: u64,
        /// The most coins one withdrawal may take.
        limit: usize,
    },
    /// A sum of money that does not fit in a `u64`.
    #[error("amount overflow: the sum does not fit in 64 bits")]
    Overflow,
    /// A remote bank refused the request with an error this library has no
    /// variant for (see specs/http.md for the codes).
    #[error("bank refused ({status} {code}): {message}")]
    Remote {
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The bank's message.
        message: String,
        /// Whether the same request may succeed later.
        retryable: bool,
    },
    /// The bank could not be reached.
    #[error("cannot reach the bank: {0}")]
    Unreachable(String),
    /// The evidence does not show a double spend.
    #[error("double-spending evidence does not hold: {0}")]
    BadEvidence(&'static str),
    /// A deposit receipt that does not answer the request it claims to, or
    /// whose signature does not verify: nothing is recorded.
    #[error("deposit receipt refused: {0}")]
    BadReceipt(&'static str),
    /// The merchant deposited a cryptographically invalid payment and its
    /// deposits are refused for a while.
    #[error("deposits of this merchant are throttled for {retry_after_secs} s (a payment it deposited was forged)")]
    Throttled {
        /// Seconds until the bank accepts its deposits again.
        retry_after_secs: u64,
    },
    /// The merchant has as much deposit verification in flight as the bank
    /// allows one merchant.
    #[error("the bank is verifying other deposits of this merchant; retry in {retry_after_secs} s")]
    MerchantBusy {
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// The bank has as much deposit verification in flight (or queued) as
    /// it allows.
    #[error("the bank is overloaded with deposits; retry in {retry_after_secs} s")]
    Overloaded {
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
}

/// A protocol result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The sum of amounts of money, or [`Error::Overflow`] when it does not fit
/// in a `u64`. Every sum of money in faircash goes through checked
/// arithmetic: a wrapped or saturated total would misstate a balance.
pub fn checked_sum(amounts: impl IntoIterator<Item = u64>) -> Result<u64> {
    amounts.into_iter().try_fold(0u64, |acc, v| acc.checked_add(v)).ok_or(Error::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_money_are_checked() {
        assert_eq!(checked_sum([1, 2, 4]).unwrap(), 7);
        assert_eq!(checked_sum([]).unwrap(), 0);
        assert_eq!(checked_sum([u64::MAX]).unwrap(), u64::MAX);
        assert!(matches!(checked_sum([u64::MAX, 1]), Err(Error::Overflow)));
        assert!(matches!(checked_sum([1u64 << 63, 1 << 63]), Err(Error::Overflow)));
    }
}
