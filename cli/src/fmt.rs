//! Report formatting shared by `demo`, `bench` and `compare`: simple statistics, a text
//! histogram of unit wear, and human units for times and sizes.

/// (min, mean, max) of `u32` samples; (0, 0.0, 0) when there are none.
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
