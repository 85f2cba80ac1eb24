//! The block map on flash as a [`MapMode`]: `Ftl<F, U, 0, 0, OnFlash<P, C, R, Q>>` keeps
//! its map in the log as pages and runs ([`FlashMap`]), so its RAM does not grow with the
//! capacity (issue 14, docs/MAP-ON-FLASH.md). **Being built**: format, read, write, trim,
//! transactions, GC and wear levelling work; a flash-map volume does not mount yet (the root
//! records come next), so it lives only until the `Ftl` is dropped.
//!
//! What the mode keeps in RAM ([`FlashState`]): the [`FlashMap`] (directory, change buffer,
//! run index) and the lookups the operation in progress made (its *pins*: a host write
//! needs its block's old record, to drop it from its unit's count and to pick the block's
//! frontier, at a point where the engine cannot read flash).
//!
//! What it takes out of the volume ([`OnFlash::adjust`]): blocks of at most
//! [`MAX_MAP_BLOCK`] bytes (a map record is read into a stack buffer), at least
//! [`MIN_MAP_SLOTS`] slots per unit and [`MIN_MAP_UNITS`] units. The exported capacity
//! loses the map's own live records (every page, every delta record the run index can
//! hold), the units the map holds back from host writes (`MapMode::held_units`: one for
//! runs, which must never wait for GC since GC's copies are what fills the buffer, and
//! enough for a merge's pages, so that a merge runs no GC and causes no run), and a slack
//! of `1 / SLACK_DIVISOR` of the slots, so that the victim GC picks frees more slots than
//! its copies cost in runs and merges (docs/MAP-ON-FLASH.md, "The space the map takes").

use heapless::Vec;

use super::record::{MapShape, MAX_PARTS};
use super::FlashMap;
use crate::geometry::{ConfigError, Geometry, MAX_TRANSACTION_BLOCKS};
use crate::layout::RecordKind;
use crate::map::{MapMode, Mapping};

/// Largest block size a flash-map volume takes: lookups and merges read a map record into a
/// stack buffer of this size.
pub const MAX_MAP_BLOCK: u32 = 512;
/// Fewest slots per unit: a run (up to 16 delta records) fits in one unit with room to spare.
pub const MIN_MAP_SLOTS: u32 = 17;
/// Fewest units: GC's headroom, the map's held units and the slack (at least a unit per
/// stream and one) come out of them, about seven units on the smallest shapes. Measured: a
/// boot loop of 1 000 cuts on 16 units wedged (docs/MAP-ON-FLASH.md, "Bugs the flash-map
/// torture found"), on 32 it did not.
pub const MIN_MAP_UNITS: u32 = 32;
/// The slack a flash-map volume keeps beyond the RAM map's: `1 / SLACK_DIVISOR` of its
/// slots (a unit at least). A round's copies cost map records (about one slot per `D`
/// copies in runs, and their share of the merges); the slack keeps a victim whose garbage
/// pays for that, and bounds write amplification on a full volume.
pub const SLACK_DIVISOR: u32 = 16;

/// Words a root carries after the map's checkpoint (FORMAT.md, "Root"): each unit's count
/// of live block records (a byte per unit, four to a word), then a bit per unit that holds a
/// live volume record (a retire record), which a mount reads whole whatever its age.
pub const fn root_unit_words(units: u32) -> usize {
    (units.div_ceil(4) + units.div_ceil(32)) as usize
}
/// Lookups one operation holds: a transaction's blocks.
pub const PINS: usize = MAX_TRANSACTION_BLOCKS as usize;

/// The flash-map mode: `P` pages, a buffer of `C` changes, `R` runs of `Q` delta records in
/// all (see [`FlashMap`] for what each costs in RAM).
#[derive(Debug)]
pub struct OnFlash<const P: usize, const C: usize, const R: usize, const Q: usize>;

/// The flash-map mode's RAM.
#[derive(Debug)]
pub struct FlashState<const P: usize, const C: usize, const R: usize, const Q: usize> {
    /// The map (`None` before format).
    pub map: Option<FlashMap<P, C, R, Q>>,
    /// (lba, entry) of each block the operation in progress looked up.
    pub pins: Vec<(u32, u32), PINS>,
    pub slots_per_unit: u32,
    /// A change the buffer refused (a bound the engine keeps was broken): the RAM map no
    /// longer matches the log, so the volume turns read-only.
    pub lost: bool,
    /// The run index was full when a run was due: merge, then retry the operation.
    pub merge_now: bool,
    /// The current root's number and where its parts are (`root_at[part]`, global slots).
    pub root: u32,
    pub root_at: Vec<u32, MAX_PARTS>,
    /// The current root's redo point (0: no root yet): a mount replays every record from it.
    pub root_redo: u64,
    /// A root is owed (a run or a merge landed and writing its root failed): it is written
    /// before the next operation changes anything.
    pub root_due: bool,
    /// The mount let copies lose to their sources (the copy rule): no unit is erased until a
    /// root has landed, or a later mount, the source gone, would count those copies again.
    pub erase_hold: bool,
    /// What a mount gathers between its passes (unused after it).
    pub mount: MountState,
}

