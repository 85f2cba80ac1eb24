//! The unit table: per erase unit, its state, wear counter, live-slot count, fill and age.
//!
//! RAM only; mount rebuilds it from headers and record tables. Wear statistics and the
//! choice of the least- or most-worn available unit (dynamic wear levelling) live here.

use heapless::Vec;

/// Lifecycle of an erase unit.
///
/// ```text
///  Dirty --erase + header--> Free --first append--> Open --full / remount--> Sealed
///    ^                                                                         |
///    +------------------- GC (copy the live slots, erase) ---------------------+
///  any state --program/erase failure--> Retired (recorded on flash, never used again)
/// ```
/// A unit with no live slot that is not a write frontier is *available*: it becomes a
/// frontier after at most one erase (docs/DESIGN.md, "Space invariant").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnitState {
    /// Valid header and an empty record table. `verified`: erased this session, so its
    /// slots can be programmed without probing them first.
    Free { verified: bool },
    /// Must be erased before use: no valid header of this volume (torn erase, foreign data).
    Dirty,
    /// A write frontier: slots from `used` on may be programmed.
    Open,
    /// Holds records and is not a frontier; GC may reclaim it.
    Sealed,
    /// Failed a program, erase or verification: never used again.
    Retired,
}

/// Slot index meaning "none" in `UnitInfo::last_valid` and `probed`: a unit holds at most
/// `MAX_SLOTS_PER_UNIT` (255) slots, numbered 0..=254, so 255 is never a slot.
pub const NO_SLOT: u8 = u8::MAX;

const _: () = assert!(crate::geometry::MAX_SLOTS_PER_UNIT <= NO_SLOT as u32);

/// Everything the FTL keeps in RAM about one unit: 16 bytes (slot counts fit a byte, the
/// 40-bit stamp is split so that nothing needs 8-byte alignment; docs/DESIGN.md, "RAM").
///
/// ```text
///  0        4          8    9      10     11          12       13      14     15      16
///  +--------+----------+----+------+------+-----------+--------+-------+------+-------+
///  | wear   | stamp lo | hi | valid| used | last_valid| probed | fresh |copies| state |
///  +--------+----------+----+------+------+-----------+--------+-------+------+-------+
/// ```
/// (Field order as declared; the compiler may reorder, `size_of` is what is asserted.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnitInfo {
    /// Erase count (from the header; estimated as the mean when the header was lost).
    pub wear: u32,
    /// Low 32 bits of the stamp (`stamp()`).
    stamp_lo: u32,
    /// High 8 bits of the stamp: versions are 40-bit (`VERSION_LIMIT`).
    stamp_hi: u8,
    /// Slots holding the newest record of some block (or a retire record still needed).
    pub valid: u8,
    /// Slots consumed (programmed, torn or given up) from the start of the unit.
    pub used: u8,
    /// The last slot holding a record this session counts as valid (`NO_SLOT`: none). The
    /// next append voids the slots between it and itself (its claim's `skip`).
    pub last_valid: u8,
    /// In a unit not erased this session, the slot last checked blank (`NO_SLOT`: none);
    /// each slot is checked just before it is programmed.
    pub probed: u8,
    /// Erased this session: slots from `used` on are known blank.
    pub fresh: bool,
    /// Opened as the cold frontier: a host rewrite of a block here goes cold unless the unit
    /// is very young (`gc::host_stream`). Not kept across a mount (false: the general rule).
    pub cold: bool,
    pub state: UnitState,
}

const _: () = assert!(core::mem::size_of::<UnitInfo>() == 16);

impl UnitInfo {
    /// Neither live data nor a frontier: can be erased and reused without copying.
    pub fn is_available(&self) -> bool {
        self.valid == 0 && !matches!(self.state, UnitState::Retired | UnitState::Open)
    }

    /// Highest version in the unit: the age of its data for cost-benefit GC.
    pub fn stamp(&self) -> u64 {
        (u64::from(self.stamp_hi) << 32) | u64::from(self.stamp_lo)
    }

    /// Set the stamp. Versions are 40-bit on flash (a claim has no room for more), so the
    /// high part fits its byte.
    pub fn set_stamp(&mut self, version: u64) {
        debug_assert!(version < crate::layout::VERSION_LIMIT);
        (self.stamp_lo, self.stamp_hi) = (version as u32, (version >> 32) as u8);
    }
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

/// A unit nothing is known about yet.
const BLANK: UnitInfo = UnitInfo {
    wear: 0,
    stamp_lo: 0,
    stamp_hi: 0,
    valid: 0,
    used: 0,
    last_valid: NO_SLOT,
    probed: NO_SLOT,
    fresh: false,
    cold: false,
    state: UnitState::Dirty,
};

/// Fixed-capacity table of up to `U` units.
#[derive(Debug)]
pub struct UnitTable<const U: usize> {
    units: Vec<UnitInfo, U>,
}

impl<const U: usize> UnitTable<U> {
    /// `count` units, all `Dirty` with zero wear, until mount or format fills them in.
    pub fn new(count: u32) -> Self {
        let mut table = UnitTable { units: Vec::new() };
        table.reset(count);
        table
    }

