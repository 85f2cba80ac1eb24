//! Random power-cut torture engine, shared by `cowftl torture` and `tests/tests/torture.rs`.
//!
//! One *seed* fixes everything: the part (a preset or a small custom geometry), the FTL
//! configuration (unit size, block size, reserve, WL threshold, verified writes), the
//! workload shape (uniform, hot/cold, sequential; write/trim/read/remount mix) and every
//! cut point. A run repeats `cuts` times: arm a power cut `n` flash operations ahead
//! (small `n` lands in mount-time recovery, so several cuts in a row hit recovery), mount,
//! check, run random operations until the cut fires, restore power. The simulator's
//! hostile model supplies torn programs, torn erases (old, zeros, ones, random) and unstable
//! reads.
//!
//! Checked after every mount against a model of acknowledged operations (docs/DESIGN.md 2-5):
//! - every acknowledged write/trim is there (durability),
//! - the one interrupted operation is all-or-nothing: its block holds the old or the new
//!   contents (atomicity), every other block holds exactly its acknowledged contents, so
//!   the state is a prefix of the sequence (prefix order),
//! - once a mount has shown a state it is the model: later mounts must show it again (no
//!   rollback), including after cuts during recovery,
//! - reads return the model's data, never an error or wrong bytes; mount never fails after a
//!   cut; a cut is always reported (no `Ok` from a call whose flash op lost power);
//! - the volume keeps working (the workload goes on after every recovery),
//! - contract 1 too: the simulator panics on any flash rule violation (caught per seed).
//!
//! Boot-loop mode ([`Options::boot_loop`], `cowftl torture --boot-loop`; docs/DESIGN.md contract
//! 9, liveness): an erasable part, filled to >= 90 % of its blocks first, then at least
//! [`BOOT_LOOP_MIN_CUTS`] cuts per seed armed a few flash ops ahead (runs of consecutive cuts
//! in mount and recovery, and in the first operations after it, mostly writes), the same
//! checks after every mount, and at the end: one clean mount must accept a write to every
//! block (no `NoSpace`), a remount must show all of it, and a mount right after that must
//! not program or erase anything (a clean mount writes nothing).

use std::fmt::Write as _;

use std::marker::PhantomData;

use cowftl::flashmap::mode::{OnFlash, MIN_MAP_UNITS};
use cowftl::{Config, Error, Geometry, SnapshotId};

use cowftl_sim::{SimError, SimFlash, SplitMix64};

use crate::api::{Api, Blocking, Volume};
use crate::model::Model;
use crate::parts::Part;
use crate::pattern::{describe, fill_pattern};

/// FTL capacities used by the torture runs: small geometries, and 128-143 units for the
/// seeds that collect ahead (`GC_AHEAD_MIN_UNITS`).
pub const MAX_UNITS: usize = 160;
/// See [`MAX_UNITS`].
pub const MAX_BLOCKS: usize = 4096;
/// Snapshots a torture volume holds at most (`Ftl`'s fourth parameter).
pub const MAX_SNAPSHOTS: usize = 4;
/// Snapshot tables need blocks of at least this many bytes (smaller: `SnapshotLimit`).
const SNAPSHOT_MIN_BLOCK: usize = cowftl::table::TABLE_BYTES;
/// Fewest power cuts per seed in boot-loop mode ([`Options::boot_loop`]).
pub const BOOT_LOOP_MIN_CUTS: u32 = 500;

/// The flash-map volumes' map capacities ([`MapKind::Flash`]: `OnFlash<P, C, R, Q>`).
/// Pages: enough for the largest setup [`choose_flash_setup`] makes (143 units of up to
/// [`MAP_MAX_SLOTS`] slots of 256-byte blocks: 60 block entries a page).
pub const MAP_PAGES: usize = 160;
/// Most slots per unit of a flash-map setup: the change buffer must hold `2n + t` changes
/// (`MapTooSmall` otherwise), and a small buffer writes runs often, which is what the
/// torture should cut.
pub const MAP_MAX_SLOTS: u32 = 40;
/// The change buffer: `2 * MAP_MAX_SLOTS + 16` (16: the largest transaction), the least
/// the mode accepts for those units, so runs come every few dozen changes.
pub const MAP_CHANGES: usize = 2 * MAP_MAX_SLOTS as usize + 16;
/// Runs the index holds: a merge starts when half of it is taken, so every other run or so.
pub const MAP_RUNS: usize = 4;
/// Delta records the index holds: three runs' worth on 256-byte blocks (`ceil(96 / 30)`
/// records a run), the least the mode accepts.
pub const MAP_DELTAS: usize = 12;
/// The map mode of the flash-map torture volumes.
pub type TortureMap = OnFlash<MAP_PAGES, MAP_CHANGES, MAP_RUNS, MAP_DELTAS>;

/// Which block map the torture volumes keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MapKind {
    /// The RAM map (`Ftl<_, MAX_UNITS, MAX_BLOCKS, MAX_SNAPSHOTS>`): every setup
    /// [`choose_setup`] makes, snapshots and `revert_all` included.
    #[default]
    Ram,
    /// The block map on flash (`Ftl<_, MAX_UNITS, 0, 0, TortureMap>`, docs/MAP-ON-FLASH.md):
    /// the setups [`choose_flash_setup`] makes (erasable parts, blocks of 256-512 bytes,
    /// units of 17-40 slots, at least 16 units); no snapshots and no `revert_all` (the mode
    /// has neither), everything else as with the RAM map, plus the valid counts recounted
    /// through lookups after every mount (`Ftl::check_map`).
    Flash,
}

impl MapKind {
    /// `ram` or `flash`.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Ram => "ram",
            MapKind::Flash => "flash",
        }
    }

    pub fn from_name(s: &str) -> Option<MapKind> {
        [MapKind::Ram, MapKind::Flash]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// What one torture run does (everything else comes from the seed).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Power cuts per seed.
    pub cuts: u32,
    /// Force a part (`None`: the seed picks one).
    pub part: Option<Part>,
    /// Print every step to stderr (for replaying a failing seed).
    pub trace: bool,
    /// Brown-out boot loop (docs/DESIGN.md contract 9): fill the volume to >= 90 % first, then
    /// at least [`BOOT_LOOP_MIN_CUTS`] cuts (`cuts` if higher), armed a few flash ops ahead
    /// so they land in mount, recovery and the first operations after it (runs of
    /// consecutive cuts in recovery); the workload is mostly writes. At the end every block
    /// must take a write on one clean mount, and a clean mount must write nothing.
    /// Erasable parts only (a random pick skips [`Part::Worm`]).
    pub boot_loop: bool,
    /// Use this setup instead of the one the seed picks (regression tests pin a geometry).
    pub setup: Option<Setup>,
    /// The block map of the volumes (the RAM map by default).
    pub map: MapKind,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cuts: 20,
            part: None,
            trace: false,
            boot_loop: false,
            setup: None,
            map: MapKind::Ram,
        }
    }
}

impl Options {
    /// Power cuts each seed runs (boot-loop mode raises `cuts` to [`BOOT_LOOP_MIN_CUTS`]).
    pub fn cuts_per_seed(&self) -> u32 {
        if self.boot_loop {
            self.cuts.max(BOOT_LOOP_MIN_CUTS)
        } else {
            self.cuts
        }
    }
}

/// The configuration a seed picked.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub part: Part,
    pub capacity: usize,
    pub cfg: Config,
    pub workload: Shape,
}

/// Which blocks the workload hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Uniform,
    /// 80% of the operations on 10% of the blocks.
    HotCold,
    /// Sequential sweeps with some random writes.
    Sequential,
}

/// Counters of one or many runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub seeds: u64,
    /// Power cuts that fired.
    pub cuts: u64,
    /// Of those, cuts during a mount (recovery).
    pub mount_cuts: u64,
    /// Successful mounts, each followed by a full check against the model.
    pub mounts: u64,
    /// Acknowledged writes, trims and transactions.
    pub acked: u64,
    /// Of those, transactions.
    pub txns: u64,
    /// Interrupted operations that recovered as the new state.
    pub landed: u64,
    /// Reads checked against the model (including full checks after mounts).
    pub reads: u64,
    /// Flash operations (programs + erases).
    pub flash_ops: u64,
    /// Snapshots taken (acknowledged `snapshot()` calls, plus cut ones a mount showed).
    pub snapshots: u64,
    /// Acknowledged rollbacks (plus cut ones a mount showed landed).
    pub rollbacks: u64,
    /// Acknowledged snapshot deletions (plus cut ones a mount showed landed).
    pub snap_deletes: u64,
    /// Snapshot blocks checked against the model of their moment (`read_snapshot`, including
    /// every live snapshot's full check after each mount).
    pub snap_reads: u64,
    /// Legitimate refusals checked to have changed nothing (`SnapshotFull`, `SnapshotLimit`,
    /// `SnapshotsHeld`, `NoSnapshot` for a deleted id).
    pub refusals: u64,
}

