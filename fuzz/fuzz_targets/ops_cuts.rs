//! Operation sequences with power cuts versus the model: the torture engine
//! (`cowftl_testkit::torture::run_bytes`) with every decision taken from the input.
#![no_main]

use cowftl_testkit::torture::{run_bytes, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 4096 {
        return;
    }
    let opts = Options {
        cuts: 8,
        ..Options::default()
    };
    if let Err(f) = run_bytes(data, &opts) {
        panic!("{f}");
    }
});
