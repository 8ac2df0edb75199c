//! The bank: registration, withdrawal sessions, deposits, double-spend
//! identification (specs/protocol.md §7–§10).
//!
//! Every step that moves money or changes a session is one store
//! transaction, retried on [`StoreError::Retry`]. Proofs are verified before
//! the transaction; inside it come the replay lookup, the rule checks and the
//! writes. The answer to a withdrawal challenge leaves only after the
//! transaction that debits the account, stores the answer and erases `w` has
//! committed.

use std::sync::{Arc, RwLock};

use rand_core::CryptoRngCore;

use crate::coin::CoinId;
use crate::crypto::acl::{SignerAnswer, SignerCommitment, SignerSession};
use crate::crypto::transcript::labels;
use crate::encoding::Point;
use crate::failpoint::failpoint;
use crate::keys::{
    user_account_id, AccountId, BankSecrets, Keyset, KeysetId, KeysetLookup, KeysetSpec, SignedKeyset,
};
use crate::params::MAX_COINS_PER_PAYMENT;
use crate::protocol::account::{
    AccountAnswer, AccountEvent, AccountEventKind, AccountOperation, AccountRequest, AccountStatus,
    RekeyRequest, Reservation, ReservationId, WithdrawalPage, MAX_LIST_PAGE, MAX_REASON_BYTES,
    MAX_STATUS_EVENTS,
};
use crate::protocol::deposit::{
    check_payment_cheaply, verify_payments, CoinOutcome, DepositOutcome, DepositReceipt, DepositRequest,
    DoubleSpendEvidence, PaymentOutcome, PaymentRefusal, PaymentVerdict, UnsignedReceipt,
};
use crate::protocol::pay::verify_payment;
use crate::protocol::reclaim::ReclaimRequest;
use crate::protocol::register::{MerchantRegistration, UserRegistration};
use crate::protocol::spent::{SpentEntry, SpentList, UnspentQuery, UnspentStatement, SPENT_LIST_PAGE};
use crate::protocol::trace::{TraceKind, TraceRecord, TraceResult, Warrant, WatchList};
use crate::protocol::trust::{SignedTtpKeyStatement, TtpKeyStatement};
use crate::protocol::withdraw::{
    commitment_digest, EndReason, SessionEnd, SessionId, TranscriptState, WithdrawAnswer, WithdrawChallenge,
    WithdrawCommitment, WithdrawOutcome, WithdrawRequest, WithdrawalTranscript,
};
use crate::protocol::{checked_sum, Error, Result};
use crate::store::{
    Account, AccountKind, AccountRequestRecord, BankStore, BankTx, EvidenceRecord, IdentityRecord,
    RefusalRecord, SessionState, SpendOutcome, SpentCoin, StoreError, StoredEvidence, WithdrawSession,
};
use crate::time::{Clock, Day, Timestamp};
use crate::wire::WireMessage;

fn event(at: Timestamp, kind: AccountEventKind, reason: &str) -> AccountEvent {
    AccountEvent { at, kind, reason: reason.to_string() }
}

/// An operator's reason text: 1 to 256 bytes of text without control
/// characters.
fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(Error::BadReason("a reason is required"));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(Error::BadReason("a reason is at most 256 bytes"));
    }
    if reason.chars().any(char::is_control) {
        return Err(Error::BadReason("a reason is one line of text, without control characters"));
    }
    Ok(())
}

use super::limits::{DepositGate, DepositLimits, DepositLoad};

/// What the bank does with a deposited coin whose serial is on the
/// coin-tracing watch list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WatchPolicy {
    /// Credit the merchant and report the coin.
    #[default]
    AcceptAndFlag,
    /// Refuse the credit (the coin still counts as spent).
    Refuse,
}

/// The bank's operating rules.
#[derive(Clone, Debug)]
pub struct BankConfig {
    /// Seconds an unanswered withdrawal session stays open.
    pub session_ttl_secs: u64,
    /// Seconds a withdrawal reservation holds its amount without a new
    /// session opened under it (each session extends it to its own end).
    pub reservation_ttl_secs: u64,
    /// Most open withdrawal sessions per account.
    pub max_open_sessions: usize,
    /// What to do with watch-listed coins.
    pub watch_policy: WatchPolicy,
    /// How often a transaction is retried on a transient store failure.
    pub tx_retries: u32,
    /// How long the keyset list read from the store is used before the
    /// store is read again (keysets another process or node issued are seen
    /// after at most this long; `None`: only on [`Bank::refresh_keysets`]).
    pub keyset_refresh: Option<std::time::Duration>,
    /// Bounds on deposit verification work.
    pub deposit_limits: DepositLimits,
    /// Seconds a spent-list publication serves before a list request
    /// publishes again (specs/protocol.md §7.7; 0: every request).
    pub spent_list_interval_secs: u64,
}

/// The default of [`BankConfig::spent_list_interval_secs`].
pub const DEFAULT_SPENT_LIST_INTERVAL_SECS: u64 = 300;

impl Default for BankConfig {
    fn default() -> Self {
        BankConfig {
            session_ttl_secs: 300,
            reservation_ttl_secs: 600,
            max_open_sessions: 4,
            watch_policy: WatchPolicy::default(),
            tx_retries: 16,
            keyset_refresh: Some(std::time::Duration::from_secs(10)),
            deposit_limits: DepositLimits::default(),
            spent_list_interval_secs: DEFAULT_SPENT_LIST_INTERVAL_SECS,
        }
    }
}

/// What a bank re-reads from outside its store when it meets keysets issued
/// elsewhere (another process, another node): its secrets (the denomination
/// keys of the new keysets) and the TTP key statements it publishes.
pub struct Reloaded {
    /// The bank's secrets.
    pub secrets: BankSecrets,
    /// The TTP key statements to publish.
    pub ttp_statements: Vec<SignedTtpKeyStatement>,
}

/// Re-reads a bank's secrets and TTP key statements (the command line reads
/// `bank.key` and `bank.json`).
pub type Reloader = Box<dyn Fn() -> Result<Reloaded> + Send + Sync>;

/// Called with the keyset list whenever it grew (the command line rewrites
/// `keysets.json`).
pub type KeysetListener = Box<dyn Fn(&[SignedKeyset]) + Send + Sync>;

/// The bank.
pub struct Bank<S: BankStore> {
    store: S,
    secrets: RwLock<BankSecrets>,
    keysets: RwLock<Vec<Keyset>>,
    ttp_statements: RwLock<Vec<SignedTtpKeyStatement>>,
    last_refresh: std::sync::Mutex<Option<std::time::Instant>>,
    reloader: RwLock<Option<Reloader>>,
    listener: RwLock<Option<KeysetListener>>,
    clock: Arc<dyn Clock>,
    config: BankConfig,
    deposits: DepositGate,
}

