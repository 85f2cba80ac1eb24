//! One workload of `cowftl bench`: fill the live set, churn it (warm-up, then the measured
//! phase), and measure WA, erases, wear, time and the cost of a clean remount.

use std::time::Instant;

use cowftl::{Config, Geometry};
use cowftl_sim::{SimFlash, SplitMix64};
use cowftl_testkit::fill_pattern;

use super::greedy::{analytic_greedy_wa, greedy_sim};
use super::layout_model::{LayoutModel, Policy};
use super::report::{wear_of, Mount, Workload};
use cowftl::mapwork::MapWork;

use crate::common::MAX_UNITS;

/// Which map mode a workload runs with: `B` blocks of RAM map (0 with the flash map).
pub struct Mode<const B: usize, M>(std::marker::PhantomData<M>);

impl<const B: usize, M> Mode<B, M> {
    pub fn new() -> Self {
        Mode(std::marker::PhantomData)
    }
}

/// The FTL a workload runs on: either map mode (`B` = 0 with the flash map).
type BenchFtl<'f, const R: usize, const W: usize, const E: usize, const B: usize, M> =
    cowftl::Ftl<&'f mut SimFlash<R, W, E>, MAX_UNITS, B, 0, M>;

/// Which blocks a workload writes (and reads).
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Sequential,
    Uniform,
    HotCold,
    Mixed,
    StaticCold,
}

/// Flash and FTL counters at one instant (start or end of a measured phase).
#[derive(Clone, Copy)]
struct Snap {
    programmed: u64,
    device_ns: u64,
    host_writes: u64,
    relocations: u64,
    erases: u64,
    at: Instant,
}

fn snap<const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork>(
    ftl: &BenchFtl<'_, R, W, E, B, M>,
) -> Snap {
    let s = ftl.flash().stats();
    let c = ftl.stats().counters;
    Snap {
        programmed: s.bytes_programmed,
        device_ns: s.device_time_ns,
        host_writes: c.host_writes,
        relocations: c.relocations,
        erases: c.erases,
        at: Instant::now(),
    }
}

/// The measured phase of a workload: where it started and what the host did in it.
struct Phase {
    from: Snap,
    ops: u64,
    reads: u64,
    /// (host writes so far in the run, WA of the last chunk), warm-up included.
    wa_over_time: Vec<(u64, f64)>,
}

/// The FTL under test plus the host-side write pattern state.
struct Driver<'f, 'n, const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork> {
    ftl: BenchFtl<'f, R, W, E, B, M>,
    buf: Vec<u8>,
    ver: u64,
    name: &'n str,
    /// The most map changes one write made (its record and the copies made during it)
    /// since the measured phase began.
    max_changes: u64,
    /// The longest modelled device time one write took since the measured phase began.
    max_write_ns: u64,
    /// Flash map: the costliest clean remount (most bytes read) of those sampled.
    worst_mount: Option<Mount>,
}

impl<const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork>
    Driver<'_, '_, R, W, E, B, M>
{
    fn write(&mut self, lba: u32) -> Result<(), String> {
        self.ver += 1;
        fill_pattern(lba, self.ver, &mut self.buf);
        let before = self.ftl.counters().relocations;
        let t0 = self.ftl.flash().stats().device_time_ns;
        self.ftl
            .write(lba, &self.buf)
            .map_err(|e| format!("{}: write {lba}: {e:?}", self.name))?;
        let changes = 1 + self.ftl.counters().relocations - before;
        self.max_changes = self.max_changes.max(changes);
        let ns = self.ftl.flash().stats().device_time_ns - t0;
        self.max_write_ns = self.max_write_ns.max(ns);
        Ok(())
    }

    fn read(&mut self, lba: u32) -> Result<(), String> {
        self.ftl
            .read(lba, &mut self.buf)
            .map_err(|e| format!("{}: read {lba}: {e:?}", self.name))
    }

    fn programmed(&self) -> u64 {
        self.ftl.flash().stats().bytes_programmed
    }

    /// Flash map only: the cost of a clean remount of a copy of the flash as it is now
    /// (the run goes on untouched); the costliest one is kept. A mount's reads depend on
    /// how much was written since the map's last root, so one sample is not enough.
    fn sample_mount(&mut self, cfg: Config) -> Result<(), String> {
        if !M::ON_FLASH {
            return Ok(());
        }
        let mut copy = (**self.ftl.flash()).clone();
        let m = mount_cost::<R, W, E, B, M>(&mut copy, cfg, self.name)?;
        if self
            .worst_mount
            .as_ref()
            .is_none_or(|w| m.bytes_read > w.bytes_read)
        {
            self.worst_mount = Some(m);
        }
        Ok(())
    }
}

/// Clean remounts the flash-map runs sample in their measured phase (`Driver::sample_mount`).
const MOUNT_SAMPLES: u64 = 24;

