//! Errors returned by the FTL.
//!
//! One enum for every failure a caller can see. Flash driver errors are wrapped, never
//! swallowed; everything that came from flash and did not check out is `Corrupt` or a
//! mount-time classification (`Blank`, `NotFormatted`, `Incompatible`, ...).

use crate::geometry::ConfigError;

/// Everything that can go wrong in a `cowftl` call. `E` is the flash driver's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The flash driver failed (after any retries and unit retirement the FTL could do).
    Flash(E),
    /// The configuration does not fit this flash or these compile-time capacities.
    Config(ConfigError),
    /// The region is fully erased: nothing to mount. Call `format` (or `mount_or_format`).
    Blank,
    /// The region holds data that is not a cowftl volume. Nothing was changed.
    NotFormatted,
    /// The region holds a cowftl volume written with a different geometry
    /// (unit size, unit count or block size). Nothing was changed.
    Incompatible,
    /// The region holds a cowftl volume of an on-flash format version this build cannot read.
    UnsupportedVersion(u8),
    /// Logical block number is not below `block_count()`.
    OutOfRange,
    /// The buffer length is not exactly one logical block (or, for `Storage`, out of bounds).
    BufferSize,
    /// No free slot can be made: the log is full (always the case at the end of a WORM part).
    NoSpace,
    /// Too many units have failed: the volume only accepts reads now. Everything
    /// acknowledged before stays readable.
    ReadOnly,
    /// Stored data or its record failed its CRC: the block cannot be returned intact.
    Corrupt,
    /// A transaction already holds `Ftl::max_transaction_blocks()` blocks.
    TransactionFull,
    /// Reading the base image of an `Overlay` failed.
    Base,
    /// Records that snapshots hold leave no room for this write: delete a snapshot (or roll
    /// back to one). Nothing was written; everything stored stays as it was.
    SnapshotFull,
    /// No such snapshot: deleted, dropped by a rollback to an older one, or never taken.
    NoSnapshot,
    /// Every snapshot slot of this build (`Ftl`'s `MAX_SNAPSHOTS`) is taken, too many
    /// rollbacks' dead records are still on flash, the block size is below 256 bytes, or (at
    /// mount) the volume holds a snapshot in a slot this build does not keep.
    SnapshotLimit,
    /// `revert_all` (a factory reset) is refused while snapshots are held: delete them first.
    SnapshotsHeld,
    /// Not available with this map mode yet: a volume whose block map lives on flash
    /// (`flashmap::mode::OnFlash`, being built) does not mount or `revert_all` yet.
    Unsupported,
}

impl<E> From<ConfigError> for Error<E> {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Flash(e) => write!(f, "flash driver error: {e:?}"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Blank => f.write_str("region is blank (not formatted)"),
            Error::NotFormatted => f.write_str("region does not hold a cowftl volume"),
            Error::Incompatible => f.write_str("cowftl volume has a different geometry"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported on-flash format version {v}"),
            Error::OutOfRange => f.write_str("logical block out of range"),
            Error::BufferSize => f.write_str("buffer size does not match the request"),
            Error::NoSpace => f.write_str("no space left on the flash log"),
            Error::ReadOnly => f.write_str("volume is read-only (spare units exhausted)"),
            Error::Corrupt => f.write_str("stored data failed its CRC check"),
            Error::TransactionFull => f.write_str("transaction holds its maximum of blocks"),
            Error::Base => f.write_str("reading the base image failed"),
            Error::SnapshotFull => {
                f.write_str("no room: snapshots hold the space this write needs")
            }
            Error::NoSnapshot => f.write_str("no such snapshot"),
            Error::SnapshotLimit => {
                f.write_str("snapshot limit reached (slots, rollbacks or block size)")
            }
            Error::SnapshotsHeld => f.write_str("refused while snapshots are held"),
            Error::Unsupported => f.write_str("not available with this map mode yet"),
        }
    }
}
