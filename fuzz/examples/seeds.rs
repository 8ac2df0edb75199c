//! Writes the seed corpora `fuzz/corpus/<target>/` from the test vectors
//! (specs/vectors/*.json): every message's binary encoding and JSON form,
//! every payment, every deposit request (as it is, and to be signed again),
//! and the negative vectors. Run from `fuzz/`:
//! `cargo run --release --example seeds`.

use std::path::{Path, PathBuf};

use serde_json::Value;

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

fn write(dir: &Path, target: &str, data: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus directory");
    // Named by content, like libFuzzer's own corpus files.
    let name: String = faircash_fuzz::content_name(data);
    std::fs::write(d.join(name), data).expect("seed file");
}

fn main() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = fuzz.join("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(fuzz.join("../specs/vectors"))
        .expect("specs/vectors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("JSON");
        let mut found = Vec::new();
        messages(&doc, &mut found);
        for (kind, bytes) in &found {
            write(&corpus, "decode_binary", bytes);
            for json in faircash_fuzz::json_forms(bytes) {
                write(&corpus, "decode_json", json.as_bytes());
            }
            match kind.as_str() {
                "payment" => write(&corpus, "merchant_payment", bytes),
                "deposit-request" => {
                    write(&corpus, "bank_deposit", &[[0u8].as_slice(), bytes].concat());
                    write(&corpus, "bank_deposit", &[[1u8].as_slice(), bytes].concat());
                }
                _ => {}
            }
        }
        for n in doc.get("decode").and_then(Value::as_array).into_iter().flatten() {
            match (n.get("hex"), n.get("json")) {
                (Some(Value::String(h)), _) => write(&corpus, "decode_binary", &hex::decode(h).expect("hex")),
                (_, Some(Value::String(j))) => write(&corpus, "decode_json", j.as_bytes()),
                _ => {}
            }
        }
    }
    for t in ["decode_binary", "decode_json", "merchant_payment", "bank_deposit"] {
        let n = std::fs::read_dir(corpus.join(t)).map(|d| d.count()).unwrap_or(0);
        println!("{t}: {n} seeds");
    }
}
