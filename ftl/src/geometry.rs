//! Geometry: turns a [`Config`] plus the flash's `READ_SIZE`/`WRITE_SIZE`/`ERASE_SIZE` into
//! the layout every other layer uses (unit size, slots per unit, offsets, exported capacity).
//!
//! All relations between the numbers are checked here once, so the hot path can rely on them
//! (and only `debug_assert!`s them).

use crate::layout::{CLAIM_BYTES, COMMIT_BYTES, HEADER_BYTES, SEAL_BYTES};

/// Largest write unit supported: copy buffers are this size and must hold whole words.
pub const MAX_WRITE_SIZE: u32 = 128;
/// Size of the stack buffer used to copy or verify data in chunks.
pub const CHUNK: usize = MAX_WRITE_SIZE as usize;
/// Units held back for GC when `reserve_units` is 0 (automatic): the one free unit a GC
/// round copies into (docs/DESIGN.md, "Space invariant"). Spares come on top.
pub const GC_RESERVE_UNITS: u32 = 1;
/// A reserve that suits 3-unit regions such as an STM32F411's 128 KiB sectors: one unit for
/// GC, one spare. (Format v3 needs no special single-stream reserve; kept for configs.)
pub const SINGLE_STREAM_RESERVE_UNITS: u32 = 2;
/// Fewest slots a unit may hold: the space invariant needs a victim with fewer live slots
/// than a unit holds, and a capacity of at least one block on the smallest region (2 units).
pub const MIN_SLOTS_PER_UNIT: u32 = 2;
/// Most slots a unit may hold: a claim's `skip` field is one byte.
pub const MAX_SLOTS_PER_UNIT: u32 = 255;
/// Largest `Config::max_transaction_blocks` accepted (the transaction staging area).
pub const MAX_TRANSACTION_BLOCKS: u32 = 16;
/// Fewest units `Config::gc_ahead` accepts: collecting ahead holds about one unit's worth of
/// over-provisioning, which costs little on hundreds of units and a lot on a few dozen
/// (measured with `cowftl bench --gc-ahead`: uniform writes at 90 % fill +5 % WA on 256 units,
/// +16 % on 128, +45 % on 64, ×5 on 16).
pub const GC_AHEAD_MIN_UNITS: u32 = 128;
/// Default `Config::max_transaction_blocks`.
pub const DEFAULT_TRANSACTION_BLOCKS: u32 = 8;
/// Volumes with fewer units send copies out of GC units to the GC frontier too.
pub const COLD_STREAM_UNITS: u32 = 32;
/// With automatic reserve, one spare unit per this many units.
pub const UNITS_PER_AUTO_SPARE: u32 = 64;
/// Slots the capacity keeps for the volume's one live reset or table record (snapshots,
/// rollbacks, factory reset): it is carried forward like data.
pub const META_RECORDS: u32 = 1;
/// Units smaller than this (in bytes) are grouped from several erase pages when `unit_size`
/// is not given: per-unit overhead (2 headers) and slot rounding waste less in bigger units.
pub const DEFAULT_MIN_UNIT_BYTES: u32 = 16 * 1024;
/// With `unit_size` not given, units grow past `DEFAULT_MIN_UNIT_BYTES` until the region has
/// at most this many (a 16 MiB SPI NOR part: 256 units of 64 KiB, 5 KiB of unit table).
pub const DEFAULT_MAX_UNITS: u32 = 256;

/// What the user chooses. Everything else is derived in [`Geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Byte offset of the FTL region in the flash (multiple of `ERASE_SIZE`).
    pub region_offset: u32,
    /// Byte length of the region (a multiple of the unit size).
    pub region_len: u32,
    /// Logical block size in bytes: a power of two, >= 64, a multiple of `WRITE_SIZE`.
    pub block_size: u32,
    /// Erase-unit size in bytes (a multiple of `ERASE_SIZE`); `None` picks one.
    pub unit_size: Option<u32>,
    /// Units held back from the exported capacity: one for GC plus spares that replace units
    /// which wear out (more reserve also means lower write amplification). 0 = automatic:
    /// one for GC plus one spare per 64 units.
    pub reserve_units: u32,
    /// Static wear levelling moves cold data off the least-worn unit when
    /// `max_wear - min_wear` exceeds this.
    pub static_wl_threshold: u32,
    /// Write-once media: never erase, never garbage-collect; writes until `NoSpace`.
    pub no_erase: bool,
    /// Read back every programmed record and data block and compare (catches weak/worn cells).
    pub verify_writes: bool,
    /// Largest multi-block transaction (at most `MAX_TRANSACTION_BLOCKS`, and less than a
    /// unit's slots). A transaction's records go to one unit, so the exported capacity keeps
    /// this many slots of slack: with the volume full, GC can still gather them in one unit.
    /// 0 or 1: single-block writes only.
    pub max_transaction_blocks: u32,
    /// Collect ahead: after a write, run one GC round while no more than one unit above
    /// GC's headroom is available, so the next writes find a unit ready instead of running
    /// several rounds at once. Trades write amplification for latency: the slowest write
    /// drops to about one round (docs/DESIGN.md, "Write latency"), at the cost of about one
    /// unit less of over-provisioning, so it needs `GC_AHEAD_MIN_UNITS` (128) units. Off by
    /// default.
    pub gc_ahead: bool,
}

