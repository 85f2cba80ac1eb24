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
//! This file is the start-up sequence and the order of the steps; the steps live in their own
//! modules: [`records`] (3), [`selftest`] (4), [`bench`] (5). Everything chip-specific (chip
//! name, clocks, which flash region holds the FTL, FTL config and capacities) is in [`board`],
//! which selects one board module from the chip feature: `board/l476.rs`, `board/f411.rs`.
//!
//! Both boards use the default config (cowftl format v3: automatic reserve = 1 unit for GC plus
//! one spare per 64 units, capacity `(units - reserve) x slots - txn - spares`, txn = largest transaction (8)):
//! - NUCLEO-L476RG: the FTL owns 0x080C0000..0x08100000 (256 KiB, 16 units of 8 x 2 KiB pages,
//!   30 slots each), reserve 1: (16 - 1) x 30 - 8 - 1 = 441 blocks; host writes and GC copies go to
//!   separate frontiers (hot/cold).
//! - Black Pill F411CE: the FTL owns sectors 5..7 (0x08020000..0x08080000, 3 units of 128 KiB,
//!   4-byte words, 244 slots each), reserve 1: (3 - 1) x 244 - 8 - 1 = 479 blocks; with fewer than 4
//!   units GC copies share the host frontier (single stream).
//!
//! Neither region has a spare unit at the default reserve (16 and 3 units are below 64): a unit
//! that fails to erase or program turns the volume read-only, and everything written stays
//! readable. Mount only reads (a power cut is resolved by reading; the first write after it
//! makes that reading permanent), so a reset loop does not wear the flash.
#![no_std]
#![no_main]

mod bench;
mod board;
mod records;
mod selftest;
mod time;

use cowftl::{Config, Error};
use cowftl_firmware::checks::{self, Loggable};
use cowftl_firmware::timed::Timed;
use cowftl_firmware::{cycles64, cycles_init};
use defmt::{error, info};
use defmt_rtt as _;
use embedded_storage::nor_flash::NorFlash;
use panic_probe as _;

use board::Vol;
use time::ms;

/// First block of the scratch slice used by the self-test and the benchmark (blocks 0 and 1 are
/// the boot counter and the config record, see [`records`]).
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

#[cortex_m_rt::entry]
fn main() -> ! {
    let p = embassy_stm32::init(board::embassy_config());
    let hz = embassy_stm32::rcc::clocks(&p.RCC)
        .sys
        .to_hertz()
        .map(|h| h.0)
        .unwrap_or(1);
    let mut cp = cortex_m::Peripherals::take().unwrap();
    cycles_init(&mut cp.DCB, &mut cp.DWT);
    info!(
        "cowftl firmware on {}, SYSCLK {} MHz",
        board::CHIP,
        hz / 1_000_000
    );

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

    let region = board::ftl_region(p.FLASH, ftl_start, ftl_end);
    let cfg = board::ftl_config(&region);
    let mut flash = Timed::new(region.flash);

    match Vol::<&mut Timed<_>>::geometry_for(&&mut flash, &cfg) {
        Ok(_) => run(&mut flash, cfg, hz),
        Err(e) => error!(
            "cowftl rejects this flash region: {} ({} bytes, erase size {}, reserve_units {} (0 = automatic))",
            e, region.len, region.erase_size, cfg.reserve_units
        ),
    }
    info!("done");
    loop {
        cortex_m::asm::wfi();
    }
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
    let boots = match records::boot_count(&mut ftl) {
        Ok(n) => n,
        Err(e) => {
            error!("boot counter: {}", e);
            return;
        }
    };
    info!("boot #{}", boots);
    let mut conf = match records::Settings::load(&mut ftl) {
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
            records::Settings::default()
        }
        Err(e) => {
            error!("config: {}", e);
            return;
        }
    };

    // 4. self-test over a slice, then remount
    let st = selftest::run(&mut ftl, hz);
    drop(ftl);
    let mut ftl = match Vol::mount(&mut *flash, cfg) {
        Ok(v) => v,
        Err(e) => {
            error!("remount failed: {}", e);
            return;
        }
    };
    let boots_again = records::read_counter(&mut ftl);
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
    bench::run(&mut ftl, hz);
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
