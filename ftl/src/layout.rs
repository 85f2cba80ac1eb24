//! On-flash structures: the unit header, the slot record (claim + commit) and the seal.
//! Byte layouts, encoding, decoding and CRCs; nothing here touches the flash.
//! `FORMAT.md` is the normative spec, `docs/DESIGN.md` the reasoning.
//!
//! A unit (one or more erase pages):
//!
//! ```text
//! +--------+------------------------------------------+------+--------+-----+----------+
//! | header | claim 0 | commit 0 | ... | claim n-1 | commit n-1 | seal | data 0 | ... | data n-1 |
//! +--------+------------------------------------------+------+--------+-----+----------+
//!  after     one record per slot, in the table at the    last   one block per slot
//!  erase     start of the unit (mount reads only this)   slot
//! ```
//!
//! A slot is programmed in three steps: claim, data, commit. The claim says what the slot
//! will hold (so a slot whose program was cut is visibly used, and its `skip` field is
//! stable before anything else of it is programmed); the commit makes it valid. Every
//! structure is padded to whole flash write units; no write unit is programmed twice
//! between two erases.

use crc::{Crc, CRC_32_ISCSI};

/// CRC-32C (Castagnoli), used for headers, records and data.
pub const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// "CoWF" little-endian: identifies a cowftl unit header.
pub const MAGIC: u32 = u32::from_le_bytes(*b"CoWF");
/// On-flash format version written by this build. Bump on any incompatible change.
pub const FORMAT_VERSION: u8 = 3;
/// The format version of a volume whose block map lives on flash (`flashmap::mode`): v3's
/// layout plus the map's record kinds. Each mode refuses the other's volumes.
pub const FLASH_MAP_VERSION: u8 = 4;
/// Encoded header size before padding.
pub const HEADER_BYTES: usize = 32;
/// Encoded claim size before padding.
pub const CLAIM_BYTES: usize = 16;
/// Encoded commit size before padding.
pub const COMMIT_BYTES: usize = 8;
/// Encoded seal size before padding.
pub const SEAL_BYTES: usize = 8;
/// Versions are 40-bit: far beyond any part's lifetime of programs.
pub const VERSION_LIMIT: u64 = 1 << 40;
/// Versions from here on are never issued, and a volume holding one is refused at mount:
/// only a crafted image gets near (a part wears out after far fewer programs).
pub const VERSION_CEILING: u64 = VERSION_LIMIT - (1 << 32);
/// "SEAL" little-endian.
const SEAL_MAGIC: u32 = u32::from_le_bytes(*b"SEAL");

/// Unit header, programmed right after a successful erase (32 bytes).
///
/// ```text
///  0       4     5     6     8           12         14     16      20      24      28      32
///  +-------+-----+-----+-----+-----------+----------+------+-------+-------+-------+-------+
///  | magic | ver | bsh | rsv | unit_size | unit_cnt | rsv  | epoch | wear  | rsv   | crc   |
///  +-------+-----+-----+-----+-----------+----------+------+-------+-------+-------+-------+
///  magic "CoWF", ver FORMAT_VERSION, bsh log2(block size); unit_size, unit_cnt and bsh are
///  the geometry fingerprint; epoch: volume generation (+1 per format); wear: erase count;
///  rsv bytes are 0xFF; crc: CRC-32C of bytes 0..28.
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitHeader {
    pub version: u8,
    pub block_shift: u8,
    pub unit_size: u32,
    pub unit_count: u16,
    pub epoch: u32,
    pub wear: u32,
}

/// What a header read back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderRead {
    /// All 0xFF.
    Blank,
    /// Magic and CRC check out.
    Valid(UnitHeader),
    /// Anything else (torn, rotten or foreign).
    Invalid,
}

impl UnitHeader {
    /// Encode into `buf` (at least `HEADER_BYTES`; the rest is left 0xFF).
    pub fn encode(&self, buf: &mut [u8]) {
        buf[..HEADER_BYTES].copy_from_slice(&self.to_bytes());
    }

