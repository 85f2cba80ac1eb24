//! On-flash structures: the unit header and the slot record, their byte layout, encoding,
//! decoding and CRCs. Nothing here touches the flash; `FORMAT.md` is the normative spec.
//!
//! A unit (one or more erase pages) looks like this:
//!
//! ```text
//! +----------+----------+---------------------------+----------------------------------+
//! | header A | header B | record 0 | ... | record n-1 | data 0 | data 1 | ... | data n-1 |
//! +----------+----------+---------------------------+----------------------------------+
//!  written    written    record i is programmed       data i is programmed before
//!  right      when the   after data i: the record     record i (record = commit)
//!  after      unit is    commits the slot
//!  erase      opened
//! ```
//!
//! Every structure is padded to a whole number of flash write units, and every write unit is
//! programmed at most once between two erases.

use crc::{Crc, CRC_32_ISCSI};

/// CRC-32C (Castagnoli), used for headers, records and data.
pub const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// "CoWF" little-endian: identifies a cowftl unit header.
pub const MAGIC: u32 = u32::from_le_bytes(*b"CoWF");
/// On-flash format version written by this build. Bump on any incompatible change.
pub const FORMAT_VERSION: u8 = 2;
/// Encoded size of a header before padding to the write size.
pub const HEADER_BYTES: usize = 32;
/// Encoded size of a record before padding to the write size.
pub const RECORD_BYTES: usize = 24;

/// Which copy of the header, and therefore what it says about the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderKind {
    /// Header A: written right after the erase. Carries the wear counter of a free unit.
    Erased = 0xA5,
    /// Header B: written when the unit becomes a write frontier, before any record.
    Opened = 0xB6,
}

/// Which write stream a unit was opened for (host writes or GC relocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stream {
    Host = 1,
    Gc = 2,
}

/// Unit header (32 bytes, little-endian).
///
/// ```text
///  0       4     5      6      7        8           12         14      16             24      28      32
///  +-------+-----+------+------+--------+-----------+----------+-------+--------------+-------+-------+
///  | magic | ver | kind | bsh  | stream | unit_size | unit_cnt | epoch | seq (u64)    | wear  | crc   |
///  +-------+-----+------+------+--------+-----------+----------+-------+--------------+-------+-------+
///  magic     "CoWF"
///  ver       FORMAT_VERSION
///  kind      0xA5 = header A (after erase), 0xB6 = header B (unit opened)
///  bsh       log2(block size)
///  stream    0 in header A; 1 = host, 2 = GC in header B
///  unit_size bytes per unit, unit_cnt (u16) units in the region (geometry fingerprint)
///  epoch     volume generation, +1 at every format: units of another epoch are not ours
///  seq       value of the global sequence counter when written (never reused)
///  wear      number of times this unit has been erased
///  crc       CRC-32C of bytes 0..28
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitHeader {
    pub version: u8,
    pub kind: HeaderKind,
    pub block_shift: u8,
    pub stream: u8,
    pub unit_size: u32,
    pub unit_count: u16,
    pub epoch: u16,
    pub seq: u64,
    pub wear: u32,
}

