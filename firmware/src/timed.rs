//! `NorFlash` wrapper that times every program and erase with the DWT cycle counter, so the
//! benchmark can report the flash's own program/erase throughput separately from FTL CPU time.
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use crate::cycles64;

#[derive(Debug, Clone, Copy, Default)]
pub struct FlashTime {
    pub program_cycles: u64,
    pub programmed_bytes: u64,
    pub erase_cycles: u64,
    pub erased_bytes: u64,
    pub read_cycles: u64,
    pub read_bytes: u64,
}

pub struct Timed<F> {
    pub inner: F,
    pub time: FlashTime,
}

impl<F> Timed<F> {
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            time: FlashTime::default(),
        }
    }
}

impl<F: ErrorType> ErrorType for Timed<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> ReadNorFlash for Timed<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let t = cycles64();
        let r = self.inner.read(offset, bytes);
        self.time.read_cycles += cycles64() - t;
        self.time.read_bytes += bytes.len() as u64;
        r
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl<F: NorFlash> NorFlash for Timed<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let t = cycles64();
        let r = self.inner.write(offset, bytes);
        self.time.program_cycles += cycles64() - t;
        self.time.programmed_bytes += bytes.len() as u64;
        r
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let t = cycles64();
        let r = self.inner.erase(from, to);
        self.time.erase_cycles += cycles64() - t;
        self.time.erased_bytes += to.saturating_sub(from) as u64;
        r
    }
}