impl<S: BankStore> std::fmt::Debug for Bank<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank").field("config", &self.config).finish_non_exhaustive()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl<S: BankStore> Bank<S> {
    /// A bank over `store` with `secrets`; loads and verifies the keysets in
    /// the store against the master key.
    pub fn open(store: S, secrets: BankSecrets, clock: Arc<dyn Clock>, config: BankConfig) -> Result<Self> {
        let deposits = DepositGate::new(config.deposit_limits.clone());
        let bank = Bank {
            store,
            secrets: RwLock::new(secrets),
            keysets: RwLock::new(Vec::new()),
            ttp_statements: RwLock::new(Vec::new()),
            last_refresh: std::sync::Mutex::new(None),
            reloader: RwLock::new(None),
            listener: RwLock::new(None),
            clock,
            config,
            deposits,
        };
        bank.reload_keysets()?;
        Ok(bank)
    }

    /// Sets what the bank re-reads when it meets keysets issued elsewhere
    /// (and on [`Bank::reload`]).
    pub fn set_reloader(&self, reloader: Reloader) {
        *write(&self.reloader) = Some(reloader);
    }

    /// Sets the function called with the keyset list whenever it grows.
    pub fn on_keysets_changed(&self, listener: KeysetListener) {
        *write(&self.listener) = Some(listener);
    }

    /// Reads the keyset list from the store and adopts the keysets issued
    /// since (by another process or node on the same store), re-reading the
    /// secrets first ([`Bank::set_reloader`]) if a new keyset's keys are
    /// not among them. Returns how many keysets are new.
    ///
    /// The list read must extend the one held (same keysets, in order, each
    /// verified under the master key): a store that does not is refused as
    /// corrupt and nothing changes.
    pub fn refresh_keysets(&self) -> Result<usize> {
        let master = *read(&self.secrets).master_public();
        let signed = self.run_tx("keysets", |tx| Ok(tx.keysets()?))?;
        *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        let held = read(&self.keysets).clone();
        if signed.len() <= held.len() {
            return Ok(0);
        }
        let mut out = held.clone();
        for s in &signed[held.len()..] {
            let k = s.verify(&master)?;
            match out.last() {
                Some(prev) if !prev.is_followed_by(&k) => {
                    return Err(Error::Store(StoreError::Corrupt("keyset list is not a chain".into())))
                }
                None if k.document().sequence != 0 => {
                    return Err(Error::Store(StoreError::Corrupt("keyset list is not a chain".into())))
                }
                _ => {}
            }
            out.push(k);
        }
        if held.iter().zip(&signed).any(|(k, s)| k.signed() != s) {
            return Err(Error::Store(StoreError::Corrupt("keyset list changed in the store".into())));
        }
        let missing = |secrets: &BankSecrets| {
            out[held.len()..]
                .iter()
                .flat_map(|k| k.document().keys.iter())
                .any(|k| secrets.denomination_secret(&k.key_id).is_none())
        };
        if missing(&read(&self.secrets)) {
            self.reload_secrets()?;
            if missing(&read(&self.secrets)) {
                tracing::warn!("new keysets in the store whose keys this node does not hold; it cannot answer withdrawals under them");
            }
        }
        let added = {
            let mut keysets = write(&self.keysets);
            // Another caller may have adopted them meanwhile.
            if keysets.len() >= out.len() {
                return Ok(0);
            }
            let added = out.len() - keysets.len();
            *keysets = out;
            added
        };
        tracing::info!(added, keysets = read(&self.keysets).len(), "new keysets from the store");
        self.keysets_changed();
        Ok(added)
    }

    /// Re-reads the secrets and TTP key statements ([`Bank::set_reloader`])
    /// and the keyset list: what a node does on SIGHUP.
    pub fn reload(&self) -> Result<usize> {
        self.reload_secrets()?;
        self.refresh_keysets()
    }

    fn reload_secrets(&self) -> Result<()> {
        let reloaded = match &*read(&self.reloader) {
            Some(f) => f()?,
            None => return Ok(()),
        };
        let mut secrets = write(&self.secrets);
        if reloaded.secrets.master_public() != secrets.master_public() {
            return Err(Error::Store(StoreError::Corrupt("reloaded secrets have another master key".into())));
        }
        *secrets = reloaded.secrets;
        drop(secrets);
        self.set_ttp_statements(reloaded.ttp_statements)
    }

    fn keysets_changed(&self) {
        if let Some(f) = &*read(&self.listener) {
            f(&self.published_keysets());
        }
    }

    /// Reads the store again if the keyset list is older than
    /// [`BankConfig::keyset_refresh`]; a failure is logged and the list held
    /// is kept.
    fn refresh_if_stale(&self) {
        let Some(ttl) = self.config.keyset_refresh else { return };
        let stale =
            self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()).is_none_or(|t| t.elapsed() >= ttl);
        if stale {
            if let Err(e) = self.refresh_keysets() {
                tracing::warn!(error = %e, "keyset refresh failed; keeping the list held");
            }
        }
    }

    /// Re-reads the keyset list from the store.
    pub fn reload_keysets(&self) -> Result<()> {
        let master = *read(&self.secrets).master_public();
        let signed = self.run_tx("keysets", |tx| Ok(tx.keysets()?))?;
        let mut out: Vec<Keyset> = Vec::with_capacity(signed.len());
        for s in &signed {
            let k = s.verify(&master)?;
            if let Some(prev) = out.last() {
                if !prev.is_followed_by(&k) {
                    return Err(Error::Store(StoreError::Corrupt("keyset list is not a chain".into())));
                }
            }
            out.push(k);
        }
        *write(&self.keysets) = out;
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &BankConfig {
        &self.config
    }

    /// The bank's master public key.
    pub fn master_key(&self) -> Point {
        *read(&self.secrets).master_public()
    }

    /// A copy of the secrets (to persist them after issuing a keyset).
    pub fn secrets(&self) -> BankSecrets {
        read(&self.secrets).clone()
    }

    /// Every keyset, oldest first (read from the store again when older
    /// than [`BankConfig::keyset_refresh`]).
    pub fn keysets(&self) -> Vec<Keyset> {
        self.refresh_if_stale();
        read(&self.keysets).clone()
    }

    /// The newest keyset.
    pub fn current_keyset(&self) -> Option<Keyset> {
        self.refresh_if_stale();
        read(&self.keysets).last().cloned()
    }

    /// Whether a scheduled rotation is due: no keyset yet, or the newest was
    /// issued `every_days` days ago or more.
    pub fn rotation_due(&self, every_days: u32) -> bool {
        self.current_keyset().is_none_or(|k| k.document().issued.plus(every_days) <= self.today())
    }

    /// Today, by the bank's clock.
    pub fn today(&self) -> Day {
        self.clock.today()
    }

    /// Runs `f` as one transaction, retrying on transient failures and on
    /// uniqueness races (`f` must be safe to run again).
    pub fn run_tx<T>(
        &self,
        name: &'static str,
        mut f: impl FnMut(&mut dyn BankTx) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            let mut tx = self.store.begin()?;
            let outcome = f(&mut *tx).and_then(|v| tx.commit().map(|_| v).map_err(Error::from));
            match outcome {
                // A serialization failure, or a uniqueness race lost to another
                // node (every transaction checks before it inserts, so a
                // conflict at insert means a concurrent commit): run again,
                // and the next run sees the committed fact.
                Err(Error::Store(StoreError::Retry | StoreError::Conflict(_)))
                    if attempt < self.config.tx_retries =>
                {
                    attempt += 1;
                    tracing::debug!(tx = name, attempt, "transaction retried");
                    let jitter = rand::Rng::gen_range(&mut rand::rngs::OsRng, 0..(1u64 << attempt.min(6)));
                    std::thread::sleep(std::time::Duration::from_millis(jitter));
                }
                other => return other,
            }
        }
    }

    /// Issues the next keyset and appends it to the list.
    pub fn issue_keyset(
        &self,
        ttp_key: Point,
        spec: &KeysetSpec,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Keyset> {
        self.issue_keyset_with(ttp_key, spec, rng, |_| Ok(()))
    }

    /// As [`Bank::issue_keyset`], calling `persist` with the new secrets
    /// before the keyset is published in the store: a crash can leave an
    /// unused key in the secrets, never a published keyset without its key.
    pub fn issue_keyset_with(
        &self,
        ttp_key: Point,
        spec: &KeysetSpec,
        rng: &mut impl CryptoRngCore,
        persist: impl FnOnce(&BankSecrets) -> Result<()>,
    ) -> Result<Keyset> {
        // Extend the newest keyset in the store (another node may have
        // issued one since this one last looked).
        self.refresh_keysets()?;
        let mut secrets = write(&self.secrets);
        let prev = read(&self.keysets).last().cloned();
        let mut updated = secrets.clone();
        let keyset = updated.issue_keyset(prev.as_ref(), ttp_key, spec, rng)?;
        persist(&updated)?;
        self.run_tx("insert_keyset", |tx| Ok(tx.insert_keyset(keyset.signed())?))?;
        *secrets = updated;
        drop(secrets);
        {
            let mut keysets = write(&self.keysets);
            if !keysets.iter().any(|k| k.id() == keyset.id()) {
                keysets.push(keyset.clone());
            }
        }
        self.keysets_changed();
        Ok(keyset)
    }

    /// Signs `message` under the domain `label` with the online signing key
    /// of `keyset` (its [`Keyset::signing_key`]): the key for what the bank
    /// answers on-line under that keyset (withdrawal commitments, deposit
    /// receipts; specs/protocol.md §4.2).
    pub fn sign_online(
        &self,
        keyset: &Keyset,
        label: &'static [u8],
        message: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<crate::crypto::schnorr::Signature> {
        let secrets = read(&self.secrets);
        let key = secrets.online_signing_key(keyset.signing_key()).ok_or(Error::Store(
            StoreError::Corrupt("no online signing key for a published keyset".into()),
        ))?;
        Ok(key.sign(label, message, rng))
    }

    /// Sets the TTP key statements the bank publishes for wallets and
    /// merchants (`GET /v1/ttp-statements`): those of the TTP keys its
    /// keysets name. Each must verify; whether to trust its signing key is
    /// the wallets' and merchants' decision, not the bank's.
    pub fn set_ttp_statements(&self, statements: Vec<SignedTtpKeyStatement>) -> Result<()> {
        for s in &statements {
            s.verify().map_err(crate::protocol::trust::PinError::BadTtpStatement)?;
        }
        *write(&self.ttp_statements) = statements;
        Ok(())
    }

    /// The TTP key statements the bank publishes.
    pub fn ttp_statements(&self) -> Vec<SignedTtpKeyStatement> {
        read(&self.ttp_statements).clone()
    }

    /// The signed keyset list, for publication.
    pub fn published_keysets(&self) -> Vec<SignedKeyset> {
        self.refresh_if_stale();
        read(&self.keysets).iter().map(|k| k.signed().clone()).collect()
    }

    fn register(&self, id: AccountId, kind: AccountKind, key: Point) -> Result<AccountId> {
        let today = self.today();
        self.run_tx("register", |tx| {
            match tx.account(&id)? {
                Some(a) if a.kind == kind && a.public_key == key => return Ok(id),
                Some(_) => return Err(Error::WrongAccountKind(id)),
                None => {}
            }
            tx.insert_account(&Account {
                id,
                kind,
                public_key: key,
                balance: 0,
                frozen: false,
                registered: today,
                auth_key: None,
            })?;
            Ok(id)
        })
    }

    /// Registers a user (idempotent): its identity `I` and its
    /// authentication key `A`.
    ///
    /// Refused: an identity held or once held by an account
    /// ([`Error::IdentityInUse`], [`Error::IdentityRetired`]) — in
    /// particular a second registration of an `I` with another
    /// authentication key, so whoever learns `u` from double-spending
    /// evidence cannot take the account over by registering again.
    pub fn register_user(&self, reg: &UserRegistration, rng: &mut impl CryptoRngCore) -> Result<AccountId> {
        let id = reg.verify(rng)?;
        let (today, now) = (self.today(), self.clock.now());
        self.run_tx("register_user", |tx| {
            if let Some(rec) = tx.identity(&reg.identity)? {
                if rec.retired.is_some() {
                    return Err(Error::IdentityRetired);
                }
                let held = tx.account(&rec.account)?.ok_or(Error::UnknownAccount(rec.account))?;
                return if rec.account == id && held.auth_key == Some(reg.auth_key) {
                    Ok(id)
                } else {
                    Err(Error::IdentityInUse)
                };
            }
            if tx.account(&id)?.is_some() {
                return Err(Error::WrongAccountKind(id));
            }
            tx.insert_account(&Account {
                id,
                kind: AccountKind::User,
                public_key: reg.identity,
                balance: 0,
                frozen: false,
                registered: today,
                auth_key: Some(reg.auth_key),
            })?;
            tx.insert_identity(&IdentityRecord {
                identity: reg.identity,
                account: id,
                since: today,
                retired: None,
                revealed: false,
            })?;
            tx.insert_account_event(&id, &event(now, AccountEventKind::Registered, "registered"))?;
            Ok(id)
        })
    }

    /// Registers a merchant (idempotent).
    pub fn register_merchant(
        &self,
        reg: &MerchantRegistration,
        rng: &mut impl CryptoRngCore,
    ) -> Result<AccountId> {
        let id = reg.verify(rng)?;
        self.register(id, AccountKind::Merchant, reg.key)
    }

    /// Credits an account from outside the system (a transfer in).
    pub fn fund(&self, account: &AccountId, amount: u64) -> Result<u64> {
        self.run_tx("fund", |tx| {
            let a = tx.account(account)?.ok_or(Error::UnknownAccount(*account))?;
            let balance = a.balance.checked_add(amount).ok_or(Error::Overflow)?;
            tx.set_balance(account, balance)?;
            Ok(balance)
        })
    }

    /// The account with this id.
    pub fn account(&self, id: &AccountId) -> Result<Account> {
        self.run_tx("account", |tx| tx.account(id)?.ok_or(Error::UnknownAccount(*id)))
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.run_tx("accounts", |tx| Ok(tx.accounts()?))
    }

    /// An account's history (registration, freezes, unfreezes, re-keys,
    /// key rotations), oldest first.
    pub fn account_history(&self, id: &AccountId) -> Result<Vec<AccountEvent>> {
        self.run_tx("account_history", |tx| {
            tx.account(id)?.ok_or(Error::UnknownAccount(*id))?;
            Ok(tx.account_events(id)?)
        })
    }

    /// What reservations and open sessions hold of `account` at `now`
    /// (§7.4): the undrawn part of every active reservation, and the value
    /// of every open session of the current epoch that draws on none.
    fn held(tx: &mut dyn BankTx, account: &AccountId, now: Timestamp) -> Result<u64> {
        let epoch = tx.session_epoch()?;
        let reservations = tx.active_reservations(account, now)?;
        let sessions = tx.open_sessions_of(account, now)?;
        checked_sum(reservations.iter().map(|r| r.held(now)).chain(
            sessions.iter().filter(|s| s.request.reservation.is_none() && s.epoch == epoch).map(|s| s.value),
        ))
    }

    /// The value of the open sessions drawing on `reservation` at `now`.
    fn in_flight(
        tx: &mut dyn BankTx,
        account: &AccountId,
        reservation: &ReservationId,
        now: Timestamp,
    ) -> Result<u64> {
        let sessions = tx.open_sessions_of(account, now)?;
        checked_sum(sessions.iter().filter(|s| s.request.reservation == Some(*reservation)).map(|s| s.value))
    }

    fn signed_commitment(
        &self,
        keyset: &Keyset,
        req: &WithdrawRequest,
        commitment: SignerCommitment,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawCommitment> {
        let digest = commitment_digest(req, &commitment);
        let signature = self.sign_online(keyset, labels::WITHDRAW_COMMITMENT_SIGNATURE, &digest, rng)?;
        Ok(WithdrawCommitment { session_id: req.session_id, commitment, signature })
    }

    /// Withdrawal, first round: checks the request and opens a session.
    ///
    /// Order of checks: keyset and key known, key withdrawable today, expiry
    /// is the policy's, account is a user with an authentication key, not
    /// frozen; `pi_W` verifies against its current identity (before the
    /// transaction); then in one transaction: an existing session with this
    /// id is answered again if it holds the same request (retry) and
    /// refused otherwise; `C` never used; open sessions under the limit;
    /// the session's value is covered (by its reservation, or by the
    /// balance not held); the session is stored before the commitment is
    /// signed and returned.
    pub fn open_withdrawal(
        &self,
        req: &WithdrawRequest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawCommitment> {
        let today = self.today();
        let now = self.clock.now();
        let keyset = self
            .keysets()
            .into_iter()
            .find(|k| k.id() == req.keyset_id)
            .ok_or(Error::UnknownKeyset(req.keyset_id))?;
        let key = *keyset.key(&req.key_id).ok_or(Error::UnknownKey(req.key_id))?;
        // A retry of a request already accepted gets the same commitment.
        let digest = req.digest();
        if let Some(existing) = self.run_tx("session", |tx| Ok(tx.session(&req.session_id)?))? {
            return if existing.request.digest() == digest {
                self.signed_commitment(&keyset, req, existing.commitment, rng)
            } else {
                Err(Error::SessionConflict)
            };
        }
        if !key.withdrawable_on(today) {
            return Err(Error::KeyNotValid { key_id: key.key_id, day: today });
        }
        let allowed = keyset.policy().expiry_for(today);
        // The wallet's clock may still be on yesterday.
        if req.expiry != allowed && req.expiry != allowed.minus(1) {
            return Err(Error::ExpiryPolicy { requested: req.expiry, allowed });
        }
        let account = self.account(&req.account)?;
        if account.kind != AccountKind::User {
            return Err(Error::WrongAccountKind(req.account));
        }
        if account.frozen {
            return Err(Error::AccountFrozen(req.account));
        }
        if account.auth_key.is_none() {
            return Err(Error::RekeyRequired(req.account));
        }
        req.verify_proof(&account.public_key, &keyset, rng)?;
        let identity = account.public_key;

        // A zeroizing copy of x_k (the lock is not held across the transaction).
        let x = read(&self.secrets)
            .denomination_secret(&key.key_id)
            .cloned()
            .ok_or(Error::UnknownKey(key.key_id))?;
        let ttl = self.config.session_ttl_secs;
        let opened = self.run_tx("open_withdrawal", |tx| {
            if let Some(existing) = tx.session(&req.session_id)? {
                return if existing.request.digest() == digest {
                    Ok(existing.commitment)
                } else {
                    Err(Error::SessionConflict)
                };
            }
            let account = tx.account(&req.account)?.ok_or(Error::UnknownAccount(req.account))?;
            if account.frozen {
                return Err(Error::AccountFrozen(req.account));
            }
            // A re-key between the proof check and here: the proof was for
            // an identity the account no longer has.
            if account.public_key != identity {
                return Err(Error::InvalidProof("withdraw proof"));
            }
            if tx.commitment_used(&req.commitment)? {
                return Err(Error::CommitmentReused);
            }
            if tx.open_sessions(&req.account, now)? >= self.config.max_open_sessions {
                return Err(Error::SessionLimit { limit: self.config.max_open_sessions });
            }
            let expires = now.plus_secs(ttl);
            match &req.reservation {
                Some(rid) => {
                    let mut r = tx.reservation(rid)?.ok_or(Error::UnknownReservation)?;
                    if r.account != req.account {
                        return Err(Error::UnknownReservation);
                    }
                    if !r.is_active(now) {
                        return Err(Error::ReservationInactive);
                    }
                    let in_flight = Self::in_flight(tx, &req.account, rid, now)?;
                    let remaining = r.remaining().saturating_sub(in_flight);
                    if remaining < key.value {
                        return Err(Error::ReservationExhausted { remaining, needed: key.value });
                    }
                    // The reservation holds at least as long as its sessions live.
                    if r.expires < expires {
                        r.expires = expires;
                        tx.update_reservation(&r)?;
                    }
                }
                None => {
                    let available = account.balance.saturating_sub(Self::held(tx, &req.account, now)?);
                    if available < key.value {
                        return Err(Error::InsufficientBalance {
                            account: req.account,
                            balance: available,
                            needed: key.value,
                        });
                    }
                }
            }
            let (signer, commitment) = SignerSession::open(
                x.expose_secret(),
                &key.acl(),
                &req.commitment,
                req.session_id.as_bytes(),
                rng,
            );
            let epoch = tx.session_epoch()?;
            tx.insert_session(&WithdrawSession {
                request: req.clone(),
                value: key.value,
                commitment,
                opened: now,
                expires,
                epoch,
                identity: account.public_key,
                state: SessionState::Open(signer),
            })?;
            Ok(commitment)
        })?;
        self.signed_commitment(&keyset, req, opened, rng)
    }

    /// Withdrawal, second round: answers the session's one challenge, or
    /// ends the session for good.
    ///
    /// The challenge must be authorized by the account's authentication
    /// key (refused otherwise, changing nothing). The same `e` on an
    /// answered session gets the stored answer; a different one is refused.
    /// On an open session, in one transaction, in this order: the
    /// challenge's commitment digest must be the stored commitment's, the
    /// session unexpired and of the current epoch, the account not frozen,
    /// the coin covered (by its reservation, or the balance). The first
    /// failure ends the session (nonces erased, nothing debited) and the
    /// answer is the bank's signed statement of that end
    /// ([`crate::protocol::withdraw::SessionEnd`]); otherwise the answer is
    /// computed, the account debited (and the reservation drawn on), the
    /// answer stored and `w` erased, committed before the answer is
    /// returned.
    pub fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
        self.answer_withdrawal_with(ch, &mut rand::rngs::OsRng)
    }

    /// As [`Bank::answer_withdrawal`], with the randomness of the end
    /// statement's signature drawn from `rng`.
    pub fn answer_withdrawal_with(
        &self,
        ch: &WithdrawChallenge,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawAnswer> {
        enum Step {
            Answered(SignerAnswer),
            Ended(KeysetId, EndReason),
        }
        let now = self.clock.now();
        let secrets = read(&self.secrets).clone();
        let newest = self.current_keyset().map(|k| k.id());
        let step = self.run_tx("answer_withdrawal", |tx| {
            let Some(session) = tx.session(&ch.session_id)? else {
                let keyset = newest.ok_or(Error::UnknownSession)?;
                return Ok(Step::Ended(keyset, EndReason::Unknown));
            };
            let account_id = session.request.account;
            let holder = tx.account(&account_id)?.ok_or(Error::UnknownAccount(account_id))?;
            let auth_key =
                holder.auth_key.ok_or(Error::InvalidProof("withdrawal challenge authorization"))?;
            ch.verify_authorization(&account_id, &auth_key)?;
            let keyset_id = session.request.keyset_id;
            let digest = commitment_digest(&session.request, &session.commitment);
            let signer = match session.state {
                SessionState::Answered { answered, .. } => {
                    return match answered.replay(&ch.e) {
                        Some(answer) if ch.commitment_digest == digest => Ok(Step::Answered(answer)),
                        _ => Err(Error::ChallengeMismatch),
                    };
                }
                SessionState::Expired => {
                    let reason = if now >= session.expires { EndReason::Expired } else { EndReason::Ended };
                    return Ok(Step::Ended(keyset_id, reason));
                }
                SessionState::Open(signer) => signer,
            };
            let mut reservation = match &session.request.reservation {
                Some(rid) => Some(tx.reservation(rid)?.ok_or(Error::UnknownReservation)?),
                None => None,
            };
            let end = if ch.commitment_digest != digest {
                Some(EndReason::CommitmentMismatch)
            } else if now >= session.expires {
                Some(EndReason::Expired)
            } else if session.epoch != tx.session_epoch()? {
                Some(EndReason::OldEpoch)
            } else if holder.frozen {
                Some(EndReason::AccountFrozen)
            } else if holder.balance < session.value
                || reservation
                    .as_ref()
                    .is_some_and(|r| r.released || r.drawn.saturating_add(session.value) > r.amount)
            {
                Some(EndReason::InsufficientBalance)
            } else {
                None
            };
            if let Some(reason) = end {
                tx.end_session(&ch.session_id)?;
                return Ok(Step::Ended(keyset_id, reason));
            }
            let x = secrets
                .denomination_secret(&session.request.key_id)
                .ok_or(Error::UnknownKey(session.request.key_id))?;
            let (answered, answer) = signer.answer(x.expose_secret(), &ch.e);
            let balance = holder.balance.checked_sub(session.value).ok_or(Error::Overflow)?;
            tx.set_balance(&account_id, balance)?;
            if let Some(r) = reservation.as_mut() {
                r.drawn = r.drawn.checked_add(session.value).ok_or(Error::Overflow)?;
                tx.update_reservation(r)?;
            }
            tx.answer_session(&ch.session_id, &answered, now)?;
            Ok(Step::Answered(answer))
        })?;
        match step {
            Step::Answered(answer) => {
                failpoint!("bank.withdraw.debited");
                Ok(WithdrawAnswer::answered(ch.session_id, answer))
            }
            Step::Ended(keyset_id, reason) => {
                let keyset = self
                    .keysets()
                    .into_iter()
                    .find(|k| k.id() == keyset_id)
                    .ok_or(Error::UnknownKeyset(keyset_id))?;
                let message = SessionEnd::message(ch, &keyset_id, reason);
                let signature =
                    self.sign_online(&keyset, labels::WITHDRAW_SESSION_END_SIGNATURE, &message, rng)?;
                Ok(WithdrawAnswer {
                    session_id: ch.session_id,
                    outcome: WithdrawOutcome::Ended(SessionEnd { keyset_id, reason, signature }),
                })
            }
        }
    }

    /// Performs an operation an account's holder asks for, authorized by
    /// the account's authentication key (§7.3).
    ///
    /// In one transaction: the account is a user with an authentication
    /// key; a replay-protected operation already recorded under its request
    /// id gets the stored answer (the same request) or is refused (another
    /// request under that id); the authorization verifies under the
    /// current key; the operation runs; a replay-protected one is recorded
    /// with its answer.
    pub fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
        if let AccountOperation::ListWithdrawals { after, limit } = req.operation {
            return self
                .list_withdrawals(req, after, limit, &mut rand::rngs::OsRng)
                .map(AccountAnswer::Withdrawals);
        }
        let now = self.clock.now();
        let ttl = self.config.reservation_ttl_secs;
        let digest = req.digest();
        let answer = self.run_tx("account_request", |tx| {
            let account = tx.account(&req.account)?.ok_or(Error::UnknownAccount(req.account))?;
            if account.kind != AccountKind::User {
                return Err(Error::WrongAccountKind(req.account));
            }
            let protected = req.operation.replay_protected();
            if protected {
                if let Some(stored) = tx.account_request(&req.account, &req.request_id)? {
                    return if stored.digest == digest {
                        Ok(AccountAnswer::from_bytes(&stored.answer)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?)
                    } else {
                        Err(Error::AccountRequestIdReused)
                    };
                }
            }
            let auth_key = account.auth_key.ok_or(Error::RekeyRequired(req.account))?;
            req.verify(&auth_key)?;
            let answer = match req.operation {
                AccountOperation::ReserveWithdrawal { reservation, amount } => {
                    AccountAnswer::Reservation(Self::reserve(tx, &account, reservation, amount, now, ttl)?)
                }
                AccountOperation::ReleaseReservation { reservation } => {
                    let mut r = tx.reservation(&reservation)?.ok_or(Error::UnknownReservation)?;
                    if r.account != req.account {
                        return Err(Error::UnknownReservation);
                    }
                    for s in tx.open_sessions_of(&req.account, now)? {
                        if s.request.reservation == Some(reservation) {
                            tx.end_session(&s.id())?;
                        }
                    }
                    if !r.released {
                        r.released = true;
                        tx.update_reservation(&r)?;
                    }
                    AccountAnswer::Reservation(r)
                }
                AccountOperation::AbandonWithdrawal { session_id } => {
                    let session = tx.session(&session_id)?.ok_or(Error::UnknownSession)?;
                    if session.request.account != req.account {
                        return Err(Error::UnknownSession);
                    }
                    match session.state {
                        SessionState::Open(_) => tx.end_session(&session_id)?,
                        SessionState::Expired => {}
                        SessionState::Answered { .. } => return Err(Error::ChallengeMismatch),
                    }
                    AccountAnswer::Status(Self::status_of(tx, &req.account, now)?)
                }
                AccountOperation::RotateAuthKey { new_key, .. } => {
                    tx.set_auth_key(&req.account, &new_key)?;
                    tx.insert_account_event(
                        &req.account,
                        &event(now, AccountEventKind::AuthKeyRotated, "rotated by the account holder"),
                    )?;
                    AccountAnswer::Status(Self::status_of(tx, &req.account, now)?)
                }
                AccountOperation::Status => AccountAnswer::Status(Self::status_of(tx, &req.account, now)?),
                // Answered by `list_withdrawals`, before this transaction.
                AccountOperation::ListWithdrawals { .. } => unreachable!("listed before the transaction"),
            };
            if protected {
                tx.insert_account_request(&AccountRequestRecord {
                    account: req.account,
                    request_id: req.request_id,
                    digest,
                    answer: answer.to_bytes(),
                })?;
            }
            Ok(answer)
        })?;
        if matches!(req.operation, AccountOperation::ReserveWithdrawal { .. }) {
            failpoint!("bank.account.reserved");
        }
        Ok(answer)
    }

    /// A page of the account's withdrawal sessions (§7.3,
    /// `list-withdrawals`), authorized by the account's authentication key:
    /// in one read transaction, the account is a user with an
    /// authentication key and the authorization verifies; then each
    /// session's commitment is signed anew (as for a retried request) and
    /// the page returned. At most [`MAX_LIST_PAGE`] sessions (a larger
    /// `limit` is cut to it; 0 lists one).
    pub fn list_withdrawals(
        &self,
        req: &AccountRequest,
        after: Option<SessionId>,
        limit: u16,
        rng: &mut impl CryptoRngCore,
    ) -> Result<WithdrawalPage> {
        let limit = usize::from(limit).clamp(1, MAX_LIST_PAGE);
        let sessions = self.run_tx("list_withdrawals", |tx| {
            let account = tx.account(&req.account)?.ok_or(Error::UnknownAccount(req.account))?;
            if account.kind != AccountKind::User {
                return Err(Error::WrongAccountKind(req.account));
            }
            let auth_key = account.auth_key.ok_or(Error::RekeyRequired(req.account))?;
            req.verify(&auth_key)?;
            Ok(tx.sessions_of(&req.account, after.as_ref(), limit)?)
        })?;
        let keysets = self.keysets();
        let mut listed = Vec::with_capacity(sessions.len());
        for session in sessions {
            let keyset = keysets
                .iter()
                .find(|k| k.id() == session.request.keyset_id)
                .ok_or(Error::UnknownKeyset(session.request.keyset_id))?;
            let commitment = self.signed_commitment(keyset, &session.request, session.commitment, rng)?;
            let state = match session.state {
                SessionState::Open(_) => TranscriptState::Open,
                SessionState::Expired => TranscriptState::Ended,
                SessionState::Answered { answered, .. } => {
                    TranscriptState::Answered { e: answered.e, answer: answered.answer }
                }
            };
            listed.push(WithdrawalTranscript { request: session.request, commitment, state });
        }
        let next = (listed.len() == limit).then(|| listed.last().map(|t| t.request.session_id)).flatten();
        Ok(WithdrawalPage { sessions: listed, next })
    }

    fn reserve(
        tx: &mut dyn BankTx,
        account: &Account,
        id: ReservationId,
        amount: u64,
        now: Timestamp,
        ttl: u64,
    ) -> Result<Reservation> {
        if let Some(r) = tx.reservation(&id)? {
            // The same reservation asked again: its current state.
            return if r.account == account.id && r.amount == amount {
                Ok(r)
            } else {
                Err(Error::AccountRequestIdReused)
            };
        }
        if account.frozen {
            return Err(Error::AccountFrozen(account.id));
        }
        if amount == 0 {
            return Err(Error::NoSuchDenomination(0));
        }
        let available = account.balance.saturating_sub(Self::held(tx, &account.id, now)?);
        if available < amount {
            return Err(Error::InsufficientBalance {
                account: account.id,
                balance: available,
                needed: amount,
            });
        }
        let r = Reservation {
            id,
            account: account.id,
            amount,
            drawn: 0,
            created: now,
            expires: now.plus_secs(ttl),
            released: false,
        };
        tx.insert_reservation(&r)?;
        Ok(r)
    }

    fn status_of(tx: &mut dyn BankTx, id: &AccountId, now: Timestamp) -> Result<AccountStatus> {
        let a = tx.account(id)?.ok_or(Error::UnknownAccount(*id))?;
        let held = Self::held(tx, id, now)?;
        let mut events = tx.account_events(id)?;
        let excess = events.len().saturating_sub(MAX_STATUS_EVENTS);
        events.drain(..excess);
        Ok(AccountStatus {
            account: *id,
            identity: a.public_key,
            auth_key: a.auth_key.ok_or(Error::RekeyRequired(*id))?,
            balance: a.balance,
            held,
            frozen: a.frozen,
            events,
        })
    }

    /// Re-keys a user account to the identity and authentication key of
    /// `req` (an operator action, §7.5): the account keeps its id, balance
    /// and history; its old identity is retired (never accepted again: a
    /// withdrawal proof under it is refused) and its open sessions end.
    /// Double-spending evidence stays.
    ///
    /// # Security
    /// The operator applies a re-key only after verifying, out of band,
    /// that the account's holder asks for it (compare
    /// [`RekeyRequest::fingerprint`]): the old authentication key may be
    /// in a thief's hands along with `u` (specs/security.md).
    pub fn rekey_account(
        &self,
        req: &RekeyRequest,
        reason: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Account> {
        check_reason(reason)?;
        req.verify(rng)?;
        let (today, now) = (self.today(), self.clock.now());
        self.run_tx("rekey_account", |tx| {
            let a = tx.account(&req.account)?.ok_or(Error::UnknownAccount(req.account))?;
            if a.kind != AccountKind::User {
                return Err(Error::WrongAccountKind(req.account));
            }
            if a.public_key == req.new_identity && a.auth_key == Some(req.new_auth_key) {
                return Ok(a);
            }
            if a.public_key != req.old_identity {
                return Err(Error::InvalidProof("re-key request (it replaces another identity)"));
            }
            if tx.identity(&req.new_identity)?.is_some()
                || tx.account(&user_account_id(&req.new_identity))?.is_some()
            {
                return Err(Error::IdentityInUse);
            }
            let mut old = tx.identity(&a.public_key)?.unwrap_or(IdentityRecord {
                identity: a.public_key,
                account: a.id,
                since: a.registered,
                retired: None,
                revealed: false,
            });
            old.retired = Some(today);
            match tx.identity(&a.public_key)? {
                Some(_) => tx.update_identity(&old)?,
                None => tx.insert_identity(&old)?,
            }
            tx.insert_identity(&IdentityRecord {
                identity: req.new_identity,
                account: a.id,
                since: today,
                retired: None,
                revealed: false,
            })?;
            for s in tx.open_sessions_of(&a.id, now)? {
                tx.end_session(&s.id())?;
            }
            tx.set_identity(&a.id, &req.new_identity)?;
            tx.set_auth_key(&a.id, &req.new_auth_key)?;
            tx.insert_account_event(&a.id, &event(now, AccountEventKind::Rekeyed, reason))?;
            tx.account(&a.id)?.ok_or(Error::UnknownAccount(a.id))
        })
    }

    /// Lifts a freeze (an operator action, §7.5), recorded with the time and
    /// `reason` in the account's history. The evidence stays.
    ///
    /// Refused unless the account's current identity is one no evidence
    /// revealed ([`Error::RekeyRequired`]: re-key first) and the account
    /// has an authentication key.
    pub fn unfreeze_account(&self, id: &AccountId, reason: &str) -> Result<Account> {
        check_reason(reason)?;
        let now = self.clock.now();
        self.run_tx("unfreeze_account", |tx| {
            let a = tx.account(id)?.ok_or(Error::UnknownAccount(*id))?;
            if a.kind != AccountKind::User {
                return Err(Error::WrongAccountKind(*id));
            }
            if !a.frozen {
                return Err(Error::NotFrozen(*id));
            }
            let revealed = tx.identity(&a.public_key)?.is_none_or(|r| r.revealed || r.retired.is_some());
            if revealed || a.auth_key.is_none() {
                return Err(Error::RekeyRequired(*id));
            }
            tx.unfreeze_account(id)?;
            tx.insert_account_event(id, &event(now, AccountEventKind::Unfrozen, reason))?;
            tx.account(id)?.ok_or(Error::UnknownAccount(*id))
        })
    }

    /// Marks expired sessions as such (erasing their nonces).
    pub fn expire_sessions(&self) -> Result<usize> {
        let now = self.clock.now();
        self.run_tx("expire_sessions", |tx| Ok(tx.expire_sessions(now)?))
    }

    /// After restoring the store from a backup: bumps the session epoch so
    /// that no session opened before the restore is ever answered.
    pub fn mark_restored(&self) -> Result<u64> {
        self.run_tx("mark_restored", |tx| Ok(tx.bump_session_epoch()?))
    }

    /// Deposit (specs/protocol.md §9): authenticates the request, verifies
    /// its payments, records every coin of the verified ones in one
    /// transaction, credits the merchant and answers with a receipt signed
    /// by the current keyset's online signing key.
    ///
    /// The depositor is the payee: a merchant (its deposits signed with
    /// `M`) or a user account receiving to itself (signed with its
    /// authentication key `A`, never with `u`; see [`payee_key`]).
    ///
    /// Order: limits; the payee's account; its signature (before
    /// anything else depends on the request, so request ids cannot be
    /// probed); a stored receipt for this request id is returned as is if
    /// it answered this very request, and a different request under a used
    /// id is refused; the work budgets ([`DepositGate`]); the cheap checks
    /// on every payment, one batch for the rest, the search for failing
    /// payments within the work cap. Refused and deferred payments are
    /// outcomes in the receipt, not errors. Per `coin_id` of a verified
    /// payment: unseen → recorded and credited; seen with the same
    /// challenge → duplicate; seen with a different challenge → double
    /// spent: the evidence is checked, stored (once per coin) and the
    /// spender frozen, no credit.
    pub fn deposit(&self, req: &DepositRequest, rng: &mut impl CryptoRngCore) -> Result<DepositReceipt> {
        let receipt_day = self.today();
        let now = self.clock.now();
        req.check_limits()?;
        let payee_key = payee_key(&self.account(&req.merchant_id)?)?;
        let request_digest = req.verify_signature(&payee_key)?;
        // A retried (or replayed) request gets its stored receipt back.
        let stored =
            self.run_tx("deposit_receipt", |tx| Ok(tx.deposit_receipt(&req.merchant_id, &req.request_id)?))?;
        if let Some((digest, receipt)) = stored {
            return if digest == request_digest { Ok(receipt) } else { Err(Error::RequestIdReused) };
        }
        let _permit = self.deposits.admit(&req.merchant_id, req.coin_count(), now)?;
        let keysets = self.keysets();
        let signer = keysets.last().cloned().ok_or(Error::Store(StoreError::NotFound("keyset")))?;
        let cap = self.deposits.limits().search_factor.max(1).saturating_mul(req.coin_count());
        let verification = verify_payments(req, &payee_key, &keysets, receipt_day, cap, rng);
        if verification.found_forgery() {
            tracing::warn!(merchant = %req.merchant_id, "deposit held a forged payment: merchant throttled");
            self.deposits.throttle(&req.merchant_id, now);
        }
        let digests: Vec<[u8; 32]> = req.payments.iter().map(|p| p.digest()).collect();
        let receipt = self.run_tx("deposit", |tx| {
            if let Some((digest, receipt)) = tx.deposit_receipt(&req.merchant_id, &req.request_id)? {
                return if digest == request_digest { Ok(receipt) } else { Err(Error::RequestIdReused) };
            }
            let mut payments = Vec::with_capacity(req.payments.len());
            let mut verified = Vec::with_capacity(req.payments.len());
            for (pi, (payment, verdict)) in req.payments.iter().zip(&verification.verdicts).enumerate() {
                let summary = match verdict {
                    PaymentVerdict::Verified(s) => s,
                    PaymentVerdict::Refused(r) => {
                        payments.push(PaymentOutcome::Refused(*r));
                        continue;
                    }
                    PaymentVerdict::Deferred => {
                        payments.push(PaymentOutcome::Deferred);
                        continue;
                    }
                };
                payments.push(PaymentOutcome::Verified);
                verified.push(VerifiedPayment { index: pi, payment, digest: digests[pi], summary });
            }
            let outcomes =
                self.record_coins(tx, &req.merchant_id, &verified, &keysets, (receipt_day, now), rng)?;
            let credited = checked_sum(outcomes.iter().map(|o| o.outcome.credited()))?;
            let unsigned = UnsignedReceipt {
                request_id: req.request_id,
                merchant_id: req.merchant_id,
                request_digest,
                receipt_day,
                credited,
                payments,
                outcomes,
                keyset_id: signer.id(),
                signature: (),
            };
            self.credit_and_receipt(tx, &signer, unsigned, rng)
        })?;
        failpoint!("bank.deposit.committed");
        Ok(receipt)
    }

    /// Credits the receipt's account with what it credits, signs the
    /// receipt with the online key of `signer` (§9.3) and stores it under
    /// `(account, request_id)` with its request digest, inside the deposit
    /// or reclaim transaction.
    fn credit_and_receipt(
        &self,
        tx: &mut dyn BankTx,
        signer: &Keyset,
        unsigned: UnsignedReceipt,
        rng: &mut impl CryptoRngCore,
    ) -> Result<DepositReceipt> {
        let account = unsigned.merchant_id;
        if unsigned.credited > 0 {
            let a = tx.account(&account)?.ok_or(Error::UnknownAccount(account))?;
            let balance = a.balance.checked_add(unsigned.credited).ok_or(Error::Overflow)?;
            tx.set_balance(&account, balance)?;
        }
        let signature =
            self.sign_online(signer, labels::DEPOSIT_RECEIPT_SIGNATURE, &unsigned.message(), rng)?;
        let digest = unsigned.request_digest;
        let receipt = unsigned.with_signature(signature);
        tx.insert_deposit_receipt(&digest, &receipt)?;
        Ok(receipt)
    }

    /// Records the coins of the verified payments deposited by `depositor`
    /// inside the deposit or reclaim transaction (§9.3), all in one store
    /// call ([`BankTx::insert_spent_coins`], one statement on PostgreSQL):
    /// per `coin_id`, unseen → recorded as spent and credited (or flagged
    /// or refused by the watch list); seen with the same challenge →
    /// duplicate; seen with a different challenge → double spent.
    fn record_coins(
        &self,
        tx: &mut dyn BankTx,
        depositor: &AccountId,
        verified: &[VerifiedPayment<'_>],
        keysets: &[Keyset],
        (receipt_day, now): (Day, Timestamp),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<CoinOutcome>> {
        let mut spends = Vec::new();
        let mut of = Vec::new();
        for v in verified {
            for (ci, coin) in v.payment.coins.iter().enumerate() {
                // Each coin under its own keyset: a payment may mix them.
                let policy = keysets
                    .find_keyset(&coin.body.keyset_id)
                    .ok_or(Error::UnknownKeyset(coin.body.keyset_id))?
                    .policy();
                let prune_after = receipt_day.plus(policy.validity_days).plus(policy.max_deposit_delay_days);
                spends.push(SpentCoin {
                    coin_id: v.summary.coin_ids[ci],
                    serial: coin.body.serial,
                    challenge: v.summary.challenges[ci],
                    merchant: *depositor,
                    day: v.payment.request.day,
                    receipt_day,
                    payment_digest: v.digest,
                    coin_index: ci as u32,
                    value: v.summary.values[ci],
                    keyset: coin.body.keyset_id,
                    prune_after,
                });
                of.push(v);
            }
        }
        let payments: Vec<([u8; 32], &crate::protocol::pay::Payment)> =
            verified.iter().map(|v| (v.digest, v.payment)).collect();
        let recorded = tx.insert_spent_coins(&payments, &spends)?;
        let mut outcomes = Vec::with_capacity(spends.len());
        for ((spend, v), recorded) in spends.iter().zip(of).zip(recorded) {
            let (ci, value) = (spend.coin_index, spend.value);
            let outcome = match recorded {
                SpendOutcome::New { watched: None } => DepositOutcome::Credited { value },
                SpendOutcome::New { watched: Some(_) } => match self.config.watch_policy {
                    WatchPolicy::AcceptAndFlag => DepositOutcome::CreditedFlagged { value },
                    WatchPolicy::Refuse => DepositOutcome::Refused,
                },
                SpendOutcome::Spent(prev) if prev.challenge == spend.challenge => DepositOutcome::Duplicate,
                SpendOutcome::Spent(prev) => {
                    self.double_spent(tx, &prev, v.payment, ci as usize, keysets, receipt_day, now, rng)?
                }
            };
            outcomes.push(CoinOutcome { payment: v.index as u32, coin: ci, coin_id: spend.coin_id, outcome });
        }
        Ok(outcomes)
    }

    /// Credits the payer with a payment its payee refused
    /// (specs/protocol.md §8.6), in order: 1 to 64 coins; the account is a
    /// user's with an authentication key, and the request's signature
    /// verifies under it; a receipt stored under `(account, request_id)`
    /// answers a retry (another request under that id is refused); the
    /// refusal verifies for the payment under the payee key its request
    /// names; admission; the payment's cheap checks (keyset, day window,
    /// structure) and every coin's escrow proof (the escrow holds the
    /// identity named); the payment's full verification. Then, in one
    /// transaction: every identity named is one of this account's (current
    /// or retired); if the payee deposited this very payment already, the
    /// refusal is recorded as proof that it cheated and the reclaim is
    /// refused ([`Error::RefusalBroken`]); otherwise its coins are recorded
    /// as a deposit by the account (§9.3: unseen credited, seen with the
    /// same challenge a duplicate, seen with another a double spend), the
    /// refusal is kept, the account credited and the receipt stored. A
    /// refused payment (keyset, window, proofs) is answered with a receipt
    /// that says so, as in a deposit.
    pub fn reclaim(&self, req: &ReclaimRequest, rng: &mut impl CryptoRngCore) -> Result<DepositReceipt> {
        let receipt_day = self.today();
        let now = self.clock.now();
        let n = req.payment.coins.len();
        if n == 0 || n > MAX_COINS_PER_PAYMENT {
            return Err(Error::TooLarge("reclaim request"));
        }
        let account = self.account(&req.account)?;
        if account.kind != AccountKind::User {
            return Err(Error::WrongAccountKind(req.account));
        }
        let auth = account.auth_key.ok_or(Error::RekeyRequired(req.account))?;
        let request_digest = req.verify_signature(&auth)?;
        let stored =
            self.run_tx("reclaim_receipt", |tx| Ok(tx.deposit_receipt(&req.account, &req.request_id)?))?;
        if let Some((digest, receipt)) = stored {
            return if digest == request_digest { Ok(receipt) } else { Err(Error::RequestIdReused) };
        }
        req.refusal.verify(&req.payment)?;
        let _permit = self.deposits.admit(&req.account, n, now)?;
        let keysets = self.keysets();
        let signer = keysets.last().cloned().ok_or(Error::Store(StoreError::NotFound("keyset")))?;
        let payment = &req.payment;
        let payee = payment.request.merchant_id;
        // The cheap checks of a deposit, the payee being the request's own.
        let verdict = match check_payment_cheaply(
            payment,
            &payee,
            &payment.request.merchant_key,
            &keysets,
            receipt_day,
        ) {
            Err(refusal) => Err(refusal),
            Ok(()) => {
                req.verify_escrows(&request_digest, keysets.as_slice(), rng)?;
                verify_payment(payment, keysets.as_slice(), rng).map_err(|e| PaymentRefusal::from(&e))
            }
        };
        let digest = payment.digest();
        let outcome = self.run_tx("reclaim", |tx| {
            if let Some((d, receipt)) = tx.deposit_receipt(&req.account, &req.request_id)? {
                return if d == request_digest { Ok(Ok(receipt)) } else { Err(Error::RequestIdReused) };
            }
            let mut outcomes = Vec::new();
            let mut credited = 0u64;
            let payments = match &verdict {
                Err(refusal) => vec![PaymentOutcome::Refused(*refusal)],
                Ok(summary) => {
                    for identity in &req.identities {
                        match tx.identity(identity)? {
                            Some(rec) if rec.account == req.account => {}
                            _ => return Err(Error::InvalidProof("reclaim: an escrow names another account")),
                        }
                    }
                    // The payee deposited the payment it refused: its
                    // refusal proves it cheated.
                    let mut deposited = false;
                    for id in &summary.coin_ids {
                        if let Some(prev) = tx.spent_coin(id)? {
                            deposited |= prev.payment_digest == digest && prev.merchant == payee;
                        }
                    }
                    // The refusal is kept once per payment: with the reclaim
                    // that credited the payer, or as proof that the payee
                    // deposited what it refused.
                    let keep_refusal = |tx: &mut dyn BankTx, broken: bool| -> Result<()> {
                        if tx.refusal_record(&digest)?.is_none() {
                            tx.insert_refusal_record(&RefusalRecord {
                                payment_digest: digest,
                                payer: req.account,
                                payee,
                                refusal: req.refusal,
                                recorded: receipt_day,
                                broken,
                            })?;
                        }
                        Ok(())
                    };
                    if deposited {
                        keep_refusal(tx, true)?;
                        return Ok(Err(payee));
                    }
                    let verified = VerifiedPayment { index: 0, payment, digest, summary };
                    outcomes =
                        self.record_coins(tx, &req.account, &[verified], &keysets, (receipt_day, now), rng)?;
                    for o in &outcomes {
                        credited = credited.checked_add(o.outcome.credited()).ok_or(Error::Overflow)?;
                    }
                    keep_refusal(tx, false)?;
                    vec![PaymentOutcome::Verified]
                }
            };
            let unsigned = UnsignedReceipt {
                request_id: req.request_id,
                merchant_id: req.account,
                request_digest,
                receipt_day,
                credited,
                payments,
                outcomes,
                keyset_id: signer.id(),
                signature: (),
            };
            self.credit_and_receipt(tx, &signer, unsigned, rng).map(Ok)
        })?;
        failpoint!("bank.reclaim.committed");
        outcome.map_err(|payee| Error::RefusalBroken { payee })
    }

    /// Payee refusals recorded as proof that the payee deposited the
    /// payment it had refused (§8.6), oldest first.
    pub fn broken_refusals(&self) -> Result<Vec<RefusalRecord>> {
        self.run_tx("broken_refusals", |tx| Ok(tx.broken_refusals()?))
    }

    /// A second spend of a recorded coin (different challenge), inside the
    /// deposit transaction. Evidence is stored once per coin: a coin that
    /// has evidence already is reported with the account it identified, and
    /// nothing is added (re-deposits cannot flood the evidence store).
    /// Otherwise the evidence is built and verified; the account is
    /// accused only on two verifying spends of one body whose extracted `u`
    /// matches its registered `I` (both spends verified, so this fails only
    /// if the stored record is corrupt: then nobody is accused, nothing is
    /// credited, and the rest of the batch goes on).
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn double_spent(
        &self,
        tx: &mut dyn BankTx,
        prev: &SpentCoin,
        payment: &crate::protocol::pay::Payment,
        index: usize,
        keysets: &[Keyset],
        receipt_day: Day,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<DepositOutcome> {
        if let Some(known) = tx.evidence_of(&prev.coin_id)? {
            return Ok(DepositOutcome::DoubleSpent { account: known.account });
        }
        let coin_id = prev.coin_id;
        let first = tx
            .payment(&prev.payment_digest)?
            .ok_or(StoreError::Corrupt("spent coin without its payment".into()))?;
        let evidence = DoubleSpendEvidence {
            coin_id,
            first,
            first_index: prev.coin_index,
            second: payment.clone(),
            second_index: index as u32,
        };
        // Accuse only on two verifying spends of one body whose extracted u
        // matches a registered I. Both spends verified, so this fails only if
        // the stored record is corrupt: then nobody is accused, nothing is
        // credited, and the rest of the batch goes on.
        let Ok(who) = evidence.verify(keysets, rng) else {
            return Ok(DepositOutcome::DoubleSpent { account: None });
        };
        // The identity (current or retired) names the account; its u is
        // public from now on.
        let account = match tx.identity(&who.identity)? {
            Some(mut rec) => {
                tx.freeze_account(&rec.account)?;
                if !rec.revealed {
                    rec.revealed = true;
                    tx.update_identity(&rec)?;
                }
                tx.insert_account_event(
                    &rec.account,
                    &event(now, AccountEventKind::Frozen, &format!("double spend of coin {coin_id}")),
                )?;
                Some(rec.account)
            }
            None => None,
        };
        tx.insert_evidence(&EvidenceRecord { evidence, account, recorded: receipt_day })?;
        Ok(DepositOutcome::DoubleSpent { account })
    }

    /// The load on the deposit work budgets.
    pub fn deposit_load(&self) -> DepositLoad {
        self.deposits.load(self.clock.now())
    }

    /// A summary of the bank's state.
    pub fn status(&self) -> Result<BankStatus> {
        let today = self.today();
        let keysets = read(&self.keysets).len();
        self.run_tx("status", |tx| {
            let accounts = tx.accounts()?;
            let recent_events = tx
                .recent_account_events(STATUS_EVENTS)?
                .into_iter()
                .map(|(account, event)| RecentEvent { account, event })
                .collect();
            Ok(BankStatus {
                recent_events,
                today,
                keysets,
                total_balance: crate::protocol::checked_sum(accounts.iter().map(|a| a.balance))?,
                accounts,
                spent_coins: tx.spent_coin_count()?,
                evidence: tx.evidence_count()?,
                broken_refusals: tx.broken_refusals()?,
                watch_list: tx.watch_list()?.len(),
                session_epoch: tx.session_epoch()?,
            })
        })
    }

    /// Stored double-spending evidence newer than the cursor `after` (a
    /// sequence number; 0 for the oldest), oldest first, at most `limit`
    /// items (at most [`MAX_EVIDENCE_PAGE`]). Evidence is stored once per
    /// coin, in the order it was recorded; a client that keeps the page's
    /// cursor later asks for what is newer.
    pub fn evidence_page(&self, after: u64, limit: usize) -> Result<EvidencePage> {
        let limit = limit.clamp(1, MAX_EVIDENCE_PAGE);
        let mut items = self.run_tx("evidence", |tx| Ok(tx.evidence_after(after, limit + 1)?))?;
        let more = items.len() > limit;
        items.truncate(limit);
        let cursor = items.last().map_or(after, |e| e.seq);
        Ok(EvidencePage { items, cursor, more })
    }

    /// Prunes spent-coin records that no valid deposit can collide with any
    /// more (`R1 + validity + max deposit delay` has passed).
    pub fn prune_spent(&self) -> Result<usize> {
        let today = self.today();
        self.run_tx("prune", |tx| Ok(tx.prune_spent_coins(today)?))
    }
}

impl<S: BankStore> Bank<S> {
    /// The owner-tracing record of a deposited coin: the payment that first
    /// spent it and the coin's index.
    pub fn spend_record(&self, coin_id: &CoinId) -> Result<TraceRecord> {
        self.run_tx("spend_record", |tx| {
            let spent = tx.spent_coin(coin_id)?.ok_or(StoreError::NotFound("spent coin"))?;
            let payment = tx
                .payment(&spent.payment_digest)?
                .ok_or(StoreError::Corrupt("spent coin without its payment".into()))?;
            Ok(TraceRecord::Owner { payment, coin_index: spent.coin_index })
        })
    }

    /// The coin-tracing record of an answered withdrawal: the request (with
    /// `E_w`, `pi_W` and its context) and the account's identity.
    pub fn withdrawal_record(&self, session: &SessionId) -> Result<TraceRecord> {
        self.run_tx("withdrawal_record", |tx| {
            let s = tx.session(session)?.ok_or(Error::UnknownSession)?;
            if !matches!(s.state, SessionState::Answered { .. }) {
                return Err(Error::UnknownSession);
            }
            Ok(TraceRecord::Coin { request: s.request, identity: s.identity })
        })
    }

    /// Deposited coins, latest receipt day first, at most `limit`; only
    /// `merchant`'s when given (the records an owner-tracing warrant may
    /// name: `spend_record`).
    pub fn spent_coins(&self, merchant: Option<&AccountId>, limit: usize) -> Result<Vec<SpentCoin>> {
        self.run_tx("spent_coins", |tx| Ok(tx.spent_coins(merchant, limit)?))
    }

    /// The answered withdrawals of an account (the records a coin-tracing
    /// warrant may name).
    pub fn withdrawals_of(&self, account: &AccountId) -> Result<Vec<WithdrawSession>> {
        let all = self.run_tx("withdrawal_records", |tx| Ok(tx.withdrawal_records()?))?;
        Ok(all.into_iter().filter(|s| s.request.account == *account).collect())
    }

    /// Applies an owner-trace result: verifies it against the record and
    /// warrant under the pinned TTP key statement (one TTP or `t` of `n`
    /// trustees), and returns the account of the
    /// identity found.
    pub fn apply_owner_trace(
        &self,
        result: &TraceResult,
        record: &TraceRecord,
        warrant: &Warrant,
        ttp: &TtpKeyStatement,
    ) -> Result<AccountId> {
        if result.kind != TraceKind::Owner {
            return Err(Error::InvalidProof("owner trace result"));
        }
        let identity = result.verify(ttp, record, warrant)?;
        // The identity may be one the account was re-keyed away from.
        let rec = self.run_tx("identity", |tx| Ok(tx.identity(&identity)?))?;
        rec.map(|r| r.account).ok_or(Error::UnknownAccount(user_account_id(&identity)))
    }

    /// Applies a coin-trace result: verifies it and puts the serial on the
    /// watch list under the warrant's case id.
    pub fn apply_coin_trace(
        &self,
        result: &TraceResult,
        record: &TraceRecord,
        warrant: &Warrant,
        ttp: &TtpKeyStatement,
    ) -> Result<Point> {
        if result.kind != TraceKind::Coin {
            return Err(Error::InvalidProof("coin trace result"));
        }
        let serial = result.verify(ttp, record, warrant)?;
        self.run_tx("watch_serial", |tx| Ok(tx.watch_serial(&serial, &warrant.case_id)?))?;
        Ok(serial)
    }

    /// Page `page` of the spent list of the denomination key `(keyset,
    /// value)` (specs/protocol.md §7.7), signed with the master key. The
    /// lists are as of the current publication; when it is older than
    /// [`BankConfig::spent_list_interval_secs`] the bank publishes first.
    ///
    /// # Errors
    /// [`Error::UnknownKeyset`], [`Error::NoSuchDenomination`] for a key the
    /// bank does not have; [`Error::NoSuchSpentPage`] past the last page.
    pub fn spent_list(
        &self,
        keyset: &KeysetId,
        value: u64,
        page: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SpentList> {
        let ks = self.keysets().find_keyset(keyset).cloned().ok_or(Error::UnknownKeyset(*keyset))?;
        ks.key_for_value(value).ok_or(Error::NoSuchDenomination(value))?;
        let now = self.clock.now();
        let interval = self.config.spent_list_interval_secs;
        let (publication, total, entries) = self.run_tx("spent_list", |tx| {
            let mut publication = tx.spent_publication()?;
            if now.0 >= publication.at.0.saturating_add(interval) {
                publication = tx.publish_spent(now)?;
            }
            let offset = u64::from(page) * SPENT_LIST_PAGE as u64;
            let (total, entries) =
                tx.spent_list(keyset, value, publication.sequence, offset, SPENT_LIST_PAGE)?;
            Ok((publication, total, entries))
        })?;
        let pages =
            u32::try_from(total.div_ceil(SPENT_LIST_PAGE as u64).max(1)).map_err(|_| Error::Overflow)?;
        if page >= pages {
            return Err(Error::NoSuchSpentPage { page, pages });
        }
        let entries =
            entries.into_iter().map(|(coin_id, published)| SpentEntry { coin_id, published }).collect();
        let secrets = read(&self.secrets);
        Ok(SpentList::signed(
            (*keyset, value),
            publication.sequence,
            publication.at,
            (page, pages),
            entries,
            secrets.master(),
            rng,
        ))
    }

    /// The unspent statement answering `query` (specs/protocol.md §7.7):
    /// the bank publishes, then looks up each named coin, in one
    /// transaction, and signs which were unspent as of that publication
    /// and which are spent with their publication. Authenticated by the
    /// account's authentication key; the bank keeps nothing of it.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::WrongAccountKind`],
    /// [`Error::RekeyRequired`], [`Error::InvalidProof`] for a bad
    /// authorization.
    pub fn unspent_statement(
        &self,
        query: &UnspentQuery,
        rng: &mut impl CryptoRngCore,
    ) -> Result<UnspentStatement> {
        query.check()?;
        let now = self.clock.now();
        let (publication, published) = self.run_tx("unspent_statement", |tx| {
            let account = tx.account(&query.account)?.ok_or(Error::UnknownAccount(query.account))?;
            if account.kind != AccountKind::User {
                return Err(Error::WrongAccountKind(query.account));
            }
            query.verify(&account.auth_key.ok_or(Error::RekeyRequired(query.account))?)?;
            let publication = tx.publish_spent(now)?;
            Ok((publication, tx.spent_published(&query.coins)?))
        })?;
        // A record published after this publication (by a concurrent one
        // that committed between the two statements) is on no list as of
        // `publication.sequence` yet: stated spent after it (0).
        let published: Vec<Option<Option<u64>>> =
            published.into_iter().map(|p| p.map(|p| p.filter(|n| *n <= publication.sequence))).collect();
        let secrets = read(&self.secrets);
        Ok(UnspentStatement::signed(query, publication.sequence, now, &published, secrets.master(), rng))
    }

    /// The watch list, signed by the master key, for merchants.
    pub fn watch_list(&self, rng: &mut impl CryptoRngCore) -> Result<WatchList> {
        let list = self.run_tx("watch_list", |tx| Ok(tx.watch_list()?))?;
        // The list only grows, so its length is its sequence.
        let serials: Vec<Point> = list.into_iter().map(|(p, _)| p).collect();
        let secrets = read(&self.secrets);
        Ok(WatchList::sign(self.clock.now(), serials.len() as u64, serials, secrets.master(), rng))
    }
}

/// How many of the newest account events `bank status` shows.
pub const STATUS_EVENTS: usize = 20;

/// One event of an account's history, with the account.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecentEvent {
    /// The account.
    pub account: AccountId,
    /// What happened, when and why.
    pub event: AccountEvent,
}

/// Most evidence items in one page.
pub const MAX_EVIDENCE_PAGE: usize = 256;

/// A page of stored double-spending evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidencePage {
    /// The evidence, oldest first, each with its sequence number.
    pub items: Vec<StoredEvidence>,
    /// The sequence number of the last item (or the cursor asked for, if
    /// none): ask for evidence after it to get what is newer.
    pub cursor: u64,
    /// Whether more evidence follows this page now.
    pub more: bool,
}

/// A summary of a bank's state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BankStatus {
    /// The newest account events (freezes, unfreezes, re-keys, …), oldest first.
    pub recent_events: Vec<RecentEvent>,
    /// The bank's day.
    pub today: Day,
    /// Number of keysets.
    pub keysets: usize,
    /// Sum of all balances.
    pub total_balance: u64,
    /// Every account.
    pub accounts: Vec<Account>,
    /// Spent-coin records held.
    pub spent_coins: u64,
    /// Double-spending evidence held (one per coin spent twice).
    pub evidence: u64,
    /// Payee refusals recorded as proof that the payee deposited the
    /// payment it had refused (§8.6), oldest first.
    pub broken_refusals: Vec<RefusalRecord>,
    /// Serials on the watch list.
    pub watch_list: usize,
    /// The session epoch.
    pub session_epoch: u64,
}

/// The key that signs an account's deposits, and that every payment request
/// addressed to the account names as its payee key (specs/protocol.md §9.2):
/// `M` for a merchant; the authentication key `A` for a user, never `I`
/// (`u` is the spending secret and signs nothing an account receives). A
/// user account from before authentication keys must be re-keyed first.
pub fn payee_key(account: &Account) -> Result<Point> {
    match account.kind {
        AccountKind::Merchant => Ok(account.public_key),
        AccountKind::User => account.auth_key.ok_or(Error::RekeyRequired(account.id)),
    }
}

/// What wallets and merchants need from a bank, locally or over a network.
pub trait BankApi {
    /// The signed keyset list, oldest first.
    fn keysets(&self) -> Result<Vec<SignedKeyset>>;
    /// Registers a user.
    fn register_user(&self, reg: &UserRegistration) -> Result<AccountId>;
    /// Registers a merchant.
    fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId>;
    /// Withdrawal, first round.
    fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment>;
    /// Withdrawal, second round.
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer>;
    /// Deposit.
    fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt>;
    /// Credits the payer with a payment its payee refused (§8.6).
    fn reclaim(&self, req: &ReclaimRequest) -> Result<DepositReceipt>;
    /// The TTP key statements the bank publishes (pinned by a wallet or
    /// merchant only under a TTP signing key its operator trusts).
    fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>>;
    /// An operation on a user account, authorized by its authentication key.
    fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer>;
    /// A page of the spent list of a denomination key (unauthenticated).
    fn spent_list(&self, keyset: &KeysetId, value: u64, page: u32) -> Result<SpentList>;
    /// The unspent statement answering a query.
    fn unspent_statement(&self, query: &UnspentQuery) -> Result<UnspentStatement>;
}

impl<S: BankStore> BankApi for Bank<S> {
    fn keysets(&self) -> Result<Vec<SignedKeyset>> {
        Ok(self.published_keysets())
    }
    fn register_user(&self, reg: &UserRegistration) -> Result<AccountId> {
        Bank::register_user(self, reg, &mut rand::rngs::OsRng)
    }
    fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId> {
        Bank::register_merchant(self, reg, &mut rand::rngs::OsRng)
    }
    fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
        Bank::open_withdrawal(self, req, &mut rand::rngs::OsRng)
    }
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
        Bank::answer_withdrawal(self, ch)
    }
    fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
        Bank::deposit(self, req, &mut rand::rngs::OsRng)
    }
    fn reclaim(&self, req: &ReclaimRequest) -> Result<DepositReceipt> {
        Bank::reclaim(self, req, &mut rand::rngs::OsRng)
    }
    fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>> {
        Ok(Bank::ttp_statements(self))
    }
    fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
        Bank::account_request(self, req)
    }
    fn spent_list(&self, keyset: &KeysetId, value: u64, page: u32) -> Result<SpentList> {
        Bank::spent_list(self, keyset, value, page, &mut rand::rngs::OsRng)
    }
    fn unspent_statement(&self, query: &UnspentQuery) -> Result<UnspentStatement> {
        Bank::unspent_statement(self, query, &mut rand::rngs::OsRng)
    }
}