    /// `count` units, all `Dirty` with zero wear, in place (like `BlockMap::reset`).
    pub fn reset(&mut self, count: u32) {
        self.units.clear();
        // Cannot fail: Geometry::new rejected unit counts above U.
        let _ = self.units.resize(count as usize, BLANK);
    }

    pub fn len(&self) -> u32 {
        self.units.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    pub fn get(&self, u: u32) -> &UnitInfo {
        &self.units[u as usize]
    }

    pub fn get_mut(&mut self, u: u32) -> &mut UnitInfo {
        &mut self.units[u as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &UnitInfo)> {
        self.units.iter().enumerate().map(|(i, u)| (i as u32, u))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut UnitInfo> {
        self.units.iter_mut()
    }

    pub fn count(&self, pred: impl Fn(&UnitInfo) -> bool) -> u32 {
        self.units.iter().filter(|u| pred(u)).count() as u32
    }

    /// Units a frontier can be made of without copying anything.
    pub fn available(&self) -> u32 {
        self.count(UnitInfo::is_available)
    }

    pub fn retired(&self) -> u32 {
        self.count(|u| u.state == UnitState::Retired)
    }

    /// Dynamic wear levelling: the least (or most) worn available unit; free units before
    /// ones that need an erase, then the lowest index, so the choice is deterministic.
    /// `free_only`: write-once media can use only units that need no erase.
    pub fn pick_available(&self, most_worn: bool, free_only: bool) -> Option<u32> {
        // A plain loop keeping the first unit with the smallest (wear, needs erase): the
        // same choice as `min_by_key` with the index in the key, in less code (measured).
        let mut best: Option<(u32, (u32, bool))> = None;
        for (i, u) in self.iter() {
            let needs_erase = !matches!(u.state, UnitState::Free { .. });
            if !u.is_available() || (free_only && needs_erase) {
                continue;
            }
            let wear = if most_worn { u32::MAX - u.wear } else { u.wear };
            let key = (wear, needs_erase);
            if best.is_none_or(|(_, k)| key < k) {
                best = Some((i, key));
            }
        }
        best.map(|(i, _)| i)
    }

    /// (min, max) erase count over the units that are not retired; (`u32::MAX`, 0) if none:
    /// what static wear levelling needs, without the mean and total of `wear_summary`.
    pub fn wear_range(&self) -> (u32, u32) {
        let live = self.units.iter().filter(|u| u.state != UnitState::Retired);
        live.fold((u32::MAX, 0), |(lo, hi), u| {
            (lo.min(u.wear), hi.max(u.wear))
        })
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
        // One pass for the minimum and the count, one for the excess over the minimum.
        let (mut min, mut n) = (u32::MAX, 0u32);
        for u in self.units.iter().filter(|u| pred(u)) {
            min = min.min(u.wear);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let excess = self
            .units
            .iter()
            .filter(|u| pred(u))
            .fold(0u32, |acc, u| acc.saturating_add(u.wear - min));
        Some(min + excess / n)
    }
}

/// GC's age weight (`gc::pick_victim`): about `32 * age^0.625` for `1 <= age <= 2^23`, as
/// `s = sqrt(256 * age)` times `s^(1/4)`; below 2^20, so times 255 free slots fits a u32.
pub fn age_weight(age: u32) -> u32 {
    let s = isqrt(age << 8);
    s * isqrt(isqrt(s))
}

/// Integer square root, bit by bit (core's `isqrt` pulls in a table: more code).
fn isqrt(x: u32) -> u32 {
    let (mut rest, mut root, mut bit) = (x, 0u32, 1u32 << 30);
    while bit > x {
        bit >>= 2;
    }
    while bit != 0 {
        if rest >= root + bit {
            rest -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_the_floor_of_the_square_root() {
        for x in (0..70_000u32).chain([u32::MAX, 1 << 31, (1 << 31) - 1, 46_340 * 46_340]) {
            let r = isqrt(x);
            assert!(u64::from(r) * u64::from(r) <= u64::from(x), "{x}");
            assert!(u64::from(r + 1) * u64::from(r + 1) > u64::from(x), "{x}");
        }
    }

    #[test]
    fn age_weight_grows_like_age_to_the_0_625_and_stays_small() {
        let mut last = 0;
        for age in (1..=1u32 << 23).step_by(997).chain([1 << 23]) {
            let w = age_weight(age);
            assert!(w >= last, "not monotone at {age}");
            last = w;
            let ideal = 32.0 * f64::from(age).powf(0.625);
            // Integer roots: within 40 % of the curve (closer as the age grows).
            assert!(
                (f64::from(w) - ideal).abs() <= 0.4 * ideal + 32.0,
                "{age}: {w} vs {ideal}"
            );
        }
        assert!(age_weight(1 << 23) < 1 << 20);
        assert!(age_weight(1 << 23).checked_mul(255).is_some());
    }
}
