//! Exhaustive single power cut: run a seeded workload that drives GC and static wear
//! levelling, cut power at every flash operation index in turn (torn programs, torn erases,
//! unstable reads), remount and check contracts 2-4 of docs/DESIGN.md:
//! every acknowledged write/trim survives, the interrupted operation is all-or-nothing, the
//! recovered state is a prefix of the sequence, a second mount shows the same state (no
//! rollback of what a mount has shown), and the volume keeps working afterwards.
//! Also: a cut at every index of format, and of the first write after a cut (mount itself
//! performs no flash operation).

use cowftl::Config;
use cowftl_sim::{PartSpec, SimError, SimFlash, SplitMix64};
use cowftl_testkit::api::{Api, Async, Blocking, Volume};

use cowftl_testkit::{pattern, Model};

type Flash = SimFlash<1, 8, 2048>;
/// The volume under test: API `A`'s FTL over the simulator.
type Vol<'a, A> = <A as Api>::Vol<&'a mut Flash, 64, 256, 0>;
type Err = cowftl::Error<SimError>;

/// A geometry the cut tests run on.
struct Layout {
    units: usize,
    unit: u32,
}

/// 8 units of 7 slots, reserve 4 (1 for GC, 3 spares): 24 blocks, two frontiers.
const EIGHT_UNITS: Layout = Layout {
    units: 8,
    unit: 4096,
};

/// 32 units of 3 slots, reserve 4: 78 blocks and three frontiers, so GC copies out of copy
/// units and rewrites of cold blocks go to the cold frontier (docs/DESIGN.md, "Garbage
/// collection").
const THREE_FRONTIERS: Layout = Layout {
    units: cowftl::geometry::COLD_STREAM_UNITS as usize,
    unit: 2048,
};

fn spec(lay: &Layout) -> PartSpec {
    PartSpec::custom("cut-test", lay.units * lay.unit as usize, 1, 8, 2048)
}

fn cfg(lay: &Layout) -> Config {
    // Reserve 4 (1 for GC, 3 spares). The lowest WL threshold so static WL runs
    // (cost-benefit GC alone keeps the spread at 2 here).
    Config {
        unit_size: Some(lay.unit),
        reserve_units: 4,
        static_wl_threshold: 1,
        ..Config::new(0, lay.units as u32 * lay.unit)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
}

/// 320 operations: cold blocks written once, then a hot set hammered (drives static WL).
fn workload(n: u32, seed: u64) -> Vec<Op> {
    let mut rng = SplitMix64::new(seed);
    let mut ops: Vec<Op> = (0..n).map(|l| Op::Write(l, 0)).collect();
    for i in 0..(320 - n as u64) {
        let r = rng.next_u64();
        let lba = if r % 10 < 8 {
            (r >> 8) as u32 % 6
        } else {
            (r >> 8) as u32 % n
        };
        ops.push(if r.is_multiple_of(17) {
            Op::Trim(lba)
        } else {
            Op::Write(lba, i + 1)
        });
    }
    ops
}

fn apply(m: &mut Model, op: Op) {
    match op {
        Op::Write(l, g) => m.write(l, g),
        Op::Trim(l) => m.trim(l),
    }
}

fn exec<'a>(ftl: &mut impl Volume<&'a mut Flash>, op: Op) -> Result<(), Err> {
    let bs = ftl.block_size() as usize;
    match op {
        Op::Write(l, g) => ftl.write(l, &pattern(l, g, bs)),
        Op::Trim(l) => ftl.trim(l),
    }
}

fn read_all<'a>(ftl: &mut impl Volume<&'a mut Flash>) -> Vec<Vec<u8>> {
    let bs = ftl.block_size() as usize;
    (0..ftl.block_count())
        .map(|l| {
            let mut b = vec![0u8; bs];
            ftl.read(l, &mut b)
                .unwrap_or_else(|e| panic!("read {l} after remount: {e:?}"));
            b
        })
        .collect()
}

