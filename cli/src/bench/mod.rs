//! `cowftl bench`: write amplification, erases, wear, modelled device time, host CPU time, mount
//! cost and RAM for a set of workloads, beside two greedy-GC references (analytic and simulated on
//! the same geometry). Human table by default, `--json`, `--plot DIR` for SVG charts.

//!
//! One module per job: [`workload`] runs one workload and measures it, [`greedy`] computes the
//! references, [`report`] holds the results (the JSON shape), [`targets`] checks them against
//! the targets, [`print`] and [`plot`] show them; [`txn`] and [`snap`] measure what a
//! transaction and a snapshot cost.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl::Config;
use cowftl_testkit::Part;

use crate::common::{self, SimFtl};

mod greedy;
mod layout_model;
mod map_model;
mod plot;
mod print;
mod report;
mod snap;
mod targets;
mod txn;
mod workload;

use map_model::{MapPolicy, Runs};
use report::Report;
use workload::Kind;

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
    /// Collect ahead (`Config::gc_ahead`): lower worst-case write latency for more WA.
    #[arg(long)]
    pub gc_ahead: bool,
    /// Overwrites in the measured phase, as multiples of the live set (default 20, 5 with --quick).
    #[arg(long)]
    pub passes: Option<u32>,
    /// Seed for the workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead of the benchmark, run the slot-level model of the block map kept on flash
    /// (docs/MAP-ON-FLASH.md; a proposal, not built) on this geometry: WA for RAM caches of
    /// 8 to 64 map pages against the map in RAM.
    #[arg(long)]
    pub map_model: bool,
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
    let mut cfg = common::config(size, args.unit_size, args.reserve);
    cfg.gc_ahead = args.gc_ahead;
    if args.map_model {
        return map_model_table(args.preset.spec(size), cfg, &args);
    }
    let mut report = bench_all(args.preset.spec(size), cfg, &args, size)?;
    report.host_seconds = t0.elapsed().as_secs_f64();
    report.targets = targets::targets(&report);
    if let Some(dir) = &args.plot {
        plot::plot(dir, &report)?;
    }
    if args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{s}");
    } else {
        print::print_human(&report);
        if let Some(dir) = &args.plot {
            println!("charts written to {}", dir.display());
        }
    }
    Ok(())
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
                workloads.push(workload::one(
                    &mut flash, cfg, &geo, name, kind, fill, passes, args.seed,
                )?);
            }
            let txns = txn::costs(&mk, cfg)?;
            let snaps = snap::costs(&mk, cfg, passes, args.seed)?;
            Ok::<_, String>((geo, workloads, txns, snaps))
        }};
    }
    let (geo, workloads, transactions, snapshots) = match args.preset {
        Part::Stm32l476 => go!(cowftl_sim::Stm32L476Flash)?,
        Part::W25q128 => go!(cowftl_sim::W25q128Flash)?,
        p => return Err(format!("part {} is not simulated here", p.name())),
    };
    Ok(Report {
        quick: args.quick,
        seed: args.seed,
        gc_ahead: args.gc_ahead,
        geometry: report::geometry_out(&geo, args.preset, size),
        workloads,
        transactions,
        snapshots,
        targets: Vec::new(),
        host_seconds: 0.0,
    })
}

