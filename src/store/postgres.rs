//! The bank's state in PostgreSQL, for several bank nodes on one database.
//!
//! Every transaction runs at `READ COMMITTED` isolation with explicit row
//! locks, so operations on different accounts and different coins never
//! wait for or abort each other (specs/protocol.md §10.1 says, per
//! transaction, which anomaly each guard prevents):
//!
//! - reading an account locks its row (`SELECT … FOR UPDATE`): everything
//!   the bank decides from an account's rows (balance, open sessions,
//!   reservations, frozen, keys) is read and changed by one transaction at
//!   a time per account. The methods that read or add an account's
//!   sessions and reservations lock the account row first if the
//!   transaction has not (a no-op in the bank's transactions, which read
//!   the account first);
//! - reading a session locks its row, and answering it is a conditional
//!   update (`WHERE state = 0`) whose row count is checked: one answer per
//!   session;
//! - uniqueness (`coin_id`, `C`, ids, request ids, evidence) is a unique
//!   index insert (`ON CONFLICT DO NOTHING`, row count checked): a
//!   concurrent insert of the same key waits for the first and then
//!   reports [`StoreError::Conflict`] without aborting the transaction; the
//!   bank retries, and its next run sees the committed row;
//! - reading the session epoch takes a shared advisory lock (held to the
//!   end of the transaction) and bumping it the exclusive one, so a bump
//!   waits for every transaction that acts on the epoch it read.
//!
//! A deadlock (SQLSTATE 40P01), a serialization failure (40001) and a
//! foreign key that a concurrent prune removed (23503) are reported as
//! [`StoreError::Retry`], and the bank retries the whole transaction.
//!
//! Connections come from a small pool; a connection whose transaction failed
//! at the network level is dropped, not reused. Schema migrations are
//! numbered and run under an advisory lock, so nodes starting together
//! migrate once.
//!
//! The `postgres` client is synchronous; the HTTP service calls the bank on
//! blocking threads.

use std::sync::Mutex;

use super::codec::*;
use super::*;
use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Row, Statement};

fn db(e: ::postgres::Error) -> StoreError {
    match e.code() {
        // A foreign key violation only happens when a concurrent prune
        // deleted a stored payment a deposit refers to (or the other way
        // round): the bank checks every other reference before it inserts.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::FOREIGN_KEY_VIOLATION =>
        {
            StoreError::Retry
        }
        _ if e.is_closed() => StoreError::Retry,
        _ => StoreError::Backend(match e.as_db_error() {
            Some(d) => format!("{} ({}): {}", d.severity(), d.code().code(), d.message()),
            None => e.to_string(),
        }),
    }
}

/// `INSERT … ON CONFLICT DO NOTHING` inserted nothing: the fact exists.
/// (Reported without raising an error, so the transaction stays usable.)
fn inserted(rows: u64, what: &'static str) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::Conflict(what))
    } else {
        Ok(())
    }
}

fn point(v: Vec<u8>) -> StoreResult<Point> {
    Point::from_bytes(&arr(v)?).ok_or_else(|| StoreError::Corrupt("point".into()))
}

/// The bank schema, one migration per entry.
pub const BANK_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta (key, value) VALUES ('session_epoch', 0);
COMMENT ON TABLE meta IS 'session_epoch: bumped when the store is restored from a backup; older open sessions are never answered';

CREATE TABLE keysets (
    sequence BIGINT PRIMARY KEY CHECK (sequence >= 0),
    keyset_id BYTEA NOT NULL UNIQUE CHECK (octet_length(keyset_id) = 32),
    body BYTEA NOT NULL
);
COMMENT ON TABLE keysets IS 'the bank''s append-only keyset list, one row per sequence number';

CREATE TABLE accounts (
    id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    kind SMALLINT NOT NULL CHECK (kind IN (0, 1)),
    public_key BYTEA NOT NULL CHECK (octet_length(public_key) = 32),
    balance BIGINT NOT NULL CHECK (balance >= 0),
    frozen BOOLEAN NOT NULL DEFAULT FALSE,
    registered BIGINT NOT NULL
);
COMMENT ON TABLE accounts IS 'users (kind 0, key I) and merchants (kind 1, key M); balance never negative';

CREATE TABLE sessions (
    id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    account BYTEA NOT NULL REFERENCES accounts(id),
    commitment BYTEA NOT NULL UNIQUE CHECK (octet_length(commitment) = 32),
    state SMALLINT NOT NULL CHECK (state IN (0, 1, 2)),
    opened BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    record BYTEA NOT NULL,
    signer BYTEA,
    answer BYTEA,
    answered_at BIGINT,
    CHECK ((state = 0) = (signer IS NOT NULL)),
    CHECK ((state = 1) = (answer IS NOT NULL))
);
CREATE INDEX sessions_open ON sessions (account, expires) WHERE state = 0;
COMMENT ON TABLE sessions IS 'withdrawal sessions; state 0 open (holds w), 1 answered (w erased, answer kept for replay), 2 expired';
COMMENT ON COLUMN sessions.commitment IS 'the attribute commitment C: UNIQUE, a C is used once ever';

CREATE TABLE payments (
    digest BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    body BYTEA NOT NULL
);
COMMENT ON TABLE payments IS 'deposited payments (spend transcripts) by digest';

CREATE TABLE spent_coins (
    coin_id BYTEA PRIMARY KEY CHECK (octet_length(coin_id) = 32),
    serial BYTEA NOT NULL CHECK (octet_length(serial) = 32),
    challenge BYTEA NOT NULL CHECK (octet_length(challenge) = 32),
    merchant BYTEA NOT NULL CHECK (octet_length(merchant) = 16),
    day BIGINT NOT NULL,
    receipt_day BIGINT NOT NULL,
    payment_digest BYTEA NOT NULL REFERENCES payments(digest),
    coin_index BIGINT NOT NULL,
    value BIGINT NOT NULL,
    prune_after BIGINT NOT NULL
);
CREATE INDEX spent_coins_prune ON spent_coins (prune_after);
CREATE INDEX spent_coins_payment ON spent_coins (payment_digest);
COMMENT ON TABLE spent_coins IS 'one row per coin_id: the PRIMARY KEY makes a second credit impossible';

CREATE TABLE evidence (
    id BIGSERIAL PRIMARY KEY,
    coin_id BYTEA NOT NULL CHECK (octet_length(coin_id) = 32),
    account BYTEA,
    recorded BIGINT NOT NULL,
    body BYTEA NOT NULL
);
COMMENT ON TABLE evidence IS 'double-spending evidence (two payments of one coin), kept for good';

CREATE TABLE watch_list (
    serial BYTEA PRIMARY KEY CHECK (octet_length(serial) = 32),
    case_id TEXT NOT NULL
);
COMMENT ON TABLE watch_list IS 'serials from coin tracing, with the case that put them there';
"#,
    r#"
