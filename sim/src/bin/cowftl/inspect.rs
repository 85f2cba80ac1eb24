//! `cowftl inspect IMAGE`: an fsck that reports. Parses a region image on its own (with the
//! public `cowftl::layout` decoders and `cowftl::Geometry`): units, wear counters, sequence
//! ranges, valid/garbage slot counts, the logical map, and every header/record/data CRC.
//! Then it mounts a *copy* with the library and reads every block back. The image file is
//! never written unless `--repair` is given (which saves the mounted, settled copy).
//!
//! Exit status: 0 when every live block checks out, 1 otherwise. Torn records at a log tail
//! are reported but are not errors: they are what a power cut leaves and mount handles them.

use std::collections::HashMap;
use std::path::PathBuf;

use cowftl::layout::{HeaderKind, HeaderRead, RecordKind, RecordRead, UnitHeader, CRC};
use cowftl::layout::{SlotRecord, FORMAT_VERSION};
use cowftl::{Config, Ftl, Geometry};
use cowftl_sim::SimFlash;

use crate::image::{mbr_partition, Chip, IMG_BLOCKS, IMG_UNITS};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Region image (`.bin`) as written by `cowftl image` or dumped from a chip.
    pub image: PathBuf,
    /// Chip the image comes from (sets the write size, hence the record layout).
    #[arg(long, value_enum, default_value = "stm32l476")]
    pub chip: Chip,
    /// Reserve units the volume was built with (sets the exported block count).
    #[arg(long)]
    pub reserve: Option<u32>,
    /// Print one line per slot, not only per unit.
    #[arg(long)]
    pub slots: bool,
    /// Skip the library mount and read-back of the copy.
    #[arg(long)]
    pub no_mount: bool,
    /// Write the library-mounted image back to IMAGE (settles a torn log tail).
    #[arg(long)]
    pub repair: bool,
}

#[derive(Default, Clone, Copy)]
struct UnitReport {
    wear: Option<u32>,
    epoch: Option<u16>,
    stream: u8,
    hdr_a: char,
    hdr_b: char,
    seq_min: u64,
    seq_max: u64,
    data: u32,
    trims: u32,
    markers: u32,
    erased: u32,
    torn: u32,
    live: u32,
    garbage: u32,
    crc_bad: u32,
}

fn hdr_char(h: &HeaderRead) -> char {
    match h {
        HeaderRead::Erased => '-',
        HeaderRead::Valid(_) => 'V',
        HeaderRead::Invalid => 'X',
    }
}

/// Find the volume's geometry from its newest valid header.
fn detect(img: &[u8], erase: usize) -> Option<UnitHeader> {
    let mut best: Option<UnitHeader> = None;
    for off in (0..img.len()).step_by(erase) {
        for which in [0usize, 1] {
            // Header copies are 32 bytes padded to the word size (<= 128).
            for hs in [32usize, 128] {
                let at = off + which * hs;
                if at + 32 > img.len() {
                    continue;
                }
                if let HeaderRead::Valid(h) = UnitHeader::decode(&img[at..at + 32]) {
                    if best.is_none_or(|b| h.seq > b.seq) {
                        best = Some(h);
                    }
                }
            }
        }
    }
    best
}

pub fn run(a: Args) -> Result<(), String> {
    match a.chip {
        Chip::Stm32l476 => inspect::<1, 8, 2048>(&a),
        Chip::Stm32f411 => inspect::<1, 4, 131072>(&a),
        Chip::Stm32h743 => inspect::<1, 32, 131072>(&a),
        Chip::W25q128 => inspect::<1, 1, 4096>(&a),
    }
}

