//! What a volume with snapshots shows, as generations per block: shared by the snapshot
//! tests (`snapshots.rs`) and the recovery search (`recovery_fuzz.rs`).

use std::collections::BTreeMap;

use cowftl::{Ftl, SnapshotId};
use cowftl_sim::SimFlash;
use cowftl_testkit::pattern::generation_of;
use cowftl_testkit::Model;

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
