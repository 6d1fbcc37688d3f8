#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| framechain_fuzz_harness::event_body(data));
