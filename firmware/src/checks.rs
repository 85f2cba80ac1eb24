//! The FTL's on-target checks, generic over the flash, shared by the QEMU test binary
//! (`src/bin/qemu_tests.rs`, over [`TestFlash`]) and the board app (`src/selftest.rs` and
//! `src/main.rs`, over the STM32 internal flash). Every check returns `Err(what)` instead of
//! panicking, after logging the FTL error that caused it.
use core::sync::atomic::{AtomicBool, Ordering};

use cowftl::geometry::{
    GC_RESERVE_UNITS, MAX_SLOTS_PER_UNIT, SINGLE_STREAM_RESERVE_UNITS, UNITS_PER_AUTO_SPARE,
};
use cowftl::{Config, Error, Ftl, Geometry};
use cowftl_testkit::pattern::{fill_pattern, generation_of};
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::log;
use crate::ramflash::RamFlash;

/// What a failed check reports.
pub type Fail = &'static str;
pub type CheckResult = Result<(), Fail>;

/// Bound on flash error types so both log back ends can print them.
#[cfg(feature = "board")]
pub trait Loggable: core::fmt::Debug + defmt::Format {}
#[cfg(feature = "board")]
impl<T: core::fmt::Debug + defmt::Format> Loggable for T {}
#[cfg(not(feature = "board"))]
pub trait Loggable: core::fmt::Debug {}
#[cfg(not(feature = "board"))]
impl<T: core::fmt::Debug> Loggable for T {}

/// Logical block size used everywhere here (the FTL default).
pub const BS: usize = 512;

// ---------------------------------------------------------------------------------------------
// QEMU geometry: the same as the NUCLEO-L476RG FTL region (256 KiB of 2 KiB pages with 8-byte
// ECC words) -> 16 units of 16 KiB, 30 slots each. Default config (format v3, automatic reserve:
// 1 unit for GC + 16 / 64 = 0 spares): (16 - 1) x 30 - 8 - 1 = 441 blocks.
pub const Q_WRITE: usize = 8;
pub const Q_ERASE: usize = 2048;
pub const Q_BYTES: usize = 256 * 1024;
/// FTL unit capacity for the L476 region (and the NUCLEO-L476RG app).
pub const Q_UNITS: usize = 16;
/// FTL block capacity for the L476 region (and the NUCLEO-L476RG app): exactly the v3 block
/// count of that region with the default config, so no RAM is spent on map entries that can
/// never be used. `format_mount` checks the library derives this number ([`check_geometry`]
/// derives it from the formula); if the library's capacity rule changes, the format fails
/// with `TooManyBlocks` or that check fails, and this constant is what to update.
pub const Q_BLOCKS: usize = 441;

pub type TestFlash = RamFlash<'static, Q_WRITE, Q_ERASE>;
pub type TestFtl<'a> = Ftl<&'a mut TestFlash, Q_UNITS, Q_BLOCKS>;

// F411-like geometry (Black Pill: sectors 5..7), default config, 4-byte words. Full scale:
// 3 x 128 KiB -> 244 slots/unit, automatic reserve 1 (GC only, no spare), (3 - 1) x 244 - 8 - 1 =
// 479 blocks; fewer than 4 units, so GC copies share the host frontier (single stream).
// Scaled down for the cut-at-every-op test: 3 x 8 KiB -> 15 slots/unit, (3 - 1) x 15 - 8 - 1 = 21
// blocks.
pub const F_WRITE: usize = 4;
pub const F_SECTOR: usize = 128 * 1024;
pub const F_BYTES: usize = 3 * F_SECTOR;
pub const S_SECTOR: usize = 8 * 1024;
pub const S_BYTES: usize = 3 * S_SECTOR;
/// FTL unit capacity for the F411 region (and the Black Pill app): sectors 5..7.
pub const F_UNITS: usize = 3;
/// FTL block capacity for the F411 region (and the Black Pill app): the v3 block count of
/// 3 x 128 KiB with the default config (checked by `f411_geometry`, like [`Q_BLOCKS`]).
pub const F_BLOCKS: usize = 479;

pub type F411Flash = RamFlash<'static, F_WRITE, F_SECTOR>;
pub type F411SmallFlash = RamFlash<'static, F_WRITE, S_SECTOR>;
/// Same compile-time capacities as the Black Pill app (`Ftl<_, 3, 479>`).
pub type RamFtl<'a, const W: usize, const E: usize> =
    Ftl<&'a mut RamFlash<'static, W, E>, F_UNITS, F_BLOCKS>;

/// Every RAM flash the QEMU tests use (blank at start).
pub struct Flashes {
    /// L476 geometry: 256 KiB, 8-byte ECC words, 2 KiB pages.
    pub l476: TestFlash,
    /// F411 sectors 5..7 at full scale.
    pub f411: F411Flash,
    /// F411-like, scaled to 3 x 8 KiB.
    pub f411_small: F411SmallFlash,
}

impl Flashes {
    pub fn power_on(&mut self) {
        self.l476.power_on();
        self.f411.power_on();
        self.f411_small.power_on();
    }

