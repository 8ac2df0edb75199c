//! The ACL blind signature with attributes (Baldimtsi–Lysyanskaya, CCS 2013),
//! signature in commitment form (specs/protocol.md §5).
//!
//! ACL is Abe's blind signature in which the signer's `z1` is derived from
//! the user's attribute commitment `C` and the signer's random `rnd`:
//! `z1 = C + rnd·G`, `z2 = z - z1`. Both parties are typestates whose steps
//! consume `self`, so no step can run twice or out of order:
//!
//! ```text
//! signer: SignerSession::open ──(rnd, a, b1, b2)──▶ user: UserBlinding::blind
//!                                                        │ UserBlinded::challenge(m)
//! signer: SignerSession::answer ◀────────(e)──────────────┘
//!        └──(c, r, s1, s2, d)──▶ user: UserAwaitingAnswer::finish ─▶ AclSignature
//! ```
//!
//! [`AnsweredSession`] has no `w`: answering erases it by construction,
//! because the stored `w` together with the answer reveals the signing key.
//!
//! The signature carries `alpha, beta1, beta2, eta` (commitment form), so its
//! check is one hash plus four linear equations that batch with every other
//! equation of a deposit.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::batch::BatchVerifier;
use super::schnorr::RngAdapter;
use super::transcript::{labels, FaircashTranscript};
use super::VerifyError;
use crate::encoding::Point;
use crate::keys::KeyId;
use crate::params::Params;

/// The public key of one denomination: `y = x·G` and the ACL generator `z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclPublicKey {
    /// The key's identifier (bound into every signature).
    pub key_id: KeyId,
    /// `y_k = x_k·G`.
    pub y: Point,
    /// `z_k`, hashed to the group from the key's description.
    pub z: Point,
}

impl AclPublicKey {
    /// Whether `y` and `z` are usable (neither is the identity).
    pub fn is_well_formed(&self) -> bool {
        !self.y.is_identity() && !self.z.is_identity()
    }
}

/// `H_acl(params_id, key, zeta, zeta1, alpha, beta1, beta2, eta, m)`.
#[allow(clippy::too_many_arguments)]
fn acl_challenge(
    pk: &AclPublicKey,
    zeta: &Point,
    zeta1: &Point,
    alpha: &Point,
    beta1: &Point,
    beta2: &Point,
    eta: &Point,
    m: &[u8; 32],
) -> Scalar {
    let mut t = Params::get().transcript(labels::ACL_CHALLENGE);
    t.append_message(b"key-id", pk.key_id.as_bytes());
    t.append_point(b"y", &pk.y);
    t.append_point(b"z", &pk.z);
    t.append_point(b"zeta", zeta);
    t.append_point(b"zeta1", zeta1);
    t.append_point(b"alpha", alpha);
    t.append_point(b"beta1", beta1);
    t.append_point(b"beta2", beta2);
    t.append_point(b"eta", eta);
    t.append_message(b"m", m);
    t.challenge_scalar(b"epsilon")
}

fn mul2(a: &Scalar, p: &Point, b: &Scalar, q: &Point) -> RistrettoPoint {
    RistrettoPoint::multiscalar_mul([a, b], [p.point(), q.point()])
}

// ---------------------------------------------------------------------------
// Signer
// ---------------------------------------------------------------------------

/// The signer's first message: `(rnd, a, b1, b2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerCommitment {
    /// The signer's contribution to `z1 = C + rnd·G`.
    #[serde(with = "crate::encoding::scalar")]
    pub rnd: Scalar,
    /// `a = w·G`.
    pub a: Point,
    /// `b1 = s1·G + d·z1`.
    pub b1: Point,
    /// `b2 = s2·h + d·z2`.
    pub b2: Point,
}

