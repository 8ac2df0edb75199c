//! Unlinkability: nothing the bank keeps of a withdrawal equals, or follows
//! by a public operation from, any value of the coin when it is spent (its
//! body, signature, spend responses and challenge, and the payment's range
//! proof and metadata); two coins of one user share no value; and no value
//! of a deposited spend appears anywhere in what the bank's SQLite and
//! PostgreSQL stores keep outside their deposit tables.
//!
//! "Public operations": negation; adding or subtracting a small multiple
//! (1 to 3) of a public point (the generators, the keys, the identities and
//! merchant keys the bank knows) or of a small integer; the sum or difference
//! of two values. Both sides are closed under one such step and the two
//! closures must be disjoint, so a relation of up to two steps (say
//! `c + d == omega + delta`, or `zeta1 == z1 + G`) is caught.
mod common;

use std::collections::HashMap;

use common::*;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use faircash::coin::Coin;
use faircash::coin::SpendResponses;
use faircash::params::Params;
use faircash::protocol::pay::{verify_payment, Payment};
use faircash::store::memory::MemoryBankStore;
use faircash::store::{BankStore, SessionState, WithdrawSession};
use rand::rngs::OsRng;

/// Named values of one view: group elements and scalars (closed under
/// public operations), and byte strings compared as they are.
#[derive(Default, Clone)]
struct View {
    points: Vec<(String, RistrettoPoint)>,
    scalars: Vec<(String, Scalar)>,
    bytes: Vec<(String, Vec<u8>)>,
}

impl View {
    fn point(&mut self, name: String, p: RistrettoPoint) {
        self.points.push((name, p));
    }
    fn scalar(&mut self, name: String, s: Scalar) {
        self.scalars.push((name, s));
    }
    fn bytes(&mut self, name: String, b: &[u8]) {
        self.bytes.push((name, b.to_vec()));
    }
    fn extend(&mut self, other: &View) {
        self.points.extend(other.points.iter().cloned());
        self.scalars.extend(other.scalars.iter().cloned());
        self.bytes.extend(other.bytes.iter().cloned());
    }
    /// Every value as bytes: compressed points, scalars, byte strings.
    fn raw(&self) -> Vec<(String, Vec<u8>)> {
        self.points
            .iter()
            .map(|(n, p)| (n.clone(), p.compress().to_bytes().to_vec()))
            .chain(self.scalars.iter().map(|(n, s)| (n.clone(), s.to_bytes().to_vec())))
            .chain(self.bytes.iter().cloned())
            .collect()
    }
}

/// What the bank stores for one withdrawal, plus `z1 = C + rnd·G`, `z2`.
fn bank_view(i: usize, s: &WithdrawSession, z: &RistrettoPoint) -> View {
    let g = Params::get().g.point();
    let mut v = View::default();
    let n = |f: &str| format!("withdrawal {i}: {f}");
    let req = &s.request;
    let cm = &s.commitment;
    let c = *req.commitment.point();
    let z1 = c + g * cm.rnd;
    v.point(n("C"), c);
    v.point(n("E_w1"), *req.escrow.c1.point());
    v.point(n("E_w2"), *req.escrow.c2.point());
    v.point(n("a"), *cm.a.point());
    v.point(n("b1"), *cm.b1.point());
    v.point(n("b2"), *cm.b2.point());
    v.point(n("z1"), z1);
    v.point(n("z2"), z - z1);
    for (j, t) in req.proof.commitments.iter().enumerate() {
        v.point(n(&format!("pi_W T{j}")), *t.point());
    }
    v.scalar(n("rnd"), cm.rnd);
    for (j, r) in req.proof.responses.iter().enumerate() {
        v.scalar(n(&format!("pi_W z{j}")), *r);
    }
    match &s.state {
        SessionState::Answered { answered, .. } => {
            let a = &answered.answer;
            v.scalar(n("e"), answered.e);
            v.scalar(n("c"), a.c);
            v.scalar(n("r"), a.r);
            v.scalar(n("s1"), a.s1);
            v.scalar(n("s2"), a.s2);
            v.scalar(n("d"), a.d);
        }
        other => panic!("withdrawal record not answered: {other:?}"),
    }
    v
}

