//! The bank as an HTTP service: the library's messages over the network,
//! hostile clients, several nodes on one PostgreSQL database, and nodes
//! killed mid-request.

mod cli_support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_support::{Cli, Node};
use faircash::crypto::schnorr::SigningKey;
use faircash::http::client::HttpBank;
use faircash::http::server::{serve, spawn, spawn_with, ServeConfig};
use faircash::http::{ErrorBody, BINARY, JSON};
use faircash::keys::{AccountKeys, BankSecrets, KeysetPolicy, KeysetSpec};
use faircash::protocol::account::AccountOperation;
use faircash::protocol::deposit::{DepositOutcome, DepositRequest};
use faircash::protocol::register::UserRegistration;
use faircash::protocol::trust::TtpValidity;
use faircash::protocol::withdraw::WithdrawChallenge;
use faircash::roles::{Bank, BankApi, BankConfig, Merchant, PayeeRole, TtpKeys, Wallet};
use faircash::store::memory::{MemoryBankStore, MemoryMerchantStore, MemoryWalletStore};
use faircash::store::BankStore;
use faircash::time::{Clock, SystemClock};
use faircash::wire::WireMessage;
use rand::rngs::OsRng;

type LocalBank = Bank<MemoryBankStore>;

fn local_bank() -> Arc<LocalBank> {
    bank_on(MemoryBankStore::new())
}

/// A bank over `store` with a keyset of denominations 1 to 1024.
fn bank_on<S: BankStore>(store: S) -> Arc<Bank<S>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let bank =
        Bank::open(store, BankSecrets::generate(&mut OsRng), clock.clone(), BankConfig::default()).unwrap();
    let ttp = TtpKeys::generate(&mut OsRng);
    let statement =
        ttp.statement(0, TtpValidity::starting(clock.today(), 730, 1095), clock.now(), &mut OsRng).unwrap();
    bank.set_ttp_statements(vec![statement]).unwrap();
    bank.issue_keyset(
        *ttp.decryption.public(),
        &KeysetSpec {
            exponents: 0..=10,
            withdraw_from: clock.today(),
            withdraw_days: 30,
            policy: KeysetPolicy::default(),
        },
        &mut OsRng,
    )
    .unwrap();
    Arc::new(bank)
}

fn wallet(api: &dyn BankApi, master: faircash::encoding::Point) -> Wallet<MemoryWalletStore> {
    let mut w = Wallet::new(
        AccountKeys::generate(&mut OsRng),
        master,
        MemoryWalletStore::new(),
        Arc::new(SystemClock),
    );
    w.pin_keysets(&api.keysets().unwrap()).unwrap();
    trust_ttp_of(api, |s| w.anchors_mut().trust_ttp(s).map(drop));
    api.register_user(&w.registration(&mut OsRng)).unwrap();
    w
}

/// Pins the bank's TTP key statements as if the operator had them from the
/// TTP (the tests' TTP is the bank's).
fn trust_ttp_of(
    api: &dyn BankApi,
    mut trust: impl FnMut(&faircash::protocol::trust::SignedTtpKeyStatement) -> faircash::protocol::Result<()>,
) {
    let statements = api.ttp_statements().unwrap();
    assert!(!statements.is_empty());
    statements.iter().for_each(|s| trust(s).unwrap());
}

fn merchant(
    api: &dyn BankApi,
    master: faircash::encoding::Point,
) -> (Merchant<MemoryMerchantStore>, SigningKey) {
    let key = SigningKey::generate(&mut OsRng);
    let mut m = Merchant::new(key.clone(), master, MemoryMerchantStore::new(), Arc::new(SystemClock));
    m.pin_keysets(&api.keysets().unwrap()).unwrap();
    trust_ttp_of(api, |s| m.anchors_mut().trust_ttp(s).map(drop));
    api.register_merchant(&m.registration(&mut OsRng)).unwrap();
    (m, key)
}

#[test]
fn the_whole_lifecycle_runs_over_http() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 100).unwrap();
    let (shop1, _) = merchant(&api, bank.master_key());
    let (shop2, _) = merchant(&api, bank.master_key());
    alice.withdraw(&api, 37, &mut OsRng).unwrap();
    assert_eq!(alice.balance().unwrap(), 37);
    assert_eq!(bank.account(&alice.account_id()).unwrap().balance, 63);
    let req = shop1.request_payment(5, [0; 32], &mut OsRng).unwrap();
    shop1.accept(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    assert_eq!(shop1.deposit(&api, &mut OsRng).unwrap().unwrap().credited, 5);
    // A double spend over the network is caught too.
    let coin = alice.coins().unwrap().into_iter().find(|c| c.spent_in.is_none()).unwrap().coin;
    for shop in [&shop1, &shop2] {
        let req = shop.request_payment(coin.value, [1; 32], &mut OsRng).unwrap();
        let keyset = bank.current_keyset().unwrap();
        let p = faircash::protocol::pay::create_payment(&req, &keyset, alice.user(), &[&coin], &mut OsRng)
            .unwrap();
        shop.accept(&p, &mut OsRng).unwrap();
        shop.deposit(&api, &mut OsRng).unwrap();
    }
    let ev = api.evidence_page(0, 32).unwrap();
    assert_eq!(ev.items.len(), 1);
    assert_eq!(ev.items[0].account, Some(alice.account_id()));
    let keyset = bank.current_keyset().unwrap();
    assert_eq!(ev.items[0].evidence.verify(&keyset, &mut OsRng).unwrap().account, alice.account_id());
    // Paged with a cursor: nothing newer yet.
    assert_eq!((ev.cursor, ev.more), (ev.items[0].seq, false));
    assert!(api.evidence_page(ev.cursor, 32).unwrap().items.is_empty());
    assert_eq!(api.evidence_since(0).unwrap(), (ev.items.clone(), ev.cursor));
    for bad in ["limit=0", "limit=100000", "after=x", "from=1", "after"] {
        let r = reqwest::blocking::get(format!("{}/v1/evidence?{bad}", server.url())).unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        let e: ErrorBody = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
        assert_eq!(e.error.code, "bad-query");
    }
    // Frozen: a withdrawal over HTTP is refused with the typed error.
    assert!(matches!(
        alice.withdraw_one(&api, 1, &mut OsRng),
        Err(faircash::protocol::Error::AccountFrozen(_))
    ));
    assert!(api.watch_list().unwrap().verify(&bank.master_key()).is_ok());
}

