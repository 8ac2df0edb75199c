//! A payment decoded from the input, verified by a merchant that issued its
//! request, under the test-vector keysets.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = faircash_fuzz::merchant_payment(data);
});
