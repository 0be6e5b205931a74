//! Poly1305 checked against RFC 8439's vectors and RustCrypto's `poly1305`: every length up to
//! past the vector code's threshold (so every split between whole 64-byte chunks, whole blocks
//! and a partial last block), inputs and keys that push the limbs' carries to their largest,
//! and a few hundred random messages. Natively `poly1305_tag` is RustCrypto's, so there the
//! vectors check the references; in headless Chromium (`cargo xtask test`) it is this crate's
//! wasm `simd128` code, checked against RustCrypto's portable one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use sshdiag_chacha::{POLY1305_KEY_LEN, POLY1305_TAG_LEN, poly1305_tag};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{Rng, hex};

fn key_of(r: &str, s: &str) -> [u8; POLY1305_KEY_LEN] {
    [hex(r), hex(s)].concat().try_into().unwrap()
}

fn reference(key: &[u8; POLY1305_KEY_LEN], message: &[u8]) -> [u8; POLY1305_TAG_LEN] {
    Poly1305::new(key.into()).compute_unpadded(message).into()
}

/// RFC 8439 appendix A.3, text #2 and #3.
const IETF_TEXT: &str = "Any submission to the IETF intended by the Contributor for publication \
as all or part of an IETF Internet-Draft or RFC and any statement made within the context of an \
IETF activity is considered an \"IETF Contribution\". Such statements include oral statements in \
IETF sessions, as well as written and electronic communications made at any time or place, which \
are addressed to";

