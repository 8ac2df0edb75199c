//! Test vectors: `specs/vectors/*.json` (see specs/vectors/README.md).
//!
//! [`vectors_are_reproduced_byte_for_byte`] runs the protocol from fixed
//! seeds (ChaCha20, seeded per scenario) and compares every file with what it
//! generates; `FAIRCASH_REGENERATE_VECTORS=1 cargo test --test vectors`
//! rewrites the files instead.
//!
//! [`vectors_verify_from_their_public_parts`] reads the files only and checks
//! them as another implementation would: it decodes the bytes, verifies
//! every signature, proof and payment from public keys, recomputes the
//! identifiers and digests from specs/protocol.md and specs/tracing.md with
//! merlin, curve25519-dalek, SHA-2 and SHA-3 directly (module [`independent`];
//! the range proof too, from protocol.md §8.3 alone, not through bulletproofs),
//! and checks that every negative vector is refused with the expected error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use faircash::coin::Coin;
use faircash::crypto::group_signature::GroupSigningKey;
use faircash::crypto::schnorr::{Signature, SigningKey};
use faircash::crypto::secret::SecretScalar;
use faircash::crypto::transcript::labels;
use faircash::encoding::Point;
use faircash::http::{AccountOpened, EvidenceItem, EvidenceList};
use faircash::keys::{
    AccountKeys, AuthKey, BankSecrets, Keyset, KeysetList, KeysetPolicy, KeysetSpec, PublicKeyFile,
    SignedKeyset, UserKey,
};
use faircash::params::Params;
use faircash::protocol::account::{
    AccountAnswer, AccountOperation, AccountRequest, RekeyRequest, ReservationId,
};
use faircash::protocol::deposit::{
    verify_deposit, DepositOutcome, DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome,
    PaymentVerdict,
};
use faircash::protocol::pay::{create_payment, order_digest, verify_payment, Payment, PaymentRequest};
use faircash::protocol::reclaim::ReclaimRequest;
use faircash::protocol::refusal::PayeeRefusal;
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::trace::{
    combine_shares, verify_log, Decryption, LogEntry, LogHead, ShareContext, ShareEvidence, TraceKind,
    TraceRecord, TraceRequest, TraceResult, TraceShare, TtpPublicKeys, Warrant, WarrantTerms, WatchList,
};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement, TtpStatementList, TtpValidity};
use faircash::protocol::withdraw::{
    commitment_digest, EndReason, PendingWithdrawal, WalletCoin, WithdrawAnswer, WithdrawChallenge,
    WithdrawCommitment, WithdrawOutcome, WithdrawRequest, WithdrawStart,
};
use faircash::roles::{Bank, BankConfig, Ttp, TtpKeys};
use faircash::store::memory::{MemoryBankStore, MemoryTtpStore};
use faircash::store::{BankStore, TtpStore};
use faircash::time::{Clock, Day, ManualClock, Timestamp};
use faircash::trustees::dkg::{run_local, Ceremony, DkgTranscript, KeyPurpose, Participant};
use faircash::trustees::signing::{self, GroupMessage, ResultToSign, SigningRequest};
use faircash::trustees::{sign_locally, Trustee};
use faircash::wire::{DecodeError, WireMessage};
use rand::rngs::OsRng;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use sha2::{Digest, Sha512};

/// The day every scenario runs on (2026-02-14).
const DAY: Day = Day(20_498);
/// Seconds into that day.
const TIME_OF_DAY: u64 = 9 * 3600;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join("vectors")
}

// ---------------------------------------------------------------------------
// A JSON value that keeps its fields in the order they are written, so the
// files do not depend on serde_json's map features.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum J {
    Null,
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl serde::Serialize for J {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            J::Null => s.serialize_unit(),
            J::Num(n) => s.serialize_u64(*n),
            J::Str(x) => s.serialize_str(x),
            J::Arr(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            J::Obj(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_owned())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<u64> for J {
    fn from(n: u64) -> J {
        J::Num(n)
    }
}
impl From<u32> for J {
    fn from(n: u32) -> J {
        J::Num(u64::from(n))
    }
}
impl From<usize> for J {
    fn from(n: usize) -> J {
        J::Num(n as u64)
    }
}
impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::Arr(v)
    }
}
impl From<Day> for J {
    fn from(d: Day) -> J {
        J::Num(u64::from(d.0))
    }
}
impl From<Timestamp> for J {
    fn from(t: Timestamp) -> J {
        J::Num(t.0)
    }
}

macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {
        J::Obj(vec![$(($k.to_string(), J::from($v))),*])
    };
}

fn hx(b: impl AsRef<[u8]>) -> J {
    J::Str(hex::encode(b))
}
fn pt(p: &Point) -> J {
    hx(p.as_bytes())
}
fn sc(s: &Scalar) -> J {
    hx(s.as_bytes())
}

/// A message: its kind name and its binary encoding.
fn m<T: WireMessage>(v: &T) -> J {
    obj! { "type" => T::KIND.name(), "hex" => hx(v.to_bytes()) }
}

/// A message with its JSON file form too.
fn mj<T: WireMessage>(v: &T) -> J {
    obj! { "type" => T::KIND.name(), "hex" => hx(v.to_bytes()), "json" => v.to_json() }
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

/// The seed of a scenario: the first 32 bytes of SHA-512 of its label.
fn seed(label: &str) -> [u8; 32] {
    let d = Sha512::digest(format!("faircash/v1/test-vectors/{label}").as_bytes());
    let mut s = [0u8; 32];
    s.copy_from_slice(&d[..32]);
    s
}

fn seeded(label: &str) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed(label))
}

fn seed_json(label: &str) -> J {
    obj! { "label" => format!("faircash/v1/test-vectors/{label}"), "chacha20_seed" => hx(seed(label)) }
}

/// One withdrawal, every message both ways.
struct Withdrawal {
    value: u64,
    request: WithdrawRequest,
    commitment: WithdrawCommitment,
    challenge: WithdrawChallenge,
    answer: WithdrawAnswer,
    pending: PendingWithdrawal,
    coin: WalletCoin,
}

/// Everything the scenarios produce, in memory.
struct Generated {
    files: BTreeMap<&'static str, J>,
}

fn keyset_spec() -> KeysetSpec {
    KeysetSpec {
        exponents: 0..=3,
        withdraw_from: DAY,
        withdraw_days: 30,
        policy: KeysetPolicy { validity_days: 30, max_deposit_delay_days: 7 },
    }
}

