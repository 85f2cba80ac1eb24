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
//! - root records (the next `R` ids), rewritten at every checkpoint;
//! - with [`MapPolicy::Runs`], delta records (the ids after those).
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
//!   become garbage and the roots are written. A lookup reads at most one record per run.
//!
//! WA counts every slot written (data, copies, pages, deltas, roots) per host write; with
//! [`MapPolicy::Ram`] the map is in RAM (today's mode) on the same writes: the reference.

use std::collections::VecDeque;

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
    /// A buffer of `buffer` changes, written as a sorted run of delta records holding
    /// `per_record` changes each; every page rewritten after `runs` runs.
    Runs {
        buffer: u32,
        per_record: u32,
        runs: u32,
    },
}

/// One run's result.
#[derive(Debug, Clone, Copy)]
pub struct MapRun {
    /// (host writes + copies + pages + roots) / host writes, over the measured writes.
    pub wa: f64,
    /// Map-page and root records written per host write.
    pub map_writes: f64,
    /// Map lookups that found their page in the cache.
    pub hit_rate: f64,
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
    /// `Runs`: changes buffered, runs written since the last merge, delta records written.
    buffered: u32,
    runs: u32,
    deltas: u32,
    /// `Runs`: pages with a change since the last merge (the merge rewrites only those).
    touched: Vec<bool>,
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
        self.state
            .host_write(self.m.layout.headroom, Stream::Host, id);
        for lba in self.state.moved.drain(..) {
            // A moved data block changes its page; a moved page or root only the directory.
            if lba < self.m.layout.live {
                work.push_back(lba / self.m.entries_per_page);
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

    /// Apply every map change in `work` (pages, in order), and those the map writes they
    /// cause make in turn (GC copies data while they are appended).
    fn settle(&mut self, work: &mut VecDeque<u32>) {
        while let Some(page) = work.pop_front() {
            match self.m.policy {
                MapPolicy::Ram => {}
                MapPolicy::Cache { .. } => {
                    if let Some(evicted) = self.cache.dirty(page) {
                        self.append_map(evicted, work);
                    }
                }
                MapPolicy::Runs {
                    buffer,
                    per_record,
                    runs,
                } => {
                    self.touched[page as usize] = true;
                    self.buffered += 1;
                    if self.buffered == buffer {
                        self.buffered = 0;
                        self.write_run(buffer.div_ceil(per_record), runs, work);
                    }
                }
            }
        }
    }

    /// `Runs`: write the buffer as `records` delta records; merge after `runs` runs.
    fn write_run(&mut self, records: u32, runs: u32, work: &mut VecDeque<u32>) {
        let base = self.pages() + self.m.root_records;
        for _ in 0..records {
            self.append_map(base + self.deltas, work);
            self.deltas += 1;
        }
        self.runs += 1;
        if self.runs < runs {
            return;
        }
        for page in 0..self.pages() {
            if core::mem::take(&mut self.touched[page as usize]) {
                self.append_map(page, work);
            }
        }
        for d in 0..self.deltas {
            self.state.trim(self.live() + base + d);
        }
        (self.runs, self.deltas) = (0, 0);
        self.write_roots(work);
    }

    fn write_roots(&mut self, work: &mut VecDeque<u32>) {
        for r in 0..self.m.root_records {
            self.append_map(self.pages() + r, work);
        }
    }

    fn host_write(&mut self, lba: u32) {
        let mut work = VecDeque::new();
        work.push_back(self.page_of(lba));
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
        let pages = self.blocks.div_ceil(self.entries_per_page);
        let (on_flash, cache_pages, checkpoint_every, delta_ids) = match self.policy {
            MapPolicy::Ram => (false, 0, u64::MAX, 0),
            MapPolicy::Cache {
                pages,
                checkpoint_every,
            } => (true, pages, checkpoint_every, 0),
            MapPolicy::Runs {
                buffer,
                per_record,
                runs,
            } => (true, 0, u64::MAX, buffer.div_ceil(per_record) * runs),
        };
        let extra = if on_flash {
            pages + self.root_records
        } else {
            0
        };
        let l = &self.layout;
        let mut state = State::new(l.units, l.slots, l.live + extra + delta_ids);
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
            deltas: 0,
            touched: vec![false; pages as usize],
        };
        for id in 0..l.live + extra {
            run.append(id, &mut VecDeque::new());
        }
        let mut rng = SplitMix64::new(seed ^ 0x3A9);
        let warm = 2 * (l.units * l.slots) as u64;
        let mut before = (0, 0, 0, 0);
        for i in 0..warm + measured {
            if i == warm {
                let c = &run.cache;
                before = (run.state.copies, run.map_writes, c.hits, c.lookups);
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
        }
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

    fn cache(pages: usize) -> MapPolicy {
        MapPolicy::Cache {
            pages,
            checkpoint_every: 500,
        }
    }

    #[test]
    fn runs_write_a_delta_record_per_many_changes_and_every_page_per_merge() {
        let uniform = |rng: &mut SplitMix64, _| rng.below(700) as u32;
        let runs = MapPolicy::Runs {
            buffer: 100,
            per_record: 25,
            runs: 4,
        };
        let ram = model(MapPolicy::Ram).run(20_000, 3, uniform);
        let flash = model(runs).run(20_000, 3, uniform);
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
}
