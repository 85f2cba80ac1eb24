//! The peers (feature `peers`): sequential-storage 8.0.2 and littlefs2 0.8.1, each set up the
//! way their documentation and typical firmware set them up for small records on internal or
//! SPI NOR flash.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use littlefs2::fs::Filesystem;
use littlefs2::path::PathBuf;
use sequential_storage::cache::key_pointers::ArrayKeyPointers;
use sequential_storage::cache::page_pointers::ArrayPagePointers;
use sequential_storage::cache::page_states::ArrayPageStates;
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};

use super::flash::Shared;
use super::sweep::{drive, Plan, Point};
use super::REGION;

pub const SEQ_CONFIG: &str = "MapStorage<u32 key = record number, 512 B &[u8] value> over the \
    whole region, with the crate's full array cache (page states, page pointers, a key pointer \
    per record): the README's fastest setup, which its users pick when RAM allows; driven by a \
    busy-poll block_on over the simulator's async NorFlash";

pub const LFS_CONFIG: &str = "one file per record (`r<n>`, replaced whole with Filesystem::write, \
    i.e. open/truncate/write/close), block = the part's erase unit (2 KiB on the L476, 4 KiB on \
    the W25Q), read/prog size 16, cache 512 (one record), lookahead covering every block, \
    block_cycles 500 (littlefs's suggested 100-1000): the layout littlefs users use for \
    records by number, since a random write inside one big file rewrites the rest of it";

/// Minimal executor: the simulator's async flash never pends, so polling once more after a
/// `Pending` cannot spin for long (and in practice never happens).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Array caches sized for the largest case: 128 pages (L476, 2 KiB) and 512 records (a full
/// 256 KiB region of 512 B values). sequential-storage panics if a page count is too small.
type SeqCache =
    Cache<ArrayPageStates<128>, ArrayPagePointers<128>, ArrayKeyPointers<u32, 512>, u32>;

pub fn seqstor_point<const R: usize, const W: usize, const E: usize>(
    flash: Shared<R, W, E>,
    region: usize,
    plan: &Plan,
) -> Result<Point, String> {
    let probe = flash.clone();
    let cache: SeqCache = Cache::new(
        ArrayPageStates::default(),
        ArrayPagePointers::default(),
        ArrayKeyPointers::default(),
    );
    let cfg = MapConfig::try_new(0..region as u32).map_err(|e| format!("config: {e:?}"))?;
    let mut map = MapStorage::<u32, _, _>::new(flash, cfg, cache);
    block_on(map.erase_all()).map_err(|e| format!("erase: {e:?}"))?;
    // Key (4 B) + value (512 B), rounded up to the flash word: the buffer the docs ask for.
    let mut scratch = [0u8; 1024];
    drive(
        plan,
        region,
        |rec, data| {
            block_on(map.store_item(&mut scratch, &rec, &data)).map_err(|e| format!("{e:?}"))
        },
        || probe.snap(),
    )
}

/// littlefs2's storage: its geometry is a set of associated constants, so each part gets its
/// own type (block = erase unit, block count = region / erase unit).
struct Lfs<const R: usize, const W: usize, const E: usize> {
    flash: Shared<R, W, E>,
}

impl<const R: usize, const W: usize, const E: usize> littlefs2::driver::Storage for Lfs<R, W, E> {
    const READ_SIZE: usize = 16;
    const WRITE_SIZE: usize = 16;
    const BLOCK_SIZE: usize = E;
    const BLOCK_COUNT: usize = REGION / E;
    const BLOCK_CYCLES: isize = 500;
    type CACHE_SIZE = littlefs2::consts::U512;
    /// 16 bytes = 128 blocks, the L476 region's count.
    type LOOKAHEAD_SIZE = littlefs2::consts::U2;

    fn read(&mut self, off: usize, buf: &mut [u8]) -> littlefs2::io::Result<usize> {
        ReadNorFlash::read(&mut self.flash, off as u32, buf)
            .map_err(|_| littlefs2::io::Error::IO)?;
        Ok(buf.len())
    }
    fn write(&mut self, off: usize, data: &[u8]) -> littlefs2::io::Result<usize> {
        NorFlash::write(&mut self.flash, off as u32, data).map_err(|_| littlefs2::io::Error::IO)?;
        Ok(data.len())
    }
    fn erase(&mut self, off: usize, len: usize) -> littlefs2::io::Result<usize> {
        NorFlash::erase(&mut self.flash, off as u32, (off + len) as u32)
            .map_err(|_| littlefs2::io::Error::IO)?;
        Ok(len)
    }
}

/// littlefs2's `Debug` hides the code; name the one a sweep expects.
fn lfs_error(e: littlefs2::io::Error) -> String {
    match e {
        littlefs2::io::Error::NO_SPACE => "NoSpace (LFS_ERR_NOSPC)".into(),
        e => format!("littlefs error {}", e.code()),
    }
}

pub fn littlefs_point<const R: usize, const W: usize, const E: usize>(
    flash: Shared<R, W, E>,
    region: usize,
    plan: &Plan,
) -> Result<Point, String> {
    if region != REGION {
        return Err(format!("littlefs2 is built for a {REGION}-byte region"));
    }
    let probe = flash.clone();
    let mut st = Lfs { flash };
    Filesystem::format(&mut st).map_err(|e| format!("format: {e:?}"))?;
    let name = |r: u32| PathBuf::try_from(format!("r{r}").as_str()).expect("short ASCII path");
    Filesystem::mount_and_then(&mut st, |fs| {
        Ok(drive(
            plan,
            region,
            |rec, data| fs.write(&name(rec), data).map_err(lfs_error),
            || probe.snap(),
        ))
    })
    .map_err(|e| format!("mount: {e:?}"))?
}