impl Summary {
    pub fn add(&mut self, o: &Summary) {
        self.seeds += o.seeds;
        self.cuts += o.cuts;
        self.mount_cuts += o.mount_cuts;
        self.mounts += o.mounts;
        self.acked += o.acked;
        self.txns += o.txns;
        self.landed += o.landed;
        self.reads += o.reads;
        self.flash_ops += o.flash_ops;
        self.snapshots += o.snapshots;
        self.rollbacks += o.rollbacks;
        self.snap_deletes += o.snap_deletes;
        self.snap_reads += o.snap_reads;
        self.refusals += o.refusals;
    }
}

/// A contract violation (or panic) on one seed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub setup: Option<Setup>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {:#x}", self.seed)?;
        if let Some(s) = &self.setup {
            write!(
                f,
                " ({}, {} units of {} B, block {} B, reserve {}, wl {}, verify {}, {:?})",
                s.part.name(),
                s.cfg.region_len / s.cfg.unit_size.unwrap_or(1),
                s.cfg.unit_size.unwrap_or(0),
                s.cfg.block_size,
                s.cfg.reserve_units,
                s.cfg.static_wl_threshold,
                s.cfg.verify_writes,
                s.workload
            )?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The setup a run with `opts` uses for `seed`: [`choose_setup`], except that boot-loop mode
/// picks a random part among [`Part::ERASABLE`].
pub fn setup_for(seed: u64, opts: &Options) -> Setup {
    if let Some(s) = opts.setup {
        return s;
    }
    if opts.map == MapKind::Flash {
        return choose_flash_setup(seed, opts.part);
    }
    let part = match opts.part {
        None if opts.boot_loop => {
            let mut rng = SplitMix64::new(seed ^ 0xB007_100B);
            Some(Part::ERASABLE[rng.below(Part::ERASABLE.len() as u64) as usize])
        }
        p => p,
    };
    choose_setup(seed, part)
}

/// Pick the setup for `seed` (part forced by `part` if given).
pub fn choose_setup(seed: u64, part: Option<Part>) -> Setup {
    let mut rng = SplitMix64::new(seed ^ 0x05EE_D5E7_0000);
    let part = part.unwrap_or(Part::ALL[rng.below(Part::ALL.len() as u64) as usize]);
    for _ in 0..200 {
        let erase = part.small_erase_size() as u32;
        let per_unit = match part {
            Part::Stm32h743 | Part::W25q128 => 1 + rng.below(2) as u32,
            Part::Tiny => 2 + rng.below(3) as u32,
            _ => 1 + rng.below(4) as u32,
        };
        let unit_size = erase * per_unit;
        let units = if part == Part::Worm {
            4 + rng.below(8) as u32
        } else {
            6 + rng.below(11) as u32
        };
        let bs_choices: &[u32] = match part {
            Part::Tiny => &[64, 128],
            Part::Stm32h743 => &[256, 512, 1024],
            _ => &[128, 256, 512],
        };
        let block_size = bs_choices[rng.below(bs_choices.len() as u64) as usize];
        let reserve = match part {
            Part::Worm => 0,
            _ => 4 + rng.below(3) as u32,
        };
        let capacity = (units * unit_size) as usize;
        let cfg = Config {
            unit_size: Some(unit_size),
            block_size,
            reserve_units: reserve,
            static_wl_threshold: 1 + rng.below(20) as u32,
            no_erase: part == Part::Worm,
            verify_writes: rng.below(4) != 0,
            max_transaction_blocks: rng.below(17) as u32,
            ..Config::new(0, capacity as u32)
        };
        let w = part.word_size();
        if Geometry::new(&cfg, capacity, 1, w, erase as usize, MAX_UNITS, MAX_BLOCKS).is_ok() {
            let workload = random_workload(&mut rng);
            let narrow = Setup {
                part,
                capacity,
                cfg,
                workload,
            };
            let wide = widen(narrow, &mut rng);
            return ahead(wide, &mut rng);
        }
    }
    unreachable!("no valid geometry found for {part:?}")
}

/// Pick the flash-map setup for `seed` (part forced by `part` if given; an erasable part,
/// a write-once one is refused by the mode): blocks of 256 or 512 bytes, units of
/// [`MIN_MAP_SLOTS`](cowftl::flashmap::mode::MIN_MAP_SLOTS) to [`MAP_MAX_SLOTS`] slots,
/// 32-44 units, a reserve of 1-3, then the same spreads as [`choose_setup`] (one seed in
/// eight on 32-48 units, one in eight collecting ahead on 128-143). Only shapes
/// [`TortureMap`] accepts (`OnFlash::adjust`).
pub fn choose_flash_setup(seed: u64, part: Option<Part>) -> Setup {
    let mut rng = SplitMix64::new(seed ^ 0xF1A5_0000_0000);
    let part = part.unwrap_or(Part::ERASABLE[rng.below(Part::ERASABLE.len() as u64) as usize]);
    assert!(part != Part::Worm, "the flash map refuses write-once media");
    for _ in 0..200 {
        let erase = part.small_erase_size() as u32;
        let block_size = [256u32, 512][rng.below(2) as usize];
        // Units of 17-40 slots: the erase blocks that give 18 slots (a slot costs the block
        // and its record; 64 bytes is above any part's record), up to 40.
        let least = (18 * (block_size + 64)).div_ceil(erase).max(1);
        let most = (MAP_MAX_SLOTS * block_size / erase).max(least);
        let per_unit = least + rng.below(u64::from(most - least + 1)) as u32;
        let unit_size = erase * per_unit;
        let units = MIN_MAP_UNITS + rng.below(13) as u32;
        let capacity = (units * unit_size) as usize;
        let cfg = Config {
            unit_size: Some(unit_size),
            block_size,
            reserve_units: 1 + rng.below(3) as u32,
            static_wl_threshold: 1 + rng.below(20) as u32,
            no_erase: false,
            verify_writes: rng.below(4) != 0,
            max_transaction_blocks: rng.below(17) as u32,
            ..Config::new(0, capacity as u32)
        };
        let workload = random_workload(&mut rng);
        let narrow = Setup {
            part,
            capacity,
            cfg,
            workload,
        };
        if flash_map_geometry(&narrow).is_ok() {
            let wide = spread_with(narrow, &mut rng, COLD_SPREAD, flash_map_geometry);
            return spread_with(wide, &mut rng, AHEAD_SPREAD, flash_map_geometry);
        }
    }
    unreachable!("no flash-map geometry found for {part:?}")
}

/// The geometry a flash-map volume of `setup` gets (`Err`: the mode refuses it).
pub fn flash_map_geometry(setup: &Setup) -> Result<Geometry, cowftl::ConfigError> {
    let (w, erase) = (setup.part.word_size(), setup.part.small_erase_size());
    let mut g = Geometry::new(
        &setup.cfg,
        setup.capacity,
        1,
        w,
        erase,
        MAX_UNITS,
        usize::MAX,
    )?;
    if g.slots_per_unit > MAP_MAX_SLOTS {
        return Err(cowftl::ConfigError::UnitTooSmall);
    }
    <TortureMap as cowftl::MapMode>::adjust(&mut g)?;
    Ok(g)
}

/// The geometry a RAM-map volume of `setup` gets.
fn ram_map_geometry(setup: &Setup) -> Result<Geometry, cowftl::ConfigError> {
    let (w, erase) = (setup.part.word_size(), setup.part.small_erase_size());
    Geometry::new(
        &setup.cfg,
        setup.capacity,
        1,
        w,
        erase,
        MAX_UNITS,
        MAX_BLOCKS,
    )
}

/// A spread: (base units, span, collect ahead).
type Spread = (u32, u64, bool);
/// Three frontiers: 32-48 units.
const COLD_SPREAD: Spread = (cowftl::geometry::COLD_STREAM_UNITS, 17, false);
/// Collecting ahead: 128-143 units.
const AHEAD_SPREAD: Spread = (cowftl::geometry::GC_AHEAD_MIN_UNITS, 16, true);

/// The shape of a setup's writes: uniform, hot/cold or sequential, one in three each.
fn random_workload(rng: &mut SplitMix64) -> Shape {
    match rng.below(3) {
        0 => Shape::Uniform,
        1 => Shape::HotCold,
        _ => Shape::Sequential,
    }
}

/// One erasable setup in eight spreads over 32-48 units of the same size, so the cold
/// frontier (three frontiers from `COLD_STREAM_UNITS` units) and the host writes routed to it
/// run under cuts too. Drawn after everything else: the other seeds keep their setups.
fn widen(narrow: Setup, rng: &mut SplitMix64) -> Setup {
    spread_with(narrow, rng, COLD_SPREAD, ram_map_geometry)
}

/// One erasable seed in eight collects ahead (`Config::gc_ahead`), which needs
/// `GC_AHEAD_MIN_UNITS` units: it spreads over 128-143 units of the same size. Drawn last:
/// the other seeds keep their setups.
fn ahead(setup: Setup, rng: &mut SplitMix64) -> Setup {
    spread_with(setup, rng, AHEAD_SPREAD, ram_map_geometry)
}

/// One erasable setup in eight (else `setup` as it is): the same units, `base` to
/// `base + span - 1` of them, collecting ahead if `gc_ahead`; `setup` if `geometry`
/// refuses that shape.
fn spread_with(
    setup: Setup,
    rng: &mut SplitMix64,
    (base, span, gc_ahead): Spread,
    geometry: fn(&Setup) -> Result<Geometry, cowftl::ConfigError>,
) -> Setup {
    if setup.part == Part::Worm || rng.below(8) != 0 {
        return setup;
    }
    let unit_size = setup.cfg.unit_size.unwrap_or(setup.cfg.region_len);
    let units = base + rng.below(span) as u32;
    let capacity = (units * unit_size) as usize;
    let cfg = Config {
        region_len: capacity as u32,
        gc_ahead: gc_ahead || setup.cfg.gc_ahead,
        ..setup.cfg
    };
    let wide = Setup {
        capacity,
        cfg,
        ..setup
    };
    match geometry(&wide) {
        Ok(_) => wide,
        Err(_) => setup,
    }
}

/// Run one seed. `Err` on the first contract violation (panics are not caught here; see
/// [`run_seed_catching`]).
pub fn run_seed(seed: u64, opts: &Options) -> Result<Summary, Failure> {
    run_with::<Blocking>(seed, None, opts)
}

/// [`run_seed`] over the API `A` ([`crate::api::Blocking`] or [`crate::api::Async`]).
pub fn run_seed_on<A: Api>(seed: u64, opts: &Options) -> Result<Summary, Failure> {
    run_with::<A>(seed, None, opts)
}

/// Fuzzing entry point: like [`run_seed`] but every decision (op, block, cut point) after
/// the setup is read from `data` (the first 8 bytes seed the setup and the simulator's
/// torn-bit randomness); the run ends when `data` is used up. Same checks.
pub fn run_bytes(data: &[u8], opts: &Options) -> Result<Summary, Failure> {
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    run_with::<Blocking>(u64::from_le_bytes(seed), Some(&data[n..]), opts)
}

fn run_with<A: Api>(seed: u64, bytes: Option<&[u8]>, opts: &Options) -> Result<Summary, Failure> {
    match opts.map {
        MapKind::Ram => run_kind::<A, RamMaps>(seed, bytes, opts),
        MapKind::Flash => run_kind::<A, FlashMaps>(seed, bytes, opts),
    }
}

fn run_kind<A: Api, K: Maps>(
    seed: u64,
    bytes: Option<&[u8]>,
    opts: &Options,
) -> Result<Summary, Failure> {
    let setup = setup_for(seed, opts);
    macro_rules! go {
        ($r:literal, $w:literal, $e:literal) => {{
            let mut r = Runner::<A, K, $r, $w, $e>::new(seed, setup, opts);
            if let Some(b) = bytes {
                r.rng = Entropy::Bytes(b.to_vec(), 0);
            }
            r.run()
        }};
    }
    let r = match setup.part {
        Part::Stm32l476 | Part::Worm => go!(1, 8, 2048),
        Part::W25q128 => go!(1, 1, 4096),
        Part::Stm32h743 => go!(1, 32, 8192),
        Part::Stm32f411 => go!(1, 4, 1024),
        Part::Tiny => go!(1, 16, 512),
    };
    r.map_err(|message| Failure {
        seed,
        setup: Some(setup),
        message,
    })
}

/// [`run_seed`], turning a panic (flash rule violation, FTL assertion) into a [`Failure`].
pub fn run_seed_catching(seed: u64, opts: &Options) -> Result<Summary, Failure> {
    match std::panic::catch_unwind(|| run_seed(seed, opts)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(Failure {
                seed,
                setup: Some(setup_for(seed, opts)),
                message: format!("panic: {msg}"),
            })
        }
    }
}