/// Forwards [`BankApi`] through a smart pointer.
macro_rules! forward_bank_api {
    ($ptr:ident) => {
        impl<T: BankApi + ?Sized> BankApi for $ptr<T> {
            fn keysets(&self) -> Result<Vec<SignedKeyset>> {
                (**self).keysets()
            }
            fn register_user(&self, reg: &UserRegistration) -> Result<AccountId> {
                (**self).register_user(reg)
            }
            fn register_merchant(&self, reg: &MerchantRegistration) -> Result<AccountId> {
                (**self).register_merchant(reg)
            }
            fn open_withdrawal(&self, req: &WithdrawRequest) -> Result<WithdrawCommitment> {
                (**self).open_withdrawal(req)
            }
            fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> Result<WithdrawAnswer> {
                (**self).answer_withdrawal(ch)
            }
            fn deposit(&self, req: &DepositRequest) -> Result<DepositReceipt> {
                (**self).deposit(req)
            }
            fn reclaim(&self, req: &ReclaimRequest) -> Result<DepositReceipt> {
                (**self).reclaim(req)
            }
            fn ttp_statements(&self) -> Result<Vec<SignedTtpKeyStatement>> {
                (**self).ttp_statements()
            }
            fn account_request(&self, req: &AccountRequest) -> Result<AccountAnswer> {
                (**self).account_request(req)
            }
            fn spent_list(&self, keyset: &KeysetId, value: u64, page: u32) -> Result<SpentList> {
                (**self).spent_list(keyset, value, page)
            }
            fn unspent_statement(&self, query: &UnspentQuery) -> Result<UnspentStatement> {
                (**self).unspent_statement(query)
            }
        }
    };
}
forward_bank_api!(Box);
forward_bank_api!(Arc);

