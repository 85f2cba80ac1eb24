//! Brown-out boot loop: docs/DESIGN.md contract 9, "Liveness". From every state reachable by
//! operations and power cuts, including an unbounded run of cuts during mount and recovery,
//! the volume must accept writes up to its advertised capacity; recovery may not consume
//! space without bound, and GC always has what it needs to make progress.
//!
//! For every erasable part the torture engine knows (STM32L476, W25Q128, STM32H743-like,
//! STM32F411-like, tiny), for the smallest geometry the FTL accepts (found by asking
//! `Ftl::geometry_for`, default block size and reserve, on the STM32L476), and for
//! single-stream mode (three units): format, fill >= 90 % of `block_count()`, then 10,000
//! power cuts (at least 1,000) that land in mount, recovery and the first write after it. Each
//! iteration arms a cut a seeded-random (small) number of flash ops ahead, mounts (a mount
//! cut by power loss is fine: power comes back and the loop goes on), then writes one random
//! block with new contents. Checked:
//! - a call whose flash op lost power never returns `Ok`; a mount or write without a cut
//!   never fails (`NoSpace` here is the liveness bug);
//! - the block of a cut write reads old or new at the next successful mount, and stays
//!   that way (no rollback); every ~100 iterations and at the end a clean mount reads every
//!   block against the model;
//! - a mount right after a successful (recovery) mount programs and erases nothing;
//! - at the end, one clean mount accepts a write to every one of the `block_count()` blocks
//!   (no error, `NoSpace` is a failure), and a remount reads all of it back.
//!
//! The simulator panics on any flash-rule violation (contract 1): that fails the test too.
//! Deterministic (fixed seeds, `SplitMix64`). Run: `cargo test -p cowftl-testkit --test
//! bootloop -- --nocapture` (prints one summary line per case); a longer run:
//! `BOOTLOOP_CUTS=200000 cargo test --release -p cowftl-testkit --test bootloop -- --nocapture`.
//! The engine behind `cowftl torture` has the same kind of run on random setups:
//! `cowftl torture --boot-loop` (CI: `boot_loop_every_part` in `torture.rs`).

mod support;

use std::fmt::Write as _;
use std::time::Instant;

use cowftl::{Config, Ftl, Geometry};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::torture::{MAX_BLOCKS, MAX_UNITS};
use cowftl_testkit::{fill_pattern, Part};
use support::Shared;

/// Power cuts that must fire per case (at least 1,000; `BOOTLOOP_CUTS` raises it).
const CUTS: u64 = 10_000;
/// A full check (clean mount, every block read) every this many iterations (deferred to the
/// end of a burst of cuts, so that runs of hundreds of cut mounts happen too).
const CHECK_EVERY: u64 = 100;

