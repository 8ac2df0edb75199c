//! Exchange (protocol §9.8): one coin of 128 exchanged into the 8 coins of
//! its amount-independent split (64, 32, 16, 8, 4, 2, 1, 1), each side
//! timed apart; and `Wallet::pay` with exact coins against
//! `Wallet::pay_with_change` (an exchange, then the payment).
//!
//! The wallet and the bank (in-memory store) run in one process; the bank
//! is reached through a `BankApi` that times every call, so "bank" is the
//! bank's whole work (the deposit of the payment to oneself, the
//! reservation and the 8 withdrawals with their store transactions) and
//! "client" the rest (selecting, spending, signing, the 8 withdrawals'
//! user steps, the wallet store). Coins are withdrawn before each
//! iteration, untimed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, Timed, TODAY};
use criterion::{criterion_group, criterion_main, Criterion};
use faircash::protocol::trust::TtpValidity;
use faircash::roles::{Bank, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryWalletStore};
use faircash::time::{Clock, ManualClock};
use rand::rngs::OsRng;

/// A bank with the fixture's user funded, and the user's wallet on it.
fn world(fx: &Fixture) -> (Bank<MemoryBankStore>, Wallet<MemoryWalletStore>) {
    let (bank, _, _) = fx.memory_bank(u64::from(u32::MAX));
    let clock = Arc::new(ManualClock::at_day(TODAY));
    let statement = fx
        .ttp
        .statement(0, TtpValidity::starting(TODAY, 730, 1095), clock.now(), &mut OsRng)
        .expect("statement");
    let mut w = Wallet::new(fx.keys.clone(), bank.master_key(), MemoryWalletStore::new(), clock);
    w.pin_keysets(&bank.published_keysets()).expect("keysets");
    w.anchors_mut().trust_ttp(&statement).expect("ttp");
    (bank, w)
}

fn exchange(c: &mut Criterion) {
    let fx = Fixture::new();
    let (bank, wallet) = world(&fx);
    let mut g = c.benchmark_group("exchange_1_into_8");
    for side in ["client", "bank"] {
        g.bench_function(side, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // The wallet holds the one coin to exchange, as in every
                    // iteration (the coins of earlier ones paid away untimed).
                    for c in wallet.coins().expect("coins").into_iter().filter(|c| c.spent_in.is_none()) {
                        wallet.pay(&fx.request(c.coin.value), &mut OsRng).expect("emptied");
                    }
                    wallet.withdraw(&bank, 128, &mut OsRng).expect("a coin of 128");
                    let timed = Timed::new(&bank);
                    let t = Instant::now();
                    let ex = wallet.exchange(&timed, 128, None, &mut OsRng).expect("exchange");
                    let all = t.elapsed();
                    assert_eq!(ex.coins.len(), 8);
                    total += if side == "bank" { timed.spent.get() } else { all - timed.spent.get() };
                }
                total
            })
        });
    }
    g.finish();
}

fn pay(c: &mut Criterion) {
    let fx = Fixture::new();
    let (bank, wallet) = world(&fx);
    let mut g = c.benchmark_group("wallet_pay_5");
    g.bench_function("exact_coins", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                wallet.withdraw(&bank, 5, &mut OsRng).expect("4 + 1");
                let req = fx.request(5);
                let t = Instant::now();
                wallet.pay(&req, &mut OsRng).expect("paid");
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("with_change", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Only a 128 held: the payment needs change.
                for c in wallet.coins().expect("coins").into_iter().filter(|c| c.spent_in.is_none()) {
                    let req = fx.request(c.coin.value);
                    wallet.pay(&req, &mut OsRng).expect("emptied");
                }
                wallet.withdraw(&bank, 128, &mut OsRng).expect("a coin of 128");
                let req = fx.request(5);
                let t = Instant::now();
                let (_, ex) = wallet.pay_with_change(&bank, &req, &mut OsRng).expect("paid");
                total += t.elapsed();
                assert!(ex.is_some());
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = exchange, pay
}
criterion_main!(benches);
