//! Run torture seeds (temporary debugging aid): replay FIRST COUNT CUTS [boot]
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let first = u64::from_str_radix(a[0].trim_start_matches("0x"), 16).unwrap();
    let count: u64 = a.get(1).map_or(1, |c| c.parse().unwrap());
    let cuts: u32 = a.get(2).map_or(20, |c| c.parse().unwrap());
    let boot_loop = a.get(3).is_some();
    let opts = cowftl_sim::torture::Options {
        cuts,
        part: None,
        trace: count == 1,
        boot_loop,
    };
    let mut fails = 0;
    for seed in first..first + count {
        match cowftl_sim::torture::run_seed_catching(seed, &opts) {
            Ok(_) => {}
            Err(f) => {
                fails += 1;
                let s = format!("{f}");
                println!("FAIL {:#x}: {}", seed, s.lines().next().unwrap_or(""));
            }
        }
    }
    println!("{fails} failures of {count}");
}
