//! Mounting a flash-map volume (issue 14, docs/MAP-ON-FLASH.md, "Mount as built"): what the
//! two passes of `scan::mount` gather, and how the map and the valid counts are rebuilt
//! from them. Reads only, like every mount.
//!
//! - **First pass** (every unit's record table, judged as for a RAM-map volume): the two
//!   newest roots seen and where their parts are, and the newest run number.
//! - **Between the passes**: the newest complete root is loaded (the map's checkpoint and each
//!   unit's count of live block records); a unit reopened since (its oldest record is newer
//!   than the root's redo point) starts from 0.
//! - **Second pass**: the newest record of each page and of each indexed delta record (GC may
//!   have moved them, a merge may have rewritten pages since the root); every block record
//!   newer than the redo point is replayed: into the buffer if it is the block's newest, and
//!   into the counts (one more in its unit, one less in the unit of the record it replaces,
//!   which its claim names, unless that unit was reopened after it).
//! - **After**: runs any of whose records are gone were merged after the root (a merge drops
//!   them and writes a root; its pages are on flash and newer): they leave the index; the map's
//!   own records join the counts.

// The trait is public only because `Ftl`'s impls name it in bounds; its methods take the
// crate's `Log`, so nothing outside the crate can call or implement it.
#![allow(private_interfaces)]

use embedded_storage_async::nor_flash::NorFlash;
use heapless::Vec;

use super::flash::Res;
use super::log::Log;
use super::mapio::{read_map_record, MapIo, RecordBuf};
use crate::error::Error;
use crate::flashmap::mode::{
    root_unit_words, OnFlash, RootSeen, RunSeen, MAX_MAP_BLOCK, MAX_RUNS_SEEN,
};
use crate::flashmap::record::{
    check_delta, check_root, delta_head, root_head, root_word, RootHead, MAX_PARTS,
};
use crate::flashmap::Run;
use crate::flashmap::NO_LOC;
use crate::layout::{Claim, RecordKind, RecordRead, SlotRecord, NO_VICTIM};
use crate::map::{MapMode, Mapping, RamMap};
use crate::units::UnitInfo;

/// What a mount asks of its map mode (nothing of the RAM map: it never calls these).
#[allow(async_fn_in_trait)] // the async copy's futures are polled by the caller's executor
pub trait MapMount: MapIo {
    /// A valid record the scan found at (unit, slot); `victim_floor` is the oldest version
    /// in the unit its claim names (`u64::MAX` if none).
    async fn offer<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        at: (u32, u32),
        r: &SlotRecord,
        victim_floor: u64,
    ) -> Res<(), F>;

    /// The mount is in its second pass and would replay a block record of version `v`.
    fn replays(state: &Self::State, v: u64) -> bool;

    /// A copy of version `v` lost to its source (`scan::offer_to_map`): a root is due, and no
    /// unit is erased before it lands, so that the mount's counts are on flash before the
    /// source's unit can go (a later mount, no longer seeing the source, would count the copy
    /// again).
    fn copy_lost(state: &mut Self::State, v: u64);

    /// Whether the try that just ended met a copy the copy rule let lose below the adopted
    /// runs' `covers` (they may name it, and the counts would then disagree with the map):
    /// the oldest such copy's version; `scan::mount_flash` then starts over, passing it to
    /// `adopt_below` (`adopt_runs` adopts only runs older than that copy).
    fn adoption_conflict(state: &Self::State) -> Option<u64>;
    fn adopt_below(state: &mut Self::State, v: u64);

    /// The redo point of the newest root seen so far, if every part of it was seen: no unit
    /// last written before it can hold a newer root.
    fn newest_root(state: &Self::State) -> Option<u64>;

    /// Load the newest complete root; its counts go into the units' valid counts, and each
    /// unit it says holds a volume record is passed to `whole` (a mount reads it whole).
    /// Returns its redo point (0: no root, replay everything) and starts the second pass.
    async fn load_root<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        whole: &mut impl FnMut(u32),
    ) -> Res<u64, F>;

    /// After the second pass: merged runs out, run numbers past every one seen, the map's
    /// own records counted; `Corrupt` if a count came out above its unit's used slots (a
    /// crafted image).
    fn finish<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F>;
}

