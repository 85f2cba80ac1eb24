//! Hostile field values in a valid volume: the input picks structures of a real image (a
//! header copy, a claim, a commit, a seal) and fields, and overwrites them with chosen values
//! (extremes and boundaries most of the time), re-encoding every CRC so only the semantics
//! are hostile. Then mount; if it succeeds, read every block (each must read a value it once
//! held, the data of a crafted record naming it, or `Corrupt`), write and trim, read back,
//! remount, read again (docs/DESIGN.md contract 5, and 2 for the acknowledged writes).
//!
//! The engine is shared with the bounded proptest in `tests/tests/hostile.rs`; input format:
//! chunks of 12 bytes (structure, index u16, field, value u64), at most 16 used.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/tests/hostile/engine.rs"]
mod engine;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = engine::fuzz_one(data) {
        panic!("{e}");
    }
});