    /// Flash rule violations since the last call (all flashes), and reset them.
    pub fn take_violations(&mut self) -> u32 {
        let v = self.l476.violations + self.f411.violations + self.f411_small.violations;
        self.l476.violations = 0;
        self.f411.violations = 0;
        self.f411_small.violations = 0;
        v
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);
static mut DATA: [u8; Q_BYTES] = [0; Q_BYTES];
static mut PROGRAMMED: [u32; Q_BYTES / Q_WRITE / 32] = [0; Q_BYTES / Q_WRITE / 32];
static mut WEAR: [u32; Q_BYTES / Q_ERASE] = [0; Q_BYTES / Q_ERASE];
static mut F_DATA: [u8; F_BYTES] = [0; F_BYTES];
static mut F_PROGRAMMED: [u32; F_BYTES / F_WRITE / 32] = [0; F_BYTES / F_WRITE / 32];
static mut F_WEAR: [u32; F_BYTES / F_SECTOR] = [0; F_BYTES / F_SECTOR];
static mut S_DATA: [u8; S_BYTES] = [0; S_BYTES];
static mut S_PROGRAMMED: [u32; S_BYTES / F_WRITE / 32] = [0; S_BYTES / F_WRITE / 32];
static mut S_WEAR: [u32; S_BYTES / S_SECTOR] = [0; S_BYTES / S_SECTOR];

/// The RAM test flashes (blank). Panics if taken twice.
pub fn take_flashes() -> Flashes {
    assert!(
        !TAKEN.swap(true, Ordering::SeqCst),
        "test flashes taken twice"
    );
    // SAFETY: guarded by TAKEN, so these are the only references ever made to the buffers.
    unsafe {
        Flashes {
            l476: RamFlash::new(
                &mut *core::ptr::addr_of_mut!(DATA),
                &mut *core::ptr::addr_of_mut!(PROGRAMMED),
                &mut *core::ptr::addr_of_mut!(WEAR),
            ),
            f411: RamFlash::new(
                &mut *core::ptr::addr_of_mut!(F_DATA),
                &mut *core::ptr::addr_of_mut!(F_PROGRAMMED),
                &mut *core::ptr::addr_of_mut!(F_WEAR),
            ),
            f411_small: RamFlash::new(
                &mut *core::ptr::addr_of_mut!(S_DATA),
                &mut *core::ptr::addr_of_mut!(S_PROGRAMMED),
                &mut *core::ptr::addr_of_mut!(S_WEAR),
            ),
        }
    }
}

/// Log the RAM the FTL state takes for the NUCLEO-L476RG and Black Pill F411CE geometries
/// (the board apps use the same compile-time capacities).
pub fn report_ram() {
    let ftl = core::mem::size_of::<TestFtl<'static>>();
    let flash = core::mem::size_of::<&mut TestFlash>();
    log!(
        "RAM: size_of::<Ftl<_, {}, {}>>() = {} bytes ({} without the flash handle); NUCLEO-L476RG: 256 KiB region, 16 units x 16 KiB, 441 blocks of 512 B",
        Q_UNITS,
        Q_BLOCKS,
        ftl,
        ftl - flash
    );
    let ftl = core::mem::size_of::<RamFtl<'static, F_WRITE, F_SECTOR>>();
    let flash = core::mem::size_of::<&mut F411Flash>();
    log!(
        "RAM: size_of::<Ftl<_, {}, {}>>() = {} bytes ({} without the flash handle); Black Pill F411CE: 3 x 128 KiB sectors, 479 blocks of 512 B",
        F_UNITS,
        F_BLOCKS,
        ftl,
        ftl - flash
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Contents of block `lba` at `generation` (0 = zeros): the test kit's pattern, the same blocks
/// the host tests and the torture engine write, with the u32 generations used on target.
pub fn pattern(lba: u32, generation: u32, buf: &mut [u8]) {
    fill_pattern(lba, u64::from(generation), buf);
}

/// Turn an FTL error into a logged failure.
pub fn ok<T, E: Loggable>(r: Result<T, Error<E>>, what: Fail) -> Result<T, Fail> {
    r.map_err(|e| {
        log!("  {}: {}", what, e);
        what
    })
}

pub fn ensure(cond: bool, what: Fail) -> CheckResult {
    if cond {
        Ok(())
    } else {
        log!("  check failed: {}", what);
        Err(what)
    }
}

/// `Ftl::check_invariants` (the RAM-state invariants of docs/DESIGN.md: per-unit valid counts
/// agree with the map, open units are the write frontiers, the space invariant holds, ...) as
/// a logged check; `when` says where it was called.
pub fn invariants<F: NorFlash, const U: usize, const B: usize>(
    ftl: &Ftl<F, U, B>,
    when: &'static str,
) -> CheckResult {
    ftl.check_invariants().map_err(|e| {
        log!("  invariant violated {}: {}", when, e);
        "FTL invariant violated"
    })
}

/// The format-v3 geometry rules, recomputed from the library's constants and the geometry's own
/// word-padded structure sizes (so a changed rule shows up here, not as a silent capacity change):
/// - slots per unit = (unit - 2 header copies - seal) / (record + block), at most
///   `MAX_SLOTS_PER_UNIT`;
/// - automatic reserve (`reserve_units: 0`) = `GC_RESERVE_UNITS` (1, the unit a GC round copies
///   into) + one spare per `UNITS_PER_AUTO_SPARE` (64) units; otherwise the configured number;
/// - capacity = (units - reserve) x slots - txn - spares, txn = the largest transaction
///   (`max_transaction_blocks`, 8 by default, at most slots - 1, at least 1): slack for the
///   space invariant (a full volume still gathers a transaction's slots in one unit), one
///   slot per spare for its retire record;
/// - fewer than 4 units: GC copies share the host frontier (`single_stream`).
pub fn check_geometry(g: &Geometry, cfg: &Config) -> CheckResult {
    let fixed = 2 * g.header_size + g.seal_size;
    let slots = ((g.unit_size - fixed) / (g.record_size + g.block_size)).min(MAX_SLOTS_PER_UNIT);
    ensure(g.slots_per_unit == slots, "slots per unit")?;
    ensure(g.unit_count * g.unit_size == cfg.region_len, "unit count")?;
    let reserve = match cfg.reserve_units {
        0 => GC_RESERVE_UNITS + g.unit_count / UNITS_PER_AUTO_SPARE,
        r => r,
    };
    ensure(g.reserve_units == reserve, "reserve units")?;
    let spares = reserve - GC_RESERVE_UNITS;
    ensure(g.spare_units() == spares, "spare units")?;
    let txn = cfg.max_transaction_blocks.min(slots - 1).max(1);
    ensure(g.txn_blocks == txn, "transaction size")?;
    ensure(
        g.block_count == (g.unit_count - reserve) * slots - txn - spares - 1,
        "v3 capacity (units - reserve) x slots - txn - spares - 1",
    )?;
    ensure(
        g.single_stream == (g.no_erase || g.unit_count < 4),
        "single stream iff fewer than 4 units",
    )?;
    Ok(())
}

/// Read `lba` and compare with `pattern(lba, generation)`; generation `None` means zeros.
pub fn verify<F, const U: usize, const B: usize>(
    ftl: &mut Ftl<F, U, B>,
    lba: u32,
    generation: Option<u32>,
) -> CheckResult
where
    F: NorFlash,
    F::Error: Loggable,
{
    let mut want = [0u8; BS];
    let mut got = [0u8; BS];
    // Generation 0 is the zeros of a never-written or trimmed block.
    pattern(lba, generation.unwrap_or(0), &mut want);
    ok(ftl.read(lba, &mut got), "read")?;
    if want != got {
        log!(
            "  block {} differs (expected generation {})",
            lba,
            generation.unwrap_or(0)
        );
        return Err("read back wrong data");
    }
    Ok(())
}

pub fn write_gen<F, const U: usize, const B: usize>(
    ftl: &mut Ftl<F, U, B>,
    lba: u32,
    generation: u32,
) -> CheckResult
where
    F: NorFlash,
    F::Error: Loggable,
{
    let mut buf = [0u8; BS];
    pattern(lba, generation, &mut buf);
    ok(ftl.write(lba, &buf), "write")
}

// ---------------------------------------------------------------------------------------------
// Checks over a slice of a mounted volume (used on the board and on QEMU)

/// Write/read/overwrite/trim over `first..first+count`, then enough overwrite rounds to force
/// garbage collection. Leaves the slice trimmed. Needs `count >= 8`. Checks the FTL's RAM
/// invariants before (the volume as mounted) and after the workload.
pub fn slice_selftest<F, const U: usize, const B: usize>(
    ftl: &mut Ftl<F, U, B>,
    first: u32,
    count: u32,
) -> CheckResult
where
    F: NorFlash,
    F::Error: Loggable,
{
    ensure(
        count >= 8 && first + count <= ftl.block_count(),
        "slice out of range",
    )?;
    invariants(ftl, "before the self-test")?;
    let end = first + count;
    // write + read
    for lba in first..end {
        write_gen(ftl, lba, 1)?;
    }
    for lba in first..end {
        verify(ftl, lba, Some(1))?;
    }
    // overwrite every other block, trim every fourth
    for lba in (first..end).step_by(2) {
        write_gen(ftl, lba, 2)?;
    }
    for lba in (first..end).step_by(4) {
        ok(ftl.trim(lba), "trim")?;
    }
    for lba in first..end {
        let i = lba - first;
        let want = if i.is_multiple_of(4) {
            None
        } else if i.is_multiple_of(2) {
            Some(2)
        } else {
            Some(1)
        };
        verify(ftl, lba, want)?;
    }
    // GC: overwrite the slice until the volume has been rewritten more than once over.
    let victims0 = ftl.stats().counters.gc_victims;
    let slots = ftl.geometry().slots_per_unit * ftl.geometry().unit_count;
    let rounds = (2 * slots).div_ceil(count) + 1;
    for r in 0..rounds {
        for lba in first..end {
            write_gen(ftl, lba, 10 + r)?;
        }
    }
    ensure(ftl.stats().counters.gc_victims > victims0, "GC never ran")?;
    for lba in first..end {
        verify(ftl, lba, Some(10 + rounds - 1))?;
    }
    for lba in first..end {
        ok(ftl.trim(lba), "trim")?;
        verify(ftl, lba, None)?;
    }
    invariants(ftl, "after the self-test")
}

// ---------------------------------------------------------------------------------------------
// QEMU tests: each gets the blank-or-used RAM flash and formats it first.

pub type QemuTest = fn(&mut Flashes) -> CheckResult;

pub const QEMU_TESTS: &[(&str, QemuTest)] = &[
    ("ramflash_ecc_rules", |f| ramflash_ecc_rules(&mut f.l476)),
    ("format_mount", |f| format_mount(&mut f.l476)),
    ("write_read_trim_gc", |f| write_read_trim_gc(&mut f.l476)),
    ("remount", |f| remount(&mut f.l476)),
    ("wear_levelling", |f| wear_levelling(&mut f.l476)),
    ("power_cut_recover", |f| power_cut_recover(&mut f.l476)),
    ("f411_geometry", |f| f411_geometry(&mut f.f411)),
    ("f411_board_run", |f| f411_board_run(&mut f.f411)),
    ("f411_small_power_cut", |f| {
        f411_small_power_cut(&mut f.f411_small)
    }),
];

fn cfg() -> Config {
    Config::new(0, Q_BYTES as u32)
}

fn fresh(flash: &mut TestFlash, cfg: &Config) -> CheckResult {
    flash.power_on();
    ok(TestFtl::format(flash, *cfg), "format").map(drop)
}

fn mount<'a>(flash: &'a mut TestFlash, cfg: Config) -> Result<TestFtl<'a>, Fail> {
    mount_ram(flash, cfg, "mount")
}

/// Mount a RAM-flash volume and check what format v3 promises of every mount, whatever state
/// the flash is in: it programs and erases nothing (counted by the RAM flash itself, not by the
/// FTL), and the RAM state it rebuilt meets `check_invariants`.
fn mount_ram<'a, const W: usize, const E: usize, const U: usize, const B: usize>(
    flash: &'a mut RamFlash<'static, W, E>,
    cfg: Config,
    what: Fail,
) -> Result<Ftl<&'a mut RamFlash<'static, W, E>, U, B>, Fail> {
    let before = flash.counters;
    let ftl = ok(Ftl::mount(flash, cfg), what)?;
    let after = ftl.flash().counters;
    ensure(
        (after.writes, after.erases) == (before.writes, before.erases),
        "mount programmed or erased flash",
    )?;
    invariants(&ftl, "after mount")?;
    Ok(ftl)
}

