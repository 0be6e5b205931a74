//! chacha20-poly1305@openssh.com and its ChaCha20, checked against published test vectors,
//! RustCrypto's ChaCha20 and Poly1305 (the construction rebuilt from OpenSSH's definition), and
//! ring's implementation, which native russh uses. Run natively (the scalar backend) and, by
//! `cargo xtask test`, in headless Chromium (the wasm simd128 backend the page runs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use ring::aead::chacha20_poly1305_openssh as ring_openssh;
use sshdiag_chacha::{KEY_LEN, OpeningKey, SealingKey, TAG_LEN, TagMismatch, chacha20_xor};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{Rng, hex};

fn keystream(key: &[u8; 32], nonce: &[u8; 8], counter: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    chacha20_xor(key, nonce, counter, &mut out);
    out
}

fn reference_xor(key: &[u8; 32], nonce: &[u8; 8], counter: u64, data: &mut [u8]) {
    let mut cipher = ChaCha20Legacy::new(key.into(), nonce.into());
    cipher.seek(u128::from(counter) * 64);
    cipher.apply_keystream(data);
}

#[test]
fn keystream_matches_the_published_vectors() {
    // draft-agl-tls-chacha20poly1305-04 section 7 / RFC 8439 A.1 #1 and #2: all-zero key and
    // nonce, blocks 0 and 1.
    let zero_block_0 = hex(
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7
         da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
    );
    let zero_block_1 = hex(
        "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed
         29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f",
    );
    assert_eq!(keystream(&[0; 32], &[0; 8], 0, 64), zero_block_0);
    assert_eq!(keystream(&[0; 32], &[0; 8], 1, 64), zero_block_1);
    assert_eq!(
        keystream(&[0; 32], &[0; 8], 0, 128),
        [zero_block_0, zero_block_1].concat()
    );
    // RFC 8439 2.3.2: its 32-bit counter 1 and the first nonce word 0x09000000 are the
    // original variant's 64-bit counter, so this exercises the counter's high word.
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let block = hex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
         d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    );
    let counter = 1 | (0x0900_0000_u64 << 32);
    assert_eq!(
        keystream(&key, &[0, 0, 0, 0x4a, 0, 0, 0, 0], counter, 64),
        block
    );
}

#[test]
fn keystream_matches_rustcrypto_for_random_keys_nonces_counters_and_lengths() {
    let mut rng = Rng(17);
    for round in 0..300 {
        let key = rng.bytes::<32>();
        let nonce = rng.bytes::<8>();
        let counter = match round % 3 {
            0 => rng.next() % 1000,
            // Across the low word's end: the carry into the high word.
            1 => u64::from(u32::MAX) - rng.next() % 6,
            _ => rng.next() >> 8,
        };
        let len = if round % 10 == 0 {
            rng.below(40_000)
        } else {
            rng.below(1100)
        };
        let mut data = vec![0; len];
        rng.fill(&mut data);
        let mut expected = data.clone();
        reference_xor(&key, &nonce, counter, &mut expected);
        chacha20_xor(&key, &nonce, counter, &mut data);
        assert!(
            data == expected,
            "round {round}: counter {counter}, {len} bytes"
        );
    }
}

/// The construction rebuilt from OpenSSH's PROTOCOL.chacha20poly1305 with RustCrypto's parts.
fn reference_seal(key: &[u8; KEY_LEN], seq: u32, packet: &mut [u8]) -> [u8; TAG_LEN] {
    let k_2: [u8; 32] = key[..32].try_into().unwrap();
    let k_1: [u8; 32] = key[32..].try_into().unwrap();
    let nonce = u64::from(seq).to_be_bytes();
    reference_xor(&k_1, &nonce, 0, &mut packet[..4]);
    let mut poly_key = [0; 32];
    reference_xor(&k_2, &nonce, 0, &mut poly_key);
    reference_xor(&k_2, &nonce, 1, &mut packet[4..]);
    Poly1305::new(&poly_key.into())
        .compute_unpadded(packet)
        .into()
}

