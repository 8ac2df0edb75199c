//! Receiving payments: the one "verify and hold received payments"
//! component that merchants and wallets share (specs/protocol.md §8, §9).
//!
//! A payee issues payment requests under its account and payee key,
//! verifies a payment off-line with public keys alone, recognises coins it
//! saw before and serials on the watch list, holds accepted payments until
//! it deposits them, and keeps a deposit request in flight (stored before it
//! leaves, sent again byte for byte until a verified receipt settles it).
//! [`crate::roles::Merchant`] is a payee whose key is its merchant key; a
//! [`crate::roles::Wallet`] is a payee whose key is its account's
//! authentication key `A` (never `u`).
//!
//! [`Payee`] is a view over a role's key, trust anchors, store and clock:
//! the role keeps its state, the payee logic lives here only.

use rand_core::CryptoRngCore;

use super::anchors::TrustAnchors;
use super::bank::BankApi;
use crate::coin::CoinId;
use crate::crypto::schnorr::SigningKey;
use crate::failpoint::failpoint;
use crate::keys::{AccountId, Keyset};
use crate::protocol::deposit::{
    DepositReceipt, DepositRequest, PaymentOutcome, MAX_COINS_PER_DEPOSIT, MAX_PAYMENTS_PER_DEPOSIT,
};
use crate::protocol::pay::{verify_payment, Payment, PaymentRequest, PaymentSummary};
use crate::protocol::refusal::PayeeRefusal;
use crate::protocol::trace::{WatchList, WatchListError, WatchListVersion};
use crate::protocol::{Error, Result};
use crate::store::{AcceptedPayment, MerchantStore, StoreError};
use crate::time::Clock;

/// A role that is a payee (a [`crate::roles::Merchant`], a
/// [`crate::roles::Wallet`]): its [`Payee`] view and its trust anchors.
pub trait PayeeRole {
    /// The store holding the payee state.
    type Store: MerchantStore + ?Sized;
    /// The payee this role is.
    fn payee(&self) -> Payee<'_, Self::Store>;
    /// The trust anchors payments are verified under.
    fn anchors(&self) -> &TrustAnchors;
    /// The trust anchors, to pin the bank's keyset list under their rules.
    fn anchors_mut(&mut self) -> &mut TrustAnchors;

    /// [`Payee::accept`], except that a payment under a keyset this payee
    /// has not pinned makes it fetch the bank's keyset list first (pinned
    /// under the shared rules of [`TrustAnchors::refresh_keysets`], which
    /// verify the chain, so a bank cannot roll back or fork it this way)
    /// and try once more: a keyset the bank issued since the payee last
    /// looked is accepted without a restart. When the bank cannot be
    /// reached, the payment is refused as [`Error::UnknownKeyset`], as
    /// off-line. The one implementation for merchants and wallets.
    fn accept_or_refresh(
        &mut self,
        payment: &Payment,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<PaymentSummary> {
        match self.payee().accept(payment, rng) {
            Err(Error::UnknownKeyset(id)) => {
                match self.anchors_mut().refresh_keysets(bank) {
                    Ok(_) => {}
                    Err(Error::Unreachable(_)) => return Err(Error::UnknownKeyset(id)),
                    Err(e) => return Err(e),
                }
                self.payee().accept(payment, rng)
            }
            other => other,
        }
    }
}

/// A payee: the key that signs its requests' payee key and its deposits,
/// the account credited, the trust anchors payments are verified under, the
/// store that holds requests, seen coins, payments and deposits, and the
/// clock that dates requests.
pub struct Payee<'a, S: MerchantStore + ?Sized> {
    key: &'a SigningKey,
    id: AccountId,
    anchors: &'a TrustAnchors,
    store: &'a S,
    clock: &'a dyn Clock,
}

