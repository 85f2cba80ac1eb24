//! Atomic multi-block transactions (docs/DESIGN.md, "Transactions", contract 10): after a
//! power cut at any instant of a commit, every block of the transaction reads old or every
//! one reads new, on every later mount; `Ok` means durable; dropping a transaction writes
//! nothing; a transaction costs no record beyond its blocks' own.
//!
//! - a model-based property test mixing transactions, single writes, trims and remounts;
//! - a workload of transactions (with GC running) cut at every one of its flash operations,
//!   then the interrupted transaction retried and cut again at a seeded offset (a second
//!   cut inside recovery: mount only reads, so recovery is the first write after it);
//! - the flash cost of a k-block transaction against k single writes.

use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimError, SimFlash, SplitMix64};
use cowftl_testkit::{pattern, Model};
use proptest::prelude::*;

type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 16, 256>;
type Err = Error<SimError>;

const UNITS: usize = 8;
const BS: usize = 512;

fn spec() -> PartSpec {
    PartSpec::custom("txn-test", UNITS * 4096, 1, 8, 2048)
}

/// 8 units of 7 slots, automatic reserve (1 unit for GC), transactions of up to 6 blocks
/// (a unit's slots minus one): (8 - 1) * 7 - 6 - 1 (the reset/table record) = 42 blocks.
fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        ..Config::new(0, (UNITS * 4096) as u32)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Write(u32, u64),
    Trim(u32),
    /// (block, Some(generation) = write, None = trim), committed as one.
    Txn(Vec<(u32, Option<u64>)>),
    Remount,
}

fn apply(m: &mut Model, op: &Op) {
    match op {
        Op::Write(l, g) => m.write(*l, *g),
        Op::Trim(l) => m.trim(*l),
        Op::Txn(parts) => {
            for &(l, g) in parts {
                match g {
                    Some(g) => m.write(l, g),
                    None => m.trim(l),
                }
            }
        }
        Op::Remount => {}
    }
}

fn exec(ftl: &mut Vol<'_>, op: &Op) -> Result<(), Err> {
    match op {
        Op::Write(l, g) => ftl.write(*l, &pattern(*l, *g, BS)),
        Op::Trim(l) => ftl.trim(*l),
        Op::Txn(parts) => {
            let data: Vec<Option<Vec<u8>>> = parts
                .iter()
                .map(|&(l, g)| g.map(|g| pattern(l, g, BS)))
                .collect();
            let mut tx = ftl.transaction();
            for (&(l, _), d) in parts.iter().zip(&data) {
                match d {
                    Some(d) => tx.write(l, d)?,
                    None => tx.trim(l)?,
                }
            }
            tx.commit()
        }
        Op::Remount => Ok(()),
    }
}

fn read_all(ftl: &mut Vol<'_>) -> Vec<Vec<u8>> {
    (0..ftl.block_count())
        .map(|l| {
            let mut b = vec![0u8; BS];
            ftl.read(l, &mut b)
                .unwrap_or_else(|e| panic!("read {l}: {e:?}"));
            b
        })
        .collect()
}

fn state_of(m: &Model, n: u32) -> Vec<Vec<u8>> {
    (0..n).map(|l| m.expected(l, BS)).collect()
}

fn formatted(seed: u64) -> Flash {
    let mut flash = Flash::new(spec(), seed);
    Vol::format(&mut flash, cfg()).unwrap();
    flash
}

/// Transactions of 2..=6 blocks over a hot set (so GC runs between and before them), with
/// a trim now and then, and single writes in between.
fn workload(n: u32, len: usize, seed: u64) -> Vec<Op> {
    let mut rng = SplitMix64::new(seed);
    let mut ops: Vec<Op> = (0..n).map(|l| Op::Write(l, 1)).collect();
    let mut gen = 2;
    while ops.len() < len {
        let r = rng.next_u64();
        if r.is_multiple_of(4) {
            ops.push(Op::Write((r >> 8) as u32 % n, gen));
            gen += 1;
            continue;
        }
        let k = 2 + (r >> 4) as usize % 5;
        let parts = (0..k)
            .map(|i| {
                let x = rng.next_u64();
                let l = (x >> 8) as u32 % 12;
                gen += 1;
                // Trims at most once per transaction, never first (so it has data to drop).
                (
                    l,
                    if i == 1 && x.is_multiple_of(5) {
                        None
                    } else {
                        Some(gen)
                    },
                )
            })
            .collect();
        ops.push(Op::Txn(parts));
    }
    ops
}

