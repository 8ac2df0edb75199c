//! Unlinkability: nothing the bank keeps of a withdrawal equals, or follows
//! by a public operation from, any value of the coin when it is spent; and
//! two coins of one user share no value.
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
use faircash::store::{BankStore, SessionState, WithdrawSession};
use rand::rngs::OsRng;

/// Named values of one view.
#[derive(Default, Clone)]
struct View {
    points: Vec<(String, RistrettoPoint)>,
    scalars: Vec<(String, Scalar)>,
}

impl View {
    fn point(&mut self, name: String, p: RistrettoPoint) {
        self.points.push((name, p));
    }
    fn scalar(&mut self, name: String, s: Scalar) {
        self.scalars.push((name, s));
    }
    fn extend(&mut self, other: &View) {
        self.points.extend(other.points.iter().cloned());
        self.scalars.extend(other.scalars.iter().cloned());
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

/// Every value of a spent coin: body, signature, spend responses, challenge.
fn coin_view(name: &str, coin: &Coin, resp: &SpendResponses, challenge: Scalar) -> View {
    let mut v = View::default();
    let n = |f: &str| format!("{name}: {f}");
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
    let raw = |v: &View| -> HashMap<[u8; 32], String> {
        v.points
            .iter()
            .map(|(n, p)| (p.compress().to_bytes(), n.clone()))
            .chain(v.scalars.iter().map(|(n, s)| (s.to_bytes(), n.clone())))
            .collect()
    };
    let rb = raw(b);
    for (k, d) in raw(a) {
        if let Some(e) = rb.get(&k) {
            out.push(format!("bytes of {d} == bytes of {e}"));
        }
    }
    out
}

struct Run {
    world: World,
    users: Vec<TestWallet>,
    merchants: Vec<TestMerchant>,
    /// Per spent coin: its owner (index into `users`) and its view.
    coins: Vec<(usize, View)>,
    bank: Vec<View>,
}

/// Several users withdraw coins of one denomination and spend them, some
/// alone and some together, at two merchants, who deposit them.
fn run() -> Run {
    let w = World::new();
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
        for (ci, coin) in p.coins.iter().enumerate() {
            let name = format!("payment {pi} coin {ci}");
            let view = coin_view(&name, coin, &p.responses[ci], summary.challenges[ci]);
            coins.push((*u, view));
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

/// Every point the bank may add or subtract: generators, keys, identities.
fn public_points(r: &Run) -> Vec<(String, RistrettoPoint)> {
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
    out
}

#[test]
fn bank_view_of_a_withdrawal_shares_nothing_with_the_spent_coin() {
    let r = run();
    let publics = public_points(&r);

    // Every bank view against every coin, one pair at a time ...
    let bank_closures: Vec<Closure> = r.bank.iter().map(|v| close(v, &publics)).collect();
    let coin_closures: Vec<Closure> = r.coins.iter().map(|(_, v)| close(v, &publics)).collect();
    let mut found = Vec::new();
    for (bv, bc) in r.bank.iter().zip(&bank_closures) {
        for ((_, cv), cc) in r.coins.iter().zip(&coin_closures) {
            found.extend(links(bv, bc, cv, cc));
        }
    }
    // ... and all of them at once (sums across withdrawals and coins).
    let mut all_bank = View::default();
    r.bank.iter().for_each(|v| all_bank.extend(v));
    let mut all_coins = View::default();
    r.coins.iter().for_each(|(_, v)| all_coins.extend(v));
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
    let closures: Vec<Closure> = r.coins.iter().map(|(_, v)| close(v, &publics)).collect();
    let mut pairs = 0;
    for i in 0..r.coins.len() {
        for j in i + 1..r.coins.len() {
            if r.coins[i].0 != r.coins[j].0 {
                continue;
            }
            pairs += 1;
            let found = links(&r.coins[i].1, &closures[i], &r.coins[j].1, &closures[j]);
            assert!(found.is_empty(), "coins {i} and {j} of one user: {found:#?}");
        }
    }
    // user 0 has three coins (3 pairs), user 1 two (1 pair).
    assert_eq!(pairs, 4);
}
