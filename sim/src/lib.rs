//! # cowftl-sim: a strict, hostile NOR / WORM flash simulator
//!
//! [`SimFlash`] is a RAM-backed flash implementing the `embedded-storage` NOR flash traits
//! (blocking and async), built to make flash-handling code fail *in tests* the way it would fail on
//! hardware:
//!
//! * **strict rules** — alignment/bounds errors; a program asking for a 1 over a stored 0, a second
//!   program of an ECC word, or a program of a word left unstable by a cut is a *violation* that
//!   panics (or is recorded with [`ViolationMode::Record`]); it is never an ordinary `Err`;
//! * **presets** for real parts ([`presets`]) with datasheet timings feeding a modelled device
//!   time, and counters ([`SimStats`]);
//! * **endurance** and injected erase/program failures;
//! * **power cuts** after N operations or at a byte inside one, leaving torn programs, torn erases
//!   and unstable words that read back differently each time — all deterministic from a seed.
//!
//! Words of parts that allow several programs (SPI NOR) get `MultiwriteNorFlash` through the
//! [`Multiwrite`] wrapper.
//!
//! The simulator alone: it depends on `embedded-storage(-async)` only, not on the FTL. What
//! cowftl tests the FTL with on top of it (model, patterns, part catalog, torture engine) is
//! the `cowftl-testkit` crate (`tests/`); the `cowftl` command-line tool is `cowftl-cli`.
//!
//! ## Example: power-cut test of your own code
//!
//! ```
//! use cowftl_sim::{presets, SimError, Stm32L476Flash};
//! use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
//!
//! // Code under test: append a record to a log living in the first page.
//! fn append<F: NorFlash>(f: &mut F, slot: u32, rec: &[u8; 8]) -> Result<(), F::Error> {
//!     f.write(slot * 8, rec)
//! }
//!
//! // A small chip with the STM32L476's geometry and timings, seeded for reproducibility.
//! let mut flash = Stm32L476Flash::new(presets::stm32l476(8 * 2048), 0xC0FFEE);
//! flash.erase(0, 2048).unwrap();
//! append(&mut flash, 0, b"record-0").unwrap();
//!
//! // Cut power during the next mutating operation.
//! flash.cut_after_ops(0);
//! assert_eq!(append(&mut flash, 1, b"record-1"), Err(SimError::PowerLost));
//! assert!(flash.was_cut() && !flash.is_powered());
//! flash.power_restore();
//!
//! // The acknowledged record survived; the torn one is unstable and may read differently.
//! let mut buf = [0u8; 8];
//! flash.read(0, &mut buf).unwrap();
//! assert_eq!(&buf, b"record-0");
//! assert!(flash.is_unstable(8));
//!
//! // Programming slot 1 again would be a violation (one program per word): this panics.
//! let mut copy = flash.clone();
//! let r = std::panic::catch_unwind(move || append(&mut copy, 1, b"record-1"));
//! assert!(r.is_err());
//!
//! // Counters and modelled time.
//! assert_eq!(flash.stats().erase_ops, 1);
//! assert_eq!(flash.ops(), 3);
//! assert!(flash.stats().device_time_ns >= 22_020_000);
//! ```

mod error;
mod fault;
mod flash;
mod rng;
mod spec;
mod stats;
mod traits;

#[cfg(test)]
mod tests;

pub use error::SimError;
pub use fault::{Rule, TornErase, Violation, ViolationMode};
pub use flash::SimFlash;
pub use rng::SplitMix64;
pub use spec::{presets, PartSpec};
pub use stats::SimStats;
pub use traits::Multiwrite;

/// STM32L476: 2 KiB pages, 8-byte ECC words ([`presets::stm32l476`]).
pub type Stm32L476Flash = SimFlash<1, 8, 2048>;
/// STM32F411 uniform 128 KiB sector region, 4-byte words ([`presets::stm32f411`]).
pub type Stm32F411Flash = SimFlash<1, 4, 131072>;
/// STM32H743: 128 KiB sectors, 32-byte ECC words ([`presets::stm32h743`]).
pub type Stm32H743Flash = SimFlash<1, 32, 131072>;
/// W25Q128-style SPI NOR: 4 KiB sectors, byte writes ([`presets::w25q128`]). Wrap in
/// [`Multiwrite`] (or use [`W25q128Multiwrite`]) for `MultiwriteNorFlash`.
pub type W25q128Flash = SimFlash<1, 1, 4096>;
/// [`W25q128Flash`] with `MultiwriteNorFlash`.
pub type W25q128Multiwrite = Multiwrite<1, 1, 4096>;
/// WORM/OTP part: 8-byte words, erase always fails ([`presets::worm`]).
pub type WormFlash = SimFlash<1, 8, 2048>;
