//! The simulated flash device: storage, rule checks, counters, endurance and power cuts.
//!
//! Owns [`SimFlash`]: the RAM image, a per-word state (erased / programmed / unstable), per-unit
//! wear, the armed power cut and injected faults. The `embedded-storage` trait impls live in
//! `traits.rs` and call the inherent `read_bytes` / `program` / `erase_range` here.

use crate::error::SimError;
use crate::fault::{tear_erase, tear_program, Rule, Violation, ViolationMode};
use crate::rng::SplitMix64;
use crate::spec::PartSpec;
use crate::stats::SimStats;
use core::ops::Range;
use embedded_storage::nor_flash::{check_erase, check_read, check_write};
use std::path::Path;

/// Word state bit: programmed since the last erase.
const PROGRAMMED: u8 = 1;
/// Word state bit: the last program or erase touching this word was cut or failed.
const UNSTABLE: u8 = 2;

#[derive(Clone, Copy, Debug)]
struct CutPlan {
    /// Value of `ops` for the operation to cut.
    op_index: u64,
    /// Byte offset inside it; `None` picks one at random (seeded).
    byte: Option<usize>,
}

/// A RAM-backed NOR (or WORM) flash with strict rule checks and deterministic fault injection.
///
/// `READ`, `WRITE` and `ERASE` are the `embedded-storage` `READ_SIZE`, `WRITE_SIZE` ("word") and
/// `ERASE_SIZE`; READ must divide WRITE and WRITE must divide ERASE (checked at compile time).
/// The [`PartSpec`] gives the capacity, the programming rules and the timings.
///
/// # Rules enforced (a broken rule panics, or is recorded with [`ViolationMode::Record`])
/// * a program may only clear bits: asking for a 1 where a 0 is stored is [`Rule::ZeroToOne`];
/// * on a `one_program_per_word` part, each word is programmed at most once between erases
///   ([`Rule::SecondProgram`]), and never while unstable ([`Rule::ProgramUnstable`]).
///
/// Misaligned or out-of-range arguments are ordinary errors (`NotAligned` / `OutOfBounds`).
///
/// # Operation counting and power cuts
/// A *mutating op* is a `write` or `erase` call that has valid, non-empty arguments and finds the
/// power on; [`ops`](Self::ops) counts them (reads never count). [`cut_after_ops(n)`](Self::cut_after_ops)
/// cuts the `n+1`-th next such op at a random (seeded) byte; [`cut_at_byte`](Self::cut_at_byte)
/// picks the byte. After a cut every operation returns [`SimError::PowerLost`] until
/// [`power_restore`](Self::power_restore).
///
/// * Cut program at byte `b`: bytes `..b` are programmed; the word containing `b` gets a strict
///   subset of its intended 1→0 bits (when it has any), later words get none, some or all of theirs
///   (chosen per cut); every word from the one containing `b` to the end of the op is *unstable*.
///   `b >= len` means the data landed completely but the call still reports `PowerLost`.
/// * Cut erase at byte `b`: units before the one containing `b` are erased, that unit is left
///   with one of the [`TornErase`](crate::TornErase) outcomes and all its words unstable, later
///   units are untouched.
/// * Reads of an unstable word return, each time, either the stored value (probability 1/2), the
///   stored value with random bits set, or random bytes, until the unit is erased successfully.
#[derive(Clone)]
pub struct SimFlash<const READ: usize, const WRITE: usize, const ERASE: usize> {
    spec: PartSpec,
    data: Vec<u8>,
    /// Per write unit: `PROGRAMMED` | `UNSTABLE`.
    state: Vec<u8>,
    /// Per erase unit: some word in it is unstable (fast path for reads).
    unit_unstable: Vec<bool>,
    /// Per erase unit: successful erases since creation (never reset).
    wear: Vec<u32>,
    /// Per erase unit: an erase failed for endurance; programs fail if `fail_program_when_worn`.
    worn: Vec<bool>,
    fail_erase_units: Vec<bool>,
    fail_program_ranges: Vec<Range<u32>>,
    /// Regions where every program and erase fails (`set_read_only`).
    read_only: Vec<Range<u32>>,
    endurance: Option<u32>,
    fail_program_when_worn: bool,
    stats: SimStats,
    rng: SplitMix64,
    ops: u64,
    cut: Option<CutPlan>,
    powered: bool,
    was_cut: bool,
    violations: Vec<Violation>,
    violation_mode: ViolationMode,
    zero_to_one_is_violation: bool,
}

