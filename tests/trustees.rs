//! Threshold trustees: key generation, decryption shares, combination
//! (specs/tracing.md §9).
mod cli_support;
mod common;

use std::sync::Arc;

use common::*;
use faircash::crypto::group_signature::GroupSigningKey;
use faircash::crypto::schnorr::SigningKey;
use faircash::encoding::Point;
use faircash::params::Params;
use faircash::protocol::trace::{
    combine_shares, verify_log, Decryption, ShareRejection, TraceError, TraceRecord, TraceRequest,
    TraceResult, TraceShare,
};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement};
use faircash::roles::Ttp;
use faircash::store::memory::MemoryTtpStore;
use faircash::store::TtpStore;
use faircash::time::{Clock, Timestamp};
use faircash::trustees::dkg::{run_local, Ceremony, DkgOutcome, KeyPurpose, KeyShare, Participant};
use faircash::trustees::signing::{
    finish, finish_result, GroupMessage, ResultToSign, SignatureShare, SigningCommitment, SigningError,
    SigningRequest,
};
use faircash::trustees::Trustee;
use faircash::wire::WireMessage;
use rand::rngs::OsRng;

/// Runs a whole ceremony of the trustees with identity keys `keys`, all in
/// this process. Returns the outcome and every trustee's share.
fn ceremony(purpose: KeyPurpose, t: u16, keys: &[GroupSigningKey]) -> (DkgOutcome, Vec<KeyShare>) {
    let parts = keys.iter().zip(1..).map(|(k, id)| Participant { id, identity: *k.public() }).collect();
    let c = Ceremony::new(purpose, t, parts, &mut OsRng).unwrap();
    let (transcript, outcome, shares) = run_local(&c, keys, &mut OsRng).unwrap();
    assert_eq!(transcript.verify().unwrap(), outcome);
    assert_eq!(shares.len(), keys.len());
    (outcome, shares)
}

/// `t` of `n` trustees with their group's key statement, signed by the
/// group with FROST and pinned by the world's wallets and merchants, and a
/// judge they all trust.
struct Group {
    world: World,
    statement: TtpKeyStatement,
    signing: DkgOutcome,
    trustees: Vec<Trustee<MemoryTtpStore>>,
    judge: SigningKey,
}

/// Runs a FROST session of `signers` (indices into `trustees`) on
/// `message`: commitments, then signature shares, then the signature.
fn sign(
    trustees: &[Trustee<MemoryTtpStore>],
    signing: &DkgOutcome,
    signers: &[usize],
    message: GroupMessage,
) -> Result<SignedTtpKeyStatement, SigningError> {
    let request =
        SigningRequest::new(signers.iter().map(|&i| trustees[i].id()).collect(), message, &mut OsRng);
    let request = SigningRequest::from_bytes(&request.to_bytes()).unwrap();
    let commitments: Vec<SigningCommitment> =
        signers.iter().map(|&i| trustees[i].sign_commit(&request, &mut OsRng)).collect::<Result<_, _>>()?;
    let shares: Vec<SignatureShare> =
        signers.iter().map(|&i| trustees[i].sign_share(&request, &commitments)).collect::<Result<_, _>>()?;
    finish(signing, &request, &commitments, &shares)
}

fn group(t: u16, n: u16) -> Group {
    let identities: Vec<GroupSigningKey> = (0..n).map(|_| GroupSigningKey::generate(&mut OsRng)).collect();
    let (decryption, decryption_shares) = ceremony(KeyPurpose::Decryption, t, &identities);
    let (signing, signing_shares) = ceremony(KeyPurpose::Signing, t, &identities);
    let statement = TtpKeyStatement {
        params_id: Params::get().id,
        sequence: 0,
        decryption_key: decryption.group_key,
        threshold: t,
        trustees: decryption.verification_shares.clone(),
        signing_key: signing.group_key,
        validity: ttp_validity(),
        issued: Timestamp(0),
    };
    let make = |clock: Arc<dyn Clock>| -> Vec<Trustee<MemoryTtpStore>> {
        identities
            .iter()
            .zip(decryption_shares.iter().zip(&signing_shares))
            .map(|(i, (d, s))| {
                Trustee::new(i.clone(), d.clone(), s.clone(), MemoryTtpStore::new(), clock.clone()).unwrap()
            })
            .collect()
    };
    // The trustees sign their statement (t of them) before the world pins it.
    let signers: Vec<usize> = (0..t as usize).collect();
    let before = make(Arc::new(faircash::time::ManualClock::at_day(START)));
    let signed = sign(&before, &signing, &signers, GroupMessage::KeyStatement(statement.clone())).unwrap();
    let world = World::with_ttp_statement(signed);
    let judge = SigningKey::generate(&mut OsRng);
    let mut trustees = make(Arc::new(world.clock.clone()));
    for tr in &mut trustees {
        tr.trust_issuer(*judge.public());
        tr.add_keysets(&world.bank.published_keysets(), &world.bank.master_key()).unwrap();
    }
    Group { world, statement, signing, trustees, judge }
}