/// The signer's answer: `(c, r, s1, s2, d)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerAnswer {
    /// `c = e - d`.
    #[serde(with = "crate::encoding::scalar")]
    pub c: Scalar,
    /// `r = w - c·x`.
    #[serde(with = "crate::encoding::scalar")]
    pub r: Scalar,
    /// `s1`.
    #[serde(with = "crate::encoding::scalar")]
    pub s1: Scalar,
    /// `s2`.
    #[serde(with = "crate::encoding::scalar")]
    pub s2: Scalar,
    /// `d`.
    #[serde(with = "crate::encoding::scalar")]
    pub d: Scalar,
}

/// An open signing session: it holds the nonces `w, s1, s2, d` and answers
/// exactly one challenge.
///
/// # Invariant
/// `a = w·G`, `b1 = s1·G + d·z1`, `b2 = s2·h + d·z2`, `z1 = C + rnd·G`,
/// `z1 != O`, `z - z1 != O`. Serializable so the bank can persist it before
/// the commitment leaves; its secrets are wiped on drop.
///
/// [`SignerSession::answer`] consumes the session, so one value answers
/// once. A persisted session can be read back (and a row copied), so
/// across copies the bank's store enforces the rule: the transition from
/// open to answered is one transaction that erases the nonces and keeps
/// the answer, and a second, different challenge is refused
/// (`specs/protocol.md`, "Withdrawal").
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SignerSession {
    #[serde(with = "crate::encoding::scalar")]
    rnd: Scalar,
    #[zeroize(skip)]
    z1: Point,
    #[serde(with = "crate::encoding::scalar")]
    w: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    s1: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    s2: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    d: Scalar,
}

impl std::fmt::Debug for SignerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerSession").field("z1", &self.z1).field("nonces", &"<redacted>").finish()
    }
}

impl SignerSession {
    /// Opens a session for the attribute commitment `c_attr` under the key
    /// `(x, pk)`, drawing `rnd != 0` with `z1, z2 != O` and fresh nonces.
    ///
    /// The nonces come from merlin's transcript RNG keyed with the key, the
    /// commitment and `context` (the session id), finalized with `rng`: fresh
    /// every time, and not predictable even if `rng` alone were weak.
    pub fn open(
        x: &Scalar,
        pk: &AclPublicKey,
        c_attr: &Point,
        context: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> (SignerSession, SignerCommitment) {
        let p = Params::get();
        let mut t = p.transcript(labels::ACL_SIGNER_NONCES);
        t.append_message(b"key-id", pk.key_id.as_bytes());
        t.append_point(b"C", c_attr);
        t.append_message(b"context", context);
        let mut trng =
            t.build_rng().rekey_with_witness_bytes(b"x", x.as_bytes()).finalize(&mut RngAdapter(rng));
        let (rnd, z1, z2) = loop {
            let rnd = Scalar::random(&mut trng);
            if rnd == Scalar::ZERO {
                continue;
            }
            let z1 = Point::new(c_attr.point() + p.g.point() * rnd);
            let z2 = Point::new(pk.z.point() - z1.point());
            if !z1.is_identity() && !z2.is_identity() {
                break (rnd, z1, z2);
            }
        };
        // The nonces go straight into the session (wiped on drop); no
        // other copy outlives this function.
        let session = SignerSession {
            rnd,
            z1,
            w: Scalar::random(&mut trng),
            s1: Scalar::random(&mut trng),
            s2: Scalar::random(&mut trng),
            d: Scalar::random(&mut trng),
        };
        let commitment = SignerCommitment {
            rnd,
            a: Point::new(p.g.point() * session.w),
            b1: Point::new(mul2(&session.s1, &p.g, &session.d, &session.z1)),
            b2: Point::new(mul2(&session.s2, &p.h, &session.d, &z2)),
        };
        (session, commitment)
    }

    /// `rnd`, the signer's contribution to `z1`.
    pub fn rnd(&self) -> &Scalar {
        &self.rnd
    }

    /// Answers the user's challenge `e` with the secret key `x`, consuming the
    /// session. The returned [`AnsweredSession`] keeps what a replay of the
    /// same `e` needs and nothing else: `w` is gone.
    pub fn answer(self, x: &Scalar, e: &Scalar) -> (AnsweredSession, SignerAnswer) {
        let c = e - self.d;
        let r = self.w - c * x;
        let answer = SignerAnswer { c, r, s1: self.s1, s2: self.s2, d: self.d };
        (AnsweredSession { e: *e, answer }, answer)
    }
}

/// A session that has answered: the challenge it answered and the answer.
///
/// # Invariant
/// Holds no `w`. The same `e` gets `answer` again; any other `e` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredSession {
    /// The challenge answered.
    #[serde(with = "crate::encoding::scalar")]
    pub e: Scalar,
    /// The answer sent.
    pub answer: SignerAnswer,
}