fn generate() -> Generated {
    let p = Params::get();
    let clock = ManualClock::new(Timestamp(u64::from(DAY.0) * 86_400 + TIME_OF_DAY));
    let mut files = BTreeMap::new();

    // --- params -----------------------------------------------------------
    let generators: Vec<J> = p
        .named_generators()
        .iter()
        .map(|(name, g)| {
            let derivation = match *name {
                "G" => "the Ristretto basepoint".to_string(),
                "B~" => "bulletproofs PedersenGens::default().B_blinding".to_string(),
                other => format!("RistrettoPoint::hash_from_bytes::<Sha512>(\"faircash/v1/gen/{other}\")"),
            };
            let label = match *name {
                "G" | "B~" => J::Null,
                other => J::Str(format!("faircash/v1/gen/{other}")),
            };
            obj! { "name" => *name, "label" => label, "derivation" => derivation, "hex" => pt(g) }
        })
        .collect();
    files.insert(
        "params.json",
        obj! {
            "description" => "The generators and params_id (specs/protocol.md §2).",
            "version" => "faircash/v1",
            "generators" => generators,
            "range_bits" => 16u64,
            "max_coins" => 64u64,
            "params_id" => hx(p.id.as_bytes()),
        },
    );

    // --- setup: keys and the keyset -----------------------------------------
    let mut rng = seeded("setup");
    let ttp_keys = TtpKeys::generate(&mut rng);
    let bank_secrets = BankSecrets::generate(&mut rng);
    let bank =
        Bank::open(MemoryBankStore::new(), bank_secrets, Arc::new(clock.clone()), BankConfig::default())
            .unwrap();
    let keyset = bank.issue_keyset(*ttp_keys.decryption.public(), &keyset_spec(), &mut rng).unwrap();
    let user_keys = AccountKeys::generate(&mut rng);
    let user = user_keys.identity().clone();
    let merchant = SigningKey::generate(&mut rng);
    let judge = SigningKey::generate(&mut rng);
    let master = bank.master_key();
    let merchant_id = faircash::keys::merchant_account_id(merchant.public());

    // --- registration -------------------------------------------------------
    let mut rng = seeded("registration");
    let user_reg = UserRegistration::new(&user_keys, &mut rng);
    let merchant_reg = MerchantRegistration::new(&merchant, &mut rng);
    let user_id = bank.register_user(&user_reg, &mut rng).unwrap();
    assert_eq!(bank.register_merchant(&merchant_reg, &mut rng).unwrap(), merchant_id);
    bank.fund(&user_id, 100).unwrap();

    // --- withdrawals ----------------------------------------------------------
    let mut rng = seeded("withdrawal");
    let mut withdrawals = Vec::new();
    for value in [1u64, 2, 4] {
        let start = WithdrawStart::new(&user_keys, &keyset, value, clock.today(), &mut rng).unwrap();
        let request = start.request().clone();
        let commitment = bank.open_withdrawal(&request, &mut rng).unwrap();
        let pending = start.receive_commitment(&user_keys, &commitment, &mut rng).unwrap();
        let challenge = pending.challenge();
        let answer = bank.answer_withdrawal(&challenge).unwrap();
        let coin = pending.clone().finish(&answer).unwrap();
        withdrawals.push(Withdrawal { value, request, commitment, challenge, answer, pending, coin });
    }
    let [w1, w2, w4] = [&withdrawals[0], &withdrawals[1], &withdrawals[2]];

    // --- payment of three coins -------------------------------------------------
    let mut rng = seeded("payment");
    let pay_request = PaymentRequest::new(
        merchant_id,
        *merchant.public(),
        7,
        clock.today(),
        order_digest(b"three coins"),
        &mut rng,
    );
    let payment =
        create_payment(&pay_request, &keyset, &user, &[&w4.coin, &w2.coin, &w1.coin], &mut rng).unwrap();
    let summary = verify_payment(&payment, &keyset, &mut OsRng).unwrap();

    // --- deposits, the second a double spend --------------------------------------
    let mut rng = seeded("deposit");
    let deposit1 = DepositRequest::new(&merchant, merchant_id, vec![payment.clone()], &mut rng);
    let receipt1 = bank.deposit(&deposit1, &mut rng).unwrap();
    assert_eq!(receipt1.credited, 7);
    let again_request = PaymentRequest::new(
        merchant_id,
        *merchant.public(),
        1,
        clock.today(),
        order_digest(b"the same coin again"),
        &mut rng,
    );
    let again = create_payment(&again_request, &keyset, &user, &[&w1.coin], &mut rng).unwrap();
    let again_summary = verify_payment(&again, &keyset, &mut OsRng).unwrap();
    let deposit2 = DepositRequest::new(&merchant, merchant_id, vec![again.clone()], &mut rng);
    let receipt2 = bank.deposit(&deposit2, &mut rng).unwrap();
    assert_eq!(receipt2.outcomes[0].outcome, DepositOutcome::DoubleSpent { account: Some(user_id) });
    let evidence_list = EvidenceList::from(bank.evidence_page(0, 32).unwrap());
    let evidence = evidence_list.items[0].evidence.clone();
    let identified = evidence.verify(&keyset, &mut OsRng).unwrap();
    assert_eq!(identified.identity, *user.identity());
    let extracted_u = {
        let (a, b) = (&evidence.first.responses[2], &evidence.second.responses[0]);
        let (ca, cb) = (summary.challenges[2], again_summary.challenges[0]);
        assert_eq!(evidence.first_index, 2);
        (a.u - b.u) * (ca - cb).invert()
    };
    assert_eq!(extracted_u, *user.expose_secret());

    // --- tracing -------------------------------------------------------------------
    let mut rng = seeded("trace");
    let mut ttp = Ttp::new(ttp_keys.clone(), MemoryTtpStore::new(), Arc::new(clock.clone()));
    ttp.trust_issuer(*judge.public());
    ttp.add_keysets(&bank.published_keysets(), &master).unwrap();
    let now = clock.now();
    let warrant_for = |record: &TraceRecord, case: &str, rng: &mut ChaCha20Rng| {
        Warrant::issue(
            &judge,
            WarrantTerms {
                kind: record.kind(),
                record_digest: record.digest(),
                case_id: case.into(),
                reason: "test vector: suspected fraud".into(),
                issued_at: now,
                expires_at: now.plus_secs(86_400),
            },
            rng,
        )
    };
    let owner_record = bank.spend_record(&w2.coin.coin.id()).unwrap();
    let owner_request =
        TraceRequest { warrant: warrant_for(&owner_record, "case-2026-017", &mut rng), record: owner_record };
    let owner_result = ttp.trace(&owner_request, &mut rng).unwrap();
    assert_eq!(owner_result.plaintext, *user.identity());
    let coin_record = bank.withdrawal_record(&w4.request.session_id).unwrap();
    let coin_request =
        TraceRequest { warrant: warrant_for(&coin_record, "case-2026-018", &mut rng), record: coin_record };
    let coin_result = ttp.trace(&coin_request, &mut rng).unwrap();
    assert_eq!(coin_result.plaintext, w4.coin.coin.body.serial);
    let log_entries = ttp.store().entries().unwrap();
    let log_head = ttp.log_head(&mut rng).unwrap();
    // The bank checks the result under the TTP's statement (its validity
    // does not enter the check; the signed statement is made below).
    let unsigned_statement = TtpKeyStatement::single(
        0,
        *ttp_keys.decryption.public(),
        *ttp_keys.signing.public(),
        TtpValidity { escrow_from: Day(0), escrow_until: Day(1), trace_until: Day(2) },
        Timestamp(0),
    );
    bank.apply_coin_trace(&coin_result, &coin_request.record, &coin_request.warrant, &unsigned_statement)
        .unwrap();
    let watch_list = bank.watch_list(&mut rng).unwrap();

    // --- a second keyset, for the chained list ----------------------------------------
    let mut rng = seeded("keyset-2");
    let mut spec2 = keyset_spec();
    spec2.withdraw_from = DAY.plus(30);
    let keyset2 = bank.issue_keyset(*ttp_keys.decryption.public(), &spec2, &mut rng).unwrap();
    let keyset_list = KeysetList { keysets: bank.published_keysets() };
    assert_eq!(keyset_list.keysets.len(), 2);

    // --- account requests, a reserved withdrawal, a refused challenge ------------------
    let mut rng = seeded("account");
    // A second user (the first one double spent and is frozen).
    let carol = AccountKeys::generate(&mut rng);
    let carol_reg = UserRegistration::new(&carol, &mut rng);
    let carol_id = bank.register_user(&carol_reg, &mut rng).unwrap();
    bank.fund(&carol_id, 10).unwrap();
    let reservation = ReservationId::random(&mut rng);
    let reserve =
        AccountRequest::new(&carol, AccountOperation::ReserveWithdrawal { reservation, amount: 3 }, &mut rng);
    let reserved = bank.account_request(&reserve).unwrap();
    // A coin of 2 drawing on the reservation, whose commitment the wallet
    // receives changed (a changed, with the changed commitment signed again
    // by whoever holds the online key): the bank refuses the challenge that
    // names the changed commitment, before any debit, in a signed statement.
    let start = WithdrawStart::reserved(&carol, &keyset, 2, clock.today(), reservation, &mut rng).unwrap();
    let reserved_request = start.request().clone();
    let reserved_commitment = bank.open_withdrawal(&reserved_request, &mut rng).unwrap();
    let mut changed = reserved_commitment;
    changed.commitment.a = Point::new(changed.commitment.a.point() + Params::get().g.point());
    changed.signature = bank.secrets().online_signing_key(keyset.signing_key()).unwrap().sign(
        labels::WITHDRAW_COMMITMENT_SIGNATURE,
        &commitment_digest(&reserved_request, &changed.commitment),
        &mut rng,
    );
    let mismatched = start.receive_commitment(&carol, &changed, &mut rng).unwrap().challenge();
    let ended = bank.answer_withdrawal_with(&mismatched, &mut rng).unwrap();
    assert!(matches!(
        ended.outcome,
        WithdrawOutcome::Ended(e) if e.reason == EndReason::CommitmentMismatch
    ));
    let released = bank
        .account_request(&AccountRequest::new(
            &carol,
            AccountOperation::ReleaseReservation { reservation },
            &mut rng,
        ))
        .unwrap();
    let status_request = AccountRequest::new(&carol, AccountOperation::Status, &mut rng);
    let status = bank.account_request(&status_request).unwrap();
    let new_auth = AuthKey::generate(&mut rng);
    let rotation = AccountRequest::rotate_auth_key(&carol, &new_auth, &mut rng);
    let rotated = bank.account_request(&rotation).unwrap();
    let (new_identity, newer_auth) = (UserKey::generate(&mut rng), AuthKey::generate(&mut rng));
    let rekey = RekeyRequest::new(&carol.with_auth(new_auth.clone()), &new_identity, &newer_auth, &mut rng);
    rekey.verify(&mut OsRng).unwrap();
    // --- spent lists and an unspent statement (protocol §7.7) -------------------------
    let mut rng = seeded("spent");
    let spent_page = bank.spent_list(&keyset.id(), 4, 0, &mut rng).unwrap();
    let unspent_coin = faircash::coin::CoinId(seed("spent-unspent-coin"));
    let spent_query = faircash::protocol::spent::UnspentQuery::new(
        &user_keys,
        &[w4.coin.coin.id(), unspent_coin],
        &mut rng,
    );
    let statement = bank.unspent_statement(&spent_query, &mut rng).unwrap();
    // --- pruning the first deposit's spent-coin records ----------------------------------
    // Last, with the clock moved and put back: nothing after this uses the bank's records.
    let policy = *keyset.policy();
    let prune_after = DAY.plus(policy.validity_days).plus(policy.max_deposit_delay_days);
    let stored = |id: &faircash::coin::CoinId| bank.store().begin().unwrap().spent_coin(id).unwrap();
    for id in &summary.coin_ids {
        assert_eq!(stored(id).map(|c| (c.receipt_day, c.prune_after)), Some((DAY, prune_after)));
    }
    let before_pruning = clock.now();
    let pruning: Vec<J> = [DAY, prune_after, prune_after.plus(1)]
        .into_iter()
        .map(|today| {
            clock.set(Timestamp(u64::from(today.0) * 86_400 + TIME_OF_DAY));
            let pruned = bank.prune_spent().unwrap();
            let left = summary.coin_ids.iter().filter(|id| stored(id).is_some()).count();
            assert_eq!(pruned + left, summary.coin_ids.len());
            obj! { "today" => today, "prune" => if pruned > 0 { "yes" } else { "no" }, "records_left" => left }
        })
        .collect();
    clock.set(before_pruning);

    // ===========================================================================
    // The files.
    // ===========================================================================
    let secrets = bank.secrets();
    let key_json = |k: &faircash::keys::DenominationKey| {
        obj! {
            "key_id" => hx(k.key_id.as_bytes()),
            "value" => k.value,
            "x" => sc(secrets.denomination_secret(&k.key_id).unwrap().expose_secret()),
            "y" => pt(&k.y),
            "z" => pt(&k.z),
            "withdraw_from" => k.windows.withdraw_from,
            "withdraw_until" => k.windows.withdraw_until,
            "spend_until" => k.windows.spend_until,
            "deposit_until" => k.windows.deposit_until,
        }
    };
    let spec_json = |s: &KeysetSpec| {
        obj! {
            "exponents" => J::Arr(s.exponents.clone().map(J::from).collect()),
            "withdraw_from" => s.withdraw_from,
            "withdraw_days" => s.withdraw_days,
            "validity_days" => s.policy.validity_days,
            "max_deposit_delay_days" => s.policy.max_deposit_delay_days,
        }
    };
    let ttp_public = ttp_keys.public();
    let ttp_statement = ttp_keys
        .statement(
            0,
            TtpValidity {
                escrow_from: Day(DAY.0 - 30),
                escrow_until: Day(DAY.0 + 365),
                trace_until: Day(DAY.0 + 730),
            },
            Timestamp(u64::from(DAY.0) * 86_400),
            &mut seeded("ttp-statement"),
        )
        .unwrap();
    let master_file = PublicKeyFile { purpose: "bank-master".into(), key: master };
    let judge_file = PublicKeyFile { purpose: "warrant-issuer".into(), key: *judge.public() };
    files.insert(
        "keyset.json",
        obj! {
            "description" => "The bank's keys and signed keyset documents (specs/protocol.md §4). Secrets are \
                              given so the derivations can be checked; a verifier needs only master_key.",
            "seed" => seed_json("setup"),
            "seed_second_keyset" => seed_json("keyset-2"),
            "seed_ttp_statement" => seed_json("ttp-statement"),
            "inputs" => obj! {
                "master_secret" => sc(secrets.master().expose_secret()),
                "online_secrets" => J::Arr(
                    [&keyset, &keyset2]
                        .iter()
                        .map(|k| sc(secrets.online_signing_key(k.signing_key()).unwrap().expose_secret()))
                        .collect()
                ),
                "ttp_decryption_secret" => sc(ttp_keys.decryption.expose_secret()),
                "ttp_signing_secret" => sc(SecretScalar::from(ttp_keys.signing.clone()).expose_secret()),
                "spec" => spec_json(&keyset_spec()),
                "spec_second_keyset" => spec_json(&spec2),
            },
            "master_key" => pt(&master),
            "master_key_file" => mj(&master_file),
            "ttp_statement" => mj(&ttp_statement),
            "ttp_statement_digest" => hx(ttp_statement.statement.digest()),
            "signed_keyset" => mj(keyset.signed()),
            "keyset_id" => hx(keyset.id().as_bytes()),
            "keys" => J::Arr(keyset.document().keys.iter().map(key_json).collect()),
            "keyset_list" => mj(&keyset_list),
            "keyset_ids" => J::Arr(vec![hx(keyset.id().as_bytes()), hx(keyset2.id().as_bytes())]),
        },
    );

    let keyset_signature = keyset.signed().signature;
    let spend_coin = &payment.coins[0];
    let spend_key = keyset.key(&spend_coin.body.key_id).unwrap();
    files.insert(
        "proofs.json",
        obj! {
            "description" => "One vector per proof type: the registration proof of knowledge (§7.1), pi_W \
                              (§7.2), a spend proof within a payment (§6.3, §8.2), a Schnorr signature (§3.4) \
                              and the TTP's decryption proof (specs/tracing.md §5).",
            "seed_registration" => seed_json("registration"),
            "user_registration" => obj! {
                "user_secret" => sc(user.expose_secret()),
                "identity" => pt(user.identity()),
                "auth_secret" => sc(user_keys.auth().expose_secret()),
                "auth_key" => pt(user_keys.auth().public()),
                "account_id" => hx(user_id.as_bytes()),
                "message" => mj(&user_reg),
                "answer" => mj(&AccountOpened { account: user_id }),
            },
            "merchant_registration" => obj! {
                "merchant_secret" => sc(merchant.expose_secret()),
                "key" => pt(merchant.public()),
                "account_id" => hx(merchant_id.as_bytes()),
                "message" => mj(&merchant_reg),
                "answer" => mj(&AccountOpened { account: merchant_id }),
            },
            "withdraw_proof" => obj! {
                "note" => "pi_W inside the withdrawal request of value 4 (withdrawal.json); statement: I, \
                           C - t*Ht, E_w, Y_T from keyset.json",
                "identity" => pt(user.identity()),
                "ttp_key" => pt(&ttp_public.decryption),
                "request" => m(&w4.request),
            },
            "spend_proof" => obj! {
                "note" => "coin 0 of the three-coin payment (payment.json)",
                "z_k" => pt(&spend_key.z),
                "ttp_key" => pt(&ttp_public.decryption),
                "coin" => m(spend_coin),
                "challenge" => sc(&summary.challenges[0]),
                "responses" => J::Arr(payment.responses[0].to_array().iter().map(sc).collect()),
            },
            "schnorr_signature" => obj! {
                "note" => "the bank master key's signature on keyset_id",
                "domain" => "faircash/v1/keyset-signature",
                "public_key" => pt(&master),
                "message" => hx(keyset.id().as_bytes()),
                "R" => pt(&keyset_signature.r),
                "s" => sc(&keyset_signature.s),
            },
            "trace_decryption" => obj! {
                "note" => "the owner trace of trace.json",
                "kind" => "owner",
                "log_index" => single(&owner_result).0,
                "record_digest" => hx(owner_result.record_digest),
                "warrant_digest" => hx(owner_result.warrant_digest),
                "c1" => pt(&owner_result.ciphertext.c1),
                "c2" => pt(&owner_result.ciphertext.c2),
                "X" => pt(&owner_result.plaintext),
                "Y_T" => pt(&ttp_public.decryption),
                "commitments" => J::Arr(single(&owner_result).1.commitments.iter().map(pt).collect()),
                "responses" => J::Arr(single(&owner_result).1.responses.iter().map(sc).collect()),
            },
        },
    );

    let withdrawal_json = |w: &Withdrawal| {
        obj! {
            "value" => w.value,
            "request" => mj(&w.request),
            "request_digest" => hx(w.request.digest()),
            "commitment" => mj(&w.commitment),
            "commitment_digest" => hx(commitment_digest(&w.request, &w.commitment.commitment)),
            "challenge" => mj(&w.challenge),
            "answer" => mj(&w.answer),
            "pending_withdrawal" => mj(&w.pending),
            "wallet_coin" => mj(&w.coin),
            "coin" => mj(&w.coin.coin),
            "coin_id" => hx(w.coin.coin.id().as_bytes()),
            "serial_secret" => sc(w.coin.secrets.expose_serial_secret()),
            "expiry" => w.coin.secrets.expiry(),
        }
    };
    files.insert(
        "withdrawal.json",
        obj! {
            "description" => "Three withdrawals (values 1, 2 and 4) by one user on one day, every message \
                              both ways, with the wallet's stored states (specs/protocol.md §5, §7.2).",
            "seed" => seed_json("withdrawal"),
            "day" => DAY,
            "time" => clock.now(),
            "user" => obj! {
                "secret" => sc(user.expose_secret()),
                "identity" => pt(user.identity()),
                "auth_secret" => sc(user_keys.auth().expose_secret()),
                "auth_key" => pt(user_keys.auth().public()),
                "account_id" => hx(user_id.as_bytes()),
            },
            "keyset_id" => hx(keyset.id().as_bytes()),
            "signing_key" => pt(keyset.signing_key()),
            "withdrawals" => J::Arr(withdrawals.iter().map(withdrawal_json).collect()),
        },
    );

    files.insert(
        "account.json",
        obj! {
            "description" => "Account requests signed by the account's authentication key (specs/protocol.md \
                              §7.3), by a user registered and funded 10 for them: a reservation of 3 and the bank's answer, a session drawing on it whose \
                              commitment reached the wallet changed (and signed again with the online key), the \
                              challenge naming the changed commitment and the bank's signed end of the session \
                              (§7.2), the release of the reservation, the account's status, a rotation of the \
                              authentication key, and a re-key request (§7.5) made with the new key.",
            "seed" => seed_json("account"),
            "time" => clock.now(),
            "user" => obj! {
                "secret" => sc(carol.identity().expose_secret()),
                "auth_secret" => sc(carol.auth().expose_secret()),
                "registration" => m(&carol_reg),
            },
            "account_id" => hx(carol_id.as_bytes()),
            "auth_key" => pt(carol.auth().public()),
            "identity" => pt(carol.identity().identity()),
            "reserve" => obj! {
                "request" => mj(&reserve),
                "request_digest" => hx(reserve.digest()),
                "answer" => mj(&reserved),
            },
            "reserved_withdrawal" => obj! {
                "request" => mj(&reserved_request),
                "commitment" => mj(&reserved_commitment),
                "changed_commitment" => mj(&changed),
                "challenge" => mj(&mismatched),
                "answer" => mj(&ended),
            },
            "release" => obj! { "answer" => mj(&released) },
            "status" => obj! { "request" => mj(&status_request), "answer" => mj(&status) },
            "rotation" => obj! {
                "new_auth_secret" => sc(new_auth.expose_secret()),
                "request" => mj(&rotation),
                "answer" => mj(&rotated),
            },
            "rekey" => obj! {
                "new_identity_secret" => sc(new_identity.expose_secret()),
                "new_auth_secret" => sc(newer_auth.expose_secret()),
                "request" => mj(&rekey),
                "fingerprint" => rekey.fingerprint(),
            },
        },
    );

    files.insert(
        "coin.json",
        obj! {
            "description" => "A coin of value 4 (specs/protocol.md §6) in its file form, with its id.",
            "value" => 4u64,
            "keyset_id" => hx(keyset.id().as_bytes()),
            "coin" => mj(&w4.coin.coin),
            "coin_id" => hx(w4.coin.coin.id().as_bytes()),
        },
    );

    let coins_json: Vec<J> = (0..payment.coins.len())
        .map(|i| {
            obj! {
                "coin_id" => hx(summary.coin_ids[i].as_bytes()),
                "value" => summary.values[i],
                "challenge" => sc(&summary.challenges[i]),
            }
        })
        .collect();
    files.insert(
        "payment.json",
        obj! {
            "description" => "A payment of 7 with three coins (4, 2, 1), with each coin's spend challenge \
                              (specs/protocol.md §8).",
            "seed" => seed_json("payment"),
            "order" => "three coins",
            "request" => mj(&pay_request),
            "request_id" => hx(pay_request.id()),
            "payment" => mj(&payment),
            "payment_digest" => hx(payment.digest()),
            "coins" => J::Arr(coins_json),
        },
    );

    files.insert(
        "deposit.json",
        obj! {
            "description" => "The deposit of the three-coin payment, then a second spend of its coin of value \
                              1 deposited: the bank's evidence and the identity it extracts (specs/protocol.md \
                              §9).",
            "seed" => seed_json("deposit"),
            "receipt_day" => DAY,
            "merchant" => obj! {
                "secret" => sc(merchant.expose_secret()),
                "key" => pt(merchant.public()),
                "account_id" => hx(merchant_id.as_bytes()),
            },
            "signing_key" => pt(keyset.signing_key()),
            "first" => obj! {
                "request" => mj(&deposit1),
                "request_digest" => hx(deposit1.digest()),
                "receipt" => mj(&receipt1),
            },
            "second" => obj! {
                "order" => "the same coin again",
                "payment_request" => mj(&again_request),
                "payment" => mj(&again),
                "challenge" => sc(&again_summary.challenges[0]),
                "request" => mj(&deposit2),
                "request_digest" => hx(deposit2.digest()),
                "receipt" => mj(&receipt2),
            },
            "pruning" => obj! {
                "note" => "the first deposit's three spent-coin records (protocol §9.3, §9.5): recorded on \
                           receipt_day with prune_after = receipt_day + validity_days + \
                           max_deposit_delay_days; the bank's prune on day `today` deletes them iff today > \
                           prune_after",
                "receipt_day" => DAY,
                "validity_days" => policy.validity_days,
                "max_deposit_delay_days" => policy.max_deposit_delay_days,
                "prune_after" => prune_after,
                "decisions" => J::Arr(pruning),
            },
            "evidence" => mj(&evidence),
            "evidence_list" => mj(&evidence_list),
            "extracted" => obj! {
                "u" => sc(&extracted_u),
                "identity" => pt(&identified.identity),
                "account_id" => hx(identified.account.as_bytes()),
            },
        },
    );

    let trace_json = |req: &TraceRequest, result: &TraceResult| {
        obj! {
            "record" => mj(&req.record),
            "record_digest" => hx(req.record.digest()),
            "warrant" => mj(&req.warrant),
            "warrant_digest" => hx(req.warrant.digest()),
            "request" => mj(req),
            "request_digest" => hx(req.digest()),
            "result" => mj(result),
            "plaintext" => pt(&result.plaintext),
        }
    };
    files.insert(
        "trace.json",
        obj! {
            "description" => "An owner trace (the coin of value 2 of the three-coin payment) and a coin trace \
                              (the withdrawal of value 4), the TTP's log and head, and the bank's watch list \
                              (specs/tracing.md).",
            "seed" => seed_json("trace"),
            "now" => now,
            "judge" => obj! { "secret" => sc(judge.expose_secret()), "key_file" => mj(&judge_file) },
            "ttp_statement" => mj(&ttp_statement),
            "owner" => trace_json(&owner_request, &owner_result),
            "owner_account_id" => hx(user_id.as_bytes()),
            "coin" => trace_json(&coin_request, &coin_result),
            "log" => obj! {
                "entries" => J::Arr(log_entries.iter().map(mj).collect()),
                "entry_hashes" => J::Arr(log_entries.iter().map(|e| hx(e.hash())).collect()),
                "head" => mj(&log_head),
            },
            "watch_list" => mj(&watch_list),
        },
    );

    // --- negative vectors ---------------------------------------------------------
    let neg = Negatives {
        keyset: keyset.signed().clone(),
        user_reg: user_reg.clone(),
        reserve: reserve.clone(),
        rekey: rekey.clone(),
        merchant_key: *merchant.public(),
        judge: *judge.public(),
        w4: &withdrawals[2],
        coin: w4.coin.coin,
        pay_request,
        payment: payment.clone(),
        deposit: deposit1.clone(),
        receipt: receipt1.clone(),
        owner: owner_request.clone(),
        owner_result: owner_result.clone(),
        ttp_signing: ttp_keys.signing.clone(),
        log_entries: log_entries.clone(),
        log_head: log_head.clone(),
        watch_list: watch_list.clone(),
        ttp_public,
        ttp_statement: ttp_statement.clone(),
    };
    files.insert("negative.json", neg.build());
    files.insert("seed.json", seed_vectors(&master, &keyset));
    files.insert("backup.json", backup_vectors(&master));

    // --- threshold trustees (tracing.md §9) ---------------------------------
    let mut rng = seeded("trustees");
    let identities: Vec<GroupSigningKey> = (0..3).map(|_| GroupSigningKey::generate(&mut rng)).collect();
    let participants: Vec<Participant> =
        identities.iter().zip(1..).map(|(k, id)| Participant { id, identity: *k.public() }).collect();
    let ceremony = Ceremony::new(KeyPurpose::Decryption, 2, participants, &mut rng).unwrap();
    let (dkg_transcript, dkg_outcome, key_shares) = run_local(&ceremony, &identities, &mut rng).unwrap();
    // A ciphertext under the group's Y_T of a known point, with the digests
    // of a record and a warrant it stands for (synthetic: no bank names Y_T).
    let x_known = Point::new(G * Scalar::from(1_000_003u64));
    let ciphertext = faircash::crypto::elgamal::Ciphertext::encrypt(
        &x_known,
        &dkg_outcome.group_key,
        &SecretScalar::random_nonzero(&mut rng).expose_secret().clone(),
    );
    let context = ShareContext {
        record_digest: seed("trustees/record"),
        warrant_digest: seed("trustees/warrant"),
        ciphertext,
    };
    let trace_shares: Vec<TraceShare> = [0usize, 2]
        .iter()
        .zip([4u64, 9])
        .map(|(&k, log_index)| {
            let share = &key_shares[k];
            let y = *share.verification_share().unwrap();
            TraceShare {
                kind: TraceKind::Owner,
                record_digest: context.record_digest,
                warrant_digest: context.warrant_digest,
                ciphertext,
                verification_share: y,
                evidence: ShareEvidence::create(
                    share.id,
                    share.secret.expose_secret(),
                    &y,
                    &context,
                    log_index,
                    &mut rng,
                ),
            }
        })
        .collect();
    // The group's signature of a threshold trace result (tracing.md §9.6):
    // a signing ceremony of the same trustees, the key statement signed by
    // trustees 1 and 2, and a coin-tracing result combined from the shares
    // of trustees 1 and 3 and signed by them. The record is the coin
    // record of the trace vectors with its escrow made under this Y_T (its
    // withdrawal proof does not verify: the trustees check a record's proof
    // against a keyset when they decrypt, not when they sign).
    let signing_participants: Vec<Participant> =
        identities.iter().zip(1..).map(|(k, id)| Participant { id, identity: *k.public() }).collect();
    let signing_ceremony = Ceremony::new(KeyPurpose::Signing, 2, signing_participants, &mut rng).unwrap();
    let (signing_transcript, signing_outcome, signing_shares) =
        run_local(&signing_ceremony, &identities, &mut rng).unwrap();
    let group_statement = TtpKeyStatement {
        params_id: faircash::params::Params::get().id,
        sequence: 0,
        decryption_key: dkg_outcome.group_key,
        threshold: 2,
        trustees: dkg_outcome.verification_shares.clone(),
        signing_key: signing_outcome.group_key,
        validity: TtpValidity {
            escrow_from: Day(DAY.0 - 30),
            escrow_until: Day(DAY.0 + 365),
            trace_until: Day(DAY.0 + 730),
        },
        issued: Timestamp(u64::from(DAY.0) * 86_400),
    };
    let group_trustees: Vec<Trustee<MemoryTtpStore>> = identities
        .iter()
        .zip(key_shares.iter().cloned())
        .zip(signing_shares)
        .map(|((identity, d), s)| {
            let mut t =
                Trustee::new(identity.clone(), d, s, MemoryTtpStore::new(), Arc::new(clock.clone())).unwrap();
            t.trust_issuer(*judge.public());
            t
        })
        .collect();
    let statement_request =
        SigningRequest::new(vec![1, 2], GroupMessage::KeyStatement(group_statement), &mut rng);
    let (commitments, signature_shares) =
        sign_locally(&[&group_trustees[0], &group_trustees[1]], &statement_request, &mut rng).unwrap();
    let group_statement =
        signing::finish(&signing_outcome, &statement_request, &commitments, &signature_shares).unwrap();
    let TraceRecord::Coin { request: mut escrowed, identity: coin_identity } = coin_request.record.clone()
    else {
        unreachable!("a coin record")
    };
    let serial = Point::new(G * Scalar::from(2_000_003u64));
    escrowed.escrow = faircash::crypto::elgamal::Ciphertext::encrypt(
        &serial,
        &dkg_outcome.group_key,
        &SecretScalar::random_nonzero(&mut rng).expose_secret().clone(),
    );
    let group_record = TraceRecord::Coin { request: escrowed, identity: coin_identity };
    let group_request =
        TraceRequest { warrant: warrant_for(&group_record, "case-2026-031", &mut rng), record: group_record };
    let group_context = ShareContext {
        record_digest: group_request.record.digest(),
        warrant_digest: group_request.warrant.digest(),
        ciphertext: group_request.record.ciphertext().unwrap(),
    };
    let group_shares: Vec<TraceShare> = [0usize, 2]
        .iter()
        .map(|&k| {
            let share = &key_shares[k];
            let y = *share.verification_share().unwrap();
            TraceShare {
                kind: TraceKind::Coin,
                record_digest: group_context.record_digest,
                warrant_digest: group_context.warrant_digest,
                ciphertext: group_context.ciphertext,
                verification_share: y,
                evidence: ShareEvidence::create(
                    share.id,
                    share.secret.expose_secret(),
                    &y,
                    &group_context,
                    0,
                    &mut rng,
                ),
            }
        })
        .collect();
    let combined = combine_shares(&group_statement.statement, &group_request, &group_shares).unwrap();
    assert_eq!(combined.plaintext, serial);
    let result_request = SigningRequest::new(
        vec![1, 3],
        GroupMessage::TraceResult(Box::new(ResultToSign {
            request: group_request.clone(),
            result: combined.unsigned_result(group_statement.statement.public_keys()),
        })),
        &mut rng,
    );
    let (commitments, signature_shares) =
        sign_locally(&[&group_trustees[0], &group_trustees[2]], &result_request, &mut rng).unwrap();
    let group_result = signing::finish_result(
        &signing_outcome,
        &group_statement.statement,
        &result_request,
        &commitments,
        &signature_shares,
    )
    .unwrap();
    files.insert(
        "trustees.json",
        obj! {
            "description" => "Threshold trustees (specs/tracing.md §9): a 2-of-3 key-generation ceremony of the decryption \
                              key (its whole transcript of signed round files), two trustees' decryption shares with their \
                              proofs, and their combination. The ciphertext is made for the vector under Y_T (no bank names \
                              this Y_T); record_digest and warrant_digest are the seeds of `trustees/record` and \
                              `trustees/warrant`. signed_result: the group's signing ceremony (same trustees), the key \
                              statement signed by trustees 1 and 2 with FROST, and a coin-tracing result combined from \
                              the shares of trustees 1 and 3 and signed by them (tracing.md §9.6); its record is the coin \
                              record of trace.json with the escrow made under this Y_T, so its withdrawal proof does not \
                              verify, and the warrant is signed by the judge of trace.json.",
            "seed" => seed_json("trustees"),
            "ceremony" => obj! {
                "threshold" => 2u64,
                "trustees" => 3u64,
                "transcript" => m(&dkg_transcript),
                "group_key" => pt(&dkg_outcome.group_key),
                "verification_shares" => J::Arr(dkg_outcome.verification_shares.iter().map(|k| obj! {
                    "id" => u64::from(k.id), "Y_i" => pt(&k.verification_share),
                }).collect()),
            },
            "decryption" => obj! {
                "record_digest" => hx(context.record_digest),
                "warrant_digest" => hx(context.warrant_digest),
                "c1" => pt(&ciphertext.c1),
                "c2" => pt(&ciphertext.c2),
                "shares" => J::Arr(trace_shares.iter().map(m).collect()),
                "plaintext" => pt(&x_known),
            },
            "signed_result" => obj! {
                "signing_transcript" => m(&signing_transcript),
                "statement" => m(&group_statement),
                "request" => m(&group_request),
                "shares" => J::Arr(group_shares.iter().map(m).collect()),
                "result" => m(&group_result),
                "plaintext" => pt(&serial),
            },
        },
    );

    // --- a refused payment and its reclaim (§8.5, §8.6) ---------------------------
    let mut rng = seeded("reclaim");
    let refusal = PayeeRefusal::sign(&merchant, &payment, &mut rng).unwrap();
    let reclaim = ReclaimRequest::new(
        &user_keys,
        payment.clone(),
        refusal,
        &[&w4.coin, &w2.coin, &w1.coin],
        &keyset,
        &mut rng,
    )
    .unwrap();
    files.insert(
        "reclaim.json",
        obj! {
            "description" => "The merchant's signed refusal of the three-coin payment of payment.json, and the \
                              payer's reclaim of it: one escrow proof per coin, signed with the account's \
                              authentication key (specs/protocol.md §8.5, §8.6).",
            "seed" => seed_json("reclaim"),
            "merchant_key" => pt(merchant.public()),
            "refusal" => mj(&refusal),
            "account_id" => hx(user_id.as_bytes()),
            "auth_key" => pt(user_keys.auth().public()),
            "identity" => pt(user_keys.identity().identity()),
            "request" => mj(&reclaim),
            "request_digest" => hx(reclaim.digest()),
        },
    );

    files.insert(
        "spent.json",
        obj! {
            "description" => "The bank's spent list of the key of value 4 as of its first publication (one page: \
                              the coin of value 4 of the three-coin payment), and its unspent statement for a \
                              query of the first user naming that coin and a coin never deposited \
                              (specs/protocol.md §7.7). Made from the seed `spent` after the account scenario, \
                              before the first deposit's records are pruned.",
            "seed" => seed_json("spent"),
            "page" => mj(&spent_page),
            "query" => mj(&spent_query),
            "query_digest" => hx(spent_query.digest()),
            "statement" => mj(&statement),
            "account_id" => hx(user_id.as_bytes()),
            "auth_key" => pt(user_keys.auth().public()),
            "spent_coin" => hx(w4.coin.coin.id().as_bytes()),
            "unspent_coin" => hx(unspent_coin.as_bytes()),
        },
    );

    Generated { files }
}

// ---------------------------------------------------------------------------
// Recovery phrase (protocol §7.6)
// ---------------------------------------------------------------------------

/// The two phrases of seed.json: BIP-39's all-`abandon` 12-word phrase and
/// a 24-word one.
const PHRASES: [&str; 2] = [
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful \
     legal winner thank year wave sausage worth title",
];

fn seed_vectors(master: &Point, keyset: &Keyset) -> J {
    use faircash::crypto::derive::{value, RecoveryPhrase};
    let phrases = PHRASES
        .iter()
        .map(|text| {
            let phrase = RecoveryPhrase::parse(text).unwrap();
            let seed = phrase.seed();
            let epochs = (0..2u32)
                .map(|n| {
                    let root = seed.account_root(master, n);
                    let (u, a) = (root.identity(), root.auth());
                    let coins = (0..2u64)
                        .map(|c| {
                            let k = root.coin(&keyset.id(), c);
                            let mut values = vec![("session-id".to_string(), hx(k.session_id()))];
                            let names = [value::R, value::S, value::K_W, value::GAMMA, value::TAU]
                                .into_iter()
                                .chain(value::T)
                                .chain([value::K, value::R_T])
                                .chain(value::NONCES);
                            for name in names {
                                let nonzero = [value::S, value::K_W, value::GAMMA, value::K].contains(&name);
                                let v = if nonzero { k.nonzero(name) } else { k.scalar(name) };
                                values.push((String::from_utf8(name.to_vec()).unwrap(), sc(v.expose_secret())));
                            }
                            obj! { "counter" => c, "coin_seed" => hx(k.expose_secret()), "values" => J::Obj(values) }
                        })
                        .collect::<Vec<_>>();
                    obj! {
                        "epoch" => n,
                        "u" => sc(u.expose_secret()),
                        "identity" => pt(u.identity()),
                        "a" => sc(a.expose_secret()),
                        "auth_key" => pt(a.public()),
                        "coins" => coins,
                    }
                })
                .collect::<Vec<_>>();
            obj! {
                "phrase" => *text,
                "seed" => hx(seed.expose_secret()),
                "account_id" => hx(seed.account_keys(master, 1).account().as_bytes()),
                "epochs" => epochs,
            }
        })
        .collect::<Vec<_>>();
    obj! {
        "description" => "Recovery phrases and the secrets derived from them (specs/protocol.md §7.6): the \
                          BIP-39 seed, per identity epoch u, a and their public keys, and per withdrawal \
                          counter the coin seed and every value taken from it, for the bank master key and \
                          keyset of keyset.json.",
        "master_key" => pt(master),
        "keyset_id" => hx(keyset.id().as_bytes()),
        "phrases" => phrases,
    }
}

