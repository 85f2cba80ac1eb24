use cowftl::{Config, Ftl};
use cowftl_sim::{presets, Stm32L476Flash};
use cowftl_testkit::{pattern, Model};

type L476Ftl<'a> = Ftl<&'a mut Stm32L476Flash, 64, 2048>;

#[test]
fn write_read_remount_with_gc() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(64 * 1024), 1);
    let cfg = Config {
        unit_size: Some(4096),
        ..Config::new(0, 64 * 1024)
    };
    let mut model = Model::default();
    let mut ftl = L476Ftl::format(&mut flash, cfg).unwrap();
    let n = ftl.block_count();
    let bs = ftl.block_size() as usize;
    let mut buf = vec![0u8; bs];
    for i in 0..(n as u64 * 20) {
        let lba = ((i * 7919) % n as u64) as u32;
        if i % 13 == 0 {
            ftl.trim(lba).unwrap();
            model.trim(lba);
        } else {
            ftl.write(lba, &pattern(lba, i, bs)).unwrap();
            model.write(lba, i);
        }
        if i % 97 == 0 {
            drop(ftl);
            ftl = L476Ftl::mount(&mut flash, cfg).unwrap();
        }
    }
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, model.expected(lba, bs), "lba {lba}");
    }
    let s = ftl.stats();
    assert_eq!(
        ftl.counters(),
        s.counters,
        "counters() is what stats() carries"
    );
    assert!(
        s.counters.gc_victims > 0,
        "{s:?} {:?}",
        ftl.units().collect::<Vec<_>>()
    );
    drop(ftl);
    let mut ftl = L476Ftl::mount(&mut flash, cfg).unwrap();
    for lba in 0..n {
        ftl.read(lba, &mut buf).unwrap();
        assert_eq!(buf, model.expected(lba, bs), "lba {lba} after remount");
    }
    println!("{:?}", ftl.stats());
}

/// Zero page (issue: copy-on-write features): never-written and trimmed blocks read as zeros
/// without touching the flash, before and after a remount.
#[test]
fn unwritten_and_trimmed_blocks_read_zeros_without_flash_reads() {
    let mut flash = Stm32L476Flash::new(presets::stm32l476(64 * 1024), 2);
    let cfg = Config::new(0, 64 * 1024);
    let mut ftl = L476Ftl::format(&mut flash, cfg).unwrap();
    let bs = ftl.block_size() as usize;
    for lba in 0..8 {
        ftl.write(lba, &pattern(lba, 1, bs)).unwrap();
    }
    ftl.trim(3).unwrap();
    for remount in [false, true] {
        if remount {
            drop(ftl);
            ftl = L476Ftl::mount(&mut flash, cfg).unwrap();
        }
        for lba in [3, 8, 9, ftl.block_count() - 1] {
            let mut buf = vec![0xA5u8; bs];
            let before = ftl.flash().stats().bytes_read;
            ftl.read(lba, &mut buf).unwrap();
            assert_eq!(
                ftl.flash().stats().bytes_read,
                before,
                "lba {lba} touched flash"
            );
            assert!(buf.iter().all(|&b| b == 0), "lba {lba} not zeros");
        }
        let mut buf = vec![0u8; bs];
        let before = ftl.flash().stats().bytes_read;
        ftl.read(2, &mut buf).unwrap();
        assert!(
            ftl.flash().stats().bytes_read > before,
            "a mapped block must be read"
        );
        assert_eq!(buf, pattern(2, 1, bs));
    }
}
