//! The flash map against a plain array: a toy engine stores records in a vector (one slot
//! per record, versions increasing), writes runs when the buffer fills, merges in slices,
//! and lets "GC" move live records and wipe dead ones, so a lookup that reached a stale
//! record would fail. Every lookup is checked against the array.

extern crate std;
use std::vec::Vec;

use super::record::{MapShape, UNMAPPED};
use super::{FlashMap, Source, NO_LOC};

const BLOCKS: u32 = 1000;
const CHECKPOINT_HEAD_FOR_TESTS: usize = super::CHECKPOINT_HEAD;
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
            if self.map.merge.is_none() {
                let k = self.map.runs().len();
                self.map.merge_start(k);
            }
            self.merge_slice(u32::MAX);
        }
        let mut locs = Vec::new();
        for part in 0..self.map.run_parts() {
            let mut rec = std::vec![0u8; 512];
            self.map.encode_part(part, &mut rec);
            locs.push(self.program(rec));
        }
        self.map.run_written(&locs);
    }

    /// Rewrite up to `n` pages of the merge in progress; finish it when none is left.
    fn merge_slice(&mut self, n: u32) {
        for _ in 0..n {
            let Some(page) = self.map.merge_next() else {
                let mut dead = Vec::new();
                self.map.merge_finish(|loc| dead.push(loc));
                dead.into_iter().for_each(|loc| self.wipe(loc));
                return;
            };
            let mut out = std::vec![0u8; 512];
            let old = self.map.dir[page as usize];
            let old_rec = (old != NO_LOC).then(|| self.slots[old as usize].clone());
            let old_ref = old_rec.as_ref().map(|(r, v)| (r.as_slice(), *v));
            self.map.page_begin(page, old_ref, &mut out).unwrap();
            let sources: Vec<Source> = self.map.merge_sources(page).collect();
            assert!(!sources.is_empty());
            for src in sources {
                let Source::Part { loc, .. } = src else {
                    unreachable!()
                };
                let (rec, v) = self.slots[loc as usize].clone();
                self.map.page_apply(page, src, &rec, v, &mut out).unwrap();
            }
            let loc = self.program(out);
            let replaced = self.map.page_written(page, loc);
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
            for part in 0..run.parts {
                if self.map.part_live(run.number, part, loc) {
                    let to = self.program(rec.clone());
                    self.map.part_moved(run.number, part, loc, to);
                    self.wipe(loc);
                    return;
                }
            }
        }
    }

    fn check_all(&mut self) {
        for lba in 0..self.truth.len() as u32 {
            assert_eq!(self.lookup(lba), self.truth[lba as usize], "lba {lba}");
        }
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
            0 if t.map.merge.is_none() && t.map.runs().len() >= 2 => {
                let k = 1 + t.rand(t.map.runs().len() as u64) as usize;
                t.map.merge_start(k);
            }
            1 if t.map.merge.is_some() => {
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

#[test]
fn lookups_match_the_array_through_runs_merges_and_moves() {
    for seed in 0..12 {
        let hot = [BLOCKS, 200, 30][seed as usize % 3];
        let t = workload(seed, hot, 3000);
        // Pages, runs and merges all happened.
        assert!(t.map.dir.iter().filter(|&&l| l != NO_LOC).count() >= 2);
        assert!(
            t.map.next_run() >= 5,
            "seed {seed}: {} runs",
            t.map.next_run()
        );
    }
}

#[test]
fn a_lookup_reads_at_most_one_record_per_run_plus_the_page() {
    let mut t = workload(99, BLOCKS, 2000);
    for lba in 0..BLOCKS {
        t.reads = 0;
        t.lookup(lba);
        assert!(
            t.reads <= t.map.runs().len() as u64 + 1,
            "lba {lba}: {} reads",
            t.reads
        );
    }
}

#[test]
fn a_stale_or_foreign_record_is_refused_not_trusted() {
    let t = workload(5, BLOCKS, 600);
    // Point a page at a slot holding some other record: the page number check refuses it.
    let page = (0..8).find(|&p| t.map.dir[p as usize] != NO_LOC).unwrap();
    let other = (0..8)
        .find(|&p| p != page && t.map.dir[p as usize] != NO_LOC)
        .unwrap();
    let (rec, v) = t.slots[t.map.dir[other as usize] as usize].clone();
    let src = Source::Page { page, loc: 0 };
    assert!(t.map.search(src, &rec, v, page * 125).is_err());
    // A delta record read from a slot older than its covers is crafted.
    if let Some(run) = t.map.runs().first().copied() {
        let loc = t.map.parts[0].loc;
        let (rec, _) = t.slots[loc as usize].clone();
        let src = Source::Part {
            run: run.number,
            part: 0,
            loc,
        };
        assert!(t.map.search(src, &rec, run.covers - 1, 0).is_err());
    }
}

#[test]
fn the_shape_must_fit_the_capacities() {
    let shape = MapShape::new(512, 2000, SLOTS).unwrap();
    assert!(Map::new(shape).is_none(), "16 pages in a directory of 8");
    let shape = MapShape::new(256, 100, SLOTS).unwrap();
    // 64 changes of 30 per record: 3 parts, over Q = 2.
    assert!(FlashMap::<8, 64, 4, 2>::new(shape).is_none());
}

/// Load `words` into a fresh map of the toy's shape.
fn load(words: &[u32]) -> Result<Map, super::record::BadRecord> {
    let mut m = Map::new(MapShape::new(512, BLOCKS, SLOTS).unwrap()).unwrap();
    m.load_start();
    for (i, &w) in words.iter().enumerate() {
        m.load_word(i, w)?;
    }
    m.load_finish(words.len())?;
    Ok(m)
}

#[test]
fn a_checkpoint_reloads_to_the_same_lookups() {
    for seed in [1, 2, 3] {
        let mut t = workload(seed, 200, 1500);
        if t.map.buffered().0 > 0 {
            t.write_run();
        }
        let words: Vec<u32> = (0..t.map.checkpoint_words())
            .map(|i| t.map.checkpoint_word(i))
            .collect();
        let merging = t.map.merge;
        t.map = load(&words).unwrap();
        assert_eq!(t.map.checkpoint_words(), words.len());
        // A merge in progress is not in the checkpoint: its runs are, so lookups still
        // answer; the engine starts the merge again.
        assert!(t.map.merge.is_none() || merging.is_none());
        t.check_all();
    }
}

#[test]
fn crafted_checkpoint_words_are_refused() {
    let mut t = workload(4, BLOCKS, 1200);
    t.write_run();
    let words: Vec<u32> = (0..t.map.checkpoint_words())
        .map(|i| t.map.checkpoint_word(i))
        .collect();
    assert!(load(&words).is_ok());
    let runs = words[2] as usize;
    let first_run = CHECKPOINT_HEAD_FOR_TESTS + 8;
    let first_part = first_run + 4 * runs;
    let mut cases: Vec<(usize, u32)> = std::vec![
        (0, 9),                  // another page count
        (2, 5),                  // more runs than R = 4
        (3, 9),                  // more parts than Q = 8
        (3, words[3] - 1),       // parts do not add up
        (4, SLOTS),              // a page outside the volume
        (first_run + 3, 0),      // a run of no part
        (first_run + 3, 17),     // a run over the transaction limit
        (first_part, BLOCKS),    // a range outside the map
        (first_part + 2, SLOTS), // a part outside the volume
    ];
    if words[first_part] > 0 {
        cases.push((first_part + 1, words[first_part] - 1)); // last below first
    }
    if runs >= 2 {
        cases.push((first_run + 4, words[first_run])); // run numbers must increase
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
            encode_root(&s, &mut rec, (t.version, 9), p, total, |i| {
                t.map.checkpoint_word(i)
            });
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