fn cuts() -> u64 {
    std::env::var("BOOTLOOP_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CUTS)
        .max(1000)
}

type Vol<const W: usize, const E: usize> = Ftl<Shared<1, W, E>, MAX_UNITS, MAX_BLOCKS>;

/// Counters of one case.
#[derive(Debug, Default)]
struct Tally {
    iterations: u64,
    /// Cuts that fired: in a mount, or in the write after it.
    cuts: u64,
    mount_cuts: u64,
    write_cuts: u64,
    /// Armed cuts that did not fire (mount and write needed fewer ops).
    missed: u64,
    /// Successful mounts (with a cut armed, or clean).
    mounts: u64,
    acked: u64,
    /// Cut writes that recovered as the new contents.
    landed: u64,
    full_checks: u64,
    /// Longest run of consecutive cuts without a successful mount in between.
    longest_mount_run: u64,
    /// Flash ops done by mounts of a clean volume (a mount right after a completed one);
    /// must stay 0, checked at the end so it does not hide a liveness failure.
    clean_mount_ops: u64,
}

struct BootLoop<const W: usize, const E: usize> {
    name: &'static str,
    seed: u64,
    cfg: Config,
    flash: Shared<1, W, E>,
    rng: SplitMix64,
    /// Acknowledged generation per block (0 = never written: zeros).
    model: Vec<u64>,
    /// The cut write not yet resolved by a successful mount: (lba, new generation).
    pending: Option<(u32, u64)>,
    next_gen: u64,
    blocks: u32,
    bs: usize,
    geo: Option<Geometry>,
    t: Tally,
    /// Consecutive cut mounts so far.
    mount_run: u64,
    /// Iterations left in a burst of cuts armed 0..3 ops ahead.
    burst: u64,
    /// The first clean mount that programmed or erased something.
    first_clean_mount_write: Option<String>,
    log: String,
}

impl<const W: usize, const E: usize> BootLoop<W, E> {
    fn new(name: &'static str, spec: PartSpec, cfg: Config, seed: u64) -> Self {
        BootLoop {
            name,
            seed,
            cfg,
            flash: Shared::new(SimFlash::new(spec, seed)),
            rng: SplitMix64::new(seed ^ 0xB007_100B),
            model: Vec::new(),
            pending: None,
            next_gen: 1,
            blocks: 0,
            bs: 0,
            geo: None,
            t: Tally::default(),
            mount_run: 0,
            burst: 0,
            first_clean_mount_write: None,
            log: String::new(),
        }
    }

    fn event(&mut self, s: std::fmt::Arguments<'_>) {
        if self.log.len() > 3000 {
            let cut = self.log.len() - 1500;
            let at = self.log[cut..].find('\n').map_or(cut, |i| cut + i + 1);
            self.log.drain(..at);
        }
        let _ = writeln!(self.log, "    {s}");
    }

    #[track_caller]
    fn fail(&self, msg: String) -> ! {
        panic!(
            "boot loop {} (seed {:#x}), iteration {}, {} cuts fired: {msg}\n  {:?}\n  last events:\n{}",
            self.name, self.seed, self.t.iterations, self.t.cuts, self.t, self.log
        )
    }

    fn was_cut(&self) -> bool {
        self.flash.with(|f| f.was_cut())
    }

    fn ops(&self) -> u64 {
        self.flash.with(|f| f.ops())
    }

    fn data(&self, lba: u32, gen: u64) -> Vec<u8> {
        let mut b = vec![0u8; self.bs];
        fill_pattern(lba, gen, &mut b);
        b
    }

    /// What a wrong block holds, for messages.
    fn describe(&self, lba: u32, got: &[u8]) -> String {
        if got.iter().all(|&b| b == 0) {
            return "zeros".into();
        }
        if self.bs >= 16 {
            let l = u32::from_le_bytes(got[..4].try_into().unwrap());
            let g = u64::from_le_bytes(got[4..12].try_into().unwrap());
            if l < self.blocks && got == self.data(l, g).as_slice() {
                let misplaced = if l != lba { " (misplaced)" } else { "" };
                return format!("lba {l} generation {g}{misplaced}");
            }
        }
        "garbage (matches no written pattern)".into()
    }

    /// Mount with no cut armed; any failure is a test failure.
    fn clean_mount(&mut self, what: &str) -> Vol<W, E> {
        self.flash.with(|f| {
            f.cancel_cut();
            f.power_restore();
        });
        match Vol::<W, E>::mount(self.flash.clone(), self.cfg) {
            Ok(v) => {
                self.t.mounts += 1;
                if v.block_count() != self.blocks {
                    self.fail(format!(
                        "{what}: block count changed: {} -> {}",
                        self.blocks,
                        v.block_count()
                    ));
                }
                v
            }
            Err(e) => self.fail(format!("{what}: clean mount failed: {e:?}")),
        }
    }

    /// Read `lba` after a mount and settle the pending write if it is that block: the
    /// contents must be the model's, or the pending write's new contents (then pinned).
    fn check_block(&mut self, ftl: &mut Vol<W, E>, lba: u32, what: &str) {
        let mut got = vec![0u8; self.bs];
        if let Err(e) = ftl.read(lba, &mut got) {
            self.fail(format!(
                "{what}: read of lba {lba} failed: {e:?} (expected generation {}, pending {:?})",
                self.model[lba as usize], self.pending
            ));
        }
        let old = self.model[lba as usize];
        if got == self.data(lba, old) {
            if self.pending.is_some_and(|(l, _)| l == lba) {
                self.pending = None;
                self.event(format_args!("{what}: cut write of lba {lba} -> old"));
            }
            return;
        }
        if let Some((l, g)) = self.pending {
            if l == lba && got == self.data(lba, g) {
                self.model[lba as usize] = g;
                self.pending = None;
                self.t.landed += 1;
                self.event(format_args!("{what}: cut write of lba {lba} -> new"));
                return;
            }
        }
        let found = self.describe(lba, &got);
        self.fail(format!(
            "{what}: lba {lba}: expected generation {old} (pending {:?}), found {found}",
            self.pending
        ));
    }

    /// Clean mount, every block against the model, then a second mount that must not
    /// program or erase anything (the first one did any recovery there was to do).
    fn full_check(&mut self, what: &str) {
        let mut ftl = self.clean_mount(what);
        for lba in 0..self.blocks {
            self.check_block(&mut ftl, lba, what);
        }
        if let Some(p) = self.pending {
            self.fail(format!(
                "{what}: pending write {p:?} not resolved by a full check"
            ));
        }
        drop(ftl);
        let before = self.ops();
        drop(self.clean_mount(what));
        let wrote = self.ops() - before;
        if wrote != 0 {
            self.t.clean_mount_ops += wrote;
            if self.first_clean_mount_write.is_none() {
                self.first_clean_mount_write = Some(format!(
                    "{what} at iteration {}: {wrote} flash op(s)",
                    self.t.iterations
                ));
            }
        }
        self.mount_run = 0;
        self.t.full_checks += 1;
        self.event(format_args!("{what}: full check ok"));
    }

    /// Where this iteration's cut goes: `(armed after the mount, ops ahead, byte)`. Mostly
    /// armed before the mount, a few ops ahead (in mount and recovery, or the write after
    /// it); now and then a burst of cuts 0..3 ops ahead (recovery cut again and again, now
    /// and then for hundreds of boots in a row); a sixth of the time armed once the mount
    /// is done, so the write and its GC get cut.
    fn plan_cut(&mut self) -> (bool, u64, Option<usize>) {
        let (after_mount, n) = if self.burst > 0 {
            self.burst -= 1;
            (false, self.rng.below(3))
        } else {
            if self.rng.below(400) == 0 {
                self.burst = 200 + self.rng.below(300);
            } else if self.rng.below(24) == 0 {
                self.burst = 5 + self.rng.below(40);
            }
            if self.rng.below(6) == 0 {
                let n = match self.rng.below(4) {
                    0 | 1 => self.rng.below(3),
                    2 => self.rng.below(8),
                    _ => self.rng.below(40),
                };
                (true, n)
            } else {
                let n = match self.rng.below(8) {
                    0..=3 => self.rng.below(4),
                    4 | 5 => self.rng.below(12),
                    _ => self.rng.below(40),
                };
                (false, n)
            }
        };
        let byte = match self.rng.below(8) {
            0 => Some(0),
            1 => Some(usize::MAX),
            2 => Some(self.rng.below(2 * self.bs as u64) as usize),
            _ => None,
        };
        (after_mount, n, byte)
    }

    fn arm(&self, n: u64, byte: Option<usize>) {
        self.flash.with(|f| match byte {
            Some(b) => f.cut_at_byte(n, b),
            None => f.cut_after_ops(n),
        });
    }

    /// Format and fill >= 90 % of the blocks (no cuts).
    fn setup(&mut self) {
        let mut ftl = match Vol::<W, E>::format(self.flash.clone(), self.cfg) {
            Ok(v) => v,
            Err(e) => self.fail(format!("format: {e:?}")),
        };
        self.blocks = ftl.block_count();
        self.bs = ftl.block_size() as usize;
        self.geo = Some(*ftl.geometry());
        self.model = vec![0; self.blocks as usize];
        let fill = (self.blocks * 9).div_ceil(10);
        for lba in 0..fill {
            let g = self.next_gen;
            self.next_gen += 1;
            if let Err(e) = ftl.write(lba, &self.data(lba, g)) {
                self.fail(format!("fill: write of lba {lba} failed: {e:?}"));
            }
            self.model[lba as usize] = g;
        }
        drop(ftl);
        let blocks = self.blocks;
        self.event(format_args!("filled {fill} of {blocks} blocks"));
        self.full_check("after fill");
    }

    /// One boot: arm a cut, mount, settle the pending write, write one random block.
    fn iteration(&mut self) {
        self.t.iterations += 1;
        let (after_mount, n, at_byte) = self.plan_cut();
        self.flash.with(|f| f.cancel_cut()); // also clears `was_cut` of the last cut
        if !after_mount {
            self.arm(n, at_byte);
        }
        let start = self.ops();
        let mut ftl = match Vol::<W, E>::mount(self.flash.clone(), self.cfg) {
            Ok(v) => v,
            Err(e) => {
                if !self.was_cut() {
                    self.fail(format!("mount failed without a cut: {e:?}"));
                }
                self.t.cuts += 1;
                self.t.mount_cuts += 1;
                self.mount_run += 1;
                self.t.longest_mount_run = self.t.longest_mount_run.max(self.mount_run);
                let ops = self.ops() - start;
                self.event(format_args!(
                    "cut at op {n} (byte {at_byte:?}) in mount after {ops} op(s): {e:?}"
                ));
                self.flash.with(|f| f.power_restore());
                return;
            }
        };
        if self.was_cut() {
            self.fail("mount returned Ok although its flash op lost power".into());
        }
        self.t.mounts += 1;
        self.mount_run = 0;
        if ftl.block_count() != self.blocks {
            self.fail(format!(
                "block count changed: {} -> {}",
                self.blocks,
                ftl.block_count()
            ));
        }
        let mount_ops = self.ops() - start;
        if std::env::var("BOOTLOOP_DUMP").is_ok() {
            let g = *ftl.geometry();
            let mut d = String::new();
            for (u, info) in ftl.units().enumerate() {
                d += &format!(
                    "\n   u{u} {:?} valid {} used {}:",
                    info.state, info.valid, info.used
                );
                for s in 0..g.slots_per_unit {
                    let a = g.record_addr(u as u32, s) as usize;
                    let img = self
                        .flash
                        .with(|f| f.image()[a..a + g.record_size as usize].to_vec());
                    d += &format!(" [{s}: {:?}]", g.decode_record(&img));
                }
            }
            self.event(format_args!("mounted:{d}"));
        }
        if let Some((l, _)) = self.pending {
            self.check_block(&mut ftl, l, "mount after a cut write");
        }
        if after_mount {
            self.arm(n, at_byte);
        }
        let lba = self.rng.below(self.blocks as u64) as u32;
        let g = self.next_gen;
        self.next_gen += 1;
        let r = ftl.write(lba, &self.data(lba, g));
        let cut = self.was_cut();
        drop(ftl);
        let ops = self.ops() - start;
        match r {
            Ok(()) if cut => self.fail(format!(
                "write of lba {lba} returned Ok although power was cut (op {n}, byte {at_byte:?}, after mount {after_mount})"
            )),
            Ok(()) => {
                self.model[lba as usize] = g;
                self.t.acked += 1;
                self.t.missed += 1;
                self.flash.with(|f| f.cancel_cut());
                self.event(format_args!(
                    "write lba {lba} gen {g} ok; mount {mount_ops} op(s), total {ops} (cut armed at {n}, after mount {after_mount}, did not fire)"
                ));
            }
            Err(e) if cut => {
                self.pending = Some((lba, g));
                self.t.cuts += 1;
                self.t.write_cuts += 1;
                self.flash.with(|f| f.power_restore());
                self.event(format_args!(
                    "write lba {lba} gen {g} cut at op {n} (byte {at_byte:?}, after mount {after_mount}; mount {mount_ops} op(s)): {e:?}"
                ));
            }
            Err(e) => self.fail(format!(
                "write of lba {lba} failed without a cut: {e:?} (mount did {mount_ops} flash op(s), \
                 the write {} more; liveness: the volume must accept writes up to its capacity)",
                ops - mount_ops
            )),
        }
    }

    /// One clean mount takes a new write to every block; a remount reads all of it back.
    fn rewrite_everything(&mut self) {
        let mut ftl = self.clean_mount("final rewrite");
        for lba in 0..self.blocks {
            let g = self.next_gen;
            self.next_gen += 1;
            if let Err(e) = ftl.write(lba, &self.data(lba, g)) {
                let st = ftl.stats();
                self.fail(format!(
                    "final rewrite: write of lba {lba} of {} failed: {e:?} \
                     (liveness: every block of the capacity must be writable)\n  {st:?}",
                    self.blocks
                ));
            }
            self.model[lba as usize] = g;
            self.t.acked += 1;
        }
        drop(ftl);
        self.full_check("after final rewrite");
    }

    fn run(mut self) -> Tally {
        let t0 = Instant::now();
        let cuts = cuts();
        // A panic (simulator rule violation, FTL assertion) fails the test either way; this
        // adds the case, the iteration and the last events to it.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.boot_loop(cuts)));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            if msg.starts_with("boot loop ") {
                std::panic::resume_unwind(p); // already one of ours, with the context
            }
            self.fail(format!("panic: {msg}"));
        }
        self.report(cuts, t0);
        self.t
    }

    fn boot_loop(&mut self, cuts: u64) {
        self.setup();
        let mut last_check = 0;
        while self.t.cuts < cuts {
            // Give up if the cuts do not fire (they land within a few ops of the mount).
            if self.t.iterations >= 30 * cuts {
                self.fail(format!(
                    "only {} cuts fired in {} iterations",
                    self.t.cuts, self.t.iterations
                ));
            }
            self.iteration();
            if self.t.iterations - last_check >= CHECK_EVERY && self.burst == 0 {
                self.full_check("periodic check");
                last_check = self.t.iterations;
            }
        }
        self.full_check("final check");
        self.rewrite_everything();
    }

    fn report(&self, cuts: u64, t0: Instant) {
        let fill = self.model.iter().filter(|&&g| g != 0).count();
        let g = self.geo.expect("geometry");
        println!(
            "boot loop {}: {} units of {} B, {} blocks of {} B ({} written): {} cuts ({} in mount, \
             {} in the write; longest run of cut mounts {}), {} iterations ({} cuts armed too far), \
             {} mounts, {} acked writes, {} cut writes landed, {} full checks, {} flash ops in \
             clean mounts, {:.2} s",
            self.name,
            g.unit_count,
            g.unit_size,
            self.blocks,
            self.bs,
            fill,
            self.t.cuts,
            self.t.mount_cuts,
            self.t.write_cuts,
            self.t.longest_mount_run,
            self.t.iterations,
            self.t.missed,
            self.t.mounts,
            self.t.acked,
            self.t.landed,
            self.t.full_checks,
            self.t.clean_mount_ops,
            t0.elapsed().as_secs_f64()
        );
        assert!(self.t.cuts >= cuts, "{:?}", self.t);
        if let Some(first) = &self.first_clean_mount_write {
            self.fail(format!(
                "a clean mount wrote to flash ({} flash ops in all; contract 9: a clean mount \
                 writes nothing); first: {first}",
                self.t.clean_mount_ops
            ));
        }
    }
}

