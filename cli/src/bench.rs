//! `cowftl bench`: write amplification, erases, wear, modelled device time, host CPU time, mount
//! cost and RAM for a set of workloads, beside two greedy-GC references (analytic and simulated on
//! the same geometry). Human table by default, `--json`, `--plot DIR` for SVG charts.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl::{Config, Geometry};
use cowftl_sim::{SimFlash, SplitMix64};
use serde::Serialize;

use cowftl_testkit::{fill_pattern, Part};

use crate::common::{self, SimFtl};
use crate::fmt;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Small chip, short runs (seconds).
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of the human table.
    #[arg(long)]
    pub json: bool,
    /// Write SVG charts (WA vs fill, wear histogram, WA over time) into this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Simulated part.
    #[arg(long, value_parser = common::part_arg(&common::SIM_PARTS), default_value = "stm32l476")]
    pub preset: Part,
    /// Chip size (the FTL region covers all of it). Default 1M, or 256K with --quick.
    #[arg(long, value_parser = common::parse_size)]
    pub size: Option<usize>,
    /// FTL unit size in bytes (default: chosen by the FTL).
    #[arg(long)]
    pub unit_size: Option<u32>,
    /// FTL reserve units (default: the FTL's default).
    #[arg(long)]
    pub reserve: Option<u32>,
    /// Overwrites in the measured phase, as multiples of the live set (default 20, 5 with --quick).
    #[arg(long)]
    pub passes: Option<u32>,
    /// Seed for the workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct GeometryOut {
    pub preset: &'static str,
    pub chip_bytes: usize,
    pub unit_size: u32,
    pub unit_count: u32,
    pub slots_per_unit: u32,
    pub reserve_units: u32,
    pub block_size: u32,
    pub block_count: u32,
    pub exported_bytes: u64,
    /// Bytes of the FTL region (here the whole chip).
    pub region_bytes: u64,
    /// exported_bytes / region_bytes.
    pub exported_fraction: f64,
    /// RAM of `Ftl<F, unit_count, block_count>`: 4*blocks + 12*units + ~120 bytes (+ the flash).
    pub ram_bytes: u64,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Wear {
    pub min: u32,
    pub mean: f64,
    pub max: u32,
    /// max / mean.
    pub spread: f64,
}

