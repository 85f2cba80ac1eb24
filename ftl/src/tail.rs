//! Mount-time recovery of the write frontiers' log tails: what makes a power cut at any
//! instant invisible, even when the cut program is *weak*.
//!
//! A cut interrupts at most one program, in a unit that was being appended to. That
//! program may read valid now and invalid later, or invalid (or erased) now and valid
//! later (Zephyr #103452). A mount shows one state; no later mount may show another. So
//! the scan walks the end of every opened unit's log, and before anything is appended:
//!
//! 1. In each unit, every run of slots between trustworthy records (valid, non-void block
//!    or intent records) that holds a torn record is voided by a marker programmed into the
//!    same unit. The marker lives and dies with the slots it voids: GC never copies it,
//!    erasing the unit removes both. An earlier recovery's marker that may itself be the
//!    weak program (nothing on flash is newer) is restated.
//! 2. A full unit with torn records is garbage-collected if that can finish even after
//!    another cut, else its void marker goes into the unit's seal record.
//! 3. The newest data/trim record (the only record that can be a weak *valid* program) is
//!    copied to a fresh slot, unless a settle marker is newer; so is the top block record of
//!    a unit whose seal is junk (a cut seal program may have been all that voided it).
//! 4. Doomed units are erased (only after step 2 succeeded), GC restores its headroom.
//! 5. A settle marker, last: everything above landed.
//!
//! Appends resume at the first slot that is safe to program: the one after the last
//! non-blank slot, where "blank" for the slots above the log end means blank on many reads
//! (a program cut before any bit landed leaves words that read erased most of the time). Every step is idempotent across further cuts: a recovery cut half-way leaves
//! the same anchors, so the next mount voids at least the same slots again. The spec is
//! `FORMAT.md`, "Recovery after a power cut".

use embedded_storage::nor_flash::NorFlash;
use heapless::Vec;

use crate::error::Error;
use crate::layout::{RecordKind, RecordRead, SlotRecord, Stream};
use crate::map::Mapping;
use crate::mount::ScanResult;
use crate::units::UnitState;
use crate::volume::{Entry, Ftl, Res, Source, META_BUF};

/// Reads of a record that looks erased before it is trusted to be programmable.
const ERASED_READS: u32 = 64;

/// What the scan learns walking one unit from its last slot down to slot 0.
///
/// The walk splits the unit into *runs*: maximal stretches of slots holding no valid,
/// non-void block or intent record. A run that holds an invalid (torn) record, or a
/// marker that may be the weak program itself, becomes a [`VoidPlan`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TailWalk {
    /// Highest slot whose record or data is not blank.
    touched: Option<u32>,
    /// A valid record has been passed: no more data reads.
    below_top: bool,
    /// Upper end (exclusive) of the current run; `None` for the run at the top.
    run_end: Option<u32>,
    /// The current run holds a torn record that no marker voids.
    run_junk: bool,
    /// Newest marker with a void range in the current run (0: none).
    run_marker: u64,
    /// The unit's seal record reads erased.
    pub seal_free: bool,
}

/// A marker recovery may have to write into `unit`: void slots `from..end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VoidPlan {
    unit: u16,
    from: u16,
    end: u16,
    /// Version of the newest marker in the run (0: none).
    marker: u64,
    /// The seal record is still free (a marker can go there if no slot is left).
    seal_free: bool,
}

impl TailWalk {
    /// First slot safe to program after everything seen (0: the unit holds nothing): the
    /// one after the last non-blank slot. `last_unstable_above` has already read the slots
    /// above many times, so a program cut there before any bit landed counts as non-blank.
    fn safe_slot(&self, spu: u32) -> u32 {
        self.touched.map_or(0, |t| (t + 1).min(spu))
    }
}