fn state_of(m: &Model, n: u32, bs: usize) -> Vec<Vec<u8>> {
    (0..n).map(|l| m.expected(l, bs)).collect()
}

/// Run `ops` until the armed cut fires. Returns (acknowledged count, whether a cut hit).
fn run_until_cut<A: Api>(lay: &Layout, flash: &mut Flash, ops: &[Op]) -> (usize, bool) {
    let mut ftl = match Vol::<A>::mount(&mut *flash, cfg(lay)) {
        Ok(f) => f,
        Err(cowftl::Error::Flash(SimError::PowerLost)) => return (0, true),
        Err(e) => panic!("mount: {e:?}"),
    };
    for (i, &op) in ops.iter().enumerate() {
        match exec(&mut ftl, op) {
            Ok(()) => {}
            Err(cowftl::Error::Flash(SimError::PowerLost)) => return (i, true),
            Err(e) => panic!("op {i} {op:?}: {e:?}"),
        }
    }
    drop(ftl);
    assert!(!flash.was_cut(), "a cut fired but no operation reported it");
    (ops.len(), false)
}

/// After a cut: mount twice, check the state is old-or-new for the interrupted op and
/// identical across the two mounts, then check the volume still works.
fn verify_after_cut<A: Api>(lay: &Layout, flash: &mut Flash, ops: &[Op], acked: usize, what: &str) {
    flash.power_restore();
    let bs = 512;
    let mut before = Model::default();
    for &op in &ops[..acked] {
        apply(&mut before, op);
    }
    let mut after = before.clone();
    if acked < ops.len() {
        apply(&mut after, ops[acked]);
    }
    let mut ftl =
        Vol::<A>::mount(flash, cfg(lay)).unwrap_or_else(|e| panic!("{what}: mount: {e:?}"));
    let n = ftl.block_count();
    let got = read_all(&mut ftl);
    let (old, new) = (state_of(&before, n, bs), state_of(&after, n, bs));
    assert!(
        got == old || got == new,
        "{what}: state is neither before nor after op {acked}"
    );
    drop(ftl);
    let mut ftl =
        Vol::<A>::mount(flash, cfg(lay)).unwrap_or_else(|e| panic!("{what}: 2nd mount: {e:?}"));
    assert!(
        read_all(&mut ftl) == got,
        "{what}: second mount shows a different state"
    );
    // Still usable: overwrite a few blocks (forcing GC) and read them back after remount.
    let mut m = if got == old { before } else { after };
    for i in 0..40u64 {
        let l = (i * 7 % n as u64) as u32;
        let g = 1_000_000 + i;
        if let Err(e) = ftl.write(l, &pattern(l, g, bs)) {
            for u in ftl.units() {
                eprintln!("{u:?}");
            }
            panic!("{what}: write {i} after recovery: {e:?} {:?}", ftl.stats());
        }
        m.write(l, g);
    }
    drop(ftl);
    let mut ftl = Vol::<A>::mount(flash, cfg(lay)).unwrap();
    assert!(
        read_all(&mut ftl) == state_of(&m, n, bs),
        "{what}: writes after recovery lost"
    );
    drop(ftl);
    assert!(flash.violations().is_empty());
}

fn formatted<A: Api>(lay: &Layout, seed: u64) -> Flash {
    let mut flash = Flash::new(spec(lay), seed);
    Vol::<A>::format(&mut flash, cfg(lay)).unwrap();
    flash
}

