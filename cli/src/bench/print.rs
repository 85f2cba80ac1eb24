//! The human table of `cowftl bench`.

use super::greedy::analytic_greedy_wa;
use super::report::Report;
use crate::fmt;

/// The geometry line, the workload and remount tables, the references and the targets.
pub fn print_human(r: &Report) {
    let g = &r.geometry;
    println!(
        "cowftl bench{}: {} {} KiB chip, {} units x {} B ({} slots/unit), reserve {}, {} blocks x {} B exported ({} KiB, {:.1}% of region), FTL RAM ~{} B",
        match (r.quick, r.gc_ahead) {
            (true, true) => " --quick --gc-ahead",
            (true, false) => " --quick",
            (false, true) => " --gc-ahead",
            (false, false) => "",
        },
        g.preset,
        g.chip_bytes / 1024,
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.reserve_units,
        g.block_count,
        g.block_size,
        g.exported_bytes / 1024,
        100.0 * g.exported_fraction,
        g.ram_bytes
    );
    println!(
        "fill = live/exported blocks (fill raw = live/all slots, used by the greedy references)\n"
    );
    print_workloads(r);
    print_mounts(r);
    println!("\ntransactions (fresh volume, max_transaction_blocks 16): bytes programmed");
    for t in &r.transactions {
        println!(
            "  {:2} blocks: {:>7} B as {:2} writes, {:>7} B as one transaction ({:+} B)",
            t.blocks,
            t.single_bytes,
            t.blocks,
            t.txn_bytes,
            t.txn_bytes as i64 - t.single_bytes as i64
        );
    }
    print_snapshots(r);
    println!(
        "\nanalytic greedy reference at raw fill 0.5/0.8/0.9: {:.2}/{:.2}/{:.2}",
        analytic_greedy_wa(0.5),
        analytic_greedy_wa(0.8),
        analytic_greedy_wa(0.9)
    );
    print_layout_model(r);
    println!("targets:");
    for t in &r.targets {
        println!(
            "  [{}] {}: measured {:.3}, limit {:.3}",
            if t.pass { "pass" } else { "MISS" },
            t.name,
            t.measured,
            t.limit
        );
    }
    println!("host time {:.1} s", r.host_seconds);
}

fn print_workloads(r: &Report) {
    println!(
        "{:<20} {:>5} {:>5} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}",
        "workload",
        "fill",
        "raw",
        "WA",
        "WAslot",
        "greedy",
        "WA/grd",
        "analyt",
        "er/MiB",
        "wear",
        "max/mean",
        "dev/op",
        "cpu/op"
    );
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for w in &r.workloads {
        println!(
            "{:<20} {:>5.2} {:>5.2} {:>7.3} {:>6.2} {:>6} {:>6} {:>7} {:>7.1} {:>8} {:>8.3} {:>9} {:>9}",
            w.name,
            w.fill_exported,
            w.fill_raw,
            w.wa,
            w.wa_slots,
            opt(w.greedy_sim_wa),
            opt(w.wa_vs_greedy_sim),
            opt(w.analytic_wa),
            w.erases_per_logical_mib,
            format!("{}/{:.0}/{}", w.wear.min, w.wear.mean, w.wear.max),
            w.wear.spread,
            fmt::fmt_ns(w.device_ns_per_op),
            fmt::fmt_ns(w.host_ns_per_op),
        );
    }
}

fn print_mounts(r: &Report) {
    println!("\nclean remount right after each workload:");
    println!(
        "{:<20} {:>10} {:>8} {:>7} {:>8} {:>10} {:>6} {:>10} {:>10}",
        "workload",
        "read",
        "% region",
        "reads",
        "programs",
        "programmed",
        "erases",
        "device",
        "host"
    );
    for w in &r.workloads {
        let m = &w.mount;
        println!(
            "{:<20} {:>10} {:>7.1}% {:>7} {:>8} {:>10} {:>6} {:>10} {:>10}",
            w.name,
            fmt::fmt_bytes(m.bytes_read),
            100.0 * m.region_fraction,
            m.read_ops,
            m.programs,
            fmt::fmt_bytes(m.bytes_programmed),
            m.erases,
            fmt::fmt_ns(m.device_ns as f64),
            fmt::fmt_ns(m.host_ns as f64),
        );
    }
}

fn print_snapshots(r: &Report) {
    let s = &r.snapshots;
    println!(
        "\nsnapshots (fresh volume, {} blocks written): bytes programmed / unit erases",
        s.live_blocks
    );
    println!(
        "  snapshot():        {:>7} B, {} erases",
        s.snapshot.bytes_programmed, s.snapshot.erases
    );
    println!(
        "  rollback():        {:>7} B, {} erases (after {} blocks rewritten since the snapshot: {} B)",
        s.rollback.bytes_programmed, s.rollback.erases, s.writes_since, s.writes_since_bytes
    );
    println!(
        "  delete_snapshot(): {:>7} B, {} erases",
        s.delete.bytes_programmed, s.delete.erases
    );
    for w in &s.uniform {
        println!(
            "  {} (fill {:.2}) {:<24} WA {:.3}, {} erases over {} host writes",
            w.name,
            w.fill_exported,
            if w.snapshot_held {
                "one snapshot held:"
            } else {
                "no snapshot:"
            },
            w.wa,
            w.erases,
            w.host_writes
        );
    }
}

/// The slot-level model of cowftl's own layout (bench/layout_model.rs) beside the measured
/// slot WA: what the layout costs, apart from the GC policy.
fn print_layout_model(r: &Report) {
    let g = &r.geometry;
    println!(
        "layout model (slot WA; {} units x {} slots, {} frontiers, {} units held for GC, cowftl's GC policy):",
        g.unit_count, g.slots_per_unit, g.streams, g.gc_headroom
    );
    for w in &r.workloads {
        let Some(model) = w.layout_model_wa else {
            continue;
        };
        let oracle = w.oracle_model_wa.map_or(String::new(), |o| {
            format!(", with oracle hot/cold placement {o:.2}")
        });
        println!(
            "  {:<20} cowftl {:.2}, model {:.2}{}",
            w.name, w.wa_slots, model, oracle
        );
    }
    let most = r.workloads.iter().map(|w| w.max_map_changes_per_write);
    println!(
        "most map changes in one write (its record + the copies made during it): {} \
         (slots per unit: {})",
        most.max().unwrap_or(0),
        g.slots_per_unit
    );
    let slowest: Vec<String> = (r.workloads.iter())
        .map(|w| {
            format!(
                "{} {:.1} ms",
                w.name,
                w.max_device_ns_per_write as f64 / 1e6
            )
        })
        .collect();
    println!(
        "slowest write (modelled device time, GC included): {}",
        slowest.join(", ")
    );
}
