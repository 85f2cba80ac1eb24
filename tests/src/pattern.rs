//! Test data: the deterministic contents of a logical block at a generation.
//!
//! The one pattern generator of the project: the torture engine, the integration tests, the
//! fuzz targets, the command-line tool and the firmware's on-target checks all write these
//! blocks, so a block found in the wrong place reads as "block l, generation g" everywhere.
//!
//! `no_std` and allocation-free (the firmware uses this module alone, with the kit's `std`
//! feature off); [`pattern`] and [`describe`] are the `std` conveniences.
//!
//! Generation 0 is "never written or trimmed": all zeros, what the FTL returns for such a block.
//! Any other (lba, generation) gives a block that no other pair gives: SplitMix64 output seeded
//! from both, with the lba and generation in clear in the first 12 bytes (blocks of 16 bytes or
//! more) so a misplaced or stale block is recognisable in a dump ([`generation_of`]).

/// SplitMix64's increment (the golden ratio): also spreads the generation over the seed.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Bytes of the clear header: lba (u32 LE) then generation (u64 LE).
pub const HEADER: usize = 12;

/// Fill `buf` with the contents of block `lba` at generation `gen` (0 = zeros).
pub fn fill_pattern(lba: u32, gen: u64, buf: &mut [u8]) {
    if gen == 0 {
        buf.fill(0);
        return;
    }
    // The same stream as `cowftl_sim::SplitMix64::new(seed)` (checked by a test): written out
    // here because the simulator is not `no_std` and the firmware needs this module.
    let mut state = (u64::from(lba) << 40) ^ gen.wrapping_mul(GAMMA);
    for c in buf.chunks_mut(8) {
        state = state.wrapping_add(GAMMA);
        let x = splitmix_mix(state).to_le_bytes();
        c.copy_from_slice(&x[..c.len()]);
    }
    // The generation in clear, so a misplaced block is recognisable in a dump.
    if buf.len() >= 16 {
        buf[..4].copy_from_slice(&lba.to_le_bytes());
        buf[4..HEADER].copy_from_slice(&gen.to_le_bytes());
    }
}

/// SplitMix64's output function.
fn splitmix_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The (lba, generation >= 1) whose pattern `buf` is exactly, read from its header: `None` for
/// zeros, blocks under 16 bytes and anything else. `scratch` is a buffer of the same length
/// (no allocation: the firmware calls this too).
pub fn generation_of(buf: &[u8], scratch: &mut [u8]) -> Option<(u32, u64)> {
    if buf.len() < 16 || scratch.len() != buf.len() {
        return None;
    }
    let lba = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let mut g = [0u8; 8];
    g.copy_from_slice(&buf[4..HEADER]);
    let gen = u64::from_le_bytes(g);
    if gen == 0 {
        return None;
    }
    fill_pattern(lba, gen, scratch);
    (scratch == buf).then_some((lba, gen))
}

/// [`fill_pattern`] into a new block of `bs` bytes.
#[cfg(feature = "std")]
pub fn pattern(lba: u32, gen: u64, bs: usize) -> Vec<u8> {
    let mut v = vec![0; bs];
    fill_pattern(lba, gen, &mut v);
    v
}

/// What a block that should belong to `lba` holds, for failure messages: zeros, "lba l
/// generation g" (marked misplaced if `l != lba`), or garbage.
#[cfg(feature = "std")]
pub fn describe(got: &[u8], lba: u32) -> String {
    if got.iter().all(|&b| b == 0) {
        return "zeros".into();
    }
    match generation_of(got, &mut vec![0; got.len()]) {
        Some((l, g)) => format!(
            "lba {l} generation {g}{}",
            if l != lba { " (misplaced)" } else { "" }
        ),
        None => "garbage (matches no written pattern)".into(),
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use cowftl_sim::SplitMix64;

    /// The stream written out in `fill_pattern` is SplitMix64's: blocks stay what they were
    /// when the engine used the simulator's generator (pinned torture seeds replay the same).
    #[test]
    fn same_stream_as_the_simulator_generator() {
        let (lba, gen) = (7u32, 3u64);
        let mut rng = SplitMix64::new((u64::from(lba) << 40) ^ gen.wrapping_mul(GAMMA));
        let mut want = [0u8; 64];
        for c in want.chunks_mut(8) {
            c.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        want[..4].copy_from_slice(&lba.to_le_bytes());
        want[4..HEADER].copy_from_slice(&gen.to_le_bytes());
        assert_eq!(pattern(lba, gen, 64), want);
    }

    #[test]
    fn zeros_header_and_decoding() {
        assert_eq!(pattern(3, 0, 32), vec![0; 32]);
        let b = pattern(3, 9, 512);
        assert_eq!(generation_of(&b, &mut [0; 512]), Some((3, 9)));
        assert_ne!(pattern(3, 9, 512), pattern(4, 9, 512));
        assert_ne!(pattern(3, 9, 512), pattern(3, 10, 512));
        assert_eq!(describe(&b, 4), "lba 3 generation 9 (misplaced)");
        let mut junk = b.clone();
        junk[100] ^= 1;
        assert_eq!(describe(&junk, 3), "garbage (matches no written pattern)");
        // Small blocks have no header but still differ per (lba, generation).
        assert_ne!(pattern(1, 1, 8), pattern(1, 2, 8));
    }
}
