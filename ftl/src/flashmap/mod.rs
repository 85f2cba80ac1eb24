//! The block map kept on flash (issue 14; docs/MAP-ON-FLASH.md, "Design: pages plus sorted
//! runs"): the RAM side of it, without any I/O. **A building block: the engine does not use
//! it yet** (docs/MAP-ON-FLASH.md, "Implementation order").
//!
//! The map is the newest of three layers, looked up in this order:
//!
//! ```text
//!  RAM   change buffer: (lba, entry) sorted by lba, at most C        <- every map change
//!  flash runs, newest first: each a sorted list of changes written as <- the buffer, when full
//!        up to 16 delta records in one transaction; RAM keeps each
//!        record's location and lba range (the run index)
//!  flash pages: the whole map, E entries per record; RAM keeps each   <- a merge applies the
//!        page's location (the directory)                                oldest runs to pages
//! ```
//!
//! RAM: `4*P + 8*C + 12*Q + 16*R` bytes plus under 100 (lengths, shape, counters), for `P`
//! pages, `C` buffered changes, `Q` delta records in all runs and `R` runs; nothing grows
//! with capacity except the directory (4 bytes per `E` blocks: 980 bytes for 16 MiB of
//! 512-byte blocks).
//!
//! The engine does the I/O: it reads the records a lookup or a merge names, passes their
//! bytes in, writes the records a run or a merge produces and reports where they landed.
//! Sans-I/O keeps this testable against a plain array (below) and the same for the blocking
//! and async engines. Every call that changes the state checks its arguments against it and
//! refuses ([`Refused`]) rather than change anything on a mistake; nothing here panics on
//! bytes read from flash.
//!
//! **Garbage is the engine's to time.** A page a merge replaces and the records of merged
//! runs are named by the last root on flash until a newer root is durable, so the engine
//! keeps them live (counted, not erased) until then (docs/MAP-ON-FLASH.md, review rule 4).

pub mod mode;
pub mod record;

use heapless::Vec;
use record::{BadRecord, DeltaHead, MapShape, MAX_PARTS, UNMAPPED};

/// A location no record has: a page never written maps every block as unmapped.
pub const NO_LOC: u32 = u32::MAX;

/// One delta record of a run: the lba range of its changes and where it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Part {
    pub first: u32,
    pub last: u32,
    /// Global slot index of the record.
    pub loc: u32,
}

/// A run: its number, the newest version among its changes and how many parts it has (they
/// sit in `FlashMap::parts`, runs oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Run {
    pub number: u32,
    pub covers: u64,
    pub parts: u8,
}

/// A record a lookup must read next, or its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Source {
    /// Delta record `part` of run `run` at `loc`: it may hold the block's change.
    Part { run: u32, part: u8, loc: u32 },
    /// The page holding the block's entry, at `loc`: it has the answer.
    Page { page: u32, loc: u32 },
    /// No page was ever written for the block: unmapped.
    Unmapped,
}

/// Why the map refused a call. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refused {
    /// The buffer holds `C` changes: write a run first.
    BufferFull,
    /// A run is frozen (being written): no change until `run_written` or `run_thaw`.
    RunFrozen,
    /// The run index is full (`R` runs or `Q` records): merge first.
    IndexFull,
    /// The call does not fit the state: an lba or entry outside the volume, no change to
    /// write, a wrong record count, a merge step out of order, a map not loaded.
    Mismatch,
}

/// The map's RAM state. `P` pages, `C` buffered changes, `R` runs, `Q` delta records.
#[derive(Debug)]
pub struct FlashMap<const P: usize, const C: usize, const R: usize, const Q: usize> {
    shape: MapShape,
    /// Each page's record (`NO_LOC`: never written).
    dir: Vec<u32, P>,
    /// Changes since the last run, sorted by lba, one per block.
    buffer: Vec<(u32, u32), C>,
    /// The newest version among the buffered changes.
    buffer_covers: u64,
    /// Runs oldest first, and their parts in the same order.
    runs: Vec<Run, R>,
    parts: Vec<Part, Q>,
    next_run: u32,
    /// A merge in progress: how many of the oldest runs it applies, and the next page.
    merge: Option<(u8, u32)>,
    /// The buffer is being written as a run: it must not change until then.
    frozen: bool,
    /// False between `load_start` and a successful `load_finish`: lookups find nothing.
    ready: bool,
}

