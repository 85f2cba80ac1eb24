//! Adapters over the public [`Ftl`](crate::Ftl) API, apart from the core: byte-addressed
//! `embedded-storage` access and a 512-byte `embedded-sdmmc` block device (FAT on NOR).

mod pieces;
pub mod storage;

#[cfg(feature = "sdmmc")]
pub mod blockdev;
pub mod overlay;
