//! `cowftl demo`: format a simulated chip, run a mixed workload, cut power in the middle of a
//! write, remount, verify every acknowledged block, print a summary. Then the scenes: a
//! transaction cut half-way, a snapshot taken before a "firmware update" and rolled back to
//! (with power cut in the middle of the rollback), a volume over a write-protected image.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl::{Config, Error, Ftl, SnapshotId, Stats as FtlStats};
use cowftl_sim::{SimError, SimFlash, SimStats, SplitMix64};
use cowftl_testkit::{fill_pattern, pattern, Model, Part};
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{self, SimFtl, SnapFtl, MAX_BLOCKS, MAX_UNITS};
use crate::fmt::{self, fmt_bytes, fmt_ns};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Simulated part.
    #[arg(long, value_parser = common::part_arg(&common::SIM_PARTS), default_value = "stm32l476")]
    pub preset: Part,
    /// Simulated chip size (the FTL region covers all of it), e.g. 256K, 1M.
    #[arg(long, default_value = "1M", value_parser = common::parse_size)]
    pub size: usize,
    /// Operations in the mixed workload (writes, reads, trims).
    #[arg(long, default_value_t = 20_000)]
    pub ops: u64,
    /// Seed for the workload and the simulator.
    #[arg(long, default_value_t = 0xC0FFEE)]
    pub seed: u64,
    /// FTL unit size in bytes (default: chosen by the FTL).
    #[arg(long)]
    pub unit_size: Option<u32>,
}

pub fn run(args: Args) -> Result<(), String> {
    if args.ops == 0 {
        return Err("--ops must be at least 1".into());
    }
    common::check_size(args.preset, args.size)?;
    crate::with_flash!(args.preset, args.size, args.seed, |flash| demo(
        &mut flash, &args
    ))
}

/// The FTL of the workload phase: on the flash through [`Armed`], so the cut can be armed.
type ArmedFtl<'a, const R: usize, const W: usize, const E: usize> =
    Ftl<Armed<'a, R, W, E>, MAX_UNITS, MAX_BLOCKS>;

/// What the workload did before the cut.
#[derive(Default)]
struct Counts {
    writes: u64,
    reads: u64,
    trims: u64,
    logical_bytes: u64,
    /// The write during which power was cut: (lba, generation).
    in_flight: Option<(u32, u64)>,
}