/// What a header area of flash turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRead {
    /// All bytes 0xFF.
    Erased,
    /// Magic and CRC check out.
    Valid(UnitHeader),
    /// Anything else: torn, rotten or foreign.
    Invalid,
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// True if every byte is 0xFF (erased NOR).
pub fn is_erased(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

impl UnitHeader {
    /// Encode into `out` (at least `HEADER_BYTES`); bytes past 32 are left 0xFF padding.
    pub fn encode(&self, out: &mut [u8]) {
        out.fill(0xFF);
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4] = self.version;
        out[5] = self.kind as u8;
        out[6] = self.block_shift;
        out[7] = self.stream;
        out[8..12].copy_from_slice(&self.unit_size.to_le_bytes());
        out[12..14].copy_from_slice(&self.unit_count.to_le_bytes());
        out[14..16].copy_from_slice(&self.epoch.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..28].copy_from_slice(&self.wear.to_le_bytes());
        let crc = CRC.checksum(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(UnitHeader::decode(out), HeaderRead::Valid(*self));
    }

    /// Decode a header area (at least `HEADER_BYTES` long). Never panics on any content.
    pub fn decode(b: &[u8]) -> HeaderRead {
        if b.len() < HEADER_BYTES {
            return HeaderRead::Invalid;
        }
        if is_erased(b) {
            return HeaderRead::Erased;
        }
        if le32(b, 0) != MAGIC || le32(b, 28) != CRC.checksum(&b[0..28]) {
            return HeaderRead::Invalid;
        }
        let kind = match b[5] {
            0xA5 => HeaderKind::Erased,
            0xB6 => HeaderKind::Opened,
            _ => return HeaderRead::Invalid,
        };
        HeaderRead::Valid(UnitHeader {
            version: b[4],
            kind,
            block_shift: b[6],
            stream: b[7],
            unit_size: le32(b, 8),
            unit_count: u16::from_le_bytes([b[12], b[13]]),
            epoch: u16::from_le_bytes([b[14], b[15]]),
            seq: le64(b, 16),
            wear: le32(b, 24),
        })
    }
}

/// What a slot record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordKind {
    /// The slot's data area holds the block's contents.
    Data = 0xD1,
    /// The block was trimmed: it reads as zeros. The data area is unused.
    Trim = 0x7E,
    /// No block: written by mount into a resumed frontier. Slots `lba..data_crc` of the
    /// same unit (below the marker) are *void*: whatever they hold or will ever read as is
    /// ignored. That is how a record whose program was cut, and which read as invalid or
    /// erased at that mount, can never come back as valid later (see `FORMAT.md`).
    Marker = 0x3C,
    /// No block: `lba` holds a unit index that is about to be erased. A unit whose header A
    /// is older than such a record had its erase cut: it must be erased again before use.
    EraseIntent = 0xE5,
    /// No block: `lba` holds a unit index that failed a program, erase or verification and
    /// is out of service for good. GC carries the newest such record of each retired unit
    /// forward, so mount knows the unit is bad without touching it.
    Retire = 0x5A,
}

/// Slot record (24 bytes, little-endian). Programmed after the slot's data: it is the commit.
///
/// ```text
///  0      1       2       4         8                   16           20           24
///  +------+-------+-------+---------+-------------------+------------+------------+
///  | kind | flags | erases| lba     | version (u64)     | data_crc   | rec_crc    |
///  +------+-------+-------+---------+-------------------+------------+------------+
///  kind      0xD1 data, 0x7E trim, 0x3C marker, 0xE5 erase intent, 0x5A retired unit
///            (other values: invalid)
///  flags     0xFF: a host write or trim; 0xFE: a copy (GC / wear levelling / recovery
///            relocation, marker, intent) whose loss would change nothing visible
///  erases    u16 unit index that is erased right after this record (GC piggybacks its
///            erase intent on the last copy out of the victim); 0xFFFF = none
///  lba       logical block number; the unit index for an intent; for a marker the first
///            slot of the void range
///  version   global sequence number at the time the record was written; GC copies and
///            mount-time copies get a fresh one too. Highest version of an lba wins.
///  data_crc  CRC-32C of the block's data (0 for trim / intent); for a marker the end
///            (exclusive) of the void range
///  rec_crc   CRC-32C of bytes 0..20
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotRecord {
    pub kind: RecordKind,
    /// Written by the FTL itself (relocation, marker, intent), not by a host write.
    pub copy: bool,
    /// A unit whose erase starts right after this record was written.
    pub erases: Option<u16>,
    pub lba: u32,
    pub version: u64,
    pub data_crc: u32,
}

/// What a record area of flash turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRead {
    Erased,
    Valid(SlotRecord),
    Invalid,
}