impl MapMount for RamMap {
    async fn offer<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
        _: (u32, u32),
        _: &SlotRecord,
        _: u64,
    ) -> Res<(), F> {
        Ok(())
    }

    fn replays(_: &(), _: u64) -> bool {
        false
    }

    fn copy_lost(_: &mut (), _: u64) {}

    fn adoption_conflict(_: &()) -> Option<u64> {
        None
    }

    fn adopt_below(_: &mut (), _: u64) {}

    fn newest_root(_: &()) -> Option<u64> {
        None
    }

    async fn load_root<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
        _: &mut impl FnMut(u32),
    ) -> Res<u64, F> {
        Ok(0)
    }

    fn finish<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        _: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        Ok(())
    }
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> MapMount
    for OnFlash<P, C, R, Q>
{
    async fn offer<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        at: (u32, u32),
        r: &SlotRecord,
        victim_floor: u64,
    ) -> Res<(), F> {
        let c = &r.claim;
        if !log.mode.mount.second_pass {
            return match c.kind {
                RecordKind::MapRoot => note_root(log, at, c).await,
                RecordKind::MapDelta => {
                    note_run(log, c.lba);
                    note_part(log, at, c).await
                }
                RecordKind::MapPage => note_page(log, at, c).await,
                _ => Ok(()),
            };
        }
        match c.kind {
            RecordKind::MapPage => newer_page(log, at, c).await,
            RecordKind::MapDelta => newer_part(log, at, c).await,
            RecordKind::Data | RecordKind::Trim | RecordKind::Revert
                if c.version >= log.mode.mount.redo =>
            {
                replay(log, at, c, victim_floor).await
            }
            _ => Ok(()),
        }
    }

    fn replays(state: &Self::State, v: u64) -> bool {
        state.mount.second_pass && v >= state.mount.redo
    }

    fn copy_lost(state: &mut Self::State, v: u64) {
        (state.root_due, state.erase_hold) = (true, true);
        let m = &mut state.mount;
        m.oldest_lost = match m.oldest_lost {
            0 => v,
            old => old.min(v),
        };
    }

    fn adoption_conflict(state: &Self::State) -> Option<u64> {
        let m = &state.mount;
        let v = m.oldest_lost;
        (v != 0 && v < m.map_redo).then_some(v)
    }

    fn adopt_below(state: &mut Self::State, v: u64) {
        state.mount.adopt_below = v;
    }

    fn newest_root(state: &Self::State) -> Option<u64> {
        let newest = &state.mount.roots[0];
        newest
            .root
            .filter(|_| complete(newest))
            .map(|_| newest.redo)
    }

    async fn load_root<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
        whole: &mut impl FnMut(u32),
    ) -> Res<u64, F> {
        for u in 0..log.io.geo.unit_count {
            log.units.get_mut(u).valid = 0;
        }
        let newest = log.mode.mount.roots[0].clone();
        let redo = match newest.root {
            // No root: a volume whose first run had no root yet; everything is the tail.
            None => 0,
            Some(root) if complete(&newest) => load(log, root, &newest, whole).await?,
            // A root whose transaction committed has all its parts (GC moves them before
            // it erases anything): a missing one is rot or a crafted image.
            Some(_) => return Err(Error::Corrupt),
        };
        mark_unchanged_parts(log, redo)?;
        let map_redo = adopt_runs(log, redo)?;
        let m = &mut log.mode.mount;
        (m.redo, m.map_redo, m.second_pass) = (redo, map_redo, true);
        Ok(redo)
    }

    fn finish<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        let n = log.io.geo.slots_per_unit;
        let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
        let (seen, root_runs) = (&log.mode.mount.parts_seen, log.mode.mount.root_runs);
        let (mut forget, mut i) = (0, 0);
        for (k, run) in map.runs().iter().enumerate() {
            for _ in 0..run.parts {
                match seen.get(i).copied().unwrap_or(false) {
                    true => {}
                    // An adopted run's records were all seen in the first pass.
                    false if k >= root_runs => return Err(Error::Corrupt),
                    false => forget = k + 1,
                }
                i += 1;
            }
        }
        let adopted = map.runs().len() > root_runs;
        map.forget_oldest_runs(forget);
        if adopted && !map.index_is_whole() {
            return Err(Error::Corrupt);
        }
        if let Some(run) = log.mode.mount.max_run {
            map.skip_run_number(run);
        }
        log.mode.mount.second_pass = false;
        let (mode, units) = (&log.mode, &mut log.units);
        let count = log.io.geo.unit_count;
        Self::for_each_record(mode, |at| {
            if at / n < count {
                let u = units.get_mut(at / n);
                u.valid = u.valid.wrapping_add(1);
            }
        });
        // With the volume's own records (`scan::count_valid` adds them next), no count may
        // pass its unit's used slots (a crafted root could make one wrap).
        let volume = |unit: u32| log.volume_records().filter(|&at| at / n == unit).count();
        let fits =
            |(i, u): (u32, &UnitInfo)| usize::from(u.valid) + volume(i) <= usize::from(u.used);
        match log.units.iter().all(fits) {
            true => Ok(()),
            false => Err(Error::Corrupt),
        }
    }
}

