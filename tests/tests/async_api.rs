//! The async API (`cowftl::asynch`) against the blocking one. The contract suite itself runs
//! on both APIs where it lives: `model.rs` (every case on both), `power_cut.rs`
//! (`async_cut_at_every_operation_*`), `torture.rs` (`async_random_power_cuts_random_parts`),
//! all through `cowftl_testkit::api`. Here: the two APIs are one implementation (the same
//! workload leaves the same flash image, op for op), a volume written by one mounts with the
//! other, and the async calls that the contract tests do not reach (snapshots, revert) work
//! when awaited.

use cowftl::{asynch, Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::api::{Api, Async, Blocking, Volume};
use cowftl_testkit::{pattern, Model};
use embassy_futures::block_on;

type Flash = SimFlash<1, 8, 2048>;

fn spec() -> PartSpec {
    PartSpec::custom("async-test", 8 * 4096, 1, 8, 2048)
}

fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        reserve_units: 4,
        static_wl_threshold: 1,
        ..Config::new(0, 8 * 4096)
    }
}

/// A seeded workload of writes, trims, transactions, snapshots, rollbacks and remounts;
/// returns the flash and the number of flash operations it took.
fn workload<A: Api>(seed: u64) -> (Flash, u64) {
    let mut flash = Flash::new(spec(), seed);
    let start = flash.ops();
    let mut ftl = A::Vol::<_, 16, 256, 2>::format(&mut flash, cfg()).unwrap();
    let (n, bs) = (ftl.block_count(), ftl.block_size() as usize);
    let mut rng = SplitMix64::new(seed);
    let mut model = Model::new(n);
    let mut buf = vec![0u8; bs];
    for i in 0..600u64 {
        let r = rng.next_u64();
        // The first half of the volume: a snapshot needs room for what only it holds.
        let half = n / 2;
        let lba = (r >> 8) as u32 % half;
        match r % 16 {
            0 => {
                ftl.trim(lba).unwrap();
                model.trim(lba);
            }
            1 => {
                let (a, b) = (pattern(lba, i, bs), pattern((lba + 1) % half, i, bs));
                ftl.commit(&[(lba, Some(&a)), ((lba + 1) % half, Some(&b))])
                    .unwrap();
                model.write(lba, i);
                model.write((lba + 1) % half, i);
            }
            2 if i % 5 == 0 => {
                // Snapshot, change, read the snapshot, roll back, delete.
                let id = ftl.snapshot().unwrap();
                ftl.write(lba, &pattern(lba, i, bs)).unwrap();
                ftl.read_snapshot(id, lba, &mut buf).unwrap();
                assert!(buf == model.expected(lba, bs), "snapshot view of {lba}");
                ftl.rollback(id).unwrap();
                ftl.delete_snapshot(id).unwrap();
            }
            3 => {
                let flash = ftl.release();
                ftl = A::Vol::<_, 16, 256, 2>::mount(flash, cfg()).unwrap();
            }
            _ => {
                ftl.write(lba, &pattern(lba, i, bs)).unwrap();
                model.write(lba, i);
            }
        }
        ftl.check_invariants().unwrap();
    }
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert!(buf == model.expected(lba, bs), "{}: lba {lba}", A::NAME);
    }
    ftl.revert_all().unwrap();
    ftl.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    drop(ftl);
    let ops = flash.ops() - start;
    (flash, ops)
}

#[test]
fn both_apis_leave_the_same_image_op_for_op() {
    for seed in [1, 2, 3] {
        let (b, b_ops) = workload::<Blocking>(seed);
        let (a, a_ops) = workload::<Async>(seed);
        assert_eq!(b_ops, a_ops, "seed {seed}: flash operation counts differ");
        assert!(b.image() == a.image(), "seed {seed}: images differ");
        assert!(a.violations().is_empty());
    }
}

#[test]
fn a_volume_written_by_one_api_mounts_with_the_other() {
    let mut flash = Flash::new(spec(), 9);
    let bs = 512;
    let (a, b) = (pattern(3, 2, bs), pattern(4, 2, bs));
    block_on(async {
        let mut ftl: asynch::Ftl<_, 16, 256> = asynch::Ftl::mount_or_format(&mut flash, cfg())
            .await
            .unwrap();
        for l in 0..10 {
            ftl.write(l, &pattern(l, 1, bs)).await.unwrap();
        }
        let mut tx = ftl.transaction();
        tx.write(3, &a).unwrap();
        tx.write(4, &b).unwrap();
        tx.trim(5).unwrap();
        tx.commit().await.unwrap();
        ftl.revert(6).await.unwrap();
    });
    let mut ftl: Ftl<_, 16, 256> = Ftl::mount(&mut flash, cfg()).unwrap();
    let mut buf = vec![0u8; bs];
    for (l, g) in [(0, 1), (3, 2), (4, 2), (5, 0), (6, 0), (9, 1)] {
        ftl.read(l, &mut buf).unwrap();
        assert!(buf == pattern(l, g, bs), "lba {l}");
    }
    ftl.write(7, &pattern(7, 3, bs)).unwrap();
    drop(ftl);
    block_on(async {
        let mut ftl: asynch::Ftl<_, 16, 256> = asynch::Ftl::mount(&mut flash, cfg()).await.unwrap();
        ftl.read(7, &mut buf).await.unwrap();
        assert!(buf == pattern(7, 3, bs));
        // Errors are the same type on both APIs.
        assert!(matches!(
            ftl.read(10_000, &mut buf).await,
            Err(Error::OutOfRange)
        ));
        assert!(matches!(ftl.snapshot().await, Err(Error::SnapshotLimit)));
    });
}
