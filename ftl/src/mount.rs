//! Format and mount: create a volume on a region, and rebuild all RAM state (map, unit
//! table, sequence counter, epoch) from flash alone, then settle the log tail.
//!
//! Mount trusts nothing it has not checked: headers and records need magic/kind and CRC,
//! units from another epoch or geometry are ignored, a unit is only ever appended to again
//! if it is free (header A and nothing else), and the newest record (the one a power cut
//! may have left weakly programmed) is copied and followed by a marker.

use embedded_storage::nor_flash::NorFlash;
use heapless::Vec;

use crate::error::Error;
use crate::geometry::{Config, Geometry};
use crate::layout::FORMAT_VERSION;
use crate::layout::{
    HeaderKind, HeaderRead, RecordKind, RecordRead, SlotRecord, Stream, UnitHeader,
};
use crate::map::Mapping;
use crate::tail::{TailWalk, VoidPlan};
use crate::units::UnitState;
use crate::volume::{Ftl, Res};

/// Gap left in the sequence counter at mount: a record whose program was cut may read as
/// invalid now and valid later; its number must never be handed out again.
const SEQ_MARGIN: u64 = 16;
/// Wear placeholder while mounting, for units whose header was lost.
const WEAR_UNKNOWN: u32 = u32::MAX;

/// What the scan hands to recovery.
pub(crate) struct ScanResult<const U: usize> {
    /// Units whose interrupted erase an intent revealed.
    pub doomed: Vec<u16, U>,
    /// Per stream (host, GC): the unit most recently opened (highest header B), the only
    /// places the program a power cut interrupted can be.
    pub frontiers: [Option<u32>; 2],
    /// Runs of torn records that need a void marker (see `tail.rs`).
    pub voids: Vec<VoidPlan, U>,
    /// The run of the newest marker: restated if nothing on flash is newer.
    pub weak_marker: Option<VoidPlan>,
    /// The newest data or trim record (unit, slot, record): it may be a weak program.
    pub newest_block: Option<(u32, u32, SlotRecord)>,
    /// The top block record of each unit whose seal is junk (a cut seal program): the seal
    /// may have been all that voided a torn record there, so the top may be weak too.
    pub below_junk_seal: Vec<(u32, u32, SlotRecord), U>,
    /// Highest sequence number of anything valid and not void.
    pub newest_seq: u64,
    /// Retired units (unit, holder of the newest retire record, its version).
    pub retired: Vec<(u16, u16, u64), U>,
    /// Highest version of a valid, non-void settle marker (a marker voiding nothing).
    pub newest_marker: u64,
}