/// `--map-model`: the map-on-flash model (bench/map_model.rs) on the bench's geometry, for
/// uniform random writes at 50 and 80 % fill, hot/cold at 80 % and sequential rewrites.
fn map_model_table(spec: cowftl_sim::PartSpec, cfg: Config, args: &Args) -> Result<(), String> {
    let geo = cowftl::Geometry::new(
        &cfg,
        spec.capacity,
        spec.read_size,
        spec.write_size,
        spec.erase_size,
        usize::MAX,
        usize::MAX,
    )
    .map_err(|e| format!("geometry: {e}"))?;
    // A page is one block of 4-byte entries, less its header (content version, page index):
    // 12 bytes (docs/MAP-ON-FLASH.md, "On flash").
    let entries = geo.block_size / 4 - 3;
    let pages = geo.block_count.div_ceil(entries);
    let passes = u64::from(args.passes.unwrap_or(if args.quick { 2 } else { 5 }));
    println!(
        "map-on-flash model (docs/MAP-ON-FLASH.md, not built): {} units x {} slots, {} blocks, \
         {} entries per page, {} pages, roots of 6 records; slot WA over {} passes; cache: a \
         checkpoint every 4096 writes; runs B x R: B changes per run, a merge every R runs \
         (then a root); root N: a root of N records after every run that does not finish a \
         merge; slice S: a merge rewrites S pages after each run until done; early N: the run \
         written N changes before the buffer is full; held N: units held for map writers \
         (review rule 1)",
        geo.unit_count, geo.slots_per_unit, geo.block_count, entries, pages, passes
    );
    println!(
        "{:<20} {:<44} {:>7} {:>7} {:>8} {:>6} {:>8} {:>8}",
        "workload", "map kept as", "RAM B", "WA ram", "WA flash", "ratio", "map/wr", "hit rate"
    );
    let runs: &[(&str, Kind, f64)] = &[
        ("uniform_50", Kind::Uniform, 0.5),
        ("uniform_80", Kind::Uniform, 0.8),
        ("hotcold_90_10_at_80", Kind::HotCold, 0.8),
        ("sequential_80", Kind::Sequential, 0.8),
    ];
    for &(name, kind, fill) in runs {
        let live = (f64::from(geo.block_count) * fill) as u32;
        let picker = workload::Picker::new(kind, live);
        let pick = |rng: &mut cowftl_sim::SplitMix64, i: u64| match kind {
            Kind::Sequential => (i % u64::from(live)) as u32,
            _ => picker.pick(rng),
        };
        let model = |policy| map_model::MapModel {
            layout: layout_model::LayoutModel {
                units: geo.unit_count as usize,
                slots: geo.slots_per_unit as usize,
                headroom: geo.gc_headroom(0) as usize,
                streams: geo.streams(),
                live,
            },
            blocks: geo.block_count,
            entries_per_page: entries,
            policy,
            root_records: 6,
        };
        let measured = passes * u64::from(live);
        let ram = model(MapPolicy::Ram).run(measured, args.seed, pick);
        for (policy, ram_bytes) in policies(&geo, pages) {
            let r = model(policy).run(measured, args.seed, pick);
            println!(
                "{name:<20} {:<44} {ram_bytes:>7} {:>7.3} {:>8.3} {:>6.3} {:>8.3} {:>8}",
                describe(policy),
                ram.wa,
                r.wa,
                r.wa / ram.wa,
                r.map_writes,
                match policy {
                    MapPolicy::Cache { .. } => format!("{:.3}", r.hit_rate),
                    _ => "-".into(),
                }
            );
        }
    }
    Ok(())
}

/// The map policies `--map-model` compares, each with its RAM: the page directory (4 B per
/// page), the policy's own buffers, the unit table (20 B per unit) and the fixed part.
fn policies(geo: &cowftl::Geometry, pages: u32) -> Vec<(MapPolicy, u32)> {
    let page = geo.block_size + 8;
    let base = 4 * pages + 20 * geo.unit_count + 420;
    // A delta is 8 bytes (block, location); a record holds a block of them less its
    // 16-byte header (content version, run, part, parts).
    let per_record = (geo.block_size - 16) / 8;
    let mut out = Vec::new();
    for c in [8u32, 16, 32] {
        let policy = MapPolicy::Cache {
            pages: c as usize,
            checkpoint_every: 4096,
        };
        out.push((policy, base + c * page));
    }
    // (B, R, root records after every run, merge slice, reviewed): runs alone; then the
    // design as the second review fixed it (docs/MAP-ON-FLASH.md, "Review of the runs
    // design"): a full root (6 records) after every run, merges in slices of a unit's slots,
    // the run written `n` changes early, one unit held for map writers.
    // The reviewed rows add its rules one at a time, so that each one's cost shows.
    let n = geo.slots_per_unit;
    let variants = [
        (512u32, 8u32, 0u32, 0u32, 0u32, 0u32),
        (512, 16, 0, 0, 0, 0),
        (1024, 16, 0, 0, 0, 0),
        (512, 16, 6, 0, 0, 0),
        (512, 16, 6, n, 0, 0),
        (512, 16, 6, n, n, 0),
        (512, 16, 6, n, n, 1),
        // The largest buffer whose run and root fit one transaction of 16 records.
        (620, 16, 6, n, n, 1),
    ];
    for (buffer, runs, incremental_root, merge_slice, early, held) in variants {
        let policy = Runs {
            buffer,
            per_record,
            runs,
            incremental_root,
            merge_slice,
            reserve_changes: early,
            map_reserve_units: held,
        };
        // The buffer, one page buffer for lookups and merges, the first-page index of every
        // run live at once (more while a sliced merge's runs wait for its last slice).
        let index = 4 * policy.records() * policy.most_live_runs(pages);
        out.push((MapPolicy::Runs(policy), base + 8 * buffer + page + index));
    }
    out
}

fn describe(p: MapPolicy) -> String {
    match p {
        MapPolicy::Ram => "RAM".into(),
        MapPolicy::Cache { pages, .. } => format!("cache {pages} pages"),
        MapPolicy::Runs(r) => {
            let mut s = format!("runs {} x {}", r.buffer, r.runs);
            if r.incremental_root > 0 {
                s += &format!(", root {}", r.incremental_root);
            }
            if r.merge_slice > 0 {
                s += &format!(", slice {}", r.merge_slice);
            }
            if r.reserve_changes > 0 {
                s += &format!(", early {}", r.reserve_changes);
            }
            if r.map_reserve_units > 0 {
                s += &format!(", held {}", r.map_reserve_units);
            }
            s
        }
    }
}