/// A user pays a shop that deposits; returns the user, the serials of the
/// coins it withdrew and the spend records of the deposited coins.
fn spend(w: &World, amount: u64) -> (TestWallet, Vec<Point>, Vec<TraceRecord>) {
    let user = w.user(50);
    let shop = w.merchant();
    user.withdraw(&*w.bank, amount, &mut OsRng).unwrap();
    let serials = user.coins().unwrap().iter().map(|c| c.coin.coin.body.serial).collect();
    let req = shop.request_payment(amount, [3; 32], &mut OsRng).unwrap();
    let ids = shop.accept(&user.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap().coin_ids;
    shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    (user, serials, ids.iter().map(|id| w.bank.spend_record(id).unwrap()).collect())
}

/// Every subset of `0..n` of size `k`.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize == k)
        .map(|m| (0..n).filter(|i| m >> i & 1 == 1).collect())
        .collect()
}

#[test]
fn any_t_trustees_trace_owners_and_coins_and_t_minus_1_cannot() {
    for (t, n) in [(2u16, 3u16), (3, 5)] {
        let g = group(t, n);
        let w = &g.world;
        let (alice, serials, records) = spend(w, 1);
        let record = records[0].clone();
        let owner = TraceRequest { warrant: w.warrant(&g.judge, &record, "owner"), record };
        let shares: Vec<TraceShare> =
            g.trustees.iter().map(|tr| tr.owner_share(&owner, &mut OsRng).unwrap()).collect();
        for s in &shares {
            assert_eq!(&TraceShare::from_bytes(&s.to_bytes()).unwrap(), s, "a share survives transport");
        }
        for subset in subsets(n as usize, t as usize) {
            let chosen: Vec<TraceShare> = subset.iter().map(|&i| shares[i].clone()).collect();
            let combined = combine_shares(&g.statement, &owner, &chosen).unwrap();
            assert_eq!(combined.plaintext, *alice.user().identity(), "{t} of {n}: {subset:?}");
            assert!(combined.rejected.is_empty());
            assert_eq!(combined.verify(&g.statement, &owner).unwrap(), *alice.user().identity());
            let ids: Vec<u16> = subset.iter().map(|&i| i as u16 + 1).collect();
            assert_eq!(combined.log_entries(), ids.iter().map(|&i| (i, 0)).collect::<Vec<_>>());
        }
        for subset in subsets(n as usize, t as usize - 1) {
            let chosen: Vec<TraceShare> = subset.iter().map(|&i| shares[i].clone()).collect();
            let err = combine_shares(&g.statement, &owner, &chosen).unwrap_err();
            assert!(matches!(err, TraceError::NotEnoughShares { valid, threshold, .. }
                if valid == t as usize - 1 && threshold == t));
            assert!(err.to_string().contains(&format!("{} needed: no plaintext", t)), "{err}");
        }
        // The combination verifies under the trustees' statement only.
        let combined = combine_shares(&g.statement, &owner, &shares).unwrap();
        let other = group(t, n).statement;
        assert!(combined.verify(&other, &owner).is_err());
        assert!(combine_shares(&other, &owner, &shares).is_err());
        let mut wrong = combined.clone();
        wrong.plaintext = Point::new(Params::get().g.point() * curve25519_dalek::Scalar::from(7u8));
        assert!(matches!(wrong.verify(&g.statement, &owner), Err(TraceError::ResultProof)));
        let mut short = combined.clone();
        short.shares.pop();
        assert!(short.verify(&g.statement, &owner).is_err());

        // Coin tracing: the serial of the withdrawn coin.
        let session = w.bank.withdrawals_of(&alice.account_id()).unwrap()[0].id();
        let record = w.bank.withdrawal_record(&session).unwrap();
        let coin = TraceRequest { warrant: w.warrant(&g.judge, &record, "coin"), record };
        assert!(g.trustees[0].owner_share(&coin, &mut OsRng).is_err(), "a coin request is not owner tracing");
        let shares: Vec<TraceShare> = g.trustees[n as usize - t as usize..]
            .iter()
            .map(|tr| tr.coin_share(&coin, &mut OsRng).unwrap())
            .collect();
        let serial =
            combine_shares(&g.statement, &coin, &shares).unwrap().verify(&g.statement, &coin).unwrap();
        assert_eq!(vec![serial], serials);
    }
}

