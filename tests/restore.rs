//! Restore from a recovery phrase (specs/protocol.md §7.6 item 8): the
//! account's keys from the phrase, its transcripts from the bank's listing,
//! every coin rebuilt and checked, the counters set past the used ones.
mod common;

use std::sync::Arc;

use common::recording::Recording;
use common::*;
use faircash::crypto::derive::{RecoveryPhrase, WalletSeed};
use faircash::protocol::withdraw::TranscriptState;
use faircash::protocol::Error;
use faircash::roles::wallet::{RestoreError, RestoreProgress, Withheld};
use faircash::roles::{BankApi, Wallet};
use faircash::store::memory::MemoryWalletStore;
use faircash::store::WalletStore;
use rand::rngs::OsRng;

fn restore(
    w: &World,
    seed: &WalletSeed,
    bank: &dyn BankApi,
) -> std::result::Result<(TestWallet, faircash::roles::wallet::RestoreReport), RestoreError> {
    Wallet::restore(
        seed,
        w.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
        bank,
        &mut OsRng,
        |_| {},
    )
}

#[test]
fn a_restore_rebuilds_every_coin_past_refused_and_abandoned_sessions_and_sets_the_counters() {
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let mut alice = seeded_user(&w, &seed, 20);
    // Answered: 4, 2, 1 (reserved); refused at open (a counter burned, no
    // session); abandoned; answered 8; open (left after its commitment).
    let mut coins = alice.withdraw(&*w.bank, 7, &mut OsRng).unwrap();
    assert!(matches!(alice.withdraw_one(&*w.bank, 16, &mut OsRng), Err(Error::InsufficientBalance { .. })));
    let abandoned = alice.start_withdrawal(1, &mut OsRng).unwrap();
    BankApi::open_withdrawal(&*w.bank, &abandoned).unwrap();
    alice.abandon_withdrawal(&*w.bank, abandoned.session_id, &mut OsRng).unwrap();
    coins.push(alice.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap());
    // The authentication key rotated once, to the phrase's next key (a
    // wallet rotates only with no withdrawal interrupted).
    let (key, derived) = alice.next_auth_key(&mut OsRng);
    assert!(derived);
    let rotation = alice.auth_rotation(&key, &mut OsRng);
    alice.rotate_auth_key(&*w.bank, key, &rotation).unwrap();
    let open = alice.start_withdrawal(1, &mut OsRng).unwrap();
    BankApi::open_withdrawal(&*w.bank, &open).unwrap();

    let bank = Recording::new(w.bank.clone());
    let mut seen = Vec::new();
    let (restored, report) = Wallet::restore(
        &seed,
        w.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
        &bank,
        &mut OsRng,
        |p| seen.push(p),
    )
    .unwrap();
    assert_eq!((report.epoch, report.auth_rotation), (0, 1));
    assert_eq!(restored.account_id(), alice.account_id());
    assert_eq!(restored.keys().auth().public(), alice.keys().auth().public());
    assert_eq!(report.listed, 6);
    assert_eq!((report.open, report.ended), (1, 1));
    assert!(report.withheld.is_empty() && report.unmatched.is_empty(), "{report:?}");
    let mut got: Vec<_> = report.recovered.iter().map(|c| c.coin.id()).collect();
    got.sort();
    coins.sort();
    assert_eq!(got, coins, "every coin rebuilt");
    assert_eq!(report.recovered_value(), alice.balance().unwrap());
    for c in &report.recovered {
        let held = alice.coins().unwrap().into_iter().find(|h| h.coin.coin.id() == c.coin.id()).unwrap();
        assert_eq!(
            serde_json::to_value(&held.coin.secrets).unwrap(),
            serde_json::to_value(&c.secrets).unwrap()
        );
    }
    assert_eq!(seen.last(), Some(&RestoreProgress::Matched { matched: 6, listed: 6 }));
    // The counter goes on past the highest used: the next one is the
    // original wallet's next.
    let keyset = w.keyset().id();
    assert_eq!(report.counters, vec![(keyset, 7)]);
    assert_eq!(restored.store().burn_counter(&keyset).unwrap(), alice.store().burn_counter(&keyset).unwrap());
    // What the bank received: the keysets and account requests (status
    // with each key tried, the listing); no withdrawal step, no deposit, no
    // coin named.
    let log = bank.log.lock().unwrap().clone();
    assert_eq!(log, vec!["account-status", "account-status", "keysets", "list-withdrawals"]);
}