/// What a payment adds to each of its coins: the aggregated range proof
/// (its points A, S, T1, T2 and the inner-product proof's L and R, its
/// scalars t_x, t_x_blinding, e_blinding, a, b), the request's nonce and
/// the payment digest; then, apart, the metadata every payment to that
/// merchant under that keyset shares (merchant id and key, order digest,
/// keyset id), which the merchant and the bank choose, not the payer.
fn payment_view(name: &str, p: &Payment) -> (View, View) {
    use curve25519_dalek::ristretto::CompressedRistretto;
    let mut v = View::default();
    let n = |f: &str| format!("{name}: {f}");
    let proof = p.range_proof.as_bytes();
    let point =
        |at: usize| CompressedRistretto::from_slice(&proof[at..at + 32]).unwrap().decompress().unwrap();
    let scalar = |at: usize| Scalar::from_canonical_bytes(proof[at..at + 32].try_into().unwrap()).unwrap();
    for (j, f) in ["A", "S", "T1", "T2"].iter().enumerate() {
        v.point(n(&format!("range proof {f}")), point(32 * j));
    }
    for (j, f) in ["t_x", "t_x_blinding", "e_blinding"].iter().enumerate() {
        v.scalar(n(&format!("range proof {f}")), scalar(128 + 32 * j));
    }
    let rounds = (proof.len() - 7 * 32 - 64) / 64;
    for k in 0..rounds {
        v.point(n(&format!("range proof L{k}")), point(224 + 64 * k));
        v.point(n(&format!("range proof R{k}")), point(224 + 64 * k + 32));
    }
    v.scalar(n("range proof a"), scalar(proof.len() - 64));
    v.scalar(n("range proof b"), scalar(proof.len() - 32));
    v.bytes(n("request nonce"), &p.request.nonce);
    v.bytes(n("payment digest"), &p.digest());
    let mut shared = View::default();
    shared.bytes(n("order digest"), &p.request.order_digest);
    shared.bytes(n("merchant id"), p.request.merchant_id.as_bytes());
    shared.point(n("merchant key"), *p.request.merchant_key.point());
    for c in &p.coins {
        shared.bytes(n("keyset id"), c.body.keyset_id.as_bytes());
    }
    (v, shared)
}

/// Every value of a spent coin: body, signature, spend responses, challenge.
fn coin_view(name: &str, coin: &Coin, resp: &SpendResponses, challenge: Scalar) -> View {
    let mut v = View::default();
    let n = |f: &str| format!("{name}: {f}");
    v.bytes(n("coin id"), coin.id().as_bytes());
    let b = &coin.body;
    v.point(n("S"), *b.serial.point());
    v.point(n("E1"), *b.escrow.c1.point());
    v.point(n("E2"), *b.escrow.c2.point());
    v.point(n("V"), *b.expiry_commitment.point());
    for (j, t) in b.spend_commitments.iter().enumerate() {
        v.point(n(&format!("T{}", j + 1)), *t.point());
    }
    let s = &coin.signature;
    v.point(n("zeta"), *s.zeta.point());
    v.point(n("zeta1"), *s.zeta1.point());
    v.point(n("zeta - zeta1"), s.zeta.point() - s.zeta1.point());
    v.point(n("alpha"), *s.alpha.point());
    v.point(n("beta1"), *s.beta1.point());
    v.point(n("beta2"), *s.beta2.point());
    v.point(n("eta"), *s.eta.point());
    for (f, x) in [
        ("rho", s.rho),
        ("omega", s.omega),
        ("sigma1", s.sigma1),
        ("sigma2", s.sigma2),
        ("delta", s.delta),
        ("mu", s.mu),
        ("spend challenge", challenge),
    ] {
        v.scalar(n(f), x);
    }
    let names = ["lambda", "r", "rnd", "u", "s", "t", "k", "r_t"];
    for (f, x) in names.iter().zip(resp.to_array()) {
        v.scalar(n(&format!("z_{f}")), x);
    }
    v
}

/// The view closed under one public operation, keyed by encoding.
struct Closure {
    points: HashMap<[u8; 32], String>,
    scalars: HashMap<[u8; 32], String>,
}

