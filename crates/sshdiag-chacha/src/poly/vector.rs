//! Poly1305 over whole 64-byte chunks, four blocks at a time with wasm `simd128`: four
//! accumulators, one per lane, each limb of the four in one vector. Lane `j` takes blocks
//! `j, j + 4, j + 8, …`, so each step multiplies all four by `r^4`; the last step multiplies
//! them by `r^4, r^3, r^2, r` instead, and their sum is then the accumulator one block at a time
//! would have reached (Horner's rule, decimated by four).
//!
//! A product of two limbs is `u64x2_extmul_low_u32x4` / `_high_`, two lanes at a time (V8 emits
//! x86's `pmuludq` for it); the column sums are carried in 64-bit lanes, then narrowed back to
//! one 32-bit lane per accumulator. Compiled only for wasm32 with `simd128`. It must never read
//! outside the caller's chunks (its only `unsafe` is the unaligned load of one whole 64-byte
//! chunk) and never branch on the key or the message's contents.

use core::arch::wasm32::{
    i32x4_add, i32x4_shl, i32x4_shuffle, i64x2_add, i64x2_shuffle, u32x4, u32x4_extract_lane,
    u32x4_shr, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_shr,
    u64x2_splat, v128, v128_and, v128_or,
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

/// The accumulator after absorbing `chunks` (whole 64-byte chunks, at least one), as one number.
pub(super) fn absorb(r: &Limbs, chunks: &[[u8; CHUNK_LEN]]) -> Limbs {
    let Some((last_chunk, body)) = chunks.split_last() else {
        return Limbs::default();
    };
    let r2 = r.times(r);
    let r3 = r2.times(r);
    let r4 = r2.times(&r2);
    let step = Multiplier::new([&r4; 4]);
    let last = Multiplier::new([&r4, &r3, &r2, r]);
    let mut h = [u32x4_splat(0); 5];
    for chunk in body {
        // Read anew each step: LLVM would otherwise widen the loop-invariant multiplier to 64-bit
        // lanes once, before the loop, and could then not emit `extmul` (three instructions per
        // two products in V8) inside it, only `i64x2.mul` (about eight).
        h = multiply(&plus(&h, &blocks(chunk)), core::hint::black_box(&step));
    }
    h = multiply(&plus(&h, &blocks(last_chunk)), core::hint::black_box(&last));
    // Four limbs under 2^26 + 2^9 each: their sum fits a lane.
    Limbs(h.map(|limb| {
        u32x4_extract_lane::<0>(limb)
            + u32x4_extract_lane::<1>(limb)
            + u32x4_extract_lane::<2>(limb)
            + u32x4_extract_lane::<3>(limb)
    }))
}

#[inline(always)]
fn plus(h: &Lanes, m: &Lanes) -> Lanes {
    [
        i32x4_add(h[0], m[0]),
        i32x4_add(h[1], m[1]),
        i32x4_add(h[2], m[2]),
        i32x4_add(h[3], m[3]),
        i32x4_add(h[4], m[4]),
    ]
}

/// The four blocks of a 64-byte chunk as limbs, lane `j` block `j`, each with its 2^128 bit.
#[inline(always)]
fn blocks(chunk: &[u8; CHUNK_LEN]) -> Lanes {
    // SAFETY: `chunk` is 64 readable bytes, the size of four vectors; the read is unaligned.
    let b = unsafe { core::ptr::read_unaligned(chunk.as_ptr().cast::<[v128; 4]>()) };
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
    let join = |low: v128, high: v128, right: u32| {
        v128_and(
            v128_or(u32x4_shr(low, right), i32x4_shl(high, 32 - right)),
            mask,
        )
    };
    [
        v128_and(w[0], mask),
        join(w[0], w[1], 26),
        join(w[1], w[2], 20),
        join(w[2], w[3], 14),
        v128_or(u32x4_shr(w[3], 8), u32x4_splat(1 << 24)),
    ]
}

/// One column of a product: the sum of its five limb products, for lanes 0 and 1, and 2 and 3.
#[inline(always)]
fn column(terms: [(v128, v128); 5]) -> (v128, v128) {
    let (mut low, mut high) = (u64x2_splat(0), u64x2_splat(0));
    for (h, factor) in terms {
        low = i64x2_add(low, u64x2_extmul_low_u32x4(h, factor));
        high = i64x2_add(high, u64x2_extmul_high_u32x4(h, factor));
    }
    (low, high)
}

/// `h · m` per lane, carried and narrowed back to 32-bit lanes. The columns are
/// `Limbs::times`'s: each product under 2^27.1 · 2^28.4, each column under 2^58.
#[inline(always)]
fn multiply(h: &Lanes, m: &Multiplier) -> Lanes {
    let (r, s) = (&m.r, &m.s);
    let d = [
        column([
            (h[0], r[0]),
            (h[1], s[4]),
            (h[2], s[3]),
            (h[3], s[2]),
            (h[4], s[1]),
        ]),
        column([
            (h[0], r[1]),
            (h[1], r[0]),
            (h[2], s[4]),
            (h[3], s[3]),
            (h[4], s[2]),
        ]),
        column([
            (h[0], r[2]),
            (h[1], r[1]),
            (h[2], r[0]),
            (h[3], s[4]),
            (h[4], s[3]),
        ]),
        column([
            (h[0], r[3]),
            (h[1], r[2]),
            (h[2], r[1]),
            (h[3], r[0]),
            (h[4], s[4]),
        ]),
        column([
            (h[0], r[4]),
            (h[1], r[3]),
            (h[2], r[2]),
            (h[3], r[1]),
            (h[4], r[0]),
        ]),
    ];
    let low = carry(d.map(|(low, _)| low));
    let high = carry(d.map(|(_, high)| high));
    [
        i32x4_shuffle::<0, 2, 4, 6>(low[0], high[0]),
        i32x4_shuffle::<0, 2, 4, 6>(low[1], high[1]),
        i32x4_shuffle::<0, 2, 4, 6>(low[2], high[2]),
        i32x4_shuffle::<0, 2, 4, 6>(low[3], high[3]),
        i32x4_shuffle::<0, 2, 4, 6>(low[4], high[4]),
    ]
}

/// Carries 64-bit column sums (under 2^58) into limbs under 2^26, but the second and fifth
/// under 2^26 + 2^9: two chains interleaved (0 → 1 → 2 → 3 and 3 → 4 → 0 → 1) so each waits
/// less on the other.
#[inline(always)]
fn carry(mut d: Lanes) -> Lanes {
    let mask = u64x2_splat(u64::from(MASK));
    // (d >> 24) with its two low bits cleared is (d >> 26) · 4.
    let times_four = u64x2_splat(!3);
    let mut step = |from: usize, to: usize, times_five: bool| {
        let c = u64x2_shr(d[from], 26);
        if times_five {
            // c · 4 taken from d directly: written as c + (c << 2), LLVM makes it `i64x2.mul`
            // by 5, which V8 has no single instruction for.
            let four = v128_and(u64x2_shr(d[from], 24), times_four);
            d[to] = i64x2_add(d[to], four);
        }
        d[from] = v128_and(d[from], mask);
        d[to] = i64x2_add(d[to], c);
    };
    step(0, 1, false);
    step(3, 4, false);
    step(1, 2, false);
    step(4, 0, true);
    step(2, 3, false);
    step(0, 1, false);
    step(3, 4, false);
    d
}
