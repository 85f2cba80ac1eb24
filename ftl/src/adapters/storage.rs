//! Byte-addressed access: [`FtlStorage`] implements `embedded_storage::{ReadStorage, Storage}`
//! over the FTL's logical blocks, so any driver written against embedded-storage's `Storage`
//! (configuration stores, key/value crates, bootloader state) runs on NOR flash without
//! knowing about erase units, write words or power loss.
//!
//! # Design
//! - **Owns the [`Ftl`]** (like an embedded-hal driver owns its bus): build it with
//!   [`FtlStorage::new`], get it back with [`FtlStorage::into_inner`], reach it meanwhile with
//!   [`FtlStorage::ftl`] / [`FtlStorage::ftl_mut`] (e.g. for `trim` or `stats`). To keep using
//!   the flash afterwards, build the FTL over `&mut flash`.
//! - **No heap**: partial blocks are read-modify-written through two fixed buffers of `BS`
//!   bytes stored inside the wrapper (`BS` defaults to 512; one for the first block of a
//!   write, one for its last). `BS` must be at least the FTL's block
//!   size; [`FtlStorage::new`] rejects the pair otherwise. The error does not carry the FTL
//!   back (a `Result` with two FTL-sized variants makes LLVM's compile time explode at large
//!   `MAX_BLOCKS`): call [`FtlStorage::check`] first if the FTL owns its flash and you want
//!   to keep it on failure. RAM: `size_of::<Ftl<F, U, B>>() + 2 * BS`.
//! - **Addresses**: byte `a` lives in logical block `a / block_size` at offset
//!   `a % block_size`. [`ReadStorage::capacity`] is the exported bytes,
//!   `block_count * block_size`. Offsets are `u32`, so at most the first 4 GiB are addressable.
//! - **Writes**: each call writes every block it touches exactly once, as transactions of
//!   up to `Ftl::max_transaction_blocks()` blocks (8 by default) in ascending order: whole
//!   blocks straight from the caller's slice, the partial first and last blocks by
//!   read-modify-write through the buffers. A call that returned `Ok` is durable.
//! - **Power loss** inside a call: a write that spans at most `max_transaction_blocks()`
//!   blocks is atomic: all of it or none of it, on every later mount. A longer one is
//!   atomic per transaction, and as the transactions go in ascending order and the FTL
//!   recovers a prefix of its operations, the new contents form a prefix of the range.
//! - **Erased state**: never-written (and trimmed) bytes read as `0x00`, not `0xFF`: this is
//!   a block device, not raw NOR. There is no erase: `write` overwrites.
//! - **Errors**: a range past the capacity is [`Error::OutOfRange`] (nothing is read or
//!   written); everything else is the FTL's [`Error`] (e.g. `ReadOnly`, `NoSpace`, `Corrupt`).
//!   A read never returns data that failed its CRC.
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
//! use cowftl::{storage::FtlStorage, Config, Ftl};
//! use embedded_storage::{ReadStorage, Storage};
//!
//! let flash = Ram(vec![0xFF; 128 * 1024]);
//! let ftl: Ftl<_, 64, 256> = Ftl::mount_or_format(flash, Config::new(0, 128 * 1024)).unwrap();
//! let mut storage: FtlStorage<_, 64, 256> = FtlStorage::new(ftl).unwrap();
//! storage.write(1000, b"hello, NOR").unwrap(); // crosses no block: one read-modify-write
//! let mut buf = [0u8; 10];
//! storage.read(1000, &mut buf).unwrap();
//! assert_eq!(&buf, b"hello, NOR");
//! assert!(storage.read(storage.capacity() as u32 - 4, &mut buf).is_err()); // out of range
//! ```

use embedded_storage::nor_flash::NorFlash;
use embedded_storage::{ReadStorage, Storage};

use crate::adapters::pieces::{Piece, Pieces};
use crate::error::Error;
use crate::map::RamMap;
use crate::mapwork::MapWork;
use crate::volume::Ftl;

/// Why an adapter refused to wrap an FTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AdapterError {
    /// The FTL's block size is larger than the adapter's read-modify-write buffer (`BS`).
    BufferTooSmall { block_size: u32, buffer: usize },
    /// The FTL's block size neither divides 512 nor is a multiple of it (block device only).
    BlockSizeIncompatible { block_size: u32 },
}

impl core::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AdapterError::BufferTooSmall { block_size, buffer } => write!(
                f,
                "FTL block size {block_size} exceeds the adapter buffer of {buffer} bytes \
                 (raise the BS parameter)"
            ),
            AdapterError::BlockSizeIncompatible { block_size } => write!(
                f,
                "FTL block size {block_size} neither divides nor is a multiple of 512"
            ),
        }
    }
}

/// `embedded_storage::{ReadStorage, Storage}` over an [`Ftl`], with a `BS`-byte
/// read-modify-write buffer (see the [module docs](self) for the semantics).
pub struct FtlStorage<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const BS: usize = 512,
    const S: usize = 0,
    M: MapWork = RamMap,
