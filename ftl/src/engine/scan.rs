//! Mount and format. Mount only reads: it rebuilds the log's RAM state (map, unit table,
//! frontiers, version counter) from the headers and record tables. Nothing is repaired at
//! mount; what a power cut left behind is resolved by reading (docs/DESIGN.md, "Recovery"):
//!
//! - the last record of each unit is read many times and trusted only if every read agrees
//!   (a program cut by power loss leaves cells that read differently each time), unless the
//!   unit's seal vouches for it;
//! - below it, every record counts unless a later record's claim voids it (`skip`), which is
//!   how an append makes a mount's judgment of a cut program permanent;
//! - a GC copy loses to the original it was copied from while that original is still in
//!   the copy's victim unit (same block, same data): a round cut before its victim was erased
//!   leaves the unit it copied into with nothing live, so it is reused, not lost.

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::{FlashIo, Res, META_BUF, STABLE_READS};
use super::log::{reset_version_of, Log, NO_RECORD};
use super::mapmount::MapMount;
use crate::error::Error;
use crate::layout::TxnMark;
use crate::layout::{decode_commit, seal_matches, Claim, HeaderRead, RecordKind, RecordRead};
use crate::layout::{next_hop, SlotRecord, FLASH_MAP_VERSION, FORMAT_VERSION};
use crate::layout::{NO_HOP, NO_VICTIM, VERSION_CEILING};
use crate::map::Mapping;
use crate::table::{VolumeTable, TABLE_BYTES};
use crate::units::{UnitState, NO_SLOT};

/// Per-unit facts the scan needs for a moment and then drops.
#[derive(Clone, Copy)]
struct Scratch {
    /// Highest version of a GC copy naming this unit as its victim (0: none seen yet).
    victim_of: u64,
    /// The unit's newest valid record is a GC copy (it was the GC frontier).
    top_is_copy: bool,
    /// Its header was read many times: `Some(true)` if it never changed.
    header_stable: Option<bool>,
    /// Lowest version among its valid records (versions are compared across units with it).
    floor: u64,
    /// Flash map: its whole record table was read before the root was loaded.
    read: bool,
    /// Flash map: the root says it holds a volume record, so it is read whole.
    whole: bool,
}

/// How a volume is mounted in each map mode: the RAM map's scan (`mount_ram`) or the flash
/// map's bounded one (`mount_flash`). A trait rather than a branch on `M::ON_FLASH`: through
/// a branch the async engine's RAM-map futures carried the flash map's mount (+1.2 KB of
/// code, measured).
// Public only because `Ftl`'s impls name it in bounds; its method takes the crate's `Log`,
// so nothing outside the crate can call or implement it.
#[allow(async_fn_in_trait, private_interfaces)]
pub trait Mount: MapMount {
    /// Rebuild `log`'s state from flash. Reads only.
    async fn mount_log<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F>;
}

#[allow(private_interfaces)]
impl Mount for crate::map::RamMap {
    async fn mount_log<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        mount_ram(log).await
    }
}

#[allow(private_interfaces)]
impl<const P: usize, const C: usize, const R: usize, const Q: usize> Mount
    for crate::flashmap::mode::OnFlash<P, C, R, Q>
{
    async fn mount_log<F: NorFlash, const U: usize, const B: usize, const S: usize>(
        log: &mut Log<F, U, B, S, Self>,
    ) -> Res<(), F> {
        mount_flash(log).await
    }
}

/// Rebuild `log`'s state from flash, as its map mode does. Reads only.
pub(crate) async fn mount<F: NorFlash, const U: usize, const B: usize, const S: usize, M: Mount>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    M::mount_log(log).await
}

/// Mount a RAM-map volume. Reads only.
///
/// A unit whose erase was cut can hold its old records intact but unstable: read once, some
/// of them come back valid (possibly one that a later skip had voided) and others as junk.
/// Junk where a healthy unit cannot have any makes the scan check the unit's header with many
/// reads; if it is unstable the unit is left out and the scan starts over (once per such
/// unit, so at most `unit_count + 1` passes).
async fn mount_ram<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    let blank = Scratch {
        victim_of: 0,
        top_is_copy: false,
        header_stable: None,
        floor: u64::MAX,
        read: false,
        whole: false,
    };
    let mut scratch: heapless::Vec<Scratch, U> = heapless::Vec::new();
    let _ = scratch.resize(log.io.geo.unit_count as usize, blank);
    // The table that decides which records count (snapshots, holes), once a pass found it.
    let mut known = VolumeTable::EMPTY;
    for _ in 0..2 * (log.io.geo.unit_count + 1) {
        log.reset();
        log.epoch = find_epoch(log).await?;
        for s in scratch.iter_mut() {
            *s = Scratch {
                header_stable: s.header_stable,
                ..blank
            };
        }
        let mut max_version = 0;
        if scan_units(log, &mut scratch, &mut max_version, &known).await? {
            continue;
        }
        if log.table.version != known.version && (log.table.shapes_views() || known.shapes_views())
        {
            // Snapshots and rollback holes decide which block records count: scan again
            // knowing them (only volumes that have them pay for the second pass).
            known = log.table;
            continue;
        }
        if log.table.snaps.iter().skip(S).any(|&v| v != 0) {
            return Err(Error::SnapshotLimit);
        }
        if max_version >= VERSION_CEILING {
            return Err(Error::Corrupt);
        }
        log.next_version = max_version + 1;
        apply_reset(log, &scratch).await?;
        count_valid(log);
        estimate_lost_wear(log);
        pick_frontiers(log, &scratch);
        log.read_only = log.retired() > log.io.geo.spare_units();
        return Ok(());
    }
    Err(Error::Corrupt)
}

