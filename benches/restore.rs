//! Restore from a recovery phrase (specs/protocol.md §7.6 item 8) of a
//! wallet that withdrew 1,000 coins: the client's side (finding the keys,
//! matching every transcript to its counter, rebuilding and checking every
//! coin), the bank's side (the status requests and the listing's pages)
//! and the bytes of every message in their binary wire encoding, printed
//! before the run.
//!
//! The wallet and the bank (in-memory store) run in one process; the bank
//! is reached through a `BankApi` that times and counts every call. The
//! 1,000 coins are withdrawn once, untimed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, Timed, TODAY};
use criterion::{criterion_group, criterion_main, Criterion};
use faircash::crypto::derive::{RecoveryPhrase, WalletSeed};
use faircash::protocol::trust::TtpValidity;
use faircash::roles::{Bank, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryWalletStore};
use faircash::time::{Clock, ManualClock};
use rand::rngs::OsRng;

/// Coins withdrawn before the restore.
const COINS: usize = 1_000;

/// A bank, and the seed of a wallet that withdrew [`COINS`] coins of 1 on it.
fn world(fx: &Fixture) -> (Bank<MemoryBankStore>, WalletSeed, Arc<ManualClock>) {
    let (bank, _, _) = fx.memory_bank(0);
    let clock = Arc::new(ManualClock::at_day(TODAY));
    let statement = fx
        .ttp
        .statement(0, TtpValidity::starting(TODAY, 730, 1095), clock.now(), &mut OsRng)
        .expect("statement");
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let master = bank.master_key();
    let mut w = Wallet::new(seed.account_keys(&master, 0), master, MemoryWalletStore::new(), clock.clone())
        .with_seed(&seed)
        .expect("seed");
    w.pin_keysets(&bank.published_keysets()).expect("keysets");
    w.anchors_mut().trust_ttp(&statement).expect("ttp");
    let id = bank.register_user(&w.registration(&mut OsRng), &mut OsRng).expect("registered");
    bank.fund(&id, COINS as u64).expect("funded");
    w.withdraw_values(&bank, &[1; COINS], &mut OsRng, |_| {}).expect("withdrawn");
    (bank, seed, clock)
}

fn restore(c: &mut Criterion) {
    let fx = Fixture::new();
    let (bank, seed, clock) = world(&fx);
    let run = |timed: &Timed<'_, Bank<MemoryBankStore>>| {
        let (_, report) = Wallet::restore(
            &seed,
            bank.master_key(),
            MemoryWalletStore::new(),
            clock.clone(),
            timed,
            &mut OsRng,
            |_| {},
        )
        .expect("restored");
        assert_eq!(report.recovered.len(), COINS);
    };
    let counted = Timed::new(&bank);
    run(&counted);
    eprintln!(
        "restore of {COINS} coins: {} bytes sent, {} bytes received (binary wire encoding)",
        counted.sent.get(),
        counted.received.get()
    );
    let mut g = c.benchmark_group("restore_1000");
    for side in ["client", "bank"] {
        g.bench_function(side, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let timed = Timed::new(&bank);
                    let t = Instant::now();
                    run(&timed);
                    let all = t.elapsed();
                    total += if side == "bank" { timed.spent.get() } else { all - timed.spent.get() };
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = restore
}
criterion_main!(benches);
