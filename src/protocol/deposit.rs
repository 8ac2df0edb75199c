//! Deposit, double-spend detection and identification
//! (specs/protocol.md §9).
//!
//! The merchant sends its payments in a [`DepositRequest`] signed with its
//! key. The bank checks the signature first
//! ([`DepositRequest::verify_signature`]), then the cheap checks of every
//! payment ([`check_payment_cheaply`]: addressee, keyset, deposit window,
//! structure, every coin's ACL hash), then verifies every group equation of
//! every remaining payment (the range proofs' and every coin's linear
//! equations) in one multiscalar multiplication, each equation under its
//! own 128-bit weight; when that batch fails, it finds the
//! failing payments by bisection within a work cap ([`verify_payments`]).
//! Each payment gets a [`PaymentOutcome`] and each coin of a verified
//! payment a [`DepositOutcome`], decided per `coin_id` by the bank's store,
//! in a [`DepositReceipt`] signed by the online signing key of a keyset the
//! receipt names; a payee checks it ([`DepositReceipt::verify`]) before it
//! records it. Two verifying spends of one coin with different challenges
//! are [`DoubleSpendEvidence`], from which anyone extracts
//! `u = (z_u - z_u')/(c - c')` and so the identity `I = u·G`.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::pay::{
    name_proof_failure, precheck_payment, queue_payment, verify_payment, Payment, PaymentError,
    PaymentSummary,
};
use super::{Error, Result};
use crate::coin::{CoinId, SpendResponses};
use crate::crypto::batch::BatchVerifier;
use crate::crypto::schnorr::{Signature, SigningKey};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{user_account_id, AccountId, Keyset, KeysetId, KeysetLookup};
use crate::params::Params;
use crate::time::Day;
use crate::wire::{DecodeError, MessageKind, WireMessage};

/// Most payments in one deposit request.
pub const MAX_PAYMENTS_PER_DEPOSIT: usize = 1024;
/// Most coins in one deposit request, over all its payments.
pub const MAX_COINS_PER_DEPOSIT: usize = 4096;

/// A merchant's signed deposit of payments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The merchant's account.
    pub merchant_id: AccountId,
    /// A random id naming this request.
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 16],
    /// The payments.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Payment, MAX_PAYMENTS_PER_DEPOSIT>"
    )]
    pub payments: Vec<Payment>,
    /// The merchant's signature on all of the above.
    pub signature: Signature,
}

fn deposit_message(merchant_id: &AccountId, request_id: &[u8; 16], payments: &[Payment]) -> Vec<u8> {
    let mut m = Vec::with_capacity(40 + 32 * payments.len());
    m.extend_from_slice(merchant_id.as_bytes());
    m.extend_from_slice(request_id);
    m.extend_from_slice(&(payments.len() as u64).to_le_bytes());
    for p in payments {
        m.extend_from_slice(&p.digest());
    }
    m
}

impl DepositRequest {
    /// Signs a deposit of `payments` with the merchant key.
    pub fn new(
        merchant_key: &SigningKey,
        merchant_id: AccountId,
        payments: Vec<Payment>,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut request_id = [0u8; 16];
        rng.fill_bytes(&mut request_id);
        let msg = deposit_message(&merchant_id, &request_id, &payments);
        let signature = merchant_key.sign(labels::DEPOSIT_SIGNATURE, &msg, rng);
        DepositRequest { merchant_id, request_id, payments, signature }
    }

    /// The request's digest: `merchant_id`, `request_id` and every payment.
    pub fn digest(&self) -> [u8; 32] {
        request_digest(&deposit_message(&self.merchant_id, &self.request_id, &self.payments))
    }

    /// Number of coins over all payments.
    pub fn coin_count(&self) -> usize {
        self.payments.iter().map(|p| p.coins.len()).sum()
    }