impl<F: NorFlash, const U: usize, const B: usize> Ftl<F, U, B> {
    /// Create an empty volume on the region, erasing every unit. Wear counters of a previous
    /// cowftl volume with the same geometry are carried over. A power cut during format
    /// leaves a region that mounts as an empty volume or reports `Blank`/`NotFormatted`.
    pub fn format(flash: F, cfg: Config) -> Res<Self, F> {
        let geo = Self::geometry_for(&flash, &cfg)?;
        let mut ftl = Self::empty(flash, cfg, geo);
        let announce = ftl.survey_before_format()?;
        let mut usable = 0;
        let mut first_err = None;
        // The unit holding the announcement is erased last: until then it marks every
        // unit not yet reformatted as belonging to the old epoch.
        let order = (0..geo.unit_count)
            .filter(|&u| Some(u) != announce)
            .chain(announce);
        for unit in order {
            match ftl.format_unit(unit) {
                Ok(()) => usable += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if ftl.units.retired() > geo.spare_units() {
            ftl.read_only = true;
        }
        match first_err {
            // Units that failed are retired; the volume is usable if the spares covered them.
            Some(e) if ftl.read_only || usable < 2 => Err(e),
            _ if usable < 2 => Err(Error::NoSpace),
            Some(e) => {
                // A flash that fails everything (power going down) is not a bad unit.
                ftl.fault = Some(e);
                ftl.finish(Ok(()))?;
                Ok(ftl)
            }
            None => Ok(ftl),
        }
    }

    /// Mount an existing volume. Blank, foreign or incompatible regions are errors; nothing
    /// is ever formatted implicitly.
    pub fn mount(flash: F, cfg: Config) -> Res<Self, F> {
        let geo = Self::geometry_for(&flash, &cfg)?;
        let mut ftl = Self::empty(flash, cfg, geo);
        let scan = ftl.scan()?;
        let recovered = ftl.protect_tails(&scan);
        ftl.finish(recovered)?;
        Ok(ftl)
    }

    /// Mount, or format if (and only if) the region is completely blank.
    pub fn mount_or_format(mut flash: F, cfg: Config) -> Res<Self, F> {
        let geo = Self::geometry_for(&flash, &cfg)?;
        let blank = {
            let mut probe = Ftl::<&mut F, U, B>::empty(&mut flash, cfg, geo);
            let len = geo.region_len;
            probe.is_blank(geo.region_offset, len)?
        };
        if blank {
            Self::format(flash, cfg)
        } else {
            Self::mount(flash, cfg)
        }
    }

    /// Read old headers: keep wear counters of a same-geometry volume, pick a new epoch and a
    /// sequence start above everything on flash, and announce the format in a free unit's
    /// header B (so a cut right after this point mounts as the new, empty volume).
    /// Returns the announcing unit.
    fn survey_before_format(&mut self) -> Res<Option<u32>, F> {
        let mut best: Option<UnitHeader> = None;
        let mut announce = None;
        for unit in 0..self.geo.unit_count {
            let a = self.read_header(unit, 0)?;
            let b = self.read_header(unit, 1)?;
            for h in [a, b] {
                if let HeaderRead::Valid(h) = h {
                    if best.is_none_or(|x| h.seq > x.seq) {
                        best = Some(h);
                    }
                    if self.same_geometry(&h) {
                        self.units.get_mut(unit).wear = h.wear;
                    }
                }
            }
            if let (HeaderRead::Valid(h), HeaderRead::Erased) = (a, b) {
                if self.same_geometry(&h) && announce.is_none() {
                    announce = Some(unit);
                }
            }
        }
        if let Some(h) = best {
            self.epoch = h.epoch.wrapping_add(1);
            self.next_seq = h.seq.saturating_add(SEQ_MARGIN);
        }
        if let (Some(unit), false) = (announce, self.geo.no_erase) {
            // Best effort: a failure here only loses the announcement.
            if self.write_header(unit, HeaderKind::Opened, 0).is_ok() {
                return Ok(Some(unit));
            }
        }
        Ok(None)
    }

    /// Erase (unless write-once) and write header A. On error the unit is left retired
    /// (or dirty, on write-once media) and the error is returned.
    fn format_unit(&mut self, unit: u32) -> Res<(), F> {
        let result = self.try_format_unit(unit);
        if result.is_err() {
            if self.geo.no_erase {
                self.units.get_mut(unit).state = UnitState::Dirty;
            } else {
                self.units.get_mut(unit).state = UnitState::Retired;
            }
        }
        result
    }

    fn try_format_unit(&mut self, unit: u32) -> Res<(), F> {
        if !self.geo.no_erase {
            // No intent needed: a cut erase during format leaves a unit of the old epoch.
            self.units.get_mut(unit).wear += 1;
            self.erase_raw(unit)?;
        }
        let (start, len) = (self.geo.unit_addr(unit), self.geo.unit_size);
        if !self.is_blank(start, len)? {
            return Err(Error::NoSpace);
        }
        self.write_header(unit, HeaderKind::Erased, 0)?;
        let info = self.units.get_mut(unit);
        info.state = UnitState::Free { verified: true };
        info.used = 0;
        info.valid = 0;
        Ok(())
    }

    fn same_geometry(&self, h: &UnitHeader) -> bool {
        h.version == FORMAT_VERSION
            && h.unit_size == self.geo.unit_size
            && h.unit_count as u32 == self.geo.unit_count
            && h.block_shift as u32 == self.geo.block_size.trailing_zeros()
    }

    /// A header that belongs to the volume being mounted.
    fn ours(&self, h: HeaderRead) -> Option<UnitHeader> {
        match h {
            HeaderRead::Valid(h) if h.epoch == self.epoch && self.same_geometry(&h) => Some(h),
            _ => None,
        }
    }

    /// Rebuild the RAM state: map, unit table, sequence counter.
    fn scan(&mut self) -> Res<ScanResult<U>, F> {
        let newest = self.newest_header()?;
        let Some(newest) = newest else {
            let (start, len) = (self.geo.region_offset, self.geo.region_len);
            return Err(if self.is_blank(start, len)? {
                Error::Blank
            } else {
                Error::NotFormatted
            });
        };
        if newest.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(newest.version));
        }
        if !self.same_geometry(&newest) {
            return Err(Error::Incompatible);
        }
        self.epoch = newest.epoch;
        let mut max_seq = newest.seq;
        let mut out = ScanResult {
            doomed: Vec::new(),
            frontiers: [None, None],
            voids: Vec::new(),
            weak_marker: None,
            newest_block: None,
            below_junk_seal: Vec::new(),
            newest_seq: newest.seq,
            newest_marker: 0,
            retired: Vec::new(),
        };
        out.frontiers = self.find_frontiers()?;
        for unit in 0..self.geo.unit_count {
            let a_raw = self.read_header(unit, 0)?;
            let a = self.ours(a_raw);
            let b_raw = self.read_header(unit, 1)?;
            let b = self.ours(b_raw);
            let wear = a.or(b).map_or(WEAR_UNKNOWN, |h| h.wear);
            let info = self.units.get_mut(unit);
            info.wear = wear;
            info.state = UnitState::Dirty;
            if a.is_none() && b.is_none() {
                continue;
            }
            // Opened units get their log end walked; a unit with only a header A has no
            // records (if it does, it is never appended to).
            let walk = b_raw != HeaderRead::Erased;
            let used = self.scan_table(unit, &mut max_seq, &mut out, walk)?;
            let info = self.units.get_mut(unit);
            info.used = used;
            info.state = if used == 0 && a.is_some() && b_raw == HeaderRead::Erased {
                UnitState::Free { verified: false }
            } else if used == 0 {
                UnitState::Dirty
            } else {
                UnitState::Sealed
            };
        }
        self.finish_scan(max_seq);
        for &(target, holder, _) in out.retired.iter() {
            // Retired for good: never opened again. Its data (if a relocation failed) stays
            // readable through the map.
            self.units.get_mut(u32::from(target)).state = UnitState::Retired;
            // Cannot overflow: at most one entry per unit.
            let _ = self.retire_log.push((target, holder));
        }
        if self.units.retired() > self.geo.spare_units() {
            self.read_only = true;
        }
        for &unit in out.doomed.iter() {
            // Its erase was started, so everything in it had been relocated: never append
            // to it; erase it again before use.
            let info = self.units.get_mut(unit as u32);
            info.state = match info.state {
                UnitState::Sealed if info.valid > 0 => UnitState::Retired,
                _ => UnitState::Dirty,
            };
        }
        Ok(out)
    }