/// The format version of this build's volumes: v4 when the map lives on flash.
fn version_of<M: MapMount>() -> u8 {
    match M::ON_FLASH {
        true => FLASH_MAP_VERSION,
        false => FORMAT_VERSION,
    }
}

/// Mount a flash-map volume, reading a small part of the region (docs/MAP-ON-FLASH.md,
/// "The bounded mount"; `mapmount` says what each read gathers):
/// 1. every unit's header and top record, its newest (versions grow up a unit);
/// 2. whole units, newest top first, until the newest root seen is complete and every unit
///    written since its redo point was read: a newer root could only be in one of those;
/// 3. the root loaded, the units written since it, and those it says hold a volume record,
///    read again for the map and the counts. Every other unit is as the root saw it.
///
/// Reads only.
async fn mount_flash<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    let blank = Scratch {
        victim_of: 0,
        top_is_copy: false,
        header_stable: None,
        floor: u64::MAX,
        read: false,
        whole: false,
    };
    let mut scratch: heapless::Vec<Scratch, U> = heapless::Vec::new();
    let _ = scratch.resize(log.io.geo.unit_count as usize, blank);
    let none = VolumeTable::EMPTY;
    // 0, or the oldest copy an earlier try let lose below its adopted runs (`MapMount`).
    let mut adopt_below = 0;
    for _ in 0..2 * (log.io.geo.unit_count + 1) {
        log.reset();
        M::adopt_below(&mut log.mode, adopt_below);
        log.epoch = find_epoch(log).await?;
        for s in scratch.iter_mut() {
            *s = Scratch {
                header_stable: s.header_stable,
                ..blank
            };
        }
        let mut max_version = 0;
        for unit in 0..log.io.geo.unit_count {
            if !adopt_header(log, unit) || scratch[unit as usize].header_stable == Some(false) {
                log.unit_mut(unit).state = UnitState::Dirty;
                continue;
            }
            // A unit holds records only once its header copy 1 is programmed (`Log::open`).
            let g = log.io.geo;
            if !log
                .io
                .is_blank(g.header_addr(unit, 1), g.header_size)
                .await?
            {
                scan_unit(log, unit, &mut scratch, &mut max_version, &none, true).await?;
            }
        }
        if read_newest_units(log, &mut scratch, &mut max_version).await? {
            continue;
        }
        if max_version >= VERSION_CEILING {
            return Err(Error::Corrupt);
        }
        let redo = M::load_root(log, &mut |u| scratch[u as usize].whole = true).await?;
        // A unit reopened since the root (its oldest record is newer) starts from 0.
        for (u, s) in scratch.iter().enumerate() {
            if s.floor >= redo {
                log.units.get_mut(u as u32).valid = 0;
            }
        }
        let mut second = 0;
        for unit in 0..log.io.geo.unit_count {
            let u = log.units.get(unit);
            let wanted = u.stamp() >= redo || scratch[unit as usize].whole;
            if u.state != UnitState::Dirty && u.used > 0 && wanted {
                scan_unit(log, unit, &mut scratch, &mut second, &none, false).await?;
            }
        }
        if let Some(v) = M::adoption_conflict(&log.mode) {
            // The second try adopts only runs older than every copy that lost: none is left
            // below them (the copy rule reads the same units the same way both times).
            if adopt_below != 0 {
                return Err(Error::Corrupt);
            }
            adopt_below = v.max(1);
            continue;
        }
        M::finish(log)?;
        log.next_version = max_version + 1;
        count_valid(log);
        estimate_lost_wear(log);
        pick_frontiers(log, &scratch);
        log.read_only = log.units.retired() > log.io.geo.spare_units();
        return Ok(());
    }
    Err(Error::Corrupt)
}