#[test]
fn retried_requests_get_the_same_answers() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 100).unwrap();
    let req = alice.start_withdrawal(8, &mut OsRng).unwrap();
    let c1 = api.open_withdrawal(&req).unwrap();
    assert_eq!(api.open_withdrawal(&req).unwrap().commitment, c1.commitment);
    let ch = alice.receive_commitment(&c1, &mut OsRng).unwrap();
    let a1 = api.answer_withdrawal(&ch).unwrap();
    assert_eq!(api.answer_withdrawal(&ch).unwrap(), a1);
    alice.finish_withdrawal(&a1).unwrap();
    assert_eq!(bank.account(&alice.account_id()).unwrap().balance, 92);
    let (shop, _) = merchant(&api, bank.master_key());
    let preq = shop.request_payment(8, [0; 32], &mut OsRng).unwrap();
    shop.accept(&alice.pay(&preq, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    let dreq = shop.deposit_request(&mut OsRng).unwrap().unwrap();
    let r1 = api.deposit(&dreq).unwrap();
    assert_eq!(api.deposit(&dreq).unwrap(), r1);
    assert_eq!(bank.account(&shop.id()).unwrap().balance, 8);
}

fn raw(url: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
    let c = reqwest::blocking::Client::new();
    let mut rb = c.post(format!("{url}{path}")).body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    let r = rb.send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

/// Sends the headers of a POST whose body would be `len` bytes, with
/// `Expect: 100-continue`, and reads the answer without sending the body.
/// An oversized body is refused from its `Content-Length` alone; a client
/// that streamed the body instead could see the connection close under
/// it before it reads the 413.
fn raw_oversized(url: &str, path: &str, content_type: &str, len: usize) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {len}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    // The error bodies are small and sent with a Content-Length.
    assert!(!head.contains("transfer-encoding"), "{head}");
    let body = answer[split + 4..].to_vec();
    (status, body)
}

#[test]
fn hostile_requests_get_typed_4xx_errors_and_never_a_500() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.url();
    let user = AccountKeys::generate(&mut OsRng);
    let reg = UserRegistration::new(&user, &mut OsRng);
    // Both formats are accepted.
    let (s, _) = raw(&url, "/v1/accounts/users", Some(JSON), reg.to_json().into_bytes());
    assert_eq!(s, 200);
    let (s, _) = raw(&url, "/v1/accounts/users", Some(BINARY), reg.to_bytes());
    assert_eq!(s, 200);
    let mut cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("/v1/withdrawals", Some(JSON), b"{not json".to_vec(), 400),
        (
            "/v1/withdrawals",
            Some(JSON),
            br#"{"faircash":1,"kind":"withdraw-request","body":{}}"#.to_vec(),
            400,
        ),
        ("/v1/withdrawals", Some(BINARY), vec![0xff; 300], 400),
        ("/v1/withdrawals", Some(BINARY), reg.to_bytes(), 400),
        ("/v1/deposits", Some(BINARY), b"FC\x01\x30".to_vec(), 400),
        ("/v1/deposits", Some("text/plain"), b"hello".to_vec(), 415),
        // Over the message's size limit, under the route's (which allows
        // the longer JSON form): 413 too-large, as over the route's.
        (
            "/v1/withdrawals",
            Some(BINARY),
            vec![0; <faircash::protocol::withdraw::WithdrawRequest as WireMessage>::MAX_BYTES + 1],
            413,
        ),
        ("/v1/accounts/users", Some(BINARY), vec![0; <UserRegistration as WireMessage>::MAX_BYTES + 1], 413),
        ("/v1/deposits", None, b"hello".to_vec(), 415),
        ("/v1/withdrawals/zz/challenge", Some(BINARY), vec![], 400),
        ("/v1/nowhere", Some(JSON), b"{}".to_vec(), 404),
        ("/v1/health", Some(JSON), b"{}".to_vec(), 405),
        (
            "/v1/accounts/users",
            Some(JSON),
            br#"{"faircash":2,"kind":"user-registration","body":{}}"#.to_vec(),
            400,
        ),
    ];
    // Random garbage on every route: 400, or 413 over the message's limit.
    use faircash::protocol::register::MerchantRegistration;
    use faircash::protocol::withdraw::WithdrawRequest;
    for (path, limit) in [
        ("/v1/accounts/users", UserRegistration::MAX_BYTES),
        ("/v1/accounts/merchants", MerchantRegistration::MAX_BYTES),
        ("/v1/withdrawals", WithdrawRequest::MAX_BYTES),
        ("/v1/deposits", DepositRequest::MAX_BYTES),
    ] {
        for _ in 0..10 {
            let n = rand::Rng::gen_range(&mut OsRng, 0..2000);
            let mut b = vec![0u8; n];
            rand::RngCore::fill_bytes(&mut OsRng, &mut b);
            if n > 4 && rand::Rng::gen_bool(&mut OsRng, 0.5) {
                b[..4].copy_from_slice(b"FC\x01\x10");
            }
            cases.push((path, Some(BINARY), b, if n > limit { 413 } else { 400 }));
        }
    }
    let check = |path: &str, status: u16, expected: u16, body: &[u8]| {
        assert_eq!(status, expected, "{path}: {}", String::from_utf8_lossy(body));
        let e: ErrorBody =
            serde_json::from_slice(body).unwrap_or_else(|_| panic!("{path}: untyped error body"));
        assert!(!e.error.code.is_empty());
        assert_eq!(e.error.code == "too-large", status == 413, "{path}: {} with {status}", e.error.code);
    };
    for (path, ct, body, expected) in cases {
        let (status, body) = raw(&url, path, ct, body);
        check(path, status, expected, &body);
    }
    // Bodies over the route's limit.
    for (path, ct, len) in [("/v1/withdrawals", BINARY, 64 * 1024), ("/v1/accounts/users", JSON, 1 << 20)] {
        let (status, body) = raw_oversized(&url, path, ct, len);
        check(path, status, 413, &body);
    }
    // A challenge whose body names another session than the path.
    let alice = wallet(&HttpBank::new(&[&url]).unwrap(), bank.master_key());
    bank.fund(&alice.account_id(), 10).unwrap();
    let api = HttpBank::new(&[&url]).unwrap();
    let req = alice.start_withdrawal(1, &mut OsRng).unwrap();
    let c = api.open_withdrawal(&req).unwrap();
    let ch = alice.receive_commitment(&c, &mut OsRng).unwrap();
    let other = faircash::protocol::withdraw::SessionId::random(&mut OsRng);
    let (status, _) = raw(&url, &format!("/v1/withdrawals/{other}/challenge"), Some(BINARY), ch.to_bytes());
    assert_eq!(status, 400);
    assert_eq!(bank.account(&alice.account_id()).unwrap().balance, 10, "nothing debited");
    // An account request whose body names another account than the path,
    // a path that is no account id, and garbage.
    let status_req = alice.account_request(AccountOperation::Status, &mut OsRng);
    let path = format!("/v1/accounts/{}/requests", alice.account_id());
    let (status, body) = raw(&url, "/v1/accounts/zz/requests", Some(BINARY), status_req.to_bytes());
    check("bad account id", status, 400, &body);
    let someone = faircash::keys::AccountId([7; 16]);
    let (status, body) =
        raw(&url, &format!("/v1/accounts/{someone}/requests"), Some(BINARY), status_req.to_bytes());
    check("another account", status, 400, &body);
    for _ in 0..10 {
        let n = rand::Rng::gen_range(&mut OsRng, 0..600);
        let mut b = vec![0u8; n];
        rand::RngCore::fill_bytes(&mut OsRng, &mut b);
        if n > 4 {
            b[..4].copy_from_slice(b"FC\x01\x60");
        }
        let expected = if n > faircash::protocol::account::AccountRequest::MAX_BYTES { 413 } else { 400 };
        let (status, body) = raw(&url, &path, Some(BINARY), b);
        check(&path, status, expected, &body);
    }
    let (status, body) = raw_oversized(&url, &path, BINARY, 64 * 1024);
    check(&path, status, 413, &body);
    let (status, _) = raw(&url, &path, Some(BINARY), status_req.to_bytes());
    assert_eq!(status, 200);
    // The node still serves.
    assert_eq!(reqwest::blocking::get(format!("{url}/v1/health")).unwrap().status().as_u16(), 200);
}