impl AnsweredSession {
    /// The stored answer if `e` is the challenge this session answered.
    pub fn replay(&self, e: &Scalar) -> Option<SignerAnswer> {
        (self.e == *e).then_some(self.answer)
    }
}

// ---------------------------------------------------------------------------
// User
// ---------------------------------------------------------------------------

/// Entry point of the user's side.
pub struct UserBlinding;

/// The user's blinding values `gamma != 0, tau, t1..t5` (§5.2).
///
/// Wiped on drop; no `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BlindingValues {
    /// `gamma`, non-zero.
    pub gamma: Scalar,
    /// `tau`.
    pub tau: Scalar,
    /// `t1..t5`.
    pub t: [Scalar; 5],
}

/// The user after blinding the signer's commitment; exposes `zeta` and
/// `zeta1`, which the message (the coin body) depends on.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct UserBlinded {
    #[zeroize(skip)]
    pk: AclPublicKey,
    #[zeroize(skip)]
    commitment: SignerCommitment,
    #[zeroize(skip)]
    z1: Point,
    #[zeroize(skip)]
    zeta: Point,
    #[zeroize(skip)]
    zeta1: Point,
    #[zeroize(skip)]
    alpha: Point,
    #[zeroize(skip)]
    beta1: Point,
    #[zeroize(skip)]
    beta2: Point,
    #[zeroize(skip)]
    eta: Point,
    #[serde(with = "crate::encoding::scalar")]
    gamma: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    tau: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    t1: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    t2: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    t3: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    t4: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    t5: Scalar,
}

impl std::fmt::Debug for UserBlinded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserBlinded")
            .field("zeta", &self.zeta)
            .field("zeta1", &self.zeta1)
            .field("blinding", &"<redacted>")
            .finish()
    }
}