CREATE TABLE deposit_receipts (
    merchant BYTEA NOT NULL CHECK (octet_length(merchant) = 16),
    request_id BYTEA NOT NULL CHECK (octet_length(request_id) = 16),
    digest BYTEA NOT NULL CHECK (octet_length(digest) = 32),
    body BYTEA NOT NULL,
    PRIMARY KEY (merchant, request_id)
);
COMMENT ON TABLE deposit_receipts IS 'receipts of deposit requests: a retried or replayed request gets the same receipt; (merchant, request_id) is used once';
"#,
    r#"
ALTER TABLE accounts ADD COLUMN auth_key BYTEA CHECK (auth_key IS NULL OR octet_length(auth_key) = 32);
COMMENT ON COLUMN accounts.auth_key IS 'a user''s authentication key A: signs every account operation; NULL for merchants and for users registered before accounts had one (they must be re-keyed)';

CREATE TABLE identities (
    identity BYTEA PRIMARY KEY CHECK (octet_length(identity) = 32),
    account BYTEA NOT NULL REFERENCES accounts(id),
    since BIGINT NOT NULL,
    retired BIGINT,
    revealed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX identities_account ON identities (account);
COMMENT ON TABLE identities IS 'every identity I a user account holds or held; an identity belongs to one account, ever; retired: replaced by a re-key, never accepted again; revealed: double-spending evidence made its u public';
INSERT INTO identities (identity, account, since, retired, revealed)
    SELECT public_key, id, registered, NULL, frozen FROM accounts WHERE kind = 0;

CREATE TABLE account_events (
    seq BIGSERIAL PRIMARY KEY,
    account BYTEA NOT NULL REFERENCES accounts(id),
    at BIGINT NOT NULL,
    kind SMALLINT NOT NULL CHECK (kind BETWEEN 0 AND 4),
    reason TEXT NOT NULL
);
CREATE INDEX account_events_account ON account_events (account, seq);
COMMENT ON TABLE account_events IS 'each account''s history: registered (0), frozen (1), unfrozen (2), re-keyed (3), authentication key rotated (4), with time and reason';

CREATE TABLE reservations (
    id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    account BYTEA NOT NULL REFERENCES accounts(id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    drawn BIGINT NOT NULL CHECK (drawn >= 0 AND drawn <= amount),
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    released BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX reservations_active ON reservations (account, expires) WHERE NOT released;
COMMENT ON TABLE reservations IS 'holds on a balance for the sessions of one withdrawal: active while not released and expires > now; drawn never exceeds amount';

ALTER TABLE sessions ADD COLUMN reservation BYTEA CHECK (reservation IS NULL OR octet_length(reservation) = 16);
ALTER TABLE sessions ADD COLUMN identity BYTEA CHECK (identity IS NULL OR octet_length(identity) = 32);
UPDATE sessions SET identity = (SELECT public_key FROM accounts WHERE accounts.id = sessions.account);
COMMENT ON COLUMN sessions.reservation IS 'the reservation the session draws on, if any';
COMMENT ON COLUMN sessions.identity IS 'the identity I the session''s pi_W was verified against';

CREATE TABLE account_requests (
    account BYTEA NOT NULL REFERENCES accounts(id),
    request_id BYTEA NOT NULL CHECK (octet_length(request_id) = 16),
    digest BYTEA NOT NULL CHECK (octet_length(digest) = 32),
    answer BYTEA NOT NULL,
    PRIMARY KEY (account, request_id)
);
COMMENT ON TABLE account_requests IS 'account requests that are not idempotent by themselves, with digest and answer: the same request again gets the stored answer; (account, request_id) is used once';
"#,
    r#"
DELETE FROM evidence e WHERE EXISTS (SELECT 1 FROM evidence f WHERE f.coin_id = e.coin_id AND f.id < e.id);
CREATE UNIQUE INDEX evidence_coin ON evidence (coin_id);
COMMENT ON TABLE evidence IS 'double-spending evidence (two payments of one coin), kept for good; one row per coin; id is the cursor of the evidence list';
COMMENT ON COLUMN evidence.id IS 'assigned as max(id) + 1 inside the SERIALIZABLE deposit transaction, so ids grow in commit order and a reader that saw id n finds every later row above n';
DELETE FROM deposit_receipts;
COMMENT ON COLUMN deposit_receipts.body IS 'the signed receipt (receipts of the earlier unsigned form were dropped by migration 4)';
"#,
    r#"
ALTER TABLE accounts SET (fillfactor = 70);
COMMENT ON TABLE accounts IS 'users (kind 0, key I) and merchants (kind 1, key M); balance never negative; a transaction that reads an account locks its row (FOR UPDATE): the per-account lock under which balance, open sessions and reservations are checked and changed';
COMMENT ON INDEX sessions_open IS 'an account''s open sessions, read under the account row lock (at most the open-session limit plus those not yet marked expired)';
COMMENT ON COLUMN evidence.id IS 'assigned as max(id) + 1: a concurrent insert computing the same id waits for the first on the primary key and is retried, so id n + 1 is computed only after n committed; ids grow in commit order and a reader that saw id n finds every later row above n';
COMMENT ON COLUMN meta.value IS 'session_epoch: read under a shared advisory lock (key 7254110204) to the end of the transaction, bumped under the exclusive one: a bump waits for every transaction acting on the epoch it read';
"#,
    r#"
CREATE TABLE refusal_records (
    seq BIGSERIAL PRIMARY KEY,
    payment_digest BYTEA NOT NULL UNIQUE CHECK (octet_length(payment_digest) = 32),
    broken BOOLEAN NOT NULL,
    body BYTEA NOT NULL
);
CREATE INDEX refusal_records_broken ON refusal_records (seq) WHERE broken;
COMMENT ON TABLE refusal_records IS 'payee refusals, once per payment digest (unique insert): kept with the reclaim that credited the payer (broken false), or as proof that the payee deposited the payment it had refused (broken true)';
"#,
    r#"
CREATE INDEX sessions_account ON sessions (account, id);
COMMENT ON INDEX sessions_account IS 'an account''s sessions in session-id order: the pages of its withdrawal listing (protocol section 7.3, list-withdrawals)';
"#,
    r#"
ALTER TABLE spent_coins ADD COLUMN keyset BYTEA CHECK (keyset IS NULL OR octet_length(keyset) = 32);
ALTER TABLE spent_coins ADD COLUMN published BIGINT CHECK (published IS NULL OR published > 0);
CREATE INDEX spent_coins_list ON spent_coins (keyset, value, coin_id);
CREATE INDEX spent_coins_unpublished ON spent_coins (coin_id) WHERE published IS NULL;
INSERT INTO meta (key, value) VALUES ('spent_sequence', 0), ('spent_published_at', 0);
COMMENT ON COLUMN spent_coins.keyset IS 'the coin''s keyset (with value, its denomination key: the spent list it is on, protocol section 7.7); rows recorded before migration 8 are filled from their stored payment when the store is opened';
COMMENT ON COLUMN spent_coins.published IS 'the spent-list publication that put the row on the lists; NULL until published. A publication locks meta spent_sequence (FOR UPDATE via UPDATE), so publications run one at a time, and sets published on the rows its statement snapshot sees with published NULL: a row committed later is left NULL for the next publication (never skipped), a row published is never NULL again (never republished). The deposit path writes no shared row.';
"#,
];

/// Fills the keyset of spent-coin records made before records carried it
/// (bank migration 8), from the coin in their stored payment.
fn fill_spent_keysets(client: &mut Client) -> StoreResult<()> {
    let rows = client
        .query(
            "SELECT s.coin_id, s.coin_index, p.body FROM spent_coins s
             JOIN payments p ON p.digest = s.payment_digest WHERE s.keyset IS NULL",
            &[],
        )
        .map_err(db)?;
    for r in rows {
        let (coin_id, index, body): (Vec<u8>, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
        let keyset = super::keyset_of_spent(&dec(&body)?, index)?;
        client
            .execute(
                "UPDATE spent_coins SET keyset = $1 WHERE coin_id = $2",
                &[&keyset.0.as_slice(), &coin_id],
            )
            .map_err(db)?;
    }
    Ok(())
}

/// Runs `migrations` for `app` under an advisory lock.
fn migrate(client: &mut Client, app: &str, migrations: &[&str]) -> StoreResult<()> {
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock(7254110203)", &[]).map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS faircash_schema (app TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )
    .map_err(db)?;
    let rows = tx.query("SELECT app, version FROM faircash_schema", &[]).map_err(db)?;
    let current = match rows.first() {
        Some(r) => {
            let owner: String = r.get(0);
            if owner != app {
                return Err(StoreError::Backend(format!(
                    "database holds a faircash {owner} store, not a {app} store"
                )));
            }
            r.get::<_, i32>(1) as usize
        }
        None => {
            tx.execute("INSERT INTO faircash_schema (app, version) VALUES ($1, 0)", &[&app]).map_err(db)?;
            0
        }
    };
    if current > migrations.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this faircash build supports ({}); upgrade faircash",
            migrations.len()
        )));
    }
    for (i, m) in migrations.iter().enumerate().skip(current) {
        tx.batch_execute(m).map_err(db)?;
        tx.execute("UPDATE faircash_schema SET version = $1", &[&((i + 1) as i32)]).map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// The bank's state in PostgreSQL.
pub struct PostgresBankStore {
    config: ::postgres::Config,
    schema: Option<String>,
    pool: Mutex<Vec<Conn>>,
    max_idle: usize,
}

impl PostgresBankStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the
    /// schema. Fails with a clear error when the database is unreachable or
    /// its schema is newer than this build.
    pub fn open(url: &str) -> StoreResult<Self> {
        Self::open_in_schema(url, None)
    }

    /// As [`PostgresBankStore::open`], inside the PostgreSQL schema `schema`
    /// (created if missing): several independent banks, or test runs, can
    /// share one database.
    pub fn open_in_schema(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let config: ::postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("bad database URL: {e}")))?;
        if let Some(s) = schema {
            if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || s.is_empty() {
                return Err(StoreError::Backend(format!("bad schema name {s:?}")));
            }
        }
        let store = PostgresBankStore {
            config,
            schema: schema.map(str::to_string),
            pool: Mutex::new(Vec::new()),
            max_idle: 16,
        };
        let mut c = store.connect()?;
        migrate(&mut c.client, "bank", BANK_MIGRATIONS)?;
        fill_spent_keysets(&mut c.client)?;
        store.put_back(c);
        Ok(store)
    }

    fn connect(&self) -> StoreResult<Conn> {
        let mut c = self.config.connect(NoTls).map_err(|e| connect_error(&self.config, &e))?;
        if let Some(s) = &self.schema {
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}"))
                .map_err(db)?;
        }
        Ok(Conn { client: c, statements: std::collections::HashMap::new(), begun: false })
    }

    fn take(&self) -> StoreResult<Conn> {
        let pooled = self.pool.lock().map_err(|_| StoreError::Backend("pool lock poisoned".into()))?.pop();
        match pooled {
            Some(c) if !c.is_closed() => Ok(c),
            other => {
                close_clients(other.into_iter().collect());
                self.connect()
            }
        }
    }

    fn put_back(&self, c: Conn) {
        if c.is_closed() {
            return close_clients(vec![c]);
        }
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < self.max_idle {
                return p.push(c);
            }
        }
        close_clients(vec![c]);
    }
}

