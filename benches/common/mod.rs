//! Shared fixtures for the criterion benches: a bank keyset, a user, a
//! merchant and a TTP, and the pure protocol steps (no store) that produce
//! coins and payments. Every bench file includes this module with
//! `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use criterion::Criterion;
use curve25519_dalek::scalar::Scalar;
use faircash::coin::{spend_relation, SpendStatement};
use faircash::crypto::acl::SignerSession;
use faircash::crypto::batch::BatchVerifier;
use faircash::crypto::schnorr::SigningKey;
use faircash::crypto::transcript::labels;
use faircash::keys::{
    merchant_account_id, AccountId, AccountKeys, BankSecrets, Keyset, KeysetPolicy, KeysetSpec, UserKey,
};
use faircash::protocol::deposit::DepositRequest;
use faircash::protocol::pay::{create_payment, verify_payment, Payment, PaymentRequest};
use faircash::protocol::trace::{TraceRecord, TraceRequest, Warrant, WarrantTerms};
use faircash::protocol::withdraw::{
    commitment_digest, WalletCoin, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
    WithdrawStart,
};
use faircash::roles::{Bank, BankConfig, Ttp, TtpKeys};
use faircash::store::memory::{MemoryBankStore, MemoryTtpStore};
use faircash::store::BankStore;
use faircash::time::{Clock, Day, ManualClock, Timestamp};
use faircash::wire::WireMessage;
use rand::rngs::OsRng;

/// The allocator of the `faircash` binary (`src/bin/faircash.rs`), so the
/// benches measure what the service runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The day every fixture lives on (withdrawal, payment and receipt day).
pub const TODAY: Day = Day(20_781);

/// Denominations `2^0 ..= 2^MAX_EXPONENT` (the CLI's `bank init` default).
pub const MAX_EXPONENT: u32 = 10;

/// Criterion settings for the slow benches: fewer samples, and no plots
/// (`scripts/plot_benchmarks.py` draws what BENCHMARKS.md shows).
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
}

/// The keyset specification of the fixtures.
pub fn spec() -> KeysetSpec {
    KeysetSpec {
        exponents: 0..=MAX_EXPONENT,
        withdraw_from: TODAY,
        withdraw_days: 30,
        policy: KeysetPolicy::default(),
    }
}

/// One bank keyset, one user, one merchant, one TTP.
pub struct Fixture {
    /// The bank's secrets (master key and denomination keys).
    pub secrets: BankSecrets,
    /// The verified keyset.
    pub keyset: Keyset,
    /// The TTP's keys (`Y_T` is in the keyset).
    pub ttp: TtpKeys,
    /// The user's account keys.
    pub keys: AccountKeys,
    /// The user's identity key (`keys.identity()`).
    pub user: UserKey,
    /// The merchant's key.
    pub merchant: SigningKey,
    /// The merchant's account.
    pub merchant_id: AccountId,
}

impl Fixture {
    /// Fresh keys and a keyset.
    pub fn new() -> Self {
        let rng = &mut OsRng;
        let ttp = TtpKeys::generate(rng);
        let mut secrets = BankSecrets::generate(rng);
        let keyset = secrets.issue_keyset(None, *ttp.decryption.public(), &spec(), rng).expect("keyset");
        let merchant = SigningKey::generate(rng);
        let merchant_id = merchant_account_id(merchant.public());
        let keys = AccountKeys::generate(rng);
        let user = keys.identity().clone();
        Fixture { secrets, keyset, ttp, keys, user, merchant, merchant_id }
    }

    /// The user's first step: request, proof and secrets for one coin.
    pub fn start(&self, value: u64) -> WithdrawStart {
        WithdrawStart::new(&self.keys, &self.keyset, value, TODAY, &mut OsRng).expect("withdraw start")
    }

