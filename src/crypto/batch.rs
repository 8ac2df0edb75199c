//! Batch verification of group equations.
//!
//! Each equation `Σ s_i·P_i = O` is multiplied by its own independent random
//! weight of 128 bits and all of them are summed into one multiscalar
//! multiplication. Terms on the same point (by encoding) are merged, so
//! shared generators and keys cost one term per batch. If any equation is
//! false, the combination is the identity with probability at most `2^-128`
//! over the weights (Schwartz–Zippel in one weight).
//!
//! One weight per *equation*, never per proof: with one weight per proof the
//! equations of a proof could cancel each other (`rho + x` in one and
//! `sigma1 - x` in another), because nothing hashes the responses of a
//! commitment-form signature.
//!
//! Other verifiers (the range proof, [`super::range`]) bring their own
//! equations: they draw one weight per equation with `BatchVerifier::weight`
//! and add pre-weighted terms: merged by encoding like every term above, on a
//! fixed generator table merged by index (no hashing), or unmerged for points
//! that appear in one term only (a proof's own points).
//!
//! # Security
//! Variable-time: use only on public data (verifiers).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_core::CryptoRngCore;

use super::VerifyError;
use crate::encoding::Point;

/// `-1 mod q`, the coefficient of every commitment, as its encoding.
const MINUS_ONE: [u8; 32] = [
    0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];
/// `1`, as its encoding.
const ONE: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// The hash of the merge index: point encodings folded with keys drawn for
/// each batch from its CSPRNG-seeded generator.
///
/// Encodings of group elements are uniformly distributed, so a keyed
/// multiply-fold of their four words spreads them well; an attacker who
/// chooses points (a payment's commitments) does not know the keys and so
/// cannot aim many of them at one bucket. About a fifth of SipHash's cost
/// on 32 bytes, paid for every term of every coin.
#[derive(Clone)]
struct KeyedFold([u64; 5]);

impl BuildHasher for KeyedFold {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { keys: self.0, state: self.0[4], word: 0 }
    }
}

/// See [`KeyedFold`].
struct FoldHasher {
    keys: [u64; 5],
    state: u64,
    word: usize,
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let x = u64::from_le_bytes(w) ^ self.keys[self.word % 4];
            let p = u128::from(self.state ^ x) * u128::from(self.keys[(self.word + 1) % 4] | 1);
            self.state = (p as u64) ^ ((p >> 64) as u64);
            self.word += 1;
        }
    }
    fn finish(&self) -> u64 {
        self.state
    }
}

/// Accumulates weighted equations and checks them all at once.
pub struct BatchVerifier {
    rng: StdRng,
    scalars: Vec<Scalar>,
    points: Vec<RistrettoPoint>,
    index: HashMap<[u8; 32], usize, KeyedFold>,
    /// Scalars on a prefix of a fixed generator table, by table.
    tables: Vec<(&'static [RistrettoPoint], Vec<Scalar>)>,
    equations: usize,
}

impl BatchVerifier {
    /// A new, empty batch whose weights are drawn from a generator seeded by `rng`.
    pub fn new(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut rng = StdRng::from_seed(seed);
        let keys = KeyedFold(rng.gen());
        BatchVerifier {
            rng,
            scalars: Vec::new(),
            points: Vec::new(),
            index: HashMap::with_hasher(keys),
            tables: Vec::new(),
            equations: 0,
        }
    }

    /// A batch with room for about `points` distinct points.
    pub fn with_capacity(rng: &mut impl CryptoRngCore, points: usize) -> Self {
        let mut b = Self::new(rng);
        b.scalars.reserve(points);
        b.points.reserve(points);
        b.index.reserve(points);
        b
    }

    /// The weight of one new equation: a uniformly random nonzero 128-bit
    /// integer from the batch's generator, independent of every other
    /// weight and of anything the prover sent. Counts the equation.
    ///
    /// A caller that adds its own terms multiplies every term of the
    /// equation by this weight, and draws a new weight for each equation.
    pub(crate) fn weight(&mut self) -> Scalar {
        self.equations += 1;
        loop {
            let w: u128 = self.rng.gen();
            if w != 0 {
                return Scalar::from(w);
            }
        }
    }

    /// Adds the (already weighted) term `s·P`, merged with every other term
    /// on the same point.
    pub(crate) fn add_term(&mut self, s: Scalar, p: &Point) {
        match self.index.get(p.as_bytes()) {
            Some(&i) => self.scalars[i] += s,
            None => {
                self.index.insert(*p.as_bytes(), self.points.len());
                self.scalars.push(s);
                self.points.push(*p.point());
            }
        }
    }

    /// Adds the (already weighted) term `s·P` without looking for other
    /// terms on `P`: for points that appear in one term of the batch only (a
    /// proof's own commitments). Correct for any point; a point added this
    /// way twice costs two terms instead of one.
    pub(crate) fn add_unmerged(&mut self, s: Scalar, p: &Point) {
        self.scalars.push(s);
        self.points.push(*p.point());
    }

    /// Adds the (already weighted) terms `s_i·table[i]` for the scalars in
    /// order, merged by index with every other term on the same table (the
    /// table is recognised by its address, so merging costs no hashing).
    ///
    /// # Panics
    /// If there are more scalars than table entries (a caller's bug: the
    /// callers size their scalars from the table).
    pub(crate) fn add_table_terms(
        &mut self,
        table: &'static [RistrettoPoint],
        scalars: impl ExactSizeIterator<Item = Scalar>,
    ) {
        assert!(scalars.len() <= table.len(), "more scalars than table entries");
        let slot = match self.tables.iter().position(|(t, _)| std::ptr::eq(*t, table)) {
            Some(i) => i,
            None => {
                self.tables.push((table, Vec::new()));
                self.tables.len() - 1
            }
        };
        let acc = &mut self.tables[slot].1;
        if acc.len() < scalars.len() {
            acc.resize(scalars.len(), Scalar::ZERO);
        }
        for (a, s) in acc.iter_mut().zip(scalars) {
            *a += s;
        }
    }