fn owner_request(g: &Group) -> (TraceRequest, Point) {
    let (alice, _, records) = spend(&g.world, 1);
    let record = records[0].clone();
    (TraceRequest { warrant: g.world.warrant(&g.judge, &record, "owner"), record }, *alice.user().identity())
}

#[test]
fn a_wrong_or_forged_share_is_named_and_skipped() {
    let g = group(2, 3);
    let (req, identity) = owner_request(&g);
    let shares: Vec<TraceShare> =
        g.trustees.iter().map(|tr| tr.owner_share(&req, &mut OsRng).unwrap()).collect();
    // Trustee 2 returns a wrong D_2 (with its old proof).
    let mut forged = shares[1].clone();
    forged.evidence.share = Point::new(Params::get().g.point() * curve25519_dalek::Scalar::from(5u8));
    let combined =
        combine_shares(&g.statement, &req, &[shares[0].clone(), forged.clone(), shares[2].clone()]).unwrap();
    assert_eq!(combined.plaintext, identity, "the valid shares of 1 and 3 still decrypt");
    assert_eq!(combined.rejected, vec![ShareRejection::Proof(2)]);
    assert_eq!(combined.log_entries().iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 3]);
    let err = combine_shares(&g.statement, &req, &[shares[0].clone(), forged]).unwrap_err();
    assert!(
        matches!(&err, TraceError::NotEnoughShares { valid: 1, rejected, .. } if rejected == &[ShareRejection::Proof(2)])
    );
    assert!(err.to_string().contains("trustee 2's share is wrong"), "{err}");
    // A share claiming another trustee's identifier or verification share,
    // or given twice.
    let mut stranger = shares[0].clone();
    stranger.evidence.trustee = 9;
    let mut other_y = shares[0].clone();
    other_y.verification_share = shares[1].verification_share;
    let err = combine_shares(&g.statement, &req, &[stranger, other_y, shares[2].clone(), shares[2].clone()])
        .unwrap_err();
    let TraceError::NotEnoughShares { valid: 1, rejected, .. } = err else { panic!("{err}") };
    assert_eq!(
        rejected,
        vec![
            ShareRejection::UnknownTrustee(9),
            ShareRejection::WrongVerificationShare(1),
            ShareRejection::Duplicate(3)
        ]
    );
    // Trustee 1 claims a share it made at another log index.
    let mut moved = shares[0].clone();
    moved.evidence.log_index += 1;
    let err = combine_shares(&g.statement, &req, &[moved, shares[1].clone()]).unwrap_err();
    assert!(
        matches!(&err, TraceError::NotEnoughShares { rejected, .. } if rejected == &[ShareRejection::Proof(1)])
    );
}

