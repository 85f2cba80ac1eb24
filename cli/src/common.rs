//! Shared by the subcommands: the FTL type used on the host, its configuration, the part
//! arguments (from the test kit's catalog) and size parsing.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use cowftl::{Config, Ftl};
use cowftl_sim::SimFlash;
use cowftl_testkit::Part;

/// Host-side FTL capacities: plenty for any simulated chip the CLI builds (RAM is not the
/// constraint on the host; the `ram_bytes` reported by `bench` uses the geometry's real needs).
pub const MAX_UNITS: usize = 2048;
pub const MAX_BLOCKS: usize = 32768;

pub type SimFtl<'a, const R: usize, const W: usize, const E: usize> =
    Ftl<&'a mut SimFlash<R, W, E>, MAX_UNITS, MAX_BLOCKS>;

/// Snapshots a [`SnapFtl`] keeps (`bench` holds one, `demo` takes one).
pub const SNAPSHOTS: usize = 2;

/// [`SimFtl`] with snapshot slots (each costs 4 bytes per block of RAM).
pub type SnapFtl<'a, const R: usize, const W: usize, const E: usize> =
    Ftl<&'a mut SimFlash<R, W, E>, MAX_UNITS, MAX_BLOCKS, SNAPSHOTS>;

/// Parts `demo` and `bench` simulate (a whole chip of any size).
pub const SIM_PARTS: [Part; 2] = [Part::Stm32l476, Part::W25q128];
/// Real chips `image` builds for and `inspect` reads (datasheet geometry).
pub const IMAGE_CHIPS: [Part; 4] = [
    Part::Stm32l476,
    Part::Stm32f411,
    Part::Stm32h743,
    Part::W25q128,
];

/// A clap parser accepting the command-line names of `parts` (listed in `--help`).
pub fn part_arg(parts: &'static [Part]) -> impl TypedValueParser<Value = Part> {
    PossibleValuesParser::new(parts.iter().map(|p| p.name()))
        .map(|s| Part::from_name(&s).expect("the parser only accepts catalog names"))
}

/// Call `$body` with `$flash` bound to a fresh `SimFlash` of the right type for `$part` (one of
/// [`SIM_PARTS`]; any other part is an error).
#[macro_export]
macro_rules! with_flash {
    ($part:expr, $capacity:expr, $seed:expr, |$flash:ident| $body:expr) => {{
        let spec = $part.spec($capacity);
        match $part {
            cowftl_testkit::Part::Stm32l476 => {
                let mut $flash = cowftl_sim::Stm32L476Flash::new(spec, $seed);
                $body
            }
            cowftl_testkit::Part::W25q128 => {
                let mut $flash = cowftl_sim::W25q128Flash::new(spec, $seed);
                $body
            }
            p => Err(format!("part {} is not simulated here", p.name())),
        }
    }};
}

/// `--size` must be a whole number of erase units of `part`.
pub fn check_size(part: Part, size: usize) -> Result<(), String> {
    if size % part.erase_size() != 0 {
        return Err(format!(
            "--size must be a multiple of the {} erase size ({} bytes)",
            part.label(),
            part.erase_size()
        ));
    }
    Ok(())
}

/// FTL configuration for a region covering the whole simulated chip.
pub fn config(capacity: usize, unit_size: Option<u32>, reserve: Option<u32>) -> Config {
    let mut cfg = Config::new(0, capacity as u32);
    cfg.unit_size = unit_size;
    if let Some(r) = reserve {
        cfg.reserve_units = r;
    }
    cfg
}

/// Parse a size such as `256K`, `1M`, `4096`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: usize = num
        .trim_end_matches(['i', 'B'])
        .parse()
        .map_err(|_| format!("invalid size `{s}` (use e.g. 4096, 256K, 1M)"))?;
    n.checked_mul(mul)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("invalid size `{s}`"))
}
