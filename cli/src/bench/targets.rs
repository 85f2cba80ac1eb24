//! The targets of the core-v3 issue, checked on a bench report.

use super::report::{find, Report, Target};

/// WA within 1.10x the greedy simulation, hot/cold 90/10 at 80 % at most 1.6, static-cold
/// wear spread at most 1.10, exported capacity (0.85 of a 256 KiB region, 0.90 of 1 MiB), a
/// clean remount that writes nothing and reads at most 5 % of the region.
pub fn targets(r: &Report) -> Vec<Target> {
    let mut t = Vec::new();
    wa_and_wear(r, &mut t);
    capacity_and_mount(r, &mut t);
    t
}

fn target(name: impl Into<String>, measured: f64, limit: f64, pass: bool) -> Target {
    Target {
        name: name.into(),
        measured,
        limit,
        pass,
    }
}

fn wa_and_wear(r: &Report, t: &mut Vec<Target>) {
    for name in ["uniform_80", "uniform_90"] {
        if let Some((wa, g)) = find(r, name).and_then(|w| w.greedy_sim_wa.map(|g| (w.wa, g))) {
            let limit = 1.10 * g;
            t.push(target(
                format!("{name}: WA <= 1.10 x greedy sim"),
                wa,
                limit,
                wa <= limit,
            ));
        }
    }
    if let Some(w) = find(r, "hotcold_90_10_at_80") {
        t.push(target(
            "hotcold_90_10_at_80: WA <= 1.6",
            w.wa,
            1.6,
            w.wa <= 1.6,
        ));
    }
    if let Some(w) = find(r, "static_cold_50") {
        let s = w.wear.spread;
        t.push(target(
            "static_cold_50: wear max/mean <= 1.10",
            s,
            1.10,
            s <= 1.10,
        ));
    }
}

fn capacity_and_mount(r: &Report, t: &mut Vec<Target>) {
    let g = &r.geometry;
    let need = if g.region_bytes >= 1 << 20 {
        0.90
    } else {
        0.85
    };
    let f = g.exported_fraction;
    t.push(target(
        format!("exported capacity >= {need} of the region"),
        f,
        need,
        f >= need,
    ));
    let mounts = r.workloads.iter().map(|w| &w.mount);
    let read = mounts
        .clone()
        .map(|m| m.region_fraction)
        .fold(0.0, f64::max);
    t.push(target(
        "clean remount reads <= 5 % of the region",
        read,
        0.05,
        read <= 0.05,
    ));
    let writes = mounts.map(|m| m.programs + m.erases).sum::<u64>() as f64;
    t.push(target(
        "clean remount programs + erases = 0",
        writes,
        0.0,
        writes == 0.0,
    ));
}
