//! Part descriptions: geometry, programming rules and datasheet timings.
//!
//! Owns [`PartSpec`] and the [`presets`] for real parts. The geometry in a spec must agree with the
//! `SimFlash<READ, WRITE, ERASE>` type it is used with (checked by `SimFlash::try_new`); the
//! capacity is free so tests can use small chips. Timings are typical datasheet values; they feed the
//! modelled device time only, nothing sleeps.

/// Everything the simulator needs to know about a part.
///
/// Build one with a [`presets`] function or [`PartSpec::custom`], then adjust public fields with
/// struct update syntax:
///
/// ```
/// use cowftl_sim::{presets, PartSpec};
/// let spec = PartSpec { erase_ns: 1_000_000, ..presets::stm32l476(64 * 1024) };
/// assert_eq!(spec.capacity, 64 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PartSpec {
    /// Human-readable part name (used in violation messages).
    pub name: &'static str,
    /// Size of the simulated flash in bytes; a non-zero multiple of `erase_size`.
    pub capacity: usize,
    /// Read granularity in bytes (must equal the type's `READ`).
    pub read_size: usize,
    /// Program granularity ("word") in bytes (must equal the type's `WRITE`).
    pub write_size: usize,
    /// Erase unit in bytes (must equal the type's `ERASE`).
    pub erase_size: usize,
    /// ECC / OTP style: each word may be programmed once between erases, and never after a cut
    /// left it unstable.
    pub one_program_per_word: bool,
    /// False for WORM/OTP parts: every erase fails with `SimError::NotErasable`.
    pub erasable: bool,
    /// Program page in bytes (SPI NOR page buffer). Each page a program operation touches costs
    /// `program_page_ns` on top of `program_word_ns` per word.
    pub page_size: usize,
    /// Fixed cost per (partial) program page touched.
    pub program_page_ns: u64,
    /// Cost per write unit programmed.
    pub program_word_ns: u64,
    /// Cost per erase unit erased.
    pub erase_ns: u64,
    /// Fixed cost per read operation (command/address phase on SPI; 0 for memory-mapped flash).
    pub read_op_ns: u64,
    /// Read bandwidth, as picoseconds per byte.
    pub read_ps_per_byte: u64,
    /// Datasheet erase endurance per unit (informational; enable it with
    /// `SimFlash::set_endurance`).
    pub endurance: u32,
}

impl PartSpec {
    /// A custom part with the given geometry, one program per word, erasable, and neutral timings
    /// (1 µs per word, 1 ms per erase, 1 ns per byte read). Adjust the public fields as needed.
    pub fn custom(
        name: &'static str,
        capacity: usize,
        read_size: usize,
        write_size: usize,
        erase_size: usize,
    ) -> Self {
        Self {
            name,
            capacity,
            read_size,
            write_size,
            erase_size,
            one_program_per_word: true,
            erasable: true,
            page_size: write_size,
            program_page_ns: 0,
            program_word_ns: 1_000,
            erase_ns: 1_000_000,
            read_op_ns: 0,
            read_ps_per_byte: 1_000,
            endurance: 10_000,
        }
    }

    /// Number of erase units.
    pub fn units(&self) -> usize {
        self.capacity.checked_div(self.erase_size).unwrap_or(0)
    }

    /// Modelled time of a program of `len` bytes at `offset`.
    pub fn program_time_ns(&self, offset: usize, len: usize) -> u64 {
        if len == 0 {
            return 0;
        }
        let words = len.div_ceil(self.write_size.max(1)) as u64;
        let page = self.page_size.max(1);
        let pages = ((offset + len - 1) / page - offset / page + 1) as u64;
        words * self.program_word_ns + pages * self.program_page_ns
    }

    /// Modelled time of a read of `len` bytes.
    pub fn read_time_ns(&self, len: usize) -> u64 {
        self.read_op_ns + (len as u64 * self.read_ps_per_byte) / 1000
    }

    /// Check the spec against a type's geometry.
    pub(crate) fn validate(
        &self,
        read: usize,
        write: usize,
        erase: usize,
    ) -> Result<(), &'static str> {
        if self.read_size != read || self.write_size != write || self.erase_size != erase {
            return Err("read/write/erase sizes differ from the SimFlash type's READ/WRITE/ERASE");
        }
        if self.capacity == 0 || self.capacity % erase != 0 {
            return Err("capacity must be a non-zero multiple of the erase size");
        }
        if u32::try_from(self.capacity).is_err() {
            return Err("capacity must fit the u32 address space");
        }
        Ok(())
    }
}

/// Presets for real parts. Each takes the capacity to simulate (a multiple of the erase size) so
/// tests can use a small chip with the real geometry and timings.
pub mod presets {
    use super::PartSpec;

    /// Full capacity of the STM32L476RG flash (1 MiB).
    pub const STM32L476_CAPACITY: usize = 1024 * 1024;
    /// STM32F411CE: the three uniform 128 KiB sectors (5..=7) usable as one region (384 KiB).
    pub const STM32F411_REGION_CAPACITY: usize = 384 * 1024;
    /// STM32F411CE full flash (512 KiB; the first 128 KiB are small sectors, not simulated).
    pub const STM32F411_CAPACITY: usize = 512 * 1024;
    /// Full capacity of the STM32H743ZI flash (2 MiB, two banks).
    pub const STM32H743_CAPACITY: usize = 2 * 1024 * 1024;
    /// Full capacity of a W25Q128 (16 MiB).
    pub const W25Q128_CAPACITY: usize = 16 * 1024 * 1024;

