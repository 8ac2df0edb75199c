//! Every binary decoder on the same input: whatever decodes is canonical and
//! survives the JSON form.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = faircash_fuzz::decode_binary(data);
});
