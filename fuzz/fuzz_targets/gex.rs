#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sshdiag_fuzz::run("gex", data));
