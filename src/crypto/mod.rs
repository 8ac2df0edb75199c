//! The cryptographic building blocks (specs/protocol.md §3–§6).
//!
//! | module | what |
//! |---|---|
//! | [`transcript`] | domain labels and merlin helpers |
//! | [`derive`](mod@derive) | wallet secrets from a BIP-39 recovery phrase |
//! | [`batch`] | random-linear-combination verification in one multiscalar multiplication |
//! | [`schnorr`] | generic proofs of linear relations, Schnorr signatures |
//! | [`elgamal`] | ElGamal encryption over Ristretto |
//! | [`group_signature`] | RFC 9591 Schnorr signatures of the TTP as a group |
//! | [`threshold`] | Lagrange coefficients over trustee identifiers, Feldman commitments evaluated in the exponent |
//! | [`acl`] | the ACL blind signature with attributes, commitment form |
//! | [`range`] | the aggregated Bulletproofs range proof for hidden expiry |
//! | [`secret`] | zeroizing secret-scalar and secret-bytes wrappers |
//! | [`seal`] | ChaCha20-Poly1305 under HKDF-SHA512 keys |
//!
//! Verification failures are deliberately opaque ([`VerifyError`]): the
//! caller learns that something did not verify, not which equation.

pub mod acl;
pub mod batch;
pub mod derive;
pub mod elgamal;
pub mod group_signature;
pub mod range;
pub mod schnorr;
pub mod seal;
pub mod secret;
pub mod threshold;
pub mod transcript;

/// A proof, signature or equation did not verify.
///
/// Deliberately carries no detail about which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("verification failed")]
pub struct VerifyError;