/// Step 2 of `mount_flash`: read whole units, newest top first, until the newest root seen
/// is complete and older than every unit left. `true` if a unit turned out torn (start over
/// without it).
async fn read_newest_units<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapMount,
>(
    log: &mut Log<F, U, B, S, M>,
    scratch: &mut [Scratch],
    max_version: &mut u64,
) -> Res<bool, F> {
    for _ in 0..log.io.geo.unit_count {
        let Some((unit, top)) = newest_unread(log, scratch) else {
            break;
        };
        if M::newest_root(&log.mode).is_some_and(|redo| top < redo) {
            break;
        }
        scratch[unit as usize].read = true;
        let odd = scan_unit(log, unit, scratch, max_version, &VolumeTable::EMPTY, false).await?;
        if odd && !intact(log, unit, scratch).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The unread unit with records whose top is newest, and that top's version. A unit whose
/// top is not a valid record (a program cut there) comes first: its newest valid record is
/// somewhere below, not known yet.
fn newest_unread<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &Log<F, U, B, S, M>,
    scratch: &[Scratch],
) -> Option<(u32, u64)> {
    let mut best: Option<(u32, u64)> = None;
    for (i, u) in log.units.iter() {
        if u.state == UnitState::Dirty || u.used == 0 || scratch[i as usize].read {
            continue;
        }
        let top = match u.last_valid {
            NO_SLOT => u64::MAX,
            _ => u.stamp(),
        };
        if best.is_none_or(|(_, t)| top > t) {
            best = Some((i, top));
        }
    }
    best
}

/// Scan every unit of the volume; `true` if a unit turned out torn (start over without it).
async fn scan_units<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    scratch: &mut [Scratch],
    max_version: &mut u64,
    known: &VolumeTable,
) -> Res<bool, F> {
    for unit in 0..log.io.geo.unit_count {
        if !adopt_header(log, unit) || scratch[unit as usize].header_stable == Some(false) {
            log.unit_mut(unit).state = UnitState::Dirty;
            continue;
        }
        let odd = scan_unit(log, unit, scratch, max_version, known, false).await?;
        if odd && !intact(log, unit, scratch).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The newest epoch among this build's headers; classifies regions without one.
async fn find_epoch<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<u32, F> {
    // The newest epoch and whether every header of it matches this geometry: all that is
    // needed of the best header (keeping the whole header costs code to copy it around).
    // Any header of the volume's epoch that disagrees on the geometry makes the volume
    // incompatible: silently leaving that unit out would lose its data. (Tracked here
    // rather than in a second pass over the units: less code.)
    let mut best: Option<(u32, bool)> = None;
    let mut other_version = None;
    for unit in 0..log.io.geo.unit_count {
        match log.io.read_header(unit).await? {
            HeaderRead::Valid(h) if h.version == version_of::<M>() => {
                // Remembered for `adopt_header` (one header read per unit at mount).
                let ours = matches_geometry(log, &h);
                match &mut best {
                    Some((epoch, all_ours)) if *epoch == h.epoch => *all_ours &= ours,
                    Some((epoch, _)) if *epoch > h.epoch => {}
                    _ => best = Some((h.epoch, ours)),
                }
                let info = log.unit_mut(unit);
                info.wear = h.wear;
                info.set_stamp(u64::from(h.epoch) + 1);
                if ours {
                    info.state = UnitState::Free { verified: false };
                }
            }
            HeaderRead::Valid(h) => other_version = Some(h.version),
            _ => {}
        }
    }
    let Some((best_epoch, all_ours)) = best else {
        if let Some(v) = other_version {
            return Err(Error::UnsupportedVersion(v));
        }
        // The two fields, not a copy of the whole geometry (less code).
        let (at, len) = (log.io.geo.region_offset, log.io.geo.region_len);
        let blank = log.io.is_blank(at, len).await?;
        return Err(if blank {
            Error::Blank
        } else {
            Error::NotFormatted
        });
    };
    if !all_ours {
        return Err(Error::Incompatible);
    }
    Ok(best_epoch)
}

fn matches_geometry<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &Log<F, U, B, S, M>,
    h: &crate::layout::UnitHeader,
) -> bool {
    let g = log.io.geo;
    h.unit_size == g.unit_size
        && u32::from(h.unit_count) == g.unit_count
        && u32::from(h.block_shift) == g.block_size.trailing_zeros()
}

/// Is `unit` part of this volume? `find_epoch` left the epoch of its valid header (plus one)
/// in `stamp` and its wear in `wear`; a unit that is not ours is `Dirty` (erased before use).
fn adopt_header<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
) -> bool {
    let epoch = u64::from(log.epoch) + 1;
    let info = log.unit_mut(unit);
    let ours = info.state == UnitState::Free { verified: false } && info.stamp() == epoch;
    info.set_stamp(0);
    if !ours {
        info.state = UnitState::Dirty;
    }
    ours
}

