//! `cowftl demo`: format a simulated chip, run a mixed workload, cut power in the middle of a
//! write, remount, verify every acknowledged block, print a summary.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl::{Error, Ftl};
use cowftl_sim::{SimError, SimFlash, SplitMix64};
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{self, fmt_bytes, fmt_ns, Model, Preset, SimFtl, MAX_BLOCKS, MAX_UNITS};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Simulated part.
    #[arg(long, value_enum, default_value_t = Preset::Stm32l476)]
    pub preset: Preset,
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
    if args.size % args.preset.erase_size() != 0 {
        return Err(format!(
            "--size must be a multiple of the {} erase size ({} bytes)",
            args.preset.name(),
            args.preset.erase_size()
        ));
    }
    crate::with_flash!(args.preset, args.size, args.seed, |flash| demo(
        &mut flash, &args
    ))
}

fn demo<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    args: &Args,
) -> Result<(), String> {
    let t0 = Instant::now();
    let cfg = common::config(args.size, args.unit_size, None);
    println!(
        "cowftl demo: {} simulated chip, {} (seed {:#x})",
        args.preset.name(),
        fmt_bytes(args.size as u64),
        args.seed
    );
    let arm = Rc::new(Cell::new(None));
    let armed = Armed {
        flash: &mut *flash,
        arm: arm.clone(),
    };
    let mut ftl: Ftl<_, MAX_UNITS, MAX_BLOCKS> =
        Ftl::format(armed, cfg).map_err(|e| format!("format: {e:?}"))?;
    let geo = *ftl.geometry();
    let n = ftl.block_count();
    let bs = geo.block_size as usize;
    println!(
        "  formatted: {} units of {} ({} slots of {} B each), {} reserve units",
        geo.unit_count,
        fmt_bytes(geo.unit_size.into()),
        geo.slots_per_unit,
        bs,
        geo.reserve_units
    );
    println!(
        "  exported capacity: {} blocks x {} B = {} ({:.1}% of the raw chip)",
        n,
        bs,
        fmt_bytes(geo.capacity_bytes()),
        100.0 * geo.capacity_bytes() as f64 / args.size as f64
    );

    let mut model = Model::new(n);
    let mut rng = SplitMix64::new(args.seed);
    let mut buf = vec![0u8; bs];
    let mut expect = vec![0u8; bs];
    let mut logical_bytes = 0u64;
    let (mut writes, mut reads, mut trims) = (0u64, 0u64, 0u64);
    // Working set: 85% of the exported blocks, 20% of them hot (get 80% of the writes).
    let live = (n as u64 * 85 / 100).max(1);
    let hot = (live / 5).max(1);

    let pb = ProgressBar::new(args.ops);
    pb.set_style(
        ProgressStyle::with_template(
            "  {bar:40.cyan/blue} {pos}/{len} ops {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Cut power at a random point of the last 2% of the workload, inside a write.
    let cut_at = args.ops - 1 - rng.below((args.ops / 50).max(1));
    let mut in_flight: Option<(u32, u64)> = None;
    for i in 0..args.ops {
        let roll = rng.below(100);
        let lba = if i < live || rng.below(100) < 20 {
            // Initial fill is sequential, then 20% of the writes are uniform.
            if i < live {
                i as u32
            } else {
                rng.below(live) as u32
            }
        } else {
            rng.below(hot) as u32
        };
        if i >= live && roll < 20 {
            ftl.read(lba, &mut buf)
                .map_err(|e| format!("read {lba}: {e:?}"))?;
            common::pattern(lba, model.versions[lba as usize], &mut expect);
            if buf != expect {
                return Err(format!("lba {lba} read back wrong data before the cut"));
            }
            reads += 1;
        } else if i >= live && roll < 25 {
            ftl.trim(lba).map_err(|e| format!("trim {lba}: {e:?}"))?;
            model.versions[lba as usize] = 0;
            trims += 1;
        } else {
            let v = model.next_version();
            common::pattern(lba, v, &mut buf);
            if i >= cut_at {
                // Power fails during one of the flash operations of this write.
                arm.set(Some(rng.below(2)));
                match ftl.write(lba, &buf) {
                    Err(Error::Flash(SimError::PowerLost)) => {
                        in_flight = Some((lba, v));
                        pb.set_message("power cut!");
                        break;
                    }
                    Ok(()) => {
                        // The cut landed after the write's last operation: it was acknowledged.
                        model.versions[lba as usize] = v;
                        logical_bytes += bs as u64;
                        writes += 1;
                        in_flight = Some((lba, v));
                        pb.set_message("power cut!");
                        break;
                    }
                    Err(e) => return Err(format!("write {lba}: {e:?}")),
                }
            }
            ftl.write(lba, &buf)
                .map_err(|e| format!("write {lba}: {e:?}"))?;
            model.versions[lba as usize] = v;
            logical_bytes += bs as u64;
            writes += 1;
        }
        if i % 256 == 0 {
            pb.set_position(i);
        }
    }
    pb.finish_and_clear();
    let before = ftl.stats();
    drop(ftl);
    let cut_happened = flash.was_cut();
    println!(
        "  workload: {writes} writes, {reads} reads, {trims} trims; power cut {} ",
        if cut_happened {
            "during a write"
        } else {
            "after the last write (not in flight)"
        }
    );
    let stats = flash.stats().clone();

    // Remount and verify.
    flash.cancel_cut();
    flash.power_restore();
    let read_before = flash.stats().bytes_read;
    let time_before = flash.stats().device_time_ns;
    let tm = Instant::now();
    let mut ftl = SimFtl::mount(&mut *flash, cfg).map_err(|e| format!("remount: {e:?}"))?;
    let mount_cpu = tm.elapsed();
    let mount_read = ftl.flash().stats().bytes_read - read_before;
    let mount_time = ftl.flash().stats().device_time_ns - time_before;
    let mut verified = 0u32;
    for lba in 0..n {
        ftl.read(lba, &mut buf)
            .map_err(|e| format!("read {lba} after remount: {e:?}"))?;
        common::pattern(lba, model.versions[lba as usize], &mut expect);
        if buf == expect {
            verified += 1;
            continue;
        }
        if let Some((l, v)) = in_flight {
            common::pattern(lba, v, &mut expect);
            if l == lba && buf == expect {
                verified += 1;
                continue;
            }
        }
        return Err(format!(
            "lba {lba}: acknowledged data lost after the power cut"
        ));
    }
    if let Some((l, v)) = in_flight {
        common::pattern(l, v, &mut expect);
        ftl.read(l, &mut buf).map_err(|e| format!("{e:?}"))?;
        let state = if buf == expect {
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

    let wear: Vec<u32> = ftl.unit_wear().collect();
    let (wmin, wmean, wmax) = common::min_mean_max(wear.iter().copied());
    println!("summary (workload before the cut):");
    println!("  logical bytes written:  {}", fmt_bytes(logical_bytes));
    println!(
        "  flash bytes programmed: {} (data, records, headers, GC copies)",
        fmt_bytes(stats.bytes_programmed)
    );
    println!(
        "  write amplification:    {:.3}",
        stats.bytes_programmed as f64 / logical_bytes.max(1) as f64
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
    common::print_histogram(&wear, 8);
    println!(
        "  modelled device time:   {} ({} per write)",
        fmt_ns(stats.device_time_ns as f64),
        fmt_ns(stats.device_time_ns as f64 / writes.max(1) as f64)
    );
    println!(
        "  host wall time:         {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
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
