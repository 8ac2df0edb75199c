//! SQLite stores (embedded, no installation): bank, wallet, merchant and
//! TTP log, through rusqlite with the bundled SQLite.
//!
//! Every database runs in WAL mode with `synchronous = FULL` (a committed
//! transaction survives a crash of the process or the machine),
//! `secure_delete = ON` (erased secrets such as a session's `w` are
//! overwritten, not just unlinked) and a busy timeout, so several processes
//! can share one database: writers serialize on `BEGIN IMMEDIATE`.
//!
//! Schemas are versioned with `PRAGMA user_version` and migrated forward in
//! one transaction at open; a database with a newer schema than this build
//! knows is refused. Records are stored as a version byte followed by their
//! postcard encoding, next to the columns that uniqueness rules and lookups
//! need (`coin_id`, session id, `C`, …), which carry `UNIQUE` constraints and
//! length `CHECK`s.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::codec::*;
use super::*;
use crate::protocol::trace::LogEntry;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DatabaseBusy || f.code == ErrorCode::DatabaseLocked)
}

/// A UNIQUE or PRIMARY KEY violation (not a CHECK or foreign-key one).
fn is_constraint(e: &rusqlite::Error) -> bool {
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation
            && (f.extended_code == SQLITE_CONSTRAINT_UNIQUE || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY))
}

/// Maps a rusqlite error: busy/locked → `Retry`, otherwise `Backend`.
fn db(e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        StoreError::Retry
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// Maps a rusqlite error where a constraint violation means `what` exists.
fn db_unique(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| if is_constraint(&e) { StoreError::Conflict(what) } else { db(e) }
}

/// Opens (creating if needed) a database with the faircash settings and
/// migrates its schema to the newest version in `migrations`.
fn open_db(path: &Path, app: &str, migrations: &[&str]) -> StoreResult<Connection> {
    let existed = path.exists();
    let conn = Connection::open(path).map_err(db)?;
    if !existed {
        restrict_permissions(path);
    }
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(db)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
    conn.pragma_update(None, "secure_delete", "ON").map_err(db)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
    migrate(&conn, app, migrations)?;
    Ok(conn)
}

/// Opens a store that must exist already, as [`open_db`] does, but refuses
/// a missing or empty file, and a file that holds no faircash store (never
/// created, truncated, overwritten, or not a SQLite database): SQLite
/// would otherwise start a new, empty store in its place, and a wallet
/// would silently show a balance of 0.
fn open_existing_db(path: &Path, app: &str, migrations: &[&str]) -> StoreResult<Connection> {
    let damaged = |what: String| StoreError::Corrupt(format!("{}: {what}", path.display()));
    let meta =
        std::fs::metadata(path).map_err(|e| damaged(format!("cannot read the {app} database: {e}")))?;
    if meta.len() == 0 {
        return Err(damaged(format!("the {app} database is empty (0 bytes)")));
    }
    {
        let conn =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| damaged(format!("not a readable {app} database ({e})")))?;
        let owner: Option<String> =
            conn.query_row("SELECT app FROM faircash_schema", [], |r| r.get(0)).optional().unwrap_or(None);
        if version == 0 || owner.is_none() {
            return Err(damaged(format!("holds no faircash {app} store")));
        }
    }
    open_db(path, app, migrations)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

fn migrate(conn: &Connection, app: &str, migrations: &[&str]) -> StoreResult<()> {
    let latest = migrations.len() as i64;
    let mut attempt = 0;
    loop {
        let tx = match conn.unchecked_transaction() {
            Ok(t) => t,
            Err(e) if is_busy(&e) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(db(e)),
        };
        tx.execute_batch("CREATE TABLE IF NOT EXISTS faircash_schema (app TEXT NOT NULL)").map_err(db)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
        let owner: Option<String> =
            tx.query_row("SELECT app FROM faircash_schema", [], |r| r.get(0)).optional().map_err(db)?;
        match owner {
            Some(o) if o != app => {
                return Err(StoreError::Backend(format!(
                    "database holds a faircash {o} store, not a {app} store"
                )))
            }
            None => {
                tx.execute("INSERT INTO faircash_schema (app) VALUES (?1)", [app]).map_err(db)?;
            }
            _ => {}
        }
        if current > latest {
            return Err(StoreError::Backend(format!(
                "database schema version {current} is newer than this faircash build supports ({latest}); upgrade faircash"
            )));
        }
        for (i, m) in migrations.iter().enumerate().skip(current as usize) {
            tx.execute_batch(m).map_err(db)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(db)?;
        }
        return tx.commit().map_err(db);
    }
}

/// The columns `coin_id, serial, challenge, merchant, day, receipt_day,
/// payment_digest, coin_index, value, prune_after, keyset` of a
/// `spent_coins` row ([`SPENT_COLUMNS`]).
fn spent_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<SpentRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

const SPENT_COLUMNS: &str =
    "coin_id, serial, challenge, merchant, day, receipt_day, payment_digest, coin_index, value, prune_after, keyset";

/// The last spent-list publication, from `meta`.
fn read_spent_publication(conn: &Connection) -> StoreResult<SpentPublication> {
    let get = |key: &str| -> StoreResult<u64> {
        to_u64(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).map_err(db)?)
    };
    Ok(SpentPublication { sequence: get("spent_sequence")?, at: Timestamp(get("spent_published_at")?) })
}

fn lock(m: &Mutex<Connection>) -> StoreResult<MutexGuard<'_, Connection>> {
    m.lock().map_err(|_| StoreError::Backend("connection lock poisoned by a panic".into()))
}

// ---------------------------------------------------------------------------
// Bank
// ---------------------------------------------------------------------------

/// The bank schema, one migration per entry (applied in order).
pub const BANK_MIGRATIONS: &[&str] = &[
    r#"
-- 0001: the bank's state.
-- meta: the session epoch (bumped when the store is restored from a backup).
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('session_epoch', 0);
-- keysets: the append-only keyset list, one row per sequence number.
CREATE TABLE keysets (
    sequence INTEGER PRIMARY KEY CHECK (sequence >= 0),
    keyset_id BLOB NOT NULL UNIQUE CHECK (length(keyset_id) = 32),
    body BLOB NOT NULL
);
-- accounts: users (kind 0, key I) and merchants (kind 1, key M).
CREATE TABLE accounts (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    kind INTEGER NOT NULL CHECK (kind IN (0, 1)),
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    balance INTEGER NOT NULL CHECK (balance >= 0),
    frozen INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1)),
    registered INTEGER NOT NULL
);
-- sessions: withdrawal sessions and, once answered, withdrawal records.
-- state 0 = open (signer holds w), 1 = answered (w erased), 2 = expired.
-- UNIQUE(commitment): an attribute commitment C is used once, ever.
CREATE TABLE sessions (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    account BLOB NOT NULL REFERENCES accounts(id),
    commitment BLOB NOT NULL UNIQUE CHECK (length(commitment) = 32),
    state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
    opened INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    record BLOB NOT NULL,
    signer BLOB,
    answer BLOB,
    answered_at INTEGER,
    CHECK ((state = 0) = (signer IS NOT NULL)),
    CHECK ((state = 1) = (answer IS NOT NULL))
);
CREATE INDEX sessions_open ON sessions (account, expires) WHERE state = 0;
-- payments: deposited payments (the spend transcripts), by digest.
CREATE TABLE payments (
    digest BLOB PRIMARY KEY CHECK (length(digest) = 32),
    body BLOB NOT NULL
);
-- spent_coins: one row per coin_id; PRIMARY KEY makes a second credit impossible.
CREATE TABLE spent_coins (
    coin_id BLOB PRIMARY KEY CHECK (length(coin_id) = 32),
    serial BLOB NOT NULL CHECK (length(serial) = 32),
    challenge BLOB NOT NULL CHECK (length(challenge) = 32),
    merchant BLOB NOT NULL CHECK (length(merchant) = 16),
    day INTEGER NOT NULL,
    receipt_day INTEGER NOT NULL,
    payment_digest BLOB NOT NULL REFERENCES payments(digest),
    coin_index INTEGER NOT NULL,
    value INTEGER NOT NULL,
    prune_after INTEGER NOT NULL
);
CREATE INDEX spent_coins_prune ON spent_coins (prune_after);
CREATE INDEX spent_coins_payment ON spent_coins (payment_digest);
-- evidence: double-spending evidence (two payments), kept for good.
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coin_id BLOB NOT NULL CHECK (length(coin_id) = 32),
    account BLOB,
    recorded INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- watch_list: serials from coin tracing, with the case that put them there.
CREATE TABLE watch_list (
    serial BLOB PRIMARY KEY CHECK (length(serial) = 32),
    case_id TEXT NOT NULL
);
"#,
    r#"
-- 0002: receipts of deposit requests, so a retried or replayed request gets
-- the same receipt back; (merchant, request_id) is used once.
CREATE TABLE deposit_receipts (
    merchant BLOB NOT NULL CHECK (length(merchant) = 16),
    request_id BLOB NOT NULL CHECK (length(request_id) = 16),
    digest BLOB NOT NULL CHECK (length(digest) = 32),
    body BLOB NOT NULL,
    PRIMARY KEY (merchant, request_id)
);
"#,
    r#"