impl Drop for PostgresBankStore {
    fn drop(&mut self) {
        let clients = match self.pool.get_mut() {
            Ok(p) => std::mem::take(p),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        close_clients(clients);
    }
}

/// Why a connection failed, in the server's words when it answered (the
/// client's own text for those is only "db error"), with what to do.
fn connect_error(config: &::postgres::Config, e: &::postgres::Error) -> StoreError {
    let Some(d) = e.as_db_error() else {
        return StoreError::Backend(format!("cannot reach the database: {e}"));
    };
    let dbname = config.get_dbname().unwrap_or("");
    let user = config.get_user().unwrap_or("");
    let hint = match d.code() {
        c if *c == SqlState::INVALID_CATALOG_NAME => format!(
            "; create it first (`createdb {dbname}`, or `CREATE DATABASE \"{dbname}\"` as a user allowed to), \
             or fix the database name in the URL"
        ),
        c if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            format!("; check the user ({user}) and password in the URL and the server's pg_hba.conf")
        }
        c if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            format!("; grant the user {user} the right to connect to {dbname}")
        }
        _ => String::new(),
    };
    StoreError::Backend(format!(
        "the database server refused the connection: {} ({}){hint}",
        d.message(),
        d.code().code()
    ))
}

/// Closes clients. The synchronous client closes its connection by
/// blocking on its own runtime, which panics inside another runtime's
/// async context ("Cannot start a runtime from within a runtime"): there,
/// the clients are closed on a thread of their own.
fn close_clients(clients: Vec<Conn>) {
    if clients.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::spawn(move || drop(clients)).join();
    } else {
        drop(clients);
    }
}

/// A pooled connection and the statements prepared on it: each statement
/// text is parsed and planned once per connection, and then runs in one
/// round trip (an unprepared query takes two: prepare, then execute).
struct Conn {
    client: Client,
    statements: std::collections::HashMap<String, Statement>,
    /// Whether the next transaction has already begun: the statement that
    /// ends a transaction begins the next in the same round trip. A begun
    /// transaction that has run no statement holds no snapshot, lock or
    /// transaction id, so an idle pooled connection holds nothing back.
    begun: bool,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement, ::postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, ::postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), ::postgres::Error> {
        self.client.batch_execute(sql)
    }

    fn simple_query(&mut self, sql: &str) -> Result<Vec<::postgres::SimpleQueryMessage>, ::postgres::Error> {
        self.client.simple_query(sql)
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl BankStore for PostgresBankStore {
    fn begin(&self) -> StoreResult<Box<dyn BankTx + '_>> {
        let mut client = self.take()?;
        if !client.begun {
            client.batch_execute(BEGIN).map_err(db)?;
        }
        client.begun = false;
        Ok(Box::new(PgTx { store: self, client: Some(client), done: false, locked: Vec::new(), epoch: None }))
    }
}