impl SlotRecord {
    /// For a marker at `slot`: the slots it voids, `lba..data_crc`, if that range is
    /// well-formed (it must lie below the marker). Any other record voids nothing.
    pub fn void_range(&self, slot: u32) -> Option<(u32, u32)> {
        let (start, end) = (self.lba, self.data_crc);
        (self.kind == RecordKind::Marker && start < end && end <= slot).then_some((start, end))
    }

    /// Encode into `out` (at least `RECORD_BYTES`); bytes past 24 are left 0xFF padding.
    pub fn encode(&self, out: &mut [u8]) {
        out.fill(0xFF);
        out[0] = self.kind as u8;
        out[1] = if self.copy { 0xFE } else { 0xFF };
        out[2..4].copy_from_slice(&self.erases.unwrap_or(u16::MAX).to_le_bytes());
        out[4..8].copy_from_slice(&self.lba.to_le_bytes());
        out[8..16].copy_from_slice(&self.version.to_le_bytes());
        out[16..20].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = CRC.checksum(&out[0..20]);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(SlotRecord::decode(out), RecordRead::Valid(*self));
    }

    /// Decode a record area (at least `RECORD_BYTES` long). Never panics on any content.
    pub fn decode(b: &[u8]) -> RecordRead {
        if b.len() < RECORD_BYTES {
            return RecordRead::Invalid;
        }
        if is_erased(b) {
            return RecordRead::Erased;
        }
        if le32(b, 20) != CRC.checksum(&b[0..20]) || b[1] < 0xFE {
            return RecordRead::Invalid;
        }
        let kind = match b[0] {
            0xD1 => RecordKind::Data,
            0x7E => RecordKind::Trim,
            0x3C => RecordKind::Marker,
            0xE5 => RecordKind::EraseIntent,
            0x5A => RecordKind::Retire,
            _ => return RecordRead::Invalid,
        };
        RecordRead::Valid(SlotRecord {
            kind,
            copy: b[1] == 0xFE,
            erases: match u16::from_le_bytes([b[2], b[3]]) {
                u16::MAX => None,
                u => Some(u),
            },
            lba: le32(b, 4),
            version: le64(b, 8),
            data_crc: le32(b, 16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_castagnoli() {
        assert_eq!(CRC.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn header_round_trip_and_rejects_damage() {
        let h = UnitHeader {
            version: FORMAT_VERSION,
            kind: HeaderKind::Opened,
            block_shift: 9,
            stream: Stream::Gc as u8,
            unit_size: 16384,
            unit_count: 64,
            epoch: 3,
            seq: 0x0123_4567_89AB,
            wear: 77,
        };
        let mut b = [0u8; 40];
        h.encode(&mut b);
        assert_eq!(UnitHeader::decode(&b), HeaderRead::Valid(h));
        assert!(b[32..].iter().all(|&x| x == 0xFF));
        for bit in 0..(32 * 8) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(UnitHeader::decode(&d), HeaderRead::Invalid, "bit {bit}");
        }
        assert_eq!(UnitHeader::decode(&[0xFF; 32]), HeaderRead::Erased);
        assert_eq!(UnitHeader::decode(&[0; 32]), HeaderRead::Invalid);
        assert_eq!(UnitHeader::decode(&[0; 3]), HeaderRead::Invalid);
    }

    #[test]
    fn record_round_trip_and_rejects_damage() {
        let r = SlotRecord {
            kind: RecordKind::Data,
            copy: true,
            erases: Some(3),
            lba: 42,
            version: 9,
            data_crc: 0xDEAD_BEEF,
        };
        let mut b = [0u8; 24];
        r.encode(&mut b);
        assert_eq!(SlotRecord::decode(&b), RecordRead::Valid(r));
        for bit in 0..(24 * 8) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(SlotRecord::decode(&d), RecordRead::Invalid, "bit {bit}");
        }
        assert_eq!(SlotRecord::decode(&[0xFF; 24]), RecordRead::Erased);
        assert_eq!(SlotRecord::decode(&[0; 24]), RecordRead::Invalid);
    }
}
