//! The flash map against a plain array: a toy engine stores records in a vector (one slot
//! per record, versions increasing), writes runs when the buffer fills, merges in slices,
//! and lets "GC" move live records and wipe dead ones, so a lookup that reached a stale
//! record would fail. Every lookup is checked against the array. Then the misuses and
//! crafted inputs the map must refuse.

extern crate std;
use std::vec::Vec;

use super::record::{BadRecord, MapShape, UNMAPPED};
use super::{FlashMap, Refused, Source, CHECKPOINT_HEAD, NO_LOC};

const BLOCKS: u32 = 1000;
const SLOTS: u32 = 1 << 20;
// 1000 blocks of 512 B: 8 pages of 125 entries; 64 buffered changes make 2 parts of 62.
type Map = FlashMap<8, 64, 4, 8>;

struct Toy<const P: usize = 8, const C: usize = 64, const R: usize = 4, const Q: usize = 8> {
    map: FlashMap<P, C, R, Q>,
    /// Each slot's bytes and version; a wiped slot is erased (version 0).
    slots: Vec<(Vec<u8>, u64)>,
    truth: Vec<u32>,
    version: u64,
    rng: u64,
    reads: u64,
    pages_written: u32,
}

impl<const P: usize, const C: usize, const R: usize, const Q: usize> Toy<P, C, R, Q> {
    fn new(seed: u64, blocks: u32) -> Self {
        let shape = MapShape::new(512, blocks, SLOTS).unwrap();
        Toy {
            map: FlashMap::new(shape).unwrap(),
            slots: Vec::new(),
            truth: std::vec![UNMAPPED; blocks as usize],
            version: 0,
            rng: seed | 1,
            reads: 0,
            pages_written: 0,
        }
    }

    fn rand(&mut self, n: u64) -> u64 {
        // xorshift64*: deterministic, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn program(&mut self, rec: Vec<u8>) -> u32 {
        self.version += 1;
        self.slots.push((rec, self.version));
        self.slots.len() as u32 - 1
    }

    fn wipe(&mut self, loc: u32) {
        self.slots[loc as usize] = (std::vec![0xFF; 512], 0);
    }

    fn lookup(&mut self, lba: u32) -> u32 {
        if let Some(e) = self.map.in_buffer(lba) {
            return e;
        }
        let none = (Vec::new(), 0);
        for src in self.map.sources(lba) {
            let (rec, version) = match src {
                Source::Part { loc, .. } | Source::Page { loc, .. } => &self.slots[loc as usize],
                Source::Unmapped => &none,
            };
            self.reads += 1;
            if let Some(e) = self.map.search(src, rec, *version, lba).unwrap() {
                return e;
            }
        }
        unreachable!("the page or Unmapped always answers")
    }

    fn set(&mut self, lba: u32, e: u32) {
        if self.map.buffered().1 == 0 {
            self.write_run();
        }
        self.version += 1;
        self.map.set(lba, e, self.version).unwrap();
        self.truth[lba as usize] = e;
    }

    fn write_run(&mut self) {
        while !self.map.run_fits() {
            if self.map.merging().is_none() {
                let k = self.map.runs().len();
                self.map.merge_start(k).unwrap();
            }
            self.merge_slice(u32::MAX);
        }
        let mut locs = Vec::new();
        for part in 0..self.map.run_freeze().unwrap() {
            let mut rec = std::vec![0u8; 512];
            self.map.encode_part(part, &mut rec).unwrap();
            locs.push(self.program(rec));
        }
        self.map.run_written(&locs).unwrap();
    }