    /// The 32 encoded bytes. Built in a fixed-size array: constant offsets need no bounds
    /// checks (this keeps the encoders small on a microcontroller).
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0xFF; HEADER_BYTES];
        put32(&mut b, 0, MAGIC);
        b[4] = self.version;
        b[5] = self.block_shift;
        put32(&mut b, 8, self.unit_size);
        put16(&mut b, 12, self.unit_count);
        put32(&mut b, 16, self.epoch);
        put32(&mut b, 20, self.wear);
        let crc = CRC.checksum(&b[..28]);
        put32(&mut b, 28, crc);
        b
    }

    /// Decode a header read from flash. Never panics on short or hostile input.
    pub fn decode(buf: &[u8]) -> HeaderRead {
        let Some(b) = fixed::<HEADER_BYTES>(buf) else {
            return HeaderRead::Invalid;
        };
        if is_erased(b) {
            return HeaderRead::Blank;
        }
        if le32(b, 0) != MAGIC || le32(b, 28) != CRC.checksum(&b[..28]) {
            return HeaderRead::Invalid;
        }
        HeaderRead::Valid(UnitHeader {
            version: b[4],
            block_shift: b[5],
            unit_size: le32(b, 8),
            unit_count: u16::from_le_bytes([b[12], b[13]]),
            epoch: le32(b, 16),
            wear: le32(b, 20),
        })
    }
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordKind {
    /// A block's contents (data area programmed).
    Data,
    /// A block was trimmed: reads as zeros. No data.
    Trim,
    /// Unit `lba` is retired (bad). No data. Carried forward by GC.
    Retire,
    /// Block `lba` reads the base image again (zeros without one). No data.
    Revert,
    /// Every block reads the base image (zeros without one): records older than the reset
    /// version (`lba` = its low 32 bits, data CRC field = its high bits) no longer count. No
    /// data. Carried forward by GC.
    Reset,
    /// The volume table (snapshots, rollback holes, reset version: `table.rs`) in the data
    /// area. The newest one counts; carried forward by GC.
    Table,
    /// Flash-map volumes only (format v4): a map page (`lba` = page index) in the data
    /// area (`flashmap::record`).
    MapPage,
    /// Flash-map volumes only (format v4): a delta record of a run (`lba` = run number).
    MapDelta,
    /// Flash-map volumes only (format v4): one part of a root, the map's checkpoint (`lba` =
    /// root number), written as one transaction.
    MapRoot,
}

impl RecordKind {
    fn code(self) -> u8 {
        match self {
            RecordKind::Data => 0x1,
            RecordKind::Trim => 0x2,
            RecordKind::Retire => 0x3,
            RecordKind::Revert => 0x4,
            RecordKind::Reset => 0x5,
            RecordKind::Table => 0x6,
            RecordKind::MapPage => 0x7,
            RecordKind::MapDelta => 0x8,
            RecordKind::MapRoot => 0x9,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            0x1 => Some(RecordKind::Data),
            0x2 => Some(RecordKind::Trim),
            0x3 => Some(RecordKind::Retire),
            0x4 => Some(RecordKind::Revert),
            0x5 => Some(RecordKind::Reset),
            0x6 => Some(RecordKind::Table),
            0x7 => Some(RecordKind::MapPage),
            0x8 => Some(RecordKind::MapDelta),
            0x9 => Some(RecordKind::MapRoot),
            // 0xA..0xE are kept for later record kinds.
            _ => None,
        }
    }

    /// True if the slot's data area is programmed.
    pub fn has_data(self) -> bool {
        matches!(
            self,
            RecordKind::Data
                | RecordKind::Table
                | RecordKind::MapPage
                | RecordKind::MapDelta
                | RecordKind::MapRoot
        )
    }

    /// A record of the flash map's own (page or delta record): a flash-map volume's only.
    pub fn is_map(self) -> bool {
        matches!(
            self,
            RecordKind::MapPage | RecordKind::MapDelta | RecordKind::MapRoot
        )
    }

