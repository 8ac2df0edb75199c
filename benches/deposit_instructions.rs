//! Each deposit verification path run once over `n` one-coin payments
//! (default 1024), for instruction counts under callgrind, which a loaded
//! machine does not disturb (BENCHMARKS.md, "Instruction counts";
//! `scripts/count_instructions.sh`). Run natively it prints wall times
//! only as a smoke check.
//!
//! The paths are the `deposit` bench's: `batched` (`verify_deposit`),
//! `one_by_one` (the signature, then `verify_payment` per payment),
//! `equations_batched` and `equations_one_by_one` (the coins' group
//! equations alone). Each runs in its own `run_*` function, so
//! `--toggle-collect='deposit_instructions::run_*'` counts them and
//! nothing of the set-up.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{Fixture, TODAY};
use curve25519_dalek::scalar::Scalar;
use faircash::protocol::deposit::{verify_deposit, DepositRequest};
use faircash::protocol::pay::Payment;
use rand::rngs::OsRng;

#[inline(never)]
fn run_batched(fx: &Fixture, req: &DepositRequest) {
    let keysets = [fx.keyset.clone()];
    black_box(verify_deposit(req, fx.merchant.public(), &keysets, TODAY, &mut OsRng).expect("verifies"));
}

#[inline(never)]
fn run_one_by_one(fx: &Fixture, req: &DepositRequest) {
    common::deposit_one_by_one(fx, req);
}

#[inline(never)]
fn run_equations_batched(fx: &Fixture, payments: &[Payment], challenges: &[Vec<Scalar>]) {
    common::equations_batched(fx, payments, challenges);
}

#[inline(never)]
fn run_equations_one_by_one(fx: &Fixture, payments: &[Payment], challenges: &[Vec<Scalar>]) {
    common::equations_one_by_one(fx, payments, challenges);
}

fn main() {
    // `cargo bench` passes `--bench` (and may pass filters): the first
    // argument that is a number is `n`.
    let n = std::env::args().skip(1).find_map(|a| a.parse::<usize>().ok()).unwrap_or(1024);
    let fx = Fixture::new();
    let payments: Vec<Payment> = fx.coins(n).chunks(1).map(|c| fx.pay(c)).collect();
    let challenges = common::challenges(&fx, &payments);
    let req = fx.deposit(payments.clone());
    let time = |what: &str, f: &dyn Fn()| {
        let t = Instant::now();
        f();
        println!("{what}: {n} coins in {:?}", t.elapsed());
    };
    time("batched", &|| run_batched(&fx, &req));
    time("one_by_one", &|| run_one_by_one(&fx, &req));
    time("equations_batched", &|| run_equations_batched(&fx, &payments, &challenges));
    time("equations_one_by_one", &|| run_equations_one_by_one(&fx, &payments, &challenges));
}