impl Config {
    /// A configuration with the defaults: 512-byte blocks, automatic unit size, automatic
    /// reserve (1 for GC + 1 spare per 64 units), static WL threshold 8, verified writes.
    pub const fn new(region_offset: u32, region_len: u32) -> Self {
        Config {
            region_offset,
            region_len,
            block_size: 512,
            unit_size: None,
            reserve_units: 0,
            static_wl_threshold: 8,
            no_erase: false,
            verify_writes: true,
            max_transaction_blocks: DEFAULT_TRANSACTION_BLOCKS,
            gc_ahead: false,
        }
    }
}

/// Why a configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// `region_offset` is not a multiple of the flash erase size.
    RegionMisaligned,
    /// The region does not lie inside the flash.
    RegionOutOfBounds,
    /// The unit size is zero or not a multiple of the erase size.
    BadUnitSize,
    /// The region length is not a whole number of units.
    RegionNotUnitMultiple,
    /// Block size is not a power of two >= 64, or not a multiple of the write/read size.
    BadBlockSize,
    /// The flash's write or read size is not a power of two <= `MAX_WRITE_SIZE`.
    UnsupportedWordSize,
    /// A unit holds fewer than `MIN_SLOTS_PER_UNIT` slots.
    UnitTooSmall,
    /// Not enough units for the reserve plus at least one data unit.
    TooFewUnits,
    /// More units than the `MAX_UNITS` the FTL type was built with.
    TooManyUnits,
    /// More exported blocks than the `MAX_BLOCKS` the FTL type was built with.
    TooManyBlocks,
    /// `max_transaction_blocks` is above `MAX_TRANSACTION_BLOCKS`.
    TransactionTooLarge,
    /// `gc_ahead` on a volume of fewer than `GC_AHEAD_MIN_UNITS` units.
    GcAheadTooFewUnits,
    /// The flash map's capacities (`OnFlash`'s pages, buffer, runs and delta records) cannot
    /// hold this volume's map.
    MapTooSmall,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ConfigError::RegionMisaligned => "region offset is not erase-size aligned",
            ConfigError::RegionOutOfBounds => "region does not fit in the flash",
            ConfigError::BadUnitSize => "unit size is not a multiple of the erase size",
            ConfigError::RegionNotUnitMultiple => {
                "region length is not a multiple of the unit size"
            }
            ConfigError::BadBlockSize => {
                "block size must be a power of two >= 64 and a multiple of the write size"
            }
            ConfigError::UnsupportedWordSize => {
                "flash read/write size must be a power of two <= 128"
            }
            ConfigError::UnitTooSmall => "unit holds fewer than 2 slots: raise unit_size",
            ConfigError::TooFewUnits => "region has too few units for the reserve",
            ConfigError::TooManyUnits => "unit count exceeds MAX_UNITS",
            ConfigError::TooManyBlocks => "block count exceeds MAX_BLOCKS",
            ConfigError::TransactionTooLarge => "max_transaction_blocks exceeds 16",
            ConfigError::GcAheadTooFewUnits => {
                "gc_ahead needs at least 128 units (smaller unit_size or no gc_ahead)"
            }
            ConfigError::MapTooSmall => "the flash map's capacities cannot hold this volume",
        };
        f.write_str(s)
    }
}