    /// A record of the volume's own (retire, reset, table): never part of a transaction,
    /// carried forward by GC while it is the current one.
    // Kept out of line: inlined, its set test is repeated at a dozen call sites (-8 B,
    // measured).
    #[inline(never)]
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            RecordKind::Retire | RecordKind::Reset | RecordKind::Table
        )
    }
}

/// Marks a GC copy; absent on host writes and trims.
const FLAG_COPY: u8 = 0x10;
/// Marks a record of a multi-block transaction.
const FLAG_TXN: u8 = 0x20;
/// With `FLAG_TXN`: the transaction's last record, which commits all of it.
const FLAG_TXN_END: u8 = 0x40;

/// A record's part in a multi-block transaction (docs/DESIGN.md, "Transactions").
///
/// A transaction's records sit in consecutive slots of one unit (void slots aside), the
/// last one marked `End`. Reading a unit from the top down, a `Part` record counts only
/// below an `End` with nothing but records of the same transaction between them, so a
/// transaction cut before its `End` committed is invisible: no extra record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxnMark {
    /// An ordinary record (a single write or trim, a GC copy, a retire record).
    None,
    /// A record of a transaction that is not its last.
    Part,
    /// The last record of a transaction.
    End,
}
/// Victim field of a record that is not a copy.
pub const NO_VICTIM: u16 = 0xFFFF;

/// The first half of a slot record, programmed before the slot's data (16 bytes).
///
/// ```text
///  0        1      2         4        8                  13    14      16
///  +--------+------+---------+--------+------------------+-----+-------+
///  | kind|f | skip | victim  | lba    | version (u40)    | hop | crc16 |
///  +--------+------+---------+--------+------------------+-----+-------+
///  kind|f   low nibble: 1 data, 2 trim, 3 retire, 4 revert, 5 reset, 6 table; high nibble: 0x1 GC copy,
///           0x2 transaction part, 0x6 transaction end (never with 0x1)
///  skip     the `skip` slots directly below this one are void (torn or judged invalid)
///  victim   for a GC copy: the unit it was copied out of; on a v4 (flash-map) volume, for a
///           host data, trim or revert record: the unit of the record it replaces (0xFFFF
///           otherwise)
///  lba      logical block (retire: the retired unit; reset: low 32 bits of the reset version)
///  version  global sequence number, never reused within an epoch (but by a GC copy of a
///           record a snapshot sees, which keeps its original's version)
///  hop      0xFF, or for such a copy its source's hop + 1 modulo 255 (never 0xFF): the
///           later copy of two with one version is the one a few hops ahead
///  crc16    low 16 bits of the CRC-32C of bytes 0..14
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Claim {
    pub kind: RecordKind,
    pub copy: bool,
    pub txn: TxnMark,
    pub skip: u8,
    pub victim: u16,
    pub lba: u32,
    pub version: u64,
    /// Copies of one record that kept its version: each one's hop is its source's + 1.
    pub hop: u8,
}

/// No hop count: a record with its own version.
pub const NO_HOP: u8 = 0xFF;

/// Hops count modulo 255 (0..=0xFE) and never reach `NO_HOP`, which stands one before 0, as
/// 0xFE does: a record kept through 255 moves is still a copy that kept its version.
fn hop_rank(h: u8) -> u16 {
    if h == NO_HOP {
        0xFE
    } else {
        u16::from(h)
    }
}

/// The hop of a copy (that keeps its version) of a record whose hop is `h`.
pub fn next_hop(h: u8) -> u8 {
    ((hop_rank(h) + 1) % 255) as u8
}

/// How many hops `a` is after `b` (modulo 255).
fn hops_after(a: u8, b: u8) -> u16 {
    (hop_rank(a) + 255 - hop_rank(b)) % 255
}

impl Claim {
    /// Is this claim newer than `other`? The higher version, or with equal versions (a copy
    /// that kept its source's version, and that source) the later hop: a copy and its
    /// source are at most a few hops apart, so the wrapping difference decides.
    pub fn is_newer_than(&self, other: &Claim) -> bool {
        self.version > other.version
            || (self.version == other.version
                && (1..128).contains(&hops_after(self.hop, other.hop)))
    }

