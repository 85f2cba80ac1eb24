//! A slot-level model of cowftl's own layout, the reference that tells a GC policy's loss
//! from what the layout costs: the same units and slots, the same three frontiers (host
//! writes; copies out of host units; copies out of copy units), the same available units held
//! back for GC, cost-benefit victims. With `oracle` set, host writes of cold blocks go straight
//! to the cold frontier: hot/cold separation with perfect knowledge of each block's future,
//! the best any placement heuristic could do on this layout.
//!
//! It counts slots (host writes + copies), like `greedy_sim`; cowftl's byte WA adds the
//! record's metadata (block + record bytes over block bytes).

use cowftl_sim::SplitMix64;

/// What the model runs.
pub struct LayoutModel {
    pub units: usize,
    pub slots: usize,
    /// Available units GC keeps: the host opens a unit only while more are available.
    pub headroom: usize,
    /// Frontiers: 3, or 2 (no cold one: copies of copies join the GC frontier), or 1.
    pub streams: u32,
    pub live: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Host = 0,
    Gc = 1,
    Cold = 2,
}

pub(super) struct State {
    slots: usize,
    pub(super) streams: u32,
    /// The lba in each written slot of each unit (`u32::MAX`: overwritten since).
    owner: Vec<Vec<u32>>,
    valid: Vec<usize>,
    /// The model's clock (one tick per slot written) when each unit was last written.
    stamp: Vec<u64>,
    /// Which stream opened each unit (its survivors go one stream colder).
    opened_by: Vec<Stream>,
    sealed: Vec<bool>,
    /// Where each lba lives (`usize::MAX`: not written yet).
    map: Vec<(usize, usize)>,
    /// Available units, the next one to open first.
    free: std::collections::VecDeque<usize>,
    frontier: [Option<usize>; 3],
    clock: u64,
    pub(super) copies: u64,
    /// Every lba GC copied, in order, when `track_moves` is set (the map model's map
    /// updates: bench/map_model.rs).
    pub(super) moved: Vec<u32>,
    pub(super) track_moves: bool,
}

impl LayoutModel {
    /// Slot WA over `measured` writes after a warm-up of two writes per slot; `pick` chooses
    /// each write's lba and `cold` says which lbas the oracle sends to the cold frontier.
    pub fn run(
        &self,
        measured: u64,
        seed: u64,
        pick: impl Fn(&mut SplitMix64) -> u32,
        oracle: Option<&dyn Fn(u32) -> bool>,
    ) -> f64 {
        let mut s = State::new(self.units, self.slots, self.live);
        s.streams = self.streams;
        for lba in 0..self.live {
            s.host_write(self.headroom, Stream::Host, lba);
        }
        let mut rng = SplitMix64::new(seed ^ 0x1A70);
        let warm = 2 * (self.units * self.slots) as u64;
        let mut copies_before = 0;
        for i in 0..warm + measured {
            if i == warm {
                copies_before = s.copies;
            }
            let lba = pick(&mut rng);
            let stream = match oracle {
                Some(cold) if cold(lba) => Stream::Cold,
                _ => Stream::Host,
            };
            s.host_write(self.headroom, stream, lba);
        }
        (measured + s.copies - copies_before) as f64 / measured.max(1) as f64
    }
}

impl State {
    pub(super) fn new(units: usize, slots: usize, live: u32) -> Self {
        State {
            slots,
            streams: 3,
            owner: vec![Vec::with_capacity(slots); units],
            valid: vec![0; units],
            stamp: vec![0; units],
            opened_by: vec![Stream::Host; units],
            sealed: vec![false; units],
            map: vec![(usize::MAX, 0); live as usize],
            free: (0..units).collect(),
            frontier: [None; 3],
            clock: 0,
            copies: 0,
            moved: Vec::new(),
            track_moves: false,
        }
    }

    /// The frontier a stream really writes to (as cowftl's `Log::stream_of`).
    fn real(&self, s: Stream) -> Stream {
        match (self.streams, s) {
            (1, _) => Stream::Host,
            (2, Stream::Cold) => Stream::Gc,
            _ => s,
        }
    }

    fn has_room(&self, s: Stream) -> bool {
        let s = self.real(s);
        self.frontier[s as usize].is_some_and(|u| self.owner[u].len() < self.slots)
    }

