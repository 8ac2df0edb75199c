//! Trust anchors as data: the pinning rules' errors, and the TTP key
//! statement that wallets and merchants pin (specs/protocol.md §4.4,
//! specs/tracing.md §1).

use crate::keys::KeysetId;

/// Why a keyset list was refused by the pinning rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The list does not start with the keyset of sequence 0.
    #[error("keyset list does not start at sequence 0")]
    NotFromStart,
    /// A keyset does not directly extend the one before it.
    #[error("keyset {0} does not extend the keyset before it")]
    BrokenChain(KeysetId),
    /// The list is shorter than the pinned one.
    #[error("keyset list has {offered} keysets, {pinned} are pinned (rollback)")]
    Rollback {
        /// Keysets pinned.
        pinned: usize,
        /// Keysets in the list offered.
        offered: usize,
    },
    /// The list differs from the pinned one at a position both have.
    #[error("keyset list forks from the pinned one at sequence {sequence}")]
    Fork {
        /// The first sequence where they differ.
        sequence: u64,
    },
}