fn demo<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    args: &Args,
) -> Result<(), String> {
    let t0 = Instant::now();
    let cfg = common::config(args.size, args.unit_size, None);
    println!(
        "cowftl demo: {} simulated chip, {} (seed {:#x})",
        args.preset.label(),
        fmt_bytes(args.size as u64),
        args.seed
    );
    let arm = Rc::new(Cell::new(None));
    let armed = Armed {
        flash: &mut *flash,
        arm: arm.clone(),
    };
    let mut ftl: ArmedFtl<'_, R, W, E> =
        Ftl::format(armed, cfg).map_err(|e| format!("format: {e:?}"))?;
    print_formatted(&ftl, args.size);
    let mut model = Model::new(ftl.block_count());
    let counts = workload(&mut ftl, &mut model, &arm, args)?;
    let before = ftl.stats();
    drop(ftl);
    println!(
        "  workload: {} writes, {} reads, {} trims; power cut {} ",
        counts.writes,
        counts.reads,
        counts.trims,
        if flash.was_cut() {
            "during a write"
        } else {
            "after the last write (not in flight)"
        }
    );
    let stats = flash.stats().clone();
    let wear = remount_and_verify(flash, cfg, &model, counts.in_flight)?;
    print_summary(&counts, &before, &stats, &wear);
    transaction_demo(flash, cfg)?;
    snapshot_demo(flash, cfg)?;
    overlay_demo::<R, W, E>(flash.spec().clone(), args.seed)?;
    println!(
        "  host wall time:         {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_formatted<const R: usize, const W: usize, const E: usize>(
    ftl: &ArmedFtl<'_, R, W, E>,
    chip_bytes: usize,
) {
    let geo = *ftl.geometry();
    println!(
        "  formatted: {} units of {} ({} slots of {} B each), {} reserve units",
        geo.unit_count,
        fmt_bytes(geo.unit_size.into()),
        geo.slots_per_unit,
        geo.block_size,
        geo.reserve_units
    );
    println!(
        "  exported capacity: {} blocks x {} B = {} ({:.1}% of the raw chip)",
        ftl.block_count(),
        geo.block_size,
        fmt_bytes(geo.capacity_bytes()),
        100.0 * geo.capacity_bytes() as f64 / chip_bytes as f64
    );
}

/// Which block operation `i` touches. Working set: 85% of the exported blocks, filled
/// sequentially first; then 20% of the operations hit it uniformly, the rest its hot fifth.
struct Picker {
    live: u64,
    hot: u64,
}

impl Picker {
    fn new(blocks: u32) -> Self {
        let live = (blocks as u64 * 85 / 100).max(1);
        Picker {
            live,
            hot: (live / 5).max(1),
        }
    }

    fn filling(&self, i: u64) -> bool {
        i < self.live
    }

    fn pick(&self, i: u64, rng: &mut SplitMix64) -> u32 {
        if self.filling(i) {
            i as u32
        } else if rng.below(100) < 20 {
            rng.below(self.live) as u32
        } else {
            rng.below(self.hot) as u32
        }
    }
}

/// The mixed workload (reads checked against the model), with power cut during one of the
/// writes of its last 2%; stops there.
fn workload<const R: usize, const W: usize, const E: usize>(
    ftl: &mut ArmedFtl<'_, R, W, E>,
    model: &mut Model,
    arm: &Cell<Option<u64>>,
    args: &Args,
) -> Result<Counts, String> {
    let mut rng = SplitMix64::new(args.seed);
    let bs = ftl.geometry().block_size as usize;
    let (mut buf, mut expect) = (vec![0u8; bs], vec![0u8; bs]);
    let picker = Picker::new(ftl.block_count());
    let pb = progress_bar(args.ops);
    let cut_at = args.ops - 1 - rng.below((args.ops / 50).max(1));
    let mut c = Counts::default();
    for i in 0..args.ops {
        let roll = rng.below(100);
        let lba = picker.pick(i, &mut rng);
        if !picker.filling(i) && roll < 20 {
            ftl.read(lba, &mut buf)
                .map_err(|e| format!("read {lba}: {e:?}"))?;
            model.expect(lba, &mut expect);
            if buf != expect {
                return Err(format!("lba {lba} read back wrong data before the cut"));
            }
            c.reads += 1;
        } else if !picker.filling(i) && roll < 25 {
            ftl.trim(lba).map_err(|e| format!("trim {lba}: {e:?}"))?;
            model.trim(lba);
            c.trims += 1;
        } else {
            let g = model.next_gen();
            fill_pattern(lba, g, &mut buf);
            if i >= cut_at {
                // Power fails during one of the flash operations of this write.
                arm.set(Some(rng.below(2)));
                cut_write(ftl, model, &mut c, lba, g, &buf)?;
                pb.set_message("power cut!");
                break;
            }
            ftl.write(lba, &buf)
                .map_err(|e| format!("write {lba}: {e:?}"))?;
            model.write(lba, g);
            c.logical_bytes += bs as u64;
            c.writes += 1;
        }
        if i % 256 == 0 {
            pb.set_position(i);
        }
    }
    pb.finish_and_clear();
    Ok(c)
}

fn progress_bar(ops: u64) -> ProgressBar {
    let pb = ProgressBar::new(ops);
    pb.set_style(
        ProgressStyle::with_template(
            "  {bar:40.cyan/blue} {pos}/{len} ops {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// The write with the cut armed: lost power (the write is in flight), or acknowledged if the
/// cut landed after its last flash operation.
/// A 4-block transaction cut half-way through its flash operations: after the remount the
/// four blocks are all old or all new; then the same transaction uncut: all new.
fn transaction_demo<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
) -> Result<(), String> {
    let bs = SimFtl::mount(&mut *flash, cfg)
        .map_err(|e| format!("mount: {e:?}"))?
        .block_size();
    let new: Vec<Vec<u8>> = (0..4).map(|l| pattern(l, 1 << 40, bs as usize)).collect();
    let mut dry = flash.clone();
    let start = dry.ops();
    commit4(&mut dry, cfg, &new).map_err(|e| format!("transaction: {e:?}"))?;
    let ops = dry.ops() - start;
    for pass in ["cut half-way", "uncut"] {
        let mut ftl = SimFtl::mount(&mut *flash, cfg).map_err(|e| format!("mount: {e:?}"))?;
        let old: Vec<Vec<u8>> = (0..4)
            .map(|l| read(&mut ftl, l))
            .collect::<Result<_, _>>()?;
        drop(ftl);
        if pass == "cut half-way" {
            flash.cut_after_ops(ops / 2);
        }
        let r = commit4(flash, cfg, &new);
        flash.cancel_cut();
        flash.power_restore();
        let mut ftl = SimFtl::mount(&mut *flash, cfg).map_err(|e| format!("mount: {e:?}"))?;
        let got: Vec<Vec<u8>> = (0..4)
            .map(|l| read(&mut ftl, l))
            .collect::<Result<_, _>>()?;
        let state = match (got == new, got == old) {
            (true, _) => "all 4 new",
            (_, true) => "all 4 old",
            _ => return Err("transaction torn: some blocks old, some new".into()),
        };
        println!(
            "  transaction of blocks 0..4 ({ops} flash ops), {pass} ({}): remounted, {state}",
            if r.is_ok() { "Ok" } else { "power lost" }
        );
    }
    Ok(())
}

/// Blocks 0..8 stand for the configuration a firmware update rewrites.
const CONFIG_BLOCKS: u32 = 8;
/// The generation of the updated configuration's blocks.
const UPDATE_GEN: u64 = 1 << 42;

/// A snapshot taken before a "firmware update" rewrites the configuration blocks: the
/// snapshot still reads the old configuration, the volume the new one; a rollback cut
/// half-way leaves all of it old or all of it new; the rollback completed brings the old
/// configuration back. Bytes programmed by each step.
fn snapshot_demo<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
) -> Result<(), String> {
    let mut ftl = SnapFtl::mount(&mut *flash, cfg).map_err(|e| format!("mount: {e:?}"))?;
    let bs = ftl.block_size() as usize;
    let old = config_blocks(&mut ftl)?;
    let (id, snap_cost) = programmed(&mut ftl, |f| f.snapshot())?;
    let new: Vec<Vec<u8>> = (0..CONFIG_BLOCKS)
        .map(|l| pattern(l, UPDATE_GEN, bs))
        .collect();
    let ((), update_cost) = programmed(&mut ftl, |f| {
        (0..CONFIG_BLOCKS).try_for_each(|l| f.write(l, &new[l as usize]))
    })?;
    let mut buf = vec![0u8; bs];
    ftl.read_snapshot(id, 0, &mut buf)
        .map_err(|e| format!("read_snapshot: {e:?}"))?;
    let snap_old = buf == old[0];
    let now_new = config_blocks(&mut ftl)? == new;
    println!(
        "  snapshot before a firmware update ({snap_cost} B programmed, nothing copied); the update rewrote blocks 0..{CONFIG_BLOCKS} ({update_cost} B): the snapshot reads the {} configuration, the volume the {}",
        if snap_old { "old" } else { "WRONG" },
        if now_new { "new" } else { "WRONG" }
    );
    if !snap_old || !now_new {
        return Err("snapshot or current view read the wrong configuration".into());
    }
    drop(ftl);
    rollback_cut(flash, cfg, id, &old, &new)?;
    rollback_done(flash, cfg, id, &old)
}

/// The configuration blocks as the volume reads them now.
fn config_blocks<const R: usize, const W: usize, const E: usize>(
    ftl: &mut SnapFtl<'_, R, W, E>,
) -> Result<Vec<Vec<u8>>, String> {
    let mut buf = vec![0u8; ftl.block_size() as usize];
    (0..CONFIG_BLOCKS)
        .map(|l| {
            ftl.read(l, &mut buf)
                .map_err(|e| format!("read {l}: {e:?}"))?;
            Ok(buf.clone())
        })
        .collect()
}

/// Run `f` on `ftl`: its result and the flash bytes it programmed.
fn programmed<'f, const R: usize, const W: usize, const E: usize, T>(
    ftl: &mut SnapFtl<'f, R, W, E>,
    f: impl FnOnce(&mut SnapFtl<'f, R, W, E>) -> Result<T, Error<SimError>>,
) -> Result<(T, u64), String> {
    let before = ftl.stats().counters.bytes_programmed;
    let r = f(ftl).map_err(|e| format!("{e:?}"))?;
    Ok((r, ftl.stats().counters.bytes_programmed - before))
}

/// Power cut half-way through the rollback's flash operations (counted on a copy of the
/// chip first), then a remount: the configuration is all old (the rollback landed) or all
/// new (it did not), and the snapshot is still there.
fn rollback_cut<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    id: SnapshotId,
    old: &[Vec<u8>],
    new: &[Vec<u8>],
) -> Result<(), String> {
    let mut dry = flash.clone();
    let start = dry.ops();
    SnapFtl::mount(&mut dry, cfg)
        .and_then(|mut f| f.rollback(id))
        .map_err(|e| format!("rollback: {e:?}"))?;
    let ops = dry.ops() - start;
    flash.cut_after_ops(ops / 2);
    let r = SnapFtl::mount(&mut *flash, cfg).and_then(|mut f| f.rollback(id));
    flash.cancel_cut();
    flash.power_restore();
    let mut ftl = SnapFtl::mount(&mut *flash, cfg).map_err(|e| format!("remount: {e:?}"))?;
    let got = config_blocks(&mut ftl)?;
    let state = match (got == old, got == new) {
        (true, _) => "all old (the rollback landed)",
        (_, true) => "all new (the rollback did not land)",
        _ => return Err("rollback torn: some configuration blocks old, some new".into()),
    };
    let held = ftl.snapshots().any(|s| s == id);
    println!(
        "  rollback ({ops} flash ops) cut half-way ({}): remounted, the configuration is {state}; the snapshot is {}",
        if r.is_ok() { "Ok" } else { "power lost" },
        if held { "still there" } else { "GONE" }
    );
    if !held {
        return Err("the snapshot was lost by a cut rollback".into());
    }
    Ok(())
}

/// The rollback again, uncut: the old configuration is back; then the snapshot is deleted.
fn rollback_done<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    id: SnapshotId,
    old: &[Vec<u8>],
) -> Result<(), String> {
    let mut ftl = SnapFtl::mount(&mut *flash, cfg).map_err(|e| format!("mount: {e:?}"))?;
    let moved = ftl.stats().counters.relocations;
    let ((), cost) = programmed(&mut ftl, |f| f.rollback(id))?;
    let moved = ftl.stats().counters.relocations - moved;
    let gc = match moved {
        0 => String::new(),
        n => format!(", plus {n} GC copies making room for it"),
    };
    drop(ftl);
    let mut ftl = SnapFtl::mount(&mut *flash, cfg).map_err(|e| format!("remount: {e:?}"))?;
    let back = config_blocks(&mut ftl)? == old;
    let ((), del) = programmed(&mut ftl, |f| f.delete_snapshot(id))?;
    println!(
        "  rollback completed ({cost} B programmed: one table record whatever changed{gc}): remounted, blocks 0..{CONFIG_BLOCKS} read the {} configuration; snapshot deleted ({del} B)",
        if back { "old" } else { "WRONG" }
    );
    if !back {
        return Err("the rollback did not bring the old configuration back".into());
    }
    Ok(())
}

