//! Garbage collection, wear levelling and bad-unit retirement: everything that moves live
//! slots between units, erases units and opens new write frontiers.
//!
//! Progress argument (why GC always finishes): the exported block count is
//! `(units - reserve) * slots - 1` with `reserve >= 3`. When GC runs, at most one unit is
//! available and two are open frontiers, so at least `units - retired - 3` units are sealed
//! and together hold at most `block_count` live slots. While `retired <= reserve - 3` that is
//! fewer than `sealed * slots`, so some sealed unit has a free-able slot; relocating it needs
//! at most one new GC-frontier unit (it has fewer than `slots` live slots) and its erase
//! gives one back. Every round frees at least one slot; every loop is bounded by the unit count.

use embedded_storage::nor_flash::NorFlash;

use crate::error::Error;
use crate::layout::{HeaderKind, RecordKind, RecordRead, Stream};
use crate::map::Mapping;
use crate::units::UnitState;
use crate::volume::{Entry, Ftl, Res, Source};

/// Slots that the recovery of two power cuts in a row may give up in a frontier.
pub(crate) const RECOVERY_MARGIN: u16 = 10;

impl<F: NorFlash, const U: usize, const B: usize> Ftl<F, U, B> {
    /// Run GC until at least `need` units are available for new frontiers.
    pub(crate) fn ensure_available(&mut self, need: u32) -> Res<(), F> {
        let can_erase = !self.geo.no_erase;
        // Each round frees a slot; 4 rounds per unit is far more than a full sweep needs.
        for _ in 0..(4 * self.geo.unit_count + 4) {
            if self.read_only {
                return Err(Error::ReadOnly);
            }
            if self.units.available(can_erase) >= need {
                return Ok(());
            }
            if !can_erase {
                return Err(Error::NoSpace);
            }
            let victim = match self.pick_victim() {
                Some(v) => v,
                // All garbage sits in the open frontiers (slots skipped or settled after
                // power cuts): close one so that GC can take it.
                None if self.seal_a_frontier() => continue,
                None => return Err(Error::NoSpace),
            };
            self.collect(victim)?;
            self.counters.gc_victims += 1;
            self.level_wear()?;
        }
        Err(Error::NoSpace)
    }

    /// Seal the open frontier holding the most garbage, if any holds some.
    fn seal_a_frontier(&mut self) -> bool {
        let garbage = |u: Option<u32>, t: &Self| {
            u.map(|u| t.units.get(u))
                .filter(|i| i.state == UnitState::Open && i.used > i.valid)
        };
        let pick = match (garbage(self.host, self), garbage(self.gc, self)) {
            (Some(h), Some(g)) if g.used - g.valid > h.used - h.valid => Stream::Gc,
            (Some(_), _) => Stream::Host,
            (None, Some(_)) => Stream::Gc,
            (None, None) => return false,
        };
        if let Some(u) = self.frontier(pick) {
            self.units.get_mut(u).state = UnitState::Sealed;
            self.set_frontier(pick, None);
        }
        true
    }

    /// Greedy victim: the sealed unit with the fewest live slots (ties: least worn, so
    /// erases go where wear is lowest). `None` if no sealed unit has anything to reclaim.
    fn pick_victim(&self) -> Option<u32> {
        let spu = self.geo.slots_per_unit as u16;
        let sealed = || {
            self.units
                .iter()
                .filter(move |(_, u)| u.state == UnitState::Sealed && u.valid < spu)
        };
        let room = self.room(Stream::Gc);
        match self.units.available(true) {
            // No unit left: only a victim whose live slots fit in the open frontiers (GC
            // copies spill into the host frontier) can be collected; starting any other
            // would use up the last free slots and leave the volume stuck.
            0 => {
                let total = self.free_slots();
                return sealed()
                    .filter(|(_, u)| u32::from(u.valid) <= total)
                    .min_by_key(|(i, u)| (u.valid, u.wear, *i))
                    .map(|(i, _)| i);
            }
            // Down to the last available unit: prefer a victim that fits in the GC
            // frontier, so a power cut in the middle of this round cannot leave none.
            // If it must take the last unit, prefer a victim that leaves room in it for the
            // recovery of two power cuts (torn slot, skipped slot, void and settle
            // records each), so that the round can still be finished after them.
            1 => {
                let spu = self.geo.slots_per_unit as u16;
                let fits = sealed()
                    .filter(|(_, u)| u.valid + 2 <= room)
                    .min_by_key(|(i, u)| (u.valid, u.wear, *i))
                    .or_else(|| {
                        sealed()
                            .filter(|(_, u)| u.valid + RECOVERY_MARGIN <= spu)
                            .min_by_key(|(i, u)| (u.valid, u.wear, *i))
                    });
                if let Some((i, _)) = fits {
                    return Some(i);
                }
            }
            _ => {}
        }
        sealed()
            .min_by_key(|(i, u)| (u.valid, u.wear, *i))
            .map(|(i, _)| i)
    }