> {
    pub(crate) ftl: Ftl<F, U, B, S, M>,
    pub(crate) buf: [u8; BS],
    /// The last block of a write that ends inside it (the first one uses `buf`).
    tail: [u8; BS],
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    core::fmt::Debug for FtlStorage<F, U, B, BS, S, M>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FtlStorage")
            .field("ftl", &self.ftl)
            .field("buffer", &BS)
            .finish()
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    FtlStorage<F, U, B, BS, S, M>
{
    /// Whether [`new`](Self::new) would accept `ftl` (its block size fits in `BS`).
    pub fn check(ftl: &Ftl<F, U, B, S, M>) -> Result<(), AdapterError> {
        let block_size = ftl.block_size();
        if block_size as usize > BS {
            return Err(AdapterError::BufferTooSmall {
                block_size,
                buffer: BS,
            });
        }
        Ok(())
    }

    /// Wrap `ftl`. Fails if its block size exceeds `BS` (the FTL is dropped then: use
    /// [`check`](Self::check) first to keep it).
    pub fn new(ftl: Ftl<F, U, B, S, M>) -> Result<Self, AdapterError> {
        Self::check(&ftl)?;
        Ok(FtlStorage {
            ftl,
            buf: [0; BS],
            tail: [0; BS],
        })
    }

    /// The FTL (block size, stats, geometry).
    pub fn ftl(&self) -> &Ftl<F, U, B, S, M> {
        &self.ftl
    }

    /// The FTL, mutably (block-level `read`/`write`/`trim`).
    pub fn ftl_mut(&mut self) -> &mut Ftl<F, U, B, S, M> {
        &mut self.ftl
    }

    /// Unwrap: give the FTL back.
    pub fn into_inner(self) -> Ftl<F, U, B, S, M> {
        self.ftl
    }

    /// Exported bytes (`block_count * block_size`).
    pub fn capacity_bytes(&self) -> u64 {
        self.ftl.geometry().capacity_bytes()
    }

    fn check_range(&self, offset: u32, len: usize) -> Result<(), Error<F::Error>> {
        if offset as u64 + len as u64 > self.capacity_bytes() {
            return Err(Error::OutOfRange);
        }
        Ok(())
    }

    /// Trim every logical block lying entirely inside `offset..offset + len` (they read as
    /// zeros afterwards and their flash space is reclaimed); partial blocks at the edges are
    /// left alone. Useful after deleting data.
    pub fn discard(&mut self, offset: u32, len: usize) -> Result<(), Error<F::Error>> {
        for p in self.pieces(offset, len)?.filter(Piece::is_whole) {
            self.ftl.trim(p.lba)?;
        }
        Ok(())
    }

    /// The per-block pieces of `offset..offset + len`, once the range is known to fit.
    fn pieces(&self, offset: u32, len: usize) -> Result<Pieces, Error<F::Error>> {
        self.check_range(offset, len)?;
        let bs = self.ftl.block_size() as usize;
        Pieces::new(u64::from(offset), len, bs).ok_or(Error::OutOfRange)
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    ReadStorage for FtlStorage<F, U, B, BS, S, M>
{
    type Error = Error<F::Error>;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let bs = self.ftl.block_size() as usize;
        for p in self.pieces(offset, bytes.len())? {
            let out = &mut bytes[p.in_buf()];
            if p.is_whole() {
                self.ftl.read(p.lba, out)?;
            } else {
                // The FTL reads whole blocks only: through the buffer.
                let buf = &mut self.buf[..bs];
                self.ftl.read(p.lba, buf)?;
                out.copy_from_slice(&buf[p.in_block()]);
            }
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity_bytes() as usize
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    Storage for FtlStorage<F, U, B, BS, S, M>
{
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let mut pieces = self.pieces(offset, bytes.len())?;
        let per_txn = self.ftl.max_transaction_blocks();
        while !pieces.is_empty() {
            // Up to one transaction's worth of blocks, counted from the current block:
            // written all or nothing, in ascending order.
            self.write_transaction(pieces.take_blocks(per_txn), bytes)?;
        }
        Ok(())
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const BS: usize, const S: usize, M: MapWork>
    FtlStorage<F, U, B, BS, S, M>
{
    /// Write one group of pieces (at most `max_transaction_blocks` blocks, buffer offsets
    /// into `bytes`) as one transaction: whole blocks straight from `bytes`, partial ones
    /// merged with their old contents beforehand (the open transaction holds the FTL).
    /// Only the first and last blocks of a write can be partial, so a partial piece is the
    /// group's first (merged in `buf`) or its last (merged in `tail`): two buffers suffice.
    fn write_transaction(&mut self, group: Pieces, bytes: &[u8]) -> Result<(), Error<F::Error>> {
        let bs = self.ftl.block_size() as usize;
        for (i, p) in group.clone().enumerate().filter(|(_, p)| !p.is_whole()) {
            let buf = if i == 0 {
                &mut self.buf
            } else {
                &mut self.tail
            };
            self.ftl.read(p.lba, &mut buf[..bs])?;
            buf[p.in_block()].copy_from_slice(&bytes[p.in_buf()]);
        }
        let mut tx = self.ftl.transaction();
        for (i, p) in group.enumerate() {
            let block = match (p.is_whole(), i) {
                (true, _) => &bytes[p.in_buf()],
                (false, 0) => &self.buf[..bs],
                (false, _) => &self.tail[..bs],
            };
            tx.write(p.lba, block)?;
        }
        tx.commit()
    }
}
