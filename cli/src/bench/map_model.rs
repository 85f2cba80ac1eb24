//! A slot-level model of the block map kept on flash (docs/MAP-ON-FLASH.md: proposed for
//! issue 14, **not built**), to measure its central trade before any code: how many map
//! writes each way of keeping the map costs per host write, on cowftl's own layout.
//!
//! It runs on [`layout_model`](super::layout_model)'s units, frontiers, held units and
//! cost-benefit GC, with these records in the log:
//!
//! - data blocks (ids `0..live`), written by the host;
//! - map pages (ids `live..live + P`, `P = ceil(blocks / E)`); GC moves them like data
//!   (moving one only changes the page directory, which is in RAM);
//! - root records (the next `root_records` ids), rewritten at every checkpoint;
//! - with [`MapPolicy::Runs`], the per-run root's records (the next
//!   [`Runs::incremental_root`] ids), then delta records (the ids after those).
//!
//! Every map change counts: a host write, and every data block GC copies (its location
//! changed). Two policies:
//!
//! - [`MapPolicy::Cache`] (DFTL): a change dirties its page in a RAM cache of `C` pages; a
//!   page not cached is loaded (a read: free here) into the least recently used place, and if
//!   that held a dirty page it is written first; a checkpoint every `checkpoint_every` host
//!   writes writes every dirty page and the roots.
//! - [`MapPolicy::Runs`] (a log-structured merge): changes collect in a RAM buffer of `B`
//!   entries; a full buffer is written, sorted, as `ceil(B / D)` delta records (`D` entries
//!   each: one run, found again through a small RAM index of each record's first page); after
//!   `runs` runs every page they touch is rewritten with them (the merge), the delta records
//!   become garbage and the full root is written. Optionally a root after every run, a merge
//!   spread over the runs that follow it, runs written early and units held for map writers
//!   ([`Runs`]). A lookup reads at most one record per live run.
//!
//! WA counts every slot written (data, copies, pages, deltas, roots) per host write; with
//! [`MapPolicy::Ram`] the map is in RAM (today's mode) on the same writes: the reference.

use std::collections::{HashSet, VecDeque};

use cowftl_sim::SplitMix64;

use super::layout_model::{LayoutModel, State, Stream};

/// What the model runs.
pub struct MapModel {
    pub layout: LayoutModel,
    /// Exported blocks (pages cover all of them, written or not).
    pub blocks: u32,
    /// Map entries per page (`E`).
    pub entries_per_page: u32,
    pub policy: MapPolicy,
    /// Records one checkpoint's root takes.
    pub root_records: u32,
}

/// How the map is kept.
#[derive(Debug, Clone, Copy)]
pub enum MapPolicy {
    /// All of it in RAM (today's mode).
    Ram,
    /// A cache of `pages` map pages; a checkpoint every `checkpoint_every` host writes.
    Cache { pages: usize, checkpoint_every: u64 },
    /// Sorted delta runs merged into the pages.
    Runs(Runs),
}

/// [`MapPolicy::Runs`]: a buffer of `buffer` changes, written as a sorted run of delta
/// records holding `per_record` changes each; every page the runs touched rewritten after
/// `runs` runs (the merge), then the full root (`root_records`).
#[derive(Debug, Clone, Copy)]
pub struct Runs {
    pub buffer: u32,
    pub per_record: u32,
    /// Runs per merge (at least 1).
    pub runs: u32,
    /// Records of the root written after every run that does not finish a merge, so that
    /// mount replays at most one buffer (docs/MAP-ON-FLASH.md, "Mount", step 5); it becomes
    /// garbage at the next root. The reviewed design writes a full root (6 records: the
    /// directory, the run index, the counts) with every run; smaller, incremental roots were
    /// the first idea (review rule 2 says why not). 0: a root only after a merge.
    pub incremental_root: u32,
    /// Pages a merge rewrites per run (0: all at once, when its last run is written). A
    /// sliced merge takes the pages its runs touched and rewrites `merge_slice` of them after
    /// that run and after each run that follows, until all are done; meanwhile new runs
    /// accumulate toward the next merge, and the merged runs stay live (lookups read them)
    /// until the last slice. Each slice's directory entries ride in the incremental root
    /// written after the same run, so a sliced merge needs `incremental_root > 0` to count
    /// them. A merge still under way when the next is due is finished at once, so at most
    /// `2 * runs` runs are ever live.
    pub merge_slice: u32,
    /// The run is written once the buffer holds `buffer - reserve_changes` changes, so that
    /// the changes one GC round makes always fit (docs/MAP-ON-FLASH.md, review rule 1: a
    /// unit's slot count); 0: at a full buffer.
    pub reserve_changes: u32,
    /// Units held back for map writers on top of GC's headroom (review rule 1's map reserve:
    /// a run never waits for GC). The model holds whole units, an upper bound on its cost.
    pub map_reserve_units: u32,
}

