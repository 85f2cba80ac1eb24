//! FAT on NOR through the FTL, with real filesystem code on both sides:
//! - the volume (MBR + FAT16, 512-byte clusters) is formatted by the `fatfs` crate through a
//!   `std::io` adapter over [`FtlStorage`] on the simulated flash;
//! - embedded-sdmmc 0.10 then creates, writes, appends, reads, lists and deletes files through
//!   [`FtlBlockDevice`];
//! - `fatfs` reads the result back after a remount of the FTL.
//!
//! With power cuts: every file closed before the cut reads back intact after the remount, and
//! the volume mounts (with embedded-sdmmc and with fatfs).
//!
//! Each test runs three times: FAT16 on 4 MiB with the block map in RAM, FAT16 on the whole
//! 16 MiB W25Q128 with the map on flash (`OnFlash`, issue 14: bounded RAM), and FAT32 with the
//! map on flash on a 64 MiB part of the same geometry. FAT32 needs at least 65 525 clusters
//! (the FAT type is fixed by the cluster count), more than 16 MiB of 512-byte sectors has.
//!
//! The volume is formatted as FAT16 or FAT32 (`FAT`); both `fatfs` and embedded-sdmmc then
//! read it as that type.

mod support;

/// The RAM map on 4 MiB of W25Q128-geometry SPI NOR.
mod ram_map {
    type Map = cowftl::RamMap;
    const U: usize = 256;
    const B: usize = 8192;
    const FAT: fatfs::FatType = fatfs::FatType::Fat16;
    /// 4 MiB, with one program per word enforced (never in place).
    const FLASH: usize = 4 * 1024 * 1024;
    include!("fat/body.rs");

    #[test]
    fn block_sizes_other_than_512_work_and_are_checked() {
        // FTL blocks smaller and larger than a sector all carry 512-byte sectors.
        for bs in [256u32, 1024, 2048] {
            let flash = Shared::new(W25q128Flash::new(spec(), 9));
            let cfg = Config {
                block_size: bs,
                ..Config::new(0, 1024 * 1024)
            };
            let ftl = Ftl::<Flash, 64, 4096>::format(flash.clone(), cfg).unwrap();
            let dev = FtlBlockDevice::<Flash, 64, 4096, 2048>::new(ftl).unwrap();
            use embedded_sdmmc::{Block, BlockDevice, BlockIdx};
            let n = dev.num_blocks().unwrap().0;
            assert!(n > 100);
            let mut blocks: Vec<Block> = (0..7)
                .map(|i| {
                    let mut b = Block::new();
                    b.contents.copy_from_slice(&blob(512, i + bs));
                    b
                })
                .collect();
            // Unaligned start (sector 3) so a 2048-byte block is covered partially at both ends.
            let w0 = dev.with_ftl(|f| f.stats().counters.host_writes);
            dev.write(&blocks, BlockIdx(3)).unwrap();
            let writes = dev.with_ftl(|f| f.stats().counters.host_writes) - w0;
            // Sectors 3..10: 7 * 512 / bs FTL blocks below 512, else the FTL blocks holding
            // bytes 1536..5120 (0, 1, 2 at 2048; 1..=4 at 1024), each written once.
            let expect = if bs < 512 {
                7 * 512 / bs
            } else {
                5119 / bs - 1536 / bs + 1
            };
            assert_eq!(
                writes,
                u64::from(expect),
                "bs {bs}: each FTL block written once"
            );
            let mut back = vec![Block::new(); 9];
            dev.read(&mut back, BlockIdx(2)).unwrap();
            assert!(back[0].contents.iter().all(|&x| x == 0));
            for i in 0..7 {
                assert_eq!(
                    back[i + 1].contents,
                    blocks[i].contents,
                    "bs {bs} sector {}",
                    i + 3
                );
            }
            assert!(back[8].contents.iter().all(|&x| x == 0));
            // Out of range is an error, not a panic.
            assert!(dev.write(&blocks[..2], BlockIdx(n - 1)).is_err());
            assert!(dev.read(&mut blocks[..1], BlockIdx(n)).is_err());
        }
        // A buffer smaller than the FTL block is rejected.
        let flash = Shared::new(W25q128Flash::new(spec(), 9));
        let cfg = Config {
            block_size: 2048,
            ..Config::new(0, 1024 * 1024)
        };
        let ftl = Ftl::<Flash, 64, 4096>::format(flash.clone(), cfg).unwrap();
        let r = FtlBlockDevice::<Flash, 64, 4096>::new(ftl).unwrap_err();
        assert_eq!(
            r,
            cowftl::storage::AdapterError::BufferTooSmall {
                block_size: 2048,
                buffer: 512
            }
        );
    }
}

/// The map on flash on the whole 16 MiB part, in 14 KiB of RAM.
mod flash_map {
    type Map = cowftl::flashmap::mode::OnFlash<245, 620, 18, 180>;
    const U: usize = 256;
    const B: usize = 0;
    const FAT: fatfs::FatType = fatfs::FatType::Fat16;
    /// 16 MiB, with one program per word enforced (never in place).
    const FLASH: usize = 16 * 1024 * 1024;
    include!("fat/body.rs");
}

/// FAT32 with the map on flash: 64 MiB (W25Q512-sized, W25Q128 geometry), 1 024 units of
/// 64 KiB.
mod flash_map_fat32 {
    type Map = cowftl::flashmap::mode::OnFlash<900, 620, 18, 180>;
    const U: usize = 1024;
    const B: usize = 0;
    const FAT: fatfs::FatType = fatfs::FatType::Fat32;
    /// 64 MiB, with one program per word enforced (never in place).
    const FLASH: usize = 64 * 1024 * 1024;
    include!("fat/body.rs");
}