-- 0003: account authentication keys, identities, account history,
-- withdrawal reservations and recorded account requests.
-- accounts.auth_key: a user's authentication key A (NULL for merchants, and
-- for users registered before accounts had one: they must be re-keyed).
ALTER TABLE accounts ADD COLUMN auth_key BLOB CHECK (auth_key IS NULL OR length(auth_key) = 32);
-- identities: every identity I a user account holds or held. UNIQUE by I:
-- an identity belongs to one account, ever. retired: the day a re-key
-- replaced it (never accepted again); revealed: double-spending evidence
-- made its u public (the account cannot be unfrozen while it is current).
CREATE TABLE identities (
    identity BLOB PRIMARY KEY CHECK (length(identity) = 32),
    account BLOB NOT NULL REFERENCES accounts(id),
    since INTEGER NOT NULL,
    retired INTEGER,
    revealed INTEGER NOT NULL DEFAULT 0 CHECK (revealed IN (0, 1))
);
CREATE INDEX identities_account ON identities (account);
-- Until now every freeze came from evidence against the account's identity.
INSERT INTO identities (identity, account, since, retired, revealed)
    SELECT public_key, id, registered, NULL, frozen FROM accounts WHERE kind = 0;
-- account_events: each account's history (registered, frozen, unfrozen,
-- re-keyed, authentication key rotated), with the time and the reason.
CREATE TABLE account_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account BLOB NOT NULL REFERENCES accounts(id),
    at INTEGER NOT NULL,
    kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 4),
    reason TEXT NOT NULL
);
CREATE INDEX account_events_account ON account_events (account, seq);
-- reservations: holds on a balance for the sessions of one withdrawal;
-- active while released = 0 and expires > now; drawn never exceeds amount.
CREATE TABLE reservations (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    account BLOB NOT NULL REFERENCES accounts(id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    drawn INTEGER NOT NULL CHECK (drawn >= 0 AND drawn <= amount),
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    released INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1))
);
CREATE INDEX reservations_active ON reservations (account, expires) WHERE released = 0;
-- sessions.reservation: the reservation a session draws on (NULL: none);
-- sessions.identity: the I its pi_W was verified against.
ALTER TABLE sessions ADD COLUMN reservation BLOB CHECK (reservation IS NULL OR length(reservation) = 16);
ALTER TABLE sessions ADD COLUMN identity BLOB CHECK (identity IS NULL OR length(identity) = 32);
UPDATE sessions SET identity = (SELECT public_key FROM accounts WHERE accounts.id = sessions.account);
-- account_requests: account requests that are not idempotent by
-- themselves, with the digest and the answer; (account, request_id) once.
CREATE TABLE account_requests (
    account BLOB NOT NULL REFERENCES accounts(id),
    request_id BLOB NOT NULL CHECK (length(request_id) = 16),
    digest BLOB NOT NULL CHECK (length(digest) = 32),
    answer BLOB NOT NULL,
    PRIMARY KEY (account, request_id)
);
"#,
    r#"
-- 0004: double-spending evidence is stored once per coin (a re-deposit of a
-- double spent payment adds nothing); its id, growing in commit order, is
-- the cursor of the evidence list. Receipts are now signed and carry one
-- outcome per payment: receipts stored in the earlier form are dropped (a
-- replay of such a request is then answered anew: its coins are spent, so
-- duplicates, no credit).
DELETE FROM evidence WHERE id NOT IN (SELECT min(id) FROM evidence GROUP BY coin_id);
CREATE UNIQUE INDEX evidence_coin ON evidence (coin_id);
DELETE FROM deposit_receipts;
"#,
    r#"
-- 0005: payee refusals the bank holds, once per payment digest: with the
-- reclaim that credited the payer (broken = 0), or as proof that the payee
-- deposited the payment it had refused (broken = 1).
CREATE TABLE refusal_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_digest BLOB NOT NULL UNIQUE CHECK (length(payment_digest) = 32),
    broken INTEGER NOT NULL CHECK (broken IN (0, 1)),
    body BLOB NOT NULL
);
CREATE INDEX refusal_records_broken ON refusal_records (seq) WHERE broken = 1;
"#,
    r#"
-- 0006: an account's sessions in session-id order, the pages of its
-- withdrawal listing (specs/protocol.md §7.3, list-withdrawals).
CREATE INDEX sessions_account ON sessions (account, id);
"#,
    r#"
-- 0007: spent lists (specs/protocol.md §7.7). spent_coins.keyset: the
-- coin's keyset (with value, its denomination key); rows recorded before
-- are filled from their stored payment when the store is opened
-- (fill_spent_keysets). spent_coins.published: the publication sequence
-- that put the row on the lists (NULL until published). meta
-- spent_sequence / spent_published_at: the last publication.
ALTER TABLE spent_coins ADD COLUMN keyset BLOB CHECK (keyset IS NULL OR length(keyset) = 32);
ALTER TABLE spent_coins ADD COLUMN published INTEGER CHECK (published IS NULL OR published > 0);
CREATE INDEX spent_coins_list ON spent_coins (keyset, value, coin_id);
CREATE INDEX spent_coins_unpublished ON spent_coins (coin_id) WHERE published IS NULL;
INSERT INTO meta (key, value) VALUES ('spent_sequence', 0), ('spent_published_at', 0);
"#,
];

/// Fills the keyset of spent-coin records made before records carried it
/// (bank migration 0007), from the coin in their stored payment.
fn fill_spent_keysets(conn: &Connection) -> StoreResult<()> {
    let rows: Vec<(Vec<u8>, i64, Vec<u8>)> = {
        let mut st = conn
            .prepare(
                "SELECT s.coin_id, s.coin_index, p.body FROM spent_coins s
                 JOIN payments p ON p.digest = s.payment_digest WHERE s.keyset IS NULL",
            )
            .map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    for (coin_id, index, body) in rows {
        let keyset = super::keyset_of_spent(&dec(&body)?, index)?;
        conn.execute(
            "UPDATE spent_coins SET keyset = ?1 WHERE coin_id = ?2",
            params![keyset.0.as_slice(), coin_id],
        )
        .map_err(db)?;
    }
    Ok(())
}

/// The bank's state in a SQLite database.
pub struct SqliteBankStore {
    conn: Mutex<Connection>,
}

impl SqliteBankStore {
    /// Opens the store at `path`, which must exist: a missing, empty or
    /// damaged file is refused (`StoreError::Corrupt`) rather than replaced by
    /// a new, empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> StoreResult<Self> {
        let conn = open_existing_db(path.as_ref(), "bank", BANK_MIGRATIONS)?;
        fill_spent_keysets(&conn)?;
        Ok(SqliteBankStore { conn: Mutex::new(conn) })
    }

    /// Opens or creates the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let conn = open_db(path.as_ref(), "bank", BANK_MIGRATIONS)?;
        fill_spent_keysets(&conn)?;
        Ok(SqliteBankStore { conn: Mutex::new(conn) })
    }
}

impl BankStore for SqliteBankStore {
    fn begin(&self) -> StoreResult<Box<dyn BankTx + '_>> {
        let conn = lock(&self.conn)?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        Ok(Box::new(SqliteBankTx { conn, done: false }))
    }
}

struct SqliteBankTx<'a> {
    conn: MutexGuard<'a, Connection>,
    done: bool,
}

impl Drop for SqliteBankTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn identity_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn reservation_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReservationRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl SqliteBankTx<'_> {
    /// `UPDATE accounts SET <set> WHERE id = ?1` with `?2 = value`; not
    /// found when no account has the id.
    fn update_account(
        &mut self,
        set: &str,
        id: &AccountId,
        value: rusqlite::types::Value,
    ) -> StoreResult<()> {
        let n = self
            .conn
            .prepare_cached(&format!("UPDATE accounts SET {set} WHERE id = ?1"))
            .map_err(db)?
            .execute(params![id.as_bytes().as_slice(), value])
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }
}

const SESSION_COLUMNS: &str = "record, state, opened, expires, epoch, signer, answer, answered_at, identity";
const ACCOUNT_COLUMNS: &str = "id, kind, public_key, balance, frozen, registered, auth_key";
const RESERVATION_COLUMNS: &str = "id, account, amount, drawn, created, expires, released";

