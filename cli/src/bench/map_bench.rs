//! `cowftl bench --map flash`: the block map kept on flash (issue 14, `OnFlash`) against the
//! RAM map on the same part, for the workloads issue 14 names (sequential writes, uniform
//! random at 50 % and 80 % fill of the flash map's capacity). Each runs on a freshly formatted
//! volume of each mode with the same live blocks and the same writes, then a clean remount of
//! each is measured.

use cowftl::flashmap::mode::{MountState, OnFlash, PINS};
use cowftl::{Config, RamMap};
use serde::Serialize;

use super::report::{geometry_out, GeometryOut, Mount, Target, Workload};
use super::workload::{self, Kind, Mode};
use super::Args;
use crate::common::{self, MAX_BLOCKS};
use cowftl_testkit::Part;

/// The flash map's capacities in the bench: a 16 MiB W25Q128 of 512-byte blocks (256 pages
/// of 125 entries cover 32 000 blocks), a buffer of 620 changes, 18 runs, 180 delta records.
const P: usize = 256;
const C: usize = 620;
const R: usize = 18;
const Q: usize = 180;
type BenchMap = OnFlash<P, C, R, Q>;

/// Units the bench's FTL type allows (the unit table's RAM is reported for the real count).
const U: usize = common::MAX_UNITS;

/// RAM of the flash-map `Ftl` on a 32-bit target: the map (`FlashMap`'s formula plus its
/// lengths), the pins, what a mount gathers (`MountState`: the roots, runs and delta records
/// it saw; measured on the host, a few bytes above a 32-bit target's for its vectors'
/// lengths), the unit and retire tables, and the
/// fixed part the RAM map's formula also counts (`report::geometry_out`).
fn flash_map_ram(units: u32) -> u64 {
    let map = 4 * P + 8 * C + 16 * R + 12 * Q + 100;
    let mount = core::mem::size_of::<MountState>();
    (map + 8 * PINS + mount) as u64 + 20 * u64::from(units) + 420
}

#[derive(Serialize, Debug)]
pub struct MapReport {
    /// The flash-map volume: `ram_bytes` is the flash map's RAM.
    pub geometry: GeometryOut,
    /// The same part with the RAM map, for reference.
    pub ram_map_geometry: GeometryOut,
    pub workloads: Vec<MapWorkload>,
    pub targets: Vec<Target>,
}

#[derive(Serialize, Debug)]
pub struct MapWorkload {
    pub name: String,
    pub flash_map: Workload,
    pub ram_map: Workload,
    /// flash_map.wa / ram_map.wa.
    pub wa_ratio: f64,
}

pub fn run(args: &Args, size: usize, cfg: Config) -> Result<MapReport, String> {
    macro_rules! go {
        ($ty:ty) => {{
            let mk = || <$ty>::new(args.preset.spec(size), args.seed);
            let flash_geo = cowftl::Ftl::<_, U, 0, 0, BenchMap>::geometry_for(&&mut mk(), &cfg)
                .map_err(|e| format!("flash map: {e:?}"))?;
            let ram_geo = cowftl::Ftl::<_, U, MAX_BLOCKS>::geometry_for(&&mut mk(), &cfg)
                .map_err(|e| format!("RAM map: {e:?}"))?;
            let passes = args.passes.unwrap_or(if args.quick { 2 } else { 5 }) as u64;
            let mut out = Vec::new();
            for (name, kind, fill) in [
                ("seq_fill", Kind::Sequential, 1.0),
                ("uniform_50", Kind::Uniform, 0.5),
                ("uniform_80", Kind::Uniform, 0.8),
            ] {
                let mode = Mode::<0, BenchMap>::new();
                let f = workload::one(
                    &mut mk(),
                    mode,
                    cfg,
                    &flash_geo,
                    name,
                    kind,
                    fill,
                    passes,
                    args.seed,
                )?;
                // The same live blocks on the RAM map's larger capacity.
                let ram_fill =
                    fill * f64::from(flash_geo.block_count) / f64::from(ram_geo.block_count);
                let mode = Mode::<MAX_BLOCKS, RamMap>::new();
                let r = workload::one(
                    &mut mk(),
                    mode,
                    cfg,
                    &ram_geo,
                    name,
                    kind,
                    ram_fill,
                    passes,
                    args.seed,
                )?;
                out.push(MapWorkload {
                    name: name.into(),
                    wa_ratio: f.wa / r.wa,
                    flash_map: f,
                    ram_map: r,
                });
            }
            Ok::<_, String>((flash_geo, ram_geo, out))
        }};
    }
    let (flash_geo, ram_geo, workloads) = match args.preset {
        Part::Stm32l476 => go!(cowftl_sim::Stm32L476Flash)?,
        Part::W25q128 => go!(cowftl_sim::W25q128Flash)?,
        p => return Err(format!("part {} is not simulated here", p.name())),
    };
    let mut geometry = geometry_out(&flash_geo, args.preset, size);
    geometry.ram_bytes = flash_map_ram(flash_geo.unit_count);
    let targets = targets(&geometry, &workloads);
    Ok(MapReport {
        geometry,
        ram_map_geometry: geometry_out(&ram_geo, args.preset, size),
        workloads,
        targets,
    })
}