fn cfg(units: u32, unit_size: u32, block_size: u32) -> Config {
    Config {
        unit_size: Some(unit_size),
        block_size,
        ..Config::new(0, units * unit_size)
    }
}

/// A torture-engine part with `units` units of `unit_size` bytes and default reserve.
fn run_part<const W: usize, const E: usize>(
    part: Part,
    units: u32,
    unit_size: u32,
    block_size: u32,
    seed: u64,
) -> Tally {
    let c = cfg(units, unit_size, block_size);
    let spec = part.small_spec(c.region_len as usize);
    BootLoop::<W, E>::new(part.name(), spec, c, seed).run()
}

/// Mount only reads (docs/DESIGN.md, "Recovery"), so every cut lands in the first write
/// after a mount (with the GC round and erases it may start): at least 1,000 of them.
fn assert_mount_cuts(t: &Tally) {
    assert!(t.write_cuts >= 1000, "{t:?}");
    assert_eq!(t.clean_mount_ops, 0, "{t:?}");
}

#[test]
fn boot_loop_stm32l476() {
    assert_mount_cuts(&run_part::<8, 2048>(Part::Stm32l476, 10, 4096, 256, 0x476));
}

#[test]
fn boot_loop_w25q128() {
    assert_mount_cuts(&run_part::<1, 4096>(Part::W25q128, 8, 4096, 256, 0x25));
}

