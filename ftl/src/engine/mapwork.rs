//! The flash map's own work between operations (issue 14): writing the change buffer as a
//! run before an operation could overflow it, and merging the runs into pages before the
//! run index fills. Above GC: a merge's page records take room like host writes, GC rounds
//! included. The RAM map has no such work.

// The traits are public only because `Ftl`'s impls name them in bounds; their methods take the
// crate's `Log`, so nothing outside the crate can call or implement them.
#![allow(private_interfaces)]

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::Res;
use super::gc;
use super::log::{Entry, Log, Source, Stream};
use super::mapio::{checkpoint, read_map_record, room_for_map_txn, MapIo, RecordBuf, Writer};
use super::scan::Mount;
use crate::error::Error;
use crate::flashmap::mode::{OnFlash, MAX_MAP_BLOCK};
use crate::flashmap::{Source as MapSource, NO_LOC};
use crate::layout::{RecordKind, CRC};
use crate::map::RamMap;

/// What a map mode does between operations.
#[allow(async_fn_in_trait)] // the async copy's futures are polled by the caller's executor
pub trait MapWork: Mount {
    /// Before an operation: room in the buffer for what it changes, a merge if one is due.
    async fn between_ops<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F>;
}

impl MapWork for RamMap {
    async fn between_ops<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        Ok(())
    }
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> MapWork
    for OnFlash<P, C, R, Q>
{
    async fn between_ops<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        // The operation's own records, and one GC round before the next admission check.
        // A root owed is written first; without room for it the operation goes on (its GC
        // round makes room) and the next one tries again: until it lands, mount replays
        // from the last root and units not covered by it are not erased.
        if log.mode.root_due {
            match checkpoint(log, Writer::Host).await {
                Err(Error::NoSpace) => {}
                r => r?,
            }
        }
        if merge_due(log) {
            merge(log).await?;
        }
        let need = log.io.geo.txn_blocks + log.io.geo.slots_per_unit;
        // Without a unit for the run, GC rounds make one (their own admission may take the
        // last unit: `Writer::Gc`); each round that finds a victim gives a unit back.
        for _ in 0..log.io.geo.unit_count {
            match Self::admit(log, need, Writer::Host).await {
                Err(Error::NoSpace) if gc::collect_one(log).await? => {}
                r => return r,
            }
        }
        Err(Error::NoSpace)
    }
}

/// A merge is under way, or half the run index is taken: the other half is for the runs
/// the merge's own page writes cause (they run GC, whose copies fill the buffer).
fn merge_due<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    const P: usize,
    const C: usize,
    const R: usize,
    const Q: usize,
>(
    log: &Log<F, U, B, S, OnFlash<P, C, R, Q>>,
) -> bool {
    let Some(map) = log.mode.map.as_ref() else {
        return false;
    };
    let parts: usize = map.runs().iter().map(|r| usize::from(r.parts)).sum();
    let urgent = log.mode.merge_now || map.merging().is_some();
    urgent || 2 * map.runs().len() >= R || 2 * parts >= Q
}

/// Merge every run into the pages: each page a run touched is rewritten, one record at a
/// time; the replaced pages, then the runs' records, become garbage. Resumes a merge an
/// earlier operation left unfinished (a failed append).
async fn merge<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    const P: usize,
    const C: usize,
    const R: usize,
    const Q: usize,
