//! The FTL calls the contract tests make, over either API: [`Volume`] is implemented for the
//! blocking [`cowftl::Ftl`] and for [`cowftl::asynch::Ftl`] (each async call driven to its
//! end by `embassy_futures::block_on`), so one generic test runs on both. [`Api`] names a
//! volume type per flash type: [`Blocking`] or [`Async`], with the RAM map (`Api::Vol`) or
//! the block map on flash (`Api::MapVol`).
//!
//! Both impls come from one `macro_rules!` body: the blocking one calls each method and
//! hands the result on, the async one hands the method's future to `block_on`.

use cowftl::flashmap::mode::OnFlash;
use cowftl::map::Mapping;
use cowftl::{Config, Error, Geometry, SnapshotId, Stats, UnitInfo};
use embedded_storage::nor_flash::ErrorType;

/// `Result` of a volume call over flash `F`.
pub type Res<T, F> = Result<T, Error<<F as ErrorType>::Error>>;

/// A volume over flash `F`, blocking calls only.
pub trait Volume<F: ErrorType>: Sized {
    fn mount(flash: F, cfg: Config) -> Res<Self, F>;
    fn format(flash: F, cfg: Config) -> Res<Self, F>;
    fn mount_or_format(flash: F, cfg: Config) -> Res<Self, F>;
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Res<(), F>;
    fn write(&mut self, lba: u32, data: &[u8]) -> Res<(), F>;
    fn trim(&mut self, lba: u32) -> Res<(), F>;
    fn revert(&mut self, lba: u32) -> Res<(), F>;
    fn revert_all(&mut self) -> Res<(), F>;
    /// One transaction: `(lba, Some(data))` writes, `(lba, None)` trims.
    fn commit(&mut self, ops: &[(u32, Option<&[u8]>)]) -> Res<(), F>;
    fn snapshot(&mut self) -> Res<SnapshotId, F>;
    fn read_snapshot(&mut self, id: SnapshotId, lba: u32, buf: &mut [u8]) -> Res<(), F>;
    fn rollback(&mut self, id: SnapshotId) -> Res<(), F>;
    fn delete_snapshot(&mut self, id: SnapshotId) -> Res<(), F>;
    /// The live snapshots, in slot order.
    fn snapshots(&self) -> Vec<SnapshotId>;
    fn block_count(&self) -> u32;
    fn block_size(&self) -> u32;
    fn max_transaction_blocks(&self) -> u32;
    fn geometry(&self) -> &Geometry;
    fn mapping(&self, lba: u32) -> Mapping;
    fn units(&self) -> Vec<UnitInfo>;
    fn stats(&self) -> Stats;
    fn check_invariants(&self) -> Result<(), &'static str>;
    /// `check_invariants`, and with the flash map the valid counts recounted through a
    /// lookup of every block (it reads the map's records): none low; how many slots high.
    fn check_map(&mut self) -> Res<Result<u32, &'static str>, F>;
    /// Where `lba`'s newest record lives, reading the flash map's records if needed.
    fn lookup(&mut self, lba: u32) -> Res<Mapping, F>;
    fn flash(&self) -> &F;
    fn release(self) -> F;
}

/// Picks the volume type of one API for a flash type and the RAM bounds.
pub trait Api {
    /// Printed in failure messages.
    const NAME: &'static str;
    type Vol<F: embedded_storage::nor_flash::NorFlash + embedded_storage_async::nor_flash::NorFlash, const U: usize, const B: usize, const S: usize>: Volume<F>;
    /// The same API over the block map on flash: `Ftl<F, U, 0, 0, OnFlash<P, C, R, Q>>`
    /// (docs/MAP-ON-FLASH.md).
    type MapVol<F: embedded_storage::nor_flash::NorFlash + embedded_storage_async::nor_flash::NorFlash, const U: usize, const P: usize, const C: usize, const R: usize, const Q: usize>: Volume<F>;
}

/// The blocking API, [`cowftl::Ftl`].
#[derive(Debug, Clone, Copy)]
pub struct Blocking;

/// The async API, [`cowftl::asynch::Ftl`], driven by `block_on`.
#[derive(Debug, Clone, Copy)]
pub struct Async;

/// The blocking API's calls return their result: nothing to drive.
fn ready<T>(r: T) -> T {
    r
}

