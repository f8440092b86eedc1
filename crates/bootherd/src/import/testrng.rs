//! xorshift64 for the randomized tests of import (as `bootherd-proto`'s
//! `testrng.rs`): deterministic, no dependency.

/// A tiny deterministic generator, seeded with a non-zero state.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
