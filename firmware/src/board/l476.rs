//! NUCLEO-L476RG (STM32L476RG, the default board).
//!
//! Flash: 1 MiB, dual bank 2 x 512 KiB, 2 KiB pages, 8-byte ECC words (one program per
//! double-word). The FTL owns the last 256 KiB, `0x080C0000..0x08100000` (bank 2, pages
//! 384..511; `memory/stm32l476rg.x`): 16 units of 8 pages (16 KiB), 30 slots each. The default
//! config (cowftl format v3: automatic reserve = 1 unit for GC plus one spare per 64 units) gives
//! reserve 1, no spare: (16 - 1) x 30 - 8 - 1 = 441 blocks; host writes and GC copies go to separate
//! frontiers (hot/cold). Program space: the 768 KiB below the region.
use cowftl::Config;
use cowftl_firmware::checks;
use embassy_stm32::flash::{Bank2Region, Blocking, Flash, FlashRegion};
use embassy_stm32::peripherals::FLASH;
use embassy_stm32::Peri;

use super::Board;

pub struct NucleoL476rg;

impl Board for NucleoL476rg {
    const CHIP: &'static str = "STM32L476RG";
    /// Exactly the L476 region with the default config (16 units, 441 blocks). The QEMU tests
    /// use the same constants and check the library derives them.
    const MAX_UNITS: usize = checks::Q_UNITS;
    const MAX_BLOCKS: usize = checks::Q_BLOCKS;
    type Flash = Bank2Region<'static, Blocking>;

    fn embassy_config() -> embassy_stm32::Config {
        use embassy_stm32::rcc::*;
        let mut config = embassy_stm32::Config::default();
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
        config
    }

    /// The FTL region is the top half of bank 2.
    fn flash_region(flash: Peri<'static, FLASH>) -> (Self::Flash, &'static FlashRegion) {
        let region = Flash::new_blocking(flash)
            .into_blocking_regions()
            .bank2_region;
        let info = region.0;
        (region, info)
    }

    /// The default config: 512-byte blocks, automatic unit size (16 KiB) and reserve (1 unit),
    /// verified writes.
    fn ftl_config(offset: u32, len: u32) -> Config {
        Config::new(offset, len)
    }
}
