//! The hidden-expiry range proof (specs/protocol.md §8.3).
//!
//! Each coin carries `V = t·B + r_t·B~`, a Pedersen commitment to its expiry
//! day `t`. A payment on day `D` proves, for every coin, `0 <= t - D < 2^16`
//! with one aggregated Bulletproofs range proof over the commitments
//! `V_i - D·B`. The number of values must be a power of two, so the list is
//! padded with the identity commitment (value 0, blinding 0), which prover
//! and verifier both append themselves; it is never read from the wire.
//!
//! The proof is made by bulletproofs 5 ([`prove`]). It is verified here
//! ([`queue`]), from the protocol text alone: the verifier replays every
//! transcript step of the proof exactly as bulletproofs' verifier does (so
//! the payment transcript continues in the same state, and the spend
//! challenges drawn from it afterwards are the same), derives the proof's
//! verification scalars, and adds its two equations to a [`BatchVerifier`],
//! each under its own random weight. All proofs of a deposit and all linear
//! equations of its coins so end in one multiscalar multiplication; the
//! shared generators (`B`, `B~`, the vector generators) merge across proofs.
//! It accepts exactly the proofs bulletproofs' own verifier accepts (the
//! tests compare the two on honest and tampered proofs of every size).

use std::cell::Cell;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand_core::CryptoRngCore;

use super::batch::BatchVerifier;
use super::schnorr::RngAdapter;
use super::transcript::FaircashTranscript;
use super::VerifyError;
use crate::encoding::{record_fault, DecodeFault, Point};
use crate::params::{Params, RangeGenerators, MAX_COINS_PER_PAYMENT, RANGE_BITS};
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

/// The number of `(L, R)` pairs of the proof for `n` coins: `log2(16·m)`.
fn rounds(n: usize) -> usize {
    (RANGE_BITS * padded_count(n)).trailing_zeros() as usize
}

/// The exact byte length of an aggregated proof for `n` coins.
pub fn proof_len(n: usize) -> usize {
    (9 + 2 * rounds(n)) * 32
}

