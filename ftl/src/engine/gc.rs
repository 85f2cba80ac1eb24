//! Garbage collection, wear levelling and retirement: everything that decides which unit to
//! empty, copies its live slots through the log and erases it.
//!
//! The space invariant (docs/DESIGN.md) in one paragraph: a unit with no live slot that is
//! not a frontier is *available*. The host may open a unit only while more than `headroom`
//! (1, plus 1 while a spare is left) are available; the last ones belong to GC. A GC round
//! copies a victim's live slots into the GC frontier, spilling into an available unit, then
//! erases the victim, so a round never needs more than one available unit and gives one
//! back. The exported capacity is `(units - reserve) * slots - 1`, so whenever no frontier
//! has room, some unit that is not a frontier holds fewer live slots than it has: a victim
//! exists and its round frees at least one slot. A power cut inside a round leaves the
//! copies' originals in place, and mount prefers an original to a copy of it, so the unit
//! the round spilled into holds nothing live afterwards: cuts never use up available units.

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::Res;
use super::log::{Entry, Log, Source, Stream, NO_RECORD};
use super::mapio::{MapIo, Writer};
use crate::error::Error;
use crate::layout::{next_hop, RecordKind, RecordRead, NO_HOP};
use crate::units::{age_weight, UnitState};

/// Available units the host must leave to GC now (`Geometry::gc_headroom`).
pub(crate) fn headroom<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &Log<F, U, B, S, M>,
) -> u32 {
    // The flash map keeps units for its runs and merges (`flashmap::mode`).
    let held = if M::ON_FLASH {
        M::held_units(&log.mode)
    } else {
        0
    };
    log.io.geo.gc_headroom(log.retired()) + held
}

/// Make sure a frontier has `need` slots for the host, `stream`'s (`host_stream`) unless GC
/// cannot make a unit available (a transaction's records all go to
/// one unit); returns its stream. The GC frontier takes host writes only when GC cannot
/// make a unit available.
pub(crate) async fn room_for_host<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
    need: u32,
    stream: Stream,
) -> Res<Stream, F> {
    let rounds = 2 * log.io.geo.unit_count + 4 + need;
    restore_available(log).await?;
    for _ in 0..rounds {
        if log.read_only {
            return Err(Error::ReadOnly);
        }
        // One frontier for everything (fewer than 4 units): keep it open while GC runs, so
        // a victim's records fill its free slots and spill into a fresh unit that then has
        // room; sealed first, every round would end with a unit as short of room as before.
        let seal = !log.io.geo.single_stream;
        if has_room(log, stream, need, seal).await? {
            return Ok(stream);
        }
        if log.io.geo.no_erase || log.available() > headroom(log) {
            open_fresh(log, stream).await?;
            continue;
        }
        if collect_one(log).await? {
            continue;
        }
        // No victim: what is free sits in the GC frontiers. Use one with room, or seal one
        // without (its garbage and unused slots make it a victim).
        let mut sealed = false;
        for s in [Stream::Gc, Stream::Cold] {
            if log.frontier(s).is_some() {
                if has_room(log, s, need, true).await? {
                    return Ok(s);
                }
                sealed = true;
            }
        }
        if !sealed {
            break;
        }
    }
    Err(Error::NoSpace)
}

/// The frontier a host write of `entries` goes to. A block whose record has sat untouched
/// for half the volume's slots of writes is cold: with three frontiers its new record joins
/// the cold frontier, so host units hold hot blocks that die young and cold units stay
/// full. A block the cold frontier holds was judged cold once already: it stays cold unless
/// its unit is younger than a thirty-second of the volume's slots (docs/DESIGN.md, "Garbage
/// collection"). Transactions stay on the host frontier.
pub(crate) fn host_stream<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &Log<F, U, B, S, M>,
    entries: &[Entry<'_>],
) -> Stream {
    let [e] = entries else {
        return Stream::Host;
    };
    if log.io.geo.streams() < 3 || e.kind.is_meta() {
        return Stream::Host;
    }
    // The flash map knows the block from the lookup the operation pinned.
    let cur = match M::ON_FLASH {
        true => M::known(&log.mode, e.lba).unwrap_or(crate::map::Mapping::Unmapped),
        false => log.map.get(e.lba),
    };
    let Some((unit, _)) = cur.location() else {
        return Stream::Host;
    };
    // The unit's newest version bounds the record's from above: the block is at least
    // this old.
    let u = log.unit(unit);
    match is_old(log, u, if u.cold { 5 } else { 1 }) {
        true => Stream::Cold,
        false => Stream::Host,
    }
}