impl<F: NorFlash, const U: usize, const B: usize> Ftl<F, U, B> {
    /// One step of the scan's walk down `unit` (slot `slot`, read as `read`, `in_void`
    /// if a marker above covers it).
    pub(crate) fn walk_step(
        &mut self,
        w: &mut TailWalk,
        unit: u32,
        slot: u32,
        read: RecordRead,
        in_void: bool,
        out: &mut ScanResult<U>,
    ) -> Res<(), F> {
        let spu = self.geo.slots_per_unit;
        let blank = match read {
            // The seal record has no data.
            RecordRead::Erased if !w.below_top && slot < spu => {
                self.is_blank(self.geo.data_addr(unit, slot), self.geo.block_size)?
            }
            RecordRead::Erased => true,
            _ => false,
        };
        if !blank && w.touched.is_none() {
            w.touched = Some(self.last_unstable_above(unit, slot)?);
        }
        match read {
            RecordRead::Valid(rec) if !in_void => {
                w.below_top = true;
                if rec.kind == RecordKind::Marker {
                    if rec.void_range(slot).is_some() {
                        w.run_marker = w.run_marker.max(rec.version);
                    }
                    return Ok(());
                }
                // A trustworthy record ends the run above it.
                self.close_run(w, unit, slot + 1, out);
                w.run_end = Some(slot);
            }
            RecordRead::Valid(_) => w.below_top = true,
            RecordRead::Invalid => w.run_junk |= !in_void,
            RecordRead::Erased => {}
        }
        Ok(())
    }