struct PgTx<'a> {
    store: &'a PostgresBankStore,
    client: Option<Conn>,
    done: bool,
    /// The accounts whose rows this transaction has locked.
    locked: Vec<AccountId>,
    /// The session epoch, once this transaction holds its advisory lock
    /// (no bump can commit while the lock is held, so it is read once).
    epoch: Option<u64>,
}

const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.client.take() {
            if !self.done {
                if c.batch_execute(&format!("ROLLBACK; {BEGIN}")).is_err() {
                    return close_clients(vec![c]); // a broken connection is not reused
                }
                c.begun = true;
            }
            self.store.put_back(c);
        }
    }
}

/// The advisory lock key of the session epoch (shared to act on it,
/// exclusive to bump it).
const EPOCH_LOCK: i64 = 7_254_110_204;
const EPOCH_QUERY: &str = "SELECT value FROM meta WHERE key = 'session_epoch'";

const SESSION_COLUMNS: &str = "record, state, opened, expires, epoch, signer, answer, answered_at, identity";
const ACCOUNT_COLUMNS: &str = "id, kind, public_key, balance, frozen, registered, auth_key";
const RESERVATION_COLUMNS: &str = "id, account, amount, drawn, created, expires, released";
const SPENT_COLUMNS: &str =
    "coin_id, serial, challenge, merchant, day, receipt_day, payment_digest, coin_index, value, prune_after, keyset";

fn account_row(r: &::postgres::Row) -> StoreResult<Account> {
    account_from_parts((
        r.get(0),
        i64::from(r.get::<_, i16>(1)),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
    ))
}

fn session_row(r: &::postgres::Row) -> StoreResult<WithdrawSession> {
    session_from_parts((
        r.get(0),
        i64::from(r.get::<_, i16>(1)),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        r.get(8),
    ))
}

