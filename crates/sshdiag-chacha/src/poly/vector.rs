//! Poly1305 over whole 64-byte chunks, four blocks at a time with wasm `simd128`: four
//! accumulators, one per lane, each limb of the four in one vector. Lane `j` takes blocks
//! `j, j + 4, j + 8, …`, so each step multiplies all four by `r^4`; the last step multiplies
//! them by `r^4, r^3, r^2, r` instead, and their sum is then the accumulator one block at a time
//! would have reached (Horner's rule, decimated by four).
//!
//! A product of two limbs is `u64x2_extmul_low_u32x4` / `_high_`, two lanes at a time (V8 emits
//! x86's `pmuludq` for it); the column sums are carried in 64-bit lanes, then narrowed back to
//! one 32-bit lane per accumulator. Compiled only for wasm32 with `simd128`. It must never read
//! outside the caller's chunks (its only `unsafe` is the unaligned 16-byte load inside a
//! checked block) and never branch on the key or the message's contents.

use core::arch::wasm32::{
    i32x4_add, i32x4_shl, i32x4_shuffle, i64x2_add, i64x2_shl, i64x2_shuffle, u32x4,
    u32x4_extract_lane, u32x4_shr, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
    u64x2_shr, u64x2_splat, v128, v128_and, v128_or,
};

use super::limbs::{Limbs, MASK};

/// The bytes of one step: a block for each of the four lanes.
pub(super) const CHUNK_LEN: usize = 64;

/// The five limbs of the four accumulators (or of four blocks), lane `j` the `j`th.
type Lanes = [v128; 5];

/// A multiplier per lane: its limbs, and five times them (2^130 = 5 mod p: a product's part past
/// the fifth limb comes back five times over). Five times a limb stays under 2^32.
struct Multiplier {
    r: Lanes,
    s: Lanes,
}

impl Multiplier {
    fn new(lanes: [&Limbs; 4]) -> Self {
        let r: Lanes = core::array::from_fn(|i| {
            u32x4(lanes[0].0[i], lanes[1].0[i], lanes[2].0[i], lanes[3].0[i])
        });
        Self {
            r,
            s: r.map(|limb| i32x4_add(limb, i32x4_shl(limb, 2))),
        }
    }
}

/// The accumulator after absorbing `chunks` (a non-zero multiple of 64 bytes), as one number.
pub(super) fn absorb(r: &Limbs, chunks: &[u8]) -> Limbs {
    let r2 = r.times(r);
    let r3 = r2.times(r);
    let r4 = r2.times(&r2);
    let step = Multiplier::new([&r4; 4]);
    let last = Multiplier::new([&r4, &r3, &r2, r]);
    let (body, tail) = chunks.split_at(chunks.len().saturating_sub(CHUNK_LEN));
    let mut h = [u32x4_splat(0); 5];
    for chunk in body.chunks_exact(CHUNK_LEN) {
        h = multiply(&plus(&h, &blocks(chunk)), &step);
    }
    if tail.len() == CHUNK_LEN {
        h = multiply(&plus(&h, &blocks(tail)), &last);
    }
    // Four limbs under 2^26 + 2^9 each: their sum fits a lane.
    Limbs(h.map(|limb| {
        u32x4_extract_lane::<0>(limb)
            + u32x4_extract_lane::<1>(limb)
            + u32x4_extract_lane::<2>(limb)
            + u32x4_extract_lane::<3>(limb)
    }))
}

fn plus(h: &Lanes, m: &Lanes) -> Lanes {
    core::array::from_fn(|i| i32x4_add(h[i], m[i]))
}

/// The four blocks of a 64-byte chunk as limbs, lane `j` block `j`, each with its 2^128 bit.
#[inline(always)]
fn blocks(chunk: &[u8]) -> Lanes {
    let b: [v128; 4] = core::array::from_fn(|j| load(&chunk[16 * j..16 * j + 16]));
    // Transposed: `w[k]` holds the `k`th 32-bit word of the four blocks.
    let low_01 = i64x2_shuffle::<0, 2>(b[0], b[1]);
    let low_23 = i64x2_shuffle::<0, 2>(b[2], b[3]);
    let high_01 = i64x2_shuffle::<1, 3>(b[0], b[1]);
    let high_23 = i64x2_shuffle::<1, 3>(b[2], b[3]);
    let w = [
        i32x4_shuffle::<0, 2, 4, 6>(low_01, low_23),
        i32x4_shuffle::<1, 3, 5, 7>(low_01, low_23),
        i32x4_shuffle::<0, 2, 4, 6>(high_01, high_23),
        i32x4_shuffle::<1, 3, 5, 7>(high_01, high_23),
    ];
    let mask = u32x4_splat(MASK);
    // Limb `k` is bits 26k..26k+26: the top of one word joined to the bottom of the next.
    let join = |k: usize, right: u32| {
        v128_and(
            v128_or(u32x4_shr(w[k], right), i32x4_shl(w[k + 1], 32 - right)),
            mask,
        )
    };
    [
        v128_and(w[0], mask),
        join(0, 26),
        join(1, 20),
        join(2, 14),
        v128_or(u32x4_shr(w[3], 8), u32x4_splat(1 << 24)),
    ]
}

/// `h · m` per lane, carried and narrowed back to 32-bit lanes.
#[inline(always)]
fn multiply(h: &Lanes, m: &Multiplier) -> Lanes {
    // Column `k` sums h_i · r_(k-i), with s_(k-i+5) for the products that wrap past 2^130.
    // Each product is under 2^27.1 · 2^28.4, so each column under 2^58: no overflow.
    let mut low = [u64x2_splat(0); 5];
    let mut high = [u64x2_splat(0); 5];
    for k in 0..5 {
        for (i, &limb) in h.iter().enumerate() {
            let factor = match i <= k {
                true => m.r[k - i],
                false => m.s[k + 5 - i],
            };
            low[k] = i64x2_add(low[k], u64x2_extmul_low_u32x4(limb, factor));
            high[k] = i64x2_add(high[k], u64x2_extmul_high_u32x4(limb, factor));
        }
    }
    let (low, high) = (carry(low), carry(high));
    core::array::from_fn(|i| i32x4_shuffle::<0, 2, 4, 6>(low[i], high[i]))
}

/// Carries 64-bit column sums (under 2^58) into limbs under 2^26, but the second and fifth
/// under 2^26 + 2^9: two chains interleaved (0 → 1 → 2 → 3 and 3 → 4 → 0 → 1) so each waits
/// less on the other.
#[inline(always)]
fn carry(mut d: Lanes) -> Lanes {
    let mask = u64x2_splat(u64::from(MASK));
    let mut step = |from: usize, to: usize| {
        let c = u64x2_shr(d[from], 26);
        d[from] = v128_and(d[from], mask);
        d[to] = match to {
            0 => i64x2_add(d[0], i64x2_add(c, i64x2_shl(c, 2))),
            _ => i64x2_add(d[to], c),
        };
    };
    step(0, 1);
    step(3, 4);
    step(1, 2);
    step(4, 0);
    step(2, 3);
    step(0, 1);
    step(3, 4);
    d
}

#[inline(always)]
fn load(bytes: &[u8]) -> v128 {
    let bytes: &[u8; 16] = bytes.try_into().unwrap_or(&[0; 16]);
    // SAFETY: `bytes` is exactly 16 readable bytes; the read is unaligned.
    unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<v128>()) }
}
