//! The [`WalletStore`] suite.

use super::objects::{json, Objects};
use crate::coin::CoinId;
use crate::store::{PendingEntry, StoreError, WalletStore};

/// Runs every wallet-store check; `make` returns a fresh, empty store each
/// time. One [`Objects`] (keys, coins, payments) serves every check.
pub fn run_wallet_store_suite<S: WalletStore>(make: impl Fn() -> S) {
    let o = Objects::new();
    pending_withdrawals_are_replaced_by_session_and_dropped(&make(), &o);
    completing_a_withdrawal_stores_the_coin_and_drops_its_pending_entry_at_once(&make(), &o);
    marking_coins_spent_is_all_or_nothing(&make(), &o);
    only_coins_of_an_unrecorded_payment_are_released(&make(), &o);
    payments_round_trip_by_request_id(&make(), &o);
    concurrent_payments_never_spend_a_coin_twice(&make(), &o);
    withdrawal_counters_count_up_per_keyset(&make());
}

/// Each keyset's counters are handed out once each, from 0, in order.
pub fn withdrawal_counters_count_up_per_keyset<S: WalletStore>(s: &S) {
    let a = crate::keys::KeysetId([1; 32]);
    let b = crate::keys::KeysetId([2; 32]);
    assert_eq!((s.burn_counter(&a).unwrap(), s.burn_counter(&a).unwrap()), (0, 1));
    assert_eq!(s.burn_counter(&b).unwrap(), 0, "counters are per keyset");
    assert_eq!(s.burn_counter(&a).unwrap(), 2);
    // Raised past what a restore found used; never lowered.
    s.raise_counter(&a, 10).unwrap();
    assert_eq!(s.burn_counter(&a).unwrap(), 10);
    s.raise_counter(&a, 4).unwrap();
    assert_eq!(s.burn_counter(&a).unwrap(), 11, "never lowered");
    let c = crate::keys::KeysetId([3; 32]);
    s.raise_counter(&c, 5).unwrap();
    assert_eq!(s.burn_counter(&c).unwrap(), 5);
}

/// What a wallet store holds, in comparable form.
fn snapshot<S: WalletStore>(s: &S) -> (serde_json::Value, serde_json::Value) {
    (json(&s.pending().unwrap()), json(&s.coins().unwrap()))
}

fn ids(coins: &[&crate::protocol::withdraw::WalletCoin]) -> Vec<CoinId> {
    coins.iter().map(|c| c.coin.id()).collect()
}

/// A store holding `coins`, unspent.
fn holding<S: WalletStore>(s: &S, o: &Objects, values: &[u64]) -> Vec<crate::protocol::withdraw::WalletCoin> {
    values
        .iter()
        .map(|v| {
            let c = o.coin(*v);
            s.complete_withdrawal(&crate::protocol::withdraw::SessionId::random(&mut rand::rngs::OsRng), &c)
                .unwrap();
            c
        })
        .collect()
}

fn spent_in<S: WalletStore>(s: &S, id: &CoinId) -> Option<[u8; 32]> {
    s.coins().unwrap().into_iter().find(|c| c.coin.coin.id() == *id).expect("coin stored").spent_in
}

/// One pending entry per session: a later state replaces the earlier one,
/// and dropping removes it (dropping an unknown session changes nothing).
pub fn pending_withdrawals_are_replaced_by_session_and_dropped<S: WalletStore>(s: &S, o: &Objects) {
    let (started, awaiting) = o.pending_entries(4);
    let (other, _) = o.pending_entries(1);
    s.put_pending(&started).unwrap();
    s.put_pending(&other).unwrap();
    let mut got = json(&s.pending().unwrap());
    let mut want = json(&vec![started.clone(), other.clone()]);
    sort_json(&mut got);
    sort_json(&mut want);
    assert_eq!(got, want, "pending entries round-trip");
    s.put_pending(&awaiting).unwrap();
    let now = s.pending().unwrap();
    assert_eq!(now.len(), 2, "a session has one pending entry");
    let entry = now.iter().find(|p| p.session_id() == started.session_id()).unwrap();
    assert!(matches!(entry, PendingEntry::AwaitingAnswer(_)), "the later state replaced the earlier");
    assert_eq!(json(entry), json(&awaiting));
    s.drop_pending(&started.session_id()).unwrap();
    s.drop_pending(&crate::protocol::withdraw::SessionId([0; 16])).unwrap();
    assert_eq!(json(&s.pending().unwrap()), json(&vec![other]));
}

fn sort_json(v: &mut serde_json::Value) {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|x| x.to_string());
    }
}

/// Completing a withdrawal adds its coin, unspent, and removes its pending
/// entry in one step; a coin stored already is refused and changes nothing.
pub fn completing_a_withdrawal_stores_the_coin_and_drops_its_pending_entry_at_once<S: WalletStore>(
    s: &S,
    o: &Objects,
) {
    let (started, awaiting) = o.pending_entries(8);
    s.put_pending(&awaiting).unwrap();
    let coin = o.coin(8);
    s.complete_withdrawal(&started.session_id(), &coin).unwrap();
    assert!(s.pending().unwrap().is_empty(), "the pending entry is gone");
    let coins = s.coins().unwrap();
    assert_eq!(coins.len(), 1);
    assert_eq!(json(&coins[0].coin), json(&coin), "the coin round-trips with its secrets");
    assert_eq!(coins[0].spent_in, None);
    // The same coin again, for another pending session: refused, and that
    // session's pending entry stays.
    let (again, _) = o.pending_entries(8);
    s.put_pending(&again).unwrap();
    let before = snapshot(s);
    assert_eq!(s.complete_withdrawal(&again.session_id(), &coin), Err(StoreError::Conflict("coin")));
    assert_eq!(snapshot(s), before, "a refused completion changes nothing");
}