/// The harness itself: the RAM flash enforces the L476 rules and cuts like it should.
fn ramflash_ecc_rules(flash: &mut TestFlash) -> CheckResult {
    use crate::ramflash::RamFlashError as E;
    let mut buf = [0u8; 16];
    ensure(flash.erase(0, Q_ERASE as u32).is_ok(), "erase")?;
    ensure(flash.write(0, &[0xF0; 8]).is_ok(), "first program")?;
    ensure(
        flash.write(0, &[0x00; 8]) == Err(E::DoubleProgram),
        "second program accepted",
    )?;
    ensure(
        flash.write(8, &[0x00; 4]) == Err(E::NotAligned),
        "unaligned program accepted",
    )?;
    ensure(
        flash.write(8, &[0x00; 8]).is_ok(),
        "program of the next word",
    )?;
    ensure(flash.erase(0, Q_ERASE as u32).is_ok(), "erase")?;
    ensure(flash.write(0, &[0x0F; 8]).is_ok(), "program after erase")?;
    // 0 -> 1 on a fresh word is impossible to express (erased = 0xFF), so program, erase the
    // bookkeeping by hand and try to set bits back.
    ensure(flash.erase(0, Q_ERASE as u32).is_ok(), "erase")?;
    flash.image()[16..24].fill(0x00); // word 2 holds zeros but is not marked programmed
    ensure(
        flash.write(16, &[0xFF; 8]) == Err(E::ZeroToOne),
        "0->1 program accepted",
    )?;
    // power cut in the middle of a 2-word program: word 0 whole, word 1 half programmed.
    ensure(flash.erase(0, Q_ERASE as u32).is_ok(), "erase")?;
    flash.cut_after(0);
    ensure(
        flash.write(0, &[0x00; 16]) == Err(E::PowerCut),
        "cut program did not fail",
    )?;
    ensure(
        flash.read(0, &mut buf).is_err() || flash.is_cut(),
        "flash alive after cut",
    )?;
    flash.power_on();
    ensure(flash.read(0, &mut buf).is_ok(), "read")?;
    ensure(
        buf[..12] == [0; 12] && buf[12..] == [0xFF; 4],
        "cut did not leave a half word",
    )?;
    ensure(
        flash.write(8, &[0x00; 8]) == Err(E::DoubleProgram),
        "half word reprogrammable",
    )?;
    flash.violations = 0; // the violations above were intended
    flash.erase(0, Q_BYTES as u32).map_err(|_| "erase all")?;
    Ok(())
}

