//! `cowftl compare`: the same logical workload (N records of 512 B written once, then uniform
//! random updates) on cowftl, sequential-storage 8.0.2 (map) and littlefs2 0.8.1 (one file per
//! record), each on its own simulated W25Q128-style chip of the same geometry (4 KiB sectors,
//! byte writes). Peers are compiled only with the `peers` feature (littlefs2 needs clang).
//!
//! The peers' chips allow several programs per word and store `old & new` on a 0→1 request
//! (`set_zero_to_one_is_violation(false)`, the `MultiwriteNorFlash` contract): both peers rely on
//! it. cowftl runs on the same part with the strict rule left on.

use std::time::Instant;

use clap::Args as ClapArgs;
use cowftl_sim::{SplitMix64, W25q128Flash};
use serde::Serialize;

use cowftl_testkit::{fill_pattern, Part};

use crate::common::{self, SimFtl};
use crate::fmt;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Fewer records and updates (seconds).
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Region size (all three use the same), e.g. 256K.
    #[arg(long, default_value = "256K", value_parser = common::parse_size)]
    pub size: usize,
    /// Records of 512 B (default 112, 64 with --quick; littlefs2 runs out of space above ~120).
    #[arg(long)]
    pub records: Option<u32>,
    /// Random updates after the initial write (default 20000, 2000 with --quick).
    #[arg(long)]
    pub updates: Option<u64>,
    /// cowftl unit size in bytes (default: chosen by the FTL, 16 KiB here).
    #[arg(long)]
    pub unit_size: Option<u32>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub const RECORD: usize = 512;
const SECTOR: usize = 4096;

#[derive(Serialize, Clone, Debug, Default)]
pub struct Row {
    pub name: &'static str,
    pub bytes_programmed: u64,
    pub erases: u64,
    pub bytes_read: u64,
    pub host_ns_per_op: f64,
    pub device_ns_per_op: f64,
    pub mount_bytes_read: u64,
    pub mount_device_ns: u64,
    pub mount_host_ns: u64,
}

#[derive(Serialize, Debug)]
pub struct Out {
    pub region_bytes: usize,
    pub sector_bytes: usize,
    pub records: u32,
    pub record_bytes: usize,
    pub updates: u64,
    pub logical_bytes: u64,
    pub rows: Vec<Row>,
    pub peers_built: bool,
}

/// The workload's operation sequence: record index per write (initial fill, then updates).
fn ops(records: u32, updates: u64, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..records)
        .chain((0..updates).map(|_| rng.below(u64::from(records)) as u32))
        .collect()
}

fn value(rec: u32, ver: u64, buf: &mut [u8]) {
    fill_pattern(rec, ver + 1, buf);
}

pub fn chip(size: usize, seed: u64) -> W25q128Flash {
    W25q128Flash::new(Part::W25q128.spec(size), seed)
}