/// `D·B`, the shift of every commitment of a payment made on day `D`.
///
/// One basepoint-table multiplication per day and thread: the last day's
/// shift is remembered, since the payments of a deposit (and a merchant's
/// payments) mostly share their day.
fn day_shift(day: Day) -> RistrettoPoint {
    thread_local! {
        static LAST: Cell<Option<(Day, RistrettoPoint)>> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((d, shift)) if d == day => shift,
        _ => {
            // `B = G` is the Ristretto basepoint.
            let shift = RistrettoPoint::mul_base(&Scalar::from(u64::from(day.0)));
            last.set(Some((day, shift)));
            shift
        }
    })
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
) -> Result<ExpiryProof, RangeProofError> {
    let n = openings.len();
    if n == 0 || n > MAX_COINS_PER_PAYMENT {
        return Err(RangeProofError::BadCount);
    }
    let m = padded_count(n);
    let mut values = Vec::with_capacity(m);
    // The blindings `r_t` are secrets: the copy is wiped when dropped.
    let mut blindings = zeroize::Zeroizing::new(Vec::with_capacity(m));
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
    let (proof, commitments) = bulletproofs::RangeProof::prove_multiple_with_rng(
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
    ExpiryProof::from_bytes(&proof.to_bytes()).ok_or(RangeProofError::Internal)
}

/// The challenges of a proof, from its transcript.
struct Challenges {
    /// Parties `m` (the padded count).
    parties: usize,
    y: Scalar,
    z: Scalar,
    x: Scalar,
    w: Scalar,
    /// The inner-product challenges `u_1 .. u_l`, in round order.
    u: Vec<Scalar>,
}

/// Replays the proof's transcript steps on `t` (specs/protocol.md §8.3,
/// "Verifier", steps 1–2), exactly as bulletproofs' verifier does: the
/// domain separators, the shifted and padded commitments, each point after
/// refusing the identity, the scalars, and the inner-product rounds.
///
/// Refuses a proof whose number of rounds does not fit `n` coins, and any
/// of `A, S, T1, T2, L_j, R_j` that is the identity.
fn replay(
    t: &mut Transcript,
    proof: &ExpiryProof,
    day: Day,
    commitments: &[&Point],
) -> Result<Challenges, VerifyError> {
    let n = commitments.len();
    if n == 0 || n > MAX_COINS_PER_PAYMENT || proof.fields.l.len() != rounds(n) {
        return Err(VerifyError);
    }
    let m = padded_count(n);
    t.append_message(b"dom-sep", b"rangeproof v1");
    t.append_u64(b"n", RANGE_BITS as u64);
    t.append_u64(b"m", m as u64);
    let shift = day_shift(day);
    for v in commitments {
        t.append_message(b"V", shifted(v, &shift).as_bytes());
    }
    for _ in n..m {
        t.append_message(b"V", CompressedRistretto::default().as_bytes());
    }
    t.validate_and_append_point(b"A", &proof.fields.a)?;
    t.validate_and_append_point(b"S", &proof.fields.s)?;
    let y = t.challenge_scalar(b"y");
    let z = t.challenge_scalar(b"z");
    t.validate_and_append_point(b"T_1", &proof.fields.t1)?;
    t.validate_and_append_point(b"T_2", &proof.fields.t2)?;
    let x = t.challenge_scalar(b"x");
    t.append_scalar(b"t_x", &proof.fields.t_x);
    t.append_scalar(b"t_x_blinding", &proof.fields.t_x_blinding);
    t.append_scalar(b"e_blinding", &proof.fields.e_blinding);
    let w = t.challenge_scalar(b"w");
    t.append_message(b"dom-sep", b"ipp v1");
    t.append_u64(b"n", (RANGE_BITS * m) as u64);
    let mut u = Vec::with_capacity(proof.fields.l.len());
    for (l, r) in proof.fields.l.iter().zip(&proof.fields.r) {
        t.validate_and_append_point(b"L", l)?;
        t.validate_and_append_point(b"R", r)?;
        u.push(t.challenge_scalar(b"u"));
    }
    Ok(Challenges { parties: m, y, z, x, w, u })
}

/// `Σ_{i < n} x^i` for `n` a power of two, in `log2(n)` steps.
fn sum_of_powers(x: &Scalar, n: usize) -> Scalar {
    debug_assert!(n.is_power_of_two());
    if n == 1 {
        return Scalar::ONE;
    }
    let (mut sum, mut factor, mut k) = (Scalar::ONE + x, *x, n);
    while k > 2 {
        factor *= factor;
        sum += factor * sum;
        k /= 2;
    }
    sum
}

/// Replays the proof on transcript `t` for the coins' commitments on day
/// `day` and queues its two equations into `batch`, each under its own
/// random weight (specs/protocol.md §8.3 "Verifier", §3.3).
///
/// The proof holds if and only if both equations hold; `batch.verify()`
/// checks them with everything else in the batch. On error (wrong size for
/// the number of coins, an identity point) nothing was queued, and `t` is
/// left mid-proof.
///
/// # Security
/// Variable-time on public data. The weights come from the batch's
/// generator, never from the transcript. The transcript ends in the state
/// bulletproofs' verifier leaves it in, so challenges drawn from it
/// afterwards are the prover's.
pub fn queue(
    t: &mut Transcript,
    proof: &ExpiryProof,
    day: Day,
    commitments: &[&Point],
    batch: &mut BatchVerifier,
) -> Result<(), VerifyError> {
    let Challenges { parties: m, y, z, x, w, u } = replay(t, proof, day, commitments)?;
    let bits = RANGE_BITS * m;
    let rounds = u.len();
    // Inverses of every u_j and of y, with one field inversion. A zero
    // challenge (a hash output; probability 2^-252) is refused.
    let mut inv: Vec<Scalar> = u.iter().copied().chain(std::iter::once(y)).collect();
    if inv.contains(&Scalar::ZERO) {
        return Err(VerifyError);
    }
    Scalar::batch_invert(&mut inv);
    let y_inv = inv[rounds];
    let u_inv = &inv[..rounds];
    let u_sq: Vec<Scalar> = u.iter().map(|c| c * c).collect();
    // s_i = Π_j u_j^{±1}: u_j (round j, 1-based) with exponent +1 when bit
    // (l - j) of i is set, -1 otherwise. Built from s_0 = Π u_j^{-1}.
    let mut s = Vec::with_capacity(bits);
    s.push(u_inv.iter().product::<Scalar>());
    for i in 1..bits {
        let top = (usize::BITS - 1 - i.leading_zeros()) as usize;
        s.push(s[i - (1 << top)] * u_sq[rounds - 1 - top]);
    }

    let p = Params::get();
    let gens = RangeGenerators::get();
    let zz = z * z;
    // E_ipp under weight rho, E_t under weight sigma.
    let rho = batch.weight();
    let sigma = batch.weight();

    // G_i: rho·(-z - a·s_i).
    let (rho_z, rho_a, rho_b) = (rho * z, rho * proof.fields.ipp_a, rho * proof.fields.ipp_b);
    batch.add_table_terms(&gens.g, s.iter().map(|s_i| -rho_z - rho_a * s_i));
    // H_i: rho·(z + y^-i·(z^(2+j)·2^k - b·s_(N-1-i))) for i = 16·j + k.
    let mut h = Vec::with_capacity(bits);
    let mut y_inv_i = Scalar::ONE;
    let mut rho_z_j = rho * zz;
    for j in 0..m {
        let mut two_k = rho_z_j;
        for k in 0..RANGE_BITS {
            let i = RANGE_BITS * j + k;
            h.push(rho_z + y_inv_i * (two_k - rho_b * s[bits - 1 - i]));
            two_k += two_k;
            y_inv_i *= y_inv;
        }
        rho_z_j *= z;
    }
    batch.add_table_terms(&gens.h, h.into_iter());

    // The proof's own points.
    batch.add_unmerged(rho, &proof.fields.a);
    batch.add_unmerged(rho * x, &proof.fields.s);
    for j in 0..rounds {
        batch.add_unmerged(rho * u_sq[j], &proof.fields.l[j]);
        batch.add_unmerged(rho * (u_inv[j] * u_inv[j]), &proof.fields.r[j]);
    }
    batch.add_unmerged(sigma * x, &proof.fields.t1);
    batch.add_unmerged(sigma * (x * x), &proof.fields.t2);

    // sigma·z^(2+j)·(V_j - D·B): V_j merges with the coin's other terms,
    // the shift with B. The padding commitments are O.
    let mut sigma_z_j = sigma * zz;
    let mut shift_total = Scalar::ZERO;
    for v in commitments {
        batch.add_term(sigma_z_j, v);
        shift_total += sigma_z_j;
        sigma_z_j *= z;
    }
    let two_n_minus_1 = Scalar::from((1u64 << RANGE_BITS) - 1);
    let delta = (z - zz) * sum_of_powers(&y, bits) - zz * z * two_n_minus_1 * sum_of_powers(&z, m);
    let b = rho * (w * (proof.fields.t_x - proof.fields.ipp_a * proof.fields.ipp_b))
        + sigma * (delta - proof.fields.t_x)
        - Scalar::from(u64::from(day.0)) * shift_total;
    batch.add_term(b, &p.g);
    batch.add_term(-(rho * proof.fields.e_blinding) - sigma * proof.fields.t_x_blinding, &p.b_blinding);
    Ok(())
}

/// Verifies the aggregated proof for the coins' commitments on day `day`,
/// on its own (one multiscalar multiplication).
pub fn verify(
    t: &mut Transcript,
    proof: &ExpiryProof,
    day: Day,
    commitments: &[&Point],
    rng: &mut impl CryptoRngCore,
) -> Result<(), VerifyError> {
    let mut batch = BatchVerifier::with_capacity(rng, 2 * proof.fields.l.len() + commitments.len() + 6);
    queue(t, proof, day, commitments, &mut batch)?;
    batch.verify()
}

/// Largest aggregated proof: 64 coins, `(9 + 2·log2(16·64))·32` bytes.
pub const MAX_PROOF_BYTES: usize = (9 + 2 * 10) * 32;

/// An aggregated expiry range proof: its canonical bytes and its parsed
/// fields (specs/wire.md §5.6).
///
/// # Invariant
/// `bytes` is the concatenation of `A, S, T1, T2, t_x, t_x_blinding,
/// e_blinding, (L_j, R_j)*, a, b`, and `fields` holds what each 32 bytes
/// decode to; `l` and `r` have the same length. Equality compares the bytes.
#[derive(Clone)]
pub struct ExpiryProof {
    bytes: Vec<u8>,
    fields: Box<ProofFields>,
}

/// The decoded fields of an [`ExpiryProof`] (boxed: a payment stays small).
#[derive(Clone)]
struct ProofFields {
    a: Point,
    s: Point,
    t1: Point,
    t2: Point,
    t_x: Scalar,
    t_x_blinding: Scalar,
    e_blinding: Scalar,
    l: Vec<Point>,
    r: Vec<Point>,
    ipp_a: Scalar,
    ipp_b: Scalar,
}

impl ExpiryProof {
    /// Parses canonical bytes: a length of `(9 + 2k)·32` bytes, at most
    /// [`MAX_PROOF_BYTES`], canonical scalars, then canonical points (a
    /// point that is not records [`DecodeFault::InvalidPoint`]). The
    /// identity is a valid encoding here; verification refuses it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let len = bytes.len();
        if len > MAX_PROOF_BYTES
            || !len.is_multiple_of(32)
            || len < 9 * 32
            || !(len / 32 - 9).is_multiple_of(2)
        {
            return None;
        }
        let chunks = len / 32;
        let rounds = (chunks - 9) / 2;
        let chunk = |i: usize| -> [u8; 32] {
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
            b
        };
        // The scalars first: a non-canonical one makes the bytes malformed.
        let scalar = |i: usize| Option::<Scalar>::from(Scalar::from_canonical_bytes(chunk(i)));
        let (t_x, t_x_blinding, e_blinding) = (scalar(4)?, scalar(5)?, scalar(6)?);
        let (ipp_a, ipp_b) = (scalar(chunks - 2)?, scalar(chunks - 1)?);
        let point = |i: usize| {
            let p = Point::from_bytes(&chunk(i));
            if p.is_none() {
                record_fault(DecodeFault::InvalidPoint);
            }
            p
        };
        let (a, s, t1, t2) = (point(0)?, point(1)?, point(2)?, point(3)?);
        let mut l = Vec::with_capacity(rounds);
        let mut r = Vec::with_capacity(rounds);
        for j in 0..rounds {
            l.push(point(7 + 2 * j)?);
            r.push(point(8 + 2 * j)?);
        }
        let fields = ProofFields { a, s, t1, t2, t_x, t_x_blinding, e_blinding, l, r, ipp_a, ipp_b };
        Some(ExpiryProof { bytes: bytes.to_vec(), fields: Box::new(fields) })
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for ExpiryProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExpiryProof").field(&hex::encode(&self.bytes)).finish()
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

/// The prover of specs/protocol.md §8.3, written from its text alone, for
/// any values (scalars, in range or not): a test of the text (its proofs
/// of values in range verify under bulletproofs' verifier), and the only
/// way to make a proof for an expired coin's true commitment, whose
/// transcript then matches the verifier's (bulletproofs' prover takes
/// `u64` values only).
#[cfg(test)]
pub(crate) mod spec_prover {
    use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};

    use super::*;

    fn inner(a: &[Scalar], b: &[Scalar]) -> Scalar {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn msm(s: &[Scalar], p: &[RistrettoPoint]) -> RistrettoPoint {
        RistrettoPoint::vartime_multiscalar_mul(s, p)
    }

    /// Proves for `V'_j = values[j]·B + blindings[j]·B~` (`m` a power of
    /// two), on `t`; returns the proof's bytes. Bit `k` of a value is bit
    /// `k` of its 32-byte little-endian encoding.
    pub(crate) fn prove(
        t: &mut Transcript,
        values: &[Scalar],
        blindings: &[Scalar],
        rng: &mut impl CryptoRngCore,
    ) -> Vec<u8> {
        let p = Params::get();
        let gens = RangeGenerators::get();
        let (b, b_t) = (*p.g.point(), *p.b_blinding.point());
        let m = values.len();
        assert!(m.is_power_of_two() && m == blindings.len());
        let n = RANGE_BITS * m;
        t.append_message(b"dom-sep", b"rangeproof v1");
        t.append_u64(b"n", RANGE_BITS as u64);
        t.append_u64(b"m", m as u64);
        for (v, g) in values.iter().zip(blindings) {
            t.append_message(b"V", (b * v + b_t * g).compress().as_bytes());
        }
        // Step 1.
        let bit = |v: &Scalar, k: usize| Scalar::from(u64::from((v.as_bytes()[k / 8] >> (k % 8)) & 1));
        let a_l: Vec<Scalar> = (0..n).map(|i| bit(&values[i / RANGE_BITS], i % RANGE_BITS)).collect();
        let a_r: Vec<Scalar> = a_l.iter().map(|x| x - Scalar::ONE).collect();
        fn rand(rng: &mut impl CryptoRngCore, k: usize) -> Vec<Scalar> {
            (0..k).map(|_| Scalar::random(rng)).collect()
        }
        let (alpha, rho) = (rand(rng, m), rand(rng, m));
        let (s_l, s_r) = (rand(rng, n), rand(rng, n));
        let (g, h) = (&gens.g[..n], &gens.h[..n]);
        let a = b_t * alpha.iter().sum::<Scalar>() + msm(&a_l, g) + msm(&a_r, h);
        let s = b_t * rho.iter().sum::<Scalar>() + msm(&s_l, g) + msm(&s_r, h);
        t.append_point(b"A", &Point::new(a));
        t.append_point(b"S", &Point::new(s));
        let y = t.challenge_scalar(b"y");
        let z = t.challenge_scalar(b"z");
        // Step 2.
        let mut y_i = Scalar::ONE;
        let (mut l0, mut l1, mut r0, mut r1) = (vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let (j, k) = (i / RANGE_BITS, i % RANGE_BITS);
            let z_j2 = (0..2 + j).fold(Scalar::ONE, |acc, _| acc * z);
            l0.push(a_l[i] - z);
            l1.push(s_l[i]);
            r0.push(y_i * (a_r[i] + z) + z_j2 * Scalar::from(1u64 << k));
            r1.push(y_i * s_r[i]);
            y_i *= y;
        }
        let (tau1, tau2) = (rand(rng, m), rand(rng, m));
        let (mut t1, mut t2) = (RistrettoPoint::identity(), RistrettoPoint::identity());
        let mut poly = Vec::new();
        for j in 0..m {
            let part = RANGE_BITS * j..RANGE_BITS * (j + 1);
            let c0 = inner(&l0[part.clone()], &r0[part.clone()]);
            let c1 =
                inner(&l0[part.clone()], &r1[part.clone()]) + inner(&l1[part.clone()], &r0[part.clone()]);
            let c2 = inner(&l1[part.clone()], &r1[part]);
            t1 += b * c1 + b_t * tau1[j];
            t2 += b * c2 + b_t * tau2[j];
            poly.push((c0, c1, c2));
        }
        t.append_point(b"T_1", &Point::new(t1));
        t.append_point(b"T_2", &Point::new(t2));
        let x = t.challenge_scalar(b"x");
        // Step 3.
        let t_x: Scalar = poly.iter().map(|(c0, c1, c2)| c0 + c1 * x + c2 * x * x).sum();
        let t_x_blinding: Scalar = (0..m)
            .map(|j| {
                (0..2 + j).fold(Scalar::ONE, |acc, _| acc * z) * blindings[j] + tau1[j] * x + tau2[j] * x * x
            })
            .sum();
        let e_blinding: Scalar = (0..m).map(|j| alpha[j] + rho[j] * x).sum();
        let mut va: Vec<Scalar> = (0..n).map(|i| l0[i] + l1[i] * x).collect();
        let mut vb: Vec<Scalar> = (0..n).map(|i| r0[i] + r1[i] * x).collect();
        t.append_scalar(b"t_x", &t_x);
        t.append_scalar(b"t_x_blinding", &t_x_blinding);
        t.append_scalar(b"e_blinding", &e_blinding);
        let w = t.challenge_scalar(b"w");
        // Step 4.
        let q = b * w;
        let y_inv = y.invert();
        let mut gv: Vec<RistrettoPoint> = g.to_vec();
        let mut y_inv_i = Scalar::ONE;
        let mut hv: Vec<RistrettoPoint> = h
            .iter()
            .map(|h_i| {
                let p = h_i * y_inv_i;
                y_inv_i *= y_inv;
                p
            })
            .collect();
        t.append_message(b"dom-sep", b"ipp v1");
        t.append_u64(b"n", n as u64);
        let mut lr = Vec::new();
        while va.len() > 1 {
            let half = va.len() / 2;
            let (a_lo, a_hi) = va.split_at(half);
            let (b_lo, b_hi) = vb.split_at(half);
            let (g_lo, g_hi) = gv.split_at(half);
            let (h_lo, h_hi) = hv.split_at(half);
            let l = msm(a_lo, g_hi) + msm(b_hi, h_lo) + q * inner(a_lo, b_hi);
            let r = msm(a_hi, g_lo) + msm(b_lo, h_hi) + q * inner(a_hi, b_lo);
            t.append_point(b"L", &Point::new(l));
            t.append_point(b"R", &Point::new(r));
            let u = t.challenge_scalar(b"u");
            let u_inv = u.invert();
            let fold_s = |lo: &[Scalar], hi: &[Scalar], x: Scalar, y: Scalar| -> Vec<Scalar> {
                lo.iter().zip(hi).map(|(p, q)| x * p + y * q).collect()
            };
            let fold_p =
                |lo: &[RistrettoPoint], hi: &[RistrettoPoint], x: Scalar, y: Scalar| -> Vec<RistrettoPoint> {
                    lo.iter().zip(hi).map(|(p, q)| p * x + q * y).collect()
                };
            let (na, nb) = (fold_s(a_lo, a_hi, u, u_inv), fold_s(b_lo, b_hi, u_inv, u));
            let (ng, nh) = (fold_p(g_lo, g_hi, u_inv, u), fold_p(h_lo, h_hi, u, u_inv));
            (va, vb, gv, hv) = (na, nb, ng, nh);
            lr.push((l, r));
        }
        let mut out = Vec::new();
        for p in [a, s, t1, t2] {
            out.extend_from_slice(p.compress().as_bytes());
        }
        for x in [t_x, t_x_blinding, e_blinding] {
            out.extend_from_slice(x.as_bytes());
        }
        for (l, r) in lr {
            out.extend_from_slice(l.compress().as_bytes());
            out.extend_from_slice(r.compress().as_bytes());
        }
        out.extend_from_slice(va[0].as_bytes());
        out.extend_from_slice(vb[0].as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulletproofs::RangeProof;
    use curve25519_dalek::traits::Identity;
    use proptest::prelude::*;
    use rand::rngs::OsRng;
    use rand::SeedableRng;

    const DAY: Day = Day(20_000);

    fn commit(t: Day, r: &Scalar) -> Point {
        let p = Params::get();
        Point::new(p.g.point() * Scalar::from(u64::from(t.0)) + p.b_blinding.point() * r)
    }

    /// The payment-side context every proof here is made on.
    fn context() -> Transcript {
        let mut t = Transcript::new(b"faircash/v1/range-test");
        t.append_message(b"context", b"a payment");
        t
    }

    /// `n` coins valid on `day` (expiries spread over the whole range, ends
    /// included) and their proof.
    struct Case {
        day: Day,
        commitments: Vec<Point>,
        proof: ExpiryProof,
    }

    impl Case {
        fn new(n: usize, day: Day, rng: &mut impl CryptoRngCore) -> Case {
            let expiries: Vec<Day> = (0..n)
                .map(|i| match i {
                    0 => day,
                    1 => Day(day.0 + (1 << RANGE_BITS) - 1),
                    _ => Day(day.0 + (rng.next_u32() % (1 << RANGE_BITS))),
                })
                .collect();
            let blindings: Vec<Scalar> = (0..n).map(|_| Scalar::random(rng)).collect();
            let commitments: Vec<Point> =
                expiries.iter().zip(&blindings).map(|(t, r)| commit(*t, r)).collect();
            let openings: Vec<ExpiryOpening> = (0..n)
                .map(|i| ExpiryOpening {
                    expiry: expiries[i],
                    blinding: &blindings[i],
                    commitment: &commitments[i],
                })
                .collect();
            let proof = prove(&mut context(), day, &openings, rng).unwrap();
            Case { day, commitments, proof }
        }

        fn refs(&self) -> Vec<&Point> {
            self.commitments.iter().collect()
        }
    }

    /// faircash's verifier on these bytes (refusing what does not parse);
    /// the transcript after it.
    fn ours(bytes: &[u8], day: Day, commitments: &[&Point]) -> (bool, Transcript) {
        let mut t = context();
        let ok = match ExpiryProof::from_bytes(bytes) {
            Some(proof) => verify(&mut t, &proof, day, commitments, &mut OsRng).is_ok(),
            None => false,
        };
        (ok, t)
    }

    /// bulletproofs 5's own verifier, as faircash called it before: the
    /// reference.
    fn reference(bytes: &[u8], day: Day, commitments: &[&Point]) -> (bool, Transcript) {
        let mut t = context();
        let Ok(proof) = RangeProof::from_bytes(bytes) else {
            return (false, t);
        };
        let m = padded_count(commitments.len());
        let shift = RistrettoPoint::mul_base(&Scalar::from(u64::from(day.0)));
        let mut shifted_all: Vec<CompressedRistretto> =
            commitments.iter().map(|v| (v.point() - shift).compress()).collect();
        shifted_all.resize(m, RistrettoPoint::identity().compress());
        let p = Params::get();
        let ok = proof
            .verify_multiple_with_rng(
                &p.bulletproofs,
                &p.pedersen,
                &mut t,
                &shifted_all,
                RANGE_BITS,
                &mut OsRng,
            )
            .is_ok();
        (ok, t)
    }

    /// Both verifiers agree on `bytes`; returns their verdict. When both
    /// accept, the transcripts continue identically.
    fn agree(what: &str, bytes: &[u8], day: Day, commitments: &[&Point]) -> bool {
        let (a, mut ta) = ours(bytes, day, commitments);
        let (b, mut tb) = reference(bytes, day, commitments);
        assert_eq!(a, b, "{what}: faircash says {a}, bulletproofs says {b}");
        if a {
            let (mut ca, mut cb) = ([0u8; 32], [0u8; 32]);
            ta.challenge_bytes(b"after", &mut ca);
            tb.challenge_bytes(b"after", &mut cb);
            assert_eq!(ca, cb, "{what}: the transcripts diverge after the proof");
        }
        a
    }

    fn set_chunk(bytes: &[u8], i: usize, chunk: &[u8; 32]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[32 * i..32 * (i + 1)].copy_from_slice(chunk);
        b
    }

    fn point_at(bytes: &[u8], i: usize) -> RistrettoPoint {
        let mut c = [0u8; 32];
        c.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
        CompressedRistretto(c).decompress().unwrap()
    }

    fn scalar_at(bytes: &[u8], i: usize) -> Scalar {
        let mut c = [0u8; 32];
        c.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
        Scalar::from_canonical_bytes(c).unwrap()
    }

    /// Every tampering of the proof, the day, the commitments and the sizes;
    /// each is refused by both verifiers.
    fn tamperings(case: &Case) -> Vec<(String, Vec<u8>, Day, Vec<Point>)> {
        let bytes = case.proof.as_bytes();
        let chunks = bytes.len() / 32;
        let rounds = (chunks - 9) / 2;
        let mut names: Vec<(usize, String)> =
            ["A", "S", "T1", "T2"].iter().enumerate().map(|(i, n)| (i, n.to_string())).collect();
        for j in 0..rounds {
            names.push((7 + 2 * j, format!("L_{j}")));
            names.push((8 + 2 * j, format!("R_{j}")));
        }
        let g = Params::get().g.point();
        let mut out = Vec::new();
        let same = |b: Vec<u8>| (b, case.day, case.commitments.clone());
        for (i, name) in names {
            let moved = (point_at(bytes, i) + g).compress().to_bytes();
            let (b, d, c) = same(set_chunk(bytes, i, &moved));
            out.push((format!("{name} + G"), b, d, c));
            let (b, d, c) = same(set_chunk(bytes, i, &[0; 32]));
            out.push((format!("{name} = O"), b, d, c));
        }
        for (i, name) in
            [(4, "t_x"), (5, "t_x_blinding"), (6, "e_blinding"), (chunks - 2, "a"), (chunks - 1, "b")]
        {
            let plus_one = (scalar_at(bytes, i) + Scalar::ONE).to_bytes();
            let (b, d, c) = same(set_chunk(bytes, i, &plus_one));
            out.push((format!("{name} + 1"), b, d, c));
        }
        out.push(("day + 1".into(), bytes.to_vec(), Day(case.day.0 + 1), case.commitments.clone()));
        out.push(("day - 1".into(), bytes.to_vec(), Day(case.day.0 - 1), case.commitments.clone()));
        let b_blinding = *Params::get().b_blinding.point();
        for i in 0..case.commitments.len() {
            let mut c = case.commitments.clone();
            c[i] = Point::new(c[i].point() + b_blinding);
            out.push((format!("V_{i} + B~"), bytes.to_vec(), case.day, c));
        }
        if case.commitments.len() >= 2 {
            let mut c = case.commitments.clone();
            c.swap(0, 1);
            out.push(("V_0 and V_1 swapped".into(), bytes.to_vec(), case.day, c));
        }
        // Sizes: a coin less, a coin more, a round less, a round more.
        let mut c = case.commitments.clone();
        c.pop();
        if !c.is_empty() {
            out.push(("one commitment less".into(), bytes.to_vec(), case.day, c));
        }
        if case.commitments.len() < MAX_COINS_PER_PAYMENT {
            let mut c = case.commitments.clone();
            c.push(Point::new(*g * Scalar::from(u64::from(case.day.0)) + b_blinding));
            out.push(("one commitment more".into(), bytes.to_vec(), case.day, c));
        }
        let mut shorter = bytes[..32 * (chunks - 4)].to_vec();
        shorter.extend_from_slice(&bytes[32 * (chunks - 2)..]);
        out.push(("a round less".into(), shorter, case.day, case.commitments.clone()));
        let mut longer = bytes[..32 * (chunks - 2)].to_vec();
        longer.extend_from_slice(&bytes[32 * (chunks - 4)..]);
        out.push(("a round more".into(), longer, case.day, case.commitments.clone()));
        out
    }

    #[test]
    fn every_proof_size_is_accepted_as_bulletproofs_accepts_it_and_every_tampering_refused() {
        for n in [1, 2, 3, 4, 8, 16, 32, 64] {
            let case = Case::new(n, DAY, &mut OsRng);
            assert_eq!(case.proof.as_bytes().len(), proof_len(n));
            assert!(agree(&format!("{n} coins"), case.proof.as_bytes(), case.day, &case.refs()), "{n} coins");
            for (what, bytes, day, commitments) in tamperings(&case) {
                let refs: Vec<&Point> = commitments.iter().collect();
                assert!(!agree(&format!("{n} coins, {what}"), &bytes, day, &refs), "{n} coins, {what}");
            }
        }
    }

    #[test]
    fn a_proof_for_a_value_out_of_range_is_refused() {
        // bulletproofs' prover takes any u64 and proves its low 16 bits: the
        // inner-product equation holds, only the polynomial one fails.
        let p = Params::get();
        for value in [1u64 << RANGE_BITS, (1 << RANGE_BITS) + 5, u64::MAX] {
            let r = Scalar::random(&mut OsRng);
            let (proof, shifted) = RangeProof::prove_single_with_rng(
                &p.bulletproofs,
                &p.pedersen,
                &mut context(),
                value,
                &r,
                RANGE_BITS,
                &mut OsRng,
            )
            .unwrap();
            let v = Point::new(shifted.decompress().unwrap() + day_shift(DAY));
            assert!(!agree(&format!("value {value:#x}"), &proof.to_bytes(), DAY, &[&v]));
        }
        // Control: the same construction with a value in range verifies.
        let r = Scalar::random(&mut OsRng);
        let (proof, shifted) = RangeProof::prove_single_with_rng(
            &p.bulletproofs,
            &p.pedersen,
            &mut context(),
            (1 << RANGE_BITS) - 1,
            &r,
            RANGE_BITS,
            &mut OsRng,
        )
        .unwrap();
        let v = Point::new(shifted.decompress().unwrap() + day_shift(DAY));
        assert!(agree("value 0xffff", &proof.to_bytes(), DAY, &[&v]));
    }

    #[test]
    fn the_protocol_text_prover_makes_proofs_bulletproofs_accepts() {
        for m in [1, 2, 4, 64] {
            let values: Vec<u64> = (0..m as u64).map(|j| (j * 4099 + 1) % (1 << RANGE_BITS)).collect();
            let blindings: Vec<Scalar> = (0..m).map(|_| Scalar::random(&mut OsRng)).collect();
            let scalars: Vec<Scalar> = values.iter().map(|v| Scalar::from(*v)).collect();
            let bytes = spec_prover::prove(&mut context(), &scalars, &blindings, &mut OsRng);
            assert_eq!(bytes.len(), proof_len(m));
            let vs: Vec<Point> =
                values.iter().zip(&blindings).map(|(v, r)| commit(Day(DAY.0 + *v as u32), r)).collect();
            let refs: Vec<&Point> = vs.iter().collect();
            assert!(agree(&format!("{m} values"), &bytes, DAY, &refs), "{m} values");
        }
        // An expired coin's true value, -1: refused by both.
        let r = Scalar::random(&mut OsRng);
        let bytes = spec_prover::prove(&mut context(), &[-Scalar::ONE], &[r], &mut OsRng);
        let v = commit(Day(DAY.0 - 1), &r);
        assert!(!agree("value -1", &bytes, DAY, &[&v]));
    }

    #[test]
    fn a_proof_on_another_transcript_is_refused() {
        let case = Case::new(2, DAY, &mut OsRng);
        let mut t = Transcript::new(b"faircash/v1/range-test");
        t.append_message(b"context", b"another payment");
        assert!(verify(&mut t, &case.proof, case.day, &case.refs(), &mut OsRng).is_err());
    }

    #[test]
    fn identity_points_are_refused_before_anything_is_queued() {
        let case = Case::new(1, DAY, &mut OsRng);
        let bytes = case.proof.as_bytes();
        for i in [0, 1, 2, 3, 7, 8, bytes.len() / 32 - 3] {
            let proof = ExpiryProof::from_bytes(&set_chunk(bytes, i, &[0; 32])).unwrap();
            let mut batch = BatchVerifier::new(&mut OsRng);
            let got = queue(&mut context(), &proof, case.day, &case.refs(), &mut batch);
            assert_eq!(got, Err(VerifyError), "chunk {i}");
            assert_eq!((batch.terms(), batch.equations()), (0, 0), "chunk {i}");
        }
    }

    #[test]
    fn the_padding_commitments_are_the_identity() {
        // Three coins are proved as four parties, the fourth committing to
        // (0, 0): its shifted commitment is O. Given as a fourth coin, `D·B`
        // (shifted: O) is therefore accepted by both verifiers, `D·B + B`
        // (shifted: a commitment to 1) by neither.
        let case = Case::new(3, DAY, &mut OsRng);
        let g = Params::get().g.point();
        let d_b = g * Scalar::from(u64::from(DAY.0));
        for (fourth, accepted) in [(d_b, true), (d_b + g, false)] {
            let four: Vec<Point> = case.commitments.iter().copied().chain([Point::new(fourth)]).collect();
            let refs: Vec<&Point> = four.iter().collect();
            assert_eq!(agree("a fourth commitment", case.proof.as_bytes(), case.day, &refs), accepted);
        }
    }

    #[test]
    fn proofs_and_equations_of_many_payments_hold_in_one_batch_and_one_bad_proof_fails_it() {
        let mut rng = OsRng;
        let cases: Vec<Case> = [1, 1, 2, 3, 8, 1, 64].iter().map(|n| Case::new(*n, DAY, &mut rng)).collect();
        let g = Params::get().g;
        let five_g = Point::new(g.point() * Scalar::from(5u64));
        let run = |bad: Option<usize>| {
            let mut batch = BatchVerifier::new(&mut OsRng);
            // A linear equation of the kind payments add: 5·G - (5G) = O.
            batch.queue([(Scalar::from(5u64), &g), (-Scalar::ONE, &five_g)]);
            for (i, case) in cases.iter().enumerate() {
                let mut commitments = case.commitments.clone();
                if bad == Some(i) {
                    // A commitment to one more day than proved.
                    commitments[0] = Point::new(commitments[0].point() + g.point());
                }
                let refs: Vec<&Point> = commitments.iter().collect();
                queue(&mut context(), &case.proof, case.day, &refs, &mut batch).unwrap();
            }
            assert_eq!(batch.equations(), 1 + 2 * cases.len());
            batch.verify()
        };
        assert_eq!(run(None), Ok(()));
        for bad in 0..cases.len() {
            assert_eq!(run(Some(bad)), Err(VerifyError), "proof {bad}");
        }
    }

    #[test]
    fn shared_generators_merge_across_proofs() {
        let cases: Vec<Case> = (0..4).map(|_| Case::new(1, DAY, &mut OsRng)).collect();
        let mut batch = BatchVerifier::new(&mut OsRng);
        for case in &cases {
            queue(&mut context(), &case.proof, case.day, &case.refs(), &mut batch).unwrap();
        }
        // Per proof: A, S, T1, T2, 4 (L, R) pairs and V; shared: 16 G_i,
        // 16 H_i, B and B~.
        assert_eq!(batch.terms(), 4 * (4 + 8 + 1) + 32 + 2);
        assert!(batch.verify().is_ok());
    }

    /// One random change of a proof's inputs.
    #[derive(Clone, Debug)]
    enum Mutation {
        None,
        FlipBit { byte: prop::sample::Index, bit: u8 },
        RandomPoint { chunk: prop::sample::Index },
        RandomScalar { chunk: prop::sample::Index },
        LaterDay { days: u32 },
        OtherCommitment { coin: prop::sample::Index },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            2 => Just(Mutation::None),
            1 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(byte, bit)| Mutation::FlipBit { byte, bit }),
            1 => any::<prop::sample::Index>().prop_map(|chunk| Mutation::RandomPoint { chunk }),
            1 => any::<prop::sample::Index>().prop_map(|chunk| Mutation::RandomScalar { chunk }),
            1 => (1u32..3).prop_map(|days| Mutation::LaterDay { days }),
            1 => any::<prop::sample::Index>().prop_map(|coin| Mutation::OtherCommitment { coin }),
        ]
    }

    proptest! {
        // Each case proves up to 64 values: few cases, short shrinking.
        #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 16, ..ProptestConfig::default() })]

        #[test]
        fn random_proofs_and_mutations_get_the_verdict_bulletproofs_gives(
            n in prop_oneof![Just(1usize), 2usize..=8, 9usize..=64, Just(64usize)],
            day in 1u32..1_000_000,
            seed in any::<u64>(),
            change in mutation(),
        ) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let case = Case::new(n, Day(day), &mut rng);
            let mut bytes = case.proof.as_bytes().to_vec();
            let mut commitments = case.commitments.clone();
            let mut day = case.day;
            let chunks = bytes.len() / 32;
            match &change {
                Mutation::None => {}
                Mutation::FlipBit { byte, bit } => {
                    let i = byte.index(bytes.len());
                    bytes[i] ^= 1 << bit;
                }
                Mutation::RandomPoint { chunk } => {
                    let p = RistrettoPoint::random(&mut rng).compress().to_bytes();
                    bytes = set_chunk(&bytes, chunk.index(chunks), &p);
                }
                Mutation::RandomScalar { chunk } => {
                    let x = Scalar::random(&mut rng).to_bytes();
                    bytes = set_chunk(&bytes, chunk.index(chunks), &x);
                }
                Mutation::LaterDay { days } => day = Day(day.0 + days),
                Mutation::OtherCommitment { coin } => {
                    commitments[coin.index(n)] = Point::new(RistrettoPoint::random(&mut rng));
                }
            }
            let refs: Vec<&Point> = commitments.iter().collect();
            let what = format!("{n} coins, {change:?}");
            let verdict = agree(&what, &bytes, day, &refs);
            prop_assert_eq!(verdict, matches!(change, Mutation::None), "{}", what);
        }
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
        assert_eq!(proof.as_bytes().len(), proof_len(3));
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
        assert_eq!(proof_len(64), MAX_PROOF_BYTES);
    }

    #[test]
    fn the_decoder_accepts_what_bulletproofs_parses_with_canonical_points() {
        let case = Case::new(2, DAY, &mut OsRng);
        let bytes = case.proof.as_bytes();
        assert_eq!(ExpiryProof::from_bytes(bytes).unwrap(), case.proof);
        // A non-canonical scalar (q itself) in each scalar position.
        let q = {
            let mut q = (-Scalar::ONE).to_bytes();
            q[0] += 1;
            q
        };
        let chunks = bytes.len() / 32;
        for i in [4, 5, 6, chunks - 2, chunks - 1] {
            let b = set_chunk(bytes, i, &q);
            assert!(RangeProof::from_bytes(&b).is_err());
            assert!(ExpiryProof::from_bytes(&b).is_none(), "scalar {i}");
        }
        // A non-canonical point encoding in each point position.
        let bad_point = [0xff; 32];
        assert!(CompressedRistretto(bad_point).decompress().is_none());
        for i in (0..chunks - 2).filter(|i| !(4..7).contains(i)) {
            let b = set_chunk(bytes, i, &bad_point);
            assert!(RangeProof::from_bytes(&b).is_ok());
            assert!(ExpiryProof::from_bytes(&b).is_none(), "point {i}");
        }
        // Lengths bulletproofs refuses, and one above the largest proof.
        for len in [0, 32, 8 * 32, 10 * 32, bytes.len() - 1, bytes.len() + 32] {
            assert!(ExpiryProof::from_bytes(&bytes.iter().copied().cycle().take(len).collect::<Vec<_>>())
                .is_none());
        }
        let huge = vec![0u8; MAX_PROOF_BYTES + 64];
        assert!(RangeProof::from_bytes(&huge).is_ok());
        assert!(ExpiryProof::from_bytes(&huge).is_none());
    }
}
