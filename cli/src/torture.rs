//! `cowftl torture`: random power-cut torture over many seeds (engine: `cowftl_testkit::torture`).
//!
//! Each seed picks a part, a geometry, an FTL configuration and a workload, then cuts power
//! `--cuts` times at random points (also inside mount-time recovery), checking durability,
//! atomicity, prefix order and no-rollback against a model after every mount. A failing seed
//! is printed with the exact command that replays it (with `--trace`).
//!
//! `--map flash` runs the same engine on volumes whose block map lives on flash (`OnFlash`,
//! docs/MAP-ON-FLASH.md): setups the mode accepts, no snapshot operations, no `revert_all`.
//!
//! `--boot-loop` (docs/DESIGN.md contract 9, liveness): erasable parts only, each volume first
//! filled to at least 90 %, then at least 500 cuts per seed landing in mount, recovery and
//! the first operations after it (runs of consecutive cuts while booting); at the end one
//! clean mount must accept a write to every block and a clean mount must write nothing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl_testkit::torture::{self, Failure, MapKind, Options, Summary};
use cowftl_testkit::Part;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Number of seeds to run (each is an independent volume and workload).
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// First seed (seeds `seed .. seed + seeds` run).
    #[arg(long, default_value = "1", value_parser = parse_u64)]
    pub seed: u64,
    /// Power cuts per seed (with --boot-loop: at least 500).
    #[arg(long, default_value_t = 20)]
    pub cuts: u32,
    /// Brown-out boot loop: fill to >= 90 %, then >= 500 cuts per seed in mount, recovery and
    /// the first operations after it; then every block must take a write (liveness).
    #[arg(long)]
    pub boot_loop: bool,
    /// Part: random (per seed), stm32l476, w25q128, stm32h743, stm32f411, tiny, worm.
    #[arg(long, default_value = "random")]
    pub preset: String,
    /// Block map: ram (`Ftl<_, U, B, S>`, every setup, snapshots and revert_all) or flash
    /// (`OnFlash`, docs/MAP-ON-FLASH.md: erasable parts, 256-512-byte blocks, units of 17-40
    /// slots, no snapshots, no revert_all; the valid counts recounted after every mount).
    #[arg(long, default_value = "ram")]
    pub map: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Print every step of every seed to stderr (use with one seed to replay a failure).
    #[arg(long)]
    pub trace: bool,
    /// Keep running after a failure (default: stop at the first one).
    #[arg(long)]
    pub keep_going: bool,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad number {s:?}: {e}"))
}

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub fn run(args: Args) -> Result<(), String> {
    let opts = options(&args)?;
    // Panics (flash rule violations, FTL assertions) become failures of their seed; keep
    // their location, print nothing from the hook.
    std::panic::set_hook(Box::new(|info| {
        PANIC_AT.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    println!(
        "cowftl torture{}: {} seeds from {:#x}, {} cuts each, part {}, {} job(s){}",
        if args.boot_loop { " --boot-loop" } else { "" },
        args.seeds,
        args.seed,
        opts.cuts_per_seed(),
        args.preset,
        args.jobs,
        match opts.map {
            MapKind::Ram => String::new(),
            MapKind::Flash => format!(
                ", map on flash (OnFlash<{}, {}, {}, {}>)",
                torture::MAP_PAGES,
                torture::MAP_CHANGES,
                torture::MAP_RUNS,
                torture::MAP_DELTAS,
            ),
        }
    );
    let t0 = Instant::now();
    let (total, failures) = run_seeds(&args, &opts);
    let _ = std::panic::take_hook();
    print_total(&total, failures.len(), t0.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failing seed(s)", failures.len()))
    }
}

/// The engine's options from the arguments (checked).
fn options(args: &Args) -> Result<Options, String> {
    let part = match args.preset.as_str() {
        "random" => None,
        p => Some(Part::from_name(p).ok_or_else(|| {
            format!(
                "unknown --preset {p:?} (random, {})",
                Part::ALL.map(|p| p.name()).join(", ")
            )
        })?),
    };
    if args.seeds == 0 || args.cuts == 0 || args.jobs == 0 {
        return Err("--seeds, --cuts and --jobs must be at least 1".into());
    }
    if args.boot_loop && part == Some(Part::Worm) {
        return Err("--boot-loop needs an erasable part (not worm)".into());
    }
    let map = MapKind::from_name(&args.map)
        .ok_or_else(|| format!("unknown --map {:?} (ram, flash)", args.map))?;
    if map == MapKind::Flash && part == Some(Part::Worm) {
        return Err("--map flash needs an erasable part (the flash map refuses worm)".into());
    }
    Ok(Options {
        cuts: args.cuts,
        part,
        trace: args.trace,
        boot_loop: args.boot_loop,
        setup: None,
        map,
    })
}

fn progress_bar(args: &Args) -> ProgressBar {
    let pb = if args.quiet || args.trace {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.seeds)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg} (eta {eta})",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    pb
}

/// What the worker threads share: the next seed index, the stop flag and the results.
struct Shared<'a> {
    args: &'a Args,
    opts: &'a Options,
    pb: ProgressBar,
    next: AtomicU64,
    stop: AtomicBool,
    total: Mutex<Summary>,
    failures: Mutex<Vec<Failure>>,
}

/// Run every seed on `--jobs` threads; the summed counters and the failures.
fn run_seeds(args: &Args, opts: &Options) -> (Summary, Vec<Failure>) {
    let sh = Shared {
        args,
        opts,
        pb: progress_bar(args),
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        total: Mutex::new(Summary::default()),
        failures: Mutex::new(Vec::new()),
    };
    std::thread::scope(|s| {
        for _ in 0..args.jobs {
            s.spawn(|| worker(&sh));
        }
    });
    sh.pb.finish_and_clear();
    (
        sh.total.into_inner().unwrap(),
        sh.failures.into_inner().unwrap(),
    )
}

/// Take seeds until they run out (or a failure stops the run without `--keep-going`).
fn worker(sh: &Shared<'_>) {
    while !sh.stop.load(Ordering::Relaxed) {
        let i = sh.next.fetch_add(1, Ordering::Relaxed);
        if i >= sh.args.seeds {
            break;
        }
        let seed = sh.args.seed.wrapping_add(i);
        match torture::run_seed_catching(seed, sh.opts) {
            Ok(sum) => {
                let mut t = sh.total.lock().unwrap();
                t.add(&sum);
                sh.pb.set_message(format!("{} cuts, 0 violations", t.cuts));
            }
            Err(mut f) => {
                if let Some(at) = PANIC_AT.with(|p| p.borrow_mut().take()) {
                    f.message = format!("{}\n  {at}", f.message);
                }
                sh.pb.suspend(|| report(&f, sh.args));
                sh.failures.lock().unwrap().push(f);
                if !sh.args.keep_going {
                    sh.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        sh.pb.inc(1);
    }
}

fn print_total(t: &Summary, violations: usize, secs: f64) {
    println!(
        "torture: {} seeds, {} power cuts ({} during mount recovery), {} mounts checked, \
         {} acknowledged ops ({} transactions), {} interrupted ops landed, {} reads checked, {} flash ops, \
         snapshots: {} taken, {} rollbacks, {} deleted, {} snapshot blocks checked, {} refusals checked, \
         {} violations, {:.1} s ({:.0} cuts/s)",
        t.seeds,
        t.cuts,
        t.mount_cuts,
        t.mounts,
        t.acked,
        t.txns,
        t.landed,
        t.reads,
        t.flash_ops,
        t.snapshots,
        t.rollbacks,
        t.snap_deletes,
        t.snap_reads,
        t.refusals,
        violations,
        secs,
        t.cuts as f64 / secs.max(1e-9)
    );
}

fn report(f: &Failure, args: &Args) {
    eprintln!("FAIL {f}");
    let preset = if args.preset == "random" {
        String::new()
    } else {
        format!(" --preset {}", args.preset)
    };
    let boot_loop = if args.boot_loop { " --boot-loop" } else { "" };
    let map = match args.map.as_str() {
        "ram" => "",
        _ => " --map flash",
    };
    eprintln!(
        "replay: cargo run --release -p cowftl-cli --bin cowftl -- torture --seed {:#x} --seeds 1 --cuts {}{preset}{boot_loop}{map} --trace",
        f.seed, args.cuts
    );
}
