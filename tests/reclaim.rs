//! Reclaiming a refused payment (specs/protocol.md §8.6): the payer deposits
//! the payment its payee refused to its own account with the signed
//! refusal, bound to the account by per-coin escrow proofs.

mod common;

use common::*;
use faircash::crypto::schnorr::SigningKey;
use faircash::protocol::deposit::{DepositOutcome, DepositRequest, PaymentOutcome};
use faircash::protocol::pay::Payment;
use faircash::protocol::reclaim::ReclaimRequest;
use faircash::protocol::refusal::PayeeRefusal;
use faircash::protocol::withdraw::WalletCoin;
use faircash::protocol::Error;
use faircash::roles::BankApi;
use faircash::store::BankStore;
use faircash::wire::WireMessage;
use rand::rngs::OsRng;

/// A payer with coins, a payee (merchant, with its key) that refused a
/// payment of 5.
struct Refused {
    w: World,
    alice: TestWallet,
    shop: TestMerchant,
    shop_key: SigningKey,
    payment: Payment,
    refusal: PayeeRefusal,
}

fn refused() -> Refused {
    let w = World::new();
    let alice = w.user(100);
    alice.withdraw(&*w.bank, 31, &mut OsRng).unwrap();
    let (shop, shop_key) = w.merchant_with_key();
    let req = shop.request_payment(5, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    let refusal = shop.payee().refuse(&payment, &mut OsRng).unwrap();
    Refused { w, alice, shop, shop_key, payment, refusal }
}

impl Refused {
    /// The payer's coins of the payment, in payment order.
    fn coins(&self) -> Vec<WalletCoin> {
        let held = self.alice.coins().unwrap();
        self.payment
            .coins
            .iter()
            .map(|c| held.iter().find(|s| s.coin.coin.id() == c.id()).unwrap().coin.clone())
            .collect()
    }

    fn request(&self, wallet: &TestWallet, refusal: PayeeRefusal) -> ReclaimRequest {
        let coins = self.coins();
        let refs: Vec<&WalletCoin> = coins.iter().collect();
        ReclaimRequest::new(wallet.keys(), self.payment.clone(), refusal, &refs, &self.w.keyset(), &mut OsRng)
            .unwrap()
    }

    /// The payee deposits the payment, its refusal notwithstanding.
    fn payee_deposits(&self) -> faircash::protocol::deposit::DepositReceipt {
        let d = DepositRequest::new(&self.shop_key, self.shop.id(), vec![self.payment.clone()], &mut OsRng);
        self.w.bank.deposit(&d).unwrap()
    }

    /// Accounts + coins held + the refused payment while nobody is credited
    /// for it.
    fn total(&self, refused_outstanding: bool) -> u64 {
        let a = self.alice.account_id();
        self.w.balance(&a)
            + self.alice.balance().unwrap()
            + self.w.balance(&self.shop.id())
            + if refused_outstanding { self.payment.request.amount } else { 0 }
    }
}

#[test]
fn a_reclaim_credits_the_payer_once_and_the_payees_later_deposit_is_a_duplicate() {
    let r = refused();
    let alice = r.alice.account_id();
    assert_eq!(r.total(true), 100);
    let receipt = r.alice.reclaim(&*r.w.bank, &r.refusal, None, &mut OsRng).unwrap();
    assert_eq!(receipt.credited, 5);
    assert_eq!(receipt.payments, vec![PaymentOutcome::Verified]);
    assert_eq!(r.w.balance(&alice), 74);
    assert_eq!(r.alice.balance().unwrap(), 26, "the coins stay spent");
    assert!(r.alice.reclaims_in_flight().unwrap().is_empty());
    assert_eq!(r.total(false), 100);

    // The same request again (a lost reply): the same receipt, no credit.
    let req = r.request(&r.alice, r.refusal);
    let first = r.w.bank.reclaim(&req).unwrap();
    assert_eq!(first.credited, 0, "a second reclaim of one payment is a duplicate");
    assert!(first.outcomes.iter().all(|o| o.outcome == DepositOutcome::Duplicate));
    assert_eq!(r.w.bank.reclaim(&req).unwrap(), first);
    // The wallet's own second reclaim is a duplicate too.
    assert_eq!(r.alice.reclaim(&*r.w.bank, &r.refusal, Some(&r.payment), &mut OsRng).unwrap().credited, 0);
    assert_eq!(r.w.balance(&alice), 74);

    // The payee deposits it later: a duplicate of a spend already credited,
    // no credit, nobody accused; the refusal is kept as the reason.
    let late = r.payee_deposits();
    assert_eq!(late.credited, 0);
    assert!(late.outcomes.iter().all(|o| o.outcome == DepositOutcome::Duplicate));
    assert!(!r.w.bank.account(&alice).unwrap().frozen);
    let status = r.w.bank.status().unwrap();
    assert_eq!(status.evidence, 0);
    assert!(status.broken_refusals.is_empty());
    let kept = r.w.bank.store().begin().unwrap().refusal_record(&r.payment.digest()).unwrap().unwrap();
    assert_eq!((kept.payer, kept.payee, kept.refusal, kept.broken), (alice, r.shop.id(), r.refusal, false));
    assert_eq!(r.total(false), 100);
}

#[test]
fn a_reclaim_after_the_payee_deposited_is_refused_and_the_refusal_kept_as_proof() {
    let r = refused();
    let alice = r.alice.account_id();
    assert_eq!(r.payee_deposits().credited, 5);
    let err = r.alice.reclaim(&*r.w.bank, &r.refusal, None, &mut OsRng).unwrap_err();
    assert!(matches!(err, Error::RefusalBroken { payee } if payee == r.shop.id()), "{err}");
    assert_eq!(r.w.balance(&alice), 69, "nothing credited");
    assert!(r.alice.reclaims_in_flight().unwrap().is_empty(), "settled: sending it again changes nothing");
    let proof = r.w.bank.broken_refusals().unwrap();
    assert_eq!(proof.len(), 1);
    assert_eq!((proof[0].payee, proof[0].payer, proof[0].refusal), (r.shop.id(), alice, r.refusal));
    assert!(proof[0].broken);
    // Anyone checks it with the payment the bank stored.
    proof[0].refusal.verify(&r.payment).unwrap();
    assert_eq!(r.w.bank.status().unwrap().broken_refusals, proof);
    // Asked again, the same answer, recorded once.
    assert!(matches!(r.w.bank.reclaim(&r.request(&r.alice, r.refusal)), Err(Error::RefusalBroken { .. })));
    assert_eq!(r.w.bank.broken_refusals().unwrap().len(), 1);
    assert!(!r.w.bank.account(&alice).unwrap().frozen, "the payer is not accused");
    assert_eq!(r.total(false), 100);
}

#[test]
fn forged_foreign_and_stolen_reclaims_are_refused_and_change_nothing() {
    let r = refused();
    let alice = r.alice.account_id();
    let mallory = r.w.user(0);
    let spent_before = r.w.bank.status().unwrap().spent_coins;
    let unchanged = |what: &str| {
        assert_eq!(r.w.balance(&alice), 69, "{what}");
        assert_eq!(r.w.balance(&mallory.account_id()), 0, "{what}");
        assert_eq!(r.w.bank.status().unwrap().spent_coins, spent_before, "{what}");
    };

    // A refusal signed by another key, or refusing another payment.
    let mut forged = r.refusal;
    forged.signature =
        SigningKey::generate(&mut OsRng).sign(b"faircash/v1/payee-refusal-signature", &[0; 64], &mut OsRng);
    assert!(matches!(r.alice.reclaim(&*r.w.bank, &forged, None, &mut OsRng), Err(Error::InvalidProof(_))));
    assert!(matches!(r.w.bank.reclaim(&r.request(&r.alice, forged)), Err(Error::InvalidProof(_))));
    unchanged("forged refusal");
    let req2 = r.shop.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let other = r.alice.pay(&req2, &mut OsRng).unwrap();
    let other_refusal = r.shop.payee().refuse(&other, &mut OsRng).unwrap();
    let mut swapped = r.request(&r.alice, r.refusal);
    swapped.refusal = other_refusal;
    swapped.signature = r.alice.keys().auth().signing_key().sign(
        b"faircash/v1/reclaim-signature",
        &swapped.digest(),
        &mut OsRng,
    );
    assert!(matches!(r.w.bank.reclaim(&swapped), Err(Error::InvalidProof(_))));
    assert!(matches!(
        r.alice.reclaim(&*r.w.bank, &other_refusal, Some(&r.payment), &mut OsRng),
        Err(Error::UnknownPaymentRequest)
    ));
    unchanged("refusal of another payment");

    // A request not signed by the account's authentication key.
    let mut unsigned = r.request(&r.alice, r.refusal);
    unsigned.signature = mallory.keys().auth().signing_key().sign(
        b"faircash/v1/reclaim-signature",
        &unsigned.digest(),
        &mut OsRng,
    );
    assert!(matches!(r.w.bank.reclaim(&unsigned), Err(Error::InvalidProof("reclaim signature"))));

    // Mallory holds the payment and the refusal. Even knowing the coins'
    // escrow randomness, her request proves alice's identity, not hers.
    let stolen = r.request(&mallory, r.refusal);
    assert!(matches!(r.w.bank.reclaim(&stolen), Err(Error::InvalidProof(_))));
    // Naming her own identity, the escrow proofs fail.
    let mut claimed = r.request(&mallory, r.refusal);
    claimed.identities = vec![*mallory.keys().identity().identity(); claimed.identities.len()];
    claimed.signature = mallory.keys().auth().signing_key().sign(
        b"faircash/v1/reclaim-signature",
        &claimed.digest(),
        &mut OsRng,
    );
    assert!(matches!(r.w.bank.reclaim(&claimed), Err(Error::InvalidProof("reclaim escrow proof"))));
    // Alice's own request moved to her account: the proofs are bound to the
    // request, the account with it.
    let mut moved = r.request(&r.alice, r.refusal);
    moved.account = mallory.account_id();
    moved.signature = mallory.keys().auth().signing_key().sign(
        b"faircash/v1/reclaim-signature",
        &moved.digest(),
        &mut OsRng,
    );
    assert!(matches!(r.w.bank.reclaim(&moved), Err(Error::InvalidProof("reclaim escrow proof"))));
    // A merchant account cannot reclaim.
    let mut by_shop = r.request(&r.alice, r.refusal);
    by_shop.account = r.shop.id();
    assert!(matches!(r.w.bank.reclaim(&by_shop), Err(Error::WrongAccountKind(_))));
    unchanged("stolen");

    // The honest reclaim still goes through.
    assert_eq!(r.alice.reclaim(&*r.w.bank, &r.refusal, None, &mut OsRng).unwrap().credited, 5);
}

#[test]
fn a_reclaim_request_travels_as_a_wire_message_and_decodes_strictly() {
    let r = refused();
    let req = r.request(&r.alice, r.refusal);
    assert_eq!(ReclaimRequest::from_bytes(&req.to_bytes()).unwrap(), req);
    assert_eq!(ReclaimRequest::from_json(&req.to_json()).unwrap(), req);
    let bytes = req.to_bytes();
    assert!(ReclaimRequest::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut short = req.clone();
    short.proofs.pop();
    assert!(ReclaimRequest::from_bytes(&short.to_bytes()).is_err(), "one proof per coin");
    // Over HTTP-like transport, any BankApi answers the same.
    let api: &dyn BankApi = &*r.w.bank;
    assert_eq!(api.reclaim(&req).unwrap().credited, 5);
}
