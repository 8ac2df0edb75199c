//! Writes the seed corpora `fuzz/corpus/<target>/` from the test vectors
//! (`faircash_fuzz::seeds`: every message's binary encoding and JSON form,
//! every payment, every deposit request (as it is, and to be signed again),
//! every deposit receipt, and the negative vectors). Run from `fuzz/`:
//! `cargo run --release --example seeds`.

use std::path::PathBuf;

fn main() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, inputs) in faircash_fuzz::seeds() {
        let d = corpus.join(target);
        std::fs::create_dir_all(&d).expect("corpus directory");
        for data in &inputs {
            // Named by content, like libFuzzer's own corpus files.
            std::fs::write(d.join(faircash_fuzz::content_name(data)), data).expect("seed file");
        }
        println!("{target}: {} seeds", inputs.len());
    }
}
