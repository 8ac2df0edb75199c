//! Counts the group operations of every benchmarked operation, by running
//! it once against an instrumented copy of curve25519-dalek
//! (scripts/instrument_dalek.py), and prints them as JSON keyed by the
//! criterion bench id. Run through scripts/count_ops.sh, which writes
//! benches/floor_counts.json; benches/floor.rs measures the primitives and
//! scripts/plot_benchmarks.py turns counts and primitives into floors.

mod common;

use std::collections::BTreeMap;

use common::{Fixture, TODAY};
use curve25519_dalek::counters::{take, Counts};
use faircash::coin::Coin;
use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{BankSecrets, UserKey};
use faircash::protocol::deposit::verify_deposit;
use faircash::protocol::pay::{create_payment, verify_payment, Payment};
use faircash::protocol::trace::TraceRecord;
use faircash::protocol::withdraw::{WalletCoin, WithdrawStart};
use faircash::time::ManualClock;
use faircash::wire::WireMessage;
use rand::rngs::OsRng;
use serde_json::{json, Value};

#[derive(Default)]
struct Tally(Counts);

impl Tally {
    fn add(&mut self, c: Counts) {
        let t = &mut self.0;
        t.compress += c.compress;
        t.decompress += c.decompress;
        t.varbase += c.varbase;
        t.table += c.table;
        t.doublebase += c.doublebase;
        t.h2g += c.h2g;
        t.invert += c.invert;
        t.batch_invert += c.batch_invert;
        t.ct_msm.extend(c.ct_msm);
        t.vt_msm.extend(c.vt_msm);
    }

    fn json(&self) -> Value {
        let c = &self.0;
        let mut ct: BTreeMap<usize, usize> = BTreeMap::new();
        for n in &c.ct_msm {
            *ct.entry(*n).or_default() += 1;
        }
        let mut vt: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for k in &c.vt_msm {
            *vt.entry(*k).or_default() += 1;
        }
        json!({
            "varbase": c.varbase,
            "basepoint_table": c.table,
            "double_base": c.doublebase,
            "compress": c.compress,
            "decompress": c.decompress,
            "hash_to_group": c.h2g,
            "invert": c.invert,
            "batch_invert": c.batch_invert,
            "ct_msm": ct.iter().map(|(n, k)| json!([n, k])).collect::<Vec<_>>(),
            "vt_msm": vt.iter().map(|((n, s), k)| json!([n, s, k])).collect::<Vec<_>>(),
        })
    }
}

struct Out(BTreeMap<String, Value>);

impl Out {
    /// Counts the operations of `f` under `name`.
    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let _ = take();
        let v = f();
        let mut t = Tally::default();
        t.add(take());
        self.0.insert(name.to_string(), t.json());
        v
    }
    fn put(&mut self, name: &str, t: &Tally) {
        self.0.insert(name.to_string(), t.json());
    }
}

/// `coins` withdrawals; the operations of each side apart.
fn withdraw_sides(fx: &Fixture, coins: usize) -> (Tally, Tally) {
    let (mut user, mut bank) = (Tally::default(), Tally::default());
    for _ in 0..coins {
        let _ = take();
        let start = fx.start(1);
        user.add(take());
        let req = start.request().clone();
        let (session, commitment) = fx.bank_open(&req);
        bank.add(take());
        let pending = start.receive_commitment(&fx.keys, &commitment, &mut OsRng).unwrap();
        let ch = pending.challenge();
        user.add(take());
        let answer = fx.bank_answer(&req, session, &commitment, &ch);
        bank.add(take());
        pending.finish(&answer).unwrap();
        user.add(take());
    }
    (user, bank)
}

/// `coins` withdrawals through `bank`: the bank role's operations.
fn bank_role<S: faircash::store::BankStore>(
    fx: &Fixture,
    bank: &faircash::roles::Bank<S>,
    keyset: &faircash::keys::Keyset,
    coins: usize,
) -> Tally {
    let mut t = Tally::default();
    for _ in 0..coins {
        let start = WithdrawStart::new(&fx.keys, keyset, 1, TODAY, &mut OsRng).unwrap();
        let _ = take();
        let commitment = bank.open_withdrawal(start.request(), &mut OsRng).unwrap();
        t.add(take());
        let pending = start.receive_commitment(&fx.keys, &commitment, &mut OsRng).unwrap();
        let ch = pending.challenge();
        let _ = take();
        bank.answer_withdrawal(&ch).unwrap();
        t.add(take());
    }
    t
}