fn close(v: &View, publics: &[(String, RistrettoPoint)]) -> Closure {
    let mut points = HashMap::new();
    let mut put = |p: RistrettoPoint, d: String| {
        if p != RistrettoPoint::identity() {
            points.entry(p.compress().to_bytes()).or_insert(d);
        }
    };
    let multiples: Vec<(String, RistrettoPoint)> = publics
        .iter()
        .flat_map(|(n, p)| (1..=3u64).map(move |k| (format!("{k}·{n}"), p * Scalar::from(k))))
        .collect();
    for (i, (a, p)) in v.points.iter().enumerate() {
        put(*p, a.clone());
        put(-p, format!("-{a}"));
        for (m, q) in &multiples {
            put(p + q, format!("{a} + {m}"));
            put(p - q, format!("{a} - {m}"));
        }
        for (b, q) in &v.points[i..] {
            put(p + q, format!("{a} + {b}"));
            if a != b {
                put(p - q, format!("{a} - {b}"));
                put(q - p, format!("{b} - {a}"));
            }
        }
    }
    let mut scalars = HashMap::new();
    let mut put = |s: Scalar, d: String| {
        if s != Scalar::ZERO {
            scalars.entry(s.to_bytes()).or_insert(d);
        }
    };
    for (i, (a, x)) in v.scalars.iter().enumerate() {
        put(*x, a.clone());
        put(-x, format!("-{a}"));
        for k in 1..=3u64 {
            put(x + Scalar::from(k), format!("{a} + {k}"));
            put(x - Scalar::from(k), format!("{a} - {k}"));
        }
        for (b, y) in &v.scalars[i..] {
            put(x + y, format!("{a} + {b}"));
            if a != b {
                put(x - y, format!("{a} - {b}"));
                put(y - x, format!("{b} - {a}"));
            }
        }
    }
    Closure { points, scalars }
}

/// Every value of `a`'s closure that is also in `b`'s, described; plus any
/// raw 32-byte string shared between the two views (points and scalars alike).
fn links(a: &View, ca: &Closure, b: &View, cb: &Closure) -> Vec<String> {
    let mut out = Vec::new();
    for (k, d) in &ca.points {
        if let Some(e) = cb.points.get(k) {
            out.push(format!("point {d} == {e}"));
        }
    }
    for (k, d) in &ca.scalars {
        if let Some(e) = cb.scalars.get(k) {
            out.push(format!("scalar {d} == {e}"));
        }
    }
    let raw = |v: &View| -> HashMap<Vec<u8>, String> { v.raw().into_iter().map(|(n, b)| (b, n)).collect() };
    let rb = raw(b);
    for (k, d) in raw(a) {
        if let Some(e) = rb.get(&k) {
            out.push(format!("bytes of {d} == bytes of {e}"));
        }
    }
    out
}

struct Run<S: BankStore = MemoryBankStore> {
    world: World<S>,
    users: Vec<TestWallet>,
    merchants: Vec<TestMerchant>,
    /// Per spent coin: its owner (index into `users`), its payment (index),
    /// its own view, its view with what its payer made of the payment, and
    /// that with the payment's shared metadata too.
    coins: Vec<(usize, usize, View, View, View)>,
    bank: Vec<View>,
}

/// Several users withdraw coins of one denomination and spend them, some
/// alone and some together, at two merchants, who deposit them; the bank
/// keeps its state in `store`.
fn run_on<S: BankStore>(store: S) -> Run<S> {
    let w = World::on_store(store, faircash::roles::BankConfig::default());
    let users: Vec<TestWallet> = (0..3).map(|_| w.user(200)).collect();
    let merchants: Vec<TestMerchant> = (0..2).map(|_| w.merchant()).collect();
    let withdrawals = [3usize, 2, 1];
    for (u, n) in users.iter().zip(withdrawals) {
        for _ in 0..n {
            u.withdraw_one(&*w.bank, 8, &mut OsRng).unwrap();
        }
    }
    // user 0: 8 at merchant 0, 16 at merchant 1; user 1: 8 and 8;
    // user 2: 8 at merchant 0.
    let plan = [(0, 0, 8), (0, 1, 16), (1, 0, 8), (1, 1, 8), (2, 0, 8)];
    let mut payments: Vec<(usize, Payment)> = Vec::new();
    for (u, m, amount) in plan {
        let req = merchants[m].request_payment(amount, [0; 32], &mut OsRng).unwrap();
        let p = users[u].pay(&req, &mut OsRng).unwrap();
        merchants[m].accept(&p, &mut OsRng).unwrap();
        payments.push((u, p));
    }
    for m in &merchants {
        m.deposit(&*w.bank, &mut OsRng).unwrap().unwrap();
    }

    let keyset = w.keyset();
    let mut coins = Vec::new();
    for (pi, (u, p)) in payments.iter().enumerate() {
        // The challenges, as the bank recomputes them at deposit.
        let summary = verify_payment(p, &keyset, &mut OsRng).unwrap();
        let (made, shared) = payment_view(&format!("payment {pi}"), p);
        for (ci, coin) in p.coins.iter().enumerate() {
            let name = format!("payment {pi} coin {ci}");
            let own = coin_view(&name, coin, &p.responses[ci], summary.challenges[ci]);
            let mut spent = own.clone();
            spent.extend(&made);
            let mut all = spent.clone();
            all.extend(&shared);
            coins.push((*u, pi, own, spent, all));
        }
    }
    let z = *keyset.key_for_value(8).unwrap().z.point();
    let records = {
        let mut tx = w.bank.store().begin().unwrap();
        tx.withdrawal_records().unwrap()
    };
    let bank: Vec<View> = records.iter().enumerate().map(|(i, s)| bank_view(i, s, &z)).collect();
    assert_eq!(bank.len(), 6);
    assert_eq!(coins.len(), 6);
    Run { world: w, users, merchants, coins, bank }
}