impl BankTx for SqliteBankTx<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.conn.execute_batch("COMMIT").map_err(db)?;
        self.done = true;
        Ok(())
    }

    fn session_epoch(&mut self) -> StoreResult<u64> {
        let v: i64 = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'session_epoch'", [], |r| r.get(0))
            .map_err(db)?;
        to_u64(v)
    }

    fn bump_session_epoch(&mut self) -> StoreResult<u64> {
        self.conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'session_epoch'", []).map_err(db)?;
        self.session_epoch()
    }

    fn insert_keyset(&mut self, keyset: &SignedKeyset) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO keysets (sequence, keyset_id, body) VALUES (?1, ?2, ?3)",
                params![
                    to_i64(keyset.document.sequence)?,
                    keyset.document.id().as_bytes().as_slice(),
                    enc(keyset)
                ],
            )
            .map_err(db_unique("keyset sequence"))?;
        Ok(())
    }

    fn keysets(&mut self) -> StoreResult<Vec<SignedKeyset>> {
        let mut st = self.conn.prepare_cached("SELECT body FROM keysets ORDER BY sequence").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }

    fn insert_account(&mut self, a: &Account) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO accounts (id, kind, public_key, balance, frozen, registered, auth_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.id.as_bytes().as_slice(),
                    kind_code(a.kind),
                    a.public_key.as_bytes().as_slice(),
                    to_i64(a.balance)?,
                    a.frozen,
                    i64::from(a.registered.0),
                    a.auth_key.map(|k| k.as_bytes().to_vec())
                ],
            )
            .map_err(db_unique("account"))?;
        Ok(())
    }

    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))
            .map_err(db)?
            .query_row([id.as_bytes().as_slice()], account_from_row)
            .optional()
            .map_err(db)?;
        row.map(account_from_parts).transpose()
    }

    fn set_balance(&mut self, id: &AccountId, balance: u64) -> StoreResult<()> {
        self.update_account("balance = ?2", id, rusqlite::types::Value::Integer(to_i64(balance)?))
    }

    fn freeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        self.update_account("frozen = ?2", id, rusqlite::types::Value::Integer(1))
    }

    fn unfreeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        self.update_account("frozen = ?2", id, rusqlite::types::Value::Integer(0))
    }

    fn set_auth_key(&mut self, id: &AccountId, key: &Point) -> StoreResult<()> {
        self.update_account("auth_key = ?2", id, rusqlite::types::Value::Blob(key.as_bytes().to_vec()))
    }

    fn set_identity(&mut self, id: &AccountId, identity: &Point) -> StoreResult<()> {
        self.update_account("public_key = ?2", id, rusqlite::types::Value::Blob(identity.as_bytes().to_vec()))
    }

    fn insert_identity(&mut self, r: &IdentityRecord) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO identities (identity, account, since, retired, revealed) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.identity.as_bytes().as_slice(),
                    r.account.as_bytes().as_slice(),
                    i64::from(r.since.0),
                    r.retired.map(|d| i64::from(d.0)),
                    r.revealed
                ],
            )
            .map_err(db_unique("identity"))?;
        Ok(())
    }

    fn identity(&mut self, identity: &Point) -> StoreResult<Option<IdentityRecord>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT identity, account, since, retired, revealed FROM identities WHERE identity = ?1",
            )
            .map_err(db)?
            .query_row([identity.as_bytes().as_slice()], identity_from_row)
            .optional()
            .map_err(db)?;
        row.map(identity_from_parts).transpose()
    }

    fn update_identity(&mut self, r: &IdentityRecord) -> StoreResult<()> {
        let n = self
            .conn
            .execute(
                "UPDATE identities SET account = ?2, since = ?3, retired = ?4, revealed = ?5 WHERE identity = ?1",
                params![
                    r.identity.as_bytes().as_slice(),
                    r.account.as_bytes().as_slice(),
                    i64::from(r.since.0),
                    r.retired.map(|d| i64::from(d.0)),
                    r.revealed
                ],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("identity"));
        }
        Ok(())
    }

    fn insert_account_event(&mut self, account: &AccountId, e: &AccountEvent) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO account_events (account, at, kind, reason) VALUES (?1, ?2, ?3, ?4)",
                params![account.as_bytes().as_slice(), to_i64(e.at.0)?, event_kind_code(e.kind), e.reason],
            )
            .map_err(db)?;
        Ok(())
    }

    fn account_events(&mut self, account: &AccountId) -> StoreResult<Vec<AccountEvent>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT account, at, kind, reason FROM account_events WHERE account = ?1 ORDER BY seq",
            )
            .map_err(db)?;
        let rows = st.query_map([account.as_bytes().as_slice()], event_from_row).map_err(db)?;
        rows.map(|r| event_from_parts(r.map_err(db)?).map(|(_, e)| e)).collect()
    }

    fn recent_account_events(&mut self, limit: usize) -> StoreResult<Vec<(AccountId, AccountEvent)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT account, at, kind, reason FROM
                 (SELECT seq, account, at, kind, reason FROM account_events ORDER BY seq DESC LIMIT ?1)
                 ORDER BY seq",
            )
            .map_err(db)?;
        let rows = st.query_map([to_i64(limit as u64)?], event_from_row).map_err(db)?;
        rows.map(|r| event_from_parts(r.map_err(db)?)).collect()
    }

    fn insert_reservation(&mut self, r: &Reservation) -> StoreResult<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT INTO reservations ({RESERVATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    r.id.as_bytes().as_slice(),
                    r.account.as_bytes().as_slice(),
                    to_i64(r.amount)?,
                    to_i64(r.drawn)?,
                    to_i64(r.created.0)?,
                    to_i64(r.expires.0)?,
                    r.released
                ],
            )
            .map_err(db_unique("reservation"))?;
        Ok(())
    }

    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<Reservation>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ?1"))
            .map_err(db)?
            .query_row([id.as_bytes().as_slice()], reservation_from_row)
            .optional()
            .map_err(db)?;
        row.map(reservation_from_parts).transpose()
    }

    fn update_reservation(&mut self, r: &Reservation) -> StoreResult<()> {
        let n = self
            .conn
            .execute(
                "UPDATE reservations SET drawn = ?2, expires = ?3, released = ?4 WHERE id = ?1",
                params![r.id.as_bytes().as_slice(), to_i64(r.drawn)?, to_i64(r.expires.0)?, r.released],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("reservation"));
        }
        Ok(())
    }

    fn active_reservations(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<Reservation>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations
                 WHERE account = ?1 AND released = 0 AND expires > ?2 ORDER BY created, id"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(params![account.as_bytes().as_slice(), to_i64(now.0)?], reservation_from_row)
            .map_err(db)?;
        rows.map(|r| reservation_from_parts(r.map_err(db)?)).collect()
    }

    fn account_request(
        &mut self,
        account: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<AccountRequestRecord>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT digest, answer FROM account_requests WHERE account = ?1 AND request_id = ?2",
            )
            .map_err(db)?
            .query_row(params![account.as_bytes().as_slice(), request_id.as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)?;
        row.map(|(d, a)| {
            Ok(AccountRequestRecord {
                account: *account,
                request_id: *request_id,
                digest: arr(d)?,
                answer: a,
            })
        })
        .transpose()
    }

    fn insert_account_request(&mut self, r: &AccountRequestRecord) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO account_requests (account, request_id, digest, answer) VALUES (?1, ?2, ?3, ?4)",
                params![
                    r.account.as_bytes().as_slice(),
                    r.request_id.as_slice(),
                    r.digest.as_slice(),
                    r.answer.as_slice()
                ],
            )
            .map_err(db_unique("account request"))?;
        Ok(())
    }

    fn accounts(&mut self) -> StoreResult<Vec<Account>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"))
            .map_err(db)?;
        let rows = st.query_map([], account_from_row).map_err(db)?;
        rows.map(|r| account_from_parts(r.map_err(db)?)).collect()
    }

    fn insert_session(&mut self, s: &WithdrawSession) -> StoreResult<()> {
        let (record, (state, signer, answer, at)) = session_columns(s)?;
        let exists: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
                [s.id().as_bytes().as_slice()],
                |r| r.get(0),
            )
            .map_err(db)?;
        if exists {
            return Err(StoreError::Conflict("session"));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (id, account, commitment, state, opened, expires, epoch, record, signer, answer, answered_at, reservation, identity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(db)?
            .execute(params![
                s.id().as_bytes().as_slice(),
                s.request.account.as_bytes().as_slice(),
                s.request.commitment.as_bytes().as_slice(),
                state,
                to_i64(s.opened.0)?,
                to_i64(s.expires.0)?,
                to_i64(s.epoch)?,
                record,
                signer,
                answer,
                at,
                s.request.reservation.map(|r| r.0.to_vec()),
                s.identity.as_bytes().as_slice()
            ])
            .map_err(db_unique("attribute commitment"))?;
        Ok(())
    }

    fn session(&mut self, id: &SessionId) -> StoreResult<Option<WithdrawSession>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"))
            .map_err(db)?
            .query_row([id.as_bytes().as_slice()], session_from_row)
            .optional()
            .map_err(db)?;
        row.map(session_from_parts).transpose()
    }

    fn commitment_used(&mut self, c: &Point) -> StoreResult<bool> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE commitment = ?1)")
            .map_err(db)?
            .query_row([c.as_bytes().as_slice()], |r| r.get(0))
            .map_err(db)
    }

    fn open_sessions(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<usize> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM sessions WHERE account = ?1 AND state = 0 AND expires > ?2")
            .map_err(db)?
            .query_row(params![account.as_bytes().as_slice(), to_i64(now.0)?], |r| r.get(0))
            .map_err(db)?;
        Ok(n as usize)
    }

    fn open_sessions_of(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<WithdrawSession>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE account = ?1 AND state = 0 AND expires > ?2
                 ORDER BY opened, id"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(params![account.as_bytes().as_slice(), to_i64(now.0)?], session_from_row)
            .map_err(db)?;
        rows.map(|r| session_from_parts(r.map_err(db)?)).collect()
    }

    fn end_session(&mut self, id: &SessionId) -> StoreResult<()> {
        let n = self
            .conn
            .execute(
                "UPDATE sessions SET state = 2, signer = NULL WHERE id = ?1 AND state = 0",
                [id.as_bytes().as_slice()],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("open session"));
        }
        Ok(())
    }

    fn answer_session(
        &mut self,
        id: &SessionId,
        answered: &AnsweredSession,
        at: Timestamp,
    ) -> StoreResult<()> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE sessions SET state = 1, signer = NULL, answer = ?2, answered_at = ?3 WHERE id = ?1 AND state = 0",
            )
            .map_err(db)?
            .execute(params![id.as_bytes().as_slice(), enc(answered), to_i64(at.0)?])
            .map_err(db)?;
        match n {
            1 => Ok(()),
            _ => match self.session(id)? {
                None => Err(StoreError::NotFound("session")),
                Some(_) => Err(StoreError::Conflict("session answer")),
            },
        }
    }

    fn expire_sessions(&mut self, now: Timestamp) -> StoreResult<usize> {
        self.conn
            .execute(
                "UPDATE sessions SET state = 2, signer = NULL WHERE state = 0 AND expires <= ?1",
                [to_i64(now.0)?],
            )
            .map_err(db)
    }

    fn withdrawal_records(&mut self) -> StoreResult<Vec<WithdrawSession>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE state = 1 ORDER BY opened, id"
            ))
            .map_err(db)?;
        let rows = st.query_map([], session_from_row).map_err(db)?;
        rows.map(|r| session_from_parts(r.map_err(db)?)).collect()
    }

    fn sessions_of(
        &mut self,
        account: &AccountId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<WithdrawSession>> {
        let after: &[u8] = after.map_or(&[], |a| a.as_bytes().as_slice());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(params![account.as_bytes().as_slice(), after, limit], session_from_row)
            .map_err(db)?;
        rows.map(|r| session_from_parts(r.map_err(db)?)).collect()
    }

    fn spent_coin(&mut self, id: &CoinId) -> StoreResult<Option<SpentCoin>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {SPENT_COLUMNS} FROM spent_coins WHERE coin_id = ?1"))
            .map_err(db)?
            .query_row([id.as_bytes().as_slice()], spent_columns)
            .optional()
            .map_err(db)?;
        row.map(spent_from_parts).transpose()
    }

    fn insert_spent_coins(
        &mut self,
        payments: &[([u8; 32], &Payment)],
        coins: &[SpentCoin],
    ) -> StoreResult<Vec<SpendOutcome>> {
        insert_spent_coins_in_order(self, payments, coins, |tx, c| {
            tx.conn
                .prepare_cached(
                    &format!("INSERT INTO spent_coins ({SPENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                )
                .map_err(db)?
                .execute(params![
                    c.coin_id.as_bytes().as_slice(),
                    c.serial.as_bytes().as_slice(),
                    c.challenge.as_bytes().as_slice(),
                    c.merchant.as_bytes().as_slice(),
                    i64::from(c.day.0),
                    i64::from(c.receipt_day.0),
                    c.payment_digest.as_slice(),
                    i64::from(c.coin_index),
                    to_i64(c.value)?,
                    i64::from(c.prune_after.0),
                    c.keyset.0.as_slice()
                ])
                .map_err(db_unique("spent coin"))?;
            Ok(())
        })
    }

    fn insert_payment(&mut self, digest: &[u8; 32], payment: &Payment) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO payments (digest, body) VALUES (?1, ?2)")
            .map_err(db)?
            .execute(params![digest.as_slice(), enc(payment)])
            .map_err(db)?;
        Ok(())
    }

    fn payment(&mut self, digest: &[u8; 32]) -> StoreResult<Option<Payment>> {
        let row: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT body FROM payments WHERE digest = ?1")
            .map_err(db)?
            .query_row([digest.as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        row.map(|b| dec(&b)).transpose()
    }

    fn prune_spent_coins(&mut self, today: Day) -> StoreResult<usize> {
        let n = self
            .conn
            .execute("DELETE FROM spent_coins WHERE prune_after < ?1", [i64::from(today.0)])
            .map_err(db)?;
        self.conn
            .execute(
                "DELETE FROM payments WHERE NOT EXISTS (SELECT 1 FROM spent_coins s WHERE s.payment_digest = payments.digest)",
                [],
            )
            .map_err(db)?;
        Ok(n)
    }

    fn spent_coin_count(&mut self) -> StoreResult<u64> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM spent_coins", [], |r| r.get(0)).map_err(db)?;
        to_u64(n)
    }

    fn spent_coins(&mut self, merchant: Option<&AccountId>, limit: usize) -> StoreResult<Vec<SpentCoin>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SPENT_COLUMNS} FROM spent_coins WHERE ?1 IS NULL OR merchant = ?1
                     ORDER BY receipt_day DESC, coin_id LIMIT ?2"
            ))
            .map_err(db)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![merchant.map(|m| m.as_bytes().to_vec()), limit], spent_columns)
            .map_err(db)?;
        rows.map(|r| spent_from_parts(r.map_err(db)?)).collect()
    }

    fn spent_publication(&mut self) -> StoreResult<SpentPublication> {
        read_spent_publication(&self.conn)
    }

    fn publish_spent(&mut self, now: Timestamp) -> StoreResult<SpentPublication> {
        // One writer at a time (BEGIN IMMEDIATE): every row committed before
        // is seen, none is being inserted meanwhile.
        let last = read_spent_publication(&self.conn)?;
        let pending: bool = self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM spent_coins WHERE published IS NULL)", [], |r| r.get(0))
            .map_err(db)?;
        if !pending {
            return Ok(last);
        }
        let next = last.sequence + 1;
        self.conn
            .execute("UPDATE spent_coins SET published = ?1 WHERE published IS NULL", [to_i64(next)?])
            .map_err(db)?;
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'spent_sequence'", [to_i64(next)?])
            .map_err(db)?;
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'spent_published_at'", [to_i64(now.0)?])
            .map_err(db)?;
        Ok(SpentPublication { sequence: next, at: now })
    }

    fn spent_list(
        &mut self,
        keyset: &KeysetId,
        value: u64,
        sequence: u64,
        offset: u64,
        limit: usize,
    ) -> StoreResult<(u64, Vec<(CoinId, u64)>)> {
        let (value, sequence) = (to_i64(value)?, to_i64(sequence)?);
        let total: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM spent_coins WHERE keyset = ?1 AND value = ?2 AND published <= ?3",
            )
            .map_err(db)?
            .query_row(params![keyset.0.as_slice(), value, sequence], |r| r.get(0))
            .map_err(db)?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT coin_id, published FROM spent_coins WHERE keyset = ?1 AND value = ?2 AND published <= ?3
                 ORDER BY coin_id LIMIT ?4 OFFSET ?5",
            )
            .map_err(db)?;
        let (limit, offset) = (i64::try_from(limit).unwrap_or(i64::MAX), to_i64(offset)?);
        let rows = st
            .query_map(params![keyset.0.as_slice(), value, sequence, limit, offset], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(db)?;
        let entries = rows
            .map(|r| {
                let (id, published) = r.map_err(db)?;
                Ok((CoinId(arr(id)?), to_u64(published)?))
            })
            .collect::<StoreResult<_>>()?;
        Ok((to_u64(total)?, entries))
    }

    fn spent_published(&mut self, ids: &[CoinId]) -> StoreResult<Vec<Option<Option<u64>>>> {
        let mut st =
            self.conn.prepare_cached("SELECT published FROM spent_coins WHERE coin_id = ?1").map_err(db)?;
        ids.iter()
            .map(|id| {
                let row: Option<Option<i64>> =
                    st.query_row([id.as_bytes().as_slice()], |r| r.get(0)).optional().map_err(db)?;
                row.map(|p| p.map(to_u64).transpose()).transpose()
            })
            .collect()
    }

    fn deposit_receipt(
        &mut self,
        merchant: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<([u8; 32], DepositReceipt)>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT digest, body FROM deposit_receipts WHERE merchant = ?1 AND request_id = ?2",
            )
            .map_err(db)?
            .query_row(params![merchant.as_bytes().as_slice(), request_id.as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)?;
        row.map(|(d, b)| Ok((arr(d)?, dec(&b)?))).transpose()
    }

    fn insert_deposit_receipt(&mut self, digest: &[u8; 32], receipt: &DepositReceipt) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO deposit_receipts (merchant, request_id, digest, body) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db)?
            .execute(params![
                receipt.merchant_id.as_bytes().as_slice(),
                receipt.request_id.as_slice(),
                digest.as_slice(),
                enc(receipt)
            ])
            .map_err(db_unique("deposit request"))?;
        Ok(())
    }

    fn insert_evidence(&mut self, e: &EvidenceRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT INTO evidence (coin_id, account, recorded, body) VALUES (?1, ?2, ?3, ?4)")
            .map_err(db)?
            .execute(params![
                e.evidence.coin_id.as_bytes().as_slice(),
                e.account.map(|a| a.0.to_vec()),
                i64::from(e.recorded.0),
                enc(e)
            ])
            .map_err(db_unique("evidence"))?;
        Ok(())
    }

    fn evidence_of(&mut self, coin: &CoinId) -> StoreResult<Option<EvidenceRecord>> {
        let row: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT body FROM evidence WHERE coin_id = ?1")
            .map_err(db)?
            .query_row([coin.as_bytes().as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        row.map(|b| dec(&b)).transpose()
    }

    fn evidence_after(&mut self, after: u64, limit: usize) -> StoreResult<Vec<StoredEvidence>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, body FROM evidence WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(db)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![after, limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(db)?;
        rows.map(|r| {
            let (seq, body) = r.map_err(db)?;
            Ok(StoredEvidence { seq: to_u64(seq)?, record: dec(&body)? })
        })
        .collect()
    }

    fn evidence_count(&mut self) -> StoreResult<u64> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM evidence", [], |r| r.get(0)).map_err(db)?;
        to_u64(n)
    }

    fn insert_refusal_record(&mut self, r: &RefusalRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT INTO refusal_records (payment_digest, broken, body) VALUES (?1, ?2, ?3)")
            .map_err(db)?
            .execute(params![r.payment_digest.as_slice(), r.broken as i64, enc(r)])
            .map_err(db_unique("refusal record"))?;
        Ok(())
    }

    fn refusal_record(&mut self, payment_digest: &[u8; 32]) -> StoreResult<Option<RefusalRecord>> {
        let body: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT body FROM refusal_records WHERE payment_digest = ?1")
            .map_err(db)?
            .query_row([payment_digest.as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        body.map(|b| dec(&b)).transpose()
    }

    fn broken_refusals(&mut self) -> StoreResult<Vec<RefusalRecord>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT body FROM refusal_records WHERE broken = 1 ORDER BY seq")
            .map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|b| dec(&b.map_err(db)?)).collect()
    }

    fn watch_serial(&mut self, serial: &Point, case: &str) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO watch_list (serial, case_id) VALUES (?1, ?2)
                 ON CONFLICT (serial) DO UPDATE SET case_id = excluded.case_id",
                params![serial.as_bytes().as_slice(), case],
            )
            .map_err(db)?;
        Ok(())
    }

    fn watched_serial(&mut self, serial: &Point) -> StoreResult<Option<String>> {
        self.conn
            .prepare_cached("SELECT case_id FROM watch_list WHERE serial = ?1")
            .map_err(db)?
            .query_row([serial.as_bytes().as_slice()], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn watch_list(&mut self) -> StoreResult<Vec<(Point, String)>> {
        let mut st =
            self.conn.prepare_cached("SELECT serial, case_id FROM watch_list ORDER BY serial").map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))).map_err(db)?;
        rows.map(|r| {
            let (s, c) = r.map_err(db)?;
            let p = Point::from_bytes(&arr(s)?).ok_or_else(|| StoreError::Corrupt("serial".into()))?;
            Ok((p, c))
        })
        .collect()
    }
}

