//! End of life (docs/DESIGN.md contract 8): with the simulator's endurance limit, write until the
//! FTL turns read-only (or reports `NoSpace`); every acknowledged write still reads back,
//! also after a remount. Reports the lifetime in logical bytes written.
//!
//! Lifetime litmus (littlefs's test_exhaustion): the same workload on twice the units must
//! give more than 1.9x the lifetime writes.

use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::fill_pattern;

type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 64, 1024>;

const BS: usize = 512;
const ENDURANCE: u32 = 40;

fn cfg(units: u32) -> Config {
    Config {
        unit_size: Some(4096),
        reserve_units: 4,
        static_wl_threshold: 4,
        ..Config::new(0, units * 4096)
    }
}

/// Write random blocks among the first `working_set` until the volume stops accepting
/// writes. Returns the logical bytes acknowledged.
fn lifetime(units: u32, working_set: u32, seed: u64) -> u64 {
    let mut flash = Flash::new(
        PartSpec::custom("eol", (units * 4096) as usize, 1, 8, 2048),
        seed,
    );
    flash.set_endurance(Some(ENDURANCE));
    let mut ftl = Vol::format(&mut flash, cfg(units)).unwrap();
    let n = ftl.block_count();
    assert!(working_set <= n);
    // Allowed generations per block: one when acknowledged, two after a failed call.
    let mut model: Vec<Vec<u64>> = vec![vec![0]; n as usize];
    let mut rng = SplitMix64::new(seed);
    let mut buf = vec![0u8; BS];
    let mut acked = 0u64;
    let mut g = 0u64;
    let end = loop {
        let l = rng.below(working_set as u64) as u32;
        g += 1;
        fill_pattern(l, g, &mut buf);
        match ftl.write(l, &buf) {
            Ok(()) => {
                model[l as usize] = vec![g];
                acked += 1;
            }
            Err(e @ (Error::ReadOnly | Error::NoSpace)) => break e,
            // The call that hit the worn unit reports it; the block is old or new.
            Err(Error::Flash(_)) => model[l as usize].push(g),
            Err(e) => panic!("write: {e:?}"),
        }
        assert!(g < 10_000_000, "never wore out");
    };
    let check = |ftl: &mut Vol<'_>| {
        let mut got = vec![0u8; BS];
        let mut want = vec![0u8; BS];
        for (l, gens) in model.iter().enumerate() {
            ftl.read(l as u32, &mut got)
                .unwrap_or_else(|e| panic!("lba {l} after end of life: {e:?}"));
            assert!(
                gens.iter().any(|&g| {
                    fill_pattern(l as u32, g, &mut want);
                    got == want
                }),
                "lba {l}: acknowledged data lost at end of life: want {gens:?}, got {:?} at {:?}",
                &got[..16],
                ftl.mapping(l as u32)
            );
        }
    };
    check(&mut ftl);
    let stats = ftl.stats();
    let f = ftl.release();
    let mut ftl = Vol::mount(f, cfg(units)).expect("mount at end of life");
    check(&mut ftl);
    let bytes = acked * BS as u64;
    println!(
        "{units} units, endurance {ENDURANCE}: {end:?} after {acked} writes = {} KiB logical \
         ({} retired, wear {:?})",
        bytes / 1024,
        stats.retired_units,
        stats.wear
    );
    bytes
}

#[test]
fn writes_until_read_only_and_everything_stays_readable() {
    let b = lifetime(12, 40, 1);
    assert!(b > 0);
}

#[test]
fn lifetime_litmus_doubling_units_gives_more_than_1_9x() {
    // Same working set on 12 and 24 units (littlefs test_exhaustion).
    let mut ratios = Vec::new();
    for seed in 1..3 {
        let small = lifetime(12, 40, seed);
        let big = lifetime(24, 40, seed);
        let r = big as f64 / small as f64;
        println!("seed {seed}: lifetime {small} B -> {big} B, ratio {r:.2}");
        ratios.push(r);
    }
    for r in ratios {
        assert!(r > 1.9, "doubling the units gave only {r:.2}x the lifetime");
    }
}