impl Runs {
    /// Delta records one run takes.
    pub fn records(&self) -> u32 {
        self.buffer.div_ceil(self.per_record)
    }

    /// The most runs live at once, hence delta records a lookup may read: a merge's runs
    /// plus those written before its last slice (the first slice follows its last run).
    pub fn most_live_runs(&self, touched_pages: u32) -> u32 {
        let slices = match self.merge_slice {
            0 => 1,
            n => touched_pages.div_ceil(n).max(1),
        };
        self.runs + (slices - 1).min(self.runs)
    }
}

/// One run's result.
#[derive(Debug, Clone, Copy)]
pub struct MapRun {
    /// (host writes + copies + pages + roots) / host writes, over the measured writes.
    pub wa: f64,
    /// Map records (pages, deltas, roots) written per host write.
    pub map_writes: f64,
    /// Map lookups that found their page in the cache.
    pub hit_rate: f64,
    /// `Runs`: records a host write's lookup of its block read (delta records of the live
    /// runs that touch its page, newest first until one holds the block, then the page if
    /// none did; nothing if the buffer holds it): the read cost the map on flash adds to
    /// every read and write.
    pub reads_per_lookup: f64,
}

/// The page cache: `(page, dirty, last use)`, least recently used out first.
struct Cache {
    pages: Vec<(u32, bool, u64)>,
    capacity: usize,
    tick: u64,
    hits: u64,
    lookups: u64,
}

impl Cache {
    /// Dirty `page`, loading it if needed; returns the dirty page evicted to make room.
    fn dirty(&mut self, page: u32) -> Option<u32> {
        self.tick += 1;
        self.lookups += 1;
        if let Some(e) = self.pages.iter_mut().find(|e| e.0 == page) {
            (e.1, e.2) = (true, self.tick);
            self.hits += 1;
            return None;
        }
        let mut evicted = None;
        if self.pages.len() == self.capacity {
            let (i, _) = self.pages.iter().enumerate().min_by_key(|(_, e)| e.2)?;
            let (old, was_dirty, _) = self.pages.swap_remove(i);
            evicted = was_dirty.then_some(old);
        }
        self.pages.push((page, true, self.tick));
        evicted
    }

    /// Every dirty page, now marked clean (a checkpoint writes them).
    fn take_dirty(&mut self) -> Vec<u32> {
        let dirty = self.pages.iter().filter(|e| e.1).map(|e| e.0).collect();
        self.pages.iter_mut().for_each(|e| e.1 = false);
        dirty
    }
}

/// The model's log and map together.
struct Run<'m> {
    m: &'m MapModel,
    state: State,
    cache: Cache,
    map_writes: u64,
    /// `Runs`: changes buffered, runs written since the last merge began, and the place of
    /// the next run in the ring of `2 * runs` runs' delta ids.
    buffered: u32,
    runs: u32,
    next_run: u32,
    /// `Runs`: pages with a change since the last merge began (a merge rewrites only those).
    touched: Vec<bool>,
    /// `Runs`: the merge under way: the pages it has still to rewrite, and the ring places
    /// of the runs it applies (garbage once it is done; empty: no merge under way).
    merging: VecDeque<u32>,
    merged_runs: Vec<u32>,
    /// `Runs`: the blocks the buffer holds, and each live run's ring place, blocks and
    /// pages, newest first (what a lookup reads through).
    buffer_lbas: HashSet<u32>,
    live_runs: VecDeque<(u32, HashSet<u32>, HashSet<u32>)>,
    /// `Runs`: records host lookups read.
    lookup_reads: u64,
}