/// Which logical block the next host operation of a workload touches.
pub(super) struct Picker {
    kind: Kind,
    live: u32,
    /// HotCold: the first `hot` blocks take 90% of the writes.
    hot: u32,
    /// StaticCold: the first `cold_static` blocks are never rewritten.
    cold_static: u32,
}

impl Picker {
    pub(super) fn new(kind: Kind, live: u32) -> Self {
        let (hot, cold_static) = ((live / 10).max(1), live / 2);
        Picker {
            kind,
            live,
            hot,
            cold_static,
        }
    }

    pub(super) fn pick(&self, rng: &mut SplitMix64) -> u32 {
        let (live, hot, cold) = (
            u64::from(self.live),
            u64::from(self.hot),
            u64::from(self.cold_static),
        );
        let lba = match self.kind {
            Kind::Uniform | Kind::Mixed => rng.below(live),
            Kind::HotCold if rng.below(100) < 90 => rng.below(hot),
            Kind::HotCold => hot + rng.below((live - hot).max(1)),
            Kind::StaticCold => cold + rng.below(live - cold),
            Kind::Sequential => unreachable!("sequential has no overwrite phase"),
        };
        lba as u32
    }
}

/// Warm-up (not measured, 2x all slots) then the measured phase: `measured` host operations.
#[allow(clippy::too_many_arguments)]
fn churn<const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork>(
    d: &mut Driver<'_, '_, R, W, E, B, M>,
    cfg: Config,
    kind: Kind,
    live: u32,
    warm: u64,
    measured: u64,
    rng: &mut SplitMix64,
) -> Result<Phase, String> {
    let picker = Picker::new(kind, live);
    let bs = d.buf.len() as u64;
    let chunk = (u64::from(live) / 2).max(1);
    let mut chunk_start = d.programmed();
    let mut host_total = u64::from(live);
    let mut p = Phase {
        from: snap(&d.ftl),
        ops: 0,
        reads: 0,
        wa_over_time: Vec::new(),
    };
    let every = (measured / MOUNT_SAMPLES).max(1);
    for i in 0..warm + measured {
        if i == warm {
            p.from = snap(&d.ftl);
            (d.max_changes, d.max_write_ns) = (0, 0);
        }
        if i >= warm && (i - warm) % every == every - 1 {
            d.sample_mount(cfg)?;
        }
        let counted = u64::from(i >= warm);
        let lba = picker.pick(rng);
        if kind == Kind::Mixed && rng.coin() {
            d.read(lba)?;
            p.reads += counted;
            p.ops += counted;
            continue;
        }
        d.write(lba)?;
        host_total += 1;
        p.ops += counted;
        if host_total % chunk == 0 {
            let now = d.programmed();
            let wa = (now - chunk_start) as f64 / (chunk * bs) as f64;
            p.wa_over_time.push((host_total, wa));
            chunk_start = now;
        }
    }
    Ok(p)
}

/// Fill in the measured-phase results of `w` from the phase and the counters at its end.
fn summarise(w: &mut Workload, p: Phase, end: Snap, bs: u64) {
    let (from, ops) = (p.from, p.ops.max(1) as f64);
    let host_writes = end.host_writes - from.host_writes;
    w.ops = p.ops;
    w.reads = p.reads;
    w.host_writes = host_writes;
    w.logical_bytes = host_writes * bs;
    w.bytes_programmed = end.programmed - from.programmed;
    w.wa = w.bytes_programmed as f64 / w.logical_bytes.max(1) as f64;
    w.wa_slots =
        (host_writes + (end.relocations - from.relocations)) as f64 / host_writes.max(1) as f64;
    w.erases = end.erases - from.erases;
    w.erases_per_logical_mib = w.erases as f64 / (w.logical_bytes.max(1) as f64 / 1048576.0);
    w.device_ns_per_op = (end.device_ns - from.device_ns) as f64 / ops;
    w.host_ns_per_op = end.at.duration_since(from.at).as_nanos() as f64 / ops;
    w.wa_over_time = p.wa_over_time;
}

/// Cost of a clean remount of what is on `flash`: the flash counters are reset first, so
/// everything they show afterwards was done by `mount`.
fn mount_cost<const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    name: &str,
) -> Result<Mount, String> {
    flash.reset_stats();
    let t = Instant::now();
    let ftl = BenchFtl::<R, W, E, B, M>::mount(&mut *flash, cfg)
        .map_err(|e| format!("{name}: mount: {e:?}"))?;
    let host_ns = t.elapsed().as_nanos() as u64;
    let region = u64::from(ftl.geometry().region_len);
    let s = ftl.flash().stats();
    Ok(Mount {
        bytes_read: s.bytes_read,
        read_ops: s.read_ops,
        programs: s.program_ops,
        bytes_programmed: s.bytes_programmed,
        erases: s.erase_ops,
        device_ns: s.device_time_ns,
        host_ns,
        region_fraction: s.bytes_read as f64 / region.max(1) as f64,
    })
}

