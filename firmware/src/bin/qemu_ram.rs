//! Prints the RAM the FTL state takes for both board geometries (`size_of`, as the QEMU tests'
//! first lines) and exits; used by `size.sh`. QEMU mps2-an386, output via semihosting.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m as _; // critical-section implementation
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

#[entry]
fn main() -> ! {
    cowftl_firmware::checks::report_ram();
    debug::exit(debug::EXIT_SUCCESS);
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
