mod common;
use common::*;
use rand::rngs::OsRng;

#[test]
fn smoke() {
    let w = World::new();
    let alice = w.user(100);
    let shop = w.merchant();
    alice.withdraw(&*w.bank, 13, &mut OsRng).unwrap();
    assert_eq!(alice.balance().unwrap(), 13);
    let req = shop.request_payment(5, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();
    let receipt = shop.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    assert_eq!(receipt.credited, 5);
    assert_eq!(w.balance(&shop.id()), 5);
    assert_eq!(w.balance(&alice.account_id()), 87);
}