/// The derived layout. See `FORMAT.md` for the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    pub region_offset: u32,
    pub region_len: u32,
    pub read_size: u32,
    pub write_size: u32,
    pub erase_size: u32,
    pub unit_size: u32,
    pub unit_count: u32,
    /// Bytes one header copy occupies (32 rounded up to the word).
    pub header_size: u32,
    /// Bytes a claim occupies (16 rounded up to the word).
    pub claim_size: u32,
    /// Bytes one record-table entry occupies: claim plus commit (8 rounded up to the word).
    pub record_size: u32,
    /// Bytes the seal occupies (8 rounded up to the word).
    pub seal_size: u32,
    pub block_size: u32,
    pub slots_per_unit: u32,
    /// Offset of the record table inside a unit (right after the two header copies).
    pub table_offset: u32,
    /// Offset of data slot 0 inside a unit.
    pub data_offset: u32,
    /// Units held back: one for GC, the rest spares.
    pub reserve_units: u32,
    /// Largest transaction, in blocks (1: single writes only).
    pub txn_blocks: u32,
    /// Exported logical blocks.
    pub block_count: u32,
    pub no_erase: bool,
    /// Fewer than 4 units (or write-once): GC copies share the host's write frontier.
    pub single_stream: bool,
}

const fn round_up(x: u32, to: u32) -> u32 {
    x.div_ceil(to) * to
}

fn is_pow2_upto(x: u32, max: u32) -> bool {
    x.is_power_of_two() && x <= max
}

/// Sizes of the on-flash structures for one word size.
struct Sizes {
    header: u32,
    claim: u32,
    record: u32,
    seal: u32,
}

impl Sizes {
    fn for_word(word: u32) -> Sizes {
        let claim = round_up(CLAIM_BYTES as u32, word);
        Sizes {
            header: round_up(HEADER_BYTES as u32, word),
            claim,
            record: claim + round_up(COMMIT_BYTES as u32, word),
            seal: round_up(SEAL_BYTES as u32, word),
        }
    }
}

impl Geometry {
    /// Derive the layout. `capacity` is the flash size in bytes, the sizes are the
    /// `NorFlash` constants; `max_units`/`max_blocks` are the FTL's compile-time capacities.
    pub fn new(
        cfg: &Config,
        capacity: usize,
        read_size: usize,
        write_size: usize,
        erase_size: usize,
        max_units: usize,
        max_blocks: usize,
    ) -> Result<Geometry, ConfigError> {
        let (read_size, write_size, erase_size) =
            (read_size as u32, write_size as u32, erase_size as u32);
        let word = check_words(read_size, write_size, cfg.block_size)?;
        let unit_size = check_region(cfg, capacity, erase_size)?;
        let sz = Sizes::for_word(word);
        let bs = cfg.block_size;
        let fixed = 2 * sz.header + sz.seal;
        let slots = (unit_size.saturating_sub(fixed) / (sz.record + bs)).min(MAX_SLOTS_PER_UNIT);
        if slots < MIN_SLOTS_PER_UNIT {
            return Err(ConfigError::UnitTooSmall);
        }
        let unit_count = cfg.region_len / unit_size;
        if unit_count as usize > max_units || unit_count >= u16::MAX as u32 {
            return Err(ConfigError::TooManyUnits);
        }
        if cfg.gc_ahead && unit_count < GC_AHEAD_MIN_UNITS {
            return Err(ConfigError::GcAheadTooFewUnits);
        }
        let (reserve, txn_blocks, block_count) = exported_blocks(cfg, unit_count, slots)?;
        if block_count as usize > max_blocks || unit_count as u64 * slots as u64 >= 1 << 30 {
            return Err(ConfigError::TooManyBlocks);
        }
        let table_offset = 2 * sz.header;
        let data_offset = round_up(table_offset + slots * sz.record + sz.seal, word);
        let g = Geometry {
            region_offset: cfg.region_offset,
            region_len: cfg.region_len,
            read_size,
            write_size,
            erase_size,
            unit_size,
            unit_count,
            header_size: sz.header,
            claim_size: sz.claim,
            record_size: sz.record,
            seal_size: sz.seal,
            block_size: bs,
            slots_per_unit: slots,
            table_offset,
            data_offset,
            reserve_units: reserve,
            txn_blocks,
            block_count,
            no_erase: cfg.no_erase,
            single_stream: cfg.no_erase || unit_count < 4,
        };
        debug_assert!(g.data_offset + slots * bs <= unit_size);
        debug_assert!(g.data_offset % word == 0 && g.table_offset % word == 0);
        Ok(g)
    }

    /// Absolute flash address of the start of `unit`.
    pub fn unit_addr(&self, unit: u32) -> u32 {
        debug_assert!(unit < self.unit_count);
        self.region_offset + unit * self.unit_size
    }