/// Where the runner's decisions come from: a seeded generator, or fuzzer bytes.
enum Entropy {
    Rng(SplitMix64),
    /// Bytes and read position; reads past the end give 0 and mark the source exhausted.
    Bytes(Vec<u8>, usize),
}

impl Entropy {
    fn below(&mut self, n: u64) -> u64 {
        match self {
            Entropy::Rng(r) => r.below(n),
            Entropy::Bytes(b, pos) => {
                let mut x = 0u64;
                let k = if n <= 256 { 1 } else { 2 };
                for _ in 0..k {
                    x = x << 8 | u64::from(b.get(*pos).copied().unwrap_or(0));
                    *pos += 1;
                }
                x % n.max(1)
            }
        }
    }

    fn exhausted(&self) -> bool {
        match self {
            Entropy::Rng(_) => false,
            Entropy::Bytes(b, pos) => *pos >= b.len(),
        }
    }
}

/// The volume under test: `A`'s FTL with `K`'s block map over the simulator.
type Vol<'a, A, K, const R: usize, const W: usize, const E: usize> = <K as Maps>::V<'a, A, R, W, E>;

/// Which block map the volumes under test keep (the type side of [`MapKind`]).
pub trait Maps {
    /// True for the block map on flash ([`FlashMaps`]).
    const FLASH: bool;
    /// The volume type of API `A` over the simulator `SimFlash<R, W, E>`.
    type V<'a, A: Api, const R: usize, const W: usize, const E: usize>: Volume<
        &'a mut SimFlash<R, W, E>,
    >;
}

/// The RAM map: `Ftl<_, MAX_UNITS, MAX_BLOCKS, MAX_SNAPSHOTS>`.
#[derive(Clone, Copy, Debug)]
pub struct RamMaps;

/// The block map on flash: `Ftl<_, MAX_UNITS, 0, 0, TortureMap>`.
#[derive(Clone, Copy, Debug)]
pub struct FlashMaps;

impl Maps for RamMaps {
    const FLASH: bool = false;
    type V<'a, A: Api, const R: usize, const W: usize, const E: usize> =
        <A as Api>::Vol<&'a mut SimFlash<R, W, E>, MAX_UNITS, MAX_BLOCKS, MAX_SNAPSHOTS>;
}

impl Maps for FlashMaps {
    const FLASH: bool = true;
    type V<'a, A: Api, const R: usize, const W: usize, const E: usize> = <A as Api>::MapVol<
        &'a mut SimFlash<R, W, E>,
        MAX_UNITS,
        MAP_PAGES,
        MAP_CHANGES,
        MAP_RUNS,
        MAP_DELTAS,
    >;
}
type FtlErr = Error<SimError>;

#[derive(Clone, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
    /// A transaction: (lba, generation; 0 = trim), applied in order, all or nothing.
    Txn(Vec<(u32, u64)>),
    /// The block reads its base again: zeros on a volume without one.
    Revert(u32),
    /// Every block reads its base again (one reset record): all zeros here.
    RevertAll(u32),
    Read(u32),
    Remount,
    /// A snapshot operation (the snapshot set and, for a rollback, the data change).
    Snap(SnapOp),
}

#[derive(Clone, Copy, Debug)]
enum SnapOp {
    Take,
    /// Read one block of a snapshot (a deleted one: `NoSnapshot`).
    Read(SnapshotId, u32),
    Rollback(SnapshotId),
    Delete(SnapshotId),
}

/// A live snapshot and the model of the volume when it was taken.
type Held = (SnapshotId, Model);

/// An interrupted snapshot operation: the live snapshots before it and after it (a cut
/// `snapshot()` adds one whose id only a mount can show: `take` holds its model).
#[derive(Clone, Debug)]
struct SnapPending {
    op: SnapOp,
    before: Vec<Held>,
    after: Vec<Held>,
    take: Option<Model>,
}