    /// Per stream (host, GC): the unit most recently opened (highest header B of this
    /// volume), the only places a cut program can be. In single-stream mode both streams
    /// share one frontier: the newest header B of either kind.
    fn find_frontiers(&mut self) -> Res<[Option<u32>; 2], F> {
        let mut last_open: [Option<(u64, u32)>; 2] = [None, None];
        for unit in 0..self.geo.unit_count {
            let raw = self.read_header(unit, 1)?;
            let Some(b) = self.ours(raw) else {
                continue;
            };
            let i = usize::from(b.stream == Stream::Gc as u8 && !self.geo.single_stream);
            if last_open[i].is_none_or(|(s, _)| b.seq > s) {
                last_open[i] = Some((b.seq, unit));
            }
        }
        Ok(last_open.map(|o| o.map(|(_, u)| u)))
    }

    /// Erase units whose interrupted erase an intent revealed, while the intent record is
    /// still on flash (GC may reclaim it later, and then the unit would look free).
    pub(crate) fn erase_doomed(&mut self, doomed: &[u16]) -> Res<(), F> {
        if self.geo.no_erase {
            return Ok(());
        }
        for &u in doomed {
            if self.units.get(u as u32).state == UnitState::Dirty {
                self.erase_unit(u as u32, false)?;
            }
        }
        Ok(())
    }