fn check(ok: bool, why: Refused) -> Result<(), Refused> {
    match ok {
        true => Ok(()),
        false => Err(why),
    }
}

fn valid(ok: bool) -> Result<(), BadRecord> {
    match ok {
        true => Ok(()),
        false => Err(BadRecord),
    }
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> FlashMap<P, C, R, Q> {
    /// An empty map (every block unmapped); `None` if the shape needs more pages than `P`,
    /// a full buffer would not fit one run, or `R` is not in `1..=255`.
    pub fn new(shape: MapShape) -> Option<Self> {
        let run_max = C.div_ceil(shape.per_delta as usize);
        let fits = shape.pages() as usize <= P && run_max <= MAX_PARTS.min(Q);
        if !fits || !(1..=255).contains(&R) {
            return None;
        }
        let mut dir = Vec::new();
        dir.resize(shape.pages() as usize, NO_LOC).ok()?;
        Some(FlashMap {
            shape,
            dir,
            buffer: Vec::new(),
            buffer_covers: 0,
            runs: Vec::new(),
            parts: Vec::new(),
            next_run: 0,
            merge: None,
            frozen: false,
            ready: true,
        })
    }

    pub fn shape(&self) -> &MapShape {
        &self.shape
    }

    // ---- the buffer ----

    /// Record that `lba` now maps to `entry`, by a record of `version`.
    pub fn set(&mut self, lba: u32, entry: u32, version: u64) -> Result<(), Refused> {
        check(!self.frozen, Refused::RunFrozen)?;
        check(
            self.ready && lba < self.shape.blocks && self.shape.entry_ok(entry),
            Refused::Mismatch,
        )?;
        match self.buffer.binary_search_by_key(&lba, |&(l, _)| l) {
            Ok(i) => self.buffer[i].1 = entry,
            Err(i) => self
                .buffer
                .insert(i, (lba, entry))
                .map_err(|_| Refused::BufferFull)?,
        }
        self.buffer_covers = self.buffer_covers.max(version);
        Ok(())
    }

    /// Buffered changes, and how many more fit.
    pub fn buffered(&self) -> (usize, usize) {
        (self.buffer.len(), C - self.buffer.len())
    }

    // ---- lookups ----

    /// `lba`'s entry if the buffer has it; otherwise `sources` names the records to read.
    pub fn in_buffer(&self, lba: u32) -> Option<u32> {
        let i = self.buffer.binary_search_by_key(&lba, |&(l, _)| l).ok()?;
        Some(self.buffer[i].1)
    }

    /// The records that may hold `lba`'s entry, newest first: the part of each run whose
    /// range covers it, then its page. The first that has the entry answers; the last
    /// source always does, so an iterator that ends without an answer (a map not loaded)
    /// is an error for the caller.
    pub fn sources(&self, lba: u32) -> impl Iterator<Item = Source> + '_ {
        let mut end = self.parts.len();
        let runs = self.runs.iter().rev().filter_map(move |run| {
            let start = end.saturating_sub(usize::from(run.parts));
            let parts = &self.parts[start..end];
            end = start;
            let part = parts.iter().position(|p| p.first <= lba && lba <= p.last)?;
            Some(Source::Part {
                run: run.number,
                part: part as u8,
                loc: parts[part].loc,
            })
        });
        let (page, _) = self.shape.page_of(lba);
        let page = match self.page_loc(page) {
            Some(loc) => Source::Page { page, loc },
            None => Source::Unmapped,
        };
        let n = if self.ready { usize::MAX } else { 0 };
        runs.chain(core::iter::once(page)).take(n)
    }

    /// Look for `lba` in the record `src` named, read back as `rec` from a slot of
    /// `version`: `Some(entry)` if it answers, `None` to go on with the next source. The
    /// caller has checked the slot's claim (kind, and lba = page or run number).
    pub fn search(
        &self,
        src: Source,
        rec: &[u8],
        version: u64,
        lba: u32,
    ) -> Result<Option<u32>, BadRecord> {
        match src {
            Source::Part { run, part, .. } => {
                let h = self.delta_head(rec, version, run, part)?;
                record::delta_find(&self.shape, rec, &h, lba)
            }
            Source::Page { page, .. } => {
                record::page_head(rec, page, version)?;
                let (p, i) = self.shape.page_of(lba);
                valid(p == page)?;
                record::page_entry(&self.shape, rec, i).map(Some)
            }
            Source::Unmapped => Ok(Some(UNMAPPED)),
        }
    }

    /// A delta record's header and pairs, checked against the index: part `part` of run
    /// `run`, the run's part count and covers, pairs sorted and spanning exactly the lba
    /// range the index keeps for it (so a binary search over them is sound).
    fn delta_head(
        &self,
        rec: &[u8],
        version: u64,
        run: u32,
        part: u8,
    ) -> Result<DeltaHead, BadRecord> {
        let h = record::delta_head(&self.shape, rec, version)?;
        let i = self.part_index(run, part).ok_or(BadRecord)?;
        let r = self.run(run).ok_or(BadRecord)?;
        valid(h.run == run && h.part == part && h.parts == r.parts && h.covers == r.covers)?;
        let range = record::check_delta(&self.shape, rec, &h)?;
        valid(range == (self.parts[i].first, self.parts[i].last))?;
        Ok(h)
    }

    fn run(&self, number: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.number == number)
    }

    /// The current record of `page`, if it was ever written.
    pub fn page_loc(&self, page: u32) -> Option<u32> {
        self.dir
            .get(page as usize)
            .copied()
            .filter(|&l| l != NO_LOC)
    }

    // ---- runs ----

    /// True if the buffer can be written as a run now (the run index has room).
    pub fn run_fits(&self) -> bool {
        self.runs.len() < R && self.parts.len() + self.run_parts() <= Q
    }

    /// Records the buffer makes as a run (0 when it is empty).
    pub fn run_parts(&self) -> usize {
        self.buffer.len().div_ceil(self.shape.per_delta as usize)
    }

    /// Freeze the buffer to write it as a run; returns its record count. Until
    /// `run_written` (the run's transaction committed) or `run_thaw` (it failed: the
    /// changes stay buffered), `set` is refused.
    pub fn run_freeze(&mut self) -> Result<usize, Refused> {
        check(self.ready && !self.buffer.is_empty(), Refused::Mismatch)?;
        check(self.run_fits(), Refused::IndexFull)?;
        self.frozen = true;
        Ok(self.run_parts())
    }

    /// The run's transaction did not commit: the changes stay in the buffer.
    pub fn run_thaw(&mut self) {
        self.frozen = false;
    }

    /// Encode part `part` of the frozen run into `rec` (`record_bytes` long).
    pub fn encode_part(&self, part: usize, rec: &mut [u8]) -> Result<(), Refused> {
        check(self.frozen && part < self.run_parts(), Refused::Mismatch)?;
        check(
            rec.len() >= self.shape.record_bytes as usize,
            Refused::Mismatch,
        )?;
        let d = self.shape.per_delta as usize;
        let pairs = &self.buffer[part * d..self.buffer.len().min(part * d + d)];
        let head = DeltaHead {
            covers: self.buffer_covers,
            run: self.next_run,
            part: part as u8,
            parts: self.run_parts() as u8,
            count: pairs.len() as u16,
        };
        record::encode_delta(rec, &head, pairs);
        Ok(())
    }

    /// The frozen run's records landed at `locs` (in part order) and its transaction
    /// committed: they join the run index and the buffer empties. The claim's lba of each
    /// record is the run's number (`next_run`).
    pub fn run_written(&mut self, locs: &[u32]) -> Result<(), Refused> {
        let ok = self.frozen && locs.len() == self.run_parts();
        check(
            ok && locs.iter().all(|&l| l < self.shape.slots),
            Refused::Mismatch,
        )?;
        let d = self.shape.per_delta as usize;
        for (chunk, &loc) in self.buffer.chunks(d).zip(locs) {
            let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
            // run_freeze() checked the room.
            let _ = self.parts.push(Part { first, last, loc });
        }
        let run = Run {
            number: self.next_run,
            covers: self.buffer_covers,
            parts: locs.len() as u8,
        };
        let _ = self.runs.push(run);
        self.next_run = self.next_run.wrapping_add(1);
        self.buffer.clear();
        self.buffer_covers = 0;
        self.frozen = false;
        Ok(())
    }

    /// The run number the next run gets (its records' claim lba).
    pub fn next_run(&self) -> u32 {
        self.next_run
    }

    /// Mount saw delta records of run `n` on flash (an orphan run a cut left, or a merged
    /// one): the next run is numbered after it, so that its records are never taken for
    /// the new run's. Run numbers only grow (by one per run: they wrap after 2^32 runs).
    pub fn skip_run_number(&mut self, n: u32) {
        if n.wrapping_sub(self.next_run) < 1 << 31 {
            self.next_run = n.wrapping_add(1);
        }
    }

    /// Mount found a record of the oldest `k` runs gone from flash: a merge that applied
    /// them finished after the root was written (its pages are on flash and newer), so they
    /// leave the index. Nothing else changes.
    pub fn forget_oldest_runs(&mut self, k: usize) {
        let k = k.min(self.runs.len());
        let n: usize = self.runs[..k].iter().map(|r| usize::from(r.parts)).sum();
        for _ in 0..n.min(self.parts.len()) {
            self.parts.remove(0);
        }
        for _ in 0..k {
            self.runs.remove(0);
        }
        self.merge = match self.merge {
            Some((m, next)) if usize::from(m) > k => Some((m - k as u8, next)),
            _ => None,
        };
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// True if `runs` more runs of `parts` records in all fit the index.
    pub fn index_has_room(&self, runs: usize, parts: usize) -> bool {
        self.runs.len() + runs <= R && self.parts.len() + parts <= Q
    }

    /// Mount found run `run` on flash, complete, written after the loaded checkpoint (its
    /// root did not land): it joins the index, newest, its records' places and ranges
    /// unknown until `adopt_part` fills each (`index_is_whole` checks that all came).
    pub fn adopt_run(&mut self, run: Run) -> Result<(), Refused> {
        let after = run.number.wrapping_sub(self.next_run) < 1 << 31;
        let parts = usize::from(run.parts);
        let ok = self.ready && after && (1..=MAX_PARTS).contains(&parts);
        check(ok && self.index_has_room(1, parts), Refused::Mismatch)?;
        for _ in 0..parts {
            let _ = self.parts.push(Part::EMPTY);
        }
        let _ = self.runs.push(run);
        self.next_run = run.number.wrapping_add(1);
        Ok(())
    }

    /// Part `part` of an adopted run: its lba range (checked by `record::check_delta`) and
    /// where it lives.
    pub fn adopt_part(
        &mut self,
        run: u32,
        part: u8,
        (first, last): (u32, u32),
        loc: u32,
    ) -> Result<(), Refused> {
        let i = self.part_index(run, part).ok_or(Refused::Mismatch)?;
        let ok = first <= last && last < self.shape.blocks && loc < self.shape.slots;
        check(ok, Refused::Mismatch)?;
        self.parts[i] = Part { first, last, loc };
        Ok(())
    }

    /// After adoption: every part has a place, the runs are ordered and their parts sorted,
    /// no two records share a location (what `load_finish` checks of a checkpoint).
    pub fn index_is_whole(&self) -> bool {
        let placed = self.parts.iter().all(|p| p.loc != NO_LOC);
        placed && self.runs_are_ordered() && self.locations_are_distinct()
    }

    // ---- merges ----

    /// Start merging the oldest `k` runs into pages (`1 <= k <= runs`). Pages are then
    /// rewritten one at a time (`merge_next`, `page_begin`, `page_apply`, then
    /// `page_written`, or `page_skip` when no applied change fell in the page), in slices
    /// between operations if the engine likes; until `merge_finish` the merged runs stay in
    /// the index, and lookups, which read newer records first, answer the same from the run
    /// or the rewritten page. The merge's progress is in the checkpoint.
    pub fn merge_start(&mut self, k: usize) -> Result<(), Refused> {
        let ok = self.ready && self.merge.is_none() && (1..=self.runs.len()).contains(&k);
        check(ok, Refused::Mismatch)?;
        self.merge = Some((k as u8, 0));
        Ok(())
    }

    /// The merge in progress: how many runs it applies and the next page it looks at.
    pub fn merging(&self) -> Option<(usize, u32)> {
        self.merge.map(|(k, next)| (usize::from(k), next))
    }

    /// The runs the merge applies and their parts (none without a merge). Clamped, so a
    /// half-loaded checkpoint's counts cannot index past the vectors.
    fn merged(&self) -> (&[Run], &[Part]) {
        let k = self.merge.map_or(0, |(k, _)| usize::from(k));
        let runs = &self.runs[..k.min(self.runs.len())];
        let n: usize = runs.iter().map(|r| usize::from(r.parts)).sum();
        (runs, &self.parts[..n.min(self.parts.len())])
    }

    fn merged_parts(&self) -> &[Part] {
        self.merged().1
    }

    /// `page`'s lba range, inclusive (`u64`: no overflow at the top of the map).
    fn page_range(&self, page: u32) -> (u64, u64) {
        let e = u64::from(self.shape.per_page);
        (u64::from(page) * e, u64::from(page) * e + e - 1)
    }

    fn touches(&self, q: &Part, page: u32) -> bool {
        let (lo, hi) = self.page_range(page);
        u64::from(q.first) <= hi && lo <= u64::from(q.last)
    }

    /// The next page the merge must look at (one some merged part's range touches), or
    /// `None` when every such page is done.
    pub fn merge_next(&self) -> Option<u32> {
        let (_, from) = self.merge?;
        let parts = self.merged_parts();
        (from..self.shape.pages()).find(|&p| parts.iter().any(|q| self.touches(q, p)))
    }

    /// The merged parts whose range touches `page`, oldest first (apply them in order).
    pub fn merge_sources(&self, page: u32) -> impl Iterator<Item = Source> + '_ {
        let (runs, merged) = self.merged();
        let mut start = 0;
        runs.iter().flat_map(move |run| {
            let parts = merged
                .get(start..start + usize::from(run.parts))
                .unwrap_or(&[]);
            start += usize::from(run.parts);
            parts.iter().enumerate().filter_map(move |(i, q)| {
                self.touches(q, page).then_some(Source::Part {
                    run: run.number,
                    part: i as u8,
                    loc: q.loc,
                })
            })
        })
    }

    /// Start building `page` in `out` from its current record (`old`: its bytes and slot
    /// version, `None` if it was never written). Returns the page's `covers` so far.
    pub fn page_begin(
        &self,
        page: u32,
        old: Option<(&[u8], u64)>,
        out: &mut [u8],
    ) -> Result<u64, BadRecord> {
        valid(page < self.shape.pages() && out.len() >= self.shape.record_bytes as usize)?;
        let covers = match old {
            Some((rec, version)) => {
                let covers = record::page_head(rec, page, version)?;
                for i in 0..self.shape.per_page {
                    record::set_page_entry(out, i, record::page_entry(&self.shape, rec, i)?);
                }
                covers
            }
            None => {
                out.fill(0xFF);
                0
            }
        };
        record::put_page_head(out, covers, page);
        Ok(covers)
    }

    /// Apply the merged part `src` (read back as `rec` from a slot of `version`) to the
    /// page being built in `out`; returns the page's new `covers` and whether a change fell
    /// in the page (a part's range may span pages it has no change for).
    pub fn page_apply(
        &self,
        page: u32,
        src: Source,
        rec: &[u8],
        version: u64,
        out: &mut [u8],
    ) -> Result<(u64, bool), BadRecord> {
        let Source::Part { run, part, .. } = src else {
            return Err(BadRecord);
        };
        valid(self.merged().0.iter().any(|r| r.number == run))?;
        let h = self.delta_head(rec, version, run, part)?;
        let e = self.shape.per_page;
        let mut changed = false;
        for i in 0..u32::from(h.count) {
            let (lba, entry) = record::delta_pair(&self.shape, rec, i, None)?;
            if lba / e == page {
                record::set_page_entry(out, lba % e, entry);
                changed = true;
            }
        }
        let covers = record::page_head(out, page, u64::MAX)?.max(h.covers);
        record::put_page_head(out, covers, page);
        Ok((covers, changed))
    }

    /// The merge's next page was rewritten and landed at `loc`; returns the location it
    /// replaces (`NO_LOC`: none), garbage once a newer root is durable (module docs).
    pub fn page_written(&mut self, page: u32, loc: u32) -> Result<u32, Refused> {
        self.merge_step(page)?;
        check(loc < self.shape.slots, Refused::Mismatch)?;
        let old = core::mem::replace(&mut self.dir[page as usize], loc);
        self.merge = self.merge.map(|(k, _)| (k, page + 1));
        Ok(old)
    }

    /// The merge's next page needs no new record: none of the merged changes fell in it.
    pub fn page_skip(&mut self, page: u32) -> Result<(), Refused> {
        self.merge_step(page)?;
        self.merge = self.merge.map(|(k, _)| (k, page + 1));
        Ok(())
    }

    fn merge_step(&self, page: u32) -> Result<(), Refused> {
        check(self.merge_next() == Some(page), Refused::Mismatch)
    }

    /// Every page is done: drop the merged runs; `garbage` gets each of their records'
    /// locations (garbage once a newer root is durable: module docs).
    pub fn merge_finish(&mut self, mut garbage: impl FnMut(u32)) -> Result<(), Refused> {
        check(
            self.merge.is_some() && self.merge_next().is_none(),
            Refused::Mismatch,
        )?;
        let (k, n) = (self.merged().0.len(), self.merged_parts().len());
        self.merge = None;
        for p in &self.parts[..n] {
            garbage(p.loc);
        }
        // Front removals on small vectors (at most R and Q entries): bounded shifts.
        for _ in 0..n {
            self.parts.remove(0);
        }
        for _ in 0..k {
            self.runs.remove(0);
        }
        Ok(())
    }

    // ---- GC ----

    /// Is the page record at `loc` the current one for `page`?
    pub fn page_live(&self, page: u32, loc: u32) -> bool {
        self.dir.get(page as usize) == Some(&loc)
    }

    /// Which part of run `run` (the claim's lba of a delta record) lives at `loc`, if any:
    /// the record is live iff this is `Some`.
    pub fn part_of(&self, run: u32, loc: u32) -> Option<u8> {
        let r = self.run(run)?;
        (0..r.parts).find(|&p| self.part_loc(run, p) == Some(loc))
    }

    /// Where part `part` of run `run` lives.
    pub fn part_loc(&self, run: u32, part: u8) -> Option<u32> {
        self.part_index(run, part).map(|i| self.parts[i].loc)
    }

    /// Where part `part` of run `run` sits in the index (oldest run's parts first).
    pub fn part_index(&self, run: u32, part: u8) -> Option<usize> {
        let mut start = 0;
        for r in &self.runs {
            if r.number == run {
                let i = start + usize::from(part);
                return (part < r.parts && i < self.parts.len()).then_some(i);
            }
            start += usize::from(r.parts);
        }
        None
    }

    /// GC copied the current page record from `from` to `to` (same bytes).
    pub fn page_moved(&mut self, page: u32, from: u32, to: u32) {
        if let Some(loc) = self.dir.get_mut(page as usize).filter(|l| **l == from) {
            *loc = to;
        }
    }

    /// GC copied delta record `part` of run `run` from `from` to `to` (same bytes).
    pub fn part_moved(&mut self, run: u32, part: u8, from: u32, to: u32) {
        if let Some(i) = self
            .part_index(run, part)
            .filter(|&i| self.parts[i].loc == from)
        {
            self.parts[i].loc = to;
        }
    }
}