impl<const READ: usize, const WRITE: usize, const ERASE: usize> core::fmt::Debug
    for SimFlash<READ, WRITE, ERASE>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimFlash")
            .field("part", &self.spec.name)
            .field("capacity", &self.spec.capacity)
            .field("geometry", &(READ, WRITE, ERASE))
            .field("ops", &self.ops)
            .field("powered", &self.powered)
            .field("violations", &self.violations.len())
            .finish_non_exhaustive()
    }
}

impl<const READ: usize, const WRITE: usize, const ERASE: usize> SimFlash<READ, WRITE, ERASE> {
    /// Compile-time geometry check, evaluated when a `SimFlash` is created.
    const GEOMETRY_OK: () = assert!(
        READ > 0 && WRITE > 0 && ERASE > 0 && WRITE % READ == 0 && ERASE % WRITE == 0,
        "SimFlash geometry: READ must divide WRITE and WRITE must divide ERASE"
    );

    /// A fully erased (all `0xFF`) flash.
    ///
    /// # Panics
    /// If the spec's geometry differs from the type's or its capacity is not a non-zero multiple
    /// of `ERASE` (a test-setup bug); use [`try_new`](Self::try_new) to get an error instead.
    pub fn new(spec: PartSpec, seed: u64) -> Self {
        match Self::try_new(spec, seed) {
            Ok(f) => f,
            Err(e) => panic!("SimFlash::new: {e}"),
        }
    }

    /// Like [`new`](Self::new) but returns [`SimError::InvalidSpec`] for a bad spec.
    pub fn try_new(spec: PartSpec, seed: u64) -> Result<Self, SimError> {
        let () = Self::GEOMETRY_OK;
        spec.validate(READ, WRITE, ERASE)
            .map_err(SimError::InvalidSpec)?;
        let units = spec.capacity / ERASE;
        Ok(Self {
            data: vec![0xFF; spec.capacity],
            state: vec![0; spec.capacity / WRITE],
            unit_unstable: vec![false; units],
            wear: vec![0; units],
            worn: vec![false; units],
            fail_erase_units: vec![false; units],
            fail_program_ranges: Vec::new(),
            read_only: Vec::new(),
            endurance: None,
            fail_program_when_worn: true,
            stats: SimStats::new(units),
            rng: SplitMix64::new(seed),
            ops: 0,
            cut: None,
            powered: true,
            was_cut: false,
            violations: Vec::new(),
            violation_mode: ViolationMode::Panic,
            zero_to_one_is_violation: true,
            spec,
        })
    }

    /// A flash holding `bytes` (length must equal the capacity). Words that are not all `0xFF`
    /// count as programmed; all-`0xFF` words count as erased.
    pub fn from_image(spec: PartSpec, seed: u64, bytes: &[u8]) -> Result<Self, SimError> {
        let mut f = Self::try_new(spec, seed)?;
        if bytes.len() != f.data.len() {
            return Err(SimError::ImageSize {
                expected: f.data.len(),
                got: bytes.len(),
            });
        }
        f.data.copy_from_slice(bytes);
        for (st, word) in f.state.iter_mut().zip(f.data.chunks_exact(WRITE)) {
            if word.iter().any(|&b| b != 0xFF) {
                *st = PROGRAMMED;
            }
        }
        Ok(f)
    }