/// backup.json: the backup key of the first phrase of seed.json at the
/// vectors' bank, and a small backup file (protocol §7.6, item 7).
fn backup_vectors(master: &Point) -> J {
    use faircash::crypto::derive::{AccountRoot, RecoveryPhrase};
    use faircash::roles::wallet::backup::{BackupContents, BackupEntry, BackupFile};
    let seed = RecoveryPhrase::parse(PHRASES[0]).unwrap().seed();
    let account = AccountRoot::account_id_of(&seed, master);
    let contents = BackupContents {
        created: 1_700_000_000,
        files: vec![
            BackupEntry { name: "bank.json".into(), bytes: b"{\"bank\":\"example\"}".to_vec() },
            BackupEntry { name: "wallet.key".into(), bytes: b"\"not a real key\"".to_vec() },
        ],
        database: b"SQLite format 3\0 (an example, not a database)".to_vec(),
    };
    let file = BackupFile::seal(&seed, master, account, &contents, &mut seeded("backup"));
    let mut k = [0u8; 32];
    hkdf::Hkdf::<Sha512>::new(Some(b"faircash/v1/backup-key"), seed.expose_secret())
        .expand(master.as_bytes(), &mut k)
        .unwrap();
    obj! {
        "description" => "A wallet backup file (specs/protocol.md §7.6, item 7) of the first phrase of seed.json at the \
                          bank of keyset.json: the backup key, and a file sealing the contents below (its nonce drawn \
                          from the seed `backup`). plaintext is the postcard encoding of (created, files, database).",
        "seed" => seed_json("backup"),
        "phrase" => PHRASES[0],
        "master_key" => pt(master),
        "account_id" => hx(account.as_bytes()),
        "backup_key" => hx(k),
        "contents" => obj! {
            "created" => contents.created,
            "files" => J::Arr(contents.files.iter().map(|e| obj! { "name" => e.name.as_str(), "hex" => hx(&e.bytes) }).collect()),
            "database" => hx(&contents.database),
        },
        "plaintext" => hx(contents.to_bytes().as_slice()),
        "file" => hx(file.to_bytes()),
    }
}

/// backup.json, recomputed with HKDF-SHA512 and XChaCha20-Poly1305
/// directly, the plaintext encoded by hand; and read back by the library.
fn check_backup(p: &Public) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use faircash::crypto::derive::RecoveryPhrase;
    use faircash::roles::wallet::backup::BackupFile;
    let v = load("backup.json");
    assert_eq!(point(&v["master_key"]), p.master);
    let seed = RecoveryPhrase::parse(v["phrase"].as_str().unwrap()).unwrap().seed();
    assert_eq!(hex::encode(seed.expose_secret()), load("seed.json")["phrases"][0]["seed"].as_str().unwrap());
    let mut k = [0u8; 32];
    hkdf::Hkdf::<Sha512>::new(Some(b"faircash/v1/backup-key"), seed.expose_secret())
        .expand(p.master.as_bytes(), &mut k)
        .unwrap();
    assert_eq!(k, b32(&v["backup_key"]));
    // The header, field by field.
    let file = bytes(&v["file"]);
    assert_eq!(&file[..8], b"FCBACKUP");
    assert_eq!(file[8], 1);
    assert_eq!(&file[9..41], p.master.as_bytes());
    assert_eq!(file[41..57], b16(&v["account_id"]));
    assert_eq!(v["account_id"], load("seed.json")["phrases"][0]["account_id"]);
    let len = u64::from_le_bytes(file[81..89].try_into().unwrap());
    assert_eq!(len as usize, file.len() - 89);
    let plaintext = chacha20poly1305::XChaCha20Poly1305::new(&k.into())
        .decrypt(file[57..81].into(), Payload { msg: &file[89..], aad: &file[..89] })
        .unwrap();
    assert_eq!(plaintext, bytes(&v["plaintext"]));
    // postcard by hand: varint(created), varint(#files), per file
    // varint-prefixed name and bytes, varint-prefixed database.
    fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    let c = &v["contents"];
    let mut expected = Vec::new();
    varint(num(&c["created"]), &mut expected);
    let files = c["files"].as_array().unwrap();
    varint(files.len() as u64, &mut expected);
    for f in files {
        let name = f["name"].as_str().unwrap().as_bytes();
        varint(name.len() as u64, &mut expected);
        expected.extend_from_slice(name);
        let b = bytes(&f["hex"]);
        varint(b.len() as u64, &mut expected);
        expected.extend_from_slice(&b);
    }
    let db = bytes(&c["database"]);
    varint(db.len() as u64, &mut expected);
    expected.extend_from_slice(&db);
    assert_eq!(plaintext, expected);
    // The library reads the same file.
    let opened = BackupFile::parse(&file).unwrap().open(&seed).unwrap();
    assert_eq!(opened.created, num(&c["created"]));
    assert_eq!(opened.database, db);
    assert_eq!(opened.file("wallet.key").unwrap(), bytes(&files[1]["hex"]).as_slice());
}

/// seed.json, recomputed with HMAC-SHA512 and HKDF-SHA512 directly.
fn check_seed(p: &Public) {
    use hmac::{Hmac, Mac};
    let v = load("seed.json");
    assert_eq!(point(&v["master_key"]), p.master);
    assert_eq!(b32(&v["keyset_id"]), *p.keyset.id().as_bytes());
    let hkdf = |label: &str, ikm: &[u8], info: &[u8], out: &mut [u8]| {
        let salt = format!("faircash/v1/{label}");
        hkdf::Hkdf::<Sha512>::new(Some(salt.as_bytes()), ikm).expand(info, out).unwrap();
    };
    let wide = |label: &str, ikm: &[u8], info: &[u8]| {
        let mut b = [0u8; 64];
        hkdf(label, ikm, info, &mut b);
        Scalar::from_bytes_mod_order_wide(&b)
    };
    for ph in v["phrases"].as_array().unwrap() {
        // BIP-39: PBKDF2-HMAC-SHA512(phrase, "mnemonic", 2048), 64 bytes.
        let phrase = ph["phrase"].as_str().unwrap().as_bytes();
        let prf = |m: &[u8]| {
            let mut h = <Hmac<Sha512> as Mac>::new_from_slice(phrase).unwrap();
            h.update(m);
            h.finalize().into_bytes()
        };
        let mut block = prf(b"mnemonic\0\0\0\x01");
        let mut seed = block;
        for _ in 1..2048 {
            block = prf(&block);
            for (s, b) in seed.iter_mut().zip(block.iter()) {
                *s ^= b;
            }
        }
        assert_eq!(hex::encode(seed), ph["seed"].as_str().unwrap());
        let mut account = None;
        for e in ph["epochs"].as_array().unwrap() {
            let n = num(&e["epoch"]) as u32;
            let mut root = [0u8; 64];
            hkdf(
                "seed-account",
                &seed,
                &[p.master.as_bytes().as_slice(), &n.to_le_bytes()].concat(),
                &mut root,
            );
            let u = wide("seed-identity", &root, b"");
            let a = wide("seed-auth", &root, b"");
            assert_eq!(u, scalar(&e["u"]));
            assert_eq!(a, scalar(&e["a"]));
            assert_eq!(point(&e["identity"]), Point::new(G * u));
            assert_eq!(point(&e["auth_key"]), Point::new(G * a));
            account.get_or_insert(faircash::keys::user_account_id(&Point::new(G * u)));
            for c in e["coins"].as_array().unwrap() {
                let mut k = [0u8; 32];
                let info = [p.keyset.id().as_bytes().as_slice(), &num(&c["counter"]).to_le_bytes()].concat();
                hkdf("seed-coin", &root, &info, &mut k);
                assert_eq!(hex::encode(k), c["coin_seed"].as_str().unwrap());
                let values = c["values"].as_object().unwrap();
                assert_eq!(values.len(), 21);
                for (name, want) in values {
                    if name == "session-id" {
                        let mut id = [0u8; 16];
                        hkdf("coin-value", &k, name.as_bytes(), &mut id);
                        assert_eq!(hex::encode(id), want.as_str().unwrap());
                    } else {
                        assert_eq!(wide("coin-value", &k, name.as_bytes()), scalar(want), "{name}");
                    }
                }
            }
        }
        assert_eq!(hex::encode(account.unwrap().as_bytes()), ph["account_id"].as_str().unwrap());
    }
}

// ---------------------------------------------------------------------------
// Negative vectors
// ---------------------------------------------------------------------------

/// `ℓ`, the group order, little-endian: the smallest non-canonical scalar.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
/// Not a Ristretto encoding (a field element `>= p`).
const BAD_POINT: [u8; 32] = [0xff; 32];

struct Negatives<'a> {
    keyset: SignedKeyset,
    user_reg: UserRegistration,
    reserve: AccountRequest,
    rekey: RekeyRequest,
    merchant_key: Point,
    judge: Point,
    w4: &'a Withdrawal,
    coin: Coin,
    pay_request: PaymentRequest,
    payment: Payment,
    deposit: DepositRequest,
    receipt: DepositReceipt,
    owner: TraceRequest,
    owner_result: TraceResult,
    ttp_signing: GroupSigningKey,
    log_entries: Vec<LogEntry>,
    log_head: LogHead,
    watch_list: WatchList,
    ttp_public: TtpPublicKeys,
    ttp_statement: SignedTtpKeyStatement,
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).expect("value present in the encoding")
}

fn replaced(bytes: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + with.len()].copy_from_slice(with);
    out
}

fn spliced(bytes: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.splice(at..at + len, with.iter().copied());
    out
}

/// A binary decode vector.
fn nb(name: &str, ty: &str, bytes: Vec<u8>, kind: &str, why: &str) -> J {
    obj! {
        "name" => name, "type" => ty, "form" => "binary", "hex" => hx(bytes),
        "expect" => obj! { "decode" => kind }, "why" => why,
    }
}

/// A JSON decode vector.
fn njs(name: &str, ty: &str, text: String, kind: &str, why: &str) -> J {
    obj! {
        "name" => name, "type" => ty, "form" => "json", "json" => text,
        "expect" => obj! { "decode" => kind }, "why" => why,
    }
}

/// A message that decodes but does not verify.
fn nv<T: WireMessage>(name: &str, check: &str, v: &T, error: &str, why: &str) -> J {
    assert!(T::from_bytes(&v.to_bytes()).is_ok(), "{name} must decode");
    obj! {
        "name" => name, "type" => T::KIND.name(), "form" => "binary", "hex" => hx(v.to_bytes()),
        "expect" => obj! { "verify" => check, "error" => error }, "why" => why,
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} not in the JSON");
    text.replacen(from, to, 1)
}

impl Negatives<'_> {
    fn build(&self) -> J {
        let coin = self.coin.to_bytes();
        let coin_json = self.coin.to_json();
        let s = &self.coin.body.serial;
        let mut decode = vec![
            // The envelope.
            nb("empty", "coin", vec![], "truncated", "shorter than the 4-byte envelope"),
            nb("envelope-only", "coin", coin[..4].to_vec(), "truncated", "no body"),
            nb("truncated", "coin", coin[..coin.len() - 1].to_vec(), "truncated", "last byte missing"),
            nb("bad-magic", "coin", replaced(&coin, 0, b"FD"), "bad-magic", "magic is not \"FC\""),
            nb("version-0", "coin", replaced(&coin, 2, &[0]), "unsupported-version", "version byte 0"),
            nb("version-2", "coin", replaced(&coin, 2, &[2]), "unsupported-version", "version byte 2"),
            nb(
                "wrong-kind",
                "payment",
                coin.clone(),
                "wrong-kind",
                "a coin (0x20) given to the payment decoder",
            ),
            nb("unknown-kind", "coin", replaced(&coin, 3, &[0xee]), "wrong-kind", "kind byte 0xee"),
            nb(
                "trailing-byte",
                "coin",
                [&coin[..], &[0]].concat(),
                "trailing-bytes",
                "one byte after the coin",
            ),
            {
                let c = self.w4.challenge.to_bytes();
                let mut big = c.clone();
                big.resize(<WithdrawChallenge as WireMessage>::MAX_BYTES + 1, 0);
                nb(
                    "too-large",
                    "withdraw-challenge",
                    big,
                    "too-large",
                    "one byte over the kind's size limit (refused before parsing)",
                )
            },
            // Canonical encodings.
            {
                let b = self.pay_request.to_bytes();
                let at = find(&b, self.pay_request.merchant_key.as_bytes()) + 32;
                assert_eq!(b[at], 7);
                nb(
                    "over-long-varint",
                    "payment-request",
                    spliced(&b, at, 1, &[0x87, 0x00]),
                    "non-canonical-encoding",
                    "amount 7 as the two-byte varint 87 00",
                )
            },
            {
                let b = self.pay_request.to_bytes();
                let at = find(&b, self.pay_request.merchant_key.as_bytes()) + 33;
                nb(
                    "varint-overflow",
                    "payment-request",
                    spliced(&b, at, 3, &[0xff, 0xff, 0xff, 0xff, 0x7f]),
                    "malformed",
                    "the day (u32) as a varint above 2^32 - 1",
                )
            },
            {
                let b = self.w4.challenge.to_bytes();
                let at = find(&b, self.w4.challenge.e.as_bytes());
                nb(
                    "scalar-ell",
                    "withdraw-challenge",
                    replaced(&b, at, &ELL),
                    "non-canonical-scalar",
                    "e = ℓ",
                )
            },
            {
                let at = find(&coin, self.coin.signature.rho.as_bytes());
                nb(
                    "scalar-high",
                    "coin",
                    replaced(&coin, at, &[0xff; 32]),
                    "non-canonical-scalar",
                    "rho = 2^256 - 1",
                )
            },
            {
                let at = find(&coin, self.coin.body.escrow.c2.as_bytes());
                nb(
                    "invalid-point",
                    "coin",
                    replaced(&coin, at, &BAD_POINT),
                    "invalid-point",
                    "E2 is not a point",
                )
            },
            // Identity rules.
            nb(
                "identity-serial",
                "coin",
                replaced(&coin, find(&coin, s.as_bytes()), &[0; 32]),
                "identity-point",
                "S = O",
            ),
            nb(
                "identity-zeta1",
                "coin",
                replaced(&coin, find(&coin, self.coin.signature.zeta1.as_bytes()), &[0; 32]),
                "identity-point",
                "zeta1 = O",
            ),
            nb(
                "zeta1-equals-zeta",
                "coin",
                replaced(
                    &coin,
                    find(&coin, self.coin.signature.zeta1.as_bytes()),
                    self.coin.signature.zeta.as_bytes(),
                ),
                "identity-point",
                "zeta - zeta1 = O",
            ),
            {
                let b = self.keyset.to_bytes();
                let at = find(&b, self.keyset.document.ttp_key.as_bytes());
                nb(
                    "identity-ttp-key",
                    "signed-keyset",
                    replaced(&b, at, &[0; 32]),
                    "identity-point",
                    "Y_T = O",
                )
            },
            {
                let b = self.w4.commitment.to_bytes();
                let at = find(&b, self.w4.commitment.commitment.a.as_bytes());
                nb("identity-a", "withdraw-commitment", replaced(&b, at, &[0; 32]), "identity-point", "a = O")
            },
            {
                let b = self.user_reg.to_bytes();
                nb("identity-user", "user-registration", replaced(&b, 4, &[0; 32]), "identity-point", "I = O")
            },
            {
                let b = self.log_head.to_bytes();
                let at = find(&b, self.log_head.signer.as_bytes());
                nb(
                    "identity-log-signer",
                    "trace-log-head",
                    replaced(&b, at, &[0; 32]),
                    "identity-point",
                    "signer = O",
                )
            },
            {
                let b = self.watch_list.to_bytes();
                let at = find(&b, self.watch_list.serials[0].as_bytes());
                nb(
                    "identity-watched-serial",
                    "watch-list",
                    replaced(&b, at, &[0; 32]),
                    "identity-point",
                    "S = O",
                )
            },
            // Domains of fields.
            {
                let b = self.pay_request.to_bytes();
                let at = find(&b, self.pay_request.merchant_key.as_bytes()) + 32;
                nb("zero-amount", "payment-request", replaced(&b, at, &[0]), "invalid-field", "amount 0")
            },
            {
                let b = self.w4.commitment.to_bytes();
                let at = find(&b, self.w4.commitment.commitment.rnd.as_bytes());
                nb("zero-rnd", "withdraw-commitment", replaced(&b, at, &[0; 32]), "invalid-field", "rnd = 0")
            },
            {
                let mut p = self.payment.clone();
                p.coins.pop();
                p.responses.pop();
                p.request.amount = 6;
                nb(
                    "range-proof-length",
                    "payment",
                    p.to_bytes(),
                    "invalid-field",
                    "two coins with the range proof for three (four parties)",
                )
            },
            {
                let mut p = self.payment.clone();
                p.responses.pop();
                nb(
                    "responses-per-coin",
                    "payment",
                    p.to_bytes(),
                    "invalid-field",
                    "three coins, two response sets",
                )
            },
            // Limits.
            {
                let mut r = self.user_reg.clone();
                r.proof.commitments = vec![r.proof.commitments[0]; 9];
                nb(
                    "proof-nine-commitments",
                    "user-registration",
                    r.to_bytes(),
                    "too-many",
                    "9 > 8 commitments",
                )
            },
            {
                let b = self.payment.to_bytes();
                // The count follows the request, whose last fields are the
                // nonce and the order digest (32 bytes each).
                let at = find(&b, &self.payment.request.nonce) + 64;
                assert_eq!(b[at], 3);
                nb(
                    "sixty-five-coins",
                    "payment",
                    replaced(&b, at, &[65]),
                    "too-many",
                    "the coin count says 65 (> 64)",
                )
            },
            {
                let mut w = self.owner.warrant.clone();
                w.case_id = "c".repeat(129);
                nb("case-id-too-long", "warrant", w.to_bytes(), "too-many", "case id of 129 bytes (> 128)")
            },
            // Malformed.
            {
                let b = self.owner.warrant.to_bytes();
                let at = find(&b, &self.owner.warrant.record_digest) - 1;
                assert_eq!(b[at], 0);
                nb(
                    "enum-tag",
                    "warrant",
                    replaced(&b, at, &[2]),
                    "malformed",
                    "trace kind 2 (only 0 and 1 exist)",
                )
            },
            {
                let b = self.owner.warrant.to_bytes();
                let at = find(&b, self.owner.warrant.case_id.as_bytes());
                nb("bad-utf8", "warrant", replaced(&b, at, &[0xff]), "malformed", "case id is not UTF-8")
            },
            {
                let b = self.keyset.to_bytes();
                let at = find(&b, self.keyset.document.params_id.as_bytes()) + 33;
                assert_eq!(b[at], 0);
                nb(
                    "option-tag",
                    "signed-keyset",
                    replaced(&b, at, &[2]),
                    "malformed",
                    "option tag 2 in previous",
                )
            },
        ];

        // JSON.
        let reg_json = self.user_reg.to_json();
        let ch_json = self.w4.challenge.to_json();
        decode.extend([
            njs(
                "json-unknown-body-field",
                "coin",
                replace_once(&coin_json, "\"body\": {", "\"body\": {\n    \"extra\": 1,"),
                "malformed",
                "a field the type does not have, in the body",
            ),
            njs(
                "json-unknown-nested-field",
                "coin",
                replace_once(&coin_json, "\"signature\": {", "\"signature\": {\n      \"extra\": 1,"),
                "malformed",
                "a field the type does not have, in a nested object",
            ),
            njs(
                "json-unknown-envelope-field",
                "coin",
                replace_once(&coin_json, "\"faircash\": 1,", "\"faircash\": 1,\n  \"extra\": 1,"),
                "malformed",
                "a field the envelope does not have",
            ),
            njs(
                "json-duplicate-field",
                "user-registration",
                replace_once(
                    &reg_json,
                    "\"body\": {",
                    &format!(
                        "\"body\": {{\n    \"identity\": \"{}\",",
                        hex::encode(self.user_reg.identity.as_bytes())
                    ),
                ),
                "malformed",
                "the same field twice",
            ),
            njs(
                "json-wrong-kind",
                "coin",
                replace_once(&coin_json, "\"kind\": \"coin\"", "\"kind\": \"payment\""),
                "wrong-kind",
                "kind names another type",
            ),
            njs(
                "json-version-2",
                "coin",
                replace_once(&coin_json, "\"faircash\": 1,", "\"faircash\": 2,"),
                "unsupported-version",
                "version 2",
            ),
            njs(
                "json-scalar-ell",
                "withdraw-challenge",
                replace_once(&ch_json, &hex::encode(self.w4.challenge.e.as_bytes()), &hex::encode(ELL)),
                "non-canonical-scalar",
                "e = ℓ",
            ),
            njs(
                "json-invalid-point",
                "user-registration",
                replace_once(
                    &reg_json,
                    &hex::encode(self.user_reg.identity.as_bytes()),
                    &hex::encode(BAD_POINT),
                ),
                "invalid-point",
                "I is not a point",
            ),
            njs(
                "json-identity",
                "user-registration",
                replace_once(
                    &reg_json,
                    &hex::encode(self.user_reg.identity.as_bytes()),
                    &hex::encode([0u8; 32]),
                ),
                "identity-point",
                "I = O",
            ),
            njs(
                "json-bad-hex",
                "user-registration",
                replace_once(&reg_json, &hex::encode(self.user_reg.identity.as_bytes()), "zz"),
                "malformed",
                "not hex",
            ),
            njs(
                "json-short-hex",
                "user-registration",
                replace_once(
                    &reg_json,
                    &hex::encode(self.user_reg.identity.as_bytes()),
                    &hex::encode(&self.user_reg.identity.as_bytes()[..31]),
                ),
                "malformed",
                "31 bytes where a point takes 32",
            ),
            njs(
                "json-number-as-string",
                "payment-request",
                replace_once(&self.pay_request.to_json(), "\"amount\": 7,", "\"amount\": \"7\","),
                "malformed",
                "an integer given as a string",
            ),
            njs(
                "json-case-id-too-long",
                "warrant",
                replace_once(
                    &self.owner.warrant.to_json(),
                    &format!("\"{}\"", self.owner.warrant.case_id),
                    &format!("\"{}\"", "c".repeat(129)),
                ),
                "too-many",
                "case id of 129 bytes (> 128)",
            ),
        ]);

        // Verification.
        let mut ks = self.keyset.clone();
        ks.signature.s += Scalar::ONE;
        let mut ks_wrong_master = self.keyset.clone();
        ks_wrong_master.document.master_key = self.judge;
        let mut ks_shared_key = self.keyset.clone();
        ks_shared_key.document.signing_key = ks_shared_key.document.master_key;
        let mut ks_bad_key = self.keyset.clone();
        ks_bad_key.document.keys[1].z = ks_bad_key.document.keys[0].z;
        let reg_other = UserRegistration { identity: self.merchant_key, ..self.user_reg.clone() };
        let reg_other_auth = UserRegistration { auth_key: self.merchant_key, ..self.user_reg.clone() };
        let mut commitment_changed = self.w4.commitment;
        commitment_changed.commitment.b1 = commitment_changed.commitment.b2;
        let mut challenge_changed = self.w4.challenge;
        challenge_changed.e += Scalar::ONE;
        let mut reserve_changed = self.reserve.clone();
        reserve_changed.operation = match reserve_changed.operation {
            AccountOperation::ReserveWithdrawal { reservation, .. } => {
                AccountOperation::ReserveWithdrawal { reservation, amount: 4 }
            }
            other => other,
        };
        let rekey_swapped = RekeyRequest { new_auth_key: self.merchant_key, ..self.rekey.clone() };
        let mut req = self.w4.request.clone();
        req.expiry = req.expiry.plus(1);
        let mut bad_coin = self.coin;
        bad_coin.signature.mu += Scalar::ONE;
        let mut p_resp = self.payment.clone();
        p_resp.responses[1].u += Scalar::ONE;
        let mut p_amount = self.payment.clone();
        p_amount.request.amount = 8;
        let mut p_day = self.payment.clone();
        p_day.request.day = p_day.request.day.plus(31);
        let mut p_dup = self.payment.clone();
        p_dup.coins[1] = p_dup.coins[0];
        let mut dep = self.deposit.clone();
        dep.request_id[0] ^= 1;
        let mut receipt = self.receipt.clone();
        receipt.outcomes[0].outcome = DepositOutcome::Duplicate;
        receipt.credited -= self.receipt.outcomes[0].outcome.credited();
        let same_spend = DoubleSpendEvidence {
            coin_id: self.payment.coins[2].id(),
            first: self.payment.clone(),
            first_index: 2,
            second: self.payment.clone(),
            second_index: 2,
        };
        let mut warrant = self.owner.warrant.clone();
        warrant.reason.push('!');
        let mut result_tampered = self.owner_result.clone();
        result_tampered.plaintext = Point::new(result_tampered.plaintext.point() + Params::get().g.point());
        let mut result_resigned = result_tampered.clone();
        result_resigned.signature = self.ttp_signing.sign(
            labels::TRACE_RESULT_SIGNATURE,
            &result_resigned.digest(),
            &mut seeded("negative"),
        );
        let mut watch = self.watch_list.clone();
        watch.issued = watch.issued.plus_secs(1);
        let mut entries = self.log_entries.clone();
        entries[0].time = entries[0].time.plus_secs(1);
        let _ = &self.ttp_public;
        let mut st_tampered = self.ttp_statement.clone();
        st_tampered.statement.validity.escrow_until = st_tampered.statement.validity.escrow_until.plus(365);
        let other_signer = GroupSigningKey::generate(&mut seeded("negative-ttp"));
        let mut st_other = self.ttp_statement.clone();
        st_other.signature = other_signer.sign(
            labels::TTP_KEY_STATEMENT_SIGNATURE,
            &st_other.statement.digest(),
            &mut seeded("negative-ttp"),
        );
        let mut st_shares = self.ttp_statement.clone();
        st_shares.statement.trustees[0].verification_share = self.ttp_statement.statement.signing_key;
        st_shares.signature = self.ttp_signing.sign(
            labels::TTP_KEY_STATEMENT_SIGNATURE,
            &st_shares.statement.digest(),
            &mut seeded("negative-ttp"),
        );

        let verify = vec![
            nv(
                "ttp-statement-tampered",
                "ttp-statement",
                &st_tampered,
                "Signature",
                "escrow_until + 365 after signing: the bank cannot stretch the TTP key's validity",
            ),
            nv(
                "ttp-statement-other-signer",
                "ttp-statement",
                &st_other,
                "Signature",
                "signed by another key than the signing key it names",
            ),
            nv(
                "ttp-statement-shares",
                "ttp-statement",
                &st_shares,
                "InconsistentShares",
                "the one trustee's verification share is not Y_T (t = 1 of 1), signed by the TTP",
            ),
            nv("keyset-signature", "keyset", &ks, "BadSignature", "s + 1"),
            nv(
                "keyset-other-master",
                "keyset",
                &ks_wrong_master,
                "WrongMasterKey",
                "the document names another master key than the trusted one",
            ),
            nv(
                "keyset-shared-signing-key",
                "keyset",
                &ks_shared_key,
                "SharedSigningKey",
                "the online signing key is the master key",
            ),
            nv("keyset-key-z", "keyset", &ks_bad_key, "MalformedKey", "z of key 1 is not its derivation"),
            nv(
                "registration-other-identity",
                "user-registration",
                &reg_other,
                "InvalidProof",
                "the user's proof under another identity",
            ),
            nv(
                "registration-other-auth-key",
                "user-registration",
                &reg_other_auth,
                "InvalidProof",
                "another authentication key than the one the proof shows possession of",
            ),
            nv(
                "withdraw-commitment-changed",
                "withdraw-commitment",
                &commitment_changed,
                "CommitmentSignature",
                "b1 replaced by b2 after the bank signed (withdrawal of value 4)",
            ),
            nv(
                "withdraw-challenge-changed",
                "withdraw-challenge",
                &challenge_changed,
                "InvalidProof",
                "e + 1 after the authentication key signed (withdrawal of value 4)",
            ),
            nv(
                "account-request-changed",
                "account-request",
                &reserve_changed,
                "InvalidProof",
                "the reserved amount changed from 3 to 4 after signing (account.json)",
            ),
            nv(
                "rekey-request-other-auth-key",
                "rekey-request",
                &rekey_swapped,
                "InvalidProof",
                "another authentication key than the proof's (account.json)",
            ),
            nv(
                "withdraw-proof-expiry",
                "withdraw-request",
                &req,
                "InvalidProof",
                "t + 1: pi_W is bound to t",
            ),
            nv("coin-signature", "coin", &bad_coin, "VerifyError", "mu + 1"),
            nv("payment-response", "payment", &p_resp, "Proofs", "z_u of coin 1 plus 1"),
            nv("payment-amount", "payment", &p_amount, "AmountMismatch", "amount 8 for coins worth 7"),
            nv(
                "payment-day",
                "payment",
                &p_day,
                "RangeProof",
                "the day moved past the coins' expiry (the range proof no longer holds)",
            ),
            nv("payment-duplicate-coin", "payment", &p_dup, "DuplicateCoin", "coin 1 is coin 0 again"),
            nv("deposit-signature", "deposit", &dep, "InvalidProof", "request id changed after signing"),
            nv(
                "receipt-altered",
                "receipt",
                &receipt,
                "BadReceipt",
                "the first coin's outcome made a duplicate and the total lowered to match: the bank's signature fails",
            ),
            nv("evidence-same-spend", "evidence", &same_spend, "BadEvidence", "one spend twice: c = c'"),
            nv("warrant-signature", "warrant", &warrant, "WarrantSignature", "reason changed after signing"),
            nv("trace-result-signature", "trace-result", &result_tampered, "ResultSignature", "X + G"),
            nv(
                "trace-result-proof",
                "trace-result",
                &result_resigned,
                "ResultProof",
                "X + G, signed again by the TTP key: the decryption proof fails",
            ),
            nv("watch-list-signature", "watch-list", &watch, "VerifyError", "issued + 1"),
            obj! {
                "name" => "log-edited-entry",
                "type" => "trace-log-entry",
                "form" => "binary",
                "entries" => J::Arr(entries.iter().map(|e| hx(e.to_bytes())).collect()),
                "head" => hx(self.log_head.to_bytes()),
                "expect" => obj! { "verify" => "log", "error" => "Link" },
                "why" => "entry 0's time changed: entry 1 no longer names its hash",
            },
        ];

        obj! {
            "description" => "Inputs that must be refused. decode: the decoder of \"type\" refuses the bytes \
                               (form binary) or the JSON text (form json) with DecodeError::kind() = expect.decode. \
                               verify: the bytes decode, and the check expect.verify refuses them with the error \
                               variant expect.error (see README.md). Public keys and context come from the other \
                               files.",
            "decode" => J::Arr(decode),
            "verify" => J::Arr(verify),
        }
    }
}