/// Which delta records of the loaded index are on flash: those in a unit last written
/// before the root still are (it was not erased since, or it would be newer or blank); the
/// second pass reads only newer units and finds the rest there.
fn mark_unchanged_parts<
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
    redo: u64,
) -> Res<(), F> {
    let n = log.io.geo.slots_per_unit;
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    let seen = &mut log.mode.mount.parts_seen;
    seen.clear();
    for run in map.runs() {
        for part in 0..run.parts {
            let at = map.part_loc(run.number, part).unwrap_or(NO_LOC);
            let u = (at / n < log.io.geo.unit_count).then(|| log.units.get(at / n));
            let kept = u.is_some_and(|u| u.stamp() < redo && at % n < u32::from(u.used));
            seen.push(kept).map_err(|_| Error::Corrupt)?;
        }
    }
    Ok(())
}

/// Every part of a root seen is there.
fn complete(r: &RootSeen) -> bool {
    r.at.len() == usize::from(r.parts) && r.at.iter().all(|a| a.0 != NO_LOC)
}

/// A delta record of run `run`: the next run is numbered after the newest seen.
fn note_run<
    const P: usize,
    const C: usize,
    const R: usize,
    const Q: usize,
    F,
    const U: usize,
    const B: usize,
    const S: usize,
>(
    log: &mut Log<F, U, B, S, OnFlash<P, C, R, Q>>,
    run: u32,
) {
    let m = &mut log.mode.mount;
    m.max_run = match m.max_run {
        Some(max) if max.wrapping_sub(run) < 1 << 31 => Some(max),
        _ => Some(run),
    };
}

/// A delta record in the first pass: its run, in case the root that names it did not land
/// (`adopt_runs`). A failed attempt at a run leaves records under the run's number with an
/// older `covers`: the newest attempt is the run. A head that does not fit its claim is left
/// to the second pass (which refuses it if the run is adopted).
async fn note_part<
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
    at: (u32, u32),
    c: &Claim,
) -> Res<(), F> {
    let h = read_head(log, at).await?;
    let covers = head_u64(&h);
    let (run, part, parts) = (u32::from_le_bytes([h[8], h[9], h[10], h[11]]), h[12], h[13]);
    if run != c.lba || part >= parts || usize::from(parts) > MAX_PARTS || covers >= c.version {
        return Ok(());
    }
    let m = &mut log.mode.mount;
    let bit = 1u16 << part;
    if let Some(r) = m.runs_seen.iter_mut().find(|r| r.number == run) {
        if covers > r.covers {
            *r = RunSeen {
                covers,
                parts,
                seen: bit,
                ..*r
            };
        } else if (covers, parts) == (r.covers, r.parts) {
            r.seen |= bit;
        }
        return Ok(());
    }
    let new = RunSeen {
        number: run,
        covers,
        parts,
        seen: bit,
    };
    // Full: the oldest number makes way (a run the root names, most likely).
    let oldest = m.runs_seen.iter().enumerate().min_by_key(|(_, r)| r.number);
    let dropped = match oldest {
        _ if !m.runs_seen.is_full() => None,
        Some((i, r)) if r.number < run => Some(core::mem::replace(&mut m.runs_seen[i], new).number),
        _ => Some(run),
    };
    match dropped {
        None => {
            let _ = m.runs_seen.push(new);
        }
        Some(n) => m.runs_dropped = Some(m.runs_dropped.map_or(n, |d| d.max(n))),
    }
    Ok(())
}

/// A page record in the first pass: the newest change any page holds.
async fn note_page<
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
    at: (u32, u32),
    c: &Claim,
) -> Res<(), F> {
    let h = read_head(log, at).await?;
    let covers = head_u64(&h);
    let m = &mut log.mode.mount;
    if covers <= c.version {
        m.page_covers = m.page_covers.max(covers);
    }
    Ok(())
}

