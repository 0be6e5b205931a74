//! Poly1305's arithmetic one block at a time, in five 26-bit limbs (the layout `vector.rs`
//! keeps per lane, so the two hand numbers to each other as they are): the clamped `r` and its
//! powers, the blocks after the last whole 64-byte chunk, and the final reduction mod
//! 2^130 - 5 with `s` added. Only for wasm32 with `simd128`, beside `vector.rs`.
//!
//! It must never branch or index on the key or the message's contents: the final choice
//! between `h` and `h - p` is a mask, not a branch.

use super::{POLY1305_KEY_LEN, POLY1305_TAG_LEN};

/// The bits of one limb.
pub(super) const MASK: u32 = (1 << 26) - 1;

/// The length of a block.
const BLOCK_LEN: usize = 16;

/// A number mod 2^130 - 5 as five 26-bit limbs, least significant first. A limb may hold a
/// few bits more (a sum before its carry, or the second limb after one): with every limb under
/// 2^28.5, and `r`'s under 2^26 + 2^10, each column of `times` stays under 2^60.
#[derive(Clone, Copy, Default)]
pub(super) struct Limbs(pub(super) [u32; 5]);

impl Limbs {
    /// A 16-byte little-endian number plus `high_bit · 2^128` (1 for a whole block, the padding
    /// RFC 8439 appends; 0 for the last partial block, already padded, and for the key).
    fn from_le_bytes(bytes: [u8; BLOCK_LEN], high_bit: u32) -> Self {
        let n = u128::from_le_bytes(bytes);
        let limb = |i: u32| (n >> (26 * i)) as u32 & MASK;
        Self([
            limb(0),
            limb(1),
            limb(2),
            limb(3),
            (n >> 104) as u32 | high_bit << 24,
        ])
    }

    /// The key's `r`, clamped (RFC 8439 §2.5: the top four bits of bytes 3, 7, 11 and 15 and
    /// the bottom two of bytes 4, 8 and 12 cleared).
    pub(super) fn r_of(key: &[u8; POLY1305_KEY_LEN]) -> Self {
        let mut r = [0; BLOCK_LEN];
        r.copy_from_slice(&key[..BLOCK_LEN]);
        let clamped = u128::from_le_bytes(r) & 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffff;
        Self::from_le_bytes(clamped.to_le_bytes(), 0)
    }

    /// `self · r mod 2^130 - 5`, carried: limbs under 2^26 but the second, under 2^26 + 2^10
    /// while every limb of `self` is under 2^28.5.
    pub(super) fn times(self, r: &Self) -> Self {
        let h = self.0.map(u64::from);
        let r = r.0.map(u64::from);
        // 2^130 = 5 (mod p): a product's part past the fifth limb comes back five times over.
        let s = r.map(|limb| limb * 5);
        carry([
            h[0] * r[0] + h[1] * s[4] + h[2] * s[3] + h[3] * s[2] + h[4] * s[1],
            h[0] * r[1] + h[1] * r[0] + h[2] * s[4] + h[3] * s[3] + h[4] * s[2],
            h[0] * r[2] + h[1] * r[1] + h[2] * r[0] + h[3] * s[4] + h[4] * s[3],
            h[0] * r[3] + h[1] * r[2] + h[2] * r[1] + h[3] * r[0] + h[4] * s[4],
            h[0] * r[4] + h[1] * r[3] + h[2] * r[2] + h[3] * r[1] + h[4] * r[0],
        ])
    }

    fn plus(self, other: Self) -> Self {
        let mut sum = self.0;
        for (limb, add) in sum.iter_mut().zip(other.0) {
            *limb = limb.wrapping_add(add);
        }
        Self(sum)
    }
}

/// Five column sums (each under 2^63) carried into limbs: each carry moves up one
/// limb, the fifth's wraps round to the first times five.
fn carry(mut d: [u64; 5]) -> Limbs {
    let mask = u64::from(MASK);
    for i in 0..4 {
        d[i + 1] += d[i] >> 26;
        d[i] &= mask;
    }
    d[0] += (d[4] >> 26) * 5;
    d[4] &= mask;
    d[1] += d[0] >> 26;
    d[0] &= mask;
    Limbs(d.map(|limb| limb as u32))
}

/// `h` after absorbing `message` block by block (`h = (h + block) · r`), the last partial block
/// padded with a 1 byte and zeros.
pub(super) fn absorb(mut h: Limbs, r: &Limbs, message: &[u8]) -> Limbs {
    let mut blocks = message.chunks_exact(BLOCK_LEN);
    for block in &mut blocks {
        let mut bytes = [0; BLOCK_LEN];
        bytes.copy_from_slice(block);
        h = h.plus(Limbs::from_le_bytes(bytes, 1)).times(r);
    }
    let last = blocks.remainder();
    if !last.is_empty() {
        let mut bytes = [0; BLOCK_LEN];
        bytes[..last.len()].copy_from_slice(last);
        bytes[last.len()] = 1;
        h = h.plus(Limbs::from_le_bytes(bytes, 0)).times(r);
    }
    h
}

/// The tag: `h` reduced mod 2^130 - 5, plus the key's `s`, mod 2^128.
pub(super) fn tag(h: Limbs, key: &[u8; POLY1305_KEY_LEN]) -> [u8; POLY1305_TAG_LEN] {
    let h = carry(h.0.map(u64::from)).0.map(u64::from);
    let mask = u64::from(MASK);
    // g = h + 5 - 2^130 = h - p, its limbs carried; its top limb is negative when h < p.
    let mut g = [0; 5];
    let mut c = 5;
    for i in 0..4 {
        let sum = h[i] + c;
        g[i] = sum & mask;
        c = sum >> 26;
    }
    g[4] = (h[4] + c).wrapping_sub(1 << 26);
    // All ones when g's top limb is non-negative (h ≥ p: take g), else zero (take h).
    let take_g = (g[4] >> 63).wrapping_sub(1);
    let mut reduced: u128 = 0;
    for (i, (h, g)) in h.iter().zip(g).enumerate() {
        let limb = (h & !take_g) | (g & take_g);
        // Added, not OR-ed: the second limb of h may hold a 27th bit. Bits past 2^128 fall off,
        // as the tag is taken mod 2^128.
        reduced = reduced.wrapping_add(u128::from(limb) << (26 * i));
    }
    let mut s = [0; BLOCK_LEN];
    s.copy_from_slice(&key[BLOCK_LEN..]);
    reduced.wrapping_add(u128::from_le_bytes(s)).to_le_bytes()
}
