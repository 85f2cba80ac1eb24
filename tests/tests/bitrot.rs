//! Bit rot (docs/DESIGN.md contract 5): a flipped bit in stored data makes that read return
//! `Error::Corrupt`, never wrong data; a flipped bit in metadata (unit headers, slot
//! records) leaves a volume that mounts with everything else intact (the hit record's block
//! may fall back to an older copy of itself, read zeros, or report `Corrupt`) or fails to
//! mount with a clear error. Never a panic, never another block's data.

use cowftl::map::Mapping;
use cowftl::{Config, Error, Ftl};
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
use cowftl_testkit::fill_pattern;

type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 16, 256>;

const UNITS: u32 = 8;
const BS: usize = 512;

fn cfg() -> Config {
    Config {
        unit_size: Some(4096),
        reserve_units: 4,
        ..Config::new(0, UNITS * 4096)
    }
}

/// A volume with every block written, some overwritten several times (stale copies on
/// flash), some trimmed. Returns the flash and each block's history of generations
/// (last = current; 0 = zeros).
fn volume() -> (Flash, Vec<Vec<u64>>) {
    let mut flash = Flash::new(
        PartSpec::custom("rot", (UNITS * 4096) as usize, 1, 8, 2048),
        3,
    );
    let mut ftl = Vol::format(&mut flash, cfg()).unwrap();
    let n = ftl.block_count();
    let mut hist = vec![vec![0u64]; n as usize];
    let mut buf = vec![0u8; BS];
    let mut rng = SplitMix64::new(9);
    for g in 1..=(3 * n as u64) {
        let l = if g <= n as u64 {
            g as u32 - 1
        } else {
            rng.below(n as u64 / 3) as u32
        };
        if g % 13 == 0 {
            ftl.trim(l).unwrap();
            hist[l as usize].push(0);
        } else {
            fill_pattern(l, g, &mut buf);
            ftl.write(l, &buf).unwrap();
            hist[l as usize].push(g);
        }
    }
    drop(ftl);
    (flash, hist)
}

/// Where each block's live data record is, as the library's own mount maps it:
/// (lba, unit, slot).
fn live_slots(flash: &Flash) -> Vec<(u32, u32, u32)> {
    let mut copy = flash.clone();
    let ftl = Vol::mount(&mut copy, cfg()).unwrap();
    (0..ftl.block_count())
        .filter_map(|l| match ftl.mapping(l) {
            Mapping::Data { unit, slot } => Some((l, unit, slot)),
            _ => None,
        })
        .collect()
}

fn read(ftl: &mut Vol<'_>, l: u32) -> Result<Vec<u8>, Error<cowftl_sim::SimError>> {
    let mut b = vec![0u8; BS];
    ftl.read(l, &mut b).map(|_| b)
}

fn gen_data(l: u32, g: u64) -> Vec<u8> {
    let mut b = vec![0u8; BS];
    fill_pattern(l, g, &mut b);
    b
}

#[test]
fn flipped_data_bit_reads_as_corrupt() {
    let (base, hist) = volume();
    let live = live_slots(&base);
    assert!(live.len() > 10);
    let geo = *Vol::mount(&mut base.clone(), cfg()).unwrap().geometry();
    let mut rng = SplitMix64::new(5);
    for &(l, u, s) in &live {
        let mut flash = base.clone();
        let addr = geo.data_addr(u, s) + rng.below(BS as u64) as u32;
        flash.flip_bit(addr, rng.below(8) as u8);
        for _ in 0..2 {
            // Before and after a remount.
            let mut ftl = Vol::mount(&mut flash, cfg()).expect("mount with rotten data");
            assert_eq!(
                read(&mut ftl, l),
                Err(Error::Corrupt),
                "lba {l}: rotten data returned"
            );
            for (o, h) in hist.iter().enumerate() {
                if o as u32 != l {
                    assert_eq!(
                        read(&mut ftl, o as u32).unwrap(),
                        gen_data(o as u32, *h.last().unwrap())
                    );
                }
            }
        }
    }
}

/// Flip one bit at `addr` of the base image and check mount/reads. `record_lba`: the block
/// whose newest record sits at `addr` (it may fall back to an older copy of itself).
fn check_meta_flip(
    base: &Flash,
    hist: &[Vec<u64>],
    addr: u32,
    bit: u8,
    record_lba: Option<u32>,
) -> bool {
    let mut flash = base.clone();
    flash.flip_bit(addr, bit);
    let mut ftl = match Vol::mount(&mut flash, cfg()) {
        Ok(f) => f,
        // A clear error (never a panic) is acceptable for rotten metadata.
        Err(e) => {
            let msg = format!("{e}");
            assert!(!msg.is_empty());
            return false;
        }
    };
    for (l, h) in hist.iter().enumerate() {
        let l = l as u32;
        let cur = gen_data(l, *h.last().unwrap());
        let got = read(&mut ftl, l);
        if Some(l) == record_lba {
            match got {
                Err(Error::Corrupt) => {}
                Ok(d) => assert!(
                    h.iter().any(|&g| gen_data(l, g) == d),
                    "flip at {addr:#x}: lba {l} reads data it never held"
                ),
                Err(e) => panic!("flip at {addr:#x}: lba {l}: {e:?}"),
            }
        } else {
            assert_eq!(
                got.as_ref().ok(),
                Some(&cur),
                "flip at {addr:#x} bit {bit}: lba {l} damaged"
            );
        }
    }
    // The volume still works after the rot.
    let d = gen_data(0, 999_999);
    if ftl.write(0, &d).is_ok() {
        assert_eq!(read(&mut ftl, 0).unwrap(), d);
    }
    true
}

#[test]
fn flipped_header_bit_leaves_everything_intact() {
    let (base, hist) = volume();
    let geo = *Vol::mount(&mut base.clone(), cfg()).unwrap().geometry();
    let mut rng = SplitMix64::new(6);
    let mut mounted = 0;
    for u in 0..geo.unit_count {
        for which in 0..2 {
            for _ in 0..6 {
                let addr = geo.header_addr(u, which) + rng.below(32) as u32;
                if base.image()[addr as usize] == 0xFF && rng.coin() {
                    continue;
                }
                mounted += check_meta_flip(&base, &hist, addr, rng.below(8) as u8, None) as u32;
            }
        }
    }
    assert!(mounted > 0);
}

#[test]
fn flipped_record_bit_only_affects_its_block() {
    let (base, hist) = volume();
    let geo = *Vol::mount(&mut base.clone(), cfg()).unwrap().geometry();
    let live = live_slots(&base);
    let mut rng = SplitMix64::new(7);
    let mut mounted = 0;
    for &(l, u, s) in &live {
        let addr = geo.record_addr(u, s) + rng.below(24) as u32;
        mounted += check_meta_flip(&base, &hist, addr, rng.below(8) as u8, Some(l)) as u32;
    }
    // Stale records: a flip must not resurrect anything.
    for u in 0..geo.unit_count {
        for s in 0..geo.slots_per_unit {
            if live.iter().any(|&(_, lu, ls)| (lu, ls) == (u, s)) {
                continue;
            }
            let a = geo.record_addr(u, s) + rng.below(24) as u32;
            // A stale record's lba may be any block: allow fallback on that block only.
            let rec = &base.image()[geo.record_addr(u, s) as usize..][..geo.record_size as usize];
            let lba = geo.decode_record(rec).claim().map(|c| c.lba);
            mounted += check_meta_flip(&base, &hist, a, rng.below(8) as u8, lba) as u32;
        }
    }
    assert!(mounted > 0);
}