/// Cost of a clean remount right after the workload (flash counters reset just before `mount`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct Mount {
    pub bytes_read: u64,
    pub read_ops: u64,
    /// Program operations issued by the mount.
    pub programs: u64,
    pub bytes_programmed: u64,
    /// Erase operations issued by the mount.
    pub erases: u64,
    /// Modelled device time of the mount (datasheet timings).
    pub device_ns: u64,
    pub host_ns: u64,
    /// bytes_read / FTL region bytes.
    pub region_fraction: f64,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Workload {
    pub name: String,
    /// Live blocks / exported blocks.
    pub fill_exported: f64,
    /// Live blocks / (unit_count * slots_per_unit): what the greedy references use.
    pub fill_raw: f64,
    pub ops: u64,
    pub host_writes: u64,
    pub reads: u64,
    pub logical_bytes: u64,
    pub bytes_programmed: u64,
    /// bytes_programmed / logical_bytes (metadata included).
    pub wa: f64,
    /// (host writes + relocations) / host writes: slot-level WA, comparable to the greedy model.
    pub wa_slots: f64,
    pub greedy_sim_wa: Option<f64>,
    /// wa / greedy_sim_wa (byte WA, metadata included, against the slot-level greedy model).
    pub wa_vs_greedy_sim: Option<f64>,
    pub analytic_wa: Option<f64>,
    pub erases: u64,
    pub erases_per_logical_mib: f64,
    pub wear: Wear,
    pub device_ns_per_op: f64,
    pub host_ns_per_op: f64,
    pub mount: Mount,
    /// (host writes so far in the run, WA of the last chunk), warm-up included.
    pub wa_over_time: Vec<(u64, f64)>,
    /// Erases of every FTL unit at the end.
    pub unit_wear: Vec<u32>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Target {
    pub name: String,
    pub measured: f64,
    pub limit: f64,
    pub pass: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub quick: bool,
    pub seed: u64,
    pub geometry: GeometryOut,
    pub workloads: Vec<Workload>,
    pub targets: Vec<Target>,
    pub host_seconds: f64,
}

pub fn run(args: Args) -> Result<(), String> {
    let size = args
        .size
        .unwrap_or(if args.quick { 256 * 1024 } else { 1024 * 1024 });
    common::check_size(args.preset, size)?;
    if args.passes == Some(0) {
        return Err("--passes must be at least 1".into());
    }
    let t0 = Instant::now();
    let cfg = common::config(size, args.unit_size, args.reserve);
    let mut report = bench_all(args.preset.spec(size), cfg, &args, size)?;
    report.host_seconds = t0.elapsed().as_secs_f64();
    report.targets = targets(&report);
    if let Some(dir) = &args.plot {
        plot(dir, &report)?;
    }
    if args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{s}");
    } else {
        print_human(&report);
        if let Some(dir) = &args.plot {
            println!("charts written to {}", dir.display());
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sequential,
    Uniform,
    HotCold,
    Mixed,
    StaticCold,
}

fn bench_all(
    spec: cowftl_sim::PartSpec,
    cfg: Config,
    args: &Args,
    size: usize,
) -> Result<Report, String> {
    macro_rules! go {
        ($ty:ty) => {{
            let mk = || <$ty>::new(spec.clone(), args.seed);
            let mut probe = mk();
            let geo = SimFtl::format(&mut probe, cfg)
                .map_err(|e| format!("format: {e:?}"))?
                .geometry()
                .to_owned();
            let passes = args.passes.unwrap_or(if args.quick { 5 } else { 20 }) as u64;
            let mut workloads = Vec::new();
            let list: &[(&str, Kind, f64)] = &[
                ("seq_fill", Kind::Sequential, 1.0),
                ("uniform_50", Kind::Uniform, 0.5),
                ("uniform_80", Kind::Uniform, 0.8),
                ("uniform_90", Kind::Uniform, 0.9),
                ("hotcold_90_10_at_80", Kind::HotCold, 0.8),
                ("mixed_rw_50_at_80", Kind::Mixed, 0.8),
                ("static_cold_50", Kind::StaticCold, 0.8),
            ];
            for &(name, kind, fill) in list {
                let mut flash = mk();
                workloads.push(one(
                    &mut flash, cfg, &geo, name, kind, fill, passes, args.seed,
                )?);
            }
            Ok::<_, String>((geo, workloads))
        }};
    }
    let (geo, workloads) = match args.preset {
        Part::Stm32l476 => go!(cowftl_sim::Stm32L476Flash)?,
        Part::W25q128 => go!(cowftl_sim::W25q128Flash)?,
        p => return Err(format!("part {} is not simulated here", p.name())),
    };
    Ok(Report {
        quick: args.quick,
        seed: args.seed,
        geometry: geometry_out(&geo, args.preset, size),
        workloads,
        targets: Vec::new(),
        host_seconds: 0.0,
    })
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

fn snap<const R: usize, const W: usize, const E: usize>(ftl: &SimFtl<'_, R, W, E>) -> Snap {
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
struct Driver<'f, 'n, const R: usize, const W: usize, const E: usize> {
    ftl: SimFtl<'f, R, W, E>,
    buf: Vec<u8>,
    ver: u64,
    name: &'n str,
}

impl<const R: usize, const W: usize, const E: usize> Driver<'_, '_, R, W, E> {
    fn write(&mut self, lba: u32) -> Result<(), String> {
        self.ver += 1;
        fill_pattern(lba, self.ver, &mut self.buf);
        self.ftl
            .write(lba, &self.buf)
            .map_err(|e| format!("{}: write {lba}: {e:?}", self.name))
    }

    fn read(&mut self, lba: u32) -> Result<(), String> {
        self.ftl
            .read(lba, &mut self.buf)
            .map_err(|e| format!("{}: read {lba}: {e:?}", self.name))
    }

    fn programmed(&self) -> u64 {
        self.ftl.flash().stats().bytes_programmed
    }
}

/// Which logical block the next host operation of a workload touches.
struct Picker {
    kind: Kind,
    live: u32,
    /// HotCold: the first `hot` blocks take 90% of the writes.
    hot: u32,
    /// StaticCold: the first `cold_static` blocks are never rewritten.
    cold_static: u32,
}

impl Picker {
    fn new(kind: Kind, live: u32) -> Self {
        let (hot, cold_static) = ((live / 10).max(1), live / 2);
        Picker {
            kind,
            live,
            hot,
            cold_static,
        }
    }

    fn pick(&self, rng: &mut SplitMix64) -> u32 {
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
fn churn<const R: usize, const W: usize, const E: usize>(
    d: &mut Driver<'_, '_, R, W, E>,
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
    for i in 0..warm + measured {
        if i == warm {
            p.from = snap(&d.ftl);
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

fn wear_of(unit_wear: &[u32]) -> Wear {
    let (min, mean, max) = fmt::min_mean_max(unit_wear.iter().copied());
    Wear {
        min,
        mean,
        max,
        spread: if mean > 0.0 { max as f64 / mean } else { 1.0 },
    }
}

/// Cost of a clean remount of what is on `flash`: the flash counters are reset first, so
/// everything they show afterwards was done by `mount`.
fn mount_cost<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    name: &str,
) -> Result<Mount, String> {
    flash.reset_stats();
    let t = Instant::now();
    let ftl = SimFtl::mount(&mut *flash, cfg).map_err(|e| format!("{name}: mount: {e:?}"))?;
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

fn geometry_out(geo: &Geometry, preset: Part, chip_bytes: usize) -> GeometryOut {
    let exported = geo.capacity_bytes();
    let region = u64::from(geo.region_len);
    GeometryOut {
        preset: preset.label(),
        chip_bytes,
        unit_size: geo.unit_size,
        unit_count: geo.unit_count,
        slots_per_unit: geo.slots_per_unit,
        reserve_units: geo.reserve_units,
        block_size: geo.block_size,
        block_count: geo.block_count,
        exported_bytes: exported,
        region_bytes: region,
        exported_fraction: exported as f64 / region.max(1) as f64,
        ram_bytes: 4 * u64::from(geo.block_count) + 12 * u64::from(geo.unit_count) + 120,
    }
}

#[allow(clippy::too_many_arguments)]
fn one<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    geo: &Geometry,
    name: &str,
    kind: Kind,
    fill: f64,
    passes: u64,
    seed: u64,
) -> Result<Workload, String> {
    let ftl = SimFtl::format(&mut *flash, cfg).map_err(|e| format!("format: {e:?}"))?;
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
    };
    // Phase 1: fill the live set sequentially (this is the measured phase of `seq_fill`).
    let start = snap(&d.ftl);
    for lba in 0..live {
        d.write(lba)?;
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
        churn(&mut d, kind, live, 2 * total_slots, measured, &mut rng)?
    };
    summarise(&mut w, phase, snap(&d.ftl), bs as u64);
    w.unit_wear = d.ftl.unit_wear().collect();
    w.wear = wear_of(&w.unit_wear);
    if kind == Kind::Uniform || kind == Kind::Mixed {
        let greedy = greedy_sim(geo, live, passes, seed);
        w.analytic_wa = Some(analytic_greedy_wa(w.fill_raw));
        w.greedy_sim_wa = Some(greedy);
        w.wa_vs_greedy_sim = Some(w.wa / greedy);
    }
    let flash = d.ftl.release();
    w.mount = mount_cost(flash, cfg, name)?;
    Ok(w)
}

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
    let units = geo.unit_count as usize;
    let slots = geo.slots_per_unit as usize;
    let mut valid = vec![0usize; units];
    let mut owner: Vec<Vec<u32>> = vec![Vec::with_capacity(slots); units]; // lba per slot
    let mut map = vec![(usize::MAX, 0usize); live as usize];
    let mut free: Vec<usize> = (1..units).rev().collect();
    let mut open = 0usize;
    let mut copies = 0u64;
    let mut sealed: Vec<bool> = vec![false; units];

    #[allow(clippy::too_many_arguments)]
    fn place(
        lba: u32,
        open: &mut usize,
        free: &mut Vec<usize>,
        owner: &mut [Vec<u32>],
        valid: &mut [usize],
        map: &mut [(usize, usize)],
        sealed: &mut [bool],
        slots: usize,
    ) {
        if owner[*open].len() == slots {
            sealed[*open] = true;
            *open = free.pop().expect("greedy model ran out of free units");
        }
        let (u, s) = map[lba as usize];
        if u != usize::MAX {
            valid[u] -= 1;
            owner[u][s] = u32::MAX;
        }
        owner[*open].push(lba);
        valid[*open] += 1;
        map[lba as usize] = (*open, owner[*open].len() - 1);
    }

    let mut rng = SplitMix64::new(seed ^ 0x6EED);
    let warm = 2 * (units * slots) as u64;
    let total = warm + passes * u64::from(live);
    let (mut host_m, mut copies_m) = (0u64, 0u64);
    for lba in 0..live {
        place(
            lba,
            &mut open,
            &mut free,
            &mut owner,
            &mut valid,
            &mut map,
            &mut sealed,
            slots,
        );
    }
    for i in 0..total {
        if i == warm {
            copies_m = copies;
            host_m = 0;
        }
        // Keep one free unit for GC to copy into.
        while free.len() < 2 {
            let victim = (0..units)
                .filter(|&u| sealed[u] && u != open)
                .min_by_key(|&u| valid[u])
                .expect("no victim");
            let lbas: Vec<u32> = owner[victim]
                .iter()
                .copied()
                .filter(|&l| l != u32::MAX)
                .collect();
            sealed[victim] = false;
            for l in lbas {
                place(
                    l,
                    &mut open,
                    &mut free,
                    &mut owner,
                    &mut valid,
                    &mut map,
                    &mut sealed,
                    slots,
                );
                copies += 1;
            }
            owner[victim].clear();
            valid[victim] = 0;
            free.insert(0, victim);
        }
        let lba = rng.below(u64::from(live)) as u32;
        place(
            lba,
            &mut open,
            &mut free,
            &mut owner,
            &mut valid,
            &mut map,
            &mut sealed,
            slots,
        );
        host_m += 1;
    }
    (host_m + copies - copies_m) as f64 / host_m.max(1) as f64
}

fn find<'a>(r: &'a Report, name: &str) -> Option<&'a Workload> {
    r.workloads.iter().find(|w| w.name == name)
}

/// The targets of the core-v3 issue: WA within 1.10x the greedy simulation, hot/cold
/// 90/10 at 80 % at most 1.6, exported capacity (0.85 of a 256 KiB region, 0.90 of 1 MiB),
/// a clean remount that writes nothing and reads at most 5 % of the region.
fn targets(r: &Report) -> Vec<Target> {
    let mut t = Vec::new();
    let mut push = |name: String, measured: f64, limit: f64, pass: bool| {
        t.push(Target {
            name,
            measured,
            limit,
            pass,
        })
    };
    for name in ["uniform_80", "uniform_90"] {
        if let Some(g) = find(r, name).and_then(|w| w.greedy_sim_wa.map(|g| (w.wa, g))) {
            let limit = 1.10 * g.1;
            push(
                format!("{name}: WA <= 1.10 x greedy sim"),
                g.0,
                limit,
                g.0 <= limit,
            );
        }
    }
    if let Some(w) = find(r, "hotcold_90_10_at_80") {
        push(
            "hotcold_90_10_at_80: WA <= 1.6".into(),
            w.wa,
            1.6,
            w.wa <= 1.6,
        );
    }
    if let Some(w) = find(r, "static_cold_50") {
        let s = w.wear.spread;
        push(
            "static_cold_50: wear max/mean <= 1.10".into(),
            s,
            1.10,
            s <= 1.10,
        );
    }
    let g = &r.geometry;
    let need = if g.region_bytes >= 1 << 20 {
        0.90
    } else {
        0.85
    };
    let f = g.exported_fraction;
    push(
        format!("exported capacity >= {need} of the region"),
        f,
        need,
        f >= need,
    );
    let worst = r.workloads.iter().map(|w| &w.mount);
    let read = worst.clone().map(|m| m.region_fraction).fold(0.0, f64::max);
    push(
        "clean remount reads <= 5 % of the region".into(),
        read,
        0.05,
        read <= 0.05,
    );
    let writes = worst.map(|m| m.programs + m.erases).sum::<u64>() as f64;
    push(
        "clean remount programs + erases = 0".into(),
        writes,
        0.0,
        writes == 0.0,
    );
    t
}

fn print_human(r: &Report) {
    let g = &r.geometry;
    println!(
        "cowftl bench{}: {} {} KiB chip, {} units x {} B ({} slots/unit), reserve {}, {} blocks x {} B exported ({} KiB, {:.1}% of region), FTL RAM ~{} B",
        if r.quick { " --quick" } else { "" },
        g.preset,
        g.chip_bytes / 1024,
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.reserve_units,
        g.block_count,
        g.block_size,
        g.exported_bytes / 1024,
        100.0 * g.exported_fraction,
        g.ram_bytes
    );
    println!(
        "fill = live/exported blocks (fill raw = live/all slots, used by the greedy references)\n"
    );
    print_workloads(r);
    print_mounts(r);
    println!(
        "\nanalytic greedy reference at raw fill 0.5/0.8/0.9: {:.2}/{:.2}/{:.2}",
        analytic_greedy_wa(0.5),
        analytic_greedy_wa(0.8),
        analytic_greedy_wa(0.9)
    );
    println!("targets:");
    for t in &r.targets {
        println!(
            "  [{}] {}: measured {:.3}, limit {:.3}",
            if t.pass { "pass" } else { "MISS" },
            t.name,
            t.measured,
            t.limit
        );
    }
    println!("host time {:.1} s", r.host_seconds);
}

fn print_workloads(r: &Report) {
    println!(
        "{:<20} {:>5} {:>5} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}",
        "workload",
        "fill",
        "raw",
        "WA",
        "WAslot",
        "greedy",
        "WA/grd",
        "analyt",
        "er/MiB",
        "wear",
        "max/mean",
        "dev/op",
        "cpu/op"
    );
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for w in &r.workloads {
        println!(
            "{:<20} {:>5.2} {:>5.2} {:>7.3} {:>6.2} {:>6} {:>6} {:>7} {:>7.1} {:>8} {:>8.3} {:>9} {:>9}",
            w.name,
            w.fill_exported,
            w.fill_raw,
            w.wa,
            w.wa_slots,
            opt(w.greedy_sim_wa),
            opt(w.wa_vs_greedy_sim),
            opt(w.analytic_wa),
            w.erases_per_logical_mib,
            format!("{}/{:.0}/{}", w.wear.min, w.wear.mean, w.wear.max),
            w.wear.spread,
            fmt::fmt_ns(w.device_ns_per_op),
            fmt::fmt_ns(w.host_ns_per_op),
        );
    }
}

fn print_mounts(r: &Report) {
    println!("\nclean remount right after each workload:");
    println!(
        "{:<20} {:>10} {:>8} {:>7} {:>8} {:>10} {:>6} {:>10} {:>10}",
        "workload",
        "read",
        "% region",
        "reads",
        "programs",
        "programmed",
        "erases",
        "device",
        "host"
    );
    for w in &r.workloads {
        let m = &w.mount;
        println!(
            "{:<20} {:>10} {:>7.1}% {:>7} {:>8} {:>10} {:>6} {:>10} {:>10}",
            w.name,
            fmt::fmt_bytes(m.bytes_read),
            100.0 * m.region_fraction,
            m.read_ops,
            m.programs,
            fmt::fmt_bytes(m.bytes_programmed),
            m.erases,
            fmt::fmt_ns(m.device_ns as f64),
            fmt::fmt_ns(m.host_ns as f64),
        );
    }
}

fn plot(dir: &std::path::Path, r: &Report) -> Result<(), String> {
    use plotters::prelude::*;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let err = |e: &dyn std::fmt::Display| e.to_string();

    // WA versus fill (raw fill on the x axis).
    let uni: Vec<&Workload> = r
        .workloads
        .iter()
        .filter(|w| w.name.starts_with("uniform_"))
        .collect();
    let path = dir.join("wa_vs_fill.svg");
    {
        let root = SVGBackend::new(&path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let ymax = uni
            .iter()
            .map(|w| {
                w.wa.max(w.greedy_sim_wa.unwrap_or(0.0))
                    .max(w.analytic_wa.unwrap_or(0.0))
            })
            .fold(1.0, f64::max)
            * 1.1;
        let mut c = ChartBuilder::on(&root)
            .caption(
                "Write amplification vs fill (uniform random)",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.3f64..1.0f64, 0.0f64..ymax)
            .map_err(|e| err(&e))?;
        c.configure_mesh()
            .x_desc("fill (live / all slots)")
            .y_desc("WA")
            .draw()
            .map_err(|e| err(&e))?;
        let curve: Vec<(f64, f64)> = (30..=95)
            .map(|p| {
                let f = p as f64 / 100.0;
                (f, analytic_greedy_wa(f))
            })
            .filter(|p| p.1 <= ymax)
            .collect();
        c.draw_series(LineSeries::new(curve, &BLACK))
            .map_err(|e| err(&e))?
            .label("analytic greedy")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        let pts = |f: &dyn Fn(&Workload) -> Option<f64>| -> Vec<(f64, f64)> {
            uni.iter()
                .filter_map(|w| f(w).map(|v| (w.fill_raw, v)))
                .collect()
        };
        c.draw_series(LineSeries::new(pts(&|w| Some(w.wa)), RED.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label("cowftl (bytes)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        c.draw_series(
            pts(&|w| Some(w.wa))
                .into_iter()
                .map(|p| Circle::new(p, 4, RED.filled())),
        )
        .map_err(|e| err(&e))?;
        c.draw_series(LineSeries::new(
            pts(&|w| w.greedy_sim_wa),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label("greedy sim (same geometry)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        c.configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }

    // Wear histogram of the static-cold run.
    if let Some(w) = find(r, "static_cold_50").or(r.workloads.last()) {
        let path = dir.join("wear_histogram.svg");
        let root = SVGBackend::new(&path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let h = fmt::wear_histogram(&w.unit_wear, 16);
        let top = h.iter().map(|b| b.2).max().unwrap_or(1) as u32 + 1;
        let lo = h.first().map_or(0, |b| b.0);
        let hi = h.last().map_or(1, |b| b.1 + 1);
        let mut c = ChartBuilder::on(&root)
            .caption(
                format!("Unit wear histogram ({})", w.name),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0u32..top)
            .map_err(|e| err(&e))?;
        c.configure_mesh()
            .x_desc("erases")
            .y_desc("units")
            .draw()
            .map_err(|e| err(&e))?;
        c.draw_series(
            h.iter()
                .map(|&(a, b, n)| Rectangle::new([(a, 0), (b + 1, n as u32)], BLUE.filled())),
        )
        .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }

    // WA over time.
    let path = dir.join("wa_over_time.svg");
    {
        let root = SVGBackend::new(&path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let series: Vec<&Workload> = r
            .workloads
            .iter()
            .filter(|w| !w.wa_over_time.is_empty())
            .collect();
        let xmax = series
            .iter()
            .flat_map(|w| w.wa_over_time.iter().map(|p| p.0))
            .max()
            .unwrap_or(1) as f64;
        let ymax = series
            .iter()
            .flat_map(|w| w.wa_over_time.iter().map(|p| p.1))
            .fold(1.0, f64::max)
            * 1.1;
        let mut c = ChartBuilder::on(&root)
            .caption(
                "Write amplification over time (per chunk, warm-up included)",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)
            .map_err(|e| err(&e))?;
        c.configure_mesh()
            .x_desc("host writes")
            .y_desc("WA")
            .draw()
            .map_err(|e| err(&e))?;
        for (i, w) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            c.draw_series(LineSeries::new(
                w.wa_over_time.iter().map(|&(x, y)| (x as f64, y)),
                color,
            ))
            .map_err(|e| err(&e))?
            .label(w.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        c.configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(())
}
