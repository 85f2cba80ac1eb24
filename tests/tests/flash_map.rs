//! The block map on flash (issue 14, `cowftl::flashmap::mode::OnFlash`, docs/MAP-ON-FLASH.md):
//! a volume whose map lives in its log must answer every read as the reference model says,
//! through runs, merges, GC (which moves the map's own records) and wear levelling, on the
//! smallest geometry the mode accepts and on a larger one; mount again after clean shutdowns,
//! power cuts (random, at every flash operation of a workload, in boot loops), bad units, bit
//! rot and crafted records; and mount in bounded reads on the whole 16 MiB W25Q128.

use std::cell::RefCell;
use std::rc::Rc;

use cowftl::flashmap::mode::OnFlash;
use cowftl::map::Mapping;
use cowftl::{Config, ConfigError, Error, Ftl};
use cowftl_sim::{presets, SplitMix64, Stm32L476Flash, W25q128Flash};
use cowftl_testkit::{pattern, Model};

/// The smallest accepted shape: 32 units of 18 slots (10 KiB units of 512-byte blocks), four
/// pages, a buffer of 48 changes (one delta record per run), 3 runs of 3 records in all.
type TinyFtl<'a> = Ftl<&'a mut Stm32L476Flash, 32, 0, 0, OnFlash<4, 48, 3, 3>>;
/// Its region: 32 units of 10 KiB.
const TINY_BYTES: usize = 320 * 1024;
/// 1 MiB of L476 flash in 16 KiB units (64 units of 30 slots): 14 pages, a buffer of 128
/// changes (3 records per run), 8 runs of 24 records in all. Small on purpose: many runs and
/// merges per pass.
type MidFtl<'a> = Ftl<&'a mut Stm32L476Flash, 64, 0, 0, OnFlash<16, 128, 8, 24>>;

fn tiny_cfg() -> Config {
    Config {
        unit_size: Some(10 * 1024),
        ..Config::new(0, TINY_BYTES as u32)
    }
}

/// Random writes, trims and reads over every block, checked against the model after each
/// read and at the end; `passes` times the capacity in writes.
fn churn<F, const U: usize, const P: usize, const C: usize, const R: usize, const Q: usize>(
    ftl: &mut Ftl<F, U, 0, 0, OnFlash<P, C, R, Q>>,
    passes: u64,
    seed: u64,
) -> Model
where
    F: embedded_storage::nor_flash::NorFlash,
{
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut model = Model::new(n);
    let mut rng = SplitMix64::new(seed);
    let mut buf = vec![0u8; bs];
    // Fill every block first (the volume runs full), then churn.
    for lba in 0..n {
        let g = model.next_gen();
        ftl.write(lba, &pattern(lba, g, bs)).unwrap();
        model.write(lba, g);
    }
    for i in 0..passes * u64::from(n) {
        if i % u64::from(n / 2) == 0 {
            let high = ftl
                .check_map()
                .unwrap()
                .unwrap_or_else(|e| panic!("at op {i}: {e}"));
            assert_eq!(high, 0, "at op {i}: counts above the live records");
        }
        let lba = rng.below(u64::from(n)) as u32;
        match rng.below(10) {
            0 => {
                ftl.trim(lba).unwrap();
                model.trim(lba);
            }
            1 | 2 => {
                ftl.read(lba, &mut buf).unwrap();
                assert_eq!(buf, model.expected(lba, bs), "read of lba {lba} at op {i}");
            }
            _ => {
                let g = model.next_gen();
                ftl.write(lba, &pattern(lba, g, bs))
                    .unwrap_or_else(|e| panic!("write of lba {lba} at op {i}: {e:?}"));
                model.write(lba, g);
            }
        }
    }
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, model.expected(lba, bs), "final read of lba {lba}");
    }
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    model
}

#[test]
fn the_smallest_flash_map_volume_reads_back_every_block_through_runs_merges_and_gc() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(TINY_BYTES), 1);
    let mut ftl = TinyFtl::format(&mut flash, tiny_cfg()).unwrap();
    let n = ftl.block_count();
    assert!(n > 50, "capacity {n}");
    churn(&mut ftl, 30, 7);
    let c = ftl.counters();
    assert!(c.gc_victims > 100, "{c:?}");
}

#[test]
fn flash_map_volumes_read_back_every_block_over_many_seeds() {
    for seed in 0..12 {
        let mut flash = Stm32L476Flash::new(presets::stm32l476(TINY_BYTES), seed);
        let mut ftl = TinyFtl::format(&mut flash, tiny_cfg()).unwrap();
        churn(&mut ftl, 8, seed);
        let mut flash = W25q128Flash::new(presets::w25q128(512 * 1024), seed);
        let cfg = Config {
            unit_size: Some(16 * 1024),
            ..Config::new(0, 512 * 1024)
        };
        let mut ftl = Ftl::<_, 32, 0, 0, OnFlash<8, 96, 6, 12>>::format(&mut flash, cfg).unwrap();
        churn(&mut ftl, 8, seed);
    }
}

#[test]
fn a_larger_flash_map_volume_reads_back_every_block() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let mut ftl = MidFtl::format(&mut flash, Config::new(0, 1024 * 1024)).unwrap();
    churn(&mut ftl, 6, 11);
    assert!(ftl.counters().gc_victims > 100);
}

#[test]
fn lookups_read_the_map_records_and_agree_with_reads() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let mut ftl = MidFtl::format(&mut flash, Config::new(0, 1024 * 1024)).unwrap();
    let model = churn(&mut ftl, 2, 3);
    let bs = ftl.block_size() as usize;
    let before = ftl.counters().bytes_read;
    let mut mapped = 0;
    for lba in 0..ftl.block_count() {
        let m = ftl.lookup(lba).unwrap();
        match model.gen(lba) {
            0 => assert!(
                matches!(m, Mapping::Trimmed { .. } | Mapping::Unmapped),
                "{lba}: {m:?}"
            ),
            _ => {
                assert!(matches!(m, Mapping::Data { .. }), "{lba}: {m:?}");
                mapped += 1;
            }
        }
    }
    // Most blocks are not in the buffer: their lookups read pages or delta records.
    let read = ftl.counters().bytes_read - before;
    assert!(
        read >= (mapped / 2) * bs as u64,
        "{read} bytes for {mapped} lookups"
    );
}

