//! `cowftl compare`: cowftl beside sequential-storage and littlefs2 (feature `peers`) on the
//! same workload: records of 512 B keyed by number, written once, then uniform random updates.
//! For each store and part, a sweep of fills from 0.25 up to where the store runs out of space
//! gives its capacity (the largest fill that completes) and, per fill, write amplification,
//! modelled device time and host time per update.
//!
//! Definitions (also in the JSON): fill = live user bytes / region bytes, so stores with
//! different overheads are compared on the same user data; WA = flash bytes programmed / user
//! bytes written, over the measured updates only.
//!
//! One module per job: [`flash`] shares a simulated chip between a store and the counters,
//! [`sweep`] runs a point and a sweep, [`stores`] (and `peers`) set up each store, [`print`]
//! and [`plot`] show the results.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use cowftl_testkit::Part;
use serde::Serialize;

mod flash;
#[cfg(feature = "peers")]
mod peers;
mod plot;
mod print;
mod stores;
mod sweep;

use stores::Store;
use sweep::{Grid, Plan, Sweep};

/// Every store's record size: cowftl's default block, the peers' value size.
pub const RECORD: usize = 512;
/// The region every store gets: the NUCLEO-L476's 256 KiB FTL region.
pub const REGION: usize = 256 * 1024;
/// The parts swept: the L476's internal flash (2 KiB pages, 8-byte ECC words programmed once)
/// and a W25Q-style SPI NOR (4 KiB sectors, byte programs).
const PARTS: [Part; 2] = [Part::Stm32l476, Part::W25q128];

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Coarser sweep, fewer updates per fill (seconds to a minute).
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG of WA and device time per update against fill, for every store and part.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Measured updates per fill (default 4 per record slot of the region, 1 with --quick).
    #[arg(long)]
    pub updates: Option<u64>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// What `--json` prints.
#[derive(Serialize, Debug)]
pub struct Out {
    pub region_bytes: usize,
    pub record_bytes: usize,
    pub fill_definition: &'static str,
    pub wa_definition: &'static str,
    pub workload: &'static str,
    pub warm_updates: u64,
    pub measured_updates: u64,
    pub quick: bool,
    pub seed: u64,
    pub peers_built: bool,
    pub parts: Vec<PartOut>,
}

#[derive(Serialize, Debug)]
pub struct PartOut {
    pub part: &'static str,
    pub erase_bytes: usize,
    pub stores: Vec<StoreOut>,
}

#[derive(Serialize, Debug)]
pub struct StoreOut {
    pub name: &'static str,
    pub config: &'static str,
    #[serde(flatten)]
    pub sweep: Sweep,
}

pub fn run(args: Args) -> Result<(), String> {
    if args.updates == Some(0) {
        return Err("--updates must be at least 1".into());
    }
    let slots = (REGION / RECORD) as u64;
    // Warm-up rewrites the region twice over (once with --quick): enough for every store's
    // garbage collection to reach its steady state before anything is measured.
    let warm = if args.quick { slots } else { 2 * slots };
    let measured = args
        .updates
        .unwrap_or(if args.quick { slots } else { 4 * slots });
    let grid = if args.quick {
        Grid {
            step: 0.15,
            resolution: 4,
        }
    } else {
        Grid {
            step: 0.05,
            resolution: 1,
        }
    };
    let mut out = Out {
        region_bytes: REGION,
        record_bytes: RECORD,
        fill_definition: "live user bytes (records x record_bytes) / region bytes",
        wa_definition: "flash bytes programmed / user bytes written, measured updates only",
        workload: "write every record once, warm_updates then measured_updates uniform random \
                   updates of whole records; a fill completes if every write succeeds",
        warm_updates: warm,
        measured_updates: measured,
        quick: args.quick,
        seed: args.seed,
        peers_built: cfg!(feature = "peers"),
        parts: Vec::new(),
    };
    for part in PARTS {
        out.parts
            .push(sweep_part(part, grid, warm, measured, args.seed));
    }
    if let Some(path) = &args.plot {
        plot::plot(path, &out)?;
    }
    if args.json {
        let s = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        println!("{s}");
    } else {
        print::print_human(&out);
    }
    Ok(())
}

/// Sweep every store on `part`; progress goes to stderr.
fn sweep_part(part: Part, grid: Grid, warm: u64, measured: u64, seed: u64) -> PartOut {
    let stores = Store::all()
        .into_iter()
        .map(|store| {
            let s = sweep::sweep(grid, REGION, |records| {
                let plan = Plan {
                    records,
                    warm,
                    measured,
                    seed,
                };
                store.point(part, REGION, &plan)
            });
            eprintln!(
                "compare: {} on {}: max fill {:.3} ({} fills measured)",
                store.name(),
                part.label(),
                s.max_fill,
                s.points.len()
            );
            StoreOut {
                name: store.name(),
                config: store.config(),
                sweep: s,
            }
        })
        .collect();
    PartOut {
        part: part.label(),
        erase_bytes: part.erase_size(),
        stores,
    }
}