    /// Relocate the live slots of `victim` and erase it.
    pub(crate) fn collect(&mut self, victim: u32) -> Res<(), F> {
        // Live data carries the intent on its last copy; an all-garbage unit needs a
        // record of its own.
        let standalone = self.units.get(victim).valid == 0;
        self.relocate_unit(victim, true)?;
        if self.units.get(victim).valid != 0 {
            // A live record could not be read back: keep the unit (reads of those blocks
            // report Corrupt) rather than erase data we could not move.
            self.retire(victim)?;
            return Ok(());
        }
        self.erase_unit(victim, standalone)
    }

    /// Static wear levelling: when the erase-count spread exceeds the threshold and the
    /// least-worn unit holds (cold) data, move that data to the GC frontier (which takes
    /// the most-worn free unit) so the least-worn unit returns to the free pool.
    pub(crate) fn level_wear(&mut self) -> Res<(), F> {
        let w = self.units.wear_summary();
        if self.geo.no_erase || w.max - w.min <= self.cfg.static_wl_threshold {
            return Ok(());
        }
        if self.units.available(true) < 2 {
            return Ok(());
        }
        let coldest = self
            .units
            .iter()
            .filter(|(i, u)| u.state == UnitState::Sealed && Some(*i) != self.gc)
            .min_by_key(|(i, u)| (u.wear, *i))
            .map(|(i, u)| (i, u.wear));
        let Some((unit, wear)) = coldest else {
            return Ok(());
        };
        if wear > w.min {
            // The least-worn unit is free: dynamic wear levelling will pick it next.
            return Ok(());
        }
        let standalone = self.units.get(unit).valid == 0;
        self.relocate_unit(unit, true)?;
        self.counters.wl_moves += 1;
        if self.units.get(unit).valid != 0 {
            return self.retire(unit);
        }
        self.erase_unit(unit, standalone)
    }

    /// Copy every live slot of `unit` to the GC frontier (new versions, same contents).
    /// `announce`: the unit is erased right after, so the last copy carries the intent.
    pub(crate) fn relocate_unit(&mut self, unit: u32, announce: bool) -> Res<(), F> {
        let used = self.units.get(unit).used as u32;
        let outer = self.relocating.replace(unit);
        let mut r = Ok(());
        // Only retire records (not counted as valid) may be left once `valid` is 0.
        let carries = self.retire_log.iter().any(|&(_, h)| u32::from(h) == unit);
        for slot in 0..used {
            if self.units.get(unit).valid == 0 && !carries {
                break;
            }
            if let Err(e) = self.relocate_slot(unit, slot, announce) {
                r = Err(e);
                break;
            }
        }
        self.relocating = outer;
        // Pair assertion: the unit's valid count matches the map.
        debug_assert!(
            r.is_err()
                || self
                    .map
                    .iter()
                    .filter(|(_, m)| m.location().is_some_and(|(u, _)| u == unit))
                    .count()
                    == self.units.get(unit).valid as usize,
            "valid count of unit {unit} disagrees with the map"
        );
        r
    }

    /// Copy (unit, slot) to the GC frontier if it is the newest record of its block.
    /// A retire record the unit holds moves along with the live slots.
    pub(crate) fn relocate_slot(&mut self, unit: u32, slot: u32, announce: bool) -> Res<bool, F> {
        let rec = match self.read_record(unit, slot)? {
            RecordRead::Valid(r) => r,
            _ => return Ok(false),
        };
        if rec.kind == RecordKind::Retire {
            let held = self
                .retire_log
                .iter()
                .any(|&(t, h)| u32::from(t) == rec.lba && u32::from(h) == unit);
            if held {
                self.log_retirement(rec.lba)?;
            }
            return Ok(false);
        }
        self.copy_record(unit, slot, rec, Stream::Gc, true, announce)
    }