#[test]
fn a_share_for_another_warrant_or_record_is_refused() {
    let g = group(2, 3);
    let (req, _) = owner_request(&g);
    let (other_record_req, _) = owner_request(&g);
    let other_warrant =
        TraceRequest { warrant: g.world.warrant(&g.judge, &req.record, "again"), record: req.record.clone() };
    let s1 = g.trustees[0].owner_share(&req, &mut OsRng).unwrap();
    let s2 = g.trustees[1].owner_share(&other_warrant, &mut OsRng).unwrap();
    let s3 = g.trustees[2].owner_share(&other_record_req, &mut OsRng).unwrap();
    let err = combine_shares(&g.statement, &req, &[s1.clone(), s2, s3]).unwrap_err();
    let TraceError::NotEnoughShares { valid: 1, rejected, .. } = err else { panic!("{err}") };
    assert_eq!(rejected, vec![ShareRejection::OtherRequest(2), ShareRejection::OtherRequest(3)]);
    // A share relabelled as being for this request fails its proof.
    let mut relabelled = g.trustees[1].owner_share(&other_record_req, &mut OsRng).unwrap();
    relabelled.record_digest = s1.record_digest;
    relabelled.warrant_digest = s1.warrant_digest;
    relabelled.ciphertext = s1.ciphertext;
    let err = combine_shares(&g.statement, &req, &[s1, relabelled]).unwrap_err();
    assert!(
        matches!(&err, TraceError::NotEnoughShares { rejected, .. } if rejected == &[ShareRejection::Proof(2)])
    );
    // A trustee checks the warrant as the single TTP does: an untrusted
    // issuer's warrant, or a warrant used before, gets no share.
    let stranger = SigningKey::generate(&mut OsRng);
    let forged =
        TraceRequest { warrant: g.world.warrant(&stranger, &req.record, "x"), record: req.record.clone() };
    assert!(matches!(g.trustees[2].owner_share(&forged, &mut OsRng), Err(TraceError::UntrustedIssuer)));
    assert!(matches!(g.trustees[0].owner_share(&req, &mut OsRng), Err(TraceError::WarrantReused)));
}

#[test]
fn every_trustee_logs_exactly_the_traces_it_took_part_in() {
    let g = group(2, 3);
    let (a, _) = owner_request(&g);
    let (b, _) = owner_request(&g);
    // Trace a with trustees 1 and 2, trace b with trustees 1 and 3.
    let a1 = g.trustees[0].owner_share(&a, &mut OsRng).unwrap();
    let a2 = g.trustees[1].owner_share(&a, &mut OsRng).unwrap();
    let b1 = g.trustees[0].owner_share(&b, &mut OsRng).unwrap();
    let b3 = g.trustees[2].owner_share(&b, &mut OsRng).unwrap();
    let logged: Vec<Vec<(TraceShare, &TraceRequest)>> =
        vec![vec![(a1, &a), (b1, &b)], vec![(a2, &a)], vec![(b3, &b)]];
    for (tr, shares) in g.trustees.iter().zip(&logged) {
        let entries = tr.store().entries().unwrap();
        assert_eq!(entries.len(), shares.len(), "trustee {}", tr.id());
        for (e, (s, req)) in entries.iter().zip(shares) {
            assert_eq!(e.index, s.evidence.log_index);
            assert_eq!(e.warrant_id, req.warrant.warrant_id);
            assert_eq!(e.request_digest, req.digest());
            assert_eq!(e.result_digest, s.digest(), "the entry records the share it gave");
        }
        // Each log head is signed by the trustee's own identity key.
        let head = tr.log_head(&mut OsRng).unwrap();
        tr.verify_log(std::slice::from_ref(&head)).unwrap();
        assert!(verify_log(&entries, &[head], g.trustees[(tr.id() as usize) % 3].identity()).is_err());
    }
    let combined =
        combine_shares(&g.statement, &b, &[logged[0][1].0.clone(), logged[2][0].0.clone()]).unwrap();
    assert_eq!(combined.log_entries(), vec![(1, 1), (3, 0)]);
}

#[test]
fn a_single_ttp_answers_through_the_same_interface() {
    let w = World::new();
    let judge = SigningKey::generate(&mut OsRng);
    let mut ttp = Ttp::new(w.ttp_keys.clone(), MemoryTtpStore::new(), Arc::new(w.clock.clone()));
    ttp.trust_issuer(*judge.public());
    ttp.add_keysets(&w.bank.published_keysets(), &w.bank.master_key()).unwrap();
    let (alice, _, records) = spend(&w, 1);
    let req = TraceRequest { warrant: w.warrant(&judge, &records[0], "one"), record: records[0].clone() };
    let share = ttp.decrypt_share(&req, &mut OsRng).unwrap();
    let statement = &w.ttp_statement.statement;
    let combined = combine_shares(statement, &req, std::slice::from_ref(&share)).unwrap();
    assert_eq!(combined.verify(statement, &req).unwrap(), *alice.user().identity());
    assert_eq!(ttp.store().entries().unwrap()[0].result_digest, share.digest());
    assert!(matches!(ttp.trace(&req, &mut OsRng), Err(TraceError::WarrantReused)));
    assert!(matches!(
        combine_shares(statement, &req, &[]),
        Err(TraceError::NotEnoughShares { valid: 0, threshold: 1, .. })
    ));
}