    pub(super) fn host_write(&mut self, headroom: usize, s: Stream, lba: u32) {
        while !self.has_room(s) && self.free.len() <= headroom {
            self.collect();
        }
        self.place(s, lba);
    }

    /// Drop `lba`'s record: its slot becomes garbage (the map model's obsolete delta records).
    pub(super) fn trim(&mut self, lba: u32) {
        let (old, slot) = self.map[lba as usize];
        if old != usize::MAX {
            self.valid[old] -= 1;
            self.owner[old][slot] = u32::MAX;
            self.map[lba as usize] = (usize::MAX, 0);
        }
    }

    fn place(&mut self, s: Stream, lba: u32) {
        let s = self.real(s);
        if !self.has_room(s) {
            let u = self.free.pop_front().expect("model ran out of units");
            self.owner[u].clear();
            (self.valid[u], self.sealed[u], self.opened_by[u]) = (0, false, s);
            self.frontier[s as usize] = Some(u);
        }
        let u = self.frontier[s as usize].expect("frontier opened above");
        let (old, slot) = self.map[lba as usize];
        if old != usize::MAX {
            self.valid[old] -= 1;
            self.owner[old][slot] = u32::MAX;
        }
        self.owner[u].push(lba);
        self.valid[u] += 1;
        self.map[lba as usize] = (u, self.owner[u].len() - 1);
        self.clock += 1;
        self.stamp[u] = self.clock;
        if self.owner[u].len() == self.slots {
            self.sealed[u] = true;
            self.frontier[s as usize] = None;
        }
    }

    /// One GC round: the sealed unit with the most `age * free / (slots + live)` (as cowftl's
    /// `pick_victim`), its survivors one stream colder.
    fn collect(&mut self) {
        let n = self.slots as f64;
        let score = |u: usize| {
            let live = self.valid[u] as f64;
            (self.clock - self.stamp[u]).max(1) as f64 * (n - live) / (n + live)
        };
        let victim = (0..self.owner.len())
            .filter(|&u| self.sealed[u] && self.valid[u] < self.slots)
            .max_by(|&a, &b| score(a).total_cmp(&score(b)))
            .expect("model found no victim");
        let to = match self.opened_by[victim] {
            Stream::Host => Stream::Gc,
            Stream::Gc | Stream::Cold => Stream::Cold,
        };
        let survivors: Vec<u32> = self.owner[victim]
            .iter()
            .copied()
            .filter(|&l| l != u32::MAX)
            .collect();
        self.sealed[victim] = false;
        for lba in survivors {
            self.place(to, lba);
            self.copies += 1;
            if self.track_moves {
                self.moved.push(lba);
            }
        }
        self.owner[victim].clear();
        self.free.push_back(victim);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(headroom: usize, streams: u32) -> LayoutModel {
        LayoutModel {
            units: 32,
            slots: 16,
            headroom,
            streams,
            live: 400,
        }
    }

    fn hot_cold(rng: &mut SplitMix64) -> u32 {
        match rng.below(10) {
            0 => 40 + rng.below(360) as u32,
            _ => rng.below(40) as u32,
        }
    }

    #[test]
    fn every_copy_counts_and_held_units_cost_write_amplification() {
        let uniform = |rng: &mut SplitMix64| rng.below(400) as u32;
        let one = model(1, 3).run(20_000, 7, uniform, None);
        let two = model(2, 3).run(20_000, 7, uniform, None);
        // 400 of 512 slots live: GC must copy, and one more held unit leaves it less room.
        assert!(one > 1.5, "{one}");
        assert!(two > one, "{two} <= {one}");
    }

    #[test]
    fn an_oracle_placement_beats_placing_every_write_alike() {
        let cold = |lba: u32| lba >= 40;
        let as_cowftl = model(2, 3).run(20_000, 7, hot_cold, None);
        let oracle = model(2, 3).run(20_000, 7, hot_cold, Some(&cold));
        let one_stream = model(2, 1).run(20_000, 7, hot_cold, None);
        assert!(oracle < as_cowftl, "{oracle} >= {as_cowftl}");
        assert!(as_cowftl < one_stream, "{as_cowftl} >= {one_stream}");
    }
}
