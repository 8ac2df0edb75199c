//! The bodies of the fuzz targets, and the fixed world they run in.
//!
//! The world is the test vectors' (specs/vectors/): their keysets, bank
//! master key and secrets, merchant and user, read at compile time, so every
//! valid message in the vector files (the seed corpora, see README.md) is
//! valid here too. The world also knows every coin the vectors' bank ever
//! signed (the genuine coins): no input can be credited for anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use faircash::coin::{Coin, CoinId};
use faircash::crypto::schnorr::SigningKey;
use faircash::crypto::secret::SecretScalar;
use faircash::encoding::Point;
use faircash::http::{AccountOpened, EvidenceList};
use faircash::keys::{
    AccountKeys, AuthKey, BankSecrets, Keyset, KeysetList, PublicKeyFile, SignedKeyset, UserKey,
};
use faircash::protocol::account::{AccountAnswer, AccountRequest, RekeyRequest};
use faircash::protocol::deposit::{DepositReceipt, DepositRequest, DoubleSpendEvidence, PaymentOutcome};
use faircash::protocol::pay::{verify_payment, Payment, PaymentRequest};
use faircash::protocol::reclaim::ReclaimRequest;
use faircash::protocol::refusal::PayeeRefusal;
use faircash::protocol::register::{MerchantRegistration, UserRegistration};
use faircash::protocol::spent::{SpentList, UnspentQuery, UnspentStatement};
use faircash::protocol::trace::{
    LogEntry, LogHead, TraceRecord, TraceRequest, TraceResult, TraceShare, Warrant, WatchList,
};
use faircash::protocol::trust::{SignedTtpKeyStatement, TtpStatementList};
use faircash::protocol::withdraw::{
    PendingWithdrawal, WalletCoin, WithdrawAnswer, WithdrawChallenge, WithdrawCommitment, WithdrawRequest,
};
use faircash::roles::{Bank, BankConfig, DepositLimits, Merchant};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore};
use faircash::store::MerchantStore;
use faircash::time::{Day, ManualClock, Timestamp};
use faircash::trustees::dkg::{Ceremony, DkgMessage, DkgTranscript};
use faircash::trustees::signing::{SignatureShare, SigningCommitment, SigningRequest};
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
        $f::<PayeeRefusal>($($arg),*);
        $f::<ReclaimRequest>($($arg),*);
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
        $f::<TraceShare>($($arg),*);
        $f::<Ceremony>($($arg),*);
        $f::<DkgMessage>($($arg),*);
        $f::<DkgTranscript>($($arg),*);
        $f::<SigningRequest>($($arg),*);
        $f::<SigningCommitment>($($arg),*);
        $f::<SignatureShare>($($arg),*);
        $f::<AccountOpened>($($arg),*);
        $f::<EvidenceList>($($arg),*);
        $f::<AccountRequest>($($arg),*);
        $f::<AccountAnswer>($($arg),*);
        $f::<RekeyRequest>($($arg),*);
        $f::<SpentList>($($arg),*);
        $f::<UnspentStatement>($($arg),*);
        $f::<UnspentQuery>($($arg),*);
    };
}

fn binary_one<T: WireMessage>(data: &[u8], decoded: &mut bool) {
    let Ok(v) = T::from_bytes(data) else {
        return;
    };
    *decoded = true;
    // Only the canonical encoding decodes.
    assert_eq!(v.to_bytes(), data, "{}: accepted a non-canonical encoding", T::KIND.name());
    // Whatever decodes has a JSON form that decodes to the same message.
    let json = v.to_json();
    match T::from_json(&json) {
        Ok(w) => assert_eq!(w.to_bytes(), data, "{}: JSON round trip changed it", T::KIND.name()),
        Err(e) => panic!("{}: its own JSON form is refused: {e}", T::KIND.name()),
    }
}

