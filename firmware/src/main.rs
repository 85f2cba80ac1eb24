//! cowftl on STM32 internal flash (embassy-stm32, blocking `NorFlash`), logs via defmt/RTT.
//!
//! 1. start-up check: the program image ends below the FTL region (linker symbols);
//! 2. mount the FTL region (format it if blank);
//! 3. real use: a boot counter (block 0) and a config record (block 1), each updated with one
//!    atomic FTL write per boot, so they survive resets and power cuts;
//! 4. self-test over a slice of the volume (write/read/overwrite/trim, GC), then remount and
//!    check the boot counter and config survived;
//! 5. benchmark timed with the DWT cycle counter: host write/read throughput, the flash's own
//!    program and erase throughput, write amplification, wear spread.
//!
//! Both boards use the default config (cowftl format v3: automatic reserve = 1 unit for GC plus
//! one spare per 64 units, capacity `(units - reserve) x slots - 1 - spares`):
//! - NUCLEO-L476RG: the FTL owns 0x080C0000..0x08100000 (256 KiB, 16 units of 8 x 2 KiB pages,
//!   30 slots each), reserve 1: (16 - 1) x 30 - 1 = 449 blocks; host writes and GC copies go to
//!   separate frontiers (hot/cold).
//! - Black Pill F411CE: the FTL owns sectors 5..7 (0x08020000..0x08080000, 3 units of 128 KiB,
//!   4-byte words, 244 slots each), reserve 1: (3 - 1) x 244 - 1 = 487 blocks; with fewer than 4
//!   units GC copies share the host frontier (single stream).
//!
//! Neither region has a spare unit at the default reserve (16 and 3 units are below 64): a unit
//! that fails to erase or program turns the volume read-only, and everything written stays
//! readable. Mount only reads (a power cut is resolved by reading; the first write after it
//! makes that reading permanent), so a reset loop does not wear the flash.
#![no_std]
#![no_main]

use cowftl::{Config, Error, Ftl};
use cowftl_firmware::checks::{self, Loggable, BS};
use cowftl_firmware::timed::Timed;
use cowftl_firmware::{cycles64, cycles_init};
use defmt::{error, info};
use defmt_rtt as _;
use embassy_stm32::flash::{Flash, FLASH_BASE};
use embedded_storage::nor_flash::NorFlash;
use panic_probe as _;

/// FTL capacities (RAM bound): exactly the L476 region with the default config (16 units,
/// 449 blocks). The QEMU tests use the same constants and check the library derives them.
#[cfg(feature = "stm32l476rg")]
const MAX_UNITS: usize = checks::Q_UNITS;
#[cfg(feature = "stm32l476rg")]
const MAX_BLOCKS: usize = checks::Q_BLOCKS;
/// FTL capacities (RAM bound): exactly the F411 region with the default config (3 units,
/// 487 blocks). The QEMU tests use the same constants and check the library derives them.
#[cfg(feature = "stm32f411ce")]
const MAX_UNITS: usize = checks::F_UNITS;
#[cfg(feature = "stm32f411ce")]
const MAX_BLOCKS: usize = checks::F_BLOCKS;
type Vol<F> = Ftl<F, MAX_UNITS, MAX_BLOCKS>;

const LBA_BOOT: u32 = 0;
const LBA_CONFIG: u32 = 1;
/// First block of the scratch slice used by the self-test and the benchmark.
const LBA_SCRATCH: u32 = 8;

extern "C" {
    static __sidata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __etext: u8;
    static __erodata: u8;
    static __veneer_limit: u8;
    static _ftl_region_start: u8;
    static _ftl_region_end: u8;
}

fn sym(p: *const u8) -> u32 {
    p as u32
}

