//! The life of a coin: setup, withdrawal, off-line payment, deposit, and a
//! double spend caught. Run with `cargo run --example lifecycle`.
use std::sync::Arc;

use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
use faircash::protocol::deposit::DepositOutcome;
use faircash::protocol::pay::create_payment;
use faircash::protocol::trust::TtpValidity;
use faircash::roles::{Bank, BankConfig, Merchant, TtpKeys, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use faircash::time::{Clock, SystemClock};
use rand::rngs::OsRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    // Setup: a TTP key, a bank with a keyset of denominations 1, 2, 4, ..., 64.
    let ttp = TtpKeys::generate(rng);
    // The TTP's signed key statement: wallets and merchants pin it, so the
    // bank cannot choose the key coins escrow their owner's identity under.
    let statement = ttp
        .statement(0, TtpValidity::starting(clock.today(), 730, 1095), clock.now(), rng)
        .map_err(|e| format!("TTP key statement: {e}"))?;
    let bank =
        Bank::open(MemoryBankStore::new(), BankSecrets::generate(rng), clock.clone(), BankConfig::default())?;
    let spec = KeysetSpec {
        exponents: 0..=6,
        withdraw_from: clock.today(),
        withdraw_days: 30,
        policy: KeysetPolicy::default(),
    };
    let keyset = bank.issue_keyset(*ttp.decryption.public(), &spec, rng)?;

    // A user and two merchants pin the bank's keysets and register.
    let mut wallet =
        Wallet::new(AccountKeys::generate(rng), bank.master_key(), MemoryWalletStore::new(), clock.clone());
    wallet.pin_keysets(&bank.published_keysets())?;
    wallet.anchors_mut().trust_ttp(&statement)?;
    let account = bank.register_user(&wallet.registration(rng), rng)?;
    bank.fund(&account, 100)?;
    let mut shops = Vec::new();
    for _ in 0..2 {
        let key = SigningKey::generate(rng);
        let mut shop = Merchant::new(key, bank.master_key(), MemoryMerchantStore::new(), clock.clone());
        shop.pin_keysets(&bank.published_keysets())?;
        shop.anchors_mut().trust_ttp(&statement)?;
        bank.register_merchant(&shop.registration(rng), rng)?;
        shops.push(shop);
    }

    // Withdrawal: 12 = 8 + 4, two blindly signed coins.
    wallet.withdraw(&bank, 12, rng)?;
    assert_eq!(wallet.balance()?, 12);

    // Off-line payment: the merchant verifies with public keys only.
    let request = shops[0].request_payment(8, [0u8; 32], rng)?;
    let payment = wallet.pay(&request, rng)?;
    shops[0].accept(&payment, rng)?;

    // Deposit: the bank credits the merchant.
    let receipt = shops[0].deposit(&bank, rng)?.expect("one payment to deposit");
    assert_eq!(receipt.credited, 8);

    // A cheater spends its remaining coin at both shops, bypassing the
    // wallet (which marks coins spent before they leave). Each merchant
    // accepts off-line; the bank catches the second deposit.
    let coin = wallet.coins()?.into_iter().find(|c| c.spent_in.is_none()).expect("a coin").coin;
    let mut caught = None;
    for shop in &shops {
        let request = shop.request_payment(coin.value, [1u8; 32], rng)?;
        shop.accept(&create_payment(&request, &keyset, wallet.user(), &[&coin], rng)?, rng)?;
        let receipt = shop.deposit(&bank, rng)?.expect("one payment to deposit");
        if let DepositOutcome::DoubleSpent { account } = receipt.outcomes[0].outcome {
            caught = account;
        }
    }
    assert_eq!(caught, Some(account));
    assert!(bank.account(&account)?.frozen);
    println!("double spender identified from two spends of one coin: account {account}");
    Ok(())
}