fn run() -> Run {
    run_on(MemoryBankStore::new())
}

/// Every point the bank may add or subtract: generators, keys, identities,
/// merchant keys, and the day shift `D·B` of the payments' range proofs.
fn public_points<S: BankStore>(r: &Run<S>) -> Vec<(String, RistrettoPoint)> {
    let p = Params::get();
    let keyset = r.world.keyset();
    let key = keyset.key_for_value(8).unwrap();
    let mut out: Vec<(String, RistrettoPoint)> =
        p.named_generators().iter().map(|(n, q)| (n.to_string(), *q.point())).collect();
    out.push(("y_k".into(), *key.y.point()));
    out.push(("z_k".into(), *key.z.point()));
    out.push(("Y_T".into(), *keyset.ttp_key().point()));
    for (i, u) in r.users.iter().enumerate() {
        out.push((format!("I_{i}"), *u.user().identity().point()));
    }
    for (i, m) in r.merchants.iter().enumerate() {
        let key = r.world.bank.account(&m.id()).unwrap().public_key;
        out.push((format!("M_{i}"), *key.point()));
    }
    let day = faircash::time::Clock::today(&r.world.clock);
    out.push(("D·B".into(), p.g.point() * Scalar::from(u64::from(day.0))));
    out
}

#[test]
fn bank_view_of_a_withdrawal_shares_nothing_with_the_spent_coin() {
    let r = run();
    let publics = public_points(&r);

    // Every bank view against every coin, one pair at a time ...
    let bank_closures: Vec<Closure> = r.bank.iter().map(|v| close(v, &publics)).collect();
    let coin_closures: Vec<Closure> = r.coins.iter().map(|(_, _, _, _, v)| close(v, &publics)).collect();
    let mut found = Vec::new();
    for (bv, bc) in r.bank.iter().zip(&bank_closures) {
        for ((_, _, _, _, cv), cc) in r.coins.iter().zip(&coin_closures) {
            found.extend(links(bv, bc, cv, cc));
        }
    }
    // ... and all of them at once (sums across withdrawals and coins).
    let mut all_bank = View::default();
    r.bank.iter().for_each(|v| all_bank.extend(v));
    let mut all_coins = View::default();
    r.coins.iter().for_each(|(_, _, _, _, v)| all_coins.extend(v));
    let (ab, ac) = (close(&all_bank, &publics), close(&all_coins, &publics));
    found.extend(links(&all_bank, &ab, &all_coins, &ac));
    assert!(found.is_empty(), "bank view links to coins: {found:#?}");

    // The check does see a link where there is one: a "coin" whose zeta1 is
    // the bank's z1 plus G, or whose omega + delta is the bank's c + d.
    let b0 = &r.bank[0];
    let z1 = b0.points.iter().find(|(n, _)| n.ends_with(": z1")).unwrap().1;
    let get = |f: &str| b0.scalars.iter().find(|(n, _)| n.ends_with(f)).unwrap().1;
    let mut leaky = View::default();
    leaky.point("zeta1".into(), z1 + Params::get().g.point());
    leaky.scalar("omega".into(), get(": c") + Scalar::from(5u64));
    leaky.scalar("delta".into(), get(": d") - Scalar::from(5u64));
    let lc = close(&leaky, &publics);
    let hits = links(b0, &bank_closures[0], &leaky, &lc);
    assert!(hits.iter().any(|h| h.contains("zeta1")), "{hits:?}");
    assert!(hits.iter().any(|h| h.contains("omega + delta")), "{hits:?}");
}

