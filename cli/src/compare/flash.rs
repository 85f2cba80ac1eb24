//! A simulated chip shared between a store under test and the sweep that measures it.
//!
//! littlefs2 and sequential-storage take their flash by value or `&mut` for as long as they are
//! mounted, so the sweep could not read the simulator's counters between updates. The chip is
//! kept behind an `Rc<RefCell<_>>` instead: the store gets a [`Shared`] handle (blocking and async
//! `NorFlash`, delegating to the simulator), the sweep keeps another to read the counters.

use std::cell::RefCell;
use std::rc::Rc;

use cowftl_sim::{SimError, SimFlash};
use embedded_storage::nor_flash as blocking;
#[cfg(feature = "peers")]
use embedded_storage_async::nor_flash as asynch;

/// The simulator's counters at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snap {
    pub programmed: u64,
    pub device_ns: u64,
    pub erases: u64,
}

impl Snap {
    /// What happened between `self` (earlier) and `later`.
    pub fn delta(self, later: Snap) -> Snap {
        Snap {
            programmed: later.programmed - self.programmed,
            device_ns: later.device_ns - self.device_ns,
            erases: later.erases - self.erases,
        }
    }
}

pub struct Shared<const R: usize, const W: usize, const E: usize>(
    pub Rc<RefCell<SimFlash<R, W, E>>>,
);

impl<const R: usize, const W: usize, const E: usize> Clone for Shared<R, W, E> {
    fn clone(&self) -> Self {
        Shared(Rc::clone(&self.0))
    }
}

impl<const R: usize, const W: usize, const E: usize> Shared<R, W, E> {
    pub fn new(flash: SimFlash<R, W, E>) -> Self {
        Shared(Rc::new(RefCell::new(flash)))
    }

    pub fn snap(&self) -> Snap {
        let f = self.0.borrow();
        let s = f.stats();
        Snap {
            programmed: s.bytes_programmed,
            device_ns: s.device_time_ns,
            erases: s.total_unit_erases(),
        }
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::ErrorType for Shared<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> blocking::ReadNorFlash for Shared<R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        blocking::ReadNorFlash::read(&mut *self.0.borrow_mut(), offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

impl<const R: usize, const W: usize, const E: usize> blocking::NorFlash for Shared<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        blocking::NorFlash::erase(&mut *self.0.borrow_mut(), from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        blocking::NorFlash::write(&mut *self.0.borrow_mut(), offset, bytes)
    }
}

// sequential-storage 8 only speaks embedded-storage-async. The simulator never pends, so the
// async methods simply call the blocking ones.
#[cfg(feature = "peers")]
impl<const R: usize, const W: usize, const E: usize> asynch::ReadNorFlash for Shared<R, W, E> {
    const READ_SIZE: usize = R;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        blocking::ReadNorFlash::read(self, offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

#[cfg(feature = "peers")]
impl<const R: usize, const W: usize, const E: usize> asynch::NorFlash for Shared<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        blocking::NorFlash::erase(self, from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        blocking::NorFlash::write(self, offset, bytes)
    }
}
