//! # cowftl-testkit: what cowftl's tests, fuzz targets and tools check the FTL with
//!
//! One of each, used by the integration tests (`tests/tests/`), the fuzz targets (`fuzz/`),
//! the command-line tool (`cli/`) and, for [`pattern`] alone, the firmware's on-target checks:
//!
//! - [`api`]: the FTL's calls over either API (blocking or async), for contract tests run on both;
//! - [`pattern`]: the deterministic contents of a block at a generation (`no_std`);
//! - [`model`]: the reference model of what every block must read back;
//! - [`parts`]: the catalog of simulated flash parts;
//! - [`torture`]: the random power-cut torture engine;
//! - [`mount_fuzz`]: the images the mount fuzzers build, and their checks;
//! - [`image`]: a `std::io` window over `embedded_storage::Storage` and the MBR of FAT images.
//!
//! The flash simulator itself is the separate crate `cowftl-sim`, which knows nothing of the
//! FTL. Without the default `std` feature only [`pattern`] is built (`no_std`, no allocation).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod pattern;

#[cfg(feature = "std")]
pub mod api;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod mount_fuzz;
#[cfg(feature = "std")]
pub mod parts;
#[cfg(feature = "std")]
pub mod torture;

#[cfg(feature = "std")]
pub use model::Model;
#[cfg(feature = "std")]
pub use parts::Part;
pub use pattern::fill_pattern;
#[cfg(feature = "std")]
pub use pattern::pattern;