#[test]
fn tags_match_rfc_8439() {
    let zero = "00000000000000000000000000000000";
    let cases: Vec<([u8; POLY1305_KEY_LEN], Vec<u8>, &str)> =
        vec![
        // §2.5.2.
        (
            key_of(
                "85d6be7857556d337f4452fe42d506a8",
                "0103808afb0db2fd4abff6af4149f51b",
            ),
            b"Cryptographic Forum Research Group".to_vec(),
            "a8061dc1305136c6c22b8baf0c0127a9",
        ),
        // A.3 #1 to #4.
        (key_of(zero, zero), vec![0; 64], zero),
        (
            key_of(zero, "36e5f6b5c5e06070f0efca96227a863e"),
            IETF_TEXT.as_bytes().to_vec(),
            "36e5f6b5c5e06070f0efca96227a863e",
        ),
        (
            key_of("36e5f6b5c5e06070f0efca96227a863e", zero),
            IETF_TEXT.as_bytes().to_vec(),
            "f3477e7cd95417af89a6b8794c310cf0",
        ),
        (
            key_of(
                "1c9240a5eb55d38af333888604f6b5f0",
                "473917c1402b80099dca5cbc207075c0",
            ),
            b"'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy \
were the borogoves,\nAnd the mome raths outgrabe."
                .to_vec(),
            "4541669a7eaaee61e708dc7cbcc5eb62",
        ),
        // A.3 #5 to #11: the reduction's edge cases (h just above or below p, s wrapping).
        (
            key_of("02000000000000000000000000000000", zero),
            hex("ffffffffffffffffffffffffffffffff"),
            "03000000000000000000000000000000",
        ),
        (
            key_of(
                "02000000000000000000000000000000",
                "ffffffffffffffffffffffffffffffff",
            ),
            hex("02000000000000000000000000000000"),
            "03000000000000000000000000000000",
        ),
        (
            key_of("01000000000000000000000000000000", zero),
            hex("ffffffffffffffffffffffffffffffff f0ffffffffffffffffffffffffffffff
                 11000000000000000000000000000000"),
            "05000000000000000000000000000000",
        ),
        (
            key_of("01000000000000000000000000000000", zero),
            hex("ffffffffffffffffffffffffffffffff fbfefefefefefefefefefefefefefefe
                 01010101010101010101010101010101"),
            zero,
        ),
        (
            key_of("02000000000000000000000000000000", zero),
            hex("fdffffffffffffffffffffffffffffff"),
            "faffffffffffffffffffffffffffffff",
        ),
        (
            key_of("01000000000000000400000000000000", zero),
            hex("e33594d7505e43b90000000000000000 3394d7505e4379cd0100000000000000
                 00000000000000000000000000000000 01000000000000000000000000000000"),
            "14000000000000005500000000000000",
        ),
        (
            key_of("01000000000000000400000000000000", zero),
            hex("e33594d7505e43b90000000000000000 3394d7505e4379cd0100000000000000
                 00000000000000000000000000000000"),
            "13000000000000000000000000000000",
        ),
    ];
    for (n, (key, message, tag)) in cases.iter().enumerate() {
        assert_eq!(
            reference(key, message).to_vec(),
            hex(tag),
            "case {n}: reference"
        );
        assert_eq!(poly1305_tag(key, message).to_vec(), hex(tag), "case {n}");
    }
}

/// Keys whose `r` (once clamped) and `s` are all ones, all zeros, or one of each: the largest
/// limbs and products, and an `s` whose addition wraps.
fn extreme_keys() -> Vec<[u8; POLY1305_KEY_LEN]> {
    let (ones, zeros) = ([0xff; 16], [0; 16]);
    [(ones, ones), (ones, zeros), (zeros, ones), (zeros, zeros)]
        .iter()
        .map(|(r, s)| [*r, *s].concat().try_into().unwrap())
        .collect()
}

#[test]
fn every_length_to_600_bytes_of_all_ones_matches_rustcrypto() {
    // Up to nine whole chunks: every split into chunks, whole blocks and a partial last block,
    // below and above the length from which the vector code runs.
    let message = [0xff; 600];
    for key in extreme_keys() {
        for len in 0..=message.len() {
            let message = &message[..len];
            assert_eq!(
                poly1305_tag(&key, message),
                reference(&key, message),
                "{len} bytes, key {:02x}..{:02x}",
                key[0],
                key[31]
            );
        }
    }
}

#[test]
fn every_length_to_300_bytes_of_random_data_matches_rustcrypto() {
    let mut rng = Rng(1305);
    let mut message = [0; 300];
    for len in 0..=message.len() {
        let mut key = [0; POLY1305_KEY_LEN];
        rng.fill(&mut key);
        rng.fill(&mut message);
        let message = &message[..len];
        assert_eq!(
            poly1305_tag(&key, message),
            reference(&key, message),
            "{len} bytes"
        );
    }
}

#[test]
fn random_keys_and_messages_match_rustcrypto() {
    let mut rng = Rng(8439);
    for round in 0..400 {
        let mut key = [0; POLY1305_KEY_LEN];
        rng.fill(&mut key);
        if round % 7 == 0 {
            // The largest `r` with a random `s`.
            key[..16].fill(0xff);
        }
        let len = match round % 10 {
            // A bulk packet: 32 KiB of data and its framing, as the AEAD tags it.
            0 => 32_768 + 16 + rng.below(64),
            _ => rng.below(2000),
        };
        let mut message = vec![0; len];
        match round % 5 {
            // Mostly ones: every limb near its largest, with a few random bytes.
            0 => {
                message.fill(0xff);
                for _ in 0..4 {
                    if len > 0 {
                        let at = rng.below(len);
                        message[at] = rng.next() as u8;
                    }
                }
            }
            _ => rng.fill(&mut message),
        }
        assert_eq!(
            poly1305_tag(&key, &message),
            reference(&key, &message),
            "round {round}: {len} bytes"
        );
    }
}

#[test]
fn one_changed_bit_changes_the_tag() {
    let mut rng = Rng(17);
    for round in 0..100 {
        let mut key = [0; POLY1305_KEY_LEN];
        rng.fill(&mut key);
        let mut message = vec![0; 1 + rng.below(1500)];
        rng.fill(&mut message);
        let tag = poly1305_tag(&key, &message);
        let bit = rng.below(message.len() * 8);
        message[bit / 8] ^= 1 << (bit % 8);
        assert_ne!(
            poly1305_tag(&key, &message),
            tag,
            "round {round}: bit {bit}"
        );
    }
}

#[test]
fn sums_of_exactly_p_reduce_to_zero_through_the_vector_code() {
    // With r = 1 the accumulator is the plain sum of the blocks, each plus 2^128: the blocks
    // 2^128 - 5, 0 and 0 sum to exactly p = 2^130 - 5, so k copies of them to k · p, and the
    // tag (s = 0) is zero. From three copies on (144 bytes) the vector code takes the whole
    // chunks, so its lanes, their sum and the final reduction must all agree on it. One more
    // or one less than p is checked against RustCrypto (and, for one copy, its value).
    let key = key_of(
        "01000000000000000000000000000000",
        "00000000000000000000000000000000",
    );
    let p_in_blocks = hex(
        "fbffffffffffffffffffffffffffffff 00000000000000000000000000000000
                           00000000000000000000000000000000",
    );
    for copies in 1..=16 {
        let message = p_in_blocks.repeat(copies);
        assert_eq!(
            poly1305_tag(&key, &message),
            [0; POLY1305_TAG_LEN],
            "{copies} copies"
        );
        for first in [0xfa, 0xfc] {
            let mut near = message.clone();
            near[0] = first;
            assert_eq!(
                poly1305_tag(&key, &near),
                reference(&key, &near),
                "{copies} copies, first byte {first:02x}"
            );
        }
    }
    let mut one_less = p_in_blocks.clone();
    one_less[0] = 0xfa;
    assert_eq!(
        poly1305_tag(&key, &one_less).to_vec(),
        hex("faffffffffffffffffffffffffffffff"),
        "p - 1 is its own residue"
    );
    let mut one_more = p_in_blocks;
    one_more[0] = 0xfc;
    assert_eq!(
        poly1305_tag(&key, &one_more).to_vec(),
        hex("01000000000000000000000000000000"),
        "p + 1 reduces to 1"
    );
}
