#!/usr/bin/env python3
"""Copies curve25519-dalek's source and adds operation counters to it.

Usage: instrument_dalek.py SRC_DIR DST_DIR

The copy counts, per thread-agnostic global counters: point compressions
and decompressions, constant-time variable-base scalar multiplications,
basepoint-table multiplications, variable-time double-base
multiplications, hash-to-group calls, scalar inversions, and the size of
every multiscalar multiplication (constant-time: terms; variable-time:
terms and how many scalars are short, i.e. s or -s below 2^128, which a
signed-digit recoding handles in about half the additions). Used by
scripts/count_ops.sh only; nothing in the library or the benches links it.
"""
import shutil
import sys

src, dst = sys.argv[1], sys.argv[2]
shutil.rmtree(dst, ignore_errors=True)
shutil.copytree(src, dst)


def edit(path, old, new):
    path = f"{dst}/{path}"
    text = open(path).read()
    if text.count(old) != 1:
        sys.exit(f"{path}: expected exactly one {old!r}")
    open(path, "w").write(text.replace(old, new))


open(f"{dst}/src/counters.rs", "w").write('''//! Operation counters (instrumented copy, for counting only).
#![allow(missing_docs)]
extern crate std;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::vec::Vec;

pub static COMPRESS: AtomicUsize = AtomicUsize::new(0);
pub static DECOMPRESS: AtomicUsize = AtomicUsize::new(0);
pub static VARBASE: AtomicUsize = AtomicUsize::new(0);
pub static TABLE: AtomicUsize = AtomicUsize::new(0);
pub static DOUBLEBASE: AtomicUsize = AtomicUsize::new(0);
pub static H2G: AtomicUsize = AtomicUsize::new(0);
pub static INVERT: AtomicUsize = AtomicUsize::new(0);
pub static BATCH_INVERT: AtomicUsize = AtomicUsize::new(0);
pub static CT_MSM: Mutex<Vec<usize>> = Mutex::new(Vec::new());
pub static VT_MSM: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

pub fn inc(c: &AtomicUsize) {
    c.fetch_add(1, Relaxed);
}

pub fn is_short(s: &crate::scalar::Scalar) -> bool {
    s.as_bytes()[16..].iter().all(|b| *b == 0) || (-s).as_bytes()[16..].iter().all(|b| *b == 0)
}

#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub compress: usize,
    pub decompress: usize,
    pub varbase: usize,
    pub table: usize,
    pub doublebase: usize,
    pub h2g: usize,
    pub invert: usize,
    pub batch_invert: usize,
    pub ct_msm: Vec<usize>,
    pub vt_msm: Vec<(usize, usize)>,
}

pub fn take() -> Counts {
    Counts {
        compress: COMPRESS.swap(0, Relaxed),
        decompress: DECOMPRESS.swap(0, Relaxed),
        varbase: VARBASE.swap(0, Relaxed),
        table: TABLE.swap(0, Relaxed),
        doublebase: DOUBLEBASE.swap(0, Relaxed),
        h2g: H2G.swap(0, Relaxed),
        invert: INVERT.swap(0, Relaxed),
        batch_invert: BATCH_INVERT.swap(0, Relaxed),
        ct_msm: core::mem::take(&mut *CT_MSM.lock().unwrap()),
        vt_msm: core::mem::take(&mut *VT_MSM.lock().unwrap()),
    }
}
''')
edit("src/lib.rs", "pub mod scalar;", "pub mod scalar;\npub mod counters;")
edit("src/ristretto.rs", "    pub fn decompress(&self) -> Option<RistrettoPoint> {\n",
     "    pub fn decompress(&self) -> Option<RistrettoPoint> {\n        crate::counters::inc(&crate::counters::DECOMPRESS);\n")
edit("src/ristretto.rs", "    pub fn compress(&self) -> CompressedRistretto {\n",
     "    pub fn compress(&self) -> CompressedRistretto {\n        crate::counters::inc(&crate::counters::COMPRESS);\n")
edit("src/ristretto.rs",
     "    pub fn hash_from_bytes<D>(input: &[u8]) -> RistrettoPoint\n    where\n        D: Digest<OutputSize = U64> + Default,\n    {\n",
     "    pub fn hash_from_bytes<D>(input: &[u8]) -> RistrettoPoint\n    where\n        D: Digest<OutputSize = U64> + Default,\n    {\n"
     "        crate::counters::inc(&crate::counters::H2G);\n")
edit("src/backend/mod.rs", "pub fn variable_base_mul(point: &EdwardsPoint, scalar: &Scalar) -> EdwardsPoint {\n",
     "pub fn variable_base_mul(point: &EdwardsPoint, scalar: &Scalar) -> EdwardsPoint {\n    crate::counters::inc(&crate::counters::VARBASE);\n")
edit("src/backend/mod.rs", "pub fn vartime_double_base_mul(a: &Scalar, A: &EdwardsPoint, b: &Scalar) -> EdwardsPoint {\n",
     "pub fn vartime_double_base_mul(a: &Scalar, A: &EdwardsPoint, b: &Scalar) -> EdwardsPoint {\n    crate::counters::inc(&crate::counters::DOUBLEBASE);\n")
edit("src/edwards.rs", "        let _size = s_lo;\n",
     "        let _size = s_lo;\n        crate::counters::CT_MSM.lock().unwrap().push(s_lo);\n")
# Variable time: collect the scalars to count the short ones, then go on.
edit("src/edwards.rs", "        let size = s_lo;\n",
     "        let size = s_lo;\n"
     "        let scalars: alloc::vec::Vec<Scalar> = scalars.map(|s| *s.borrow()).collect();\n"
     "        let short = scalars.iter().filter(|s| crate::counters::is_short(s)).count();\n"
     "        crate::counters::VT_MSM.lock().unwrap().push((size, short));\n"
     "        let scalars = scalars.iter();\n")
edit("src/edwards.rs", "            fn mul_base(&self, scalar: &Scalar) -> $point {\n",
     "            fn mul_base(&self, scalar: &Scalar) -> $point {\n                crate::counters::inc(&crate::counters::TABLE);\n")
edit("src/scalar.rs", "    pub fn invert(&self) -> Scalar {\n",
     "    pub fn invert(&self) -> Scalar {\n        crate::counters::inc(&crate::counters::INVERT);\n")
edit("src/scalar.rs", "    pub fn batch_invert(inputs: &mut [Scalar]) -> Scalar {\n",
     "    pub fn batch_invert(inputs: &mut [Scalar]) -> Scalar {\n        crate::counters::inc(&crate::counters::BATCH_INVERT);\n")