/// True if `u` was last written more than `total >> shift` versions ago, `total` being the
/// volume's slots (about that many writes turn the whole volume over).
fn is_old<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &Log<F, U, B, S, M>,
    u: &crate::units::UnitInfo,
    shift: u32,
) -> bool {
    let g = &log.io.geo;
    let age = log.next_version.saturating_sub(u.stamp());
    age > u64::from((g.unit_count * g.slots_per_unit) >> shift)
}

/// True if `s`'s frontier has `need` slots after probing; a frontier with less is sealed if
/// `seal` (GC may take it: its unused slots count as free space like any garbage).
async fn has_room<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    s: Stream,
    need: u32,
    seal: bool,
) -> Res<bool, F> {
    let Some(unit) = log.frontier(s) else {
        return Ok(false);
    };
    log.probe(unit).await?;
    if log.room(s) >= need {
        return Ok(true);
    }
    if seal {
        log.set_frontier(s, None);
    }
    Ok(false)
}

/// Moving data out of a retired unit takes units and gives none back: when that left no unit
/// available, collect victims whose live slots fit in the frontiers until one is again
/// (best effort; GC rounds below then make more room).
async fn restore_available<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    for _ in 0..log.io.geo.unit_count {
        if log.io.geo.no_erase || log.available() > 0 {
            break;
        }
        // The sealed unit with the fewest live slots that fit, the first among equals.
        let mut best: Option<(u32, u8)> = None;
        for (i, u) in log.units.iter() {
            let fits =
                u.state == UnitState::Sealed && u32::from(u.valid) <= log.room(copy_stream(log, u));
            if fits && best.is_none_or(|(_, valid)| u.valid < valid) {
                best = Some((i, u.valid));
            }
        }
        let Some((victim, _)) = best else {
            break;
        };
        collect(log, victim).await?;
        log.io.counters.gc_victims += 1;
    }
    Ok(())
}

/// Open an available unit as `stream`'s frontier: the least-worn for host writes, the
/// most-worn for GC copies (cold data lets worn units rest).
async fn open_fresh<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    stream: Stream,
) -> Res<u32, F> {
    let most_worn = stream != Stream::Host;
    let unit = match M::ON_FLASH {
        // The flash map opens a unit a mount no longer needs if it can (`MapIo::pick_unit`).
        true => M::pick_unit(log, most_worn).await?,
        false => log.units.pick_available(most_worn, log.io.geo.no_erase),
    };
    let unit = unit.ok_or(Error::NoSpace)?;
    // A unit whose records all went stale is reclaimed without copying: GC's cheapest round.
    let reclaimed = log.unit(unit).state == UnitState::Sealed;
    log.open(stream, unit).await?;
    if reclaimed {
        log.io.counters.gc_victims += 1;
    }
    Ok(unit)
}

/// `Config::gc_ahead`: one round now if no more than `headroom + 1` units are available, so
/// that the next unit a write needs is ready. A round needs at most one available unit and
/// gives one back, as when a write runs it (the space invariant does not care when rounds
/// run); single-stream volumes (write-once ones among them) collect only when a write needs
/// room.
pub(crate) async fn collect_ahead<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    let g = &log.io.geo;
    if g.single_stream || log.available() > headroom(log) + 1 {
        return Ok(());
    }
    collect_one(log).await.map(|_| ())
}

/// Run one GC round if there is a victim; `false` if there is none.
pub(crate) async fn collect_one<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<bool, F> {
    let Some(victim) = pick_victim(log) else {
        return Ok(false);
    };
    seal_stale_copy_frontiers(log);
    collect(log, victim).await?;
    log.io.counters.gc_victims += 1;
    Ok(true)
}

