//! The wallet as a payee: receiving from another user off-line and
//! depositing what it received to its own account (specs/protocol.md §8.4).
//!
//! A wallet is a [`Payee`] whose payee key is its account's authentication
//! key `A` (never `u`, which a double spend may make public) and whose
//! account is its own: the same requests, off-line verification, seen coins,
//! watch list, held payments and deposit queue as a merchant, kept in the
//! wallet's store ([`WalletStore::payee`]).

use rand_core::CryptoRngCore;

use super::Wallet;
use crate::coin::CoinId;
use crate::protocol::deposit::DepositReceipt;
use crate::protocol::pay::{Payment, PaymentRequest, PaymentSummary};
use crate::protocol::trace::WatchList;
use crate::protocol::Result;
use crate::roles::anchors::TrustAnchors;
use crate::roles::bank::BankApi;
use crate::roles::payee::{Payee, PayeeRole};
use crate::store::{AcceptedPayment, MerchantStore, WalletStore};

impl<S: WalletStore> Wallet<S> {
    /// The payee this wallet is: its account, under its authentication key,
    /// with its payee state in the wallet's store.
    pub fn payee(&self) -> Payee<'_, dyn MerchantStore> {
        Payee::new(
            self.keys.auth().signing_key(),
            self.keys.account(),
            &self.anchors,
            self.store.payee(),
            self.clock.as_ref(),
        )
    }

    /// Asks for a payment of `amount` to this wallet's account today
    /// ([`Payee::request_payment`]): the request names the account and
    /// carries the authentication key `A` as its payee key.
    pub fn request_payment(
        &self,
        amount: u64,
        order_digest: [u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<PaymentRequest> {
        self.payee().request_payment(amount, order_digest, rng)
    }

    /// Verifies a payment off-line, with public keys alone, exactly as a
    /// merchant does, and holds it for deposit ([`Payee::accept`]). A
    /// payment that answers no open request of this wallet (addressed to
    /// another payee, or a replay of one already received), that does not
    /// verify, or that carries a coin seen before or watched, is refused
    /// with a typed error and changes nothing.
    pub fn receive(&self, payment: &Payment, rng: &mut impl CryptoRngCore) -> Result<PaymentSummary> {
        self.payee().accept(payment, rng)
    }

    /// Deposits the payments received to this wallet's own account, signed
    /// with the authentication key ([`Payee::deposit_all`]): a request
    /// interrupted before its receipt was recorded is sent again byte for
    /// byte. Returns the receipts, in order.
    pub fn deposit_received(
        &self,
        bank: &(impl BankApi + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<DepositReceipt>> {
        self.payee().deposit_all(bank, rng)
    }

    /// Every payment received and where it stands (pending, deposited,
    /// refused with the bank's reason), in the order received.
    pub fn received(&self) -> Result<Vec<AcceptedPayment>> {
        self.payee().payments()
    }

    /// Imports the bank's signed watch list ([`Payee::import_watch_list`]).
    pub fn import_watch_list(&self, list: &WatchList) -> Result<()> {
        self.payee().import_watch_list(list)
    }

    /// Whether this wallet received `coin` before.
    pub fn has_received(&self, coin: &CoinId) -> Result<bool> {
        self.payee().has_seen(coin)
    }
}

impl<S: WalletStore> PayeeRole for Wallet<S> {
    type Store = dyn MerchantStore;
    fn payee(&self) -> Payee<'_, dyn MerchantStore> {
        Wallet::payee(self)
    }
    fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }
    fn anchors_mut(&mut self) -> &mut TrustAnchors {
        &mut self.anchors
    }
}