    /// STM32L476 internal flash: 2 KiB pages, 64-bit words with ECC (one program per double word).
    /// DS10198: double-word program 81.69 µs, page erase 22.02 ms (typ), 10 k cycles. Reads at
    /// 80 MHz with 4 wait states over a 64-bit bus (~7.8 ns/byte without prefetch).
    pub fn stm32l476(capacity: usize) -> PartSpec {
        PartSpec {
            name: "STM32L476",
            program_word_ns: 81_690,
            erase_ns: 22_020_000,
            read_ps_per_byte: 7_800,
            endurance: 10_000,
            ..PartSpec::custom("STM32L476", capacity, 1, 8, 2048)
        }
    }

    /// STM32F411 internal flash, uniform 128 KiB sectors, 32-bit programming (x32 parallelism).
    /// No ECC: a word may be programmed again (bits only go 1→0; stm32f4xx-hal exposes
    /// `MultiwriteNorFlash`). To check the FTL's never-in-place contract on this geometry, set
    /// `one_program_per_word: true` on the returned spec. DS10314: word program 16 µs,
    /// 128 KiB sector erase 1 s (typ, x32), 10 k cycles. Reads at 100 MHz, 3 wait states, 128-bit
    /// lines (~2.5 ns/byte). Use [`STM32F411_REGION_CAPACITY`] for the 384 KiB uniform region.
    pub fn stm32f411(capacity: usize) -> PartSpec {
        PartSpec {
            name: "STM32F411",
            one_program_per_word: false,
            program_word_ns: 16_000,
            erase_ns: 1_000_000_000,
            read_ps_per_byte: 2_500,
            endurance: 10_000,
            ..PartSpec::custom("STM32F411", capacity, 1, 4, 128 * 1024)
        }
    }

    /// STM32H743 internal flash: 128 KiB sectors, 256-bit flash words with ECC (one program per
    /// word). DS12110 (approx., x64): flash-word program ~100 µs, sector erase ~1 s (typ), 10 k
    /// cycles. AXI reads at 240 MHz, 2 wait states, 256-bit lines (~0.4 ns/byte).
    pub fn stm32h743(capacity: usize) -> PartSpec {
        PartSpec {
            name: "STM32H743",
            program_word_ns: 100_000,
            erase_ns: 1_000_000_000,
            read_ps_per_byte: 400,
            endurance: 10_000,
            ..PartSpec::custom("STM32H743", capacity, 1, 32, 128 * 1024)
        }
    }

    /// W25Q128-style SPI NOR: 4 KiB sectors, 256-byte program pages, byte writes, words may be
    /// programmed again (bits only go 1→0). Datasheet: first byte 30 µs then 2.5 µs/byte (page
    /// 0.7 ms), 4 KiB sector erase 45 ms (typ), 100 k cycles. Quad I/O fast read at 104 MHz
    /// (~19.2 ns/byte) with ~0.2 µs command/address overhead.
    pub fn w25q128(capacity: usize) -> PartSpec {
        PartSpec {
            name: "W25Q128",
            one_program_per_word: false,
            page_size: 256,
            program_page_ns: 27_500,
            program_word_ns: 2_500,
            erase_ns: 45_000_000,
            read_op_ns: 200,
            read_ps_per_byte: 19_200,
            endurance: 100_000,
            ..PartSpec::custom("W25Q128", capacity, 1, 1, 4096)
        }
    }

    /// Write-once (WORM/OTP) part: 64-bit words programmed once, never erasable (every erase fails
    /// with `SimError::NotErasable`). The 2 KiB "erase unit" only sets the FTL's unit grouping.
    /// Timings as an STM32 OTP area (double-word program 81.69 µs).
    pub fn worm(capacity: usize) -> PartSpec {
        PartSpec {
            name: "WORM",
            erasable: false,
            program_word_ns: 81_690,
            erase_ns: 0,
            read_ps_per_byte: 7_800,
            endurance: 0,
            ..PartSpec::custom("WORM", capacity, 1, 8, 2048)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::presets::*;

    #[test]
    fn preset_geometry_and_timing() {
        let l4 = stm32l476(STM32L476_CAPACITY);
        assert_eq!((l4.write_size, l4.erase_size, l4.units()), (8, 2048, 512));
        assert!(l4.one_program_per_word && l4.erasable);
        assert_eq!(l4.program_time_ns(0, 16), 2 * 81_690);
        let w = w25q128(W25Q128_CAPACITY);
        assert!(!w.one_program_per_word);
        // A full aligned page costs ~0.7 ms; a program crossing a page boundary pays two setups.
        assert_eq!(w.program_time_ns(0, 256), 27_500 + 256 * 2_500);
        assert_eq!(w.program_time_ns(255, 2), 2 * 27_500 + 2 * 2_500);
        assert_eq!(w.read_time_ns(1000), 200 + 19_200);
        assert!(!worm(4096).erasable);
        assert_eq!(stm32f411(STM32F411_REGION_CAPACITY).units(), 3);
        assert_eq!(stm32h743(STM32H743_CAPACITY).units(), 16);
    }

    #[test]
    fn validate_catches_mismatch() {
        assert!(stm32l476(4096).validate(1, 8, 2048).is_ok());
        assert!(stm32l476(4096).validate(1, 4, 2048).is_err());
        assert!(stm32l476(3000).validate(1, 8, 2048).is_err());
        assert!(stm32l476(0).validate(1, 8, 2048).is_err());
    }
}
