//! ChaCha20 as OpenSSH uses it (the original variant: 64-bit block counter, 64-bit nonce),
//! four blocks per step, from the backend this build has: `simd.rs` on wasm32 with `simd128`,
//! else `scalar.rs`. It never allocates and never panics, whatever the data's length.

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use crate::scalar as backend;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use crate::simd as backend;

/// The length of one ChaCha20 block.
pub(crate) const BLOCK_LEN: usize = 64;

/// Blocks computed per step.
pub(crate) const BLOCKS: usize = 4;

/// The keystream of one step: four consecutive blocks.
pub(crate) type Keystream = [u8; BLOCK_LEN * BLOCKS];

/// The state words of the constant "expand 32-byte k".
pub(crate) const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The key as eight little-endian state words.
pub(crate) struct Key(pub(crate) [u32; 8]);

/// The nonce as the last two little-endian state words.
#[derive(Clone, Copy)]
pub(crate) struct Nonce(pub(crate) [u32; 2]);

fn words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut words = [0; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    words
}

impl Key {
    /// The key from its 32 bytes (a shorter slice leaves the missing words zero; callers pass
    /// exactly 32).
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Self(words(bytes))
    }

    /// Blocks `counter` to `counter + 3`.
    pub(crate) fn keystream(&self, nonce: Nonce, counter: u64) -> Keystream {
        backend::keystream(self, nonce, counter)
    }

    /// XORs the keystream from block `counter` into `data`.
    pub(crate) fn xor_in_place(&self, nonce: Nonce, mut counter: u64, data: &mut [u8]) {
        let mut chunks = data.chunks_exact_mut(BLOCK_LEN * BLOCKS);
        for chunk in &mut chunks {
            backend::xor_step(self, nonce, counter, chunk);
            counter = counter.wrapping_add(BLOCKS as u64);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let keystream = self.keystream(nonce, counter);
            for (byte, key) in tail.iter_mut().zip(keystream) {
                *byte ^= key;
            }
        }
    }
}

impl Nonce {
    pub(crate) fn from_bytes(bytes: &[u8; 8]) -> Self {
        Self(words(bytes))
    }
}

/// The four block counters of a step, split into the state's low and high words.
pub(crate) fn counters(counter: u64) -> ([u32; BLOCKS], [u32; BLOCKS]) {
    let mut low = [0; BLOCKS];
    let mut high = [0; BLOCKS];
    for (block, (low, high)) in low.iter_mut().zip(&mut high).enumerate() {
        let value = counter.wrapping_add(block as u64);
        *low = value as u32;
        *high = (value >> 32) as u32;
    }
    (low, high)
}

/// ChaCha20 (64-bit nonce, 64-bit block counter, as OpenSSH and D. J. Bernstein's original):
/// XORs the keystream from block `counter` into `data`. The counter wraps after 2^64 blocks.
pub fn chacha20_xor(key: &[u8; 32], nonce: &[u8; 8], counter: u64, data: &mut [u8]) {
    Key::from_slice(key).xor_in_place(Nonce::from_bytes(nonce), counter, data);
}
