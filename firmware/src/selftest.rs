//! Step 4 of the app: the self-test over a slice of the volume (`checks::slice_selftest`:
//! `check_invariants()` as mounted, write/read, overwrite, trim, enough overwrite rounds to force
//! GC, every block verified, `check_invariants()` again), timed and logged. The remount that
//! follows it is in `main.rs`.
use cowftl_firmware::checks::{self, Fail, Loggable};
use cowftl_firmware::cycles64;
use defmt::{error, info};
use embedded_storage::nor_flash::NorFlash;

use crate::board::Vol;
use crate::time::ms;
use crate::LBA_SCRATCH;

/// Runs the self-test over blocks `LBA_SCRATCH..LBA_SCRATCH + 64` (fewer on a volume too small
/// for that) and logs the result.
pub fn run<F: NorFlash>(ftl: &mut Vol<F>, hz: u32) -> Result<(), Fail>
where
    F::Error: Loggable,
{
    let n = ftl.block_count();
    // 64 blocks (8..72): fits both volumes (L476 441 blocks, F411 479 blocks). The self-test
    // checks the FTL's invariants before and after its workload.
    let slice = 64.min((n - LBA_SCRATCH) / 2);
    let t = cycles64();
    let st = checks::slice_selftest(ftl, LBA_SCRATCH, slice);
    let st_ms = ms(cycles64() - t, hz);
    match st {
        Ok(()) => info!(
            "self-test over blocks {}..{} passed in {} ms",
            LBA_SCRATCH,
            LBA_SCRATCH + slice,
            st_ms
        ),
        Err(what) => error!("self-test FAILED: {}", what),
    }
    st
}