/// A verified payment of a deposit or reclaim request, for
/// `Bank::record_coins`: its index in the request, the payment, its
/// digest, its verification summary and its keyset.
struct VerifiedPayment<'a> {
    index: usize,
    payment: &'a crate::protocol::pay::Payment,
    digest: [u8; 32],
    summary: &'a crate::protocol::pay::PaymentSummary,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{merchant_account_id, user_account_id};
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;

    fn account(kind: AccountKind, auth_key: Option<Point>) -> Account {
        let key = Point::from(RISTRETTO_BASEPOINT_POINT);
        let id = match kind {
            AccountKind::User => user_account_id(&key),
            AccountKind::Merchant => merchant_account_id(&key),
        };
        Account { id, kind, public_key: key, balance: 0, frozen: false, registered: Day(0), auth_key }
    }

    #[test]
    fn a_payee_signs_with_m_as_a_merchant_and_with_a_as_a_user_never_with_i() {
        let a = Point::from(RISTRETTO_BASEPOINT_POINT * curve25519_dalek::Scalar::from(7u8));
        assert_eq!(
            payee_key(&account(AccountKind::Merchant, None)).unwrap(),
            account(AccountKind::Merchant, None).public_key
        );
        assert_eq!(payee_key(&account(AccountKind::User, Some(a))).unwrap(), a);
        // A user from before authentication keys is re-keyed first.
        let legacy = account(AccountKind::User, None);
        assert!(matches!(payee_key(&legacy), Err(Error::RekeyRequired(id)) if id == legacy.id));
    }
}
