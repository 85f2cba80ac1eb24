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
use cowftl::{Config, RamMap};
use cowftl_testkit::Part;

use crate::common::{self, SimFtl};

mod greedy;
mod layout_model;
mod map_bench;
mod map_model;
mod map_table;
mod plot;
mod print;
mod report;
mod snap;
mod targets;
mod txn;
mod workload;

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
    /// Where the block map lives: `ram` (today's mode, the benchmark above) or `flash`
    /// (issue 14, being built: the flash map against the RAM map on sequential and uniform
    /// writes; default 5 passes, 2 with --quick).
    #[arg(long, value_parser = ["ram", "flash"], default_value = "ram")]
    pub map: String,
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
        return map_table::print(args.preset.spec(size), cfg, &args);
    }
    if args.map == "flash" {
        let r = map_bench::run(&args, size, cfg)?;
        match args.json {
            true => println!(
                "{}",
                serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
            ),
            false => {
                map_bench::print(&r);
                println!("host time {:.1} s", t0.elapsed().as_secs_f64());
            }
        }
        return Ok(());
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
                let mode = workload::Mode::<{ common::MAX_BLOCKS }, RamMap>::new();
                workloads.push(workload::one(
                    &mut flash, mode, cfg, &geo, name, kind, fill, passes, args.seed,
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
