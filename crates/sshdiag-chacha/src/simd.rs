//! ChaCha20 four blocks at a time with wasm `simd128`: each of the 16 state words is one
//! vector whose four lanes are the four blocks, so a quarter round is twelve vector
//! instructions for four blocks. Rotations by 16 and 8 bits are byte shuffles, by 12 and 7 a
//! shift pair. At the end the lanes are transposed back into four consecutive blocks.
//!
//! Compiled only for wasm32 with `simd128` (the workspace's `.cargo/config.toml` turns it on
//! for the browser build). It must never read or write outside the caller's buffers: its only
//! `unsafe` is the unaligned 16-byte load and store inside a checked 256-byte chunk.

use core::arch::wasm32::{
    i8x16_shuffle, i32x4_add, i32x4_shl, i32x4_shuffle, u32x4, u32x4_shr, u32x4_splat, v128,
    v128_or, v128_xor,
};

use crate::state::{BLOCK_LEN, BLOCKS, DOUBLE_ROUND, Key, Keystream, Nonce, SIGMA, counters};

/// Vectors of one step: 16 state words, or 16 rows of 16 bytes once transposed.
type Rows = [v128; 16];

#[inline(always)]
fn rotl16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(x, x)
}

#[inline(always)]
fn rotl8(x: v128) -> v128 {
    i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(x, x)
}

#[inline(always)]
fn rotl<const LEFT: u32, const RIGHT: u32>(x: v128) -> v128 {
    v128_or(i32x4_shl(x, LEFT), u32x4_shr(x, RIGHT))
}

#[inline(always)]
fn quarter_round(s: &mut Rows, [a, b, c, d]: [usize; 4]) {
    s[a] = i32x4_add(s[a], s[b]);
    s[d] = rotl16(v128_xor(s[d], s[a]));
    s[c] = i32x4_add(s[c], s[d]);
    s[b] = rotl::<12, 20>(v128_xor(s[b], s[c]));
    s[a] = i32x4_add(s[a], s[b]);
    s[d] = rotl8(v128_xor(s[d], s[a]));
    s[c] = i32x4_add(s[c], s[d]);
    s[b] = rotl::<7, 25>(v128_xor(s[b], s[c]));
}

/// The table's eight quarter rounds, each indexed with a constant rather than looped over: in a
/// loop over the table the state indices were values LLVM did not unroll, so the sixteen
/// vectors lived in memory and every instruction loaded and stored one (ChaCha20 alone, Node
/// 20, CPU time: 638 MB/s that way).
#[inline(always)]
fn double_round(s: &mut Rows) {
    quarter_round(s, DOUBLE_ROUND[0]);
    quarter_round(s, DOUBLE_ROUND[1]);
    quarter_round(s, DOUBLE_ROUND[2]);
    quarter_round(s, DOUBLE_ROUND[3]);
    quarter_round(s, DOUBLE_ROUND[4]);
    quarter_round(s, DOUBLE_ROUND[5]);
    quarter_round(s, DOUBLE_ROUND[6]);
    quarter_round(s, DOUBLE_ROUND[7]);
}

/// The four blocks' final state words, one vector per word, one lane per block.
#[inline(always)]
fn state_words(key: &Key, nonce: Nonce, counter: u64) -> Rows {
    let (low, high) = counters(counter);
    let mut init = [u32x4_splat(0); 16];
    for (vector, word) in init.iter_mut().zip(SIGMA.iter().chain(&key.0)) {
        *vector = u32x4_splat(*word);
    }
    init[12] = u32x4(low[0], low[1], low[2], low[3]);
    init[13] = u32x4(high[0], high[1], high[2], high[3]);
    init[14] = u32x4_splat(nonce.0[0]);
    init[15] = u32x4_splat(nonce.0[1]);
    let mut s = init;
    for _ in 0..10 {
        double_round(&mut s);
    }
    for (word, start) in s.iter_mut().zip(init) {
        *word = i32x4_add(*word, start);
    }
    s
}

/// The keystream in memory order: row `4 * block + i` holds words `4i..4i+4` of `block`.
#[inline(always)]
fn rows(key: &Key, nonce: Nonce, counter: u64) -> Rows {
    let s = state_words(key, nonce, counter);
    let mut out = [u32x4_splat(0); 16];
    for i in 0..4 {
        let (a, b, c, d) = (s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
        let ab_low = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let ab_high = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let cd_low = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let cd_high = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        out[i] = i32x4_shuffle::<0, 1, 4, 5>(ab_low, cd_low);
        out[4 + i] = i32x4_shuffle::<2, 3, 6, 7>(ab_low, cd_low);
        out[8 + i] = i32x4_shuffle::<0, 1, 4, 5>(ab_high, cd_high);
        out[12 + i] = i32x4_shuffle::<2, 3, 6, 7>(ab_high, cd_high);
    }
    out
}

pub(crate) fn keystream(key: &Key, nonce: Nonce, counter: u64) -> Keystream {
    let mut out = [0; BLOCK_LEN * BLOCKS];
    for (row, bytes) in rows(key, nonce, counter)
        .iter()
        .zip(out.chunks_exact_mut(16))
    {
        store(bytes, *row);
    }
    out
}

/// XORs one step's keystream into `chunk` (256 bytes: `xor_in_place`'s exact chunks).
pub(crate) fn xor_step(key: &Key, nonce: Nonce, counter: u64, chunk: &mut [u8]) {
    for (row, bytes) in rows(key, nonce, counter)
        .iter()
        .zip(chunk.chunks_exact_mut(16))
    {
        store(bytes, v128_xor(load(bytes), *row));
    }
}

#[inline(always)]
fn load(bytes: &[u8]) -> v128 {
    let bytes: &[u8; 16] = bytes.try_into().unwrap_or(&[0; 16]);
    // SAFETY: `bytes` is exactly 16 readable bytes; the read is unaligned.
    unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<v128>()) }
}

#[inline(always)]
fn store(bytes: &mut [u8], value: v128) {
    if let Ok(bytes) = <&mut [u8; 16]>::try_from(bytes) {
        // SAFETY: `bytes` is exactly 16 writable bytes; the write is unaligned.
        unsafe { core::ptr::write_unaligned(bytes.as_mut_ptr().cast::<v128>(), value) }
    }
}