fn format_mount(flash: &mut TestFlash) -> CheckResult {
    let cfg = cfg();
    flash.erase(0, Q_BYTES as u32).map_err(|_| "erase all")?;
    // a blank region does not mount
    ensure(
        matches!(TestFtl::mount(&mut *flash, cfg), Err(Error::Blank)),
        "blank region mounted",
    )?;
    fresh(flash, &cfg)?;
    let mut ftl = mount(flash, cfg)?;
    let g = *ftl.geometry();
    log!(
        "  {} blocks of {} B, {} units of {} B, {} slots/unit, reserve {} ({} spare), single stream {}",
        g.block_count,
        g.block_size,
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.reserve_units,
        g.spare_units(),
        g.single_stream
    );
    check_geometry(&g, &cfg)?;
    // The NUCLEO-L476RG numbers under format v3: 8 pages of 2 KiB per unit (the default unit
    // size keeps 16 units), 30 slots (2 x 32 B headers + 8 B seal + 30 x (24 B record + 512 B)
    // fit 16 KiB), automatic reserve 1 (16 units < 64: no spare), so (16 - 1) x 30 - 8 - 1 = 441.
    ensure(
        g.unit_count == 16 && g.unit_size == 16 * 1024 && g.slots_per_unit == 30,
        "L476 units: 16 x 16 KiB, 30 slots",
    )?;
    ensure(g.reserve_units == 1, "L476 default reserve: 1 unit")?;
    ensure(!g.single_stream, "L476: separate host and GC frontiers")?;
    ensure(
        g.block_count as usize == Q_BLOCKS,
        "L476 capacity: 441 blocks (= Q_BLOCKS)",
    )?;
    verify(&mut ftl, 0, None)?;
    let last = ftl.block_count() - 1;
    verify(&mut ftl, last, None)?;
    let mut buf = [0u8; BS];
    ensure(
        matches!(
            ftl.read(ftl.block_count(), &mut buf),
            Err(Error::OutOfRange)
        ),
        "out-of-range read accepted",
    )?;
    Ok(())
}

fn write_read_trim_gc(flash: &mut TestFlash) -> CheckResult {
    let cfg = cfg();
    fresh(flash, &cfg)?;
    let mut ftl = mount(flash, cfg)?;
    // cold data (blocks 100..400) that must survive the GC the slice test causes, interleaved
    // with writes to the slice, so that every unit GC empties holds some of it
    for i in 0..300 {
        write_gen(&mut ftl, 100 + i, 7)?;
        write_gen(&mut ftl, i % 64, 6)?;
    }
    slice_selftest(&mut ftl, 0, 64)?;
    for lba in 100..400 {
        verify(&mut ftl, lba, Some(7))?;
    }
    invariants(&ftl, "after the workload")?;
    let s = ftl.stats();
    log!(
        "  host writes {}, programmed {} B, erases {}, GC victims {}, relocations {}",
        s.counters.host_writes,
        s.counters.bytes_programmed,
        s.counters.erases,
        s.counters.gc_victims,
        s.counters.relocations
    );
    ensure(
        s.counters.relocations > 0,
        "GC never relocated the cold data",
    )?;
    Ok(())
}

