//! `cowftl inspect IMAGE`: an fsck that reports what the library itself sees. The image is
//! loaded into a simulated chip and mounted with [`Ftl::mount`] (which only reads); every
//! figure printed comes from the library's public API: geometry, per-unit state, wear,
//! valid and used slots, the block map, the mount's counters and `check_invariants()`.
//! Then every block is read back through `Ftl::read` and `Corrupt` ones are counted.
//! Nothing here decodes the on-flash format: the library's scan is the only decoder.
//!
//! The unit and block sizes are found by mounting with candidate geometries until the
//! library accepts one (`--unit-size` / `--block-size` skip the search).
//!
//! Exit status: 0 when the volume mounts, reads nothing but writes nothing, satisfies its
//! invariants and every block reads back; 1 otherwise. The image file is never written.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use cowftl::layout::FORMAT_VERSION;
use cowftl::map::Mapping;
use cowftl::{Config, Error, Ftl, UnitInfo, UnitState};
use cowftl_sim::{SimError, SimFlash, SimStats};

use cowftl_testkit::image::mbr_partition;
use cowftl_testkit::Part;

use crate::common::{self, SimFtl};
use crate::image::parse_size;

/// Read errors listed one by one before only the total is printed.
const LIST_ERRORS: u32 = 20;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Region image (`.bin`) as written by `cowftl image` or dumped from a chip.
    pub image: PathBuf,
    /// Chip the image comes from (sets the read/write/erase sizes, hence the layout).
    #[arg(long, value_parser = common::part_arg(&common::IMAGE_CHIPS), default_value = "stm32l476")]
    pub chip: Part,
    /// Reserve units the volume was built with (sets the exported block count).
    #[arg(long)]
    pub reserve: Option<u32>,
    /// Erase-unit size the volume was built with (default: found by probing).
    #[arg(long, value_parser = parse_size)]
    pub unit_size: Option<u32>,
    /// Logical block size the volume was built with (default: found by probing).
    #[arg(long)]
    pub block_size: Option<u32>,
    /// Also list, per unit, the slots the block map points at.
    #[arg(long)]
    pub slots: bool,
}

pub fn run(a: Args) -> Result<(), String> {
    match a.chip {
        Part::Stm32l476 => inspect::<1, 8, 2048>(&a),
        Part::Stm32f411 => inspect::<1, 4, 131072>(&a),
        Part::Stm32h743 => inspect::<1, 32, 131072>(&a),
        Part::W25q128 => inspect::<1, 1, 4096>(&a),
        p => Err(format!("{} is not a real chip", p.name())),
    }
}

fn inspect<const R: usize, const W: usize, const E: usize>(a: &Args) -> Result<(), String> {
    let img = std::fs::read(&a.image).map_err(|e| format!("{}: {e}", a.image.display()))?;
    println!("image: {} ({} bytes)", a.image.display(), img.len());
    if img.is_empty() || img.len() % E != 0 {
        return Err(format!(
            "image length {} is not a multiple of the {E}-byte erase unit of {:?}",
            img.len(),
            a.chip
        ));
    }
    let spec = a.chip.spec(img.len());
    let mut flash = SimFlash::<R, W, E>::from_image(spec, 1, &img).map_err(|e| e.to_string())?;
    let (cfg, tried) = find_config(&mut flash, a, img.len() as u32)?;
    if tried > 1 {
        println!("geometry: found after {tried} candidate mounts");
    }
    flash.reset_stats();
    let mut ftl = match mount(&mut flash, cfg) {
        Ok(ftl) => ftl,
        Err(e) => {
            println!("library mount: FAILED: {e}");
            return Err(format!("library mount: {e}"));
        }
    };
    let device = ftl.flash().stats().clone();
    print_geometry(&ftl);
    let mut problems = print_mount(&ftl, &device);
    print_units(&ftl, a.slots);
    print_summary(&ftl);
    problems += print_invariants(&ftl);
    print_contents(&mut ftl);
    problems += fsck(&mut ftl);
    if problems > 0 {
        return Err(format!("fsck: {problems} problem(s)"));
    }
    println!("fsck: clean");
    Ok(())
}

