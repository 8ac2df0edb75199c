//! Adversarial tampering with payments: every field of a payment is bound by
//! verification, off-line at the merchant and again at the bank's deposit.
//!
//! Each test builds valid payments (one of one coin, one of three coins),
//! changes one thing, and checks that `verify_payment` fails, that the
//! merchant's `accept` refuses (after the merchant has opened the tampered
//! request too, so the refusal comes from verification and not from the
//! request lookup), and that the bank refuses the payment in a correctly
//! signed deposit request holding it (a per-payment refusal in the
//! receipt; throttling of the depositor is turned off here, it has tests of
//! its own in tests/deposit.rs). At the end of each test the untouched payments are
//! accepted and deposited, so none of the refusals came from a broken setup.

mod common;

use std::collections::BTreeMap;

use common::*;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use faircash::coin::{Coin, SpendResponses};
use faircash::crypto::schnorr::SigningKey;
use faircash::encoding::Point;
use faircash::keys::{AccountId, KeyId, Keyset, KeysetId};
use faircash::params::ParamsId;
use faircash::protocol::deposit::{DepositRequest, PaymentOutcome, PaymentRefusal};
use faircash::protocol::pay::{create_payment, verify_payment, Payment};
use faircash::protocol::withdraw::WalletCoin;
use faircash::protocol::{Error, PaymentError};
use faircash::roles::{BankConfig, DepositLimits};
use faircash::store::MerchantStore;
use faircash::wire::WireMessage;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};

fn random_point() -> Point {
    loop {
        let p = Point::new(RistrettoPoint::random(&mut OsRng));
        if !p.is_identity() {
            return p;
        }
    }
}