#[test]
fn two_coins_of_one_user_share_no_value() {
    let r = run();
    let publics = public_points(&r);
    // Coins spent in different payments are compared with their payments'
    // range proofs and metadata; two coins of one payment share that
    // payment by construction, so they are compared as coins.
    let own: Vec<Closure> = r.coins.iter().map(|(_, _, v, _, _)| close(v, &publics)).collect();
    let spent: Vec<Closure> = r.coins.iter().map(|(_, _, _, v, _)| close(v, &publics)).collect();
    let (mut apart, mut together) = (0, 0);
    for i in 0..r.coins.len() {
        for j in i + 1..r.coins.len() {
            let ((ui, pi, oi, si, _), (uj, pj, oj, sj, _)) = (&r.coins[i], &r.coins[j]);
            if ui != uj {
                continue;
            }
            let found = if pi == pj {
                together += 1;
                links(oi, &own[i], oj, &own[j])
            } else {
                apart += 1;
                links(si, &spent[i], sj, &spent[j])
            };
            assert!(found.is_empty(), "coins {i} and {j} of one user: {found:#?}");
        }
    }
    // user 0 has three coins, two of them in one payment (1 pair together,
    // 2 apart); user 1 two coins in two payments (1 pair apart).
    assert_eq!((apart, together), (3, 1));
    // The check does see what two payments could share: the same range
    // proof, or the same request nonce.
    let (mut a, mut b) = (View::default(), View::default());
    let pa = r.coins.iter().find(|c| c.1 == 0).unwrap();
    let pa_view = &pa.3;
    assert!(!pa_view.bytes.iter().any(|(n, _)| n.ends_with("keyset id")));
    a.extend(pa_view);
    let nonce = pa_view.bytes.iter().find(|(n, _)| n.ends_with("request nonce")).unwrap().1.clone();
    let t_x = pa_view.scalars.iter().find(|(n, _)| n.ends_with("range proof t_x")).unwrap().1;
    b.bytes("nonce again".into(), &nonce);
    b.scalar("t_x again".into(), t_x);
    let hits = links(&a, &close(&a, &publics), &b, &close(&b, &publics));
    assert!(hits.iter().any(|h| h.contains("request nonce")), "{hits:?}");
    assert!(hits.iter().any(|h| h.contains("range proof t_x")), "{hits:?}");
}

// ---------------------------------------------------------------------------
// The bank's whole stored state, as its databases hold it.
// ---------------------------------------------------------------------------

/// The tables a deposit writes: everything else a bank store keeps
/// (accounts, sessions, keysets, the epoch, the watch list, and any table
/// added later) is the bank's view of withdrawals and must hold no value of
/// a deposited spend.
const DEPOSIT_TABLES: &[&str] = &["payments", "spent_coins", "deposit_receipts", "evidence"];

/// One stored cell: table, column, and its bytes (a blob as it is, an
/// integer as its 8 little-endian bytes, text as its UTF-8 bytes).
type Cell = (String, String, Vec<u8>);

/// Every cell of every table of a SQLite database.
fn sqlite_cells(path: &std::path::Path) -> Vec<Cell> {
    use rusqlite::types::ValueRef;
    let c = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = st.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for (i, col) in names.iter().enumerate() {
                let bytes = match row.get_ref(i).unwrap() {
                    ValueRef::Null => continue,
                    ValueRef::Integer(n) => n.to_le_bytes().to_vec(),
                    ValueRef::Real(f) => f.to_le_bytes().to_vec(),
                    ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
                };
                out.push((t.clone(), col.clone(), bytes));
            }
        }
    }
    out
}

