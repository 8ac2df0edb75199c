//! Threshold trustees (specs/tracing.md §9): the TTP as `n` trustees of
//! which any `t` act together, and no one alone can.
//!
//! | module | what |
//! |---|---|
//! | [`dkg`] | the DKG ceremony as signed round files (commit, reveal, sealed shares, echo or complaint), its transcript, the key shares, aborted ceremonies |
//!
//! Two separate ceremonies give the group its decryption key `Y_T` and its
//! signing key; nobody ever holds either secret.

pub mod dkg;
