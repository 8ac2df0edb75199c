//! Strict decoding of every wire message: round trips, truncation, trailing
//! bytes, the envelope, size limits, canonical varints and scalars, valid
//! points, the identity rules, list limits and the JSON envelope; and
//! property tests that no input panics a decoder.
//!
//! Binary layout (src/wire.rs, postcard): `"FC" || version || kind || body`;
//! in the body a point or a scalar is 32 raw bytes, an id its raw fixed
//! bytes, integers and list lengths are varints. Field offsets below are
//! found by locating the 32-byte encoding of a known value in the bytes,
//! not by hard-coding the layout.

mod common;

use std::sync::OnceLock;

use common::*;
use curve25519_dalek::scalar::Scalar;
use faircash::coin::Coin;
use faircash::crypto::schnorr::SigningKey;
use faircash::encoding::Point;
use faircash::http::{AccountOpened, EvidenceItem, EvidenceList};
use faircash::keys::{KeysetList, PublicKeyFile, SignedKeyset};
use faircash::protocol::account::{
    AccountAnswer, AccountOperation, AccountRequest, RekeyRequest, ReservationId,
};
use faircash::protocol::deposit::{
    CoinOutcome, DepositOutcome, DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome,
    PaymentRefusal, MAX_COINS_PER_DEPOSIT, MAX_PAYMENTS_PER_DEPOSIT,
};
use faircash::protocol::pay::{create_payment, Payment, PaymentRequest};
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::trace::{
    LogEntry, LogHead, TraceRecord, TraceRequest, TraceResult, Warrant, WarrantTerms, WatchList,
};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpStatementList};
use faircash::protocol::withdraw::{
    PendingWithdrawal, WalletCoin, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
    WithdrawStart,
};
use faircash::roles::Ttp;
use faircash::store::memory::MemoryTtpStore;
use faircash::store::TtpStore;
use faircash::time::Clock;
use faircash::wire::{DecodeError, WireMessage, MAGIC, WIRE_VERSION};
use proptest::prelude::*;
use rand::rngs::OsRng;
use rand::RngCore;

/// One valid instance of every message type, built by running the protocol.
struct Samples {
    user_registration: UserRegistration,
    merchant_registration: MerchantRegistration,
    withdraw_request: WithdrawRequest,
    withdraw_commitment: WithdrawCommitment,
    withdraw_challenge: WithdrawChallenge,
    withdraw_answer: WithdrawAnswer,
    pending: PendingWithdrawal,
    wallet_coin: WalletCoin,
    payment_request: PaymentRequest,
    /// One coin.
    payment: Payment,
    /// Three coins.
    payment3: Payment,
    /// An eight-coin payment (a proof for 5..=8 coins).
    payment8: Payment,
    deposit_request: DepositRequest,
    deposit_receipt: DepositReceipt,
    evidence: DoubleSpendEvidence,
    evidence_list: EvidenceList,
    account_opened: AccountOpened,
    /// Two keysets: the first and the one that follows it.
    signed_keyset: SignedKeyset,
    keyset_list: KeysetList,
    public_key: PublicKeyFile,
    coin: Coin,
    /// The coin trace's warrant, record, request and result (log index 1).
    warrant: Warrant,
    record_coin: TraceRecord,
    record_owner: TraceRecord,
    trace_request: TraceRequest,
    trace_result: TraceResult,
    log_entry: LogEntry,
    log_head: LogHead,
    watch_list: WatchList,
    ttp_statement: SignedTtpKeyStatement,
    ttp_statements: TtpStatementList,
    /// A reservation of 60.
    account_request: AccountRequest,
    /// The account's status.
    account_answer: AccountAnswer,
    rekey_request: RekeyRequest,
}

fn samples() -> &'static Samples {
    static S: OnceLock<Samples> = OnceLock::new();
    S.get_or_init(build_samples)
}

