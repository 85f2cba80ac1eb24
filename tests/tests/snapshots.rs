//! Instant snapshots (docs/DESIGN.md, "Snapshots", contract 12).

use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimError, SimFlash, SplitMix64};
use cowftl_testkit::{pattern, Model};

type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 16, 256, 4>;
type Err = Error<SimError>;

const UNITS: usize = 8;
const BS: usize = 512;

fn spec() -> PartSpec {
    PartSpec::custom("snap-test", UNITS * 4096, 1, 8, 2048)
}

fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        ..Config::new(0, (UNITS * 4096) as u32)
    }
}

fn check(ftl: &mut Vol<'_>, m: &Model) {
    let mut b = vec![0u8; BS];
    for l in 0..ftl.block_count() {
        ftl.read(l, &mut b).unwrap();
        if b != m.expected(l, BS) {
            let g = (1..2000).find(|&g| b == pattern(l, g, BS));
            panic!("block {l}: want gen {} got {:?} map {:?}", m.gen(l), g, ftl.mapping(l));
        }
    }
}

fn check_snap(ftl: &mut Vol<'_>, id: cowftl::SnapshotId, m: &Model) {
    let mut b = vec![0u8; BS];
    for l in 0..ftl.block_count() {
        ftl.read_snapshot(id, l, &mut b).unwrap();
        assert!(b == m.expected(l, BS), "snapshot block {l}");
    }
}

#[test]
fn smoke() {
    let mut flash = Flash::new(spec(), 1);
    let mut v = Vol::format(&mut flash, cfg()).unwrap();
    let n = v.block_count();
    let mut m = Model::new(n);
    for l in 0..n / 2 {
        v.write(l, &pattern(l, 1, BS)).unwrap();
        m.write(l, 1);
    }
    let id = v.snapshot().unwrap();
    let at = m.clone();
    let mut rng = SplitMix64::new(5);
    let mut gen = 2;
    for _ in 0..300 {
        let l = (rng.next_u64() % (n as u64 / 2)) as u32;
        match v.write(l, &pattern(l, gen, BS)) {
            Ok(()) => m.write(l, gen),
            Err(Err::SnapshotFull) => break,
            Err(e) => panic!("{e:?}"),
        }
        gen += 1;
        v.check_invariants().unwrap();
    }
    check(&mut v, &m);
    check_snap(&mut v, id, &at);
    drop(v);
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    v.check_invariants().unwrap();
    check(&mut v, &m);
    check_snap(&mut v, id, &at);
    v.rollback(id).unwrap();
    check(&mut v, &at);
    drop(v);
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    check(&mut v, &at);
    check_snap(&mut v, id, &at);
    v.delete_snapshot(id).unwrap();
    for _ in 0..300 {
        let l = (rng.next_u64() % (n as u64)) as u32;
        v.write(l, &pattern(l, gen, BS)).unwrap();
        m = at.clone();
        gen += 1;
    }
    drop(v);
    let v = Vol::mount(&mut flash, cfg()).unwrap();
    v.check_invariants().unwrap();
    assert_eq!(v.snapshots().count(), 0);
}