    pub fn encode(&self, buf: &mut [u8]) {
        buf[..CLAIM_BYTES].copy_from_slice(&self.to_bytes());
    }

    /// The 16 encoded bytes (in a fixed-size array, like `UnitHeader::to_bytes`).
    pub fn to_bytes(&self) -> [u8; CLAIM_BYTES] {
        debug_assert!(self.version < VERSION_LIMIT);
        let mut b = [0xFF; CLAIM_BYTES];
        debug_assert!(!(self.copy && self.txn != TxnMark::None));
        let txn = match self.txn {
            TxnMark::None => 0,
            TxnMark::Part => FLAG_TXN,
            TxnMark::End => FLAG_TXN | FLAG_TXN_END,
        };
        b[0] = self.kind.code() | if self.copy { FLAG_COPY } else { 0 } | txn;
        b[1] = self.skip;
        put16(&mut b, 2, self.victim);
        put32(&mut b, 4, self.lba);
        // The 40-bit version, little-endian: low 32 bits, then bits 32..40.
        put32(&mut b, 8, self.version as u32);
        b[12] = (self.version >> 32) as u8;
        b[13] = self.hop;
        let crc = CRC.checksum(&b[..14]) as u16;
        put16(&mut b, 14, crc);
        b
    }

    /// `None` unless the bytes are a well-formed claim.
    pub fn decode(buf: &[u8]) -> Option<Claim> {
        let b = fixed::<CLAIM_BYTES>(buf)?;
        let crc = CRC.checksum(&b[..14]) as u16;
        if u16::from_le_bytes([b[14], b[15]]) != crc || b[0] & 0x80 != 0 {
            return None;
        }
        let kind = RecordKind::from_code(b[0] & 0x0F)?;
        let txn = match b[0] & (FLAG_COPY | FLAG_TXN | FLAG_TXN_END) {
            0 | FLAG_COPY => TxnMark::None,
            FLAG_TXN => TxnMark::Part,
            f if f == FLAG_TXN | FLAG_TXN_END => TxnMark::End,
            // An end without a transaction, or a copy inside one: not written by cowftl.
            _ => return None,
        };
        if txn != TxnMark::None && kind.is_meta() {
            return None;
        }
        Some(Claim {
            kind,
            copy: b[0] & FLAG_COPY != 0,
            txn,
            skip: b[1],
            victim: u16::from_le_bytes([b[2], b[3]]),
            lba: le32(b, 4),
            version: u64::from(le32(b, 8)) | u64::from(b[12]) << 32,
            hop: b[13],
        })
    }
}

/// The second half of a slot record, programmed after the data (8 bytes): it commits the
/// slot.
///
/// ```text
///  0            4            8
///  +------------+------------+
///  | data_crc   | crc        |
///  +------------+------------+
///  data_crc  CRC-32C of the slot's data (0 for records without data)
///  crc       CRC-32C of the claim's 16 bytes followed by data_crc
/// ```
pub fn encode_commit(claim_bytes: &[u8], data_crc: u32, buf: &mut [u8]) {
    let mut b = [0xFF; COMMIT_BYTES];
    put32(&mut b, 0, data_crc);
    put32(&mut b, 4, commit_crc(claim_bytes, data_crc));
    put(buf, &b);
}

/// The data CRC if `commit` commits `claim_bytes`.
pub fn decode_commit(claim_bytes: &[u8], commit: &[u8]) -> Option<u32> {
    let b = fixed::<COMMIT_BYTES>(commit)?;
    let data_crc = le32(b, 0);
    (le32(b, 4) == commit_crc(claim_bytes.get(..CLAIM_BYTES)?, data_crc)).then_some(data_crc)
}

/// CRC-32C of the claim's 16 bytes followed by `data_crc`: one checksum over them laid out
/// in a small array (less code than a digest updated twice).
fn commit_crc(claim_bytes: &[u8], data_crc: u32) -> u32 {
    let mut b = [0u8; CLAIM_BYTES + 4];
    for (d, s) in b.iter_mut().zip(&claim_bytes[..CLAIM_BYTES]) {
        *d = *s;
    }
    put32(&mut b, CLAIM_BYTES, data_crc);
    CRC.checksum(&b)
}

