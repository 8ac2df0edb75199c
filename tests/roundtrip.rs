//! Property tests: every message type round-trips through its binary and
//! JSON forms, and its binary length is the one specs/wire.md gives for it.
//!
//! Values are drawn by strategies over valid values (points from a pool of
//! group elements, canonical scalars, integers over their whole range,
//! strings and lists up to their limits); the wallet's stored objects, whose
//! fields are private, are drawn as bytes laid out as specs/wire.md §7 says
//! and must decode. The protocol runs behind tests/decoding.rs and
//! tests/vectors.rs cover real values.

use std::sync::OnceLock;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use faircash::coin::{Coin, CoinBody, CoinId, SpendResponses};
use faircash::crypto::acl::{AclSignature, SignerAnswer, SignerCommitment};
use faircash::crypto::elgamal::Ciphertext;
use faircash::crypto::group_signature::GroupSignature;
use faircash::crypto::range::{proof_len, ExpiryProof};
use faircash::crypto::schnorr::{Proof, Signature};
use faircash::encoding::Point;
use faircash::http::{AccountOpened, EvidenceItem, EvidenceList};
use faircash::keys::{
    AccountId, DenominationKey, KeyId, KeyWindows, KeysetDocument, KeysetId, KeysetList, KeysetPolicy,
    PublicKeyFile, SignedKeyset,
};
use faircash::params::ParamsId;
use faircash::protocol::account::{
    AccountAnswer, AccountEvent, AccountEventKind, AccountOperation, AccountRequest, AccountStatus,
    RekeyRequest, Reservation, ReservationId, WithdrawalPage,
};
use faircash::protocol::deposit::{
    CoinOutcome, DepositOutcome, DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome,
    PaymentRefusal,
};
use faircash::protocol::pay::{Payment, PaymentRequest};
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::trace::{
    Decryption, LogEntry, LogHead, TraceKind, TraceRecord, TraceRequest, TraceResult, TtpPublicKeys, Warrant,
    WatchList,
};
use faircash::protocol::trust::{
    SignedTtpKeyStatement, TrusteeKey, TtpKeyStatement, TtpStatementList, TtpValidity,
};
use faircash::protocol::withdraw::{
    EndReason, PendingWithdrawal, SessionEnd, SessionId, TranscriptState, WalletCoin, WithdrawAnswer,
    WithdrawChallenge, WithdrawCommitment, WithdrawOutcome, WithdrawRequest, WithdrawalTranscript,
};
use faircash::time::{Day, Timestamp};
use faircash::wire::WireMessage;
use proptest::prelude::*;
use sha2::Sha512;

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

/// 64 group elements hashed from their index (never the identity).
fn pool() -> &'static [Point] {
    static P: OnceLock<Vec<Point>> = OnceLock::new();
    P.get_or_init(|| {
        (0u32..64).map(|i| Point::new(RistrettoPoint::hash_from_bytes::<Sha512>(&i.to_le_bytes()))).collect()
    })
}

fn point() -> impl Strategy<Value = Point> {
    (0usize..64).prop_map(|i| pool()[i])
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(Scalar::from_bytes_mod_order),
        Just(Scalar::ZERO),
        Just(-Scalar::ONE),
    ]
}

fn nonzero_scalar() -> impl Strategy<Value = Scalar> {
    scalar().prop_filter("nonzero", |s| *s != Scalar::ZERO)
}

fn bytes16() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>()
}

fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn day() -> impl Strategy<Value = Day> {
    any::<u32>().prop_map(Day)
}

fn time() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp)
}

/// A UTF-8 string of at most `max` bytes.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(".{{0,{max}}}")).unwrap().prop_map(move |s| {
        let mut s: String = s;
        while s.len() > max {
            s.pop();
        }
        s
    })
}

/// The length of a varint.
fn v(x: u64) -> usize {
    (64 - x.max(1).leading_zeros() as usize).div_ceil(7)
}

fn ciphertext() -> impl Strategy<Value = Ciphertext> {
    (point(), point()).prop_map(|(c1, c2)| Ciphertext { c1, c2 })
}

fn proof() -> impl Strategy<Value = Proof> {
    (prop::collection::vec(point(), 0..=8), prop::collection::vec(scalar(), 0..=8))
        .prop_map(|(commitments, responses)| Proof { commitments, responses })
}

fn len_proof(p: &Proof) -> usize {
    v(p.commitments.len() as u64)
        + 32 * p.commitments.len()
        + v(p.responses.len() as u64)
        + 32 * p.responses.len()
}

fn signature() -> impl Strategy<Value = Signature> {
    (point(), scalar()).prop_map(|(r, s)| Signature { r, s })
}