#[test]
fn transactions_on_a_flash_map_volume_land_whole() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let mut ftl = MidFtl::format(&mut flash, Config::new(0, 1024 * 1024)).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let t = ftl.max_transaction_blocks();
    let mut model = Model::new(n);
    let mut rng = SplitMix64::new(5);
    for _ in 0..4 * n / t {
        let blocks: Vec<(u32, u64)> = (0..t)
            .map(|_| (rng.below(u64::from(n)) as u32, model.next_gen()))
            .collect();
        let data: Vec<Vec<u8>> = blocks.iter().map(|&(l, g)| pattern(l, g, bs)).collect();
        let mut tx = ftl.transaction();
        for ((lba, _), d) in blocks.iter().zip(&data) {
            tx.write(*lba, d).unwrap();
        }
        tx.commit().unwrap();
        for &(lba, g) in &blocks {
            model.write(lba, g);
        }
    }
    let mut buf = vec![0u8; bs];
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, model.expected(lba, bs), "lba {lba}");
    }
}

#[test]
fn the_flash_map_refuses_what_it_cannot_keep() {
    // Blocks above 512 bytes, units below 17 slots, fewer than 8 units, capacities too small.
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let big = Config {
        block_size: 1024,
        ..Config::new(0, 1024 * 1024)
    };
    let r = Ftl::<_, 64, 0, 0, OnFlash<16, 128, 8, 24>>::format(&mut flash, big);
    assert!(
        matches!(r, Err(Error::Config(ConfigError::BadBlockSize))),
        "{r:?}"
    );
    let small_units = Config {
        unit_size: Some(8 * 1024),
        ..Config::new(0, 1024 * 1024)
    };
    let r = Ftl::<_, 128, 0, 0, OnFlash<16, 128, 8, 24>>::format(&mut flash, small_units);
    assert!(
        matches!(r, Err(Error::Config(ConfigError::UnitTooSmall))),
        "{r:?}"
    );
    let r =
        Ftl::<_, 64, 0, 0, OnFlash<4, 128, 8, 24>>::format(&mut flash, Config::new(0, 1024 * 1024));
    assert!(
        matches!(r, Err(Error::Config(ConfigError::MapTooSmall))),
        "{r:?}"
    );
    let r =
        Ftl::<_, 64, 0, 0, OnFlash<16, 32, 8, 24>>::format(&mut flash, Config::new(0, 1024 * 1024));
    assert!(
        matches!(r, Err(Error::Config(ConfigError::MapTooSmall))),
        "{r:?}"
    );
    let few = Config {
        unit_size: Some(128 * 1024),
        ..Config::new(0, 512 * 1024)
    };
    let r = Ftl::<_, 64, 0, 0, OnFlash<16, 128, 8, 24>>::format(&mut flash, few);
    assert!(
        matches!(r, Err(Error::Config(ConfigError::TooFewUnits))),
        "{r:?}"
    );
}

#[test]
fn a_flash_map_volume_is_refused_by_ram_map_builds_and_the_other_way_round() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let cfg = Config::new(0, 1024 * 1024);
    let mut ftl = MidFtl::format(&mut flash, cfg).unwrap();
    ftl.write(3, &pattern(3, 1, 512)).unwrap();
    drop(ftl);
    let r = Ftl::<_, 64, 2048>::mount(&mut flash, cfg);
    assert!(matches!(r, Err(Error::UnsupportedVersion(4))), "{r:?}");
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let mut ram = Ftl::<_, 64, 2048>::format(&mut flash, cfg).unwrap();
    ram.write(3, &pattern(3, 1, 512)).unwrap();
    drop(ram);
    let r = MidFtl::mount(&mut flash, cfg);
    assert!(matches!(r, Err(Error::UnsupportedVersion(3))), "{r:?}");
}

/// A clean remount rebuilds the map (root, moved pages and delta records, the buffer from
/// the tail) and the valid counts exactly, again and again.
#[test]
fn a_flash_map_volume_mounts_again_with_every_block_and_count() {
    for seed in 0..4 {
        let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), seed);
        let cfg = Config::new(0, 1024 * 1024);
        let mut ftl = MidFtl::format(&mut flash, cfg).unwrap();
        let n = ftl.block_count();
        let bs = ftl.block_size() as usize;
        let mut model = Model::new(n);
        let mut rng = SplitMix64::new(seed);
        let mut buf = vec![0u8; bs];
        for round in 0..12 {
            for _ in 0..n / 2 {
                let lba = rng.below(u64::from(n)) as u32;
                if rng.below(8) == 0 {
                    ftl.trim(lba).unwrap();
                    model.trim(lba);
                } else {
                    let g = model.next_gen();
                    ftl.write(lba, &pattern(lba, g, bs)).unwrap();
                    model.write(lba, g);
                }
            }
            let before = ftl.check_map().unwrap();
            assert_eq!(before, Ok(0), "seed {seed} round {round}: before the mount");
            drop(ftl);
            ftl = MidFtl::mount(&mut flash, cfg)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: mount: {e:?}"));
            let after = ftl.check_map().unwrap();
            assert_eq!(after, Ok(0), "seed {seed} round {round}: after the mount");
            for lba in 0..n {
                ftl.read(lba, &mut buf).unwrap();
                assert_eq!(
                    buf,
                    model.expected(lba, bs),
                    "seed {seed} round {round}: lba {lba}"
                );
            }
        }
    }
}

/// Power cuts at random points of writes, trims and the map's own work (runs, roots,
/// merges, GC moving its records), then a mount: every acknowledged block reads back, the
/// block in flight reads old or new, the valid counts are exact, and the volume goes on.
///
/// `COWFTL_FLASH_MAP_SEEDS=N` runs N seeds instead of 8 (the long run in the README).
#[test]
fn power_cuts_on_a_flash_map_volume_lose_nothing() {
    let seeds = std::env::var("COWFTL_FLASH_MAP_SEEDS").map_or(8, |s| s.parse().unwrap());
    for seed in 0..seeds {
        // Odd seeds: half the writes to 8 hot blocks (units die young, often before a root).
        let hot = seed % 2 == 1;
        let tiny = Cuts {
            cycles: 60,
            window: 0,
            hot,
        };
        cut_cycles::<32, 4, 48, 3, 3>(seed, tiny_cfg(), TINY_BYTES, tiny);
        let mid = Cuts {
            cycles: 30,
            window: 0,
            hot,
        };
        cut_cycles::<64, 16, 128, 8, 24>(seed, Config::new(0, 1024 * 1024), 1024 * 1024, mid);
    }
}

/// A brown-out boot loop on a full flash-map volume, on the smallest accepted shape and on
/// 1 MiB: 1 000 cuts in a row, each within the first 60 flash operations after a mount (the
/// map's runs, roots and merges and GC included),
/// then every block written once more and everything read back: it stays writable and loses
/// nothing acknowledged.
#[test]
fn a_boot_loop_of_cuts_on_a_full_flash_map_volume_loses_nothing_and_stays_writable() {
    for seed in 0..2 {
        let boot_loop = Cuts {
            cycles: 1000,
            window: 60,
            hot: false,
        };
        cut_cycles::<32, 4, 48, 3, 3>(seed, tiny_cfg(), TINY_BYTES, boot_loop);
        let mid = Config::new(0, 1024 * 1024);
        cut_cycles::<64, 16, 128, 8, 24>(seed, mid, 1024 * 1024, boot_loop);
    }
}