impl Op {
    /// The blocks an interrupted op may have changed, with their new generations.
    fn changes(&self) -> Vec<(u32, u64)> {
        match self {
            Op::Write(l, g) => vec![(*l, *g)],
            Op::Trim(l) => vec![(*l, 0)],
            Op::Txn(parts) => parts.clone(),
            Op::Revert(l) => vec![(*l, 0)],
            Op::RevertAll(n) => (0..*n).map(|l| (l, 0)).collect(),
            _ => Vec::new(),
        }
    }
}

/// How a session (mount + operations) ended.
enum End {
    /// The armed cut fired.
    Cut,
    /// A `Remount` operation: mount again with the cut still armed.
    Remount,
    /// Nothing more to do (op budget spent, or the WORM part is full).
    Idle,
}

struct Runner<'o, A: Api, K: Maps, const R: usize, const W: usize, const E: usize> {
    api: PhantomData<(A, K)>,
    seed: u64,
    setup: Setup,
    opts: &'o Options,
    rng: Entropy,
    flash: Option<SimFlash<R, W, E>>,
    /// Acknowledged generation per block (0 = zeros).
    model: Model,
    /// The interrupted operation, not yet resolved by a mount: (lba, new generation) per
    /// block it changes, in order (a transaction changes several, all or none).
    pending: Vec<(u32, u64)>,
    /// The volume's largest transaction (1: none are generated).
    max_txn: u32,
    /// Live snapshots, each with the model of its moment.
    snaps: Vec<Held>,
    /// Snapshots deleted or dropped by a rollback, newest last (their ids must be refused).
    dead: Vec<SnapshotId>,
    /// The interrupted snapshot operation, not yet resolved by a mount.
    pending_snaps: Option<SnapPending>,
    /// A write was refused with `SnapshotFull`: free a snapshot soon.
    pressure: bool,
    seq_cursor: u32,
    blocks: u32,
    bs: usize,
    full: bool,
    /// Boot-loop mode: iterations left in a burst of cuts armed 0..3 ops ahead.
    burst: u32,
    sum: Summary,
    log: String,
}

