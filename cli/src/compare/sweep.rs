//! The workload at one fill, and the sweep of fills that finds a store's capacity.
//!
//! One point: on a freshly formatted store, write every record once (not measured), then
//! `warm` uniform random updates (not measured: they bring garbage collection to its steady
//! state), then `measured` uniform random updates. A point *completes* if every write of all
//! three phases succeeds. Fill = live user bytes / region bytes.

use std::time::Instant;

use cowftl_sim::SplitMix64;
use cowftl_testkit::fill_pattern;
use serde::Serialize;

use super::flash::Snap;
use super::RECORD;

/// What to run at one fill.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub records: u32,
    pub warm: u64,
    pub measured: u64,
    pub seed: u64,
}

/// The measured phase of a completed point.
#[derive(Serialize, Clone, Debug)]
pub struct Point {
    /// records * record_bytes / region_bytes.
    pub fill: f64,
    pub records: u32,
    pub updates: u64,
    /// Bytes programmed / user bytes written (updates * record_bytes), measured phase only.
    pub wa: f64,
    pub erases_per_update: f64,
    /// Modelled device busy time (datasheet program/erase/read timings) per update.
    pub device_us_per_update: f64,
    /// Wall time per update on this host (the store's code plus the simulator's bookkeeping).
    pub host_us_per_update: f64,
}

/// Run `plan` against a store given as two closures: `write(record, data)` and `snap()` (the
/// simulator's counters). Returns the point, or the error that stopped it.
pub fn drive(
    plan: &Plan,
    region: usize,
    mut write: impl FnMut(u32, &[u8]) -> Result<(), String>,
    snap: impl Fn() -> Snap,
) -> Result<Point, String> {
    let mut buf = [0u8; RECORD];
    let mut ver = 0u64;
    let mut put = |rec: u32, buf: &mut [u8; RECORD]| {
        ver += 1;
        fill_pattern(rec, ver, buf);
        write(rec, buf).map_err(|e| format!("record {rec}: {e}"))
    };
    for rec in 0..plan.records {
        put(rec, &mut buf).map_err(|e| format!("initial write: {e}"))?;
    }
    let mut rng = SplitMix64::new(plan.seed ^ u64::from(plan.records).wrapping_mul(0x9E37));
    let n = u64::from(plan.records);
    for _ in 0..plan.warm {
        put(rng.below(n) as u32, &mut buf).map_err(|e| format!("warm-up: {e}"))?;
    }
    let (from, t) = (snap(), Instant::now());
    for _ in 0..plan.measured {
        put(rng.below(n) as u32, &mut buf).map_err(|e| format!("update: {e}"))?;
    }
    let host_ns = t.elapsed().as_nanos() as f64;
    let d = from.delta(snap());
    let ops = plan.measured.max(1) as f64;
    Ok(Point {
        fill: fill_of(plan.records, region),
        records: plan.records,
        updates: plan.measured,
        wa: d.programmed as f64 / (ops * RECORD as f64),
        erases_per_update: d.erases as f64 / ops,
        device_us_per_update: d.device_ns as f64 / ops / 1e3,
        host_us_per_update: host_ns / ops / 1e3,
    })
}

pub fn fill_of(records: u32, region: usize) -> f64 {
    f64::from(records) * RECORD as f64 / region as f64
}

pub fn records_for(fill: f64, region: usize) -> u32 {
    (fill * region as f64 / RECORD as f64).round() as u32
}

/// How a sweep is laid out.
#[derive(Clone, Copy, Debug)]
pub struct Grid {
    /// Fills tried from 0.25 upwards (0.05 to 0.20 instead for a store that cannot hold 0.25).
    pub step: f64,
    /// Bisection between the last fill that completed and the first that did not stops when
    /// they are this many records apart.
    pub resolution: u32,
}

/// The outcome of a sweep: completed points (by fill) and the capacity.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Sweep {
    /// Largest fill that completed (0 if none did).
    pub max_fill: f64,
    pub max_records: u32,
    /// The smallest fill tried that did not complete, and why.
    pub first_failed_fill: Option<f64>,
    pub failure: Option<String>,
    pub points: Vec<Point>,
}

/// Sweep fills upwards from 0.25 until one does not complete, then bisect for the capacity.
/// `run(records)` measures one point on a fresh store.
pub fn sweep(
    grid: Grid,
    region: usize,
    mut run: impl FnMut(u32) -> Result<Point, String>,
) -> Sweep {
    let mut s = Sweep::default();
    let steps = (0..)
        .map(|i| 0.25 + grid.step * f64::from(i))
        .take_while(|&f| f <= 1.0 + 1e-9);
    let mut fail: Option<(u32, String)> = None;
    let mut ok = 0u32;
    for f in steps {
        let rec = records_for(f.min(1.0), region);
        match run(rec) {
            Ok(p) => {
                ok = rec;
                s.points.push(p);
            }
            Err(e) => {
                fail = Some((rec, e));
                break;
            }
        }
    }
    if ok == 0 {
        // Not even 0.25: measure what it can hold below that, from 0.05 up in steps of 0.05
        // (whatever the grid step, so that such a store still gets several points).
        for f in [0.05, 0.10, 0.15, 0.20] {
            let rec = records_for(f, region).max(1);
            match run(rec) {
                Ok(p) => {
                    ok = rec;
                    s.points.push(p);
                }
                Err(e) => {
                    fail = Some((rec, e));
                    break;
                }
            }
        }
    }
    if let Some((mut bad, mut why)) = fail {
        while bad - ok > grid.resolution {
            let mid = ok + (bad - ok) / 2;
            match run(mid) {
                Ok(p) => {
                    ok = mid;
                    s.points.push(p);
                }
                Err(e) => (bad, why) = (mid, e),
            }
        }
        s.first_failed_fill = Some(fill_of(bad, region));
        s.failure = Some(why);
    }
    s.points.sort_by(|a, b| a.fill.total_cmp(&b.fill));
    s.max_records = ok;
    s.max_fill = fill_of(ok, region);
    s
}