/// Why a mount attempt failed.
enum MountFailure {
    Error(Error<SimError>),
    /// The library panicked (a debug build checks its invariants after mount).
    Panic(String),
}

impl std::fmt::Display for MountFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountFailure::Error(e) => write!(f, "{e}"),
            MountFailure::Panic(m) => write!(f, "the library panicked: {m}"),
        }
    }
}

/// `Ftl::mount`, with a panic turned into an error (an fsck must survive hostile images).
fn mount<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
) -> Result<SimFtl<'_, R, W, E>, MountFailure> {
    match catch_unwind(AssertUnwindSafe(|| Ftl::mount(flash, cfg))) {
        Ok(r) => r.map_err(MountFailure::Error),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(MountFailure::Panic(msg))
        }
    }
}

/// Configurations to try, most likely first: the given (or default) sizes, then every block
/// size and every unit size (a multiple of the erase size dividing the image) not given.
fn candidates(a: &Args, region_len: u32, erase: u32) -> Vec<Config> {
    let blocks: Vec<u32> = match a.block_size {
        Some(b) => vec![b],
        None => std::iter::once(512)
            .chain((6..=16).map(|s| 1 << s).filter(|&b| b != 512))
            .collect(),
    };
    let units: Vec<Option<u32>> = match a.unit_size {
        Some(u) => vec![Some(u)],
        None => std::iter::once(None)
            .chain((1..=region_len / erase).map(|k| Some(k * erase)))
            .filter(|u| u.is_none_or(|u| region_len % u == 0))
            .collect(),
    };
    let mut out = Vec::new();
    for &unit_size in &units {
        for &block_size in &blocks {
            let mut cfg = Config::new(0, region_len);
            cfg.unit_size = unit_size;
            cfg.block_size = block_size;
            if let Some(r) = a.reserve {
                cfg.reserve_units = r;
            }
            out.push(cfg);
        }
    }
    out
}

/// The first candidate the library mounts, and how many were tried. The library tells a
/// volume of another geometry (`Incompatible`) and, when its headers are not where the
/// candidate puts them, foreign data (`NotFormatted`); any other answer ends the search.
fn find_config<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    a: &Args,
    region_len: u32,
) -> Result<(Config, usize), String> {
    let mut first: Option<MountFailure> = None;
    let mut incompatible = false;
    let all = candidates(a, region_len, E as u32);
    for (i, cfg) in all.iter().enumerate() {
        let failure = match mount(flash, *cfg) {
            Ok(_) => return Ok((*cfg, i + 1)),
            Err(f) => f,
        };
        match failure {
            MountFailure::Error(Error::Incompatible) => incompatible = true,
            MountFailure::Error(Error::NotFormatted | Error::Config(_)) => {}
            other => return Err(format!("library mount: {other}")),
        }
        first.get_or_insert(failure);
    }
    if incompatible {
        return Err(format!(
            "library mount: {} (none of {} candidate unit/block sizes matches; \
             pass --unit-size and --block-size)",
            Error::<SimError>::Incompatible,
            all.len()
        ));
    }
    Err(match first {
        Some(f) => format!("library mount: {f}"),
        None => "no candidate configuration".into(),
    })
}

fn print_geometry<const R: usize, const W: usize, const E: usize>(ftl: &SimFtl<'_, R, W, E>) {
    let g = ftl.geometry();
    println!(
        "volume: format v{FORMAT_VERSION}, {} units x {} B, block {} B, {} slots/unit, \
         {} blocks exported ({} bytes), reserve {} ({} spare)",
        g.unit_count,
        g.unit_size,
        g.block_size,
        g.slots_per_unit,
        g.block_count,
        g.capacity_bytes(),
        g.reserve_units,
        g.spare_units()
    );
    println!(
        "layout: header {} B, record table at +{} ({} x {} B: claim {} B + commit), seal at +{}, \
         data at +{}; mount reads {} B of each unit",
        g.header_size,
        g.table_offset,
        g.slots_per_unit,
        g.record_size,
        g.claim_size,
        g.seal_addr(0) - g.unit_addr(0),
        g.data_offset,
        g.header_size + g.table_bytes()
    );
}

