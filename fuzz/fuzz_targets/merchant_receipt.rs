//! A deposit receipt decoded from the input, checked by a merchant against
//! the test vectors' deposit request: only the bank's own receipt is
//! recorded.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = faircash_fuzz::merchant_receipt(data);
});
