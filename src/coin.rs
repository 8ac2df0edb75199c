//! The coin: body, ACL signature, wallet-side secrets, and the spend relation
//! (specs/protocol.md §6).
//!
//! ```text
//! body = (params_id, keyset_id, key_id, S, E = (E1, E2), V, T1..T6)
//! coin = body + ACL signature on m = coin_id = H(body)
//! ```
//!
//! `T1..T6` are the fixed first message of the spend proof: the right-hand
//! sides of the six spend relations evaluated at nonces drawn at withdrawal.
//! They are signed inside the coin, so every spend of one coin answers a
//! challenge against the same commitments, and two spends with different
//! challenges reveal every witness, `u` among them.

use std::sync::OnceLock;

use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::acl::AclSignature;
use crate::crypto::elgamal::Ciphertext;
use crate::crypto::schnorr::{Relation, WitnessVar};
use crate::crypto::transcript::{labels, FaircashTranscript};
use crate::encoding::{define_id, Point};
use crate::keys::{KeyId, KeysetId};
use crate::params::{Params, ParamsId};
use crate::time::Day;
use crate::wire::{DecodeError, MessageKind, WireMessage};

define_id!(
    /// `coin_id = H(params_id, body)`: the index of spent coins, and the
    /// message `m` the ACL signature signs.
    CoinId,
    32
);

/// The signed body of a coin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinBody {
    /// The parameters.
    pub params_id: ParamsId,
    /// The keyset of the signing key.
    pub keyset_id: KeysetId,
    /// The signing (denomination) key.
    pub key_id: KeyId,
    /// `S = s·Ps`, the serial (coin-tracing tag). Never `O`.
    pub serial: Point,
    /// `E = (k·G, I + k·Y_T)`, the owner-tracing escrow. `E1` is never `O`.
    pub escrow: Ciphertext,
    /// `V = t·B + r_t·B~`, the commitment to the expiry day.
    pub expiry_commitment: Point,
    /// `T1..T6`, the fixed first message of the spend proof.
    pub spend_commitments: [Point; 6],
}

impl CoinBody {
    /// `coin_id`: the hash of every field, `params_id` first.
    pub fn id(&self) -> CoinId {
        let mut t = crate::crypto::transcript::cached_start(labels::COIN_ID, None);
        self.absorb(&mut t);
        CoinId(t.challenge_digest(b"coin-id"))
    }

    /// Appends every field to a transcript (the payment absorbs coins whole).
    pub(crate) fn absorb(&self, t: &mut Transcript) {
        t.append_message(b"params-id", self.params_id.as_bytes());
        t.append_message(b"keyset-id", self.keyset_id.as_bytes());
        t.append_message(b"key-id", self.key_id.as_bytes());
        t.append_point(b"S", &self.serial);
        t.append_point(b"E1", &self.escrow.c1);
        t.append_point(b"E2", &self.escrow.c2);
        t.append_point(b"V", &self.expiry_commitment);
        for tj in &self.spend_commitments {
            t.append_point(b"T", tj);
        }
    }
}

/// A coin: body and ACL signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coin {
    /// The signed body.
    pub body: CoinBody,
    /// The ACL signature on `coin_id`.
    pub signature: AclSignature,
}

impl Coin {
    /// `coin_id`.
    pub fn id(&self) -> CoinId {
        self.body.id()
    }

    /// The identity rules: `S != O`, `E1 != O`, `zeta != O`, `zeta1 != O`,
    /// `zeta != zeta1`. Returns the name of the offending field.
    pub fn identity_violation(&self) -> Option<&'static str> {
        if self.body.serial.is_identity() {
            return Some("S");
        }
        if self.body.escrow.c1.is_identity() {
            return Some("E1");
        }
        if self.signature.zeta.is_identity() {
            return Some("zeta");
        }
        if self.signature.zeta1.is_identity() {
            return Some("zeta1");
        }
        if self.signature.zeta == self.signature.zeta1 {
            return Some("zeta - zeta1");
        }
        None
    }

    pub(crate) fn absorb(&self, t: &mut Transcript) {
        self.body.absorb(t);
        let s = &self.signature;
        t.append_point(b"zeta", &s.zeta);
        t.append_point(b"zeta1", &s.zeta1);
        t.append_point(b"alpha", &s.alpha);
        t.append_point(b"beta1", &s.beta1);
        t.append_point(b"beta2", &s.beta2);
        t.append_point(b"eta", &s.eta);
        t.append_scalar(b"rho", &s.rho);
        t.append_scalar(b"omega", &s.omega);
        t.append_scalar(b"sigma1", &s.sigma1);
        t.append_scalar(b"sigma2", &s.sigma2);
        t.append_scalar(b"delta", &s.delta);
        t.append_scalar(b"mu", &s.mu);
    }
}

