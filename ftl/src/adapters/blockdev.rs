//! A 512-byte block device for FAT: [`FtlBlockDevice`] implements
//! `embedded_sdmmc::BlockDevice` (embedded-sdmmc 0.10, cargo feature `sdmmc`) over the FTL, so
//! a FAT16/FAT32 volume managed by embedded-sdmmc lives on NOR flash.
//!
//! # Design
//! - `BlockDevice` methods take `&self`; the adapter keeps the [`FtlStorage`] (FTL plus its
//!   `BS`-byte buffer) in a [`core::cell::RefCell`]. That makes it `!Sync`: use it from one
//!   execution context (wrap it in a mutex of your choice to share it). The borrow cannot
//!   fail: no method calls back into user code while it holds the borrow.
//! - **Block sizes**: any FTL block size that divides 512 (64, 128, 256: each sector is
//!   several FTL blocks, written straight from the sector, no copy) or is a multiple of 512
//!   (1024, 2048, ...: sectors are packed into FTL blocks; a call writes each FTL block it
//!   touches exactly once, read-modify-writing only FTL blocks the call covers partially).
//!   Anything else, or an FTL block larger than `BS`, is rejected by [`FtlBlockDevice::new`].
//! - **Size**: `num_blocks()` = exported bytes / 512 (rounded down).
//! - **Power loss**: each FTL block is atomic, so a 512-byte sector is never torn when the FTL
//!   block size is >= 512 (and is written in ascending FTL-block order below 512). FAT itself
//!   is not transactional: a cut during a FAT update can leak clusters, but files closed
//!   before the cut stay intact because each sector holds its old or new contents.
//! - Errors are the FTL's [`Error`](crate::Error) wrapped in [`BlockDeviceError`] (which
//!   implements `core::error::Error`, as embedded-sdmmc requires).
//!
//! RAM: `size_of::<Ftl<F, U, B>>() + 2 * BS + 8` (the [`FtlStorage`] inside has two
//! buffers; the block device uses one).
//!
//! ```ignore
//! use cowftl::{blockdev::FtlBlockDevice, Config, Ftl};
//! use embedded_sdmmc::{VolumeIdx, VolumeManager};
//! let ftl: Ftl<_, 64, 1024> = Ftl::mount(flash, Config::new(0, 512 * 1024))?;
//! let dev: FtlBlockDevice<_, 64, 1024> = FtlBlockDevice::new(ftl)?;
//! let vm = VolumeManager::new(dev, clock);
//! let volume = vm.open_volume(VolumeIdx(0))?;
//! ```

use core::cell::RefCell;
use core::ops::Range;

use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};
use embedded_storage::nor_flash::NorFlash;

use crate::adapters::pieces::{Piece, Pieces};
use crate::adapters::storage::{AdapterError, FtlStorage};
use crate::error::Error;
use crate::map::RamMap;
use crate::mapwork::MapWork;
use crate::volume::Ftl;

/// Sector size of the block device.
pub const SECTOR: usize = Block::LEN;

/// The FTL's error, made a `core::error::Error` for embedded-sdmmc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BlockDeviceError<E>(pub Error<E>);

impl<E: core::fmt::Debug> core::fmt::Display for BlockDeviceError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl<E: core::fmt::Debug> core::error::Error for BlockDeviceError<E> {}

impl<E> From<Error<E>> for BlockDeviceError<E> {
    fn from(e: Error<E>) -> Self {
        BlockDeviceError(e)
    }
}

/// `embedded_sdmmc::BlockDevice` (512-byte sectors) over an [`Ftl`].
pub struct FtlBlockDevice<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const BS: usize = 512,
    const S: usize = 0,
    M: MapWork = RamMap,
