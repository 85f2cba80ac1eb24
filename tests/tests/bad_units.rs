//! Bad units (docs/DESIGN.md contract 8): injected program and erase failures retire the unit,
//! relocate its live data, lose nothing acknowledged; the exported capacity never shrinks
//! (the reserve absorbs retired units); after more than `spare` failures the volume turns
//! read-only (`Error::ReadOnly`) and everything stays readable, also after a remount.

use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::fill_pattern;

type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 32, 512>;

const UNITS: u32 = 12;
const BS: usize = 512;

/// 1 for GC + 3 spares.
fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        reserve_units: 4,
        static_wl_threshold: 4,
        ..Config::new(0, UNITS * 4096)
    }
}

fn flash(seed: u64) -> Flash {
    Flash::new(
        PartSpec::custom("bad", (UNITS * 4096) as usize, 1, 8, 2048),
        seed,
    )
}

fn check(ftl: &mut Vol<'_>, model: &[u64]) {
    let mut got = vec![0u8; BS];
    let mut want = vec![0u8; BS];
    for (l, &g) in model.iter().enumerate() {
        ftl.read(l as u32, &mut got)
            .unwrap_or_else(|e| panic!("lba {l}: {e:?}"));
        fill_pattern(l as u32, g, &mut want);
        assert!(
            got == want,
            "lba {l}: acknowledged data lost: want gen {g}, got {:?} at {:?}",
            &got[..16],
            ftl.mapping(l as u32)
        );
    }
}

/// Write random blocks, injecting a failure on a fresh unit every `every` writes, until
/// the volume turns read-only. Returns (retired count when read-only, acknowledged writes).
fn run(seed: u64, program: bool) -> (u32, u64) {
    let mut f = flash(seed);
    let mut ftl = Vol::format(&mut f, cfg()).unwrap();
    let n = ftl.block_count();
    let spare = ftl.geometry().spare_units();
    assert_eq!(spare, 3);
    let mut model = vec![0u64; n as usize];
    let mut buf = vec![0u8; BS];
    let mut rng = SplitMix64::new(seed);
    let mut g = 0;
    let mut failed_units = Vec::new();
    let mut acked = 0;
    // Fill first.
    for l in 0..n {
        g += 1;
        fill_pattern(l, g, &mut buf);
        ftl.write(l, &buf).unwrap();
        model[l as usize] = g;
    }
    let mut read_only = false;
    for i in 0..20_000u64 {
        if i % 150 == 149 {
            // Break a unit that is not already broken: the one the next writes will land
            // in (program failure) or any (erase failure, hit when GC reclaims it).
            // Inject between calls: release the flash, break a unit, mount again.
            let f: &mut Flash = ftl.release();
            let u = loop {
                let u = rng.below(UNITS as u64) as u32;
                if !failed_units.contains(&u) {
                    break u;
                }
            };
            failed_units.push(u);
            if program {
                f.fail_program(u * 4096..(u + 1) * 4096);
            } else {
                f.fail_erase(2 * u as usize);
            }
            ftl = match Vol::mount(f, cfg()) {
                Ok(v) => v,
                Err(e) => panic!("remount after injecting a fault: {e:?}"),
            };
        }
        let l = rng.below(n as u64) as u32;
        g += 1;
        fill_pattern(l, g, &mut buf);
        match ftl.write(l, &buf) {
            Ok(()) => {
                model[l as usize] = g;
                acked += 1;
                assert_eq!(ftl.block_count(), n, "capacity shrank");
            }
            Err(Error::ReadOnly) => {
                read_only = true;
                break;
            }
            // The call that hit the failure may report it (the unit is retired).
            Err(Error::Flash(_)) => {}
            Err(e) => panic!(
                "write {i}: {e:?} {:?}\n{:#?}",
                ftl.stats(),
                ftl.units().collect::<Vec<_>>()
            ),
        }
        if i % 500 == 0 {
            check(&mut ftl, &model);
        }
    }
    assert!(read_only, "never turned read-only: {:?}", ftl.stats());
    let retired = ftl.stats().retired_units;
    assert!(retired > spare, "read-only with only {retired} retired");
    assert!(ftl.is_read_only());
    assert_eq!(ftl.write(0, &buf), Err(Error::ReadOnly));
    assert_eq!(ftl.trim(0), Err(Error::ReadOnly));
    check(&mut ftl, &model);
    // Everything acknowledged is readable after a remount too, and it stays read-only.
    let f = ftl.release();
    let mut ftl = Vol::mount(f, cfg()).expect("mount of a read-only volume");
    check(&mut ftl, &model);
    assert_eq!(
        ftl.write(0, &buf),
        Err(Error::ReadOnly),
        "{:?} {:#?}",
        ftl.stats(),
        ftl.units().collect::<Vec<_>>()
    );
    (retired, acked)
}

#[test]
fn program_failures_retire_units_then_read_only() {
    for seed in 1..4 {
        let (retired, acked) = run(seed, true);
        println!("seed {seed}: read-only after {retired} retired units, {acked} writes");
    }
}

#[test]
fn erase_failures_retire_units_then_read_only() {
    for seed in 1..4 {
        let (retired, acked) = run(seed, false);
        println!("seed {seed}: read-only after {retired} retired units, {acked} writes");
    }
}