/// Marking is atomic: if one coin is spent or unknown, none is marked.
pub fn marking_coins_spent_is_all_or_nothing<S: WalletStore>(s: &S, o: &Objects) {
    let coins = holding(s, o, &[1, 2, 4]);
    let (a, b, c) = (&coins[0], &coins[1], &coins[2]);
    s.mark_spent(&ids(&[a, b]), &[1; 32]).unwrap();
    assert_eq!(spent_in(s, &a.coin.id()), Some([1; 32]));
    let before = snapshot(s);
    assert_eq!(s.mark_spent(&ids(&[c, b]), &[2; 32]), Err(StoreError::Conflict("spent coin")));
    assert_eq!(snapshot(s), before, "c stays unspent when b is spent");
    assert_eq!(s.mark_spent(&[c.coin.id(), CoinId([9; 32])], &[2; 32]), Err(StoreError::NotFound("coin")));
    assert_eq!(snapshot(s), before, "c stays unspent when a coin is unknown");
    assert_eq!(spent_in(s, &c.coin.id()), None);
}

/// Unmarking releases the coins of a payment that was never recorded, and
/// only the coins marked for that very request.
pub fn only_coins_of_an_unrecorded_payment_are_released<S: WalletStore>(s: &S, o: &Objects) {
    let coins = holding(s, o, &[1, 2]);
    let (a, b) = (&coins[0], &coins[1]);
    s.mark_spent(&ids(&[a]), &[1; 32]).unwrap();
    s.mark_spent(&ids(&[b]), &[2; 32]).unwrap();
    let paid = o.payment(&[a]);
    s.record_payment(&[1; 32], &paid).unwrap();
    assert_eq!(s.unmark_spent(&ids(&[a]), &[1; 32]), Err(StoreError::Conflict("payment")));
    assert_eq!(spent_in(s, &a.coin.id()), Some([1; 32]), "a paid coin stays spent");
    s.unmark_spent(&ids(&[b]), &[3; 32]).unwrap();
    assert_eq!(spent_in(s, &b.coin.id()), Some([2; 32]), "another request's coin stays spent");
    s.unmark_spent(&ids(&[b]), &[2; 32]).unwrap();
    assert_eq!(spent_in(s, &b.coin.id()), None, "released");
}

/// A recorded payment reads back by its request id.
pub fn payments_round_trip_by_request_id<S: WalletStore>(s: &S, o: &Objects) {
    let coins = holding(s, o, &[4, 1]);
    let p = o.payment(&coins.iter().collect::<Vec<_>>());
    s.mark_spent(&ids(&coins.iter().collect::<Vec<_>>()), &p.request.id()).unwrap();
    s.record_payment(&p.request.id(), &p).unwrap();
    assert_eq!(s.payment(&p.request.id()).unwrap(), Some(p));
    assert_eq!(s.payment(&[0; 32]).unwrap(), None);
}

/// Threads paying different requests with one coin: exactly one marks it.
pub fn concurrent_payments_never_spend_a_coin_twice<S: WalletStore>(s: &S, o: &Objects) {
    let coins = holding(s, o, &[16]);
    let id = coins[0].coin.id();
    let won = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..8u8 {
            let won = &won;
            scope.spawn(move || match s.mark_spent(&[id], &[i + 10; 32]) {
                Ok(()) => {
                    won.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("concurrent_payments_never_spend_a_coin_twice: {e}"),
            });
        }
    });
    assert_eq!(won.into_inner(), 1, "one payment spends the coin");
}

/// A store opened again (by `open`, on the same database) holds what was
/// written before: pending withdrawals, coins and their spent marks,
/// payments.
pub fn wallet_state_survives_reopening<S: WalletStore>(open: impl Fn() -> S) {
    let o = Objects::new();
    let (pending, p, before) = {
        let s = open();
        let coins = holding(&s, &o, &[1, 2]);
        let (started, _) = o.pending_entries(4);
        s.put_pending(&started).unwrap();
        let p = o.payment(&[&coins[0]]);
        s.mark_spent(&[coins[0].coin.id()], &p.request.id()).unwrap();
        s.record_payment(&p.request.id(), &p).unwrap();
        assert_eq!(s.burn_counter(&crate::keys::KeysetId([7; 32])).unwrap(), 0);
        (started, p, snapshot(&s))
    };
    let s = open();
    assert_eq!(s.burn_counter(&crate::keys::KeysetId([7; 32])).unwrap(), 1, "a burned counter stays burned");
    assert_eq!(snapshot(&s), before, "pending entries and coins survive");
    assert_eq!(json(&s.pending().unwrap()), json(&vec![pending]));
    assert_eq!(s.payment(&p.request.id()).unwrap(), Some(p), "payments survive");
}