/// What the mount cost; a mount that programmed or erased anything is a problem.
fn print_mount<const R: usize, const W: usize, const E: usize>(
    ftl: &SimFtl<'_, R, W, E>,
    device: &SimStats,
) -> u32 {
    let c = ftl.stats().counters;
    let region = ftl.geometry().region_len as f64;
    println!(
        "library mount: ok; read {} bytes ({:.1}% of the region) in {} device reads, \
         {} bytes programmed, {} erases",
        c.bytes_read,
        100.0 * c.bytes_read as f64 / region,
        device.read_ops,
        device.bytes_programmed,
        device.erase_ops
    );
    let wrote = device.program_ops + device.erase_ops + c.bytes_programmed + c.erases;
    if wrote > 0 {
        println!("MOUNT WROTE: mount must only read");
        return 1;
    }
    0
}

fn state_name(s: UnitState) -> &'static str {
    match s {
        UnitState::Free { .. } => "free",
        UnitState::Dirty => "dirty",
        UnitState::Open => "open",
        UnitState::Sealed => "sealed",
        UnitState::Retired => "retired",
    }
}

fn print_units<const R: usize, const W: usize, const E: usize>(
    ftl: &SimFtl<'_, R, W, E>,
    slots: bool,
) {
    let per_unit = if slots { live_slots(ftl) } else { Vec::new() };
    println!();
    println!("unit  state     wear  valid  used  garbage  last  newest");
    for (u, info) in ftl.units().enumerate() {
        let versions = match info.stamp() {
            0 => "-".to_string(),
            v => v.to_string(),
        };
        let last = match info.last_valid {
            cowftl::units::NO_SLOT => "-".to_string(),
            s => s.to_string(),
        };
        println!(
            "{u:>4}  {:<8} {:>5} {:>6} {:>5} {:>8} {:>5}  {versions}",
            state_name(info.state),
            info.wear,
            info.valid,
            info.used,
            info.used.saturating_sub(info.valid),
            last
        );
        for (slot, lba, kind) in per_unit.get(u).into_iter().flatten() {
            println!("        slot {slot:>4}: {kind} lba {lba}");
        }
    }
}

/// Per unit, the (slot, lba, kind) the block map points at, in slot order.
fn live_slots<const R: usize, const W: usize, const E: usize>(
    ftl: &SimFtl<'_, R, W, E>,
) -> Vec<Vec<(u32, u32, &'static str)>> {
    let mut out = vec![Vec::new(); ftl.geometry().unit_count as usize];
    for lba in 0..ftl.block_count() {
        let (unit, slot, kind) = match ftl.mapping(lba) {
            Mapping::Unmapped => continue,
            Mapping::Data { unit, slot } => (unit, slot, "data"),
            Mapping::Trimmed { unit, slot } => (unit, slot, "trim"),
            Mapping::Reverted { unit, slot } => (unit, slot, "revert"),
        };
        if let Some(v) = out.get_mut(unit as usize) {
            v.push((slot, lba, kind));
        }
    }
    for v in &mut out {
        v.sort_unstable();
    }
    out
}

