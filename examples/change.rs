//! Change: a wallet holding one coin of 64 pays 5. Off-line it cannot (and
//! says which exchange would help); on-line it spends the 64 to its own
//! account and withdraws 64 again as one coin of each denomination from the
//! smallest up, then pays. Money is conserved throughout. Run with
//! `cargo run --example change`.
use std::sync::Arc;

use faircash::crypto::schnorr::SigningKey;
use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
use faircash::protocol::trust::TtpValidity;
use faircash::roles::{Bank, BankConfig, Merchant, TtpKeys, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use faircash::time::{Clock, SystemClock};
use rand::rngs::OsRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ttp = TtpKeys::generate(rng);
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
    bank.issue_keyset(*ttp.decryption.public(), &spec, rng)?;

    let mut wallet =
        Wallet::new(AccountKeys::generate(rng), bank.master_key(), MemoryWalletStore::new(), clock.clone());
    wallet.pin_keysets(&bank.published_keysets())?;
    wallet.anchors_mut().trust_ttp(&statement)?;
    let account = bank.register_user(&wallet.registration(rng), rng)?;
    bank.fund(&account, 100)?;
    let mut shop = Merchant::new(
        SigningKey::generate(rng),
        bank.master_key(),
        MemoryMerchantStore::new(),
        clock.clone(),
    );
    shop.pin_keysets(&bank.published_keysets())?;
    shop.anchors_mut().trust_ttp(&statement)?;
    bank.register_merchant(&shop.registration(rng), rng)?;

    wallet.withdraw(&bank, 64, rng)?;
    let total = bank.account(&account)?.balance + wallet.balance()?;
    let request = shop.request_payment(5, [0u8; 32], rng)?;

    // Off-line: refused, naming the exchange that would make it possible.
    let refusal = wallet.offline_refusal(wallet.pay(&request, rng).expect_err("no exact coins"))?;
    println!("off-line: {refusal}");

    // On-line: change first, then the payment.
    let (payment, exchanged) = wallet.pay_with_change(&bank, &request, rng)?;
    let exchanged = exchanged.expect("change was made");
    println!("exchanged {} for {:?}", exchanged.value, exchanged.values);
    shop.accept(&payment, rng)?;
    let receipt = shop.deposit(&bank, rng)?.expect("one payment to deposit");
    assert_eq!(receipt.credited, 5);
    let after = bank.account(&account)?.balance + wallet.balance()?;
    assert_eq!(after + bank.account(&shop.id())?.balance, total, "money conserved");
    println!("paid 5; wallet holds {}, the shop was credited 5", wallet.balance()?);
    Ok(())
}
