//! Deposit, double-spend detection and identification
//! (specs/protocol.md §9).
//!
//! The merchant sends its payments in a [`DepositRequest`] signed with its
//! key. The bank verifies every group equation of every payment (the range
//! proofs' and every coin's linear equations) and the request signature in
//! one multiscalar multiplication, each equation under its own 128-bit
//! weight, plus one ACL hash per coin ([`verify_deposit`]). Then, per `coin_id`, the bank's store
//! decides the [`DepositOutcome`]. Two verifying spends of one coin with
//! different challenges are [`DoubleSpendEvidence`], from which anyone
//! extracts `u = (z_u - z_u')/(c - c')` and so the identity `I = u·G`.

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::pay::{name_proof_failure, queue_payment, verify_payment, Payment, PaymentSummary};
use super::{Error, PaymentError, Result};
use crate::coin::{CoinId, SpendResponses};
use crate::crypto::batch::BatchVerifier;
use crate::crypto::schnorr::{Signature, SigningKey};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::keys::{user_account_id, AccountId, Keyset};
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
        let mut t = Params::get().transcript(labels::DEPOSIT_REQUEST_DIGEST);
        t.append_message(b"request", &deposit_message(&self.merchant_id, &self.request_id, &self.payments));
        crate::crypto::transcript::FaircashTranscript::challenge_digest(&mut t, b"request-digest")
    }

    /// Number of coins over all payments.
    pub fn coin_count(&self) -> usize {
        self.payments.iter().map(|p| p.coins.len()).sum()
    }
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

/// The bank's answer to a deposit request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositReceipt {
    /// The request answered.
    #[serde(with = "crate::encoding::hex32")]
    pub request_id: [u8; 16],
    /// The merchant.
    pub merchant_id: AccountId,
    /// The bank's receipt day `R`.
    pub receipt_day: Day,
    /// Total credited by this request.
    pub credited: u64,
    /// One outcome per coin, in request order.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, CoinOutcome, MAX_COINS_PER_DEPOSIT>"
    )]
    pub outcomes: Vec<CoinOutcome>,
}

impl WireMessage for DepositReceipt {
    const KIND: MessageKind = MessageKind::DepositReceipt;
    const MAX_BYTES: usize = 64 + MAX_COINS_PER_DEPOSIT * 64;
    // An outcome takes at most 60 bytes in binary but up to about 280 in
    // pretty-printed JSON (names, indentation, the coin id and an account id
    // in hex): three times the binary limit would refuse the JSON form of a
    // receipt for more than about 3300 coins.
    const MAX_JSON_BYTES: usize = 4096 + MAX_COINS_PER_DEPOSIT * 384;
}

/// Verifies a deposit request: the merchant's signature, that every payment
/// is addressed to this merchant and dated within the deposit window of the
/// receipt day, and every payment's proofs, all group equations (range
/// proofs included) in one multiscalar multiplication.
///
/// `keysets` are the bank's keysets; `merchant_key` is the registered key.
/// On failure, finds the first refused payment and names it.
pub fn verify_deposit(
    request: &DepositRequest,
    merchant_key: &Point,
    keysets: &[Keyset],
    receipt_day: Day,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<PaymentSummary>> {
    if request.payments.is_empty() {
        return Err(Error::TooLarge("a deposit holds at least one payment"));
    }
    if request.payments.len() > MAX_PAYMENTS_PER_DEPOSIT || request.coin_count() > MAX_COINS_PER_DEPOSIT {
        return Err(Error::TooLarge("deposit request"));
    }
    let find = |p: &Payment| keysets.iter().find(|k| k.id() == p.keyset_id);
    for (index, p) in request.payments.iter().enumerate() {
        if p.request.merchant_id != request.merchant_id || p.request.merchant_key != *merchant_key {
            return Err(Error::WrongMerchant);
        }
        let keyset =
            find(p).ok_or(Error::PaymentRefused { index, reason: super::PaymentError::UnknownKeyset })?;
        let delay = keyset.policy().max_deposit_delay_days;
        if p.request.day > receipt_day || p.request.day < receipt_day.minus(delay) {
            return Err(Error::DayOutOfWindow { day: p.request.day, receipt_day });
        }
    }
    // Per coin 16 distinct points; per range proof at most 24 of its own.
    let points = 16 * request.coin_count() + 24 * request.payments.len() + 32;
    let mut batch = BatchVerifier::with_capacity(rng, points);
    let msg = deposit_message(&request.merchant_id, &request.request_id, &request.payments);
    request
        .signature
        .queue(labels::DEPOSIT_SIGNATURE, &msg, merchant_key, &mut batch)
        .map_err(|_| Error::InvalidProof("deposit signature"))?;
    let mut summaries = Vec::with_capacity(request.payments.len());
    for (index, p) in request.payments.iter().enumerate() {
        let keyset = find(p).ok_or(Error::UnknownKeyset(p.keyset_id))?;
        let s = queue_payment(p, keyset, &mut batch).map_err(|reason| {
            // Named as `verify_payment` names it (the range proof first).
            let reason = match reason {
                PaymentError::Proofs => name_proof_failure(p, rng),
                other => other,
            };
            Error::PaymentRefused { index, reason }
        })?;
        summaries.push(s);
    }
    if batch.verify().is_ok() {
        return Ok(summaries);
    }
    // Something is false: name it.
    request
        .signature
        .verify(labels::DEPOSIT_SIGNATURE, &msg, merchant_key)
        .map_err(|_| Error::InvalidProof("deposit signature"))?;
    for (index, p) in request.payments.iter().enumerate() {
        let keyset = find(p).ok_or(Error::UnknownKeyset(p.keyset_id))?;
        verify_payment(p, keyset, rng).map_err(|reason| Error::PaymentRefused { index, reason })?;
    }
    // Unreachable unless the random weights cancelled (probability 2^-128).
    Err(Error::InvalidProof("deposit batch"))
}

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
    /// is `u·G`: relation (4) ties `k` to the escrow, so `I` is the identity
    /// sealed in the coin.
    pub fn verify(&self, keyset: &Keyset, rng: &mut impl CryptoRngCore) -> Result<Identification> {
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
        let s1 = verify_payment(&self.first, keyset, rng)
            .map_err(|reason| Error::PaymentRefused { index: 0, reason })?;
        let s2 = verify_payment(&self.second, keyset, rng)
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
