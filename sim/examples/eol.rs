use cowftl::{Config, Error, Ftl};
use cowftl_sim::torture::fill_pattern;
use cowftl_sim::{PartSpec, SimFlash, SplitMix64};
type Flash = SimFlash<1, 8, 2048>;
type Vol<'a> = Ftl<&'a mut Flash, 64, 1024>;
const BS: usize = 512;
fn main() {
    for (units, seed) in [(12u32, 1u64), (24, 1), (12, 2), (24, 2)] {
        let cfg = Config {
            unit_size: Some(4096),
            reserve_units: 4,
            static_wl_threshold: 4,
            ..Config::new(0, units * 4096)
        };
        let mut flash = Flash::new(
            PartSpec::custom("eol", (units * 4096) as usize, 1, 8, 2048),
            seed,
        );
        flash.set_endurance(Some(40));
        let mut ftl = Vol::format(&mut flash, cfg).unwrap();
        let n = ftl.block_count();
        let mut model: Vec<Vec<u64>> = vec![vec![0]; n as usize];
        let mut rng = SplitMix64::new(seed);
        let mut buf = vec![0u8; BS];
        let mut got = vec![0u8; BS];
        let mut g = 0u64;
        loop {
            let l = rng.below(40) as u32;
            g += 1;
            fill_pattern(l, g, &mut buf);
            let before: Vec<_> = ftl.units().map(|u| (u.state, u.valid, u.used)).collect();
            let cb = ftl.stats().counters;
            let r = ftl.write(l, &buf);
            match r {
                Ok(()) => model[l as usize] = vec![g],
                Err(Error::ReadOnly | Error::NoSpace) => {
                    println!("end {r:?} at g {g}");
                    break;
                }
                Err(Error::Flash(_)) => model[l as usize].push(g),
                Err(e) => panic!("{e:?}"),
            }
            for (x, gens) in model.iter().enumerate() {
                ftl.read(x as u32, &mut got).unwrap();
                let ok = gens.iter().any(|&gg| {
                    fill_pattern(x as u32, gg, &mut buf);
                    got == buf
                });
                if !ok {
                    println!("units {units} seed {seed}: after write g {g} lba {l} ({r:?}): lba {x} wrong (want {gens:?}, got gen {}), at {:?}\nbefore {before:?}\nafter {:?} {:?}", u32::from_le_bytes(got[4..8].try_into().unwrap()), ftl.mapping(x as u32), ftl.units().map(|u| (u.state, u.valid, u.used)).collect::<Vec<_>>(), ftl.stats().counters);
                    println!("counters before {cb:?}");
                    let geo = *ftl.geometry();
                    let img = ftl.flash().image();
                    for u in 0..geo.unit_count {
                        for sl in 0..geo.slots_per_unit {
                            let a = geo.record_addr(u, sl) as usize;
                            let r = geo.decode_record(&img[a..a + geo.record_size as usize]);
                            if let Some(c) = r.claim() {
                                if c.lba == x as u32 && c.version > 9000 - 9000 {
                                    let d = geo.data_addr(u, sl) as usize;
                                    println!(
                                        "  u{u} s{sl}: {r:?} data gen {}",
                                        u32::from_le_bytes(img[d + 4..d + 8].try_into().unwrap())
                                    );
                                }
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}