impl Run<'_> {
    fn live(&self) -> u32 {
        self.m.layout.live
    }

    fn page_of(&self, lba: u32) -> u32 {
        lba / self.m.entries_per_page
    }

    /// Append one record (any kind) through the layout; then the map changes it caused.
    fn append(&mut self, id: u32, work: &mut VecDeque<u32>) {
        let reserve = match self.m.policy {
            MapPolicy::Runs(p) => p.map_reserve_units as usize,
            _ => 0,
        };
        self.state
            .host_write(self.m.layout.headroom + reserve, Stream::Host, id);
        for lba in self.state.moved.drain(..) {
            // A moved data block changes its page; a moved page or root only the directory.
            if lba < self.m.layout.live {
                work.push_back(lba);
            }
        }
    }

    fn pages(&self) -> u32 {
        self.m.blocks.div_ceil(self.m.entries_per_page)
    }

    /// A map record (page, root or delta) of id `id`.
    fn append_map(&mut self, id: u32, work: &mut VecDeque<u32>) {
        self.map_writes += 1;
        self.append(self.live() + id, work);
    }

    /// Apply every map change in `work` (blocks, in order), and those the map writes they
    /// cause make in turn (GC copies data while they are appended).
    fn settle(&mut self, work: &mut VecDeque<u32>) {
        while let Some(lba) = work.pop_front() {
            let page = self.page_of(lba);
            match self.m.policy {
                MapPolicy::Ram => {}
                MapPolicy::Cache { .. } => {
                    if let Some(evicted) = self.cache.dirty(page) {
                        self.append_map(evicted, work);
                    }
                }
                MapPolicy::Runs(p) => {
                    self.touched[page as usize] = true;
                    self.buffer_lbas.insert(lba);
                    self.buffered += 1;
                    if self.buffered >= p.buffer.saturating_sub(p.reserve_changes).max(1) {
                        self.buffered = 0;
                        self.write_run(&p, work);
                    }
                }
            }
        }
    }

    /// `Runs`: the first id of the incremental root's records.
    fn incremental_root_id(&self) -> u32 {
        self.pages() + self.m.root_records
    }

    /// `Runs`: the delta ids of the run at ring place `place`.
    fn run_ids(&self, p: &Runs, place: u32) -> core::ops::Range<u32> {
        let first = self.incremental_root_id() + p.incremental_root + place * p.records();
        first..first + p.records()
    }

    /// `Runs`: write the buffer as a run; start a merge every `runs` runs, go on with the one
    /// under way, then write the root: the full one if a merge finished, else the
    /// incremental one.
    fn write_run(&mut self, p: &Runs, work: &mut VecDeque<u32>) {
        let place = self.next_run;
        let lbas = core::mem::take(&mut self.buffer_lbas);
        let pages = lbas.iter().map(|&l| self.page_of(l)).collect();
        self.live_runs.push_front((place, lbas, pages));
        for id in self.run_ids(p, place) {
            self.append_map(id, work);
        }
        self.next_run = (place + 1) % (2 * p.runs);
        self.runs += 1;
        if self.runs == p.runs {
            if !self.merged_runs.is_empty() {
                // Its slices did not keep up: finish it, or its runs' ring places would be
                // reused while live.
                self.merge_pages(p, u32::MAX, work);
            }
            for page in 0..self.pages() {
                if core::mem::take(&mut self.touched[page as usize]) {
                    self.merging.push_back(page);
                }
            }
            // The last `runs` runs written, this one included.
            let ring = 2 * p.runs;
            self.merged_runs = (0..p.runs).map(|k| (place + ring - k) % ring).collect();
            self.runs = 0;
        }
        if !self.merged_runs.is_empty() {
            let slice = match p.merge_slice {
                0 => u32::MAX,
                n => n,
            };
            if self.merge_pages(p, slice, work) {
                return;
            }
        }
        for r in 0..p.incremental_root {
            self.append_map(self.incremental_root_id() + r, work);
        }
    }

    /// `Runs`: rewrite up to `n` pages of the merge under way; once it has rewritten them
    /// all, its runs and the incremental root become garbage and the full root is written
    /// (true).
    fn merge_pages(&mut self, p: &Runs, n: u32, work: &mut VecDeque<u32>) -> bool {
        for _ in 0..n {
            let Some(page) = self.merging.pop_front() else {
                break;
            };
            self.append_map(page, work);
        }
        if !self.merging.is_empty() {
            return false;
        }
        let merged = &self.merged_runs;
        self.live_runs
            .retain(|(place, _, _)| !merged.contains(place));
        for place in core::mem::take(&mut self.merged_runs) {
            for id in self.run_ids(p, place) {
                self.state.trim(self.live() + id);
            }
        }
        for r in 0..p.incremental_root {
            self.state
                .trim(self.live() + self.incremental_root_id() + r);
        }
        self.write_roots(work);
        true
    }

    fn write_roots(&mut self, work: &mut VecDeque<u32>) {
        for r in 0..self.m.root_records {
            self.append_map(self.pages() + r, work);
        }
    }

    /// `Runs`: records a lookup of `lba` reads (see `MapRun::reads_per_lookup`).
    fn lookup_cost(&self, lba: u32) -> u64 {
        if self.buffer_lbas.contains(&lba) {
            return 0;
        }
        let page = self.page_of(lba);
        let mut reads = 0;
        for (_, lbas, pages) in &self.live_runs {
            if pages.contains(&page) {
                reads += 1;
                if lbas.contains(&lba) {
                    return reads;
                }
            }
        }
        reads + 1
    }

    fn host_write(&mut self, lba: u32) {
        if matches!(self.m.policy, MapPolicy::Runs(_)) {
            self.lookup_reads += self.lookup_cost(lba);
        }
        let mut work = VecDeque::new();
        work.push_back(lba);
        self.append(lba, &mut work);
        self.settle(&mut work);
    }

    /// `Cache`: write every dirty page, then the roots.
    fn checkpoint(&mut self) {
        let mut work = VecDeque::new();
        for page in self.cache.take_dirty() {
            self.append_map(page, &mut work);
        }
        self.write_roots(&mut work);
        self.settle(&mut work);
    }
}