/// A decoded slot record: claim plus the data CRC from its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotRecord {
    pub claim: Claim,
    pub data_crc: u32,
}

/// What one read of a slot's record table entry shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordRead {
    /// Claim and commit all 0xFF: never programmed (as far as one read can tell).
    Blank,
    /// Claim and commit check out.
    Valid(SlotRecord),
    /// A well-formed claim without a matching commit (program cut, or rot).
    Claimed(Claim),
    /// Anything else.
    Junk,
}

impl RecordRead {
    /// Classify one table entry: `claim` and `commit` are the two padded halves.
    pub fn decode(claim: &[u8], commit: &[u8]) -> RecordRead {
        if is_erased(claim) && is_erased(commit) {
            return RecordRead::Blank;
        }
        let Some(c) = Claim::decode(claim) else {
            return RecordRead::Junk;
        };
        match decode_commit(claim, commit) {
            Some(data_crc) => RecordRead::Valid(SlotRecord { claim: c, data_crc }),
            None => RecordRead::Claimed(c),
        }
    }

    /// The claim, if one checks out.
    pub fn claim(&self) -> Option<Claim> {
        match *self {
            RecordRead::Valid(r) => Some(r.claim),
            RecordRead::Claimed(c) => Some(c),
            _ => None,
        }
    }
}

/// The seal (8 bytes), programmed once the last slot of a unit is committed: it says the
/// last slot's record is stable, so mount need not read it again and again.
///
/// ```text
///  0        4            8
///  +--------+------------+
///  | "SEAL" | crc        |   crc: CRC-32C of "SEAL" and the last slot's claim
///  +--------+------------+
/// ```
pub fn encode_seal(last_claim: &[u8], buf: &mut [u8]) {
    let mut b = [0u8; SEAL_BYTES];
    put32(&mut b, 0, SEAL_MAGIC);
    put32(&mut b, 4, seal_crc(last_claim));
    put(buf, &b);
}

/// True if `seal` seals a unit whose last claim is `last_claim`.
pub fn seal_matches(last_claim: &[u8], seal: &[u8]) -> bool {
    fixed::<SEAL_BYTES>(seal)
        .is_some_and(|s| le32(s, 0) == SEAL_MAGIC && le32(s, 4) == seal_crc(last_claim))
}

/// CRC-32C of "SEAL" and the claim (at most 16 bytes), laid out in one array like
/// `commit_crc`.
fn seal_crc(last_claim: &[u8]) -> u32 {
    let mut b = [0u8; 4 + CLAIM_BYTES];
    put32(&mut b, 0, SEAL_MAGIC);
    let n = CLAIM_BYTES.min(last_claim.len());
    for (d, s) in b[4..].iter_mut().zip(&last_claim[..n]) {
        *d = *s;
    }
    CRC.checksum(&b[..4 + n])
}

/// `buf[..N] = b` as a plain loop (a sub-slice `copy_from_slice` stays two calls at
/// opt-level "z"). Panics if `buf` is shorter, as the slice copy would.
fn put<const N: usize>(buf: &mut [u8], b: &[u8; N]) {
    for (d, s) in buf[..N].iter_mut().zip(b) {
        *d = *s;
    }
}