fn build_samples() -> Samples {
    let w = World::new();
    let alice = w.user(1_000);
    let shop = w.merchant();
    let keyset = w.bank.current_keyset().unwrap();

    // A withdrawal run step by step, to keep every message and state.
    let start = WithdrawStart::new(alice.keys(), &keyset, 2, w.bank.today(), &mut OsRng).unwrap();
    let withdraw_request = start.request().clone();
    let withdraw_commitment = w.bank.open_withdrawal(&withdraw_request, &mut OsRng).unwrap();
    let pending = start.receive_commitment(alice.keys(), &withdraw_commitment, &mut OsRng).unwrap();
    let withdraw_challenge = pending.challenge();
    let withdraw_answer = w.bank.answer_withdrawal(&withdraw_challenge).unwrap();
    let wallet_coin = pending.clone().finish(&withdraw_answer).unwrap();

    // Payments of 1, 3 and 8 coins.
    alice.withdraw(&*w.bank, 15, &mut OsRng).unwrap(); // 8 4 2 1
    alice.withdraw(&*w.bank, 127, &mut OsRng).unwrap(); // 64 .. 1
    alice.withdraw_one(&*w.bank, 1, &mut OsRng).unwrap();
    let payment_request = shop.request_payment(8, [1; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&payment_request, &mut OsRng).unwrap();
    let payment3 = alice.pay(&shop.request_payment(7, [3; 32], &mut OsRng).unwrap(), &mut OsRng).unwrap();
    let payment8 = alice.pay(&shop.request_payment(128, [8; 32], &mut OsRng).unwrap(), &mut OsRng).unwrap();
    assert_eq!((payment.coins.len(), payment3.coins.len(), payment8.coins.len()), (1, 3, 8));
    // A deposit of the 3-coin payment (one payment keeps the quadratic
    // every-prefix test quick).
    shop.accept(&payment3, &mut OsRng).unwrap();
    let deposit_request = shop.deposit_request(&mut OsRng).unwrap().unwrap();
    let deposit_receipt = w.bank.deposit(&deposit_request, &mut OsRng).unwrap();
    assert_eq!(deposit_receipt.credited, 7);

    // The 1-coin payment's coin spent a second time, for another request.
    let coin =
        alice.coins().unwrap().into_iter().find(|c| c.coin.coin.id() == payment.coins[0].id()).unwrap().coin;
    let req2 = shop.request_payment(8, [2; 32], &mut OsRng).unwrap();
    let second = create_payment(&req2, &keyset, alice.user(), &[&coin], &mut OsRng).unwrap();
    let evidence = DoubleSpendEvidence {
        coin_id: coin.coin.id(),
        first: payment.clone(),
        first_index: 0,
        second,
        second_index: 0,
    };
    evidence.verify(&keyset, &mut OsRng).unwrap();

    // Tracing: an owner trace of a deposited coin, then a coin trace of the
    // step-by-step withdrawal (log index 1), the log and the watch list.
    let judge = SigningKey::generate(&mut OsRng);
    let mut ttp = Ttp::new(w.ttp_keys.clone(), MemoryTtpStore::new(), std::sync::Arc::new(w.clock.clone()));
    ttp.trust_issuer(*judge.public());
    ttp.add_keysets(&w.bank.published_keysets(), &w.bank.master_key()).unwrap();
    let warrant_for = |record: &TraceRecord| {
        let now = w.clock.now();
        Warrant::issue(
            &judge,
            WarrantTerms {
                kind: record.kind(),
                record_digest: record.digest(),
                case_id: "case-7".into(),
                reason: "a reason".into(),
                issued_at: now,
                expires_at: now.plus_secs(600),
            },
            &mut OsRng,
        )
    };
    let record_owner = w.bank.spend_record(&payment3.coins[1].id()).unwrap();
    let owner = TraceRequest { warrant: warrant_for(&record_owner), record: record_owner.clone() };
    ttp.trace(&owner, &mut OsRng).unwrap();
    let record_coin = w.bank.withdrawal_record(&withdraw_request.session_id).unwrap();
    let warrant = warrant_for(&record_coin);
    let trace_request = TraceRequest { warrant: warrant.clone(), record: record_coin.clone() };
    let trace_result = ttp.trace(&trace_request, &mut OsRng).unwrap();
    assert_eq!(trace_result.log_entries(), vec![(1, 1)]);
    w.bank.apply_coin_trace(&trace_result, &record_coin, &warrant, &w.ttp_statement.statement).unwrap();
    let log_entry = ttp.store().entries().unwrap().remove(1);
    let log_head = ttp.log_head(&mut OsRng).unwrap();
    let watch_list = w.bank.watch_list(&mut OsRng).unwrap();
    assert_eq!(watch_list.serials.len(), 1);

    // A second keyset, so the list is a chain of two.
    w.bank
        .issue_keyset(
            *w.ttp.public(),
            &faircash::keys::KeysetSpec {
                exponents: 0..=1,
                withdraw_from: START.plus(30),
                withdraw_days: 30,
                policy: faircash::keys::KeysetPolicy { validity_days: 30, max_deposit_delay_days: 7 },
            },
            &mut OsRng,
        )
        .unwrap();
    let keyset_list = KeysetList { keysets: w.bank.published_keysets() };
    assert_eq!(keyset_list.keysets.len(), 2);

    // Account requests: a reservation, the account's status, a re-key.
    let reservation = ReservationId([5; 16]);
    let account_request =
        alice.account_request(AccountOperation::ReserveWithdrawal { reservation, amount: 60 }, &mut OsRng);
    let account_answer =
        w.bank.account_request(&alice.account_request(AccountOperation::Status, &mut OsRng)).unwrap();
    assert!(matches!(account_answer, AccountAnswer::Status(_)));
    let rekey_request = alice.rekey_request(
        &faircash::keys::UserKey::generate(&mut OsRng),
        &faircash::keys::AuthKey::generate(&mut OsRng),
        &mut OsRng,
    );

    Samples {
        account_request,
        account_answer,
        rekey_request,
        evidence_list: EvidenceList {
            items: vec![EvidenceItem {
                seq: 1,
                evidence: evidence.clone(),
                account: Some(alice.account_id()),
            }],
            cursor: 1,
            more: false,
        },
        account_opened: AccountOpened { account: alice.account_id() },
        signed_keyset: keyset.signed().clone(),
        keyset_list,
        public_key: PublicKeyFile { purpose: "warrant-issuer".into(), key: *judge.public() },
        coin: wallet_coin.coin,
        warrant,
        record_coin,
        record_owner,
        trace_request,
        trace_result,
        log_entry,
        log_head,
        watch_list,
        ttp_statement: w.ttp_statement.clone(),
        ttp_statements: TtpStatementList { statements: vec![w.ttp_statement.clone()] },
        user_registration: alice.registration(&mut OsRng),
        merchant_registration: shop.registration(&mut OsRng),
        withdraw_request,
        withdraw_commitment,
        withdraw_challenge,
        withdraw_answer,
        pending,
        wallet_coin,
        payment_request,
        payment,
        payment3,
        payment8,
        deposit_request,
        deposit_receipt,
        evidence,
    }
}

/// A message type, erased: its encodings and its decoders (which re-encode
/// what they decode, so results compare as bytes).
struct Case {
    name: &'static str,
    max: usize,
    max_json: usize,
    bytes: Vec<u8>,
    json: String,
    decode: fn(&[u8]) -> Result<Vec<u8>, DecodeError>,
    decode_json: fn(&str) -> Result<Vec<u8>, DecodeError>,
}

fn case<T: WireMessage>(v: &T) -> Case {
    Case {
        name: T::KIND.name(),
        max: T::MAX_BYTES,
        max_json: T::MAX_JSON_BYTES,
        bytes: v.to_bytes(),
        json: v.to_json(),
        decode: |b| T::from_bytes(b).map(|v| v.to_bytes()),
        decode_json: |s| T::from_json(s).map(|v| v.to_bytes()),
    }
}

/// Every type that implements `WireMessage` (`grep -rn "impl WireMessage
/// for" src`); the trace record as its owner variant (the coin variant is
/// `samples().record_coin`).
fn cases() -> &'static [Case] {
    static C: OnceLock<Vec<Case>> = OnceLock::new();
    C.get_or_init(build_cases)
}

fn build_cases() -> Vec<Case> {
    let s = samples();
    vec![
        case(&s.user_registration),
        case(&s.merchant_registration),
        case(&s.withdraw_request),
        case(&s.withdraw_commitment),
        case(&s.withdraw_challenge),
        case(&s.withdraw_answer),
        case(&s.payment_request),
        case(&s.payment),
        case(&s.deposit_request),
        case(&s.deposit_receipt),
        case(&s.evidence),
        case(&s.wallet_coin),
        case(&s.pending),
        case(&s.evidence_list),
        case(&s.account_opened),
        case(&s.signed_keyset),
        case(&s.keyset_list),
        case(&s.public_key),
        case(&s.coin),
        case(&s.warrant),
        case(&s.record_owner),
        case(&s.trace_request),
        case(&s.trace_result),
        case(&s.log_entry),
        case(&s.log_head),
        case(&s.watch_list),
        case(&s.ttp_statement),
        case(&s.ttp_statements),
        case(&s.account_request),
        case(&s.account_answer),
        case(&s.rekey_request),
    ]
}

/// The number of message types.
const CASES: usize = 31;

fn get(name: &str) -> &'static Case {
    cases().iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}"))
}

