//! In-memory stores.
//!
//! [`MemoryBankStore`] serializes transactions with one mutex and rolls back
//! with an undo log: every write records how to restore what it replaced,
//! and a transaction dropped without commit replays the log backwards.
//! Wallet and merchant stores make each method atomic under a mutex.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use super::*;

type Undo = Box<dyn FnOnce(&mut BankState) + Send>;

#[derive(Default)]
struct BankState {
    epoch: u64,
    keysets: BTreeMap<u64, SignedKeyset>,
    accounts: HashMap<AccountId, Account>,
    sessions: HashMap<SessionId, WithdrawSession>,
    /// The open sessions, by account, with their expiry: what
    /// `open_sessions` and `expire_sessions` look at, so their cost does
    /// not grow with every session ever opened.
    open: HashMap<AccountId, HashMap<SessionId, Timestamp>>,
    commitments: HashSet<[u8; 32]>,
    spent: HashMap<CoinId, SpentCoin>,
    /// The publication sequence of each published spent coin.
    published: HashMap<CoinId, u64>,
    /// The last spent-list publication.
    publication: Option<SpentPublication>,
    payments: HashMap<[u8; 32], Payment>,
    /// Evidence in sequence order (sequence number = index + 1).
    evidence: Vec<EvidenceRecord>,
    evidence_by_coin: HashMap<CoinId, u64>,
    watch: BTreeMap<[u8; 32], (Point, String)>,
    receipts: HashMap<(AccountId, [u8; 16]), ([u8; 32], DepositReceipt)>,
    identities: HashMap<[u8; 32], IdentityRecord>,
    events: Vec<(AccountId, AccountEvent)>,
    reservations: HashMap<ReservationId, Reservation>,
    account_requests: HashMap<(AccountId, [u8; 16]), AccountRequestRecord>,
    /// Refusal records by payment digest, and the order they came in.
    refusals: HashMap<[u8; 32], (u64, RefusalRecord)>,
}

/// The bank's state in memory.
#[derive(Default)]
pub struct MemoryBankStore {
    state: Mutex<BankState>,
}

impl MemoryBankStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> StoreResult<MutexGuard<'_, T>> {
    m.lock().map_err(|_| StoreError::Backend("store lock poisoned by a panic".into()))
}

impl BankStore for MemoryBankStore {
    fn begin(&self) -> StoreResult<Box<dyn BankTx + '_>> {
        Ok(Box::new(MemoryBankTx { state: lock(&self.state)?, undo: Vec::new() }))
    }
}

struct MemoryBankTx<'a> {
    state: MutexGuard<'a, BankState>,
    undo: Vec<Undo>,
}

impl Drop for MemoryBankTx<'_> {
    fn drop(&mut self) {
        while let Some(u) = self.undo.pop() {
            u(&mut self.state);
        }
    }
}

impl MemoryBankTx<'_> {
    /// Adds or removes `id` in the open-session index, logging the reverse.
    fn index_open(&mut self, account: AccountId, id: SessionId, expires: Option<Timestamp>) {
        let by_account = self.state.open.entry(account).or_default();
        let old = match expires {
            Some(e) => by_account.insert(id, e),
            None => by_account.remove(&id),
        };
        if by_account.is_empty() {
            self.state.open.remove(&account);
        }
        self.undo.push(Box::new(move |s| {
            let by_account = s.open.entry(account).or_default();
            match old {
                Some(e) => {
                    by_account.insert(id, e);
                }
                None => {
                    by_account.remove(&id);
                }
            }
            if by_account.is_empty() {
                s.open.remove(&account);
            }
        }));
    }
}

/// Replaces `map[key]` with `value`, logging how to restore it.
macro_rules! put {
    ($tx:expr, $field:ident, $key:expr, $value:expr) => {{
        let key = $key;
        let old = $tx.state.$field.insert(key.clone(), $value);
        $tx.undo.push(Box::new(move |s: &mut BankState| match old {
            Some(v) => {
                s.$field.insert(key, v);
            }
            None => {
                s.$field.remove(&key);
            }
        }));
    }};
}

