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

/// What the scan learns walking one unit from its last slot down to the anchor.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TailView {
    /// Highest slot whose record or data is not blank.
    touched: Option<u32>,
    /// The slot at `touched` is junk (no valid record): the cut program was there.
    top_junk: bool,
    /// Highest valid, non-void record that is not a marker: the last trustworthy slot.
    pub anchor: Option<u32>,
    /// Something above the anchor is not blank and not void: it needs a marker.
    junk: bool,
    /// Newest marker with a void range above the anchor.
    marker: Option<u64>,
}

/// A marker recovery may have to write: void slots `from..at` of `unit`, at slot `at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VoidPlan {
    unit: u16,
    from: u16,
    at: u16,
    /// Unvoided junk above the anchor (else only a marker that may need restating).
    junk: bool,
    /// Version of the newest marker above the anchor (0: none).
    marker: u64,
}

impl<F: NorFlash, const U: usize, const B: usize> Ftl<F, U, B> {
    /// One step of the scan's walk down a unit (slot `slot`, read as `read`), until the
    /// anchor is found.
    pub(crate) fn observe_tail(
        &mut self,
        view: &mut TailView,
        unit: u32,
        slot: u32,
        read: RecordRead,
        in_void: bool,
    ) -> Res<(), F> {
        match read {
            RecordRead::Valid(rec) if !in_void => {
                view.touched.get_or_insert(slot);
                if rec.kind != RecordKind::Marker {
                    view.anchor = Some(slot);
                } else if rec.void_range(slot).is_some() {
                    view.marker = view.marker.max(Some(rec.version));
                }
            }
            // Covered by a marker above: already void (restated if that one is weak).
            RecordRead::Valid(_) => {
                view.touched.get_or_insert(slot);
            }
            _ => {
                let blank = read == RecordRead::Erased
                    && self.is_blank(self.geo.data_addr(unit, slot), self.geo.block_size)?;
                if !blank {
                    if view.touched.is_none() {
                        view.touched = Some(slot);
                        view.top_junk = true;
                    }
                    view.junk |= !in_void;
                }
            }
        }
        Ok(())
    }

    /// After the walk: note the marker `unit` may need, return the first slot safe to
    /// program (`slots_per_unit` if none; 0 if the unit holds nothing).
    pub(crate) fn plan_tail(&mut self, unit: u32, view: &TailView, out: &mut ScanResult<U>) -> u16 {
        let spu = self.geo.slots_per_unit;
        let Some(top) = view.touched else {
            return 0;
        };
        // After junk the cut program was that slot; after a valid record it may have been
        // the next one, leaving nothing visible.
        let next = top + if view.top_junk { 1 } else { 2 };
        if view.junk || view.marker.is_some() {
            let plan = VoidPlan {
                unit: unit as u16,
                from: view.anchor.map_or(0, |a| a + 1) as u16,
                at: next.min(spu) as u16,
                junk: view.junk,
                marker: view.marker.unwrap_or(0),
            };
            // Cannot overflow: at most one plan per unit.
            let _ = out.voids.push(plan);
        }
        next.min(spu) as u16
    }

    /// Recovery after the scan: void torn tails, resume the frontiers, settle the newest
    /// block record, then reclaim units whose torn tail had no room for a marker.
    pub(crate) fn protect_tails(&mut self, scan: &ScanResult<U>) -> Res<(), F> {
        if self.read_only {
            return Ok(());
        }
        let mut no_room: Vec<u32, U> = Vec::new();
        for plan in scan.voids.iter() {
            // A marker with nothing newer anywhere may be the weak program itself.
            let weak_marker = plan.marker != 0 && plan.marker >= scan.newest_seq;
            let unit = plan.unit as u32;
            if !(plan.junk || weak_marker) || self.units.get(unit).state != UnitState::Sealed {
                continue;
            }
            if (plan.at as u32) < self.geo.slots_per_unit {
                self.write_void(unit, plan.from as u32, plan.at as u32)?;
            } else if !self.geo.no_erase {
                // Cannot overflow: at most one entry per unit.
                let _ = no_room.push(unit);
            }
        }
        for (i, stream) in [(0, Stream::Host), (1, Stream::Gc)] {
            if let Some(unit) = scan.frontiers[i] {
                self.reopen(unit, stream);
            }
        }
        let r = self.settle(scan.newest_block);
        self.tolerate_full(r)?;
        for &unit in no_room.iter() {
            if self.units.get(unit).state == UnitState::Sealed {
                let r = self.collect(unit);
                self.tolerate_full(r)?;
            }
        }
        Ok(())
    }

    /// A full write-once part or an exhausted reserve: the volume stays readable, and the
    /// next call that needs space reports it.
    fn tolerate_full(&mut self, r: Res<(), F>) -> Res<(), F> {
        match r {
            Err(Error::NoSpace) | Err(Error::ReadOnly) if self.fault.is_none() => Ok(()),
            r => r,
        }
    }

    /// Program the marker voiding `from..at` at slot `at` of `unit`.
    fn write_void(&mut self, unit: u32, from: u32, at: u32) -> Res<(), F> {
        debug_assert!(from < at && at < self.geo.slots_per_unit);
        let marker = Entry {
            kind: RecordKind::Marker,
            lba: from,
            src: Source::None,
            data_crc: at,
            copy: true,
            erases: None,
        };
        self.units.get_mut(unit).used = at as u16 + 1;
        if let Err(e) = self.program_slot(unit, at, marker) {
            // The unit is not appended to again this session; the error is reported (a
            // power loss must not let mount succeed).
            self.retire(unit)?;
            return Err(e);
        }
        Ok(())
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

    /// Copy the newest data/trim record (it may be the weak program) to a fresh
    /// slot. Use a frontier with room, or open a unit directly; GC only as a last resort
    /// (its copies would be newer block records, and a cut then would leave this one
    /// unsettled but no longer newest).
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
            self.ensure_available(needed)?;
            Stream::Host
        };
        if self.copy_record(unit, slot, rec, dest, rec.copy, false)? {
            self.counters.tail_copies += 1;
        }
        Ok(())
    }
}