/// After the root is loaded: adopt the runs written since that the root does not name (their
/// root did not land: docs/MAP-ON-FLASH.md, "Runs without a root"), so the buffer takes only
/// the changes after the newest of them. Returns the version the buffer replays from.
///
/// Adopted: every run numbered after the root's index whose records were all seen. Not if
/// one such run is incomplete and a page covers its changes (a merge applied it and may
/// have finished, its records then garbage, or been cut: only replaying everything is right
/// both ways), nor if a run may have been missed (`runs_dropped`), nor if they do not fit
/// the index or their `covers` do not grow with their numbers past the redo point; the
/// buffer then replays everything from the root, as without adoption.
fn adopt_runs<
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
    redo: u64,
) -> Res<u64, F> {
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let m = &mut log.mode.mount;
    m.root_runs = map.runs().len();
    let base = map.next_run();
    let after = |n: u32| n.wrapping_sub(base) < 1 << 31;
    let mut runs: Vec<RunSeen, MAX_RUNS_SEEN> = m
        .runs_seen
        .iter()
        .copied()
        .filter(|r| after(r.number))
        .collect();
    runs.sort_unstable_by_key(|r| r.number.wrapping_sub(base));
    let whole = |r: &RunSeen| u32::from(r.seen) + 1 == 1 << r.parts;
    // A cut run written again after the mount under the next number, the buffer replayed
    // unchanged, has the same `covers`: the whole one holds every change of the cut one.
    let again = |r: &RunSeen| runs.iter().any(|w| whole(w) && w.covers == r.covers);
    let merged = |r: &RunSeen| !whole(r) && r.covers <= m.page_covers && !again(r);
    if m.runs_dropped.is_some_and(after) || runs.iter().any(merged) {
        return Ok(redo);
    }
    let below = |r: &RunSeen| m.adopt_below == 0 || r.covers < m.adopt_below;
    runs.retain(|r| whole(r) && below(r));
    let parts = runs.iter().map(|r| usize::from(r.parts)).sum();
    let grows = runs
        .iter()
        .try_fold(redo, |prev, r| (r.covers >= prev).then_some(r.covers + 1));
    let Some(map_redo) = grows.filter(|_| map.index_has_room(runs.len(), parts)) else {
        return Ok(redo);
    };
    for r in &runs {
        let run = Run {
            number: r.number,
            covers: r.covers,
            parts: r.parts,
        };
        map.adopt_run(run).map_err(|_| Error::Corrupt)?;
        for _ in 0..r.parts {
            m.parts_seen.push(false).map_err(|_| Error::Corrupt)?;
        }
    }
    Ok(map_redo)
}

/// The first record of a part of an adopted run the second pass meets (at global slot
/// `here`): read whole and checked, as a run's records are when written; it must be the
/// record the first pass saw.
async fn adopt_part<
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
    here: u32,
    (run, part): (u32, u8),
) -> Res<(), F> {
    let bs = log.io.geo.block_size as usize;
    let mut rec: RecordBuf = [0; MAX_MAP_BLOCK as usize];
    let v = read_map_record(log, here, RecordKind::MapDelta, run, &mut rec).await?;
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let shape = *map.shape();
    let expect = map.runs().iter().find(|r| r.number == run).copied();
    let h = delta_head(&shape, &rec[..bs], v).map_err(|_| Error::Corrupt)?;
    let fits = expect.is_some_and(|r| (r.covers, r.parts) == (h.covers, h.parts));
    if !fits || h.run != run || h.part != part {
        return Err(Error::Corrupt);
    }
    let range = check_delta(&shape, &rec[..bs], &h).map_err(|_| Error::Corrupt)?;
    map.adopt_part(run, part, range, here)
        .map_err(|_| Error::Corrupt)
}

/// A root part: remember it if its root is one of the two newest seen (the newer copy of a
/// part GC moved). Its 16-byte head is read here; the whole part is checked at load.
async fn note_root<
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
    at: (u32, u32),
    c: &Claim,
) -> Res<(), F> {
    let g = log.io.geo;
    let h = read_head(log, at).await?;
    let redo = head_u64(&h);
    let root = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let (part, parts) = (h[12], h[13]);
    // A head that does not fit its claim is ignored (the load would refuse it anyway).
    if root != c.lba || part >= parts || usize::from(parts) > MAX_PARTS || redo > c.version {
        return Ok(());
    }
    let roots = &mut log.mode.mount.roots;
    let newer =
        |than: Option<u32>| than.is_none_or(|t| root != t && root.wrapping_sub(t) < 1 << 31);
    let i = match () {
        _ if roots[0].root == Some(root) => 0,
        _ if roots[1].root == Some(root) => 1,
        _ if newer(roots[0].root) => {
            roots[1] = core::mem::take(&mut roots[0]);
            0
        }
        _ if newer(roots[1].root) => 1,
        _ => return Ok(()),
    };
    let r = &mut roots[i];
    if r.root.is_none() {
        (r.root, r.parts, r.redo) = (Some(root), parts, redo);
        r.at.clear();
        let _ = r.at.resize(usize::from(parts), (NO_LOC, 0));
    }
    if (r.parts, r.redo) != (parts, redo) {
        return Ok(());
    }
    let here = at.0 * g.slots_per_unit + at.1;
    if let Some(slot) = r.at.get_mut(usize::from(part)) {
        if slot.0 == NO_LOC || c.version > slot.1 {
            *slot = (here, c.version);
        }
    }
    Ok(())
}

