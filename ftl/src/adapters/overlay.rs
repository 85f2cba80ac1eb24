//! A volume layered over a read-only base image: [`Overlay`].
//!
//! The base (a factory image in another region of internal flash, or in ROM) is any
//! `ReadNorFlash` holding `block_count × block_size` bytes from `base_offset`; it is only ever
//! read. Blocks never written (and reverted ones) read from the base; writes and trims go
//! copy-on-write into the FTL volume; [`Overlay::revert`] makes one block read the base again
//! and [`Overlay::factory_reset`] all of them, each with one record (atomic, O(1) flash work;
//! GC reclaims the old records later). Like QEMU's backing files, for flash.
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
//! # fn main() -> Result<(), cowftl::Error<E>> {
//! use cowftl::{overlay::Overlay, Config, Ftl};
//! let factory = Ram(vec![0x42; 256 * 1024]); // the base image: read, never written
//! let ftl: Ftl<_, 64, 1024> = Ftl::mount_or_format(Ram(vec![0xFF; 256 * 1024]), Config::new(0, 256 * 1024))?;
//! let mut vol = Overlay::new(ftl, factory, 0).expect("base holds the whole volume");
//! let mut buf = [0u8; 512];
//! vol.read(5, &mut buf)?;
//! assert_eq!(buf, [0x42; 512]); // from the base
//! vol.write(5, &[7; 512])?;
//! vol.read(5, &mut buf)?;
//! assert_eq!(buf, [7; 512]); // from the overlay
//! vol.factory_reset()?; // one record
//! vol.read(5, &mut buf)?;
//! assert_eq!(buf, [0x42; 512]);
//! # Ok(())
//! # }
//! ```

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::error::Error;
use crate::volume::Ftl;

/// Why [`Overlay::new`] refused a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BaseError {
    /// The base does not hold `block_count × block_size` bytes from `base_offset`.
    TooSmall { needed: u64, capacity: u64 },
    /// `base_offset` or the block size is not a multiple of the base's `READ_SIZE`.
    Misaligned,
}

/// An FTL volume over a read-only base image (see the [module docs](self)).
pub struct Overlay<Base, F: NorFlash, const U: usize, const B: usize, const S: usize = 0> {
    ftl: Ftl<F, U, B, S>,
    base: Base,
    base_offset: u32,
}

impl<Base, F: NorFlash, const U: usize, const B: usize, const S: usize> core::fmt::Debug
    for Overlay<Base, F, U, B, S>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Overlay")
            .field("ftl", &self.ftl)
            .field("base_offset", &self.base_offset)
            .finish_non_exhaustive()
    }
}

impl<Base: ReadNorFlash, F: NorFlash, const U: usize, const B: usize, const S: usize>
    Overlay<Base, F, U, B, S>
{
    /// Layer `ftl` over `base` (block `n` of the base starts at `base_offset + n × block_size`).
    pub fn new(mut ftl: Ftl<F, U, B, S>, base: Base, base_offset: u32) -> Result<Self, BaseError> {
        let bs = ftl.block_size();
        let needed = u64::from(base_offset) + u64::from(ftl.block_count()) * u64::from(bs);
        if needed > base.capacity() as u64 {
            return Err(BaseError::TooSmall {
                needed,
                capacity: base.capacity() as u64,
            });
        }
        let rs = Base::READ_SIZE as u32;
        if base_offset % rs != 0 || bs % rs != 0 {
            return Err(BaseError::Misaligned);
        }
        ftl.set_base_backed(true);
        Ok(Overlay {
            ftl,
            base,
            base_offset,
        })
    }

    /// Read block `lba`: the overlay's newest contents, zeros if trimmed, else the base's.
    pub fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Error<F::Error>> {
        if !self.ftl.mapping_checked(lba, buf.len())?.reads_base() {
            return self.ftl.read(lba, buf);
        }
        let at = self.base_offset + lba * self.ftl.block_size();
        self.base.read(at, buf).map_err(|_| Error::Base)
    }

    /// Write block `lba` into the overlay (copy-on-write; the base is untouched).
    pub fn write(&mut self, lba: u32, data: &[u8]) -> Result<(), Error<F::Error>> {
        self.ftl.write(lba, data)
    }

    /// Block `lba` reads zeros (recorded even if it was never written: it hides the base).
    pub fn trim(&mut self, lba: u32) -> Result<(), Error<F::Error>> {
        self.ftl.trim(lba)
    }

    /// Block `lba` reads the base again. One record; atomic.
    pub fn revert(&mut self, lba: u32) -> Result<(), Error<F::Error>> {
        self.ftl.revert(lba)
    }

    /// Every block reads the base again: one record, atomic, O(1) flash work.
    pub fn factory_reset(&mut self) -> Result<(), Error<F::Error>> {
        self.ftl.revert_all()
    }

    /// True if block `lba` currently reads from the base.
    pub fn reads_base(&self, lba: u32) -> bool {
        self.ftl.mapping(lba).reads_base()
    }

    /// The FTL volume (stats, transactions, geometry).
    pub fn ftl_mut(&mut self) -> &mut Ftl<F, U, B, S> {
        &mut self.ftl
    }

    pub fn ftl(&self) -> &Ftl<F, U, B, S> {
        &self.ftl
    }

    /// Take the volume and the base apart.
    pub fn into_parts(mut self) -> (Ftl<F, U, B, S>, Base) {
        self.ftl.set_base_backed(false);
        (self.ftl, self.base)
    }
}