impl UserBlinding {
    /// Blinds the signer's commitment for the attribute commitment `c_attr`.
    ///
    /// Checks `z1 = C + rnd·G != O`, `z2 = z - z1 != O` and that `a, b1, b2`
    /// are not the identity; draws `gamma != 0, tau, t1..t5` from `rng`.
    pub fn blind(
        pk: &AclPublicKey,
        c_attr: &Point,
        commitment: &SignerCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<UserBlinded, VerifyError> {
        // Drawn in the order gamma, tau, t1..t5.
        let mut v = BlindingValues { gamma: Scalar::ZERO, tau: Scalar::ZERO, t: [Scalar::ZERO; 5] };
        while v.gamma == Scalar::ZERO {
            v.gamma = Scalar::random(rng);
        }
        v.tau = Scalar::random(rng);
        for t in v.t.iter_mut() {
            *t = Scalar::random(rng);
        }
        Self::blind_with(pk, c_attr, commitment, &v)
    }

    /// As [`UserBlinding::blind`], with the blinding values given (a wallet
    /// that derives them, specs/protocol.md §7.6); refuses `gamma = 0`.
    pub fn blind_with(
        pk: &AclPublicKey,
        c_attr: &Point,
        commitment: &SignerCommitment,
        values: &BlindingValues,
    ) -> Result<UserBlinded, VerifyError> {
        let p = Params::get();
        if !pk.is_well_formed()
            || commitment.rnd == Scalar::ZERO
            || commitment.a.is_identity()
            || commitment.b1.is_identity()
            || commitment.b2.is_identity()
            || values.gamma == Scalar::ZERO
        {
            return Err(VerifyError);
        }
        let z1 = Point::new(c_attr.point() + p.g.point() * commitment.rnd);
        let z2 = pk.z.point() - z1.point();
        if z1.is_identity() || Point::new(z2).is_identity() {
            return Err(VerifyError);
        }
        // The blinding values are copied into the state that keeps them
        // (wiped on drop).
        let o = Point::identity();
        let mut b = UserBlinded {
            pk: *pk,
            commitment: *commitment,
            z1,
            zeta: o,
            zeta1: o,
            alpha: o,
            beta1: o,
            beta2: o,
            eta: o,
            gamma: values.gamma,
            tau: values.tau,
            t1: values.t[0],
            t2: values.t[1],
            t3: values.t[2],
            t4: values.t[3],
            t5: values.t[4],
        };
        let zeta_p = pk.z.point() * b.gamma;
        let zeta1_p = z1.point() * b.gamma;
        let zeta2_p = zeta_p - zeta1_p;
        b.zeta = Point::new(zeta_p);
        b.zeta1 = Point::new(zeta1_p);
        b.alpha = Point::new(commitment.a.point() + mul2(&b.t1, &p.g, &b.t2, &pk.y));
        b.beta1 = Point::new(commitment.b1.point() * b.gamma + mul2(&b.t3, &p.g, &b.t4, &b.zeta1));
        b.beta2 = Point::new(RistrettoPoint::multiscalar_mul(
            [&b.gamma, &b.t5, &b.t4],
            [commitment.b2.point(), p.h.point(), &zeta2_p],
        ));
        b.eta = Point::new(pk.z.point() * b.tau);
        Ok(b)
    }
}

impl UserBlinded {
    /// `zeta = gamma·z`.
    pub fn zeta(&self) -> &Point {
        &self.zeta
    }
    /// `zeta1 = gamma·z1`.
    pub fn zeta1(&self) -> &Point {
        &self.zeta1
    }
    /// `lambda = gamma^-1`, the spend witness with `lambda·zeta = z` (in a
    /// wrapper that wipes it when dropped).
    pub fn lambda(&self) -> Zeroizing<Scalar> {
        Zeroizing::new(self.gamma.invert())
    }

    /// Fixes the message `m` and computes the blinded challenge
    /// `e = H_acl(..., m) - t2 - t4`, consuming the blinded state.
    ///
    /// The caller stores the returned state durably before sending `e`: the
    /// signer answers one `e` per session, so a lost state is a lost coin.
    pub fn challenge(self, m: &[u8; 32]) -> (UserAwaitingAnswer, Scalar) {
        let eps = acl_challenge(
            &self.pk,
            &self.zeta,
            &self.zeta1,
            &self.alpha,
            &self.beta1,
            &self.beta2,
            &self.eta,
            m,
        );
        let e = eps - self.t2 - self.t4;
        (UserAwaitingAnswer { blinded: self.clone(), m: *m, e }, e)
    }
}

/// The user after sending `e`, waiting for the signer's answer.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAwaitingAnswer {
    blinded: UserBlinded,
    #[serde(with = "crate::encoding::hex32")]
    m: [u8; 32],
    #[serde(with = "crate::encoding::scalar")]
    e: Scalar,
}

impl std::fmt::Debug for UserAwaitingAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAwaitingAnswer")
            .field("m", &hex::encode(self.m))
            .field("blinded", &self.blinded)
            .finish()
    }
}

impl UserAwaitingAnswer {
    /// The challenge `e` that was (or will be) sent.
    pub fn e(&self) -> &Scalar {
        &self.e
    }

    /// The signer's commitment this state was blinded from.
    pub fn commitment(&self) -> &SignerCommitment {
        &self.blinded.commitment
    }

    /// `lambda = gamma^-1`.
    pub fn lambda(&self) -> Zeroizing<Scalar> {
        self.blinded.lambda()
    }

