//! The ChaCha20 state both backends start from: constants, key and nonce words, the four
//! block counters of a step, and the order of a double round's quarter rounds. Data only; it
//! must never compute a block itself.

/// The length of one ChaCha20 block.
pub(crate) const BLOCK_LEN: usize = 64;

/// Blocks computed per step.
pub(crate) const BLOCKS: usize = 4;

/// The keystream of one step: four consecutive blocks.
pub(crate) type Keystream = [u8; BLOCK_LEN * BLOCKS];

/// The state words of the constant "expand 32-byte k".
pub(crate) const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The state words each quarter round of a double round mixes: the four columns, then the
/// four diagonals (RFC 8439 §2.3). Both backends run it ten times. The SIMD one indexes it with
/// constants, entry by entry: LLVM did not unroll a loop over it for wasm, and then kept the
/// state in memory.
pub(crate) const DOUBLE_ROUND: [[usize; 4]; 8] = [
    [0, 4, 8, 12],
    [1, 5, 9, 13],
    [2, 6, 10, 14],
    [3, 7, 11, 15],
    [0, 5, 10, 15],
    [1, 6, 11, 12],
    [2, 7, 8, 13],
    [3, 4, 9, 14],
];

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