/// Run `ops` until the armed cut fires: (acknowledged count, whether a cut hit).
fn run_until_cut(flash: &mut Flash, ops: &[Op]) -> (usize, bool) {
    let mut ftl = Vol::mount(&mut *flash, cfg()).expect("mount");
    for (i, op) in ops.iter().enumerate() {
        match exec(&mut ftl, op) {
            Ok(()) => {}
            Err(Error::Flash(SimError::PowerLost)) => return (i, true),
            Err(e) => panic!("op {i} {op:?}: {e:?}"),
        }
    }
    (ops.len(), false)
}

/// Old or new state for the interrupted op, the same on a second mount; returns the model
/// the volume now matches.
fn check_old_or_new(flash: &mut Flash, ops: &[Op], acked: usize, what: &str) -> Model {
    flash.power_restore();
    let mut before = Model::default();
    for op in &ops[..acked] {
        apply(&mut before, op);
    }
    let mut after = before.clone();
    apply(&mut after, &ops[acked]);
    let mut ftl = Vol::mount(&mut *flash, cfg()).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    ftl.check_invariants().unwrap();
    let n = ftl.block_count();
    let got = read_all(&mut ftl);
    let old = got == state_of(&before, n);
    assert!(
        old || got == state_of(&after, n),
        "{what}: neither before nor after op {acked} ({:?})",
        ops[acked]
    );
    drop(ftl);
    let mut again = Vol::mount(&mut *flash, cfg()).unwrap();
    assert!(read_all(&mut again) == got, "{what}: second mount differs");
    if old {
        before
    } else {
        after
    }
}

#[test]
fn cut_at_every_operation_of_a_transaction_workload_then_again_in_recovery() {
    let base = formatted(21);
    let n = Vol::mount(&mut base.clone(), cfg()).unwrap().block_count();
    assert_eq!(n, 42, "geometry of this test changed");
    let ops = workload(n, 110, 0x7A11);
    let mut dry = base.clone();
    let start = dry.ops();
    let (acked, cut) = run_until_cut(&mut dry, &ops);
    assert!(!cut && acked == ops.len());
    let total = dry.ops() - start;
    let c = Vol::mount(&mut dry, cfg()).unwrap().stats().counters;
    println!("{total} flash ops");
    let _ = c;
    let mut rng = SplitMix64::new(99);
    let (mut txn_cuts, mut second_cuts) = (0, 0);
    for i in 0..total {
        let mut flash = base.clone();
        flash.cut_after_ops(i);
        let (acked, cut) = run_until_cut(&mut flash, &ops);
        assert!(cut, "cut {i} never fired");
        txn_cuts += matches!(ops[acked], Op::Txn(_)) as u32;
        let m = check_old_or_new(&mut flash, &ops, acked, &format!("cut {i}"));
        // Recovery: the interrupted op is retried after the mount and cut again.
        let mut probe = flash.clone();
        let s = probe.ops();
        let mut v = Vol::mount(&mut probe, cfg()).unwrap();
        if let Err(e) = exec(&mut v, &ops[acked]) {
            for u in v.units() {
                eprintln!("{u:?}");
            }
            panic!(
                "cut {i}: retry of op {acked} {:?}: {e:?} {:?}",
                ops[acked],
                v.stats()
            );
        }
        drop(v);
        let retry_ops = probe.ops() - s;
        if retry_ops > 0 {
            let j = rng.next_u64() % retry_ops;
            let mut f = flash.clone();
            f.cut_after_ops(j);
            let mut v = Vol::mount(&mut f, cfg()).unwrap();
            assert!(matches!(
                exec(&mut v, &ops[acked]),
                Err(Error::Flash(SimError::PowerLost))
            ));
            drop(v);
            // The state the first mount showed is the new "before".
            f.power_restore();
            let mut ftl = Vol::mount(&mut f, cfg()).unwrap();
            ftl.check_invariants().unwrap();
            let got = read_all(&mut ftl);
            let mut after = m.clone();
            apply(&mut after, &ops[acked]);
            assert!(
                got == state_of(&m, n) || got == state_of(&after, n),
                "cut {i}, second cut {j}: neither old nor new"
            );
            second_cuts += 1;
        }
    }
    assert!(
        txn_cuts > total as u32 / 2,
        "too few cuts inside transactions"
    );
    assert!(second_cuts > 0);
    assert!(base.violations().is_empty());
}

