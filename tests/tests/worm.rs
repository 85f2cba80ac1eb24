//! Write-once (WORM/OTP) media: no erase is ever issued, writes go on until a clear
//! `NoSpace`, and everything acknowledged reads back after remount. Plus the RAM formula.

use cowftl::{Config, Error, Ftl};
use cowftl_sim::{presets, WormFlash};
use cowftl_testkit::{pattern, Model};

#[test]
fn worm_writes_until_no_space_without_erasing() {
    let cap = 64 * 1024;
    let mut flash = WormFlash::new(presets::worm(cap), 9);
    let cfg = Config {
        no_erase: true,
        ..Config::new(0, cap as u32)
    };
    let mut ftl = Ftl::<_, 64, 1024>::format(&mut flash, cfg).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut model = Model::default();
    let mut acked = 0u32;
    let mut i = 0u64;
    let err = loop {
        let l = (i * 13 % n as u64) as u32;
        let r = if i % 11 == 5 {
            ftl.trim(l).map(|_| model.trim(l))
        } else {
            // Generation i + 1: 0 would be zeros, indistinguishable from an unwritten block.
            ftl.write(l, &pattern(l, i + 1, bs))
                .map(|_| model.write(l, i + 1))
        };
        if let Err(e) = r {
            break e;
        }
        acked += 1;
        i += 1;
        if i.is_multiple_of(50) {
            drop(ftl);
            ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
        }
        assert!(i < 10_000, "never ran out of space");
    };
    assert_eq!(err, Error::NoSpace);
    // Reads still work on the full volume, and after remount.
    drop(ftl);
    let mut ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
    let mut buf = vec![0u8; bs];
    for l in 0..n {
        ftl.read(l, &mut buf).unwrap();
        assert!(buf == model.expected(l, bs), "lba {l}");
    }
    assert_eq!(ftl.write(0, &pattern(0, 1, bs)), Err(Error::NoSpace));
    drop(ftl);
    assert_eq!(
        flash.stats().erase_ops,
        0,
        "an erase was issued on write-once media"
    );
    assert!(
        acked as u64 * bs as u64 > cap as u64 * 8 / 10,
        "only {acked} writes fit"
    );
    assert!(flash.violations().is_empty());
}

#[test]
fn ram_is_the_documented_function_of_the_geometry() {
    // map: 4 bytes per block; per unit 16 bytes of unit table and 4 of retire table; plus a
    // fixed part (geometry, config, counters, the 144-byte volume table) independent of the
    // capacities.
    type Small = Ftl<WormFlash, 16, 256>;
    type Big = Ftl<WormFlash, 64, 4096>;
    let fixed = core::mem::size_of::<Small>() - 4 * 256 - 20 * 16;
    assert_eq!(core::mem::size_of::<Big>(), fixed + 4 * 4096 + 20 * 64);
    // Snapshots (the fourth parameter): one more map each (4 bytes per block plus its
    // length and slot count, 16 bytes on x86-64).
    type Snaps = Ftl<WormFlash, 16, 256, 4>;
    assert_eq!(
        core::mem::size_of::<Snaps>(),
        core::mem::size_of::<Small>() + 4 * (4 * 256 + 16)
    );
    assert_eq!(core::mem::size_of::<cowftl::UnitInfo>(), 16);
    let flash_part = core::mem::size_of::<WormFlash>();
    println!("fixed part without the flash: {} bytes", fixed - flash_part);
    assert!(
        fixed - flash_part <= 480,
        "fixed state grew to {} bytes",
        fixed - flash_part
    );
}

/// Transactions and reverts work on write-once media too (they are records; docs/DESIGN.md,
/// "Transactions", "Overlay"): all of a transaction or none after a cut, revert_all in one
/// record, and still no erase.
#[test]
fn worm_transactions_and_reverts_without_erasing() {
    let cap = 64 * 1024;
    let cfg = Config {
        no_erase: true,
        ..Config::new(0, cap as u32)
    };
    let mut flash = WormFlash::new(presets::worm(cap), 10);
    Ftl::<_, 64, 1024>::format(&mut flash, cfg).unwrap();
    let bs = 512;
    let data: Vec<Vec<u8>> = (0..4).map(|l| pattern(l, 7, bs)).collect();
    // A transaction cut half-way through its flash operations: all old after a remount.
    let mut dry = flash.clone();
    let start = dry.ops();
    {
        let mut ftl = Ftl::<_, 64, 1024>::mount(&mut dry, cfg).unwrap();
        let mut tx = ftl.transaction();
        for (l, d) in data.iter().enumerate() {
            tx.write(l as u32, d).unwrap();
        }
        tx.commit().unwrap();
    }
    let ops = dry.ops() - start;
    flash.cut_after_ops(ops / 2);
    {
        let mut ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
        let mut tx = ftl.transaction();
        for (l, d) in data.iter().enumerate() {
            tx.write(l as u32, d).unwrap();
        }
        assert!(tx.commit().is_err());
    }
    flash.power_restore();
    let mut ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
    let mut buf = vec![0u8; bs];
    for l in 0..4 {
        ftl.read(l, &mut buf).unwrap();
        assert!(
            buf.iter().all(|&b| b == 0),
            "block {l} changed by a cut transaction"
        );
    }
    // Uncut: all new; then revert_all: all zeros, one record.
    let mut tx = ftl.transaction();
    for (l, d) in data.iter().enumerate() {
        tx.write(l as u32, d).unwrap();
    }
    tx.commit().unwrap();
    ftl.revert(2).unwrap();
    ftl.revert_all().unwrap();
    drop(ftl);
    let mut ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
    for l in 0..4 {
        ftl.read(l, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0), "block {l} after revert_all");
    }
    ftl.check_invariants().unwrap();
    drop(ftl);
    assert_eq!(flash.stats().erase_ops, 0);
    assert!(flash.violations().is_empty());
}