/// How `cut_cycles` cuts: `cycles` cuts, each within `window` flash operations (0: three per
/// block of capacity); `hot`: half the writes to 8 hot blocks (units die young, often before
/// a root).
#[derive(Clone, Copy)]
struct Cuts {
    cycles: u32,
    window: u64,
    hot: bool,
}

fn cut_cycles<const U: usize, const P: usize, const C: usize, const R: usize, const Q: usize>(
    seed: u64,
    cfg: Config,
    size: usize,
    cuts: Cuts,
) {
    let Cuts {
        cycles,
        window,
        hot,
    } = cuts;
    type Sim = Stm32L476Flash;
    let sim = Rc::new(RefCell::new(Sim::new(presets::stm32l476(size), seed)));
    let mut ftl =
        Ftl::<Shared, U, 0, 0, OnFlash<P, C, R, Q>>::format(Shared(sim.clone()), cfg).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut model = Model::new(n);
    let mut rng = SplitMix64::new(seed ^ 0xC07);
    let mut buf = vec![0u8; bs];
    // Full to start with (at least 90 % of the capacity; here all of it).
    for lba in 0..n {
        let g = model.next_gen();
        ftl.write(lba, &pattern(lba, g, bs)).unwrap();
        model.write(lba, g);
    }
    for cycle in 0..cycles {
        let window = if window == 0 {
            3 * u64::from(n)
        } else {
            window
        };
        sim.borrow_mut().cut_after_ops(rng.below(window));
        // (lba, generation it would hold: 0 for a trim) of the operation the cut hit.
        let mut in_flight = None;
        for _ in 0..20 * n {
            let lba = match hot && rng.coin() {
                true => rng.below(8) as u32,
                false => rng.below(u64::from(n)) as u32,
            };
            let trim = rng.below(8) == 0;
            let g = if trim { 0 } else { model.next_gen() };
            let r = match trim {
                true => ftl.trim(lba),
                false => ftl.write(lba, &pattern(lba, g, bs)),
            };
            match r {
                Ok(()) if trim => model.trim(lba),
                Ok(()) => model.write(lba, g),
                Err(Error::Flash(_)) if !sim.borrow().is_powered() => {
                    in_flight = Some((lba, g));
                    break;
                }
                Err(e) => panic!("seed {seed} cycle {cycle}: {e:?}"),
            }
        }
        drop(ftl);
        sim.borrow_mut().cancel_cut();
        sim.borrow_mut().power_restore();
        ftl = Ftl::mount(Shared(sim.clone()), cfg)
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: mount: {e:?}"));
        if let Some((lba, g)) = in_flight {
            ftl.read(lba, &mut buf).unwrap();
            if buf == pattern(lba, g, bs) || (g == 0 && buf.iter().all(|&b| b == 0)) {
                match g {
                    0 => model.trim(lba),
                    g => model.write(lba, g),
                }
            }
        }
        for lba in 0..n {
            ftl.read(lba, &mut buf)
                .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: lba {lba}: {e:?}"));
            assert!(
                buf == model.expected(lba, bs),
                "seed {seed} cycle {cycle}: lba {lba} lost its acknowledged data"
            );
        }
        ftl.check_map()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed} units {U} cycle {cycle}: {e}"));
    }
    // Still writable: every block once more, then everything read back.
    for lba in 0..n {
        let g = model.next_gen();
        ftl.write(lba, &pattern(lba, g, bs))
            .unwrap_or_else(|e| panic!("seed {seed} units {U}: write after the cuts: {e:?}"));
        model.write(lba, g);
    }
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert!(
            buf == model.expected(lba, bs),
            "seed {seed}: lba {lba} after the cuts"
        );
    }
}

#[test]
fn sixteen_mib_of_spi_nor_fits_the_flash_map_in_bounded_ram() {
    // The W25Q128 whole: 256 units of 64 KiB, 30 609 blocks of 512 B in the RAM map's mode.
    let mut flash = W25q128Flash::new(presets::w25q128(16 << 20), 1);
    let cfg = Config::new(0, 16 << 20);
    let ram_mode = Ftl::<&mut W25q128Flash, 256, 32768>::geometry_for(&&mut flash, &cfg).unwrap();
    let ftl = Big::format(&mut flash, cfg).unwrap();
    let ram = core::mem::size_of::<Big<'static>>();
    println!("size_of::<Ftl<_, 256, 0, 0, OnFlash<245, 620, 18, 180>>>() = {ram} B on this host");
    assert!(ram <= 16 * 1024, "{ram} bytes");
    // The map's records and slack cost under a tenth of the RAM map's capacity.
    let n = ftl.block_count();
    assert!(
        n * 10 >= ram_mode.block_count * 9,
        "{n} of {}",
        ram_mode.block_count
    );
    let bs = ftl.block_size() as usize;
    let mut buf = vec![0u8; bs];
    drop(ftl);
    // A clean mount reads under 1 % of the part and writes nothing (docs/MAP-ON-FLASH.md,
    // "The bounded mount"): on the new volume, and after writes with runs, roots and merges.
    let mut ftl = mount_reading_under_a_percent(&mut flash, cfg);
    let mut model = Model::new(n);
    let mut rng = SplitMix64::new(16);
    for round in 0..3 {
        for i in 0..3000 {
            let lba = match i % 3 {
                0 => rng.below(u64::from(n)) as u32,
                _ => (i * 97 + round) % n,
            };
            let g = model.next_gen();
            ftl.write(lba, &pattern(lba, g, bs)).unwrap();
            model.write(lba, g);
        }
        drop(ftl);
        ftl = mount_reading_under_a_percent(&mut flash, cfg);
        assert_eq!(ftl.check_map().unwrap(), Ok(0));
    }
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, model.expected(lba, bs), "lba {lba}");
    }
}

/// The whole W25Q128 with the flash map.
type Big<'a> = Ftl<&'a mut W25q128Flash, 256, 0, 0, OnFlash<245, 620, 18, 180>>;

