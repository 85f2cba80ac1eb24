//! `cowftl`: the command-line tool. One module per subcommand; this file only parses
//! arguments and dispatches.

use clap::{Parser, Subcommand};

mod bench;
mod common;
mod compare;
mod demo;
mod fmt;
mod image;
mod inspect;
mod torture;

#[derive(Parser)]
#[command(
    name = "cowftl",
    version,
    about = "cowftl flash translation layer: demo, benchmarks, torture, images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Subcommands are added here, one variant per module (demo, bench, compare, torture,
    // image, inspect). Keep each variant's arguments in its own module's `Args` struct.
    /// Format a simulated chip, run a mixed workload, cut power mid-write, remount, verify.
    Demo(demo::Args),
    /// Benchmarks: write amplification, erases, wear, device/host time, mount cost, RAM.
    Bench(bench::Args),
    /// Same workload on cowftl, sequential-storage and littlefs2 (build with `--features peers`).
    Compare(compare::Args),
    /// Build a flash image of an FTL region (optionally with a FAT volume filled from a directory).
    Image(image::Args),
    /// Check an FTL region image: units, wear, sequences, map, CRCs (an fsck; writes only with --repair).
    Inspect(inspect::Args),
    /// Random power-cut torture: many seeds, random parts/geometries/workloads, cuts anywhere.
    Torture(torture::Args),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Image(a) => image::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Torture(a) => torture::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