fn random_scalar() -> Scalar {
    Scalar::random(&mut OsRng)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

struct Fixture {
    w: World,
    shop: TestMerchant,
    shop_key: SigningKey,
    alice: TestWallet,
    keyset: Keyset,
    /// One coin of value 8.
    one: Payment,
    /// Three coins: 4 + 2 + 1.
    three: Payment,
}

fn fixture() -> Fixture {
    let w = World::with_config(BankConfig {
        deposit_limits: DepositLimits { throttle_secs: 0, ..DepositLimits::default() },
        ..BankConfig::default()
    });
    let (shop, shop_key) = w.merchant_with_key();
    let alice = w.user(100);
    alice.withdraw(&*w.bank, 15, &mut OsRng).unwrap();
    let req = shop.request_payment(8, [1; 32], &mut OsRng).unwrap();
    let one = alice.pay(&req, &mut OsRng).unwrap();
    let req = shop.request_payment(7, [3; 32], &mut OsRng).unwrap();
    let three = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(one.coins.len(), 1);
    assert_eq!(three.coins.len(), 3);
    // The bank receives the deposits one day after the payments: its window
    // [R - 7, R] then also admits a payment re-dated one day later, so such a
    // payment reaches the bank's proof checks instead of the day rule.
    w.clock.advance_days(1);
    let keyset = w.bank.current_keyset().unwrap();
    Fixture { w, shop, shop_key, alice, keyset, one, three }
}

/// Where a refusal came from.
#[derive(Debug)]
struct Refusal {
    verifier: PaymentError,
    merchant: Error,
    bank: PaymentRefusal,
}

impl Fixture {
    /// The wallet coins (with secrets) of `payment`, in payment order.
    fn wallet_coins(&self, payment: &Payment) -> Vec<WalletCoin> {
        let all = self.alice.coins().unwrap();
        payment
            .coins
            .iter()
            .map(|c| {
                all.iter().find(|s| s.coin.coin.id() == c.id()).expect("coin of the wallet").coin.clone()
            })
            .collect()
    }

    fn deposit_as(&self, key: &SigningKey, id: AccountId, p: &Payment) -> Result<u64, PaymentRefusal> {
        let req = DepositRequest::new(key, id, vec![p.clone()], &mut OsRng);
        let r = self.w.bank.deposit(&req, &mut OsRng).expect("the signed request is answered");
        match r.payments[..] {
            [PaymentOutcome::Verified] => Ok(r.credited),
            [PaymentOutcome::Refused(reason)] => {
                assert_eq!(
                    (r.credited, r.outcomes.len()),
                    (0, 0),
                    "nothing of a refused payment is recorded"
                );
                Err(reason)
            }
            _ => panic!("one outcome for the one payment: {:?}", r.payments),
        }
    }

    /// Asserts that `p` is refused by the verifier, by the merchant (which
    /// is made to have issued `p.request`) and by the bank (a deposit
    /// request signed by `signer`).
    fn refused_by(&self, what: &str, p: &Payment, signer: (&SigningKey, AccountId)) -> Refusal {
        let verifier = match verify_payment(p, &self.keyset, &mut OsRng) {
            Ok(_) => panic!("{what}: verify_payment accepted a tampered payment"),
            Err(e) => e,
        };
        let store = self.shop.store();
        if store.open_request(&p.request.id()).unwrap().is_none() {
            store.insert_request(&p.request).unwrap();
        }
        let merchant = match self.shop.accept(p, &mut OsRng) {
            Ok(_) => panic!("{what}: the merchant accepted a tampered payment"),
            Err(e) => e,
        };
        let bank = match self.deposit_as(signer.0, signer.1, p) {
            Ok(c) => panic!("{what}: the bank took a tampered payment (credited {c})"),
            Err(e) => e,
        };
        Refusal { verifier, merchant, bank }
    }

    /// As [`Fixture::refused_by`] with the shop as depositor, and checks
    /// that merchant and bank name the verifier's reason.
    fn refused(&self, what: &str, p: &Payment) -> PaymentError {
        let r = self.refused_by(what, p, (&self.shop_key, self.shop.id()));
        match &r.merchant {
            Error::Payment(e) => assert_eq!(*e, r.verifier, "{what}: merchant reason"),
            // The merchant looks up every coin's keyset before verifying.
            Error::UnknownKeyset(_) => {
                assert!(matches!(r.verifier, PaymentError::UnknownKeyset(_)), "{what}: {:?}", r.verifier)
            }
            other => panic!("{what}: merchant refused for an unrelated reason: {other}"),
        }
        assert_eq!(r.bank, self.bank_reason(p, &r.verifier), "{what}: bank reason");
        r.verifier
    }

    /// What the bank names for a payment the verifier refuses for
    /// `verifier`: the same reason. The bank runs the checks that need no
    /// group operation (structure, the range proof's length, every coin's
    /// ACL hash) on every payment first, in the verifier's order, and names
    /// a failed ACL hash check as the verifier does (the range proof
    /// first).
    fn bank_reason(&self, _p: &Payment, verifier: &PaymentError) -> PaymentRefusal {
        PaymentRefusal::from(verifier)
    }

    /// The untouched payments are still accepted and deposited in full.
    fn originals_still_pass(&self) {
        let before = self.w.balance(&self.shop.id());
        self.shop.accept(&self.one, &mut OsRng).unwrap();
        self.shop.accept(&self.three, &mut OsRng).unwrap();
        let receipt = self.shop.deposit(&*self.w.bank, &mut OsRng).unwrap().unwrap();
        assert_eq!(receipt.credited, 15);
        assert_eq!(self.w.balance(&self.shop.id()), before + 15);
    }
}

/// What a tampering should be refused for.
#[derive(Clone, Debug)]
enum Expect {
    /// A cryptographic check: the range proof (whose transcript absorbs
    /// every coin and the request) or the signature/spend batch.
    Crypto,
    /// Exactly the spend-proof/signature batch (for values that no
    /// transcript absorbs: the spend responses).
    Proofs,
    /// A named structural rule.
    Rule(PaymentError),
}

fn check(what: &str, got: &PaymentError, expect: Expect) {
    match expect {
        Expect::Crypto => assert!(
            matches!(got, PaymentError::RangeProof | PaymentError::Proofs),
            "{what}: expected a cryptographic refusal, got {got:?}"
        ),
        Expect::Proofs => assert_eq!(*got, PaymentError::Proofs, "{what}"),
        Expect::Rule(e) => assert_eq!(*got, e, "{what}"),
    }
}

/// Every element and scalar of coin `i` of `p`, each replaced by a random
/// non-identity value, and every spend response of coin `i`.
fn coin_tamperings(p: &Payment, i: usize) -> Vec<(String, Payment, Expect)> {
    type Edit = Box<dyn Fn(&mut Coin)>;
    let mut edits: Vec<(String, Edit, Expect)> = vec![
        ("S".into(), Box::new(|c| c.body.serial = random_point()), Expect::Crypto),
        ("E1".into(), Box::new(|c| c.body.escrow.c1 = random_point()), Expect::Crypto),
        ("E2".into(), Box::new(|c| c.body.escrow.c2 = random_point()), Expect::Crypto),
        ("V".into(), Box::new(|c| c.body.expiry_commitment = random_point()), Expect::Crypto),
        (
            "params_id".into(),
            Box::new(|c| c.body.params_id = ParamsId(random_bytes())),
            Expect::Rule(PaymentError::WrongParams(i)),
        ),
        (
            "keyset_id".into(),
            Box::new(|c| c.body.keyset_id = KeysetId(random_bytes())),
            Expect::Rule(PaymentError::UnknownKeyset(i)),
        ),
        (
            "key_id".into(),
            Box::new(|c| c.body.key_id = KeyId(random_bytes())),
            Expect::Rule(PaymentError::UnknownKey(i)),
        ),
        ("zeta".into(), Box::new(|c| c.signature.zeta = random_point()), Expect::Crypto),
        ("zeta1".into(), Box::new(|c| c.signature.zeta1 = random_point()), Expect::Crypto),
        ("alpha".into(), Box::new(|c| c.signature.alpha = random_point()), Expect::Crypto),
        ("beta1".into(), Box::new(|c| c.signature.beta1 = random_point()), Expect::Crypto),
        ("beta2".into(), Box::new(|c| c.signature.beta2 = random_point()), Expect::Crypto),
        ("eta".into(), Box::new(|c| c.signature.eta = random_point()), Expect::Crypto),
        ("rho".into(), Box::new(|c| c.signature.rho = random_scalar()), Expect::Crypto),
        ("omega".into(), Box::new(|c| c.signature.omega = random_scalar()), Expect::Crypto),
        ("sigma1".into(), Box::new(|c| c.signature.sigma1 = random_scalar()), Expect::Crypto),
        ("sigma2".into(), Box::new(|c| c.signature.sigma2 = random_scalar()), Expect::Crypto),
        ("delta".into(), Box::new(|c| c.signature.delta = random_scalar()), Expect::Crypto),
        ("mu".into(), Box::new(|c| c.signature.mu = random_scalar()), Expect::Crypto),
    ];
    for j in 0..6 {
        edits.push((
            format!("T{}", j + 1),
            Box::new(move |c| c.body.spend_commitments[j] = random_point()),
            Expect::Crypto,
        ));
    }
    let mut out: Vec<(String, Payment, Expect)> = edits
        .into_iter()
        .map(|(name, edit, expect)| {
            let mut t = p.clone();
            edit(&mut t.coins[i]);
            assert_ne!(t, *p);
            (format!("coin {i} of {}: {name}", p.coins.len()), t, expect)
        })
        .collect();
    const RESPONSES: [&str; 8] = ["lambda", "r", "rnd", "u", "s", "t", "k", "r_t"];
    for (w, name) in RESPONSES.iter().enumerate() {
        let mut t = p.clone();
        let mut z = t.responses[i].to_array();
        z[w] = random_scalar();
        t.responses[i] = SpendResponses::from_array(z);
        out.push((format!("coin {i} of {}: response z_{name}", p.coins.len()), t, Expect::Proofs));
    }
    out
}

#[test]
fn every_coin_field_and_spend_response_is_bound_by_verification() {
    let fx = fixture();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = 0;
    for p in [&fx.one, &fx.three] {
        for i in 0..p.coins.len() {
            for (what, t, expect) in coin_tamperings(p, i) {
                let reason = fx.refused(&what, &t);
                check(&what, &reason, expect);
                *reasons.entry(format!("{reason:?}")).or_default() += 1;
                count += 1;
            }
        }
    }
    // 25 coin fields + 8 responses, for each of the 4 coins.
    assert_eq!(count, 4 * 33);
    assert!(reasons.contains_key("Proofs"), "{reasons:?}");
    fx.originals_still_pass();
}

#[test]
fn every_payment_request_field_is_bound_by_verification() {
    let fx = fixture();
    let (other_shop, other_key) = fx.w.merchant_with_key();
    for p in [&fx.one, &fx.three] {
        let n = p.coins.len();
        let cases: Vec<(&str, Payment, Expect)> = vec![
            (
                "merchant_id",
                {
                    let mut t = p.clone();
                    t.request.merchant_id = AccountId(random_bytes());
                    t
                },
                Expect::Crypto,
            ),
            (
                "merchant_key",
                {
                    let mut t = p.clone();
                    t.request.merchant_key = random_point();
                    t
                },
                Expect::Crypto,
            ),
            (
                "amount",
                {
                    let mut t = p.clone();
                    t.request.amount += 1;
                    t
                },
                Expect::Rule(PaymentError::AmountMismatch {
                    sum: p.request.amount,
                    amount: p.request.amount + 1,
                }),
            ),
            (
                "day",
                {
                    let mut t = p.clone();
                    t.request.day = t.request.day.plus(1);
                    t
                },
                Expect::Crypto,
            ),
            (
                "nonce",
                {
                    let mut t = p.clone();
                    t.request.nonce = random_bytes();
                    t
                },
                Expect::Crypto,
            ),
            (
                "order_digest",
                {
                    let mut t = p.clone();
                    t.request.order_digest = random_bytes();
                    t
                },
                Expect::Crypto,
            ),
        ];
        for (field, t, expect) in cases {
            let what = format!("{n}-coin payment, request field {field}");
            let r = fx.refused_by(&what, &t, (&fx.shop_key, fx.shop.id()));
            check(&what, &r.verifier, expect);
            match (field, r.bank) {
                // The bank names the mismatch with the depositing merchant.
                ("merchant_id" | "merchant_key", PaymentRefusal::WrongMerchant) => {}
                (_, reason) => assert_eq!(reason, fx.bank_reason(&t, &r.verifier), "{what}"),
            }
            match (field, &r.merchant) {
                // A request naming another payee (id or key) is no request
                // of this merchant's, even if it sits in its store.
                ("merchant_id" | "merchant_key", Error::UnknownPaymentRequest) => {}
                (_, Error::Payment(_) | Error::UnknownKeyset(_)) if !field.starts_with("merchant_") => {}
                (_, e) => panic!("{what}: {e}"),
            }
        }

        // A payment redirected to another registered merchant, which
        // deposits it with its own valid signature: the bank's own checks
        // (not the merchant binding) refuse it.
        let mut t = p.clone();
        t.request.merchant_id = other_shop.id();
        t.request.merchant_key = *other_key.public();
        let what = format!("{n}-coin payment redirected to another merchant");
        let r = fx.refused_by(&what, &t, (&other_key, other_shop.id()));
        check(&what, &r.verifier, Expect::Crypto);
        assert_eq!(r.bank, fx.bank_reason(&t, &r.verifier), "{what}");
        assert_eq!(fx.w.balance(&other_shop.id()), 0);
    }
    fx.originals_still_pass();
}

#[test]
fn the_coin_list_of_a_payment_is_bound_by_verification() {
    let fx = fixture();
    let value = |p: &Payment, i: usize| fx.keyset.key(&p.coins[i].body.key_id).unwrap().value;
    let three = &fx.three;
    let mut cases: Vec<(&str, Payment, Expect)> = Vec::new();

    let mut t = three.clone();
    t.coins.swap(0, 1);
    t.responses.swap(0, 1);
    cases.push(("coins reordered", t, Expect::Crypto));

    let mut t = three.clone();
    t.responses.swap(0, 1);
    cases.push(("responses reordered", t, Expect::Proofs));

    let mut t = three.clone();
    t.coins[1] = t.coins[0];
    t.responses[1] = t.responses[0];
    t.request.amount = value(three, 0) * 2 + value(three, 2);
    cases.push(("a coin twice", t, Expect::Rule(PaymentError::DuplicateCoin(1))));

    let mut t = three.clone();
    t.coins.pop();
    t.responses.pop();
    t.request.amount -= value(three, 2);
    cases.push(("last coin dropped", t, Expect::Rule(PaymentError::RangeProof)));

    // Four coins take a proof of the same size as three (padded to four).
    let mut t = three.clone();
    t.coins.push(fx.one.coins[0]);
    t.responses.push(fx.one.responses[0]);
    t.request.amount += value(&fx.one, 0);
    cases.push(("a coin of another payment added", t, Expect::Rule(PaymentError::RangeProof)));

    let mut t = three.clone();
    t.coins[2] = fx.one.coins[0];
    t.responses[2] = fx.one.responses[0];
    t.request.amount = t.request.amount - value(three, 2) + value(&fx.one, 0);
    cases.push(("a coin swapped for one of another payment", t, Expect::Crypto));

    for (what, t, expect) in cases {
        let reason = fx.refused(what, &t);
        check(what, &reason, expect);
    }
    fx.originals_still_pass();
}

#[test]
fn a_range_proof_from_another_payment_is_refused() {
    let fx = fixture();
    for p in [&fx.one, &fx.three] {
        let n = p.coins.len();
        // The same coins paid again for another request: a valid proof, of
        // the right size, for the same commitments, on another transcript.
        let coins = fx.wallet_coins(p);
        let refs: Vec<&WalletCoin> = coins.iter().collect();
        let req = fx.shop.request_payment(p.request.amount, [9; 32], &mut OsRng).unwrap();
        let other = create_payment(&req, &fx.keyset, fx.alice.user(), &refs, &mut OsRng).unwrap();
        verify_payment(&other, &fx.keyset, &mut OsRng).unwrap();
        assert_ne!(other.range_proof, p.range_proof);
        let mut t = p.clone();
        t.range_proof = other.range_proof.clone();
        let reason = fx.refused(&format!("{n}-coin payment, swapped proof"), &t);
        assert_eq!(reason, PaymentError::RangeProof);
    }
    // A proof of the other size (valid for its own payment).
    let mut t = fx.one.clone();
    t.range_proof = fx.three.range_proof.clone();
    assert_eq!(Payment::from_bytes(&t.to_bytes()).unwrap_err().kind(), "invalid-field");
    assert_eq!(fx.refused("1-coin payment with a 3-coin proof", &t), PaymentError::RangeProof);
    fx.originals_still_pass();
}

/// A changed coin field fails the range proof first (its transcript absorbs
/// every coin, protocol §8.4 step 5), and the refusal says which check
/// failed without guessing at a cause such as expiry.
#[test]
fn a_tampered_coin_field_is_reported_as_the_failed_check() {
    let fx = fixture();
    let mut t = fx.three.clone();
    t.coins[1].body.spend_commitments[0] = random_point();
    let r = fx.refused_by("a spend commitment changed", &t, (&fx.shop_key, fx.shop.id()));
    assert_eq!(r.verifier, PaymentError::RangeProof);
    assert_eq!(r.verifier.to_string(), "expiry range proof does not verify");
    for (who, text) in [("merchant", r.merchant.to_string()), ("bank", r.bank.to_string())] {
        assert!(text.contains("expiry range proof does not verify"), "{who}: {text}");
        assert!(!text.contains("expired"), "{who} guesses a cause: {text}");
    }
    fx.originals_still_pass();
}

#[test]
fn identity_elements_in_a_coin_are_refused_by_their_rule() {
    let fx = fixture();
    for p in [&fx.one, &fx.three] {
        for i in 0..p.coins.len() {
            type Edit = fn(&mut Coin);
            let edits: [(&str, Edit); 5] = [
                ("S", |c| c.body.serial = Point::identity()),
                ("E1", |c| c.body.escrow.c1 = Point::identity()),
                ("zeta", |c| c.signature.zeta = Point::identity()),
                ("zeta1", |c| c.signature.zeta1 = Point::identity()),
                ("zeta - zeta1", |c| c.signature.zeta1 = c.signature.zeta),
            ];
            for (field, edit) in edits {
                let mut t = p.clone();
                edit(&mut t.coins[i]);
                let what = format!("coin {i} of {}: {field}", p.coins.len());
                let reason = fx.refused(&what, &t);
                assert_eq!(reason, PaymentError::IdentityElement { index: i, field }, "{what}");
                match Payment::from_bytes(&t.to_bytes()) {
                    Err(faircash::wire::DecodeError::IdentityPoint { field: f, .. }) => {
                        assert_eq!(f, field, "{what}")
                    }
                    other => panic!("{what}: decoder gave {other:?}"),
                }
            }
        }
    }
    fx.originals_still_pass();
}

/// The payer holds every secret and re-proves whatever it can after
/// altering its coin: a fresh range proof and fresh spend responses for
/// the altered coin. Only the bank's signature stands in the way, and it
/// must.
#[test]
fn a_coin_altered_and_re_proved_by_its_owner_is_refused() {
    let fx = fixture();
    let coin = fx.wallet_coins(&fx.one).remove(0);
    type Edit = fn(&mut Coin);
    // Fields outside the spend relation: the owner can still prove with
    // them changed, so only the ACL signature (which signs coin_id) can
    // catch these.
    let signature_bound: [(&str, Edit); 16] = [
        ("T1", |c| c.body.spend_commitments[0] = random_point()),
        ("T2", |c| c.body.spend_commitments[1] = random_point()),
        ("T3", |c| c.body.spend_commitments[2] = random_point()),
        ("T4", |c| c.body.spend_commitments[3] = random_point()),
        ("T5", |c| c.body.spend_commitments[4] = random_point()),
        ("T6", |c| c.body.spend_commitments[5] = random_point()),
        ("alpha", |c| c.signature.alpha = random_point()),
        ("beta1", |c| c.signature.beta1 = random_point()),
        ("beta2", |c| c.signature.beta2 = random_point()),
        ("eta", |c| c.signature.eta = random_point()),
        ("rho", |c| c.signature.rho = random_scalar()),
        ("omega", |c| c.signature.omega = random_scalar()),
        ("sigma1", |c| c.signature.sigma1 = random_scalar()),
        ("sigma2", |c| c.signature.sigma2 = random_scalar()),
        ("delta", |c| c.signature.delta = random_scalar()),
        ("mu", |c| c.signature.mu = random_scalar()),
    ];
    for (field, edit) in signature_bound {
        let mut wc = coin.clone();
        edit(&mut wc.coin);
        let req = fx.shop.request_payment(8, [5; 32], &mut OsRng).unwrap();
        let p = create_payment(&req, &fx.keyset, fx.alice.user(), &[&wc], &mut OsRng)
            .unwrap_or_else(|e| panic!("{field}: the owner could not re-prove: {e}"));
        let what = format!("re-proved coin with {field} altered");
        assert_eq!(fx.refused(&what, &p), PaymentError::Proofs, "{what}");
    }
    // Fields inside the spend relation: the honest prover cannot even
    // produce a payment, as its witnesses no longer fit.
    let relation_bound: [(&str, Edit); 5] = [
        ("S", |c| c.body.serial = random_point()),
        ("E1", |c| c.body.escrow.c1 = random_point()),
        ("E2", |c| c.body.escrow.c2 = random_point()),
        ("zeta", |c| c.signature.zeta = random_point()),
        ("zeta1", |c| c.signature.zeta1 = random_point()),
    ];
    for (field, edit) in relation_bound {
        let mut wc = coin.clone();
        edit(&mut wc.coin);
        let req = fx.shop.request_payment(8, [6; 32], &mut OsRng).unwrap();
        match create_payment(&req, &fx.keyset, fx.alice.user(), &[&wc], &mut OsRng) {
            Err(Error::InvalidProof("spend witness")) => {}
            other => panic!("{field}: a payment for a coin whose witnesses do not fit: {other:?}"),
        }
    }
    // The untouched coin re-proved the same way verifies (the re-proving
    // path itself is sound).
    let req = fx.shop.request_payment(8, [7; 32], &mut OsRng).unwrap();
    let p = create_payment(&req, &fx.keyset, fx.alice.user(), &[&coin], &mut OsRng).unwrap();
    verify_payment(&p, &fx.keyset, &mut OsRng).unwrap();
}

/// Where `needle` (32 bytes) sits in `hay`; it must sit there once.
fn offset_of(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> =
        hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "a 32-byte field found {} times", hits.len());
    hits[0]
}