/// (end of everything the image puts in flash, FTL region start, FTL region end)
fn image_layout() -> (u32, u32, u32) {
    use core::ptr::addr_of;
    // Only the addresses of the linker symbols are taken (no reads).
    {
        let data_load_end =
            sym(addr_of!(__sidata)) + (sym(addr_of!(__edata)) - sym(addr_of!(__sdata)));
        let end = data_load_end
            .max(sym(addr_of!(__etext)))
            .max(sym(addr_of!(__erodata)))
            .max(sym(addr_of!(__veneer_limit)));
        (
            end,
            sym(addr_of!(_ftl_region_start)),
            sym(addr_of!(_ftl_region_end)),
        )
    }
}

fn clock_config() -> embassy_stm32::Config {
    #[allow(unused_mut)]
    let mut config = embassy_stm32::Config::default();
    #[cfg(feature = "stm32l476rg")]
    {
        use embassy_stm32::rcc::*;
        // HSI16 -> PLL (x10 /2) -> 80 MHz SYSCLK
        config.rcc.hsi = true;
        config.rcc.pll = Some(Pll {
            source: PllSource::HSI,
            prediv: PllPreDiv::DIV1,
            mul: PllMul::MUL10,
            divp: None,
            divq: None,
            divr: Some(PllRDiv::DIV2),
        });
        config.rcc.sys = Sysclk::PLL1_R;
    }
    #[cfg(feature = "stm32f411ce")]
    {
        use embassy_stm32::rcc::*;
        // HSI16 -> PLL (/16 x192 /2) -> 96 MHz SYSCLK, APB1 48 MHz
        config.rcc.hsi = true;
        config.rcc.pll_src = PllSource::HSI;
        config.rcc.pll = Some(Pll {
            prediv: PllPreDiv::DIV16,
            mul: PllMul::MUL192,
            divp: Some(PllPDiv::DIV2),
            divq: Some(PllQDiv::DIV4),
            divr: None,
        });
        config.rcc.ahb_pre = AHBPrescaler::DIV1;
        config.rcc.apb1_pre = APBPrescaler::DIV2;
        config.rcc.apb2_pre = APBPrescaler::DIV1;
        config.rcc.sys = Sysclk::PLL1_P;
    }
    config
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let p = embassy_stm32::init(clock_config());
    let hz = embassy_stm32::rcc::clocks(&p.RCC)
        .sys
        .to_hertz()
        .map(|h| h.0)
        .unwrap_or(1);
    let mut cp = cortex_m::Peripherals::take().unwrap();
    cycles_init(&mut cp.DCB, &mut cp.DWT);
    info!("cowftl firmware on {}, SYSCLK {} MHz", CHIP, hz / 1_000_000);

    // 1. the image must end below the FTL region (memory.x enforces it at link time too)
    let (image_end, ftl_start, ftl_end) = image_layout();
    info!(
        "image ends at {=u32:#010x}; FTL region {=u32:#010x}..{=u32:#010x} ({} KiB)",
        image_end,
        ftl_start,
        ftl_end,
        (ftl_end - ftl_start) / 1024
    );
    if image_end > ftl_start {
        panic!("program image overlaps the FTL region");
    }

    let layout = Flash::new_blocking(p.FLASH).into_blocking_regions();
    #[cfg(feature = "stm32l476rg")]
    let region = layout.bank2_region;
    #[cfg(feature = "stm32f411ce")]
    let region = layout.bank1_region3;
    let region_base = FLASH_BASE as u32 + region.0.offset;
    let region_size = region.0.size;
    let erase_size = region.0.erase_size;
    let offset = ftl_start - region_base;
    let len = ftl_end - ftl_start;
    if ftl_start < region_base || ftl_end > region_base + region_size {
        panic!("FTL region is not inside the flash region the driver was given");
    }
    let mut flash = Timed::new(region);
    let cfg = ftl_config(offset, len);

    match Vol::<&mut Timed<_>>::geometry_for(&&mut flash, &cfg) {
        Ok(_) => run(&mut flash, cfg, hz),
        Err(e) => error!(
            "cowftl rejects this flash region: {} ({} bytes, erase size {}, reserve_units {} (0 = automatic))",
            e, len, erase_size, cfg.reserve_units
        ),
    }
    info!("done");
    loop {
        cortex_m::asm::wfi();
    }
}