fn remount(flash: &mut TestFlash) -> CheckResult {
    let cfg = cfg();
    fresh(flash, &cfg)?;
    let n;
    {
        let mut ftl = mount(&mut *flash, cfg)?;
        n = ftl.block_count();
        for lba in 0..n {
            write_gen(&mut ftl, lba, 1)?;
        }
        for lba in (0..n).step_by(3) {
            write_gen(&mut ftl, lba, 2)?;
        }
        for lba in (1..n).step_by(5) {
            ok(ftl.trim(lba), "trim")?;
        }
        invariants(&ftl, "after the workload")?;
    }
    for round in 0..3 {
        let mut ftl = mount(&mut *flash, cfg)?;
        ensure(ftl.block_count() == n, "block count changed")?;
        for lba in 0..n {
            let want = if lba % 5 == 1 {
                None
            } else if lba % 3 == 0 {
                Some(2)
            } else {
                Some(1)
            };
            verify(&mut ftl, lba, want)?;
        }
        // and it still takes writes after each remount
        write_gen(&mut ftl, 3 * round, 2)?;
        invariants(&ftl, "after a write")?;
    }
    Ok(())
}

fn wear_levelling(flash: &mut TestFlash) -> CheckResult {
    let mut cfg = cfg();
    cfg.static_wl_threshold = 4;
    fresh(flash, &cfg)?;
    let mut ftl = mount(&mut *flash, cfg)?;
    let n = ftl.block_count();
    // 70% cold data written once, then hammer 8 hot blocks
    let cold = n * 7 / 10;
    for lba in 0..cold {
        write_gen(&mut ftl, lba, 1)?;
    }
    let hot = cold..cold + 8;
    for r in 0..1500u32 {
        for lba in hot.clone() {
            write_gen(&mut ftl, lba, 100 + r)?;
        }
    }
    for lba in 0..cold {
        verify(&mut ftl, lba, Some(1))?;
    }
    invariants(&ftl, "after the workload")?;
    let s = ftl.stats();
    drop(ftl);
    let (min, max) = flash.wear_spread();
    log!(
        "  erases {}, static WL moves {}, wear min {} max {} (FTL: {}..{}, threshold {})",
        s.counters.erases,
        s.counters.wl_moves,
        min,
        max,
        s.wear.min,
        s.wear.max,
        cfg.static_wl_threshold
    );
    ensure(
        s.counters.wl_moves > 0,
        "static wear levelling never moved cold data",
    )?;
    // erase-page counts: every page of a unit is erased together
    ensure(
        max - min <= 2 * cfg.static_wl_threshold + 2,
        "wear spread too wide",
    )?;
    Ok(())
}