impl<'o, A: Api, K: Maps, const R: usize, const W: usize, const E: usize>
    Runner<'o, A, K, R, W, E>
{
    fn new(seed: u64, setup: Setup, opts: &'o Options) -> Self {
        let flash = SimFlash::new(setup.part.small_spec(setup.capacity), seed);
        Runner {
            api: PhantomData,
            seed,
            setup,
            opts,
            rng: Entropy::Rng(SplitMix64::new(seed)),
            flash: Some(flash),
            model: Model::default(),
            pending: Vec::new(),
            max_txn: 1,
            snaps: Vec::new(),
            dead: Vec::new(),
            pending_snaps: None,
            pressure: false,
            seq_cursor: 0,
            blocks: 0,
            bs: setup.cfg.block_size as usize,
            full: false,
            burst: 0,
            sum: Summary {
                seeds: 1,
                ..Summary::default()
            },
            log: String::new(),
        }
    }

    fn trace(&mut self, s: std::fmt::Arguments<'_>) {
        if self.opts.trace {
            eprintln!("[{:#x}] {}", self.seed, s);
        }
        // Keep a short tail of events for the failure message.
        if self.log.len() > 4000 {
            let cut = self.log.len() - 2000;
            let at = self.log[cut..].find('\n').map_or(cut, |i| cut + i + 1);
            self.log.drain(..at);
        }
        let _ = writeln!(self.log, "  {s}");
    }

    fn fail(&self, msg: String) -> String {
        let cuts = self.sum.cuts;
        format!(
            "{msg}\n  ({cuts} cuts fired before) last events:\n{}",
            self.log
        )
    }

    fn run(mut self) -> Result<Summary, String> {
        let cfg = self.setup.cfg;
        match Vol::<A, K, R, W, E>::format(self.flash.as_mut().expect("flash"), cfg) {
            Ok(f) => self.blocks = f.block_count(),
            Err(e) => return Err(format!("format: {e:?}")),
        }
        self.model = Model::new(self.blocks);
        let (setup, blocks) = (self.setup, self.blocks);
        self.trace(format_args!("setup {setup:?}, {blocks} blocks"));
        if self.opts.boot_loop {
            self.prefill()?;
        }
        let target = self.opts.cuts_per_seed();
        let mut fired = 0;
        let mut idle_rounds = 0;
        while fired < target && !self.rng.exhausted() {
            let n = if self.opts.boot_loop {
                self.boot_loop_cut()
            } else {
                // Where the next cut lands: a quarter of them within the next mount
                // (recovery, possibly right after another cut), the rest somewhere in the
                // workload.
                match self.rng.below(8) {
                    0 | 1 => self.rng.below(6),
                    2 => self.rng.below(40),
                    _ => self.rng.below(400),
                }
            };
            if self.rng.below(4) == 0 {
                // A cut at a chosen byte: often 0 (nothing landed) or past the end (all landed).
                let byte = match self.rng.below(3) {
                    0 => 0,
                    1 => usize::MAX,
                    _ => self.rng.below(2 * self.bs as u64) as usize,
                };
                self.fl().cut_at_byte(n, byte);
                self.trace(format_args!("arm cut in {n} ops at byte {byte}"));
            } else {
                self.fl().cut_after_ops(n);
                self.trace(format_args!("arm cut in {n} ops"));
            }
            let start_ops = self.fl().ops();
            let end = loop {
                match self.session()? {
                    End::Remount => continue,
                    e => break e,
                }
            };
            self.sum.flash_ops += self.fl().ops() - start_ops;
            match end {
                End::Cut => {
                    fired += 1;
                    self.sum.cuts += 1;
                    self.fl().power_restore();
                    idle_rounds = 0;
                }
                End::Idle | End::Remount => {
                    self.fl().cancel_cut();
                    idle_rounds += 1;
                    if idle_rounds >= 3 {
                        break; // WORM full: no flash operations left to cut
                    }
                }
            }
        }
        // Final clean mount: everything resolved, state exactly the model.
        self.fl().cancel_cut();
        self.fl().power_restore();
        let mut flash = self.flash.take().expect("flash");
        let r = self.with_mount(&mut flash, |me, ftl| me.check(ftl));
        self.flash = Some(flash);
        if r?.is_none() {
            return Err(self.fail("final mount reported a cut with no cut armed".into()));
        }
        if self.opts.boot_loop && !self.rng.exhausted() {
            self.liveness()?;
        }
        Ok(self.sum)
    }

    /// Boot-loop mode: how many flash ops ahead the next cut goes. Mostly within the next
    /// mount (recovery); a sixth of them a few ops after that mount's last op (the first
    /// writes and GC after recovery); bursts of cuts 0..3 ops ahead (recovery cut again and
    /// again, now and then for hundreds of boots in a row).
    fn boot_loop_cut(&mut self) -> u64 {
        if self.burst > 0 {
            self.burst -= 1;
            return self.rng.below(3);
        }
        if self.rng.below(400) == 0 {
            self.burst = 200 + self.rng.below(300) as u32;
        } else if self.rng.below(24) == 0 {
            self.burst = 5 + self.rng.below(40) as u32;
        }
        if self.rng.below(6) == 0 {
            // In the first operations after the next mount (its recovery done): count the
            // ops that mount does on a copy of the flash (same contents, same random state,
            // so the real mount does the same).
            let k = match self.rng.below(4) {
                0 | 1 => self.rng.below(3),
                2 => self.rng.below(8),
                _ => self.rng.below(40),
            };
            return self.mount_ops() + k;
        }
        match self.rng.below(8) {
            0..=3 => self.rng.below(4),
            4 | 5 => self.rng.below(12),
            6 => self.rng.below(40),
            _ => self.rng.below(120),
        }
    }

    /// Flash ops the next mount does (a dry run on a copy of the flash, no cut).
    fn mount_ops(&mut self) -> u64 {
        let cfg = self.setup.cfg;
        let mut copy = self.fl().clone();
        copy.cancel_cut();
        copy.power_restore();
        let before = copy.ops();
        let _ = Vol::<A, K, R, W, E>::mount(&mut copy, cfg);
        copy.ops() - before
    }

    /// Boot-loop mode: write >= 90 % of the blocks on one clean mount (no cut armed).
    fn prefill(&mut self) -> Result<(), String> {
        let fill = (self.blocks * 9).div_ceil(10);
        let mut flash = self.flash.take().expect("flash");
        let r = self.with_mount(&mut flash, |me, ftl| {
            let mut buf = vec![0u8; me.bs];
            for l in 0..fill {
                let g = me.model.next_gen();
                fill_pattern(l, g, &mut buf);
                if let Err(e) = ftl.write(l, &buf) {
                    return Err(me.fail(format!("prefill: write of lba {l} failed: {e:?}")));
                }
                me.model.write(l, g);
                me.sum.acked += 1;
            }
            Ok(())
        });
        self.flash = Some(flash);
        if r?.is_none() {
            return Err(self.fail("prefill mount reported a cut with no cut armed".into()));
        }
        let blocks = self.blocks;
        self.trace(format_args!("prefilled {fill} of {blocks} blocks"));
        Ok(())
    }

    /// Boot-loop mode, after the final check (docs/DESIGN.md contract 9): one clean mount takes a
    /// new write to every block (no `NoSpace`), a remount shows all of it, and a mount right
    /// after that programs and erases nothing.
    fn liveness(&mut self) -> Result<(), String> {
        let mut flash = self.flash.take().expect("flash");
        let r = self.liveness_on(&mut flash);
        self.flash = Some(flash);
        r
    }

    fn liveness_on(&mut self, flash: &mut SimFlash<R, W, E>) -> Result<(), String> {
        let rewrite = self.with_mount(flash, |me, ftl| {
            let mut buf = vec![0u8; me.bs];
            for l in 0..me.blocks {
                let g = me.model.next_gen();
                fill_pattern(l, g, &mut buf);
                if let Err(e) = ftl.write(l, &buf) {
                    let units = unit_dump(ftl);
                    return Err(me.fail(format!(
                        "liveness: write of lba {l} (of {}) on a clean mount failed: {e:?} (every \
                         block of the capacity must take a write)\n  units: {units}\n  {:?}",
                        me.blocks,
                        ftl.stats()
                    )));
                }
                me.model.write(l, g);
                me.sum.acked += 1;
            }
            Ok(())
        })?;
        let check = self.with_mount(flash, |me, ftl| me.check(ftl))?;
        if rewrite.is_none() || check.is_none() {
            return Err(self.fail("liveness mount reported a cut with no cut armed".into()));
        }
        let before = flash.ops();
        if self.with_mount(flash, |_, _| Ok(()))?.is_none() {
            return Err(self.fail("liveness mount reported a cut with no cut armed".into()));
        }
        let ops = flash.ops() - before;
        if ops != 0 {
            return Err(self.fail(format!(
                "a clean mount (right after a completed one) did {ops} flash op(s); a clean \
                 mount writes nothing"
            )));
        }
        self.trace(format_args!(
            "liveness: every block rewritten, clean mount writes nothing"
        ));
        Ok(())
    }

    fn fl(&mut self) -> &mut SimFlash<R, W, E> {
        self.flash.as_mut().expect("flash")
    }

    /// Mount and run `body` on the volume; `None` if the mount was cut.
    fn with_mount<T>(
        &mut self,
        flash: &mut SimFlash<R, W, E>,
        body: impl FnOnce(&mut Self, &mut Vol<'_, A, K, R, W, E>) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        let cfg = self.setup.cfg;
        let e = match Vol::<A, K, R, W, E>::mount(&mut *flash, cfg) {
            Ok(mut f) => {
                if f.flash().was_cut() {
                    return Err(
                        self.fail("mount returned Ok although its flash op lost power".into())
                    );
                }
                self.sum.mounts += 1;
                return body(self, &mut f).map(Some);
            }
            Err(e) => e,
        };
        if flash.was_cut() {
            self.sum.mount_cuts += 1;
            self.trace(format_args!("mount cut ({e:?})"));
            Ok(None)
        } else {
            Err(self.fail(format!("mount failed without a cut: {e:?}")))
        }
    }

    /// Read every block and compare with the model (the pending op's block may hold the old
    /// or the new contents); resolve the pending op.
    fn check(&mut self, ftl: &mut Vol<'_, A, K, R, W, E>) -> Result<(), String> {
        let blocks = self.blocks;
        let bs = self.bs;
        // docs/DESIGN.md "Space invariant": holds after every mount, whatever the cuts left.
        if let Err(e) = ftl.check_invariants() {
            // The state that broke it, when tracing (record tables can be long).
            let state = match self.opts.trace {
                true => format!("{}{}", unit_dump(ftl), record_dump(ftl)),
                false => String::new(),
            };
            return Err(self.fail(format!("invariant after mount: {e}{state}")));
        }
        // The flash map's valid counts come from flash (the root and the replayed tail):
        // recount them through a lookup of every block and the map's own records.
        if K::FLASH {
            let r = ftl.check_map();
            if !matches!(r, Ok(Ok(_))) {
                let units = unit_dump(ftl);
                return Err(self.fail(format!("flash map after mount: {r:?}\n  units: {units}")));
            }
            // Counts left high by a cut in the erase gap (allowed; GC heals them).
            if let Ok(Ok(high @ 1..)) = r {
                self.trace(format_args!("counts high by {high} slots"));
            }
        }
        if ftl.block_count() != blocks {
            return Err(self.fail(format!(
                "block count changed: {blocks} -> {}",
                ftl.block_count()
            )));
        }
        if self.opts.trace {
            let mut units = unit_dump(ftl);
            units.push_str(&record_dump(ftl));
            let _ = write!(units, "\n    {:?}", ftl.stats().counters);
            self.trace(format_args!("mounted: {units}"));
        }
        self.max_txn = ftl.max_transaction_blocks();
        let set_landed = self.resolve_snap_set(ftl)?;
        let mut got = vec![0u8; bs];
        let mut want = vec![0u8; bs];
        let (mut saw_old, mut saw_new) = (false, false);
        for lba in 0..blocks {
            if let Err(e) = ftl.read(lba, &mut got) {
                let at = match K::FLASH {
                    true => ftl.lookup(lba).unwrap_or(ftl.mapping(lba)),
                    false => ftl.mapping(lba),
                };
                return Err(self.fail(format!(
                    "read lba {lba} after mount: {e:?} (at {at:?}){}",
                    stored_record(ftl, at)
                )));
            }
            self.sum.reads += 1;
            self.model.expect(lba, &mut want);
            let new_gen = self
                .pending
                .iter()
                .rev()
                .find(|(l, _)| *l == lba)
                .map(|p| p.1);
            let old = got == want;
            let new = new_gen.is_some_and(|g| {
                fill_pattern(lba, g, &mut want);
                got == want
            });
            if new_gen.is_some() && old != new {
                // Both states may coincide (e.g. trim of a block already reading zeros).
                saw_old |= old;
                saw_new |= new;
            }
            if !old && !new {
                let what = describe(&got, lba);
                return Err(self.fail(format!(
                    "lba {lba}: expected generation {} (pending {:?}), found {what}",
                    self.model.gen(lba),
                    self.pending
                )));
            }
        }
        if saw_old && saw_new {
            return Err(self.fail(format!(
                "interrupted transaction torn: some blocks old, some new ({:?})",
                self.pending
            )));
        }
        // A rollback is one record: its data and its snapshot set land together.
        let landed = match set_landed {
            Some(l) if (l && saw_old) || (!l && saw_new) => {
                return Err(self.fail(format!(
                    "interrupted rollback torn: the snapshot set is the {} one, the data the {} \
                     one ({:?})",
                    if l { "new" } else { "old" },
                    if l { "old" } else { "new" },
                    self.pending
                )));
            }
            Some(l) => l,
            None => saw_new,
        };
        self.resolve_pending(landed);
        self.check_snapshot_views(ftl)
    }

    /// After a mount: the live snapshots are exactly the held ones, or (an interrupted snapshot
    /// operation) exactly the ones before it or after it. `Some(landed)` resolves that
    /// operation (the model of the snapshots follows); `None` if the set cannot tell.
    fn resolve_snap_set(&mut self, ftl: &Vol<'_, A, K, R, W, E>) -> Result<Option<bool>, String> {
        let live = sorted_ids(ftl.snapshots().into_iter());
        let Some(p) = self.pending_snaps.take() else {
            let held = sorted_ids(self.snaps.iter().map(|h| h.0));
            if live != held {
                return Err(self.fail(format!(
                    "live snapshots changed: held {held:?}, mount shows {live:?}"
                )));
            }
            return Ok(None);
        };
        let before = sorted_ids(p.before.iter().map(|h| h.0));
        let after = sorted_ids(p.after.iter().map(|h| h.0));
        let one_more = live.len() == before.len() + 1 && before.iter().all(|b| live.contains(b));
        if p.take.is_none() && before == after && live == before {
            // A rollback to the newest snapshot drops none: its blocks tell (`check`).
            self.snaps = p.before;
            return Ok(None);
        }
        let landed = match p.take {
            _ if live == before => {
                self.snaps = p.before;
                false
            }
            Some(m) if one_more => {
                let new = ftl
                    .snapshots()
                    .into_iter()
                    .find(|id| !p.before.iter().any(|h| h.0 == *id));
                self.snaps = p.before;
                self.snaps.extend(new.map(|id| (id, m)));
                true
            }
            None if live == after => {
                let gone = p
                    .before
                    .iter()
                    .filter(|h| !p.after.iter().any(|a| a.0 == h.0));
                self.dead.extend(gone.map(|h| h.0));
                self.snaps = p.after;
                true
            }
            _ => {
                return Err(self.fail(format!(
                    "interrupted {:?}: live snapshots {live:?} are neither those before it \
                     ({before:?}) nor after it ({after:?})",
                    p.op
                )));
            }
        };
        if landed {
            let s = &mut self.sum;
            match p.op {
                SnapOp::Take => s.snapshots += 1,
                SnapOp::Rollback(_) => s.rollbacks += 1,
                SnapOp::Delete(_) => s.snap_deletes += 1,
                SnapOp::Read(..) => {}
            }
            // A rollback that changed blocks is counted with them (`resolve_pending`).
            s.landed += u64::from(self.pending.is_empty());
        }
        self.trace(format_args!(
            "interrupted {:?} -> snapshots {}",
            p.op,
            if landed { "new" } else { "old" }
        ));
        Ok(Some(landed))
    }

    /// Every block of every live snapshot reads the model of the snapshot's moment.
    fn check_snapshot_views(&mut self, ftl: &mut Vol<'_, A, K, R, W, E>) -> Result<(), String> {
        let mut got = vec![0u8; self.bs];
        let mut want = vec![0u8; self.bs];
        for i in 0..self.snaps.len() {
            let id = self.snaps[i].0;
            for lba in 0..self.blocks {
                let r = ftl.read_snapshot(id, lba, &mut got);
                self.snaps[i].1.expect(lba, &mut want);
                self.sum.snap_reads += 1;
                if r.is_err() || got != want {
                    return Err(self.fail(format!(
                        "snapshot {id:?} lba {lba} after mount: expected generation {}, found \
                         {r:?} {}",
                        self.snaps[i].1.gen(lba),
                        describe(&got, lba)
                    )));
                }
            }
        }
        Ok(())
    }

    /// After a mount showed the interrupted op's blocks all old or all new.
    fn resolve_pending(&mut self, landed: bool) {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            self.trace(format_args!("mount ok; state matches the model"));
            return;
        }
        if landed {
            self.apply(&pending);
            self.sum.landed += 1;
        }
        self.trace(format_args!(
            "mount ok; interrupted op on {pending:?} -> {}",
            if landed { "new" } else { "old" }
        ));
    }

    fn pick_lba(&mut self) -> u32 {
        let n = self.blocks;
        match self.setup.workload {
            Shape::Uniform => self.rng.below(n as u64) as u32,
            Shape::HotCold => {
                let hot = (n / 10).max(1);
                if self.rng.below(10) < 8 {
                    self.rng.below(hot as u64) as u32
                } else {
                    self.rng.below(n as u64) as u32
                }
            }
            Shape::Sequential => {
                if self.rng.below(8) == 0 {
                    self.rng.below(n as u64) as u32
                } else {
                    self.seq_cursor = (self.seq_cursor + 1) % n;
                    self.seq_cursor
                }
            }
        }
    }

    fn next_op(&mut self) -> Op {
        let r = self.rng.below(1000);
        // The flash map keeps no snapshots and has no `revert_all`: those draws revert one
        // block instead.
        if !self.opts.boot_loop && !K::FLASH {
            if self.pressure && !self.snaps.is_empty() && self.rng.below(4) == 0 {
                return Op::Snap(self.free_snapshot());
            }
            if (950..980).contains(&r) {
                return Op::Snap(self.next_snap_op());
            }
        }
        if r < 120 && self.max_txn > 1 {
            return self.next_txn();
        }
        if r >= 997 && !self.opts.boot_loop && !K::FLASH {
            return Op::RevertAll(self.blocks);
        }
        let lba = self.pick_lba();
        if r >= 980 || K::FLASH && (950..980).contains(&r) && !self.opts.boot_loop {
            return Op::Revert(lba);
        }
        let r = self.rng.below(100);
        // Boot-loop mode: mostly writes (a volume kept nearly full), few trims.
        let r = match r {
            _ if !self.opts.boot_loop => r,
            0..=84 => 0,
            85..=86 => 70,
            87..=97 => 80,
            _ => 98,
        };
        match r {
            0..=69 => {
                let g = self.model.next_gen();
                Op::Write(lba, g)
            }
            70..=79 => Op::Trim(lba),
            80..=97 => Op::Read(lba),
            _ => Op::Remount,
        }
    }

    /// A snapshot operation: take one, read, roll back to or delete a held one; now and then
    /// one on a deleted snapshot (refused with `NoSnapshot`).
    fn next_snap_op(&mut self) -> SnapOp {
        let held = self.snaps.len() as u64;
        let r = self.rng.below(20);
        if (r >= 18 || held == 0 && r >= 12) && !self.dead.is_empty() {
            let id = self.dead[self.rng.below(self.dead.len() as u64) as usize];
            return match self.rng.below(3) {
                0 => SnapOp::Read(id, self.pick_lba()),
                1 => SnapOp::Rollback(id),
                _ => SnapOp::Delete(id),
            };
        }
        if held == 0 {
            return SnapOp::Take;
        }
        let id = self.snaps[self.rng.below(held) as usize].0;
        match r {
            0..=5 => SnapOp::Take,
            6..=11 => SnapOp::Read(id, self.pick_lba()),
            12..=14 => SnapOp::Rollback(id),
            _ => SnapOp::Delete(id),
        }
    }

    /// After a `SnapshotFull`: delete a held snapshot, or roll back to one.
    fn free_snapshot(&mut self) -> SnapOp {
        let id = self.snaps[self.rng.below(self.snaps.len() as u64) as usize].0;
        match self.rng.below(4) {
            0 => SnapOp::Rollback(id),
            _ => SnapOp::Delete(id),
        }
    }

    /// A transaction of 2..=max_txn writes (a trim now and then) at workload-shaped blocks (a
    /// block may come twice: the later part wins).
    fn next_txn(&mut self) -> Op {
        let k = 2 + self.rng.below(u64::from(self.max_txn - 1)) as u32;
        let parts: Vec<(u32, u64)> = (0..k)
            .map(|_| {
                let lba = self.pick_lba();
                match self.rng.below(8) {
                    0 => (lba, 0),
                    _ => (lba, self.model.next_gen()),
                }
            })
            .collect();
        Op::Txn(parts)
    }

    /// Mount, check, then run operations until the cut fires.
    fn session(&mut self) -> Result<End, String> {
        let mut flash = self.flash.take().expect("flash");
        let r = self.session_on(&mut flash);
        self.flash = Some(flash);
        r
    }

    fn session_on(&mut self, flash: &mut SimFlash<R, W, E>) -> Result<End, String> {
        Ok(self.with_mount(flash, Self::work)?.unwrap_or(End::Cut))
    }

    /// Check the freshly mounted volume, then run operations until the cut fires.
    fn work(&mut self, ftl: &mut Vol<'_, A, K, R, W, E>) -> Result<End, String> {
        self.check(ftl)?;
        if self.full {
            return Ok(End::Idle);
        }
        let bs = self.bs;
        let mut buf = vec![0u8; bs];
        let mut want = vec![0u8; bs];
        for _ in 0..3000 {
            if self.rng.exhausted() {
                return Ok(End::Idle);
            }
            let op = self.next_op();
            let ops_before = ftl.flash().ops();
            let r: Result<(), FtlErr> = match op {
                Op::Write(l, g) => {
                    fill_pattern(l, g, &mut buf);
                    ftl.write(l, &buf)
                }
                Op::Trim(l) => ftl.trim(l),
                Op::Txn(ref parts) => commit_txn(ftl, parts, bs),
                Op::Revert(l) => ftl.revert(l),
                Op::RevertAll(_) => ftl.revert_all(),
                Op::Read(l) => {
                    let r = ftl.read(l, &mut buf);
                    if r.is_ok() {
                        self.model.expect(l, &mut want);
                        self.sum.reads += 1;
                        if buf != want {
                            let what = describe(&buf, l);
                            return Err(self.fail(format!(
                                "read lba {l}: expected generation {}, found {what}",
                                self.model.gen(l)
                            )));
                        }
                    }
                    r
                }
                Op::Remount => {
                    self.trace(format_args!("remount"));
                    return Ok(End::Remount);
                }
                Op::Snap(s) => match self.snap_op(ftl, s)? {
                    Some(end) => return Ok(end),
                    None => continue,
                },
            };
            if let Some(end) = self.settle(ftl, &op, r, ops_before)? {
                return Ok(end);
            }
        }
        Ok(End::Idle)
    }

    /// The outcome `r` of data operation `op`: the model follows an acknowledged one, a cut
    /// one becomes the pending op, a legitimate refusal must have changed nothing.
    /// `Some(end)` when the session ends.
    fn settle(
        &mut self,
        ftl: &mut Vol<'_, A, K, R, W, E>,
        op: &Op,
        r: Result<(), FtlErr>,
        ops_before: u64,
    ) -> Result<Option<End>, String> {
        let cut = ftl.flash().was_cut();
        match r {
            Ok(()) if cut => Err(self.fail(format!("{op:?} returned Ok although power was cut"))),
            Ok(()) if ftl.check_invariants().is_err() => {
                let e = ftl.check_invariants().err().unwrap_or_default();
                Err(self.fail(format!("invariant after {op:?}: {e}")))
            }
            Ok(()) if matches!(op, Op::RevertAll(_)) && !self.snaps.is_empty() => Err(self.fail(
                "revert_all acknowledged while snapshots are held (SnapshotsHeld expected)".into(),
            )),
            Ok(()) => {
                let changes = op.changes();
                self.sum.acked += u64::from(!changes.is_empty());
                self.sum.txns += u64::from(matches!(op, Op::Txn(_)));
                self.apply(&changes);
                if self.opts.trace {
                    self.trace(format_args!("{op:?} ok"));
                }
                Ok(None)
            }
            Err(e) if cut => {
                self.pending = op.changes();
                self.trace(format_args!("{op:?} cut ({e:?})"));
                Ok(Some(End::Cut))
            }
            Err(Error::NoSpace) if self.setup.cfg.no_erase => {
                self.full = true;
                self.trace(format_args!("{op:?}: NoSpace (write-once part full)"));
                Ok(Some(End::Idle))
            }
            Err(e) if self.refusal_fits(op, e) => {
                let lbas: Vec<u32> = match op {
                    Op::RevertAll(n) => (0..*n).collect(),
                    _ => op.changes().iter().map(|c| c.0).collect(),
                };
                self.pressure |= e == Error::SnapshotFull;
                self.check_refusal(ftl, format!("{op:?} -> {e:?}"), &lbas, ops_before)
                    .map(|()| None)
            }
            Err(e) => {
                let units = unit_dump(ftl);
                Err(self.fail(format!(
                    "{op:?} failed without a cut: {e:?}\n  units: {units}\n  {:?}",
                    ftl.stats()
                )))
            }
        }
    }

    /// Apply acknowledged (lba, generation; 0 = trim) changes to the model.
    fn apply(&mut self, changes: &[(u32, u64)]) {
        for &(l, g) in changes {
            match g {
                0 => self.model.trim(l),
                g => self.model.write(l, g),
            }
        }
    }

    /// Is `e` a legitimate refusal of data operation `op` (snapshots are held)?
    fn refusal_fits(&self, op: &Op, e: FtlErr) -> bool {
        let held = !self.snaps.is_empty();
        match (op, e) {
            (Op::RevertAll(_), Error::SnapshotsHeld) => held,
            (Op::Write(..) | Op::Trim(_) | Op::Txn(_) | Op::Revert(_), Error::SnapshotFull) => held,
            _ => false,
        }
    }

    /// A refused operation changed nothing: no flash program or erase, the same live
    /// snapshots, and the blocks it would have changed still read the model.
    fn check_refusal(
        &mut self,
        ftl: &mut Vol<'_, A, K, R, W, E>,
        what: String,
        lbas: &[u32],
        ops_before: u64,
    ) -> Result<(), String> {
        let ops = ftl.flash().ops() - ops_before;
        let live = sorted_ids(ftl.snapshots().into_iter());
        let held = sorted_ids(self.snaps.iter().map(|h| h.0));
        if ops != 0 || live != held {
            return Err(self.fail(format!(
                "{what}: refused, yet {ops} flash op(s) ran and the live snapshots are {live:?} \
                 (held {held:?})"
            )));
        }
        let mut got = vec![0u8; self.bs];
        for &l in lbas {
            let r = ftl.read(l, &mut got);
            self.sum.reads += 1;
            if r.is_err() || got != self.model.expected(l, self.bs) {
                return Err(self.fail(format!(
                    "{what}: refused, yet lba {l} changed: {r:?} {}",
                    describe(&got, l)
                )));
            }
        }
        self.sum.refusals += 1;
        self.trace(format_args!("{what} (refused, nothing changed)"));
        Ok(())
    }

    /// What snapshot operation `op` must be refused with (`None`: it must succeed).
    fn snap_refusal(&self, op: SnapOp) -> Option<FtlErr> {
        let held = |id: SnapshotId| self.snaps.iter().any(|h| h.0 == id);
        match op {
            SnapOp::Take if self.bs < SNAPSHOT_MIN_BLOCK || self.snaps.len() >= MAX_SNAPSHOTS => {
                Some(Error::SnapshotLimit)
            }
            SnapOp::Take => None,
            SnapOp::Read(id, _) | SnapOp::Rollback(id) | SnapOp::Delete(id) if !held(id) => {
                Some(Error::NoSnapshot)
            }
            _ => None,
        }
    }

    /// Run snapshot operation `op` and check its outcome. `Some(end)` when the session ends.
    fn snap_op(
        &mut self,
        ftl: &mut Vol<'_, A, K, R, W, E>,
        op: SnapOp,
    ) -> Result<Option<End>, String> {
        let ops_before = ftl.flash().ops();
        let expected = self.snap_refusal(op);
        let r = match op {
            SnapOp::Take => ftl.snapshot().map(Some),
            SnapOp::Read(id, l) => return self.snap_read(ftl, id, l, ops_before).map(|()| None),
            SnapOp::Rollback(id) => ftl.rollback(id).map(|()| None),
            SnapOp::Delete(id) => ftl.delete_snapshot(id).map(|()| None),
        };
        let cut = ftl.flash().was_cut();
        match r {
            Ok(_) if cut => Err(self.fail(format!("{op:?} returned Ok although power was cut"))),
            Ok(_) if expected.is_some() => Err(self.fail(format!(
                "{op:?} acknowledged, {expected:?} expected ({} snapshots held, block {} B)",
                self.snaps.len(),
                self.bs
            ))),
            Ok(_) if ftl.check_invariants().is_err() => {
                let e = ftl.check_invariants().err().unwrap_or_default();
                Err(self.fail(format!("invariant after {op:?}: {e}")))
            }
            Ok(id) => self.snap_done(ftl, op, id).map(|()| None),
            Err(e) if cut => {
                self.pend_snap(op)?;
                self.trace(format_args!("{op:?} cut ({e:?})"));
                Ok(Some(End::Cut))
            }
            Err(Error::NoSpace) if self.setup.cfg.no_erase => {
                self.full = true;
                self.trace(format_args!("{op:?}: NoSpace (write-once part full)"));
                Ok(Some(End::Idle))
            }
            // Every hole still covers records on flash: a legitimate refusal too.
            Err(e)
                if Some(e) == expected
                    || matches!(op, SnapOp::Rollback(_)) && e == Error::SnapshotLimit =>
            {
                self.check_refusal(ftl, format!("{op:?} -> {e:?}"), &[], ops_before)
                    .map(|()| None)
            }
            Err(e) => Err(self.fail(format!(
                "{op:?} failed without a cut: {e:?} ({expected:?} expected)"
            ))),
        }
    }

    /// `read_snapshot`: a held snapshot reads the model of its moment, a deleted one is
    /// refused with `NoSnapshot`.
    fn snap_read(
        &mut self,
        ftl: &mut Vol<'_, A, K, R, W, E>,
        id: SnapshotId,
        l: u32,
        ops_before: u64,
    ) -> Result<(), String> {
        let mut got = vec![0u8; self.bs];
        let r = ftl.read_snapshot(id, l, &mut got);
        match (r, self.snaps.iter().position(|h| h.0 == id)) {
            (Ok(()), Some(i)) => {
                self.sum.snap_reads += 1;
                if got != self.snaps[i].1.expected(l, self.bs) {
                    return Err(self.fail(format!(
                        "snapshot {id:?} lba {l}: expected generation {}, found {}",
                        self.snaps[i].1.gen(l),
                        describe(&got, l)
                    )));
                }
                Ok(())
            }
            (Err(Error::NoSnapshot), None) => {
                let what = format!("read_snapshot({id:?}, {l}) -> NoSnapshot");
                self.check_refusal(ftl, what, &[], ops_before)
            }
            (r, held) => Err(self.fail(format!(
                "read_snapshot({id:?}, {l}): {r:?} (held: {})",
                held.is_some()
            ))),
        }
    }

    /// An acknowledged snapshot operation: the model and the held snapshots follow, and the
    /// volume must list exactly the held ones.
    fn snap_done(
        &mut self,
        ftl: &Vol<'_, A, K, R, W, E>,
        op: SnapOp,
        new: Option<SnapshotId>,
    ) -> Result<(), String> {
        match (op, new) {
            (SnapOp::Take, Some(id)) if !self.snaps.iter().any(|h| h.0 == id) => {
                self.snaps.push((id, self.model.clone()));
                self.sum.snapshots += 1;
            }
            (SnapOp::Rollback(id), _) => {
                let changes = self.rollback_changes(id);
                self.apply(&changes);
                let (keep, gone) = std::mem::take(&mut self.snaps)
                    .into_iter()
                    .partition(|h| h.0.version() <= id.version());
                self.snaps = keep;
                self.bury(gone);
                self.sum.rollbacks += 1;
                self.pressure = false;
            }
            (SnapOp::Delete(id), _) => {
                let (gone, keep) = std::mem::take(&mut self.snaps)
                    .into_iter()
                    .partition(|h| h.0 == id);
                self.snaps = keep;
                self.bury(gone);
                self.sum.snap_deletes += 1;
                self.pressure = false;
            }
            _ => return Err(self.fail(format!("{op:?} returned {new:?}: an id already held"))),
        }
        let live = sorted_ids(ftl.snapshots().into_iter());
        let held = sorted_ids(self.snaps.iter().map(|h| h.0));
        if live != held {
            return Err(self.fail(format!(
                "after {op:?}: live snapshots {live:?}, expected {held:?}"
            )));
        }
        self.trace(format_args!("{op:?} -> {new:?}, live {live:?}"));
        Ok(())
    }

    /// Snapshots gone (deleted, or newer than a rollback's): their ids must be refused.
    fn bury(&mut self, gone: Vec<Held>) {
        self.dead.extend(gone.into_iter().map(|h| h.0));
        let n = self.dead.len().saturating_sub(8);
        self.dead.drain(..n);
    }

    /// The blocks a rollback to held snapshot `id` changes: (lba, generation; 0 = zeros).
    fn rollback_changes(&self, id: SnapshotId) -> Vec<(u32, u64)> {
        let Some((_, m)) = self.snaps.iter().find(|h| h.0 == id) else {
            return Vec::new();
        };
        (0..self.blocks)
            .filter(|&l| m.gen(l) != self.model.gen(l))
            .map(|l| (l, m.gen(l)))
            .collect()
    }

    /// A snapshot operation lost power: remember the snapshot sets before and after it (and
    /// a rollback's block changes) for the next mount to resolve.
    fn pend_snap(&mut self, op: SnapOp) -> Result<(), String> {
        let before = self.snaps.clone();
        let (after, take) = match op {
            SnapOp::Take => (before.clone(), Some(self.model.clone())),
            SnapOp::Rollback(id) | SnapOp::Delete(id) if !before.iter().any(|h| h.0 == id) => {
                return Err(self.fail(format!("{op:?} on a snapshot not held did flash work")));
            }
            SnapOp::Rollback(id) => {
                self.pending = self.rollback_changes(id);
                let after = before.iter().filter(|h| h.0.version() <= id.version());
                (after.cloned().collect(), None)
            }
            SnapOp::Delete(id) => (before.iter().filter(|h| h.0 != id).cloned().collect(), None),
            SnapOp::Read(..) => return Err(self.fail(format!("{op:?} reported a cut"))),
        };
        self.pending_snaps = Some(SnapPending {
            op,
            before,
            after,
            take,
        });
        Ok(())
    }
}

