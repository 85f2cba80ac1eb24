//! Shared code for the cowftl firmware binaries (board app, QEMU tests, size probes).
//!
//! - [`ramflash`]: a RAM-backed `NorFlash` with the STM32L476 ECC rule (one program per 8-byte word,
//!   no 0→1 programs) and a "cut after N ops" power-cut injector.
//! - [`checks`]: the FTL's on-target checks, generic over any `NorFlash`, shared by the board
//!   self-test and the QEMU test binary.
//! - [`log!`]: logs via defmt on a board, via semihosting on QEMU, and compiles to nothing in the
//!   size probes.
//! - [`block_on`]: runs a future to its end on this core (for the async API's probes and
//!   examples; a flash future that is ready on the first poll, like the RAM flash's, costs
//!   one poll).
#![no_std]

pub mod ramflash;

/// Poll `fut` until it is ready, with a waker that does nothing (the RAM flash never
/// returns `Pending`; a real async driver would want an executor such as embassy's).
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    let mut fut = core::pin::pin!(fut);
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    loop {
        if let core::task::Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
            return r;
        }
    }
}

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

/// 64-bit cycle count: CYCCNT extended by a wrap counter, so spans longer than 2^32 cycles
/// (~44 s at 96 MHz: an F411 self-test with 128 KiB sector erases comes close) are timed right.
/// Correct as long as it is called at least once per 2^32 cycles: [`timed::Timed`] calls it
/// around every flash program/erase, and the FTL never runs that long without touching flash.
pub fn cycles64() -> u64 {
    use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
    static LAST: AtomicU32 = AtomicU32::new(0);
    static HIGH: AtomicU32 = AtomicU32::new(0);
    cortex_m::interrupt::free(|_| {
        let now = cycles();
        if now < LAST.load(Relaxed) {
            HIGH.store(HIGH.load(Relaxed).wrapping_add(1), Relaxed);
        }
        LAST.store(now, Relaxed);
        ((HIGH.load(Relaxed) as u64) << 32) | now as u64
    })
}

pub mod timed;