pub fn run(args: Args) -> Result<(), String> {
    if args.size % SECTOR != 0 || args.size < 16 * SECTOR {
        return Err("--size must be a multiple of 4096 and at least 64K".into());
    }
    let records = args.records.unwrap_or(if args.quick { 64 } else { 112 });
    let updates = args
        .updates
        .unwrap_or(if args.quick { 2000 } else { 20000 });
    if records == 0 {
        return Err("--records must be at least 1".into());
    }
    let seq = ops(records, updates, args.seed);
    // Without the `peers` feature only cowftl runs.
    #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
    let mut rows = vec![run_cowftl(&args, records, &seq)?];
    #[cfg(feature = "peers")]
    {
        rows.push(peers::run_seqstor(&args, records, &seq)?);
        rows.push(peers::run_littlefs(&args, records, &seq)?);
    }
    let out = Out {
        region_bytes: args.size,
        sector_bytes: SECTOR,
        records,
        record_bytes: RECORD,
        updates,
        logical_bytes: seq.len() as u64 * RECORD as u64,
        rows,
        peers_built: cfg!(feature = "peers"),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    print_table(&out);
    Ok(())
}

/// The human table: one row per store, then cowftl's ratios to each peer.
fn print_table(out: &Out) {
    println!(
        "cowftl compare: {} records x {} B, {} random updates; each store on its own W25Q128-style chip, {} KiB region, 4 KiB sectors",
        out.records, RECORD, out.updates, out.region_bytes / 1024
    );
    if !out.peers_built {
        println!("(peers not built: rebuild with `--features peers` for sequential-storage and littlefs2; needs clang)");
    }
    println!(
        "{:<20} {:>12} {:>8} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "store", "programmed", "WA", "erases", "read", "cpu/op", "dev/op", "mount rd", "mount cpu"
    );
    for r in &out.rows {
        println!(
            "{:<20} {:>12} {:>8.2} {:>7} {:>12} {:>10} {:>10} {:>10} {:>10}",
            r.name,
            fmt::fmt_bytes(r.bytes_programmed),
            r.bytes_programmed as f64 / out.logical_bytes as f64,
            r.erases,
            fmt::fmt_bytes(r.bytes_read),
            fmt::fmt_ns(r.host_ns_per_op),
            fmt::fmt_ns(r.device_ns_per_op),
            fmt::fmt_bytes(r.mount_bytes_read),
            fmt::fmt_ns(r.mount_host_ns as f64),
        );
    }
    let c = &out.rows[0];
    for r in &out.rows[1..] {
        println!(
            "cowftl / {}: programmed {:.3}, erases {:.3}, read {:.3}, cpu/op {:.3}",
            r.name,
            c.bytes_programmed as f64 / r.bytes_programmed.max(1) as f64,
            c.erases as f64 / r.erases.max(1) as f64,
            c.bytes_read as f64 / r.bytes_read.max(1) as f64,
            c.host_ns_per_op / r.host_ns_per_op.max(1e-9),
        );
    }
}

fn finish(name: &'static str, flash: &W25q128Flash, ops: usize, host_ns: f64) -> Row {
    let s = flash.stats();
    Row {
        name,
        bytes_programmed: s.bytes_programmed,
        erases: s.total_unit_erases(),
        bytes_read: s.bytes_read,
        host_ns_per_op: host_ns / ops as f64,
        device_ns_per_op: s.device_time_ns as f64 / ops as f64,
        ..Row::default()
    }
}

fn run_cowftl(args: &Args, records: u32, seq: &[u32]) -> Result<Row, String> {
    let mut flash = chip(args.size, args.seed);
    let cfg = common::config(args.size, args.unit_size, None);
    let mut buf = [0u8; RECORD];
    let t = Instant::now();
    let mut ftl = SimFtl::format(&mut flash, cfg).map_err(|e| format!("cowftl format: {e:?}"))?;
    if ftl.block_count() < records {
        return Err(format!(
            "cowftl exports only {} blocks (< --records)",
            ftl.block_count()
        ));
    }
    for (i, &r) in seq.iter().enumerate() {
        value(r, i as u64, &mut buf);
        ftl.write(r, &buf)
            .map_err(|e| format!("cowftl write: {e:?}"))?;
    }
    let host = t.elapsed().as_nanos() as f64;
    drop(ftl);
    let mut row = finish("cowftl", &flash, seq.len(), host);
    let (r0, d0) = (flash.stats().bytes_read, flash.stats().device_time_ns);
    let t = Instant::now();
    let mut ftl = SimFtl::mount(&mut flash, cfg).map_err(|e| format!("cowftl mount: {e:?}"))?;
    row.mount_host_ns = t.elapsed().as_nanos() as u64;
    let (last_i, last_r) = seq
        .iter()
        .enumerate()
        .next_back()
        .map(|(i, &r)| (i, r))
        .unwrap_or((0, 0));
    ftl.read(last_r, &mut buf)
        .map_err(|e| format!("cowftl read: {e:?}"))?;
    let mut want = [0u8; RECORD];
    value(last_r, last_i as u64, &mut want);
    if buf != want {
        return Err("cowftl: last record reads back wrong".into());
    }
    row.mount_bytes_read = ftl.flash().stats().bytes_read - r0;
    row.mount_device_ns = ftl.flash().stats().device_time_ns - d0;
    Ok(row)
}

#[cfg(feature = "peers")]
mod peers {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

    /// Minimal executor: the simulator's async flash never pends.
    pub fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn peer_chip(size: usize, seed: u64) -> W25q128Flash {
        let mut f = chip(size, seed);
        f.set_zero_to_one_is_violation(false);
        f
    }

    pub fn run_seqstor(args: &Args, _records: u32, seq: &[u32]) -> Result<Row, String> {
        use sequential_storage::cache::key_pointers::ArrayKeyPointers;
        use sequential_storage::cache::page_pointers::ArrayPagePointers;
        use sequential_storage::cache::page_states::ArrayPageStates;
        use sequential_storage::cache::Cache;
        use sequential_storage::map::{MapConfig, MapStorage};

        let mut flash = peer_chip(args.size, args.seed);
        let range = 0..args.size as u32;
        let new_cache = || {
            Cache::new(
                ArrayPageStates::<1024>::default(),
                ArrayPagePointers::<1024>::default(),
                ArrayKeyPointers::<u32, 1024>::default(),
            )
        };
        let mut data = [0u8; 1024];
        let mut buf = [0u8; RECORD];
        let t = Instant::now();
        let mut map =
            MapStorage::<u32, _, _>::new(&mut flash, MapConfig::new(range.clone()), new_cache());
        block_on(map.erase_all()).map_err(|e| format!("sequential-storage erase: {e:?}"))?;
        for (i, &r) in seq.iter().enumerate() {
            value(r, i as u64, &mut buf);
            block_on(map.store_item(&mut data, &r, &&buf[..]))
                .map_err(|e| format!("sequential-storage store: {e:?}"))?;
        }
        let host = t.elapsed().as_nanos() as f64;
        let _ = map;
        let mut row = finish("sequential-storage", &flash, seq.len(), host);
        // Mount cost: a fresh instance (cold cache) fetching the last record.
        let (r0, d0) = (flash.stats().bytes_read, flash.stats().device_time_ns);
        let t = Instant::now();
        let mut map = MapStorage::<u32, _, _>::new(&mut flash, MapConfig::new(range), new_cache());
        let (last_i, last_r) = seq
            .iter()
            .enumerate()
            .next_back()
            .map(|(i, &r)| (i, r))
            .unwrap_or((0, 0));
        let got = block_on(map.fetch_item::<&[u8]>(&mut data, &last_r))
            .map_err(|e| format!("sequential-storage fetch: {e:?}"))?
            .map(|v| v.to_vec());
        row.mount_host_ns = t.elapsed().as_nanos() as u64;
        let _ = map;
        value(last_r, last_i as u64, &mut buf);
        if got.as_deref() != Some(&buf[..]) {
            return Err("sequential-storage: last record reads back wrong".into());
        }
        row.mount_bytes_read = flash.stats().bytes_read - r0;
        row.mount_device_ns = flash.stats().device_time_ns - d0;
        Ok(row)
    }

    struct Lfs {
        flash: W25q128Flash,
    }

    const LFS_BLOCKS: usize = 64;

    impl littlefs2::driver::Storage for Lfs {
        const READ_SIZE: usize = 16;
        const WRITE_SIZE: usize = 16;
        const BLOCK_SIZE: usize = SECTOR;
        const BLOCK_COUNT: usize = LFS_BLOCKS;
        const BLOCK_CYCLES: isize = 500;
        type CACHE_SIZE = littlefs2::consts::U512;
        type LOOKAHEAD_SIZE = littlefs2::consts::U1;

        fn read(&mut self, off: usize, buf: &mut [u8]) -> littlefs2::io::Result<usize> {
            ReadNorFlash::read(&mut self.flash, off as u32, buf)
                .map_err(|_| littlefs2::io::Error::IO)?;
            Ok(buf.len())
        }
        fn write(&mut self, off: usize, data: &[u8]) -> littlefs2::io::Result<usize> {
            NorFlash::write(&mut self.flash, off as u32, data)
                .map_err(|_| littlefs2::io::Error::IO)?;
            Ok(data.len())
        }
        fn erase(&mut self, off: usize, len: usize) -> littlefs2::io::Result<usize> {
            NorFlash::erase(&mut self.flash, off as u32, (off + len) as u32)
                .map_err(|_| littlefs2::io::Error::IO)?;
            Ok(len)
        }
    }

    pub fn run_littlefs(args: &Args, _records: u32, seq: &[u32]) -> Result<Row, String> {
        use littlefs2::fs::Filesystem;
        use littlefs2::path::PathBuf;
        if args.size != LFS_BLOCKS * SECTOR {
            return Err(format!(
                "littlefs2 peer is built for a {} KiB region (BLOCK_COUNT is a constant)",
                LFS_BLOCKS * SECTOR / 1024
            ));
        }
        let mut st = Lfs {
            flash: peer_chip(args.size, args.seed),
        };
        let name = |r: u32| PathBuf::try_from(format!("r{r}").as_str()).expect("path");
        let mut buf = [0u8; RECORD];
        let t = Instant::now();
        Filesystem::format(&mut st).map_err(|e| format!("littlefs format: {e:?}"))?;
        Filesystem::mount_and_then(&mut st, |fs| {
            for (i, &r) in seq.iter().enumerate() {
                value(r, i as u64, &mut buf);
                fs.write(&name(r), &buf)?;
            }
            Ok(())
        })
        .map_err(|e| format!("littlefs write: {e:?}"))?;
        let host = t.elapsed().as_nanos() as f64;
        let mut row = finish("littlefs2", &st.flash, seq.len(), host);
        let (r0, d0) = (st.flash.stats().bytes_read, st.flash.stats().device_time_ns);
        let (last_i, last_r) = seq
            .iter()
            .enumerate()
            .next_back()
            .map(|(i, &r)| (i, r))
            .unwrap_or((0, 0));
        let t = Instant::now();
        let got = Filesystem::mount_and_then(&mut st, |fs| fs.read::<RECORD>(&name(last_r)))
            .map_err(|e| format!("littlefs read: {e:?}"))?;
        row.mount_host_ns = t.elapsed().as_nanos() as u64;
        value(last_r, last_i as u64, &mut buf);
        if got.as_slice() != &buf[..] {
            return Err("littlefs2: last record reads back wrong".into());
        }
        row.mount_bytes_read = st.flash.stats().bytes_read - r0;
        row.mount_device_ns = st.flash.stats().device_time_ns - d0;
        Ok(row)
    }
}
