//! What a volume with snapshots shows, as generations per block: shared by the snapshot
//! tests (`snapshots.rs`) and the recovery search (`recovery_fuzz.rs`), with the operations
//! both run and the reference world they are checked against.
// Each test file uses its own subset.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cowftl::{Error, Ftl, SnapshotId};
use cowftl_sim::{SimError, SimFlash};
use cowftl_testkit::pattern::generation_of;
use cowftl_testkit::{pattern, Model};

/// Any erase size and snapshot count (the smallest geometries use 1 KiB pages).
pub type VolE<'a, const E: usize, const S: usize> = Ftl<&'a mut SimFlash<1, 8, E>, 16, 256, S>;

/// The generation block `lba` reads as: 0 for zeros, `u64::MAX` for anything that is not
/// `pattern(lba, g)` (garbage or another block's data).
pub fn gen_of(lba: u32, b: &[u8]) -> u64 {
    if b.iter().all(|&x| x == 0) {
        return 0;
    }
    match generation_of(b, &mut vec![0; b.len()]) {
        Some((l, g)) if l == lba => g,
        _ => u64::MAX,
    }
}

pub fn view_gens<const E: usize, const S: usize>(
    ftl: &mut VolE<'_, E, S>,
    id: Option<SnapshotId>,
) -> Vec<u64> {
    let bs = ftl.block_size() as usize;
    let mut b = vec![0u8; bs];
    (0..ftl.block_count())
        .map(|l| {
            match id {
                None => ftl.read(l, &mut b),
                Some(id) => ftl.read_snapshot(id, l, &mut b),
            }
            .unwrap_or_else(|e| panic!("read {l} of {id:?}: {e:?}"));
            gen_of(l, &b)
        })
        .collect()
}

pub fn model_gens(m: &Model, n: u32) -> Vec<u64> {
    (0..n).map(|l| m.gen(l)).collect()
}

/// What a volume shows: the current view and each live snapshot's, by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub cur: Vec<u64>,
    pub snaps: BTreeMap<(usize, u64), Vec<u64>>,
}

pub fn seen<const E: usize, const S: usize>(ftl: &mut VolE<'_, E, S>) -> Seen {
    let ids: Vec<SnapshotId> = ftl.snapshots().collect();
    Seen {
        cur: view_gens(ftl, None),
        snaps: ids
            .into_iter()
            .map(|id| ((id.slot(), id.version()), view_gens(ftl, Some(id))))
            .collect(),
    }
}

pub fn key(id: SnapshotId) -> (usize, u64) {
    (id.slot(), id.version())
}

// ---------------------------------------------------------------------------------------
// Workload ops and the reference world (current model + one model per live snapshot).

#[derive(Clone, Debug)]
pub enum Op {
    Write(u32, u64),
    Trim(u32),
    /// (block, Some(generation) = write, None = trim), committed as one.
    Txn(Vec<(u32, Option<u64>)>),
    /// Take snapshot number `n` (names are handed out in order: a higher name is newer).
    Snap(usize),
    Delete(usize),
    Rollback(usize),
    /// Drop the volume and mount it again (the snapshot tests' model runs; nothing to do
    /// for the world or for `exec`).
    Remount,
}

#[derive(Clone, Debug, Default)]
pub struct World {
    pub cur: Model,
    pub snaps: BTreeMap<usize, Model>,
}

impl World {
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Write(l, g) => self.cur.write(*l, *g),
            Op::Trim(l) => self.cur.trim(*l),
            Op::Txn(parts) => {
                for &(l, g) in parts {
                    match g {
                        Some(g) => self.cur.write(l, g),
                        None => self.cur.trim(l),
                    }
                }
            }
            Op::Snap(n) => {
                self.snaps.insert(*n, self.cur.clone());
            }
            Op::Delete(n) => {
                self.snaps.remove(n);
            }
            Op::Rollback(n) => {
                self.cur = self.snaps[n].clone();
                self.snaps.retain(|k, _| k <= n);
            }
            Op::Remount => {}
        }
    }

    /// Does the volume show exactly this world, snapshot `n` being `ids[n]`?
    pub fn shown_by(&self, s: &Seen, ids: &BTreeMap<usize, SnapshotId>, n: u32) -> bool {
        if s.cur != model_gens(&self.cur, n) || s.snaps.len() != self.snaps.len() {
            return false;
        }
        self.snaps.iter().all(|(name, m)| {
            ids.get(name)
                .and_then(|id| s.snaps.get(&key(*id)))
                .is_some_and(|v| *v == model_gens(m, n))
        })
    }
}

pub fn exec<const E: usize, const S: usize>(
    ftl: &mut VolE<'_, E, S>,
    op: &Op,
    ids: &mut BTreeMap<usize, SnapshotId>,
) -> Result<(), Error<SimError>> {
    let bs = ftl.block_size() as usize;
    match op {
        Op::Write(l, g) => ftl.write(*l, &pattern(*l, *g, bs)),
        Op::Trim(l) => ftl.trim(*l),
        Op::Txn(parts) => {
            let data: Vec<Option<Vec<u8>>> = parts
                .iter()
                .map(|&(l, g)| g.map(|g| pattern(l, g, bs)))
                .collect();
            let mut tx = ftl.transaction();
            for (&(l, _), d) in parts.iter().zip(&data) {
                match d {
                    Some(d) => tx.write(l, d)?,
                    None => tx.trim(l)?,
                }
            }
            tx.commit()
        }
        Op::Snap(n) => {
            let id = ftl.snapshot()?;
            ids.insert(*n, id);
            Ok(())
        }
        Op::Delete(n) => ftl.delete_snapshot(ids[n]),
        Op::Rollback(n) => ftl.rollback(ids[n]),
        Op::Remount => Ok(()),
    }
}