fn random_packet(rng: &mut Rng, round: usize) -> Vec<u8> {
    let len = match round % 8 {
        0 => 4 + rng.below(8),
        1 => 32_768 + 4 + rng.below(64),
        2 => 4 + 188 + rng.below(8),
        _ => 4 + rng.below(2000),
    };
    let mut packet = vec![0; len];
    rng.fill(&mut packet);
    packet
}

#[test]
fn sealing_matches_the_construction_and_ring() {
    let mut rng = Rng(4253);
    for round in 0..120 {
        let key = rng.bytes::<KEY_LEN>();
        let seq = rng.next() as u32;
        let plain = random_packet(&mut rng, round);

        let mut ours = plain.clone();
        let mut tag = [0; TAG_LEN];
        SealingKey::new(&key).seal_in_place(seq, &mut ours, &mut tag);

        let mut reference = plain.clone();
        let reference_tag = reference_seal(&key, seq, &mut reference);
        assert!(
            ours == reference && tag == reference_tag,
            "round {round}: {} bytes",
            plain.len()
        );

        let mut ring = plain.clone();
        let mut ring_tag = [0; TAG_LEN];
        ring_openssh::SealingKey::new(&key).seal_in_place(seq, &mut ring, &mut ring_tag);
        assert!(
            ours == ring && tag == ring_tag,
            "round {round}: ring differs"
        );
    }
}

#[test]
fn opening_reads_rings_packets_and_refuses_any_altered_byte() {
    let mut rng = Rng(8439);
    for round in 0..120 {
        let key = rng.bytes::<KEY_LEN>();
        let seq = rng.next() as u32;
        let plain = random_packet(&mut rng, round);
        let mut sealed = plain.clone();
        let mut tag = [0; TAG_LEN];
        ring_openssh::SealingKey::new(&key).seal_in_place(seq, &mut sealed, &mut tag);

        let opening = OpeningKey::new(&key);
        let length: [u8; 4] = sealed[..4].try_into().unwrap();
        assert_eq!(opening.decrypt_packet_length(seq, length), plain[..4]);
        let ring_opening = ring_openssh::OpeningKey::new(&key);
        assert_eq!(ring_opening.decrypt_packet_length(seq, length), plain[..4]);

        let mut opened = sealed.clone();
        assert_eq!(
            opening.open_in_place(seq, &mut opened, &tag).unwrap(),
            &plain[4..]
        );

        // One flipped bit anywhere (length, body or tag), or the wrong sequence number: refused,
        // and nothing decrypted.
        let mut altered = sealed.clone();
        let mut altered_tag = tag;
        let bit = rng.below((sealed.len() + TAG_LEN) * 8);
        match bit / 8 < sealed.len() {
            true => altered[bit / 8] ^= 1 << (bit % 8),
            false => altered_tag[bit / 8 - sealed.len()] ^= 1 << (bit % 8),
        }
        let before = altered.clone();
        assert_eq!(
            opening.open_in_place(seq, &mut altered, &altered_tag),
            Err(TagMismatch)
        );
        assert_eq!(
            altered, before,
            "round {round}: a refused packet was changed"
        );
        let mut replayed = sealed.clone();
        let wrong_seq = seq.wrapping_add(1);
        assert_eq!(
            opening.open_in_place(wrong_seq, &mut replayed, &tag),
            Err(TagMismatch)
        );
    }
}

#[test]
fn short_buffers_neither_panic_nor_open() {
    let key = [7; KEY_LEN];
    for len in 0..4 {
        let mut packet = vec![1; len];
        let mut tag = [0; TAG_LEN];
        SealingKey::new(&key).seal_in_place(3, &mut packet, &mut tag);
        let opened = OpeningKey::new(&key).open_in_place(3, &mut packet, &tag);
        assert_eq!(opened, Err(TagMismatch), "{len} bytes");
    }
}
