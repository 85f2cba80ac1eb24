//! Code-size probe, the async API: `size-ftl`'s calls through `cowftl::asynch::Ftl` over the
//! same RAM flash's async `NorFlash` impl, each driven by `block_on` (a no-op-waker poll loop).
//! The `.text` difference to `size-base` is what the async core adds; it is also what a
//! blocking API built as `block_on` over an async-only core would cost (engine/mod.rs).
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m as _;
use cowftl::{asynch::Ftl, Config};
use cowftl_firmware::block_on;
use cowftl_firmware::ramflash::RamFlash;

static mut DATA: [u8; 64 * 1024] = [0; 64 * 1024];
static mut PROG: [u32; 64 * 1024 / 8 / 32] = [0; 64 * 1024 / 8 / 32];
static mut WEAR: [u32; 32] = [0; 32];

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: the only references to these buffers.
    let mut flash: RamFlash<'static, 8, 2048> = unsafe {
        RamFlash::new(
            &mut *core::ptr::addr_of_mut!(DATA),
            &mut *core::ptr::addr_of_mut!(PROG),
            &mut *core::ptr::addr_of_mut!(WEAR),
        )
    };
    let mut buf = [0u8; 512];
    buf[0] = black_box(1);
    let cfg = Config::new(0, black_box(64 * 1024));
    let f = block_on(Ftl::<_, 32, 128>::format(&mut flash, cfg)).is_ok();
    let mut r = (f, false, false, false);
    if let Ok(mut ftl) = block_on(Ftl::<_, 32, 128>::mount(&mut flash, cfg)) {
        r.1 = block_on(ftl.write(black_box(0), &buf)).is_ok();
        r.2 = block_on(ftl.read(black_box(0), &mut buf)).is_ok();
        r.3 = block_on(ftl.trim(black_box(0))).is_ok();
    }
    black_box((r, &buf));
    loop {
        cortex_m::asm::nop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
