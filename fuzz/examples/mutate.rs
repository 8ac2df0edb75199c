//! Runs each fuzz target's body for a fixed time on mutations of its seeds,
//! without libFuzzer: what CI runs (`.ci/fuzz.sh`), so that every target is
//! built and exercised on every change. Coverage-guided runs are
//! `cargo fuzz run` (README.md).
//!
//! `cargo run --release -p faircash-fuzz --no-default-features --example mutate -- TARGET SECONDS [SEED]`
//! (`--list` prints the targets).
//!
//! Mutations, drawn from a seeded generator (the seed is printed, and
//! `SEED` replays a run): flip bits, set bytes, insert, delete or repeat a
//! run of bytes, and splice in a piece of another seed, one to eight of
//! them per input. A target that panics leaves its input in
//! `fuzz/artifacts/<target>/` (reproduce it with `cargo fuzz run`) and the
//! run exits with status 1.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

fn mutate(rng: &mut ChaCha20Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..1 + below(rng, 8) {
        let len = input.len();
        match below(rng, 6) {
            0 if len > 0 => {
                let i = below(rng, len);
                input[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                input[i] = rng.next_u32() as u8;
            }
            2 => {
                let at = below(rng, len + 1);
                let n = 1 + below(rng, 32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u32() as u8).collect();
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = below(rng, len);
                let n = 1 + below(rng, (len - at).min(64));
                input.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = below(rng, len);
                let n = 1 + below(rng, (len - at).min(64));
                let piece = input[at..at + n].to_vec();
                let to = below(rng, input.len() + 1);
                input.splice(to..to, piece);
            }
            _ => {
                let other = &seeds[below(rng, seeds.len())];
                if other.is_empty() {
                    continue;
                }
                let from = below(rng, other.len());
                let n = 1 + below(rng, (other.len() - from).min(256));
                let at = below(rng, input.len() + 1);
                let end = (at + n).min(input.len());
                input.splice(at..end, other[from..from + n].iter().copied());
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: mutate TARGET SECONDS [SEED] | mutate --list";
    if args.get(1).map(String::as_str) == Some("--list") {
        faircash_fuzz::TARGETS.iter().for_each(|(n, _)| println!("{n}"));
        return;
    }
    let name = args.get(1).expect(usage);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let seed: u64 = match args.get(3) {
        Some(s) => s.parse().expect(usage),
        None => rand_core::OsRng.next_u64(),
    };
    let (_, body) = faircash_fuzz::TARGETS.iter().find(|(n, _)| n == name).unwrap_or_else(|| {
        let names: Vec<&str> = faircash_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        panic!("no target {name}; targets: {}", names.join(", "))
    });
    let seeds = faircash_fuzz::seeds().remove(name.as_str()).unwrap_or_default();
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    // Quiet panics: a crash is reported below, with its input.
    std::panic::set_hook(Box::new(|_| {}));
    let run = |data: &[u8]| catch_unwind(AssertUnwindSafe(|| body(data)));
    let crash = |data: &[u8], why: String| -> ! {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(name);
        std::fs::create_dir_all(&dir).expect("artifacts directory");
        let file = dir.join(format!("crash-{}", faircash_fuzz::content_name(data)));
        std::fs::write(&file, data).expect("crash input");
        eprintln!("{name}: crash (seed {seed}): {why}; input in {}", file.display());
        std::process::exit(1);
    };
    let message = |e: Box<dyn std::any::Any + Send>| {
        e.downcast_ref::<String>()
            .cloned()
            .or(e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    // Every seed as it is first (some must go all the way: decode, be
    // accepted, credit), then mutants until the time is up.
    let mut through = 0u64;
    for s in &seeds {
        match run(s) {
            Ok(went) => through += u64::from(went),
            Err(e) => crash(s, message(e)),
        }
    }
    if through == 0 {
        eprintln!(
            "{name}: no seed goes all the way through the target (is the world of the vectors broken?)"
        );
        std::process::exit(1);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = seeds.len() as u64;
    while Instant::now() < deadline {
        let mut input = seeds[below(&mut rng, seeds.len())].clone();
        mutate(&mut rng, &mut input, &seeds);
        match run(&input) {
            Ok(went) => through += u64::from(went),
            Err(e) => crash(&input, message(e)),
        }
        runs += 1;
    }
    println!("{name}: {runs} inputs in {seconds} s, {through} all the way through, no crash (seed {seed})");
}
