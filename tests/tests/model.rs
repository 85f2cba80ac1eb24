//! Model test: random write / read / trim / remount sequences against a reference model, on
//! the real-part presets and on tiny geometries that force GC all the time. The simulator
//! panics on any flash rule violation (double program, 0->1 program, misaligned access).

use cowftl::Config;
use cowftl_sim::{presets, PartSpec, SimFlash};
use cowftl_testkit::api::{Api, Async, Blocking, Volume};
use cowftl_testkit::{pattern, Model};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
    Read(u32),
    Remount,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<u32>(), any::<u64>()).prop_map(|(l, g)| Op::Write(l, g)),
        2 => any::<u32>().prop_map(Op::Trim),
        3 => any::<u32>().prop_map(Op::Read),
        1 => Just(Op::Remount),
    ]
}

/// Hot-spot skew: half of the ops hit the first eighth of the blocks, so GC sees both
/// hot and cold units.
fn pick(raw: u32, n: u32) -> u32 {
    if raw & 1 == 0 {
        (raw >> 1) % (n / 8).max(1)
    } else {
        (raw >> 1) % n
    }
}

fn check_all<F: embedded_storage::nor_flash::ErrorType>(ftl: &mut impl Volume<F>, model: &Model)
where
    F::Error: core::fmt::Debug,
{
    let bs = ftl.block_size() as usize;
    let mut buf = vec![0u8; bs];
    for lba in 0..ftl.block_count() {
        ftl.read(lba, &mut buf).unwrap();
        assert!(
            buf == model.expected(lba, bs),
            "lba {lba} differs from the model"
        );
    }
}

fn run<A: Api, const R: usize, const W: usize, const E: usize>(
    spec: PartSpec,
    cfg: Config,
    ops: &[Op],
    fill: bool,
) {
    const U: usize = 64;
    const B: usize = 4096;
    let mut flash = SimFlash::<R, W, E>::new(spec, 7);
    let mut model = Model::default();
    let mut ftl = A::Vol::<_, U, B, 0>::format(&mut flash, cfg).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut buf = vec![0u8; bs];
    if fill {
        // Start from a nearly full volume so even short sequences run GC.
        for lba in 0..n - n / 10 {
            ftl.write(lba, &pattern(lba, 1, bs)).unwrap();
            model.write(lba, 1);
        }
    }
    for o in ops {
        match *o {
            Op::Write(raw, g) => {
                let lba = pick(raw, n);
                ftl.write(lba, &pattern(lba, g, bs)).unwrap();
                model.write(lba, g);
            }
            Op::Trim(raw) => {
                let lba = pick(raw, n);
                ftl.trim(lba).unwrap();
                model.trim(lba);
            }
            Op::Read(raw) => {
                let lba = pick(raw, n);
                ftl.read(lba, &mut buf).unwrap();
                assert!(buf == model.expected(lba, bs), "read of lba {lba}");
            }
            Op::Remount => {
                drop(ftl);
                ftl = A::Vol::<_, U, B, 0>::mount(&mut flash, cfg).unwrap();
                check_all(&mut ftl, &model);
            }
        }
    }
    drop(ftl);
    let mut ftl = A::Vol::<_, U, B, 0>::mount(&mut flash, cfg).unwrap();
    check_all(&mut ftl, &model);
    drop(ftl);
    assert!(flash.violations().is_empty());
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn stm32l476(ops in prop::collection::vec(op(), 1..400)) {
        run::<Blocking, 1, 8, 2048>(presets::stm32l476(128 * 1024), Config::new(0, 128 * 1024), &ops, true);
        run::<Async, 1, 8, 2048>(presets::stm32l476(128 * 1024), Config::new(0, 128 * 1024), &ops, true);
    }

    #[test]
    fn stm32f411_region_single_stream(ops in prop::collection::vec(op(), 1..400)) {
        // The F411's three 128 KiB sectors: only the single-stream mode (reserve 2) fits.
        // One program per word enforced, although the F411 itself has no ECC.
        let spec = PartSpec { one_program_per_word: true, ..presets::stm32f411(384 * 1024) };
        let cfg = Config { reserve_units: 2, ..Config::new(0, 384 * 1024) };
        run::<Blocking, 1, 4, 131072>(spec.clone(), cfg, &ops, true);
        run::<Async, 1, 4, 131072>(spec, cfg, &ops, true);
    }

    #[test]
    fn stm32f411_sectors_dual_stream(ops in prop::collection::vec(op(), 1..300)) {
        let spec = PartSpec { one_program_per_word: true, ..presets::stm32f411(1024 * 1024) };
        run::<Blocking, 1, 4, 131072>(spec.clone(), Config::new(0, 1024 * 1024), &ops, true);
        run::<Async, 1, 4, 131072>(spec, Config::new(0, 1024 * 1024), &ops, true);
    }

    #[test]
    fn stm32h743(ops in prop::collection::vec(op(), 1..300)) {
        run::<Blocking, 1, 32, 131072>(presets::stm32h743(1024 * 1024), Config::new(0, 1024 * 1024), &ops, true);
        run::<Async, 1, 32, 131072>(presets::stm32h743(1024 * 1024), Config::new(0, 1024 * 1024), &ops, true);
    }

    #[test]
    fn w25q_spi_nor(ops in prop::collection::vec(op(), 1..400)) {
        run::<Blocking, 1, 1, 4096>(presets::w25q128(128 * 1024), Config::new(0, 128 * 1024), &ops, true);
        run::<Async, 1, 1, 4096>(presets::w25q128(128 * 1024), Config::new(0, 128 * 1024), &ops, true);
    }

    #[test]
    fn tiny_units_heavy_gc(ops in prop::collection::vec(op(), 1..400)) {
        // 6 units of 7 slots (the fewest a unit may have is 6), reserve 4: GC on nearly
        // every write.
        let spec = PartSpec::custom("tiny", 6 * 4096, 1, 8, 2048);
        let cfg = Config { unit_size: Some(4096), reserve_units: 4, ..Config::new(0, 6 * 4096) };
        run::<Blocking, 1, 8, 2048>(spec.clone(), cfg, &ops, false);
        run::<Async, 1, 8, 2048>(spec, cfg, &ops, false);
    }

    #[test]
    fn small_blocks_region_offset(ops in prop::collection::vec(op(), 1..400)) {
        // 128-byte blocks, a region that does not start at 0, 1 KiB erase pages.
        let spec = PartSpec::custom("small", 40 * 1024, 1, 8, 1024);
        let cfg = Config { block_size: 128, unit_size: Some(1024), reserve_units: 4, ..Config::new(8 * 1024, 16 * 1024) };
        run::<Blocking, 1, 8, 1024>(spec.clone(), cfg, &ops, true);
        run::<Async, 1, 8, 1024>(spec, cfg, &ops, true);
    }
}
