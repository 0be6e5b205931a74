//! chacha20-poly1305@openssh.com for the browser, where ring's ChaCha20 is its portable
//! one-block-at-a-time code: on wasm32 with `simd128` this crate computes ChaCha20 four blocks
//! at a time (`simd.rs`), and Poly1305 four blocks at a time (`poly/`).
//!
//! The API is ring's `ring::aead::chacha20_poly1305_openssh` (same names, same arguments), so
//! the vendored russh swaps one `use` line for the browser build and nothing else; native
//! builds keep ring. Elsewhere than wasm32 with `simd128` (native tests) ChaCha20 is a plain
//! scalar implementation (`scalar.rs`) and Poly1305 is RustCrypto's `poly1305`, which the tests
//! check the browser's against.
//!
//! The construction, from OpenSSH's PROTOCOL.chacha20poly1305: the 64-byte key is `K_2 || K_1`;
//! the nonce is the packet's sequence number as 8 big-endian bytes; the 4-byte packet length
//! is encrypted with `K_1` from block 0; the Poly1305 key is the first 32 bytes of `K_2`'s
//! block 0; the rest of the packet is encrypted with `K_2` from block 1; the tag is Poly1305
//! over the encrypted length and the encrypted rest.
//!
//! It must never release a decrypted packet whose tag did not verify (the tag is compared in
//! constant time, before decrypting), never hold a key anywhere but in its key types, and
//! never panic on a short or empty buffer.

mod chacha;
mod poly;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;
mod state;

use state::{BLOCK_LEN, Key, Keystream, Nonce};
use subtle::ConstantTimeEq;

pub use chacha::chacha20_xor;
pub use poly::{POLY1305_KEY_LEN, POLY1305_TAG_LEN, poly1305_tag};

/// The length of the key material: `K_2 || K_1`, 32 bytes each.
pub const KEY_LEN: usize = 64;

/// The length of the authentication tag.
pub const TAG_LEN: usize = POLY1305_TAG_LEN;

/// The length of the encrypted `packet_length` field at the start of every packet.
pub const PACKET_LENGTH_LEN: usize = 4;

/// The length of the Poly1305 key taken from the start of `K_2`'s block 0.
const POLY_KEY_LEN: usize = POLY1305_KEY_LEN;

/// The tag did not match: the packet was altered, or the keys differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

impl core::fmt::Display for TagMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("chacha20-poly1305@openssh.com: the packet's tag did not verify")
    }
}

impl std::error::Error for TagMismatch {}

/// The two ChaCha20 keys of one direction.
struct Keys {
    k_1: Key,
    k_2: Key,
}

impl Keys {
    fn new(key_material: &[u8; KEY_LEN]) -> Self {
        let (k_2, k_1) = key_material.split_at(KEY_LEN / 2);
        Self {
            k_1: Key::from_slice(k_1),
            k_2: Key::from_slice(k_2),
        }
    }

    /// XORs `K_1`'s block 0 into (up to) the first four bytes: the packet length.
    fn crypt_length(&self, nonce: Nonce, length: &mut [u8]) {
        let block = chacha::keystream(&self.k_1, nonce, 0);
        let head = length.len().min(PACKET_LENGTH_LEN);
        xor(&mut length[..head], &block[..head]);
    }

    /// `K_2`'s blocks from 0: the Poly1305 key (block 0), then the keystream for the first
    /// bytes after the length (blocks 1 to 3, one computation), then the rest from block 4.
    fn poly_key_and_head(&self, nonce: Nonce) -> ([u8; POLY_KEY_LEN], Keystream) {
        let blocks = chacha::keystream(&self.k_2, nonce, 0);
        let mut poly_key = [0; POLY_KEY_LEN];
        poly_key.copy_from_slice(&blocks[..POLY_KEY_LEN]);
        (poly_key, blocks)
    }

