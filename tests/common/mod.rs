//! A small world for the integration tests: one bank with a keyset, a TTP,
//! users and merchants, all on one manual clock.
#![allow(dead_code)]

pub mod recording;

use std::sync::Arc;

use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
use faircash::protocol::trace::{TraceRecord, Warrant, WarrantTerms};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpValidity};
use faircash::roles::{Bank, BankConfig, Merchant, TtpKey, TtpKeys, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use faircash::store::BankStore;
use faircash::time::{Day, ManualClock};
use rand::rngs::OsRng;

pub type TestBank = Bank<MemoryBankStore>;
pub type TestWallet = Wallet<MemoryWalletStore>;
pub type TestMerchant = Merchant<MemoryMerchantStore>;

pub const START: Day = Day(20_781);

/// The keysets of the test world: denominations 2^0..=2^max_exponent,
/// withdrawals from START for 30 days, coins valid 30 days, deposits
/// within 7 days.
pub fn spec(max_exponent: u32) -> KeysetSpec {
    KeysetSpec {
        exponents: 0..=max_exponent,
        withdraw_from: START,
        withdraw_days: 30,
        policy: KeysetPolicy { validity_days: 30, max_deposit_delay_days: 7 },
    }
}

/// The world's bank runs on the in-memory store unless a test gives it
/// another ([`World::on_store`]).
pub struct World<S: BankStore = MemoryBankStore> {
    pub clock: ManualClock,
    pub bank: Arc<Bank<S>>,
    /// The TTP's decryption key (`ttp_keys.decryption`).
    pub ttp: TtpKey,
    /// The TTP's keys (decryption and group signing).
    pub ttp_keys: TtpKeys,
    /// The TTP's signed key statement, pinned by every wallet and merchant.
    pub ttp_statement: SignedTtpKeyStatement,
}

/// The validity of the world's TTP key statement: wide enough for every
/// keyset a test issues.
pub fn ttp_validity() -> TtpValidity {
    TtpValidity {
        escrow_from: START.minus(365),
        escrow_until: START.plus(3650),
        trace_until: START.plus(7300),
    }
}

impl World {
    pub fn new() -> Self {
        Self::with_config(BankConfig::default())
    }

    /// A world whose bank never throttles a merchant that deposits a
    /// forged payment (for tests that deposit forgeries one after another).
    pub fn without_throttling() -> Self {
        Self::with_config(BankConfig {
            deposit_limits: faircash::roles::DepositLimits { throttle_secs: 0, ..Default::default() },
            ..BankConfig::default()
        })
    }

    pub fn with_config(config: BankConfig) -> Self {
        World::on_store(MemoryBankStore::new(), config)
    }

    /// A world whose keyset escrows under the decryption key of
    /// `statement` (a group of trustees'), which every wallet and merchant
    /// pins; `ttp_keys` is then a single TTP's that the world does not use.
    pub fn with_ttp_statement(statement: SignedTtpKeyStatement) -> Self {
        World::build(MemoryBankStore::new(), BankConfig::default(), TtpKeys::generate(&mut OsRng), statement)
    }
}

impl<S: BankStore> World<S> {
    /// A world whose bank keeps its state in `store` (empty).
    pub fn on_store(store: S, config: BankConfig) -> Self {
        let ttp_keys = TtpKeys::generate(&mut OsRng);
        let ttp_statement =
            ttp_keys.statement(0, ttp_validity(), faircash::time::Timestamp(0), &mut OsRng).unwrap();
        World::build(store, config, ttp_keys, ttp_statement)
    }

    fn build(store: S, config: BankConfig, ttp_keys: TtpKeys, ttp_statement: SignedTtpKeyStatement) -> Self {
        let clock = ManualClock::at_day(START);
        let ttp = ttp_keys.decryption.clone();
        let bank =
            Bank::open(store, BankSecrets::generate(&mut OsRng), Arc::new(clock.clone()), config).unwrap();
        bank.issue_keyset(ttp_statement.statement.decryption_key, &spec(6), &mut OsRng).unwrap();
        bank.set_ttp_statements(vec![ttp_statement.clone()]).unwrap();
        World { clock, bank: Arc::new(bank), ttp, ttp_keys, ttp_statement }
    }

    /// A warrant of `judge` for `record` under case `case`, valid for an
    /// hour from now.
    pub fn warrant(&self, judge: &SigningKey, record: &TraceRecord, case: &str) -> Warrant {
        use faircash::time::Clock;
        let now = self.clock.now();
        Warrant::issue(
            judge,
            WarrantTerms {
                kind: record.kind(),
                record_digest: record.digest(),
                case_id: case.into(),
                reason: "fraud investigation".into(),
                issued_at: now,
                expires_at: now.plus_secs(3600),
            },
            &mut OsRng,
        )
    }

    /// A registered wallet funded with `funds`.
    pub fn user(&self, funds: u64) -> TestWallet {
        let mut w = Wallet::new(
            AccountKeys::generate(&mut OsRng),
            self.bank.master_key(),
            MemoryWalletStore::new(),
            Arc::new(self.clock.clone()),
        );
        w.pin_keysets(&self.bank.published_keysets()).unwrap();
        w.anchors_mut().trust_ttp(&self.ttp_statement).unwrap();
        let id = self.bank.register_user(&w.registration(&mut OsRng), &mut OsRng).unwrap();
        if funds > 0 {
            self.bank.fund(&id, funds).unwrap();
        }
        w
    }

    /// A registered merchant.
    pub fn merchant(&self) -> TestMerchant {
        let mut m = Merchant::new(
            SigningKey::generate(&mut OsRng),
            self.bank.master_key(),
            MemoryMerchantStore::new(),
            Arc::new(self.clock.clone()),
        );
        m.pin_keysets(&self.bank.published_keysets()).unwrap();
        m.anchors_mut().trust_ttp(&self.ttp_statement).unwrap();
        self.bank.register_merchant(&m.registration(&mut OsRng), &mut OsRng).unwrap();
        m
    }

    pub fn balance(&self, id: &faircash::keys::AccountId) -> u64 {
        self.bank.account(id).unwrap().balance
    }
}

impl<S: BankStore> World<S> {
    /// A registered merchant together with its signing key (for tests that
    /// sign deposit requests themselves).
    pub fn merchant_with_key(&self) -> (TestMerchant, SigningKey) {
        let key = SigningKey::generate(&mut OsRng);
        let mut m = Merchant::new(
            key.clone(),
            self.bank.master_key(),
            MemoryMerchantStore::new(),
            Arc::new(self.clock.clone()),
        );
        m.pin_keysets(&self.bank.published_keysets()).unwrap();
        m.anchors_mut().trust_ttp(&self.ttp_statement).unwrap();
        self.bank.register_merchant(&m.registration(&mut OsRng), &mut OsRng).unwrap();
        (m, key)
    }

    /// The bank's current keyset.
    pub fn keyset(&self) -> faircash::keys::Keyset {
        self.bank.current_keyset().unwrap()
    }

    /// Withdraws one coin of `value` into `wallet` and returns it.
    pub fn withdraw_coin(&self, wallet: &TestWallet, value: u64) -> faircash::protocol::withdraw::WalletCoin {
        let id = wallet.withdraw_one(&*self.bank, value, &mut OsRng).unwrap();
        wallet.coins().unwrap().into_iter().find(|c| c.coin.coin.id() == id).unwrap().coin
    }
}

/// The PostgreSQL database of `FAIRCASH_TEST_POSTGRES`, when it is set;
/// otherwise `None` (the caller skips `what`), and a failure when
/// `FAIRCASH_REQUIRE_POSTGRES` is set.
pub fn postgres_url(what: &str) -> Option<String> {
    match std::env::var("FAIRCASH_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("FAIRCASH_REQUIRE_POSTGRES").is_err(),
                "FAIRCASH_TEST_POSTGRES is required"
            );
            eprintln!("FAIRCASH_TEST_POSTGRES is not set: skipping {what}");
            None
        }
    }
}