#[cfg(feature = "stm32l476rg")]
const CHIP: &str = "STM32L476RG";
#[cfg(feature = "stm32f411ce")]
const CHIP: &str = "STM32F411CE";

/// Both boards: the default config (512-byte blocks, automatic unit size and reserve, verified
/// writes). L476: 16 units of 16 KiB, reserve 1. F411: only 3 erase units (128 KiB sectors
/// 5..7), which format v3 handles with the same default reserve of 1 (single stream).
fn ftl_config(offset: u32, len: u32) -> Config {
    Config::new(offset, len)
}

fn ms(cyc: u64, hz: u32) -> u32 {
    (cyc * 1000 / hz as u64) as u32
}
fn us(cyc: u64, hz: u32) -> u32 {
    (cyc * 1_000_000 / hz as u64) as u32
}
fn kib_per_s(bytes: u64, cyc: u64, hz: u32) -> u32 {
    if cyc == 0 {
        return 0;
    }
    (bytes * hz as u64 / cyc / 1024) as u32
}

fn run<F: NorFlash>(flash: &mut Timed<F>, cfg: Config, hz: u32)
where
    F::Error: Loggable,
{
    // 2. mount (format if blank)
    let t = cycles64();
    let mut ftl = match Vol::mount_or_format(&mut *flash, cfg) {
        Ok(v) => v,
        Err(e) => {
            error!("mount failed: {}", e);
            if matches!(e, Error::UnsupportedVersion(_) | Error::Incompatible) {
                error!("the FTL region holds a volume of another cowftl format or geometry (an older firmware?); cowftl never formats over it: erase the chip (probe-rs erase) and flash again");
            }
            return;
        }
    };
    let g = *ftl.geometry();
    info!(
        "mounted in {} ms: {} blocks x {} B ({} KiB), {} units x {} KiB, {} slots/unit, {} reserve unit(s) ({} spare){}; FTL state {} B RAM",
        ms(cycles64() - t, hz),
        g.block_count,
        g.block_size,
        g.block_count * g.block_size / 1024,
        g.unit_count,
        g.unit_size / 1024,
        g.slots_per_unit,
        g.reserve_units,
        g.spare_units(),
        if g.single_stream {
            ", single stream"
        } else {
            ""
        },
        core::mem::size_of::<Vol<&mut Timed<F>>>()
    );
    // the format-v3 capacity rule, recomputed, and the FTL's RAM invariants as mounted
    if checks::check_geometry(&g, &cfg).is_err() || checks::invariants(&ftl, "after mount").is_err()
    {
        error!("FTL self-check after mount FAILED");
        return;
    }

    // 3. real use: boot counter + config record
    let boots = match boot_count(&mut ftl) {
        Ok(n) => n,
        Err(e) => {
            error!("boot counter: {}", e);
            return;
        }
    };
    info!("boot #{}", boots);
    let mut conf = match Settings::load(&mut ftl) {
        Ok(Some(c)) => {
            info!(
                "config: blink {} ms, name \"{=[u8]:a}\", saved {} times, self-test passes {}",
                c.blink_ms,
                c.name_str(),
                c.saves,
                c.selftest_passes
            );
            c
        }
        Ok(None) => {
            info!("config: none stored yet, using defaults");
            Settings::default()
        }
        Err(e) => {
            error!("config: {}", e);
            return;
        }
    };

    // 4. self-test over a slice, then remount
    let n = ftl.block_count();
    // 64 blocks (8..72): fits both volumes (L476 449 blocks, F411 487 blocks). The self-test
    // checks the FTL's invariants before and after its workload.
    let slice = 64.min((n - LBA_SCRATCH) / 2);
    let t = cycles64();
    let st = checks::slice_selftest(&mut ftl, LBA_SCRATCH, slice);
    let st_ms = ms(cycles64() - t, hz);
    match st {
        Ok(()) => info!(
            "self-test over blocks {}..{} passed in {} ms",
            LBA_SCRATCH,
            LBA_SCRATCH + slice,
            st_ms
        ),
        Err(what) => error!("self-test FAILED: {}", what),
    }
    drop(ftl);
    let mut ftl = match Vol::mount(&mut *flash, cfg) {
        Ok(v) => v,
        Err(e) => {
            error!("remount failed: {}", e);
            return;
        }
    };
    let boots_again = read_counter(&mut ftl);
    match boots_again {
        Ok(b) if b == boots => info!("remount ok: boot counter still {}", b),
        _ => error!("remount: boot counter lost"),
    }
    if st.is_ok() {
        conf.selftest_passes += 1;
        if let Err(e) = conf.save(&mut ftl) {
            error!("config save: {}", e);
        } else {
            info!("config saved ({} saves)", conf.saves);
        }
    }

    // 5. benchmark
    bench(&mut ftl, hz);
    match checks::invariants(&ftl, "after the workload") {
        Ok(()) => info!("FTL invariants hold after the workload"),
        Err(_) => error!("FTL invariants violated after the workload"),
    }
    let s = ftl.stats();
    info!(
        "totals since mount: {} erases, {} GC victims, {} relocations, {} WL moves, {} retired; wear min {} max {} mean {}",
        s.counters.erases,
        s.counters.gc_victims,
        s.counters.relocations,
        s.counters.wl_moves,
        s.retired_units,
        s.wear.min,
        s.wear.max,
        s.wear.mean
    );
}

