//! # faircash
//!
//! Fair off-line electronic cash on Ristretto255.
//!
//! See the README and `specs/` for the construction.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod coin;
pub mod crypto;
pub mod encoding;
pub mod keys;
pub mod params;
pub mod protocol;
pub mod roles;
pub mod store;
pub mod time;
pub mod wire;
