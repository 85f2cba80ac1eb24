//! Geometry: turns a [`Config`] plus the flash's `READ_SIZE`/`WRITE_SIZE`/`ERASE_SIZE` into
//! the layout every other layer uses (unit size, slots per unit, offsets, exported capacity).
//!
//! All relations between the numbers are checked here once, so the hot path can rely on them
//! (and only `debug_assert!`s them).

use crate::layout::{HEADER_BYTES, RECORD_BYTES};

/// Largest write unit supported: copy buffers are this size and must hold whole words.
pub const MAX_WRITE_SIZE: u32 = 128;
/// Size of the stack buffer used to copy or verify data in chunks.
pub const CHUNK: usize = MAX_WRITE_SIZE as usize;
/// Units needed besides the exported capacity for GC to always make progress:
/// one for the host frontier, one for the GC frontier, one that GC can always open.
pub const MIN_RESERVE_UNITS: u32 = 3;
/// With exactly this reserve, host writes and GC relocations share one frontier (no
/// hot/cold separation): the only way to run on 3-sector regions such as an STM32F411's
/// 128 KiB sectors.
pub const SINGLE_STREAM_RESERVE_UNITS: u32 = 2;
/// Fewest slots a unit of erasable media may hold. Recovery after a power cut can give up
/// a few slots of a frontier (the torn slot, the one after it, a void marker, the settle
/// copy); GC only makes progress if that is a small part of a unit.
pub const MIN_SLOTS_PER_UNIT: u32 = 6;
/// Units smaller than this (in bytes) are grouped from several erase pages when `unit_size`
/// is not given: per-unit overhead (2 headers) and slot rounding waste less in bigger units.
pub const DEFAULT_MIN_UNIT_BYTES: u32 = 16 * 1024;

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
    /// Units held back from the exported capacity: `MIN_RESERVE_UNITS` for GC plus spares that
    /// replace units which wear out. More reserve also means lower write amplification.
    pub reserve_units: u32,
    /// Static wear levelling moves cold data off the least-worn unit when
    /// `max_wear - min_wear` exceeds this.
    pub static_wl_threshold: u32,
    /// Write-once media: never erase, never garbage-collect; writes until `NoSpace`.
    pub no_erase: bool,
    /// Read back every programmed record and data block and compare (catches weak/worn cells).
    pub verify_writes: bool,
}