/// Every scalar of a payment's binary form: its byte offset and the
/// verification error that a change of it (still canonical) must cause.
/// Per coin: the six scalars of the ACL signature (`RangeProof`: the coin
/// is absorbed whole into the payment transcript the range proof is made
/// on, so that check fails first) and the eight spend responses, which no
/// transcript absorbs (`Proofs`); the range proof's scalars `t_x`,
/// `t_x_blinding`, `e_blinding` (after the points A, S, T1, T2) and the
/// inner-product proof's final `a`, `b` (`RangeProof`).
fn scalar_fields(p: &Payment) -> Vec<(usize, PaymentError)> {
    let bytes = p.to_bytes();
    let mut out = Vec::new();
    for (coin, resp) in p.coins.iter().zip(&p.responses) {
        let s = &coin.signature;
        for x in [s.rho, s.omega, s.sigma1, s.sigma2, s.delta, s.mu] {
            out.push((offset_of(&bytes, x.as_bytes()), PaymentError::RangeProof));
        }
        for x in resp.to_array() {
            out.push((offset_of(&bytes, x.as_bytes()), PaymentError::Proofs));
        }
    }
    let proof = p.range_proof.as_bytes();
    let at = offset_of(&bytes, proof);
    for rel in [128, 160, 192, proof.len() - 64, proof.len() - 32] {
        let b: [u8; 32] = proof[rel..rel + 32].try_into().unwrap();
        assert!(
            bool::from(Scalar::from_canonical_bytes(b).is_some()),
            "a scalar of the range proof at {rel}"
        );
        out.push((at + rel, PaymentError::RangeProof));
    }
    out
}

