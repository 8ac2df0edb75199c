//! A deposit request decoded from the input, deposited at one bank (memory
//! store, set up once from the test vectors). The first input byte chooses
//! whether the request is deposited as it is (even) or signed again by the
//! registered merchant first (odd), so changed payments reach the bank's
//! recording step.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = faircash_fuzz::bank_deposit(data);
});