    /// The bank's first step without a store: checks `pi_W` and opens the
    /// signer session.
    pub fn bank_open(&self, req: &WithdrawRequest) -> (SignerSession, WithdrawCommitment) {
        req.verify_proof(self.user.identity(), &self.keyset, &mut OsRng).expect("pi_W verifies");
        let key = self.keyset.key(&req.key_id).expect("key");
        let x = self.secrets.denomination_secret(&req.key_id).expect("secret").expose_secret();
        let (session, commitment) =
            SignerSession::open(x, &key.acl(), &req.commitment, req.session_id.as_bytes(), &mut OsRng);
        let online = self.secrets.online_signing_key(self.keyset.signing_key()).expect("online key");
        let signature = online.sign(
            labels::WITHDRAW_COMMITMENT_SIGNATURE,
            &commitment_digest(req, &commitment),
            &mut OsRng,
        );
        (session, WithdrawCommitment { session_id: req.session_id, commitment, signature })
    }

    /// The bank's second step without a store: checks the authorization and
    /// the commitment digest, and answers.
    pub fn bank_answer(
        &self,
        req: &WithdrawRequest,
        session: SignerSession,
        commitment: &WithdrawCommitment,
        ch: &WithdrawChallenge,
    ) -> WithdrawAnswer {
        ch.verify_authorization(&req.account, self.keys.auth().public()).expect("authorized");
        assert_eq!(
            ch.commitment_digest,
            commitment_digest(req, &commitment.commitment),
            "the stored commitment"
        );
        let x = self.secrets.denomination_secret(&req.key_id).expect("secret").expose_secret();
        let (_answered, answer) = session.answer(x, &ch.e);
        WithdrawAnswer::answered(ch.session_id, answer)
    }

    /// One whole withdrawal, both sides.
    pub fn withdraw(&self, value: u64) -> WalletCoin {
        let start = self.start(value);
        let req = start.request().clone();
        let (session, commitment) = self.bank_open(&req);
        let pending = start.receive_commitment(&self.keys, &commitment, &mut OsRng).expect("commitment");
        let answer = self.bank_answer(&req, session, &commitment, &pending.challenge());
        pending.finish(&answer).expect("coin")
    }

    /// `n` whole withdrawals of value 1, both sides interleaved (the
    /// protocol needs both), timed apart: `(user, bank)`. The bank side is
    /// the protocol step alone (`bank_open`, `bank_answer`).
    pub fn withdraw_timed(&self, n: usize) -> (Duration, Duration) {
        let (mut user, mut bank) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..n {
            let t = Instant::now();
            let start = self.start(1);
            user += t.elapsed();
            let req = start.request().clone();
            let t = Instant::now();
            let (session, commitment) = self.bank_open(&req);
            bank += t.elapsed();
            let t = Instant::now();
            let pending = start.receive_commitment(&self.keys, &commitment, &mut OsRng).expect("commitment");
            let ch = pending.challenge();
            user += t.elapsed();
            let t = Instant::now();
            let answer = self.bank_answer(&req, session, &commitment, &ch);
            bank += t.elapsed();
            let t = Instant::now();
            std::hint::black_box(pending.finish(&answer).expect("coin"));
            user += t.elapsed();
        }
        (user, bank)
    }

    /// The bank's whole part of `n` withdrawals of value 1 through `bank`
    /// (`Bank::open_withdrawal` and `Bank::answer_withdrawal`: checks, store
    /// transactions and their commits), timed; the user's steps between
    /// them are not.
    pub fn withdraw_through<S: BankStore>(&self, bank: &Bank<S>, keyset: &Keyset, n: usize) -> Duration {
        let mut t_bank = Duration::ZERO;
        for _ in 0..n {
            let start = WithdrawStart::new(&self.keys, keyset, 1, TODAY, &mut OsRng).expect("withdraw start");
            let t = Instant::now();
            let commitment = bank.open_withdrawal(start.request(), &mut OsRng).expect("opened");
            t_bank += t.elapsed();
            let pending = start.receive_commitment(&self.keys, &commitment, &mut OsRng).expect("commitment");
            let ch = pending.challenge();
            let t = Instant::now();
            let answer = bank.answer_withdrawal(&ch).expect("answered");
            t_bank += t.elapsed();
            std::hint::black_box(answer);
        }
        t_bank
    }