    /// Record on flash that `target` is retired (GC frontier), and remember where.
    pub(crate) fn log_retirement(&mut self, target: u32) -> Res<(), F> {
        let e = Entry {
            kind: RecordKind::Retire,
            lba: target,
            src: Source::None,
            data_crc: 0,
            copy: true,
            erases: None,
        };
        let (holder, _) = self.append(Stream::Gc, e)?;
        let (t, h) = (target as u16, holder as u16);
        match self.retire_log.iter_mut().find(|(x, _)| *x == t) {
            Some(entry) => entry.1 = h,
            // Cannot overflow: at most one entry per unit.
            None => {
                let _ = self.retire_log.push((t, h));
            }
        }
        Ok(())
    }

    /// Copy (unit, slot), whose record `rec` was just read, to `dest`'s frontier if it is
    /// the newest record of its block. `copy` flags the new record as a relocation. Mount
    /// recovery passes what the scan read: a weak record may read differently next time.
    pub(crate) fn copy_record(
        &mut self,
        unit: u32,
        slot: u32,
        rec: crate::layout::SlotRecord,
        dest: Stream,
        copy: bool,
        announce: bool,
    ) -> Res<bool, F> {
        if rec.lba >= self.geo.block_count {
            return Ok(false);
        }
        let here = self.map.get(rec.lba);
        let (kind, src) = match (rec.kind, here) {
            (RecordKind::Data, Mapping::Data { unit: u, slot: s }) if (u, s) == (unit, slot) => {
                (RecordKind::Data, Source::Slot { unit, slot })
            }
            (RecordKind::Trim, Mapping::Trimmed { unit: u, slot: s }) if (u, s) == (unit, slot) => {
                (RecordKind::Trim, Source::None)
            }
            _ => return Ok(false),
        };
        // The last live slot leaving a unit that is erased next carries the erase intent.
        let last = self.units.get(unit).valid == 1;
        let erases = (announce && last).then_some(unit as u16);
        self.append(
            dest,
            Entry {
                kind,
                lba: rec.lba,
                src,
                data_crc: rec.data_crc,
                copy,
                erases,
            },
        )?;
        self.counters.relocations += 1;
        Ok(true)
    }

    /// Open a new frontier for `stream`: host writes take the least-worn available unit,
    /// GC takes the most-worn one (its data is colder, so worn units rest).
    pub(crate) fn open_unit(&mut self, stream: Stream) -> Res<u32, F> {
        let can_erase = !self.geo.no_erase;
        for _ in 0..self.geo.unit_count {
            if self.read_only {
                return Err(Error::ReadOnly);
            }
            let pick = match stream {
                Stream::Host => self.units.least_worn_available(can_erase),
                Stream::Gc => self.most_worn_available(can_erase),
            };
            let Some(unit) = pick else {
                return self.reopen_any(stream);
            };
            if !self.prepare_unit(unit)? {
                continue;
            }
            match self.write_header(unit, HeaderKind::Opened, stream as u8) {
                Ok(()) => {
                    let info = self.units.get_mut(unit);
                    info.state = UnitState::Open;
                    info.used = 0;
                    info.valid = 0;
                    self.set_frontier(stream, Some(unit));
                    return Ok(unit);
                }
                Err(e) => {
                    self.note_fault(e);
                    self.retire(unit)?
                }
            }
        }
        Err(Error::NoSpace)
    }

    /// Last resort when no unit is available (power cuts in the middle of GC rounds can
    /// leave none): go on appending to a partially used unit. Its slots from `used` on are
    /// safe to program (mount walked its log end), and the next mount walks it again.
    fn reopen_any(&mut self, stream: Stream) -> Res<u32, F> {
        for unit in 0..self.geo.unit_count {
            let busy = [self.host, self.gc, self.relocating].contains(&Some(unit));
            if !busy && self.reopen(unit, stream) {
                return Ok(unit);
            }
        }
        Err(Error::NoSpace)
    }

    fn most_worn_available(&self, can_erase: bool) -> Option<u32> {
        self.units
            .iter()
            .filter(|(_, u)| match u.state {
                UnitState::Free { .. } => true,
                UnitState::Dirty => can_erase,
                _ => false,
            })
            .max_by_key(|(i, u)| {
                (
                    u.wear,
                    matches!(u.state, UnitState::Free { .. }),
                    u32::MAX - *i,
                )
            })
            .map(|(i, _)| i)
    }

