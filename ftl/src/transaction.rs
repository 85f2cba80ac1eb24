//! Atomic multi-block transactions: [`Transaction`], staged in RAM, committed as one.
//!
//! A transaction collects up to `Ftl::max_transaction_blocks()` writes and trims (the data
//! stays in the caller's buffers: nothing is copied). `commit` appends their records to one
//! unit, the last one marked as the transaction's end; mount counts the others only below
//! their end (docs/DESIGN.md, "Transactions"). So after a power cut at any instant either
//! every block of the transaction reads new or every one reads old, and no extra record is
//! written for it. Dropping a transaction without `commit` writes nothing.
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
//! use cowftl::{Config, Ftl};
//! let mut ftl: Ftl<_, 64, 1024> = Ftl::mount_or_format(Ram(vec![0xFF; 256 * 1024]), Config::new(0, 256 * 1024))?;
//! let (header, body) = ([1u8; 512], [2u8; 512]);
//! let mut tx = ftl.transaction();
//! tx.write(0, &header)?;
//! tx.write(1, &body)?;
//! tx.trim(2)?;
//! tx.commit()?; // blocks 0, 1 and 2 change together, or not at all
//! # Ok(())
//! # }
//! ```

use embedded_storage::nor_flash::NorFlash;

use crate::error::Error;
use crate::flash::Res;
use crate::geometry::MAX_TRANSACTION_BLOCKS;
use crate::layout::RecordKind;
use crate::log::Entry;
use crate::volume::Ftl;

/// Writes and trims staged for one atomic commit. Borrowing the volume, it cannot outlive
/// it, and nothing reaches flash before [`Transaction::commit`].
pub struct Transaction<'f, 'd, F: NorFlash, const U: usize, const B: usize, const S: usize = 0> {
    ftl: &'f mut Ftl<F, U, B, S>,
    /// (block, new contents; `None` = trim), in call order: a later one for the same block
    /// wins, as if they had been applied one by one.
    ops: heapless::Vec<(u32, Option<&'d [u8]>), { MAX_TRANSACTION_BLOCKS as usize }>,
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize> core::fmt::Debug
    for Transaction<'_, '_, F, U, B, S>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transaction")
            .field("blocks", &self.ops.len())
            .finish()
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize> Ftl<F, U, B, S> {
    /// Start a transaction (RAM only: no flash access until `commit`).
    pub fn transaction<'d>(&mut self) -> Transaction<'_, 'd, F, U, B, S> {
        Transaction {
            ftl: self,
            ops: heapless::Vec::new(),
        }
    }
}

impl<'d, F: NorFlash, const U: usize, const B: usize, const S: usize>
    Transaction<'_, 'd, F, U, B, S>
{
    /// Stage a write of block `lba` (exactly one block of `data`).
    pub fn write(&mut self, lba: u32, data: &'d [u8]) -> Res<(), F> {
        self.ftl.check_args(lba, data.len())?;
        self.stage(lba, Some(data))
    }

    /// Stage a trim of block `lba`.
    pub fn trim(&mut self, lba: u32) -> Res<(), F> {
        self.ftl.check_args(lba, self.ftl.block_size() as usize)?;
        self.stage(lba, None)
    }

    /// Blocks staged so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn stage(&mut self, lba: u32, data: Option<&'d [u8]>) -> Res<(), F> {
        if self.ops.len() as u32 >= self.ftl.max_transaction_blocks() {
            return Err(Error::TransactionFull);
        }
        self.ops
            .push((lba, data))
            .map_err(|_| Error::TransactionFull)
    }

    /// Write everything staged as one: when this returns `Ok` all of it is durable; after
    /// a power cut during the call every block reads either all old or all new contents.
    /// On an error nothing changed (as a remount will also show).
    pub fn commit(self) -> Res<(), F> {
        self.ftl.check_writable()?;
        let mut entries = heapless::Vec::<Entry<'d>, { MAX_TRANSACTION_BLOCKS as usize }>::new();
        for (i, &(lba, data)) in self.ops.iter().enumerate() {
            let e = match data {
                Some(d) => Entry::data(lba, d),
                // A trim of a block that holds no data, before or in this transaction,
                // changes nothing: no record.
                None if !self.holds_data(lba, i) => continue,
                None => Entry::record(RecordKind::Trim, lba),
            };
            entries.push(e).map_err(|_| Error::TransactionFull)?;
        }
        if entries.is_empty() {
            return Ok(());
        }
        self.ftl.host_commit(&entries)
    }

    /// Does `lba` read anything but zeros before op `i` of this transaction?
    fn holds_data(&self, lba: u32, i: usize) -> bool {
        let staged = self.ops[..i].iter().rev().find(|(l, _)| *l == lba);
        match staged {
            Some((_, d)) => d.is_some(),
            None => !self.ftl.reads_zeros(lba),
        }
    }
}