    /// `n` coins of value 1.
    pub fn coins(&self, n: usize) -> Vec<WalletCoin> {
        (0..n).map(|_| self.withdraw(1)).collect()
    }

    /// A payment request of this merchant for `amount`, dated today.
    pub fn request(&self, amount: u64) -> PaymentRequest {
        PaymentRequest::new(self.merchant_id, *self.merchant.public(), amount, TODAY, [7; 32], &mut OsRng)
    }

    /// A payment of `coins` (their whole value) to this merchant.
    pub fn pay(&self, coins: &[WalletCoin]) -> Payment {
        let amount = coins.iter().map(|c| c.value).sum();
        let refs: Vec<&WalletCoin> = coins.iter().collect();
        create_payment(&self.request(amount), &self.keyset, &self.user, &refs, &mut OsRng).expect("payment")
    }

    /// A signed deposit request of `payments`.
    pub fn deposit(&self, payments: Vec<Payment>) -> DepositRequest {
        DepositRequest::new(&self.merchant, self.merchant_id, payments, &mut OsRng)
    }

    /// A bank over the in-memory store, with a keyset for this fixture's
    /// TTP and this fixture's user registered and funded with `funds`.
    pub fn memory_bank(&self, funds: u64) -> (Bank<MemoryBankStore>, Keyset, AccountId) {
        self.bank(MemoryBankStore::new(), funds)
    }

    /// A bank over `store` (empty), set up as [`Fixture::memory_bank`].
    pub fn bank<S: BankStore>(&self, store: S, funds: u64) -> (Bank<S>, Keyset, AccountId) {
        let clock = std::sync::Arc::new(ManualClock::at_day(TODAY));
        let secrets = BankSecrets::generate(&mut OsRng);
        let bank = Bank::open(store, secrets, clock, BankConfig::default()).expect("bank");
        let keyset = bank.issue_keyset(*self.ttp.decryption.public(), &spec(), &mut OsRng).expect("keyset");
        let reg = faircash::protocol::register::UserRegistration::new(&self.keys, &mut OsRng);
        let account = bank.register_user(&reg, &mut OsRng).expect("registered");
        bank.fund(&account, funds).expect("funded");
        (bank, keyset, account)
    }

    /// The single TTP's key statement (t = n = 1) that trace results of
    /// [`Fixture::ttp`] verify against.
    pub fn ttp_statement(&self) -> faircash::protocol::trust::TtpKeyStatement {
        faircash::protocol::trust::TtpKeyStatement::single(
            0,
            *self.ttp.decryption.public(),
            *self.ttp.signing.public(),
            faircash::protocol::trust::TtpValidity {
                escrow_from: faircash::time::Day(0),
                escrow_until: faircash::time::Day(u32::MAX / 4),
                trace_until: faircash::time::Day(u32::MAX / 2),
            },
            faircash::time::Timestamp(0),
        )
    }