/// The checkpoint: the directory, the run index and the merge in progress as a stream of
/// `u32` words, which the engine packs into root records (docs/MAP-ON-FLASH.md, review
/// rule 2: every root carries all of it). Fixed fields first, so every word's meaning
/// follows from its index; `merge` is 0 when no merge is under way, else its run count,
/// with `next` the page it goes on from:
///
/// ```text
///  word 0    1          2      3       4       5      6 ..        4 per run:     3 per part:
///  +-------+----------+------+-------+-------+------+-----------+--------------+-----------+
///  | pages | next_run | runs | parts | merge | next | directory | number       | first     |
///  |       |          |      |       |       |      | (pages)   | covers lo/hi | last      |
///  |       |          |      |       |       |      |           | parts        | loc       |
///  +-------+----------+------+-------+-------+------+-----------+--------------+-----------+
/// ```
const CHECKPOINT_HEAD: usize = 6;

impl<const P: usize, const C: usize, const R: usize, const Q: usize> FlashMap<P, C, R, Q> {
    /// Words in the checkpoint of the current state.
    pub fn checkpoint_words(&self) -> usize {
        CHECKPOINT_HEAD + self.dir.len() + 4 * self.runs.len() + 3 * self.parts.len()
    }

    /// Word `i` of the checkpoint (`i < checkpoint_words()`; 0 beyond). The buffer is not
    /// in it: a checkpoint is written with the run that empties the buffer.
    pub fn checkpoint_word(&self, i: usize) -> u32 {
        let (dir, runs) = (self.dir.len(), self.runs.len());
        let (k, next) = self.merge.map_or((0, 0), |(k, n)| (u32::from(k), n));
        match i {
            0 => dir as u32,
            1 => self.next_run,
            2 => runs as u32,
            3 => self.parts.len() as u32,
            4 => k,
            5 => next,
            i if i < CHECKPOINT_HEAD + dir => self.dir[i - CHECKPOINT_HEAD],
            i if i < CHECKPOINT_HEAD + dir + 4 * runs => {
                let j = i - CHECKPOINT_HEAD - dir;
                let r = &self.runs[j / 4];
                [
                    r.number,
                    r.covers as u32,
                    (r.covers >> 32) as u32,
                    u32::from(r.parts),
                ][j % 4]
            }
            i => {
                let j = i - CHECKPOINT_HEAD - dir - 4 * runs;
                self.parts
                    .get(j / 3)
                    .map_or(0, |p| [p.first, p.last, p.loc][j % 3])
            }
        }
    }