/// Position of the first occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} not found", hex::encode(needle)))
}

fn kind_of(r: Result<Vec<u8>, DecodeError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    }
}

fn replaced(bytes: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut m = bytes.to_vec();
    m[at..at + with.len()].copy_from_slice(with);
    m
}

/// `ℓ`, the group order, little-endian: the smallest non-canonical scalar.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn every_message_round_trips_in_binary_and_json() {
    let all = cases();
    assert_eq!(all.len(), CASES);
    let mut kinds: Vec<u8> = Vec::new();
    for c in all {
        assert_eq!(c.bytes[..2], MAGIC, "{}", c.name);
        assert_eq!(c.bytes[2], WIRE_VERSION, "{}", c.name);
        kinds.push(c.bytes[3]);
        assert!(c.bytes.len() <= c.max, "{}: sample exceeds its limit", c.name);
        assert_eq!((c.decode)(&c.bytes).as_ref(), Ok(&c.bytes), "{}", c.name);
        assert_eq!((c.decode_json)(&c.json).as_ref(), Ok(&c.bytes), "{}", c.name);
        let v: serde_json::Value = serde_json::from_str(&c.json).unwrap();
        assert_eq!(v["faircash"], 1, "{}", c.name);
        assert_eq!(v["kind"], c.name, "{}", c.name);
    }
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), all.len(), "two types share a kind byte");

    // Typed equality, where the types have it.
    let s = samples();
    assert_eq!(Payment::from_bytes(&s.payment3.to_bytes()).unwrap(), s.payment3);
    assert_eq!(Payment::from_json(&s.payment8.to_json()).unwrap(), s.payment8);
    assert_eq!(DoubleSpendEvidence::from_json(&s.evidence.to_json()).unwrap(), s.evidence);
    assert_eq!(WithdrawRequest::from_bytes(&s.withdraw_request.to_bytes()).unwrap(), s.withdraw_request);
    // A decoded wallet coin still pays (its secrets survived).
    let wc = WalletCoin::from_bytes(&s.wallet_coin.to_bytes()).unwrap();
    assert_eq!(wc.coin, s.wallet_coin.coin);
    assert_eq!(wc.secrets.expiry(), s.wallet_coin.secrets.expiry());
}

