//! The volume table: the record that names the live snapshots, the version ranges rollbacks
//! made dead ("holes") and the reset version. Encoding, decoding and the questions the
//! other layers ask of it; nothing here touches the flash. The reasoning is in
//! docs/DESIGN.md ("Snapshots"), the bytes in FORMAT.md.
//!
//! A table is the data of a slot record of kind 6; the newest table (by its own `version`)
//! counts, GC carries it forward like a reset record (kind 5, which stands for a table with
//! only a reset version). Its first `TABLE_BYTES` bytes of the block (the rest stays erased,
//! 0xFF, and is covered by the record's data CRC like any data):
//!
//! ```text
//!  0       4       8          16         24                      88                        152   256
//!  +-------+-------+----------+----------+-----------------------+-------------------------+-----+
//!  | magic | rsv   | version  | reset    | snapshot 0 .. 7 (u64) | hole 0 .. 3 (from, to)  | rsv |
//!  +-------+-------+----------+----------+-----------------------+-------------------------+-----+
//!  magic "SNAP"; version: the version this table was written at (the record's own claim
//!  version when the host wrote it); reset: records older than this do not count; snapshot k:
//!  0 (free) or the version of the table that took it (the snapshot sees every record older
//!  than that); hole (from, to): records with from <= version < to are dead (a rollback to the
//!  snapshot `from` at version `to`), (0, 0) when unused; rsv bytes 0xFF.
//! ```

use crate::layout::VERSION_CEILING;

/// Snapshots one table can name (the on-flash limit; a build keeps `MAX_SNAPSHOTS` of
/// them in RAM, `Ftl`'s fourth const parameter).
pub const TABLE_SNAPSHOTS: usize = 8;
/// Rollbacks whose dead records may still be on flash at once.
pub const TABLE_HOLES: usize = 4;
/// Bytes of a table record's data that are programmed (the block must be at least this).
pub const TABLE_BYTES: usize = 256;
/// Stands for "the version this table record is written at" until it is appended.
pub const PENDING: u64 = u64::MAX;

const TABLE_MAGIC: u32 = u32::from_le_bytes(*b"SNAP");
const SNAPS_AT: usize = 24;
const HOLES_AT: usize = SNAPS_AT + 8 * TABLE_SNAPSHOTS;
const END: usize = HOLES_AT + 16 * TABLE_HOLES;
const _: () = assert!(END <= TABLE_BYTES);

/// The decoded table (also the RAM copy of the live one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VolumeTable {
    pub version: u64,
    pub reset_version: u64,
    pub snaps: [u64; TABLE_SNAPSHOTS],
    pub holes: [(u64, u64); TABLE_HOLES],
}

impl VolumeTable {
    /// No table, no reset.
    pub const EMPTY: VolumeTable = VolumeTable {
        version: 0,
        reset_version: 0,
        snaps: [0; TABLE_SNAPSHOTS],
        holes: [(0, 0); TABLE_HOLES],
    };

    /// What a reset record (kind 5) for version `v` stands for.
    pub fn reset(v: u64) -> Self {
        VolumeTable {
            version: v,
            reset_version: v,
            ..Self::EMPTY
        }
    }

    /// A live snapshot or a hole: mount must scan with this table known.
    pub fn shapes_views(&self) -> bool {
        self.snaps.iter().any(|&s| s != 0) || self.holes.iter().any(|&(f, _)| f != 0)
    }

    /// Is a record of version `v` dead (inside a rolled-back range)?
    pub fn in_hole(&self, v: u64) -> bool {
        self.holes.iter().any(|&(f, t)| f != 0 && f <= v && v < t)
    }

    /// Does some live snapshot see records of version `v` (is `v` older than it)?
    pub fn pinned(&self, v: u64) -> bool {
        self.snaps.iter().any(|&s| s != 0 && v < s)
    }

    /// The table as appended at version `v`: `PENDING` entries become `v`.
    pub fn stamped(&self, v: u64) -> Self {
        let fix = |x: u64| if x == PENDING { v } else { x };
        let mut t = *self;
        t.version = v;
        t.reset_version = fix(t.reset_version);
        t.snaps.iter_mut().for_each(|s| *s = fix(*s));
        t.holes.iter_mut().for_each(|h| h.1 = fix(h.1));
        t
    }

    /// The data CRC of a table record: its bytes, then the rest of the block still erased.
    /// Mount checks the table bytes against it without reading the erased rest (what
    /// matters is that the table is intact).
    pub fn data_crc(bytes: &[u8; TABLE_BYTES], block_size: u32) -> u32 {
        let mut d = crate::layout::CRC.digest();
        d.update(bytes);
        let erased = [0xFFu8; 64];
        let mut left = block_size.saturating_sub(TABLE_BYTES as u32) as usize;
        while left > 0 {
            let n = left.min(erased.len());
            d.update(&erased[..n]);
            left -= n;
        }
        d.finalize()
    }