fn json_one<T: WireMessage>(text: &str, decoded: &mut bool) {
    let Ok(v) = T::from_json(text) else {
        return;
    };
    *decoded = true;
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

/// Target `decode_binary`; whether some decoder took the input.
pub fn decode_binary(data: &[u8]) -> bool {
    let mut decoded = false;
    for_every_message!(binary_one, data, &mut decoded);
    decoded | backup_inputs(data)
}

/// The wallet's backup file (`wallet restore --backup`): the file parser
/// (what parses writes back to the same bytes, and opening it under the
/// phrase of specs/vectors/backup.json returns a typed result), and the
/// decoder of the sealed contents (what decodes encodes to contents that
/// decode to the same).
fn backup_inputs(data: &[u8]) -> bool {
    use faircash::crypto::derive::{RecoveryPhrase, WalletSeed};
    use faircash::roles::wallet::backup::{BackupContents, BackupFile};
    static SEED: std::sync::OnceLock<WalletSeed> = std::sync::OnceLock::new();
    let mut decoded = false;
    if let Ok(file) = BackupFile::parse(data) {
        decoded = true;
        assert_eq!(file.to_bytes(), data, "a parsed backup file writes back to its bytes");
        let seed = SEED.get_or_init(|| {
            let v: serde_json::Value =
                serde_json::from_str(include_str!("../../specs/vectors/backup.json")).expect("backup.json");
            RecoveryPhrase::parse(v["phrase"].as_str().expect("a phrase")).expect("a valid phrase").seed()
        });
        let _ = file.open(seed);
    }
    if let Ok(contents) = BackupContents::from_bytes(data) {
        decoded = true;
        let again = BackupContents::from_bytes(&contents.to_bytes()).expect("encoded contents decode");
        assert_eq!(again, contents, "backup contents survive a round trip");
    }
    decoded
}

/// Target `decode_json`; whether some decoder took the input.
pub fn decode_json(text: &str) -> bool {
    let mut decoded = false;
    for_every_message!(json_one, text, &mut decoded);
    decoded | recovery_inputs(text)
}

/// The wallet's own text inputs: a recovery phrase (read from stdin) and a
/// seed file (`wallet.seed`). A phrase that parses is canonical (parsing
/// its words again gives the same words), and a seed file that parses
/// writes back to a file that reads as the same seed.
fn recovery_inputs(text: &str) -> bool {
    use faircash::crypto::derive::{RecoveryPhrase, WalletSeed};
    let mut decoded = false;
    if let Ok(p) = RecoveryPhrase::parse(text) {
        let again = RecoveryPhrase::parse(p.expose_secret()).expect("a parsed phrase parses again");
        assert_eq!(again.expose_secret(), p.expose_secret());
        decoded = true;
    }
    if let Ok(seed) = serde_json::from_str::<WalletSeed>(text) {
        let back = serde_json::to_string(&seed).expect("a seed writes");
        let again: WalletSeed = serde_json::from_str(&back).expect("a written seed reads");
        assert_eq!(again.expose_secret(), seed.expose_secret());
        decoded = true;
    }
    decoded
}

// ---------------------------------------------------------------------------
// The world of the test vectors
// ---------------------------------------------------------------------------

/// Every vector file (specs/vectors/*.json), compiled in.
pub const VECTOR_FILES: &[&str] = &[
    include_str!("../../specs/vectors/account.json"),
    include_str!("../../specs/vectors/backup.json"),
    include_str!("../../specs/vectors/coin.json"),
    include_str!("../../specs/vectors/deposit.json"),
    include_str!("../../specs/vectors/keyset.json"),
    include_str!("../../specs/vectors/negative.json"),
    include_str!("../../specs/vectors/params.json"),
    include_str!("../../specs/vectors/payment.json"),
    include_str!("../../specs/vectors/proofs.json"),
    include_str!("../../specs/vectors/seed.json"),
    include_str!("../../specs/vectors/trace.json"),
    include_str!("../../specs/vectors/trustees.json"),
    include_str!("../../specs/vectors/withdrawal.json"),
];

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

/// The world: keysets, the bank master key and secrets, merchant and user,
/// the day, and the genuine coins.
pub struct World {
    /// The bank's keysets.
    pub keysets: Vec<SignedKeyset>,
    /// The TTP's key statement, which the keysets escrow under.
    pub ttp_statement: SignedTtpKeyStatement,
    /// The bank master key.
    pub master: Point,
    /// The bank's secrets.
    secrets: BankSecrets,
    /// The merchant's key.
    pub merchant: SigningKey,
    /// The user's account keys.
    user: AccountKeys,
    /// A second user's account keys (`account.json`'s), registered and
    /// funded by `bank_account` only.
    second: AccountKeys,
    /// The clock of the vectors.
    pub clock: ManualClock,
    /// Every coin in the vector files whose signature verifies, with its
    /// value: all the coins the bank of the vectors ever issued.
    pub genuine: BTreeMap<CoinId, u64>,
    /// The vectors' first deposit request and the bank's signed receipt.
    pub receipt: (DepositRequest, DepositReceipt),
}

impl World {
    /// A bank of its own, on an empty memory store, with the vectors'
    /// keysets and the merchant and the user registered: each input starts
    /// from the same state, so a crash reproduces from that input alone.
    pub fn fresh_bank(&self) -> Bank<MemoryBankStore> {
        // No throttling: a forged payment would otherwise shut the merchant
        // out of the replay and the re-deposit below (the clock does not
        // move).
        let config = BankConfig {
            deposit_limits: DepositLimits { throttle_secs: 0, ..DepositLimits::default() },
            ..BankConfig::default()
        };
        let bank =
            Bank::open(MemoryBankStore::new(), self.secrets.clone(), Arc::new(self.clock.clone()), config)
                .expect("bank");
        for s in &self.keysets {
            bank.run_tx("fuzz-keysets", |tx| Ok(tx.insert_keyset(s)?)).expect("keyset");
        }
        bank.reload_keysets().expect("keysets verify");
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        bank.register_merchant(&MerchantRegistration::new(&self.merchant, &mut rng), &mut rng)
            .expect("merchant");
        bank.register_user(&UserRegistration::new(&self.user, &mut rng), &mut rng).expect("user");
        bank
    }

    /// The total value of the genuine coins.
    pub fn genuine_value(&self) -> u64 {
        self.genuine.values().sum()
    }
}

/// Every coin inside the messages of a vector file.
fn coins_in(v: &Value, out: &mut Vec<Coin>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(h)) = m.get("hex") {
                if let Ok(bytes) = hex::decode(h) {
                    let payments = |ps: &[Payment], out: &mut Vec<Coin>| {
                        ps.iter().for_each(|p| out.extend(p.coins.iter().copied()))
                    };
                    if let Ok(c) = Coin::from_bytes(&bytes) {
                        out.push(c);
                    } else if let Ok(c) = WalletCoin::from_bytes(&bytes) {
                        out.push(c.coin);
                    } else if let Ok(p) = Payment::from_bytes(&bytes) {
                        payments(&[p], out);
                    } else if let Ok(r) = DepositRequest::from_bytes(&bytes) {
                        payments(&r.payments, out);
                    } else if let Ok(e) = DoubleSpendEvidence::from_bytes(&bytes) {
                        payments(&[e.first, e.second], out);
                    } else if let Ok(TraceRecord::Owner { payment, .. }) = TraceRecord::from_bytes(&bytes) {
                        payments(&[payment], out);
                    } else if let Ok(r) = TraceRequest::from_bytes(&bytes) {
                        if let TraceRecord::Owner { payment, .. } = r.record {
                            payments(&[payment], out);
                        }
                    }
                }
            }
            m.values().for_each(|x| coins_in(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| coins_in(x, out)),
        _ => {}
    }
}

