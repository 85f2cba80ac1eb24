//! Picks the memory.x for the selected target (one chip feature, or `qemu`/`size` for mps2-an386)
//! and passes the linker scripts. Link args live here, not in .cargo/config.toml: config link args
//! are ignored when cargo runs from another directory (silently producing an empty ELF).
use std::{env, fs, path::PathBuf};

fn main() {
    let l476 = env::var_os("CARGO_FEATURE_STM32L476RG").is_some();
    let f411 = env::var_os("CARGO_FEATURE_STM32F411CE").is_some();
    let board = env::var_os("CARGO_FEATURE_BOARD").is_some();
    let qemu =
        env::var_os("CARGO_FEATURE_QEMU").is_some() || env::var_os("CARGO_FEATURE_SIZE").is_some();

    let memory = match (l476, f411, qemu) {
        (true, false, false) => "memory/stm32l476rg.x",
        (false, true, false) => "memory/stm32f411ce.x",
        (false, false, true) => "memory/mps2-an386.x",
        (false, false, false) if !board => "memory/mps2-an386.x", // e.g. `cargo check --no-default-features`
        _ => panic!(
            "select exactly one of the features stm32l476rg, stm32f411ce, or qemu/size \
             (use --no-default-features for the last two)"
        ),
    };

    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy(memory, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");

    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    if board {
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
}
