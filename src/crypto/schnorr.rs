//! Proofs of knowledge of discrete-log representations satisfying linear
//! relations, and Schnorr signatures (specs/protocol.md §3).
//!
//! A [`Relation`] is a list of named equations `LHS_j = Σ x_w·P_p` over named
//! secret witnesses `x_w` and named public points `P_p` (the left-hand side
//! may be the identity). Its *shape* (which witness multiplies which point in
//! which equation) is absorbed into the transcript before the points, so a
//! proof for one statement can never verify for another.
//!
//! The proof is the batchable form of the Schnorr protocol: commitments
//! `T_j = Σ n_w·P_p` (one nonce per witness, shared by every equation it
//! appears in), challenge `c` from the transcript, responses
//! `z_w = n_w + c·x_w`; the verifier checks `Σ z_w·P_p = T_j + c·LHS_j` for
//! every `j`. Because it keeps the commitments, many proofs verify together
//! in one multiscalar multiplication ([`BatchVerifier`]).
//!
//! Nonces are synthetic: merlin's transcript RNG, rekeyed with every witness
//! and finalized with the caller's CSPRNG, so a weak RNG alone does not leak
//! the witness.
//!
//! The spend proof of a coin uses the lower-level pieces
//! ([`Relation::commitments`], [`Relation::responses`],
//! [`Relation::queue_with_challenge`]) because its commitments are fixed at
//! withdrawal and its challenge comes from the payment transcript.

use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, MultiscalarMul};
use merlin::Transcript;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::batch::BatchVerifier;
use super::secret::{KeySecret, SecretScalar, ZeroKey};
use super::transcript::FaircashTranscript;
use super::VerifyError;
use crate::encoding::Point;
use crate::params::Params;

/// Largest number of equations (and commitments) in any faircash relation.
pub const MAX_EQUATIONS: usize = 8;
/// Largest number of witnesses in any faircash relation.
pub const MAX_WITNESSES: usize = 8;

/// Handle of a witness in a [`Relation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WitnessVar(usize);

/// Handle of a public point in a [`Relation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointVar(usize);

#[derive(Clone, Debug)]
struct Equation {
    lhs: Option<usize>,
    terms: Vec<(usize, usize)>,
}

/// A statement: named linear equations over secret witnesses and public points.
#[derive(Clone, Debug)]
pub struct Relation {
    name: &'static [u8],
    witnesses: Vec<&'static [u8]>,
    points: Vec<(&'static [u8], Point)>,
    equations: Vec<Equation>,
}

impl Relation {
    /// An empty relation named `name` (its name is part of its shape).
    pub fn new(name: &'static [u8]) -> Self {
        Relation { name, witnesses: Vec::new(), points: Vec::new(), equations: Vec::new() }
    }

    /// Declares a secret witness.
    pub fn witness(&mut self, name: &'static [u8]) -> WitnessVar {
        self.witnesses.push(name);
        WitnessVar(self.witnesses.len() - 1)
    }

    /// Declares a public point.
    pub fn point(&mut self, name: &'static [u8], p: Point) -> PointVar {
        self.points.push((name, p));
        PointVar(self.points.len() - 1)
    }

    /// Adds the equation `lhs = Σ w·P` (`lhs = None` is the identity `O`).
    pub fn equation(&mut self, lhs: Option<PointVar>, terms: &[(WitnessVar, PointVar)]) {
        self.equations
            .push(Equation { lhs: lhs.map(|p| p.0), terms: terms.iter().map(|(w, p)| (w.0, p.0)).collect() });
    }

    /// Number of witnesses.
    pub fn witness_count(&self) -> usize {
        self.witnesses.len()
    }

    /// Number of equations (= commitments).
    pub fn equation_count(&self) -> usize {
        self.equations.len()
    }

    /// Absorbs the shape, then every public point, into `t`.
    pub fn absorb(&self, t: &mut Transcript) {
        self.absorb_shape(t);
        for (name, p) in &self.points {
            t.append_point(name, p);
        }
    }