impl MapModel {
    /// Run `measured` host writes after filling every block once and a warm-up of two writes
    /// per slot; `pick(rng, i)` chooses the lba of write `i`.
    pub fn run(
        &self,
        measured: u64,
        seed: u64,
        pick: impl Fn(&mut SplitMix64, u64) -> u32,
    ) -> MapRun {
        let (mut run, checkpoint_every) = self.start();
        let l = &self.layout;
        let mut rng = SplitMix64::new(seed ^ 0x3A9);
        let warm = 2 * (l.units * l.slots) as u64;
        let mut before = (0, 0, 0, 0, 0);
        for i in 0..warm + measured {
            if i == warm {
                let c = &run.cache;
                before = (
                    run.state.copies,
                    run.map_writes,
                    c.hits,
                    c.lookups,
                    run.lookup_reads,
                );
            }
            run.host_write(pick(&mut rng, i));
            if (i + 1) % checkpoint_every == 0 {
                run.checkpoint();
            }
        }
        let copies = run.state.copies - before.0;
        let map_writes = run.map_writes - before.1;
        let n = measured.max(1) as f64;
        MapRun {
            wa: (measured + copies + map_writes) as f64 / n,
            map_writes: map_writes as f64 / n,
            hit_rate: (run.cache.hits - before.2) as f64
                / (run.cache.lookups - before.3).max(1) as f64,
            reads_per_lookup: (run.lookup_reads - before.4) as f64 / n,
        }
    }

