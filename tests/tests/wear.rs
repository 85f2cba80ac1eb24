//! Long run: at least 50x the exported capacity in writes on a small geometry, with half the
//! blocks cold (written once). Static wear levelling must keep the erase-count spread within
//! the threshold (+ slack), and the on-flash wear counters must survive every remount and
//! match the erases the simulator counted.

use cowftl::{Config, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::{pattern, Model};

type Flash = SimFlash<1, 8, 2048>;
const UNITS: u32 = 16;
const UNIT: u32 = 4096;
const THRESHOLD: u32 = 6;
/// A spread can exceed the threshold by the erases done between two checks (one GC round
/// plus the wear-levelling move it triggers).
const SLACK: u32 = 2;

/// Erases of each unit as the simulator counted them (first page of the unit).
fn sim_wear(flash: &Flash) -> Vec<u32> {
    let pages = (UNIT / 2048) as usize;
    (0..UNITS as usize)
        .map(|u| flash.wear()[u * pages])
        .collect()
}

/// 16 units of 7 slots; a reserve of 4 (1 for GC, 3 spares) keeps the fill near 70 %, where
/// wear levelling (not GC thrashing at 93 % of 7-slot units) decides the spread.
fn cfg() -> Config {
    Config {
        unit_size: Some(UNIT),
        reserve_units: 4,
        static_wl_threshold: THRESHOLD,
        ..Config::new(0, UNITS * UNIT)
    }
}

#[test]
fn fifty_capacities_of_writes_keep_wear_level_and_counters_persist() {
    let mut flash = Flash::new(
        PartSpec::custom("wear", (UNITS * UNIT) as usize, 1, 8, 2048),
        3,
    );
    let mut ftl = Ftl::<_, 32, 512>::format(&mut flash, cfg()).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut model = Model::default();
    for l in 0..n {
        ftl.write(l, &pattern(l, 1, bs)).unwrap();
        model.write(l, 1);
    }
    let cold = n / 2;
    let mut rng = SplitMix64::new(42);
    let total = 50 * n as u64;
    let mut max_spread = 0;
    for i in 0..total {
        let l = cold + (rng.next_u64() % (n - cold) as u64) as u32;
        ftl.write(l, &pattern(l, i + 2, bs)).unwrap();
        model.write(l, i + 2);
        let w = ftl.stats().wear;
        max_spread = max_spread.max(w.max - w.min);
        assert!(
            w.max - w.min <= THRESHOLD + SLACK,
            "spread {} at write {i}: {:?} {:?}",
            w.max - w.min,
            ftl.stats(),
            ftl.units()
                .map(|u| (u.wear, u.valid, u.state))
                .collect::<Vec<_>>()
        );
        if i.is_multiple_of(997) {
            drop(ftl);
            ftl = Ftl::<_, 32, 512>::mount(&mut flash, cfg()).unwrap();
            // Counters read back from flash equal the erases the simulator saw.
            let after: Vec<u32> = ftl.unit_wear().collect();
            assert_eq!(
                after,
                sim_wear(ftl.flash()),
                "wear counters lost across remount"
            );
        }
    }
    let wear: Vec<u32> = ftl.unit_wear().collect();
    let stats = ftl.stats();
    drop(ftl);
    // Every erase of a unit erased its pages exactly once: the simulator's per-page count for
    // the unit's first page is the unit's true erase count (format included).
    let _ = stats.counters;
    assert_eq!(
        wear,
        sim_wear(&flash),
        "on-flash wear counters disagree with the erases done"
    );
    assert!(
        stats.wear.max > 20,
        "workload too light to test levelling: {:?}",
        stats.wear
    );
    let mut ftl = Ftl::<_, 32, 512>::mount(&mut flash, cfg()).unwrap();
    let mut buf = vec![0u8; bs];
    for l in 0..n {
        ftl.read(l, &mut buf).unwrap();
        assert!(buf == model.expected(l, bs), "lba {l}");
    }
    println!(
        "writes {total}, wear {:?}, max spread {max_spread}",
        stats.wear
    );
}

#[test]
fn without_static_levelling_cold_units_stay_unworn() {
    // Control: the same workload with a huge threshold shows a spread far above THRESHOLD,
    // so the test above measures static wear levelling, not luck.
    let mut flash = Flash::new(
        PartSpec::custom("wear", (UNITS * UNIT) as usize, 1, 8, 2048),
        3,
    );
    let cfg = Config {
        static_wl_threshold: 1_000_000,
        ..cfg()
    };
    let mut ftl = Ftl::<_, 32, 512>::format(&mut flash, cfg).unwrap();
    let n = ftl.block_count();
    for l in 0..n {
        ftl.write(l, &pattern(l, 1, 512)).unwrap();
    }
    let mut rng = SplitMix64::new(42);
    for i in 0..(50 * n as u64) {
        let l = n / 2 + (rng.next_u64() % (n - n / 2) as u64) as u32;
        ftl.write(l, &pattern(l, i + 2, 512)).unwrap();
    }
    let w = ftl.stats().wear;
    assert!(
        w.max - w.min > 3 * THRESHOLD,
        "control spread only {}",
        w.max - w.min
    );
}

/// 70 % cold data and 8 hot blocks on the NUCLEO's default geometry (16 units of 30 slots):
/// GC copies are rare, so the GC frontier stays open for a long time with few erases. It used
/// to stay the least-worn unit for ever, and static levelling (which only moves data when the
/// least-worn unit holds some) stopped: spread 4..72 with threshold 4. Now a least-worn GC
/// frontier is sealed and collected like any cold unit.
#[test]
fn an_idle_gc_frontier_does_not_stop_static_levelling() {
    use cowftl_sim::{presets, Stm32L476Flash};
    let mut flash = Stm32L476Flash::new(presets::stm32l476(256 * 1024), 1);
    let cfg = Config {
        static_wl_threshold: 4,
        ..Config::new(0, 256 * 1024)
    };
    let mut ftl: Ftl<_, 16, 441> = Ftl::format(&mut flash, cfg).unwrap();
    let n = ftl.block_count();
    let cold = n * 7 / 10;
    for l in 0..cold {
        ftl.write(l, &pattern(l, 1, 512)).unwrap();
    }
    for r in 0..1500u64 {
        for l in cold..cold + 8 {
            ftl.write(l, &pattern(l, 100 + r, 512)).unwrap();
        }
    }
    let s = ftl.stats();
    assert!(s.counters.wl_moves > 0);
    assert!(
        s.wear.max - s.wear.min <= 4 + SLACK,
        "wear {}..{} with threshold 4",
        s.wear.min,
        s.wear.max
    );
    let mut m = Model::new(n);
    for l in 0..cold {
        m.write(l, 1);
    }
    let mut b = vec![0u8; 512];
    for l in 0..cold {
        ftl.read(l, &mut b).unwrap();
        assert!(b == m.expected(l, 512), "cold block {l}");
    }
}

/// docs/DESIGN.md, "Garbage collection": with three frontiers, a rewrite of a block whose
/// record sat untouched for more than half the volume's slots of writes goes to the cold
/// frontier, a rewrite of a hot block to the host frontier; a block the cold frontier holds
/// goes back to it once its unit is older than a thirty-second of the slots; with two frontiers
/// every host write goes to the host frontier.
#[test]
fn rewrites_of_cold_blocks_go_to_the_cold_frontier() {
    for (units, routes) in [(32u32, true), (16, false)] {
        let len = units * UNIT;
        let mut flash = Flash::new(PartSpec::custom("route", len as usize, 1, 8, 2048), 3);
        let cfg = Config {
            unit_size: Some(UNIT),
            ..Config::new(0, len)
        };
        let mut ftl = Ftl::<_, 32, 512>::format(&mut flash, cfg).unwrap();
        let slots = ftl.geometry().unit_count * ftl.geometry().slots_per_unit;
        let bs = ftl.block_size() as usize;
        // Block 0 is cold: written once, then `slots` writes to the hot blocks 1..=8.
        ftl.write(0, &pattern(0, 1, bs)).unwrap();
        for i in 0..slots {
            let l = 1 + i % 8;
            ftl.write(l, &pattern(l, u64::from(i) + 2, bs)).unwrap();
        }
        let in_cold_unit = |ftl: &Ftl<_, 32, 512>, lba: u32| {
            let (unit, _) = ftl.mapping(lba).location().expect("written");
            ftl.units().nth(unit as usize).expect("a unit").cold
        };
        ftl.write(0, &pattern(0, 9, bs)).unwrap();
        ftl.write(1, &pattern(1, 9, bs)).unwrap();
        assert_eq!(
            in_cold_unit(&ftl, 0),
            routes,
            "{units} units: the cold block"
        );
        assert!(!in_cold_unit(&ftl, 1), "{units} units: a hot block");
        // A tenth of the slots later (under half, over a thirty-second), block 0 is still cold
        // (its unit was opened as the cold frontier); rewritten at once, it is hot.
        for i in 0..slots / 10 {
            let l = 1 + i % 8;
            ftl.write(l, &pattern(l, u64::from(i) + 10, bs)).unwrap();
        }
        ftl.write(0, &pattern(0, 10, bs)).unwrap();
        assert_eq!(in_cold_unit(&ftl, 0), routes, "{units} units: cold again");
        ftl.write(0, &pattern(0, 11, bs)).unwrap();
        assert!(!in_cold_unit(&ftl, 0), "{units} units: rewritten at once");
        let mut buf = vec![0u8; bs];
        ftl.read(0, &mut buf).unwrap();
        assert_eq!(buf, pattern(0, 11, bs));
    }
}