    /// Checks the signer's answer, unblinds it and verifies the signature.
    ///
    /// Refuses the answer unless `c + d = e`, `a = r·G + c·y`,
    /// `b1 = s1·G + d·z1` and `b2 = s2·h + d·z2`, and unless the unblinded
    /// signature verifies on `m`.
    pub fn finish(self, answer: &SignerAnswer) -> Result<AclSignature, VerifyError> {
        let p = Params::get();
        let b = &self.blinded;
        let cm = &b.commitment;
        let z2 = Point::new(b.pk.z.point() - b.z1.point());
        let ok = answer.c + answer.d == self.e
            && mul2(&answer.r, &p.g, &answer.c, &b.pk.y) == *cm.a.point()
            && mul2(&answer.s1, &p.g, &answer.d, &b.z1) == *cm.b1.point()
            && mul2(&answer.s2, &p.h, &answer.d, &z2) == *cm.b2.point();
        if !ok {
            return Err(VerifyError);
        }
        let delta = answer.d + b.t4;
        let sig = AclSignature {
            zeta: b.zeta,
            zeta1: b.zeta1,
            alpha: b.alpha,
            beta1: b.beta1,
            beta2: b.beta2,
            eta: b.eta,
            rho: answer.r + b.t1,
            omega: answer.c + b.t2,
            sigma1: b.gamma * answer.s1 + b.t3,
            sigma2: b.gamma * answer.s2 + b.t5,
            delta,
            mu: b.tau - delta * b.gamma,
        };
        sig.verify(&b.pk, &self.m)?;
        Ok(sig)
    }
}

// ---------------------------------------------------------------------------
// Signature
// ---------------------------------------------------------------------------

/// An ACL signature in commitment form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSignature {
    /// `zeta = gamma·z`.
    pub zeta: Point,
    /// `zeta1 = gamma·z1`.
    pub zeta1: Point,
    /// `alpha`.
    pub alpha: Point,
    /// `beta1`.
    pub beta1: Point,
    /// `beta2`.
    pub beta2: Point,
    /// `eta`.
    pub eta: Point,
    /// `rho`.
    #[serde(with = "crate::encoding::scalar")]
    pub rho: Scalar,
    /// `omega`.
    #[serde(with = "crate::encoding::scalar")]
    pub omega: Scalar,
    /// `sigma1`.
    #[serde(with = "crate::encoding::scalar")]
    pub sigma1: Scalar,
    /// `sigma2`.
    #[serde(with = "crate::encoding::scalar")]
    pub sigma2: Scalar,
    /// `delta`.
    #[serde(with = "crate::encoding::scalar")]
    pub delta: Scalar,
    /// `mu`.
    #[serde(with = "crate::encoding::scalar")]
    pub mu: Scalar,
}

impl AclSignature {
    /// `zeta != O`, `zeta1 != O`, `zeta1 != zeta`.
    pub fn is_well_formed(&self) -> bool {
        !self.zeta.is_identity() && !self.zeta1.is_identity() && self.zeta1 != self.zeta
    }

    /// The checks that need no group operation: the identity rules of the
    /// signature and the key, and the hash equation
    /// `omega + delta == H_acl(params_id, key, zeta, zeta1, alpha, beta1, beta2, eta, m)`.
    /// A verifier runs them for every coin before any multiscalar
    /// multiplication (deposit, specs/protocol.md §9.2).
    pub fn check_hash(&self, pk: &AclPublicKey, m: &[u8; 32]) -> Result<(), VerifyError> {
        if !self.is_well_formed() || !pk.is_well_formed() {
            return Err(VerifyError);
        }
        let eps =
            acl_challenge(pk, &self.zeta, &self.zeta1, &self.alpha, &self.beta1, &self.beta2, &self.eta, m);
        if self.omega + self.delta != eps {
            return Err(VerifyError);
        }
        Ok(())
    }

