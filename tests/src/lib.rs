//! Shared helpers for the integration tests: a reference model of the block device, and
//! workload generators. The tests themselves are in `tests/`.

use std::collections::HashMap;

/// What the volume must contain: lba -> data (absent = zeros).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub blocks: HashMap<u32, Vec<u8>>,
}

impl Model {
    pub fn write(&mut self, lba: u32, data: &[u8]) {
        self.blocks.insert(lba, data.to_vec());
    }
    pub fn trim(&mut self, lba: u32) {
        self.blocks.remove(&lba);
    }
    /// Expected contents of `lba` for a block of `bs` bytes.
    pub fn expect(&self, lba: u32, bs: usize) -> Vec<u8> {
        self.blocks
            .get(&lba)
            .cloned()
            .unwrap_or_else(|| vec![0; bs])
    }
}

/// A block of `bs` bytes whose contents identify (lba, generation) — so a misplaced or stale
/// block never looks right.
pub fn pattern(lba: u32, gen: u64, bs: usize) -> Vec<u8> {
    let mut x = (lba as u64) << 32 ^ gen.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5;
    (0..bs)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
