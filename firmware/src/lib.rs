//! Shared code for the cowftl firmware binaries (board app, QEMU tests, size probes).
//!
//! - [`ramflash`]: a RAM-backed `NorFlash` with the STM32L476 ECC rule (one program per 8-byte word,
//!   no 0→1 programs) and a "cut after N ops" power-cut injector.
//! - [`checks`]: the FTL's on-target checks, generic over any `NorFlash`, shared by the board
//!   self-test and the QEMU test binary.
//! - [`log!`]: logs via defmt on a board, via semihosting on QEMU, and compiles to nothing in the
//!   size probes.
#![no_std]

pub mod ramflash;

#[cfg(not(feature = "size"))]
pub mod checks;

/// Log a line: defmt on boards, semihosting on QEMU, nothing otherwise.
/// Use only `{}` placeholders with integers, `bool` and `&str` (valid for both back ends).
#[macro_export]
macro_rules! log {
    ($($t:tt)*) => {{
        #[cfg(feature = "board")]
        { ::defmt::info!($($t)*); }
        #[cfg(all(feature = "qemu", not(feature = "board")))]
        { ::cortex_m_semihosting::hprintln!($($t)*); }
    }};
}

/// Cycle counter (DWT CYCCNT). Call [`cycles_init`] once.
pub fn cycles_init(dcb: &mut cortex_m::peripheral::DCB, dwt: &mut cortex_m::peripheral::DWT) {
    dcb.enable_trace();
    dwt.set_cycle_count(0);
    dwt.enable_cycle_counter();
}

/// Current cycle count (wraps every 2^32 cycles: ~54 s at 80 MHz; time spans shorter than that).
#[inline]
pub fn cycles() -> u32 {
    cortex_m::peripheral::DWT::cycle_count()
}

pub mod timed;