    /// A program cut before any bit landed leaves words that read erased most of the time,
    /// and each mount's first recovery program may have been one (cuts in a row): look
    /// harder at the two slots above the log end, and above each unstable one found.
    fn last_unstable_above(&mut self, unit: u32, top: u32) -> Res<u32, F> {
        let spu = self.geo.slots_per_unit;
        let mut top = top;
        // Bounded: `top` only grows, and stops below `spu`.
        'climb: loop {
            for above in [top + 1, top + 2] {
                if above < spu && !self.slot_stays_blank(unit, above)? {
                    top = above;
                    continue 'climb;
                }
            }
            return Ok(top);
        }
    }

    /// Record and data of a slot read blank, again and again (a block has many words, so
    /// fewer reads of it suffice).
    fn slot_stays_blank(&mut self, unit: u32, slot: u32) -> Res<bool, F> {
        if !self.stays_erased(self.geo.record_addr(unit, slot))? {
            return Ok(false);
        }
        let (addr, len) = (self.geo.data_addr(unit, slot), self.geo.block_size);
        for _ in 0..ERASED_READS / 8 {
            if !self.is_blank(addr, len)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// True if the record at `addr` reads erased `ERASED_READS` times in a row (unstable
    /// words, left by a program cut before any bit landed, read differently now and then).
    pub(crate) fn stays_erased(&mut self, addr: u32) -> Res<bool, F> {
        let mut buf = [0u8; META_BUF];
        let n = self.geo.record_size as usize;
        for _ in 0..ERASED_READS {
            self.read_raw(addr, &mut buf[..n])?;
            if !crate::layout::is_erased(&buf[..n]) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// End of the walk: close the last run, return the first slot safe to program.
    pub(crate) fn walk_finish(
        &mut self,
        w: &mut TailWalk,
        unit: u32,
        out: &mut ScanResult<U>,
    ) -> u16 {
        self.close_run(w, unit, 0, out);
        w.safe_slot(self.geo.slots_per_unit) as u16
    }

    /// The run `from..` (up to its end) is complete: plan a marker if it needs one.
    fn close_run(&mut self, w: &mut TailWalk, unit: u32, from: u32, out: &mut ScanResult<U>) {
        let end = w
            .run_end
            .unwrap_or_else(|| w.safe_slot(self.geo.slots_per_unit));
        if from < end && (w.run_junk || w.run_marker != 0) {
            let plan = VoidPlan {
                unit: unit as u16,
                from: from as u16,
                end: end as u16,
                marker: w.run_marker,
                seal_free: w.seal_free,
            };
            if w.run_junk {
                // Normal operation leaves at most one torn run per cut; a crafted image
                // with more gets the rest voided by later mounts.
                let _ = out.voids.push(plan);
            } else if out.weak_marker.is_none_or(|p| plan.marker > p.marker) {
                // Only the newest item on flash can be weak: keep the newest marker's run.
                out.weak_marker = Some(plan);
            }
        }
        w.run_junk = false;
        w.run_marker = 0;
    }

    /// Recovery after the scan. Order matters: the settle copy is the first record a mount
    /// programs, so "no marker is newer than the newest block record" identifies a record
    /// that may be weak, whatever later mounts were cut doing.
    pub(crate) fn protect_tails(&mut self, scan: &ScanResult<U>) -> Res<(), F> {
        if self.read_only {
            return Ok(());
        }
        for (i, stream) in [(0, Stream::Host), (1, Stream::Gc)] {
            if let Some(unit) = scan.frontiers[i] {
                self.reopen(unit, stream);
            }
        }
        let before = self.counters.bytes_programmed;
        let no_room = self.void_torn(scan)?;
        // The newest block record may be the weak program unless a settle marker (written
        // last, after everything else recovery does) is newer.
        let newest = scan
            .newest_block
            .filter(|(_, _, rec)| rec.version > scan.newest_marker);
        // Doomed units stay out of reach until the settle copy landed: the intent that
        // dooms them may ride on the record being settled, and if that was the program the
        // cut interrupted, the erase never started and the unit still holds its original.
        self.hold_doomed(&scan.doomed, true);
        // Recovery writes no block record before the settle copy: a newer one would make the
        // record to settle look settled to a mount after a cut here. Torn records in full
        // units get their seal first (a marker), units without a free seal are collected
        // after the copy.
        let unsealed = self.seal_full_units(&no_room)?;
        let mut settled = match self.settle(newest) {
            Ok(done) => done,
            Err(e) => {
                self.tolerate_full(Err(e))?;
                false
            }
        };
        for &top in scan.below_junk_seal.iter() {
            if Some(top) != newest {
                match self.settle(Some(top)) {
                    Ok(done) => settled &= done,
                    Err(e) => {
                        self.tolerate_full(Err(e))?;
                        settled = false;
                    }
                }
            }
        }
        if settled {
            self.collect_full_units(&unsealed)?;
            self.hold_doomed(&scan.doomed, false);
            self.erase_doomed(&scan.doomed)?;
        }
        // Else they stay held (out of use) for this session, and GC waits: a later mount
        // settles first.
        if settled {
            self.restore_headroom()?;
        }
        if settled && self.counters.bytes_programmed != before {
            // Everything above is done: no later mount needs to settle or restate it.
            let r = self.append_settle_marker();
            self.tolerate_full(r)?;
        }
        Ok(())
    }

    /// Take the doomed units out of use (`hold`) or give them back as dirty units. Held
    /// units look retired to allocation but do not count as failed.
    fn hold_doomed(&mut self, doomed: &[u16], hold: bool) {
        let (from, to) = if hold {
            (UnitState::Dirty, UnitState::Retired)
        } else {
            (UnitState::Retired, UnitState::Dirty)
        };
        for &u in doomed {
            if self.retire_log.iter().any(|&(t, _)| t == u) {
                continue; // retired for good
            }
            let info = self.units.get_mut(u as u32);
            if info.state == from && info.valid == 0 {
                info.state = to;
            }
        }
    }

    /// Step 1: program the void markers the scan planned (and restate the newest marker if
    /// nothing on flash is newer: it may be the weak program). Returns the plans of units
    /// that had no slot left for theirs.
    fn void_torn(&mut self, scan: &ScanResult<U>) -> Res<Vec<VoidPlan, U>, F> {
        let mut no_room: Vec<VoidPlan, U> = Vec::new();
        let weak = scan.weak_marker.filter(|p| p.marker >= scan.newest_seq);
        for plan in scan.voids.iter().chain(weak.iter()) {
            let unit = plan.unit as u32;
            if !matches!(
                self.units.get(unit).state,
                UnitState::Sealed | UnitState::Open
            ) {
                continue;
            }
            let (from, end) = (plan.from as u32, plan.end as u32);
            if !self.write_void(unit, from, end)? && !no_room.iter().any(|p| p.unit == plan.unit) {
                // Cannot overflow: at most one entry per unit.
                let _ = no_room.push(*plan);
            }
        }
        Ok(no_room)
    }

    /// Units whose torn records found no slot for a marker: put it in the unit's seal
    /// record if that is free. Returns the units left without one.
    fn seal_full_units(&mut self, no_room: &[VoidPlan]) -> Res<Vec<u32, U>, F> {
        let mut left: Vec<u32, U> = Vec::new();
        for plan in no_room {
            let unit = plan.unit as u32;
            if self.units.get(unit).state != UnitState::Sealed {
                continue;
            }
            if plan.seal_free {
                self.program_seal(unit, plan.from as u32, plan.end as u32)?;
            } else if !self.geo.no_erase {
                // Cannot overflow: at most one entry per unit.
                let _ = left.push(unit);
            }
        }
        Ok(left)
    }

    /// Full units with torn records and a used seal: relocate and erase them, if that can
    /// finish even after another power cut in the middle.
    fn collect_full_units(&mut self, units: &[u32]) -> Res<(), F> {
        for &unit in units {
            let info = self.units.get(unit);
            let need = u32::from(info.valid) + u32::from(crate::gc::RECOVERY_MARGIN);
            if info.state == UnitState::Sealed && need <= self.free_slots() {
                let r = self.collect(unit);
                self.tolerate_full(r)?;
            }
        }
        Ok(())
    }

    /// Restore the GC headroom a cut in the middle of a GC round used up.
    fn restore_headroom(&mut self) -> Res<(), F> {
        let want = self.gc_headroom();
        if !self.geo.no_erase && self.units.available(true) < want {
            let r = self.ensure_available(want);
            self.tolerate_full(r)?;
        }
        Ok(())
    }

    /// A marker voiding nothing: proof that this mount's recovery writes all landed.
    fn append_settle_marker(&mut self) -> Res<(), F> {
        let stream = if self.has_room(Stream::Host) {
            Stream::Host
        } else if self.has_room(Stream::Gc) {
            Stream::Gc
        } else {
            return Ok(());
        };
        let marker = Entry {
            kind: RecordKind::Marker,
            lba: u32::MAX,
            src: Source::None,
            data_crc: 0,
            copy: true,
            erases: None,
        };
        self.append(stream, marker).map(|_| ())
    }

    /// Slots that can be appended to without GC: the open frontiers' room and every
    /// available unit.
    pub(crate) fn free_slots(&self) -> u32 {
        let frontiers = if self.geo.single_stream {
            self.room(Stream::Host) as u32
        } else {
            self.room(Stream::Host) as u32 + self.room(Stream::Gc) as u32
        };
        let spu = self.geo.slots_per_unit;
        // Partly used units can be reopened when nothing else is left (`reopen_any`).
        let partial: u32 = self
            .units
            .iter()
            .filter(|(i, u)| u.state == UnitState::Sealed && Some(*i) != self.relocating)
            .map(|(_, u)| spu.saturating_sub(u.used as u32))
            .sum();
        frontiers + partial + self.units.available(!self.geo.no_erase) * spu
    }

    /// A full write-once part or an exhausted reserve: the volume stays readable, and the
    /// next call that needs space reports it.
    /// Also after absorbed unit failures (end of life): a power loss among them is caught by
    /// the probe in `finish`.
    fn tolerate_full(&mut self, r: Res<(), F>) -> Res<(), F> {
        match r {
            Err(Error::NoSpace) | Err(Error::ReadOnly) => Ok(()),
            r => r,
        }
    }

    /// Program a marker voiding `from..end` at the next safe slot of `unit`. `Ok(false)`:
    /// no slot left.
    fn write_void(&mut self, unit: u32, from: u32, end: u32) -> Res<bool, F> {
        let spu = self.geo.slots_per_unit;
        let info = self.units.get(unit);
        let at = info.used as u32;
        if from >= end || end > at {
            // The unit was erased and reopened since the scan (a doomed unit): nothing of
            // what the plan covered is left.
            return Ok(true);
        }
        if at >= spu {
            return Ok(false);
        }
        let marker = Entry {
            kind: RecordKind::Marker,
            lba: from,
            src: Source::None,
            data_crc: end,
            copy: true,
            erases: None,
        };
        let info = self.units.get_mut(unit);
        info.used += 1;
        if info.used as u32 == spu && info.state == UnitState::Open {
            info.state = UnitState::Sealed;
            for stream in [Stream::Host, Stream::Gc] {
                if self.frontier(stream) == Some(unit) {
                    self.set_frontier(stream, None);
                }
            }
        }
        if let Err(e) = self.program_slot(unit, at, marker) {
            // A bad unit: retire it (its live data moves; the torn record goes with the
            // unit's next erase). A power loss is caught by `finish`'s probe.
            self.note_fault(e);
            self.retire(unit)?;
        }
        Ok(true)
    }

    /// Program the void marker `from..end` into `unit`'s seal record (pair-checked).
    fn program_seal(&mut self, unit: u32, from: u32, end: u32) -> Res<(), F> {
        let rec = SlotRecord {
            kind: RecordKind::Marker,
            copy: true,
            erases: None,
            lba: from,
            version: self.take_seq(),
            data_crc: end,
        };
        debug_assert!(rec.void_range(self.geo.slots_per_unit).is_some());
        let mut buf = [0xFFu8; META_BUF];
        let n = self.geo.record_size as usize;
        rec.encode(&mut buf[..n]);
        let r = self
            .program_raw(self.geo.seal_addr(unit), &buf[..n])
            .and_then(|_| match self.read_seal(unit)? {
                RecordRead::Valid(r) if r == rec => Ok(()),
                _ => Err(Error::Corrupt),
            });
        if let Err(e) = r {
            self.note_fault(e);
            self.retire(unit)?;
        }
        Ok(())
    }

    /// Erase a sealed unit that holds nothing live (no copy needed). `Ok(false)`: none.
    fn erase_a_garbage_unit(&mut self) -> Res<bool, F> {
        let pick = self
            .units
            .iter()
            .filter(|(i, u)| {
                u.state == UnitState::Sealed && u.valid == 0 && Some(*i) != self.relocating
            })
            .filter(|(i, _)| !self.retire_log.iter().any(|&(t, _)| u32::from(t) == *i))
            .min_by_key(|(i, u)| (u.wear, *i))
            .map(|(i, _)| i);
        let Some(unit) = pick else {
            return Ok(false);
        };
        self.erase_unit(unit, true)?;
        Ok(self.units.available(true) > 0)
    }

    /// Make `unit` `stream`'s frontier again if it has room (slots from `used` on are safe
    /// to program: the scan or a void marker put `used` there).
    pub(crate) fn reopen(&mut self, unit: u32, stream: Stream) -> bool {
        let info = self.units.get_mut(unit);
        if info.state != UnitState::Sealed || info.used as u32 >= self.geo.slots_per_unit {
            return false;
        }
        info.state = UnitState::Open;
        self.set_frontier(stream, Some(unit));
        true
    }

    /// Copy the newest data/trim record (it may be the weak program) to a fresh slot: in a
    /// frontier with room, or a unit opened directly; never after GC.
    /// `Ok(false)`: a copy was needed but there was no room for it.
    fn settle(&mut self, newest: Option<(u32, u32, SlotRecord)>) -> Res<bool, F> {
        let Some((unit, slot, rec)) = newest else {
            return Ok(true);
        };
        let here = match rec.kind {
            RecordKind::Trim => Mapping::Trimmed { unit, slot },
            _ => Mapping::Data { unit, slot },
        };
        if rec.lba >= self.geo.block_count || self.map.get(rec.lba) != here {
            return Ok(true);
        }
        let dest = if self.has_room(Stream::Host) {
            Stream::Host
        } else if self.has_room(Stream::Gc) {
            Stream::Gc
        } else if self.units.available(!self.geo.no_erase) >= 1 {
            // May take the last unit: the GC that follows has its remaining room.
            self.open_unit(Stream::Host)?;
            Stream::Host
        } else if !self.geo.no_erase && self.erase_a_garbage_unit()? {
            // Room made without writing a block record (see `protect_tails`).
            self.open_unit(Stream::Host)?;
            Stream::Host
        } else {
            // No room without GC, and GC must not run first (see `protect_tails`).
            return Ok(false);
        };
        if self.copy_record(unit, slot, rec, dest, rec.copy, false)? {
            self.counters.tail_copies += 1;
        }
        Ok(true)
    }
}