    /// Absolute address of header copy `copy` (0 or 1) of `unit`: two identical copies, so
    /// one rotten bit does not cost the unit.
    pub fn header_addr(&self, unit: u32, copy: u32) -> u32 {
        self.unit_addr(unit) + copy * self.header_size
    }

    /// Absolute address of the record (claim, then commit) of `slot` in `unit`.
    pub fn record_addr(&self, unit: u32, slot: u32) -> u32 {
        debug_assert!(slot < self.slots_per_unit);
        self.unit_addr(unit) + self.table_offset + slot * self.record_size
    }

    /// Absolute address of the commit half of the record of `slot` in `unit`.
    // Always inlined: its callers then share the record address (-84 B, measured).
    #[inline(always)]
    pub fn commit_addr(&self, unit: u32, slot: u32) -> u32 {
        self.record_addr(unit, slot) + self.claim_size
    }

    /// Absolute address of `unit`'s seal (after the record table).
    pub fn seal_addr(&self, unit: u32) -> u32 {
        self.unit_addr(unit) + self.table_offset + self.slots_per_unit * self.record_size
    }

    /// Absolute address of the data of `slot` in `unit`.
    pub fn data_addr(&self, unit: u32, slot: u32) -> u32 {
        debug_assert!(slot < self.slots_per_unit);
        self.unit_addr(unit) + self.data_offset + slot * self.block_size
    }

    /// Decode one record-table entry (`record_size` bytes: claim, then commit), e.g. from a
    /// flash image.
    pub fn decode_record(&self, entry: &[u8]) -> crate::layout::RecordRead {
        let c = (self.claim_size as usize).min(entry.len());
        crate::layout::RecordRead::decode(&entry[..c], &entry[c..])
    }

    /// Bytes of the record table and seal: what mount reads of a unit after its header.
    pub fn table_bytes(&self) -> u32 {
        self.slots_per_unit * self.record_size + self.seal_size
    }

    /// Units that may fail before the volume turns read-only.
    pub fn spare_units(&self) -> u32 {
        self.reserve_units.saturating_sub(GC_RESERVE_UNITS)
    }

    /// Available units the host leaves to GC once `retired` units have failed: one to copy
    /// into, and while a spare is left one more, so that a unit failing in the middle of a
    /// round does not leave GC without one (docs/DESIGN.md, "Space invariant").
    pub fn gc_headroom(&self, retired: u32) -> u32 {
        1 + u32::from(self.spare_units() > retired)
    }

    /// Write frontiers the log keeps open: host writes, copies out of host units, copies out
    /// of copy units. One on tiny and write-once volumes; no cold one below
    /// `COLD_STREAM_UNITS` units (a third partly filled unit costs them more than it gains).
    pub fn streams(&self) -> u32 {
        match self.unit_count {
            _ if self.single_stream => 1,
            n if n < COLD_STREAM_UNITS => 2,
            _ => 3,
        }
    }

    /// Logical capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.block_count as u64 * self.block_size as u64
    }
}

/// The word every structure is padded to, after checking the sizes fit together.
fn check_words(read_size: u32, write_size: u32, block_size: u32) -> Result<u32, ConfigError> {
    if !is_pow2_upto(write_size, MAX_WRITE_SIZE) || !is_pow2_upto(read_size, MAX_WRITE_SIZE) {
        return Err(ConfigError::UnsupportedWordSize);
    }
    let word = write_size.max(read_size);
    if !block_size.is_power_of_two() || block_size < 64 || block_size % word != 0 {
        return Err(ConfigError::BadBlockSize);
    }
    Ok(word)
}

/// The unit size, after checking the region lies in the flash and splits into units.
fn check_region(cfg: &Config, capacity: usize, erase_size: u32) -> Result<u32, ConfigError> {
    if erase_size == 0 || cfg.region_offset % erase_size != 0 {
        return Err(ConfigError::RegionMisaligned);
    }
    let end = cfg.region_offset as u64 + cfg.region_len as u64;
    if cfg.region_len == 0 || end > capacity as u64 {
        return Err(ConfigError::RegionOutOfBounds);
    }
    let unit_size = match cfg.unit_size {
        Some(u) => u,
        None => default_unit_size(cfg.region_len, erase_size, cfg.block_size),
    };
    if unit_size == 0 || unit_size % erase_size != 0 {
        return Err(ConfigError::BadUnitSize);
    }
    if cfg.region_len % unit_size != 0 {
        return Err(ConfigError::RegionNotUnitMultiple);
    }
    Ok(unit_size)
}

