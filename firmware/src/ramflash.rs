//! RAM-backed `NorFlash` that behaves like STM32L476 internal flash (or any part with ECC words):
//!
//! - bits only go 1→0: programming a 0 bit to 1 fails (`ZeroToOne`);
//! - one program per `W`-byte word between erases (ECC): a second program of a word fails
//!   (`DoubleProgram`), even if it would only clear more bits;
//! - erase granularity `E` bytes; alignment and bounds checked like the `NorFlash` contract says.
//!
//! Any such violation is also counted in [`RamFlash::violations`] (sticky), so a test catches it even
//! when the FTL handles the error by retiring a unit.
//!
//! Power cuts: [`RamFlash::cut_after`]`(n)` lets `n` more write/erase operations succeed; the next one
//! fails with `PowerCut` after doing part of its work (a program stops in the middle of a word, which
//! is left half programmed and counts as programmed; an erase erases only the first half of the
//! unit), and every later operation fails with `PowerCut` until [`RamFlash::power_on`].
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "board", derive(defmt::Format))]
pub enum RamFlashError {
    NotAligned,
    OutOfBounds,
    /// Second program of a word since its last erase (ECC rule).
    DoubleProgram,
    /// A program tried to turn a 0 bit into 1.
    ZeroToOne,
    /// Simulated power cut (this and every later op fails until `power_on`).
    PowerCut,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            RamFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// Operation counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct RamFlashCounters {
    pub bytes_programmed: u64,
    pub bytes_read: u64,
    pub erases: u32,
    pub writes: u32,
}

/// RAM NorFlash. `W` = write (ECC word) size, `E` = erase size. The caller provides the storage:
/// `data` (capacity, a multiple of `E`), `programmed` (one bit per word: at least
/// `data.len() / W / 32` words) and `wear` (one counter per erase unit).
pub struct RamFlash<'a, const W: usize, const E: usize> {
    data: &'a mut [u8],
    programmed: &'a mut [u32],
    wear: &'a mut [u32],
    cut_in: Option<u32>,
    dead: bool,
    pub violations: u32,
    pub counters: RamFlashCounters,
}

impl<'a, const W: usize, const E: usize> RamFlash<'a, W, E> {
    /// A blank (erased, all 0xFF) flash over the given buffers.
    pub fn new(data: &'a mut [u8], programmed: &'a mut [u32], wear: &'a mut [u32]) -> Self {
        assert!(W > 0 && E.is_multiple_of(W) && data.len().is_multiple_of(E));
        assert!(programmed.len() * 32 >= data.len() / W);
        assert!(wear.len() >= data.len() / E);
        data.fill(0xFF);
        programmed.fill(0);
        wear.fill(0);
        Self {
            data,
            programmed,
            wear,
            cut_in: None,
            dead: false,
            violations: 0,
            counters: RamFlashCounters::default(),
        }
    }

    /// Let `n` more write/erase operations succeed; the one after fails part-way (power cut).
    pub fn cut_after(&mut self, n: u32) {
        self.cut_in = Some(n);
    }

    /// Restore power: cancel any pending cut, operations work again.
    pub fn power_on(&mut self) {
        self.cut_in = None;
        self.dead = false;
    }

    /// True once a cut has happened (and until `power_on`).
    pub fn is_cut(&self) -> bool {
        self.dead
    }

    /// Erase count of each unit.
    pub fn wear(&self) -> &[u32] {
        &self.wear[..self.data.len() / E]
    }

    /// (min, max) erase count over all units.
    pub fn wear_spread(&self) -> (u32, u32) {
        let w = self.wear();
        let min = w.iter().copied().min().unwrap_or(0);
        let max = w.iter().copied().max().unwrap_or(0);
        (min, max)
    }

    /// Raw image (for tests that corrupt or inspect it).
    pub fn image(&mut self) -> &mut [u8] {
        self.data
    }

    fn word_programmed(&self, word: usize) -> bool {
        self.programmed[word / 32] & (1 << (word % 32)) != 0
    }

    fn set_word(&mut self, word: usize, on: bool) {
        if on {
            self.programmed[word / 32] |= 1 << (word % 32);
        } else {
            self.programmed[word / 32] &= !(1 << (word % 32));
        }
    }