/// What a mount of a flash-map volume gathers: the two newest roots seen (a cut root
/// transaction is invisible, so the newest complete one is normally the newest seen), the
/// newest run number seen, the runs and the newest page seen in the newest units (for runs
/// whose root did not land: docs/MAP-ON-FLASH.md, "Runs without a root"), and in the
/// second pass the root's redo point and which of the index's delta records were found.
#[derive(Debug, Default)]
pub struct MountState {
    pub second_pass: bool,
    pub roots: [RootSeen; 2],
    pub max_run: Option<u32>,
    /// The counts replay every block record from here (the root's redo point) ...
    pub redo: u64,
    /// ... and the buffer takes those from here (past the newest run adopted).
    pub map_redo: u64,
    /// Per delta record of the index (in index order): found on flash.
    pub parts_seen: Vec<bool, MAX_INDEX>,
    /// Runs of the loaded root's index; those after it were adopted.
    pub root_runs: usize,
    /// Delta records seen in the first pass, by run: the newest attempt of each.
    pub runs_seen: Vec<RunSeen, MAX_RUNS_SEEN>,
    /// The newest run number left out of `runs_seen` for want of room.
    pub runs_dropped: Option<u32>,
    /// The newest `covers` of a page record seen in the first pass: a run that covers no
    /// more was merged, or may have been.
    pub page_covers: u64,
    /// This mount adopts only runs whose `covers` is below this (set before its passes: an
    /// earlier try met a conflict; 0 means no limit).
    pub adopt_below: u64,
    /// The oldest copy the copy rule let lose (0: none). Below `map_redo`, an adopted run may
    /// name it: the mount starts over adopting only runs older than it.
    pub oldest_lost: u64,
}

/// Most delta records an index a mount checks can hold.
pub const MAX_INDEX: usize = 256;
/// Most runs a mount tracks in its first pass (the oldest numbers make way).
pub const MAX_RUNS_SEEN: usize = 16;

/// One run a mount saw records of: the `covers` and part count their heads carry (the
/// newest attempt's, if a failed one left records under the same number), and a bit per
/// part seen.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunSeen {
    pub number: u32,
    pub covers: u64,
    pub parts: u8,
    pub seen: u16,
}