impl WireMessage for Coin {
    const KIND: MessageKind = MessageKind::Coin;
    /// A coin is 784 bytes: a 400-byte body and a 384-byte signature.
    const MAX_BYTES: usize = 1024;
    fn check(&self) -> Result<(), DecodeError> {
        match self.identity_violation() {
            Some(field) => Err(DecodeError::IdentityPoint { what: Self::what(), field }),
            None => Ok(()),
        }
    }
}

/// Number of witnesses (and nonces, and responses) of the spend relation.
pub const SPEND_WITNESSES: usize = 8;

/// The wallet's secrets for one coin, wiped on drop.
///
/// `lambda = gamma^-1, r, rnd, s, t, k, r_t` and the eight spend-proof
/// nonces fixed at withdrawal (`u` is the user's key, held apart).
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct CoinSecrets {
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) lambda: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) r: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) rnd: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) s: Scalar,
    pub(crate) expiry: u32,
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) k: Scalar,
    #[serde(with = "crate::encoding::scalar")]
    pub(crate) r_t: Scalar,
    #[serde(with = "nonce_array")]
    pub(crate) nonces: [Scalar; SPEND_WITNESSES],
}

mod nonce_array {
    use super::*;
    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct S(#[serde(with = "crate::encoding::scalar")] Scalar);

    pub fn serialize<Ser: serde::Serializer>(
        v: &[Scalar; SPEND_WITNESSES],
        s: Ser,
    ) -> Result<Ser::Ok, Ser::Error> {
        v.map(S).serialize(s)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[Scalar; SPEND_WITNESSES], D::Error> {
        let a: [S; SPEND_WITNESSES] = Deserialize::deserialize(d)?;
        Ok(a.map(|s| s.0))
    }
}

impl std::fmt::Debug for CoinSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoinSecrets(<redacted>)")
    }
}

impl CoinSecrets {
    /// The coin's expiry day `t` (secret from everyone but the wallet).
    pub fn expiry(&self) -> Day {
        Day(self.expiry)
    }

    /// The serial secret `s`; exposed for coin-tracing tests and audits.
    pub fn expose_serial_secret(&self) -> &Scalar {
        &self.s
    }

    /// The witnesses in relation order `(lambda, r, rnd, u, s, t, k, r_t)`,
    /// in an array that is wiped when dropped (it holds `u`).
    pub(crate) fn witnesses(&self, u: &Scalar) -> Zeroizing<[Scalar; SPEND_WITNESSES]> {
        Zeroizing::new([
            self.lambda,
            self.r,
            self.rnd,
            *u,
            self.s,
            Scalar::from(u64::from(self.expiry)),
            self.k,
            self.r_t,
        ])
    }
}

/// The responses of one spend: `z_w = n_w + c·w` for the eight witnesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendResponses {
    /// `z_lambda`.
    #[serde(with = "crate::encoding::scalar")]
    pub lambda: Scalar,
    /// `z_r`.
    #[serde(with = "crate::encoding::scalar")]
    pub r: Scalar,
    /// `z_rnd`.
    #[serde(with = "crate::encoding::scalar")]
    pub rnd: Scalar,
    /// `z_u`.
    #[serde(with = "crate::encoding::scalar")]
    pub u: Scalar,
    /// `z_s`.
    #[serde(with = "crate::encoding::scalar")]
    pub s: Scalar,
    /// `z_t`.
    #[serde(with = "crate::encoding::scalar")]
    pub t: Scalar,
    /// `z_k`.
    #[serde(with = "crate::encoding::scalar")]
    pub k: Scalar,
    /// `z_rt`.
    #[serde(with = "crate::encoding::scalar")]
    pub r_t: Scalar,
}

