//! Every JSON decoder on the same text: whatever decodes survives the
//! binary form and its own JSON form.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = faircash_fuzz::decode_json(text);
    }
});
