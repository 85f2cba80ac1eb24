//! The plain types both APIs share (the blocking [`crate::Ftl`] and the async
//! [`crate::asynch::Ftl`] are generated from one core, `engine/`, and hand out these same
//! types): counters, statistics and snapshot ids.

use crate::units::WearSummary;

/// Counters since mount (RAM only; the wear counters are on flash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Every byte handed to `NorFlash::write` (data, records, headers, copies).
    pub bytes_programmed: u64,
    /// Every byte read from flash.
    pub bytes_read: u64,
    pub erases: u64,
    /// Blocks written or trimmed by the user.
    pub host_writes: u64,
    /// Slots copied by GC, static wear levelling or retirement.
    pub relocations: u64,
    /// Units reclaimed by GC.
    pub gc_victims: u64,
    /// Units emptied by static wear levelling.
    pub wl_moves: u64,
    /// Units retired after a failed program, erase or verification.
    pub retired: u64,
    /// Slots given up because a probe found them not reliably blank.
    pub probe_skips: u64,
}

/// A snapshot of the volume's health and activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    pub wear: WearSummary,
    pub counters: Counters,
    pub units: u32,
    /// Units that hold nothing live and are not write frontiers.
    pub free_units: u32,
    pub retired_units: u32,
    /// Blocks whose newest record is data (not trimmed, not unwritten). 0 with the block map
    /// on flash (`OnFlash`), which would have to read every page to count them.
    pub mapped_blocks: u32,
    pub read_only: bool,
}

/// Names one snapshot: its slot and the version it was taken at (a slot taken again later
/// names another snapshot, and the old id is refused with `NoSnapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotId {
    pub(crate) slot: u8,
    pub(crate) version: u64,
}

impl SnapshotId {
    /// The snapshot slot (below `MAX_SNAPSHOTS`).
    pub fn slot(&self) -> usize {
        usize::from(self.slot)
    }

    /// The version the snapshot was taken at: it sees every record older than this.
    pub fn version(&self) -> u64 {
        self.version
    }
}
