//! `cowftl bench --map-model`: the model of the block map kept on flash
//! ([`map_model`](super::map_model), issue 14's design, not built) run on the bench's
//! geometry for each way of keeping the map, printed as a table.

use cowftl::{Config, Geometry};
use cowftl_sim::SplitMix64;

use super::layout_model::LayoutModel;
use super::map_model::{MapModel, MapPolicy, Runs};
use super::workload::{Kind, Picker};
use super::Args;

/// The map-on-flash model (bench/map_model.rs) on the bench's geometry, for uniform random
/// writes at 50 and 80 % fill, hot/cold at 80 % and sequential rewrites.
pub fn print(spec: cowftl_sim::PartSpec, cfg: Config, args: &Args) -> Result<(), String> {
    let geo = Geometry::new(
        &cfg,
        spec.capacity,
        spec.read_size,
        spec.write_size,
        spec.erase_size,
        usize::MAX,
        usize::MAX,
    )
    .map_err(|e| format!("geometry: {e}"))?;
    // A page is one block of 4-byte entries, less its header (content version, page index):
    // 12 bytes (docs/MAP-ON-FLASH.md, "On flash").
    let entries = geo.block_size / 4 - 3;
    let pages = geo.block_count.div_ceil(entries);
    let passes = u64::from(args.passes.unwrap_or(if args.quick { 2 } else { 5 }));
    println!(
        "map-on-flash model (docs/MAP-ON-FLASH.md, not built): {} units x {} slots, {} blocks, \
         {} entries per page, {} pages, roots of 6 records; slot WA over {} passes; cache: a \
         checkpoint every 4096 writes; runs B x R: B changes per run, a merge every R runs \
         (then a root); root N: a root of N records after every run that does not finish a \
         merge; slice S: a merge rewrites S pages after each run until done; early N: the run \
         written N changes before the buffer is full; held N: units held for map writers \
         (review rule 1); rd/lookup: records a host write's lookup of its block reads (runs \
         newest first, then the page)",
        geo.unit_count, geo.slots_per_unit, geo.block_count, entries, pages, passes
    );
    println!(
        "{:<20} {:<44} {:>7} {:>7} {:>8} {:>6} {:>8} {:>8} {:>9}",
        "workload",
        "map kept as",
        "RAM B",
        "WA ram",
        "WA flash",
        "ratio",
        "map/wr",
        "hit rate",
        "rd/lookup"
    );
    let runs: &[(&str, Kind, f64)] = &[
        ("uniform_50", Kind::Uniform, 0.5),
        ("uniform_80", Kind::Uniform, 0.8),
        ("hotcold_90_10_at_80", Kind::HotCold, 0.8),
        ("sequential_80", Kind::Sequential, 0.8),
    ];
    for &(name, kind, fill) in runs {
        let live = (f64::from(geo.block_count) * fill) as u32;
        rows(
            &geo,
            entries,
            name,
            kind,
            live,
            passes * u64::from(live),
            args.seed,
        );
    }
    Ok(())
}

/// One workload's rows: every policy of [`policies`] against the map in RAM on the same
/// `measured` writes over `live` blocks.
fn rows(geo: &Geometry, entries: u32, name: &str, kind: Kind, live: u32, measured: u64, seed: u64) {
    let picker = Picker::new(kind, live);
    let pick = |rng: &mut SplitMix64, i: u64| match kind {
        Kind::Sequential => (i % u64::from(live)) as u32,
        _ => picker.pick(rng),
    };
    let model = |policy| MapModel {
        layout: LayoutModel {
            units: geo.unit_count as usize,
            slots: geo.slots_per_unit as usize,
            headroom: geo.gc_headroom(0) as usize,
            streams: geo.streams(),
            live,
        },
        blocks: geo.block_count,
        entries_per_page: entries,
        policy,
        root_records: 6,
    };
    let ram = model(MapPolicy::Ram).run(measured, seed, pick);
    for (policy, ram_bytes) in policies(geo, geo.block_count.div_ceil(entries)) {
        let r = model(policy).run(measured, seed, pick);
        let (hits, reads) = match policy {
            MapPolicy::Cache { .. } => (format!("{:.3}", r.hit_rate), "-".into()),
            _ => ("-".into(), format!("{:.2}", r.reads_per_lookup)),
        };
        println!(
            "{name:<20} {:<44} {ram_bytes:>7} {:>7.3} {:>8.3} {:>6.3} {:>8.3} {hits:>8} {reads:>9}",
            describe(policy),
            ram.wa,
            r.wa,
            r.wa / ram.wa,
            r.map_writes,
        );
    }
}

/// The map policies `--map-model` compares, each with its RAM: the page directory (4 B per
/// page), the policy's own buffers, the unit table (20 B per unit) and the fixed part.
fn policies(geo: &Geometry, pages: u32) -> Vec<(MapPolicy, u32)> {
    let page = geo.block_size + 8;
    let base = 4 * pages + 20 * geo.unit_count + 420;
    // A delta is 8 bytes (block, location); a record holds a block of them less its
    // 16-byte header (content version, run, part, parts).
    let per_record = (geo.block_size - 16) / 8;
    let mut out = Vec::new();
    for c in [8u32, 16, 32] {
        let policy = MapPolicy::Cache {
            pages: c as usize,
            checkpoint_every: 4096,
        };
        out.push((policy, base + c * page));
    }
    // (B, R, root records after every run, merge slice, reviewed): runs alone; then the
    // design as the second review fixed it (docs/MAP-ON-FLASH.md, "Review of the runs
    // design"): a full root (6 records) after every run, merges in slices of a unit's slots,
    // the run written `n` changes early, one unit held for map writers.
    // The reviewed rows add its rules one at a time, so that each one's cost shows.
    let n = geo.slots_per_unit;
    let variants = [
        (512u32, 8u32, 0u32, 0u32, 0u32, 0u32),
        (512, 16, 0, 0, 0, 0),
        (1024, 16, 0, 0, 0, 0),
        (512, 16, 6, 0, 0, 0),
        (512, 16, 6, n, 0, 0),
        (512, 16, 6, n, n, 0),
        (512, 16, 6, n, n, 1),
        // The largest buffer whose run and root fit one transaction of 16 records.
        (620, 16, 6, n, n, 1),
    ];
    for (buffer, runs, incremental_root, merge_slice, early, held) in variants {
        let policy = Runs {
            buffer,
            per_record,
            runs,
            incremental_root,
            merge_slice,
            reserve_changes: early,
            map_reserve_units: held,
        };
        // The buffer, one page buffer for lookups and merges, the first-page index of every
        // run live at once (more while a sliced merge's runs wait for its last slice).
        let index = 4 * policy.records() * policy.most_live_runs(pages);
        out.push((MapPolicy::Runs(policy), base + 8 * buffer + page + index));
    }
    out
}

fn describe(p: MapPolicy) -> String {
    match p {
        MapPolicy::Ram => "RAM".into(),
        MapPolicy::Cache { pages, .. } => format!("cache {pages} pages"),
        MapPolicy::Runs(r) => {
            let mut s = format!("runs {} x {}", r.buffer, r.runs);
            if r.incremental_root > 0 {
                s += &format!(", root {}", r.incremental_root);
            }
            if r.merge_slice > 0 {
                s += &format!(", slice {}", r.merge_slice);
            }
            if r.reserve_changes > 0 {
                s += &format!(", early {}", r.reserve_changes);
            }
            if r.map_reserve_units > 0 {
                s += &format!(", held {}", r.map_reserve_units);
            }
            s
        }
    }
}
