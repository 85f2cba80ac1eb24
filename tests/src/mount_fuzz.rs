//! Fuzzing and property tests of mount over arbitrary images (docs/DESIGN.md contract 5: mount of
//! any byte image returns `Ok` or an error, no panic, no hang; reads never return wrong
//! data; a volume that mounted keeps every later write). Used by the `mount_image` fuzz
//! target and its bounded proptest twin `tests/tests/fuzz_mount.rs`.

use std::sync::OnceLock;

use cowftl::{Config, Ftl};
use cowftl_sim::{PartSpec, SimFlash};

use crate::pattern::fill_pattern;

/// The small part the image fuzzers use: 8 units of 1 KiB (2 pages), 8-byte ECC words.
pub type FuzzFlash = SimFlash<1, 8, 512>;
type Vol<'a> = Ftl<&'a mut FuzzFlash, 16, 64>;
/// Image size in bytes.
pub const IMAGE_LEN: usize = 8 * 1024;

/// The part spec (one program per word: contract 1 is checked too).
pub fn spec() -> PartSpec {
    PartSpec::custom("fuzz", IMAGE_LEN, 1, 8, 512)
}

/// 64-byte blocks, 11 slots per unit, reserve 4, a low WL threshold.
pub fn config() -> Config {
    Config {
        unit_size: Some(1024),
        block_size: 64,
        reserve_units: 4,
        static_wl_threshold: 3,
        ..Config::new(0, IMAGE_LEN as u32)
    }
}

/// A valid volume with data, trims, GC and WL history: the starting point of mutations
/// (random images never get past the header CRC).
pub fn base_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let mut flash = FuzzFlash::new(spec(), 1);
        let mut ftl = Vol::format(&mut flash, config()).expect("format");
        let n = ftl.block_count();
        let mut buf = [0u8; 64];
        for i in 0..200u64 {
            let l = ((i * 7) % n as u64) as u32;
            if i % 11 == 5 {
                ftl.trim(l).expect("trim");
            } else {
                fill_pattern(l, i + 1, &mut buf);
                ftl.write(l, &buf).expect("write");
            }
        }
        drop(ftl);
        // Remount once so the image also carries a settled tail.
        drop(Vol::mount(&mut flash, config()).expect("mount"));
        flash.image().to_vec()
    })
}

/// Build the image for fuzzer input `data`: byte 0 even = `data[1..]` as the raw image
/// (rest erased); odd = the base image with 3-byte mutations (offset, value) where the
/// top offset bits choose xor / set byte / erase word / zero word.
pub fn build(data: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return vec![0xFF; IMAGE_LEN];
    };
    if mode & 1 == 0 {
        let mut img = vec![0xFF; IMAGE_LEN];
        let n = rest.len().min(IMAGE_LEN);
        img[..n].copy_from_slice(&rest[..n]);
        return img;
    }
    let mut img = base_image().to_vec();
    for m in rest.chunks_exact(3) {
        let raw = u16::from_le_bytes([m[0], m[1]]);
        let off = (raw as usize & 0x0FFF) % IMAGE_LEN;
        let word = off & !7;
        match raw >> 14 {
            0 => img[off] ^= m[2],
            1 => img[off] = m[2],
            2 => img[word..word + 8].fill(0xFF),
            _ => img[word..word + 8].fill(0),
        }
    }
    img
}

/// Mount the image built from `data`; if it mounts, read every block, write some and
/// check they read back (also after a remount). Panics on a contract violation.
pub fn check(data: &[u8]) {
    let img = build(data);
    let mut flash = FuzzFlash::from_image(spec(), 7, &img).expect("image size");
    let Ok(mut ftl) = Vol::mount(&mut flash, config()) else {
        return;
    };
    let n = ftl.block_count();
    let mut buf = [0u8; 64];
    for l in 0..n {
        let _ = ftl.read(l, &mut buf); // data or an error, never a panic
    }
    // Writes on a volume that mounted must work (or fail cleanly) and read back.
    let mut written = Vec::new();
    for i in 0..12u32 {
        let l = (i * 5) % n;
        fill_pattern(l, 1000 + i as u64, &mut buf);
        match ftl.write(l, &buf) {
            Ok(()) => written.retain(|&(x, _)| x != l),
            Err(_) => break,
        }
        written.push((l, 1000 + i as u64));
    }
    let mut want = [0u8; 64];
    for &(l, g) in &written {
        fill_pattern(l, g, &mut want);
        ftl.read(l, &mut buf)
            .expect("read of an acknowledged write");
        assert_eq!(buf, want, "lba {l}: acknowledged write reads back wrong");
    }
    drop(ftl);
    let mut ftl = Vol::mount(&mut flash, config()).expect("remount after writes");
    for &(l, g) in &written {
        fill_pattern(l, g, &mut want);
        ftl.read(l, &mut buf).expect("read after remount");
        assert_eq!(buf, want, "lba {l}: acknowledged write lost on remount");
    }
}