/// A bank store that records when each transaction begins: the gaps
/// between them show when the bank is computing (verifying) rather than
/// touching its store.
struct Watched<S> {
    inner: S,
    begins: std::sync::Mutex<Vec<Instant>>,
}

impl<S: BankStore> BankStore for Watched<S> {
    fn begin(&self) -> faircash::store::StoreResult<Box<dyn faircash::store::BankTx + '_>> {
        self.begins.lock().unwrap().push(Instant::now());
        self.inner.begin()
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn a_large_deposit_does_not_stall_other_clients() {
    // The service on a runtime with one worker thread: if a deposit's
    // verification ran on the worker instead of the blocking pool, every
    // other request would wait for it.
    let bank = bank_on(Watched { inner: MemoryBankStore::new(), begins: Default::default() });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(serve(bank.clone(), listener, ServeConfig::default(), async {
        let _ = stopped.await;
    }));
    let api = HttpBank::new(&[&url]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 1 << 20).unwrap();
    let (shop, _) = merchant(&api, bank.master_key());
    // 16 payments of 64 coins of 1 each: 1024 coins in one deposit request.
    for _ in 0..16 {
        for _ in 0..64 {
            alice.withdraw_one(&*bank, 1, &mut OsRng).unwrap();
        }
        let req = shop.request_payment(64, [0; 32], &mut OsRng).unwrap();
        shop.accept(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
    }
    let dreq = shop.deposit_request(&mut OsRng).unwrap().unwrap();
    let client = reqwest::blocking::Client::new();
    let health = || {
        let t = Instant::now();
        assert!(client.get(format!("{url}/v1/health")).send().unwrap().status().is_success());
        (t, Instant::now())
    };
    let mut idle: Vec<Duration> = (0..60).map(|_| health()).map(|(a, b)| b - a).collect();
    let idle = median(&mut idle);

    // Health requests back to back while the deposit runs.
    let done = AtomicBool::new(false);
    let mut samples = Vec::new();
    let (started, finished) = std::thread::scope(|s| {
        let deposit = s.spawn(|| {
            let t = Instant::now();
            assert_eq!(api.deposit(&dreq).unwrap().credited, 1024);
            done.store(true, Ordering::SeqCst);
            (t, Instant::now())
        });
        while !done.load(Ordering::SeqCst) {
            samples.push(health());
        }
        deposit.join().unwrap()
    });
    let _ = stop.send(());
    // Verification is the longest stretch of the deposit without a store
    // transaction beginning.
    let begins: Vec<Instant> = bank
        .store()
        .begins
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|b| *b >= started && *b <= finished)
        .collect();
    let (from, to) =
        begins.windows(2).map(|w| (w[0], w[1])).max_by_key(|(a, b)| *b - *a).expect("transactions");
    let window = to - from;
    assert!(window >= Duration::from_millis(50), "verification took {window:?}: too short to measure");
    // Every health request that overlapped verification.
    let mut during: Vec<Duration> =
        samples.iter().filter(|(a, b)| *a < to && *b > from).map(|(a, b)| *b - *a).collect();
    assert!(during.len() >= 10, "{} health answers during {window:?} of verification", during.len());
    let longest = *during.iter().max().unwrap();
    assert!(longest < window / 4, "a health request waited {longest:?} during {window:?} of verification");
    let typical = median(&mut during);
    assert!(
        typical <= idle * 20 + Duration::from_millis(2),
        "health took {typical:?} (median) during verification, {idle:?} idle"
    );
}

/// Latencies of `n` one-coin withdrawals over HTTP.
fn withdrawal_latencies(w: &Wallet<MemoryWalletStore>, api: &HttpBank, n: usize) -> Vec<std::time::Duration> {
    (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            w.withdraw_one(api, 1, &mut OsRng).unwrap();
            t.elapsed()
        })
        .collect()
}

/// Issue: a 4 MB deposit that names a merchant and carries a bad signature
/// cost 1.3 s of CPU before it was refused, and a flood of them delayed
/// valid withdrawals from 0.5 ms to seconds. The signature is now checked
/// before any per-coin cryptography, deposits run on workers of their own
/// behind a bounded queue (503 with Retry-After beyond it), and the health
/// endpoint reports the overload. The figures of one run print with
/// `cargo test --release --test http a_flood_of_badly_signed -- --nocapture`.
#[test]
fn a_flood_of_badly_signed_deposits_leaves_withdrawals_fast() {
    let bank = local_bank();
    let config = ServeConfig { deposit_workers: 1, deposit_queue: 4, ..ServeConfig::default() };
    let server = spawn_with(bank.clone(), "127.0.0.1:0".parse().unwrap(), config).unwrap();
    let url = server.url();
    let api = HttpBank::new(&[&url]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 1000).unwrap();
    let (shop, _) = merchant(&api, bank.master_key());
    // One real payment of four coins, 1024 times: 4096 coins, signed by a
    // key that is not the merchant's.
    alice.withdraw(&api, 15, &mut OsRng).unwrap();
    let req = shop.request_payment(15, [0; 32], &mut OsRng).unwrap();
    let p = alice.pay(&req, &mut OsRng).unwrap();
    assert_eq!(p.coins.len(), 4);
    let forger = SigningKey::generate(&mut OsRng);
    let bad = DepositRequest::new(&forger, shop.id(), vec![p; 1024], &mut OsRng).to_bytes();

    let idle = median(&mut withdrawal_latencies(&alice, &api, 9));

    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let answered = AtomicU64::new(0);
    let overloaded_seen = AtomicBool::new(false);
    let busy = std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let client = reqwest::blocking::Client::new();
                let body = bad.clone();
                while !stop.load(Ordering::SeqCst) {
                    sent.fetch_add(1, Ordering::SeqCst);
                    let r = client
                        .post(format!("{url}/v1/deposits"))
                        .header("content-type", BINARY)
                        .body(body.clone())
                        .send();
                    let Ok(r) = r else { continue };
                    match r.status().as_u16() {
                        503 => {
                            assert!(r.headers().get("retry-after").is_some(), "503 without Retry-After");
                            let e: ErrorBody = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
                            assert_eq!(e.error.code, "overloaded");
                            refused.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        422 => {
                            let e: ErrorBody = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
                            assert_eq!(e.error.code, "invalid-proof", "{}", e.error.message);
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("flood answered {other}"),
                    }
                }
            });
        }
        s.spawn(|| {
            let client = reqwest::blocking::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let r = client.get(format!("{url}/v1/health")).send().unwrap();
                let v: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
                if v["status"] == "overloaded" {
                    overloaded_seen.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        // Under load: every flooder has had an answer and sent again.
        while sent.load(Ordering::SeqCst) < 16 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let busy = median(&mut withdrawal_latencies(&alice, &api, 9));
        stop.store(true, Ordering::SeqCst);
        busy
    });
    let (refused, answered) = (refused.load(Ordering::SeqCst), answered.load(Ordering::SeqCst));
    eprintln!(
        "withdrawal latency, median of 9: idle {idle:?}, under the flood {busy:?} ({:.1}x); \
         flood: {answered} deposits refused after their signature, {refused} refused at the full queue",
        busy.as_secs_f64() / idle.as_secs_f64()
    );
    assert!(
        busy.as_secs_f64() <= 5.0 * idle.as_secs_f64(),
        "withdrawals slowed from {idle:?} to {busy:?} under the flood"
    );
    assert!(overloaded_seen.load(Ordering::SeqCst), "the health endpoint never reported the overload");
    assert!(answered > 0, "no flood request reached the signature check");
    assert_eq!(bank.account(&shop.id()).unwrap().balance, 0);
}

