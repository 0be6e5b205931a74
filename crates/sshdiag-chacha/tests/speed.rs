//! The cipher's speed in the browser, against ring's, on the bulk path's packet size (one
//! 32 KiB channel data packet). A measurement, not a check: built only with the crate's `speed`
//! feature, so no test run includes it. To measure, run `cargo test -p sshdiag-chacha --features
//! speed --target wasm32-unknown-unknown --profile wasm-release --test speed -- --nocapture`
//! with the environment of `cargo xtask test`'s browser tier (`CHROMEDRIVER`, the webdriver
//! JSON); read the MB/s lines of the second round (the first includes V8's tier-up). The
//! `wasm-release` profile is what the page ships: the dev profile's debug assertions change what
//! LLVM makes of the SIMD code even at opt-level 3.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_arch = "wasm32")]

use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use ring::aead::chacha20_poly1305_openssh as ring_openssh;
use sshdiag_chacha::{KEY_LEN, OpeningKey, SealingKey, TAG_LEN, chacha20_xor, poly1305_tag};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// 32 KiB of data plus the packet's length, padding length and padding.
const PACKET: usize = 32_768 + 4 + 1 + 11;
const PACKETS: u32 = 2048;

fn rate(name: &str, mut one_packet: impl FnMut(u32)) -> f64 {
    let start = js_sys::Date::now();
    for seq in 0..PACKETS {
        one_packet(seq);
    }
    let seconds = (js_sys::Date::now() - start) / 1000.0;
    let rate = f64::from(PACKETS) * PACKET as f64 / seconds / 1e6;
    console_log!("{name}: {rate:.0} MB/s");
    rate
}

#[wasm_bindgen_test]
fn seal_and_open_rates_against_ring() {
    let key = [0x5a; KEY_LEN];
    let mut packet = vec![0x33; PACKET];
    let mut tag = [0; TAG_LEN];
    let ours = SealingKey::new(&key);
    let ours_open = OpeningKey::new(&key);
    let ring = ring_openssh::SealingKey::new(&key);
    let ring_open = ring_openssh::OpeningKey::new(&key);
    for _ in 0..2 {
        rate("ring seal", |seq| {
            ring.seal_in_place(seq, &mut packet, &mut tag)
        });
        rate("ours seal", |seq| {
            ours.seal_in_place(seq, &mut packet, &mut tag)
        });
        rate("ring seal+open", |seq| {
            ring.seal_in_place(seq, &mut packet, &mut tag);
            ring_open.open_in_place(seq, &mut packet, &tag).unwrap();
        });
        rate("ours seal+open", |seq| {
            ours.seal_in_place(seq, &mut packet, &mut tag);
            ours_open.open_in_place(seq, &mut packet, &tag).unwrap();
        });
        rate("ours chacha20 alone", |seq| {
            chacha20_xor(&[7; 32], &u64::from(seq).to_be_bytes(), 1, &mut packet)
        });
        rate("ours poly1305 alone", |_| {
            tag = poly1305_tag(&[9; 32], &packet);
        });
        rate("RustCrypto poly1305 alone", |_| {
            tag = Poly1305::new(&[9; 32].into())
                .compute_unpadded(&packet)
                .into();
        });
    }
}