fn inspect<const R: usize, const W: usize, const E: usize>(a: &Args) -> Result<(), String> {
    let img = std::fs::read(&a.image).map_err(|e| format!("{}: {e}", a.image.display()))?;
    println!("image: {} ({} bytes)", a.image.display(), img.len());
    if img.is_empty() || img.len() % E != 0 {
        return Err(format!(
            "image length {} is not a multiple of the {E}-byte erase unit of {:?}",
            img.len(),
            a.chip
        ));
    }
    let Some(h) = detect(&img, E) else {
        if img.iter().all(|&b| b == 0xFF) {
            return Err("blank region: no cowftl volume (format it)".into());
        }
        return Err("no valid cowftl unit header found: not a cowftl volume".into());
    };
    if h.version != FORMAT_VERSION {
        return Err(format!(
            "on-flash format version {} (this build reads {FORMAT_VERSION})",
            h.version
        ));
    }
    let mut cfg = Config::new(0, h.unit_size * h.unit_count as u32);
    cfg.unit_size = Some(h.unit_size);
    cfg.block_size = 1u32.checked_shl(h.block_shift as u32).unwrap_or(0);
    if let Some(r) = a.reserve {
        cfg.reserve_units = r;
    }
    if cfg.region_len as usize != img.len() {
        println!(
            "warning: headers describe a {}-byte region, the image holds {} bytes",
            cfg.region_len,
            img.len()
        );
    }
    let g = Geometry::new(&cfg, img.len(), R, W, E, IMG_UNITS, IMG_BLOCKS)
        .map_err(|e| format!("geometry from the headers is invalid for {:?}: {e}", a.chip))?;
    println!(
        "volume: format v{}, epoch {}, {} units x {} B, block {} B, {} slots/unit, {} blocks exported ({} bytes), reserve {}",
        h.version, h.epoch, g.unit_count, g.unit_size, g.block_size, g.slots_per_unit, g.block_count,
        g.capacity_bytes(), g.reserve_units
    );

    // Pass 1: decode everything; newest version per lba.
    let mut units = vec![UnitReport::default(); g.unit_count as usize];
    let mut recs: Vec<Vec<RecordRead>> = Vec::with_capacity(g.unit_count as usize);
    let mut newest: HashMap<u32, (u64, u32, u32)> = HashMap::new();
    let mut hdr_bad = 0;
    let rel = |addr: u32| addr as usize;
    for u in 0..g.unit_count {
        let r = &mut units[u as usize];
        r.seq_min = u64::MAX;
        let mut ours = false;
        for which in 0..2 {
            let at = rel(g.header_addr(u, which));
            let hr = UnitHeader::decode(&img[at..at + g.header_size as usize]);
            if which == 0 {
                r.hdr_a = hdr_char(&hr);
            } else {
                r.hdr_b = hdr_char(&hr);
            }
            match hr {
                HeaderRead::Valid(x) => {
                    r.wear = Some(r.wear.map_or(x.wear, |w| w.max(x.wear)));
                    r.epoch = Some(x.epoch);
                    if x.kind == HeaderKind::Opened {
                        r.stream = x.stream;
                    }
                    r.seq_min = r.seq_min.min(x.seq);
                    r.seq_max = r.seq_max.max(x.seq);
                    ours |= x.epoch == h.epoch;
                }
                HeaderRead::Invalid => hdr_bad += 1,
                HeaderRead::Erased => {}
            }
        }
        let mut row = Vec::with_capacity(g.slots_per_unit as usize);
        for s in 0..g.slots_per_unit {
            let at = rel(g.record_addr(u, s));
            let rr = SlotRecord::decode(&img[at..at + g.record_size as usize]);
            match rr {
                RecordRead::Erased => r.erased += 1,
                RecordRead::Invalid => r.torn += 1,
                RecordRead::Valid(rec) => {
                    r.seq_min = r.seq_min.min(rec.version);
                    r.seq_max = r.seq_max.max(rec.version);
                    match rec.kind {
                        RecordKind::Data => {
                            r.data += 1;
                            let d = rel(g.data_addr(u, s));
                            if CRC.checksum(&img[d..d + g.block_size as usize]) != rec.data_crc {
                                r.crc_bad += 1;
                            }
                        }
                        RecordKind::Trim => r.trims += 1,
                        RecordKind::Marker | RecordKind::EraseIntent | RecordKind::Retire => {
                            r.markers += 1
                        }
                    }
                    if ours && matches!(rec.kind, RecordKind::Data | RecordKind::Trim) {
                        let e = newest.entry(rec.lba).or_insert((0, u, s));
                        if rec.version >= e.0 {
                            *e = (rec.version, u, s);
                        }
                    }
                }
            }
            row.push(rr);
        }
        recs.push(row);
    }

    // Pass 2: live vs garbage, map summary, CRC of live data.
    let (mut mapped, mut trimmed, mut out_of_range, mut live_bad) = (0u32, 0u32, 0u32, 0u32);
    for (&lba, &(_, u, s)) in &newest {
        units[u as usize].live += 1;
        let RecordRead::Valid(rec) = recs[u as usize][s as usize] else {
            continue;
        };
        if lba >= g.block_count {
            out_of_range += 1;
        }
        if rec.kind == RecordKind::Data {
            mapped += 1;
            let d = rel(g.data_addr(u, s));
            if CRC.checksum(&img[d..d + g.block_size as usize]) != rec.data_crc {
                live_bad += 1;
                println!(
                    "CRC ERROR: lba {lba} (unit {u} slot {s}, version {}) data fails its CRC",
                    rec.version
                );
            }
        } else {
            trimmed += 1;
        }
    }
    for r in units.iter_mut() {
        r.garbage = r.data + r.trims - r.live.min(r.data + r.trims);
    }

    println!();
    println!(
        "unit  hdr  wear  epoch strm   seq range                data trim mark torn erased  live garbage crc-bad"
    );
    for (u, r) in units.iter().enumerate() {
        let seq = if r.seq_min == u64::MAX {
            "-".to_string()
        } else {
            format!("{}..{}", r.seq_min, r.seq_max)
        };
        let state = match (r.hdr_a, r.hdr_b, r.erased) {
            ('-', '-', _) if r.data + r.trims + r.markers + r.torn == 0 => "blank",
            (_, '-', _) if r.data + r.trims + r.markers + r.torn == 0 => "free",
            _ if r.erased == 0 => "sealed",
            _ => "open",
        };
        let stream = match r.stream {
            1 => "host",
            2 => "gc",
            _ => "-",
        };
        let stale = match r.epoch {
            Some(e) if e != h.epoch => " (old epoch)",
            _ => "",
        };
        println!(
            "{u:>4}  {}{}  {:>5} {:>5} {:<5} {:<24} {:>4} {:>4} {:>4} {:>4} {:>6} {:>5} {:>7} {:>7}  {state}{stale}",
            r.hdr_a,
            r.hdr_b,
            r.wear.map_or("?".into(), |w| w.to_string()),
            r.epoch.map_or("-".into(), |e| e.to_string()),
            stream,
            seq,
            r.data,
            r.trims,
            r.markers,
            r.torn,
            r.erased,
            r.live,
            r.garbage,
            r.crc_bad
        );
        if a.slots {
            for (s, rr) in recs[u].iter().enumerate() {
                if let RecordRead::Valid(rec) = rr {
                    println!(
                        "        slot {s:>4}: {:?} lba {} version {}",
                        rec.kind, rec.lba, rec.version
                    );
                } else if *rr == RecordRead::Invalid {
                    println!("        slot {s:>4}: torn/invalid record");
                }
            }
        }
    }
    let wear: Vec<u32> = units.iter().filter_map(|r| r.wear).collect();
    let (wmin, wmax) = (
        wear.iter().copied().min().unwrap_or(0),
        wear.iter().copied().max().unwrap_or(0),
    );
    let wmean = wear.iter().map(|&w| w as f64).sum::<f64>() / wear.len().max(1) as f64;
    let seq_max = units.iter().map(|r| r.seq_max).max().unwrap_or(0);
    let sum = |f: fn(&UnitReport) -> u32| units.iter().map(f).sum::<u32>();
    println!();
    println!(
        "wear: min {wmin}, mean {wmean:.1}, max {wmax} (spread {}); {} units without a readable wear counter",
        wmax - wmin,
        units.len() - wear.len()
    );
    println!("sequence: highest {seq_max}");
    println!(
        "slots: {} live, {} garbage, {} trim records, {} markers, {} torn/invalid, {} erased",
        sum(|r| r.live),
        sum(|r| r.garbage),
        sum(|r| r.trims),
        sum(|r| r.markers),
        sum(|r| r.torn),
        sum(|r| r.erased)
    );
    println!(
        "map: {mapped} blocks mapped, {trimmed} trimmed, {} never written (of {}); {out_of_range} records beyond the exported range",
        g.block_count.saturating_sub(mapped + trimmed),
        g.block_count
    );
    println!(
        "crc: {hdr_bad} invalid headers, {} invalid records, {} data CRC failures ({} in superseded slots, {live_bad} in live blocks)",
        sum(|r| r.torn),
        sum(|r| r.crc_bad),
        sum(|r| r.crc_bad) - live_bad
    );
    let sector0 = newest
        .get(&0)
        .and_then(|&(_, u, s)| match recs[u as usize][s as usize] {
            RecordRead::Valid(rec) if rec.kind == RecordKind::Data && g.block_size >= 512 => {
                let d = g.data_addr(u, s) as usize;
                Some(img[d..d + 512].to_vec())
            }
            _ => None,
        });
    if let Some((start, len)) = sector0.as_deref().and_then(mbr_partition) {
        println!("contents: MBR with a FAT partition at byte {start}, {len} bytes");
    }

    let mut problems = live_bad;
    if !a.no_mount {
        let spec = a.chip.spec(img.len());
        let mut flash =
            SimFlash::<R, W, E>::from_image(spec, 1, &img).map_err(|e| e.to_string())?;
        match Ftl::<_, IMG_UNITS, IMG_BLOCKS>::mount(&mut flash, cfg) {
            Err(e) => {
                println!("library mount: FAILED: {e}");
                problems += 1;
            }
            Ok(mut ftl) => {
                let mut buf = vec![0u8; g.block_size as usize];
                let mut bad = 0;
                for lba in 0..ftl.block_count() {
                    if ftl.read(lba, &mut buf).is_err() {
                        bad += 1;
                    }
                }
                let s = ftl.stats();
                println!(
                    "library mount: ok; {} blocks mapped, {} free units, read-only {}; read-back of all {} blocks: {bad} errors",
                    s.mapped_blocks,
                    s.free_units,
                    s.read_only,
                    ftl.block_count()
                );
                problems += bad;
                drop(ftl);
                if a.repair {
                    std::fs::write(&a.image, flash.image())
                        .map_err(|e| format!("{}: {e}", a.image.display()))?;
                    println!(
                        "repair: wrote the mounted image back to {}",
                        a.image.display()
                    );
                }
            }
        }
    } else if a.repair {
        return Err("--repair needs the library mount (drop --no-mount)".into());
    }
    if problems > 0 {
        return Err(format!("fsck: {problems} problem(s)"));
    }
    println!("fsck: clean");
    Ok(())
}