    /// Encrypts or decrypts what follows the length with `K_2` from block 1, the first three
    /// blocks' keystream already computed with the Poly1305 key.
    fn crypt_body(&self, nonce: Nonce, head: &Keystream, body: &mut [u8]) {
        let split = body.len().min(head.len() - BLOCK_LEN);
        let (first, rest) = body.split_at_mut(split);
        xor(first, &head[BLOCK_LEN..BLOCK_LEN + split]);
        chacha::xor_in_place(&self.k_2, nonce, 4, rest);
    }
}

fn tag_of(poly_key: &[u8; POLY_KEY_LEN], packet: &[u8]) -> [u8; TAG_LEN] {
    poly1305_tag(poly_key, packet)
}

fn xor(data: &mut [u8], keystream: &[u8]) {
    for (byte, key) in data.iter_mut().zip(keystream) {
        *byte ^= key;
    }
}

/// The nonce of a packet: its sequence number as 8 big-endian bytes.
fn nonce_of(sequence_number: u32) -> Nonce {
    Nonce::from_bytes(&u64::from(sequence_number).to_be_bytes())
}

/// A key for sealing packets (ring's `chacha20_poly1305_openssh::SealingKey`).
pub struct SealingKey(Keys);

impl SealingKey {
    /// The key for one direction, from the 64 bytes of key material the key exchange derived.
    pub fn new(key_material: &[u8; KEY_LEN]) -> Self {
        Self(Keys::new(key_material))
    }

    /// Encrypts `packet_length || plaintext` in place and writes the tag.
    pub fn seal_in_place(
        &self,
        sequence_number: u32,
        plaintext_in_ciphertext_out: &mut [u8],
        tag_out: &mut [u8; TAG_LEN],
    ) {
        let nonce = nonce_of(sequence_number);
        let split = plaintext_in_ciphertext_out.len().min(PACKET_LENGTH_LEN);
        let (length, body) = plaintext_in_ciphertext_out.split_at_mut(split);
        self.0.crypt_length(nonce, length);
        let (poly_key, head) = self.0.poly_key_and_head(nonce);
        self.0.crypt_body(nonce, &head, body);
        *tag_out = tag_of(&poly_key, plaintext_in_ciphertext_out);
    }
}

/// A key for opening packets (ring's `chacha20_poly1305_openssh::OpeningKey`).
pub struct OpeningKey(Keys);

impl OpeningKey {
    /// The key for one direction, from the 64 bytes of key material the key exchange derived.
    pub fn new(key_material: &[u8; KEY_LEN]) -> Self {
        Self(Keys::new(key_material))
    }

    /// The decrypted packet length, not yet authenticated: `open_in_place` checks it with the
    /// rest of the packet.
    pub fn decrypt_packet_length(
        &self,
        sequence_number: u32,
        encrypted_packet_length: [u8; PACKET_LENGTH_LEN],
    ) -> [u8; PACKET_LENGTH_LEN] {
        let mut length = encrypted_packet_length;
        self.0.crypt_length(nonce_of(sequence_number), &mut length);
        length
    }

    /// Checks the tag of `encrypted_packet_length || ciphertext`, then decrypts the ciphertext
    /// in place and returns it. On a mismatch nothing is decrypted.
    pub fn open_in_place<'a>(
        &self,
        sequence_number: u32,
        ciphertext_in_plaintext_out: &'a mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<&'a [u8], TagMismatch> {
        if ciphertext_in_plaintext_out.len() < PACKET_LENGTH_LEN {
            return Err(TagMismatch);
        }
        let nonce = nonce_of(sequence_number);
        let (poly_key, head) = self.0.poly_key_and_head(nonce);
        let expected = tag_of(&poly_key, ciphertext_in_plaintext_out);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(TagMismatch);
        }
        let body = &mut ciphertext_in_plaintext_out[PACKET_LENGTH_LEN..];
        self.0.crypt_body(nonce, &head, body);
        Ok(body)
    }
}
