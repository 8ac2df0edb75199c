//! The hidden-expiry range proof (specs/protocol.md §7.3).
//!
//! Each coin carries `V = t·B + r_t·B~`, a Pedersen commitment to its expiry
//! day `t`. A payment on day `D` proves, for every coin, `0 <= t - D < 2^16`
//! with one aggregated Bulletproofs range proof over the commitments
//! `V_i - D·B`. The number of values must be a power of two, so the list is
//! padded with the identity commitment (value 0, blinding 0), which prover
//! and verifier both append themselves; it is never read from the wire.

use bulletproofs::RangeProof;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand_core::CryptoRngCore;

use super::schnorr::RngAdapter;
use super::VerifyError;
use crate::encoding::Point;
use crate::params::{Params, MAX_COINS_PER_PAYMENT, RANGE_BITS};
use crate::time::Day;

/// Why an expiry range proof could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeProofError {
    /// A coin expires before the payment day (`t < D`) or too far after it.
    #[error("coin {index} is not valid on day {day:?} (expiry {expiry:?})")]
    OutOfRange {
        /// Index of the coin in the payment.
        index: usize,
        /// Its expiry day.
        expiry: Day,
        /// The payment day.
        day: Day,
    },
    /// No coins, or more than 64.
    #[error("a payment holds 1 to 64 coins")]
    BadCount,
    /// The proving library failed or returned commitments that differ from
    /// the coins' (an internal inconsistency; nothing is sent).
    #[error("range proof construction failed")]
    Internal,
}

/// One coin's expiry opening: `V = t·B + r_t·B~`.
pub struct ExpiryOpening<'a> {
    /// The expiry day `t`.
    pub expiry: Day,
    /// The blinding `r_t`.
    pub blinding: &'a Scalar,
    /// The commitment `V` in the coin.
    pub commitment: &'a Point,
}

/// The padded number of range-proof parties for `n` coins.
pub fn padded_count(n: usize) -> usize {
    n.next_power_of_two()
}

/// The exact byte length of an aggregated proof for `n` coins.
pub fn proof_len(n: usize) -> usize {
    let bits = RANGE_BITS * padded_count(n);
    let lg = bits.trailing_zeros() as usize;
    (9 + 2 * lg) * 32
}

/// `D·B`, the shift of every commitment of a payment made on day `D`.
///
/// Computed once per payment, with the precomputed basepoint table
/// (`B = G` is the Ristretto basepoint), not once per coin.
fn day_shift(day: Day) -> RistrettoPoint {
    RistrettoPoint::mul_base(&Scalar::from(u64::from(day.0)))
}

/// `V - D·B`, given `D·B`.
fn shifted(v: &Point, day_shift: &RistrettoPoint) -> CompressedRistretto {
    (v.point() - day_shift).compress()
}

