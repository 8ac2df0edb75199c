//! Change: a wallet holding one coin of 64 pays 5. Off-line it cannot (and
//! says which exchange would help); on-line it spends the 64 to its own
//! account and withdraws 64 again as one coin of each denomination from the
//! smallest up, then pays. Money is conserved throughout. Run with
//! `cargo run --example change`.
mod common;

use rand::rngs::OsRng;

fn main() -> Result<(), common::Error> {
    let rng = &mut OsRng;
    let world = common::World::new()?;
    let bank = &world.bank;
    let (wallet, account) = world.user(100)?;
    let shop = world.merchant()?;

    wallet.withdraw(bank, 64, rng)?;
    let total = bank.account(&account)?.balance + wallet.balance()?;
    let request = shop.request_payment(5, [0u8; 32], rng)?;

    // Off-line: refused, naming the exchange that would make it possible.
    let refusal = wallet.offline_refusal(wallet.pay(&request, rng).expect_err("no exact coins"))?;
    println!("off-line: {refusal}");

    // On-line: change first, then the payment.
    let (payment, exchanged) = wallet.pay_with_change(bank, &request, rng)?;
    let exchanged = exchanged.expect("change was made");
    println!("exchanged {} for {:?}", exchanged.value, exchanged.values);
    shop.accept(&payment, rng)?;
    let receipt = shop.deposit(bank, rng)?.expect("one payment to deposit");
    assert_eq!(receipt.credited, 5);
    let after = bank.account(&account)?.balance + wallet.balance()?;
    assert_eq!(after + bank.account(&shop.id())?.balance, total, "money conserved");
    println!("paid 5; wallet holds {}, the shop was credited 5", wallet.balance()?);
    Ok(())
}
