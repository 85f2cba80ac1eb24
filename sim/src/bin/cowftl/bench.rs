//! `cowftl bench` (work in progress).

use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Small and fast run.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(_args: Args) -> Result<(), String> {
    Err("not implemented yet".into())
}
