//! Operation counters and the modelled device time.
//!
//! Owns [`SimStats`]. The flash updates it on every operation that reaches the device (arguments
//! valid, power on); [`SimFlash::reset_stats`](crate::SimFlash::reset_stats) zeroes it. Wear for
//! endurance purposes is kept separately and is never reset.

/// Counters since creation or the last `reset_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Bytes returned by reads.
    pub bytes_read: u64,
    /// Bytes passed to program operations (including cut and failed ones).
    pub bytes_programmed: u64,
    /// Program (`write`) operations.
    pub program_ops: u64,
    /// Read operations.
    pub read_ops: u64,
    /// Erase operations (one per `erase` call, whatever the number of units).
    pub erase_ops: u64,
    /// Erase attempts per erase unit (successful, cut and failed).
    pub erases_per_unit: Vec<u32>,
    /// Modelled device busy time in nanoseconds, from the part's datasheet timings.
    pub device_time_ns: u64,
}

impl SimStats {
    pub(crate) fn new(units: usize) -> Self {
        Self {
            erases_per_unit: vec![0; units],
            ..Self::default()
        }
    }

    /// Total erases of all units (sum of `erases_per_unit`).
    pub fn total_unit_erases(&self) -> u64 {
        self.erases_per_unit.iter().map(|&e| u64::from(e)).sum()
    }

    /// Largest minus smallest of `erases_per_unit` (0 for an empty flash).
    pub fn wear_spread(&self) -> u32 {
        let max = self.erases_per_unit.iter().copied().max().unwrap_or(0);
        let min = self.erases_per_unit.iter().copied().min().unwrap_or(0);
        max - min
    }
}