/// A copy frontier not written for a whole volume's slots of writes ties up its unit's free
/// slots for good: seal it, so they count as free space once it is a victim. Only before a
/// round that has its victim (a frontier's room is never given up for nothing: a retire
/// record may need it), not in read-only mode, and only while a unit is available: the
/// round may then spill into it, as any round may. A unit's stamp is its newest record's
/// version, which tells when it was last written only if copies take new versions: not in
/// builds with snapshot slots, whose copies may keep old ones, so those keep their copy
/// frontiers open.
fn seal_stale_copy_frontiers<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) {
    if S > 0 || log.io.geo.streams() == 1 || log.read_only || log.available() == 0 {
        return;
    }
    for s in [Stream::Gc, Stream::Cold] {
        let Some(unit) = log.frontier(s) else {
            continue;
        };
        let u = log.unit(unit);
        if u.used > 0 && is_old(log, u, 0) {
            log.close_full(unit);
        }
    }
}

/// Copy the live slots of `victim` out and erase it (retired units are emptied, not erased).
pub(crate) async fn collect<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
    victim: u32,
) -> Res<(), F> {
    if M::ON_FLASH {
        // The round's copies all go into the map's buffer: make room for them first, and
        // for the records of the operation the round runs in.
        let live = u32::from(log.units.get(victim).valid);
        M::admit(log, live + log.io.geo.txn_blocks, Writer::Gc).await?;
    }
    let kept_versions = relocate(log, victim).await?;
    if log.unit(victim).state == UnitState::Retired || log.io.geo.no_erase {
        return Ok(());
    }
    debug_assert_eq!(log.unit(victim).valid, 0);
    if kept_versions {
        erase_stale_copies(log, victim).await?;
    }
    if M::ON_FLASH {
        M::before_erase(log, victim).await?;
    }
    log.erase(victim).await
}