/// A volume over a read-only factory image (a second simulated chip, write-protected):
/// unwritten blocks read the image, writes go to the volume, a factory reset is one record.
fn overlay_demo<const R: usize, const W: usize, const E: usize>(
    spec: cowftl_sim::PartSpec,
    seed: u64,
) -> Result<(), String> {
    let mut base = SimFlash::<R, W, E>::new(spec.clone(), seed);
    let bs = 512usize;
    for lba in 0..16u32 {
        let d = pattern(lba, 1 << 41, bs);
        embedded_storage::nor_flash::NorFlash::write(&mut base, lba * bs as u32, &d)
            .map_err(|e| format!("base image: {e:?}"))?;
    }
    base.set_read_only(0..spec.capacity as u32);
    let mut chip = SimFlash::<R, W, E>::new(spec.clone(), seed ^ 1);
    let cfg = Config::new(0, spec.capacity as u32);
    let ftl = SimFtl::format(&mut chip, cfg).map_err(|e| format!("format: {e:?}"))?;
    let mut vol =
        cowftl::overlay::Overlay::new(ftl, &mut base, 0).map_err(|e| format!("overlay: {e:?}"))?;
    let mine = pattern(3, 5, bs);
    vol.write(3, &mine).map_err(|e| format!("write: {e:?}"))?;
    let before = vol.ftl().stats().counters.bytes_programmed;
    vol.factory_reset().map_err(|e| format!("reset: {e:?}"))?;
    let cost = vol.ftl().stats().counters.bytes_programmed - before;
    let mut buf = vec![0u8; bs];
    vol.read(3, &mut buf).map_err(|e| format!("read: {e:?}"))?;
    let back = buf == pattern(3, 1 << 41, bs);
    println!(
        "  overlay over a write-protected factory image: block 3 written, then factory reset ({cost} B programmed, no erase): block 3 reads the {} again",
        if back { "factory image" } else { "WRONG data" }
    );
    if !back {
        return Err("factory reset did not bring the base back".into());
    }
    Ok(())
}