impl BankTx for MemoryBankTx<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.undo.clear();
        Ok(())
    }

    fn session_epoch(&mut self) -> StoreResult<u64> {
        Ok(self.state.epoch)
    }

    fn bump_session_epoch(&mut self) -> StoreResult<u64> {
        let old = self.state.epoch;
        self.state.epoch += 1;
        self.undo.push(Box::new(move |s| s.epoch = old));
        Ok(self.state.epoch)
    }

    fn insert_keyset(&mut self, keyset: &SignedKeyset) -> StoreResult<()> {
        let seq = keyset.document.sequence;
        if self.state.keysets.contains_key(&seq) {
            return Err(StoreError::Conflict("keyset sequence"));
        }
        put!(self, keysets, seq, keyset.clone());
        Ok(())
    }

    fn keysets(&mut self) -> StoreResult<Vec<SignedKeyset>> {
        Ok(self.state.keysets.values().cloned().collect())
    }

    fn insert_account(&mut self, account: &Account) -> StoreResult<()> {
        if self.state.accounts.contains_key(&account.id) {
            return Err(StoreError::Conflict("account"));
        }
        put!(self, accounts, account.id, *account);
        Ok(())
    }

    fn account(&mut self, id: &AccountId) -> StoreResult<Option<Account>> {
        Ok(self.state.accounts.get(id).copied())
    }

    fn set_balance(&mut self, id: &AccountId, balance: u64) -> StoreResult<()> {
        let mut a = self.state.accounts.get(id).copied().ok_or(StoreError::NotFound("account"))?;
        a.balance = balance;
        put!(self, accounts, *id, a);
        Ok(())
    }

    fn freeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        let mut a = self.state.accounts.get(id).copied().ok_or(StoreError::NotFound("account"))?;
        a.frozen = true;
        put!(self, accounts, *id, a);
        Ok(())
    }

    fn unfreeze_account(&mut self, id: &AccountId) -> StoreResult<()> {
        let mut a = self.state.accounts.get(id).copied().ok_or(StoreError::NotFound("account"))?;
        a.frozen = false;
        put!(self, accounts, *id, a);
        Ok(())
    }

    fn set_auth_key(&mut self, id: &AccountId, key: &Point) -> StoreResult<()> {
        let mut a = self.state.accounts.get(id).copied().ok_or(StoreError::NotFound("account"))?;
        a.auth_key = Some(*key);
        put!(self, accounts, *id, a);
        Ok(())
    }

    fn set_identity(&mut self, id: &AccountId, identity: &Point) -> StoreResult<()> {
        let mut a = self.state.accounts.get(id).copied().ok_or(StoreError::NotFound("account"))?;
        a.public_key = *identity;
        put!(self, accounts, *id, a);
        Ok(())
    }

    fn accounts(&mut self) -> StoreResult<Vec<Account>> {
        let mut v: Vec<Account> = self.state.accounts.values().copied().collect();
        v.sort_by_key(|a| a.id);
        Ok(v)
    }

    fn insert_identity(&mut self, record: &IdentityRecord) -> StoreResult<()> {
        let key = *record.identity.as_bytes();
        if self.state.identities.contains_key(&key) {
            return Err(StoreError::Conflict("identity"));
        }
        put!(self, identities, key, *record);
        Ok(())
    }

    fn identity(&mut self, identity: &Point) -> StoreResult<Option<IdentityRecord>> {
        Ok(self.state.identities.get(identity.as_bytes()).copied())
    }

    fn update_identity(&mut self, record: &IdentityRecord) -> StoreResult<()> {
        let key = *record.identity.as_bytes();
        if !self.state.identities.contains_key(&key) {
            return Err(StoreError::NotFound("identity"));
        }
        put!(self, identities, key, *record);
        Ok(())
    }

    fn insert_account_event(&mut self, account: &AccountId, event: &AccountEvent) -> StoreResult<()> {
        self.state.events.push((*account, event.clone()));
        self.undo.push(Box::new(|s| {
            s.events.pop();
        }));
        Ok(())
    }

    fn account_events(&mut self, account: &AccountId) -> StoreResult<Vec<AccountEvent>> {
        Ok(self.state.events.iter().filter(|(a, _)| a == account).map(|(_, e)| e.clone()).collect())
    }

    fn recent_account_events(&mut self, limit: usize) -> StoreResult<Vec<(AccountId, AccountEvent)>> {
        let n = self.state.events.len();
        Ok(self.state.events[n.saturating_sub(limit)..].to_vec())
    }

    fn insert_reservation(&mut self, reservation: &Reservation) -> StoreResult<()> {
        if self.state.reservations.contains_key(&reservation.id) {
            return Err(StoreError::Conflict("reservation"));
        }
        put!(self, reservations, reservation.id, *reservation);
        Ok(())
    }

    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<Reservation>> {
        Ok(self.state.reservations.get(id).copied())
    }

    fn update_reservation(&mut self, reservation: &Reservation) -> StoreResult<()> {
        if !self.state.reservations.contains_key(&reservation.id) {
            return Err(StoreError::NotFound("reservation"));
        }
        put!(self, reservations, reservation.id, *reservation);
        Ok(())
    }

    fn active_reservations(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<Reservation>> {
        let mut v: Vec<Reservation> = self
            .state
            .reservations
            .values()
            .filter(|r| r.account == *account && r.is_active(now))
            .copied()
            .collect();
        v.sort_by_key(|r| (r.created, r.id));
        Ok(v)
    }

    fn account_request(
        &mut self,
        account: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<AccountRequestRecord>> {
        Ok(self.state.account_requests.get(&(*account, *request_id)).cloned())
    }

    fn insert_account_request(&mut self, record: &AccountRequestRecord) -> StoreResult<()> {
        let key = (record.account, record.request_id);
        if self.state.account_requests.contains_key(&key) {
            return Err(StoreError::Conflict("account request"));
        }
        put!(self, account_requests, key, record.clone());
        Ok(())
    }

    fn insert_session(&mut self, session: &WithdrawSession) -> StoreResult<()> {
        let id = session.id();
        if self.state.sessions.contains_key(&id) {
            return Err(StoreError::Conflict("session"));
        }
        let c = *session.request.commitment.as_bytes();
        if self.state.commitments.contains(&c) {
            return Err(StoreError::Conflict("attribute commitment"));
        }
        self.state.commitments.insert(c);
        self.undo.push(Box::new(move |s| {
            s.commitments.remove(&c);
        }));
        if session.state.is_open() {
            self.index_open(session.request.account, id, Some(session.expires));
        }
        put!(self, sessions, id, session.clone());
        Ok(())
    }

    fn session(&mut self, id: &SessionId) -> StoreResult<Option<WithdrawSession>> {
        Ok(self.state.sessions.get(id).cloned())
    }

    fn commitment_used(&mut self, c: &Point) -> StoreResult<bool> {
        Ok(self.state.commitments.contains(c.as_bytes()))
    }

    fn open_sessions(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<usize> {
        Ok(self.state.open.get(account).map_or(0, |m| m.values().filter(|e| **e > now).count()))
    }

    fn open_sessions_of(&mut self, account: &AccountId, now: Timestamp) -> StoreResult<Vec<WithdrawSession>> {
        let open = self.state.open.get(account);
        let mut v: Vec<WithdrawSession> = open
            .into_iter()
            .flatten()
            .filter(|(_, expires)| **expires > now)
            .filter_map(|(id, _)| self.state.sessions.get(id).cloned())
            .collect();
        v.sort_by_key(|s| (s.opened, s.id()));
        Ok(v)
    }

    fn end_session(&mut self, id: &SessionId) -> StoreResult<()> {
        let mut s = self.state.sessions.get(id).cloned().ok_or(StoreError::NotFound("session"))?;
        if !s.state.is_open() {
            return Err(StoreError::NotFound("open session"));
        }
        s.state = SessionState::Expired;
        self.index_open(s.request.account, *id, None);
        put!(self, sessions, *id, s);
        Ok(())
    }

    fn answer_session(
        &mut self,
        id: &SessionId,
        answered: &AnsweredSession,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut s = self.state.sessions.get(id).cloned().ok_or(StoreError::NotFound("session"))?;
        if !s.state.is_open() {
            return Err(StoreError::Conflict("session answer"));
        }
        s.state = SessionState::Answered { answered: *answered, at };
        self.index_open(s.request.account, *id, None);
        put!(self, sessions, *id, s);
        Ok(())
    }

    fn expire_sessions(&mut self, now: Timestamp) -> StoreResult<usize> {
        let ids: Vec<(AccountId, SessionId)> = self
            .state
            .open
            .iter()
            .flat_map(|(a, m)| m.iter().filter(|(_, e)| **e <= now).map(move |(id, _)| (*a, *id)))
            .collect();
        for (account, id) in &ids {
            if let Some(mut s) = self.state.sessions.get(id).cloned() {
                s.state = SessionState::Expired;
                self.index_open(*account, *id, None);
                put!(self, sessions, *id, s);
            }
        }
        Ok(ids.len())
    }

    fn withdrawal_records(&mut self) -> StoreResult<Vec<WithdrawSession>> {
        let mut v: Vec<WithdrawSession> = self
            .state
            .sessions
            .values()
            .filter(|s| matches!(s.state, SessionState::Answered { .. }))
            .cloned()
            .collect();
        v.sort_by_key(|s| (s.opened, s.id()));
        Ok(v)
    }

    fn sessions_of(
        &mut self,
        account: &AccountId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<WithdrawSession>> {
        let mut v: Vec<WithdrawSession> = self
            .state
            .sessions
            .values()
            .filter(|s| s.request.account == *account && after.is_none_or(|a| s.id() > *a))
            .cloned()
            .collect();
        v.sort_by_key(|s| s.id());
        v.truncate(limit);
        Ok(v)
    }

    fn spent_coin(&mut self, id: &CoinId) -> StoreResult<Option<SpentCoin>> {
        Ok(self.state.spent.get(id).cloned())
    }

    fn insert_spent_coins(
        &mut self,
        payments: &[([u8; 32], &Payment)],
        coins: &[SpentCoin],
    ) -> StoreResult<Vec<SpendOutcome>> {
        insert_spent_coins_in_order(self, payments, coins, |tx, coin| {
            if tx.state.spent.contains_key(&coin.coin_id) {
                return Err(StoreError::Conflict("spent coin"));
            }
            put!(tx, spent, coin.coin_id, coin.clone());
            Ok(())
        })
    }

    fn insert_payment(&mut self, digest: &[u8; 32], payment: &Payment) -> StoreResult<()> {
        if !self.state.payments.contains_key(digest) {
            put!(self, payments, *digest, payment.clone());
        }
        Ok(())
    }

    fn payment(&mut self, digest: &[u8; 32]) -> StoreResult<Option<Payment>> {
        Ok(self.state.payments.get(digest).cloned())
    }

    fn prune_spent_coins(&mut self, today: Day) -> StoreResult<usize> {
        let ids: Vec<CoinId> =
            self.state.spent.values().filter(|c| c.prune_after < today).map(|c| c.coin_id).collect();
        for id in &ids {
            if let Some(old) = self.state.spent.remove(id) {
                self.undo.push(Box::new(move |s| {
                    s.spent.insert(old.coin_id, old);
                }));
            }
        }
        Ok(ids.len())
    }

    fn spent_coin_count(&mut self) -> StoreResult<u64> {
        Ok(self.state.spent.len() as u64)
    }

    fn spent_coins(&mut self, merchant: Option<&AccountId>, limit: usize) -> StoreResult<Vec<SpentCoin>> {
        let mut all: Vec<&SpentCoin> =
            self.state.spent.values().filter(|c| merchant.is_none_or(|m| c.merchant == *m)).collect();
        all.sort_by(|a, b| b.receipt_day.cmp(&a.receipt_day).then(a.coin_id.cmp(&b.coin_id)));
        Ok(all.into_iter().take(limit).cloned().collect())
    }

    fn spent_publication(&mut self) -> StoreResult<SpentPublication> {
        Ok(self.state.publication.unwrap_or(SpentPublication { sequence: 0, at: Timestamp(0) }))
    }

    fn publish_spent(&mut self, now: Timestamp) -> StoreResult<SpentPublication> {
        let fresh: Vec<CoinId> =
            self.state.spent.keys().filter(|id| !self.state.published.contains_key(id)).copied().collect();
        if fresh.is_empty() {
            return self.spent_publication();
        }
        let publication = SpentPublication { sequence: self.spent_publication()?.sequence + 1, at: now };
        for id in fresh {
            put!(self, published, id, publication.sequence);
        }
        let old = self.state.publication.replace(publication);
        self.undo.push(Box::new(move |s| s.publication = old));
        Ok(publication)
    }

    fn spent_list(
        &mut self,
        keyset: &KeysetId,
        value: u64,
        sequence: u64,
        offset: u64,
        limit: usize,
    ) -> StoreResult<(u64, Vec<(CoinId, u64)>)> {
        let mut all: Vec<(CoinId, u64)> = self
            .state
            .spent
            .values()
            .filter(|c| c.keyset == *keyset && c.value == value)
            .filter_map(|c| self.state.published.get(&c.coin_id).map(|p| (c.coin_id, *p)))
            .filter(|(_, p)| *p <= sequence)
            .collect();
        all.sort();
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok((all.len() as u64, all.into_iter().skip(skip).take(limit).collect()))
    }

    fn spent_published(&mut self, ids: &[CoinId]) -> StoreResult<Vec<Option<Option<u64>>>> {
        Ok(ids
            .iter()
            .map(|id| self.state.spent.contains_key(id).then(|| self.state.published.get(id).copied()))
            .collect())
    }

    fn deposit_receipt(
        &mut self,
        merchant: &AccountId,
        request_id: &[u8; 16],
    ) -> StoreResult<Option<([u8; 32], DepositReceipt)>> {
        Ok(self.state.receipts.get(&(*merchant, *request_id)).cloned())
    }

    fn insert_deposit_receipt(&mut self, digest: &[u8; 32], receipt: &DepositReceipt) -> StoreResult<()> {
        let key = (receipt.merchant_id, receipt.request_id);
        if self.state.receipts.contains_key(&key) {
            return Err(StoreError::Conflict("deposit request"));
        }
        put!(self, receipts, key, (*digest, receipt.clone()));
        Ok(())
    }

    fn insert_evidence(&mut self, evidence: &EvidenceRecord) -> StoreResult<()> {
        let coin = evidence.evidence.coin_id;
        if self.state.evidence_by_coin.contains_key(&coin) {
            return Err(StoreError::Conflict("evidence"));
        }
        let seq = self.state.evidence.len() as u64 + 1;
        self.state.evidence.push(evidence.clone());
        put!(self, evidence_by_coin, coin, seq);
        self.undo.push(Box::new(|s| {
            s.evidence.pop();
        }));
        Ok(())
    }

    fn evidence_of(&mut self, coin: &CoinId) -> StoreResult<Option<EvidenceRecord>> {
        Ok(self.state.evidence_by_coin.get(coin).map(|&seq| self.state.evidence[seq as usize - 1].clone()))
    }

    fn evidence_after(&mut self, after: u64, limit: usize) -> StoreResult<Vec<StoredEvidence>> {
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(self.state.evidence.len());
        Ok(self.state.evidence[start..]
            .iter()
            .take(limit)
            .enumerate()
            .map(|(i, record)| StoredEvidence { seq: (start + i) as u64 + 1, record: record.clone() })
            .collect())
    }

    fn evidence_count(&mut self) -> StoreResult<u64> {
        Ok(self.state.evidence.len() as u64)
    }

    fn insert_refusal_record(&mut self, record: &RefusalRecord) -> StoreResult<()> {
        if self.state.refusals.contains_key(&record.payment_digest) {
            return Err(StoreError::Conflict("refusal record"));
        }
        let seq = self.state.refusals.len() as u64;
        put!(self, refusals, record.payment_digest, (seq, record.clone()));
        Ok(())
    }

    fn refusal_record(&mut self, payment_digest: &[u8; 32]) -> StoreResult<Option<RefusalRecord>> {
        Ok(self.state.refusals.get(payment_digest).map(|(_, r)| r.clone()))
    }

    fn broken_refusals(&mut self) -> StoreResult<Vec<RefusalRecord>> {
        let mut v: Vec<_> = self.state.refusals.values().filter(|(_, r)| r.broken).cloned().collect();
        v.sort_by_key(|(seq, _)| *seq);
        Ok(v.into_iter().map(|(_, r)| r).collect())
    }

    fn watch_serial(&mut self, serial: &Point, case: &str) -> StoreResult<()> {
        put!(self, watch, *serial.as_bytes(), (*serial, case.to_string()));
        Ok(())
    }

    fn watched_serial(&mut self, serial: &Point) -> StoreResult<Option<String>> {
        Ok(self.state.watch.get(serial.as_bytes()).map(|(_, c)| c.clone()))
    }

    fn watch_list(&mut self) -> StoreResult<Vec<(Point, String)>> {
        Ok(self.state.watch.values().cloned().collect())
    }
}

#[derive(Default)]
struct WalletState {
    exchanges: BTreeMap<[u8; 32], ExchangeRecord>,
    reclaims: BTreeMap<[u8; 16], crate::protocol::reclaim::ReclaimRequest>,
    plans: BTreeMap<ReservationId, WithdrawalPlan>,
    pending: BTreeMap<SessionId, PendingEntry>,
    coins: BTreeMap<CoinId, StoredCoin>,
    payments: HashMap<[u8; 32], Payment>,
    counters: BTreeMap<KeysetId, u64>,
    statements: BTreeMap<[u8; 32], (crate::protocol::spent::UnspentStatement, bool)>,
}

/// A wallet's state in memory.
#[derive(Default)]
pub struct MemoryWalletStore {
    state: Mutex<WalletState>,
    payee: MemoryMerchantStore,
}

impl MemoryWalletStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl WalletStore for MemoryWalletStore {
    fn restore_coins(
        &self,
        held: &[WalletCoin],
        spent: &[WalletCoin],
        statement: Option<&crate::protocol::spent::UnspentStatement>,
    ) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        let all = held.iter().map(|c| (c, None)).chain(spent.iter().map(|c| (c, Some(RESTORED_SPENT))));
        let mut ids = HashSet::new();
        let coins: Vec<(CoinId, StoredCoin)> =
            all.map(|(c, spent_in)| (c.coin.id(), StoredCoin { coin: c.clone(), spent_in })).collect();
        if statement.is_some_and(|st| s.statements.contains_key(&st.request))
            || coins.iter().any(|(id, _)| s.coins.contains_key(id) || !ids.insert(*id))
        {
            return Err(StoreError::Conflict("coin"));
        }
        s.coins.extend(coins);
        if let Some(st) = statement {
            s.statements.insert(st.request, (st.clone(), false));
        }
        Ok(())
    }

    fn spent_statements(&self) -> StoreResult<Vec<(crate::protocol::spent::UnspentStatement, bool)>> {
        Ok(lock(&self.state)?.statements.values().cloned().collect())
    }

    fn statement_exchanged(&self, request: &[u8; 32]) -> StoreResult<()> {
        if let Some(entry) = lock(&self.state)?.statements.get_mut(request) {
            entry.1 = true;
        }
        Ok(())
    }

    fn put_exchange(&self, exchange: &ExchangeRecord) -> StoreResult<()> {
        lock(&self.state)?.exchanges.insert(exchange.id(), exchange.clone());
        Ok(())
    }

    fn exchanges(&self) -> StoreResult<Vec<ExchangeRecord>> {
        Ok(lock(&self.state)?.exchanges.values().cloned().collect())
    }

    fn drop_exchange(&self, id: &[u8; 32]) -> StoreResult<()> {
        lock(&self.state)?.exchanges.remove(id);
        Ok(())
    }

    fn put_reclaim(&self, reclaim: &crate::protocol::reclaim::ReclaimRequest) -> StoreResult<()> {
        lock(&self.state)?.reclaims.insert(reclaim.request_id, reclaim.clone());
        Ok(())
    }

    fn reclaims(&self) -> StoreResult<Vec<crate::protocol::reclaim::ReclaimRequest>> {
        Ok(lock(&self.state)?.reclaims.values().cloned().collect())
    }

    fn drop_reclaim(&self, request_id: &[u8; 16]) -> StoreResult<()> {
        lock(&self.state)?.reclaims.remove(request_id);
        Ok(())
    }

    fn put_plan(&self, plan: &WithdrawalPlan) -> StoreResult<()> {
        let (id, _) = plan.reservation().ok_or(StoreError::Corrupt("plan without a reservation".into()))?;
        lock(&self.state)?.plans.insert(id, plan.clone());
        Ok(())
    }

    fn plans(&self) -> StoreResult<Vec<WithdrawalPlan>> {
        Ok(lock(&self.state)?.plans.values().cloned().collect())
    }

    fn drop_plan(&self, reservation: &ReservationId) -> StoreResult<()> {
        lock(&self.state)?.plans.remove(reservation);
        Ok(())
    }

    fn put_pending(&self, entry: &PendingEntry) -> StoreResult<()> {
        lock(&self.state)?.pending.insert(entry.session_id(), entry.clone());
        Ok(())
    }

    fn pending(&self) -> StoreResult<Vec<PendingEntry>> {
        Ok(lock(&self.state)?.pending.values().cloned().collect())
    }

    fn complete_withdrawal(&self, session: &SessionId, coin: &WalletCoin) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        let id = coin.coin.id();
        if s.coins.contains_key(&id) {
            return Err(StoreError::Conflict("coin"));
        }
        s.pending.remove(session);
        s.coins.insert(id, StoredCoin { coin: coin.clone(), spent_in: None });
        Ok(())
    }

    fn drop_pending(&self, session: &SessionId) -> StoreResult<()> {
        lock(&self.state)?.pending.remove(session);
        Ok(())
    }

    fn coins(&self) -> StoreResult<Vec<StoredCoin>> {
        Ok(lock(&self.state)?.coins.values().cloned().collect())
    }

    fn mark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        for id in coins {
            match s.coins.get(id) {
                None => return Err(StoreError::NotFound("coin")),
                Some(c) if c.spent_in.is_some() => return Err(StoreError::Conflict("spent coin")),
                Some(_) => {}
            }
        }
        for id in coins {
            if let Some(c) = s.coins.get_mut(id) {
                c.spent_in = Some(*request_id);
            }
        }
        Ok(())
    }

    fn unmark_spent(&self, coins: &[CoinId], request_id: &[u8; 32]) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        if s.payments.contains_key(request_id) {
            return Err(StoreError::Conflict("payment"));
        }
        for id in coins {
            if let Some(c) = s.coins.get_mut(id) {
                if c.spent_in.as_ref() == Some(request_id) {
                    c.spent_in = None;
                }
            }
        }
        Ok(())
    }

    fn record_payment(&self, request_id: &[u8; 32], payment: &Payment) -> StoreResult<()> {
        lock(&self.state)?.payments.insert(*request_id, payment.clone());
        Ok(())
    }

    fn payee(&self) -> &(dyn MerchantStore + 'static) {
        &self.payee
    }

    fn burn_counter(&self, keyset: &KeysetId) -> StoreResult<u64> {
        let mut s = lock(&self.state)?;
        let next = s.counters.entry(*keyset).or_insert(0);
        let n = *next;
        *next = n.checked_add(1).ok_or(StoreError::Corrupt("withdrawal counter exhausted".into()))?;
        Ok(n)
    }

    fn raise_counter(&self, keyset: &KeysetId, next: u64) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        let at = s.counters.entry(*keyset).or_insert(0);
        *at = (*at).max(next);
        Ok(())
    }

    fn payment(&self, request_id: &[u8; 32]) -> StoreResult<Option<Payment>> {
        Ok(lock(&self.state)?.payments.get(request_id).cloned())
    }
}