/// Proves `0 <= t_i - D < 2^16` for every opening, on transcript `t`.
///
/// # Security
/// Checks the range before proving and that the commitments the library
/// returns equal `V_i - D·B`, so an inconsistent coin never yields a proof.
pub fn prove(
    t: &mut Transcript,
    day: Day,
    openings: &[ExpiryOpening<'_>],
    rng: &mut impl CryptoRngCore,
) -> Result<RangeProof, RangeProofError> {
    let n = openings.len();
    if n == 0 || n > MAX_COINS_PER_PAYMENT {
        return Err(RangeProofError::BadCount);
    }
    let m = padded_count(n);
    let mut values = Vec::with_capacity(m);
    let mut blindings = Vec::with_capacity(m);
    for (index, o) in openings.iter().enumerate() {
        let diff = i64::from(o.expiry.0) - i64::from(day.0);
        if !(0..(1i64 << RANGE_BITS)).contains(&diff) {
            return Err(RangeProofError::OutOfRange { index, expiry: o.expiry, day });
        }
        values.push(diff as u64);
        blindings.push(*o.blinding);
    }
    values.resize(m, 0);
    blindings.resize(m, Scalar::ZERO);
    let p = Params::get();
    let (proof, commitments) = RangeProof::prove_multiple_with_rng(
        &p.bulletproofs,
        &p.pedersen,
        t,
        &values,
        &blindings,
        RANGE_BITS,
        &mut RngAdapter(rng),
    )
    .map_err(|_| RangeProofError::Internal)?;
    let shift = day_shift(day);
    for (i, c) in commitments.iter().enumerate() {
        let expected = match openings.get(i) {
            Some(o) => shifted(o.commitment, &shift),
            None => CompressedRistretto::default(),
        };
        if *c != expected {
            return Err(RangeProofError::Internal);
        }
    }
    Ok(proof)
}

/// Verifies the aggregated proof for the coins' commitments on day `day`.
pub fn verify(
    t: &mut Transcript,
    proof: &RangeProof,
    day: Day,
    commitments: &[&Point],
    rng: &mut impl CryptoRngCore,
) -> Result<(), VerifyError> {
    let n = commitments.len();
    if n == 0 || n > MAX_COINS_PER_PAYMENT {
        return Err(VerifyError);
    }
    let m = padded_count(n);
    let shift = day_shift(day);
    let mut shifted_all: Vec<CompressedRistretto> = commitments.iter().map(|v| shifted(v, &shift)).collect();
    shifted_all.resize(m, CompressedRistretto::default());
    let p = Params::get();
    proof
        .verify_multiple_with_rng(
            &p.bulletproofs,
            &p.pedersen,
            t,
            &shifted_all,
            RANGE_BITS,
            &mut RngAdapter(rng),
        )
        .map_err(|_| VerifyError)
}

/// Largest aggregated proof: 64 coins, `(9 + 2·log2(16·64))·32` bytes.
pub const MAX_PROOF_BYTES: usize = (9 + 2 * 10) * 32;

/// An aggregated expiry range proof with its canonical bytes.
///
/// # Invariant
/// `bytes == proof.to_bytes()`; equality compares the bytes.
#[derive(Clone, Debug)]
pub struct ExpiryProof {
    proof: RangeProof,
    bytes: Vec<u8>,
}

impl ExpiryProof {
    /// Wraps a proof.
    pub fn new(proof: RangeProof) -> Self {
        let bytes = proof.to_bytes();
        ExpiryProof { proof, bytes }
    }
    /// Parses canonical bytes (length a multiple of 32, canonical scalars).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_PROOF_BYTES {
            return None;
        }
        let proof = RangeProof::from_bytes(bytes).ok()?;
        if proof.to_bytes() != bytes {
            return None;
        }
        // Layout: A, S, T1, T2, t_x, t_x~, e~, (L_i, R_i)*, a, b. Every
        // point must be a canonical encoding; bulletproofs would only find
        // out during verification.
        let chunks = bytes.len() / 32;
        for i in (0..chunks).filter(|i| !(4..7).contains(i) && *i < chunks - 2) {
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
            if Point::from_bytes(&b).is_none() {
                crate::encoding::record_fault(crate::encoding::DecodeFault::InvalidPoint);
                return None;
            }
        }
        Some(ExpiryProof { proof, bytes: bytes.to_vec() })
    }
    /// The proof.
    pub fn proof(&self) -> &RangeProof {
        &self.proof
    }
    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl PartialEq for ExpiryProof {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for ExpiryProof {}

impl serde::Serialize for ExpiryProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::encoding::bounded_bytes::serialize(&self.bytes, s)
    }
}

impl<'de> serde::Deserialize<'de> for ExpiryProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = crate::encoding::bounded_bytes::deserialize::<D, MAX_PROOF_BYTES>(d)?;
        ExpiryProof::from_bytes(&bytes).ok_or_else(|| serde::de::Error::custom("malformed range proof"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn commit(t: Day, r: &Scalar) -> Point {
        let p = Params::get();
        Point::new(p.g.point() * Scalar::from(u64::from(t.0)) + p.b_blinding.point() * r)
    }

    #[test]
    fn three_coins_prove_and_verify_with_padding() {
        let day = Day(20_000);
        let rs: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut OsRng)).collect();
        let ts = [Day(20_000), Day(20_010), Day(20_365)];
        let vs: Vec<Point> = ts.iter().zip(&rs).map(|(t, r)| commit(*t, r)).collect();
        let openings: Vec<ExpiryOpening> =
            (0..3).map(|i| ExpiryOpening { expiry: ts[i], blinding: &rs[i], commitment: &vs[i] }).collect();
        let proof = prove(&mut Transcript::new(b"t"), day, &openings, &mut OsRng).unwrap();
        assert_eq!(proof.to_bytes().len(), proof_len(3));
        let refs: Vec<&Point> = vs.iter().collect();
        assert!(verify(&mut Transcript::new(b"t"), &proof, day, &refs, &mut OsRng).is_ok());
        // a later day makes the first coin expired: the same proof fails
        assert!(verify(&mut Transcript::new(b"t"), &proof, Day(20_001), &refs, &mut OsRng).is_err());
    }

    #[test]
    fn prover_refuses_an_expired_coin() {
        let r = Scalar::random(&mut OsRng);
        let v = commit(Day(99), &r);
        let o = [ExpiryOpening { expiry: Day(99), blinding: &r, commitment: &v }];
        let err = prove(&mut Transcript::new(b"t"), Day(100), &o, &mut OsRng).unwrap_err();
        assert!(matches!(err, RangeProofError::OutOfRange { index: 0, .. }));
    }

    #[test]
    fn prover_refuses_a_commitment_that_does_not_open() {
        let r = Scalar::random(&mut OsRng);
        let v = commit(Day(150), &r);
        let o = [ExpiryOpening { expiry: Day(120), blinding: &r, commitment: &v }];
        let err = prove(&mut Transcript::new(b"t"), Day(100), &o, &mut OsRng).unwrap_err();
        assert_eq!(err, RangeProofError::Internal);
    }

    #[test]
    fn proof_lengths_match_the_formula() {
        assert_eq!(proof_len(1), (9 + 8) * 32);
        assert_eq!(proof_len(64), (9 + 20) * 32);
        assert_eq!(proof_len(33), (9 + 20) * 32);
    }
}
