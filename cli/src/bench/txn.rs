//! What a transaction costs on flash: bytes programmed for k blocks written as one
//! transaction against the same k blocks written one by one (k = 1, 4, 16), each on a fresh
//! volume of the benchmark's geometry with `max_transaction_blocks = 16`. Format v3 writes no
//! record for a transaction beyond its blocks' own (docs/DESIGN.md, "Transactions"), so the
//! two should be equal; this measures it.

use cowftl::Config;
use cowftl_sim::SimFlash;
use cowftl_testkit::pattern;
use serde::Serialize;

use crate::common::SimFtl;

#[derive(Serialize, Clone, Debug)]
pub struct TxnCost {
    pub blocks: u32,
    /// Flash bytes programmed writing the blocks one `write` each.
    pub single_bytes: u64,
    /// Flash bytes programmed writing them as one transaction.
    pub txn_bytes: u64,
}

/// Measure k = 1, 4, 16 (`mk` makes a fresh chip).
pub fn costs<const R: usize, const W: usize, const E: usize>(
    mk: &impl Fn() -> SimFlash<R, W, E>,
    cfg: Config,
) -> Result<Vec<TxnCost>, String> {
    let cfg = Config {
        max_transaction_blocks: 16,
        ..cfg
    };
    // Small units take smaller transactions (at most slots per unit - 1): measure what fits.
    let max = SimFtl::format(&mut mk(), cfg)
        .map_err(|e| format!("format: {e:?}"))?
        .max_transaction_blocks();
    [1u32, 4, 16]
        .iter()
        .filter(|&&k| k <= max)
        .map(|&k| {
            Ok(TxnCost {
                blocks: k,
                single_bytes: programmed(&mut mk(), cfg, k, false)?,
                txn_bytes: programmed(&mut mk(), cfg, k, true)?,
            })
        })
        .collect()
}

/// Bytes programmed after format by writing blocks 0..k (as one transaction if `txn`).
fn programmed<const R: usize, const W: usize, const E: usize>(
    flash: &mut SimFlash<R, W, E>,
    cfg: Config,
    k: u32,
    txn: bool,
) -> Result<u64, String> {
    let mut ftl = SimFtl::format(flash, cfg).map_err(|e| format!("format: {e:?}"))?;
    let bs = ftl.block_size() as usize;
    let data: Vec<Vec<u8>> = (0..k).map(|l| pattern(l, 1, bs)).collect();
    let before = ftl.stats().counters.bytes_programmed;
    let r = if txn {
        let mut tx = ftl.transaction();
        for (l, d) in data.iter().enumerate() {
            tx.write(l as u32, d).map_err(|e| format!("stage: {e:?}"))?;
        }
        tx.commit()
    } else {
        data.iter()
            .enumerate()
            .try_for_each(|(l, d)| ftl.write(l as u32, d))
    };
    r.map_err(|e| format!("write: {e:?}"))?;
    Ok(ftl.stats().counters.bytes_programmed - before)
}