fn group_signature() -> impl Strategy<Value = GroupSignature> {
    (point(), scalar()).prop_map(|(r, z)| GroupSignature { r, z })
}

fn trustees() -> impl Strategy<Value = Vec<TrusteeKey>> {
    prop::collection::vec((any::<u16>(), point()), 1..=8).prop_map(|v| {
        v.into_iter().map(|(id, verification_share)| TrusteeKey { id, verification_share }).collect()
    })
}

fn statement() -> impl Strategy<Value = SignedTtpKeyStatement> {
    (
        any::<u64>(),
        point(),
        any::<u16>(),
        trustees(),
        point(),
        (day(), day(), day()),
        time(),
        group_signature(),
    )
        .prop_map(
            |(sequence, decryption_key, threshold, trustees, signing_key, (a, b, c), issued, signature)| {
                SignedTtpKeyStatement {
                    statement: TtpKeyStatement {
                        params_id: faircash::params::Params::get().id,
                        sequence,
                        decryption_key,
                        threshold,
                        trustees,
                        signing_key,
                        validity: TtpValidity { escrow_from: a, escrow_until: b, trace_until: c },
                        issued,
                    },
                    signature,
                }
            },
        )
}

/// specs/wire.md §6.10.
fn len_statement(s: &SignedTtpKeyStatement) -> usize {
    let st = &s.statement;
    let days = [st.validity.escrow_from, st.validity.escrow_until, st.validity.trace_until];
    32 + v(st.sequence)
        + 32
        + v(u64::from(st.threshold))
        + v(st.trustees.len() as u64)
        + st.trustees.iter().map(|k| v(u64::from(k.id)) + 32).sum::<usize>()
        + 32
        + days.iter().map(|d| v(u64::from(d.0))).sum::<usize>()
        + v(st.issued.0)
        + 64
}

fn acl_signature() -> impl Strategy<Value = AclSignature> {
    (prop::array::uniform6(point()), prop::array::uniform6(scalar()))
        .prop_filter("zeta != zeta1", |(p, _)| p[0] != p[1])
        .prop_map(|(p, s)| AclSignature {
            zeta: p[0],
            zeta1: p[1],
            alpha: p[2],
            beta1: p[3],
            beta2: p[4],
            eta: p[5],
            rho: s[0],
            omega: s[1],
            sigma1: s[2],
            sigma2: s[3],
            delta: s[4],
            mu: s[5],
        })
}

fn coin_body() -> impl Strategy<Value = CoinBody> {
    (bytes32(), bytes32(), bytes16(), point(), ciphertext(), point(), prop::array::uniform6(point()))
        .prop_map(|(params, keyset, key, serial, escrow, expiry_commitment, spend_commitments)| CoinBody {
            params_id: ParamsId(params),
            keyset_id: KeysetId(keyset),
            key_id: KeyId(key),
            serial,
            escrow,
            expiry_commitment,
            spend_commitments,
        })
}

fn coin() -> impl Strategy<Value = Coin> {
    (coin_body(), acl_signature()).prop_map(|(body, signature)| Coin { body, signature })
}

fn spend_responses() -> impl Strategy<Value = SpendResponses> {
    prop::array::uniform8(scalar()).prop_map(SpendResponses::from_array)
}

fn payment_request() -> impl Strategy<Value = PaymentRequest> {
    (bytes16(), point(), 1u64.., day(), bytes32(), bytes32()).prop_map(
        |(id, merchant_key, amount, day, nonce, order_digest)| PaymentRequest {
            merchant_id: AccountId(id),
            merchant_key,
            amount,
            day,
            nonce,
            order_digest,
        },
    )
}

fn len_payment_request(r: &PaymentRequest) -> usize {
    16 + 32 + v(r.amount) + v(u64::from(r.day.0)) + 32 + 32
}

/// Range-proof bytes for `n` coins laid out as specs/wire.md §5.6: points
/// `A, S, T1, T2`, three scalars, `log2(16·m)` pairs of points, two scalars.
fn range_proof(n: usize) -> impl Strategy<Value = ExpiryProof> {
    let pairs = (16 * n.next_power_of_two()).trailing_zeros() as usize;
    (prop::collection::vec(point(), 4 + 2 * pairs), prop::collection::vec(scalar(), 5)).prop_map(
        move |(points, scalars)| {
            let mut b = Vec::new();
            points[..4].iter().for_each(|p| b.extend_from_slice(p.as_bytes()));
            scalars[..3].iter().for_each(|s| b.extend_from_slice(s.as_bytes()));
            points[4..].iter().for_each(|p| b.extend_from_slice(p.as_bytes()));
            scalars[3..].iter().for_each(|s| b.extend_from_slice(s.as_bytes()));
            assert_eq!(b.len(), proof_len(n));
            ExpiryProof::from_bytes(&b).expect("a well-formed range proof")
        },
    )
}

