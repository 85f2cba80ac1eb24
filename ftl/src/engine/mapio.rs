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
use crate::flashmap::mode::{root_unit_words, FlashState, OnFlash, MAX_MAP_BLOCK};
use crate::flashmap::record::encode_root;
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

    /// An available unit to open as a frontier (`None`: none). The flash map prefers one a
    /// mount no longer needs (erased, or older than the last root); it writes a root first
    /// when no other such unit would be left, or when the unit it must take holds records a
    /// mount would replay (erased, their count changes would be lost).
    async fn pick_unit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        most_worn: bool,
    ) -> Res<Option<u32>, F>;

    /// Before `unit` is erased: with the flash map, if it holds records newer than the last
    /// root, write a root first (a mount replays such records; erased, they would be lost).
    async fn before_erase<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        unit: u32,
    ) -> Res<(), F>;

    /// Make room in the change buffer for `changes` more, writing it as a run if needed.
    /// `by` says who asks: GC's round may put that run and its root into the last
    /// available unit (its copies follow them there), the host leaves GC's headroom.
    async fn admit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        changes: u32,
        by: Writer,
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
        _: Writer,
    ) -> Res<(), F> {
        Ok(())
    }

    async fn before_erase<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
        _: u32,
    ) -> Res<(), F> {
        Ok(())
    }

    async fn pick_unit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        most_worn: bool,
    ) -> Res<Option<u32>, F> {
        Ok(log.units.pick_available(most_worn, log.io.geo.no_erase))
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
            RecordKind::MapRoot => {
                return Ok(lba == log.mode.root && log.mode.root_at.contains(&global))
            }
            _ => match Mapping::at(kind, at) {
                Some(m) => m,
                None => return Ok(log.is_live(at.0, at.1, lba, kind)),
            },
        };
        if lba >= log.io.geo.block_count {
            return Ok(false);
        }
        Ok(Self::lookup(log, lba).await? == m)
    }

    async fn admit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        changes: u32,
        by: Writer,
    ) -> Res<(), F> {
        let Some(map) = log.mode.map.as_ref() else {
            return Err(Error::Corrupt);
        };
        if map.buffered().1 >= changes as usize {
            return Ok(());
        }
        checkpoint(log, by).await
    }

    async fn before_erase<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        unit: u32,
    ) -> Res<(), F> {
        if ready(log, unit) {
            return Ok(());
        }
        match checkpoint(log, Writer::Host).await {
            // No room for a root without erasing a unit a mount still needs: erase anyway.
            // Only the counts can suffer, and only if power fails before the next root
            // (docs/MAP-ON-FLASH.md, "Mount as built", the gap left).
            Err(Error::NoSpace) => Ok(()),
            r => r,
        }
    }

    async fn pick_unit<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        most_worn: bool,
    ) -> Res<Option<u32>, F> {
        // Keep one such unit for the map's own writers, which open units without GC.
        if ready_units(log) <= 1 && log.units.available() > 0 {
            match checkpoint(log, Writer::Host).await {
                Err(Error::NoSpace) => {}
                r => r?,
            }
        }
        let pick = |log: &Log<F, U, B, S, Self>| {
            pick_erasable(log, most_worn).or(log.units.pick_available(most_worn, false))
        };
        let Some(unit) = pick(log) else {
            return Ok(None);
        };
        if ready(log, unit) {
            return Ok(Some(unit));
        }
        // The root written here may take the unit itself: pick again after it.
        Self::before_erase(log, unit).await?;
        Ok(pick(log))
    }
}

/// Who writes a checkpoint, which says how many available units it must leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// An operation or the map's own upkeep: runs and roots never wait for GC, so they
    /// leave GC's headroom (`Geometry::gc_headroom`).
    Host,
    /// A GC round's admission: its run and root may open the last available unit, as GC's
    /// frontier, where the round's copies then follow them (a round needs one unit, and
    /// this is it). Leaving GC's headroom here wedged the volume: the round that would
    /// have made room waited for the room (docs/MAP-ON-FLASH.md, "The wedges traced").
    Gc,
}

impl Writer {
    fn keeps<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
        self,
        log: &Log<F, U, B, S, M>,
    ) -> u32 {
        match self {
            Writer::Host => log.io.geo.gc_headroom(log.units.retired()),
            Writer::Gc => 0,
        }
    }
}

/// May `unit` be erased without losing what a mount would replay?
fn ready<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &Log<F, U, B, S, M>,
    unit: u32,
) -> bool {
    let u = log.units.get(unit);
    matches!(u.state, crate::units::UnitState::Free { .. }) || M::erase_ready(&log.mode, u.stamp())
}

/// Available units that are `ready`.
fn ready_units<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &Log<F, U, B, S, M>,
) -> u32 {
    let ok = |(i, u): (u32, &crate::units::UnitInfo)| u.is_available() && ready(log, i);
    log.units.iter().filter(|&x| ok(x)).count() as u32
}