    /// Queues the equation `Σ s_i·P_i = O` under a fresh random weight.
    pub fn queue<'a>(&mut self, terms: impl IntoIterator<Item = (Scalar, &'a Point)>) {
        let w = self.weight();
        self.add_weighted(w, terms);
    }

    /// Queues the equation `Σ s_i·P_i - C = O` under a fresh random weight,
    /// for a commitment `C` that appears in this equation only (a proof's
    /// or signature's commitment): `C` is added without a merge lookup.
    pub fn queue_with_commitment<'a>(
        &mut self,
        terms: impl IntoIterator<Item = (Scalar, &'a Point)>,
        commitment: &Point,
    ) {
        let w = self.weight();
        self.add_unmerged(-w, commitment);
        self.add_weighted(w, terms);
    }

    fn add_weighted<'a>(&mut self, w: Scalar, terms: impl IntoIterator<Item = (Scalar, &'a Point)>) {
        let mut minus_w = None;
        for (s, p) in terms {
            // Commitments enter every equation with coefficient -1 (and
            // some terms with +1): skip the multiplication for those. The
            // comparison is of public coefficients (verifiers only), so
            // it compares encodings, not in constant time.
            let ws = match s.as_bytes() {
                b if *b == MINUS_ONE => *minus_w.get_or_insert_with(|| -w),
                b if *b == ONE => w,
                _ => w * s,
            };
            self.add_term(ws, p);
        }
    }

    /// Number of equations queued.
    pub fn equations(&self) -> usize {
        self.equations
    }

    /// Number of terms in the combined multiscalar multiplication (distinct
    /// points, except those added unmerged).
    pub fn terms(&self) -> usize {
        self.points.len() + self.tables.iter().map(|(_, s)| s.len()).sum::<usize>()
    }

    /// Checks every queued equation with one multiscalar multiplication.
    pub fn verify(mut self) -> Result<(), VerifyError> {
        for (table, scalars) in std::mem::take(&mut self.tables) {
            self.points.extend_from_slice(&table[..scalars.len()]);
            self.scalars.extend(scalars);
        }
        if self.points.is_empty() {
            return Ok(());
        }
        let sum = RistrettoPoint::vartime_multiscalar_mul(self.scalars.iter(), self.points.iter());
        if sum.is_identity() {
            Ok(())
        } else {
            Err(VerifyError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
    use rand::rngs::OsRng;

    #[test]
    fn true_equations_pass_and_one_false_equation_fails() {
        let p = Point::new(G * Scalar::from(5u64));
        let g = Point::new(G);
        let mut b = BatchVerifier::new(&mut OsRng);
        b.queue([(Scalar::from(5u64), &g), (-Scalar::ONE, &p)]);
        b.queue([(Scalar::from(10u64), &g), (-Scalar::from(2u64), &p)]);
        assert_eq!(b.terms(), 2);
        assert!(b.verify().is_ok());

        let mut b = BatchVerifier::new(&mut OsRng);
        b.queue([(Scalar::from(5u64), &g), (-Scalar::ONE, &p)]);
        b.queue([(Scalar::from(11u64), &g), (-Scalar::from(2u64), &p)]);
        assert!(b.verify().is_err());
    }

    #[test]
    fn the_coefficient_shortcuts_are_minus_one_and_one() {
        assert_eq!(MINUS_ONE, (-Scalar::ONE).to_bytes());
        assert_eq!(ONE, Scalar::ONE.to_bytes());
    }

    #[test]
    fn commitments_added_unmerged_give_the_same_verdict() {
        let g = Point::new(G);
        let p = Point::new(G * Scalar::from(5u64));
        for (coefficient, holds) in [(5u64, true), (6, false)] {
            let mut b = BatchVerifier::new(&mut OsRng);
            b.queue_with_commitment([(Scalar::from(coefficient), &g)], &p);
            // The same commitment again, in a second equation: two terms.
            b.queue_with_commitment([(Scalar::from(5u64), &g)], &p);
            assert_eq!(b.terms(), 3);
            assert_eq!(b.verify().is_ok(), holds);
        }
    }

    #[test]
    fn many_distinct_points_merge_by_encoding() {
        // Every point twice, in two equations: one term each.
        let points: Vec<Point> = (2..=501u64).map(|i| Point::new(G * Scalar::from(i))).collect();
        let g = Point::new(G);
        let mut b = BatchVerifier::new(&mut OsRng);
        for (i, p) in points.iter().enumerate() {
            let i = Scalar::from(i as u64 + 2);
            b.queue([(i, &g), (-Scalar::ONE, p)]);
            b.queue([(-i, &g), (Scalar::ONE, p)]);
        }
        assert_eq!(b.terms(), 501);
        assert!(b.verify().is_ok());
    }

    #[test]
    fn cancelling_errors_across_equations_are_caught() {
        // Two false equations whose errors cancel when summed with equal
        // weights: x·G too much in one, x·G too little in the other.
        let g = Point::new(G);
        let x = Scalar::from(3u64);
        let mut b = BatchVerifier::new(&mut OsRng);
        b.queue([(x, &g)]);
        b.queue([(-x, &g)]);
        assert!(b.verify().is_err());
    }
}