/// Commit `new` to blocks 0..4 as one transaction on a fresh mount.
fn commit4<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    new: &[Vec<u8>],
) -> Result<(), Error<SimError>> {
    let mut ftl = SimFtl::mount(flash, cfg)?;
    let mut tx = ftl.transaction();
    for (l, d) in new.iter().enumerate() {
        tx.write(l as u32, d)?;
    }
    tx.commit()
}

fn cut_write<const R: usize, const W: usize, const E: usize>(
    ftl: &mut ArmedFtl<'_, R, W, E>,
    model: &mut Model,
    c: &mut Counts,
    lba: u32,
    gen: u64,
    data: &[u8],
) -> Result<(), String> {
    match ftl.write(lba, data) {
        Err(Error::Flash(SimError::PowerLost)) => {}
        Ok(()) => {
            model.write(lba, gen);
            c.logical_bytes += data.len() as u64;
            c.writes += 1;
        }
        Err(e) => return Err(format!("write {lba}: {e:?}")),
    }
    c.in_flight = Some((lba, gen));
    Ok(())
}

/// Restore power, remount, check every block against the model (the block of the write in
/// flight may hold its old or new contents) and print what the mount cost. Returns the wear of
/// every unit.
fn remount_and_verify<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    model: &Model,
    in_flight: Option<(u32, u64)>,
) -> Result<Vec<u32>, String> {
    flash.cancel_cut();
    flash.power_restore();
    let read_before = flash.stats().bytes_read;
    let time_before = flash.stats().device_time_ns;
    let tm = Instant::now();
    let mut ftl = SimFtl::mount(&mut *flash, cfg).map_err(|e| format!("remount: {e:?}"))?;
    let mount_cpu = tm.elapsed();
    let mount_read = ftl.flash().stats().bytes_read - read_before;
    let mount_time = ftl.flash().stats().device_time_ns - time_before;
    let n = ftl.block_count();
    let verified = verify(&mut ftl, model, in_flight)?;
    if let Some((l, g)) = in_flight {
        let state = if read(&mut ftl, l)? == pattern(l, g, ftl.geometry().block_size as usize) {
            "new data (completed)"
        } else {
            "old data (rolled back)"
        };
        println!("  remounted: the write in flight to block {l} reads back {state}");
    }
    println!("  verified: {verified}/{n} blocks hold exactly their last acknowledged contents");
    println!(
        "  mount after the cut: {} read, {} modelled, {:.2} ms host CPU",
        fmt_bytes(mount_read),
        fmt_ns(mount_time as f64),
        mount_cpu.as_secs_f64() * 1e3
    );
    Ok(ftl.unit_wear().collect())
}