    /// Absorbs only the shape (names, counts, which witness meets which point).
    pub fn absorb_shape(&self, t: &mut Transcript) {
        t.append_message(b"relation", self.name);
        t.append_u64(b"witnesses", self.witnesses.len() as u64);
        for w in &self.witnesses {
            t.append_message(b"witness-name", w);
        }
        t.append_u64(b"points", self.points.len() as u64);
        for (name, _) in &self.points {
            t.append_message(b"point-name", name);
        }
        t.append_u64(b"equations", self.equations.len() as u64);
        for eq in &self.equations {
            t.append_u64(b"lhs", eq.lhs.map_or(u64::MAX, |i| i as u64));
            t.append_u64(b"terms", eq.terms.len() as u64);
            for (w, p) in &eq.terms {
                t.append_u64(b"term-witness", *w as u64);
                t.append_u64(b"term-point", *p as u64);
            }
        }
    }

    /// Whether `witnesses` satisfy every equation (a prover's self-check).
    pub fn holds(&self, witnesses: &[&Scalar]) -> bool {
        if witnesses.len() != self.witnesses.len() {
            return false;
        }
        self.equations.iter().all(|eq| {
            let rhs = curve25519_dalek::ristretto::RistrettoPoint::multiscalar_mul(
                eq.terms.iter().map(|(w, _)| witnesses[*w]),
                eq.terms.iter().map(|(_, p)| self.points[*p].1.point()),
            );
            let lhs = eq.lhs.map_or_else(curve25519_dalek::ristretto::RistrettoPoint::identity, |i| {
                *self.points[i].1.point()
            });
            rhs == lhs
        })
    }

    /// The commitments `T_j = Σ n_w·P` for the nonces `n` (one per witness).
    ///
    /// # Security
    /// Constant time in the nonces.
    pub fn commitments(&self, nonces: &[Scalar]) -> Vec<Point> {
        assert_eq!(nonces.len(), self.witnesses.len(), "one nonce per witness");
        self.equations
            .iter()
            .map(|eq| {
                Point::new(curve25519_dalek::ristretto::RistrettoPoint::multiscalar_mul(
                    eq.terms.iter().map(|(w, _)| nonces[*w]),
                    eq.terms.iter().map(|(_, p)| self.points[*p].1.point()),
                ))
            })
            .collect()
    }

    /// The responses `z_w = n_w + c·x_w`.
    pub fn responses(&self, nonces: &[Scalar], witnesses: &[&Scalar], c: &Scalar) -> Vec<Scalar> {
        assert_eq!(nonces.len(), self.witnesses.len(), "one nonce per witness");
        assert_eq!(witnesses.len(), self.witnesses.len(), "one value per witness");
        nonces.iter().zip(witnesses).map(|(n, x)| n + c * *x).collect()
    }

    /// Queues `Σ z_w·P = T_j + c·LHS_j` for every equation, each under its own
    /// random weight.
    pub fn queue_with_challenge(
        &self,
        batch: &mut BatchVerifier,
        commitments: &[Point],
        c: &Scalar,
        responses: &[Scalar],
    ) -> Result<(), VerifyError> {
        if commitments.len() != self.equations.len() || responses.len() != self.witnesses.len() {
            return Err(VerifyError);
        }
        let minus_c = -c;
        for (eq, t_j) in self.equations.iter().zip(commitments) {
            let terms = eq
                .terms
                .iter()
                .map(|(w, p)| (responses[*w], &self.points[*p].1))
                .chain(eq.lhs.map(|i| (minus_c, &self.points[i].1)));
            // Each commitment T_j belongs to one equation.
            batch.queue_with_commitment(terms, t_j);
        }
        Ok(())
    }

