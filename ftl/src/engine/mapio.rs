//! The block map's flash I/O (issue 14, docs/MAP-ON-FLASH.md): what a flash-map volume reads
//! for a lookup and writes for a run, and the hooks the engine calls where the two map modes
//! differ. Both modes implement [`MapIo`]: `RamMap`'s answers come from the RAM table (the
//! engine calls them only behind `if M::ON_FLASH`, so they are never called), `OnFlash`'s
//! read delta records and pages and write runs.
//!
//! Below GC: nothing here collects garbage. A run takes its slots from a frontier with room
//! or from an available unit while one more is left for GC (the flash map keeps a unit out
//! of the capacity for runs: `flashmap::mode`).

// The traits are public only because `Ftl`'s impls name them in bounds; their methods take the
// crate's `Log`, so nothing outside the crate can call or implement them.
#![allow(private_interfaces)]

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::Res;
use super::log::{Entry, Log, Source, Stream};
use crate::error::Error;
use crate::flashmap::mode::{OnFlash, MAX_MAP_BLOCK};
use crate::flashmap::{Refused, Source as MapSource};
use crate::layout::{RecordKind, RecordRead, CRC};
use crate::map::{MapMode, Mapping, RamMap};

/// A record read back for the map: block-sized, checked against its claim and data CRC.
pub(crate) type RecordBuf = [u8; MAX_MAP_BLOCK as usize];

/// What the engine asks of its map mode where reading or writing flash is involved.
#[allow(async_fn_in_trait)] // the async copy's futures are polled by the caller's executor
pub trait MapIo: MapMode + Sized {
    /// `lba`'s mapping, reading the map's records if RAM does not know it.
    async fn lookup<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        lba: u32,
    ) -> Res<Mapping, F>;

    /// Look `lba` up and keep the answer for the operation in progress (`MapMode::known`).
    async fn pin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        lba: u32,
    ) -> Res<(), F>;

    /// The operation is over: forget its lookups.
    fn unpin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    );

    /// Is the record of `kind` for `lba` in (unit, slot) live (GC's question)?
    async fn is_live<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        at: (u32, u32),
        lba: u32,
        kind: RecordKind,
    ) -> Res<bool, F>;

    /// Make room in the change buffer for `changes` more, writing it as a run if needed.
    async fn admit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        changes: u32,
    ) -> Res<(), F>;
}

impl MapIo for RamMap {
    async fn lookup<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        lba: u32,
    ) -> Res<Mapping, F> {
        Ok(log.map.get(lba))
    }

    async fn pin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
        _: u32,
    ) -> Res<(), F> {
        Ok(())
    }

    fn unpin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
    ) {
    }

    async fn is_live<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        at: (u32, u32),
        lba: u32,
        kind: RecordKind,
    ) -> Res<bool, F> {
        Ok(log.is_live(at.0, at.1, lba, kind))
    }

    async fn admit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
        _: u32,
    ) -> Res<(), F> {
        Ok(())
    }
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> MapIo for OnFlash<P, C, R, Q> {
    async fn lookup<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        lba: u32,
    ) -> Res<Mapping, F> {
        if let Some(m) = Self::known(&log.mode, lba) {
            return Ok(m);
        }
        // The buffer did not have it: each run newest first, then the page (at most R + 1
        // records; the last source always answers).
        for i in 0..R + 1 {
            let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
            let Some(src) = map.sources(lba).nth(i) else {
                break;
            };
            let (loc, kind, key) = match src {
                MapSource::Unmapped => return Ok(Mapping::Unmapped),
                MapSource::Part { run, loc, .. } => (loc, RecordKind::MapDelta, run),
                MapSource::Page { page, loc } => (loc, RecordKind::MapPage, page),
            };
            let mut rec: RecordBuf = [0; MAX_MAP_BLOCK as usize];
            let version = read_map_record(log, loc, kind, key, &mut rec).await?;
            let bs = log.io.geo.block_size as usize;
            let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
            match map.search(src, &rec[..bs], version, lba) {
                Ok(Some(e)) => return Ok(Mapping::decode(e, log.mode.slots_per_unit)),
                Ok(None) => {}
                Err(_) => return Err(Error::Corrupt),
            }
        }
        Err(Error::Corrupt)
    }

    async fn pin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        lba: u32,
    ) -> Res<(), F> {
        if log.mode.pins.iter().any(|p| p.0 == lba) {
            return Ok(());
        }
        let m = Self::lookup(log, lba).await?;
        let e = m.encode(log.mode.slots_per_unit);
        // A transaction's blocks at most (`PINS`); callers pin no more.
        log.mode
            .pins
            .push((lba, e))
            .map_err(|_| Error::TransactionFull)
    }

    fn unpin<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) {
        log.mode.pins.clear();
    }

    async fn is_live<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        at: (u32, u32),
        lba: u32,
        kind: RecordKind,
    ) -> Res<bool, F> {
        let global = at.0 * log.io.geo.slots_per_unit + at.1;
        let Some(map) = log.mode.map.as_ref() else {
            return Ok(false);
        };
        let m = match kind {
            RecordKind::MapPage => return Ok(map.page_live(lba, global)),
            RecordKind::MapDelta => return Ok(map.part_of(lba, global).is_some()),
            RecordKind::Data => Mapping::Data {
                unit: at.0,
                slot: at.1,
            },
            RecordKind::Trim => Mapping::Trimmed {
                unit: at.0,
                slot: at.1,
            },
            RecordKind::Revert => Mapping::Reverted {
                unit: at.0,
                slot: at.1,
            },
            _ => return Ok(log.is_live(at.0, at.1, lba, kind)),
        };
        if lba >= log.io.geo.block_count {
            return Ok(false);
        }
        Ok(Self::lookup(log, lba).await? == m)
    }

    async fn admit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        changes: u32,
    ) -> Res<(), F> {
        let Some(map) = log.mode.map.as_ref() else {
            return Err(Error::Corrupt);
        };
        if map.buffered().1 >= changes as usize {
            return Ok(());
        }
        write_run(log).await
    }
}