/// Write the buffer as a run (if it holds anything) and then a root naming it: the map's
/// state on flash is then complete up to now, and a mount replays only what comes after.
pub(crate) async fn checkpoint<
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
    by: Writer,
) -> Res<(), F> {
    let keep = by.keeps(log);
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    if map.buffered().0 > 0 {
        write_run(log, keep).await?;
    }
    // A root is owed until it lands: the next operation writes it before changing anything.
    log.mode.root_due = true;
    write_root(log, keep).await?;
    log.mode.root_due = false;
    Ok(())
}

/// Write a root: the map's checkpoint words, then each unit's count of live block records
/// (a byte each), in one transaction in one unit. Once it is on flash the previous root's
/// records are garbage. The buffer is empty (`checkpoint`), so every change so far is in a
/// run or a page: a mount replays from the version the root's records start at.
async fn write_root<
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
    keep: u32,
) -> Res<(), F> {
    let (counts, volume) = block_counts(log);
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    let (shape, k) = (*map.shape(), map.checkpoint_words());
    let words = k + root_unit_words(log.io.geo.unit_count);
    let parts = shape.root_parts(words).ok_or(Error::Corrupt)?;
    let s = room_for_map_txn(log, u32::from(parts), keep).await?;
    let (redo, root) = (log.next_version, log.mode.root.wrapping_add(1));
    let word = |state: &FlashState<P, C, R, Q>, j: usize| match state.map.as_ref() {
        Some(m) if j < k => m.checkpoint_word(j),
        _ => unit_word(&counts, &volume, j - k),
    };
    let at = log
        .append_encoded(
            s,
            (RecordKind::MapRoot, root),
            parts,
            |state, part, block| {
                encode_root(&shape, block, (redo, root), part, words, |j| word(state, j)).is_some()
            },
        )
        .await?;
    for old in core::mem::take(&mut log.mode.root_at) {
        log.drop_location(old);
    }
    log.mode.root_at = at.iter().copied().collect();
    log.mode.root = root;
    log.mode.root_redo = redo;
    log.mode.erase_hold = false;
    Ok(())
}

/// Per unit, its live block records (data, trims, reverts): its valid count less the map's
/// own records and the volume's (retire) records in it; and whether it holds one of the
/// latter (a mount reads such a unit whole).
fn block_counts<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &Log<F, U, B, S, M>,
) -> (heapless::Vec<u8, U>, heapless::Vec<bool, U>) {
    let n = log.io.geo.slots_per_unit;
    let mut counts: heapless::Vec<u8, U> = log.units.iter().map(|(_, u)| u.valid).collect();
    let mut volume: heapless::Vec<bool, U> = counts.iter().map(|_| false).collect();
    let mut less = |at: u32| {
        if let Some(c) = counts.get_mut((at / n) as usize) {
            *c = c.saturating_sub(1);
        }
    };
    M::for_each_record(&log.mode, &mut less);
    for at in log.volume_records() {
        less(at);
        if let Some(v) = volume.get_mut((at / n) as usize) {
            *v = true;
        }
    }
    (counts, volume)
}

/// Word `j` of what a root carries after the checkpoint: four units' counts per word,
/// little-endian, then a bit per unit holding a volume record (`root_unit_words`).
fn unit_word(counts: &[u8], volume: &[bool], j: usize) -> u32 {
    let n = counts.len().div_ceil(4);
    if j < n {
        let b = |i: usize| u32::from(counts.get(4 * j + i).copied().unwrap_or(0));
        return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
    }
    let first = 32 * (j - n);
    (0..32).fold(0, |w, b| match volume.get(first + b) {
        Some(true) => w | 1 << b,
        _ => w,
    })
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
    keep: u32,
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
        match append_part(log, run, part, keep).await {
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
    keep: u32,
) -> Res<u32, F> {
    let s = room_for_map_txn(log, 1, keep).await?;
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

/// Room for `k` records in one unit without GC: a frontier with that much room, else a fresh
/// unit while more than `keep` stay available (the GC frontier, short of room, is sealed:
/// its unused slots count as free space).
pub(crate) async fn room_for_map_txn<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapMode,
>(
    log: &mut Log<F, U, B, S, M>,
    k: u32,
    keep: u32,
) -> Res<Stream, F> {
    for s in [Stream::Gc, Stream::Host, Stream::Cold] {
        if let Some(unit) = log.frontier(s) {
            log.probe(unit).await?;
            if log.room(s) >= k {
                return Ok(s);
            }
        }
    }
    if log.units.available() <= keep {
        return Err(Error::NoSpace);
    }
    let unit = pick_erasable(log, true).ok_or(Error::NoSpace)?;
    if let Some(gc) = log.frontier(Stream::Gc) {
        log.close_full(gc);
    }
    log.open(Stream::Gc, unit).await?;
    Ok(Stream::Gc)
}

/// The most-worn (or least-worn) available unit that is `ready`: the map's own writers open
/// units without GC, so without writing a root first.
fn pick_erasable<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &Log<F, U, B, S, M>,
    most_worn: bool,
) -> Option<u32> {
    let mut best: Option<(u32, u32)> = None;
    for (i, u) in log.units.iter() {
        let wear = if most_worn { u32::MAX - u.wear } else { u.wear };
        if u.is_available() && ready(log, i) && best.is_none_or(|(_, w)| wear < w) {
            best = Some((i, wear));
        }
    }
    best.map(|(i, _)| i)
}