/// Flips bit `bit` of byte `j` (0..31, below the top byte) of the scalar at
/// `at`: the scalar stays canonical (below 2^252 < l, as the top byte of a
/// canonical scalar is at most 0x10 and almost surely below).
fn flip_scalar_bit(bytes: &[u8], at: usize, j: usize, bit: usize) -> Vec<u8> {
    assert!(j < 31 && bytes[at + 31] < 0x10);
    let mut m = bytes.to_vec();
    m[at + j] ^= 1 << bit;
    m
}

#[test]
fn every_canonical_scalar_mutation_decodes_and_is_refused_by_its_proof() {
    let fx = fixture();
    let mut mutants = 0;
    for p in [&fx.one, &fx.three] {
        let bytes = p.to_bytes();
        let fields = scalar_fields(p);
        assert_eq!(fields.len(), 14 * p.coins.len() + 5);
        for (at, reason) in fields {
            for j in [0, 9, 17, 30] {
                let m = flip_scalar_bit(&bytes, at, j, (j + at) % 8);
                let decoded = Payment::from_bytes(&m)
                    .unwrap_or_else(|e| panic!("a canonical scalar at {at} failed to decode: {e}"));
                assert_eq!(
                    verify_payment(&decoded, &fx.keyset, &mut OsRng),
                    Err(reason.clone()),
                    "byte {j} of {at}"
                );
                mutants += 1;
            }
        }
    }
    assert_eq!(mutants, 4 * (14 + 5 + 14 * 3 + 5));
}

