//! Group parameters: the generators and `params_id` (specs/protocol.md §2).
//!
//! `G` is the Ristretto basepoint. The independent generators `h, H0, Hu, Hs,
//! Ht, Ps` are `RistrettoPoint::hash_from_bytes::<Sha512>(label)` of fixed
//! labels, so nobody knows a discrete-log relation between any two of them.
//! The range proof uses bulletproofs' `PedersenGens::default()`: `B = G` and
//! `B~`, which bulletproofs derives with SHA3-512 from the basepoint.
//! `params_id` hashes the version string and every generator, `B~` included;
//! every transcript starts with it.

use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::RistrettoPoint;
use merlin::Transcript;
use sha2::Sha512;

use crate::crypto::transcript::{labels, FaircashTranscript, PROTOCOL_VERSION};
use crate::encoding::{define_id, Point};

define_id!(
    /// The hash of the protocol version and every generator; the first thing
    /// every transcript absorbs.
    ParamsId,
    32
);

/// Bit size of the expiry range proof: `t - D` lies in `[0, 2^16)`.
pub const RANGE_BITS: usize = 16;

/// At most this many coins in one payment (and range-proof parties).
pub const MAX_COINS_PER_PAYMENT: usize = 64;

/// The public parameters of faircash v1.
///
/// # Invariant
///
/// Every field is derived from fixed labels; two `Params` are always equal.
/// Obtain them with [`Params::get`].
pub struct Params {
    /// `G`, the Ristretto basepoint.
    pub g: Point,
    /// `h`, the second base of the ACL signature.
    pub h: Point,
    /// `H0`, the blinding base of the attribute commitment `C`.
    pub h0: Point,
    /// `Hu`, the base of the user secret `u` in `C`.
    pub hu: Point,
    /// `Hs`, the base of the serial secret `s` in `C`.
    pub hs: Point,
    /// `Ht`, the base of the expiry day `t` in `C`.
    pub ht: Point,
    /// `Ps`, the serial base: `S = s·Ps`.
    pub ps: Point,
    /// `B~`, the blinding base of the expiry commitment `V`.
    pub b_blinding: Point,
    /// bulletproofs' Pedersen generators (`B = G`, `B~`).
    pub pedersen: PedersenGens,
    /// bulletproofs' vector generators for 16-bit proofs of up to 64 values.
    pub bulletproofs: BulletproofGens,
    /// The parameter identifier.
    pub id: ParamsId,
}

fn hash_to_group(label: &[u8]) -> Point {
    Point::new(RistrettoPoint::hash_from_bytes::<Sha512>(label))
}

impl Params {
    /// The parameters, computed once per process.
    pub fn get() -> &'static Params {
        static PARAMS: OnceLock<Params> = OnceLock::new();
        PARAMS.get_or_init(Params::derive)
    }

    fn derive() -> Params {
        let gen = |name: &str| {
            let (_, label) =
                labels::GENERATORS.iter().find(|(n, _)| *n == name).expect("generator label table is fixed");
            hash_to_group(label)
        };
        let pedersen = PedersenGens::default();
        debug_assert_eq!(pedersen.B, RISTRETTO_BASEPOINT_POINT);
        let mut p = Params {
            g: Point::new(RISTRETTO_BASEPOINT_POINT),
            h: gen("h"),
            h0: gen("H0"),
            hu: gen("Hu"),
            hs: gen("Hs"),
            ht: gen("Ht"),
            ps: gen("Ps"),
            b_blinding: Point::new(pedersen.B_blinding),
            pedersen,
            bulletproofs: BulletproofGens::new(RANGE_BITS, MAX_COINS_PER_PAYMENT),
            id: ParamsId([0; 32]),
        };
        p.id = p.compute_id();
        p
    }

    fn compute_id(&self) -> ParamsId {
        let mut t = Transcript::new(labels::PARAMS_ID);
        t.append_message(b"version", PROTOCOL_VERSION.as_bytes());
        t.append_point(b"G", &self.g);
        t.append_point(b"h", &self.h);
        t.append_point(b"H0", &self.h0);
        t.append_point(b"Hu", &self.hu);
        t.append_point(b"Hs", &self.hs);
        t.append_point(b"Ht", &self.ht);
        t.append_point(b"Ps", &self.ps);
        t.append_point(b"B~", &self.b_blinding);
        t.append_u64(b"range-bits", RANGE_BITS as u64);
        t.append_u64(b"max-coins", MAX_COINS_PER_PAYMENT as u64);
        ParamsId(t.challenge_digest(b"params-id"))
    }

    /// A transcript for `label` that has absorbed `params_id`.
    pub fn transcript(&self, label: &'static [u8]) -> Transcript {
        let mut t = Transcript::new(label);
        t.append_message(b"params-id", self.id.as_bytes());
        t
    }

    /// The generators with their names, in the order `params_id` absorbs them.
    pub fn named_generators(&self) -> [(&'static str, &Point); 8] {
        [
            ("G", &self.g),
            ("h", &self.h),
            ("H0", &self.h0),
            ("Hu", &self.hu),
            ("Hs", &self.hs),
            ("Ht", &self.ht),
            ("Ps", &self.ps),
            ("B~", &self.b_blinding),
        ]
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params").field("id", &self.id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generators_are_distinct_and_not_identity() {
        let p = Params::get();
        let mut seen = HashSet::new();
        for (name, g) in p.named_generators() {
            assert!(!g.is_identity(), "{name}");
            assert!(seen.insert(*g.as_bytes()), "{name} repeats");
        }
    }

    #[test]
    fn params_id_is_stable_within_a_process() {
        assert_eq!(Params::derive().id, Params::get().id);
    }
}
