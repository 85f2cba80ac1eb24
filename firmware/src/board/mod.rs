//! What a board provides, and the one place that picks the board.
//!
//! Modelled on embassy-stm32's `flash` module: one API here, the chip-specific details behind
//! it, one module per chip. A board module (`l476.rs`, `f411.rs`) holds everything that differs
//! between the chips: the chip name, the clock tree (the `embassy_stm32::Config`), which of
//! embassy's flash regions holds the FTL region, the FTL `Config` and the compile-time FTL
//! capacities. It implements [`Board`] (so the compiler checks both boards provide the same
//! items) and the chip feature selects it as [`Active`] below; the rest of the app uses only
//! this module's items and never tests a chip feature.
//!
//! The FTL region's addresses are not here: `memory/<chip>.x` (picked by `build.rs` from the
//! same feature) defines `_ftl_region_start`/`_ftl_region_end` and ends `FLASH` where the region
//! starts, so the link fails if the program grows into it; [`ftl_region`] turns those addresses
//! into an offset and length inside the board's embassy flash region.
//!
//! Adding a chip: a module implementing [`Board`], a feature in `Cargo.toml`, a memory file and
//! its line in `build.rs`, and its two `cfg` lines in the selection below.
use cowftl::{Config, Ftl};
use embassy_stm32::flash::{FlashRegion, FLASH_BASE};
use embassy_stm32::peripherals::FLASH;
use embassy_stm32::Peri;
use embedded_storage::nor_flash::NorFlash;

use cowftl_firmware::checks::Loggable;

/// What each board module provides.
pub trait Board {
    /// Chip name, as logged at start-up.
    const CHIP: &'static str;
    /// FTL unit capacity (RAM bound): exactly the units of this board's FTL region.
    const MAX_UNITS: usize;
    /// FTL block capacity (RAM bound): exactly the block count of this board's FTL region with
    /// [`Board::ftl_config`], so no RAM goes to map entries that can never be used.
    const MAX_BLOCKS: usize;
    /// The blocking embassy flash region that contains the FTL region (offsets relative to its
    /// base).
    type Flash: NorFlash<Error: Loggable>;

    /// `embassy_stm32::init` config: the clock tree.
    fn embassy_config() -> embassy_stm32::Config;
    /// The embassy flash region that contains the FTL region, and its description.
    fn flash_region(flash: Peri<'static, FLASH>) -> (Self::Flash, &'static FlashRegion);
    /// FTL config for the region at `offset` (inside [`Board::Flash`]), `len` bytes long.
    fn ftl_config(offset: u32, len: u32) -> Config;
}

// ---------------------------------------------------------------------------------------------
// The board selection: the only place that tests a chip feature.

#[cfg(all(feature = "stm32l476rg", feature = "stm32f411ce"))]
compile_error!("select exactly one chip feature: stm32l476rg or stm32f411ce, not both");
#[cfg(not(any(feature = "stm32l476rg", feature = "stm32f411ce")))]
compile_error!("select one chip feature: stm32l476rg (default) or stm32f411ce");

#[cfg(feature = "stm32l476rg")]
mod l476;
#[cfg(feature = "stm32l476rg")]
pub use l476::NucleoL476rg as Active;

#[cfg(feature = "stm32f411ce")]
mod f411;
#[cfg(feature = "stm32f411ce")]
pub use f411::BlackPillF411ce as Active;

// ---------------------------------------------------------------------------------------------
// The active board's items, for the rest of the app.

/// Chip name of the active board.
pub const CHIP: &str = Active::CHIP;
/// FTL unit capacity of the active board.
pub const MAX_UNITS: usize = Active::MAX_UNITS;
/// FTL block capacity of the active board.
pub const MAX_BLOCKS: usize = Active::MAX_BLOCKS;
/// The app's FTL volume type: the active board's compile-time capacities.
pub type Vol<F> = Ftl<F, MAX_UNITS, MAX_BLOCKS>;
/// The active board's flash region type.
pub type BoardFlash = <Active as Board>::Flash;

/// `embassy_stm32::init` config (clock tree) of the active board.
pub fn embassy_config() -> embassy_stm32::Config {
    Active::embassy_config()
}

/// FTL config of the active board for `region`.
pub fn ftl_config(region: &FtlRegion) -> Config {
    Active::ftl_config(region.offset, region.len)
}

/// The FTL region as the FTL sees it: the flash handle and where in it the region lies.
pub struct FtlRegion {
    /// The board's embassy flash region that contains the FTL region.
    pub flash: BoardFlash,
    /// Offset of the FTL region inside `flash`.
    pub offset: u32,
    /// Length of the FTL region in bytes.
    pub len: u32,
    /// Erase size of `flash` (for the log).
    pub erase_size: u32,
}

/// Takes the flash peripheral and locates the FTL region `ftl_start..ftl_end` (absolute
/// addresses, from the linker script) in the active board's flash region. Panics if the FTL
/// region is not inside it.
pub fn ftl_region(flash: Peri<'static, FLASH>, ftl_start: u32, ftl_end: u32) -> FtlRegion {
    let (flash, region) = Active::flash_region(flash);
    let region_base = FLASH_BASE as u32 + region.offset;
    let region_size = region.size;
    let erase_size = region.erase_size;
    let offset = ftl_start - region_base;
    let len = ftl_end - ftl_start;
    if ftl_start < region_base || ftl_end > region_base + region_size {
        panic!("FTL region is not inside the flash region the driver was given");
    }
    FtlRegion {
        flash,
        offset,
        len,
        erase_size,
    }
}
