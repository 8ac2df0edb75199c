//! The examples' world: a TTP key statement, a bank with one keyset of
//! denominations 1, 2, 4, ..., 64, and registered users and merchants that
//! pin the bank's keysets and the TTP's statement.
#![allow(dead_code)]

use std::sync::Arc;

use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{AccountId, AccountKeys, BankSecrets, Keyset, KeysetPolicy, KeysetSpec};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpValidity};
use faircash::roles::{Bank, BankConfig, Merchant, TtpKeys, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use faircash::time::{Clock, SystemClock};
use rand::rngs::OsRng;

pub type Error = Box<dyn std::error::Error>;

/// A bank, its keyset and the TTP's statement, on the system clock.
pub struct World {
    pub clock: Arc<dyn Clock>,
    pub bank: Bank<MemoryBankStore>,
    pub keyset: Keyset,
    /// The TTP's signed key statement: wallets and merchants pin it, so the
    /// bank cannot choose the key coins escrow their owner's identity under.
    pub statement: SignedTtpKeyStatement,
}

impl World {
    pub fn new() -> Result<Self, Error> {
        let rng = &mut OsRng;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ttp = TtpKeys::generate(rng);
        let statement = ttp
            .statement(0, TtpValidity::starting(clock.today(), 730, 1095), clock.now(), rng)
            .map_err(|e| format!("TTP key statement: {e}"))?;
        let bank = Bank::open(
            MemoryBankStore::new(),
            BankSecrets::generate(rng),
            clock.clone(),
            BankConfig::default(),
        )?;
        let spec = KeysetSpec {
            exponents: 0..=6,
            withdraw_from: clock.today(),
            withdraw_days: 30,
            policy: KeysetPolicy::default(),
        };
        let keyset = bank.issue_keyset(*ttp.decryption.public(), &spec, rng)?;
        Ok(World { clock, bank, keyset, statement })
    }

    /// A registered user with `funds` on its account.
    pub fn user(&self, funds: u64) -> Result<(Wallet<MemoryWalletStore>, AccountId), Error> {
        let rng = &mut OsRng;
        let mut wallet = Wallet::new(
            AccountKeys::generate(rng),
            self.bank.master_key(),
            MemoryWalletStore::new(),
            self.clock.clone(),
        );
        wallet.pin_keysets(&self.bank.published_keysets())?;
        wallet.anchors_mut().trust_ttp(&self.statement)?;
        let account = self.bank.register_user(&wallet.registration(rng), rng)?;
        self.bank.fund(&account, funds)?;
        Ok((wallet, account))
    }

    /// A registered merchant.
    pub fn merchant(&self) -> Result<Merchant<MemoryMerchantStore>, Error> {
        let rng = &mut OsRng;
        let key = SigningKey::generate(rng);
        let mut shop =
            Merchant::new(key, self.bank.master_key(), MemoryMerchantStore::new(), self.clock.clone());
        shop.pin_keysets(&self.bank.published_keysets())?;
        shop.anchors_mut().trust_ttp(&self.statement)?;
        self.bank.register_merchant(&shop.registration(rng), rng)?;
        Ok(shop)
    }
}