/// Reserve, transaction slack and exported blocks of `unit_count` units of `slots` slots.
/// The space invariant (docs/DESIGN.md): live slots (blocks, plus one retire record per spare
/// used, plus the live reset/table record) stay below what the units outside the GC unit and
/// the retired ones hold, so GC always finds a victim that is not full. A transaction's
/// records must find room in one unit even on a full volume: the slack is its size (1 for
/// single writes).
fn exported_blocks(
    cfg: &Config,
    unit_count: u32,
    slots: u32,
) -> Result<(u32, u32, u32), ConfigError> {
    let reserve = reserve_units(cfg, unit_count);
    if unit_count < reserve + 1 {
        return Err(ConfigError::TooFewUnits);
    }
    if cfg.max_transaction_blocks > MAX_TRANSACTION_BLOCKS {
        return Err(ConfigError::TransactionTooLarge);
    }
    let txn_blocks = cfg.max_transaction_blocks.min(slots - 1).max(1);
    let spares = reserve.saturating_sub(GC_RESERVE_UNITS);
    let block_count =
        ((unit_count - reserve) * slots).saturating_sub(txn_blocks + spares + META_RECORDS);
    if block_count == 0 {
        return Err(ConfigError::TooFewUnits);
    }
    Ok((reserve, txn_blocks, block_count))
}

/// Reserve actually used: write-once media need none beyond the last slot (no GC);
/// 0 selects one unit for GC plus a spare per `UNITS_PER_AUTO_SPARE` units.
fn reserve_units(cfg: &Config, unit_count: u32) -> u32 {
    if cfg.no_erase {
        return cfg.reserve_units.min(1);
    }
    match cfg.reserve_units {
        0 => GC_RESERVE_UNITS + unit_count / UNITS_PER_AUTO_SPARE,
        r => r,
    }
}

/// Smallest multiple of the erase size that reaches `DEFAULT_MIN_UNIT_BYTES`, but keep at
/// least 16 units in the region when the pages allow it (GC needs units to choose from), and
/// at most `DEFAULT_MAX_UNITS` on large regions while a unit's slots fit its record table
/// (the unit table costs RAM per unit, and GC scans it per round).
fn default_unit_size(region_len: u32, erase_size: u32, block_size: u32) -> u32 {
    let mut pages = DEFAULT_MIN_UNIT_BYTES.div_ceil(erase_size).max(1);
    while pages > 1 && region_len / (pages * erase_size) < 16 {
        pages /= 2;
    }
    // A slot costs its block and a record (claim and commit) at least.
    let slot_bytes = block_size.saturating_add((CLAIM_BYTES + COMMIT_BYTES) as u32);
    while region_len / (pages * erase_size) > DEFAULT_MAX_UNITS
        && 2 * pages * erase_size / slot_bytes.max(1) <= MAX_SLOTS_PER_UNIT
    {
        pages *= 2;
    }
    // Prefer a unit size that divides the region exactly.
    while pages > 1 && region_len % (pages * erase_size) != 0 {
        pages -= 1;
    }
    pages * erase_size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(region_len: u32, erase: u32, block_size: u32) -> (u32, u32) {
        let mut cfg = Config::new(0, region_len);
        cfg.block_size = block_size;
        let g = Geometry::new(
            &cfg,
            region_len as usize,
            1,
            8,
            erase as usize,
            4096,
            1 << 20,
        )
        .expect("default geometry");
        (g.unit_size, g.unit_count)
    }

    #[test]
    fn default_units_are_16_kib_with_16_to_256_of_them() {
        // Internal flash: 2 KiB pages grouped to 16 KiB.
        assert_eq!(auto(256 * 1024, 2048, 512), (16 * 1024, 16));
        assert_eq!(auto(1024 * 1024, 2048, 512), (16 * 1024, 64));
        // A small region keeps 16 units: smaller units.
        assert_eq!(auto(64 * 1024, 4096, 512), (4096, 16));
        // SPI NOR: 4 MiB stays at 256 units of 16 KiB, 16 MiB grows to 256 of 64 KiB.
        assert_eq!(auto(4 << 20, 4096, 512), (16 * 1024, 256));
        assert_eq!(auto(16 << 20, 4096, 512), (64 * 1024, 256));
        // Small blocks: a 32 KiB unit would need 372 slots of 88 bytes (at most 255), so
        // units stay at 16 KiB and the count above 256.
        assert_eq!(auto(16 << 20, 4096, 64), (16 * 1024, 1024));
    }
}
