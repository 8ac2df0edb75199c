//! The one store suite, run unchanged against every backend.
use faircash::store::conformance::run_bank_store_suite;
use faircash::store::memory::MemoryBankStore;
use faircash::store::sqlite::SqliteBankStore;

#[test]
fn memory_bank_store_conforms() {
    run_bank_store_suite(MemoryBankStore::new);
}

#[test]
fn sqlite_bank_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    run_bank_store_suite(|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        SqliteBankStore::open(dir.path().join(format!("bank-{i}.db"))).unwrap()
    });
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