/// Read `unit`'s record table from the last slot down, judge its top, apply the skips and
/// offer every valid record to the map; with `top_only`, stop after the top (the first
/// record that is not blank, judged).
// Kept out of line: inlined into `mount` it makes the image bigger (measured).
#[inline(never)]
async fn scan_unit<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    scratch: &mut [Scratch],
    max_version: &mut u64,
    known: &VolumeTable,
    top_only: bool,
) -> Res<bool, F> {
    let n = log.slots();
    let mut sealed = false;
    let mut odd = false;
    let mut used = 0;
    let mut anchored = false;
    let mut void_run = 0u32;
    // Below a transaction's end, with only its own records between (docs/DESIGN.md,
    // "Transactions"): its parts count.
    let mut in_txn = false;
    for slot in (0..n).rev() {
        if top_only && anchored {
            break;
        }
        let mut rec = log.io.read_record(unit, slot).await?;
        if slot + 1 == n {
            sealed = seal_holds(log, unit, &rec).await?;
        }
        if used == 0 {
            if matches!(rec, RecordRead::Blank) {
                continue;
            }
            used = slot + 1;
        }
        if !anchored {
            judge_top(log, unit, slot, &mut rec, sealed && slot + 1 == n).await?;
            if !matches!(rec, RecordRead::Valid(_) | RecordRead::Claimed(_)) {
                continue;
            }
            anchored = true;
        } else if void_run > 0 {
            void_run -= 1;
            continue;
        }
        // Only claims that are stable count for the version counter: a torn claim can pass
        // its CRC-16 on one read with any version in it, and never becomes a valid record.
        // (The claim is borrowed where it lies: copying it out costs code.)
        let claim = match &rec {
            RecordRead::Valid(r) => Some(&r.claim),
            RecordRead::Claimed(c) => Some(c),
            _ => None,
        };
        if let Some(c) = claim {
            *max_version = (*max_version).max(c.version);
            void_run = u32::from(c.skip);
        }
        let RecordRead::Valid(r) = &rec else {
            // Below the top every slot is valid or voided by a skip, unless the unit rotted
            // or its erase was cut: a junk, blank or uncommitted slot here is odd.
            in_txn = false;
            odd |= slot + 1 < used;
            continue;
        };
        in_txn = match r.claim.txn {
            TxnMark::None => false,
            TxnMark::End => true,
            // A part without its end: a transaction cut or abandoned, invisible (and not
            // `last_valid`, so the next append here voids it).
            TxnMark::Part if !in_txn => continue,
            TxnMark::Part => true,
        };
        take_record(log, unit, slot, r, scratch, known).await?;
    }
    log.unit_mut(unit).used = used as u8;
    Ok(odd)
}

/// True if the unit's seal matches its last record (read once as `last`): that record is
/// then stable.
async fn seal_holds<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    last: &RecordRead,
) -> Res<bool, F> {
    let RecordRead::Valid(r) = last else {
        return Ok(false);
    };
    let g = &log.io.geo;
    let (addr, n) = (g.seal_addr(unit), g.seal_size as usize);
    let mut seal = [0u8; META_BUF];
    log.io.read(addr, &mut seal[..n]).await?;
    // The seal covers the claim's 16 bytes, not its padding.
    Ok(seal_matches(&r.claim.to_bytes(), &seal[..n]))
}

/// Judge the topmost non-blank slot: read claim and commit many times, trust only what never
/// changes. A sealed top was read once and is trusted as read. `rec` (the single read) is
/// replaced by the verdict: `Valid` (read the same every time, or the seal vouches for it),
/// `Claimed` (a stable claim without a stable commit: void, but its `skip` holds), anything
/// else (claim unreadable or unstable: void, and it says nothing about the slots below).
/// Judged in place: the record stays in one place in memory instead of being rebuilt from
/// registers for every call (measured: a few hundred bytes of code).
// Kept out of line: inlined into `mount` it makes the image bigger (measured).
#[inline(never)]
async fn judge_top<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    rec: &mut RecordRead,
    sealed: bool,
) -> Res<(), F> {
    if sealed {
        return Ok(());
    }
    let g = &log.io.geo;
    let (claim_at, commit_at) = (g.record_addr(unit, slot), g.commit_addr(unit, slot));
    let (c, m) = (g.claim_size, g.record_size - g.claim_size);
    let mut claim = [0u8; META_BUF];
    let mut commit = [0u8; META_BUF];
    // A commit that reads the same every time and matches the claim read once proves the
    // claim stable too: the commit is programmed only after the claim's program completed.
    if let RecordRead::Valid(r) = &*rec {
        let stable = log
            .io
            .read_stable(commit_at, &mut commit, m, STABLE_READS)
            .await?;
        if stable && decode_commit(&r.claim.to_bytes(), &commit[..m as usize]) == Some(r.data_crc) {
            return Ok(());
        }
    }
    let stable = log
        .io
        .read_stable(claim_at, &mut claim, c, STABLE_READS)
        .await?;
    let Some(cl) = Claim::decode(&claim[..c as usize]).filter(|_| stable) else {
        *rec = RecordRead::Junk;
        return Ok(());
    };
    let stable = log
        .io
        .read_stable(commit_at, &mut commit, m, STABLE_READS)
        .await?;
    *rec = match decode_commit(&claim[..c as usize], &commit[..m as usize]) {
        Some(data_crc) if stable => RecordRead::Valid(SlotRecord {
            claim: cl,
            data_crc,
        }),
        _ => RecordRead::Claimed(cl),
    };
    Ok(())
}

