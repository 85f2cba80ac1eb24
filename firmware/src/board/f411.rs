//! WeAct Black Pill F411CE (STM32F411CE).
//!
//! Flash: 512 KiB, sectors 4 x 16 KiB, 1 x 64 KiB, 3 x 128 KiB; 4-byte program words. The FTL
//! owns sectors 5..7, `0x08020000..0x08080000` (`memory/stm32f411ce.x`): 3 units of 128 KiB,
//! 244 slots each. The default config (cowftl format v3: automatic reserve = 1 unit for GC plus
//! one spare per 64 units) gives reserve 1, no spare: (3 - 1) x 244 - 8 - 1 = 479 blocks; with fewer
//! than 4 units GC copies share the host frontier (single stream). Program space: sectors 0..4
//! (128 KiB).
use cowftl::Config;
use cowftl_firmware::checks;
use embassy_stm32::flash::{Bank1Region3, Blocking, Flash, FlashRegion};
use embassy_stm32::peripherals::FLASH;
use embassy_stm32::Peri;

use super::Board;

pub struct BlackPillF411ce;

impl Board for BlackPillF411ce {
    const CHIP: &'static str = "STM32F411CE";
    /// Exactly the F411 region with the default config (3 units, 479 blocks). The QEMU tests
    /// use the same constants and check the library derives them.
    const MAX_UNITS: usize = checks::F_UNITS;
    const MAX_BLOCKS: usize = checks::F_BLOCKS;
    type Flash = Bank1Region3<'static, Blocking>;

    fn embassy_config() -> embassy_stm32::Config {
        use embassy_stm32::rcc::*;
        let mut config = embassy_stm32::Config::default();
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
        config
    }

    /// The FTL region is embassy's bank 1 region 3: the three 128 KiB sectors 5..7.
    fn flash_region(flash: Peri<'static, FLASH>) -> (Self::Flash, &'static FlashRegion) {
        let region = Flash::new_blocking(flash)
            .into_blocking_regions()
            .bank1_region3;
        let info = region.0;
        (region, info)
    }

    /// The default config: 512-byte blocks, automatic unit size (one 128 KiB sector) and
    /// reserve (1 unit, single stream); format v3 accepts the 3 units.
    fn ftl_config(offset: u32, len: u32) -> Config {
        Config::new(offset, len)
    }
}