fn render(j: &J) -> String {
    let mut s = serde_json::to_string_pretty(j).unwrap();
    s.push('\n');
    s
}

#[test]
fn vectors_are_reproduced_byte_for_byte() {
    let generated = generate();
    let dir = vectors_dir();
    let regenerate = regenerating();
    let mut stale = Vec::new();
    for (name, j) in &generated.files {
        let text = render(j);
        let path = dir.join(name);
        if regenerate {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == text => {}
            _ => stale.push(name.to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "the code no longer reproduces {stale:?}; if the change is intended, run \
         `FAIRCASH_REGENERATE_VECTORS=1 cargo test --test vectors` and review the diff"
    );
    // Every vector file is generated (no stale files left behind).
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let expected: Vec<String> = generated.files.keys().map(|k| k.to_string()).collect();
    assert_eq!(on_disk, expected);
}

/// The seeded generator is deterministic: two runs give the same files.
#[test]
fn generation_is_deterministic() {
    let a = generate();
    let b = generate();
    for (name, j) in &a.files {
        assert_eq!(render(j), render(&b.files[name]), "{name}");
    }
}

/// A payment mixing two keysets (§8.2: each coin's keyset id is absorbed
/// with the coin; §8.4: each coin is verified under its own keyset): the
/// independent verifier draws the same challenges as the library, and
/// both refuse the payment once a coin's keyset id is swapped for the
/// other keyset's (with its key of the same value), which changes the
/// transcript only through that coin.
#[test]
fn a_payment_mixing_keysets_verifies_independently_and_binds_each_coins_keyset() {
    let clock = ManualClock::new(Timestamp(u64::from(DAY.0) * 86_400 + TIME_OF_DAY));
    let mut rng = seeded("mixed keysets");
    let ttp_keys = TtpKeys::generate(&mut rng);
    let bank = Bank::open(
        MemoryBankStore::new(),
        BankSecrets::generate(&mut rng),
        Arc::new(clock),
        BankConfig::default(),
    )
    .unwrap();
    let first = bank.issue_keyset(*ttp_keys.decryption.public(), &keyset_spec(), &mut rng).unwrap();
    let user_keys = AccountKeys::generate(&mut rng);
    let user_id = bank.register_user(&UserRegistration::new(&user_keys, &mut rng), &mut rng).unwrap();
    bank.fund(&user_id, 10).unwrap();
    let withdraw = |keyset: &Keyset, value: u64, rng: &mut ChaCha20Rng| {
        let start = WithdrawStart::new(&user_keys, keyset, value, DAY, rng).unwrap();
        let commitment = bank.open_withdrawal(start.request(), rng).unwrap();
        let pending = start.receive_commitment(&user_keys, &commitment, rng).unwrap();
        let answer = bank.answer_withdrawal(&pending.challenge()).unwrap();
        pending.finish(&answer).unwrap()
    };
    let four = withdraw(&first, 4, &mut rng);
    let second = bank.issue_keyset(*ttp_keys.decryption.public(), &keyset_spec(), &mut rng).unwrap();
    let one = withdraw(&second, 1, &mut rng);
    let merchant = SigningKey::generate(&mut rng);
    let request = PaymentRequest::new(
        faircash::keys::merchant_account_id(merchant.public()),
        *merchant.public(),
        5,
        DAY,
        order_digest(b"two keysets"),
        &mut rng,
    );
    let both = [first.clone(), second.clone()];
    let payment =
        create_payment(&request, &both[..], user_keys.identity(), &[&four, &one], &mut rng).unwrap();
    assert_eq!(payment.keyset_ids(), [first.id(), second.id()]);
    let summary = verify_payment(&payment, &both[..], &mut OsRng).unwrap();
    assert_eq!(independent::verify_payment(&payment, &[&first, &second]), Some(summary.challenges));
    // Either keyset alone does not verify it.
    assert!(independent::verify_payment(&payment, &[&first]).is_none());
    assert!(independent::verify_payment(&payment, &[&second]).is_none());

    let mut swapped = payment.clone();
    swapped.coins[1].body.keyset_id = first.id();
    swapped.coins[1].body.key_id = first.key_for_value(1).unwrap().key_id;
    assert!(independent::verify_payment(&swapped, &[&first, &second]).is_none());
    assert!(verify_payment(&swapped, &both[..], &mut OsRng).is_err());
}

// ---------------------------------------------------------------------------
// Verification from the files alone
// ---------------------------------------------------------------------------

fn regenerating() -> bool {
    std::env::var("FAIRCASH_REGENERATE_VECTORS").is_ok_and(|v| v == "1")
}

/// A vector file. While the files are being rewritten, the verification
/// reads what is being written (the same text), not a half-written file.
fn load(name: &str) -> Value {
    static FRESH: std::sync::OnceLock<BTreeMap<&'static str, String>> = std::sync::OnceLock::new();
    let text = if regenerating() {
        let fresh = FRESH.get_or_init(|| generate().files.iter().map(|(k, j)| (*k, render(j))).collect());
        fresh[name].clone()
    } else {
        std::fs::read_to_string(vectors_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"))).unwrap()
}

fn b16(v: &Value) -> [u8; 16] {
    bytes(v).try_into().unwrap()
}

fn b32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

fn point(v: &Value) -> Point {
    Point::from_bytes(&b32(v)).expect("a point")
}

fn scalar(v: &Value) -> Scalar {
    Option::from(Scalar::from_canonical_bytes(b32(v))).expect("a canonical scalar")
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Decodes a message entry (`type`, `hex`, optional `json`); the JSON form,
/// where given, must decode to the same message.
fn msg<T: WireMessage>(v: &Value) -> T {
    assert_eq!(v["type"], T::KIND.name());
    let b = bytes(&v["hex"]);
    let t = T::from_bytes(&b).unwrap_or_else(|e| panic!("{}: {e}", T::KIND.name()));
    assert_eq!(t.to_bytes(), b, "{}: decoding is not canonical", T::KIND.name());
    if let Some(j) = v.get("json") {
        let from_json = T::from_json(j.as_str().unwrap()).unwrap();
        assert_eq!(from_json.to_bytes(), b, "{}: JSON and binary forms differ", T::KIND.name());
        assert_eq!(t.to_json(), j.as_str().unwrap());
    }
    t
}

/// Decodes bytes (or JSON text) as the message type named `kind`.
fn decode_as(kind: &str, form: &str, input: &str) -> Result<(), DecodeError> {
    macro_rules! dispatch {
        ($($t:ty),* $(,)?) => {
            $(
                if kind == <$t as WireMessage>::KIND.name() {
                    return match form {
                        "binary" => <$t>::from_bytes(&hex::decode(input).unwrap()).map(drop),
                        "json" => <$t>::from_json(input).map(drop),
                        other => panic!("form {other}"),
                    };
                }
            )*
        };
    }
    dispatch!(
        SignedKeyset,
        KeysetList,
        PublicKeyFile,
        UserRegistration,
        MerchantRegistration,
        WithdrawRequest,
        WithdrawCommitment,
        WithdrawChallenge,
        WithdrawAnswer,
        Coin,
        PaymentRequest,
        Payment,
        DepositRequest,
        DepositReceipt,
        DoubleSpendEvidence,
        WalletCoin,
        PendingWithdrawal,
        Warrant,
        TraceRequest,
        TraceResult,
        LogEntry,
        LogHead,
        WatchList,
        TraceRecord,
        SignedTtpKeyStatement,
        TtpStatementList,
        AccountOpened,
        EvidenceList,
        AccountRequest,
        AccountAnswer,
        RekeyRequest,
    );
    panic!("unknown message type {kind}")
}

/// The variant name of an error, from its `Debug` form.
fn variant<E: std::fmt::Debug>(e: &E) -> String {
    let s = format!("{e:?}");
    s.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap().to_string()
}

/// What the files say, decoded and verified.
/// A single TTP's result: its log index and decryption proof.
fn single(r: &TraceResult) -> (u64, &faircash::crypto::schnorr::Proof) {
    match &r.decryption {
        Decryption::Single { log_index, proof } => (*log_index, proof),
        Decryption::Threshold { .. } => panic!("a single TTP's result"),
    }
}

struct Public {
    master: Point,
    keyset: Keyset,
    merchant_key: Point,
    judge: Point,
    ttp: TtpPublicKeys,
    ttp_statement: TtpKeyStatement,
    receipt_day: Day,
    now: Timestamp,
    owner_record: TraceRecord,
    owner_warrant: Warrant,
}

fn check_params() {
    let v = load("params.json");
    let p = Params::get();
    let mut points = Vec::new();
    for g in v["generators"].as_array().unwrap() {
        let name = g["name"].as_str().unwrap();
        let expected = match name {
            "G" => curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT,
            "B~" => independent::b_blinding(),
            _ => RistrettoPoint::hash_from_bytes::<Sha512>(g["label"].as_str().unwrap().as_bytes()),
        };
        assert_eq!(point(&g["hex"]).point(), &expected, "{name}");
        points.push((name.to_string(), expected));
    }
    let id = independent::params_id(&points, num(&v["range_bits"]), num(&v["max_coins"]));
    assert_eq!(id, b32(&v["params_id"]));
    assert_eq!(id, *p.id.as_bytes(), "the library's params_id");
}

fn check_keysets() -> (Point, Keyset) {
    let v = load("keyset.json");
    let master = point(&v["master_key"]);
    let file: PublicKeyFile = msg(&v["master_key_file"]);
    assert_eq!((file.purpose.as_str(), file.key), ("bank-master", master));
    let statement: SignedTtpKeyStatement = msg(&v["ttp_statement"]);
    statement.verify().unwrap();
    // The statement digest (tracing.md §1.1) and its RFC 9591 signature
    // (§1.3), recomputed without the library.
    assert_eq!(independent::statement_digest(&statement.statement), b32(&v["ttp_statement_digest"]));
    assert!(independent::verify_group_signature(
        b"faircash/v1/ttp-key-statement-signature",
        &b32(&v["ttp_statement_digest"]),
        &statement.statement.signing_key,
        &statement.signature
    ));
    let signed: SignedKeyset = msg(&v["signed_keyset"]);
    let keyset = signed.verify(&master).unwrap();
    assert_eq!(keyset.id().as_bytes(), &b32(&v["keyset_id"]));
    // The ids and z_k from specs/protocol.md §4.1–§4.2, and the signature
    // (§3.4), recomputed without the library.
    assert_eq!(independent::keyset_id(&signed), b32(&v["keyset_id"]));
    for (k, kv) in signed.document.keys.iter().zip(v["keys"].as_array().unwrap()) {
        let (key_id, z) = independent::key_id_and_z(&signed.document.params_id.0, k);
        assert_eq!(&key_id, k.key_id.as_bytes());
        assert_eq!(&z, k.z.point());
        assert_eq!(hex::encode(key_id), kv["key_id"].as_str().unwrap());
        assert_eq!(num(&kv["value"]), k.value);
        assert_eq!(point(&kv["y"]), k.y);
    }
    assert!(independent::verify_signature(
        b"faircash/v1/keyset-signature",
        &b32(&v["keyset_id"]),
        &master,
        &signed.signature
    ));
    let list: KeysetList = msg(&v["keyset_list"]);
    let chain = list.verify(&master).unwrap();
    let ids: Vec<[u8; 32]> = chain.iter().map(|k| k.id().0).collect();
    let listed: Vec<[u8; 32]> = v["keyset_ids"].as_array().unwrap().iter().map(b32).collect();
    assert_eq!(ids, listed);
    assert_eq!(chain[1].document().previous, Some(chain[0].id()));
    // Each keyset's online signing key from its secret (given so that
    // receipts can be signed again).
    let online = v["inputs"]["online_secrets"].as_array().unwrap();
    assert_eq!(online.len(), chain.len());
    for (k, x) in chain.iter().zip(online) {
        let public = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT * scalar(x);
        assert_eq!(Point::new(public), *k.signing_key());
    }
    (master, keyset)
}

fn check_proofs(p: &Public) {
    let v = load("proofs.json");
    let r = &v["user_registration"];
    let reg: UserRegistration = msg(&r["message"]);
    let opened: AccountOpened = msg(&r["answer"]);
    assert_eq!(opened.account.as_bytes(), &bytes(&r["account_id"])[..]);
    assert_eq!(reg.identity, point(&r["identity"]));
    assert_eq!(reg.auth_key, point(&r["auth_key"]));
    assert_eq!(reg.verify(&mut OsRng).unwrap().as_bytes(), &bytes(&r["account_id"])[..]);
    assert!(independent::verify_account_keys(
        independent::user_registration_transcript(),
        &reg.identity,
        &reg.auth_key,
        &reg.proof
    ));
    // The secrets given are those of the keys.
    assert_eq!(G * scalar(&r["user_secret"]), *reg.identity.point());
    assert_eq!(G * scalar(&r["auth_secret"]), *reg.auth_key.point());
    assert_eq!(
        independent::account_id(b"faircash/v1/user-account-id", &reg.identity)[..],
        bytes(&r["account_id"])
    );
    let r = &v["merchant_registration"];
    let mreg: MerchantRegistration = msg(&r["message"]);
    let opened: AccountOpened = msg(&r["answer"]);
    assert_eq!(opened.account.as_bytes(), &bytes(&r["account_id"])[..]);
    assert_eq!(mreg.key, p.merchant_key);
    assert_eq!(mreg.verify(&mut OsRng).unwrap().as_bytes(), &bytes(&r["account_id"])[..]);
    assert!(independent::verify_registration(b"faircash/v1/merchant-registration", &mreg.key, &mreg.proof));
    assert_eq!(
        independent::account_id(b"faircash/v1/merchant-account-id", &mreg.key)[..],
        bytes(&r["account_id"])
    );
    // A user proof is not a merchant proof.
    assert!(!independent::verify_registration(
        b"faircash/v1/merchant-registration",
        &reg.identity,
        &reg.proof
    ));

    let w = &v["withdraw_proof"];
    let req: WithdrawRequest = msg(&w["request"]);
    let identity = point(&w["identity"]);
    req.verify_proof(&identity, &p.keyset, &mut OsRng).unwrap();
    assert!(independent::verify_withdraw_proof(&req, &identity, &point(&w["ttp_key"])));

    let s = &v["spend_proof"];
    let coin: Coin = msg(&s["coin"]);
    let responses: Vec<Scalar> = s["responses"].as_array().unwrap().iter().map(scalar).collect();
    assert!(independent::spend_equations_hold(
        &coin,
        &point(&s["z_k"]),
        &point(&s["ttp_key"]),
        &scalar(&s["challenge"]),
        &responses
    ));
    let mut wrong = responses.clone();
    wrong[3] += Scalar::ONE;
    assert!(!independent::spend_equations_hold(
        &coin,
        &point(&s["z_k"]),
        &point(&s["ttp_key"]),
        &scalar(&s["challenge"]),
        &wrong
    ));

    let s = &v["schnorr_signature"];
    let sig = Signature { r: point(&s["R"]), s: scalar(&s["s"]) };
    assert_eq!(point(&s["public_key"]), p.master);
    sig.verify(labels::KEYSET_SIGNATURE, &bytes(&s["message"]), &p.master).unwrap();
    assert!(independent::verify_signature(
        s["domain"].as_str().unwrap().as_bytes(),
        &bytes(&s["message"]),
        &p.master,
        &sig
    ));

    let t = &v["trace_decryption"];
    assert_eq!(point(&t["Y_T"]), p.ttp.decryption);
    let commitments: Vec<Point> = t["commitments"].as_array().unwrap().iter().map(point).collect();
    let responses: Vec<Scalar> = t["responses"].as_array().unwrap().iter().map(scalar).collect();
    assert!(independent::verify_decryption(
        &point(&t["Y_T"]),
        &point(&t["c1"]),
        &point(&t["c2"]),
        &point(&t["X"]),
        &b32(&t["record_digest"]),
        &b32(&t["warrant_digest"]),
        num(&t["log_index"]),
        &commitments,
        &responses,
    ));
    // Bound to its log position.
    assert!(!independent::verify_decryption(
        &point(&t["Y_T"]),
        &point(&t["c1"]),
        &point(&t["c2"]),
        &point(&t["X"]),
        &b32(&t["record_digest"]),
        &b32(&t["warrant_digest"]),
        num(&t["log_index"]) + 1,
        &commitments,
        &responses,
    ));
}

fn check_withdrawals(p: &Public) -> Vec<Coin> {
    let v = load("withdrawal.json");
    let identity = point(&v["user"]["identity"]);
    let mut coins = Vec::new();
    let mut values = Vec::new();
    for w in v["withdrawals"].as_array().unwrap() {
        let req: WithdrawRequest = msg(&w["request"]);
        let com: WithdrawCommitment = msg(&w["commitment"]);
        let ch: WithdrawChallenge = msg(&w["challenge"]);
        let ans: WithdrawAnswer = msg(&w["answer"]);
        let _: PendingWithdrawal = msg(&w["pending_withdrawal"]);
        let wallet_coin: WalletCoin = msg(&w["wallet_coin"]);
        let coin: Coin = msg(&w["coin"]);
        assert_eq!(wallet_coin.coin, coin);
        assert_eq!(wallet_coin.value, num(&w["value"]));
        assert_eq!(coin.id().as_bytes(), &b32(&w["coin_id"]));
        for id in [com.session_id, ch.session_id, ans.session_id] {
            assert_eq!(id, req.session_id);
        }
        assert_eq!(req.account.as_bytes(), &bytes(&v["user"]["account_id"])[..]);
        assert_eq!(req.keyset_id, p.keyset.id());
        // pi_W, the bank's signed commitment and the wallet's authorized
        // challenge naming it, then the wallet's checks of the answer
        // (§5.6), then the coin.
        req.verify_proof(&identity, &p.keyset, &mut OsRng).unwrap();
        assert!(independent::verify_withdraw_proof(&req, &identity, p.keyset.ttp_key()));
        assert_eq!(independent::request_digest(&req), b32(&w["request_digest"]));
        assert_eq!(req.digest(), b32(&w["request_digest"]));
        let digest = independent::commitment_digest(&req, &com);
        assert_eq!(digest, b32(&w["commitment_digest"]));
        assert_eq!(ch.commitment_digest, digest);
        let signing_key = point(&v["signing_key"]);
        assert_eq!(&signing_key, p.keyset.signing_key());
        com.verify(&req, &signing_key).unwrap();
        assert!(independent::verify_signature(
            b"faircash/v1/withdraw-commitment-signature",
            &digest,
            &signing_key,
            &com.signature
        ));
        let auth_key = point(&v["user"]["auth_key"]);
        ch.verify_authorization(&req.account, &auth_key).unwrap();
        assert!(independent::verify_challenge_authorization(&ch, &req.account.0, &auth_key));
        // Not by u: the identity key does not authorize.
        assert!(!independent::verify_challenge_authorization(&ch, &req.account.0, &identity));
        let key = p.keyset.key(&req.key_id).unwrap();
        assert_eq!(key.value, num(&w["value"]));
        assert!(independent::answer_is_valid(&req.commitment, key, &com, &ch.e, &ans));
        assert_eq!(coin.body.key_id, req.key_id);
        assert_eq!(independent::coin_id(&coin), b32(&w["coin_id"]));
        coin.signature.verify(&key.acl(), coin.id().as_bytes()).unwrap();
        assert!(independent::acl_signature_holds(&coin, key));
        // The expiry is the policy's.
        assert_eq!(num(&w["expiry"]), u64::from(req.expiry.0));
        assert_eq!(req.expiry, Day(num(&v["day"]) as u32).plus(p.keyset.policy().validity_days));
        values.push(key.value);
        coins.push(coin);
    }
    values.sort_unstable();
    values.dedup();
    assert!(values.len() >= 2, "two denominations at least");

    let c = load("coin.json");
    let coin: Coin = msg(&c["coin"]);
    assert_eq!(independent::coin_id(&coin), b32(&c["coin_id"]));
    assert!(coins.contains(&coin));
    let key = p.keyset.key(&coin.body.key_id).unwrap();
    assert_eq!(key.value, num(&c["value"]));
    assert!(independent::acl_signature_holds(&coin, key));
    assert_eq!(
        independent::fixed_layout_coin(&hex::decode(c["coin"]["hex"].as_str().unwrap()).unwrap()),
        coin
    );
    coins
}

fn check_payment(p: &Public, withdrawn: &[Coin]) -> Payment {
    let v = load("payment.json");
    let request: PaymentRequest = msg(&v["request"]);
    let payment: Payment = msg(&v["payment"]);
    assert_eq!(payment.request, request);
    assert_eq!(request.id(), b32(&v["request_id"]));
    assert_eq!(request.order_digest, order_digest(v["order"].as_str().unwrap().as_bytes()));
    assert_eq!(request.order_digest, independent::order_digest(v["order"].as_str().unwrap().as_bytes()));
    assert_eq!(request.merchant_key, p.merchant_key);
    assert_eq!(payment.digest(), b32(&v["payment_digest"]));
    assert_eq!(payment.coins.len(), 3);
    let summary = verify_payment(&payment, &p.keyset, &mut OsRng).unwrap();
    let challenges = independent::verify_payment(&payment, &[&p.keyset]).expect("independent verification");
    assert_eq!(challenges, summary.challenges);
    for (i, c) in v["coins"].as_array().unwrap().iter().enumerate() {
        assert_eq!(summary.coin_ids[i].as_bytes(), &b32(&c["coin_id"]));
        assert_eq!(summary.values[i], num(&c["value"]));
        assert_eq!(challenges[i], scalar(&c["challenge"]));
        assert!(withdrawn.contains(&payment.coins[i]));
    }
    payment
}

fn check_deposits(p: &Public, payment: &Payment) {
    let v = load("deposit.json");
    let keysets = [p.keyset.clone()];
    let first: DepositRequest = msg(&v["first"]["request"]);
    assert_eq!(first.payments, std::slice::from_ref(payment));
    let verified = verify_deposit(&first, &p.merchant_key, &keysets, p.receipt_day, &mut OsRng).unwrap();
    assert!(matches!(verified.verdicts[..], [PaymentVerdict::Verified(_)]));
    assert!(independent::verify_deposit_signature(&first, &p.merchant_key));
    assert_eq!(point(&v["signing_key"]), *p.keyset.signing_key());
    let receipt: DepositReceipt = msg(&v["first"]["receipt"]);
    assert_eq!((receipt.request_id, receipt.merchant_id), (first.request_id, first.merchant_id));
    let digest = independent::deposit_request_digest(&first);
    assert_eq!(digest, b32(&v["first"]["request_digest"]));
    assert_eq!((receipt.request_digest, first.digest()), (digest, digest));
    // Pruning (§9.5), from the keyset's policy and the receipt day.
    let pruning = &v["pruning"];
    let policy = p.keyset.policy();
    assert_eq!(num(&pruning["receipt_day"]), u64::from(p.receipt_day.0));
    assert_eq!(num(&pruning["validity_days"]), u64::from(policy.validity_days));
    assert_eq!(num(&pruning["max_deposit_delay_days"]), u64::from(policy.max_deposit_delay_days));
    let prune_after = independent::prune_after(
        u64::from(p.receipt_day.0),
        u64::from(policy.validity_days),
        u64::from(policy.max_deposit_delay_days),
    );
    assert_eq!(num(&pruning["prune_after"]), prune_after);
    let decisions = pruning["decisions"].as_array().unwrap();
    assert!(decisions.iter().any(|d| d["prune"] == "yes") && decisions.iter().any(|d| d["prune"] == "no"));
    for d in decisions {
        let prune = num(&d["today"]) > prune_after;
        assert_eq!(d["prune"], if prune { "yes" } else { "no" }, "{d}");
        assert_eq!(num(&d["records_left"]), if prune { 0 } else { first.coin_count() as u64 }, "{d}");
    }
    assert_eq!(receipt.credited, 7);
    assert_eq!(receipt.payments, [PaymentOutcome::Verified]);
    assert!(receipt.outcomes.iter().all(|o| matches!(o.outcome, DepositOutcome::Credited { .. })));
    assert_eq!(receipt.keyset_id, p.keyset.id());
    assert!(independent::verify_receipt_signature(&bytes(&v["first"]["receipt"]["hex"]), &p.keyset));
    receipt.verify(&first, &keysets).unwrap();

    let s = &v["second"];
    let request: PaymentRequest = msg(&s["payment_request"]);
    assert_eq!(request.order_digest, independent::order_digest(s["order"].as_str().unwrap().as_bytes()));
    let again: Payment = msg(&s["payment"]);
    assert_eq!(again.request, request);
    let challenges = independent::verify_payment(&again, &[&p.keyset]).unwrap();
    assert_eq!(challenges, [scalar(&s["challenge"])]);
    let second: DepositRequest = msg(&s["request"]);
    assert_ne!(second.digest(), first.digest());
    let verified = verify_deposit(&second, &p.merchant_key, &keysets, p.receipt_day, &mut OsRng).unwrap();
    assert!(matches!(verified.verdicts[..], [PaymentVerdict::Verified(_)]));
    assert!(independent::verify_deposit_signature(&second, &p.merchant_key));
    let receipt: DepositReceipt = msg(&s["receipt"]);
    assert_eq!(receipt.request_digest, independent::deposit_request_digest(&second));
    assert_eq!(receipt.request_digest, b32(&s["request_digest"]));
    assert!(independent::verify_receipt_signature(&bytes(&s["receipt"]["hex"]), &p.keyset));
    receipt.verify(&second, &keysets).unwrap();
    assert_eq!(receipt.credited, 0);
    let account = faircash::keys::AccountId(bytes(&v["extracted"]["account_id"]).try_into().unwrap());
    assert_eq!(receipt.outcomes[0].outcome, DepositOutcome::DoubleSpent { account: Some(account) });
    assert_eq!(receipt.outcomes[0].coin_id, again.coins[0].id());

    let evidence: DoubleSpendEvidence = msg(&v["evidence"]);
    let list: EvidenceList = msg(&v["evidence_list"]);
    assert_eq!(list.items, [EvidenceItem { seq: 1, evidence: evidence.clone(), account: Some(account) }]);
    assert_eq!((list.cursor, list.more), (1, false));
    let who = evidence.verify(&p.keyset, &mut OsRng).unwrap();
    assert_eq!(who.identity, point(&v["extracted"]["identity"]));
    assert_eq!(who.account, account);
    // Extraction by hand (§9.4): u = (z_u - z_u')/(c - c').
    let c1 =
        independent::verify_payment(&evidence.first, &[&p.keyset]).unwrap()[evidence.first_index as usize];
    let c2 =
        independent::verify_payment(&evidence.second, &[&p.keyset]).unwrap()[evidence.second_index as usize];
    let (r1, r2) = (
        &evidence.first.responses[evidence.first_index as usize],
        &evidence.second.responses[evidence.second_index as usize],
    );
    let u = (r1.u - r2.u) * (c1 - c2).invert();
    assert_eq!(u, scalar(&v["extracted"]["u"]));
    assert_eq!(Point::new(Params::get().g.point() * u), who.identity);
    assert_eq!(independent::account_id(b"faircash/v1/user-account-id", &who.identity), account.0);
}

fn check_traces(p: &Public) {
    let v = load("trace.json");
    let judge_file: PublicKeyFile = msg(&v["judge"]["key_file"]);
    assert_eq!(judge_file.key, p.judge);
    let statement: SignedTtpKeyStatement = msg(&v["ttp_statement"]);
    assert_eq!(statement.statement.public_keys(), p.ttp);
    for kind in ["owner", "coin"] {
        let t = &v[kind];
        let record: TraceRecord = msg(&t["record"]);
        let warrant: Warrant = msg(&t["warrant"]);
        let request: TraceRequest = msg(&t["request"]);
        let result: TraceResult = msg(&t["result"]);
        assert_eq!((&request.record, &request.warrant), (&record, &warrant));
        assert_eq!(request.digest(), b32(&t["request_digest"]));
        assert_eq!(independent::trace_request_digest(&request), b32(&t["request_digest"]));
        assert_eq!(record.digest(), b32(&t["record_digest"]));
        assert_eq!(independent::record_digest(&record), b32(&t["record_digest"]));
        assert_eq!(warrant.digest(), b32(&t["warrant_digest"]));
        assert_eq!(independent::warrant_digest(&warrant), b32(&t["warrant_digest"]));
        // The warrant is in force and signed by the judge; the record verifies.
        warrant.authorize(&[p.judge], &record, p.now).unwrap();
        assert!(independent::verify_signature(
            b"faircash/v1/warrant-signature",
            &b32(&t["warrant_digest"]),
            &p.judge,
            &warrant.signature
        ));
        record.verify(&p.keyset, &mut OsRng).unwrap();
        let x = result.verify(&p.ttp_statement, &record, &warrant).unwrap();
        assert_eq!(x, point(&t["plaintext"]));
        assert_eq!(independent::result_digest(&result), result.digest());
        assert!(independent::verify_group_signature(
            b"faircash/v1/trace-result-signature",
            &result.digest(),
            &p.ttp.signing,
            &result.signature
        ));
        assert!(independent::verify_decryption(
            &p.ttp.decryption,
            &result.ciphertext.c1,
            &result.ciphertext.c2,
            &result.plaintext,
            &result.record_digest,
            &result.warrant_digest,
            single(&result).0,
            &single(&result).1.commitments,
            &single(&result).1.responses,
        ));
        match (kind, &record) {
            ("owner", TraceRecord::Owner { payment, coin_index }) => {
                assert_eq!(result.kind, TraceKind::Owner);
                assert_eq!(payment.coins[*coin_index as usize].body.escrow, result.ciphertext);
                assert_eq!(
                    independent::account_id(b"faircash/v1/user-account-id", &x)[..],
                    bytes(&v["owner_account_id"])
                );
            }
            ("coin", TraceRecord::Coin { request, .. }) => {
                assert_eq!(result.kind, TraceKind::Coin);
                assert_eq!(request.escrow, result.ciphertext);
            }
            _ => panic!("{kind}: wrong record"),
        }
    }
    let entries: Vec<LogEntry> = v["log"]["entries"].as_array().unwrap().iter().map(msg).collect();
    let head: LogHead = msg(&v["log"]["head"]);
    // The log records the owner trace, then the coin trace (tracing.md §6).
    let logged: Vec<[u8; 32]> = entries.iter().map(|e| e.request_digest).collect();
    assert_eq!(logged, [b32(&v["owner"]["request_digest"]), b32(&v["coin"]["request_digest"])]);
    for (e, h) in entries.iter().zip(v["log"]["entry_hashes"].as_array().unwrap()) {
        assert_eq!(e.hash(), b32(h));
        assert_eq!(independent::entry_hash(e), b32(h));
    }
    assert_eq!(verify_log(&entries, std::slice::from_ref(&head), &p.ttp.signing).unwrap(), head.hash);
    assert!(independent::verify_head(&head, &p.ttp.signing));
    let watch: WatchList = msg(&v["watch_list"]);
    watch.verify(&p.master).unwrap();
    assert!(independent::verify_watch_list(&watch, &p.master));
    assert_eq!(watch.serials, [point(&v["coin"]["plaintext"])]);
}

fn check_negatives(p: &Public) {
    let v = load("negative.json");
    let mut kinds = std::collections::BTreeSet::new();
    for n in v["decode"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let ty = n["type"].as_str().unwrap();
        let form = n["form"].as_str().unwrap();
        let input = match form {
            "binary" => n["hex"].as_str().unwrap(),
            _ => n["json"].as_str().unwrap(),
        };
        let expected = n["expect"]["decode"].as_str().unwrap();
        match decode_as(ty, form, input) {
            Ok(()) => panic!("{name}: decoded"),
            Err(e) => assert_eq!(e.kind(), expected, "{name}: {e}"),
        }
        kinds.insert(expected.to_string());
    }
    // Every kind of DecodeError has a vector.
    let all = [
        "truncated",
        "bad-magic",
        "unsupported-version",
        "wrong-kind",
        "too-large",
        "trailing-bytes",
        "non-canonical-encoding",
        "invalid-point",
        "non-canonical-scalar",
        "identity-point",
        "too-many",
        "invalid-field",
        "malformed",
    ];
    assert_eq!(kinds, all.iter().map(|s| s.to_string()).collect());

    let keysets = [p.keyset.clone()];
    for n in v["verify"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let expected = n["expect"]["error"].as_str().unwrap();
        let check = n["expect"]["verify"].as_str().unwrap();
        let entry = || serde_json::json!({ "type": n["type"], "hex": n["hex"] });
        let got = match check {
            "keyset" => variant(&msg::<SignedKeyset>(&entry()).verify(&p.master).unwrap_err()),
            "user-registration" => {
                variant(&msg::<UserRegistration>(&entry()).verify(&mut OsRng).unwrap_err())
            }
            "withdraw-commitment" => {
                let com: WithdrawCommitment = msg(&entry());
                let w4 = &load("withdrawal.json")["withdrawals"][2];
                let req: WithdrawRequest = msg(&w4["request"]);
                assert!(
                    !independent::verify_signature(
                        b"faircash/v1/withdraw-commitment-signature",
                        &independent::commitment_digest(&req, &com),
                        p.keyset.signing_key(),
                        &com.signature
                    ),
                    "{name}"
                );
                variant(&com.verify(&req, p.keyset.signing_key()).unwrap_err())
            }
            "withdraw-challenge" => {
                let ch: WithdrawChallenge = msg(&entry());
                let user = &load("withdrawal.json")["user"];
                let (account, auth_key) = (b16(&user["account_id"]), point(&user["auth_key"]));
                assert!(!independent::verify_challenge_authorization(&ch, &account, &auth_key), "{name}");
                variant(&ch.verify_authorization(&faircash::keys::AccountId(account), &auth_key).unwrap_err())
            }
            "account-request" => {
                let req: AccountRequest = msg(&entry());
                let auth_key = point(&load("account.json")["auth_key"]);
                assert!(!independent::verify_account_request(&req, &auth_key), "{name}");
                variant(&req.verify(&auth_key).unwrap_err())
            }
            "rekey-request" => {
                let req: RekeyRequest = msg(&entry());
                assert!(
                    !independent::verify_account_keys(
                        independent::rekey_transcript(&req.account.0, &req.old_identity),
                        &req.new_identity,
                        &req.new_auth_key,
                        &req.proof
                    ),
                    "{name}"
                );
                variant(&req.verify(&mut OsRng).unwrap_err())
            }
            "withdraw-request" => {
                let req: WithdrawRequest = msg(&entry());
                let identity = load("withdrawal.json")["user"]["identity"].clone();
                variant(&req.verify_proof(&point(&identity), &p.keyset, &mut OsRng).unwrap_err())
            }
            "coin" => {
                let coin: Coin = msg(&entry());
                let key = p.keyset.key(&coin.body.key_id).unwrap();
                assert!(!independent::acl_signature_holds(&coin, key), "{name}");
                variant(&coin.signature.verify(&key.acl(), coin.id().as_bytes()).unwrap_err())
            }
            "payment" => {
                let payment: Payment = msg(&entry());
                assert!(independent::verify_payment(&payment, &[&p.keyset]).is_none(), "{name}");
                variant(&verify_payment(&payment, &p.keyset, &mut OsRng).unwrap_err())
            }
            "deposit" => {
                let d: DepositRequest = msg(&entry());
                assert!(!independent::verify_deposit_signature(&d, &p.merchant_key), "{name}");
                variant(
                    &verify_deposit(&d, &p.merchant_key, &keysets, p.receipt_day, &mut OsRng).unwrap_err(),
                )
            }
            "receipt" => {
                let r: DepositReceipt = msg(&entry());
                let first: DepositRequest = msg(&load("deposit.json")["first"]["request"]);
                let hex = n["hex"].as_str().unwrap();
                assert!(
                    !independent::verify_receipt_signature(&hex::decode(hex).unwrap(), &p.keyset),
                    "{name}"
                );
                variant(&r.verify(&first, &keysets).unwrap_err())
            }
            "evidence" => {
                variant(&msg::<DoubleSpendEvidence>(&entry()).verify(&p.keyset, &mut OsRng).unwrap_err())
            }
            "warrant" => {
                let w: Warrant = msg(&entry());
                variant(&w.authorize(&[p.judge], &p.owner_record, p.now).unwrap_err())
            }
            "trace-result" => {
                let r: TraceResult = msg(&entry());
                variant(&r.verify(&p.ttp_statement, &p.owner_record, &p.owner_warrant).unwrap_err())
            }
            "watch-list" => variant(&msg::<WatchList>(&entry()).verify(&p.master).unwrap_err()),
            "ttp-statement" => variant(&msg::<SignedTtpKeyStatement>(&entry()).verify().unwrap_err()),
            "log" => {
                let entries: Vec<LogEntry> = n["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| LogEntry::from_bytes(&bytes(h)).unwrap())
                    .collect();
                let head = LogHead::from_bytes(&bytes(&n["head"])).unwrap();
                variant(&verify_log(&entries, &[head], &p.ttp.signing).unwrap_err())
            }
            other => panic!("{name}: unknown check {other}"),
        };
        assert_eq!(got, expected, "{name}");
    }
}

/// Verifies each share's proof under its trustee's `Y_i` with the
/// independent implementation and combines the shares (Lagrange at 0):
/// `X = c2 - Σ λ_i·D_i`.
fn combine_independently(ys: &[(u16, Point)], context: &ShareContext, shares: &[ShareEvidence]) -> Point {
    let ids: Vec<u16> = shares.iter().map(|e| e.trustee).collect();
    let mut combined = *context.ciphertext.c2.point();
    for e in shares {
        let y = ys.iter().find(|(i, _)| *i == e.trustee).unwrap().1;
        assert!(independent::verify_share(
            &y,
            context,
            e.trustee,
            e.log_index,
            &e.share,
            &e.proof.commitments,
            &e.proof.responses
        ));
        combined -= e.share.point() * independent::lagrange_at_zero(&ids, e.trustee);
    }
    Point::new(combined)
}

/// specs/vectors/trustees.json: the ceremony's transcript verifies to the
/// file's keys, the verification shares lie on one polynomial whose value at
/// 0 is `Y_T`, each share's proof verifies (independently too), and the
/// shares combine to the plaintext (tracing.md §9.1–9.3).
fn check_trustees() {
    let v = load("trustees.json");
    let c = &v["ceremony"];
    let transcript: DkgTranscript = msg(&c["transcript"]);
    let outcome = transcript.verify().unwrap();
    let y_t = point(&c["group_key"]);
    assert_eq!(outcome.group_key, y_t);
    let ys: Vec<(u16, Point)> = c["verification_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (num(&k["id"]) as u16, point(&k["Y_i"])))
        .collect();
    assert_eq!(
        outcome.verification_shares.iter().map(|k| (k.id, k.verification_share)).collect::<Vec<_>>(),
        ys
    );
    assert_eq!((outcome.threshold, ys.len()), (num(&c["threshold"]) as u16, num(&c["trustees"]) as usize));
    for pair in [[0usize, 1], [0, 2], [1, 2]] {
        let ids: Vec<u16> = pair.iter().map(|&k| ys[k].0).collect();
        let sum: RistrettoPoint =
            pair.iter().map(|&k| ys[k].1.point() * independent::lagrange_at_zero(&ids, ys[k].0)).sum();
        assert_eq!(sum, *y_t.point(), "Y_T from trustees {ids:?}");
    }
    let d = &v["decryption"];
    let ciphertext = faircash::crypto::elgamal::Ciphertext { c1: point(&d["c1"]), c2: point(&d["c2"]) };
    let context = ShareContext {
        record_digest: b32(&d["record_digest"]),
        warrant_digest: b32(&d["warrant_digest"]),
        ciphertext,
    };
    let shares: Vec<TraceShare> = d["shares"].as_array().unwrap().iter().map(msg).collect();
    let evidence: Vec<ShareEvidence> = shares.iter().map(|s| s.evidence.clone()).collect();
    assert_eq!(combine_independently(&ys, &context, &evidence), point(&d["plaintext"]));
    for s in &shares {
        let e = &s.evidence;
        let y = ys.iter().find(|(i, _)| *i == e.trustee).unwrap().1;
        assert_eq!(s.verification_share, y);
        assert_eq!(s.context(), context);
        e.verify(&y, &context).unwrap();
        let mut bad = e.clone();
        bad.log_index += 1;
        assert!(!independent::verify_share(
            &y,
            &context,
            bad.trustee,
            bad.log_index,
            &bad.share,
            &bad.proof.commitments,
            &bad.proof.responses
        ));
    }

    // The group-signed threshold result: the statement and the result
    // verify under the group signing key of the signing ceremony's
    // transcript, independently too; the result's shares combine to its
    // plaintext, and it fails against any other key statement.
    let r = &v["signed_result"];
    let signing: DkgTranscript = msg(&r["signing_transcript"]);
    let signing = signing.verify().unwrap();
    let statement: SignedTtpKeyStatement = msg(&r["statement"]);
    statement.verify().unwrap();
    let st = &statement.statement;
    assert_eq!((st.signing_key, st.decryption_key, st.threshold), (signing.group_key, y_t, 2));
    assert!(independent::verify_group_signature(
        b"faircash/v1/ttp-key-statement-signature",
        &independent::statement_digest(st),
        &signing.group_key,
        &statement.signature
    ));
    let request: TraceRequest = msg(&r["request"]);
    let result: TraceResult = msg(&r["result"]);
    let plaintext = point(&r["plaintext"]);
    assert_eq!(result.verify(st, &request.record, &request.warrant).unwrap(), plaintext);
    assert_eq!(independent::result_digest(&result), result.digest());
    assert!(independent::verify_group_signature(
        b"faircash/v1/trace-result-signature",
        &independent::result_digest(&result),
        &signing.group_key,
        &result.signature
    ));
    let Decryption::Threshold { shares } = &result.decryption else { panic!("a threshold result") };
    let context = ShareContext {
        record_digest: independent::record_digest(&request.record),
        warrant_digest: independent::warrant_digest(&request.warrant),
        ciphertext: result.ciphertext,
    };
    assert_eq!(
        (result.record_digest, result.warrant_digest),
        (context.record_digest, context.warrant_digest)
    );
    assert_eq!(shares.iter().map(|e| e.trustee).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(combine_independently(&ys, &context, shares), plaintext);
    let files: Vec<TraceShare> = r["shares"].as_array().unwrap().iter().map(msg).collect();
    assert_eq!(files.iter().map(|s| s.evidence.clone()).collect::<Vec<_>>(), *shares);
    // Any other key statement: the single TTP's of keyset.json.
    let other: SignedTtpKeyStatement = msg(&load("keyset.json")["ttp_statement"]);
    assert!(result.verify(&other.statement, &request.record, &request.warrant).is_err());
    let mut resigned = st.clone();
    resigned.signing_key = other.statement.signing_key;
    assert!(matches!(
        result.verify(&resigned, &request.record, &request.warrant),
        Err(faircash::protocol::trace::TraceError::ResultSignature
            | faircash::protocol::trace::TraceError::ResultMismatch(_))
    ));
}

#[test]
fn vectors_verify_from_their_public_parts() {
    check_params();
    let (master, keyset) = check_keysets();
    let trace = load("trace.json");
    let statement: SignedTtpKeyStatement = msg(&load("keyset.json")["ttp_statement"]);
    statement.verify().unwrap();
    statement.statement.covers(&keyset).unwrap();
    let ttp = statement.statement.public_keys();
    let deposit = load("deposit.json");
    let public = Public {
        master,
        keyset,
        merchant_key: point(&deposit["merchant"]["key"]),
        judge: msg::<PublicKeyFile>(&trace["judge"]["key_file"]).key,
        ttp,
        ttp_statement: statement.statement.clone(),
        receipt_day: Day(num(&deposit["receipt_day"]) as u32),
        now: Timestamp(num(&trace["now"])),
        owner_record: msg(&trace["owner"]["record"]),
        owner_warrant: msg(&trace["owner"]["warrant"]),
    };
    check_proofs(&public);
    let coins = check_withdrawals(&public);
    let payment = check_payment(&public, &coins);
    check_deposits(&public, &payment);
    check_traces(&public);
    check_trustees();
    check_accounts(&public);
    check_negatives(&public);
    check_seed(&public);
    check_backup(&public);
    check_reclaim(&public, &payment);
    check_spent(&public, &payment);
}

/// specs/protocol.md §7.7: the page and the statement verify under the
/// master key (with the library and with the signed messages built by hand
/// from the spec), the page lists the payment's coin of value 4, the
/// statement answers the query (its digest, exactly its coins), and no
/// contradiction exists between them; one appears when the bank's master
/// key signs a statement that says the listed coin is unspent.
fn check_spent(p: &Public, payment: &Payment) {
    use faircash::crypto::transcript::FaircashTranscript;
    use faircash::protocol::spent::{contradiction, SpentList, UnspentQuery, UnspentStatement};
    let v = load("spent.json");
    let page: SpentList = msg(&v["page"]);
    let query: UnspentQuery = msg(&v["query"]);
    let statement: UnspentStatement = msg(&v["statement"]);
    page.verify(&p.master).unwrap();
    statement.verify(&p.master).unwrap();
    assert!(independent::verify_spent_list(&page, &p.master));
    assert!(independent::verify_unspent_statement(&statement, &p.master));
    let spent = faircash::coin::CoinId(b32(&v["spent_coin"]));
    let unspent = faircash::coin::CoinId(b32(&v["unspent_coin"]));
    assert!(payment.coins.iter().any(|c| c.id() == spent && c.body.keyset_id == p.keyset.id()));
    assert_eq!((page.keyset_id, page.value, page.page, page.pages), (p.keyset.id(), 4, 0, 1));
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].coin_id, spent);
    assert!(page.entries[0].published >= 1 && page.entries[0].published <= page.sequence);
    // The query: its authorization digest (protocol §7.3) by hand, and the
    // account's authentication key.
    assert_eq!(query.account.as_bytes(), &b16(&v["account_id"]));
    assert_eq!(query.digest(), b32(&v["query_digest"]));
    let mut t = Params::get().transcript(labels::ACCOUNT_REQUEST);
    t.append_message(b"operation", b"unspent-statement");
    t.append_message(b"account", query.account.as_bytes());
    t.append_message(b"request-id", &query.request_id);
    let body: Vec<u8> = query.coins.iter().flat_map(|c| c.0).collect();
    t.append_message(b"body", &body);
    assert_eq!(t.challenge_digest(b"account-request"), query.digest());
    query.verify(&point(&v["auth_key"])).unwrap();
    // The statement answers it: as of at least the page's publication,
    // the listed coin spent (with the page's sequence), the other unspent.
    assert_eq!((statement.account, statement.request), (query.account, query.digest()));
    assert!(statement.sequence >= page.sequence);
    assert_eq!(statement.unspent, vec![unspent]);
    assert_eq!(statement.spent.len(), 1);
    assert_eq!(
        (statement.spent[0].coin_id, statement.spent[0].published),
        (spent, page.entries[0].published)
    );
    assert_eq!(contradiction(&statement, &page, &p.master).unwrap(), vec![]);
    // A statement that states the listed coin unspent is contradicted by
    // the page (signed again with a key that is not the bank's, it proves
    // nothing: the signature is checked first).
    let mut lie = statement.clone();
    lie.spent.clear();
    lie.unspent = {
        let mut u = vec![spent, unspent];
        u.sort();
        u
    };
    assert!(contradiction(&lie, &page, &p.master).is_err(), "an unsigned change proves nothing");
    let master =
        SigningKey::from_secret(SecretScalar::new(scalar(&load("keyset.json")["inputs"]["master_secret"])));
    assert_eq!(master.public(), &p.master);
    lie.sign(&master, &mut OsRng);
    assert_eq!(contradiction(&lie, &page, &p.master).unwrap(), vec![spent], "the bank's signed lie, proven");
}

fn check_reclaim(p: &Public, payment: &Payment) {
    let v = load("reclaim.json");
    let refusal: PayeeRefusal = msg(&v["refusal"]);
    let merchant = point(&v["merchant_key"]);
    assert_eq!(merchant, p.merchant_key);
    assert!(independent::verify_refusal(&refusal, payment, &merchant));
    refusal.verify(payment).unwrap();
    let req: ReclaimRequest = msg(&v["request"]);
    assert_eq!(&req.payment, payment);
    assert_eq!(req.refusal, refusal);
    assert_eq!(req.account.as_bytes()[..], bytes(&v["account_id"])[..]);
    let digest = independent::reclaim_digest(&req);
    assert_eq!(digest, b32(&v["request_digest"]));
    assert_eq!(req.digest(), digest);
    let identity = point(&v["identity"]);
    assert!(req.identities.iter().all(|i| *i == identity));
    assert!(independent::verify_reclaim(&req, p.keyset.ttp_key(), &point(&v["auth_key"])));
    assert_eq!(req.verify_signature(&point(&v["auth_key"])).unwrap(), digest);
    req.verify_escrows(&digest, &p.keyset, &mut OsRng).unwrap();
    // Another identity for a coin, another account or a changed refusal
    // fails both verifiers.
    let mut other = req.clone();
    other.identities[0] = *p.keyset.signing_key();
    assert!(!independent::verify_reclaim(&other, p.keyset.ttp_key(), &point(&v["auth_key"])));
    assert!(other.verify_escrows(&other.digest(), &p.keyset, &mut OsRng).is_err());
}

fn check_accounts(p: &Public) {
    let v = load("account.json");
    let account = b16(&v["account_id"]);
    let auth_key = point(&v["auth_key"]);
    let reg: UserRegistration = msg(&v["user"]["registration"]);
    assert_eq!((reg.identity, reg.auth_key), (point(&v["identity"]), auth_key));
    assert_eq!(reg.verify(&mut OsRng).unwrap().0, account);
    // The reservation: the request's digest and authorization, and the answer.
    let reserve: AccountRequest = msg(&v["reserve"]["request"]);
    assert_eq!(reserve.account.0, account);
    assert_eq!(independent::account_request_digest(&reserve), b32(&v["reserve"]["request_digest"]));
    assert!(independent::verify_account_request(&reserve, &auth_key));
    reserve.verify(&auth_key).unwrap();
    let AccountOperation::ReserveWithdrawal { reservation, amount } = reserve.operation else {
        panic!("a reservation")
    };
    let AccountAnswer::Reservation(r) = msg::<AccountAnswer>(&v["reserve"]["answer"]) else { panic!() };
    assert_eq!((r.id, r.account.0, r.amount, r.drawn, r.released), (reservation, account, amount, 0, false));
    assert!(r.expires > r.created);
    // A session drawing on it, whose commitment reached the wallet changed
    // and signed again: the challenge names the changed commitment, and the
    // bank's answer is its signed end of the session, for that challenge.
    let w = &v["reserved_withdrawal"];
    let req: WithdrawRequest = msg(&w["request"]);
    assert_eq!(req.reservation, Some(reservation));
    let identity = point(&v["identity"]);
    assert!(independent::verify_withdraw_proof(&req, &identity, p.keyset.ttp_key()));
    let com: WithdrawCommitment = msg(&w["commitment"]);
    let changed: WithdrawCommitment = msg(&w["changed_commitment"]);
    for c in [&com, &changed] {
        assert!(independent::verify_signature(
            b"faircash/v1/withdraw-commitment-signature",
            &independent::commitment_digest(&req, c),
            p.keyset.signing_key(),
            &c.signature
        ));
    }
    let ch: WithdrawChallenge = msg(&w["challenge"]);
    assert!(independent::verify_challenge_authorization(&ch, &account, &auth_key));
    assert_eq!(ch.commitment_digest, independent::commitment_digest(&req, &changed));
    assert_ne!(ch.commitment_digest, independent::commitment_digest(&req, &com));
    let answer: WithdrawAnswer = msg(&w["answer"]);
    let WithdrawOutcome::Ended(end) = answer.outcome else { panic!("the session ended") };
    assert_eq!((end.keyset_id, end.reason), (p.keyset.id(), EndReason::CommitmentMismatch));
    assert!(independent::verify_session_end(
        &ch,
        &end.keyset_id.0,
        end.reason.code(),
        p.keyset.signing_key(),
        &end.signature
    ));
    end.verify(&ch, p.keyset.signing_key()).unwrap();
    // The end answers this challenge only.
    let mut other = ch;
    other.e += Scalar::ONE;
    assert!(!independent::verify_session_end(
        &other,
        &end.keyset_id.0,
        end.reason.code(),
        p.keyset.signing_key(),
        &end.signature
    ));
    // Released: nothing was drawn.
    let AccountAnswer::Reservation(r) = msg::<AccountAnswer>(&v["release"]["answer"]) else { panic!() };
    assert_eq!((r.drawn, r.released), (0, true));
    // The status, then a rotation proven by the new key.
    let st: AccountRequest = msg(&v["status"]["request"]);
    assert!(independent::verify_account_request(&st, &auth_key));
    let AccountAnswer::Status(status) = msg::<AccountAnswer>(&v["status"]["answer"]) else { panic!() };
    assert_eq!((status.account.0, status.identity, status.auth_key), (account, identity, auth_key));
    let rot: AccountRequest = msg(&v["rotation"]["request"]);
    assert!(independent::verify_account_request(&rot, &auth_key));
    rot.verify(&auth_key).unwrap();
    let AccountOperation::RotateAuthKey { new_key, possession } = rot.operation else { panic!() };
    assert_eq!(G * scalar(&v["rotation"]["new_auth_secret"]), *new_key.point());
    let mut m = account.to_vec();
    m.extend_from_slice(auth_key.as_bytes());
    m.extend_from_slice(new_key.as_bytes());
    assert!(independent::verify_signature(b"faircash/v1/auth-key-possession", &m, &new_key, &possession));
    let AccountAnswer::Status(after) = msg::<AccountAnswer>(&v["rotation"]["answer"]) else { panic!() };
    assert_eq!(after.auth_key, new_key);
    assert_eq!(after.events.last().map(|e| e.kind.name()), Some("auth-key-rotated"));
    // The re-key request: knowledge of both new secrets, bound to the
    // account and the identity it replaces.
    let rekey: RekeyRequest = msg(&v["rekey"]["request"]);
    assert_eq!((rekey.account.0, rekey.old_identity), (account, identity));
    assert!(independent::verify_account_keys(
        independent::rekey_transcript(&account, &identity),
        &rekey.new_identity,
        &rekey.new_auth_key,
        &rekey.proof
    ));
    rekey.verify(&mut OsRng).unwrap();
    assert_eq!(rekey.fingerprint(), v["rekey"]["fingerprint"].as_str().unwrap());
    assert_eq!(G * scalar(&v["rekey"]["new_identity_secret"]), *rekey.new_identity.point());
}

// ---------------------------------------------------------------------------
// An independent implementation of the checks, from the specs, on merlin,
// curve25519-dalek, sha2 and sha3 only (no faircash code beyond the decoded
// message structs).
// ---------------------------------------------------------------------------

mod independent {
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
    use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::Identity;
    use faircash::coin::Coin;
    use faircash::crypto::group_signature::GroupSignature;
    use faircash::crypto::schnorr::{Proof, Signature};
    use faircash::encoding::Point;
    use faircash::keys::{DenominationKey, Keyset, SignedKeyset};
    use faircash::protocol::account::{AccountOperation, AccountRequest};
    use faircash::protocol::deposit::DepositRequest;
    use faircash::protocol::pay::Payment;
    use faircash::protocol::reclaim::ReclaimRequest;
    use faircash::protocol::refusal::PayeeRefusal;
    use faircash::protocol::trace::ShareContext;
    use faircash::protocol::trace::{
        Decryption, LogEntry, LogHead, TraceKind, TraceRecord, TraceRequest, TraceResult, Warrant, WatchList,
    };
    use faircash::protocol::trust::TtpKeyStatement;
    use faircash::protocol::withdraw::{
        WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
    };
    use faircash::wire::WireMessage;
    use merlin::Transcript;
    use sha2::Sha512;

    fn gen(label: &str) -> RistrettoPoint {
        RistrettoPoint::hash_from_bytes::<Sha512>(format!("faircash/v1/gen/{label}").as_bytes())
    }

    /// §2: `hash_from_bytes::<Sha3_512>` of the basepoint's encoding.
    pub fn b_blinding() -> RistrettoPoint {
        let encoded = G.compress().to_bytes();
        assert_eq!(
            hex::encode(encoded),
            "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
            "the encoding protocol.md §2 quotes"
        );
        RistrettoPoint::hash_from_bytes::<sha3::Sha3_512>(&encoded)
    }

    /// §2: the range-proof generators `X_{16j..16j+15}` of parties `0..m`, from
    /// the SHAKE256 chains `("X", j)`.
    fn range_generators(letter: u8, m: usize) -> Vec<RistrettoPoint> {
        use sha3::digest::{ExtendableOutput, Update, XofReader};
        let mut out = Vec::with_capacity(16 * m);
        for j in 0..m as u32 {
            let mut shake = sha3::Shake256::default();
            shake.update(b"GeneratorsChain");
            shake.update(&[letter]);
            shake.update(&j.to_le_bytes());
            let mut reader = shake.finalize_xof();
            for _ in 0..16 {
                let mut block = [0u8; 64];
                reader.read(&mut block);
                out.push(RistrettoPoint::from_uniform_bytes(&block));
            }
        }
        out
    }

    /// §8.3, the verifier, on the statement `v` (the shifted commitments,
    /// padded): the transcript replayed on `t`, then both equations, each
    /// checked on its own in the plainest way.
    fn range_proof_holds(t: &mut Transcript, bytes: &[u8], v: &[RistrettoPoint]) -> Option<()> {
        use curve25519_dalek::traits::VartimeMultiscalarMul;
        let m = v.len();
        let n = 16 * m;
        let rounds = n.trailing_zeros() as usize;
        if !m.is_power_of_two() || bytes.len() != (9 + 2 * rounds) * 32 {
            return None;
        }
        let chunk = |i: usize| -> [u8; 32] { bytes[32 * i..32 * (i + 1)].try_into().unwrap() };
        let point = |i: usize| CompressedRistretto(chunk(i)).decompress();
        let scalar = |i: usize| Option::<Scalar>::from(Scalar::from_canonical_bytes(chunk(i)));
        let (a_pt, s_pt, t1, t2) = (point(0)?, point(1)?, point(2)?, point(3)?);
        let (t_x, t_x_b, e_b) = (scalar(4)?, scalar(5)?, scalar(6)?);
        let (a, b) = (scalar(7 + 2 * rounds)?, scalar(8 + 2 * rounds)?);
        let o = RistrettoPoint::identity();
        let append = |t: &mut Transcript, label: &'static [u8], i: usize| {
            let p = point(i)?;
            (p != o).then(|| t.append_message(label, &chunk(i)))
        };
        t.append_message(b"dom-sep", b"rangeproof v1");
        t.append_u64(b"n", 16);
        t.append_u64(b"m", m as u64);
        for vj in v {
            t.append_message(b"V", &enc(vj));
        }
        append(t, b"A", 0)?;
        append(t, b"S", 1)?;
        let y = challenge(t, b"y");
        let z = challenge(t, b"z");
        append(t, b"T_1", 2)?;
        append(t, b"T_2", 3)?;
        let x = challenge(t, b"x");
        t.append_message(b"t_x", &chunk(4));
        t.append_message(b"t_x_blinding", &chunk(5));
        t.append_message(b"e_blinding", &chunk(6));
        let w = challenge(t, b"w");
        t.append_message(b"dom-sep", b"ipp v1");
        t.append_u64(b"n", n as u64);
        let mut u = Vec::new();
        for r in 0..rounds {
            append(t, b"L", 7 + 2 * r)?;
            append(t, b"R", 8 + 2 * r)?;
            u.push(challenge(t, b"u"));
        }
        if y == Scalar::ZERO || u.contains(&Scalar::ZERO) {
            return None;
        }
        // s_i: u_r to the power +1 where bit (rounds - r) of i is set.
        let s: Vec<Scalar> = (0..n)
            .map(|i| {
                (1..=rounds)
                    .map(|r| if (i >> (rounds - r)) & 1 == 1 { u[r - 1] } else { u[r - 1].invert() })
                    .product()
            })
            .collect();
        let pow = |base: Scalar, e: usize| (0..e).fold(Scalar::ONE, |acc, _| acc * base);
        let (gs, hs) = (range_generators(b'G', m), range_generators(b'H', m));
        let b_t = b_blinding();

        let mut scalars = vec![Scalar::ONE, x, -e_b, w * (t_x - a * b)];
        let mut points = vec![a_pt, s_pt, b_t, G];
        for (r, u_r) in u.iter().enumerate() {
            scalars.push(u_r * u_r);
            points.push(point(7 + 2 * r)?);
            scalars.push((u_r * u_r).invert());
            points.push(point(8 + 2 * r)?);
        }
        let y_inv = y.invert();
        for i in 0..n {
            scalars.push(-z - a * s[i]);
            points.push(gs[i]);
            let two = Scalar::from(1u64 << (i % 16));
            scalars.push(z + pow(y_inv, i) * (pow(z, 2 + i / 16) * two - b * s[n - 1 - i]));
            points.push(hs[i]);
        }
        let e_ipp = RistrettoPoint::vartime_multiscalar_mul(&scalars, &points);

        let sum_y: Scalar = (0..n).map(|i| pow(y, i)).sum();
        let sum_z: Scalar = (0..m).map(|j| pow(z, j)).sum();
        let delta = (z - z * z) * sum_y - pow(z, 3) * Scalar::from(65_535u64) * sum_z;
        let mut e_t = G * (delta - t_x) - b_t * t_x_b + t1 * x + t2 * (x * x);
        for (j, vj) in v.iter().enumerate() {
            e_t += vj * pow(z, 2 + j);
        }
        (e_ipp == o && e_t == o).then_some(())
    }

    fn enc(p: &RistrettoPoint) -> [u8; 32] {
        p.compress().to_bytes()
    }

    fn challenge(t: &mut Transcript, label: &'static [u8]) -> Scalar {
        let mut wide = [0u8; 64];
        t.challenge_bytes(label, &mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn digest(t: &mut Transcript, label: &'static [u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        t.challenge_bytes(label, &mut out);
        out
    }

    /// §2.
    pub fn params_id(points: &[(String, RistrettoPoint)], range_bits: u64, max_coins: u64) -> [u8; 32] {
        let mut t = Transcript::new(b"faircash/v1/params-id");
        t.append_message(b"version", b"faircash/v1");
        let labels: [&'static [u8]; 8] = [b"G", b"h", b"H0", b"Hu", b"Hs", b"Ht", b"Ps", b"B~"];
        assert_eq!(points.len(), 8);
        for ((name, p), label) in points.iter().zip(labels) {
            assert_eq!(name.as_bytes(), label);
            t.append_message(label, &enc(p));
        }
        t.append_u64(b"range-bits", range_bits);
        t.append_u64(b"max-coins", max_coins);
        digest(&mut t, b"params-id")
    }

    fn params_id_now() -> [u8; 32] {
        let points: Vec<(String, RistrettoPoint)> = vec![
            ("G".into(), G),
            ("h".into(), gen("h")),
            ("H0".into(), gen("H0")),
            ("Hu".into(), gen("Hu")),
            ("Hs".into(), gen("Hs")),
            ("Ht".into(), gen("Ht")),
            ("Ps".into(), gen("Ps")),
            ("B~".into(), b_blinding()),
        ];
        params_id(&points, 16, 64)
    }

    /// `PT(L)`.
    fn pt(label: &'static [u8]) -> Transcript {
        let mut t = Transcript::new(label);
        t.append_message(b"params-id", &params_id_now());
        t
    }

    /// §4.1.
    pub fn key_id_and_z(params_id: &[u8; 32], k: &DenominationKey) -> ([u8; 16], RistrettoPoint) {
        let w = &k.windows;
        let mut t = Transcript::new(b"faircash/v1/key-id");
        t.append_message(b"params-id", params_id);
        t.append_message(b"y", k.y.as_bytes());
        t.append_u64(b"value", k.value);
        t.append_u64(b"withdraw-from", u64::from(w.withdraw_from.0));
        t.append_u64(b"withdraw-until", u64::from(w.withdraw_until.0));
        t.append_u64(b"spend-until", u64::from(w.spend_until.0));
        t.append_u64(b"deposit-until", u64::from(w.deposit_until.0));
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&digest(&mut t, b"key-id")[..16]);
        let label = b"faircash/v1/abe-z";
        let mut input = Vec::new();
        input.extend_from_slice(&(label.len() as u64).to_le_bytes());
        input.extend_from_slice(label);
        input.extend_from_slice(params_id);
        input.extend_from_slice(&key_id);
        input.extend_from_slice(k.y.as_bytes());
        input.extend_from_slice(&k.value.to_le_bytes());
        for d in [w.withdraw_from, w.withdraw_until, w.spend_until, w.deposit_until] {
            input.extend_from_slice(&d.0.to_le_bytes());
        }
        (key_id, RistrettoPoint::hash_from_bytes::<Sha512>(&input))
    }

    /// §4.2.
    pub fn keyset_id(s: &SignedKeyset) -> [u8; 32] {
        let d = &s.document;
        let mut t = Transcript::new(b"faircash/v1/keyset-id");
        t.append_message(b"params-id", d.params_id.as_bytes());
        t.append_u64(b"sequence", d.sequence);
        t.append_message(b"previous", d.previous.as_ref().map_or(&[][..], |p| &p.as_bytes()[..]));
        t.append_message(b"master-key", d.master_key.as_bytes());
        t.append_message(b"signing-key", d.signing_key.as_bytes());
        t.append_message(b"ttp-key", d.ttp_key.as_bytes());
        t.append_u64(b"issued", u64::from(d.issued.0));
        t.append_u64(b"validity-days", u64::from(d.policy.validity_days));
        t.append_u64(b"max-deposit-delay-days", u64::from(d.policy.max_deposit_delay_days));
        t.append_u64(b"keys", d.keys.len() as u64);
        for k in &d.keys {
            t.append_message(b"key-id", k.key_id.as_bytes());
            t.append_u64(b"value", k.value);
            t.append_message(b"y", k.y.as_bytes());
            t.append_message(b"z", k.z.as_bytes());
            let w = &k.windows;
            t.append_u64(b"withdraw-from", u64::from(w.withdraw_from.0));
            t.append_u64(b"withdraw-until", u64::from(w.withdraw_until.0));
            t.append_u64(b"spend-until", u64::from(w.spend_until.0));
            t.append_u64(b"deposit-until", u64::from(w.deposit_until.0));
        }
        digest(&mut t, b"keyset-id")
    }

    /// §4.3.
    pub fn account_id(label: &'static [u8], key: &Point) -> [u8; 16] {
        let mut t = pt(label);
        t.append_message(b"public-key", key.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest(&mut t, b"account-id")[..16]);
        id
    }

    /// `LHS = Σ x_a·P_b`: the index of LHS (`None` for `O`) and the pairs
    /// `(a, b)`.
    pub type Equation = (Option<usize>, Vec<(usize, usize)>);

    /// A linear relation (§3.1): named witnesses and points, equations
    /// `LHS = Σ x_a·P_b` with LHS a point index or `O`.
    pub struct Relation {
        pub name: &'static [u8],
        pub witnesses: Vec<&'static [u8]>,
        pub points: Vec<(&'static [u8], RistrettoPoint)>,
        pub equations: Vec<Equation>,
    }

    impl Relation {
        fn absorb_shape(&self, t: &mut Transcript) {
            t.append_message(b"relation", self.name);
            t.append_u64(b"witnesses", self.witnesses.len() as u64);
            for w in &self.witnesses {
                t.append_message(b"witness-name", w);
            }
            t.append_u64(b"points", self.points.len() as u64);
            for (n, _) in &self.points {
                t.append_message(b"point-name", n);
            }
            t.append_u64(b"equations", self.equations.len() as u64);
            for (lhs, terms) in &self.equations {
                t.append_u64(b"lhs", lhs.map_or(u64::MAX, |i| i as u64));
                t.append_u64(b"terms", terms.len() as u64);
                for (a, b) in terms {
                    t.append_u64(b"term-witness", *a as u64);
                    t.append_u64(b"term-point", *b as u64);
                }
            }
        }

        /// `Σ z_a·P_b == T_j + c·LHS_j` for every equation.
        fn holds(&self, commitments: &[RistrettoPoint], c: &Scalar, z: &[Scalar]) -> bool {
            commitments.len() == self.equations.len()
                && z.len() == self.witnesses.len()
                && self.equations.iter().zip(commitments).all(|((lhs, terms), t_j)| {
                    let left: RistrettoPoint = terms.iter().map(|(a, b)| z[*a] * self.points[*b].1).sum();
                    let l = lhs.map_or(RistrettoPoint::identity(), |i| self.points[i].1);
                    left == t_j + c * l
                })
        }

        /// §3.2 on a transcript the caller has bound to its context.
        fn verify(&self, mut t: Transcript, commitments: &[Point], z: &[Scalar]) -> bool {
            self.absorb_shape(&mut t);
            for (n, p) in &self.points {
                t.append_message(n, &enc(p));
            }
            for c in commitments {
                t.append_message(b"commitment", c.as_bytes());
            }
            let c = challenge(&mut t, b"challenge");
            let commitments: Vec<RistrettoPoint> = commitments.iter().map(|p| *p.point()).collect();
            self.holds(&commitments, &c, z)
        }
    }

    fn discrete_log(name: &'static [u8], point_name: &'static [u8], public: &Point) -> Relation {
        Relation {
            name,
            witnesses: vec![b"x"],
            points: vec![(b"G", G), (point_name, *public.point())],
            equations: vec![(Some(1), vec![(0, 0)])],
        }
    }

    /// §3.4.
    pub fn verify_signature(domain: &[u8], message: &[u8], public: &Point, sig: &Signature) -> bool {
        if public.is_identity() {
            return false;
        }
        let domain: &'static [u8] = Box::leak(domain.to_vec().into_boxed_slice());
        let mut t = pt(domain);
        t.append_message(b"message", message);
        discrete_log(b"schnorr-signature", b"X", public).verify(t, &[sig.r], &[sig.s])
    }

    /// §7.1.
    pub fn verify_registration(domain: &'static [u8], key: &Point, proof: &Proof) -> bool {
        !key.is_identity()
            && discrete_log(b"discrete-log", b"public-key", key).verify(
                pt(domain),
                &proof.commitments,
                &proof.responses,
            )
    }

    /// §7.2.
    pub fn verify_withdraw_proof(req: &WithdrawRequest, identity: &Point, ttp: &Point) -> bool {
        let c_minus_t = req.commitment.point() - gen("Ht") * Scalar::from(u64::from(req.expiry.0));
        let rel = Relation {
            name: b"withdraw",
            witnesses: vec![b"u", b"r", b"s", b"k'"],
            points: vec![
                (b"G", G),
                (b"H0", gen("H0")),
                (b"Hu", gen("Hu")),
                (b"Hs", gen("Hs")),
                (b"Ps", gen("Ps")),
                (b"Y_T", *ttp.point()),
                (b"I", *identity.point()),
                (b"C - t*Ht", c_minus_t),
                (b"E_w1", *req.escrow.c1.point()),
                (b"E_w2", *req.escrow.c2.point()),
            ],
            equations: vec![
                (Some(6), vec![(0, 0)]),
                (Some(7), vec![(1, 1), (0, 2), (2, 3)]),
                (Some(8), vec![(3, 0)]),
                (Some(9), vec![(2, 4), (3, 5)]),
            ],
        };
        let mut t = pt(b"faircash/v1/withdraw-proof");
        t.append_message(b"keyset-id", req.keyset_id.as_bytes());
        t.append_message(b"key-id", req.key_id.as_bytes());
        t.append_message(b"account", req.account.as_bytes());
        t.append_message(b"session-id", req.session_id.as_bytes());
        t.append_u64(b"expiry", u64::from(req.expiry.0));
        t.append_message(b"C", req.commitment.as_bytes());
        if let Some(r) = &req.reservation {
            t.append_message(b"reservation", r.as_bytes());
        }
        rel.verify(t, &req.proof.commitments, &req.proof.responses)
    }

    /// §7.1: the relation "account-keys" (I = u·G, A = a·G) on `t`.
    pub fn verify_account_keys(t: Transcript, identity: &Point, auth_key: &Point, proof: &Proof) -> bool {
        let rel = Relation {
            name: b"account-keys",
            witnesses: vec![b"u", b"a"],
            points: vec![(b"G", G), (b"identity", *identity.point()), (b"auth-key", *auth_key.point())],
            equations: vec![(Some(1), vec![(0, 0)]), (Some(2), vec![(1, 0)])],
        };
        !identity.is_identity()
            && !auth_key.is_identity()
            && identity != auth_key
            && rel.verify(t, &proof.commitments, &proof.responses)
    }

    /// §7.1: a user registration's transcript.
    pub fn user_registration_transcript() -> Transcript {
        pt(b"faircash/v1/user-registration")
    }

    /// §7.5: a re-key request's transcript.
    pub fn rekey_transcript(account: &[u8; 16], old_identity: &Point) -> Transcript {
        let mut t = pt(b"faircash/v1/account-rekey");
        t.append_message(b"account", account);
        t.append_message(b"old-identity", old_identity.as_bytes());
        t
    }

    /// §7.2: the digest of a withdrawal request's bytes.
    pub fn request_digest(req: &WithdrawRequest) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/withdraw-request-digest");
        t.append_message(b"request", &req.to_bytes());
        digest(&mut t, b"request-digest")
    }

    /// §7.2: the digest of the bank's commitment.
    pub fn commitment_digest(req: &WithdrawRequest, com: &WithdrawCommitment) -> [u8; 32] {
        let c = &com.commitment;
        let mut t = pt(b"faircash/v1/withdraw-commitment-digest");
        t.append_message(b"session-id", req.session_id.as_bytes());
        t.append_message(b"request-digest", &request_digest(req));
        t.append_message(b"keyset-id", req.keyset_id.as_bytes());
        t.append_message(b"key-id", req.key_id.as_bytes());
        t.append_message(b"rnd", c.rnd.as_bytes());
        t.append_message(b"a", c.a.as_bytes());
        t.append_message(b"b1", c.b1.as_bytes());
        t.append_message(b"b2", c.b2.as_bytes());
        digest(&mut t, b"commitment-digest")
    }

    /// §7.3: the digest an authentication key signs.
    pub fn authorization_digest(
        operation: &str,
        account: &[u8; 16],
        request_id: &[u8; 16],
        body: &[u8],
    ) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/account-request");
        t.append_message(b"operation", operation.as_bytes());
        t.append_message(b"account", account);
        t.append_message(b"request-id", request_id);
        t.append_message(b"body", body);
        digest(&mut t, b"account-request")
    }

    fn varint(mut x: u64, out: &mut Vec<u8>) {
        loop {
            let b = (x & 0x7f) as u8;
            x >>= 7;
            if x == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// §7.3: an operation's name and body, written from wire.md (the
    /// operation's tag and fields), not by the library's encoder.
    fn operation(op: &AccountOperation) -> (&'static str, Vec<u8>) {
        let mut b = Vec::new();
        let name = match op {
            AccountOperation::ReserveWithdrawal { reservation, amount } => {
                b.push(0);
                b.extend_from_slice(reservation.as_bytes());
                varint(*amount, &mut b);
                "reserve-withdrawal"
            }
            AccountOperation::ReleaseReservation { reservation } => {
                b.push(1);
                b.extend_from_slice(reservation.as_bytes());
                "release-reservation"
            }
            AccountOperation::AbandonWithdrawal { session_id } => {
                b.push(2);
                b.extend_from_slice(session_id.as_bytes());
                "abandon-withdrawal"
            }
            AccountOperation::RotateAuthKey { new_key, possession } => {
                b.push(3);
                b.extend_from_slice(new_key.as_bytes());
                b.extend_from_slice(possession.r.as_bytes());
                b.extend_from_slice(possession.s.as_bytes());
                "rotate-auth-key"
            }
            AccountOperation::Status => {
                b.push(4);
                "account-status"
            }
            AccountOperation::ListWithdrawals { after, limit } => {
                b.push(5);
                match after {
                    None => b.push(0),
                    Some(id) => {
                        b.push(1);
                        b.extend_from_slice(id.as_bytes());
                    }
                }
                varint(u64::from(*limit), &mut b);
                "list-withdrawals"
            }
        };
        (name, b)
    }

    /// §7.3.
    pub fn account_request_digest(req: &AccountRequest) -> [u8; 32] {
        let (name, body) = operation(&req.operation);
        authorization_digest(name, &req.account.0, &req.request_id, &body)
    }

    /// §7.3.
    pub fn verify_account_request(req: &AccountRequest, auth_key: &Point) -> bool {
        verify_signature(
            b"faircash/v1/account-request-signature",
            &account_request_digest(req),
            auth_key,
            &req.authorization,
        )
    }

    fn challenge_body(ch: &WithdrawChallenge) -> Vec<u8> {
        let mut body = ch.session_id.as_bytes().to_vec();
        body.extend_from_slice(&ch.commitment_digest);
        body.extend_from_slice(ch.e.as_bytes());
        body
    }

    /// §7.2: the challenge's authorization (operation "withdraw-challenge",
    /// request id = the session id).
    pub fn verify_challenge_authorization(
        ch: &WithdrawChallenge,
        account: &[u8; 16],
        auth_key: &Point,
    ) -> bool {
        let d = authorization_digest(
            "withdraw-challenge",
            account,
            ch.session_id.as_bytes(),
            &challenge_body(ch),
        );
        verify_signature(b"faircash/v1/account-request-signature", &d, auth_key, &ch.authorization)
    }

    /// §7.2: the bank's signed end of a session, as the answer to `ch`.
    pub fn verify_session_end(
        ch: &WithdrawChallenge,
        keyset_id: &[u8; 32],
        reason: u8,
        signing_key: &Point,
        sig: &Signature,
    ) -> bool {
        let mut m = challenge_body(ch);
        m.extend_from_slice(keyset_id);
        m.push(reason);
        verify_signature(b"faircash/v1/withdraw-session-end-signature", &m, signing_key, sig)
    }

    /// §5.6: the wallet's checks of the bank's answer.
    pub fn answer_is_valid(
        c_attr: &Point,
        key: &DenominationKey,
        com: &WithdrawCommitment,
        e: &Scalar,
        ans: &WithdrawAnswer,
    ) -> bool {
        let Some(a) = ans.answer() else { return false };
        let cm = &com.commitment;
        let z1 = c_attr.point() + G * cm.rnd;
        let z2 = key.z.point() - z1;
        a.c + a.d == *e
            && *cm.a.point() == G * a.r + key.y.point() * a.c
            && *cm.b1.point() == G * a.s1 + z1 * a.d
            && *cm.b2.point() == gen("h") * a.s2 + z2 * a.d
    }

    /// §6.1.
    pub fn coin_id(coin: &Coin) -> [u8; 32] {
        let mut t = Transcript::new(b"faircash/v1/coin-id");
        absorb_body(&mut t, coin);
        digest(&mut t, b"coin-id")
    }

    fn absorb_body(t: &mut Transcript, coin: &Coin) {
        let b = &coin.body;
        t.append_message(b"params-id", b.params_id.as_bytes());
        t.append_message(b"keyset-id", b.keyset_id.as_bytes());
        t.append_message(b"key-id", b.key_id.as_bytes());
        t.append_message(b"S", b.serial.as_bytes());
        t.append_message(b"E1", b.escrow.c1.as_bytes());
        t.append_message(b"E2", b.escrow.c2.as_bytes());
        t.append_message(b"V", b.expiry_commitment.as_bytes());
        for tj in &b.spend_commitments {
            t.append_message(b"T", tj.as_bytes());
        }
    }

    /// §5.3 and §5.7, each equation checked on its own.
    pub fn acl_signature_holds(coin: &Coin, key: &DenominationKey) -> bool {
        let s = &coin.signature;
        if s.zeta.is_identity() || s.zeta1.is_identity() || s.zeta == s.zeta1 {
            return false;
        }
        let mut t = pt(b"faircash/v1/acl-challenge");
        t.append_message(b"key-id", key.key_id.as_bytes());
        t.append_message(b"y", key.y.as_bytes());
        t.append_message(b"z", key.z.as_bytes());
        for (l, p) in [
            (&b"zeta"[..], &s.zeta),
            (b"zeta1", &s.zeta1),
            (b"alpha", &s.alpha),
            (b"beta1", &s.beta1),
            (b"beta2", &s.beta2),
            (b"eta", &s.eta),
        ] {
            t.append_message(l, p.as_bytes());
        }
        t.append_message(b"m", &coin_id(coin));
        let eps = challenge(&mut t, b"epsilon");
        let (zeta, zeta1) = (s.zeta.point(), s.zeta1.point());
        s.omega + s.delta == eps
            && G * s.rho + key.y.point() * s.omega == *s.alpha.point()
            && G * s.sigma1 + zeta1 * s.delta == *s.beta1.point()
            && gen("h") * s.sigma2 + (zeta - zeta1) * s.delta == *s.beta2.point()
            && key.z.point() * s.mu + zeta * s.delta == *s.eta.point()
    }

    /// The spend relation of §6.3.
    fn spend_relation(coin: &Coin, z_k: &Point, ttp: &Point) -> Relation {
        let b = &coin.body;
        Relation {
            name: b"spend",
            witnesses: vec![b"lambda", b"r", b"rnd", b"u", b"s", b"t", b"k", b"r_t"],
            points: vec![
                (b"z_k", *z_k.point()),
                (b"zeta", *coin.signature.zeta.point()),
                (b"zeta1", *coin.signature.zeta1.point()),
                (b"-H0", -gen("H0")),
                (b"-G", -G),
                (b"-Hu", -gen("Hu")),
                (b"-Hs", -gen("Hs")),
                (b"-Ht", -gen("Ht")),
                (b"Ps", gen("Ps")),
                (b"G", G),
                (b"Y_T", *ttp.point()),
                (b"B~", b_blinding()),
                (b"S", *b.serial.point()),
                (b"E1", *b.escrow.c1.point()),
                (b"E2", *b.escrow.c2.point()),
                (b"V", *b.expiry_commitment.point()),
            ],
            equations: vec![
                (Some(0), vec![(0, 1)]),
                (None, vec![(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)]),
                (Some(12), vec![(4, 8)]),
                (Some(13), vec![(6, 9)]),
                (Some(14), vec![(3, 9), (6, 10)]),
                (Some(15), vec![(5, 9), (7, 11)]),
            ],
        }
    }

    /// The six spend equations at challenge `c` (§6.3).
    pub fn spend_equations_hold(coin: &Coin, z_k: &Point, ttp: &Point, c: &Scalar, z: &[Scalar]) -> bool {
        let t: Vec<RistrettoPoint> = coin.body.spend_commitments.iter().map(|p| *p.point()).collect();
        spend_relation(coin, z_k, ttp).holds(&t, c, z)
    }

    /// §8.2–§8.4 steps 3–5: returns the spend challenges, or `None` if the
    /// payment does not verify. Each coin is verified under the keyset of
    /// `keysets` it names.
    pub fn verify_payment(payment: &Payment, keysets: &[&Keyset]) -> Option<Vec<Scalar>> {
        let r = &payment.request;
        let n = payment.coins.len();
        if n == 0 || n > 64 || payment.responses.len() != n || r.merchant_key.is_identity() {
            return None;
        }
        let keyset_of = |c: &Coin| keysets.iter().copied().find(|k| k.id() == c.body.keyset_id);
        let mut sum = 0u64;
        let mut ids = Vec::new();
        for c in &payment.coins {
            let key = keyset_of(c)?.key(&c.body.key_id)?;
            let w = &key.windows;
            if c.body.params_id.0 != params_id_now()
                || r.day < w.withdraw_from
                || r.day > w.spend_until
                || c.body.serial.is_identity()
                || c.body.escrow.c1.is_identity()
                || ids.contains(&coin_id(c))
            {
                return None;
            }
            ids.push(coin_id(c));
            sum = sum.checked_add(key.value)?;
        }
        if sum != r.amount {
            return None;
        }
        // §8.2: no payment-level keyset; each coin's keyset id is absorbed
        // with the coin.
        let mut t = pt(b"faircash/v1/payment");
        t.append_message(b"merchant-id", r.merchant_id.as_bytes());
        t.append_message(b"merchant-key", r.merchant_key.as_bytes());
        t.append_u64(b"amount", r.amount);
        t.append_u64(b"day", u64::from(r.day.0));
        t.append_message(b"nonce", &r.nonce);
        t.append_message(b"order-digest", &r.order_digest);
        let o = Point::identity();
        spend_relation(&payment.coins[0], &o, &o).absorb_shape(&mut t);
        t.append_u64(b"coins", n as u64);
        for c in &payment.coins {
            absorb_body(&mut t, c);
            let s = &c.signature;
            for (l, p) in [
                (&b"zeta"[..], &s.zeta),
                (b"zeta1", &s.zeta1),
                (b"alpha", &s.alpha),
                (b"beta1", &s.beta1),
                (b"beta2", &s.beta2),
                (b"eta", &s.eta),
            ] {
                t.append_message(l, p.as_bytes());
            }
            for (l, x) in [
                (&b"rho"[..], &s.rho),
                (b"omega", &s.omega),
                (b"sigma1", &s.sigma1),
                (b"sigma2", &s.sigma2),
                (b"delta", &s.delta),
                (b"mu", &s.mu),
            ] {
                t.append_message(l, x.as_bytes());
            }
        }
        // §8.3: V_i - D·G, padded with the identity to a power of two.
        let m = n.next_power_of_two();
        let proof_bytes = payment.range_proof.as_bytes();
        if proof_bytes.len() != (9 + 2 * (16 * m).trailing_zeros() as usize) * 32 {
            return None;
        }
        let d = G * Scalar::from(u64::from(r.day.0));
        let mut commitments: Vec<RistrettoPoint> =
            payment.coins.iter().map(|c| c.body.expiry_commitment.point() - d).collect();
        commitments.resize(m, RistrettoPoint::identity());
        range_proof_holds(&mut t, proof_bytes, &commitments)?;
        t.append_message(b"range-proof", proof_bytes);
        let mut challenges = Vec::with_capacity(n);
        for (i, (coin, resp)) in payment.coins.iter().zip(&payment.responses).enumerate() {
            t.append_u64(b"coin-index", i as u64);
            let c = challenge(&mut t, b"spend-challenge");
            let keyset = keyset_of(coin)?;
            let key = keyset.key(&coin.body.key_id)?;
            if !acl_signature_holds(coin, key)
                || !spend_equations_hold(coin, &key.z, keyset.ttp_key(), &c, &resp.to_array())
            {
                return None;
            }
            challenges.push(c);
        }
        Some(challenges)
    }

    fn payment_digest(p: &Payment) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/payment-digest");
        t.append_message(b"payment", &p.to_bytes());
        digest(&mut t, b"payment-digest")
    }

    /// §9.2 step 1a.
    pub fn deposit_request_digest(d: &DepositRequest) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/deposit-request-digest");
        t.append_message(b"request", &deposit_message(d));
        digest(&mut t, b"request-digest")
    }

    /// §9.1.
    fn deposit_message(d: &DepositRequest) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(d.merchant_id.as_bytes());
        m.extend_from_slice(&d.request_id);
        m.extend_from_slice(&(d.payments.len() as u64).to_le_bytes());
        for p in &d.payments {
            m.extend_from_slice(&payment_digest(p));
        }
        m
    }

    /// §9.3: the receipt's signature, by the online signing key of the
    /// keyset it names, is on its binary body without the signature (the
    /// body's last 64 bytes: `R`, then `s`). `message` is the whole
    /// `deposit-receipt` message; the keyset id is the 32 bytes before the
    /// signature.
    pub fn verify_receipt_signature(message: &[u8], keyset: &Keyset) -> bool {
        let body = &message[4..];
        let (signed, sig) = body.split_at(body.len() - 64);
        if signed[signed.len() - 32..] != keyset.id().as_bytes()[..] {
            return false;
        }
        let r = Point::from_bytes(sig[..32].try_into().unwrap());
        let s = Scalar::from_canonical_bytes(sig[32..].try_into().unwrap());
        match (r, Option::<Scalar>::from(s)) {
            (Some(r), Some(s)) => verify_signature(
                b"faircash/v1/deposit-receipt-signature",
                signed,
                keyset.signing_key(),
                &Signature { r, s },
            ),
            _ => false,
        }
    }

    /// §8.5: the payee's refusal names the payment's request and digest
    /// and is signed by the key its request names.
    pub fn verify_refusal(r: &PayeeRefusal, p: &Payment, key: &Point) -> bool {
        let mut m = Vec::new();
        m.extend_from_slice(&r.request_id);
        m.extend_from_slice(&r.payment_digest);
        r.payment_digest == payment_digest(p)
            && p.request.merchant_key == *key
            && verify_signature(b"faircash/v1/payee-refusal-signature", &m, key, &r.signature)
    }

    /// §8.6: the reclaim request's digest.
    pub fn reclaim_digest(r: &ReclaimRequest) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/reclaim-request-digest");
        t.append_message(b"account", r.account.as_bytes());
        t.append_message(b"request-id", &r.request_id);
        t.append_message(b"payment-digest", &payment_digest(&r.payment));
        t.append_message(b"refusal-request-id", &r.refusal.request_id);
        t.append_message(b"refusal-payment-digest", &r.refusal.payment_digest);
        t.append_message(b"refusal-signature-r", r.refusal.signature.r.as_bytes());
        t.append_message(b"refusal-signature-s", r.refusal.signature.s.as_bytes());
        t.append_u64(b"coins", r.identities.len() as u64);
        for i in &r.identities {
            t.append_message(b"identity", i.as_bytes());
        }
        digest(&mut t, b"request-digest")
    }

    /// §8.6: the signature under `auth` and every coin's escrow proof
    /// (`E1 = k·G`, `E2 - I = k·Y_T`) under `ttp`.
    pub fn verify_reclaim(r: &ReclaimRequest, ttp: &Point, auth: &Point) -> bool {
        let d = reclaim_digest(r);
        if r.identities.len() != r.payment.coins.len()
            || r.proofs.len() != r.payment.coins.len()
            || !verify_signature(b"faircash/v1/reclaim-signature", &d, auth, &r.signature)
        {
            return false;
        }
        r.payment.coins.iter().zip(&r.identities).zip(&r.proofs).enumerate().all(
            |(i, ((coin, id), proof))| {
                let mut t = pt(b"faircash/v1/reclaim-escrow");
                t.append_message(b"request-digest", &d);
                t.append_u64(b"coin-index", i as u64);
                let e = &coin.body.escrow;
                let rel = Relation {
                    name: b"reclaim-escrow",
                    witnesses: vec![b"k"],
                    points: vec![
                        (b"G", G),
                        (b"ttp-key", *ttp.point()),
                        (b"E1", *e.c1.point()),
                        (b"E2-I", e.c2.point() - id.point()),
                    ],
                    equations: vec![(Some(2), vec![(0, 0)]), (Some(3), vec![(0, 1)])],
                };
                rel.verify(t, &proof.commitments, &proof.responses)
            },
        )
    }

    /// §9.1.
    pub fn verify_deposit_signature(d: &DepositRequest, merchant: &Point) -> bool {
        verify_signature(b"faircash/v1/deposit-signature", &deposit_message(d), merchant, &d.signature)
    }

    /// `order_digest` of an order's text (protocol §8.1).
    pub fn order_digest(text: &[u8]) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/order-digest");
        t.append_message(b"order", text);
        digest(&mut t, b"order-digest")
    }

    /// Pruning (protocol §9.3, §9.5): a spent-coin record recorded on
    /// receipt day `r` may be deleted on `today` iff `today > prune_after`.
    pub fn prune_after(receipt_day: u64, validity_days: u64, max_deposit_delay_days: u64) -> u64 {
        receipt_day + validity_days + max_deposit_delay_days
    }

    /// specs/tracing.md §6: the digest the log records for a request.
    pub fn trace_request_digest(r: &TraceRequest) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/trace-request-digest");
        t.append_message(b"warrant-digest", &warrant_digest(&r.warrant));
        t.append_message(b"record-digest", &record_digest(&r.record));
        digest(&mut t, b"request-digest")
    }

    /// specs/tracing.md §2.
    pub fn record_digest(r: &TraceRecord) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/trace-record");
        match r {
            TraceRecord::Owner { payment, coin_index } => {
                t.append_u64(b"kind", 1);
                t.append_message(b"payment-digest", &payment_digest(payment));
                t.append_u64(b"coin-index", u64::from(*coin_index));
            }
            TraceRecord::Coin { request, identity } => {
                t.append_u64(b"kind", 2);
                t.append_message(b"request", &request.to_bytes());
                t.append_message(b"identity", identity.as_bytes());
            }
        }
        digest(&mut t, b"record-digest")
    }

    fn tag(k: TraceKind) -> u64 {
        match k {
            TraceKind::Owner => 1,
            TraceKind::Coin => 2,
        }
    }

    /// specs/tracing.md §3.
    pub fn warrant_digest(w: &Warrant) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/warrant-digest");
        t.append_message(b"warrant-id", &w.warrant_id);
        t.append_message(b"case-id", w.case_id.as_bytes());
        t.append_message(b"reason", w.reason.as_bytes());
        t.append_u64(b"kind", tag(w.kind));
        t.append_message(b"record-digest", &w.record_digest);
        t.append_u64(b"issued-at", w.issued_at.0);
        t.append_u64(b"expires-at", w.expires_at.0);
        t.append_message(b"issuer", w.issuer.as_bytes());
        digest(&mut t, b"warrant-digest")
    }

    /// `λ_i(0) = Π_{j ≠ i} j / (j − i)` over the identifiers `ids`
    /// (tracing.md §9.3).
    pub fn lagrange_at_zero(ids: &[u16], i: u16) -> Scalar {
        let xi = Scalar::from(i);
        ids.iter().filter(|&&j| j != i).fold(Scalar::ONE, |acc, &j| {
            let xj = Scalar::from(j);
            acc * xj * (xj - xi).invert()
        })
    }

    /// specs/tracing.md §9.2: the Chaum–Pedersen proof of a decryption share.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_share(
        y_i: &Point,
        context: &ShareContext,
        trustee: u16,
        log_index: u64,
        share: &Point,
        commitments: &[Point],
        responses: &[Scalar],
    ) -> bool {
        let rel = Relation {
            name: b"trace-decryption-share",
            witnesses: vec![b"x_i"],
            points: vec![
                (b"G", G),
                (b"Y_i", *y_i.point()),
                (b"c1", *context.ciphertext.c1.point()),
                (b"D_i", *share.point()),
            ],
            equations: vec![(Some(1), vec![(0, 0)]), (Some(3), vec![(0, 2)])],
        };
        let mut t = pt(b"faircash/v1/trace-decryption-share");
        t.append_u64(b"trustee-id", u64::from(trustee));
        t.append_message(b"Y_i", y_i.as_bytes());
        t.append_message(b"c1", context.ciphertext.c1.as_bytes());
        t.append_message(b"c2", context.ciphertext.c2.as_bytes());
        t.append_message(b"D_i", share.as_bytes());
        t.append_message(b"record-digest", &context.record_digest);
        t.append_message(b"warrant-digest", &context.warrant_digest);
        t.append_u64(b"log-index", log_index);
        rel.verify(t, commitments, responses)
    }

    /// specs/tracing.md §5.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_decryption(
        y_t: &Point,
        c1: &Point,
        c2: &Point,
        x: &Point,
        record_digest: &[u8; 32],
        warrant_digest: &[u8; 32],
        log_index: u64,
        commitments: &[Point],
        responses: &[Scalar],
    ) -> bool {
        let rel = Relation {
            name: b"trace-decryption",
            witnesses: vec![b"x_T"],
            points: vec![
                (b"G", G),
                (b"Y_T", *y_t.point()),
                (b"c1", *c1.point()),
                (b"c2 - X", c2.point() - x.point()),
            ],
            equations: vec![(Some(1), vec![(0, 0)]), (Some(3), vec![(0, 2)])],
        };
        let mut t = pt(b"faircash/v1/trace-decryption");
        t.append_message(b"c1", c1.as_bytes());
        t.append_message(b"c2", c2.as_bytes());
        t.append_message(b"X", x.as_bytes());
        t.append_message(b"record-digest", record_digest);
        t.append_message(b"warrant-digest", warrant_digest);
        t.append_u64(b"log-index", log_index);
        rel.verify(t, commitments, responses)
    }

    /// specs/tracing.md §6.
    pub fn result_digest(r: &TraceResult) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/trace-result-digest");
        t.append_u64(b"kind", tag(r.kind));
        // postcard(proof): varint count, points, varint count, scalars.
        let postcard = |p: &faircash::crypto::schnorr::Proof| {
            let mut proof = vec![p.commitments.len() as u8];
            p.commitments.iter().for_each(|c| proof.extend_from_slice(c.as_bytes()));
            proof.push(p.responses.len() as u8);
            p.responses.iter().for_each(|s| proof.extend_from_slice(s.as_bytes()));
            proof
        };
        match &r.decryption {
            Decryption::Single { log_index, .. } => t.append_u64(b"log-index", *log_index),
            Decryption::Threshold { shares } => {
                // specs/tracing.md §9.6: the shares replace the log index.
                t.append_u64(b"shares", shares.len() as u64);
                for s in shares {
                    t.append_u64(b"trustee-id", u64::from(s.trustee));
                    t.append_u64(b"log-index", s.log_index);
                    t.append_message(b"D_i", s.share.as_bytes());
                    t.append_message(b"share-proof", &postcard(&s.proof));
                }
            }
        }
        t.append_message(b"record-digest", &r.record_digest);
        t.append_message(b"warrant-digest", &r.warrant_digest);
        t.append_message(b"c1", r.ciphertext.c1.as_bytes());
        t.append_message(b"c2", r.ciphertext.c2.as_bytes());
        t.append_message(b"X", r.plaintext.as_bytes());
        if let Decryption::Single { proof, .. } = &r.decryption {
            t.append_message(b"proof", &postcard(proof));
        }
        t.append_message(b"Y_T", r.ttp.decryption.as_bytes());
        t.append_message(b"signing-key", r.ttp.signing.as_bytes());
        digest(&mut t, b"result-digest")
    }

    /// specs/tracing.md §7.
    pub fn entry_hash(e: &LogEntry) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/trace-log-entry");
        t.append_u64(b"index", e.index);
        t.append_message(b"previous", &e.previous);
        t.append_u64(b"time", e.time.0);
        t.append_message(b"warrant-id", &e.warrant_id);
        t.append_u64(b"kind", tag(e.kind));
        t.append_message(b"request-digest", &e.request_digest);
        t.append_message(b"warrant-digest", &e.warrant_digest);
        t.append_message(b"result-digest", &e.result_digest);
        digest(&mut t, b"entry-hash")
    }

    /// specs/tracing.md §7.
    pub fn verify_head(h: &LogHead, signer: &Point) -> bool {
        let mut t = pt(b"faircash/v1/trace-log-head");
        t.append_u64(b"size", h.size);
        t.append_message(b"hash", &h.hash);
        t.append_u64(b"time", h.time.0);
        t.append_message(b"signer", h.signer.as_bytes());
        let d = digest(&mut t, b"head-digest");
        h.signer == *signer
            && verify_group_signature(b"faircash/v1/trace-log-head-signature", &d, signer, &h.signature)
    }

    /// specs/tracing.md §1.1.
    pub fn statement_digest(s: &TtpKeyStatement) -> [u8; 32] {
        let mut t = pt(b"faircash/v1/ttp-key-statement");
        t.append_message(b"params-id", &s.params_id.0);
        t.append_u64(b"sequence", s.sequence);
        t.append_message(b"decryption-key", s.decryption_key.as_bytes());
        t.append_u64(b"threshold", u64::from(s.threshold));
        t.append_u64(b"trustees", s.trustees.len() as u64);
        for k in &s.trustees {
            t.append_u64(b"trustee-id", u64::from(k.id));
            t.append_message(b"verification-share", k.verification_share.as_bytes());
        }
        t.append_message(b"signing-key", s.signing_key.as_bytes());
        t.append_u64(b"escrow-from", u64::from(s.validity.escrow_from.0));
        t.append_u64(b"escrow-until", u64::from(s.validity.escrow_until.0));
        t.append_u64(b"trace-until", u64::from(s.validity.trace_until.0));
        t.append_u64(b"issued", s.issued.0);
        digest(&mut t, b"statement-digest")
    }

    /// specs/tracing.md §1.3: RFC 9591 Schnorr verification in the
    /// ristretto255-SHA512 ciphersuite, on `u64le(len(domain)) || domain ||
    /// digest`, written out with sha2 and curve25519-dalek alone.
    pub fn verify_group_signature(domain: &[u8], d: &[u8; 32], key: &Point, sig: &GroupSignature) -> bool {
        use sha2::Digest;
        if key.is_identity() || sig.r.is_identity() {
            return false;
        }
        let mut m = (domain.len() as u64).to_le_bytes().to_vec();
        m.extend_from_slice(domain);
        m.extend_from_slice(d);
        let mut h = Sha512::new();
        h.update(b"FROST-RISTRETTO255-SHA512-v1");
        h.update(b"chal");
        h.update(sig.r.as_bytes());
        h.update(key.as_bytes());
        h.update(&m);
        let c = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        RistrettoPoint::vartime_double_scalar_mul_basepoint(&c, key.point(), &-sig.z) == -sig.r.point()
    }

    /// specs/protocol.md §7.7, item 2.
    pub fn verify_spent_list(l: &faircash::protocol::spent::SpentList, master: &Point) -> bool {
        let mut m = Vec::new();
        m.extend_from_slice(l.keyset_id.as_bytes());
        m.extend_from_slice(&l.value.to_le_bytes());
        m.extend_from_slice(&l.sequence.to_le_bytes());
        m.extend_from_slice(&l.issued.0.to_le_bytes());
        m.extend_from_slice(&l.page.to_le_bytes());
        m.extend_from_slice(&l.pages.to_le_bytes());
        m.extend_from_slice(&(l.entries.len() as u64).to_le_bytes());
        for e in &l.entries {
            m.extend_from_slice(e.coin_id.as_bytes());
            m.extend_from_slice(&e.published.to_le_bytes());
        }
        verify_signature(b"faircash/v1/spent-list-signature", &m, master, &l.signature)
    }

    /// specs/protocol.md §7.7, item 4.
    pub fn verify_unspent_statement(s: &faircash::protocol::spent::UnspentStatement, master: &Point) -> bool {
        let mut m = Vec::new();
        m.extend_from_slice(s.account.as_bytes());
        m.extend_from_slice(&s.request);
        m.extend_from_slice(&s.sequence.to_le_bytes());
        m.extend_from_slice(&s.issued.0.to_le_bytes());
        m.extend_from_slice(&(s.unspent.len() as u64).to_le_bytes());
        s.unspent.iter().for_each(|c| m.extend_from_slice(c.as_bytes()));
        m.extend_from_slice(&(s.spent.len() as u64).to_le_bytes());
        for e in &s.spent {
            m.extend_from_slice(e.coin_id.as_bytes());
            m.extend_from_slice(&e.published.to_le_bytes());
        }
        verify_signature(b"faircash/v1/unspent-statement-signature", &m, master, &s.signature)
    }

    /// specs/tracing.md §6.
    pub fn verify_watch_list(w: &WatchList, master: &Point) -> bool {
        let mut m = Vec::new();
        m.extend_from_slice(&w.issued.0.to_le_bytes());
        m.extend_from_slice(&w.sequence.to_le_bytes());
        m.extend_from_slice(&(w.serials.len() as u64).to_le_bytes());
        w.serials.iter().for_each(|s| m.extend_from_slice(s.as_bytes()));
        verify_signature(b"faircash/v1/watch-list-signature", &m, master, &w.signature)
    }

    /// A coin read at the fixed offsets of specs/wire.md (788 bytes).
    pub fn fixed_layout_coin(b: &[u8]) -> Coin {
        assert_eq!(b.len(), 4 + 784);
        assert_eq!(&b[..4], &[b'F', b'C', 1, 0x20]);
        let p = |at: usize| Point::from_bytes(b[at..at + 32].try_into().unwrap()).unwrap();
        let s = |at: usize| {
            Option::from(Scalar::from_canonical_bytes(b[at..at + 32].try_into().unwrap())).unwrap()
        };
        let c = Coin::from_bytes(b).unwrap();
        let body = 4;
        assert_eq!(c.body.params_id.0, b[body..body + 32]);
        assert_eq!(c.body.keyset_id.0, b[body + 32..body + 64]);
        assert_eq!(c.body.key_id.0, b[body + 64..body + 80]);
        assert_eq!(c.body.serial, p(body + 80));
        assert_eq!(c.body.escrow.c1, p(body + 112));
        assert_eq!(c.body.escrow.c2, p(body + 144));
        assert_eq!(c.body.expiry_commitment, p(body + 176));
        for j in 0..6 {
            assert_eq!(c.body.spend_commitments[j], p(body + 208 + 32 * j));
        }
        let sig = body + 400;
        let sp = [
            &c.signature.zeta,
            &c.signature.zeta1,
            &c.signature.alpha,
            &c.signature.beta1,
            &c.signature.beta2,
            &c.signature.eta,
        ];
        for (j, x) in sp.into_iter().enumerate() {
            assert_eq!(*x, p(sig + 32 * j));
        }
        let ss = [
            c.signature.rho,
            c.signature.omega,
            c.signature.sigma1,
            c.signature.sigma2,
            c.signature.delta,
            c.signature.mu,
        ];
        for (j, x) in ss.into_iter().enumerate() {
            assert_eq!(x, s(sig + 192 + 32 * j));
        }
        c
    }
}

/// §7.3, `list-withdrawals`: the request's digest as written from wire.md
/// (tag 5, the optional cursor, the limit as a varint) is the library's.
#[test]
fn a_listing_request_digests_as_wire_md_says() {
    let keys = faircash::keys::AccountKeys::generate(&mut rand::rngs::OsRng);
    for (after, limit) in [(None, 64u16), (Some(faircash::protocol::withdraw::SessionId([7; 16])), 300)] {
        let req = AccountRequest::new(
            &keys,
            AccountOperation::ListWithdrawals { after, limit },
            &mut rand::rngs::OsRng,
        );
        assert_eq!(independent::account_request_digest(&req), req.digest());
        assert!(independent::verify_account_request(&req, keys.auth().public()));
    }
}