// ---------------------------------------------------------------------------
// Wallet
// ---------------------------------------------------------------------------

/// The wallet schema: its own tables (0001, 0002), then the merchant
/// schema's migrations in order (0003–0005 are merchant 0001–0003), so the
/// wallet's payee state ([`WalletStore::payee`]) has the very tables that
/// [`SqliteMerchantStore`] reads and writes. A new merchant migration is
/// appended here too.
pub const WALLET_MIGRATIONS: &[&str] = &[
    r#"
-- 0001: a wallet. Holds secrets: the file is created with mode 0600.
-- pending: withdrawals in progress (stored before the challenge leaves).
CREATE TABLE pending (
    session_id BLOB PRIMARY KEY CHECK (length(session_id) = 16),
    body BLOB NOT NULL
);
-- coins: withdrawn coins with their secrets; spent_in is set (to the
-- payment request id) before a payment leaves the wallet.
CREATE TABLE coins (
    coin_id BLOB PRIMARY KEY CHECK (length(coin_id) = 32),
    value INTEGER NOT NULL,
    body BLOB NOT NULL,
    spent_in BLOB CHECK (spent_in IS NULL OR length(spent_in) = 32)
);
-- payments: payments made, by request id (a retry hands out the same one).
CREATE TABLE payments (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 32),
    body BLOB NOT NULL
);
"#,
    r#"