    /// Checks the hash equation now ([`AclSignature::check_hash`]) and
    /// queues the four linear equations:
    ///
    /// ```text
    /// omega + delta == H_acl(params_id, key, zeta, zeta1, alpha, beta1, beta2, eta, m)
    /// alpha == rho·G + omega·y
    /// beta1 == sigma1·G + delta·zeta1
    /// beta2 == sigma2·h + delta·(zeta - zeta1)
    /// eta   == mu·z + delta·zeta
    /// ```
    pub fn queue(
        &self,
        pk: &AclPublicKey,
        m: &[u8; 32],
        batch: &mut BatchVerifier,
    ) -> Result<(), VerifyError> {
        self.check_hash(pk, m)?;
        let p = Params::get();
        // alpha, beta1, beta2 and eta appear in one equation each.
        batch.queue_with_commitment([(self.rho, &p.g), (self.omega, &pk.y)], &self.alpha);
        batch.queue_with_commitment([(self.sigma1, &p.g), (self.delta, &self.zeta1)], &self.beta1);
        batch.queue_with_commitment(
            [(self.sigma2, &p.h), (self.delta, &self.zeta), (-self.delta, &self.zeta1)],
            &self.beta2,
        );
        batch.queue_with_commitment([(self.mu, &pk.z), (self.delta, &self.zeta)], &self.eta);
        Ok(())
    }

