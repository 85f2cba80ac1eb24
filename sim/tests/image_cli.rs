//! `cowftl image` -> `cowftl inspect` round trip, and the produced image mounted with the
//! library: the files copied from a host directory read back through embedded-sdmmc.

use std::path::{Path, PathBuf};
use std::process::Command;

use cowftl::blockdev::FtlBlockDevice;
use cowftl::{Config, Ftl};
use cowftl_sim::{presets, Stm32L476Flash, W25q128Flash};
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

fn blob(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
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
    let big = blob(50_000, 7);
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

    let (ok, out, err) = cowftl(&["inspect", "--chip", "w25q128", p(&bin)]);
    assert!(ok, "inspect failed: {err}\n{out}");
    for want in [
        "256 units x 16384 B",
        "wear: min 1, mean 1.0, max 1",
        "0 data CRC failures",
        "MBR with a FAT partition at byte 4096",
        "library mount: ok",
        "read-back of all 7559 blocks: 0 errors",
        "fsck: clean",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        before,
        "inspect must not write"
    );

    // Mount the image with the library and read the files through embedded-sdmmc.
    let mut flash = W25q128Flash::from_image(presets::w25q128(4 << 20), 1, &before).unwrap();
    let ftl = Ftl::<_, 256, 8192>::mount(&mut flash, Config::new(0, 4 << 20)).unwrap();
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
    drop(ftl);
    std::fs::write(&bin, flash.image()).unwrap();
    let (ok, out, _) = cowftl(&["inspect", p(&bin)]);
    assert!(ok, "{out}");
    assert!(out.contains("1 blocks mapped"), "{out}");
    // Find the data (0x42 x 512) and damage one bit.
    let mut img = std::fs::read(&bin).unwrap();
    let at = img
        .windows(512)
        .position(|w| w.iter().all(|&b| b == 0x42))
        .unwrap();
    img[at + 100] ^= 0x04;
    std::fs::write(&bin, &img).unwrap();
    let (ok, out, err) = cowftl(&["inspect", p(&bin)]);
    assert!(!ok, "corruption must fail the fsck:\n{out}");
    assert!(out.contains("CRC ERROR: lba 3"), "{out}");
    assert!(err.contains("problem"), "{err}");
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
    let _ = std::fs::remove_dir_all(&dir);
}