    /// The valid header with the highest sequence number anywhere in the region.
    fn newest_header(&mut self) -> Res<Option<UnitHeader>, F> {
        let mut best: Option<UnitHeader> = None;
        for unit in 0..self.geo.unit_count {
            for which in 0..2 {
                if let HeaderRead::Valid(h) = self.read_header(unit, which)? {
                    if best.is_none_or(|x| h.seq > x.seq) {
                        best = Some(h);
                    }
                }
            }
        }
        Ok(best)
    }

    /// Read one unit's record table into the map, from the last slot down so that a
    /// marker's void range is known before the slots it covers. With `walk`, the end of
    /// the log is examined from the very same reads (a weak record may read differently
    /// each time: one mount must see one state) and the result is the first slot that is
    /// safe to program; without, any record makes the unit full. 0: nothing in the unit.
    fn scan_table(
        &mut self,
        unit: u32,
        max_seq: &mut u64,
        out: &mut ScanResult<U>,
        walk: bool,
    ) -> Res<u16, F> {
        let spu = self.geo.slots_per_unit;
        let mut used = 0u16;
        let mut void: Option<(u32, u32)> = None;
        let mut tail = TailWalk::default();
        let mut junk_seal = false;
        // The seal record first (it sits above every slot), then the slots top down.
        for slot in (0..=spu).rev() {
            let read = if slot == spu {
                let seal = self.read_seal(unit)?;
                tail.seal_free = seal == RecordRead::Erased
                    && walk
                    && self.stays_erased(self.geo.seal_addr(unit))?;
                junk_seal = walk && !tail.seal_free && !matches!(seal, RecordRead::Valid(_));
                seal
            } else {
                self.read_record(unit, slot)?
            };
            if used == 0 && read != RecordRead::Erased {
                used = spu as u16;
            }
            let in_void = void.is_some_and(|(a, b)| a <= slot && slot < b);
            if walk {
                self.walk_step(&mut tail, unit, slot, read, in_void, out)?;
            }
            let RecordRead::Valid(rec) = read else {
                continue;
            };
            if slot == spu && rec.kind != RecordKind::Marker {
                // Only markers belong in the seal record; anything else is ignored.
                continue;
            }
            // Void records keep their number out of circulation too.
            *max_seq = (*max_seq).max(rec.version);
            if in_void {
                continue;
            }
            out.newest_seq = out.newest_seq.max(rec.version);
            if rec.kind == RecordKind::Marker && rec.void_range(slot).is_none() {
                out.newest_marker = out.newest_marker.max(rec.version);
            }
            if let Some(range) = rec.void_range(slot) {
                void = Some(range);
                continue;
            }
            if matches!(rec.kind, RecordKind::Data | RecordKind::Trim) {
                if rec.lba < self.geo.block_count {
                    self.resolve(unit, slot, &rec, out.newest_block)?;
                }
                if junk_seal {
                    // The first block record from the top (this walk goes downwards).
                    junk_seal = false;
                    // Cannot overflow: at most one entry per unit.
                    let _ = out.below_junk_seal.push((unit, slot, rec));
                }
                if out
                    .newest_block
                    .is_none_or(|(_, _, n)| rec.version > n.version)
                {
                    out.newest_block = Some((unit, slot, rec));
                }
            }
            self.note_intent(&rec, &mut out.doomed)?;
            if rec.kind == RecordKind::Retire && rec.lba < self.geo.unit_count {
                note_retired(&mut out.retired, rec.lba as u16, unit as u16, rec.version);
            }
        }
        if !walk {
            return Ok(used);
        }
        Ok(self.walk_finish(&mut tail, unit, out))
    }