fn print_summary<const R: usize, const W: usize, const E: usize>(ftl: &SimFtl<'_, R, W, E>) {
    let s = ftl.stats();
    let g = ftl.geometry();
    let units: Vec<UnitInfo> = ftl.units().collect();
    let live: Vec<&UnitInfo> = units
        .iter()
        .filter(|u| u.state != UnitState::Retired)
        .collect();
    let mean = live.iter().map(|u| u.wear as f64).sum::<f64>() / live.len().max(1) as f64;
    let sum = |f: fn(&UnitInfo) -> u32| units.iter().map(f).sum::<u32>();
    let (valid, used) = (sum(|u| u.valid.into()), sum(|u| u.used.into()));
    println!();
    println!(
        "wear: min {}, mean {mean:.1}, max {} (spread {}); total {} erases",
        s.wear.min,
        s.wear.max,
        s.wear.max - s.wear.min,
        s.wear.total
    );
    println!(
        "units: {} available, {} retired, read-only {}",
        s.free_units, s.retired_units, s.read_only
    );
    println!(
        "slots: {valid} live, {} garbage, {} unused (of {})",
        used - valid,
        g.unit_count * g.slots_per_unit - used,
        g.unit_count * g.slots_per_unit
    );
    let (mapped, trimmed) = map_counts(ftl);
    println!(
        "map: {mapped} blocks mapped, {trimmed} trimmed, {} never written (of {})",
        g.block_count - mapped - trimmed,
        g.block_count
    );
}

/// (data, trimmed) blocks in the map.
fn map_counts<const R: usize, const W: usize, const E: usize>(
    ftl: &SimFtl<'_, R, W, E>,
) -> (u32, u32) {
    let (mut mapped, mut trimmed) = (0, 0);
    for lba in 0..ftl.block_count() {
        match ftl.mapping(lba) {
            Mapping::Data { .. } => mapped += 1,
            Mapping::Trimmed { .. } => trimmed += 1,
            Mapping::Unmapped | Mapping::Reverted { .. } => {}
        }
    }
    (mapped, trimmed)
}

fn print_invariants<const R: usize, const W: usize, const E: usize>(
    ftl: &SimFtl<'_, R, W, E>,
) -> u32 {
    match ftl.check_invariants() {
        Ok(()) => {
            println!("invariants: ok");
            0
        }
        Err(e) => {
            println!("invariants: VIOLATED: {e}");
            1
        }
    }
}

/// An MBR in the first 512 bytes (read through the library), and its FAT partition.
fn print_contents<const R: usize, const W: usize, const E: usize>(ftl: &mut SimFtl<'_, R, W, E>) {
    let bs = ftl.block_size() as usize;
    let mut sector0 = vec![0u8; 512usize.div_ceil(bs) * bs];
    for (lba, chunk) in sector0.chunks_mut(bs).enumerate() {
        if ftl.read(lba as u32, chunk).is_err() {
            return;
        }
    }
    if let Some((start, len)) = mbr_partition(&sector0) {
        println!("contents: MBR with a FAT partition at byte {start}, {len} bytes");
    }
}

/// Read every block back; returns the number of blocks that failed.
fn fsck<const R: usize, const W: usize, const E: usize>(ftl: &mut SimFtl<'_, R, W, E>) -> u32 {
    let mut buf = vec![0u8; ftl.block_size() as usize];
    let (mut corrupt, mut other) = (0u32, 0u32);
    for lba in 0..ftl.block_count() {
        let Err(e) = ftl.read(lba, &mut buf) else {
            continue;
        };
        match e {
            Error::Corrupt => corrupt += 1,
            _ => other += 1,
        }
        if corrupt + other <= LIST_ERRORS {
            let at = match ftl.mapping(lba) {
                Mapping::Data { unit, slot } => format!("unit {unit} slot {slot}"),
                m => format!("{m:?}"),
            };
            let tag = if e == Error::Corrupt {
                "CORRUPT"
            } else {
                "READ ERROR"
            };
            println!("{tag}: lba {lba} ({at}): {e}");
        }
    }
    println!(
        "read-back of all {} blocks: {} errors ({corrupt} corrupt, {other} other)",
        ftl.block_count(),
        corrupt + other
    );
    corrupt + other
}
