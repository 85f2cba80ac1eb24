//! Instant snapshots: [`Ftl::snapshot`], [`Ftl::read_snapshot`], [`Ftl::rollback`],
//! [`Ftl::delete_snapshot`].
//!
//! A snapshot costs one record: a new volume table (`table.rs`) naming it, and a copy of the
//! block map in RAM (`MAX_SNAPSHOTS` maps of 4 bytes per block, `Ftl`'s fourth const
//! parameter; 0 by default, so volumes without snapshots pay no RAM). Nothing is copied on
//! flash: the snapshot sees every record older than itself, and GC keeps (and moves, with
//! their versions) the records a live snapshot sees. A rollback is one table record too: it
//! declares the versions written since the snapshot dead (a "hole"), and mount counts no
//! record inside one. Records held only by snapshots count against the capacity: a write that
//! would need more live records than the volume exports fails with
//! [`Error::SnapshotFull`] and changes nothing. docs/DESIGN.md, "Snapshots", has the rules.

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::Res;
use super::log::Entry;
use super::mapwork::MapWork;
use super::volume::Ftl;
use crate::error::Error;
use crate::layout::RecordRead;
use crate::table::{VolumeTable, PENDING, TABLE_BYTES, TABLE_HOLES, TABLE_SNAPSHOTS};

pub use crate::types::SnapshotId;

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork> Ftl<F, U, B, S, M> {
    /// Take a snapshot of the whole volume: one table record, no data copied. Fails with
    /// `SnapshotLimit` when all `MAX_SNAPSHOTS` slots are taken (or blocks are smaller than
    /// the 256-byte table).
    pub async fn snapshot(&mut self) -> Res<SnapshotId, F> {
        self.check_writable()?;
        let free = (0..S.min(TABLE_SNAPSHOTS)).find(|&k| self.log.table.snaps[k] == 0);
        let slot = free
            .filter(|_| self.block_size() as usize >= TABLE_BYTES)
            .ok_or(Error::SnapshotLimit)?;
        let mut t = self.log.table;
        t.snaps[slot] = PENDING;
        self.commit_table(&t).await?;
        Ok(SnapshotId {
            slot: slot as u8,
            version: self.log.table.snaps[slot],
        })
    }

    /// The live snapshots, in slot order.
    pub fn snapshots(&self) -> impl Iterator<Item = SnapshotId> + '_ {
        let snaps = self.log.table.snaps.iter().take(S).enumerate();
        snaps
            .filter(|(_, &v)| v != 0)
            .map(|(k, &version)| SnapshotId {
                slot: k as u8,
                version,
            })
    }

    /// Read block `lba` as it was when snapshot `id` was taken.
    pub async fn read_snapshot(&mut self, id: SnapshotId, lba: u32, buf: &mut [u8]) -> Res<(), F> {
        let k = self.live_slot(id)?;
        self.check_args(lba, buf.len())?;
        let m = self.log.snaps[k].get(lba);
        self.read_mapping(lba, m, buf).await
    }

    /// Make the volume equal to snapshot `id` again, atomically (one table record, whatever
    /// changed since). The snapshot stays; snapshots taken after it are deleted (their
    /// versions are rolled back too).
    pub async fn rollback(&mut self, id: SnapshotId) -> Res<(), F> {
        self.check_writable()?;
        self.live_slot(id)?;
        let mut t = self.log.table;
        t.snaps
            .iter_mut()
            .filter(|s| **s > id.version)
            .for_each(|s| *s = 0);
        // Holes from the snapshot on lie inside the new one.
        t.holes
            .iter_mut()
            .filter(|h| h.0 >= id.version)
            .for_each(|h| *h = (0, 0));
        if !t.holes.iter().any(|h| h.0 == 0) {
            self.forget_dead_holes(&mut t).await?;
        }
        let free = t.holes.iter().position(|h| h.0 == 0);
        let free = free.ok_or(Error::SnapshotLimit)?;
        t.holes[free] = (id.version, PENDING);
        self.commit_table(&t).await
    }

    /// Delete snapshot `id`: the records only it held become garbage for GC.
    pub async fn delete_snapshot(&mut self, id: SnapshotId) -> Res<(), F> {
        self.check_writable()?;
        let k = self.live_slot(id)?;
        let mut t = self.log.table;
        t.snaps[k] = 0;
        self.commit_table(&t).await
    }

    fn live_slot(&self, id: SnapshotId) -> Res<usize, F> {
        let k = id.slot();
        match self.log.table.snaps.get(k) {
            Some(&v) if k < S && v != 0 && v == id.version => Ok(k),
            _ => Err(Error::NoSnapshot),
        }
    }

    async fn commit_table(&mut self, t: &VolumeTable) -> Res<(), F> {
        self.host_commit(&[Entry::table(t)]).await
    }

    /// A hole is needed while some record inside it is still on flash (mount would count
    /// it otherwise). Read every record table once and drop the holes nothing is left in.
    async fn forget_dead_holes(&mut self, t: &mut VolumeTable) -> Res<(), F> {
        let mut needed = [false; TABLE_HOLES];
        for unit in 0..self.log.io.geo.unit_count {
            for slot in 0..u32::from(self.log.unit(unit).used) {
                let RecordRead::Valid(r) = self.log.io.read_record(unit, slot).await? else {
                    continue;
                };
                let v = r.claim.version;
                for (i, &(from, to)) in t.holes.iter().enumerate() {
                    needed[i] |= !r.claim.kind.is_meta() && from <= v && v < to;
                }
            }
        }
        for (h, _) in t.holes.iter_mut().zip(needed).filter(|(_, n)| !n) {
            *h = (0, 0);
        }
        Ok(())
    }
}