/// Payments of 1 to `max` coins.
fn payment(max: usize) -> impl Strategy<Value = Payment> {
    (1..=max).prop_flat_map(|n| {
        (
            payment_request(),
            prop::collection::vec(coin(), n),
            range_proof(n),
            prop::collection::vec(spend_responses(), n),
        )
            .prop_map(|(request, coins, range_proof, responses)| Payment {
                request,
                coins,
                range_proof,
                responses,
            })
    })
}

fn len_payment(p: &Payment) -> usize {
    let n = p.coins.len();
    len_payment_request(&p.request)
        + v(n as u64)
        + 784 * n
        + v(proof_len(n) as u64)
        + proof_len(n)
        + v(n as u64)
        + 256 * n
}

fn withdraw_request() -> impl Strategy<Value = WithdrawRequest> {
    (
        bytes16(),
        bytes16(),
        bytes32(),
        bytes16(),
        day(),
        point(),
        ciphertext(),
        proof(),
        prop::option::of(bytes16()),
    )
        .prop_map(|(session, account, keyset, key, expiry, commitment, escrow, proof, reservation)| {
            WithdrawRequest {
                session_id: SessionId(session),
                account: AccountId(account),
                keyset_id: KeysetId(keyset),
                key_id: KeyId(key),
                expiry,
                commitment,
                escrow,
                reservation: reservation.map(ReservationId),
                proof,
            }
        })
}

fn len_withdraw_request(r: &WithdrawRequest) -> usize {
    16 + 16
        + 32
        + 16
        + v(u64::from(r.expiry.0))
        + 32
        + 64
        + if r.reservation.is_some() { 17 } else { 1 }
        + len_proof(&r.proof)
}

fn windows() -> impl Strategy<Value = KeyWindows> {
    (day(), day(), day(), day()).prop_map(|(a, b, c, d)| KeyWindows {
        withdraw_from: a,
        withdraw_until: b,
        spend_until: c,
        deposit_until: d,
    })
}

fn len_windows(w: &KeyWindows) -> usize {
    [w.withdraw_from, w.withdraw_until, w.spend_until, w.deposit_until]
        .iter()
        .map(|d| v(u64::from(d.0)))
        .sum()
}

fn denomination_key() -> impl Strategy<Value = DenominationKey> {
    (bytes16(), any::<u64>(), point(), point(), windows())
        .prop_map(|(id, value, y, z, windows)| DenominationKey { key_id: KeyId(id), value, y, z, windows })
}

fn len_key(k: &DenominationKey) -> usize {
    16 + v(k.value) + 64 + len_windows(&k.windows)
}

fn signed_keyset() -> impl Strategy<Value = SignedKeyset> {
    (
        bytes32(),
        any::<u64>(),
        prop::option::of(bytes32()),
        (point(), point(), point()),
        day(),
        (any::<u32>(), any::<u32>()),
        prop::collection::vec(denomination_key(), 0..=6),
        signature(),
    )
        .prop_map(
            |(
                params,
                sequence,
                previous,
                (master_key, signing_key, ttp_key),
                issued,
                (vd, dd),
                keys,
                signature,
            )| {
                SignedKeyset {
                    document: KeysetDocument {
                        params_id: ParamsId(params),
                        sequence,
                        previous: previous.map(KeysetId),
                        master_key,
                        signing_key,
                        ttp_key,
                        issued,
                        policy: KeysetPolicy { validity_days: vd, max_deposit_delay_days: dd },
                        keys,
                    },
                    signature,
                }
            },
        )
}

fn len_signed_keyset(s: &SignedKeyset) -> usize {
    let d = &s.document;
    32 + v(d.sequence)
        + d.previous.map_or(1, |_| 33)
        + 96
        + v(u64::from(d.issued.0))
        + v(u64::from(d.policy.validity_days))
        + v(u64::from(d.policy.max_deposit_delay_days))
        + v(d.keys.len() as u64)
        + d.keys.iter().map(len_key).sum::<usize>()
        + 64
}

fn trace_kind() -> impl Strategy<Value = TraceKind> {
    prop_oneof![Just(TraceKind::Owner), Just(TraceKind::Coin)]
}

fn warrant() -> impl Strategy<Value = Warrant> {
    (bytes16(), text(128), text(2048), trace_kind(), bytes32(), time(), time(), point(), signature())
        .prop_map(
            |(warrant_id, case_id, reason, kind, record_digest, issued_at, expires_at, issuer, signature)| {
                Warrant {
                    warrant_id,
                    case_id,
                    reason,
                    kind,
                    record_digest,
                    issued_at,
                    expires_at,
                    issuer,
                    signature,
                }
            },
        )
}