    /// The request's limits: 1 to 1024 payments, at most 4096 coins.
    pub fn check_limits(&self) -> Result<()> {
        if self.payments.is_empty() {
            return Err(Error::TooLarge("a deposit holds at least one payment"));
        }
        if self.payments.len() > MAX_PAYMENTS_PER_DEPOSIT || self.coin_count() > MAX_COINS_PER_DEPOSIT {
            return Err(Error::TooLarge("deposit request"));
        }
        Ok(())
    }

    /// Verifies the merchant's signature under `merchant_key` and returns
    /// the request's digest (both from one pass over the payments). Costs
    /// hashing and one signature verification, no per-coin group
    /// operation: a bank checks it before anything else (§9.2).
    pub fn verify_signature(&self, merchant_key: &Point) -> Result<[u8; 32]> {
        let msg = deposit_message(&self.merchant_id, &self.request_id, &self.payments);
        self.signature
            .verify(labels::DEPOSIT_SIGNATURE, &msg, merchant_key)
            .map_err(|_| Error::InvalidProof("deposit signature"))?;
        Ok(request_digest(&msg))
    }
}

fn request_digest(message: &[u8]) -> [u8; 32] {
    let mut t = Params::get().transcript(labels::DEPOSIT_REQUEST_DIGEST);
    t.append_message(b"request", message);
    crate::crypto::transcript::FaircashTranscript::challenge_digest(&mut t, b"request-digest")
}

impl WireMessage for DepositRequest {
    const KIND: MessageKind = MessageKind::DepositRequest;
    const MAX_BYTES: usize = 8 * 1024 * 1024;
    fn check(&self) -> Result<(), DecodeError> {
        for p in &self.payments {
            p.check()?;
        }
        if self.coin_count() > MAX_COINS_PER_DEPOSIT {
            return Err(DecodeError::TooMany { what: Self::what(), limit: MAX_COINS_PER_DEPOSIT });
        }
        Ok(())
    }
}

/// What became of one deposited coin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum DepositOutcome {
    /// First deposit of this coin: the merchant is credited.
    Credited {
        /// The value credited.
        value: u64,
    },
    /// This very spend was deposited before (same challenge): no new credit.
    Duplicate,
    /// Another spend of this coin was deposited before (different
    /// challenge): no credit; evidence stored, the spender identified.
    DoubleSpent {
        /// The identified (and now frozen) account, if registered.
        account: Option<AccountId>,
    },
    /// The coin's serial is on the coin-tracing watch list and bank policy
    /// refuses such coins: no credit.
    Refused,
    /// Credited, but the serial is on the coin-tracing watch list and has
    /// been reported.
    CreditedFlagged {
        /// The value credited.
        value: u64,
    },
}

impl DepositOutcome {
    /// The value credited by this outcome.
    pub fn credited(&self) -> u64 {
        match self {
            DepositOutcome::Credited { value } | DepositOutcome::CreditedFlagged { value } => *value,
            _ => 0,
        }
    }
}

/// The outcome of one coin of a deposit request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinOutcome {
    /// Index of the payment in the request.
    pub payment: u32,
    /// Index of the coin in the payment.
    pub coin: u32,
    /// The coin.
    pub coin_id: CoinId,
    /// What happened.
    pub outcome: DepositOutcome,
}