/// A valid record of `unit`: update the unit's facts and offer it to the map.
async fn take_record<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    r: &SlotRecord,
    scratch: &mut [Scratch],
    known: &VolumeTable,
) -> Res<(), F> {
    let info = log.unit_mut(unit);
    if info.last_valid == NO_SLOT {
        info.last_valid = slot as u8;
        scratch[unit as usize].top_is_copy = r.claim.copy;
    }
    info.set_stamp(info.stamp().max(r.claim.version));
    if r.claim.copy && r.claim.victim != NO_VICTIM {
        if let Some(s) = scratch.get_mut(r.claim.victim as usize) {
            s.victim_of = s.victim_of.max(r.claim.version);
        }
    }
    match r.claim.kind {
        // A flash-map volume's map and block records go to the map mode (`mapmount`); its
        // volume (retire) records are taken here, in every pass (taking one twice changes
        // nothing).
        k if M::ON_FLASH && !k.is_meta() => offer_to_map(log, (unit, slot), r, scratch).await?,
        RecordKind::Retire => offer_retire(log, unit, slot, r).await?,
        RecordKind::Reset | RecordKind::Table => offer_meta(log, unit, slot, r, scratch).await?,
        _ => offer_block(log, unit, slot, r, scratch, known).await?,
    }
    // After the offers: while offering, `floor` is the lowest version above this slot.
    let s = &mut scratch[unit as usize];
    s.floor = s.floor.min(r.claim.version);
    Ok(())
}

/// A flash-map volume's map or block record, offered to the map mode with the oldest version
/// in the unit its claim names. A block record copied since the root loses to its source
/// while the source's unit is intact (not erased since: its oldest record is older than the
/// copy, and its header reads the same every time): the copy rule a RAM-map volume applies
/// in `beats`. A GC round cut before its victim was erased then leaves the unit it copied
/// into with nothing live, so the round's unit comes back (docs/MAP-ON-FLASH.md, "Mount as
/// built"); a round that finished erased its victim, and its copies stand.
async fn offer_to_map<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    at: (u32, u32),
    r: &SlotRecord,
    scratch: &mut [Scratch],
) -> Res<(), F> {
    let (c, victim) = (&r.claim, u32::from(r.claim.victim));
    let floor = scratch.get(victim as usize).map_or(u64::MAX, |s| s.floor);
    let candidate = c.copy && !c.kind.is_map() && floor < c.version;
    if candidate && M::replays(&log.mode, c.version) && intact(log, victim, scratch).await? {
        M::copy_lost(&mut log.mode, c.version);
        return Ok(());
    }
    M::offer(log, at, r, floor).await
}

/// A reset or table record: the one standing for the newest table version is kept (GC
/// carries it forward; a copy stands for the same table as its original, and loses to it
/// while the original's unit is intact, as block copies do: a GC round cut before its
/// victim was erased then leaves the unit it copied into with nothing live).
// Kept out of line: a rare record, inlined into every record's path it costs code (measured).
#[inline(never)]
async fn offer_meta<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    r: &SlotRecord,
    scratch: &mut [Scratch],
) -> Res<(), F> {
    let mut t = VolumeTable::EMPTY;
    if !read_meta(log, unit, slot, r, &mut t).await? {
        return Ok(());
    }
    // A table stands for its own version or, copied, an older one: anything else is crafted.
    if t.version > r.claim.version || t.version < log.table.version {
        return Ok(());
    }
    let n = log.slots();
    let wins = match log.meta_at {
        NO_RECORD => true,
        _ if t.version > log.table.version => true,
        at => {
            let (cu, cs) = (at / n, at % n);
            // The same table: a copy loses to its exact source while the source's unit is
            // intact; between copies of it (stale ones left by cut rounds, and the live one)
            // the latest stands (table copies always take new versions).
            // `check`: the unit whose intactness decides (`win` if it is intact); one
            // `intact` call site, and the record matched where it lies: less code.
            let cur = log.io.read_record(cu, cs).await?;
            let (check, win) = match &cur {
                RecordRead::Valid(c) if copy_of(&r.claim, &c.claim, cu) => (Some(cu), false),
                RecordRead::Valid(c) if copy_of(&c.claim, &r.claim, unit) => (Some(unit), true),
                RecordRead::Valid(c) => (None, r.claim.version > c.claim.version),
                _ => (None, true),
            };
            match check {
                Some(u) => intact(log, u, scratch).await? == win,
                None => win,
            }
        }
    };
    if wins {
        log.meta_at = unit * n + slot;
        log.table = t;
    }
    Ok(())
}

