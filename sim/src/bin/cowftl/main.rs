//! `cowftl`: the command-line tool. One module per subcommand; this file only parses
//! arguments and dispatches.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cowftl", version, about = "cowftl flash translation layer: demo, benchmarks, torture, images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Subcommands are added here, one variant per module (demo, bench, compare, torture,
    // image, inspect). Keep each variant's arguments in its own module's `Args` struct.
}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {};
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
