//! The bodies of the fuzz targets, and the fixed world they run in.
//!
//! The world is the test vectors' (specs/vectors/): their keysets, bank
//! master key, merchant and user, read at compile time, so every valid
//! message in the vector files (the seed corpora, see README.md) is valid
//! here too.

use std::sync::{Arc, OnceLock};

use faircash::coin::Coin;
use faircash::crypto::schnorr::SigningKey;
use faircash::crypto::secret::SecretScalar;
use faircash::encoding::Point;
use faircash::http::{AccountOpened, EvidenceList};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpStatementList};
use faircash::keys::{BankSecrets, KeysetList, PublicKeyFile, SignedKeyset, UserKey};
use faircash::protocol::deposit::{DepositReceipt, DepositRequest, DoubleSpendEvidence};
use faircash::protocol::pay::{verify_payment, Payment, PaymentRequest};
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::trace::{
    LogEntry, LogHead, TraceRecord, TraceRequest, TraceResult, Warrant, WatchList,
};
use faircash::protocol::withdraw::{
    PendingWithdrawal, WalletCoin, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
};
use faircash::roles::{Bank, BankConfig, Merchant};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore};
use faircash::store::MerchantStore;
use faircash::time::{Day, ManualClock, Timestamp};
use faircash::wire::WireMessage;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Calls `$f::<T>()` for every message type.
macro_rules! for_every_message {
    ($f:ident, $($arg:expr),*) => {
        $f::<SignedKeyset>($($arg),*);
        $f::<KeysetList>($($arg),*);
        $f::<PublicKeyFile>($($arg),*);
        $f::<UserRegistration>($($arg),*);
        $f::<MerchantRegistration>($($arg),*);
        $f::<WithdrawRequest>($($arg),*);
        $f::<WithdrawCommitment>($($arg),*);
        $f::<WithdrawChallenge>($($arg),*);
        $f::<WithdrawAnswer>($($arg),*);
        $f::<Coin>($($arg),*);
        $f::<PaymentRequest>($($arg),*);
        $f::<Payment>($($arg),*);
        $f::<DepositRequest>($($arg),*);
        $f::<DepositReceipt>($($arg),*);
        $f::<DoubleSpendEvidence>($($arg),*);
        $f::<WalletCoin>($($arg),*);
        $f::<PendingWithdrawal>($($arg),*);
        $f::<Warrant>($($arg),*);
        $f::<TraceRequest>($($arg),*);
        $f::<TraceResult>($($arg),*);
        $f::<LogEntry>($($arg),*);
        $f::<LogHead>($($arg),*);
        $f::<WatchList>($($arg),*);
        $f::<TraceRecord>($($arg),*);
        $f::<SignedTtpKeyStatement>($($arg),*);
        $f::<TtpStatementList>($($arg),*);
        $f::<AccountOpened>($($arg),*);
        $f::<EvidenceList>($($arg),*);
    };
}

fn binary_one<T: WireMessage>(data: &[u8]) {
    let Ok(v) = T::from_bytes(data) else {
        return;
    };
    // Only the canonical encoding decodes.
    assert_eq!(v.to_bytes(), data, "{}: accepted a non-canonical encoding", T::KIND.name());
    // Whatever decodes has a JSON form that decodes to the same message.
    let json = v.to_json();
    match T::from_json(&json) {
        Ok(w) => assert_eq!(w.to_bytes(), data, "{}: JSON round trip changed it", T::KIND.name()),
        Err(e) => panic!("{}: its own JSON form is refused: {e}", T::KIND.name()),
    }
}

fn json_one<T: WireMessage>(text: &str) {
    let Ok(v) = T::from_json(text) else {
        return;
    };
    let bytes = v.to_bytes();
    match T::from_bytes(&bytes) {
        Ok(w) => assert_eq!(w.to_bytes(), bytes, "{}: binary round trip changed it", T::KIND.name()),
        Err(e) => panic!("{}: accepted in JSON, refused in binary: {e}", T::KIND.name()),
    }
    match T::from_json(&v.to_json()) {
        Ok(w) => assert_eq!(w.to_bytes(), bytes, "{}: JSON round trip changed it", T::KIND.name()),
        Err(e) => panic!("{}: its own JSON form is refused: {e}", T::KIND.name()),
    }
}

/// Target `decode_binary`.
pub fn decode_binary(data: &[u8]) {
    for_every_message!(binary_one, data);
}

/// Target `decode_json`.
pub fn decode_json(text: &str) {
    for_every_message!(json_one, text);
}

// ---------------------------------------------------------------------------
// The world of the test vectors
// ---------------------------------------------------------------------------

fn vector(text: &str) -> Value {
    serde_json::from_str(text).expect("vector files are JSON")
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn decode<T: WireMessage>(v: &Value) -> T {
    T::from_bytes(&hex_bytes(&v["hex"])).expect("vector decodes")
}

fn secret(v: &Value) -> SecretScalar {
    // A secret's serde form is its canonical hex.
    serde_json::from_value(v.clone()).expect("canonical scalar")
}

/// The world: keysets, the bank master key, merchant and user, the day.
pub struct World {
    /// The bank's keysets.
    pub keysets: Vec<SignedKeyset>,
    /// The TTP's key statement, which the keysets escrow under.
    pub ttp_statement: SignedTtpKeyStatement,
    /// The bank master key.
    pub master: Point,
    /// The merchant's key.
    pub merchant: SigningKey,
    /// The bank, with the merchant and the user registered.
    pub bank: Bank<MemoryBankStore>,
    /// The clock of the vectors.
    pub clock: ManualClock,
}

/// The world, built once.
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(build_world)
}

