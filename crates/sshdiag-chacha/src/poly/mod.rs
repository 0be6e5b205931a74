//! Poly1305 (RFC 8439 §2.5), one-shot over a whole message: what the AEAD needs for a packet's
//! tag. On wasm32 with `simd128` it is this crate's own: the whole 64-byte chunks four blocks at
//! a time (`vector.rs`), the rest and the final reduction one block at a time (`limbs.rs`).
//! Elsewhere (native builds, which only the tests use) it is RustCrypto's `poly1305`, which the
//! tests also check the browser's against.
//!
//! It must never branch or index on the key or the message's contents (only on its length),
//! and never panic, whatever the message's length.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod limbs;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod vector;

/// The length of a Poly1305 key: `r` (clamped), then `s`.
pub const POLY1305_KEY_LEN: usize = 32;

/// The length of a Poly1305 tag.
pub const POLY1305_TAG_LEN: usize = 16;

/// Below this many bytes the message is absorbed one block at a time: the vector code first
/// computes `r^2`, `r^3` and `r^4`, three block multiplications, which two chunks repay.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
const VECTOR_MIN_LEN: usize = 2 * vector::CHUNK_LEN;

/// Poly1305 of `message` under the one-time `key` (the message's last block padded as RFC 8439
/// pads it: a 1 byte, then zeros).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn poly1305_tag(key: &[u8; POLY1305_KEY_LEN], message: &[u8]) -> [u8; POLY1305_TAG_LEN] {
    let r = limbs::Limbs::r_of(key);
    let (chunks, rest) = match message.len() >= VECTOR_MIN_LEN {
        true => message.as_chunks::<{ vector::CHUNK_LEN }>(),
        false => (&[][..], message),
    };
    let h = vector::absorb(&r, chunks);
    limbs::tag(limbs::absorb(h, &r, rest), key)
}

/// Poly1305 of `message` under the one-time `key` (the message's last block padded as RFC 8439
/// pads it: a 1 byte, then zeros).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub fn poly1305_tag(key: &[u8; POLY1305_KEY_LEN], message: &[u8]) -> [u8; POLY1305_TAG_LEN] {
    use poly1305::Poly1305;
    use poly1305::universal_hash::KeyInit;
    Poly1305::new(key.into()).compute_unpadded(message).into()
}
