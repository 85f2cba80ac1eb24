//! `embedded-storage` (blocking) and `embedded-storage-async` trait impls.
//!
//! Owns the glue from the NOR flash traits to [`SimFlash`]'s inherent operations, and
//! [`Multiwrite`], the wrapper that adds `MultiwriteNorFlash` for parts whose words may be
//! programmed more than once. `&mut SimFlash` gets the traits from the crates' blanket impls.

use crate::error::SimError;
use crate::flash::SimFlash;
use core::ops::{Deref, DerefMut};
use embedded_storage::nor_flash as blocking;
use embedded_storage_async::nor_flash as asynch;

impl<const R: usize, const W: usize, const E: usize> blocking::ErrorType for SimFlash<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> blocking::ReadNorFlash for SimFlash<R, W, E> {
    const READ_SIZE: usize = R;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.read_bytes(offset, bytes)
    }

    fn capacity(&self) -> usize {
        SimFlash::capacity(self)
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::NorFlash for SimFlash<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.erase_range(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.program(offset, bytes)
    }
}

impl<const R: usize, const W: usize, const E: usize> asynch::ReadNorFlash for SimFlash<R, W, E> {
    const READ_SIZE: usize = R;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.read_bytes(offset, bytes)
    }

    fn capacity(&self) -> usize {
        SimFlash::capacity(self)
    }
}

impl<const R: usize, const W: usize, const E: usize> asynch::NorFlash for SimFlash<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.erase_range(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.program(offset, bytes)
    }
}

/// A [`SimFlash`] of a part whose words may be programmed more than once, additionally
/// implementing `MultiwriteNorFlash` (blocking and async). Derefs to the `SimFlash`, so every
/// fault-injection method is available.
///
/// The zero-to-one rule stays strict unless disabled with
/// [`SimFlash::set_zero_to_one_is_violation`]`(false)` (then a program stores `old & new`, the
/// trait's contract).
#[derive(Clone, Debug)]
pub struct Multiwrite<const R: usize, const W: usize, const E: usize>(SimFlash<R, W, E>);

impl<const R: usize, const W: usize, const E: usize> Multiwrite<R, W, E> {
    /// Wrap `flash`; fails with [`SimError::InvalidSpec`] if its part is one-program-per-word.
    pub fn new(flash: SimFlash<R, W, E>) -> Result<Self, SimError> {
        if flash.spec().one_program_per_word {
            return Err(SimError::InvalidSpec(
                "Multiwrite needs a part without one_program_per_word",
            ));
        }
        Ok(Self(flash))
    }

    /// The wrapped flash.
    pub fn into_inner(self) -> SimFlash<R, W, E> {
        self.0
    }
}

impl<const R: usize, const W: usize, const E: usize> Deref for Multiwrite<R, W, E> {
    type Target = SimFlash<R, W, E>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<const R: usize, const W: usize, const E: usize> DerefMut for Multiwrite<R, W, E> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::ErrorType for Multiwrite<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> blocking::ReadNorFlash
    for Multiwrite<R, W, E>
{
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.0.read_bytes(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::NorFlash for Multiwrite<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.0.erase_range(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.0.program(offset, bytes)
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::MultiwriteNorFlash
    for Multiwrite<R, W, E>
{
}

impl<const R: usize, const W: usize, const E: usize> asynch::ReadNorFlash for Multiwrite<R, W, E> {
    const READ_SIZE: usize = R;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.0.read_bytes(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<const R: usize, const W: usize, const E: usize> asynch::NorFlash for Multiwrite<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.0.erase_range(from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.0.program(offset, bytes)
    }
}

impl<const R: usize, const W: usize, const E: usize> asynch::MultiwriteNorFlash
    for Multiwrite<R, W, E>
{
}