impl SpendResponses {
    /// In relation order.
    pub fn to_array(&self) -> [Scalar; SPEND_WITNESSES] {
        [self.lambda, self.r, self.rnd, self.u, self.s, self.t, self.k, self.r_t]
    }

    /// From relation order.
    pub fn from_array(a: [Scalar; SPEND_WITNESSES]) -> Self {
        let [lambda, r, rnd, u, s, t, k, r_t] = a;
        SpendResponses { lambda, r, rnd, u, s, t, k, r_t }
    }
}

struct NegatedBases {
    h0: Point,
    g: Point,
    hu: Point,
    hs: Point,
    ht: Point,
}

fn negated_bases() -> &'static NegatedBases {
    static N: OnceLock<NegatedBases> = OnceLock::new();
    N.get_or_init(|| {
        let p = Params::get();
        NegatedBases {
            h0: Point::new(-p.h0.point()),
            g: Point::new(-p.g.point()),
            hu: Point::new(-p.hu.point()),
            hs: Point::new(-p.hs.point()),
            ht: Point::new(-p.ht.point()),
        }
    })
}

/// The public points of one coin's spend relation.
pub struct SpendStatement<'a> {
    /// `z_k` of the coin's key.
    pub z: &'a Point,
    /// `zeta` from the signature.
    pub zeta: &'a Point,
    /// `zeta1` from the signature.
    pub zeta1: &'a Point,
    /// `S`.
    pub serial: &'a Point,
    /// `E`.
    pub escrow: &'a Ciphertext,
    /// `V`.
    pub expiry_commitment: &'a Point,
    /// `Y_T`.
    pub ttp_key: &'a Point,
}

/// The spend relation, witnesses `(lambda, r, rnd, u, s, t, k, r_t)`:
///
/// ```text
/// (1) z_k = lambda·zeta
/// (2) O   = lambda·zeta1 - r·H0 - rnd·G - u·Hu - s·Hs - t·Ht
/// (3) S   = s·Ps
/// (4) E1  = k·G
/// (5) E2  = u·G + k·Y_T
/// (6) V   = t·B + r_t·B~          (B = G)
/// ```
///
/// The negative terms of (2) are written as positive multiples of the
/// negated generators.
pub fn spend_relation(st: &SpendStatement<'_>) -> Relation {
    let p = Params::get();
    let n = negated_bases();
    let mut rel = Relation::new(b"spend");
    let w: [WitnessVar; SPEND_WITNESSES] = [
        rel.witness(b"lambda"),
        rel.witness(b"r"),
        rel.witness(b"rnd"),
        rel.witness(b"u"),
        rel.witness(b"s"),
        rel.witness(b"t"),
        rel.witness(b"k"),
        rel.witness(b"r_t"),
    ];
    let [lambda, r, rnd, u, s, t, k, r_t] = w;
    let z = rel.point(b"z_k", *st.z);
    let zeta = rel.point(b"zeta", *st.zeta);
    let zeta1 = rel.point(b"zeta1", *st.zeta1);
    let neg_h0 = rel.point(b"-H0", n.h0);
    let neg_g = rel.point(b"-G", n.g);
    let neg_hu = rel.point(b"-Hu", n.hu);
    let neg_hs = rel.point(b"-Hs", n.hs);
    let neg_ht = rel.point(b"-Ht", n.ht);
    let ps = rel.point(b"Ps", p.ps);
    let g = rel.point(b"G", p.g);
    let y_t = rel.point(b"Y_T", *st.ttp_key);
    let b_blind = rel.point(b"B~", p.b_blinding);
    let serial = rel.point(b"S", *st.serial);
    let e1 = rel.point(b"E1", st.escrow.c1);
    let e2 = rel.point(b"E2", st.escrow.c2);
    let v = rel.point(b"V", *st.expiry_commitment);
    rel.equation(Some(z), &[(lambda, zeta)]);
    rel.equation(None, &[(lambda, zeta1), (r, neg_h0), (rnd, neg_g), (u, neg_hu), (s, neg_hs), (t, neg_ht)]);
    rel.equation(Some(serial), &[(s, ps)]);
    rel.equation(Some(e1), &[(k, g)]);
    rel.equation(Some(e2), &[(u, g), (k, y_t)]);
    rel.equation(Some(v), &[(t, g), (r_t, b_blind)]);
    rel
}