    /// Proves knowledge of `witnesses` on transcript `t` (which the caller has
    /// bound to `params_id` and the protocol context).
    pub fn prove(&self, t: &mut Transcript, witnesses: &[&Scalar], rng: &mut impl CryptoRngCore) -> Proof {
        assert_eq!(witnesses.len(), self.witnesses.len(), "one value per witness");
        debug_assert!(self.holds(witnesses), "prover's witnesses do not satisfy the relation");
        self.absorb(t);
        let nonces = Nonces::derive(t, witnesses, rng, self.witnesses.len());
        let commitments = self.commitments(&nonces.0);
        for c in &commitments {
            t.append_point(b"commitment", c);
        }
        let c = t.challenge_scalar(b"challenge");
        let responses = self.responses(&nonces.0, witnesses, &c);
        Proof { commitments, responses }
    }

    /// Queues the verification of `proof` on transcript `t` into `batch`.
    pub fn queue_proof(
        &self,
        t: &mut Transcript,
        proof: &Proof,
        batch: &mut BatchVerifier,
    ) -> Result<(), VerifyError> {
        if proof.commitments.len() != self.equations.len() || proof.responses.len() != self.witnesses.len() {
            return Err(VerifyError);
        }
        self.absorb(t);
        for c in &proof.commitments {
            t.append_point(b"commitment", c);
        }
        let c = t.challenge_scalar(b"challenge");
        self.queue_with_challenge(batch, &proof.commitments, &c, &proof.responses)
    }

    /// Verifies `proof` on transcript `t`.
    pub fn verify(
        &self,
        t: &mut Transcript,
        proof: &Proof,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), VerifyError> {
        let mut batch = BatchVerifier::new(rng);
        self.queue_proof(t, proof, &mut batch)?;
        batch.verify()
    }
}

/// Per-witness nonces, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Nonces(pub(crate) Vec<Scalar>);

impl Nonces {
    /// `count` nonces from the transcript RNG rekeyed with every witness and
    /// finalized with `rng`.
    pub(crate) fn derive(
        t: &Transcript,
        witnesses: &[&Scalar],
        rng: &mut impl CryptoRngCore,
        count: usize,
    ) -> Nonces {
        let mut builder = t.build_rng();
        for w in witnesses {
            builder = builder.rekey_with_witness_bytes(b"witness", w.as_bytes());
        }
        let mut trng = builder.finalize(&mut RngAdapter(rng));
        Nonces((0..count).map(|_| Scalar::random(&mut trng)).collect())
    }
}

/// merlin's `finalize` wants `RngCore + CryptoRng`; adapt a `CryptoRngCore`.
pub(crate) struct RngAdapter<'a, R: CryptoRngCore + ?Sized>(pub(crate) &'a mut R);

impl<R: CryptoRngCore + ?Sized> rand_core::RngCore for RngAdapter<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}
impl<R: CryptoRngCore + ?Sized> rand_core::CryptoRng for RngAdapter<'_, R> {}

/// A proof in batchable form: one commitment per equation, one response per
/// witness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// `T_j`, one per equation.
    #[serde(
        serialize_with = "crate::encoding::bounded::serialize",
        deserialize_with = "crate::encoding::bounded::deserialize::<_, Point, MAX_EQUATIONS>"
    )]
    pub commitments: Vec<Point>,
    /// `z_w`, one per witness.
    #[serde(with = "scalar_list")]
    pub responses: Vec<Scalar>,
}