/// Decodes and verifies a mutant; returns the decoder's error kind, or
/// `None` when it decoded and verification refused it.
fn mutant_refused(bytes: &[u8], keyset: &Keyset) -> Result<Option<&'static str>, String> {
    match Payment::from_bytes(bytes) {
        Err(e) => Ok(Some(e.kind())),
        Ok(p) => match verify_payment(&p, keyset, &mut OsRng) {
            Err(_) => Ok(None),
            Ok(_) => Err(format!("mutant verifies: {}", hex::encode(bytes))),
        },
    }
}

#[test]
fn every_single_bit_flip_of_a_payment_is_refused() {
    let fx = fixture();
    let bytes = fx.one.to_bytes();
    // The bytes below the top byte of every scalar: a flip there keeps the
    // scalar canonical, so the mutant must decode and reach verification.
    let scalar_bytes: std::collections::BTreeSet<usize> =
        scalar_fields(&fx.one).iter().flat_map(|(at, _)| *at..*at + 31).collect();
    let mut decode_refused: BTreeMap<&str, usize> = BTreeMap::new();
    let mut verify_refused = 0usize;
    let mut scalar_mutants_verified = 0usize;
    let mut positions = 0usize;
    for i in 0..bytes.len() {
        // The bit rotates with the position, and shifts by one every 32
        // bytes so that fields at a 32-byte stride do not all get the same
        // bit flipped.
        let bit = (i + i / 32) % 8;
        let mut m = bytes.clone();
        m[i] ^= 1 << bit;
        match mutant_refused(&m, &fx.keyset) {
            Ok(Some(kind)) => {
                assert!(!scalar_bytes.contains(&i), "byte {i} of a scalar: refused by the decoder ({kind})");
                *decode_refused.entry(kind).or_default() += 1
            }
            Ok(None) => {
                verify_refused += 1;
                scalar_mutants_verified += usize::from(scalar_bytes.contains(&i));
            }
            Err(e) => panic!("bit {bit} of byte {i}: {e}"),
        }
        positions += 1;
    }
    assert_eq!(positions, bytes.len());
    let decoded: usize = decode_refused.values().sum();
    assert_eq!(decoded + verify_refused, bytes.len());
    // Every scalar mutant (19 scalars × 31 bytes) reached verification.
    assert_eq!(scalar_mutants_verified, 19 * 31);
    assert!(verify_refused >= 19 * 31, "{verify_refused} mutants reached verification: {decode_refused:?}");
    // The envelope's bytes and the strict decoding rules all fired.
    for kind in ["bad-magic", "unsupported-version", "wrong-kind", "invalid-point", "non-canonical-scalar"] {
        assert!(decode_refused.contains_key(kind), "{kind}: {decode_refused:?}");
    }
    // The original still verifies.
    verify_payment(&Payment::from_bytes(&bytes).unwrap(), &fx.keyset, &mut OsRng).unwrap();
}