/// Mount `flash` cleanly and check what it cost: at most 1 % of the region read, no program,
/// no erase.
fn mount_reading_under_a_percent(flash: &mut W25q128Flash, cfg: Config) -> Big<'_> {
    flash.reset_stats();
    let ftl = Big::mount(flash, cfg).unwrap();
    let s = ftl.flash().stats().clone();
    let region = u64::from(ftl.geometry().region_len);
    println!("mount: {} B read ({} ops)", s.bytes_read, s.read_ops);
    assert!(
        s.bytes_read * 100 <= region,
        "mount read {} of {region} bytes",
        s.bytes_read
    );
    assert_eq!((s.program_ops, s.erase_ops), (0, 0), "a clean mount wrote");
    ftl
}

/// A flash the test can break while the FTL holds it: the FTL gets one handle, the test
/// keeps another to inject faults (a flash-map volume cannot be remounted around them yet).
struct Shared(Rc<RefCell<Stm32L476Flash>>);

impl embedded_storage::nor_flash::ErrorType for Shared {
    type Error = cowftl_sim::SimError;
}

impl embedded_storage::nor_flash::ReadNorFlash for Shared {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.borrow_mut().read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

impl embedded_storage::nor_flash::NorFlash for Shared {
    const WRITE_SIZE: usize = 8;
    const ERASE_SIZE: usize = 2048;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.borrow_mut().erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.borrow_mut().write(offset, bytes)
    }
}

/// Contract 8 on a flash-map volume: program and erase failures retire units (those holding
/// the map's pages and delta records too), nothing acknowledged is lost, and past the
/// spares the volume turns read-only with everything readable.
#[test]
fn bad_units_on_a_flash_map_volume_lose_nothing() {
    type Vol = Ftl<Shared, 64, 0, 0, OnFlash<16, 128, 8, 24>>;
    for (seed, program) in [(1, true), (2, false), (3, true), (4, false)] {
        let sim = Rc::new(RefCell::new(Stm32L476Flash::new(
            presets::stm32l476(1024 * 1024),
            seed,
        )));
        let cfg = Config {
            reserve_units: 4,
            ..Config::new(0, 1024 * 1024)
        };
        let mut ftl = Vol::format(Shared(sim.clone()), cfg).unwrap();
        let n = ftl.block_count();
        let bs = ftl.block_size() as usize;
        let mut model = Model::new(n);
        let mut rng = SplitMix64::new(seed);
        for lba in 0..n {
            let g = model.next_gen();
            ftl.write(lba, &pattern(lba, g, bs)).unwrap();
            model.write(lba, g);
        }
        let (mut broken, mut read_only) = (Vec::new(), false);
        let mut buf = vec![0u8; bs];
        for i in 0..40_000u64 {
            if i % 300 == 299 {
                let u = loop {
                    let u = rng.below(64) as u32;
                    if !broken.contains(&u) {
                        break u;
                    }
                };
                broken.push(u);
                let mut f = sim.borrow_mut();
                match program {
                    true => f.fail_program(u * 16384..(u + 1) * 16384),
                    false => (0..8).for_each(|p| f.fail_erase(8 * u as usize + p)),
                }
            }
            let lba = rng.below(u64::from(n)) as u32;
            let g = model.next_gen();
            match ftl.write(lba, &pattern(lba, g, bs)) {
                Ok(()) => model.write(lba, g),
                Err(Error::ReadOnly) => {
                    read_only = true;
                    break;
                }
                Err(Error::Flash(_)) => {}
                Err(e) => panic!("seed {seed} write {i}: {e:?}"),
            }
            if i % 1000 == 0 {
                ftl.check_map()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("seed {seed} op {i}: {e}"));
            }
        }
        assert!(
            read_only,
            "seed {seed}: never read-only: {:?}",
            ftl.counters()
        );
        assert!(ftl.is_read_only());
        for lba in 0..n {
            ftl.read(lba, &mut buf).unwrap();
            assert_eq!(buf, model.expected(lba, bs), "seed {seed}: lba {lba}");
        }
    }
}

/// Bit rot anywhere (data, claims, the map's pages and delta records): every read returns
/// the acknowledged data or `Corrupt`, never other data, and nothing panics; writes go on.
#[test]
fn bit_rot_on_a_flash_map_volume_is_reported_never_misread() {
    type Vol = Ftl<Shared, 64, 0, 0, OnFlash<16, 128, 8, 24>>;
    for seed in 0..6u64 {
        let sim = Rc::new(RefCell::new(Stm32L476Flash::new(
            presets::stm32l476(1024 * 1024),
            seed,
        )));
        let mut ftl = Vol::format(Shared(sim.clone()), Config::new(0, 1024 * 1024)).unwrap();
        let model = churn(&mut ftl, 2, seed);
        let n = ftl.block_count();
        let bs = ftl.block_size() as usize;
        let mut rng = SplitMix64::new(seed ^ 0xB17);
        // Rot in programmed bytes (a flip in an erased area is a different fault: the next
        // program there would be an overwrite).
        let mut flipped = 0;
        while flipped < 200 {
            let addr = rng.below(1024 * 1024) as u32;
            let mut b = [0u8];
            embedded_storage::nor_flash::ReadNorFlash::read(&mut *sim.borrow_mut(), addr, &mut b)
                .unwrap();
            if b[0] != 0xFF {
                sim.borrow_mut().flip_bit(addr, rng.below(8) as u8);
                flipped += 1;
            }
        }
        let mut buf = vec![0u8; bs];
        let mut corrupt = 0;
        for lba in 0..n {
            match ftl.read(lba, &mut buf) {
                Ok(()) => assert_eq!(buf, model.expected(lba, bs), "seed {seed}: lba {lba}"),
                Err(Error::Corrupt) => corrupt += 1,
                Err(e) => panic!("seed {seed}: lba {lba}: {e:?}"),
            }
        }
        assert!(corrupt > 0, "seed {seed}: 200 flipped bits went unnoticed");
        for i in 0..u64::from(n) {
            let lba = rng.below(u64::from(n)) as u32;
            match ftl.write(lba, &pattern(lba, 1 << 40 | i, bs)) {
                Ok(()) | Err(Error::Corrupt) | Err(Error::Flash(_)) | Err(Error::ReadOnly) => {}
                Err(e) => panic!("seed {seed}: write {i}: {e:?}"),
            }
        }
    }
}