fn bench<F: NorFlash>(ftl: &mut Vol<&mut Timed<F>>, hz: u32)
where
    F::Error: Loggable,
{
    let n = ftl.block_count();
    let count = (n - LBA_SCRATCH) / 2;
    let rounds = 4u32;
    let s0 = ftl.stats();
    let f0 = ftl.flash().time;
    let mut buf = [0u8; BS];
    let mut write_cyc = 0u64;
    for r in 0..rounds {
        for lba in LBA_SCRATCH..LBA_SCRATCH + count {
            checks::pattern(lba, 1000 + r, &mut buf);
            let t = cycles64();
            let res = ftl.write(lba, &buf);
            write_cyc += cycles64() - t;
            if let Err(e) = res {
                error!("bench write: {}", e);
                return;
            }
        }
    }
    let mut read_cyc = 0u64;
    for lba in LBA_SCRATCH..LBA_SCRATCH + count {
        let t = cycles64();
        let res = ftl.read(lba, &mut buf);
        read_cyc += cycles64() - t;
        if res.is_err() {
            error!("bench read failed");
            return;
        }
    }
    let s1 = ftl.stats();
    let f1 = ftl.flash().time;
    let host = (rounds * count) as u64 * BS as u64;
    let programmed = s1.counters.bytes_programmed - s0.counters.bytes_programmed;
    let erases = s1.counters.erases - s0.counters.erases;
    let prog_cyc = f1.program_cycles - f0.program_cycles;
    let prog_bytes = f1.programmed_bytes - f0.programmed_bytes;
    let erase_cyc = f1.erase_cycles - f0.erase_cycles;
    let erase_bytes = f1.erased_bytes - f0.erased_bytes;
    info!(
        "bench: {} x {} overwrites of {} blocks ({}% of the volume)",
        rounds,
        count,
        count,
        count * 100 / n
    );
    info!(
        "bench: host write {} KiB/s ({} us/block), read {} KiB/s ({} us/block)",
        kib_per_s(host, write_cyc, hz),
        us(write_cyc / (rounds * count) as u64, hz),
        kib_per_s(count as u64 * BS as u64, read_cyc, hz),
        us(read_cyc / count as u64, hz)
    );
    info!(
        "bench: flash program {} KiB/s ({} KiB in {} ms), erase {} KiB/s ({} erases, {} ms each)",
        kib_per_s(prog_bytes, prog_cyc, hz),
        prog_bytes / 1024,
        ms(prog_cyc, hz),
        kib_per_s(erase_bytes, erase_cyc, hz),
        erases,
        erase_cyc.checked_div(erases).map_or(0, |c| ms(c, hz))
    );
    info!(
        "bench: write amplification {=u64}.{=u64:02} (programmed {} B for {} B written); wear min {} max {} spread {}",
        programmed * 100 / host / 100,
        programmed * 100 / host % 100,
        programmed,
        host,
        s1.wear.min,
        s1.wear.max,
        s1.wear.max - s1.wear.min
    );
    for lba in LBA_SCRATCH..LBA_SCRATCH + count {
        let _ = ftl.trim(lba);
    }
}