/// True if every byte is 0xFF.
pub fn is_erased(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

/// The first `N` bytes of `b` as an array, if it is that long: decoders then index at
/// constant offsets without bounds checks.
fn fixed<const N: usize>(b: &[u8]) -> Option<&[u8; N]> {
    b.get(..N)?.try_into().ok()
}

#[inline(always)]
fn le32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Byte by byte at constant offsets: a sub-slice `copy_from_slice` stays two calls (range
/// index, copy) at opt-level "z" (measured). Left to the inliner: forced inline it cost 20 B.
fn put32<const N: usize>(b: &mut [u8; N], at: usize, v: u32) {
    let x = v.to_le_bytes();
    (b[at], b[at + 1], b[at + 2], b[at + 3]) = (x[0], x[1], x[2], x[3]);
}

#[inline(always)]
fn put16<const N: usize>(b: &mut [u8; N], at: usize, v: u16) {
    let x = v.to_le_bytes();
    (b[at], b[at + 1]) = (x[0], x[1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(CRC.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn header_round_trip_and_rejects() {
        let h = UnitHeader {
            version: FORMAT_VERSION,
            block_shift: 9,
            unit_size: 16384,
            unit_count: 16,
            epoch: 7,
            wear: u32::MAX,
        };
        let mut b = [0u8; 32];
        h.encode(&mut b);
        assert_eq!(UnitHeader::decode(&b), HeaderRead::Valid(h));
        b[20] ^= 1;
        assert_eq!(UnitHeader::decode(&b), HeaderRead::Invalid);
        assert_eq!(UnitHeader::decode(&[0xFF; 32]), HeaderRead::Blank);
        assert_eq!(UnitHeader::decode(&[0xFF; 3]), HeaderRead::Invalid);
    }

    #[test]
    fn record_round_trip_claimed_and_junk() {
        let c = Claim {
            kind: RecordKind::Data,
            copy: true,
            txn: TxnMark::None,
            skip: 3,
            victim: 5,
            lba: 77,
            version: VERSION_LIMIT - 1,
            hop: 3,
        };
        let (mut cl, mut cm) = ([0xFFu8; 16], [0xFFu8; 8]);
        c.encode(&mut cl);
        assert_eq!(RecordRead::decode(&cl, &cm), RecordRead::Claimed(c));
        encode_commit(&cl, 0xDEAD_BEEF, &mut cm);
        let r = SlotRecord {
            claim: c,
            data_crc: 0xDEAD_BEEF,
        };
        assert_eq!(RecordRead::decode(&cl, &cm), RecordRead::Valid(r));
        cm[7] ^= 0x80;
        assert_eq!(RecordRead::decode(&cl, &cm), RecordRead::Claimed(c));
        cl[4] ^= 1;
        assert_eq!(RecordRead::decode(&cl, &cm), RecordRead::Junk);
        assert_eq!(
            RecordRead::decode(&[0xFF; 16], &[0xFF; 8]),
            RecordRead::Blank
        );
    }

    #[test]
    fn transaction_marks_round_trip_and_bad_combinations_are_refused() {
        for txn in [TxnMark::None, TxnMark::Part, TxnMark::End] {
            let c = Claim {
                kind: RecordKind::Trim,
                copy: false,
                txn,
                skip: 0,
                victim: NO_VICTIM,
                lba: 9,
                version: 12,
                hop: NO_HOP,
            };
            let mut b = [0xFFu8; 16];
            c.encode(&mut b);
            assert_eq!(Claim::decode(&b), Some(c));
        }
        // Flag byte values cowftl never writes, with a valid CRC around them.
        // (Kinds 7 to 9 are the flash map's records; 0xA and above are kept for later.)
        for flags in [0x40u8, 0x30, 0x70, 0x50, 0x80, 0x23, 0x25, 0x26, 0x0A, 0x0E] {
            let mut b = [0xFFu8; 16];
            b[0] = flags | if flags & 0x0F == 0 { 0x1 } else { 0 };
            b[1] = 0;
            b[2..4].copy_from_slice(&NO_VICTIM.to_le_bytes());
            b[4..8].copy_from_slice(&1u32.to_le_bytes());
            b[8..13].copy_from_slice(&[1, 0, 0, 0, 0]);
            let crc = CRC.checksum(&b[..14]) as u16;
            put16(&mut b, 14, crc);
            assert_eq!(Claim::decode(&b), None, "flags {flags:#x}");
        }
    }

    #[test]
    fn seal_binds_to_last_claim() {
        let mut s = [0xFFu8; 8];
        encode_seal(&[1u8; 16], &mut s);
        assert!(seal_matches(&[1u8; 16], &s));
        assert!(!seal_matches(&[2u8; 16], &s));
        assert!(!seal_matches(&[1u8; 16], &[0xFF; 8]));
    }
}