#[test]
fn random_multi_byte_mutations_of_a_payment_are_refused() {
    let fx = fixture();
    let seed: u64 = OsRng.gen();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut decode_refused = 0usize;
    let mut verify_refused = 0usize;
    let mut scalar_mutants = 0usize;
    let mut tried = 0usize;
    for p in [&fx.one, &fx.three] {
        let bytes = p.to_bytes();
        let scalars = scalar_fields(p);
        for round in 0..240 {
            let mut m = bytes.clone();
            let kind = round % 6;
            match kind {
                // Change a few bytes below the top byte of one scalar: it
                // stays canonical, so the mutant decodes and must be refused
                // by verification.
                5 => {
                    let (at, _) = scalars[rng.gen_range(0..scalars.len())];
                    for _ in 0..rng.gen_range(1..4) {
                        m[at + rng.gen_range(0..31)] ^= rng.gen_range(1..=255u8);
                    }
                    scalar_mutants += 1;
                }
                // Overwrite a few scattered bytes (each really changes).
                0 => {
                    for _ in 0..rng.gen_range(2..8) {
                        let i = rng.gen_range(0..m.len());
                        m[i] ^= rng.gen_range(1..=255u8);
                    }
                }
                // Overwrite a run of bytes.
                1 => {
                    let len = rng.gen_range(2..40);
                    let i = rng.gen_range(0..m.len() - len);
                    for b in &mut m[i..i + len] {
                        *b = rng.gen();
                    }
                }
                // Insert bytes.
                2 => {
                    let i = rng.gen_range(0..=m.len());
                    let ins: Vec<u8> = (0..rng.gen_range(1..40)).map(|_| rng.gen()).collect();
                    m.splice(i..i, ins);
                }
                // Delete bytes.
                3 => {
                    let len = rng.gen_range(1..40);
                    let i = rng.gen_range(0..m.len() - len);
                    m.drain(i..i + len);
                }
                // Swap two 32-byte windows (e.g. two points of the coin).
                _ => {
                    let a = rng.gen_range(4..m.len() - 32);
                    let b = rng.gen_range(4..m.len() - 32);
                    let (wa, wb) = (m[a..a + 32].to_vec(), m[b..b + 32].to_vec());
                    m[b..b + 32].copy_from_slice(&wa);
                    m[a..a + 32].copy_from_slice(&wb);
                }
            }
            if m == bytes {
                continue;
            }
            tried += 1;
            match mutant_refused(&m, &fx.keyset) {
                Ok(Some(k)) => {
                    assert_ne!(
                        kind, 5,
                        "seed {seed}, round {round}: a canonical scalar failed to decode ({k})"
                    );
                    decode_refused += 1
                }
                Ok(None) => verify_refused += 1,
                Err(e) => panic!("seed {seed}, round {round}, mutation {kind}: {e}"),
            }
        }
    }
    assert!(tried >= 420, "seed {seed}: only {tried} mutants differed");
    assert_eq!(decode_refused + verify_refused, tried);
    assert_eq!(scalar_mutants, 80);
    // The scalar mutants at least reached verification, plus whatever other
    // mutant decoded.
    assert!(verify_refused >= scalar_mutants, "seed {seed}: {verify_refused} reached verification");
    assert!(decode_refused > 0, "seed {seed}");
}