#[test]
fn every_truncated_prefix_is_refused() {
    for c in cases() {
        let n = c.bytes.len();
        // Every prefix; in the middle of the largest messages (the cost is
        // quadratic) every 5th, which meets every offset modulo 32.
        let lens = (0..n).filter(|len| n <= 2048 || *len < 512 || n - len <= 512 || len % 5 == 0);
        for len in lens {
            let kind = kind_of((c.decode)(&c.bytes[..len]));
            assert_eq!(kind, "truncated", "{}: prefix of {len} bytes", c.name);
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for c in cases() {
        for extra in [&[0u8][..], &[1], &c.bytes[4..]] {
            let mut m = c.bytes.clone();
            m.extend_from_slice(extra);
            if m.len() > c.max {
                continue;
            }
            assert_eq!(kind_of((c.decode)(&m)), "trailing-bytes", "{}", c.name);
        }
    }
}

#[test]
fn bad_magic_unsupported_version_and_wrong_kind_are_refused() {
    let all = cases();
    for c in all {
        for (i, b) in [(0, b'X'), (1, b'c'), (0, 0), (1, 0xff)] {
            let m = replaced(&c.bytes, i, &[b]);
            assert_eq!(kind_of((c.decode)(&m)), "bad-magic", "{}", c.name);
        }
        for v in [0u8, 2, 0x81, 0xff] {
            let m = replaced(&c.bytes, 2, &[v]);
            assert_eq!(kind_of((c.decode)(&m)), "unsupported-version", "{}", c.name);
        }
        for k in 0..=255u8 {
            if k == c.bytes[3] {
                continue;
            }
            let m = replaced(&c.bytes, 3, &[k]);
            assert_eq!(kind_of((c.decode)(&m)), "wrong-kind", "{}: kind {k}", c.name);
        }
        // Every other type's valid bytes are refused by this decoder.
        for other in all {
            if other.name == c.name {
                continue;
            }
            let expected = if other.bytes.len() > c.max { "too-large" } else { "wrong-kind" };
            assert_eq!(
                kind_of((c.decode)(&other.bytes)),
                expected,
                "{} bytes decoded as {}",
                other.name,
                c.name
            );
        }
    }
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    for c in cases() {
        let mut big = c.bytes.clone();
        big.resize(c.max + 1, 0);
        assert_eq!(kind_of((c.decode)(&big)), "too-large", "{}", c.name);
        // At the limit the size rule does not fire (the padding does).
        big.truncate(c.max);
        assert_eq!(kind_of((c.decode)(&big)), "trailing-bytes", "{}", c.name);

        let limit = c.max_json;
        assert!(limit >= c.max * 2, "{}: JSON limit below the hex size", c.name);
        if limit > 40 << 20 {
            // The watch list and the evidence list: the same rule, but a
            // document of 100 MiB and more is not built here.
            continue;
        }
        let mut json = c.json.clone();
        json.push_str(&" ".repeat(limit + 1 - json.len()));
        assert_eq!(kind_of((c.decode_json)(&json)), "too-large", "{}", c.name);
        // JSON whitespace up to the limit is fine.
        json.truncate(limit);
        assert_eq!((c.decode_json)(&json).as_ref(), Ok(&c.bytes), "{}", c.name);
    }
}

/// Where a minimal varint sits in each type's encoding: `(start, end)`.
/// `None` for types without one (all their fields have fixed size).
fn varint_position(c: &Case) -> Option<(usize, usize)> {
    let s = samples();
    let b = &c.bytes;
    let one_byte = |at: usize| Some((at, at + 1));
    match c.name {
        // The proof's list of commitments: its length follows the key.
        "user-registration" => one_byte(find(b, s.user_registration.auth_key.as_bytes()) + 32),
        "merchant-registration" => one_byte(find(b, s.merchant_registration.key.as_bytes()) + 32),
        // (after the reservation, absent: its option tag 0)
        "withdraw-request" => one_byte(find(b, s.withdraw_request.escrow.c2.as_bytes()) + 33),
        // The request's day, a 3-byte varint after M and the amount.
        "payment-request" => {
            let at = find(b, s.payment_request.merchant_key.as_bytes()) + 33;
            Some((at, at + 3))
        }
        // The amount.
        "payment" => one_byte(find(b, s.payment.request.merchant_key.as_bytes()) + 32),
        // The number of payments, after merchant id and request id.
        "deposit-request" => one_byte(find(b, s.deposit_request.merchant_id.as_bytes()) + 16 + 16),
        // The receipt day, after the merchant id and the request digest.
        "deposit-receipt" => {
            let at = find(b, s.deposit_receipt.merchant_id.as_bytes()) + 16 + 32;
            Some((at, at + 3))
        }
        "double-spend-evidence" => one_byte(find(b, s.evidence.first.request.merchant_key.as_bytes()) + 32),
        // The coin's value, the last field.
        "wallet-coin" => one_byte(b.len() - 1),
        // The value, after the session id.
        "pending-withdrawal" => one_byte(find(b, s.pending.session_id().as_bytes()) + 16),
        // The number of items, the first byte of the body.
        "evidence-list" | "keyset-list" => one_byte(4),
        // The issue day, after the master and TTP keys.
        "signed-keyset" => {
            let at = find(b, s.signed_keyset.document.ttp_key.as_bytes()) + 32;
            Some((at, at + 3))
        }
        // The purpose's length.
        "public-key" => one_byte(4),
        // The case id's length, after the warrant id.
        "warrant" | "trace-request" => one_byte(20),
        // The payment's amount, inside the owner record.
        "trace-record" => one_byte(find(b, s.record_owner_payment().request.merchant_key.as_bytes()) + 32),
        // The log index 1, after the plaintext and the decryption's tag
        // (single = 0).
        "trace-result" => one_byte(find(b, s.trace_result.plaintext.as_bytes()) + 32 + 1),
        // The time, a 5-byte varint after the index and the previous hash.
        "trace-log-entry" => Some((37, 42)),
        // The time, after the size and the hash.
        "trace-log-head" => Some((37, 42)),
        // The issue time.
        "watch-list" => Some((4, 9)),
        // The threshold t = 1, after params_id, the sequence 0 and Y_T (and,
        // in a list, after the count).
        "ttp-key-statement" => one_byte(4 + 32 + 1 + 32),
        "ttp-statement-list" => one_byte(5 + 32 + 1 + 32),
        // The reserved amount, after the reservation id.
        "account-request" => one_byte(find(b, &[5; 16]) + 16),
        // The balance, after the keys.
        "account-answer" => {
            let AccountAnswer::Status(st) = &s.account_answer else { unreachable!() };
            let at = find(b, st.auth_key.as_bytes()) + 32;
            Some((at, at + postcard::to_allocvec(&st.balance).unwrap().len()))
        }
        // The proof's list of commitments, after the new keys.
        "rekey-request" => one_byte(find(b, s.rekey_request.new_auth_key.as_bytes()) + 32),
        _ => None,
    }
}

impl Samples {
    fn record_owner_payment(&self) -> &Payment {
        match &self.record_owner {
            TraceRecord::Owner { payment, .. } => payment,
            TraceRecord::Coin { .. } => unreachable!("an owner record"),
        }
    }
}

#[test]
fn an_over_long_varint_is_a_non_canonical_encoding() {
    let mut tested = 0;
    for c in cases() {
        let Some((start, end)) = varint_position(c) else {
            continue;
        };
        let b = &c.bytes;
        // Sanity: a minimal varint ends at `end`.
        assert!(b[start..end - 1].iter().all(|x| x & 0x80 != 0), "{}", c.name);
        assert_eq!(b[end - 1] & 0x80, 0, "{}", c.name);
        assert_ne!(b[end - 1], 0, "{}: not minimal", c.name);
        // The same value with one more (zero) continuation byte.
        let mut m = b.clone();
        m[end - 1] |= 0x80;
        m.insert(end, 0);
        assert_eq!(kind_of((c.decode)(&m)), "non-canonical-encoding", "{}", c.name);
        // And with two.
        m[end] = 0x80;
        m.insert(end + 1, 0);
        assert_eq!(kind_of((c.decode)(&m)), "non-canonical-encoding", "{}", c.name);
        tested += 1;
    }
    // Only the withdrawal's three bank/wallet messages (the answer's one
    // varint is its outcome's tag, 0), the coin and the registration answer
    // have no non-zero varint.
    assert_eq!(tested, CASES - 5);
}

/// Where a scalar sits in each type's encoding. `None` for types without
/// one (their ids, nonces and digests are raw bytes, any value allowed).
fn scalar_position(c: &Case) -> Option<usize> {
    let s = samples();
    let b = &c.bytes;
    let last = b.len().saturating_sub(32);
    match c.name {
        // The proof's last response.
        "user-registration" | "merchant-registration" | "withdraw-request" => Some(last),
        "withdraw-commitment" => Some(find(b, s.withdraw_commitment.commitment.rnd.as_bytes())),
        "withdraw-challenge" => Some(find(b, s.withdraw_challenge.e.as_bytes())),
        "withdraw-answer" => Some(find(b, s.withdraw_answer.answer().unwrap().c.as_bytes())),
        // The authorization's s, the last field.
        "account-request" | "rekey-request" => Some(last),
        "payment" => Some(find(b, s.payment.coins[0].signature.rho.as_bytes())),
        // The merchant's signature.
        "deposit-request" => Some(find(b, s.deposit_request.signature.s.as_bytes())),
        "double-spend-evidence" => Some(find(b, s.evidence.second.responses[0].u.as_bytes())),
        "wallet-coin" => Some(find(b, s.wallet_coin.coin.signature.mu.as_bytes())),
        "pending-withdrawal" => Some(find(b, s.withdraw_challenge.e.as_bytes())),
        // A signature's s, the last field.
        "signed-keyset" | "keyset-list" | "warrant" | "trace-result" | "trace-log-head" | "watch-list"
        | "ttp-key-statement" | "ttp-statement-list" => Some(last),
        "coin" => Some(find(b, s.coin.signature.rho.as_bytes())),
        "trace-record" => Some(find(b, s.record_owner_payment().responses[0].u.as_bytes())),
        "trace-request" => Some(find(b, s.warrant.signature.s.as_bytes())),
        "evidence-list" => Some(find(b, s.evidence.second.responses[0].u.as_bytes())),
        _ => None,
    }
}

#[test]
fn a_non_canonical_scalar_is_refused() {
    let mut ell_plus_one = ELL;
    ell_plus_one[0] += 1;
    let mut high_bit = [0u8; 32];
    high_bit[31] = 0x80;
    let bad = [[0xff; 32], ELL, ell_plus_one, high_bit];
    for b in &bad {
        assert!(bool::from(Scalar::from_canonical_bytes(*b).is_none()));
    }
    // ℓ - 1 is canonical: the boundary is right.
    let mut ell_minus_one = ELL;
    ell_minus_one[0] -= 1;
    assert!(bool::from(Scalar::from_canonical_bytes(ell_minus_one).is_some()));

    let mut tested = 0;
    for c in cases() {
        let Some(at) = scalar_position(c) else {
            continue;
        };
        for b in &bad {
            let m = replaced(&c.bytes, at, b);
            assert_eq!(kind_of((c.decode)(&m)), "non-canonical-scalar", "{}", c.name);
        }
        // ℓ - 1 decodes as a scalar (the message may then fail for other
        // reasons, but not this one).
        let m = replaced(&c.bytes, at, &ell_minus_one);
        assert_ne!(kind_of((c.decode)(&m)), "non-canonical-scalar", "{}", c.name);
        tested += 1;
    }
    // All but the payment request, the deposit receipt, the public key
    // file, the registration answer, the log entry and the account's status
    // carry a scalar.
    assert_eq!(tested, CASES - 6);
}

/// Where a point sits in each type's encoding.
fn point_position(c: &Case) -> Option<usize> {
    let s = samples();
    let b = &c.bytes;
    match c.name {
        "user-registration" => Some(find(b, s.user_registration.identity.as_bytes())),
        "merchant-registration" => Some(find(b, s.merchant_registration.key.as_bytes())),
        "withdraw-request" => Some(find(b, s.withdraw_request.commitment.as_bytes())),
        "withdraw-commitment" => Some(find(b, s.withdraw_commitment.commitment.b2.as_bytes())),
        "payment-request" => Some(find(b, s.payment_request.merchant_key.as_bytes())),
        "payment" => Some(find(b, s.payment.coins[0].body.escrow.c2.as_bytes())),
        "deposit-request" => Some(find(b, s.deposit_request.signature.r.as_bytes())),
        "double-spend-evidence" => {
            Some(find(b, s.evidence.second.coins[0].body.spend_commitments[5].as_bytes()))
        }
        "wallet-coin" => Some(find(b, s.wallet_coin.coin.signature.eta.as_bytes())),
        "pending-withdrawal" => Some(find(b, s.withdraw_commitment.commitment.a.as_bytes())),
        "withdraw-challenge" => Some(find(b, s.withdraw_challenge.authorization.r.as_bytes())),
        "signed-keyset" => Some(find(b, s.signed_keyset.document.master_key.as_bytes())),
        "keyset-list" => Some(find(b, s.keyset_list.keysets[1].document.keys[0].z.as_bytes())),
        "public-key" => Some(find(b, s.public_key.key.as_bytes())),
        "coin" => Some(find(b, s.coin.body.escrow.c2.as_bytes())),
        "warrant" | "trace-request" => Some(find(b, s.warrant.issuer.as_bytes())),
        "trace-record" => Some(find(b, s.record_owner_payment().coins[2].body.serial.as_bytes())),
        "trace-result" => Some(find(b, s.trace_result.plaintext.as_bytes())),
        "trace-log-head" => Some(find(b, s.log_head.signer.as_bytes())),
        "watch-list" => Some(find(b, s.watch_list.serials[0].as_bytes())),
        "ttp-key-statement" => Some(find(b, s.ttp_statement.statement.signing_key.as_bytes())),
        "ttp-statement-list" => Some(find(b, s.ttp_statement.statement.signing_key.as_bytes())),
        "evidence-list" => Some(find(b, s.evidence.first.coins[0].signature.zeta.as_bytes())),
        "account-request" => Some(find(b, s.account_request.authorization.r.as_bytes())),
        "account-answer" => {
            let AccountAnswer::Status(st) = &s.account_answer else { unreachable!() };
            Some(find(b, st.identity.as_bytes()))
        }
        "rekey-request" => Some(find(b, s.rekey_request.new_identity.as_bytes())),
        _ => None,
    }
}

fn invalid_points() -> Vec<[u8; 32]> {
    // p - 1 (a non-canonical field element), then 1 (a "negative" s).
    let mut p_minus_one = [0xff; 32];
    p_minus_one[0] = 0xec;
    p_minus_one[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut out = vec![[0xff; 32], p_minus_one, one];
    // Random bytes that happen not to decode.
    while out.len() < 6 {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        if Point::from_bytes(&b).is_none() {
            out.push(b);
        }
    }
    for b in &out {
        assert!(Point::from_bytes(b).is_none());
    }
    out
}

#[test]
fn an_invalid_point_encoding_is_refused() {
    let bad = invalid_points();
    let mut tested = 0;
    for c in cases() {
        let Some(at) = point_position(c) else {
            continue;
        };
        for b in &bad {
            let m = replaced(&c.bytes, at, b);
            assert_eq!(kind_of((c.decode)(&m)), "invalid-point", "{}", c.name);
        }
        tested += 1;
    }
    // All but the withdrawal answer, the deposit receipt, the registration
    // answer and the log entry carry a point.
    assert_eq!(tested, CASES - 4);
}

fn identity_refusal(c: &Case, m: &[u8]) -> Option<&'static str> {
    match (c.decode)(m) {
        Err(DecodeError::IdentityPoint { field, .. }) => Some(field),
        _ => None,
    }
}

#[test]
fn the_identity_is_refused_where_the_protocol_forbids_it() {
    let s = samples();
    let o = [0u8; 32];
    assert!(Point::from_bytes(&o).unwrap().is_identity());
    let mut checks: Vec<(&str, usize, &str)> = Vec::new();
    let mut at = |name: &'static str, p: &Point, field: &'static str| {
        let c = get(name);
        checks.push((name, find(&c.bytes, p.as_bytes()), field));
    };
    at("user-registration", &s.user_registration.identity, "I");
    at("user-registration", &s.user_registration.auth_key, "A");
    let AccountAnswer::Status(st) = &s.account_answer else { unreachable!() };
    at("account-answer", &st.identity, "identity");
    at("account-answer", &st.auth_key, "auth_key");
    at("rekey-request", &s.rekey_request.old_identity, "old_identity");
    at("rekey-request", &s.rekey_request.new_identity, "new_identity");
    at("rekey-request", &s.rekey_request.new_auth_key, "new_auth_key");
    at("merchant-registration", &s.merchant_registration.key, "M");
    at("payment-request", &s.payment_request.merchant_key, "M");
    at("payment", &s.payment.request.merchant_key, "M");
    at("withdraw-request", &s.withdraw_request.commitment, "C");
    at("withdraw-request", &s.withdraw_request.escrow.c1, "E_w1");
    at("withdraw-commitment", &s.withdraw_commitment.commitment.a, "a");
    at("withdraw-commitment", &s.withdraw_commitment.commitment.b1, "b1");
    at("withdraw-commitment", &s.withdraw_commitment.commitment.b2, "b2");
    let coin = &s.payment.coins[0];
    at("payment", &coin.body.serial, "S");
    at("payment", &coin.body.escrow.c1, "E1");
    at("payment", &coin.signature.zeta, "zeta");
    at("payment", &coin.signature.zeta1, "zeta1");
    // Inside the payments of a deposit request and of evidence.
    let dep_coin = &s.deposit_request.payments[0].coins[2];
    at("deposit-request", &dep_coin.body.serial, "S");
    at("deposit-request", &dep_coin.signature.zeta1, "zeta1");
    at("double-spend-evidence", &s.evidence.second.coins[0].body.escrow.c1, "E1");
    at("evidence-list", &s.evidence.first.coins[0].signature.zeta, "zeta");
    let doc = &s.signed_keyset.document;
    at("signed-keyset", &doc.master_key, "master_key");
    at("signed-keyset", &doc.ttp_key, "ttp_key");
    at("signed-keyset", &doc.keys[2].y, "y_k");
    at("signed-keyset", &doc.keys[3].z, "z_k");
    at("keyset-list", &s.keyset_list.keysets[1].document.keys[1].z, "z_k");
    at("public-key", &s.public_key.key, "key");
    at("coin", &s.coin.body.serial, "S");
    at("coin", &s.coin.body.escrow.c1, "E1");
    at("coin", &s.coin.signature.zeta, "zeta");
    at("coin", &s.coin.signature.zeta1, "zeta1");
    at("warrant", &s.warrant.issuer, "issuer");
    at("trace-request", &s.warrant.issuer, "issuer");
    at("trace-request", &s.withdraw_request.commitment, "C");
    at("trace-record", &s.record_owner_payment().coins[0].body.serial, "S");
    at("trace-result", &s.trace_result.ttp.decryption, "Y_T");
    at("trace-result", &s.trace_result.ttp.signing, "signing key");
    at("trace-log-head", &s.log_head.signer, "signer");
    at("watch-list", &s.watch_list.serials[0], "S");
    at("ttp-key-statement", &s.ttp_statement.statement.decryption_key, "decryption_key");
    at("ttp-key-statement", &s.ttp_statement.statement.signing_key, "signing_key");
    at("ttp-key-statement", &s.ttp_statement.signature.r, "signature.r");
    at("ttp-statement-list", &s.ttp_statement.statement.signing_key, "signing_key");
    at("trace-result", &s.trace_result.signature.r, "signature.r");
    at("trace-log-head", &s.log_head.signature.r, "signature.r");
    for (name, pos, field) in checks {
        let c = get(name);
        let m = replaced(&c.bytes, pos, &o);
        assert_eq!(identity_refusal(c, &m), Some(field), "{name}: {field}");
    }

    // zeta1 == zeta, in a payment's coin (the last coin of three too).
    for p in [&s.payment, &s.payment3] {
        let c = case(p);
        let sig = &p.coins[p.coins.len() - 1].signature;
        let zeta1_at = find(&c.bytes, sig.zeta1.as_bytes());
        let m = replaced(&c.bytes, zeta1_at, sig.zeta.as_bytes());
        assert_eq!(identity_refusal(&c, &m), Some("zeta - zeta1"));
    }

    // The coin variant of the trace record: the identity and the request's
    // rules.
    let c = case(&s.record_coin);
    let TraceRecord::Coin { identity, request } = &s.record_coin else { unreachable!() };
    for (p, field) in [(identity, "identity"), (&request.commitment, "C"), (&request.escrow.c1, "E_w1")] {
        let m = replaced(&c.bytes, find(&c.bytes, p.as_bytes()), &o);
        assert_eq!(identity_refusal(&c, &m), Some(field), "trace-record (coin): {field}");
    }
    assert_eq!((c.decode)(&c.bytes).as_ref(), Ok(&c.bytes));
    assert_eq!((c.decode_json)(&c.json).as_ref(), Ok(&c.bytes));

    // The rules hold in JSON too.
    let mut reg = s.user_registration.clone();
    reg.identity = Point::identity();
    assert_eq!(UserRegistration::from_json(&reg.to_json()).unwrap_err().kind(), "identity-point");
    let mut p = s.payment.clone();
    p.coins[0].signature.zeta1 = p.coins[0].signature.zeta;
    assert_eq!(Payment::from_json(&p.to_json()).unwrap_err().kind(), "identity-point");
}

#[test]
fn more_than_64_coins_in_a_payment_are_refused() {
    let s = samples();
    let with_copies = |n: usize| {
        let mut p = s.payment8.clone();
        p.coins = vec![s.payment8.coins[0]; n];
        p.responses = vec![s.payment8.responses[0]; n];
        p
    };
    let p65 = with_copies(65);
    let bytes = p65.to_bytes();
    assert!(bytes.len() <= <Payment as WireMessage>::MAX_BYTES);
    assert_eq!(Payment::from_bytes(&bytes).unwrap_err().kind(), "too-many");
    assert_eq!(Payment::from_json(&p65.to_json()).unwrap_err().kind(), "too-many");
    // 64 coins pass the count and fail on the next rule (the proof is for 8).
    let p64 = with_copies(64);
    assert_eq!(Payment::from_bytes(&p64.to_bytes()).unwrap_err().kind(), "invalid-field");
    // A count prefix that claims 65 coins (or 2^40) where one follows.
    let c = case(&s.payment);
    // The count follows the request, whose last fields are the nonce and
    // the order digest (32 bytes each).
    let count_at = find(&c.bytes, &s.payment.request.nonce) + 64;
    assert_eq!(c.bytes[count_at], 1);
    let m = replaced(&c.bytes, count_at, &[65]);
    assert_eq!(kind_of((c.decode)(&m)), "too-many");
    // A count of 2^40 is longer than the input, so postcard gives no size
    // hint: the decoder reads one coin at a time and fails on the bytes
    // after the real coin, without allocating for 2^40 coins.
    let mut m = c.bytes.clone();
    m.splice(count_at..count_at + 1, [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert_ne!(kind_of((c.decode)(&m)), "ok");
    // Likewise 65 response sets for one coin.
    let mut p = s.payment.clone();
    p.responses = vec![s.payment.responses[0]; 65];
    assert_eq!(Payment::from_bytes(&p.to_bytes()).unwrap_err().kind(), "too-many");
}

/// The list-length rule of wire.md §3, on a list that ends the message
/// (`keyset-list`, at most 1024 keysets): the count is compared once, with
/// the bytes left after it, before any element is read.
#[test]
fn a_list_count_is_judged_against_the_bytes_left_once() {
    let s = samples();
    let one = s.signed_keyset.to_bytes()[4..].to_vec();
    let varint = |mut n: u64| {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    };
    // A keyset list of `count` claimed and `elements` encoded keysets; the
    // first one's master key made an invalid encoding if `bad_first`.
    let list = |count: u64, elements: usize, bad_first: bool| {
        let mut m = s.keyset_list.to_bytes()[..4].to_vec();
        m.extend(varint(count));
        let start = m.len();
        for _ in 0..elements {
            m.extend_from_slice(&one);
        }
        if bad_first {
            let at = start + find(&one, s.signed_keyset.document.master_key.as_bytes());
            m[at..at + 32].copy_from_slice(&[0xff; 32]);
        }
        m
    };
    let decode = |m: &[u8]| KeysetList::from_bytes(m).map(|_| ()).map_err(|e| e.kind());
    assert_eq!(decode(&list(2, 2, false)), Ok(()));
    // Count over the limit and at most the bytes left: refused before the
    // first element is read, even one that would not decode.
    assert_eq!(decode(&list(1025, 1025, false)), Err("too-many"));
    assert_eq!(decode(&list(1025, 2, true)), Err("too-many"));
    assert_eq!(decode(&list(1025, 2, false)), Err("too-many"));
    // Count above the bytes left: not believed; elements are read one by
    // one, and the first that fails decides ...
    let huge = 1u64 << 40;
    assert_eq!(decode(&list(huge, 2, true)), Err("invalid-point"));
    assert_eq!(decode(&list(huge, 2, false)), Err("truncated"));
    assert_eq!(decode(&list(huge, 1024, false)), Err("truncated"));
    // ... or the limit is passed once a 1025th element has decoded.
    let full = list(huge, 1025, false);
    assert_eq!(decode(&full), Err("too-many"));
    assert_eq!(decode(&full[..full.len() - 1]), Err("truncated"));
    // In JSON an array has no count: the 1025th element decides.
    let mut many = s.keyset_list.clone();
    many.keysets = vec![s.signed_keyset.clone(); 1025];
    assert_eq!(KeysetList::from_json(&many.to_json()).map(drop).map_err(|e| e.kind()), Err("too-many"));
}

#[test]
fn deposit_request_limits_are_enforced_by_the_decoder() {
    let s = samples();
    let base = &s.deposit_request;
    // 1025 payments.
    let mut d = base.clone();
    d.payments = vec![s.payment.clone(); MAX_PAYMENTS_PER_DEPOSIT + 1];
    assert_eq!(DepositRequest::from_bytes(&d.to_bytes()).unwrap_err().kind(), "too-many");
    // Coins over all payments: four coins fit a 3-coin proof (padded to 4),
    // eight fit an 8-coin proof. 1024 x 4 = 4096 coins is the limit ...
    let mut four = s.payment3.clone();
    four.coins.push(four.coins[0]);
    four.responses.push(four.responses[0]);
    let mut d = base.clone();
    d.payments = vec![four.clone(); MAX_PAYMENTS_PER_DEPOSIT];
    assert_eq!(d.coin_count(), MAX_COINS_PER_DEPOSIT);
    DepositRequest::from_bytes(&d.to_bytes()).unwrap();
    // ... and 1023 x 4 + 8 = 4100 is over it.
    d.payments.pop();
    d.payments.push(s.payment8.clone());
    assert!(d.coin_count() > MAX_COINS_PER_DEPOSIT);
    assert_eq!(DepositRequest::from_bytes(&d.to_bytes()).unwrap_err().kind(), "too-many");
}

/// The largest messages the protocol makes still fit their JSON limit: a
/// receipt for a full deposit (1024 payments and 4096 coins, with the
/// widest outcomes) and a
/// payment of 64 coins.
#[test]
fn the_largest_valid_messages_round_trip_in_json() {
    let s = samples();
    let wide = [
        DepositOutcome::DoubleSpent { account: Some(s.deposit_receipt.merchant_id) },
        DepositOutcome::CreditedFlagged { value: 1 << 62 },
        DepositOutcome::Credited { value: 1 << 62 },
    ];
    for outcome in wide {
        let mut r = s.deposit_receipt.clone();
        r.credited = u64::MAX;
        let far = faircash::time::Day(u32::MAX);
        r.payments = vec![
            PaymentOutcome::Refused(PaymentRefusal::WindowClosed {
                day: far,
                deposit_until: far,
                receipt_day: far
            });
            MAX_PAYMENTS_PER_DEPOSIT
        ];
        r.outcomes = (0..MAX_COINS_PER_DEPOSIT)
            .map(|i| CoinOutcome {
                payment: (MAX_PAYMENTS_PER_DEPOSIT - 1) as u32,
                coin: (i % 64) as u32,
                coin_id: s.payment.coins[0].id(),
                outcome,
            })
            .collect();
        let bytes = r.to_bytes();
        assert!(bytes.len() <= <DepositReceipt as WireMessage>::MAX_BYTES);
        assert_eq!(DepositReceipt::from_bytes(&bytes).unwrap(), r);
        let json = r.to_json();
        match DepositReceipt::from_json(&json) {
            Ok(back) => assert_eq!(back, r),
            Err(e) => panic!("{outcome:?}: {} bytes of JSON: {e}", json.len()),
        }
    }

    let mut p = s.payment8.clone();
    p.request.amount = u64::MAX / 2;
    p.coins = vec![p.coins[0]; 64];
    p.responses = vec![p.responses[0]; 64];
    assert!(p.to_bytes().len() <= <Payment as WireMessage>::MAX_BYTES);
    // (It does not decode: its proof is for 8 coins. The size rule is
    // checked first, so the JSON limit is what this shows.)
    assert_eq!(Payment::from_json(&p.to_json()).unwrap_err().kind(), "invalid-field");
}

fn json_with(c: &Case, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&c.json).unwrap();
    edit(&mut v);
    serde_json::to_string(&v).unwrap()
}

#[test]
fn json_with_a_wrong_envelope_is_refused() {
    let all = cases();
    for c in all {
        for other in all {
            if other.name != c.name {
                let j = json_with(c, |v| v["kind"] = other.name.into());
                assert_eq!(kind_of((c.decode_json)(&j)), "wrong-kind", "{}", c.name);
                // Another type's whole document.
                let k = kind_of((c.decode_json)(&other.json));
                assert!(k == "wrong-kind" || k == "too-large", "{} as {}: {k}", other.name, c.name);
            }
        }
        for version in [0, 2, 256] {
            let j = json_with(c, |v| v["faircash"] = version.into());
            assert_eq!(kind_of((c.decode_json)(&j)), "unsupported-version", "{}", c.name);
        }
        let refused_as_malformed = [
            json_with(c, |v| v["faircash"] = "1".into()),
            json_with(c, |v| v["kind"] = 7.into()),
            json_with(c, |v| v["extra"] = true.into()),
            json_with(c, |v| {
                v.as_object_mut().unwrap().remove("body");
            }),
            json_with(c, |v| v["body"] = serde_json::Value::Null),
            c.json[..c.json.len() - 1].to_string(),
            format!("{}{}", c.json, "{}"),
            String::new(),
            "[]".into(),
        ];
        for j in refused_as_malformed {
            assert_eq!(kind_of((c.decode_json)(&j)), "malformed", "{}: {j:.60}", c.name);
        }
    }

    // Field-level rules in JSON: a non-canonical scalar, an invalid point,
    // bad hex.
    let c = get("withdraw-challenge");
    let j = json_with(c, |v| v["body"]["e"] = hex::encode([0xffu8; 32]).into());
    assert_eq!(kind_of((c.decode_json)(&j)), "non-canonical-scalar");
    let j = json_with(c, |v| v["body"]["e"] = hex::encode(ELL).into());
    assert_eq!(kind_of((c.decode_json)(&j)), "non-canonical-scalar");
    let c = get("user-registration");
    for b in invalid_points() {
        let j = json_with(c, |v| v["body"]["identity"] = hex::encode(b).into());
        assert_eq!(kind_of((c.decode_json)(&j)), "invalid-point");
    }
    for bad_hex in ["zz", "0", "", &"00".repeat(33)] {
        let j = json_with(c, |v| v["body"]["identity"] = bad_hex.into());
        assert_eq!(kind_of((c.decode_json)(&j)), "malformed", "{bad_hex:?}");
    }
}

/// Hex in JSON is written in lower case; the decoder takes either case
/// (specs/wire.md §4).
#[test]
fn json_hex_is_written_lower_case_and_read_in_either() {
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut hex_strings = 0;
    for c in cases() {
        let doc: serde_json::Value = serde_json::from_str(&c.json).unwrap();
        let mut all = Vec::new();
        strings(&doc["body"], &mut all);
        for x in all.into_iter().filter(|x| x.len() >= 32 && x.bytes().all(|b| b.is_ascii_hexdigit())) {
            assert_eq!(x, x.to_lowercase(), "{}", c.name);
            hex_strings += 1;
        }
    }
    assert!(hex_strings > 100);
    let s = samples();
    let c = get("user-registration");
    let lower = hex::encode(s.user_registration.identity.as_bytes());
    let upper = lower.to_uppercase();
    assert_ne!(lower, upper);
    let text = c.json.replace(&lower, &upper);
    assert_eq!((c.decode_json)(&text).as_ref(), Ok(&c.bytes));
}

/// Every object in a JSON document, as a path of keys and indices.
fn object_paths(
    v: &serde_json::Value,
    path: &mut Vec<serde_json::Value>,
    out: &mut Vec<Vec<serde_json::Value>>,
) {
    match v {
        serde_json::Value::Object(m) => {
            out.push(path.clone());
            for (k, x) in m {
                path.push(k.as_str().into());
                object_paths(x, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.into());
                object_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(v: &'a mut serde_json::Value, path: &[serde_json::Value]) -> &'a mut serde_json::Value {
    path.iter().fold(v, |v, k| match k {
        serde_json::Value::String(k) => &mut v[k.as_str()],
        k => &mut v[k.as_u64().unwrap() as usize],
    })
}

/// JSON decoding is as strict as binary: an object with a field its type
/// does not have is refused, at every depth (the envelope, the body, every
/// nested struct and enum variant).
#[test]
fn json_unknown_fields_are_refused_at_every_depth() {
    let mut tested = 0;
    for c in cases() {
        let doc: serde_json::Value = serde_json::from_str(&c.json).unwrap();
        let mut paths = Vec::new();
        object_paths(&doc, &mut Vec::new(), &mut paths);
        // Lists repeat the same types: the first 40 objects of a document
        // and every tenth after cover every type of object in it.
        for (i, path) in paths.iter().enumerate().filter(|(i, _)| *i < 40 || i % 10 == 0) {
            let mut v = doc.clone();
            at_path(&mut v, path).as_object_mut().unwrap().insert("unknown".into(), 0.into());
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(kind_of((c.decode_json)(&text)), "malformed", "{}: object {i} at {path:?}", c.name);
            tested += 1;
        }
        // The same document without the extra field decodes.
        assert_eq!((c.decode_json)(&serde_json::to_string(&doc).unwrap()).as_ref(), Ok(&c.bytes));
    }
    assert!(tested > 200, "{tested}");
    // An enum variant's fields too: a deposit outcome with an extra field.
    let c = get("deposit-receipt");
    let text = c.json.replacen("\"value\": ", "\"unknown\": 0, \"value\": ", 1);
    assert_ne!(text, c.json);
    assert_eq!(kind_of((c.decode_json)(&text)), "malformed");
}

// ---------------------------------------------------------------------------
// Property tests: no input panics a decoder, and whatever decodes is the
// canonical encoding of what it decodes to.
// ---------------------------------------------------------------------------

fn decodes_canonically_or_fails(c: &Case, bytes: &[u8]) {
    if let Ok(again) = (c.decode)(bytes) {
        assert_eq!(again, bytes, "{}: accepted a non-canonical encoding", c.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_a_decoder(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for c in cases() {
            // Raw, and behind a valid envelope for the type.
            decodes_canonically_or_fails(c, &body);
            let mut m = c.bytes[..4].to_vec();
            m.extend_from_slice(&body);
            decodes_canonically_or_fails(c, &m);
        }
    }

    #[test]
    fn random_mutations_of_valid_encodings_never_panic_a_decoder(
        which in 0usize..CASES,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let c = &cases()[which];
        let mut m = c.bytes.clone();
        for (at, byte, op) in edits {
            if m.is_empty() {
                break;
            }
            let i = at.index(m.len());
            match op {
                0 => m[i] = byte,
                1 => m[i] ^= 1 << (byte % 8),
                2 => m.insert(i, byte),
                _ => { m.remove(i); }
            }
        }
        decodes_canonically_or_fails(c, &m);
    }

    #[test]
    fn random_text_never_panics_a_json_decoder(
        which in 0usize..CASES,
        text in "\\PC{0,300}",
        cut in any::<prop::sample::Index>(),
    ) {
        let c = &cases()[which];
        let _ = (c.decode_json)(&text);
        // A valid document with random text spliced in.
        let mut at = cut.index(c.json.len());
        while !c.json.is_char_boundary(at) {
            at -= 1;
        }
        let spliced = format!("{}{}{}", &c.json[..at], text, &c.json[at..]);
        let _ = (c.decode_json)(&spliced);
    }
}