fn len_warrant(w: &Warrant) -> usize {
    16 + v(w.case_id.len() as u64)
        + w.case_id.len()
        + v(w.reason.len() as u64)
        + w.reason.len()
        + 1
        + 32
        + v(w.issued_at.0)
        + v(w.expires_at.0)
        + 32
        + 64
}

fn trace_record() -> impl Strategy<Value = TraceRecord> {
    prop_oneof![
        (payment(3), any::<u32>())
            .prop_map(|(payment, coin_index)| TraceRecord::Owner { payment, coin_index }),
        (withdraw_request(), point()).prop_map(|(request, identity)| TraceRecord::Coin { request, identity }),
    ]
}

fn len_trace_record(r: &TraceRecord) -> usize {
    1 + match r {
        TraceRecord::Owner { payment, coin_index } => len_payment(payment) + v(u64::from(*coin_index)),
        TraceRecord::Coin { request, .. } => len_withdraw_request(request) + 32,
    }
}

fn evidence() -> impl Strategy<Value = DoubleSpendEvidence> {
    (bytes32(), payment(2), any::<u32>(), payment(2), any::<u32>()).prop_map(|(id, first, fi, second, si)| {
        DoubleSpendEvidence { coin_id: CoinId(id), first, first_index: fi, second, second_index: si }
    })
}

fn len_evidence(e: &DoubleSpendEvidence) -> usize {
    32 + len_payment(&e.first)
        + v(u64::from(e.first_index))
        + len_payment(&e.second)
        + v(u64::from(e.second_index))
}

fn outcome() -> impl Strategy<Value = DepositOutcome> {
    prop_oneof![
        any::<u64>().prop_map(|value| DepositOutcome::Credited { value }),
        Just(DepositOutcome::Duplicate),
        prop::option::of(bytes16()).prop_map(|a| DepositOutcome::DoubleSpent { account: a.map(AccountId) }),
        Just(DepositOutcome::Refused),
        any::<u64>().prop_map(|value| DepositOutcome::CreditedFlagged { value }),
    ]
}

fn payment_outcome() -> impl Strategy<Value = PaymentOutcome> {
    let refusal = prop_oneof![
        (day(), day(), day()).prop_map(|(day, deposit_until, receipt_day)| {
            PaymentRefusal::WindowClosed { day, deposit_until, receipt_day }
        }),
        (day(), day()).prop_map(|(day, receipt_day)| PaymentRefusal::DatedInFuture { day, receipt_day }),
        Just(PaymentRefusal::UnknownKeyset),
        Just(PaymentRefusal::WrongMerchant),
        Just(PaymentRefusal::Malformed),
        Just(PaymentRefusal::RangeProof),
        Just(PaymentRefusal::Proofs),
        (any::<u32>(), day()).prop_map(|(coin, day)| PaymentRefusal::NotSpendable { coin, day }),
    ];
    prop_oneof![
        Just(PaymentOutcome::Verified),
        refusal.prop_map(PaymentOutcome::Refused),
        Just(PaymentOutcome::Deferred)
    ]
}

/// wire.md §6.7: a payment outcome is its tag, and a refusal its own tag
/// and fields.
fn len_payment_outcome(o: &PaymentOutcome) -> usize {
    1 + match o {
        PaymentOutcome::Refused(PaymentRefusal::WindowClosed { day, deposit_until, receipt_day }) => {
            1 + v(u64::from(day.0)) + v(u64::from(deposit_until.0)) + v(u64::from(receipt_day.0))
        }
        PaymentOutcome::Refused(PaymentRefusal::DatedInFuture { day, receipt_day }) => {
            1 + v(u64::from(day.0)) + v(u64::from(receipt_day.0))
        }
        PaymentOutcome::Refused(PaymentRefusal::NotSpendable { coin, day }) => {
            1 + v(u64::from(*coin)) + v(u64::from(day.0))
        }
        PaymentOutcome::Refused(_) => 1,
        PaymentOutcome::Verified | PaymentOutcome::Deferred => 0,
    }
}