> {
    inner: RefCell<FtlStorage<F, U, B, BS, S, M>>,
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    core::fmt::Debug for FtlBlockDevice<F, U, B, BS, S, M>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FtlBlockDevice")
            .field("storage", &self.inner)
            .finish()
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    FtlBlockDevice<F, U, B, BS, S, M>
{
    /// Whether [`new`](Self::new) would accept `ftl`: its block size must divide 512 or be
    /// a multiple of it, and fit in `BS`.
    pub fn check(ftl: &Ftl<F, U, B, S, M>) -> Result<(), AdapterError> {
        let block_size = ftl.block_size();
        let bs = block_size as usize;
        if SECTOR % bs != 0 && bs % SECTOR != 0 {
            return Err(AdapterError::BlockSizeIncompatible { block_size });
        }
        FtlStorage::<F, U, B, BS, S, M>::check(ftl)
    }

    /// Wrap `ftl`, or say why its block size does not fit (the FTL is dropped then: use
    /// [`check`](Self::check) first to keep it).
    pub fn new(ftl: Ftl<F, U, B, S, M>) -> Result<Self, AdapterError> {
        Self::check(&ftl)?;
        let storage = FtlStorage::new(ftl)?;
        Ok(FtlBlockDevice {
            inner: RefCell::new(storage),
        })
    }

    /// Unwrap: give the FTL back.
    pub fn into_inner(self) -> Ftl<F, U, B, S, M> {
        self.inner.into_inner().into_inner()
    }

    /// Run `f` on the FTL (statistics, trim, ...).
    pub fn with_ftl<R>(&self, f: impl FnOnce(&mut Ftl<F, U, B, S, M>) -> R) -> R {
        f(self.inner.borrow_mut().ftl_mut())
    }

    /// Number of 512-byte sectors exported.
    pub fn sectors(&self) -> u32 {
        let bytes = self.inner.borrow().capacity_bytes() / SECTOR as u64;
        bytes.min(u32::MAX as u64) as u32
    }

    fn check_range(&self, start: BlockIdx, count: usize) -> Result<(), BlockDeviceError<F::Error>> {
        if start.0 as u64 + count as u64 > self.sectors() as u64 {
            return Err(BlockDeviceError(Error::OutOfRange));
        }
        Ok(())
    }

    /// Run `f` on each FTL-block piece of sectors `start..start + count` in ascending
    /// order, with the FTL and a block-sized buffer, once the sectors are known to exist.
    /// Piece buffer offsets are bytes into the caller's sectors (sector `at / 512`).
    fn for_each_piece(
        &self,
        start: BlockIdx,
        count: usize,
        mut f: impl FnMut(&mut Ftl<F, U, B, S, M>, &mut [u8], Piece) -> Result<(), Error<F::Error>>,
    ) -> Result<(), BlockDeviceError<F::Error>> {
        self.check_range(start, count)?;
        let mut s = self.inner.borrow_mut();
        let s = &mut *s;
        let bs = s.ftl.block_size() as usize;
        let offset = u64::from(start.0) * SECTOR as u64;
        let pieces = count
            .checked_mul(SECTOR)
            .and_then(|len| Pieces::new(offset, len, bs))
            .ok_or(BlockDeviceError(Error::OutOfRange))?;
        for p in pieces {
            f(&mut s.ftl, &mut s.buf[..bs], p)?;
        }
        Ok(())
    }
}

/// Where piece `p` lies in the caller's sectors (index, bytes) if it is a whole FTL block
/// inside one sector, as with FTL blocks of 512 bytes or less: it then moves straight
/// between the FTL and the sector, without a copy through the buffer.
fn in_one_sector(p: &Piece) -> Option<(usize, Range<usize>)> {
    let within = p.at % SECTOR;
    (p.is_whole() && within + p.len <= SECTOR).then(|| (p.at / SECTOR, within..within + p.len))
}

/// Copy `src` into the caller's sectors from byte `at` of them on.
fn scatter(src: &[u8], sectors: &mut [Block], at: usize) {
    // Split by sectors: the "block" of each piece is a sector.
    for q in Pieces::new(at as u64, src.len(), SECTOR)
        .into_iter()
        .flatten()
    {
        sectors[q.lba as usize].contents[q.in_block()].copy_from_slice(&src[q.in_buf()]);
    }
}

/// Copy the caller's sectors from byte `at` of them on into `dst`.
fn gather(sectors: &[Block], at: usize, dst: &mut [u8]) {
    for q in Pieces::new(at as u64, dst.len(), SECTOR)
        .into_iter()
        .flatten()
    {
        dst[q.in_buf()].copy_from_slice(&sectors[q.lba as usize].contents[q.in_block()]);
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    BlockDevice for FtlBlockDevice<F, U, B, BS, S, M>
where
    F::Error: 'static,
{
    type Error = BlockDeviceError<F::Error>;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), Self::Error> {
        self.for_each_piece(start, blocks.len(), |ftl, buf, p| {
            if let Some((i, within)) = in_one_sector(&p) {
                return ftl.read(p.lba, &mut blocks[i].contents[within]);
            }
            // An FTL block holding several sectors (or part of them): read it once, hand
            // out the sectors asked for.
            ftl.read(p.lba, buf)?;
            scatter(&buf[p.in_block()], blocks, p.at);
            Ok(())
        })
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), Self::Error> {
        self.for_each_piece(start, blocks.len(), |ftl, buf, p| {
            if let Some((i, within)) = in_one_sector(&p) {
                return ftl.write(p.lba, &blocks[i].contents[within]);
            }
            // Gather this call's sectors of the FTL block and write it once (a write per
            // sector would multiply the write amplification); only a block the call covers
            // partially needs its old contents first.
            if !p.is_whole() {
                ftl.read(p.lba, buf)?;
            }
            gather(blocks, p.at, &mut buf[p.in_block()]);
            ftl.write(p.lba, buf)
        })
    }

    fn num_blocks(&self) -> Result<BlockCount, Self::Error> {
        Ok(BlockCount(self.sectors()))
    }
}