/// Read the map record of `kind` whose claim says `key` (page or run number) at global slot
/// `loc` into `buf`; returns its slot version. Anything else there is `Corrupt`.
pub(crate) async fn read_map_record<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapMode,
>(
    log: &mut Log<F, U, B, S, M>,
    loc: u32,
    kind: RecordKind,
    key: u32,
    buf: &mut RecordBuf,
) -> Res<u64, F> {
    let g = log.io.geo;
    let (unit, slot) = (loc / g.slots_per_unit, loc % g.slots_per_unit);
    if unit >= g.unit_count {
        return Err(Error::Corrupt);
    }
    let r = match log.io.read_record(unit, slot).await? {
        RecordRead::Valid(r) if r.claim.kind == kind && r.claim.lba == key => r,
        _ => return Err(Error::Corrupt),
    };
    let buf = &mut buf[..g.block_size as usize];
    log.io.read(g.data_addr(unit, slot), buf).await?;
    if CRC.checksum(buf) != r.data_crc {
        return Err(Error::Corrupt);
    }
    Ok(r.claim.version)
}

/// Write the change buffer as a run: its delta records one by one, each where there is
/// room; the run joins the index once all landed. On a failure the written records are
/// dropped (counted garbage) and the changes stay buffered.
async fn write_run<
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
    let parts = match map.run_freeze() {
        Ok(parts) => parts,
        Err(Refused::IndexFull) => {
            // The operation made more runs than the index had room for: it ends here and
            // is retried after a merge (`Ftl::host_commit`); its rounds so far stand.
            log.mode.merge_now = true;
            return Err(Error::NoSpace);
        }
        Err(_) => return Err(Error::Corrupt),
    };
    let run = map.next_run();
    let mut locs = heapless::Vec::<u32, { crate::flashmap::record::MAX_PARTS }>::new();
    for part in 0..parts {
        match append_part(log, run, part).await {
            Ok(loc) => {
                let _ = locs.push(loc);
            }
            Err(e) => {
                for &loc in &locs {
                    log.drop_location(loc);
                }
                if let Some(map) = log.mode.map.as_mut() {
                    map.run_thaw();
                }
                return Err(e);
            }
        }
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    map.run_written(&locs).map_err(|_| Error::Corrupt)?;
    Ok(())
}

/// Append part `part` of run `run`; returns its global slot.
async fn append_part<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &mut Log<F, U, B, S, M>,
    run: u32,
    part: usize,
) -> Res<u32, F> {
    // Runs may take units down to GC's headroom: they never wait for GC.
    let keep = log.io.geo.gc_headroom(log.units.retired());
    let s = room_for_map_record(log, keep).await?;
    let mut buf: RecordBuf = [0xFF; MAX_MAP_BLOCK as usize];
    let buf = &mut buf[..log.io.geo.block_size as usize];
    if !M::encode_part(&log.mode, part, buf) {
        return Err(Error::Corrupt);
    }
    let e = Entry {
        kind: RecordKind::MapDelta,
        lba: run,
        src: Source::Buffer(buf),
        data_crc: CRC.checksum(buf),
        moved: None,
        origin: None,
    };
    let (unit, slot) = log.append(s, &e).await?;
    Ok(unit * log.io.geo.slots_per_unit + slot)
}

/// A slot for a map record without GC: a frontier with room (GC's first), else a fresh unit
/// while more than `keep` stay available.
pub(crate) async fn room_for_map_record<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapMode,
>(
    log: &mut Log<F, U, B, S, M>,
    keep: u32,
) -> Res<Stream, F> {
    for s in [Stream::Gc, Stream::Host, Stream::Cold] {
        if let Some(unit) = log.frontier(s) {
            log.probe(unit).await?;
            if log.room(s) > 0 {
                return Ok(s);
            }
        }
    }
    if log.units.available() <= keep {
        return Err(Error::NoSpace);
    }
    let unit = log
        .units
        .pick_available(true, false)
        .ok_or(Error::NoSpace)?;
    log.open(Stream::Gc, unit).await?;
    Ok(Stream::Gc)
}
