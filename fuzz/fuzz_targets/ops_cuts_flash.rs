//! `ops_cuts` on volumes whose block map lives on flash (`OnFlash`, docs/MAP-ON-FLASH.md):
//! the torture engine (`cowftl_testkit::torture::run_bytes` with `MapKind::Flash`) with every
//! decision taken from the input; the valid counts are recounted after every mount.
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
        ..Options::default()
    };
    if let Err(f) = run_bytes(data, &opts) {
        panic!("{f}");
    }
});