/// Every cell of every table of a PostgreSQL schema.
fn postgres_cells(url: &str, schema: &str) -> Vec<Cell> {
    use postgres::types::Type;
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let tables: Vec<String> = c
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1", &[&schema])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for t in tables {
        for row in c.query(&format!("SELECT * FROM {schema}.{t}"), &[]).unwrap() {
            for (i, col) in row.columns().iter().enumerate() {
                let ty = col.type_().clone();
                let bytes: Option<Vec<u8>> = if ty == Type::BYTEA {
                    row.get(i)
                } else if ty == Type::INT8 {
                    row.get::<_, Option<i64>>(i).map(|n| n.to_le_bytes().to_vec())
                } else if ty == Type::INT4 {
                    row.get::<_, Option<i32>>(i).map(|n| i64::from(n).to_le_bytes().to_vec())
                } else if ty == Type::INT2 {
                    row.get::<_, Option<i16>>(i).map(|n| i64::from(n).to_le_bytes().to_vec())
                } else if ty == Type::TEXT || ty == Type::VARCHAR {
                    row.get::<_, Option<String>>(i).map(String::into_bytes)
                } else if ty == Type::BOOL {
                    row.get::<_, Option<bool>>(i).map(|b| vec![u8::from(b)])
                } else {
                    panic!("{t}.{}: column type {ty} is not read by this test; add it", col.name());
                };
                if let Some(b) = bytes {
                    out.push((t.clone(), col.name().to_string(), b));
                }
            }
        }
    }
    out
}

/// Where `value` occurs in `cells`, as raw bytes or as hex text.
fn occurrences<'a>(cells: &'a [Cell], value: &[u8]) -> Vec<&'a Cell> {
    let hex = hex::encode(value).into_bytes();
    cells
        .iter()
        .filter(|(_, _, b)| {
            b.windows(value.len()).any(|w| w == value) || b.windows(hex.len()).any(|w| w == hex)
        })
        .collect()
}

/// Runs the lifecycle on `store`, reads every cell `cells` gives after it,
/// and checks that no value of any deposited spend (the coin's body,
/// signature, responses and challenge, its id, the payment's range proof,
/// nonce and digest) occurs outside the deposit tables. The metadata every
/// payment to a merchant shares (its id and key, the order digest, the
/// keyset id) is left out: the merchant is a registered account, the keyset
/// public. As a control, every one of those values is found in the deposit
/// tables, so the search sees these encodings.
fn stored_withdrawals_hold_no_value_of_a_spend<S: BankStore>(store: S, cells: impl FnOnce() -> Vec<Cell>) {
    let r = run_on(store);
    let cells = cells();
    let (deposit, withdrawal): (Vec<Cell>, Vec<Cell>) =
        cells.into_iter().partition(|(t, _, _)| DEPOSIT_TABLES.contains(&t.as_str()));
    assert!(withdrawal.iter().any(|(t, _, _)| t == "sessions"), "the withdrawal records were read");
    let mut checked = 0;
    for (_, _, _, view, _) in &r.coins {
        for (name, value) in view.raw() {
            let found: Vec<String> =
                occurrences(&withdrawal, &value).iter().map(|(t, c, _)| format!("{t}.{c}")).collect();
            assert!(found.is_empty(), "{name} is stored in {found:?}");
            // (A derived value, `zeta - zeta1`, is stored by its parts.)
            assert!(
                !occurrences(&deposit, &value).is_empty() || name.contains(" - "),
                "{name}: not found in the deposit tables either"
            );
            checked += 1;
        }
    }
    assert!(checked > 6 * 40, "{checked} values checked");
    // The withdrawal side does hold the withdrawals (the search finds what
    // is there): every attribute commitment C.
    for v in &r.bank {
        let c = v.points.iter().find(|(n, _)| n.ends_with(": C")).unwrap().1;
        assert!(!occurrences(&withdrawal, &c.compress().to_bytes()).is_empty(), "C not found");
    }
}

#[test]
fn the_sqlite_store_holds_no_value_of_a_spend_outside_its_deposit_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let store = faircash::store::sqlite::SqliteBankStore::open(&path).unwrap();
    stored_withdrawals_hold_no_value_of_a_spend(store, || sqlite_cells(&path));
}

#[test]
fn the_postgres_store_holds_no_value_of_a_spend_outside_its_deposit_tables() {
    let Some(url) = postgres_url("the PostgreSQL store") else { return };
    let schema = format!("unlink_{}", std::process::id());
    let store = faircash::store::postgres::PostgresBankStore::open_in_schema(&url, Some(&schema)).unwrap();
    stored_withdrawals_hold_no_value_of_a_spend(store, || postgres_cells(&url, &schema));
}