    /// An erase intent (a record of its own, or piggybacked) for a unit whose header A is
    /// older: that erase was started and maybe cut.
    fn note_intent(&mut self, rec: &SlotRecord, doomed: &mut Vec<u16, U>) -> Res<(), F> {
        let target = match (rec.kind, rec.erases) {
            (RecordKind::EraseIntent, _) => rec.lba,
            (_, Some(u)) => u as u32,
            _ => return Ok(()),
        };
        if target < self.geo.unit_count
            && !doomed.contains(&(target as u16))
            && self.intent_dooms(target, rec.version)?
        {
            // Cannot overflow: at most one entry per unit.
            let _ = doomed.push(target as u16);
        }
        Ok(())
    }

    /// An erase intent newer than the unit's header A means that erase never completed.
    fn intent_dooms(&mut self, unit: u32, version: u64) -> Res<bool, F> {
        let a = self.read_header(unit, 0)?;
        Ok(match self.ours(a) {
            Some(a) => a.seq < version,
            None => false,
        })
    }

    /// Keep the newer of the current mapping and the record at (unit, slot). The current
    /// one is read back from flash (the map holds no versions); a weak record may not read
    /// back valid. If it is the newest block record seen so far, its version is known from
    /// `newest`; otherwise it is older than that one, and the new record replaces it (if it
    /// was the newest of its block, a settle copy with a higher version exists).
    fn resolve(
        &mut self,
        unit: u32,
        slot: u32,
        rec: &SlotRecord,
        newest: Option<(u32, u32, SlotRecord)>,
    ) -> Res<(), F> {
        if let Some((cu, cs)) = self.map.get(rec.lba).location() {
            let current = match self.read_record(cu, cs)? {
                RecordRead::Valid(cur) => Some(cur.version),
                _ => newest
                    .filter(|&(u, s, _)| (u, s) == (cu, cs))
                    .map(|(_, _, n)| n.version),
            };
            if current.is_some_and(|v| v >= rec.version) {
                return Ok(());
            }
        }
        let m = match rec.kind {
            RecordKind::Trim => Mapping::Trimmed { unit, slot },
            _ => Mapping::Data { unit, slot },
        };
        self.map.set(rec.lba, m);
        Ok(())
    }

    /// Valid counts from the map, estimated wear for units whose header was lost, counter.
    fn finish_scan(&mut self, max_seq: u64) {
        for (_, m) in self.map.iter() {
            if let Some((u, _)) = m.location() {
                self.units.get_mut(u).valid += 1;
            }
        }
        let mean = self
            .units
            .mean_wear(|u| u.wear != WEAR_UNKNOWN)
            .unwrap_or(0);
        for unit in 0..self.geo.unit_count {
            let info = self.units.get_mut(unit);
            if info.wear == WEAR_UNKNOWN {
                info.wear = mean;
            }
        }
        self.next_seq = max_seq.saturating_add(SEQ_MARGIN);
    }
}

/// Keep the newest retire record of each unit.
fn note_retired<const U: usize>(
    list: &mut Vec<(u16, u16, u64), U>,
    target: u16,
    holder: u16,
    v: u64,
) {
    match list.iter_mut().find(|e| e.0 == target) {
        Some(e) if e.2 < v => *e = (target, holder, v),
        Some(_) => {}
        // Cannot overflow: at most one entry per unit.
        None => {
            let _ = list.push((target, holder, v));
        }
    }
}

/// Geometry is also exposed for tools that want to plan a region without a flash.
pub fn plan<F: NorFlash>(
    cfg: &Config,
    capacity: usize,
    max_units: usize,
    max_blocks: usize,
) -> Result<Geometry, crate::ConfigError> {
    Geometry::new(
        cfg,
        capacity,
        F::READ_SIZE,
        F::WRITE_SIZE,
        F::ERASE_SIZE,
        max_units,
        max_blocks,
    )
}
