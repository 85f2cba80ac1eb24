//! `cowftl torture`: random power-cut torture over many seeds (engine: `cowftl_sim::torture`).
//!
//! Each seed picks a part, a geometry, an FTL configuration and a workload, then cuts power
//! `--cuts` times at random points (also inside mount-time recovery), checking durability,
//! atomicity, prefix order and no-rollback against a model after every mount. A failing seed
//! is printed with the exact command that replays it (with `--trace`).
//!
//! `--boot-loop` (DESIGN.md contract 9, liveness): erasable parts only, each volume first
//! filled to at least 90 %, then at least 500 cuts per seed landing in mount, recovery and
//! the first operations after it (runs of consecutive cuts while booting); at the end one
//! clean mount must accept a write to every block and a clean mount must write nothing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl_sim::torture::{self, Failure, Options, Part, Summary};
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
    let opts = Options {
        cuts: args.cuts,
        part,
        trace: args.trace,
        boot_loop: args.boot_loop,
        setup: None,
    };
    // Panics (flash rule violations, FTL assertions) become failures of their seed; keep
    // their location, print nothing from the hook.
    std::panic::set_hook(Box::new(|info| {
        PANIC_AT.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    println!(
        "cowftl torture{}: {} seeds from {:#x}, {} cuts each, part {}, {} job(s)",
        if args.boot_loop { " --boot-loop" } else { "" },
        args.seeds,
        args.seed,
        opts.cuts_per_seed(),
        args.preset,
        args.jobs
    );
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
    let t0 = Instant::now();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let total = Mutex::new(Summary::default());
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.jobs {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.seeds {
                    break;
                }
                let seed = args.seed.wrapping_add(i);
                match torture::run_seed_catching(seed, &opts) {
                    Ok(sum) => {
                        let mut t = total.lock().unwrap();
                        t.add(&sum);
                        pb.set_message(format!("{} cuts, 0 violations", t.cuts));
                    }
                    Err(mut f) => {
                        if let Some(at) = PANIC_AT.with(|p| p.borrow_mut().take()) {
                            f.message = format!("{}\n  {at}", f.message);
                        }
                        pb.suspend(|| report(&f, &args));
                        failures.lock().unwrap().push(f);
                        if !args.keep_going {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    let _ = std::panic::take_hook();
    let t = total.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "torture: {} seeds, {} power cuts ({} during mount recovery), {} mounts checked, \
         {} acknowledged ops, {} interrupted ops landed, {} reads checked, {} flash ops, \
         {} violations, {:.1} s ({:.0} cuts/s)",
        t.seeds,
        t.cuts,
        t.mount_cuts,
        t.mounts,
        t.acked,
        t.landed,
        t.reads,
        t.flash_ops,
        failures.len(),
        secs,
        t.cuts as f64 / secs.max(1e-9)
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failing seed(s)", failures.len()))
    }
}

fn report(f: &Failure, args: &Args) {
    eprintln!("FAIL {f}");
    let preset = if args.preset == "random" {
        String::new()
    } else {
        format!(" --preset {}", args.preset)
    };
    let boot_loop = if args.boot_loop { " --boot-loop" } else { "" };
    eprintln!(
        "replay: cargo run --release -p cowftl-sim --bin cowftl -- torture --seed {:#x} --seeds 1 --cuts {}{preset}{boot_loop} --trace",
        f.seed, args.cuts
    );
}