/// Issue 14's targets: the flash map's RAM within 16 KiB on 16 MiB of 512-byte blocks, WA
/// at most 1.3x the RAM map's at 80 % fill and 1.1x on sequential writes.
fn targets(g: &GeometryOut, w: &[MapWorkload]) -> Vec<Target> {
    let mut t = vec![Target {
        name: "geometry.ram_bytes <= 16384".into(),
        measured: g.ram_bytes as f64,
        limit: 16384.0,
        pass: g.ram_bytes <= 16384,
    }];
    if let Some(worst) = w
        .iter()
        .map(|m| worst_mount(m).region_fraction)
        .reduce(f64::max)
    {
        t.push(Target {
            name: "clean mount of the flash map reads <= 1 % of the part".into(),
            measured: worst,
            limit: 0.01,
            pass: worst <= 0.01,
        });
    }
    for (name, limit) in [("uniform_80", 1.3), ("seq_fill", 1.1)] {
        if let Some(m) = w.iter().find(|m| m.name == name) {
            t.push(Target {
                name: format!("{name}: flash-map WA <= {limit} x RAM-map WA"),
                measured: m.wa_ratio,
                limit,
                pass: m.wa_ratio <= limit,
            });
        }
    }
    t
}

/// The flash map's costliest clean remount measured in workload `m`.
fn worst_mount(m: &MapWorkload) -> &Mount {
    m.flash_map
        .mount_worst
        .as_ref()
        .unwrap_or(&m.flash_map.mount)
}

pub fn print(r: &MapReport) {
    let g = &r.geometry;
    println!(
        "cowftl bench --map flash: {} {} KiB, {} units x {} B ({} slots/unit), {} blocks x {} B \
         exported with the flash map ({} with the RAM map), flash-map RAM ~{} B (RAM map ~{} B)",
        g.preset,
        g.chip_bytes / 1024,
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.block_count,
        g.block_size,
        r.ram_map_geometry.block_count,
        g.ram_bytes,
        r.ram_map_geometry.ram_bytes,
    );
    println!(
        "{:<12} {:>6} {:>9} {:>8} {:>6} {:>11} {:>10} {:>13} {:>12}",
        "workload",
        "fill",
        "WA flash",
        "WA RAM",
        "ratio",
        "WAslot f/R",
        "mount f",
        "mount read f",
        "mount read R"
    );
    for m in &r.workloads {
        let (f, ram) = (worst_mount(m), &m.ram_map.mount);
        println!(
            "{:<12} {:>6.2} {:>9.3} {:>8.3} {:>6.3} {:>5.2}/{:<5.2} {:>10} {:>12.1}% {:>11.1}%",
            m.name,
            m.flash_map.fill_exported,
            m.flash_map.wa,
            m.ram_map.wa,
            m.wa_ratio,
            m.flash_map.wa_slots,
            m.ram_map.wa_slots,
            crate::fmt::fmt_ns(f.device_ns as f64),
            100.0 * f.region_fraction,
            100.0 * ram.region_fraction,
        );
    }
    println!(
        "(fill is of the flash map's capacity; the RAM map runs the same live blocks; mount: \
         modelled device time and share of the region read by a clean remount; the flash map's \
         is the costliest of 24 sampled through the run and one after it, the RAM map's the \
         one after it)"
    );
    println!("targets:");
    for t in &r.targets {
        let mark = if t.pass { "pass" } else { "MISS" };
        println!(
            "  [{mark}] {}: measured {:.3}, limit {:.3}",
            t.name, t.measured, t.limit
        );
    }
}