/// Decode into `t` (which starts `EMPTY`) the table a reset or table record stands for;
/// `false` if it does not check out (a table whose data fails its CRC, or holds fields
/// cowftl never writes, is ignored).
// Kept out of line (-20 B, measured).
#[inline(never)]
async fn read_meta<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    r: &SlotRecord,
    t: &mut VolumeTable,
) -> Res<bool, F> {
    if r.claim.kind == RecordKind::Reset {
        let v = reset_version_of(r.claim.lba, r.data_crc);
        // `VolumeTable::reset(v)`, on the empty table.
        (t.version, t.reset_version) = (v, v);
        return Ok(v != 0);
    }
    let g = log.io.geo;
    if (g.block_size as usize) < TABLE_BYTES {
        return Ok(false);
    }
    let mut b = [0u8; TABLE_BYTES];
    log.io.read(g.data_addr(unit, slot), &mut b).await?;
    if VolumeTable::data_crc(&b, g.block_size) != r.data_crc {
        return Ok(false);
    }
    Ok(t.decode_into(&b))
}

/// After the scan: blocks whose newest record is older than the reset read the base again.
/// Units entirely newer or older are decided by their version range; only units written
/// across the reset (its frontiers then) have records read back.
async fn apply_reset<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    scratch: &[Scratch],
) -> Res<(), F> {
    let v = log.table.reset_version;
    if v == 0 {
        return Ok(());
    }
    // Every map: a snapshot is newer than the reset, but older records may still be on flash.
    // Plain nested loops: an iterator chain (`flat_map`) costs more code (measured).
    let blocks = log.map.len();
    // `0..S + 1`, not `0..=S`: an inclusive range does not fold away when S is 0.
    for k in 0..S + 1 {
        for lba in 0..blocks {
            let Some((u, s)) = log.map_at(k).get(lba).location() else {
                continue;
            };
            let older = match (scratch[u as usize].floor, log.unit(u).stamp()) {
                (floor, _) if floor >= v => false,
                (_, stamp) if stamp < v => true,
                _ => match log.io.read_record(u, s).await? {
                    RecordRead::Valid(r) => r.claim.version < v,
                    _ => true,
                },
            };
            if older {
                log.map_at_mut(k).set(lba, Mapping::Unmapped);
            }
        }
    }
    Ok(())
}

/// A retire record: the newest one for each unit is kept (and carried forward by GC).
async fn offer_retire<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    r: &SlotRecord,
) -> Res<(), F> {
    let n = log.slots();
    let Some(&cur) = log.retire_at.get(r.claim.lba as usize) else {
        return Ok(());
    };
    let newer = match cur {
        NO_RECORD => true,
        at => match log.io.read_record(at / n, at % n).await? {
            RecordRead::Valid(o) => o.claim.version < r.claim.version,
            _ => true,
        },
    };
    if newer && r.claim.lba != unit {
        log.retire_at[r.claim.lba as usize] = unit * n + slot;
    }
    Ok(())
}

/// A data, trim or revert record: it becomes the block's mapping if it beats the current
/// one, and the same in every snapshot's map that sees it (a snapshot sees the records older
/// than itself). Records a rollback made dead (in a hole) count nowhere.
async fn offer_block<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    slot: u32,
    r: &SlotRecord,
    scratch: &mut [Scratch],
    known: &VolumeTable,
) -> Res<(), F> {
    let (lba, v) = (r.claim.lba, r.claim.version);
    if lba >= log.io.geo.block_count || known.in_hole(v) {
        return Ok(());
    }
    let new = match r.claim.kind {
        RecordKind::Data => Mapping::Data { unit, slot },
        RecordKind::Trim => Mapping::Trimmed { unit, slot },
        RecordKind::Revert => Mapping::Reverted { unit, slot },
        // A map record on a RAM-map volume is foreign (each mode refuses the other's
        // volumes by their version): it maps nothing.
        RecordKind::Retire | RecordKind::Reset | RecordKind::Table => return Ok(()),
        RecordKind::MapPage | RecordKind::MapDelta | RecordKind::MapRoot => return Ok(()),
    };
    // `0..S + 1`, not `0..=S`: an inclusive range does not fold away when S is 0.
    for k in 0..S + 1 {
        // Map 0 is the block map, map k the view of snapshot k - 1.
        let sees = k == 0 || known.snaps.get(k - 1).is_some_and(|&s| v < s);
        let wins = match log.map_at(k).get(lba).location() {
            _ if !sees => false,
            None => true,
            Some((cu, cs)) => beats(log, unit, r, cu, cs, scratch).await?,
        };
        if wins {
            log.map_at_mut(k).set(lba, new);
        }
    }
    Ok(())
}

