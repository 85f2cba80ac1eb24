//! `ops_cuts` on volumes whose block map lives on flash (`OnFlash`, docs/MAP-ON-FLASH.md):
//! the torture engine (`cowftl_testkit::torture::run_bytes` with `MapKind::Flash`) with every
//! decision taken from the input; the valid counts are recounted after every mount.
//! Transactions name each block once (`Options::txn_repeats` off: a known miscount,
//! docs/MAP-ON-FLASH.md "Known bugs"); set `COWFTL_FUZZ_TXN_REPEATS=1` to fuzz them too.
#![no_main]

use cowftl_testkit::torture::{run_bytes, MapKind, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 4096 {
        return;
    }
    let opts = Options {
        cuts: 8,
        map: MapKind::Flash,
        txn_repeats: std::env::var_os("COWFTL_FUZZ_TXN_REPEATS").is_some(),
        ..Options::default()
    };
    if let Err(f) = run_bytes(data, &opts) {
        panic!("{f}");
    }
});
