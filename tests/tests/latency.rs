//! Write latency: how much GC one write can run (docs/DESIGN.md, "Write latency"), and
//! `Config::gc_ahead`, which collects ahead of need so that no write runs many rounds.

use cowftl::geometry::GC_AHEAD_MIN_UNITS;
use cowftl::{Config, ConfigError, Error, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::{pattern, Model};

type Flash = SimFlash<1, 8, 2048>;
type Volume<'a> = Ftl<&'a mut Flash, 160, 1024>;
const UNIT: u32 = 2048;
const BLOCK: u32 = 256;

fn cfg(units: u32, gc_ahead: bool) -> Config {
    Config {
        unit_size: Some(UNIT),
        block_size: BLOCK,
        gc_ahead,
        ..Config::new(0, units * UNIT)
    }
}

fn flash(units: u32) -> Flash {
    let spec = PartSpec::custom("latency", (units * UNIT) as usize, 1, 8, 2048);
    Flash::new(spec, 7)
}

#[test]
fn collecting_ahead_needs_enough_units() {
    let few = GC_AHEAD_MIN_UNITS - 1;
    let mut f = flash(few);
    match Volume::format(&mut f, cfg(few, true)) {
        Err(Error::Config(ConfigError::GcAheadTooFewUnits)) => {}
        other => panic!("{few} units with gc_ahead: {:?}", other.map(|_| ())),
    }
    assert!(Volume::format(&mut f, cfg(few, false)).is_ok());
    let mut f = flash(GC_AHEAD_MIN_UNITS);
    assert!(Volume::format(&mut f, cfg(GC_AHEAD_MIN_UNITS, true)).is_ok());
}

/// Fill to 90 % of the capacity, then overwrite uniformly at random; returns the most slots
/// GC copied during one write, and checks every block afterwards and after a remount.
fn most_copies_in_one_write(gc_ahead: bool) -> (u64, u32) {
    let units = GC_AHEAD_MIN_UNITS;
    let mut f = flash(units);
    let cfg = cfg(units, gc_ahead);
    let mut ftl = Volume::format(&mut f, cfg).unwrap();
    let (n, bs) = (ftl.block_count(), BLOCK as usize);
    let live = n * 9 / 10;
    let mut model = Model::default();
    let mut rng = SplitMix64::new(11);
    let mut most = 0;
    for i in 0..u64::from(live) * 4 {
        let lba = match i < u64::from(live) {
            true => i as u32,
            false => rng.below(u64::from(live)) as u32,
        };
        let before = ftl.counters().relocations;
        ftl.write(lba, &pattern(lba, i, bs)).unwrap();
        most = most.max(ftl.counters().relocations - before);
        model.write(lba, i);
    }
    drop(ftl);
    let mut ftl = Volume::mount(&mut f, cfg).unwrap();
    let mut buf = vec![0u8; bs];
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(
            buf,
            model.expected(lba, bs),
            "lba {lba} (gc_ahead {gc_ahead})"
        );
    }
    (most, ftl.geometry().slots_per_unit)
}

#[test]
fn collecting_ahead_keeps_any_write_to_about_one_round() {
    let (waiting, slots) = most_copies_in_one_write(false);
    let (ahead, _) = most_copies_in_one_write(true);
    // Without it, a write that finds no unit runs rounds until one is available: several
    // units' worth of copies at 90 % fill.
    assert!(
        waiting > 2 * u64::from(slots),
        "{waiting} copies, {slots} slots per unit"
    );
    // With it, the rounds ran after earlier writes: one round's worth, or about.
    assert!(
        ahead <= 2 * u64::from(slots),
        "{ahead} copies, {slots} slots per unit"
    );
}
