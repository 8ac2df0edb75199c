//! The merchant: requests payments, verifies them off-line with public keys
//! only, deposits them later (specs/protocol.md §8, §9): a [`Payee`] under
//! the merchant key, with its own store and trust anchors.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::anchors::TrustAnchors;
use super::bank::BankApi;
use super::payee::{Payee, PayeeRole};
use crate::coin::CoinId;
use crate::crypto::schnorr::SigningKey;
use crate::encoding::Point;
use crate::keys::{merchant_account_id, AccountId, Keyset, SignedKeyset};
use crate::protocol::deposit::{DepositReceipt, DepositRequest};
use crate::protocol::pay::{Payment, PaymentRequest, PaymentSummary};
use crate::protocol::register::MerchantRegistration;
use crate::protocol::trace::{WatchList, WatchListVersion};
use crate::protocol::Result;
use crate::store::{AcceptedPayment, MerchantStore};
use crate::time::Clock;

/// A merchant over a store.
pub struct Merchant<S: MerchantStore> {
    key: SigningKey,
    anchors: TrustAnchors,
    store: S,
    clock: Arc<dyn Clock>,
}

impl<S: MerchantStore> std::fmt::Debug for Merchant<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merchant").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl<S: MerchantStore> Merchant<S> {
    /// A merchant with signing key `key` that trusts the bank master key.
    pub fn new(key: SigningKey, master_key: Point, store: S, clock: Arc<dyn Clock>) -> Self {
        Merchant { key, anchors: TrustAnchors::new(master_key), store, clock }
    }

    /// The merchant's account id.
    pub fn id(&self) -> AccountId {
        merchant_account_id(self.key.public())
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The registration message for the bank.
    pub fn registration(&self, rng: &mut impl CryptoRngCore) -> MerchantRegistration {
        MerchantRegistration::new(&self.key, rng)
    }

    /// Pins the bank's keyset list under the shared pinning rules
    /// ([`TrustAnchors::pin_keysets`]): one chain from sequence 0 that
    /// extends what is pinned already.
    pub fn pin_keysets(&mut self, list: &[SignedKeyset]) -> Result<()> {
        self.anchors.pin_keysets(list).map(|_| ())
    }

    /// The trust anchors (master key, pinned keysets, TTP key statements).
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// The trust anchors, to pin under their rules: the bank's keyset list
    /// ([`TrustAnchors::refresh_keysets`]) and TTP key statements
    /// ([`TrustAnchors::trust_ttp`], [`TrustAnchors::refresh_ttp`]).
    pub fn anchors_mut(&mut self) -> &mut TrustAnchors {
        &mut self.anchors
    }

    /// The pinned keysets.
    pub fn keysets(&self) -> &[Keyset] {
        self.anchors.keysets()
    }

    /// The payee this merchant is: its requests, verification, held
    /// payments and deposits ([`Payee`]), under the merchant key.
    pub fn payee(&self) -> Payee<'_, S> {
        Payee::new(&self.key, self.id(), &self.anchors, &self.store, self.clock.as_ref())
    }

    /// Issues a payment request for `amount` today, with a fresh nonce
    /// ([`Payee::request_payment`]).
    pub fn request_payment(
        &self,
        amount: u64,
        order_digest: [u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<PaymentRequest> {
        self.payee().request_payment(amount, order_digest, rng)
    }

    /// Verifies a payment off-line and accepts it ([`Payee::accept`]).
    pub fn accept(&self, payment: &Payment, rng: &mut impl CryptoRngCore) -> Result<PaymentSummary> {
        self.payee().accept(payment, rng)
    }

    /// The deposit request to send next ([`Payee::deposit_request`]).
    pub fn deposit_request(&self, rng: &mut impl CryptoRngCore) -> Result<Option<DepositRequest>> {
        self.payee().deposit_request(rng)
    }

    /// Records the bank's receipt for a deposit request
    /// ([`Payee::record_receipt`]).
    pub fn record_receipt(&self, request: &DepositRequest, receipt: &DepositReceipt) -> Result<()> {
        self.payee().record_receipt(request, receipt)
    }

    /// Deposits at `bank` ([`Payee::deposit`]).
    pub fn deposit(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Option<DepositReceipt>> {
        self.payee().deposit(bank, rng)
    }

    /// Imports the bank's signed watch list ([`Payee::import_watch_list`]).
    pub fn import_watch_list(&self, list: &WatchList) -> Result<()> {
        self.payee().import_watch_list(list)
    }

    /// Deposits until nothing is pending ([`Payee::deposit_all`]).
    pub fn deposit_all(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<DepositReceipt>> {
        self.payee().deposit_all(bank, rng)
    }

    /// Every accepted payment and where it stands ([`Payee::payments`]).
    pub fn payments(&self) -> Result<Vec<AcceptedPayment>> {
        self.payee().payments()
    }

    /// The version of the watch list held.
    pub fn watch_list_version(&self) -> Result<Option<WatchListVersion>> {
        self.payee().watch_list_version()
    }

    /// Whether this merchant accepted `coin` before.
    pub fn has_seen(&self, coin: &CoinId) -> Result<bool> {
        self.payee().has_seen(coin)
    }
}

impl<S: MerchantStore> PayeeRole for Merchant<S> {
    type Store = S;
    fn payee(&self) -> Payee<'_, S> {
        Merchant::payee(self)
    }
    fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }
    fn anchors_mut(&mut self) -> &mut TrustAnchors {
        &mut self.anchors
    }
}
