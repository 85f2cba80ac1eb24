//! The unit table: per erase unit, its state, wear counter, valid-slot count and fill.
//!
//! RAM only; mount rebuilds it from headers and record tables. Wear statistics and the
//! choice of the least-worn available unit (dynamic wear levelling) live here.

use heapless::Vec;

/// Lifecycle of an erase unit.
///
/// ```text
///  Dirty --erase+header A--> Free --header B--> Open --full/remount--> Sealed
///    ^                                                                  |
///    +-------------------------- GC (relocate, erase) ------------------+
///  any state --program/erase failure--> Retired (never used again this session)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnitState {
    /// Erased with a valid header A and nothing else. `verified`: this session read the
    /// whole unit back as erased, so slots can be programmed without another check.
    Free { verified: bool },
    /// Must be erased before use (bad or missing header, torn contents, opened but empty).
    /// Holds no valid data.
    Dirty,
    /// Current write frontier of a stream; slots `used..` are still erased.
    Open,
    /// Never appended to again; GC may reclaim it.
    Sealed,
    /// Failed a program or erase; never used again this session.
    Retired,
}

/// Everything the FTL keeps in RAM about one unit (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitInfo {
    /// Erase count (from the header; estimated as the mean when the header was lost).
    pub wear: u32,
    /// Slots holding the newest record of some block.
    pub valid: u16,
    /// Slots consumed (programmed or given up) from the start of the unit.
    pub used: u16,
    pub state: UnitState,
}

/// Wear statistics over the units that are not retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WearSummary {
    pub min: u32,
    pub max: u32,
    /// Mean erase count, rounded down.
    pub mean: u32,
    pub total: u64,
}

/// Fixed-capacity table of up to `U` units.
#[derive(Debug)]
pub struct UnitTable<const U: usize> {
    units: Vec<UnitInfo, U>,
}

impl<const U: usize> UnitTable<U> {
    /// `count` units, all `Dirty` with zero wear, until mount or format fills them in.
    pub fn new(count: u32) -> Self {
        let mut units = Vec::new();
        let blank = UnitInfo {
            wear: 0,
            valid: 0,
            used: 0,
            state: UnitState::Dirty,
        };
        // Cannot fail: Geometry::new rejected unit counts above U.
        let _ = units.resize(count as usize, blank);
        UnitTable { units }
    }

    pub fn len(&self) -> u32 {
        self.units.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    pub fn get(&self, u: u32) -> UnitInfo {
        self.units[u as usize]
    }

    pub fn get_mut(&mut self, u: u32) -> &mut UnitInfo {
        &mut self.units[u as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &UnitInfo)> {
        self.units.iter().enumerate().map(|(i, u)| (i as u32, u))
    }

    pub fn count(&self, pred: impl Fn(&UnitInfo) -> bool) -> u32 {
        self.units.iter().filter(|u| pred(u)).count() as u32
    }

    /// Units a frontier can be opened in: free ones, and dirty ones when erasing is allowed.
    pub fn available(&self, can_erase: bool) -> u32 {
        self.count(|u| is_available(u, can_erase))
    }

    pub fn retired(&self) -> u32 {
        self.count(|u| u.state == UnitState::Retired)
    }

    /// Dynamic wear levelling: the least-worn available unit (free preferred over dirty on a
    /// tie, then the lowest index, so the choice is deterministic).
    pub fn least_worn_available(&self, can_erase: bool) -> Option<u32> {
        self.iter()
            .filter(|(_, u)| is_available(u, can_erase))
            .min_by_key(|(i, u)| (u.wear, matches!(u.state, UnitState::Dirty), *i))
            .map(|(i, _)| i)
    }

    pub fn wear_summary(&self) -> WearSummary {
        let live = |u: &UnitInfo| u.state != UnitState::Retired;
        let Some(mean) = self.mean_wear(live) else {
            return WearSummary::default();
        };
        let mut s = WearSummary {
            min: u32::MAX,
            max: 0,
            mean,
            total: 0,
        };
        for u in self.units.iter().filter(|u| live(u)) {
            s.min = s.min.min(u.wear);
            s.max = s.max.max(u.wear);
            s.total += u.wear as u64;
        }
        s
    }

    /// Mean erase count (rounded down) of the units matching `pred`, in 32-bit arithmetic
    /// (`min + sum(w - min) / n`: no 64-bit division routine on Cortex-M).
    pub fn mean_wear(&self, pred: impl Fn(&UnitInfo) -> bool) -> Option<u32> {
        let min = self
            .units
            .iter()
            .filter(|u| pred(u))
            .map(|u| u.wear)
            .min()?;
        let n = self.count(&pred);
        let excess = self
            .units
            .iter()
            .filter(|u| pred(u))
            .fold(0u32, |acc, u| acc.saturating_add(u.wear - min));
        Some(min + excess / n.max(1))
    }
}

fn is_available(u: &UnitInfo, can_erase: bool) -> bool {
    match u.state {
        UnitState::Free { .. } => true,
        UnitState::Dirty => can_erase,
        _ => false,
    }
}