    /// The raw contents (what a chip reader would dump; unstable words show their stored value).
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// Write the raw image to a `.bin` file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.data)
    }

    /// Load a raw `.bin` image (see [`from_image`](Self::from_image)).
    pub fn load(spec: PartSpec, seed: u64, path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Self::from_image(spec, seed, &bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// The part description.
    pub fn spec(&self) -> &PartSpec {
        &self.spec
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Number of erase units.
    pub fn units(&self) -> usize {
        self.wear.len()
    }

    /// Counters since creation or the last [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Zero the counters (wear, faults and `ops` are kept).
    pub fn reset_stats(&mut self) {
        self.stats = SimStats::new(self.wear.len());
    }

    /// Successful erases per unit since creation (never reset; what endurance is checked against).
    pub fn wear(&self) -> &[u32] {
        &self.wear
    }

    /// Mutating ops (programs and erases) that reached the device since creation, including the
    /// cut one. See the type docs for what counts.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Cut power during the `n+1`-th next mutating op (`n = 0`: the very next one), at a random
    /// (seeded) byte inside it. Replaces any armed cut and clears [`was_cut`](Self::was_cut).
    pub fn cut_after_ops(&mut self, n: u64) {
        self.arm_cut(n, None);
    }

    /// Like [`cut_after_ops`](Self::cut_after_ops) but cut at byte offset `byte` inside that op
    /// (`byte >=` the op's length: the op completes on flash but still reports `PowerLost`).
    pub fn cut_at_byte(&mut self, n_ops: u64, byte: usize) {
        self.arm_cut(n_ops, Some(byte));
    }

    fn arm_cut(&mut self, n: u64, byte: Option<usize>) {
        self.cut = Some(CutPlan {
            op_index: self.ops.saturating_add(n),
            byte,
        });
        self.was_cut = false;
    }

    /// Disarm a pending cut and clear [`was_cut`](Self::was_cut).
    pub fn cancel_cut(&mut self) {
        self.cut = None;
        self.was_cut = false;
    }

    /// Whether a cut is armed and has not fired yet.
    pub fn cut_pending(&self) -> bool {
        self.cut.is_some()
    }

    /// Power the flash back on after a cut (contents stay as the cut left them).
    pub fn power_restore(&mut self) {
        self.powered = true;
    }

    /// Power the flash off now, between operations (every op returns `PowerLost` until
    /// [`power_restore`](Self::power_restore)); nothing on flash changes.
    pub fn power_off(&mut self) {
        self.powered = false;
    }

    /// False after a cut until [`power_restore`](Self::power_restore).
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// True if the armed cut has fired (cleared by arming a new cut or `cancel_cut`).
    pub fn was_cut(&self) -> bool {
        self.was_cut
    }

    /// Endurance: with `Some(n)`, an erase of a unit already erased `n` times fails with
    /// [`SimError::EraseFailed`] and the unit is worn out (see
    /// [`set_fail_program_when_worn`](Self::set_fail_program_when_worn)). `None` (the default):
    /// unlimited.
    pub fn set_endurance(&mut self, erases: Option<u32>) {
        self.endurance = erases;
    }

    /// Whether programs into a worn-out unit fail with [`SimError::ProgramFailed`] (default true).
    pub fn set_fail_program_when_worn(&mut self, fail: bool) {
        self.fail_program_when_worn = fail;
    }

    /// Whether this unit is worn out (an erase failed for endurance).
    pub fn is_worn(&self, unit: usize) -> bool {
        self.worn.get(unit).copied().unwrap_or(false)
    }

    /// Make every erase of `unit` fail with [`SimError::EraseFailed`] (the unit is left undefined).
    ///
    /// # Panics
    /// If `unit` is not a unit of this flash.
    pub fn fail_erase(&mut self, unit: usize) {
        assert!(unit < self.wear.len(), "fail_erase: no unit {unit}");
        self.fail_erase_units[unit] = true;
    }

    /// Mark `range` read-only: every program or erase that touches it fails with
    /// [`SimError::ReadOnlyRegion`] and changes nothing (reads work). Models a base image in
    /// ROM or a write-protected sector.
    pub fn set_read_only(&mut self, range: Range<u32>) {
        self.read_only.push(range);
    }

    /// Whether `start..end` touches a read-only region.
    fn touches_read_only(&self, start: u32, end: u32) -> bool {
        self.read_only
            .iter()
            .any(|r| start < r.end && r.start < end)
    }

    /// Make every program touching a word in `range` fail with [`SimError::ProgramFailed`].
    pub fn fail_program(&mut self, range: Range<u32>) {
        self.fail_program_ranges.push(range);
    }

    /// Remove the faults injected with `fail_erase` / `fail_program` (endurance and wear stay).
    pub fn clear_faults(&mut self) {
        self.fail_erase_units.fill(false);
        self.fail_program_ranges.clear();
    }

    /// Flip one stored bit (bit rot / disturb injection). Not a violation; word state unchanged.
    ///
    /// # Panics
    /// If `addr` is out of range or `bit > 7`.
    pub fn flip_bit(&mut self, addr: u32, bit: u8) {
        assert!(bit < 8, "flip_bit: bit {bit} > 7");
        let a = addr as usize;
        assert!(
            a < self.data.len(),
            "flip_bit: address 0x{addr:x} out of range"
        );
        self.data[a] ^= 1 << bit;
    }

    /// Violations recorded in [`ViolationMode::Record`].
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Forget recorded violations.
    pub fn clear_violations(&mut self) {
        self.violations.clear();
    }

    /// Panic (default) or record on a broken rule.
    pub fn set_violation_mode(&mut self, m: ViolationMode) {
        self.violation_mode = m;
    }

    /// Whether asking for a 1 bit over a stored 0 is a violation (default true, on every part).
    /// With `false` such bits are left alone (the stored result is `old & new`, the
    /// `MultiwriteNorFlash` contract), which some multi-write drivers rely on.
    pub fn set_zero_to_one_is_violation(&mut self, strict: bool) {
        self.zero_to_one_is_violation = strict;
    }

    /// Whether the word containing `addr` was programmed since its last erase.
    pub fn is_programmed(&self, addr: u32) -> bool {
        self.state
            .get(addr as usize / WRITE)
            .is_some_and(|s| s & PROGRAMMED != 0)
    }

    /// Whether the word containing `addr` is unstable (its last program/erase was cut or failed).
    pub fn is_unstable(&self, addr: u32) -> bool {
        self.state
            .get(addr as usize / WRITE)
            .is_some_and(|s| s & UNSTABLE != 0)
    }

    fn report(&mut self, v: Violation) {
        match self.violation_mode {
            ViolationMode::Panic => panic!("{v}"),
            ViolationMode::Record => self.violations.push(v),
        }
    }

    fn take_cut(&mut self, op: u64, len: usize) -> Option<usize> {
        match self.cut {
            Some(plan) if plan.op_index == op => {
                self.cut = None;
                self.was_cut = true;
                Some(
                    plan.byte
                        .unwrap_or_else(|| self.rng.below(len as u64) as usize),
                )
            }
            _ => None,
        }
    }

    fn mark_unstable(&mut self, word: usize) {
        self.state[word] |= UNSTABLE;
        self.unit_unstable[word * WRITE / ERASE] = true;
    }

    /// Read `out.len()` bytes at `offset` (the body of `ReadNorFlash::read`).
    pub(crate) fn read_bytes(&mut self, offset: u32, out: &mut [u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        check_read(self, offset, out.len())?;
        let start = offset as usize;
        let end = start + out.len();
        self.stats.read_ops += 1;
        self.stats.bytes_read += out.len() as u64;
        self.stats.device_time_ns += self.spec.read_time_ns(out.len());
        out.copy_from_slice(&self.data[start..end]);
        if out.is_empty() {
            return Ok(());
        }
        let (first_unit, last_unit) = (start / ERASE, (end - 1) / ERASE);
        if !self.unit_unstable[first_unit..=last_unit].contains(&true) {
            return Ok(());
        }
        for w in start / WRITE..=(end - 1) / WRITE {
            if self.state[w] & UNSTABLE == 0 {
                continue;
            }
            let mut word = [0u8; WRITE];
            word.copy_from_slice(&self.data[w * WRITE..(w + 1) * WRITE]);
            match self.rng.below(4) {
                0 | 1 => {}
                2 => word.iter_mut().for_each(|b| *b |= self.rng.next_u8()),
                _ => word.iter_mut().for_each(|b| *b = self.rng.next_u8()),
            }
            let (ws, we) = (w * WRITE, (w + 1) * WRITE);
            let (s, e) = (ws.max(start), we.min(end));
            out[s - start..e - start].copy_from_slice(&word[s - ws..e - ws]);
        }
        Ok(())
    }

    /// First byte (op-relative, word aligned) at which a program of `len` bytes at `start` fails.
    fn program_fail_point(&self, start: usize, len: usize) -> Option<usize> {
        let mut first: Option<usize> = None;
        for r in &self.fail_program_ranges {
            let (rs, re) = (r.start as usize, r.end as usize);
            let (s, e) = (rs.max(start), re.min(start + len));
            if s < e {
                let p = (s - start) / WRITE * WRITE;
                first = Some(first.map_or(p, |f| f.min(p)));
            }
        }
        if self.fail_program_when_worn {
            for u in start / ERASE..=(start + len - 1) / ERASE {
                if self.worn[u] {
                    let p = (u * ERASE).max(start) - start;
                    first = Some(first.map_or(p, |f| f.min(p)));
                    break;
                }
            }
        }
        first
    }

    /// Program `bytes` at `offset` (the body of `NorFlash::write`).
    pub(crate) fn program(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        check_write(self, offset, bytes.len())?;
        if bytes.is_empty() {
            return Ok(());
        }
        if self.touches_read_only(offset, offset + bytes.len() as u32) {
            return Err(SimError::ReadOnlyRegion { addr: offset });
        }
        let start = offset as usize;
        let len = bytes.len();
        let op = self.ops;
        self.ops += 1;
        self.stats.program_ops += 1;
        self.stats.bytes_programmed += len as u64;
        self.stats.device_time_ns += self.spec.program_time_ns(start, len);

        self.check_program_rules(start, bytes);

        let cut = self.take_cut(op, len);
        let fail = self.program_fail_point(start, len);
        let stop = match (cut, fail) {
            (Some(c), Some(f)) => Some(c.min(f)),
            (c, f) => c.or(f),
        };
        let done = stop.unwrap_or(len).min(len);
        for (s, n) in self.data[start..start + done]
            .iter_mut()
            .zip(&bytes[..done])
        {
            *s &= *n;
        }
        let first_torn_word = (start + done) / WRITE;
        for w in start / WRITE..first_torn_word {
            self.state[w] |= PROGRAMMED;
        }
        if done < len {
            let torn_len = WRITE - (start + done) % WRITE;
            tear_program(
                &mut self.rng,
                &mut self.data[start + done..start + len],
                &bytes[done..],
                torn_len,
            );
            for w in first_torn_word..(start + len) / WRITE {
                self.state[w] |= PROGRAMMED;
                self.mark_unstable(w);
            }
        }
        if cut.is_some() {
            self.powered = false;
            return Err(SimError::PowerLost);
        }
        if stop.is_some() {
            return Err(SimError::ProgramFailed {
                addr: ((start + done) / WRITE * WRITE) as u32,
            });
        }
        Ok(())
    }

    fn check_program_rules(&mut self, start: usize, bytes: &[u8]) {
        let first_word = start / WRITE;
        for (i, new) in bytes.chunks_exact(WRITE).enumerate() {
            let w = first_word + i;
            let st = self.state[w];
            let old = &self.data[w * WRITE..(w + 1) * WRITE];
            let rule = if self.spec.one_program_per_word && st & UNSTABLE != 0 {
                Some(Rule::ProgramUnstable)
            } else if self.spec.one_program_per_word && st & PROGRAMMED != 0 {
                Some(Rule::SecondProgram)
            } else if self.zero_to_one_is_violation && old.iter().zip(new).any(|(o, n)| n & !o != 0)
            {
                Some(Rule::ZeroToOne)
            } else {
                None
            };
            if let Some(rule) = rule {
                let v = Violation {
                    part: self.spec.name,
                    op: "program",
                    addr: (w * WRITE) as u32,
                    rule,
                    stored: old.to_vec(),
                    intended: new.to_vec(),
                };
                self.report(v);
                if self.spec.one_program_per_word {
                    // The ECC of a re-programmed word is garbage: reads become unreliable.
                    self.mark_unstable(w);
                }
            }
        }
    }

    fn erase_unit_ok(&mut self, u: usize) {
        self.data[u * ERASE..(u + 1) * ERASE].fill(0xFF);
        self.state[u * ERASE / WRITE..(u + 1) * ERASE / WRITE].fill(0);
        self.unit_unstable[u] = false;
        self.wear[u] += 1;
    }

    fn erase_unit_torn(&mut self, u: usize) {
        tear_erase(&mut self.rng, &mut self.data[u * ERASE..(u + 1) * ERASE]);
        self.state[u * ERASE / WRITE..(u + 1) * ERASE / WRITE].fill(UNSTABLE);
        self.unit_unstable[u] = true;
    }

    /// Erase `from..to` (the body of `NorFlash::erase`).
    pub(crate) fn erase_range(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLost);
        }
        check_erase(self, from, to)?;
        if from == to {
            return Ok(());
        }
        if self.touches_read_only(from, to) {
            return Err(SimError::ReadOnlyRegion { addr: from });
        }
        let (start, end) = (from as usize, to as usize);
        let op = self.ops;
        self.ops += 1;
        self.stats.erase_ops += 1;
        let cut_byte = self.take_cut(op, end - start);
        let cut_unit = cut_byte.map(|b| start.saturating_add(b) / ERASE);
        if !self.spec.erasable {
            if cut_byte.is_some() {
                self.powered = false;
                return Err(SimError::PowerLost);
            }
            return Err(SimError::NotErasable);
        }
        for u in start / ERASE..end / ERASE {
            self.stats.erases_per_unit[u] += 1;
            self.stats.device_time_ns += self.spec.erase_ns;
            if cut_unit == Some(u) {
                self.wear[u] += 1;
                self.erase_unit_torn(u);
                self.powered = false;
                return Err(SimError::PowerLost);
            }
            let worn_out = self.endurance.is_some_and(|n| self.wear[u] >= n);
            if worn_out || self.fail_erase_units[u] {
                if worn_out {
                    self.worn[u] = true;
                }
                self.erase_unit_torn(u);
                return Err(SimError::EraseFailed { unit: u });
            }
            self.erase_unit_ok(u);
        }
        if cut_byte.is_some() {
            // Cut after the last unit finished: erased, but the call never returned.
            self.powered = false;
            return Err(SimError::PowerLost);
        }
        Ok(())
    }
}