#[test]
fn any_t_trustees_sign_the_group_statement_and_fewer_cannot() {
    let g = group(2, 3);
    let message = || GroupMessage::KeyStatement(g.statement.clone());
    for signers in [vec![0, 2], vec![1, 2], vec![0, 1, 2]] {
        let signed = sign(&g.trustees, &g.signing, &signers, message()).unwrap();
        signed.verify().unwrap();
        assert_eq!(signed.statement.signing_key, g.signing.group_key);
        assert_eq!(signed.statement, g.statement);
    }
    assert!(matches!(sign(&g.trustees, &g.signing, &[1], message()), Err(SigningError::Signers(_))));
    // A statement that does not name the group's keys is refused by every
    // trustee before any nonce is made.
    let mut other = g.statement.clone();
    other.threshold = 3;
    let err = sign(&g.trustees, &g.signing, &[0, 1], GroupMessage::KeyStatement(other)).unwrap_err();
    assert!(matches!(&err, SigningError::Refused(r) if r.contains("threshold")), "{err}");
    assert!(g.trustees.iter().all(|t| t.store().entries().unwrap().is_empty()));
}

#[test]
fn nonces_are_single_use_and_a_wrong_signature_share_is_named() {
    let g = group(2, 3);
    let request =
        SigningRequest::new(vec![1, 3], GroupMessage::KeyStatement(g.statement.clone()), &mut OsRng);
    let (t1, t3) = (&g.trustees[0], &g.trustees[2]);
    let commitments =
        vec![t1.sign_commit(&request, &mut OsRng).unwrap(), t3.sign_commit(&request, &mut OsRng).unwrap()];
    // A session commits once: a second commitment would give a second nonce
    // pair for the same session.
    assert!(matches!(t1.sign_commit(&request, &mut OsRng), Err(SigningError::SessionUsed)));
    let s1 = t1.sign_share(&request, &commitments).unwrap();
    let s3 = t3.sign_share(&request, &commitments).unwrap();
    assert_eq!(SignatureShare::from_bytes(&s1.to_bytes()).unwrap(), s1);
    assert_eq!(SigningCommitment::from_bytes(&commitments[0].to_bytes()).unwrap(), commitments[0]);
    // The nonces are gone once a share left: never a second share with them,
    // with the same or other commitments.
    assert!(matches!(t1.sign_share(&request, &commitments), Err(SigningError::NoNonces)));
    let mut swapped = commitments.clone();
    swapped[1].hiding = commitments[1].binding;
    assert!(matches!(t1.sign_share(&request, &swapped), Err(SigningError::NoNonces)));
    // Trustee 2 never committed: it has no nonces for the session.
    let request2 = SigningRequest { signers: vec![1, 2], ..request.clone() };
    assert!(g.trustees[1].sign_share(&request2, &commitments).is_err());
    // A wrong share is named.
    let mut bad = s3.clone();
    bad.share += curve25519_dalek::Scalar::ONE;
    let err = finish(&g.signing, &request, &commitments, &[s1.clone(), bad]).unwrap_err();
    assert!(matches!(err, SigningError::BadShare(3)), "{err}");
    let signed = finish(&g.signing, &request, &commitments, &[s1, s3]).unwrap();
    signed.verify().unwrap();
}

/// Runs a FROST session of `signers` (indices into `trustees`) on the
/// result of `combined` for `req`: the group-signed trace result.
fn sign_result(
    g: &Group,
    signers: &[usize],
    req: &TraceRequest,
    result: faircash::protocol::trace::TraceResult,
) -> Result<faircash::protocol::trace::TraceResult, SigningError> {
    let message = GroupMessage::TraceResult(Box::new(ResultToSign { request: req.clone(), result }));
    let request =
        SigningRequest::new(signers.iter().map(|&i| g.trustees[i].id()).collect(), message, &mut OsRng);
    let request = SigningRequest::from_bytes(&request.to_bytes()).unwrap();
    let commitments: Vec<SigningCommitment> =
        signers.iter().map(|&i| g.trustees[i].sign_commit(&request, &mut OsRng)).collect::<Result<_, _>>()?;
    let shares: Vec<SignatureShare> = signers
        .iter()
        .map(|&i| g.trustees[i].sign_share(&request, &commitments))
        .collect::<Result<_, _>>()?;
    finish_result(&g.signing, &g.statement, &request, &commitments, &shares)
}

