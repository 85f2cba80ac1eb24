//! The reference model of a block device: what every logical block must read back.
//!
//! Blocks hold [`crate::pattern`] data, so the model only keeps the generation last
//! acknowledged per block (0 = zeros: never written, or trimmed). The torture engine, the
//! integration tests and `cowftl demo` check the FTL against it.

use crate::pattern::fill_pattern;

/// Acknowledged generation per block, plus a source of fresh generations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Index = lba; blocks past the end are zeros.
    gens: Vec<u64>,
    /// Highest generation seen (written or handed out).
    last: u64,
}

impl Model {
    /// A model of `blocks` zero blocks (it also grows on demand, so `default()` works).
    pub fn new(blocks: u32) -> Self {
        Model {
            gens: vec![0; blocks as usize],
            last: 0,
        }
    }

    /// A generation never used before in this model (the first is 1).
    pub fn next_gen(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// An acknowledged write of `pattern(lba, gen)`.
    pub fn write(&mut self, lba: u32, gen: u64) {
        let i = lba as usize;
        if i >= self.gens.len() {
            self.gens.resize(i + 1, 0);
        }
        self.gens[i] = gen;
        self.last = self.last.max(gen);
    }

    /// An acknowledged trim: the block reads zeros again.
    pub fn trim(&mut self, lba: u32) {
        if let Some(g) = self.gens.get_mut(lba as usize) {
            *g = 0;
        }
    }

    /// The generation `lba` must hold (0 = zeros).
    pub fn gen(&self, lba: u32) -> u64 {
        self.gens.get(lba as usize).copied().unwrap_or(0)
    }

    /// Fill `buf` with what `lba` must read back.
    pub fn expect(&self, lba: u32, buf: &mut [u8]) {
        fill_pattern(lba, self.gen(lba), buf);
    }

    /// What `lba` must read back, as a new block of `bs` bytes.
    pub fn expected(&self, lba: u32, bs: usize) -> Vec<u8> {
        let mut v = vec![0; bs];
        self.expect(lba, &mut v);
        v
    }
}
