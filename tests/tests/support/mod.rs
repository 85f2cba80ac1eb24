//! Test support shared by `storage.rs`, `fat.rs` and `image.rs`: a [`Shared`] handle on a
//! simulated flash, so a test can arm a power cut while the FTL (or a filesystem on top of
//! it) owns its flash handle.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use cowftl_sim::{SimError, SimFlash};
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

/// A cloneable handle on one `SimFlash`; every clone sees the same chip.
pub struct Shared<const R: usize, const W: usize, const E: usize>(
    pub Rc<RefCell<SimFlash<R, W, E>>>,
);

impl<const R: usize, const W: usize, const E: usize> Clone for Shared<R, W, E> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<const R: usize, const W: usize, const E: usize> Shared<R, W, E> {
    pub fn new(flash: SimFlash<R, W, E>) -> Self {
        Shared(Rc::new(RefCell::new(flash)))
    }
    pub fn with<T>(&self, f: impl FnOnce(&mut SimFlash<R, W, E>) -> T) -> T {
        f(&mut self.0.borrow_mut())
    }
}

impl<const R: usize, const W: usize, const E: usize> ErrorType for Shared<R, W, E> {
    type Error = SimError;
}

impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for Shared<R, W, E> {
    const READ_SIZE: usize = R;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        ReadNorFlash::read(&mut *self.0.borrow_mut(), offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

impl<const R: usize, const W: usize, const E: usize> NorFlash for Shared<R, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        NorFlash::erase(&mut *self.0.borrow_mut(), from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        NorFlash::write(&mut *self.0.borrow_mut(), offset, bytes)
    }
}
