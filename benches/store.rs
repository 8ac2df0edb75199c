//! The spent-coin store with 10^6 spent coins, in memory and in SQLite:
//! `BankTx::spent_coin` (lookup of a present and of an absent `coin_id`) and
//! `BankTx::insert_spent_coins` of one new `coin_id` (its lookup, insert
//! and watch-list read: what a deposit pays per coin on these stores).
//!
//! The store is filled once per run, in one transaction, with coin ids
//! spread like hashes. `lookup_*` and `insert` run inside one open
//! transaction (the per-row cost a deposit transaction pays per coin);
//! `insert` rolls its rows back untimed, so the table stays at 10^6 rows.
//! `insert_commit` is one coin per transaction, committed: for SQLite
//! (WAL, `synchronous = FULL`) that includes the fsync of the commit.

mod common;

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, TODAY};
use criterion::{criterion_group, criterion_main, Criterion};
use faircash::coin::CoinId;
use faircash::keys::AccountId;
use faircash::store::memory::MemoryBankStore;
use faircash::store::sqlite::SqliteBankStore;
use faircash::store::{BankStore, SpentCoin};

/// Spent coins in the store.
const ROWS: u64 = 1_000_000;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The `i`-th coin id: 32 bytes that look like a hash.
fn coin_id(i: u64) -> CoinId {
    let mut id = [0u8; 32];
    for (j, chunk) in id.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&splitmix(i.wrapping_mul(4).wrapping_add(j as u64)).to_le_bytes());
    }
    CoinId(id)
}

struct Template {
    coin: SpentCoin,
    payment: faircash::protocol::pay::Payment,
}

fn template() -> Template {
    let fx = Fixture::new();
    let payment = fx.pay(&fx.coins(1));
    let coin = SpentCoin {
        coin_id: coin_id(0),
        serial: payment.coins[0].body.serial,
        challenge: curve25519_dalek::scalar::Scalar::from(7u64),
        merchant: AccountId([3; 16]),
        day: TODAY,
        receipt_day: TODAY,
        payment_digest: payment.digest(),
        coin_index: 0,
        value: 1,
        keyset: payment.coins[0].body.keyset_id,
        prune_after: TODAY.plus(104),
    };
    Template { coin, payment }
}

fn spent(t: &Template, i: u64) -> SpentCoin {
    SpentCoin { coin_id: coin_id(i), ..t.coin.clone() }
}

fn fill(store: &dyn BankStore, t: &Template) {
    let start = Instant::now();
    let mut tx = store.begin().unwrap();
    for chunk in (0..ROWS).collect::<Vec<u64>>().chunks(4096) {
        let coins: Vec<SpentCoin> = chunk.iter().map(|&i| spent(t, i)).collect();
        tx.insert_spent_coins(&[(t.coin.payment_digest, &t.payment)], &coins).unwrap();
    }
    tx.commit().unwrap();
    eprintln!("filled {ROWS} spent coins in {:.1} s", start.elapsed().as_secs_f64());
}

/// Ids for lookups: present ones (below `ROWS`) in a scattered order, and
/// absent ones.
fn probe_ids(present: bool) -> Vec<CoinId> {
    (0..4096u64).map(|k| if present { coin_id(splitmix(k) % ROWS) } else { coin_id(ROWS * 2 + k) }).collect()
}

/// New ids never used before in this process.
static NEXT: AtomicU64 = AtomicU64::new(ROWS * 4);

fn bench_store(c: &mut Criterion, name: &str, open: impl Fn() -> Box<dyn BankStore>) {
    let cell: OnceCell<(Box<dyn BankStore>, Template)> = OnceCell::new();
    let get = || {
        cell.get_or_init(|| {
            let t = template();
            let store = open();
            fill(&*store, &t);
            (store, t)
        })
    };
    let mut g = c.benchmark_group(format!("store_{name}"));
    for (label, present) in [("lookup_present", true), ("lookup_absent", false)] {
        let ids = probe_ids(present);
        g.bench_function(label, |b| {
            let (store, _) = get();
            b.iter_custom(|iters| {
                let mut tx = store.begin().unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    let found = tx.spent_coin(&ids[i as usize % ids.len()]).unwrap();
                    assert_eq!(found.is_some(), present);
                    black_box(found);
                }
                start.elapsed()
            })
        });
    }
    g.bench_function("insert", |b| {
        let (store, t) = get();
        b.iter_custom(|iters| {
            let rows: Vec<SpentCoin> =
                (0..iters).map(|_| spent(t, NEXT.fetch_add(1, Ordering::Relaxed))).collect();
            let mut tx = store.begin().unwrap();
            let start = Instant::now();
            for r in &rows {
                tx.insert_spent_coins(&[(t.coin.payment_digest, &t.payment)], std::slice::from_ref(r))
                    .unwrap();
            }
            let elapsed = start.elapsed();
            drop(tx); // rolled back: the table stays at ROWS
            elapsed
        })
    });
    g.bench_function("insert_commit", |b| {
        let (store, t) = get();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let row = spent(t, NEXT.fetch_add(1, Ordering::Relaxed));
                let start = Instant::now();
                let mut tx = store.begin().unwrap();
                tx.insert_spent_coins(&[(t.coin.payment_digest, &t.payment)], &[row]).unwrap();
                tx.commit().unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn store(c: &mut Criterion) {
    bench_store(c, "memory", || Box::new(MemoryBankStore::new()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    bench_store(c, "sqlite", || Box::new(SqliteBankStore::open(&path).unwrap()));
}

criterion_group! { name = benches; config = common::config(); targets = store }
criterion_main!(benches);
