//! A bounded load generator for `faircash bank serve`.
//!
//! Registers users and merchants over HTTP, funds the users through the
//! bank's directory (as `faircash bank fund` does), then runs `--clients`
//! concurrent clients for a fixed amount of work, in three phases:
//!
//! 1. **withdrawals**: `--withdrawals` coins of value 1, each the two round
//!    trips of one withdrawal (`Wallet::withdraw_one` over `HttpBank`);
//! 2. off-line payments (not timed: no bank involved): `--payments-per-deposit`
//!    × `--coins-per-payment` coins per deposit request, made by the wallets;
//! 3. **deposits**: `--deposits` signed deposit requests.
//!
//! It prints the throughput (coins per second over the phase's wall time)
//! and the latency percentiles of one withdrawal and of one deposit request.
//!
//! ```sh
//! faircash bank serve --dir bank --listen 127.0.0.1:8080 &
//! cargo run --release --example load -- --bank http://127.0.0.1:8080 --bank-dir bank
//! ```
//!
//! `--cpu-probe CMD` runs `CMD <mark>` (through `sh -c`, with the
//! generator's process id in `FAIRCASH_LOAD_PID`) just before and just after
//! each timed phase, outside its wall time, with the marks
//! `withdrawals-start`, `withdrawals-end`, `deposits-start` and
//! `deposits-end`: `scripts/load.sh` reads the CPU time of the generator,
//! the nodes and the database there.
//!
//! Several nodes: `--bank http://127.0.0.1:8080,http://127.0.0.1:8081`;
//! client `i` sends to node `i mod n` first (and fails over to the others).
//! `scripts/load.sh` runs the configurations of BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use faircash::crypto::schnorr::SigningKey;
use faircash::http::client::HttpBank;
use faircash::keys::{merchant_account_id, AccountId, AccountKeys};
use faircash::protocol::deposit::DepositRequest;
use faircash::protocol::pay::{order_digest, Payment, PaymentRequest};
use faircash::protocol::register::MerchantRegistration;
use faircash::roles::{BankApi, Wallet};
use faircash::store::memory::MemoryWalletStore;
use faircash::time::{Clock, SystemClock};
use rand::rngs::OsRng;

#[derive(Parser, Debug, Clone)]
#[command(about = "Bounded load generator for `faircash bank serve`")]
struct Args {
    /// Bank node URLs, comma-separated.
    #[arg(long)]
    bank: String,
    /// The bank's directory (to fund the users' accounts).
    #[arg(long)]
    bank_dir: PathBuf,
    /// Users to register.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Merchants to register.
    #[arg(long, default_value_t = 4)]
    merchants: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Coins to withdraw (value 1 each), over all clients.
    #[arg(long, default_value_t = 1024)]
    withdrawals: usize,
    /// Deposit requests, over all clients.
    #[arg(long, default_value_t = 32)]
    deposits: usize,
    /// Payments per deposit request.
    #[arg(long, default_value_t = 4)]
    payments_per_deposit: usize,
    /// Coins per payment.
    #[arg(long, default_value_t = 8)]
    coins_per_payment: usize,
    /// A label for the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON line instead of the text report.
    #[arg(long)]
    json: bool,
    /// A command run with a mark as its argument before and after each
    /// timed phase (outside its wall time).
    #[arg(long)]
    cpu_probe: Option<String>,
}

/// Runs the CPU probe, if any, with `mark`; fails if it fails.
fn probe(args: &Args, mark: &str) -> Result<(), Error> {
    let Some(cmd) = &args.cpu_probe else { return Ok(()) };
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} {mark}"))
        .env("FAIRCASH_LOAD_PID", std::process::id().to_string())
        .status()?;
    if !status.success() {
        return Err(format!("the CPU probe failed at {mark}: {status}").into());
    }
    Ok(())
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Latency percentiles of a phase.
struct Phase {
    wall: Duration,
    ops: usize,
    coins: usize,
    /// Sorted.
    latencies: Vec<Duration>,
}

impl Phase {
    fn new(wall: Duration, coins: usize, mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        Phase { wall, ops: latencies.len(), coins, latencies }
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * (self.latencies.len() as f64 - 1.0)).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }
    fn coins_per_sec(&self) -> f64 {
        self.coins as f64 / self.wall.as_secs_f64()
    }
}

