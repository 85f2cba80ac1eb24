//! A volume over a read-only base image (docs/DESIGN.md, "Overlay", contract 11): blocks never
//! written or reverted read the base; writes and trims go copy-on-write into the volume;
//! `revert` and `factory_reset` are one record each, atomic under power cuts; the base is
//! never written (the simulator refuses any program or erase in its region).
//!
//! The base is a region of the same simulated chip as the volume, marked read-only, as a
//! factory image in another part of internal flash would be.

use cowftl::overlay::Overlay;
use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimError, SimFlash, SplitMix64};
use cowftl_testkit::{fill_pattern, pattern};
use proptest::prelude::*;

mod support;
use support::Shared;

type Chip = SimFlash<1, 8, 2048>;
type Handle = Shared<1, 8, 2048>;
type Vol = Overlay<Handle, Handle, 16, 256>;
type Err = Error<SimError>;

const VOLUME: u32 = 8 * 4096;
/// The base image starts right after the volume's region.
const BASE: u32 = VOLUME;
const BS: usize = 512;

fn spec() -> PartSpec {
    PartSpec::custom("overlay-test", 2 * VOLUME as usize, 1, 8, 2048)
}

/// 8 units of 7 slots, transactions of up to 6, one slot for the reset/table record: 42 blocks.
fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        ..Config::new(0, VOLUME)
    }
}

/// Generation of the base image's contents of each block (never 0: never zeros).
fn base_gen(lba: u32) -> u64 {
    1_000_000 + u64::from(lba)
}

/// A chip with the base image written, the base region read-only, the volume formatted.
fn chip(seed: u64) -> Chip {
    let mut c = Chip::new(spec(), seed);
    let mut b = vec![0u8; BS];
    for lba in 0..(VOLUME / BS as u32) {
        fill_pattern(lba, base_gen(lba), &mut b);
        embedded_storage::nor_flash::NorFlash::write(&mut c, BASE + lba * BS as u32, &b).unwrap();
    }
    c.set_read_only(BASE..2 * VOLUME);
    Ftl::<&mut Chip, 16, 256>::format(&mut c, cfg()).unwrap();
    c
}

fn open(h: &Handle) -> Result<Vol, Err> {
    let ftl = Ftl::mount(h.clone(), cfg())?;
    Ok(Overlay::new(ftl, h.clone(), BASE).expect("base fits"))
}

/// What a block must read: the base, zeros, or a written generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Base,
    Zeros,
    Gen(u64),
}

fn expected(lba: u32, w: Want) -> Vec<u8> {
    match w {
        Want::Base => pattern(lba, base_gen(lba), BS),
        Want::Zeros => vec![0; BS],
        Want::Gen(g) => pattern(lba, g, BS),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
    Revert(u32),
    FactoryReset,
    Remount,
}

fn apply(m: &mut [Want], op: &Op) {
    match *op {
        Op::Write(l, g) => m[l as usize] = Want::Gen(g),
        Op::Trim(l) => m[l as usize] = Want::Zeros,
        Op::Revert(l) => m[l as usize] = Want::Base,
        Op::FactoryReset => m.iter_mut().for_each(|w| *w = Want::Base),
        Op::Remount => {}
    }
}

fn exec(v: &mut Vol, op: &Op) -> Result<(), Err> {
    match *op {
        Op::Write(l, g) => v.write(l, &pattern(l, g, BS)),
        Op::Trim(l) => v.trim(l),
        Op::Revert(l) => v.revert(l),
        Op::FactoryReset => v.factory_reset(),
        Op::Remount => Ok(()),
    }
}

fn read_all(v: &mut Vol) -> Vec<Vec<u8>> {
    (0..v.ftl().block_count())
        .map(|l| {
            let mut b = vec![0u8; BS];
            v.read(l, &mut b)
                .unwrap_or_else(|e| panic!("read {l}: {e:?}"));
            b
        })
        .collect()
}

fn state(m: &[Want]) -> Vec<Vec<u8>> {
    m.iter()
        .enumerate()
        .map(|(l, &w)| expected(l as u32, w))
        .collect()
}

const BLOCKS: u32 = 42;

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..BLOCKS, 1u64..100_000).prop_map(|(l, g)| Op::Write(l, g)),
        1 => (0..BLOCKS).prop_map(Op::Trim),
        2 => (0..BLOCKS).prop_map(Op::Revert),
        1 => Just(Op::FactoryReset),
        1 => Just(Op::Remount),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Model-based: any sequence of writes, trims, reverts, factory resets and remounts reads
    /// back as the model says (base, zeros or the last write), invariants after every step.
    #[test]
    fn overlay_matches_the_model(ops in prop::collection::vec(op_strategy(), 1..150)) {
        let h = Handle::new(chip(1));
        let mut v = open(&h).unwrap();
        prop_assert_eq!(v.ftl().block_count(), BLOCKS);
        let mut m = vec![Want::Base; BLOCKS as usize];
        for op in &ops {
            if let Op::Remount = op {
                drop(v);
                v = open(&h).unwrap();
            }
            exec(&mut v, op).unwrap();
            apply(&mut m, op);
            v.ftl().check_invariants().unwrap();
        }
        prop_assert!(read_all(&mut v) == state(&m));
        drop(v);
        let mut v = open(&h).unwrap();
        prop_assert!(read_all(&mut v) == state(&m));
        prop_assert!(h.with(|c| c.violations().is_empty()));
    }
}

/// Writes over a hot set (GC runs), with trims, reverts and a factory reset now and then.
fn workload(len: usize, seed: u64) -> Vec<Op> {
    let mut rng = SplitMix64::new(seed);
    (0..len as u64)
        .map(|i| {
            let r = rng.next_u64();
            let l = (r >> 8) as u32 % if r.is_multiple_of(3) { BLOCKS } else { 10 };
            match r % 40 {
                0 => Op::FactoryReset,
                1..=4 => Op::Revert(l),
                5..=7 => Op::Trim(l),
                _ => Op::Write(l, i + 1),
            }
        })
        .collect()
}