/// Format v4: a host record's claim names the unit of the record it replaces (what a mount
/// will need to settle valid counts without lookups); a first write names none.
#[test]
fn host_records_name_the_unit_of_the_record_they_replace() {
    use cowftl::layout::{Claim, NO_VICTIM};
    type Vol = Ftl<Shared, 64, 0, 0, OnFlash<16, 128, 8, 24>>;
    let sim = Rc::new(RefCell::new(Stm32L476Flash::new(
        presets::stm32l476(1024 * 1024),
        1,
    )));
    let mut ftl = Vol::format(Shared(sim.clone()), Config::new(0, 1024 * 1024)).unwrap();
    let g = *ftl.geometry();
    let claim_at = |m: Mapping| {
        let (u, s) = m.location().unwrap();
        let mut b = [0u8; 16];
        let at = g.record_addr(u, s);
        embedded_storage::nor_flash::ReadNorFlash::read(&mut *sim.borrow_mut(), at, &mut b)
            .unwrap();
        Claim::decode(&b).unwrap()
    };
    // Enough rewrites of a few blocks for GC to run and move them between units.
    for i in 0..3_000u64 {
        let lba = (i % 7) as u32;
        ftl.write(lba, &pattern(lba, i + 1, 512)).unwrap();
        if i < 7 {
            let c = claim_at(ftl.lookup(lba).unwrap());
            assert!(
                !c.copy && c.victim == NO_VICTIM,
                "first write of {lba}: {c:?}"
            );
        }
    }
    assert!(ftl.counters().gc_victims > 10);
    // Rewrite one block and check its claim against where it was just before.
    for lba in 0..7 {
        let old = ftl.lookup(lba).unwrap().location().unwrap();
        ftl.write(lba, &pattern(lba, 99_999, 512)).unwrap();
        let c = claim_at(ftl.lookup(lba).unwrap());
        assert_eq!(u32::from(c.victim), old.0, "lba {lba}");
    }
}

/// Crafted map records (DESIGN.md: "valid CRCs around absurd fields"): bytes of a page, a
/// delta record or a root changed and the record's data CRC sealed again. Mount returns a
/// volume or an error, never panics; a mounted volume never hands out another block's data,
/// and takes writes (or refuses them with an error).
#[test]
fn crafted_map_records_are_refused_or_read_safely_never_a_panic() {
    use cowftl::layout::{encode_commit, RecordKind, RecordRead, CRC};
    use cowftl_testkit::pattern::generation_of;
    let spec = presets::stm32l476(TINY_BYTES);
    let mut flash = Stm32L476Flash::new(spec.clone(), 3);
    let mut ftl = TinyFtl::format(&mut flash, tiny_cfg()).unwrap();
    churn(&mut ftl, 4, 3);
    let g = *ftl.geometry();
    let (n, bs) = (ftl.block_count(), g.block_size as usize);
    drop(ftl);
    let image = flash.image().to_vec();
    // Every valid map record of the image: (claim bytes, its data address, its commit address).
    let mut records = Vec::new();
    for unit in 0..g.unit_count {
        for slot in 0..g.slots_per_unit {
            let at = g.record_addr(unit, slot) as usize;
            if let RecordRead::Valid(r) =
                RecordRead::decode(&image[at..at + 16], &image[at + 16..at + 24])
            {
                if matches!(
                    r.claim.kind,
                    RecordKind::MapPage | RecordKind::MapDelta | RecordKind::MapRoot
                ) {
                    records.push((
                        at,
                        g.data_addr(unit, slot) as usize,
                        g.commit_addr(unit, slot) as usize,
                    ));
                }
            }
        }
    }
    assert!(records.len() > 3, "{} map records", records.len());
    let mut rng = SplitMix64::new(99);
    let (mut mounted, mut refused, mut read_errors) = (0, 0, 0);
    for trial in 0..600 {
        let mut img = image.clone();
        let (claim, data, commit) = records[rng.below(records.len() as u64) as usize];
        for _ in 0..1 + rng.below(4) {
            // The head (versions, numbers, counts) more often than the body.
            let off = if rng.coin() {
                rng.below(16)
            } else {
                rng.below(bs as u64)
            } as usize;
            img[data + off] = match rng.below(3) {
                0 => 0xFF,
                1 => 0,
                _ => rng.below(256) as u8,
            };
        }
        let crc = CRC.checksum(&img[data..data + bs]);
        let claim_bytes = img[claim..claim + 16].to_vec();
        encode_commit(&claim_bytes, crc, &mut img[commit..commit + 8]);
        let mut f = Stm32L476Flash::from_image(spec.clone(), trial, &img).unwrap();
        let Ok(mut ftl) = TinyFtl::mount(&mut f, tiny_cfg()) else {
            refused += 1;
            continue;
        };
        mounted += 1;
        let (mut buf, mut scratch) = (vec![0u8; bs], vec![0u8; bs]);
        for lba in 0..n {
            let read = ftl.read(lba, &mut buf);
            read_errors += u32::from(read.is_err());
            if read.is_ok() && buf.iter().any(|&b| b != 0) {
                let owner = generation_of(&buf, &mut scratch).map(|(l, _)| l);
                assert_eq!(
                    owner,
                    Some(lba),
                    "trial {trial}: lba {lba} read another block's data"
                );
            }
        }
        for i in 0..u64::from(n) {
            let lba = rng.below(u64::from(n)) as u32;
            let _ = ftl.write(lba, &pattern(lba, 1 << 40 | i, bs));
        }
    }
    // The bounded mount reads a page or delta record only when a lookup needs it: a crafted
    // one is refused then (the read's error), or with the root at mount.
    println!("{mounted} crafted images mounted, {refused} refused, {read_errors} reads refused");
    assert!(refused + read_errors > 0, "no crafted record was refused");
}

/// One host operation of `every_cut_workload`: write generation `g` to a block, or trim it.
#[derive(Clone, Copy, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
}

fn apply(m: &mut Model, op: Op) {
    match op {
        Op::Write(lba, g) => m.write(lba, g),
        Op::Trim(lba) => m.trim(lba),
    }
}

/// Every block as the model says it reads.
fn expected_all(m: &Model, n: u32, bs: usize) -> Vec<Vec<u8>> {
    (0..n).map(|lba| m.expected(lba, bs)).collect()
}

fn read_every_block(ftl: &mut TinyFtl<'_>) -> Vec<Vec<u8>> {
    let bs = ftl.block_size() as usize;
    let mut buf = vec![0u8; bs];
    (0..ftl.block_count())
        .map(|lba| {
            ftl.read(lba, &mut buf).unwrap();
            buf.clone()
        })
        .collect()
}