#[test]
fn a_transcript_the_bank_changed_is_reported_withheld() {
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let alice = seeded_user(&w, &seed, 15);
    alice.withdraw(&*w.bank, 15, &mut OsRng).unwrap();
    let honest = restore(&w, &seed, &*w.bank).unwrap().1;
    assert_eq!(honest.recovered.len(), 4);
    for (what, expected) in [
        ("answer", Withheld::BadAnswer),
        ("challenge", Withheld::ChallengeMismatch),
        ("signature", Withheld::CommitmentSignature),
        ("moved", Withheld::CommitmentSignature),
        ("request", Withheld::RequestMismatch),
    ] {
        let mut bank = Recording::new(w.bank.clone());
        let signer = w.bank.clone();
        let keyset = w.keyset();
        bank.tamper = Box::new(move |sessions| {
            let t = &mut sessions[0];
            match what {
                "answer" => {
                    if let TranscriptState::Answered { answer, .. } = &mut t.state {
                        answer.s1 += curve25519_dalek::scalar::Scalar::ONE;
                    }
                }
                "challenge" => {
                    if let TranscriptState::Answered { e, .. } = &mut t.state {
                        *e += curve25519_dalek::scalar::Scalar::ONE;
                    }
                }
                "signature" => t.commitment.signature.s += curve25519_dalek::scalar::Scalar::ONE,
                "moved" => t.request.expiry = faircash::time::Day(t.request.expiry.0 + 1),
                // The bank signs a changed request anew (it holds the
                // online key): the counter's values no longer give its C.
                _ => {
                    t.request.expiry = faircash::time::Day(t.request.expiry.0 + 1);
                    let digest =
                        faircash::protocol::withdraw::commitment_digest(&t.request, &t.commitment.commitment);
                    t.commitment.signature = signer
                        .sign_online(
                            &keyset,
                            faircash::crypto::transcript::labels::WITHDRAW_COMMITMENT_SIGNATURE,
                            &digest,
                            &mut OsRng,
                        )
                        .unwrap();
                }
            }
        });
        let (_, report) = restore(&w, &seed, &bank).unwrap();
        assert_eq!(report.recovered.len(), 3, "{what}");
        assert_eq!(report.withheld.len(), 1, "{what}");
        assert_eq!(report.withheld[0].1, expected, "{what}");
        assert!(report.unmatched.is_empty() && report.counters == honest.counters, "{what}");
    }
}

#[test]
fn a_wrong_phrase_is_a_typed_error_and_changes_nothing() {
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let alice = seeded_user(&w, &seed, 4);
    alice.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap();
    let other = RecoveryPhrase::generate(&mut OsRng).seed();
    let store = MemoryWalletStore::new();
    let err = Wallet::restore(
        &other,
        w.bank.master_key(),
        store,
        Arc::new(w.clock.clone()),
        &*w.bank,
        &mut OsRng,
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, RestoreError::NoAccount(_)), "{err:?}");
    // A phrase whose account rotated to a random key: no derived key
    // authenticates.
    let mut bob = seeded_user(&w, &other, 0);
    let random = faircash::keys::AuthKey::generate(&mut OsRng);
    let rotation = bob.auth_rotation(&random, &mut OsRng);
    bob.rotate_auth_key(&*w.bank, random, &rotation).unwrap();
    let bank = Recording::new(w.bank.clone());
    let err = restore(&w, &other, &bank).unwrap_err();
    assert!(matches!(err, RestoreError::NoAuthKey), "{err:?}");
    assert!(bank.log.lock().unwrap().iter().all(|r| r == "account-status"));
    assert_eq!(w.balance(&alice.account_id()), 0);
}

#[test]
fn the_scan_stops_at_its_ceiling() {
    // A session listed for the account whose id no counter below the
    // ceiling gives (a wallet that drew random values) is reported
    // unmatched after the whole scan.
    let w = World::new();
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let alice = seeded_user(&w, &seed, 6);
    alice.withdraw_one(&*w.bank, 2, &mut OsRng).unwrap();
    let mut plain = Wallet::new(
        seed.account_keys(&w.bank.master_key(), 0),
        w.bank.master_key(),
        MemoryWalletStore::new(),
        Arc::new(w.clock.clone()),
    );
    plain.pin_keysets(&w.bank.published_keysets()).unwrap();
    plain.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    let random = plain.withdraw_one(&*w.bank, 4, &mut OsRng).unwrap();
    let (_, report) = restore(&w, &seed, &*w.bank).unwrap();
    assert_eq!(report.recovered.len(), 1);
    assert_eq!(report.unmatched.len(), 1);
    assert!(report.recovered.iter().all(|c| c.coin.id() != random));
}
