//! Splitting a byte range over fixed-size blocks: [`Pieces`].
//!
//! Both adapters turn a caller's byte range into per-block work: [`FtlStorage`] maps
//! bytes onto FTL blocks, `FtlBlockDevice` (feature `sdmmc`) maps 512-byte sectors onto FTL
//! blocks and FTL-block data back onto sectors. The arithmetic (which block, where inside
//! it, where in the caller's buffer, whether the block is covered whole) lives here once,
//! so the adapters only decide what to do with each piece.
//!
//! [`FtlStorage`]: crate::storage::FtlStorage

use core::ops::Range;

/// The part of a byte range that falls inside one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Index of the block (byte `lba * block_size` is its first byte).
    pub lba: u32,
    /// Where the piece starts inside the block.
    pub within: usize,
    /// Bytes in the piece (at least 1).
    pub len: usize,
    /// Where the piece starts in the caller's buffer (byte 0 is the range's first byte).
    pub at: usize,
    /// The block size the range was split by.
    pub block_size: usize,
}

impl Piece {
    /// Whether the piece covers its whole block: the block can then be written straight
    /// from the caller's data, without reading its old contents first.
    pub fn is_whole(&self) -> bool {
        self.within == 0 && self.len == self.block_size
    }

    /// The piece's bytes inside its block.
    pub fn in_block(&self) -> Range<usize> {
        self.within..self.within + self.len
    }

    /// The piece's bytes in the caller's buffer.
    pub fn in_buf(&self) -> Range<usize> {
        self.at..self.at + self.len
    }
}

/// The pieces of the byte range `[offset, offset + len)` over blocks of `block_size` bytes,
/// in ascending order: one [`Piece`] per block the range touches. Only the first and the
/// last piece can be partial. An empty range has no pieces.
///
/// Cheap to clone, so a caller can walk the same pieces twice (once to read the partial
/// blocks, once to write) without storing them anywhere.
#[derive(Debug, Clone)]
pub(crate) struct Pieces {
    /// Absolute byte position of the caller's buffer index 0.
    start: u64,
    /// Next byte to hand out.
    pos: u64,
    /// One past the last byte.
    end: u64,
    block_size: u64,
}

impl Pieces {
    /// Split `[offset, offset + len)` over `block_size`-byte blocks. `None` when
    /// `block_size` is 0 or a block index of the range does not fit in a `u32`: the
    /// adapters range-check first, so for them this is only a guard against panics and
    /// wrapped block numbers, never a second error path.
    pub fn new(offset: u64, len: usize, block_size: usize) -> Option<Self> {
        let block_size = block_size as u64;
        let end = offset.checked_add(len as u64)?;
        let last = end.saturating_sub(1) / block_size.max(1);
        if block_size == 0 || last > u64::from(u32::MAX) {
            return None;
        }
        Some(Pieces {
            start: offset,
            pos: offset,
            end,
            block_size,
        })
    }

    /// Whether every piece has been handed out.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Split off the pieces of the next `blocks` blocks (at least one, so a loop over this
    /// always ends) and continue after them. Buffer offsets stay relative to the whole
    /// range, so the caller indexes its one buffer for every group. This is how
    /// `FtlStorage` cuts a write into transactions of `max_transaction_blocks` blocks.
    pub fn take_blocks(&mut self, blocks: u32) -> Pieces {
        let first = self.pos / self.block_size;
        let stop = (first + u64::from(blocks.max(1))).saturating_mul(self.block_size);
        let group = Pieces {
            end: self.end.min(stop),
            ..self.clone()
        };
        self.pos = group.end.max(self.pos);
        group
    }
}

impl Iterator for Pieces {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        if self.is_empty() {
            return None;
        }
        let bs = self.block_size;
        let within = self.pos % bs;
        // Exact conversions: `new` checked that every block index fits in a u32; `within`
        // and `len` are at most the block size and `at` below the caller's `len`, both
        // given as `usize`. (`bs - within` rather than the block's end: no overflow.)
        let piece = Piece {
            lba: (self.pos / bs) as u32,
            within: within as usize,
            len: (bs - within).min(self.end - self.pos) as usize,
            at: (self.pos - self.start) as usize,
            block_size: bs as usize,
        };
        self.pos += piece.len as u64;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collect without allocating (the crate is no_std even in its unit tests).
    fn split(offset: u64, len: usize, bs: usize) -> heapless::Vec<Piece, 32> {
        Pieces::new(offset, len, bs).unwrap().collect()
    }

    fn piece(lba: u32, within: usize, len: usize, at: usize, block_size: usize) -> Piece {
        Piece {
            lba,
            within,
            len,
            at,
            block_size,
        }
    }

    /// The pieces tile the range: consecutive in the buffer and on the device.
    fn assert_tiles(offset: u64, len: usize, bs: usize) {
        let mut at = 0;
        for p in Pieces::new(offset, len, bs).unwrap() {
            assert_eq!(p.at, at);
            assert_eq!(
                p.lba as u64 * bs as u64 + p.within as u64,
                offset + at as u64
            );
            assert!(p.len >= 1 && p.within + p.len <= bs);
            at += p.len;
        }
        assert_eq!(at, len);
    }

