//! # faircash
//!
//! Fair off-line electronic cash on Ristretto255: anonymous, cheap coins that
//! merchants verify off-line with public keys alone; a coin spent twice
//! reveals its owner to the bank; and a trusted third party can, on a signed
//! warrant, trace a spent coin to its owner or a withdrawal to its coin.
//!
//! The whole life of a coin, as a Rust program integrating the library runs
//! it (this is `examples/lifecycle.rs`):
//!
//! ```rust
#![doc = include_str!("../examples/lifecycle.rs")]
//! ```
//!
//! ## Where things are
//!
//! | module | what |
//! |---|---|
//! | [`params`] | generators, `params_id` |
//! | [`crypto`] | transcripts, linear-relation Schnorr proofs and batch verification, ElGamal, the ACL blind signature, expiry range proofs |
//! | [`keys`] | bank keys, the signed keyset document, user and merchant keys |
//! | [`coin`] | the coin body, its signature, wallet secrets, the spend relation |
//! | [`protocol`] | the messages and pure steps of registration, withdrawal, payment and deposit |
//! | [`roles`] | [`roles::Bank`], [`roles::Wallet`], [`roles::Merchant`], [`roles::Ttp`] over their stores |
//! | [`store`] | the narrow transactional storage traits, and in-memory stores |
//! | [`wire`] | the versioned envelope and strict decoding |
//! | [`time`] | days and clocks |
//! | [`failpoint`] | named crash points for the crash tests (compiled into test builds only) |
//!
//! The normative description is `specs/protocol.md`; the security argument
//! is `specs/security.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod coin;
pub mod crypto;
pub mod encoding;
pub mod failpoint;
pub mod http;
pub mod keys;
pub mod params;
pub mod protocol;
pub mod roles;
pub mod store;
pub mod time;
pub mod trustees;
pub mod wire;