#[test]
fn a_transaction_costs_no_record_beyond_its_blocks() {
    for k in [1u32, 4, 6] {
        let mut single = formatted(5);
        let mut txn = single.clone();
        {
            let mut v = Vol::mount(&mut single, cfg()).unwrap();
            for l in 0..k {
                v.write(l, &pattern(l, 1, BS)).unwrap();
            }
        }
        let data: Vec<Vec<u8>> = (0..k).map(|l| pattern(l, 1, BS)).collect();
        {
            let mut v = Vol::mount(&mut txn, cfg()).unwrap();
            let mut tx = v.transaction();
            for (l, d) in data.iter().enumerate() {
                tx.write(l as u32, d).unwrap();
            }
            tx.commit().unwrap();
        }
        assert_eq!(
            single.stats().bytes_programmed,
            txn.stats().bytes_programmed,
            "k = {k}"
        );
    }
}

#[test]
fn dropping_a_transaction_writes_nothing_and_limits_are_errors() {
    let mut flash = formatted(6);
    let before = flash.stats().clone();
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    let max = v.max_transaction_blocks();
    assert_eq!(max, 6);
    let d = pattern(1, 1, BS);
    {
        let mut tx = v.transaction();
        for l in 0..max {
            tx.write(l, &d).unwrap();
        }
        assert!(matches!(tx.write(max, &d), Err(Error::TransactionFull)));
        assert!(matches!(tx.trim(99), Err(Error::OutOfRange)));
        assert!(matches!(tx.write(0, &d[..10]), Err(Error::BufferSize)));
        assert_eq!(tx.len(), max as usize);
    }
    let mut b = vec![0u8; BS];
    v.read(0, &mut b).unwrap();
    assert_eq!(b, vec![0u8; BS], "a dropped transaction changed a block");
    drop(v);
    assert_eq!(flash.stats().program_ops, before.program_ops);
    assert_eq!(flash.stats().erase_ops, before.erase_ops);
    // Too large a configuration is refused with a clear error.
    let big = Config {
        max_transaction_blocks: 17,
        ..cfg()
    };
    assert!(matches!(
        Vol::mount(&mut flash, big),
        Err(Error::Config(cowftl::ConfigError::TransactionTooLarge))
    ));
}

#[test]
fn a_full_volume_still_commits_its_largest_transaction() {
    // docs/DESIGN.md, "Space invariant": the capacity keeps a transaction's worth of slack.
    let mut flash = formatted(7);
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    let n = v.block_count();
    let max = v.max_transaction_blocks();
    let mut m = Model::default();
    for l in 0..n {
        v.write(l, &pattern(l, 1, BS)).unwrap();
        m.write(l, 1);
    }
    let mut rng = SplitMix64::new(3);
    for round in 0..200u64 {
        let first = (rng.next_u64() % u64::from(n - max)) as u32;
        let data: Vec<Vec<u8>> = (0..max)
            .map(|i| pattern(first + i, round + 2, BS))
            .collect();
        let mut tx = v.transaction();
        for (i, d) in data.iter().enumerate() {
            tx.write(first + i as u32, d).unwrap();
        }
        tx.commit()
            .unwrap_or_else(|e| panic!("round {round}: full volume refused a transaction: {e:?}"));
        for i in 0..max {
            m.write(first + i, round + 2);
        }
        v.check_invariants().unwrap();
        let got = read_all(&mut v);
        for l in 0..n {
            assert!(
                got[l as usize] == m.expected(l, BS),
                "round {round}, block {l}, before remount: {} want {}",
                cowftl_testkit::pattern::describe(&got[l as usize], l),
                m.gen(l)
            );
        }
        let mut f2: Flash = (**v.flash()).clone();
        let mut w = Vol::mount(&mut f2, cfg()).unwrap();
        let got = read_all(&mut w);
        for l in 0..n {
            assert!(
                got[l as usize] == m.expected(l, BS),
                "round {round}, block {l}, after remount: {}",
                cowftl_testkit::pattern::describe(&got[l as usize], l)
            );
        }
    }
    drop(v);
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    let got = read_all(&mut v);
    for l in 0..n {
        let d = &got[l as usize];
        assert!(
            *d == m.expected(l, BS),
            "block {l}: {} (expected generation {})",
            cowftl_testkit::pattern::describe(d, l),
            m.gen(l)
        );
    }
}