    /// Look at up to `n` pages of the merge in progress, rewriting those a merged change
    /// falls in; finish the merge when none is left.
    fn merge_slice(&mut self, n: u32) {
        for _ in 0..n {
            if self.map.merging().is_none() {
                return;
            }
            let Some(page) = self.map.merge_next() else {
                let mut dead = Vec::new();
                self.map.merge_finish(|loc| dead.push(loc)).unwrap();
                dead.into_iter().for_each(|loc| self.wipe(loc));
                return;
            };
            let mut out = std::vec![0u8; 512];
            let old = self.map.page_loc(page);
            let old_rec = old.map(|l| self.slots[l as usize].clone());
            let old_ref = old_rec.as_ref().map(|(r, v)| (r.as_slice(), *v));
            self.map.page_begin(page, old_ref, &mut out).unwrap();
            let sources: Vec<Source> = self.map.merge_sources(page).collect();
            assert!(!sources.is_empty());
            let mut changed = false;
            for src in sources {
                let Source::Part { loc, .. } = src else {
                    unreachable!()
                };
                let (rec, v) = self.slots[loc as usize].clone();
                changed |= self.map.page_apply(page, src, &rec, v, &mut out).unwrap().1;
            }
            if !changed {
                self.map.page_skip(page).unwrap();
                continue;
            }
            let loc = self.program(out);
            let replaced = self.map.page_written(page, loc).unwrap();
            self.pages_written += 1;
            if replaced != NO_LOC {
                self.wipe(replaced);
            }
        }
    }

    /// GC moves a random live map record (same bytes, a new slot) and wipes the old one.
    fn gc_move(&mut self) {
        let loc = self.rand(self.slots.len() as u64) as u32;
        let (rec, _) = self.slots[loc as usize].clone();
        let pages = self.map.shape().pages();
        if let Some(page) = (0..pages).find(|&p| self.map.page_live(p, loc)) {
            let to = self.program(rec);
            self.map.page_moved(page, loc, to);
            self.wipe(loc);
            return;
        }
        let runs: Vec<_> = self.map.runs().to_vec();
        for run in runs {
            if let Some(part) = self.map.part_of(run.number, loc) {
                let to = self.program(rec.clone());
                self.map.part_moved(run.number, part, loc, to);
                self.wipe(loc);
                return;
            }
        }
    }

    fn check_all(&mut self) {
        for lba in 0..self.truth.len() as u32 {
            assert_eq!(self.lookup(lba), self.truth[lba as usize], "lba {lba}");
        }
    }

    fn checkpoint(&self) -> Vec<u32> {
        (0..self.map.checkpoint_words())
            .map(|i| self.map.checkpoint_word(i))
            .collect()
    }
}

fn workload(seed: u64, hot: u32, ops: u32) -> Toy {
    let mut t = Toy::new(seed, BLOCKS);
    run(&mut t, hot, ops, 97);
    t
}

/// `ops` random changes (nine in ten to the first `hot` blocks), random merge starts and
/// slices and GC moves; every lookup checked every `check_every` changes and at the end.
fn run<const P: usize, const C: usize, const R: usize, const Q: usize>(
    t: &mut Toy<P, C, R, Q>,
    hot: u32,
    ops: u32,
    check_every: u32,
) {
    let blocks = t.truth.len() as u64;
    for i in 0..ops {
        let lba = match t.rand(10) {
            0 => t.rand(blocks) as u32,
            _ => t.rand(u64::from(hot)) as u32,
        };
        let e = match t.rand(20) {
            0 => UNMAPPED,
            1 => (i % SLOTS) | 1 << 31,
            _ => i % SLOTS,
        };
        t.set(lba, e);
        match t.rand(8) {
            0 if t.map.merging().is_none() && t.map.runs().len() >= 2 => {
                let k = 1 + t.rand(t.map.runs().len() as u64) as usize;
                t.map.merge_start(k).unwrap();
            }
            1 if t.map.merging().is_some() => {
                let n = 1 + t.rand(3) as u32;
                t.merge_slice(n);
            }
            2 if !t.slots.is_empty() => t.gc_move(),
            _ => {}
        }
        if i % check_every == 0 {
            t.check_all();
        }
    }
    t.check_all();
}

/// Load `words` into a fresh map of the toy's shape.
fn load(words: &[u32]) -> Result<Map, BadRecord> {
    let mut m = Map::new(MapShape::new(512, BLOCKS, SLOTS).unwrap()).unwrap();
    m.load_start();
    for (i, &w) in words.iter().enumerate() {
        m.load_word(i, w)?;
    }
    m.load_finish(words.len())?;
    Ok(m)
}

