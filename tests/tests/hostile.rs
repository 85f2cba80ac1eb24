#[path = "hostile/engine.rs"]
mod engine;
use engine::*;

#[test]
fn dump() {
    let img = Img::new();
    let g = img.g;
    eprintln!(
        "slots {} blocks {} units {} retired {}",
        g.slots_per_unit,
        g.block_count,
        g.unit_count,
        base().retired
    );
    for u in 0..g.unit_count {
        eprintln!(
            "unit {u}: h0 {:?} h1 {:?} seal_valid {} used {}",
            img.header(u, 0),
            img.header(u, 1),
            img.seal_valid(u),
            img.used(u)
        );
        for s in 0..g.slots_per_unit {
            eprintln!("   {s}: {:?}", img.record((u, s)));
        }
    }
    let r = check(&img, Expect::Newest);
    eprintln!("{r:?}");
}