fn identity_row(r: &::postgres::Row) -> StoreResult<IdentityRecord> {
    identity_from_parts((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
}

fn reservation_row(r: &::postgres::Row) -> StoreResult<Reservation> {
    reservation_from_parts((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
}

fn event_row(r: &::postgres::Row) -> StoreResult<(AccountId, AccountEvent)> {
    event_from_parts((r.get(0), r.get(1), i64::from(r.get::<_, i16>(2)), r.get(3)))
}

fn spent_row(r: &::postgres::Row) -> StoreResult<SpentCoin> {
    spent_from_parts((
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        r.get(8),
        r.get(9),
        r.get(10),
    ))
}

impl PgTx<'_> {
    fn c(&mut self) -> StoreResult<&mut Conn> {
        self.client.as_mut().ok_or_else(|| StoreError::Backend("transaction finished".into()))
    }

    /// Locks the account row (once per transaction): every read of the
    /// account's sessions and reservations that a decision rests on comes
    /// after it, in a later statement, so it sees what the previous holder
    /// of the lock committed.
    fn lock_account(&mut self, id: &AccountId) -> StoreResult<()> {
        if self.locked.contains(id) {
            return Ok(());
        }
        self.c()?
            .query_opt("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&id.as_bytes().as_slice()])
            .map_err(db)?;
        self.locked.push(*id);
        Ok(())
    }

    /// `UPDATE accounts SET <set> WHERE id = $1` with `$2 = value`; not
    /// found when no account has the id.
    fn update_account(
        &mut self,
        set: &str,
        id: &AccountId,
        value: &(dyn ::postgres::types::ToSql + Sync),
    ) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(&format!("UPDATE accounts SET {set} WHERE id = $1"), &[&id.as_bytes().as_slice(), value])
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }
}

impl BankTx for PgTx<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        // A failed COMMIT stops the string there: no transaction is open,
        // and the drop rolls back (a no-op) and begins one.
        let c = self.c()?;
        c.batch_execute(&format!("COMMIT; {BEGIN}")).map_err(db)?;
        c.begun = true;
        self.done = true;
        Ok(())
    }

    fn session_epoch(&mut self) -> StoreResult<u64> {
        if let Some(epoch) = self.epoch {
            return Ok(epoch);
        }
        // Two statements in one round trip: the read takes its snapshot
        // after the lock is granted, so it sees a bump that committed while
        // this transaction waited.
        let messages = self
            .c()?
            .simple_query(&format!("SELECT pg_advisory_xact_lock_shared({EPOCH_LOCK}); {EPOCH_QUERY}"))
            .map_err(db)?;
        let value = messages
            .iter()
            .filter_map(|m| match m {
                ::postgres::SimpleQueryMessage::Row(r) if r.columns()[0].name() == "value" => r.get(0),
                _ => None,
            })
            .next()
            .ok_or(StoreError::NotFound("session epoch"))?;
        let epoch = value.parse().map_err(|_| StoreError::Corrupt("session epoch".into()))?;
        self.epoch = Some(epoch);
        Ok(epoch)
    }

    fn bump_session_epoch(&mut self) -> StoreResult<u64> {
        self.c()?.execute(&format!("SELECT pg_advisory_xact_lock({EPOCH_LOCK})"), &[]).map_err(db)?;
        let r = self
            .c()?
            .query_one("UPDATE meta SET value = value + 1 WHERE key = 'session_epoch' RETURNING value", &[])
            .map_err(db)?;
        let epoch = to_u64(r.get(0))?;
        self.epoch = Some(epoch);
        Ok(epoch)
    }

    fn insert_keyset(&mut self, keyset: &SignedKeyset) -> StoreResult<()> {
        let seq = to_i64(keyset.document.sequence)?;
        let id = keyset.document.id();
        let n = self
            .c()?
            .execute(
                "INSERT INTO keysets (sequence, keyset_id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&seq, &id.as_bytes().as_slice(), &enc(keyset)],
            )
            .map_err(db)?;
        inserted(n, "keyset sequence")
    }

    fn keysets(&mut self) -> StoreResult<Vec<SignedKeyset>> {
        let rows = self.c()?.query("SELECT body FROM keysets ORDER BY sequence", &[]).map_err(db)?;
        rows.iter().map(|r| dec(&r.get::<_, Vec<u8>>(0))).collect()
    }

    fn insert_account(&mut self, a: &Account) -> StoreResult<()> {
        let kind = kind_code(a.kind) as i16;
        let balance = to_i64(a.balance)?;
        let n = self
            .c()?
            .execute(
                "INSERT INTO accounts (id, kind, public_key, balance, frozen, registered, auth_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT DO NOTHING",
                &[
                    &a.id.as_bytes().as_slice(),
                    &kind,
                    &a.public_key.as_bytes().as_slice(),
                    &balance,
                    &a.frozen,
                    &i64::from(a.registered.0),
                    &a.auth_key.map(|k| k.as_bytes().to_vec()),
                ],
            )
            .map_err(db)?;
        inserted(n, "account")
    }

    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        let rows = self
            .c()?
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE"),
                &[&id.as_bytes().as_slice()],
            )
            .map_err(db)?;
        if !rows.is_empty() && !self.locked.contains(id) {
            self.locked.push(*id);
        }
        rows.first().map(account_row).transpose()
    }

    fn set_balance(&mut self, id: &AccountId, balance: u64) -> StoreResult<()> {
        self.update_account("balance = $2", id, &to_i64(balance)?)
    }

    fn freeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        self.update_account("frozen = $2", id, &true)
    }

    fn accounts(&mut self) -> StoreResult<Vec<Account>> {
        let rows = self
            .c()?
            .query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"), &[])
            .map_err(db)?;
        rows.iter().map(account_row).collect()
    }

    fn unfreeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        self.update_account("frozen = $2", id, &false)
    }

    fn set_auth_key(&mut self, id: &AccountId, key: &Point) -> StoreResult<()> {
        self.update_account("auth_key = $2", id, &key.as_bytes().as_slice())
    }

    fn set_identity(&mut self, id: &AccountId, identity: &Point) -> StoreResult<()> {
        self.update_account("public_key = $2", id, &identity.as_bytes().as_slice())
    }

    fn insert_identity(&mut self, r: &IdentityRecord) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "INSERT INTO identities (identity, account, since, retired, revealed) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[
                    &r.identity.as_bytes().as_slice(),
                    &r.account.as_bytes().as_slice(),
                    &i64::from(r.since.0),
                    &r.retired.map(|d| i64::from(d.0)),
                    &r.revealed,
                ],
            )
            .map_err(db)?;
        inserted(n, "identity")
    }

    fn identity(&mut self, identity: &Point) -> StoreResult<Option<IdentityRecord>> {
        let rows = self
            .c()?
            .query(
                "SELECT identity, account, since, retired, revealed FROM identities WHERE identity = $1",
                &[&identity.as_bytes().as_slice()],
            )
            .map_err(db)?;
        rows.first().map(identity_row).transpose()
    }

    fn update_identity(&mut self, r: &IdentityRecord) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "UPDATE identities SET account = $2, since = $3, retired = $4, revealed = $5 WHERE identity = $1",
                &[
                    &r.identity.as_bytes().as_slice(),
                    &r.account.as_bytes().as_slice(),
                    &i64::from(r.since.0),
                    &r.retired.map(|d| i64::from(d.0)),
                    &r.revealed,
                ],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("identity"));
        }
        Ok(())
    }

    fn insert_account_event(&mut self, account: &AccountId, e: &AccountEvent) -> StoreResult<()> {
        let (at, kind) = (to_i64(e.at.0)?, event_kind_code(e.kind) as i16);
        self.c()?
            .execute(
                "INSERT INTO account_events (account, at, kind, reason) VALUES ($1, $2, $3, $4)",
                &[&account.as_bytes().as_slice(), &at, &kind, &e.reason],
            )
            .map_err(db)?;
        Ok(())
    }

    fn account_events(&mut self, account: &AccountId) -> StoreResult<Vec<AccountEvent>> {
        let rows = self
            .c()?
            .query(
                "SELECT account, at, kind, reason FROM account_events WHERE account = $1 ORDER BY seq",
                &[&account.as_bytes().as_slice()],
            )
            .map_err(db)?;
        rows.iter().map(|r| event_row(r).map(|(_, e)| e)).collect()
    }

    fn recent_account_events(&mut self, limit: usize) -> StoreResult<Vec<(AccountId, AccountEvent)>> {
        let limit = to_i64(limit as u64)?;
        let rows = self
            .c()?
            .query(
                "SELECT account, at, kind, reason FROM
                 (SELECT seq, account, at, kind, reason FROM account_events ORDER BY seq DESC LIMIT $1) e
                 ORDER BY seq",
                &[&limit],
            )
            .map_err(db)?;
        rows.iter().map(event_row).collect()
    }

    fn insert_reservation(&mut self, r: &Reservation) -> StoreResult<()> {
        let (amount, drawn) = (to_i64(r.amount)?, to_i64(r.drawn)?);
        let (created, expires) = (to_i64(r.created.0)?, to_i64(r.expires.0)?);
        self.lock_account(&r.account)?;
        let n = self
            .c()?
            .execute(
                &format!(
                    "INSERT INTO reservations ({RESERVATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &r.id.as_bytes().as_slice(),
                    &r.account.as_bytes().as_slice(),
                    &amount,
                    &drawn,
                    &created,
                    &expires,
                    &r.released,
                ],
            )
            .map_err(db)?;
        inserted(n, "reservation")
    }

    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<Reservation>> {
        let rows = self
            .c()?
            .query(
                &format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"),
                &[&id.as_bytes().as_slice()],
            )
            .map_err(db)?;
        rows.first().map(reservation_row).transpose()
    }

    fn update_reservation(&mut self, r: &Reservation) -> StoreResult<()> {
        let (drawn, expires) = (to_i64(r.drawn)?, to_i64(r.expires.0)?);
        let n = self
            .c()?
            .execute(
                "UPDATE reservations SET drawn = $2, expires = $3, released = $4 WHERE id = $1",
                &[&r.id.as_bytes().as_slice(), &drawn, &expires, &r.released],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound("reservation"));
        }
        Ok(())
    }

    fn active_reservations(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<Reservation>> {
        let now = to_i64(now.0)?;
        self.lock_account(account)?;
        let rows = self
            .c()?
            .query(
                &format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations
                     WHERE account = $1 AND NOT released AND expires > $2 ORDER BY created, id"
                ),
                &[&account.as_bytes().as_slice(), &now],
            )
            .map_err(db)?;
        rows.iter().map(reservation_row).collect()
    }

    fn account_request(
        &mut self,
        account: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<AccountRequestRecord>> {
        let rows = self
            .c()?
            .query(
                "SELECT digest, answer FROM account_requests WHERE account = $1 AND request_id = $2",
                &[&account.as_bytes().as_slice(), &request_id.as_slice()],
            )
            .map_err(db)?;
        rows.first()
            .map(|r| {
                Ok(AccountRequestRecord {
                    account: *account,
                    request_id: *request_id,
                    digest: arr(r.get(0))?,
                    answer: r.get(1),
                })
            })
            .transpose()
    }

    fn insert_account_request(&mut self, r: &AccountRequestRecord) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "INSERT INTO account_requests (account, request_id, digest, answer) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &r.account.as_bytes().as_slice(),
                    &r.request_id.as_slice(),
                    &r.digest.as_slice(),
                    &r.answer.as_slice(),
                ],
            )
            .map_err(db)?;
        inserted(n, "account request")
    }

    fn insert_session(&mut self, s: &WithdrawSession) -> StoreResult<()> {
        let (record, (state, signer, answer, at)) = session_columns(s)?;
        let state = state as i16;
        let id = s.id();
        self.lock_account(&s.request.account)?;
        // No read of the id first: the unique insert detects a clash on the
        // id or on the commitment, and only then is the cause looked up.
        let (opened, expires, epoch) = (to_i64(s.opened.0)?, to_i64(s.expires.0)?, to_i64(s.epoch)?);
        let n = self
            .c()?
            .execute(
                "INSERT INTO sessions (id, account, commitment, state, opened, expires, epoch, record, signer, answer, answered_at, reservation, identity)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
                &[
                    &id.as_bytes().as_slice(),
                    &s.request.account.as_bytes().as_slice(),
                    &s.request.commitment.as_bytes().as_slice(),
                    &state,
                    &opened,
                    &expires,
                    &epoch,
                    &record,
                    &signer,
                    &answer,
                    &at,
                    &s.request.reservation.map(|r| r.0.to_vec()),
                    &s.identity.as_bytes().as_slice(),
                ],
            )
            .map_err(db)?;
        if n == 0 {
            // The clash committed before this statement returned, so a new
            // statement sees it: the id first, as the other stores check.
            let id_taken = self
                .c()?
                .query_opt("SELECT 1 FROM sessions WHERE id = $1", &[&id.as_bytes().as_slice()])
                .map_err(db)?
                .is_some();
            return Err(StoreError::Conflict(if id_taken { "session" } else { "attribute commitment" }));
        }
        Ok(())
    }

    fn session(&mut self, id: &SessionId) -> StoreResult<Option<WithdrawSession>> {
        let rows = self
            .c()?
            .query(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE"),
                &[&id.as_bytes().as_slice()],
            )
            .map_err(db)?;
        rows.first().map(session_row).transpose()
    }

    fn commitment_used(&mut self, c: &Point) -> StoreResult<bool> {
        Ok(self
            .c()?
            .query_opt("SELECT 1 FROM sessions WHERE commitment = $1", &[&c.as_bytes().as_slice()])
            .map_err(db)?
            .is_some())
    }

    fn open_sessions(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<usize> {
        let now = to_i64(now.0)?;
        self.lock_account(account)?;
        let r = self
            .c()?
            .query_one(
                "SELECT count(*) FROM sessions WHERE account = $1 AND state = 0 AND expires > $2",
                &[&account.as_bytes().as_slice(), &now],
            )
            .map_err(db)?;
        Ok(r.get::<_, i64>(0) as usize)
    }

    fn open_sessions_of(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<WithdrawSession>> {
        let now = to_i64(now.0)?;
        self.lock_account(account)?;
        let rows = self
            .c()?
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE account = $1 AND state = 0 AND expires > $2
                     ORDER BY opened, id"
                ),
                &[&account.as_bytes().as_slice(), &now],
            )
            .map_err(db)?;
        rows.iter().map(session_row).collect()
    }

    fn end_session(&mut self, id: &SessionId) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "UPDATE sessions SET state = 2, signer = NULL WHERE id = $1 AND state = 0",
                &[&id.as_bytes().as_slice()],
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
        let at = to_i64(at.0)?;
        let n = self
            .c()?
            .execute(
                "UPDATE sessions SET state = 1, signer = NULL, answer = $2, answered_at = $3 WHERE id = $1 AND state = 0",
                &[&id.as_bytes().as_slice(), &enc(answered), &at],
            )
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
        let now = to_i64(now.0)?;
        let n = self
            .c()?
            .execute(
                "UPDATE sessions SET state = 2, signer = NULL WHERE state = 0 AND expires <= $1",
                &[&now],
            )
            .map_err(db)?;
        Ok(n as usize)
    }

    fn withdrawal_records(&mut self) -> StoreResult<Vec<WithdrawSession>> {
        let rows = self
            .c()?
            .query(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE state = 1 ORDER BY opened, id"),
                &[],
            )
            .map_err(db)?;
        rows.iter().map(session_row).collect()
    }

    fn sessions_of(
        &mut self,
        account: &AccountId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<WithdrawSession>> {
        let after: &[u8] = after.map_or(&[], |a| a.as_bytes().as_slice());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .c()?
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3"
                ),
                &[&account.as_bytes().as_slice(), &after, &limit],
            )
            .map_err(db)?;
        rows.iter().map(session_row).collect()
    }

    fn spent_coin(&mut self, id: &CoinId) -> StoreResult<Option<SpentCoin>> {
        let rows = self
            .c()?
            .query(
                &format!("SELECT {SPENT_COLUMNS} FROM spent_coins WHERE coin_id = $1"),
                &[&id.as_bytes().as_slice()],
            )
            .map_err(db)?;
        rows.first().map(spent_row).transpose()
    }

    fn spent_coins(&mut self, merchant: Option<&AccountId>, limit: usize) -> StoreResult<Vec<SpentCoin>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let merchant: Option<&[u8]> = merchant.map(|m| m.as_bytes().as_slice());
        let rows = self
            .c()?
            .query(
                &format!(
                    "SELECT {SPENT_COLUMNS} FROM spent_coins WHERE $1::BYTEA IS NULL OR merchant = $1
                     ORDER BY receipt_day DESC, coin_id LIMIT $2"
                ),
                &[&merchant, &limit],
            )
            .map_err(db)?;
        rows.iter().map(spent_row).collect()
    }

    fn spent_publication(&mut self) -> StoreResult<SpentPublication> {
        let rows = self
            .c()?
            .query("SELECT key, value FROM meta WHERE key IN ('spent_sequence', 'spent_published_at')", &[])
            .map_err(db)?;
        let get = |k: &str| -> StoreResult<u64> {
            let r = rows
                .iter()
                .find(|r| r.get::<_, &str>(0) == k)
                .ok_or_else(|| StoreError::Corrupt(format!("meta {k} missing")))?;
            to_u64(r.get(1))
        };
        Ok(SpentPublication { sequence: get("spent_sequence")?, at: Timestamp(get("spent_published_at")?) })
    }

    fn publish_spent(&mut self, now: Timestamp) -> StoreResult<SpentPublication> {
        let pending: bool = self
            .c()?
            .query_one("SELECT EXISTS (SELECT 1 FROM spent_coins WHERE published IS NULL)", &[])
            .map_err(db)?
            .get(0);
        if !pending {
            return self.spent_publication();
        }
        let c = self.c()?;
        // The UPDATE locks the sequence row: publications run one at a time,
        // and a waiting one re-reads the committed sequence (READ COMMITTED).
        let next: i64 = c
            .query_one("UPDATE meta SET value = value + 1 WHERE key = 'spent_sequence' RETURNING value", &[])
            .map_err(db)?
            .get(0);
        // Its own statement snapshot, taken after the lock: every row a
        // committed publication set is seen as set; a row whose deposit
        // commits after this snapshot stays NULL for the next publication.
        c.execute("UPDATE spent_coins SET published = $1 WHERE published IS NULL", &[&next]).map_err(db)?;
        c.execute("UPDATE meta SET value = $1 WHERE key = 'spent_published_at'", &[&to_i64(now.0)?])
            .map_err(db)?;
        Ok(SpentPublication { sequence: to_u64(next)?, at: now })
    }

    fn spent_list(
        &mut self,
        keyset: &KeysetId,
        value: u64,
        sequence: u64,
        offset: u64,
        limit: usize,
    ) -> StoreResult<(u64, Vec<(CoinId, u64)>)> {
        let (value, sequence, offset) = (to_i64(value)?, to_i64(sequence)?, to_i64(offset)?);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let k = keyset.0.as_slice();
        let c = self.c()?;
        let total: i64 = c
            .query_one(
                "SELECT count(*) FROM spent_coins WHERE keyset = $1 AND value = $2 AND published <= $3",
                &[&k, &value, &sequence],
            )
            .map_err(db)?
            .get(0);
        let rows = c
            .query(
                "SELECT coin_id, published FROM spent_coins WHERE keyset = $1 AND value = $2 AND published <= $3
                 ORDER BY coin_id LIMIT $4 OFFSET $5",
                &[&k, &value, &sequence, &limit, &offset],
            )
            .map_err(db)?;
        let entries = rows
            .iter()
            .map(|r| Ok((CoinId(arr(r.get(0))?), to_u64(r.get(1))?)))
            .collect::<StoreResult<_>>()?;
        Ok((to_u64(total)?, entries))
    }

    fn spent_published(&mut self, ids: &[CoinId]) -> StoreResult<Vec<Option<Option<u64>>>> {
        let keys: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        let rows = self
            .c()?
            .query(
                "SELECT i.ord, s.coin_id IS NOT NULL, s.published
                 FROM unnest($1::BYTEA[]) WITH ORDINALITY AS i(coin_id, ord)
                 LEFT JOIN spent_coins s ON s.coin_id = i.coin_id ORDER BY i.ord",
                &[&keys],
            )
            .map_err(db)?;
        if rows.len() != ids.len() {
            return Err(StoreError::Corrupt("spent lookup answered a different number of coins".into()));
        }
        rows.iter()
            .map(|r| match r.get::<_, bool>(1) {
                false => Ok(None),
                true => Ok(Some(r.get::<_, Option<i64>>(2).map(to_u64).transpose()?)),
            })
            .collect()
    }

    fn insert_spent_coins(
        &mut self,
        payments: &[([u8; 32], &Payment)],
        coins: &[SpentCoin],
    ) -> StoreResult<Vec<SpendOutcome>> {
        check_spend_payments(payments, coins)?;
        // The first occurrence of each coin goes to the database; a later
        // one is answered from the first's outcome.
        let mut first = std::collections::HashMap::with_capacity(coins.len());
        let distinct: Vec<&SpentCoin> = coins
            .iter()
            .enumerate()
            .filter(|(i, c)| *first.entry(c.coin_id).or_insert(*i) == *i)
            .map(|(_, c)| c)
            .collect();
        let bytes = |f: fn(&SpentCoin) -> &[u8]| distinct.iter().map(|c| f(c)).collect::<Vec<&[u8]>>();
        let (ids, serials, challenges) = (
            bytes(|c| c.coin_id.as_bytes()),
            bytes(|c| c.serial.as_bytes()),
            bytes(|c| c.challenge.as_bytes()),
        );
        let (merchants, digests) = (bytes(|c| c.merchant.as_bytes()), bytes(|c| &c.payment_digest));
        let days: Vec<i64> = distinct.iter().map(|c| i64::from(c.day.0)).collect();
        let receipt_days: Vec<i64> = distinct.iter().map(|c| i64::from(c.receipt_day.0)).collect();
        let indices: Vec<i64> = distinct.iter().map(|c| i64::from(c.coin_index)).collect();
        let values = distinct.iter().map(|c| to_i64(c.value)).collect::<StoreResult<Vec<i64>>>()?;
        let prune_after: Vec<i64> = distinct.iter().map(|c| i64::from(c.prune_after.0)).collect();
        let keysets = bytes(|c| c.keyset.0.as_slice());
        let pay_digests: Vec<&[u8]> = payments.iter().map(|(d, _)| d.as_slice()).collect();
        let pay_bodies: Vec<Vec<u8>> = payments.iter().map(|(_, p)| enc(p)).collect();
        // One statement: insert every coin whose coin_id is unrecorded (the
        // primary key decides, a concurrent insert of the same coin_id
        // waits for the first), store the payments of the inserted coins,
        // and answer per coin: the record it conflicted with (as of the
        // statement's snapshot), whether it was inserted, its watch-list case.
        let rows = self
            .c()?
            .query(
                &format!(
                    "WITH input AS (
                       SELECT * FROM unnest($1::BYTEA[], $2::BYTEA[], $3::BYTEA[], $4::BYTEA[], $5::INT8[],
                                            $6::INT8[], $7::BYTEA[], $8::INT8[], $9::INT8[], $10::INT8[],
                                            $11::BYTEA[])
                         WITH ORDINALITY AS t({SPENT_COLUMNS}, ord)),
                     ins AS (
                       INSERT INTO spent_coins ({SPENT_COLUMNS}) SELECT {SPENT_COLUMNS} FROM input ORDER BY ord
                       ON CONFLICT DO NOTHING RETURNING coin_id, payment_digest),
                     pay AS (
                       INSERT INTO payments (digest, body)
                       SELECT p.digest, p.body FROM unnest($12::BYTEA[], $13::BYTEA[]) AS p(digest, body)
                       WHERE p.digest IN (SELECT payment_digest FROM ins)
                       ON CONFLICT (digest) DO NOTHING)
                     SELECT s.coin_id, s.serial, s.challenge, s.merchant, s.day, s.receipt_day, s.payment_digest,
                            s.coin_index, s.value, s.prune_after, s.keyset, ins.coin_id IS NOT NULL, w.case_id
                     FROM input i
                     LEFT JOIN ins ON ins.coin_id = i.coin_id
                     LEFT JOIN spent_coins s ON s.coin_id = i.coin_id AND ins.coin_id IS NULL
                     LEFT JOIN watch_list w ON w.serial = i.serial AND ins.coin_id IS NOT NULL
                     ORDER BY i.ord"
                ),
                &[
                    &ids,
                    &serials,
                    &challenges,
                    &merchants,
                    &days,
                    &receipt_days,
                    &digests,
                    &indices,
                    &values,
                    &prune_after,
                    &keysets,
                    &pay_digests,
                    &pay_bodies,
                ],
            )
            .map_err(db)?;
        if rows.len() != distinct.len() {
            return Err(StoreError::Corrupt("spent-coin batch answered a different number of coins".into()));
        }
        let mut rows = rows.iter();
        let mut outcomes: Vec<SpendOutcome> = Vec::with_capacity(coins.len());
        for (i, coin) in coins.iter().enumerate() {
            let outcome = match first[&coin.coin_id] {
                f if f < i => match &outcomes[f] {
                    SpendOutcome::New { .. } => SpendOutcome::Spent(coins[f].clone()),
                    spent => spent.clone(),
                },
                _ => {
                    // Rows come in the order of first occurrences.
                    let r = rows.next().ok_or(StoreError::Corrupt("spent-coin batch answer".into()))?;
                    if r.get::<_, bool>(11) {
                        SpendOutcome::New { watched: r.get(12) }
                    } else if r.get::<_, Option<Vec<u8>>>(0).is_some() {
                        SpendOutcome::Spent(spent_row(r)?)
                    } else {
                        // Recorded by a transaction that committed after this
                        // statement's snapshot was taken.
                        return Err(StoreError::Conflict("spent coin"));
                    }
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn insert_payment(&mut self, digest: &[u8; 32], payment: &Payment) -> StoreResult<()> {
        self.c()?
            .execute(
                "INSERT INTO payments (digest, body) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
                &[&digest.as_slice(), &enc(payment)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn payment(&mut self, digest: &[u8; 32]) -> StoreResult<Option<Payment>> {
        let rows = self
            .c()?
            .query("SELECT body FROM payments WHERE digest = $1", &[&digest.as_slice()])
            .map_err(db)?;
        rows.first().map(|r| dec(&r.get::<_, Vec<u8>>(0))).transpose()
    }

    fn prune_spent_coins(&mut self, today: Day) -> StoreResult<usize> {
        let n = self
            .c()?
            .execute("DELETE FROM spent_coins WHERE prune_after < $1", &[&i64::from(today.0)])
            .map_err(db)?;
        self.c()?
            .execute(
                "DELETE FROM payments p WHERE NOT EXISTS (SELECT 1 FROM spent_coins s WHERE s.payment_digest = p.digest)",
                &[],
            )
            .map_err(db)?;
        Ok(n as usize)
    }

    fn spent_coin_count(&mut self) -> StoreResult<u64> {
        let r = self.c()?.query_one("SELECT count(*) FROM spent_coins", &[]).map_err(db)?;
        to_u64(r.get(0))
    }

    fn deposit_receipt(
        &mut self,
        merchant: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<([u8; 32], DepositReceipt)>> {
        let rows = self
            .c()?
            .query(
                "SELECT digest, body FROM deposit_receipts WHERE merchant = $1 AND request_id = $2",
                &[&merchant.as_bytes().as_slice(), &request_id.as_slice()],
            )
            .map_err(db)?;
        rows.first().map(|r| Ok((arr(r.get(0))?, dec(&r.get::<_, Vec<u8>>(1))?))).transpose()
    }

    fn insert_deposit_receipt(&mut self, digest: &[u8; 32], receipt: &DepositReceipt) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "INSERT INTO deposit_receipts (merchant, request_id, digest, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &receipt.merchant_id.as_bytes().as_slice(),
                    &receipt.request_id.as_slice(),
                    &digest.as_slice(),
                    &enc(receipt),
                ],
            )
            .map_err(db)?;
        inserted(n, "deposit request")
    }

    fn insert_evidence(&mut self, e: &EvidenceRecord) -> StoreResult<()> {
        let account = e.account.map(|a| a.0.to_vec());
        // The id is max + 1 (not the sequence's next value): two concurrent
        // inserts read the same max, the second waits for the first on the
        // primary key, inserts nothing and is retried (conflict), so id
        // n + 1 is computed only once n committed: ids are assigned in
        // commit order and the evidence cursor never skips a late commit.
        let n = self
            .c()?
            .execute(
                "INSERT INTO evidence (id, coin_id, account, recorded, body)
                 SELECT COALESCE(max(id), 0) + 1, $1, $2, $3, $4 FROM evidence
                 ON CONFLICT DO NOTHING",
                &[&e.evidence.coin_id.as_bytes().as_slice(), &account, &i64::from(e.recorded.0), &enc(e)],
            )
            .map_err(db)?;
        inserted(n, "evidence")
    }

    fn evidence_of(&mut self, coin: &CoinId) -> StoreResult<Option<EvidenceRecord>> {
        let rows = self
            .c()?
            .query("SELECT body FROM evidence WHERE coin_id = $1", &[&coin.as_bytes().as_slice()])
            .map_err(db)?;
        rows.first().map(|r| dec(&r.get::<_, Vec<u8>>(0))).transpose()
    }

    fn evidence_after(&mut self, after: u64, limit: usize) -> StoreResult<Vec<StoredEvidence>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .c()?
            .query("SELECT id, body FROM evidence WHERE id > $1 ORDER BY id LIMIT $2", &[&after, &limit])
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok(StoredEvidence { seq: to_u64(r.get(0))?, record: dec(&r.get::<_, Vec<u8>>(1))? }))
            .collect()
    }

    fn evidence_count(&mut self) -> StoreResult<u64> {
        let r = self.c()?.query_one("SELECT count(*) FROM evidence", &[]).map_err(db)?;
        to_u64(r.get(0))
    }

    fn insert_refusal_record(&mut self, r: &RefusalRecord) -> StoreResult<()> {
        let n = self
            .c()?
            .execute(
                "INSERT INTO refusal_records (payment_digest, broken, body) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&r.payment_digest.as_slice(), &r.broken, &enc(r)],
            )
            .map_err(db)?;
        inserted(n, "refusal record")
    }

    fn refusal_record(&mut self, payment_digest: &[u8; 32]) -> StoreResult<Option<RefusalRecord>> {
        let rows = self
            .c()?
            .query(
                "SELECT body FROM refusal_records WHERE payment_digest = $1",
                &[&payment_digest.as_slice()],
            )
            .map_err(db)?;
        rows.first().map(|r| dec(&r.get::<_, Vec<u8>>(0))).transpose()
    }

    fn broken_refusals(&mut self) -> StoreResult<Vec<RefusalRecord>> {
        let rows =
            self.c()?.query("SELECT body FROM refusal_records WHERE broken ORDER BY seq", &[]).map_err(db)?;
        rows.iter().map(|r| dec(&r.get::<_, Vec<u8>>(0))).collect()
    }

    fn watch_serial(&mut self, serial: &Point, case: &str) -> StoreResult<()> {
        self.c()?
            .execute(
                "INSERT INTO watch_list (serial, case_id) VALUES ($1, $2)
                 ON CONFLICT (serial) DO UPDATE SET case_id = excluded.case_id",
                &[&serial.as_bytes().as_slice(), &case],
            )
            .map_err(db)?;
        Ok(())
    }

    fn watched_serial(&mut self, serial: &Point) -> StoreResult<Option<String>> {
        let rows = self
            .c()?
            .query("SELECT case_id FROM watch_list WHERE serial = $1", &[&serial.as_bytes().as_slice()])
            .map_err(db)?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn watch_list(&mut self) -> StoreResult<Vec<(Point, String)>> {
        let rows =
            self.c()?.query("SELECT serial, case_id FROM watch_list ORDER BY serial", &[]).map_err(db)?;
        rows.iter().map(|r| Ok((point(r.get(0))?, r.get(1)))).collect()
    }
}