    /// The encoded bytes (after `stamped`).
    pub fn to_bytes(&self) -> [u8; TABLE_BYTES] {
        let mut b = [0xFF; TABLE_BYTES];
        b[..4].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        put64(&mut b, 8, self.version);
        put64(&mut b, 16, self.reset_version);
        for (i, s) in self.snaps.iter().enumerate() {
            put64(&mut b, SNAPS_AT + 8 * i, *s);
        }
        for (i, (f, t)) in self.holes.iter().enumerate() {
            put64(&mut b, HOLES_AT + 16 * i, *f);
            put64(&mut b, HOLES_AT + 16 * i + 8, *t);
        }
        debug_assert_eq!(Self::decode(&b), Some(*self));
        b
    }

    /// Decode a table read from flash; `None` unless every field is one cowftl writes
    /// (versions below the ceiling, nothing newer than the table itself, holes ordered).
    pub fn decode(b: &[u8; TABLE_BYTES]) -> Option<Self> {
        let mut t = Self::EMPTY;
        t.decode_into(b).then_some(t)
    }

    /// `decode` in place: every field from `b`; `false` (fields unspecified) unless `b` is
    /// a table cowftl writes. Mount decodes into its own table this way: no table-sized
    /// `Option` is built and copied (less code).
    pub fn decode_into(&mut self, b: &[u8; TABLE_BYTES]) -> bool {
        if b[..4] != TABLE_MAGIC.to_le_bytes() {
            return false;
        }
        self.version = get64(b, 8);
        self.reset_version = get64(b, 16);
        for (i, s) in self.snaps.iter_mut().enumerate() {
            *s = get64(b, SNAPS_AT + 8 * i);
        }
        for (i, h) in self.holes.iter_mut().enumerate() {
            *h = (get64(b, HOLES_AT + 16 * i), get64(b, HOLES_AT + 16 * i + 8));
        }
        self.is_sane()
    }

    fn is_sane(&self) -> bool {
        let v = self.version;
        if v == 0 || v >= VERSION_CEILING || self.reset_version > v {
            return false;
        }
        // Plain loops with early returns (less code than `all` over two iterators).
        for &s in &self.snaps {
            if s != 0 && (s <= self.reset_version || s > v) {
                return false;
            }
        }
        for &(f, t) in &self.holes {
            if (f, t) != (0, 0) && (f == 0 || f >= t || t > v) {
                return false;
            }
        }
        true
    }
}

fn put64(b: &mut [u8; TABLE_BYTES], at: usize, x: u64) {
    b[at..at + 8].copy_from_slice(&x.to_le_bytes());
}

fn get64(b: &[u8; TABLE_BYTES], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stamps_pending_entries() {
        let mut t = VolumeTable::reset(0);
        t.snaps[2] = PENDING;
        t.holes[0] = (5, PENDING);
        let t = t.stamped(40);
        assert_eq!((t.version, t.snaps[2], t.holes[0]), (40, 40, (5, 40)));
        assert_eq!(VolumeTable::decode(&t.to_bytes()), Some(t));
        assert!(t.in_hole(5) && t.in_hole(39) && !t.in_hole(40) && !t.in_hole(4));
        assert!(t.pinned(39) && !t.pinned(40));
    }

    #[test]
    fn refuses_fields_cowftl_never_writes() {
        let good = VolumeTable::reset(9).stamped(10);
        let mut bad = [good; 5];
        bad[0].snaps[0] = 11; // newer than the table
        bad[1].holes[0] = (7, 7); // empty range
        bad[2].version = VERSION_CEILING;
        bad[3].snaps[1] = 9; // not newer than the reset
        bad[4].holes[3] = (0, 3);
        for t in bad {
            let mut b = good.to_bytes();
            put64(&mut b, 8, t.version);
            put64(&mut b, SNAPS_AT, t.snaps[0]);
            put64(&mut b, SNAPS_AT + 8, t.snaps[1]);
            put64(&mut b, HOLES_AT, t.holes[0].0);
            put64(&mut b, HOLES_AT + 8, t.holes[0].1);
            put64(&mut b, HOLES_AT + 48, t.holes[3].0);
            put64(&mut b, HOLES_AT + 56, t.holes[3].1);
            assert_eq!(VolumeTable::decode(&b), None, "{t:?}");
        }
        let mut b = good.to_bytes();
        b[0] ^= 1;
        assert_eq!(VolumeTable::decode(&b), None);
    }
}