#[derive(Default)]
struct MerchantState {
    /// Every request id ever issued (a request id is issued once).
    issued: HashSet<[u8; 32]>,
    open: HashMap<[u8; 32], PaymentRequest>,
    /// Requests closed by a refusal, with the digest of the payment refused.
    refused: HashMap<[u8; 32], [u8; 32]>,
    seen: HashSet<CoinId>,
    accepted: Vec<AcceptedPayment>,
    in_flight: Option<DepositRequest>,
    receipts: HashMap<[u8; 16], DepositReceipt>,
    watch: HashSet<[u8; 32]>,
    watch_version: Option<WatchListVersion>,
}

/// A merchant's state in memory.
#[derive(Default)]
pub struct MemoryMerchantStore {
    state: Mutex<MerchantState>,
}

impl MemoryMerchantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MerchantStore for MemoryMerchantStore {
    fn insert_request(&self, request: &PaymentRequest) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        let id = request.id();
        if !s.issued.insert(id) {
            return Err(StoreError::Conflict("payment request"));
        }
        s.open.insert(id, *request);
        Ok(())
    }

    fn open_request(&self, request_id: &[u8; 32]) -> StoreResult<Option<PaymentRequest>> {
        Ok(lock(&self.state)?.open.get(request_id).copied())
    }

    fn coin_seen(&self, coin: &CoinId) -> StoreResult<bool> {
        Ok(lock(&self.state)?.seen.contains(coin))
    }

    fn accept_payment(&self, request_id: &[u8; 32], coins: &[CoinId], payment: &Payment) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        if !s.open.contains_key(request_id) {
            return Err(StoreError::NotFound("open payment request"));
        }
        if coins.iter().any(|c| s.seen.contains(c)) {
            return Err(StoreError::Conflict("seen coin"));
        }
        let digest = payment.digest();
        if s.accepted.iter().any(|a| a.digest == digest) {
            return Err(StoreError::Conflict("accepted payment"));
        }
        s.open.remove(request_id);
        s.seen.extend(coins.iter().copied());
        s.accepted.push(AcceptedPayment { payment: payment.clone(), digest, state: PaymentState::Pending });
        Ok(())
    }

    fn refuse_payment(&self, request_id: &[u8; 32], payment_digest: &[u8; 32]) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        if s.open.remove(request_id).is_some() {
            s.refused.insert(*request_id, *payment_digest);
            return Ok(());
        }
        match s.refused.get(request_id) {
            Some(d) if d == payment_digest => Ok(()),
            _ => Err(StoreError::NotFound("open payment request")),
        }
    }

    fn payments(&self) -> StoreResult<Vec<AcceptedPayment>> {
        Ok(lock(&self.state)?.accepted.clone())
    }

    fn undeposited(&self) -> StoreResult<Vec<AcceptedPayment>> {
        Ok(lock(&self.state)?.accepted.iter().filter(|a| a.state == PaymentState::Pending).cloned().collect())
    }

    fn begin_deposit(&self, request: &DepositRequest) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        if s.in_flight.is_some() {
            return Err(StoreError::Conflict("deposit in flight"));
        }
        s.in_flight = Some(request.clone());
        Ok(())
    }

    fn deposit_in_flight(&self) -> StoreResult<Option<DepositRequest>> {
        Ok(lock(&self.state)?.in_flight.clone())
    }

    fn record_receipt(&self, request: &DepositRequest, receipt: &DepositReceipt) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        for (digest, state) in settled_states(request, receipt) {
            if let Some(state) = state {
                if let Some(a) = s.accepted.iter_mut().find(|a| a.digest == digest) {
                    a.state = state;
                }
            }
        }
        s.receipts.insert(request.request_id, receipt.clone());
        if s.in_flight.as_ref().is_some_and(|r| r.request_id == request.request_id) {
            s.in_flight = None;
        }
        Ok(())
    }

    fn receipt(&self, request_id: &[u8; 16]) -> StoreResult<Option<DepositReceipt>> {
        Ok(lock(&self.state)?.receipts.get(request_id).cloned())
    }

    fn watch_list_version(&self) -> StoreResult<Option<WatchListVersion>> {
        Ok(lock(&self.state)?.watch_version)
    }

    fn set_watch_list(&self, version: &WatchListVersion, serials: &[Point]) -> StoreResult<()> {
        let mut s = lock(&self.state)?;
        if s.watch_version.as_ref().is_some_and(|held| super::watch_list_held_is_newer(held, version)) {
            return Err(StoreError::Conflict("newer watch list"));
        }
        s.watch = serials.iter().map(|p| *p.as_bytes()).collect();
        s.watch_version = Some(*version);
        Ok(())
    }

    fn serial_watched(&self, serial: &Point) -> StoreResult<bool> {
        Ok(lock(&self.state)?.watch.contains(serial.as_bytes()))
    }
}