    /// Verifies the signature on `m` under `pk`.
    pub fn verify(&self, pk: &AclPublicKey, m: &[u8; 32]) -> Result<(), VerifyError> {
        let mut batch = BatchVerifier::new(&mut rand::rngs::OsRng);
        self.queue(pk, m, &mut batch)?;
        batch.verify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    pub(crate) fn test_key() -> (Scalar, AclPublicKey) {
        let p = Params::get();
        let x = Scalar::random(&mut OsRng);
        let pk = AclPublicKey {
            key_id: KeyId([7; 16]),
            y: Point::new(p.g.point() * x),
            z: Point::new(p.hs.point() * Scalar::random(&mut OsRng)),
        };
        (x, pk)
    }

    fn c_attr() -> Point {
        Point::new(Params::get().h0.point() * Scalar::random(&mut OsRng))
    }

    fn run(m: &[u8; 32]) -> (Scalar, AclPublicKey, AclSignature) {
        let (x, pk) = test_key();
        let c = c_attr();
        let (session, commitment) = SignerSession::open(&x, &pk, &c, b"s1", &mut OsRng);
        let blinded = UserBlinding::blind(&pk, &c, &commitment, &mut OsRng).unwrap();
        let (waiting, e) = blinded.challenge(m);
        let (_answered, answer) = session.answer(&x, &e);
        let sig = waiting.finish(&answer).unwrap();
        (x, pk, sig)
    }

    #[test]
    fn honest_run_gives_a_valid_signature_bound_to_its_message() {
        let m = [1u8; 32];
        let (_, pk, sig) = run(&m);
        assert!(sig.verify(&pk, &m).is_ok());
        assert!(sig.verify(&pk, &[2u8; 32]).is_err());
        let (_, other_pk) = test_key();
        assert!(sig.verify(&other_pk, &m).is_err());
    }

    #[test]
    fn every_signature_field_is_checked() {
        let m = [3u8; 32];
        let (_, pk, sig) = run(&m);
        let bump_p = |p: &Point| Point::new(p.point() + Params::get().g.point());
        let mut variants = Vec::new();
        for i in 0..12 {
            let mut s = sig;
            match i {
                0 => s.zeta = bump_p(&s.zeta),
                1 => s.zeta1 = bump_p(&s.zeta1),
                2 => s.alpha = bump_p(&s.alpha),
                3 => s.beta1 = bump_p(&s.beta1),
                4 => s.beta2 = bump_p(&s.beta2),
                5 => s.eta = bump_p(&s.eta),
                6 => s.rho += Scalar::ONE,
                7 => s.omega += Scalar::ONE,
                8 => s.sigma1 += Scalar::ONE,
                9 => s.sigma2 += Scalar::ONE,
                10 => s.delta += Scalar::ONE,
                _ => s.mu += Scalar::ONE,
            }
            variants.push(s);
        }
        for (i, s) in variants.iter().enumerate() {
            assert!(s.verify(&pk, &m).is_err(), "field {i} not checked");
        }
    }

    #[test]
    fn compensating_changes_across_equations_are_caught() {
        // rho + x and sigma1 - x: would cancel with one weight per signature.
        let m = [4u8; 32];
        let (_, pk, mut sig) = run(&m);
        let x = Scalar::from(5u64);
        sig.rho += x;
        sig.sigma1 -= x;
        assert!(sig.verify(&pk, &m).is_err());
    }

    #[test]
    fn degenerate_signatures_are_refused() {
        let m = [5u8; 32];
        let (_, pk, sig) = run(&m);
        let mut s = sig;
        s.zeta1 = s.zeta;
        assert!(s.verify(&pk, &m).is_err());
        let mut s = sig;
        s.zeta = Point::identity();
        assert!(s.verify(&pk, &m).is_err());
        let mut s = sig;
        s.zeta1 = Point::identity();
        assert!(s.verify(&pk, &m).is_err());
    }

    #[test]
    fn user_refuses_a_malicious_answer() {
        let (x, pk) = test_key();
        let c = c_attr();
        let (session, commitment) = SignerSession::open(&x, &pk, &c, b"s", &mut OsRng);
        let blinded = UserBlinding::blind(&pk, &c, &commitment, &mut OsRng).unwrap();
        let (waiting, e) = blinded.challenge(&[9; 32]);
        let (_, answer) = session.answer(&x, &e);
        for i in 0..5 {
            let mut a = answer;
            match i {
                0 => a.c += Scalar::ONE,
                1 => a.r += Scalar::ONE,
                2 => a.s1 += Scalar::ONE,
                3 => a.s2 += Scalar::ONE,
                _ => a.d += Scalar::ONE,
            }
            assert!(waiting.clone().finish(&a).is_err(), "answer field {i}");
        }
        // An answer made with another key is refused too.
        let (x2, _) = test_key();
        let (session2, _) = SignerSession::open(&x2, &pk, &c, b"s", &mut OsRng);
        let (_, a2) = session2.answer(&x2, &e);
        assert!(waiting.clone().finish(&a2).is_err());
        assert!(waiting.finish(&answer).is_ok());
    }

    #[test]
    fn answered_session_replays_only_its_own_challenge() {
        let (x, pk) = test_key();
        let c = c_attr();
        let (session, _) = SignerSession::open(&x, &pk, &c, b"s", &mut OsRng);
        let e = Scalar::random(&mut OsRng);
        let (answered, answer) = session.answer(&x, &e);
        assert_eq!(answered.replay(&e), Some(answer));
        assert_eq!(answered.replay(&(e + Scalar::ONE)), None);
        let json = serde_json::to_string(&answered).unwrap();
        assert!(!json.contains("\"w\""));
    }

    #[test]
    fn two_answers_of_one_session_reveal_the_key() {
        // Why a session answers once: with the same (w, d) and two different
        // challenges, r - r' = (c' - c)·x.
        let (x, pk) = test_key();
        let c = c_attr();
        let (session, _) = SignerSession::open(&x, &pk, &c, b"s", &mut OsRng);
        let (e1, e2) = (Scalar::random(&mut OsRng), Scalar::random(&mut OsRng));
        let (_, a1) = session.clone().answer(&x, &e1);
        let (_, a2) = session.answer(&x, &e2);
        let recovered = (a1.r - a2.r) * (a2.c - a1.c).invert();
        assert_eq!(recovered, x);
    }

    #[test]
    fn signer_nonces_are_fresh_for_the_same_input() {
        let (x, pk) = test_key();
        let c = c_attr();
        let (_, c1) = SignerSession::open(&x, &pk, &c, b"s", &mut OsRng);
        let (_, c2) = SignerSession::open(&x, &pk, &c, b"s", &mut OsRng);
        assert_ne!(c1.a, c2.a);
        assert_ne!(c1.rnd, c2.rnd);
    }
}
