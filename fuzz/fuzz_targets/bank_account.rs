//! An account request decoded from the input, sent to a bank of its own
//! (memory store, set up from the test vectors, its users registered, the
//! second one funded).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = faircash_fuzz::bank_account(data);
});