    /// The log with every block, and with the map on flash every page and the root, written
    /// once; and the host writes between checkpoints.
    fn start(&self) -> (Run<'_>, u64) {
        let pages = self.blocks.div_ceil(self.entries_per_page);
        let (on_flash, cache_pages, checkpoint_every, runs_ids) = match self.policy {
            MapPolicy::Ram => (false, 0, u64::MAX, 0),
            MapPolicy::Cache {
                pages,
                checkpoint_every,
            } => (true, pages, checkpoint_every, 0),
            MapPolicy::Runs(p) => {
                assert!(p.runs >= 1, "a merge needs at least one run: {p:?}");
                // The incremental root, and a ring of delta ids for the most runs ever live.
                (
                    true,
                    0,
                    u64::MAX,
                    p.incremental_root + 2 * p.runs * p.records(),
                )
            }
        };
        let extra = if on_flash {
            pages + self.root_records
        } else {
            0
        };
        let l = &self.layout;
        let mut state = State::new(l.units, l.slots, l.live + extra + runs_ids);
        (state.streams, state.track_moves) = (l.streams, on_flash);
        let cache = Cache {
            pages: Vec::with_capacity(cache_pages),
            capacity: cache_pages,
            tick: 0,
            hits: 0,
            lookups: 0,
        };
        let mut run = Run {
            m: self,
            state,
            cache,
            map_writes: 0,
            buffered: 0,
            runs: 0,
            next_run: 0,
            touched: vec![false; pages as usize],
            merging: VecDeque::new(),
            merged_runs: Vec::new(),
            buffer_lbas: HashSet::new(),
            live_runs: VecDeque::new(),
            lookup_reads: 0,
        };
        for id in 0..l.live + extra {
            run.append(id, &mut VecDeque::new());
        }
        (run, checkpoint_every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(policy: MapPolicy) -> MapModel {
        MapModel {
            layout: LayoutModel {
                units: 32,
                slots: 32,
                headroom: 2,
                streams: 3,
                live: 700,
            },
            blocks: 800,
            entries_per_page: 50,
            policy,
            root_records: 2,
        }
    }

    /// 4 records per run of 100 changes, a merge every 4 runs.
    fn runs(incremental_root: u32, merge_slice: u32) -> Runs {
        Runs {
            buffer: 100,
            per_record: 25,
            runs: 4,
            incremental_root,
            merge_slice,
            reserve_changes: 0,
            map_reserve_units: 0,
        }
    }

    #[test]
    fn lookups_read_the_runs_that_touch_a_page_then_the_page() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let sequential = |_: &mut SplitMix64, i: u64| (i % 700) as u32;
        let policy = MapPolicy::Runs(runs(0, 0));
        let scattered = model(policy).run(20_000, 3, uniform);
        let local = model(policy).run(20_000, 3, sequential);
        // Uniform runs of 100 changes touch all 14 pages: a lookup reads the live runs (at
        // most 3 between merges of 4) until one holds the block, then the page.
        assert!(
            (1.5..=4.0).contains(&scattered.reads_per_lookup),
            "{scattered:?}"
        );
        // Sequential runs each touch 2-3 pages: most lookups read the page alone.
        assert!(local.reads_per_lookup < 1.5, "{local:?}");
        let ram = model(MapPolicy::Ram).run(2_000, 3, uniform);
        assert_eq!(ram.reads_per_lookup, 0.0);
    }

    #[test]
    fn writing_runs_early_and_holding_a_reserve_cost_write_amplification() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let plain = runs(2, 0);
        let early = Runs {
            reserve_changes: 50,
            ..plain
        };
        let held = Runs {
            map_reserve_units: 1,
            ..plain
        };
        let [plain, early, held] =
            [plain, early, held].map(|r| model(MapPolicy::Runs(r)).run(20_000, 3, uniform));
        // Runs of 50 changes instead of 100: about twice the delta and root records.
        assert!(
            early.map_writes > 1.5 * plain.map_writes,
            "{early:?} {plain:?}"
        );
        // One unit of 32 fewer for GC: more copies, the same map records per change.
        assert!(held.wa > plain.wa, "{held:?} {plain:?}");
    }

    fn cache(pages: usize) -> MapPolicy {
        MapPolicy::Cache {
            pages,
            checkpoint_every: 500,
        }
    }