/// Why the bank refused one payment of a deposit request (nothing of it is
/// recorded; the merchant keeps it apart and never deposits it again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
pub enum PaymentRefusal {
    /// The deposit window of the payment's day has closed: a payment of day
    /// `D` is deposited on a bank day `R` with `D <= R <= D + max delay`.
    #[error(
        "payment of day {day} could be deposited until day {deposit_until}; the bank's day is {receipt_day}"
    )]
    WindowClosed {
        /// The payment day `D`.
        day: Day,
        /// The last bank day the payment could be deposited:
        /// `D + max_deposit_delay_days`, the least of its coins' keysets'.
        deposit_until: Day,
        /// The bank's receipt day `R`.
        receipt_day: Day,
    },
    /// The payment is dated after the bank's day (the payee's clock is
    /// ahead of the bank's). Not final: the payee keeps the payment pending
    /// and deposits it again from day `D` on.
    #[error("payment day {day} is later than the bank's day {receipt_day}; deposit it again from day {day}")]
    DatedInFuture {
        /// The payment day `D`.
        day: Day,
        /// The bank's receipt day `R`.
        receipt_day: Day,
    },
    /// A coin's keyset is not one of the bank's.
    #[error("the bank does not know the keyset of a coin of the payment")]
    UnknownKeyset,
    /// The payment request names another merchant (id or key) than the
    /// depositor.
    #[error("the payment is addressed to another merchant")]
    WrongMerchant,
    /// A structural rule fails (protocol §8.4 step 3: coin count, responses,
    /// parameters, keys and their validity on the payment day, identity
    /// rules, a coin twice, the amount).
    #[error("the payment is malformed")]
    Malformed,
    /// The expiry range proof does not verify.
    #[error("the expiry range proof does not verify")]
    RangeProof,
    /// An ACL signature (its hash or its equations) or a spend proof does
    /// not verify.
    #[error("a coin signature or spend proof does not verify")]
    Proofs,
    /// A coin's key is not spendable on the payment day (a coin of a
    /// keyset whose spending window has not begun or has ended).
    #[error("coin {coin} of the payment: its key is not spendable on day {day}")]
    NotSpendable {
        /// The coin's index in the payment.
        coin: u32,
        /// The payment day `D`.
        day: Day,
    },
}

impl PaymentRefusal {
    /// Whether the refusal is final: the payee keeps a finally refused
    /// payment apart and never deposits it again; it keeps the others
    /// ([`PaymentRefusal::DatedInFuture`]) pending.
    pub fn is_final(&self) -> bool {
        !matches!(self, PaymentRefusal::DatedInFuture { .. })
    }

    /// Whether the payment is cryptographically invalid: a merchant that
    /// verified its payments off-line never deposits one, so the bank
    /// throttles the depositor (specs/security.md §8).
    pub fn is_forgery(&self) -> bool {
        matches!(self, PaymentRefusal::RangeProof | PaymentRefusal::Proofs)
    }
}

impl From<&PaymentError> for PaymentRefusal {
    fn from(e: &PaymentError) -> Self {
        match e {
            PaymentError::UnknownKeyset(_) => PaymentRefusal::UnknownKeyset,
            PaymentError::KeyNotValidOnDay { index, day } => {
                PaymentRefusal::NotSpendable { coin: *index as u32, day: *day }
            }
            PaymentError::RangeProof => PaymentRefusal::RangeProof,
            PaymentError::Proofs => PaymentRefusal::Proofs,
            _ => PaymentRefusal::Malformed,
        }
    }
}

/// What the bank did with one payment of a deposit request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PaymentOutcome {
    /// Verified and recorded: its coins' outcomes are in the receipt.
    Verified,
    /// Refused: nothing of it is recorded.
    Refused(PaymentRefusal),
    /// Not decided within the request's verification work cap (another
    /// payment of the request failed and the search for it stopped):
    /// nothing recorded; deposit it again.
    Deferred,
}

/// The bank's answer to a deposit request: [`DepositReceipt`] signed,
/// [`UnsignedReceipt`] before it is signed (specs/protocol.md §9.3). The
/// signature is the last field and takes 64 bytes, so the signed bytes
/// (the unsigned receipt's encoding, whose `()` takes none) are the
/// receipt's binary body without its last 64 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt<Sig> {
    /// The request answered.
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 16],
    /// The merchant.
    pub merchant_id: AccountId,
    /// The digest of the request answered (§9.2): binds every payment.
    #[serde(with = "crate::encoding::hex32")]
    pub request_digest: [u8; 32],
    /// The bank's receipt day `R`.
    pub receipt_day: Day,
    /// Total credited by this request.
    pub credited: u64,
    /// One outcome per payment, in request order.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, PaymentOutcome, MAX_PAYMENTS_PER_DEPOSIT>"
    )]
    pub payments: Vec<PaymentOutcome>,
    /// One outcome per coin of every verified payment, in request order.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, CoinOutcome, MAX_COINS_PER_DEPOSIT>"
    )]
    pub outcomes: Vec<CoinOutcome>,
    /// The keyset whose online signing key signs the receipt.
    pub keyset_id: KeysetId,
    /// The signature on every field above (§9.3).
    pub signature: Sig,
}

