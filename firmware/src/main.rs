#![no_std]
#![no_main]
use defmt_rtt as _;
use embassy_stm32::flash::Flash;
use panic_probe as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    let p = embassy_stm32::init(Default::default());
    let layout = Flash::new_blocking(p.FLASH).into_blocking_regions();
    let _ = layout;
    defmt::info!("hi");
    loop {
        cortex_m::asm::wfi();
    }
}