fn len_outcome(o: &DepositOutcome) -> usize {
    1 + match o {
        DepositOutcome::Credited { value } | DepositOutcome::CreditedFlagged { value } => v(*value),
        DepositOutcome::Duplicate | DepositOutcome::Refused => 0,
        DepositOutcome::DoubleSpent { account } => account.map_or(1, |_| 17),
    }
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

/// Binary and JSON round trips, and the length of specs/wire.md.
fn round_trip<T: WireMessage + PartialEq + std::fmt::Debug>(value: &T, body_len: usize) {
    let bytes = value.to_bytes();
    assert_eq!(bytes.len(), 4 + body_len, "{}: length", T::KIND.name());
    assert!(bytes.len() <= T::MAX_BYTES, "{}: over its limit", T::KIND.name());
    assert_eq!(&T::from_bytes(&bytes).unwrap(), value, "{}", T::KIND.name());
    let json = value.to_json();
    assert!(json.len() <= T::MAX_JSON_BYTES, "{}: JSON over its limit", T::KIND.name());
    assert_eq!(&T::from_json(&json).unwrap(), value, "{}", T::KIND.name());
}

/// For the stored objects (no `PartialEq`): bytes laid out per
/// specs/wire.md decode, re-encode to themselves, and survive JSON.
fn round_trip_bytes<T: WireMessage>(bytes: &[u8]) {
    let value = T::from_bytes(bytes).unwrap_or_else(|e| panic!("{}: {e}", T::KIND.name()));
    assert_eq!(value.to_bytes(), bytes);
    assert_eq!(T::from_json(&value.to_json()).unwrap().to_bytes(), bytes);
}

fn envelope(kind: u8) -> Vec<u8> {
    vec![b'F', b'C', 1, kind]
}

fn push_varint(out: &mut Vec<u8>, mut x: u64) {
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

/// `CoinSecrets`: four scalars, the expiry, two scalars, eight nonces.
fn coin_secrets() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(scalar(), 14), any::<u32>()).prop_map(|(s, expiry)| {
        let mut b = Vec::new();
        s[..4].iter().for_each(|x| b.extend_from_slice(x.as_bytes()));
        push_varint(&mut b, u64::from(expiry));
        s[4..].iter().for_each(|x| b.extend_from_slice(x.as_bytes()));
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn keysets(s in signed_keyset(), more in prop::collection::vec(signed_keyset(), 0..3)) {
        round_trip(&s, len_signed_keyset(&s));
        let list = KeysetList { keysets: more };
        let len = v(list.keysets.len() as u64) + list.keysets.iter().map(len_signed_keyset).sum::<usize>();
        round_trip(&list, len);
    }

    #[test]
    fn public_key_files(purpose in text(64), key in point(), account in bytes16(), y in point(), s in point()) {
        round_trip(&PublicKeyFile { purpose: purpose.clone(), key }, v(purpose.len() as u64) + purpose.len() + 32);
        round_trip(&AccountOpened { account: AccountId(account) }, 16);
        let _ = (y, s);
    }

    #[test]
    fn ttp_key_statements(list in prop::collection::vec(statement(), 0..4)) {
        for s in &list {
            round_trip(s, len_statement(s));
        }
        let len = v(list.len() as u64) + list.iter().map(len_statement).sum::<usize>();
        round_trip(&TtpStatementList { statements: list }, len);
    }

    #[test]
    fn registrations(i in point(), a in point(), p in proof()) {
        round_trip(&UserRegistration { identity: i, auth_key: a, proof: p.clone() }, 64 + len_proof(&p));
        round_trip(&MerchantRegistration { key: i, proof: p.clone() }, 32 + len_proof(&p));
    }

    #[test]
    fn account_messages(
        (account, request_id, reservation, session) in (bytes16(), bytes16(), bytes16(), bytes16()),
        (amount, drawn, created, expires, released) in (any::<u64>(), any::<u64>(), time(), time(), any::<bool>()),
        (key, identity, sig, possession, p) in (point(), point(), signature(), signature(), proof()),
        (balance, held, frozen, at, reason) in (any::<u64>(), any::<u64>(), any::<bool>(), time(), text(256)),
        events in 0usize..4,
    ) {
        let (account, reservation) = (AccountId(account), ReservationId(reservation));
        let ops = [
            (AccountOperation::ReserveWithdrawal { reservation, amount }, 1 + 16 + v(amount)),
            (AccountOperation::ReleaseReservation { reservation }, 1 + 16),
            (AccountOperation::AbandonWithdrawal { session_id: SessionId(session) }, 1 + 16),
            (AccountOperation::RotateAuthKey { new_key: key, possession }, 1 + 32 + 64),
            (AccountOperation::Status, 1),
            (AccountOperation::ListWithdrawals { after: None, limit: 64 }, 1 + 1 + 1),
            (AccountOperation::ListWithdrawals { after: Some(SessionId(session)), limit: 1 }, 1 + 17 + 1),
        ];
        for (operation, len) in ops {
            let req = AccountRequest { account, request_id, operation, authorization: sig };
            round_trip(&req, 16 + 16 + len + 64);
        }
        let r = Reservation { id: reservation, account, amount, drawn, created, expires, released };
        round_trip(
            &AccountAnswer::Reservation(r),
            1 + 16 + 16 + v(amount) + v(drawn) + v(created.0) + v(expires.0) + 1,
        );
        let kinds = [
            AccountEventKind::Registered,
            AccountEventKind::Frozen,
            AccountEventKind::Unfrozen,
            AccountEventKind::Rekeyed,
            AccountEventKind::AuthKeyRotated,
        ];
        let events: Vec<AccountEvent> =
            (0..events).map(|i| AccountEvent { at, kind: kinds[i], reason: reason.clone() }).collect();
        let st = AccountStatus { account, identity, auth_key: key, balance, held, frozen, events: events.clone() };
        let events_len: usize = events.iter().map(|_| v(at.0) + 1 + v(reason.len() as u64) + reason.len()).sum();
        round_trip(
            &AccountAnswer::Status(st),
            1 + 16 + 32 + 32 + v(balance) + v(held) + 1 + v(events.len() as u64) + events_len,
        );
        let rekey = RekeyRequest { account, old_identity: identity, new_identity: key, new_auth_key: identity, proof: p.clone() };
        round_trip(&rekey, 16 + 96 + len_proof(&p));
    }

    #[test]
    fn withdrawal_messages(
        r in withdraw_request(),
        session in bytes16(),
        (rnd, a, b1, b2) in (nonzero_scalar(), point(), point(), point()),
        e in scalar(),
        authorization in signature(),
        answer in prop::array::uniform5(scalar()),
        digest in bytes32(),
    ) {
        round_trip(&r, len_withdraw_request(&r));
        let session_id = SessionId(session);
        let commitment = SignerCommitment { rnd, a, b1, b2 };
        round_trip(&WithdrawCommitment { session_id, commitment, signature: authorization }, 208);
        round_trip(&WithdrawChallenge { session_id, commitment_digest: digest, e, authorization }, 144);
        let [c, r_, s1, s2, d] = answer;
        round_trip(&WithdrawAnswer::answered(session_id, SignerAnswer { c, r: r_, s1, s2, d }), 177);
        // A page of transcripts, one of each state (wire.md §6.11).
        let signed = WithdrawCommitment { session_id: r.session_id, commitment, signature: authorization };
        let states = [
            (TranscriptState::Open, 1),
            (TranscriptState::Ended, 1),
            (TranscriptState::Answered { e, answer: SignerAnswer { c, r: r_, s1, s2, d } }, 1 + 32 + 160),
        ];
        let sessions: Vec<WithdrawalTranscript> = states
            .iter()
            .map(|(state, _)| WithdrawalTranscript { request: r.clone(), commitment: signed, state: *state })
            .collect();
        let len = 1 + 1 + states.iter().map(|(_, l)| len_withdraw_request(&r) + 208 + l).sum::<usize>() + 17;
        round_trip(&AccountAnswer::Withdrawals(WithdrawalPage { sessions, next: Some(session_id) }), len);
        for (i, reason) in [
            EndReason::Ended,
            EndReason::Expired,
            EndReason::OldEpoch,
            EndReason::CommitmentMismatch,
            EndReason::AccountFrozen,
            EndReason::InsufficientBalance,
            EndReason::Unknown,
        ]
        .into_iter()
        .enumerate()
        {
            prop_assert_eq!(usize::from(reason.code()), i);
            let end = SessionEnd { keyset_id: KeysetId(digest), reason, signature: authorization };
            round_trip(&WithdrawAnswer { session_id, outcome: WithdrawOutcome::Ended(end) }, 16 + 1 + 32 + 1 + 64);
        }
    }

    #[test]
    fn coins_and_payment_requests(c in coin(), r in payment_request()) {
        round_trip(&c, 784);
        round_trip(&r, len_payment_request(&r));
    }

    #[test]
    fn payments(p in payment(9)) {
        round_trip(&p, len_payment(&p));
    }

    #[test]
    fn deposits(
        merchant in bytes16(),
        request_id in bytes16(),
        payments in prop::collection::vec(payment(3), 0..3),
        sig in signature(),
        (day, credited) in (day(), any::<u64>()),
        outcomes in prop::collection::vec((any::<u32>(), any::<u32>(), bytes32(), outcome()), 0..8),
        (payment_outcomes, request_digest, keyset) in (prop::collection::vec(payment_outcome(), 0..8), bytes32(), bytes32()),
        receipt_sig in signature(),
    ) {
        let d = DepositRequest { merchant_id: AccountId(merchant), request_id, payments, signature: sig };
        let len = 32 + v(d.payments.len() as u64) + d.payments.iter().map(len_payment).sum::<usize>() + 64;
        round_trip(&d, len);
        let outcomes: Vec<CoinOutcome> = outcomes
            .into_iter()
            .map(|(payment, coin, id, outcome)| CoinOutcome { payment, coin, coin_id: CoinId(id), outcome })
            .collect();
        let len = 32
            + 32
            + v(u64::from(day.0))
            + v(credited)
            + v(payment_outcomes.len() as u64)
            + payment_outcomes.iter().map(len_payment_outcome).sum::<usize>()
            + v(outcomes.len() as u64)
            + outcomes
                .iter()
                .map(|o| v(u64::from(o.payment)) + v(u64::from(o.coin)) + 32 + len_outcome(&o.outcome))
                .sum::<usize>()
            + 32
            + 64;
        let receipt = DepositReceipt {
            request_id,
            merchant_id: AccountId(merchant),
            request_digest,
            receipt_day: day,
            credited,
            payments: payment_outcomes,
            outcomes,
            keyset_id: KeysetId(keyset),
            signature: receipt_sig,
        };
        round_trip(&receipt, len);
        // The signed bytes are the body without its last 64 bytes.
        let body = receipt.to_bytes();
        assert_eq!(receipt.signed_message(), body[4..body.len() - 64].to_vec());
    }

    #[test]
    fn evidence_and_its_list(
        e in evidence(),
        accounts in prop::collection::vec(prop::option::of(bytes16()), 0..3),
        (first, step, more) in (1u64..1 << 40, 1u64..1 << 20, any::<bool>()),
    ) {
        round_trip(&e, len_evidence(&e));
        let seqs: Vec<u64> = (0..accounts.len() as u64).map(|i| first + i * step).collect();
        let list = EvidenceList {
            items: accounts
                .iter()
                .zip(&seqs)
                .map(|(a, seq)| EvidenceItem { seq: *seq, evidence: e.clone(), account: a.map(AccountId) })
                .collect(),
            cursor: seqs.last().copied().unwrap_or(first),
            more,
        };
        let len = v(accounts.len() as u64)
            + accounts.iter().zip(&seqs).map(|(a, seq)| v(*seq) + len_evidence(&e) + a.map_or(1, |_| 17)).sum::<usize>()
            + v(list.cursor)
            + 1;
        round_trip(&list, len);
    }

    #[test]
    fn tracing(w in warrant(), r in trace_record()) {
        round_trip(&w, len_warrant(&w));
        round_trip(&r, len_trace_record(&r));
        round_trip(&TraceRequest { warrant: w.clone(), record: r.clone() }, len_warrant(&w) + len_trace_record(&r));
    }

    #[test]
    fn trace_results_and_the_log(
        (kind, log_index, record_digest, warrant_digest) in (trace_kind(), any::<u64>(), bytes32(), bytes32()),
        (ciphertext, plaintext, proof, y, s, gsig) in (ciphertext(), point(), proof(), point(), point(), group_signature()),
        sig in signature(),
        (index, previous, t, warrant_id, digests) in (any::<u64>(), bytes32(), time(), bytes16(), prop::array::uniform3(bytes32())),
        serials in prop::collection::vec(point(), 0..12),
    ) {
        let result = TraceResult {
            kind,
            record_digest,
            warrant_digest,
            ciphertext,
            plaintext,
            decryption: Decryption::Single { log_index, proof: proof.clone() },
            ttp: TtpPublicKeys { decryption: y, signing: s },
            signature: gsig,
        };
        round_trip(&result, 1 + 64 + 64 + 32 + 1 + v(log_index) + len_proof(&proof) + 64 + 64);
        let entry = LogEntry {
            index,
            previous,
            time: t,
            warrant_id,
            kind,
            request_digest: digests[0],
            warrant_digest: digests[1],
            result_digest: digests[2],
        };
        round_trip(&entry, v(index) + 32 + v(t.0) + 16 + 1 + 96);
        let head = LogHead { size: index, hash: previous, time: t, signer: s, signature: gsig };
        round_trip(&head, v(index) + 32 + v(t.0) + 32 + 64);
        let list = WatchList { issued: t, sequence: index, serials: serials.clone(), signature: sig };
        round_trip(&list, v(t.0) + v(index) + v(serials.len() as u64) + 32 * serials.len() + 64);
    }

    #[test]
    fn wallet_coins(c in coin(), secrets in coin_secrets(), value in any::<u64>()) {
        let mut b = envelope(0x40);
        b.extend_from_slice(&c.to_bytes()[4..]);
        b.extend_from_slice(&secrets);
        push_varint(&mut b, value);
        round_trip_bytes::<WalletCoin>(&b);
        let wc = WalletCoin::from_bytes(&b).unwrap();
        prop_assert_eq!(wc.coin, c);
        prop_assert_eq!(wc.value, value);
    }

    #[test]
    fn pending_withdrawals(
        (session, value, key, body) in (bytes16(), any::<u64>(), denomination_key(), coin_body()),
        secrets in coin_secrets(),
        (points, scalars) in (prop::collection::vec(point(), 12), prop::collection::vec(scalar(), 10)),
        (rnd, m, authorization) in (nonzero_scalar(), bytes32(), signature()),
    ) {
        let mut b = envelope(0x41);
        b.extend_from_slice(&session);
        push_varint(&mut b, value);
        let key_bytes = {
            // A DenominationKey's encoding, from a keyset of that one key.
            let doc = SignedKeyset {
                document: KeysetDocument {
                    params_id: ParamsId([0; 32]),
                    sequence: 0,
                    previous: None,
                    master_key: points[0],
                    signing_key: points[0],
                    ttp_key: points[0],
                    issued: Day(0),
                    policy: KeysetPolicy { validity_days: 0, max_deposit_delay_days: 0 },
                    keys: vec![key],
                },
                signature: authorization,
            };
            let all = doc.to_bytes();
            let start = 4 + 32 + 1 + 1 + 96 + 1 + 2 + 1;
            all[start..start + len_key(&key)].to_vec()
        };
        b.extend_from_slice(&key_bytes);
        // The online signing key of the keyset.
        b.extend_from_slice(points[11].as_bytes());
        b.extend_from_slice(&Coin { body, signature: AclSignature {
            zeta: points[0], zeta1: points[1], alpha: points[0], beta1: points[0], beta2: points[0], eta: points[0],
            rho: Scalar::ZERO, omega: Scalar::ZERO, sigma1: Scalar::ZERO, sigma2: Scalar::ZERO, delta: Scalar::ZERO, mu: Scalar::ZERO,
        } }.to_bytes()[4..404]);
        b.extend_from_slice(&secrets);
        // UserAwaitingAnswer: the ACL key (key id, y, z), the signer's
        // commitment, seven points, seven scalars, m, e.
        b.extend_from_slice(key.key_id.as_bytes());
        b.extend_from_slice(key.y.as_bytes());
        b.extend_from_slice(key.z.as_bytes());
        b.extend_from_slice(rnd.as_bytes());
        points[..10].iter().for_each(|p| b.extend_from_slice(p.as_bytes()));
        scalars[..7].iter().for_each(|s| b.extend_from_slice(s.as_bytes()));
        b.extend_from_slice(&m);
        b.extend_from_slice(scalars[7].as_bytes());
        // The challenge: session id, commitment digest, e, authorization.
        b.extend_from_slice(&session);
        b.extend_from_slice(&m);
        b.extend_from_slice(scalars[7].as_bytes());
        b.extend_from_slice(authorization.r.as_bytes());
        b.extend_from_slice(authorization.s.as_bytes());
        round_trip_bytes::<PendingWithdrawal>(&b);
        let p = PendingWithdrawal::from_bytes(&b).unwrap();
        prop_assert_eq!(p.session_id(), SessionId(session));
        prop_assert_eq!(p.value(), value);
        prop_assert_eq!(p.challenge().authorization, authorization);
        prop_assert_eq!(p.signing_key(), &points[11]);
    }
}

#[test]
fn the_varint_length_is_leb128() {
    for (x, n) in
        [(0u64, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (u64::from(u32::MAX), 5), (u64::MAX, 10)]
    {
        assert_eq!(v(x), n, "{x}");
        let mut b = Vec::new();
        push_varint(&mut b, x);
        assert_eq!(b, postcard::to_allocvec(&x).unwrap(), "{x}");
    }
}

#[test]
fn the_largest_account_status_fits_both_forms() {
    // 256 events, each reason 256 control characters (escaped in JSON).
    let events: Vec<AccountEvent> = (0..256)
        .map(|_| AccountEvent {
            at: Timestamp(u64::MAX),
            kind: AccountEventKind::AuthKeyRotated,
            reason: "\u{1}".repeat(256),
        })
        .collect();
    let p = pool()[0];
    let st = AccountStatus {
        account: AccountId([0xff; 16]),
        identity: p,
        auth_key: p,
        balance: u64::MAX,
        held: u64::MAX,
        frozen: true,
        events,
    };
    let body = 1 + 16 + 64 + 10 + 10 + 1 + v(256) + 256 * (10 + 1 + v(256) + 256);
    round_trip(&AccountAnswer::Status(st), body);
}
