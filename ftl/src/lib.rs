//! # cowftl — a copy-on-write flash translation layer for NOR and write-once flash
//!
//! `no_std`, no allocation, no `unsafe`. Turns a region of any
//! [`embedded_storage::nor_flash::NorFlash`] into `block_count()` logical blocks of
//! `block_size()` bytes that can be read, written and trimmed, surviving power loss at any
//! instant. Every write goes to a fresh slot (never in place); GC reclaims units; wear is
//! levelled dynamically and statically; failed units are retired.
//!
//! Layers, one module each, each calling only the ones above it:
//! - [`geometry`]: configuration -> layout and capacity; [`layout`]: the on-flash bytes
//!   (spec: `FORMAT.md`), [`table`]: the volume table record (snapshots, rollbacks, reset);
//!   [`map`]: logical block -> slot; [`units`]: per-unit state and wear; [`flashmap`]: the
//!   RAM side of a block map kept on flash (issue 14; a building block the engine does not
//!   use yet);
//! - `flash`: the only caller of the driver (reads, programs, erases, counters, stable reads);
//! - `log`: unit table, map, frontiers, version counter and the append;
//! - `gc`: garbage collection (cost-benefit), wear levelling, retirement;
//! - `scan`: mount (reads only) and format;
//! - [`volume`]: the public [`Ftl`] API (blocking; [`asynch`]: the same over
//!   `embedded_storage_async`, from the same source); [`transaction`]: atomic multi-block
//!   [`Transaction`]s; [`snapshot`]: instant snapshots and rollback; [`storage`], `blockdev`
//!   and [`overlay`] (a volume over a read-only base image): adapters.
//!
//! ## RAM
//! `size_of::<Ftl<F, U, B, S>>() = size_of::<F>() + 4*B*(1 + S) + 20*U + fixed` bytes on x86-64
//! (less on 32-bit): map entries are `u32` (one map, plus one per snapshot slot `S`, 0 by
//! default); per unit a 16-byte `UnitInfo` and a 4-byte retire-table entry; `fixed` (geometry,
//! config, counters, the volume table) is about 350 bytes. Mount adds a scratch table
//! of `U` 24-byte entries on the stack; the call stack adds a few 128-byte buffers. No heap.
//!
//! ```
//! # use embedded_storage::nor_flash::*;
//! # struct Ram(Vec<u8>);
//! # #[derive(Debug)] struct E;
//! # impl NorFlashError for E { fn kind(&self) -> NorFlashErrorKind { NorFlashErrorKind::Other } }
//! # impl ErrorType for Ram { type Error = E; }
//! # impl ReadNorFlash for Ram { const READ_SIZE: usize = 1;
//! #   fn read(&mut self, o: u32, b: &mut [u8]) -> Result<(), E> { b.copy_from_slice(&self.0[o as usize..o as usize + b.len()]); Ok(()) }
//! #   fn capacity(&self) -> usize { self.0.len() } }
//! # impl NorFlash for Ram { const WRITE_SIZE: usize = 8; const ERASE_SIZE: usize = 2048;
//! #   fn write(&mut self, o: u32, b: &[u8]) -> Result<(), E> { for (i, x) in b.iter().enumerate() { self.0[o as usize + i] &= x; } Ok(()) }
//! #   fn erase(&mut self, f: u32, t: u32) -> Result<(), E> { self.0[f as usize..t as usize].fill(0xFF); Ok(()) } }
//! use cowftl::{Config, Ftl};
//! # fn main() -> Result<(), cowftl::Error<E>> {
//! let flash = Ram(vec![0xFF; 256 * 1024]);
//! let cfg = Config::new(0, 256 * 1024);
//! let mut ftl: Ftl<_, 64, 1024> = Ftl::mount_or_format(flash, cfg)?;
//! ftl.write(7, &[0xAB; 512])?;
//! let mut buf = [0u8; 512];
//! ftl.read(7, &mut buf)?;
//! assert_eq!(buf, [0xAB; 512]);
//! let flash = ftl.release();
//! let mut ftl: Ftl<_, 64, 1024> = Ftl::mount(flash, cfg)?;
//! ftl.read(7, &mut buf)?;
//! assert_eq!(buf[0], 0xAB);
//! # Ok(())
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod error;
pub mod flashmap;
pub mod geometry;
pub mod layout;
pub mod map;
pub mod table;
mod types;
pub mod units;

// The blocking core: `engine/` with `async` and `.await` taken out at compile time
// (`engine/mod.rs` says why; `ftl-macros` does it). Same module names and paths as before the
// async API existed.
cowftl_macros::blocking! {
    mod flash = "src/engine/flash.rs";
    mod gc = "src/engine/gc.rs";
    mod log = "src/engine/log.rs";
    #[doc(hidden)]
    pub mod mapio = "src/engine/mapio.rs";
    #[doc(hidden)]
    pub mod mapmount = "src/engine/mapmount.rs";
    #[doc(hidden)]
    pub mod mapwork = "src/engine/mapwork.rs";
    mod scan = "src/engine/scan.rs";
    #[doc = include_str!("doc/snapshot-example.md")]
    pub mod snapshot = "src/engine/snapshot.rs";
    #[doc = include_str!("doc/transaction-example.md")]
    pub mod transaction = "src/engine/transaction.rs";
    pub mod volume = "src/engine/volume.rs";
}

/// The async core, compiled from `engine/` as written.
#[path = "engine/mod.rs"]
pub mod asynch;

mod adapters;
#[cfg(feature = "sdmmc")]
pub use adapters::blockdev;
pub use adapters::overlay;
pub use adapters::storage;

pub use error::Error;
pub use geometry::{Config, ConfigError, Geometry};
pub use map::{MapMode, RamMap};
pub use snapshot::SnapshotId;
pub use transaction::Transaction;
pub use units::{UnitInfo, UnitState, WearSummary};
pub use volume::{Counters, Ftl, Stats};