/// A merchant that deposited a forged payment is answered 429 `throttled`
/// with `Retry-After` for a while.
#[test]
fn a_merchant_that_deposits_a_forgery_is_throttled_with_retry_after() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 100).unwrap();
    let (shop, key) = merchant(&api, bank.master_key());
    alice.withdraw(&api, 3, &mut OsRng).unwrap();
    let req = shop.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let mut forged = alice.pay(&req, &mut OsRng).unwrap();
    forged.responses[0].r += curve25519_dalek::scalar::Scalar::ONE;
    let r = api.deposit(&DepositRequest::new(&key, shop.id(), vec![forged], &mut OsRng)).unwrap();
    assert_eq!(
        r.payments,
        [faircash::protocol::deposit::PaymentOutcome::Refused(
            faircash::protocol::deposit::PaymentRefusal::Proofs
        )]
    );
    let req = shop.request_payment(1, [1; 32], &mut OsRng).unwrap();
    let honest = alice.pay(&req, &mut OsRng).unwrap();
    let next = DepositRequest::new(&key, shop.id(), vec![honest], &mut OsRng);
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/v1/deposits", server.url()))
        .header("content-type", BINARY)
        .body(next.to_bytes())
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    let secs: u64 = answer.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= bank.config().deposit_limits.throttle_secs);
    assert!(matches!(api.deposit(&next), Err(faircash::protocol::Error::Throttled { .. })));
    assert_eq!(bank.account(&shop.id()).unwrap().balance, 0);
}

// ---------------------------------------------------------------------------
// Several nodes on one PostgreSQL database, as real processes.
// ---------------------------------------------------------------------------

fn postgres_url() -> Option<String> {
    match std::env::var("FAIRCASH_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("FAIRCASH_REQUIRE_POSTGRES").is_err(),
                "FAIRCASH_TEST_POSTGRES is required"
            );
            eprintln!(
                "FAIRCASH_TEST_POSTGRES is not set: skipping the multi-node tests (run .ci/postgres.sh)"
            );
            None
        }
    }
}

/// A fresh database next to the test database; returns its URL.
fn fresh_database(base: &str) -> String {
    let mut c = postgres::Client::connect(base, postgres::NoTls).unwrap();
    let mut b = [0u8; 6];
    rand::RngCore::fill_bytes(&mut OsRng, &mut b);
    let name = format!("fc_{}", hex::encode(b));
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// A bank directory on a fresh PostgreSQL database, and two nodes serving it.
fn two_nodes(c: &Cli, base: &str) -> (Node, Node) {
    two_nodes_on(c, &fresh_database(base))
}

/// A bank directory on the database `db`, and two nodes serving it.
fn two_nodes_on(c: &Cli, db: &str) -> (Node, Node) {
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&[
        "bank",
        "init",
        "--dir",
        "bank",
        "--ttp-key",
        "ttp/ttp.pub.json",
        "--max-exponent",
        "10",
        "--db",
        db,
    ]);
    (Node::start(c, "bank"), Node::start(c, "bank"))
}

fn master(api: &HttpBank) -> faircash::encoding::Point {
    api.keysets().unwrap()[0].document.master_key
}

fn fund(c: &Cli, account: &faircash::keys::AccountId, amount: u64) {
    c.ok(&["bank", "fund", "--dir", "bank", "--account", &account.to_hex(), "--amount", &amount.to_string()]);
}

fn balance(c: &Cli, account: &faircash::keys::AccountId) -> u64 {
    c.balance_of(&account.to_hex())
}

#[test]
fn two_nodes_credit_a_coin_once_under_32_concurrent_deposits() {
    let Some(base) = postgres_url() else { return };
    let c = Cli::new();
    let (a, b) = two_nodes(&c, &base);
    let api_a = HttpBank::new(&[&a.url]).unwrap();
    let api_b = HttpBank::new(&[&b.url]).unwrap();
    let m = master(&api_a);
    let alice = wallet(&api_a, m);
    fund(&c, &alice.account_id(), 100);
    let (shop, key) = merchant(&api_b, m);
    alice.withdraw(&api_a, 8, &mut OsRng).unwrap();
    let req = shop.request_payment(8, [0; 32], &mut OsRng).unwrap();
    let payment = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&payment, &mut OsRng).unwrap();
    // 32 clients, each with its own signed request over the same payment,
    // half on each node, all at once.
    let requests: Vec<DepositRequest> =
        (0..32).map(|_| DepositRequest::new(&key, shop.id(), vec![payment.clone()], &mut OsRng)).collect();
    let barrier = std::sync::Barrier::new(32);
    let outcomes: Vec<DepositOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let api = if i % 2 == 0 { &api_a } else { &api_b };
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    api.deposit(r).unwrap().outcomes[0].outcome
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let credited = outcomes.iter().filter(|o| matches!(o, DepositOutcome::Credited { .. })).count();
    let duplicates = outcomes.iter().filter(|o| **o == DepositOutcome::Duplicate).count();
    assert_eq!((credited, duplicates), (1, 31), "{outcomes:?}");
    assert_eq!(balance(&c, &shop.id()), 8);
}

#[test]
fn a_withdrawal_started_on_one_node_finishes_on_the_other() {
    let Some(base) = postgres_url() else { return };
    let c = Cli::new();
    let (a, b) = two_nodes(&c, &base);
    let api_a = HttpBank::new(&[&a.url]).unwrap();
    let api_b = HttpBank::new(&[&b.url]).unwrap();
    let alice = wallet(&api_a, master(&api_a));
    fund(&c, &alice.account_id(), 50);
    let req = alice.start_withdrawal(16, &mut OsRng).unwrap();
    let cm = api_a.open_withdrawal(&req).unwrap();
    assert_eq!(
        api_b.open_withdrawal(&req).unwrap().commitment,
        cm.commitment,
        "the retry on the other node sees the session"
    );
    let ch = alice.receive_commitment(&cm, &mut OsRng).unwrap();
    let answer = api_b.answer_withdrawal(&ch).unwrap();
    assert_eq!(api_a.answer_withdrawal(&ch).unwrap(), answer);
    alice.finish_withdrawal(&answer).unwrap();
    assert_eq!(alice.balance().unwrap(), 16);
    assert_eq!(balance(&c, &alice.account_id()), 34);
}