/// Contracts 2-4 (docs/DESIGN.md) at every flash operation of a workload on the smallest
/// flash-map shape, from a full volume: writes and trims that run GC, runs, roots and merges.
/// For each cut: every acknowledged operation survives, the interrupted one is all or
/// nothing, a second mount shows the same state, the counts are exact (`check_map`), and the
/// volume goes on (40 more writes, read back after another mount).
#[test]
fn a_cut_at_every_flash_operation_of_a_flash_map_workload_loses_nothing() {
    let mut base = Stm32L476Flash::new(presets::stm32l476(TINY_BYTES), 7);
    let cfg = tiny_cfg();
    let mut ftl = TinyFtl::format(&mut base, cfg).unwrap();
    let (n, bs) = (ftl.block_count(), ftl.block_size() as usize);
    let mut full = Model::new(n);
    for lba in 0..n {
        let g = full.next_gen();
        ftl.write(lba, &pattern(lba, g, bs)).unwrap();
        full.write(lba, g);
    }
    drop(ftl);
    let mut rng = SplitMix64::new(7);
    let mut gens = full.clone();
    let ops: Vec<Op> = (0..120)
        .map(|_| {
            let lba = rng.below(u64::from(n)) as u32;
            match rng.below(6) {
                0 => Op::Trim(lba),
                _ => Op::Write(lba, gens.next_gen()),
            }
        })
        .collect();
    // The workload's flash operations, counted on an uncut run.
    let start = base.ops();
    let mut dry = base.clone();
    assert_eq!(run_until_cut(&mut dry, cfg, &ops), ops.len());
    let total = dry.ops() - start;
    assert!(
        total > 200,
        "the workload is too small to mean much: {total}"
    );
    for k in 0..total {
        let mut flash = base.clone();
        flash.cut_after_ops(k);
        let acked = run_until_cut(&mut flash, cfg, &ops);
        assert!(flash.was_cut(), "cut {k}: no operation reported it");
        flash.power_restore();
        let mut before = full.clone();
        ops[..acked].iter().for_each(|&op| apply(&mut before, op));
        let mut after = before.clone();
        apply(&mut after, ops[acked]);
        let mut ftl = TinyFtl::mount(&mut flash, cfg)
            .unwrap_or_else(|e| panic!("cut {k} (op {acked}): mount: {e:?}"));
        let got = read_every_block(&mut ftl);
        let landed = got == expected_all(&after, n, bs);
        assert!(
            landed || got == expected_all(&before, n, bs),
            "cut {k}: neither before nor after op {acked} {:?}",
            ops[acked]
        );
        ftl.check_map()
            .unwrap()
            .unwrap_or_else(|e| panic!("cut {k}: {e}"));
        drop(ftl);
        let mut ftl = TinyFtl::mount(&mut flash, cfg).unwrap();
        assert!(
            read_every_block(&mut ftl) == got,
            "cut {k}: mounts disagree"
        );
        let mut m = if landed { after } else { before };
        for lba in (0..n).step_by((n as usize / 40).max(1)) {
            let g = 1_000_000 + lba as u64;
            ftl.write(lba, &pattern(lba, g, bs))
                .unwrap_or_else(|e| panic!("cut {k}: write {lba} after recovery: {e:?}"));
            m.write(lba, g);
        }
        drop(ftl);
        let mut ftl = TinyFtl::mount(&mut flash, cfg).unwrap();
        assert!(
            read_every_block(&mut ftl) == expected_all(&m, n, bs),
            "cut {k}: writes after recovery lost"
        );
        drop(ftl);
        assert!(flash.violations().is_empty(), "cut {k}: flash rules broken");
    }
}

/// Mount and run `ops` until one fails with a power cut; returns how many were acknowledged.
fn run_until_cut(flash: &mut Stm32L476Flash, cfg: Config, ops: &[Op]) -> usize {
    let mut ftl = TinyFtl::mount(&mut *flash, cfg).unwrap();
    let bs = ftl.block_size() as usize;
    for (i, &op) in ops.iter().enumerate() {
        let r = match op {
            Op::Write(lba, g) => ftl.write(lba, &pattern(lba, g, bs)),
            Op::Trim(lba) => ftl.trim(lba),
        };
        match r {
            Ok(()) => {}
            Err(Error::Flash(cowftl_sim::SimError::PowerLost)) => return i,
            Err(e) => panic!("op {i} {op:?}: {e:?}"),
        }
    }
    ops.len()
}

/// Found by review (a helper's, of the bounded mount): a transaction that stages one block
/// twice wrote two records that both named, in their claims' `victim`, the unit of the
/// block's old record; replayed at mount, the counts then disagreed with the map. The later
/// part now names the transaction's own unit.
#[test]
fn a_transaction_staging_a_block_twice_keeps_the_counts_over_a_remount() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let cfg = Config::new(0, 1024 * 1024);
    let mut ftl = MidFtl::format(&mut flash, cfg).unwrap();
    let bs = ftl.block_size() as usize;
    let (a, b) = (pattern(3, 1, bs), pattern(3, 2, bs));
    ftl.write(3, &a).unwrap();
    // Other blocks, so the transaction lands in another unit than block 3's record.
    for lba in 10..80 {
        ftl.write(lba, &pattern(lba, 1, bs)).unwrap();
    }
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    let (c, d) = (pattern(3, 3, bs), pattern(3, 4, bs));
    let mut tx = ftl.transaction();
    tx.write(3, &b).unwrap();
    tx.write(3, &c).unwrap();
    tx.commit().unwrap();
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    drop(ftl);
    let mut ftl = match MidFtl::mount(&mut flash, cfg) {
        Ok(f) => f,
        Err(e) => panic!("mount after the transaction: {e:?}"),
    };
    let mut buf = vec![0u8; bs];
    ftl.read(3, &mut buf).unwrap();
    assert_eq!(buf, c);
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    ftl.write(3, &d).unwrap();
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
}

/// The same bug's consequence (found by the review): the unit of the block's old record came
/// out of the remount one record short; holding one other live record, it counted 0, was
/// taken as available, erased, and that other block was lost.
#[test]
fn a_transaction_staging_a_block_twice_then_a_remount_loses_another_block() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(1024 * 1024), 1);
    let cfg = Config::new(0, 1024 * 1024);
    let mut ftl = MidFtl::format(&mut flash, cfg).unwrap();
    let bs = ftl.block_size() as usize;
    // Unit V: block 3, block 4, then dead records of block 10 up to its end.
    ftl.write(3, &pattern(3, 1, bs)).unwrap();
    ftl.write(4, &pattern(4, 1, bs)).unwrap();
    for g in 1..=40 {
        ftl.write(10, &pattern(10, g, bs)).unwrap();
    }
    // Block 3 twice in one transaction (a later one wins, as documented).
    let (b, c) = (pattern(3, 2, bs), pattern(3, 3, bs));
    let mut tx = ftl.transaction();
    tx.write(3, &b).unwrap();
    tx.write(3, &c).unwrap();
    tx.commit().unwrap();
    drop(ftl);
    let mut ftl = MidFtl::mount(&mut flash, cfg).unwrap();
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    let mut buf = vec![0u8; bs];
    let mut rng = SplitMix64::new(9);
    for i in 0..4000u32 {
        let lba = 100 + rng.below(500) as u32;
        if let Err(e) = ftl.write(lba, &pattern(lba, u64::from(i) + 1, bs)) {
            println!("write {i} of block {lba}: {e:?}");
            break;
        }
    }
    let r = ftl.read(4, &mut buf);
    println!(
        "block 4 reads {r:?}, as written: {}",
        buf == pattern(4, 1, bs)
    );
    assert!(
        matches!(r, Ok(())) && buf == pattern(4, 1, bs),
        "block 4 (acknowledged, never rewritten) lost: {r:?}"
    );
}

