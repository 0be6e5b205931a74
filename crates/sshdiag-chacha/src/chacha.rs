//! ChaCha20 as OpenSSH uses it (the original variant: 64-bit block counter, 64-bit nonce),
//! four blocks per step, from the backend this build has: `simd.rs` on wasm32 with `simd128`,
//! else `scalar.rs`. It never allocates and never panics, whatever the data's length.

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use crate::scalar as backend;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use crate::simd as backend;
use crate::state::{BLOCK_LEN, BLOCKS, Key, Keystream, Nonce};

/// Blocks `counter` to `counter + 3`.
pub(crate) fn keystream(key: &Key, nonce: Nonce, counter: u64) -> Keystream {
    backend::keystream(key, nonce, counter)
}

/// XORs the keystream from block `counter` into `data`.
pub(crate) fn xor_in_place(key: &Key, nonce: Nonce, mut counter: u64, data: &mut [u8]) {
    let mut chunks = data.chunks_exact_mut(BLOCK_LEN * BLOCKS);
    for chunk in &mut chunks {
        backend::xor_step(key, nonce, counter, chunk);
        counter = counter.wrapping_add(BLOCKS as u64);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        for (byte, key) in tail.iter_mut().zip(keystream(key, nonce, counter)) {
            *byte ^= key;
        }
    }
}

/// ChaCha20 (64-bit nonce, 64-bit block counter, as OpenSSH and D. J. Bernstein's original):
/// XORs the keystream from block `counter` into `data`. The counter wraps after 2^64 blocks.
pub fn chacha20_xor(key: &[u8; 32], nonce: &[u8; 8], counter: u64, data: &mut [u8]) {
    xor_in_place(
        &Key::from_slice(key),
        Nonce::from_bytes(nonce),
        counter,
        data,
    );
}