/// A signed deposit receipt.
pub type DepositReceipt = Receipt<Signature>;

/// A deposit receipt before it is signed (the bank builds it inside the
/// deposit transaction).
pub type UnsignedReceipt = Receipt<()>;

impl<Sig> Receipt<Sig> {
    fn with<T>(self, signature: T) -> Receipt<T> {
        Receipt {
            request_id: self.request_id,
            merchant_id: self.merchant_id,
            request_digest: self.request_digest,
            receipt_day: self.receipt_day,
            credited: self.credited,
            payments: self.payments,
            outcomes: self.outcomes,
            keyset_id: self.keyset_id,
            signature,
        }
    }
}

impl UnsignedReceipt {
    /// The bytes the bank signs: the receipt's fields before the signature,
    /// in their binary encoding (wire.md §6.7).
    pub fn message(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("in-memory encoding never fails")
    }

    /// The receipt with `signature` (made on [`UnsignedReceipt::message`]
    /// under [`labels::DEPOSIT_RECEIPT_SIGNATURE`]).
    pub fn with_signature(self, signature: Signature) -> DepositReceipt {
        self.with(signature)
    }
}

impl DepositReceipt {
    /// The bytes the signature is on (see [`UnsignedReceipt::message`]).
    pub fn signed_message(&self) -> Vec<u8> {
        self.clone().with(()).message()
    }

    /// Checks the receipt against the request it answers, before a payee
    /// records it (specs/protocol.md §9.7), in order: the keyset it names
    /// is one of `keysets` (the payee's pinned list), the signature
    /// verifies under that keyset's online signing key, it names the
    /// request (id, merchant, digest), it has one outcome per payment, and
    /// its coin outcomes are exactly the coins of the verified payments in
    /// order, with the values of their keys, adding up to `credited`.
    pub fn verify(&self, request: &DepositRequest, keysets: &[Keyset]) -> Result<()> {
        self.verify_answer(
            &request.request_id,
            &request.merchant_id,
            &request.digest(),
            &request.payments,
            keysets,
        )
    }