/// Load root `root` from its parts `seen`: every part read whole and checked (data CRC, head,
/// the parts agreeing), the checkpoint words into the map, the counts into the units.
/// Returns the redo point.
async fn load<
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
    root: u32,
    seen: &RootSeen,
    whole: &mut impl FnMut(u32),
) -> Res<u64, F> {
    let bs = log.io.geo.block_size as usize;
    let shape = *log.mode.map.as_ref().ok_or(Error::Corrupt)?.shape();
    let mut rec: RecordBuf = [0; MAX_MAP_BLOCK as usize];
    let mut heads = heapless::Vec::<RootHead, MAX_PARTS>::new();
    for &(at, _) in &seen.at {
        let v = read_map_record(log, at, RecordKind::MapRoot, root, &mut rec).await?;
        let h = root_head(&shape, &rec[..bs], v).map_err(|_| Error::Corrupt)?;
        heads.push(h).map_err(|_| Error::Corrupt)?;
    }
    let total = check_root(&heads).map_err(|_| Error::Corrupt)?;
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    map.load_start();
    let mut j = 0;
    for (&(at, _), h) in seen.at.iter().zip(&heads) {
        read_map_record(log, at, RecordKind::MapRoot, root, &mut rec).await?;
        for w in 0..usize::from(h.words) {
            let word = root_word(&rec[..bs], w).map_err(|_| Error::Corrupt)?;
            take_word(log, j, word, whole)?;
            j += 1;
        }
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let k = map.checkpoint_words();
    if total != k + root_unit_words(log.io.geo.unit_count) {
        return Err(Error::Corrupt);
    }
    map.load_finish(k).map_err(|_| Error::Corrupt)?;
    log.mode.root = root;
    log.mode.root_at = seen.at.iter().map(|a| a.0).collect();
    log.mode.root_redo = heads[0].redo;
    Ok(heads[0].redo)
}

/// Word `j` of a root: the map's checkpoint first, then four units' counts per word, then a
/// bit per unit holding a volume record (passed to `whole`).
fn take_word<
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
    j: usize,
    word: u32,
    whole: &mut impl FnMut(u32),
) -> Res<(), F> {
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    let k = map.checkpoint_words();
    let (units, n) = (log.io.geo.unit_count, log.io.geo.slots_per_unit);
    let counts = units.div_ceil(4) as usize;
    if j < k {
        return map.load_word(j, word).map_err(|_| Error::Corrupt);
    }
    if j >= k + counts {
        let first = 32 * (j - k - counts) as u32;
        (0..32)
            .filter(|b| word >> b & 1 != 0 && first + b < units)
            .for_each(|b| whole(first + b));
        return Ok(());
    }
    for b in 0..4 {
        let u = 4 * (j - k) as u32 + b;
        let count = (word >> (8 * b)) as u8;
        if u < units {
            if u32::from(count) > n {
                return Err(Error::Corrupt);
            }
            log.units.get_mut(u).valid = count;
        }
    }
    Ok(())
}

/// The first field of a map record's head: a page's or delta record's `covers`, a root's
/// redo point (`flashmap::record`).
fn head_u64(h: &[u8; 16]) -> u64 {
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// The 16-byte head of the map record at (unit, slot) (`flashmap::record`), read alone: the
/// whole record is checked where it is used.
async fn read_head<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &mut Log<F, U, B, S, M>,
    at: (u32, u32),
) -> Res<[u8; 16], F> {
    let mut h = [0u8; 16];
    log.io
        .read(log.io.geo.data_addr(at.0, at.1), &mut h)
        .await?;
    Ok(h)
}