/// The slot-level model of cowftl's layout and GC policy on the same writes
/// (`layout_model`): as cowftl places blocks and, for hot/cold, with an oracle that sends
/// cold blocks to the cold frontier.
fn layout_references(w: &mut Workload, geo: &Geometry, kind: Kind, live: u32, seed: u64) {
    let model = LayoutModel {
        units: geo.unit_count as usize,
        slots: geo.slots_per_unit as usize,
        headroom: geo.gc_headroom(0) as usize,
        streams: geo.streams(),
        live,
    };
    let picker = Picker::new(kind, live);
    let pick = |rng: &mut SplitMix64| picker.pick(rng);
    let measured = w.host_writes.max(1);
    let p = Policy::COWFTL;
    w.layout_model_wa = Some(model.run_with(p, measured, seed, pick, None));
    if kind == Kind::HotCold {
        let cold = |lba: u32| lba >= picker.hot;
        w.oracle_model_wa = Some(model.run_with(p, measured, seed, pick, Some(&cold)));
    }
}

/// Run workload `name` on a freshly formatted `flash`, with map mode `M`, and measure a clean
/// remount after it.
#[allow(clippy::too_many_arguments)]
pub fn one<const R: usize, const W: usize, const E: usize, const B: usize, M: MapWork>(
    flash: &mut SimFlash<R, W, E>,
    _mode: Mode<B, M>,
    cfg: Config,
    geo: &Geometry,
    name: &str,
    kind: Kind,
    fill: f64,
    passes: u64,
    seed: u64,
) -> Result<Workload, String> {
    let ftl = BenchFtl::<R, W, E, B, M>::format(&mut *flash, cfg)
        .map_err(|e| format!("format: {e:?}"))?;
    let n = ftl.block_count();
    let bs = geo.block_size as usize;
    let live = ((n as f64 * fill).round() as u32).clamp(1, n);
    let total_slots = u64::from(geo.unit_count) * u64::from(geo.slots_per_unit);
    let mut rng = SplitMix64::new(seed ^ 0xBE7C_4000 ^ (fill * 1000.0) as u64);
    let mut w = Workload {
        name: name.into(),
        fill_exported: f64::from(live) / f64::from(n),
        fill_raw: f64::from(live) / total_slots as f64,
        ..Workload::default()
    };
    let mut d = Driver {
        ftl,
        buf: vec![0u8; bs],
        ver: 1,
        name,
        max_changes: 0,
        max_write_ns: 0,
        worst_mount: None,
    };
    // Phase 1: fill the live set sequentially (this is the measured phase of `seq_fill`).
    let start = snap(&d.ftl);
    let every = (u64::from(live) / MOUNT_SAMPLES).max(1);
    for lba in 0..live {
        d.write(lba)?;
        if kind == Kind::Sequential && u64::from(lba) % every == every - 1 {
            d.sample_mount(cfg)?;
        }
    }
    let phase = if kind == Kind::Sequential {
        Phase {
            from: start,
            ops: u64::from(live),
            reads: 0,
            wa_over_time: Vec::new(),
        }
    } else {
        let per_pass = if kind == Kind::StaticCold { n } else { live };
        let measured = passes * u64::from(per_pass);
        churn(&mut d, cfg, kind, live, 2 * total_slots, measured, &mut rng)?
    };
    summarise(&mut w, phase, snap(&d.ftl), bs as u64);
    w.max_map_changes_per_write = d.max_changes;
    w.max_device_ns_per_write = d.max_write_ns;
    w.unit_wear = d.ftl.unit_wear().collect();
    w.wear = wear_of(&w.unit_wear);
    if kind == Kind::Uniform || kind == Kind::Mixed {
        let greedy = greedy_sim(geo, live, passes, seed);
        w.analytic_wa = Some(analytic_greedy_wa(w.fill_raw));
        w.greedy_sim_wa = Some(greedy);
        w.wa_vs_greedy_sim = Some(w.wa / greedy);
    }
    if matches!(kind, Kind::Uniform | Kind::Mixed | Kind::HotCold) {
        layout_references(&mut w, geo, kind, live, seed);
    }
    let worst = d.worst_mount.take();
    let flash = d.ftl.release();
    w.mount = mount_cost::<R, W, E, B, M>(flash, cfg, name)?;
    w.mount_worst = worst.filter(|m| m.bytes_read > w.mount.bytes_read);
    if M::ON_FLASH && w.mount_worst.is_none() {
        w.mount_worst = Some(w.mount.clone());
    }
    Ok(w)
}