/// Snapshot ids as sorted (slot, version) pairs, to compare sets.
fn sorted_ids(ids: impl Iterator<Item = SnapshotId>) -> Vec<(usize, u64)> {
    let mut v: Vec<_> = ids.map(|id| (id.slot(), id.version())).collect();
    v.sort_unstable();
    v
}

/// What is stored for `lba` (a weak record reads differently now and then), for failures.
fn stored_record<
    'a,
    V: Volume<&'a mut SimFlash<R, W, E>>,
    const R: usize,
    const W: usize,
    const E: usize,
>(
    ftl: &V,
    at: cowftl::map::Mapping,
) -> String {
    let Some((u, sl)) = at.location() else {
        return String::new();
    };
    let g = *ftl.geometry();
    let img = ftl.flash().image();
    let a = g.record_addr(u, sl) as usize;
    let r = g.decode_record(&img[a..a + g.record_size as usize]);
    let d = g.data_addr(u, sl) as usize;
    let crc = cowftl::layout::CRC.checksum(&img[d..d + g.block_size as usize]);
    let unstable: Vec<(u32, bool, bool)> = (0..g.slots_per_unit)
        .map(|s| {
            let ra = g.record_addr(u, s);
            let f = ftl.flash();
            (s, f.is_unstable(ra), f.is_unstable(ra + g.claim_size))
        })
        .filter(|t| t.1 || t.2)
        .collect();
    format!(" stored record {r:?}, stored data crc {crc:#x}, unstable (slot, claim, commit) {unstable:?}")
}

