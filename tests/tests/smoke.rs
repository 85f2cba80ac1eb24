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
