//! Code-size probe, baseline: a minimal Cortex-M4 binary doing raw erase/program/read on the RAM
//! NorFlash. `size.sh` diffs its `.text` against `size-ftl`, which does the same through cowftl.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m as _;
use cowftl_firmware::ramflash::RamFlash;
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

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
    let r1 = flash.erase(0, black_box(2048)).is_ok();
    let r2 = flash.write(black_box(0), &buf).is_ok();
    let r3 = flash.read(black_box(0), &mut buf).is_ok();
    black_box((r1, r2, r3, &buf));
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