/// One client's bank: the nodes in an order starting at node `i`.
fn bank_for(urls: &[String], i: usize) -> Result<HttpBank, Error> {
    let order: Vec<&str> = (0..urls.len()).map(|k| urls[(i + k) % urls.len()].as_str()).collect();
    Ok(HttpBank::new(&order)?)
}

struct MerchantKey {
    key: SigningKey,
    id: AccountId,
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let urls: Vec<String> =
        args.bank.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let coins_needed = args.deposits * args.payments_per_deposit * args.coins_per_payment;
    if args.withdrawals < coins_needed {
        return Err(format!(
            "--withdrawals {} < the {coins_needed} coins the deposits need",
            args.withdrawals
        )
        .into());
    }
    if args.users < args.clients || args.clients == 0 {
        return Err("need at least one user per client".into());
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let setup_bank = bank_for(&urls, 0)?;
    let local = faircash::cli::bank::BankHome::new(&args.bank_dir).open()?;
    let master = local.master_key();
    let keysets = setup_bank.keysets()?;
    let statements = setup_bank.ttp_statements()?;

    // Users, registered over HTTP and funded for their share of coins.
    let per_user = args.withdrawals.div_ceil(args.users) as u64;
    let mut wallets = Vec::with_capacity(args.users);
    for _ in 0..args.users {
        let mut w =
            Wallet::new(AccountKeys::generate(&mut OsRng), master, MemoryWalletStore::new(), clock.clone());
        w.pin_keysets(&keysets)?;
        // A load generator trusts the TTP key statements its bank publishes;
        // a real wallet pins the TTP's own file (`wallet trust-ttp`).
        for s in &statements {
            w.anchors_mut().trust_ttp(s)?;
        }
        let id = setup_bank.register_user(&w.registration(&mut OsRng))?;
        local.fund(&id, per_user)?;
        wallets.push(w);
    }
    drop(local);
    let merchants: Arc<Vec<MerchantKey>> = Arc::new(
        (0..args.merchants.max(1))
            .map(|_| {
                let key = SigningKey::generate(&mut OsRng);
                setup_bank.register_merchant(&MerchantRegistration::new(&key, &mut OsRng))?;
                let id = merchant_account_id(key.public());
                Ok(MerchantKey { key, id })
            })
            .collect::<Result<_, Error>>()?,
    );

    // Client `c` owns the users with index = c (mod clients).
    let mut owned: Vec<Vec<Wallet<MemoryWalletStore>>> = (0..args.clients).map(|_| Vec::new()).collect();
    for (i, w) in wallets.into_iter().enumerate() {
        owned[i % args.clients].push(w);
    }
    let share = |total: usize, c: usize| total / args.clients + usize::from(c < total % args.clients);

    // Phase 1: withdrawals.
    probe(&args, "withdrawals-start")?;
    let start = Instant::now();
    let handles: Vec<_> = owned
        .into_iter()
        .enumerate()
        .map(|(c, wallets)| {
            let bank = bank_for(&urls, c);
            let n = share(args.withdrawals, c);
            thread::spawn(move || -> Result<(Vec<Wallet<MemoryWalletStore>>, Vec<Duration>), Error> {
                let bank = bank?;
                let mut lat = Vec::with_capacity(n);
                for i in 0..n {
                    let t = Instant::now();
                    wallets[i % wallets.len()].withdraw_one(&bank, 1, &mut OsRng)?;
                    lat.push(t.elapsed());
                }
                Ok((wallets, lat))
            })
        })
        .collect();
    let mut owned = Vec::new();
    let mut lat = Vec::new();
    for h in handles {
        let (w, l) = h.join().map_err(|_| "client panicked")??;
        owned.push(w);
        lat.extend(l);
    }
    let withdrawals = Phase::new(start.elapsed(), lat.len(), lat);
    probe(&args, "withdrawals-end")?;

    // Phase 2: payments, off-line (not timed).
    let prepared: Vec<Vec<DepositRequest>> = thread::scope(|s| {
        let handles: Vec<_> = owned
            .iter()
            .enumerate()
            .map(|(c, wallets)| {
                let merchants = merchants.clone();
                let clock = clock.clone();
                let n = share(args.deposits, c);
                let (p, k) = (args.payments_per_deposit, args.coins_per_payment);
                s.spawn(move || -> Result<Vec<DepositRequest>, Error> {
                    let mut requests = Vec::with_capacity(n);
                    let mut next = 0usize;
                    for d in 0..n {
                        let m = &merchants[(c + d * args.clients) % merchants.len()];
                        let mut payments: Vec<Payment> = Vec::with_capacity(p);
                        for _ in 0..p {
                            // The next wallet with k unspent coins.
                            let mut tries = 0;
                            let w = loop {
                                let w = &wallets[next % wallets.len()];
                                next += 1;
                                if w.balance()? >= k as u64 {
                                    break w;
                                }
                                tries += 1;
                                if tries > wallets.len() {
                                    return Err("not enough coins for the payments".into());
                                }
                            };
                            let req = PaymentRequest::new(
                                m.id,
                                *m.key.public(),
                                k as u64,
                                clock.today(),
                                order_digest(b"load"),
                                &mut OsRng,
                            );
                            payments.push(w.pay(&req, &mut OsRng)?);
                        }
                        requests.push(DepositRequest::new(&m.key, m.id, payments, &mut OsRng));
                    }
                    Ok(requests)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| Error::from("client panicked"))?)
            .collect::<Result<Vec<_>, Error>>()
    })?;

    // Phase 3: deposits.
    probe(&args, "deposits-start")?;
    let start = Instant::now();
    let handles: Vec<_> = prepared
        .into_iter()
        .enumerate()
        .map(|(c, requests)| {
            let bank = bank_for(&urls, c);
            thread::spawn(move || -> Result<(Vec<Duration>, usize), Error> {
                let bank = bank?;
                let mut lat = Vec::with_capacity(requests.len());
                let mut coins = 0;
                for r in &requests {
                    let t = Instant::now();
                    let receipt = bank.deposit(r)?;
                    lat.push(t.elapsed());
                    if receipt.credited != r.coin_count() as u64 {
                        return Err(
                            format!("credited {} of {} coins", receipt.credited, r.coin_count()).into()
                        );
                    }
                    coins += r.coin_count();
                }
                Ok((lat, coins))
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut coins = 0;
    for h in handles {
        let (l, n) = h.join().map_err(|_| "client panicked")??;
        lat.extend(l);
        coins += n;
    }
    let deposits = Phase::new(start.elapsed(), coins, lat);
    probe(&args, "deposits-end")?;

    if args.json {
        let phase = |p: &Phase| {
            serde_json::json!({
                "ops": p.ops, "coins": p.coins, "wall_s": p.wall.as_secs_f64(),
                "coins_per_s": p.coins_per_sec(),
                "p50_ms": p.percentile(50.0), "p90_ms": p.percentile(90.0), "p99_ms": p.percentile(99.0),
            })
        };
        let out = serde_json::json!({
            "label": args.label, "nodes": urls.len(), "clients": args.clients, "users": args.users,
            "merchants": args.merchants, "coins_per_payment": args.coins_per_payment,
            "payments_per_deposit": args.payments_per_deposit,
            "withdrawals": phase(&withdrawals), "deposits": phase(&deposits),
        });
        println!("{out}");
    } else {
        println!(
            "{} node(s), {} clients, {} users, {} merchants{}",
            urls.len(),
            args.clients,
            args.users,
            args.merchants,
            if args.label.is_empty() { String::new() } else { format!(" ({})", args.label) }
        );
        println!(
            "withdrawals: {} coins in {:.2} s = {:.0} coins/s; latency per coin p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            withdrawals.coins,
            withdrawals.wall.as_secs_f64(),
            withdrawals.coins_per_sec(),
            withdrawals.percentile(50.0),
            withdrawals.percentile(90.0),
            withdrawals.percentile(99.0)
        );
        println!(
            "deposits: {} requests of {} coins ({} payments of {}) in {:.2} s = {:.0} coins/s; latency per request p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            deposits.ops,
            args.payments_per_deposit * args.coins_per_payment,
            args.payments_per_deposit,
            args.coins_per_payment,
            deposits.wall.as_secs_f64(),
            deposits.coins_per_sec(),
            deposits.percentile(50.0),
            deposits.percentile(90.0),
            deposits.percentile(99.0)
        );
    }
    Ok(())
}
