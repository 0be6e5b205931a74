//! ChaCha20 one word at a time, for builds without wasm `simd128` (native tests): the
//! reference the SIMD backend must agree with. It must never be what the browser runs.

use crate::state::{BLOCK_LEN, BLOCKS, DOUBLE_ROUND, Key, Keystream, Nonce, SIGMA, counters};

fn quarter_round(s: &mut [u32; 16], [a, b, c, d]: [usize; 4]) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

fn block(key: &Key, nonce: Nonce, low: u32, high: u32, out: &mut [u8]) {
    let mut init = [0; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(&key.0);
    init[12] = low;
    init[13] = high;
    init[14..].copy_from_slice(&nonce.0);
    let mut s = init;
    for _ in 0..10 {
        for quarter in DOUBLE_ROUND {
            quarter_round(&mut s, quarter);
        }
    }
    for ((word, start), bytes) in s.iter().zip(init).zip(out.chunks_exact_mut(4)) {
        bytes.copy_from_slice(&word.wrapping_add(start).to_le_bytes());
    }
}

pub(crate) fn keystream(key: &Key, nonce: Nonce, counter: u64) -> Keystream {
    let mut out = [0; BLOCK_LEN * BLOCKS];
    let (low, high) = counters(counter);
    for ((low, high), out) in low
        .into_iter()
        .zip(high)
        .zip(out.chunks_exact_mut(BLOCK_LEN))
    {
        block(key, nonce, low, high, out);
    }
    out
}

pub(crate) fn xor_step(key: &Key, nonce: Nonce, counter: u64, chunk: &mut [u8]) {
    for (byte, key) in chunk.iter_mut().zip(keystream(key, nonce, counter)) {
        *byte ^= key;
    }
}