macro_rules! volume_impl {
    ($api:ident, $name:literal, $ftl:ident, $flash:path, $mapwork:path, $run:path) => {
        impl Api for $api {
            const NAME: &'static str = $name;
            type Vol<
                F: embedded_storage::nor_flash::NorFlash + embedded_storage_async::nor_flash::NorFlash,
                const U: usize,
                const B: usize,
                const S: usize,
            > = $ftl::Ftl<F, U, B, S>;
            type MapVol<
                F: embedded_storage::nor_flash::NorFlash + embedded_storage_async::nor_flash::NorFlash,
                const U: usize,
                const P: usize,
                const C: usize,
                const R: usize,
                const Q: usize,
            > = $ftl::Ftl<F, U, 0, 0, OnFlash<P, C, R, Q>>;
        }

        impl<F: $flash, const U: usize, const B: usize, const S: usize, M: $mapwork> Volume<F>
            for $ftl::Ftl<F, U, B, S, M>
        {
            fn mount(flash: F, cfg: Config) -> Res<Self, F> {
                $run($ftl::Ftl::mount(flash, cfg))
            }
            fn format(flash: F, cfg: Config) -> Res<Self, F> {
                $run($ftl::Ftl::format(flash, cfg))
            }
            fn mount_or_format(flash: F, cfg: Config) -> Res<Self, F> {
                $run($ftl::Ftl::mount_or_format(flash, cfg))
            }
            fn read(&mut self, lba: u32, buf: &mut [u8]) -> Res<(), F> {
                $run($ftl::Ftl::read(self, lba, buf))
            }
            fn write(&mut self, lba: u32, data: &[u8]) -> Res<(), F> {
                $run($ftl::Ftl::write(self, lba, data))
            }
            fn trim(&mut self, lba: u32) -> Res<(), F> {
                $run($ftl::Ftl::trim(self, lba))
            }
            fn revert(&mut self, lba: u32) -> Res<(), F> {
                $run($ftl::Ftl::revert(self, lba))
            }
            fn revert_all(&mut self) -> Res<(), F> {
                $run($ftl::Ftl::revert_all(self))
            }
            fn commit(&mut self, ops: &[(u32, Option<&[u8]>)]) -> Res<(), F> {
                let mut tx = self.transaction();
                for &(lba, data) in ops {
                    match data {
                        Some(d) => tx.write(lba, d)?,
                        None => tx.trim(lba)?,
                    }
                }
                $run(tx.commit())
            }
            fn snapshot(&mut self) -> Res<SnapshotId, F> {
                $run($ftl::Ftl::snapshot(self))
            }
            fn read_snapshot(&mut self, id: SnapshotId, lba: u32, buf: &mut [u8]) -> Res<(), F> {
                $run($ftl::Ftl::read_snapshot(self, id, lba, buf))
            }
            fn rollback(&mut self, id: SnapshotId) -> Res<(), F> {
                $run($ftl::Ftl::rollback(self, id))
            }
            fn delete_snapshot(&mut self, id: SnapshotId) -> Res<(), F> {
                $run($ftl::Ftl::delete_snapshot(self, id))
            }
            fn snapshots(&self) -> Vec<SnapshotId> {
                $ftl::Ftl::snapshots(self).collect()
            }
            fn block_count(&self) -> u32 {
                $ftl::Ftl::block_count(self)
            }
            fn block_size(&self) -> u32 {
                $ftl::Ftl::block_size(self)
            }
            fn max_transaction_blocks(&self) -> u32 {
                $ftl::Ftl::max_transaction_blocks(self)
            }
            fn geometry(&self) -> &Geometry {
                $ftl::Ftl::geometry(self)
            }
            fn mapping(&self, lba: u32) -> Mapping {
                $ftl::Ftl::mapping(self, lba)
            }
            fn units(&self) -> Vec<UnitInfo> {
                $ftl::Ftl::units(self).collect()
            }
            fn stats(&self) -> Stats {
                $ftl::Ftl::stats(self)
            }
            fn check_invariants(&self) -> Result<(), &'static str> {
                $ftl::Ftl::check_invariants(self)
            }
            fn check_map(&mut self) -> Res<Result<u32, &'static str>, F> {
                $run($ftl::Ftl::check_map(self))
            }
            fn lookup(&mut self, lba: u32) -> Res<Mapping, F> {
                $run($ftl::Ftl::lookup(self, lba))
            }
            fn flash(&self) -> &F {
                $ftl::Ftl::flash(self)
            }
            fn release(self) -> F {
                $ftl::Ftl::release(self)
            }
        }
    };
}

mod blocking_ftl {
    pub use cowftl::Ftl;
}

volume_impl!(
    Blocking,
    "blocking",
    blocking_ftl,
    embedded_storage::nor_flash::NorFlash,
    cowftl::mapwork::MapWork,
    ready
);
volume_impl!(
    Async,
    "async",
    asynch,
    embedded_storage_async::nor_flash::NorFlash,
    cowftl::asynch::mapwork::MapWork,
    embassy_futures::block_on
);

use cowftl::asynch;