#[test]
fn a_threshold_result_is_signed_by_the_group_names_its_trustees_and_verifies_with_public_keys() {
    let g = group(2, 3);
    let w = &g.world;
    let (alice, serials, records) = spend(w, 1);
    let record = records[0].clone();
    let owner = TraceRequest { warrant: w.warrant(&g.judge, &record, "owner"), record };
    let shares: Vec<TraceShare> =
        [0, 2].iter().map(|&i| g.trustees[i].owner_share(&owner, &mut OsRng).unwrap()).collect();
    let combined = combine_shares(&g.statement, &owner, &shares).unwrap();
    let unsigned = combined.unsigned_result(g.statement.public_keys());
    // Trustee 2 took no part in the decryption; it signs all the same.
    let result = sign_result(&g, &[1, 2], &owner, unsigned.clone()).unwrap();
    let result = TraceResult::from_bytes(&result.to_bytes()).unwrap();
    assert_eq!(
        result.log_entries(),
        vec![(1, 0), (3, 0)],
        "the result names trustees 1 and 3 and their entries"
    );
    for (i, index) in result.log_entries() {
        let entry = &g.trustees[usize::from(i) - 1].store().entries().unwrap()[index as usize];
        assert_eq!(entry.request_digest, owner.digest());
    }
    assert_eq!(result.verify(&g.statement, &owner.record, &owner.warrant).unwrap(), *alice.user().identity());
    let account = w.bank.apply_owner_trace(&result, &owner.record, &owner.warrant, &g.statement).unwrap();
    assert_eq!(account, alice.account_id());

    // Public verification fails for another group, another record or
    // warrant, and any change to the result.
    let other = group(2, 3).statement;
    assert!(result.verify(&other, &owner.record, &owner.warrant).is_err());
    let (again, _) = owner_request(&g);
    assert!(result.verify(&g.statement, &again.record, &owner.warrant).is_err());
    assert!(result.verify(&g.statement, &owner.record, &again.warrant).is_err());
    let Decryption::Threshold { shares: used } = &result.decryption else { panic!("a threshold result") };
    let mut moved = result.clone();
    let Decryption::Threshold { shares } = &mut moved.decryption else { unreachable!() };
    shares[1].log_index += 1;
    assert!(matches!(
        moved.verify(&g.statement, &owner.record, &owner.warrant),
        Err(TraceError::ResultSignature)
    ));
    // Shares and plaintext intact, signature of another group's key.
    let mut resigned = result.clone();
    resigned.signature = g.world.ttp_keys.signing.sign(
        faircash::crypto::transcript::labels::TRACE_RESULT_SIGNATURE,
        &result.digest(),
        &mut OsRng,
    );
    assert!(matches!(
        resigned.verify(&g.statement, &owner.record, &owner.warrant),
        Err(TraceError::ResultSignature)
    ));
    let mut dropped = result.clone();
    dropped.decryption = Decryption::Threshold { shares: used[..1].to_vec() };
    assert!(dropped.verify(&g.statement, &owner.record, &owner.warrant).is_err());
    let mut plain = result.clone();
    plain.plaintext = *w.user(0).user().identity();
    assert!(plain.verify(&g.statement, &owner.record, &owner.warrant).is_err());

    // A signer sees the plaintext and checks it: a result whose plaintext is
    // not what the shares give, or that another share makes, is refused
    // before any nonce is made.
    let mut wrong = unsigned.clone();
    wrong.plaintext = *w.user(0).user().identity();
    let err = sign_result(&g, &[0, 1], &owner, wrong).unwrap_err();
    assert!(matches!(&err, SigningError::Refused(_)), "{err}");
    let mut forged = unsigned.clone();
    let Decryption::Threshold { shares } = &mut forged.decryption else { unreachable!() };
    shares[0].share = shares[1].share;
    assert!(matches!(sign_result(&g, &[0, 1], &owner, forged), Err(SigningError::Refused(_))));
    // A warrant from an issuer the trustees do not trust is refused too.
    let stranger = SigningKey::generate(&mut OsRng);
    let foreign =
        TraceRequest { warrant: w.warrant(&stranger, &owner.record, "x"), record: owner.record.clone() };
    assert!(matches!(sign_result(&g, &[0, 1], &foreign, unsigned), Err(SigningError::Refused(_))));
    // A request to sign a result that carries a signature, or a single
    // key's result, is refused when decoded.
    let mut single = combined.unsigned_result(g.statement.public_keys());
    single.decryption = Decryption::Single { log_index: 0, proof: used[0].proof.clone() };
    for bad in [result.clone(), single] {
        let message =
            GroupMessage::TraceResult(Box::new(ResultToSign { request: owner.clone(), result: bad }));
        let bytes = SigningRequest::new(vec![1, 2], message, &mut OsRng).to_bytes();
        let err = SigningRequest::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("message.result"), "{err}");
    }
    // Fewer than t signers cannot sign.
    assert!(matches!(
        sign_result(&g, &[0], &owner, combined.unsigned_result(g.statement.public_keys())),
        Err(SigningError::Signers(_))
    ));

    // Coin tracing the same way: the bank watches the serial.
    let session = w.bank.withdrawals_of(&alice.account_id()).unwrap()[0].id();
    let record = w.bank.withdrawal_record(&session).unwrap();
    let coin = TraceRequest { warrant: w.warrant(&g.judge, &record, "coin"), record };
    let shares: Vec<TraceShare> =
        [1, 2].iter().map(|&i| g.trustees[i].coin_share(&coin, &mut OsRng).unwrap()).collect();
    let unsigned =
        combine_shares(&g.statement, &coin, &shares).unwrap().unsigned_result(g.statement.public_keys());
    let result = sign_result(&g, &[0, 2], &coin, unsigned).unwrap();
    assert_eq!(result.log_entries(), vec![(2, 0), (3, 1)]);
    let serial = w.bank.apply_coin_trace(&result, &coin.record, &coin.warrant, &g.statement).unwrap();
    assert_eq!(vec![serial], serials);
}