#[test]
fn lookups_match_the_array_through_runs_merges_and_moves() {
    for seed in 0..12 {
        let hot = [BLOCKS, 200, 30][seed as usize % 3];
        let t = workload(seed, hot, 3000);
        // Pages, runs and merges all happened.
        assert!((0..8).filter(|&p| t.map.page_loc(p).is_some()).count() >= 2);
        let runs = t.map.next_run();
        assert!(runs >= 5, "seed {seed}: {runs} runs");
    }
}

#[test]
fn run_numbers_wrap_around() {
    let mut t = Toy::<8, 64, 4, 8>::new(3, BLOCKS);
    t.map.next_run = u32::MAX - 2;
    run(&mut t, 300, 3000, 211);
    assert!(t.map.next_run() < 100, "{}", t.map.next_run());
    let reloaded = load(&t.checkpoint()).unwrap();
    assert_eq!(reloaded.runs(), t.map.runs());
}

#[test]
fn a_lookup_reads_at_most_one_record_per_run_plus_the_page() {
    let mut t = workload(99, BLOCKS, 2000);
    for lba in 0..BLOCKS {
        t.reads = 0;
        t.lookup(lba);
        let most = t.map.runs().len() as u64 + 1;
        assert!(t.reads <= most, "lba {lba}: {} reads", t.reads);
    }
}

#[test]
fn a_merge_rewrites_only_the_pages_its_changes_fall_in() {
    // A sparse run: three changes at the two ends and the middle of the map. Its single
    // record's range spans every page; only three pages get a new record.
    let mut t = Toy::<8, 64, 4, 8>::new(1, BLOCKS);
    for lba in [0, 500, 999] {
        t.set(lba, lba);
    }
    t.write_run();
    t.map.merge_start(1).unwrap();
    t.merge_slice(u32::MAX);
    assert_eq!(t.map.merging(), None);
    assert_eq!(t.pages_written, 3);
    t.check_all();
}

#[test]
fn misuse_is_refused_and_changes_nothing() {
    let mut t = workload(8, 200, 700);
    t.set(1, 1);
    let parts = t.map.run_freeze().unwrap();
    // Frozen: no change, no other record count, no early finish.
    assert_eq!(t.map.set(2, 2, 1), Err(Refused::RunFrozen));
    assert_eq!(t.map.run_written(&[]), Err(Refused::Mismatch));
    assert_eq!(
        t.map.encode_part(parts, &mut [0u8; 512]),
        Err(Refused::Mismatch)
    );
    t.map.run_thaw();
    assert_eq!(t.map.set(BLOCKS, 2, 1), Err(Refused::Mismatch));
    assert_eq!(t.map.set(2, SLOTS, 1), Err(Refused::Mismatch));
    t.check_all();
    // Merge steps out of order.
    let runs = t.map.runs().len();
    assert_eq!(t.map.merge_start(0), Err(Refused::Mismatch));
    assert_eq!(t.map.merge_start(runs + 1), Err(Refused::Mismatch));
    if t.map.merging().is_none() {
        t.map.merge_start(runs).unwrap();
    }
    let next = t.map.merge_next().unwrap();
    assert_eq!(t.map.merge_finish(|_| {}), Err(Refused::Mismatch));
    assert_eq!(t.map.page_written(next + 1, 0), Err(Refused::Mismatch));
    assert_eq!(t.map.page_skip(u32::MAX), Err(Refused::Mismatch));
    assert_eq!(t.map.merge_next(), Some(next));
    t.check_all();
    t.merge_slice(u32::MAX);
    assert_eq!(t.map.merging(), None);
    t.check_all();
}

