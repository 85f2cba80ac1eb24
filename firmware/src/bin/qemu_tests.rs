//! On-target tests of cowftl for QEMU `mps2-an386` (Cortex-M4), over a RAM NorFlash with the
//! STM32L476 rules (8-byte ECC words programmed once, 2 KiB pages). Output and exit code via
//! semihosting: exit 0 iff every test passed. Run: `firmware/ci.sh` or
//! `cargo run --release --no-default-features --features qemu --bin qemu-tests` with the QEMU runner.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m as _; // critical-section implementation
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use cowftl_firmware::checks::{self, Flashes};

#[entry]
fn main() -> ! {
    let mut passed = 0u32;
    let mut failed = 0u32;
    hprintln!("cowftl QEMU on-target tests (mps2-an386, Cortex-M4)");
    checks::report_ram();
    let mut flashes: Flashes = checks::take_flashes();
    for (name, test) in checks::QEMU_TESTS {
        flashes.power_on();
        flashes.take_violations();
        let r = test(&mut flashes);
        let violations = flashes.take_violations();
        match r {
            Ok(()) if violations == 0 => {
                passed += 1;
                hprintln!("test {} ... ok", name);
            }
            Ok(()) => {
                failed += 1;
                hprintln!(
                    "test {} ... FAILED: {} flash rule violations",
                    name,
                    violations
                );
            }
            Err(e) => {
                failed += 1;
                hprintln!("test {} ... FAILED: {}", name, e);
            }
        }
    }
    hprintln!("{} passed, {} failed", passed, failed);
    debug::exit(if failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