#[test]
fn coin_values_that_overflow_are_refused_with_a_typed_error() {
    // Four coins of 2^62 are worth 2^64: a saturating sum would make them
    // "worth" u64::MAX and match a request for exactly that.
    let f = fixture();
    let bank = faircash::roles::Bank::open(
        faircash::store::memory::MemoryBankStore::new(),
        faircash::keys::BankSecrets::generate(&mut OsRng),
        std::sync::Arc::new(f.w.clock.clone()),
        Default::default(),
    )
    .unwrap();
    let big = bank
        .issue_keyset(
            *f.w.ttp.public(),
            &faircash::keys::KeysetSpec {
                exponents: 62..=62,
                withdraw_from: START,
                withdraw_days: 30,
                policy: Default::default(),
            },
            &mut OsRng,
        )
        .unwrap();
    let key = big.key_for_value(1 << 62).unwrap();
    let mut p = f.one.clone();
    p.request.amount = u64::MAX;
    p.coins = (0..4)
        .map(|_| {
            let mut c = f.one.coins[0];
            c.body.keyset_id = big.id();
            c.body.key_id = key.key_id;
            c.body.serial = random_point();
            c
        })
        .collect();
    p.responses = vec![p.responses[0]; 4];
    assert_eq!(verify_payment(&p, &big, &mut OsRng).unwrap_err(), PaymentError::AmountOverflow);
    // Three of them (3·2^62) fit and are simply not the amount asked.
    p.coins.pop();
    p.responses.pop();
    assert!(matches!(
        verify_payment(&p, &big, &mut OsRng).unwrap_err(),
        PaymentError::AmountMismatch { sum, amount: u64::MAX } if sum == 3 << 62
    ));
}

#[test]
fn a_bank_total_that_overflows_is_an_error_not_a_wrapped_sum() {
    let w = World::new();
    let a = w.user(0);
    let b = w.user(0);
    w.bank.fund(&a.account_id(), 1 << 63).unwrap();
    w.bank.fund(&b.account_id(), 1 << 63).unwrap();
    assert!(matches!(w.bank.status(), Err(Error::Overflow)));
    // An account's own balance is checked too.
    assert!(matches!(w.bank.fund(&a.account_id(), 1 << 63), Err(Error::Overflow)));
    assert_eq!(w.balance(&a.account_id()), 1 << 63);
}