    #[test]
    fn runs_write_a_delta_record_per_many_changes_and_every_page_per_merge() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let ram = model(MapPolicy::Ram).run(20_000, 3, uniform);
        let flash = model(MapPolicy::Runs(runs(0, 0))).run(20_000, 3, uniform);
        let small_cache = model(cache(2)).run(20_000, 3, uniform);
        // Per 400 changes (one per host write, more with GC copies): 16 delta records,
        // the 14 pages (uniform writes touch them all) and 2 roots: at least 32 / 400 map
        // writes per host write.
        assert!(flash.map_writes > 0.08, "{flash:?}");
        assert!(
            ram.wa < flash.wa && flash.wa < small_cache.wa,
            "{ram:?} {flash:?} {small_cache:?}"
        );
    }

    #[test]
    fn random_writes_pay_for_pages_and_a_bigger_cache_pays_less() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let ram = model(MapPolicy::Ram).run(20_000, 3, uniform);
        let small = model(cache(2)).run(20_000, 3, uniform);
        let big = model(cache(12)).run(20_000, 3, uniform);
        assert_eq!(ram.map_writes, 0.0);
        // 14 pages: a 2-page cache misses most lookups, and nearly every miss evicts a
        // dirty page; a 12-page cache hits most of them.
        assert!(
            small.hit_rate < 0.3 && big.hit_rate > 0.7,
            "{small:?} {big:?}"
        );
        assert!(small.map_writes > 0.5, "{small:?}");
        assert!(
            ram.wa < big.wa && big.wa < small.wa,
            "{ram:?} {big:?} {small:?}"
        );
    }

    #[test]
    fn sequential_writes_fill_a_page_before_it_is_written() {
        let sequential = |_: &mut SplitMix64, i: u64| (i % 700) as u32;
        let flash = model(cache(2)).run(20_000, 3, sequential);
        // One page write per 50 host writes, plus GC's map changes and the checkpoints.
        assert!(flash.map_writes < 0.1, "{flash:?}");
        assert!(flash.hit_rate > 0.9, "{flash:?}");
    }

    /// Map writes after `n` runs of `policy` in a log with room to spare (no GC: every map
    /// change is a host write, so the counts are exact), and the most one host write caused.
    /// The host rewrites its 100 blocks in order: 10 pages of 10 entries, all touched by
    /// every run.
    fn counted(policy: Runs, n: u32) -> (u64, u64) {
        let m = MapModel {
            layout: LayoutModel {
                units: 64,
                slots: 32,
                headroom: 2,
                streams: 3,
                live: 100,
            },
            blocks: 800,
            entries_per_page: 10,
            policy: MapPolicy::Runs(policy),
            root_records: 2,
        };
        let (mut run, _) = m.start();
        let mut most = 0;
        for i in 0..n * policy.buffer {
            let before = run.map_writes;
            run.host_write(i % m.layout.live);
            most = most.max(run.map_writes - before);
        }
        assert_eq!(run.state.copies, 0, "GC ran: the counts assume it did not");
        (run.map_writes, most)
    }

    #[test]
    fn an_incremental_root_follows_every_run_that_does_not_finish_a_merge() {
        let p = runs(0, 0);
        let (without, _) = counted(p, 8);
        // 8 runs of 4 records; 2 merges of the 10 pages and the 2-record full root.
        let merges = 2 * (10 + 2);
        assert_eq!(without, u64::from(8 * p.records()) + merges);
        // Runs 4 and 8 finish a merge, whose full root stands for the incremental one.
        let (with, _) = counted(runs(2, 0), 8);
        assert_eq!(with, without + 2 * 6);
    }

    #[test]
    fn a_sliced_merge_rewrites_the_same_pages_a_slice_per_run() {
        // 10 pages in slices of 3: the merge due at run 4 ends at run 7, the one at run 8
        // at run 11.
        let (at_once, at_once_most) = counted(runs(2, 0), 11);
        let (sliced, sliced_most) = counted(runs(2, 3), 11);
        // Each wrote 11 runs, 20 pages, 2 full roots and 9 incremental ones.
        assert_eq!(at_once, 11 * 4 + 2 * (10 + 2) + 9 * 2);
        assert_eq!(sliced, at_once);
        // The burst: a run, then all 10 pages and the full root, or at most 3 pages and a
        // root.
        assert_eq!(at_once_most, 4 + 10 + 2);
        assert_eq!(sliced_most, 4 + 3 + 2);
        // At run 8 the second merge has written all its pages and the full root at once,
        // after 6 incremental roots; the sliced one 3 pages, after 7 incremental roots.
        let (at_once, _) = counted(runs(2, 0), 8);
        let (sliced, _) = counted(runs(2, 3), 8);
        assert_eq!(at_once - sliced, (10 + 2 + 6 * 2) - (3 + 7 * 2));
    }

    #[test]
    fn a_merge_whose_slices_lag_is_finished_when_the_next_is_due() {
        // Slices of one page cannot rewrite 10 pages in 4 runs: at run 8 the first merge
        // writes its last 6 pages and the full root, the second its first page.
        let (lagging, most) = counted(runs(2, 1), 8);
        let incremental_roots = 8 * 2;
        assert_eq!(lagging, 8 * 4 + (10 + 2) + 1 + incremental_roots);
        assert_eq!(most, 4 + 6 + 2 + 1 + 2);
    }

    #[test]
    fn with_gc_incremental_roots_cost_records_per_run_and_slices_cost_little() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let base = model(MapPolicy::Runs(runs(0, 0))).run(20_000, 3, uniform);
        let rooted = model(MapPolicy::Runs(runs(2, 0))).run(20_000, 3, uniform);
        let sliced = model(MapPolicy::Runs(runs(2, 5))).run(20_000, 3, uniform);
        // Map writes per map change: a host write or a copy (copies of map records, which
        // change no page, count too: the same few per cent in both runs).
        let per_change = |r: &MapRun| r.map_writes / (r.wa - r.map_writes);
        // 2 records after 3 of every 4 runs of 100 changes.
        let expected = 2.0 * 3.0 / 4.0 / 100.0;
        let added = per_change(&rooted) - per_change(&base);
        assert!(
            (added / expected - 1.0).abs() < 0.1,
            "{added} vs {expected}: {base:?} {rooted:?}"
        );
        // Slices keep runs live longer (more slots to copy) but write the same records.
        let ratio = sliced.wa / rooted.wa;
        assert!((1.0..1.05).contains(&ratio), "{rooted:?} {sliced:?}");
    }
}