/// Found by the review: `Log::open` programs header copy 1 of a unit erased this session
/// (`Free { verified: true }`) and set the unit `Open` only once that program returned
/// `Ok`. When the program fails and the volume cannot retire the unit (the flash did not
/// answer `flash_alive`'s read: power going down), the unit stayed `Free { verified: true }`,
/// and if the host goes on with the same volume (a brown-out the MCU survived) the next open
/// of that unit programmed copy 1 a second time. The unit is `Dirty` until copy 1 lands now.
#[test]
fn a_failed_copy_1_program_is_never_programmed_again_without_an_erase() {
    type Vol = Ftl<Shared, 64, 0, 0, OnFlash<16, 128, 8, 24>>;
    let cfg = Config::new(0, 1024 * 1024);
    let mut hits = 0;
    for k in 0..400u64 {
        let sim = Rc::new(RefCell::new(Stm32L476Flash::new(
            presets::stm32l476(1024 * 1024),
            k,
        )));
        sim.borrow_mut()
            .set_violation_mode(cowftl_sim::ViolationMode::Record);
        let mut ftl = Vol::format(Shared(sim.clone()), cfg).unwrap();
        let (bs, n) = (ftl.block_size() as usize, ftl.block_count());
        let g = *ftl.geometry();
        sim.borrow_mut().cut_after_ops(k);
        let mut i = 0u32;
        loop {
            let lba = i % n;
            if ftl.write(lba, &pattern(lba, 1, bs)).is_err() {
                break;
            }
            i += 1;
        }
        // Was the cut op a header copy 1?
        let cut_copy_1 = (0..g.unit_count).any(|u| sim.borrow().is_unstable(g.header_addr(u, 1)));
        sim.borrow_mut().cancel_cut();
        sim.borrow_mut().power_restore();
        if !cut_copy_1 {
            continue;
        }
        hits += 1;
        for j in 0..3 * n {
            let lba = (i + j) % n;
            let _ = ftl.write(lba, &pattern(lba, 2, bs));
        }
        let v = sim.borrow().violations().to_vec();
        assert!(v.is_empty(), "cut at op {k}: {}", v[0]);
    }
    assert!(hits > 0, "no cut landed on a header copy 1");
}

/// Runs whose root did not land (docs/MAP-ON-FLASH.md, "Runs without a root"). A checkpoint
/// writes a run, then a root naming it; when the root finds no room the run stands alone, the
/// buffer empties and the volume goes on, so more changes can follow the last root than the
/// buffer holds. Here every root after the oldest is made invalid (its commit zeroed, as a
/// root that never landed reads) on a volume that never erased a unit, so the image is one
/// such a volume can leave: the mount must adopt the runs written since the oldest root
/// instead of replaying each change into the buffer (which overflows: `Corrupt`), and read
/// every block back, then take writes and mount again.
#[test]
fn runs_whose_root_did_not_land_are_adopted_at_mount() {
    use cowftl::layout::{RecordKind, RecordRead};
    const C: u32 = 96;
    let (spec, cfg) = nor_1mib();
    let mut flash = W25q128Flash::new(spec.clone(), 5);
    let mut ftl = NorFtl::format(&mut flash, cfg).unwrap();
    let (n, bs, g) = (
        ftl.block_count(),
        ftl.block_size() as usize,
        *ftl.geometry(),
    );
    let erased = ftl.flash().stats().total_unit_erases();
    // Distinct blocks, four buffers' worth: runs and roots, no merge (16 runs fit), no GC.
    let k = 4 * C;
    assert!(k < n / 2, "capacity {n}");
    for lba in 0..k {
        ftl.write(lba, &pattern(lba, 1, bs)).unwrap();
    }
    assert_eq!(
        ftl.flash().stats().total_unit_erases(),
        erased,
        "no unit erased"
    );
    drop(ftl);
    let mut image = flash.image().to_vec();
    let (mut roots, mut runs) = (Vec::new(), std::collections::BTreeSet::new());
    for unit in 0..g.unit_count {
        for slot in 0..g.slots_per_unit {
            let at = g.record_addr(unit, slot) as usize;
            let RecordRead::Valid(r) =
                RecordRead::decode(&image[at..at + 16], &image[at + 16..at + 24])
            else {
                continue;
            };
            match r.claim.kind {
                RecordKind::MapRoot => roots.push((r.claim.lba, g.commit_addr(unit, slot))),
                RecordKind::MapDelta => drop(runs.insert(r.claim.lba)),
                _ => {}
            }
        }
    }
    let oldest = roots.iter().map(|r| r.0).min().unwrap();
    let mut cut = 0;
    for &(root, commit) in &roots {
        if root != oldest {
            let commit = commit as usize;
            image[commit..commit + 8].fill(0);
            cut += 1;
        }
    }
    assert!(
        cut >= 3 && runs.len() >= 4,
        "{cut} roots cut, runs {runs:?}"
    );
    let mut flash = W25q128Flash::from_image(spec, 6, &image).unwrap();
    let mut ftl = NorFtl::mount(&mut flash, cfg).expect("mount adopts the runs");
    let mut buf = vec![0u8; bs];
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        let want = if lba < k {
            pattern(lba, 1, bs)
        } else {
            vec![0; bs]
        };
        assert_eq!(buf, want, "lba {lba}");
    }
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
    // The adopted runs are the index's now: they move with GC and go into the next root.
    for lba in 0..k {
        ftl.write(lba, &pattern(lba, 2, bs)).unwrap();
    }
    drop(ftl);
    let mut ftl = NorFtl::mount(&mut flash, cfg).unwrap();
    for lba in 0..k {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, pattern(lba, 2, bs), "lba {lba} after the remount");
    }
    assert_eq!(ftl.check_map().unwrap(), Ok(0));
}

