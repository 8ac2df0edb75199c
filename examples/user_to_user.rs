//! Paying another user: bob asks alice for a payment, verifies it off-line
//! with public keys alone (as a merchant does), and deposits it to his own
//! account later, signed with his account's authentication key. A second
//! spend of the same coins is caught and names alice. Run with
//! `cargo run --example user_to_user`.
use std::sync::Arc;

use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
use faircash::protocol::deposit::DepositOutcome;
use faircash::protocol::pay::create_payment;
use faircash::protocol::trust::TtpValidity;
use faircash::roles::{Bank, BankConfig, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryWalletStore};
use faircash::time::{Clock, SystemClock};
use rand::rngs::OsRng;

type UserWallet = Wallet<MemoryWalletStore>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rng = &mut OsRng;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ttp = faircash::roles::TtpKeys::generate(rng);
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

    // Two users, each pinning the bank's keysets and the TTP's statement.
    let user = |funds: u64| -> Result<UserWallet, Box<dyn std::error::Error>> {
        let mut w = Wallet::new(
            AccountKeys::generate(&mut OsRng),
            bank.master_key(),
            MemoryWalletStore::new(),
            clock.clone(),
        );
        w.pin_keysets(&bank.published_keysets())?;
        w.anchors_mut().trust_ttp(&statement)?;
        let id = bank.register_user(&w.registration(&mut OsRng), &mut OsRng)?;
        bank.fund(&id, funds)?;
        Ok(w)
    };
    let alice = user(20)?;
    let bob = user(0)?;
    alice.withdraw(&bank, 12, rng)?;

    // Off-line: bob asks for 4, alice pays, bob verifies and holds it.
    let request = bob.request_payment(4, [0u8; 32], rng)?;
    let payment = alice.pay(&request, rng)?;
    let summary = bob.receive(&payment, rng)?;
    println!("bob received {:?} off-line", summary.values);

    // Later, online: bob deposits to his own account.
    let receipts = bob.deposit_received(&bank, rng)?;
    let credited: u64 = receipts.iter().map(|r| r.credited).sum();
    println!("bob's account credited {credited}; balance {}", bank.account(&bob.account_id())?.balance);

    // Alice spends the same coin again (bypassing her wallet): the bank
    // catches it at the second deposit and identifies her.
    let coin = alice
        .coins()?
        .into_iter()
        .find(|c| c.spent_in == Some(request.id()))
        .ok_or("the coin alice paid with")?
        .coin;
    let again = bob.request_payment(coin.value, [1u8; 32], rng)?;
    let copy = create_payment(&again, &keyset, alice.user(), &[&coin], rng)?;
    bob.receive(&copy, rng).expect_err("bob's wallet saw this coin already");
    let carol = user(0)?;
    let again = carol.request_payment(coin.value, [2u8; 32], rng)?;
    carol.receive(&create_payment(&again, &keyset, alice.user(), &[&coin], rng)?, rng)?;
    let receipt = &carol.deposit_received(&bank, rng)?[0];
    match receipt.outcomes[0].outcome {
        DepositOutcome::DoubleSpent { account: Some(a) } if a == alice.account_id() => {
            println!("second spend caught: alice identified, carol credited {}", receipt.credited)
        }
        other => return Err(format!("unexpected outcome {other:?}").into()),
    }
    Ok(())
}