/// Serde for a bounded list of canonical scalars.
pub(crate) mod scalar_list {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct S(#[serde(with = "crate::encoding::scalar")] Scalar);

    pub fn serialize<Ser: serde::Serializer>(v: &[Scalar], s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let wrapped: Vec<S> = v.iter().map(|x| S(*x)).collect();
        crate::encoding::bounded::serialize(&wrapped, s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Scalar>, D::Error> {
        let v: Vec<S> = crate::encoding::bounded::deserialize::<_, S, MAX_WITNESSES>(d)?;
        Ok(v.into_iter().map(|s| s.0).collect())
    }
}

/// A Schnorr signing key `x` with its public key `X = x·G`.
///
/// Serializes as the secret alone; the public key is recomputed on load.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "KeySecret", into = "SecretScalar")]
pub struct SigningKey {
    secret: SecretScalar,
    public: Point,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_secret(SecretScalar::random_nonzero(rng))
    }

    /// The key with secret `x`.
    pub fn from_secret(secret: SecretScalar) -> Self {
        let public = Point::new(Params::get().g.point() * secret.expose_secret());
        SigningKey { secret, public }
    }

    /// The public key `X`.
    pub fn public(&self) -> &Point {
        &self.public
    }

    /// The secret `x`.
    pub fn expose_secret(&self) -> &Scalar {
        self.secret.expose_secret()
    }

    /// Signs `message` under the domain `label`.
    pub fn sign(&self, label: &'static [u8], message: &[u8], rng: &mut impl CryptoRngCore) -> Signature {
        let mut t = Params::get().transcript(label);
        t.append_message(b"message", message);
        let proof = signature_relation(&self.public).prove(&mut t, &[self.expose_secret()], rng);
        Signature { r: proof.commitments[0], s: proof.responses[0] }
    }
}

impl TryFrom<KeySecret> for SigningKey {
    type Error = ZeroKey;
    fn try_from(k: KeySecret) -> Result<Self, ZeroKey> {
        Ok(Self::from_secret(k.nonzero()?))
    }
}

impl From<SecretScalar> for SigningKey {
    fn from(s: SecretScalar) -> Self {
        SigningKey::from_secret(s)
    }
}

impl From<SigningKey> for SecretScalar {
    fn from(k: SigningKey) -> Self {
        k.secret.clone()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public).field("secret", &"<redacted>").finish()
    }
}

fn signature_relation(public: &Point) -> Relation {
    let mut rel = Relation::new(b"schnorr-signature");
    let x = rel.witness(b"x");
    let g = rel.point(b"G", Params::get().g);
    let pk = rel.point(b"X", *public);
    rel.equation(Some(pk), &[(x, g)]);
    rel
}

/// A Schnorr signature `(R, s)` with `s·G = R + c·X`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The commitment `R`.
    pub r: Point,
    /// The response `s`.
    #[serde(with = "crate::encoding::scalar")]
    pub s: Scalar,
}

impl Signature {
    /// Queues the verification of this signature on `message` under `label`
    /// by `public` into `batch`.
    pub fn queue(
        &self,
        label: &'static [u8],
        message: &[u8],
        public: &Point,
        batch: &mut BatchVerifier,
    ) -> Result<(), VerifyError> {
        if public.is_identity() {
            return Err(VerifyError);
        }
        let mut t = Params::get().transcript(label);
        t.append_message(b"message", message);
        let proof = Proof { commitments: vec![self.r], responses: vec![self.s] };
        signature_relation(public).queue_proof(&mut t, &proof, batch)
    }