-- 0002: withdrawal plans: the signed reservation request of a withdrawal
-- of several coins, stored before it is sent, removed when the withdrawal
-- is complete or released.
CREATE TABLE plans (
    reservation BLOB PRIMARY KEY CHECK (length(reservation) = 16),
    body BLOB NOT NULL
);
"#,
    MERCHANT_0001,
    MERCHANT_0002,
    MERCHANT_0003,
    r#"
-- 0006: exchanges in progress, by the id of their payment request to the
-- wallet's own account; removed once their withdrawal plan is stored.
CREATE TABLE exchanges (
    id BLOB PRIMARY KEY CHECK (length(id) = 32),
    body BLOB NOT NULL
);
"#,
    r#"
-- 0007: withdrawal counters (specs/protocol.md §7.6): the next counter of
-- each keyset; a counter is burned (next raised) before its request leaves.
CREATE TABLE counters (
    keyset BLOB PRIMARY KEY CHECK (length(keyset) = 32),
    next INTEGER NOT NULL CHECK (next >= 1)
);
"#,
    // 0008: requests closed by a signed refusal (the payee state).
    MERCHANT_0004,
    r#"
-- 0009: the first counter of a keyset not used yet (specs/protocol.md §7.6,
-- item 7): 0, raised by a restore from a backup file, so that the restored
-- wallet never reuses a counter the lost one burned after the backup.
CREATE TABLE counter_floor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    floor INTEGER NOT NULL CHECK (floor >= 0)
);
INSERT INTO counter_floor (id, floor) VALUES (1, 0);
"#,
    r#"
-- 0010: reclaims of refused payments (specs/protocol.md §8.6), stored
-- before they are sent, removed when a verified receipt settles them.
CREATE TABLE reclaims (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),
    body BLOB NOT NULL
);
"#,
    r#"
-- 0011: the bank's unspent statements that settled a restore's coins
-- (specs/protocol.md §7.7), by the digest of the query they answer: stored
-- with the coins, before any of them is spent; exchanged = 1 once every
-- coin it states unspent was handed to an exchange.
CREATE TABLE spent_statements (
    request BLOB PRIMARY KEY CHECK (length(request) = 32),
    body BLOB NOT NULL,
    exchanged INTEGER NOT NULL DEFAULT 0 CHECK (exchanged IN (0, 1))
);
"#,
];

/// A wallet's state in a SQLite database; its payee state
/// ([`WalletStore::payee`]) lives in the same database.
pub struct SqliteWalletStore {
    conn: Arc<Mutex<Connection>>,
    payee: SqliteMerchantStore,
}

impl SqliteWalletStore {
    /// Opens the store at `path`, which must exist: a missing, empty or
    /// damaged file is refused (`StoreError::Corrupt`) rather than replaced by
    /// a new, empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(Self::on(open_existing_db(path.as_ref(), "wallet", WALLET_MIGRATIONS)?))
    }

    /// Opens or creates the database at `path` (mode 0600).
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(Self::on(open_db(path.as_ref(), "wallet", WALLET_MIGRATIONS)?))
    }

    /// An image of the whole database (the payee state included), taken in
    /// one read, for a backup file (specs/protocol.md §7.6, item 7); wiped
    /// on drop.
    pub fn image(&self) -> StoreResult<Zeroizing<Vec<u8>>> {
        let conn = lock(&self.conn)?;
        let data = conn.serialize(rusqlite::MAIN_DB).map_err(db)?;
        Ok(Zeroizing::new(data.to_vec()))
    }

    /// Creates the store at `path`, which must not exist, from an
    /// [`image`](Self::image) (mode 0600), brings it to the current
    /// schema, and moves every withdrawal counter, and the first counter
    /// of every keyset not used yet, `skip` ahead: a counter the wallet
    /// burned after the image was taken is never handed out again (as long
    /// as it burned fewer than `skip` per keyset since).
    pub fn restore_image(path: impl AsRef<Path>, image: &[u8], skip: u64) -> StoreResult<Self> {
        let path = path.as_ref();
        let skip =
            i64::try_from(skip).map_err(|_| StoreError::Corrupt("counter skip out of range".into()))?;
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f =
                opts.open(path).map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
            f.write_all(image)
                .and_then(|()| f.sync_all())
                .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        }
        let store = Self::open_existing(path)?;
        {
            let mut conn = lock(&store.conn)?;
            let tx = immediate(&mut conn)?;
            tx.execute("UPDATE counters SET next = next + ?1", [skip]).map_err(db)?;
            tx.execute("UPDATE counter_floor SET floor = floor + ?1", [skip]).map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(store)
    }

    fn on(conn: Connection) -> Self {
        let conn = Arc::new(Mutex::new(conn));
        SqliteWalletStore { payee: SqliteMerchantStore { conn: conn.clone() }, conn }
    }
}

fn immediate(conn: &mut Connection) -> StoreResult<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)
}

/// Closes a payee's open payment request; whether it was open.
fn close_open_request(tx: &rusqlite::Transaction<'_>, request_id: &[u8; 32]) -> StoreResult<bool> {
    let n = tx
        .execute("UPDATE requests SET open = 0 WHERE request_id = ?1 AND open = 1", [request_id.as_slice()])
        .map_err(db)?;
    Ok(n == 1)
}

