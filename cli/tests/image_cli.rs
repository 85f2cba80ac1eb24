//! `cowftl image` -> `cowftl inspect` round trip, and the produced image mounted with the
//! library: the files copied from a host directory read back through embedded-sdmmc.

use std::path::{Path, PathBuf};
use std::process::Command;

use cowftl::blockdev::FtlBlockDevice;
use cowftl::map::Mapping;
use cowftl::{Config, Ftl};
use cowftl_sim::{presets, Stm32L476Flash, W25q128Flash};
use cowftl_testkit::pattern;
use embedded_sdmmc::{Mode, TimeSource, Timestamp, VolumeIdx, VolumeManager};

fn cowftl(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_cowftl"))
        .args(args)
        .output()
        .expect("run cowftl");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cowftl-image-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Clock;
impl TimeSource for Clock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp::from_calendar(2026, 1, 1, 0, 0, 0).unwrap()
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn fat_image_inspects_clean_and_mounts_with_the_library() {
    let dir = tmpdir("fat");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("DOCS")).unwrap();
    let hello = b"hello from the host\n".to_vec();
    let big = pattern(7, 1, 50_000);
    std::fs::write(src.join("HELLO.TXT"), &hello).unwrap();
    std::fs::write(src.join("DOCS").join("BIG.BIN"), &big).unwrap();
    let bin = dir.join("fat.bin");

    let (ok, out, err) = cowftl(&[
        "image",
        "--chip",
        "w25q128",
        "--region-offset",
        "0",
        "--region-len",
        "4M",
        "--from-dir",
        p(&src),
        "-o",
        p(&bin),
    ]);
    assert!(ok, "image failed: {err}\n{out}");
    assert!(out.contains("2 files, 50020 bytes"), "{out}");
    assert!(out.contains("SPI programmer"), "{out}");
    let before = std::fs::read(&bin).unwrap();
    assert_eq!(before.len(), 4 << 20);

    // What the library itself sees: inspect must report exactly this.
    let mut flash = W25q128Flash::from_image(presets::w25q128(4 << 20), 1, &before).unwrap();
    let ftl = Ftl::<_, 256, 8192>::mount(&mut flash, Config::new(0, 4 << 20)).unwrap();
    let (stats, blocks) = (ftl.stats(), ftl.block_count());
    assert!(stats.mapped_blocks > 0 && stats.wear.min >= 1);

    let (ok, out, err) = cowftl(&["inspect", "--chip", "w25q128", p(&bin)]);
    assert!(ok, "inspect failed: {err}\n{out}");
    for want in [
        "volume: format v3, 256 units x 16384 B".to_string(),
        format!("wear: min {}, ", stats.wear.min),
        format!(", max {} (spread", stats.wear.max),
        format!("map: {} blocks mapped, 0 trimmed", stats.mapped_blocks),
        "0 bytes programmed, 0 erases".into(),
        "invariants: ok".into(),
        "MBR with a FAT partition at byte 4096".into(),
        format!("read-back of all {blocks} blocks: 0 errors (0 corrupt, 0 other)"),
        "fsck: clean".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !out.contains("geometry: found after"),
        "default geometry:\n{out}"
    );
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        before,
        "inspect must not write"
    );

    // Read the files through embedded-sdmmc on the library mount.
    let dev: FtlBlockDevice<_, 256, 8192> = FtlBlockDevice::new(ftl).unwrap();
    let vm: VolumeManager<_, _, 4, 4, 1> = VolumeManager::new(dev, Clock);
    let volume = vm.open_volume(VolumeIdx(0)).unwrap();
    let root = volume.open_root_dir().unwrap();
    let read = |d: &embedded_sdmmc::Directory<'_, _, _, 4, 4, 1>, name: &str| {
        let f = d.open_file_in_dir(name, Mode::ReadOnly).unwrap();
        let mut v = vec![0u8; f.length() as usize];
        let mut at = 0;
        while at < v.len() {
            at += f.read(&mut v[at..]).unwrap();
        }
        v
    };
    assert_eq!(read(&root, "HELLO.TXT"), hello);
    let docs = root.open_dir("DOCS").unwrap();
    assert_eq!(read(&docs, "BIG.BIN"), big);
    drop(docs);
    drop(root);
    drop(volume);
    drop(vm);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stm32_image_prints_the_probe_rs_command_and_inspect_flags_corruption() {
    let dir = tmpdir("l4");
    let bin = dir.join("l4.bin");
    let (ok, out, err) = cowftl(&[
        "image",
        "--chip",
        "stm32l476",
        "--region-offset",
        "0x80000",
        "--region-len",
        "256K",
        "-o",
        p(&bin),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("base address: 0x08080000"), "{out}");
    assert!(
        out.contains(
            "probe-rs download --chip STM32L476RGTx --binary-format bin --base-address 0x08080000"
        ),
        "{out}"
    );
    // Write a block with the library, then flip a data bit in the file: inspect must fail.
    let img = std::fs::read(&bin).unwrap();
    assert_eq!(img.len(), 256 * 1024);
    let mut flash = Stm32L476Flash::from_image(presets::stm32l476(256 * 1024), 1, &img).unwrap();
    let cfg = Config::new(0, 256 * 1024);
    let mut ftl = Ftl::<_, 64, 1024>::mount(&mut flash, cfg).unwrap();
    ftl.write(3, &[0x42; 512]).unwrap();
    let Mapping::Data { unit, slot } = ftl.mapping(3) else {
        panic!("lba 3 not mapped to data: {:?}", ftl.mapping(3));
    };
    let g = *ftl.geometry();
    drop(ftl);
    std::fs::write(&bin, flash.image()).unwrap();
    let clean = flash.image().to_vec();
    let (ok, out, _) = cowftl(&["inspect", p(&bin)]);
    assert!(ok, "{out}");
    assert!(out.contains("map: 1 blocks mapped, 0 trimmed"), "{out}");
    assert!(out.contains("0 errors (0 corrupt, 0 other)"), "{out}");

    // Damage one bit of the block's data: mount still maps it, the read-back must flag it.
    let mut img = clean.clone();
    let data = g.data_addr(unit, slot) as usize;
    assert!(img[data..data + 512].iter().all(|&b| b == 0x42));
    img[data + 100] ^= 0x04;
    std::fs::write(&bin, &img).unwrap();
    let (ok, out, err) = cowftl(&["inspect", p(&bin)]);
    assert!(!ok, "corruption must fail the fsck:\n{out}");
    assert!(
        out.contains(&format!("CORRUPT: lba 3 (unit {unit} slot {slot})")),
        "{out}"
    );
    assert!(out.contains("1 errors (1 corrupt, 0 other)"), "{out}");
    assert!(err.contains("fsck: 1 problem"), "{err}");
    assert_eq!(std::fs::read(&bin).unwrap(), img, "inspect must not write");

    // Damage the block's claim instead: the record is the top of its unit, so the library
    // judges it a cut program and the block reads as never written. Inspect reports that
    // judgment (no second decoder): nothing mapped, the slot still counted as used.
    let mut img = clean;
    img[g.record_addr(unit, slot) as usize + 4] ^= 0x01;
    std::fs::write(&bin, &img).unwrap();
    let (ok, out, err) = cowftl(&["inspect", p(&bin)]);
    assert!(ok, "{err}\n{out}");
    assert!(out.contains("map: 0 blocks mapped"), "{out}");
    assert!(out.contains("slots: 0 live, 1 garbage"), "{out}");
    assert!(out.contains("fsck: clean"), "{out}");
    assert_eq!(std::fs::read(&bin).unwrap(), img, "inspect must not write");
    // Bad arguments are clear errors.
    let (ok, _, err) = cowftl(&["image", "--chip", "stm32l476", "--fat", "-o", p(&bin)]);
    assert!(!ok && err.contains("too small for FAT16"), "{err}");
    let (ok, _, err) = cowftl(&["image", "--region-offset", "0x100", "-o", p(&bin)]);
    assert!(!ok && err.contains("erase unit"), "{err}");
    let blank = dir.join("blank.bin");
    std::fs::write(&blank, vec![0xFF; 64 * 1024]).unwrap();
    let (ok, _, err) = cowftl(&["inspect", p(&blank)]);
    assert!(!ok && err.contains("blank"), "{err}");
    // A volume built with other unit and block sizes: inspect finds them by letting the
    // library mount candidates; a wrong --unit-size is the library's `Incompatible`.
    let (ok, _, err) = cowftl(&[
        "image",
        "--region-len",
        "256K",
        "--unit-size",
        "8K",
        "--block-size",
        "256",
        "-o",
        p(&bin),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = cowftl(&["inspect", p(&bin)]);
    assert!(ok, "{err}\n{out}");
    assert!(out.contains("geometry: found after"), "{out}");
    assert!(out.contains("32 units x 8192 B, block 256 B"), "{out}");
    assert!(out.contains("fsck: clean"), "{out}");
    let (ok, _, err) = cowftl(&["inspect", "--unit-size", "4K", p(&bin)]);
    assert!(!ok && err.contains("different geometry"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