    /// Start loading a checkpoint: forget everything (the buffer too), then feed every
    /// word in order to `load_word` and call `load_finish` with their count. Until that
    /// succeeds the map answers no lookup and takes no change.
    pub fn load_start(&mut self) {
        self.dir.iter_mut().for_each(|l| *l = NO_LOC);
        self.buffer.clear();
        self.buffer_covers = 0;
        self.runs.clear();
        self.parts.clear();
        self.merge = None;
        self.frozen = false;
        self.ready = false;
    }

    /// Word `i` of a checkpoint read from flash. Every field is checked as it comes: the
    /// counts against the capacities, locations inside the volume, ranges inside the map.
    pub fn load_word(&mut self, i: usize, w: u32) -> Result<(), BadRecord> {
        let ok = !self.ready && self.take_word(i, w);
        if !ok {
            self.load_start();
        }
        valid(ok)
    }

    fn take_word(&mut self, i: usize, w: u32) -> bool {
        let s = self.shape;
        let dir = self.dir.len();
        match i {
            0 => w as usize == dir,
            1 => {
                self.next_run = w;
                true
            }
            // Runs and parts counts: the vectors are sized as the words arrive.
            2 => self.runs.resize(w as usize, Run::EMPTY).is_ok(),
            3 => self.parts.resize(w as usize, Part::EMPTY).is_ok(),
            4 => {
                self.merge = (w != 0).then_some((w.min(255) as u8, 0));
                w <= 255
            }
            5 => {
                self.merge = self.merge.map(|(k, _)| (k, w));
                w <= s.pages()
            }
            i if i < CHECKPOINT_HEAD + dir => {
                self.dir[i - CHECKPOINT_HEAD] = w;
                w == NO_LOC || w < s.slots
            }
            i if i < CHECKPOINT_HEAD + dir + 4 * self.runs.len() => {
                let j = i - CHECKPOINT_HEAD - dir;
                let r = &mut self.runs[j / 4];
                match j % 4 {
                    0 => r.number = w,
                    1 => r.covers = u64::from(w),
                    2 => r.covers |= u64::from(w) << 32,
                    _ => r.parts = w.min(255) as u8,
                }
                j % 4 != 3 || (1..=MAX_PARTS as u32).contains(&w)
            }
            i if i < self.checkpoint_words() => {
                let j = i - CHECKPOINT_HEAD - dir - 4 * self.runs.len();
                let p = &mut self.parts[j / 3];
                match j % 3 {
                    0 => p.first = w,
                    1 => p.last = w,
                    _ => p.loc = w,
                }
                match j % 3 {
                    0 => w < s.blocks,
                    1 => p.first <= w && w < s.blocks,
                    _ => w < s.slots,
                }
            }
            _ => false,
        }
    }