fn op_strategy(n: u32) -> impl Strategy<Value = Op> {
    let part = (0..n, prop::option::weighted(0.85, 1u64..1_000_000));
    prop_oneof![
        3 => (0..n, 1u64..1_000_000).prop_map(|(l, g)| Op::Write(l, g)),
        1 => (0..n).prop_map(Op::Trim),
        4 => prop::collection::vec(part, 1..=6).prop_map(Op::Txn),
        1 => Just(Op::Remount),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Model-based: any sequence of transactions, writes, trims and remounts reads back as
    /// the model says, and the invariants hold after every step.
    #[test]
    fn transactions_match_the_model(ops in prop::collection::vec(op_strategy(42), 1..120)) {
        let mut flash = formatted(8);
        let mut m = Model::default();
        let mut v = Vol::mount(&mut flash, cfg()).unwrap();
        for op in &ops {
            if let Op::Remount = op {
                drop(v);
                v = Vol::mount(&mut flash, cfg()).unwrap();
            }
            exec(&mut v, op).unwrap();
            apply(&mut m, op);
            v.check_invariants().unwrap();
        }
        prop_assert!(read_all(&mut v) == state_of(&m, v.block_count()));
        drop(v);
        let mut v = Vol::mount(&mut flash, cfg()).unwrap();
        prop_assert!(read_all(&mut v) == state_of(&m, v.block_count()));
    }
}

/// Write every block, then commit `rounds` transactions of the largest size over random
/// ranges: each must commit, keep the invariants, and leave every block as the model says.
fn full_volume_commits_largest_transactions(v: &mut Vol<'_>, rounds: u64, seed: u64) {
    let (n, max) = (v.block_count(), v.max_transaction_blocks());
    let mut m = Model::default();
    for l in 0..n {
        v.write(l, &pattern(l, 1, BS)).unwrap();
        m.write(l, 1);
    }
    let mut rng = SplitMix64::new(seed);
    for round in 0..rounds {
        let first = (rng.next_u64() % u64::from(n - max + 1)) as u32;
        let data: Vec<Vec<u8>> = (0..max)
            .map(|i| pattern(first + i, round + 2, BS))
            .collect();
        let mut tx = v.transaction();
        for (i, d) in data.iter().enumerate() {
            tx.write(first + i as u32, d).unwrap();
        }
        tx.commit()
            .unwrap_or_else(|e| panic!("round {round}: full volume refused a transaction: {e:?}"));
        for i in 0..max {
            m.write(first + i, round + 2);
        }
        v.check_invariants().unwrap();
    }
    assert!(
        read_all(v) == state_of(&m, n),
        "contents after the transactions"
    );
}

/// The same with the volume's reset record live (a regression: before the capacity kept a
/// slot for it, a full volume refused the first transaction with `NoSpace`).
#[test]
fn a_full_volume_with_a_reset_record_still_commits_its_largest_transaction() {
    let mut flash = formatted(7);
    let mut v = Vol::mount(&mut flash, cfg()).unwrap();
    v.revert_all().unwrap();
    full_volume_commits_largest_transactions(&mut v, 300, 3);
}

/// Single-stream volumes (fewer than 4 units, the F411 layout) too: 3 units of 7 slots, 7
/// blocks, transactions of 6 (all in the one frontier GC also copies into).
#[test]
fn a_full_single_stream_volume_still_commits_its_largest_transaction() {
    let spec = PartSpec::custom("txn-3", 3 * 4096, 1, 8, 2048);
    let cfg = Config {
        unit_size: Some(4096),
        ..Config::new(0, 3 * 4096)
    };
    let mut flash = Flash::new(spec, 8);
    let mut v = Vol::format(&mut flash, cfg).unwrap();
    assert!(v.geometry().single_stream);
    assert_eq!((v.block_count(), v.max_transaction_blocks()), (7, 6));
    full_volume_commits_largest_transactions(&mut v, 100, 9);
}