/// The parts of one root seen so far: (global slot, claim version) per part.
#[derive(Debug, Default, Clone)]
pub struct RootSeen {
    pub root: Option<u32>,
    pub parts: u8,
    pub redo: u64,
    pub at: Vec<(u32, u64), MAX_PARTS>,
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> OnFlash<P, C, R, Q> {
    /// The map's shape on `geo` with `blocks` exported blocks.
    fn shape(geo: &Geometry, blocks: u32) -> Option<MapShape> {
        MapShape::new(geo.block_size, blocks, geo.unit_count * geo.slots_per_unit)
    }

    /// Largest changes one run takes: the buffer's records, `ceil(C / D)`.
    pub fn run_records(shape: &MapShape) -> u32 {
        (C as u32).div_ceil(shape.per_delta)
    }
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> MapMode
    for OnFlash<P, C, R, Q>
{
    const ON_FLASH: bool = true;
    type State = FlashState<P, C, R, Q>;

    fn empty() -> Self::State {
        FlashState {
            map: None,
            pins: Vec::new(),
            slots_per_unit: 1,
            lost: false,
            merge_now: false,
            root: 0,
            root_at: Vec::new(),
            root_redo: 0,
            root_due: false,
            erase_hold: false,
            mount: MountState::default(),
        }
    }

    fn adjust(geo: &mut Geometry) -> Result<(), ConfigError> {
        let n = geo.slots_per_unit;
        if geo.block_size > MAX_MAP_BLOCK || geo.block_size < 256 {
            return Err(ConfigError::BadBlockSize);
        }
        if n < MIN_MAP_SLOTS {
            return Err(ConfigError::UnitTooSmall);
        }
        if geo.unit_count < MIN_MAP_UNITS || geo.no_erase {
            return Err(ConfigError::TooFewUnits);
        }
        let first = Self::shape(geo, geo.block_count).ok_or(ConfigError::MapTooSmall)?;
        // The map's live records: every page (of the capacity before the cut: an upper
        // bound) and a full run index; then the run reserve and the slack unit.
        let map_records = first.pages() + Q as u32;
        // The slack, at least the partly used frontiers the host's threshold (GC's headroom
        // plus the held units, all empty at once) cannot count on: a unit per stream, and
        // one (measured: boot loops on 8-20 units wedged with less).
        let slack = (geo.unit_count * n / SLACK_DIVISOR).max((1 + geo.streams()) * n);
        let held = (1 + first.pages().div_ceil(n)) * n;
        let blocks = geo.block_count.saturating_sub(map_records + held + slack);
        let shape = Self::shape(geo, blocks).ok_or(ConfigError::MapTooSmall)?;
        if blocks == 0 {
            return Err(ConfigError::TooFewUnits);
        }
        // The run index must leave room for two runs beyond the one a merge starts at.
        let fits = Q as u32 >= 3 * Self::run_records(&shape)
            && R >= 3
            && C as u32 >= 2 * n + geo.txn_blocks;
        // A root (the checkpoint and a byte per unit) is one transaction in one unit.
        let words = 6 + shape.pages() as usize + 4 * R + 3 * Q + root_unit_words(geo.unit_count);
        let root_fits = shape.root_parts(words).is_some_and(|p| u32::from(p) < n);
        if !fits || !root_fits || Q > MAX_INDEX || FlashMap::<P, C, R, Q>::new(shape).is_none() {
            return Err(ConfigError::MapTooSmall);
        }
        geo.block_count = blocks;
        Ok(())
    }

    fn start(state: &mut Self::State, geo: &Geometry) {
        state.slots_per_unit = geo.slots_per_unit;
        state.map = Self::shape(geo, geo.block_count).and_then(FlashMap::new);
        state.pins.clear();
        state.lost = false;
        state.merge_now = false;
        state.root = 0;
        state.root_at.clear();
        state.root_redo = 0;
        state.root_due = false;
        state.erase_hold = false;
        state.mount = MountState::default();
    }

    fn known(state: &Self::State, lba: u32) -> Option<Mapping> {
        let pinned = state.pins.iter().find(|p| p.0 == lba).map(|p| p.1);
        let e = pinned.or_else(|| state.map.as_ref()?.in_buffer(lba))?;
        Some(Mapping::decode(e, state.slots_per_unit))
    }

    fn change(state: &mut Self::State, lba: u32, new: Mapping, version: u64) -> Option<Mapping> {
        let old = Self::known(state, lba);
        let e = new.encode(state.slots_per_unit);
        if let Some(pin) = state.pins.iter_mut().find(|p| p.0 == lba) {
            pin.1 = e;
        }
        let set = state.map.as_mut().map(|m| m.set(lba, e, version));
        if !matches!(set, Some(Ok(()))) {
            debug_assert!(false, "the flash map's buffer refused a change: {set:?}");
            state.lost = true;
        }
        old
    }

    fn moved(state: &mut Self::State, kind: RecordKind, lba: u32, from: u32, to: u32) {
        let Some(map) = state.map.as_mut() else {
            return;
        };
        match kind {
            RecordKind::MapPage => map.page_moved(lba, from, to),
            RecordKind::MapDelta => {
                if let Some(part) = map.part_of(lba, from) {
                    map.part_moved(lba, part, from, to);
                }
            }
            RecordKind::MapRoot if lba == state.root => {
                if let Some(at) = state.root_at.iter_mut().find(|a| **a == from) {
                    *at = to;
                }
            }
            _ => {}
        }
    }

    fn for_each_record(state: &Self::State, mut f: impl FnMut(u32)) {
        let Some(map) = state.map.as_ref() else {
            return;
        };
        for page in 0..map.shape().pages() {
            if let Some(at) = map.page_loc(page) {
                f(at);
            }
        }
        for run in map.runs() {
            for part in 0..run.parts {
                if let Some(at) = map.part_loc(run.number, part) {
                    f(at);
                }
            }
        }
        for &at in &state.root_at {
            f(at);
        }
    }

    fn erase_ready(state: &Self::State, stamp: u64) -> bool {
        // Stamp 0: no valid record (only slots a cut left), nothing a mount replays.
        stamp == 0 || (!state.erase_hold && stamp < state.root_redo)
    }

    fn held_units(state: &Self::State) -> u32 {
        let pages = state.map.as_ref().map_or(0, |m| m.shape().pages());
        1 + pages.div_ceil(state.slots_per_unit)
    }

    fn lost(state: &Self::State) -> bool {
        state.lost
    }

    fn retry(state: &Self::State) -> bool {
        state.merge_now
    }

    fn encode_part(state: &Self::State, part: usize, buf: &mut [u8]) -> bool {
        state
            .map
            .as_ref()
            .is_some_and(|m| m.encode_part(part, buf).is_ok())
    }
}