fn cut_at_every_operation_of_a_gc_and_wl_workload_on<A: Api>(lay: &Layout) {
    let base = formatted::<A>(lay, 11);
    let n = Vol::<A>::mount(&mut base.clone(), cfg(lay))
        .unwrap()
        .block_count();
    let ops = workload(n, 0xC0FFEE);
    assert!(ops.len() >= 300);
    // Dry run: count flash operations, and prove the workload exercises GC and static WL.
    let mut dry = base.clone();
    let start = dry.ops();
    let (acked, cut) = run_until_cut::<A>(lay, &mut dry, &ops);
    assert!(!cut && acked == ops.len());
    let total = dry.ops() - start;
    let mut f = dry.clone();
    let ftl = Vol::<A>::mount(&mut f, cfg(lay)).unwrap();
    let _ = ftl;
    // Count GC/WL activity in a single uninterrupted session.
    let mut g = base.clone();
    let mut v = Vol::<A>::mount(&mut g, cfg(lay)).unwrap();
    // Host writes whose record landed in a unit opened as the cold frontier: on three frontiers,
    // rewrites of cold blocks routed to the cold frontier.
    let mut routed = 0;
    for &op in &ops {
        exec(&mut v, op).unwrap();
        if let Op::Write(l, _) = op {
            let (unit, _) = v.mapping(l).location().expect("just written");
            routed += usize::from(v.units()[unit as usize].cold);
        }
    }
    if v.geometry().streams() == 3 {
        assert!(
            routed >= 10,
            "only {routed} writes reached the cold frontier"
        );
    }
    let c = v.stats().counters;
    assert!(
        c.gc_victims > 20 && c.wl_moves > 0,
        "workload too gentle: {c:?} {:?} {:?}",
        v.stats().wear,
        v.units()
            .into_iter()
            .map(|u| (u.wear, u.valid, u.state))
            .collect::<Vec<_>>()
    );
    println!("{total} flash ops; {routed} writes routed; {c:?}");
    for i in 0..total {
        let mut flash = base.clone();
        flash.cut_after_ops(i);
        let (acked, cut) = run_until_cut::<A>(lay, &mut flash, &ops);
        assert!(cut, "cut {i} never fired");
        verify_after_cut::<A>(lay, &mut flash, &ops, acked, &format!("cut at op {i}"));
    }
}

fn cut_at_every_operation_of_the_first_write_after_a_cut_on<A: Api>(lay: &Layout) {
    // Cut the workload at a spread of points. Mount only reads (docs/DESIGN.md, "Recovery"),
    // so what a cut left is dealt with by the first write after the mount (probing the slot
    // it programs, a GC round): retry the interrupted operation and cut that retry at every
    // flash operation it performs, then mount again and check.
    let base = formatted::<A>(lay, 12);
    let n = Vol::<A>::mount(&mut base.clone(), cfg(lay))
        .unwrap()
        .block_count();
    let ops = workload(n, 0xBEEF);
    let mut cases = 0;
    for k in (0..3000u64).step_by(3) {
        if cases >= 30 {
            break;
        }
        let mut flash = base.clone();
        flash.cut_after_ops(k);
        let (acked, cut) = run_until_cut::<A>(lay, &mut flash, &ops);
        if !cut || acked == ops.len() {
            break;
        }
        flash.power_restore();
        let mut probe = flash.clone();
        let start = probe.ops();
        let mut v = Vol::<A>::mount(&mut probe, cfg(lay)).unwrap();
        exec(&mut v, ops[acked]).unwrap();
        drop(v);
        let retry_ops = probe.ops() - start;
        if retry_ops == 0 {
            continue;
        }
        cases += 1;
        for j in 0..retry_ops {
            let mut f = flash.clone();
            // Armed before the mount: the mount performs no flash operation.
            f.cut_after_ops(j);
            let mut v = Vol::<A>::mount(&mut f, cfg(lay)).unwrap();
            match exec(&mut v, ops[acked]) {
                Err(cowftl::Error::Flash(SimError::PowerLost)) => {}
                other => panic!("retry cut {j} did not surface: {other:?}"),
            }
            drop(v);
            assert!(f.was_cut());
            verify_after_cut::<A>(
                lay,
                &mut f,
                &ops,
                acked,
                &format!("workload cut {k}, retry cut {j}"),
            );
        }
    }
    assert!(cases >= 30, "too few cut points with work: test is vacuous");
}