#[test]
fn boot_loop_stm32h743() {
    assert_mount_cuts(&run_part::<32, 8192>(Part::Stm32h743, 7, 8192, 512, 0x743));
}

#[test]
fn boot_loop_stm32f411() {
    assert_mount_cuts(&run_part::<4, 1024>(Part::Stm32f411, 12, 2048, 128, 0x411));
}

#[test]
fn boot_loop_tiny() {
    assert_mount_cuts(&run_part::<16, 512>(Part::Tiny, 9, 1024, 64, 0x717));
}

/// The smallest region (then unit) `Ftl::geometry_for` accepts on the STM32L476 with the
/// default block size and reserve.
#[test]
fn boot_loop_smallest_geometry() {
    const PAGE: u32 = 2048;
    let mut found = None;
    'search: for pages in 1..=64u32 {
        for unit_pages in (1..=pages).filter(|u| pages % u == 0) {
            let c = Config {
                unit_size: Some(unit_pages * PAGE),
                ..Config::new(0, pages * PAGE)
            };
            let flash = Shared::new(SimFlash::<1, 8, 2048>::new(
                Part::Stm32l476.spec((pages * PAGE) as usize),
                0,
            ));
            if let Ok(g) = Vol::<8, 2048>::geometry_for(&flash, &c) {
                found = Some((c, g));
                break 'search;
            }
        }
    }
    let (c, g) = found.expect("no geometry accepted on the STM32L476 up to 128 KiB");
    println!(
        "smallest geometry on the STM32L476: {} units of {} B ({} B), {} slots per unit, \
         reserve {}, {} blocks of {} B",
        g.unit_count,
        g.unit_size,
        g.region_len,
        g.slots_per_unit,
        g.reserve_units,
        g.block_count,
        g.block_size
    );
    let spec = Part::Stm32l476.spec(c.region_len as usize);
    assert_mount_cuts(&BootLoop::<8, 2048>::new("smallest (stm32l476)", spec, c, 0x5).run());
}

/// Single-stream mode: three 8 KiB units, reserve 2 (as `single_stream.rs`, an
/// STM32F411-like layout: 4-byte words that may be programmed more than once).
#[test]
fn boot_loop_single_stream() {
    const SECTOR: u32 = 8 * 1024;
    let spec = PartSpec {
        one_program_per_word: false,
        ..PartSpec::custom("f411-small", 3 * SECTOR as usize, 1, 4, SECTOR as usize)
    };
    let c = Config {
        reserve_units: 2, // SINGLE_STREAM_RESERVE_UNITS
        ..Config::new(0, 3 * SECTOR)
    };
    assert_mount_cuts(&BootLoop::<4, 8192>::new("single-stream (3 units)", spec, c, 0x3).run());
}