impl WalletStore for SqliteWalletStore {
    fn put_exchange(&self, exchange: &ExchangeRecord) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT INTO exchanges (id, body) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![exchange.id().as_slice(), enc(exchange)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn exchanges(&self) -> StoreResult<Vec<ExchangeRecord>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM exchanges ORDER BY id").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }

    fn drop_exchange(&self, id: &[u8; 32]) -> StoreResult<()> {
        lock(&self.conn)?.execute("DELETE FROM exchanges WHERE id = ?1", [id.as_slice()]).map_err(db)?;
        Ok(())
    }

    fn put_reclaim(&self, reclaim: &crate::protocol::reclaim::ReclaimRequest) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT INTO reclaims (request_id, body) VALUES (?1, ?2)
                 ON CONFLICT (request_id) DO UPDATE SET body = excluded.body",
                params![reclaim.request_id.as_slice(), enc(reclaim)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn reclaims(&self) -> StoreResult<Vec<crate::protocol::reclaim::ReclaimRequest>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM reclaims ORDER BY request_id").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }

    fn drop_reclaim(&self, request_id: &[u8; 16]) -> StoreResult<()> {
        lock(&self.conn)?
            .execute("DELETE FROM reclaims WHERE request_id = ?1", [request_id.as_slice()])
            .map_err(db)?;
        Ok(())
    }

    fn put_plan(&self, plan: &WithdrawalPlan) -> StoreResult<()> {
        let (id, _) = plan.reservation().ok_or(StoreError::Corrupt("plan without a reservation".into()))?;
        lock(&self.conn)?
            .execute(
                "INSERT INTO plans (reservation, body) VALUES (?1, ?2)
                 ON CONFLICT (reservation) DO UPDATE SET body = excluded.body",
                params![id.as_bytes().as_slice(), enc(plan)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn plans(&self) -> StoreResult<Vec<WithdrawalPlan>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM plans ORDER BY reservation").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| plan_record(&r.map_err(db)?)).collect()
    }

    fn drop_plan(&self, reservation: &ReservationId) -> StoreResult<()> {
        lock(&self.conn)?
            .execute("DELETE FROM plans WHERE reservation = ?1", [reservation.as_bytes().as_slice()])
            .map_err(db)?;
        Ok(())
    }

    fn put_pending(&self, entry: &PendingEntry) -> StoreResult<()> {
        let conn = lock(&self.conn)?;
        conn.execute(
            "INSERT INTO pending (session_id, body) VALUES (?1, ?2)
             ON CONFLICT (session_id) DO UPDATE SET body = excluded.body",
            params![entry.session_id().as_bytes().as_slice(), enc(entry)],
        )
        .map_err(db)?;
        Ok(())
    }

    fn pending(&self) -> StoreResult<Vec<PendingEntry>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM pending ORDER BY session_id").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }

    fn complete_withdrawal(&self, session: &SessionId, coin: &WalletCoin) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        tx.execute(
            "INSERT INTO coins (coin_id, value, body, spent_in) VALUES (?1, ?2, ?3, NULL)",
            params![coin.coin.id().as_bytes().as_slice(), to_i64(coin.value)?, enc(coin)],
        )
        .map_err(db_unique("coin"))?;
        tx.execute("DELETE FROM pending WHERE session_id = ?1", [session.as_bytes().as_slice()])
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn drop_pending(&self, session: &SessionId) -> StoreResult<()> {
        lock(&self.conn)?
            .execute("DELETE FROM pending WHERE session_id = ?1", [session.as_bytes().as_slice()])
            .map_err(db)?;
        Ok(())
    }

    fn coins(&self) -> StoreResult<Vec<StoredCoin>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body, spent_in FROM coins ORDER BY coin_id").map_err(db)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))
            .map_err(db)?;
        rows.map(|r| {
            let (body, spent) = r.map_err(db)?;
            Ok(StoredCoin { coin: dec(&body)?, spent_in: spent.map(arr).transpose()? })
        })
        .collect()
    }

    fn mark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        for id in coins {
            let n = tx
                .execute(
                    "UPDATE coins SET spent_in = ?2 WHERE coin_id = ?1 AND spent_in IS NULL",
                    params![id.as_bytes().as_slice(), request_id.as_slice()],
                )
                .map_err(db)?;
            if n != 1 {
                let exists: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM coins WHERE coin_id = ?1)",
                        [id.as_bytes().as_slice()],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                // Dropping `tx` rolls back the coins marked so far.
                return Err(if exists {
                    StoreError::Conflict("spent coin")
                } else {
                    StoreError::NotFound("coin")
                });
            }
        }
        tx.commit().map_err(db)
    }

    fn unmark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        let paid: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM payments WHERE request_id = ?1)",
                [request_id.as_slice()],
                |r| r.get(0),
            )
            .map_err(db)?;
        if paid {
            return Err(StoreError::Conflict("payment"));
        }
        for id in coins {
            tx.execute(
                "UPDATE coins SET spent_in = NULL WHERE coin_id = ?1 AND spent_in = ?2",
                params![id.as_bytes().as_slice(), request_id.as_slice()],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn record_payment(&self, request_id: &[u8; 32], payment: &Payment) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT OR REPLACE INTO payments (request_id, body) VALUES (?1, ?2)",
                params![request_id.as_slice(), enc(payment)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn payment(&self, request_id: &[u8; 32]) -> StoreResult<Option<Payment>> {
        let conn = lock(&self.conn)?;
        let row: Option<Vec<u8>> = conn
            .query_row("SELECT body FROM payments WHERE request_id = ?1", [request_id.as_slice()], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        row.map(|b| dec(&b)).transpose()
    }

    fn payee(&self) -> &(dyn MerchantStore + 'static) {
        &self.payee
    }

    fn burn_counter(&self, keyset: &KeysetId) -> StoreResult<u64> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        let next: i64 = tx
            .query_row(
                "INSERT INTO counters (keyset, next)
                 VALUES (?1, (SELECT floor FROM counter_floor WHERE id = 1) + 1)
                 ON CONFLICT (keyset) DO UPDATE SET next = next + 1
                 RETURNING next",
                [keyset.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        u64::try_from(next - 1).map_err(|_| StoreError::Corrupt("withdrawal counter out of range".into()))
    }

    fn raise_counter(&self, keyset: &KeysetId, next: u64) -> StoreResult<()> {
        let next =
            i64::try_from(next).map_err(|_| StoreError::Corrupt("withdrawal counter out of range".into()))?;
        lock(&self.conn)?
            .execute(
                "INSERT INTO counters (keyset, next) VALUES (?1, ?2)
                 ON CONFLICT (keyset) DO UPDATE SET next = max(next, excluded.next)",
                params![keyset.as_bytes().as_slice(), next],
            )
            .map_err(db)?;
        Ok(())
    }

    fn restore_coins(
        &self,
        held: &[WalletCoin],
        spent: &[WalletCoin],
        statement: Option<&crate::protocol::spent::UnspentStatement>,
    ) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        let marker = RESTORED_SPENT;
        for (coin, spent_in) in held.iter().map(|c| (c, None)).chain(spent.iter().map(|c| (c, Some(marker))))
        {
            tx.execute(
                "INSERT INTO coins (coin_id, value, body, spent_in) VALUES (?1, ?2, ?3, ?4)",
                params![
                    coin.coin.id().as_bytes().as_slice(),
                    to_i64(coin.value)?,
                    enc(coin),
                    spent_in.as_ref().map(|m| m.as_slice())
                ],
            )
            .map_err(db_unique("coin"))?;
        }
        if let Some(statement) = statement {
            tx.execute(
                "INSERT INTO spent_statements (request, body, exchanged) VALUES (?1, ?2, 0)",
                params![statement.request.as_slice(), crate::wire::WireMessage::to_bytes(statement)],
            )
            .map_err(db_unique("unspent statement"))?;
        }
        tx.commit().map_err(db)
    }

    fn spent_statements(&self) -> StoreResult<Vec<(crate::protocol::spent::UnspentStatement, bool)>> {
        let conn = lock(&self.conn)?;
        let mut st =
            conn.prepare("SELECT body, exchanged FROM spent_statements ORDER BY request").map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))).map_err(db)?;
        rows.map(|r| {
            let (body, exchanged) = r.map_err(db)?;
            let statement =
                <crate::protocol::spent::UnspentStatement as crate::wire::WireMessage>::from_bytes(&body)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((statement, exchanged == 1))
        })
        .collect()
    }

    fn statement_exchanged(&self, request: &[u8; 32]) -> StoreResult<()> {
        lock(&self.conn)?
            .execute("UPDATE spent_statements SET exchanged = 1 WHERE request = ?1", [request.as_slice()])
            .map_err(db)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Merchant
// ---------------------------------------------------------------------------

/// The merchant schema.
pub const MERCHANT_MIGRATIONS: &[&str] = &[MERCHANT_0001, MERCHANT_0002, MERCHANT_0003, MERCHANT_0004];

const MERCHANT_0001: &str = r#"
-- 0001: a merchant.
-- requests: issued payment requests; open = 1 until a payment answers it.
CREATE TABLE requests (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 32),
    body BLOB NOT NULL,
    open INTEGER NOT NULL CHECK (open IN (0, 1))
);
-- seen_coins: every coin this merchant accepted (a coin is accepted once).
CREATE TABLE seen_coins (coin_id BLOB PRIMARY KEY CHECK (length(coin_id) = 32));
-- accepted: accepted payments, with the bank's receipt once deposited.
CREATE TABLE accepted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    digest BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
    body BLOB NOT NULL,
    receipt BLOB
);
-- watch: the merchant's copy of the bank's coin-tracing watch list.
CREATE TABLE watch (serial BLOB PRIMARY KEY CHECK (length(serial) = 32));
"#;

const MERCHANT_0002: &str = r#"
-- 0002: the version of the watch list held (one row), so an older list is refused.
CREATE TABLE watch_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issued INTEGER NOT NULL CHECK (issued >= 0),
    sequence INTEGER NOT NULL CHECK (sequence >= 0),
    digest BLOB NOT NULL CHECK (length(digest) = 32)
);
"#;