impl Config {
    /// A configuration with the defaults: 512-byte blocks, automatic unit size,
    /// 4 reserve units (3 for GC + 1 spare), static WL threshold 8, verified writes.
    pub const fn new(region_offset: u32, region_len: u32) -> Self {
        Config {
            region_offset,
            region_len,
            block_size: 512,
            unit_size: None,
            reserve_units: MIN_RESERVE_UNITS + 1,
            static_wl_threshold: 8,
            no_erase: false,
            verify_writes: true,
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
    /// A unit holds fewer than `MIN_SLOTS_PER_UNIT` slots (two on write-once media).
    UnitTooSmall,
    /// Not enough units for the reserve plus at least two data units.
    TooFewUnits,
    /// `reserve_units` is neither 2 (single-stream mode) nor at least 4 (erasable media).
    ReserveTooSmall,
    /// More units than the `MAX_UNITS` the FTL type was built with.
    TooManyUnits,
    /// More exported blocks than the `MAX_BLOCKS` the FTL type was built with.
    TooManyBlocks,
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
            ConfigError::UnitTooSmall => {
                "unit holds too few slots (erasable media need 6: raise unit_size)"
            }
            ConfigError::TooFewUnits => "region has too few units for the reserve",
            ConfigError::ReserveTooSmall => {
                "reserve_units must be 2 (single-stream) or at least 4 (3 for GC, 1 for recovery)"
            }
            ConfigError::TooManyUnits => "unit count exceeds MAX_UNITS",
            ConfigError::TooManyBlocks => "block count exceeds MAX_BLOCKS",
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
    /// Bytes one header copy occupies (32 rounded up to the write size).
    pub header_size: u32,
    /// Bytes one slot record occupies (24 rounded up to the write size).
    pub record_size: u32,
    pub block_size: u32,
    pub slots_per_unit: u32,
    /// Offset of the record table inside a unit (after headers A and B).
    pub table_offset: u32,
    /// Offset of data slot 0 inside a unit.
    pub data_offset: u32,
    pub reserve_units: u32,
    /// Exported logical blocks.
    pub block_count: u32,
    pub no_erase: bool,
    /// GC relocations share the host frontier (reserve of 2 units, or write-once media).
    pub single_stream: bool,
}

const fn round_up(x: u32, to: u32) -> u32 {
    x.div_ceil(to) * to
}

fn is_pow2_upto(x: u32, max: u32) -> bool {
    x.is_power_of_two() && x <= max
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
        if !is_pow2_upto(write_size, MAX_WRITE_SIZE) || !is_pow2_upto(read_size, MAX_WRITE_SIZE) {
            return Err(ConfigError::UnsupportedWordSize);
        }
        let word = write_size.max(read_size);
        let bs = cfg.block_size;
        if !bs.is_power_of_two() || bs < 64 || bs % word != 0 {
            return Err(ConfigError::BadBlockSize);
        }
        if erase_size == 0 || cfg.region_offset % erase_size != 0 {
            return Err(ConfigError::RegionMisaligned);
        }
        let end = cfg.region_offset as u64 + cfg.region_len as u64;
        if cfg.region_len == 0 || end > capacity as u64 {
            return Err(ConfigError::RegionOutOfBounds);
        }
        let unit_size = match cfg.unit_size {
            Some(u) => u,
            None => default_unit_size(cfg.region_len, erase_size),
        };
        if unit_size == 0 || unit_size % erase_size != 0 {
            return Err(ConfigError::BadUnitSize);
        }
        if cfg.region_len % unit_size != 0 {
            return Err(ConfigError::RegionNotUnitMultiple);
        }
        let header_size = round_up(HEADER_BYTES as u32, word);
        let record_size = round_up(RECORD_BYTES as u32, word);
        let table_offset = 2 * header_size;
        // One record more than slots: the seal record (see `seal_addr`).
        let slots = unit_size.saturating_sub(table_offset + record_size) / (record_size + bs);
        let min_slots = if cfg.no_erase { 2 } else { MIN_SLOTS_PER_UNIT };
        if slots < min_slots {
            return Err(ConfigError::UnitTooSmall);
        }
        let slots = slots.min(u16::MAX as u32 - 1);
        let data_offset = table_offset + (slots + 1) * record_size;
        let unit_count = cfg.region_len / unit_size;
        let reserve = if cfg.no_erase {
            cfg.reserve_units.min(1)
        } else {
            cfg.reserve_units
        };
        // 2: single-stream mode. 3 would leave GC no unit to finish a round with after a
        // power cut in its middle (it takes a unit before it gives one back).
        if !cfg.no_erase && (reserve < SINGLE_STREAM_RESERVE_UNITS || reserve == MIN_RESERVE_UNITS)
        {
            return Err(ConfigError::ReserveTooSmall);
        }
        if unit_count < reserve + 1 {
            return Err(ConfigError::TooFewUnits);
        }
        if unit_count as usize > max_units || unit_count >= u16::MAX as u32 {
            return Err(ConfigError::TooManyUnits);
        }
        // GC progress needs live < (units - retired - 3) * slots; see gc.rs.
        let block_count = (unit_count - reserve) * slots - 1;
        if block_count as usize > max_blocks || unit_count as u64 * slots as u64 >= 1 << 31 {
            return Err(ConfigError::TooManyBlocks);
        }
        let g = Geometry {
            region_offset: cfg.region_offset,
            region_len: cfg.region_len,
            read_size,
            write_size,
            erase_size,
            unit_size,
            unit_count,
            header_size,
            record_size,
            block_size: bs,
            slots_per_unit: slots,
            table_offset,
            data_offset,
            reserve_units: reserve,
            block_count,
            no_erase: cfg.no_erase,
            single_stream: cfg.no_erase || reserve < MIN_RESERVE_UNITS,
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

    /// Absolute address of header copy `which` (0 = A, 1 = B) of `unit`.
    pub fn header_addr(&self, unit: u32, which: u32) -> u32 {
        self.unit_addr(unit) + which * self.header_size
    }

    /// Absolute address of the record of `slot` in `unit`.
    pub fn record_addr(&self, unit: u32, slot: u32) -> u32 {
        debug_assert!(slot < self.slots_per_unit);
        self.unit_addr(unit) + self.table_offset + slot * self.record_size
    }

    /// Absolute address of `unit`'s seal record: a record without data after the table,
    /// written only by mount recovery, for a void marker when no slot is left for one.
    pub fn seal_addr(&self, unit: u32) -> u32 {
        self.unit_addr(unit) + self.table_offset + self.slots_per_unit * self.record_size
    }

    /// Absolute address of the data of `slot` in `unit`.
    pub fn data_addr(&self, unit: u32, slot: u32) -> u32 {
        debug_assert!(slot < self.slots_per_unit);
        self.unit_addr(unit) + self.data_offset + slot * self.block_size
    }

    /// Units that may fail before the volume turns read-only.
    pub fn spare_units(&self) -> u32 {
        let min = if self.single_stream {
            SINGLE_STREAM_RESERVE_UNITS
        } else {
            MIN_RESERVE_UNITS
        };
        self.reserve_units.saturating_sub(min)
    }

    /// Logical capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.block_count as u64 * self.block_size as u64
    }
}

/// Smallest multiple of the erase size that reaches `DEFAULT_MIN_UNIT_BYTES`, but keep at
/// least 16 units in the region when the pages allow it (GC needs units to choose from).
fn default_unit_size(region_len: u32, erase_size: u32) -> u32 {
    let mut pages = DEFAULT_MIN_UNIT_BYTES.div_ceil(erase_size).max(1);
    while pages > 1 && region_len / (pages * erase_size) < 16 {
        pages /= 2;
    }
    // Prefer a unit size that divides the region exactly.
    while pages > 1 && region_len % (pages * erase_size) != 0 {
        pages -= 1;
    }
    pages * erase_size
}
