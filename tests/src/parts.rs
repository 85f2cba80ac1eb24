//! The part catalog: every flash part the tests, the torture engine and the command-line tool
//! simulate, with its datasheet geometry and what the tools need to know about the real chip.
//!
//! The simulator owns the part *models* (`cowftl_sim::presets`); this is the one list of
//! parts built from them, with the names the command line uses.

use cowftl_sim::{presets, PartSpec};

/// A simulated flash part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// STM32L476 internal flash: 2 KiB pages, 8-byte ECC words (one program per word).
    Stm32l476,
    /// W25Q128-style SPI NOR: 4 KiB sectors, byte writes, multi-write.
    W25q128,
    /// STM32H743 internal flash: 128 KiB sectors, 32-byte ECC words.
    Stm32h743,
    /// STM32F411 internal flash: uniform 128 KiB sectors, 4-byte words, no ECC (multi-write).
    Stm32f411,
    /// Tiny custom part: 16-byte ECC words, 512-byte pages.
    Tiny,
    /// Write-once part: no erase, no GC, writes until `NoSpace`.
    Worm,
}

impl Part {
    /// Every part, in the order a random torture seed picks from (changing it changes what
    /// every seed runs).
    pub const ALL: [Part; 6] = [
        Part::Stm32l476,
        Part::W25q128,
        Part::Stm32h743,
        Part::Stm32f411,
        Part::Tiny,
        Part::Worm,
    ];

    /// The parts that can be erased (every part but [`Part::Worm`]).
    pub const ERASABLE: [Part; 5] = [
        Part::Stm32l476,
        Part::W25q128,
        Part::Stm32h743,
        Part::Stm32f411,
        Part::Tiny,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Stm32l476 => "stm32l476",
            Part::W25q128 => "w25q128",
            Part::Stm32h743 => "stm32h743",
            Part::Stm32f411 => "stm32f411",
            Part::Tiny => "tiny",
            Part::Worm => "worm",
        }
    }

    /// Parse a command-line name.
    pub fn from_name(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Name for humans (reports).
    pub fn label(self) -> &'static str {
        match self {
            Part::Stm32l476 => "STM32L476",
            Part::W25q128 => "W25Q128",
            Part::Stm32h743 => "STM32H743",
            Part::Stm32f411 => "STM32F411",
            Part::Tiny => "tiny",
            Part::Worm => "WORM",
        }
    }

    /// Program granularity in bytes.
    pub fn word_size(self) -> usize {
        match self {
            Part::Stm32l476 | Part::Worm => 8,
            Part::W25q128 => 1,
            Part::Stm32h743 => 32,
            Part::Stm32f411 => 4,
            Part::Tiny => 16,
        }
    }

    /// Datasheet erase unit in bytes.
    pub fn erase_size(self) -> usize {
        match self {
            Part::Stm32l476 | Part::Worm => 2048,
            Part::W25q128 => 4096,
            Part::Stm32h743 | Part::Stm32f411 => 128 * 1024,
            Part::Tiny => 512,
        }
    }

    /// The datasheet model of a chip of `capacity` bytes.
    pub fn spec(self, capacity: usize) -> PartSpec {
        match self {
            Part::Stm32l476 => presets::stm32l476(capacity),
            Part::W25q128 => presets::w25q128(capacity),
            Part::Stm32h743 => presets::stm32h743(capacity),
            Part::Stm32f411 => presets::stm32f411(capacity),
            Part::Tiny => PartSpec::custom("tiny", capacity, 1, 16, 512),
            Part::Worm => presets::worm(capacity),
        }
    }

    /// Erase unit of the part's small-volume variant: the 128 KiB sectors of the H743 and the
    /// F411 are too big for the small volumes of the torture runs, so those use the same words
    /// with small sectors.
    pub fn small_erase_size(self) -> usize {
        match self {
            Part::Stm32h743 => 8192,
            Part::Stm32f411 => 1024,
            p => p.erase_size(),
        }
    }

    /// The small-volume variant of the part ([`Part::small_erase_size`]; the datasheet model
    /// for the parts whose sectors are small already).
    pub fn small_spec(self, capacity: usize) -> PartSpec {
        match self {
            Part::Stm32h743 => PartSpec::custom("STM32H743-small", capacity, 1, 32, 8192),
            Part::Stm32f411 => PartSpec {
                one_program_per_word: false,
                ..PartSpec::custom("STM32F411-small", capacity, 1, 4, 1024)
            },
            p => p.spec(capacity),
        }
    }

    /// Size of the real chip's flash (`None`: not a real chip).
    pub fn chip_size(self) -> Option<usize> {
        match self {
            Part::Stm32l476 => Some(presets::STM32L476_CAPACITY),
            Part::Stm32f411 => Some(presets::STM32F411_CAPACITY),
            Part::Stm32h743 => Some(presets::STM32H743_CAPACITY),
            Part::W25q128 => Some(presets::W25Q128_CAPACITY),
            Part::Tiny | Part::Worm => None,
        }
    }

    /// Memory-mapped flash base, for probe-rs `--base-address` (`None`: external or not real).
    pub fn flash_base(self) -> Option<u32> {
        match self {
            Part::Stm32l476 | Part::Stm32f411 | Part::Stm32h743 => Some(0x0800_0000),
            Part::W25q128 | Part::Tiny | Part::Worm => None,
        }
    }

    /// The probe-rs `--chip` to flash an image with.
    pub fn probe_rs_chip(self) -> &'static str {
        match self {
            Part::Stm32l476 => "STM32L476RGTx",
            Part::Stm32f411 => "STM32F411CEUx",
            Part::Stm32h743 => "STM32H743ZITx",
            Part::W25q128 | Part::Tiny | Part::Worm => "<your MCU>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_specs_agree() {
        for p in Part::ALL {
            assert_eq!(Part::from_name(p.name()), Some(p));
            let s = p.spec(4 * p.erase_size());
            assert_eq!(
                (s.write_size, s.erase_size),
                (p.word_size(), p.erase_size())
            );
            let s = p.small_spec(4 * p.small_erase_size());
            assert_eq!(
                (s.write_size, s.erase_size),
                (p.word_size(), p.small_erase_size())
            );
        }
        assert!(Part::ERASABLE.iter().all(|p| p.spec(4096 * 32).erasable));
        assert!(!Part::Worm.spec(4096).erasable);
    }
}