/// Before erasing a victim some of whose copies kept their versions: a unit holding copies
/// out of it from an earlier round that a power cut interrupted (nothing live, not erased
/// yet) has those copies under newer versions, and once the victim is gone a mount would
/// take them over the copies that kept their versions, leaving that unit live. Erase such
/// units first (they are erased before reuse anyway). docs/DESIGN.md, recovery rule 10.
async fn erase_stale_copies<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
    victim: u32,
) -> Res<(), F> {
    for unit in 0..log.io.geo.unit_count {
        let u = log.unit(unit);
        if u.state != UnitState::Sealed || u.valid != 0 || u.used == 0 {
            continue;
        }
        for slot in 0..u32::from(u.used) {
            if let RecordRead::Valid(r) = log.io.read_record(unit, slot).await? {
                if r.claim.copy && u32::from(r.claim.victim) == victim {
                    log.erase(unit).await?;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Victim choice. Retired units holding data go first. Otherwise cost-benefit (Rosenblum &
/// Ousterhout) with a damped age: the most `w(age) * free / (slots + live)`, where age is
/// how many versions ago the unit was last written and `w(age)` grows about as
/// `age^0.625`, so cold units are collected when moderately full and hot ones when nearly
/// empty, without starving the hot ones of victims (a plain `age` empties hot units too
/// far: docs/DESIGN.md, "Garbage collection"); among equals the least worn, then the lowest
/// index. Frontiers and full units are never victims. Below headroom a victim whose live
/// slots fit in its copy frontier comes first: its round needs no available unit, so it
/// gives one back.
fn pick_victim<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &Log<F, U, B, S, M>,
) -> Option<u32> {
    let n = log.slots();
    let short = log.available() <= headroom(log);
    let now = log.next_version;
    // (fits, score, unworn) of the best so far: plain loop and tuple compare (the iterator
    // form with closures measured larger).
    let mut best: Option<(u32, (bool, u32, u32))> = None;
    for (i, u) in log.units.iter() {
        if u.state == UnitState::Retired && u.valid > 0 {
            return Some(i);
        }
        let live = u32::from(u.valid);
        if u.state != UnitState::Sealed || live >= n {
            continue;
        }
        // 32-bit arithmetic (no 64-bit division routine on Cortex-M): ages beyond 2^23
        // versions all count as "very old"; w < 2^20, and 2^20 * 255 free slots fits.
        let age = now.saturating_sub(u.stamp()).clamp(1, 1 << 23) as u32;
        let fits = short && live <= log.room(copy_stream(log, u));
        let key = (
            fits,
            age_weight(age) * (n - live) / (n + live),
            u32::MAX - u.wear,
        );
        if best.is_none_or(|(_, b)| key > b) {
            best = Some((i, key));
        }
    }
    best.map(|(i, _)| i)
}

/// Where the survivors of a unit go: out of a unit last written more than half the
/// volume's slots ago, to the cold frontier (they outlived a long time), else to the GC
/// frontier. All of a round's survivors go to one stream, so a round still needs at most
/// one available unit.
fn copy_stream<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &Log<F, U, B, S, M>,
    u: &crate::units::UnitInfo,
) -> Stream {
    match is_old(log, u, 1) {
        true => Stream::Cold,
        false => Stream::Gc,
    }
}

/// Copy every live slot of `unit` to the GC frontier (same contents; each copy names `unit`
/// as its victim). Records snapshots see, retire and table records move too. Returns
/// whether a copy kept its version.
async fn relocate<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
) -> Res<bool, F> {
    let mut kept_versions = false;
    let used = log.unit(unit).used as u32;
    let stream = copy_stream(log, log.unit(unit));
    // Whether a slot could not be judged (no claim to read), and whether a live record
    // failed to read back.
    let (mut torn, mut lost) = (false, false);
    for slot in 0..used {
        if log.unit(unit).valid == 0 {
            break;
        }
        let r = match log.io.read_record(unit, slot).await? {
            RecordRead::Valid(r) => r,
            RecordRead::Junk => {
                torn = true;
                continue;
            }
            // A claim without its commit: a cut program, or rot of a live record (then the
            // unit is kept below).
            RecordRead::Claimed(c) if M::ON_FLASH => {
                lost |= M::is_live(log, (unit, slot), c.lba, c.kind).await?;
                continue;
            }
            _ => continue,
        };
        let c = r.claim;
        let live = match M::ON_FLASH {
            true => M::is_live(log, (unit, slot), c.lba, c.kind).await?,
            false => log.is_live(unit, slot, c.lba, c.kind),
        };
        if !live {
            continue;
        }
        let src = match c.kind.has_data() {
            true => Source::Slot { unit, slot },
            false => Source::None,
        };
        room_for_copy(log, stream).await?;
        // A record a snapshot sees keeps its version, so mount can tell which snapshots
        // see the copy, and so does every later copy of it (mount's copy rule relies on
        // that); any other copy gets a new one (docs/DESIGN.md, "Snapshots").
        let pinned = c.hop != NO_HOP || log.table.pinned(c.version);
        // The flash map has no snapshots: its copies always take new versions (a crafted
        // `hop` must not put an old version above newer ones in a unit: mount reads tops).
        let pinned = pinned && !c.kind.is_meta() && !M::ON_FLASH;
        kept_versions |= pinned;
        let e = Entry {
            kind: c.kind,
            lba: c.lba,
            src,
            data_crc: r.data_crc,
            moved: Some((unit, slot)),
            origin: pinned.then_some((c.version, next_hop(c.hop))),
        };
        log.append(stream, &e).await?;
        log.io.counters.relocations += 1;
    }
    if log.unit(unit).valid != 0 {
        if !M::ON_FLASH || lost || (torn && holds_live(log, unit).await?) {
            // A live record no longer reads back valid: keep the unit rather than erase
            // data that could not be moved (reads of those blocks report Corrupt).
            return Err(Error::Corrupt);
        }
        // A flash-map count can come out high after a cut in the erase gap, never low
        // (docs/DESIGN.md, "The flash map's counts"): nothing here is live, so the rest
        // of the count was garbage.
        log.units.get_mut(unit).valid = 0;
    }
    Ok(kept_versions)
}

/// Does `unit` still hold a live record? Asked when a slot there has no readable claim, so
/// GC could not judge it: the volume's and the map's own records are counted and every block
/// is looked up (a rare, slow path: a count too high and a torn slot in one unit).
async fn holds_live<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
) -> Res<bool, F> {
    let live = recount(log).await?;
    Ok(live.get(unit as usize).is_some_and(|&l| l > 0))
}

/// Each unit's live records, recounted: the volume's own, the map's own (pages, delta
/// records, roots) and a lookup of every block (slow with the flash map: it reads the map's
/// records).
pub(crate) async fn recount<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<heapless::Vec<u16, U>, F> {
    let n = log.slots();
    let mut live: heapless::Vec<u16, U> = heapless::Vec::new();
    let _ = live.resize(log.io.geo.unit_count as usize, 0);
    let mut count = |at: u32| {
        if let Some(c) = live.get_mut((at / n) as usize) {
            *c = c.saturating_add(1);
        }
    };
    log.volume_records().for_each(&mut count);
    M::for_each_record(&log.mode, &mut count);
    for lba in 0..log.io.geo.block_count {
        if let Some((u, s)) = M::lookup(log, lba).await?.location() {
            count(u * n + s);
        }
    }
    Ok(live)
}

/// A slot in `stream`'s frontier, opening an available unit when it is full.
async fn room_for_copy<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    stream: Stream,
) -> Res<(), F> {
    if let Some(g) = log.frontier(stream) {
        log.probe(g).await?;
        if log.room(stream) > 0 {
            return Ok(());
        }
    }
    open_fresh(log, stream).await.map(|_| ())
}

/// A slot for a record without data, and the stream it goes to: the GC frontier's, else
/// the host frontier's (a record without data has no temperature), else collecting a unit
/// (also in read-only mode: the last retirement must reach flash too).
async fn room_for_record<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<Stream, F> {
    for _ in 0..log.io.geo.unit_count {
        match room_for_copy(log, Stream::Gc).await {
            Err(Error::NoSpace) => {}
            r => return r.map(|()| Stream::Gc),
        }
        if has_room(log, Stream::Host, 1, false).await? {
            return Ok(Stream::Host);
        }
        if !collect_one(log).await? {
            break;
        }
    }
    Err(Error::NoSpace)
}

/// Static wear levelling: when the erase-count spread exceeds `threshold` and the least-worn
/// unit holds (cold) data, collect it so it returns to the pool; GC copies go to the
/// most-worn available unit.
pub(crate) async fn level_wear<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
    threshold: u32,
) -> Res<(), F> {
    // No live unit: (MAX, 0), a spread of 0.
    let (min, max) = log.units.wear_range();
    if log.io.geo.no_erase || max.saturating_sub(min) <= threshold {
        return Ok(());
    }
    if log.available() < headroom(log) {
        return Ok(());
    }
    // A GC frontier that copies rarely fill can stay open, and least worn, for ever: seal it,
    // so it is collected like any cold unit (its unused slots count as free space).
    for s in [Stream::Gc, Stream::Cold] {
        if let Some(u) = log.frontier(s).filter(|&u| log.unit(u).wear == min) {
            log.close_full(u);
        }
    }
    // The least-worn sealed unit, the lowest index among equals (a plain loop: the iterator
    // form costs more code).
    let mut coldest: Option<(u32, u32)> = None;
    for (i, u) in log.units.iter() {
        if u.state == UnitState::Sealed && coldest.is_none_or(|(_, wear)| u.wear < wear) {
            coldest = Some((i, u.wear));
        }
    }
    let Some((unit, wear)) = coldest else {
        return Ok(());
    };
    if wear > min {
        // The least-worn unit is available: dynamic wear levelling picks it next.
        return Ok(());
    }
    collect(log, unit).await?;
    log.io.counters.wl_moves += 1;
    Ok(())
}