// ---------------------------------------------------------------------------------------------
// Real use: a boot counter and a config record, one FTL block each. Every update is one FTL
// write, which is atomic: after a power cut the block holds the old or the new record.

const BOOT_MAGIC: u32 = u32::from_le_bytes(*b"BOOT");
const CONF_MAGIC: u32 = u32::from_le_bytes(*b"CONF");

fn read_counter<F: NorFlash>(ftl: &mut Vol<F>) -> Result<u32, Error<F::Error>> {
    let mut b = [0u8; BS];
    ftl.read(LBA_BOOT, &mut b)?;
    if u32::from_le_bytes(b[0..4].try_into().unwrap()) == BOOT_MAGIC {
        Ok(u32::from_le_bytes(b[4..8].try_into().unwrap()))
    } else {
        Ok(0) // never written (reads as zeros)
    }
}

/// Increment and store the boot counter; returns the new value.
fn boot_count<F: NorFlash>(ftl: &mut Vol<F>) -> Result<u32, Error<F::Error>> {
    let n = read_counter(ftl)? + 1;
    let mut b = [0u8; BS];
    b[0..4].copy_from_slice(&BOOT_MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&n.to_le_bytes());
    ftl.write(LBA_BOOT, &b)?;
    Ok(n)
}

struct Settings {
    blink_ms: u32,
    name: [u8; 16],
    saves: u32,
    selftest_passes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let mut name = [0u8; 16];
        name[..6].copy_from_slice(b"cowftl");
        Settings {
            blink_ms: 500,
            name,
            saves: 0,
            selftest_passes: 0,
        }
    }
}

impl Settings {
    fn name_str(&self) -> &[u8] {
        let len = self.name.iter().position(|&c| c == 0).unwrap_or(16);
        &self.name[..len]
    }

    fn load<F: NorFlash>(ftl: &mut Vol<F>) -> Result<Option<Self>, Error<F::Error>> {
        let mut b = [0u8; BS];
        ftl.read(LBA_CONFIG, &mut b)?;
        let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if word(0) != CONF_MAGIC || word(4) != 1 {
            return Ok(None);
        }
        let mut name = [0u8; 16];
        name.copy_from_slice(&b[20..36]);
        Ok(Some(Settings {
            blink_ms: word(8),
            saves: word(12),
            selftest_passes: word(16),
            name,
        }))
    }

    fn save<F: NorFlash>(&mut self, ftl: &mut Vol<F>) -> Result<(), Error<F::Error>> {
        self.saves += 1;
        let mut b = [0u8; BS];
        b[0..4].copy_from_slice(&CONF_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&1u32.to_le_bytes()); // record version
        b[8..12].copy_from_slice(&self.blink_ms.to_le_bytes());
        b[12..16].copy_from_slice(&self.saves.to_le_bytes());
        b[16..20].copy_from_slice(&self.selftest_passes.to_le_bytes());
        b[20..36].copy_from_slice(&self.name);
        ftl.write(LBA_CONFIG, &b)
    }
}