    /// Verifies this signature on `message` under `label` by `public`.
    pub fn verify(&self, label: &'static [u8], message: &[u8], public: &Point) -> Result<(), VerifyError> {
        let mut batch = BatchVerifier::new(&mut rand::rngs::OsRng);
        self.queue(label, message, public, &mut batch)?;
        batch.verify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn dleq(x: &Scalar) -> (Relation, Point, Point) {
        let p = Params::get();
        let a = Point::new(p.g.point() * x);
        let b = Point::new(p.h.point() * x);
        let mut rel = Relation::new(b"test-dleq");
        let w = rel.witness(b"x");
        let g = rel.point(b"G", p.g);
        let h = rel.point(b"h", p.h);
        let pa = rel.point(b"A", a);
        let pb = rel.point(b"B", b);
        rel.equation(Some(pa), &[(w, g)]);
        rel.equation(Some(pb), &[(w, h)]);
        (rel, a, b)
    }

    #[test]
    fn proof_verifies_and_binds_its_context() {
        let x = Scalar::random(&mut OsRng);
        let (rel, _, _) = dleq(&x);
        let mut t = Transcript::new(b"test");
        let proof = rel.prove(&mut t, &[&x], &mut OsRng);
        let mut t = Transcript::new(b"test");
        assert!(rel.verify(&mut t, &proof, &mut OsRng).is_ok());
        let mut other = Transcript::new(b"other");
        assert!(rel.verify(&mut other, &proof, &mut OsRng).is_err());
    }

    #[test]
    fn proof_for_false_statement_fails() {
        let x = Scalar::random(&mut OsRng);
        let (rel, _, _) = dleq(&x);
        let mut t = Transcript::new(b"test");
        let proof = rel.prove(&mut t, &[&x], &mut OsRng);
        // Same shape, different second point: the statement is false for x.
        let y = Scalar::random(&mut OsRng);
        let (mut rel2, _, _) = dleq(&x);
        rel2.points[3].1 = Point::new(Params::get().h.point() * y);
        let mut t = Transcript::new(b"test");
        assert!(rel2.verify(&mut t, &proof, &mut OsRng).is_err());
    }

    #[test]
    fn tampered_proof_fails() {
        let x = Scalar::random(&mut OsRng);
        let (rel, _, _) = dleq(&x);
        let mut t = Transcript::new(b"test");
        let proof = rel.prove(&mut t, &[&x], &mut OsRng);
        let mut bad = proof.clone();
        bad.responses[0] += Scalar::ONE;
        assert!(rel.verify(&mut Transcript::new(b"test"), &bad, &mut OsRng).is_err());
        let mut bad = proof.clone();
        bad.commitments[1] = Point::new(bad.commitments[1].point() + Params::get().g.point());
        assert!(rel.verify(&mut Transcript::new(b"test"), &bad, &mut OsRng).is_err());
        let mut bad = proof;
        bad.commitments.pop();
        assert!(rel.verify(&mut Transcript::new(b"test"), &bad, &mut OsRng).is_err());
    }

    #[test]
    fn batch_of_many_proofs_catches_one_bad_proof() {
        let mut batch = BatchVerifier::new(&mut OsRng);
        let mut items = Vec::new();
        for _ in 0..8 {
            let x = Scalar::random(&mut OsRng);
            let (rel, _, _) = dleq(&x);
            let proof = rel.prove(&mut Transcript::new(b"test"), &[&x], &mut OsRng);
            items.push((rel, proof));
        }
        for (rel, proof) in &items {
            rel.queue_proof(&mut Transcript::new(b"test"), proof, &mut batch).unwrap();
        }
        assert!(batch.verify().is_ok());
        items[5].1.responses[0] += Scalar::ONE;
        let mut batch = BatchVerifier::new(&mut OsRng);
        for (rel, proof) in &items {
            rel.queue_proof(&mut Transcript::new(b"test"), proof, &mut batch).unwrap();
        }
        assert!(batch.verify().is_err());
    }

    #[test]
    fn signature_verifies_only_for_its_message_key_and_domain() {
        let k = SigningKey::generate(&mut OsRng);
        let sig = k.sign(b"faircash/v1/test-domain", b"hello", &mut OsRng);
        assert!(sig.verify(b"faircash/v1/test-domain", b"hello", k.public()).is_ok());
        assert!(sig.verify(b"faircash/v1/test-domain", b"hellO", k.public()).is_err());
        assert!(sig.verify(b"faircash/v1/other-domain", b"hello", k.public()).is_err());
        let k2 = SigningKey::generate(&mut OsRng);
        assert!(sig.verify(b"faircash/v1/test-domain", b"hello", k2.public()).is_err());
        assert!(sig.verify(b"faircash/v1/test-domain", b"hello", &Point::identity()).is_err());
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let k = SigningKey::from_secret(SecretScalar::new(Scalar::from(77u64)));
        let shown = format!("{k:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode(Scalar::from(77u64).as_bytes())));
    }
}