    #[test]
    fn empty_range_has_no_pieces() {
        assert!(split(0, 0, 512).is_empty());
        assert!(split(777, 0, 512).is_empty());
        assert!(Pieces::new(512, 0, 512).unwrap().is_empty());
    }

    #[test]
    fn single_partial_block() {
        let p = split(1000, 10, 256);
        assert_eq!(&p[..], &[piece(3, 232, 10, 0, 256)]);
        assert!(!p[0].is_whole());
        assert_eq!(p[0].in_block(), 232..242);
        assert_eq!(p[0].in_buf(), 0..10);
    }

    #[test]
    fn unaligned_start_and_end() {
        let p = split(100, 1000, 512);
        let want = [
            piece(0, 100, 412, 0, 512),
            piece(1, 0, 512, 412, 512),
            piece(2, 0, 76, 924, 512),
        ];
        assert_eq!(&p[..], &want);
        let whole: heapless::Vec<bool, 3> = p.iter().map(Piece::is_whole).collect();
        assert_eq!(&whole[..], &[false, true, false]);
    }

    #[test]
    fn range_ending_exactly_at_a_block_boundary() {
        // Unaligned start, aligned end: the last piece is whole, no empty piece follows.
        let p = split(300, 212 + 512, 512);
        assert_eq!(
            &p[..],
            &[piece(0, 300, 212, 0, 512), piece(1, 0, 512, 212, 512)]
        );
        assert!(p[1].is_whole());
        // Aligned on both sides: every piece whole.
        assert!(split(1024, 2048, 512).iter().all(Piece::is_whole));
        // Starting at the block's beginning is not enough: shorter than the block is partial.
        assert!(!split(0, 511, 512)[0].is_whole());
    }

    #[test]
    fn blocks_smaller_than_a_sector() {
        // Sector 3 over 128-byte FTL blocks: four whole blocks, 12..16.
        let p = split(3 * 512, 512, 128);
        assert_eq!(p.len(), 4);
        for (i, q) in p.iter().enumerate() {
            assert_eq!(*q, piece(12 + i as u32, 0, 128, i * 128, 128));
        }
        assert_tiles(3 * 512, 7 * 512, 64);
    }

    #[test]
    fn blocks_larger_than_a_sector() {
        // Sectors 3..10 over 2048-byte blocks (the blockdev's unaligned case).
        let p = split(3 * 512, 7 * 512, 2048);
        assert_eq!(
            &p[..],
            &[
                piece(0, 1536, 512, 0, 2048),
                piece(1, 0, 2048, 512, 2048),
                piece(2, 0, 1024, 2560, 2048),
            ]
        );
        // One sector inside a 4 KiB block: partial, so the block must be merged.
        let p = split(5 * 512, 512, 4096);
        assert_eq!(&p[..], &[piece(0, 2560, 512, 0, 4096)]);
        assert!(!p[0].is_whole());
        assert_tiles(5 * 512, 100 * 512, 4096);
    }

    #[test]
    fn tiles_any_range() {
        for bs in [1, 7, 64, 512, 1000, 4096] {
            for offset in [0, 1, 63, 511, 512, 4095, 100_000] {
                for len in [0, 1, 2, 511, 512, 513, 4096, 9999] {
                    assert_tiles(offset, len, bs);
                }
            }
        }
    }

    #[test]
    fn take_blocks_groups_from_the_current_block() {
        // Starting inside block 3 with groups of 2: blocks 3-4, 5-6, 7.
        let mut all = Pieces::new(3 * 100 + 50, 4 * 100 + 10, 100).unwrap();
        let mut groups: heapless::Vec<heapless::Vec<Piece, 4>, 4> = heapless::Vec::new();
        while !all.is_empty() {
            groups.push(all.take_blocks(2).collect()).unwrap();
        }
        let want: [&[u32]; 3] = [&[3, 4], &[5, 6], &[7]];
        assert_eq!(groups.len(), want.len());
        for (g, w) in groups.iter().zip(want) {
            let lbas: heapless::Vec<u32, 4> = g.iter().map(|p| p.lba).collect();
            assert_eq!(&lbas[..], w);
        }
        // Buffer offsets run on across groups.
        assert_eq!(groups[1][0].at, 150);
        assert_eq!(groups[2][0], piece(7, 0, 60, 350, 100));
        // Zero blocks still makes progress.
        let mut one = Pieces::new(0, 300, 100).unwrap();
        assert_eq!(one.take_blocks(0).count(), 1);
        assert_eq!(one.count(), 2);
    }

    #[test]
    fn refuses_what_would_panic_or_wrap() {
        assert!(Pieces::new(0, 10, 0).is_none());
        assert!(Pieces::new(u64::MAX, 1, 512).is_none());
        // Last byte in block u32::MAX: fine; one byte further: refused.
        let top = u64::from(u32::MAX) * 64;
        assert_eq!(split(top, 64, 64)[0].lba, u32::MAX);
        assert!(Pieces::new(top, 65, 64).is_none());
        // A block size near the top of the address space neither overflows nor wraps
        // (the second block ends past u64::MAX on 64-bit hosts).
        let huge = usize::MAX / 2 + 1;
        let p = split(huge as u64 - 3, 5, huge);
        assert_eq!(
            &p[..],
            &[piece(0, huge - 3, 3, 0, huge), piece(1, 0, 2, 3, huge)]
        );
    }
}