/// The claim of the record at global slot `loc`, if it is a valid record there.
async fn claim_at<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &mut Log<F, U, B, S, M>,
    loc: u32,
) -> Res<Option<Claim>, F> {
    let n = log.io.geo.slots_per_unit;
    if loc / n >= log.io.geo.unit_count {
        return Ok(None);
    }
    Ok(match log.io.read_record(loc / n, loc % n).await? {
        RecordRead::Valid(r) => Some(r.claim),
        _ => None,
    })
}

/// Is the record of `kind` for `key` at `cur` newer than one of version `v`?
async fn keeps<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode>(
    log: &mut Log<F, U, B, S, M>,
    cur: u32,
    (kind, key): (RecordKind, u32),
    v: u64,
) -> Res<bool, F> {
    Ok(claim_at(log, cur)
        .await?
        .is_some_and(|o| o.kind == kind && o.lba == key && o.version > v))
}

/// A page record: the newest of each page is the page (GC copies and merges make newer
/// ones; the root's may be gone).
async fn newer_page<
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
    at: (u32, u32),
    c: &Claim,
) -> Res<(), F> {
    let here = at.0 * log.io.geo.slots_per_unit + at.1;
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    if c.lba >= map.shape().pages() {
        return Ok(());
    }
    let cur = map.page_loc(c.lba);
    if cur == Some(here) {
        return Ok(());
    }
    if let Some(loc) = cur {
        if keeps(log, loc, (RecordKind::MapPage, c.lba), c.version).await? {
            return Ok(());
        }
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    map.page_moved(c.lba, cur.unwrap_or(NO_LOC), here);
    Ok(())
}

/// A delta record: if its run is in the root's index, the newest record of each part is the
/// part (GC copies), and the part is there.
async fn newer_part<
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
    at: (u32, u32),
    c: &Claim,
) -> Res<(), F> {
    let g = log.io.geo;
    let here = at.0 * g.slots_per_unit + at.1;
    let h = read_head(log, at).await?;
    let (run, part) = (c.lba, h[12]);
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    let (Some(i), Some(cur)) = (map.part_index(run, part), map.part_loc(run, part)) else {
        return Ok(());
    };
    if cur == NO_LOC {
        // A part of an adopted run: a record of an older attempt at the run is garbage.
        let covers = head_u64(&h);
        if map
            .runs()
            .iter()
            .all(|r| (r.number, r.covers) != (run, covers))
        {
            return Ok(());
        }
        adopt_part(log, here, (run, part)).await?;
    }
    if let Some(seen) = log.mode.mount.parts_seen.get_mut(i) {
        *seen = true;
    }
    if cur == NO_LOC {
        return Ok(());
    }
    if cur == here || keeps(log, cur, (RecordKind::MapDelta, run), c.version).await? {
        return Ok(());
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    map.part_moved(run, part, cur, here);
    Ok(())
}

/// A block record newer than the root: counted, and into the buffer if it is its block's
/// newest.
async fn replay<
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
    at: (u32, u32),
    c: &Claim,
    victim_floor: u64,
) -> Res<(), F> {
    let g = log.io.geo;
    if c.lba >= g.block_count {
        return Ok(());
    }
    // Wrapping: the units are scanned in order, so a unit may lose a record before it gains
    // it; modulo 256 the sum comes out exact (a count is at most 255), and `finish` checks
    // every count against the unit's used slots.
    let own = log.units.get_mut(at.0);
    own.valid = own.valid.wrapping_add(1);
    let w = u32::from(c.victim);
    if c.victim != NO_VICTIM && w < g.unit_count && victim_floor < c.version {
        let v = log.units.get_mut(w);
        v.valid = v.valid.wrapping_sub(1);
    }
    // An adopted run holds the changes before its `covers`.
    if c.version < log.mode.mount.map_redo {
        return Ok(());
    }
    let new = Mapping::at(c.kind, at).ok_or(Error::Corrupt)?;
    let n = g.slots_per_unit;
    let map = log.mode.map.as_ref().ok_or(Error::Corrupt)?;
    if let Some(e) = map.in_buffer(c.lba) {
        if let Some((u, s)) = Mapping::decode(e, n).location() {
            let cur = u * n + s;
            if claim_at(log, cur)
                .await?
                .is_some_and(|o| o.version > c.version)
            {
                return Ok(());
            }
        }
    }
    let map = log.mode.map.as_mut().ok_or(Error::Corrupt)?;
    map.set(c.lba, new.encode(n), c.version)
        .map_err(|_| Error::Corrupt)
}