#[test]
fn concurrent_withdrawals_from_one_account_never_overdraw_it() {
    let Some(base) = postgres_url() else { return };
    let c = Cli::new();
    let (a, b) = two_nodes(&c, &base);
    let api_a = HttpBank::new(&[&a.url]).unwrap();
    let api_b = HttpBank::new(&[&b.url]).unwrap();
    let m = master(&api_a);
    let user = AccountKeys::generate(&mut OsRng);
    api_a.register_user(&UserRegistration::new(&user, &mut OsRng)).unwrap();
    fund(&c, &user.account(), 20);
    // 8 wallets holding the one account key race 4-coin withdrawals of 4 on
    // both nodes: 8 × 16 asked, 20 available.
    let coins = AtomicU64::new(0);
    std::thread::scope(|s| {
        for i in 0..8 {
            let api = if i % 2 == 0 { &api_a } else { &api_b };
            let user = user.clone();
            let coins = &coins;
            s.spawn(move || {
                let mut w = Wallet::new(user, m, MemoryWalletStore::new(), Arc::new(SystemClock));
                w.pin_keysets(&api.keysets().unwrap()).unwrap();
                trust_ttp_of(api, |s| w.anchors_mut().trust_ttp(s).map(drop));
                for _ in 0..4 {
                    loop {
                        match w.withdraw_one(api, 4, &mut OsRng) {
                            Ok(_) => {
                                coins.fetch_add(4, Ordering::SeqCst);
                                break;
                            }
                            Err(faircash::protocol::Error::SessionLimit { .. }) => {
                                std::thread::sleep(std::time::Duration::from_millis(20))
                            }
                            Err(faircash::protocol::Error::InsufficientBalance { .. }) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let withdrawn = coins.load(Ordering::SeqCst);
    assert_eq!(withdrawn, 20, "exactly the balance was withdrawn");
    assert_eq!(balance(&c, &user.account()), 0);
}

#[test]
fn a_killed_node_loses_nothing_and_clients_fail_over() {
    let Some(base) = postgres_url() else { return };
    let c = Cli::new();
    let (mut a, b) = two_nodes(&c, &base);
    let urls = format!("{},{}", a.url, b.url);
    let api = HttpBank::from_spec(&urls).unwrap();
    let m = master(&api);
    let alice = wallet(&api, m);
    fund(&c, &alice.account_id(), 100_000);
    let (shop, _) = merchant(&api, m);
    let funded = balance(&c, &alice.account_id());
    // Withdraw and deposit in a loop while node A is killed and restarted
    // at random moments; the client fails over to B and retries.
    let stop = AtomicBool::new(false);
    let mut restarts = 0;
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            for round in 0..12u64 {
                alice.withdraw(&api, 31, &mut OsRng).unwrap();
                let req = shop.request_payment(1 + round % 16, [0; 32], &mut OsRng).unwrap();
                shop.accept(&alice.pay(&req, &mut OsRng).unwrap(), &mut OsRng).unwrap();
                shop.deposit(&api, &mut OsRng).unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        while !stop.load(Ordering::SeqCst) {
            let wait = rand::Rng::gen_range(&mut OsRng, 20..200);
            std::thread::sleep(std::time::Duration::from_millis(wait));
            a.kill();
            restarts += 1;
            a = Node::start(&c, "bank");
        }
        worker.join().unwrap();
    });
    assert!(restarts > 0);
    alice.resume_withdrawals(&api).unwrap();
    // Reconcile: accounts + coins held + coins deposited = funded.
    let held = alice.balance().unwrap();
    let shop_balance = balance(&c, &shop.id());
    let alice_balance = balance(&c, &alice.account_id());
    let spent_undeposited: u64 = shop.store().undeposited_value();
    assert_eq!(alice_balance + held + shop_balance + spent_undeposited, funded, "money created or lost");
    let _ = b;
}

trait Undeposited {
    fn undeposited_value(&self) -> u64;
}

impl Undeposited for MemoryMerchantStore {
    fn undeposited_value(&self) -> u64 {
        use faircash::store::MerchantStore;
        self.undeposited().unwrap().iter().map(|a| a.payment.request.amount).sum()
    }
}

#[test]
fn startup_errors_are_clear_and_sigterm_drains() {
    let c = Cli::new();
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json"]);
    // The port is taken.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let err = c.fails(1, &["bank", "serve", "--dir", "bank", "--listen", &port]);
    assert!(err.contains("cannot listen on"), "{err}");
    // The database is unreachable.
    let err = c.fails(1, &["bank", "serve", "--dir", "bank", "--db", "postgres://nobody@127.0.0.1:1/none"]);
    assert!(err.contains("cannot reach the database"), "{err}");
    // A database that does not exist: the server's own words, what to do,
    // and nothing left behind, so `bank init` runs again once it exists.
    if let Some(base) = postgres_url() {
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let mut b = [0u8; 6];
        rand::RngCore::fill_bytes(&mut OsRng, &mut b);
        let name = format!("fc_missing_{}", hex::encode(b));
        let url = format!("{prefix}/{name}");
        let args = ["bank", "init", "--dir", "pgbank", "--ttp-key", "ttp/ttp.pub.json", "--db", &url];
        let err = c.fails(1, &args);
        assert!(err.contains(&format!("database \"{name}\" does not exist")), "{err}");
        assert!(err.contains("CREATE DATABASE"), "{err}");
        assert!(!c.path("pgbank/bank.key").exists());
        let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        c.ok(&args);
    }
    // Not a bank directory: none at all (invalid input), or another role's
    // (a usage error, named as such).
    let err = c.fails(3, &["bank", "serve", "--dir", "nowhere"]);
    assert!(err.contains("not a bank directory"), "{err}");
    let err = c.fails(2, &["bank", "serve", "--dir", "ttp"]);
    assert!(err.contains("ttp is a TTP directory, not a bank directory"), "{err}");
    // SIGTERM stops the node cleanly.
    let mut node = Node::start(&c, "bank");
    assert_eq!(reqwest::blocking::get(format!("{}/v1/health", node.url)).unwrap().status().as_u16(), 200);
    let pid = node.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = node.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Waits (polling, up to 30 s) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `bank keyset --rotate` while two nodes serve one bank: one node sees the
/// new keyset on SIGHUP (and rewrites keysets.json), the other after its
/// refresh interval; wallets withdraw under it through both, no restart.
fn nodes_serve_a_rotated_keyset(c: &Cli, db: Option<&str>) {
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    let mut init =
        vec!["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "4"];
    if let Some(db) = db {
        init.extend(["--db", db]);
    }
    c.ok(&init);
    let a = Node::start_with(c, "bank", &[("FAIRCASH_KEYSET_REFRESH_SECS", "3600")]);
    let b = Node::start_with(c, "bank", &[("FAIRCASH_KEYSET_REFRESH_SECS", "1")]);
    let api_a = HttpBank::new(&[&a.url]).unwrap();
    let api_b = HttpBank::new(&[&b.url]).unwrap();
    let m = master(&api_a);
    let (mut shop, _) = merchant(&api_a, m);
    assert_eq!(api_a.keysets().unwrap().len(), 1);

    c.ok(&["bank", "keyset", "--dir", "bank", "--rotate"]);
    std::fs::remove_file(c.path("bank/keysets.json")).unwrap();
    // Node a (refresh hourly) still serves one keyset, until SIGHUP.
    assert_eq!(api_a.keysets().unwrap().len(), 1);
    let hup = Command::new("kill").args(["-HUP", &a.child.id().to_string()]).status().unwrap();
    assert!(hup.success());
    wait_until("node a serves two keysets", || api_a.keysets().unwrap().len() == 2);
    wait_until("node a rewrote keysets.json", || {
        std::fs::read_to_string(c.path("bank/keysets.json"))
            .is_ok_and(|t| faircash::keys::KeysetList::from_json(&t).is_ok_and(|l| l.keysets.len() == 2))
    });
    // Node b (refresh every second) serves it without a signal.
    wait_until("node b serves two keysets", || api_b.keysets().unwrap().len() == 2);
    let newest = api_b.keysets().unwrap()[1].document.clone();

    for api in [&api_a, &api_b] {
        let mut w = wallet(api, m);
        fund(c, &w.account_id(), 4);
        w.anchors_mut().refresh_keysets(api).unwrap();
        w.withdraw(api, 4, &mut OsRng).unwrap();
        let coins = w.coins().unwrap();
        assert_eq!(coins[0].coin.coin.body.keyset_id, faircash::keys::KeysetDocument::id(&newest));
        // The merchant, pinned to the first keyset only, asks the bank.
        let req = shop.request_payment(4, [0; 32], &mut OsRng).unwrap();
        let payment = w.pay(&req, &mut OsRng).unwrap();
        shop.accept_or_refresh(&payment, api, &mut OsRng).unwrap();
    }
}

#[test]
fn nodes_on_one_sqlite_database_serve_a_rotated_keyset_without_a_restart() {
    nodes_serve_a_rotated_keyset(&Cli::new(), None);
}

#[test]
fn nodes_on_one_postgres_database_serve_a_rotated_keyset_without_a_restart() {
    let Some(base) = postgres_url() else { return };
    let db = fresh_database(&base);
    nodes_serve_a_rotated_keyset(&Cli::new(), Some(&db));
}

#[test]
fn a_node_stops_with_status_0_on_sigterm_and_sigint_on_either_store() {
    let c = Cli::new();
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "4"]);
    let mut dirs = vec!["bank"];
    if let Some(base) = postgres_url() {
        let db = fresh_database(&base);
        c.ok(&[
            "bank",
            "init",
            "--dir",
            "pgbank",
            "--ttp-key",
            "ttp/ttp.pub.json",
            "--max-exponent",
            "4",
            "--db",
            &db,
        ]);
        dirs.push("pgbank");
    }
    for dir in dirs {
        for (signal, serve_a_request) in [("TERM", false), ("INT", false), ("TERM", true), ("INT", true)] {
            let mut node = Node::start(&c, dir);
            if serve_a_request {
                let api = HttpBank::new(&[&node.url]).unwrap();
                let user = AccountKeys::generate(&mut OsRng);
                api.register_user(&UserRegistration::new(&user, &mut OsRng)).unwrap();
                assert_eq!(api.keysets().unwrap().len(), 1);
            }
            let (status, _) = node.stop(signal, std::time::Duration::from_secs(20));
            let log = node.log.lock().unwrap().clone();
            assert!(!log.contains("panicked"), "{dir}, SIG{signal}: {log}");
            assert_eq!(status.code(), Some(0), "{dir}, SIG{signal}: {status:?}\n{log}");
        }
    }
}

/// Writes `bytes` on a fresh connection to `addr` and reads until the node
/// closes it; returns the status, the head and the body of the answer.
fn exchange(addr: &str, bytes: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    // The node may answer and close before it has read everything.
    let _ = tcp.write_all(bytes);
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, head, answer[split + 4..].to_vec())
}

/// Whether the node closed `tcp` (EOF or reset) within `within`, reading
/// (and discarding) whatever it sends; `feed` is called between reads.
fn closed_within(
    tcp: &mut std::net::TcpStream,
    within: std::time::Duration,
    mut feed: impl FnMut(&mut std::net::TcpStream),
) -> bool {
    use std::io::Read;
    tcp.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while t.elapsed() < within {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                feed(tcp)
            }
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn slow_request_heads_and_idle_connections_time_out() {
    use faircash::http::server::{spawn_with, ServeConfig};
    use std::io::Write;
    use std::time::{Duration, Instant};
    let config = ServeConfig {
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let server = spawn_with(local_bank(), "127.0.0.1:0".parse().unwrap(), config).unwrap();
    let addr = server.addr.to_string();
    // Header lines trickled in, one every 100 ms, never ending the head.
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    tcp.write_all(b"POST /v1/deposits HTTP/1.1\r\nHost: bank\r\n").unwrap();
    let closed = closed_within(&mut tcp, Duration::from_secs(10), |s| {
        let _ = s.write_all(b"X-Slow: 1\r\n");
    });
    assert!(closed, "a trickled head keeps its connection open");
    let trickled = t.elapsed();
    // A request line stopped in the middle.
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    tcp.write_all(b"POST /v1/depo").unwrap();
    assert!(closed_within(&mut tcp, Duration::from_secs(10), |_| {}), "a stalled request line stays open");
    let stalled = t.elapsed();
    // An idle keep-alive connection after a complete request.
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: bank\r\n\r\n").unwrap();
    let t = Instant::now();
    assert!(closed_within(&mut tcp, Duration::from_secs(10), |_| {}), "an idle connection stays open");
    let idle = t.elapsed();
    // Each closes at the 1 s header timeout, long before the 60 s request
    // timeout (the bound leaves room for a loaded machine).
    for (what, d) in [("trickled", trickled), ("stalled", stalled), ("idle", idle)] {
        assert!(d >= Duration::from_millis(900) && d < Duration::from_secs(8), "{what}: closed after {d:?}");
    }
    // The node still serves.
    assert_eq!(reqwest::blocking::get(format!("{}/v1/health", server.url())).unwrap().status().as_u16(), 200);
}

#[test]
fn connections_beyond_the_limit_get_a_typed_503() {
    use faircash::http::server::{spawn_with, ServeConfig};
    use std::time::Duration;
    let config =
        ServeConfig { max_connections: 3, header_timeout: Duration::from_secs(60), ..Default::default() };
    let server = spawn_with(local_bank(), "127.0.0.1:0".parse().unwrap(), config).unwrap();
    let addr = server.addr.to_string();
    let mut held: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    // The node accepts in its own time: retry until the limit is reached.
    let t = std::time::Instant::now();
    let (status, head, body) = loop {
        let answer = exchange(&addr, b"GET /v1/health HTTP/1.1\r\nHost: bank\r\nConnection: close\r\n\r\n");
        if answer.0 != 200 || t.elapsed() > Duration::from_secs(10) {
            break answer;
        }
    };
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let e: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(e.error.code, "too-many-connections");
    assert!(e.error.retryable);
    // A connection closed frees its place.
    held.pop();
    let t = std::time::Instant::now();
    loop {
        let (status, _, _) =
            exchange(&addr, b"GET /v1/health HTTP/1.1\r\nHost: bank\r\nConnection: close\r\n\r\n");
        if status == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no place freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn request_heads_the_parser_refuses_get_typed_errors() {
    let server = spawn(local_bank(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.addr.to_string();
    let long_path = format!("/v1/{}", "a".repeat(9 * 1024));
    let huge_path = format!("/v1/{}", "a".repeat(80 * 1024));
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(80 * 1024));
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("GET {long_path} HTTP/1.1\r\nHost: bank\r\nConnection: close\r\n\r\n"), 414, "uri-too-long"),
        (format!("GET {huge_path} HTTP/1.1\r\nHost: bank\r\n\r\n"), 431, "headers-too-large"),
        (format!("GET /v1/health HTTP/1.1\r\nHost: bank\r\n{many_headers}\r\n"), 431, "headers-too-large"),
        (format!("GET /v1/health HTTP/1.1\r\nHost: bank\r\n{huge_header}\r\n"), 431, "headers-too-large"),
        ("NOT HTTP AT ALL\r\n\r\n".to_string(), 400, "bad-request"),
        ("GET /v1/health HTTP/1.1\r\nHost bank\r\n\r\n".to_string(), 400, "bad-request"),
    ];
    for (request, expected, code) in cases {
        let (status, head, body) = exchange(&addr, request.as_bytes());
        assert_eq!(status, expected, "{code}: {head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        let e: ErrorBody = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{expected}: untyped body {:?}", String::from_utf8_lossy(&body)));
        assert_eq!(e.error.code, code);
    }
    assert_eq!(reqwest::blocking::get(format!("{}/v1/health", server.url())).unwrap().status().as_u16(), 200);
}

#[test]
fn shutdown_closes_connections_still_open_after_the_grace() {
    use std::io::Write;
    use std::time::Duration;
    let c = Cli::new();
    c.ok(&["ttp", "keygen", "--dir", "ttp"]);
    c.ok(&["bank", "init", "--dir", "bank", "--ttp-key", "ttp/ttp.pub.json", "--max-exponent", "4"]);
    let mut node =
        Node::serve(&c, "bank", &["--shutdown-grace-secs", "1", "--header-timeout-secs", "120"], &[]);
    // Two clients trickle header lines and never finish their heads.
    let stop = Arc::new(AtomicBool::new(false));
    let mut trickling = Vec::new();
    for _ in 0..2 {
        let mut tcp = std::net::TcpStream::connect(node.addr()).unwrap();
        tcp.write_all(b"POST /v1/deposits HTTP/1.1\r\nHost: bank\r\n").unwrap();
        let stop = stop.clone();
        trickling.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) && tcp.write_all(b"X-Slow: 1\r\n").is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = node.stop("TERM", Duration::from_secs(30));
    stop.store(true, Ordering::SeqCst);
    for t in trickling {
        t.join().unwrap();
    }
    assert_eq!(status.code(), Some(0), "{}", node.log.lock().unwrap());
    // The grace is 1 s; the header timeout (120 s) never came into play.
    assert!(took < Duration::from_secs(15), "the node took {took:?} to stop");
}

#[test]
fn account_requests_and_signed_session_ends_over_http() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let mut alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 55).unwrap();
    // All or nothing, with the typed refusal over HTTP.
    assert!(matches!(
        alice.withdraw(&api, 60, &mut OsRng),
        Err(faircash::protocol::Error::InsufficientBalance { balance: 55, needed: 60, .. })
    ));
    assert_eq!(alice.balance().unwrap(), 0);
    assert_eq!(alice.withdraw(&api, 50, &mut OsRng).unwrap().len(), 3);
    let st = alice.account_status(&api, &mut OsRng).unwrap();
    assert_eq!((st.balance, st.held), (5, 0));
    // A rotation, and its replay after a lost answer.
    let new = faircash::keys::AuthKey::generate(&mut OsRng);
    let rotation = alice.auth_rotation(&new, &mut OsRng);
    let first = api.account_request(&rotation).unwrap();
    alice.rotate_auth_key(&api, new, &rotation).unwrap();
    assert_eq!(api.account_request(&rotation).unwrap(), first);
    // A challenge naming another commitment: the bank's signed end comes
    // back as the answer, and the wallet gives the session up on it.
    let req = alice.start_withdrawal(4, &mut OsRng).unwrap();
    let c = api.open_withdrawal(&req).unwrap();
    let ch = alice.receive_commitment(&c, &mut OsRng).unwrap();
    let wrong = WithdrawChallenge::new(ch.session_id, [1; 32], ch.e, alice.keys(), &mut OsRng);
    let end = api.answer_withdrawal(&wrong).unwrap();
    assert!(end.answer().is_none());
    let real = api.answer_withdrawal(&ch).unwrap();
    assert!(matches!(
        alice.finish_withdrawal(&real),
        Err(faircash::protocol::Error::SessionEnded(faircash::protocol::withdraw::EndReason::Ended))
    ));
    assert_eq!(bank.account(&alice.account_id()).unwrap().balance, 5, "nothing debited");
}

/// `HttpBank` waits as long as a 503's `Retry-After` asks before it sends
/// the request again (its own backoff is far shorter).
#[test]
fn the_client_waits_as_long_as_retry_after_asks() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().unwrap();
            arrivals.push(std::time::Instant::now());
            // Read the request head and its body.
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = tcp.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let body = br#"{"error":{"code":"overloaded","message":"busy","retryable":true,"detail":{"retry_after_secs":1}}}"#;
            write!(
                tcp,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .unwrap();
            tcp.write_all(body).unwrap();
        }
        arrivals
    });
    let api = HttpBank::new(&[&url]).unwrap().with_attempts(2);
    let key = SigningKey::generate(&mut OsRng);
    let reg = faircash::protocol::register::MerchantRegistration::new(&key, &mut OsRng);
    match api.register_merchant(&reg) {
        Err(faircash::protocol::Error::Overloaded { retry_after_secs: 1 }) => {}
        other => panic!("{other:?}"),
    }
    let arrivals = server.join().unwrap();
    assert!(
        arrivals[1] - arrivals[0] >= std::time::Duration::from_secs(1),
        "{:?}",
        arrivals[1] - arrivals[0]
    );
}

#[test]
fn a_wallet_with_large_coins_pays_a_small_amount_through_change_over_http() {
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 1100).unwrap();
    let (shop, _) = merchant(&api, bank.master_key());
    alice.withdraw(&api, 1024, &mut OsRng).unwrap();
    let account = |id: &faircash::keys::AccountId| bank.account(id).unwrap().balance;
    let total = account(&alice.account_id()) + alice.balance().unwrap();
    let req = shop.request_payment(100, [2; 32], &mut OsRng).unwrap();
    let (payment, exchanged) = alice.pay_with_change(&api, &req, &mut OsRng).unwrap();
    let exchanged = exchanged.expect("change was made over the network");
    assert_eq!((exchanged.value, exchanged.credited), (1024, 1024));
    shop.accept(&payment, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&api, &mut OsRng).unwrap().unwrap().credited, 100);
    assert_eq!(
        account(&alice.account_id()) + alice.balance().unwrap() + account(&shop.id()),
        total,
        "accounts + coins held conserved exactly"
    );
    assert_eq!(alice.balance().unwrap(), 924);
}

#[test]
fn the_withdrawal_listing_runs_over_http_and_its_limit_is_checked_on_decoding() {
    use faircash::protocol::account::{AccountOperation, AccountRequest};
    use faircash::protocol::withdraw::TranscriptState;
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let api = HttpBank::new(&[&server.url()]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 3).unwrap();
    alice.withdraw(&api, 3, &mut OsRng).unwrap();
    let listed = alice.list_withdrawals(&api, &mut OsRng, |_| {}).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| matches!(t.state, TranscriptState::Answered { .. })));
    // A limit of 0 is refused by the decoder: 400 invalid-field.
    let req = AccountRequest::new(
        alice.keys(),
        AccountOperation::ListWithdrawals { after: None, limit: 0 },
        &mut OsRng,
    );
    let path = format!("/v1/accounts/{}/requests", alice.account_id().to_hex());
    let (status, body) = raw(&server.url(), &path, Some("application/octet-stream"), req.to_bytes());
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("limit"));
}