/// Stage `parts` (generation 0 = trim) in one transaction and commit it.
fn commit_txn<F: embedded_storage::nor_flash::ErrorType>(
    ftl: &mut impl Volume<F>,
    parts: &[(u32, u64)],
    bs: usize,
) -> crate::api::Res<(), F> {
    let data: Vec<Vec<u8>> = parts
        .iter()
        .map(|&(l, g)| {
            let mut b = vec![0u8; bs];
            fill_pattern(l, g, &mut b);
            b
        })
        .collect();
    let ops: Vec<(u32, Option<&[u8]>)> = parts
        .iter()
        .zip(&data)
        .map(|(&(l, g), d)| (l, (g != 0).then_some(&d[..])))
        .collect();
    ftl.commit(&ops)
}

/// One line per unit (state, valid/used, wear) for failure messages.
fn unit_dump<F: embedded_storage::nor_flash::ErrorType>(ftl: &impl Volume<F>) -> String {
    let mut s = String::new();
    for (i, u) in ftl.units().into_iter().enumerate() {
        let _ = write!(
            s,
            "\n    {i:2}: {:?} valid {} used {} wear {}",
            u.state, u.valid, u.used, u.wear
        );
    }
    s
}

/// The raw records of the partly used units (for traces).
fn record_dump<
    'a,
    V: Volume<&'a mut SimFlash<R, W, E>>,
    const R: usize,
    const W: usize,
    const E: usize,
