//! The human output of `cowftl compare`: per part, a capacity summary, then every measured fill.

use super::sweep::Point;
use super::{Out, PartOut, StoreOut};
use crate::fmt::fmt_ns;

pub fn print_human(out: &Out) {
    println!(
        "cowftl compare: records of {} B in a {} KiB region; per fill: every record written once, \
         {} warm-up then {} measured uniform random updates",
        out.record_bytes,
        out.region_bytes / 1024,
        out.warm_updates,
        out.measured_updates
    );
    println!("fill = {}; WA = {}", out.fill_definition, out.wa_definition);
    if !out.peers_built {
        println!(
            "(peers not built: rebuild with `--features peers` for sequential-storage and \
             littlefs2; littlefs2 needs clang)"
        );
    }
    for p in &out.parts {
        print_part(p);
    }
    println!();
    println!("configurations:");
    for s in out.parts.first().map_or(&[][..], |p| &p.stores[..]) {
        println!("  {}: {}", s.name, s.config);
    }
}

fn print_part(p: &PartOut) {
    println!();
    println!("== {} ({} KiB erase unit)", p.part, p.erase_bytes / 1024);
    println!(
        "{:<26} {:>8} {:>16}  first failure",
        "store", "max fill", "first failed fill"
    );
    for s in &p.stores {
        println!(
            "{:<26} {:>8.3} {:>16}  {}",
            s.name,
            s.sweep.max_fill,
            s.sweep
                .first_failed_fill
                .map_or("-".into(), |f| format!("{f:.3}")),
            s.sweep.failure.as_deref().unwrap_or("-"),
        );
    }
    println!();
    println!(
        "{:<26} {:>6} {:>7} {:>8} {:>10} {:>11} {:>10}",
        "store", "fill", "records", "WA", "erases/upd", "device/upd", "host/upd"
    );
    for s in &p.stores {
        for pt in &s.sweep.points {
            print_point(s, pt);
        }
    }
}

fn print_point(s: &StoreOut, p: &Point) {
    println!(
        "{:<26} {:>6.3} {:>7} {:>8.3} {:>10.3} {:>11} {:>10}",
        s.name,
        p.fill,
        p.records,
        p.wa,
        p.erases_per_update,
        fmt_ns(p.device_us_per_update * 1e3),
        fmt_ns(p.host_us_per_update * 1e3),
    );
}