impl<S: MerchantStore + ?Sized> std::fmt::Debug for Payee<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payee").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<'a, S: MerchantStore + ?Sized> Payee<'a, S> {
    /// A payee for account `id` whose payee key is `key`.
    pub fn new(
        key: &'a SigningKey,
        id: AccountId,
        anchors: &'a TrustAnchors,
        store: &'a S,
        clock: &'a dyn Clock,
    ) -> Self {
        Payee { key, id, anchors, store, clock }
    }

    /// The account credited by deposits.
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// The store.
    pub fn store(&self) -> &'a S {
        self.store
    }

    /// Issues a payment request for `amount` today, with a fresh nonce,
    /// and files it as open.
    pub fn request_payment(
        &self,
        amount: u64,
        order_digest: [u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<PaymentRequest> {
        if amount == 0 {
            return Err(Error::BadPaymentRequest("amount"));
        }
        let req =
            PaymentRequest::new(self.id, *self.key.public(), amount, self.clock.today(), order_digest, rng);
        self.store.insert_request(&req)?;
        Ok(req)
    }

    /// Verifies a payment off-line and accepts it.
    ///
    /// Checks, in order: it answers an open request of this payee, exactly
    /// as issued, under its current payee key (so a payment addressed to
    /// another payee, one that answers a request already paid, or one
    /// asked for under a key rotated away since, is
    /// [`Error::UnknownPaymentRequest`]);
    /// every keyset its coins name is pinned and escrows under the key of a
    /// pinned TTP key statement that covers it; the payment verifies, each
    /// coin under its own keyset (structure, keys spendable on the day,
    /// amount, range proof, signatures, spend proofs); no
    /// coin was seen before and none is on the watch list. Then closes the
    /// request, records the coins and keeps the payment for deposit,
    /// atomically. A refused payment changes nothing.
    pub fn accept(&self, payment: &Payment, rng: &mut impl CryptoRngCore) -> Result<PaymentSummary> {
        let request_id = payment.request.id();
        if !self.answers_open_request(payment)? {
            return Err(Error::UnknownPaymentRequest);
        }
        // A keyset whose escrow key no pinned TTP key statement names is
        // refused off-line: its coins could be de-anonymized by the bank.
        let keysets = payment
            .keyset_ids()
            .iter()
            .map(|id| self.anchors.usable_keyset(id))
            .collect::<Result<Vec<&Keyset>>>()?;
        let summary = verify_payment(payment, &keysets, rng)?;
        for (coin, id) in payment.coins.iter().zip(&summary.coin_ids) {
            if self.store.coin_seen(id)? {
                return Err(Error::CoinAlreadySeen(*id));
            }
            if self.store.serial_watched(&coin.body.serial)? {
                return Err(Error::Watchlisted(*id));
            }
        }
        self.store.accept_payment(&request_id, &summary.coin_ids, payment).map_err(|e| match e {
            StoreError::Conflict(_) => Error::CoinAlreadySeen(summary.coin_ids[0]),
            StoreError::NotFound(_) => Error::UnknownPaymentRequest,
            other => Error::Store(other),
        })?;
        Ok(summary)
    }

    /// Whether `payment` answers an open request of this payee, exactly as
    /// issued, under its current payee key. A request issued under a payee
    /// key this payee no longer uses (a wallet that rotated its
    /// authentication key since) could never be deposited: it is not one.
    fn answers_open_request(&self, payment: &Payment) -> Result<bool> {
        Ok(matches!(
            self.store.open_request(&payment.request.id())?,
            Some(r) if r == payment.request && r.merchant_key == *self.key.public() && r.merchant_id == self.id
        ))
    }

    /// Refuses `payment` with a signed [`PayeeRefusal`] (protocol.md §8.5),
    /// with which the payer reclaims its value. The payment must answer an
    /// open request of this payee under its current key; the request is
    /// closed first, recording the payment refused, so no payment for it
    /// is ever accepted after and the refusal is never a lie. Asked again
    /// for the same payment (a refusal lost before it reached the payer),
    /// it signs the refusal again; for any other payment,
    /// [`Error::UnknownPaymentRequest`]. A payment this payee accepted is
    /// never refused.
    pub fn refuse(&self, payment: &Payment, rng: &mut impl CryptoRngCore) -> Result<PayeeRefusal> {
        if payment.request.merchant_key != *self.key.public() || payment.request.merchant_id != self.id {
            return Err(Error::UnknownPaymentRequest);
        }
        // The request id is the request's digest: the store closes exactly
        // the request the payment answers, or finds it refused before.
        self.store.refuse_payment(&payment.request.id(), &payment.digest()).map_err(|e| match e {
            StoreError::NotFound(_) => Error::UnknownPaymentRequest,
            other => Error::Store(other),
        })?;
        PayeeRefusal::sign(self.key, payment, rng)
    }

    /// The deposit request to send next (`None` if nothing is to be
    /// deposited): the request in flight if there is one (sent before and
    /// not answered by a recorded receipt: a retry sends the same bytes,
    /// so the bank answers with the receipt it stored), otherwise a new
    /// request signed with the payee key for the oldest pending payments,
    /// within the request limits, stored as in flight before it is
    /// returned.
    pub fn deposit_request(&self, rng: &mut impl CryptoRngCore) -> Result<Option<DepositRequest>> {
        if let Some(req) = self.store.deposit_in_flight()? {
            return Ok(Some(req));
        }
        let mut payments = Vec::new();
        let mut coins = 0;
        for a in self.store.undeposited()? {
            let n = a.payment.coins.len();
            if payments.len() == MAX_PAYMENTS_PER_DEPOSIT || coins + n > MAX_COINS_PER_DEPOSIT {
                break;
            }
            coins += n;
            payments.push(a.payment);
        }
        if payments.is_empty() {
            return Ok(None);
        }
        let req = DepositRequest::new(self.key, self.id, payments, rng);
        self.store.begin_deposit(&req)?;
        Ok(Some(req))
    }

    /// Records the bank's receipt for a deposit request, after checking it
    /// against the request and the pinned keysets
    /// ([`DepositReceipt::verify`]): a receipt that does not verify is
    /// refused and changes nothing (the request stays in flight, so a
    /// retry gets the bank's real receipt). Payments become deposited or
    /// refused (kept apart, never deposited again) as the receipt says;
    /// deferred ones stay pending for the next request.
    pub fn record_receipt(&self, request: &DepositRequest, receipt: &DepositReceipt) -> Result<()> {
        receipt.verify(request, self.anchors.keysets())?;
        self.store.record_receipt(request, receipt)?;
        Ok(())
    }

    /// Deposits at `bank`: sends the request in flight if there is one,
    /// otherwise a new request for the oldest pending payments
    /// ([`Payee::deposit_request`]), and records the receipt. Returns
    /// `None` when there is nothing to deposit. A request that fails (the
    /// bank unreachable, a lost or refused answer, a receipt that does not
    /// verify) stays in flight and is sent again, byte for byte, by the
    /// next call.
    pub fn deposit(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Option<DepositReceipt>> {
        let Some(req) = self.deposit_request(rng)? else {
            return Ok(None);
        };
        failpoint!("payee.deposit.stored");
        let receipt = bank.deposit(&req)?;
        failpoint!("payee.deposit.credited");
        self.record_receipt(&req, &receipt)?;
        Ok(Some(receipt))
    }

    /// Deposits until nothing is pending ([`Payee::deposit`] request by
    /// request), or until a request settles no payment (every one deferred
    /// or refused for now). Returns the receipts, in order.
    pub fn deposit_all(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<DepositReceipt>> {
        let mut receipts = Vec::new();
        while let Some(r) = self.deposit(bank, rng)? {
            let settled = r.payments.iter().any(|o| match o {
                PaymentOutcome::Verified => true,
                PaymentOutcome::Refused(refusal) => refusal.is_final(),
                PaymentOutcome::Deferred => false,
            });
            receipts.push(r);
            if !settled {
                break;
            }
        }
        Ok(receipts)
    }

    /// Imports the bank's signed watch list, replacing the copy held:
    /// refused if its signature does not verify under the bank master key,
    /// or if it is older than the list held (an earlier issue time, a lower
    /// sequence, or the same sequence with other serials), so a replayed
    /// older list can never take a traced coin off the list again.
    pub fn import_watch_list(&self, list: &WatchList) -> Result<()> {
        list.verify(self.anchors.master_key()).map_err(|_| WatchListError::Signature)?;
        list.check_newer_than(self.store.watch_list_version()?.as_ref())?;
        let version = list.version();
        self.store.set_watch_list(&version, &list.serials).map_err(|e| match e {
            StoreError::Conflict(_) => match self.store.watch_list_version() {
                Ok(held) => list.check_newer_than(held.as_ref()).err().map_or(Error::Store(e), Error::from),
                Err(e) => Error::Store(e),
            },
            other => Error::Store(other),
        })
    }

    /// Every accepted payment and where it stands (pending, deposited,
    /// refused with the bank's reason), in the order accepted.
    pub fn payments(&self) -> Result<Vec<AcceptedPayment>> {
        Ok(self.store.payments()?)
    }

    /// The version of the watch list held.
    pub fn watch_list_version(&self) -> Result<Option<WatchListVersion>> {
        Ok(self.store.watch_list_version()?)
    }

    /// Payments held and not yet settled by a receipt: the pending ones
    /// and those of a deposit in flight.
    pub fn unsettled(&self) -> Result<usize> {
        let in_flight = self.store.deposit_in_flight()?.map_or(0, |r| r.payments.len());
        Ok(self.store.undeposited()?.len().max(in_flight))
    }

    /// Whether this payee accepted `coin` before.
    pub fn has_seen(&self, coin: &CoinId) -> Result<bool> {
        Ok(self.store.coin_seen(coin)?)
    }
}