>(
    ftl: &V,
) -> String {
    use cowftl::layout::RecordRead;
    let g = *ftl.geometry();
    let img = ftl.flash().image();
    let mut s = String::new();
    for (u, info) in ftl.units().into_iter().enumerate() {
        let partly_used = info.state == cowftl::UnitState::Open
            || (info.used as u32) < g.slots_per_unit && info.used > 0;
        if !partly_used && std::env::var("TORTURE_ALL_UNITS").is_err() {
            continue;
        }
        let _ = write!(s, "\n    unit {u}:");
        for slot in 0..g.slots_per_unit {
            let a = g.record_addr(u as u32, slot) as usize;
            match g.decode_record(&img[a..a + g.record_size as usize]) {
                RecordRead::Blank => {}
                RecordRead::Junk => {
                    let _ = write!(s, " [{slot}: junk]");
                }
                RecordRead::Claimed(c) => {
                    let _ = write!(
                        s,
                        " [{slot}: claimed {:?} lba {} v{}]",
                        c.kind, c.lba, c.version
                    );
                }
                RecordRead::Valid(r) => {
                    let c = r.claim;
                    let flag = match c.copy {
                        true => format!("c{}", c.victim),
                        false => "h".into(),
                    };
                    let _ = write!(
                        s,
                        " [{slot}: {:?} lba {} v{} skip {} {flag}]",
                        c.kind, c.lba, c.version, c.skip
                    );
                }
            }
        }
    }
    s
}
