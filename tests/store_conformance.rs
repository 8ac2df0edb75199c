//! The store suites, each run unchanged against every backend of its trait.
use std::sync::atomic::{AtomicUsize, Ordering};

use faircash::store::conformance::{
    run_bank_store_suite, run_merchant_store_suite, run_trustee_store_suite, run_ttp_store_suite,
    run_wallet_payee_store_suite, run_wallet_store_suite, wallet_state_survives_reopening,
};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryTtpStore, MemoryWalletStore};
use faircash::store::sqlite::{SqliteBankStore, SqliteMerchantStore, SqliteTtpStore, SqliteWalletStore};

/// Fresh SQLite databases in one scratch directory: `name-0.db`, `name-1.db`, …
fn sqlite_files<S>(
    name: &'static str,
    open: fn(std::path::PathBuf) -> S,
) -> (tempfile::TempDir, impl Fn() -> S) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let n = AtomicUsize::new(0);
    let make = move || open(path.join(format!("{name}-{}.db", n.fetch_add(1, Ordering::SeqCst))));
    (dir, make)
}

#[test]
fn memory_bank_store_conforms() {
    run_bank_store_suite(MemoryBankStore::new);
}

#[test]
fn sqlite_bank_store_conforms() {
    let (_dir, make) = sqlite_files("bank", |p| SqliteBankStore::open(p).unwrap());
    run_bank_store_suite(make);
}

#[test]
fn memory_wallet_store_conforms() {
    run_wallet_store_suite(MemoryWalletStore::new);
}

#[test]
fn sqlite_wallet_store_conforms() {
    let (_dir, make) = sqlite_files("wallet", |p| SqliteWalletStore::open(p).unwrap());
    run_wallet_store_suite(make);
}

#[test]
fn sqlite_wallet_store_keeps_its_state_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    wallet_state_survives_reopening(|| SqliteWalletStore::open(dir.path().join("wallet.db")).unwrap());
}

#[test]
fn memory_wallet_payee_store_conforms() {
    run_wallet_payee_store_suite(MemoryWalletStore::new);
}

#[test]
fn sqlite_wallet_payee_store_conforms() {
    let (_dir, make) = sqlite_files("wallet-payee", |p| SqliteWalletStore::open(p).unwrap());
    run_wallet_payee_store_suite(make);
}

#[test]
fn sqlite_wallet_payee_state_survives_reopening() {
    use faircash::store::conformance::objects::Objects;
    use faircash::store::WalletStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.db");
    let o = Objects::new();
    let p = o.payment(&[&o.coin(2)]);
    let open = || SqliteWalletStore::open(&path).unwrap();
    open().payee().insert_request(&p.request).unwrap();
    assert_eq!(open().payee().open_request(&p.request.id()).unwrap(), Some(p.request));
    let ids: Vec<_> = p.coins.iter().map(|c| c.id()).collect();
    open().payee().accept_payment(&p.request.id(), &ids, &p).unwrap();
    let s = open();
    assert_eq!(s.payee().open_request(&p.request.id()).unwrap(), None);
    assert!(s.payee().coin_seen(&ids[0]).unwrap());
    assert_eq!(s.payee().undeposited().unwrap().len(), 1);
    // The wallet's own tables are apart: no coin, no payment made.
    assert!(s.coins().unwrap().is_empty());
    assert_eq!(s.payment(&p.request.id()).unwrap(), None);
}

#[test]
fn memory_merchant_store_conforms() {
    run_merchant_store_suite(MemoryMerchantStore::new);
}

#[test]
fn sqlite_merchant_store_conforms() {
    let (_dir, make) = sqlite_files("merchant", |p| SqliteMerchantStore::open(p).unwrap());
    run_merchant_store_suite(make);
}

#[test]
fn memory_ttp_store_conforms() {
    run_ttp_store_suite(MemoryTtpStore::new);
}

#[test]
fn sqlite_ttp_store_conforms() {
    let (_dir, make) = sqlite_files("ttp", |p| SqliteTtpStore::open(p).unwrap());
    run_ttp_store_suite(make);
}

#[test]
fn memory_trustee_store_conforms() {
    run_trustee_store_suite(MemoryTtpStore::new);
}

#[test]
fn sqlite_trustee_store_conforms() {
    let (_dir, make) = sqlite_files("trustee", |p| SqliteTtpStore::open(p).unwrap());
    run_trustee_store_suite(make);
}

#[test]
fn sqlite_refuses_a_newer_schema_and_a_foreign_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    drop(SqliteBankStore::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = SqliteBankStore::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
    let wallet_path = dir.path().join("wallet.db");
    drop(faircash::store::sqlite::SqliteWalletStore::open(&wallet_path).unwrap());
    let err = SqliteBankStore::open(&wallet_path).err().unwrap().to_string();
    assert!(err.contains("wallet"), "{err}");
}

/// PostgreSQL: runs when `FAIRCASH_TEST_POSTGRES` names a database (CI
/// starts one with `.ci/postgres.sh`); each store gets its own schema.
#[test]
fn postgres_bank_store_conforms() {
    let Some(url) = postgres_url() else { return };
    let run = format!("conf_{}", std::process::id());
    let n = std::sync::atomic::AtomicUsize::new(0);
    run_bank_store_suite(|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        faircash::store::postgres::PostgresBankStore::open_in_schema(&url, Some(&format!("{run}_{i}")))
            .unwrap()
    });
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("FAIRCASH_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("FAIRCASH_REQUIRE_POSTGRES").is_err(),
                "FAIRCASH_REQUIRE_POSTGRES is set but FAIRCASH_TEST_POSTGRES is not"
            );
            eprintln!(
                "FAIRCASH_TEST_POSTGRES is not set: skipping the PostgreSQL store (run .ci/postgres.sh)"
            );
            None
        }
    }
}