    /// A TTP over an in-memory log that trusts `judge` and knows this
    /// fixture's keyset.
    pub fn ttp(&self, clock: &ManualClock, judge: &SigningKey) -> Ttp<MemoryTtpStore> {
        let mut t = Ttp::new(self.ttp.clone(), MemoryTtpStore::new(), std::sync::Arc::new(clock.clone()));
        t.trust_issuer(*judge.public());
        t.add_keysets(&[self.keyset.signed().clone()], self.secrets.master_public()).expect("keyset");
        t
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// Queues the group equations of every coin of `payments` (its `coin_id`,
/// ACL hash, four ACL equations and six spend equations) as `queue_payment`
/// does, without the structure checks, range proofs and payment transcript.
/// `challenges` are each payment's spend challenges.
pub fn queue_equations(
    fx: &Fixture,
    payments: &[Payment],
    challenges: &[Vec<Scalar>],
    batch: &mut BatchVerifier,
) {
    for (p, cs) in payments.iter().zip(challenges) {
        for ((coin, resp), ch) in p.coins.iter().zip(&p.responses).zip(cs) {
            let key = fx.keyset.key(&coin.body.key_id).expect("key");
            let id = coin.id();
            coin.signature.queue(&key.acl(), id.as_bytes(), batch).expect("well-formed signature");
            let rel = spend_relation(&SpendStatement {
                z: &key.z,
                zeta: &coin.signature.zeta,
                zeta1: &coin.signature.zeta1,
                serial: &coin.body.serial,
                escrow: &coin.body.escrow,
                expiry_commitment: &coin.body.expiry_commitment,
                ttp_key: fx.keyset.ttp_key(),
            });
            rel.queue_with_challenge(batch, &coin.body.spend_commitments, ch, &resp.to_array())
                .expect("well-formed spend");
        }
    }
}

/// The group equations of `payments`, all in one batch.
pub fn equations_batched(fx: &Fixture, payments: &[Payment], challenges: &[Vec<Scalar>]) {
    let coins: usize = payments.iter().map(|p| p.coins.len()).sum();
    let mut batch = BatchVerifier::with_capacity(&mut OsRng, 16 * coins + 32);
    queue_equations(fx, payments, challenges, &mut batch);
    batch.verify().expect("equations hold");
}

/// The group equations of `payments`, one batch per payment (per coin, for
/// one-coin payments).
pub fn equations_one_by_one(fx: &Fixture, payments: &[Payment], challenges: &[Vec<Scalar>]) {
    for i in 0..payments.len() {
        let mut batch = BatchVerifier::with_capacity(&mut OsRng, 16 * payments[i].coins.len() + 16);
        queue_equations(fx, &payments[i..=i], &challenges[i..=i], &mut batch);
        batch.verify().expect("equations hold");
    }
}

/// A deposit request verified one payment at a time: the merchant's
/// signature, then `verify_payment` on each payment.
pub fn deposit_one_by_one(fx: &Fixture, req: &DepositRequest) {
    let mut msg = Vec::with_capacity(40 + 32 * req.payments.len());
    msg.extend_from_slice(req.merchant_id.as_bytes());
    msg.extend_from_slice(&req.request_id);
    msg.extend_from_slice(&(req.payments.len() as u64).to_le_bytes());
    for p in &req.payments {
        msg.extend_from_slice(&p.digest());
    }
    req.signature.verify(labels::DEPOSIT_SIGNATURE, &msg, fx.merchant.public()).expect("signature");
    for p in &req.payments {
        std::hint::black_box(verify_payment(p, &fx.keyset, &mut OsRng).expect("payment verifies"));
    }
}

/// Each payment's spend challenges (from a full verification).
pub fn challenges(fx: &Fixture, payments: &[Payment]) -> Vec<Vec<Scalar>> {
    payments.iter().map(|p| verify_payment(p, &fx.keyset, &mut OsRng).expect("verifies").challenges).collect()
}

/// A trace request for `record` under a fresh warrant by `judge`, issued a
/// minute before `clock`'s now and good for a day.
pub fn trace_request(record: &TraceRecord, judge: &SigningKey, clock: &ManualClock) -> TraceRequest {
    let now = clock.now();
    let terms = WarrantTerms {
        kind: record.kind(),
        record_digest: record.digest(),
        case_id: "2026-117".into(),
        reason: "benchmark".into(),
        issued_at: Timestamp(now.0 - 60),
        expires_at: now.plus_secs(86_400),
    };
    TraceRequest { warrant: Warrant::issue(judge, terms, &mut OsRng), record: record.clone() }
}

/// A bank whose calls are timed (the bank's whole work, in one process)
/// and whose messages are counted in their binary wire encoding
/// (`specs/wire.md`), requests and answers apart.
pub struct Timed<'a, B: faircash::roles::BankApi + ?Sized> {
    bank: &'a B,
    /// Time spent in the bank's calls.
    pub spent: std::cell::Cell<Duration>,
    /// Bytes of the requests sent, encoded.
    pub sent: std::cell::Cell<usize>,
    /// Bytes of the answers received, encoded.
    pub received: std::cell::Cell<usize>,
}

impl<'a, B: faircash::roles::BankApi + ?Sized> Timed<'a, B> {
    /// Nothing timed or counted yet.
    pub fn new(bank: &'a B) -> Self {
        Timed { bank, spent: Default::default(), sent: Default::default(), received: Default::default() }
    }

    fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.spent.set(self.spent.get() + t.elapsed());
        out
    }

    fn count<Q: faircash::wire::WireMessage, A: faircash::wire::WireMessage>(
        &self,
        req: &Q,
        f: impl FnOnce() -> faircash::protocol::Result<A>,
    ) -> faircash::protocol::Result<A> {
        self.sent.set(self.sent.get() + req.to_bytes().len());
        let out = self.time(f);
        if let Ok(a) = &out {
            self.received.set(self.received.get() + a.to_bytes().len());
        }
        out
    }
}

impl<B: faircash::roles::BankApi + ?Sized> faircash::roles::BankApi for Timed<'_, B> {
    fn keysets(&self) -> faircash::protocol::Result<Vec<faircash::keys::SignedKeyset>> {
        let out = self.time(|| self.bank.keysets());
        if let Ok(list) = &out {
            self.received.set(self.received.get() + list.iter().map(|k| k.to_bytes().len()).sum::<usize>());
        }
        out
    }
    fn register_user(
        &self,
        reg: &faircash::protocol::register::UserRegistration,
    ) -> faircash::protocol::Result<AccountId> {
        self.time(|| self.bank.register_user(reg))
    }
    fn register_merchant(
        &self,
        reg: &faircash::protocol::register::MerchantRegistration,
    ) -> faircash::protocol::Result<AccountId> {
        self.time(|| self.bank.register_merchant(reg))
    }
    fn open_withdrawal(&self, req: &WithdrawRequest) -> faircash::protocol::Result<WithdrawCommitment> {
        self.count(req, || self.bank.open_withdrawal(req))
    }
    fn answer_withdrawal(&self, ch: &WithdrawChallenge) -> faircash::protocol::Result<WithdrawAnswer> {
        self.count(ch, || self.bank.answer_withdrawal(ch))
    }
    fn deposit(
        &self,
        req: &DepositRequest,
    ) -> faircash::protocol::Result<faircash::protocol::deposit::DepositReceipt> {
        self.count(req, || self.bank.deposit(req))
    }
    fn reclaim(
        &self,
        req: &faircash::protocol::reclaim::ReclaimRequest,
    ) -> faircash::protocol::Result<faircash::protocol::deposit::DepositReceipt> {
        self.count(req, || self.bank.reclaim(req))
    }
    fn ttp_statements(
        &self,
    ) -> faircash::protocol::Result<Vec<faircash::protocol::trust::SignedTtpKeyStatement>> {
        self.time(|| self.bank.ttp_statements())
    }
    fn spent_list(
        &self,
        keyset: &faircash::keys::KeysetId,
        value: u64,
        page: u32,
    ) -> faircash::protocol::Result<faircash::protocol::spent::SpentList> {
        let out = self.time(|| self.bank.spent_list(keyset, value, page));
        if let Ok(list) = &out {
            self.received.set(self.received.get() + list.to_bytes().len());
        }
        out
    }
    fn unspent_statement(
        &self,
        query: &faircash::protocol::spent::UnspentQuery,
    ) -> faircash::protocol::Result<faircash::protocol::spent::UnspentStatement> {
        self.count(query, || self.bank.unspent_statement(query))
    }
    fn account_request(
        &self,
        req: &faircash::protocol::account::AccountRequest,
    ) -> faircash::protocol::Result<faircash::protocol::account::AccountAnswer> {
        self.count(req, || self.bank.account_request(req))
    }
}
