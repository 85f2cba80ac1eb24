//! # The async API: the same FTL over `embedded_storage_async::nor_flash::NorFlash`
//!
//! [`asynch::Ftl`](Ftl) has the blocking [`crate::Ftl`]'s API with `async fn` for every
//! call that touches the flash: `mount`, `format`, `mount_or_format`, `read`, `write`,
//! `trim`, `revert`, `revert_all`, [`Transaction::commit`], `snapshot`, `read_snapshot`,
//! `rollback` and `delete_snapshot`. The rest (staging a transaction, statistics, the
//! invariant check, `release`) is not async. Same on-flash format, same contracts, same
//! [`Counters`], [`Stats`], [`SnapshotId`](crate::SnapshotId) and [`crate::Error`] types:
//! a volume written by one API mounts with the other.
//!
//! ```
//! # use embedded_storage_async::nor_flash::*;
//! # struct Ram(Vec<u8>);
//! # #[derive(Debug)] struct E;
//! # impl NorFlashError for E { fn kind(&self) -> NorFlashErrorKind { NorFlashErrorKind::Other } }
//! # impl ErrorType for Ram { type Error = E; }
//! # impl ReadNorFlash for Ram { const READ_SIZE: usize = 1;
//! #   async fn read(&mut self, o: u32, b: &mut [u8]) -> Result<(), E> { b.copy_from_slice(&self.0[o as usize..o as usize + b.len()]); Ok(()) }
//! #   fn capacity(&self) -> usize { self.0.len() } }
//! # impl NorFlash for Ram { const WRITE_SIZE: usize = 8; const ERASE_SIZE: usize = 2048;
//! #   async fn write(&mut self, o: u32, b: &[u8]) -> Result<(), E> { for (i, x) in b.iter().enumerate() { self.0[o as usize + i] &= x; } Ok(()) }
//! #   async fn erase(&mut self, f: u32, t: u32) -> Result<(), E> { self.0[f as usize..t as usize].fill(0xFF); Ok(()) } }
//! use cowftl::{asynch::Ftl, Config};
//! # embassy_futures::block_on(async {
//! let flash = Ram(vec![0xFF; 256 * 1024]); // any async NorFlash (a QSPI driver, ...)
//! let mut ftl: Ftl<_, 64, 1024> = Ftl::mount_or_format(flash, Config::new(0, 256 * 1024)).await?;
//! ftl.write(7, &[0xAB; 512]).await?;
//! let mut tx = ftl.transaction();
//! tx.write(0, &[1; 512])?; // staged in RAM
//! tx.trim(1)?;
//! tx.commit().await?; // one atomic append
//! let mut buf = [0u8; 512];
//! ftl.read(7, &mut buf).await?;
//! assert_eq!(buf, [0xAB; 512]);
//! # Ok::<(), cowftl::Error<E>>(())
//! # }).unwrap();
//! ```
//!
//! ## One core, two APIs
//!
//! The modules below (`flash`, `log`, `gc`, `scan`, `volume`, `transaction`, `snapshot`) are
//! the FTL's only I/O code, written once, with `async fn` and `.await` over the async trait.
//! This module compiles them as written. The blocking API (`crate::volume`,
//! `crate::transaction`, `crate::snapshot` and the private `crate::{flash, log, gc, scan}`)
//! is the same files compiled again through `cowftl_macros::blocking!` (crate `ftl-macros`,
//! `proc_macro` only): it drops every `async` and `.await` and reads `embedded_storage_async`
//! as `embedded_storage`, whose traits have the same names, methods and constants. The
//! modules name each other with `super::` so that each copy resolves in its own tree; the
//! pure modules (`layout`, `geometry`, `map`, `units`, `table`, `error`, `types`) are shared.
//! Rules for the core: no `async` blocks or closures, no recursion, no I/O inside a closure
//! (a loop instead), no doctests in its files (they would run on both copies: the examples
//! live in `doc/` and here).
//!
//! Why this technique (measured with `firmware/size.sh`, thumbv7em, opt-level z, LTO, on the
//! code of the day the async API came, commit `bbb9924`; current numbers: firmware/README.md):
//!
//! - **Generated blocking copy** (this): the blocking copy is the code as it was before the
//!   async API, token for token, so a blocking-only firmware pays nothing: FTL .text
//!   18 012 B before, 18 012 B after (`size-ftl`). The async copy costs only those who use
//!   it: 30 276 B of .text for the same calls over the same RAM flash (`size-ftl-async`;
//!   futures' state machines and their polling are larger than plain calls).
//! - **Async-only core, blocking API by `block_on`**: one copy of the code, but every
//!   blocking user pays for the state machines and the polling: that is `size-ftl-async`,
//!   30 276 B, +68 % against the 3 % budget; and every call's future (its whole call tree's
//!   locals) is one object on the caller's stack.
//! - **`macro_rules!` emitting both**: the core would have to be written inside a macro
//!   (`maybe_await!` at every call, no rustfmt, no rust-analyzer, errors pointing at the
//!   macro), for the same result as the generated copy.
//! - **A core over an I/O abstraction trait** (callbacks or a sans-I/O state machine): a
//!   rewrite of the recovery and GC logic into explicit states, the riskiest change to code
//!   whose power-cut behaviour the tests pin down op by op.

mod flash;
mod gc;
mod log;
#[doc(hidden)]
pub mod mapio;
#[doc(hidden)]
pub mod mapmount;
#[doc(hidden)]
pub mod mapwork;
mod scan;
pub mod snapshot;
pub mod transaction;
pub mod volume;

pub use crate::types::{Counters, SnapshotId, Stats};
pub use transaction::Transaction;
pub use volume::Ftl;