/// An rng whose first 64-byte draw is fixed (so a protocol step that draws
/// one scalar by `Scalar::random` first, such as `WithdrawStart`'s blinding
/// `r` or `UserBlinding::blind`'s `gamma`, draws a chosen value); every
/// other draw comes from `OsRng`.
pub struct FixedFirstDraw {
    pub first: Option<[u8; 64]>,
}

impl rand::RngCore for FixedFirstDraw {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(&mut OsRng)
    }
    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut OsRng)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self.first.take() {
            Some(b) if dest.len() == 64 => dest.copy_from_slice(&b),
            other => {
                self.first = other;
                rand::RngCore::fill_bytes(&mut OsRng, dest)
            }
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand::CryptoRng for FixedFirstDraw {}

/// A registered wallet of `seed` (epoch 0, values derived from the phrase,
/// specs/protocol.md §7.6) funded with `funds`.
pub fn seeded_user(w: &World, seed: &faircash::crypto::derive::WalletSeed, funds: u64) -> TestWallet {
    let keys = seed.account_keys(&w.bank.master_key(), 0);
    let mut wallet =
        Wallet::new(keys, w.bank.master_key(), MemoryWalletStore::new(), Arc::new(w.clock.clone()))
            .with_seed(seed)
            .unwrap();
    wallet.pin_keysets(&w.bank.published_keysets()).unwrap();
    wallet.anchors_mut().trust_ttp(&w.ttp_statement).unwrap();
    let id = w.bank.register_user(&wallet.registration(&mut OsRng), &mut OsRng).unwrap();
    w.bank.fund(&id, funds).unwrap();
    wallet
}
