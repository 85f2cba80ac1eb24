//! The references `cowftl bench` compares its WA with: the analytic greedy-GC formula, and a
//! greedy GC simulated on the same geometry.

use cowftl::Geometry;
use cowftl_sim::SplitMix64;

/// Lambert W, principal branch, for x in [-1/e, 0).
fn lambert_w0(x: f64) -> f64 {
    let e = std::f64::consts::E;
    let mut w = if x < -0.3 {
        let p = (2.0 * (e * x + 1.0)).max(0.0).sqrt();
        -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
    } else {
        x
    };
    for _ in 0..50 {
        let ew = w.exp();
        let f = w * ew - x;
        let d = ew * (w + 1.0);
        if d.abs() < 1e-300 {
            break;
        }
        let next = w - f / (d - (w + 2.0) * f / (2.0 * w + 2.0));
        if (next - w).abs() < 1e-14 {
            w = next;
            break;
        }
        w = next;
    }
    w
}

/// Analytic greedy-GC write amplification for uniform random writes at utilisation `fill`
/// (live / total slots): WA = a / (a + W0(-a e^-a)), a = 1/fill.
pub fn analytic_greedy_wa(fill: f64) -> f64 {
    let a = 1.0 / fill;
    a / (a + lambert_w0(-a * (-a).exp()))
}

/// In-memory greedy-GC model on the same geometry: `unit_count` units of `slots_per_unit`, `live`
/// blocks, one write frontier, greedy victim (fewest valid slots) when only one free unit is
/// left, uniform random overwrites. Returns (host + copies) / host over the measured phase.
pub fn greedy_sim(geo: &Geometry, live: u32, passes: u64, seed: u64) -> f64 {
    let mut m = Greedy::new(geo.unit_count as usize, geo.slots_per_unit as usize, live);
    for lba in 0..live {
        m.place(lba);
    }
    let mut rng = SplitMix64::new(seed ^ 0x6EED);
    let warm = 2 * (m.units * m.slots) as u64;
    let total = warm + passes * u64::from(live);
    let (mut host_m, mut copies_m) = (0u64, 0u64);
    for i in 0..total {
        if i == warm {
            copies_m = m.copies;
            host_m = 0;
        }
        // Keep one free unit for GC to copy into.
        while m.free.len() < 2 {
            m.collect();
        }
        m.place(rng.below(u64::from(live)) as u32);
        host_m += 1;
    }
    (host_m + m.copies - copies_m) as f64 / host_m.max(1) as f64
}

/// The state of the greedy model.
struct Greedy {
    units: usize,
    slots: usize,
    /// Valid slots per unit.
    valid: Vec<usize>,
    /// The lba in each written slot of each unit (`u32::MAX`: overwritten since).
    owner: Vec<Vec<u32>>,
    /// Where each lba lives: (unit, slot); `usize::MAX` unit = not written yet.
    map: Vec<(usize, usize)>,
    /// Erased units, the next one to open last.
    free: Vec<usize>,
    /// The write frontier.
    open: usize,
    /// Full units (GC victims).
    sealed: Vec<bool>,
    /// Slots copied by GC so far.
    copies: u64,
}

impl Greedy {
    fn new(units: usize, slots: usize, live: u32) -> Self {
        Greedy {
            units,
            slots,
            valid: vec![0; units],
            owner: vec![Vec::with_capacity(slots); units],
            map: vec![(usize::MAX, 0); live as usize],
            free: (1..units).rev().collect(),
            open: 0,
            sealed: vec![false; units],
            copies: 0,
        }
    }

    /// Write `lba` at the frontier (opening the next free unit when it is full).
    fn place(&mut self, lba: u32) {
        if self.owner[self.open].len() == self.slots {
            self.sealed[self.open] = true;
            self.open = self.free.pop().expect("greedy model ran out of free units");
        }
        let (u, s) = self.map[lba as usize];
        if u != usize::MAX {
            self.valid[u] -= 1;
            self.owner[u][s] = u32::MAX;
        }
        self.owner[self.open].push(lba);
        self.valid[self.open] += 1;
        self.map[lba as usize] = (self.open, self.owner[self.open].len() - 1);
    }

    /// One GC round: copy the valid slots of the sealed unit with the fewest, free it.
    fn collect(&mut self) {
        let victim = (0..self.units)
            .filter(|&u| self.sealed[u] && u != self.open)
            .min_by_key(|&u| self.valid[u])
            .expect("no victim");
        let lbas: Vec<u32> = self.owner[victim]
            .iter()
            .copied()
            .filter(|&l| l != u32::MAX)
            .collect();
        self.sealed[victim] = false;
        for l in lbas {
            self.place(l);
            self.copies += 1;
        }
        self.owner[victim].clear();
        self.valid[victim] = 0;
        self.free.insert(0, victim);
    }
}