/// The erase gap (docs/DESIGN.md, "The flash map's counts"): GC may erase a unit holding
/// records newer than the last root when no root finds room, and a cut before the next root
/// then loses those records' minus for the units of the records they replaced. Here a unit
/// whose records are all newer than the last root and all dead is erased in the image (the
/// gap's erase, then the cut): the mount's counts come out high, never low; every block
/// reads back; and GC, collecting the units, finds that garbage (`gc::relocate`) until the
/// counts are exact again. Once more with a dead record's claim torn (junk) in a unit
/// counted high: GC cannot read that slot, so it looks every block up before it erases.
#[test]
fn counts_left_high_by_the_erase_gap_are_healed_by_gc() {
    use cowftl::layout::{RecordKind, RecordRead};
    let (spec, cfg) = nor_1mib();
    let mut flash = W25q128Flash::new(spec.clone(), 9);
    let mut ftl = NorFtl::format(&mut flash, cfg).unwrap();
    let (n, g) = (ftl.block_count(), *ftl.geometry());
    let mut model = Model::new(n);
    for lba in 0..n / 2 {
        write_next(&mut ftl, &mut model, lba);
    }
    // Eight hot blocks rewritten over three units' worth of slots: units whose records all
    // died, each record replacing one in the unit before.
    for i in 0..3 * g.slots_per_unit {
        write_next(&mut ftl, &mut model, i % 8);
    }
    let dead: Vec<u32> = ftl
        .units()
        .enumerate()
        .filter(|(_, u)| u.valid == 0 && u.used > 0)
        .map(|(i, _)| i as u32)
        .collect();
    drop(ftl);
    let mut image = flash.image().to_vec();
    let record = |image: &[u8], unit: u32, slot: u32| {
        let at = g.record_addr(unit, slot) as usize;
        match RecordRead::decode(&image[at..at + 16], &image[at + 16..at + 24]) {
            RecordRead::Valid(r) => Some(r),
            _ => None,
        }
    };
    // The newest root's redo point (the head of its first record).
    let mut newest = (0u64, 0u64);
    for unit in 0..g.unit_count {
        for slot in 0..g.slots_per_unit {
            if let Some(r) = record(&image, unit, slot) {
                if r.claim.kind == RecordKind::MapRoot && r.claim.version > newest.0 {
                    let d = g.data_addr(unit, slot) as usize;
                    let redo = u64::from_le_bytes(image[d..d + 8].try_into().unwrap());
                    newest = (r.claim.version, redo);
                }
            }
        }
    }
    let after_root = |unit: u32| {
        (0..g.slots_per_unit)
            .filter_map(|slot| record(&image, unit, slot))
            .all(|r| r.claim.version >= newest.1)
    };
    let x = *dead
        .iter()
        .find(|&&u| after_root(u))
        .expect("a unit all dead and all newer than the last root");
    let base = (x * g.unit_size) as usize;
    image[base..base + g.unit_size as usize].fill(0xFF);
    let mut gap = W25q128Flash::from_image(spec.clone(), 10, &image).unwrap();
    let ftl = NorFtl::mount(&mut gap, cfg).unwrap();
    let (high, passes) = heal(ftl, &mut model.clone());
    println!("{high} slots counted high after the mount; exact after {passes} passes");
    // Which unit is counted high, and a dead data record in it whose claim to tear.
    let mut gap = W25q128Flash::from_image(spec.clone(), 10, &image).unwrap();
    let mut ftl = NorFtl::mount(&mut gap, cfg).unwrap();
    let mut at = std::collections::HashSet::new();
    let mut live = vec![0u32; g.unit_count as usize];
    for lba in 0..n {
        if let Some((u, slot)) = ftl.lookup(lba).unwrap().location() {
            live[u as usize] += 1;
            at.insert((u, slot));
        }
    }
    let valid: Vec<u32> = ftl.units().map(|u| u32::from(u.valid)).collect();
    drop(ftl);
    let a = (0..g.unit_count)
        .find(|&u| valid[u as usize] > live[u as usize])
        .expect("a unit counted high");
    let dead_data = |slot: &u32| {
        let data = record(&image, a, *slot).is_some_and(|r| r.claim.kind == RecordKind::Data);
        data && !at.contains(&(a, *slot))
    };
    let torn = (0..g.slots_per_unit)
        .find(dead_data)
        .expect("a dead data record in the unit counted high");
    let claim = g.record_addr(a, torn) as usize;
    image[claim..claim + 16].fill(0);
    let mut torn_flash = W25q128Flash::from_image(spec, 11, &image).unwrap();
    let ftl = NorFtl::mount(&mut torn_flash, cfg).unwrap();
    let (high, passes) = heal(ftl, &mut model);
    println!("with a torn claim: {high} slots high; exact after {passes} passes");
}

/// 1 MiB of W25Q128-style NOR in 16 KiB units (64 units), with room in the run index for
/// many runs (16) and a buffer of 96 changes: runs without a merge for a while.
type NorFtl<'a> = Ftl<&'a mut W25q128Flash, 64, 0, 0, OnFlash<16, 96, 16, 48>>;

/// `NorFtl`'s part and configuration.
fn nor_1mib() -> (cowftl_sim::PartSpec, Config) {
    let cfg = Config {
        unit_size: Some(16 * 1024),
        ..Config::new(0, 1024 * 1024)
    };
    (presets::w25q128(1024 * 1024), cfg)
}

/// Write the model's next generation to `lba`.
fn write_next(ftl: &mut NorFtl<'_>, model: &mut Model, lba: u32) {
    let gen = model.next_gen();
    let bs = ftl.block_size() as usize;
    ftl.write(lba, &pattern(lba, gen, bs)).unwrap();
    model.write(lba, gen);
}

/// A mount whose counts the erase gap left high: none low, some high, every block as the
/// model says; then random writes until GC has made every count exact (at most 8 passes of
/// the capacity), no count ever low, every block read back. Returns (slots high, passes).
fn heal(mut ftl: NorFtl<'_>, model: &mut Model) -> (u32, u32) {
    let (n, bs) = (ftl.block_count(), ftl.block_size() as usize);
    let high = ftl
        .check_map()
        .unwrap()
        .expect("no count below its live records");
    assert!(
        high > 0,
        "the erase lost no minus: the test did not reach the gap"
    );
    let mut buf = vec![0u8; bs];
    let mut rng = SplitMix64::new(4);
    let mut passes = 0;
    loop {
        for lba in 0..n {
            ftl.read(lba, &mut buf).unwrap();
            assert!(
                buf == model.expected(lba, bs),
                "lba {lba} after {passes} passes"
            );
        }
        let left = ftl.check_map().unwrap();
        match left.expect("no count below its live records") {
            0 => return (high, passes),
            _ if passes == 8 => panic!("counts still high after {passes} passes of writes"),
            _ => {}
        }
        passes += 1;
        for _ in 0..n {
            write_next(&mut ftl, model, rng.below(u64::from(n)) as u32);
        }
    }
}
