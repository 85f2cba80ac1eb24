//! Atomic multi-block transactions: [`Transaction`], staged in RAM, committed as one.
//!
//! A transaction collects up to `Ftl::max_transaction_blocks()` writes and trims (the data
//! stays in the caller's buffers: nothing is copied). `commit` appends their records to one
//! unit, the last one marked as the transaction's end; mount counts the others only below
//! their end (docs/DESIGN.md, "Transactions"). So after a power cut at any instant either
//! every block of the transaction reads new or every one reads old, and no extra record is
//! written for it. Dropping a transaction without `commit` writes nothing.

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::Res;
use super::log::Entry;
use super::mapwork::MapWork;
use super::volume::Ftl;
use crate::error::Error;
use crate::geometry::MAX_TRANSACTION_BLOCKS;
use crate::layout::RecordKind;
use crate::map::{MapMode, RamMap};

/// Writes and trims staged for one atomic commit. Borrowing the volume, it cannot outlive
/// it, and nothing reaches flash before [`Transaction::commit`].
pub struct Transaction<
    'f,
    'd,
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize = 0,
    M: MapMode = RamMap,
> {
    ftl: &'f mut Ftl<F, U, B, S, M>,
    /// (block, new contents; `None` = trim), in call order: a later one for the same block
    /// wins, as if they had been applied one by one.
    ops: heapless::Vec<(u32, Option<&'d [u8]>), { MAX_TRANSACTION_BLOCKS as usize }>,
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork> core::fmt::Debug
    for Transaction<'_, '_, F, U, B, S, M>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transaction")
            .field("blocks", &self.ops.len())
            .finish()
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork> Ftl<F, U, B, S, M> {
    /// Start a transaction (RAM only: no flash access until `commit`).
    pub fn transaction<'d>(&mut self) -> Transaction<'_, 'd, F, U, B, S, M> {
        Transaction {
            ftl: self,
            ops: heapless::Vec::new(),
        }
    }
}

impl<'d, F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork>
    Transaction<'_, 'd, F, U, B, S, M>
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
    pub async fn commit(self) -> Res<(), F> {
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
        self.ftl.host_commit(&entries).await
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