/// Take `unit` out of service after a failure (RAM only; `tidy_retired` moves its data and
/// records the retirement). Turns the volume read-only when more units failed than the
/// reserve has spares.
pub(crate) fn retire<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapIo>(
    log: &mut Log<F, U, B, S, M>,
    unit: u32,
) {
    if log.unit(unit).state == UnitState::Retired {
        return;
    }
    // No longer a frontier (it is sealed on the way, then marked retired).
    log.close_full(unit);
    log.unit_mut(unit).state = UnitState::Retired;
    log.io.counters.retired += 1;
    if log.retired() > log.io.geo.spare_units() {
        log.read_only = true;
    }
}

/// Move the live data out of retired units and record each retirement on flash (a retire
/// record in the GC frontier, carried forward by GC), so a remount keeps them out.
pub(crate) async fn tidy_retired<
    F: NorFlash,
    const U: usize,
    const B: usize,
    const S: usize,
    M: MapIo,
>(
    log: &mut Log<F, U, B, S, M>,
) -> Res<(), F> {
    for unit in 0..log.io.geo.unit_count {
        if log.unit(unit).state != UnitState::Retired {
            continue;
        }
        if log.unit(unit).valid > 0 {
            // A retired unit is never erased: no stale copy can outlive it.
            relocate(log, unit).await?;
        }
        if log.retire_at[unit as usize] == NO_RECORD {
            let s = room_for_record(log).await?;
            log.append(s, &Entry::record(RecordKind::Retire, unit))
                .await?;
        }
    }
    Ok(())
}