/// A wallet of the recovery phrase `seed`, registered through `api`.
fn seeded_wallet(
    api: &dyn BankApi,
    master: faircash::encoding::Point,
    seed: &faircash::crypto::derive::WalletSeed,
) -> Wallet<MemoryWalletStore> {
    let mut w =
        Wallet::new(seed.account_keys(&master, 0), master, MemoryWalletStore::new(), Arc::new(SystemClock))
            .with_seed(seed)
            .unwrap();
    w.pin_keysets(&api.keysets().unwrap()).unwrap();
    trust_ttp_of(api, |s| w.anchors_mut().trust_ttp(s).map(drop));
    api.register_user(&w.registration(&mut OsRng)).unwrap();
    w
}

/// A database `fresh_database` made, dropped with this guard (declared
/// before the nodes serving it, so they stop first), also when a test fails.
struct FreshDatabase {
    base: String,
    url: String,
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let name = self.url.rsplit_once('/').unwrap().1;
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

#[test]
fn a_restore_and_a_sweep_over_two_nodes_match_the_local_bank() {
    use faircash::crypto::derive::RecoveryPhrase;
    let Some(base) = postgres_url() else { return };
    let c = Cli::new();
    let db = FreshDatabase { url: fresh_database(&base), base };
    let (a, b) = two_nodes_on(&c, &db.url);
    let api_a = HttpBank::new(&[&a.url]).unwrap();
    let api_b = HttpBank::new(&[&b.url]).unwrap();
    let m = master(&api_a);
    let seed = RecoveryPhrase::generate(&mut OsRng).seed();
    // Withdrawn through node A: 7 (4 + 2 + 1), an abandoned session, 8.
    let alice = seeded_wallet(&api_a, m, &seed);
    fund(&c, &alice.account_id(), 100);
    let mut coins = alice.withdraw(&api_a, 7, &mut OsRng).unwrap();
    let abandoned = alice.start_withdrawal(1, &mut OsRng).unwrap();
    api_a.open_withdrawal(&abandoned).unwrap();
    alice.abandon_withdrawal(&api_a, abandoned.session_id, &mut OsRng).unwrap();
    coins.push(alice.withdraw_one(&api_a, 8, &mut OsRng).unwrap());
    coins.sort();
    // Restored through node B, and through the bank directory itself (the
    // local mode, on the same database): the same coins, counters, counts.
    let restore = |api: &dyn BankApi| {
        let (_, r) = Wallet::restore(
            &seed,
            m,
            MemoryWalletStore::new(),
            Arc::new(SystemClock),
            api,
            &mut OsRng,
            |_| {},
        )
        .unwrap();
        let mut ids: Vec<_> = r.recovered.iter().map(|x| x.coin.id()).collect();
        ids.sort();
        (ids, r.counters.clone(), r.listed, r.open, r.ended, r.withheld.len(), r.unmatched.len())
    };
    let over_http = restore(&api_b);
    assert_eq!(over_http.0, coins, "every coin rebuilt through the other node");
    assert_eq!((over_http.2, over_http.4, over_http.5), (5, 1, 0));
    let local = faircash::cli::wallet::connect(c.path("bank").to_str().unwrap()).unwrap();
    assert_eq!(restore(&*local), over_http, "the same result as the local mode");
    drop(local);
    // A sweep through node B into a new phrase's wallet moves everything:
    // the 15 in coins and the 85 left on the account.
    let new_seed = RecoveryPhrase::generate(&mut OsRng).seed();
    let bob = seeded_wallet(&api_b, m, &new_seed);
    let swept = bob.sweep_from(&seed, &api_b, &mut OsRng, |_| {}).unwrap();
    assert_eq!((swept.paid_value, swept.credited, swept.fresh_value), (100, 100, 100), "{swept:?}");
    assert_eq!(bob.balance().unwrap(), 100);
    assert_eq!((balance(&c, &alice.account_id()), balance(&c, &bob.account_id())), (0, 0));
    // The old phrase, through node A, rebuilds none of the fresh coins.
    let (old_coins, ..) = restore(&api_a);
    assert!(swept.fresh.iter().all(|f| !old_coins.contains(f)));
    drop((a, b));
}

/// The spent lists and the unspent statement over HTTP (protocol §7.7):
/// every page of every key fetched and checked, a statement for the
/// wallet's coins checked against them, and typed errors for bad paths,
/// pages and bodies.
#[test]
fn spent_lists_and_unspent_statements_run_over_http() {
    use faircash::protocol::spent::{check_statement, UnspentQuery};
    use faircash::roles::wallet::{fetch_spent_lists, spent_list_keys};
    let bank = local_bank();
    let server = spawn(bank.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.url();
    let api = HttpBank::new(&[&url]).unwrap();
    let alice = wallet(&api, bank.master_key());
    bank.fund(&alice.account_id(), 10).unwrap();
    let (shop, _) = merchant(&api, bank.master_key());
    alice.withdraw(&api, 7, &mut OsRng).unwrap();
    let req = shop.request_payment(2, [0; 32], &mut OsRng).unwrap();
    let paid = alice.pay(&req, &mut OsRng).unwrap();
    shop.accept(&paid, &mut OsRng).unwrap();
    assert_eq!(shop.deposit(&api, &mut OsRng).unwrap().unwrap().credited, 2);
    let paid: Vec<_> = paid.coins.iter().map(|c| c.id()).collect();

    let keys = spent_list_keys(alice.keysets(), SystemClock.today());
    let lists = fetch_spent_lists(&api, &keys, &bank.master_key()).unwrap();
    assert_eq!(lists.pages.len(), keys.len(), "one page a key");
    assert!(paid.iter().all(|id| lists.find(id).is_some()));
    let coins: Vec<_> = alice.coins().unwrap().into_iter().map(|c| c.coin).collect();
    let ids: Vec<_> = coins.iter().map(|c| c.coin.id()).collect();
    let query = UnspentQuery::new(alice.keys(), &ids, &mut OsRng);
    let statement = api.unspent_statement(&query).unwrap();
    let key_of = |id: &faircash::coin::CoinId| {
        coins.iter().find(|c| c.coin.id() == *id).map(|c| (c.coin.body.keyset_id, c.value))
    };
    assert!(check_statement(&statement, &query, &lists, &bank.master_key(), key_of).unwrap().is_empty());
    assert_eq!(statement.unspent.len(), ids.len() - paid.len());
    assert!(statement.spent.iter().all(|e| paid.contains(&e.coin_id)));

    let get = |path: &str| {
        let r = reqwest::blocking::get(format!("{url}{path}")).unwrap();
        let status = r.status().as_u16();
        let body = r.bytes().unwrap();
        (status, serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error.code).unwrap_or_default())
    };
    let keyset = keys[0].0;
    assert_eq!(get(&format!("/v1/spent-lists/{keyset}/1/0")).0, 200);
    assert_eq!(get("/v1/spent-lists/zz/1/0"), (400, "bad-path".into()));
    assert_eq!(get(&format!("/v1/spent-lists/{keyset}/1/x")), (400, "bad-path".into()));
    assert_eq!(get(&format!("/v1/spent-lists/{keyset}/1/1")), (404, "no-such-page".into()));
    assert_eq!(get(&format!("/v1/spent-lists/{keyset}/3/0")), (422, "no-such-denomination".into()));
    assert_eq!(get(&format!("/v1/spent-lists/{}/1/0", "00".repeat(32))), (404, "unknown-keyset".into()));
    let (s, _) = raw(&url, "/v1/unspent-statements", Some(BINARY), vec![0xff; 40]);
    assert_eq!(s, 400);
    // A query signed by another key is refused.
    let other = UnspentQuery::new(&AccountKeys::generate(&mut OsRng), &ids, &mut OsRng);
    let forged = UnspentQuery { account: alice.account_id(), ..other };
    let (s, body) = raw(&url, "/v1/unspent-statements", Some(BINARY), forged.to_bytes());
    assert_eq!(s, 422, "{}", String::from_utf8_lossy(&body));
}
