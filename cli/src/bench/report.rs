//! The results of `cowftl bench`: what `--json` prints, and what the table and charts show.

use cowftl::Geometry;
use cowftl_testkit::Part;
use serde::Serialize;

use crate::fmt;

#[derive(Serialize, Clone, Debug)]
pub struct GeometryOut {
    pub preset: &'static str,
    pub chip_bytes: usize,
    pub unit_size: u32,
    pub unit_count: u32,
    pub slots_per_unit: u32,
    pub reserve_units: u32,
    pub block_size: u32,
    pub block_count: u32,
    pub exported_bytes: u64,
    /// Bytes of the FTL region (here the whole chip).
    pub region_bytes: u64,
    /// exported_bytes / region_bytes.
    pub exported_fraction: f64,
    /// RAM of `Ftl<F, unit_count, block_count>` on Cortex-M4: 4*blocks + 20*units + 420 bytes
    /// (the fixed part as firmware/size.sh measures it: `size_of::<Ftl<_, 16, 441>>()` = 2504).
    pub ram_bytes: u64,
    /// Write frontiers the log keeps open (`Geometry::streams`).
    pub streams: u32,
    /// Available units the host leaves to GC on a fresh volume (1, plus 1 while a spare is
    /// left: docs/DESIGN.md, "Space invariant").
    pub gc_headroom: u32,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Wear {
    pub min: u32,
    pub mean: f64,
    pub max: u32,
    /// max / mean.
    pub spread: f64,
}

/// Cost of a clean remount right after the workload (flash counters reset just before `mount`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct Mount {
    pub bytes_read: u64,
    pub read_ops: u64,
    /// Program operations issued by the mount.
    pub programs: u64,
    pub bytes_programmed: u64,
    /// Erase operations issued by the mount.
    pub erases: u64,
    /// Modelled device time of the mount (datasheet timings).
    pub device_ns: u64,
    pub host_ns: u64,
    /// bytes_read / FTL region bytes.
    pub region_fraction: f64,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Workload {
    pub name: String,
    /// Live blocks / exported blocks.
    pub fill_exported: f64,
    /// Live blocks / (unit_count * slots_per_unit): what the greedy references use.
    pub fill_raw: f64,
    pub ops: u64,
    pub host_writes: u64,
    pub reads: u64,
    pub logical_bytes: u64,
    pub bytes_programmed: u64,
    /// bytes_programmed / logical_bytes (metadata included).
    pub wa: f64,
    /// (host writes + relocations) / host writes: slot-level WA, comparable to the greedy model.
    pub wa_slots: f64,
    pub greedy_sim_wa: Option<f64>,
    /// wa / greedy_sim_wa (byte WA, metadata included, against the slot-level greedy model).
    pub wa_vs_greedy_sim: Option<f64>,
    pub analytic_wa: Option<f64>,
    /// Slot WA of the model of cowftl's layout (bench/layout_model.rs) on the same writes.
    pub layout_model_wa: Option<f64>,
    /// The same model with an oracle that sends cold blocks to the cold frontier (hot/cold).
    pub oracle_model_wa: Option<f64>,
    /// The most block-map changes one host write made in the measured phase: its own record
    /// plus every slot GC, wear levelling or retirement copied during it (what a map kept on
    /// flash must buffer per operation: docs/MAP-ON-FLASH.md, review rule 1).
    pub max_map_changes_per_write: u64,
    /// The slowest host write of the measured phase, in modelled device time (programs,
    /// reads and erases of the GC rounds it ran): the worst latency a caller saw.
    pub max_device_ns_per_write: u64,
    pub erases: u64,
    pub erases_per_logical_mib: f64,
    pub wear: Wear,
    pub device_ns_per_op: f64,
    pub host_ns_per_op: f64,
    pub mount: Mount,
    /// Flash map only: the costliest of the clean remounts sampled through the measured
    /// phase (24 copies of the flash mounted as the run went) and the one after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_worst: Option<Mount>,
    /// (host writes so far in the run, WA of the last chunk), warm-up included.
    pub wa_over_time: Vec<(u64, f64)>,
    /// Erases of every FTL unit at the end.
    pub unit_wear: Vec<u32>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Target {
    pub name: String,
    pub measured: f64,
    pub limit: f64,
    pub pass: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub quick: bool,
    pub seed: u64,
    /// `Config::gc_ahead` (`--gc-ahead`): GC collected ahead of need.
    pub gc_ahead: bool,
    pub geometry: GeometryOut,
    pub workloads: Vec<Workload>,
    /// Bytes programmed for k blocks as one transaction against k single writes.
    pub transactions: Vec<super::txn::TxnCost>,
    /// Flash work of snapshot, rollback and delete; WA with a snapshot held against without.
    pub snapshots: super::snap::SnapCost,
    pub targets: Vec<Target>,
    pub host_seconds: f64,
}

pub fn wear_of(unit_wear: &[u32]) -> Wear {
    let (min, mean, max) = fmt::min_mean_max(unit_wear.iter().copied());
    Wear {
        min,
        mean,
        max,
        spread: if mean > 0.0 { max as f64 / mean } else { 1.0 },
    }
}

pub fn geometry_out(geo: &Geometry, preset: Part, chip_bytes: usize) -> GeometryOut {
    let exported = geo.capacity_bytes();
    let region = u64::from(geo.region_len);
    GeometryOut {
        preset: preset.label(),
        chip_bytes,
        unit_size: geo.unit_size,
        unit_count: geo.unit_count,
        slots_per_unit: geo.slots_per_unit,
        reserve_units: geo.reserve_units,
        block_size: geo.block_size,
        block_count: geo.block_count,
        exported_bytes: exported,
        region_bytes: region,
        exported_fraction: exported as f64 / region.max(1) as f64,
        ram_bytes: 4 * u64::from(geo.block_count) + 20 * u64::from(geo.unit_count) + 420,
        streams: geo.streams(),
        gc_headroom: geo.gc_headroom(0),
    }
}

/// The workload called `name`.
pub fn find<'a>(r: &'a Report, name: &str) -> Option<&'a Workload> {
    r.workloads.iter().find(|w| w.name == name)
}