/// Cut the power after every possible number of flash operations during a sequence of
/// overwrites (which includes GC), remount, and check each block holds its old or new value
/// and every acknowledged write survived.
///
/// Before the sequence, 80 % of the volume (352 of 441 blocks, 3/4 of all 480 slots: the data
/// the format-v2 volume held) is written and then rewritten in a scattered order until GC has
/// reclaimed 4 units, so the sequence starts in GC's steady state: victims still hold live
/// slots, and the uncut run must relocate some. Filled to 100 % (441 blocks in 480 slots) every GC
/// round copies ~29 live slots to free one, ~200 flash ops per host write, and cutting after
/// every op count of 40 writes (~8000 runs, each replaying the ops before its cut) takes ~5
/// minutes in QEMU.
fn power_cut_recover(flash: &mut TestFlash) -> CheckResult {
    let cfg = cfg();
    let mut cuts = 0u32;
    let mut n = 0u32;
    loop {
        // baseline: 80 % of the volume holds generation 1, so that the writes below need GC
        fresh(flash, &cfg)?;
        let blocks;
        {
            let mut ftl = mount(&mut *flash, cfg)?;
            blocks = ftl.block_count() * 4 / 5;
            for lba in 0..blocks {
                write_gen(&mut ftl, lba, 1)?;
            }
            // rewrite (same contents, scattered) until GC has reclaimed 4 units
            let mut k = 0u32;
            while ftl.stats().counters.gc_victims < 4 {
                ensure(k < 4 * blocks, "GC never ran")?;
                write_gen(&mut ftl, (k * 101) % blocks, 1)?;
                k += 1;
            }
        }
        // the operation sequence under test: 40 overwrites of a stride of blocks
        let mut acked = 0u32;
        let relocations;
        // the cut counter also runs through the mount, which (format v3) programs nothing:
        // `mount` checks that, so the first cut point is the first write's first program
        flash.cut_after(n);
        {
            let mut ftl = mount(&mut *flash, cfg)?;
            for i in 0..40u32 {
                let lba = (i * 37) % blocks;
                let mut buf = [0u8; BS];
                pattern(lba, 2, &mut buf);
                if ftl.write(lba, &buf).is_err() {
                    break;
                }
                acked += 1;
            }
            relocations = ftl.stats().counters.relocations;
        }
        let cut_hit = flash.is_cut();
        ensure(cut_hit || acked == 40, "write failed without a power cut")?;
        if !cut_hit {
            log!(
                "  uncut sequence: 40 writes, {} GC relocations",
                relocations
            );
            ensure(relocations > 0, "the sequence never relocated a live slot")?;
        }
        flash.power_on();
        let mut ftl = mount(&mut *flash, cfg)?;
        for i in 0..40u32 {
            let lba = (i * 37) % blocks;
            let mut got = [0u8; BS];
            ok(ftl.read(lba, &mut got), "read after cut")?;
            let mut old = [0u8; BS];
            let mut new = [0u8; BS];
            pattern(lba, 1, &mut old);
            pattern(lba, 2, &mut new);
            if i < acked {
                ensure(got == new, "acknowledged write lost")?;
            } else if i == acked {
                ensure(got == old || got == new, "torn write")?;
            } else {
                ensure(got == old, "write appeared that was never issued")?;
            }
        }
        // the rest of the volume is untouched
        for lba in (0..ftl.block_count()).step_by(7) {
            if (0..40u32).any(|i| (i * 37) % blocks == lba) {
                continue;
            }
            verify(&mut ftl, lba, (lba < blocks).then_some(1))?;
        }
        // and the volume works again (the first write after a cut is what settles it)
        write_gen(&mut ftl, 1, 3)?;
        verify(&mut ftl, 1, Some(3))?;
        invariants(&ftl, "after the first write after a cut")?;
        if !cut_hit {
            break;
        }
        cuts += 1;
        n += 1;
    }
    log!("  {} cut points checked, all recovered", cuts);
    ensure(cuts > 40, "too few cut points")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// F411-like geometry (3 units, 4-byte words) with the default config. Format v3 needs no special
// reserve for 3-unit regions: the automatic reserve is 1 unit (GC), and with fewer than 4 units
// GC copies share the host frontier (single stream).

/// The board app's F411 configuration: the default (automatic reserve: 1 unit for GC, no spare).
pub fn f411_config(len: usize) -> Config {
    Config::new(0, len as u32)
}

fn fresh_ram<const W: usize, const E: usize>(
    flash: &mut RamFlash<'static, W, E>,
    cfg: Config,
) -> CheckResult {
    flash.power_on();
    ok(RamFtl::<W, E>::format(flash, cfg), "format").map(drop)
}

fn f411_geometry_for(flash: &mut F411Flash, cfg: &Config) -> Result<Geometry, Fail> {
    RamFtl::geometry_for(&&mut *flash, cfg).map_err(|e| {
        log!("  geometry: {}", e);
        "F411 config rejected"
    })
}

/// Geometry of sectors 5..7 with the default config: 3 units, 244 slots/unit, reserve 1, single
/// stream, 479 blocks; `SINGLE_STREAM_RESERVE_UNITS` (2) buys a spare sector at the cost of 245
/// blocks (242 left);
/// blank -> `Blank`, format, every block reads zeros, block 479 is out of range.
fn f411_geometry(flash: &mut F411Flash) -> CheckResult {
    flash.erase(0, F_BYTES as u32).map_err(|_| "erase all")?;
    let cfg = f411_config(F_BYTES);
    let g = f411_geometry_for(flash, &cfg)?;
    log!(
        "  {} blocks of {} B, {} units of {} B, {} slots/unit, reserve {} ({} spare), single stream {}",
        g.block_count,
        g.block_size,
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.reserve_units,
        g.spare_units(),
        g.single_stream
    );
    check_geometry(&g, &cfg)?;
    // The Black Pill numbers under format v3: a 128 KiB sector holds 244 slots
    // ((131072 - 2 x 32 B headers - 8 B seal) / (24 B record + 512 B) = 244.4), the automatic
    // reserve is 1 unit (3 units < 64: no spare), so (3 - 1) x 244 - 8 - 1 = 479 blocks (format v2
    // needed `reserve_units: 2` here and gave 243).
    ensure(
        g.unit_count == 3
            && g.unit_size == F_SECTOR as u32
            && g.write_size == 4
            && g.slots_per_unit == 244,
        "F411 units: 3 x 128 KiB, 244 slots",
    )?;
    ensure(
        g.reserve_units == 1 && g.spare_units() == 0,
        "F411 default reserve: 1 unit, no spare",
    )?;
    ensure(g.single_stream, "F411 (3 units): single stream")?;
    ensure(
        g.block_count as usize == F_BLOCKS,
        "F411 capacity: 479 blocks (= F_BLOCKS)",
    )?;
    // A spare sector (a failed sector is retired instead of turning the volume read-only)
    // costs a whole sector: (3 - 2) x 244 - 8 - 1 - 1 = 234 blocks.
    let spare_cfg = Config {
        reserve_units: SINGLE_STREAM_RESERVE_UNITS,
        ..cfg
    };
    let g2 = f411_geometry_for(flash, &spare_cfg)?;
    check_geometry(&g2, &spare_cfg)?;
    ensure(
        g2.spare_units() == 1 && g2.block_count == 234,
        "reserve 2 on 3 x 128 KiB: 1 spare, 234 blocks",
    )?;
    ensure(
        matches!(RamFtl::mount(&mut *flash, cfg), Err(Error::Blank)),
        "blank region mounted",
    )?;
    fresh_ram(flash, cfg)?;
    let mut ftl: RamFtl<'_, F_WRITE, F_SECTOR> = mount_ram(&mut *flash, cfg, "mount")?;
    for lba in 0..ftl.block_count() {
        verify(&mut ftl, lba, None)?;
    }
    let mut buf = [0u8; BS];
    ensure(
        matches!(ftl.read(g.block_count, &mut buf), Err(Error::OutOfRange)),
        "out-of-range read accepted",
    )?;
    Ok(())
}

/// Three "boots" of the board app's workload on the full-scale F411 region (boot counter in
/// block 0, config in block 1, self-test over blocks 8..72, remount, benchmark: 4 overwrite rounds
/// over blocks 8..8 + (n - 8) / 2, as in `src/records.rs`, `src/selftest.rs`, `src/bench.rs`),
/// with cold data from the end of the benchmark slice up to 95 % of the volume that GC must carry
/// along.
fn f411_board_run(flash: &mut F411Flash) -> CheckResult {
    const SCRATCH: u32 = 8;
    let cfg = f411_config(F_BYTES);
    fresh_ram(flash, cfg)?;
    let n = f411_geometry_for(flash, &cfg)?.block_count;
    let count = (n - SCRATCH) / 2;
    let cold = SCRATCH + count..n * 95 / 100;
    log!(
        "  {} blocks: benchmark over {}..{}, cold data {}..{}",
        n,
        SCRATCH,
        SCRATCH + count,
        cold.start,
        cold.end
    );
    {
        let mut ftl: RamFtl<'_, F_WRITE, F_SECTOR> = mount_ram(&mut *flash, cfg, "mount")?;
        for lba in cold.clone() {
            write_gen(&mut ftl, lba, 7)?;
        }
    }
    for boot in 1..=3u32 {
        let erases0 = flash.counters.erases;
        let mut ftl = ok(RamFtl::mount_or_format(&mut *flash, cfg), "mount")?;
        invariants(&ftl, "after mount")?;
        verify(&mut ftl, 0, (boot > 1).then(|| boot - 1))?;
        write_gen(&mut ftl, 0, boot)?;
        write_gen(&mut ftl, 1, 1000 + boot)?;
        let slice = 64.min((n - SCRATCH) / 2);
        ensure(slice == 64, "self-test slice")?;
        slice_selftest(&mut ftl, SCRATCH, slice)?;
        drop(ftl);
        let mut ftl: RamFtl<'_, F_WRITE, F_SECTOR> = mount_ram(&mut *flash, cfg, "remount")?;
        verify(&mut ftl, 0, Some(boot))?;
        verify(&mut ftl, 1, Some(1000 + boot))?;
        for r in 0..4 {
            for lba in SCRATCH..SCRATCH + count {
                write_gen(&mut ftl, lba, 2000 + r)?;
            }
        }
        for lba in SCRATCH..SCRATCH + count {
            verify(&mut ftl, lba, Some(2003))?;
            ok(ftl.trim(lba), "trim")?;
        }
        for lba in cold.clone() {
            verify(&mut ftl, lba, Some(7))?;
        }
        invariants(&ftl, "after the workload")?;
        let s = ftl.stats();
        log!(
            "  boot {}: {} sector erases ({} per sector); after the remount {} GC victims, {} relocations; wear {}..{}",
            boot,
            flash.counters.erases - erases0,
            (flash.counters.erases - erases0) / 3,
            s.counters.gc_victims,
            s.counters.relocations,
            s.wear.min,
            s.wear.max
        );
        ensure(
            s.counters.relocations > 0,
            "GC never relocated the cold data",
        )?;
    }
    let (min, max) = flash.wear_spread();
    log!(
        "  sector erase counts after 3 boots: min {} max {}",
        min,
        max
    );
    ensure(min > 0, "a sector was never erased")?;
    Ok(())
}

/// Block contents as written by `pattern(lba, generation)`: the generation, or an error if the
/// block holds anything else (torn, zeros, another block's data).
fn read_gen<const W: usize, const E: usize>(
    ftl: &mut RamFtl<'_, W, E>,
    lba: u32,
) -> Result<u32, Fail> {
    let mut got = [0u8; BS];
    ok(ftl.read(lba, &mut got), "read")?;
    let mut scratch = [0u8; BS];
    match generation_of(&got, &mut scratch) {
        Some((l, generation)) if l == lba => Ok(generation as u32),
        _ => {
            log!("  block {} holds neither a whole old nor new version", lba);
            Err("torn or foreign block")
        }
    }
}

type SmallFtl<'a> = RamFtl<'a, F_WRITE, S_SECTOR>;

const CUT_WRITES: u32 = 40;
/// Blocks of the scaled volume: (3 - 1) x 15 - 8 - 1 = 21 with the default config (checked).
const SMALL_VOLUME_BLOCKS: u32 = 21;
/// Blocks the cut test fills and overwrites (the rest stay unwritten and must read zeros):
/// 14 live blocks in the 30 slots outside the GC reserve, the load of the 3-sector volume the
/// format-v2 firmware tested (14 blocks). Filled to all 21 blocks, every write would need a GC
/// round that copies ~11 slots to free one (21 of 30 slots live), and cutting after every op
/// of that, and again after every op of each recovery, takes tens of minutes in QEMU.
const SMALL_MAX_BLOCKS: usize = 14;
/// The writes under test go to blocks `0..SMALL_HOT` (each 5 times); the other filled blocks are
/// cold data that GC has to relocate.
const SMALL_HOT: u32 = 8;

fn cut_lba(i: u32) -> u32 {
    (i * 5) % SMALL_HOT
}

/// Outcome of [`small_run_to_cut`].
struct CutRun {
    cut_hit: bool,
    blocks: u32,
    /// Writes acknowledged before the cut (write `acked` is the one that was cut, if any).
    acked: u32,
    /// Generation of every block after the acknowledged writes.
    model: [u32; SMALL_MAX_BLOCKS],
    /// Slots GC relocated during the writes.
    relocations: u64,
}

/// Fill blocks `0..SMALL_MAX_BLOCKS` of the scaled F411 volume with generation 1, then cut the
/// power after `n` flash ops of: mount (which programs nothing) + `CUT_WRITES` overwrites (write
/// `i` stores generation `2 + i` in `cut_lba(i)`: the 8 hot blocks are overwritten 5 times each,
/// GC runs every few writes (3 units of 15 slots, one of them held back for GC) and has to
/// relocate the 6 cold blocks).
fn small_run_to_cut(flash: &mut F411SmallFlash, cfg: Config, n: u32) -> Result<CutRun, Fail> {
    fresh_ram(flash, cfg)?;
    let mut run = CutRun {
        cut_hit: false,
        blocks: 0,
        acked: 0,
        model: [1; SMALL_MAX_BLOCKS],
        relocations: 0,
    };
    {
        let mut ftl: SmallFtl<'_> = mount_ram(&mut *flash, cfg, "mount")?;
        ensure(
            ftl.block_count() == SMALL_VOLUME_BLOCKS,
            "3 x 8 KiB: (3 - 1) x 15 - 8 - 1 = 21 blocks",
        )?;
        run.blocks = SMALL_MAX_BLOCKS as u32;
        for lba in 0..run.blocks {
            write_gen(&mut ftl, lba, 1)?;
        }
    }
    // mount writes nothing (checked), so the cuts fall in the writes
    flash.cut_after(n);
    {
        let mut ftl: SmallFtl<'_> = mount_ram(&mut *flash, cfg, "mount before the cut")?;
        let mut buf = [0u8; BS];
        for i in 0..CUT_WRITES {
            let lba = cut_lba(i);
            pattern(lba, 2 + i, &mut buf);
            if ftl.write(lba, &buf).is_err() {
                break;
            }
            run.model[lba as usize] = 2 + i;
            run.acked += 1;
        }
        run.relocations = ftl.stats().counters.relocations;
    }
    run.cut_hit = flash.is_cut();
    ensure(
        run.cut_hit || run.acked == CUT_WRITES,
        "write failed without a power cut",
    )?;
    Ok(run)
}

/// Every block holds its acknowledged generation; the cut write's block may hold the new one;
/// `extra` = (block, generation) of a second write that may or may not have happened; the
/// blocks never written read zeros.
fn check_cut_state(
    ftl: &mut SmallFtl<'_>,
    run: &CutRun,
    extra: Option<(u32, u32)>,
) -> Result<[u32; SMALL_MAX_BLOCKS], Fail> {
    let mut seen = [0u32; SMALL_MAX_BLOCKS];
    let cut = (run.cut_hit && run.acked < CUT_WRITES).then(|| (cut_lba(run.acked), 2 + run.acked));
    for lba in 0..run.blocks {
        let g = read_gen(ftl, lba)?;
        let ok = g == run.model[lba as usize] || cut == Some((lba, g)) || extra == Some((lba, g));
        if !ok {
            log!(
                "  block {}: generation {}, acknowledged {}",
                lba,
                g,
                run.model[lba as usize]
            );
            return Err(if g < run.model[lba as usize] {
                "acknowledged write lost"
            } else {
                "write appeared that was never issued"
            });
        }
        seen[lba as usize] = g;
    }
    for lba in run.blocks..ftl.block_count() {
        verify(ftl, lba, None)?;
    }
    Ok(seen)
}

/// Single-stream power cuts on the scaled F411 geometry (3 x 8 KiB, 4-byte words, default
/// config): cut after every possible op count of a mount + 40 GC-heavy overwrites, recover (a
/// mount, which programs nothing, then the first write, which settles what the mount read),
/// check; and for every such cut, cut again after every op count of the recovery (mount, read
/// the cut block, one more write), then check that nothing the recovery mount returned went
/// back, and that the volume takes writes again.
fn f411_small_power_cut(flash: &mut F411SmallFlash) -> CheckResult {
    let cfg = f411_config(S_BYTES);
    let (mut cuts, mut double_cuts, mut n) = (0u32, 0u32, 0u32);
    loop {
        let run = small_run_to_cut(flash, cfg, n)?;
        flash.power_on();
        {
            let mut ftl: SmallFtl<'_> = mount_ram(&mut *flash, cfg, "mount after cut")?;
            check_cut_state(&mut ftl, &run, None)?;
            write_gen(&mut ftl, 0, 99)?;
            verify(&mut ftl, 0, Some(99))?;
            invariants(&ftl, "after the first write after a cut")?;
        }
        if !run.cut_hit {
            log!(
                "  uncut sequence: {} writes, {} GC relocations",
                CUT_WRITES,
                run.relocations
            );
            ensure(
                run.relocations > 0,
                "the sequence never relocated a live slot",
            )?;
            break;
        }
        // the same cut again, then a second cut during the recovery
        let mut m = 0u32;
        loop {
            let run = small_run_to_cut(flash, cfg, n)?;
            flash.power_on();
            flash.cut_after(m);
            let watched = cut_lba(run.acked.min(CUT_WRITES - 1));
            let extra = ((watched + 1) % run.blocks, 100);
            let observed;
            {
                // the recovery mount writes nothing (checked), so the second cut falls in the
                // write after it
                let mut ftl: SmallFtl<'_> = mount_ram(&mut *flash, cfg, "recovery mount")?;
                observed = read_gen(&mut ftl, watched).ok();
                let mut buf = [0u8; BS];
                pattern(extra.0, extra.1, &mut buf);
                let _ = ftl.write(extra.0, &buf);
            }
            let hit = flash.is_cut();
            flash.power_on();
            let mut ftl: SmallFtl<'_> = mount_ram(&mut *flash, cfg, "mount after second cut")?;
            let seen = check_cut_state(&mut ftl, &run, Some(extra))?;
            if let Some(g) = observed {
                if seen[watched as usize] != g {
                    log!(
                        "  block {}: recovery read generation {}, after the second cut {}",
                        watched,
                        g,
                        seen[watched as usize]
                    );
                    return Err("block changed after a recovery mount had returned it");
                }
            }
            write_gen(&mut ftl, watched, 101)?;
            verify(&mut ftl, watched, Some(101))?;
            if !hit {
                break;
            }
            double_cuts += 1;
            m += 1;
        }
        cuts += 1;
        n += 1;
    }
    log!(
        "  {} cut points, {} second cuts during recovery, all recovered",
        cuts,
        double_cuts
    );
    ensure(cuts > 40, "too few cut points")?;
    Ok(())
}
