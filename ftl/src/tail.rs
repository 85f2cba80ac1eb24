//! Mount-time recovery of the write frontiers' log tails: what makes a power cut at any
//! instant invisible, even when the cut program is *weak*.
//!
//! A cut interrupts at most one program, in a unit that was being appended to. That
//! program may read valid now and invalid later, or invalid (or erased) now and valid
//! later (Zephyr #103452). A mount shows one state; no later mount may show another. So
//! the scan walks the end of every opened unit's log, and before anything is appended:
//!
//! 1. In each unit, everything above the last trustworthy record (the *anchor*: the
//!    highest valid, non-void record that is not a marker) that is not blank - torn
//!    records, torn data, an earlier recovery's marker that may itself be the weak
//!    program - is voided by a marker programmed into the same unit. The marker lives
//!    and dies with the slots it voids: GC never copies it, erasing the unit removes both.
//! 2. The newest data/trim record anywhere (the only record that can be a weak *valid*
//!    program) is copied to a fresh slot, so what this mount shows no longer hangs on it.
//! 3. Appends resume at the first slot that is safe to program: past anything non-blank,
//!    and one slot further when the last thing is a valid record (the next program may
//!    have been cut leaving words that read erased but are unstable).
//!
//! A unit without room for its marker is garbage-collected (relocated and erased)
//! instead. Every step is idempotent across further cuts: a recovery cut half-way leaves
//! the same anchor, so the next mount voids at least the same slots again.

use embedded_storage::nor_flash::NorFlash;
use heapless::Vec;

use crate::error::Error;
use crate::layout::{RecordKind, RecordRead, SlotRecord, Stream};
use crate::map::Mapping;
use crate::mount::ScanResult;
use crate::units::UnitState;
use crate::volume::{Entry, Ftl, Res, Source};

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
}

/// A marker recovery may have to write into `unit`: void slots `from..end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VoidPlan {
    unit: u16,
    from: u16,
    end: u16,
    /// Version of the newest marker in the run (0: none).
    marker: u64,
}

impl TailWalk {
    /// First slot safe to program after everything seen (0: the unit holds nothing): one
    /// past the slot after the last non-blank one, since the last program before a cut may
    /// have left words there that read erased but are unstable (also after junk: the junk
    /// may be older than the last cut).
    fn safe_slot(&self, spu: u32) -> u32 {
        self.touched.map_or(0, |t| (t + 2).min(spu))
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
        let blank = match read {
            RecordRead::Erased if !w.below_top => {
                self.is_blank(self.geo.data_addr(unit, slot), self.geo.block_size)?
            }
            RecordRead::Erased => true,
            _ => false,
        };
        if !blank && w.touched.is_none() {
            w.touched = Some(slot);
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
        // only after a settle copy landed) is newer.
        let newest = scan
            .newest_block
            .filter(|(_, _, rec)| rec.version > scan.newest_marker);
        let r = self.settle(newest);
        self.tolerate_full(r)?;
        if self.counters.bytes_programmed != before {
            // Everything above is done: no later mount needs to settle or restate it.
            let r = self.append_settle_marker();
            self.tolerate_full(r)?;
        }
        self.erase_doomed(&scan.doomed)?;
        self.reclaim(&no_room)
    }

    /// Step 1: program the void markers the scan planned (and restate the newest marker if
    /// nothing on flash is newer: it may be the weak program). Returns the units that had
    /// no room left for theirs.
    fn void_torn(&mut self, scan: &ScanResult<U>) -> Res<Vec<u32, U>, F> {
        let mut no_room: Vec<u32, U> = Vec::new();
        let weak = scan.weak_marker.filter(|p| p.marker >= scan.newest_seq);
        for plan in scan.voids.iter().chain(weak.iter()) {
            let unit = plan.unit as u32;
            if !matches!(
                self.units.get(unit).state,
                UnitState::Sealed | UnitState::Open
            ) {
                continue;
            }
            if !self.write_void(unit, plan.from as u32, plan.end as u32)?
                && !self.geo.no_erase
                && !no_room.contains(&unit)
            {
                // Cannot overflow: at most one entry per unit.
                let _ = no_room.push(unit);
            }
        }
        Ok(no_room)
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

    /// Collect the units whose torn records found no room for a marker, then make sure a
    /// unit is available (a cut in the middle of a GC round can leave none).
    fn reclaim(&mut self, no_room: &[u32]) -> Res<(), F> {
        for &unit in no_room {
            // Only start what can finish, even after a power cut in the middle: a
            // relocation that runs out of room half-way leaves the volume stuck.
            let info = self.units.get(unit);
            let need = u32::from(info.valid) + u32::from(crate::gc::RECOVERY_MARGIN);
            if info.state == UnitState::Sealed && need <= self.free_slots() {
                let r = self.collect(unit);
                self.tolerate_full(r)?;
            }
        }
        if !self.geo.no_erase && self.units.available(true) == 0 {
            let r = self.ensure_available(1);
            self.tolerate_full(r)?;
        }
        Ok(())
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
    fn tolerate_full(&mut self, r: Res<(), F>) -> Res<(), F> {
        match r {
            Err(Error::NoSpace) | Err(Error::ReadOnly) if self.fault.is_none() => Ok(()),
            r => r,
        }
    }

    /// Program a marker voiding `from..end` at the next safe slot of `unit`. `Ok(false)`:
    /// no room left in the unit.
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
            // Not appended to again this session; the error is reported (a power loss must
            // not let mount succeed).
            self.retire(unit)?;
            return Err(e);
        }
        Ok(true)
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
    /// frontier with room, or a unit opened directly (never after GC).
    fn settle(&mut self, newest: Option<(u32, u32, SlotRecord)>) -> Res<(), F> {
        let Some((unit, slot, rec)) = newest else {
            return Ok(());
        };
        let here = match rec.kind {
            RecordKind::Trim => Mapping::Trimmed { unit, slot },
            _ => Mapping::Data { unit, slot },
        };
        if rec.lba >= self.geo.block_count || self.map.get(rec.lba) != here {
            return Ok(());
        }
        let needed = if self.geo.no_erase { 1 } else { 2 };
        let dest = if self.has_room(Stream::Host) {
            Stream::Host
        } else if self.has_room(Stream::Gc) {
            Stream::Gc
        } else if self.units.available(!self.geo.no_erase) >= needed {
            self.open_unit(Stream::Host)?;
            Stream::Host
        } else {
            // Making room would mean GC, which may move or erase the record before it is
            // copied. Leave it: GC copies it if it reads valid, and the next mount settles
            // whatever is newest then.
            return Ok(());
        };
        if self.copy_record(unit, slot, rec, dest, rec.copy, false)? {
            self.counters.tail_copies += 1;
        }
        Ok(())
    }
}