/// The coins of every vector file that carry a valid signature of the
/// vectors' bank, with their values.
fn genuine_coins(keysets: &[SignedKeyset], master: &Point) -> BTreeMap<CoinId, u64> {
    let keysets: Vec<_> = keysets.iter().map(|s| s.verify(master).expect("vector keyset")).collect();
    let mut coins = Vec::new();
    for f in VECTOR_FILES {
        coins_in(&vector(f), &mut coins);
    }
    let mut out = BTreeMap::new();
    for c in coins {
        let Some(key) = keysets.iter().find_map(|k| k.key(&c.body.key_id)) else { continue };
        if c.signature.verify(&key.acl(), c.id().as_bytes()).is_ok() {
            out.insert(c.id(), key.value);
        }
    }
    out
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
    // the master secret, the online signing secrets (receipts are signed
    // with them) and (key id, x) pairs.
    let denominations: Vec<Value> = keyset["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| Value::Array(vec![k["key_id"].clone(), k["x"].clone()]))
        .collect();
    let secrets: BankSecrets = serde_json::from_value(serde_json::json!({
        "master": keyset["inputs"]["master_secret"],
        "online": keyset["inputs"]["online_secrets"],
        "denominations": denominations,
    }))
    .expect("bank secrets");
    assert_eq!(secrets.master_public(), &master);
    let clock = ManualClock::new(Timestamp(withdrawal["time"].as_u64().expect("time")));
    assert_eq!(clock_day(&clock), Day(deposit["receipt_day"].as_u64().expect("day") as u32));
    let merchant = SigningKey::from_secret(secret(&deposit["merchant"]["secret"]));
    let user = AccountKeys::for_new_account(
        UserKey::from(secret(&proofs["user_registration"]["user_secret"])),
        AuthKey::from(secret(&proofs["user_registration"]["auth_secret"])),
    );
    let account = vector(include_str!("../../specs/vectors/account.json"));
    let second = AccountKeys::for_new_account(
        UserKey::from(secret(&account["user"]["secret"])),
        AuthKey::from(secret(&account["user"]["auth_secret"])),
    );
    let genuine = genuine_coins(&list.keysets, &master);
    assert!(!genuine.is_empty(), "the vectors hold coins");
    let ttp_statement: SignedTtpKeyStatement = decode(&keyset["ttp_statement"]);
    let first = &deposit["first"];
    let receipt = (decode(&first["request"]), decode(&first["receipt"]));
    World {
        keysets: list.keysets,
        ttp_statement,
        master,
        secrets,
        merchant,
        user,
        second,
        clock,
        genuine,
        receipt,
    }
}

/// Target `bank_account`: an account request to a fresh bank of the
/// vectors with `account.json`'s user registered and funded with 10; a
/// request that went through goes through again, a replay-protected one
/// with the same answer, and no account request changes a balance (a
/// reservation holds part of it, it never moves it). Returns whether the
/// request went through.
pub fn bank_account(data: &[u8]) -> bool {
    let Ok(request) = AccountRequest::from_bytes(data) else {
        return false;
    };
    let w = world();
    let bank = w.fresh_bank();
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let id = bank.register_user(&UserRegistration::new(&w.second, &mut rng), &mut rng).expect("user");
    bank.fund(&id, 10).expect("funded");
    let Ok(answer) = bank.account_request(&request) else {
        return false;
    };
    let again = bank.account_request(&request).expect("a request that went through goes through again");
    if request.operation.replay_protected() {
        assert_eq!(again, answer, "a replay-protected request answered differently");
    }
    for a in bank.accounts().expect("accounts") {
        assert_eq!(a.balance, if a.id == id { 10 } else { 0 }, "an account request changed a balance");
    }
    true
}

fn clock_day(c: &ManualClock) -> Day {
    faircash::time::Clock::today(c)
}

/// Target `merchant_payment`: a fresh merchant that issued the payment's
/// request verifies and accepts it. Verification under the payment's own
/// keyset and the merchant's acceptance agree (a fresh merchant has seen no
/// coin and watches none); every other keyset refuses it as unknown; an
/// accepted payment carries only genuine coins worth exactly its amount,
/// and is accepted once. Returns whether the merchant accepted it.
pub fn merchant_payment(data: &[u8]) -> bool {
    let Ok(payment) = Payment::from_bytes(data) else {
        return false;
    };
    let w = world();
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let mut merchant =
        Merchant::new(w.merchant.clone(), w.master, MemoryMerchantStore::new(), Arc::new(w.clock.clone()));
    merchant.pin_keysets(&w.keysets).expect("keysets");
    merchant.anchors_mut().trust_ttp(&w.ttp_statement).expect("TTP key statement");
    // Each coin is verified under the keyset it names, among all the
    // merchant's; under any one keyset that not every coin names, the
    // payment is refused.
    let verified = verify_payment(&payment, merchant.keysets(), &mut rng);
    for k in merchant.keysets() {
        if payment.coins.iter().any(|c| c.body.keyset_id != k.id()) {
            let outcome = verify_payment(&payment, k, &mut rng);
            assert!(outcome.is_err(), "verified under a keyset one of its coins does not name: {outcome:?}");
        }
    }
    // The merchant checks that the payment answers its request as issued;
    // this merchant issued exactly that request.
    let _ = merchant.store().insert_request(&payment.request);
    let accepted = merchant.accept(&payment, &mut rng);
    match (&verified, &accepted) {
        (Ok(v), Ok(a)) => {
            assert_eq!(v, a, "the merchant's summary differs from verification");
            let mut total = 0u64;
            for (id, value) in a.coin_ids.iter().zip(&a.values) {
                assert_eq!(w.genuine.get(id), Some(value), "accepted a coin the bank never issued");
                total += value;
            }
            assert_eq!(total, payment.request.amount);
            // Accepted once only.
            let _ = merchant.store().insert_request(&payment.request);
            assert!(merchant.accept(&payment, &mut rng).is_err(), "a payment accepted twice");
            true
        }
        (Ok(_), Err(e)) => panic!("a verifying payment was refused by a fresh merchant: {e}"),
        (_, Ok(_)) => panic!("accepted a payment that does not verify: {verified:?}"),
        (_, Err(_)) => false,
    }
}

/// Target `bank_deposit`; whether the deposit credited anything.
pub fn bank_deposit(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let Ok(mut request) = DepositRequest::from_bytes(rest) else {
        return false;
    };
    let w = world();
    let bank = w.fresh_bank();
    // The input decides every random draw: a crash reproduces from it.
    let mut rng = ChaCha20Rng::from_seed(Sha256::digest(data).into());
    if mode & 1 == 1 {
        request = DepositRequest::new(&w.merchant, request.merchant_id, request.payments, &mut rng);
    }
    let Ok(receipt) = bank.deposit(&request, &mut rng) else {
        // Refused: nothing credited.
        assert!(
            bank.accounts().expect("accounts").iter().all(|a| a.balance == 0),
            "a refused deposit credited"
        );
        return false;
    };
    assert_eq!(receipt.payments.len(), request.payments.len());
    let verified: usize = request
        .payments
        .iter()
        .zip(&receipt.payments)
        .filter(|(_, o)| **o == PaymentOutcome::Verified)
        .map(|(p, _)| p.coins.len())
        .sum();
    assert_eq!(receipt.outcomes.len(), verified);
    let credited: u64 = receipt.outcomes.iter().map(|o| o.outcome.credited()).sum();
    assert_eq!(credited, receipt.credited);
    // What the bank signs, a payee accepts.
    let pinned: Vec<Keyset> =
        w.keysets.iter().map(|k| k.verify(&w.master).expect("vector keysets verify")).collect();
    receipt.verify(&request, &pinned).expect("the bank's own receipt verifies");
    // Only genuine coins are credited, each once, at its value: a forged
    // input never credits, and the bank never pays out more than the coins
    // it issued are worth.
    let mut seen = BTreeSet::new();
    let keysets = bank.keysets();
    let mut rng_check = ChaCha20Rng::from_seed([3; 32]);
    for o in &receipt.outcomes {
        let value = o.outcome.credited();
        if value > 0 {
            assert_eq!(w.genuine.get(&o.coin_id), Some(&value), "credited a coin the bank never issued");
            assert!(seen.insert(o.coin_id), "one coin credited twice");
            // The payment that carried it verifies on its own, too.
            let p = &request.payments[o.payment as usize];
            if let Err(e) = verify_payment(p, &keysets, &mut rng_check) {
                panic!("credited a coin of a payment that does not verify: {e}");
            }
        }
    }
    assert!(receipt.credited <= w.genuine_value());
    let merchant = bank.account(&request.merchant_id).expect("the depositing merchant");
    assert_eq!(merchant.balance, receipt.credited, "the balance and the receipt disagree");
    // The same request again gets the same receipt back.
    let replay = bank.deposit(&request, &mut rng).expect("a replay gets its receipt");
    assert_eq!(replay, receipt, "a replayed request got another receipt");
    // The same payments in a new request credit nothing.
    let again = DepositRequest::new(&w.merchant, request.merchant_id, request.payments, &mut rng);
    let receipt = bank.deposit(&again, &mut rng).expect("the payments verified a moment ago");
    assert_eq!(receipt.credited, 0, "credited twice");
    credited > 0
}

/// Target `merchant_receipt`: a receipt decoded from the input, checked by
/// a merchant against the vectors' first deposit request. Only the bank's
/// own receipt verifies; the merchant records nothing else. Returns whether
/// the merchant recorded it.
pub fn merchant_receipt(data: &[u8]) -> bool {
    let Ok(receipt) = DepositReceipt::from_bytes(data) else {
        return false;
    };
    let w = world();
    let (request, genuine) = &w.receipt;
    let mut merchant =
        Merchant::new(w.merchant.clone(), w.master, MemoryMerchantStore::new(), Arc::new(w.clock.clone()));
    merchant.pin_keysets(&w.keysets).expect("keysets");
    merchant.store().begin_deposit(request).expect("memory store");
    match merchant.record_receipt(request, &receipt) {
        Ok(()) => {
            assert_eq!(&receipt, genuine, "a receipt the bank did not sign was recorded");
            assert!(merchant.store().deposit_in_flight().expect("memory store").is_none());
            true
        }
        Err(_) => {
            assert!(
                merchant.store().deposit_in_flight().expect("memory store").is_some(),
                "refused, yet recorded"
            );
            assert!(merchant.store().receipt(&request.request_id).expect("memory store").is_none());
            false
        }
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

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// A target's body: one input; whether the input went all the way (some
/// decoder took it, the merchant accepted it, the deposit credited).
pub type Target = fn(&[u8]) -> bool;

/// The targets, by name, with their bodies.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_binary", decode_binary),
    ("decode_json", |data| std::str::from_utf8(data).is_ok_and(decode_json)),
    ("merchant_payment", merchant_payment),
    ("bank_deposit", bank_deposit),
    ("bank_account", bank_account),
    ("merchant_receipt", merchant_receipt),
];

/// Every `{"type", "hex"}` message of a vector document.
fn messages(v: &Value, out: &mut Vec<(String, Vec<u8>)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(t)), Some(Value::String(h))) = (m.get("type"), m.get("hex")) {
                out.push((t.clone(), hex::decode(h).expect("hex")));
            }
            m.values().for_each(|x| messages(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| messages(x, out)),
        _ => {}
    }
}

