//! What snapshots cost on flash: bytes programmed and units erased by `snapshot()`, by
//! `rollback()` after writes since the snapshot, and by `delete_snapshot()`, each on a fresh
//! volume of the benchmark's geometry half filled; and the write amplification of the uniform
//! workload with one snapshot held for the whole run next to the same workload without.
//! A snapshot is one table record (docs/DESIGN.md, "Snapshots"): nothing is copied when it is
//! taken or rolled back to; holding one makes GC keep (and move) the records it sees, which
//! the held-snapshot WA shows.

use cowftl::Config;
use cowftl_sim::{SimFlash, SplitMix64};
use cowftl_testkit::fill_pattern;
use serde::Serialize;

use crate::common::SnapFtl;

/// Live fraction of the exported blocks in the uniform runs: a snapshot held for the whole
/// run keeps every overwritten block's old record, so live + held stay below the capacity.
pub const HELD_FILL: f64 = 0.4;

/// Flash work of one call (FTL counters before and after it).
#[derive(Serialize, Clone, Copy, Debug, Default)]
pub struct OpCost {
    pub bytes_programmed: u64,
    pub erases: u64,
}

/// The uniform workload at [`HELD_FILL`], with or without a snapshot held throughout.
#[derive(Serialize, Clone, Debug)]
pub struct HeldWa {
    pub name: String,
    pub snapshot_held: bool,
    pub fill_exported: f64,
    pub host_writes: u64,
    pub bytes_programmed: u64,
    /// bytes_programmed / logical bytes of the measured phase.
    pub wa: f64,
    pub erases: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct SnapCost {
    /// Blocks written once each before the snapshot.
    pub live_blocks: u32,
    pub snapshot: OpCost,
    /// Distinct blocks rewritten between the snapshot and the rollback.
    pub writes_since: u32,
    /// What those writes programmed (for scale).
    pub writes_since_bytes: u64,
    /// `rollback()` to the snapshot after those writes.
    pub rollback: OpCost,
    /// `delete_snapshot()` after the rollback.
    pub delete: OpCost,
    /// Without a snapshot, then with one held for the whole run.
    pub uniform: Vec<HeldWa>,
}

/// Measure the costs (`mk` makes a fresh chip).
pub fn costs<const R: usize, const W: usize, const E: usize>(
    mk: &impl Fn() -> SimFlash<R, W, E>,
    cfg: Config,
    passes: u64,
    seed: u64,
) -> Result<SnapCost, String> {
    let mut cost = op_costs(&mut mk(), cfg)?;
    for held in [false, true] {
        cost.uniform
            .push(uniform(&mut mk(), cfg, held, passes, seed)?);
    }
    Ok(cost)
}

/// Counters of `ftl` now: (bytes programmed, erases).
fn counters<const R: usize, const W: usize, const E: usize>(ftl: &SnapFtl<'_, R, W, E>) -> OpCost {
    let c = ftl.stats().counters;
    OpCost {
        bytes_programmed: c.bytes_programmed,
        erases: c.erases,
    }
}

/// Run `f` on `ftl` and return what it cost on flash.
fn measure<'f, const R: usize, const W: usize, const E: usize, T>(
    ftl: &mut SnapFtl<'f, R, W, E>,
    what: &str,
    f: impl FnOnce(&mut SnapFtl<'f, R, W, E>) -> Result<T, cowftl::Error<cowftl_sim::SimError>>,
) -> Result<(T, OpCost), String> {
    let before = counters(ftl);
    let r = f(ftl).map_err(|e| format!("{what}: {e:?}"))?;
    let after = counters(ftl);
    Ok((
        r,
        OpCost {
            bytes_programmed: after.bytes_programmed - before.bytes_programmed,
            erases: after.erases - before.erases,
        },
    ))
}

/// Write `lba` with a new generation.
fn write<const R: usize, const W: usize, const E: usize>(
    ftl: &mut SnapFtl<'_, R, W, E>,
    lba: u32,
    gen: u64,
    buf: &mut [u8],
) -> Result<(), String> {
    fill_pattern(lba, gen, buf);
    ftl.write(lba, buf)
        .map_err(|e| format!("write {lba}: {e:?}"))
}

/// Half the blocks written, a snapshot, a quarter of those rewritten, a rollback, a delete.
fn op_costs<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
) -> Result<SnapCost, String> {
    let mut ftl = SnapFtl::format(flash, cfg).map_err(|e| format!("format: {e:?}"))?;
    let mut buf = vec![0u8; ftl.block_size() as usize];
    let live = (ftl.block_count() / 2).max(1);
    for lba in 0..live {
        write(&mut ftl, lba, 1, &mut buf)?;
    }
    let (id, snapshot) = measure(&mut ftl, "snapshot", |f| f.snapshot())?;
    let since = (live / 4).max(1);
    let ((), rewrites) = measure(&mut ftl, "rewrites", |f| {
        for lba in 0..since {
            fill_pattern(lba, 2, &mut buf);
            f.write(lba, &buf)?;
        }
        Ok(())
    })?;
    let ((), rollback) = measure(&mut ftl, "rollback", |f| f.rollback(id))?;
    let ((), delete) = measure(&mut ftl, "delete", |f| f.delete_snapshot(id))?;
    ftl.read(0, &mut buf).map_err(|e| format!("read: {e:?}"))?;
    let mut want = vec![0u8; buf.len()];
    fill_pattern(0, 1, &mut want);
    if buf != want {
        return Err("rollback did not bring block 0 back".into());
    }
    Ok(SnapCost {
        live_blocks: live,
        snapshot,
        writes_since: since,
        writes_since_bytes: rewrites.bytes_programmed,
        rollback,
        delete,
        uniform: Vec::new(),
    })
}

/// The uniform workload at [`HELD_FILL`]: fill, (snapshot,) warm-up of twice all slots, then
/// `passes` x the live set measured.
fn uniform<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    held: bool,
    passes: u64,
    seed: u64,
) -> Result<HeldWa, String> {
    let mut ftl = SnapFtl::format(flash, cfg).map_err(|e| format!("format: {e:?}"))?;
    let (n, geo) = (ftl.block_count(), *ftl.geometry());
    let bs = geo.block_size as usize;
    let live = ((f64::from(n) * HELD_FILL) as u32).max(1);
    let mut buf = vec![0u8; bs];
    for lba in 0..live {
        write(&mut ftl, lba, 1, &mut buf)?;
    }
    if held {
        ftl.snapshot().map_err(|e| format!("snapshot: {e:?}"))?;
    }
    let mut rng = SplitMix64::new(seed ^ 0x5AA9_5407);
    let warm = 2 * u64::from(geo.unit_count) * u64::from(geo.slots_per_unit);
    let (mut from, mut hw) = (counters(&ftl), ftl.stats().counters.host_writes);
    for i in 0..warm + passes * u64::from(live) {
        if i == warm {
            (from, hw) = (counters(&ftl), ftl.stats().counters.host_writes);
        }
        write(&mut ftl, rng.below(u64::from(live)) as u32, i + 2, &mut buf)?;
    }
    let (end, c) = (counters(&ftl), ftl.stats().counters);
    let host_writes = c.host_writes - hw;
    let bytes_programmed = end.bytes_programmed - from.bytes_programmed;
    Ok(HeldWa {
        name: format!("uniform_{:.0}", 100.0 * HELD_FILL),
        snapshot_held: held,
        fill_exported: f64::from(live) / f64::from(n),
        host_writes,
        bytes_programmed,
        wa: bytes_programmed as f64 / (host_writes * bs as u64).max(1) as f64,
        erases: end.erases - from.erases,
    })
}
