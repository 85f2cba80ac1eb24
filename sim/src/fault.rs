//! Rule violations and the physics of torn operations.
//!
//! Owns [`Violation`], [`Rule`], [`ViolationMode`] (what happens when the code under test breaks a
//! flash rule) and the seeded models of what a power cut leaves behind: [`tear_program`] (an
//! arbitrary subset of the intended 1→0 bits) and [`tear_erase`] (one of [`TornErase`]'s outcomes).
//! The bookkeeping of *when* a cut fires lives in `flash.rs`.

use crate::rng::SplitMix64;
use core::fmt;

/// What the simulator does when the code under test breaks a flash rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ViolationMode {
    /// `panic!` with the part, address, operation and rule (the default: a violation fails the
    /// test loudly, it is never an ordinary `Err`).
    #[default]
    Panic,
    /// Push the violation to [`SimFlash::violations`](crate::SimFlash::violations) and carry on as
    /// the hardware would (the stored result is `old & new`; on a one-program-per-word part the
    /// word becomes unstable, as its ECC would be garbage).
    Record,
}

/// The flash rule that was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The caller asked for a 1 bit where the flash holds a 0 (`new & !old != 0`). Programming can
    /// only clear bits. This is strict on every part, including multi-write ones: writing a 1 over
    /// a 0 is treated as a bug, not as "leave the bit alone" (see
    /// [`SimFlash::set_zero_to_one_is_violation`](crate::SimFlash::set_zero_to_one_is_violation)).
    ZeroToOne,
    /// A second program of a word between two erases on a one-program-per-word (ECC/OTP) part.
    /// Every program counts, even one whose data is all `0xFF`.
    SecondProgram,
    /// A program of a word whose last program or erase was cut by power loss (or failed), on a
    /// one-program-per-word part. Only a successful erase makes such a word programmable again.
    ProgramUnstable,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::ZeroToOne => "program would turn a 0 bit back into 1",
            Rule::SecondProgram => "second program of a word on a one-program-per-word part",
            Rule::ProgramUnstable => {
                "program of an unstable word (its last program/erase was cut) on a one-program-per-word part"
            }
        })
    }
}

/// One broken rule, as recorded in [`ViolationMode::Record`] or printed by the panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Part name from the spec.
    pub part: &'static str,
    /// Operation that broke the rule (always `"program"` today).
    pub op: &'static str,
    /// Address of the offending write unit.
    pub addr: u32,
    /// The rule.
    pub rule: Rule,
    /// Word contents before the program.
    pub stored: Vec<u8>,
    /// Word contents the caller asked for.
    pub intended: Vec<u8>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flash VIOLATION on {}: {} at 0x{:08x}: {} (stored {:02x?}, intended {:02x?})",
            self.part, self.op, self.addr, self.rule, self.stored, self.intended
        )
    }
}

/// What a cut (or failed) erase leaves in the unit; chosen uniformly per torn erase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornErase {
    /// The erase had not started: old contents unchanged.
    Unchanged,
    /// The pre-program phase finished: all zeros.
    Zeros,
    /// The erase looks complete (but the words are still unstable).
    Ones,
    /// Partly erased: each old 0 bit randomly stays 0 or became 1.
    OldAndOnes,
    /// Arbitrary bytes.
    Random,
}

/// Overwrite `unit` with what a torn erase leaves and return which outcome was chosen.
pub(crate) fn tear_erase(rng: &mut SplitMix64, unit: &mut [u8]) -> TornErase {
    let outcome = match rng.below(5) {
        0 => TornErase::Unchanged,
        1 => TornErase::Zeros,
        2 => TornErase::Ones,
        3 => TornErase::OldAndOnes,
        _ => TornErase::Random,
    };
    match outcome {
        TornErase::Unchanged => {}
        TornErase::Zeros => unit.fill(0),
        TornErase::Ones => unit.fill(0xFF),
        TornErase::OldAndOnes => unit.iter_mut().for_each(|b| *b |= rng.next_u8()),
        TornErase::Random => unit.iter_mut().for_each(|b| *b = rng.next_u8()),
    }
    outcome
}