fn cut_at_every_operation_of_format_on<A: Api>(lay: &Layout) {
    // From blank, and over an existing volume with data.
    let mut used = formatted::<A>(lay, 13);
    let mut model = Model::default();
    {
        let mut ftl = Vol::<A>::mount(&mut used, cfg(lay)).unwrap();
        for l in 0..ftl.block_count() {
            ftl.write(l, &pattern(l, 3, 512)).unwrap();
            model.write(l, 3);
        }
    }
    for (name, base) in [("blank", Flash::new(spec(lay), 14)), ("used", used)] {
        let mut dry = base.clone();
        let s = dry.ops();
        drop(Vol::<A>::format(&mut dry, cfg(lay)).unwrap());
        let total = dry.ops() - s;
        assert!(total >= lay.units as u64);
        for i in 0..total {
            let mut f = base.clone();
            f.cut_after_ops(i);
            assert!(Vol::<A>::format(&mut f, cfg(lay)).is_err());
            f.power_restore();
            match Vol::<A>::mount(&mut f, cfg(lay)) {
                Ok(mut ftl) => {
                    let n = ftl.block_count();
                    let got = read_all(&mut ftl);
                    let empty = state_of(&Model::default(), n, 512);
                    let old = state_of(&model, n, 512);
                    assert!(
                        got == empty || (name == "used" && got == old),
                        "{name} format cut {i}: mixed state"
                    );
                }
                Err(cowftl::Error::Blank) | Err(cowftl::Error::NotFormatted) => {}
                Err(e) => panic!("{name} format cut {i}: mount error {e:?}"),
            }
            // Formatting again always works and gives an empty, working volume.
            let mut ftl = Vol::<A>::format(&mut f, cfg(lay)).unwrap();
            ftl.write(0, &pattern(0, 9, 512)).unwrap();
            drop(ftl);
            let mut ftl = Vol::<A>::mount(&mut f, cfg(lay)).unwrap();
            let mut b = vec![0u8; 512];
            ftl.read(0, &mut b).unwrap();
            assert_eq!(b, pattern(0, 9, 512));
            ftl.read(1, &mut b).unwrap();
            assert!(
                b.iter().all(|&x| x == 0),
                "{name} format cut {i}: old data after reformat"
            );
        }
    }
}

// The same contract tests on both APIs (docs/DESIGN.md contracts 2-4).

#[test]
fn cut_at_every_operation_of_a_gc_and_wl_workload() {
    cut_at_every_operation_of_a_gc_and_wl_workload_on::<Blocking>(&EIGHT_UNITS);
}

#[test]
fn async_cut_at_every_operation_of_a_gc_and_wl_workload() {
    cut_at_every_operation_of_a_gc_and_wl_workload_on::<Async>(&EIGHT_UNITS);
}

#[test]
fn cut_at_every_operation_of_the_first_write_after_a_cut() {
    cut_at_every_operation_of_the_first_write_after_a_cut_on::<Blocking>(&EIGHT_UNITS);
}

#[test]
fn async_cut_at_every_operation_of_the_first_write_after_a_cut() {
    cut_at_every_operation_of_the_first_write_after_a_cut_on::<Async>(&EIGHT_UNITS);
}

#[test]
fn cut_at_every_operation_of_format() {
    cut_at_every_operation_of_format_on::<Blocking>(&EIGHT_UNITS);
}

#[test]
fn async_cut_at_every_operation_of_format() {
    cut_at_every_operation_of_format_on::<Async>(&EIGHT_UNITS);
}

// On three frontiers (the cold one, and rewrites of cold blocks routed to it).

#[test]
fn cut_at_every_operation_of_a_workload_on_three_frontiers() {
    cut_at_every_operation_of_a_gc_and_wl_workload_on::<Blocking>(&THREE_FRONTIERS);
}

#[test]
fn cut_at_every_operation_of_the_first_write_after_a_cut_on_three_frontiers() {
    cut_at_every_operation_of_the_first_write_after_a_cut_on::<Blocking>(&THREE_FRONTIERS);
}