    /// Decrement the cut counter; true if this operation is the one that gets cut.
    fn tick(&mut self) -> Result<bool, RamFlashError> {
        if self.dead {
            return Err(RamFlashError::PowerCut);
        }
        match self.cut_in {
            Some(0) => {
                self.dead = true;
                self.cut_in = None;
                Ok(true)
            }
            Some(n) => {
                self.cut_in = Some(n - 1);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn violation(&mut self, e: RamFlashError) -> RamFlashError {
        self.violations += 1;
        e
    }
}

impl<const W: usize, const E: usize> ErrorType for RamFlash<'_, W, E> {
    type Error = RamFlashError;
}

impl<const W: usize, const E: usize> ReadNorFlash for RamFlash<'_, W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = offset as usize;
        let end = start
            .checked_add(bytes.len())
            .ok_or(RamFlashError::OutOfBounds)?;
        if end > self.data.len() {
            return Err(RamFlashError::OutOfBounds);
        }
        bytes.copy_from_slice(&self.data[start..end]);
        self.counters.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize, const E: usize> NorFlash for RamFlash<'_, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let start = offset as usize;
        if !start.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(self.violation(RamFlashError::NotAligned));
        }
        let end = start
            .checked_add(bytes.len())
            .ok_or(RamFlashError::OutOfBounds)?;
        if end > self.data.len() {
            return Err(self.violation(RamFlashError::OutOfBounds));
        }
        // Check the whole request first, like a controller that rejects it up front.
        for (i, chunk) in bytes.chunks(W).enumerate() {
            let word = start / W + i;
            if self.word_programmed(word) {
                return Err(self.violation(RamFlashError::DoubleProgram));
            }
            let cur = &self.data[word * W..word * W + W];
            if chunk.iter().zip(cur).any(|(n, c)| n & !c != 0) {
                return Err(self.violation(RamFlashError::ZeroToOne));
            }
        }
        let cut = self.tick()?;
        self.counters.writes += 1;
        let words = bytes.len() / W;
        // A cut program completes the first half of its words, then half of the next word.
        let (full, partial) = if cut {
            (words / 2, true)
        } else {
            (words, false)
        };
        for i in 0..full {
            let word = start / W + i;
            self.set_word(word, true);
            let dst = &mut self.data[word * W..word * W + W];
            for (d, s) in dst.iter_mut().zip(&bytes[i * W..i * W + W]) {
                *d &= *s;
            }
        }
        self.counters.bytes_programmed += (full * W) as u64;
        if partial {
            if full < words {
                let word = start / W + full;
                self.set_word(word, true);
                let dst = &mut self.data[word * W..word * W + W / 2];
                for (d, s) in dst.iter_mut().zip(&bytes[full * W..full * W + W / 2]) {
                    *d &= *s;
                }
                self.counters.bytes_programmed += (W / 2) as u64;
            }
            return Err(RamFlashError::PowerCut);
        }
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let (from, to) = (from as usize, to as usize);
        if from % E != 0 || to % E != 0 || from > to {
            return Err(self.violation(RamFlashError::NotAligned));
        }
        if to > self.data.len() {
            return Err(self.violation(RamFlashError::OutOfBounds));
        }
        for unit in from / E..to / E {
            let cut = self.tick()?;
            let base = unit * E;
            let len = if cut { E / 2 } else { E };
            self.data[base..base + len].fill(0xFF);
            for w in base / W..(base + len) / W {
                self.set_word(w, false);
            }
            if cut {
                return Err(RamFlashError::PowerCut);
            }
            self.wear[unit] += 1;
            self.counters.erases += 1;
        }
        Ok(())
    }
}

/// The async traits: the same operations, ready at once (for the async API on QEMU).
impl<const W: usize, const E: usize> embedded_storage_async::nor_flash::ReadNorFlash
    for RamFlash<'_, W, E>
{
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        ReadNorFlash::read(self, offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize, const E: usize> embedded_storage_async::nor_flash::NorFlash
    for RamFlash<'_, W, E>
{
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        NorFlash::write(self, offset, bytes)
    }

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        NorFlash::erase(self, from, to)
    }
}