/// Apply a random subset of the intended 1→0 bits of `new` to `stored` (same length).
fn random_subset(rng: &mut SplitMix64, stored: &mut [u8], new: &[u8]) {
    for (s, n) in stored.iter_mut().zip(new) {
        let clear = *s & !*n;
        *s &= !(clear & rng.next_u8());
    }
}

/// Apply a random *strict* subset of the intended 1→0 bits when there is at least one such bit.
fn strict_subset(rng: &mut SplitMix64, stored: &mut [u8], new: &[u8]) {
    let before: Vec<u8> = stored.to_vec();
    random_subset(rng, stored, new);
    let intended: Vec<u8> = before.iter().zip(new).map(|(s, n)| s & !n).collect();
    let total: u32 = intended.iter().map(|b| b.count_ones()).sum();
    let applied_all = stored.iter().zip(new).all(|(s, n)| *s == (*s & *n));
    if total > 0 && applied_all {
        // Leave one randomly chosen intended bit unprogrammed.
        let mut pick = rng.below(u64::from(total)) as u32;
        for (i, b) in intended.iter().enumerate() {
            let c = b.count_ones();
            if pick < c {
                let mut bits = *b;
                for _ in 0..pick {
                    bits &= bits - 1;
                }
                stored[i] |= bits & bits.wrapping_neg();
                return;
            }
            pick -= c;
        }
    }
}

/// Model a program cut (or failed) `torn` bytes into the torn word.
///
/// `stored`/`new` cover the op from the cut byte to its end; the first `torn` bytes are the rest of
/// the word containing the cut (which gets a strict subset of its intended bits when it has any).
/// The remaining words get, chosen per cut: nothing (programming stopped), random subsets, or all
/// of their bits (the controller programs words in an order the caller cannot know).
pub(crate) fn tear_program(rng: &mut SplitMix64, stored: &mut [u8], new: &[u8], torn: usize) {
    let torn = torn.min(stored.len());
    let (first, rest) = stored.split_at_mut(torn);
    let (nfirst, nrest) = new.split_at(torn);
    strict_subset(rng, first, nfirst);
    match rng.below(3) {
        0 => {}
        1 => random_subset(rng, rest, nrest),
        _ => rest.iter_mut().zip(nrest).for_each(|(s, n)| *s &= *n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_program_is_strict_subset_of_intended_bits() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..1000 {
            let old: Vec<u8> = (0..8).map(|_| rng.next_u8() | 0xF0).collect();
            let new: Vec<u8> = (0..8).map(|_| rng.next_u8()).collect();
            let mut s = old.clone();
            tear_program(&mut rng, &mut s, &new, 8);
            for i in 0..8 {
                // Only intended bits cleared; no bit went 0 -> 1.
                assert_eq!(s[i] & old[i], s[i]);
                assert_eq!(s[i] | (old[i] & !new[i]), old[i]);
            }
            let intended = old.iter().zip(&new).any(|(o, n)| o & !n != 0);
            if intended {
                let full: Vec<u8> = old.iter().zip(&new).map(|(o, n)| o & n).collect();
                assert_ne!(s, full, "torn word must not be fully programmed");
            }
        }
    }

    #[test]
    fn torn_erase_outcomes_all_happen() {
        let mut rng = SplitMix64::new(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut u = vec![0x5Au8; 64];
            let o = tear_erase(&mut rng, &mut u);
            match o {
                TornErase::Unchanged => assert!(u.iter().all(|&b| b == 0x5A)),
                TornErase::Zeros => assert!(u.iter().all(|&b| b == 0)),
                TornErase::Ones => assert!(u.iter().all(|&b| b == 0xFF)),
                TornErase::OldAndOnes => assert!(u.iter().all(|&b| b & 0x5A == 0x5A)),
                TornErase::Random => {}
            }
            seen.insert(format!("{o:?}"));
        }
        assert_eq!(seen.len(), 5);
    }
}