#[test]
fn a_stale_or_foreign_record_is_refused_not_trusted() {
    let t = workload(5, BLOCKS, 600);
    // Point a page at a slot holding some other record: the page number check refuses it.
    let page = (0..8).find(|&p| t.map.page_loc(p).is_some()).unwrap();
    let other = (0..8)
        .find(|&p| p != page && t.map.page_loc(p).is_some())
        .unwrap();
    let (rec, v) = t.slots[t.map.page_loc(other).unwrap() as usize].clone();
    let src = Source::Page { page, loc: 0 };
    assert!(t.map.search(src, &rec, v, page * 125).is_err());
    let run = *t.map.runs().first().expect("a run");
    let loc = t.map.part_loc(run.number, 0).unwrap();
    let (rec, v) = t.slots[loc as usize].clone();
    let src = Source::Part {
        run: run.number,
        part: 0,
        loc,
    };
    let first = u32::from_le_bytes(rec[16..20].try_into().unwrap());
    assert!(t.map.search(src, &rec, v, first).unwrap().is_some());
    // Read from a slot older than its covers: crafted.
    assert!(t.map.search(src, &rec, run.covers - 1, first).is_err());
    // Another covers than the index's, pairs out of order, a range the index does not
    // know: each refused, not searched.
    let mut bad = rec.clone();
    bad[0] ^= 1;
    assert!(t.map.search(src, &bad, u64::MAX, first).is_err());
    let mut bad = rec.clone();
    let (a, b) = (bad[16..24].to_vec(), bad[24..32].to_vec());
    bad[16..24].copy_from_slice(&b);
    bad[24..32].copy_from_slice(&a);
    assert!(t.map.search(src, &bad, v, first).is_err());
    let mut bad = rec.clone();
    bad[14..16].copy_from_slice(&1u16.to_le_bytes());
    assert!(t.map.search(src, &bad, v, first).is_err());
}

#[test]
fn the_shape_must_fit_the_capacities() {
    let shape = MapShape::new(512, 2000, SLOTS).unwrap();
    assert!(Map::new(shape).is_none(), "16 pages in a directory of 8");
    let shape = MapShape::new(256, 100, SLOTS).unwrap();
    // 64 changes of 30 per record: 3 parts, over Q = 2.
    assert!(FlashMap::<8, 64, 4, 2>::new(shape).is_none());
    assert!(FlashMap::<8, 64, 256, 8>::new(MapShape::new(512, 100, SLOTS).unwrap()).is_none());
}

#[test]
fn a_checkpoint_reloads_to_the_same_lookups_and_merge() {
    for seed in [1, 2, 3, 4, 5, 6] {
        let mut t = workload(seed, 200, 1500);
        if t.map.buffered().0 > 0 {
            t.write_run();
        }
        let words = t.checkpoint();
        let merging = t.map.merging();
        t.map = load(&words).unwrap();
        assert_eq!(t.map.checkpoint_words(), words.len());
        // A merge in progress goes on where it was; the workload after it stays exact.
        assert_eq!(t.map.merging(), merging);
        t.check_all();
        run(&mut t, 200, 1500, 250);
    }
}

#[test]
fn a_map_half_loaded_answers_nothing() {
    let mut t = workload(2, BLOCKS, 900);
    t.write_run();
    let words = t.checkpoint();
    t.map.load_start();
    for (i, &w) in words.iter().enumerate().take(words.len() / 2) {
        t.map.load_word(i, w).unwrap();
    }
    assert_eq!(t.map.sources(5).count(), 0);
    // A merge over runs whose parts have not come yet: nothing indexes past the vectors.
    t.map.merge = Some((words[2].max(1) as u8, 0));
    let _ = (t.map.merge_next(), t.map.merge_sources(0).count());
    let _ = (
        t.map.part_loc(words[CHECKPOINT_HEAD + 8], 15),
        t.map.merge_finish(|_| {}),
    );
    t.map.merge = None;
    assert_eq!(t.map.set(5, 5, 1), Err(Refused::Mismatch));
    assert_eq!(t.map.merge_start(1), Err(Refused::Mismatch));
    assert!(t.map.load_finish(words.len() / 2).is_err());
    assert_eq!(t.map.sources(5).count(), 0);
}

