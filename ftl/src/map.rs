//! The block map: logical block number -> where its newest record lives.
//!
//! One `u32` per exported block, in RAM only; mount rebuilds it from the record tables.
//! An entry is a global slot index (`unit * slots_per_unit + slot`) with the top bit set
//! when the record is a trim, the next one when it is a revert. The map holds no versions: mount compares versions by reading
//! the competing record back from flash, which keeps RAM at 4 bytes per block.

use heapless::Vec;

use crate::geometry::{ConfigError, Geometry};
use crate::layout::RecordKind;

/// Where a block's newest record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mapping {
    /// Never written since format: reads as zeros.
    Unmapped,
    /// Newest record is a data record in (unit, slot).
    Data { unit: u32, slot: u32 },
    /// Newest record is a trim record in (unit, slot): reads as zeros.
    Trimmed { unit: u32, slot: u32 },
    /// Newest record is a revert record in (unit, slot): reads the base image, like an
    /// unmapped block (zeros without a base).
    Reverted { unit: u32, slot: u32 },
}

impl Mapping {
    /// No record of the block's own counts: it reads the base image (zeros without one).
    pub fn reads_base(&self) -> bool {
        matches!(self, Mapping::Unmapped | Mapping::Reverted { .. })
    }

    /// The map's `u32` encoding (shared by the RAM map and the flash map's records): the
    /// global slot index, with the top bit for a trim and the next for a revert;
    /// `u32::MAX` unmapped.
    pub fn encode(&self, slots_per_unit: u32) -> u32 {
        let idx = |unit: u32, slot: u32| {
            // The geometry keeps every global slot index below the flag bits.
            debug_assert!(unit * slots_per_unit + slot < REVERT_BIT);
            unit * slots_per_unit + slot
        };
        match *self {
            Mapping::Unmapped => UNMAPPED,
            Mapping::Data { unit, slot } => idx(unit, slot),
            Mapping::Trimmed { unit, slot } => idx(unit, slot) | TRIM_BIT,
            Mapping::Reverted { unit, slot } => idx(unit, slot) | REVERT_BIT,
        }
    }

    /// The mapping an encoded entry stands for.
    pub fn decode(e: u32, slots_per_unit: u32) -> Mapping {
        if e == UNMAPPED {
            return Mapping::Unmapped;
        }
        let idx = e & !(TRIM_BIT | REVERT_BIT);
        let (unit, slot) = (idx / slots_per_unit, idx % slots_per_unit);
        match e & (TRIM_BIT | REVERT_BIT) {
            TRIM_BIT => Mapping::Trimmed { unit, slot },
            REVERT_BIT => Mapping::Reverted { unit, slot },
            _ => Mapping::Data { unit, slot },
        }
    }

    /// What a block record of `kind` at (unit, slot) maps its block to (`None` for the
    /// volume's and the map's own records).
    pub fn at(kind: RecordKind, (unit, slot): (u32, u32)) -> Option<Mapping> {
        match kind {
            RecordKind::Data => Some(Mapping::Data { unit, slot }),
            RecordKind::Trim => Some(Mapping::Trimmed { unit, slot }),
            RecordKind::Revert => Some(Mapping::Reverted { unit, slot }),
            _ => None,
        }
    }

    /// The (unit, slot) holding the record, if any.
    pub fn location(&self) -> Option<(u32, u32)> {
        match *self {
            Mapping::Unmapped => None,
            Mapping::Data { unit, slot }
            | Mapping::Trimmed { unit, slot }
            | Mapping::Reverted { unit, slot } => Some((unit, slot)),
        }
    }
}

/// Where the block map lives. [`RamMap`], the default, keeps the whole map in RAM
/// ([`BlockMap`], 4 bytes per block). [`OnFlash`](crate::flashmap::mode::OnFlash) keeps it
/// in the log (issue 14, docs/MAP-ON-FLASH.md): its state sits beside the log as `State`, and
/// the few engine paths that differ branch on `ON_FLASH`, a constant, so the RAM mode's code
/// is what it was without the seam (firmware/size.sh measures it). The hooks below are the
/// flash map's RAM-only operations; the RAM map never has them called.
pub trait MapMode {
    /// True when the map lives on flash: lookups read records, changes are buffered.
    const ON_FLASH: bool;
    /// What the mode keeps in RAM beside the log (`()` for [`RamMap`]).
    type State: core::fmt::Debug;
    /// The state of a volume not mounted or formatted yet.
    fn empty() -> Self::State;
    /// Fit the geometry to the mode: the flash map checks its capacities and takes its own
    /// records and reserve out of the exported blocks.
    fn adjust(geo: &mut Geometry) -> Result<(), ConfigError>;
    /// A fresh, empty map for `geo` (format; `adjust` accepted `geo`).
    fn start(state: &mut Self::State, geo: &Geometry);
    /// `lba`'s mapping if RAM knows it (buffered, or looked up for the operation in
    /// progress); `None`: it must be read from flash.
    fn known(state: &Self::State, lba: u32) -> Option<Mapping>;
    /// `lba` now maps to `new`, a record of `version`. Returns the mapping it replaces if
    /// RAM knew it.
    fn change(state: &mut Self::State, lba: u32, new: Mapping, version: u64) -> Option<Mapping>;
    /// GC copied the map record `kind` (claim lba `lba`) from global slot `from` to `to`.
    fn moved(state: &mut Self::State, kind: RecordKind, lba: u32, from: u32, to: u32);
    /// Encode part `part` of the run being written into `buf` (one block).
    fn encode_part(state: &Self::State, part: usize, buf: &mut [u8]) -> bool;
    /// Call `f` with the global slot of each of the map's own live records (pages, delta
    /// records), for the tests' recount.
    fn for_each_record(state: &Self::State, f: impl FnMut(u32));
    /// May a unit whose newest record has version `stamp` be erased now? The flash map
    /// keeps units holding records newer than its last root (a mount replays them) until a
    /// newer root covers them.
    fn erase_ready(state: &Self::State, stamp: u64) -> bool;
    /// Available units the map keeps from host writes beyond GC's headroom.
    fn held_units(state: &Self::State) -> u32;
    /// A change was lost (the buffer refused it): RAM no longer matches the log.
    fn lost(state: &Self::State) -> bool;
    /// The operation stopped for map work (a merge) and is to be retried.
    fn retry(state: &Self::State) -> bool;
}

