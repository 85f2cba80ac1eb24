//! Cycle counts (DWT) to milliseconds, microseconds and throughput, at SYSCLK `hz`.

pub fn ms(cyc: u64, hz: u32) -> u32 {
    (cyc * 1000 / hz as u64) as u32
}

pub fn us(cyc: u64, hz: u32) -> u32 {
    (cyc * 1_000_000 / hz as u64) as u32
}

pub fn kib_per_s(bytes: u64, cyc: u64, hz: u32) -> u32 {
    if cyc == 0 {
        return 0;
    }
    (bytes * hz as u64 / cyc / 1024) as u32
}