const MERCHANT_0003: &str = r#"
-- 0003: deposits are kept. A deposit request is stored before it is sent
-- (in_flight = 1; at most one), so a retry after a lost receipt sends the
-- same bytes; its verified receipt is stored when recorded (in_flight NULL).
CREATE TABLE deposits (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),
    request BLOB NOT NULL,
    receipt BLOB,
    in_flight INTEGER UNIQUE CHECK (in_flight IS NULL OR in_flight = 1),
    CHECK ((in_flight IS NULL) = (receipt IS NOT NULL))
);
-- accepted payments: status 0 pending, 1 deposited, 2 refused (kept apart,
-- with the bank's reason); request_id names the deposit that settled it.
-- Receipts were kept per payment before: a payment that had one is
-- deposited, under the request id the receipt starts with (after its
-- record version byte).
ALTER TABLE accepted ADD COLUMN status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2));
ALTER TABLE accepted ADD COLUMN request_id BLOB CHECK (request_id IS NULL OR length(request_id) = 16);
ALTER TABLE accepted ADD COLUMN refusal BLOB;
UPDATE accepted SET status = 1, request_id = substr(receipt, 2, 16) WHERE receipt IS NOT NULL;
ALTER TABLE accepted DROP COLUMN receipt;
CREATE INDEX accepted_pending ON accepted (seq) WHERE status = 0;
"#;

const MERCHANT_0004: &str = r#"
-- 0004: requests closed by a signed refusal, with the digest of the payment
-- refused (a retry signs the refusal of that payment again, never another).
CREATE TABLE refused (
    request_id BLOB PRIMARY KEY CHECK (length(request_id) = 32),
    payment_digest BLOB NOT NULL CHECK (length(payment_digest) = 32)
);
"#;

/// A merchant's state in a SQLite database.
pub struct SqliteMerchantStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteMerchantStore {
    /// Opens the store at `path`, which must exist: a missing, empty or
    /// damaged file is refused (`StoreError::Corrupt`) rather than replaced by
    /// a new, empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(SqliteMerchantStore {
            conn: Arc::new(Mutex::new(open_existing_db(path.as_ref(), "merchant", MERCHANT_MIGRATIONS)?)),
        })
    }

    /// Opens or creates the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(SqliteMerchantStore {
            conn: Arc::new(Mutex::new(open_db(path.as_ref(), "merchant", MERCHANT_MIGRATIONS)?)),
        })
    }
}

impl SqliteMerchantStore {
    fn accepted(&self, filter: &str) -> StoreResult<Vec<AcceptedPayment>> {
        let conn = lock(&self.conn)?;
        let mut st = conn
            .prepare(&format!(
                "SELECT digest, body, status, request_id, refusal FROM accepted {filter} ORDER BY seq"
            ))
            .map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            })
            .map_err(db)?;
        rows.map(|r| {
            let (d, b, status, request_id, refusal) = r.map_err(db)?;
            let state = match (status, request_id, refusal) {
                (0, _, _) => PaymentState::Pending,
                (1, Some(id), None) => PaymentState::Deposited { request_id: arr(id)? },
                (2, Some(id), Some(r)) => PaymentState::Refused { request_id: arr(id)?, refusal: dec(&r)? },
                _ => return Err(StoreError::Corrupt("accepted payment state".into())),
            };
            Ok(AcceptedPayment { payment: dec(&b)?, digest: arr(d)?, state })
        })
        .collect()
    }
}

impl MerchantStore for SqliteMerchantStore {
    fn insert_request(&self, request: &PaymentRequest) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT INTO requests (request_id, body, open) VALUES (?1, ?2, 1)",
                params![request.id().as_slice(), enc(request)],
            )
            .map_err(db_unique("payment request"))?;
        Ok(())
    }

    fn open_request(&self, request_id: &[u8; 32]) -> StoreResult<Option<PaymentRequest>> {
        let conn = lock(&self.conn)?;
        let row: Option<Vec<u8>> = conn
            .query_row(
                "SELECT body FROM requests WHERE request_id = ?1 AND open = 1",
                [request_id.as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        row.map(|b| dec(&b)).transpose()
    }

    fn coin_seen(&self, coin: &CoinId) -> StoreResult<bool> {
        lock(&self.conn)?
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM seen_coins WHERE coin_id = ?1)",
                [coin.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .map_err(db)
    }

    fn accept_payment(&self, request_id: &[u8; 32], coins: &[CoinId], payment: &Payment) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        if !close_open_request(&tx, request_id)? {
            return Err(StoreError::NotFound("open payment request"));
        }
        for c in coins {
            tx.execute("INSERT INTO seen_coins (coin_id) VALUES (?1)", [c.as_bytes().as_slice()])
                .map_err(db_unique("seen coin"))?;
        }
        tx.execute(
            "INSERT INTO accepted (digest, body, status) VALUES (?1, ?2, 0)",
            params![payment.digest().as_slice(), enc(payment)],
        )
        .map_err(db_unique("accepted payment"))?;
        tx.commit().map_err(db)
    }

    fn refuse_payment(&self, request_id: &[u8; 32], payment_digest: &[u8; 32]) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        if close_open_request(&tx, request_id)? {
            tx.execute(
                "INSERT INTO refused (request_id, payment_digest) VALUES (?1, ?2)",
                params![request_id.as_slice(), payment_digest.as_slice()],
            )
            .map_err(db)?;
            return tx.commit().map_err(db);
        }
        let held: Option<Vec<u8>> = tx
            .query_row(
                "SELECT payment_digest FROM refused WHERE request_id = ?1",
                [request_id.as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        match held {
            Some(d) if d.as_slice() == payment_digest.as_slice() => Ok(()),
            _ => Err(StoreError::NotFound("open payment request")),
        }
    }

    fn payments(&self) -> StoreResult<Vec<AcceptedPayment>> {
        self.accepted("")
    }

    fn undeposited(&self) -> StoreResult<Vec<AcceptedPayment>> {
        self.accepted("WHERE status = 0")
    }

    fn begin_deposit(&self, request: &DepositRequest) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT INTO deposits (request_id, request, receipt, in_flight) VALUES (?1, ?2, NULL, 1)",
                params![request.request_id.as_slice(), enc(request)],
            )
            .map_err(db_unique("deposit in flight"))?;
        Ok(())
    }

    fn deposit_in_flight(&self) -> StoreResult<Option<DepositRequest>> {
        let conn = lock(&self.conn)?;
        let row: Option<Vec<u8>> = conn
            .query_row("SELECT request FROM deposits WHERE in_flight = 1", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        row.map(|b| dec(&b)).transpose()
    }

    fn record_receipt(&self, request: &DepositRequest, receipt: &DepositReceipt) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        for (digest, state) in settled_states(request, receipt) {
            let (status, refusal) = match state {
                None => continue,
                Some(PaymentState::Pending) => (0, None),
                Some(PaymentState::Deposited { .. }) => (1, None),
                Some(PaymentState::Refused { refusal, .. }) => (2, Some(enc(&refusal))),
            };
            tx.execute(
                "UPDATE accepted SET status = ?2, request_id = ?3, refusal = ?4 WHERE digest = ?1",
                params![digest.as_slice(), status, request.request_id.as_slice(), refusal],
            )
            .map_err(db)?;
        }
        tx.execute(
            "INSERT INTO deposits (request_id, request, receipt, in_flight) VALUES (?1, ?2, ?3, NULL)
             ON CONFLICT (request_id) DO UPDATE SET receipt = excluded.receipt, in_flight = NULL",
            params![request.request_id.as_slice(), enc(request), enc(receipt)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn receipt(&self, request_id: &[u8; 16]) -> StoreResult<Option<DepositReceipt>> {
        let conn = lock(&self.conn)?;
        let row: Option<Option<Vec<u8>>> = conn
            .query_row("SELECT receipt FROM deposits WHERE request_id = ?1", [request_id.as_slice()], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        row.flatten().map(|b| dec(&b)).transpose()
    }

    fn watch_list_version(&self) -> StoreResult<Option<WatchListVersion>> {
        let conn = lock(&self.conn)?;
        read_watch_version(&conn)
    }

    fn set_watch_list(&self, version: &WatchListVersion, serials: &[Point]) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        if read_watch_version(&tx)?.is_some_and(|held| super::watch_list_held_is_newer(&held, version)) {
            return Err(StoreError::Conflict("newer watch list"));
        }
        let as_i64 = |v: u64| i64::try_from(v).map_err(|_| StoreError::Backend("value out of range".into()));
        tx.execute(
            "INSERT INTO watch_version (id, issued, sequence, digest) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET issued = excluded.issued, sequence = excluded.sequence,
             digest = excluded.digest",
            params![as_i64(version.issued.0)?, as_i64(version.sequence)?, version.digest.as_slice()],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM watch", []).map_err(db)?;
        for s in serials {
            tx.execute("INSERT OR IGNORE INTO watch (serial) VALUES (?1)", [s.as_bytes().as_slice()])
                .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn serial_watched(&self, serial: &Point) -> StoreResult<bool> {
        lock(&self.conn)?
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM watch WHERE serial = ?1)",
                [serial.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .map_err(db)
    }
}

fn read_watch_version(conn: &Connection) -> StoreResult<Option<WatchListVersion>> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .query_row("SELECT issued, sequence, digest FROM watch_version WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(db)?;
    row.map(|(issued, sequence, digest)| {
        let n =
            |v: i64| u64::try_from(v).map_err(|_| StoreError::Corrupt("negative watch-list version".into()));
        Ok(WatchListVersion { issued: Timestamp(n(issued)?), sequence: n(sequence)?, digest: arr(digest)? })
    })
    .transpose()
}

// ---------------------------------------------------------------------------
// TTP log
// ---------------------------------------------------------------------------

/// The TTP log schema.
pub const TTP_MIGRATIONS: &[&str] = &[
    r#"
-- 0001: the TTP's hash-chained audit log; UNIQUE(warrant_id): a warrant is used once.
CREATE TABLE log (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0),
    warrant_id BLOB NOT NULL UNIQUE CHECK (length(warrant_id) = 16),
    body BLOB NOT NULL
);
"#,
    r#"
-- 0002 (trustees): aborted DKG ceremonies, in order.
CREATE TABLE dkg_aborts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL
);
"#,
    r#"
-- 0003 (trustees): FROST signing sessions, whose nonces are erased (set
-- NULL, overwritten under secure_delete) when taken: a session commits once
-- and signs once.
CREATE TABLE frost_sessions (
    session BLOB PRIMARY KEY CHECK (length(session) = 32),
    nonces BLOB
);
"#,
];

/// The TTP's audit log in a SQLite database (a trustee's too, with its
/// aborted ceremonies and signing sessions).
pub struct SqliteTtpStore {
    conn: Mutex<Connection>,
}

impl SqliteTtpStore {
    /// Opens the store at `path`, which must exist: a missing, empty or
    /// damaged file is refused (`StoreError::Corrupt`) rather than replaced by
    /// a new, empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(SqliteTtpStore { conn: Mutex::new(open_existing_db(path.as_ref(), "ttp", TTP_MIGRATIONS)?) })
    }

    /// Opens or creates the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(SqliteTtpStore { conn: Mutex::new(open_db(path.as_ref(), "ttp", TTP_MIGRATIONS)?) })
    }
}

impl TtpStore for SqliteTtpStore {
    fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        let len: i64 = tx.query_row("SELECT count(*) FROM log", [], |r| r.get(0)).map_err(db)?;
        if to_i64(entry.index)? != len {
            return Err(StoreError::Conflict("log index"));
        }
        tx.execute(
            "INSERT INTO log (idx, warrant_id, body) VALUES (?1, ?2, ?3)",
            params![len, entry.warrant_id.as_slice(), enc(entry)],
        )
        .map_err(db_unique("warrant id"))?;
        tx.commit().map_err(db)
    }

    fn entries(&self) -> StoreResult<Vec<LogEntry>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM log ORDER BY idx").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }

    fn len(&self) -> StoreResult<u64> {
        let n: i64 = lock(&self.conn)?.query_row("SELECT count(*) FROM log", [], |r| r.get(0)).map_err(db)?;
        to_u64(n)
    }

    fn warrant_used(&self, warrant_id: &[u8; 16]) -> StoreResult<bool> {
        lock(&self.conn)?
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM log WHERE warrant_id = ?1)",
                [warrant_id.as_slice()],
                |r| r.get(0),
            )
            .map_err(db)
    }
}