    /// [`DepositReceipt::verify`] for any request a receipt answers (a
    /// deposit, or a reclaim, specs/protocol.md §8.6): named by its id,
    /// the account credited, its digest and its payments.
    pub fn verify_answer(
        &self,
        request_id: &[u8; 16],
        account: &AccountId,
        request_digest: &[u8; 32],
        payments: &[Payment],
        keysets: &[Keyset],
    ) -> Result<()> {
        let find = |id: &KeysetId| keysets.iter().find(|k| k.id() == *id);
        let signer = find(&self.keyset_id).ok_or(Error::UnknownKeyset(self.keyset_id))?;
        self.signature
            .verify(labels::DEPOSIT_RECEIPT_SIGNATURE, &self.signed_message(), signer.signing_key())
            .map_err(|_| Error::BadReceipt("signature"))?;
        if self.request_id != *request_id || self.merchant_id != *account {
            return Err(Error::BadReceipt("another request"));
        }
        if self.request_digest != *request_digest {
            return Err(Error::BadReceipt("request digest"));
        }
        if self.payments.len() != payments.len() {
            return Err(Error::BadReceipt("payment count"));
        }
        let mut coins = self.outcomes.iter();
        let mut credited = 0u64;
        for (pi, (payment, outcome)) in payments.iter().zip(&self.payments).enumerate() {
            match outcome {
                PaymentOutcome::Verified => {
                    for (ci, coin) in payment.coins.iter().enumerate() {
                        let keyset =
                            find(&coin.body.keyset_id).ok_or(Error::UnknownKeyset(coin.body.keyset_id))?;
                        let o = coins.next().ok_or(Error::BadReceipt("coin outcomes"))?;
                        if o.payment as usize != pi || o.coin as usize != ci || o.coin_id != coin.id() {
                            return Err(Error::BadReceipt("coin outcomes"));
                        }
                        let value = keyset.key(&coin.body.key_id).map(|k| k.value);
                        if matches!(
                            o.outcome,
                            DepositOutcome::Credited { .. } | DepositOutcome::CreditedFlagged { .. }
                        ) && value != Some(o.outcome.credited())
                        {
                            return Err(Error::BadReceipt("credited value"));
                        }
                        credited = credited.checked_add(o.outcome.credited()).ok_or(Error::Overflow)?;
                    }
                }
                PaymentOutcome::Refused(
                    PaymentRefusal::WindowClosed { day, receipt_day, .. }
                    | PaymentRefusal::DatedInFuture { day, receipt_day },
                ) if *day != payment.request.day || *receipt_day != self.receipt_day => {
                    return Err(Error::BadReceipt("payment day"));
                }
                PaymentOutcome::Refused(_) | PaymentOutcome::Deferred => {}
            }
        }
        if coins.next().is_some() {
            return Err(Error::BadReceipt("coin outcomes"));
        }
        if credited != self.credited {
            return Err(Error::BadReceipt("credited total"));
        }
        Ok(())
    }
}

impl WireMessage for DepositReceipt {
    const KIND: MessageKind = MessageKind::DepositReceipt;
    const MAX_BYTES: usize = 256 + MAX_PAYMENTS_PER_DEPOSIT * 16 + MAX_COINS_PER_DEPOSIT * 64;
    // An outcome takes at most 60 bytes in binary but up to about 280 in
    // pretty-printed JSON (names, indentation, the coin id and an account id
    // in hex), a payment outcome up to about 150: three times the binary
    // limit would refuse the JSON form of a receipt for more than about
    // 3300 coins.
    const MAX_JSON_BYTES: usize = 4096 + MAX_PAYMENTS_PER_DEPOSIT * 192 + MAX_COINS_PER_DEPOSIT * 384;
}

/// The bank's verdict on one payment of a deposit request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentVerdict {
    /// Every check passed.
    Verified(PaymentSummary),
    /// Refused, with the reason.
    Refused(PaymentRefusal),
    /// Not decided within the work cap.
    Deferred,
}

/// The verification of a deposit request's payments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositVerification {
    /// One verdict per payment, in request order.
    pub verdicts: Vec<PaymentVerdict>,
    /// Coins queued into the first batch (every payment that passed the
    /// cheap checks).
    pub batch_work: usize,
    /// Coins queued while searching for the failing payments of a batch
    /// that did not verify (at most the cap given).
    pub search_work: usize,
}

impl DepositVerification {
    /// Whether a payment was refused as cryptographically invalid.
    pub fn found_forgery(&self) -> bool {
        self.verdicts.iter().any(|v| matches!(v, PaymentVerdict::Refused(r) if r.is_forgery()))
    }
}

