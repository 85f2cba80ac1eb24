//! Mount and read over arbitrary images: raw bytes, or mutations of a valid volume with data
//! (`cowftl_testkit::mount_fuzz`). Mount must return Ok or an error: no panic, no hang;
//! writes on a volume that mounted read back, also after a remount.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cowftl_testkit::mount_fuzz::check(data);
});