/// A TTP audit log in memory (and a trustee's aborted ceremonies and
/// signing sessions).
#[derive(Default)]
pub struct MemoryTtpStore {
    entries: Mutex<Vec<LogEntry>>,
    aborts: Mutex<Vec<DkgAbort>>,
    sessions: Mutex<HashMap<[u8; 32], Option<SecretBytes>>>,
}

impl MemoryTtpStore {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Direct access to the entries, for tests that tamper with the log.
    pub fn entries_mut(&self) -> StoreResult<MutexGuard<'_, Vec<LogEntry>>> {
        lock(&self.entries)
    }
}

impl TtpStore for MemoryTtpStore {
    fn append(&self, entry: &LogEntry) -> StoreResult<()> {
        let mut e = lock(&self.entries)?;
        if entry.index != e.len() as u64 {
            return Err(StoreError::Conflict("log index"));
        }
        if e.iter().any(|x| x.warrant_id == entry.warrant_id) {
            return Err(StoreError::Conflict("warrant id"));
        }
        e.push(entry.clone());
        Ok(())
    }

    fn entries(&self) -> StoreResult<Vec<LogEntry>> {
        Ok(lock(&self.entries)?.clone())
    }

    fn len(&self) -> StoreResult<u64> {
        Ok(lock(&self.entries)?.len() as u64)
    }

    fn warrant_used(&self, warrant_id: &[u8; 16]) -> StoreResult<bool> {
        Ok(lock(&self.entries)?.iter().any(|x| x.warrant_id == *warrant_id))
    }
}

impl TrusteeStore for MemoryTtpStore {
    fn put_nonces(&self, session: &[u8; 32], nonces: &SecretBytes) -> StoreResult<()> {
        let mut s = lock(&self.sessions)?;
        if s.contains_key(session) {
            return Err(StoreError::Conflict("signing session"));
        }
        s.insert(*session, Some(nonces.clone()));
        Ok(())
    }

    fn take_nonces(&self, session: &[u8; 32]) -> StoreResult<Option<SecretBytes>> {
        Ok(lock(&self.sessions)?.get_mut(session).and_then(Option::take))
    }

    fn record_dkg_abort(&self, abort: &DkgAbort) -> StoreResult<()> {
        lock(&self.aborts)?.push(abort.clone());
        Ok(())
    }

    fn dkg_aborts(&self) -> StoreResult<Vec<DkgAbort>> {
        Ok(lock(&self.aborts)?.clone())
    }
}