impl TrusteeStore for SqliteTtpStore {
    fn put_nonces(&self, session: &[u8; 32], nonces: &SecretBytes) -> StoreResult<()> {
        lock(&self.conn)?
            .execute(
                "INSERT INTO frost_sessions (session, nonces) VALUES (?1, ?2)",
                params![session.as_slice(), nonces.expose_secret()],
            )
            .map_err(db_unique("signing session"))?;
        Ok(())
    }

    fn take_nonces(&self, session: &[u8; 32]) -> StoreResult<Option<SecretBytes>> {
        let mut conn = lock(&self.conn)?;
        let tx = immediate(&mut conn)?;
        let nonces: Option<Option<Vec<u8>>> = tx
            .query_row("SELECT nonces FROM frost_sessions WHERE session = ?1", [session.as_slice()], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        let Some(Some(bytes)) = nonces else { return Ok(None) };
        let bytes = SecretBytes::new(bytes);
        tx.execute("UPDATE frost_sessions SET nonces = NULL WHERE session = ?1", [session.as_slice()])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(bytes))
    }

    fn record_dkg_abort(&self, abort: &DkgAbort) -> StoreResult<()> {
        lock(&self.conn)?.execute("INSERT INTO dkg_aborts (body) VALUES (?1)", [enc(abort)]).map_err(db)?;
        Ok(())
    }

    fn dkg_aborts(&self) -> StoreResult<Vec<DkgAbort>> {
        let conn = lock(&self.conn)?;
        let mut st = conn.prepare("SELECT body FROM dkg_aborts ORDER BY seq").map_err(db)?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
        rows.map(|r| dec(&r.map_err(db)?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::acl::SignerSession;
    use crate::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
    use crate::protocol::withdraw::WithdrawStart;
    use crate::time::Day;
    use rand::rngs::OsRng;

    #[test]
    fn a_wallet_database_of_eight_migrations_gains_the_later_tables_in_order() {
        // A wallet made before counter floors and reclaims: its eighth and
        // last migration is the payee's refusal table. Opening it must run
        // exactly the migrations after the eighth, in order.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.db");
        {
            let conn = Connection::open(&path).unwrap();
            migrate(&conn, "wallet", &WALLET_MIGRATIONS[..8]).unwrap();
            let refused: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'refused'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(refused, 1, "the eighth wallet migration is the payee's refusal table");
        }
        let store = SqliteWalletStore::open_existing(&path).unwrap();
        let keyset = crate::keys::KeysetId([7; 32]);
        assert_eq!(store.burn_counter(&keyset).unwrap(), 0);
        assert_eq!(store.burn_counter(&keyset).unwrap(), 1);
        assert!(store.reclaims().unwrap().is_empty());
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, WALLET_MIGRATIONS.len() as i64);
    }

    #[test]
    fn an_older_bank_database_is_migrated_and_its_withdrawal_records_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bank.db");
        // A database at schema version 2 holding a frozen user and an
        // answered withdrawal of the old layout.
        let mut secrets = BankSecrets::generate(&mut OsRng);
        let spec = KeysetSpec {
            exponents: 0..=2,
            withdraw_from: Day(20_000),
            withdraw_days: 10,
            policy: KeysetPolicy::default(),
        };
        let keyset = secrets
            .issue_keyset(None, *AccountKeys::generate(&mut OsRng).identity().identity(), &spec, &mut OsRng)
            .unwrap();
        let keys = AccountKeys::generate(&mut OsRng);
        let start = WithdrawStart::new(&keys, &keyset, 2, Day(20_000), &mut OsRng).unwrap();
        let req = start.request().clone();
        let key = keyset.key(&req.key_id).unwrap();
        let x = secrets.denomination_secret(&req.key_id).unwrap();
        let (signer, commitment) = SignerSession::open(
            x.expose_secret(),
            &key.acl(),
            &req.commitment,
            req.session_id.as_bytes(),
            &mut OsRng,
        );
        let (answered, _) = signer.answer(x.expose_secret(), &Scalar::from(5u64));
        {
            let conn = Connection::open(&path).unwrap();
            migrate(&conn, "bank", &BANK_MIGRATIONS[..2]).unwrap();
            conn.execute(
                "INSERT INTO accounts (id, kind, public_key, balance, frozen, registered) VALUES (?1, 0, ?2, 7, 1, 20000)",
                params![keys.account().as_bytes().as_slice(), keys.identity().identity().as_bytes().as_slice()],
            )
            .unwrap();
            let old = LegacySessionRecord {
                request: LegacyWithdrawRequest {
                    session_id: req.session_id,
                    account: req.account,
                    keyset_id: req.keyset_id,
                    key_id: req.key_id,
                    expiry: req.expiry,
                    commitment: req.commitment,
                    escrow: req.escrow,
                    proof: req.proof.clone(),
                },
                value: 2,
                commitment,
            };
            conn.execute(
                "INSERT INTO sessions (id, account, commitment, state, opened, expires, epoch, record, signer, answer, answered_at)
                 VALUES (?1, ?2, ?3, 1, 100, 400, 0, ?4, NULL, ?5, 200)",
                params![
                    req.session_id.as_bytes().as_slice(),
                    req.account.as_bytes().as_slice(),
                    req.commitment.as_bytes().as_slice(),
                    enc(&old),
                    enc(&answered)
                ],
            )
            .unwrap();
        }
        let store = SqliteBankStore::open(&path).unwrap();
        let mut tx = store.begin().unwrap();
        let a = tx.account(&keys.account()).unwrap().unwrap();
        assert_eq!((a.auth_key, a.frozen, a.balance), (None, true, 7), "no authentication key yet");
        let rec = tx.identity(keys.identity().identity()).unwrap().unwrap();
        assert_eq!((rec.account, rec.retired, rec.revealed), (keys.account(), None, true));
        let s = tx.session(&req.session_id).unwrap().unwrap();
        assert_eq!(s.request, req, "the old record decodes, with no reservation");
        assert_eq!(s.identity, *keys.identity().identity());
        assert!(matches!(s.state, SessionState::Answered { .. }));
        // Its pi_W (made without a reservation) still verifies: the record
        // stays traceable.
        s.request.verify_proof(&s.identity, &keyset, &mut OsRng).unwrap();
        assert_eq!(tx.withdrawal_records().unwrap().len(), 1);
    }
}