#[test]
fn ttp_verify_trace_accepts_a_threshold_result_and_refuses_a_tampered_one() {
    let g = group(2, 3);
    let (req, identity) = owner_request(&g);
    let shares: Vec<TraceShare> =
        [0, 1].iter().map(|&i| g.trustees[i].owner_share(&req, &mut OsRng).unwrap()).collect();
    let unsigned =
        combine_shares(&g.statement, &req, &shares).unwrap().unsigned_result(g.statement.public_keys());
    let result = sign_result(&g, &[0, 1], &req, unsigned).unwrap();
    let c = cli_support::Cli::new();
    let write = |name: &str, json: String| std::fs::write(c.path(name), json).unwrap();
    write("group.pub.json", g.world.ttp_statement.to_json());
    write("w.json", req.warrant.to_json());
    write("rec.json", req.record.to_json());
    write("res.json", result.to_json());
    let args = |statement: &'static str, result: &'static str| {
        [
            "ttp",
            "verify-trace",
            "--ttp",
            statement,
            "--warrant",
            "w.json",
            "--record",
            "rec.json",
            "--result",
            result,
        ]
    };
    let v = c.json(&args("group.pub.json", "res.json"));
    assert_eq!(v["valid"], true);
    assert_eq!(v["log_index"], serde_json::Value::Null);
    assert_eq!(
        v["trustees"],
        serde_json::json!([{"trustee": 1, "log_index": 0}, {"trustee": 2, "log_index": 0}])
    );
    assert_eq!(v["plaintext"], serde_json::to_value(identity).unwrap());
    let text = c.ok(&args("group.pub.json", "res.json")[..]);
    assert!(text.contains("2 of 3 trustees (trustee 1 log entry 0, trustee 2 log entry 0)"), "{text}");

    // A result whose share names another log entry: invalid input (exit 3).
    let mut tampered = result.clone();
    let Decryption::Threshold { shares } = &mut tampered.decryption else { panic!("a threshold result") };
    shares[0].log_index = 5;
    write("tampered.json", tampered.to_json());
    let err = c.fails(3, &args("group.pub.json", "tampered.json"));
    assert!(err.contains("signature"), "{err}");
    // The result under another group's statement.
    let other = group(2, 3);
    write("other.pub.json", other.world.ttp_statement.to_json());
    c.fails(3, &args("other.pub.json", "res.json"));
}
