//! The four roles, each running the protocols over its store.
//!
//! | role | type |
//! |---|---|
//! | bank | [`Bank`] |
//! | user | [`Wallet`] |
//! | merchant | [`Merchant`] |
//! | trusted third party | [`Ttp`] |

pub mod anchors;
pub mod bank;
pub mod limits;
pub mod merchant;
pub mod payee;
pub mod ttp;
pub mod wallet;

pub use anchors::TrustAnchors;
pub use bank::{Bank, BankApi, BankConfig, EvidencePage, WatchPolicy};
pub use limits::{DepositLimits, DepositLoad};
pub use merchant::Merchant;
pub use payee::{Payee, PayeeRole};
pub use ttp::{TraceGate, Ttp, TtpKey, TtpKeys};
pub use wallet::Wallet;
