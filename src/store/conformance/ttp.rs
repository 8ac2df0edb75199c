//! The [`TtpStore`] and [`TrusteeStore`] suites.

use rand::RngCore;

use crate::protocol::trace::{LogEntry, TraceKind};
use crate::store::{StoreError, TrusteeStore, TtpStore};
use crate::time::Timestamp;
use crate::trustees::dkg::{DkgAbort, KeyPurpose};

/// Runs every TTP-log check; `make` returns a fresh, empty log each time.
pub fn run_ttp_store_suite<S: TtpStore>(make: impl Fn() -> S) {
    the_log_grows_by_its_next_index_only(&make());
    a_warrant_is_logged_once(&make());
    concurrent_appends_keep_one_gapless_chain(&make());
}

/// A log entry at `index` under a fresh warrant id. (The store checks
/// positions and warrant ids; hash chaining is the TTP's, tested with it.)
fn entry(index: u64) -> LogEntry {
    let mut b = [0u8; 16 + 4 * 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let h = |i: usize| -> [u8; 32] { b[16 + 32 * i..16 + 32 * (i + 1)].try_into().unwrap() };
    LogEntry {
        index,
        previous: h(0),
        time: Timestamp(1_795_000_000 + index),
        warrant_id: b[..16].try_into().unwrap(),
        kind: if index.is_multiple_of(2) { TraceKind::Owner } else { TraceKind::Coin },
        request_digest: h(1),
        warrant_digest: h(2),
        result_digest: h(3),
    }
}

/// Entries append at the log's length only, and read back in order.
pub fn the_log_grows_by_its_next_index_only<S: TtpStore>(s: &S) {
    assert!(s.is_empty().unwrap());
    let e0 = entry(0);
    s.append(&e0).unwrap();
    assert_eq!(s.append(&entry(0)), Err(StoreError::Conflict("log index")), "no overwrite");
    assert_eq!(s.append(&entry(2)), Err(StoreError::Conflict("log index")), "no gap");
    let e1 = entry(1);
    s.append(&e1).unwrap();
    assert_eq!(s.len().unwrap(), 2);
    assert!(!s.is_empty().unwrap());
    assert_eq!(s.entries().unwrap(), vec![e0, e1]);
}

/// A warrant id appears in one entry only.
pub fn a_warrant_is_logged_once<S: TtpStore>(s: &S) {
    let e0 = entry(0);
    s.append(&e0).unwrap();
    assert!(s.warrant_used(&e0.warrant_id).unwrap());
    assert!(!s.warrant_used(&entry(0).warrant_id).unwrap());
    let mut again = entry(1);
    again.warrant_id = e0.warrant_id;
    assert_eq!(s.append(&again), Err(StoreError::Conflict("warrant id")));
    assert_eq!(s.entries().unwrap(), vec![e0], "a refused entry is not kept");
}

/// Eight threads each append two entries at whatever the log's length is,
/// retrying when another thread took that index: sixteen entries at
/// indices 0..16, none lost, none twice.
pub fn concurrent_appends_keep_one_gapless_chain<S: TtpStore>(s: &S) {
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..2 {
                    let mut e = entry(0);
                    loop {
                        e.index = s.len().unwrap();
                        match s.append(&e) {
                            Ok(()) => break,
                            Err(StoreError::Conflict("log index")) => continue,
                            Err(e) => panic!("concurrent_appends_keep_one_gapless_chain: {e}"),
                        }
                    }
                }
            });
        }
    });
    let entries = s.entries().unwrap();
    assert_eq!(entries.len(), 16);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, i as u64, "indices are 0..16 in order");
    }
    let mut warrants: Vec<_> = entries.iter().map(|e| e.warrant_id).collect();
    warrants.sort();
    warrants.dedup();
    assert_eq!(warrants.len(), 16);
}

/// Runs every trustee check (the TTP-log suite, then what a trustee keeps
/// besides); `make` returns a fresh, empty store each time.
pub fn run_trustee_store_suite<S: TrusteeStore>(make: impl Fn() -> S) {
    run_ttp_store_suite(&make);
    aborted_ceremonies_are_kept_in_order(&make());
    signing_nonces_are_taken_once(&make());
}

/// A session's nonces are kept once and taken once: a second session with
/// the same id is refused, and after the take there is nothing to take.
pub fn signing_nonces_are_taken_once<S: TrusteeStore>(s: &S) {
    use crate::crypto::secret::SecretBytes;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert_eq!(s.take_nonces(&a).unwrap(), None, "never opened");
    s.put_nonces(&a, &SecretBytes::new(vec![7; 138])).unwrap();
    s.put_nonces(&b, &SecretBytes::new(vec![8; 138])).unwrap();
    assert_eq!(
        s.put_nonces(&a, &SecretBytes::new(vec![9; 138])),
        Err(StoreError::Conflict("signing session"))
    );
    assert_eq!(
        s.take_nonces(&a).unwrap(),
        Some(SecretBytes::new(vec![7; 138])),
        "the first nonces, unchanged"
    );
    assert_eq!(s.take_nonces(&a).unwrap(), None, "taken once");
    assert_eq!(
        s.put_nonces(&a, &SecretBytes::new(vec![9; 138])),
        Err(StoreError::Conflict("signing session")),
        "a used session is not opened again"
    );
    assert_eq!(s.take_nonces(&b).unwrap(), Some(SecretBytes::new(vec![8; 138])));
}

/// Aborted ceremonies read back as recorded, oldest first, beside the log.
pub fn aborted_ceremonies_are_kept_in_order<S: TrusteeStore>(s: &S) {
    assert_eq!(s.dkg_aborts().unwrap(), vec![]);
    let abort = |n: u8, culprit| DkgAbort {
        ceremony: [n; 32],
        purpose: if n == 1 { KeyPurpose::Decryption } else { KeyPurpose::Signing },
        culprit,
        reason: format!("abort {n}"),
        time: Timestamp(1_795_000_000 + u64::from(n)),
    };
    let (a, b, c) = (abort(1, Some(2)), abort(2, None), abort(1, Some(3)));
    for x in [&a, &b, &c] {
        s.record_dkg_abort(x).unwrap();
    }
    s.append(&entry(0)).unwrap();
    assert_eq!(s.dkg_aborts().unwrap(), vec![a, b, c], "every abort, in order, the same ceremony twice too");
    assert_eq!(s.len().unwrap(), 1);
}