fn main() {
    let mut out = Out(BTreeMap::new());
    let fx = Fixture::new();

    // keys
    out.run("keys/user_key", || UserKey::generate(&mut OsRng));
    out.run("keys/merchant_key", || SigningKey::generate(&mut OsRng));
    let mut secrets = BankSecrets::generate(&mut OsRng);
    let n = common::spec().exponents.count();
    out.run(&format!("keys/keyset_issue_{n}_keys"), || {
        secrets.issue_keyset(None, *fx.ttp.decryption.public(), &common::spec(), &mut OsRng).unwrap()
    });

    // withdrawal steps and sides
    let start = out.run("withdraw_step/user_start", || fx.start(1));
    let req = start.request().clone();
    let (session, commitment) = out.run("withdraw_step/bank_open", || fx.bank_open(&req));
    let pending = out.run("withdraw_step/user_receive_commitment", || {
        start.receive_commitment(&fx.keys, &commitment, &mut OsRng).unwrap()
    });
    let answer = out.run("withdraw_step/bank_answer", || fx.bank_answer(&req, session, &commitment, &pending.challenge()));
    out.run("withdraw_step/user_finish", || pending.finish(&answer).unwrap());
    for coins in [1usize, 64] {
        let (user, bank) = withdraw_sides(&fx, coins);
        out.put(&format!("withdraw/user/{coins}"), &user);
        out.put(&format!("withdraw/bank/{coins}"), &bank);
        if coins == 1 {
            out.put("baseline/faircash_user_withdraw", &user);
            out.put("baseline/faircash_bank_withdraw", &bank);
        }
    }
    let (bank, keyset, _) = fx.memory_bank(1 << 40);
    let scratch = std::env::temp_dir().join(format!("count-ops-{}.db", std::process::id()));
    let (sqlite_bank, sqlite_keyset, _) =
        fx.bank(faircash::store::sqlite::SqliteBankStore::open(&scratch).unwrap(), 1 << 40);
    for coins in [1usize, 64] {
        out.put(&format!("withdraw/bank_memory_store/{coins}"), &bank_role(&fx, &bank, &keyset, coins));
        out.put(
            &format!("withdraw/bank_sqlite_store/{coins}"),
            &bank_role(&fx, &sqlite_bank, &sqlite_keyset, coins),
        );
    }
    drop(sqlite_bank);
    let _ = std::fs::remove_file(&scratch);

    // payment
    let coins = fx.coins(1024);
    for n in [1usize, 8, 64] {
        let refs: Vec<&WalletCoin> = coins[..n].iter().collect();
        let request = fx.request(n as u64);
        let p = out.run(&format!("pay/create/{n}"), || {
            create_payment(&request, &fx.keyset, &fx.user, &refs, &mut OsRng).unwrap()
        });
        out.run(&format!("pay/verify/{n}"), || verify_payment(&p, &fx.keyset, &mut OsRng).unwrap());
        if n == 1 {
            out.run("baseline/faircash_merchant_verify", || {
                verify_payment(&p, &fx.keyset, &mut OsRng).unwrap()
            });
        }
        let bytes = p.to_bytes();
        out.run(&format!("encoding/payment_encode/{n}"), || p.to_bytes());
        out.run(&format!("encoding/payment_decode/{n}"), || Payment::from_bytes(&bytes).unwrap());
    }
    let coin: Coin = coins[0].coin;
    let bytes = coin.to_bytes();
    out.run("encoding/coin_id", || coin.id());
    out.run("encoding/coin_encode", || coin.to_bytes());
    out.run("encoding/coin_decode", || Coin::from_bytes(&bytes).unwrap());

    // deposit
    let payments: Vec<Payment> = coins.chunks(1).map(|c| fx.pay(c)).collect();
    let challenges = common::challenges(&fx, &payments);
    let keysets = [fx.keyset.clone()];
    let mkey = *fx.merchant.public();
    for n in [1usize, 16, 64, 256, 1024] {
        let req = fx.deposit(payments[..n].to_vec());
        out.run(&format!("deposit/batched/{n}"), || {
            verify_deposit(&req, &mkey, &keysets, TODAY, &mut OsRng).unwrap()
        });
        out.run(&format!("deposit/one_by_one/{n}"), || common::deposit_one_by_one(&fx, &req));
        out.run(&format!("deposit/equations_batched/{n}"), || {
            common::equations_batched(&fx, &payments[..n], &challenges[..n])
        });
        out.run(&format!("deposit/equations_one_by_one/{n}"), || {
            common::equations_one_by_one(&fx, &payments[..n], &challenges[..n])
        });
    }
    out.run("deposit/queue_only/1024", || {
        let mut batch = faircash::crypto::batch::BatchVerifier::with_capacity(&mut OsRng, 16 * 1024 + 32);
        common::queue_equations(&fx, &payments, &challenges, &mut batch);
        batch
    });
    let big: Vec<Payment> = coins.chunks(64).map(|c| fx.pay(c)).collect();
    let req = fx.deposit(big);
    out.run("deposit/batched_64_coin_payments/1024", || {
        verify_deposit(&req, &mkey, &keysets, TODAY, &mut OsRng).unwrap()
    });
    out.run("deposit/one_by_one_64_coin_payments/1024", || common::deposit_one_by_one(&fx, &req));

    // tracing
    let clock = ManualClock::at_day(TODAY);
    clock.advance_secs(3600);
    let judge = SigningKey::generate(&mut OsRng);
    let owner = TraceRecord::Owner { payment: payments[0].clone(), coin_index: 0 };
    let coin_record =
        TraceRecord::Coin { request: fx.start(1).request().clone(), identity: *fx.user.identity() };
    for (name, record) in [("owner", &owner), ("coin", &coin_record)] {
        let ttp = fx.ttp(&clock, &judge);
        let req = common::trace_request(record, &judge, &clock);
        let result = out.run(&format!("trace/trace/{name}"), || ttp.trace(&req, &mut OsRng).unwrap());
        let public = fx.ttp_statement();
        out.run(&format!("trace/verify_result/{name}"), || {
            result.verify(&public, &req.record, &req.warrant).unwrap()
        });
    }

    println!("{}", serde_json::to_string_pretty(&out.0).unwrap());
}