/// The seed inputs of every target, from the test vectors: every
/// message's binary encoding and JSON form, every payment, every deposit
/// request (as it is, and to be signed again), every deposit receipt, and
/// the negative vectors.
pub fn seeds() -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let mut out: BTreeMap<&'static str, Vec<Vec<u8>>> = BTreeMap::new();
    for f in VECTOR_FILES {
        let doc = vector(f);
        let mut found = Vec::new();
        messages(&doc, &mut found);
        for (kind, bytes) in found {
            for json in json_forms(&bytes) {
                out.entry("decode_json").or_default().push(json.into_bytes());
            }
            match kind.as_str() {
                "payment" => out.entry("merchant_payment").or_default().push(bytes.clone()),
                "account-request" => out.entry("bank_account").or_default().push(bytes.clone()),
                "deposit-receipt" => out.entry("merchant_receipt").or_default().push(bytes.clone()),
                "deposit-request" => {
                    out.entry("bank_deposit").or_default().push([[0u8].as_slice(), &bytes].concat());
                    out.entry("bank_deposit").or_default().push([[1u8].as_slice(), &bytes].concat());
                }
                _ => {}
            }
            out.entry("decode_binary").or_default().push(bytes);
        }
        for n in doc.get("decode").and_then(Value::as_array).into_iter().flatten() {
            match (n.get("hex"), n.get("json")) {
                (Some(Value::String(h)), _) => {
                    out.entry("decode_binary").or_default().push(hex::decode(h).expect("hex"))
                }
                (_, Some(Value::String(j))) => {
                    out.entry("decode_json").or_default().push(j.as_bytes().to_vec())
                }
                _ => {}
            }
        }
        // backup.json's file and sealed contents: the backup decoders' seeds.
        for key in ["file", "plaintext"] {
            if let Some(Value::String(h)) = doc.get(key) {
                out.entry("decode_binary").or_default().push(hex::decode(h).expect("hex"));
            }
        }
        // seed.json's phrases and seeds: the recovery inputs' seeds.
        for ph in doc.get("phrases").and_then(Value::as_array).into_iter().flatten() {
            let json = out.entry("decode_json").or_default();
            json.push(ph["phrase"].as_str().expect("phrase").as_bytes().to_vec());
            json.push(ph["seed"].to_string().into_bytes());
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}
