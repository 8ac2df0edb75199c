//! The life of a coin: setup, withdrawal, off-line payment, deposit, and a
//! double spend caught. Run with `cargo run --example lifecycle`.
mod common;

use faircash::protocol::deposit::DepositOutcome;
use faircash::protocol::pay::create_payment;
use rand::rngs::OsRng;

fn main() -> Result<(), common::Error> {
    let rng = &mut OsRng;
    // Setup: a TTP key, a bank with a keyset of denominations 1, 2, 4, ..., 64;
    // a user and two merchants pin the bank's keysets and register.
    let world = common::World::new()?;
    let (bank, keyset) = (&world.bank, &world.keyset);
    let (wallet, account) = world.user(100)?;
    let shops = vec![world.merchant()?, world.merchant()?];

    // Withdrawal: 12 = 8 + 4, two blindly signed coins.
    wallet.withdraw(bank, 12, rng)?;
    assert_eq!(wallet.balance()?, 12);

    // Off-line payment: the merchant verifies with public keys only.
    let request = shops[0].request_payment(8, [0u8; 32], rng)?;
    let payment = wallet.pay(&request, rng)?;
    shops[0].accept(&payment, rng)?;

    // Deposit: the bank credits the merchant.
    let receipt = shops[0].deposit(bank, rng)?.expect("one payment to deposit");
    assert_eq!(receipt.credited, 8);

    // A cheater spends its remaining coin at both shops, bypassing the
    // wallet (which marks coins spent before they leave). Each merchant
    // accepts off-line; the bank catches the second deposit.
    let coin = wallet.coins()?.into_iter().find(|c| c.spent_in.is_none()).expect("a coin").coin;
    let mut caught = None;
    for shop in &shops {
        let request = shop.request_payment(coin.value, [1u8; 32], rng)?;
        shop.accept(&create_payment(&request, keyset, wallet.user(), &[&coin], rng)?, rng)?;
        let receipt = shop.deposit(bank, rng)?.expect("one payment to deposit");
        if let DepositOutcome::DoubleSpent { account } = receipt.outcomes[0].outcome {
            caught = account;
        }
    }
    assert_eq!(caught, Some(account));
    assert!(bank.account(&account)?.frozen);
    println!("double spender identified from two spends of one coin: account {account}");
    Ok(())
}