    /// Make `unit` a verified-erased unit with a header A. `Ok(false)`: it is unusable
    /// (retired, or dirty on media that cannot erase).
    fn prepare_unit(&mut self, unit: u32) -> Res<bool, F> {
        match self.units.get(unit).state {
            UnitState::Free { verified: true } => return Ok(true),
            UnitState::Free { verified: false } => {
                let start = self.geo.header_addr(unit, 1);
                let len = self.geo.unit_size - self.geo.header_size;
                if self.is_blank(start, len)? {
                    self.units.get_mut(unit).state = UnitState::Free { verified: true };
                    return Ok(true);
                }
                self.units.get_mut(unit).state = UnitState::Dirty;
            }
            _ => {}
        }
        if self.geo.no_erase {
            return Ok(false);
        }
        self.erase_unit(unit, true)?;
        Ok(self.units.get(unit).state == UnitState::Free { verified: true })
    }

    /// Erase `unit`, check it reads blank, write header A with the incremented wear counter.
    /// A unit that fails any step is retired. The erase is announced by an intent record
    /// first (when `announce`) so that a cut erase that happens to leave the old header A
    /// intact and everything else erased is not mistaken for a free unit.
    pub(crate) fn erase_unit(&mut self, unit: u32, announce: bool) -> Res<(), F> {
        debug_assert!(!self.geo.no_erase);
        debug_assert!(self.units.get(unit).valid == 0);
        if announce && self.needs_intent(unit)? {
            self.log_erase_intent(unit)?;
        }
        self.units.get_mut(unit).wear += 1;
        if let Err(e) = self.erase_raw(unit) {
            self.note_fault(e);
            return self.retire(unit);
        }
        let (start, len) = (self.geo.unit_addr(unit), self.geo.unit_size);
        if !self.is_blank(start, len)? {
            return self.retire(unit);
        }
        if let Err(e) = self.write_header(unit, HeaderKind::Erased, 0) {
            self.note_fault(e);
            return self.retire(unit);
        }
        let info = self.units.get_mut(unit);
        info.state = UnitState::Free { verified: true };
        info.used = 0;
        info.valid = 0;
        Ok(())
    }

    /// Record "unit is about to be erased" in an open frontier that has room. Never opens a
    /// unit (opening may itself erase, and that must not recurse). Without a frontier with
    /// room the erase goes ahead unannounced: then a cut erase is only misread as free if
    /// it left the old header A intact and every other bit erased (see FORMAT.md).
    fn log_erase_intent(&mut self, unit: u32) -> Res<(), F> {
        let spu = self.geo.slots_per_unit as u16;
        let open = |u: Option<u32>, t: &Self| {
            u.filter(|&f| {
                let i = t.units.get(f);
                i.state == UnitState::Open && i.used < spu
            })
        };
        let (frontier, stream) = match (open(self.gc, self), open(self.host, self)) {
            (Some(g), _) => (g, Stream::Gc),
            (None, Some(h)) => (h, Stream::Host),
            (None, None) => return Ok(()),
        };
        let slot = self.take_slot(frontier, stream);
        let e = Entry {
            kind: RecordKind::EraseIntent,
            lba: unit,
            src: Source::None,
            data_crc: 0,
            copy: true,
            erases: None,
        };
        let r = self.program_slot(frontier, slot, e);
        if let Err(e) = r {
            self.note_fault(e);
            self.retire(frontier)?;
        }
        Ok(())
    }

    /// An intent is needed when a cut erase could leave a header A that still decodes.
    fn needs_intent(&mut self, unit: u32) -> Res<bool, F> {
        Ok(matches!(
            self.read_header(unit, 0)?,
            crate::layout::HeaderRead::Valid(_)
        ))
    }

    /// Take `unit` out of service after a failure and move its live data elsewhere.
    /// Turns the volume read-only when more units failed than the reserve has spares.
    pub(crate) fn retire(&mut self, unit: u32) -> Res<(), F> {
        if self.units.get(unit).state == UnitState::Retired {
            return Ok(());
        }
        self.units.get_mut(unit).state = UnitState::Retired;
        self.counters.retired += 1;
        if self.host == Some(unit) {
            self.host = None;
        }
        if self.gc == Some(unit) {
            self.gc = None;
        }
        // Move the live data and record the retirement first: read-only mode would refuse
        // the units both need.
        let moved = if self.units.get(unit).valid > 0 && !self.geo.no_erase {
            // Bounded: each nested failure retires another unit, and there are finitely many.
            self.relocate_unit(unit, false)
        } else {
            Ok(())
        };
        // Best effort: without the record a remount finds the bad unit again on its first
        // failure (and retires it again); a full volume has no room for it.
        let logged = match self.log_retirement(unit) {
            Err(Error::NoSpace | Error::ReadOnly) => Ok(()),
            r => r,
        };
        if self.units.retired() > self.geo.spare_units() {
            self.read_only = true;
        }
        moved?;
        logged
    }
}