    /// The whole checkpoint is in (`fed` words): check what no single word shows (every
    /// word came, the runs' parts add up, numbers increase to `next_run`, each run's parts
    /// are sorted and disjoint, the merge applies runs there are, no two records share a
    /// location), then answer lookups.
    pub fn load_finish(&mut self, fed: usize) -> Result<(), BadRecord> {
        let total: usize = self.runs.iter().map(|r| usize::from(r.parts)).sum();
        let k = self.merge.map_or(0, |(k, _)| usize::from(k));
        let ok = !self.ready
            && fed == self.checkpoint_words()
            && total == self.parts.len()
            && k <= self.runs.len()
            && self.runs_are_ordered()
            && self.locations_are_distinct();
        if !ok {
            self.load_start();
            return Err(BadRecord);
        }
        self.ready = true;
        Ok(())
    }

    fn runs_are_ordered(&self) -> bool {
        let mut start = 0;
        self.runs.iter().enumerate().all(|(k, r)| {
            let next = self.runs.get(k + 1).map_or(self.next_run, |n| n.number);
            let gap = next.wrapping_sub(r.number);
            let end = start + usize::from(r.parts);
            let parts = &self.parts[start..end.min(self.parts.len())];
            start = end;
            // Any gap: runs a cut left without a root (orphans, replayed into the buffer
            // again) took numbers in between.
            gap != 0 && gap < 1 << 31 && parts.windows(2).all(|w| w[0].last < w[1].first)
        })
    }

    /// No two pages or parts at one location (a crafted root could otherwise make the
    /// engine count one record's garbage twice). Quadratic in `P + Q`, once per mount.
    fn locations_are_distinct(&self) -> bool {
        let locs = || {
            let pages = self.dir.iter().copied().filter(|&l| l != NO_LOC);
            pages.chain(self.parts.iter().map(|p| p.loc))
        };
        locs()
            .enumerate()
            .all(|(i, a)| locs().skip(i + 1).all(|b| a != b))
    }
}

impl Run {
    const EMPTY: Run = Run {
        number: 0,
        covers: 0,
        parts: 0,
    };
}

impl Part {
    const EMPTY: Part = Part {
        first: 0,
        last: 0,
        loc: NO_LOC,
    };
}

#[cfg(test)]
mod tests;