fn build_world() -> World {
    let keyset = vector(include_str!("../../specs/vectors/keyset.json"));
    let deposit = vector(include_str!("../../specs/vectors/deposit.json"));
    let proofs = vector(include_str!("../../specs/vectors/proofs.json"));
    let withdrawal = vector(include_str!("../../specs/vectors/withdrawal.json"));
    let list: KeysetList = decode(&keyset["keyset_list"]);
    let master: Point = decode::<PublicKeyFile>(&keyset["master_key_file"]).key;
    // BankSecrets has no constructor from given secrets; its serde form is
    // the master secret and (key id, x) pairs.
    let denominations: Vec<Value> = keyset["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| Value::Array(vec![k["key_id"].clone(), k["x"].clone()]))
        .collect();
    let secrets: BankSecrets = serde_json::from_value(serde_json::json!({
        "master": keyset["inputs"]["master_secret"],
        "denominations": denominations,
    }))
    .expect("bank secrets");
    assert_eq!(secrets.master_public(), &master);
    let clock = ManualClock::new(Timestamp(withdrawal["time"].as_u64().expect("time")));
    assert_eq!(clock_day(&clock), Day(deposit["receipt_day"].as_u64().expect("day") as u32));
    let bank = Bank::open(MemoryBankStore::new(), secrets, Arc::new(clock.clone()), BankConfig::default())
        .expect("bank");
    for s in &list.keysets {
        bank.run_tx("fuzz-keysets", |tx| Ok(tx.insert_keyset(s)?)).expect("keyset");
    }
    bank.reload_keysets().expect("keysets verify");
    let merchant = SigningKey::from_secret(secret(&deposit["merchant"]["secret"]));
    let user = UserKey::from(secret(&proofs["user_registration"]["user_secret"]));
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    bank.register_merchant(&MerchantRegistration::new(&merchant, &mut rng), &mut rng).expect("merchant");
    bank.register_user(&UserRegistration::new(&user, &mut rng), &mut rng).expect("user");
    let ttp_statement: SignedTtpKeyStatement = decode(&keyset["ttp_statement"]);
    World { keysets: list.keysets, ttp_statement, master, merchant, bank, clock }
}

fn clock_day(c: &ManualClock) -> Day {
    faircash::time::Clock::today(c)
}

/// Target `merchant_payment`: a fresh merchant that issued the payment's
/// request verifies and accepts it.
pub fn merchant_payment(data: &[u8]) {
    let Ok(payment) = Payment::from_bytes(data) else {
        return;
    };
    let w = world();
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let mut merchant =
        Merchant::new(w.merchant.clone(), w.master, MemoryMerchantStore::new(), Arc::new(w.clock.clone()));
    merchant.pin_keysets(&w.keysets).expect("keysets");
    merchant.anchors_mut().trust_ttp(&w.ttp_statement).expect("TTP key statement");
    for k in merchant.keysets() {
        let _ = verify_payment(&payment, k, &mut rng);
    }
    merchant.store().insert_request(&payment.request).expect("memory store");
    if let Ok(summary) = merchant.accept(&payment, &mut rng) {
        assert_eq!(summary.coin_ids.len(), payment.coins.len());
        // Accepted once only.
        merchant.store().insert_request(&payment.request).expect("memory store");
        assert!(merchant.accept(&payment, &mut rng).is_err(), "a payment accepted twice");
    }
}

/// Target `bank_deposit`.
pub fn bank_deposit(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(mut request) = DepositRequest::from_bytes(rest) else {
        return;
    };
    let w = world();
    // Request ids drawn from the input: two inputs never reuse one (the
    // bank would refuse the second as RequestIdReused), the same input
    // replays.
    let mut rng = ChaCha20Rng::from_seed(Sha256::digest(data).into());
    if mode & 1 == 1 {
        request = DepositRequest::new(&w.merchant, request.merchant_id, request.payments, &mut rng);
    }
    if let Ok(receipt) = w.bank.deposit(&request, &mut rng) {
        assert_eq!(receipt.outcomes.len(), request.coin_count());
        let credited: u64 = receipt.outcomes.iter().map(|o| o.outcome.credited()).sum();
        assert_eq!(credited, receipt.credited);
        // The same request again gets the same receipt back.
        let replay = w.bank.deposit(&request, &mut rng).expect("a replay gets its receipt");
        assert_eq!(replay, receipt, "a replayed request got another receipt");
        // The same payments in a new request credit nothing.
        let again = DepositRequest::new(&w.merchant, request.merchant_id, request.payments, &mut rng);
        let receipt = w.bank.deposit(&again, &mut rng).expect("the payments verified a moment ago");
        assert_eq!(receipt.credited, 0, "credited twice");
    }
}

fn json_form<T: WireMessage>(bytes: &[u8], out: &mut Vec<String>) {
    if let Ok(v) = T::from_bytes(bytes) {
        out.push(v.to_json());
    }
}

/// The JSON file form of whatever message `bytes` encode (for seeds).
pub fn json_forms(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for_every_message!(json_form, bytes, &mut out);
    out
}

/// A file name for a seed: 16 hex digits of a hash of its content.
pub fn content_name(data: &[u8]) -> String {
    let mut t = fnv::Fnv(0xcbf2_9ce4_8422_2325);
    t.write(data);
    format!("{:016x}-{}", t.0, data.len())
}

mod fnv {
    /// FNV-1a, enough to name seed files.
    pub struct Fnv(pub u64);
    impl Fnv {
        pub fn write(&mut self, data: &[u8]) {
            for b in data {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
}