/// Does record `r` in `unit` beat the block's current record at (cu, cs)? The higher
/// version wins, except that a GC copy loses to its original while the original is still in
/// the copy's victim unit. Reads the current record only when the units' version ranges
/// overlap or the copy rule may apply.
// Kept out of line: inlined into `offer_block` it makes the image bigger (measured).
#[inline(never)]
async fn beats<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    r: &SlotRecord,
    cu: u32,
    cs: u32,
    scratch: &mut [Scratch],
) -> Res<bool, F> {
    let v = r.claim.version;
    let same_unit = cu == unit;
    if same_unit {
        // Scanned from the top down: the current one, above, is newer; unless a copy that
        // kept an older version (one a snapshot sees) lies above, then versions decide.
        if v < scratch[unit as usize].floor {
            return Ok(false);
        }
    } else {
        let other = log.unit(cu);
        // The copy rule needs an original older than its copy in the copy's victim unit: a
        // unit erased after the copy was made holds only newer records.
        let copy_of_cur =
            r.claim.copy && u32::from(r.claim.victim) == cu && scratch[cu as usize].floor < v;
        let copied_from_here = v < scratch[unit as usize].victim_of;
        let copy_rule = copy_of_cur || copied_from_here;
        if !copy_rule && v > other.stamp() {
            return Ok(true);
        }
        if !copy_rule && v < scratch[cu as usize].floor {
            return Ok(false);
        }
    }
    // One read of the current record for both cases (one call site: less code).
    let cur = log.io.read_record(cu, cs).await?;
    let RecordRead::Valid(cur) = &cur else {
        return Ok(true);
    };
    let newer = r.claim.is_newer_than(&cur.claim);
    if same_unit {
        return Ok(newer);
    }
    // An original is older than its copy; a newer record in the victim unit is not one.
    // A copy (the newer one) loses to its original while the original's unit is intact:
    // `check` is that unit (one `intact` call site, less code).
    let same = cur.claim.kind == r.claim.kind && cur.data_crc == r.data_crc;
    let check = match same {
        true if newer && copy_of(&r.claim, &cur.claim, cu) => Some(cu),
        true if !newer && copy_of(&cur.claim, &r.claim, unit) => Some(unit),
        _ => None,
    };
    match check {
        Some(u) => Ok(intact(log, u, scratch).await? != newer),
        None => Ok(newer),
    }
}

/// Can `copy` be a GC copy of `orig`, a record in unit `orig_unit`? A copy that kept its
/// version names exactly its source (same version, one hop less); any other copy is newer
/// than its source, which never kept a version itself (a record that once kept its version
/// always does). So a victim unit erased and reused since the copy was made, which holds
/// only newer records and copies that kept older versions, never passes for the source.
fn copy_of(copy: &Claim, orig: &Claim, orig_unit: u32) -> bool {
    let exact = match copy.hop {
        NO_HOP => orig.hop == NO_HOP && orig.version < copy.version,
        hop => orig.version == copy.version && next_hop(orig.hop) == hop,
    };
    copy.copy && u32::from(copy.victim) == orig_unit && exact
}

/// Is a victim unit still intact (its erase never started)? A cut erase can leave the old
/// contents in place but every word unstable: its header then reads differently now and then.
async fn intact<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
    scratch: &mut [Scratch],
) -> Res<bool, F> {
    let s = &mut scratch[unit as usize];
    if let Some(stable) = s.header_stable {
        return Ok(stable);
    }
    let (stable, _) = log.io.read_header_stable(unit).await?;
    scratch[unit as usize].header_stable = Some(stable);
    Ok(stable)
}

/// Valid counts from the map and the retire table; retired units take their state.
fn count_valid<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) {
    let n = log.slots();
    // A unit that holds records is sealed whether or not a retire record names it below.
    for u in 0..log.io.geo.unit_count {
        let info = log.unit_mut(u);
        // The flash map's mount counted its units already (`mapmount`).
        if !M::ON_FLASH {
            info.valid = 0;
        }
        if info.used > 0 && matches!(info.state, UnitState::Free { .. }) {
            info.state = UnitState::Sealed;
        }
    }
    for lba in 0..log.map.len() {
        // A record the block map and snapshots share counts once (plain loops, no
        // collected list: with no snapshot slots they fold to one lookup).
        // `0..S + 1`, not `0..=S`: an inclusive range does not fold away when S is 0.
        for k in 0..S + 1 {
            let Some(loc) = log.map_at(k).get(lba).location() else {
                continue;
            };
            if (0..k).all(|j| log.map_at(j).get(lba).location() != Some(loc)) {
                log.unit_mut(loc.0).valid += 1;
            }
        }
    }
    if log.meta_at != NO_RECORD {
        log.unit_mut(log.meta_at / n).valid += 1;
    }
    for target in 0..log.io.geo.unit_count {
        let at = log.retire_at[target as usize];
        if at != NO_RECORD {
            log.unit_mut(at / n).valid += 1;
            log.unit_mut(target).state = UnitState::Retired;
        }
    }
}