/// The whole block map in RAM: [`BlockMap`], one `u32` per block.
#[derive(Debug)]
pub struct RamMap;

impl MapMode for RamMap {
    const ON_FLASH: bool = false;
    type State = ();
    fn empty() {}
    fn adjust(_: &mut Geometry) -> Result<(), ConfigError> {
        Ok(())
    }
    fn start(_: &mut (), _: &Geometry) {}
    fn known(_: &(), _: u32) -> Option<Mapping> {
        None
    }
    fn change(_: &mut (), _: u32, _: Mapping, _: u64) -> Option<Mapping> {
        None
    }
    fn moved(_: &mut (), _: RecordKind, _: u32, _: u32, _: u32) {}
    fn encode_part(_: &(), _: usize, _: &mut [u8]) -> bool {
        false
    }
    fn for_each_record(_: &(), _: impl FnMut(u32)) {}
    fn erase_ready(_: &(), _: u64) -> bool {
        true
    }
    fn held_units(_: &()) -> u32 {
        0
    }
    fn lost(_: &()) -> bool {
        false
    }
    fn retry(_: &()) -> bool {
        false
    }
}

const UNMAPPED: u32 = u32::MAX;
const TRIM_BIT: u32 = 1 << 31;
const REVERT_BIT: u32 = 1 << 30;

/// Fixed-capacity map of up to `B` blocks.
#[derive(Debug)]
pub struct BlockMap<const B: usize> {
    entries: Vec<u32, B>,
    slots_per_unit: u32,
}

impl<const B: usize> BlockMap<B> {
    /// A map of `blocks` unmapped entries. `blocks <= B` is checked by the geometry.
    pub fn new(blocks: u32, slots_per_unit: u32) -> Self {
        let mut map = BlockMap {
            entries: Vec::new(),
            slots_per_unit,
        };
        map.reset(blocks);
        map
    }

    /// `blocks` unmapped entries, in place: building a map and moving it costs a copy of
    /// the whole table (code and stack).
    pub fn reset(&mut self, blocks: u32) {
        self.entries.clear();
        // Cannot fail: Geometry::new rejected block counts above B.
        let _ = self.entries.resize(blocks as usize, UNMAPPED);
        debug_assert_eq!(self.entries.len(), blocks as usize);
    }

    pub fn len(&self) -> u32 {
        self.entries.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Look up `lba` (caller checked the range).
    pub fn get(&self, lba: u32) -> Mapping {
        let e = self.entries.get(lba as usize).copied().unwrap_or(UNMAPPED);
        Mapping::decode(e, self.slots_per_unit)
    }

    /// Point `lba` at a new record; returns the previous mapping.
    pub fn set(&mut self, lba: u32, m: Mapping) -> Mapping {
        let old = self.get(lba);
        let enc = m.encode(self.slots_per_unit);
        if let Some(e) = self.entries.get_mut(lba as usize) {
            *e = enc;
        }
        old
    }

    /// Every mapped (lba, mapping) pair, in lba order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Mapping)> + '_ {
        (0..self.len())
            .map(move |lba| (lba, self.get(lba)))
            .filter(|(_, m)| *m != Mapping::Unmapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_data_trim_and_unmapped() {
        let mut m: BlockMap<16> = BlockMap::new(10, 7);
        assert_eq!(m.get(3), Mapping::Unmapped);
        assert_eq!(
            m.set(3, Mapping::Data { unit: 2, slot: 6 }),
            Mapping::Unmapped
        );
        assert_eq!(m.get(3), Mapping::Data { unit: 2, slot: 6 });
        assert_eq!(
            m.set(3, Mapping::Trimmed { unit: 5, slot: 0 }),
            Mapping::Data { unit: 2, slot: 6 }
        );
        assert_eq!(m.get(3), Mapping::Trimmed { unit: 5, slot: 0 });
        m.set(4, Mapping::Reverted { unit: 1, slot: 3 });
        assert_eq!(m.get(4), Mapping::Reverted { unit: 1, slot: 3 });
        assert_eq!(m.iter().count(), 2);
        assert_eq!(m.get(99), Mapping::Unmapped);
    }
}
