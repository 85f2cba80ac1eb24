//! The simulator's error type.
//!
//! Owns [`SimError`]: what a [`SimFlash`](crate::SimFlash) operation returns when it fails the way
//! real hardware (or a real driver) would. Rule violations by the caller (programming a 0 bit back to
//! 1, a second program of an ECC word, ...) are *not* errors: they panic or are recorded, see
//! [`ViolationMode`](crate::ViolationMode).

use core::fmt;
use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};

/// Why a simulated flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimError {
    /// Offset or length not a multiple of the operation's size (`READ_SIZE`, `WRITE_SIZE`,
    /// `ERASE_SIZE`). Maps to [`NorFlashErrorKind::NotAligned`].
    NotAligned,
    /// The range exceeds the capacity, or `from > to` in an erase. Maps to
    /// [`NorFlashErrorKind::OutOfBounds`].
    OutOfBounds,
    /// Power was cut (by fault injection) during this operation, or the flash has been unpowered
    /// since an earlier cut. Every operation fails with this until
    /// [`SimFlash::power_restore`](crate::SimFlash::power_restore).
    PowerLost,
    /// Erase of this erase unit failed (endurance exhausted or injected with `fail_erase`). The
    /// unit's contents are undefined (and read unstable) afterwards.
    EraseFailed {
        /// Index of the erase unit (`address / ERASE_SIZE`).
        unit: usize,
    },
    /// A program failed at this address (worn-out unit or injected with `fail_program`). Bytes
    /// before it were programmed; words from it to the end of the operation are undefined and
    /// unstable.
    ProgramFailed {
        /// Address of the first word that failed.
        addr: u32,
    },
    /// The part cannot be erased at all (WORM/OTP).
    NotErasable,
    /// A program or erase touched a region marked read-only with
    /// [`SimFlash::set_read_only`](crate::SimFlash::set_read_only) (a base image in ROM or a
    /// write-protected sector). Nothing was changed.
    ReadOnlyRegion {
        /// First address of the operation.
        addr: u32,
    },
    /// An image given to `from_image`/`load` does not have the part's capacity.
    ImageSize {
        /// The part's capacity in bytes.
        expected: usize,
        /// The image length.
        got: usize,
    },
    /// The [`PartSpec`](crate::PartSpec) does not fit the `SimFlash` type's geometry.
    InvalidSpec(&'static str),
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for SimError {
    fn from(k: NorFlashErrorKind) -> Self {
        match k {
            NorFlashErrorKind::NotAligned => SimError::NotAligned,
            _ => SimError::OutOfBounds,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NotAligned => write!(f, "arguments are not aligned"),
            SimError::OutOfBounds => write!(f, "arguments are out of bounds"),
            SimError::PowerLost => write!(f, "power lost"),
            SimError::EraseFailed { unit } => write!(f, "erase of unit {unit} failed"),
            SimError::ProgramFailed { addr } => write!(f, "program failed at 0x{addr:08x}"),
            SimError::NotErasable => write!(f, "this part cannot be erased"),
            SimError::ReadOnlyRegion { addr } => {
                write!(f, "program or erase at 0x{addr:08x} in a read-only region")
            }
            SimError::ImageSize { expected, got } => {
                write!(f, "image is {got} bytes, the part has {expected}")
            }
            SimError::InvalidSpec(why) => write!(f, "invalid part spec: {why}"),
        }
    }
}

impl std::error::Error for SimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map() {
        assert_eq!(SimError::NotAligned.kind(), NorFlashErrorKind::NotAligned);
        assert_eq!(SimError::OutOfBounds.kind(), NorFlashErrorKind::OutOfBounds);
        assert_eq!(SimError::PowerLost.kind(), NorFlashErrorKind::Other);
        assert_eq!(
            SimError::EraseFailed { unit: 3 }.kind(),
            NorFlashErrorKind::Other
        );
        assert_eq!(
            SimError::EraseFailed { unit: 3 }.to_string(),
            "erase of unit 3 failed"
        );
        let e: Box<dyn std::error::Error> = Box::new(SimError::NotErasable);
        assert!(e.to_string().contains("cannot be erased"));
    }
}