/// The cheap checks on one payment of a deposit by `merchant_id` (key
/// `merchant_key`), in order (§9.2 step 6): addressed to the depositor,
/// every coin's keyset known, day within the deposit window of
/// `receipt_day` (the shortest of the coins' keysets), then
/// [`precheck_payment`] (structure and every coin's ACL hash).
pub fn check_payment_cheaply(
    payment: &Payment,
    merchant_id: &AccountId,
    merchant_key: &Point,
    keysets: &[Keyset],
    receipt_day: Day,
) -> Result<(), PaymentRefusal> {
    if payment.request.merchant_id != *merchant_id || payment.request.merchant_key != *merchant_key {
        return Err(PaymentRefusal::WrongMerchant);
    }
    let mut max_delay: Option<u32> = None;
    for coin in &payment.coins {
        let keyset = keysets.find_keyset(&coin.body.keyset_id).ok_or(PaymentRefusal::UnknownKeyset)?;
        let delay = keyset.policy().max_deposit_delay_days;
        max_delay = Some(max_delay.map_or(delay, |d| d.min(delay)));
    }
    let day = payment.request.day;
    if day > receipt_day {
        return Err(PaymentRefusal::DatedInFuture { day, receipt_day });
    }
    if let Some(delay) = max_delay {
        let deposit_until = day.plus(delay);
        if receipt_day > deposit_until {
            return Err(PaymentRefusal::WindowClosed { day, deposit_until, receipt_day });
        }
    }
    precheck_payment(payment, keysets).map_err(|e| PaymentRefusal::from(&e))
}

/// A payment that passed the cheap checks, with the bank's keysets.
struct Candidate<'a> {
    index: usize,
    payment: &'a Payment,
    keysets: &'a [Keyset],
    coins: usize,
}

