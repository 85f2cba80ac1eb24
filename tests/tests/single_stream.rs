//! Single-stream mode (`reserve_units: 2`) on the smallest region it is meant for: three
//! units, as on the STM32F411's 128 KiB sectors (scaled to 8 KiB here, 15 slots per unit,
//! 4-byte words that may be programmed more than once, like the F411's flash). Mirrors the on-target QEMU test
//! `f411_small_power_cut`: fill, then 40 overwrites with a power cut after every possible
//! op count; recover; then the same cut again followed by a second cut at every op of the
//! recovery. Every acknowledged block must read back, a recovery mount's view must stay.

use cowftl::geometry::SINGLE_STREAM_RESERVE_UNITS;
use cowftl::{Config, Ftl};
use cowftl_sim::{PartSpec, SimFlash};
use cowftl_testkit::pattern;

type Flash = SimFlash<1, 4, 8192>;
type Vol<'a> = Ftl<&'a mut Flash, 16, 128>;

const SECTOR: usize = 8 * 1024;
const BS: usize = 512;
const WRITES: u64 = 40;

fn spec() -> PartSpec {
    PartSpec {
        one_program_per_word: false,
        ..PartSpec::custom("f411-small", 3 * SECTOR, 1, 4, SECTOR)
    }
}

fn cfg() -> Config {
    Config {
        reserve_units: SINGLE_STREAM_RESERVE_UNITS,
        ..Config::new(0, (3 * SECTOR) as u32)
    }
}

fn lba_of(i: u64, blocks: u32) -> u32 {
    (i * 5 % blocks as u64) as u32
}

/// Acknowledged generation per block and the one write that was cut, if any.
struct Run {
    model: Vec<u64>,
    cut: Option<(u32, u64)>,
    hit: bool,
}

fn run_to_cut(flash: &mut Flash, n: u64) -> Run {
    *flash = Flash::new(spec(), 7);
    let blocks = {
        let mut ftl = Vol::format(&mut *flash, cfg()).expect("format");
        for l in 0..ftl.block_count() {
            ftl.write(l, &pattern(l, 1, BS)).unwrap();
        }
        ftl.block_count()
    };
    let mut run = Run {
        model: vec![1; blocks as usize],
        cut: None,
        hit: false,
    };
    flash.cut_after_ops(n);
    if let Ok(mut ftl) = Vol::mount(&mut *flash, cfg()) {
        for i in 0..WRITES {
            let l = lba_of(i, blocks);
            if ftl.write(l, &pattern(l, 2 + i, BS)).is_err() {
                run.cut = Some((l, 2 + i));
                break;
            }
            run.model[l as usize] = 2 + i;
        }
    }
    run.hit = flash.was_cut();
    assert!(run.hit || run.cut.is_none(), "write failed without a cut");
    flash.cancel_cut();
    flash.power_restore();
    run
}

/// Generation of every block (0 if it matches no pattern), checked against `run`.
fn check(ftl: &mut Vol<'_>, run: &Run, extra: Option<(u32, u64)>, what: &str) -> Vec<u64> {
    let mut seen = Vec::new();
    for l in 0..ftl.block_count() {
        let mut b = vec![0u8; BS];
        if let Err(e) = ftl.read(l, &mut b) {
            let g = *ftl.geometry();
            let at = ftl.mapping(l);
            let detail = at.location().map(|(u, s)| {
                let img = ftl.flash().image();
                let a = g.record_addr(u, s) as usize;
                let d = g.data_addr(u, s) as usize;
                let r = g.decode_record(&img[a..a + g.record_size as usize]);
                let crc = cowftl::layout::CRC.checksum(&img[d..d + BS]);
                format!(
                    "{r:?}, data crc {crc:#x}, units {:?} {:?}",
                    ftl.units().collect::<Vec<_>>(),
                    ftl.stats().counters
                )
            });
            panic!("{what}: read {l}: {e:?} at {at:?}: {detail:?}");
        }
        let ok = |g: u64| b == pattern(l, g, BS);
        let g = [
            Some(run.model[l as usize]),
            run.cut.map(|c| c.1),
            extra.map(|e| e.1),
        ]
        .into_iter()
        .flatten()
        .find(|&g| ok(g))
        .unwrap_or_else(|| panic!("{what}: block {l} holds no allowed generation"));
        let allowed =
            g == run.model[l as usize] || run.cut == Some((l, g)) || extra == Some((l, g));
        assert!(allowed, "{what}: block {l} generation {g}");
        seen.push(g);
    }
    seen
}

#[test]
fn three_units_cut_everywhere_and_during_recovery() {
    let mut flash = Flash::new(spec(), 7);
    let (mut cuts, mut seconds) = (0, 0);
    for n in 0.. {
        let run = run_to_cut(&mut flash, n);
        {
            let what = format!("cut {n}");
            let mut ftl = Vol::mount(&mut flash, cfg()).unwrap_or_else(|e| panic!("{what}: {e:?}"));
            check(&mut ftl, &run, None, &what);
            ftl.write(0, &pattern(0, 99, BS)).unwrap();
        }
        if !run.hit {
            break;
        }
        cuts += 1;
        for m in 0.. {
            let run = run_to_cut(&mut flash, n);
            let blocks = run.model.len() as u32;
            let watched = run.cut.map_or(0, |c| c.0);
            let extra = ((watched + 1) % blocks, 100u64);
            flash.cut_after_ops(m);
            let mut observed = None;
            if let Ok(mut ftl) = Vol::mount(&mut flash, cfg()) {
                let mut b = vec![0u8; BS];
                if ftl.read(watched, &mut b).is_ok() {
                    observed = Some(b);
                }
                let _ = ftl.write(extra.0, &pattern(extra.0, extra.1, BS));
            }
            let hit = flash.was_cut();
            flash.cancel_cut();
            flash.power_restore();
            let what = format!("cut {n}, second cut {m}");
            let mut ftl = Vol::mount(&mut flash, cfg()).unwrap_or_else(|e| panic!("{what}: {e:?}"));
            check(&mut ftl, &run, Some(extra), &what);
            if let Some(o) = observed {
                let mut b = vec![0u8; BS];
                ftl.read(watched, &mut b).unwrap();
                assert!(
                    b == o,
                    "{what}: block {watched} changed after a mount returned it"
                );
            }
            if let Err(e) = ftl.write(watched, &pattern(watched, 101, BS)) {
                panic!(
                    "{what}: write after recovery: {e:?} {:?} {:?}",
                    ftl.units().collect::<Vec<_>>(),
                    ftl.stats().counters
                );
            }
            if !hit {
                break;
            }
            seconds += 1;
        }
    }
    println!("{cuts} cut points, {seconds} second cuts during recovery");
    assert!(cuts > 40, "too few cut points: {cuts}");
}
