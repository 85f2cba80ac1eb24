//! Step 5 of the app: the benchmark, timed with the DWT cycle counter. 4 overwrite rounds over
//! about half the volume (from `LBA_SCRATCH`), then one read pass: host write and read throughput,
//! the flash's own program and erase throughput (every `NorFlash::write`/`erase` call is timed by
//! [`Timed`]), write amplification (all bytes programmed, metadata included, / bytes written)
//! and the wear spread. The blocks it wrote are trimmed at the end.
use cowftl_firmware::checks::{self, Loggable, BS};
use cowftl_firmware::cycles64;
use cowftl_firmware::timed::Timed;
use defmt::{error, info};
use embedded_storage::nor_flash::NorFlash;

use crate::board::Vol;
use crate::time::{kib_per_s, ms, us};
use crate::LBA_SCRATCH;

/// Runs the benchmark on blocks `LBA_SCRATCH..LBA_SCRATCH + (n - LBA_SCRATCH) / 2` and logs it.
pub fn run<F: NorFlash>(ftl: &mut Vol<&mut Timed<F>>, hz: u32)
where
    F::Error: Loggable,
{
    let n = ftl.block_count();
    let count = (n - LBA_SCRATCH) / 2;
    let rounds = 4u32;
    let s0 = ftl.stats();
    let f0 = ftl.flash().time;
    let mut buf = [0u8; BS];
    let mut write_cyc = 0u64;
    for r in 0..rounds {
        for lba in LBA_SCRATCH..LBA_SCRATCH + count {
            checks::pattern(lba, 1000 + r, &mut buf);
            let t = cycles64();
            let res = ftl.write(lba, &buf);
            write_cyc += cycles64() - t;
            if let Err(e) = res {
                error!("bench write: {}", e);
                return;
            }
        }
    }
    let mut read_cyc = 0u64;
    for lba in LBA_SCRATCH..LBA_SCRATCH + count {
        let t = cycles64();
        let res = ftl.read(lba, &mut buf);
        read_cyc += cycles64() - t;
        if res.is_err() {
            error!("bench read failed");
            return;
        }
    }
    let s1 = ftl.stats();
    let f1 = ftl.flash().time;
    let host = (rounds * count) as u64 * BS as u64;
    let programmed = s1.counters.bytes_programmed - s0.counters.bytes_programmed;
    let erases = s1.counters.erases - s0.counters.erases;
    let prog_cyc = f1.program_cycles - f0.program_cycles;
    let prog_bytes = f1.programmed_bytes - f0.programmed_bytes;
    let erase_cyc = f1.erase_cycles - f0.erase_cycles;
    let erase_bytes = f1.erased_bytes - f0.erased_bytes;
    info!(
        "bench: {} x {} overwrites of {} blocks ({}% of the volume)",
        rounds,
        count,
        count,
        count * 100 / n
    );
    info!(
        "bench: host write {} KiB/s ({} us/block), read {} KiB/s ({} us/block)",
        kib_per_s(host, write_cyc, hz),
        us(write_cyc / (rounds * count) as u64, hz),
        kib_per_s(count as u64 * BS as u64, read_cyc, hz),
        us(read_cyc / count as u64, hz)
    );
    info!(
        "bench: flash program {} KiB/s ({} KiB in {} ms), erase {} KiB/s ({} erases, {} ms each)",
        kib_per_s(prog_bytes, prog_cyc, hz),
        prog_bytes / 1024,
        ms(prog_cyc, hz),
        kib_per_s(erase_bytes, erase_cyc, hz),
        erases,
        erase_cyc.checked_div(erases).map_or(0, |c| ms(c, hz))
    );
    info!(
        "bench: write amplification {=u64}.{=u64:02} (programmed {} B for {} B written); wear min {} max {} spread {}",
        programmed * 100 / host / 100,
        programmed * 100 / host % 100,
        programmed,
        host,
        s1.wear.min,
        s1.wear.max,
        s1.wear.max - s1.wear.min
    );
    for lba in LBA_SCRATCH..LBA_SCRATCH + count {
        let _ = ftl.trim(lba);
    }
}
