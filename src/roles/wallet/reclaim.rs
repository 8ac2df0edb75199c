//! The payer's reclaim of a payment its payee refused (specs/protocol.md
//! §8.6): the same payment transcript deposited to the payer's own account
//! with the payee's signed refusal, signed with the authentication key `A`.
//! The coins stay spent: the value comes back as a credit to the account.
//!
//! Crash safety: the signed reclaim request is stored before it leaves and
//! removed only when a verified receipt settles it; [`Wallet::resume`]
//! sends a stored request again, byte for byte, so a receipt lost after
//! the bank's commit comes back as the stored receipt, never a second
//! credit.

use rand_core::CryptoRngCore;

use super::Wallet;
use crate::failpoint::failpoint;
use crate::protocol::deposit::DepositReceipt;
use crate::protocol::pay::Payment;
use crate::protocol::reclaim::ReclaimRequest;
use crate::protocol::refusal::PayeeRefusal;
use crate::protocol::withdraw::WalletCoin;
use crate::protocol::{Error, Result};
use crate::roles::bank::BankApi;
use crate::store::WalletStore;

/// Whether a reclaim that failed this way may succeed when sent again as is
/// (the network, the bank's store or its load); any other failure settles
/// it.
fn transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Unreachable(_)
            | Error::Store(_)
            | Error::Throttled { .. }
            | Error::MerchantBusy { .. }
            | Error::Overloaded { .. }
            | Error::BadReceipt(_)
            | Error::Remote { retryable: true, .. }
    )
}

impl<S: WalletStore> Wallet<S> {
    /// Reclaims the value of a payment this wallet made and its payee
    /// refused with `refusal`: `payment` is the payment as it left (by
    /// default the one the wallet recorded for the refusal's request; one
    /// given must be exactly that one). The refusal must verify for it. A
    /// reclaim of this payment stored before (interrupted) is sent again;
    /// otherwise a new one, signed with the authentication key and proving
    /// per coin that its escrow holds this account's identity, is stored
    /// and sent. The coins stay spent. Returns the bank's receipt, verified.
    ///
    /// # Errors
    /// [`Error::UnknownPaymentRequest`] for a payment this wallet did not
    /// make; [`Error::InvalidProof`] for a refusal that does not refuse it;
    /// [`Error::RefusalBroken`] when the payee deposited the payment before
    /// (the bank keeps the refusal as proof; nothing is credited).
    pub fn reclaim(
        &self,
        bank: &(impl BankApi + ?Sized),
        refusal: &PayeeRefusal,
        payment: Option<&Payment>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<DepositReceipt> {
        let made = self.store.payment(&refusal.request_id)?.ok_or(Error::UnknownPaymentRequest)?;
        if payment.is_some_and(|p| *p != made) {
            return Err(Error::UnknownPaymentRequest);
        }
        refusal.verify(&made)?;
        let digest = made.digest();
        let req = match self.store.reclaims()?.into_iter().find(|r| r.payment.digest() == digest) {
            Some(stored) => stored,
            None => {
                let held = self.store.coins()?;
                let coins = made
                    .coins
                    .iter()
                    .map(|c| {
                        let id = c.id();
                        held.iter()
                            .find(|s| s.spent_in == Some(refusal.request_id) && s.coin.coin.id() == id)
                            .map(|s| &s.coin)
                            .ok_or(Error::UnknownPaymentRequest)
                    })
                    .collect::<Result<Vec<&WalletCoin>>>()?;
                let req =
                    ReclaimRequest::new(&self.keys, made, *refusal, &coins, self.anchors.keysets(), rng)?;
                self.store.put_reclaim(&req)?;
                req
            }
        };
        failpoint!("wallet.reclaim.stored");
        self.send_reclaim(bank, &req)
    }

    /// Sends a stored reclaim and settles it: a verified receipt (or a
    /// failure that sending it again cannot change) removes it.
    fn send_reclaim(&self, bank: &(impl BankApi + ?Sized), req: &ReclaimRequest) -> Result<DepositReceipt> {
        let receipt = match bank.reclaim(req) {
            Ok(r) => r,
            Err(e) => {
                if !transient(&e) {
                    self.store.drop_reclaim(&req.request_id)?;
                }
                return Err(e);
            }
        };
        failpoint!("wallet.reclaim.credited");
        receipt.verify_answer(
            &req.request_id,
            &req.account,
            &req.digest(),
            std::slice::from_ref(&req.payment),
            self.anchors.keysets(),
        )?;
        self.store.drop_reclaim(&req.request_id)?;
        Ok(receipt)
    }

    /// Sends every stored reclaim again ([`Wallet::resume`]); returns how
    /// many were settled. A transient failure leaves the rest for later.
    pub(super) fn resume_reclaims(&self, bank: &(impl BankApi + ?Sized)) -> Result<usize> {
        let mut settled = 0;
        for req in self.store.reclaims()? {
            match self.send_reclaim(bank, &req) {
                Ok(_) => settled += 1,
                Err(e) if transient(&e) => return Err(e),
                Err(_) => settled += 1,
            }
        }
        Ok(settled)
    }

    /// Reclaims stored and not yet settled by a receipt.
    pub fn reclaims_in_flight(&self) -> Result<Vec<ReclaimRequest>> {
        Ok(self.store.reclaims()?)
    }
}
