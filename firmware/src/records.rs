//! Step 3 of the app, real use: a boot counter and a config record, one FTL block each. Every
//! update is one FTL write, which is atomic: after a power cut the block holds the old or the
//! new record.
use cowftl::Error;
use cowftl_firmware::checks::BS;
use embedded_storage::nor_flash::NorFlash;

use crate::board::Vol;

const LBA_BOOT: u32 = 0;
const LBA_CONFIG: u32 = 1;

const BOOT_MAGIC: u32 = u32::from_le_bytes(*b"BOOT");
const CONF_MAGIC: u32 = u32::from_le_bytes(*b"CONF");

pub fn read_counter<F: NorFlash>(ftl: &mut Vol<F>) -> Result<u32, Error<F::Error>> {
    let mut b = [0u8; BS];
    ftl.read(LBA_BOOT, &mut b)?;
    if u32::from_le_bytes(b[0..4].try_into().unwrap()) == BOOT_MAGIC {
        Ok(u32::from_le_bytes(b[4..8].try_into().unwrap()))
    } else {
        Ok(0) // never written (reads as zeros)
    }
}

/// Increment and store the boot counter; returns the new value.
pub fn boot_count<F: NorFlash>(ftl: &mut Vol<F>) -> Result<u32, Error<F::Error>> {
    let n = read_counter(ftl)? + 1;
    let mut b = [0u8; BS];
    b[0..4].copy_from_slice(&BOOT_MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&n.to_le_bytes());
    ftl.write(LBA_BOOT, &b)?;
    Ok(n)
}

/// The config record (block 1): record version 1, little-endian words.
pub struct Settings {
    pub blink_ms: u32,
    name: [u8; 16],
    pub saves: u32,
    pub selftest_passes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let mut name = [0u8; 16];
        name[..6].copy_from_slice(b"cowftl");
        Settings {
            blink_ms: 500,
            name,
            saves: 0,
            selftest_passes: 0,
        }
    }
}

impl Settings {
    pub fn name_str(&self) -> &[u8] {
        let len = self.name.iter().position(|&c| c == 0).unwrap_or(16);
        &self.name[..len]
    }

    pub fn load<F: NorFlash>(ftl: &mut Vol<F>) -> Result<Option<Self>, Error<F::Error>> {
        let mut b = [0u8; BS];
        ftl.read(LBA_CONFIG, &mut b)?;
        let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if word(0) != CONF_MAGIC || word(4) != 1 {
            return Ok(None);
        }
        let mut name = [0u8; 16];
        name.copy_from_slice(&b[20..36]);
        Ok(Some(Settings {
            blink_ms: word(8),
            saves: word(12),
            selftest_passes: word(16),
            name,
        }))
    }

    pub fn save<F: NorFlash>(&mut self, ftl: &mut Vol<F>) -> Result<(), Error<F::Error>> {
        self.saves += 1;
        let mut b = [0u8; BS];
        b[0..4].copy_from_slice(&CONF_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&1u32.to_le_bytes()); // record version
        b[8..12].copy_from_slice(&self.blink_ms.to_le_bytes());
        b[12..16].copy_from_slice(&self.saves.to_le_bytes());
        b[16..20].copy_from_slice(&self.selftest_passes.to_le_bytes());
        b[20..36].copy_from_slice(&self.name);
        ftl.write(LBA_CONFIG, &b)
    }
}