fn run_until_cut(h: &Handle, ops: &[Op]) -> (usize, bool) {
    let mut v = open(h).expect("mount");
    for (i, op) in ops.iter().enumerate() {
        match exec(&mut v, op) {
            Ok(()) => {}
            Err(Error::Flash(SimError::PowerLost)) => return (i, true),
            Err(e) => panic!("op {i} {op:?}: {e:?}"),
        }
    }
    (ops.len(), false)
}

/// Old or new state for op `acked`, the same on a second mount; returns the state shown.
fn check_old_or_new(h: &Handle, before: &[Want], op: &Op, what: &str) -> Vec<Want> {
    h.with(|c| c.power_restore());
    let mut after = before.to_vec();
    apply(&mut after, op);
    let mut v = open(h).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    if let Err(e) = v.ftl().check_invariants() {
        for u in v.ftl().units() {
            eprintln!("{u:?}");
        }
        panic!("{what} (op {op:?}): {e}");
    }
    let got = read_all(&mut v);
    let old = got == state(before);
    assert!(
        old || got == state(&after),
        "{what}: neither before nor after {op:?}"
    );
    drop(v);
    let mut again = open(h).unwrap();
    assert!(read_all(&mut again) == got, "{what}: second mount differs");
    if old {
        before.to_vec()
    } else {
        after
    }
}

#[test]
fn cut_at_every_operation_of_an_overlay_workload_then_again_in_recovery() {
    let base = chip(2);
    let ops = workload(260, 0x0BA5E);
    let dry = Handle::new(base.clone());
    let start = dry.with(|c| c.ops());
    assert_eq!(run_until_cut(&dry, &ops), (ops.len(), false));
    let total = dry.with(|c| c.ops()) - start;
    let session = Handle::new(base.clone());
    let mut v = open(&session).unwrap();
    ops.iter().for_each(|op| exec(&mut v, op).unwrap());
    let c = v.ftl().stats().counters;
    assert!(c.gc_victims > 5, "workload too gentle for GC: {c:?}");
    let mut rng = SplitMix64::new(5);
    let mut resets_cut = 0;
    for i in 0..total {
        let h = Handle::new(base.clone());
        h.with(|c| c.cut_after_ops(i));
        let (acked, cut) = run_until_cut(&h, &ops);
        assert!(cut, "cut {i} never fired");
        let mut before = vec![Want::Base; BLOCKS as usize];
        for op in &ops[..acked] {
            apply(&mut before, op);
        }
        resets_cut += matches!(ops[acked], Op::FactoryReset) as u32;
        let shown = check_old_or_new(&h, &before, &ops[acked], &format!("cut {i}"));
        // Recovery: retry the interrupted op and cut it again at a seeded offset.
        let probe = Handle::new(h.with(|c| c.clone()));
        let s = probe.with(|c| c.ops());
        exec(&mut open(&probe).unwrap(), &ops[acked]).unwrap();
        let retry_ops = probe.with(|c| c.ops()) - s;
        if retry_ops > 0 {
            let j = rng.next_u64() % retry_ops;
            h.with(|c| c.cut_after_ops(j));
            let r = exec(&mut open(&h).unwrap(), &ops[acked]);
            assert!(matches!(r, Err(Error::Flash(SimError::PowerLost))), "{r:?}");
            check_old_or_new(&h, &shown, &ops[acked], &format!("cut {i}, second cut {j}"));
        }
        assert!(h.with(|c| c.violations().is_empty()));
    }
    assert!(resets_cut > 0, "no cut landed in a factory reset");
}

#[test]
fn factory_reset_and_revert_cost_one_record_and_never_touch_the_base() {
    let h = Handle::new(chip(3));
    let base_before = h.with(|c| c.image()[BASE as usize..].to_vec());
    let mut v = open(&h).unwrap();
    for l in 0..BLOCKS {
        v.write(l, &pattern(l, 7, BS)).unwrap();
    }
    let record = u64::from(v.ftl().geometry().record_size);
    for (what, op) in [
        ("revert", Op::Revert(3)),
        ("factory reset", Op::FactoryReset),
    ] {
        let (p, e) = h.with(|c| (c.stats().bytes_programmed, c.stats().erase_ops));
        exec(&mut v, &op).unwrap();
        let (p2, e2) = h.with(|c| (c.stats().bytes_programmed, c.stats().erase_ops));
        // One record, plus the unit's seal if it filled the unit: no data, no erase.
        let seal = u64::from(v.ftl().geometry().seal_size);
        assert!(p2 - p <= record + seal, "{what}: {} bytes", p2 - p);
        assert_eq!(e2, e, "{what} erased");
    }
    for l in 0..BLOCKS {
        assert!(v.reads_base(l));
    }
    drop(v);
    let mut v = open(&h).unwrap();
    assert!(read_all(&mut v) == state(&vec![Want::Base; BLOCKS as usize]));
    // The base region was never changed (and any attempt would have failed).
    assert_eq!(h.with(|c| c.image()[BASE as usize..].to_vec()), base_before);
}

#[test]
fn a_base_too_small_or_misaligned_is_refused() {
    let h = Handle::new(chip(4));
    let ftl = Ftl::<Handle, 16, 256>::mount(h.clone(), cfg()).unwrap();
    let too_far = 2 * VOLUME - 1024;
    assert!(matches!(
        Overlay::new(ftl, h.clone(), too_far),
        Err(cowftl::overlay::BaseError::TooSmall { .. })
    ));
}
