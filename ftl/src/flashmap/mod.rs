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
//! and async engines.

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
}

/// The buffer holds `C` changes: the engine writes a run before it can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferFull;

impl<const P: usize, const C: usize, const R: usize, const Q: usize> FlashMap<P, C, R, Q> {
    /// An empty map (every block unmapped); `None` if the shape needs more pages than `P`,
    /// or a full buffer would not fit one run.
    pub fn new(shape: MapShape) -> Option<Self> {
        let run_max = C.div_ceil(shape.per_delta as usize);
        if shape.pages() as usize > P || run_max > MAX_PARTS.min(Q) || R == 0 {
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
        })
    }

    pub fn shape(&self) -> &MapShape {
        &self.shape
    }

    // ---- the buffer ----

    /// Record that `lba` now maps to `entry`, by a record of `version`.
    pub fn set(&mut self, lba: u32, entry: u32, version: u64) -> Result<(), BufferFull> {
        debug_assert!(lba < self.shape.blocks && self.shape.entry_ok(entry));
        match self.buffer.binary_search_by_key(&lba, |&(l, _)| l) {
            Ok(i) => self.buffer[i].1 = entry,
            Err(i) => self
                .buffer
                .insert(i, (lba, entry))
                .map_err(|_| BufferFull)?,
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
    /// range covers it, then its page. The first that has the entry answers.
    pub fn sources(&self, lba: u32) -> impl Iterator<Item = Source> + '_ {
        let mut end = self.parts.len();
        let runs = self.runs.iter().rev().filter_map(move |run| {
            let start = end - usize::from(run.parts);
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
        let page = match self.dir.get(page as usize) {
            Some(&loc) if loc != NO_LOC => Source::Page { page, loc },
            _ => Source::Unmapped,
        };
        runs.chain(core::iter::once(page))
    }

    /// Look for `lba` in the record `src` named, read back as `rec` from a slot of
    /// `version`: `Some(entry)` if it answers, `None` to go on with the next source.
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
                debug_assert_eq!(p, page);
                record::page_entry(&self.shape, rec, i).map(Some)
            }
            Source::Unmapped => Ok(Some(UNMAPPED)),
        }
    }

    /// A delta record's header, which must be part `part` of run `run` as the index says.
    fn delta_head(
        &self,
        rec: &[u8],
        version: u64,
        run: u32,
        part: u8,
    ) -> Result<DeltaHead, BadRecord> {
        let h = record::delta_head(&self.shape, rec, version)?;
        let parts = self.run(run).map(|r| r.parts);
        match h.run == run && h.part == part && Some(h.parts) == parts {
            true => Ok(h),
            false => Err(BadRecord),
        }
    }

    fn run(&self, number: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.number == number)
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

    /// Encode part `part` of the run the buffer makes into `rec` (`record_bytes` long).
    pub fn encode_part(&self, part: usize, rec: &mut [u8]) {
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
    }

    /// The run's records landed at `locs` (in part order): they join the run index and the
    /// buffer empties. The claim's lba of each record is the run's number (`next_run`).
    pub fn run_written(&mut self, locs: &[u32]) {
        debug_assert!(self.run_fits() && locs.len() == self.run_parts());
        let d = self.shape.per_delta as usize;
        for (chunk, &loc) in self.buffer.chunks(d).zip(locs) {
            let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
            // run_fits() said there is room.
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
    }

    /// The run number the next run gets (its records' claim lba).
    pub fn next_run(&self) -> u32 {
        self.next_run
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    // ---- merges ----

    /// Start merging the oldest `k` runs into pages (`k` at least 1, at most the runs
    /// there are). Pages are then rewritten one at a time (`merge_next`, `merge_page`,
    /// `page_written`), in slices between operations if the engine likes; until
    /// `merge_finish` the merged runs stay in the index, and lookups, which read newer
    /// records first, answer the same from the run or the rewritten page.
    pub fn merge_start(&mut self, k: usize) {
        debug_assert!(self.merge.is_none() && (1..=self.runs.len()).contains(&k));
        self.merge = Some((k as u8, 0));
    }

    fn merged_parts(&self) -> &[Part] {
        let k = self.merge.map_or(0, |(k, _)| usize::from(k));
        let n: usize = self.runs[..k].iter().map(|r| usize::from(r.parts)).sum();
        &self.parts[..n]
    }

    /// The next page the merge must rewrite (one some merged part's range touches), or
    /// `None` when every such page is done.
    pub fn merge_next(&self) -> Option<u32> {
        let (_, from) = self.merge?;
        let e = self.shape.per_page;
        let parts = self.merged_parts();
        (from..self.shape.pages()).find(|&p| {
            let (lo, hi) = (p * e, p * e + e - 1);
            parts.iter().any(|q| q.first <= hi && lo <= q.last)
        })
    }

    /// The merged parts whose range touches `page`, oldest first (apply them in order).
    pub fn merge_sources(&self, page: u32) -> impl Iterator<Item = Source> + '_ {
        let e = self.shape.per_page;
        let (lo, hi) = (page * e, page * e + e - 1);
        let k = self.merge.map_or(0, |(k, _)| usize::from(k));
        let mut start = 0;
        self.runs[..k].iter().flat_map(move |run| {
            let parts = &self.parts[start..start + usize::from(run.parts)];
            start += usize::from(run.parts);
            parts.iter().enumerate().filter_map(move |(i, q)| {
                (q.first <= hi && lo <= q.last).then_some(Source::Part {
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
    /// page being built in `out`; returns the page's new `covers`.
    pub fn page_apply(
        &self,
        page: u32,
        src: Source,
        rec: &[u8],
        version: u64,
        out: &mut [u8],
    ) -> Result<u64, BadRecord> {
        let Source::Part { run, part, .. } = src else {
            return Err(BadRecord);
        };
        let h = self.delta_head(rec, version, run, part)?;
        let e = self.shape.per_page;
        let mut prev = None;
        for i in 0..u32::from(h.count) {
            let (lba, entry) = record::delta_pair(&self.shape, rec, i, prev)?;
            prev = Some(lba);
            if lba / e == page {
                record::set_page_entry(out, lba % e, entry);
            }
        }
        let covers = record::page_head(out, page, u64::MAX)?.max(h.covers);
        record::put_page_head(out, covers, page);
        Ok(covers)
    }

    /// The rewritten `page` landed at `loc`; returns the location it replaces (garbage now,
    /// or `NO_LOC`). The merge goes on after it.
    pub fn page_written(&mut self, page: u32, loc: u32) -> u32 {
        if let Some((_, next)) = self.merge.as_mut() {
            *next = page + 1;
        }
        core::mem::replace(&mut self.dir[page as usize], loc)
    }

    /// Every page is rewritten: drop the merged runs; `garbage` gets each of their
    /// records' locations.
    pub fn merge_finish(&mut self, mut garbage: impl FnMut(u32)) {
        debug_assert!(self.merge_next().is_none());
        let k = self.merge.take().map_or(0, |(k, _)| usize::from(k));
        let n: usize = self.runs[..k].iter().map(|r| usize::from(r.parts)).sum();
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
    }

    // ---- GC ----

    /// Is the page record at `loc` the current one for `page`?
    pub fn page_live(&self, page: u32, loc: u32) -> bool {
        self.dir.get(page as usize) == Some(&loc)
    }

    /// Is the delta record at `loc` part `part` of run `run` in the index?
    pub fn part_live(&self, run: u32, part: u8, loc: u32) -> bool {
        self.part_index(run, part)
            .is_some_and(|i| self.parts[i].loc == loc)
    }

    fn part_index(&self, run: u32, part: u8) -> Option<usize> {
        let mut start = 0;
        for r in &self.runs {
            if r.number == run {
                return (part < r.parts).then_some(start + usize::from(part));
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

#[cfg(test)]
mod tests;

/// The checkpoint: the directory and the run index as a stream of `u32` words, which the
/// engine packs into root records (docs/MAP-ON-FLASH.md, review rule 2: every root carries
/// all of it). Fixed fields first, so every word's meaning follows from its index:
///
/// ```text
///  word 0    1          2      3       4 ..        then 4 per run:          then 3 per part:
///  +-------+----------+------+-------+-----------+------------------------+----------------+
///  | pages | next_run | runs | parts | directory | number covers_lo       | first last loc |
///  |       |          |      |       | (pages)   | covers_hi parts        |                |
///  +-------+----------+------+-------+-----------+------------------------+----------------+
/// ```
const CHECKPOINT_HEAD: usize = 4;

impl<const P: usize, const C: usize, const R: usize, const Q: usize> FlashMap<P, C, R, Q> {
    /// Words in the checkpoint of the current state.
    pub fn checkpoint_words(&self) -> usize {
        CHECKPOINT_HEAD + self.dir.len() + 4 * self.runs.len() + 3 * self.parts.len()
    }

    /// Word `i` of the checkpoint (`i < checkpoint_words()`). The buffer is not in it: a
    /// checkpoint is written with the run that empties the buffer.
    pub fn checkpoint_word(&self, i: usize) -> u32 {
        let (dir, runs) = (self.dir.len(), self.runs.len());
        match i {
            0 => dir as u32,
            1 => self.next_run,
            2 => runs as u32,
            3 => self.parts.len() as u32,
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
                let p = &self.parts[j / 3];
                [p.first, p.last, p.loc][j % 3]
            }
        }
    }

    /// Start loading a checkpoint: forget everything (the buffer too), then feed every
    /// word in order to `load_word` and call `load_finish` with their count. On any error
    /// the map is left empty and the caller must not use it (the root is not valid).
    pub fn load_start(&mut self) {
        self.dir.iter_mut().for_each(|l| *l = NO_LOC);
        self.buffer.clear();
        self.buffer_covers = 0;
        self.runs.clear();
        self.parts.clear();
        self.merge = None;
    }

    /// Word `i` of a checkpoint read from flash. Every field is checked as it comes: the
    /// counts against the capacities, locations inside the volume, ranges inside the map.
    pub fn load_word(&mut self, i: usize, w: u32) -> Result<(), BadRecord> {
        let s = self.shape;
        let dir = self.dir.len();
        let ok = match i {
            0 => w as usize == dir,
            1 => {
                self.next_run = w;
                true
            }
            // Runs and parts counts: the vectors are sized as the words arrive.
            2 => (w as usize) <= R && self.runs.resize(w as usize, Run::EMPTY).is_ok(),
            3 => (w as usize) <= Q && self.parts.resize(w as usize, Part::EMPTY).is_ok(),
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
                    _ => r.parts = w as u8,
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
        };
        match ok {
            true => Ok(()),
            false => {
                self.load_start();
                Err(BadRecord)
            }
        }
    }

    /// The whole checkpoint is in (`fed` words): check what no single word shows (every
    /// word came, the runs' parts add up, numbers increase to `next_run`, each run's parts
    /// are sorted and disjoint).
    pub fn load_finish(&mut self, fed: usize) -> Result<(), BadRecord> {
        let total: usize = self.runs.iter().map(|r| usize::from(r.parts)).sum();
        let mut ok = fed == self.checkpoint_words() && total == self.parts.len();
        let mut start = 0;
        for (k, r) in self.runs.iter().enumerate() {
            let next = self.runs.get(k + 1).map_or(self.next_run, |n| n.number);
            ok &= next.wrapping_sub(r.number) >= 1 && next.wrapping_sub(r.number) <= R as u32;
            let end = (start + usize::from(r.parts)).min(self.parts.len());
            ok &= self.parts[start..end]
                .windows(2)
                .all(|w| w[0].last < w[1].first);
            start = end;
        }
        match ok {
            true => Ok(()),
            false => {
                self.load_start();
                Err(BadRecord)
            }
        }
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