#[test]
fn crafted_checkpoint_words_are_refused() {
    let mut t = workload(4, BLOCKS, 1200);
    t.write_run();
    let words = t.checkpoint();
    assert!(load(&words).is_ok());
    let runs = words[2] as usize;
    let first_run = CHECKPOINT_HEAD + 8;
    let first_part = first_run + 4 * runs;
    let page0 = words[CHECKPOINT_HEAD..first_run]
        .iter()
        .copied()
        .find(|&l| l != NO_LOC);
    let mut cases: Vec<(usize, u32)> = std::vec![
        (0, 9),                   // another page count
        (2, 5),                   // more runs than R = 4
        (3, 9),                   // more parts than Q = 8
        (3, words[3] - 1),        // parts do not add up
        (4, runs as u32 + 1),     // a merge of more runs than there are
        (4, 256),                 // a merge count beyond a byte
        (5, 9),                   // a merge going on past the last page
        (CHECKPOINT_HEAD, SLOTS), // a page outside the volume
        (first_run + 3, 0),       // a run of no part
        (first_run + 3, 17),      // a run over the transaction limit
        (first_part, BLOCKS),     // a range outside the map
        (first_part + 2, SLOTS),  // a part outside the volume
    ];
    if words[first_part] > 0 {
        cases.push((first_part + 1, words[first_part] - 1)); // last below first
    }
    if runs >= 2 {
        cases.push((first_run + 4, words[first_run])); // run numbers must increase
    }
    if words[first_run + 3] >= 2 {
        // The run's second part overlaps its first.
        cases.push((first_part + 3, words[first_part + 1]));
    }
    if let Some(page) = page0 {
        cases.push((first_part + 2, page)); // a part where a page is
    }
    cases.push((1, words[first_run + 4 * (runs - 1)])); // next_run must be past the last
    for (i, w) in cases {
        let mut bad = words.clone();
        bad[i] = w;
        if bad == words {
            continue;
        }
        assert!(load(&bad).is_err(), "word {i} = {w:#x} accepted");
    }
    // Truncated or extended.
    assert!(load(&words[..words.len() - 1]).is_err());
    let mut longer = words.clone();
    longer.push(0);
    assert!(load(&longer).is_err());
}

#[test]
fn the_16_mib_shape_keeps_every_lookup_exact() {
    // 30 609 blocks (the W25Q128's export at 512 B), the capacities of the RAM formula.
    let mut t: Toy<245, 620, 18, 180> = Toy::new(7, 30_609);
    run(&mut t, 30_609, 60_000, 20_000);
    assert!(t.map.next_run() >= 90, "{} runs", t.map.next_run());
    let mut most = 0;
    for lba in (0..30_609).step_by(7) {
        t.reads = 0;
        t.lookup(lba);
        most = most.max(t.reads);
    }
    assert!(most <= 19, "{most} reads for one lookup");
}

#[test]
fn ram_follows_the_formula() {
    // The 16 MiB W25Q128 with 512-byte blocks: 245 pages, 620 buffered changes, 18 runs of
    // up to 10 records (docs/MAP-ON-FLASH.md, "What is built").
    let formula = 4 * 245 + 8 * 620 + 16 * 18 + 12 * 180;
    let size = core::mem::size_of::<FlashMap<245, 620, 18, 180>>();
    // Plus the vectors' lengths, the shape and a few counters: under 100 bytes.
    assert!(
        size >= formula && size <= formula + 100,
        "{size} vs {formula}"
    );
}

#[test]
fn a_checkpoint_through_root_records_reloads_to_the_same_lookups() {
    use super::record::{check_root, encode_root, root_head, root_word, RootHead};
    let mut t: Toy<245, 620, 18, 180> = Toy::new(11, 30_609);
    run(&mut t, 3_000, 20_000, 10_000);
    t.write_run();
    let s = *t.map.shape();
    let total = t.map.checkpoint_words();
    let parts = s.root_parts(total).expect("fits one transaction");
    let recs: Vec<Vec<u8>> = (0..parts)
        .map(|p| {
            let mut rec = std::vec![0u8; 512];
            let word = |i| t.map.checkpoint_word(i);
            encode_root(&s, &mut rec, (t.version, 9), p, total, word).unwrap();
            rec
        })
        .collect();
    let heads: Vec<RootHead> = recs
        .iter()
        .map(|r| root_head(&s, r, t.version).unwrap())
        .collect();
    assert_eq!(check_root(&heads), Ok(total));
    let w = s.root_words() as usize;
    t.map.load_start();
    for i in 0..total {
        t.map
            .load_word(i, root_word(&recs[i / w], i % w).unwrap())
            .unwrap();
    }
    t.map.load_finish(total).unwrap();
    t.check_all();
    // The 16 MiB map's checkpoint: a directory of 245 words plus the run index.
    assert!(parts <= 16 && total > 245, "{parts} parts, {total} words");
}