fn read<const R: usize, const W: usize, const E: usize>(
    ftl: &mut SimFtl<'_, R, W, E>,
    lba: u32,
) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; ftl.geometry().block_size as usize];
    ftl.read(lba, &mut buf)
        .map_err(|e| format!("read {lba} after remount: {e:?}"))?;
    Ok(buf)
}

/// Every block holds its acknowledged contents, or (the write in flight) its new ones.
fn verify<const R: usize, const W: usize, const E: usize>(
    ftl: &mut SimFtl<'_, R, W, E>,
    model: &Model,
    in_flight: Option<(u32, u64)>,
) -> Result<u32, String> {
    let bs = ftl.geometry().block_size as usize;
    for lba in 0..ftl.block_count() {
        let got = read(ftl, lba)?;
        let landed = in_flight.is_some_and(|(l, g)| l == lba && got == pattern(l, g, bs));
        if got != model.expected(lba, bs) && !landed {
            return Err(format!(
                "lba {lba}: acknowledged data lost after the power cut"
            ));
        }
    }
    Ok(ftl.block_count())
}

fn print_summary(counts: &Counts, before: &FtlStats, stats: &SimStats, wear: &[u32]) {
    let (wmin, wmean, wmax) = fmt::min_mean_max(wear.iter().copied());
    println!("summary (workload before the cut):");
    println!(
        "  logical bytes written:  {}",
        fmt_bytes(counts.logical_bytes)
    );
    println!(
        "  flash bytes programmed: {} (data, records, headers, GC copies)",
        fmt_bytes(stats.bytes_programmed)
    );
    println!(
        "  write amplification:    {:.3}",
        stats.bytes_programmed as f64 / counts.logical_bytes.max(1) as f64
    );
    println!(
        "  erases:                 {} unit erases ({} GC victims, {} relocations, {} wear-levelling moves)",
        before.counters.erases,
        before.counters.gc_victims,
        before.counters.relocations,
        before.counters.wl_moves
    );
    println!(
        "  wear (erases per unit): min {wmin}, mean {wmean:.1}, max {wmax}, max/mean {:.2}",
        if wmean > 0.0 {
            wmax as f64 / wmean
        } else {
            1.0
        }
    );
    fmt::print_histogram(wear, 8);
    println!(
        "  modelled device time:   {} ({} per write)",
        fmt_ns(stats.device_time_ns as f64),
        fmt_ns(stats.device_time_ns as f64 / counts.writes.max(1) as f64)
    );
}

/// A `SimFlash` borrow whose power cut can be armed while the FTL owns it: the next mutating
/// operation after `arm.set(Some(k))` arms `cut_after_ops(k)` on the simulator.
struct Armed<'a, const R: usize, const W: usize, const E: usize> {
    flash: &'a mut SimFlash<R, W, E>,
    arm: Rc<Cell<Option<u64>>>,
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for Armed<'_, R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for Armed<'_, R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        ReadNorFlash::read(self.flash, offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for Armed<'_, R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if let Some(k) = self.arm.take() {
            self.flash.cut_after_ops(k);
        }
        NorFlash::erase(self.flash, from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if let Some(k) = self.arm.take() {
            self.flash.cut_after_ops(k);
        }
        NorFlash::write(self.flash, offset, bytes)
    }
}