/// Queues every candidate of `group` into one fresh batch and verifies it.
fn group_verifies(group: &[Candidate<'_>], rng: &mut impl CryptoRngCore) -> bool {
    let coins: usize = group.iter().map(|c| c.coins).sum();
    // Per coin 16 distinct points; per range proof at most 24 of its own.
    let mut batch = BatchVerifier::with_capacity(rng, 16 * coins + 24 * group.len() + 16);
    for c in group {
        if queue_payment(c.payment, c.keysets, &mut batch).is_err() {
            return false;
        }
    }
    batch.verify().is_ok()
}

/// Verifies the payments of a deposit request by `merchant_id` (key
/// `merchant_key`) against the bank's `keysets` on `receipt_day`
/// (§9.2 steps 6–8): the cheap checks on every payment first
/// ([`check_payment_cheaply`]); then the linear equations of every
/// remaining payment in one batch; if it fails, the failing payments are
/// found by bisection, queuing at most `search_cap` coins in all. Payments
/// the search did not reach are [`PaymentVerdict::Deferred`].
///
/// The signature is not checked here ([`DepositRequest::verify_signature`]).
pub fn verify_payments(
    request: &DepositRequest,
    merchant_key: &Point,
    keysets: &[Keyset],
    receipt_day: Day,
    search_cap: usize,
    rng: &mut impl CryptoRngCore,
) -> DepositVerification {
    let n = request.payments.len();
    let mut verdicts: Vec<Option<PaymentVerdict>> = vec![None; n];
    let mut candidates = Vec::with_capacity(n);
    for (index, payment) in request.payments.iter().enumerate() {
        match check_payment_cheaply(payment, &request.merchant_id, merchant_key, keysets, receipt_day) {
            Ok(()) => candidates.push(Candidate { index, payment, keysets, coins: payment.coins.len() }),
            Err(PaymentRefusal::Proofs) => {
                // A failed ACL hash check: named as `verify_payment` names
                // it (the range proof first).
                let named = PaymentRefusal::from(&name_proof_failure(payment, rng));
                verdicts[index] = Some(PaymentVerdict::Refused(named))
            }
            Err(r) => verdicts[index] = Some(PaymentVerdict::Refused(r)),
        }
    }
    // One batch for all of them: per coin 16 distinct points, per range
    // proof at most 24 of its own.
    let batch_work: usize = candidates.iter().map(|c| c.coins).sum();
    let mut batch = BatchVerifier::with_capacity(rng, 16 * batch_work + 24 * candidates.len() + 32);
    let mut queued = Vec::with_capacity(candidates.len());
    let mut summaries = vec![None; n];
    for c in candidates {
        match queue_payment(c.payment, c.keysets, &mut batch) {
            Ok(s) => {
                summaries[c.index] = Some(s);
                queued.push(c);
            }
            Err(e) => {
                let e = match e {
                    PaymentError::Proofs => name_proof_failure(c.payment, rng),
                    other => other,
                };
                verdicts[c.index] = Some(PaymentVerdict::Refused(PaymentRefusal::from(&e)))
            }
        }
    }
    let mut search_work = 0;
    if batch.verify().is_err() {
        search_work = bisect(&queued, search_cap, &mut verdicts, rng);
    }
    let verdicts = verdicts
        .into_iter()
        .zip(summaries)
        .map(|(v, s)| match (v, s) {
            (Some(v), _) => v,
            (None, Some(s)) => PaymentVerdict::Verified(s),
            // Every payment either got a verdict or was queued.
            (None, None) => PaymentVerdict::Deferred,
        })
        .collect();
    DepositVerification { verdicts, batch_work, search_work }
}

/// Finds the failing payments of `queued`, whose batch failed, within
/// `cap` coins of verification work; sets their verdicts (and `Deferred`
/// for those not reached). Returns the work done.
///
/// Depth first, left half first: a group known to fail is split and its
/// left half verified; if that passes, the right half is known to fail
/// (no need to verify it), otherwise the right half is unknown and is
/// verified when its turn comes. One failing payment among `n` costs fewer
/// than `n` coins of work; each one found costs at most that again.
fn bisect(
    queued: &[Candidate<'_>],
    cap: usize,
    verdicts: &mut [Option<PaymentVerdict>],
    rng: &mut impl CryptoRngCore,
) -> usize {
    let cost = |g: &[Candidate<'_>]| g.iter().map(|c| c.coins).sum::<usize>();
    let mut work = 0usize;
    // (start, end, known to fail)
    let mut stack = vec![(0usize, queued.len(), true)];
    while let Some((lo, hi, failing)) = stack.pop() {
        let group = &queued[lo..hi];
        if !failing {
            if work + cost(group) > cap {
                group.iter().for_each(|c| verdicts[c.index] = Some(PaymentVerdict::Deferred));
                continue;
            }
            work += cost(group);
            if group_verifies(group, rng) {
                continue; // verified: their summaries stand
            }
        }
        if hi - lo == 1 {
            // The failing payment. Verified alone (if the cap allows), it
            // names what fails; a payment that verifies alone after its
            // group failed was unlucky with the weights (probability
            // 2^-128) and stands.
            let c = &group[0];
            let refusal = if work + c.coins <= cap {
                work += c.coins;
                match verify_payment(c.payment, c.keysets, rng) {
                    Ok(_) => continue,
                    Err(e) => PaymentRefusal::from(&e),
                }
            } else {
                PaymentRefusal::Proofs
            };
            verdicts[c.index] = Some(PaymentVerdict::Refused(refusal));
            continue;
        }
        let mid = lo + (hi - lo) / 2;
        let left = &queued[lo..mid];
        if work + cost(left) > cap {
            group.iter().for_each(|c| verdicts[c.index] = Some(PaymentVerdict::Deferred));
            continue;
        }
        work += cost(left);
        if group_verifies(left, rng) {
            stack.push((mid, hi, true));
        } else {
            stack.push((mid, hi, false));
            stack.push((lo, mid, true));
        }
    }
    work
}

/// Verifies a deposit request completely: its limits, the merchant's
/// signature, then every payment ([`verify_payments`], with a search cap of
/// four times the request's coins). Refused payments are verdicts, not
/// errors; an error refuses the whole request.
pub fn verify_deposit(
    request: &DepositRequest,
    merchant_key: &Point,
    keysets: &[Keyset],
    receipt_day: Day,
    rng: &mut impl CryptoRngCore,
) -> Result<DepositVerification> {
    request.check_limits()?;
    request.verify_signature(merchant_key)?;
    let cap = DEFAULT_SEARCH_FACTOR * request.coin_count();
    Ok(verify_payments(request, merchant_key, keysets, receipt_day, cap, rng))
}

/// The default bisection work cap of a deposit request, as a multiple of
/// its coins.
pub const DEFAULT_SEARCH_FACTOR: usize = 4;

/// Two spends of one coin: the double-spending evidence anyone can check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleSpendEvidence {
    /// The coin spent twice.
    pub coin_id: CoinId,
    /// The first payment.
    pub first: Payment,
    /// The coin's index in `first`.
    pub first_index: u32,
    /// The second payment.
    pub second: Payment,
    /// The coin's index in `second`.
    pub second_index: u32,
}

impl WireMessage for DoubleSpendEvidence {
    const KIND: MessageKind = MessageKind::DoubleSpendEvidence;
    const MAX_BYTES: usize = 2 * <Payment as WireMessage>::MAX_BYTES + 128;
    fn check(&self) -> Result<(), DecodeError> {
        self.first.check()?;
        self.second.check()
    }
}

/// The double spender, as the evidence identifies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identification {
    /// `I = u·G`.
    pub identity: Point,
    /// The account id derived from `I` (that of the account registered
    /// with `I`; the bank finds an account re-keyed since through its
    /// identity records).
    pub account: AccountId,
}

/// `(z - z') / (c - c')`, the witness behind two responses to two challenges.
pub fn extract(z: &Scalar, c: &Scalar, z2: &Scalar, c2: &Scalar) -> Option<Scalar> {
    let dc = c - c2;
    (dc != Scalar::ZERO).then(|| (z - z2) * dc.invert())
}

impl DoubleSpendEvidence {
    /// Verifies both payments in full with public keys, checks they carry
    /// the same coin body under different challenges, and extracts `u`.
    ///
    /// Also checks that the extracted `k` opens `E1` and that `E2 - k·Y_T`
    /// is `u·G` (`Y_T` of the coin's keyset): relation (4) ties `k` to the
    /// escrow, so `I` is the identity sealed in the coin. Each coin of
    /// either payment is verified under the keyset it names in `keysets`.
    pub fn verify<K: KeysetLookup + ?Sized>(
        &self,
        keysets: &K,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Identification> {
        let (i1, i2) = (self.first_index as usize, self.second_index as usize);
        let c1 = self.first.coins.get(i1).ok_or(Error::BadEvidence("index"))?;
        let c2 = self.second.coins.get(i2).ok_or(Error::BadEvidence("index"))?;
        // The same body, not the same coin: one body can be signed in two
        // paid withdrawals (same gamma, s, k, r_t and nonces), and two spends
        // of it still reveal u through relations (4) and (5), whose
        // statements and commitments are all in the body.
        if c1.body != c2.body || c1.id() != self.coin_id {
            return Err(Error::BadEvidence("not the same coin"));
        }
        let keyset =
            keysets.find_keyset(&c1.body.keyset_id).ok_or(Error::UnknownKeyset(c1.body.keyset_id))?;
        let s1 = verify_payment(&self.first, keysets, rng)
            .map_err(|reason| Error::PaymentRefused { index: 0, reason })?;
        let s2 = verify_payment(&self.second, keysets, rng)
            .map_err(|reason| Error::PaymentRefused { index: 1, reason })?;
        let (ch1, ch2) = (s1.challenges[i1], s2.challenges[i2]);
        let (r1, r2): (&SpendResponses, &SpendResponses) =
            (&self.first.responses[i1], &self.second.responses[i2]);
        let u = extract(&r1.u, &ch1, &r2.u, &ch2).ok_or(Error::BadEvidence("same challenge"))?;
        let k = extract(&r1.k, &ch1, &r2.k, &ch2).ok_or(Error::BadEvidence("same challenge"))?;
        let p = Params::get();
        let identity = Point::new(p.g.point() * u);
        let escrow = &c1.body.escrow;
        if *escrow.c1.point() != p.g.point() * k
            || escrow.c2.point() - keyset.ttp_key().point() * k != *identity.point()
        {
            return Err(Error::BadEvidence("extracted witnesses do not open the escrow"));
        }
        Ok(Identification { identity, account: user_account_id(&identity) })
    }
}