/// Units without a readable header get the mean wear of the others (as UBI does).
fn estimate_lost_wear<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) {
    let mean = log
        .units
        .mean_wear(|u| u.state != UnitState::Dirty)
        .unwrap_or(0);
    for u in log.units.iter_mut() {
        if u.state == UnitState::Dirty {
            u.wear = mean;
        }
    }
}

/// Resume the newest partly used unit of each stream as its frontier (its next slot is
/// probed before the first append). Other partly used units stay sealed until GC; one with
/// nothing live is available (a GC round cut before its victim was erased leaves one) and
/// stays so: resuming it would hand GC's unit to the host.
fn pick_frontiers<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
    scratch: &[Scratch],
) {
    use super::log::Stream::{Gc, Host};
    let n = log.slots();
    // A flash-map volume with no unit available resumes its newest unit with room for GC,
    // whatever its top record: a round cut after its admission wrote the map's run and root
    // into the last unit (`mapio::Writer::Gc`) finishes there, as the space invariant wants.
    let streams = match M::ON_FLASH && log.available() == 0 {
        true => [(Gc, None), (Host, Some(false))],
        false => [(Host, Some(false)), (Gc, Some(true))],
    };
    for (stream, copy) in streams {
        // The newest such unit; on equal stamps the last one (as `max_by_key` would pick).
        let mut newest: Option<(u32, u64)> = None;
        for (i, u) in log.units.iter() {
            let resumable = u.state == UnitState::Sealed
                && u.valid > 0
                && (u.used as u32) < n
                && copy.is_none_or(|c| scratch[i as usize].top_is_copy == c);
            if resumable && newest.is_none_or(|(_, stamp)| u.stamp() >= stamp) {
                newest = Some((i, u.stamp()));
            }
        }
        if let Some((u, _)) = newest {
            if log.frontier(stream).is_none() {
                log.unit_mut(u).state = UnitState::Open;
                log.set_frontier(stream, Some(u));
            }
        }
    }
}

/// Format: every unit erased (wear carried over from old headers) with a header of a new
/// epoch. The first unit erased holds nothing live in the old volume, so a cut before its
/// header lands leaves the old volume intact, and once any new header is on flash the newest
/// epoch is the new, empty volume.
pub(crate) async fn format<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: Mount,
>(
    io: FlashIo<F>,
) -> Res<Log<F, U, B, S, M>, F> {
    let mut log: Log<F, U, B, S, M> = Log::new(io);
    let first = match mount(&mut log).await {
        Ok(()) => log.units.pick_available(false, false).unwrap_or(0),
        Err(Error::Flash(e)) => return Err(Error::Flash(e)),
        Err(_) => 0,
    };
    // Start over from the same state (and flash counters) instead of building a second
    // `Log`: mount wrote nothing, so a reset log is a new one.
    log.reset();
    let epoch = carry_wear(&mut log).await?;
    log.epoch = epoch;
    let count = log.io.geo.unit_count;
    for i in 0..count {
        let unit = (first + i) % count;
        if log.io.geo.no_erase {
            prepare_write_once(&mut log, unit).await?;
        } else {
            log.erase(unit).await?;
        }
    }
    log.failed = None;
    Ok(log)
}

/// Wear counters from the old headers (mean for the unreadable ones); the new epoch.
async fn carry_wear<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMount>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<u32, F> {
    let mut max_epoch = 0u32;
    for unit in 0..log.io.geo.unit_count {
        let state = match log.io.read_header(unit).await? {
            HeaderRead::Valid(h) if h.version == version_of::<M>() => {
                max_epoch = max_epoch.max(h.epoch);
                log.unit_mut(unit).wear = h.wear;
                UnitState::Sealed
            }
            _ => UnitState::Dirty,
        };
        log.unit_mut(unit).state = state;
    }
    estimate_lost_wear(log);
    Ok(max_epoch.wrapping_add(1))
}

/// Write-once media cannot be erased: a blank unit gets its header, anything else is an
/// error (a write-once volume is formatted once).
async fn prepare_write_once<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapMount,
>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
) -> Res<(), F> {
    let g = log.io.geo;
    if !log.io.is_blank(g.unit_addr(unit), g.unit_size).await? {
        return Err(Error::NoSpace);
    }
    log.write_header(unit).await?;
    let info = log.unit_mut(unit);
    info.state = UnitState::Free { verified: true };
    info.fresh = true;
    Ok(())
}
