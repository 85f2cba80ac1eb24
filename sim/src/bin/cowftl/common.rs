//! Shared helpers for `demo`, `bench` and `compare`: presets, the FTL type used on the host,
//! deterministic data patterns, a model of acknowledged contents, and formatting.

use clap::ValueEnum;
use cowftl::{Config, Ftl};
use cowftl_sim::{presets, PartSpec, SimFlash, SplitMix64};

/// Host-side FTL capacities: plenty for any simulated chip the CLI builds (RAM is not the
/// constraint on the host; the `ram_bytes` reported by `bench` uses the geometry's real needs).
pub const MAX_UNITS: usize = 2048;
pub const MAX_BLOCKS: usize = 32768;

pub type SimFtl<'a, const R: usize, const W: usize, const E: usize> =
    Ftl<&'a mut SimFlash<R, W, E>, MAX_UNITS, MAX_BLOCKS>;

/// Parts the CLI can simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// STM32L476: 2 KiB pages, 8-byte ECC words (one program per word).
    Stm32l476,
    /// W25Q128-style SPI NOR: 4 KiB sectors, byte writes.
    W25q128,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Stm32l476 => "STM32L476",
            Preset::W25q128 => "W25Q128",
        }
    }

    pub fn spec(self, capacity: usize) -> PartSpec {
        match self {
            Preset::Stm32l476 => presets::stm32l476(capacity),
            Preset::W25q128 => presets::w25q128(capacity),
        }
    }

    pub fn erase_size(self) -> usize {
        match self {
            Preset::Stm32l476 => 2048,
            Preset::W25q128 => 4096,
        }
    }
}

/// Call `$body` with `$flash` bound to a fresh `SimFlash` of the right type for `$preset`.
#[macro_export]
macro_rules! with_flash {
    ($preset:expr, $capacity:expr, $seed:expr, |$flash:ident| $body:expr) => {{
        let spec = $preset.spec($capacity);
        match $preset {
            $crate::common::Preset::Stm32l476 => {
                let mut $flash = cowftl_sim::Stm32L476Flash::new(spec, $seed);
                $body
            }
            $crate::common::Preset::W25q128 => {
                let mut $flash = cowftl_sim::W25q128Flash::new(spec, $seed);
                $body
            }
        }
    }};
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

/// Deterministic block contents for `(lba, version)`; version 0 is "reads as zeros".
pub fn pattern(lba: u32, version: u64, buf: &mut [u8]) {
    if version == 0 {
        buf.fill(0);
        return;
    }
    let mut r =
        SplitMix64::new((u64::from(lba) << 40) ^ version.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for chunk in buf.chunks_mut(8) {
        let v = r.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// What every logical block must read back: the version last acknowledged (0 = zeros).
#[derive(Clone, Debug)]
pub struct Model {
    pub versions: Vec<u64>,
    next: u64,
}

impl Model {
    pub fn new(blocks: u32) -> Self {
        Model {
            versions: vec![0; blocks as usize],
            next: 1,
        }
    }
    /// A fresh version number for the next write.
    pub fn next_version(&mut self) -> u64 {
        let v = self.next;
        self.next += 1;
        v
    }
}

/// Nearest-rank percentile helpers and simple statistics over `u32` samples.
pub fn min_mean_max(xs: impl IntoIterator<Item = u32>) -> (u32, f64, u32) {
    let (mut min, mut max, mut sum, mut n) = (u32::MAX, 0u32, 0u64, 0u64);
    for x in xs {
        min = min.min(x);
        max = max.max(x);
        sum += u64::from(x);
        n += 1;
    }
    if n == 0 {
        return (0, 0.0, 0);
    }
    (min, sum as f64 / n as f64, max)
}

/// A text histogram of unit wear: `bins` buckets between min and max.
pub fn wear_histogram(wear: &[u32], bins: usize) -> Vec<(u32, u32, usize)> {
    let (min, _, max) = min_mean_max(wear.iter().copied());
    let bins = bins.max(1);
    let width = ((max - min) as usize).div_ceil(bins).max(1) as u32;
    let mut out: Vec<(u32, u32, usize)> = (0..bins as u32)
        .map(|i| (min + i * width, min + (i + 1) * width - 1, 0))
        .take_while(|(lo, _, _)| *lo <= max)
        .collect();
    for &w in wear {
        let i = ((w - min) / width) as usize;
        let last = out.len() - 1;
        out[i.min(last)].2 += 1;
    }
    out
}

pub fn print_histogram(wear: &[u32], bins: usize) {
    let h = wear_histogram(wear, bins);
    let top = h.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for (lo, hi, n) in h {
        let bar = "#".repeat((n * 40).div_ceil(top));
        println!("    {lo:>6}-{hi:<6} {n:>5} {bar}");
    }
}

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
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