>(
    log: &mut Log<F, U, B, S, OnFlash<P, C, R, Q>>,
) -> Res<(), F> {
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    if map.merging().is_none() {
        let k = map.runs().len();
        map.merge_start(k).map_err(|_| Error::Corrupt)?;
    }
    for _ in 0..P + 1 {
        let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
        let Some(page) = map.merge_next() else {
            break;
        };
        merge_page(log, page).await?;
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let mut garbage = heapless::Vec::<u32, Q>::new();
    map.merge_finish(|loc| {
        let _ = garbage.push(loc);
    })
    .map_err(|_| Error::Corrupt)?;
    for loc in garbage {
        log.drop_location(loc);
    }
    log.mode.merge_now = false;
    // The merged runs' records and the replaced pages may now be erased; a mount after that
    // finds the new pages (newer) and drops the runs whose records are gone (`mapmount`).
    // The root names the new state; without room for it, it is owed (`root_due`): the
    // merge stands, and the next operation writes the root first.
    match checkpoint(log, Writer::Host).await {
        Err(Error::NoSpace) => Ok(()),
        r => r,
    }
}

/// Rewrite `page` with the merged runs' changes (or pass it if none falls in it).
async fn merge_page<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    const P: usize,
    const C: usize,
    const R: usize,
    const Q: usize,
>(
    log: &mut Log<F, U, B, S, OnFlash<P, C, R, Q>>,
    page: u32,
) -> Res<(), F> {
    // Room first, from the units the map holds for merges (no GC: a merge causes no run);
    // with them spent, through GC (whose rounds may move the records read below, never
    // change them).
    let keep = log.io.geo.gc_headroom(log.units.retired()) + 1;
    let s = match room_for_map_txn(log, 1, keep).await {
        Err(Error::NoSpace) => match gc::room_for_host(log, 1, Stream::Cold).await {
            // GC's rounds need a run, and the index is full until this merge ends: the
            // merge takes GC's units instead (its pages replace pages, its runs become
            // garbage, so GC has more to reclaim after it; docs/MAP-ON-FLASH.md, "Wedges").
            Err(Error::NoSpace) if log.mode.merge_now => room_for_map_txn(log, 1, 0).await?,
            r => r?,
        },
        r => r?,
    };
    let bs = log.io.geo.block_size as usize;
    let mut out: RecordBuf = [0xFF; MAX_MAP_BLOCK as usize];
    if !build_page(log, page, &mut out).await? {
        let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
        return map.page_skip(page).map_err(|_| Error::Corrupt);
    }
    let out = &out[..bs];
    let e = Entry {
        kind: RecordKind::MapPage,
        lba: page,
        src: Source::Buffer(out),
        data_crc: CRC.checksum(out),
        moved: None,
        origin: None,
    };
    let (unit, slot) = log.append(s, &e).await?;
    let at = unit * log.io.geo.slots_per_unit + slot;
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let old = map.page_written(page, at).map_err(|_| Error::Corrupt)?;
    if old != NO_LOC {
        log.drop_location(old);
    }
    Ok(())
}

/// Build `page` in `out`: its current record, then each merged part that touches it, oldest
/// first. `false` if no merged change fell in the page.
async fn build_page<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    const P: usize,
    const C: usize,
    const R: usize,
    const Q: usize,
>(
    log: &mut Log<F, U, B, S, OnFlash<P, C, R, Q>>,
    page: u32,
    out: &mut RecordBuf,
) -> Res<bool, F> {
    let bs = log.io.geo.block_size as usize;
    let mut rec: RecordBuf = [0; MAX_MAP_BLOCK as usize];
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    let old = match map.page_loc(page) {
        Some(loc) => Some(read_map_record(log, loc, RecordKind::MapPage, page, &mut rec).await?),
        None => None,
    };
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    map.page_begin(page, old.map(|v| (&rec[..bs], v)), &mut out[..bs])
        .map_err(|_| Error::Corrupt)?;
    let mut changed = false;
    for i in 0..Q {
        let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
        let Some(src) = map.merge_sources(page).nth(i) else {
            break;
        };
        let MapSource::Part { run, loc, .. } = src else {
            return Err(Error::Corrupt);
        };
        let version = read_map_record(log, loc, RecordKind::MapDelta, run, &mut rec).await?;
        let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
        let (_, ch) = map
            .page_apply(page, src, &rec[..bs], version, &mut out[..bs])
            .map_err(|_| Error::Corrupt)?;
        changed |= ch;
    }
    Ok(changed)
}
